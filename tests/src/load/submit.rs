//! The timed phase: a schedule of pre-signed transfers, and the workers that send them at
//! their due times, one HTTP connection each, in JSON-RPC batches.
//!
//! Transfer `j` is due at `j / rate` seconds and comes from sender `j mod N`, so every sender
//! sends at `rate / N` per second with consecutive nonces. A sender always goes through the
//! same worker (one node, one connection), and a worker sends its batches one after another,
//! so each sender's transfers reach one node in nonce order.
//!
//! A transfer the node sheds (`mempool_full`, past saturation) is sent again after a backoff
//! that doubles each time; its sender's later transfers wait with it, so shedding never opens
//! a gap in a sender's nonces. Nor does a sender run ahead of the nodes' nonce window: a
//! transfer waits until the sender's transfer `window` nonces earlier is seen committed. That
//! is checked against the commits the block observer sees on one node; the node a transfer goes
//! to may not have applied the same block yet and refuse it as too far ahead (`bad_nonce`), so
//! that refusal is held and sent again the same way. New transfers stop at the phase's limit;
//! held ones are still sent until a later one, so a gap opened just before the limit is filled.

use super::keys::{Order, Sender, Signed};
use super::observe::Seen;
use super::rpc::{BatchClient, Call, Failure, REQUEST_TIMEOUT};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
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
    /// When its request was first sent, or, if it was held back behind a shed transfer of its
    /// sender, when it was due (latency counts from here, waits and retries included).
    pub sent: Option<Instant>,
    /// What became of it.
    pub fate: Fate,
    /// How many times the node shed it (`mempool_full`) before this fate.
    pub shed: u32,
    /// How many times the node refused it as ahead of its nonce window (`bad_nonce`) before
    /// this fate.
    pub ahead: u32,
    /// When the request the node accepted was sent (after any sheds and waits).
    pub accepted: Option<Instant>,
}

/// How long a transfer the node shed (`mempool_full`) first waits before it is sent again; the
/// wait doubles with each further shedding up to [`RETRY_MAX`], as a client of a node past
/// saturation should back off.
pub const RETRY_AFTER: Duration = Duration::from_millis(100);
/// The longest wait before sending a shed transfer again.
pub const RETRY_MAX: Duration = Duration::from_millis(1600);

/// The wait before sending again a transfer refused `refusals` times (1 = once).
fn backoff(refusals: u32) -> Duration {
    RETRY_AFTER.saturating_mul(1 << refusals.saturating_sub(1).min(8)).min(RETRY_MAX)
}

/// A refusal that a well-behaved client answers by waiting and sending the same transfer again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// `mempool_full`: the node sheds load.
    Shed,
    /// `bad_nonce`: ahead of the node's nonce window (the load generator only ever signs each
    /// nonce once, and a committed transfer sent again is answered `committed`).
    Ahead,
}

impl Refusal {
    fn of(label: &str) -> Option<Refusal> {
        match label {
            "mempool_full" => Some(Refusal::Shed),
            "bad_nonce" => Some(Refusal::Ahead),
            _ => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Refusal::Shed => "mempool_full",
            Refusal::Ahead => "bad_nonce",
        }
    }
}

/// How often a sender waiting for its nonce window to move checks the commits again.
const WINDOW_POLL: Duration = Duration::from_millis(50);

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
    /// No new transfer is sent after this long from the start.
    pub limit: Duration,
    /// Held transfers (refused and waiting to be sent again, or queued behind one of their
    /// sender's) are still sent until this long from the start (at least `limit`).
    pub resend_limit: Duration,
    /// How many nonces a sender may have sent but not yet committed (the nodes'
    /// `mempool.future_nonces`): a node refuses one further ahead as `bad_nonce`.
    pub window: usize,
}

