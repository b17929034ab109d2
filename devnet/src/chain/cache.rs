//! Nitro's program cache: the `ArbWasmCache` precompile (0x72, `precompiles/ArbWasmCache.go`)
//! and a cache manager contract with the interface and rules of nitro-contracts'
//! `src/chain/CacheManager.sol`, installed at genesis at [`CACHE_MANAGER`] and registered as the
//! chain's cache manager.
//!
//! Why the cache matters: a cached program's call pays only `cachedGas`, not `initGas` (see
//! [`super::programs`]), which for a typical program is most of its fixed call cost. A devnet
//! without it could not show what caching saves, and `cargo stylus cache bid|status|suggest-bid`
//! (which call the last address `ArbWasmCache.allCacheManagers()` lists) would fail against it.
//!
//! The cache manager is implemented here in Rust, like a precompile, rather than as EVM bytecode:
//! the project builds no Solidity, and a Rust contract keeps its state in its own account's
//! storage through revm's journal like any contract (reverts undo it, `eth_call` leaves nothing).
//! Its behaviour follows `CacheManager.sol`: bids are `msg.value + block.timestamp · decay`,
//! `placeBid` evicts the lowest bids (ties: the oldest slot) until the program's compiled size
//! (at least 4 KiB) fits in `cacheSize`, reverting `BidTooSmall` when the bid is below the last
//! evicted one; every eviction calls `ArbWasmCache.evictCodehash`, every insertion
//! `ArbWasmCache.cacheProgram`, with the same events. Initial parameters are the ones
//! nitro-contracts deploys with (`scripts/deploymentUtils.ts`): a 512 MiB cache and a decay of
//! 10,322,197,911 wei per second. Its gas is the EVM's price for its storage reads and writes,
//! logs and precompile calls, not the Solidity contract's own computation, so it is a little
//! cheaper than the real contract. The account's code is `0xFE`, like Nitro's precompiles.

use alloy_primitives::{address, Address, Log, B256, U256};
use alloy_sol_types::{sol, SolCall, SolError, SolEvent, SolInterface};
use revm::{
    context::{ContextTr, JournalTr},
    interpreter::{CallInputs, Gas, InstructionResult, InterpreterResult},
};

use super::arbos::{code_hash_of, is_chain_owner, revert_msg, ArbWasm, Reply, ARB_WASM_CACHE, NETWORK_FEE_ACCOUNT};
use super::{evm::Ctx, programs};
use crate::stylus::meter::sstore_cost;

/// Where the devnet installs its cache manager.
pub const CACHE_MANAGER: Address = address!("0000000000000000000000000000000000CAC4E0");
/// `CacheManager.sol`'s smallest accounted program size.
pub const MIN_CODESIZE: u64 = 4096;
/// `CacheManager.sol`'s largest `makeSpace` request.
pub const MAX_MAKE_SPACE: u64 = 5 * 1024 * 1024;
/// The cache size nitro-contracts initialises the cache manager with: 512 MiB.
pub const INIT_CACHE_SIZE: u64 = 536_870_912;
/// The decay rate nitro-contracts initialises it with, in wei per second.
pub const INIT_DECAY: u64 = 10_322_197_911;

