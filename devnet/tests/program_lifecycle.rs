//! Nitro's program cache, ArbOS versions, expiry, keepalive and upgrades on the devnet, with the
//! numbers Nitro's formulas give (`arbos/programs/programs.go`, `params.go`, `data_pricer.go`,
//! `precompiles/ArbWasm.go`, `precompiles/ArbWasmCache.go`, nitro-contracts'
//! `src/chain/CacheManager.sol`), and the JSON-RPC calls `cargo stylus cache` makes.
//!
//! The echo program below is 175 bytes of WASM: 1 function, 2 signature words (one param, one
//! result), no globals (4 after Nitro's instrumentation), no data, 1 page. Nitro's estimates:
//! - cachedCost = ⌊1·13420/1e5⌋ + ⌊2·89/1e5⌋ + ⌊175·122/1e5⌋ + ⌊4·1628/1000⌋ + ⌊0⌋ + 1·5
//!   = 0 + 0 + 0 + 6 + 0 + 5 = 11
//! - initCost = ⌊1·8252/1000⌋ + ⌊2·1059/1000⌋ + ⌊175·1286/1e4⌋ = 8 + 2 + 22 = 32
//! - initGas = 69·128 + ⌈32·100/100⌉ = 8,832 + 32 = 8,864; cachedGas = 11·32 + 11 = 363
//! - asmEstimate = 512,000 + ⌊1·996829/1000⌋ + ⌊2·11416/1000⌋ + ⌊175·62628/1e4⌋
//!   = 512,000 + 996 + 22 + 1,095 = 514,113 bytes → ⌈514,113/1024⌉ = 503 KiB → asm size 515,072

use std::net::SocketAddr;

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_sol_types::{sol, SolCall, SolError, SolEvent};
use avocado_devnet::{
    chain::{
        arbos::{ArbWasm, ARB_SYS, ARB_WASM, ARB_WASM_CACHE},
        cache::{ArbWasmCache, CacheManager, CACHE_MANAGER, INIT_CACHE_SIZE, INIT_DECAY},
        Chain, ChainConfig, Executed, DEV_ACCOUNT,
    },
    stylus,
};
use revm::primitives::TxKind;

sol! {
    interface ArbSys {
        function arbOSVersion() external view returns (uint256);
    }
}

const INIT_GAS: u64 = 8_864;
const CACHED_GAS: u64 = 363;
const ASM_SIZE: u64 = 515_072;
/// Activation's data fee on a chain with no demand: bytes = 514,113; exponent =
/// ⌊10,000·514,113 / 21,360,419⌋ = 240 bips; Nitro's 12-term Horner e^x gives 10,242 bips;
/// per byte ⌊82,928,201·10,242 / 10,000⌋ = 84,935,063 wei; fee = 84,935,063 · 514,113.
const ACTIVATION_FEE: u64 = 43_666_220_044_119;
/// A keepalive's data fee once the demand has drained: bytes = 515,072 (the recorded size);
/// exponent ⌊10,000·515,072 / 21,360,419⌋ = 241; e^x → 10,243 bips; per byte
/// ⌊82,928,201·10,243 / 10,000⌋ = 84,943,356; fee = 84,943,356 · 515,072.
const KEEPALIVE_FEE: u64 = 43_751_944_261_632;
const DAY: u64 = 86_400;

fn echo_program(pages: u32) -> Vec<u8> {
    stylus::pack(
        &wat::parse_str(format!(
            r#"(module
              (import "vm_hooks" "read_args" (func $read_args (param i32)))
              (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
              (memory (export "memory") {pages})
              (func (export "user_entrypoint") (param $len i32) (result i32)
                (call $read_args (i32.const 0))
                (call $write_result (i32.const 0) (local.get $len))
                (i32.const 0)))"#
        ))
        .unwrap(),
    )
}

fn send_from(chain: &mut Chain, from: Address, to: Address, data: Vec<u8>, value: U256) -> Executed {
    chain.send(from, TxKind::Call(to), data, value).expect("the transaction is valid")
}

