//! The scenario load driver shared by the system tests: funded accounts, a closed-loop load that
//! confirms every transfer it sends, and a JSON-RPC batch helper. Everything goes over RPC.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use tally_ledger::{Hash, PublicKey, Transfer};
use tally_rpc::{RpcClient, Wait};

use crate::chain::{dev_key, transfer};
use crate::Net;

/// Each funded scenario account starts with this balance.
pub const FUNDING: u64 = 1_000_000;

/// How long [`Load`] and [`fund`] wait for one transfer to become final before calling it lost.
const CONFIRM_LIMIT: Duration = Duration::from_secs(60);

/// A small xorshift generator: seeded, so a failing run can be repeated.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is mapped to 1, which xorshift needs).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        (self.next_u64() >> 32) % n
    }
}

/// The seed of this run: `TALLY_SEED` or a fixed default; printed so a run can be repeated.
pub fn seed() -> u64 {
    let seed = std::env::var("TALLY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_7a11);
    eprintln!("seed {seed} (set TALLY_SEED to repeat)");
    seed
}

/// Scenario account `i`'s key (not a development key, so it starts empty).
pub fn account_key(i: usize) -> SigningKey {
    SigningKey::from_bytes(&Hash::digest(format!("tally-scenario-account-{i}").as_bytes()).0)
}

/// The ledger public key of `key`.
pub fn public(key: &SigningKey) -> PublicKey {
    PublicKey::from(&key.verifying_key())
}

/// Every node's RPC URL, in order.
pub fn urls(net: &Net) -> Vec<String> {
    net.nodes.iter().map(|n| n.url()).collect()
}

fn client(url: &str) -> RpcClient {
    RpcClient::new(url).with_timeout(Duration::from_secs(6))
}

/// POSTs a JSON body to `url` and returns the response text; panics when no answer comes.
pub async fn post_json(url: &str, body: &serde_json::Value) -> String {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("http client: {e}"));
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    response.text().await.unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

/// The value of the Prometheus sample `name` (no labels) that the node at `url` serves at
/// `GET /metrics`, if it serves one.
pub async fn metric(url: &str, name: &str) -> Option<f64> {
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().ok()?;
    let text = http.get(format!("{}/metrics", url.trim_end_matches('/'))).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `sendTransaction` requests for `transfers`, as one JSON-RPC batch.
pub fn send_batch(transfers: &[Transfer]) -> serde_json::Value {
    let requests = transfers
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({"jsonrpc": "2.0", "id": i, "method": "sendTransaction",
                "params": [hex::encode(t.encode())]})
        })
        .collect();
    serde_json::Value::Array(requests)
}

