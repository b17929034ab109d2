//! The judge scenario suite, run natively: the contract's Rust code through the SDK's ABI router
//! on the SDK's `TestVM`, wrapped in a host that answers the ecrecover precompile for real
//! (the `TestVM` mock answers every static call with the last registered mock).

use std::{cell::RefCell, rc::Rc, slice};

use alloy_primitives::{Address, LogData, B256, U256};
use avocado_codec::{signature::Signature, signer};
use avocado_judge::Judge;
use avocado_tests::judge_scenarios::{self as sc, JudgeHarness, Outcome};
use stylus_sdk::{host::VM, stylus_core::*, testing::TestVM};

const ECRECOVER: Address = Address::with_last_byte(1);

/// `TestVM` plus a real ecrecover precompile and return-data buffer.
#[derive(Clone)]
struct RecoverVM {
    inner: TestVM,
    return_data: Rc<RefCell<Vec<u8>>>,
}

impl RecoverVM {
    fn ecrecover(input: &[u8]) -> Vec<u8> {
        // Ethereum semantics: any malformed input gives empty output, never a revert.
        let mut buf = [0u8; 128];
        let n = input.len().min(128);
        buf[..n].copy_from_slice(&input[..n]);
        let digest = B256::from_slice(&buf[..32]);
        if buf[32..63].iter().any(|b| *b != 0) || !(buf[63] == 27 || buf[63] == 28) {
            return vec![];
        }
        let sig = Signature { r: B256::from_slice(&buf[64..96]), s: B256::from_slice(&buf[96..128]), v: buf[63] };
        // The precompile accepts high-s; the judge must refuse it itself. Recover without the
        // canonical check by going through k256 directly.
        match recover_any_s(&digest, &sig) {
            Some(addr) => {
                let mut out = vec![0u8; 12];
                out.extend_from_slice(addr.as_slice());
                out
            }
            None => vec![],
        }
    }
}

fn recover_any_s(digest: &B256, sig: &Signature) -> Option<Address> {
    use k256::ecdsa::{RecoveryId, Signature as E, VerifyingKey};
    let e = E::from_scalars(sig.r.0, sig.s.0).ok()?;
    let key = VerifyingKey::recover_from_prehash(digest.as_slice(), &e, RecoveryId::new(sig.v == 28, false)).ok()?;
    Some(signer::address_of(&key))
}

impl Host for RecoverVM {}

impl CryptographyAccess for RecoverVM {
    fn native_keccak256(&self, input: &[u8]) -> B256 {
        self.inner.native_keccak256(input)
    }
}

impl CalldataAccess for RecoverVM {
    fn read_args(&self, len: usize) -> Vec<u8> {
        self.inner.read_args(len)
    }
    fn read_return_data(&self, offset: usize, size: Option<usize>) -> Vec<u8> {
        let data = self.return_data.borrow();
        let start = offset.min(data.len());
        let end = size.map_or(data.len(), |s| (start + s).min(data.len()));
        data[start..end].to_vec()
    }
    fn return_data_size(&self) -> usize {
        self.return_data.borrow().len()
    }
    fn write_result(&self, data: &[u8]) {
        self.inner.write_result(data)
    }
}

unsafe impl UnsafeDeploymentAccess for RecoverVM {
    unsafe fn create1(
        &self,
        code: *const u8,
        len: usize,
        endowment: *const u8,
        contract: *mut u8,
        revert_len: *mut usize,
    ) {
        self.inner.create1(code, len, endowment, contract, revert_len)
    }
    unsafe fn create2(
        &self,
        code: *const u8,
        len: usize,
        endowment: *const u8,
        salt: *const u8,
        contract: *mut u8,
        revert_len: *mut usize,
    ) {
        self.inner.create2(code, len, endowment, salt, contract, revert_len)
    }
}

impl StorageAccess for RecoverVM {
    fn storage_load_bytes32(&self, key: U256) -> B256 {
        self.inner.storage_load_bytes32(key)
    }
    unsafe fn storage_cache_bytes32(&self, key: U256, value: B256) {
        self.inner.storage_cache_bytes32(key, value)
    }
    fn flush_cache(&self, clear: bool) {
        self.inner.flush_cache(clear)
    }
}

unsafe impl UnsafeCallAccess for RecoverVM {
    unsafe fn call_contract(
        &self,
        to: *const u8,
        data: *const u8,
        len: usize,
        value: *const u8,
        gas: u64,
        outs_len: &mut usize,
    ) -> u8 {
        self.inner.call_contract(to, data, len, value, gas, outs_len)
    }
    unsafe fn static_call_contract(
        &self,
        to: *const u8,
        data: *const u8,
        len: usize,
        gas: u64,
        outs_len: &mut usize,
    ) -> u8 {
        let to = Address::from_slice(slice::from_raw_parts(to, 20));
        assert_eq!(to, ECRECOVER, "the judge calls nothing but ecrecover");
        let out = Self::ecrecover(slice::from_raw_parts(data, len));
        *outs_len = out.len();
        *self.return_data.borrow_mut() = out;
        let _ = gas;
        0
    }
    unsafe fn delegate_call_contract(
        &self,
        to: *const u8,
        data: *const u8,
        len: usize,
        gas: u64,
        outs_len: &mut usize,
    ) -> u8 {
        self.inner.delegate_call_contract(to, data, len, gas, outs_len)
    }
}

