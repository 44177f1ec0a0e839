//! API keys: a TOML file of keys stored as SHA-256 hashes, each bound to one
//! account, some with the operator role. A secret is
//! `keel_<id>_<64 hex digits>`; the id is public and finds the entry, the
//! whole secret's hash is compared in constant time.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use keel_engine::model::AccountId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One key as stored: never the secret, only its hash.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// Public id (12 hex digits), part of the secret.
    pub id: String,
    /// The account the key acts for.
    pub account: AccountId,
    /// Whether the key may send admin commands and act for any account.
    #[serde(default)]
    pub operator: bool,
    /// SHA-256 of the whole secret, 64 lowercase hex digits.
    pub sha256: String,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    #[serde(default)]
    key: Vec<KeyEntry>,
}

/// Why the keys file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// Reading or writing the file failed.
    #[error("keys file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a valid keys file.
    #[error(
        "keys file {path}: {message} (it is written by `keel keys add`; fix or remove the entry)"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The system's random source failed.
    #[error("no random bytes for a new key: {0}")]
    Random(String),
}

/// The keys a server accepts.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    by_id: BTreeMap<String, (KeyEntry, [u8; 32])>,
}

/// What a presented secret authenticates as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The key's id.
    pub key_id: String,
    /// The account it acts for.
    pub account: AccountId,
    /// Whether it has the operator role.
    pub operator: bool,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Equality of two digests in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    // black_box keeps the compiler from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// The id part of a secret, if it has the secret's shape.
fn id_of(secret: &str) -> Option<&str> {
    let rest = secret.strip_prefix("keel_")?;
    let (id, random) = rest.split_once('_')?;
    (id.len() == 12 && random.len() == 64).then_some(id)
}

impl Keys {
    /// Reads the keys file; a missing file is no keys (every connection is
    /// refused until `keel keys add` writes one).
    pub fn load(path: &Path) -> Result<Keys, KeysError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Keys::default()),
            Err(source) => {
                return Err(KeysError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let invalid = |message: String| KeysError::Invalid {
            path: path.to_owned(),
            message,
        };
        let file: KeysFile = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let mut keys = Keys::default();
        for entry in file.key {
            let digest = unhex32(&entry.sha256).ok_or_else(|| {
                invalid(format!(
                    "key {:?}: sha256 must be 64 hex digits, got {:?}",
                    entry.id, entry.sha256
                ))
            })?;
            if entry.id.len() != 12 || !entry.id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(format!(
                    "key id {:?}: must be 12 hex digits",
                    entry.id
                )));
            }
            if keys.by_id.contains_key(&entry.id) {
                return Err(invalid(format!("key id {:?} appears twice", entry.id)));
            }
            keys.by_id.insert(entry.id.clone(), (entry, digest));
        }
        Ok(keys)
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The identity `secret` proves, or `None`. The digest comparison takes
    /// the same time whether or not the id exists and wherever the digests
    /// differ.
    pub fn authenticate(&self, secret: &str) -> Option<Identity> {
        let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let entry = id_of(secret).and_then(|id| self.by_id.get(id));
        let stored = entry.map_or([0xA5; 32], |(_, digest)| *digest);
        let equal = constant_time_eq(&presented, &stored);
        match entry {
            Some((entry, _)) if equal => Some(Identity {
                key_id: entry.id.clone(),
                account: entry.account,
                operator: entry.operator,
            }),
            _ => None,
        }
    }
}

/// A new key for `account` added to the keys file at `path` (created if
/// absent, written whole to a temporary file and renamed, readable by its
/// owner only). Returns the stored entry and the secret, which exists
/// nowhere else: it cannot be shown again.
pub fn add_key(
    path: &Path,
    account: AccountId,
    operator: bool,
) -> Result<(KeyEntry, String), KeysError> {
    let io = |source| KeysError::Io {
        path: path.to_owned(),
        source,
    };
    let existing = Keys::load(path)?;
    let mut random = [0u8; 38];
    getrandom::fill(&mut random).map_err(|e| KeysError::Random(e.to_string()))?;
    let id = hex(&random[..6]);
    let secret = format!("keel_{id}_{}", hex(&random[6..]));
    let entry = KeyEntry {
        id,
        account,
        operator,
        sha256: hex(&Sha256::digest(secret.as_bytes())),
    };
    let mut file = KeysFile {
        key: existing.by_id.into_values().map(|(e, _)| e).collect(),
    };
    file.key.push(entry.clone());
    let text = toml::to_string(&file).map_err(|e| KeysError::Invalid {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("toml.tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp).map_err(io)?;
        f.write_all(b"# API keys for `keel serve`, written by `keel keys add`: hashes only.\n")
            .map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok((entry, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_added_key_authenticates_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        let (a, secret_a) = add_key(&path, 7, false).unwrap();
        let (_, secret_b) = add_key(&path, 0, true).unwrap();
        let keys = Keys::load(&path).unwrap();
        assert_eq!(keys.len(), 2);
        let who = keys.authenticate(&secret_a).unwrap();
        assert_eq!((who.account, who.operator, who.key_id), (7, false, a.id));
        assert!(keys.authenticate(&secret_b).unwrap().operator);
        // One digit changed, the id alone, garbage, empty: refused.
        let mut wrong = secret_a.clone().into_bytes();
        let last = wrong.len() - 1;
        wrong[last] = if wrong[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(keys.authenticate(&String::from_utf8(wrong).unwrap()), None);
        assert_eq!(
            keys.authenticate(&format!("keel_{}_", a_id(&secret_a))),
            None
        );
        assert_eq!(keys.authenticate("nonsense"), None);
        assert_eq!(keys.authenticate(""), None);
        // The file holds no secret.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&secret_a[18..]));
    }

    fn a_id(secret: &str) -> &str {
        id_of(secret).unwrap()
    }

    #[test]
    fn a_bad_keys_file_is_an_error_naming_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        std::fs::write(
            &path,
            "[[key]]\nid = \"0123456789ab\"\naccount = 1\nsha256 = \"zz\"\n",
        )
        .unwrap();
        let err = Keys::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("0123456789ab") && err.contains("sha256"),
            "{err}"
        );
        assert!(Keys::load(&dir.path().join("absent.toml"))
            .unwrap()
            .is_empty());
    }
}
