//! Ink: the unit Stylus execution is metered in (1 gas = 10,000 ink), and Nitro's hostio prices.
//!
//! All ink of a call lives in one counter compiled into the program (see `instrument.rs`), so
//! WASM operators and hostios draw from one budget and running out of either traps the program
//! the same way. Hostio costs are Nitro's (`pricing.rs` base costs and the EVM gas they buy).

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
/// `create1`/`create2`.
pub const CREATE_INK: u64 = HOSTIO_INK + 3 * PTR_INK + EVM_API_INK;
/// `account_*`.
pub const ACCOUNT_INK: u64 = HOSTIO_INK + 2 * PTR_INK + EVM_API_INK;
/// Gas of a storage read that misses the cache (cold SLOAD + the EVM API surcharge).
pub const COLD_SLOAD_GAS: u64 = 2_100 + 5;
/// Gas of writing a dirty slot at flush (a fresh slot; see `EvmApi::storage_store`).
pub const SSTORE_GAS: u64 = 20_000;

/// Ink to move `n` bytes between guest and host.
pub fn per_byte(n: usize) -> u64 {
    PTR_INK + 30 * (n as u64).saturating_sub(32)
}

/// Ink of `native_keccak256` over `n` bytes.
pub fn keccak_ink(n: usize) -> u64 {
    121_800 + 21_000 * (n as u64).div_ceil(32).saturating_sub(2)
}

/// Gas of growing memory by `pages` beyond the two free pages (linear approximation of Nitro's
/// memory model, which is exponential only far beyond what programs use).
pub fn memory_grow_gas(pages: u64) -> u64 {
    1_000 * pages
}

/// The trap message of an exhausted budget.
pub const OUT_OF_INK: &str = "out of ink";
