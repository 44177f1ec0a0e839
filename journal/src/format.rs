//! On-disk byte map. Every offset is a named constant derived from the
//! previous one; `FORMAT.md` documents the same map in prose.
//!
//! All integers are little-endian. All frames start at 8-byte aligned
//! offsets inside a segment. `*_OFFSET` constants are byte offsets (from the
//! start of the file for header fields, from the start of the frame for
//! frame fields); `*_LEN` constants are lengths in bytes.
//!
//! These are the building blocks of the crate's own reader, writer and
//! scanner, public so that tools can parse or build segments; most users
//! want [`crate::Journal`], [`crate::Reader`] and [`crate::verify`] instead.

/// Segment file magic, the first 8 bytes of every segment.
pub const MAGIC: [u8; 8] = *b"KEELJRNL";
/// The format version this crate writes into every new segment header.
/// Version 2 adds the roll marker ([`SealMarker`]) and the rule that a
/// segment file is exactly its header's `segment_size` long; see FORMAT.md.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format version this crate still reads (and continues: a
/// version-1 segment keeps its version-1 rules, new segments are
/// [`FORMAT_VERSION`]).
pub const OLDEST_READ_VERSION: u32 = 1;
/// File name suffix of a segment (`NNNNNNNNNNNNNNNNNNNN.seg`).
pub const SEGMENT_SUFFIX: &str = ".seg";
/// Digits of the zero-padded first sequence in a segment file name.
pub const SEGMENT_NAME_DIGITS: usize = 20;
/// Suffix of a segment being prepared by the writer. Such files are not
/// part of the journal: readers ignore them and [`crate::Journal::open`]
/// deletes them.
pub const PREP_SUFFIX: &str = ".prep";
/// Informational lock file: the single writer (and [`crate::truncate_at`])
/// writes its pid and start time here after taking the exclusive `flock` on
/// the journal directory itself, which is the lock that counts (removing or
/// renaming this file does not release it). It also holds an exclusive
/// `flock` on this file, which keeps out older builds that lock only it.
/// Readers take no lock.
pub const LOCK_FILE: &str = "LOCK";

// ---- segment header -------------------------------------------------------
/// Offset of the magic ([`MAGIC`]) in the segment header.
pub const MAGIC_OFFSET: usize = 0;
/// Length of the magic, in bytes.
pub const MAGIC_LEN: usize = 8;
/// Offset of the format version (u32) in the segment header.
pub const VERSION_OFFSET: usize = MAGIC_OFFSET + MAGIC_LEN;
/// Length of the format version, in bytes.
pub const VERSION_LEN: usize = 4;
/// Offset of the first reserved header field (written 0, covered by the
/// header CRC, otherwise ignored).
pub const HEADER_RESERVED0_OFFSET: usize = VERSION_OFFSET + VERSION_LEN;
/// Length of the first reserved header field, in bytes.
pub const HEADER_RESERVED0_LEN: usize = 4;
/// Offset of the segment index (u64; 0 for the first segment).
pub const SEGMENT_INDEX_OFFSET: usize = HEADER_RESERVED0_OFFSET + HEADER_RESERVED0_LEN;
/// Length of the segment index, in bytes.
pub const SEGMENT_INDEX_LEN: usize = 8;
/// Offset of the segment's first sequence (u64; must equal the one in the
/// file name).
pub const FIRST_SEQ_OFFSET: usize = SEGMENT_INDEX_OFFSET + SEGMENT_INDEX_LEN;
/// Length of the first sequence, in bytes.
pub const FIRST_SEQ_LEN: usize = 8;
/// Offset of the intended file size in bytes (u64). Readers scan the file's
/// actual length; the writer uses this to re-extend a shorter file.
pub const SEGMENT_SIZE_OFFSET: usize = FIRST_SEQ_OFFSET + FIRST_SEQ_LEN;
/// Length of the segment size field, in bytes.
pub const SEGMENT_SIZE_LEN: usize = 8;
/// Offset of `prev_chain`: the chain value of the last commit marker in
/// earlier segments (32 zero bytes if none).
pub const PREV_CHAIN_OFFSET: usize = SEGMENT_SIZE_OFFSET + SEGMENT_SIZE_LEN;
/// Length of a chain value (a BLAKE3 hash), in bytes.
pub const CHAIN_LEN: usize = 32;
/// Offset of the informational writer version (UTF-8, zero padded; see
/// [`WRITER_VERSION`]).
pub const WRITER_VERSION_OFFSET: usize = PREV_CHAIN_OFFSET + CHAIN_LEN;
/// Length of the writer version field, in bytes.
pub const WRITER_VERSION_LEN: usize = 32;
/// Offset of the second reserved header field (written 0, covered by the
/// header CRC, otherwise ignored).
pub const HEADER_RESERVED1_OFFSET: usize = WRITER_VERSION_OFFSET + WRITER_VERSION_LEN;
/// Length of the second reserved header field, in bytes.
pub const HEADER_RESERVED1_LEN: usize = 20;
/// Offset of the header CRC (u32, CRC32C of header bytes
/// `0..HEADER_CRC_OFFSET`).
pub const HEADER_CRC_OFFSET: usize = HEADER_RESERVED1_OFFSET + HEADER_RESERVED1_LEN;
/// Length of the header CRC, in bytes.
pub const HEADER_CRC_LEN: usize = 4;
/// Total header size in bytes (128); the first frame starts at this offset.
pub const HEADER_LEN: usize = HEADER_CRC_OFFSET + HEADER_CRC_LEN;
const _: () = assert!(HEADER_LEN == 128);

