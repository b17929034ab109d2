#![doc = include_str!("../README.md")]

pub mod app_client;
pub mod chain;
pub mod contracts;
pub mod deploy;
pub mod error;
pub mod keys;
pub mod message;
pub mod node;
pub mod pay;
pub mod protocol;
pub mod serve;
pub mod service;
pub mod signed;
pub mod store;