fn send(chain: &mut Chain, to: Address, data: Vec<u8>, value: U256) -> Executed {
    send_from(chain, DEV_ACCOUNT, to, data, value)
}

fn view(chain: &mut Chain, to: Address, data: Vec<u8>) -> Executed {
    chain.view(DEV_ACCOUNT, to, data).expect("the call is valid")
}

fn deploy(chain: &mut Chain, code: &[u8]) -> Address {
    let r = chain.send(DEV_ACCOUNT, TxKind::Create, stylus::init_code(code), U256::ZERO).unwrap();
    assert!(r.is_success(), "{:?}", r.result);
    r.contract_address.unwrap()
}

fn ether() -> U256 {
    U256::from(10u64).pow(U256::from(18u64))
}

fn activate(chain: &mut Chain, program: Address) -> Executed {
    let r = send(chain, ARB_WASM, ArbWasm::activateProgramCall { program }.abi_encode(), ether());
    assert!(r.is_success(), "{:?}", r.result);
    r
}

/// A chain at `arbos` with the echo program deployed and activated at a pinned time.
fn setup(arbos: u64, time: u64) -> (Chain, Address, B256) {
    let mut chain = Chain::new(&ChainConfig { arbos_version: arbos, ..Default::default() });
    chain.pinned_timestamp = Some(time);
    let code = echo_program(1);
    let program = deploy(&mut chain, &code);
    activate(&mut chain, program);
    (chain, program, keccak256(&code))
}

fn call_gas(chain: &mut Chain, program: Address) -> u64 {
    let r = send(chain, program, b"hello".to_vec(), U256::ZERO);
    assert!(r.is_success(), "{:?}", r.result);
    assert_eq!(r.output().as_ref(), b"hello");
    r.gas_used()
}

/// 2023-11-14 22:15:00 UTC: 77,392 whole hours after Arbitrum's start (1,421,388,000) plus 900 s,
/// so an activation then is recorded at hour 77,392 = 1,699,999,200 and is already 900 s old.
const T_ACTIVATE: u64 = 1_700_000_100;
const HOUR_START: u64 = 1_699_999_200;

#[test]
fn activation_records_nitros_costs_and_fee() {
    let mut chain = Chain::new(&ChainConfig::default());
    chain.pinned_timestamp = Some(T_ACTIVATE);
    let program = deploy(&mut chain, &echo_program(1));
    let r = activate(&mut chain, program);
    let ret = ArbWasm::activateProgramCall::abi_decode_returns(&r.output()).unwrap();
    assert_eq!((ret.version, ret.dataFee), (2, U256::from(ACTIVATION_FEE)));

    let out = view(&mut chain, ARB_WASM, ArbWasm::programInitGasCall { program }.abi_encode()).output();
    let init = ArbWasm::programInitGasCall::abi_decode_returns(&out).unwrap();
    // Nitro's `ProgramInitGas` from Stylus version 2: (initGas + cachedGas, cachedGas).
    assert_eq!((init.gas, init.gasWhenCached), (INIT_GAS + CACHED_GAS, CACHED_GAS));
    let hash = keccak256(echo_program(1));
    let out = view(&mut chain, ARB_WASM, ArbWasm::codehashAsmSizeCall { codehash: hash }.abi_encode()).output();
    assert_eq!(ArbWasm::codehashAsmSizeCall::abi_decode_returns(&out).unwrap() as u64, ASM_SIZE);
    let out = view(&mut chain, ARB_WASM, ArbWasm::programMemoryFootprintCall { program }.abi_encode()).output();
    assert_eq!(ArbWasm::programMemoryFootprintCall::abi_decode_returns(&out).unwrap(), 1);
    for (call, want) in [
        (ArbWasm::expiryDaysCall {}.abi_encode(), 365u64),
        (ArbWasm::keepaliveDaysCall {}.abi_encode(), 31),
        (ArbWasm::stylusVersionCall {}.abi_encode(), 2),
        (ArbWasm::blockCacheSizeCall {}.abi_encode(), 32),
    ] {
        assert_eq!(U256::from_be_slice(&view(&mut chain, ARB_WASM, call).output()), U256::from(want));
    }
    let out = view(&mut chain, ARB_WASM, ArbWasm::minInitGasCall {}.abi_encode()).output();
    let min = ArbWasm::minInitGasCall::abi_decode_returns(&out).unwrap();
    assert_eq!((min.gas, min.cached), (69 * 128, 11 * 32));

    // The program's fixed call cost is what Nitro burns for an uncached call: the devnet's call
    // overhead for this shape equals initGas + cachedGas.
    let info = stylus::validate(&stylus::unpack(&echo_program(1)).unwrap()).unwrap();
    assert_eq!(info.call_overhead_gas, INIT_GAS + CACHED_GAS);
}