// ---- frames (records and commit markers) ----------------------------------
/// Frame alignment in bytes: every frame starts at a multiple of this
/// offset and its length is a multiple of it.
pub const FRAME_ALIGN: usize = 8;
/// Offset of the length word, the first u32 of every frame: kind in bits
/// 30..32, length in bits 0..30. The writer stores it last.
pub const WORD_OFFSET: usize = 0;
/// Length of the length word, in bytes.
pub const WORD_LEN: usize = 4;
/// Shift of the kind bits in the length word (`word >> KIND_SHIFT` is the
/// kind).
pub const KIND_SHIFT: u32 = 30;
/// Mask of the length bits in the length word: for a record, the payload
/// length in bytes.
pub const LEN_MASK: u32 = (1 << KIND_SHIFT) - 1;
/// Kind tag of a record frame.
pub const KIND_RECORD: u32 = 0b01;
/// Kind tag of a commit marker frame.
pub const KIND_COMMIT: u32 = 0b10;
/// Kind tag of a roll marker frame ([`SealMarker`], format version 2).
pub const KIND_SEAL: u32 = 0b11;
/// Largest payload the format can express, in bytes (2^30 - 1).
pub const MAX_PAYLOAD_LEN: u32 = LEN_MASK;

// record frame
/// Offset of a record's CRC (u32, CRC32C over the sequence's 8 LE bytes
/// then the payload; see [`record_crc`]).
pub const REC_CRC_OFFSET: usize = WORD_OFFSET + WORD_LEN;
/// Length of a record's CRC, in bytes.
pub const REC_CRC_LEN: usize = 4;
/// Offset of a record's sequence (u64).
pub const REC_SEQ_OFFSET: usize = REC_CRC_OFFSET + REC_CRC_LEN;
/// Length of a record's sequence, in bytes.
pub const REC_SEQ_LEN: usize = 8;
/// Offset of a record's payload; zero padding to the next multiple of
/// [`FRAME_ALIGN`] follows it.
pub const REC_PAYLOAD_OFFSET: usize = REC_SEQ_OFFSET + REC_SEQ_LEN;
/// Record header length in bytes (word + crc + seq = 16).
pub const REC_HEADER_LEN: usize = REC_PAYLOAD_OFFSET;

// commit marker frame
/// Offset of a commit marker's CRC (u32, CRC32C of marker bytes
/// `CM_FIRST_SEQ_OFFSET..MARKER_LEN`).
pub const CM_CRC_OFFSET: usize = WORD_OFFSET + WORD_LEN;
/// Length of a commit marker's CRC, in bytes.
pub const CM_CRC_LEN: usize = 4;
/// Offset of the first sequence of the batch a marker commits (u64).
pub const CM_FIRST_SEQ_OFFSET: usize = CM_CRC_OFFSET + CM_CRC_LEN;
/// Length of a marker's first sequence, in bytes.
pub const CM_FIRST_SEQ_LEN: usize = 8;
/// Offset of the last sequence of the batch a marker commits (u64).
pub const CM_LAST_SEQ_OFFSET: usize = CM_FIRST_SEQ_OFFSET + CM_FIRST_SEQ_LEN;
/// Length of a marker's last sequence, in bytes.
pub const CM_LAST_SEQ_LEN: usize = 8;
/// Offset of a marker's chain value after its batch ([`CHAIN_LEN`] bytes).
pub const CM_CHAIN_OFFSET: usize = CM_LAST_SEQ_OFFSET + CM_LAST_SEQ_LEN;
/// Total commit marker length in bytes (56).
pub const MARKER_LEN: usize = CM_CHAIN_OFFSET + CHAIN_LEN;
/// The exact length word of every commit marker (`0x8000_0030`: kind
/// [`KIND_COMMIT`], length 48 = the bytes after the word and CRC).
pub const MARKER_WORD: u32 =
    (KIND_COMMIT << KIND_SHIFT) | (MARKER_LEN - CM_FIRST_SEQ_OFFSET) as u32;
