//! The store: commit and reopen, indexes and paged history, refusal of foreign databases, and
//! crash safety under SIGKILL in the middle of a commit loop.

mod common;

use common::TestChain;
use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tally_ledger::crypto::verify_transfer;
use tally_ledger::store::{
    Backend, Column, HistoryCursor, MemoryBackend, Put, RocksBackend, SnapshotMeta, Store, StoreError,
};
use tally_ledger::{Block, Hash, PublicKey};

fn exercise<B: Backend>(store: &Store<B>, chain: &mut TestChain) {
    assert_eq!(store.height().unwrap(), 0);
    let mut blocks = Vec::new();
    for _ in 0..3 {
        blocks.push(chain.advance(store, 6));
    }
    // The index rows of blocks 1 to 3 are written; those of blocks 4 and 5 stay pending, so
    // lookups and history pages below span both.
    store.flush_index().unwrap();
    // A snapshot at height 3: opening replays blocks 4 and 5 onto it.
    assert_eq!(store.snapshot().unwrap().height, 0);
    let snapshot = store.write_snapshot(3, &chain.accounts()).unwrap();
    assert_eq!((snapshot.height, snapshot.accounts), (3, chain.ledger.account_count() as u64));
    assert_eq!(store.snapshot().unwrap(), snapshot);
    for _ in 0..2 {
        blocks.push(chain.advance(store, 6));
    }
    assert_eq!(store.height().unwrap(), 5);
    for (got, why) in [(6, "not committed"), (2, "older than the current snapshot")] {
        let refused = store.write_snapshot(got, &chain.accounts());
        assert!(
            matches!(refused, Err(StoreError::SnapshotHeight { got: g, snapshot: 3, stored: 5 }) if g == got),
            "{why}"
        );
    }
    assert_eq!(store.snapshot().unwrap(), snapshot, "a refused snapshot changes nothing");
    for block in &blocks {
        let h = block.header.height;
        let stored = store.block(h).unwrap().unwrap();
        assert_eq!(&stored.block, block);
        assert_eq!(stored.certificate, format!("certificate-{h}-{}", block.hash()).into_bytes());
        assert_eq!(store.block_height(&block.hash()).unwrap(), Some(h));
        assert_eq!(store.state_root(h).unwrap(), Some(block.header.state_root));
        for (i, t) in block.transfers.iter().enumerate() {
            let location = store.transfer_location(&t.hash()).unwrap().unwrap();
            assert_eq!((location.height, location.index), (h, i as u32));
            assert_eq!(store.committed_transfer(&t.hash()).unwrap(), Some((location, t.clone())));
        }
    }
    assert_eq!(store.block(6).unwrap().map(|b| b.block), None);
    assert_eq!(store.transfer_location(&Hash::ZERO).unwrap(), None);
    assert_eq!(store.committed_transfer(&Hash::ZERO).unwrap(), None);
    // A location that does not hold the transfer asked for is corruption, never another transfer.
    let (first, second) = (&blocks[0].transfers[0], &blocks[0].transfers[1]);
    let wrong = store.transfer_location(&second.hash()).unwrap().unwrap();
    assert!(matches!(store.transfer_at(&first.hash(), wrong), Err(StoreError::Corrupt(_))));
    let missing = tally_ledger::store::TransferLocation { height: 99, index: 0 };
    assert!(matches!(store.transfer_at(&first.hash(), missing), Err(StoreError::Corrupt(_))));
    // Several at once, across blocks, in the order asked.
    let wanted = [&blocks[2].transfers[1], &blocks[2].transfers[0], &blocks[0].transfers[3]];
    let locations: Vec<_> = wanted.iter().map(|t| store.transfer_location(&t.hash()).unwrap().unwrap()).collect();
    let read: Vec<Hash> = store.transfers_at(&locations).unwrap().iter().map(|t| t.hash()).collect();
    assert_eq!(read, wanted.iter().map(|t| t.hash()).collect::<Vec<_>>());
    assert!(matches!(store.transfers_at(&[missing]), Err(StoreError::Corrupt(_))));
    let (loaded, replayed) = store.load_ledger(&chain.genesis).unwrap();
    assert_eq!(replayed, tally_ledger::store::Replayed { blocks: 2, transfers: 12 }, "blocks 4 and 5");
    assert_same_accounts(&loaded, &chain.ledger);
    // Paged history of one key: newest first, sent and received, pages chain with the cursor.
    let key = PublicKey::from(&chain.keys[1].verifying_key());
    let mut expected: Vec<(u64, u32)> = Vec::new();
    for block in &blocks {
        for (i, t) in block.transfers.iter().enumerate() {
            if t.from == key || t.to == key {
                expected.push((block.header.height, i as u32));
            }
        }
    }
    expected.reverse();
    assert!(expected.len() >= 4);
    let mut seen = Vec::new();
    let mut cursor: Option<HistoryCursor> = None;
    loop {
        let page = store.history(&key, 3, cursor).unwrap();
        for (location, transfer) in &page.entries {
            assert!(transfer.from == key || transfer.to == key);
            let block = &blocks[location.height as usize - 1];
            assert_eq!(transfer, &block.transfers[location.index as usize]);
        }
        seen.extend(page.entries.iter().map(|(l, _)| (l.height, l.index)));
        match page.next {
            Some(next) => cursor = Some(HistoryCursor::decode(&next.encode()).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(history_of(store, &key), expected, "one page");
    // Out-of-order commits are refused and change nothing.
    let (block, cert, execution) = chain.build(Vec::new());
    let mut skipped = block.clone();
    skipped.header.height += 1;
    let err = store.commit(&tally_ledger::store::BlockCommit { block: &skipped, certificate: &cert });
    drop(execution);
    assert!(matches!(err, Err(StoreError::OutOfOrder { stored: 5, got: 7 })));
    assert_eq!(store.height().unwrap(), 5);
}

/// Every location in `key`'s history, newest first, read in one page.
fn history_of<B: Backend>(store: &Store<B>, key: &PublicKey) -> Vec<(u64, u32)> {
    let page = store.history(key, 1_000, None).unwrap();
    assert_eq!(page.next, None);
    page.entries.iter().map(|(l, _)| (l.height, l.index)).collect()
}

/// The two ledgers hold the same accounts at the same height and root.
fn assert_same_accounts(loaded: &tally_ledger::Ledger, expected: &tally_ledger::Ledger) {
    assert_eq!(loaded.height(), expected.height());
    assert_eq!(loaded.state_root(), expected.state_root());
    assert_eq!(loaded.last_block_hash(), expected.last_block_hash());
    assert_eq!(loaded.account_count(), expected.account_count());
    for (pk, account) in expected.accounts() {
        assert_eq!(loaded.account(pk), *account);
    }
}

#[test]
fn memory_backend_commits_and_indexes() {
    let mut chain = TestChain::new(8, 1_000_000);
    let store = Store::open(MemoryBackend::new(), &chain.genesis).unwrap();
    exercise(&store, &mut chain);
}

#[test]
fn rocksdb_commits_reopens_and_refuses_foreign_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = TestChain::new(8, 1_000_000);
    {
        let store = Store::open(RocksBackend::open(dir.path()).unwrap(), &chain.genesis).unwrap();
        exercise(&store, &mut chain);
    }
    let store = Store::open(RocksBackend::open(dir.path()).unwrap(), &chain.genesis).unwrap();
    assert_eq!(store.height().unwrap(), 5);
    // Blocks 4 and 5's index rows were pending: they are derived again from the blocks.
    let key = PublicKey::from(&chain.keys[1].verifying_key());
    let history = history_of(&store, &key);
    assert!(history.iter().any(|(h, _)| *h > 3) && history.iter().any(|(h, _)| *h <= 3));
    for h in 1..=5 {
        for (i, t) in store.block(h).unwrap().unwrap().block.transfers.iter().enumerate() {
            let location = store.transfer_location(&t.hash()).unwrap().unwrap();
            assert_eq!((location.height, location.index), (h, i as u32));
        }
    }
    assert_same_accounts(&store.load_ledger(&chain.genesis).unwrap().0, &chain.ledger);
    drop(store);
    let other = TestChain::new(3, 5);
    match Store::open(RocksBackend::open(dir.path()).unwrap(), &other.genesis) {
        Err(StoreError::ForeignDatabase { found, expected }) => {
            assert_eq!((found, expected), (chain.genesis.hash, other.genesis.hash));
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a foreign database was opened"),
    }
}

/// Writes a history row (`key | height | index`, no value) straight into the backend.
fn write_history_row<B: Backend>(store: &Store<B>, key: &PublicKey, height: u64, index: u32) {
    let mut row = key.0.to_vec();
    row.extend_from_slice(&height.to_be_bytes());
    row.extend_from_slice(&index.to_be_bytes());
    let put = Put { column: Column::History, key: &row, value: &[] };
    store.backend().write(&[put]).unwrap();
}

#[test]
fn a_history_row_naming_someone_elses_transfer_is_corruption() {
    let mut chain = TestChain::new(4, 1_000);
    let store = Store::open(MemoryBackend::new(), &chain.genesis).unwrap();
    let block = chain.advance(&store, 2);
    store.flush_index().unwrap();
    // A key that neither sent nor received the block's first transfer.
    let first = &block.transfers[0];
    let stranger = chain
        .keys
        .iter()
        .map(|k| PublicKey::from(&k.verifying_key()))
        .find(|k| *k != first.from && *k != first.to)
        .unwrap();
    write_history_row(&store, &stranger, block.header.height, 0);
    assert!(matches!(store.history(&stranger, 10, None), Err(StoreError::Corrupt(_))));
}

#[test]
fn a_history_row_naming_a_transfer_its_block_lacks_is_corruption() {
    let mut chain = TestChain::new(2, 1_000);
    let store = Store::open(MemoryBackend::new(), &chain.genesis).unwrap();
    let block = chain.advance(&store, 2);
    store.flush_index().unwrap();
    write_history_row(&store, &block.transfers[0].from, 1, 99);
    assert!(matches!(store.history(&block.transfers[0].from, 10, None), Err(StoreError::Corrupt(_))));
}

#[test]
fn index_rows_stay_in_memory_until_flushed_and_a_cut_short_flush_is_not_read_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = TestChain::new(4, 1_000_000);
    let blocks: Vec<Block> = {
        let store = Store::open(RocksBackend::open(dir.path()).unwrap(), &chain.genesis).unwrap();
        let blocks: Vec<Block> = (0..3).map(|_| chain.advance(&store, 4)).collect();
        let first = blocks[0].transfers[0].hash();
        assert_eq!(store.backend().get(Column::Transfers, &first.0).unwrap(), None, "pending, not written");
        assert!(store.transfer_location(&first).unwrap().is_some(), "but found");
        store.flush_index().unwrap();
        assert!(store.backend().get(Column::Transfers, &first.0).unwrap().is_some(), "written");
        // What a crash between the rows and the indexed height's write leaves: rows written
        // above the recorded height, which opening derives again from the blocks.
        store
            .backend()
            .write(&[Put { column: Column::Meta, key: b"indexed_height", value: &1u64.to_be_bytes() }])
            .unwrap();
        blocks
    };
    let store = Store::open(RocksBackend::open(dir.path()).unwrap(), &chain.genesis).unwrap();
    for key in chain.keys.iter().map(|k| PublicKey::from(&k.verifying_key())) {
        let mut expected = Vec::new();
        for block in &blocks {
            for (i, t) in block.transfers.iter().enumerate() {
                if t.from == key || t.to == key {
                    expected.push((block.header.height, i as u32));
                }
            }
        }
        expected.reverse();
        assert_eq!(history_of(&store, &key), expected, "each transfer once");
    }
    // The next flush writes them again, harmlessly.
    chain.advance(&store, 4);
    store.flush_index().unwrap();
    let key = PublicKey::from(&chain.keys[0].verifying_key());
    let history = history_of(&store, &key);
    let mut unique = history.clone();
    unique.dedup();
    assert_eq!(history, unique);
}

#[test]
fn a_store_of_format_4_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = TestChain::new(4, 1_000_000);
    let key = PublicKey::from(&chain.keys[0].verifying_key());
    let before = {
        let store = Store::open(RocksBackend::open(dir.path()).unwrap(), &chain.genesis).unwrap();
        chain.advance(&store, 4);
        chain.advance(&store, 4);
        // Format 4 wrote every index row with its block.
        store.flush_index().unwrap();
        history_of(&store, &key)
    };
    {
        // ...and knew no indexed height: the key is removed, as format 4 never wrote it.
        let families = Column::ALL.map(|c| c.name());
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), families).unwrap();
        let meta = db.cf_handle(Column::Meta.name()).unwrap();
        db.delete_cf(meta, b"indexed_height").unwrap();
        db.put_cf(meta, b"format_version", 4u32.to_be_bytes()).unwrap();
    }
    let store = Store::open(RocksBackend::open(dir.path()).unwrap(), &chain.genesis).unwrap();
    let format = store.backend().get(Column::Meta, b"format_version").unwrap().unwrap();
    assert_eq!(format, tally_ledger::store::FORMAT_VERSION.to_be_bytes());
    let indexed = store.backend().get(Column::Meta, b"indexed_height").unwrap();
    assert_eq!(indexed.as_deref(), Some(&2u64.to_be_bytes()[..]), "every committed block counts as indexed");
    assert_eq!(history_of(&store, &key), before);
}

