//! `replay repair DIR --truncate-at SEQ [--yes]`: cuts the journal so that it
//! ends at SEQ - 1, moving everything from SEQ on (valid or damaged) into a
//! backup file (`keel_journal::truncate_at`; format in journal/FORMAT.md).
//! Asks for confirmation on a terminal; without one, `--yes` is required.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use keel_journal::RepairError;

use crate::cli::RepairArgs;
use crate::source::check_journal_dir;
use crate::Failure;

fn default_backup(dir: &Path, seq: u64) -> PathBuf {
    let base = format!("truncated-at-{seq}");
    let mut path = dir.join(format!("{base}.keelbak"));
    let mut n = 1;
    while path.exists() {
        path = dir.join(format!("{base}-{n}.keelbak"));
        n += 1;
    }
    path
}

pub fn run(a: &RepairArgs, out: &mut dyn Write) -> Result<(), Failure> {
    check_journal_dir(&a.dir)?;
    let seq = a.truncate_at;
    if seq == 0 {
        return Err(Failure::input("--truncate-at: sequences start at 1"));
    }
    // What will go: the committed records from SEQ on, and any damaged data.
    let what = match keel_journal::verify(&a.dir) {
        Ok(r) => {
            let last = r.last_committed.map_or(0, |c| c.0);
            let tail = r.uncommitted_records + u64::from(r.torn_tail_bytes > 0);
            if seq > last && tail == 0 {
                return Err(Failure::input(format!(
                    "nothing to cut: the journal ends at sequence {last} (--truncate-at must be at most {last})"
                )));
            }
            if seq <= last {
                format!(
                    "sequences {seq}..={last} ({} committed records)",
                    last - seq + 1
                )
            } else {
                "only the uncommitted or torn tail after the last commit".to_string()
            }
        }
        Err(e) => {
            let bad = e.seq();
            match bad {
                Some(b) if seq > b => {
                    return Err(Failure::input(format!(
                        "the journal is corrupt at sequence {b}, before {seq}: truncate at {b} or earlier ({e})"
                    )))
                }
                Some(b) if seq < b => format!(
                    "sequences {seq}..={} (valid) and everything from the damaged sequence {b} on ({e})",
                    b - 1
                ),
                _ => format!("everything from sequence {seq} on, including the damage there ({e})"),
            }
        }
    };
    let backup = a
        .backup
        .clone()
        .unwrap_or_else(|| default_backup(&a.dir, seq));
    if !a.yes {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::input(format!(
                "refusing to truncate {} without confirmation: stdin is not a terminal; this would remove {what}. Re-run with --yes",
                a.dir.display()
            )));
        }
        eprint!(
            "replay: truncate {} at sequence {seq}, removing {what}, into backup {}? Type 'yes' to continue: ",
            a.dir.display(),
            backup.display()
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| Failure::input(format!("cannot read the answer: {e}")))?;
        if !matches!(answer.trim(), "yes" | "y" | "YES" | "Yes") {
            return Err(Failure::input("not confirmed; nothing was changed"));
        }
    }
    let report = keel_journal::truncate_at(&a.dir, seq, &backup).map_err(|e| match e {
        RepairError::BadSequence { .. } => Failure::input(e.to_string()),
        RepairError::Locked { .. } => Failure::input(e.to_string()),
        _ => Failure::check(e.to_string()),
    })?;
    let w = |e| Failure::output(e);
    writeln!(out, "truncated {} at sequence {seq}", a.dir.display()).map_err(w)?;
    writeln!(out, "  removed: {what}").map_err(w)?;
    writeln!(
        out,
        "  backup: {} bytes of segment data moved to {}",
        report.backup_bytes,
        backup.display()
    )
    .map_err(w)?;
    writeln!(out, "  segment files removed: {}", report.segments_removed).map_err(w)?;
    if report.wrote_marker {
        writeln!(
            out,
            "  wrote a new commit marker so that sequence {} ends a commit batch",
            seq - 1
        )
        .map_err(w)?;
    }
    match report.last_seq {
        Some(l) => writeln!(out, "  the journal now ends at sequence {l}").map_err(w)?,
        None => writeln!(out, "  the journal is now empty").map_err(w)?,
    }
    let stale: Vec<String> = keel_engine::snapshot::list(&a.dir)
        .into_iter()
        .filter(|(s, _)| *s >= seq)
        .map(|(_, p)| p.display().to_string())
        .collect();
    if !stale.is_empty() {
        writeln!(
            out,
            "  note: snapshots at or after sequence {seq} no longer match the journal and will be skipped (delete them): {}",
            stale.join(", ")
        )
        .map_err(w)?;
    }
    Ok(())
}
