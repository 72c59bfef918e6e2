//! Apply + commit of 10,000-transfer blocks to a RocksDB store holding 1,000,000 accounts:
//! execution against the in-memory state, the state-root update and the synced write, excluding
//! signature checks (done once at mempool admission). Reported on one core and on all cores.
//! A block commit does not write accounts; the snapshots of every account that stand in for
//! that are measured after the blocks and their cost spread over the blocks between two
//! snapshots (`SnapshotPolicy::interval`, the node's default policy).
//!
//! `cargo bench -p tally-ledger --bench apply_commit` (env `TALLY_BENCH_ACCOUNTS`,
//! `TALLY_BENCH_BLOCKS` shrink or grow it; `TALLY_BENCH_JSON=FILE` appends each pass's figures
//! to FILE as a JSON line; `TALLY_BENCH_ROCKSDB_STATS=1` prints RocksDB's statistics of each
//! column after the blocks).

use ed25519_dalek::SigningKey;
use std::time::Instant;
use tally_ledger::crypto::verify_transfer;
use tally_ledger::genesis::{Genesis, GenesisValidator};
use tally_ledger::store::{BlockCommit, RocksBackend, SnapshotPolicy, Store};
use tally_ledger::{
    Block, BlockContext, ChainId, ChainParams, Hash, Header, PublicKey, TransferBody, VerifiedTransfer,
};

