//! The `avocado` command's own behaviour: keys, and one clear line on bad input.

use std::process::{Command, Output};

fn avocado(args: &[&str]) -> Output {
    avocado_env(args, &[])
}

/// Runs `avocado` with standard input not a terminal and only `env` of the key variables set.
fn avocado_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_avocado"));
    cmd.args(args);
    for var in ["AVOCADO_PRIVATE_KEY", "ETH_PASSWORD", "ETH_KEYSTORE", "ETH_KEYSTORE_ACCOUNT", "AVOCADO_KEYSTORE_DIR"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).stdin(std::process::Stdio::null()).output().unwrap()
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
    let out = avocado(&["key", "import", "bob", "--private-key", key, "--password-file", pw, "--keystore-dir", dir]);
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

/// No keystore gets an empty password by accident: without a password file or a terminal the
/// command refuses in one line and writes nothing; an empty password file is refused too; only
/// `--unsafe-empty-password` stores (and opens) a keystore without one. Keystores are 0600 in a
/// 0700 folder, even one that was 0755.
#[test]
fn key_passwords_are_never_empty_unless_asked_and_keystores_are_private() {
    let d = folder("passwords");
    let keystores = d.join("keystores");
    std::fs::create_dir_all(&keystores).unwrap();
    let dir = keystores.to_str().unwrap();
    let empty = d.join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let pw = d.join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

    let err = one_line_error(&avocado(&["key", "new", "a", "--keystore-dir", dir]));
    assert!(err.contains("no password given") && err.contains("--password-file"), "{err}");
    let err = one_line_error(&avocado(&["key", "import", "a", "--private-key", key, "--keystore-dir", dir]));
    assert!(err.contains("no password given"), "{err}");
    let err = one_line_error(&avocado(&[
        "key",
        "new",
        "a",
        "--password-file",
        empty.to_str().unwrap(),
        "--keystore-dir",
        dir,
    ]));
    assert!(err.contains("the password is empty"), "{err}");
    assert!(!keystores.join("a").exists(), "a refused command wrote a keystore");

    // ETH_PASSWORD names the password file, as foundry's tools read it.
    let out = avocado_env(&["key", "new", "a", "--keystore-dir", dir], &[("ETH_PASSWORD", pw.to_str().unwrap())]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&keystores), 0o700, "the keystore folder is private");
        assert_eq!(mode(&keystores.join("a")), 0o600, "the keystore is private");
    }

    // Asked for explicitly, an empty password works both ways.
    let out = avocado(&["key", "import", "e", "--private-key", key, "--unsafe-empty-password", "--keystore-dir", dir]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = one_line_error(&avocado(&["key", "address", "--account", "e", "--keystore-dir", dir]));
    assert!(err.contains("no password given"), "{err}");
    let out = avocado(&["key", "address", "--account", "e", "--unsafe-empty-password", "--keystore-dir", dir]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
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