const _: () = assert!(MARKER_LEN % FRAME_ALIGN == 0);

// roll marker frame (format version 2)
/// Offset of a roll marker's CRC (u32, CRC32C of marker bytes
/// `SEAL_NEXT_SEQ_OFFSET..SEAL_LEN`).
pub const SEAL_CRC_OFFSET: usize = WORD_OFFSET + WORD_LEN;
/// Length of a roll marker's CRC, in bytes.
pub const SEAL_CRC_LEN: usize = 4;
/// Offset of the successor's first sequence (u64): the `first_seq` of the
/// segment that follows, i.e. the sequence after the last record written
/// before the roll marker.
pub const SEAL_NEXT_SEQ_OFFSET: usize = SEAL_CRC_OFFSET + SEAL_CRC_LEN;
/// Length of the successor's first sequence, in bytes.
pub const SEAL_NEXT_SEQ_LEN: usize = 8;
/// Offset of the successor's segment index (u64).
pub const SEAL_NEXT_INDEX_OFFSET: usize = SEAL_NEXT_SEQ_OFFSET + SEAL_NEXT_SEQ_LEN;
/// Length of the successor's segment index, in bytes.
pub const SEAL_NEXT_INDEX_LEN: usize = 8;
/// Offset of the chain value the successor's header carries as
/// `prev_chain` ([`CHAIN_LEN`] bytes): the chain of the last commit marker
/// before the roll marker.
pub const SEAL_CHAIN_OFFSET: usize = SEAL_NEXT_INDEX_OFFSET + SEAL_NEXT_INDEX_LEN;
/// Total roll marker length in bytes (56). The writer keeps this many bytes
/// free at the end of every segment, so a roll marker always fits.
pub const SEAL_LEN: usize = SEAL_CHAIN_OFFSET + CHAIN_LEN;
/// The exact length word of every roll marker (`0xC000_0030`: kind
/// [`KIND_SEAL`], length 48 = the bytes after the word and CRC).
pub const SEAL_WORD: u32 = (KIND_SEAL << KIND_SHIFT) | (SEAL_LEN - SEAL_NEXT_SEQ_OFFSET) as u32;
const _: () = assert!(SEAL_LEN % FRAME_ALIGN == 0);
const _: () = assert!(REC_HEADER_LEN % FRAME_ALIGN == 0);

/// Segment sizes (in bytes) must be a multiple of this.
pub const SEGMENT_SIZE_ALIGN: u64 = 4096;

/// Round `n` up to the frame alignment.
#[inline(always)]
pub const fn align8(n: usize) -> usize {
    (n + (FRAME_ALIGN - 1)) & !(FRAME_ALIGN - 1)
}

/// Total frame length of a record with a `payload_len`-byte payload.
#[inline(always)]
pub const fn record_frame_len(payload_len: usize) -> usize {
    REC_HEADER_LEN + align8(payload_len)
}

/// Length word of a record with a `payload_len`-byte payload (kind
/// [`KIND_RECORD`]). `payload_len` must not exceed [`MAX_PAYLOAD_LEN`].
#[inline(always)]
pub const fn record_word(payload_len: u32) -> u32 {
    (KIND_RECORD << KIND_SHIFT) | payload_len
}

/// CRC32C of a record: over the sequence's LE bytes, then the payload.
#[inline(always)]
pub fn record_crc(seq: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&seq.to_le_bytes()), payload)
}

/// [`record_crc`] of a frame whose sequence and payload are already in
/// place: one pass over the contiguous bytes `REC_SEQ_OFFSET..` up to the
/// payload's end (the same value, in one call instead of two).
#[inline(always)]
pub fn frame_crc(frame: &[u8], payload_len: usize) -> u32 {
    crc32c::crc32c(&frame[REC_SEQ_OFFSET..REC_PAYLOAD_OFFSET + payload_len])
}

