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
    /// Load the chain from this file at start (if it exists) and save it there on exit.
    #[arg(long, value_name = "FILE")]
    state: Option<std::path::PathBuf>,
    /// Also mine an empty block every this many seconds (transactions are always mined at once).
    #[arg(long, value_name = "SECONDS")]
    block_time: Option<u64>,
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
    let node = match &args.state {
        Some(path) if path.exists() => match rpc::node::Node::load(path) {
            Ok(node) => {
                println!("loaded state from {} (block {})", path.display(), node.block_number());
                node
            }
            Err(e) => {
                eprintln!("avocado-devnet: cannot load state from {}: {e}", path.display());
                std::process::exit(1);
            }
        },
        _ => rpc::node::Node::new(&config),
    };
    let handle = match rpc::start_with(node, addr).await {
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
    let handle = std::sync::Arc::new(handle);
    if let Some(secs) = args.block_time.filter(|s| *s > 0) {
        let h = handle.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(secs));
            tick.tick().await;
            loop {
                tick.tick().await;
                h.mine();
            }
        });
    }
    wait_for_shutdown().await;
    if let Some(path) = &args.state {
        match handle.save_state(path) {
            Ok(()) => println!("saved state to {}", path.display()),
            Err(e) => {
                eprintln!("avocado-devnet: cannot save state to {}: {e}", path.display());
                std::process::exit(1);
            }
        }
    }
}

/// Ctrl-C or SIGTERM.
async fn wait_for_shutdown() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
