//! ArbOS's record of activated programs, its Stylus parameters and its data pricer, kept in the
//! storage of the ArbOS state account the way Nitro keeps them (`arbos/programs/programs.go`,
//! `params.go`, `data_pricer.go`).
//!
//! Why a record and not just "activated or not": everything a call, a keepalive or the cache
//! decides comes from it. A program's record holds the Stylus version it was activated at, its
//! init and cached-init costs, its memory footprint, its estimated compiled size, the hour it was
//! activated (or last kept alive), and whether it is cached. A call checks the version against the
//! chain's (`ProgramNeedsUpgrade`) and the age against `expiryDays` (`ProgramExpired`), and pays
//! `cachedGas` only — not `initGas` — when the program is cached or, from ArbOS 60, was already
//! called earlier in the same block. The layout is Nitro's (one word per code hash:
//! version, initCost, cachedCost, footprint, activatedAt, asmEstimateKb, cached), so numbers read
//! through ArbWasm are Nitro's numbers.
//!
//! Time is ArbOS time, the block timestamp: `evm_increaseTime` and `evm_setNextBlockTimestamp`
//! move it, which is how expiry is tested.

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolError;
use revm::{
    context::{ContextTr, JournalTr},
    context_interface::Block,
};

use super::arbos::{ArbWasm, ARBOS_STATE};
use super::evm::Ctx;
use crate::stylus::program::ProgramShape;

/// Nitro's `ArbitrumStartTime`: activation hours are counted from it.
pub const ARBITRUM_START_TIME: u64 = 1_421_388_000;
/// The newest ArbOS version whose Stylus rules the devnet implements, and its default.
pub const NEWEST_ARBOS_VERSION: u64 = 60;
/// The oldest ArbOS version the devnet accepts: Stylus arrived in ArbOS 30.
pub const OLDEST_ARBOS_VERSION: u64 = 30;
/// ArbOS 60 prices programs called earlier in the same block as cached.
pub const ARBOS_RECENT_WASMS: u64 = 60;
/// ArbOS 32 ("Stylus charging fixes") added `ArbWasm.minInitGas`.
pub const ARBOS_STYLUS_CHARGING_FIXES: u64 = 32;
/// The Stylus version a new chain starts at (Nitro's current).
pub const DEFAULT_STYLUS_VERSION: u16 = 2;

/// Slots of the ArbOS state account besides program records (which are keyed by code hash, so
/// small integers cannot collide with them).
const SLOT_STYLUS_VERSION: u64 = 1;
const SLOT_ARBOS_VERSION: u64 = 2;
const SLOT_DATA_DEMAND: u64 = 3;
const SLOT_DATA_LAST_UPDATE: u64 = 4;
const SLOT_CACHE_MANAGERS: u64 = 5;
const SLOT_CACHE_MANAGER_BASE: u64 = 0x1000;

/// Nitro's Stylus parameters (`arbos/programs/params.go`), as a chain at `version` has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StylusParams {
    /// The Stylus version programs must be activated at to run.
    pub version: u16,
    /// Ink per gas.
    pub ink_price: u32,
    /// Pages a transaction gets free.
    pub free_pages: u16,
    /// Gas per page beyond those.
    pub page_gas: u16,
    /// Drives the exponential memory cost.
    pub page_ramp: u64,
    /// Most initial pages.
    pub page_limit: u16,
    /// `initGas`'s floor, in units of 128 gas: 72 at Stylus version 1, 69 from version 2.
    pub min_init_gas: u8,
    /// `cachedGas`'s floor, in units of 32 gas.
    pub min_cached_init_gas: u8,
    /// `initCost` scalar, in units of 2 %.
    pub init_cost_scalar: u8,
    /// `cachedCost` scalar, in units of 2 %.
    pub cached_cost_scalar: u8,
    /// Days after activation (or keepalive) a program stops running.
    pub expiry_days: u16,
    /// Days a program must have aged before a keepalive is accepted.
    pub keepalive_days: u16,
    /// How many programs ArbOS remembers as recently called within a block (ArbOS 60).
    pub block_cache_size: u16,
}

