//! `tally balance [ADDRESS|NAME]`.

use super::Context;
use crate::amount::group;
use crate::error::WalletError;

/// Prints the balance and nonce of `target` (default: the default key).
pub async fn run(ctx: &Context, target: Option<&str>) -> Result<(), WalletError> {
    let (address, name) = ctx.resolve(target)?;
    let node = ctx.node();
    let account = node.client.get_account(&address).await.map_err(|e| node.error(e))?;
    ctx.out.emit(&account, || {
        let label = name.map(|n| format!("  ({n})")).unwrap_or_default();
        format!(
            "{address}{label}\nbalance       {}\nnonce         {} (next: {})\nas of height  {}",
            group(account.balance),
            account.nonce,
            account.pending_nonce,
            account.height
        )
    });
    Ok(())
}
