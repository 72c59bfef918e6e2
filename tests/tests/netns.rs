//! The baseline of issue 7 with every validator in its own network namespace, the namespaces
//! joined by veth pairs on a bridge, and 20 ms of `tc netem` delay on each node's interface (20
//! ms each way between two nodes, 40 ms round trip): the closest this machine gets to separate
//! hosts. See `tally_tests::netns` for the layout.
//!
//! Where it cannot run (not root, no `ip netns`, no bridge or veth, no `sch_netem` in the
//! kernel) it prints `skipped: <why>` and passes. `TALLY_NETNS_WITHOUT_NETEM=1` runs it in the
//! namespaces without the delay when netem is what is missing, so the rest is still exercised.
//! The load lasts `TALLY_NETNS_SECS` seconds (default 30).

use std::time::{Duration, Instant};
use tally_tests::checks::longest_gap;
use tally_tests::netns::{NetnsNet, Options};
use tally_tests::scenario::{fund, seed, Load};
use tally_tests::Net;

/// A nonce window deep enough to fund a hundred accounts from ten development accounts at once;
/// and no RPC rate limit: the nodes exempt only loopback clients, and here the test process
/// (the checkers' thousands of `getTransaction` calls) comes from the bridge's 10.77.r.254.
const SETTINGS: &[&str] = &["mempool.future_nonces=128", "rpc.rate_limit_per_second=0"];

/// The whole test, setup to teardown, must be done within this.
const LIMIT: Duration = Duration::from_secs(300);

/// Waits (60 s at most: the delay slows the handshakes) until every node sees the other three
/// and has committed block 2.
async fn wait_connected(net: &Net) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut seen = Vec::new();
        for i in 0..net.nodes.len() {
            seen.push(net.client(i).status().await.map(|s| (s.peers, s.latest_height)).unwrap_or((0, 0)));
        }
        if seen.iter().all(|(peers, height)| *peers == 3 && *height >= 2) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the namespaced network did not connect and commit block 2 within 60 s: (peers, height) per node \
             {seen:?}; logs in {}",
            net.dir().display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn baseline_in_namespaces(secs: u64) {
    let options = Options {
        validators: 4,
        settings: SETTINGS.iter().map(|s| s.to_string()).collect(),
        delay: Duration::from_millis(20),
        without_netem_if_unavailable: std::env::var("TALLY_NETNS_WITHOUT_NETEM").is_ok_and(|v| v == "1"),
    };
    let net = match NetnsNet::start(&options) {
        Ok(net) => net,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let started = Instant::now(); // after the turn: the harness runs one network at a time
    eprintln!("netns: {}", net.describe());
    wait_connected(&net).await;
    eprintln!("netns: connected and at block 2 {:?} after launch", started.elapsed());
    let (keys, mut acknowledged) = fund(&net, 100).await;
    let from_height = net.height(0).await.unwrap_or_else(|| panic!("node 0 does not answer"));
    let load = Load::start(&net, &keys, 4, Duration::from_millis(100), seed());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let outcome = load.finish().await;
    let committed = outcome.acknowledged.len();
    eprintln!(
        "netns baseline: {committed} transfers final in {secs} s of load ({:.1}/s)",
        committed as f64 / secs as f64
    );
    acknowledged.extend(outcome.acknowledged);
    let lost = outcome.lost.len();

    let checking = Instant::now();
    let mut top = 0;
    for i in 0..net.nodes.len() {
        top = top.max(net.height(i).await.unwrap_or(0));
    }
    net.wait_height_within(top, Duration::from_secs(60)).await;
    let snapshot =
        net.check_all(&acknowledged).await.unwrap_or_else(|e| panic!("netns baseline: checkers failed:\n{e}"));
    let chain = &snapshot.chains[0].1;
    let from = (from_height.max(1) - 1) as usize;
    let gap = longest_gap(&chain[from.min(chain.len())..]);
    eprintln!(
        "netns baseline: transfers acknowledged {}, lost {lost}, longest gap between blocks {gap:?} (heights \
         {from_height}..={}); checkers took {:?}; delay {:?}; wall time {:?}",
        acknowledged.len(),
        chain.len(),
        checking.elapsed(),
        net.delay,
        started.elapsed()
    );
    assert_eq!(lost, 0, "netns baseline: transfers lost");
    assert!(gap < Duration::from_secs(30), "netns baseline: the chain stalled {gap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_in_network_namespaces_with_20ms_netem() {
    let secs = std::env::var("TALLY_NETNS_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    // On timeout the scenario's future is dropped, and with it the network: nodes killed,
    // namespaces and interfaces removed.
    if tokio::time::timeout(LIMIT, baseline_in_namespaces(secs)).await.is_err() {
        panic!("the namespaced baseline did not finish within {LIMIT:?}");
    }
}
