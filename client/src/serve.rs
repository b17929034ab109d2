//! Serving HTTP within bounds, so that nobody who can open TCP connections to a node can blind
//! it.
//!
//! A node's peer port is public: anyone may connect. Every connection costs a file descriptor,
//! and the process has a limited number of them, shared with what keeps the node safe — the store,
//! the app API, and the watchtower's calls to the chain, which must answer a stale challenge
//! before its deadline. So the listeners here:
//! - cap the connections they hold, in total and per remote IP; a connection beyond a cap is
//!   accepted and closed at once (closing it is what frees the kernel's queue);
//! - close a connection that does not send a complete request head within
//!   [`ServeLimits::header_timeout`] (slowloris). hyper's header timer also runs while a
//!   keep-alive connection waits for its next request, so the same timeout closes idle
//!   keep-alive connections;
//! - give each request [`ServeLimits::request_timeout`] to be read and answered (a slowly sent
//!   body, a handler stuck on a lock);
//! - log, at most once per [`SHED_LOG_EVERY`], how many connections they turned away.
//!
//! [`raise_fd_limit`] raises the process's descriptor limit to its hard limit, and
//! [`fit_caps`] keeps the peer listener's cap at most half of it, so that whatever the peer
//! load, descriptors remain for everything else.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How often, at most, a listener logs that it sheds load.
pub const SHED_LOG_EVERY: Duration = Duration::from_secs(10);

/// The fewest descriptors a node runs with: below this, the caps that keep descriptors for the
/// store, the app API and the watchtower would leave the peer API nearly nothing.
pub const MIN_FD_LIMIT: u64 = 64;

/// The bounds a listener serves within.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeLimits {
    /// Connections held at once, in total.
    pub max_connections: usize,
    /// Connections held at once from one remote IP address.
    pub max_per_ip: usize,
    /// How long a connection may take to send a request's head; also how long an idle
    /// keep-alive connection is kept.
    pub header_timeout: Duration,
    /// How long one request may take, from its head to the end of the answer.
    pub request_timeout: Duration,
}

impl ServeLimits {
    /// The peer API's defaults: generous for nodes (a few connections each), small against a
    /// flood.
    pub fn peer() -> Self {
        Self {
            max_connections: 512,
            max_per_ip: 32,
            header_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }

    /// The app API's (loopback, local programs: its event streams are long-lived, so no
    /// request timeout to speak of).
    pub fn app() -> Self {
        Self {
            max_connections: 64,
            max_per_ip: 64,
            header_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// Raises this process's soft limit of open files to its hard limit; returns the soft limit in
/// force afterwards (unchanged when raising fails, e.g. on a system refusing the hard value).
pub fn raise_fd_limit() -> std::io::Result<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `lim` is a valid, writable rlimit.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            // SAFETY: `raised` is a valid rlimit, at most the hard limit.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every Unix
        Ok(lim.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    {
        Ok(u64::MAX)
    }
}

/// Why the caps do not fit the descriptor limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The process may open too few files to run a node safely.
    #[error(
        "this process may open only {limit} files; a node needs at least {MIN_FD_LIMIT} (raise it with `ulimit -n`)"
    )]
    TooFewFiles {
        /// The soft limit.
        limit: u64,
    },
    /// A cap is zero.
    #[error("--max-peer-connections and --max-peer-connections-per-ip must be at least 1")]
    ZeroCap,
}

/// Fits the peer listener's caps to a descriptor limit: the total cap is lowered to half the
/// limit when above it (the other half stays for the store, the app API and the chain client),
/// and the per-IP cap to the total. Returns the caps and whether the total was lowered.
pub fn fit_caps(mut limits: ServeLimits, fd_limit: u64) -> Result<(ServeLimits, bool), LimitError> {
    if limits.max_connections == 0 || limits.max_per_ip == 0 {
        return Err(LimitError::ZeroCap);
    }
    if fd_limit < MIN_FD_LIMIT {
        return Err(LimitError::TooFewFiles { limit: fd_limit });
    }
    let half = usize::try_from(fd_limit / 2).unwrap_or(usize::MAX);
    let lowered = limits.max_connections > half;
    limits.max_connections = limits.max_connections.min(half);
    limits.max_per_ip = limits.max_per_ip.min(limits.max_connections);
    Ok((limits, lowered))
}

/// Counts what a listener turned away and logs it now and then.
struct Shed {
    name: &'static str,
    count: AtomicU64,
    last_log: Mutex<Option<Instant>>,
}

impl Shed {
    fn note(&self, why: &str) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last_log.lock().expect("not poisoned");
        if last.is_none_or(|t| t.elapsed() >= SHED_LOG_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(listener = self.name, turned_away = n, "shedding load: {why}");
        }
    }
}

/// Open connections per remote IP.
type PerIp = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One connection's place in its IP's count, given back when the connection ends.
struct IpSlot {
    map: PerIp,
    ip: IpAddr,
}

