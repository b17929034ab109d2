//! The `vm_hooks` host functions: their WASM signatures (checked at activation) and their
//! implementations on wasmi (linked at execution).
//!
//! Semantics and prices follow Nitro's `user-host-trait` (the hostios), `arbutil`'s storage cache
//! and request handler, and `arbos/programs/api.go` (the EVM side): storage writes are buffered in
//! a per-call cache and reach the chain only when the program calls `storage_flush_cache` (the
//! SDK flushes before its calls and at the end of the entrypoint; the host never does), only
//! slots whose value changed are written, each priced as geth's `WasmStateStoreCost`; reads see
//! the cache first and pay `WasmStateLoadCost` on a miss; calls pay `WasmCallCost` and pass 63/64
//! of what is left; return data of the last call is kept for `read_return_data`; `exit_early`
//! ends the program with a status.

use std::collections::HashMap;

use alloy_primitives::{keccak256, Address, B256, U256};
use wasmi::{Caller, Error, Global, Linker, Memory, Val};
use wasmparser::ValType::{self, I32, I64};

use super::api::{CallContext, CallKind, EvmApi};
use super::meter;
use super::pages;

/// A host function's name and WASM signature.
pub struct Hostio {
    /// Import name in module `vm_hooks`.
    pub name: &'static str,
    /// Parameter types.
    pub params: &'static [ValType],
    /// Result types.
    pub results: &'static [ValType],
}

macro_rules! hostios {
    ($($name:ident ( $($p:ident),* ) $(-> $r:ident)?;)*) => {
        /// Every host function a program may import.
        pub const HOSTIOS: &[Hostio] = &[
            $(Hostio { name: stringify!($name), params: &[$($p),*], results: &[$($r)?] },)*
        ];
    };
}

hostios! {
    read_args(I32);
    write_result(I32, I32);
    exit_early(I32);
    storage_load_bytes32(I32, I32);
    storage_cache_bytes32(I32, I32);
    storage_flush_cache(I32);
    transient_load_bytes32(I32, I32);
    transient_store_bytes32(I32, I32);
    call_contract(I32, I32, I32, I32, I64, I32) -> I32;
    delegate_call_contract(I32, I32, I32, I64, I32) -> I32;
    static_call_contract(I32, I32, I32, I64, I32) -> I32;
    create1(I32, I32, I32, I32, I32);
    create2(I32, I32, I32, I32, I32, I32);
    read_return_data(I32, I32, I32) -> I32;
    return_data_size() -> I32;
    emit_log(I32, I32, I32);
    account_balance(I32, I32);
    account_code(I32, I32, I32, I32) -> I32;
    account_code_size(I32) -> I32;
    account_codehash(I32, I32);
    block_basefee(I32);
    block_coinbase(I32);
    block_gas_limit() -> I64;
    block_number() -> I64;
    block_timestamp() -> I64;
    chainid() -> I64;
    contract_address(I32);
    evm_gas_left() -> I64;
    evm_ink_left() -> I64;
    msg_reentrant() -> I32;
    msg_sender(I32);
    msg_value(I32);
    native_keccak256(I32, I32, I32);
    pay_for_memory_grow(I32);
    tx_gas_price(I32);
    tx_ink_price() -> I32;
    tx_origin(I32);
}

/// State of one program execution, owned by the wasmi store.
pub struct Env<'a> {
    pub(crate) api: &'a mut dyn EvmApi,
    pub(crate) ctx: &'a CallContext,
    pub(crate) args: Vec<u8>,
    pub(crate) result: Vec<u8>,
    pub(crate) return_data: Vec<u8>,
    /// Storage cache: key → (value, value the chain holds if known).
    pub(crate) cache: HashMap<B256, (B256, Option<B256>)>,
    /// Reads and writes of the storage cache so far (their gas rises with the count).
    pub(crate) cache_reads: usize,
    pub(crate) cache_writes: usize,
    /// The last code fetched by `account_code`/`account_code_size` (fetched again for free).
    pub(crate) last_code: Option<(Address, Vec<u8>)>,
    pub(crate) memory: Option<Memory>,
    /// The program's ink counter and out-of-ink flag (`instrument.rs`).
    pub(crate) ink: Option<Global>,
    pub(crate) ink_status: Option<Global>,
    /// Set when a hostio refuses to run (e.g. a write in a static call).
    pub(crate) fault: Option<String>,
}

