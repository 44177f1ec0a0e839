//! On-disk byte map. Every offset is a named constant derived from the
//! previous one; `FORMAT.md` documents the same map in prose.
//!
//! All integers are little-endian. All frames start at 8-byte aligned
//! offsets inside a segment.

/// Segment file magic.
pub const MAGIC: [u8; 8] = *b"KEELJRNL";
/// The only format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// File name suffix of a segment.
pub const SEGMENT_SUFFIX: &str = ".seg";
/// Digits of the zero-padded first sequence in a segment file name.
pub const SEGMENT_NAME_DIGITS: usize = 20;
/// Suffix of a segment being prepared (never read).
pub const PREP_SUFFIX: &str = ".prep";
/// Lock file taken (flock, exclusive) by the single writer.
pub const LOCK_FILE: &str = "LOCK";

// ---- segment header -------------------------------------------------------
pub const MAGIC_OFFSET: usize = 0;
pub const MAGIC_LEN: usize = 8;
pub const VERSION_OFFSET: usize = MAGIC_OFFSET + MAGIC_LEN;
pub const VERSION_LEN: usize = 4;
pub const HEADER_RESERVED0_OFFSET: usize = VERSION_OFFSET + VERSION_LEN;
pub const HEADER_RESERVED0_LEN: usize = 4;
pub const SEGMENT_INDEX_OFFSET: usize = HEADER_RESERVED0_OFFSET + HEADER_RESERVED0_LEN;
pub const SEGMENT_INDEX_LEN: usize = 8;
pub const FIRST_SEQ_OFFSET: usize = SEGMENT_INDEX_OFFSET + SEGMENT_INDEX_LEN;
pub const FIRST_SEQ_LEN: usize = 8;
pub const SEGMENT_SIZE_OFFSET: usize = FIRST_SEQ_OFFSET + FIRST_SEQ_LEN;
pub const SEGMENT_SIZE_LEN: usize = 8;
pub const PREV_CHAIN_OFFSET: usize = SEGMENT_SIZE_OFFSET + SEGMENT_SIZE_LEN;
pub const CHAIN_LEN: usize = 32;
pub const WRITER_VERSION_OFFSET: usize = PREV_CHAIN_OFFSET + CHAIN_LEN;
pub const WRITER_VERSION_LEN: usize = 32;
pub const HEADER_RESERVED1_OFFSET: usize = WRITER_VERSION_OFFSET + WRITER_VERSION_LEN;
pub const HEADER_RESERVED1_LEN: usize = 20;
pub const HEADER_CRC_OFFSET: usize = HEADER_RESERVED1_OFFSET + HEADER_RESERVED1_LEN;
pub const HEADER_CRC_LEN: usize = 4;
/// Total header size; the first frame starts here.
pub const HEADER_LEN: usize = HEADER_CRC_OFFSET + HEADER_CRC_LEN;
const _: () = assert!(HEADER_LEN == 128);

// ---- frames (records and commit markers) ----------------------------------
/// Frame alignment.
pub const FRAME_ALIGN: usize = 8;
/// The first u32 of every frame: kind in bits 30..32, length in bits 0..30.
pub const WORD_OFFSET: usize = 0;
pub const WORD_LEN: usize = 4;
pub const KIND_SHIFT: u32 = 30;
pub const LEN_MASK: u32 = (1 << KIND_SHIFT) - 1;
/// Kind tag of a record frame.
pub const KIND_RECORD: u32 = 0b01;
/// Kind tag of a commit marker frame.
pub const KIND_COMMIT: u32 = 0b10;
/// Largest payload the format can express.
pub const MAX_PAYLOAD_LEN: u32 = LEN_MASK;

// record frame
pub const REC_CRC_OFFSET: usize = WORD_OFFSET + WORD_LEN;
pub const REC_CRC_LEN: usize = 4;
pub const REC_SEQ_OFFSET: usize = REC_CRC_OFFSET + REC_CRC_LEN;
pub const REC_SEQ_LEN: usize = 8;
pub const REC_PAYLOAD_OFFSET: usize = REC_SEQ_OFFSET + REC_SEQ_LEN;
/// Record header length (word + crc + seq).
pub const REC_HEADER_LEN: usize = REC_PAYLOAD_OFFSET;

