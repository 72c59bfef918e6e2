//! Tally's JSON-RPC 2.0 server (axum) and typed client.
//!
//! Not built yet: the node issue serves the first methods and the RPC issue completes SPEC §7.
#![deny(missing_docs)]
