//! The protocol core: the peer exchange's rules as a pure state machine.
//!
//! Given what a node holds about a channel ([`Held`], read by the shell under the node's lock),
//! its own rounds in flight ([`Rounds`], in memory) and one input — a peer message, an app
//! command, a peer's answer, a timer — a step returns the new round state (by changing
//! [`Rounds`]), the effects to run ([`Effect`]) and the answer ([`Step`]). Nothing in here does
//! I/O, reads a clock or draws a random number: time comes in as an argument, and the node's own
//! signature is never *made* here — it is the shell's consequence of a committed
//! [`Effect::Persist`] (see [`Effect`]), so no step can let a signature out before its digest is
//! on disk.
//!
//! The shell (`crate::node`: HTTP, redb, alloy, timers) only loads [`Held`], calls a step and
//! executes its effects in order; the simulator (the `avocado-sim` crate) drives the same steps
//! with an in-memory store, a simulated network and chain, and faults.
//!
//! The rules themselves are in [`rules`] (terms, data size, version floors and skips, "not above
//! the latest", final-state termination, "lower index wins", rejection binding) and [`payment`]
//! (the payment rules); each is written once and tested beside its code.
//!
//! # States
//!
//! A channel is, for this node, in one [`Stage`]; while [`Stage::Open`] its round is in one
//! [`Round`]:
//!
//! ```text
//!   (unknown) ──propose / proposed──▶ Proposed ──v0 fully signed──▶ Open ──judge final──▶ Closed
//!                                        │                           │
//!                                        └──rejected──▶ Rejected     └──final state signed here──▶ Ended
//!
//!   Open:  Idle ──own proposal──▶ Collecting{v} ──all signed / refused / superseded──▶ Idle
//!          Idle ──peer proposal, decided by hand──▶ Deciding{v, from} ──accept / reject──▶ Idle
//!          any ──signed v, round not settled here──▶ Unsettled{v} ──fully signed state held──▶ Idle
//! ```

pub mod machine;
pub mod payment;
pub mod rules;

use std::collections::HashMap;

use alloy_primitives::{Address, Bytes, B256};
use avocado_codec::{Domain, Signature, State};
use k256::ecdsa::SigningKey;
use serde::{Deserialize, Serialize};

pub use machine::*;
pub use rules::{Policy, MAX_VERSION_GAP};

use crate::chain::TxReceipt;
use crate::error::NodeError;
use crate::message::{Message, SignedJson};
use crate::signed::SignedState;
use crate::store::{ChannelRecord, ChannelStatus, Write};

/// Where a channel stands for this node: the one name of every state a channel goes through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Proposed; version 0 is not fully signed here yet.
    Proposed,
    /// Version 0 is fully signed: updates may follow; the round is in [`Round`].
    Open(Round),
    /// This node signed a final state: it signs nothing more for the channel, which anyone
    /// holding that state fully signed can make final on chain at once.
    Ended {
        /// The final version signed here.
        version: u64,
    },
    /// A participant declined the proposal.
    Rejected,
    /// Final on chain.
    Closed,
}

/// Where an open channel's current round stands for this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Round {
    /// Nothing in flight: the latest fully signed state is the channel's.
    Idle,
    /// This node's proposal for `version` collects signatures.
    Collecting {
        /// The proposed version.
        version: u64,
        /// How many other participants have not signed yet.
        missing: usize,
    },
    /// Another participant's proposal waits for this node's user.
    Deciding {
        /// The proposed version.
        version: u64,
        /// The proposer's index.
        from: usize,
    },
    /// This node signed `version` and does not hold it fully signed yet: the round settles
    /// when its state arrives (with the next proposal's base, on its own, or by asking), or is
    /// skipped — `version` is never signed again with other contents.
    Unsettled {
        /// The highest version signed here.
        version: u64,
    },
}

/// What the node holds about one channel, read in one go by the shell before a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The channel's record.
    pub record: ChannelRecord,
    /// The latest fully signed state.
    pub latest: Option<SignedState>,
    /// The highest version signed here.
    pub highest_signed: Option<u64>,
    /// The final state signed here.
    pub final_signed: Option<u64>,
    /// The digest signed here for the version the input is about.
    pub digest_at: Option<B256>,
    /// The fully signed state held at the version the input is about.
    pub state_at: Option<SignedState>,
}

impl Held {
    /// Reads what the node holds about channel `id` from `store` in one go, with `version` the
    /// version the input is about (its signed digest and fully signed state are read too): the
    /// shell's one read before a step.
    pub fn load(store: &dyn crate::store::Store, id: B256, version: Option<u64>) -> Result<Self, NodeError> {
        let record = store.channel(id)?.ok_or_else(|| NodeError::NotFound(format!("no channel {id}")))?;
        let (digest_at, state_at) = match version {
            Some(v) => (store.signed_digest(id, v)?, store.signed_state(id, v)?),
            None => (None, None),
        };
        Ok(Self {
            record,
            latest: store.latest(id)?,
            highest_signed: store.highest_signed(id)?,
            final_signed: store.final_signed(id)?,
            digest_at,
            state_at,
        })
    }

    /// The latest fully signed version (0 when none is held).
    pub fn latest_version(&self) -> u64 {
        self.latest.as_ref().map_or(0, |s| s.state.version)
    }

