//! The mempool actor: owns the [`Mempool`] and the signature verifier, admits transfers from the
//! RPC and from gossip, gossips what it accepts in batches, serves the proposer and the block
//! validator, and remembers how recent transfers ended. It holds every committed account too,
//! kept current by each commit: admission checks senders against them, and `getAccount` reads
//! them here, at the same height as the pool it reports pending nonces from.

use crate::backlog::Backlog;
use crate::mempool::{Admission, Mempool, MempoolConfig, Outcome};
use crate::metrics::NodeMetrics;
use crate::recent::Recent;
use crate::wire::{decode_batch, encode_batch, MAX_BATCH_TRANSFERS};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally_ledger::crypto::SignatureVerifier;
use tally_ledger::state::{check_chain, check_fee};
use tally_ledger::{Account, ChainParams, Hash, PublicKey, RejectReason, Transfer, VerifiedTransfer};
use tally_p2p::{MessageId, NetworkHandle, PeerId, Topic, Verdict};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, warn};

/// Capacity of the mempool's channel of client and gossip traffic.
pub const MEMPOOL_CHANNEL_CAPACITY: usize = 4096;
/// Capacity of the consensus driver's channel (reap, verify, commit), served first.
const CONTROL_CHANNEL_CAPACITY: usize = 64;
/// How long accepted transfers wait to be gossiped together. A gossip message costs each
/// validator about 85 µs of CPU whatever it carries, plus ~1.4 µs per transfer
/// (`cargo bench -p tally-p2p --bench gossip`), so batches are worth a short wait.
const GOSSIP_FLUSH: Duration = Duration::from_millis(25);
/// Accepted transfers that are gossiped at once, without waiting for the flush.
const GOSSIP_BATCH: usize = 256;
/// How many recently committed transfers are recognised when a client sends them again.
const COMMITTED_KEPT: usize = 100_000;
/// How many final outcomes (expired, replaced) are remembered for `getTransaction`.
const OUTCOMES_KEPT: usize = 100_000;

/// What the mempool knows of a transfer that is not committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolStatus {
    /// Waiting here.
    Pending(Transfer),
    /// Left the pool with a final outcome.
    Ended(Transfer, Outcome),
    /// Never seen, or forgotten.
    Unknown,
}

enum Command {
    Submit { transfer: Transfer, reply: oneshot::Sender<Result<Admission, RejectReason>> },
    Gossip { data: Vec<u8>, source: PeerId, message_id: MessageId },
    Reap { max: usize, reply: oneshot::Sender<Vec<VerifiedTransfer>> },
    VerifyBlock { transfers: Vec<Transfer>, reply: oneshot::Sender<Result<Vec<VerifiedTransfer>, usize>> },
    Committed { height: u64, transfers: Arc<Vec<Transfer>>, accounts: Arc<Vec<(PublicKey, Account)>> },
    Drop { hashes: Vec<Hash> },
    Status { hash: Hash, reply: oneshot::Sender<PoolStatus> },
    Account { key: PublicKey, reply: oneshot::Sender<AccountView> },
}

/// An account as the mempool sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountView {
    /// Its committed state.
    pub account: Account,
    /// The nonce its next transfer needs, counting its transfers waiting in the pool.
    pub pending_nonce: u64,
    /// The committed height `account` is at.
    pub height: u64,
}

/// The handle other components use.
#[derive(Clone)]
pub struct MempoolHandle {
    /// Client and gossip traffic.
    tx: mpsc::Sender<Command>,
    /// The driver's requests: served before any queued traffic, so that building, validating
    /// and committing blocks never waits behind a backlog of submissions.
    control: mpsc::Sender<Command>,
    /// The number of transfers waiting, updated after every change.
    pub size: watch::Receiver<usize>,
    /// The committed height the pool and its accounts are at, updated after every commit.
    pub height: watch::Receiver<u64>,
    /// Counts the submissions shed because the admission queue was full.
    shed: prometheus_client::metrics::counter::Counter,
}

/// The mempool actor stopped (the node is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("mempool stopped")]
pub struct MempoolStopped;