#[test]
fn cached_programs_pay_cached_gas_only() {
    let (mut chain, program, hash) = setup(60, T_ACTIVATE);
    let uncached = call_gas(&mut chain, program);

    // The dev account is the chain owner: it may cache directly through ArbWasmCache.
    let r = send(&mut chain, ARB_WASM_CACHE, ArbWasmCache::cacheProgramCall { addr: program }.abi_encode(), U256::ZERO);
    assert!(r.is_success(), "{:?}", r.result);
    let ev = ArbWasmCache::UpdateProgramCache::decode_log_data(&r.logs()[0].data).unwrap();
    assert_eq!((ev.manager, ev.codehash, ev.cached), (DEV_ACCOUNT, hash, true));
    let out = view(&mut chain, ARB_WASM_CACHE, ArbWasmCache::codehashIsCachedCall { codehash: hash }.abi_encode());
    assert!(ArbWasmCache::codehashIsCachedCall::abi_decode_returns(&out.output()).unwrap());
    // Caching again changes nothing and emits nothing.
    let r = send(&mut chain, ARB_WASM_CACHE, ArbWasmCache::cacheProgramCall { addr: program }.abi_encode(), U256::ZERO);
    assert!(r.is_success() && r.logs().is_empty());

    let cached = call_gas(&mut chain, program);
    assert_eq!(uncached - cached, INIT_GAS, "a cached call skips initGas (8,832 + 32)");

    let r =
        send(&mut chain, ARB_WASM_CACHE, ArbWasmCache::evictCodehashCall { codehash: hash }.abi_encode(), U256::ZERO);
    assert!(r.is_success());
    assert!(!ArbWasmCache::UpdateProgramCache::decode_log_data(&r.logs()[0].data).unwrap().cached);
    assert_eq!(call_gas(&mut chain, program), uncached);

    // Anyone else is burned out: all the gas of the call, no data (Nitro's `BurnOut`).
    let stranger = Address::repeat_byte(0x77);
    chain.set_balance(stranger, ether());
    let r = send_from(
        &mut chain,
        stranger,
        ARB_WASM_CACHE,
        ArbWasmCache::cacheProgramCall { addr: program }.abi_encode(),
        U256::ZERO,
    );
    assert!(!r.is_success());
    // All of the in-process transaction's 30M limit; its L1 poster gas is charged on top of it.
    assert_eq!(r.gas_used() - r.gas_used_for_l1, 30_000_000);
    assert!(r.output().is_empty());

    // A program never activated cannot be cached: Nitro reports version 0 against 2.
    let other = deploy(&mut chain, &echo_program(2));
    let r = send(&mut chain, ARB_WASM_CACHE, ArbWasmCache::cacheProgramCall { addr: other }.abi_encode(), U256::ZERO);
    assert_eq!(r.output().as_ref(), ArbWasm::ProgramNeedsUpgrade { version: 0, stylusVersion: 2 }.abi_encode());
}

/// EVM code calling `program` twice with no data: PUSH1 0 ×5, PUSH20 program, GAS, CALL, POP,
/// twice, then STOP.
fn twice_caller(program: Address) -> Vec<u8> {
    let mut call = vec![0x60, 0, 0x60, 0, 0x60, 0, 0x60, 0, 0x60, 0, 0x73];
    call.extend_from_slice(program.as_slice());
    call.extend_from_slice(&[0x5a, 0xf1, 0x50]);
    let mut code = call.clone();
    code.extend_from_slice(&call);
    code.push(0x00);
    code
}

