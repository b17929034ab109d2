//! Nitro's memory model: what a program's pages cost, counted per transaction.
//!
//! Memory is priced by the transaction, not by the call: geth keeps two counters per transaction
//! (`GetStylusPages` in `core/state/statedb_arbitrum.go`) — the pages *open* now, across every
//! program on the call stack, and the most pages *ever* open at once. A program's entry opens its
//! initial pages (`CallProgram` in `arbos/programs/programs.go`), `pay_for_memory_grow` opens more
//! (`addPages` in `arbos/programs/api.go`), and a returning program closes its pages again.
//! Each opening pays `MemoryModel.GasCost` (`arbos/programs/memory.go`): the first two pages of a
//! transaction are free, every page beyond them costs 1,000 gas, and raising the all-time high
//! pays the difference of an exponential table, so memory reused by a later call is cheap and
//! deep stacks of large programs grow expensive fast. More than 128 pages open at once is out of
//! gas (`enforceStylusPageLimit`, ArbOS ≥ 59).

/// Pages a transaction gets for free (`InitialFreePages`).
pub const FREE_PAGES: u16 = 2;
/// Linear gas per page beyond the free ones (`InitialPageGas`).
pub const PAGE_GAS: u64 = 1_000;
/// Most pages open at once in a transaction (`initialPageLimit`).
pub const PAGE_LIMIT: u16 = 128;

/// `memoryExponents` of `arbos/programs/memory.go`: the exponential term by all-time high.
const EXPONENTS: [u32; 129] = [
    1, 1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 5, 6, 7, 8, 9, 11, 12, 14, 17, 19, 22, 25, 29, 33, 38, 43, 50, 57, 65, 75,
    85, 98, 112, 128, 147, 168, 193, 221, 253, 289, 331, 379, 434, 497, 569, 651, 745, 853, 976, 1117, 1279, 1463,
    1675, 1917, 2194, 2511, 2874, 3290, 3765, 4309, 4932, 5645, 6461, 7395, 8464, 9687, 11087, 12689, 14523, 16621,
    19024, 21773, 24919, 28521, 32642, 37359, 42758, 48938, 56010, 64104, 73368, 83971, 96106, 109994, 125890, 144082,
    164904, 188735, 216010, 247226, 282953, 323844, 370643, 424206, 485509, 555672, 635973, 727880, 833067, 953456,
    1091243, 1248941, 1429429, 1636000, 1872423, 2143012, 2452704, 2807151, 3212820, 3677113, 4208502, 4816684,
    5512756, 6309419, 7221210, 8264766, 9459129, 10826093, 12390601, 14181199, 16230562, 18576084, 21260563, 24332984,
    27849408, 31873999,
];

fn exp(pages: u16) -> u64 {
    EXPONENTS.get(pages as usize).map_or(u64::MAX, |e| u64::from(*e))
}

/// `MemoryModel.GasCost`: the gas of opening `new` pages when `open` are open and `ever` were
/// the most ever open in the transaction.
pub fn gas_cost(new: u16, open: u16, ever: u16) -> u64 {
    let new_open = open.saturating_add(new);
    let new_ever = ever.max(new_open);
    if new_ever <= FREE_PAGES {
        return 0;
    }
    let sub_free = |p: u16| p.saturating_sub(FREE_PAGES);
    let adding = sub_free(new_open).saturating_sub(sub_free(open));
    let linear = u64::from(adding).saturating_mul(PAGE_GAS);
    linear.saturating_add(exp(new_ever).saturating_sub(exp(ever)))
}

/// The gas of opening `new` pages, or `u64::MAX` (out of gas) when that would leave more than
/// [`PAGE_LIMIT`] open.
pub fn open_cost(new: u16, open: u16, ever: u16) -> u64 {
    if open.saturating_add(new) > PAGE_LIMIT {
        return u64::MAX;
    }
    gas_cost(new, open, ever)
}

/// The transaction's page counters (geth's `openWasmPages`/`everWasmPages`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pages {
    /// Pages open now, over the whole call stack.
    pub open: u16,
    /// Most pages open at once so far in the transaction.
    pub ever: u16,
}

impl Pages {
    /// `AddStylusPages`: opens `new` pages and returns the counters as they were before.
    pub fn add(&mut self, new: u16) -> Pages {
        let before = *self;
        self.open = self.open.saturating_add(new);
        self.ever = self.ever.max(self.open);
        before
    }
}

/// `evmMemoryCost` (`arbos/programs/programs.go`): what the EVM would charge to hold `len` bytes
/// in memory — 3 gas a word plus words² / 512. Since ArbOS 31 a program returning data uses at
/// least this much gas.
pub fn evm_memory_cost(len: u64) -> u64 {
    let words = len.div_ceil(32);
    words.saturating_mul(3).saturating_add(words.saturating_mul(words) / 512)
}
