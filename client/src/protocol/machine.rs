//! The steps: one function per input, each a pure function of what the node holds.

use alloy_primitives::{Address, Bytes, B256};
use avocado_codec::{signer, Signature, State};

use super::rules::{self, Concurrency};
use super::{Answer, Ctx, Effect, Event, Held, OwnRound, Reply, Rounds, Step};
use crate::error::NodeError;
use crate::message::{Message, Terms};
use crate::signed::SignedState;
use crate::store::{ChannelRecord, ChannelStatus, Incoming, Write};

/// The write that records this node's signature of `state` (its digest), after which the shell
/// signs it.
fn sign(ctx: &Ctx<'_>, state: &State) -> Write {
    Write::Signature {
        channel: state.channelId,
        version: state.version,
        digest: ctx.domain.state_digest(state),
        is_final: state.isFinal,
    }
}

/// Tells the app that this node signed a final state (every step that signs one adds it).
fn signed_final(state: &State) -> Option<Effect> {
    state.isFinal.then(|| {
        Effect::Emit(Event::FinalSigned {
            channel_id: state.channelId,
            version: state.version,
            data: state.data.clone(),
        })
    })
}

/// After a state became fully signed here: the channel opens at version 0, a pending proposal
/// it settles is cleared, the app is told. Returns the record when it changed, and the events.
pub fn settle(record: &ChannelRecord, signed: &State) -> (Option<ChannelRecord>, Vec<Event>) {
    let v = signed.version;
    let mut r = record.clone();
    if r.status == ChannelStatus::Proposed {
        r.status = ChannelStatus::Open;
    }
    if r.incoming.as_ref().is_some_and(|i| i.state.version <= v) {
        r.incoming = None;
    }
    let mut events = Vec::new();
    if v == 0 {
        events.push(Event::ChannelOpened { channel_id: record.id });
    }
    events.push(Event::UpdateSigned {
        channel_id: record.id,
        version: v,
        data: signed.data.clone(),
        is_final: signed.isFinal,
    });
    ((r != *record).then_some(r), events)
}

/// Keeps a fully signed state and settles the channel on it, as writes (for one commit) and the
/// events that follow.
fn keep(record: &ChannelRecord, signed: &SignedState) -> (Vec<Write>, Vec<Effect>) {
    let (changed, events) = settle(record, &signed.state);
    let mut writes = vec![Write::State(signed.clone())];
    writes.extend(changed.map(Write::Channel));
    (writes, events.into_iter().map(Effect::Emit).collect())
}

/// Checks that `signed` is a fully signed state of this channel.
pub fn verify_signed(ctx: &Ctx<'_>, record: &ChannelRecord, signed: &SignedState) -> Result<(), NodeError> {
    if signed.state.channelId != record.id {
        return Err(NodeError::Invalid("the state belongs to another channel".into()));
    }
    let digest = ctx.domain.state_digest(&signed.state);
    let n = record.terms.participants.len();
    if signed.signatures.len() != n {
        return Err(NodeError::Invalid(format!("{} signatures for {n} participants", signed.signatures.len())));
    }
    for (i, (sig, who)) in signed.signatures.iter().zip(&record.terms.participants).enumerate() {
        let ok = if i == record.me {
            signer::sign(ctx.key, &digest) == *sig
        } else {
            signer::verify(&digest, &sig.to_bytes(), *who).is_ok()
        };
        if !ok {
            return Err(NodeError::Invalid(format!("not fully signed: signature {i} is not participant {i}'s")));
        }
    }
    Ok(())
}

// ----- channel proposals -------------------------------------------------------------------------

/// A channel proposal, checked: what this node would sign as version 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelProposal {
    /// The channel id.
    pub id: B256,
    /// The terms.
    pub terms: Terms,
    /// Peer URLs in participant order.
    pub peers: Vec<String>,
    /// This node's index.
    pub me: usize,
    /// The proposer's index.
    pub proposer: usize,
    /// Version 0.
    pub state: State,
}