impl MempoolHandle {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, MempoolStopped> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| MempoolStopped)?;
        rx.await.map_err(|_| MempoolStopped)
    }

    async fn ask_control<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, MempoolStopped> {
        let (reply, rx) = oneshot::channel();
        self.control.send(make(reply)).await.map_err(|_| MempoolStopped)?;
        rx.await.map_err(|_| MempoolStopped)
    }

    /// Admits a transfer from a client (checks in SPEC order; the signature once).
    ///
    /// Never waits for room: when the admission queue is full the node is past saturation and
    /// the transfer is shed at once, unchecked, as `mempool_full` (the client should retry with
    /// a backoff), rather than every client's call slowing down behind the queue.
    pub async fn submit(&self, transfer: Transfer) -> Result<Result<Admission, RejectReason>, MempoolStopped> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Command::Submit { transfer, reply }) {
            Ok(()) => rx.await.map_err(|_| MempoolStopped),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shed.inc();
                Ok(Err(RejectReason::MempoolFull))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(MempoolStopped),
        }
    }

    /// Hands a gossiped batch to the pool, which reports the verdict to the network itself.
    /// Never waits: when the pool is backed up the batch is dropped (`Ok(false)`), unreported,
    /// and gossipsub forgets it after its validation window — past saturation the node sheds
    /// gossip rather than delay the consensus messages routed beside it.
    pub fn gossip(&self, data: Vec<u8>, source: PeerId, message_id: MessageId) -> Result<bool, MempoolStopped> {
        match self.tx.try_send(Command::Gossip { data, source, message_id }) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(MempoolStopped),
        }
    }

    /// Up to `max` transfers ready for a block.
    pub async fn reap(&self, max: usize) -> Result<Vec<VerifiedTransfer>, MempoolStopped> {
        self.ask_control(|reply| Command::Reap { max, reply }).await
    }

    /// Verifies a proposed block's transfers: those already in the pool are not checked again,
    /// the others are batch-verified. `Err(i)`: transfer `i` has a bad signature.
    pub async fn verify_block(
        &self,
        transfers: Vec<Transfer>,
    ) -> Result<Result<Vec<VerifiedTransfer>, usize>, MempoolStopped> {
        self.ask_control(|reply| Command::VerifyBlock { transfers, reply }).await
    }

    /// Tells the pool a block committed.
    /// A block was committed: its transfers, and the accounts it changed with their new state.
    pub async fn committed(
        &self,
        height: u64,
        transfers: Arc<Vec<Transfer>>,
        accounts: Arc<Vec<(PublicKey, Account)>>,
    ) -> Result<(), MempoolStopped> {
        self.control.send(Command::Committed { height, transfers, accounts }).await.map_err(|_| MempoolStopped)
    }

    /// Drops transfers a proposer found inapplicable.
    pub async fn drop_transfers(&self, hashes: Vec<Hash>) -> Result<(), MempoolStopped> {
        self.control.send(Command::Drop { hashes }).await.map_err(|_| MempoolStopped)
    }

    /// What the pool knows of `hash`.
    pub async fn status(&self, hash: Hash) -> Result<PoolStatus, MempoolStopped> {
        self.ask(|reply| Command::Status { hash, reply }).await
    }

    /// An account's committed state and its next nonce counting its waiting transfers.
    pub async fn account(&self, key: PublicKey) -> Result<AccountView, MempoolStopped> {
        self.ask(|reply| Command::Account { key, reply }).await
    }
}

/// The actor's state.
pub struct MempoolActor {
    pool: Mempool,
    verifier: SignatureVerifier,
    params: ChainParams,
    network: Option<NetworkHandle>,
    outcomes: Recent<Hash, (Transfer, Outcome)>,
    outgoing: Vec<Transfer>,
    size_tx: watch::Sender<usize>,
    height_tx: watch::Sender<u64>,
    metrics: NodeMetrics,
    /// The height of the next block, as known from commits.
    next_height: u64,
    /// Transfers verified for a proposed block without entering the pool, oldest first, so
    /// that their gossip arriving later is not checked again (bounded: [`RECENTLY_VERIFIED_KEPT`]).
    recently_verified: Recent<Hash, VerifiedTransfer>,
    /// Every committed account, kept current by every commit (the store keeps accounts only
    /// as occasional snapshots). Admission reads each sender twice (used nonce, then the pool's
    /// checks), on every node.
    accounts: HashMap<PublicKey, Account>,
    /// Hashes of recently committed transfers, oldest first (bounded: [`COMMITTED_KEPT`]), so
    /// that a client sending one again is answered without a signature check.
    committed: Recent<Hash, ()>,
    /// The commit rate, and from it how many waiting transfers mean the node is behind.
    backlog: Backlog,
}

