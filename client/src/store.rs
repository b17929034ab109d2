//! Durable memory of what a participant signed and holds.
//!
//! Two promises make a state channel safe for its participants, and both live here:
//! - **never two signatures on one version**: before a signature leaves the node, the digest it
//!   signs is recorded for `(channel, version)`; a second, different digest for the same pair is
//!   refused — across restarts too, since the record is on disk first;
//! - **never lose a fully signed state**: the latest fully signed state of each channel is
//!   written, and synced, before it is acknowledged.
//!
//! `Store` is the narrow interface the rest of the client uses; `RedbStore` implements it on
//! redb, an embedded database whose commits are durable (fsync) by default.

use std::path::Path;

use alloy_primitives::{Bytes, B256};
use alloy_sol_types::SolValue;
use avocado_codec::{Signature, State};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::party::SignedState;

/// `(channel id, version)` → the digest this node signed for it.
const SIGNED: TableDefinition<([u8; 32], u64), [u8; 32]> = TableDefinition::new("signed");
/// channel id → the latest fully signed state, ABI-encoded `(State, bytes sigs)`.
const LATEST: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("latest");

/// Why the store refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// This node already signed a different state with this version of this channel.
    #[error("version {version} of channel {channel} is already signed with other contents")]
    AlreadySigned {
        /// The channel.
        channel: B256,
        /// The version.
        version: u64,
    },
    /// The database failed; nothing was recorded.
    #[error("store: {0}")]
    Database(String),
    /// A stored record does not decode (the file is damaged or from another version).
    #[error("store: damaged record: {0}")]
    Corrupt(String),
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

/// What a participant's node remembers.
pub trait Store: Send + Sync {
    /// Records that this node signs `digest` as `version` of `channel`. Recording the same
    /// digest again succeeds (a retried delivery); a different digest is refused.
    fn record_signature(&self, channel: B256, version: u64, digest: B256) -> Result<(), StoreError>;
    /// Keeps `signed` as the channel's latest fully signed state unless a newer one is held.
    fn save_latest(&self, signed: &SignedState) -> Result<(), StoreError>;
    /// The latest fully signed state held for `channel`.
    fn latest(&self, channel: B256) -> Result<Option<SignedState>, StoreError>;
}

/// A [`Store`] in a redb file.
pub struct RedbStore {
    db: Database,
}

impl RedbStore {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(db_err)?;
        let txn = db.begin_write().map_err(db_err)?;
        txn.open_table(SIGNED).map_err(db_err)?;
        txn.open_table(LATEST).map_err(db_err)?;
        txn.commit().map_err(db_err)?;
        Ok(Self { db })
    }
}

fn encode(signed: &SignedState) -> Vec<u8> {
    (signed.state.clone(), signed.sigs_65()).abi_encode_params()
}

fn decode(bytes: &[u8]) -> Result<SignedState, StoreError> {
    let (state, sigs) = <(State, Bytes)>::abi_decode_params(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let signatures = sigs
        .chunks(65)
        .map(Signature::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(SignedState { state, signatures })
}

impl Store for RedbStore {
    fn record_signature(&self, channel: B256, version: u64, digest: B256) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut table = txn.open_table(SIGNED).map_err(db_err)?;
            let existing = table.get((channel.0, version)).map_err(db_err)?.map(|v| v.value());
            match existing {
                Some(d) if d == digest.0 => return Ok(()),
                Some(_) => return Err(StoreError::AlreadySigned { channel, version }),
                None => {
                    table.insert((channel.0, version), digest.0).map_err(db_err)?;
                }
            }
        }
        txn.commit().map_err(db_err)
    }

    fn save_latest(&self, signed: &SignedState) -> Result<(), StoreError> {
        let channel = signed.state.channelId.0;
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut table = txn.open_table(LATEST).map_err(db_err)?;
            let held = table.get(channel).map_err(db_err)?.map(|v| decode(v.value())).transpose()?;
            if held.is_some_and(|h| h.state.version >= signed.state.version) {
                return Ok(());
            }
            table.insert(channel, encode(signed).as_slice()).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    fn latest(&self, channel: B256) -> Result<Option<SignedState>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(LATEST).map_err(db_err)?;
        let value = table.get(channel.0).map_err(db_err)?;
        value.map(|v| decode(v.value())).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::keccak256;
    use avocado_codec::signer;
    use k256::ecdsa::SigningKey;

    fn dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("avocado-store-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }

    fn signed(version: u64, data: &[u8]) -> SignedState {
        let key = SigningKey::from_slice(keccak256(b"k").as_slice()).unwrap();
        let state =
            State { channelId: B256::repeat_byte(1), version, data: Bytes::copy_from_slice(data), isFinal: false };
        SignedState { signatures: vec![signer::sign(&key, &keccak256(&state.data))], state }
    }

    #[test]
    fn one_digest_per_version_across_reopening() {
        let d = dir();
        let path = d.join("node.redb");
        let ch = B256::repeat_byte(7);
        {
            let s = RedbStore::open(&path).unwrap();
            s.record_signature(ch, 1, B256::repeat_byte(1)).unwrap();
            s.record_signature(ch, 1, B256::repeat_byte(1)).unwrap(); // a retry is fine
        }
        let s = RedbStore::open(&path).unwrap();
        assert!(matches!(
            s.record_signature(ch, 1, B256::repeat_byte(2)),
            Err(StoreError::AlreadySigned { version: 1, .. })
        ));
        s.record_signature(ch, 2, B256::repeat_byte(2)).unwrap();
        s.record_signature(B256::repeat_byte(8), 1, B256::repeat_byte(2)).unwrap();
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn latest_survives_reopening_and_never_goes_back() {
        let d = dir();
        let path = d.join("node.redb");
        {
            let s = RedbStore::open(&path).unwrap();
            assert_eq!(s.latest(B256::repeat_byte(1)).unwrap(), None);
            s.save_latest(&signed(3, b"three")).unwrap();
            s.save_latest(&signed(2, b"two")).unwrap();
        }
        let s = RedbStore::open(&path).unwrap();
        assert_eq!(s.latest(B256::repeat_byte(1)).unwrap(), Some(signed(3, b"three")));
        s.save_latest(&signed(4, b"four")).unwrap();
        assert_eq!(s.latest(B256::repeat_byte(1)).unwrap().unwrap().state.version, 4);
        let _ = std::fs::remove_dir_all(d);
    }
}