/// A peer's channel proposal against the terms rules and this node's policy.
pub fn check_channel_proposal(
    ctx: &Ctx<'_>,
    from: Address,
    terms: Terms,
    peers: Vec<String>,
    data: Bytes,
) -> Result<ChannelProposal, NodeError> {
    let params = rules::check_terms(&terms, &peers, &data)?;
    let me = rules::index_of(&terms, ctx.address)
        .ok_or_else(|| NodeError::Forbidden(format!("this node ({}) is not a participant", ctx.address)))?;
    let proposer = rules::index_of(&terms, from)
        .filter(|i| *i != me)
        .ok_or_else(|| NodeError::Forbidden(format!("the proposer {from} is not another participant")))?;
    rules::check_policy(ctx.policy, &terms)?;
    let id = ctx.domain.channel_id(&params);
    let state = State { channelId: id, version: 0, data, isFinal: false };
    Ok(ChannelProposal { id, terms, peers, me, proposer, state })
}

/// A peer proposes a channel. `existing` is what the node holds when it knows the channel
/// already (a retried delivery answers as the first one did); `now` is the record's creation
/// time.
pub fn on_propose_channel(ctx: &Ctx<'_>, now: u64, p: ChannelProposal, existing: Option<&Held>) -> Step<Answer> {
    if let Some(held) = existing {
        if held.digest_at == Some(ctx.domain.state_digest(&p.state)) {
            return Step::ok(vec![Effect::Persist(vec![sign(ctx, &p.state)])], Answer::Signed);
        }
        if held.record.incoming.as_ref().is_some_and(|i| State::from(&i.state) == p.state) {
            return Step::ok(Vec::new(), Answer::Pending);
        }
        return NodeError::Conflict(format!("channel {} is already known with other contents", p.id)).into();
    }
    let mut record = ChannelRecord {
        id: p.id,
        terms: p.terms,
        peers: p.peers,
        me: p.me,
        proposer: p.proposer,
        status: ChannelStatus::Proposed,
        reason: None,
        incoming: Some(Incoming { from: p.proposer, state: (&p.state).into() }),
        chain: Default::default(),
        created_at: now,
    };
    if ctx.policy.auto_accept {
        record.incoming = None;
        return Step::ok(vec![Effect::Persist(vec![Write::Channel(record), sign(ctx, &p.state)])], Answer::Signed);
    }
    let by = record.terms.participants[p.proposer];
    Step::ok(
        vec![
            Effect::Persist(vec![Write::Channel(record)]),
            Effect::Emit(Event::ChannelProposed { channel_id: p.id, by }),
        ],
        Answer::Pending,
    )
}

/// A channel this node proposes, checked: its id, its peers (this node's URL in its slot), its
/// index and version 0.
pub fn plan_channel(
    ctx: &Ctx<'_>,
    terms: Terms,
    mut peers: Vec<String>,
    data: Bytes,
) -> Result<ChannelProposal, NodeError> {
    let params = rules::check_terms(&terms, &peers, &data)?;
    rules::check_policy(ctx.policy, &terms)?;
    let me = rules::index_of(&terms, ctx.address).ok_or_else(|| {
        NodeError::Invalid(format!("this node's address {} is not among the participants", ctx.address))
    })?;
    peers[me] = ctx.peer_url.to_string();
    let id = ctx.domain.channel_id(&params);
    let state = State { channelId: id, version: 0, data, isFinal: false };
    Ok(ChannelProposal { id, terms, peers, me, proposer: me, state })
}

/// This node proposes the channel `p` (`exists`: a record with its id is held): the record is
/// kept and a round for version 0 starts.
pub fn start_channel(rounds: &mut Rounds, now: u64, p: ChannelProposal, exists: bool) -> Step<()> {
    if exists {
        return NodeError::Conflict(format!("channel {} exists already: choose another nonce for a new channel", p.id))
            .into();
    }
    let record = ChannelRecord {
        id: p.id,
        terms: p.terms,
        peers: p.peers,
        me: p.me,
        proposer: p.me,
        status: ChannelStatus::Proposed,
        reason: None,
        incoming: None,
        chain: Default::default(),
        created_at: now,
    };
    let signatures = vec![None; record.terms.participants.len()];
    rounds.open.insert(p.id, OwnRound { state: p.state, signatures });
    Step::ok(vec![Effect::Persist(vec![Write::Channel(record)])], ())
}

