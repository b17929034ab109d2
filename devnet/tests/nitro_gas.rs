//! Fidelity of the devnet's gas to Nitro's (ArbOS 32+, Stylus v2): each expected number is worked
//! out by hand below from the rule in Nitro's source, cited by file.
//!
//! Each test runs one program several times along the same code path, so the ink its operators
//! and hostio bases cost is the same in every run, and only the EVM-side gas differs; differences
//! of `gas_used` are therefore exact.

use alloy_primitives::{Address, B256, U256};
use avocado_devnet::stylus::{self, CallResult, MemoryEvm, Program, Status};

/// A program interpreting its args as 65-byte ops: opcode ‖ key (32) ‖ value (32).
/// 0 = storage_load_bytes32(key), 1 = storage_cache_bytes32(key, value),
/// 2 = storage_flush_cache(0), 3 = storage_flush_cache(1).
const STORAGE_OPS: &str = r#"(module
  (import "vm_hooks" "read_args" (func $read_args (param i32)))
  (import "vm_hooks" "storage_load_bytes32" (func $load (param i32 i32)))
  (import "vm_hooks" "storage_cache_bytes32" (func $cache (param i32 i32)))
  (import "vm_hooks" "storage_flush_cache" (func $flush (param i32)))
  (memory (export "memory") 1)
  (func (export "user_entrypoint") (param $len i32) (result i32) (local $p i32) (local $op i32)
    (call $read_args (i32.const 0))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $p) (local.get $len)))
      (local.set $op (i32.load8_u (local.get $p)))
      (if (i32.eqz (local.get $op)) (then (call $load (i32.add (local.get $p) (i32.const 1)) (i32.const 60000))))
      (if (i32.eq (local.get $op) (i32.const 1)) (then (call $cache (i32.add (local.get $p) (i32.const 1)) (i32.add (local.get $p) (i32.const 33)))))
      (if (i32.eq (local.get $op) (i32.const 2)) (then (call $flush (i32.const 0))))
      (if (i32.eq (local.get $op) (i32.const 3)) (then (call $flush (i32.const 1))))
      (local.set $p (i32.add (local.get $p) (i32.const 65)))
      (br $next)))
    (i32.const 0)))"#;

const ME: Address = Address::with_last_byte(0xb7);

fn op(code: u8, key: u8, value: u8) -> Vec<u8> {
    [[code].as_slice(), &[key; 32], &[value; 32]].concat()
}

fn storage_evm() -> MemoryEvm {
    let mut evm = MemoryEvm::new();
    let wasm = wat::parse_str(STORAGE_OPS).unwrap();
    evm.deploy(ME, Program::activate(&stylus::pack(&wasm)).unwrap());
    evm
}

fn send(evm: &mut MemoryEvm, ops: &[Vec<u8>]) -> stylus::Receipt {
    let r = evm.transact(Address::repeat_byte(9), ME, &ops.concat(), 10_000_000);
    assert_eq!(r.outcome.status, Status::Success, "{:?}", r.outcome);
    r
}

/// geth `core/vm/operations_acl_arbitrum.go` `WasmStateStoreCost`, called for each slot by the
/// flush (`arbos/programs/api.go` `setTrieSlots`, `crates/arbutil/src/evm/req.rs`
/// `flush_storage_cache`): the cold surcharge is 2,100; a no-op costs 100; original == current
/// costs 20,000 from zero and 5,000 − 2,100 = 2,900 otherwise (refund 4,800 when cleared).
#[test]
fn flush_prices_each_slot_as_nitros_wasm_state_store_cost() {
    let mut evm = storage_evm();
    // Same ops every time (cache then flush, the slot cold): only the store's price differs.
    let write = |evm: &mut MemoryEvm, v: u8| send(evm, &[op(1, 1, v), op(2, 0, 0)]);
    let create = write(&mut evm, 7); //   zero → 7: 2,100 + 20,000 = 22,100
    let noop = write(&mut evm, 7); //     7 → 7:    2,100 + 100    =  2,200 (written: value unknown)
    let reset = write(&mut evm, 8); //    7 → 8:    2,100 + 2,900  =  5,000
    let clear = write(&mut evm, 0); //    8 → 0:    2,100 + 2,900  =  5,000, refund 4,800
    let g = |r: &stylus::Receipt| r.outcome.gas_used;
    assert_eq!(g(&create) - g(&noop), 22_100 - 2_200);
    assert_eq!(g(&create) - g(&reset), 22_100 - 5_000);
    assert_eq!(g(&reset), g(&clear));
    assert_eq!((create.refund, noop.refund, reset.refund, clear.refund), (0, 0, 0, 4_800));
    assert_eq!(evm.storage(ME, B256::repeat_byte(1)), B256::ZERO);
}

