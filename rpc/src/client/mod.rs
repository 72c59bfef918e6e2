//! A typed async client for a node's JSON-RPC (HTTP) and subscriptions (WebSocket).
//!
//! Results are the [`crate::wire`] structs, so decimal-string amounts arrive as `u64`,
//! addresses as [`Address`] and hashes as [`Hash`]. A JSON-RPC error comes back as
//! [`ClientError::Rpc`], whose [`RpcError::reason`] is `data.reason` (e.g.
//! `insufficient_funds`).

mod ws;

pub use ws::{Notification, WsClient};

use crate::api::BlockRef;
use crate::jsonrpc::code;
use crate::wire::{
    AccountInfo, BlockInfo, EvidenceInfo, SendResult, StatusInfo, TransactionInfo, TransactionPage, ValidatorInfo,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tally_ledger::{Address, Hash};

/// A JSON-RPC error object as received.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RpcError {
    /// The error code (-32000 transfer rejected, -32001 not found, ...).
    pub code: i64,
    /// The message.
    pub message: String,
    /// The details, if any.
    #[serde(default)]
    pub data: Option<Value>,
}

impl RpcError {
    /// `data.reason`: the rejection reason of a -32000 error (`insufficient_funds`, ...).
    pub fn reason(&self) -> Option<&str> {
        self.data.as_ref()?.get("reason")?.as_str()
    }

    /// `data.detail`: the server's explanation of a protocol or parameter error.
    pub fn detail(&self) -> Option<&str> {
        self.data.as_ref()?.get("detail")?.as_str()
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(reason) = self.reason() {
            write!(f, ": {reason}")?;
        }
        if let Some(detail) = self.detail() {
            write!(f, ": {detail}")?;
        }
        write!(f, " (code {})", self.code)
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node could not be reached, or the connection failed mid-call.
    #[error("cannot reach the node at {url}: {message}")]
    Transport {
        /// The node's URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The node answered with an HTTP error (413, 429, 503, ...).
    #[error("HTTP {status} from the node{}", retry_after.map(|s| format!(" (retry after {s} s)")).unwrap_or_default())]
    Http {
        /// The status code.
        status: u16,
        /// The `Retry-After` header, in seconds, if any.
        retry_after: Option<u64>,
        /// The response body.
        body: String,
    },
    /// The node answered with a JSON-RPC error.
    #[error("{0}")]
    Rpc(RpcError),
    /// The answer does not have the expected shape.
    #[error("unexpected answer from the node: {0}")]
    Decode(String),
}

impl ClientError {
    /// The JSON-RPC error code, for [`ClientError::Rpc`].
    pub fn code(&self) -> Option<i64> {
        match self {
            ClientError::Rpc(error) => Some(error.code),
            _ => None,
        }
    }

    /// `data.reason`, for a rejected transfer.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ClientError::Rpc(error) => error.reason(),
            _ => None,
        }
    }
}

/// Whether `sendTransaction` waits for finality.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Return once the node admitted the transfer.
    None,
    /// Return when the transfer is final, or at this timeout with status `pending`.
    Committed(Duration),
}

#[derive(Deserialize)]
struct RawResponse {
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<RpcError>,
}

/// A client of one node's HTTP JSON-RPC endpoint.
#[derive(Debug)]
pub struct RpcClient {
    http: reqwest::Client,
    url: String,
    timeout: Duration,
    next_id: AtomicU64,
}