    /// What the version rules read, with `latest` the latest fully signed version (held, or a
    /// base about to be kept).
    pub fn versions(&self, latest: u64) -> rules::Versions {
        rules::Versions { latest, high: self.highest_signed.unwrap_or(0), final_signed: self.final_signed }
    }

    /// The channel's [`Stage`], with this node's rounds.
    pub fn stage(&self, rounds: &Rounds) -> Stage {
        match self.record.status {
            ChannelStatus::Proposed => return Stage::Proposed,
            ChannelStatus::Rejected => return Stage::Rejected,
            ChannelStatus::Closed => return Stage::Closed,
            ChannelStatus::Open => {}
        }
        if let Some(version) = self.final_signed {
            return Stage::Ended { version };
        }
        if let Some(p) = rounds.collecting(self.record.id) {
            let missing = p.signatures.iter().enumerate().filter(|(i, s)| *i != self.record.me && s.is_none()).count();
            return Stage::Open(Round::Collecting { version: p.state.version, missing });
        }
        if let Some(inc) = &self.record.incoming {
            return Stage::Open(Round::Deciding { version: inc.state.version, from: inc.from });
        }
        match self.highest_signed {
            Some(v) if v > self.latest_version() => Stage::Open(Round::Unsettled { version: v }),
            _ => Stage::Open(Round::Idle),
        }
    }
}

/// A proposal of this node collecting signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnRound {
    /// The proposed state.
    pub state: State,
    /// Signatures received, in participant order (this node's own slot stays empty: it signs
    /// last).
    pub signatures: Vec<Option<Signature>>,
}

/// This node's rounds in flight (memory only: a restarted node has none, and the versions they
/// used are skipped because the store holds what it signed).
#[derive(Clone, Debug, Default)]
pub struct Rounds {
    open: HashMap<B256, OwnRound>,
    /// Per channel, the highest version of a proposal of this node that failed: another
    /// participant may have signed it, so the next proposal goes above it.
    floors: HashMap<B256, u64>,
}

impl Rounds {
    /// This node's proposal collecting signatures on `channel`, if any.
    pub fn collecting(&self, channel: B256) -> Option<&OwnRound> {
        self.open.get(&channel)
    }

    /// The highest version of a failed proposal of this node on `channel` (0 when none).
    pub fn floor(&self, channel: B256) -> u64 {
        self.floors.get(&channel).copied().unwrap_or(0)
    }

    fn raise_floor(&mut self, channel: B256, version: u64) {
        let floor = self.floors.entry(channel).or_default();
        *floor = (*floor).max(version);
    }
}

/// What the node's environment provides to a step, none of it I/O.
pub struct Ctx<'a> {
    /// The judge's domain.
    pub domain: &'a Domain,
    /// This node's key: a step uses it only to check its own signature inside a fully signed
    /// state (re-signing, deterministic under RFC 6979, is cheaper than recovering); it never
    /// hands a signature out.
    pub key: &'a SigningKey,
    /// This node's address.
    pub address: Address,
    /// This node's peer API URL.
    pub peer_url: &'a str,
    /// What it agrees to.
    pub policy: &'a Policy,
}

/// Something the shell does for a step, in the order given.
///
/// The order is the safety rule, enforced here and nowhere else: the only way to obtain this
/// node's signature is a [`Effect::Persist`] that records its digest ([`Write::Signature`]) or
/// an [`Effect::Complete`], and the shell signs only after that commit succeeded; every effect
/// that lets a signature or a fully signed state out ([`Effect::Enqueue`],
/// [`Effect::EnqueueAccept`], [`Effect::Finish`], [`Effect::Announce`], the answer) comes after
/// it in the list. A failed effect stops the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// One durable commit of these writes. After it, the digest of each [`Write::Signature`]
    /// in it is signed: that signature is the step's.
    Persist(Vec<Write>),
    /// Every other participant signed this node's proposal: sign it last, and in one durable
    /// commit record the digest and keep the fully signed state, before anything leaves.
    Complete(OwnRound),
    /// Queue (durably) a message for a peer.
    Enqueue {
        /// The peer's URL.
        url: String,
        /// The message.
        message: Message,
    },
    /// Queue (durably) the step's signature of `version` of `channel` for a peer, as
    /// `acceptChannel` (version 0) or `acceptUpdate`.
    EnqueueAccept {
        /// The peer's URL.
        url: String,
        /// The channel.
        channel: B256,
        /// The version signed.
        version: u64,
    },
    /// Tell the app.
    Emit(Event),
    /// This node's round for `version` of `channel` ended: with the state the step completed
    /// (`Ok`), or failed.
    Finish {
        /// The channel.
        channel: B256,
        /// The round's version.
        version: u64,
        /// `Ok` when the step's [`Effect::Complete`] made the state fully signed.
        result: Result<(), NodeError>,
    },
    /// Send the state the step completed to the other participants (after a short delay,
    /// unless a newer proposal carries it first as its base).
    Announce(ChannelRecord),
}

/// An answer to a peer message, before the shell fills in the step's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The step's signature.
    Signed,
    /// Waits for the user's decision.
    Pending,
    /// Taken into account.
    Ok,
    /// The latest fully signed state held.
    Latest(SignedState),
}

