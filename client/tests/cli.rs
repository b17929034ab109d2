//! The `avocado` command's own behaviour: keys, and one clear line on bad input.

use std::process::{Command, Output};

fn avocado(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_avocado")).args(args).env_remove("AVOCADO_PRIVATE_KEY").output().unwrap()
}

fn folder(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("avocado-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Fails with exactly one line on stderr, starting with `avocado: `.
fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.starts_with("avocado: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    err
}

#[test]
fn key_new_list_address_and_import() {
    let d = folder("keys");
    let dir = d.to_str().unwrap();
    let pw = d.join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let pw = pw.to_str().unwrap();
    let out = avocado(&["key", "new", "alice", "--password-file", pw, "--keystore-dir", dir]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let address = String::from_utf8_lossy(&out.stdout).split_whitespace().nth(1).unwrap().to_string();
    let out = avocado(&["key", "address", "--account", "alice", "--password-file", pw, "--keystore-dir", dir]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), address);
    let key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
    let out = avocado(&["key", "import", "bob", "--private-key", key, "--keystore-dir", dir]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = avocado(&["--json", "key", "list", "--keystore-dir", dir]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2, "alice and bob, not the password file: {list}");
    assert_eq!(list[0]["name"], "alice");
    assert_eq!(list[1]["name"], "bob");
    // A wrong password, an existing name, a bad key: one line each.
    std::fs::write(d.join("wrong"), "nope\n").unwrap();
    let wrong = d.join("wrong");
    let err = one_line_error(&avocado(&[
        "key",
        "address",
        "--account",
        "alice",
        "--password-file",
        wrong.to_str().unwrap(),
        "--keystore-dir",
        dir,
    ]));
    assert!(err.contains("cannot open keystore"), "{err}");
    let err = one_line_error(&avocado(&["key", "new", "alice", "--keystore-dir", dir]));
    assert!(err.contains("already exists"), "{err}");
    let err = one_line_error(&avocado(&["key", "import", "c", "--private-key", "0x12", "--keystore-dir", dir]));
    assert!(err.contains("not a valid secp256k1 key"), "{err}");
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn commands_without_a_node_or_key_say_so_in_one_line() {
    let d = folder("nonode");
    let err = one_line_error(&avocado(&["channel", "list", "--data-dir", d.to_str().unwrap()]));
    assert!(err.contains("no running node found"), "{err}");
    let err = one_line_error(&avocado(&[
        "node",
        "--judge",
        "0x0000000000000000000000000000000000000001",
        "--chain-id",
        "1",
        "--data-dir",
        d.to_str().unwrap(),
    ]));
    assert!(err.contains("no key given"), "{err}");
    let err = one_line_error(&avocado(&[
        "node",
        "--private-key",
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
        "--judge",
        "0x0000000000000000000000000000000000000001",
        "--rpc-url",
        "http://127.0.0.1:1",
        "--data-dir",
        d.to_str().unwrap(),
    ]));
    assert!(err.contains("chain RPC"), "{err}");
    let _ = std::fs::remove_dir_all(d);
}
