//! Durable memory of what a participant signed and holds.
//!
//! Two promises make a state channel safe for its participants, and both live here:
//! - **never two signatures on one version**: before a signature leaves the node, the digest it
//!   signs is recorded for `(channel, version)`; a second, different digest for the same pair is
//!   refused — across restarts too, since the record is on disk first;
//! - **never lose a fully signed state**: the latest fully signed state of each channel is
//!   written, and synced, before it is acknowledged.
//!
//! It also keeps what a node needs to resume after a crash: every fully signed state (history,
//! for audits and disputes), each channel's record, messages still to deliver to peers, and the
//! last block the watchtower processed.
//!
//! `Store` is the narrow interface the rest of the client uses; `RedbStore` implements it on
//! redb, an embedded database whose commits are durable (fsync) by default.

use std::path::Path;

use alloy_primitives::{Bytes, B256};
use alloy_sol_types::SolValue;
use avocado_codec::{Signature, State};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::message::{Envelope, StateJson, Terms};
use crate::signed::SignedState;

/// `(channel id, version)` → the digest this node signed for it.
const SIGNED: TableDefinition<([u8; 32], u64), [u8; 32]> = TableDefinition::new("signed");
/// `(channel id, version)` → a fully signed state, ABI-encoded `(State, bytes sigs)`.
const STATES: TableDefinition<([u8; 32], u64), &[u8]> = TableDefinition::new("states");
/// channel id → its [`ChannelRecord`], JSON.
const CHANNELS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("channels");
/// sequence number → an [`Outgoing`] message still to deliver, JSON.
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// channel id → the version of the final state this node signed for it: nothing else is ever
/// signed for that channel afterwards (a fully signed final state is final on chain at once, so
/// anything signed after it could be erased by it).
const FINALS: TableDefinition<[u8; 32], u64> = TableDefinition::new("finals");
/// small counters: the chain watcher's last block.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// hashes beside the counters: the hash of the chain watcher's last block (a reorg check).
const META_HASHES: TableDefinition<&str, [u8; 32]> = TableDefinition::new("meta_hashes");

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
    /// This node signed a final state for the channel: it signs nothing else for it.
    #[error("this node signed the final state v{version} of channel {channel}: it signs nothing else for it")]
    FinalSigned {
        /// The channel.
        channel: B256,
        /// The final version signed.
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

/// Where a channel stands, as this node sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChannelStatus {
    /// Proposed; version 0 is not fully signed yet.
    Proposed,
    /// Version 0 is fully signed: updates may follow.
    Open,
    /// A participant declined the proposal.
    Rejected,
    /// Final on chain (concluded, or its dispute deadline passed).
    Closed,
}

/// What the judge holds for a channel, as last seen by this node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainView {
    /// Judge phase (`avocado_codec::phase`).
    pub phase: u8,
    /// Version stored on chain.
    pub version: u64,
    /// Dispute deadline (seconds), 0 when none runs.
    pub finalizes_at: u64,
}

/// A proposal from another participant that waits for this node's user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incoming {
    /// Proposer's participant index.
    pub from: usize,
    /// The proposed state.
    pub state: StateJson,
}

/// A channel this node takes part in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelRecord {
    /// Channel id.
    pub id: B256,
    /// Its terms.
    pub terms: Terms,
    /// Peer API URL of each participant, in participant order.
    pub peers: Vec<String>,
    /// This node's participant index.
    pub me: usize,
    /// Who proposed the channel.
    pub proposer: usize,
    /// Where it stands.
    pub status: ChannelStatus,
    /// Why it was rejected, when it was.
    pub reason: Option<String>,
    /// A proposal waiting for this node's user.
    pub incoming: Option<Incoming>,
    /// The judge's view.
    pub chain: ChainView,
    /// When this node first recorded the channel (unix seconds; 0 in stores written before it
    /// was kept): proposals from strangers expire counted from it.
    #[serde(default)]
    pub created_at: u64,
}

/// A message still to be delivered to a peer (retried until it is).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outgoing {
    /// The peer's API URL.
    pub url: String,
    /// The sealed message.
    pub envelope: Envelope,
    /// When it was queued (unix seconds; 0 in stores written before it was kept): a message
    /// nobody takes for long enough is dropped rather than retried forever.
    #[serde(default)]
    pub enqueued_at: u64,
}