/// `WasmStateStoreCost` on a dirty slot (original ≠ current): 100 warm, with EIP-2200's refund
/// adjustments — back to an original zero refunds 20,000 − 100 = 19,900, clearing a slot
/// whose original was non-zero refunds 4,800 and re-filling it takes the 4,800 back.
#[test]
fn flushing_a_slot_twice_in_one_transaction_is_a_dirty_update() {
    let mut evm = storage_evm();
    let twice = |evm: &mut MemoryEvm, a: u8, b: u8| send(evm, &[op(1, 2, a), op(2, 0, 0), op(1, 2, b), op(2, 0, 0)]);
    // original 0: 0 → 5 (2,100 + 20,000), then 5 → 0 (100, refund 19,900).
    let back = twice(&mut evm, 5, 0);
    assert_eq!(back.refund, 19_900);
    // original 0: 0 → 5 (22,100), then 5 → 6 (100): the same gas, no refund.
    let on = twice(&mut evm, 5, 6);
    assert_eq!((on.outcome.gas_used, on.refund), (back.outcome.gas_used, 0));
    // original 6: 6 → 0 (2,100 + 2,900, refund 4,800), then 0 → 6 (100, refund −4,800 + 2,800).
    let restore = twice(&mut evm, 0, 6);
    assert_eq!(restore.refund, 4_800 - 4_800 + (5_000 - 2_100 - 100));
    assert_eq!(back.outcome.gas_used - restore.outcome.gas_used, 20_000 - 2_900);
}

/// `crates/arbutil/src/evm/storage.rs`: a cached value equal to what the chain holds is not
/// dirty, so the flush writes nothing and Go is not even asked (no gas); a loaded-then-rewritten
/// slot is warm, so its store has no cold surcharge.
#[test]
fn flush_writes_only_slots_whose_value_changed() {
    let mut evm = storage_evm();
    send(&mut evm, &[op(1, 3, 9), op(2, 0, 0)]);
    let ops = |v: u8| [op(0, 3, 0), op(1, 3, v), op(2, 0, 0)];
    let same = send(&mut evm, &ops(9)); // load (cold), cache 9 over 9: nothing dirty, flush 0 gas
    let changed = send(&mut evm, &ops(4)); // load (cold), 9 → 4 warm: 2,900
    assert_eq!(changed.outcome.gas_used - same.outcome.gas_used, 2_900);
    assert_eq!(same.slots_written, 0);
}

/// geth `operations_acl_arbitrum.go` `WasmStateLoadCost` (2,100 cold, 100 warm) plus the
/// `EVM_API_INK` surcharge as gas, 59,673 / 10,000 = 5 (`user-host-trait/lib.rs`
/// `storage_load_bytes32`, ArbOS ≥ 32); a cache hit costs only the read counter's gas (0 for the
/// first 32 reads, `crates/arbutil/src/evm/storage.rs`).
#[test]
fn loads_pay_warm_or_cold_access_on_a_cache_miss() {
    let mut evm = storage_evm();
    // load k1 (cold miss), drop the cache, then load k1 again (warm miss: 105) or k2 (cold
    // miss: 2,105); or keep the cache and hit (0).
    let warm = send(&mut evm, &[op(0, 1, 0), op(3, 0, 0), op(0, 1, 0)]);
    let cold = send(&mut evm, &[op(0, 1, 0), op(3, 0, 0), op(0, 2, 0)]);
    let hit = send(&mut evm, &[op(0, 1, 0), op(2, 0, 0), op(0, 1, 0)]);
    assert_eq!(cold.outcome.gas_used - warm.outcome.gas_used, 2_105 - 105);
    assert_eq!(warm.outcome.gas_used - hit.outcome.gas_used, 105);
}