#[test]
fn a_transfer_to_oneself_is_one_history_entry() {
    let mut chain = TestChain::new(2, 1_000);
    let store = Store::open(MemoryBackend::new(), &chain.genesis).unwrap();
    let key = &chain.keys[0];
    let me = PublicKey::from(&key.verifying_key());
    let body = tally_ledger::TransferBody {
        chain_id: chain.genesis.params.chain_id.clone(),
        from: me,
        to: me,
        amount: 5,
        fee: 1,
        nonce: 0,
        valid_until: 0,
        memo: vec![],
    };
    let transfer = verify_transfer(body.sign(key).unwrap()).unwrap();
    let (block, certificate, execution) = chain.build(vec![transfer]);
    chain.commit(&store, &block, certificate, execution);
    let page = store.history(&me, 10, None).unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].1, block.transfers[0]);
    assert_eq!(page.next, None);
}

#[test]
fn a_store_written_in_another_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new(2, 1_000);
    {
        let store = Store::open(RocksBackend::open(dir.path()).unwrap(), &chain.genesis).unwrap();
        let put = tally_ledger::store::Put {
            column: tally_ledger::store::Column::Meta,
            key: b"format_version",
            value: &2u32.to_be_bytes(),
        };
        store.backend().write(&[put]).unwrap();
    }
    match Store::open(RocksBackend::open(dir.path()).unwrap(), &chain.genesis) {
        Err(StoreError::UnsupportedFormat { found }) => assert_eq!(found, 2),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a store of format 2 was opened"),
    }
}

