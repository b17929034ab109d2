//! `avocado`: the command-line tool of Avocado — keys, the node, channels, deployment, the
//! embedded devnet and the demo.

mod bench;
mod channel;
mod contracts;
mod demo;
mod pay;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use alloy_primitives::Address;
use alloy_signer_local::PrivateKeySigner;
use anyhow::{bail, Context, Result};
use avocado_client::{keys, node::Policy, service};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "avocado", version, about = "Generalized state channels on Arbitrum Stylus")]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage participant keys (encrypted keystores, compatible with `cast wallet`).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Run a participant's node: store, peer API, app API, chain adapter, watchtower.
    Node(NodeArgs),
    /// Drive channels through a running node's app API.
    #[command(subcommand)]
    Channel(channel::ChannelCommand),
    /// Payment channels: deposits in the escrow, payments off chain, settlement, withdrawal.
    #[command(subcommand)]
    Pay(pay::PayCommand),
    /// Deploy and activate the judge program (and the payment escrow).
    Deploy(DeployArgs),
    /// Stylus status of deployed programs, keepalive and cache bids.
    #[command(subcommand)]
    Contracts(contracts::ContractsCommand),
    /// Run the embedded devnet (an Arbitrum-like chain that runs Stylus programs).
    Devnet(avocado_devnet::cli::DevnetArgs),
    /// The demo: a devnet, the real judge, three nodes as processes, a stale close defeated.
    Demo(demo::DemoArgs),
    /// Measure fully signed updates per second and round trips between real nodes.
    Bench(bench::BenchArgs),
}

/// Where the key comes from (flags named as foundry's).
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct KeyArgs {
    /// Raw private key (hex). Prefer a keystore outside development.
    #[arg(long, env = "AVOCADO_PRIVATE_KEY", hide_env_values = true)]
    private_key: Option<String>,
    /// Keystore file.
    #[arg(long, env = "ETH_KEYSTORE")]
    keystore: Option<PathBuf>,
    /// Keystore name in the keystore folder.
    #[arg(long, env = "ETH_KEYSTORE_ACCOUNT")]
    account: Option<String>,
    /// File whose first line is the keystore password.
    #[arg(long, env = "ETH_PASSWORD")]
    password_file: Option<PathBuf>,
    /// Keystore folder.
    #[arg(long, env = "AVOCADO_KEYSTORE_DIR")]
    keystore_dir: Option<PathBuf>,
    /// Open the keystore with an empty password when none is given (not recommended).
    #[arg(long)]
    unsafe_empty_password: bool,
}

impl KeyArgs {
    fn dir(&self) -> PathBuf {
        self.keystore_dir.clone().unwrap_or_else(keys::default_keystore_dir)
    }

    fn load(&self) -> Result<PrivateKeySigner> {
        let uses_keystore = self.private_key.is_none() && (self.keystore.is_some() || self.account.is_some());
        let password = match uses_keystore && self.password_file.is_none() && !self.unsafe_empty_password {
            true => keys::prompt_existing()?,
            false => None,
        };
        let source = keys::KeySource {
            private_key: self.private_key.clone(),
            keystore: self.keystore.clone(),
            account: self.account.clone(),
            keystore_dir: self.dir(),
            password_file: self.password_file.clone(),
            password,
            unsafe_empty_password: self.unsafe_empty_password,
        };
        Ok(source.load()?)
    }
}

/// Where and how `key new` / `key import` write a keystore.
#[derive(Args)]
struct NewKeystore {
    /// File whose first line is the password (default: typed twice on the terminal).
    #[arg(long, env = "ETH_PASSWORD")]
    password_file: Option<PathBuf>,
    /// Store the key with an empty password (anyone who can read the file has the key).
    #[arg(long)]
    unsafe_empty_password: bool,
    /// Keystore folder.
    #[arg(long, env = "AVOCADO_KEYSTORE_DIR")]
    keystore_dir: Option<PathBuf>,
}

impl NewKeystore {
    /// Encrypts `signer` as `name` in the keystore folder (refusing a name in use) and returns
    /// the file written.
    fn store(self, name: &str, signer: &PrivateKeySigner) -> Result<PathBuf> {
        let dir = self.keystore_dir.unwrap_or_else(keys::default_keystore_dir);
        keys::check_free(&dir, name)?;
        let password =
            keys::NewPassword { file: self.password_file, unsafe_empty: self.unsafe_empty_password }.obtain()?;
        Ok(keys::store(&dir, name, signer, &password)?)
    }
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create a new random key in an encrypted keystore.
    New {
        /// Keystore name.
        name: String,
        #[command(flatten)]
        into: NewKeystore,
    },
    /// Encrypt an existing private key into a keystore.
    Import {
        /// Keystore name.
        name: String,
        /// The private key (hex).
        #[arg(long, env = "AVOCADO_PRIVATE_KEY", hide_env_values = true)]
        private_key: String,
        #[command(flatten)]
        into: NewKeystore,
    },
    /// List the keystores in the keystore folder.
    List {
        /// Keystore folder.
        #[arg(long, env = "AVOCADO_KEYSTORE_DIR")]
        keystore_dir: Option<PathBuf>,
    },
    /// Print the address of a key.
    Address(KeyArgs),
}

