//! `avocado-devnet`: a local Arbitrum-like chain that runs Stylus programs, on one port (HTTP and
//! WebSocket), with the nitro devnode's defaults.

use std::net::{IpAddr, SocketAddr};

use alloy_primitives::{hex, U256};
use avocado_devnet::{
    chain::{ChainConfig, DEV_ACCOUNT},
    rpc,
};
use clap::Parser;

/// The nitro devnode's prefunded development key.
const DEV_KEY: &str = "0xb6b15c8cb491557369f3c7d2c287b053eb229daa9c22138887752191c9520659";
/// The mnemonic anvil derives its test accounts from.
const MNEMONIC: &str = "test test test test test test test test test test test junk";

#[derive(Parser)]
#[command(name = "avocado-devnet", version, about = "A local Arbitrum-like chain that runs real Stylus programs")]
struct Args {
    /// Port for HTTP and WebSocket JSON-RPC.
    #[arg(long, default_value_t = 8547)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Chain id.
    #[arg(long, default_value_t = 412_346)]
    chain_id: u64,
    /// Funded accounts derived from anvil's mnemonic, besides the dev key.
    #[arg(long, default_value_t = 10)]
    accounts: u32,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut config = ChainConfig { chain_id: args.chain_id, ..Default::default() };
    let ether = U256::from(10u64).pow(U256::from(18u64));
    let mut keys = Vec::new();
    for i in 0..args.accounts {
        let signer = match alloy_signer_local::MnemonicBuilder::<alloy_signer_local::coins_bip39::English>::default()
            .phrase(MNEMONIC)
            .index(i)
            .and_then(|b| b.build())
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("avocado-devnet: cannot derive account {i}: {e}");
                std::process::exit(1);
            }
        };
        config.funded.push((signer.address(), ether * U256::from(10_000u64)));
        keys.push((signer.address(), hex::encode_prefixed(signer.credential().to_bytes())));
    }
    let addr = SocketAddr::new(args.host, args.port);
    let handle = match rpc::start(config, addr).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("avocado-devnet: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!("avocado-devnet — chain id {}, listening on {} and {}", args.chain_id, handle.url(), handle.ws_url());
    println!("\nDev account (nitro devnode key)\n  {DEV_ACCOUNT}  {DEV_KEY}");
    println!("\nAccounts (10,000 ETH each; mnemonic \"{MNEMONIC}\")");
    for (i, (a, k)) in keys.iter().enumerate() {
        println!("  ({i}) {a}  {k}");
    }
    println!();
    let _ = tokio::signal::ctrl_c().await;
    handle.stop().await;
}
