//! The Tally node: wires the ledger, the consensus core, the network and the RPC server into a
//! validator or full node.
//!
//! Actors, each owning its state and talking through bounded channels:
//! - the network (`tally-p2p`): libp2p, gossip, sync requests;
//! - the router ([`run`]): sends each network event to the actor that owns it;
//! - the mempool ([`mempool_actor`]): admission, signature checks once, gossip of transfers,
//!   and the committed accounts that admission and `getAccount` read;
//! - the consensus driver ([`driver`]): the pure core, timers, block building, validation,
//!   commits, catch-up; it hands the accounts to the snapshot writer ([`snapshots`]) now and
//!   then;
//! - the RPC server (`tally-rpc`) over [`api::NodeRpc`], which reads the store and asks the
//!   actors.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
// Verified transfers travel by value through channels and results; see tally-ledger.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod backlog;
pub mod config;
pub mod driver;
pub mod home;
pub mod init;
pub mod jsonl;
pub mod mempool;
pub mod mempool_actor;
pub mod metrics;
pub mod recent;
pub mod run;
pub mod signing;
pub mod snapshots;
pub mod views;
pub mod wire;

/// The ledger store as the node uses it: RocksDB.
pub type LedgerStore = tally_ledger::store::Store<tally_ledger::store::RocksBackend>;
