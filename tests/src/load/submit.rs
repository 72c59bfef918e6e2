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
//! transfer waits until the sender's transfer `window` nonces earlier is seen committed.

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
    /// When the request the node accepted was sent (after any sheds and waits).
    pub accepted: Option<Instant>,
}

/// How long a transfer the node shed (`mempool_full`) first waits before it is sent again; the
/// wait doubles with each further shedding up to [`RETRY_MAX`], as a client of a node past
/// saturation should back off.
pub const RETRY_AFTER: Duration = Duration::from_millis(100);
/// The longest wait before sending a shed transfer again.
pub const RETRY_MAX: Duration = Duration::from_millis(1600);

/// The wait before sending again a transfer shed `shed` times (1 = once).
fn backoff(shed: u32) -> Duration {
    RETRY_AFTER.saturating_mul(1 << shed.saturating_sub(1).min(8)).min(RETRY_MAX)
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
    /// Nothing is sent after this long from the start.
    pub limit: Duration,
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
        let limit = phase.limit;
        tasks.spawn(async move { worker.run(start, limit).await });
    }
    let mut records = vec![Record { sent: None, fate: Fate::NotSent, shed: 0, accepted: None }; signed.len()];
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

/// One transfer waiting in a worker: its index, when it was first sent (or, if it never was,
/// when it was due: latency counts from there), and how many times the node shed it.
type Waiting = (usize, Instant, u32);

/// A sender's transfers held back after the node shed one of them (`mempool_full`), or while
/// the next is outside the nonce window: they go out, in nonce order, once the wait is over.
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

    async fn run(self, start: Instant, limit: Duration) -> Vec<(usize, Record)> {
        let mut out = Vec::with_capacity(self.list.len());
        let mut held: HashMap<usize, Held> = HashMap::new();
        let mut pos = 0;
        while pos < self.list.len() || !held.is_empty() {
            if start.elapsed() > limit {
                break;
            }
            let now = Instant::now();
            // First the held senders whose wait is over, the longest waiting first.
            let mut due: Vec<(usize, Option<Instant>, u32)> = Vec::new();
            let mut ready: Vec<(Instant, usize)> =
                held.iter().filter(|(_, h)| h.at <= now).map(|(&s, h)| (h.at, s)).collect();
            ready.sort_unstable();
            for (_, s) in ready {
                let Some(h) = held.get_mut(&s) else { continue };
                while due.len() < self.batch {
                    let Some(&(j, first, shed)) = h.queue.front() else { break };
                    if !self.in_window(j) {
                        h.at = now + WINDOW_POLL;
                        break;
                    }
                    h.queue.pop_front();
                    due.push((j, Some(first), shed));
                }
                if h.queue.is_empty() {
                    held.remove(&s);
                }
            }
            // Then what has fallen due, except from held senders, whose transfers queue up.
            let elapsed = now.duration_since(start);
            while due.len() < self.batch && pos < self.list.len() && self.due(self.list[pos]) <= elapsed {
                let j = self.list[pos];
                pos += 1;
                match held.get_mut(&self.sender(j)) {
                    Some(h) => h.queue.push_back((j, start + self.due(j), 0)),
                    None if self.in_window(j) => due.push((j, None, 0)),
                    None => {
                        let queue = VecDeque::from([(j, start + self.due(j), 0)]);
                        held.insert(self.sender(j), Held { at: now + WINDOW_POLL, queue });
                    }
                }
            }
            if due.is_empty() {
                let next_new = self.list.get(pos).map(|&j| start + self.due(j));
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
                due.iter().map(|&(j, _, _)| Call::send_transaction(j as u64, &self.signed[j].hex)).collect();
            let sent = Instant::now();
            let mut answers = self.client.batch(&calls).await;
            for (j, first, shed) in due {
                let first = first.unwrap_or(sent);
                let fate = match answers.remove(&(j as u64)) {
                    Some(Ok(_)) => Fate::Accepted,
                    Some(Err(label)) if label == "mempool_full" => {
                        let shed = shed + 1;
                        let again = Instant::now() + backoff(shed);
                        let h =
                            held.entry(self.sender(j)).or_insert_with(|| Held { at: again, queue: VecDeque::new() });
                        h.at = h.at.max(again);
                        // A sender's indexes grow with its nonces: keep the queue in nonce order.
                        let at = h.queue.partition_point(|w| w.0 < j);
                        h.queue.insert(at, (j, first, shed));
                        continue;
                    }
                    Some(Err(label)) => Fate::Rejected(label),
                    None => Fate::Rejected("no_answer".into()),
                };
                let accepted = matches!(fate, Fate::Accepted).then_some(sent);
                out.push((j, Record { sent: Some(first), fate, shed, accepted }));
            }
        }
        // Still held when the phase ended: shed ones count as refused, the others as not sent.
        for (j, first, shed) in held.into_values().flat_map(|h| h.queue) {
            let record = match shed {
                0 => Record { sent: None, fate: Fate::NotSent, shed, accepted: None },
                _ => Record { sent: Some(first), fate: Fate::Rejected("mempool_full".into()), shed, accepted: None },
            };
            out.push((j, record));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_before_resending_a_shed_transfer_doubles_up_to_its_limit() {
        let waits: Vec<u128> = (1..=7).map(|shed| backoff(shed).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 1600, 1600]);
        assert_eq!(backoff(u32::MAX), RETRY_MAX);
    }
}