/// How many block-verified transfers are remembered: two full blocks' worth.
const RECENTLY_VERIFIED_KEPT: usize = 20_000;

impl MempoolActor {
    /// Spawns the actor with the committed `accounts` at `committed_height`, on a thread of its
    /// own; it stops when every handle is dropped.
    ///
    /// The actor's work is signature checks, milliseconds at a time (a gossiped batch, a
    /// block's unknown transfers), so it does not run on the node's tokio workers: there it held
    /// one while the network, consensus and RPC tasks queued behind it, and under load a 1 MB
    /// proposal took 119–204 ms at p50 (up to ~900 ms) to cross loopback, the swarm task waiting
    /// for a worker (`docs/BENCHMARKS.md`, ninth run).
    pub fn spawn(
        config: MempoolConfig,
        params: ChainParams,
        accounts: HashMap<PublicKey, Account>,
        network: Option<NetworkHandle>,
        metrics: NodeMetrics,
        committed_height: u64,
    ) -> std::io::Result<MempoolHandle> {
        let (tx, rx) = mpsc::channel(MEMPOOL_CHANNEL_CAPACITY);
        let (control, control_rx) = mpsc::channel(CONTROL_CHANNEL_CAPACITY);
        let (size_tx, size) = watch::channel(0);
        let (height_tx, height) = watch::channel(committed_height);
        let backlog = Backlog::new(Duration::from_millis(config.max_backlog_ms), params.max_block_txs as usize);
        let actor = MempoolActor {
            pool: Mempool::new(config),
            verifier: SignatureVerifier::new(),
            params,
            network,
            outcomes: Recent::new(OUTCOMES_KEPT),
            outgoing: Vec::new(),
            size_tx,
            height_tx,
            metrics,
            next_height: committed_height + 1,
            recently_verified: Recent::new(RECENTLY_VERIFIED_KEPT),
            accounts,
            committed: Recent::new(COMMITTED_KEPT),
            backlog,
        };
        let shed = actor.metrics.submissions_shed.clone();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
        std::thread::Builder::new()
            .name("tally-mempool".into())
            .spawn(move || runtime.block_on(actor.run(control_rx, rx)))?;
        Ok(MempoolHandle { tx, control, size, height, shed })
    }

