//! The Arbitrum precompiles the devnet serves, and where activations are recorded.
//!
//! `ArbWasm` (0x71) activates programs the way cargo-stylus expects: `activateProgram` checks
//! the code with Nitro's rules, takes Nitro's data fee (its data pricer over the estimated
//! compiled size) from `msg.value` and refunds the rest, records the activation, and emits
//! `ProgramActivated`; `codehashKeepalive` restarts a program's expiry clock for the same kind of
//! fee; the getters answer from the program's record as Nitro's `precompiles/ArbWasm.go` does,
//! with its errors. Records live in the storage of the ArbOS state account ([`programs`]),
//! written through revm's journal, so a reverted transaction or an `eth_call` leaves no trace.
//! `ArbWasmCache` (0x72) and the cache manager are in [`cache`]. `ArbSys` (0x64) and
//! `ArbOwnerPublic` (0x6b) answer the reads contracts and tools make.
//!
//! [`programs`]: super::programs
//! [`cache`]: super::cache

use alloy_primitives::{address, keccak256, Address, Bytes, Log, B256, U256};
use alloy_sol_types::{sol, SolCall, SolError, SolEvent, SolInterface};
use revm::{
    context::{Cfg, ContextTr, JournalTr},
    context_interface::Block,
    handler::{EthPrecompiles, PrecompileProvider},
    interpreter::{CallInputs, Gas, InstructionResult, InterpreterResult},
    primitives::{hardfork::SpecId, AddressSet},
};

use super::{cache, evm::Ctx, programs};
use crate::stylus;
pub use stylus_deploy::{ArbWasm, ARB_WASM};

/// ArbSys.
pub const ARB_SYS: Address = address!("0000000000000000000000000000000000000064");
/// ArbOwnerPublic.
pub const ARB_OWNER_PUBLIC: Address = address!("000000000000000000000000000000000000006b");
/// ArbWasmCache.
pub const ARB_WASM_CACHE: Address = address!("0000000000000000000000000000000000000072");
/// The account whose storage holds ArbOS state (here: activations).
pub const ARBOS_STATE: Address = address!("A4B05FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF");
/// Where activation data fees go.
pub const NETWORK_FEE_ACCOUNT: Address = address!("00000000000000000000000000000000000A4B05");
/// Every precompile address Nitro gives the code `0xFE`.
pub const ARB_PRECOMPILES: [Address; 16] = {
    let mut out = [Address::ZERO; 16];
    let mut i = 0;
    while i < 16 {
        let mut b = [0u8; 20];
        b[19] = 0x64 + i as u8;
        out[i] = Address::new(b);
        i += 1;
    }
    out
};
/// Gas charged by `activateProgram`, besides the EVM's call costs.
pub const ACTIVATION_GAS: u64 = 1_200_000;

sol! {
    interface ArbSys {
        function arbBlockNumber() external view returns (uint256);
        function arbChainID() external view returns (uint256);
        function arbOSVersion() external view returns (uint256);
    }

    interface ArbOwnerPublic {
        function getMaxStylusContractFragments() external view returns (uint8);
        function isChainOwner(address addr) external view returns (bool);
        function getAllChainOwners() external view returns (address[] memory);
        function getNetworkFeeAccount() external view returns (address);
    }

    error Error(string message);
}

/// Revert data of a call into a program that was never activated.
pub fn program_not_activated() -> Bytes {
    ArbWasm::ProgramNotActivated {}.abi_encode().into()
}

/// Whether `addr` is a chain owner: the devnet's dev account is its only one.
pub fn is_chain_owner(addr: Address) -> bool {
    addr == super::DEV_ACCOUNT
}

/// Mainnet precompiles plus Arbitrum's.
pub struct ArbPrecompiles {
    eth: EthPrecompiles,
    warm: AddressSet,
}

impl ArbPrecompiles {
    /// The precompiles of `spec`.
    pub fn new(spec: SpecId) -> Self {
        let eth = EthPrecompiles::new(spec);
        let mut warm = eth.warm_addresses().clone();
        warm.extend(ARB_PRECOMPILES);
        Self { eth, warm }
    }
}

/// The outcome of an Arbitrum precompile call.
pub(crate) enum Reply {
    /// Success with return data.
    Ok(Vec<u8>),
    /// Revert with revert data.
    Revert(Vec<u8>),
    /// Nitro's `BurnOut`: all gas consumed, no data.
    BurnOut,
}

pub(crate) fn revert_msg(msg: impl Into<String>) -> Reply {
    Reply::Revert(Error { message: msg.into() }.abi_encode())
}

impl PrecompileProvider<Ctx> for ArbPrecompiles {
    type Output = InterpreterResult;

