//! The devnet's chain: revm state and execution with Stylus frames and Arbitrum precompiles,
//! one block per transaction.
//!
//! [`Chain`] is the whole state machine and knows nothing of networking: the JSON-RPC server
//! drives it, and tests drive it directly.

pub mod arbos;
pub mod cache;
pub mod evm;
pub mod l1_pricing;
pub mod node_interface;
pub mod programs;

use std::convert::Infallible;

use alloy_primitives::{address, Address, Bytes, Log, B256, U256};
use revm::{
    context::{BlockEnv, CfgEnv, Context, ContextTr, JournalTr, TxEnv},
    context_interface::result::{EVMError, ExecutionResult, ResultAndState},
    database::{CacheDB, EmptyDB},
    handler::Handler,
    primitives::{hardfork::SpecId, TxKind},
    state::{AccountInfo, Bytecode},
    DatabaseCommit, DatabaseRef,
};

use evm::{Db, DevEvm, ProgramCache};

/// The Nitro devnode's prefunded development key's address.
pub const DEV_ACCOUNT: Address = address!("3f1Eae7D46d88F08fc2F8ed27FCb2AB183EB2d0E");
/// Nitro's base fee on a quiet chain: 0.1 gwei.
pub const BASE_FEE: u64 = 100_000_000;
/// Block gas limit.
pub const BLOCK_GAS_LIMIT: u64 = 1_125_899_906_842_624;

/// Chain parameters.
#[derive(Clone, Debug)]
pub struct ChainConfig {
    /// Chain id.
    pub chain_id: u64,
    /// Accounts funded at genesis, with their balances.
    pub funded: Vec<(Address, U256)>,
    /// Timestamp of the genesis block.
    pub genesis_timestamp: u64,
    /// L1 price per unit of poster data, wei ([`l1_pricing`]).
    pub l1_base_fee: U256,
    /// The ArbOS version the chain runs, 30 to 60 (see the README for the rules that depend on
    /// it); `ArbSys.arbOSVersion()` answers 55 more, as Nitro does.
    pub arbos_version: u64,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            chain_id: 412_346,
            funded: vec![(DEV_ACCOUNT, U256::from(10u64).pow(U256::from(30u64)))],
            genesis_timestamp: 1_700_000_000,
            l1_base_fee: U256::from(l1_pricing::DEFAULT_L1_BASE_FEE),
            arbos_version: programs::NEWEST_ARBOS_VERSION,
        }
    }
}

/// A transaction's effect, as a receipt reports it.
#[derive(Clone, Debug)]
pub struct Executed {
    /// revm's result (success with logs and output, revert, or halt).
    pub result: ExecutionResult,
    /// The created contract, for a creation.
    pub contract_address: Option<Address>,
    /// Storage slots whose value the transaction changed: (account, slot, new value).
    pub storage_changes: Vec<(Address, U256, U256)>,
    /// The part of the gas used that paid for L1 data (Nitro's `gasUsedForL1`).
    pub gas_used_for_l1: u64,
}

impl Executed {
    /// Whether the transaction succeeded.
    pub fn is_success(&self) -> bool {
        self.result.is_success()
    }

    /// Output (return data, revert data, or nothing).
    pub fn output(&self) -> Bytes {
        self.result.output().cloned().unwrap_or_default()
    }

    /// Logs of a successful transaction.
    pub fn logs(&self) -> &[Log] {
        self.result.logs()
    }

    /// Gas used by the transaction, its L1 part included (as in Nitro's receipts).
    pub fn gas_used(&self) -> u64 {
        self.result.tx_gas_used()
    }

    /// Gas used on L2 alone: [`gas_used`](Self::gas_used) without the L1 part.
    pub fn l2_gas_used(&self) -> u64 {
        self.gas_used().saturating_sub(self.gas_used_for_l1)
    }
}

/// Why a transaction cannot be included at all.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// revm refused the transaction (nonce, balance, gas limit, …).
    #[error("{0}")]
    Invalid(String),
}

/// The devnet's state machine.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Chain {
    db: Db,
    #[serde(skip)]
    programs: ProgramCache,
    /// Chain id.
    pub chain_id: u64,
    /// Number of the latest block.
    pub block_number: u64,
    /// Timestamp of the latest block.
    pub timestamp: u64,
    /// Added to the next block's timestamp (`evm_increaseTime`).
    pub time_offset: u64,
    /// When set, every new block gets this timestamp (tests and `evm_setNextBlockTimestamp`).
    pub pinned_timestamp: Option<u64>,
    /// L1 price per unit of poster data, wei (`L1PricingState.PricePerUnit`).
    #[serde(default = "default_l1_base_fee")]
    pub l1_base_fee: U256,
}