/// Segment file name for a segment whose first sequence is `first_seq`.
pub fn segment_file_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SEGMENT_SUFFIX}")
}

/// Parse a segment file name; `None` if it is not one.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != SEGMENT_NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Little-endian u32 at byte offset `off` of `b`. Panics if `b` is shorter
/// than `off + 4`.
#[inline(always)]
pub fn get_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// Little-endian u64 at byte offset `off` of `b`. Panics if `b` is shorter
/// than `off + 8`.
#[inline(always)]
pub fn get_u64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// Decoded segment header (the 128 bytes at offset 0 of a segment). The
/// magic, version, reserved fields and CRC are implied: [`Self::encode`]
/// writes them and [`Self::decode`] checks them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Format version of this segment: [`FORMAT_VERSION`] for every segment
    /// this crate creates; [`OLDEST_READ_VERSION`]`..=`[`FORMAT_VERSION`]
    /// when decoded. It says which segment-level rules apply (FORMAT.md).
    pub version: u32,
    /// Segment index: the segment's position in name order, 0 for the first.
    pub index: u64,
    /// Sequence of the first record that belongs in this segment (the
    /// sequence after the last record of earlier segments, even if this
    /// segment holds no record); also the number in the file name.
    pub first_seq: u64,
    /// Intended file size in bytes. Readers scan the file's actual length;
    /// the writer re-extends a shorter file to this size.
    pub segment_size: u64,
    /// Chain value of the last commit marker in earlier segments (32 zero
    /// bytes if there is none).
    pub prev_chain: [u8; 32],
    /// Informational name and version of the writing crate (up to
    /// [`WRITER_VERSION_LEN`] bytes are stored; longer values are cut).
    /// Never interpreted.
    pub writer_version: String,
}

/// Why a header did not decode (see [`SegmentHeader::decode`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderProblem {
    /// The buffer (file) is only this many bytes, less than [`HEADER_LEN`].
    TooShort(usize),
    /// The first 8 bytes are not [`MAGIC`]: not a keel journal segment.
    BadMagic,
    /// The header CRC does not match the header bytes.
    BadCrc {
        /// CRC stored at [`HEADER_CRC_OFFSET`].
        stored: u32,
        /// CRC32C computed over bytes `0..HEADER_CRC_OFFSET`.
        computed: u32,
    },
    /// The format version is not one this build reads
    /// ([`OLDEST_READ_VERSION`]`..=`[`FORMAT_VERSION`]; checked before the
    /// CRC, since another version may lay its header out differently).
    UnknownVersion(u32),
}

impl std::fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderProblem::TooShort(n) => write!(
                f,
                "file is {n} bytes, shorter than the {HEADER_LEN}-byte header"
            ),
            HeaderProblem::BadMagic => write!(f, "bad magic (not a keel journal segment)"),
            HeaderProblem::BadCrc { stored, computed } => {
                write!(
                    f,
                    "header crc mismatch (stored {stored:#010x}, computed {computed:#010x})"
                )
            }
            HeaderProblem::UnknownVersion(v) => {
                write!(
                    f,
                    "unknown format version {v} (this build reads versions {OLDEST_READ_VERSION} to {FORMAT_VERSION})"
                )
            }
        }
    }
}

impl SegmentHeader {
    /// Encode into `out[..HEADER_LEN]`, with magic, `self.version`, zeroed
    /// reserved fields and the header CRC. Panics if `out` is shorter than
    /// [`HEADER_LEN`].
    pub fn encode(&self, out: &mut [u8]) {
        let out = &mut out[..HEADER_LEN];
        out.fill(0);
        out[MAGIC_OFFSET..MAGIC_OFFSET + MAGIC_LEN].copy_from_slice(&MAGIC);
        out[VERSION_OFFSET..VERSION_OFFSET + VERSION_LEN]
            .copy_from_slice(&self.version.to_le_bytes());
        out[SEGMENT_INDEX_OFFSET..SEGMENT_INDEX_OFFSET + SEGMENT_INDEX_LEN]
            .copy_from_slice(&self.index.to_le_bytes());
        out[FIRST_SEQ_OFFSET..FIRST_SEQ_OFFSET + FIRST_SEQ_LEN]
            .copy_from_slice(&self.first_seq.to_le_bytes());
        out[SEGMENT_SIZE_OFFSET..SEGMENT_SIZE_OFFSET + SEGMENT_SIZE_LEN]
            .copy_from_slice(&self.segment_size.to_le_bytes());
        out[PREV_CHAIN_OFFSET..PREV_CHAIN_OFFSET + CHAIN_LEN].copy_from_slice(&self.prev_chain);
        let v = self.writer_version.as_bytes();
        let n = v.len().min(WRITER_VERSION_LEN);
        out[WRITER_VERSION_OFFSET..WRITER_VERSION_OFFSET + n].copy_from_slice(&v[..n]);
        let crc = crc32c::crc32c(&out[..HEADER_CRC_OFFSET]);
        out[HEADER_CRC_OFFSET..HEADER_CRC_OFFSET + HEADER_CRC_LEN]
            .copy_from_slice(&crc.to_le_bytes());
    }

