// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

/// @title Test tokens: one standard ERC-20 and four that misbehave the way deployed tokens do.
///
/// The escrow takes ERC-20 deposits, and real tokens do not all follow the standard: some return
/// nothing (USDT on Ethereum), some keep a fee on every transfer, some refuse blocklisted
/// accounts (USDC), some answer `false` instead of reverting. A contract that trusts the
/// standard's letter loses money on them, so its tests run against real contracts that behave
/// this way on the devnet, not against a model of them.
///
/// Every token starts with no supply and an open `mint(to, amount)`: tests fund whom they like.
/// None of them has an owner; `setBlocked` is open too. They are never deployed anywhere but a
/// test chain.
///
/// Compiled by `scripts/build-solidity.sh` (npm `solc` 0.8.37, optimizer at 200 runs, EVM
/// version cancun); each contract's creation code is committed beside this file as
/// `<Contract>.bin` (hex). None takes constructor arguments, so that code deploys as it is.

/// What every token shares: storage, `mint`, allowance and balance bookkeeping. The external
/// `transfer`, `transferFrom` and `approve` are each token's own, since their return values are
/// what differs.
abstract contract TokenBase {
    /// The token's name.
    string public name;
    /// The token's symbol.
    string public symbol;
    /// Decimals of the token's amounts.
    uint8 public immutable decimals;
    /// All balances together.
    uint256 public totalSupply;
    /// Balance of each account.
    mapping(address => uint256) public balanceOf;
    /// `allowance[owner][spender]`: what `spender` may still move from `owner`.
    mapping(address => mapping(address => uint256)) public allowance;

    /// ERC-20's transfer event (also for minting, from the zero address).
    event Transfer(address indexed from, address indexed to, uint256 value);
    /// ERC-20's approval event.
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// `account` holds `balance`, less than the `needed` amount.
    error InsufficientBalance(address account, uint256 balance, uint256 needed);
    /// `spender` may move `allowance`, less than the `needed` amount.
    error InsufficientAllowance(address spender, uint256 allowance, uint256 needed);

    constructor(string memory name_, string memory symbol_, uint8 decimals_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
    }

    /// Creates `amount` for `to`; open to anyone (tests fund accounts with it). Reverts (panic
    /// 0x11) if the total supply would overflow. Emits `Transfer(0, to, amount)`.
    function mint(address to, uint256 amount) external {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function _approve(address spender, uint256 amount) internal {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
    }

    /// Takes `amount` off what the caller may move from `from`; `type(uint256).max` is an
    /// infinite allowance and is never decreased (as OpenZeppelin's ERC20 does).
    function _spend(address from, uint256 amount) internal {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < amount) revert InsufficientAllowance(msg.sender, allowed, amount);
            allowance[from][msg.sender] = allowed - amount;
        }
    }

    function _move(address from, address to, uint256 amount) internal virtual {
        uint256 balance = balanceOf[from];
        if (balance < amount) revert InsufficientBalance(from, balance, amount);
        unchecked {
            balanceOf[from] = balance - amount;
        }
        // Cannot overflow: the sum of all balances is the total supply.
        unchecked {
            balanceOf[to] += amount;
        }
        emit Transfer(from, to, amount);
    }
}

/// A plain ERC-20: `transfer`, `transferFrom` and `approve` return `true`; a short balance or
/// allowance reverts with a typed error.
contract StandardToken is TokenBase {
    constructor() TokenBase("Standard Token", "STD", 18) {}

    /// Moves `amount` from the caller to `to`; returns true.
    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    /// Moves `amount` from `from` to `to` on the caller's allowance; returns true.
    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }

    /// Lets `spender` move `amount` of the caller's tokens; returns true.
    function approve(address spender, uint256 amount) external returns (bool) {
        _approve(spender, amount);
        return true;
    }
}

/// A token whose `transfer`, `transferFrom` and `approve` return nothing, as Tether's USDT on
/// Ethereum does (its `approve` too). Failures still revert. A caller that decodes a `bool` from
/// the return data reverts on every call; OpenZeppelin's SafeERC20 accepts empty return data
/// from an account that has code.
contract NoReturnToken is TokenBase {
    constructor() TokenBase("No Return Token", "NRT", 6) {}

    /// Moves `amount` from the caller to `to`; returns nothing.
    function transfer(address to, uint256 amount) external {
        _move(msg.sender, to, amount);
    }

    /// Moves `amount` from `from` to `to` on the caller's allowance; returns nothing.
    function transferFrom(address from, address to, uint256 amount) external {
        _spend(from, amount);
        _move(from, to, amount);
    }

    /// Lets `spender` move `amount` of the caller's tokens; returns nothing.
    function approve(address spender, uint256 amount) external {
        _approve(spender, amount);
    }
}