impl StylusParams {
    /// Nitro's initial parameters, upgraded to Stylus `version`.
    pub fn at(version: u16) -> Self {
        Self {
            version,
            ink_price: 10_000,
            free_pages: 2,
            page_gas: 1_000,
            page_ramp: 620_674_314,
            page_limit: 128,
            min_init_gas: if version >= 2 { 69 } else { 72 },
            min_cached_init_gas: 11,
            init_cost_scalar: 50,
            cached_cost_scalar: 50,
            expiry_days: 365,
            keepalive_days: 31,
            block_cache_size: 32,
        }
    }

    /// `expiryDays` in seconds.
    pub fn expiry_seconds(&self) -> u64 {
        self.expiry_days as u64 * 86_400
    }

    /// `keepaliveDays` in seconds.
    pub fn keepalive_seconds(&self) -> u64 {
        self.keepalive_days as u64 * 86_400
    }
}

/// What ArbOS records of an activated program (Nitro's `Program`, one storage word).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgramRecord {
    /// Stylus version it was activated at; 0 when never activated.
    pub version: u16,
    /// Nitro's `initCost`.
    pub init_cost: u16,
    /// Nitro's `cachedCost`.
    pub cached_cost: u16,
    /// Initial memory pages.
    pub footprint: u16,
    /// Hours since [`ARBITRUM_START_TIME`] at activation or the last keepalive (24 bits).
    pub activated_at: u32,
    /// Estimated compiled size, in KiB rounded up (24 bits).
    pub asm_estimate_kb: u32,
    /// Whether a cache manager (or a chain owner) cached it.
    pub cached: bool,
}

impl ProgramRecord {
    /// Nitro's word layout: bytes 0–1 version, 2–3 initCost, 4–5 cachedCost, 6–7 footprint,
    /// 8–10 activatedAt, 11–13 asmEstimateKb, 14 cached.
    pub fn encode(&self) -> U256 {
        let mut w = [0u8; 32];
        w[0..2].copy_from_slice(&self.version.to_be_bytes());
        w[2..4].copy_from_slice(&self.init_cost.to_be_bytes());
        w[4..6].copy_from_slice(&self.cached_cost.to_be_bytes());
        w[6..8].copy_from_slice(&self.footprint.to_be_bytes());
        w[8..11].copy_from_slice(&self.activated_at.to_be_bytes()[1..]);
        w[11..14].copy_from_slice(&self.asm_estimate_kb.to_be_bytes()[1..]);
        w[14] = self.cached as u8;
        U256::from_be_bytes(w)
    }

    /// The record a storage word holds.
    pub fn decode(word: U256) -> Self {
        let w = word.to_be_bytes::<32>();
        let u24 = |b: &[u8]| u32::from_be_bytes([0, b[0], b[1], b[2]]);
        Self {
            version: u16::from_be_bytes([w[0], w[1]]),
            init_cost: u16::from_be_bytes([w[2], w[3]]),
            cached_cost: u16::from_be_bytes([w[4], w[5]]),
            footprint: u16::from_be_bytes([w[6], w[7]]),
            activated_at: u24(&w[8..11]),
            asm_estimate_kb: u24(&w[11..14]),
            cached: w[14] != 0,
        }
    }

    /// Seconds since activation (or the last keepalive) at `time`, from the recorded hour.
    pub fn age(&self, time: u64) -> u64 {
        hours_to_age(time, self.activated_at)
    }

    /// Nitro's `initGas`: `MinInitGas·128 + ⌈initCost·scalar·2 / 100⌉`.
    pub fn init_gas(&self, params: &StylusParams) -> u64 {
        let base = params.min_init_gas as u64 * 128;
        let dyno = self.init_cost as u64 * (params.init_cost_scalar as u64 * 2);
        base + dyno.div_ceil(100)
    }

