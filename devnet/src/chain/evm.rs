//! revm with Stylus frames.
//!
//! `DevEvm` wraps revm's mainnet EVM and overrides one step, `frame_run`: when the frame's code
//! is a Stylus program (`EF F0 00 …`) it runs the program with the Stylus host instead of the
//! interpreter. Everything around a frame stays revm's: checkpoints, value transfer, precompiles,
//! depth, gas refunds to the caller, CREATE/CREATE2. A program's own calls and creates become
//! ordinary child frames, run by a nested loop over a fresh frame stack, so EVM → Stylus → EVM →
//! Stylus works with the EVM's journaling at every level.
//!
//! EIP-3541 forbids deploying code that starts with 0xEF; Arbitrum exempts Stylus programs. revm's
//! check is switched off and re-imposed here, exempting only the Stylus prefix.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use alloy_primitives::{Address, Bytes, Log, LogData, B256, U256};
use revm::{
    context::{BlockEnv, CfgEnv, Context, ContextTr, Evm, FrameStack, Journal, JournalTr, TxEnv},
    context_interface::{Block, Cfg, CreateScheme, Transaction},
    database::{CacheDB, EmptyDB},
    handler::{
        evm::{ContextDbError, FrameInitResult},
        instructions::EthInstructions,
        EthFrame, EvmTr, FrameInitOrResult, FrameResult, FrameTr, ItemOrResult,
    },
    interpreter::{
        interpreter::EthInterpreter, interpreter_action::FrameInit, CallInput, CallInputs, CallScheme, CallValue,
        CreateInputs, FrameInput, Gas, InstructionResult, InterpreterAction, InterpreterResult,
    },
};

use super::arbos::{self, ArbPrecompiles};
use crate::stylus::{self, CallContext, CallKind, CallResult, CreateResult, EvmApi, Program, Status};

/// The state database of the devnet.
pub type Db = CacheDB<EmptyDB>;
/// revm's context over that database.
pub type Ctx = Context<BlockEnv, TxEnv, CfgEnv, Db, Journal<Db>, ()>;
type Inner = Evm<Ctx, (), EthInstructions<EthInterpreter, Ctx>, ArbPrecompiles, EthFrame<EthInterpreter>>;

/// Compiled programs by code hash: compilation is not part of the chain's state, only a cache.
#[derive(Default, Clone)]
pub struct ProgramCache(Arc<Mutex<HashMap<B256, Arc<Program>>>>);

impl ProgramCache {
    fn get_or_compile(&self, code_hash: B256, code: &[u8]) -> Option<Arc<Program>> {
        let mut cache = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(p) = cache.get(&code_hash) {
            return Some(p.clone());
        }
        let program = Arc::new(Program::activate(code).ok()?);
        cache.insert(code_hash, program.clone());
        Some(program)
    }
}

/// revm's EVM with Stylus frames.
pub struct DevEvm {
    inner: Inner,
    programs: ProgramCache,
    /// Addresses of the Stylus programs running now, outermost first (for `msg_reentrant`).
    running: Vec<Address>,
    /// The transaction's Stylus page counters (one `DevEvm` runs one transaction).
    pages: stylus::pages::Pages,
    /// Programs called so far in this block (one transaction: the devnet's block).
    recent: super::programs::RecentPrograms,
}

impl DevEvm {
    /// An EVM over `ctx`.
    pub fn new(ctx: Ctx, programs: ProgramCache) -> Self {
        let spec = *ctx.cfg().spec();
        let inner = Evm::new(ctx, EthInstructions::new_mainnet_with_spec(spec), ArbPrecompiles::new(spec));
        Self { inner, programs, running: Vec::new(), pages: Default::default(), recent: Default::default() }
    }

    /// The context (journal, database, block, tx, cfg).
    pub fn ctx(&mut self) -> &mut Ctx {
        &mut self.inner.ctx
    }

    /// Gives back the context.
    pub fn into_ctx(self) -> Ctx {
        self.inner.ctx
    }

    /// Runs frames from `init` to its result on the current frame stack.
    fn exec_loop(&mut self, init: FrameInit) -> Result<FrameResult, ContextDbError<Ctx>> {
        if let ItemOrResult::Result(result) = self.frame_init(init)? {
            return Ok(result);
        }
        loop {
            let result = match self.frame_run()? {
                ItemOrResult::Item(init) => match self.frame_init(init)? {
                    ItemOrResult::Item(_) => continue,
                    ItemOrResult::Result(result) => result,
                },
                ItemOrResult::Result(result) => result,
            };
            if let Some(result) = self.frame_return_result(result)? {
                return Ok(result);
            }
        }
    }

