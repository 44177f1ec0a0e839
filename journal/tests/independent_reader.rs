//! An independent reader of the journal's on-disk format, written only from
//! `journal/FORMAT.md` (no `keel_journal::format`, no reader from the crate).
//!
//! The crate's public API is used only to *write* a journal; everything that
//! is read back is parsed by the code in `reader` below, with its own
//! constants, CRC32C (`crc32c` crate) and BLAKE3 (`blake3` crate).
//!
//! If this test breaks after a format change, either FORMAT.md or the writer is
//! out of step with the other: FORMAT.md is meant to be complete enough to
//! write exactly this reader.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use keel_journal::{Durability, Journal, JournalConfig};

/// The independent reader. Every constant and rule cites FORMAT.md.
mod reader {
    use std::fmt;
    use std::path::{Path, PathBuf};

    // ---- "Segment header (128 bytes at offset 0)" ----
    pub const HEADER_LEN: usize = 128;
    pub const MAGIC: &[u8; 8] = b"KEELJRNL";
    pub const MAGIC_OFFSET: usize = 0;
    pub const VERSION_OFFSET: usize = 8;
    /// "format version u32 = 2 (1 is still read)".
    pub const VERSION: u32 = 2;
    pub const OLDEST_VERSION: u32 = 1;
    pub const RESERVED0_OFFSET: usize = 12;
    pub const RESERVED0_LEN: usize = 4;
    pub const SEGMENT_INDEX_OFFSET: usize = 16;
    pub const FIRST_SEQ_OFFSET: usize = 24;
    pub const SEGMENT_SIZE_OFFSET: usize = 32;
    pub const PREV_CHAIN_OFFSET: usize = 40;
    pub const WRITER_VERSION_OFFSET: usize = 72;
    pub const WRITER_VERSION_LEN: usize = 32;
    pub const RESERVED1_OFFSET: usize = 104;
    pub const RESERVED1_LEN: usize = 20;
    pub const HEADER_CRC_OFFSET: usize = 124;

    // ---- "Frames" ----
    pub const FRAME_ALIGN: usize = 8;
    pub const KIND_SHIFT: u32 = 30;
    pub const KIND_RECORD: u32 = 0b01;
    pub const KIND_MARKER: u32 = 0b10;
    pub const KIND_SEAL: u32 = 0b11;
    pub const LEN_MASK: u32 = (1 << 30) - 1;
    /// "fewer than 8 bytes left before the end of the file" = end of data.
    pub const MIN_FRAME_ROOM: usize = 8;

    // ---- "Record" ----
    pub const REC_CRC_OFFSET: usize = 4;
    pub const REC_SEQ_OFFSET: usize = 8;
    pub const REC_PAYLOAD_OFFSET: usize = 16;

    // ---- "Commit marker (MARKER_LEN = 56 bytes)" ----
    pub const MARKER_LEN: usize = 56;
    pub const MARKER_WORD: u32 = 0x8000_0030;
    pub const CM_CRC_OFFSET: usize = 4;
    pub const CM_CRC_START: usize = 8;
    pub const CM_FIRST_SEQ_OFFSET: usize = 8;
    pub const CM_LAST_SEQ_OFFSET: usize = 16;
    pub const CM_CHAIN_OFFSET: usize = 24;

    // ---- "Roll marker (SEAL_LEN = 56 bytes)" ----
    pub const SEAL_LEN: usize = 56;
    pub const SEAL_WORD: u32 = 0xC000_0030;
    pub const SEAL_CRC_OFFSET: usize = 4;
    pub const SEAL_CRC_START: usize = 8;
    pub const SEAL_NEXT_SEQ_OFFSET: usize = 8;
    pub const SEAL_NEXT_INDEX_OFFSET: usize = 16;
    pub const SEAL_CHAIN_OFFSET: usize = 24;

    /// "`NNNNNNNNNNNNNNNNNNNN.seg` ... zero-padded to 20 decimal digits".
    pub const NAME_DIGITS: usize = 20;
    pub const SEG_EXT: &str = ".seg";

