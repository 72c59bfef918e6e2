//! The OpenRPC 1.x document served by `rpc.discover`, generated from the method table.

use crate::methods::Method;
use serde_json::{json, Map, Value};

/// The OpenRPC version the document follows.
pub const OPENRPC_VERSION: &str = "1.3.2";

fn schema(text: &str) -> Value {
    // The table's schemas are checked to be JSON by a unit test; an unparsable one would show
    // up as an empty (accept-anything) schema rather than a panic.
    serde_json::from_str(text).unwrap_or_else(|_| json!({}))
}

/// The whole document.
pub fn document() -> Value {
    let methods: Vec<Value> = Method::ALL
        .iter()
        .map(|method| {
            let spec = method.spec();
            let params: Vec<Value> = spec
                .params
                .iter()
                .map(|p| {
                    json!({
                        "name": p.name,
                        "required": p.required,
                        "description": p.description,
                        "schema": schema(p.schema),
                    })
                })
                .collect();
            let mut entry = json!({
                "name": spec.name,
                "summary": spec.summary,
                "paramStructure": "either",
                "params": params,
                "result": { "name": spec.result_name, "schema": schema(spec.result_schema) },
            });
            if spec.websocket_only {
                entry["x-transport"] = json!("websocket");
            }
            entry
        })
        .collect();
    json!({
        "openrpc": OPENRPC_VERSION,
        "info": {
            "title": "Tally node JSON-RPC",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "JSON-RPC 2.0 over HTTP POST / and WebSocket /ws. Every u64 except heights, index and power is a decimal string; keys are tally1… addresses; hashes, signatures and memos are lowercase hex; times are RFC 3339 UTC with milliseconds.",
        },
        "methods": methods,
        "components": { "schemas": components() },
    })
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

fn components() -> Map<String, Value> {
    let address = json!({"$ref": "#/components/schemas/Address"});
    let hash = json!({"$ref": "#/components/schemas/Hash"});
    let u64_text = json!({"$ref": "#/components/schemas/U64"});
    let height = json!({"type": "integer", "minimum": 0});
    let time = json!({"type": "string", "format": "date-time", "description": "RFC 3339 UTC with milliseconds"});
    let signature = json!({"type": "string", "pattern": "^[0-9a-f]{128}$"});
    let mut schemas = Map::new();
    let mut put = |name: &str, value: Value| {
        schemas.insert(name.to_string(), value);
    };
    put("Address", json!({"type": "string", "pattern": "^tally1[02-9ac-hj-np-z]{58}$"}));
    put("Hash", json!({"type": "string", "pattern": "^[0-9a-f]{64}$"}));
    put("U64", json!({"type": "string", "pattern": "^(0|[1-9][0-9]*)$", "description": "u64 as a decimal string"}));
    put(
        "Status",
        object(
            &[
                "chain_id",
                "genesis_hash",
                "node_id",
                "moniker",
                "latest_height",
                "latest_block_hash",
                "latest_block_time",
                "syncing",
                "validator_address",
                "peers",
            ],
            json!({
                "chain_id": {"type": "string"},
                "genesis_hash": hash,
                "node_id": {"type": "string"},
                "moniker": {"type": "string"},
                "latest_height": height,
                "latest_block_hash": hash,
                "latest_block_time": time,
                "syncing": {"type": "boolean"},
                "validator_address": {"oneOf": [address, {"type": "null"}]},
                "peers": {"type": "integer", "minimum": 0},
            }),
        ),
    );
    put(
        "Account",
        object(
            &["address", "balance", "nonce", "pending_nonce", "height"],
            json!({"address": address, "balance": u64_text, "nonce": u64_text, "pending_nonce": u64_text, "height": height}),
        ),
    );
    let status = json!({"type": "string", "enum": ["pending", "committed", "expired", "replaced", "unknown"]});
    put("SendResult", object(&["hash", "status"], json!({"hash": hash, "status": status, "height": height})));
    put(
        "Transaction",
        object(
            &["hash", "status"],
            json!({
                "hash": hash, "status": status, "height": height,
                "index": {"type": "integer", "minimum": 0}, "replaced_by": hash,
                "from": address, "to": address, "amount": u64_text, "fee": u64_text, "nonce": u64_text,
                "valid_until": u64_text, "memo": {"type": "string", "pattern": "^([0-9a-f]{2})*$"},
            }),
        ),
    );
    put(
        "Commit",
        object(
            &["height", "round", "block_hash", "signatures"],
            json!({
                "height": height, "round": {"type": "integer", "minimum": 0}, "block_hash": hash,
                "signatures": {"type": "array", "items": object(&["validator", "signature"],
                    json!({"validator": address, "signature": signature}))},
            }),
        ),
    );
    put(
        "Block",
        object(
            &[
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
                "commit",
            ],
            json!({
                "hash": hash, "height": height, "time": time, "previous_hash": hash, "proposer": address,
                "transfers_root": hash, "last_commit_hash": hash, "state_root": hash,
                "transfers": {"type": "array", "items": hash},
                "last_commit": {"oneOf": [{"$ref": "#/components/schemas/Commit"}, {"type": "null"}],
                    "description": "The parent's certificate (hashes to last_commit_hash); null for block 1."},
                "commit": {"$ref": "#/components/schemas/Commit", "description": "The certificate that made this block final."},
            }),
        ),
    );
    put(
        "TransactionPage",
        object(
            &["transactions", "next"],
            json!({
                "transactions": {"type": "array", "items": {"$ref": "#/components/schemas/Transaction"}},
                "next": {"oneOf": [{"type": "string"}, {"type": "null"}]},
            }),
        ),
    );
    put(
        "Validator",
        object(
            &["name", "address", "power"],
            json!({"name": {"type": "string"}, "address": address, "power": {"type": "integer", "minimum": 1}}),
        ),
    );
    let kind = json!({"type": "string", "enum": ["proposal", "prevote", "precommit"]});
    put(
        "SignedMessage",
        object(
            &["type", "height", "round", "block_hash", "pol_round", "validator", "signature"],
            json!({
                "type": kind, "height": height, "round": {"type": "integer", "minimum": 0},
                "block_hash": {"oneOf": [hash, {"type": "null"}]},
                "pol_round": {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]},
                "validator": address, "signature": signature,
            }),
        ),
    );
    put(
        "Evidence",
        object(
            &["height", "round", "type", "validator", "first", "second"],
            json!({
                "height": height, "round": {"type": "integer", "minimum": 0}, "type": kind, "validator": address,
                "first": {"$ref": "#/components/schemas/SignedMessage"},
                "second": {"$ref": "#/components/schemas/SignedMessage"},
            }),
        ),
    );
    schemas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            assert!(schemas.contains_key(&name), "dangling $ref {name}");
        }
    }
}