    /// A child frame of the running Stylus frame, run to completion on a fresh frame stack.
    fn nested(&mut self, input: FrameInput) -> Result<FrameResult, ContextDbError<Ctx>> {
        let init = {
            let frame = self.inner.frame_stack.get();
            match frame.process_next_action::<_, ContextDbError<Ctx>>(
                &mut self.inner.ctx,
                InterpreterAction::NewFrame(input),
            )? {
                ItemOrResult::Item(init) => init,
                ItemOrResult::Result(_) => unreachable!("a new frame action always yields a frame init"),
            }
        };
        let saved = std::mem::replace(&mut self.inner.frame_stack, FrameStack::new_prealloc(4));
        let result = self.exec_loop(init);
        self.inner.frame_stack = saved;
        self.inner.frame_stack.get().interpreter.memory.free_child_context();
        result
    }

    /// Runs the Stylus program of the top frame and returns what the frame returns.
    fn run_stylus(&mut self) -> InterpreterAction {
        let frame = self.inner.frame_stack.get();
        let FrameInput::Call(inputs) = &frame.input else { unreachable!("only call frames run programs") };
        let inputs = (**inputs).clone();
        let code = frame.interpreter.bytecode.original_bytes();
        let code_hash = inputs.known_bytecode.0;
        let gas_limit = inputs.gas_limit;
        let calldata = inputs.input.bytes(&self.inner.ctx);
        let fail = |result: InstructionResult, output: Bytes, spent_all: bool, used: u64, refund: i64| {
            let mut gas = Gas::new(gas_limit);
            if spent_all {
                gas.spend_all();
            } else {
                let _ = gas.record_regular_cost(used.min(gas_limit));
            }
            if result.is_ok() {
                gas.record_refund(refund);
            }
            InterpreterAction::Return(InterpreterResult::new(result, output, gas))
        };
        // Nitro runs only programs activated at the current Stylus version and not expired.
        let (record, params) = match super::programs::active_program(&mut self.inner.ctx, code_hash) {
            Ok(x) => x,
            Err(revert) => return fail(InstructionResult::Revert, revert.into(), false, 0, 0),
        };
        let Some(program) = self.programs.get_or_compile(code_hash, &code) else {
            return fail(InstructionResult::Revert, arbos::program_not_activated(), false, 0, 0);
        };
        // Cached, or (from ArbOS 60) already called in this block: `cachedGas` only.
        let recent = super::programs::arbos_version(&mut self.inner.ctx) >= super::programs::ARBOS_RECENT_WASMS
            && self.recent.insert(code_hash, params.block_cache_size);
        let init_overhead = record.call_gas(&params, record.cached || recent);
        let ctx = &self.inner.ctx;
        let value = match inputs.value {
            CallValue::Transfer(v) | CallValue::Apparent(v) => v,
        };
        let call_ctx = CallContext {
            address: inputs.target_address,
            sender: inputs.caller,
            value,
            origin: ctx.tx().caller(),
            chain_id: ctx.cfg().chain_id(),
            block_number: ctx.block().number().saturating_to(),
            timestamp: ctx.block().timestamp().saturating_to(),
            basefee: U256::from(ctx.block().basefee()),
            coinbase: ctx.block().beneficiary(),
            block_gas_limit: ctx.block().gas_limit(),
            gas_price: U256::from(ctx.tx().effective_gas_price(ctx.block().basefee() as u128)),
            reentrant: self.running.contains(&inputs.target_address),
            is_static: inputs.is_static,
        };
        self.running.push(inputs.target_address);
        let mut api = RevmApi {
            evm: self,
            address: inputs.target_address,
            caller: inputs.caller,
            value,
            is_static: inputs.is_static,
            error: None,
            refund: 0,
        };
        let outcome = program.execute_with_overhead(&mut api, &call_ctx, &calldata, gas_limit, init_overhead);
        let failed = api.error.is_some();
        let refund = api.refund;
        self.running.pop();
        if failed {
            return fail(InstructionResult::FatalExternalError, Bytes::new(), true, 0, 0);
        }
        match outcome.status {
            Status::Success => fail(InstructionResult::Return, outcome.output.into(), false, outcome.gas_used, refund),
            Status::Revert => fail(InstructionResult::Revert, outcome.output.into(), false, outcome.gas_used, 0),
            Status::OutOfInk => fail(InstructionResult::OutOfGas, Bytes::new(), true, 0, 0),
            Status::Failure(_) => fail(InstructionResult::InvalidFEOpcode, Bytes::new(), true, 0, 0),
        }
    }
}

