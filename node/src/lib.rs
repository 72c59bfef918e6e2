//! The Tally node: libp2p networking, mempool, consensus driver, block sync and the operator CLI.
//!
//! Not built yet (the node issue); the ledger and consensus crates it wires are.
#![deny(missing_docs)]
