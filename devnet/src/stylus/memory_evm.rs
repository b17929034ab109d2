//! An in-memory chain for running programs without the full devnet: accounts with storage,
//! programs at addresses, logs, the ecrecover precompile, and all-or-nothing transactions.
//!
//! It exists so a program's behaviour can be tested with nothing but its WASM. It has no EVM
//! interpreter: a call reaches a program deployed here, the ecrecover precompile, or a handler
//! registered for the address (a closure standing in for a contract); any other address succeeds
//! with empty output, like a call to an account without code.

use std::{
    collections::{HashMap, HashSet},
    rc::Rc,
};

use alloy_primitives::{keccak256, Address, B256, KECCAK256_EMPTY, U256};
use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};

use super::api::{CallContext, CallKind, CallResult, CreateResult, EvmApi};
use super::exec::{Outcome, Program};
use super::pages::Pages;

/// A log emitted by a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmittedLog {
    /// The emitting program.
    pub address: Address,
    /// Topics.
    pub topics: Vec<B256>,
    /// Data.
    pub data: Vec<u8>,
}

/// What a transaction did.
#[derive(Clone, Debug)]
pub struct Receipt {
    /// The program's outcome.
    pub outcome: Outcome,
    /// Logs (empty unless it succeeded).
    pub logs: Vec<EmittedLog>,
    /// Storage slots whose value changed.
    pub slots_written: usize,
    /// The refund counter at the end (EIP-2200/3529 storage refunds, before any cap).
    pub refund: i64,
}

#[derive(Clone, Default)]
struct State {
    storage: HashMap<(Address, B256), B256>,
    balances: HashMap<Address, U256>,
    logs: Vec<EmittedLog>,
    /// EIP-2929 access list of the transaction (reverted with the frame, as geth's journal does).
    warm_accounts: HashSet<Address>,
    warm_slots: HashSet<(Address, B256)>,
    refund: i64,
}

/// A closure answering calls to one address: `(kind, input, value) -> result`.
pub type CallHandler = Box<dyn FnMut(CallKind, &[u8], U256) -> CallResult>;

/// An in-memory chain: see the module docs.
#[derive(Default)]
pub struct MemoryEvm {
    state: State,
    transient: HashMap<(Address, B256), B256>,
    programs: HashMap<Address, Rc<Program>>,
    handlers: HashMap<Address, CallHandler>,
    /// Block and chain context of the next transaction.
    pub block: CallContext,
    frames: Vec<CallContext>,
    /// Storage at the start of the transaction (EIP-2200's "original" values).
    committed: HashMap<(Address, B256), B256>,
    /// Stylus pages open and ever open in the transaction.
    pages: Pages,
}

/// The ecrecover precompile's address.
pub const ECRECOVER: Address = Address::with_last_byte(1);

/// Ethereum's ecrecover precompile: 32-byte left-padded signer, or empty output when the input
/// does not recover (it never reverts). High-s signatures are accepted, as on Ethereum.
pub fn ecrecover(input: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 128];
    let n = input.len().min(128);
    buf[..n].copy_from_slice(&input[..n]);
    if buf[32..63].iter().any(|b| *b != 0) || !(buf[63] == 27 || buf[63] == 28) {
        return vec![];
    }
    let Ok(sig) = Signature::from_slice(&buf[64..128]) else {
        return vec![]; // r or s zero or not below the curve order
    };
    let Ok(key) = VerifyingKey::recover_from_prehash(&buf[..32], &sig, RecoveryId::new(buf[63] == 28, false)) else {
        return vec![];
    };
    let mut out = vec![0u8; 12];
    out.extend_from_slice(Address::from_public_key(&key).as_slice());
    out
}

impl MemoryEvm {
    /// An empty chain with the default block context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts an activated program at `address`.
    pub fn deploy(&mut self, address: Address, program: Program) {
        self.programs.insert(address, Rc::new(program));
    }

    /// Answers calls to `address` with `handler` (a stand-in for a contract this chain cannot
    /// run). The handler sees the call kind, input and value; its result goes back to the
    /// program as is, and a failed result reverts the state changes made within the call.
    pub fn register(&mut self, address: Address, handler: impl FnMut(CallKind, &[u8], U256) -> CallResult + 'static) {
        self.handlers.insert(address, Box::new(handler));
    }

    /// Storage of `address` at `key`.
    pub fn storage(&self, address: Address, key: B256) -> B256 {
        self.state.storage.get(&(address, key)).copied().unwrap_or_default()
    }

    /// Every log emitted so far.
    pub fn logs(&self) -> &[EmittedLog] {
        &self.state.logs
    }

    /// Sets the balance of an account.
    pub fn set_balance(&mut self, account: Address, balance: U256) {
        self.state.balances.insert(account, balance);
    }