type C<'c, 'a> = Caller<'c, Env<'a>>;

fn mem(c: &C) -> Result<Memory, Error> {
    c.data().memory.ok_or_else(|| Error::new("program has no memory"))
}

fn read(c: &C, ptr: u32, len: u32) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0u8; len as usize];
    mem(c)?.read(c, ptr as usize, &mut buf).map_err(|_| Error::new("out of bounds memory access"))?;
    Ok(buf)
}

fn write(c: &mut C, ptr: u32, data: &[u8]) -> Result<(), Error> {
    let m = mem(c)?;
    m.write(c, ptr as usize, data).map_err(|_| Error::new("out of bounds memory access"))
}

fn read_b256(c: &C, ptr: u32) -> Result<B256, Error> {
    Ok(B256::from_slice(&read(c, ptr, 32)?))
}

fn read_address(c: &C, ptr: u32) -> Result<Address, Error> {
    Ok(Address::from_slice(&read(c, ptr, 20)?))
}

/// Ink left in the program's counter.
pub(crate) fn ink_left(c: &C) -> u64 {
    match c.data().ink.map(|g| g.get(c)) {
        Some(Val::I64(v)) => v as u64,
        _ => 0,
    }
}

fn gas_left(c: &C) -> u64 {
    ink_left(c) / meter::INK_PER_GAS
}

/// Takes `ink` from the program's counter, trapping as out-of-ink when it cannot pay.
fn charge(c: &mut C, ink: u64) -> Result<(), Error> {
    let left = ink_left(c);
    let (Some(counter), Some(status)) = (c.data().ink, c.data().ink_status) else {
        return Err(Error::new("program is not metered"));
    };
    if left < ink {
        let _ = status.set(&mut *c, Val::I32(1));
        let _ = counter.set(&mut *c, Val::I64(0));
        return Err(Error::new(meter::OUT_OF_INK));
    }
    counter.set(&mut *c, Val::I64((left - ink) as i64)).map_err(|e| Error::new(e.to_string()))
}

fn charge_gas(c: &mut C, gas: u64) -> Result<(), Error> {
    charge(c, gas.saturating_mul(meter::INK_PER_GAS))
}

/// Nitro's `require_gas`: traps as out-of-ink unless `gas` is left, burning nothing.
fn require_gas(c: &mut C, gas: u64) -> Result<(), Error> {
    if ink_left(c) < gas.saturating_mul(meter::INK_PER_GAS) {
        return charge(c, u64::MAX);
    }
    Ok(())
}

fn deny_static(c: &mut C, what: &str) -> Result<(), Error> {
    if c.data().ctx.is_static {
        c.data_mut().fault = Some(format!("{what} in a static call"));
        return Err(Error::new("write protection"));
    }
    Ok(())
}

/// Writes the slots whose value changed to the chain; the gas `WasmStateStoreCost` charges.
fn flush(env: &mut Env, clear: bool) -> u64 {
    let mut dirty: Vec<(B256, B256)> = env
        .cache
        .iter_mut()
        .filter(|(_, (v, known))| *known != Some(*v))
        .map(|(k, (v, known))| {
            *known = Some(*v);
            (*k, *v)
        })
        .collect();
    if clear {
        env.cache.clear();
    }
    dirty.sort();
    dirty.into_iter().fold(0u64, |gas, (k, v)| gas.saturating_add(env.api.storage_store(k, v)))
}

