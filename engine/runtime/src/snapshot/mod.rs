//! Snapshots: the state at a sequence number, so recovery need not replay
//! from genesis. Built offline by `replay snapshot` (the hot loop never
//! stalls for them) and loaded by `Engine::start`: the newest snapshot that
//! passes every check below wins; any other is skipped with a message,
//! falling back to an older one or to genesis. A snapshot never fails a start.
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
//!
//! Loading checks, in order, and skips the file at the first that fails:
//!
//! 1. the name is a regular file (not a symbolic link, FIFO, device or
//!    directory), checked before opening and again on the open file;
//! 2. its size is at most [`max_file_bytes`] for the configured limits and at
//!    least the header; nothing is read before this;
//! 3. magic, header CRC, version, and a body length equal to what the file
//!    holds after the header;
//! 4. the body's BLAKE3, computed while streaming it in 64 KiB chunks
//!    (memory stays constant however large the file is); only a body whose
//!    hash matches is read into memory, and hashed again there;
//! 5. the body decodes into a state within the limits;
//! 6. against the journal: the header's sequence is the one in the file
//!    name, that record is committed, its batch's chain value and its
//!    timestamp are the header's, and it is the last record of its commit
//!    batch (a state is only ever taken between batches);
//! 7. at start-up, the journal's records after it apply to its state and the
//!    result keeps every invariant (see `runtime::recovery`).

use crate::state::snapshot as body;

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
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

impl SnapshotError {
    /// What is wrong, without the path (for messages that name the file
    /// already).
    pub fn reason(&self) -> &str {
        match self {
            SnapshotError::Io { what, .. } => what,
            SnapshotError::Invalid { why, .. } => why,
        }
    }
}

/// Bytes of the body hashed per read while streaming it.
const CHUNK: usize = 64 << 10;

// Upper bounds on the encoded size of one item of the body (bincode,
// fixed-int), each at least twice what the item takes in format version 1,
// so that every body within the limits is below `max_file_bytes`.
/// An asset: name (17), scale (1), supply (8).
const ASSET_BYTES: u64 = 64;
/// A symbol: spec (47), halted flag (1).
const SYMBOL_BYTES: u64 = 128;
/// An account without its balances: id (4), last request id (8), count (8).
const ACCOUNT_BYTES: u64 = 64;
/// One balance of one account (available, held): exactly 16.
const BALANCE_BYTES: u64 = 16;
/// A resting order (57) plus its place in the book order (8).
const ORDER_BYTES: u64 = 128 + 8;
/// The next order id and the vectors' lengths.
const FIXED_BYTES: u64 = 4096;

/// The largest snapshot file a state within `limits` can produce: every
/// account open with a balance in every asset, every asset, symbol and order
/// slot used. A larger file is refused before anything of it is read.
pub fn max_file_bytes(limits: Limits) -> u64 {
    let n = u64::from;
    let per_account =
        ACCOUNT_BYTES.saturating_add(BALANCE_BYTES.saturating_mul(n(limits.max_assets)));
    [
        HEADER_LEN as u64,
        FIXED_BYTES,
        ASSET_BYTES.saturating_mul(n(limits.max_assets)),
        SYMBOL_BYTES.saturating_mul(n(limits.max_symbols)),
        per_account.saturating_mul(n(limits.max_accounts)),
        ORDER_BYTES.saturating_mul(n(limits.max_orders)),
    ]
    .into_iter()
    .fold(0u64, u64::saturating_add)
}

/// Why a file of this type is not read as a snapshot, if it is not a
/// regular file.
fn refuse_file_type(file_type: fs::FileType) -> Result<(), String> {
    if file_type.is_file() {
        return Ok(());
    }
    if file_type.is_symlink() {
        return Err(
            "it is a symbolic link, and snapshots are read only from regular files in the journal \
             directory (replace the link by the file itself, or remove it)"
                .into(),
        );
    }
    let kind = if file_type.is_dir() {
        "directory"
    } else {
        special_kind(file_type)
    };
    Err(format!(
        "it is a {kind}, not a regular file (remove it from the journal directory)"
    ))
}