/// Now, in unix seconds (what [`ChannelRecord::created_at`] and [`Outgoing::enqueued_at`] hold).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// How far the watchtower has read the judge's logs: every event up to `block` was processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The last block whose events were all processed.
    pub block: u64,
    /// That block's hash when it was read; `None` in a store written before hashes were kept.
    /// A different hash at that height later means the chain reorganised under the cursor.
    pub hash: Option<B256>,
}

/// One durable write of a protocol step ([`Store::commit`] makes a list of them one commit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Writes a channel's record.
    Channel(ChannelRecord),
    /// Keeps a fully signed state (checked by the caller).
    State(SignedState),
    /// Records that this node signs `digest` as `version` of `channel`: refused as
    /// [`Store::record_signature`] refuses.
    Signature {
        /// The channel.
        channel: B256,
        /// The version.
        version: u64,
        /// The digest signed.
        digest: B256,
        /// Whether the state is final.
        is_final: bool,
    },
}

/// What a participant's node remembers.
pub trait Store: Send + Sync {
    /// Applies `writes` in one durable commit: all of them, or (on any refusal or failure) none.
    fn commit(&self, writes: &[Write]) -> Result<(), StoreError>;
    /// Records that this node signs `digest` as `version` of `channel` (a final state when
    /// `is_final`). Recording the same digest again succeeds (a retried delivery); a different
    /// digest is refused, and so is any signature for a channel after a final state of another
    /// version was signed for it.
    fn record_signature(&self, channel: B256, version: u64, digest: B256, is_final: bool) -> Result<(), StoreError>;
    /// The version of the final state this node signed for `channel`, if it signed one.
    fn final_signed(&self, channel: B256) -> Result<Option<u64>, StoreError>;
    /// The digest this node signed as `version` of `channel`, if any.
    fn signed_digest(&self, channel: B256, version: u64) -> Result<Option<B256>, StoreError>;
    /// The highest version of `channel` this node signed anything for.
    fn highest_signed(&self, channel: B256) -> Result<Option<u64>, StoreError>;
    /// Keeps a fully signed state (the latest is the one with the highest version).
    fn save_latest(&self, signed: &SignedState) -> Result<(), StoreError>;
    /// Records this node's own signature (`digest`) of `signed` and keeps it, in one durable
    /// commit; refused like [`Store::record_signature`] when another digest holds the version.
    fn save_own(&self, signed: &SignedState, digest: B256) -> Result<(), StoreError>;
    /// Keeps `base` (fully signed, checked by the caller) and records `digest` as `version` of
    /// its channel, in one durable commit: what a node does when it signs a proposal whose base
    /// it did not hold yet.
    fn save_and_sign(&self, base: &SignedState, version: u64, digest: B256, is_final: bool) -> Result<(), StoreError>;
    /// The latest fully signed state held for `channel`.
    fn latest(&self, channel: B256) -> Result<Option<SignedState>, StoreError>;
    /// The fully signed state with this version, if this node holds it.
    fn signed_state(&self, channel: B256, version: u64) -> Result<Option<SignedState>, StoreError>;
    /// Writes a channel's record.
    fn put_channel(&self, record: &ChannelRecord) -> Result<(), StoreError>;
    /// A channel's record.
    fn channel(&self, id: B256) -> Result<Option<ChannelRecord>, StoreError>;
    /// Every channel's record.
    fn channels(&self) -> Result<Vec<ChannelRecord>, StoreError>;
    /// Forgets a channel's record (an expired proposal this node never signed); its signed
    /// digests and states, if any, stay.
    fn delete_channel(&self, id: B256) -> Result<(), StoreError>;
    /// Queues a message for delivery; returns its sequence number.
    fn enqueue(&self, message: &Outgoing) -> Result<u64, StoreError>;
    /// Messages not yet delivered, oldest first.
    fn outbox(&self) -> Result<Vec<(u64, Outgoing)>, StoreError>;
    /// Forgets a delivered message.
    fn delivered(&self, seq: u64) -> Result<(), StoreError>;
    /// How far the chain watcher has processed the judge's logs (none before its first pass).
    fn cursor(&self) -> Result<Option<Cursor>, StoreError>;
    /// Records how far the chain watcher has processed the judge's logs: the block and its
    /// hash, in one durable commit (a cursor with the hash of another block would hide a reorg).
    fn set_cursor(&self, cursor: Cursor) -> Result<(), StoreError>;
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
        txn.open_table(STATES).map_err(db_err)?;
        txn.open_table(CHANNELS).map_err(db_err)?;
        txn.open_table(OUTBOX).map_err(db_err)?;
        txn.open_table(META).map_err(db_err)?;
        txn.open_table(FINALS).map_err(db_err)?;
        txn.open_table(META_HASHES).map_err(db_err)?;
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

/// Records `digest` for `(channel, version)` in `txn`; the same digest again is a no-op. Refused
/// after a final state of another version was signed for the channel; a final state is marked.
fn insert_digest(
    txn: &redb::WriteTransaction,
    channel: B256,
    version: u64,
    digest: B256,
    is_final: bool,
) -> Result<(), StoreError> {
    {
        let mut finals = txn.open_table(FINALS).map_err(db_err)?;
        let done = finals.get(channel.0).map_err(db_err)?.map(|v| v.value());
        match done {
            Some(v) if v != version => return Err(StoreError::FinalSigned { channel, version: v }),
            None if is_final => {
                finals.insert(channel.0, version).map_err(db_err)?;
            }
            _ => {}
        }
    }
    let mut table = txn.open_table(SIGNED).map_err(db_err)?;
    let existing = table.get((channel.0, version)).map_err(db_err)?.map(|v| v.value());
    match existing {
        Some(d) if d == digest.0 => Ok(()),
        Some(_) => Err(StoreError::AlreadySigned { channel, version }),
        None => table.insert((channel.0, version), digest.0).map(|_| ()).map_err(db_err),
    }
}

/// Keeps a fully signed state in `txn` unless that version is held already.
fn insert_state(txn: &redb::WriteTransaction, signed: &SignedState) -> Result<(), StoreError> {
    let key = (signed.state.channelId.0, signed.state.version);
    let mut table = txn.open_table(STATES).map_err(db_err)?;
    if table.get(key).map_err(db_err)?.is_none() {
        table.insert(key, encode(signed).as_slice()).map_err(db_err)?;
    }
    Ok(())
}

fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store for RedbStore {
    fn commit(&self, writes: &[Write]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        for w in writes {
            match w {
                Write::Channel(record) => {
                    let json = serde_json::to_vec(record).map_err(db_err)?;
                    txn.open_table(CHANNELS).map_err(db_err)?.insert(record.id.0, json.as_slice()).map_err(db_err)?;
                }
                Write::State(signed) => insert_state(&txn, signed)?,
                Write::Signature { channel, version, digest, is_final } => {
                    insert_digest(&txn, *channel, *version, *digest, *is_final)?
                }
            }
        }
        txn.commit().map_err(db_err)
    }

    fn record_signature(&self, channel: B256, version: u64, digest: B256, is_final: bool) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        insert_digest(&txn, channel, version, digest, is_final)?;
        txn.commit().map_err(db_err)
    }