impl EvmTr for DevEvm {
    type Context = Ctx;
    type Instructions = EthInstructions<EthInterpreter, Ctx>;
    type Precompiles = ArbPrecompiles;
    type Frame = EthFrame<EthInterpreter>;

    fn all(&self) -> (&Self::Context, &Self::Instructions, &Self::Precompiles, &FrameStack<Self::Frame>) {
        self.inner.all()
    }

    fn all_mut(
        &mut self,
    ) -> (&mut Self::Context, &mut Self::Instructions, &mut Self::Precompiles, &mut FrameStack<Self::Frame>) {
        self.inner.all_mut()
    }

    fn frame_init(
        &mut self,
        frame_input: <Self::Frame as FrameTr>::FrameInit,
    ) -> Result<FrameInitResult<'_, Self::Frame>, ContextDbError<Self::Context>> {
        self.inner.frame_init(frame_input)
    }

    fn frame_run(&mut self) -> Result<FrameInitOrResult<Self::Frame>, ContextDbError<Self::Context>> {
        let frame = self.inner.frame_stack.get();
        let is_call = matches!(frame.input, FrameInput::Call(_));
        let action = if is_call && stylus::is_stylus(frame.interpreter.bytecode.original_byte_slice()) {
            self.run_stylus()
        } else {
            let ctx = &mut self.inner.ctx;
            let instructions = &mut self.inner.instruction;
            let mut action =
                frame.interpreter.run_plain(instructions.instruction_table(), instructions.gas_table(), ctx);
            // EIP-3541 with Arbitrum's exemption for Stylus programs.
            if let (InterpreterAction::Return(r), FrameInput::Create(_)) = (&mut action, &frame.input) {
                if r.result.is_ok() && r.output.first() == Some(&0xEF) && !stylus::is_stylus(&r.output) {
                    r.result = InstructionResult::CreateContractStartingWithEF;
                }
            }
            action
        };
        let frame = self.inner.frame_stack.get();
        frame.process_next_action(&mut self.inner.ctx, action).inspect(|i| {
            if i.is_result() {
                frame.set_finished(true);
            }
        })
    }

    fn frame_return_result(
        &mut self,
        result: <Self::Frame as FrameTr>::FrameResult,
    ) -> Result<Option<<Self::Frame as FrameTr>::FrameResult>, ContextDbError<Self::Context>> {
        self.inner.frame_return_result(result)
    }
}

/// The chain as a program running in a `DevEvm` frame sees it.
struct RevmApi<'a> {
    evm: &'a mut DevEvm,
    address: Address,
    caller: Address,
    value: U256,
    is_static: bool,
    /// A database error: the transaction cannot complete.
    error: Option<String>,
    /// Refunds of this frame: its storage writes' and its successful callees'.
    refund: i64,
}

impl RevmApi<'_> {
    fn journal(&mut self) -> &mut Journal<Db> {
        self.evm.inner.ctx.journal_mut()
    }
}