    /// Nitro's `cachedGas`: `MinCachedInitGas·32 + ⌈cachedCost·scalar·2 / 100⌉`.
    pub fn cached_gas(&self, params: &StylusParams) -> u64 {
        let base = params.min_cached_init_gas as u64 * 32;
        let dyno = self.cached_cost as u64 * (params.cached_cost_scalar as u64 * 2);
        base + dyno.div_ceil(100)
    }

    /// The gas a call pays before running, besides memory: `cachedGas` when cached (or from
    /// Stylus version 2 on, always), plus `initGas` when not cached (`CallProgram`).
    pub fn call_gas(&self, params: &StylusParams, cached: bool) -> u64 {
        let mut gas = 0;
        if cached || self.version > 1 {
            gas += self.cached_gas(params);
        }
        if !cached {
            gas += self.init_gas(params);
        }
        gas
    }

    /// The compiled size ArbWasm reports: `asmEstimateKb · 1024`.
    pub fn asm_size(&self) -> u32 {
        self.asm_estimate_kb.saturating_mul(1024)
    }
}

/// Nitro's activation-time estimates for a program of `shape` at Stylus `version`
/// (`crates/prover/src/binary.rs`): (initCost, cachedCost, asmEstimate in bytes).
pub fn activation_costs(shape: &ProgramShape, version: u16) -> (u16, u16, u32) {
    let s = shape;
    // Nitro counts the four globals its instrumentation adds.
    let globals = s.globals + 4;
    let cached = s.functions * 13_420 / 100_000
        + s.signature_words * 89 / 100_000
        + s.wasm_len * 122 / 100_000
        + globals * 1_628 / 1_000
        + s.data * 75_244 / 100_000
        + s.pages * 5;
    let mut init = if version == 1 { cached } else { 0 };
    init += s.functions * 8_252 / 1_000 + s.signature_words * 1_059 / 1_000 + s.wasm_len * 1_286 / 10_000;
    let asm =
        512_000 + s.functions * 996_829 / 1_000 + s.signature_words * 11_416 / 1_000 + s.wasm_len * 62_628 / 10_000;
    (init.min(u16::MAX as u64) as u16, cached.min(u16::MAX as u64) as u16, asm.min(u32::MAX as u64) as u32)
}

/// Hours since Arbitrum began at `time`, rounded down (24 bits, saturating).
pub fn hours_since_arbitrum(time: u64) -> u32 {
    (time.saturating_sub(ARBITRUM_START_TIME) / 3600).min(0xFF_FFFF) as u32
}

/// Seconds between the start of hour `hours` and `time`.
pub fn hours_to_age(time: u64, hours: u32) -> u64 {
    time.saturating_sub(ARBITRUM_START_TIME + hours as u64 * 3600)
}

/// Nitro's data pricer (`data_pricer.go`) with its initial constants.
pub mod data_pricer {
    /// Bytes of demand forgiven per second: 1 TiB a year.
    pub const BYTES_PER_SECOND: u32 = ((1u64 << 40) / (365 * 24) / 3600) as u32;
    /// Wei per byte at zero demand.
    pub const MIN_PRICE: u32 = 82_928_201;
    /// Demand at which the price is e times the minimum.
    pub const INERTIA: u32 = 21_360_419;

    /// Nitro's `ApproxExpBasisPoints`: `b·e^(x/b)` by Horner's method, b = 10,000.
    pub fn approx_exp_bips(x: u64, accuracy: u64) -> u64 {
        let b = 10_000u64;
        let mut res = b + x / accuracy;
        for i in (1..accuracy).rev() {
            res = b + res.saturating_mul(x) / (i * b);
        }
        res
    }