    fn final_signed(&self, channel: B256) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(FINALS).map_err(db_err)?;
        Ok(table.get(channel.0).map_err(db_err)?.map(|v| v.value()))
    }

    fn signed_digest(&self, channel: B256, version: u64) -> Result<Option<B256>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(SIGNED).map_err(db_err)?;
        Ok(table.get((channel.0, version)).map_err(db_err)?.map(|v| B256::from(v.value())))
    }

    fn highest_signed(&self, channel: B256) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(SIGNED).map_err(db_err)?;
        let mut range = table.range((channel.0, 0)..=(channel.0, u64::MAX)).map_err(db_err)?;
        Ok(range.next_back().transpose().map_err(db_err)?.map(|(k, _)| k.value().1))
    }

    fn save_latest(&self, signed: &SignedState) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        insert_state(&txn, signed)?;
        txn.commit().map_err(db_err)
    }

    fn save_own(&self, signed: &SignedState, digest: B256) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        insert_digest(&txn, signed.state.channelId, signed.state.version, digest, signed.state.isFinal)?;
        insert_state(&txn, signed)?;
        txn.commit().map_err(db_err)
    }

    fn save_and_sign(&self, base: &SignedState, version: u64, digest: B256, is_final: bool) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        insert_state(&txn, base)?;
        insert_digest(&txn, base.state.channelId, version, digest, is_final)?;
        txn.commit().map_err(db_err)
    }

    fn latest(&self, channel: B256) -> Result<Option<SignedState>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(STATES).map_err(db_err)?;
        let mut range = table.range((channel.0, 0)..=(channel.0, u64::MAX)).map_err(db_err)?;
        let last = range.next_back().transpose().map_err(db_err)?;
        last.map(|(_, v)| decode(v.value())).transpose()
    }

    fn signed_state(&self, channel: B256, version: u64) -> Result<Option<SignedState>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(STATES).map_err(db_err)?;
        let value = table.get((channel.0, version)).map_err(db_err)?;
        value.map(|v| decode(v.value())).transpose()
    }

    fn put_channel(&self, record: &ChannelRecord) -> Result<(), StoreError> {
        let json = serde_json::to_vec(record).map_err(db_err)?;
        let txn = self.db.begin_write().map_err(db_err)?;
        txn.open_table(CHANNELS).map_err(db_err)?.insert(record.id.0, json.as_slice()).map_err(db_err)?;
        txn.commit().map_err(db_err)
    }

    fn channel(&self, id: B256) -> Result<Option<ChannelRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(CHANNELS).map_err(db_err)?;
        let value = table.get(id.0).map_err(db_err)?;
        value.map(|v| from_json(v.value())).transpose()
    }

    fn channels(&self) -> Result<Vec<ChannelRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(CHANNELS).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(db_err)? {
            out.push(from_json(entry.map_err(db_err)?.1.value())?);
        }
        Ok(out)
    }

    fn delete_channel(&self, id: B256) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        txn.open_table(CHANNELS).map_err(db_err)?.remove(id.0).map_err(db_err)?;
        txn.commit().map_err(db_err)
    }

    fn enqueue(&self, message: &Outgoing) -> Result<u64, StoreError> {
        let json = serde_json::to_vec(message).map_err(db_err)?;
        let txn = self.db.begin_write().map_err(db_err)?;
        let seq;
        {
            let mut table = txn.open_table(OUTBOX).map_err(db_err)?;
            seq = table.last().map_err(db_err)?.map_or(0, |(k, _)| k.value() + 1);
            table.insert(seq, json.as_slice()).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        Ok(seq)
    }

    fn outbox(&self) -> Result<Vec<(u64, Outgoing)>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(OUTBOX).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            out.push((k.value(), from_json(v.value())?));
        }
        Ok(out)
    }

    fn delivered(&self, seq: u64) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        txn.open_table(OUTBOX).map_err(db_err)?.remove(seq).map_err(db_err)?;
        txn.commit().map_err(db_err)
    }

    fn cursor(&self) -> Result<Option<Cursor>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let Some(block) = txn.open_table(META).map_err(db_err)?.get("cursor").map_err(db_err)?.map(|v| v.value())
        else {
            return Ok(None);
        };
        let hash = txn.open_table(META_HASHES).map_err(db_err)?.get("cursor").map_err(db_err)?.map(|v| v.value());
        Ok(Some(Cursor { block, hash: hash.map(B256::from) }))
    }

    fn set_cursor(&self, cursor: Cursor) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        txn.open_table(META).map_err(db_err)?.insert("cursor", cursor.block).map_err(db_err)?;
        {
            let mut hashes = txn.open_table(META_HASHES).map_err(db_err)?;
            match cursor.hash {
                Some(h) => hashes.insert("cursor", h.0).map(|_| ()).map_err(db_err)?,
                None => hashes.remove("cursor").map(|_| ()).map_err(db_err)?,
            }
        }
        txn.commit().map_err(db_err)
    }
}

