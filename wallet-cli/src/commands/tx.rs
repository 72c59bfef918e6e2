//! `tally tx HASH`.

use super::Context;
use crate::error::WalletError;
use crate::output::transaction_text;
use tally_ledger::Hash;
use tally_rpc::TxStatus;

/// Parses a transfer hash: 64 hex characters (either case).
pub fn parse_hash(text: &str) -> Result<Hash, WalletError> {
    Hash::from_hex(&text.trim().to_ascii_lowercase()).ok_or_else(|| WalletError::BadInput {
        what: "transfer hash",
        reason: format!("{text:?} is not 64 hex characters"),
    })
}

/// Prints a transfer and its status.
pub async fn run(ctx: &Context, hash: &str) -> Result<(), WalletError> {
    let hash = parse_hash(hash)?;
    let node = ctx.node();
    let info = node.client.get_transaction(&hash).await.map_err(|e| node.error(e))?;
    if info.status == TxStatus::Unknown {
        return Err(WalletError::NotFound { hash: hash.to_hex(), url: node.url().to_string() });
    }
    ctx.out.emit(&info, || transaction_text(&info));
    Ok(())
}
