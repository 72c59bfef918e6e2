//! Account snapshots. A block commit does not write the accounts it changed; instead, when
//! the [`SnapshotPolicy`] says so, the driver copies the committed accounts and hands them to a
//! writer thread, which stores them while blocks go on committing. A restart replays the blocks
//! after the last snapshot onto it.

use crate::LedgerStore;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;
use tally_ledger::store::{Replayed, SnapshotPolicy};
use tally_ledger::{Account, Ledger, PublicKey};
use tracing::{error, info};

/// The committed accounts at one height, on their way to the store.
struct Job {
    height: u64,
    accounts: Vec<(PublicKey, Account)>,
}

/// The driver's side: counts what committed since the last snapshot and starts the next one.
/// Dropping it waits for a snapshot being written.
pub struct Snapshots {
    jobs: Option<SyncSender<Job>>,
    /// Set while the writer holds a job, so a due snapshot waits (and the accounts are not
    /// copied) until it is done.
    writing: Arc<AtomicBool>,
    writer: Option<JoinHandle<()>>,
    policy: SnapshotPolicy,
    transfers_since: u64,
    blocks_since: u64,
}

impl Snapshots {
    /// Starts the writer thread over `store`. `replayed` is what committed after the store's
    /// current snapshot (what opening the store replayed).
    pub fn spawn(store: Arc<LedgerStore>, policy: SnapshotPolicy, replayed: Replayed) -> std::io::Result<Snapshots> {
        let (jobs, queue) = sync_channel::<Job>(1);
        let writing = Arc::new(AtomicBool::new(false));
        let done = writing.clone();
        let writer = std::thread::Builder::new().name("snapshots".into()).spawn(move || {
            for job in queue {
                let started = Instant::now();
                match store.write_snapshot(job.height, &job.accounts) {
                    Ok(meta) => info!(
                        height = meta.height,
                        accounts = meta.accounts,
                        ms = started.elapsed().as_millis() as u64,
                        "account snapshot written"
                    ),
                    // The previous snapshot stays current and whole; the next one is tried
                    // after as many transfers again.
                    Err(e) => error!(height = job.height, error = %e, "account snapshot failed"),
                }
                drop(job);
                done.store(false, Ordering::Release);
            }
        })?;
        Ok(Snapshots {
            jobs: Some(jobs),
            writing,
            writer: Some(writer),
            policy,
            transfers_since: replayed.transfers,
            blocks_since: replayed.blocks,
        })
    }

    /// Called after each block's commit with the committed ledger and the block's transfer
    /// count: starts a snapshot of `ledger` when one is due and none is being written.
    pub fn committed(&mut self, ledger: &Ledger, transfers: usize) {
        self.transfers_since += transfers as u64;
        self.blocks_since += 1;
        if !self.policy.due(self.transfers_since, self.blocks_since, ledger.account_count() as u64)
            || self.writing.load(Ordering::Acquire)
        {
            return;
        }
        let Some(jobs) = &self.jobs else { return };
        let accounts: Vec<(PublicKey, Account)> = ledger.accounts().map(|(k, a)| (*k, *a)).collect();
        self.writing.store(true, Ordering::Release);
        if jobs.try_send(Job { height: ledger.height(), accounts }).is_err() {
            // Only if the writer thread is gone; nothing to wait for then.
            self.writing.store(false, Ordering::Release);
            return;
        }
        self.transfers_since = 0;
        self.blocks_since = 0;
    }
}

impl Drop for Snapshots {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}