    /// Decode and validate the header at the start of `b`: length, magic,
    /// version (before the CRC) and CRC, in that order. The reserved fields
    /// are covered by the CRC but not otherwise checked.
    pub fn decode(b: &[u8]) -> Result<SegmentHeader, HeaderProblem> {
        if b.len() < HEADER_LEN {
            return Err(HeaderProblem::TooShort(b.len()));
        }
        if b[MAGIC_OFFSET..MAGIC_OFFSET + MAGIC_LEN] != MAGIC {
            return Err(HeaderProblem::BadMagic);
        }
        // Version before CRC: a later version may lay its header out
        // differently, and must be reported as such, not as a bad CRC.
        let version = get_u32(b, VERSION_OFFSET);
        if !(OLDEST_READ_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(HeaderProblem::UnknownVersion(version));
        }
        let stored = get_u32(b, HEADER_CRC_OFFSET);
        let computed = crc32c::crc32c(&b[..HEADER_CRC_OFFSET]);
        if stored != computed {
            return Err(HeaderProblem::BadCrc { stored, computed });
        }
        let mut prev_chain = [0u8; 32];
        prev_chain.copy_from_slice(&b[PREV_CHAIN_OFFSET..PREV_CHAIN_OFFSET + CHAIN_LEN]);
        let wv = &b[WRITER_VERSION_OFFSET..WRITER_VERSION_OFFSET + WRITER_VERSION_LEN];
        let end = wv.iter().position(|&c| c == 0).unwrap_or(wv.len());
        Ok(SegmentHeader {
            version,
            index: get_u64(b, SEGMENT_INDEX_OFFSET),
            first_seq: get_u64(b, FIRST_SEQ_OFFSET),
            segment_size: get_u64(b, SEGMENT_SIZE_OFFSET),
            prev_chain,
            writer_version: String::from_utf8_lossy(&wv[..end]).into_owned(),
        })
    }
}

/// Decoded commit marker (a [`MARKER_LEN`]-byte frame that ends a batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitMarker {
    /// First sequence of the batch it commits.
    pub first_seq: u64,
    /// Last sequence of the batch it commits.
    pub last_seq: u64,
    /// Chain value after this batch (see [`chain_next`]).
    pub chain: [u8; 32],
}

impl CommitMarker {
    /// Encode everything but the length word into `out[..MARKER_LEN]`:
    /// sequences, chain and CRC. The caller stores [`MARKER_WORD`] at
    /// [`WORD_OFFSET`] last, which publishes the marker. Panics if `out` is
    /// shorter than [`MARKER_LEN`].
    pub fn encode_body(&self, out: &mut [u8]) {
        let out = &mut out[..MARKER_LEN];
        out[CM_FIRST_SEQ_OFFSET..CM_FIRST_SEQ_OFFSET + CM_FIRST_SEQ_LEN]
            .copy_from_slice(&self.first_seq.to_le_bytes());
        out[CM_LAST_SEQ_OFFSET..CM_LAST_SEQ_OFFSET + CM_LAST_SEQ_LEN]
            .copy_from_slice(&self.last_seq.to_le_bytes());
        out[CM_CHAIN_OFFSET..CM_CHAIN_OFFSET + CHAIN_LEN].copy_from_slice(&self.chain);
        let crc = crc32c::crc32c(&out[CM_FIRST_SEQ_OFFSET..MARKER_LEN]);
        out[CM_CRC_OFFSET..CM_CRC_OFFSET + CM_CRC_LEN].copy_from_slice(&crc.to_le_bytes());
    }

