//! Fidelity of the devnet's program pricing to Nitro's (ArbOS 60, Stylus v3 with the v1 price
//! table): activation's data term, the per-byte price of bulk memory operators, `call_indirect`'s
//! per-parameter surcharge, the per-transaction memory model and the return-data floor. Each
//! expected number is worked out by hand below from the rule in Nitro's source, cited by file.

use alloy_primitives::Address;
use avocado_devnet::stylus::{self, instrument, pages, program, MemoryEvm, Program, Status};
use wasmparser::Operator;

fn deploy(evm: &mut MemoryEvm, at: Address, wat: &str) -> Program {
    let wasm = wat::parse_str(wat).unwrap();
    let p = Program::activate(&stylus::pack(&wasm)).unwrap();
    evm.deploy(at, Program::activate(&stylus::pack(&wasm)).unwrap());
    p
}

fn run(evm: &mut MemoryEvm, to: Address, args: &[u8], gas: u64) -> stylus::Receipt {
    evm.transact(Address::repeat_byte(9), to, args, gas)
}

/// Prover `binary.rs` (`instrument`): `cached_init` counts `data_len`, the sum of every data
/// segment's `range` — its whole encoding, not its bytes alone. A 1,000-byte active segment at
/// `i32.const 0` is 1 (flags) + 3 (`i32.const 0 end`) + 2 (LEB128 of 1,000) + 1,000 = 1,006 bytes.
/// For this program (1 function of 2 signature words, no globals of its own + the 4 Nitro's
/// instrumentation adds, 1 page) of `L` bytes:
///   cachedCost = 0 + 0 + ⌊122·L / 100,000⌋ + ⌊4·1,628 / 1,000⌋ + ⌊1,006·75,244 / 100,000⌋ + 1·5
///              = ⌊122·L / 100,000⌋ + 6 + 756 + 5
///   initCost   = ⌊8,252 / 1,000⌋ + ⌊2·1,059 / 1,000⌋ + ⌊1,286·L / 10,000⌋ = 8 + 2 + ⌊1,286·L / 10,000⌋
/// and the call overhead (`programs.go` `initGas` + `cachedGas`, v2+ parameters, scalars 100 %)
/// is 69·128 + initCost + 11·32 + cachedCost. The module is L = 1,073 bytes, so cachedCost =
/// 1 + 767 = 768, initCost = 10 + 137 = 147, overhead = 8,832 + 147 + 352 + 768 = 10,099 (counting
/// the data bytes alone would give 752 for the data term, 10,095 in all).
#[test]
fn activation_counts_whole_data_segments() {
    let wat = format!(
        r#"(module (memory (export "memory") 1) (data (i32.const 0) "{}")
             (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#,
        "a".repeat(1_000)
    );
    let wasm = wat::parse_str(&wat).unwrap();
    assert_eq!(wasm.len(), 1_073);
    let info = stylus::validate(&wasm).unwrap();
    assert_eq!(info.call_overhead_gas, 10_099);
    assert_eq!(info.call_overhead_gas, program::call_overhead_gas(1, 2, 1_073, 0, 1_006, 1));
}

/// A program running `memory.copy` or `memory.fill` (args[0] = 0 or 1) over args[1..5] (LE) bytes.
const BULK: &str = r#"(module
  (import "vm_hooks" "read_args" (func $read_args (param i32)))
  (memory (export "memory") 2)
  (func (export "user_entrypoint") (param $len i32) (result i32)
    (call $read_args (i32.const 0))
    (if (i32.eqz (i32.load8_u (i32.const 0)))
      (then (memory.copy (i32.const 1000) (i32.const 20000) (i32.load (i32.const 1))))
      (else (memory.fill (i32.const 1000) (i32.const 7) (i32.load (i32.const 1)))))
    (i32.const 0)))"#;

/// Prover `programs/dynamic.rs` with `config.rs`: `memory.copy` and `memory.fill` pay
/// 800 / 8 = 100 ink per byte when they run, on top of their static 950. 10,000 more bytes are
/// 1,000,000 ink = 100 gas more, on the same code path.
#[test]
fn bulk_memory_pays_100_ink_per_byte() {
    let me = Address::with_last_byte(0xb1);
    let mut evm = MemoryEvm::new();
    let overhead = deploy(&mut evm, me, BULK).info().call_overhead_gas;
    let gas = |evm: &mut MemoryEvm, op: u8, n: u32| {
        let r = run(evm, me, &[[op].as_slice(), &n.to_le_bytes()].concat(), 1_000_000);
        assert_eq!(r.outcome.status, Status::Success, "{:?}", r.outcome);
        r.outcome.gas_used
    };
    assert_eq!(gas(&mut evm, 0, 10_000) - gas(&mut evm, 0, 0), 100);
    assert_eq!(gas(&mut evm, 1, 10_000) - gas(&mut evm, 1, 0), 100);
    // With 500 gas (5,000,000 ink) beyond the call overhead, filling 10,000 bytes (1,000,000
    // ink) succeeds; 100,000 bytes (10,000,000 ink) cannot be paid: out of ink.
    let fill = |evm: &mut MemoryEvm, n: u32| {
        run(evm, me, &[[1u8].as_slice(), &n.to_le_bytes()].concat(), overhead + 500).outcome.status
    };
    assert_eq!(fill(&mut evm, 10_000), Status::Success);
    assert_eq!(fill(&mut evm, 100_000), Status::OutOfInk);
}

