//! The chain with Stylus: deployment through EVM init code (the EIP-3541 exemption), activation
//! through ArbWasm with its fee and refund, and calls across EVM and Stylus in both directions.

use alloy_primitives::{Address, U256};
use alloy_sol_types::{SolCall, SolError, SolEvent};
use avocado_devnet::{
    chain::{arbos::ArbWasm, Chain, ChainConfig, Executed, DEV_ACCOUNT},
    stylus,
};
use revm::primitives::TxKind;

fn send(chain: &mut Chain, to: TxKind, data: Vec<u8>, value: U256) -> Executed {
    chain.send(DEV_ACCOUNT, to, data, value).expect("the transaction is valid")
}

fn echo_program() -> Vec<u8> {
    stylus::pack(
        &wat::parse_str(
            r#"(module
              (import "vm_hooks" "read_args" (func $read_args (param i32)))
              (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
              (memory (export "memory") 1)
              (func (export "user_entrypoint") (param $len i32) (result i32)
                (call $read_args (i32.const 0))
                (call $write_result (i32.const 0) (local.get $len))
                (i32.const 0)))"#,
        )
        .unwrap(),
    )
}

fn deploy(chain: &mut Chain, code: &[u8]) -> Address {
    let r = send(chain, TxKind::Create, stylus::init_code(code), U256::ZERO);
    assert!(r.is_success(), "{:?}", r.result);
    let addr = r.contract_address.unwrap();
    assert_eq!(chain.code(addr).as_ref(), code);
    addr
}

#[test]
fn deploy_activate_and_call_a_program() {
    let mut chain = Chain::new(&ChainConfig::default());
    let code = echo_program();
    let program = deploy(&mut chain, &code);

    // Not activated yet: calls fail like Nitro, and ArbWasm says so.
    let r = send(&mut chain, TxKind::Call(program), b"hi".to_vec(), U256::ZERO);
    assert!(!r.is_success());
    assert_eq!(r.output().as_ref(), ArbWasm::ProgramNotActivated {}.abi_encode().as_slice());
    let code_hash = alloy_primitives::keccak256(&code);
    let q = send(
        &mut chain,
        TxKind::Call(ArbWasm_addr()),
        ArbWasm::codehashVersionCall { codehash: code_hash }.abi_encode(),
        U256::ZERO,
    );
    assert_eq!(q.output().as_ref(), ArbWasm::ProgramNotActivated {}.abi_encode().as_slice());

    // Too little value for the data fee.
    let activate = ArbWasm::activateProgramCall { program }.abi_encode();
    let r = send(&mut chain, TxKind::Call(ArbWasm_addr()), activate.clone(), U256::from(1));
    let err = ArbWasm::ProgramInsufficientValue::abi_decode(&r.output()).expect("typed error");
    assert_eq!(err.have, U256::from(1));
    let fee = err.want;

    // Enough: the excess comes back, the fee is gone, the event names the program.
    let before = chain.balance(DEV_ACCOUNT);
    let r = send(&mut chain, TxKind::Call(ArbWasm_addr()), activate.clone(), fee * U256::from(2));
    assert!(r.is_success(), "{:?}", r.result);
    let ret = ArbWasm::activateProgramCall::abi_decode_returns(&r.output()).unwrap();
    assert_eq!((ret.version, ret.dataFee), (2, fee));
    let gas_cost = U256::from(r.gas_used()) * U256::from(avocado_devnet::chain::BASE_FEE);
    assert_eq!(chain.balance(DEV_ACCOUNT), before - fee - gas_cost);
    let ev = ArbWasm::ProgramActivated::decode_log_data(&r.logs()[0].data).unwrap();
    assert_eq!((ev.codehash, ev.program, ev.dataFee), (code_hash, program, fee));
    let r = send(&mut chain, TxKind::Call(ArbWasm_addr()), activate, fee);
    assert_eq!(r.output().as_ref(), ArbWasm::ProgramUpToDate {}.abi_encode().as_slice());

    // Now it runs.
    let r = send(&mut chain, TxKind::Call(program), b"hello".to_vec(), U256::ZERO);
    assert!(r.is_success(), "{:?}", r.result);
    assert_eq!(r.output().as_ref(), b"hello");
}

#[allow(non_snake_case)]
fn ArbWasm_addr() -> Address {
    avocado_devnet::chain::arbos::ARB_WASM
}

#[test]
fn eip3541_still_refuses_other_ef_code() {
    let mut chain = Chain::new(&ChainConfig::default());
    let r = send(&mut chain, TxKind::Create, stylus::init_code(&[0xEF, 0x00, 0x01, 0x02]), U256::ZERO);
    assert!(!r.is_success());
    assert!(format!("{:?}", r.result).contains("CreateContractStartingWithEF"), "{:?}", r.result);
}