fn default_l1_base_fee() -> U256 {
    U256::from(l1_pricing::DEFAULT_L1_BASE_FEE)
}

impl Chain {
    /// A chain at genesis.
    pub fn new(config: &ChainConfig) -> Self {
        let mut db = CacheDB::new(EmptyDB::default());
        for (addr, balance) in &config.funded {
            db.insert_account_info(*addr, AccountInfo { balance: *balance, ..Default::default() });
        }
        // Like Nitro: every precompile address has code 0xFE, so Solidity sees code there; the
        // ArbOS state account has a nonce so it is never pruned as empty.
        for addr in arbos::ARB_PRECOMPILES.iter().chain([&address!("00000000000000000000000000000000000000ff")]) {
            db.insert_account_info(
                *addr,
                AccountInfo { code: Some(Bytecode::new_raw(Bytes::from_static(&[0xFE]))), ..Default::default() },
            );
        }
        db.insert_account_info(arbos::ARBOS_STATE, AccountInfo { nonce: 1, ..Default::default() });
        for (k, v) in
            programs::genesis_storage(config.arbos_version, programs::DEFAULT_STYLUS_VERSION, &[cache::CACHE_MANAGER])
        {
            let _ = db.insert_account_storage(arbos::ARBOS_STATE, k, v);
        }
        // The cache manager, registered above, with nitro-contracts' initial parameters.
        db.insert_account_info(
            cache::CACHE_MANAGER,
            AccountInfo { code: Some(Bytecode::new_raw(Bytes::from_static(&[0xFE]))), nonce: 1, ..Default::default() },
        );
        for (k, v) in cache::genesis_storage() {
            let _ = db.insert_account_storage(cache::CACHE_MANAGER, k, v);
        }
        Self {
            db,
            programs: ProgramCache::default(),
            chain_id: config.chain_id,
            block_number: 0,
            timestamp: config.genesis_timestamp,
            time_offset: 0,
            pinned_timestamp: None,
            l1_base_fee: config.l1_base_fee,
        }
    }

    /// The timestamp the next block gets.
    pub fn next_timestamp(&self) -> u64 {
        self.pinned_timestamp.unwrap_or((self.timestamp + 1).max(self.timestamp + self.time_offset))
    }

    fn block_env(&self, number: u64, timestamp: u64) -> BlockEnv {
        BlockEnv {
            number: U256::from(number),
            timestamp: U256::from(timestamp),
            gas_limit: BLOCK_GAS_LIMIT,
            basefee: BASE_FEE,
            // Nitro's sequenced blocks name the batch poster as coinbase; it is the poster of
            // their transactions (`GasChargingHook`).
            beneficiary: l1_pricing::BATCH_POSTER,
            prevrandao: Some(B256::ZERO),
            ..Default::default()
        }
    }

    fn cfg(&self, for_call: bool) -> CfgEnv {
        let mut cfg = CfgEnv::new_with_spec(SpecId::PRAGUE);
        cfg.chain_id = self.chain_id;
        cfg.disable_eip3541 = true;
        if for_call {
            cfg.disable_nonce_check = true;
            cfg.disable_base_fee = true;
            cfg.disable_balance_check = true;
        }
        cfg
    }

    fn execute(
        &mut self,
        tx: TxEnv,
        block: BlockEnv,
        for_call: bool,
        poster_gas: u64,
    ) -> Result<(ResultAndState, Db), TxError> {
        let db = std::mem::replace(&mut self.db, CacheDB::new(EmptyDB::default()));
        let snapshot = if for_call { Some(db.clone()) } else { None };
        let ctx: evm::Ctx = Context::<BlockEnv, TxEnv, CfgEnv, Db>::new(db, SpecId::PRAGUE)
            .with_block(block)
            .with_tx(tx)
            .with_cfg(self.cfg(for_call));
        let mut evm = DevEvm::new(ctx, self.programs.clone());
        let result: Result<_, EVMError<Infallible>> = l1_pricing::ArbHandler { poster_gas }.run(&mut evm);
        let state = evm.ctx().journal_mut().finalize();
        let db = evm.into_ctx().journaled_state.database;
        match result {
            Ok(result) => Ok((ResultAndState { result, state }, snapshot.unwrap_or(db))),
            Err(e) => {
                self.db = snapshot.unwrap_or(db);
                Err(TxError::Invalid(e.to_string()))
            }
        }
    }