/// What a step decided: effects to run in order, and the answer. When the answer is an error,
/// the effects change no durable state (they may end this node's own round that the input
/// superseded).
#[derive(Clone, Debug)]
pub struct Step<A> {
    /// What to do, in order.
    pub effects: Vec<Effect>,
    /// The answer to the input.
    pub answer: Result<A, NodeError>,
}

impl<A> Step<A> {
    fn ok(effects: Vec<Effect>, answer: A) -> Self {
        Self { effects, answer: Ok(answer) }
    }

    fn refuse(e: NodeError) -> Self {
        Self { effects: Vec::new(), answer: Err(e) }
    }
}

impl<A> From<NodeError> for Step<A> {
    fn from(e: NodeError) -> Self {
        Self::refuse(e)
    }
}

/// Something that happened, for the app API's event stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Event {
    /// Another participant proposed a channel; it waits for this node's user.
    #[serde(rename_all = "camelCase")]
    ChannelProposed {
        /// Channel id.
        channel_id: B256,
        /// Proposer.
        by: Address,
    },
    /// Version 0 is fully signed.
    #[serde(rename_all = "camelCase")]
    ChannelOpened {
        /// Channel id.
        channel_id: B256,
    },
    /// A participant declined the channel.
    #[serde(rename_all = "camelCase")]
    ChannelRejected {
        /// Channel id.
        channel_id: B256,
        /// Who declined.
        by: Address,
        /// Why.
        reason: String,
    },
    /// Another participant proposed an update; it waits for this node's user.
    #[serde(rename_all = "camelCase")]
    UpdateProposed {
        /// Channel id.
        channel_id: B256,
        /// Proposed version.
        version: u64,
        /// Proposer.
        by: Address,
        /// Proposed data.
        data: Bytes,
        /// Whether it closes the channel.
        is_final: bool,
    },
    /// A state is fully signed and stored.
    #[serde(rename_all = "camelCase")]
    UpdateSigned {
        /// Channel id.
        channel_id: B256,
        /// Version.
        version: u64,
        /// Data.
        data: Bytes,
        /// Whether it closes the channel.
        is_final: bool,
    },
    /// This node signed a final state: it signs nothing more for this channel, and whoever holds
    /// the state fully signed can make it final on chain at once.
    #[serde(rename_all = "camelCase")]
    FinalSigned {
        /// Channel id.
        channel_id: B256,
        /// The final version.
        version: u64,
        /// Its data.
        data: Bytes,
    },
    /// This node's proposal failed.
    #[serde(rename_all = "camelCase")]
    UpdateRejected {
        /// Channel id.
        channel_id: B256,
        /// Version.
        version: u64,
        /// Why.
        reason: String,
    },
    /// The judge reported something about one of this node's channels.
    #[serde(rename_all = "camelCase")]
    Chain {
        /// Channel id.
        channel_id: B256,
        /// `opened`, `checkpointed`, `challengeStarted` or `concluded`.
        what: String,
        /// Version stored on chain.
        version: u64,
        /// Deadline of a dispute, 0 otherwise.
        finalizes_at: u64,
        /// Block.
        block: u64,
    },
    /// The watchtower answered an older state on chain with this node's latest.
    #[serde(rename_all = "camelCase")]
    Answered {
        /// Channel id.
        channel_id: B256,
        /// Version found on chain.
        stale_version: u64,
        /// Version posted.
        version: u64,
        /// The checkpoint transaction.
        receipt: TxReceipt,
    },
    /// The channel is final on chain.
    #[serde(rename_all = "camelCase")]
    ChannelFinal {
        /// Channel id.
        channel_id: B256,
        /// Final version.
        version: u64,
    },
    /// The watchtower could not act (it keeps trying).
    #[serde(rename_all = "camelCase")]
    WatchError {
        /// What failed.
        message: String,
    },
}

/// A node's answer to a peer message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum Reply {
    /// Signed: here is the signature.
    Signed {
        /// 65-byte signature.
        signature: Bytes,
    },
    /// Waits for the user's decision; the answer comes later as its own message.
    Pending,
    /// Taken into account.
    Ok,
    /// The latest fully signed state held.
    Latest {
        /// It.
        signed: SignedJson,
    },
}

