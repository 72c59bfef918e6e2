//! Account snapshots and index flushes. A block commit does not write the accounts it
//! changed; instead, when the [`SnapshotPolicy`] says so, the driver copies the committed
//! accounts and hands them to a writer thread, which stores them while blocks go on committing.
//! A restart replays the blocks after the last snapshot onto it. The same thread writes the
//! store's pending transfer and history index rows when they are due (~100 ms for nine full
//! blocks' rows), so that the block commit, on the consensus path, never waits for them.

use crate::LedgerStore;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;
use tally_ledger::store::{Replayed, SnapshotPolicy};
use tally_ledger::{Account, Ledger, PublicKey};
use tracing::{debug, error, info};

/// The writer thread's work.
enum Job {
    /// The committed accounts at one height, on their way to the store.
    Snapshot { height: u64, accounts: Vec<(PublicKey, Account)> },
    /// The store's pending index rows are due to be written.
    FlushIndex,
}

/// The driver's side: counts what committed since the last snapshot and starts the next one.
/// Dropping it waits for a snapshot being written.
pub struct Snapshots {
    jobs: Option<SyncSender<Job>>,
    /// Set while the writer holds a job, so a due snapshot waits (and the accounts are not
    /// copied) until it is done.
    writing: Arc<AtomicBool>,
    /// Set by the writer when a snapshot failed (before it clears `writing`).
    failed: Arc<AtomicBool>,
    /// A snapshot was handed to the writer and its outcome not yet read.
    awaiting_outcome: bool,
    /// Snapshots that failed in a row, and the blocks left before the next try.
    retry: Option<Retry>,
    /// Set while an index flush is queued or under way.
    flushing: Arc<AtomicBool>,
    store: Arc<LedgerStore>,
    writer: Option<JoinHandle<()>>,
    policy: SnapshotPolicy,
    transfers_since: u64,
    blocks_since: u64,
}

impl Snapshots {
    /// Starts the writer thread over `store`. `replayed` is what committed after the store's
    /// current snapshot (what opening the store replayed).
    pub fn spawn(store: Arc<LedgerStore>, policy: SnapshotPolicy, replayed: Replayed) -> std::io::Result<Snapshots> {
        // One job of each kind at most is queued or under way.
        let (jobs, queue) = sync_channel::<Job>(2);
        let writing = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicBool::new(false));
        let flushing = Arc::new(AtomicBool::new(false));
        let (done, failures, flushed) = (writing.clone(), failed.clone(), flushing.clone());
        let writer_store = store.clone();
        let writer = std::thread::Builder::new().name("snapshots".into()).spawn(move || {
            let store = writer_store;
            for job in queue {
                let started = Instant::now();
                match job {
                    Job::Snapshot { height, accounts } => {
                        // Cleared however the write ends.
                        let _writing = ClearOnDrop(&done);
                        match store.write_snapshot(height, &accounts) {
                            Ok(meta) => info!(
                                height = meta.height,
                                accounts = meta.accounts,
                                ms = started.elapsed().as_millis() as u64,
                                "account snapshot written"
                            ),
                            // The previous snapshot stays current and whole; the driver tries
                            // again a few blocks later (`Snapshots::committed`).
                            Err(e) => {
                                error!(height, error = %e, "account snapshot failed");
                                failures.store(true, Ordering::Release);
                            }
                        }
                    }
                    Job::FlushIndex => {
                        let _flushing = ClearOnDrop(&flushed);
                        match store.flush_index() {
                            Ok(()) => debug!(ms = started.elapsed().as_millis() as u64, "index rows written"),
                            // The rows stay in memory; the next commit finds them due again.
                            Err(e) => error!(error = %e, "writing the index rows failed"),
                        }
                    }
                }
            }
        })?;
        Ok(Snapshots {
            jobs: Some(jobs),
            writing,
            failed,
            flushing,
            store,
            writer: Some(writer),
            awaiting_outcome: false,
            retry: None,
            policy,
            transfers_since: replayed.transfers,
            blocks_since: replayed.blocks,
        })
    }

    /// Called after each block's commit with the committed ledger and the block's transfer
    /// count: starts a snapshot of `ledger` when one is due and none is being written. After a
    /// failed snapshot the next is due 1, 2, 4, ... blocks later (at most [`MAX_RETRY_BLOCKS`]),
    /// whatever the policy says.
    pub fn committed(&mut self, ledger: &Ledger, transfers: usize) {
        self.transfers_since += transfers as u64;
        self.blocks_since += 1;
        self.flush_index_if_due();
        if self.writing.load(Ordering::Acquire) {
            return;
        }
        self.read_outcome();
        let due = match &mut self.retry {
            Some(retry) => {
                retry.blocks_left = retry.blocks_left.saturating_sub(1);
                retry.blocks_left == 0
            }
            None => self.policy.due(self.transfers_since, self.blocks_since, ledger.account_count() as u64),
        };
        if !due {
            return;
        }
        let Some(jobs) = &self.jobs else { return };
        let accounts: Vec<(PublicKey, Account)> = ledger.accounts().map(|(k, a)| (*k, *a)).collect();
        self.writing.store(true, Ordering::Release);
        if jobs.try_send(Job::Snapshot { height: ledger.height(), accounts }).is_err() {
            // Only if the writer thread is gone (it never panics on its own): no more snapshots,
            // and each restart replays every block since the last one.
            error!("the snapshot writer has stopped");
            self.writing.store(false, Ordering::Release);
            self.jobs = None;
            return;
        }
        self.awaiting_outcome = true;
        self.transfers_since = 0;
        self.blocks_since = 0;
    }

    /// Once the writer is idle: how the snapshot handed to it ended, and from that when the
    /// next is tried.
    fn read_outcome(&mut self) {
        if !std::mem::take(&mut self.awaiting_outcome) {
            return;
        }
        if self.failed.swap(false, Ordering::AcqRel) {
            let failures = self.retry.as_ref().map_or(0, |r| r.failures) + 1;
            let blocks_left = (1u64 << (failures - 1).min(63)).min(MAX_RETRY_BLOCKS);
            self.retry = Some(Retry { failures, blocks_left });
        } else {
            self.retry = None;
        }
    }
}

