//! `avocado-devnet`: a local Arbitrum-like chain that runs Stylus programs, on one port (HTTP and
//! WebSocket), with the nitro devnode's defaults.

use avocado_devnet::cli::{serve, DevnetArgs};
use clap::Parser;

#[derive(Parser)]
#[command(name = "avocado-devnet", version, about = "A local Arbitrum-like chain that runs real Stylus programs")]
struct Args {
    #[command(flatten)]
    devnet: DevnetArgs,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = serve(args.devnet).await {
        eprintln!("avocado-devnet: {e}");
        std::process::exit(1);
    }
}
