//! The node the wallet talks to, and what its errors mean for the user.

use crate::error::WalletError;
use std::time::Duration;
use tally_rpc::{ClientError, RpcClient};

/// How long one ordinary call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// JSON-RPC code of "node not ready" (still syncing).
const NOT_READY: i64 = -32002;

/// A node's RPC endpoint.
pub struct Node {
    /// The typed client.
    pub client: RpcClient,
}

impl Node {
    /// The node at `url`.
    pub fn new(url: &str) -> Node {
        Node { client: RpcClient::new(url).with_timeout(CALL_TIMEOUT) }
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        self.client.url()
    }

    /// Turns a failed call into the user's error (not for rejected transfers: see `submit`).
    pub fn error(&self, error: ClientError) -> WalletError {
        let url = self.url().to_string();
        match error {
            ClientError::Transport { message, .. } => WalletError::Unreachable { url, detail: message },
            ClientError::Rpc(rpc) if rpc.code == NOT_READY => WalletError::Node {
                url,
                detail: format!("{rpc}: the node is still syncing; try again shortly or use another node with --rpc"),
            },
            other => WalletError::Node { url, detail: other.to_string() },
        }
    }
}
