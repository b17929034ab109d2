#![doc = include_str!("../README.md")]

pub mod chain;
pub mod cli;
pub mod rpc;
pub mod stylus;
