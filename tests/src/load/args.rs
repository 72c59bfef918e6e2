//! Command-line arguments of `tally-load`.

use clap::Parser;
use std::path::PathBuf;

/// Offers a steady rate of transfers to a Tally network and measures what it commits.
///
/// Either starts its own network (`--spawn N`, real `tally-node` processes on 127.0.0.1 next
/// to this executable, torn down at exit) or targets running nodes (`--rpc URL,...`). Funds
/// `--accounts` senders from the development accounts, pre-signs every transfer, submits them
/// at `--rate` per second for `--duration` seconds over all nodes, and reports committed
/// throughput, submit→final latency, rejections, lost transfers and each node's CPU and memory.
#[derive(Clone, Debug, Parser)]
#[command(name = "tally-load", version)]
pub struct Args {
    /// Start a network of this many validators (development chain, test harness settings).
    #[arg(long, conflicts_with = "rpc", required_unless_present = "rpc")]
    pub spawn: Option<u32>,

    /// Target running nodes instead: comma-separated RPC URLs (loopback only).
    #[arg(long, value_delimiter = ',')]
    pub rpc: Vec<String>,

    /// Process ids of the `--rpc` nodes, in the same order, for CPU and memory figures.
    #[arg(long, value_delimiter = ',', requires = "rpc")]
    pub pids: Vec<u32>,

    /// Extra `section.field=value` node settings for `--spawn` (repeatable).
    #[arg(long = "set", value_name = "SETTING")]
    pub settings: Vec<String>,

    /// Sender accounts to fund and spread the load over.
    #[arg(long, default_value_t = 1000)]
    pub accounts: u32,

    /// Seed of the senders' keys: sender i's ed25519 seed is SHA-256(seed || i as u32 LE).
    #[arg(long, default_value = "tally-load")]
    pub seed: String,

    /// Offered rate, transfers per second (ignored with `--sweep`).
    #[arg(long, default_value_t = 500)]
    pub rate: u32,

    /// Rates to run one after the other against the same network, e.g. 500,1000,2000.
    #[arg(long, value_delimiter = ',')]
    pub sweep: Vec<u32>,

    /// Length of each timed phase, seconds.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,

    /// After a timed phase, the longest wait for submitted transfers to commit, seconds.
    #[arg(long, default_value_t = 30)]
    pub drain: u64,

    /// HTTP connections per node.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,

    /// Transfers per JSON-RPC batch (the server's default `max_batch_len` is 100); 1 sends
    /// single requests.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,

    /// How many nonces ahead of its committed nonce a sender may be (the nodes'
    /// `mempool.future_nonces`, 16 by default); funding sends at most this many per account
    /// at once.
    #[arg(long, default_value_t = 16)]
    pub nonce_window: u64,

    /// Each transfer may be included up to this many blocks above the height at which its step
    /// starts (its `valid_until`); 0 signs them without a limit. Transfers the chain does not
    /// include in time expire and are counted as such, not as lost.
    #[arg(long, default_value_t = 0)]
    pub valid_blocks: u64,

    /// The longest the funding phase may take, seconds.
    #[arg(long, default_value_t = 300)]
    pub funding_timeout: u64,

    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Draw latency and committed rate against the offered rate into this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

impl Args {
    /// The rates to run: `--sweep`, or `--rate` alone.
    pub fn rates(&self) -> Vec<u32> {
        if self.sweep.is_empty() {
            vec![self.rate]
        } else {
            self.sweep.clone()
        }
    }

    /// Checks what clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.accounts == 0 {
            return Err("--accounts must be at least 1".into());
        }
        if self.rates().contains(&0) {
            return Err("rates must be at least 1 transfer/s".into());
        }
        if self.duration == 0 {
            return Err("--duration must be at least 1 s".into());
        }
        if self.connections == 0 || self.batch == 0 || self.nonce_window == 0 {
            return Err("--connections, --batch and --nonce-window must be at least 1".into());
        }
        if self.spawn == Some(0) {
            return Err("--spawn needs at least 1 validator".into());
        }
        for url in &self.rpc {
            let host = url.trim_start_matches("http://");
            if !(host.starts_with("127.") || host.starts_with("localhost:") || host.starts_with("[::1]")) {
                return Err(format!("{url}: only loopback nodes (http://127.x.x.x:PORT) may be targeted"));
            }
        }
        if !self.pids.is_empty() && self.pids.len() != self.rpc.len() {
            return Err("--pids must list one pid per --rpc URL".into());
        }
        Ok(())
    }
}