#[test]
fn arbos_60_prices_a_second_call_in_the_block_as_cached() {
    let mut gas = Vec::new();
    for arbos in [51, 60] {
        let (mut chain, program, _) = setup(arbos, T_ACTIVATE);
        let out = view(&mut chain, ARB_SYS, ArbSys::arbOSVersionCall {}.abi_encode()).output();
        // Nitro answers 55 + the ArbOS version.
        assert_eq!(U256::from_be_slice(&out), U256::from(55 + arbos));
        let caller = deploy(&mut chain, &twice_caller(program));
        let r = send(&mut chain, caller, Vec::new(), U256::ZERO);
        assert!(r.is_success(), "{:?}", r.result);
        gas.push(r.gas_used());
        // The recent-programs list lasts one block: the next transaction's first call pays in full.
        let again = send(&mut chain, caller, Vec::new(), U256::ZERO);
        assert_eq!(again.gas_used(), r.gas_used());
    }
    // Under ArbOS 60 the second call in the block skips initGas.
    assert_eq!(gas[0] - gas[1], INIT_GAS);
}

#[test]
fn programs_expire_and_keepalive_restarts_the_clock() {
    let (mut chain, program, hash) = setup(60, T_ACTIVATE);
    let time_left = |chain: &mut Chain| {
        let r = view(chain, ARB_WASM, ArbWasm::programTimeLeftCall { program }.abi_encode());
        (r.is_success(), r.output())
    };
    // Recorded at hour 77,392 (1,699,999,200): 900 s old, 365 days = 31,536,000 s to live.
    let (ok, out) = time_left(&mut chain);
    assert!(ok);
    assert_eq!(ArbWasm::programTimeLeftCall::abi_decode_returns(&out).unwrap(), 31_536_000 - 900);

    let keepalive = ArbWasm::codehashKeepaliveCall { codehash: hash }.abi_encode();
    let r = send(&mut chain, ARB_WASM, keepalive.clone(), ether());
    assert_eq!(r.output().as_ref(), ArbWasm::ProgramKeepaliveTooSoon { ageInSeconds: 900 }.abi_encode());
    // One second short of keepaliveDays (31 days = 2,678,400 s).
    chain.pinned_timestamp = Some(HOUR_START + 31 * DAY - 1);
    let r = send(&mut chain, ARB_WASM, keepalive.clone(), ether());
    assert_eq!(r.output().as_ref(), ArbWasm::ProgramKeepaliveTooSoon { ageInSeconds: 31 * DAY - 1 }.abi_encode());
    // Too little value for the fee.
    chain.pinned_timestamp = Some(HOUR_START + 31 * DAY);
    let r = send(&mut chain, ARB_WASM, keepalive.clone(), U256::from(1));
    let want = U256::from(KEEPALIVE_FEE);
    assert_eq!(r.output().as_ref(), ArbWasm::ProgramInsufficientValue { have: U256::from(1), want }.abi_encode());
    // Exactly 31 days: accepted; the fee goes to the network, the rest comes back.
    let fee_account = avocado_devnet::chain::arbos::NETWORK_FEE_ACCOUNT;
    let before = chain.balance(fee_account);
    let r = send(&mut chain, ARB_WASM, keepalive.clone(), ether());
    assert!(r.is_success(), "{:?}", r.result);
    let ev = ArbWasm::ProgramLifetimeExtended::decode_log_data(&r.logs()[0].data).unwrap();
    assert_eq!((ev.codehash, ev.dataFee), (hash, want));
    assert_eq!(chain.balance(fee_account) - before, want);
    // 1,702,677,600 is a whole hour (78,136): the program is 0 s old again.
    let kept = HOUR_START + 31 * DAY;
    assert_eq!((kept - 1_421_388_000) % 3600, 0);
    let (_, out) = time_left(&mut chain);
    assert_eq!(ArbWasm::programTimeLeftCall::abi_decode_returns(&out).unwrap(), 31_536_000);

    // At exactly 365 days it still runs; one second later it has expired.
    chain.pinned_timestamp = Some(kept + 365 * DAY);
    call_gas(&mut chain, program);
    chain.pinned_timestamp = Some(kept + 365 * DAY + 1);
    let expired = ArbWasm::ProgramExpired { ageInSeconds: 365 * DAY + 1 }.abi_encode();
    let r = send(&mut chain, program, b"hello".to_vec(), U256::ZERO);
    assert!(!r.is_success());
    assert_eq!(r.output().as_ref(), expired);
    let (ok, out) = time_left(&mut chain);
    assert!(!ok);
    assert_eq!(out.as_ref(), expired);
    let r = send(&mut chain, ARB_WASM, keepalive, ether());
    assert_eq!(r.output().as_ref(), expired);
    // An expired program may be activated again (it is not "up to date"); the demand has
    // drained, so the fee is the first activation's again.
    let r = activate(&mut chain, program);
    let ret = ArbWasm::activateProgramCall::abi_decode_returns(&r.output()).unwrap();
    assert_eq!(ret.dataFee, U256::from(ACTIVATION_FEE));
    call_gas(&mut chain, program);
}

