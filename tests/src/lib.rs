//! Avocado's cross-crate test support and end-to-end tests.
//!
//! - [`judge_scenarios`]: the judge's rules as ABI-level scenarios, run by every judge harness
//!   (native, WASM on the devnet host, JSON-RPC).
//! - [`nodes`]: real `avocado node` processes over loopback on a chain running the real judge.
//! - [`devnet_chain`]: the chain boundary over the devnet library in this process, for nodes
//!   that run in the test's own process ([`avocado_client::node::peer::InProcess`]).
//! - [`adversary`]: a dishonest participant with its own keys and peer server, for the tests that
//!   try to rob an honest node.
//! - [`tokens`]: ERC-20 test tokens (standard and misbehaving) on the devnet chain and over
//!   JSON-RPC, for the escrow's ERC-20 tests.
//! - [`twin_judge`]: the judge's Solidity twin on the devnet chain, the gas baseline.
//! - `tests/`: end-to-end tests that run the real judge WASM.

pub mod abi;
pub mod adversary;
pub mod devnet_chain;
pub mod judge_scenarios;
pub mod nodes;
pub mod revm_judge;
pub mod stylus_judge;
pub mod tokens;
pub mod twin_judge;
