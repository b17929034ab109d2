//! Participant keys: secp256k1 keys held locally, at rest in encrypted JSON keystores (the Web3
//! Secret Storage format, scrypt + AES-128-CTR) that foundry's `cast wallet` reads and writes too.
//!
//! A node never asks an Ethereum node to sign: the key that signs channel states lives in the
//! node's process, loaded from one of three sources, in this order of precedence — a raw private
//! key (`--private-key`, meant for development), a keystore file with its password file, or a
//! named keystore in the keystore folder.
//!
//! At rest, keys are protected by their password and by the file system: keystores are written
//! mode 0600 in a folder of mode 0700 (an existing folder's mode is tightened when a key is
//! written to it). A password is never empty unless asked for explicitly
//! (`--unsafe-empty-password`): it is typed at a hidden prompt when standard input is a
//! terminal (twice for a new keystore), and otherwise comes from a password file
//! (`--password-file`, `ETH_PASSWORD`) — without one, the command says so and stops.

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
    /// No password source, and no terminal to ask on.
    #[error(
        "no password given: pass --password-file (or set ETH_PASSWORD to a password file), run on a terminal to type \
         it, or pass --unsafe-empty-password for a keystore without a password"
    )]
    NoPassword,
    /// The password is empty and an empty one was not asked for.
    #[error("the password is empty: choose one, or pass --unsafe-empty-password to store the key without a password")]
    EmptyPassword,
    /// The two passwords typed differ.
    #[error("the passwords typed do not match")]
    Mismatch,
    /// The terminal could not be read.
    #[error("cannot read the password from the terminal: {0}")]
    Prompt(std::io::Error),
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
    /// Open the keystore with an empty password when no password is given (rather than refuse).
    pub unsafe_empty_password: bool,
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
            (None, None) if self.unsafe_empty_password => Ok(String::new()),
            (None, None) => Err(KeyError::NoPassword),
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

/// Where a new keystore's password comes from.
#[derive(Clone, Debug, Default)]
pub struct NewPassword {
    /// A file whose first line is the password.
    pub file: Option<PathBuf>,
    /// Accept an empty password (asked for explicitly).
    pub unsafe_empty: bool,
}

impl NewPassword {
    /// The password: from the file, else typed twice at a hidden prompt when standard input is
    /// a terminal, else refused. Empty only when `unsafe_empty`.
    pub fn obtain(&self) -> Result<String, KeyError> {
        use std::io::IsTerminal;
        let password = match &self.file {
            Some(f) => read_password(f)?,
            None if self.unsafe_empty => String::new(),
            None if std::io::stdin().is_terminal() => {
                let first = rpassword::prompt_password("New keystore password: ").map_err(KeyError::Prompt)?;
                let again = rpassword::prompt_password("Again: ").map_err(KeyError::Prompt)?;
                if first != again {
                    return Err(KeyError::Mismatch);
                }
                first
            }
            None => return Err(KeyError::NoPassword),
        };
        if password.is_empty() && !self.unsafe_empty {
            return Err(KeyError::EmptyPassword);
        }
        Ok(password)
    }
}

/// Asks for an existing keystore's password at a hidden prompt, when standard input is a
/// terminal; `None` otherwise.
pub fn prompt_existing() -> Result<Option<String>, KeyError> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    rpassword::prompt_password("Keystore password: ").map(Some).map_err(KeyError::Prompt)
}

/// Creates `dir` if needed and makes it private (0700): a keystore's file name is its account,
/// and nobody else needs to list or read them.
pub fn private_folder(dir: &Path) -> Result<(), KeyError> {
    let folder = |e| KeyError::Folder(dir.into(), e);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(folder)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(folder)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(folder)?;
    Ok(())
}

/// Refuses a keystore name that is taken in `dir` (checked before a password is asked for).
pub fn check_free(dir: &Path, name: &str) -> Result<(), KeyError> {
    if dir.join(name).exists() {
        return Err(KeyError::Exists(name.into(), dir.into()));
    }
    Ok(())
}

/// Writes `signer`'s key to `dir/name` (mode 0600, in a 0700 folder), encrypted with
/// `password`. Refuses to overwrite.
pub fn store(dir: &Path, name: &str, signer: &PrivateKeySigner, password: &str) -> Result<PathBuf, KeyError> {
    private_folder(dir)?;
    let path = dir.join(name);
    check_free(dir, name)?;
    let mut rng = rand::thread_rng();
    // The folder is private before the file exists, so the file is never readable by others
    // even before its own mode is set.
    PrivateKeySigner::encrypt_keystore(dir, &mut rng, signer.to_bytes(), password, Some(name))
        .map_err(|e| KeyError::Keystore { path: path.clone(), reason: e.to_string() })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| KeyError::Keystore { path: path.clone(), reason: e.to_string() })?;
    }
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
        let no_password = KeySource { account: Some("bob".into()), keystore_dir: d.clone(), ..Default::default() };
        assert!(matches!(no_password.load(), Err(KeyError::NoPassword)));
        let _ = std::fs::remove_dir_all(d);
    }

    /// Keystores are 0600 in a 0700 folder, even a folder that was open before.
    #[cfg(unix)]
    #[test]
    fn keystores_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("modes");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = store(&d, "carol", &PrivateKeySigner::random(), "pw").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&d), 0o700);
        assert_eq!(mode(&path), 0o600);
        let _ = std::fs::remove_dir_all(d);
    }

    /// A new password is never empty unless asked for; without a file or terminal, it is refused.
    #[test]
    fn new_passwords_are_not_empty_unless_asked() {
        let d = dir("newpw");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("empty"), "\n").unwrap();
        std::fs::write(d.join("pw"), "s3cret\n").unwrap();
        let from = |f: &str, unsafe_empty| NewPassword { file: Some(d.join(f)), unsafe_empty }.obtain();
        assert!(matches!(from("empty", false), Err(KeyError::EmptyPassword)));
        assert_eq!(from("empty", true).unwrap(), "");
        assert_eq!(from("pw", false).unwrap(), "s3cret");
        assert_eq!(NewPassword { file: None, unsafe_empty: true }.obtain().unwrap(), "");
        let _ = std::fs::remove_dir_all(d);
    }
}