    async fn run(mut self, mut control: mpsc::Receiver<Command>, mut rx: mpsc::Receiver<Command>) {
        let mut flush = tokio::time::interval(GOSSIP_FLUSH);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                command = control.recv() => match command {
                    Some(command) => self.handle(command).await,
                    None => break,
                },
                _ = flush.tick(), if !self.outgoing.is_empty() => self.flush_gossip().await,
                command = rx.recv() => match command {
                    Some(command) => {
                        self.handle(command).await;
                        if self.outgoing.len() >= GOSSIP_BATCH {
                            // A full batch goes out at once; the next one gets a whole interval.
                            self.flush_gossip().await;
                            flush.reset();
                        }
                    }
                    None => break,
                },
            }
        }
        debug!("mempool stopped");
    }

    fn publish_size(&mut self) {
        self.size_tx.send_replace(self.pool.len());
        self.metrics.mempool_transfers.set(self.pool.len() as i64);
        self.metrics.mempool_bytes.set(self.pool.bytes() as i64);
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Submit { transfer, reply } => {
                let result = self.admit_local(transfer);
                let _ = reply.send(result);
            }
            Command::Gossip { data, source, message_id } => {
                let verdict = self.admit_gossip(&data);
                if verdict == Verdict::Reject {
                    warn!(%source, "rejected an invalid transfer batch; the peer's score drops");
                }
                if let Some(network) = &self.network {
                    let _ = network.report(message_id, source, verdict).await;
                }
            }
            Command::Reap { max, reply } => {
                let _ = reply.send(self.pool.reap(max));
            }
            Command::VerifyBlock { transfers, reply } => {
                let _ = reply.send(self.verify_block(transfers));
            }
            Command::Committed { height, transfers, accounts } => {
                self.next_height = height + 1;
                self.backlog.record(Instant::now(), transfers.len());
                self.accounts.extend(accounts.iter().copied());
                for transfer in transfers.iter() {
                    self.committed.insert(transfer.hash(), ());
                }
                for (transfer, outcome) in self.pool.on_commit(height, &transfers) {
                    self.remember(transfer.into_inner(), outcome);
                }
                self.height_tx.send_replace(height);
            }
            Command::Drop { hashes } => {
                self.pool.drop_transfers(hashes);
            }
            Command::Status { hash, reply } => {
                let status = match self.pool.get(&hash) {
                    Some(t) => PoolStatus::Pending(t.transfer().clone()),
                    None => match self.outcomes.get(&hash) {
                        Some((t, outcome)) => PoolStatus::Ended(t.clone(), *outcome),
                        None => PoolStatus::Unknown,
                    },
                };
                let _ = reply.send(status);
            }
            Command::Account { key, reply } => {
                let account = self.account(&key);
                let pending_nonce = self.pool.pending_nonce(&key, account.nonce);
                let _ = reply.send(AccountView { account, pending_nonce, height: self.next_height - 1 });
            }
        }
        self.publish_size();
    }

    /// Keeps the final outcome of a transfer that left the pool (only expired and replaced are
    /// final; a dropped one is forgotten, so its sender may send it again).
    fn remember(&mut self, transfer: Transfer, outcome: Outcome) {
        if outcome == Outcome::Dropped {
            return;
        }
        self.outcomes.insert(transfer.hash(), (transfer, outcome));
    }

    /// The stateful part of admission, shared by both paths.
    fn insert(&mut self, transfer: VerifiedTransfer) -> Result<Admission, RejectReason> {
        let sender = self.account(&transfer.from);
        let (admission, _evicted) = self.pool.insert(transfer, &sender, self.next_height)?;
        Ok(admission)
    }

    /// True when the pool already holds more than its backlog allows, so that `transfer` would
    /// only wait behind the others: it is shed before its signature costs anything. Never shed:
    /// a fee that outbids the cheapest waiting one, and a transfer its sender's waiting later
    /// nonces depend on (shedding that would strand them, and a pool full of stranded transfers
    /// would shed the very transfers that free it). Gossip is not shed: what another validator
    /// accepted is needed here to build blocks.
    fn behind(&mut self, transfer: &Transfer) -> bool {
        let Some(limit) = self.backlog.limit(Instant::now()) else { return false };
        self.pool.len() >= limit
            && self.pool.cheapest_fee().is_none_or(|cheapest| transfer.fee <= cheapest)
            && !self.pool.waits_after(&transfer.from, transfer.nonce)
    }

    fn admit_local(&mut self, transfer: Transfer) -> Result<Admission, RejectReason> {
        let hash = transfer.hash();
        if self.pool.contains(&hash) {
            return Ok(Admission::AlreadyPending);
        }
        if self.committed.contains(&hash) {
            return Ok(Admission::AlreadyCommitted);
        }
        if self.behind(&transfer) {
            self.metrics.submissions_shed.inc();
            return Err(RejectReason::MempoolFull);
        }
        check_chain(&transfer, &self.params)?;
        let verified = match self.verify(vec![transfer]).pop() {
            Some(Ok(verified)) => verified,
            _ => return Err(RejectReason::InvalidSignature),
        };
        check_fee(&verified, &self.params)?;
        let admission = self.insert(verified.clone())?;
        if admission == Admission::Added {
            self.outgoing.push(verified.into_inner());
        }
        Ok(admission)
    }

    /// Admits a gossiped batch: any transfer failing a stateless check rejects the message;
    /// stale ones (nonce used, expired, pool full) are only ignored.
    fn admit_gossip(&mut self, data: &[u8]) -> Verdict {
        let Ok(transfers) = decode_batch(data) else { return Verdict::Reject };
        if transfers.iter().any(|t| check_chain(t, &self.params).is_err()) {
            return Verdict::Reject;
        }
        // Already pending, or already used up by a committed block (the batch was slow to
        // come): neither is worth a signature check.
        let fresh: Vec<Transfer> =
            transfers.into_iter().filter(|t| !self.pool.contains(&t.hash()) && !self.nonce_used(t)).collect();
        let (known, unknown): (Vec<Transfer>, Vec<Transfer>) =
            fresh.into_iter().partition(|t| self.recently_verified.contains(&t.hash()));
        let known: Vec<Result<VerifiedTransfer, Transfer>> =
            known.into_iter().map(|t| self.recently_verified.get(&t.hash()).cloned().ok_or(t)).collect();
        let mut admitted = 0;
        for result in known.into_iter().chain(self.verify(unknown)) {
            match result {
                Err(_) => return Verdict::Reject,
                Ok(verified) => {
                    if check_fee(&verified, &self.params).is_err() {
                        return Verdict::Reject;
                    }
                    if self.insert(verified).is_ok() {
                        admitted += 1;
                    }
                }
            }
        }
        if admitted > 0 {
            Verdict::Accept
        } else {
            Verdict::Ignore
        }
    }

    /// Checks signatures (each transfer's once per node: callers pass only unknown ones).
    fn verify(&mut self, transfers: Vec<Transfer>) -> Vec<Result<VerifiedTransfer, Transfer>> {
        self.metrics.signatures_verified.inc_by(transfers.len() as u64);
        self.verifier.verify_transfers(transfers)
    }

    fn remember_verified(&mut self, verified: &VerifiedTransfer) {
        self.recently_verified.insert(verified.transfer().hash(), verified.clone());
    }

    /// True if a committed block has used `transfer`'s nonce.
    fn nonce_used(&self, transfer: &Transfer) -> bool {
        transfer.nonce < self.account(&transfer.from).nonce
    }

    /// A committed account (zero if never seen).
    fn account(&self, key: &PublicKey) -> Account {
        self.accounts.get(key).copied().unwrap_or_default()
    }

    fn verify_block(&mut self, transfers: Vec<Transfer>) -> Result<Vec<VerifiedTransfer>, usize> {
        let mut out: Vec<Option<VerifiedTransfer>> = Vec::with_capacity(transfers.len());
        let mut unknown = Vec::new();
        let mut unknown_at = Vec::new();
        for (i, t) in transfers.into_iter().enumerate() {
            match self.pool.get(&t.hash()) {
                Some(verified) => out.push(Some(verified.clone())),
                None => {
                    out.push(None);
                    unknown_at.push(i);
                    unknown.push(t);
                }
            }
        }
        if !unknown.is_empty() {
            debug!(unknown = unknown.len(), of = out.len(), "a block brought transfers not in the pool");
        }
        for (i, result) in unknown_at.into_iter().zip(self.verify(unknown)) {
            match result {
                Ok(verified) => {
                    self.remember_verified(&verified);
                    out[i] = Some(verified);
                }
                Err(_) => return Err(i),
            }
        }
        out.into_iter().enumerate().map(|(i, v)| v.ok_or(i)).collect()
    }

    async fn flush_gossip(&mut self) {
        let outgoing = std::mem::take(&mut self.outgoing);
        let Some(network) = &self.network else { return };
        for chunk in outgoing.chunks(MAX_BATCH_TRANSFERS) {
            if let Err(e) = network.publish(Topic::Transfers, encode_batch(chunk)).await {
                debug!(error = %e, "transfer gossip not sent");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::DEVNET_GENESIS;
    use ed25519_dalek::SigningKey;
    use tally_ledger::genesis::dev_account_seed;
    use tally_ledger::genesis::Genesis;

    /// The committed accounts of `genesis`.
    fn accounts_of(genesis: &Genesis) -> HashMap<PublicKey, Account> {
        genesis.initial_ledger().accounts().map(|(k, a)| (*k, *a)).collect()
    }
    use tally_ledger::TransferBody;

    fn transfer(genesis: &Genesis, key: &SigningKey, nonce: u64, amount: u64) -> Transfer {
        TransferBody {
            chain_id: genesis.params.chain_id.clone(),
            from: PublicKey::from(&key.verifying_key()),
            to: PublicKey([9; 32]),
            amount,
            fee: genesis.params.min_fee,
            nonce,
            valid_until: 0,
            memo: vec![],
        }
        .sign(key)
        .unwrap()
    }

    /// Waits (bounded) until `check` holds.
    async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !check().await {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gossip_batches_never_exceed_a_full_batch_and_carry_every_admitted_transfer() {
        use tally_ledger::genesis::{Genesis as G, GenesisValidator};
        use tally_p2p::{Keypair, Network, NetworkConfig, NetworkEvent, Protocol, Topic};

        // 40 funded senders x 10 nonces: more than a full batch, admitted back to back.
        let keys: Vec<SigningKey> = (0..40u8).map(|i| SigningKey::from_bytes(&[i + 1; 32])).collect();
        let devnet = Genesis::from_bytes(DEVNET_GENESIS).unwrap();
        let genesis = G {
            params: devnet.params.clone(),
            genesis_time_ms: 1,
            validators: vec![GenesisValidator { name: "v0".into(), public_key: PublicKey([1; 32]), power: 1 }],
            accounts: keys.iter().map(|k| (PublicKey::from(&k.verifying_key()), 1_000_000_000)).collect(),
            hash: Hash::digest(b"gossip batch test"),
        };

        let network = |bootstrap: Vec<tally_p2p::Multiaddr>| {
            let mut config = NetworkConfig::new(Keypair::generate_ed25519(), "gossip-test", [7; 32]);
            config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
            config.bootstrap = bootstrap;
            Network::spawn(config)
        };
        let (observer, mut events) = network(Vec::new()).await.unwrap();
        let observer_addr = observer.listen_addrs()[0].clone().with(Protocol::P2p(observer.local_peer_id()));
        let (ours, _our_events) = network(vec![observer_addr]).await.unwrap();
        let peer = observer.local_peer_id();
        eventually("the observer in our transfer mesh", async || {
            ours.mesh_peers(Topic::Transfers).await.unwrap().contains(&peer)
        })
        .await;

        let config = MempoolConfig { max_backlog_ms: 0, ..MempoolConfig::default() };
        let mempool = MempoolActor::spawn(
            config,
            genesis.params.clone(),
            accounts_of(&genesis),
            Some(ours),
            NodeMetrics::detached(),
            0,
        )
        .unwrap();
        let mut sent = 0;
        for nonce in 0..10 {
            for key in &keys {
                let t = transfer(&genesis, key, nonce, 10);
                assert_eq!(mempool.submit(t).await.unwrap(), Ok(Admission::Added));
                sent += 1;
            }
        }
        let mut received = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), async {
            while received.iter().sum::<usize>() < sent {
                match events.recv().await {
                    Some(NetworkEvent::Gossip { topic: Topic::Transfers, data, .. }) => {
                        received.push(decode_batch(&data).unwrap().len())
                    }
                    Some(_) => {}
                    None => panic!("the observer stopped"),
                }
            }
        })
        .await
        .expect("every admitted transfer is gossiped");
        assert_eq!(received.iter().sum::<usize>(), sent);
        assert!(received.iter().all(|&n| n <= GOSSIP_BATCH), "batch sizes {received:?}");
    }

    #[tokio::test]
    async fn a_submission_finding_the_admission_queue_full_is_shed_at_once() {
        let genesis = Genesis::from_bytes(DEVNET_GENESIS).unwrap();
        let (tx, mut queue) = mpsc::channel(1);
        let (control, _control_queue) = mpsc::channel(1);
        let (_size_tx, size) = watch::channel(0);
        let (_height_tx, height) = watch::channel(0);
        let metrics = NodeMetrics::detached();
        let mempool = MempoolHandle { tx, control, size, height, shed: metrics.submissions_shed.clone() };
        // Something else holds the queue's only place, and no actor drains it.
        let (reply, _) = oneshot::channel();
        assert!(mempool.tx.try_send(Command::Status { hash: Hash::ZERO, reply }).is_ok());
        let key = SigningKey::from_bytes(&dev_account_seed(0));
        let answer =
            tokio::time::timeout(Duration::from_secs(5), mempool.submit(transfer(&genesis, &key, 0, 10))).await;
        assert_eq!(answer.expect("a full queue answers without waiting").unwrap(), Err(RejectReason::MempoolFull));
        assert_eq!(metrics.submissions_shed.get(), 1);

        // Once there is room, submissions are queued for the actor's checks again.
        assert!(matches!(queue.recv().await, Some(Command::Status { .. })));
        let waiting = tokio::spawn(async move { mempool.submit(transfer(&genesis, &key, 0, 10)).await });
        assert!(matches!(queue.recv().await, Some(Command::Submit { .. })));
        waiting.abort();
        assert_eq!(metrics.submissions_shed.get(), 1);
    }

    #[tokio::test]
    async fn a_pool_behind_sheds_submissions_unchecked_but_takes_gap_fillers_and_better_fees() {
        let genesis = Genesis::from_bytes(DEVNET_GENESIS).unwrap();
        let metrics = NodeMetrics::register(&mut Default::default());
        // Nothing committed yet, so the backlog allowed is the floor: one block of 3 transfers.
        let params = ChainParams { max_block_txs: 3, ..genesis.params.clone() };
        let mempool =
            MempoolActor::spawn(MempoolConfig::default(), params, accounts_of(&genesis), None, metrics.clone(), 0)
                .unwrap();
        let key = |i: u32| SigningKey::from_bytes(&dev_account_seed(i));
        // Account 1 sends its nonce 1 before its nonce 0 (an open-loop client racing itself).
        for (i, nonce) in [(0, 0), (1, 1), (2, 0)] {
            assert_eq!(mempool.submit(transfer(&genesis, &key(i), nonce, 10)).await.unwrap(), Ok(Admission::Added));
        }
        let late = transfer(&genesis, &key(3), 0, 10);
        assert_eq!(mempool.submit(late.clone()).await.unwrap(), Err(RejectReason::MempoolFull));
        assert_eq!(metrics.submissions_shed.get(), 1);
        assert_eq!(metrics.signatures_verified.get(), 3, "the shed submission cost no signature check");
        let next = transfer(&genesis, &key(0), 1, 10);
        assert_eq!(mempool.submit(next).await.unwrap(), Err(RejectReason::MempoolFull), "a follow-up is shed too");
        let gap_filler = transfer(&genesis, &key(1), 0, 10);
        assert_eq!(
            mempool.submit(gap_filler).await.unwrap(),
            Ok(Admission::Added),
            "the nonce a waiting transfer depends on is never shed"
        );

        let mut outbid = late.body().clone();
        outbid.fee += 1;
        let outbid = outbid.sign(&key(3)).unwrap();
        assert_eq!(mempool.submit(outbid).await.unwrap(), Ok(Admission::Added), "a better fee still gets in");
    }

    #[tokio::test]
    async fn admission_and_account_reads_see_every_commit() {
        let genesis = Genesis::from_bytes(DEVNET_GENESIS).unwrap();
        let metrics = NodeMetrics::register(&mut Default::default());
        let accounts = accounts_of(&genesis);
        let mempool =
            MempoolActor::spawn(MempoolConfig::default(), genesis.params.clone(), accounts.clone(), None, metrics, 0)
                .unwrap();
        let key = SigningKey::from_bytes(&dev_account_seed(0));
        let sender = PublicKey::from(&key.verifying_key());
        let first = transfer(&genesis, &key, 0, 10);
        assert_eq!(mempool.submit(first.clone()).await.unwrap(), Ok(Admission::Added));

        let before = accounts[&sender];
        let pending = AccountView { account: before, pending_nonce: 1, height: 0 };
        assert_eq!(mempool.account(sender).await.unwrap(), pending);

        // The block carrying it commits: the pool learns the sender's new state from the commit.
        let after = Account { balance: before.balance - 10 - genesis.params.min_fee, nonce: 1 };
        mempool.committed(1, Arc::new(vec![first.clone()]), Arc::new(vec![(sender, after)])).await.unwrap();
        let committed = AccountView { account: after, pending_nonce: 1, height: 1 };
        assert_eq!(mempool.account(sender).await.unwrap(), committed);

        assert_eq!(
            mempool.submit(first.clone()).await.unwrap(),
            Ok(Admission::AlreadyCommitted),
            "the committed transfer sent again is recognised, not checked again"
        );
        let replay = transfer(&genesis, &key, 0, 11);
        assert_eq!(mempool.submit(replay).await.unwrap(), Err(RejectReason::BadNonce), "a replayed nonce is refused");
        let second = transfer(&genesis, &key, 1, 10);
        assert_eq!(mempool.submit(second.clone()).await.unwrap(), Ok(Admission::Added));
        let ready: Vec<Hash> = mempool.reap(10).await.unwrap().iter().map(|t| t.transfer().hash()).collect();
        assert_eq!(ready, vec![second.hash()], "the next nonce is ready for a block at once");
    }
}