#[test]
fn a_tampered_snapshot_is_detected_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = TestChain::new(4, 1_000);
    {
        let store = Store::open(RocksBackend::open(dir.path()).unwrap(), &chain.genesis).unwrap();
        chain.advance(&store, 2);
        let mut forged = chain.accounts();
        forged[0].1.balance += 1;
        store.write_snapshot(1, &forged).unwrap();
    }
    let store = Store::open(RocksBackend::open(dir.path()).unwrap(), &chain.genesis).unwrap();
    match store.load_ledger(&chain.genesis) {
        Err(StoreError::Corrupt(what)) => assert!(what.contains("the snapshot gives state root"), "{what}"),
        other => panic!("a forged snapshot was loaded: {:?}", other.map(|(l, _)| l.state_root())),
    }
}

#[test]
fn a_snapshot_cut_short_before_its_meta_write_leaves_the_previous_one_current() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = TestChain::new(4, 1_000);
    let current = {
        let store = Store::open(RocksBackend::open(dir.path()).unwrap(), &chain.genesis).unwrap();
        chain.advance(&store, 2);
        let current = store.snapshot().unwrap();
        // What a crash between a snapshot's rows and its meta write leaves: rows in the other
        // slot (here not even a whole account), the meta unchanged.
        let row = [0xab; 30];
        let put = Put { column: Column::Snapshots, key: &[1 - current.slot, 0, 0, 0, 0], value: &row };
        store.backend().write_unlogged(&[put]).unwrap();
        chain.advance(&store, 2);
        current
    };
    let store = Store::open(RocksBackend::open(dir.path()).unwrap(), &chain.genesis).unwrap();
    assert_eq!(store.snapshot().unwrap(), current);
    assert_same_accounts(&store.load_ledger(&chain.genesis).unwrap().0, &chain.ledger);
    // The next snapshot takes that slot over whole.
    let next = store.write_snapshot(2, &chain.accounts()).unwrap();
    assert_eq!(next.slot, 1 - current.slot);
    assert_same_accounts(&store.load_ledger(&chain.genesis).unwrap().0, &chain.ledger);
}

