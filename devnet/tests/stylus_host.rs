//! The Stylus host against hand-written programs: what activation refuses (with Nitro's reasons)
//! and what each hostio does when a program runs.

use alloy_primitives::{keccak256, Address, B256};
use avocado_devnet::stylus::{self, ActivationError, MemoryEvm, Program, Status};
use k256::ecdsa::SigningKey;

const HOOKS: &str = r#"
  (import "vm_hooks" "read_args" (func $read_args (param i32)))
  (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
"#;

/// A program around `body`, the entrypoint's code (args at 0, `len` in local 0).
fn program(imports: &str, body: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module {HOOKS} {imports}
            (memory (export "memory") 1)
            (func (export "user_entrypoint") (param $len i32) (result i32) {body}))"#
    ))
    .unwrap()
}

fn refuse(wat_src: &str) -> ActivationError {
    let wasm = wat::parse_str(wat_src).unwrap();
    stylus::activate(&stylus::pack(&wasm)).unwrap_err()
}

fn run(wasm: &[u8], evm: &mut MemoryEvm, to: Address, input: &[u8]) -> stylus::Receipt {
    if !evm_has(evm, to) {
        evm.deploy(to, Program::activate(&stylus::pack(wasm)).unwrap());
    }
    evm.transact(Address::repeat_byte(9), to, input, 10_000_000)
}

fn evm_has(evm: &mut MemoryEvm, to: Address) -> bool {
    use avocado_devnet::stylus::EvmApi;
    evm.code_hash(to) != B256::ZERO
}

const ECHO: &str = "(call $read_args (i32.const 0)) (call $write_result (i32.const 0) (local.get $len)) (i32.const 0)";

#[test]
fn minimal_program_activates_and_echoes() {
    let wasm = program("", ECHO);
    let code = stylus::pack(&wasm);
    assert_eq!(&code[..4], &[0xEF, 0xF0, 0x00, 0x00]);
    assert_eq!(stylus::unpack(&code).unwrap(), wasm);
    let info = stylus::validate(&wasm).unwrap();
    assert_eq!(info.initial_pages, 1);
    let mut evm = MemoryEvm::new();
    let r = run(&wasm, &mut evm, Address::with_last_byte(0xaa), b"hello stylus");
    assert_eq!(r.outcome.status, Status::Success);
    assert_eq!(r.outcome.output, b"hello stylus");
    // Nitro's call overhead for an uncached v2 program: 69·128 + 11·32 gas plus shape terms.
    let overhead = info.call_overhead_gas;
    assert!((8_832 + 352..8_832 + 352 + 100).contains(&overhead), "{overhead}");
    assert!(r.outcome.gas_used > overhead && r.outcome.gas_used < overhead + 10, "{}", r.outcome.gas_used);
}

