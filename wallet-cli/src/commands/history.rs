//! `tally history [ADDRESS|NAME] [--limit N] [--before CURSOR]`.

use super::Context;
use crate::amount::group;
use crate::error::WalletError;

/// Prints one page of the transfers of `target`, newest first, and the next page's cursor.
pub async fn run(ctx: &Context, target: Option<&str>, limit: u32, before: Option<&str>) -> Result<(), WalletError> {
    let (address, name) = ctx.resolve(target)?;
    let node = ctx.node();
    let page =
        node.client.get_transactions_by_address(&address, Some(limit), before).await.map_err(|e| node.error(e))?;
    ctx.out.emit(&page, || {
        let label = name.map(|n| format!(" ({n})")).unwrap_or_default();
        let mut lines = vec![format!("history of {address}{label}")];
        if page.transactions.is_empty() {
            lines.push("  no transfers".into());
        }
        for info in &page.transactions {
            let when = match info.height {
                Some(height) => format!("height {height}"),
                None => info.status.as_str().to_string(),
            };
            let what = match &info.transfer {
                Some(t) if t.from == address && t.to == address => format!("self      {:>20}", group(t.amount)),
                Some(t) if t.from == address => format!("sent      {:>20} to   {}", group(t.amount), t.to),
                Some(t) => format!("received  {:>20} from {}", group(t.amount), t.from),
                None => String::new(),
            };
            lines.push(format!("  {when:<14} {what}\n  {:<14} {}", "", info.hash));
        }
        match &page.next {
            Some(cursor) => lines.push(format!(
                "next page: tally history {address} --limit {limit} --before {cursor}\nnext cursor: {cursor}"
            )),
            None => lines.push("end of history".into()),
        }
        lines.join("\n")
    });
    Ok(())
}
