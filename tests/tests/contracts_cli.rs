//! `avocado contracts status|keepalive|cache-bid` as a process against the devnet: the judge's
//! Stylus version, time left before expiry and cache state as ArbWasm and ArbWasmCache report
//! them; a keepalive refused before 31 days and accepted after; a cache bid through the chain's
//! cache manager; a Stylus version bump and an expiry seen by `status`.

use std::process::Command;

use alloy_provider::{Provider, ProviderBuilder};
use avocado_tests::nodes::{avocado_exe, TestChain};
use serde_json::Value;

/// Runs `avocado --json <args>`: (success, stdout as JSON or Null, stderr).
async fn avocado(args: Vec<String>) -> (bool, Value, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(avocado_exe()).arg("--json").args(&args).output().expect("avocado runs");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
        (out.status.success(), json, String::from_utf8_lossy(&out.stderr).to_string())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts_status_keepalive_and_cache_bid() {
    let chain = TestChain::start().await;
    if !chain.can_travel() {
        eprintln!("skipped: needs the embedded devnet to move time");
        return chain.stop().await;
    }
    let judge = chain.judge.to_string();
    let rpc = chain.rpc.clone();
    let key = avocado_devnet::cli::DEV_KEY.to_string();
    let status = || {
        let args = vec!["contracts".into(), "status".into(), "--rpc-url".into(), rpc.clone(), judge.clone()];
        async move {
            let (ok, json, err) = avocado(args).await;
            assert!(ok, "{err}");
            json[0].clone()
        }
    };
    let with_key = |cmd: &str, extra: &[&str]| {
        let mut args: Vec<String> = vec!["contracts".into(), cmd.into(), "--rpc-url".into(), rpc.clone()];
        args.extend(["--private-key".to_string(), key.clone(), judge.clone()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        avocado(args)
    };

    // Just activated: version 2, a year to live minus the part of the hour already gone (Nitro
    // records the activation hour), not cached.
    let s = status().await;
    assert_eq!(s["activated"], true);
    assert_eq!(s["stylusVersion"], 2);
    assert_eq!(s["chainStylusVersion"], 2);
    assert_eq!(s["cached"], false);
    let left = s["timeLeftSecs"].as_u64().unwrap();
    assert!(left > 365 * 86_400 - 3_600 && left <= 365 * 86_400, "{left}");

    // Too soon for a keepalive: one readable line, exit status 1.
    let (ok, _, err) = with_key("keepalive", &[]).await;
    assert!(!ok);
    assert!(err.contains("too soon for a keepalive"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // A bid of 0 caches it while the cache has room; a second bid is refused.
    let (ok, json, err) = with_key("cache-bid", &["--bid", "0"]).await;
    assert!(ok, "{err}");
    assert_eq!(json["paid"], "0x0");
    assert_eq!(status().await["cached"], true);
    let (ok, _, err) = with_key("cache-bid", &["--bid", "0"]).await;
    assert!(!ok);
    assert!(err.contains("already cached"), "{err}");

    // After 31 days the keepalive is accepted and the clock restarts.
    chain.travel(31 * 86_400).await;
    let (ok, json, err) = with_key("keepalive", &[]).await;
    assert!(ok, "{err}");
    let paid = alloy_primitives::U256::from_str_radix(json["paid"].as_str().unwrap().trim_start_matches("0x"), 16);
    assert!(paid.unwrap() > alloy_primitives::U256::ZERO);
    let left = status().await["timeLeftSecs"].as_u64().unwrap();
    assert!(left > 365 * 86_400 - 3_600 - 60, "{left}");

    // An ArbOS upgrade to Stylus version 3: the judge needs activating again.
    let provider = ProviderBuilder::new().connect_http(chain.rpc.parse().unwrap());
    let _: Value = provider.raw_request("devnet_setStylusVersion".into(), (3,)).await.unwrap();
    let s = status().await;
    assert_eq!((s["activated"].clone(), s["needsUpgrade"].clone()), (Value::Bool(false), Value::Bool(true)));
    assert_eq!((s["stylusVersion"].clone(), s["chainStylusVersion"].clone()), (Value::from(2), Value::from(3)));
    let _: Value = provider.raw_request("devnet_setStylusVersion".into(), (2,)).await.unwrap();

    // A year and a day later it has expired.
    chain.travel(366 * 86_400).await;
    let s = status().await;
    assert_eq!((s["activated"].clone(), s["expired"].clone()), (Value::Bool(false), Value::Bool(true)));
    chain.stop().await;
}