#[test]
fn activation_refuses_what_nitro_refuses() {
    // Reference types: a funcref table with a typed select on a reference.
    let e = refuse(
        r#"(module (memory (export "memory") 1)
        (func (export "user_entrypoint") (param i32) (result i32) (drop (ref.null func)) (i32.const 0)))"#,
    );
    assert!(matches!(e, ActivationError::Parse(ref m) if m.contains("reference types")), "{e}");
    // Multi-value function results.
    let e = refuse(
        r#"(module (memory (export "memory") 1)
        (func $two (result i32 i32) (i32.const 1) (i32.const 2))
        (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#,
    );
    assert!(matches!(e, ActivationError::Parse(ref m) if m.contains("multi-value") || m.contains("multiple")), "{e}");
    // An import from another module, and an unknown hostio.
    let e = refuse(
        r#"(module (import "env" "abort" (func)) (memory (export "memory") 1)
        (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#,
    );
    assert!(matches!(e, ActivationError::Import { ref module, .. } if module == "env"), "{e}");
    let e = refuse(
        r#"(module (import "vm_hooks" "steal_funds" (func)) (memory (export "memory") 1)
        (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#,
    );
    assert!(matches!(e, ActivationError::Import { reason: "unknown hostio", .. }), "{e}");
    // A hostio imported with the wrong signature.
    let e = refuse(
        r#"(module (import "vm_hooks" "read_args" (func (param i64))) (memory (export "memory") 1)
        (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#,
    );
    assert!(matches!(e, ActivationError::Import { reason: "signature does not match the hostio", .. }), "{e}");
    // Missing or mistyped entrypoint, missing memory.
    let e = refuse(
        r#"(module (memory (export "memory") 1) (func (export "main") (param i32) (result i32) (i32.const 0)))"#,
    );
    assert_eq!(e, ActivationError::MissingExport("user_entrypoint"));
    let e = refuse(
        r#"(module (memory (export "memory") 1) (func (export "user_entrypoint") (param i64) (result i32) (i32.const 0)))"#,
    );
    assert_eq!(e, ActivationError::EntrypointType);
    assert_eq!(e.to_string(), "wrong type for user_entrypoint: must be a function (i32) -> i32");
    let e = refuse(r#"(module (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#);
    assert_eq!(e, ActivationError::MissingExport("memory"));
    // A start function.
    let e = refuse(
        r#"(module (memory (export "memory") 1) (func $s) (start $s)
        (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#,
    );
    assert_eq!(e, ActivationError::StartFunction);
    assert_eq!(e.to_string(), "wasm start functions not allowed");
    // Memory over 128 pages.
    let e = refuse(
        r#"(module (memory (export "memory") 129) (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#,
    );
    assert_eq!(e.to_string(), "memory exceeds limit: 129 > 128 initial pages");
    // Exactly 128 pages is allowed.
    let wasm = wat::parse_str(
        r#"(module (memory (export "memory") 128) (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#,
    )
    .unwrap();
    assert_eq!(stylus::validate(&wasm).unwrap().initial_pages, 128);
    // Reference types again, as a table of externref.
    let e = refuse(
        r#"(module (table 1 externref) (memory (export "memory") 1)
        (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#,
    );
    assert!(matches!(e, ActivationError::Parse(ref m) if m.contains("reference types")), "{e}");
    // SIMD and tail calls are outside Nitro's feature set too.
    let e = refuse(
        r#"(module (memory (export "memory") 1)
        (func (export "user_entrypoint") (param i32) (result i32) (drop (v128.const i64x2 0 0)) (i32.const 0)))"#,
    );
    assert!(matches!(e, ActivationError::Parse(ref m) if m.contains("SIMD")), "{e}");
    let e = refuse(
        r#"(module (memory (export "memory") 1)
        (func $f (param i32) (result i32) (i32.const 0))
        (func (export "user_entrypoint") (param i32) (result i32) (return_call $f (local.get 0))))"#,
    );
    assert!(matches!(e, ActivationError::Parse(ref m) if m.contains("tail call")), "{e}");
    // Names Nitro reserves for its instrumentation, and an export named like an import.
    let e = refuse(
        r#"(module (memory (export "memory") 1) (global (export "stylus_ink_left") i32 (i32.const 0))
        (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#,
    );
    assert_eq!(e.to_string(), "binary exports reserved symbol stylus_ink_left");
    let e = refuse(
        r#"(module (import "vm_hooks" "msg_reentrant" (func $r (result i32))) (memory (export "memory") 1)
        (func (export "msg_reentrant") (result i32) (i32.const 0))
        (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#,
    );
    assert_eq!(e, ActivationError::ExportShadowsImport("msg_reentrant".into()));
    // Not Stylus code at all, and a dictionary this host does not ship.
    assert_eq!(stylus::activate(&[0x60, 0x00]).unwrap_err(), ActivationError::NotWasm);
    let mut code = stylus::pack(&program("", ECHO));
    code[3] = 1;
    assert_eq!(stylus::activate(&code).unwrap_err(), ActivationError::Dictionary(1));
    assert!(stylus::activate(&code).unwrap_err().to_string().contains("Nitro's built-in Stylus dictionary"));
}

/// A minimal program with `extra` added to the module.
fn module_with(extra: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module (memory (export "memory") 3) {extra}
           (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#
    ))
    .unwrap()
}

#[test]
fn count_limits_are_nitros() {
    let limit = |what: &'static str, count: u64, limit: u64| ActivationError::Limit { what, count, limit };
    // Locals per function: 348 pass, 349 do not.
    assert!(stylus::validate(&module_with("(func (local i64) (local i32 i32 i32 i32) (local f64))")).is_ok());
    let locals = |n: usize| module_with(&format!("(func {})", "(local i32) ".repeat(n)));
    assert!(stylus::validate(&locals(348)).is_ok());
    let e = stylus::validate(&locals(349)).unwrap_err();
    assert_eq!(e, limit("locals", 349, 348));
    assert_eq!(e.to_string(), "too many wasm locals: 349 > 348");
    // Defined functions: 4096 with the entrypoint pass, 4097 do not.
    let funcs = |n: usize| module_with(&"(func)".repeat(n));
    assert!(stylus::validate(&funcs(4095)).is_ok());
    assert_eq!(stylus::validate(&funcs(4096)).unwrap_err(), limit("functions", 4097, 4096));
    // Data segments.
    let datas = |n: usize| module_with(&r#"(data (i32.const 0) "x")"#.repeat(n));
    assert!(stylus::validate(&datas(128)).is_ok());
    assert_eq!(stylus::validate(&datas(129)).unwrap_err(), limit("datas", 129, 128));
    // Exports.
    let exports = |n: usize| {
        module_with(&(0..n).map(|i| format!("(global (export \"g{i}\") i32 (i32.const 0))")).collect::<String>())
    };
    assert!(stylus::validate(&exports(1022)).is_ok());
    assert_eq!(stylus::validate(&exports(1023)).unwrap_err(), limit("exports", 1025, 1024));
    // Imports: 514 imports of one hostio.
    let imports = |n: usize| {
        let imports: String =
            (0..n).map(|i| format!("(import \"vm_hooks\" \"msg_reentrant\" (func $r{i} (result i32)))")).collect();
        wat::parse_str(format!(
            r#"(module {imports} (memory (export "memory") 1)
               (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#
        ))
        .unwrap()
    };
    assert!(stylus::validate(&imports(513)).is_ok());
    assert_eq!(stylus::validate(&imports(514)).unwrap_err(), limit("imports", 514, 513));
    // Two memories need multi-memory, which is off.
    let e = stylus::validate(&module_with("(memory 1)")).unwrap_err();
    assert!(matches!(e, ActivationError::Parse(ref m) if m.contains("multiple memories")), "{e}");
}

#[test]
fn uncompressed_size_is_capped_at_128_kib() {
    // Zeros compress to almost nothing, so the deployed code is small and only the cap refuses it.
    let zeros = |n: usize| module_with(&format!(r#"(data (i32.const 0) "{}")"#, "\\00".repeat(n)));
    let small = zeros(100_000);
    assert!(small.len() < 128 * 1024);
    assert!(stylus::activate(&stylus::pack(&small)).is_ok());
    let big = zeros(140_000);
    let code = stylus::pack(&big);
    assert!(code.len() < 1024, "{} bytes", code.len());
    assert_eq!(stylus::unpack(&code).unwrap_err(), ActivationError::WasmTooLarge);
    assert_eq!(stylus::validate(&big).unwrap_err(), ActivationError::WasmTooLarge);
    // Corrupt brotli is refused with the decompressor's reason.
    let mut code = stylus::pack(&small);
    code.truncate(20);
    assert!(matches!(stylus::unpack(&code).unwrap_err(), ActivationError::Decompress(_)));
}

#[test]
fn deployed_code_over_24576_bytes_is_refused() {
    // Incompressible data makes the packed code large.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let noise: String = (0..26_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("\\{:02x}", x as u8)
        })
        .collect();
    let wasm = wat::parse_str(format!(
        r#"(module (memory (export "memory") 1) (data (i32.const 0) "{noise}")
           (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#
    ))
    .unwrap();
    let code = stylus::pack(&wasm);
    assert!(code.len() > 24_576);
    assert_eq!(stylus::activate(&code).unwrap_err(), ActivationError::CodeTooLarge(code.len()));
}

#[test]
fn nonzero_status_reverts_with_the_written_result() {
    let wasm = program(
        "",
        "(call $read_args (i32.const 0)) (call $write_result (i32.const 0) (local.get $len)) (i32.const 1)",
    );
    let mut evm = MemoryEvm::new();
    let r = run(&wasm, &mut evm, Address::with_last_byte(1 + 0xa0), b"nope");
    assert_eq!(r.outcome.status, Status::Revert);
    assert_eq!(r.outcome.output, b"nope");
}

const STORAGE: &str = r#"
  (import "vm_hooks" "storage_load_bytes32" (func $load (param i32 i32)))
  (import "vm_hooks" "storage_cache_bytes32" (func $cache (param i32 i32)))
  (import "vm_hooks" "storage_flush_cache" (func $flush (param i32)))
"#;

#[test]
fn storage_is_written_at_flush_and_dropped_on_revert() {
    // args: key (32) ‖ value (32) ‖ mode (1): 0 = cache + flush, 1 = cache + revert, 2 = cache only.
    let body = r#"
        (call $read_args (i32.const 0))
        (call $cache (i32.const 0) (i32.const 32))
        ;; a load sees the cached value
        (call $load (i32.const 0) (i32.const 100))
        (if (i32.eq (i32.load8_u (i32.const 64)) (i32.const 1)) (then (return (i32.const 1))))
        (if (i32.eq (i32.load8_u (i32.const 64)) (i32.const 0)) (then (call $flush (i32.const 0))))
        (call $write_result (i32.const 100) (i32.const 32))
        (i32.const 0)"#;
    let wasm = program(STORAGE, body);
    let to = Address::with_last_byte(0xb0);
    let mut evm = MemoryEvm::new();
    let key = B256::repeat_byte(1);
    let input = |v: u8, mode: u8| [key.as_slice(), &[v; 32], &[mode]].concat();
    let r = run(&wasm, &mut evm, to, &input(7, 0));
    assert_eq!(r.outcome.output, [7u8; 32]);
    assert_eq!(evm.storage(to, key), B256::repeat_byte(7));
    assert_eq!(r.slots_written, 1);
    let r = run(&wasm, &mut evm, to, &input(8, 1));
    assert_eq!(r.outcome.status, Status::Revert);
    assert_eq!(evm.storage(to, key), B256::repeat_byte(7));
    // Cached but never flushed: the chain never sees it.
    let r = run(&wasm, &mut evm, to, &input(9, 2));
    assert_eq!(r.outcome.output, [9u8; 32]);
    assert_eq!(evm.storage(to, key), B256::repeat_byte(7));
}

#[test]
fn logs_keccak_and_context() {
    let imports = r#"
      (import "vm_hooks" "emit_log" (func $log (param i32 i32 i32)))
      (import "vm_hooks" "native_keccak256" (func $keccak (param i32 i32 i32)))
      (import "vm_hooks" "block_timestamp" (func $ts (result i64)))
      (import "vm_hooks" "chainid" (func $chain (result i64)))
      (import "vm_hooks" "msg_sender" (func $sender (param i32)))
    "#;
    // Log one topic (the first 32 bytes of args) with the rest as data; return
    // keccak(args) ‖ timestamp ‖ chain id ‖ sender.
    let body = r#"
        (call $read_args (i32.const 0))
        (call $log (i32.const 0) (local.get $len) (i32.const 1))
        (call $keccak (i32.const 0) (local.get $len) (i32.const 1000))
        (i64.store (i32.const 1032) (call $ts))
        (i64.store (i32.const 1040) (call $chain))
        (call $sender (i32.const 1048))
        (call $write_result (i32.const 1000) (i32.const 68))
        (i32.const 0)"#;
    let wasm = program(imports, body);
    let mut evm = MemoryEvm::new();
    evm.block.timestamp = 1234;
    evm.block.chain_id = 42;
    let to = Address::with_last_byte(0xc0);
    let args = [[5u8; 32].as_slice(), b"payload"].concat();
    let r = run(&wasm, &mut evm, to, &args);
    assert_eq!(r.outcome.status, Status::Success);
    assert_eq!(&r.outcome.output[..32], keccak256(&args).as_slice());
    assert_eq!(u64::from_le_bytes(r.outcome.output[32..40].try_into().unwrap()), 1234);
    assert_eq!(u64::from_le_bytes(r.outcome.output[40..48].try_into().unwrap()), 42);
    assert_eq!(&r.outcome.output[48..68], Address::repeat_byte(9).as_slice());
    assert_eq!(r.logs.len(), 1);
    assert_eq!(
        (r.logs[0].address, r.logs[0].topics.clone(), r.logs[0].data.clone()),
        (to, vec![B256::repeat_byte(5)], b"payload".to_vec())
    );
}

#[test]
fn static_call_to_ecrecover() {
    let imports = r#"
      (import "vm_hooks" "static_call_contract" (func $scall (param i32 i32 i32 i64 i32) (result i32)))
      (import "vm_hooks" "read_return_data" (func $rrd (param i32 i32 i32) (result i32)))
    "#;
    // args = ecrecover input (128 bytes); address 0x01 stored at 2000.
    let body = r#"
        (call $read_args (i32.const 0))
        (i32.store8 (i32.const 2019) (i32.const 1))
        (drop (call $scall (i32.const 2000) (i32.const 0) (local.get $len) (i64.const 100000) (i32.const 3000)))
        (call $write_result (i32.const 4000) (call $rrd (i32.const 4000) (i32.const 0) (i32.load (i32.const 3000))))
        (i32.const 0)"#;
    let wasm = program(imports, body);
    let mut evm = MemoryEvm::new();
    let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let digest = keccak256(b"message");
    let (sig, recid) = key.sign_prehash_recoverable(digest.as_slice()).unwrap();
    let mut input = [0u8; 128];
    input[..32].copy_from_slice(digest.as_slice());
    input[63] = 27 + recid.is_y_odd() as u8;
    input[64..].copy_from_slice(&sig.to_bytes());
    let to = Address::with_last_byte(0xd0);
    let r = run(&wasm, &mut evm, to, &input);
    assert_eq!(&r.outcome.output[12..], Address::from_private_key(&key).as_slice());
    input[63] = 30; // invalid v: empty output, not a revert
    let r = run(&wasm, &mut evm, to, &input);
    assert_eq!(r.outcome.status, Status::Success);
    assert!(r.outcome.output.is_empty());
}

#[test]
fn memory_grow_and_out_of_ink() {
    let imports = r#"(import "vm_hooks" "pay_for_memory_grow" (func $pay (param i32)))"#;
    let body = r#"
        (call $pay (i32.const 3))
        (drop (memory.grow (i32.const 3)))
        (i32.store (i32.const 200000) (i32.const 77))
        (call $write_result (i32.const 200000) (i32.const 4))
        (i32.const 0)"#;
    let wasm = program(imports, body);
    let mut evm = MemoryEvm::new();
    let r = run(&wasm, &mut evm, Address::with_last_byte(0xe0), b"");
    assert_eq!(r.outcome.output, 77u32.to_le_bytes());
    // An endless loop ends with all gas consumed.
    let wasm = program("", "(loop $l (br $l)) (i32.const 0)");
    let to = Address::with_last_byte(0xe1);
    evm.deploy(to, Program::activate(&stylus::pack(&wasm)).unwrap());
    let r = evm.transact(Address::ZERO, to, b"", 100_000);
    assert_eq!(r.outcome.status, Status::OutOfInk);
    assert_eq!(r.outcome.gas_used, 100_000);
}

#[test]
fn operators_pay_nitros_prices() {
    // INK.md's worked example: a countdown loop body of local.get, i32.const, i32.sub,
    // local.tee, br_if costs 75 + 1 + 70 + 75 + 765 = 986 ink plus the 2,450-ink segment header:
    // 3,436 ink (0.3436 gas) per iteration.
    let run = |n: u32| {
        let body = format!("(local.set $len (i32.const {n})) (loop $l (br_if $l (local.tee $len (i32.sub (local.get $len) (i32.const 1))))) (i32.const 0)");
        let wasm = program("", &body);
        let mut evm = MemoryEvm::new();
        run(&wasm, &mut evm, Address::with_last_byte(0xf0), b"").outcome.gas_used
    };
    let (a, b) = (run(10_000), run(20_000));
    assert_eq!(b - a, 3_436, "10,000 more iterations cost 10,000 × 3,436 ink = 3,436 gas");
}

#[test]
fn transient_storage_exit_early_and_msg_value() {
    let imports = r#"
      (import "vm_hooks" "transient_store_bytes32" (func $tstore (param i32 i32)))
      (import "vm_hooks" "transient_load_bytes32" (func $tload (param i32 i32)))
      (import "vm_hooks" "msg_value" (func $value (param i32)))
      (import "vm_hooks" "exit_early" (func $exit (param i32)))
    "#;
    // Store args[0..32] under key args[32..64], read it back, append msg.value, write the result
    // and leave through exit_early with status args[64]; the trailing `i32.const 1` never runs.
    let body = r#"
        (call $read_args (i32.const 0))
        (call $tstore (i32.const 32) (i32.const 0))
        (call $tload (i32.const 32) (i32.const 100))
        (call $value (i32.const 132))
        (call $write_result (i32.const 100) (i32.const 64))
        (call $exit (i32.load8_u (i32.const 64)))
        (i32.const 1)"#;
    let wasm = program(imports, body);
    let mut evm = MemoryEvm::new();
    let to = Address::with_last_byte(0xa5);
    let input = |status: u8| [[3u8; 32].as_slice(), &[4u8; 32], &[status]].concat();
    let r = run(&wasm, &mut evm, to, &input(0));
    assert_eq!(r.outcome.status, Status::Success);
    assert_eq!(&r.outcome.output[..32], &[3u8; 32]);
    assert_eq!(&r.outcome.output[32..], &[0u8; 32]);
    let r = run(&wasm, &mut evm, to, &input(1));
    assert_eq!(r.outcome.status, Status::Revert);
    assert_eq!(&r.outcome.output[..32], &[3u8; 32]);
}

#[test]
fn calls_reach_registered_handlers_and_programs() {
    use avocado_devnet::stylus::{CallKind, CallResult};
    use std::{cell::RefCell, rc::Rc};
    let imports = r#"
      (import "vm_hooks" "call_contract" (func $call (param i32 i32 i32 i32 i64 i32) (result i32)))
      (import "vm_hooks" "read_return_data" (func $rrd (param i32 i32 i32) (result i32)))
    "#;
    // args = callee (20) ‖ input; calls it with value 5 and returns status byte ‖ return data.
    let body = r#"
        (call $read_args (i32.const 0))
        (i32.store8 (i32.const 1031) (i32.const 5))
        (i32.store8 (i32.const 2000)
          (call $call (i32.const 0) (i32.const 20) (i32.sub (local.get $len) (i32.const 20))
                      (i32.const 1000) (i64.const 1000000) (i32.const 1100)))
        (drop (call $rrd (i32.const 2001) (i32.const 0) (i32.load (i32.const 1100))))
        (call $write_result (i32.const 2000) (i32.add (i32.const 1) (i32.load (i32.const 1100))))
        (i32.const 0)"#;
    let caller = program(imports, body);
    let mut evm = MemoryEvm::new();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = seen.clone();
    let handler = Address::repeat_byte(0x44);
    evm.register(handler, move |kind, input, value| {
        log.borrow_mut().push((kind, input.to_vec(), value));
        CallResult { success: input != b"fail", output: [b"re:", input].concat(), gas_used: 700 }
    });
    let me = Address::with_last_byte(0xa6);
    let r = run(&caller, &mut evm, me, &[handler.as_slice(), b"ping"].concat());
    assert_eq!(r.outcome.status, Status::Success);
    assert_eq!(r.outcome.output, [&[0u8][..], b"re:ping"].concat());
    let r = run(&caller, &mut evm, me, &[handler.as_slice(), b"fail"].concat());
    // A failed call's status is 2, as Nitro's api.go reports it.
    assert_eq!(r.outcome.output, [&[2u8][..], b"re:fail"].concat());
    assert_eq!(
        *seen.borrow(),
        vec![
            (CallKind::Call, b"ping".to_vec(), alloy_primitives::U256::from(5)),
            (CallKind::Call, b"fail".to_vec(), alloy_primitives::U256::from(5))
        ]
    );
    // A program at the callee address runs; an empty account answers with success and no data.
    let echo = Address::with_last_byte(0xa7);
    evm.deploy(echo, Program::activate(&stylus::pack(&program("", ECHO))).unwrap());
    let r = run(&caller, &mut evm, me, &[echo.as_slice(), b"hi"].concat());
    assert_eq!(r.outcome.output, [&[0u8][..], b"hi"].concat());
    let r = run(&caller, &mut evm, me, &[Address::repeat_byte(0x55).as_slice(), b"hi"].concat());
    assert_eq!(r.outcome.output, [0u8]);
}

#[test]
fn account_hostios_see_code_hash_and_balance() {
    use alloy_primitives::{KECCAK256_EMPTY, U256};
    let imports = r#"
      (import "vm_hooks" "account_codehash" (func $codehash (param i32 i32)))
      (import "vm_hooks" "account_code_size" (func $codesize (param i32) (result i32)))
      (import "vm_hooks" "account_code" (func $code (param i32 i32 i32 i32) (result i32)))
      (import "vm_hooks" "account_balance" (func $balance (param i32 i32)))
    "#;
    // args = account (20); returns codehash (32) ‖ balance (32) ‖ code size (4) ‖ the first 4
    // bytes of its code.
    let body = r#"
        (call $read_args (i32.const 0))
        (call $codehash (i32.const 0) (i32.const 100))
        (call $balance (i32.const 0) (i32.const 132))
        (i32.store (i32.const 164) (call $codesize (i32.const 0)))
        (drop (call $code (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 168)))
        (call $write_result (i32.const 100) (i32.const 72))
        (i32.const 0)"#;
    let wasm = program(imports, body);
    let code = stylus::pack(&wasm);
    let mut evm = MemoryEvm::new();
    let me = Address::with_last_byte(0xa8);
    let rich = Address::repeat_byte(0x66);
    evm.set_balance(rich, U256::from(1_000u64));
    let ask = |evm: &mut MemoryEvm, who: Address| run(&wasm, evm, me, who.as_slice()).outcome.output;
    // The program itself: hash and size of its deployed code, which starts EF F0 00 00.
    let out = ask(&mut evm, me);
    assert_eq!(&out[..32], keccak256(&code).as_slice());
    assert_eq!(u32::from_le_bytes(out[64..68].try_into().unwrap()) as usize, code.len());
    assert_eq!(&out[68..72], &[0xEF, 0xF0, 0x00, 0x00]);
    // An account with a balance and no code, and one that does not exist.
    let out = ask(&mut evm, rich);
    assert_eq!(&out[..32], KECCAK256_EMPTY.as_slice());
    assert_eq!(U256::from_be_slice(&out[32..64]), U256::from(1_000u64));
    assert_eq!(&out[64..72], &[0u8; 8]);
    let out = ask(&mut evm, Address::repeat_byte(0x77));
    assert_eq!(&out[..64], &[0u8; 64]);
}