/// A token that keeps 1 % (rounded down) of every transfer for `FEE_SINK`: the receiver gets
/// less than the amount named, so a contract that credits the amount it asked for instead of
/// what arrived over-credits. The sender pays the amount named; the allowance drops by it.
contract FeeToken is TokenBase {
    /// Where the fees go.
    address public constant FEE_SINK = address(0xFEE);

    constructor() TokenBase("Fee Token", "FEE", 18) {}

    /// Moves `amount` from the caller: `amount - amount / 100` to `to`, the rest to `FEE_SINK`.
    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    /// As `transfer`, from `from` on the caller's allowance (which drops by `amount`).
    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }

    /// Lets `spender` move `amount` of the caller's tokens; returns true.
    function approve(address spender, uint256 amount) external returns (bool) {
        _approve(spender, amount);
        return true;
    }

    function _move(address from, address to, uint256 amount) internal override {
        uint256 balance = balanceOf[from];
        if (balance < amount) revert InsufficientBalance(from, balance, amount);
        uint256 fee = amount / 100;
        unchecked {
            balanceOf[from] = balance - amount;
            balanceOf[to] += amount - fee;
            balanceOf[FEE_SINK] += fee;
        }
        emit Transfer(from, to, amount - fee);
        emit Transfer(from, FEE_SINK, fee);
    }
}

/// A token with a blocklist, as USDC has: a transfer from or to a blocked account, or a
/// `transferFrom` by a blocked spender, reverts with `Blocked(account)` (USDC reverts with a
/// string; a typed error lets tests tell this refusal from the others). `approve` and `mint`
/// are not checked; anything else behaves as `StandardToken`.
contract BlockingToken is TokenBase {
    /// Whether an account is blocked.
    mapping(address => bool) public blocked;

    /// `account` is blocked.
    error Blocked(address account);

    constructor() TokenBase("Blocking Token", "BLK", 6) {}

    /// Blocks (`value` true) or unblocks `account`; open to anyone (tests play the token's owner).
    function setBlocked(address account, bool value) external {
        blocked[account] = value;
    }

    /// Moves `amount` from the caller to `to`; returns true. Reverts with `Blocked` if either is
    /// blocked.
    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    /// Moves `amount` from `from` to `to` on the caller's allowance; returns true. Reverts with
    /// `Blocked` if the caller, `from` or `to` is blocked (checked in that order).
    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        if (blocked[msg.sender]) revert Blocked(msg.sender);
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }

    /// Lets `spender` move `amount` of the caller's tokens; returns true.
    function approve(address spender, uint256 amount) external returns (bool) {
        _approve(spender, amount);
        return true;
    }

    function _move(address from, address to, uint256 amount) internal override {
        if (blocked[from]) revert Blocked(from);
        if (blocked[to]) revert Blocked(to);
        super._move(from, to, amount);
    }
}

/// A token that answers `false` instead of reverting when a transfer cannot be made (a short
/// balance, or for `transferFrom` a short allowance), moving nothing — as some early ERC-20s
/// (0x's ZRX among them) do. A caller that ignores the return value credits a deposit that never came.
contract FalseToken is TokenBase {
    constructor() TokenBase("False Token", "FLS", 18) {}

    /// Moves `amount` from the caller to `to` and returns true, or returns false and moves
    /// nothing if the caller's balance is short.
    function transfer(address to, uint256 amount) external returns (bool) {
        if (balanceOf[msg.sender] < amount) return false;
        _move(msg.sender, to, amount);
        return true;
    }

    /// Moves `amount` from `from` to `to` on the caller's allowance and returns true, or returns
    /// false and changes nothing if the balance or the allowance is short.
    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        if (balanceOf[from] < amount || allowance[from][msg.sender] < amount) return false;
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }

    /// Lets `spender` move `amount` of the caller's tokens; returns true.
    function approve(address spender, uint256 amount) external returns (bool) {
        _approve(spender, amount);
        return true;
    }
}