    /// Decode the marker at the start of `b`; `None` if `b` is shorter than
    /// [`MARKER_LEN`], its word is not [`MARKER_WORD`] or its CRC does not
    /// match. Does not check `first_seq <= last_seq` ([`parse_frame`] does).
    pub fn decode(b: &[u8]) -> Option<CommitMarker> {
        if b.len() < MARKER_LEN || get_u32(b, WORD_OFFSET) != MARKER_WORD {
            return None;
        }
        let crc = crc32c::crc32c(&b[CM_FIRST_SEQ_OFFSET..MARKER_LEN]);
        if crc != get_u32(b, CM_CRC_OFFSET) {
            return None;
        }
        let mut chain = [0u8; 32];
        chain.copy_from_slice(&b[CM_CHAIN_OFFSET..CM_CHAIN_OFFSET + CHAIN_LEN]);
        Some(CommitMarker {
            first_seq: get_u64(b, CM_FIRST_SEQ_OFFSET),
            last_seq: get_u64(b, CM_LAST_SEQ_OFFSET),
            chain,
        })
    }
}

/// Decoded roll marker (format version 2): the last frame of a segment that
/// has a successor, written when the writer switches to that successor,
/// after the successor file exists (and, under [`crate::Durability::Batch`],
/// is durable). It names the successor, so recovery knows one must exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealMarker {
    /// `first_seq` of the successor segment.
    pub next_first_seq: u64,
    /// Segment index of the successor segment.
    pub next_index: u64,
    /// The successor header's `prev_chain`: the chain of the last commit
    /// marker before this roll marker (32 zero bytes if none).
    pub chain: [u8; 32],
}

impl SealMarker {
    /// Encode everything but the length word into `out[..SEAL_LEN]`; the
    /// caller stores [`SEAL_WORD`] at [`WORD_OFFSET`] last. Panics if `out`
    /// is shorter than [`SEAL_LEN`].
    pub fn encode_body(&self, out: &mut [u8]) {
        let out = &mut out[..SEAL_LEN];
        out[SEAL_NEXT_SEQ_OFFSET..SEAL_NEXT_SEQ_OFFSET + SEAL_NEXT_SEQ_LEN]
            .copy_from_slice(&self.next_first_seq.to_le_bytes());
        out[SEAL_NEXT_INDEX_OFFSET..SEAL_NEXT_INDEX_OFFSET + SEAL_NEXT_INDEX_LEN]
            .copy_from_slice(&self.next_index.to_le_bytes());
        out[SEAL_CHAIN_OFFSET..SEAL_CHAIN_OFFSET + CHAIN_LEN].copy_from_slice(&self.chain);
        let crc = crc32c::crc32c(&out[SEAL_NEXT_SEQ_OFFSET..SEAL_LEN]);
        out[SEAL_CRC_OFFSET..SEAL_CRC_OFFSET + SEAL_CRC_LEN].copy_from_slice(&crc.to_le_bytes());
    }

    /// Decode the roll marker at the start of `b`; `None` if `b` is shorter
    /// than [`SEAL_LEN`], its word is not [`SEAL_WORD`] or its CRC does not
    /// match.
    pub fn decode(b: &[u8]) -> Option<SealMarker> {
        if b.len() < SEAL_LEN || get_u32(b, WORD_OFFSET) != SEAL_WORD {
            return None;
        }
        if crc32c::crc32c(&b[SEAL_NEXT_SEQ_OFFSET..SEAL_LEN]) != get_u32(b, SEAL_CRC_OFFSET) {
            return None;
        }
        let mut chain = [0u8; 32];
        chain.copy_from_slice(&b[SEAL_CHAIN_OFFSET..SEAL_CHAIN_OFFSET + CHAIN_LEN]);
        Some(SealMarker {
            next_first_seq: get_u64(b, SEAL_NEXT_SEQ_OFFSET),
            next_index: get_u64(b, SEAL_NEXT_INDEX_OFFSET),
            chain,
        })
    }
}

/// A frame as parsed from bytes (no context checks such as expected sequence).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Length word 0: end of data.
    End,
    /// A record with a valid CRC and zero padding.
    Record {
        /// The record's sequence (not checked against any expectation).
        seq: u64,
        /// Payload length in bytes; the payload starts at
        /// [`REC_PAYLOAD_OFFSET`] of the frame.
        payload_len: usize,
        /// Whole frame length in bytes (header, payload and padding): the
        /// next frame starts this many bytes later.
        frame_len: usize,
    },
    /// A commit marker with a valid CRC and `0 < first_seq <= last_seq`.
    Commit(CommitMarker),
    /// A roll marker with a valid CRC (not checked against the segment).
    Seal(SealMarker),
    /// Anything else: why it is invalid.
    Invalid(&'static str),
}