#[test]
fn a_snapshot_row_of_the_wrong_size_or_a_missing_one_is_corruption() {
    let mut chain = TestChain::new(4, 1_000);
    let store = Store::open(MemoryBackend::new(), &chain.genesis).unwrap();
    chain.advance(&store, 1);
    let current = store.snapshot().unwrap();
    let key = [current.slot, 0, 0, 0, 0];
    let truncated = vec![0u8; 47];
    store.backend().write(&[Put { column: Column::Snapshots, key: &key, value: &truncated }]).unwrap();
    assert!(matches!(store.load_ledger(&chain.genesis), Err(StoreError::Corrupt(_))), "a row cut short");
    let meta = store.write_snapshot(1, &chain.accounts()).unwrap();
    assert_same_accounts(&store.load_ledger(&chain.genesis).unwrap().0, &chain.ledger);
    let claims_more = meta_bytes(&SnapshotMeta { chunks: meta.chunks + 1, accounts: meta.accounts + 4096, ..meta });
    store.backend().write(&[Put { column: Column::Meta, key: b"snapshot", value: &claims_more }]).unwrap();
    assert!(matches!(store.load_ledger(&chain.genesis), Err(StoreError::Corrupt(_))), "a row is missing");
    // A count no rows could hold is refused before anything is read or reserved.
    let absurd = meta_bytes(&SnapshotMeta { accounts: u64::MAX, ..meta });
    store.backend().write(&[Put { column: Column::Meta, key: b"snapshot", value: &absurd }]).unwrap();
    assert!(matches!(store.load_ledger(&chain.genesis), Err(StoreError::Corrupt(_))), "an absurd count");
}

