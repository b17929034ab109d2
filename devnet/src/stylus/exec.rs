//! Running an activated program: one wasmi instance per call, `user_entrypoint(len)` as the
//! entry, the result and status read back as Nitro reports them.

use std::collections::HashMap;

use wasmi::{Config, Engine, Linker, Module, Store, Val};

use super::api::{CallContext, EvmApi};
use super::hostio::{self, Env};
use super::instrument::{self, INK_GLOBAL, STATUS_GLOBAL};
use super::meter::{INK_PER_GAS, OUT_OF_INK};
use super::pages;
use super::program::{self, ActivationError, ProgramInfo, ENTRYPOINT};

/// How a program call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// `user_entrypoint` returned 0.
    Success,
    /// `user_entrypoint` returned non-zero: revert with the written result.
    Revert,
    /// The program trapped (or a hostio refused to run); all gas is consumed.
    Failure(String),
    /// The ink budget ran out; all gas is consumed.
    OutOfInk,
}

/// The outcome of one call into a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// Return data (success) or revert data.
    pub output: Vec<u8>,
    /// Gas used, including what nested calls used.
    pub gas_used: u64,
}

impl Outcome {
    /// Whether the call succeeded.
    pub fn is_success(&self) -> bool {
        self.status == Status::Success
    }
}

/// A validated program, compiled and ready to run.
pub struct Program {
    engine: Engine,
    module: Module,
    info: ProgramInfo,
    code: Vec<u8>,
}

impl Program {
    /// Activates deployed code (`EF F0 00 00` + brotli): every check Nitro's activation makes,
    /// then compilation.
    pub fn activate(code: &[u8]) -> Result<Self, ActivationError> {
        let (wasm, info) = program::activate(code)?;
        Self::compile(&wasm, info, code.to_vec())
    }

    /// Validates and compiles raw WASM (for tools that hold the uncompressed program); its
    /// deployed form is [`pack`](program::pack)ed here, and must fit in 24,576 bytes as well.
    pub fn from_wasm(wasm: &[u8]) -> Result<Self, ActivationError> {
        let code = program::pack(wasm);
        if code.len() > program::MAX_CODE_SIZE {
            return Err(ActivationError::CodeTooLarge(code.len()));
        }
        let info = program::validate(wasm)?;
        Self::compile(wasm, info, code)
    }

    fn compile(wasm: &[u8], info: ProgramInfo, code: Vec<u8>) -> Result<Self, ActivationError> {
        let mut config = Config::default();
        config
            .wasm_multi_value(false)
            .wasm_reference_types(false)
            .wasm_tail_call(false)
            .wasm_multi_memory(false)
            .wasm_memory64(false)
            .wasm_extended_const(false);
        let engine = Engine::new(&config);
        let metered = instrument::instrument(wasm).map_err(ActivationError::Parse)?;
        let module = Module::new(&engine, metered).map_err(|e| ActivationError::Parse(e.to_string()))?;
        Ok(Self { engine, module, info, code })
    }

    /// The deployed code: `EF F0 00 00` + brotli.
    pub fn code(&self) -> &[u8] {
        &self.code
    }

    /// Facts found at validation.
    pub fn info(&self) -> &ProgramInfo {
        &self.info
    }

    /// Calls the program with `calldata` and `gas`, reaching the chain through `api`.
    ///
    /// As Nitro's `CallProgram` (`arbos/programs/programs.go`): the call overhead and the memory
    /// gas of the program's initial pages (priced by the transaction's memory model, [`pages`])
    /// are burned before any WASM runs; the pages stay open while the program runs and are
    /// closed when it returns; and a program returning data uses at least the gas the EVM would
    /// charge to hold that data in memory ([`evm_memory_cost`], ArbOS ≥ 31), running out of gas
    /// when it had less than that to begin with.
    ///
    /// [`pages`]: super::pages
    /// [`evm_memory_cost`]: super::pages::evm_memory_cost
    pub fn execute(&self, api: &mut dyn EvmApi, ctx: &CallContext, calldata: &[u8], gas: u64) -> Outcome {
        self.execute_with_overhead(api, ctx, calldata, gas, self.info.call_overhead_gas)
    }

