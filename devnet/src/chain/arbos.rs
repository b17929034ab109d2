//! The Arbitrum precompiles the devnet serves, and where activations are recorded.
//!
//! `ArbWasm` (0x71) activates programs the way cargo-stylus expects: `activateProgram` checks
//! the code with Nitro's rules, takes the data fee from `msg.value` and refunds the rest, records
//! the activation, and emits `ProgramActivated`; `codehashVersion` reverts `ProgramNotActivated`
//! for unknown code. Activations live in the storage of the ArbOS state account, written through
//! revm's journal, so a reverted transaction or an `eth_call` leaves no trace.
//! `ArbSys` (0x64) and `ArbOwnerPublic` (0x6b) answer the reads contracts and tools make.

use alloy_primitives::{address, keccak256, Address, Bytes, Log, B256, U256};
use alloy_sol_types::{sol, SolCall, SolError, SolEvent, SolInterface};
use revm::{
    context::{Cfg, ContextTr, JournalTr},
    context_interface::Block,
    handler::{EthPrecompiles, PrecompileProvider},
    interpreter::{CallInputs, Gas, InstructionResult, InterpreterResult},
    primitives::{hardfork::SpecId, AddressSet},
};

use super::evm::Ctx;
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
/// The Stylus version programs are activated at (Nitro's current).
pub const STYLUS_VERSION: u16 = 2;
/// ArbOS version reported.
pub const ARBOS_VERSION: u64 = 40;
/// Data fee per byte of WASM, in wei.
pub const DATA_FEE_PER_BYTE: u64 = 1_000_000_000;
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
    }

    interface ArbWasmCache {
        function allCacheManagers() external view returns (address[] memory managers);
        function codehashIsCached(bytes32 codehash) external view returns (bool);
    }

    error Error(string message);
}

/// Revert data of a call into a program that was never activated.
pub fn program_not_activated() -> Bytes {
    ArbWasm::ProgramNotActivated {}.abi_encode().into()
}

