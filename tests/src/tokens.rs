//! The test tokens (`tests/solidity/tokens/TestTokens.sol`) on the devnet: a standard ERC-20 and
//! four that misbehave as deployed tokens do (no return value, a fee on transfer, a blocklist,
//! `false` instead of a revert), for the escrow's ERC-20 tests.
//!
//! The tests never run solc: they deploy the creation code `scripts/build-solidity.sh` compiled
//! and committed beside the source, by an ordinary creation transaction, so each token is a real
//! contract with its constructor's storage (name, symbol) and immutables (decimals).
//!
//! Two ways to reach them, behind one [`TokenHarness`] so a behaviour is written once and checked
//! on both:
//! - [`ChainTokens`]: the devnet's in-process [`Chain`], transactions executed directly (what
//!   `tests/escrow_wasm.rs` uses); the free functions [`deploy_on`], [`mint_on`], [`balance_on`]
//!   and [`approve_on`] serve synchronous tests on a chain they own;
//! - [`RpcTokens`]: any JSON-RPC endpoint (the devnet served over HTTP, as the end-to-end tests
//!   run it, or a nitro devnode), transactions signed with alloy and mined; a call's return data
//!   is read by `eth_call` against the state the transaction then runs on.

use std::collections::HashMap;
use std::time::Duration;

use alloy_network::{EthereumWallet, TransactionBuilder};
use alloy_primitives::{address, keccak256, Address, Bytes, Log, U256};
use alloy_provider::{DynProvider, Provider, ProviderBuilder};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{sol, SolCall, SolInterface};
use avocado_devnet::chain::{Chain, Executed, DEV_ACCOUNT};
use revm::{context_interface::result::ExecutionResult, primitives::TxKind};

sol! {
    /// The test tokens' ABI: ERC-20, `mint`, and the blocking token's `setBlocked`.
    ///
    /// `transfer`, `transferFrom` and `approve` are declared as the standard has them (returning
    /// `bool`); [`TestToken::NoReturn`] returns nothing from them, which is the point: decoding
    /// its answer with these bindings fails, as it fails for a contract written against the
    /// standard.
    #[derive(Debug, PartialEq, Eq)]
    interface ITestToken {
        /// ERC-20's transfer event (minting: from the zero address).
        event Transfer(address indexed from, address indexed to, uint256 value);
        /// ERC-20's approval event.
        event Approval(address indexed owner, address indexed spender, uint256 value);

        /// A balance is short of the amount to move.
        error InsufficientBalance(address account, uint256 balance, uint256 needed);
        /// An allowance is short of the amount to move.
        error InsufficientAllowance(address spender, uint256 allowance, uint256 needed);
        /// The account is on the blocking token's blocklist.
        error Blocked(address account);

        function name() external view returns (string memory);
        function symbol() external view returns (string memory);
        function decimals() external view returns (uint8);
        function totalSupply() external view returns (uint256);
        function balanceOf(address account) external view returns (uint256);
        function allowance(address owner, address spender) external view returns (uint256);
        function mint(address to, uint256 amount) external;
        function approve(address spender, uint256 amount) external returns (bool);
        function transfer(address to, uint256 amount) external returns (bool);
        function transferFrom(address from, address to, uint256 amount) external returns (bool);
        function setBlocked(address account, bool value) external;
        function blocked(address account) external view returns (bool);
        function FEE_SINK() external view returns (address);
    }
}

/// Where [`TestToken::Fee`] sends its fees (`FeeToken.FEE_SINK`).
pub const FEE_SINK: Address = address!("0000000000000000000000000000000000000FEE");

/// The fee [`TestToken::Fee`] keeps on a transfer of `amount`: 1 %, rounded down.
pub fn fee(amount: U256) -> U256 {
    amount / U256::from(100u64)
}

/// One of the test tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TestToken {
    /// `StandardToken`: returns `true`, reverts with a typed error on a short balance or allowance.
    Standard,
    /// `NoReturnToken`: `transfer`, `transferFrom` and `approve` return no data (USDT on Ethereum).
    NoReturn,
    /// `FeeToken`: keeps 1 % of every transfer for [`FEE_SINK`].
    Fee,
    /// `BlockingToken`: reverts with `Blocked(account)` for a blocked sender, receiver or spender.
    Blocking,
    /// `FalseToken`: returns `false` and moves nothing instead of reverting.
    False,
}

impl TestToken {
    /// Every test token.
    pub const ALL: [TestToken; 5] =
        [TestToken::Standard, TestToken::NoReturn, TestToken::Fee, TestToken::Blocking, TestToken::False];

