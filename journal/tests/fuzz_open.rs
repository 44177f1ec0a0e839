//! Fuzz target for journal open: arbitrary mutations of a real journal's
//! files (byte flips, overwrites with arbitrary bytes, truncations,
//! extensions, deleted files, extra files and directories, whole files of
//! arbitrary bytes) and arbitrary directories. `verify`, the reader,
//! `chain_at`, `Journal::open` and `truncate_at` must never panic: they
//! return typed errors. And they must agree: `open` succeeds exactly when
//! `verify` does, a journal `open` accepted verifies after a new commit,
//! and the repair an error names (`truncate_at` at its sequence), when it
//! succeeds, leaves a journal that verifies and opens.
//!
//! `KEEL_FUZZ_CASES` sets the number of cases (default 64, brief for CI).

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::*;
use keel_journal::{format, truncate_at, verify, Journal};
use proptest::prelude::*;
use proptest::sample::Index;

const SEG: u64 = 4096;

/// A journal of several segments: committed batches, one spanning a roll,
/// and an uncommitted tail.
fn base() -> &'static Vec<(String, Vec<u8>)> {
    static BASE: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    BASE.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(cfg(d.path(), SEG)).unwrap();
        for s in 1..=150u64 {
            j.append(&payload_for(s, 150)).unwrap();
            if s % 4 == 0 && !(60..100).contains(&s) {
                j.commit().unwrap();
            }
        }
        j.commit().unwrap();
        for s in 151..=160u64 {
            j.append(&payload_for(s, 150)).unwrap();
        }
        drop(j);
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "seg"))
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        assert!(files.len() >= 5);
        files
    })
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(Index, Index, u8),
    Overwrite(Index, Index, Vec<u8>),
    Truncate(Index, Index),
    Extend(Index, Vec<u8>),
    Delete(Index),
    Replace(Index, Vec<u8>),
    ExtraSegment(u64, Vec<u8>),
    ExtraFile(String, Vec<u8>),
    ExtraDir(u64),
    /// A copy of one segment under the name of another sequence.
    Duplicate(Index, u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let bytes = proptest::collection::vec(any::<u8>(), 0..300);
    prop_oneof![
        6 => (any::<Index>(), any::<Index>(), 1u8..=255).prop_map(|(f, o, m)| Mutation::Flip(f, o, m)),
        2 => (any::<Index>(), any::<Index>(), bytes.clone()).prop_map(|(f, o, b)| Mutation::Overwrite(f, o, b)),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(f, o)| Mutation::Truncate(f, o)),
        1 => (any::<Index>(), bytes.clone()).prop_map(|(f, b)| Mutation::Extend(f, b)),
        2 => any::<Index>().prop_map(Mutation::Delete),
        1 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 0..5000)).prop_map(|(f, b)| Mutation::Replace(f, b)),
        1 => (0u64..400, bytes.clone()).prop_map(|(s, b)| Mutation::ExtraSegment(s, b)),
        1 => (prop_oneof![Just("LOCK".to_string()), Just("x.prep".to_string()), Just("1.seg".to_string()), "[a-z]{1,8}"], bytes).prop_map(|(n, b)| Mutation::ExtraFile(n, b)),
        1 => (0u64..400).prop_map(Mutation::ExtraDir),
        1 => (any::<Index>(), 0u64..400).prop_map(|(f, s)| Mutation::Duplicate(f, s)),
    ]
}

