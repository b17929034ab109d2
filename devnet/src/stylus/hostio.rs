//! The `vm_hooks` host functions: their WASM signatures (checked at activation) and their
//! implementations on wasmi (linked at execution).
//!
//! Semantics follow Nitro: storage writes are buffered in a per-call cache and reach the chain
//! only at `storage_flush_cache` (the SDK flushes before every call and at the end of the
//! entrypoint), reads see the cache first; return data of the last call is kept for
//! `read_return_data`; `exit_early` ends the program with a status.

use std::collections::HashMap;

use alloy_primitives::{keccak256, Address, B256, U256};
use wasmi::{Caller, Error, Global, Linker, Memory, Val};
use wasmparser::ValType::{self, I32, I64};

use super::api::{CallContext, CallKind, EvmApi};
use super::meter;

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
    /// Storage cache: key → (value, dirty).
    pub(crate) cache: HashMap<B256, (B256, bool)>,
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

fn deny_static(c: &mut C, what: &str) -> Result<(), Error> {
    if c.data().ctx.is_static {
        c.data_mut().fault = Some(format!("{what} in a static call"));
        return Err(Error::new("write protection"));
    }
    Ok(())
}

fn flush(env: &mut Env, clear: bool) {
    let mut dirty: Vec<(B256, B256)> = env
        .cache
        .iter_mut()
        .filter(|(_, (_, d))| *d)
        .map(|(k, (v, d))| {
            *d = false;
            (*k, *v)
        })
        .collect();
    dirty.sort();
    for (k, v) in dirty {
        env.api.storage_store(k, v);
    }
    if clear {
        env.cache.clear();
    }
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
    let to = read_address(c, to)?;
    let input = read(c, data, len)?;
    let value = match value {
        Some(p) => U256::from_be_bytes(read_b256(c, p)?.0),
        None => U256::ZERO,
    };
    if kind == CallKind::Call && !value.is_zero() {
        deny_static(c, "a call with value")?;
    }
    // The SDK flushes before calling; a callee re-entering us must see our writes.
    flush(c.data_mut(), false);
    let available = gas_left(c);
    let gas = gas.min(available - available / 64);
    let res = c.data_mut().api.call(kind, to, &input, value, gas);
    charge_gas(c, res.gas_used)?;
    let n = res.output.len() as u32;
    c.data_mut().return_data = res.output;
    write(c, ret_len, &n.to_le_bytes())?;
    Ok(if res.success { 0 } else { 1 })
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
    charge(c, meter::CREATE_INK)?;
    deny_static(c, "a create")?;
    let init = read(c, code, len)?;
    let value = U256::from_be_bytes(read_b256(c, endowment)?.0);
    let salt = match salt {
        Some(p) => Some(read_b256(c, p)?),
        None => None,
    };
    flush(c.data_mut(), false);
    let available = gas_left(c);
    let res = c.data_mut().api.create(&init, value, salt, available - available / 64);
    charge_gas(c, res.gas_used)?;
    let addr = res.address.unwrap_or_default();
    let n = res.output.len() as u32;
    c.data_mut().return_data = res.output;
    write(c, contract, addr.as_slice())?;
    write(c, revert_len, &n.to_le_bytes())
}

