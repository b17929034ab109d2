#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod chain;
pub mod cli;
pub mod rpc;
pub mod stylus;
