//! WebSocket: methods, subscriptions (each block once, in order), unsubscribe, slow subscribers.

use crate::fake::{account, transfer};
use crate::harness::{eventually, start, start_with};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::time::Duration;
use tally_rpc::RpcConfig;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn methods_work_over_websocket() {
    let server = start().await;
    let mut ws = server.ws().await;
    let status = ws.call("status", json!([])).await.unwrap();
    assert_eq!(status["chain_id"], "tally-devnet");
    let error = ws.call("nope", json!([])).await.unwrap_err();
    assert_eq!(error.code(), Some(-32601));
    // Batches and raw framing work the same as over HTTP.
    let (mut raw, _) = tokio_tungstenite::connect_async(server.ws_url()).await.unwrap();
    raw.send(Message::Text(
        r#"[{"jsonrpc":"2.0","id":1,"method":"status"},{"jsonrpc":"2.0","method":"status"}]"#.into(),
    ))
    .await
    .unwrap();
    let reply = raw.next().await.unwrap().unwrap();
    let reply: serde_json::Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert_eq!(reply.as_array().unwrap().len(), 1);
    raw.send(Message::Text("{".into())).await.unwrap();
    let reply = raw.next().await.unwrap().unwrap();
    assert!(reply.to_text().unwrap().contains("-32700"));
    server.stop().await;
}

#[tokio::test]
async fn new_blocks_arrive_once_in_order_and_unsubscribe_stops_them() {
    let server = start().await;
    let mut ws = server.ws().await;
    let id = ws.subscribe_blocks().await.unwrap();
    let mut positional = server.ws().await;
    let id2: String =
        serde_json::from_value(positional.call("subscribe", json!(["newBlocks"])).await.unwrap()).unwrap();
    for _ in 0..20 {
        server.fake.commit_block();
    }
    for height in 1..=20u64 {
        let n = ws.next_notification().await.unwrap().unwrap();
        assert_eq!(n.subscription, id);
        let block: tally_rpc::wire::BlockInfo = serde_json::from_value(n.result).unwrap();
        assert_eq!(block.height, height);
        let b = positional.next_block().await.unwrap().unwrap();
        assert_eq!(b.height, height);
    }
    assert_ne!(id, String::new());
    assert!(!id2.is_empty());
    assert!(ws.unsubscribe(&id).await.unwrap());
    // Unknown or already-ended subscriptions are not found.
    assert_eq!(ws.unsubscribe(&id).await.unwrap_err().code(), Some(-32001));
    server.fake.commit_block();
    // A call round trip after the commit: no notification may be waiting for us.
    ws.call("status", json!([])).await.unwrap();
    let next = tokio::time::timeout(Duration::from_millis(300), ws.next_notification()).await;
    assert!(next.is_err(), "notification after unsubscribe: {next:?}");
    // The other connection still gets block 21, once.
    assert_eq!(positional.next_block().await.unwrap().unwrap().height, 21);
    let next = tokio::time::timeout(Duration::from_millis(200), positional.next_notification()).await;
    assert!(next.is_err());
    server.stop().await;
}

#[tokio::test]
async fn address_subscription_sends_matching_transfers() {
    let server = start().await;
    let mut ws = server.ws().await;
    let watched = account(1);
    let id = ws.subscribe_address(&watched.address()).await.unwrap();
    let mut by_position = server.ws().await;
    by_position.call("subscribe", json!(["address", watched.to_string()])).await.unwrap();
    let incoming = transfer(0, 1, 7, 0);
    let unrelated = transfer(2, 3, 7, 0);
    let outgoing = transfer(1, 4, 9, 0);
    server.fake.commit_raw(vec![unrelated, incoming.clone()]);
    server.fake.commit_raw(vec![]);
    server.fake.commit_raw(vec![outgoing.clone()]);
    for client in [&mut ws, &mut by_position] {
        let first = client.next_notification().await.unwrap().unwrap();
        let tx: tally_rpc::wire::TransactionInfo = serde_json::from_value(first.result.clone()).unwrap();
        assert_eq!(tx.hash, incoming.hash());
        assert_eq!(tx.status, tally_rpc::TxStatus::Committed);
        assert_eq!((tx.height, tx.index), (Some(1), Some(1)));
        assert_eq!(first.result["amount"], "7");
        let second = client.next_transaction().await.unwrap().unwrap();
        assert_eq!(second.hash, outgoing.hash());
        assert_eq!(second.height, Some(3));
    }
    assert!(id.starts_with("sub-"));
    for bad in [
        json!(["address"]),
        json!(["newBlocks", watched.to_string()]),
        json!(["blocks"]),
        json!({"topic": 1}),
        json!([]),
    ] {
        let error = ws.call("subscribe", bad.clone()).await.unwrap_err();
        assert_eq!(error.code(), Some(-32602), "{bad}");
    }
    server.stop().await;
}

#[tokio::test]
async fn subscriptions_per_connection_are_bounded() {
    let server = start_with(RpcConfig { ws_max_subscriptions: 2, ..RpcConfig::default() }, 16).await;
    let mut ws = server.ws().await;
    ws.subscribe_blocks().await.unwrap();
    ws.subscribe_blocks().await.unwrap();
    assert_eq!(ws.subscribe_blocks().await.unwrap_err().code(), Some(-32602));
    server.stop().await;
}

#[tokio::test]
async fn slow_subscriber_is_dropped_without_slowing_others() {
    let config = RpcConfig { ws_queue_len: 8, ..RpcConfig::default() };
    let server = start_with(config, 4096).await;
    // Blocks with many transfers, so the slow client's socket buffers fill quickly.
    let transfers: Vec<_> = (0..300).map(|n| transfer(0, 1, 1, n)).collect();
    let mut good = server.ws().await;
    good.subscribe_blocks().await.unwrap();
    let mut slow = server.ws().await;
    slow.subscribe_blocks().await.unwrap();
    // The slow client never reads; the good one keeps up, block by block.
    let mut dropped_at = None;
    for height in 1..=2000u64 {
        server.fake.commit_raw(transfers.clone());
        let block = tokio::time::timeout(Duration::from_secs(10), good.next_block()).await.unwrap().unwrap().unwrap();
        assert_eq!(block.height, height);
        if dropped_at.is_none() && server.metrics.ws_dropped_total() > 0 {
            dropped_at = Some(height);
        }
        // Keep going a little after the drop to show the good subscriber is unaffected.
        if dropped_at.is_some_and(|at| height >= at + 20) {
            break;
        }
    }
    assert!(dropped_at.is_some(), "the slow subscriber was never dropped");
    eventually("the slow subscriber to be dropped", || server.metrics.ws_dropped_total() == 1).await;
    // The slow client, reading at last, finds its stream cut short.
    let mut received = 0u64;
    let drained = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(_)) = slow.next_notification().await {
            received += 1;
        }
    })
    .await;
    assert!(drained.is_ok(), "the slow connection was not closed");
    assert!(received < server.fake.height(), "received {received} of {}", server.fake.height());
    // The good subscriber still works.
    server.fake.commit_raw(vec![]);
    let next = good.next_block().await.unwrap().unwrap();
    assert_eq!(next.height, server.fake.height());
    server.stop().await;
}
