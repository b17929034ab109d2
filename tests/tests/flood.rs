//! End to end: a node whose public peer port is flooded with idle connections, more than it
//! has file descriptors, still answers its app, and its watchtower still answers a stale
//! challenge before the deadline.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use avocado_client::signed::SignedState;
use avocado_codec::phase;
use avocado_tests::nodes::{Net, NetOptions};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(30);

/// The flooded node's open-files limit (soft and hard: it cannot raise it).
const FD_LIMIT: u64 = 256;

/// Connections the flood keeps trying to hold: well above the limit.
const FLOOD: usize = 600;

/// Opens connections to `addr` until `stop`, keeping up to [`FLOOD`] of them and replacing
/// the oldest; at most 120 rounds of 100 (it stops by itself). Returns how many it opened.
async fn flood(addr: String, stop: Arc<AtomicBool>, opened: Arc<AtomicUsize>) {
    let mut held: std::collections::VecDeque<TcpStream> = Default::default();
    for _ in 0..120 {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        for _ in 0..100 {
            if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(&addr)).await {
                opened.fetch_add(1, Ordering::SeqCst);
                held.push_back(s);
            }
            if held.len() > FLOOD {
                held.pop_front();
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flooded_node_still_answers_a_stale_challenge_and_its_app() {
    let opts = NetOptions {
        nofile_limit: vec![Some(FD_LIMIT)],
        // The total cap (lowered to half the limit) is the one that bites, not the per-IP one:
        // the flood comes from loopback like everything else here.
        per_node: vec![vec!["--max-peer-connections-per-ip".into(), "10000".into()]],
        ..Default::default()
    };
    let mut net = Net::start("flood", 2, opts).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = net.nodes[0].data_dir().to_path_buf();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700, "the data folder is private");
        assert_eq!(mode(&dir.join("node.redb")), 0o600, "the store is private");
    }
    let (id, _) = net.open(11, 60, b"genesis").await;
    for i in 1..=5u64 {
        let data = alloy_primitives::Bytes::from(format!("state {i}").into_bytes());
        net.api((i % 2) as usize).update(id, data, false, WAIT).await.unwrap().signed().unwrap();
    }
    net.wait_for_version(0, id, 5).await;
    let stale: SignedState = (&net.api(1).state(id, 2).await.unwrap()).try_into().unwrap();
    let params = net.params(1, id).await;
    // Participant 1's watchtower would answer its own cheat: out of the way.
    net.nodes[1].kill();

    let addr = net.nodes[0].peer_url.trim_start_matches("http://").to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicUsize::new(0));
    let flooding = tokio::spawn(flood(addr, stop.clone(), opened.clone()));
    while opened.load(Ordering::SeqCst) < FLOOD {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // While the flood holds more connections than the node has descriptors: its app answers...
    let started = Instant::now();
    // (Bounded waits: a blinded node fails the test rather than hanging it.)
    for _ in 0..10 {
        let info = tokio::time::timeout(WAIT, net.api(0).info()).await;
        info.expect("the app API answers under the flood").unwrap();
        let view = tokio::time::timeout(WAIT, net.api(0).channel(id)).await;
        let view = view.expect("the app API answers under the flood").unwrap();
        assert_eq!(view.latest.unwrap().state.version, 5);
    }
    println!("10 app API round trips under the flood in {:?}", started.elapsed());
    // ...and a stale challenge is answered with the latest state before the deadline.
    let posted = Instant::now();
    net.chain.challenge_with(&net.keys[1], params, &stale).await.unwrap();
    let mut answered = None;
    for _ in 0..800 {
        let st = net.chain.status(id).await;
        if st.version == 5 {
            assert_eq!(st.phase, phase::CHALLENGE, "answered within the dispute window");
            answered = Some(posted.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let opened_total = opened.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    flooding.await.unwrap();
    let answered = answered.expect("the flooded node's watchtower answered the stale challenge");
    println!(
        "stale challenge answered in {answered:?} while {opened_total} connections were opened against a node \
         limited to {FD_LIMIT} files"
    );
    assert!(opened_total > FD_LIMIT as usize, "the flood exceeded the node's descriptors");
    let log = std::fs::read_to_string(net.nodes[0].data_dir().join("node.log")).unwrap();
    assert!(log.contains("peer connection cap lowered"), "the lowered cap is logged: {log}");
    assert!(log.contains("shedding load"), "the node says it sheds load: {log}");
    assert!(log.matches("shedding load").count() < 20, "load shedding is logged rate-limited: {log}");
    // The flood gone, the node serves as before.
    net.api(0).info().await.unwrap();
    net.stop().await;
}
