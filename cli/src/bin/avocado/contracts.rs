//! `avocado contracts …`: the Stylus life of the judge and escrow (or any program) on chain —
//! status (version, activation, time before expiry, cache), keepalive, and a cache bid.

use alloy_primitives::{Address, U256};
use anyhow::Result;
use avocado_client::contracts::{self, ProgramStatus};
use clap::Subcommand;

use crate::pay::parse_amount;
use crate::KeyArgs;

#[derive(Subcommand)]
pub(crate) enum ContractsCommand {
    /// Stylus version, activation, time left before expiry and cache state of programs.
    Status {
        /// JSON-RPC endpoint of the chain.
        #[arg(long, env = "ETH_RPC_URL", default_value = "http://127.0.0.1:8547")]
        rpc_url: String,
        /// The programs (e.g. the judge and the escrow).
        #[arg(required = true)]
        addresses: Vec<Address>,
    },
    /// Extend a program's life by a year (ArbWasm's keepalive, allowed a month after the last).
    Keepalive {
        #[command(flatten)]
        key: KeyArgs,
        /// JSON-RPC endpoint of the chain.
        #[arg(long, env = "ETH_RPC_URL", default_value = "http://127.0.0.1:8547")]
        rpc_url: String,
        /// The program.
        address: Address,
    },
    /// Bid in the chain's cache manager to cache a program (cached calls skip its init gas).
    CacheBid {
        #[command(flatten)]
        key: KeyArgs,
        /// JSON-RPC endpoint of the chain.
        #[arg(long, env = "ETH_RPC_URL", default_value = "http://127.0.0.1:8547")]
        rpc_url: String,
        /// The program.
        address: Address,
        /// The bid (e.g. 0.001eth, 1000gwei, 0).
        #[arg(long, value_parser = parse_amount, default_value = "0")]
        bid: U256,
    },
}

fn describe(s: &ProgramStatus) -> String {
    let state = if s.activated {
        let left = s.time_left_secs.unwrap_or_default();
        format!("active at Stylus version {}, expires in {} days ({} s)", s.chain_stylus_version, left / 86_400, left)
    } else if s.needs_upgrade {
        format!(
            "needs activating again: activated at Stylus version {}, the chain is at {}",
            s.stylus_version.unwrap_or_default(),
            s.chain_stylus_version
        )
    } else if s.expired {
        "expired: needs activating again".to_string()
    } else {
        "not activated".to_string()
    };
    format!("{}: {state}; {}", s.address, if s.cached { "cached" } else { "not cached" })
}

pub(crate) async fn run(cmd: ContractsCommand, json: bool) -> Result<()> {
    match cmd {
        ContractsCommand::Status { rpc_url, addresses } => {
            let mut all = Vec::new();
            for a in addresses {
                all.push(contracts::status(&rpc_url, a).await?);
            }
            if json {
                println!("{}", serde_json::to_value(&all)?);
            } else {
                for s in &all {
                    println!("{}", describe(s));
                }
            }
        }
        ContractsCommand::Keepalive { key, rpc_url, address } => {
            let m = contracts::keepalive(&rpc_url, key.load()?, address).await?;
            if json {
                println!("{}", serde_json::to_value(&m)?);
            } else {
                println!("{address} kept alive for a year: data fee {} wei, {} gas (tx {})", m.paid, m.gas_used, m.tx);
            }
        }
        ContractsCommand::CacheBid { key, rpc_url, address, bid } => {
            let m = contracts::cache_bid(&rpc_url, key.load()?, address, bid).await?;
            if json {
                println!("{}", serde_json::to_value(&m)?);
            } else {
                println!("{address} cached for a bid of {} wei, {} gas (tx {})", m.paid, m.gas_used, m.tx);
            }
        }
    }
    Ok(())
}