fn apply(dir: &Path, m: &Mutation) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".seg") && dir.join(n).is_file())
        .collect();
    names.sort();
    let pick = |i: &Index| -> Option<std::path::PathBuf> {
        (!names.is_empty()).then(|| dir.join(&names[i.index(names.len())]))
    };
    match m {
        Mutation::Flip(f, o, mask) => {
            if let Some(p) = pick(f) {
                let mut b = std::fs::read(&p).unwrap();
                if !b.is_empty() {
                    let at = o.index(b.len());
                    b[at] ^= mask;
                    std::fs::write(&p, b).unwrap();
                }
            }
        }
        Mutation::Overwrite(f, o, bytes) => {
            if let Some(p) = pick(f) {
                let mut b = std::fs::read(&p).unwrap();
                if !b.is_empty() {
                    let at = o.index(b.len());
                    let n = bytes.len().min(b.len() - at);
                    b[at..at + n].copy_from_slice(&bytes[..n]);
                    std::fs::write(&p, b).unwrap();
                }
            }
        }
        Mutation::Truncate(f, o) => {
            if let Some(p) = pick(f) {
                let len = std::fs::metadata(&p).unwrap().len() as usize;
                let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
                f.set_len(o.index(len + 1) as u64).unwrap();
            }
        }
        Mutation::Extend(f, bytes) => {
            if let Some(p) = pick(f) {
                let mut b = std::fs::read(&p).unwrap();
                b.extend_from_slice(bytes);
                std::fs::write(&p, b).unwrap();
            }
        }
        Mutation::Delete(f) => {
            if let Some(p) = pick(f) {
                std::fs::remove_file(p).unwrap();
            }
        }
        Mutation::Replace(f, bytes) => {
            if let Some(p) = pick(f) {
                std::fs::write(p, bytes).unwrap();
            }
        }
        Mutation::ExtraSegment(s, bytes) => {
            let p = dir.join(format::segment_file_name(*s));
            if !p.exists() {
                std::fs::write(p, bytes).unwrap();
            }
        }
        Mutation::ExtraFile(name, bytes) => {
            let p = dir.join(name);
            if !p.exists() {
                std::fs::write(p, bytes).unwrap();
            }
        }
        Mutation::ExtraDir(s) => {
            let p = dir.join(format::segment_file_name(*s));
            if !p.exists() {
                std::fs::create_dir(p).unwrap();
            }
        }
        Mutation::Duplicate(f, s) => {
            if let Some(from) = pick(f) {
                let p = dir.join(format::segment_file_name(*s));
                if !p.exists() {
                    std::fs::copy(from, p).unwrap();
                }
            }
        }
    }
}

/// Everything read-only must run to completion without a panic.
fn read_everything(dir: &Path) {
    let _ = verify(dir);
    if let Ok(r) = Journal::reader(dir, 1) {
        for (n, rec) in r.enumerate() {
            if rec.is_err() || n > 100_000 {
                break;
            }
        }
    }
    for s in [0, 1, 50, 150, 159, 1000] {
        let _ = keel_journal::chain_at(dir, s);
        if let Ok(r) = Journal::reader(dir, s) {
            for rec in r.take(3) {
                if rec.is_err() {
                    break;
                }
            }
        }
    }
}

fn check(dir: &Path) -> Result<(), TestCaseError> {
    read_everything(dir);
    let v = verify(dir);
    let opened = Journal::open(cfg(dir, SEG));
    prop_assert_eq!(
        v.is_ok(),
        opened.is_ok(),
        "verify {:?} but open {:?}",
        v.as_ref().err().map(|e| e.to_string()),
        opened.as_ref().err().map(|e| e.to_string())
    );
    match opened {
        Ok((mut j, _)) => {
            j.append(b"after the fuzz").unwrap();
            j.commit().unwrap();
            drop(j);
            let after = verify(dir);
            prop_assert!(after.is_ok(), "open accepted, then: {:?}", after);
            read_everything(dir);
        }
        Err(_) => {
            let Err(e) = v else { unreachable!() };
            if let Some(seq) = e.seq() {
                let backup = dir.join("fuzz.keelbak");
                let repaired = truncate_at(dir, seq, &backup);
                read_everything(dir);
                if repaired.is_ok() {
                    let after = verify(dir);
                    prop_assert!(
                        after.is_ok(),
                        "repair at {} (for: {}) left: {:?}",
                        seq,
                        e,
                        after.map_err(|e| e.to_string())
                    );
                    let reopened = Journal::open(cfg(dir, SEG));
                    prop_assert!(reopened.is_ok(), "{:?}", reopened.err());
                }
            }
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("KEEL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn mutated_journal_never_panics_and_open_agrees_with_verify(
        muts in proptest::collection::vec(mutation(), 1..6)
    ) {
        let d = tempfile::tempdir().unwrap();
        for (name, bytes) in base() {
            std::fs::write(d.path().join(name), bytes).unwrap();
        }
        for m in &muts {
            apply(d.path(), m);
        }
        check(d.path())?;
    }

    #[test]
    fn directory_of_arbitrary_files_never_panics(
        files in proptest::collection::vec((0u64..20, proptest::collection::vec(any::<u8>(), 0..600)), 0..5)
    ) {
        let d = tempfile::tempdir().unwrap();
        for (s, bytes) in &files {
            std::fs::write(d.path().join(format::segment_file_name(*s)), bytes).unwrap();
        }
        check(d.path())?;
    }
}
