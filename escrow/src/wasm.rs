//! The program's side of Nitro: `user_entrypoint`, the `vm_hooks` imports it uses, a bump
//! allocator and a panic handler without messages (as the judge's; the signatures are those of
//! stylus-sdk 0.10.10's `src/hostio.rs`, which mirrors Nitro's `user-host-trait` crate).

use alloc::vec::Vec;

use alloy_primitives::{Address, B256, U256};

use crate::Host;

#[link(wasm_import_module = "vm_hooks")]
extern "C" {
    fn read_args(dest: *mut u8);
    fn write_result(data: *const u8, len: usize);
    fn pay_for_memory_grow(pages: u16);
    fn msg_reentrant() -> bool;
    fn storage_load_bytes32(key: *const u8, dest: *mut u8);
    fn storage_cache_bytes32(key: *const u8, value: *const u8);
    fn storage_flush_cache(clear: bool);
    fn chainid() -> u64;
    fn contract_address(dest: *mut u8);
    fn msg_sender(dest: *mut u8);
    fn msg_value(dest: *mut u8);
    fn static_call_contract(
        contract: *const u8,
        calldata: *const u8,
        calldata_len: usize,
        gas: u64,
        return_data_len: *mut usize,
    ) -> u8;
    fn call_contract(
        contract: *const u8,
        calldata: *const u8,
        calldata_len: usize,
        value: *const u8,
        gas: u64,
        return_data_len: *mut usize,
    ) -> u8;
    fn read_return_data(dest: *mut u8, offset: usize, size: usize) -> usize;
    fn emit_log(data: *const u8, len: usize, topics: usize);
}

/// Never frees: a call lives for one transaction, and its memory is paid for by the page.
#[global_allocator]
static ALLOC: mini_alloc::MiniAlloc = mini_alloc::MiniAlloc::INIT;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// Nitro's hostios. `dirty` records whether the storage cache needs a flush.
struct Wasm {
    dirty: bool,
}

// SAFETY (every block below): each pointer is to a live buffer of the length the hostio reads or
// writes (32 bytes for words, 20 for addresses, the slice's length otherwise).
impl Host for Wasm {
    fn load(&mut self, key: &B256) -> B256 {
        let mut out = B256::ZERO;
        // SAFETY: see above.
        unsafe { storage_load_bytes32(key.as_ptr(), out.as_mut_ptr()) };
        out
    }
    fn store(&mut self, key: &B256, value: &B256) {
        self.dirty = true;
        // SAFETY: see above.
        unsafe { storage_cache_bytes32(key.as_ptr(), value.as_ptr()) };
    }
    fn chain_id(&mut self) -> u64 {
        // SAFETY: no pointers.
        unsafe { chainid() }
    }
    fn this(&mut self) -> Address {
        let mut out = Address::ZERO;
        // SAFETY: see above.
        unsafe { contract_address(out.as_mut_ptr()) };
        out
    }
    fn sender(&mut self) -> Address {
        let mut out = Address::ZERO;
        // SAFETY: see above.
        unsafe { msg_sender(out.as_mut_ptr()) };
        out
    }
    fn value(&mut self) -> U256 {
        let mut v = [0u8; 32];
        // SAFETY: see above.
        unsafe { msg_value(v.as_mut_ptr()) };
        U256::from_be_bytes(v)
    }
    fn static_call(&mut self, to: &Address, calldata: &[u8]) -> Option<Vec<u8>> {
        let mut len = 0usize;
        // SAFETY: see above. A static call cannot write our storage, so no cached slot can alias.
        let status =
            unsafe { static_call_contract(to.as_ptr(), calldata.as_ptr(), calldata.len(), u64::MAX, &mut len) };
        if status != 0 {
            return None;
        }
        let mut out = Vec::with_capacity(len);
        // SAFETY: `out` has room for the `len` bytes written; then they are initialised.
        unsafe {
            let n = read_return_data(out.as_mut_ptr(), 0, len);
            out.set_len(n.min(len));
        }
        Some(out)
    }
    fn pay(&mut self, to: &Address, value: &U256) -> bool {
        let value = value.to_be_bytes::<32>();
        let mut len = 0usize;
        // SAFETY: see above. The stores so far are committed first: the callee may call back
        // into a view of this escrow (a reentrant transaction is refused at the entrypoint).
        unsafe {
            if self.dirty {
                storage_flush_cache(false);
            }
            call_contract(to.as_ptr(), [].as_ptr(), 0, value.as_ptr(), u64::MAX, &mut len) == 0
        }
    }
    fn log(&mut self, record: &[u8], topics: usize) {
        // SAFETY: see above.
        unsafe { emit_log(record.as_ptr(), record.len(), topics) };
    }
}

/// The program's entry: refuses reentrant calls, reads the calldata, runs the escrow, flushes
/// the stores of a successful call, and writes the return or revert data.
#[no_mangle]
#[allow(unreachable_pub)] // exported to Nitro, not to Rust
pub extern "C" fn user_entrypoint(len: usize) -> usize {
    // SAFETY: no pointers. `pay_for_memory_grow(0)` is a no-op that links the hostio Nitro's
    // activation calls from every `memory.grow`.
    unsafe {
        if msg_reentrant() {
            return 1;
        }
        pay_for_memory_grow(0);
    }
    let mut input = Vec::<u8>::with_capacity(len);
    // SAFETY: `input` has room for the `len` bytes `read_args` writes; then they are initialised.
    unsafe {
        read_args(input.as_mut_ptr());
        input.set_len(len);
    }
    let mut host = Wasm { dirty: false };
    let (out, status) = match crate::run(&mut host, &input) {
        Ok(out) => {
            if host.dirty {
                // SAFETY: no pointers.
                unsafe { storage_flush_cache(false) };
            }
            (out, 0)
        }
        Err(out) => (out, 1),
    };
    // SAFETY: see above.
    unsafe { write_result(out.as_ptr(), out.len()) };
    status
}