    /// [`execute`](Self::execute) with the init part of the call overhead given by the caller
    /// (memory gas is added here): a chain prices cached and recently used programs lower.
    pub fn execute_with_overhead(
        &self,
        api: &mut dyn EvmApi,
        ctx: &CallContext,
        calldata: &[u8],
        gas: u64,
        init_overhead: u64,
    ) -> Outcome {
        let footprint = u16::try_from(self.info.initial_pages).unwrap_or(u16::MAX);
        let before = *api.pages();
        let memory = pages::open_cost(footprint, before.open, before.ever);
        let overhead = init_overhead.saturating_add(memory);
        if overhead > gas {
            return Outcome { status: Status::OutOfInk, output: Vec::new(), gas_used: gas };
        }
        api.pages().add(footprint);
        let mut outcome = self.run(api, ctx, calldata, gas, overhead);
        api.pages().open = before.open;
        if !outcome.output.is_empty() {
            let floor = pages::evm_memory_cost(outcome.output.len() as u64);
            if gas < floor {
                return Outcome { status: Status::OutOfInk, output: Vec::new(), gas_used: gas };
            }
            outcome.gas_used = outcome.gas_used.max(floor);
        }
        outcome
    }

    fn run(&self, api: &mut dyn EvmApi, ctx: &CallContext, calldata: &[u8], gas: u64, overhead: u64) -> Outcome {
        let env = Env {
            api,
            ctx,
            args: calldata.to_vec(),
            result: Vec::new(),
            return_data: Vec::new(),
            cache: HashMap::new(),
            cache_reads: 0,
            cache_writes: 0,
            last_code: None,
            memory: None,
            ink: None,
            ink_status: None,
            fault: None,
        };
        let mut store = Store::new(&self.engine, env);
        let budget = (gas - overhead).saturating_mul(INK_PER_GAS).min(i64::MAX as u64);
        let failure = |reason: String| Outcome { status: Status::Failure(reason), output: Vec::new(), gas_used: gas };
        let mut linker = Linker::new(&self.engine);
        if let Err(e) = hostio::link(&mut linker) {
            return failure(format!("cannot link hostios: {e}"));
        }
        let instance = match linker.instantiate_and_start(&mut store, &self.module) {
            Ok(i) => i,
            Err(e) => return failure(format!("cannot instantiate program: {e}")),
        };
        store.data_mut().memory = instance.get_memory(&store, "memory");
        let (Some(ink), Some(ink_status)) =
            (instance.get_global(&store, INK_GLOBAL), instance.get_global(&store, STATUS_GLOBAL))
        else {
            return failure("program has no ink counter".into());
        };
        if ink.set(&mut store, Val::I64(budget as i64)).is_err() {
            return failure("cannot set the ink counter".into());
        }
        store.data_mut().ink = Some(ink);
        store.data_mut().ink_status = Some(ink_status);
        let used = |store: &Store<Env>| {
            let left = match ink.get(store) {
                Val::I64(v) => v as u64,
                _ => 0,
            };
            // What is left is returned to the caller in whole gas, as Nitro does.
            gas - left.min(budget) / INK_PER_GAS
        };
        let out_of_ink = |store: &Store<Env>| matches!(ink_status.get(store), Val::I32(1));
        let entry = match instance.get_typed_func::<u32, u32>(&store, ENTRYPOINT) {
            Ok(f) => f,
            Err(e) => return failure(format!("missing {ENTRYPOINT}: {e}")),
        };
        let status = match entry.call(&mut store, calldata.len() as u32) {
            Ok(0) => Status::Success,
            Ok(_) => Status::Revert,
            Err(e) => match e.i32_exit_status() {
                Some(0) => Status::Success,
                Some(_) => Status::Revert,
                None if store.data().fault.is_some() => Status::Failure(store.data().fault.clone().unwrap_or_default()),
                None if out_of_ink(&store) || e.to_string().contains(OUT_OF_INK) => Status::OutOfInk,
                None => Status::Failure(e.to_string()),
            },
        };
        match status {
            Status::Success | Status::Revert => {
                let gas_used = used(&store);
                let output = std::mem::take(&mut store.data_mut().result);
                Outcome { status, output, gas_used }
            }
            // A trap returns the gas left, unlike the EVM's INVALID; running out of ink takes all.
            Status::Failure(reason) => {
                Outcome { status: Status::Failure(reason), output: Vec::new(), gas_used: used(&store) }
            }
            Status::OutOfInk => Outcome { status: Status::OutOfInk, output: Vec::new(), gas_used: gas },
        }
    }
}
