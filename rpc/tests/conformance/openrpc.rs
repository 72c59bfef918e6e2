//! The OpenRPC document lists exactly the methods the dispatcher serves, with their params.

use crate::harness::start;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use tally_rpc::methods::Method;

#[tokio::test]
async fn discover_matches_the_dispatcher() {
    let server = start().await;
    let doc = server.result("rpc.discover", "[]").await;
    assert!(doc["openrpc"].as_str().unwrap().starts_with("1."));
    let methods = doc["methods"].as_array().unwrap();
    let documented: BTreeSet<String> = methods.iter().map(|m| m["name"].as_str().unwrap().to_string()).collect();
    let table: BTreeSet<String> = Method::ALL.iter().map(|m| m.name().to_string()).collect();
    assert_eq!(documented, table);
    // Every documented method is served (over WebSocket, where all of them are): calling it with
    // no params gives a result or a params error, never "method not found".
    let mut ws = server.ws().await;
    for name in &documented {
        match ws.call(name, json!({})).await {
            Ok(_) => {}
            Err(error) => assert_ne!(error.code(), Some(-32601), "{name} is documented but not served"),
        }
    }
    // Names that are not documented are not served.
    for name in ["getBalance", "eth_call", "rpc.discover2", "Status", "subscribe ", "debug"] {
        assert!(!documented.contains(name));
        assert_eq!(ws.call(name, json!([])).await.unwrap_err().code(), Some(-32601), "{name}");
    }
    // The documented params are the ones the dispatcher binds, in order.
    for method in Method::ALL {
        let entry = methods.iter().find(|m| m["name"] == method.name()).unwrap();
        let names: Vec<&str> =
            entry["params"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        let table: Vec<&str> = method.spec().params.iter().map(|p| p.name).collect();
        assert_eq!(names, table, "{}", method.name());
        for param in entry["params"].as_array().unwrap() {
            if !param["required"].as_bool().unwrap() {
                continue;
            }
            // Leaving out a required param is a params error naming it.
            let error = ws.call(method.name(), json!({})).await.unwrap_err();
            assert_eq!(error.code(), Some(-32602));
            let data = match error {
                tally_rpc::ClientError::Rpc(e) => e.data.unwrap_or(Value::Null),
                other => panic!("{other:?}"),
            };
            assert_eq!(data["param"], param["name"], "{}", method.name());
            break;
        }
    }
    server.stop().await;
}