#[test]
fn a_stylus_version_bump_needs_reactivation() {
    let (mut chain, program, hash) = setup(60, T_ACTIVATE);
    chain.set_stylus_version(3);
    assert_eq!(chain.stylus_version(), 3);
    let needs = ArbWasm::ProgramNeedsUpgrade { version: 2, stylusVersion: 3 }.abi_encode();
    let r = send(&mut chain, program, b"hello".to_vec(), U256::ZERO);
    assert_eq!(r.output().as_ref(), needs);
    let r = view(&mut chain, ARB_WASM, ArbWasm::codehashVersionCall { codehash: hash }.abi_encode());
    assert_eq!(r.output().as_ref(), needs);
    let r = view(&mut chain, ARB_WASM, ArbWasm::programVersionCall { program }.abi_encode());
    assert_eq!(r.output().as_ref(), needs);
    let r = activate(&mut chain, program);
    assert_eq!(ArbWasm::activateProgramCall::abi_decode_returns(&r.output()).unwrap().version, 3);
    call_gas(&mut chain, program);
    let out = view(&mut chain, ARB_WASM, ArbWasm::programVersionCall { program }.abi_encode()).output();
    assert_eq!(ArbWasm::programVersionCall::abi_decode_returns(&out).unwrap(), 3);
}

fn manager_u64(chain: &mut Chain, call: Vec<u8>) -> u64 {
    let r = view(chain, CACHE_MANAGER, call);
    assert!(r.is_success(), "{:?}", r.result);
    U256::from_be_slice(&r.output()).to()
}

