//! JSON-RPC 2.0 framing: errors, ids, notifications, batches, param strictness.

use crate::fake::{account, transfer};
use crate::harness::{start, start_with};
use serde_json::{json, Value};
use tally_rpc::RpcConfig;

const ADDR0: &str = "tally1q7h0rr3gzre7ht2czndl796ptue42vr7u7dx4c8dzvfcygc9t90qdcwww3";

fn code(response: &Value) -> i64 {
    response["error"]["code"].as_i64().unwrap_or_else(|| panic!("no error code in {response}"))
}

#[tokio::test]
async fn parse_error_and_invalid_requests() {
    let server = start().await;
    for body in ["{", "", "nul", "[1,", "{\"jsonrpc\":\"2.0\",}", "\u{0}"] {
        let r = server.rpc(body).await;
        assert_eq!(code(&r), -32700, "{body}");
        assert_eq!(r["id"], Value::Null);
        assert_eq!(r["jsonrpc"], "2.0");
    }
    // Invalid UTF-8 inside a string is not JSON.
    let answer = server.post(b"{\"jsonrpc\":\"2.0\",\"method\":\"\xff\",\"id\":1}".to_vec()).await;
    assert_eq!(code(&answer.json()), -32700);
    for body in [
        r#"5"#,
        r#""status""#,
        r#"null"#,
        r#"{"jsonrpc":"2.0","id":1}"#,
        r#"{"jsonrpc":"1.0","method":"status","id":1}"#,
        r#"{"jsonrpc":2.0,"method":"status","id":1}"#,
        r#"{"method":"status","id":1}"#,
        r#"{"jsonrpc":"2.0","method":5,"id":1}"#,
        r#"{"jsonrpc":"2.0","method":null,"id":1}"#,
        r#"{"jsonrpc":"2.0","method":"status","params":"x","id":1}"#,
        r#"{"jsonrpc":"2.0","method":"status","params":7,"id":1}"#,
    ] {
        let r = server.rpc(body).await;
        assert_eq!(code(&r), -32600, "{body}: {r}");
    }
    // The id is echoed when it could be read, null otherwise.
    let r = server.rpc(r#"{"jsonrpc":"1.0","method":"status","id":"abc"}"#).await;
    assert_eq!(r["id"], "abc");
    for id in ["{}", "[1]", "true", r#"{"a":1}"#] {
        let r = server.rpc(&format!(r#"{{"jsonrpc":"2.0","method":"status","id":{id}}}"#)).await;
        assert_eq!(code(&r), -32600, "{id}");
        assert_eq!(r["id"], Value::Null, "{id}");
    }
    server.stop().await;
}

#[tokio::test]
async fn unknown_method_and_websocket_only_methods_over_http() {
    let server = start().await;
    let r = server.rpc(r#"{"jsonrpc":"2.0","method":"getBalance","id":9}"#).await;
    assert_eq!(code(&r), -32601);
    assert_eq!(r["id"], 9);
    for method in ["subscribe", "unsubscribe", "Status", "rpc.other", ""] {
        let r = server.call(method, r#"["newBlocks"]"#).await;
        assert_eq!(code(&r), -32601, "{method}");
    }
    server.stop().await;
}

#[tokio::test]
async fn ids_are_echoed_exactly() {
    let server = start().await;
    for id in [
        r#""abc""#,
        r#""""#,
        r#""\u00e9\n""#,
        "1",
        "0",
        "-5",
        "1.5",
        "1.50",
        "1e3",
        "-0.0",
        "18446744073709551616123456789",
        "null",
    ] {
        let body = format!(r#"{{"jsonrpc":"2.0","method":"status","id":{id}}}"#);
        let answer = server.post(body).await;
        assert_eq!(answer.status, 200);
        assert!(answer.text.ends_with(&format!(r#","id":{id}}}"#)), "id {id} not echoed: {}", answer.text);
        assert!(answer.json()["result"].is_object());
    }
    server.stop().await;
}

#[tokio::test]
async fn notifications_get_no_response_but_run() {
    let server = start().await;
    let answer = server.post(r#"{"jsonrpc":"2.0","method":"status"}"#).await;
    assert_eq!(answer.status, 204);
    assert!(answer.text.is_empty());
    // An unknown method as a notification is not answered either.
    let answer = server.post(r#"{"jsonrpc":"2.0","method":"nope","params":[]}"#).await;
    assert_eq!((answer.status, answer.text.as_str()), (204, ""));
    // A notification is still executed.
    let tx = hex::encode(transfer(0, 1, 5, 0).encode());
    let answer = server.post(format!(r#"{{"jsonrpc":"2.0","method":"sendTransaction","params":["{tx}"]}}"#)).await;
    assert_eq!(answer.status, 204);
    assert_eq!(server.fake.mempool_hashes(), vec![transfer(0, 1, 5, 0).hash()]);
    server.stop().await;
}

#[tokio::test]
async fn batches() {
    let server = start().await;
    // Empty batch: one error object, not an array.
    let r = server.rpc("[]").await;
    assert!(r.is_object());
    assert_eq!(code(&r), -32600);
    assert_eq!(r["id"], Value::Null);
    // Only notifications: no body at all.
    let answer = server
        .post(r#"[{"jsonrpc":"2.0","method":"status"},{"jsonrpc":"2.0","method":"getValidators","params":[]}]"#)
        .await;
    assert_eq!((answer.status, answer.text.as_str()), (204, ""));
    // Non-objects in a batch are each an invalid request.
    let r = server.rpc("[1,2,3]").await;
    let items = r.as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|i| code(i) == -32600 && i["id"].is_null()));
    // Mixed: good, invalid, notification, unknown method, bad params.
    let body = json!([
        {"jsonrpc": "2.0", "method": "status", "id": "a"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "getValidators"},
        {"jsonrpc": "2.0", "method": "nope", "id": 2},
        {"jsonrpc": "2.0", "method": "getAccount", "params": ["not-an-address"], "id": 3},
        {"jsonrpc": "2.0", "method": "getAccount", "params": {"address": ADDR0}, "id": 4},
    ]);
    let r = server.rpc(&body.to_string()).await;
    let items = r.as_array().unwrap();
    assert_eq!(items.len(), 5, "{r}");
    let by_id = |id: Value| items.iter().find(|i| i["id"] == id).unwrap_or_else(|| panic!("no answer for {id}"));
    assert_eq!(by_id(json!("a"))["result"]["chain_id"], "tally-devnet");
    assert_eq!(code(by_id(Value::Null)), -32600);
    assert_eq!(code(by_id(json!(2))), -32601);
    assert_eq!(code(by_id(json!(3))), -32602);
    assert_eq!(by_id(json!(4))["result"]["balance"], "1000000000000");
    server.stop().await;
}

#[tokio::test]
async fn batch_over_the_limit_is_one_error() {
    let server = start_with(RpcConfig { max_batch_len: 5, ..RpcConfig::default() }, 16).await;
    let call = json!({"jsonrpc": "2.0", "method": "status", "id": 1});
    let r = server.rpc(&Value::Array(vec![call.clone(); 5]).to_string()).await;
    assert_eq!(r.as_array().unwrap().len(), 5);
    let r = server.rpc(&Value::Array(vec![call; 6]).to_string()).await;
    assert_eq!(code(&r), -32600);
    assert!(r["error"]["data"]["detail"].as_str().unwrap().contains("limit"));
    server.stop().await;
}

#[tokio::test]
async fn params_by_position_or_name() {
    let server = start().await;
    let positional = server.result("getAccount", &format!(r#"["{ADDR0}"]"#)).await;
    let named = server.result("getAccount", &format!(r#"{{"address":"{ADDR0}"}}"#)).await;
    assert_eq!(positional, named);
    assert_eq!(positional["address"], ADDR0);
    // Missing, extra, unknown-name and wrongly typed params are -32602.
    for params in [
        "[]".to_string(),
        "{}".to_string(),
        format!(r#"["{ADDR0}", 1]"#),
        format!(r#"{{"address":"{ADDR0}","extra":1}}"#),
        r#"{"addr":"x"}"#.to_string(),
        "[5]".to_string(),
        "[null]".to_string(),
        format!(r#"["{}"]"#, ADDR0.to_uppercase().replacen('T', "t", 1)),
        format!(r#"["{}"]"#, &ADDR0[..ADDR0.len() - 1]),
    ] {
        assert_eq!(server.error_code("getAccount", &params).await, -32602, "{params}");
    }
    // status takes no params; empty array or object is fine, anything else is -32602.
    server.result("status", "[]").await;
    server.result("status", "{}").await;
    assert_eq!(server.error_code("status", "[1]").await, -32602);
    let _ = account(0);
    server.stop().await;
}

#[tokio::test]
async fn u64_params_are_strict() {
    let server = start().await;
    for ok in ["7", "\"7\"", "0", "\"0\"", "18446744073709551615", "\"18446744073709551615\""] {
        server.result("getEvidence", &format!("[{ok}]")).await;
        server.result("getEvidence", &format!(r#"{{"from_height":{ok}}}"#)).await;
    }
    for bad in [
        "1e3",
        "1E3",
        "1.0",
        "-1",
        "-0",
        "18446744073709551616",
        "99999999999999999999999999",
        "\"01\"",
        "\"+1\"",
        "\"1.0\"",
        "\"1e3\"",
        "\" 1\"",
        "\"\"",
        "\"0x10\"",
        "true",
        "[1]",
        "{}",
    ] {
        assert_eq!(server.error_code("getEvidence", &format!("[{bad}]")).await, -32602, "{bad}");
        assert_eq!(server.error_code("getBlock", &format!("[{bad}]")).await, -32602, "{bad}");
    }
    // A leading zero is not JSON at all.
    assert_eq!(server.error_code("getEvidence", "[01]").await, -32700);
    server.stop().await;
}
