//! The typed client against the server: every method decodes into its typed result.

use crate::fake::{account, transfer, validator, INITIAL_BALANCE};
use crate::harness::start;
use std::time::Duration;
use tally_rpc::{BlockRef, ClientError, TxStatus, Wait};

#[tokio::test]
async fn typed_client_round_trips_every_method() {
    let server = start().await;
    let client = &server.client;
    let status = client.status().await.unwrap();
    assert_eq!(status.chain_id, "tally-devnet");
    assert_eq!(status.validator_address, Some(validator(0).address()));

    let a0 = account(0).address();
    let info = client.get_account(&a0).await.unwrap();
    assert_eq!((info.balance, info.nonce, info.pending_nonce), (INITIAL_BALANCE, 0, 0));

    let t = transfer(0, 1, 5, 0);
    let sent = client.send_transaction(&t.encode(), Wait::None).await.unwrap();
    assert_eq!((sent.hash, sent.status, sent.height), (t.hash(), TxStatus::Pending, None));
    let pending = client.get_transaction(&t.hash()).await.unwrap();
    let fields = pending.transfer.as_ref().unwrap();
    assert_eq!((fields.amount, fields.fee, fields.nonce, fields.memo.as_slice()), (5, 1, 0, &b"inv-1"[..]));
    assert_eq!(fields.to, account(1).address());

    server.fake.commit_block();
    let committed = client.send_transaction(&t.encode(), Wait::Committed(Duration::from_secs(1))).await.unwrap();
    assert_eq!((committed.status, committed.height), (TxStatus::Committed, Some(1)));
    let view = client.get_transaction(&t.hash()).await.unwrap();
    assert_eq!((view.status, view.height, view.index), (TxStatus::Committed, Some(1), Some(0)));
    let unknown = client.get_transaction(&tally_ledger::Hash::ZERO).await.unwrap();
    assert_eq!(unknown.status, TxStatus::Unknown);
    assert!(unknown.transfer.is_none());

    let block = client.get_block(BlockRef::Latest).await.unwrap().unwrap();
    assert_eq!(block.height, 1);
    assert_eq!(block.transfers[0].0, t.hash());
    assert_eq!(block.commit.signatures.len(), 3);
    assert!(client.get_block(BlockRef::Height(99)).await.unwrap().is_none());

    let page = client.get_transactions_by_address(&a0, Some(10), None).await.unwrap();
    assert_eq!(page.transactions.len(), 1);
    assert!(page.next.is_none());
    let page = client.get_transactions_by_address(&a0, Some(1), None).await.unwrap();
    let next = page.next.unwrap();
    let rest = client.get_transactions_by_address(&a0, Some(1), Some(&next)).await.unwrap();
    assert!(rest.transactions.is_empty());

    let validators = client.get_validators().await.unwrap();
    assert_eq!(validators.len(), 4);
    assert_eq!(validators[3].address, validator(3).address());
    let evidence = client.get_evidence(Some(1)).await.unwrap();
    assert_eq!(evidence[0].first.kind, tally_rpc::VoteKind::Prevote);
    assert!(client.get_evidence(Some(100)).await.unwrap().is_empty());
    assert!(client.health().await.unwrap().is_none());
    server.stop().await;
}

#[tokio::test]
async fn client_errors_expose_code_and_reason() {
    let server = start().await;
    let broke = transfer(2, 1, u64::MAX - 1, 0);
    let error = server.client.send_transaction(&broke.encode(), Wait::None).await.unwrap_err();
    assert_eq!(error.code(), Some(-32000));
    assert_eq!(error.reason(), Some("insufficient_funds"));
    assert!(error.to_string().contains("insufficient_funds"), "{error}");
    let error = server.client.send_transaction(&[1, 2, 3], Wait::None).await.unwrap_err();
    assert_eq!(error.reason(), Some("malformed"));
    let error = server.client.call("getAccount", serde_json::json!(["nope"])).await.unwrap_err();
    assert_eq!(error.code(), Some(-32602));
    assert!(error.to_string().contains("address"), "{error}");
    // Nothing listening: a transport error, not a panic.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let error = tally_rpc::RpcClient::new(dead).status().await.unwrap_err();
    assert!(matches!(error, ClientError::Transport { .. }), "{error:?}");
    server.stop().await;
}

#[test]
fn ws_url_follows_the_http_url() {
    assert_eq!(tally_rpc::RpcClient::new("http://127.0.0.1:8545").ws_url(), "ws://127.0.0.1:8545/ws");
    assert_eq!(tally_rpc::RpcClient::new("https://node.example/").ws_url(), "wss://node.example/ws");
}
