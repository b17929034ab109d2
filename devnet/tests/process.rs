//! The `avocado-devnet` binary as a user runs it: starts on a port, prints its accounts, saves
//! its chain to `--state` on SIGTERM and loads it back on the next start; `--block-time` mines.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy_primitives::{address, U256};
use alloy_provider::{Provider, ProviderBuilder};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_avocado-devnet"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn connect(port: u16) -> impl Provider {
    let p = ProviderBuilder::new().connect_http(format!("http://127.0.0.1:{port}").parse().unwrap());
    let t = Instant::now();
    while p.get_chain_id().await.is_err() {
        assert!(t.elapsed() < Duration::from_secs(20), "devnet did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    p
}

fn terminate(child: Child) -> String {
    send_sigterm(child.id());
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn send_sigterm(pid: u32) {
    let ok = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success();
    assert!(ok);
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("avocado-devnet-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("chain.json");
    let who = address!("00000000000000000000000000000000000000a1");
    let port = free_port();
    let child = spawn(&["--port", &port.to_string(), "--state", state.to_str().unwrap(), "--chain-id", "777"]);
    let p = connect(port).await;
    let _: serde_json::Value = p.raw_request("anvil_setBalance".into(), (who, U256::from(12345))).await.unwrap();
    let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await.unwrap();
    let out = terminate(child);
    assert!(out.contains("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"), "anvil's first account is printed: {out}");
    assert!(out.contains("saved state"), "{out}");

    let port = free_port();
    let child = spawn(&["--port", &port.to_string(), "--state", state.to_str().unwrap()]);
    let p = connect(port).await;
    assert_eq!(p.get_chain_id().await.unwrap(), 777);
    assert_eq!(p.get_balance(who).await.unwrap(), U256::from(12345));
    assert_eq!(p.get_block_number().await.unwrap(), 1);
    terminate(child);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn block_time_mines_empty_blocks() {
    let port = free_port();
    let child = spawn(&["--port", &port.to_string(), "--block-time", "1"]);
    let p = connect(port).await;
    let t = Instant::now();
    while p.get_block_number().await.unwrap() < 2 {
        assert!(t.elapsed() < Duration::from_secs(10), "no blocks were mined");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    terminate(child);
}