/// Parse the frame at `off` of `buf` given its (already loaded) length `word`.
/// `buf` is the whole segment (or its readable prefix); a frame that does
/// not fit in it is [`Frame::Invalid`]. The word is passed in so that the
/// caller decides how to load it: the crate's [`crate::Reader`] loads it
/// atomically, with Acquire ordering, since a writer may be running; an
/// offline scan uses [`plain_word`].
#[inline]
pub fn parse_frame(buf: &[u8], off: usize, word: u32) -> Frame {
    if word == 0 {
        return Frame::End;
    }
    let kind = word >> KIND_SHIFT;
    if kind == KIND_RECORD {
        let len = (word & LEN_MASK) as usize;
        let frame_len = record_frame_len(len);
        if off.checked_add(frame_len).is_none_or(|e| e > buf.len()) {
            return Frame::Invalid("record extends past the end of the segment");
        }
        let f = &buf[off..off + frame_len];
        let seq = get_u64(f, REC_SEQ_OFFSET);
        if frame_crc(f, len) != get_u32(f, REC_CRC_OFFSET) {
            return Frame::Invalid("record crc mismatch");
        }
        if f[REC_PAYLOAD_OFFSET + len..].iter().any(|&b| b != 0) {
            return Frame::Invalid("record padding is not zero");
        }
        Frame::Record {
            seq,
            payload_len: len,
            frame_len,
        }
    } else if word == MARKER_WORD {
        if off + MARKER_LEN > buf.len() {
            return Frame::Invalid("commit marker extends past the end of the segment");
        }
        match CommitMarker::decode(&buf[off..off + MARKER_LEN]) {
            Some(m) if m.first_seq <= m.last_seq && m.first_seq > 0 => Frame::Commit(m),
            Some(_) => Frame::Invalid("commit marker with first_seq > last_seq"),
            None => Frame::Invalid("commit marker crc mismatch"),
        }
    } else if word == SEAL_WORD {
        if off + SEAL_LEN > buf.len() {
            return Frame::Invalid("roll marker extends past the end of the segment");
        }
        match SealMarker::decode(&buf[off..off + SEAL_LEN]) {
            Some(s) => Frame::Seal(s),
            None => Frame::Invalid("roll marker crc mismatch"),
        }
    } else if kind == KIND_COMMIT {
        Frame::Invalid("commit marker with a wrong length word")
    } else if kind == KIND_SEAL {
        Frame::Invalid("roll marker with a wrong length word")
    } else {
        Frame::Invalid("unknown frame kind in length word")
    }
}

/// Plain (non-atomic) read of the frame word at `off`, or 0 (end of data)
/// if fewer than [`WORD_LEN`] bytes are left; for offline scans of files no
/// writer is changing.
#[inline]
pub fn plain_word(buf: &[u8], off: usize) -> u32 {
    if off + WORD_LEN > buf.len() {
        0
    } else {
        get_u32(buf, off)
    }
}

/// The valid frames of a whole segment file's bytes, from the header on,
/// with their offsets; stops at the first frame that is not valid (or the
/// end of data). For offline tools and tests.
pub fn frames(buf: &[u8]) -> Vec<(usize, Frame)> {
    let mut out = Vec::new();
    let mut pos = HEADER_LEN;
    while pos + 8 <= buf.len() {
        let f = parse_frame(buf, pos, plain_word(buf, pos));
        let len = match f {
            Frame::Record { frame_len, .. } => frame_len,
            Frame::Commit(_) => MARKER_LEN,
            Frame::Seal(_) => SEAL_LEN,
            _ => break,
        };
        out.push((pos, f));
        pos += len;
    }
    out
}

/// Scan 8-aligned offsets in `[from, buf.len())` (`from` rounded up) for
/// any valid frame (record, commit marker or roll marker), ignoring
/// expected sequences.
/// Returns the offset of the first one.
pub fn find_valid_frame_after(buf: &[u8], from: usize) -> Option<usize> {
    let mut off = align8(from);
    while off + FRAME_ALIGN <= buf.len() {
        let w = get_u32(buf, off);
        if w != 0
            && matches!(
                parse_frame(buf, off, w),
                Frame::Record { .. } | Frame::Commit(_) | Frame::Seal(_)
            )
        {
            return Some(off);
        }
        off += FRAME_ALIGN;
    }
    None
}