/// The user's decision on a channel proposed by another participant.
pub fn decide_channel(ctx: &Ctx<'_>, held: &Held, accept: bool, reason: String) -> Step<()> {
    let mut record = held.record.clone();
    let id = record.id;
    let inc = match (&record.incoming, record.status) {
        (Some(inc), ChannelStatus::Proposed) if inc.state.version == 0 => inc.clone(),
        _ => return NodeError::Conflict(format!("channel {id} has no proposal waiting for a decision")).into(),
    };
    let state: State = (&inc.state).into();
    let url = record.peers[inc.from].clone();
    let mut effects = Vec::new();
    if accept {
        effects.push(Effect::Persist(vec![sign(ctx, &state)]));
        effects.push(Effect::EnqueueAccept { url, channel: id, version: 0 });
    } else {
        record.status = ChannelStatus::Rejected;
        record.reason = Some(format!("rejected here: {reason}"));
        let digest = ctx.domain.state_digest(&state);
        effects.push(Effect::Enqueue { url, message: Message::RejectChannel { channel_id: id, digest, reason } });
    }
    record.incoming = None;
    // Queued first: an outbox that is full refuses the decision, and the proposal still waits
    // for one; a decision recorded without its message would never reach the proposer.
    effects.push(Effect::Persist(vec![Write::Channel(record)]));
    Step::ok(effects, ())
}

// ----- updates --------------------------------------------------------------------------------

/// The checks on a peer's update proposal that need nothing held: it builds on an older base.
pub fn check_builds_on_base(state: &State, base: &State) -> Result<(), NodeError> {
    if base.version >= state.version {
        return Err(NodeError::Invalid(format!(
            "version {} does not build on its base version {}",
            state.version, base.version
        )));
    }
    Ok(())
}

/// A peer (participant `proposer`, address `from`) proposes `state` on top of `base`. `held`
/// is read with `state.version` as the version of interest.
pub fn on_propose_update(
    ctx: &Ctx<'_>,
    rounds: &mut Rounds,
    held: &Held,
    proposer: usize,
    from: Address,
    state: State,
    base: SignedState,
) -> Step<Answer> {
    let id = held.record.id;
    let me = held.record.me;
    if let Some(h) = held.latest.as_ref().map(|s| s.state.version) {
        if let Err(e) = rules::check_above_latest(state.version, h) {
            return e.into();
        }
    }
    // A retried delivery of a proposal already signed gets the same signature back; other
    // contents for a version signed here are refused now, not left waiting for a decision that
    // could never be signed (the proposer hears at once and goes above).
    match held.digest_at {
        Some(d) if d == ctx.domain.state_digest(&state) => {
            return Step::ok(vec![Effect::Persist(vec![sign(ctx, &state)])], Answer::Signed);
        }
        Some(_) => {
            return NodeError::Conflict(format!("this node already signed another state as version {}", state.version))
                .into();
        }
        None => {}
    }
    // Catch up from the base when it is newer than what this node holds (kept in the same
    // commit as this node's signature).
    let held_v = held.latest.as_ref().map(|s| s.state.version);
    if let Some(ours) = held.latest.as_ref().filter(|h| h.state.version == base.state.version) {
        if ours.state != base.state {
            return NodeError::Conflict(format!(
                "the proposal builds on a version {} other than the one fully signed here",
                base.state.version
            ))
            .into();
        }
    }
    let fresh = if held_v.is_none_or(|h| base.state.version > h) {
        if let Err(e) = verify_signed(ctx, &held.record, &base) {
            return e.into();
        }
        Some(base.clone())
    } else if base.state.version < held_v.unwrap_or(0) {
        return NodeError::Conflict(format!(
            "the proposal builds on version {} but version {} is fully signed",
            base.state.version,
            held_v.unwrap_or(0)
        ))
        .into();
    } else {
        None
    };
    let mut record = held.record.clone();
    if fresh.is_some() && record.status == ChannelStatus::Proposed {
        record.status = ChannelStatus::Open;
    }
    let mut effects = Vec::new();
    if let Some(mine) = rounds.collecting(id) {
        let mine_version = mine.state.version;
        match rules::concurrency(mine_version, me, state.version, base.state.version, proposer) {
            Concurrency::Apart => {}
            Concurrency::TheirsWins => {
                let why = format!(
                    "superseded: participant {proposer}'s proposal for version {} came at the same time, and the \
                     lower index wins",
                    state.version
                );
                rounds.open.remove(&id);
                rounds.raise_floor(id, mine_version);
                effects.push(Effect::Emit(Event::UpdateRejected {
                    channel_id: id,
                    version: mine_version,
                    reason: why.clone(),
                }));
                effects.push(Effect::Finish {
                    channel: id,
                    version: mine_version,
                    result: Err(NodeError::Conflict(why)),
                });
            }
            Concurrency::MineWins => {
                return NodeError::Conflict(format!(
                    "concurrent proposal: participant {me}'s proposal for version {mine_version} takes precedence \
                     (lower index wins)"
                ))
                .into();
            }
        }
    }
    let base_version = fresh.as_ref().map(|b| b.state.version);
    let latest = base_version.or(held_v).unwrap_or(0);
    if let Err(e) = rules::check_update(&record, proposer, &state, held.versions(latest)) {
        return Step { effects, answer: Err(e) };
    }
    if let Some(inc) = &record.incoming {
        // A retried delivery of the proposal waiting here. The same state from another
        // proposer is not a retry: the decision goes to the first proposer only, so the other
        // one is refused below rather than left waiting for an answer it would never get.
        if inc.from == proposer && State::from(&inc.state) == state {
            return Step { effects, answer: Ok(Answer::Pending) };
        }
        // A proposer's new proposal replaces its own earlier one (which it gave up on).
        if inc.from != proposer
            && inc.state.version >= state.version
            && base_version.is_none_or(|b| b < inc.state.version)
        {
            let e = NodeError::Conflict(format!(
                "participant {}'s proposal for version {} awaits a decision here",
                inc.from, inc.state.version
            ));
            return Step { effects, answer: Err(e) };
        }
    }
    if ctx.policy.auto_accept {
        let mut writes = Vec::new();
        let mut after = Vec::new();
        if let Some(b) = &fresh {
            let (w, e) = keep(&held.record, b);
            writes.extend(w);
            after = e;
        }
        writes.push(sign(ctx, &state));
        effects.push(Effect::Persist(writes));
        effects.extend(after);
        effects.extend(signed_final(&state));
        return Step { effects, answer: Ok(Answer::Signed) };
    }
    let mut writes = Vec::new();
    let mut record = held.record.clone();
    let mut after = Vec::new();
    // Another participant's proposal waiting here is replaced: its proposer is told (queued
    // first, so a crash cannot lose the answer), or its round would wait forever.
    if let Some(inc) = record.incoming.as_ref().filter(|inc| inc.from != proposer) {
        let replaced: State = (&inc.state).into();
        effects.push(Effect::Enqueue {
            url: record.peers[inc.from].clone(),
            message: Message::RejectUpdate {
                channel_id: id,
                version: replaced.version,
                digest: ctx.domain.state_digest(&replaced),
                reason: format!("superseded here by participant {proposer}'s proposal for version {}", state.version),
            },
        });
    }
    if let Some(b) = &fresh {
        let (changed, events) = settle(&record, &b.state);
        writes.push(Write::State(b.clone()));
        if let Some(c) = changed {
            record = c;
        }
        after.extend(events.into_iter().map(Effect::Emit));
    }
    record.incoming = Some(Incoming { from: proposer, state: (&state).into() });
    writes.push(Write::Channel(record));
    effects.push(Effect::Persist(writes));
    effects.extend(after);
    effects.push(Effect::Emit(Event::UpdateProposed {
        channel_id: id,
        version: state.version,
        by: from,
        data: state.data.clone(),
        is_final: state.isFinal,
    }));
    Step { effects, answer: Ok(Answer::Pending) }
}