    /// The Solidity contract's name.
    pub fn contract(self) -> &'static str {
        match self {
            TestToken::Standard => "StandardToken",
            TestToken::NoReturn => "NoReturnToken",
            TestToken::Fee => "FeeToken",
            TestToken::Blocking => "BlockingToken",
            TestToken::False => "FalseToken",
        }
    }

    /// The symbol its constructor sets.
    pub fn symbol(self) -> &'static str {
        match self {
            TestToken::Standard => "STD",
            TestToken::NoReturn => "NRT",
            TestToken::Fee => "FEE",
            TestToken::Blocking => "BLK",
            TestToken::False => "FLS",
        }
    }

    /// The decimals its constructor sets (6 for the two modelled on USDT and USDC).
    pub fn decimals(self) -> u8 {
        match self {
            TestToken::NoReturn | TestToken::Blocking => 6,
            TestToken::Standard | TestToken::Fee | TestToken::False => 18,
        }
    }

    /// Its creation code, as committed (`tests/solidity/tokens/<Contract>.bin`, hex). The
    /// constructors take no arguments: this is the whole of a creation transaction's data.
    pub fn creation_code(self) -> Vec<u8> {
        let hex = match self {
            TestToken::Standard => include_str!("../solidity/tokens/StandardToken.bin"),
            TestToken::NoReturn => include_str!("../solidity/tokens/NoReturnToken.bin"),
            TestToken::Fee => include_str!("../solidity/tokens/FeeToken.bin"),
            TestToken::Blocking => include_str!("../solidity/tokens/BlockingToken.bin"),
            TestToken::False => include_str!("../solidity/tokens/FalseToken.bin"),
        };
        alloy_primitives::hex::decode(hex.trim())
            .unwrap_or_else(|_| panic!("{}.bin is hex (scripts/build-solidity.sh --write)", self.contract()))
    }
}

/// What a transaction or call did, as its caller sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The return data on success, the revert data on failure.
    pub result: Result<Bytes, Bytes>,
    /// The logs of a successful transaction (none for a call or a revert).
    pub logs: Vec<Log>,
}

impl Outcome {
    /// Whether it succeeded.
    pub fn is_success(&self) -> bool {
        self.result.is_ok()
    }

    /// The return data; panics on a revert.
    pub fn returned(&self) -> &Bytes {
        match &self.result {
            Ok(data) => data,
            Err(data) => panic!("reverted with {data}"),
        }
    }

    /// The `bool` a standard ERC-20 returns, decoded as a contract compiled against the standard
    /// decodes it (failing on empty or malformed data); panics on a revert.
    pub fn returned_bool(&self) -> Result<bool, alloy_sol_types::Error> {
        ITestToken::transferCall::abi_decode_returns_validate(self.returned())
    }

    /// The token's typed error; panics on success or on revert data that is not one.
    pub fn error(&self) -> ITestToken::ITestTokenErrors {
        match &self.result {
            Ok(data) => panic!("succeeded with {data}"),
            Err(data) => ITestToken::ITestTokenErrors::abi_decode(data)
                .unwrap_or_else(|_| panic!("reverted with {data}, not a token error")),
        }
    }

    /// The `Transfer` events among the logs, as `(token, from, to, value)`.
    pub fn transfers(&self) -> Vec<(Address, Address, Address, U256)> {
        self.logs
            .iter()
            .filter_map(|l| {
                use alloy_sol_types::SolEvent;
                let e = ITestToken::Transfer::decode_log(l).ok()?;
                Some((l.address, e.from, e.to, e.value))
            })
            .collect()
    }
}

/// A chain the tokens run on, reached one way or another. Everything a test does to a token is
/// written once against this and checked on each implementation.
// The futures are awaited by the test's own runtime; nothing needs them to be `Send`.
#[allow(async_fn_in_trait)]
pub trait TokenHarness {
    /// Deploys `token` with a creation transaction; returns its address.
    async fn deploy(&mut self, token: TestToken) -> Address;
    /// A fresh account named by `seed`, funded to pay gas.
    async fn account(&mut self, seed: &str) -> Address;
    /// Sends a transaction from `from` (an account made by [`TokenHarness::account`], or the
    /// deployer) to `to`, and mines it.
    async fn send(&mut self, from: Address, to: Address, data: Vec<u8>) -> Outcome;
    /// Calls `to` from `from` against the latest state, changing nothing.
    async fn read(&mut self, from: Address, to: Address, data: Vec<u8>) -> Outcome;