#[test]
fn cache_manager_bids_evicts_and_refuses_like_the_solidity_contract() {
    let (mut chain, p, hash_p) = setup(60, T_ACTIVATE);
    let out = view(&mut chain, ARB_WASM_CACHE, ArbWasmCache::allCacheManagersCall {}.abi_encode()).output();
    assert_eq!(ArbWasmCache::allCacheManagersCall::abi_decode_returns(&out).unwrap(), vec![CACHE_MANAGER]);
    let out =
        view(&mut chain, ARB_WASM_CACHE, ArbWasmCache::isCacheManagerCall { manager: CACHE_MANAGER }.abi_encode());
    assert!(ArbWasmCache::isCacheManagerCall::abi_decode_returns(&out.output()).unwrap());
    assert_eq!(manager_u64(&mut chain, CacheManager::cacheSizeCall {}.abi_encode()), INIT_CACHE_SIZE);
    assert_eq!(manager_u64(&mut chain, CacheManager::decayCall {}.abi_encode()), INIT_DECAY);
    assert_eq!(manager_u64(&mut chain, CacheManager::queueSizeCall {}.abi_encode()), 0);
    assert_eq!(manager_u64(&mut chain, CacheManager::isPausedCall {}.abi_encode()), 0);
    assert_eq!(manager_u64(&mut chain, CacheManager::getMinBid_1Call { size: 8_000 }.abi_encode()), 0);

    // A bid of 1,000 wei at T: the bid is 1,000 + T · decay, the size the asm size.
    let decayed = |t: u64| U256::from(t) * U256::from(INIT_DECAY);
    let r = send(&mut chain, CACHE_MANAGER, CacheManager::placeBidCall { program: p }.abi_encode(), U256::from(1_000));
    assert!(r.is_success(), "{:?}", r.result);
    let up = ArbWasmCache::UpdateProgramCache::decode_log_data(&r.logs()[0].data).unwrap();
    assert_eq!((up.manager, up.codehash, up.cached), (CACHE_MANAGER, hash_p, true));
    let ins = CacheManager::InsertBid::decode_log_data(&r.logs()[1].data).unwrap();
    let bid_p = U256::from(1_000) + decayed(T_ACTIVATE);
    assert_eq!((ins.codehash, ins.program, U256::from(ins.bid), ins.size), (hash_p, p, bid_p, ASM_SIZE));
    assert_eq!(manager_u64(&mut chain, CacheManager::queueSizeCall {}.abi_encode()), ASM_SIZE);
    assert_eq!(chain.balance(CACHE_MANAGER), U256::from(1_000));
    let r = send(&mut chain, CACHE_MANAGER, CacheManager::placeBidCall { program: p }.abi_encode(), U256::ZERO);
    assert_eq!(r.output().as_ref(), CacheManager::AlreadyCached { codehash: hash_p }.abi_encode());

    // Only the chain owner sets parameters.
    let stranger = Address::repeat_byte(0x77);
    chain.set_balance(stranger, ether());
    let set = CacheManager::setCacheSizeCall { newSize: 600_000 }.abi_encode();
    let r = send_from(&mut chain, stranger, CACHE_MANAGER, set.clone(), U256::ZERO);
    assert_eq!(r.output().as_ref(), CacheManager::NotChainOwner { sender: stranger }.abi_encode());
    let r = send(&mut chain, CACHE_MANAGER, set, U256::ZERO);
    assert!(r.is_success());
    assert_eq!(CacheManager::SetCacheSize::decode_log_data(&r.logs()[0].data).unwrap().size, 600_000);

    // A second program does not fit beside the first (515,072 · 2 > 600,000): a lower bid is
    // refused with the bid it had to beat, a higher one evicts the first.
    let q = deploy(&mut chain, &echo_program(2));
    activate(&mut chain, q);
    let hash_q = keccak256(echo_program(2));
    let bid = CacheManager::placeBidCall { program: q }.abi_encode();
    let r = send(&mut chain, CACHE_MANAGER, bid.clone(), U256::from(999));
    let low = alloy_primitives::aliases::U192::from(U256::from(999) + decayed(T_ACTIVATE));
    let min = alloy_primitives::aliases::U192::from(bid_p);
    assert_eq!(r.output().as_ref(), CacheManager::BidTooSmall { bid: low, min }.abi_encode());
    let r = send(&mut chain, CACHE_MANAGER, bid, U256::from(2_000));
    assert!(r.is_success(), "{:?}", r.result);
    let del = CacheManager::DeleteBid::decode_log_data(&r.logs()[1].data).unwrap();
    assert_eq!((del.codehash, U256::from(del.bid), del.size), (hash_p, bid_p, ASM_SIZE));
    let cached = |chain: &mut Chain, h| {
        let out = view(chain, ARB_WASM_CACHE, ArbWasmCache::codehashIsCachedCall { codehash: h }.abi_encode());
        ArbWasmCache::codehashIsCachedCall::abi_decode_returns(&out.output()).unwrap()
    };
    assert!(!cached(&mut chain, hash_p));
    assert!(cached(&mut chain, hash_q));
    // The freed slot is reused.
    let out = view(&mut chain, CACHE_MANAGER, CacheManager::getEntriesCall {}.abi_encode()).output();
    let entries = CacheManager::getEntriesCall::abi_decode_returns(&out).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].code, hash_q);
    // To fit 100,000 more bytes (615,072 > 600,000) the 2,000-wei bid must be beaten: the
    // minimum bid, after the decay term, is 2,000.
    assert_eq!(manager_u64(&mut chain, CacheManager::getMinBid_1Call { size: 100_000 }.abi_encode()), 2_000);
    let r = view(&mut chain, CACHE_MANAGER, CacheManager::getMinBid_1Call { size: 600_001 }.abi_encode());
    let too_large =
        CacheManager::AsmTooLarge { asm: U256::from(600_001), queueSize: U256::ZERO, cacheSize: U256::from(600_000) };
    assert_eq!(r.output().as_ref(), too_large.abi_encode());

    // Paused: no bids. A program never activated: ArbWasm's error comes through.
    let r = send(&mut chain, CACHE_MANAGER, CacheManager::pausedCall {}.abi_encode(), U256::ZERO);
    assert!(r.is_success());
    let r = send(&mut chain, CACHE_MANAGER, CacheManager::placeBidCall { program: p }.abi_encode(), U256::ZERO);
    assert_eq!(r.output().as_ref(), CacheManager::BidsArePaused {}.abi_encode());
    send(&mut chain, CACHE_MANAGER, CacheManager::unpauseCall {}.abi_encode(), U256::ZERO);
    let never = deploy(&mut chain, &echo_program(3));
    let r = send(&mut chain, CACHE_MANAGER, CacheManager::placeBidCall { program: never }.abi_encode(), U256::ZERO);
    assert_eq!(r.output().as_ref(), ArbWasm::ProgramNotActivated {}.abi_encode());

    // The revenue goes to the network fee account.
    let fee_account = avocado_devnet::chain::arbos::NETWORK_FEE_ACCOUNT;
    let before = chain.balance(fee_account);
    send(&mut chain, CACHE_MANAGER, CacheManager::sweepFundsCall {}.abi_encode(), U256::ZERO);
    assert_eq!(chain.balance(fee_account) - before, U256::from(3_000));
    assert_eq!(chain.balance(CACHE_MANAGER), U256::ZERO);
}

