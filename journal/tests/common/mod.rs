#![allow(dead_code)]
use std::path::Path;

use keel_journal::{Durability, Journal, JournalConfig};

/// Deterministic payload for a sequence (length and content derive from seq).
pub fn payload_for(seq: u64, max: usize) -> Vec<u8> {
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let len = (x % (max as u64 + 1)) as usize;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn cfg(dir: &Path, seg: u64) -> JournalConfig {
    JournalConfig {
        dir: dir.to_path_buf(),
        segment_size_bytes: seg,
        max_record_bytes: 1024,
        durability: Durability::None,
    }
}

/// Read all committed records.
pub fn read_all(dir: &Path) -> Vec<(u64, Vec<u8>)> {
    Journal::reader(dir, 1)
        .unwrap()
        .map(|r| r.map(|r| (r.seq, r.payload)).unwrap())
        .collect()
}

/// Copy a directory (flat).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Tiny deterministic RNG (xorshift64*).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