    /// A view returning one value, decoded by the standard's bindings.
    async fn view<C: SolCall>(&mut self, token: Address, call: C) -> C::Return {
        let out = self.read(Address::ZERO, token, call.abi_encode()).await;
        C::abi_decode_returns(out.returned()).expect("a well-formed answer")
    }
    /// `balanceOf(who)`.
    async fn balance_of(&mut self, token: Address, who: Address) -> U256 {
        self.view(token, ITestToken::balanceOfCall { account: who }).await
    }
    /// `allowance(owner, spender)`.
    async fn allowance(&mut self, token: Address, owner: Address, spender: Address) -> U256 {
        self.view(token, ITestToken::allowanceCall { owner, spender }).await
    }
    /// `mint(to, amount)` from the deployer; panics if it fails.
    async fn mint(&mut self, token: Address, to: Address, amount: U256) {
        let out = self.send(DEV_ACCOUNT, token, ITestToken::mintCall { to, amount }.abi_encode()).await;
        assert!(out.is_success(), "mint failed: {:?}", out.result);
    }
    /// `approve(spender, amount)` from `owner`.
    async fn approve(&mut self, token: Address, owner: Address, spender: Address, amount: U256) -> Outcome {
        self.send(owner, token, ITestToken::approveCall { spender, amount }.abi_encode()).await
    }
    /// `transfer(to, amount)` from `from`.
    async fn transfer(&mut self, token: Address, from: Address, to: Address, amount: U256) -> Outcome {
        self.send(from, token, ITestToken::transferCall { to, amount }.abi_encode()).await
    }
    /// `transferFrom(from, to, amount)` sent by `spender`.
    async fn transfer_from(
        &mut self,
        token: Address,
        spender: Address,
        from: Address,
        to: Address,
        amount: U256,
    ) -> Outcome {
        self.send(spender, token, ITestToken::transferFromCall { from, to, amount }.abi_encode()).await
    }
    /// `setBlocked(account, value)` from the deployer (the blocking token only); panics if it fails.
    async fn set_blocked(&mut self, token: Address, account: Address, value: bool) {
        let out = self.send(DEV_ACCOUNT, token, ITestToken::setBlockedCall { account, value }.abi_encode()).await;
        assert!(out.is_success(), "setBlocked failed: {:?}", out.result);
    }
}

fn outcome(r: Executed) -> Outcome {
    match r.result {
        ExecutionResult::Success { output, logs, .. } => Outcome { result: Ok(output.into_data()), logs },
        ExecutionResult::Revert { output, .. } => Outcome { result: Err(output), logs: Vec::new() },
        ExecutionResult::Halt { reason, .. } => panic!("the token halted: {reason:?}"),
    }
}

/// Deploys `token` on `chain` with a creation transaction from [`DEV_ACCOUNT`]; returns its address.
pub fn deploy_on(chain: &mut Chain, token: TestToken) -> Address {
    let r = chain.send(DEV_ACCOUNT, TxKind::Create, token.creation_code(), U256::ZERO).expect("a valid transaction");
    assert!(r.is_success(), "{} creation failed: {:?}", token.contract(), r.result);
    r.contract_address.expect("a created contract")
}

/// Mints `amount` of the token at `token` for `to` (a transaction from [`DEV_ACCOUNT`]).
pub fn mint_on(chain: &mut Chain, token: Address, to: Address, amount: U256) {
    let r = chain
        .send(DEV_ACCOUNT, TxKind::Call(token), ITestToken::mintCall { to, amount }.abi_encode(), U256::ZERO)
        .expect("a valid transaction");
    assert!(r.is_success(), "mint failed: {:?}", r.result);
}

/// `balanceOf(who)` of the token at `token`.
pub fn balance_on(chain: &mut Chain, token: Address, who: Address) -> U256 {
    let r = chain.view(Address::ZERO, token, ITestToken::balanceOfCall { account: who }.abi_encode()).unwrap();
    ITestToken::balanceOfCall::abi_decode_returns(&r.output()).expect("a balance")
}

/// `approve(spender, amount)` sent by `owner` (which must hold ETH for gas); returns the transaction.
pub fn approve_on(chain: &mut Chain, token: Address, owner: Address, spender: Address, amount: U256) -> Executed {
    chain
        .send(owner, TxKind::Call(token), ITestToken::approveCall { spender, amount }.abi_encode(), U256::ZERO)
        .expect("a valid transaction")
}

/// The tokens on the devnet's in-process chain.
pub struct ChainTokens {
    /// The chain.
    pub chain: Chain,
}

impl TokenHarness for ChainTokens {
    async fn deploy(&mut self, token: TestToken) -> Address {
        deploy_on(&mut self.chain, token)
    }
    async fn account(&mut self, seed: &str) -> Address {
        let who = Address::from_word(keccak256(seed));
        self.chain.set_balance(who, U256::from(10u64).pow(U256::from(18u64)));
        who
    }
    async fn send(&mut self, from: Address, to: Address, data: Vec<u8>) -> Outcome {
        outcome(self.chain.send(from, TxKind::Call(to), data, U256::ZERO).expect("a valid transaction"))
    }
    async fn read(&mut self, from: Address, to: Address, data: Vec<u8>) -> Outcome {
        outcome(self.chain.view(from, to, data).expect("a valid call"))
    }
}