    fn u32_at(b: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], off: usize) -> u64 {
        u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
    }
    fn chain_at(b: &[u8], off: usize) -> [u8; 32] {
        b[off..off + 32].try_into().unwrap()
    }
    fn pad8(n: usize) -> usize {
        n.div_ceil(FRAME_ALIGN) * FRAME_ALIGN
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum ReadError {
        Io(String),
        BadSegmentName(String),
        ShortHeader {
            file: String,
            len: usize,
        },
        BadMagic {
            file: String,
        },
        BadHeaderCrc {
            file: String,
            stored: u32,
            computed: u32,
        },
        UnknownVersion {
            file: String,
            version: u32,
        },
        NonZeroReserved {
            file: String,
            offset: usize,
        },
        BadWriterVersion {
            file: String,
        },
        NameMismatch {
            file: String,
            header_first_seq: u64,
        },
        IndexMismatch {
            file: String,
            header_index: u64,
            position: u64,
        },
        MissingSegment {
            file: String,
            first_seq: u64,
            expected_seq: u64,
        },
        PrevChainMismatch {
            file: String,
        },
        BadSegmentSize {
            file: String,
            size: u64,
        },
        /// Version 2: the file is not exactly its header's size.
        SizeMismatch {
            file: String,
            len: usize,
            size: u64,
        },
        /// A roll marker names a successor that is not there.
        MissingSuccessor {
            file: String,
            offset: usize,
            next_first_seq: u64,
        },
        /// A roll marker whose fields do not match where it is.
        BadSeal {
            file: String,
            offset: usize,
        },
        /// A record sequence other than the expected one (*gap/repeat*).
        GapOrRepeat {
            file: String,
            offset: usize,
            found: u64,
            expected: u64,
        },
        /// Marker does not cover exactly the pending batch.
        MarkerRange {
            file: String,
            offset: usize,
            first: u64,
            last: u64,
            pending: Option<(u64, u64)>,
        },
        /// Marker chain != recomputed chain; names the batch's first sequence.
        ChainMismatch {
            file: String,
            offset: usize,
            batch_first_seq: u64,
        },
        /// A valid frame follows an invalid (or zero) frame: corruption.
        /// `seq` is the sequence stored in the bad frame when it was a record
        /// whose CRC or padding failed (FORMAT.md: "detected by CRC/padding and
        /// named by sequence").
        Corruption {
            file: String,
            offset: usize,
            expected_seq: u64,
            seq: Option<u64>,
            why: String,
        },
    }

    impl fmt::Display for ReadError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Debug::fmt(self, f)
        }
    }

    #[derive(Debug, Clone)]
    pub struct SegmentInfo {
        pub file: String,
        pub index: u64,
        pub first_seq: u64,
        pub size: u64,
        pub file_len: u64,
        pub prev_chain: [u8; 32],
        pub writer_version: String,
        /// Chain after the last marker read when this segment's scan ended.
        pub chain_at_end: [u8; 32],
        /// Offset of the end of data (first zero word / end of room / the
        /// roll marker).
        pub end_of_data: usize,
        pub version: u32,
        /// Offset of the roll marker that ends this segment, if any.
        pub seal_at: Option<usize>,
        pub records: u64,
        pub markers: u64,
    }

    #[derive(Debug, Clone)]
    pub struct Record {
        pub seq: u64,
        pub payload: Vec<u8>,
        /// The chain of the marker that committed this record.
        pub batch_chain: [u8; 32],
        pub segment_index: u64,
    }

    #[derive(Debug, Clone)]
    pub struct Marker {
        pub first_seq: u64,
        pub last_seq: u64,
        pub chain: [u8; 32],
        /// Chain recomputed by this reader (asserted equal to `chain`).
        pub recomputed: [u8; 32],
        pub segment_index: u64,
        pub offset: usize,
        /// Segment indices holding this batch's records (more than one when
        /// the batch spans a segment roll).
        pub record_segments: Vec<u64>,
    }

    #[derive(Debug, Clone)]
    pub struct Journal {
        pub segments: Vec<SegmentInfo>,
        /// Committed records only, in sequence order.
        pub records: Vec<Record>,
        pub markers: Vec<Marker>,
        /// Valid records after the last marker (not committed).
        pub uncommitted: Vec<u64>,
        /// A torn tail (a zero length word with a partly written frame
        /// behind it): (file, offset).
        pub torn_tail: Option<(String, usize)>,
        pub final_chain: [u8; 32],
    }

    /// List `*.seg` files whose stem is exactly 20 decimal digits, in name
    /// (= sequence) order. `*.prep`, `LOCK` and anything else are ignored.
    pub fn list_segments(dir: &Path) -> Result<Vec<(PathBuf, u64)>, ReadError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).map_err(|e| ReadError::Io(e.to_string()))? {
            let e = e.map_err(|e| ReadError::Io(e.to_string()))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(SEG_EXT) else {
                continue;
            };
            if stem.len() != NAME_DIGITS || !stem.bytes().all(|c| c.is_ascii_digit()) {
                return Err(ReadError::BadSegmentName(name));
            }
            let first: u64 = stem
                .parse()
                .map_err(|_| ReadError::BadSegmentName(name.clone()))?;
            out.push((e.path(), first));
        }
        out.sort_by(|a, b| a.0.file_name().cmp(&b.0.file_name()));
        Ok(out)
    }

    /// Validity of a record frame at `off` within `room` bytes
    /// ("kind is 01, it fits in the file, its CRC matches and its padding is zero").
    /// Ok((frame_len, seq)) if valid; Err((why, seq if readable)) if not.
    fn check_record(
        b: &[u8],
        off: usize,
        room: usize,
    ) -> Result<(usize, u64), (String, Option<u64>)> {
        let word = u32_at(b, off);
        if word >> KIND_SHIFT != KIND_RECORD {
            return Err((
                format!("kind {:02b} is not a record", word >> KIND_SHIFT),
                None,
            ));
        }
        let len = (word & LEN_MASK) as usize;
        let frame_len = REC_PAYLOAD_OFFSET + pad8(len);
        if off + frame_len > room {
            return Err((format!("record of {len} bytes does not fit"), None));
        }
        let seq = u64_at(b, off + REC_SEQ_OFFSET);
        let payload = &b[off + REC_PAYLOAD_OFFSET..off + REC_PAYLOAD_OFFSET + len];
        let stored = u32_at(b, off + REC_CRC_OFFSET);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&seq.to_le_bytes()), payload);
        if crc != stored {
            return Err((
                format!("record CRC mismatch: stored {stored:#010x}, computed {crc:#010x}"),
                Some(seq),
            ));
        }
        let pad = &b[off + REC_PAYLOAD_OFFSET + len..off + frame_len];
        if pad.iter().any(|&x| x != 0) {
            return Err(("non-zero record padding".into(), Some(seq)));
        }
        Ok((frame_len, seq))
    }

    /// Validity of a marker at `off` ("exactly MARKER_WORD", fits, CRC of 8..56).
    fn check_marker(b: &[u8], off: usize, room: usize) -> Result<(), String> {
        let word = u32_at(b, off);
        if word != MARKER_WORD {
            return Err(format!("marker word {word:#010x} != {MARKER_WORD:#010x}"));
        }
        if off + MARKER_LEN > room {
            return Err("marker does not fit".into());
        }
        let stored = u32_at(b, off + CM_CRC_OFFSET);
        let crc = crc32c::crc32c(&b[off + CM_CRC_START..off + MARKER_LEN]);
        if crc != stored {
            return Err(format!(
                "marker CRC mismatch: stored {stored:#010x}, computed {crc:#010x}"
            ));
        }
        Ok(())
    }

    /// Validity of a roll marker at `off` ("exactly SEAL_WORD", fits, CRC of 8..56).
    fn check_seal(b: &[u8], off: usize, room: usize) -> Result<(), String> {
        let word = u32_at(b, off);
        if word != SEAL_WORD {
            return Err(format!(
                "roll marker word {word:#010x} != {SEAL_WORD:#010x}"
            ));
        }
        if off + SEAL_LEN > room {
            return Err("roll marker does not fit".into());
        }
        let stored = u32_at(b, off + SEAL_CRC_OFFSET);
        let crc = crc32c::crc32c(&b[off + SEAL_CRC_START..off + SEAL_LEN]);
        if crc != stored {
            return Err(format!(
                "roll marker CRC mismatch: stored {stored:#010x}, computed {crc:#010x}"
            ));
        }
        Ok(())
    }

    fn valid_frame_at(b: &[u8], off: usize, room: usize) -> bool {
        if off + MIN_FRAME_ROOM > room {
            return false;
        }
        let word = u32_at(b, off);
        match word >> KIND_SHIFT {
            KIND_RECORD => check_record(b, off, room).is_ok(),
            KIND_MARKER => check_marker(b, off, room).is_ok(),
            KIND_SEAL => check_seal(b, off, room).is_ok(),
            _ => false,
        }
    }

    /// Any valid frame at an 8-aligned offset in `[from, room)`?
    fn valid_frame_after(b: &[u8], from: usize, room: usize) -> Option<usize> {
        let mut off = from;
        while off + MIN_FRAME_ROOM <= room {
            if valid_frame_at(b, off, room) {
                return Some(off);
            }
            off += FRAME_ALIGN;
        }
        None
    }

    struct Seg {
        name: String,
        bytes: Vec<u8>,
        room: usize,
    }

    /// Parse and validate a whole journal directory.
    pub fn read_journal(dir: &Path) -> Result<Journal, ReadError> {
        let files = list_segments(dir)?;
        let mut segs = Vec::new();
        for (path, _) in &files {
            let bytes = std::fs::read(path).map_err(|e| ReadError::Io(e.to_string()))?;
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            segs.push(Seg {
                name,
                bytes,
                room: 0,
            });
        }

        let mut out = Journal {
            segments: Vec::new(),
            records: Vec::new(),
            markers: Vec::new(),
            uncommitted: Vec::new(),
            torn_tail: None,
            final_chain: [0u8; 32],
        };
        // chain_0 = 32 zero bytes
        let mut chain = [0u8; 32];
        let mut expected_seq: u64 = 1; // "Sequences start at 1"
                                       // Pending batch: records read since the last marker.
        let mut pending: Vec<(u64, Vec<u8>, u64)> = Vec::new();
        let mut hasher = blake3::Hasher::new();
        hasher.update(&chain);
        let mut pending_segments: Vec<u64> = Vec::new();

        for i in 0..segs.len() {
            let (file_first, name) = (files[i].1, segs[i].name.clone());
            let b = &segs[i].bytes;
            // ---- header ----
            if b.len() < HEADER_LEN {
                return Err(ReadError::ShortHeader {
                    file: name,
                    len: b.len(),
                });
            }
            if &b[MAGIC_OFFSET..MAGIC_OFFSET + 8] != MAGIC {
                return Err(ReadError::BadMagic { file: name });
            }
            // FORMAT.md: the version is checked before the CRC.
            let version = u32_at(b, VERSION_OFFSET);
            if !(OLDEST_VERSION..=VERSION).contains(&version) {
                return Err(ReadError::UnknownVersion {
                    file: name,
                    version,
                });
            }
            let stored_crc = u32_at(b, HEADER_CRC_OFFSET);
            let crc = crc32c::crc32c(&b[..HEADER_CRC_OFFSET]);
            if stored_crc != crc {
                return Err(ReadError::BadHeaderCrc {
                    file: name,
                    stored: stored_crc,
                    computed: crc,
                });
            }
            for (off, len) in [
                (RESERVED0_OFFSET, RESERVED0_LEN),
                (RESERVED1_OFFSET, RESERVED1_LEN),
            ] {
                if b[off..off + len].iter().any(|&x| x != 0) {
                    return Err(ReadError::NonZeroReserved {
                        file: name,
                        offset: off,
                    });
                }
            }
            let wv = &b[WRITER_VERSION_OFFSET..WRITER_VERSION_OFFSET + WRITER_VERSION_LEN];
            let wv_len = wv
                .iter()
                .position(|&x| x == 0)
                .unwrap_or(WRITER_VERSION_LEN);
            if wv[wv_len..].iter().any(|&x| x != 0) {
                return Err(ReadError::BadWriterVersion { file: name });
            }
            let writer_version = std::str::from_utf8(&wv[..wv_len])
                .map_err(|_| ReadError::BadWriterVersion { file: name.clone() })?
                .to_owned();
            let index = u64_at(b, SEGMENT_INDEX_OFFSET);
            let first_seq = u64_at(b, FIRST_SEQ_OFFSET);
            let size = u64_at(b, SEGMENT_SIZE_OFFSET);
            let prev_chain = chain_at(b, PREV_CHAIN_OFFSET);
            if first_seq != file_first {
                return Err(ReadError::NameMismatch {
                    file: name,
                    header_first_seq: first_seq,
                });
            }
            if index != i as u64 {
                return Err(ReadError::IndexMismatch {
                    file: name,
                    header_index: index,
                    position: i as u64,
                });
            }
            if first_seq != expected_seq {
                return Err(ReadError::MissingSegment {
                    file: name,
                    first_seq,
                    expected_seq,
                });
            }
            if prev_chain != chain {
                return Err(ReadError::PrevChainMismatch { file: name });
            }
            if size & 4095 != 0 || (size as usize) < HEADER_LEN {
                return Err(ReadError::BadSegmentSize { file: name, size });
            }
            // Version 2: "the file must be exactly `segment_size` bytes".
            // Version 1: "readers scan the file's actual length".
            if version >= 2 && b.len() as u64 != size {
                return Err(ReadError::SizeMismatch {
                    file: name,
                    len: b.len(),
                    size,
                });
            }
            let room = if version >= 2 { size as usize } else { b.len() };
            segs[i].room = room;

            // ---- frames ----
            let b = &segs[i].bytes;
            let mut off = HEADER_LEN;
            let mut n_records = 0u64;
            let mut n_markers = 0u64;
            let mut seal_at = None;
            let end_of_data;
            loop {
                if off + MIN_FRAME_ROOM > room {
                    end_of_data = off;
                    break;
                }
                let word = u32_at(b, off);
                if word == 0 {
                    // "zero word: end of data in this segment; if any valid
                    // frame follows at any 8-aligned offset in the same
                    // segment, it is corruption"
                    if let Some(at) = valid_frame_after(b, off + FRAME_ALIGN, room) {
                        return Err(ReadError::Corruption {
                            file: name,
                            offset: off,
                            expected_seq,
                            seq: None,
                            why: format!("zero word followed by a valid frame at {at}"),
                        });
                    }
                    // "non-zero bytes behind it: a torn frame"
                    if b[off..room].iter().any(|&x| x != 0) {
                        out.torn_tail = Some((name.clone(), off));
                    }
                    end_of_data = off;
                    break;
                }
                let kind = word >> KIND_SHIFT;
                let invalid: Option<(String, Option<u64>)> = match kind {
                    KIND_RECORD => match check_record(b, off, room) {
                        Ok((frame_len, seq)) => {
                            if seq != expected_seq {
                                return Err(ReadError::GapOrRepeat {
                                    file: name,
                                    offset: off,
                                    found: seq,
                                    expected: expected_seq,
                                });
                            }
                            let len = (word & LEN_MASK) as usize;
                            let payload = b
                                [off + REC_PAYLOAD_OFFSET..off + REC_PAYLOAD_OFFSET + len]
                                .to_vec();
                            // B_n: complete frame incl. word, CRC, seq, payload, padding.
                            hasher.update(&b[off..off + frame_len]);
                            if pending_segments.last() != Some(&(i as u64)) {
                                pending_segments.push(i as u64);
                            }
                            pending.push((seq, payload, i as u64));
                            expected_seq += 1;
                            n_records += 1;
                            off += frame_len;
                            None
                        }
                        Err(e) => Some(e),
                    },
                    KIND_MARKER => match check_marker(b, off, room) {
                        Ok(()) => {
                            let first = u64_at(b, off + CM_FIRST_SEQ_OFFSET);
                            let last = u64_at(b, off + CM_LAST_SEQ_OFFSET);
                            let stored_chain = chain_at(b, off + CM_CHAIN_OFFSET);
                            let pend = pending.first().map(|p| (p.0, pending.last().unwrap().0));
                            if pend != Some((first, last)) {
                                return Err(ReadError::MarkerRange {
                                    file: name,
                                    offset: off,
                                    first,
                                    last,
                                    pending: pend,
                                });
                            }
                            let recomputed: [u8; 32] = *hasher.finalize().as_bytes();
                            if recomputed != stored_chain {
                                return Err(ReadError::ChainMismatch {
                                    file: name,
                                    offset: off,
                                    batch_first_seq: first,
                                });
                            }
                            chain = stored_chain;
                            for (seq, payload, seg) in pending.drain(..) {
                                out.records.push(Record {
                                    seq,
                                    payload,
                                    batch_chain: chain,
                                    segment_index: seg,
                                });
                            }
                            out.markers.push(Marker {
                                first_seq: first,
                                last_seq: last,
                                chain,
                                recomputed,
                                segment_index: i as u64,
                                offset: off,
                                record_segments: std::mem::take(&mut pending_segments),
                            });
                            hasher = blake3::Hasher::new();
                            hasher.update(&chain);
                            n_markers += 1;
                            off += MARKER_LEN;
                            None
                        }
                        Err(e) => Some((e, None)),
                    },
                    KIND_SEAL => match check_seal(b, off, room) {
                        Ok(()) => {
                            let next = u64_at(b, off + SEAL_NEXT_SEQ_OFFSET);
                            let next_index = u64_at(b, off + SEAL_NEXT_INDEX_OFFSET);
                            let c = chain_at(b, off + SEAL_CHAIN_OFFSET);
                            if next != expected_seq || next_index != i as u64 + 1 || c != chain {
                                return Err(ReadError::BadSeal {
                                    file: name,
                                    offset: off,
                                });
                            }
                            if valid_frame_after(b, off + SEAL_LEN, room).is_some() {
                                return Err(ReadError::Corruption {
                                    file: name,
                                    offset: off,
                                    expected_seq,
                                    seq: None,
                                    why: "valid frame after the roll marker".into(),
                                });
                            }
                            if i + 1 >= segs.len() {
                                return Err(ReadError::MissingSuccessor {
                                    file: name,
                                    offset: off,
                                    next_first_seq: next,
                                });
                            }
                            seal_at = Some(off);
                            end_of_data = off;
                            break;
                        }
                        Err(e) => Some((e, None)),
                    },
                    _ => unreachable!("two kind bits"),
                };
                if let Some((why, seq)) = invalid {
                    // "non-zero length word but invalid frame: always
                    // corruption (never a torn write: the word is stored last)"
                    return Err(ReadError::Corruption {
                        file: name,
                        offset: off,
                        expected_seq,
                        seq,
                        why,
                    });
                }
            }
            out.segments.push(SegmentInfo {
                file: name.clone(),
                index,
                first_seq,
                size,
                file_len: segs[i].bytes.len() as u64,
                prev_chain,
                writer_version,
                chain_at_end: chain,
                end_of_data,
                records: n_records,
                markers: n_markers,
                version,
                seal_at,
            });
            if seal_at.is_none() && version >= 2 {
                // "the last segment with data: any later segment must hold
                // no frame (an unfinished roll), else corruption"
                for later in &segs[i + 1..] {
                    if later.bytes.len() >= HEADER_LEN + 4 && u32_at(&later.bytes, HEADER_LEN) != 0
                    {
                        return Err(ReadError::Corruption {
                            file: name,
                            offset: end_of_data,
                            expected_seq,
                            seq: None,
                            why: format!("no roll marker, but {} holds data", later.name),
                        });
                    }
                }
                break;
            }
        }
        out.uncommitted = pending.iter().map(|p| p.0).collect();
        out.final_chain = chain;
        Ok(out)
    }
}

