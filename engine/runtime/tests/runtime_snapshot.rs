//! Snapshots that must never fail a start: files that are not regular, too
//! large for the limits, or whose header does not match the journal (chain,
//! batch boundary, timestamp, name) or whose state the following records do
//! not apply to. Each is skipped with a message, and recovery uses the next
//! older snapshot or genesis. Then a fuzz (proptest) over arbitrary bytes and
//! mutated valid snapshot files: the loader returns a typed error or skips,
//! never panics.
//!
//! `KEEL_SNAPSHOT_FUZZ_CASES` (default 48) sets the cases per fuzz test.

#[path = "runtime_support/mod.rs"]
mod runtime_support;

use std::path::{Path, PathBuf};

use keel_engine::config::Config;
use keel_engine::runtime::recovery;
use keel_engine::runtime::Engine;
use keel_engine::snapshot::{self, SnapshotInfo};
use keel_engine::{Side, StartReport};
use keel_journal::Journal;
use proptest::prelude::*;
use runtime_support::*;

/// Records per commit batch in the fixture journal: batches end at 4, 8, …
const BATCH: u64 = 4;
/// The valid snapshot every fixture has.
const GOOD: u64 = 8;

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    config: Config,
    /// The digest of the whole journal, rebuilt from genesis.
    digest: String,
    records: u64,
}

/// A journal of accounts opened, funded and trading, re-committed in
/// batches of [`BATCH`] records, with a valid snapshot at [`GOOD`].
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first");
    let cfg = Cfg::default();
    let engine = Engine::start(&cfg.config(&first)).unwrap();
    let tx = engine.sender();
    let mut ts = 1_000;
    let mut submit = |c| {
        ts += 1_000;
        tx.submit_at(c, Some(ts)).unwrap();
    };
    // Records 4..=15 open accounts 1..=12: re-applying one of them to a
    // state that already holds it fails.
    for a in 1..=12 {
        submit(open(a, 1));
    }
    for a in 1..=12 {
        submit(deposit(a, 2, USD, 1_000_000_000));
        submit(deposit(a, 3, BTC, 10_000_000_000));
    }
    for a in 1..=12u32 {
        let side = if a % 2 == 0 { Side::Buy } else { Side::Sell };
        submit(gtc(a, 4, side, 10_000 + u64::from(a % 3), 5));
    }
    drop(tx);
    engine.shutdown().unwrap();

    // The same records, committed in batches of BATCH.
    let dir = tmp.path().join("journal");
    let (mut journal, _) = Journal::open(recovery::journal_config(&cfg.config(&dir))).unwrap();
    let mut reader = Journal::reader(&first, 1).unwrap();
    let mut records = 0;
    while let Some(r) = reader.try_next().unwrap() {
        assert_eq!(journal.append(&r.payload).unwrap(), r.seq);
        records = r.seq;
        if r.seq % BATCH == 0 {
            journal.commit().unwrap();
        }
    }
    journal.commit().unwrap();
    drop(journal);
    assert!(records > 4 * BATCH, "{records} records");

    let config = cfg.config(&dir);
    let (state, _, applied, used) = recovery::rebuild(&dir, config.limits(), None).unwrap();
    assert_eq!(applied, records);
    assert!(used.started_from.is_none());
    let digest = state.digest().to_string();
    write_valid(&dir, &config, GOOD);
    Fixture {
        _tmp: tmp,
        dir,
        config,
        digest,
        records,
    }
}

/// The state after `seq` with the header a correct snapshot there has.
fn state_at(dir: &Path, config: &Config, seq: u64) -> (keel_engine::State, SnapshotInfo) {
    let limits = config.limits();
    let (state, ts_ns, _, _) = recovery::rebuild(dir, limits, Some(seq)).unwrap();
    let chain = keel_journal::chain_at(dir, seq).unwrap().unwrap();
    (state, SnapshotInfo { seq, ts_ns, chain })
}

fn write_valid(dir: &Path, config: &Config, seq: u64) -> PathBuf {
    let (state, info) = state_at(dir, config, seq);
    snapshot::write(dir, &state, info).unwrap()
}

fn ts_of(dir: &Path, seq: u64) -> u64 {
    let r = Journal::reader(dir, seq)
        .unwrap()
        .try_next()
        .unwrap()
        .unwrap();
    keel_engine::record::Record::decode(r.seq, &r.payload)
        .unwrap()
        .ts_ns
}

fn name_for(dir: &Path, seq: u64) -> PathBuf {
    dir.join(snapshot::file_name(seq))
}