// commit marker frame
pub const CM_CRC_OFFSET: usize = WORD_OFFSET + WORD_LEN;
pub const CM_CRC_LEN: usize = 4;
pub const CM_FIRST_SEQ_OFFSET: usize = CM_CRC_OFFSET + CM_CRC_LEN;
pub const CM_FIRST_SEQ_LEN: usize = 8;
pub const CM_LAST_SEQ_OFFSET: usize = CM_FIRST_SEQ_OFFSET + CM_FIRST_SEQ_LEN;
pub const CM_LAST_SEQ_LEN: usize = 8;
pub const CM_CHAIN_OFFSET: usize = CM_LAST_SEQ_OFFSET + CM_LAST_SEQ_LEN;
/// Total commit marker length.
pub const MARKER_LEN: usize = CM_CHAIN_OFFSET + CHAIN_LEN;
/// The exact length word of every commit marker.
pub const MARKER_WORD: u32 =
    (KIND_COMMIT << KIND_SHIFT) | (MARKER_LEN - CM_FIRST_SEQ_OFFSET) as u32;
const _: () = assert!(MARKER_LEN % FRAME_ALIGN == 0);
const _: () = assert!(REC_HEADER_LEN % FRAME_ALIGN == 0);

/// Segment sizes must be a multiple of this.
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

/// Length word of a record.
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

#[inline(always)]
pub fn get_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

#[inline(always)]
pub fn get_u64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// Decoded segment header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub index: u64,
    pub first_seq: u64,
    pub segment_size: u64,
    pub prev_chain: [u8; 32],
    pub writer_version: String,
}

/// Why a header did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderProblem {
    TooShort(usize),
    BadMagic,
    BadCrc { stored: u32, computed: u32 },
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
                    "unknown format version {v} (this build reads version {FORMAT_VERSION})"
                )
            }
        }
    }
}

impl SegmentHeader {
    /// Encode into `out[..HEADER_LEN]`.
    pub fn encode(&self, out: &mut [u8]) {
        let out = &mut out[..HEADER_LEN];
        out.fill(0);
        out[MAGIC_OFFSET..MAGIC_OFFSET + MAGIC_LEN].copy_from_slice(&MAGIC);
        out[VERSION_OFFSET..VERSION_OFFSET + VERSION_LEN]
            .copy_from_slice(&FORMAT_VERSION.to_le_bytes());
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

    /// Decode and validate a header.
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
        if version != FORMAT_VERSION {
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
            index: get_u64(b, SEGMENT_INDEX_OFFSET),
            first_seq: get_u64(b, FIRST_SEQ_OFFSET),
            segment_size: get_u64(b, SEGMENT_SIZE_OFFSET),
            prev_chain,
            writer_version: String::from_utf8_lossy(&wv[..end]).into_owned(),
        })
    }
}

/// Decoded commit marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitMarker {
    pub first_seq: u64,
    pub last_seq: u64,
    pub chain: [u8; 32],
}

impl CommitMarker {
    /// Encode everything except the word (written last by the caller).
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

    /// Decode a marker whose word was already checked; `None` on CRC mismatch.
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

/// A frame as parsed from bytes (no context checks such as expected sequence).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Length word 0: end of data.
    End,
    /// A record with a valid CRC and zero padding.
    Record {
        seq: u64,
        payload_len: usize,
        frame_len: usize,
    },
    /// A commit marker with a valid CRC.
    Commit(CommitMarker),
    /// Anything else: why it is invalid.
    Invalid(&'static str),
}

/// Parse the frame at `off` of `buf` given its (already loaded) length `word`.
/// `buf` is the whole segment (or its readable prefix).
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
    } else {
        Frame::Invalid("unknown frame kind in length word")
    }
}

/// Plain (non-atomic) read of a frame word; for offline scans.
#[inline]
pub fn plain_word(buf: &[u8], off: usize) -> u32 {
    if off + WORD_LEN > buf.len() {
        0
    } else {
        get_u32(buf, off)
    }
}

/// Scan aligned offsets in `[from, buf.len())` for any valid frame
/// (record or commit marker). Returns its offset.
pub fn find_valid_frame_after(buf: &[u8], from: usize) -> Option<usize> {
    let mut off = align8(from);
    while off + FRAME_ALIGN <= buf.len() {
        let w = get_u32(buf, off);
        if w != 0
            && matches!(
                parse_frame(buf, off, w),
                Frame::Record { .. } | Frame::Commit(_)
            )
        {
            return Some(off);
        }
        off += FRAME_ALIGN;
    }
    None
}

/// End (exclusive, 8-aligned) of the last non-zero byte in `buf[from..]`, or `from`.
pub fn nonzero_end(buf: &[u8], from: usize) -> usize {
    let from = align8(from).min(buf.len());
    match buf[from..].iter().rposition(|&b| b != 0) {
        Some(p) => align8(from + p + 1).min(buf.len()),
        None => from,
    }
}

/// Writer version string stored in headers.
pub const WRITER_VERSION: &str = concat!("keel-journal ", env!("CARGO_PKG_VERSION"));

/// Chain step: `blake3(prev_chain ++ batch_bytes)` where `batch_bytes` are all
/// record frames of a commit batch, in order (given as contiguous parts).
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
