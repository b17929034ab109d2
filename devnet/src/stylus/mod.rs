//! Stylus programs: what Nitro accepts at activation ([`program`]) and how a program runs
//! ([`Program::execute`]) against the chain behind [`EvmApi`].

pub mod api;
pub mod exec;
pub mod hostio;
pub mod instrument;
pub mod memory_evm;
pub mod meter;
pub mod pages;
pub mod program;

pub use api::{CallContext, CallKind, CallResult, CreateResult, EvmApi};
pub use exec::{Outcome, Program, Status};
pub use memory_evm::{ecrecover, CallHandler, EmittedLog, MemoryEvm, Receipt};
pub use program::{activate, init_code, is_stylus, pack, unpack, validate, ActivationError, ProgramInfo};
