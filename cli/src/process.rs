//! Running `avocado node` as a child process: what the demo, the benchmark and the end-to-end
//! tests do to get real nodes talking over loopback.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use anyhow::{bail, Context, Result};

use avocado_client::app_client::AppClient;
use avocado_client::service::read_info;

/// How to start a node process.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// The `avocado` executable.
    pub exe: PathBuf,
    /// Data folder.
    pub data_dir: PathBuf,
    /// Participant key, hex (passed through the environment, never the command line).
    pub private_key: String,
    /// Chain RPC URL; `None` runs the node off chain (chain id 412346, no watchtower).
    pub rpc_url: Option<String>,
    /// Judge address.
    pub judge: Address,
    /// Further flags for `avocado node`.
    pub extra: Vec<String>,
    /// Peer API port (0: any; set to the bound port once started, so a restart keeps it).
    pub peer_port: u16,
    /// App API port (likewise).
    pub app_port: u16,
    /// The open-files limit (soft and hard) the process starts with; `None` inherits this
    /// process's. Tests use it to flood a node past its limit.
    pub nofile_limit: Option<u64>,
}

/// A running node process.
pub struct NodeProcess {
    /// How it was started (to restart it).
    pub spec: NodeSpec,
    child: Option<Child>,
    /// Its app API.
    pub api: AppClient,
    /// Its peer URL.
    pub peer_url: String,
    /// Its participant address.
    pub address: Address,
}

impl NodeProcess {
    /// Starts the node and waits until both its APIs listen.
    pub async fn spawn(mut spec: NodeSpec) -> Result<Self> {
        std::fs::create_dir_all(&spec.data_dir)?;
        let info_path = spec.data_dir.join("node.json");
        let _ = std::fs::remove_file(&info_path);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(spec.data_dir.join("node.log"))
            .context("cannot open the node's log")?;
        let mut cmd = Command::new(&spec.exe);
        cmd.arg("node")
            .arg("--data-dir")
            .arg(&spec.data_dir)
            .args(match &spec.rpc_url {
                Some(url) => ["--rpc-url".to_string(), url.clone()],
                None => ["--chain-id".to_string(), "412346".to_string()],
            })
            .arg("--judge")
            .arg(spec.judge.to_string())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", spec.peer_port))
            .arg("--app-listen")
            .arg(format!("127.0.0.1:{}", spec.app_port))
            .args(&spec.extra)
            .env("AVOCADO_PRIVATE_KEY", &spec.private_key)
            .env_remove("ETH_KEYSTORE")
            .env_remove("ETH_KEYSTORE_ACCOUNT")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        #[cfg(unix)]
        if let Some(limit) = spec.nofile_limit {
            use std::os::unix::process::CommandExt;
            let lim = libc::rlimit { rlim_cur: limit as libc::rlim_t, rlim_max: limit as libc::rlim_t };
            // SAFETY: between fork and exec, only setrlimit (async-signal-safe) runs.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().with_context(|| format!("cannot start {}", spec.exe.display()))?;
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(spec.data_dir.join("node.log")).unwrap_or_default();
                bail!("the node exited at start ({status}): {}", log.trim());
            }
            if let Ok(info) = read_info(&spec.data_dir) {
                let api = AppClient::from_data_dir(&spec.data_dir)?;
                if api.info().await.is_ok() {
                    spec.peer_port = port_of(&info.peer_url);
                    spec.app_port = port_of(&info.app_url);
                    return Ok(Self { spec, child: Some(child), api, peer_url: info.peer_url, address: info.address });
                }
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                bail!("the node did not start within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the process at once (SIGKILL): nothing gets to flush or say goodbye.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the node again with the same data folder (new ports).
    pub async fn restart(&mut self) -> Result<()> {
        self.kill();
        let again = Self::spawn(self.spec.clone()).await?;
        *self = again;
        Ok(())
    }

    /// The node's data folder.
    pub fn data_dir(&self) -> &Path {
        &self.spec.data_dir
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse().ok()).unwrap_or(0)
}
