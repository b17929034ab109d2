//! The chain as a running program sees it.
//!
//! A Stylus program never touches chain state directly: every read and write goes through a
//! `vm_hooks` import, and every hook that needs the chain goes through [`EvmApi`]. The in-memory
//! [`MemoryEvm`](super::MemoryEvm) implements it for tests; the revm-backed chain implements it
//! with its journal, so nested calls, reverts and value transfers follow the EVM's rules.

use alloy_primitives::{Address, B256, U256};

use super::pages::Pages;

/// How a program calls another contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// `CALL`, with value.
    Call,
    /// `DELEGATECALL`: the callee's code in the caller's context.
    Delegate,
    /// `STATICCALL`: no state changes allowed.
    Static,
}

/// The result of a call made by a program.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallResult {
    /// Whether the callee succeeded.
    pub success: bool,
    /// Return data or revert data.
    pub output: Vec<u8>,
    /// Gas the callee used.
    pub gas_used: u64,
}

/// The result of a contract creation made by a program.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreateResult {
    /// The new contract, or `None` if the creation failed.
    pub address: Option<Address>,
    /// Revert data of a failed creation (empty on success).
    pub output: Vec<u8>,
    /// Gas the init code used.
    pub gas_used: u64,
}

/// Chain state and effects, as reached through the `vm_hooks`.
///
/// Access lists (EIP-2929) and refunds live on this side, as they live in geth's StateDB for
/// Nitro: the host asks whether a slot or an account was cold and prices the access itself.
pub trait EvmApi {
    /// Persistent storage of the running program, and whether the slot was cold in this
    /// transaction (it is warm afterwards).
    fn storage_load(&mut self, key: B256) -> (B256, bool);
    /// Writes persistent storage of the running program (called at cache flush) and returns
    /// the gas Nitro's `WasmStateStoreCost` charges for it ([`sstore_cost`]); the refund it
    /// implies is recorded as the EVM records an SSTORE's.
    ///
    /// [`sstore_cost`]: super::meter::sstore_cost
    fn storage_store(&mut self, key: B256, value: B256) -> u64;
    /// Transient storage (EIP-1153) of the running program.
    fn transient_load(&mut self, key: B256) -> B256;
    /// Writes transient storage.
    fn transient_store(&mut self, key: B256, value: B256);
    /// Adds `account` to the transaction's access list; whether it was cold.
    fn access_account(&mut self, account: Address) -> bool;
    /// Whether `account` is empty (EIP-161: no code, nonce 0, balance 0).
    fn is_empty(&mut self, account: Address) -> bool;
    /// Calls another contract or precompile with exactly `gas` (access and value costs are the
    /// host's); `gas_used` of the result is what the callee used.
    fn call(&mut self, kind: CallKind, to: Address, input: &[u8], value: U256, gas: u64) -> CallResult;
    /// Creates a contract (`salt` given: CREATE2) with exactly `gas` for the init code.
    fn create(&mut self, init_code: &[u8], endowment: U256, salt: Option<B256>, gas: u64) -> CreateResult;
    /// Emits a log from the running program.
    fn emit_log(&mut self, topics: Vec<B256>, data: Vec<u8>);
    /// Balance of an account.
    fn balance(&mut self, account: Address) -> U256;
    /// Code of an account.
    fn code(&mut self, account: Address) -> Vec<u8>;
    /// Code hash of an account (zero for an empty account).
    fn code_hash(&mut self, account: Address) -> B256;
    /// The transaction's Stylus page counters (geth keeps them in its StateDB, per transaction;
    /// see [`pages`](super::pages)).
    fn pages(&mut self) -> &mut Pages;
}

/// Everything about the current call and block that a program can read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallContext {
    /// The running program's address.
    pub address: Address,
    /// `msg.sender`.
    pub sender: Address,
    /// `msg.value`.
    pub value: U256,
    /// `tx.origin`.
    pub origin: Address,
    /// Chain id.
    pub chain_id: u64,
    /// Block number.
    pub block_number: u64,
    /// Block timestamp, seconds.
    pub timestamp: u64,
    /// Base fee, wei.
    pub basefee: U256,
    /// Block coinbase.
    pub coinbase: Address,
    /// Block gas limit.
    pub block_gas_limit: u64,
    /// Effective gas price of the transaction.
    pub gas_price: U256,
    /// Whether the program is already on the call stack (reentrancy).
    pub reentrant: bool,
    /// Whether the call is static (no state changes allowed).
    pub is_static: bool,
}

impl Default for CallContext {
    fn default() -> Self {
        Self {
            address: Address::ZERO,
            sender: Address::ZERO,
            value: U256::ZERO,
            origin: Address::ZERO,
            chain_id: 412_346,
            block_number: 1,
            timestamp: 1_700_000_000,
            basefee: U256::from(100_000_000u64),
            coinbase: Address::ZERO,
            block_gas_limit: 32_000_000,
            gas_price: U256::from(100_000_000u64),
            reentrant: false,
            is_static: false,
        }
    }
}