/// Whether `effects` keep the order that makes signing safe: whatever lets this node's
/// signature or a state it completed out ([`Effect::EnqueueAccept`], [`Effect::Announce`],
/// [`Effect::Finish`] with `Ok`) comes after the commit that recorded it, and a step that
/// answers with its signature records one. The shell's executor follows the order; the
/// simulator checks every step against this.
pub fn check_order(effects: &[Effect], answers_signed: bool) -> Result<(), String> {
    let mut recorded = false;
    let mut completed = false;
    for (i, e) in effects.iter().enumerate() {
        match e {
            Effect::Persist(writes) => {
                recorded |= writes.iter().any(|w| matches!(w, Write::Signature { .. }));
            }
            Effect::Complete(_) => completed = true,
            Effect::EnqueueAccept { .. } if !recorded => {
                return Err(format!("effect {i} sends a signature no earlier commit recorded"))
            }
            Effect::Announce(_) | Effect::Finish { result: Ok(()), .. } if !completed => {
                return Err(format!("effect {i} lets out a state no earlier effect completed"))
            }
            _ => {}
        }
    }
    if answers_signed && !recorded {
        return Err("the answer carries a signature no commit recorded".into());
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use alloy_primitives::keccak256;
    use avocado_codec::signer;

    use super::*;
    use crate::message::Terms;
    use crate::store::Incoming;

    pub(crate) fn key(i: usize) -> SigningKey {
        SigningKey::from_slice(keccak256([i as u8 + 1]).as_slice()).unwrap()
    }

    pub(crate) fn domain() -> Domain {
        Domain::new(412_346, Address::repeat_byte(0x11))
    }

    fn terms(n: usize) -> Terms {
        Terms {
            participants: (0..n).map(|i| signer::address_of(key(i).verifying_key())).collect(),
            nonce: 7,
            challenge_duration: 86_400,
            executive: Address::ZERO,
        }
    }

    /// An open channel of `n` participants as participant `me` records it.
    pub(crate) fn record(n: usize, me: usize) -> ChannelRecord {
        let terms = terms(n);
        let id = domain().channel_id(&(&terms).into());
        ChannelRecord {
            id,
            peers: (0..n).map(|i| format!("http://p{i}")).collect(),
            terms,
            me,
            proposer: 0,
            status: ChannelStatus::Open,
            reason: None,
            incoming: None,
            chain: Default::default(),
            created_at: 1,
        }
    }

    fn state(r: &ChannelRecord, version: u64, data: &[u8], is_final: bool) -> State {
        State { channelId: r.id, version, data: Bytes::copy_from_slice(data), isFinal: is_final }
    }

    fn full(r: &ChannelRecord, s: State) -> SignedState {
        let d = domain().state_digest(&s);
        let signatures = (0..r.terms.participants.len()).map(|i| signer::sign(&key(i), &d)).collect();
        SignedState { state: s, signatures }
    }

    fn held(r: &ChannelRecord, latest: Option<SignedState>, highest: Option<u64>) -> Held {
        Held { record: r.clone(), latest, highest_signed: highest, final_signed: None, digest_at: None, state_at: None }
    }

    struct Env {
        domain: Domain,
        key: SigningKey,
        policy: Policy,
    }

    impl Env {
        fn new(me: usize, auto_accept: bool) -> Self {
            Self { domain: domain(), key: key(me), policy: Policy { min_challenge_duration: 60, auto_accept } }
        }
        fn ctx(&self) -> Ctx<'_> {
            Ctx {
                domain: &self.domain,
                key: &self.key,
                address: signer::address_of(self.key.verifying_key()),
                peer_url: "http://me",
                policy: &self.policy,
            }
        }
    }

    fn signature_write(effects: &[Effect]) -> Option<(u64, B256)> {
        effects.iter().find_map(|e| match e {
            Effect::Persist(ws) => ws.iter().find_map(|w| match w {
                Write::Signature { version, digest, .. } => Some((*version, *digest)),
                _ => None,
            }),
            _ => None,
        })
    }

    fn ordered<A>(step: &Step<A>, signed: bool) {
        check_order(&step.effects, signed).unwrap();
    }

    #[test]
    fn a_channel_proposal_waits_or_is_signed_once_and_answers_retries_alike() {
        let env = Env::new(1, false);
        let r = record(2, 1);
        let from = r.terms.participants[0];
        let p = check_channel_proposal(&env.ctx(), from, r.terms.clone(), r.peers.clone(), Bytes::new()).unwrap();
        assert_eq!((p.id, p.me, p.proposer), (r.id, 1, 0));
        let step = on_propose_channel(&env.ctx(), 5, p.clone(), None);
        assert_eq!(step.answer, Ok(Answer::Pending));
        let Effect::Persist(w) = &step.effects[0] else { panic!("{:?}", step.effects) };
        let Write::Channel(kept) = &w[0] else { panic!() };
        assert_eq!(
            (kept.status, kept.created_at, kept.incoming.as_ref().unwrap().from),
            (ChannelStatus::Proposed, 5, 0)
        );
        assert!(matches!(step.effects[1], Effect::Emit(Event::ChannelProposed { .. })));
        // The same proposal again while it waits: pending again, nothing written.
        let mut h = held(kept, None, None);
        let again = on_propose_channel(&env.ctx(), 6, p.clone(), Some(&h));
        assert_eq!((again.answer, again.effects.len()), (Ok(Answer::Pending), 0));
        // Other contents under the same id: refused.
        let mut other = p.clone();
        other.state.data = Bytes::from_static(b"x");
        assert_eq!(on_propose_channel(&env.ctx(), 6, other.clone(), Some(&h)).answer.unwrap_err().status(), 409);
        // Signed already: the same signature is recorded again (a no-op) and answered.
        h.digest_at = Some(domain().state_digest(&p.state));
        let signed = on_propose_channel(&env.ctx(), 6, p.clone(), Some(&h));
        assert_eq!(signed.answer, Ok(Answer::Signed));
        ordered(&signed, true);
        // Auto-accept: the record and the signature in one commit.
        let env = Env::new(1, true);
        let step = on_propose_channel(&env.ctx(), 5, p, None);
        assert_eq!(step.answer, Ok(Answer::Signed));
        let Effect::Persist(w) = &step.effects[0] else { panic!() };
        assert!(matches!(&w[..], [Write::Channel(r), Write::Signature { version: 0, .. }] if r.incoming.is_none()));
        ordered(&step, true);
        // A proposer who is not another participant, or terms under the policy: refused.
        let stranger = Address::repeat_byte(0x99);
        let e = check_channel_proposal(&env.ctx(), stranger, r.terms.clone(), r.peers.clone(), Bytes::new());
        assert_eq!(e.unwrap_err().status(), 403);
        let short = Terms { challenge_duration: 59, ..r.terms.clone() };
        let e = check_channel_proposal(&env.ctx(), from, short, r.peers.clone(), Bytes::new());
        assert_eq!(e.unwrap_err().status(), 422);
    }

    #[test]
    fn an_update_is_signed_on_its_base_in_one_commit() {
        let env = Env::new(1, true);
        let r = record(2, 1);
        let v0 = full(&r, state(&r, 0, b"", false));
        let v1 = full(&r, state(&r, 1, b"one", false));
        let mut rounds = Rounds::default();
        // Held: v0. The proposal for v2 builds on v1, which this node missed.
        let h = held(&r, Some(v0.clone()), Some(0));
        let s2 = state(&r, 2, b"two", false);
        let from = r.terms.participants[0];
        let step = on_propose_update(&env.ctx(), &mut rounds, &h, 0, from, s2.clone(), v1.clone());
        assert_eq!(step.answer, Ok(Answer::Signed));
        ordered(&step, true);
        let Effect::Persist(w) = &step.effects[0] else { panic!() };
        assert_eq!(w[0], Write::State(v1.clone()));
        assert_eq!(signature_write(&step.effects), Some((2, domain().state_digest(&s2))));
        assert!(step.effects.iter().any(|e| matches!(e, Effect::Emit(Event::UpdateSigned { version: 1, .. }))));
        // A retry of the same proposal once signed: the same signature again.
        let mut h2 = held(&r, Some(v1.clone()), Some(2));
        h2.digest_at = Some(domain().state_digest(&s2));
        let retry = on_propose_update(&env.ctx(), &mut rounds, &h2, 0, from, s2.clone(), v1.clone());
        assert_eq!(retry.answer, Ok(Answer::Signed));
        // Other contents for the signed v2 pass the rules, but the commit recording their digest
        // is what the store refuses (one digest per version): the plan asks to record it first.
        h2.digest_at = None;
        let other = state(&r, 2, b"other", false);
        let step = on_propose_update(&env.ctx(), &mut rounds, &h2, 0, from, other.clone(), v1.clone());
        assert_eq!(signature_write(&step.effects), Some((2, domain().state_digest(&other))));
        // Below a version signed here that never settled: skipped by the rules.
        let h3 = held(&r, Some(v1.clone()), Some(3));
        let e = on_propose_update(&env.ctx(), &mut rounds, &h3, 0, from, other, v1.clone()).answer.unwrap_err();
        assert_eq!(e.status(), 409, "{e}");
        // A base that is not fully signed is refused.
        let mut forged = v1.clone();
        forged.signatures[0] = forged.signatures[1];
        let e = on_propose_update(&env.ctx(), &mut rounds, &h, 0, from, s2.clone(), forged).answer.unwrap_err();
        assert_eq!(e.to_string(), "not fully signed: signature 0 is not participant 0's");
        // A base other than the one held at its version.
        let h1 = held(&r, Some(v1.clone()), Some(1));
        let fake_v1 = full(&r, state(&r, 1, b"fake", false));
        let e = on_propose_update(&env.ctx(), &mut rounds, &h1, 0, from, s2.clone(), fake_v1).answer.unwrap_err();
        assert!(e.to_string().contains("other than the one fully signed here"), "{e}");
        // Built on a base older than the latest held.
        let s3 = state(&r, 3, b"three", false);
        let h2 = held(&r, Some(full(&r, s2.clone())), Some(2));
        let e = on_propose_update(&env.ctx(), &mut rounds, &h2, 0, from, s3, v1.clone()).answer.unwrap_err();
        assert!(e.to_string().contains("but version 2 is fully signed"), "{e}");
        // At or below the latest held.
        let e = on_propose_update(&env.ctx(), &mut rounds, &h2, 0, from, s2, v1).answer.unwrap_err();
        assert_eq!(e.to_string(), "version 2 is not above the latest fully signed version 2");
    }

    #[test]
    fn a_proposal_waiting_for_the_user_is_recorded_not_signed() {
        let env = Env::new(1, false);
        let r = record(2, 1);
        let v0 = full(&r, state(&r, 0, b"", false));
        let mut rounds = Rounds::default();
        let s1 = state(&r, 1, b"one", true);
        let from = r.terms.participants[0];
        let h = held(&r, Some(v0.clone()), Some(0));
        let step = on_propose_update(&env.ctx(), &mut rounds, &h, 0, from, s1.clone(), v0.clone());
        assert_eq!(step.answer, Ok(Answer::Pending));
        assert_eq!(signature_write(&step.effects), None);
        let Effect::Persist(w) = &step.effects[0] else { panic!() };
        let Write::Channel(rec) = &w[0] else { panic!() };
        assert_eq!(rec.incoming, Some(Incoming { from: 0, state: (&s1).into() }));
        let h = Held { record: rec.clone(), ..h };
        assert_eq!(h.stage(&rounds), Stage::Open(Round::Deciding { version: 1, from: 0 }));
        // Accepted: signed (a final state: the app is told), queued, the record cleared — in that order.
        let step = decide_update(&env.ctx(), &h, 1, true, String::new());
        ordered(&step, false);
        assert!(matches!(step.effects[0], Effect::Persist(_)));
        assert!(matches!(step.effects[1], Effect::Emit(Event::FinalSigned { version: 1, .. })));
        assert!(matches!(step.effects[2], Effect::EnqueueAccept { version: 1, .. }));
        assert!(
            matches!(&step.effects[3], Effect::Persist(w) if matches!(&w[0], Write::Channel(c) if c.incoming.is_none()))
        );
        // Rejected: the rejection names the digest.
        let step = decide_update(&env.ctx(), &h, 1, false, "no".into());
        let Effect::Enqueue { message: Message::RejectUpdate { digest, .. }, .. } = &step.effects[0] else { panic!() };
        assert_eq!(*digest, domain().state_digest(&s1));
        assert_eq!(decide_update(&env.ctx(), &h, 2, true, String::new()).answer.unwrap_err().status(), 409);
        // Once this node signed a final state, a decision to sign anything else is refused.
        let ended = Held { final_signed: Some(1), ..h };
        assert_eq!(ended.stage(&rounds), Stage::Ended { version: 1 });
        assert!(decide_update(&env.ctx(), &ended, 1, true, String::new()).answer.is_err());
    }

    /// Found by the simulator: a proposal for a version this node signed with other contents
    /// was recorded as waiting for the user, whose decision could then never be signed — the
    /// proposer waited forever. It is refused at once.
    #[test]
    fn other_contents_for_a_version_signed_here_are_refused_at_once() {
        let env = Env::new(1, false);
        let r = record(2, 1);
        let v0 = full(&r, state(&r, 0, b"", false));
        let mut rounds = Rounds::default();
        let mut h = held(&r, Some(v0.clone()), Some(1));
        h.digest_at = Some(domain().state_digest(&state(&r, 1, b"first", false)));
        let from = r.terms.participants[0];
        let step = on_propose_update(&env.ctx(), &mut rounds, &h, 0, from, state(&r, 1, b"second", false), v0);
        assert_eq!(step.answer.unwrap_err().to_string(), "this node already signed another state as version 1");
        assert!(step.effects.is_empty());
    }

    /// Found by the simulator: another participant's proposal replacing one that waits for the
    /// user left the first proposer waiting forever. It is now told, with a rejection naming its
    /// state, queued before the replacement is recorded.
    #[test]
    fn a_replaced_proposal_is_rejected_to_its_proposer() {
        let env = Env::new(2, false);
        let mut r = record(3, 2);
        let v0 = full(&r, state(&r, 0, b"", false));
        let first = state(&r, 1, b"from 1", false);
        r.incoming = Some(Incoming { from: 1, state: (&first).into() });
        let h = held(&r, Some(v0.clone()), Some(0));
        let mut rounds = Rounds::default();
        let p0 = r.terms.participants[0];
        let step = on_propose_update(&env.ctx(), &mut rounds, &h, 0, p0, state(&r, 2, b"from 0", false), v0);
        assert_eq!(step.answer, Ok(Answer::Pending));
        let Effect::Enqueue { url, message: Message::RejectUpdate { version, digest, .. } } = &step.effects[0] else {
            panic!("{:?}", step.effects)
        };
        assert_eq!((url.as_str(), *version, *digest), ("http://p1", 1, domain().state_digest(&first)));
        assert!(
            matches!(&step.effects[1], Effect::Persist(w) if matches!(&w[0], Write::Channel(c) if c.incoming.as_ref().unwrap().from == 0))
        );
    }

    /// Found by the simulator: two participants proposing byte-identical states for one
    /// version to a node deciding by hand. The second was answered "pending" as if it were a
    /// retry of the first, but the decision went to the first proposer only: the second waited
    /// forever. It is refused now (its proposer goes above).
    #[test]
    fn the_same_state_from_another_proposer_is_not_a_retry() {
        let env = Env::new(0, false);
        let r = record(3, 0);
        let v1 = full(&r, state(&r, 1, b"same", false));
        let s2 = state(&r, 2, b"same", false);
        let mut rounds = Rounds::default();
        let h = held(&r, Some(v1.clone()), Some(1));
        let step = on_propose_update(&env.ctx(), &mut rounds, &h, 1, r.terms.participants[1], s2.clone(), v1.clone());
        let Effect::Persist(w) = &step.effects[0] else { panic!() };
        let Write::Channel(rec) = &w[0] else { panic!() };
        let h = Held { record: rec.clone(), ..h };
        // The same proposer again: a retry.
        let again = on_propose_update(&env.ctx(), &mut rounds, &h, 1, r.terms.participants[1], s2.clone(), v1.clone());
        assert_eq!((again.answer, again.effects.len()), (Ok(Answer::Pending), 0));
        // Another proposer, the same state: refused.
        let other = on_propose_update(&env.ctx(), &mut rounds, &h, 2, r.terms.participants[2], s2, v1);
        let e = other.answer.unwrap_err();
        assert!(e.to_string().contains("participant 1's proposal for version 2 awaits a decision here"), "{e}");
    }

    #[test]
    fn concurrent_proposals_lower_index_wins() {
        let r1 = record(3, 1);
        let v0 = full(&r1, state(&r1, 0, b"", false));
        let h = held(&r1, Some(v0.clone()), Some(0));
        // Participant 1 proposes v1; participant 0 proposes v1 at the same time: 0 wins.
        let env = Env::new(1, true);
        let mut rounds = Rounds::default();
        let started = start_update(&env.ctx(), &mut rounds, &h, Bytes::from_static(b"mine"), false);
        let (mine, _) = started.answer.unwrap();
        assert_eq!(mine.version, 1);
        assert!(matches!(h.stage(&rounds), Stage::Open(Round::Collecting { version: 1, missing: 2 })));
        let theirs = state(&r1, 1, b"theirs", false);
        let p0 = r1.terms.participants[0];
        let step = on_propose_update(&env.ctx(), &mut rounds, &h, 0, p0, theirs.clone(), v0.clone());
        assert_eq!(step.answer, Ok(Answer::Signed));
        assert!(step.effects.iter().any(|e| matches!(e, Effect::Finish { version: 1, result: Err(_), .. })));
        assert!(rounds.collecting(r1.id).is_none());
        assert_eq!(rounds.floor(r1.id), 1, "the lost version is skipped from now on");
        // Participant 2 proposing against 1's proposal loses.
        let mut rounds = Rounds::default();
        let _ = start_update(&env.ctx(), &mut rounds, &h, Bytes::from_static(b"mine"), false);
        let p2 = r1.terms.participants[2];
        let e = on_propose_update(&env.ctx(), &mut rounds, &h, 2, p2, theirs, v0.clone()).answer.unwrap_err();
        assert!(e.to_string().contains("lower index wins"), "{e}");
        assert!(rounds.collecting(r1.id).is_some());
        // A second own proposal while one collects is refused; so is one with a proposal waiting.
        let e = start_update(&env.ctx(), &mut rounds, &h, Bytes::new(), false).answer.unwrap_err();
        assert!(e.to_string().contains("still collecting signatures"), "{e}");
    }

    #[test]
    fn own_proposals_skip_versions_signed_or_tried() {
        let env = Env::new(0, false);
        let r = record(2, 0);
        let v5 = full(&r, state(&r, 5, b"", false));
        let mut rounds = Rounds::default();
        let h = held(&r, Some(v5.clone()), Some(7));
        assert_eq!(h.stage(&rounds), Stage::Open(Round::Unsettled { version: 7 }));
        let (s, base) = start_update(&env.ctx(), &mut rounds, &h, Bytes::new(), false).answer.unwrap();
        assert_eq!((s.version, base.state.version), (8, 5));
        // That round fails: its version is a floor for the next.
        let effects = abandon(&mut rounds, r.id, 8, NodeError::Unreachable("down".into()));
        assert!(matches!(effects[0], Effect::Finish { version: 8, result: Err(NodeError::Unreachable(_)), .. }));
        let (s, _) = start_update(&env.ctx(), &mut rounds, &h, Bytes::new(), false).answer.unwrap();
        assert_eq!(s.version, 9);
        // A final state cannot follow unsettled versions.
        let mut rounds = Rounds::default();
        let e = start_update(&env.ctx(), &mut rounds, &h, Bytes::new(), true).answer.unwrap_err();
        assert!(e.to_string().starts_with("version 7 was signed here and never settled"), "{e}");
        assert!(rounds.collecting(r.id).is_none(), "a refused proposal starts no round");
    }

    #[test]
    fn the_last_signature_completes_the_round_before_anything_leaves() {
        let env = Env::new(0, false);
        let r = record(3, 0);
        let v0 = full(&r, state(&r, 0, b"", false));
        let mut rounds = Rounds::default();
        let h = held(&r, Some(v0), Some(0));
        let (s1, _) = start_update(&env.ctx(), &mut rounds, &h, Bytes::from_static(b"x"), false).answer.unwrap();
        let d = domain().state_digest(&s1);
        // A signature over something else is refused, and changes nothing.
        let bad = signer::sign(&key(1), &B256::repeat_byte(3));
        assert_eq!(on_signature(&env.ctx(), &mut rounds, &h, 1, 1, bad).answer.unwrap_err().status(), 422);
        let step = on_signature(&env.ctx(), &mut rounds, &h, 1, 1, signer::sign(&key(1), &d));
        assert_eq!((step.answer, step.effects.len()), (Ok(Answer::Ok), 0));
        // The last one: complete (sign last, keep), tell, finish, announce.
        let step = on_signature(&env.ctx(), &mut rounds, &h, 2, 1, signer::sign(&key(2), &d));
        ordered(&step, false);
        assert!(matches!(&step.effects[0], Effect::Complete(p) if p.state == s1));
        assert!(matches!(step.effects.last(), Some(Effect::Announce(_))));
        assert!(rounds.collecting(r.id).is_none());
        // A repeated answer to the settled round changes nothing; another signature is refused.
        let settled = full(&r, s1.clone());
        let h1 = Held { state_at: Some(settled.clone()), ..h.clone() };
        let again = on_signature(&env.ctx(), &mut rounds, &h1, 2, 1, settled.signatures[2]);
        assert_eq!((again.answer, again.effects.len()), (Ok(Answer::Ok), 0));
        let other = on_signature(&env.ctx(), &mut rounds, &h1, 2, 1, settled.signatures[1]);
        assert_eq!(other.answer.unwrap_err().status(), 409);
    }

    #[test]
    fn a_refusal_fails_the_round_and_an_unreachable_peer_too() {
        let env = Env::new(0, false);
        let r = record(2, 0);
        let h = held(&r, Some(full(&r, state(&r, 0, b"", false))), Some(0));
        for (answer, rejected) in [
            (Err(NodeError::Conflict("stale".into())), true),
            (Err(NodeError::Forbidden("who".into())), true),
            (Err(NodeError::Unreachable("down".into())), false),
            (Err(NodeError::Busy("later".into())), false),
            (Ok(Reply::Ok), false),
        ] {
            let mut rounds = Rounds::default();
            let _ = start_update(&env.ctx(), &mut rounds, &h, Bytes::new(), false);
            let effects = on_reply(&env.ctx(), &mut rounds, &h, 1, 1, answer);
            let Effect::Finish { result: Err(e), .. } = &effects[0] else { panic!("{effects:?}") };
            assert_eq!(matches!(e, NodeError::Rejected(_)), rejected, "{e}");
            assert_eq!(rounds.floor(r.id), 1);
        }
        let mut rounds = Rounds::default();
        let _ = start_update(&env.ctx(), &mut rounds, &h, Bytes::new(), false);
        assert!(on_reply(&env.ctx(), &mut rounds, &h, 1, 1, Ok(Reply::Pending)).is_empty());
        assert!(rounds.collecting(r.id).is_some());
    }

    #[test]
    fn a_rejection_ends_only_the_proposal_it_names() {
        let env = Env::new(0, false);
        let r = record(2, 0);
        let h = held(&r, Some(full(&r, state(&r, 0, b"", false))), Some(0));
        let mut rounds = Rounds::default();
        let (s1, _) = start_update(&env.ctx(), &mut rounds, &h, Bytes::from_static(b"new"), false).answer.unwrap();
        let p1 = r.terms.participants[1];
        // A rejection of an earlier proposal with the same version, replayed: nothing changes.
        let old = domain().state_digest(&state(&r, 1, b"old", false));
        let e = on_reject(&env.ctx(), &mut rounds, &h, p1, 1, old, "no".into()).answer.unwrap_err();
        assert!(e.to_string().contains("not the proposal for version 1"), "{e}");
        assert!(rounds.collecting(r.id).is_some());
        let step = on_reject(&env.ctx(), &mut rounds, &h, p1, 1, domain().state_digest(&s1), "no".into());
        assert_eq!(step.answer, Ok(Answer::Ok));
        assert!(matches!(step.effects.last(), Some(Effect::Finish { result: Err(NodeError::Rejected(_)), .. })));
        assert!(rounds.collecting(r.id).is_none());
    }

    #[test]
    fn a_fully_signed_state_is_checked_then_kept_once() {
        let env = Env::new(1, false);
        let mut r = record(2, 1);
        r.status = ChannelStatus::Proposed;
        let v0 = full(&r, state(&r, 0, b"", false));
        let h = held(&r, None, Some(0));
        assert_eq!(h.stage(&Rounds::default()), Stage::Proposed);
        let step = on_signed(&env.ctx(), &h, v0.clone());
        let Effect::Persist(w) = &step.effects[0] else { panic!() };
        assert_eq!(w[0], Write::State(v0.clone()));
        assert!(matches!(&w[1], Write::Channel(c) if c.status == ChannelStatus::Open));
        assert!(matches!(step.effects[1], Effect::Emit(Event::ChannelOpened { .. })));
        let kept = Held { state_at: Some(v0.clone()), ..h.clone() };
        assert!(on_signed(&env.ctx(), &kept, v0.clone()).effects.is_empty());
        let mut short = v0;
        short.signatures.pop();
        assert_eq!(on_signed(&env.ctx(), &h, short).answer.unwrap_err().to_string(), "1 signatures for 2 participants");
        assert_eq!(on_sync(&h).answer.unwrap_err().status(), 404);
    }

    #[test]
    fn order_check_catches_a_signature_let_out_early() {
        let r = record(2, 0);
        let early = vec![
            Effect::EnqueueAccept { url: "u".into(), channel: r.id, version: 1 },
            Effect::Persist(vec![Write::Signature { channel: r.id, version: 1, digest: B256::ZERO, is_final: false }]),
        ];
        assert!(check_order(&early, false).is_err());
        assert!(check_order(&[Effect::Announce(r.clone())], false).is_err());
        assert!(check_order(&[], true).is_err());
    }
}
