//! Gossip cost per transfer: four real network actors (libp2p, noise, yamux, gossipsub) in one
//! process, fully meshed on loopback, each accepting every message as a validator would. Every
//! iteration publishes one batch of transfer-sized payloads from the next node in turn, so each
//! batch is sent, relayed, deduplicated and validated the way the node's transfer gossip is.
//!
//! The time criterion records is the process's CPU time (all threads) divided by the four
//! validators, and the throughput is the batch's transfers: "per element" is the CPU one
//! validator spends to gossip one transfer, the figure the ceiling of issue 8 needs. The
//! node flushes a batch every 25 ms (or at 256 transfers), so near saturation, ~8,000
//! transfers/s spread over four nodes, a batch holds about 50 transfers: 64 is the size the
//! ceiling uses, 16 and 256 show the cost of smaller and larger batches.
//!
//! ```text
//! cargo bench -p tally-p2p --bench gossip
//! ```

#[allow(dead_code)]
#[path = "../tests/harness/mod.rs"]
mod harness;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use harness::{bounded, Node};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tally_p2p::{NetworkEvent, NetworkHandle, Topic, Verdict};

/// Validators in the mesh.
const NODES: usize = 4;
/// Bytes of one encoded transfer with a short memo (SPEC §3, chain id `tally-devnet`).
const TRANSFER_BYTES: usize = 190;
/// Batches in flight before the publisher waits for deliveries.
const WINDOW: u64 = 32;

/// The CPU time this process has used, all threads.
fn process_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_PROCESS_CPUTIME_ID is always available on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Four meshed nodes whose events are drained by tasks that accept every gossip message and
/// count deliveries.
struct Mesh {
    handles: Vec<NetworkHandle>,
    delivered: Arc<AtomicU64>,
    published: u64,
    serial: u64,
}

impl Mesh {
    async fn start() -> Mesh {
        let mut nodes: Vec<Node> = Vec::new();
        for _ in 0..NODES {
            let peers: Vec<&Node> = nodes.iter().collect();
            let node = Node::start_with_peers(&peers).await;
            nodes.push(node);
        }
        let ids: Vec<_> = nodes.iter().map(Node::peer_id).collect();
        for node in nodes.iter_mut() {
            for id in &ids {
                if *id != node.peer_id() {
                    node.wait_connected(*id).await;
                    node.wait_mesh(Topic::Transfers, *id).await;
                }
            }
        }
        let delivered = Arc::new(AtomicU64::new(0));
        let mut handles = Vec::new();
        for node in nodes {
            let (handle, mut events) = (node.handle, node.events);
            handles.push(handle.clone());
            let delivered = delivered.clone();
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    if let NetworkEvent::Gossip { message_id, source, .. } = event {
                        let _ = handle.report(message_id, source, Verdict::Accept).await;
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        Mesh { handles, delivered, published: 0, serial: 0 }
    }

    /// A fresh batch (its message id must be new, so it starts with a serial number).
    fn batch(&mut self, transfers: usize) -> Vec<u8> {
        self.serial += 1;
        let mut data = vec![0x5a; transfers * TRANSFER_BYTES];
        data[..8].copy_from_slice(&self.serial.to_le_bytes());
        data
    }

    /// Waits until every published batch but `behind` reached the other three nodes.
    async fn settle(&self, behind: u64) {
        let want = (self.published.saturating_sub(behind)) * (NODES as u64 - 1);
        bounded("gossip delivered", async {
            while self.delivered.load(Ordering::Relaxed) < want {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        })
        .await
    }

    /// Publishes `batches` batches of `transfers` round-robin and waits for every delivery;
    /// returns the CPU time per validator.
    async fn run(&mut self, batches: u64, transfers: usize) -> Duration {
        let start = process_cpu();
        for i in 0..batches {
            let data = self.batch(transfers);
            let from = &self.handles[(i as usize) % NODES];
            // A batch that was not sent must not count as one gossiped.
            from.publish(Topic::Transfers, data).await.expect("a meshed node publishes");
            self.published += 1;
            self.settle(WINDOW).await;
        }
        self.settle(0).await;
        (process_cpu() - start) / NODES as u32
    }
}

fn gossip(c: &mut Criterion) {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    let mut mesh = runtime.block_on(Mesh::start());
    let mut group = c.benchmark_group("gossip");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    for transfers in [16, 64, 256] {
        group.throughput(Throughput::Elements(transfers as u64));
        group.bench_function(format!("batch_{transfers}_per_validator"), |b| {
            b.iter_custom(|batches| runtime.block_on(mesh.run(batches, transfers)))
        });
    }
    group.finish();
    runtime.block_on(async {
        for handle in &mesh.handles {
            handle.shutdown().await;
        }
    });
}

criterion_group!(benches, gossip);
criterion_main!(benches);
