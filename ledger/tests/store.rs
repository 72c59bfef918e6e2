//! The store: commit and reopen, indexes and paged history, refusal of foreign databases, and
//! crash safety under SIGKILL in the middle of a commit loop.

mod common;

use common::TestChain;
use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tally_ledger::crypto::verify_transfer;
use tally_ledger::store::{Backend, HistoryCursor, MemoryBackend, RocksBackend, Store, StoreError};
use tally_ledger::{Block, Hash, PublicKey};

fn exercise<B: Backend>(store: &Store<B>, chain: &mut TestChain) {
    assert_eq!(store.height().unwrap(), 0);
    let mut blocks = Vec::new();
    for _ in 0..5 {
        blocks.push(chain.advance(store, 6));
    }
    assert_eq!(store.height().unwrap(), 5);
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
    for (pk, account) in chain.ledger.accounts() {
        assert_eq!(store.account(pk).unwrap(), *account);
    }
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
    // Out-of-order commits are refused and change nothing.
    let (block, cert, execution) = chain.build(Vec::new());
    let mut skipped = block.clone();
    skipped.header.height += 1;
    let err = store.commit(&tally_ledger::store::BlockCommit {
        block: &skipped,
        certificate: &cert,
        changes: &execution.changes,
    });
    assert!(matches!(err, Err(StoreError::OutOfOrder { stored: 5, got: 7 })));
    assert_eq!(store.height().unwrap(), 5);
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
    let ledger = store.load_ledger(&chain.genesis).unwrap();
    assert_eq!(ledger.state_root(), chain.ledger.state_root());
    assert_eq!(ledger.last_block_hash(), chain.ledger.last_block_hash());
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
    let put = tally_ledger::store::Put { column: tally_ledger::store::Column::History, key: &row, value: &[] };
    store.backend().write(&[put]).unwrap();
}

#[test]
fn a_history_row_naming_someone_elses_transfer_is_corruption() {
    let mut chain = TestChain::new(4, 1_000);
    let store = Store::open(MemoryBackend::new(), &chain.genesis).unwrap();
    let block = chain.advance(&store, 2);
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
fn a_history_row_whose_block_is_missing_is_corruption() {
    let chain = TestChain::new(2, 1_000);
    let store = Store::open(MemoryBackend::new(), &chain.genesis).unwrap();
    let key = PublicKey::from(&chain.keys[0].verifying_key());
    write_history_row(&store, &key, 99, 0);
    assert!(matches!(store.history(&key, 10, None), Err(StoreError::Corrupt(_))));
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
fn a_tampered_account_is_detected_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = TestChain::new(4, 1_000);
    {
        let store = Store::open(RocksBackend::open(dir.path()).unwrap(), &chain.genesis).unwrap();
        chain.advance(&store, 2);
        let key = PublicKey::from(&chain.keys[0].verifying_key());
        let forged = tally_ledger::Account { balance: 999_999_999, nonce: 0 };
        store
            .backend()
            .write(&[tally_ledger::store::Put {
                column: tally_ledger::store::Column::Accounts,
                key: &key.0,
                value: &forged.encode(),
            }])
            .unwrap();
    }
    let store = Store::open(RocksBackend::open(dir.path()).unwrap(), &chain.genesis).unwrap();
    assert!(matches!(store.load_ledger(&chain.genesis), Err(StoreError::Corrupt(_))));
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
    for h in 1..=height {
        let stored = store.block(h).unwrap().unwrap();
        let block: Block = stored.block;
        let verified: Vec<_> = block.transfers.iter().cloned().map(|t| verify_transfer(t).unwrap()).collect();
        assert_eq!(block.last_commit, last_cert, "block {h} carries its parent's certificate");
        let execution = replay.validate(&block.header, &verified).unwrap();
        replay.apply(execution, block.hash(), block.header.time_ms);
        assert!(hashes.insert(block.hash()));
        last_cert = stored.certificate;
    }
    let loaded = store.load_ledger(&chain.genesis).unwrap();
    assert_eq!(loaded.state_root(), replay.state_root());
    assert_eq!(store.state_root(height).unwrap(), Some(replay.state_root()));
    for (pk, account) in replay.accounts() {
        assert_eq!(store.account(pk).unwrap(), *account);
    }
}