/// Rewrites header fields of a snapshot file and recomputes its CRC, as
/// someone editing it on purpose would.
fn edit_header(bytes: &mut [u8], seq: Option<u64>, ts: Option<u64>) {
    if let Some(seq) = seq {
        bytes[snapshot::SEQ_OFFSET..snapshot::SEQ_OFFSET + 8].copy_from_slice(&seq.to_le_bytes());
    }
    if let Some(ts) = ts {
        bytes[snapshot::TS_OFFSET..snapshot::TS_OFFSET + 8].copy_from_slice(&ts.to_le_bytes());
    }
    let crc = crc32c::crc32c(&bytes[..snapshot::HEADER_CRC_OFFSET]);
    bytes[snapshot::HEADER_CRC_OFFSET..snapshot::HEADER_CRC_OFFSET + 4]
        .copy_from_slice(&crc.to_le_bytes());
}

/// Starts the engine: it must succeed, from the snapshot at [`GOOD`] (or
/// genesis), skipping exactly `skipped` with a reason containing `why`.
fn start_skipping(f: &Fixture, skipped: &Path, why: &[&str], from: Option<u64>) -> StartReport {
    let engine = Engine::start(&f.config).unwrap_or_else(|e| panic!("start failed: {e}"));
    let report = engine.start_report().clone();
    engine.shutdown().unwrap();
    assert_eq!(
        report.snapshots_skipped.len(),
        1,
        "{:?}",
        report.snapshots_skipped
    );
    let (path, reason) = &report.snapshots_skipped[0];
    assert_eq!(path, skipped);
    for w in why {
        assert!(reason.contains(w), "{w:?} not in {reason:?}");
    }
    assert_eq!(report.snapshot_seq, from);
    assert_eq!(
        report.records_replayed,
        f.records - from.unwrap_or(0),
        "replayed after the snapshot used"
    );
    assert_eq!(report.digest.to_string(), f.digest);
    report
}

#[test]
fn a_valid_snapshot_is_used() {
    let f = fixture();
    let engine = Engine::start(&f.config).unwrap();
    let report = engine.start_report().clone();
    engine.shutdown().unwrap();
    assert!(
        report.snapshots_skipped.is_empty(),
        "{:?}",
        report.snapshots_skipped
    );
    assert_eq!(report.snapshot_seq, Some(GOOD));
    assert_eq!(report.records_replayed, f.records - GOOD);
    assert_eq!(report.digest.to_string(), f.digest);
}

#[test]
fn a_fifo_or_directory_named_like_a_newer_snapshot_is_skipped_without_blocking() {
    let f = fixture();
    let fifo = name_for(&f.dir, 16);
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Opening a FIFO for reading would wait for a writer forever.
    start_skipping(&f, &fifo, &["FIFO", "not a regular file"], Some(GOOD));
    std::fs::remove_file(&fifo).unwrap();

    let dir = name_for(&f.dir, 16);
    std::fs::create_dir(&dir).unwrap();
    start_skipping(&f, &dir, &["directory", "not a regular file"], Some(GOOD));
}

#[test]
fn a_symlink_to_dev_zero_named_like_a_newer_snapshot_is_skipped() {
    let f = fixture();
    let link = name_for(&f.dir, 16);
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    start_skipping(&f, &link, &["symbolic link"], Some(GOOD));
    // A link to a valid snapshot is refused too: only regular files count.
    std::fs::remove_file(&link).unwrap();
    let real = write_valid(&f.dir, &f.config, 16);
    let moved = f.dir.join("elsewhere.bin");
    std::fs::rename(&real, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &link).unwrap();
    start_skipping(&f, &link, &["symbolic link"], Some(GOOD));
    // And the device itself, read directly, is refused as what it is.
    let e = snapshot::read(Path::new("/dev/zero"), f.config.limits()).unwrap_err();
    assert!(e.to_string().contains("character device"), "{e}");
}

#[test]
fn a_sparse_file_beyond_the_limits_bound_is_refused_before_reading() {
    let f = fixture();
    let big = name_for(&f.dir, 16);
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(512 << 20).unwrap();
    drop(file);
    let max = snapshot::max_file_bytes(f.config.limits());
    assert!(max < 512 << 20, "bound {max} for the test limits");
    start_skipping(
        &f,
        &big,
        &[&format!("536870912 bytes, more than the {max} bytes")],
        Some(GOOD),
    );
}

#[test]
fn a_header_claiming_more_body_than_the_file_holds_is_skipped() {
    let f = fixture();
    let mut bytes = std::fs::read(name_for(&f.dir, GOOD)).unwrap();
    let huge = u64::MAX / 2;
    bytes[snapshot::BODY_LEN_OFFSET..snapshot::BODY_LEN_OFFSET + 8]
        .copy_from_slice(&huge.to_le_bytes());
    edit_header(&mut bytes, None, None);
    let path = name_for(&f.dir, 16);
    std::fs::write(&path, &bytes).unwrap();
    start_skipping(&f, &path, &[&format!("header says {huge}")], Some(GOOD));
}

