//! The protocol's rules, each written once, as pure functions of what the node holds.
//!
//! Nothing here reads a store, a clock or the network: the caller passes what it holds (the
//! latest fully signed version, the highest version signed here, the final state signed here)
//! and gets a decision. The node's shell and the simulator call the same functions.

use alloy_primitives::{Address, B256};
use avocado_codec::{limits, ChannelParams, State};

use crate::error::NodeError;
use crate::message::Terms;
use crate::store::{ChannelRecord, ChannelStatus};

/// How far ahead of the latest fully signed version a proposal may be: versions burnt by
/// abandoned proposals are skipped, but nobody can push a channel toward `u64::MAX`.
pub const MAX_VERSION_GAP: u64 = 64;

/// What this node agrees to.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The shortest dispute window it accepts in a channel (seconds). The default, 24 h,
    /// outlasts Arbitrum's force-inclusion delay: a sequencer that censors the node's answer to
    /// a stale challenge cannot outwait it.
    pub min_challenge_duration: u64,
    /// Sign proposals (channels and updates) as they arrive instead of waiting for the user.
    pub auto_accept: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self { min_challenge_duration: 24 * 60 * 60, auto_accept: false }
    }
}

/// A participant's index in `terms`.
pub fn index_of(terms: &Terms, who: Address) -> Option<usize> {
    terms.participants.iter().position(|p| *p == who)
}

/// `from`'s index in the channel, refused unless it is another participant than this node.
pub fn participant(record: &ChannelRecord, from: Address) -> Result<usize, NodeError> {
    match index_of(&record.terms, from) {
        Some(i) if i != record.me => Ok(i),
        _ => Err(NodeError::Forbidden(format!("{from} is not another participant of channel {}", record.id))),
    }
}

/// State data fits the judge's limit.
pub fn check_data_size(len: usize) -> Result<(), NodeError> {
    if len > limits::MAX_DATA_LEN {
        return Err(NodeError::Invalid(format!("state data is {len} bytes; the limit is {}", limits::MAX_DATA_LEN)));
    }
    Ok(())
}

/// A channel's terms as the judge would accept them, one peer URL per participant, and data of
/// an acceptable size.
pub fn check_terms(terms: &Terms, peers: &[String], data: &[u8]) -> Result<ChannelParams, NodeError> {
    let params: ChannelParams = terms.into();
    avocado_codec::validate_params(&params.participants, params.challengeDuration)
        .map_err(|e| NodeError::Invalid(format!("invalid channel terms: {e:?}")))?;
    if peers.len() != params.participants.len() {
        return Err(NodeError::Invalid(format!(
            "{} peer URLs for {} participants",
            peers.len(),
            params.participants.len()
        )));
    }
    check_data_size(data.len())?;
    Ok(params)
}

/// This node's own rules for a channel's terms (beyond the protocol's).
pub fn check_policy(policy: &Policy, terms: &Terms) -> Result<(), NodeError> {
    if terms.challenge_duration < policy.min_challenge_duration {
        return Err(NodeError::Invalid(format!(
            "challenge duration {} s is below this node's minimum of {} s",
            terms.challenge_duration, policy.min_challenge_duration
        )));
    }
    Ok(())
}

/// Nothing is signed at or below the latest fully signed version.
pub fn check_above_latest(version: u64, latest: u64) -> Result<(), NodeError> {
    if version <= latest {
        return Err(NodeError::Conflict(format!(
            "version {version} is not above the latest fully signed version {latest}"
        )));
    }
    Ok(())
}

/// A final state is final on chain as soon as it is fully signed, whatever was signed around it:
/// this node signs one only as the direct successor of the latest fully signed state it holds
/// (`latest`), with nothing signed above that state (`high`, the highest version signed here)
/// that could have settled unseen.
pub fn check_final_successor(version: u64, latest: u64, high: u64) -> Result<(), NodeError> {
    if high > latest {
        return Err(NodeError::Conflict(format!(
            "version {high} was signed here and never settled: a final state must directly follow the latest fully \
             signed version {latest}; settle or supersede v{high} first"
        )));
    }
    if version != latest + 1 {
        return Err(NodeError::Conflict(format!(
            "a final state must directly follow the latest fully signed version {latest}, not be version {version}"
        )));
    }
    Ok(())
}

