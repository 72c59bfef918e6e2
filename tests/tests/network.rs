//! A real four-validator network on loopback: blocks commit, transfers become final everywhere,
//! every node holds the same chain.

use std::time::Duration;
use tally_ledger::{Address, Hash};
use tally_rpc::{BlockRef, Wait};
use tally_tests::chain::{dev_key, dev_public, transfer};
use tally_tests::Net;

/// Every node has the same block hash and state root at every height up to `height`.
async fn assert_same_chain(net: &Net, height: u64) {
    for h in 1..=height {
        let mut seen: Option<(Hash, Hash)> = None;
        for i in 0..net.nodes.len() {
            if !net.nodes[i].is_running() {
                continue;
            }
            let block = net
                .client(i)
                .get_block(BlockRef::Height(h))
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("node {i} lacks block {h}"));
            let pair = (block.hash, block.state_root);
            match seen {
                None => seen = Some(pair),
                Some(first) => assert_eq!(first, pair, "node {i} differs at height {h}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_commit_transfers_final_everywhere() {
    let net = Net::start(4);
    net.wait_height(2).await;
    let client = net.client(0);
    let recipient = dev_public(9);
    let before = client.get_account(&Address(recipient)).await.unwrap().balance;
    let mut hashes = Vec::new();
    for k in 0..5u32 {
        let t = transfer(&dev_key(k), recipient, 100 + u64::from(k), 1, 0);
        hashes.push(t.hash());
        // Submit to different nodes: gossip brings every transfer to the proposer.
        let node = (k as usize) % 4;
        let result = net.client(node).send_transaction(&t.encode(), Wait::None).await.unwrap();
        assert_eq!(result.hash, t.hash());
    }
    let last = transfer(&dev_key(5), recipient, 1_000, 1, 0);
    let started = std::time::Instant::now();
    let result = client.send_transaction(&last.encode(), Wait::Committed(Duration::from_secs(10))).await.unwrap();
    let latency = started.elapsed();
    assert_eq!(result.status.as_str(), "committed", "waited for finality");
    eprintln!("submit -> final: {latency:?}");
    // Goal: under 1 s at low load; the bound is 3x.
    assert!(latency < Duration::from_secs(3), "finality took {latency:?}");
    hashes.push(last.hash());
    // Transfers sent with wait "none" may reach the proposer a block later than the last one.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut height = result.height.unwrap();
    for hash in &hashes {
        loop {
            let info = client.get_transaction(hash).await.unwrap();
            if info.status.as_str() == "committed" {
                height = height.max(info.height.unwrap_or(0));
                break;
            }
            assert!(std::time::Instant::now() < deadline, "transfer {hash} not committed: {}", info.status.as_str());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    net.wait_height(height).await;
    for i in 0..4 {
        for hash in &hashes {
            let info = net.client(i).get_transaction(hash).await.unwrap();
            assert_eq!(info.status.as_str(), "committed", "node {i} transfer {hash}");
        }
        let after = net.client(i).get_account(&Address(recipient)).await.unwrap().balance;
        assert_eq!(after, before + 100 + 101 + 102 + 103 + 104 + 1_000, "node {i}");
    }
    assert_same_chain(&net, height).await;
}
