//! Ink: the unit Stylus execution is metered in (1 gas = 10,000 ink), and Nitro's hostio prices.
//!
//! All ink of a call lives in one counter compiled into the program (see `instrument.rs`), so
//! WASM operators and hostios draw from one budget and running out of either traps the program
//! the same way. Hostio costs are Nitro's (`pricing.rs` base costs and the EVM gas they buy).

use alloy_primitives::B256;

/// Ink bought by one gas.
pub const INK_PER_GAS: u64 = 10_000;
/// Base cost of every hostio.
pub const HOSTIO_INK: u64 = 8_400;
/// Cost of one pointer argument.
pub const PTR_INK: u64 = 5_040;
/// Cost of a request to the EVM side.
pub const EVM_API_INK: u64 = 59_673;
/// `storage_load_bytes32`.
pub const STORAGE_LOAD_INK: u64 = HOSTIO_INK + 2 * PTR_INK;
/// `storage_cache_bytes32`.
pub const STORAGE_CACHE_INK: u64 = HOSTIO_INK + 2 * PTR_INK;
/// `storage_flush_cache`.
pub const STORAGE_FLUSH_INK: u64 = HOSTIO_INK + EVM_API_INK;
/// `*call_contract`.
pub const CALL_INK: u64 = HOSTIO_INK + 3 * PTR_INK + EVM_API_INK;
/// `create1`.
pub const CREATE_INK: u64 = HOSTIO_INK + 3 * PTR_INK + EVM_API_INK;
/// `account_balance`, `account_codehash`.
pub const ACCOUNT_INK: u64 = HOSTIO_INK + 2 * PTR_INK + EVM_API_INK;

/// Ink of `native_keccak256` over `n` bytes.
pub fn keccak_ink(n: usize) -> u64 {
    121_800 + 21_000 * (n as u64).div_ceil(32).saturating_sub(2)
}

/// The trap message of an exhausted budget.
pub const OUT_OF_INK: &str = "out of ink";

// ---- Nitro's EVM-side gas (ArbOS 32+; see the README's "Gas" section for the source files). ----

/// `EVM_API_INK` as gas, as Nitro adds it to a storage read that misses the cache (ArbOS ≥ 32).
pub const EVM_API_GAS: u64 = EVM_API_INK / INK_PER_GAS;
/// EIP-2929 cold slot access.
pub const COLD_SLOAD_GAS: u64 = 2_100;
/// EIP-2929 warm access.
pub const WARM_ACCESS_GAS: u64 = 100;
/// EIP-2929 cold account access.
pub const COLD_ACCOUNT_GAS: u64 = 2_600;
/// EIP-2200's sentry: gas a storage write requires to be left.
pub const SSTORE_SENTRY_GAS: u64 = 2_300;
/// Gas the storage cache requires besides the access (Nitro's `REQUIRED_ACCESS_GAS`).
pub const REQUIRED_ACCESS_GAS: u64 = 10;
/// EIP-3529's refund for clearing a slot.
pub const CLEAR_REFUND: i64 = 4_800;
/// Ink of the hostios returning a 20- or 32-byte value (`block_basefee`, `msg_sender`, …).
pub const PTR_HOSTIO_INK: u64 = HOSTIO_INK + PTR_INK;
/// `transient_load_bytes32`/`transient_store_bytes32`.
pub const TRANSIENT_INK: u64 = HOSTIO_INK + 2 * PTR_INK + EVM_API_INK;
/// `create2`.
pub const CREATE2_INK: u64 = HOSTIO_INK + 4 * PTR_INK + EVM_API_INK;
/// `read_return_data`, `emit_log`, `account_code`, `account_code_size`.
pub const EVM_HOSTIO_INK: u64 = HOSTIO_INK + EVM_API_INK;

/// Ink to write `n` bytes into the program's memory.
pub fn write_price(n: u64) -> u64 {
    PTR_INK + 30 * n.saturating_sub(32)
}

/// Ink to read `n` bytes from the program's memory.
pub fn read_price(n: u64) -> u64 {
    16_381 + 55 * n.saturating_sub(32)
}

/// Gas of the `n`th read of the storage cache in one call (hits included), counting from 1.
pub fn cache_read_gas(n: usize) -> u64 {
    match n {
        0..=32 => 0,
        33..=128 => 2,
        _ => 10,
    }
}

/// Gas of the `n`th write to the storage cache in one call, counting from 1.
pub fn cache_write_gas(n: usize) -> u64 {
    match n {
        0..=8 => 0,
        9..=64 => 7,
        _ => 10,
    }
}

/// Gas of a storage read reaching the chain: EIP-2929's cold or warm slot access.
pub fn sload_gas(cold: bool) -> u64 {
    if cold {
        COLD_SLOAD_GAS
    } else {
        WARM_ACCESS_GAS
    }
}

/// `WasmStateStoreCost`: the gas of writing `new` over `current` in a slot that held `original`
/// at the start of the transaction (EIP-2200, with EIP-2929's access costs and EIP-3529's
/// refunds), and the change it makes to the refund counter.
pub fn sstore_cost(original: B256, current: B256, new: B256, cold: bool) -> (u64, i64) {
    let access = if cold { COLD_SLOAD_GAS } else { 0 };
    if current == new {
        return (access + WARM_ACCESS_GAS, 0);
    }
    if original == current {
        if original.is_zero() {
            return (access + 20_000, 0);
        }
        let refund = if new.is_zero() { CLEAR_REFUND } else { 0 };
        return (access + 5_000 - COLD_SLOAD_GAS, refund);
    }
    let mut refund = 0;
    if !original.is_zero() {
        if current.is_zero() {
            refund -= CLEAR_REFUND;
        } else if new.is_zero() {
            refund += CLEAR_REFUND;
        }
    }
    if original == new {
        refund += if original.is_zero() {
            (20_000 - WARM_ACCESS_GAS) as i64
        } else {
            (5_000 - COLD_SLOAD_GAS - WARM_ACCESS_GAS) as i64
        };
    }
    (access + WARM_ACCESS_GAS, refund)
}

/// `WasmAccountTouchCost`: 2,600 for a cold account, 100 for a warm one, plus 700 when the code
/// is read (at the default 24,576-byte code size limit).
pub fn account_gas(cold: bool, with_code: bool) -> u64 {
    let code = if with_code { 700 } else { 0 };
    code + if cold { COLD_ACCOUNT_GAS } else { WARM_ACCESS_GAS }
}

/// EIP-2929's cold surcharge, the new-account and value-transfer costs of a call.
pub const CALL_NEW_ACCOUNT_GAS: u64 = 25_000;
/// The value-transfer cost of a call.
pub const CALL_VALUE_GAS: u64 = 9_000;
/// The stipend a call with value gives the callee.
pub const CALL_STIPEND: u64 = 2_300;

/// The gas a call passes to its callee after `base` is paid from `gas_left`: 63/64 of what is
/// left, at most `gas_req`, plus the stipend when value moves.
pub fn call_gas(gas_left: u64, base: u64, gas_req: u64, with_value: bool) -> u64 {
    let start = gas_left.saturating_sub(base) * 63 / 64;
    let gas = start.min(gas_req);
    if with_value {
        gas.saturating_add(CALL_STIPEND)
    } else {
        gas
    }
}
