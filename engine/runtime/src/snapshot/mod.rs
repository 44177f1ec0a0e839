//! Snapshots: the state at a sequence number, so recovery need not replay
//! from genesis. Built offline by `replay snapshot` (the hot loop never
//! stalls for them) and loaded by `Engine::start`: the newest snapshot whose
//! checksum holds and whose sequence and chain value match the journal wins;
//! a broken one is skipped with a message, falling back to an older one or to
//! genesis.
//!
//! File: `DIR/snapshot-<seq, 20 digits>.keelsnap`, written to a temporary
//! name, synced, then renamed. Layout (little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `KEELSNAP` |
//! | 8 | 4 | format version (1) |
//! | 12 | 4 | reserved, 0 |
//! | 16 | 8 | sequence: the last record the state includes |
//! | 24 | 8 | timestamp of that record (ns) |
//! | 32 | 32 | journal chain value of the commit covering that record |
//! | 64 | 8 | body length in bytes |
//! | 72 | 32 | blake3 of the body |
//! | 104 | 4 | CRC32C of bytes 0..104 |
//! | 108 | 4 | reserved, 0 |
//! | 112 | n | body: `Body` (keel-core's `state::snapshot`) in bincode fixed-int little-endian |

use crate::state::snapshot as body;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::state::{Limits, State};

/// The first 8 bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"KEELSNAP";
/// The snapshot format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Header byte offset of the magic.
pub const MAGIC_OFFSET: usize = 0;
/// Header byte offset of the version (u32 LE).
pub const VERSION_OFFSET: usize = MAGIC_OFFSET + 8;
/// Header byte offset of 4 reserved zero bytes.
pub const RESERVED_OFFSET: usize = VERSION_OFFSET + 4;
/// Header byte offset of the sequence of the last record included (u64 LE).
pub const SEQ_OFFSET: usize = RESERVED_OFFSET + 4;
/// Header byte offset of that record's timestamp, ns (u64 LE).
pub const TS_OFFSET: usize = SEQ_OFFSET + 8;
/// Header byte offset of the journal's chain value at that sequence (32 bytes).
pub const CHAIN_OFFSET: usize = TS_OFFSET + 8;
/// Header byte offset of the body length in bytes (u64 LE).
pub const BODY_LEN_OFFSET: usize = CHAIN_OFFSET + 32;
/// Header byte offset of the body's BLAKE3 hash (32 bytes).
pub const BODY_HASH_OFFSET: usize = BODY_LEN_OFFSET + 8;
/// Header byte offset of the CRC32C of the header bytes before it (u32 LE,
/// then 4 zero bytes).
pub const HEADER_CRC_OFFSET: usize = BODY_HASH_OFFSET + 32;
/// Header length in bytes; the body follows.
pub const HEADER_LEN: usize = HEADER_CRC_OFFSET + 8;

const EXTENSION: &str = "keelsnap";

/// Why a snapshot could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The file could not be written or read.
    #[error("snapshot {path}: {what}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed, with the OS's message.
        what: String,
    },
    /// The file is not a valid snapshot (it is skipped on load).
    #[error("snapshot {path} is invalid: {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// A snapshot's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The last record included.
    pub seq: u64,
    /// Its timestamp, ns.
    pub ts_ns: u64,
    /// The journal's chain value at `seq` (checked against the journal).
    pub chain: [u8; 32],
}

/// A snapshot that loaded and matched the journal.
#[derive(Clone, Debug)]
pub struct LoadedSnapshot {
    /// The file.
    pub path: PathBuf,
    /// The state it holds.
    pub state: State,
    /// The last record included.
    pub seq: u64,
    /// Its timestamp, ns.
    pub ts_ns: u64,
}