/// `avocado node`.
#[derive(Args, Clone, Debug)]
pub(crate) struct NodeArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// Data folder (store, API token, node.json).
    #[arg(long, env = "AVOCADO_DATA_DIR", default_value = "avocado-data")]
    data_dir: PathBuf,
    /// JSON-RPC endpoint of the chain.
    #[arg(long, env = "ETH_RPC_URL")]
    rpc_url: Option<String>,
    /// The judge's address.
    #[arg(long, env = "AVOCADO_JUDGE")]
    judge: Address,
    /// Chain id, when running without --rpc-url (off chain only).
    #[arg(long)]
    chain_id: Option<u64>,
    /// Peer API listen address.
    #[arg(long, default_value = "127.0.0.1:7700")]
    listen: SocketAddr,
    /// The URL other participants reach the peer API at (default: http://<listen>).
    #[arg(long)]
    peer_url: Option<String>,
    /// App API listen address (loopback only).
    #[arg(long, default_value = "127.0.0.1:7701")]
    app_listen: SocketAddr,
    /// Shortest dispute window this node accepts (e.g. 24h, 90m, 60s).
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    min_challenge: Duration,
    /// Sign proposals as they arrive instead of waiting for `channel accept` / `accept-update`.
    #[arg(long)]
    auto_accept: bool,
    /// How often the watchtower reads the chain.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    watch_every: Duration,
    /// The watchtower reads the judge's logs up to this many blocks below the head (blocks that
    /// recent may still be reorganised, and some endpoints serve logs late); 0 reads up to the
    /// head. Disputes are also seen by re-reading the judge's status on a schedule.
    #[arg(long, default_value_t = avocado_client::node::watch::DEFAULT_CONFIRMATIONS)]
    confirmations: u64,
    /// A WebSocket endpoint (ws:// or wss://) announcing new blocks, so the watchtower reacts at
    /// once instead of at its next poll; `auto` derives it from --rpc-url. Polling continues
    /// either way.
    #[arg(long, env = "AVOCADO_WS_URL")]
    ws_url: Option<String>,
    /// How long a proposal retries an unreachable peer.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    peer_timeout: Duration,
    /// The payment escrow: channels naming it follow the payment rules (`avocado pay`).
    #[arg(long, env = "AVOCADO_ESCROW")]
    escrow: Option<Address>,
    /// Peer connections held at once (more are closed at once); lowered to half the open-files
    /// limit when above it.
    #[arg(long, default_value_t = 512)]
    max_peer_connections: usize,
    /// Peer connections held at once from one IP address.
    #[arg(long, default_value_t = 32)]
    max_peer_connections_per_ip: usize,
    /// How long a channel proposal from another party waits for a decision before it is deleted.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    proposal_ttl: Duration,
    /// How long a message to a peer is retried before it is dropped.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    message_ttl: Duration,
}

/// `avocado deploy`.
#[derive(Args, Clone, Debug)]
struct DeployArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// JSON-RPC endpoint of the chain.
    #[arg(long, env = "ETH_RPC_URL", default_value = "http://127.0.0.1:8547")]
    rpc_url: String,
    /// The judge's deployable code.
    #[arg(long, default_value = "target/judge/judge.bin")]
    judge_code: PathBuf,
    /// Also deploy the payment escrow.
    #[arg(long)]
    with_escrow: bool,
    /// The escrow's deployable code.
    #[arg(long, default_value = "target/escrow/escrow.bin")]
    escrow_code: PathBuf,
}

/// Parses `90`, `90s`, `15m`, `24h`, `7d`, `250ms`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a duration (e.g. 60s, 15m, 24h)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s, m, h or d)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn main() {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("AVOCADO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let json = cli.json;
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Key(k) => key(k, json),
            Command::Node(n) => node(n).await,
            Command::Channel(c) => channel::run(c, json).await,
            Command::Pay(p) => pay::run(p, json).await,
            Command::Deploy(d) => deploy(d, json).await,
            Command::Contracts(c) => contracts::run(c, json).await,
            Command::Devnet(d) => avocado_devnet::cli::serve(d).await.map_err(anyhow::Error::msg),
            Command::Demo(d) => demo::run(d).await,
            Command::Bench(b) => bench::run(b, json).await,
        }
    });
    if let Err(e) = result {
        eprintln!("avocado: {e:#}");
        std::process::exit(1);
    }
    // Background tasks (outbox, watchtower) end with the process.
    runtime.shutdown_timeout(Duration::from_millis(200));
}

