//! The devnet with tools nobody here wrote: cargo-stylus 0.10.10 deploys and activates the real
//! judge over JSON-RPC, foundry's `cast` reads it, sends a checkpoint with real signatures and
//! finds its event. Needs both tools, so it is opt-in: `scripts/test.sh` installs them and runs it
//! with `--ignored` (cast from the npm package `@foundry-rs/cast` into `target/tools`).

use std::{net::SocketAddr, path::PathBuf, process::Command};

use alloy_primitives::{hex, keccak256, Address};
use alloy_sol_types::SolEvent;
use avocado_codec::{Domain, IAvocadoJudge as I};
use avocado_devnet::{chain::ChainConfig, rpc};
use avocado_tests::judge_scenarios::Fixture;

const DEV_KEY: &str = "0xb6b15c8cb491557369f3c7d2c287b053eb229daa9c22138887752191c9520659";

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn cast() -> PathBuf {
    std::env::var_os("AVOCADO_CAST")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/tools/node_modules/.bin/cast"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Text without ANSI colour codes.
fn plain(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs cargo-stylus 0.10.10 and cast; scripts/test.sh installs them and runs it"]
async fn cargo_stylus_deploys_and_cast_drives_the_judge() {
    let node = rpc::start(ChainConfig::default(), SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let url = node.url();
    let deploy = tokio::task::block_in_place(|| {
        run(Command::new(root().join("scripts/stylus.sh")).env("AVOCADO_STYLUS_NO_INSTALL", "1").args([
            "deploy",
            "--no-verify",
            "--endpoint",
            &url,
            "--private-key",
            DEV_KEY,
        ]))
    });
    let deploy = plain(&deploy);
    assert!(deploy.contains("successfully activated contract"), "{deploy}");
    let judge: Address = deploy
        .split("deployed code at address: ")
        .nth(1)
        .and_then(|rest| rest.get(..42))
        .expect("cargo-stylus reports the address")
        .parse()
        .unwrap();

    let cast =
        |args: &[&str]| tokio::task::block_in_place(|| run(Command::new(cast()).args(args).args(["--rpc-url", &url])));
    let judge_s = judge.to_string();
    let domain = Domain::new(412_346, judge);
    let sep = cast(&["call", &judge_s, "domainSeparator()(bytes32)"]);
    assert_eq!(sep.trim(), domain.separator().to_string());

    // A checkpoint with real signatures, sent by cast.
    let f = Fixture::with(domain, vec![0, 1], 0, 3600);
    let state = f.state(1, b"sent by cast", false);
    let sigs = f.sign(&state);
    let params = format!("([{},{}],0,3600,{})", f.params.participants[0], f.params.participants[1], Address::ZERO);
    let state_arg = format!("({},1,{},false)", f.id, hex::encode_prefixed(&state.data));
    let sent = cast(&[
        "send",
        "--private-key",
        DEV_KEY,
        &judge_s,
        "checkpoint((address[],uint64,uint64,address),(bytes32,uint64,bytes,bool),bytes)",
        &params,
        &state_arg,
        &hex::encode_prefixed(&sigs),
    ]);
    assert!(sent.contains("status") && sent.contains("1 (success)"), "{sent}");

    let status = cast(&["call", &judge_s, "status(bytes32)(uint8,uint64,uint64,bytes32)", &f.id.to_string()]);
    let lines: Vec<&str> = status.lines().map(str::trim).collect();
    assert_eq!(lines, vec!["1", "1", "0", &keccak256(b"sent by cast").to_string()[..]], "{status}");

    let logs = cast(&["logs", "--from-block", "0", "--address", &judge_s]);
    assert!(logs.contains(&I::StateCheckpointed::SIGNATURE_HASH.to_string()), "{logs}");
    assert!(logs.contains(&f.id.to_string()), "{logs}");
    node.stop().await;
}

/// Keystores are foundry's format: a key `avocado key new` writes is read by `cast wallet`, and
/// one `cast wallet import` writes is loaded by `avocado`.
#[test]
#[ignore = "needs cast; scripts/test.sh installs it and runs it"]
fn keystores_are_shared_with_cast() {
    let dir = std::env::temp_dir().join(format!("avocado-cast-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pw = dir.join("pw.txt");
    std::fs::write(&pw, "correct horse\n").unwrap();
    let avocado = avocado_tests::nodes::avocado_exe();
    let made = run(Command::new(&avocado)
        .args(["--json", "key", "new", "ours", "--password-file"])
        .arg(&pw)
        .arg("--keystore-dir")
        .arg(&dir));
    let made: serde_json::Value = serde_json::from_str(made.trim()).unwrap();
    let ours: Address = made["address"].as_str().unwrap().parse().unwrap();
    let read = run(Command::new(cast())
        .args(["wallet", "address", "--password", "correct horse", "--keystore"])
        .arg(dir.join("ours")));
    assert_eq!(plain(&read).trim().parse::<Address>().unwrap(), ours);

    let key = "0x0123456789012345678901234567890123456789012345678901234567890123";
    run(Command::new(cast())
        .args([
            "wallet",
            "import",
            "theirs",
            "--private-key",
            key,
            "--unsafe-password",
            "correct horse",
            "--keystore-dir",
        ])
        .arg(&dir));
    let loaded = run(Command::new(&avocado)
        .args(["key", "address", "--account", "theirs", "--password-file"])
        .arg(&pw)
        .arg("--keystore-dir")
        .arg(&dir));
    let expected = avocado_client::keys::parse_private_key(key).unwrap().address();
    assert_eq!(loaded.trim().parse::<Address>().unwrap(), expected);
    let _ = std::fs::remove_dir_all(&dir);
}