/// A program calling args[0..20] with value args[20..52]; returns the status byte.
const CALLER: &str = r#"(module
  (import "vm_hooks" "read_args" (func $read_args (param i32)))
  (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
  (import "vm_hooks" "call_contract" (func $call (param i32 i32 i32 i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "user_entrypoint") (param $len i32) (result i32)
    (call $read_args (i32.const 0))
    (i32.store8 (i32.const 1000) (call $call (i32.const 0) (i32.const 100) (i32.const 128) (i32.const 20) (i64.const 1000000) (i32.const 1100)))
    (call $write_result (i32.const 1000) (i32.const 1))
    (i32.const 0)))"#;

/// geth `operations_acl_arbitrum.go` `WasmCallCost` and `arbos/programs/api.go` `doCall`:
/// 100 warm + 2,500 cold, + 9,000 with value, + 25,000 with value to an empty account; the
/// caller then pays what the callee used (here 700 or, for ecrecover, 3,000). A call's status is
/// 2 on any failure (api.go).
#[test]
fn calls_pay_nitros_wasm_call_cost() {
    let me = Address::with_last_byte(0xc1);
    let full = Address::repeat_byte(0x44);
    let mut evm = MemoryEvm::new();
    evm.deploy(me, Program::activate(&stylus::pack(&wat::parse_str(CALLER).unwrap())).unwrap());
    evm.set_balance(me, U256::from(1_000_000u64));
    evm.register(full, |_, _, _| CallResult { success: true, output: vec![], gas_used: 700 });
    let call = |evm: &mut MemoryEvm, to: Address, value: u64| {
        let args = [to.as_slice(), &U256::from(value).to_be_bytes::<32>()].concat();
        let r = evm.transact(Address::repeat_byte(9), me, &args, 10_000_000);
        assert_eq!(r.outcome.status, Status::Success);
        (r.outcome.output[0], r.outcome.gas_used)
    };
    let (status, cold) = call(&mut evm, full, 0); //                 2,600 + 700
    assert_eq!(status, 0);
    let (_, paying) = call(&mut evm, full, 5); //                    2,600 + 9,000 + 700
    assert_eq!(paying - cold, 9_000);
    let (_, empty) = call(&mut evm, Address::repeat_byte(0x55), 5); // 2,600 + 25,000 + 9,000 + 0
    assert_eq!(empty - cold, 25_000 + 9_000 - 700);
    let (status, ecrecover) = call(&mut evm, Address::with_last_byte(1), 0); // warm: 100 + 3,000
    assert_eq!(status, 0);
    assert_eq!(cold - ecrecover, 2_600 + 700 - (100 + 3_000));
    let failing = Address::repeat_byte(0x66);
    evm.register(failing, |_, _, _| CallResult { success: false, output: vec![], gas_used: 700 });
    let (status, failed) = call(&mut evm, failing, 0);
    assert_eq!((status, failed), (2, cold));
}

/// Per-byte prices, `crates/arbutil/src/pricing.rs`: host → guest writes 5,040 + 30 per byte
/// beyond 32 (`read_args`), guest → host reads 16,381 + 55 per byte beyond 32, paid twice by
/// `write_result` (once "for geth", `user-host-trait/lib.rs`) and once by `emit_log`, whose log
/// gas is 375 × (1 + topics) + 8 per data byte (`crates/prover/src/programs/meter.rs`).
#[test]
fn bytes_moved_pay_nitros_read_and_write_prices() {
    let wasm = wat::parse_str(
        r#"(module
      (import "vm_hooks" "read_args" (func $read_args (param i32)))
      (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
      (import "vm_hooks" "emit_log" (func $log (param i32 i32 i32)))
      (import "vm_hooks" "evm_ink_left" (func $ink (result i64)))
      (memory (export "memory") 1)
      (func (export "user_entrypoint") (param $len i32) (result i32)
        (call $read_args (i32.const 0))
        (call $write_result (i32.const 0) (local.get $len))
        (i64.store (i32.const 1000) (call $ink))
        (call $log (i32.const 0) (local.get $len) (i32.const 0))
        (i64.store (i32.const 1008) (call $ink))
        (call $write_result (i32.const 1000) (i32.const 16))
        (i32.const 0)))"#,
    )
    .unwrap();
    let me = Address::with_last_byte(0xc2);
    let mut evm = MemoryEvm::new();
    evm.deploy(me, Program::activate(&stylus::pack(&wasm)).unwrap());
    let ink = |evm: &mut MemoryEvm, len: usize| {
        let r = evm.transact(Address::repeat_byte(9), me, &vec![1u8; len], 10_000_000);
        let o = &r.outcome.output;
        (u64::from_le_bytes(o[..8].try_into().unwrap()), u64::from_le_bytes(o[8..16].try_into().unwrap()))
    };
    let (a64, b64) = ink(&mut evm, 64);
    let (a96, b96) = ink(&mut evm, 96);
    // 32 more bytes: read_args 30 × 32 = 960, write_result 2 × 55 × 32 = 3,520.
    assert_eq!(a64 - a96, 960 + 3_520);
    // emit_log: 55 × 32 = 1,760 ink and 8 × 32 = 256 gas = 2,560,000 ink more.
    assert_eq!((b64 - b96) - (a64 - a96), 1_760 + 2_560_000);
}

/// `arbos/programs/api.go` `doCall`: the callee gets min(requested, 63/64 of the gas left after
/// the call's base cost). Asking for everything, 64,000 more gas for the transaction gives the
/// callee exactly 63,000 more.
#[test]
fn a_call_passes_63_64ths_of_what_is_left() {
    let callee = wat::parse_str(
        r#"(module
      (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
      (import "vm_hooks" "evm_gas_left" (func $gas (result i64)))
      (memory (export "memory") 1)
      (func (export "user_entrypoint") (param $len i32) (result i32)
        (i64.store (i32.const 0) (call $gas))
        (call $write_result (i32.const 0) (i32.const 8))
        (i32.const 0)))"#,
    )
    .unwrap();
    let caller = wat::parse_str(
        r#"(module
      (import "vm_hooks" "read_args" (func $read_args (param i32)))
      (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
      (import "vm_hooks" "static_call_contract" (func $scall (param i32 i32 i32 i64 i32) (result i32)))
      (import "vm_hooks" "read_return_data" (func $rrd (param i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "user_entrypoint") (param $len i32) (result i32)
        (call $read_args (i32.const 0))
        (drop (call $scall (i32.const 0) (i32.const 0) (i32.const 0) (i64.const -1) (i32.const 100)))
        (drop (call $rrd (i32.const 200) (i32.const 0) (i32.const 8)))
        (call $write_result (i32.const 200) (i32.const 8))
        (i32.const 0)))"#,
    )
    .unwrap();
    let (me, other) = (Address::with_last_byte(0xc3), Address::with_last_byte(0xc4));
    let mut evm = MemoryEvm::new();
    evm.deploy(me, Program::activate(&stylus::pack(&caller)).unwrap());
    evm.deploy(other, Program::activate(&stylus::pack(&callee)).unwrap());
    let seen = |evm: &mut MemoryEvm, gas: u64| {
        let r = evm.transact(Address::repeat_byte(9), me, other.as_slice(), gas);
        u64::from_le_bytes(r.outcome.output[..8].try_into().unwrap())
    };
    let (low, high) = (seen(&mut evm, 1_000_000), seen(&mut evm, 1_064_000));
    assert_eq!(high - low, 63_000);
}