#[cfg(unix)]
fn special_kind(file_type: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: fs::FileType) -> &'static str {
    "special file"
}

/// Opens without following a final symbolic link and without waiting for a
/// FIFO's writer (both refused by the file type check after opening).
#[cfg(unix)]
fn open_for_check(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_for_check(path: &Path) -> std::io::Result<fs::File> {
    fs::File::open(path)
}

fn u64_at(header: &[u8; HEADER_LEN], offset: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&header[offset..offset + 8]);
    u64::from_le_bytes(b)
}

fn u32_at(header: &[u8; HEADER_LEN], offset: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&header[offset..offset + 4]);
    u32::from_le_bytes(b)
}

fn bytes32_at(header: &[u8; HEADER_LEN], offset: usize) -> [u8; 32] {
    let mut b = [0u8; 32];
    b.copy_from_slice(&header[offset..offset + 32]);
    b
}

/// Checks a header against the file's length: the header's fields, and the
/// body's expected hash.
fn check_header(
    header: &[u8; HEADER_LEN],
    file_len: u64,
) -> Result<(SnapshotInfo, [u8; 32]), String> {
    if header[MAGIC_OFFSET..VERSION_OFFSET] != MAGIC {
        return Err("bad magic (not a Keel snapshot)".into());
    }
    if crc32c(&header[..HEADER_CRC_OFFSET]) != u32_at(header, HEADER_CRC_OFFSET) {
        return Err("header checksum mismatch".into());
    }
    let version = u32_at(header, VERSION_OFFSET);
    if version != VERSION {
        return Err(format!(
            "format version {version}, this Keel reads {VERSION}"
        ));
    }
    let body_len = file_len - HEADER_LEN as u64;
    let claimed = u64_at(header, BODY_LEN_OFFSET);
    if claimed != body_len {
        return Err(format!("body is {body_len} bytes, header says {claimed}"));
    }
    let info = SnapshotInfo {
        seq: u64_at(header, SEQ_OFFSET),
        ts_ns: u64_at(header, TS_OFFSET),
        chain: bytes32_at(header, CHAIN_OFFSET),
    };
    Ok((info, bytes32_at(header, BODY_HASH_OFFSET)))
}

