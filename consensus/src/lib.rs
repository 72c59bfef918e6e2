//! Tally's BFT agreement as a pure state machine.
//!
//! This crate makes a block final: it runs Tendermint, Algorithm 1 of Buchman, Kwon and
//! Milosevic, "The latest gossip on BFT consensus" (2018), with locks, valid values, the
//! proof-of-lock rules and timeouts that grow with the round. It does no I/O, reads no clock
//! and draws no randomness: the node feeds [`Input`]s into [`Consensus::handle`] and carries
//! out the returned [`Output`]s in order (persist, then broadcast; schedule timers; build,
//! validate and commit blocks).
//!
//! The crate also owns the wire types of consensus: signed votes and proposals over the exact
//! signing bytes of SPEC §4 ([`signing`]), their canonical encodings ([`SignedMessage`]), the
//! [`CommitCertificate`] that proves a block final and that anyone can verify on its own, the
//! [`ValidatorSet`] with its weighted proposer rotation, and [`Evidence`] of equivocation.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod certificate;
mod codec;
mod config;
mod core;
mod error;
mod evidence;
mod io;
mod message;
mod persist;
mod proposer;
pub mod signing;
mod validator;
mod votes;

pub use crate::certificate::{CommitCertificate, CommitSignature};
pub use crate::config::{ConsensusConfig, TimeoutConfig};
pub use crate::core::Consensus;
pub use crate::error::{CertificateError, ConfigError, DecodeError, Rejection};
pub use crate::evidence::Evidence;
pub use crate::io::{Input, Output, TimeoutStep};
pub use crate::message::{SignedMessage, SignedProposal, SignedVote, VoteKind};
pub use crate::persist::{LastSigned, PersistedState, Step};
pub use crate::proposer::ProposerRotation;
pub use crate::validator::{Validator, ValidatorSet};

/// A block hash: SHA-256 of the block header (SPEC §4). The core treats blocks as opaque
/// hashes; the node holds the bytes.
pub type BlockHash = [u8; 32];

/// An ed25519 public key, 32 bytes: how a validator is named everywhere in this crate.
pub type PublicKey = [u8; 32];

/// An ed25519 signature, 64 bytes.
pub type Signature = [u8; 64];

/// The highest round a message may carry. Rounds are `u32`, but the proposal's `pol_round`
/// is signed as an `i32`, so every round is kept within `i32::MAX` to make that exact.
pub const MAX_ROUND: u32 = i32::MAX as u32;