    /// The L2 gas buying the L1 cost of `units` at the base fee (`GetPosterGas`).
    pub fn poster_gas(&self, units: u64) -> u64 {
        l1_pricing::poster_gas(l1_pricing::poster_cost(units, self.l1_base_fee), U256::from(BASE_FEE))
    }

    /// The L1 gas of a call or estimate of `msg` made without a signed transaction, as Nitro
    /// prices it: its stand-in's padded units, at the base fee (`eth_call`) or as a gas estimate.
    pub fn stand_in_poster_gas(&self, msg: &l1_pricing::Message, estimating: bool) -> u64 {
        let units = l1_pricing::padded_units(l1_pricing::units(&msg.stand_in(estimating)));
        let cost = l1_pricing::poster_cost(units, self.l1_base_fee);
        let base_fee = U256::from(BASE_FEE);
        if estimating {
            l1_pricing::estimation_poster_gas(cost, base_fee, base_fee)
        } else {
            l1_pricing::poster_gas(cost, base_fee)
        }
    }

    /// Executes `tx` in a new block and commits it; its L1 cost is that of the same fields
    /// signed as an EIP-1559 transaction (nobody signed it).
    pub fn transact(&mut self, tx: TxEnv) -> Result<Executed, TxError> {
        let bytes = message(&tx).signed_like(self.chain_id);
        self.transact_raw(tx, &bytes)
    }

    /// Executes `tx`, whose signed bytes are `raw`, in a new block and commits it; the L1 cost
    /// is that of `raw`.
    pub fn transact_raw(&mut self, tx: TxEnv, raw: &[u8]) -> Result<Executed, TxError> {
        let poster_gas = self.poster_gas(l1_pricing::units(raw));
        let number = self.block_number + 1;
        let timestamp = self.next_timestamp();
        let nonce = tx.nonce;
        let caller = tx.caller;
        let is_create = tx.kind == TxKind::Create;
        let (out, mut db) = self.execute(tx, self.block_env(number, timestamp), false, poster_gas)?;
        self.block_number = number;
        self.timestamp = timestamp;
        self.time_offset = 0;
        let contract_address = if is_create && out.result.is_success() { Some(caller.create(nonce)) } else { None };
        let mut storage_changes: Vec<(Address, U256, U256)> = out
            .state
            .iter()
            .flat_map(|(a, acc)| {
                acc.storage.iter().filter(|(_, s)| s.is_changed()).map(move |(k, s)| (*a, *k, s.present_value))
            })
            .collect();
        storage_changes.sort();
        db.commit(out.state);
        self.db = db;
        Ok(Executed { result: out.result, contract_address, storage_changes, gas_used_for_l1: poster_gas })
    }

    /// Sends a transaction from `from` (next nonce, base-fee gas price, 30M gas plus its L1 gas)
    /// and mines it: the short way for tests and embedded use, where nobody signs. Its L1 cost
    /// is that of the same fields signed as an EIP-1559 transaction.
    pub fn send(
        &mut self,
        from: Address,
        to: TxKind,
        data: impl Into<Bytes>,
        value: U256,
    ) -> Result<Executed, TxError> {
        let tx = TxEnv::builder()
            .caller(from)
            .nonce(self.nonce(from))
            .kind(to)
            .data(data.into())
            .value(value)
            .gas_limit(30_000_000)
            .gas_price(BASE_FEE as u128)
            .chain_id(Some(self.chain_id))
            .build_fill();
        let mut tx = tx;
        let bytes = message(&tx).signed_like(self.chain_id);
        tx.gas_limit = tx.gas_limit.saturating_add(self.poster_gas(l1_pricing::units(&bytes)));
        self.transact_raw(tx, &bytes)
    }

    /// Calls `to` with `data` from `from` against the latest state, committing nothing.
    pub fn view(&mut self, from: Address, to: Address, data: impl Into<Bytes>) -> Result<Executed, TxError> {
        let tx = TxEnv::builder()
            .caller(from)
            .kind(TxKind::Call(to))
            .data(data.into())
            .gas_limit(30_000_000)
            .chain_id(Some(self.chain_id))
            .build_fill();
        self.call(tx)
    }

