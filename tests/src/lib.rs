//! Tally's system tests: real `tally-node` processes on loopback, driven over RPC and the CLIs.
//!
//! The harness arrives with the node; until then the ledger's and consensus's own suites run.
#![deny(missing_docs)]