#[test]
fn evm_calls_stylus_and_stylus_calls_evm() {
    let mut chain = Chain::new(&ChainConfig::default());
    // A program that forwards its args to the address in the first 20 bytes with call_contract
    // and returns what came back.
    let forwarder = stylus::pack(
        &wat::parse_str(
            r#"(module
              (import "vm_hooks" "read_args" (func $read_args (param i32)))
              (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
              (import "vm_hooks" "call_contract" (func $call (param i32 i32 i32 i32 i64 i32) (result i32)))
              (import "vm_hooks" "read_return_data" (func $rrd (param i32 i32 i32) (result i32)))
              (memory (export "memory") 1)
              (func (export "user_entrypoint") (param $len i32) (result i32)
                (call $read_args (i32.const 0))
                ;; value (32 zero bytes) at 1000, return length at 1100
                (drop (call $call (i32.const 0) (i32.const 20) (i32.sub (local.get $len) (i32.const 20))
                    (i32.const 1000) (i64.const 1000000) (i32.const 1100)))
                (call $write_result (i32.const 2000)
                  (call $rrd (i32.const 2000) (i32.const 0) (i32.load (i32.const 1100))))
                (i32.const 0)))"#,
        )
        .unwrap(),
    );
    let program = deploy(&mut chain, &forwarder);
    let fee = U256::from(10u64).pow(U256::from(18u64));
    let r = send(&mut chain, TxKind::Call(ArbWasm_addr()), ArbWasm::activateProgramCall { program }.abi_encode(), fee);
    assert!(r.is_success(), "{:?}", r.result);

    // EVM contract: SSTORE(0, 42) and return 32 bytes of 0x2a.
    // 602a 6000 55 602a 6000 52 6020 6000 f3
    let runtime = [0x60, 0x2a, 0x60, 0x00, 0x55, 0x60, 0x2a, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3];
    let evm_contract = deploy(&mut chain, &runtime);

    // Stylus → EVM: the program calls the EVM contract, whose write is committed.
    let mut args = evm_contract.to_vec();
    args.extend_from_slice(b"ignored");
    let r = send(&mut chain, TxKind::Call(program), args, U256::ZERO);
    assert!(r.is_success(), "{:?}", r.result);
    assert_eq!(U256::from_be_slice(&r.output()), U256::from(42));
    assert_eq!(chain.storage(evm_contract, U256::ZERO), U256::from(42));

    // EVM → Stylus → EVM: an EVM proxy calls the program with calldata, returns its output.
    // CALLDATACOPY(0,0,size); CALL(gas, program, 0, 0, size, 0, 0); RETURNDATACOPY(0,0,rds); RETURN(0,rds)
    let mut proxy = vec![0x36, 0x60, 0x00, 0x60, 0x00, 0x37]; // calldatasize 0 0 calldatacopy
    proxy.extend_from_slice(&[0x60, 0x00, 0x60, 0x00, 0x36, 0x60, 0x00, 0x60, 0x00, 0x73]); // out 0 0, in size 0, value 0, push20
    proxy.extend_from_slice(program.as_slice());
    proxy.extend_from_slice(&[0x5a, 0xf1, 0x50]); // gas call pop
    proxy.extend_from_slice(&[0x3d, 0x60, 0x00, 0x60, 0x00, 0x3e, 0x3d, 0x60, 0x00, 0xf3]); // rds 0 0 rdc rds 0 return
    let proxy = deploy(&mut chain, &proxy);
    let mut args = evm_contract.to_vec();
    args.extend_from_slice(b"x");
    let r = send(&mut chain, TxKind::Call(proxy), args, U256::ZERO);
    assert!(r.is_success(), "{:?}", r.result);
    assert_eq!(U256::from_be_slice(&r.output()), U256::from(42));
}