sol! {
    /// The ArbWasmCache precompile (0x72).
    interface ArbWasmCache {
        function isCacheManager(address manager) external view returns (bool);
        function allCacheManagers() external view returns (address[] memory managers);
        function cacheProgram(address addr) external;
        function evictCodehash(bytes32 codehash) external;
        function codehashIsCached(bytes32 codehash) external view returns (bool);

        event UpdateProgramCache(address indexed manager, bytes32 indexed codehash, bool cached);
    }

    /// The cache manager contract (nitro-contracts' `CacheManager.sol` interface).
    interface CacheManager {
        struct Entry {
            bytes32 code;
            uint64 size;
            uint192 bid;
        }

        function cacheSize() external view returns (uint64);
        function queueSize() external view returns (uint64);
        function decay() external view returns (uint64);
        function isPaused() external view returns (bool);
        function entries(uint256 index) external view returns (bytes32 code, uint64 size, uint192 bid);
        function getEntries() external view returns (Entry[] memory);
        function getSmallestEntries(uint256 k) external view returns (Entry[] memory result);
        function getMinBid(address program) external view returns (uint192 min);
        function getMinBid(uint64 size) external view returns (uint192 min);
        function getMinBid(bytes32 codehash) external view returns (uint192 min);
        function placeBid(address program) external payable;
        function makeSpace(uint64 size) external payable returns (uint64 space);
        function setCacheSize(uint64 newSize) external;
        function setDecayRate(uint64 newDecay) external;
        function paused() external;
        function unpause() external;
        function evictAll() external;
        function evictPrograms(uint256 count) external;
        function sweepFunds() external;

        error NotChainOwner(address sender);
        error AsmTooLarge(uint256 asm, uint256 queueSize, uint256 cacheSize);
        error AlreadyCached(bytes32 codehash);
        error BidTooLarge(uint256 bid);
        error BidTooSmall(uint192 bid, uint192 min);
        error BidsArePaused();
        error MakeSpaceTooLarge(uint64 size, uint64 limit);

        event InsertBid(bytes32 indexed codehash, address program, uint192 bid, uint64 size);
        event DeleteBid(bytes32 indexed codehash, uint192 bid, uint64 size);
        event SetCacheSize(uint64 size);
        event SetDecayRate(uint64 decay);
        event Pause();
        event Unpause();
    }
}

/// Gas of a log: 375 + 375 per topic + 8 per data byte.
fn log_gas(topics: usize, data: usize) -> u64 {
    375 + 375 * topics as u64 + 8 * data as u64
}

/// `SetProgramCached` (`arbos/programs/programs.go`): caching needs the program at the chain's
/// Stylus version and not expired; a no-op change emits nothing; otherwise `UpdateProgramCache`
/// is emitted and the program's `initCost` is burned.
fn set_program_cached(ctx: &mut Ctx, caller: Address, code_hash: B256, cache: bool, cost: &mut u64) -> Reply {
    let params = programs::params(ctx);
    let time = programs::now(ctx);
    let mut record = programs::record(ctx, code_hash);
    let age = record.age(time);
    if record.version != params.version && cache {
        return Reply::Revert(
            ArbWasm::ProgramNeedsUpgrade { version: record.version, stylusVersion: params.version }.abi_encode(),
        );
    }
    if age > params.expiry_seconds() && cache {
        return Reply::Revert(ArbWasm::ProgramExpired { ageInSeconds: age }.abi_encode());
    }
    if record.cached == cache {
        return Reply::Ok(Vec::new());
    }
    let event = ArbWasmCache::UpdateProgramCache { manager: caller, codehash: code_hash, cached: cache };
    ctx.journal_mut().log(Log { address: ARB_WASM_CACHE, data: event.encode_log_data() });
    *cost += log_gas(3, 32) + record.init_cost as u64;
    record.cached = cache;
    match programs::set_record(ctx, code_hash, &record) {
        Ok(()) => Reply::Ok(Vec::new()),
        Err(e) => revert_msg(e),
    }
}

/// Cache managers and chain owners may cache and evict (`hasAccess`).
fn has_access(ctx: &mut Ctx, caller: Address) -> bool {
    is_chain_owner(caller) || programs::cache_managers(ctx).contains(&caller)
}

