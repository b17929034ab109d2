//! The devnet as a command: flags, funded accounts, state file, block timer, shutdown on
//! Ctrl-C / SIGTERM. Used by the `avocado-devnet` binary and by any tool that embeds the devnet
//! as a subcommand.

use std::net::{IpAddr, SocketAddr};

use crate::{
    chain::{ChainConfig, DEV_ACCOUNT},
    rpc,
};
use alloy_primitives::{hex, U256};

/// The nitro devnode's prefunded development key.
pub const DEV_KEY: &str = "0xb6b15c8cb491557369f3c7d2c287b053eb229daa9c22138887752191c9520659";
/// The mnemonic anvil derives its test accounts from.
pub const MNEMONIC: &str = "test test test test test test test test test test test junk";

/// The devnet's command-line flags.
#[derive(clap::Args, Clone, Debug)]
pub struct DevnetArgs {
    /// Port for HTTP and WebSocket JSON-RPC.
    #[arg(long, default_value_t = 8547)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Chain id.
    #[arg(long, default_value_t = 412_346)]
    pub chain_id: u64,
    /// Funded accounts derived from anvil's mnemonic, besides the dev key.
    #[arg(long, default_value_t = 10)]
    pub accounts: u32,
    /// Load the chain from this file at start (if it exists) and save it there on exit.
    #[arg(long, value_name = "FILE")]
    pub state: Option<std::path::PathBuf>,
    /// Also mine an empty block every this many seconds (transactions are always mined at once).
    #[arg(long, value_name = "SECONDS")]
    pub block_time: Option<u64>,
    /// L1 price per unit of poster data, in wei (16 units per brotli-compressed byte of a
    /// transaction); Nitro's chains start at 50 gwei.
    #[arg(long, value_name = "WEI", default_value_t = crate::chain::l1_pricing::DEFAULT_L1_BASE_FEE)]
    pub l1_base_fee: u128,
    /// ArbOS version to run (30–60): from 60, programs called earlier in the same block are
    /// priced as cached; `ArbSys.arbOSVersion()` answers 55 more.
    #[arg(long, default_value_t = crate::chain::programs::NEWEST_ARBOS_VERSION,
          value_parser = clap::value_parser!(u64).range(
              crate::chain::programs::OLDEST_ARBOS_VERSION..=crate::chain::programs::NEWEST_ARBOS_VERSION))]
    pub arbos_version: u64,
}

/// Runs the devnet until Ctrl-C or SIGTERM. Errors are one line for the user.
pub async fn serve(args: DevnetArgs) -> Result<(), String> {
    let mut config = ChainConfig {
        chain_id: args.chain_id,
        l1_base_fee: U256::from(args.l1_base_fee),
        arbos_version: args.arbos_version,
        ..Default::default()
    };
    let ether = U256::from(10u64).pow(U256::from(18u64));
    let mut keys = Vec::new();
    for i in 0..args.accounts {
        let signer = match alloy_signer_local::MnemonicBuilder::<alloy_signer_local::coins_bip39::English>::default()
            .phrase(MNEMONIC)
            .index(i)
            .and_then(|b| b.build())
        {
            Ok(s) => s,
            Err(e) => return Err(format!("cannot derive account {i}: {e}")),
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
            Err(e) => return Err(format!("cannot load state from {}: {e}", path.display())),
        },
        _ => rpc::node::Node::new(&config),
    };
    let handle = match rpc::start_with(node, addr).await {
        Ok(h) => h,
        Err(e) => return Err(format!("cannot listen on {addr}: {e}")),
    };
    println!(
        "avocado-devnet — chain id {}, ArbOS {}, listening on {} and {}",
        args.chain_id,
        args.arbos_version,
        handle.url(),
        handle.ws_url()
    );
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
            Err(e) => return Err(format!("cannot save state to {}: {e}", path.display())),
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn wait_for_shutdown() {
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