#[test]
fn activation_through_arbwasm_refuses_with_nitros_reasons() {
    let mut chain = Chain::new(&ChainConfig::default());
    let cases = [
        (
            "reference types",
            r#"(module (memory (export "memory") 1)
                (func (export "user_entrypoint") (param i32) (result i32) (drop (ref.null func)) (i32.const 0)))"#,
        ),
        (
            "unknown hostio",
            r#"(module (import "vm_hooks" "steal_funds" (func)) (memory (export "memory") 1)
                (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#,
        ),
        (
            "missing export with name user_entrypoint",
            r#"(module (memory (export "memory") 1) (func (export "main") (param i32) (result i32) (i32.const 0)))"#,
        ),
        (
            "wasm start functions not allowed",
            r#"(module (memory (export "memory") 1) (func $s) (start $s)
                (func (export "user_entrypoint") (param i32) (result i32) (i32.const 0)))"#,
        ),
    ];
    for (reason, wat_src) in cases {
        let code = stylus::pack(&wat::parse_str(wat_src).unwrap());
        let program = deploy(&mut chain, &code);
        let r = send(
            &mut chain,
            TxKind::Call(ArbWasm_addr()),
            ArbWasm::activateProgramCall { program }.abi_encode(),
            U256::from(10u64).pow(U256::from(18u64)),
        );
        assert!(!r.is_success(), "{reason}: activated");
        let msg = alloy_sol_types::Revert::abi_decode(&r.output()).expect("an Error(string) revert").reason;
        assert!(msg.contains(reason), "{reason}: {msg}");
    }
    // Over 24,576 bytes the code cannot even be deployed (EIP-170, as on Nitro).
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let noise: Vec<u8> = (0..30_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut big = vec![0xEF, 0xF0, 0x00, 0x00];
    big.extend_from_slice(&noise);
    let r = send(&mut chain, TxKind::Create, stylus::init_code(&big), U256::ZERO);
    assert!(!r.is_success());
    assert!(format!("{:?}", r.result).contains("CreateContractSizeLimit"), "{:?}", r.result);
}

fn activated(chain: &mut Chain, wat_src: &str) -> Address {
    let program = deploy(chain, &stylus::pack(&wat::parse_str(wat_src).unwrap()));
    let fee = U256::from(10u64).pow(U256::from(18u64));
    let r = send(chain, TxKind::Call(ArbWasm_addr()), ArbWasm::activateProgramCall { program }.abi_encode(), fee);
    assert!(r.is_success(), "{:?}", r.result);
    program
}

#[test]
fn reentrancy_flag_and_create_from_a_program() {
    let mut chain = Chain::new(&ChainConfig::default());
    // One byte of args: answer msg_reentrant. Otherwise: call ourselves with one byte and return
    // what came back.
    let program = activated(
        &mut chain,
        r#"(module
          (import "vm_hooks" "read_args" (func $read_args (param i32)))
          (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
          (import "vm_hooks" "call_contract" (func $call (param i32 i32 i32 i32 i64 i32) (result i32)))
          (import "vm_hooks" "read_return_data" (func $rrd (param i32 i32 i32) (result i32)))
          (import "vm_hooks" "contract_address" (func $me (param i32)))
          (import "vm_hooks" "msg_reentrant" (func $reentrant (result i32)))
          (memory (export "memory") 1)
          (func (export "user_entrypoint") (param $len i32) (result i32)
            (call $read_args (i32.const 0))
            (if (i32.eq (local.get $len) (i32.const 1)) (then
              (i32.store8 (i32.const 100) (call $reentrant))
              (call $write_result (i32.const 100) (i32.const 1))
              (return (i32.const 0))))
            (call $me (i32.const 200))
            (drop (call $call (i32.const 200) (i32.const 0) (i32.const 1) (i32.const 300) (i64.const 1000000) (i32.const 400)))
            (call $write_result (i32.const 500) (call $rrd (i32.const 500) (i32.const 0) (i32.load (i32.const 400))))
            (i32.const 0)))"#,
    );
    let direct = send(&mut chain, TxKind::Call(program), vec![7], U256::ZERO);
    assert_eq!(direct.output().as_ref(), &[0]);
    let nested = send(&mut chain, TxKind::Call(program), vec![7, 7], U256::ZERO);
    assert!(nested.is_success(), "{:?}", nested.result);
    assert_eq!(nested.output().as_ref(), &[1]);

    // create1 from a program: args are EVM init code; the result is the new address.
    let factory = activated(
        &mut chain,
        r#"(module
          (import "vm_hooks" "read_args" (func $read_args (param i32)))
          (import "vm_hooks" "write_result" (func $write_result (param i32 i32)))
          (import "vm_hooks" "create1" (func $create1 (param i32 i32 i32 i32 i32)))
          (memory (export "memory") 1)
          (func (export "user_entrypoint") (param $len i32) (result i32)
            (call $read_args (i32.const 1000))
            (call $create1 (i32.const 1000) (local.get $len) (i32.const 300) (i32.const 400) (i32.const 500))
            (call $write_result (i32.const 400) (i32.const 20))
            (i32.const 0)))"#,
    );
    let runtime = [0x60, 0x2a, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3];
    let mut init =
        vec![0x60, runtime.len() as u8, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, runtime.len() as u8, 0x60, 0x00, 0xf3];
    init.extend_from_slice(&runtime);
    let r = send(&mut chain, TxKind::Call(factory), init, U256::ZERO);
    assert!(r.is_success(), "{:?}", r.result);
    let created = Address::from_slice(&r.output());
    assert_eq!(created, factory.create(1), "CREATE address from the factory's nonce");
    assert_eq!(chain.code(created).as_ref(), &runtime);
}
