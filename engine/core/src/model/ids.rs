//! Identifiers. All are plain integers so that commands and events stay `Copy`
//! and encode to fixed widths.

use bincode::{Decode, Encode};

/// An account. Account [`OPERATOR`] exists from genesis: it issues admin
/// commands and collects fees.
pub type AccountId = u32;
/// An asset, numbered from 0 in the order the assets were added.
pub type AssetId = u32;
/// A symbol (an order book), numbered from 0 in the order they were added.
pub type SymbolId = u32;
/// An order, numbered from 1 in the order they were accepted. Never reused.
pub type OrderId = u64;

/// The operator account: issues admin commands and collects fees.
pub const OPERATOR: AccountId = 0;

/// The longest asset or symbol name, in bytes.
pub const NAME_LEN_MAX: usize = 16;

/// A short ASCII name (asset or symbol) stored inline, so that events stay
/// `Copy` and carry no heap data.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Name {
    len: u8,
    bytes: [u8; NAME_LEN_MAX],
}

impl Name {
    /// Builds a name from 1..=16 ASCII graphic characters, or `None`.
    pub fn new(text: &str) -> Option<Name> {
        let raw = text.as_bytes();
        if raw.is_empty() || raw.len() > NAME_LEN_MAX || !raw.iter().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        let mut bytes = [0u8; NAME_LEN_MAX];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(Name {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// Whether the stored bytes form a valid name (used after decoding).
    pub fn is_valid(&self) -> bool {
        let len = self.len as usize;
        (1..=NAME_LEN_MAX).contains(&len)
            && self.bytes[..len].iter().all(|b| b.is_ascii_graphic())
            && self.bytes[len..].iter().all(|&b| b == 0)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        let len = (self.len as usize).min(NAME_LEN_MAX);
        std::str::from_utf8(&self.bytes[..len]).unwrap_or("?")
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_ascii() {
        assert_eq!(Name::new("BTC-USD").unwrap().as_str(), "BTC-USD");
        assert!(Name::new("").is_none());
        assert!(Name::new("ABCDEFGHIJKLMNOPQ").is_none());
        assert!(Name::new("has space").is_none());
        assert!(Name::new("é").is_none());
        assert!(Name::new("ABCDEFGHIJKLMNOP").unwrap().is_valid());
    }
}