    /// The new demand and the fee in wei for `bytes` at `time`, from the stored demand and the
    /// time of the last update.
    pub fn update(demand: u32, last_update: u64, bytes: u32, time: u64) -> (u32, u128) {
        let passed = time.saturating_sub(last_update).min(u32::MAX as u64) as u32;
        let credit = BYTES_PER_SECOND.saturating_mul(passed);
        let demand = demand.saturating_sub(credit).saturating_add(bytes);
        let exponent = 10_000u64 * demand as u64 / INERTIA as u64;
        let multiplier = approx_exp_bips(exponent, 12);
        let per_byte = (MIN_PRICE as u64).saturating_mul(multiplier) / 10_000;
        (demand, per_byte as u128 * bytes as u128)
    }
}

fn slot(n: u64) -> U256 {
    U256::from(n)
}

/// Reads a slot of the ArbOS state account through the journal.
pub fn load(ctx: &mut Ctx, key: U256) -> U256 {
    // The journal reads storage only of accounts it has loaded.
    if ctx.journal_mut().load_account(ARBOS_STATE).is_err() {
        return U256::ZERO;
    }
    ctx.journal_mut().sload(ARBOS_STATE, key).map(|v| v.data).unwrap_or_default()
}

/// Writes a slot of the ArbOS state account through the journal.
pub fn store(ctx: &mut Ctx, key: U256, value: U256) -> Result<(), String> {
    let journal = ctx.journal_mut();
    journal.load_account(ARBOS_STATE).map_err(|e| e.to_string())?;
    journal.sstore(ARBOS_STATE, key, value).map_err(|e| e.to_string())?;
    journal.touch_account(ARBOS_STATE);
    Ok(())
}

/// The chain's ArbOS version (state written at genesis; a state without it is the newest).
pub fn arbos_version(ctx: &mut Ctx) -> u64 {
    match load(ctx, slot(SLOT_ARBOS_VERSION)).saturating_to::<u64>() {
        0 => NEWEST_ARBOS_VERSION,
        v => v,
    }
}

/// The chain's Stylus parameters now.
pub fn params(ctx: &mut Ctx) -> StylusParams {
    let v = match load(ctx, slot(SLOT_STYLUS_VERSION)).saturating_to::<u16>() {
        0 => DEFAULT_STYLUS_VERSION,
        v => v,
    };
    StylusParams::at(v)
}

/// The ArbOS state-account slots and values a new chain starts with.
pub fn genesis_storage(arbos_version: u64, stylus_version: u16, cache_managers: &[Address]) -> Vec<(U256, U256)> {
    let mut out = vec![
        (slot(SLOT_ARBOS_VERSION), U256::from(arbos_version)),
        (slot(SLOT_STYLUS_VERSION), U256::from(stylus_version)),
        (slot(SLOT_DATA_LAST_UPDATE), U256::from(ARBITRUM_START_TIME)),
        (slot(SLOT_CACHE_MANAGERS), U256::from(cache_managers.len())),
    ];
    for (i, m) in cache_managers.iter().enumerate() {
        out.push((slot(SLOT_CACHE_MANAGER_BASE + i as u64), U256::from_be_slice(m.as_slice())));
    }
    out
}

/// The slot holding the chain's Stylus version (for the dev method that bumps it).
pub fn stylus_version_slot() -> U256 {
    slot(SLOT_STYLUS_VERSION)
}

/// The registered cache managers.
pub fn cache_managers(ctx: &mut Ctx) -> Vec<Address> {
    let n = load(ctx, slot(SLOT_CACHE_MANAGERS)).saturating_to::<u64>().min(1024);
    (0..n).map(|i| Address::from_word(B256::from(load(ctx, slot(SLOT_CACHE_MANAGER_BASE + i))))).collect()
}

/// The record of `code_hash` (all zero when never activated).
pub fn record(ctx: &mut Ctx, code_hash: B256) -> ProgramRecord {
    ProgramRecord::decode(load(ctx, code_hash.into()))
}

/// Writes the record of `code_hash`.
pub fn set_record(ctx: &mut Ctx, code_hash: B256, record: &ProgramRecord) -> Result<(), String> {
    store(ctx, code_hash.into(), record.encode())
}

