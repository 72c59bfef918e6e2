//! `tally status`.

use super::Context;
use crate::error::WalletError;

/// Prints the node's status: node, chain, height, peers.
pub async fn run(ctx: &Context) -> Result<(), WalletError> {
    let node = ctx.node();
    let status = node.client.status().await.map_err(|e| node.error(e))?;
    ctx.out.emit(&status, || {
        let validator = match status.validator_address {
            Some(address) => address.to_string(),
            None => "none (full node)".into(),
        };
        [
            format!("node       {} ({}) at {}", status.moniker, status.node_id, node.url()),
            format!("chain      {} (genesis {})", status.chain_id, status.genesis_hash),
            format!(
                "height     {} (block {}, {})",
                status.latest_height, status.latest_block_hash, status.latest_block_time
            ),
            format!("syncing    {}", if status.syncing { "yes" } else { "no" }),
            format!("peers      {}", status.peers),
            format!("validator  {validator}"),
        ]
        .join("\n")
    });
    Ok(())
}