/// The result of looking for a snapshot.
#[derive(Clone, Debug, Default)]
pub struct LoadOutcome {
    /// The snapshot to start from, if any is valid.
    pub loaded: Option<LoadedSnapshot>,
    /// Snapshots passed over, newest first, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// The file name of the snapshot through `seq`.
pub fn file_name(seq: u64) -> String {
    format!("snapshot-{seq:020}.{EXTENSION}")
}

/// Snapshot files in `dir`, newest first.
pub fn list(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut found: Vec<(u64, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let seq = name
                .strip_prefix("snapshot-")?
                .strip_suffix(&format!(".{EXTENSION}"))?
                .parse()
                .ok()?;
            Some((seq, e.path()))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found
}

/// Writes a snapshot of `state` (which includes records up to `info.seq`).
pub fn write(dir: &Path, state: &State, info: SnapshotInfo) -> Result<PathBuf, SnapshotError> {
    let body = body::encode(state);
    let mut header = [0u8; HEADER_LEN];
    header[MAGIC_OFFSET..VERSION_OFFSET].copy_from_slice(&MAGIC);
    header[VERSION_OFFSET..RESERVED_OFFSET].copy_from_slice(&VERSION.to_le_bytes());
    header[SEQ_OFFSET..TS_OFFSET].copy_from_slice(&info.seq.to_le_bytes());
    header[TS_OFFSET..CHAIN_OFFSET].copy_from_slice(&info.ts_ns.to_le_bytes());
    header[CHAIN_OFFSET..BODY_LEN_OFFSET].copy_from_slice(&info.chain);
    header[BODY_LEN_OFFSET..BODY_HASH_OFFSET].copy_from_slice(&(body.len() as u64).to_le_bytes());
    header[BODY_HASH_OFFSET..HEADER_CRC_OFFSET].copy_from_slice(blake3::hash(&body).as_bytes());
    let crc = crc32c(&header[..HEADER_CRC_OFFSET]);
    header[HEADER_CRC_OFFSET..HEADER_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
    let path = dir.join(file_name(info.seq));
    let tmp = dir.join(format!("{}.tmp", file_name(info.seq)));
    let io = |what: &str, e: std::io::Error| SnapshotError::Io {
        path: path.clone(),
        what: format!("{what}: {e}"),
    };
    let mut f = fs::File::create(&tmp).map_err(|e| io("create", e))?;
    f.write_all(&header)
        .and_then(|_| f.write_all(&body))
        .map_err(|e| io("write", e))?;
    f.sync_all().map_err(|e| io("sync", e))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(|e| io("rename", e))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(path)
}

fn crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// Reads and checks a snapshot file (checksums, version); does not consult
/// the journal.
pub fn read(path: &Path, limits: Limits) -> Result<(SnapshotInfo, State), SnapshotError> {
    let invalid = |why: String| SnapshotError::Invalid {
        path: path.to_owned(),
        why,
    };
    let bytes = fs::read(path).map_err(|e| SnapshotError::Io {
        path: path.to_owned(),
        what: format!("read: {e}"),
    })?;
    if bytes.len() < HEADER_LEN {
        return Err(invalid(format!(
            "{} bytes is shorter than the {HEADER_LEN}-byte header",
            bytes.len()
        )));
    }
    let (header, body) = bytes.split_at(HEADER_LEN);
    if header[MAGIC_OFFSET..VERSION_OFFSET] != MAGIC {
        return Err(invalid("bad magic".into()));
    }
    let u64_at = |o: usize| u64::from_le_bytes(header[o..o + 8].try_into().expect("8 bytes"));
    let stored_crc = u32::from_le_bytes(
        header[HEADER_CRC_OFFSET..HEADER_CRC_OFFSET + 4]
            .try_into()
            .expect("4 bytes"),
    );
    if crc32c(&header[..HEADER_CRC_OFFSET]) != stored_crc {
        return Err(invalid("header checksum mismatch".into()));
    }
    let version = u32::from_le_bytes(
        header[VERSION_OFFSET..RESERVED_OFFSET]
            .try_into()
            .expect("4 bytes"),
    );
    if version != VERSION {
        return Err(invalid(format!(
            "format version {version}, this Keel reads {VERSION}"
        )));
    }
    if u64_at(BODY_LEN_OFFSET) != body.len() as u64 {
        return Err(invalid(format!(
            "body is {} bytes, header says {}",
            body.len(),
            u64_at(BODY_LEN_OFFSET)
        )));
    }
    if blake3::hash(body).as_bytes()[..] != header[BODY_HASH_OFFSET..HEADER_CRC_OFFSET] {
        return Err(invalid("body checksum mismatch".into()));
    }
    let info = SnapshotInfo {
        seq: u64_at(SEQ_OFFSET),
        ts_ns: u64_at(TS_OFFSET),
        chain: header[CHAIN_OFFSET..BODY_LEN_OFFSET]
            .try_into()
            .expect("32 bytes"),
    };
    let state = body::decode(body, limits).map_err(|e| invalid(e.reason))?;
    Ok((info, state))
}

/// The newest valid snapshot in `dir` (at or before `to_seq` if given)
/// whose sequence and chain match the journal there.
pub fn load_newest(dir: &Path, limits: Limits, to_seq: Option<u64>) -> LoadOutcome {
    let mut outcome = LoadOutcome::default();
    for (seq, path) in list(dir) {
        if to_seq.is_some_and(|t| seq > t) {
            continue;
        }
        let checked = read(&path, limits)
            .map_err(|e| e.to_string())
            .and_then(
                |(info, state)| match keel_journal::chain_at(dir, info.seq) {
                    Ok(Some(chain)) if chain == info.chain => Ok((info, state)),
                    Ok(Some(_)) => Err(format!(
                        "its chain value does not match the journal at sequence {}",
                        info.seq
                    )),
                    Ok(None) => Err(format!("the journal has no committed record {}", info.seq)),
                    Err(e) => Err(format!(
                        "cannot read the journal's chain at {}: {e}",
                        info.seq
                    )),
                },
            );
        match checked {
            Ok((info, state)) => {
                outcome.loaded = Some(LoadedSnapshot {
                    path,
                    state,
                    seq: info.seq,
                    ts_ns: info.ts_ns,
                });
                break;
            }
            Err(why) => outcome.skipped.push((path, why)),
        }
    }
    outcome
}