/// A final state signed here ends the channel for this node: anything signed after it could be
/// erased on chain by it.
pub fn check_not_ended(channel: B256, final_signed: Option<u64>) -> Result<(), NodeError> {
    if let Some(v) = final_signed {
        return Err(NodeError::Conflict(format!(
            "this node signed the final state v{v} of channel {channel}: it signs nothing more for it"
        )));
    }
    Ok(())
}

/// What the version rules read: the latest fully signed version held (or the base about to be
/// kept), the highest version signed here (with, for this node's own proposals, the versions of
/// its failed rounds), and the final state signed here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versions {
    /// The latest fully signed version.
    pub latest: u64,
    /// The highest version signed here (0 when none).
    pub high: u64,
    /// The final state signed here, if any.
    pub final_signed: Option<u64>,
}

/// The version rules for a state this node would sign as `version` of `channel` (proposed by
/// `proposer`, for the message): above the latest; at most [`MAX_VERSION_GAP`] above it; nothing
/// after a final state; above any version signed here whose round never settled (it is skipped,
/// never signed again with other contents); a final state only as the direct successor.
pub fn check_version(
    channel: B256,
    version: u64,
    is_final: bool,
    proposer: usize,
    v: Versions,
) -> Result<(), NodeError> {
    check_above_latest(version, v.latest)?;
    if version > v.latest + MAX_VERSION_GAP {
        return Err(NodeError::Conflict(format!(
            "version {version} is too far above the latest fully signed version {}: at most {MAX_VERSION_GAP} \
             versions may be signed without settling; sync with the other participants first",
            v.latest
        )));
    }
    check_not_ended(channel, v.final_signed)?;
    if v.high > v.latest && version < v.high {
        return Err(NodeError::Conflict(format!(
            "version {} is signed here; participant {proposer}'s proposal for version {version} must be above it",
            v.high
        )));
    }
    if is_final {
        check_final_successor(version, v.latest, v.high)?;
    }
    Ok(())
}

/// The checks every update proposal passes before this node signs it: the channel is open, the
/// data fits, and the version rules ([`check_version`]) hold.
pub fn check_update(record: &ChannelRecord, proposer: usize, state: &State, v: Versions) -> Result<(), NodeError> {
    if record.status != ChannelStatus::Open {
        return Err(NodeError::Conflict(format!("channel {} is {:?}, not open", record.id, record.status)));
    }
    check_data_size(state.data.len())?;
    check_version(record.id, state.version, state.isFinal, proposer, v)
}

/// The version of this node's next proposal: one above everything signed or tried here, within
/// the version rules.
pub fn next_version(channel: B256, me: usize, is_final: bool, v: Versions) -> Result<u64, NodeError> {
    let high = v.high.max(v.latest);
    let version = high + 1;
    check_version(channel, version, is_final, me, Versions { high, ..v })?;
    Ok(version)
}

/// How an incoming proposal meets this node's own proposal in flight on the same channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Concurrency {
    /// They do not compete: the incoming one builds on this node's or comes later.
    Apart,
    /// They compete and the incoming one wins (its proposer has the lower index): this node's
    /// proposal fails and its version is skipped from now on.
    TheirsWins,
    /// They compete and this node's wins: the incoming one is refused.
    MineWins,
}

/// Two proposals in flight at once — for one version, or one built on a state older than this
/// node's proposal — resolve deterministically: the lower participant index wins.
pub fn concurrency(mine: u64, me: usize, theirs: u64, their_base: u64, proposer: usize) -> Concurrency {
    if mine < theirs && their_base >= mine {
        Concurrency::Apart
    } else if proposer < me {
        Concurrency::TheirsWins
    } else {
        Concurrency::MineWins
    }
}

/// A rejection names the digest of what it rejects: replayed against another proposal with the
/// same version, it changes nothing.
pub fn check_rejection_binds(proposed: B256, named: B256, version: u64) -> Result<(), NodeError> {
    if proposed != named {
        return Err(NodeError::Conflict(format!(
            "the rejection names state {named}, not the proposal for version {version} collecting signatures"
        )));
    }
    Ok(())
}

/// Whether this node is behind on `channel`: it signed a version whose fully signed state it
/// does not hold (nothing held but version 0 signed counts as behind too), so that state is
/// probably on its way and is asked for before building on an older one.
pub fn is_behind(highest_signed: Option<u64>, held: Option<u64>) -> bool {
    highest_signed.is_some_and(|h| held.is_none_or(|held| h > held))
}