impl IpSlot {
    fn take(map: &PerIp, ip: IpAddr, max: usize) -> Option<Self> {
        let mut m = map.lock().expect("not poisoned");
        let n = m.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Self { map: map.clone(), ip })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut m = self.map.lock().expect("not poisoned");
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves; then stops
/// accepting, lets open connections finish their request (up to 5 s) and returns.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let router = router.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_ip: PerIp = Default::default();
    let shed = Arc::new(Shed { name, count: AtomicU64::new(0), last_log: Mutex::new(None) });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors (or another transient failure): the connection waits in
                    // the kernel's queue; try again shortly.
                    shed.note(&format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            shed.note(&format!("{} connections open, the cap", limits.max_connections));
            continue;
        };
        let Some(ip_slot) = IpSlot::take(&per_ip, remote.ip(), limits.max_per_ip) else {
            drop(stream);
            shed.note(&format!("{} connections open from {}, the per-IP cap", limits.max_per_ip, remote.ip()));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let header_timeout = limits.header_timeout;
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _held = (slot, ip_slot);
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(listener = name, %remote, "connection ended: {e}");
                    }
                }
                _ = async { drop(stop.wait_for(|s| *s).await) } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection gives its permit back when it ends.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(6), slots.acquire_many(all)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    fn limits(max: usize, per_ip: usize, header_ms: u64) -> ServeLimits {
        ServeLimits {
            max_connections: max,
            max_per_ip: per_ip,
            header_timeout: Duration::from_millis(header_ms),
            request_timeout: Duration::from_secs(5),
        }
    }

    async fn start(l: ServeLimits) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", get(|| async { "ok" }));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve("test", listener, router, l, async move {
            let _ = rx.await;
        }));
        (addr, tx)
    }

    /// Reads until the server closes the connection; `None` if it stays open past `within`.
    async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
        let mut got = Vec::new();
        let r = tokio::time::timeout(within, stream.read_to_end(&mut got)).await;
        match r {
            Ok(_) => Some(got),
            Err(_) => None,
        }
    }

    async fn get_ok(addr: std::net::SocketAddr) -> bool {
        let Ok(mut s) = TcpStream::connect(addr).await else { return false };
        if s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.is_err() {
            return false;
        }
        let got = closed_within(&mut s, Duration::from_secs(3)).await.unwrap_or_default();
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200")
    }

    /// A slowloris connection (half a request head, then nothing) is closed after the header
    /// timeout, and the listener still serves others.
    #[tokio::test]
    async fn a_half_sent_header_is_dropped_after_the_header_timeout() {
        let (addr, _stop) = start(limits(8, 8, 300)).await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        let started = Instant::now();
        let answer = closed_within(&mut slow, Duration::from_secs(5)).await;
        assert!(answer.is_some(), "the half-sent request is still open after 5 s");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(250), "closed before the timeout: {took:?}");
        assert!(took < Duration::from_secs(3), "closed late: {took:?}");
        // An idle connection (nothing sent at all) goes the same way.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        assert!(closed_within(&mut idle, Duration::from_secs(5)).await.is_some(), "idle connection kept");
        assert!(get_ok(addr).await, "the listener still answers");
    }

    /// Beyond the per-IP cap a connection is closed at once; one freed slot serves again.
    #[tokio::test]
    async fn connections_beyond_a_cap_are_closed_at_once() {
        let (addr, _stop) = start(limits(100, 3, 10_000)).await;
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(TcpStream::connect(addr).await.unwrap());
        }
        // Let the listener accept them.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut extra = TcpStream::connect(addr).await.unwrap();
        let closed = closed_within(&mut extra, Duration::from_secs(2)).await;
        assert_eq!(closed, Some(Vec::new()), "the fourth connection from one IP is closed without an answer");
        for h in &mut held {
            assert!(closed_within(h, Duration::from_millis(50)).await.is_none(), "a held connection was closed");
        }
        held.pop();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(get_ok(addr).await, "a freed slot serves again");
    }

    /// The total cap holds across addresses (here all loopback, so the total cap is below the
    /// per-IP one to be the one that bites).
    #[tokio::test]
    async fn the_total_cap_holds() {
        let (addr, _stop) = start(limits(2, 10, 10_000)).await;
        let _a = TcpStream::connect(addr).await.unwrap();
        let _b = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!get_ok(addr).await, "a third connection was served");
    }

    #[test]
    fn caps_fit_the_descriptor_limit() {
        let (l, lowered) = fit_caps(ServeLimits::peer(), 20_000).unwrap();
        assert_eq!((l.max_connections, l.max_per_ip, lowered), (512, 32, false));
        let (l, lowered) = fit_caps(ServeLimits::peer(), 256).unwrap();
        assert_eq!((l.max_connections, l.max_per_ip, lowered), (128, 32, true));
        let (l, _) = fit_caps(limits(512, 200, 1), 256).unwrap();
        assert_eq!(l.max_per_ip, 128, "the per-IP cap never exceeds the total");
        assert_eq!(fit_caps(ServeLimits::peer(), 32), Err(LimitError::TooFewFiles { limit: 32 }));
        assert_eq!(fit_caps(limits(0, 1, 1), 1024), Err(LimitError::ZeroCap));
        assert!(raise_fd_limit().unwrap() >= MIN_FD_LIMIT);
    }
}