    fn set_spec(&mut self, spec: <<Ctx as ContextTr>::Cfg as Cfg>::Spec) -> bool {
        let changed = <EthPrecompiles as PrecompileProvider<Ctx>>::set_spec(&mut self.eth, spec);
        if changed {
            let mut warm = self.eth.warm_addresses().clone();
            warm.extend(ARB_PRECOMPILES);
            self.warm = warm;
        }
        changed
    }

    fn run(&mut self, ctx: &mut Ctx, inputs: &CallInputs) -> Result<Option<InterpreterResult>, String> {
        let to = inputs.bytecode_address;
        if to == cache::CACHE_MANAGER {
            return Ok(Some(cache::run_cache_manager(ctx, inputs)));
        }
        if !ARB_PRECOMPILES.contains(&to) {
            return self.eth.run(ctx, inputs);
        }
        let data = inputs.input.bytes(ctx);
        let mut gas = Gas::new(inputs.gas_limit);
        let mut cost = 2_100u64;
        let reply = match to {
            ARB_WASM => arb_wasm(ctx, inputs, &data, &mut cost),
            ARB_SYS => arb_sys(ctx, &data),
            ARB_OWNER_PUBLIC => {
                use ArbOwnerPublic::ArbOwnerPublicCalls as C;
                match C::abi_decode(&data) {
                    // Fragmented programs (ArbOS 60) are not implemented: none are allowed.
                    Ok(C::getMaxStylusContractFragments(_)) => {
                        Reply::Ok(ArbOwnerPublic::getMaxStylusContractFragmentsCall::abi_encode_returns(&0u8))
                    }
                    Ok(C::isChainOwner(c)) => {
                        Reply::Ok(ArbOwnerPublic::isChainOwnerCall::abi_encode_returns(&is_chain_owner(c.addr)))
                    }
                    Ok(C::getAllChainOwners(_)) => {
                        Reply::Ok(ArbOwnerPublic::getAllChainOwnersCall::abi_encode_returns(&vec![super::DEV_ACCOUNT]))
                    }
                    Ok(C::getNetworkFeeAccount(_)) => {
                        Reply::Ok(ArbOwnerPublic::getNetworkFeeAccountCall::abi_encode_returns(&NETWORK_FEE_ACCOUNT))
                    }
                    Err(_) => revert_msg("unsupported ArbOwnerPublic method"),
                }
            }
            ARB_WASM_CACHE => cache::arb_wasm_cache(ctx, inputs, &data, &mut cost),
            _ => revert_msg(format!("precompile {to} is not served by this devnet")),
        };
        if !gas.record_regular_cost(cost) {
            gas.spend_all();
            return Ok(Some(InterpreterResult::new(InstructionResult::PrecompileOOG, Bytes::new(), gas)));
        }
        Ok(Some(match reply {
            Reply::Ok(out) => InterpreterResult::new(InstructionResult::Return, out.into(), gas),
            Reply::Revert(out) => InterpreterResult::new(InstructionResult::Revert, out.into(), gas),
            Reply::BurnOut => {
                gas.spend_all();
                InterpreterResult::new(InstructionResult::Revert, Bytes::new(), gas)
            }
        }))
    }

    fn warm_addresses(&self) -> &AddressSet {
        &self.warm
    }

    fn contains(&self, address: &Address) -> bool {
        self.warm.contains(address)
    }
}

fn arb_sys(ctx: &mut Ctx, data: &[u8]) -> Reply {
    use ArbSys::ArbSysCalls as C;
    match C::abi_decode(data) {
        Ok(C::arbBlockNumber(_)) => Reply::Ok(ArbSys::arbBlockNumberCall::abi_encode_returns(&ctx.block().number())),
        Ok(C::arbChainID(_)) => {
            Reply::Ok(ArbSys::arbChainIDCall::abi_encode_returns(&U256::from(ctx.cfg().chain_id())))
        }
        // Nitro counts on from classic Arbitrum's 55 versions (`precompiles/ArbSys.go`).
        Ok(C::arbOSVersion(_)) => {
            let v = programs::arbos_version(ctx);
            Reply::Ok(ArbSys::arbOSVersionCall::abi_encode_returns(&U256::from(55 + v)))
        }
        Err(_) => revert_msg("unsupported ArbSys method"),
    }
}

/// The code hash of `program` as the EVM's EXTCODEHASH sees it.
pub(crate) fn code_hash_of(ctx: &mut Ctx, program: Address) -> B256 {
    ctx.journal_mut().code_hash(program).map(|h| h.data).unwrap_or_default()
}