/// This node proposes the next state of the channel: the version goes above everything signed
/// or tried here, and a round starts. Answers the state and the base it builds on.
pub fn start_update(
    ctx: &Ctx<'_>,
    rounds: &mut Rounds,
    held: &Held,
    data: Bytes,
    is_final: bool,
) -> Step<(State, SignedState)> {
    let _ = ctx;
    let record = &held.record;
    let id = record.id;
    if let Err(e) = rules::check_data_size(data.len()) {
        return e.into();
    }
    if record.status != ChannelStatus::Open {
        return NodeError::Conflict(format!("channel {id} is {:?}, not open", record.status)).into();
    }
    if let Some(p) = rounds.collecting(id) {
        return NodeError::Conflict(format!(
            "this node's proposal for version {} is still collecting signatures",
            p.state.version
        ))
        .into();
    }
    if let Some(inc) = &record.incoming {
        return NodeError::Conflict(format!(
            "participant {}'s proposal for version {} awaits your decision first",
            inc.from, inc.state.version
        ))
        .into();
    }
    let Some(base) = held.latest.clone() else {
        return NodeError::Conflict("the channel has no signed state".into()).into();
    };
    // Versions signed here in rounds that never settled are skipped.
    let mut v = held.versions(base.state.version);
    v.high = v.high.max(rounds.floor(id));
    let version = match rules::next_version(id, record.me, is_final, v) {
        Ok(version) => version,
        Err(e) => return e.into(),
    };
    let state = State { channelId: id, version, data, isFinal: is_final };
    let signatures = vec![None; record.terms.participants.len()];
    rounds.open.insert(id, OwnRound { state: state.clone(), signatures });
    Step::ok(Vec::new(), (state, base))
}