#[allow(clippy::too_many_arguments)] // one per parameter of the call hostios
fn do_call(
    c: &mut C,
    kind: CallKind,
    to: u32,
    data: u32,
    len: u32,
    value: Option<u32>,
    gas: u64,
    ret_len: u32,
) -> Result<i32, Error> {
    charge(c, meter::CALL_INK)?;
    charge(c, 2 * meter::read_price(len as u64))?;
    let gas_left = gas_left(c);
    let gas_req = gas.min(gas_left);
    let to = read_address(c, to)?;
    let input = read(c, data, len)?;
    let value = match value {
        Some(p) => U256::from_be_bytes(read_b256(c, p)?.0),
        None => U256::ZERO,
    };
    let with_value = kind == CallKind::Call && !value.is_zero();
    // Nitro's doCall (api.go) with geth's WasmCallCost: a payable call in a static context fails
    // for free; the access (100 warm, +2,500 cold), new-account (25,000) and value (9,000) costs
    // are paid before 63/64 of the rest goes to the callee; failing to pay them costs all gas.
    let (status, cost, output) = if with_value && c.data().ctx.is_static {
        (2, 0, Vec::new())
    } else if gas_left < meter::WARM_ACCESS_GAS {
        (2, gas_left, Vec::new())
    } else {
        let mut base = meter::WARM_ACCESS_GAS;
        if c.data_mut().api.access_account(to) {
            base += meter::COLD_ACCOUNT_GAS - meter::WARM_ACCESS_GAS;
        }
        if with_value && c.data_mut().api.is_empty(to) {
            base += meter::CALL_NEW_ACCOUNT_GAS;
        }
        if with_value {
            base += meter::CALL_VALUE_GAS;
        }
        if base > gas_left {
            (2, gas_left, Vec::new())
        } else {
            let gas = meter::call_gas(gas_left, base, gas_req, with_value);
            let res = c.data_mut().api.call(kind, to, &input, value, gas);
            (if res.success { 0 } else { 2 }, base + res.gas_used.min(gas), res.output)
        }
    };
    charge_gas(c, cost)?;
    let n = output.len() as u32;
    c.data_mut().return_data = output;
    write(c, ret_len, &n.to_le_bytes())?;
    Ok(status)
}

fn do_create(
    c: &mut C,
    code: u32,
    len: u32,
    endowment: u32,
    salt: Option<u32>,
    contract: u32,
    revert_len: u32,
) -> Result<(), Error> {
    charge(c, if salt.is_some() { meter::CREATE2_INK } else { meter::CREATE_INK })?;
    charge(c, 2 * meter::read_price(len as u64))?;
    deny_static(c, "a create")?;
    let init = read(c, code, len)?;
    let value = U256::from_be_bytes(read_b256(c, endowment)?.0);
    let salt = match salt {
        Some(p) => Some(read_b256(c, p)?),
        None => None,
    };
    // Nitro's create (api.go): CREATE's 32,000 (+ 6 per word hashed for CREATE2) first, an
    // error when it cannot be paid; then all but 1/64 of the rest goes to the init code.
    let base = 32_000 + if salt.is_some() { 6 * (len as u64).div_ceil(32) } else { 0 };
    let available = gas_left(c);
    if available < base {
        c.data_mut().fault = Some("create: out of gas for its base cost".into());
        return Err(Error::new("create: out of gas"));
    }
    let gas = available - base;
    let gas = gas - gas / 64;
    let res = c.data_mut().api.create(&init, value, salt, gas);
    charge_gas(c, base + res.gas_used.min(gas))?;
    let addr = res.address.unwrap_or_default();
    let n = res.output.len() as u32;
    c.data_mut().return_data = res.output;
    write(c, contract, addr.as_slice())?;
    write(c, revert_len, &n.to_le_bytes())
}

/// `account_code`'s fetch: `WasmAccountTouchCost` with the code surcharge, or nothing when the
/// same account's code was the last fetched in this call (empty code is not kept, ArbOS ≥ 40).
fn fetch_code(c: &mut C, a: Address) -> Result<Vec<u8>, Error> {
    if let Some((last, code)) = &c.data().last_code {
        if *last == a {
            return Ok(code.clone());
        }
    }
    let cold = c.data_mut().api.access_account(a);
    charge_gas(c, meter::account_gas(cold, true))?;
    let code = c.data_mut().api.code(a);
    if !code.is_empty() {
        c.data_mut().last_code = Some((a, code.clone()));
    }
    Ok(code)
}

