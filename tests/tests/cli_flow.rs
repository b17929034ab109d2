//! The `avocado` command end to end, as a user types it: `devnet`, `deploy`, `node`, then the
//! `channel` subcommands against the nodes' data folders.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy_primitives::{Address, U256};
use avocado_cli::process::{NodeProcess, NodeSpec};
use avocado_tests::nodes::{avocado_exe, Folder};
use serde_json::Value;

struct Devnet(Child);

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn avocado(args: &[&str]) -> Value {
    let out = Command::new(avocado_exe()).arg("--json").args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "avocado {args:?}: {}{}", text, String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(text.lines().last().unwrap_or("")).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_channel_from_the_command_line() {
    // `avocado devnet` on a free port; its first line says where.
    let mut child = Command::new(avocado_exe())
        .args(["devnet", "--port", "0", "--accounts", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    // Keep reading what it prints: a closed pipe would end it.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let _devnet = Devnet(child);
    let rpc = first.split_whitespace().find(|w| w.starts_with("http://")).unwrap().trim_end_matches(',').to_string();

    let dev_key = avocado_devnet::cli::DEV_KEY;
    let judge = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/judge/judge.bin");
    let escrow = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/escrow/escrow.bin");
    let deployed = avocado(&[
        "deploy",
        "--rpc-url",
        &rpc,
        "--private-key",
        dev_key,
        "--judge-code",
        judge.to_str().unwrap(),
        "--with-escrow",
        "--escrow-code",
        escrow.to_str().unwrap(),
    ]);
    let judge: Address = deployed["address"].as_str().unwrap().parse().unwrap();
    let escrow: Address = deployed["escrow"]["address"].as_str().unwrap().parse().unwrap();
    assert_eq!(deployed["stylusVersion"], 2);

    // Two nodes; the second key is anvil's first mnemonic account, funded by the devnet.
    let folder = Folder::new("cli");
    let keys = [dev_key, "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"];
    let mut nodes = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let spec = NodeSpec {
            exe: avocado_exe(),
            data_dir: folder.0.join(format!("n{i}")),
            private_key: key.to_string(),
            rpc_url: Some(rpc.clone()),
            judge,
            extra: vec![
                "--auto-accept".into(),
                "--min-challenge".into(),
                "60s".into(),
                "--watch-every".into(),
                "100ms".into(),
                // The devnet seals a block per transaction only: at a deeper depth the logs of
                // the last transaction would wait for the next one.
                "--confirmations".into(),
                "0".into(),
                "--escrow".into(),
                escrow.to_string(),
            ],
            peer_port: 0,
            app_port: 0,
            nofile_limit: None,
        };
        nodes.push(NodeProcess::spawn(spec).await.unwrap());
    }
    let dir = |i: usize| nodes[i].data_dir().to_str().unwrap().to_string();
    let with = format!("{}={}", nodes[1].address, nodes[1].peer_url);
    let opened =
        avocado(&["channel", "propose", "--data-dir", &dir(0), "--with", &with, "--challenge", "2m", "--text", "hi"]);
    let id = opened["channelId"].as_str().unwrap().to_string();
    assert_eq!(opened["signed"]["state"]["version"], 0);
    assert!(opened["open"]["gasUsed"].as_u64().unwrap() > 21_000, "opened on chain: {opened}");
    let up = avocado(&["channel", "update", "--data-dir", &dir(1), &id, "--text", "from bob"]);
    assert_eq!(up["signed"]["state"]["version"], 1);
    let list = avocado(&["channel", "list", "--data-dir", &dir(0)]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let status = avocado(&["channel", "status", "--data-dir", &dir(0), &id]);
    assert_eq!(status["status"]["phase"], 1);
    let cp = avocado(&["channel", "checkpoint", "--data-dir", &dir(1), &id]);
    assert_eq!(cp["version"], 1);

    // `channel watch` follows the channel until it is final.
    let mut watch = Command::new(avocado_exe())
        .args(["--json", "channel", "watch", "--data-dir", &dir(0), &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let closed = avocado(&["channel", "close", "--data-dir", &dir(0), &id]);
    assert_eq!(closed["version"], 2);
    let mut watched = String::new();
    for _ in 0..200 {
        if let Some(_status) = watch.try_wait().unwrap() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = watch.kill();
    std::io::Read::read_to_string(&mut watch.stdout.take().unwrap(), &mut watched).unwrap();
    assert!(watched.contains(r#""type":"channelFinal""#), "{watched}");
    // Bob learns of the final state from his own watchtower, which may pass a moment after
    // Alice's watch saw the event: wait for it (bounded) rather than read once.
    let mut shown = avocado(&["channel", "show", "--data-dir", &dir(1), &id]);
    for _ in 0..100 {
        if shown["chain"]["phase"] == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        shown = avocado(&["channel", "show", "--data-dir", &dir(1), &id]);
    }
    assert_eq!(shown["chain"]["phase"], 3, "{shown}");
    assert_eq!(shown["latest"]["state"]["isFinal"], true);

    // A payment channel with `avocado pay`.
    let opened =
        avocado(&["pay", "open", "--data-dir", &dir(0), "--with", &with, "--deposit", "1eth", "--challenge", "2m"]);
    let pay = opened["channelId"].as_str().unwrap().to_string();
    assert_eq!(opened["version"], 1, "the deposit is counted in v1: {opened}");
    avocado(&["pay", "deposit", "--data-dir", &dir(1), &pay, "0.5eth"]);
    avocado(&["pay", "send", "--data-dir", &dir(0), &pay, "0.25eth"]);
    avocado(&["pay", "send", "--data-dir", &dir(1), &pay, "100gwei"]);
    let balance = avocado(&["pay", "balance", "--data-dir", &dir(1), &pay]);
    let milli = |m: u64| U256::from(m) * U256::from(10u64).pow(U256::from(15u64));
    let gwei = U256::from(100u64) * U256::from(10u64).pow(U256::from(9u64));
    let balances: Vec<U256> = serde_json::from_value(balance["balances"].clone()).unwrap();
    assert_eq!(balances, vec![milli(750) + gwei, milli(750) - gwei], "{balance}");
    let out = Command::new(avocado_exe()).args(["pay", "send", "--data-dir", &dir(0), &pay, "5eth"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("you hold"), "{}", String::from_utf8_lossy(&out.stderr));
    let closed = avocado(&["pay", "close", "--data-dir", &dir(1), &pay]);
    assert!(closed["settle"]["gasUsed"].as_u64().unwrap() > 21_000, "{closed}");
    for (i, want) in [milli(750) + gwei, milli(750) - gwei].into_iter().enumerate() {
        let w = avocado(&["pay", "withdraw", "--data-dir", &dir(i)]);
        assert_eq!(serde_json::from_value::<U256>(w["amount"].clone()).unwrap(), want);
    }
}