/// A [`Store`] in memory, with the same rules as [`RedbStore`] (one digest per version, nothing
/// after a final state, all-or-nothing commits): what the simulator's nodes keep, and what
/// survives their simulated crashes — everything committed, nothing else.
#[derive(Default)]
pub struct MemStore {
    inner: std::sync::Mutex<MemInner>,
}

#[derive(Clone, Default)]
struct MemInner {
    signed: std::collections::BTreeMap<(B256, u64), B256>,
    states: std::collections::BTreeMap<(B256, u64), SignedState>,
    channels: std::collections::BTreeMap<B256, ChannelRecord>,
    outbox: std::collections::BTreeMap<u64, Outgoing>,
    finals: std::collections::BTreeMap<B256, u64>,
    cursor: Option<Cursor>,
}

impl MemInner {
    fn digest(&mut self, channel: B256, version: u64, digest: B256, is_final: bool) -> Result<(), StoreError> {
        match self.finals.get(&channel) {
            Some(v) if *v != version => return Err(StoreError::FinalSigned { channel, version: *v }),
            None if is_final => {
                self.finals.insert(channel, version);
            }
            _ => {}
        }
        match self.signed.get(&(channel, version)) {
            Some(d) if *d == digest => Ok(()),
            Some(_) => Err(StoreError::AlreadySigned { channel, version }),
            None => {
                self.signed.insert((channel, version), digest);
                Ok(())
            }
        }
    }