/// Sends `signed` (in schedule order, `senders` of them round-robin) from `start`, and returns
/// one record per transfer.
pub async fn run(
    phase: &Phase,
    signed: Arc<Vec<Signed>>,
    senders: usize,
    seen: Arc<Mutex<Seen>>,
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
        let client = BatchClient::new(&phase.urls[phase.spread.node(w)], REQUEST_TIMEOUT)?;
        let worker = Worker {
            client,
            list,
            signed: Arc::clone(&signed),
            rate: phase.rate,
            batch: phase.batch,
            senders,
            window: phase.window,
            seen: Arc::clone(&seen),
        };
        let (limit, resend_limit) = (phase.limit, phase.resend_limit.max(phase.limit));
        tasks.spawn(async move { worker.run(start, limit, resend_limit).await });
    }
    let mut records = vec![Record { sent: None, fate: Fate::NotSent, shed: 0, ahead: 0, accepted: None }; signed.len()];
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
    /// Senders in the schedule (transfer `j` comes from sender `j mod senders`).
    senders: usize,
    /// The nonce window ([`Phase::window`]).
    window: usize,
    /// The committed transfers, as the block observer sees them.
    seen: Arc<Mutex<Seen>>,
}

/// One transfer waiting in a worker.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    /// Its index in the schedule.
    j: usize,
    /// When it was first sent, or, if it never was, when it was due (latency counts from there).
    first: Instant,
    /// Times the node shed it.
    shed: u32,
    /// Times the node refused it as ahead of its nonce window.
    ahead: u32,
    /// The last refusal, if any.
    last: Option<Refusal>,
}

impl Waiting {
    fn new(j: usize, first: Instant) -> Waiting {
        Waiting { j, first, shed: 0, ahead: 0, last: None }
    }
}

/// A sender's transfers held back after the node refused one of them (`mempool_full`,
/// `bad_nonce`), or while the next is outside the nonce window: they go out, in nonce order,
/// once the wait is over.
/// Sending the sender's later nonces meanwhile would only open a gap in its nonces that the node
/// cannot fill, or have them refused as too far ahead.
struct Held {
    /// When to send them again.
    at: Instant,
    /// The transfers, in nonce order.
    queue: VecDeque<Waiting>,
}

impl Worker {
    fn due(&self, j: usize) -> Duration {
        Duration::from_secs_f64(j as f64 / f64::from(self.rate))
    }

    fn sender(&self, j: usize) -> usize {
        j % self.senders
    }

    /// True if transfer `j` is inside its sender's nonce window: the sender's transfer `window`
    /// nonces earlier (if this phase sent one) is committed. A well-behaved client waits
    /// rather than send a nonce the node must refuse as too far ahead.
    fn in_window(&self, j: usize) -> bool {
        let Some(earlier) = j.checked_sub(self.window * self.senders) else { return true };
        let seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.committed.contains_key(&self.signed[earlier].hash)
    }

