// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.20;

/// Terms of a channel. Every field is inside the channel id, so nobody can reuse an id with
/// other terms. `participants` keeps its order for the life of the channel: signature `i` of a
/// fully signed state belongs to `participants[i]`.
struct ChannelParams {
    address[] participants;
    uint64 nonce;
    uint64 challengeDuration;
    address executive;
}

/// One version of the shared state. `data` is opaque to the judge.
struct State {
    bytes32 channelId;
    uint64 version;
    bytes data;
    bool isFinal;
}

/// What a participant signs to start a dispute with a given version.
struct Challenge {
    bytes32 channelId;
    uint64 version;
}

/// The Avocado judge: reports the latest fully signed state of each channel and runs the
/// dispute clock. It holds no funds and calls nothing but the ecrecover precompile.
///
/// Signatures (`sigs`) are one signature per participant, in participant order, concatenated:
/// either all 64-byte EIP-2098 compact (`r || yParityAndS`) or all 65-byte `r || s || v`.
/// Each signs the EIP-712 hash of `State` under the domain
/// `{name: "Avocado", version: "1", chainId, verifyingContract: this judge}`.
///
/// Phases returned by `status`: 0 None (never seen), 1 Open, 2 Challenge (until `finalizesAt`),
/// 3 Final. A dispute whose deadline passed reads Final with no transaction.
interface IAvocadoJudge {
    event ChannelOpened(
        bytes32 indexed channelId, address[] participants, uint64 nonce, uint64 challengeDuration, address executive
    );
    event StateCheckpointed(bytes32 indexed channelId, uint64 version, bytes data);
    event ChallengeStarted(
        bytes32 indexed channelId, address indexed challenger, uint64 version, uint64 finalizesAt, bytes data
    );
    event ChannelConcluded(bytes32 indexed channelId, uint64 version, bytes data);

    /// `participants.length` is outside 2..=255.
    error InvalidParticipantCount(uint256 count);
    /// `participants[index]` is the zero address or repeats an earlier participant.
    error InvalidParticipant(uint256 index);
    /// `challengeDuration` is zero or longer than ten years.
    error InvalidChallengeDuration(uint64 duration);
    /// `state.channelId` is not the id of `params` on this chain and judge.
    error WrongChannel(bytes32 expected, bytes32 given);
    /// `state.data` is longer than the limit (16 KiB).
    error StateTooLarge(uint256 size, uint256 limit);
    /// `sigs` is neither 64 nor 65 bytes per participant.
    error InvalidSignaturesLength(uint256 length, uint256 participants);
    /// Signature `index` is malformed, high-s, recovers to zero, or is not `participants[index]`'s.
    error InvalidSignature(uint256 index);
    /// The challenger's signature is malformed or recovers to the zero address.
    error InvalidChallengerSignature();
    /// The challenger's signature recovers to an address outside the channel.
    error NotParticipant(address signer);
    /// The judge already holds a higher version.
    error StaleVersion(uint64 stored, uint64 given);
    /// `open` on a channel the judge has already seen.
    error ChannelExists(bytes32 channelId);
    /// The channel is final: nothing can change it any more.
    error ChannelFinal(bytes32 channelId);
    /// A dispute is already running on this channel.
    error ChallengeInProgress(bytes32 channelId, uint64 finalizesAt);
    /// `conclude` with a state whose `isFinal` is false.
    error NotFinalState();
    /// `finalState` of a channel that is not final yet.
    error ChannelNotFinal(bytes32 channelId);

    /// Registers a channel with its fully signed initial state (any version). Optional: every
    /// other call also works on a channel never opened.
    function open(ChannelParams calldata params, State calldata state, bytes calldata sigs) external;

    /// Stores a fully signed state newer than the stored one, in Open or Challenge; the deadline
    /// does not move. Re-posting the stored version is a no-op.
    function checkpoint(ChannelParams calldata params, State calldata state, bytes calldata sigs) external;

    /// Starts the dispute clock with a fully signed state at least as new as the stored one.
    /// `challengerSig` is a participant's EIP-712 signature of `Challenge{channelId, state.version}`.
    function challenge(
        ChannelParams calldata params,
        State calldata state,
        bytes calldata sigs,
        bytes calldata challengerSig
    ) external;

    /// Cooperative close: a fully signed state with `isFinal` makes the channel Final at once.
    function conclude(ChannelParams calldata params, State calldata state, bytes calldata sigs) external;

    /// The phase (see above), stored version, dispute deadline (0 if none) and
    /// `keccak256(state.data)` of the stored state.
    function status(bytes32 channelId)
        external
        view
        returns (uint8 phase, uint64 version, uint64 finalizesAt, bytes32 dataHash);

    /// Version and `keccak256(data)` of the final state; reverts `ChannelNotFinal` unless Final.
    /// An executive contract takes `data` as calldata and checks its hash against `dataHash`.
    function finalState(bytes32 channelId) external view returns (uint64 version, bytes32 dataHash);

    /// The id of a channel with these terms on this chain and this judge.
    function channelId(ChannelParams calldata params) external view returns (bytes32);

    /// The EIP-712 domain separator every signature of this judge is made under.
    function domainSeparator() external view returns (bytes32);
}
