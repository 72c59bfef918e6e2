//! Each method's JSON shape and error mapping.

use crate::fake::{account, evidence, transfer, transfer_with, validator, INITIAL_BALANCE};
use crate::harness::start;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tally_rpc::Health;

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap_or_else(|| panic!("not an object: {value}")).keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn is_hex(value: &Value, len: usize) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

#[tokio::test]
async fn status_shape() {
    let server = start().await;
    let status = server.result("status", "[]").await;
    assert_eq!(
        keys(&status),
        set(&[
            "chain_id",
            "genesis_hash",
            "node_id",
            "moniker",
            "latest_height",
            "latest_block_hash",
            "latest_block_time",
            "syncing",
            "validator_address",
            "peers"
        ])
    );
    assert_eq!(status["latest_height"], 0);
    assert_eq!(status["latest_block_time"], "2026-01-01T00:00:00.000Z");
    assert!(is_hex(&status["genesis_hash"], 64));
    assert_eq!(status["validator_address"], validator(0).to_string());
    assert_eq!(status["peers"], 3);
    assert_eq!(status["syncing"], false);
    server.fake.commit_block();
    let status = server.result("status", "{}").await;
    assert_eq!(status["latest_height"], 1);
    assert_eq!(status["latest_block_time"], "2026-01-01T00:00:01.007Z");
    server.stop().await;
}

