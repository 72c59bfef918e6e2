//! A small WebSocket client: calls and subscriptions on one connection, used by the tests and
//! by the wallet to follow a payment.

use super::{decode, ClientError, RpcError};
use crate::wire::{BlockInfo, TransactionInfo};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::VecDeque;
use tally_ledger::Address;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A subscription notification: the subscription id and its result.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// The id `subscribe` returned.
    pub subscription: String,
    /// A `getBlock`-shaped block or a `getTransaction`-shaped transfer.
    pub result: Value,
}

/// One WebSocket connection to a node.
pub struct WsClient {
    url: String,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    pending: VecDeque<Notification>,
}

impl WsClient {
    /// Connects to `url` (e.g. `ws://127.0.0.1:8545/ws`; see [`super::RpcClient::ws_url`]).
    pub async fn connect(url: &str) -> Result<WsClient, ClientError> {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| ClientError::Transport { url: url.to_string(), message: e.to_string() })?;
        Ok(WsClient { url: url.to_string(), socket, next_id: 1, pending: VecDeque::new() })
    }

    fn transport(&self, message: impl ToString) -> ClientError {
        ClientError::Transport { url: self.url.clone(), message: message.to_string() }
    }

    /// The next text message, or `None` once the server closed the connection.
    async fn next_text(&mut self) -> Result<Option<String>, ClientError> {
        loop {
            match self.socket.next().await {
                None | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Err(e)) => return Err(self.transport(e)),
                Some(Ok(Message::Text(text))) => return Ok(Some(text.to_string())),
                Some(Ok(Message::Binary(bytes))) => return Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Calls `method`; notifications that arrive meanwhile are kept for
    /// [`WsClient::next_notification`].
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        self.socket.send(Message::Text(request.to_string().into())).await.map_err(|e| self.transport(e))?;
        loop {
            let Some(text) = self.next_text().await? else {
                return Err(self.transport("connection closed before the answer"));
            };
            let message: Value = serde_json::from_str(&text).map_err(|e| ClientError::Decode(e.to_string()))?;
            if let Some(notification) = parse_notification(&message) {
                self.pending.push_back(notification);
                continue;
            }
            if message.get("id") != Some(&json!(id)) {
                // An answer to someone else (a rate-limit error has id null): surface errors.
                if let Some(error) = message.get("error") {
                    return Err(ClientError::Rpc(decode::<RpcError>(error.clone())?));
                }
                continue;
            }
            if let Some(error) = message.get("error") {
                return Err(ClientError::Rpc(decode::<RpcError>(error.clone())?));
            }
            return message.get("result").cloned().ok_or_else(|| ClientError::Decode("no result".into()));
        }
    }

    /// Subscribes to committed blocks; returns the subscription id.
    pub async fn subscribe_blocks(&mut self) -> Result<String, ClientError> {
        decode(self.call("subscribe", json!({ "topic": "newBlocks" })).await?)
    }

    /// Subscribes to committed transfers sent or received by `address`.
    pub async fn subscribe_address(&mut self, address: &Address) -> Result<String, ClientError> {
        decode(self.call("subscribe", json!({ "topic": "address", "address": address.to_string() })).await?)
    }

    /// Ends a subscription.
    pub async fn unsubscribe(&mut self, subscription: &str) -> Result<bool, ClientError> {
        decode(self.call("unsubscribe", json!([subscription])).await?)
    }

    /// The next notification, or `None` once the server closed the connection.
    pub async fn next_notification(&mut self) -> Result<Option<Notification>, ClientError> {
        if let Some(notification) = self.pending.pop_front() {
            return Ok(Some(notification));
        }
        loop {
            let Some(text) = self.next_text().await? else { return Ok(None) };
            let message: Value = serde_json::from_str(&text).map_err(|e| ClientError::Decode(e.to_string()))?;
            if let Some(notification) = parse_notification(&message) {
                return Ok(Some(notification));
            }
        }
    }

    /// The next notification as a block (for `newBlocks` subscriptions).
    pub async fn next_block(&mut self) -> Result<Option<BlockInfo>, ClientError> {
        match self.next_notification().await? {
            Some(n) => decode(n.result).map(Some),
            None => Ok(None),
        }
    }

    /// The next notification as a transfer (for address subscriptions).
    pub async fn next_transaction(&mut self) -> Result<Option<TransactionInfo>, ClientError> {
        match self.next_notification().await? {
            Some(n) => decode(n.result).map(Some),
            None => Ok(None),
        }
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

fn parse_notification(message: &Value) -> Option<Notification> {
    if message.get("method")?.as_str()? != "subscription" || message.get("id").is_some() {
        return None;
    }
    let params = message.get("params")?;
    Some(Notification {
        subscription: params.get("subscription")?.as_str()?.to_string(),
        result: params.get("result")?.clone(),
    })
}