#[test]
fn a_body_that_does_not_match_its_hash_is_skipped_after_streaming() {
    let f = fixture();
    let good = std::fs::read(name_for(&f.dir, GOOD)).unwrap();
    // A valid header over a body of zeros of the same (claimed) length.
    let mut bytes = good[..snapshot::HEADER_LEN].to_vec();
    bytes.resize(good.len(), 0);
    let path = name_for(&f.dir, 16);
    std::fs::write(&path, &bytes).unwrap();
    start_skipping(&f, &path, &["body checksum mismatch"], Some(GOOD));
}

#[test]
fn a_sequence_moved_back_inside_its_commit_batch_is_skipped() {
    let f = fixture();
    // A valid snapshot at the end of the batch 13..=16, its header's
    // sequence moved back to 14 (CRC recomputed), as in the issue.
    let valid = write_valid(&f.dir, &f.config, 16);
    let mut bytes = std::fs::read(&valid).unwrap();
    std::fs::remove_file(&valid).unwrap();
    edit_header(&mut bytes, Some(14), None);
    let moved = name_for(&f.dir, 14);
    std::fs::write(&moved, &bytes).unwrap();
    start_skipping(&f, &moved, &["timestamp"], Some(GOOD));

    // With record 14's timestamp too, only the batch boundary tells.
    edit_header(&mut bytes, None, Some(ts_of(&f.dir, 14)));
    std::fs::write(&moved, &bytes).unwrap();
    start_skipping(
        &f,
        &moved,
        &["inside a commit batch", "record 15"],
        Some(GOOD),
    );

    // Under its old name, the name tells first.
    std::fs::remove_file(&moved).unwrap();
    let renamed = name_for(&f.dir, 16);
    std::fs::write(&renamed, &bytes).unwrap();
    start_skipping(
        &f,
        &renamed,
        &["header says sequence 14 but its name says 16"],
        Some(GOOD),
    );
    assert_eq!(snapshot::batch_end(&f.dir, 14).unwrap(), Some(16));
    assert_eq!(snapshot::batch_end(&f.dir, 16).unwrap(), Some(16));
    assert_eq!(snapshot::batch_end(&f.dir, f.records + 1).unwrap(), None);
}

#[test]
fn a_chain_that_does_not_match_the_journal_is_skipped() {
    let f = fixture();
    let (state, mut info) = state_at(&f.dir, &f.config, 16);
    info.chain[0] ^= 1;
    let path = snapshot::write(&f.dir, &state, info).unwrap();
    start_skipping(&f, &path, &["chain value does not match"], Some(GOOD));
}

#[test]
fn a_sequence_beyond_the_journal_is_skipped() {
    let f = fixture();
    let (state, mut info) = state_at(&f.dir, &f.config, f.records);
    info.seq = f.records + 100;
    let path = snapshot::write(&f.dir, &state, info).unwrap();
    start_skipping(
        &f,
        &path,
        &[&format!("no committed record {}", f.records + 100)],
        Some(GOOD),
    );
}

#[test]
fn a_state_the_following_records_do_not_apply_to_is_skipped() {
    let f = fixture();
    // The state after 16 under a header that matches the journal at 12 in
    // every field (a batch end, its chain and timestamp): replaying 13..=16
    // on it opens accounts it already has.
    let (state, _) = state_at(&f.dir, &f.config, 16);
    let (_, info) = state_at(&f.dir, &f.config, 12);
    let path = snapshot::write(&f.dir, &state, info).unwrap();
    start_skipping(
        &f,
        &path,
        &["do not rebuild from its state", "record 13"],
        Some(GOOD),
    );
    // Without an older one, recovery starts from genesis.
    std::fs::remove_file(name_for(&f.dir, GOOD)).unwrap();
    start_skipping(&f, &path, &["do not rebuild from its state"], None);
}

// ---- fuzz ---------------------------------------------------------------

fn fuzz_cases() -> u32 {
    std::env::var("KEEL_SNAPSHOT_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(48)
}

/// The fuzz cases' journal (built once) and a valid snapshot file at 16.
struct FuzzFixture {
    f: Fixture,
    valid16: Vec<u8>,
}

fn fuzz_fixture() -> &'static FuzzFixture {
    static FIXTURE: std::sync::OnceLock<FuzzFixture> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        let f = fixture();
        let (state, info) = state_at(&f.dir, &f.config, 16);
        let tmp = tempfile::tempdir().unwrap();
        let valid16 = std::fs::read(snapshot::write(tmp.path(), &state, info).unwrap()).unwrap();
        FuzzFixture { f, valid16 }
    })
}