/// Links every hostio into `linker`.
pub fn link(linker: &mut Linker<Env<'_>>) -> Result<(), Error> {
    const M: &str = "vm_hooks";
    linker.func_wrap(M, "read_args", |mut c: C, dest: u32| {
        let args = c.data().args.clone();
        charge(&mut c, meter::HOSTIO_INK + meter::write_price(args.len() as u64))?;
        write(&mut c, dest, &args)
    })?;
    linker.func_wrap(M, "write_result", |mut c: C, ptr: u32, len: u32| {
        // Read twice: once from the program, once "for geth".
        charge(&mut c, meter::HOSTIO_INK + 2 * meter::read_price(len as u64))?;
        let data = read(&c, ptr, len)?;
        c.data_mut().result = data;
        Ok(())
    })?;
    linker.func_wrap(M, "exit_early", |_: C, status: u32| -> Result<(), Error> {
        // Free in Nitro.
        Err(Error::i32_exit(status as i32))
    })?;
    linker.func_wrap(M, "storage_load_bytes32", |mut c: C, key: u32, dest: u32| {
        charge(&mut c, meter::STORAGE_LOAD_INK)?;
        require_gas(&mut c, meter::COLD_SLOAD_GAS + meter::REQUIRED_ACCESS_GAS + meter::EVM_API_GAS)?;
        let key = read_b256(&c, key)?;
        c.data_mut().cache_reads += 1;
        let mut gas = meter::cache_read_gas(c.data().cache_reads);
        let cached = c.data().cache.get(&key).map(|(v, _)| *v);
        let value = match cached {
            Some(v) => v,
            None => {
                let (v, cold) = c.data_mut().api.storage_load(key);
                gas += meter::sload_gas(cold) + meter::EVM_API_GAS;
                c.data_mut().cache.insert(key, (v, Some(v)));
                v
            }
        };
        charge_gas(&mut c, gas)?;
        write(&mut c, dest, value.as_slice())
    })?;
    linker.func_wrap(M, "storage_cache_bytes32", |mut c: C, key: u32, value: u32| {
        charge(&mut c, meter::STORAGE_CACHE_INK)?;
        require_gas(&mut c, meter::SSTORE_SENTRY_GAS + meter::REQUIRED_ACCESS_GAS)?;
        deny_static(&mut c, "a storage write")?;
        let key = read_b256(&c, key)?;
        let value = read_b256(&c, value)?;
        c.data_mut().cache_writes += 1;
        let gas = meter::cache_write_gas(c.data().cache_writes);
        c.data_mut().cache.entry(key).and_modify(|(v, _)| *v = value).or_insert((value, None));
        charge_gas(&mut c, gas)
    })?;
    linker.func_wrap(M, "storage_flush_cache", |mut c: C, clear: u32| {
        charge(&mut c, meter::STORAGE_FLUSH_INK)?;
        require_gas(&mut c, meter::SSTORE_SENTRY_GAS)?;
        let dirty = c.data().cache.values().any(|(v, known)| *known != Some(*v));
        if dirty {
            deny_static(&mut c, "a storage write")?;
        }
        let gas = flush(c.data_mut(), clear != 0);
        charge_gas(&mut c, gas)
    })?;
    linker.func_wrap(M, "transient_load_bytes32", |mut c: C, key: u32, dest: u32| {
        charge(&mut c, meter::TRANSIENT_INK)?;
        charge_gas(&mut c, 100)?;
        let key = read_b256(&c, key)?;
        let v = c.data_mut().api.transient_load(key);
        write(&mut c, dest, v.as_slice())
    })?;
    linker.func_wrap(M, "transient_store_bytes32", |mut c: C, key: u32, value: u32| {
        charge(&mut c, meter::TRANSIENT_INK)?;
        charge_gas(&mut c, 100)?;
        deny_static(&mut c, "a transient write")?;
        let key = read_b256(&c, key)?;
        let value = read_b256(&c, value)?;
        c.data_mut().api.transient_store(key, value);
        Ok(())
    })?;
    linker.func_wrap(
        M,
        "call_contract",
        |mut c: C, to: u32, data: u32, len: u32, value: u32, gas: u64, ret: u32| {
            do_call(&mut c, CallKind::Call, to, data, len, Some(value), gas, ret)
        },
    )?;
    linker.func_wrap(M, "delegate_call_contract", |mut c: C, to: u32, data: u32, len: u32, gas: u64, ret: u32| {
        do_call(&mut c, CallKind::Delegate, to, data, len, None, gas, ret)
    })?;
    linker.func_wrap(M, "static_call_contract", |mut c: C, to: u32, data: u32, len: u32, gas: u64, ret: u32| {
        do_call(&mut c, CallKind::Static, to, data, len, None, gas, ret)
    })?;
    linker.func_wrap(
        M,
        "create1",
        |mut c: C, code: u32, len: u32, endowment: u32, contract: u32, revert_len: u32| {
            do_create(&mut c, code, len, endowment, None, contract, revert_len)
        },
    )?;
    linker.func_wrap(
        M,
        "create2",
        |mut c: C, code: u32, len: u32, endowment: u32, salt: u32, contract: u32, revert_len: u32| {
            do_create(&mut c, code, len, endowment, Some(salt), contract, revert_len)
        },
    )?;
    linker.func_wrap(M, "read_return_data", |mut c: C, dest: u32, offset: u32, size: u32| {
        // Paid for as many bytes as could be written, before anything is copied.
        let max = (c.data().return_data.len() as u32).saturating_sub(offset);
        charge(&mut c, meter::EVM_HOSTIO_INK + meter::write_price(size.min(max) as u64))?;
        let data = &c.data().return_data;
        let start = (offset as usize).min(data.len());
        let end = start.saturating_add(size as usize).min(data.len());
        let slice = data[start..end].to_vec();
        write(&mut c, dest, &slice)?;
        Ok(slice.len() as u32)
    })?;
    linker.func_wrap(M, "return_data_size", |mut c: C| {
        charge(&mut c, meter::HOSTIO_INK)?;
        Ok(c.data().return_data.len() as u32)
    })?;
    linker.func_wrap(M, "emit_log", |mut c: C, ptr: u32, len: u32, topics: u32| {
        charge(&mut c, meter::EVM_HOSTIO_INK)?;
        if topics > 4 || len < topics * 32 {
            return Err(Error::new("bad log: more than 4 topics or data shorter than its topics"));
        }
        charge(&mut c, meter::read_price(len as u64))?;
        charge_gas(&mut c, 375 + 375 * topics as u64 + 8 * (len - 32 * topics) as u64)?;
        deny_static(&mut c, "a log")?;
        let data = read(&c, ptr, len)?;
        let (t, d) = data.split_at(topics as usize * 32);
        let topics = t.chunks(32).map(B256::from_slice).collect();
        c.data_mut().api.emit_log(topics, d.to_vec());
        Ok(())
    })?;
    linker.func_wrap(M, "account_balance", |mut c: C, addr: u32, dest: u32| {
        charge(&mut c, meter::ACCOUNT_INK)?;
        require_gas(&mut c, meter::COLD_ACCOUNT_GAS)?;
        let a = read_address(&c, addr)?;
        let cold = c.data_mut().api.access_account(a);
        charge_gas(&mut c, meter::account_gas(cold, false))?;
        let b = c.data_mut().api.balance(a);
        write(&mut c, dest, &b.to_be_bytes::<32>())
    })?;
    linker.func_wrap(M, "account_code", |mut c: C, addr: u32, offset: u32, size: u32, dest: u32| {
        charge(&mut c, meter::EVM_HOSTIO_INK)?;
        require_gas(&mut c, meter::COLD_ACCOUNT_GAS)?;
        let a = read_address(&c, addr)?;
        let code = fetch_code(&mut c, a)?;
        // The whole code is paid for, whatever slice is asked.
        charge(&mut c, meter::write_price(code.len() as u64))?;
        let start = (offset as usize).min(code.len());
        let end = start.saturating_add(size as usize).min(code.len());
        write(&mut c, dest, &code[start..end])?;
        Ok((end - start) as u32)
    })?;
    linker.func_wrap(M, "account_code_size", |mut c: C, addr: u32| {
        charge(&mut c, meter::EVM_HOSTIO_INK)?;
        require_gas(&mut c, meter::COLD_ACCOUNT_GAS)?;
        let a = read_address(&c, addr)?;
        Ok(fetch_code(&mut c, a)?.len() as u32)
    })?;
    linker.func_wrap(M, "account_codehash", |mut c: C, addr: u32, dest: u32| {
        charge(&mut c, meter::ACCOUNT_INK)?;
        require_gas(&mut c, meter::COLD_ACCOUNT_GAS)?;
        let a = read_address(&c, addr)?;
        let cold = c.data_mut().api.access_account(a);
        charge_gas(&mut c, meter::account_gas(cold, false))?;
        let h = c.data_mut().api.code_hash(a);
        write(&mut c, dest, h.as_slice())
    })?;
    linker.func_wrap(M, "block_basefee", |mut c: C, dest: u32| {
        charge(&mut c, meter::PTR_HOSTIO_INK)?;
        let v = c.data().ctx.basefee.to_be_bytes::<32>();
        write(&mut c, dest, &v)
    })?;
    linker.func_wrap(M, "block_coinbase", |mut c: C, dest: u32| {
        charge(&mut c, meter::PTR_HOSTIO_INK)?;
        let v = c.data().ctx.coinbase;
        write(&mut c, dest, v.as_slice())
    })?;
    linker.func_wrap(M, "block_gas_limit", |mut c: C| {
        charge(&mut c, meter::HOSTIO_INK)?;
        Ok(c.data().ctx.block_gas_limit)
    })?;
    linker.func_wrap(M, "block_number", |mut c: C| {
        charge(&mut c, meter::HOSTIO_INK)?;
        Ok(c.data().ctx.block_number)
    })?;
    linker.func_wrap(M, "block_timestamp", |mut c: C| {
        charge(&mut c, meter::HOSTIO_INK)?;
        Ok(c.data().ctx.timestamp)
    })?;
    linker.func_wrap(M, "chainid", |mut c: C| {
        charge(&mut c, meter::HOSTIO_INK)?;
        Ok(c.data().ctx.chain_id)
    })?;
    linker.func_wrap(M, "contract_address", |mut c: C, dest: u32| {
        charge(&mut c, meter::PTR_HOSTIO_INK)?;
        let v = c.data().ctx.address;
        write(&mut c, dest, v.as_slice())
    })?;
    linker.func_wrap(M, "evm_gas_left", |mut c: C| {
        charge(&mut c, meter::HOSTIO_INK)?;
        Ok(gas_left(&c))
    })?;
    linker.func_wrap(M, "evm_ink_left", |mut c: C| {
        charge(&mut c, meter::HOSTIO_INK)?;
        Ok(ink_left(&c))
    })?;
    linker.func_wrap(M, "msg_reentrant", |mut c: C| {
        charge(&mut c, meter::HOSTIO_INK)?;
        Ok(c.data().ctx.reentrant as u32)
    })?;
    linker.func_wrap(M, "msg_sender", |mut c: C, dest: u32| {
        charge(&mut c, meter::PTR_HOSTIO_INK)?;
        let v = c.data().ctx.sender;
        write(&mut c, dest, v.as_slice())
    })?;
    linker.func_wrap(M, "msg_value", |mut c: C, dest: u32| {
        charge(&mut c, meter::PTR_HOSTIO_INK)?;
        let v = c.data().ctx.value.to_be_bytes::<32>();
        write(&mut c, dest, &v)
    })?;
    linker.func_wrap(M, "native_keccak256", |mut c: C, ptr: u32, len: u32, dest: u32| {
        charge(&mut c, meter::keccak_ink(len as usize))?;
        let data = read(&c, ptr, len)?;
        write(&mut c, dest, keccak256(data).as_slice())
    })?;
    linker.func_wrap(M, "pay_for_memory_grow", |mut c: C, pages: u32| {
        // The base is paid only by a zero-page grow; otherwise only the memory gas of the
        // transaction's memory model (`user-host-trait` `pay_for_memory_grow`, `api.go`
        // `addPages`), out of gas beyond 65,535 pages (ArbOS ≥ 59) or 128 open.
        if pages == 0 {
            return charge(&mut c, meter::HOSTIO_INK);
        }
        let Ok(pages) = u16::try_from(pages) else {
            return charge_gas(&mut c, u64::MAX);
        };
        let before = c.data_mut().api.pages().add(pages);
        charge_gas(&mut c, pages::open_cost(pages, before.open, before.ever))
    })?;
    linker.func_wrap(M, "tx_gas_price", |mut c: C, dest: u32| {
        charge(&mut c, meter::PTR_HOSTIO_INK)?;
        let v = c.data().ctx.gas_price.to_be_bytes::<32>();
        write(&mut c, dest, &v)
    })?;
    linker.func_wrap(M, "tx_ink_price", |mut c: C| {
        charge(&mut c, meter::HOSTIO_INK)?;
        Ok(meter::INK_PER_GAS as u32)
    })?;
    linker.func_wrap(M, "tx_origin", |mut c: C, dest: u32| {
        charge(&mut c, meter::PTR_HOSTIO_INK)?;
        let v = c.data().ctx.origin;
        write(&mut c, dest, v.as_slice())
    })?;
    Ok(())
}