/// The Stylus version `code_hash` is activated at, if any.
pub fn activated_version(ctx: &mut Ctx, code_hash: B256) -> Option<u16> {
    // The journal reads storage only of accounts it has loaded.
    ctx.journal_mut().load_account(ARBOS_STATE).ok()?;
    let v = ctx.journal_mut().sload(ARBOS_STATE, code_hash.into()).ok()?.data;
    (!v.is_zero()).then(|| v.saturating_to::<u16>())
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
enum Reply {
    Ok(Vec<u8>),
    Revert(Vec<u8>),
}

fn revert_msg(msg: impl Into<String>) -> Reply {
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
        if !ARB_PRECOMPILES.contains(&to) {
            return self.eth.run(ctx, inputs);
        }
        let data = inputs.input.bytes(ctx);
        let mut gas = Gas::new(inputs.gas_limit);
        let mut cost = 2_100u64;
        let reply = match to {
            ARB_WASM => arb_wasm(ctx, inputs, &data, &mut cost),
            ARB_SYS => arb_sys(ctx, &data),
            ARB_OWNER_PUBLIC => match ArbOwnerPublic::ArbOwnerPublicCalls::abi_decode(&data) {
                Ok(_) => Reply::Ok(ArbOwnerPublic::getMaxStylusContractFragmentsCall::abi_encode_returns(&0u8)),
                Err(_) => revert_msg("unsupported ArbOwnerPublic method"),
            },
            ARB_WASM_CACHE => match ArbWasmCache::ArbWasmCacheCalls::abi_decode(&data) {
                Ok(ArbWasmCache::ArbWasmCacheCalls::allCacheManagers(_)) => {
                    Reply::Ok(ArbWasmCache::allCacheManagersCall::abi_encode_returns(&Vec::<Address>::new()))
                }
                Ok(ArbWasmCache::ArbWasmCacheCalls::codehashIsCached(_)) => {
                    Reply::Ok(ArbWasmCache::codehashIsCachedCall::abi_encode_returns(&false))
                }
                Err(_) => revert_msg("unsupported ArbWasmCache method"),
            },
            _ => revert_msg(format!("precompile {to} is not served by this devnet")),
        };
        if !gas.record_regular_cost(cost) {
            gas.spend_all();
            return Ok(Some(InterpreterResult::new(InstructionResult::PrecompileOOG, Bytes::new(), gas)));
        }
        Ok(Some(match reply {
            Reply::Ok(out) => InterpreterResult::new(InstructionResult::Return, out.into(), gas),
            Reply::Revert(out) => InterpreterResult::new(InstructionResult::Revert, out.into(), gas),
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
        Ok(C::arbOSVersion(_)) => {
            Reply::Ok(ArbSys::arbOSVersionCall::abi_encode_returns(&U256::from(55 + ARBOS_VERSION)))
        }
        Err(_) => revert_msg("unsupported ArbSys method"),
    }
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
    match call {
        C::activateProgram(c) => activate(ctx, inputs, c.program, value, cost),
        C::stylusVersion(_) => Reply::Ok(ArbWasm::stylusVersionCall::abi_encode_returns(&STYLUS_VERSION)),
        C::codehashVersion(c) => match activated_version(ctx, c.codehash) {
            Some(v) => Reply::Ok(ArbWasm::codehashVersionCall::abi_encode_returns(&v)),
            None => Reply::Revert(ArbWasm::ProgramNotActivated {}.abi_encode()),
        },
        C::programVersion(c) => {
            let hash = ctx.journal_mut().code_hash(c.program).map(|h| h.data).unwrap_or_default();
            match activated_version(ctx, hash) {
                Some(v) => Reply::Ok(ArbWasm::programVersionCall::abi_encode_returns(&v)),
                None => Reply::Revert(ArbWasm::ProgramNotActivated {}.abi_encode()),
            }
        }
        C::inkPrice(_) => Reply::Ok(ArbWasm::inkPriceCall::abi_encode_returns(&10_000u32)),
        C::maxStackDepth(_) => Reply::Ok(ArbWasm::maxStackDepthCall::abi_encode_returns(&22_000u32)),
        C::freePages(_) => Reply::Ok(ArbWasm::freePagesCall::abi_encode_returns(&2u16)),
        C::pageGas(_) => Reply::Ok(ArbWasm::pageGasCall::abi_encode_returns(&1_000u16)),
        C::pageLimit(_) => Reply::Ok(ArbWasm::pageLimitCall::abi_encode_returns(&128u16)),
        C::expiryDays(_) => Reply::Ok(ArbWasm::expiryDaysCall::abi_encode_returns(&365u16)),
        C::keepaliveDays(_) => Reply::Ok(ArbWasm::keepaliveDaysCall::abi_encode_returns(&31u16)),
        C::activationGas(_) => Reply::Ok(ArbWasm::activationGasCall::abi_encode_returns(&ACTIVATION_GAS)),
        C::codehashKeepalive(c) => match activated_version(ctx, c.codehash) {
            Some(_) => Reply::Revert(ArbWasm::ProgramKeepaliveTooSoon { ageInSeconds: 0 }.abi_encode()),
            None => Reply::Revert(ArbWasm::ProgramNotActivated {}.abi_encode()),
        },
    }
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
    if activated_version(ctx, code_hash) == Some(STYLUS_VERSION) {
        return Reply::Revert(ArbWasm::ProgramUpToDate {}.abi_encode());
    }
    let (wasm, _info) = match stylus::activate(&code) {
        Ok(x) => x,
        Err(e) => return revert_msg(format!("activation failed: {e}")),
    };
    *cost += ACTIVATION_GAS;
    let fee = U256::from(wasm.len() as u64 * DATA_FEE_PER_BYTE);
    if value < fee {
        return Reply::Revert(ArbWasm::ProgramInsufficientValue { have: value, want: fee }.abi_encode());
    }
    let journal = ctx.journal_mut();
    // The value already sits at the precompile: the fee goes to the network, the rest back.
    for (to, amount) in [(NETWORK_FEE_ACCOUNT, fee), (inputs.caller, value - fee)] {
        if amount.is_zero() {
            continue;
        }
        match journal.transfer(ARB_WASM, to, amount) {
            Ok(None) => {}
            Ok(Some(e)) => return revert_msg(format!("fee transfer failed: {e:?}")),
            Err(e) => return revert_msg(e.to_string()),
        }
    }
    if let Err(e) = journal.sstore(ARBOS_STATE, code_hash.into(), U256::from(STYLUS_VERSION)) {
        return revert_msg(e.to_string());
    }
    journal.touch_account(ARBOS_STATE);
    let event = ArbWasm::ProgramActivated {
        codehash: code_hash,
        moduleHash: keccak256(&wasm),
        program,
        dataFee: fee,
        version: STYLUS_VERSION,
    };
    journal.log(Log { address: ARB_WASM, data: event.encode_log_data() });
    Reply::Ok(ArbWasm::activateProgramCall::abi_encode_returns(&ArbWasm::activateProgramReturn {
        version: STYLUS_VERSION,
        dataFee: fee,
    }))
}
