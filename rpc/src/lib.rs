//! Tally's JSON-RPC 2.0 server (axum) and typed client (SPEC §6–§7).
//!
//! The server answers JSON-RPC over `POST /` and WebSocket `/ws`, and serves `GET /health` and
//! `GET /metrics`, over any node that implements [`NodeApi`]; it owns the JSON encoding, the
//! protocol's edge cases and the limits. The client ([`RpcClient`], [`WsClient`]) reads the same
//! JSON shapes back into typed structs ([`wire`]) for the wallet and the tests.
//!
//! Wiring, from the node's side: build an [`RpcConfig`] (the `[rpc]` table of `config.toml`),
//! create a `prometheus_client` registry, register the node's metrics and an [`RpcMetrics`],
//! then `RpcServer::new(api, config)?.with_metrics(metrics, Arc::new(registry)).serve(listener,
//! shutdown)`.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod client;
pub mod config;
mod dispatch;
pub mod jsonrpc;
mod limits;
pub mod methods;
pub mod metrics;
pub mod openrpc;
mod params;
mod send;
mod server;
pub mod wire;
mod ws;

pub use api::{
    AccountState, ApiError, BlockRef, BlockView, CommitSignature, CommitView, EvidenceView, Health, HistoryView,
    NodeApi, NodeStatus, SignedMessageView, SubmitOutcome, TransactionView, TxStatus, ValidatorView, VoteKind,
};
pub use client::{ClientError, RpcClient, RpcError, Wait, WsClient};
pub use config::{ConfigError, RpcConfig};
pub use metrics::RpcMetrics;
pub use server::RpcServer;
