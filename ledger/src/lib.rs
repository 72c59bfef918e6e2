//! Tally's ledger: the pure rules of money, and the store that keeps them.
//!
//! This crate owns the byte formats that everything else signs and hashes (addresses, transfers,
//! block headers, the state tree), the state transition that applies a block to account state,
//! the genesis file, and the RocksDB store that commits a block atomically. Everything except
//! [`store`] is pure logic with no I/O; the store sits behind the [`store::Store`] trait with a
//! RocksDB implementation and an in-memory twin for tests.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
// Transfers travel by value (a verified transfer is handed back whole when refused), so their
// results are as large as a transfer; boxing them would add an allocation on the hot path.
#![allow(clippy::result_large_err)]

pub mod address;
pub mod block;
pub mod crypto;
pub mod genesis;
pub mod hash;
pub mod merkle;
pub mod state;
pub mod store;
pub mod transfer;
pub mod tree;
mod wire;

pub use address::{Address, AddressError, PublicKey};
pub use block::{Block, BlockError, Header};
pub use crypto::{SignatureVerifier, VerifyError};
pub use genesis::{Genesis, GenesisError};
pub use hash::Hash;
pub use state::{Account, BlockContext, ChainParams, Changes, Execution, Ledger, RejectReason};
pub use transfer::{ChainId, Transfer, TransferBody, VerifiedTransfer};
pub use tree::{AccountProof, ProofStep, StateTree, TreeUpdate};
pub use wire::DecodeError;
