//! A minimal JSON-RPC client for batches: one HTTP connection per [`BatchClient`], requests
//! pre-encoded as text, answers matched by numeric id.

use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use tally_ledger::{Address, Hash};

/// Timeout of one JSON-RPC request (a whole batch) the load generator makes.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why one call of a batch failed: a short label used to count rejections.
pub type Failure = String;

/// A client holding (at most) one kept-alive connection to one node.
pub struct BatchClient {
    http: reqwest::Client,
    url: String,
}

/// One call: its id and its request text.
pub struct Call {
    /// The JSON-RPC id (unique within a batch).
    pub id: u64,
    /// The whole request object as JSON text.
    pub body: String,
}

impl Call {
    /// A `sendTransaction` call for the hex-encoded transfer.
    pub fn send_transaction(id: u64, tx_hex: &str) -> Call {
        Call {
            id,
            body: format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"sendTransaction","params":{{"tx":"{tx_hex}"}}}}"#),
        }
    }

    /// A `status` call.
    pub fn status(id: u64) -> Call {
        Call { id, body: format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"status","params":[]}}"#) }
    }

    /// A `getTransaction` call.
    pub fn get_transaction(id: u64, hash: &Hash) -> Call {
        Call {
            id,
            body: format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"getTransaction","params":["{}"]}}"#, hash.to_hex()),
        }
    }

    /// A `getAccount` call.
    pub fn get_account(id: u64, address: &Address) -> Call {
        Call { id, body: format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"getAccount","params":["{address}"]}}"#) }
    }
}

/// The node's latest committed height (`status`).
pub async fn latest_height(client: &BatchClient) -> Result<u64, String> {
    let answer = client.batch(&[Call::status(0)]).await.remove(&0).ok_or("status: no answer")?;
    let status = answer.map_err(|e| format!("status: {e}"))?;
    status
        .get("latest_height")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("status without a latest_height: {status}"))
}

/// Those of `hashes` the node reports `expired` (`getTransaction`, in batches).
pub async fn expired(client: &BatchClient, hashes: &[Hash], batch: usize) -> Result<Vec<Hash>, String> {
    let mut expired = Vec::new();
    for chunk in hashes.chunks(batch.max(1)) {
        let calls: Vec<Call> = chunk.iter().enumerate().map(|(i, h)| Call::get_transaction(i as u64, h)).collect();
        for (id, answer) in client.batch(&calls).await {
            let info = answer.map_err(|e| format!("getTransaction {id}: {e}"))?;
            if info.get("status").and_then(Value::as_str) == Some("expired") {
                expired.extend(chunk.get(id as usize));
            }
        }
    }
    Ok(expired)
}

/// The label of a JSON-RPC error object: `data.reason` for a rejected transfer, else its code.
fn error_label(error: &Value) -> Failure {
    if let Some(reason) = error.pointer("/data/reason").and_then(Value::as_str) {
        return reason.to_string();
    }
    match error.get("code").and_then(Value::as_i64) {
        Some(-32603) => "internal_or_timeout".into(),
        Some(code) => format!("rpc_{code}"),
        None => "rpc_error".into(),
    }
}

impl BatchClient {
    /// A client of the node at `url` with a per-request timeout.
    pub fn new(url: &str, timeout: Duration) -> Result<BatchClient, String> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .timeout(timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(BatchClient { http, url: url.to_string() })
    }

    /// Sends `calls` as one batch (a single request when there is one call) and returns each
    /// call's result or failure label, by id. A failure of the whole request (transport, HTTP
    /// status, an answer that is not a batch) fails every call with the same label.
    pub async fn batch(&self, calls: &[Call]) -> HashMap<u64, Result<Value, Failure>> {
        let body = if calls.len() == 1 {
            calls[0].body.clone()
        } else {
            let mut body = String::with_capacity(calls.iter().map(|c| c.body.len() + 1).sum::<usize>() + 2);
            body.push('[');
            for (i, call) in calls.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                body.push_str(&call.body);
            }
            body.push(']');
            body
        };
        let all = |label: Failure| calls.iter().map(|c| (c.id, Err(label.clone()))).collect();
        let response = match self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return all("client_timeout".into()),
            Err(_) => return all("transport".into()),
        };
        let status = response.status();
        if !status.is_success() {
            return all(format!("http_{}", status.as_u16()));
        }
        let text = match response.text().await {
            Ok(t) => t,
            Err(_) => return all("transport".into()),
        };
        let answers: Vec<Value> = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(items)) => items,
            Ok(single @ Value::Object(_)) => {
                // One call, or one error for the whole batch (e.g. too long).
                if calls.len() > 1 && single.get("id").is_none_or(Value::is_null) {
                    let label = single.get("error").map(error_label).unwrap_or_else(|| "bad_answer".into());
                    return all(label);
                }
                vec![single]
            }
            _ => return all("bad_answer".into()),
        };
        let mut out: HashMap<u64, Result<Value, Failure>> = HashMap::with_capacity(calls.len());
        for answer in answers {
            let Some(id) = answer.get("id").and_then(Value::as_u64) else { continue };
            let outcome = match (answer.get("result"), answer.get("error")) {
                (_, Some(error)) => Err(error_label(error)),
                (Some(result), None) => Ok(result.clone()),
                (None, None) => Err("bad_answer".into()),
            };
            out.insert(id, outcome);
        }
        for call in calls {
            out.entry(call.id).or_insert_with(|| Err("no_answer".into()));
        }
        out
    }
}

/// A committed account state as `getAccount` reports it.
#[derive(Clone, Copy, Debug, Default)]
pub struct AccountState {
    /// Committed balance.
    pub balance: u64,
    /// Committed nonce.
    pub nonce: u64,
}

/// `getAccount` for every address, in batches of `batch`; fails on the first error.
pub async fn accounts(client: &BatchClient, addresses: &[Address], batch: usize) -> Result<Vec<AccountState>, String> {
    let mut out = Vec::with_capacity(addresses.len());
    for (chunk_index, chunk) in addresses.chunks(batch.max(1)).enumerate() {
        let base = (chunk_index * batch.max(1)) as u64;
        let calls: Vec<Call> = chunk.iter().enumerate().map(|(i, a)| Call::get_account(base + i as u64, a)).collect();
        let mut answers = client.batch(&calls).await;
        for call in &calls {
            let value = answers
                .remove(&call.id)
                .unwrap_or_else(|| Err("no_answer".into()))
                .map_err(|e| format!("getAccount failed: {e}"))?;
            out.push(AccountState { balance: decimal(&value, "balance")?, nonce: decimal(&value, "nonce")? });
        }
    }
    Ok(out)
}

/// A decimal-string u64 field of a result.
pub fn decimal(value: &Value, field: &str) -> Result<u64, String> {
    value
        .get(field)
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("answer without a decimal {field:?}: {value}"))
}

/// The `hash` of a `sendTransaction` result.
pub fn result_hash(value: &Value) -> Option<Hash> {
    value.get("hash").and_then(Value::as_str).and_then(Hash::from_hex)
}