/// The ArbWasmCache precompile.
pub(crate) fn arb_wasm_cache(ctx: &mut Ctx, inputs: &CallInputs, data: &[u8], cost: &mut u64) -> Reply {
    use ArbWasmCache::ArbWasmCacheCalls as C;
    let call = match C::abi_decode(data) {
        Ok(c) => c,
        Err(_) => return revert_msg("unsupported ArbWasmCache method"),
    };
    if !inputs.call_value().is_zero() {
        return revert_msg("ArbWasmCache method is not payable");
    }
    let writes = matches!(call, C::cacheProgram(_) | C::evictCodehash(_));
    if writes && inputs.is_static {
        return revert_msg("ArbWasmCache method writes state and cannot be called statically");
    }
    if writes && !has_access(ctx, inputs.caller) {
        // Nitro burns all the gas of an unauthorised caller.
        return Reply::BurnOut;
    }
    match call {
        C::isCacheManager(c) => {
            let yes = programs::cache_managers(ctx).contains(&c.manager);
            Reply::Ok(ArbWasmCache::isCacheManagerCall::abi_encode_returns(&yes))
        }
        C::allCacheManagers(_) => {
            Reply::Ok(ArbWasmCache::allCacheManagersCall::abi_encode_returns(&programs::cache_managers(ctx)))
        }
        C::cacheProgram(c) => {
            let hash = code_hash_of(ctx, c.addr);
            set_program_cached(ctx, inputs.caller, hash, true, cost)
        }
        C::evictCodehash(c) => set_program_cached(ctx, inputs.caller, c.codehash, false, cost),
        C::codehashIsCached(c) => {
            let cached = programs::record(ctx, c.codehash).cached;
            Reply::Ok(ArbWasmCache::codehashIsCachedCall::abi_encode_returns(&cached))
        }
    }
}

// The cache manager's storage: its parameters, then `entries` from ENTRY_BASE, two words each
// (code hash; size << 192 | bid). A deleted entry is all zero, as Solidity's `delete` leaves it.
const SLOT_CACHE_SIZE: u64 = 0;
const SLOT_QUEUE_SIZE: u64 = 1;
const SLOT_DECAY: u64 = 2;
const SLOT_PAUSED: u64 = 3;
const SLOT_ENTRIES_LEN: u64 = 4;
const ENTRY_BASE: u64 = 1 << 32;

/// The storage a new chain gives the cache manager.
pub fn genesis_storage() -> Vec<(U256, U256)> {
    vec![(U256::from(SLOT_CACHE_SIZE), U256::from(INIT_CACHE_SIZE)), (U256::from(SLOT_DECAY), U256::from(INIT_DECAY))]
}

/// One call into the cache manager: the context, what it has cost so far, and the call.
struct Manager<'a> {
    ctx: &'a mut Ctx,
    gas: u64,
    caller: Address,
    value: U256,
}

type Step<T> = Result<T, Reply>;

