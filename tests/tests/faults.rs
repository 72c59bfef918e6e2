//! Validators crash, stop and come back; a late full node syncs; a foreign chain is refused;
//! a full mempool evicts by fee.

use std::time::{Duration, Instant};
use tally_rpc::Wait;
use tally_tests::chain::{dev_key, dev_public, transfer};
use tally_tests::checks::conflicting_signatures;
use tally_tests::scenario::{post_json, send_batch};
use tally_tests::Net;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_validator_catches_up_and_two_of_four_stop_the_chain() {
    let mut net = Net::start(4);
    net.wait_height(3).await;
    net.kill(1);
    let h = net.height(0).await.unwrap();
    net.wait_height_within(h + 5, Duration::from_secs(30)).await; // three keep committing
    net.restart(1);
    let tip = net.height(0).await.unwrap();
    let started = Instant::now();
    net.wait_height_within(tip + 2, Duration::from_secs(60)).await; // node 1 caught up
    eprintln!("restarted validator caught up in {:?}", started.elapsed());
    // It votes again: its audit trail gains messages for heights after the restart.
    // Read until it shows (bound 60 s): blocks it only synced carry none of its signatures.
    let resumed = net.height(1).await.unwrap();
    let signed_again = async || net.signed_messages(1).iter().any(|m| m["height"].as_u64() > Some(resumed));
    poll(&format!("node 1 signing above height {resumed}"), Duration::from_secs(60), signed_again).await;

    // Two of four stopped for 30 s: no block commits (at most the one already in flight).
    // Heights are the highest of the two still running: one behind the other may catch up by
    // syncing what was committed before.
    net.stop(2);
    net.stop(3);
    let top = async |net: &Net| net.height(0).await.unwrap().max(net.height(1).await.unwrap());
    let stalled = top(&net).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let after = top(&net).await;
    assert!(after <= stalled + 1, "committed {stalled} -> {after} with only half the power");
    net.restart(2);
    let started = Instant::now();
    net.wait_height_within(after + 2, Duration::from_secs(60)).await;
    eprintln!("commits resumed {:?} after one of two stopped validators came back", started.elapsed());
    for i in 0..4 {
        assert!(conflicting_signatures(&net.signed_messages(i)).is_empty(), "node {i} signed conflicting messages");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validators_killed_repeatedly_never_sign_conflicting_messages() {
    let mut net = Net::start(4);
    net.wait_height(2).await;
    // Kill validator 2 at varying points of its rounds, five times, with load flowing.
    for cycle in 0..5u64 {
        let t = transfer(&dev_key(0), dev_public(8), 10, 1, cycle);
        let _ = net.client(0).send_transaction(&t.encode(), Wait::None).await;
        tokio::time::sleep(Duration::from_millis(150 + 170 * cycle)).await;
        net.kill(2);
        net.restart(2);
        net.wait_ready(2, Duration::from_secs(30)).await;
    }
    let h = net.height(0).await.unwrap();
    net.wait_height(h + 3).await;
    for i in 0..4 {
        let signed = net.signed_messages(i);
        assert!(!signed.is_empty());
        assert_eq!(conflicting_signatures(&signed), vec![], "node {i} signed conflicting messages");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_started_200_blocks_late_syncs_and_follows() {
    let mut net = Net::start_with(4, &["consensus.empty_block_interval_ms=40", "consensus.timeout_propose_ms=1000"]);
    let full = net.add_full_node();
    net.wait_height_within(200, Duration::from_secs(180)).await;
    net.launch(full);
    let started = Instant::now();
    let tip = net.height(0).await.unwrap();
    net.wait_height_within(tip, Duration::from_secs(120)).await;
    eprintln!("full node synced {tip} blocks in {:?}", started.elapsed());
    let status = net.client(full).status().await.unwrap();
    assert_eq!(status.validator_address, None);
    // It follows: a transfer submitted to the full node becomes final.
    let t = transfer(&dev_key(3), dev_public(4), 77, 1, 0);
    // A node still closing the last gap answers "node not ready" (-32002); clients retry.
    let deadline = Instant::now() + Duration::from_secs(30);
    let result = loop {
        match net.client(full).send_transaction(&t.encode(), Wait::Committed(Duration::from_secs(10))).await {
            Err(e) if e.code() == Some(-32002) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            other => break other.unwrap(),
        }
    };
    assert_eq!(result.status.as_str(), "committed");
    let h = result.height.unwrap();
    net.wait_height(h).await;
    let a = net.client(full).get_block(tally_rpc::BlockRef::Height(h)).await.unwrap().unwrap();
    let b = net.client(0).get_block(tally_rpc::BlockRef::Height(h)).await.unwrap().unwrap();
    assert_eq!((a.hash, a.state_root), (b.hash, b.state_root));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_from_another_genesis_is_refused() {
    let net = Net::start(2);
    net.wait_height(1).await;
    // A one-validator network of another chain, told to dial our nodes.
    let mut foreign = Net::layout_unlocked_other_chain(&net);
    foreign.launch(0);
    foreign.wait_ready(0, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(foreign.client(0).status().await.unwrap().peers, 0, "the foreign node has no peers");
    for i in 0..2 {
        assert_eq!(net.client(i).status().await.unwrap().peers, 1, "node {i} keeps only its own chain's peer");
    }
    let logs = net.log(0) + &net.log(1);
    assert!(logs.contains("genesis") || logs.contains("chain"), "a log line says why the peer was refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mempool_evicts_the_cheapest_for_a_higher_fee() {
    let mut net = Net::start_with(4, &["mempool.max_transfers=3"]);
    net.wait_height(1).await;
    // Stop half the power so nothing commits and the pool fills.
    net.stop(2);
    net.stop(3);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let client = net.client(0);
    let cheap: Vec<_> = (0..3u32).map(|k| transfer(&dev_key(k), dev_public(9), 5, 2 + u64::from(k), 0)).collect();
    for t in &cheap {
        client.send_transaction(&t.encode(), Wait::None).await.unwrap();
    }
    let rich = transfer(&dev_key(5), dev_public(9), 5, 10, 0);
    client.send_transaction(&rich.encode(), Wait::None).await.unwrap();
    // The cheapest (fee 2) was evicted; the others wait.
    assert_eq!(client.get_transaction(&cheap[0].hash()).await.unwrap().status.as_str(), "unknown");
    for t in cheap.iter().skip(1).chain([&rich]) {
        assert_eq!(client.get_transaction(&t.hash()).await.unwrap().status.as_str(), "pending");
    }
    let poor = transfer(&dev_key(6), dev_public(9), 5, 1, 0);
    let err = client.send_transaction(&poor.encode(), Wait::None).await.unwrap_err();
    assert_eq!(err.reason(), Some("mempool_full"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_block_of_10000_transfers_travels_by_gossip_and_commits() {
    // A deep nonce window lets ten development accounts fill one block.
    let mut net = Net::start_with(4, &["mempool.future_nonces=1100"]);
    net.wait_height(1).await;
    // Stop half the power so the transfers pile up, then let consensus resume.
    net.stop(2);
    net.stop(3);
    let client = net.client(0);
    let to = dev_public(9);
    let mut batch = Vec::new();
    for nonce in 0..1000u64 {
        for k in 0..10u32 {
            batch.push(transfer(&dev_key(k), to, 1, 1, nonce));
        }
    }
    for chunk in batch.chunks(100) {
        let response = post_json(&net.nodes[0].url(), &send_batch(chunk)).await;
        assert!(!response.contains("\"error\""), "{response}");
    }
    net.restart(2);
    net.restart(3);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    let biggest = loop {
        // The account first, then every block up to the height it is at: a block committed
        // between the two reads is then counted, whichever the node reports first.
        // A node briefly behind its store (just after the big block) answers "not ready".
        let Ok(account) = client.get_account(&tally_ledger::Address(dev_public(0))).await else {
            assert!(Instant::now() < deadline, "node 0 not ready for 120 s");
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        let tip = net.height(0).await.unwrap_or(0).max(account.height);
        let mut biggest = 0;
        for h in 1..=tip {
            if let Some(block) = client.get_block(tally_rpc::BlockRef::Height(h)).await.unwrap() {
                biggest = biggest.max(block.transfers.len());
            }
        }
        if account.nonce == 1000 || Instant::now() > deadline {
            break biggest;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!("largest block: {biggest} transfers; all committed in {:?}", started.elapsed());
    assert_eq!(biggest, 10_000, "one block carried the whole pool (max_block_txs)");
    let h = net.height(0).await.unwrap();
    net.wait_height(h).await;
    for i in 1..4 {
        let a = net.client(i).get_account(&tally_ledger::Address(to)).await.unwrap();
        let b = client.get_account(&tally_ledger::Address(to)).await.unwrap();
        assert_eq!(a.balance, b.balance, "node {i} agrees");
    }
}

/// Waits (bounded by `limit`) until `done` holds, asking every 200 ms; `what` names the wait.
async fn poll(what: &str, limit: Duration, done: impl AsyncFn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "no {what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits (bounded) until node `i` reports `key`'s committed nonce as `nonce`.
async fn wait_nonce(net: &Net, i: usize, key: tally_ledger::PublicKey, nonce: u64, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let account = net.client(i).get_account(&tally_ledger::Address(key)).await;
        if account.as_ref().is_ok_and(|a| a.nonce == nonce) {
            return;
        }
        assert!(Instant::now() < deadline, "node {i}: nonce {nonce} not committed within {limit:?}: {account:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The number logged as `key=N` in a plain log line, if there is one.
fn log_field(line: &str, key: &str) -> Option<u64> {
    let rest = line.split(&format!("{key}=")).nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The height of the last account snapshot node `i` logged as written.
fn last_snapshot_height(net: &Net, i: usize) -> Option<u64> {
    let log = net.plain_log(i);
    log.lines().rfind(|l| l.contains("account snapshot written")).and_then(|l| log_field(l, "height"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_validators_rebuild_their_accounts_from_a_snapshot_and_the_blocks_after_it() {
    // Ten devnet accounts, and a snapshot once ten transfers have committed since the last.
    let mut net = Net::start_with(4, &["store.snapshot_min_transfers=10"]);
    net.wait_height(2).await;
    let (sender, to) = (dev_public(0), dev_public(9));
    // In runs of eight, inside the pool's window of nonces ahead of the committed one.
    let send = async |net: &Net, nonces: std::ops::Range<u64>| {
        for nonce in nonces.clone() {
            let t = transfer(&dev_key(0), to, 1 + nonce, 1, nonce);
            net.client(0).send_transaction(&t.encode(), Wait::None).await.unwrap();
            if (nonce + 1) % 8 == 0 || nonce + 1 == nonces.end {
                wait_nonce(net, 0, sender, nonce + 1, Duration::from_secs(60)).await;
            }
        }
    };
    send(&net, 0..25).await;
    // Snapshots are written by a background thread after the commit, and a node may be a
    // block or two behind node 0: each node's log is read until it shows one (bound 30 s).
    for i in 0..4 {
        let snapshot_taken = async || net.log(i).contains("account snapshot written");
        poll(&format!("a snapshot on node {i}"), Duration::from_secs(30), snapshot_taken).await;
    }

    // A snapshot due at the last transfers' block waits while the writer is busy, and is then
    // taken at the next (empty) block; three blocks past them no more is due, so node 1's last
    // snapshot lies below its height and a stop leaves blocks for the restart to replay.
    wait_nonce(&net, 1, sender, 25, Duration::from_secs(60)).await;
    let transfers_committed = net.height(1).await.expect("node 1 answers");
    net.wait_height(transfers_committed + 3).await;
    let snapshot_below_height = async || {
        matches!(
            (last_snapshot_height(&net, 1), net.height(1).await),
            (Some(snapshot), Some(height)) if snapshot < height
        )
    };
    poll("node 1's last snapshot below its height", Duration::from_secs(10), snapshot_below_height).await;

    // One validator stops cleanly, then another is killed; the chain goes on without each,
    // and each comes back, loads its last snapshot and replays the blocks after it.
    let mut sent = 25;
    for (i, graceful) in [(1, true), (2, false)] {
        if graceful {
            net.stop(i);
        } else {
            net.kill(i);
        }
        send(&net, sent..sent + 4).await;
        sent += 4;
        net.restart(i);
        net.wait_ready(i, Duration::from_secs(30)).await;
        let log = net.plain_log(i);
        let reopened = log.lines().filter(|l| l.contains("store opened")).nth(1).expect("the store reopened");
        let replayed = log_field(reopened, "replayed_blocks");
        assert!(replayed.is_some_and(|blocks| blocks > 0), "node {i} replayed blocks onto its snapshot: {reopened}");
        wait_nonce(&net, i, sender, sent, Duration::from_secs(60)).await;
    }
    let h = net.height(0).await.unwrap();
    net.wait_height(h + 1).await;
    let reference = net.client(0).get_account(&tally_ledger::Address(to)).await.unwrap();
    for i in 1..4 {
        let account = net.client(i).get_account(&tally_ledger::Address(to)).await.unwrap();
        assert_eq!((account.balance, account.nonce), (reference.balance, reference.nonce), "node {i} agrees");
    }
    net.check_all(&[]).await.unwrap();
}
