//! Replicated batches: the bytes of one committed batch as its writer laid
//! them out (record frames, then the commit marker), carried to another
//! journal and appended there only after every check passes.
//!
//! A leader captures them ([`Journal::set_capture`],
//! [`Journal::take_captured`]); a follower checks them with [`Batch::parse`]
//! and appends them with [`Journal::append_batch`], which writes the same
//! frames (so the records are byte-identical) and proves it: the chain it
//! computes must equal the one in the leader's commit marker.

use crate::error::AppendError;
use crate::format::{self, CommitMarker, Frame, MARKER_LEN, REC_PAYLOAD_OFFSET};
use crate::writer::{CommitInfo, Journal};

/// Why a replicated batch was refused. Nothing was appended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicaError {
    /// The bytes are not one well-formed batch.
    #[error("replicated batch is malformed at byte {offset} of {len}: {why}; the stream holds bytes no Keel leader wrote")]
    Malformed {
        /// Offset of the bad frame in the batch bytes.
        offset: usize,
        /// Length of the batch bytes.
        len: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// The batch does not start at the sequence this journal expects next.
    #[error("replicated batch starts at sequence {got} but this journal's next sequence is {expected}; fetch from sequence {expected}")]
    Gap {
        /// The journal's next sequence.
        expected: u64,
        /// The batch's first sequence.
        got: u64,
    },
    /// The batch's chain does not continue this journal's chain: the two
    /// histories differ.
    #[error("replicated batch {first_seq}..={last_seq} does not continue this journal's hash chain: the leader's history differs from this journal's before sequence {first_seq}; cut this journal (replay repair) to the last sequence both agree on and follow again")]
    ChainMismatch {
        /// First sequence of the batch.
        first_seq: u64,
        /// Last sequence of the batch.
        last_seq: u64,
    },
    /// A pending (unreplicated, uncommitted) batch is being built here.
    #[error("this journal has an uncommitted batch pending; a follower's journal only takes whole replicated batches")]
    Pending,
    /// Appending failed (the journal is now failed, see [`AppendError`]).
    #[error(transparent)]
    Append(#[from] AppendError),
}

/// A checked view of one replicated batch.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    bytes: &'a [u8],
    /// Its commit marker (first and last sequence, chain after it).
    pub marker: CommitMarker,
}

impl<'a> Batch<'a> {
    /// Checks `bytes` as one batch: record frames with valid CRCs, zero
    /// padding and contiguous sequences, then exactly one commit marker
    /// (valid CRC) naming the first and last of them, and nothing after.
    /// The chain is checked against a journal by [`Journal::append_batch`].
    pub fn parse(bytes: &'a [u8]) -> Result<Batch<'a>, ReplicaError> {
        let bad = |offset, why| ReplicaError::Malformed {
            offset,
            len: bytes.len(),
            why,
        };
        let mut off = 0;
        let mut first = None;
        let mut expect = 0u64;
        loop {
            if bytes.len() - off < 8 {
                return Err(bad(off, "ends before its commit marker"));
            }
            match format::parse_frame(bytes, off, format::get_u32(bytes, off)) {
                Frame::Record { seq, frame_len, .. } => {
                    if first.is_some() && seq != expect {
                        return Err(bad(off, "record sequences are not contiguous"));
                    }
                    first.get_or_insert(seq);
                    expect = seq.checked_add(1).ok_or(bad(off, "sequence overflow"))?;
                    off += frame_len;
                }
                Frame::Commit(marker) => {
                    let Some(first) = first else {
                        return Err(bad(off, "a commit marker with no record before it"));
                    };
                    if marker.first_seq != first || marker.last_seq != expect - 1 {
                        return Err(bad(off, "commit marker does not name the batch's records"));
                    }
                    if off + MARKER_LEN != bytes.len() {
                        return Err(bad(off, "bytes after the commit marker"));
                    }
                    return Ok(Batch { bytes, marker });
                }
                Frame::End => return Err(bad(off, "zero length word")),
                Frame::Seal(_) => return Err(bad(off, "a roll marker inside a batch")),
                Frame::Invalid(why) => return Err(bad(off, why)),
            }
        }
    }

    /// The commit marker at the end of `bytes`, checked on its own (its
    /// word, its CRC, `0 < first_seq <= last_seq`) without reading the
    /// records: enough to name or place a batch. [`Batch::parse`] checks
    /// the rest.
    pub fn marker_of(bytes: &[u8]) -> Result<CommitMarker, ReplicaError> {
        let offset = bytes.len().saturating_sub(MARKER_LEN);
        let bad = |why| ReplicaError::Malformed {
            offset,
            len: bytes.len(),
            why,
        };
        if bytes.len() < MARKER_LEN + format::REC_HEADER_LEN {
            return Err(bad("shorter than one record and a commit marker"));
        }
        match format::parse_frame(bytes, offset, format::get_u32(bytes, offset)) {
            Frame::Commit(marker) => Ok(marker),
            Frame::Invalid(why) => Err(bad(why)),
            _ => Err(bad("does not end with a commit marker")),
        }
    }

    /// The record frames (everything before the commit marker): what the
    /// chain hashes.
    pub fn record_bytes(&self) -> &'a [u8] {
        &self.bytes[..self.bytes.len() - MARKER_LEN]
    }

    /// The whole batch bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The records, in order: `(sequence, payload)`.
    pub fn records(&self) -> impl Iterator<Item = (u64, &'a [u8])> + 'a {
        let rec = self.record_bytes();
        let mut off = 0;
        std::iter::from_fn(move || {
            if off >= rec.len() {
                return None;
            }
            let word = format::get_u32(rec, off);
            let len = (word & format::LEN_MASK) as usize;
            let seq = format::get_u64(rec, off + format::REC_SEQ_OFFSET);
            let payload = &rec[off + REC_PAYLOAD_OFFSET..off + REC_PAYLOAD_OFFSET + len];
            off += format::record_frame_len(len);
            Some((seq, payload))
        })
    }
}

impl Journal {
    /// Appends and commits one replicated batch (see [`Batch::parse`]) after
    /// checking that it starts at this journal's next sequence and that its
    /// chain continues this journal's chain. The frames written are the
    /// same bytes, and the commit's chain equals the leader's marker (a
    /// mismatch after writing would be a bug; it fails the journal). The
    /// commit honours this journal's durability.
    pub fn append_batch(&mut self, batch: &Batch<'_>) -> Result<CommitInfo, ReplicaError> {
        if self.has_pending() {
            return Err(ReplicaError::Pending);
        }
        let m = batch.marker;
        let expected = self.next_sequence();
        if m.first_seq != expected {
            return Err(ReplicaError::Gap {
                expected,
                got: m.first_seq,
            });
        }
        let prev = self.last_committed().map(|(_, c)| c).unwrap_or([0; 32]);
        if format::chain_next(&prev, &[batch.record_bytes()]) != m.chain {
            return Err(ReplicaError::ChainMismatch {
                first_seq: m.first_seq,
                last_seq: m.last_seq,
            });
        }
        for (seq, payload) in batch.records() {
            let got = self.append(payload)?;
            assert_eq!(got, seq, "append_batch: sequence drift");
        }
        let info = self.commit()?;
        if info.chain != m.chain {
            return Err(ReplicaError::Append(self.fail_with(format!(
                "replicated batch {}..={} was written but its chain differs from the leader's (a bug)",
                m.first_seq, m.last_seq
            ))));
        }
        Ok(info)
    }
}