/// Offset just past the last non-zero byte of `buf[from..]`, rounded up to
/// a multiple of 8 and capped at `buf.len()`; `from` (rounded up the same
/// way) if those bytes are all zero. Recovery and repair zero up to here.
pub fn nonzero_end(buf: &[u8], from: usize) -> usize {
    let from = align8(from).min(buf.len());
    match buf[from..].iter().rposition(|&b| b != 0) {
        Some(p) => align8(from + p + 1).min(buf.len()),
        None => from,
    }
}

/// Writer version string stored in headers (`"keel-journal <version>"`).
pub const WRITER_VERSION: &str = concat!("keel-journal ", env!("CARGO_PKG_VERSION"));

/// Chain step: `blake3(prev_chain ++ batch_bytes)` where `batch_bytes` are all
/// record frames of a commit batch, in order (given as contiguous parts,
/// e.g. one per segment when the batch spans a roll). Headers and commit
/// markers are not hashed.
pub fn chain_next(prev: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(prev);
    for p in parts {
        h.update(p);
    }
    *h.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip_and_crc() {
        let h = SegmentHeader {
            version: FORMAT_VERSION,
            index: 3,
            first_seq: 77,
            segment_size: 65536,
            prev_chain: [7; 32],
            writer_version: WRITER_VERSION.into(),
        };
        let mut b = [0u8; HEADER_LEN];
        h.encode(&mut b);
        assert_eq!(SegmentHeader::decode(&b).unwrap(), h);
        b[FIRST_SEQ_OFFSET] ^= 1;
        assert!(matches!(
            SegmentHeader::decode(&b),
            Err(HeaderProblem::BadCrc { .. })
        ));
    }

    #[test]
    fn names_sort_and_parse() {
        assert_eq!(segment_file_name(1), "00000000000000000001.seg");
        assert_eq!(parse_segment_file_name("00000000000000000001.seg"), Some(1));
        assert_eq!(parse_segment_file_name("1.seg"), None);
        assert_eq!(parse_segment_file_name("0000000000000000000a.seg"), None);
        assert!(segment_file_name(9) < segment_file_name(10));
    }

    #[test]
    fn frame_crc_is_record_crc_and_crc32c() {
        // The standard CRC-32C check value pins the algorithm.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        for len in [0usize, 1, 7, 8, 9, 63, 64, 65, 300] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let seq = 0x0102_0304_0506_0708u64 + len as u64;
            let mut f = vec![0u8; record_frame_len(len)];
            f[REC_SEQ_OFFSET..REC_SEQ_OFFSET + 8].copy_from_slice(&seq.to_le_bytes());
            f[REC_PAYLOAD_OFFSET..REC_PAYLOAD_OFFSET + len].copy_from_slice(&payload);
            assert_eq!(frame_crc(&f, len), record_crc(seq, &payload), "len {len}");
            assert_ne!(
                frame_crc(&f, len),
                record_crc(seq + 1, &payload),
                "len {len}"
            );
        }
    }

    #[test]
    fn frame_parse_detects_flips() {
        let mut buf = vec![0u8; 64];
        let payload = b"hello";
        let seq = 5u64;
        buf[REC_SEQ_OFFSET..REC_SEQ_OFFSET + 8].copy_from_slice(&seq.to_le_bytes());
        buf[REC_PAYLOAD_OFFSET..REC_PAYLOAD_OFFSET + 5].copy_from_slice(payload);
        buf[REC_CRC_OFFSET..REC_CRC_OFFSET + 4]
            .copy_from_slice(&record_crc(seq, payload).to_le_bytes());
        buf[0..4].copy_from_slice(&record_word(5).to_le_bytes());
        assert_eq!(
            parse_frame(&buf, 0, plain_word(&buf, 0)),
            Frame::Record {
                seq: 5,
                payload_len: 5,
                frame_len: 24
            }
        );
        for i in 0..24 {
            let mut c = buf.clone();
            c[i] ^= 0x10;
            assert!(
                matches!(parse_frame(&c, 0, plain_word(&c, 0)), Frame::Invalid(_)),
                "byte {i}"
            );
        }
    }
}