/// Whether a dispute must be answered: the judge holds `on_chain` in a dispute that ends at
/// `finalizes_at`, it is `now` on chain, and this node holds the fully signed `latest`. Only a
/// running dispute over an older version is answered (an older state merely checkpointed while
/// the channel is open threatens nothing).
pub fn must_answer(in_dispute: bool, on_chain: u64, finalizes_at: u64, now: u64, latest: Option<u64>) -> bool {
    in_dispute && now < finalizes_at && latest.is_some_and(|l| l > on_chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CH: B256 = B256::repeat_byte(1);

    fn v(latest: u64, high: u64, final_signed: Option<u64>) -> Versions {
        Versions { latest, high, final_signed }
    }

    fn err(r: Result<(), NodeError>) -> String {
        r.expect_err("refused").to_string()
    }

    #[test]
    fn data_size_is_the_judges_limit() {
        check_data_size(limits::MAX_DATA_LEN).unwrap();
        let e = check_data_size(limits::MAX_DATA_LEN + 1).unwrap_err();
        assert_eq!(e.status(), 422);
        assert_eq!(e.to_string(), format!("state data is {} bytes; the limit is {}", 16385, 16384));
    }

    #[test]
    fn terms_need_one_url_per_participant_and_pass_the_judges_checks() {
        let a = Address::repeat_byte(1);
        let b = Address::repeat_byte(2);
        let terms = Terms { participants: vec![a, b], nonce: 1, challenge_duration: 100, executive: Address::ZERO };
        let params = check_terms(&terms, &["x".into(), "y".into()], b"").unwrap();
        assert_eq!(params.participants, vec![a, b]);
        assert_eq!(err(check_terms(&terms, &["x".into()], b"").map(|_| ())), "1 peer URLs for 2 participants");
        let dup = Terms { participants: vec![a, a], ..terms.clone() };
        assert!(err(check_terms(&dup, &["x".into(), "y".into()], b"").map(|_| ())).starts_with("invalid channel terms"));
        let policy = Policy { min_challenge_duration: 101, auto_accept: false };
        assert_eq!(
            err(check_policy(&policy, &terms)),
            "challenge duration 100 s is below this node's minimum of 101 s"
        );
        check_policy(&Policy { min_challenge_duration: 100, ..policy }, &terms).unwrap();
    }

    #[test]
    fn nothing_at_or_below_the_latest() {
        check_version(CH, 6, false, 1, v(5, 5, None)).unwrap();
        for version in [0, 4, 5] {
            let e = err(check_version(CH, version, false, 1, v(5, 5, None)));
            assert_eq!(e, format!("version {version} is not above the latest fully signed version 5"));
        }
    }

    #[test]
    fn at_most_the_gap_above_the_latest() {
        check_version(CH, 5 + MAX_VERSION_GAP, false, 1, v(5, 5, None)).unwrap();
        let e = err(check_version(CH, 6 + MAX_VERSION_GAP, false, 1, v(5, 5, None)));
        assert!(e.starts_with("version 70 is too far above the latest fully signed version 5"), "{e}");
        // A proposer whose failed rounds burnt the whole gap is told to sync.
        let e = next_version(CH, 0, false, v(5, 5 + MAX_VERSION_GAP, None)).unwrap_err();
        assert!(e.to_string().contains("sync with the other participants"), "{e}");
        assert_eq!(next_version(CH, 0, false, v(5, 4 + MAX_VERSION_GAP, None)).unwrap(), 5 + MAX_VERSION_GAP);
    }

    #[test]
    fn versions_signed_without_settling_are_skipped() {
        // v7 signed here, latest 5: v6 and v7 are refused (v7 with other contents is refused by
        // the store), v8 is fine.
        let e = err(check_version(CH, 6, false, 2, v(5, 7, None)));
        assert_eq!(e, "version 7 is signed here; participant 2's proposal for version 6 must be above it");
        check_version(CH, 7, false, 2, v(5, 7, None)).unwrap();
        check_version(CH, 8, false, 2, v(5, 7, None)).unwrap();
        // The next own proposal goes above the highest signed or tried version.
        assert_eq!(next_version(CH, 0, false, v(5, 7, None)).unwrap(), 8);
        assert_eq!(next_version(CH, 0, false, v(5, 0, None)).unwrap(), 6);
    }

    #[test]
    fn nothing_after_a_final_state() {
        let e = err(check_version(CH, 9, false, 1, v(5, 5, Some(6))));
        assert!(e.contains("signed the final state v6") && e.contains("signs nothing more"), "{e}");
        assert!(next_version(CH, 0, false, v(5, 5, Some(6))).is_err());
        // Even the final state itself is not signed again through the rules (a retry is
        // answered from the digest signed, before the rules run).
        assert!(check_version(CH, 6, true, 1, v(5, 5, Some(6))).is_err());
    }

    #[test]
    fn a_final_state_directly_follows_the_latest() {
        check_version(CH, 6, true, 1, v(5, 5, None)).unwrap();
        let e = err(check_version(CH, 7, true, 1, v(5, 5, None)));
        assert_eq!(e, "a final state must directly follow the latest fully signed version 5, not be version 7");
        // Something signed above the latest that never settled could settle unseen.
        let e = err(check_version(CH, 8, true, 1, v(5, 7, None)));
        assert!(e.starts_with("version 7 was signed here and never settled"), "{e}");
        let e = next_version(CH, 0, true, v(5, 7, None)).unwrap_err();
        assert!(e.to_string().starts_with("version 7 was signed here"), "{e}");
        assert_eq!(next_version(CH, 0, true, v(5, 5, None)).unwrap(), 6);
        check_final_successor(1, 0, 0).unwrap();
    }

    #[test]
    fn updates_need_an_open_channel_and_small_data() {
        let mut record = crate::protocol::tests::record(2, 0);
        let state = State { channelId: record.id, version: 1, data: Default::default(), isFinal: false };
        record.status = ChannelStatus::Proposed;
        let e = err(check_update(&record, 1, &state, v(0, 0, None)));
        assert!(e.ends_with("is Proposed, not open"), "{e}");
        record.status = ChannelStatus::Open;
        check_update(&record, 1, &state, v(0, 0, None)).unwrap();
        let big = State { data: vec![0; limits::MAX_DATA_LEN + 1].into(), ..state };
        assert_eq!(check_update(&record, 1, &big, v(0, 0, None)).unwrap_err().status(), 422);
    }

    #[test]
    fn lower_index_wins() {
        // Same version: the lower index wins, either way round.
        assert_eq!(concurrency(3, 1, 3, 2, 0), Concurrency::TheirsWins);
        assert_eq!(concurrency(3, 0, 3, 2, 1), Concurrency::MineWins);
        // Theirs for a lower version, or built on a state older than mine: they compete.
        assert_eq!(concurrency(4, 2, 3, 2, 1), Concurrency::TheirsWins);
        assert_eq!(concurrency(4, 1, 5, 3, 2), Concurrency::MineWins);
        // Theirs built on mine (its base is my version): no competition.
        assert_eq!(concurrency(4, 0, 5, 4, 1), Concurrency::Apart);
    }

    #[test]
    fn a_rejection_binds_to_its_digest() {
        check_rejection_binds(B256::repeat_byte(1), B256::repeat_byte(1), 3).unwrap();
        let e = check_rejection_binds(B256::repeat_byte(1), B256::repeat_byte(2), 3).unwrap_err();
        assert_eq!(e.status(), 409);
        assert!(e.to_string().contains("not the proposal for version 3"), "{e}");
    }

    #[test]
    fn behind_when_something_signed_is_not_held() {
        assert!(!is_behind(None, None));
        assert!(is_behind(Some(0), None));
        assert!(is_behind(Some(4), Some(3)));
        assert!(!is_behind(Some(3), Some(3)));
    }

    #[test]
    fn only_running_disputes_over_older_versions_are_answered() {
        assert!(must_answer(true, 3, 100, 99, Some(4)));
        assert!(!must_answer(true, 3, 100, 100, Some(4)), "the deadline passed");
        assert!(!must_answer(true, 4, 100, 50, Some(4)), "the judge holds the latest");
        assert!(!must_answer(false, 3, 0, 50, Some(4)), "no dispute runs");
        assert!(!must_answer(true, 3, 100, 50, None));
    }

    #[test]
    fn participants_other_than_this_node() {
        let record = crate::protocol::tests::record(3, 1);
        assert_eq!(participant(&record, record.terms.participants[2]).unwrap(), 2);
        assert_eq!(participant(&record, record.terms.participants[1]).unwrap_err().status(), 403);
        assert_eq!(participant(&record, Address::repeat_byte(0xee)).unwrap_err().status(), 403);
    }
}