// ------------------------------------------------------------------------
// Writing a journal with the public API.
// ------------------------------------------------------------------------

const SEGMENT_SIZE: u64 = 64 * 1024;
const MAX_RECORD: u32 = 4096;

struct Written {
    /// seq -> payload
    payloads: BTreeMap<u64, Vec<u8>>,
    /// (first_seq, last_seq, chain) per commit, as returned by `commit()`.
    commits: Vec<(u64, u64, [u8; 32])>,
}

/// Deterministic xorshift so the test needs no RNG crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

fn payload_size(i: usize, rng: &mut Rng) -> usize {
    // Explicit edge sizes first, then a mix of small and large sizes.
    const EDGES: [usize; 16] = [
        0, 1, 7, 8, 9, 15, 16, 17, 0, 63, 65, 255, 1001, 4095, 4096, 0,
    ];
    if i < EDGES.len() {
        return EDGES[i];
    }
    match rng.next() % 10 {
        0 => 0,
        1..=5 => (rng.next() % 200) as usize,
        6..=8 => (rng.next() % 2000) as usize,
        _ => (rng.next() % (MAX_RECORD as u64 + 1)) as usize,
    }
}

fn write_journal(dir: &Path) -> Written {
    let cfg = JournalConfig {
        dir: dir.to_path_buf(),
        segment_size_bytes: SEGMENT_SIZE,
        max_record_bytes: MAX_RECORD,
        durability: Durability::None,
    };
    let (mut j, _report) = Journal::open(cfg).expect("open journal");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut payloads = BTreeMap::new();
    let mut commits = Vec::new();
    // Varied batch sizes, including some far larger than one segment so a
    // batch must span a roll (FORMAT.md: "A batch may span a segment roll").
    // Batch 17 (40 near-maximum records, ~160 KiB) is larger than two
    // segments, so it must span at least two rolls.
    let batch_sizes = [
        1usize, 2, 3, 1, 7, 16, 1, 150, 4, 31, 1, 90, 5, 2, 64, 1, 200, 40, 3, 11, 1,
    ];
    const BIG_BATCH: usize = 17;
    let mut i = 0usize;
    for (b, &n) in batch_sizes.iter().enumerate() {
        let mut first = None;
        let mut last = 0;
        for k in 0..n {
            let size = if b == BIG_BATCH {
                MAX_RECORD as usize - (k % 8)
            } else {
                payload_size(i, &mut rng)
            };
            let byte0 = (i as u8).wrapping_mul(31);
            let p: Vec<u8> = (0..size)
                .map(|k| byte0.wrapping_add((k as u8).wrapping_mul(7)) ^ (b as u8))
                .collect();
            let seq = j.append(&p).expect("append");
            first.get_or_insert(seq);
            last = seq;
            assert!(
                payloads.insert(seq, p).is_none(),
                "sequence {seq} assigned twice"
            );
            i += 1;
        }
        let info = j.commit().expect("commit");
        assert_eq!(info.last_seq, Some(last), "commit() last_seq");
        commits.push((first.unwrap(), last, info.chain));
    }
    drop(j);
    assert!(
        payloads.len() >= 500,
        "want several hundred records, got {}",
        payloads.len()
    );
    Written { payloads, commits }
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn independent_reader_reads_back_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    std::fs::create_dir(&dir).unwrap();
    let w = write_journal(&dir);

    let r = reader::read_journal(&dir).unwrap_or_else(|e| panic!("independent reader failed: {e}"));

    // Several segments, named by first sequence, index = position.
    assert!(
        r.segments.len() >= 4,
        "expected several segments, got {}",
        r.segments.len()
    );
    for (i, s) in r.segments.iter().enumerate() {
        assert_eq!(s.index, i as u64);
        assert_eq!(s.file, format!("{:020}.seg", s.first_seq));
        assert_eq!(s.size, SEGMENT_SIZE, "segment size in header of {}", s.file);
        assert_eq!(
            s.file_len, s.size,
            "{} should be preallocated to its full size",
            s.file
        );
        assert!(
            s.writer_version.starts_with("keel-journal "),
            "writer version {:?}",
            s.writer_version
        );
    }
    assert_eq!(r.segments[0].first_seq, 1);
    assert_eq!(r.segments[0].prev_chain, [0u8; 32]);
    // Version 2: every segment with a successor ends with a roll marker,
    // the last one does not.
    let last = r.segments.len() - 1;
    for (i, s) in r.segments.iter().enumerate() {
        assert_eq!(s.version, reader::VERSION, "{}", s.file);
        assert_eq!(s.seal_at.is_some(), i < last, "roll marker in {}", s.file);
        if let Some(at) = s.seal_at {
            assert!(at + reader::SEAL_LEN <= s.size as usize);
        }
    }
    // Carried-in chain = chain at the end of the previous segment.
    for pair in r.segments.windows(2) {
        assert_eq!(
            pair[1].prev_chain, pair[0].chain_at_end,
            "prev_chain of {}",
            pair[1].file
        );
    }

    // Every sequence, in order, byte-identical.
    assert!(
        r.uncommitted.is_empty(),
        "uncommitted records after a clean close: {:?}",
        r.uncommitted
    );
    assert!(
        r.torn_tail.is_none(),
        "torn tail after a clean close: {:?}",
        r.torn_tail
    );
    assert_eq!(r.records.len(), w.payloads.len());
    for (rec, (seq, payload)) in r.records.iter().zip(w.payloads.iter()) {
        assert_eq!(rec.seq, *seq);
        assert!(
            rec.payload == *payload,
            "payload of seq {seq} differs ({} vs {} bytes)",
            rec.payload.len(),
            payload.len()
        );
    }

    // Every marker = what commit() returned; recomputed chain = stored chain.
    assert_eq!(r.markers.len(), w.commits.len());
    for (m, &(first, last, chain)) in r.markers.iter().zip(w.commits.iter()) {
        assert_eq!((m.first_seq, m.last_seq), (first, last), "marker range");
        assert_eq!(
            m.chain, chain,
            "marker chain of batch {first}..={last} vs commit()"
        );
        assert_eq!(
            m.recomputed, m.chain,
            "recomputed chain of batch {first}..={last}"
        );
    }
    // Each record's batch_chain is its marker's chain.
    for rec in &r.records {
        let c = w
            .commits
            .iter()
            .find(|c| c.0 <= rec.seq && rec.seq <= c.1)
            .unwrap();
        assert_eq!(rec.batch_chain, c.2, "batch_chain of seq {}", rec.seq);
    }
    assert_eq!(r.final_chain, w.commits.last().unwrap().2);

    // Per-segment bookkeeping is consistent with the whole-journal view.
    assert_eq!(
        r.segments.iter().map(|s| s.records).sum::<u64>(),
        r.records.len() as u64
    );
    assert_eq!(
        r.segments.iter().map(|s| s.markers).sum::<u64>(),
        r.markers.len() as u64
    );
    for s in &r.segments {
        assert!(
            s.end_of_data >= reader::HEADER_LEN && s.end_of_data as u64 <= s.size,
            "{:?}",
            s
        );
        assert_eq!(
            s.end_of_data % 8,
            0,
            "end of data of {} not 8-aligned",
            s.file
        );
    }
    for rec in &r.records {
        let seg = &r.segments[rec.segment_index as usize];
        let next_first = r
            .segments
            .get(rec.segment_index as usize + 1)
            .map_or(u64::MAX, |n| n.first_seq);
        assert!(
            seg.first_seq <= rec.seq && rec.seq < next_first,
            "seq {} in {}",
            rec.seq,
            seg.file
        );
    }
    for m in &r.markers {
        assert!(m.offset >= reader::HEADER_LEN && m.offset % 8 == 0);
        assert!(m.record_segments.iter().all(|&s| s <= m.segment_index));
    }

    // The format allows a batch to span a roll, and our 150/200-record batches
    // are larger than a segment, so at least one must.
    let spanning = r
        .markers
        .iter()
        .filter(|m| m.record_segments.len() > 1)
        .count();
    assert!(spanning >= 1, "no batch spans a segment roll");
    // The 40 x ~4 KiB batch is larger than two segments, so it spans two rolls.
    assert!(
        r.markers.iter().any(|m| m.record_segments.len() > 2),
        "no batch spans two rolls"
    );
}