    fn state(&mut self, signed: &SignedState) {
        self.states.entry((signed.state.channelId, signed.state.version)).or_insert_with(|| signed.clone());
    }

    fn apply(&mut self, w: &Write) -> Result<(), StoreError> {
        match w {
            Write::Channel(r) => {
                self.channels.insert(r.id, r.clone());
            }
            Write::State(s) => self.state(s),
            Write::Signature { channel, version, digest, is_final } => {
                self.digest(*channel, *version, *digest, *is_final)?
            }
        }
        Ok(())
    }
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut MemInner) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // All or nothing: work on a copy, keep it only when every write succeeded.
        let mut copy = inner.clone();
        let out = f(&mut copy)?;
        *inner = copy;
        Ok(out)
    }

    fn read<T>(&self, f: impl FnOnce(&MemInner) -> T) -> Result<T, StoreError> {
        Ok(f(&self.inner.lock().unwrap_or_else(|p| p.into_inner())))
    }
}

impl Store for MemStore {
    fn commit(&self, writes: &[Write]) -> Result<(), StoreError> {
        self.with(|m| writes.iter().try_for_each(|w| m.apply(w)))
    }
    fn record_signature(&self, channel: B256, version: u64, digest: B256, is_final: bool) -> Result<(), StoreError> {
        self.with(|m| m.digest(channel, version, digest, is_final))
    }
    fn final_signed(&self, channel: B256) -> Result<Option<u64>, StoreError> {
        self.read(|m| m.finals.get(&channel).copied())
    }
    fn signed_digest(&self, channel: B256, version: u64) -> Result<Option<B256>, StoreError> {
        self.read(|m| m.signed.get(&(channel, version)).copied())
    }
    fn highest_signed(&self, channel: B256) -> Result<Option<u64>, StoreError> {
        self.read(|m| m.signed.range((channel, 0)..=(channel, u64::MAX)).next_back().map(|((_, v), _)| *v))
    }
    fn save_latest(&self, signed: &SignedState) -> Result<(), StoreError> {
        self.with(|m| {
            m.state(signed);
            Ok(())
        })
    }
    fn save_own(&self, signed: &SignedState, digest: B256) -> Result<(), StoreError> {
        self.with(|m| {
            m.digest(signed.state.channelId, signed.state.version, digest, signed.state.isFinal)?;
            m.state(signed);
            Ok(())
        })
    }
    fn save_and_sign(&self, base: &SignedState, version: u64, digest: B256, is_final: bool) -> Result<(), StoreError> {
        self.with(|m| {
            m.state(base);
            m.digest(base.state.channelId, version, digest, is_final)
        })
    }
    fn latest(&self, channel: B256) -> Result<Option<SignedState>, StoreError> {
        self.read(|m| m.states.range((channel, 0)..=(channel, u64::MAX)).next_back().map(|(_, s)| s.clone()))
    }
    fn signed_state(&self, channel: B256, version: u64) -> Result<Option<SignedState>, StoreError> {
        self.read(|m| m.states.get(&(channel, version)).cloned())
    }
    fn put_channel(&self, record: &ChannelRecord) -> Result<(), StoreError> {
        self.with(|m| {
            m.channels.insert(record.id, record.clone());
            Ok(())
        })
    }
    fn channel(&self, id: B256) -> Result<Option<ChannelRecord>, StoreError> {
        self.read(|m| m.channels.get(&id).cloned())
    }
    fn channels(&self) -> Result<Vec<ChannelRecord>, StoreError> {
        self.read(|m| m.channels.values().cloned().collect())
    }
    fn delete_channel(&self, id: B256) -> Result<(), StoreError> {
        self.with(|m| {
            m.channels.remove(&id);
            Ok(())
        })
    }
    fn enqueue(&self, message: &Outgoing) -> Result<u64, StoreError> {
        self.with(|m| {
            let seq = m.outbox.keys().next_back().map_or(0, |k| k + 1);
            m.outbox.insert(seq, message.clone());
            Ok(seq)
        })
    }
    fn outbox(&self) -> Result<Vec<(u64, Outgoing)>, StoreError> {
        self.read(|m| m.outbox.iter().map(|(k, v)| (*k, v.clone())).collect())
    }
    fn delivered(&self, seq: u64) -> Result<(), StoreError> {
        self.with(|m| {
            m.outbox.remove(&seq);
            Ok(())
        })
    }
    fn cursor(&self) -> Result<Option<Cursor>, StoreError> {
        self.read(|m| m.cursor)
    }
    fn set_cursor(&self, cursor: Cursor) -> Result<(), StoreError> {
        self.with(|m| {
            m.cursor = Some(cursor);
            Ok(())
        })
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
            s.record_signature(ch, 1, B256::repeat_byte(1), false).unwrap();
            s.record_signature(ch, 1, B256::repeat_byte(1), false).unwrap(); // a retry is fine
        }
        let s = RedbStore::open(&path).unwrap();
        assert!(matches!(
            s.record_signature(ch, 1, B256::repeat_byte(2), false),
            Err(StoreError::AlreadySigned { version: 1, .. })
        ));
        s.record_signature(ch, 2, B256::repeat_byte(2), false).unwrap();
        s.record_signature(B256::repeat_byte(8), 1, B256::repeat_byte(2), false).unwrap();
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn nothing_is_signed_after_a_final_state_across_reopening() {
        let d = dir();
        let path = d.join("node.redb");
        let ch = B256::repeat_byte(1);
        {
            let s = RedbStore::open(&path).unwrap();
            s.record_signature(ch, 1, B256::repeat_byte(1), false).unwrap();
            s.record_signature(ch, 2, B256::repeat_byte(2), true).unwrap();
            assert_eq!(s.final_signed(ch).unwrap(), Some(2));
        }
        let s = RedbStore::open(&path).unwrap();
        assert_eq!(s.final_signed(ch).unwrap(), Some(2));
        s.record_signature(ch, 2, B256::repeat_byte(2), true).unwrap(); // a retry is fine
        for (v, fin) in [(3, false), (3, true), (1, false)] {
            assert!(
                matches!(
                    s.record_signature(ch, v, B256::repeat_byte(9), fin),
                    Err(StoreError::FinalSigned { version: 2, .. })
                ),
                "v{v} after the final v2"
            );
        }
        // Keeping a base and signing on it is refused alike, and keeps nothing.
        let base = signed(3, b"three");
        assert!(matches!(s.save_and_sign(&base, 4, B256::repeat_byte(4), false), Err(StoreError::FinalSigned { .. })));
        assert_eq!(s.latest(ch).unwrap(), None);
        // Other channels are not affected.
        s.record_signature(B256::repeat_byte(8), 3, B256::repeat_byte(3), false).unwrap();
        assert_eq!(s.final_signed(B256::repeat_byte(8)).unwrap(), None);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn cursor_keeps_its_block_hash_across_reopening() {
        let d = dir();
        let path = d.join("node.redb");
        {
            let s = RedbStore::open(&path).unwrap();
            assert_eq!(s.cursor().unwrap(), None);
            s.set_cursor(Cursor { block: 9, hash: Some(B256::repeat_byte(9)) }).unwrap();
        }
        let s = RedbStore::open(&path).unwrap();
        assert_eq!(s.cursor().unwrap(), Some(Cursor { block: 9, hash: Some(B256::repeat_byte(9)) }));
        // A cursor without a hash never keeps the previous block's hash.
        s.set_cursor(Cursor { block: 4, hash: None }).unwrap();
        assert_eq!(s.cursor().unwrap(), Some(Cursor { block: 4, hash: None }));
        let _ = std::fs::remove_dir_all(d);
    }

    /// Records and queued messages written before `createdAt` / `enqueuedAt` existed still read.
    #[test]
    fn records_without_timestamps_read_as_zero() {
        let record = serde_json::json!({
            "id": B256::repeat_byte(1), "terms": {"participants": [], "nonce": 1, "challengeDuration": 60,
            "executive": alloy_primitives::Address::ZERO}, "peers": [], "me": 0, "proposer": 0,
            "status": "proposed", "reason": null, "incoming": null,
            "chain": {"phase": 0, "version": 0, "finalizesAt": 0}
        });
        match serde_json::from_value::<ChannelRecord>(record) {
            Ok(r) => assert_eq!(r.created_at, 0),
            Err(e) => panic!("an old record no longer reads: {e}"),
        }
        let out: Outgoing = serde_json::from_value(
            serde_json::json!({"url": "http://a", "envelope": {"body": "e30=", "signature": "0x"}}),
        )
        .unwrap_or_else(|e| panic!("an old queued message no longer reads: {e}"));
        assert_eq!(out.enqueued_at, 0);
    }

    #[test]
    fn a_deleted_channel_is_gone_and_its_signatures_stay() {
        let d = dir();
        let s = RedbStore::open(&d.join("node.redb")).unwrap();
        let ch = B256::repeat_byte(3);
        s.record_signature(ch, 0, B256::repeat_byte(4), false).unwrap();
        s.delete_channel(ch).unwrap(); // nothing to delete is fine
        assert!(s.channel(ch).unwrap().is_none());
        assert_eq!(s.signed_digest(ch, 0).unwrap(), Some(B256::repeat_byte(4)));
        let _ = std::fs::remove_dir_all(d);
    }

    /// Both stores keep the same rules: one digest per version, nothing after a final state,
    /// and a commit is all or nothing.
    #[test]
    fn both_stores_keep_the_same_rules() {
        let d = dir();
        let redb = RedbStore::open(&d.join("node.redb")).unwrap();
        let mem = MemStore::new();
        let stores: [&dyn Store; 2] = [&redb, &mem];
        for s in stores {
            let ch = B256::repeat_byte(1);
            let sig = |version, byte, is_final| Write::Signature {
                channel: ch,
                version,
                digest: B256::repeat_byte(byte),
                is_final,
            };
            s.commit(&[sig(1, 1, false), Write::State(signed(1, b"one"))]).unwrap();
            s.commit(&[sig(1, 1, false)]).unwrap(); // a retry
                                                    // A different digest for v1 refuses the whole commit: v2's state is not kept.
            let refused = s.commit(&[Write::State(signed(2, b"two")), sig(1, 2, false)]);
            assert!(matches!(refused, Err(StoreError::AlreadySigned { version: 1, .. })));
            assert_eq!(s.latest(ch).unwrap().unwrap().state.version, 1);
            s.commit(&[sig(3, 3, true)]).unwrap();
            assert_eq!(s.final_signed(ch).unwrap(), Some(3));
            assert!(matches!(s.commit(&[sig(4, 4, false)]), Err(StoreError::FinalSigned { version: 3, .. })));
            assert_eq!(s.highest_signed(ch).unwrap(), Some(3));
            assert_eq!(s.signed_digest(ch, 1).unwrap(), Some(B256::repeat_byte(1)));
            let seq = s
                .enqueue(&Outgoing {
                    url: "u".into(),
                    envelope: Envelope { body: "{}".into(), signature: "0x".into() },
                    enqueued_at: 1,
                })
                .unwrap();
            assert_eq!(s.outbox().unwrap().len(), 1);
            s.delivered(seq).unwrap();
            assert!(s.outbox().unwrap().is_empty());
        }
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
