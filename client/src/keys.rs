//! Participant keys: secp256k1 keys held locally, at rest in encrypted JSON keystores (the Web3
//! Secret Storage format, scrypt + AES-128-CTR) that foundry's `cast wallet` reads and writes too.
//!
//! A node never asks an Ethereum node to sign: the key that signs channel states lives in the
//! node's process, loaded from one of three sources, in this order of precedence — a raw private
//! key (`--private-key`, meant for development), a keystore file with its password file, or a
//! named keystore in the keystore folder.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256};
use alloy_signer_local::PrivateKeySigner;

/// Why a key could not be loaded or stored.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The private key is not 32 bytes of hex, or not a valid secp256k1 scalar.
    #[error("the private key is not a valid secp256k1 key (expected 32 bytes of hex)")]
    BadPrivateKey,
    /// The keystore could not be read or decrypted.
    #[error("cannot open keystore {path}: {reason}")]
    Keystore {
        /// The keystore file.
        path: PathBuf,
        /// What went wrong (a wrong password reads as a MAC mismatch).
        reason: String,
    },
    /// The password file could not be read.
    #[error("cannot read password file {0}: {1}")]
    PasswordFile(PathBuf, std::io::Error),
    /// A keystore with this name exists already.
    #[error("a keystore named {0} already exists in {1}")]
    Exists(String, PathBuf),
    /// No key source was given.
    #[error("no key given: pass --private-key, --keystore with --password-file, or --account")]
    Missing,
    /// The keystore folder could not be read or written.
    #[error("keystore folder {0}: {1}")]
    Folder(PathBuf, std::io::Error),
}

/// Where the key comes from.
#[derive(Clone, Debug, Default)]
pub struct KeySource {
    /// A raw hex private key.
    pub private_key: Option<String>,
    /// A keystore file.
    pub keystore: Option<PathBuf>,
    /// A keystore by name in `keystore_dir`.
    pub account: Option<String>,
    /// The keystore folder.
    pub keystore_dir: PathBuf,
    /// The file holding the keystore's password (its first line).
    pub password_file: Option<PathBuf>,
    /// The password itself.
    pub password: Option<String>,
}

/// The default keystore folder: `$HOME/.avocado/keystores`.
pub fn default_keystore_dir() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".")).join(".avocado/keystores")
}

/// Reads a password: the first line of `file`, without its line ending.
pub fn read_password(file: &Path) -> Result<String, KeyError> {
    let text = std::fs::read_to_string(file).map_err(|e| KeyError::PasswordFile(file.into(), e))?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

/// Parses a hex private key, with or without `0x`.
pub fn parse_private_key(hex: &str) -> Result<PrivateKeySigner, KeyError> {
    let key: B256 = hex.trim().parse().map_err(|_| KeyError::BadPrivateKey)?;
    PrivateKeySigner::from_bytes(&key).map_err(|_| KeyError::BadPrivateKey)
}

impl KeySource {
    fn password(&self) -> Result<String, KeyError> {
        match (&self.password, &self.password_file) {
            (Some(p), _) => Ok(p.clone()),
            (None, Some(f)) => read_password(f),
            (None, None) => Ok(String::new()),
        }
    }

    /// Loads the signer this source names.
    pub fn load(&self) -> Result<PrivateKeySigner, KeyError> {
        if let Some(hex) = &self.private_key {
            return parse_private_key(hex);
        }
        let path = match (&self.keystore, &self.account) {
            (Some(p), _) => p.clone(),
            (None, Some(name)) => self.keystore_dir.join(name),
            (None, None) => return Err(KeyError::Missing),
        };
        let password = self.password()?;
        PrivateKeySigner::decrypt_keystore(&path, password)
            .map_err(|e| KeyError::Keystore { path, reason: e.to_string() })
    }
}

/// Writes `signer`'s key to `dir/name`, encrypted with `password`. Refuses to overwrite.
pub fn store(dir: &Path, name: &str, signer: &PrivateKeySigner, password: &str) -> Result<PathBuf, KeyError> {
    std::fs::create_dir_all(dir).map_err(|e| KeyError::Folder(dir.into(), e))?;
    let path = dir.join(name);
    if path.exists() {
        return Err(KeyError::Exists(name.into(), dir.into()));
    }
    let mut rng = rand::thread_rng();
    PrivateKeySigner::encrypt_keystore(dir, &mut rng, signer.to_bytes(), password, Some(name))
        .map_err(|e| KeyError::Keystore { path: path.clone(), reason: e.to_string() })?;
    Ok(path)
}

/// The keystores in `dir`: `(name, address)`, sorted by name. The address is read from the
/// keystore's `address` field when present (no password needed).
pub fn list(dir: &Path) -> Result<Vec<(String, Option<Address>)>, KeyError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(KeyError::Folder(dir.into(), e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| KeyError::Folder(dir.into(), e))?;
        if !entry.path().is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(json) =
            std::fs::read(entry.path()).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        else {
            continue; // not a keystore
        };
        if json.get("crypto").or_else(|| json.get("Crypto")).is_none() {
            continue;
        }
        let address = json.get("address").and_then(|a| a.as_str()).and_then(|a| a.parse::<Address>().ok());
        out.push((name, address));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("avocado-keys-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_stored_key_loads_back_by_name_and_by_file() {
        let d = dir("roundtrip");
        let signer = PrivateKeySigner::random();
        let path = store(&d, "alice", &signer, "pw").unwrap();
        let by_name = KeySource {
            account: Some("alice".into()),
            keystore_dir: d.clone(),
            password: Some("pw".into()),
            ..Default::default()
        };
        assert_eq!(by_name.load().unwrap().address(), signer.address());
        std::fs::write(d.join("pw.txt"), "pw\n").unwrap();
        let by_file = KeySource { keystore: Some(path), password_file: Some(d.join("pw.txt")), ..Default::default() };
        assert_eq!(by_file.load().unwrap().address(), signer.address());
        let listed = list(&d).unwrap();
        assert!(listed.iter().any(|(n, _)| n == "alice"));
        assert!(matches!(store(&d, "alice", &signer, "pw"), Err(KeyError::Exists(..))));
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_wrong_password_or_bad_key_is_a_clear_error() {
        let d = dir("wrong");
        let signer = PrivateKeySigner::random();
        store(&d, "bob", &signer, "right").unwrap();
        let src = KeySource {
            account: Some("bob".into()),
            keystore_dir: d.clone(),
            password: Some("wrong".into()),
            ..Default::default()
        };
        let err = src.load().unwrap_err().to_string();
        assert!(err.starts_with("cannot open keystore"), "{err}");
        assert!(matches!(parse_private_key("0x1234"), Err(KeyError::BadPrivateKey)));
        assert!(matches!(parse_private_key(&format!("{}", B256::ZERO)), Err(KeyError::BadPrivateKey)));
        assert!(matches!(KeySource::default().load(), Err(KeyError::Missing)));
        let _ = std::fs::remove_dir_all(d);
    }
}
