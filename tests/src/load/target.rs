//! The nodes under load: a network started with the test harness (killed when dropped), or
//! running nodes given by URL.

use super::args::Args;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tally_rpc::wire::StatusInfo;
use tally_rpc::RpcClient;
use tally_tests::Net;

/// The nodes under load.
pub struct Target {
    /// The spawned network, torn down on drop.
    _net: Option<Net>,
    /// The nodes' RPC URLs.
    pub urls: Vec<String>,
    /// The nodes' process ids, where known.
    pub pids: Vec<u32>,
}

/// The longest wait for the nodes to answer and commit a first block.
const READY_LIMIT: Duration = Duration::from_secs(90);

impl Target {
    /// Starts or reaches the nodes and waits until every one answers, has committed a block
    /// and is not syncing.
    pub async fn open(args: &Args) -> Result<Target, String> {
        let target = match args.spawn {
            Some(validators) => {
                let node = node_binary()?;
                println!("starting {validators} validators ({})", node.display());
                let settings: Vec<&str> = args.settings.iter().map(String::as_str).collect();
                let net = Net::start_with(validators, &settings);
                println!("network in {}", net.dir().display());
                let urls = net.nodes.iter().map(|n| n.url()).collect();
                let pids = net.nodes.iter().filter_map(|n| n.pid()).collect();
                Target { _net: Some(net), urls, pids }
            }
            None => Target { _net: None, urls: args.rpc.clone(), pids: args.pids.clone() },
        };
        target.wait_ready().await?;
        Ok(target)
    }

    /// `status` of node `i`.
    pub async fn status(&self, i: usize) -> Result<StatusInfo, String> {
        let client = RpcClient::new(&self.urls[i]).with_timeout(Duration::from_secs(10));
        client.status().await.map_err(|e| format!("status of {}: {e}", self.urls[i]))
    }

    async fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + READY_LIMIT;
        for (i, url) in self.urls.iter().enumerate() {
            loop {
                let last = match self.status(i).await {
                    Ok(s) if s.latest_height >= 1 && !s.syncing => break,
                    Ok(s) => format!("height {}, syncing {}", s.latest_height, s.syncing),
                    Err(e) => e,
                };
                if Instant::now() > deadline {
                    return Err(format!("node {url} not ready within {READY_LIMIT:?}: {last}"));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }
}

/// `tally-node` where the harness looks for it, or a clear error.
fn node_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let candidates: Vec<PathBuf> = [exe.parent(), exe.parent().and_then(|d| d.parent())]
        .into_iter()
        .flatten()
        .map(|d| d.join("tally-node"))
        .collect();
    candidates.iter().find(|p| p.exists()).cloned().ok_or_else(|| {
        format!("tally-node not found next to {} (build it: cargo build -p tally-node, same profile)", exe.display())
    })
}