/// Reads and checks a snapshot file (file type, size bound, checksums,
/// version, body); does not consult the journal. Memory use is constant
/// until the body's hash has matched; then the body (at most
/// [`max_file_bytes`]) is read once more, into memory, and decoded.
pub fn read(path: &Path, limits: Limits) -> Result<(SnapshotInfo, State), SnapshotError> {
    let invalid = |why: String| SnapshotError::Invalid {
        path: path.to_owned(),
        why,
    };
    let io = |what: &str, e: std::io::Error| SnapshotError::Io {
        path: path.to_owned(),
        what: format!("{what}: {e}"),
    };
    // Before opening: opening a FIFO waits for a writer, and a device such
    // as /dev/zero never ends.
    let meta = fs::symlink_metadata(path).map_err(|e| io("stat", e))?;
    refuse_file_type(meta.file_type()).map_err(invalid)?;
    let mut file = open_for_check(path).map_err(|e| io("open", e))?;
    // Again on what was opened: the name may have been replaced meanwhile.
    let meta = file.metadata().map_err(|e| io("stat the open file", e))?;
    refuse_file_type(meta.file_type()).map_err(invalid)?;
    let len = meta.len();
    let max = max_file_bytes(limits);
    if len > max {
        return Err(invalid(format!(
            "the file is {len} bytes, more than the {max} bytes a snapshot of a state within the \
             configured limits (limits.max_accounts, max_assets, max_symbols, max_orders) can \
             take: it is not a snapshot of this journal's state (remove it)"
        )));
    }
    if len < HEADER_LEN as u64 {
        return Err(invalid(format!(
            "{len} bytes is shorter than the {HEADER_LEN}-byte header"
        )));
    }
    let mut header = [0u8; HEADER_LEN];
    read_exact_or_changed(&mut file, &mut header, len).map_err(|e| e.into_error(path))?;
    let (info, hash) = check_header(&header, len).map_err(invalid)?;
    let body_len = len - HEADER_LEN as u64;

    // Stream the body through the hash.
    let mut hasher = blake3::Hasher::new();
    let mut chunk = vec![0u8; CHUNK.min(body_len as usize)];
    let mut left = body_len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        read_exact_or_changed(&mut file, &mut chunk[..n], len).map_err(|e| e.into_error(path))?;
        hasher.update(&chunk[..n]);
        left -= n as u64;
    }
    drop(chunk);
    if *hasher.finalize().as_bytes() != hash {
        return Err(invalid("body checksum mismatch".into()));
    }

    // The body is what the header says: read it into memory, and hash what
    // will be decoded (the file may have changed since the first pass).
    let body_len = usize::try_from(body_len).map_err(|_| {
        invalid(format!(
            "the {body_len}-byte body does not fit this machine's address space"
        ))
    })?;
    let mut body = Vec::new();
    body.try_reserve_exact(body_len).map_err(|e| {
        invalid(format!(
            "cannot allocate {body_len} bytes for the body: {e} (lower the limits or free memory)"
        ))
    })?;
    body.resize(body_len, 0);
    file.seek(SeekFrom::Start(HEADER_LEN as u64))
        .map_err(|e| io("seek to the body", e))?;
    read_exact_or_changed(&mut file, &mut body, len).map_err(|e| e.into_error(path))?;
    if *blake3::hash(&body).as_bytes() != hash {
        return Err(invalid(
            "the body changed while it was being read (checksum mismatch on the second read)"
                .into(),
        ));
    }
    let state = body::decode(&body, limits).map_err(|e| invalid(e.reason))?;
    Ok((info, state))
}

/// A failed read: the file got shorter than it was, or the OS failed.
enum ReadFailure {
    Shorter(u64),
    Io(std::io::Error),
}

impl ReadFailure {
    fn into_error(self, path: &Path) -> SnapshotError {
        match self {
            ReadFailure::Shorter(len) => SnapshotError::Invalid {
                path: path.to_owned(),
                why: format!("the file ended before its {len} bytes: it changed while being read"),
            },
            ReadFailure::Io(e) => SnapshotError::Io {
                path: path.to_owned(),
                what: format!("read: {e}"),
            },
        }
    }
}

fn read_exact_or_changed(file: &mut fs::File, buf: &mut [u8], len: u64) -> Result<(), ReadFailure> {
    file.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => ReadFailure::Shorter(len),
        _ => ReadFailure::Io(e),
    })
}

/// The last sequence of the commit batch holding `seq`, or `None` if `seq`
/// is not committed in the journal in `dir`. A snapshot can only be taken at
/// such a sequence (the state between two batches).
pub fn batch_end(dir: &Path, seq: u64) -> Result<Option<u64>, keel_journal::ReadError> {
    if seq == 0 || !dir.is_dir() {
        return Ok(None);
    }
    let Ok(mut reader) = keel_journal::Journal::reader(dir, seq) else {
        return Ok(None);
    };
    let chain = match reader.try_next_ref()? {
        Some(r) if r.seq == seq => r.batch_chain,
        _ => return Ok(None),
    };
    let mut end = seq;
    while let Some(r) = reader.try_next_ref()? {
        if r.batch_chain != chain {
            break;
        }
        end = r.seq;
    }
    Ok(Some(end))
}

