//! `sendTransaction`, including `wait: "committed"`.
//!
//! With a wait, the block subscription is taken *before* the transfer is submitted, so a block
//! that commits it between the two steps cannot be missed. The wait ends when a committed block
//! contains the transfer, when the node reports a final status (expired, replaced), or at the
//! timeout, which answers status `pending`: a wait never turns into a false failure.

use crate::api::{ApiError, NodeApi, SubmitOutcome, TransactionView, TxStatus};
use crate::dispatch::to_value;
use crate::jsonrpc::ErrorObject;
use crate::params::{self, Params};
use crate::server::Shared;
use crate::wire::SendResult;
use serde_json::Value;
use std::time::Duration;
use tally_ledger::{RejectReason, Transfer};
use tokio::sync::broadcast::error::RecvError;

/// The wait when `timeout_ms` is not given.
pub const DEFAULT_WAIT_MS: u64 = 10_000;
/// How much of the request timeout a wait leaves for answering.
const ANSWER_MARGIN: Duration = Duration::from_millis(250);

pub(crate) async fn send_transaction(shared: &Shared, p: &Params<'_>) -> Result<Value, ErrorObject> {
    let bytes = p.required("tx", params::hex_bytes)?;
    let wait = match p.optional("wait", params::string)?.as_deref() {
        None | Some("none") => false,
        Some("committed") => true,
        Some(_) => return Err(ErrorObject::invalid_params("wait", "must be \"none\" or \"committed\"")),
    };
    let timeout_ms = p.optional("timeout_ms", params::u64_value)?.unwrap_or(DEFAULT_WAIT_MS);
    let transfer = Transfer::decode(&bytes).map_err(|_| ApiError::Rejected(RejectReason::Malformed))?;
    let api = &*shared.api;
    if !wait {
        return to_value(&SendResult::from(&api.submit(transfer).await?));
    }
    let budget = Duration::from_millis(timeout_ms).min(shared.config.request_timeout().saturating_sub(ANSWER_MARGIN));
    let outcome = submit_and_wait(api, transfer, budget).await?;
    to_value(&SendResult::from(&outcome))
}

/// Submits `transfer` and waits up to `budget` for a final status.
pub(crate) async fn submit_and_wait(
    api: &dyn NodeApi,
    transfer: Transfer,
    budget: Duration,
) -> Result<SubmitOutcome, ApiError> {
    let hash = transfer.hash();
    let mut blocks = api.subscribe_blocks();
    let submitted = api.submit(transfer.clone()).await?;
    if submitted.status != TxStatus::Pending {
        return Ok(submitted);
    }
    let pending = SubmitOutcome { hash, status: TxStatus::Pending, height: None };
    let watch = async {
        loop {
            let check = match blocks.recv().await {
                Ok(block) => {
                    let header = &block.block.header;
                    if block.block.transfers.iter().any(|t| t.hash() == hash) {
                        return Ok(SubmitOutcome { hash, status: TxStatus::Committed, height: Some(header.height) });
                    }
                    let same_nonce =
                        block.block.transfers.iter().any(|t| t.from == transfer.from && t.nonce == transfer.nonce);
                    let past_expiry = transfer.valid_until != 0 && header.height >= transfer.valid_until;
                    same_nonce || past_expiry
                }
                // Missed blocks: ask the node where the transfer stands.
                Err(RecvError::Lagged(_)) => true,
                // The node is shutting down: report what it knows.
                Err(RecvError::Closed) => return final_or_pending(api.transaction(hash).await?, pending),
            };
            if check {
                let view = api.transaction(hash).await?;
                if view.status.is_final() {
                    return final_or_pending(view, pending);
                }
            }
        }
    };
    match tokio::time::timeout(budget, watch).await {
        Ok(outcome) => outcome,
        Err(_) => Ok(pending),
    }
}

fn final_or_pending(view: TransactionView, pending: SubmitOutcome) -> Result<SubmitOutcome, ApiError> {
    if view.status.is_final() {
        Ok(SubmitOutcome { hash: view.hash, status: view.status, height: view.height })
    } else {
        Ok(pending)
    }
}