/// Loads a directory holding the journal, the valid snapshot at GOOD and
/// `bytes` as the snapshot at 16: no panic; a typed error or a skip; and
/// recovery still rebuilds the journal's state from some snapshot.
fn check_loader(bytes: &[u8]) -> Result<(), TestCaseError> {
    // The fuzz tests share the journal directory: one case at a time.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let f = &fuzz_fixture().f;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(snapshot::file_name(16));
    std::fs::write(&path, bytes).unwrap();
    let limits = f.config.limits();
    match snapshot::read(&path, limits) {
        Ok((info, state)) => {
            // It decoded: its state keeps every invariant.
            prop_assert!(state.check_invariants().is_ok(), "{info:?}");
        }
        Err(e) => prop_assert!(!e.reason().is_empty()),
    }
    // In the journal directory, next to the valid one.
    let target = name_for(&f.dir, 16);
    std::fs::write(&target, bytes).unwrap();
    let rebuilt = recovery::rebuild(&f.dir, limits, None);
    std::fs::remove_file(&target).unwrap();
    drop(_one);
    let (_, _, _, used) = rebuilt.map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(used.started_from.is_some(), "{:?}", used.skipped);
    Ok(())
}

/// A mutation of a valid snapshot file.
#[derive(Clone, Debug)]
enum Mutation {
    /// XOR a byte (offset modulo the length).
    Flip(usize, u8),
    /// Cut the file to this length (modulo the length).
    Truncate(usize),
    /// Append bytes.
    Extend(Vec<u8>),
    /// Write a u64 at a header field offset (seq, ts, body length).
    Field(usize, u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 1..=255u8).prop_map(|(o, x)| Mutation::Flip(o, x)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => proptest::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Extend),
        2 => (
            prop_oneof![
                Just(snapshot::SEQ_OFFSET),
                Just(snapshot::TS_OFFSET),
                Just(snapshot::BODY_LEN_OFFSET)
            ],
            prop_oneof![0..64u64, any::<u64>()],
        )
            .prop_map(|(o, v)| Mutation::Field(o, v)),
    ]
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    match m {
        Mutation::Flip(o, x) => {
            let n = bytes.len();
            bytes[o % n] ^= x;
        }
        Mutation::Truncate(n) => {
            let n = n % bytes.len();
            bytes.truncate(n);
        }
        Mutation::Extend(more) => bytes.extend_from_slice(more),
        Mutation::Field(o, v) => {
            if bytes.len() >= o + 8 {
                bytes[*o..o + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: fuzz_cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic_the_loader(
        bytes in proptest::collection::vec(any::<u8>(), 0..1024),
        magic in any::<bool>(),
    ) {
        let mut bytes = bytes;
        if magic && bytes.len() >= 8 {
            bytes[..8].copy_from_slice(&snapshot::MAGIC);
        }
        check_loader(&bytes)?;
    }

    /// Mutations of a valid file; with `fix_header`, the header CRC is
    /// recomputed afterwards, as a deliberate edit would, so the checks past
    /// it are reached.
    #[test]
    fn mutated_valid_snapshots_never_panic_the_loader(
        mutations in proptest::collection::vec(mutation(), 1..4),
        fix_header in any::<bool>(),
    ) {
        let mut bytes = fuzz_fixture().valid16.clone();
        for m in &mutations {
            if bytes.is_empty() {
                break;
            }
            mutate(&mut bytes, m);
        }
        if fix_header && bytes.len() >= snapshot::HEADER_LEN {
            edit_header(&mut bytes, None, None);
        }
        check_loader(&bytes)?;
    }
}

/// Recomputes the body length, body hash and header CRC of a snapshot file,
/// as a deliberate forgery would: only the body decoder stands in the way.
fn forge_checksums(bytes: &mut [u8]) {
    let body_len = (bytes.len() - snapshot::HEADER_LEN) as u64;
    bytes[snapshot::BODY_LEN_OFFSET..snapshot::BODY_LEN_OFFSET + 8]
        .copy_from_slice(&body_len.to_le_bytes());
    let hash = *blake3::hash(&bytes[snapshot::HEADER_LEN..]).as_bytes();
    bytes[snapshot::BODY_HASH_OFFSET..snapshot::BODY_HASH_OFFSET + 32].copy_from_slice(&hash);
    edit_header(bytes, None, None);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: fuzz_cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Body bytes flipped under recomputed checksums reach keel-core's body
    /// decoder (`state::snapshot::decode`), which checks every vector length
    /// against the bytes left before decoding: a length flipped high is an
    /// error, never an allocation abort.
    #[test]
    fn forged_bodies_never_panic_the_decoder(
        flips in proptest::collection::vec((any::<usize>(), 1..=255u8), 1..4),
    ) {
        let mut bytes = fuzz_fixture().valid16.clone();
        let body = bytes.len() - snapshot::HEADER_LEN;
        for (o, x) in flips {
            bytes[snapshot::HEADER_LEN + o % body] ^= x;
        }
        forge_checksums(&mut bytes);
        check_loader(&bytes)?;
    }
}