    async fn run(self, start: Instant, limit: Duration, resend_limit: Duration) -> Vec<(usize, Record)> {
        let mut out = Vec::with_capacity(self.list.len());
        let mut held: HashMap<usize, Held> = HashMap::new();
        let mut pos = 0;
        loop {
            let elapsed = start.elapsed();
            let taking_new = elapsed <= limit && pos < self.list.len();
            if elapsed > resend_limit || (!taking_new && held.is_empty()) {
                break;
            }
            let now = Instant::now();
            // First the held senders whose wait is over, the longest waiting first; `None`
            // marks a transfer never sent before (latency counts from this send).
            let mut due: Vec<(Option<Waiting>, usize)> = Vec::new();
            let mut ready: Vec<(Instant, usize)> =
                held.iter().filter(|(_, h)| h.at <= now).map(|(&s, h)| (h.at, s)).collect();
            ready.sort_unstable();
            for (_, s) in ready {
                let Some(h) = held.get_mut(&s) else { continue };
                while due.len() < self.batch {
                    let Some(&waiting) = h.queue.front() else { break };
                    if !self.in_window(waiting.j) {
                        h.at = now + WINDOW_POLL;
                        break;
                    }
                    h.queue.pop_front();
                    due.push((Some(waiting), waiting.j));
                }
                if h.queue.is_empty() {
                    held.remove(&s);
                }
            }
            // Then what has fallen due, except from held senders, whose transfers queue up.
            let elapsed = now.duration_since(start);
            while taking_new && due.len() < self.batch && pos < self.list.len() && self.due(self.list[pos]) <= elapsed {
                let j = self.list[pos];
                pos += 1;
                match held.get_mut(&self.sender(j)) {
                    Some(h) => h.queue.push_back(Waiting::new(j, start + self.due(j))),
                    None if self.in_window(j) => due.push((None, j)),
                    None => {
                        let queue = VecDeque::from([Waiting::new(j, start + self.due(j))]);
                        held.insert(self.sender(j), Held { at: now + WINDOW_POLL, queue });
                    }
                }
            }
            if due.is_empty() {
                let next_new = if taking_new { self.list.get(pos).map(|&j| start + self.due(j)) } else { None };
                let next_held = held.values().map(|h| h.at).min();
                let wake = match (next_new, next_held) {
                    (Some(a), Some(b)) => a.min(b),
                    (Some(a), None) | (None, Some(a)) => a,
                    (None, None) => break,
                };
                tokio::time::sleep_until(wake.into()).await;
                continue;
            }
            let calls: Vec<Call> =
                due.iter().map(|&(_, j)| Call::send_transaction(j as u64, &self.signed[j].hex)).collect();
            let sent = Instant::now();
            let mut answers = self.client.batch(&calls).await;
            for (waiting, j) in due {
                let mut waiting = waiting.unwrap_or_else(|| Waiting::new(j, sent));
                let fate = match answers.remove(&(j as u64)) {
                    Some(Ok(_)) => Fate::Accepted,
                    Some(Err(label)) => match Refusal::of(&label) {
                        Some(refusal) => {
                            match refusal {
                                Refusal::Shed => waiting.shed += 1,
                                Refusal::Ahead => waiting.ahead += 1,
                            }
                            waiting.last = Some(refusal);
                            self.hold(&mut held, waiting);
                            continue;
                        }
                        None => Fate::Rejected(label),
                    },
                    None => Fate::Rejected("no_answer".into()),
                };
                let accepted = matches!(fate, Fate::Accepted).then_some(sent);
                let Waiting { first, shed, ahead, .. } = waiting;
                out.push((j, Record { sent: Some(first), fate, shed, ahead, accepted }));
            }
        }
        // Still held when the phase ended: refused ones count as refused (by their last
        // refusal), the others as not sent.
        for Waiting { j, first, shed, ahead, last } in held.into_values().flat_map(|h| h.queue) {
            let record = match last {
                None => Record { sent: None, fate: Fate::NotSent, shed, ahead, accepted: None },
                Some(refusal) => Record {
                    sent: Some(first),
                    fate: Fate::Rejected(refusal.label().into()),
                    shed,
                    ahead,
                    accepted: None,
                },
            };
            out.push((j, record));
        }
        out
    }