fn key(cmd: KeyCommand, json: bool) -> Result<()> {
    let print = |name: &str, signer: &PrivateKeySigner, path: &std::path::Path| {
        if json {
            println!("{}", serde_json::json!({ "name": name, "address": signer.address(), "path": path }));
        } else {
            println!("{} {} ({})", name, signer.address(), path.display());
        }
    };
    match cmd {
        KeyCommand::New { name, into } => {
            let signer = PrivateKeySigner::random();
            print(&name, &signer, &into.store(&name, &signer)?);
        }
        KeyCommand::Import { name, private_key, into } => {
            let signer = keys::parse_private_key(&private_key)?;
            print(&name, &signer, &into.store(&name, &signer)?);
        }
        KeyCommand::List { keystore_dir } => {
            let dir = keystore_dir.unwrap_or_else(keys::default_keystore_dir);
            let list = keys::list(&dir)?;
            if json {
                let v: Vec<_> = list.iter().map(|(n, a)| serde_json::json!({ "name": n, "address": a })).collect();
                println!("{}", serde_json::Value::Array(v));
            } else if list.is_empty() {
                println!("no keystores in {}", dir.display());
            } else {
                for (n, a) in list {
                    println!(
                        "{n} {}",
                        a.map(|a| a.to_string())
                            .unwrap_or_else(|| format!("(address: avocado key address --account {n})"))
                    );
                }
            }
        }
        KeyCommand::Address(k) => {
            let signer = k.load()?;
            if json {
                println!("{}", serde_json::json!({ "address": signer.address() }));
            } else {
                println!("{}", signer.address());
            }
        }
    }
    Ok(())
}

async fn node(args: NodeArgs) -> Result<()> {
    let signer = args.key.load()?;
    if args.rpc_url.is_none() && args.chain_id.is_none() {
        bail!("give --rpc-url (or, to run off chain, --chain-id)");
    }
    let ws_url = match (args.ws_url.as_deref(), args.rpc_url.as_deref()) {
        (Some("auto"), Some(rpc)) => Some(
            avocado_client::node::watch::ws_url_of(rpc)
                .with_context(|| format!("--ws-url auto: {rpc} is not an http(s) URL"))?,
        ),
        (Some("auto"), None) => bail!("--ws-url auto needs --rpc-url"),
        (url, _) => url.map(str::to_string),
    };
    let opts = service::NodeOptions {
        data_dir: args.data_dir,
        signer,
        rpc_url: args.rpc_url,
        judge: args.judge,
        chain_id: args.chain_id,
        peer_listen: args.listen,
        peer_url: args.peer_url,
        app_listen: args.app_listen,
        policy: Policy { min_challenge_duration: args.min_challenge.as_secs(), auto_accept: args.auto_accept },
        watch_every: args.watch_every,
        watch: avocado_client::node::watch::WatchConfig { confirmations: args.confirmations, ws_url },
        peer_timeout: args.peer_timeout,
        escrow: args.escrow,
        peer_limits: avocado_client::serve::ServeLimits {
            max_connections: args.max_peer_connections,
            max_per_ip: args.max_peer_connections_per_ip,
            ..avocado_client::serve::ServeLimits::peer()
        },
        bounds: avocado_client::node::Bounds {
            proposal_ttl: args.proposal_ttl,
            message_ttl: args.message_ttl,
            ..Default::default()
        },
    };
    service::run(opts, avocado_devnet::cli::wait_for_shutdown()).await
}

async fn deploy(args: DeployArgs, json: bool) -> Result<()> {
    let code = std::fs::read(&args.judge_code)
        .with_context(|| format!("cannot read {} (build it with scripts/build-judge.sh)", args.judge_code.display()))?;
    let signer = args.key.load()?;
    let d = avocado_client::deploy::deploy_program(&args.rpc_url, signer.clone(), &code).await?;
    let e = if args.with_escrow {
        let code = std::fs::read(&args.escrow_code).with_context(|| {
            format!("cannot read {} (build it with scripts/build-contracts.sh)", args.escrow_code.display())
        })?;
        Some(avocado_client::deploy::deploy_program(&args.rpc_url, signer, &code).await?)
    } else {
        None
    };
    if json {
        let mut v = serde_json::to_value(&d)?;
        if let Some(e) = &e {
            v["escrow"] = serde_json::to_value(e)?;
        }
        println!("{v}");
    } else {
        for (name, d) in std::iter::once(("judge", &d)).chain(e.as_ref().map(|e| ("escrow", e))) {
            println!(
                "{name} deployed at {} ({} bytes, {} gas) and activated at Stylus version {} ({} gas, data fee {} wei)",
                d.address, d.code_bytes, d.deploy_gas, d.stylus_version, d.activate_gas, d.data_fee
            );
        }
    }
    Ok(())
}