#[test]
fn independent_reader_detects_flipped_payload_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    std::fs::create_dir(&dir).unwrap();
    let w = write_journal(&dir);
    let clean = reader::read_journal(&dir).expect("clean journal reads");

    // Pick a committed record in the middle with a non-empty payload that is
    // not the last record of its segment, and locate it by walking frames.
    let target = clean
        .records
        .iter()
        .filter(|r| r.payload.len() >= 10)
        .nth(clean.records.len() / 3)
        .expect("a record with a payload")
        .seq;
    assert!(w.commits.iter().any(|c| c.0 <= target && target <= c.1));

    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    copy_dir(&dir, &copy);

    // Find the record's file and offset with our own frame walk.
    let segs = reader::list_segments(&copy).unwrap();
    let (path, off) = {
        let mut hit = None;
        'outer: for (path, _) in &segs {
            let b = std::fs::read(path).unwrap();
            let mut off = reader::HEADER_LEN;
            while off + 8 <= b.len() {
                let word = u32::from_le_bytes(b[off..off + 4].try_into().unwrap());
                if word == 0 {
                    break;
                }
                if word == reader::MARKER_WORD {
                    off += reader::MARKER_LEN;
                    continue;
                }
                let len = (word & reader::LEN_MASK) as usize;
                let seq = u64::from_le_bytes(b[off + 8..off + 16].try_into().unwrap());
                if seq == target {
                    hit = Some((path.clone(), off));
                    break 'outer;
                }
                off += 16 + len.div_ceil(8) * 8;
            }
        }
        hit.expect("target record found on disk")
    };
    let mut bytes = std::fs::read(&path).unwrap();
    let payload_byte = off + reader::REC_PAYLOAD_OFFSET + 5;
    bytes[payload_byte] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();

    match reader::read_journal(&copy) {
        Err(reader::ReadError::Corruption {
            file,
            offset,
            expected_seq,
            seq,
            why,
        }) => {
            assert_eq!(
                seq,
                Some(target),
                "corruption should name seq {target}: {why}"
            );
            assert_eq!(expected_seq, target);
            assert_eq!(offset, off);
            assert_eq!(PathBuf::from(&file).file_name(), path.file_name());
            assert!(why.contains("CRC"), "{why}");
        }
        other => panic!("flipped byte in seq {target} not detected as corruption: {other:?}"),
    }

    // Also: an edit that fixes the record CRC must be caught by the chain.
    let word = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap());
    let len = (word & reader::LEN_MASK) as usize;
    let p = &bytes[off + 16..off + 16 + len];
    let crc = crc32c::crc32c_append(crc32c::crc32c(&target.to_le_bytes()), p);
    bytes[off + 4..off + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let batch_first = w
        .commits
        .iter()
        .find(|c| c.0 <= target && target <= c.1)
        .unwrap()
        .0;
    match reader::read_journal(&copy) {
        Err(reader::ReadError::ChainMismatch {
            batch_first_seq, ..
        }) => assert_eq!(batch_first_seq, batch_first),
        other => panic!("CRC-fixed edit in seq {target} not caught by the chain: {other:?}"),
    }
}
