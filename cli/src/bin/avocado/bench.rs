//! `avocado bench`: fully signed updates between two real node processes on loopback, with
//! durable storage, against the rate the cryptography alone allows — all measured in one run.
//!
//! The crypto bound of one channel: an update cannot complete faster than its signature work in
//! sequence — each of the two parties signs the state once and recovers the other's signature
//! once (2 signs + 2 recoveries). The node also signs and checks each message's envelope and
//! checks the fully signed state on receipt; those count against it, as does every fsync.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy_primitives::{keccak256, Bytes, B256};
use alloy_signer_local::PrivateKeySigner;
use anyhow::{Context, Result};
use avocado_cli::process::{NodeProcess, NodeSpec};
use avocado_client::app_client::AppClient;
use avocado_codec::signer;
use clap::Args;
use serde_json::json;

#[derive(Args, Clone, Debug)]
pub(crate) struct BenchArgs {
    /// Updates on the single channel.
    #[arg(long, default_value_t = 1000)]
    updates: u64,
    /// Channels for the multi-channel run.
    #[arg(long, default_value_t = 100)]
    channels: u64,
    /// Updates per channel in the multi-channel run.
    #[arg(long, default_value_t = 20)]
    per_channel: u64,
    /// Where the nodes keep their stores (default: a temporary folder).
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median time of one secp256k1 signature and one recovery, measured here.
fn crypto_costs() -> (Duration, Duration) {
    let key = k256::ecdsa::SigningKey::from_slice(keccak256(b"bench").as_slice()).expect("a key");
    let n = 2000;
    let digests: Vec<B256> = (0..n).map(|i: u32| keccak256(i.to_be_bytes())).collect();
    let t = Instant::now();
    let sigs: Vec<_> = digests.iter().map(|d| signer::sign(&key, d)).collect();
    let sign = t.elapsed() / n;
    let t = Instant::now();
    for (d, s) in digests.iter().zip(&sigs) {
        signer::recover(d, s).expect("recovers");
    }
    let recover = t.elapsed() / n;
    (sign, recover)
}

async fn open(a: &AppClient, nodes: &[NodeProcess], nonce: u64) -> Result<B256> {
    let request = json!({
        "participants": nodes.iter().map(|n| n.address).collect::<Vec<_>>(),
        "peers": nodes.iter().map(|n| n.peer_url.clone()).collect::<Vec<_>>(),
        "challengeDuration": 86_400, "data": "0x00", "nonce": nonce,
    });
    Ok(a.propose_channel(request).await?.channel_id())
}

pub(crate) async fn run(args: BenchArgs, json: bool) -> Result<()> {
    let dir =
        args.dir.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("avocado-bench-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir);
    let exe = std::env::current_exe().context("cannot find the avocado executable")?;
    let mut nodes = Vec::new();
    for name in ["a", "b"] {
        let key = PrivateKeySigner::from_bytes(&keccak256(format!("avocado bench {name}")))?;
        let spec = NodeSpec {
            exe: exe.clone(),
            data_dir: dir.join(name),
            private_key: alloy_primitives::hex::encode(key.to_bytes()),
            rpc_url: None,
            judge: alloy_primitives::Address::repeat_byte(0xaa),
            extra: vec!["--auto-accept".into()],
            peer_port: 0,
            app_port: 0,
            nofile_limit: None,
        };
        nodes.push(NodeProcess::spawn(spec).await?);
    }
    let a = nodes[0].api.clone();

    // One channel, sequential updates: throughput and round trip.
    let id = open(&a, &nodes, 1).await?;
    let mut rtts = Vec::with_capacity(args.updates as usize);
    let start = Instant::now();
    for i in 0..args.updates {
        let t = Instant::now();
        a.update(id, Bytes::from(i.to_be_bytes().to_vec()), false, Duration::from_secs(30)).await?.signed()?;
        rtts.push(t.elapsed());
    }
    let one = args.updates as f64 / start.elapsed().as_secs_f64();
    rtts.sort();

    // Many channels at once.
    let mut ids = Vec::new();
    for c in 0..args.channels {
        ids.push(open(&a, &nodes, 1_000 + c).await?);
    }
    let start = Instant::now();
    let tasks = ids.iter().map(|id| {
        let a = a.clone();
        let id = *id;
        let n = args.per_channel;
        tokio::spawn(async move {
            for i in 0..n {
                a.update(id, Bytes::from(i.to_be_bytes().to_vec()), false, Duration::from_secs(60)).await?.signed()?;
            }
            anyhow::Ok(())
        })
    });
    for r in futures::future::join_all(tasks).await {
        r??;
    }
    let many = (args.channels * args.per_channel) as f64 / start.elapsed().as_secs_f64();

    let (sign, recover) = crypto_costs();
    let bound = 1.0 / (2.0 * sign.as_secs_f64() + 2.0 * recover.as_secs_f64());
    let report = json!({
        "updatesOneChannel": args.updates,
        "oneChannelPerSecond": one,
        "rttP50Ms": ms(percentile(&rtts, 0.5)),
        "rttP99Ms": ms(percentile(&rtts, 0.99)),
        "channels": args.channels,
        "manyChannelsPerSecond": many,
        "signUs": sign.as_secs_f64() * 1e6,
        "recoverUs": recover.as_secs_f64() * 1e6,
        "cryptoBoundPerSecond": bound,
        "oneChannelOfBound": one / bound,
    });
    for n in &mut nodes {
        n.kill();
    }
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if json {
        println!("{report}");
        return Ok(());
    }
    println!("avocado bench — two node processes on loopback, redb stores (fsync on every commit)");
    println!("  one channel, {} sequential updates:  {one:>8.0} fully signed updates/s", args.updates);
    println!(
        "  round trip (app call → fully signed): p50 {:.2} ms, p99 {:.2} ms",
        ms(percentile(&rtts, 0.5)),
        ms(percentile(&rtts, 0.99))
    );
    println!(
        "  {} channels × {} updates at once:   {many:>8.0} fully signed updates/s",
        args.channels, args.per_channel
    );
    println!(
        "  crypto bound: sign {:.1} µs, recover {:.1} µs → {bound:.0} updates/s (2 signs + 2 recoveries each)",
        sign.as_secs_f64() * 1e6,
        recover.as_secs_f64() * 1e6
    );
    println!("  one channel reaches {:.1} % of the crypto bound", 100.0 * one / bound);
    Ok(())
}