/// The user's decision on an update proposed by another participant.
pub fn decide_update(ctx: &Ctx<'_>, held: &Held, version: u64, accept: bool, reason: String) -> Step<()> {
    let mut record = held.record.clone();
    let id = record.id;
    let inc = match &record.incoming {
        Some(inc) if inc.state.version == version && record.status == ChannelStatus::Open => inc.clone(),
        _ => {
            return NodeError::Conflict(format!(
                "channel {id} has no proposal for version {version} waiting for a decision"
            ))
            .into()
        }
    };
    let state: State = (&inc.state).into();
    let url = record.peers[inc.from].clone();
    let mut effects = Vec::new();
    if accept {
        let mut check = record.clone();
        check.incoming = None;
        if let Err(e) = rules::check_update(&check, inc.from, &state, held.versions(held.latest_version())) {
            return e.into();
        }
        effects.push(Effect::Persist(vec![sign(ctx, &state)]));
        effects.extend(signed_final(&state));
        effects.push(Effect::EnqueueAccept { url, channel: id, version });
    } else {
        let digest = ctx.domain.state_digest(&state);
        effects
            .push(Effect::Enqueue { url, message: Message::RejectUpdate { channel_id: id, version, digest, reason } });
    }
    record.incoming = None;
    // Queued first: an outbox that is full refuses the decision, and the proposal still waits
    // for one; a decision recorded without its message would never reach the proposer.
    effects.push(Effect::Persist(vec![Write::Channel(record)]));
    Step::ok(effects, ())
}

// ----- answers to this node's proposals ---------------------------------------------------------

/// Participant `who` signed `version` of this node's proposal. `held` is read with `version`
/// as the version of interest. When it was the last signature missing, the step completes the
/// round: this node signs last, keeps the fully signed state and announces it.
pub fn on_signature(
    ctx: &Ctx<'_>,
    rounds: &mut Rounds,
    held: &Held,
    who: usize,
    version: u64,
    sig: Signature,
) -> Step<Answer> {
    let record = &held.record;
    let id = record.id;
    let Some(p) = rounds.open.get_mut(&id).filter(|p| p.state.version == version) else {
        if let Some(settled) = &held.state_at {
            // A late or repeated answer to a settled proposal changes nothing; anything else
            // claiming to answer it is refused.
            if settled.signatures.get(who) == Some(&sig) {
                return Step::ok(Vec::new(), Answer::Ok);
            }
            return NodeError::Conflict(format!(
                "version {version} is settled, with another signature from participant {who}"
            ))
            .into();
        }
        return NodeError::Conflict(format!("no proposal for version {version} is collecting signatures")).into();
    };
    let digest = ctx.domain.state_digest(&p.state);
    if let Err(e) = signer::verify(&digest, &sig.to_bytes(), record.terms.participants[who]) {
        return NodeError::Invalid(format!("participant {who}'s signature does not sign the proposed state: {e}"))
            .into();
    }
    p.signatures[who] = Some(sig);
    let complete = p.signatures.iter().enumerate().all(|(i, s)| i == record.me || s.is_some());
    if !complete {
        return Step::ok(Vec::new(), Answer::Ok);
    }
    let p = rounds.open.remove(&id).expect("present");
    let state = p.state.clone();
    let (changed, events) = settle(record, &state);
    let mut effects = vec![Effect::Complete(p)];
    if let Some(c) = changed {
        effects.push(Effect::Persist(vec![Write::Channel(c)]));
    }
    effects.extend(signed_final(&state));
    effects.extend(events.into_iter().map(Effect::Emit));
    effects.push(Effect::Finish { channel: id, version, result: Ok(()) });
    effects.push(Effect::Announce(record.clone()));
    Step::ok(effects, Answer::Ok)
}

/// This node's round for `version` failed with `err`: its version is skipped from now on (a
/// participant may have signed it), and the waiting caller and the app are told.
pub fn abandon(rounds: &mut Rounds, channel: B256, version: u64, err: NodeError) -> Vec<Effect> {
    rounds.raise_floor(channel, version);
    if rounds.collecting(channel).is_some_and(|p| p.state.version == version) {
        rounds.open.remove(&channel);
        return vec![
            Effect::Finish { channel, version, result: Err(err.clone()) },
            Effect::Emit(Event::UpdateRejected { channel_id: channel, version, reason: err.to_string() }),
        ];
    }
    Vec::new()
}