#[tokio::test]
async fn account_shape_and_unknown_account() {
    let server = start().await;
    let a0 = account(0).to_string();
    let info = server.result("getAccount", &format!(r#"["{a0}"]"#)).await;
    assert_eq!(keys(&info), set(&["address", "balance", "nonce", "pending_nonce", "height"]));
    assert_eq!(info["balance"], INITIAL_BALANCE.to_string());
    assert_eq!(info["nonce"], "0");
    assert_eq!(info["pending_nonce"], "0");
    assert_eq!(info["height"], 0);
    server.result("sendTransaction", &format!(r#"["{}"]"#, hex::encode(transfer(0, 1, 5, 0).encode()))).await;
    let info = server.result("getAccount", &format!(r#"["{a0}"]"#)).await;
    assert_eq!(info["pending_nonce"], "1");
    let stranger = tally_ledger::PublicKey([9; 32]).to_string();
    let info = server.result("getAccount", &format!(r#"{{"address":"{stranger}"}}"#)).await;
    assert_eq!((info["balance"].as_str(), info["nonce"].as_str()), (Some("0"), Some("0")));
    server.stop().await;
}

#[tokio::test]
async fn send_transaction_statuses_and_rejections() {
    let server = start().await;
    let t = transfer(0, 1, 5, 0);
    let tx = hex::encode(t.encode());
    let sent = server.result("sendTransaction", &format!(r#"["{tx}"]"#)).await;
    assert_eq!(sent, json!({"hash": t.hash().to_hex(), "status": "pending"}));
    // Idempotent while pending, and after commit it reports committed, never bad_nonce.
    let again = server.result("sendTransaction", &format!(r#"{{"tx":"{tx}","wait":"none"}}"#)).await;
    assert_eq!(again["status"], "pending");
    server.fake.commit_block();
    let again = server.result("sendTransaction", &format!(r#"["{tx}"]"#)).await;
    assert_eq!(again, json!({"hash": t.hash().to_hex(), "status": "committed", "height": 1}));
    // Uppercase hex is accepted.
    let upper = transfer(0, 1, 5, 1);
    let sent = server.result("sendTransaction", &format!(r#"["{}"]"#, hex::encode_upper(upper.encode()))).await;
    assert_eq!(sent["status"], "pending");

    let reason = |response: &Value| {
        assert_eq!(response["error"]["code"], -32000, "{response}");
        assert_eq!(response["error"]["message"], "transfer rejected");
        response["error"]["data"]["reason"].as_str().unwrap().to_string()
    };
    // Bytes that do not decode: malformed (trailing byte, truncated, empty, zero amount).
    let mut trailing = t.encode();
    trailing.push(0);
    for bytes in [trailing, t.encode()[..50].to_vec(), vec![], vec![2; 100]] {
        let r = server.call("sendTransaction", &format!(r#"["{}"]"#, hex::encode(bytes))).await;
        assert_eq!(reason(&r), "malformed");
    }
    // The node's verdicts come through as data.reason.
    let r = server
        .call("sendTransaction", &format!(r#"["{}"]"#, hex::encode(transfer(2, 1, u64::MAX - 5, 0).encode())))
        .await;
    assert_eq!(reason(&r), "insufficient_funds");
    let r = server.call("sendTransaction", &format!(r#"["{}"]"#, hex::encode(transfer(2, 1, 5, 3).encode()))).await;
    assert_eq!(reason(&r), "bad_nonce");
    let mut forged = transfer(2, 1, 5, 0).encode();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let r = server.call("sendTransaction", &format!(r#"["{}"]"#, hex::encode(forged))).await;
    assert_eq!(reason(&r), "invalid_signature");
    // Not a string, not hex, bad wait: invalid params.
    for params in [r#"[5]"#, r#"[["00"]]"#, r#"["zz"]"#, r#"["0x00"]"#, r#"["abc"]"#, r#"{"tx":"00","wait":"final"}"#] {
        assert_eq!(server.error_code("sendTransaction", params).await, -32602, "{params}");
    }
    server.stop().await;
}

#[tokio::test]
async fn transaction_shapes() {
    let server = start().await;
    let unknown = tally_ledger::Hash::digest(b"nothing");
    let r = server.result("getTransaction", &format!(r#"["{}"]"#, unknown.to_hex())).await;
    assert_eq!(r, json!({"hash": unknown.to_hex(), "status": "unknown"}));
    let t = transfer_with(0, 1, 25, 0, 100, b"\x01\xab");
    server.result("sendTransaction", &format!(r#"["{}"]"#, hex::encode(t.encode()))).await;
    let pending = server.result("getTransaction", &format!(r#"{{"hash":"{}"}}"#, t.hash().to_hex())).await;
    assert_eq!(
        pending,
        json!({
            "hash": t.hash().to_hex(), "status": "pending",
            "from": account(0).to_string(), "to": account(1).to_string(),
            "amount": "25", "fee": "1", "nonce": "0", "valid_until": "100", "memo": "01ab",
        })
    );
    server.fake.commit_block();
    let committed = server.result("getTransaction", &format!(r#"["{}"]"#, t.hash().to_hex().to_uppercase())).await;
    assert_eq!(committed["status"], "committed");
    assert_eq!((committed["height"].clone(), committed["index"].clone()), (json!(1), json!(0)));
    for bad in [r#"["abc"]"#, r#"[1]"#, r#"["zz00000000000000000000000000000000000000000000000000000000000000"]"#] {
        assert_eq!(server.error_code("getTransaction", bad).await, -32602, "{bad}");
    }
    server.stop().await;
}

#[tokio::test]
async fn block_shape_and_not_found() {
    let server = start().await;
    assert_eq!(server.error_code("getBlock", r#"["latest"]"#).await, -32001);
    assert_eq!(server.error_code("getBlock", "[1]").await, -32001);
    assert_eq!(server.error_code("getBlock", "[0]").await, -32001);
    let t = transfer(0, 1, 5, 0);
    server.result("sendTransaction", &format!(r#"["{}"]"#, hex::encode(t.encode()))).await;
    let first = server.fake.commit_block();
    let second = server.fake.commit_block();
    let b1 = server.result("getBlock", "[1]").await;
    assert_eq!(
        keys(&b1),
        set(&[
            "hash",
            "height",
            "time",
            "previous_hash",
            "proposer",
            "transfers_root",
            "last_commit_hash",
            "state_root",
            "transfers",
            "last_commit",
            "commit"
        ])
    );
    assert_eq!(b1["hash"], first.block.hash().to_hex());
    assert_eq!(b1["height"], 1);
    assert_eq!(b1["time"], "2026-01-01T00:00:01.007Z");
    assert_eq!(b1["proposer"], first.block.header.proposer.to_string());
    assert_eq!(b1["transfers"], json!([t.hash().to_hex()]));
    assert_eq!(b1["last_commit"], Value::Null);
    assert_eq!(keys(&b1["commit"]), set(&["height", "round", "block_hash", "signatures"]));
    assert_eq!(b1["commit"]["height"], 1);
    assert_eq!(b1["commit"]["block_hash"], first.block.hash().to_hex());
    let signature = &b1["commit"]["signatures"][0];
    assert_eq!(keys(signature), set(&["validator", "signature"]));
    assert_eq!(signature["validator"], validator(0).to_string());
    assert!(is_hex(&signature["signature"], 128));
    let latest = server.result("getBlock", r#"["latest"]"#).await;
    assert_eq!(latest, server.result("getBlock", r#"{"height":"2"}"#).await);
    assert_eq!(latest["previous_hash"], first.block.hash().to_hex());
    assert_eq!(latest["last_commit"], b1["commit"]);
    assert_eq!(latest["hash"], second.block.hash().to_hex());
    assert_eq!(server.error_code("getBlock", r#"["earliest"]"#).await, -32602);
    server.stop().await;
}

#[tokio::test]
async fn history_pages() {
    let server = start().await;
    for nonce in 0..5 {
        server.fake.commit_raw(vec![transfer(0, 1, 10 + nonce, nonce), transfer(2, 3, 1, nonce)]);
    }
    let a0 = account(0).to_string();
    let page = server.result("getTransactionsByAddress", &format!(r#"["{a0}"]"#)).await;
    assert_eq!(keys(&page), set(&["transactions", "next"]));
    let items = page["transactions"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(page["next"], Value::Null);
    let heights: Vec<u64> = items.iter().map(|i| i["height"].as_u64().unwrap()).collect();
    assert_eq!(heights, vec![5, 4, 3, 2, 1], "newest first");
    assert_eq!(items[0]["status"], "committed");
    assert_eq!(items[0]["amount"], "14");
    // Paging with the cursor, positionally and by name.
    let page = server.result("getTransactionsByAddress", &format!(r#"["{a0}", 2]"#)).await;
    let next = page["next"].as_str().unwrap().to_string();
    let page2 = server.result("getTransactionsByAddress", &format!(r#"["{a0}", "2", "{next}"]"#)).await;
    let page2b = server
        .result("getTransactionsByAddress", &format!(r#"{{"address":"{a0}","limit":2,"before":"{next}"}}"#))
        .await;
    assert_eq!(page2, page2b);
    let heights: Vec<u64> =
        page2["transactions"].as_array().unwrap().iter().map(|i| i["height"].as_u64().unwrap()).collect();
    assert_eq!(heights, vec![3, 2]);
    // Recipients see received transfers too.
    let a1 = account(1).to_string();
    let page = server.result("getTransactionsByAddress", &format!(r#"{{"address":"{a1}","limit":500}}"#)).await;
    assert_eq!(page["transactions"].as_array().unwrap().len(), 5);
    for bad in [
        format!(r#"["{a0}", 0]"#),
        format!(r#"["{a0}", 501]"#),
        format!(r#"["{a0}", -1]"#),
        format!(r#"["{a0}", 10, "garbage"]"#),
        format!(r#"["{a0}", 10, 5]"#),
    ] {
        assert_eq!(server.error_code("getTransactionsByAddress", &bad).await, -32602, "{bad}");
    }
    server.stop().await;
}

#[tokio::test]
async fn validators_and_evidence_shapes() {
    let server = start().await;
    let validators = server.result("getValidators", "[]").await;
    assert_eq!(validators.as_array().unwrap().len(), 4);
    assert_eq!(validators[0], json!({"name": "v0", "address": validator(0).to_string(), "power": 1}));
    let all = server.result("getEvidence", "[]").await;
    let e = evidence();
    assert_eq!(
        all,
        json!([{
            "height": 7, "round": 1, "type": "prevote", "validator": validator(2).to_string(),
            "first": {
                "type": "prevote", "height": 7, "round": 1,
                "block_hash": e.first.block_hash.unwrap().to_hex(), "pol_round": null,
                "validator": validator(2).to_string(), "signature": "01".repeat(64),
            },
            "second": {
                "type": "prevote", "height": 7, "round": 1, "block_hash": null, "pol_round": null,
                "validator": validator(2).to_string(), "signature": "02".repeat(64),
            },
        }])
    );
    assert_eq!(server.result("getEvidence", "[8]").await, json!([]));
    assert_eq!(server.result("getEvidence", r#"{"from_height":null}"#).await, all);
    server.stop().await;
}

#[tokio::test]
async fn node_errors_map_to_codes() {
    let server = start().await;
    *server.fake.ready.lock().unwrap() = false;
    let r = server.call("status", "[]").await;
    assert_eq!(r["error"]["code"], -32002);
    assert_eq!(r["error"]["message"], "node not ready");
    *server.fake.ready.lock().unwrap() = true;
    *server.fake.fail.lock().unwrap() = true;
    let r = server.call("getValidators", "[]").await;
    assert_eq!(r["error"]["code"], -32603);
    *server.fake.fail.lock().unwrap() = false;
    server.stop().await;
}

#[tokio::test]
async fn wait_committed_returns_at_commit() {
    let server = start().await;
    let t = transfer(0, 1, 5, 0);
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"sendTransaction","params":{{"tx":"{}","wait":"committed","timeout_ms":"10000"}}}}"#,
        hex::encode(t.encode())
    );
    let started = Instant::now();
    let post = server.post(body);
    let commit = async {
        crate::harness::eventually("the transfer in the mempool", || server.fake.mempool_hashes().contains(&t.hash()))
            .await;
        server.fake.commit_block();
    };
    let (answer, ()) = tokio::join!(post, commit);
    let r = answer.json();
    assert_eq!(r["result"], json!({"hash": t.hash().to_hex(), "status": "committed", "height": 1}), "{r}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Already committed: immediate answer.
    let r = server.result("sendTransaction", &format!(r#"["{}", "committed", 10000]"#, hex::encode(t.encode()))).await;
    assert_eq!(r["status"], "committed");
    server.stop().await;
}

#[tokio::test]
async fn wait_committed_times_out_as_pending() {
    let server = start().await;
    let t = transfer(0, 1, 5, 0);
    let started = Instant::now();
    // Blocks without the transfer do not end the wait.
    let other = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        server.fake.commit_raw(vec![]);
    };
    let params = format!(r#"["{}", "committed", 400]"#, hex::encode(t.encode()));
    let call = server.result("sendTransaction", &params);
    let (r, ()) = tokio::join!(call, other);
    assert_eq!(r, json!({"hash": t.hash().to_hex(), "status": "pending"}));
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(5), "{elapsed:?}");
    server.stop().await;
}

#[tokio::test]
async fn health_endpoint() {
    let server = start().await;
    let answer = server.get("/health").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), json!({"ok": true}));
    *server.fake.health.lock().unwrap() = Health::unhealthy("7 blocks behind the best peer");
    let answer = server.get("/health").await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.json()["reason"], "7 blocks behind the best peer");
    assert_eq!(server.client.health().await.unwrap().as_deref(), Some("7 blocks behind the best peer"));
    server.stop().await;
}