/// The meta column's encoding of a snapshot's place (`slot | height | chunks | accounts`).
fn meta_bytes(meta: &SnapshotMeta) -> Vec<u8> {
    let mut out = vec![meta.slot];
    out.extend_from_slice(&meta.height.to_be_bytes());
    out.extend_from_slice(&meta.chunks.to_be_bytes());
    out.extend_from_slice(&meta.accounts.to_be_bytes());
    out
}

const CHILD_DIR: &str = "TALLY_STORE_CRASH_CHILD_DIR";

/// Not a test on its own: the child process of the crash test commits blocks until killed.
#[test]
#[ignore = "the child process of sigkill_during_commits_leaves_a_consistent_store"]
fn crash_child_commit_loop() {
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let mut chain = TestChain::new(64, 1_000_000_000);
    let store = Store::open(RocksBackend::open(Path::new(&dir)).unwrap(), &chain.genesis).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let block = chain.advance(&store, 50);
        // Index flushes and snapshots too, so that the kill may land in one.
        if block.header.height % 3 == 0 {
            store.flush_index().unwrap();
        }
        if block.header.height % 4 == 0 {
            store.write_snapshot(block.header.height, &chain.accounts()).unwrap();
        }
        if block.header.height == 3 {
            // Tell the parent that commits are under way.
            std::fs::write(Path::new(&dir).join("started"), b"1").unwrap();
        }
    }
}

#[test]
fn sigkill_during_commits_leaves_a_consistent_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child_commit_loop", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !dir.path().join("started").exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "child never started committing");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(700));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // Reopen and replay every stored block from genesis through the ledger's validation.
    let chain = TestChain::new(64, 1_000_000_000);
    let store = Store::open(RocksBackend::open(dir.path()).unwrap(), &chain.genesis).unwrap();
    let height = store.height().unwrap();
    assert!(height >= 3, "the child committed at least 3 blocks");
    assert!(store.block(height + 1).unwrap().is_none(), "nothing is stored beyond the committed height");
    let mut replay = chain.genesis.initial_ledger();
    let mut last_cert: Vec<u8> = Vec::new();
    let mut hashes = HashSet::new();
    let mut histories: std::collections::HashMap<PublicKey, Vec<(u64, u32)>> = Default::default();
    for h in 1..=height {
        let stored = store.block(h).unwrap().unwrap();
        let block: Block = stored.block;
        for (i, t) in block.transfers.iter().enumerate() {
            let location = store.transfer_location(&t.hash()).unwrap().unwrap();
            assert_eq!((location.height, location.index), (h, i as u32));
            histories.entry(t.from).or_default().push((h, i as u32));
            if t.to != t.from {
                histories.entry(t.to).or_default().push((h, i as u32));
            }
        }
        let verified: Vec<_> = block.transfers.iter().cloned().map(|t| verify_transfer(t).unwrap()).collect();
        assert_eq!(block.last_commit, last_cert, "block {h} carries its parent's certificate");
        let execution = replay.validate(&block.header, &verified).unwrap();
        replay.apply(execution, block.hash(), block.header.time_ms);
        assert!(hashes.insert(block.hash()));
        last_cert = stored.certificate;
    }
    assert_same_accounts(&store.load_ledger(&chain.genesis).unwrap().0, &replay);
    assert_eq!(store.state_root(height).unwrap(), Some(replay.state_root()));
    assert!(store.snapshot().unwrap().height <= height);
    // Every address's history holds each of its transfers once, written or derived again.
    for (key, mut expected) in histories {
        expected.reverse();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.history(&key, 500, cursor).unwrap();
            seen.extend(page.entries.iter().map(|(l, _)| (l.height, l.index)));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, expected, "history of {key}");
    }
}