const TRANSFERS_PER_BLOCK: usize = 10_000;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The CPU time this process has used, all threads: the pass's own and RocksDB's background
/// flushes and compactions, which a wall-clock figure on one thread leaves out.
fn process_cpu() -> std::time::Duration {
    cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// The CPU time RocksDB's background threads (flushes, compactions) have used, from the
/// kernel's per-thread run time (`/proc/self/task/*/schedstat`, nanoseconds); threads that
/// ended are not counted, and RocksDB keeps its pool for the database's life.
fn rocksdb_cpu() -> std::time::Duration {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.starts_with("rocksdb:") {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            total += stat.split_whitespace().next().and_then(|ns| ns.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    std::time::Duration::from_nanos(total)
}

fn cpu_clock(clock: libc::clockid_t) -> std::time::Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer for the call.
    let status = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(status, 0, "a CPU clock is unreadable");
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The bytes of the files under `dir` (a RocksDB directory is flat).
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()
}

fn key(i: u64) -> SigningKey {
    SigningKey::from_bytes(&Hash::digest(&i.to_le_bytes()).0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let accounts = env_or("TALLY_BENCH_ACCOUNTS", 1_000_000) as u64;
    // Enough blocks for the memtables to fill and flush as they do in a running node.
    let blocks = env_or("TALLY_BENCH_BLOCKS", 20);
    let proposer = PublicKey([0xee; 32]);
    // Genesis accounts are public keys derived by hashing, except the senders, which need keys.
    // Each account sends at most once a block; with fewer accounts than transfers, the senders
    // take turns (transfer i is sender i mod senders's nonce i / senders).
    let transfers = (TRANSFERS_PER_BLOCK * blocks) as u64;
    let sender_keys: Vec<SigningKey> = (0..transfers.min(accounts)).map(key).collect();
    let senders = sender_keys.len() as u64;
    let mut genesis_accounts: Vec<(PublicKey, u64)> =
        sender_keys.iter().map(|k| (PublicKey::from(&k.verifying_key()), 1_000_000)).collect();
    genesis_accounts.extend(
        (genesis_accounts.len() as u64..accounts).map(|i| (PublicKey(Hash::digest(&i.to_be_bytes()).0), 1_000_000)),
    );
    let genesis = Genesis {
        params: ChainParams {
            chain_id: ChainId::new("bench-devnet").unwrap(),
            min_fee: 1,
            max_block_txs: TRANSFERS_PER_BLOCK as u64,
            max_block_bytes: 16 << 20,
            validators: vec![proposer],
        },
        genesis_time_ms: 1,
        validators: vec![GenesisValidator { name: "v0".into(), public_key: proposer, power: 1 }],
        accounts: genesis_accounts,
        hash: Hash::digest(b"bench-genesis"),
    };
    eprintln!("signing {transfers} transfers for {blocks} blocks…");
    let all: Vec<VerifiedTransfer> = (0..transfers)
        .map(|i| {
            let k = &sender_keys[(i % senders) as usize];
            let to = PublicKey(Hash::digest(&((i * 7919) % accounts).to_be_bytes()).0);
            let body = TransferBody {
                chain_id: genesis.params.chain_id.clone(),
                from: PublicKey::from(&k.verifying_key()),
                to,
                amount: 10,
                fee: 1,
                nonce: i / senders,
                valid_until: 0,
                memo: vec![],
            };
            verify_transfer(body.sign(k).unwrap()).unwrap()
        })
        .collect();
    let chunks: Vec<Vec<VerifiedTransfer>> = all.chunks(TRANSFERS_PER_BLOCK).map(<[_]>::to_vec).collect();

    // TALLY_BENCH_THREADS=1 runs only the one-core pass (for profiling).
    let passes: Vec<usize> = match std::env::var("TALLY_BENCH_THREADS").ok().and_then(|v| v.parse().ok()) {
        Some(n) => vec![n],
        None => vec![1, 0],
    };
    for threads in passes {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let label =
            if threads == 1 { "1 thread".to_string() } else { format!("{} threads", pool.current_num_threads()) };
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let store = Store::open(RocksBackend::open(dir.path()).unwrap(), &genesis).unwrap();
        let mut ledger = pool.install(|| genesis.initial_ledger());
        // The genesis accounts' flush and compaction are setup, not the blocks' cost.
        store.backend().flush_and_wait(true).unwrap();
        eprintln!("[{label}] store and state of {accounts} accounts ready in {:.1} s", started.elapsed().as_secs_f64());
        let mut total = std::time::Duration::ZERO;
        let mut executing = std::time::Duration::ZERO;
        let mut assembling = std::time::Duration::ZERO;
        let mut committing = std::time::Duration::ZERO;
        let mut applying = std::time::Duration::ZERO;
        let mut count = 0usize;
        let cpu_started = process_cpu();
        let background_started = rocksdb_cpu();
        for chunk in &chunks {
            let height = ledger.height() + 1;
            let started = Instant::now();
            let (block, execution) = pool.install(|| {
                let ctx = BlockContext { height, proposer };
                let execution = ledger.execute(&ctx, chunk).unwrap();
                executing += started.elapsed();
                let assembly_started = Instant::now();
                let mut block = Block {
                    header: Header {
                        chain_id: genesis.params.chain_id.clone(),
                        height,
                        time_ms: height + 1,
                        previous_hash: ledger.last_block_hash(),
                        proposer,
                        transfers_root: Hash::ZERO,
                        last_commit_hash: Hash::ZERO,
                        state_root: execution.state_root(),
                    },
                    last_commit: Vec::new(),
                    transfers: chunk.iter().map(|t| t.transfer().clone()).collect(),
                };
                block.header.transfers_root = block.computed_transfers_root();
                assembling += assembly_started.elapsed();
                (block, execution)
            });
            let commit_started = Instant::now();
            store.commit(&BlockCommit { block: &block, certificate: b"bench" }).unwrap();
            // A node writes the index rows on another thread; here they are written in line.
            if store.index_flush_due() {
                store.flush_index().unwrap();
            }
            committing += commit_started.elapsed();
            let apply_started = Instant::now();
            ledger.apply(execution, block.hash(), block.header.time_ms);
            applying += apply_started.elapsed();
            let elapsed = started.elapsed();
            total += elapsed;
            count += chunk.len();
            eprintln!("[{label}] block {height}: {} transfers in {:.1} ms", chunk.len(), elapsed.as_secs_f64() * 1e3);
        }
        // The index rows still held in memory are written, as a later flush would (one is due
        // every quarter of a million rows), and counted with the commits.
        let index_started = Instant::now();
        store.flush_index().unwrap();
        committing += index_started.elapsed();
        total += index_started.elapsed();
        // What the blocks wrote is flushed and compacted (background work the wall-clock
        // figures leave out) before the CPU time is read.
        store.backend().flush_and_wait(true).unwrap();
        if std::env::var_os("TALLY_BENCH_ROCKSDB_STATS").is_some() {
            eprintln!("{}", store.backend().column_stats().unwrap());
        }
        let blocks_cpu = process_cpu().saturating_sub(cpu_started);
        let background = rocksdb_cpu().saturating_sub(background_started);
        // One snapshot, as a node takes it: the accounts copied on the commit path, then written
        // and flushed (on another thread in a node), with the compaction that follows. A node
        // takes one every `SnapshotPolicy::interval` transfers, so each block bears that share of it.
        let snapshot_cpu_started = process_cpu();
        let copy_started = Instant::now();
        let snapshot: Vec<_> = ledger.accounts().map(|(k, a)| (*k, *a)).collect();
        let copy = copy_started.elapsed();
        let write_started = Instant::now();
        store.write_snapshot(ledger.height(), &snapshot).unwrap();
        store.backend().flush_and_wait(true).unwrap();
        let snapshot_write = write_started.elapsed();
        let snapshot_cpu = process_cpu().saturating_sub(snapshot_cpu_started);
        drop(snapshot);
        let share =
            TRANSFERS_PER_BLOCK as f64 / SnapshotPolicy::default().interval(ledger.account_count() as u64) as f64;
        let snapshot_cpu_per_block = snapshot_cpu.mul_f64(share * chunks.len() as f64);
        total += copy.mul_f64(share * chunks.len() as f64);
        let cpu = blocks_cpu + snapshot_cpu_per_block;
        let store_mib = dir_bytes(dir.path()) as f64 / f64::from(1 << 20);
        let per_block = |d: std::time::Duration| d.as_secs_f64() * 1e3 / chunks.len() as f64;
        let rate = count as f64 / total.as_secs_f64();
        let per_cpu_second = count as f64 / cpu.as_secs_f64();
        if let Some(path) = std::env::var_os("TALLY_BENCH_JSON") {
            // One JSON object per line, appended, for `tally-bench-report`.
            let line = serde_json::json!({
                "accounts": accounts,
                "threads": pool.current_num_threads(),
                "transfers_per_block": TRANSFERS_PER_BLOCK,
                "blocks": chunks.len(),
                "transfers_per_s": rate.round(),
                "transfers_per_cpu_s": per_cpu_second.round(),
                "ms_per_block": per_block(total),
                "cpu_ms_per_block": per_block(cpu),
                "background_cpu_ms_per_block": per_block(background),
                "execute_and_state_root_ms": per_block(executing),
                "block_assembly_ms": per_block(assembling),
                "synced_store_write_ms": per_block(committing),
                "apply_ms": per_block(applying),
                "store_mib": store_mib,
                "snapshot_cpu_ms_per_block": per_block(snapshot_cpu_per_block),
                "snapshot_copy_ms": copy.as_secs_f64() * 1e3,
                "snapshot_write_ms": snapshot_write.as_secs_f64() * 1e3,
                "snapshot_cpu_ms": snapshot_cpu.as_secs_f64() * 1e3,
            });
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
            std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes()).unwrap();
        }
        println!(
            "apply+commit, {accounts} accounts, {TRANSFERS_PER_BLOCK}-transfer blocks, {label}: {:.0} transfers/s, \
             {:.0} per CPU-second ({:.1} ms per block: execute + state root {:.1} ms, block assembly {:.1} ms, \
             synced store write {:.1} ms, apply {:.1} ms; {:.1} ms of CPU, all threads, {:.1} ms of it in RocksDB's background flushes and compactions \
             and {:.1} ms the block's share of an account snapshot; store {:.0} MiB on disk)\n\
             one snapshot of {} accounts every {} transfers: copy {:.1} ms, write and flush {:.1} ms, {:.1} ms of CPU",
            rate,
            per_cpu_second,
            per_block(total),
            per_block(executing),
            per_block(assembling),
            per_block(committing),
            per_block(applying),
            per_block(cpu),
            per_block(background),
            per_block(snapshot_cpu_per_block),
            store_mib,
            ledger.account_count(),
            SnapshotPolicy::default().interval(ledger.account_count() as u64),
            copy.as_secs_f64() * 1e3,
            snapshot_write.as_secs_f64() * 1e3,
            snapshot_cpu.as_secs_f64() * 1e3,
        );
    }
}