    /// Executes `tx` against the latest state without committing (`eth_call`), its L1 cost
    /// priced as Nitro prices a call's ([`stand_in_poster_gas`](Self::stand_in_poster_gas)).
    pub fn call(&mut self, tx: TxEnv) -> Result<Executed, TxError> {
        let poster_gas = self.stand_in_poster_gas(&message(&tx), false);
        self.call_with_poster_gas(tx, poster_gas)
    }

    /// Executes `tx` against the latest state without committing, charging `poster_gas` for L1.
    pub fn call_with_poster_gas(&mut self, tx: TxEnv, poster_gas: u64) -> Result<Executed, TxError> {
        let block = self.block_env(self.block_number + 1, self.next_timestamp());
        let (out, db) = self.execute(tx, block, true, poster_gas)?;
        self.db = db;
        Ok(Executed {
            result: out.result,
            contract_address: None,
            storage_changes: Vec::new(),
            gas_used_for_l1: poster_gas,
        })
    }

    /// Balance of an account.
    pub fn balance(&self, addr: Address) -> U256 {
        self.db.basic_ref(addr).ok().flatten().map(|a| a.balance).unwrap_or_default()
    }

    /// Nonce of an account.
    pub fn nonce(&self, addr: Address) -> u64 {
        self.db.basic_ref(addr).ok().flatten().map(|a| a.nonce).unwrap_or_default()
    }

    /// Code of an account.
    pub fn code(&self, addr: Address) -> Bytes {
        self.db.basic_ref(addr).ok().flatten().and_then(|a| a.code).map(|c| c.original_bytes()).unwrap_or_default()
    }

    /// A storage slot.
    pub fn storage(&self, addr: Address, key: U256) -> U256 {
        self.db.storage_ref(addr, key).unwrap_or_default()
    }

    /// Sets an account's code (`anvil_setCode`).
    pub fn set_code(&mut self, addr: Address, code: Bytes) {
        let mut info = self.db.basic_ref(addr).ok().flatten().unwrap_or_default();
        let code = Bytecode::new_raw(code);
        info.code_hash = code.hash_slow();
        info.code = Some(code);
        self.db.insert_account_info(addr, info);
    }

    /// Sets an account's nonce (`anvil_setNonce`).
    pub fn set_nonce(&mut self, addr: Address, nonce: u64) {
        let mut info = self.db.basic_ref(addr).ok().flatten().unwrap_or_default();
        info.nonce = nonce;
        self.db.insert_account_info(addr, info);
    }

    /// Sets a storage slot (`anvil_setStorageAt`).
    pub fn set_storage(&mut self, addr: Address, key: U256, value: U256) {
        let _ = self.db.insert_account_storage(addr, key, value);
    }

    /// Clears an account's storage (state override `state`).
    pub fn clear_storage(&mut self, addr: Address) {
        let _ = self.db.replace_account_storage(addr, Default::default());
    }

    /// The chain's Stylus version: programs activated at another must be activated again.
    pub fn stylus_version(&self) -> u16 {
        match self.storage(arbos::ARBOS_STATE, programs::stylus_version_slot()).saturating_to::<u16>() {
            0 => programs::DEFAULT_STYLUS_VERSION,
            v => v,
        }
    }

    /// Sets the chain's Stylus version, as an ArbOS upgrade would: every program activated at
    /// another version then fails with `ProgramNeedsUpgrade` until activated again. The devnet
    /// applies version 2's activation and pricing rules at every version.
    pub fn set_stylus_version(&mut self, version: u16) {
        self.set_storage(arbos::ARBOS_STATE, programs::stylus_version_slot(), U256::from(version));
    }

    /// Sets an account's balance (`anvil_setBalance`).
    pub fn set_balance(&mut self, addr: Address, balance: U256) {
        let mut info = self.db.basic_ref(addr).ok().flatten().unwrap_or_default();
        info.balance = balance;
        self.db.insert_account_info(addr, info);
    }
}

/// The L1-relevant fields of a revm transaction.
pub fn message(tx: &TxEnv) -> l1_pricing::Message {
    l1_pricing::Message {
        nonce: tx.nonce,
        max_priority_fee_per_gas: tx.gas_priority_fee.unwrap_or_default(),
        max_fee_per_gas: tx.gas_price,
        gas: tx.gas_limit,
        to: tx.kind.to().copied(),
        value: tx.value,
        data: tx.data.clone(),
        access_list: tx.access_list.clone(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn chain_can_move_between_threads() {
        fn send<T: Send + 'static>() {}
        send::<super::Chain>();
    }
}
