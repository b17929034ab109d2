//! Avocado's off-chain side: today the parties of a channel as a library (keys, signing,
//! proposing and countersigning states) and the `avocado` command's demo on the embedded chain.
//! The node (durable store, peer and app APIs, chain adapter, watchtower) grows here.

pub mod party;
pub mod store;