/// Checks that a snapshot's header describes the journal in `dir`: record
/// `info.seq` is committed, its batch's chain value and its timestamp are the
/// header's, and it is the last record of its commit batch.
pub fn check_against_journal(dir: &Path, info: &SnapshotInfo) -> Result<(), String> {
    let seq = info.seq;
    let mut reader = keel_journal::Journal::reader(dir, seq)
        .map_err(|e| format!("cannot read the journal: {e}"))?;
    let (chain, ts) = match reader.try_next_ref() {
        Ok(Some(r)) if r.seq == seq => {
            let ts = crate::record::decode_into(r.payload, &mut Vec::new())
                .map(|(ts, _)| ts)
                .map_err(|e| format!("journal record {seq} does not decode: {e}"))?;
            (r.batch_chain, ts)
        }
        Ok(_) => return Err(format!("the journal has no committed record {seq}")),
        Err(e) => return Err(format!("cannot read the journal's record {seq}: {e}")),
    };
    if chain != info.chain {
        return Err(format!(
            "its chain value does not match the journal at sequence {seq}"
        ));
    }
    if ts != info.ts_ns {
        return Err(format!(
            "its timestamp {} is not that of journal record {seq} ({ts})",
            info.ts_ns
        ));
    }
    match reader.try_next_ref() {
        Ok(Some(next)) if next.batch_chain == chain => Err(format!(
            "sequence {seq} is inside a commit batch (record {} was committed with it): a \
             snapshot holds the state between two batches, so this one does not match the journal",
            next.seq
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("cannot read the journal after sequence {seq}: {e}")),
    }
}

/// Reads one snapshot file named for `name_seq` and checks it against the
/// journal; the reason it is skipped otherwise.
fn load_one(
    dir: &Path,
    path: &Path,
    name_seq: u64,
    limits: Limits,
) -> Result<LoadedSnapshot, String> {
    let (info, state) = read(path, limits).map_err(|e| e.reason().to_owned())?;
    if info.seq != name_seq {
        return Err(format!(
            "its header says sequence {} but its name says {name_seq}",
            info.seq
        ));
    }
    check_against_journal(dir, &info)?;
    Ok(LoadedSnapshot {
        path: path.to_owned(),
        state,
        seq: info.seq,
        ts_ns: info.ts_ns,
    })
}

/// The snapshot files of a journal directory, newest first, loaded and
/// checked one at a time: recovery moves on to an older one when the
/// journal's records do not apply to a snapshot's state.
#[derive(Debug)]
pub struct Candidates {
    dir: PathBuf,
    limits: Limits,
    files: std::vec::IntoIter<(u64, PathBuf)>,
}

impl Candidates {
    /// The snapshots in `dir` (at or before `to_seq` if given).
    pub fn new(dir: &Path, limits: Limits, to_seq: Option<u64>) -> Candidates {
        let files: Vec<_> = list(dir)
            .into_iter()
            .filter(|(seq, _)| to_seq.is_none_or(|t| *seq <= t))
            .collect();
        Candidates {
            dir: dir.to_owned(),
            limits,
            files: files.into_iter(),
        }
    }

    /// The next (older) snapshot that loads and matches the journal; those
    /// passed over are added to `skipped` with the reason.
    pub fn next_valid(&mut self, skipped: &mut Vec<(PathBuf, String)>) -> Option<LoadedSnapshot> {
        for (seq, path) in self.files.by_ref() {
            match load_one(&self.dir, &path, seq, self.limits) {
                Ok(loaded) => return Some(loaded),
                Err(why) => skipped.push((path, why)),
            }
        }
        None
    }
}

/// The newest valid snapshot in `dir` (at or before `to_seq` if given)
/// whose header matches the journal (see the module's checks 1 to 6).
pub fn load_newest(dir: &Path, limits: Limits, to_seq: Option<u64>) -> LoadOutcome {
    let mut outcome = LoadOutcome::default();
    outcome.loaded = Candidates::new(dir, limits, to_seq).next_valid(&mut outcome.skipped);
    outcome
}