/// Resends `t` (idempotent) until some node says it is committed; tries the nodes in turn from
/// `*node`, moving on when one does not answer or still holds it pending. False if it is not
/// final within `limit`.
pub async fn confirm(urls: &[String], node: &mut usize, t: &Transfer, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let bytes = t.encode();
    while Instant::now() < deadline {
        match client(&urls[*node]).send_transaction(&bytes, Wait::Committed(Duration::from_secs(3))).await {
            Ok(result) if result.status.as_str() == "committed" => return true,
            // Still pending there: that node may be cut off, so resend through the next one.
            Ok(_) => *node = (*node + 1) % urls.len(),
            Err(_) => {
                *node = (*node + 1) % urls.len();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    false
}

/// Submits `t` to the first node that accepts it, starting at `*node`; errors are left to
/// [`confirm`], which resends.
pub async fn submit(urls: &[String], node: &mut usize, t: &Transfer) {
    for _ in 0..urls.len() {
        if client(&urls[*node]).send_transaction(&t.encode(), Wait::None).await.is_ok() {
            return;
        }
        *node = (*node + 1) % urls.len();
    }
}

/// Funds `count` scenario accounts with [`FUNDING`] each from the ten development accounts,
/// submitted to node 0 in JSON-RPC batches of up to 100 requests; returns their keys and the
/// funding transfers, all acknowledged as committed. The nodes' `mempool.future_nonces` must
/// be at least `count / 10`.
pub async fn fund(net: &Net, count: usize) -> (Vec<SigningKey>, Vec<Hash>) {
    let keys: Vec<SigningKey> = (0..count).map(account_key).collect();
    let transfers: Vec<Transfer> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| transfer(&dev_key((i % 10) as u32), public(key), FUNDING, 1, (i / 10) as u64))
        .collect();
    let started = Instant::now();
    for chunk in transfers.chunks(100) {
        let response = post_json(&net.nodes[0].url(), &send_batch(chunk)).await;
        assert!(!response.contains("\"error\""), "funding batch refused: {response}");
    }
    let urls = urls(net);
    let mut node = 0;
    for t in &transfers {
        assert!(confirm(&urls, &mut node, t, CONFIRM_LIMIT).await, "funding transfer {} not final", t.hash());
    }
    eprintln!("funded {count} accounts in {:?}", started.elapsed());
    (keys, transfers.iter().map(Transfer::hash).collect())
}

/// What the load saw.
#[derive(Default)]
pub struct Outcome {
    /// Transfers a node acknowledged as committed.
    pub acknowledged: Vec<Hash>,
    /// Transfers accepted for sending that no node confirmed within a minute.
    pub lost: Vec<Hash>,
}

/// Load between funded accounts: `workers` tasks, each owning the senders `i ≡ w (mod
/// workers)`; every round a worker submits one transfer from each of its senders to some node
/// and then waits until each is final (resending to other nodes when one is down), then rests
/// `rest`. Stops after the round in flight when told to.
pub struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<Outcome>>,
}

impl Load {
    /// Starts the workers against every node of `net`.
    pub fn start(net: &Net, keys: &[SigningKey], workers: usize, rest: Duration, seed: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let urls = urls(net);
        let recipients: Arc<Vec<PublicKey>> = Arc::new(keys.iter().map(public).collect());
        let handles = (0..workers)
            .map(|w| {
                let senders: Vec<SigningKey> = keys.iter().skip(w).step_by(workers).cloned().collect();
                let worker = Worker { stop: stop.clone(), urls: urls.clone(), recipients: recipients.clone() };
                let rng = Rng::new(seed ^ (w as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                tokio::spawn(worker.run(senders, w % urls.len(), rng, rest))
            })
            .collect();
        Load { stop, workers: handles }
    }

    /// Stops the workers after their round in flight and gathers what they saw.
    pub async fn finish(self) -> Outcome {
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

/// One load task's shared view.
struct Worker {
    stop: Arc<AtomicBool>,
    urls: Vec<String>,
    recipients: Arc<Vec<PublicKey>>,
}

impl Worker {
    async fn run(self, senders: Vec<SigningKey>, mut node: usize, mut rng: Rng, rest: Duration) -> Outcome {
        let mut nonces = vec![0u64; senders.len()];
        let mut outcome = Outcome::default();
        while !self.stop.load(Ordering::SeqCst) {
            let round: Vec<Transfer> = senders
                .iter()
                .zip(&nonces)
                .map(|(key, nonce)| {
                    let to = self.recipients[rng.below(self.recipients.len() as u64) as usize];
                    transfer(key, to, 1 + rng.below(100), 1, *nonce)
                })
                .collect();
            for t in &round {
                submit(&self.urls, &mut node, t).await;
                node = (node + 1) % self.urls.len();
            }
            for (i, t) in round.iter().enumerate() {
                if confirm(&self.urls, &mut node, t, CONFIRM_LIMIT).await {
                    outcome.acknowledged.push(t.hash());
                    nonces[i] += 1;
                } else {
                    // The nonces are no longer known: this worker stops.
                    outcome.lost.push(t.hash());
                    return outcome;
                }
            }
            tokio::time::sleep(rest).await;
        }
        outcome
    }
}