fn arb_wasm(ctx: &mut Ctx, inputs: &CallInputs, data: &[u8], cost: &mut u64) -> Reply {
    use ArbWasm::ArbWasmCalls as C;
    let call = match C::abi_decode(data) {
        Ok(c) => c,
        Err(_) => return revert_msg("unsupported ArbWasm method"),
    };
    let value = inputs.call_value();
    // Only activation and keepalive accept value; a plain transfer to the precompile is refused.
    if !value.is_zero() && !matches!(call, C::activateProgram(_) | C::codehashKeepalive(_)) {
        return revert_msg("ArbWasm method is not payable");
    }
    if inputs.is_static && matches!(call, C::activateProgram(_) | C::codehashKeepalive(_)) {
        return revert_msg("ArbWasm method writes state and cannot be called statically");
    }
    let params = programs::params(ctx);
    // Reads of an active program's record (`getActiveProgram`): its errors are the reply.
    macro_rules! active {
        ($hash:expr) => {{
            let hash = $hash;
            match programs::active_program(ctx, hash) {
                Ok((record, _)) => record,
                Err(revert) => return Reply::Revert(revert),
            }
        }};
    }
    match call {
        C::activateProgram(c) => activate(ctx, inputs, c.program, value, cost),
        C::codehashKeepalive(c) => keepalive(ctx, inputs, c.codehash, value),
        C::stylusVersion(_) => Reply::Ok(ArbWasm::stylusVersionCall::abi_encode_returns(&params.version)),
        C::codehashVersion(c) => {
            let r = active!(c.codehash);
            Reply::Ok(ArbWasm::codehashVersionCall::abi_encode_returns(&r.version))
        }
        C::codehashAsmSize(c) => {
            let r = active!(c.codehash);
            Reply::Ok(ArbWasm::codehashAsmSizeCall::abi_encode_returns(&r.asm_size()))
        }
        C::programVersion(c) => {
            let r = active!(code_hash_of(ctx, c.program));
            Reply::Ok(ArbWasm::programVersionCall::abi_encode_returns(&r.version))
        }
        C::programInitGas(c) => {
            let r = active!(code_hash_of(ctx, c.program));
            // Nitro's `ProgramInitGas`: from Stylus version 2 the uncached figure includes the
            // cached one, as a call pays both.
            let cached = r.cached_gas(&params);
            let mut init = r.init_gas(&params);
            if params.version > 1 {
                init += cached;
            }
            Reply::Ok(ArbWasm::programInitGasCall::abi_encode_returns(&ArbWasm::programInitGasReturn {
                gas: init,
                gasWhenCached: cached,
            }))
        }
        C::programMemoryFootprint(c) => {
            let r = active!(code_hash_of(ctx, c.program));
            Reply::Ok(ArbWasm::programMemoryFootprintCall::abi_encode_returns(&r.footprint))
        }
        C::programTimeLeft(c) => {
            let r = active!(code_hash_of(ctx, c.program));
            let left = params.expiry_seconds().saturating_sub(r.age(programs::now(ctx)));
            Reply::Ok(ArbWasm::programTimeLeftCall::abi_encode_returns(&left))
        }
        C::inkPrice(_) => Reply::Ok(ArbWasm::inkPriceCall::abi_encode_returns(&params.ink_price)),
        C::maxStackDepth(_) => Reply::Ok(ArbWasm::maxStackDepthCall::abi_encode_returns(&22_000u32)),
        C::freePages(_) => Reply::Ok(ArbWasm::freePagesCall::abi_encode_returns(&params.free_pages)),
        C::pageGas(_) => Reply::Ok(ArbWasm::pageGasCall::abi_encode_returns(&params.page_gas)),
        C::pageRamp(_) => Reply::Ok(ArbWasm::pageRampCall::abi_encode_returns(&params.page_ramp)),
        C::pageLimit(_) => Reply::Ok(ArbWasm::pageLimitCall::abi_encode_returns(&params.page_limit)),
        C::minInitGas(_) => {
            if programs::arbos_version(ctx) < programs::ARBOS_STYLUS_CHARGING_FIXES {
                return Reply::Revert(Vec::new());
            }
            Reply::Ok(ArbWasm::minInitGasCall::abi_encode_returns(&ArbWasm::minInitGasReturn {
                gas: params.min_init_gas as u64 * 128,
                cached: params.min_cached_init_gas as u64 * 32,
            }))
        }
        C::initCostScalar(_) => {
            Reply::Ok(ArbWasm::initCostScalarCall::abi_encode_returns(&(params.init_cost_scalar as u64 * 2)))
        }
        C::expiryDays(_) => Reply::Ok(ArbWasm::expiryDaysCall::abi_encode_returns(&params.expiry_days)),
        C::keepaliveDays(_) => Reply::Ok(ArbWasm::keepaliveDaysCall::abi_encode_returns(&params.keepalive_days)),
        C::blockCacheSize(_) => Reply::Ok(ArbWasm::blockCacheSizeCall::abi_encode_returns(&params.block_cache_size)),
        C::activationGas(_) => Reply::Ok(ArbWasm::activationGasCall::abi_encode_returns(&ACTIVATION_GAS)),
    }
}