/// The default time allowed for one call.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl RpcClient {
    /// A client of the node at `url` (e.g. `http://127.0.0.1:8545`).
    pub fn new(url: impl Into<String>) -> RpcClient {
        RpcClient {
            http: reqwest::Client::new(),
            url: url.into(),
            timeout: DEFAULT_CALL_TIMEOUT,
            next_id: AtomicU64::new(1),
        }
    }

    /// Sets the time allowed for one call (a wait for finality gets its own timeout on top).
    pub fn with_timeout(mut self, timeout: Duration) -> RpcClient {
        self.timeout = timeout;
        self
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The node's WebSocket URL: the same host with `ws://` (or `wss://`) and path `/ws`.
    pub fn ws_url(&self) -> String {
        let base = self.url.trim_end_matches('/');
        let base = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            base.to_string()
        };
        format!("{base}/ws")
    }

    fn transport(&self, error: impl fmt::Display) -> ClientError {
        ClientError::Transport { url: self.url.clone(), message: error.to_string() }
    }

    async fn call_with_timeout(&self, method: &str, params: Value, timeout: Duration) -> Result<Value, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let response =
            self.http.post(&self.url).timeout(timeout).json(&request).send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = response.text().await.map_err(|e| self.transport(e))?;
        if !status.is_success() {
            // Some HTTP errors (413) carry a JSON-RPC error; prefer it when present.
            if let Ok(RawResponse { error: Some(error), .. }) = serde_json::from_str(&body) {
                if status != reqwest::StatusCode::TOO_MANY_REQUESTS {
                    return Err(ClientError::Rpc(error));
                }
            }
            return Err(ClientError::Http { status: status.as_u16(), retry_after, body });
        }
        let parsed: RawResponse = serde_json::from_str(&body).map_err(|e| ClientError::Decode(e.to_string()))?;
        match (parsed.result, parsed.error) {
            (_, Some(error)) => Err(ClientError::Rpc(error)),
            (Some(result), None) => Ok(result),
            (None, None) => Err(ClientError::Decode("a response with neither result nor error".into())),
        }
    }

    /// Calls `method` with `params` (an array or an object) and returns the raw result.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.call_with_timeout(method, params, self.timeout).await
    }

    async fn typed<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, ClientError> {
        decode(self.call(method, params).await?)
    }

    /// `status`.
    pub async fn status(&self) -> Result<StatusInfo, ClientError> {
        self.typed("status", json!([])).await
    }

    /// `getAccount`.
    pub async fn get_account(&self, address: &Address) -> Result<AccountInfo, ClientError> {
        self.typed("getAccount", json!([address.to_string()])).await
    }

    /// `sendTransaction` with the transfer's encoded bytes.
    pub async fn send_transaction(&self, tx: &[u8], wait: Wait) -> Result<SendResult, ClientError> {
        let tx = hex::encode(tx);
        let (params, timeout) = match wait {
            Wait::None => (json!({ "tx": tx }), self.timeout),
            Wait::Committed(limit) => {
                let ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
                (json!({ "tx": tx, "wait": "committed", "timeout_ms": ms.to_string() }), self.timeout + limit)
            }
        };
        decode(self.call_with_timeout("sendTransaction", params, timeout).await?)
    }

    /// `getTransaction`.
    pub async fn get_transaction(&self, hash: &Hash) -> Result<TransactionInfo, ClientError> {
        self.typed("getTransaction", json!([hash.to_hex()])).await
    }

    /// `getBlock`; `None` when there is no such block (-32001).
    pub async fn get_block(&self, at: BlockRef) -> Result<Option<BlockInfo>, ClientError> {
        let param = match at {
            BlockRef::Height(height) => json!(height),
            BlockRef::Latest => json!("latest"),
        };
        match self.typed("getBlock", json!([param])).await {
            Ok(block) => Ok(Some(block)),
            Err(ClientError::Rpc(error)) if error.code == code::NOT_FOUND => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// `getTransactionsByAddress`.
    pub async fn get_transactions_by_address(
        &self,
        address: &Address,
        limit: Option<u32>,
        before: Option<&str>,
    ) -> Result<TransactionPage, ClientError> {
        let mut params = json!({ "address": address.to_string() });
        if let Some(limit) = limit {
            params["limit"] = json!(limit);
        }
        if let Some(before) = before {
            params["before"] = json!(before);
        }
        self.typed("getTransactionsByAddress", params).await
    }

    /// `getValidators`.
    pub async fn get_validators(&self) -> Result<Vec<ValidatorInfo>, ClientError> {
        self.typed("getValidators", json!([])).await
    }

    /// `getEvidence`.
    pub async fn get_evidence(&self, from_height: Option<u64>) -> Result<Vec<EvidenceInfo>, ClientError> {
        let params = match from_height {
            Some(height) => json!([height]),
            None => json!([]),
        };
        self.typed("getEvidence", params).await
    }

    /// `GET /health`: `Ok(None)` when healthy, `Ok(Some(reason))` when the node says it is not.
    pub async fn health(&self) -> Result<Option<String>, ClientError> {
        let url = format!("{}/health", self.url.trim_end_matches('/'));
        let response = self.http.get(url).timeout(self.timeout).send().await.map_err(|e| self.transport(e))?;
        let healthy = response.status().is_success();
        let body: Value = response.json().await.map_err(|e| ClientError::Decode(e.to_string()))?;
        if healthy {
            Ok(None)
        } else {
            Ok(Some(body.get("reason").and_then(Value::as_str).unwrap_or("unhealthy").to_string()))
        }
    }
}

fn decode<T: DeserializeOwned>(value: Value) -> Result<T, ClientError> {
    serde_json::from_value(value).map_err(|e| ClientError::Decode(e.to_string()))
}