/// Links every hostio into `linker`.
pub fn link(linker: &mut Linker<Env<'_>>) -> Result<(), Error> {
    const M: &str = "vm_hooks";
    linker.func_wrap(M, "read_args", |mut c: C, dest: u32| {
        let args = c.data().args.clone();
        charge(&mut c, meter::HOSTIO_INK + meter::per_byte(args.len()))?;
        write(&mut c, dest, &args)
    })?;
    linker.func_wrap(M, "write_result", |mut c: C, ptr: u32, len: u32| {
        charge(&mut c, meter::HOSTIO_INK + meter::per_byte(len as usize))?;
        let data = read(&c, ptr, len)?;
        c.data_mut().result = data;
        Ok(())
    })?;
    linker.func_wrap(M, "exit_early", |mut c: C, status: u32| -> Result<(), Error> {
        charge(&mut c, meter::HOSTIO_INK)?;
        Err(Error::i32_exit(status as i32))
    })?;
    linker.func_wrap(M, "storage_load_bytes32", |mut c: C, key: u32, dest: u32| {
        charge(&mut c, meter::STORAGE_LOAD_INK)?;
        let key = read_b256(&c, key)?;
        let cached = c.data().cache.get(&key).map(|(v, _)| *v);
        let value = match cached {
            Some(v) => v,
            None => {
                charge_gas(&mut c, meter::COLD_SLOAD_GAS)?;
                let v = c.data_mut().api.storage_load(key);
                c.data_mut().cache.insert(key, (v, false));
                v
            }
        };
        write(&mut c, dest, value.as_slice())
    })?;
    linker.func_wrap(M, "storage_cache_bytes32", |mut c: C, key: u32, value: u32| {
        charge(&mut c, meter::STORAGE_CACHE_INK)?;
        deny_static(&mut c, "a storage write")?;
        let key = read_b256(&c, key)?;
        let value = read_b256(&c, value)?;
        c.data_mut().cache.insert(key, (value, true));
        Ok(())
    })?;
    linker.func_wrap(M, "storage_flush_cache", |mut c: C, clear: u32| {
        let dirty = c.data().cache.values().filter(|(_, d)| *d).count() as u64;
        charge(&mut c, meter::STORAGE_FLUSH_INK)?;
        if dirty > 0 {
            deny_static(&mut c, "a storage write")?;
        }
        charge_gas(&mut c, dirty * meter::SSTORE_GAS)?;
        flush(c.data_mut(), clear != 0);
        Ok(())
    })?;
    linker.func_wrap(M, "transient_load_bytes32", |mut c: C, key: u32, dest: u32| {
        charge(&mut c, meter::STORAGE_LOAD_INK)?;
        charge_gas(&mut c, 100)?;
        let key = read_b256(&c, key)?;
        let v = c.data_mut().api.transient_load(key);
        write(&mut c, dest, v.as_slice())
    })?;
    linker.func_wrap(M, "transient_store_bytes32", |mut c: C, key: u32, value: u32| {
        charge(&mut c, meter::STORAGE_CACHE_INK)?;
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
        let data = &c.data().return_data;
        let start = (offset as usize).min(data.len());
        let end = start.saturating_add(size as usize).min(data.len());
        let slice = data[start..end].to_vec();
        charge(&mut c, meter::HOSTIO_INK + meter::per_byte(slice.len()))?;
        write(&mut c, dest, &slice)?;
        Ok(slice.len() as u32)
    })?;
    linker.func_wrap(M, "return_data_size", |mut c: C| {
        charge(&mut c, meter::HOSTIO_INK)?;
        Ok(c.data().return_data.len() as u32)
    })?;
    linker.func_wrap(M, "emit_log", |mut c: C, ptr: u32, len: u32, topics: u32| {
        charge(&mut c, meter::HOSTIO_INK + meter::per_byte(len as usize))?;
        charge_gas(&mut c, 375 + 375 * topics as u64 + 8 * (len as u64).saturating_sub(32 * topics as u64))?;
        deny_static(&mut c, "a log")?;
        if topics > 4 || len < topics * 32 {
            return Err(Error::new("bad log: more than 4 topics or data shorter than its topics"));
        }
        let data = read(&c, ptr, len)?;
        let (t, d) = data.split_at(topics as usize * 32);
        let topics = t.chunks(32).map(B256::from_slice).collect();
        c.data_mut().api.emit_log(topics, d.to_vec());
        Ok(())
    })?;
    linker.func_wrap(M, "account_balance", |mut c: C, addr: u32, dest: u32| {
        charge(&mut c, meter::ACCOUNT_INK)?;
        let a = read_address(&c, addr)?;
        let b = c.data_mut().api.balance(a);
        write(&mut c, dest, &b.to_be_bytes::<32>())
    })?;
    linker.func_wrap(M, "account_code", |mut c: C, addr: u32, offset: u32, size: u32, dest: u32| {
        charge(&mut c, meter::ACCOUNT_INK)?;
        let a = read_address(&c, addr)?;
        let code = c.data_mut().api.code(a);
        let start = (offset as usize).min(code.len());
        let end = start.saturating_add(size as usize).min(code.len());
        write(&mut c, dest, &code[start..end])?;
        Ok((end - start) as u32)
    })?;
    linker.func_wrap(M, "account_code_size", |mut c: C, addr: u32| {
        charge(&mut c, meter::ACCOUNT_INK)?;
        let a = read_address(&c, addr)?;
        Ok(c.data_mut().api.code(a).len() as u32)
    })?;
    linker.func_wrap(M, "account_codehash", |mut c: C, addr: u32, dest: u32| {
        charge(&mut c, meter::ACCOUNT_INK)?;
        let a = read_address(&c, addr)?;
        let h = c.data_mut().api.code_hash(a);
        write(&mut c, dest, h.as_slice())
    })?;
    linker.func_wrap(M, "block_basefee", |mut c: C, dest: u32| {
        charge(&mut c, meter::HOSTIO_INK)?;
        let v = c.data().ctx.basefee.to_be_bytes::<32>();
        write(&mut c, dest, &v)
    })?;
    linker.func_wrap(M, "block_coinbase", |mut c: C, dest: u32| {
        charge(&mut c, meter::HOSTIO_INK)?;
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
        charge(&mut c, meter::HOSTIO_INK)?;
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
        charge(&mut c, meter::HOSTIO_INK)?;
        let v = c.data().ctx.sender;
        write(&mut c, dest, v.as_slice())
    })?;
    linker.func_wrap(M, "msg_value", |mut c: C, dest: u32| {
        charge(&mut c, meter::HOSTIO_INK)?;
        let v = c.data().ctx.value.to_be_bytes::<32>();
        write(&mut c, dest, &v)
    })?;
    linker.func_wrap(M, "native_keccak256", |mut c: C, ptr: u32, len: u32, dest: u32| {
        charge(&mut c, meter::keccak_ink(len as usize))?;
        let data = read(&c, ptr, len)?;
        write(&mut c, dest, keccak256(data).as_slice())
    })?;
    linker.func_wrap(M, "pay_for_memory_grow", |mut c: C, pages: u32| {
        charge(&mut c, meter::HOSTIO_INK)?;
        charge_gas(&mut c, meter::memory_grow_gas(pages as u64))
    })?;
    linker.func_wrap(M, "tx_gas_price", |mut c: C, dest: u32| {
        charge(&mut c, meter::HOSTIO_INK)?;
        let v = c.data().ctx.gas_price.to_be_bytes::<32>();
        write(&mut c, dest, &v)
    })?;
    linker.func_wrap(M, "tx_ink_price", |mut c: C| {
        charge(&mut c, meter::HOSTIO_INK)?;
        Ok(meter::INK_PER_GAS as u32)
    })?;
    linker.func_wrap(M, "tx_origin", |mut c: C, dest: u32| {
        charge(&mut c, meter::HOSTIO_INK)?;
        let v = c.data().ctx.origin;
        write(&mut c, dest, v.as_slice())
    })?;
    Ok(())
}
