//! The baseline of issue 7 with every validator in its own network namespace, the namespaces
//! joined by veth pairs on a bridge, and 20 ms of `tc netem` delay on each node's interface (20
//! ms each way between two nodes, 40 ms round trip): the closest this machine gets to separate
//! hosts. See `tally_tests::netns` for the layout.
//!
//! Where it cannot run (not root, no `ip netns`, no bridge or veth, no `sch_netem` in the
//! kernel) it prints `skipped: <why>` and passes. `TALLY_NETNS_WITHOUT_NETEM=1` runs it in the
//! namespaces without the delay when netem is what is missing, so the rest is still exercised.
//! The load lasts `TALLY_NETNS_SECS` seconds (default 30).

use ed25519_dalek::SigningKey;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally_ledger::{Hash, PublicKey, Transfer};
use tally_rpc::{RpcClient, Wait};
use tally_tests::chain::{dev_key, transfer};
use tally_tests::checks::longest_gap;
use tally_tests::netns::{NetnsNet, Options};
use tally_tests::Net;

/// A nonce window deep enough to fund a hundred accounts from ten development accounts at once;
/// and no RPC rate limit: the nodes exempt only loopback clients, and here the test process
/// (the checkers' thousands of `getTransaction` calls) comes from the bridge's 10.77.r.254.
const SETTINGS: &[&str] = &["mempool.future_nonces=128", "rpc.rate_limit_per_second=0"];

/// Each funded account starts with this balance.
const FUNDING: u64 = 1_000_000;

/// The whole test, setup to teardown, must be done within this.
const LIMIT: Duration = Duration::from_secs(300);

/// A small xorshift generator: seeded, so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        (self.next() >> 32) % n
    }
}

/// The seed of this run: `TALLY_SEED` or a fixed default; printed so a run can be repeated.
fn seed() -> u64 {
    let seed = std::env::var("TALLY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_7a11);
    eprintln!("seed {seed} (set TALLY_SEED to repeat)");
    seed
}

/// Account `i`'s key (not a development key, so it starts empty).
fn account_key(i: usize) -> SigningKey {
    SigningKey::from_bytes(&Hash::digest(format!("tally-scenario-account-{i}").as_bytes()).0)
}

fn public(key: &SigningKey) -> PublicKey {
    PublicKey::from(&key.verifying_key())
}

fn client(url: &str) -> RpcClient {
    RpcClient::new(url).with_timeout(Duration::from_secs(6))
}

fn urls(net: &Net) -> Vec<String> {
    net.nodes.iter().map(|n| n.url()).collect()
}

/// Resends `t` (idempotent) until some node says it is committed, moving on to the next node
/// when one does not answer or still holds it pending. False if it is not final within `limit`.
async fn confirm(urls: &[String], node: &mut usize, t: &Transfer, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let bytes = t.encode();
    while Instant::now() < deadline {
        match client(&urls[*node]).send_transaction(&bytes, Wait::Committed(Duration::from_secs(3))).await {
            Ok(result) if result.status.as_str() == "committed" => return true,
            Ok(_) => *node = (*node + 1) % urls.len(),
            Err(_) => {
                *node = (*node + 1) % urls.len();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    false
}

/// Submits `t` to the first node that accepts it, starting at `*node`.
async fn submit(urls: &[String], node: &mut usize, t: &Transfer) {
    for _ in 0..urls.len() {
        if client(&urls[*node]).send_transaction(&t.encode(), Wait::None).await.is_ok() {
            return;
        }
        *node = (*node + 1) % urls.len();
    }
}

/// Funds `count` accounts with [`FUNDING`] each from the ten development accounts in one
/// JSON-RPC batch per hundred; returns their keys and the funding transfers, all acknowledged
/// as committed.
async fn fund(net: &Net, count: usize) -> (Vec<SigningKey>, Vec<Hash>) {
    let keys: Vec<SigningKey> = (0..count).map(account_key).collect();
    let transfers: Vec<Transfer> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| transfer(&dev_key((i % 10) as u32), public(key), FUNDING, 1, (i / 10) as u64))
        .collect();
    let started = Instant::now();
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().unwrap();
    for chunk in transfers.chunks(100) {
        let requests: Vec<serde_json::Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, t)| {
                serde_json::json!({"jsonrpc": "2.0", "id": i, "method": "sendTransaction",
                    "params": [hex::encode(t.encode())]})
            })
            .collect();
        let response = http
            .post(net.nodes[0].url())
            .header("content-type", "application/json")
            .body(serde_json::Value::Array(requests).to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("funding batch: {e}"));
        let text = response.text().await.unwrap_or_else(|e| panic!("funding batch: {e}"));
        assert!(!text.contains("\"error\""), "funding batch refused: {text}");
    }
    let urls = urls(net);
    let mut node = 0;
    for t in &transfers {
        assert!(confirm(&urls, &mut node, t, Duration::from_secs(60)).await, "funding transfer {} not final", t.hash());
    }
    eprintln!("funded {count} accounts in {:?}", started.elapsed());
    (keys, transfers.iter().map(Transfer::hash).collect())
}

/// What the load saw.
#[derive(Default)]
struct Outcome {
    /// Transfers a node acknowledged as committed.
    acknowledged: Vec<Hash>,
    /// Transfers accepted for sending that no node confirmed within a minute.
    lost: Vec<Hash>,
}

/// Load between funded accounts: `workers` tasks, each owning the senders `i ≡ w (mod
/// workers)`; every round a worker submits one transfer from each of its senders, waits until
/// each is final, then rests `rest`. Stops after the round in flight when told to.
struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<Outcome>>,
}