    /// Holds a refused transfer, with its sender's later ones, until the backoff has passed.
    fn hold(&self, held: &mut HashMap<usize, Held>, waiting: Waiting) {
        let again = Instant::now() + backoff(waiting.shed + waiting.ahead);
        let h = held.entry(self.sender(waiting.j)).or_insert_with(|| Held { at: again, queue: VecDeque::new() });
        h.at = h.at.max(again);
        // A sender's indexes grow with its nonces: keep the queue in nonce order.
        let at = h.queue.partition_point(|w| w.j < waiting.j);
        h.queue.insert(at, waiting);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A node stand-in on loopback answering `sendTransaction` from a script: each transfer
    /// (by its `tx` text) is refused with the scripted reasons in turn, then accepted.
    async fn scripted_node(script: HashMap<String, Vec<&'static str>>) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(script));
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (script, log) = (Arc::clone(&script), Arc::clone(&log));
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    loop {
                        // One request: headers, then Content-Length bytes of body.
                        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                            let mut chunk = [0u8; 4096];
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        while buffer.len() < end + 4 + length {
                            let mut chunk = [0u8; 4096];
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let body: Value = serde_json::from_slice(&buffer[end + 4..end + 4 + length]).unwrap();
                        buffer.drain(..end + 4 + length);
                        let calls = match body {
                            Value::Array(calls) => calls,
                            call => vec![call],
                        };
                        let answers: Vec<Value> = calls
                            .iter()
                            .map(|call| {
                                let tx = call["params"]["tx"].as_str().unwrap().to_string();
                                log.lock().unwrap().push(tx.clone());
                                let refusal = script
                                    .lock()
                                    .unwrap()
                                    .get_mut(&tx)
                                    .and_then(|r| (!r.is_empty()).then(|| r.remove(0)));
                                match refusal {
                                    Some(reason) => json!({"jsonrpc": "2.0", "id": call["id"], "error": {
                                        "code": -32000, "message": "transfer rejected", "data": {"reason": reason}}}),
                                    None => json!({"jsonrpc": "2.0", "id": call["id"],
                                        "result": {"hash": tx, "status": "pending"}}),
                                }
                            })
                            .collect();
                        let text = Value::Array(answers).to_string();
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
                            text.len()
                        );
                        if socket.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, seen)
    }

    /// A start 5 ms ago: at 1,000/s, the first five transfers are due at once.
    fn all_due() -> Instant {
        Instant::now().checked_sub(Duration::from_millis(5)).unwrap()
    }

    #[tokio::test]
    async fn refused_transfers_are_sent_again_in_nonce_order_even_after_the_send_limit() {
        // One sender's three transfers, all due at once and sent in one batch. The first is shed
        // twice and the second refused once as ahead of the node's window (the third, accepted,
        // waits behind them in the node); the send limit passes before any backoff ends, and
        // both are still sent again until accepted, in nonce order.
        let signed: Vec<Signed> = (0..3u64)
            .map(|j| Signed { hash: tally_ledger::Hash::digest(&j.to_le_bytes()), hex: format!("t{j}") })
            .collect();
        let script = HashMap::from([
            ("t0".to_string(), vec!["mempool_full", "mempool_full"]),
            ("t1".to_string(), vec!["bad_nonce"]),
        ]);
        let (url, log) = scripted_node(script).await;
        let phase = Phase {
            urls: vec![url],
            spread: Spread { nodes: 1, connections: 1 },
            batch: 10,
            rate: 1_000,
            limit: Duration::from_millis(50),
            resend_limit: Duration::from_secs(10),
            window: 16,
        };
        let started = Instant::now();
        let records = tokio::time::timeout(
            Duration::from_secs(20),
            run(&phase, Arc::new(signed), 1, Arc::new(Mutex::new(Seen::default())), all_due()),
        )
        .await
        .expect("the phase ends by its resend limit")
        .unwrap();
        assert!(started.elapsed() >= backoff(1) + backoff(2), "the backoffs were waited out");
        assert!(records.iter().all(|r| matches!(r.fate, Fate::Accepted)), "{records:?}");
        assert_eq!(records.iter().map(|r| (r.shed, r.ahead)).collect::<Vec<_>>(), [(2, 0), (0, 1), (0, 0)]);
        let log = log.lock().unwrap().clone();
        assert_eq!(log, ["t0", "t1", "t2", "t0", "t1", "t0"]);
    }

    #[tokio::test]
    async fn a_transfer_still_refused_at_the_resend_limit_counts_as_refused_and_the_rest_as_not_sent() {
        let signed: Vec<Signed> = (0..2u64)
            .map(|j| Signed { hash: tally_ledger::Hash::digest(&j.to_le_bytes()), hex: format!("t{j}") })
            .collect();
        let script = HashMap::from([("t0".to_string(), vec!["mempool_full"; 100])]);
        let (url, _log) = scripted_node(script).await;
        let phase = Phase {
            urls: vec![url],
            spread: Spread { nodes: 1, connections: 1 },
            batch: 1,
            rate: 1_000,
            limit: Duration::from_millis(20),
            resend_limit: Duration::from_millis(500),
            window: 16,
        };
        let records = tokio::time::timeout(
            Duration::from_secs(10),
            run(&phase, Arc::new(signed), 1, Arc::new(Mutex::new(Seen::default())), Instant::now()),
        )
        .await
        .expect("the phase ends by its resend limit")
        .unwrap();
        assert!(matches!(&records[0].fate, Fate::Rejected(label) if label == "mempool_full"), "{records:?}");
        assert!(records[0].shed >= 2, "sent again while the resend limit allowed");
        assert!(matches!(records[1].fate, Fate::NotSent), "held behind it, never sent: {records:?}");
    }

    #[test]
    fn the_wait_before_resending_a_shed_transfer_doubles_up_to_its_limit() {
        let waits: Vec<u128> = (1..=7).map(|shed| backoff(shed).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 1600, 1600]);
        assert_eq!(backoff(u32::MAX), RETRY_MAX);
    }
}
