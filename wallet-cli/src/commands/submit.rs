//! `tally send` and `tally broadcast`: submit a signed transfer, optionally wait for finality,
//! and explain a rejection in terms of what to do.

use super::sign::{memo_bytes, transfer_json, Draft};
use super::Context;
use crate::amount::group;
use crate::cli::{SendArgs, WaitArgs};
use crate::error::WalletError;
use crate::node::Node;
use crate::output::transfer_lines;
use serde_json::json;
use std::time::{Duration, Instant};
use tally_ledger::{Address, ChainId, Transfer};
use tally_rpc::wire::{SendResult, TransferFields};
use tally_rpc::{ClientError, TxStatus, Wait};

/// JSON-RPC code of a rejected transfer.
const REJECTED: i64 = -32000;

/// The longest single `wait: committed` call; longer waits repeat the (idempotent) call.
const WAIT_SLICE: Duration = Duration::from_secs(10);

/// `tally send`: nonce from `pending_nonce`, chain id and height from `status`, signed here.
pub async fn send(ctx: &Context, args: SendArgs) -> Result<(), WalletError> {
    let memo = memo_bytes(args.memo.as_deref())?;
    let name = ctx.key_name()?;
    let (_, public) = ctx.key_public(&name)?;
    let node = ctx.node();
    let status = node.client.status().await.map_err(|e| node.error(e))?;
    let account = node.client.get_account(&public.address()).await.map_err(|e| node.error(e))?;
    let chain_id = ChainId::new(&status.chain_id).map_err(|e| WalletError::Node {
        url: node.url().to_string(),
        detail: format!("the node's chain id is invalid: {e}"),
    })?;
    let valid_until = match args.valid_for {
        0 => 0,
        blocks => status.latest_height.checked_add(blocks).ok_or_else(|| WalletError::BadInput {
            what: "--valid-for",
            reason: "the current height plus --valid-for is beyond u64".into(),
        })?,
    };
    let key = ctx.unlock(&name)?;
    let draft = Draft {
        chain_id,
        to: args.to,
        amount: args.amount,
        fee: args.fee,
        nonce: account.pending_nonce,
        valid_until,
        memo,
    };
    let transfer = draft.sign(&key)?;
    drop(key);
    submit(ctx, &node, &transfer, &args.wait, Flow::Send).await
}

/// `tally broadcast HEX`.
pub async fn broadcast(ctx: &Context, text: &str, wait: &WaitArgs) -> Result<(), WalletError> {
    let text = text.trim();
    let text = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(text).map_err(|e| WalletError::BadInput { what: "transfer hex", reason: e.to_string() })?;
    let transfer =
        Transfer::decode(&bytes).map_err(|e| WalletError::BadInput { what: "transfer", reason: e.to_string() })?;
    submit(ctx, &ctx.node(), &transfer, wait, Flow::Broadcast).await
}

/// Which command submitted (the advice after a rejection differs).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Send,
    Broadcast,
}

async fn submit(
    ctx: &Context,
    node: &Node,
    transfer: &Transfer,
    wait: &WaitArgs,
    flow: Flow,
) -> Result<(), WalletError> {
    let bytes = transfer.encode();
    let hash = transfer.hash();
    let started = Instant::now();
    let spinner = if wait.wait {
        Some(ctx.out.spinner(format!("waiting for {} to be final", short(&hash.to_hex()))))
    } else {
        None
    };
    let deadline = started + Duration::from_secs(wait.timeout);
    let mut result: SendResult;
    loop {
        let mode = if wait.wait {
            Wait::Committed(deadline.saturating_duration_since(Instant::now()).min(WAIT_SLICE))
        } else {
            Wait::None
        };
        let answer = node.client.send_transaction(&bytes, mode).await;
        result = match answer {
            Ok(result) => result,
            Err(error) => {
                if let Some(bar) = &spinner {
                    bar.finish_and_clear();
                }
                return Err(explain(node, error, transfer, flow).await);
            }
        };
        if !wait.wait || result.status.is_final() || Instant::now() >= deadline {
            break;
        }
    }
    let elapsed = started.elapsed();
    if let Some(bar) = &spinner {
        bar.finish_and_clear();
    }
    match result.status {
        TxStatus::Expired => {
            return Err(WalletError::NotFinal {
                hash: hash.to_hex(),
                status: "expired",
                hint: format!(
                    "the chain passed height {} without including it; send it again (a new transfer)",
                    transfer.valid_until
                ),
            })
        }
        TxStatus::Replaced => {
            return Err(WalletError::NotFinal {
                hash: hash.to_hex(),
                status: "replaced",
                hint: "another transfer with the same nonce was committed instead; see `tally history`".into(),
            })
        }
        TxStatus::Pending if wait.wait => {
            return Err(WalletError::Timeout { hash: hash.to_hex(), seconds: wait.timeout });
        }
        _ => {}
    }
    let mut value = transfer_json(transfer);
    value["status"] = json!(result.status.as_str());
    if let Some(height) = result.height {
        value["height"] = json!(height);
    }
    if wait.wait {
        value["finality_ms"] = json!(elapsed.as_millis().to_string());
    }
    ctx.out.emit(&value, || {
        let fields = TransferFields::from(transfer);
        let mut lines = match (result.status, result.height) {
            (TxStatus::Committed, Some(height)) if wait.wait => {
                vec![format!("committed {hash} at height {height}, final in {:.2} s", elapsed.as_secs_f64())]
            }
            (TxStatus::Committed, Some(height)) => vec![format!("committed {hash} at height {height}")],
            (status, _) => vec![
                format!("submitted {hash} ({})", status.as_str()),
                format!("check it with: tally tx {hash}   (or send with --wait next time)"),
            ],
        };
        lines.extend(transfer_lines(&fields).into_iter().map(|l| format!("  {l}")));
        lines.join("\n")
    });
    Ok(())
}