impl BlockAccess for RecoverVM {
    fn block_basefee(&self) -> U256 {
        self.inner.block_basefee()
    }
    fn block_coinbase(&self) -> Address {
        self.inner.block_coinbase()
    }
    fn block_number(&self) -> u64 {
        self.inner.block_number()
    }
    fn block_timestamp(&self) -> u64 {
        self.inner.block_timestamp()
    }
    fn block_gas_limit(&self) -> u64 {
        self.inner.block_gas_limit()
    }
}

impl ChainAccess for RecoverVM {
    fn chain_id(&self) -> u64 {
        self.inner.chain_id()
    }
}

impl AccountAccess for RecoverVM {
    fn balance(&self, account: Address) -> U256 {
        self.inner.balance(account)
    }
    fn contract_address(&self) -> Address {
        self.inner.contract_address()
    }
    fn code(&self, account: Address) -> Vec<u8> {
        self.inner.code(account)
    }
    fn code_size(&self, account: Address) -> usize {
        self.inner.code_size(account)
    }
    fn code_hash(&self, account: Address) -> B256 {
        self.inner.code_hash(account)
    }
}

impl MemoryAccess for RecoverVM {
    fn pay_for_memory_grow(&self, pages: u16) {
        self.inner.pay_for_memory_grow(pages)
    }
}

impl MessageAccess for RecoverVM {
    fn msg_sender(&self) -> Address {
        self.inner.msg_sender()
    }
    fn msg_reentrant(&self) -> bool {
        self.inner.msg_reentrant()
    }
    fn msg_value(&self) -> U256 {
        self.inner.msg_value()
    }
    fn tx_origin(&self) -> Address {
        self.inner.tx_origin()
    }
}

impl MeteringAccess for RecoverVM {
    fn evm_gas_left(&self) -> u64 {
        self.inner.evm_gas_left()
    }
    fn evm_ink_left(&self) -> u64 {
        self.inner.evm_ink_left()
    }
    fn tx_gas_price(&self) -> U256 {
        self.inner.tx_gas_price()
    }
    fn tx_ink_price(&self) -> u32 {
        self.inner.tx_ink_price()
    }
}

impl RawLogAccess for RecoverVM {
    fn emit_log(&self, input: &[u8], num_topics: usize) {
        self.inner.emit_log(input, num_topics)
    }
    fn raw_log(&self, topics: &[B256], data: &[u8]) -> Result<(), &'static str> {
        self.inner.raw_log(topics, data)
    }
}

/// The judge's Rust code behind its ABI router, with revert rollback.
struct Native {
    vm: RecoverVM,
}

fn native() -> Native {
    let inner = TestVM::new();
    inner.set_chain_id(sc::CHAIN_ID);
    inner.set_contract_address(sc::JUDGE);
    inner.set_block_timestamp(sc::GENESIS_TIME);
    inner.set_sender(Address::repeat_byte(0x5e));
    Native { vm: RecoverVM { inner, return_data: Rc::default() } }
}

impl JudgeHarness for Native {
    fn set_time(&mut self, timestamp: u64) {
        self.vm.inner.set_block_timestamp(timestamp);
    }
    fn time(&self) -> u64 {
        self.vm.inner.block_timestamp()
    }
    fn send(&mut self, calldata: Vec<u8>) -> Outcome {
        let before = self.vm.inner.snapshot();
        let host = VM { host: Box::new(self.vm.clone()) };
        let result = stylus_sdk::abi::router_entrypoint::<Judge, Judge>(calldata, host);
        if result.is_err() {
            // The chain drops a reverted call's writes and logs; so does this harness.
            self.vm.inner = TestVM::from(before);
            return Outcome { result, logs: vec![], slots_written: Some(0), gas_used: None };
        }
        let after = self.vm.inner.snapshot();
        let logs = after.emitted_logs[before.emitted_logs.len()..]
            .iter()
            .map(|(topics, data)| LogData::new_unchecked(topics.clone(), data.clone().into()))
            .collect();
        let slots_written =
            after.storage.iter().filter(|(k, v)| before.storage.get(k).copied().unwrap_or_default() != **v).count();
        Outcome { result, logs, slots_written: Some(slots_written), gas_used: None }
    }
}

avocado_tests::judge_scenario_tests!(native());