/// What `cargo stylus cache status|bid|suggest-bid` does, over JSON-RPC with alloy, and (when
/// cargo-stylus is installed) cargo-stylus itself against the devnet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_stylus_cache_commands_work_over_json_rpc() {
    use alloy_network::{EthereumWallet, TransactionBuilder};
    use alloy_provider::{Provider, ProviderBuilder};
    use alloy_rpc_types_eth::TransactionRequest;
    use alloy_signer_local::PrivateKeySigner;

    const DEV_KEY: &str = "b6b15c8cb491557369f3c7d2c287b053eb229daa9c22138887752191c9520659";
    let node = avocado_devnet::rpc::start(ChainConfig::default(), SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let url = node.url();
    let signer: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let provider = ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(url.parse().unwrap());
    let code = echo_program(1);
    let tx = TransactionRequest::default().with_deploy_code(stylus::init_code(&code));
    let r = provider.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
    let program = r.contract_address.unwrap();
    let act = TransactionRequest::default()
        .with_to(ARB_WASM)
        .with_input(ArbWasm::activateProgramCall { program }.abi_encode())
        .with_value(ether());
    assert!(provider.send_transaction(act).await.unwrap().get_receipt().await.unwrap().status());

    let call = |to: Address, data: Vec<u8>| {
        let provider = &provider;
        async move { provider.call(TransactionRequest::default().with_to(to).with_input(data)).await.unwrap() }
    };
    // `get_cache_manager_address`: the last of `allCacheManagers()`.
    let out = call(ARB_WASM_CACHE, ArbWasmCache::allCacheManagersCall {}.abi_encode()).await;
    let managers = ArbWasmCache::allCacheManagersCall::abi_decode_returns(&out).unwrap();
    assert_eq!(managers.last(), Some(&CACHE_MANAGER));
    // `check_status`: isPaused, queueSize, cacheSize, getMinBid(8/16/24 kB), codehashIsCached.
    let out = call(CACHE_MANAGER, CacheManager::isPausedCall {}.abi_encode()).await;
    assert!(!CacheManager::isPausedCall::abi_decode_returns(&out).unwrap());
    let out = call(CACHE_MANAGER, CacheManager::cacheSizeCall {}.abi_encode()).await;
    assert_eq!(CacheManager::cacheSizeCall::abi_decode_returns(&out).unwrap(), INIT_CACHE_SIZE);
    for size in [8_000, 16_000, 24_000] {
        let out = call(CACHE_MANAGER, CacheManager::getMinBid_1Call { size }.abi_encode()).await;
        assert_eq!(
            CacheManager::getMinBid_1Call::abi_decode_returns(&out).unwrap(),
            alloy_primitives::aliases::U192::ZERO
        );
    }
    let hash = keccak256(provider.get_code_at(program).await.unwrap());
    // `suggest_bid`: getMinBid(address).
    let out = call(CACHE_MANAGER, CacheManager::getMinBid_0Call { program }.abi_encode()).await;
    assert_eq!(CacheManager::getMinBid_0Call::abi_decode_returns(&out).unwrap(), alloy_primitives::aliases::U192::ZERO);

    let cached = || async {
        let out = call(ARB_WASM_CACHE, ArbWasmCache::codehashIsCachedCall { codehash: hash }.abi_encode()).await;
        ArbWasmCache::codehashIsCachedCall::abi_decode_returns(&out).unwrap()
    };
    assert!(!cached().await);

    let cargo_stylus =
        std::process::Command::new("which").arg("cargo-stylus").output().is_ok_and(|o| o.status.success());
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let out =
                std::process::Command::new("cargo").arg("stylus").args(&args).output().expect("cargo stylus runs");
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            eprintln!("cargo stylus {}:\n{text}", args.join(" "));
            (out.status.success(), text)
        })
    };
    if cargo_stylus {
        let (ok, text) = run(vec![
            "cache".into(),
            "status".into(),
            "--endpoint".into(),
            url.clone(),
            "--address".into(),
            program.to_string(),
        ])
        .await
        .unwrap();
        assert!(ok, "{text}");
        assert!(text.contains("is not yet cached"), "{text}");
        let (ok, text) = run(vec![
            "cache".into(),
            "bid".into(),
            program.to_string(),
            "0".into(),
            "--endpoint".into(),
            url.clone(),
            "--private-key".into(),
            DEV_KEY.into(),
        ])
        .await
        .unwrap();
        assert!(ok, "{text}");
        assert!(text.contains("Successfully cached"), "{text}");
    } else {
        // `place_bid`: an eth_call from the sender, then the transaction.
        let bid = TransactionRequest::default()
            .with_from(DEV_ACCOUNT)
            .with_to(CACHE_MANAGER)
            .with_input(CacheManager::placeBidCall { program }.abi_encode());
        provider.call(bid.clone()).await.unwrap();
        assert!(provider.send_transaction(bid).await.unwrap().get_receipt().await.unwrap().status());
    }
    assert!(cached().await);
    let out = call(CACHE_MANAGER, CacheManager::queueSizeCall {}.abi_encode()).await;
    assert_eq!(CacheManager::queueSizeCall::abi_decode_returns(&out).unwrap(), ASM_SIZE);
    if cargo_stylus {
        let (ok, text) = run(vec![
            "cache".into(),
            "status".into(),
            "--endpoint".into(),
            url.clone(),
            "--address".into(),
            program.to_string(),
        ])
        .await
        .unwrap();
        assert!(ok, "{text}");
        assert!(text.contains("is cached"), "{text}");
    }
    // A second bid is refused with the error cargo-stylus decodes.
    let again = TransactionRequest::default()
        .with_from(DEV_ACCOUNT)
        .with_to(CACHE_MANAGER)
        .with_input(CacheManager::placeBidCall { program }.abi_encode());
    let err = provider.call(again).await.unwrap_err();
    let data = err.as_error_resp().and_then(|e| e.as_revert_data()).expect("revert data");
    assert_eq!(data.as_ref(), CacheManager::AlreadyCached { codehash: hash }.abi_encode());
    node.stop().await;
}