impl Load {
    fn start(net: &Net, keys: &[SigningKey], workers: usize, rest: Duration, seed: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let urls = urls(net);
        let recipients: Arc<Vec<PublicKey>> = Arc::new(keys.iter().map(public).collect());
        let handles = (0..workers)
            .map(|w| {
                let senders: Vec<SigningKey> = keys.iter().skip(w).step_by(workers).cloned().collect();
                let (stop, urls, recipients) = (stop.clone(), urls.clone(), recipients.clone());
                tokio::spawn(async move {
                    let mut rng = Rng::new(seed ^ (w as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                    let mut nonces = vec![0u64; senders.len()];
                    let mut node = w % urls.len();
                    let mut outcome = Outcome::default();
                    while !stop.load(Ordering::SeqCst) {
                        let round: Vec<Transfer> = senders
                            .iter()
                            .zip(&nonces)
                            .map(|(key, nonce)| {
                                let to = recipients[rng.below(recipients.len() as u64) as usize];
                                transfer(key, to, 1 + rng.below(100), 1, *nonce)
                            })
                            .collect();
                        for t in &round {
                            submit(&urls, &mut node, t).await;
                            node = (node + 1) % urls.len();
                        }
                        for (i, t) in round.iter().enumerate() {
                            if confirm(&urls, &mut node, t, Duration::from_secs(60)).await {
                                outcome.acknowledged.push(t.hash());
                                nonces[i] += 1;
                            } else {
                                outcome.lost.push(t.hash());
                                break; // the nonces are no longer known: stop this worker
                            }
                        }
                        if !outcome.lost.is_empty() {
                            break;
                        }
                        tokio::time::sleep(rest).await;
                    }
                    outcome
                })
            })
            .collect();
        Load { stop, workers: handles }
    }

    async fn finish(self) -> Outcome {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = Outcome::default();
        for worker in self.workers {
            let outcome = worker.await.unwrap_or_else(|e| panic!("load worker: {e}"));
            all.acknowledged.extend(outcome.acknowledged);
            all.lost.extend(outcome.lost);
        }
        all
    }
}

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