impl Manager<'_> {
    fn sload(&mut self, slot: u64) -> Step<U256> {
        let j = self.ctx.journal_mut();
        j.load_account(CACHE_MANAGER).map_err(|e| revert_msg(e.to_string()))?;
        let v = j.sload(CACHE_MANAGER, U256::from(slot)).map_err(|e| revert_msg(e.to_string()))?;
        self.gas += if v.is_cold { 2_100 } else { 100 };
        Ok(v.data)
    }

    fn sstore(&mut self, slot: u64, value: U256) -> Step<()> {
        let j = self.ctx.journal_mut();
        j.load_account(CACHE_MANAGER).map_err(|e| revert_msg(e.to_string()))?;
        let r = j.sstore(CACHE_MANAGER, U256::from(slot), value).map_err(|e| revert_msg(e.to_string()))?;
        let (gas, _refund) =
            sstore_cost(r.data.original_value.into(), r.data.present_value.into(), r.data.new_value.into(), r.is_cold);
        self.gas += gas;
        j.touch_account(CACHE_MANAGER);
        Ok(())
    }

    fn u64_at(&mut self, slot: u64) -> Step<u64> {
        Ok(self.sload(slot)?.saturating_to())
    }

    fn emit(&mut self, data: alloy_primitives::LogData) {
        self.gas += log_gas(data.topics().len(), data.data.len());
        self.ctx.journal_mut().log(Log { address: CACHE_MANAGER, data });
    }

    fn entry(&mut self, index: u64) -> Step<CacheManager::Entry> {
        let code = B256::from(self.sload(ENTRY_BASE + 2 * index)?);
        let packed = self.sload(ENTRY_BASE + 2 * index + 1)?;
        let size: u64 = (packed >> 192usize).saturating_to();
        let bid = alloy_primitives::aliases::U192::from(packed & ((U256::from(1) << 192) - U256::from(1)));
        Ok(CacheManager::Entry { code, size, bid })
    }

    fn set_entry(&mut self, index: u64, e: &CacheManager::Entry) -> Step<()> {
        self.sstore(ENTRY_BASE + 2 * index, U256::from_be_bytes(e.code.0))?;
        self.sstore(ENTRY_BASE + 2 * index + 1, (U256::from(e.size) << 192) | U256::from(e.bid))
    }

    /// Live entries (the bid heap) as (bid, index), smallest first: the heap's pop order.
    fn bids(&mut self) -> Step<Vec<(U256, u64, CacheManager::Entry)>> {
        let n = self.u64_at(SLOT_ENTRIES_LEN)?;
        let mut out = Vec::new();
        for i in 0..n {
            let e = self.entry(i)?;
            if e.code != B256::ZERO {
                out.push((U256::from(e.bid), i, e));
            }
        }
        out.sort_by_key(|a| (a.0, a.1));
        Ok(out)
    }

    fn decay_now(&mut self) -> Step<U256> {
        let decay = self.u64_at(SLOT_DECAY)?;
        Ok(U256::from(programs::now(self.ctx)) * U256::from(decay))
    }

    /// `ARB_WASM.codehashAsmSize`, at least [`MIN_CODESIZE`]; ArbWasm's errors bubble up.
    fn asm_size(&mut self, code_hash: B256) -> Step<u64> {
        self.gas += 100 + 2_100;
        let (record, _) = programs::active_program(self.ctx, code_hash).map_err(Reply::Revert)?;
        Ok((record.asm_size() as u64).max(MIN_CODESIZE))
    }

    fn arb_wasm_cache(&mut self, code_hash: B256, cache: bool) -> Step<()> {
        let mut cost = 100 + 2_100;
        let reply = set_program_cached(self.ctx, CACHE_MANAGER, code_hash, cache, &mut cost);
        self.gas += cost;
        match reply {
            Reply::Ok(_) => Ok(()),
            other => Err(other),
        }
    }

    fn only_owner(&mut self) -> Step<()> {
        self.gas += 100 + 2_100;
        if !is_chain_owner(self.caller) {
            return Err(Reply::Revert(CacheManager::NotChainOwner { sender: self.caller }.abi_encode()));
        }
        Ok(())
    }

    fn delete_entry(&mut self, bid: U256, index: u64) -> Step<()> {
        let e = self.entry(index)?;
        self.arb_wasm_cache(e.code, false)?;
        let queue = self.u64_at(SLOT_QUEUE_SIZE)?;
        self.sstore(SLOT_QUEUE_SIZE, U256::from(queue.saturating_sub(e.size)))?;
        let bid = alloy_primitives::aliases::U192::from(bid);
        self.emit(CacheManager::DeleteBid { codehash: e.code, bid, size: e.size }.encode_log_data());
        self.set_entry(index, &CacheManager::Entry { code: B256::ZERO, size: 0, bid: Default::default() })
    }

    /// `_makeSpace`: evicts the lowest bids until `size` fits; the bid and the slot to use.
    fn make_space(&mut self, size: u64) -> Step<(U256, u64)> {
        let bid = U256::from(self.value) + self.decay_now()?;
        if bid > U256::from(alloy_primitives::aliases::U192::MAX) {
            return Err(Reply::Revert(CacheManager::BidTooLarge { bid }.abi_encode()));
        }
        let mut index = self.u64_at(SLOT_ENTRIES_LEN)?;
        let limit = self.u64_at(SLOT_CACHE_SIZE)?;
        let mut min = U256::ZERO;
        let mut heap = self.bids()?.into_iter();
        while self.u64_at(SLOT_QUEUE_SIZE)?.saturating_add(size) > limit {
            let Some((b, i, _)) = heap.next() else {
                // The heap is empty and the program still does not fit.
                let queue = self.u64_at(SLOT_QUEUE_SIZE)?;
                return Err(Reply::Revert(
                    CacheManager::AsmTooLarge {
                        asm: U256::from(size),
                        queueSize: U256::from(queue),
                        cacheSize: U256::from(limit),
                    }
                    .abi_encode(),
                ));
            };
            self.delete_entry(b, i)?;
            (min, index) = (b, i);
        }
        if bid < min {
            return Err(Reply::Revert(
                CacheManager::BidTooSmall {
                    bid: alloy_primitives::aliases::U192::from(bid),
                    min: alloy_primitives::aliases::U192::from(min),
                }
                .abi_encode(),
            ));
        }
        Ok((bid, index))
    }

    fn get_min_bid(&mut self, size: u64) -> Step<U256> {
        let cache_size = self.u64_at(SLOT_CACHE_SIZE)?;
        if size > cache_size {
            return Err(Reply::Revert(
                CacheManager::AsmTooLarge {
                    asm: U256::from(size),
                    queueSize: U256::ZERO,
                    cacheSize: U256::from(cache_size),
                }
                .abi_encode(),
            ));
        }
        let size = size.max(MIN_CODESIZE);
        let total = self.u64_at(SLOT_QUEUE_SIZE)? as u128 + size as u128;
        if total <= cache_size as u128 {
            return Ok(U256::ZERO);
        }
        let mut need = total - cache_size as u128;
        let k = need.div_ceil(MIN_CODESIZE as u128) as usize;
        let mut min = U256::ZERO;
        for (bid, _, e) in self.bids()?.into_iter().take(k) {
            if need <= e.size as u128 {
                min = bid;
                break;
            }
            need -= e.size as u128;
        }
        let decay = self.decay_now()?;
        Ok(min.saturating_sub(decay))
    }

    fn place_bid(&mut self, program: Address) -> Step<()> {
        if !self.sload(SLOT_PAUSED)?.is_zero() {
            return Err(Reply::Revert(CacheManager::BidsArePaused {}.abi_encode()));
        }
        let code_hash = code_hash_of(self.ctx, program);
        if programs::record(self.ctx, code_hash).cached {
            return Err(Reply::Revert(CacheManager::AlreadyCached { codehash: code_hash }.abi_encode()));
        }
        let asm = self.asm_size(code_hash)?;
        let (bid, index) = self.make_space(asm)?;
        let (queue, cache_size) = (self.u64_at(SLOT_QUEUE_SIZE)?, self.u64_at(SLOT_CACHE_SIZE)?);
        if queue.saturating_add(asm) > cache_size {
            return Err(Reply::Revert(
                CacheManager::AsmTooLarge {
                    asm: U256::from(asm),
                    queueSize: U256::from(queue),
                    cacheSize: U256::from(cache_size),
                }
                .abi_encode(),
            ));
        }
        self.arb_wasm_cache(code_hash, true)?;
        self.sstore(SLOT_QUEUE_SIZE, U256::from(queue + asm))?;
        let bid192 = alloy_primitives::aliases::U192::from(bid);
        let len = self.u64_at(SLOT_ENTRIES_LEN)?;
        if index == len {
            self.sstore(SLOT_ENTRIES_LEN, U256::from(len + 1))?;
        }
        self.set_entry(index, &CacheManager::Entry { code: code_hash, size: asm, bid: bid192 })?;
        self.emit(CacheManager::InsertBid { codehash: code_hash, program, bid: bid192, size: asm }.encode_log_data());
        Ok(())
    }

    fn evict(&mut self, mut count: U256) -> Step<()> {
        for (bid, index, _) in self.bids()? {
            if count.is_zero() {
                break;
            }
            self.delete_entry(bid, index)?;
            count -= U256::from(1);
        }
        Ok(())
    }

    fn dispatch(&mut self, data: &[u8], is_static: bool) -> Step<Vec<u8>> {
        use CacheManager::CacheManagerCalls as C;
        // Solidity refuses unknown selectors and value sent to non-payable functions with empty
        // revert data.
        let call = C::abi_decode(data).map_err(|_| Reply::Revert(Vec::new()))?;
        let payable = matches!(call, C::placeBid(_) | C::makeSpace(_));
        if !payable && !self.value.is_zero() {
            return Err(Reply::Revert(Vec::new()));
        }
        let view = matches!(
            call,
            C::cacheSize(_)
                | C::queueSize(_)
                | C::decay(_)
                | C::isPaused(_)
                | C::entries(_)
                | C::getEntries(_)
                | C::getSmallestEntries(_)
                | C::getMinBid_0(_)
                | C::getMinBid_1(_)
                | C::getMinBid_2(_)
        );
        if is_static && !view {
            return Err(Reply::Revert(Vec::new()));
        }
        let u192 = |v: U256| alloy_primitives::aliases::U192::from(v);
        Ok(match call {
            C::cacheSize(_) => CacheManager::cacheSizeCall::abi_encode_returns(&self.u64_at(SLOT_CACHE_SIZE)?),
            C::queueSize(_) => CacheManager::queueSizeCall::abi_encode_returns(&self.u64_at(SLOT_QUEUE_SIZE)?),
            C::decay(_) => CacheManager::decayCall::abi_encode_returns(&self.u64_at(SLOT_DECAY)?),
            C::isPaused(_) => CacheManager::isPausedCall::abi_encode_returns(&!self.sload(SLOT_PAUSED)?.is_zero()),
            C::entries(c) => {
                let len = self.u64_at(SLOT_ENTRIES_LEN)?;
                if c.index >= U256::from(len) {
                    // Solidity's out-of-bounds panic (0x32).
                    let mut panic = vec![0x4e, 0x48, 0x7b, 0x71];
                    panic.extend_from_slice(&U256::from(0x32).to_be_bytes::<32>());
                    return Err(Reply::Revert(panic));
                }
                let e = self.entry(c.index.saturating_to())?;
                CacheManager::entriesCall::abi_encode_returns(&CacheManager::entriesReturn {
                    code: e.code,
                    size: e.size,
                    bid: e.bid,
                })
            }
            C::getEntries(_) => {
                let len = self.u64_at(SLOT_ENTRIES_LEN)?;
                let all = (0..len).map(|i| self.entry(i)).collect::<Step<Vec<_>>>()?;
                CacheManager::getEntriesCall::abi_encode_returns(&all)
            }
            C::getSmallestEntries(c) => {
                let k: usize = c.k.saturating_to();
                let some: Vec<_> = self.bids()?.into_iter().take(k).map(|(_, _, e)| e).collect();
                CacheManager::getSmallestEntriesCall::abi_encode_returns(&some)
            }
            C::getMinBid_0(c) => {
                let hash = code_hash_of(self.ctx, c.program);
                let size = self.asm_size(hash)?;
                CacheManager::getMinBid_0Call::abi_encode_returns(&u192(self.get_min_bid(size)?))
            }
            C::getMinBid_1(c) => CacheManager::getMinBid_1Call::abi_encode_returns(&u192(self.get_min_bid(c.size)?)),
            C::getMinBid_2(c) => {
                let size = self.asm_size(c.codehash)?;
                CacheManager::getMinBid_2Call::abi_encode_returns(&u192(self.get_min_bid(size)?))
            }
            C::placeBid(c) => {
                self.place_bid(c.program)?;
                Vec::new()
            }
            C::makeSpace(c) => {
                if !self.sload(SLOT_PAUSED)?.is_zero() {
                    return Err(Reply::Revert(CacheManager::BidsArePaused {}.abi_encode()));
                }
                if c.size > MAX_MAKE_SPACE {
                    return Err(Reply::Revert(
                        CacheManager::MakeSpaceTooLarge { size: c.size, limit: MAX_MAKE_SPACE }.abi_encode(),
                    ));
                }
                self.make_space(c.size)?;
                let space = self.u64_at(SLOT_CACHE_SIZE)?.saturating_sub(self.u64_at(SLOT_QUEUE_SIZE)?);
                CacheManager::makeSpaceCall::abi_encode_returns(&space)
            }
            C::setCacheSize(c) => {
                self.only_owner()?;
                self.sstore(SLOT_CACHE_SIZE, U256::from(c.newSize))?;
                self.emit(CacheManager::SetCacheSize { size: c.newSize }.encode_log_data());
                Vec::new()
            }
            C::setDecayRate(c) => {
                self.only_owner()?;
                self.sstore(SLOT_DECAY, U256::from(c.newDecay))?;
                self.emit(CacheManager::SetDecayRate { decay: c.newDecay }.encode_log_data());
                Vec::new()
            }
            C::paused(_) => {
                self.only_owner()?;
                self.sstore(SLOT_PAUSED, U256::from(1))?;
                self.emit(CacheManager::Pause {}.encode_log_data());
                Vec::new()
            }
            C::unpause(_) => {
                self.only_owner()?;
                self.sstore(SLOT_PAUSED, U256::ZERO)?;
                self.emit(CacheManager::Unpause {}.encode_log_data());
                Vec::new()
            }
            C::evictPrograms(c) => {
                self.only_owner()?;
                self.evict(c.count)?;
                Vec::new()
            }
            C::evictAll(_) => {
                self.only_owner()?;
                self.evict(U256::MAX)?;
                let len = self.u64_at(SLOT_ENTRIES_LEN)?;
                for i in 0..len {
                    self.set_entry(i, &CacheManager::Entry { code: B256::ZERO, size: 0, bid: Default::default() })?;
                }
                self.sstore(SLOT_ENTRIES_LEN, U256::ZERO)?;
                Vec::new()
            }
            C::sweepFunds(_) => {
                let j = self.ctx.journal_mut();
                let balance = j.load_account(CACHE_MANAGER).map_err(|e| revert_msg(e.to_string()))?.info.balance;
                self.gas += 2_600 + 9_000;
                if !balance.is_zero() {
                    match j.transfer(CACHE_MANAGER, NETWORK_FEE_ACCOUNT, balance) {
                        Ok(None) => {}
                        Ok(Some(e)) => return Err(revert_msg(format!("transfer failed: {e:?}"))),
                        Err(e) => return Err(revert_msg(e.to_string())),
                    }
                }
                Vec::new()
            }
        })
    }
}

/// A call into the cache manager, as revm's precompile hook runs it (the value is already in the
/// manager's account).
pub(crate) fn run_cache_manager(ctx: &mut Ctx, inputs: &CallInputs) -> InterpreterResult {
    let data = inputs.input.bytes(ctx);
    let mut m = Manager { ctx, gas: 0, caller: inputs.caller, value: inputs.call_value() };
    let reply = m.dispatch(&data, inputs.is_static);
    let mut gas = Gas::new(inputs.gas_limit);
    if !gas.record_regular_cost(m.gas) {
        gas.spend_all();
        return InterpreterResult::new(InstructionResult::OutOfGas, Default::default(), gas);
    }
    match reply {
        Ok(out) => InterpreterResult::new(InstructionResult::Return, out.into(), gas),
        Err(Reply::Revert(out)) => InterpreterResult::new(InstructionResult::Revert, out.into(), gas),
        Err(Reply::Ok(out)) => InterpreterResult::new(InstructionResult::Return, out.into(), gas),
        Err(Reply::BurnOut) => {
            gas.spend_all();
            InterpreterResult::new(InstructionResult::Revert, Default::default(), gas)
        }
    }
}