    /// Runs a transaction from `from` to the program at `to`; a failed call changes nothing.
    pub fn transact(&mut self, from: Address, to: Address, calldata: &[u8], gas: u64) -> Receipt {
        self.transient.clear();
        self.pages = Pages::default();
        self.committed = self.state.storage.clone();
        self.state.refund = 0;
        // EIP-2929: sender, recipient and the precompiles start warm.
        self.state.warm_slots.clear();
        self.state.warm_accounts = (1..=10u8).map(Address::with_last_byte).chain([from, to]).collect();
        let before = self.state.clone();
        let outcome = self.run(from, from, to, calldata, U256::ZERO, gas, false);
        if !outcome.is_success() {
            self.state = before;
            return Receipt { outcome, logs: vec![], slots_written: 0, refund: 0 };
        }
        let logs = self.state.logs[before.logs.len()..].to_vec();
        let slots_written = self
            .state
            .storage
            .iter()
            .filter(|(k, v)| before.storage.get(k).copied().unwrap_or_default() != **v)
            .count();
        Receipt { outcome, logs, slots_written, refund: self.state.refund }
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        origin: Address,
        sender: Address,
        to: Address,
        input: &[u8],
        value: U256,
        gas: u64,
        is_static: bool,
    ) -> Outcome {
        let Some(program) = self.programs.get(&to).cloned() else {
            return Outcome { status: super::Status::Success, output: vec![], gas_used: 0 };
        };
        let reentrant = self.frames.iter().any(|f| f.address == to);
        let ctx = CallContext { address: to, sender, value, origin, reentrant, is_static, ..self.block.clone() };
        self.frames.push(ctx.clone());
        let outcome = program.execute(self, &ctx, input, gas);
        self.frames.pop();
        outcome
    }

    fn here(&self) -> Address {
        self.frames.last().map(|f| f.address).unwrap_or_default()
    }
}

impl EvmApi for MemoryEvm {
    fn storage_load(&mut self, key: B256) -> (B256, bool) {
        let here = self.here();
        let cold = self.state.warm_slots.insert((here, key));
        (self.storage(here, key), cold)
    }

    fn storage_store(&mut self, key: B256, value: B256) -> u64 {
        let here = self.here();
        let cold = self.state.warm_slots.insert((here, key));
        let current = self.storage(here, key);
        let original = self.committed.get(&(here, key)).copied().unwrap_or_default();
        let (gas, refund) = super::meter::sstore_cost(original, current, value, cold);
        self.state.refund += refund;
        self.state.storage.insert((here, key), value);
        gas
    }

    fn access_account(&mut self, account: Address) -> bool {
        self.state.warm_accounts.insert(account)
    }

    fn is_empty(&mut self, account: Address) -> bool {
        !self.programs.contains_key(&account)
            && !self.handlers.contains_key(&account)
            && self.state.balances.get(&account).is_none_or(|b| b.is_zero())
    }

    fn transient_load(&mut self, key: B256) -> B256 {
        self.transient.get(&(self.here(), key)).copied().unwrap_or_default()
    }

    fn transient_store(&mut self, key: B256, value: B256) {
        let here = self.here();
        self.transient.insert((here, key), value);
    }

    fn call(&mut self, kind: CallKind, to: Address, input: &[u8], value: U256, gas: u64) -> CallResult {
        if to == ECRECOVER {
            if gas < 3_000 {
                return CallResult { success: false, output: vec![], gas_used: gas };
            }
            return CallResult { success: true, output: ecrecover(input), gas_used: 3_000 };
        }
        if let Some(handler) = self.handlers.get_mut(&to) {
            let value = if kind == CallKind::Call { value } else { U256::ZERO };
            return handler(kind, input, value);
        }
        let frame = self.frames.last().cloned().unwrap_or_default();
        let checkpoint = self.state.clone();
        let outcome = match kind {
            CallKind::Call => self.run(frame.origin, frame.address, to, input, value, gas, frame.is_static),
            CallKind::Static => self.run(frame.origin, frame.address, to, input, U256::ZERO, gas, true),
            // The callee's code in our context: same address, sender and value.
            CallKind::Delegate => match self.programs.get(&to).cloned() {
                Some(p) => {
                    let ctx = frame.clone();
                    self.frames.push(ctx.clone());
                    let out = p.execute(self, &ctx, input, gas);
                    self.frames.pop();
                    out
                }
                None => Outcome { status: super::Status::Success, output: vec![], gas_used: 0 },
            },
        };
        if !outcome.is_success() {
            self.state = checkpoint;
        }
        CallResult { success: outcome.is_success(), output: outcome.output, gas_used: outcome.gas_used }
    }

    fn create(&mut self, _init_code: &[u8], _endowment: U256, _salt: Option<B256>, _gas: u64) -> CreateResult {
        // No EVM interpreter here to run init code: creation fails, as it would for init code
        // that reverts with no data. The revm-backed chain implements it.
        CreateResult { address: None, output: vec![], gas_used: 0 }
    }

    fn emit_log(&mut self, topics: Vec<B256>, data: Vec<u8>) {
        let address = self.here();
        self.state.logs.push(EmittedLog { address, topics, data });
    }

    fn balance(&mut self, account: Address) -> U256 {
        self.state.balances.get(&account).copied().unwrap_or_default()
    }

    fn code(&mut self, account: Address) -> Vec<u8> {
        self.programs.get(&account).map(|p| p.code().to_vec()).unwrap_or_default()
    }

    /// EIP-1052: the hash of the code; `keccak256("")` for an account that exists (here: has a
    /// balance) without code; zero for an account that does not exist.
    fn code_hash(&mut self, account: Address) -> B256 {
        match self.programs.get(&account) {
            Some(p) => keccak256(p.code()),
            None if self.state.balances.get(&account).is_some_and(|b| !b.is_zero()) => KECCAK256_EMPTY,
            None => B256::ZERO,
        }
    }

    fn pages(&mut self) -> &mut Pages {
        &mut self.pages
    }
}
