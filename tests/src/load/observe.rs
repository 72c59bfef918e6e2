//! Watching committed blocks on one node: a WebSocket `newBlocks` subscription, with gaps and
//! silences filled by `getBlock`, so that every block is seen once, in order, as soon as
//! possible. A block's time of observation is the finality time of its transfers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tally_ledger::Hash;
use tally_rpc::wire::BlockInfo;
use tally_rpc::{BlockRef, RpcClient, WsClient};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One observed block.
#[derive(Clone, Copy, Debug)]
pub struct SeenBlock {
    /// Its height.
    pub height: u64,
    /// When it was observed.
    pub at: Instant,
    /// Its transfer count.
    pub transfers: usize,
}

/// Everything observed so far.
#[derive(Default)]
pub struct Seen {
    /// Each committed transfer: when its block was observed, and the height.
    pub committed: HashMap<Hash, (Instant, u64)>,
    /// Every observed block, in height order.
    pub blocks: Vec<SeenBlock>,
    /// WebSocket (re)connections made.
    pub connects: u32,
    /// Blocks fetched with `getBlock` instead of arriving by subscription.
    pub fetched: u32,
}

/// A running observer; stops when dropped or by [`Observer::stop`].
pub struct Observer {
    seen: Arc<Mutex<Seen>>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Observer {
    /// Starts watching the node at `url` from the block after `after`.
    pub fn start(url: &str, after: u64) -> Observer {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (stop, stopped) = watch::channel(false);
        let watcher = Watcher { rpc: RpcClient::new(url).with_timeout(Duration::from_secs(10)), next: after + 1 };
        let task = tokio::spawn(watcher.run(Arc::clone(&seen), stopped));
        Observer { seen, stop, task: Some(task) }
    }

    /// What has been observed (locked: keep it short).
    pub fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A shared handle on what is observed, for tasks that outlive a borrow of the observer.
    pub fn shared(&self) -> Arc<Mutex<Seen>> {
        Arc::clone(&self.seen)
    }

    /// Stops the watcher and waits for it.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

struct Watcher {
    rpc: RpcClient,
    next: u64,
}

/// With no block for this long, ask for it instead of waiting on the subscription.
const SILENCE: Duration = Duration::from_secs(2);

impl Watcher {
    async fn run(mut self, seen: Arc<Mutex<Seen>>, mut stopped: watch::Receiver<bool>) {
        while !*stopped.borrow() {
            let mut ws = match WsClient::connect(&self.rpc.ws_url()).await {
                Ok(mut ws) => match ws.subscribe_blocks().await {
                    Ok(_) => Some(ws),
                    Err(_) => None,
                },
                Err(_) => None,
            };
            lock(&seen).connects += u32::from(ws.is_some());
            loop {
                let Some(socket) = ws.as_mut() else {
                    // No subscription: poll, then try to connect again.
                    self.catch_up(&seen, None).await;
                    tokio::select! {
                        _ = stopped.changed() => {}
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                    break;
                };
                tokio::select! {
                    _ = stopped.changed() => break,
                    next = tokio::time::timeout(SILENCE, socket.next_block()) => match next {
                        Ok(Ok(Some(block))) => self.catch_up(&seen, Some(block)).await,
                        Ok(_) => break,
                        Err(_) => self.catch_up(&seen, None).await,
                    },
                }
            }
            if let Some(socket) = ws {
                socket.close().await;
            }
        }
    }

    /// Records `block` (from the subscription), first fetching any blocks before it that were
    /// missed; with no block, fetches what the node has beyond the last one seen.
    async fn catch_up(&mut self, seen: &Mutex<Seen>, block: Option<BlockInfo>) {
        let target = block.as_ref().map(|b| b.height);
        loop {
            if target.is_some_and(|t| self.next >= t) {
                break;
            }
            match self.rpc.get_block(BlockRef::Height(self.next)).await {
                Ok(Some(fetched)) => {
                    lock(seen).fetched += 1;
                    self.record(seen, &fetched);
                }
                _ => break,
            }
        }
        if let Some(block) = block {
            if block.height == self.next {
                self.record(seen, &block);
            }
        }
    }

    fn record(&mut self, seen: &Mutex<Seen>, block: &BlockInfo) {
        let at = Instant::now();
        let mut seen = lock(seen);
        for hash in &block.transfers {
            seen.committed.insert(hash.0, (at, block.height));
        }
        seen.blocks.push(SeenBlock { height: block.height, at, transfers: block.transfers.len() });
        self.next = block.height + 1;
    }
}

fn lock(seen: &Mutex<Seen>) -> MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