/// Takes `fee` out of `value` (already at the precompile): the fee to the network, the rest back
/// to the caller (`payActivationDataFee`).
fn pay_data_fee(ctx: &mut Ctx, caller: Address, value: U256, fee: U256) -> Result<(), Reply> {
    if value < fee {
        return Err(Reply::Revert(ArbWasm::ProgramInsufficientValue { have: value, want: fee }.abi_encode()));
    }
    let journal = ctx.journal_mut();
    for (to, amount) in [(NETWORK_FEE_ACCOUNT, fee), (caller, value - fee)] {
        if amount.is_zero() {
            continue;
        }
        match journal.transfer(ARB_WASM, to, amount) {
            Ok(None) => {}
            Ok(Some(e)) => return Err(revert_msg(format!("fee transfer failed: {e:?}"))),
            Err(e) => return Err(revert_msg(e.to_string())),
        }
    }
    Ok(())
}

/// `codehashKeepalive` as Nitro's `ProgramKeepalive`: the program must be active and at least
/// `keepaliveDays` old; the data pricer prices its compiled size; its clock restarts now.
fn keepalive(ctx: &mut Ctx, inputs: &CallInputs, code_hash: B256, value: U256) -> Reply {
    let (mut record, params) = match programs::active_program(ctx, code_hash) {
        Ok(x) => x,
        Err(revert) => return Reply::Revert(revert),
    };
    let time = programs::now(ctx);
    let age = record.age(time);
    if age < params.keepalive_seconds() {
        return Reply::Revert(ArbWasm::ProgramKeepaliveTooSoon { ageInSeconds: age }.abi_encode());
    }
    let fee = match programs::data_fee(ctx, record.asm_size()) {
        Ok(f) => f,
        Err(e) => return revert_msg(e),
    };
    record.activated_at = programs::hours_since_arbitrum(time);
    if let Err(e) = programs::set_record(ctx, code_hash, &record) {
        return revert_msg(e);
    }
    if let Err(reply) = pay_data_fee(ctx, inputs.caller, value, fee) {
        return reply;
    }
    let event = ArbWasm::ProgramLifetimeExtended { codehash: code_hash, dataFee: fee };
    ctx.journal_mut().log(Log { address: ARB_WASM, data: event.encode_log_data() });
    Reply::Ok(Vec::new())
}

fn activate(ctx: &mut Ctx, inputs: &CallInputs, program: Address, value: U256, cost: &mut u64) -> Reply {
    let code = match ctx.journal_mut().code(program) {
        Ok(c) => c.data,
        Err(e) => return revert_msg(e.to_string()),
    };
    if !stylus::is_stylus(&code) {
        return Reply::Revert(ArbWasm::ProgramNotWasm {}.abi_encode());
    }
    let code_hash = keccak256(&code);
    let params = programs::params(ctx);
    let time = programs::now(ctx);
    let old = programs::record(ctx, code_hash);
    // `programExists`: up to date unless expired (an expired program may be activated again).
    let expired = old.activated_at == 0 || old.age(time) > params.expiry_seconds();
    if old.version == params.version && !expired {
        return Reply::Revert(ArbWasm::ProgramUpToDate {}.abi_encode());
    }
    let (wasm, info) = match stylus::activate(&code) {
        Ok(x) => x,
        Err(e) => return revert_msg(format!("activation failed: {e}")),
    };
    *cost += ACTIVATION_GAS;
    let (init_cost, cached_cost, asm_estimate) = programs::activation_costs(&info.shape, params.version);
    let fee = match programs::data_fee(ctx, asm_estimate) {
        Ok(f) => f,
        Err(e) => return revert_msg(e),
    };
    let record = programs::ProgramRecord {
        version: params.version,
        init_cost,
        cached_cost,
        footprint: info.shape.pages as u16,
        activated_at: programs::hours_since_arbitrum(time),
        asm_estimate_kb: asm_estimate.div_ceil(1024),
        // A cached program stays cached across reactivation (Nitro recaches the new module).
        cached: old.cached,
    };
    if let Err(e) = programs::set_record(ctx, code_hash, &record) {
        return revert_msg(e);
    }
    if let Err(reply) = pay_data_fee(ctx, inputs.caller, value, fee) {
        return reply;
    }
    let event = ArbWasm::ProgramActivated {
        codehash: code_hash,
        moduleHash: keccak256(&wasm),
        program,
        dataFee: fee,
        version: params.version,
    };
    ctx.journal_mut().log(Log { address: ARB_WASM, data: event.encode_log_data() });
    Reply::Ok(ArbWasm::activateProgramCall::abi_encode_returns(&ArbWasm::activateProgramReturn {
        version: params.version,
        dataFee: fee,
    }))
}