/// Prover `programs/meter.rs` `pricing_v1`: `call_indirect` is 13,610 + 650 per parameter of its
/// signature — 13,610 + 3·650 = 15,560 for a three-parameter type; the other operators keep the
/// table (spot checks: `memory.copy` 950, `br_table` with 2 targets 2,400 + 2·325 = 3,050).
#[test]
fn call_indirect_pays_650_per_parameter() {
    let params = [0u32, 3];
    assert_eq!(instrument::op_ink(&Operator::CallIndirect { type_index: 1, table_index: 0 }, &params), 15_560);
    assert_eq!(instrument::op_ink(&Operator::CallIndirect { type_index: 0, table_index: 0 }, &params), 13_610);
    assert_eq!(instrument::op_ink(&Operator::MemoryCopy { dst_mem: 0, src_mem: 0 }, &params), 950);
    // Executed: a program reads `evm_ink_left`, calls a 3-parameter function that does nothing,
    // reads it again and returns the difference: the segment holding the call (2,450 header +
    // `local.set` 210 + the constants, 1 each + the call), the callee's `end` segment (2,451), the
    // segment up to the second read (2,450 + 1 + `local.get` 75 + `call` 3,800 = 6,326) and that
    // read's 8,400. Through the table (4 constants): 2,450 + 210 + 4 + 15,560 = 18,224, in all
    // 18,224 + 2,451 + 6,326 + 8,400 = 35,401; directly (3 constants): 2,450 + 210 + 3 + 3,800 =
    // 6,463, in all 23,640.
    let measure = |call: &str| {
        let wat = format!(
            r#"(module
          (import "vm_hooks" "evm_ink_left" (func $ink (result i64)))
          (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
          (type $t3 (func (param i32 i32 i32)))
          (table 1 funcref) (elem (i32.const 0) $f)
          (memory (export "memory") 1)
          (func $f (type $t3) (param i32 i32 i32))
          (func (export "user_entrypoint") (param $len i32) (result i32) (local $a i64)
            (local.set $a (call $ink))
            {call}
            (i64.store (i32.const 100) (i64.sub (local.get $a) (call $ink)))
            (call $write_result (i32.const 100) (i32.const 8))
            (i32.const 0)))"#
        );
        let me = Address::with_last_byte(0xb2);
        let mut evm = MemoryEvm::new();
        deploy(&mut evm, me, &wat);
        let out = run(&mut evm, me, &[], 1_000_000).outcome.output;
        u64::from_le_bytes(out.try_into().unwrap())
    };
    assert_eq!(measure("(call_indirect (type $t3) (i32.const 1) (i32.const 2) (i32.const 3) (i32.const 0))"), 35_401);
    assert_eq!(measure("(call $f (i32.const 1) (i32.const 2) (i32.const 3))"), 23_640);
}

/// `arbos/programs/memory.go` `MemoryModel.GasCost(new, open, ever)` with 2 free pages, 1,000 gas
/// a page and the exponential table (`memoryExponents`):
#[test]
fn memory_model_is_nitros() {
    // Within the free pages: nothing.
    assert_eq!(pages::gas_cost(2, 0, 0), 0);
    // 3 pages from nothing: 1 page beyond the free ones, exp(3) − exp(0) = 1 − 1 = 0 → 1,000.
    assert_eq!(pages::gas_cost(3, 0, 0), 1_000);
    // 10 pages: 8 · 1,000 + exp(10) − exp(0) = 8,000 + 3 − 1 = 8,002.
    assert_eq!(pages::gas_cost(10, 0, 0), 8_002);
    // 64 pages: 62,000 + 5,645 − 1 = 67,644.
    assert_eq!(pages::gas_cost(64, 0, 0), 67_644);
    // The same 10 pages again after they were closed (ever 10): only the linear 8,000.
    assert_eq!(pages::gas_cost(10, 0, 10), 8_000);
    // 10 more on top of 10 open: 20 − 2 − 8 = 10 pages, exp(20) − exp(10) = 14 − 3 → 10,011.
    assert_eq!(pages::gas_cost(10, 10, 10), 10_011);
    // `enforceStylusPageLimit`: more than 128 open at once is out of gas.
    assert_eq!(pages::open_cost(29, 100, 100), u64::MAX);
    assert_eq!(pages::open_cost(28, 100, 100), pages::gas_cost(28, 100, 100));
}

