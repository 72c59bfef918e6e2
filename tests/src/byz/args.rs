//! Command-line arguments of `tally-byz`.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use tally_p2p::{Multiaddr, Protocol};

/// The longest run allowed: the peer always stops by itself.
pub const MAX_DURATION_SECS: u64 = 600;

/// A misbehaving Tally peer, for system tests only.
#[derive(Parser, Debug)]
#[command(name = "tally-byz", about = "A byzantine libp2p peer for Tally system tests (never for real networks)")]
pub struct Args {
    /// The network's genesis.json (chain id and genesis hash come from it).
    #[arg(long)]
    pub genesis: PathBuf,
    /// A validator's p2p address, loopback only (repeatable).
    #[arg(long = "peer", required = true)]
    pub peers: Vec<Multiaddr>,
    /// The address to listen on.
    #[arg(long, default_value = "/ip4/127.0.0.1/tcp/0")]
    pub listen: Multiaddr,
    /// Seconds to run before stopping by itself (1 to 600).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// What to do.
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// The validator's consensus_key.json (equivocate mode).
    #[arg(long)]
    pub key: Option<PathBuf>,
}

/// The misbehaviours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Sign two different prevotes, precommits and (as proposer) proposals per height and round.
    Equivocate,
    /// Publish junk, oversize messages, forged votes, far-future votes, forged transfers.
    Abuse,
    /// The control: follow gossip and answer sync status requests, publish nothing.
    Observe,
}

impl Args {
    /// Checks what clap cannot: the bounds, loopback-only peers, a key for equivocation.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_DURATION_SECS).contains(&self.duration) {
            return Err(format!("--duration must be 1 to {MAX_DURATION_SECS} seconds"));
        }
        for addr in self.peers.iter().chain(std::iter::once(&self.listen)) {
            if !is_loopback(addr) {
                return Err(format!("{addr} is not a loopback address: tally-byz only talks to local test networks"));
            }
        }
        if self.mode == Mode::Equivocate && self.key.is_none() {
            return Err("--mode equivocate needs --key <consensus_key.json>".into());
        }
        Ok(())
    }
}

fn is_loopback(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback(),
        Some(Protocol::Dns(name)) | Some(Protocol::Dns4(name)) | Some(Protocol::Dns6(name)) => name == "localhost",
        _ => false,
    }
}
