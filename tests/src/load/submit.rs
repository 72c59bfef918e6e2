//! The timed phase: a schedule of pre-signed transfers, and the workers that send them at
//! their due times, one HTTP connection each, in JSON-RPC batches.
//!
//! Transfer `j` is due at `j / rate` seconds and comes from sender `j mod N`, so every sender
//! sends at `rate / N` per second with consecutive nonces. A sender always goes through the
//! same worker (one node, one connection), and a worker sends its batches one after another,
//! so each sender's transfers reach one node in nonce order.

use super::keys::{Order, Sender, Signed};
use super::rpc::{BatchClient, Call, Failure};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// How the senders are spread.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    /// Nodes.
    pub nodes: usize,
    /// Connections per node.
    pub connections: usize,
}

impl Spread {
    /// The worker sending sender `s`'s transfers.
    pub fn worker(&self, s: usize) -> usize {
        (s % self.nodes) * self.connections + (s / self.nodes) % self.connections
    }

    /// The node worker `w` sends to.
    pub fn node(&self, w: usize) -> usize {
        w / self.connections
    }

    /// Workers in all.
    pub fn workers(&self) -> usize {
        self.nodes * self.connections
    }
}

/// The orders of one timed phase: `rate × duration` transfers round-robin over the senders,
/// each sender from its next nonce, each paying 1 base unit to another sender.
pub fn orders(senders: &[Sender], nonces: &[u64], rate: u32, duration: u64, fee: u64) -> Vec<Order> {
    let n = senders.len();
    let total = rate as usize * duration as usize;
    (0..total)
        .map(|j| {
            let (s, k) = (j % n, j / n);
            let to = senders[(s + 1 + k) % n].public;
            Order { from: s, to, amount: 1, fee, nonce: nonces.get(s).copied().unwrap_or(0) + k as u64 }
        })
        .collect()
}

/// What became of one scheduled transfer.
#[derive(Clone, Debug)]
pub enum Fate {
    /// Not sent before the phase's time limit.
    NotSent,
    /// The node accepted it (`pending`, or already `committed`), answering at the instant.
    Accepted,
    /// The node refused it: the error's label (`mempool_full`, `bad_nonce`, `http_503`, ...).
    Rejected(Failure),
}

/// One scheduled transfer's record.
#[derive(Clone, Debug)]
pub struct Record {
    /// When its request was sent.
    pub sent: Option<Instant>,
    /// What became of it.
    pub fate: Fate,
}

/// The timed phase's setup.
pub struct Phase {
    /// The nodes' RPC URLs.
    pub urls: Vec<String>,
    /// The spread of senders over nodes and connections.
    pub spread: Spread,
    /// Transfers per batch.
    pub batch: usize,
    /// Offered rate, transfers per second.
    pub rate: u32,
    /// Nothing is sent after this long from the start.
    pub limit: Duration,
}

/// Sends `signed` (in schedule order, `senders` of them round-robin) from `start`, and returns
/// one record per transfer.
pub async fn run(
    phase: &Phase,
    signed: Arc<Vec<Signed>>,
    senders: usize,
    start: Instant,
) -> Result<Vec<Record>, String> {
    let mut lists: Vec<Vec<usize>> = vec![Vec::new(); phase.spread.workers()];
    for j in 0..signed.len() {
        lists[phase.spread.worker(j % senders)].push(j);
    }
    let mut tasks = JoinSet::new();
    for (w, list) in lists.into_iter().enumerate() {
        if list.is_empty() {
            continue;
        }
        let client = BatchClient::new(&phase.urls[phase.spread.node(w)], Duration::from_secs(30))?;
        let worker = Worker { client, list, signed: Arc::clone(&signed), rate: phase.rate, batch: phase.batch };
        let limit = phase.limit;
        tasks.spawn(async move { worker.run(start, limit).await });
    }
    let mut records = vec![Record { sent: None, fate: Fate::NotSent }; signed.len()];
    while let Some(joined) = tasks.join_next().await {
        for (j, record) in joined.map_err(|e| format!("a submit worker failed: {e}"))? {
            records[j] = record;
        }
    }
    Ok(records)
}

struct Worker {
    client: BatchClient,
    list: Vec<usize>,
    signed: Arc<Vec<Signed>>,
    rate: u32,
    batch: usize,
}

impl Worker {
    fn due(&self, j: usize) -> Duration {
        Duration::from_secs_f64(j as f64 / f64::from(self.rate))
    }

    async fn run(self, start: Instant, limit: Duration) -> Vec<(usize, Record)> {
        let mut out = Vec::with_capacity(self.list.len());
        let mut pos = 0;
        while pos < self.list.len() {
            let now = start.elapsed();
            if now > limit {
                break;
            }
            let first = self.due(self.list[pos]);
            if first > now {
                tokio::time::sleep_until((start + first).into()).await;
                continue;
            }
            let mut end = pos;
            while end < self.list.len() && end - pos < self.batch && self.due(self.list[end]) <= now {
                end += 1;
            }
            let calls: Vec<Call> =
                self.list[pos..end].iter().map(|&j| Call::send_transaction(j as u64, &self.signed[j].hex)).collect();
            let sent = Instant::now();
            let mut answers = self.client.batch(&calls).await;
            for &j in &self.list[pos..end] {
                let fate = match answers.remove(&(j as u64)) {
                    Some(Ok(_)) => Fate::Accepted,
                    Some(Err(label)) => Fate::Rejected(label),
                    None => Fate::Rejected("no_answer".into()),
                };
                out.push((j, Record { sent: Some(sent), fate }));
            }
            pos = end;
        }
        out
    }
}