/// A program with `PAGES` initial pages that calls the address in args[0..20] `args[20]` times
/// with no calldata.
fn caller_wat(pages: u32) -> String {
    format!(
        r#"(module
      (import "vm_hooks" "read_args" (func $read_args (param i32)))
      (import "vm_hooks" "call_contract" (func $call (param i32 i32 i32 i32 i64 i32) (result i32)))
      (memory (export "memory") {pages})
      (func (export "user_entrypoint") (param $len i32) (result i32) (local $n i32)
        (call $read_args (i32.const 0))
        (local.set $n (i32.load8_u (i32.const 20)))
        (block $done (loop $next
          (br_if $done (i32.eqz (local.get $n)))
          (drop (call $call (i32.const 0) (i32.const 100) (i32.const 0) (i32.const 200) (i64.const 10000000) (i32.const 300)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $next)))
        (i32.const 0)))"#
    )
}

/// `programs.go` `CallProgram` prices a program's initial pages with the *transaction's* open
/// and ever-open counts (geth `GetStylusPages`), keeps them open while it runs and closes them
/// when it returns. An outer program of 1 page calls a callee of 1 or of 10 pages; the two
/// callees are the same code and size, so their call overheads differ only by `cachedCost`'s
/// 5 gas a page: 9 · 5 = 45.
/// - 1-page callee: GasCost(1, 1, 1) = 0 (2 pages ever: free).
/// - 10-page callee, first call: GasCost(10, 1, 1) = (9 − 0) · 1,000 + exp(11) − exp(1)
///   = 9,000 + 4 − 1 = 9,003 (priced alone, as a first program, it would be 8,002).
/// - its second call in the same transaction: GasCost(10, 1, 11) = 9,000 + 0.
#[test]
fn pages_are_counted_per_transaction_across_calls() {
    let outer = Address::with_last_byte(0xa0);
    let (small, big) = (Address::with_last_byte(0xa1), Address::with_last_byte(0xa2));
    let mut evm = MemoryEvm::new();
    deploy(&mut evm, outer, &caller_wat(1));
    deploy(&mut evm, small, &caller_wat(1));
    deploy(&mut evm, big, &caller_wat(10));
    let gas = |evm: &mut MemoryEvm, to: Address, times: u8| {
        let args = [to.as_slice(), &[times]].concat();
        let r = run(evm, outer, &args, 10_000_000);
        assert_eq!(r.outcome.status, Status::Success, "{:?}", r.outcome);
        r.outcome.gas_used
    };
    assert_eq!(gas(&mut evm, big, 1) - gas(&mut evm, small, 1), 9_003 + 45);
    assert_eq!(gas(&mut evm, big, 2) - gas(&mut evm, small, 2), 9_003 + 9_000 + 2 * 45);
}

/// `pay_for_memory_grow` (`user-host-trait`) asks `addPages` (`api.go`): the same model, with
/// the pages staying open. A 1-page program growing by 9 pages: GasCost(9, 1, 1) = 8 · 1,000 +
/// exp(10) − exp(1) = 8,002; by 1 page: GasCost(1, 1, 1) = 0; the rest of the work is the same.
#[test]
fn memory_grow_pays_the_model() {
    let wat = r#"(module
      (import "vm_hooks" "read_args" (func $read_args (param i32)))
      (import "vm_hooks" "pay_for_memory_grow" (func $pay (param i32)))
      (memory (export "memory") 1)
      (func (export "user_entrypoint") (param $len i32) (result i32)
        (call $read_args (i32.const 0))
        (call $pay (i32.load8_u (i32.const 0)))
        (i32.const 0)))"#;
    let me = Address::with_last_byte(0xa3);
    let mut evm = MemoryEvm::new();
    deploy(&mut evm, me, wat);
    let nine = run(&mut evm, me, &[9], 1_000_000).outcome.gas_used;
    let one = run(&mut evm, me, &[1], 1_000_000).outcome.gas_used;
    assert_eq!(nine - one, 8_002);
    // 128 open pages at most: growing by 128 more is out of gas.
    assert_eq!(run(&mut evm, me, &[128], 1_000_000).outcome.status, Status::OutOfInk);
}

/// `programs.go` `CallProgram` (ArbOS ≥ 31): a program returning data uses at least
/// `evmMemoryCost(len)` = 3 · words + words² / 512. Returning 65,536 bytes: 2,048 words →
/// 6,144 + 8,192 = 14,336 gas, more than this program's own ~10,000, so that is its gas; with
/// less than 14,336 gas to start with, it runs out of gas.
#[test]
fn return_data_costs_at_least_what_the_evm_charges() {
    let wat = r#"(module
      (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
      (memory (export "memory") 1)
      (func (export "user_entrypoint") (param $len i32) (result i32)
        (call $write_result (i32.const 0) (i32.const 65536))
        (i32.const 0)))"#;
    let me = Address::with_last_byte(0xa4);
    let mut evm = MemoryEvm::new();
    deploy(&mut evm, me, wat);
    assert_eq!(pages::evm_memory_cost(65_536), 14_336);
    let r = run(&mut evm, me, &[], 1_000_000);
    assert_eq!((r.outcome.status, r.outcome.output.len(), r.outcome.gas_used), (Status::Success, 65_536, 14_336));
    let r = run(&mut evm, me, &[], 14_000);
    assert_eq!((r.outcome.status, r.outcome.gas_used), (Status::OutOfInk, 14_000));
}
