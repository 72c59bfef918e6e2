//! Conformance tests of the RPC server and client against an in-memory node (SPEC §6–§7).

mod abuse;
mod client;
mod docs;
mod fake;
mod framing;
mod harness;
mod limits;
mod methods;
mod openrpc;
mod subscriptions;