/// Transactions from a funding key, one at a time across the tests of one binary.
static FUNDER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The tokens over JSON-RPC: transactions signed with alloy by keys this harness holds (the
/// funding key, which plays [`DEV_ACCOUNT`]'s part, and one per [`TokenHarness::account`]).
///
/// A transaction's return data is not in its receipt, so [`TokenHarness::send`] first runs the
/// same call with `eth_call` against the latest state (the state the transaction runs on, as
/// long as nobody else sends to the token meanwhile), then sends it with that call's gas estimate
/// (or 1,000,000 gas when it reverts, so the revert is mined rather than refused), waits for the
/// receipt, and checks the two agree.
pub struct RpcTokens {
    rpc: String,
    reader: DynProvider,
    funder: PrivateKeySigner,
    keys: HashMap<Address, PrivateKeySigner>,
}

impl RpcTokens {
    /// Connects to `rpc`; `funder` deploys, mints, blocks and funds the accounts. Its address
    /// answers to [`DEV_ACCOUNT`] as a sender.
    pub fn new(rpc: &str, funder: PrivateKeySigner) -> Self {
        let reader = ProviderBuilder::new().connect_http(rpc.parse().expect("an RPC URL")).erased();
        Self { rpc: rpc.to_string(), reader, funder, keys: HashMap::new() }
    }

    /// The key sending as `from`.
    fn key(&self, from: Address) -> PrivateKeySigner {
        if from == DEV_ACCOUNT || from == self.funder.address() {
            return self.funder.clone();
        }
        self.keys.get(&from).cloned().unwrap_or_else(|| panic!("no key for {from}: make it with account()"))
    }

    /// Signs and sends `tx` from `key`, and waits for its receipt.
    async fn mine(&self, key: PrivateKeySigner, tx: TransactionRequest) -> alloy_rpc_types_eth::TransactionReceipt {
        // The funding key may be shared by the tests of one binary on an external chain: one
        // transaction of its at a time keeps its nonces in order.
        let _one_at_a_time = if key.address() == self.funder.address() { Some(FUNDER.lock().await) } else { None };
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(key))
            .connect_http(self.rpc.parse().expect("an RPC URL"));
        let hash = *provider.send_transaction(tx).await.expect("the transaction is accepted").tx_hash();
        for _ in 0..2_000 {
            if let Some(r) = provider.get_transaction_receipt(hash).await.expect("a receipt query") {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("transaction {hash} not mined")
    }

    /// The RPC answer to an `eth_call`: return data, or revert data.
    async fn call(&self, from: Address, to: Address, data: Vec<u8>) -> Result<Bytes, Bytes> {
        let tx = TransactionRequest::default().with_from(from).with_to(to).with_input(data);
        match self.reader.call(tx).await {
            Ok(out) => Ok(out),
            Err(e) => Err(e
                .as_error_resp()
                .and_then(|p| p.as_revert_data())
                .unwrap_or_else(|| panic!("eth_call failed without revert data: {e}"))),
        }
    }
}

impl TokenHarness for RpcTokens {
    async fn deploy(&mut self, token: TestToken) -> Address {
        let tx = TransactionRequest::default().with_deploy_code(Bytes::from(token.creation_code()));
        let r = self.mine(self.funder.clone(), tx).await;
        assert!(r.status(), "{} creation failed", token.contract());
        r.contract_address.expect("a created contract")
    }
    async fn account(&mut self, seed: &str) -> Address {
        let key = PrivateKeySigner::from_bytes(&keccak256(format!("{seed} {}", std::process::id()))).unwrap();
        let who = key.address();
        let tx = TransactionRequest::default().with_to(who).with_value(U256::from(10u64).pow(U256::from(17u64)));
        assert!(self.mine(self.funder.clone(), tx).await.status(), "funding {who} failed");
        self.keys.insert(who, key);
        who
    }
    async fn send(&mut self, from: Address, to: Address, data: Vec<u8>) -> Outcome {
        let key = self.key(from);
        let from = key.address();
        let predicted = self.call(from, to, data.clone()).await;
        let mut tx = TransactionRequest::default().with_from(from).with_to(to).with_input(data);
        if predicted.is_err() {
            tx = tx.with_gas_limit(30_000_000); // room for the L1 poster gas (about 8,000 a compressed byte)
        }
        let receipt = self.mine(key, tx).await;
        assert_eq!(receipt.status(), predicted.is_ok(), "eth_call and the mined transaction disagree: {predicted:?}");
        let logs = receipt.inner.logs().iter().map(|l| l.inner.clone()).collect();
        Outcome { result: predicted, logs }
    }
    async fn read(&mut self, from: Address, to: Address, data: Vec<u8>) -> Outcome {
        Outcome { result: self.call(from, to, data).await, logs: Vec::new() }
    }
}