fn short(hex: &str) -> String {
    format!("{}…", &hex[..hex.len().min(12)])
}

/// Turns a failed `sendTransaction` into a message that says what happened and what to do.
async fn explain(node: &Node, error: ClientError, transfer: &Transfer, flow: Flow) -> WalletError {
    if error.code() != Some(REJECTED) {
        return node.error(error);
    }
    let reason = error.reason().unwrap_or("unknown").to_string();
    let detail = match &error {
        ClientError::Rpc(rpc) => rpc.detail().map(|d| format!(" ({d})")).unwrap_or_default(),
        _ => String::new(),
    };
    let from = Address(transfer.from);
    let message = match reason.as_str() {
        "insufficient_funds" => {
            let needed = match transfer.amount.checked_add(transfer.fee) {
                Some(needed) => group(needed),
                None => format!("more than {}", group(u64::MAX)),
            };
            match node.client.get_account(&from).await {
                Ok(account) => format!(
                    "insufficient funds: balance {}, needed {needed} including the fee of {}",
                    group(account.balance),
                    group(transfer.fee)
                ),
                Err(_) => format!("insufficient funds: needed {needed} including the fee of {}", group(transfer.fee)),
            }
        }
        "bad_nonce" => {
            let advice = match flow {
                Flow::Send => {
                    "another transfer from this key may have been sent at the same moment: run the command again"
                }
                Flow::Broadcast => "sign it again with the next nonce",
            };
            match node.client.get_account(&from).await {
                Ok(account) => format!(
                    "bad nonce: the transfer uses nonce {}, but the account's next nonce is {} ({} counting transfers \
                     waiting in the node's mempool); {advice} (--nonce {})",
                    transfer.nonce, account.nonce, account.pending_nonce, account.pending_nonce
                ),
                Err(_) => format!("bad nonce: the transfer uses nonce {}; {advice}", transfer.nonce),
            }
        }
        "fee_too_low" => format!(
            "fee too low: {} is below the chain's minimum fee: raise --fee (the devnet's minimum is 1){detail}",
            group(transfer.fee)
        ),
        "expired" => format!(
            "expired: the transfer was valid until height {}, which the chain has passed: sign it again with a later \
             --valid-until (or send with --valid-for)",
            transfer.valid_until
        ),
        "wrong_chain" => {
            let theirs = match node.client.status().await {
                Ok(status) => {
                    format!(", but the node runs {:?}: sign with --chain-id {}", status.chain_id, status.chain_id)
                }
                Err(_) => String::new(),
            };
            format!("wrong chain: the transfer is for chain {:?}{theirs}", transfer.chain_id.as_str())
        }
        "invalid_signature" => {
            "invalid signature: the node could not verify the transfer's signature; sign it again".to_string()
        }
        "malformed" => format!("malformed transfer: the node refused its bytes{detail}"),
        "mempool_full" => "the node's mempool is full: try again in a few seconds".to_string(),
        other => format!("transfer rejected: {other}{detail}"),
    };
    WalletError::Rejected { reason, message }
}

#[cfg(test)]
mod tests {
    use super::short;

    #[test]
    fn short_hashes() {
        assert_eq!(short("0123456789abcdef"), "0123456789ab…");
        assert_eq!(short("ab"), "ab…");
    }
}