/// The block time the running transaction sees.
pub fn now(ctx: &mut Ctx) -> u64 {
    ctx.block().timestamp().saturating_to()
}

/// Nitro's `getActiveProgram`: the record if `code_hash` may run now, or the ArbWasm error's
/// revert data (`ProgramNotActivated`, `ProgramNeedsUpgrade`, `ProgramExpired`, in that order).
pub fn active_program(ctx: &mut Ctx, code_hash: B256) -> Result<(ProgramRecord, StylusParams), Vec<u8>> {
    let params = params(ctx);
    let time = now(ctx);
    let r = record(ctx, code_hash);
    if r.version == 0 {
        return Err(ArbWasm::ProgramNotActivated {}.abi_encode());
    }
    if r.version != params.version {
        return Err(ArbWasm::ProgramNeedsUpgrade { version: r.version, stylusVersion: params.version }.abi_encode());
    }
    let age = r.age(time);
    if age > params.expiry_seconds() {
        return Err(ArbWasm::ProgramExpired { ageInSeconds: age }.abi_encode());
    }
    Ok((r, params))
}

/// Runs Nitro's data pricer for `bytes` now, storing the new demand: the data fee in wei.
pub fn data_fee(ctx: &mut Ctx, bytes: u32) -> Result<U256, String> {
    let time = now(ctx);
    let demand = load(ctx, slot(SLOT_DATA_DEMAND)).saturating_to::<u32>();
    let last = load(ctx, slot(SLOT_DATA_LAST_UPDATE)).saturating_to::<u64>();
    let (demand, fee) = data_pricer::update(demand, last, bytes, time);
    store(ctx, slot(SLOT_DATA_DEMAND), U256::from(demand))?;
    store(ctx, slot(SLOT_DATA_LAST_UPDATE), U256::from(time))?;
    Ok(U256::from(fee))
}

/// The programs called so far in the current block, most recent last (geth's `RecentWasms`, an
/// LRU of `blockCacheSize` code hashes discarded at the end of each block; not journaled, so a
/// reverted call still counts). The devnet mines one transaction per block, so this lives as
/// long as one transaction's execution.
#[derive(Clone, Debug, Default)]
pub struct RecentPrograms(Vec<B256>);

impl RecentPrograms {
    /// Records a call of `code_hash`; whether it was already among the `retain` most recent.
    pub fn insert(&mut self, code_hash: B256, retain: u16) -> bool {
        if let Some(i) = self.0.iter().position(|h| *h == code_hash) {
            let h = self.0.remove(i);
            self.0.push(h);
            return true;
        }
        self.0.push(code_hash);
        if self.0.len() > retain as usize {
            self.0.remove(0);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_in_nitros_layout() {
        let r = ProgramRecord {
            version: 2,
            init_cost: 0x1234,
            cached_cost: 0x0056,
            footprint: 3,
            activated_at: 0x0A_BCDE,
            asm_estimate_kb: 0x00_0200,
            cached: true,
        };
        let w = r.encode().to_be_bytes::<32>();
        assert_eq!(&w[..15], &[0, 2, 0x12, 0x34, 0, 0x56, 0, 3, 0x0A, 0xBC, 0xDE, 0, 2, 0, 1]);
        assert_eq!(ProgramRecord::decode(r.encode()), r);
    }

    #[test]
    fn recent_programs_is_an_lru() {
        let (a, b, c) = (B256::repeat_byte(1), B256::repeat_byte(2), B256::repeat_byte(3));
        let mut r = RecentPrograms::default();
        assert!(!r.insert(a, 2));
        assert!(r.insert(a, 2));
        assert!(!r.insert(b, 2));
        assert!(r.insert(a, 2)); // a is now the most recent
        assert!(!r.insert(c, 2)); // evicts b
        assert!(r.insert(a, 2));
        assert!(!r.insert(b, 2));
    }
}
