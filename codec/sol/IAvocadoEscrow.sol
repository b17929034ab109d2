// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// The channel's terms, as the judge takes them (same ABI).
struct ChannelParams {
    address[] participants;
    uint64 nonce;
    uint64 challengeDuration;
    address executive;
}

/// One participant's part of a payment state.
struct Account {
    /// What the channel owes the participant (wei).
    uint256 balance;
    /// How much of the participant's own deposits the channel has counted (wei).
    uint256 counted;
}

/// Avocado's payment escrow: an executive contract of the judge. Participants deposit ETH for a
/// channel whose `executive` is this escrow; the channel's state `data` is
/// `abi.encode(Account[])`, one account per participant in participant order. Once the judge
/// reports the channel Final, anyone submits the final `data`: the escrow checks it against the
/// judge's `finalState` hash and pays each participant `balance + deposited - counted` — its
/// balance plus its own deposits the state did not count — as a credit it withdraws. The balances
/// must add up to the counts, and no count may exceed its participant's deposits, so the credits
/// add up to the deposits to the wei. The judge is named in every call; the channel id commits to
/// it, so a different judge names a different channel (with no deposits).
interface IAvocadoEscrow {
    /// `participant` deposited `amount` for `channelId`; `total` is the channel's deposits now.
    event Deposited(bytes32 indexed channelId, address indexed participant, uint256 amount, uint256 total);
    /// The final state `version` was paid out: `paid` by the balances, `refunded` as deposits the
    /// state did not count, each to its own depositor.
    event Settled(bytes32 indexed channelId, uint64 version, uint256 paid, uint256 refunded);
    /// `account` withdrew `amount`.
    event Withdrawn(address indexed account, uint256 amount);

    /// The channel names another executive contract.
    error NotExecutive(address executive);
    /// Only a participant may deposit.
    error NotParticipant(address account);
    /// A deposit of nothing.
    error ZeroDeposit();
    /// The channel is final (or settled): no more deposits.
    error ChannelIsFinal(bytes32 channelId);
    /// A dispute runs on the channel: no state can count a deposit any more, so none is taken.
    error ChannelInDispute(bytes32 channelId);
    /// The judge does not report the channel final.
    error ChannelNotFinal(bytes32 channelId);
    /// The channel was settled already.
    error AlreadySettled(bytes32 channelId);
    /// `keccak256(data)` is not the judge's final `dataHash`.
    error DataMismatch(bytes32 expected, bytes32 given);
    /// `data` is not `abi.encode(Account[])` with one account per participant.
    error MalformedBalances();
    /// The balances do not add up to the counted deposits.
    error Unbalanced(uint256 balances, uint256 counted);
    /// The state counts more of `participant`'s deposits than it deposited.
    error CountExceedsDeposit(address participant, uint256 counted, uint256 deposited);
    /// No credit to withdraw.
    error NothingToWithdraw();
    /// Sending the ETH failed.
    error TransferFailed();

    /// Deposits `msg.value` for the channel `params` under `judge`; only a participant, while no
    /// dispute runs and before the channel is final.
    function deposit(address judge, ChannelParams calldata params) external payable;
    /// Pays out the final state: `data` must hash to the judge's final `dataHash`.
    function settle(address judge, ChannelParams calldata params, bytes calldata data) external;
    /// Sends the caller all its credit.
    function withdraw() external;
    /// What `participant` deposited for `channelId`.
    function deposited(bytes32 channelId, address participant) external view returns (uint256);
    /// The channel's deposits.
    function totalDeposits(bytes32 channelId) external view returns (uint256);
    /// Whether the channel was settled.
    function isSettled(bytes32 channelId) external view returns (bool);
    /// What `account` may withdraw.
    function credit(address account) external view returns (uint256);
}