/// Participant `who`'s answer to this node's proposal for `version` (sent by the proposer
/// itself, synchronously): a signature is taken in, a pending decision waits, anything else
/// fails the round — a refusal as [`NodeError::Rejected`], a peer that could not be reached
/// as it is.
pub fn on_reply(
    ctx: &Ctx<'_>,
    rounds: &mut Rounds,
    held: &Held,
    who: usize,
    version: u64,
    reply: Result<Reply, NodeError>,
) -> Vec<Effect> {
    let failure = match reply {
        Ok(Reply::Signed { signature }) => match Signature::parse(&signature) {
            Ok(sig) => {
                let step = on_signature(ctx, rounds, held, who, version, sig);
                match step.answer {
                    Ok(_) => return step.effects,
                    Err(e) => e,
                }
            }
            Err(e) => NodeError::Invalid(format!("participant {who} answered a malformed signature: {e}")),
        },
        Ok(Reply::Pending) => return Vec::new(),
        Ok(other) => NodeError::Invalid(format!("participant {who} answered {other:?}")),
        Err(e) if e.is_refusal() => NodeError::Rejected(format!("participant {who} refused version {version}: {e}")),
        Err(e) => e,
    };
    abandon(rounds, held.record.id, version, failure)
}

/// Participant `who` (address `from`) rejected `version`, naming the digest `digest`.
pub fn on_reject(
    ctx: &Ctx<'_>,
    rounds: &mut Rounds,
    held: &Held,
    from: Address,
    version: u64,
    digest: B256,
    reason: String,
) -> Step<Answer> {
    let id = held.record.id;
    let Some(p) = rounds.collecting(id).filter(|p| p.state.version == version) else {
        return NodeError::Conflict(format!("no proposal for version {version} is collecting signatures")).into();
    };
    if let Err(e) = rules::check_rejection_binds(ctx.domain.state_digest(&p.state), digest, version) {
        return e.into();
    }
    rounds.open.remove(&id);
    let why = format!("{from} rejected version {version}: {reason}");
    let mut effects = Vec::new();
    if version == 0 && held.record.status == ChannelStatus::Proposed {
        let mut record = held.record.clone();
        record.status = ChannelStatus::Rejected;
        record.reason = Some(why.clone());
        effects.push(Effect::Persist(vec![Write::Channel(record)]));
        effects.push(Effect::Emit(Event::ChannelRejected { channel_id: id, by: from, reason }));
    }
    effects.push(Effect::Emit(Event::UpdateRejected { channel_id: id, version, reason: why.clone() }));
    effects.push(Effect::Finish { channel: id, version, result: Err(NodeError::Rejected(why)) });
    Step::ok(effects, Answer::Ok)
}

/// A fully signed state arrives (sent by its proposer, or the answer to `Sync`). `held` is read
/// with its version as the version of interest; a state held already changes nothing.
pub fn on_signed(ctx: &Ctx<'_>, held: &Held, signed: SignedState) -> Step<Answer> {
    if held.state_at.is_some() {
        return Step::ok(Vec::new(), Answer::Ok);
    }
    if let Err(e) = verify_signed(ctx, &held.record, &signed) {
        return e.into();
    }
    let (writes, events) = keep(&held.record, &signed);
    let mut effects = vec![Effect::Persist(writes)];
    effects.extend(events);
    Step::ok(effects, Answer::Ok)
}

/// Another participant asks for the latest fully signed state.
pub fn on_sync(held: &Held) -> Step<Answer> {
    match &held.latest {
        Some(latest) => Step::ok(Vec::new(), Answer::Latest(latest.clone())),
        None => NodeError::NotFound(format!("no fully signed state of {} yet", held.record.id)).into(),
    }
}

/// Whether a fully signed state of version `full` still needs sending on its own when its
/// delay is up: not when this node holds or proposes a newer one (that proposal carries it as
/// its base).
pub fn announce_needed(rounds: &Rounds, channel: B256, latest: Option<u64>, full: u64) -> bool {
    let superseded =
        rounds.collecting(channel).is_some_and(|p| p.state.version > full) || latest.is_some_and(|l| l > full);
    !superseded
}