impl EvmApi for RevmApi<'_> {
    fn storage_load(&mut self, key: B256) -> (B256, bool) {
        let address = self.address;
        match self.journal().sload(address, key.into()) {
            Ok(v) => (B256::from(v.data), v.is_cold),
            Err(e) => {
                self.error = Some(e.to_string());
                (B256::ZERO, false)
            }
        }
    }

    fn storage_store(&mut self, key: B256, value: B256) -> u64 {
        let address = self.address;
        match self.journal().sstore(address, key.into(), value.into()) {
            Ok(r) => {
                let (gas, refund) = stylus::meter::sstore_cost(
                    r.data.original_value.into(),
                    r.data.present_value.into(),
                    r.data.new_value.into(),
                    r.is_cold,
                );
                self.refund += refund;
                gas
            }
            Err(e) => {
                self.error = Some(e.to_string());
                0
            }
        }
    }

    fn access_account(&mut self, account: Address) -> bool {
        match self.journal().load_account(account) {
            Ok(a) => a.is_cold,
            Err(e) => {
                self.error = Some(e.to_string());
                false
            }
        }
    }

    fn is_empty(&mut self, account: Address) -> bool {
        match self.journal().load_account(account) {
            Ok(a) => a.data.state_clear_aware_is_empty(revm::primitives::hardfork::SpecId::PRAGUE),
            Err(e) => {
                self.error = Some(e.to_string());
                false
            }
        }
    }

    fn transient_load(&mut self, key: B256) -> B256 {
        let address = self.address;
        B256::from(self.journal().tload(address, key.into()))
    }

    fn transient_store(&mut self, key: B256, value: B256) {
        let address = self.address;
        self.journal().tstore(address, key.into(), value.into());
    }

    fn call(&mut self, kind: CallKind, to: Address, input: &[u8], value: U256, gas: u64) -> CallResult {
        let known = match self.journal().load_account_with_code(to) {
            Ok(acc) => {
                let code = acc.info.code.clone().unwrap_or_default();
                (acc.info.code_hash, code)
            }
            Err(e) => {
                self.error = Some(e.to_string());
                return CallResult::default();
            }
        };
        let (target, caller, call_value, scheme, is_static) = match kind {
            CallKind::Call => (to, self.address, CallValue::Transfer(value), CallScheme::Call, self.is_static),
            CallKind::Static => (to, self.address, CallValue::Transfer(U256::ZERO), CallScheme::StaticCall, true),
            CallKind::Delegate => {
                (self.address, self.caller, CallValue::Apparent(self.value), CallScheme::DelegateCall, self.is_static)
            }
        };
        let inputs = CallInputs {
            input: CallInput::Bytes(Bytes::copy_from_slice(input)),
            return_memory_offset: 0..0,
            gas_limit: gas,
            reservoir: 0,
            bytecode_address: to,
            known_bytecode: known,
            target_address: target,
            caller,
            value: call_value,
            scheme,
            is_static,
            charged_new_account_state_gas: false,
        };
        match self.evm.nested(FrameInput::Call(Box::new(inputs))) {
            Ok(FrameResult::Call(out)) => {
                if out.result.result.is_ok() {
                    self.refund += out.result.gas.refunded();
                }
                CallResult {
                    success: out.result.result.is_ok(),
                    output: out.result.output.to_vec(),
                    gas_used: gas.saturating_sub(out.result.gas.remaining()),
                }
            }
            Ok(_) => unreachable!("a call frame returns a call result"),
            Err(e) => {
                self.error = Some(format!("{e:?}"));
                CallResult::default()
            }
        }
    }

    fn pages(&mut self) -> &mut stylus::pages::Pages {
        &mut self.evm.pages
    }

    fn create(&mut self, init_code: &[u8], endowment: U256, salt: Option<B256>, gas: u64) -> CreateResult {
        let scheme = match salt {
            Some(s) => CreateScheme::Create2 { salt: s.into() },
            None => CreateScheme::Create,
        };
        let inputs = CreateInputs::new(self.address, scheme, endowment, Bytes::copy_from_slice(init_code), gas, 0);
        match self.evm.nested(FrameInput::Create(Box::new(inputs))) {
            Ok(FrameResult::Create(out)) => {
                let ok = out.result.result.is_ok();
                if ok {
                    self.refund += out.result.gas.refunded();
                }
                CreateResult {
                    address: if ok { out.address } else { None },
                    output: if ok { Vec::new() } else { out.result.output.to_vec() },
                    gas_used: gas.saturating_sub(out.result.gas.remaining()),
                }
            }
            Ok(_) => unreachable!("a create frame returns a create result"),
            Err(e) => {
                self.error = Some(format!("{e:?}"));
                CreateResult::default()
            }
        }
    }

    fn emit_log(&mut self, topics: Vec<B256>, data: Vec<u8>) {
        let address = self.address;
        self.journal().log(Log { address, data: LogData::new_unchecked(topics, data.into()) });
    }

    fn balance(&mut self, account: Address) -> U256 {
        match self.journal().load_account(account) {
            Ok(a) => a.info.balance,
            Err(e) => {
                self.error = Some(e.to_string());
                U256::ZERO
            }
        }
    }

    fn code(&mut self, account: Address) -> Vec<u8> {
        match self.journal().code(account) {
            Ok(c) => c.data.to_vec(),
            Err(e) => {
                self.error = Some(e.to_string());
                Vec::new()
            }
        }
    }

    fn code_hash(&mut self, account: Address) -> B256 {
        match self.journal().code_hash(account) {
            Ok(h) => h.data,
            Err(e) => {
                self.error = Some(e.to_string());
                B256::ZERO
            }
        }
    }
}