/// The most blocks between two tries of a snapshot that keeps failing (a full or failing disk
/// is not handed a copy of every account at every commit).
pub const MAX_RETRY_BLOCKS: u64 = 1024;

/// Failed snapshots in a row, and the blocks left before the next is tried.
struct Retry {
    failures: u32,
    blocks_left: u64,
}

impl Snapshots {
    /// Hands the store's index rows to the writer when they are due and no flush is queued.
    fn flush_index_if_due(&mut self) {
        if self.flushing.load(Ordering::Acquire) || !self.store.index_flush_due() {
            return;
        }
        let Some(jobs) = &self.jobs else { return };
        self.flushing.store(true, Ordering::Release);
        if jobs.try_send(Job::FlushIndex).is_err() {
            // The writer is gone: the store's commits write the rows themselves when overdue.
            self.flushing.store(false, Ordering::Release);
        }
    }
}

/// Clears its flag when dropped.
struct ClearOnDrop<'a>(&'a AtomicBool);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::DEVNET_GENESIS;
    use std::time::Duration;
    use tally_ledger::store::{RocksBackend, Store};
    use tally_ledger::Genesis;

    /// A RocksDB store of the development chain at genesis, and its ledger.
    fn devnet_store() -> (tempfile::TempDir, Arc<LedgerStore>, Ledger) {
        let genesis = Genesis::from_bytes(DEVNET_GENESIS).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(RocksBackend::open(dir.path()).unwrap(), &genesis).unwrap());
        (dir, store, genesis.initial_ledger())
    }

    fn wait_idle(snapshots: &Snapshots) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while snapshots.writing.load(Ordering::Acquire) {
            assert!(Instant::now() < deadline, "the snapshot writer is stuck");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_snapshot_that_keeps_failing_is_tried_at_doubling_intervals_until_one_is_written() {
        let (_dir, store, ledger) = devnet_store();
        let first = store.snapshot().unwrap();
        let every_block = SnapshotPolicy { min_transfers: 1, max_blocks: 1 };
        let mut snapshots = Snapshots::spawn(store.clone(), every_block, Replayed::default()).unwrap();
        // A ledger ahead of the store cannot be stored: every try fails.
        let ahead = Ledger::new(ledger.params().clone(), Vec::new(), 5, ledger.last_block_hash(), 1);
        let mut tried = Vec::new();
        for commit in 1..=40u64 {
            snapshots.committed(&ahead, 1);
            if snapshots.awaiting_outcome {
                tried.push(commit);
            }
            wait_idle(&snapshots);
        }
        assert_eq!(tried, [1, 2, 4, 8, 16, 32], "tries at doubling intervals, though due by the policy");
        assert_eq!(store.snapshot().unwrap(), first);
        // The store recovers (here: the ledger is one it can store); the next try succeeds and
        // the policy decides again.
        for _ in 41..64 {
            snapshots.committed(&ledger, 1);
            assert!(!snapshots.awaiting_outcome, "waiting 32 blocks");
        }
        snapshots.committed(&ledger, 1);
        assert!(snapshots.awaiting_outcome, "the 64th commit tries again");
        wait_idle(&snapshots);
        assert_eq!(store.snapshot().unwrap().slot, 1 - first.slot, "and writes");
        snapshots.committed(&ledger, 1);
        assert!(snapshots.awaiting_outcome && snapshots.retry.is_none(), "then the policy decides: due at every block");
    }

    #[test]
    fn a_due_snapshot_is_written_and_a_failed_one_is_tried_again_at_the_next_commit() {
        let (_dir, store, ledger) = devnet_store();
        let first = store.snapshot().unwrap();

        // Never due by the policy: only a retry writes.
        let never = SnapshotPolicy { min_transfers: u64::MAX, max_blocks: u64::MAX };
        let mut snapshots = Snapshots::spawn(store.clone(), never, Replayed::default()).unwrap();
        snapshots.committed(&ledger, 5);
        wait_idle(&snapshots);
        assert_eq!(store.snapshot().unwrap(), first, "not due, not written");
        // A ledger ahead of the store cannot be stored: the write fails...
        let ahead = Ledger::new(ledger.params().clone(), Vec::new(), 5, ledger.last_block_hash(), 1);
        snapshots.policy = SnapshotPolicy { min_transfers: 1, max_blocks: u64::MAX };
        snapshots.committed(&ahead, 5);
        wait_idle(&snapshots);
        assert_eq!(store.snapshot().unwrap(), first, "the failed snapshot changed nothing");
        // ...and the next commit tries again, due or not.
        snapshots.policy = never;
        snapshots.committed(&ledger, 0);
        drop(snapshots); // waits for the writer
        let written = store.snapshot().unwrap();
        assert_eq!((written.slot, written.height, written.accounts), (1 - first.slot, 0, first.accounts));
    }

    #[test]
    fn due_index_rows_are_written_by_the_writer_thread() {
        use tally_ledger::store::{Backend, BlockCommit, Column, IndexFlushPolicy};
        use tally_ledger::{Block, Hash, Header};
        let genesis = Genesis::from_bytes(DEVNET_GENESIS).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(RocksBackend::open(dir.path()).unwrap(), &genesis)
            .unwrap()
            .with_index_flush(IndexFlushPolicy { rows: usize::MAX, blocks: 1 })
            .unwrap();
        let store = Arc::new(store);
        let never = SnapshotPolicy { min_transfers: u64::MAX, max_blocks: u64::MAX };
        let mut snapshots = Snapshots::spawn(store.clone(), never, Replayed::default()).unwrap();
        let header = Header {
            chain_id: genesis.params.chain_id.clone(),
            height: 1,
            time_ms: genesis.genesis_time_ms + 1,
            previous_hash: genesis.hash,
            proposer: PublicKey([1; 32]),
            transfers_root: Hash::ZERO,
            last_commit_hash: Hash::ZERO,
            state_root: Hash::ZERO,
        };
        let block = Block { header, last_commit: Vec::new(), transfers: Vec::new() };
        store.commit(&BlockCommit { block: &block, certificate: b"certificate" }).unwrap();
        assert!(store.index_flush_due(), "one block is due by this policy; the commit left it");
        snapshots.committed(&genesis.initial_ledger(), 0);
        drop(snapshots); // waits for the writer
        assert!(!store.index_flush_due());
        let indexed = store.backend().get(Column::Meta, b"indexed_height").unwrap();
        assert_eq!(indexed.as_deref(), Some(&1u64.to_be_bytes()[..]));
    }

    #[test]
    fn blocks_without_transfers_take_a_snapshot_after_max_blocks() {
        let (_dir, store, ledger) = devnet_store();
        let policy = SnapshotPolicy { min_transfers: 1_000, max_blocks: 3 };
        let mut snapshots = Snapshots::spawn(store.clone(), policy, Replayed { blocks: 1, transfers: 0 }).unwrap();
        snapshots.committed(&ledger, 0);
        wait_idle(&snapshots);
        assert_eq!(store.snapshot().unwrap().slot, 0, "two blocks: not yet");
        snapshots.committed(&ledger, 0);
        drop(snapshots);
        assert_eq!(store.snapshot().unwrap().slot, 1, "the third block since the snapshot takes one");
    }
}
