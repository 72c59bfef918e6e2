//! From a request body to the response text: framing, per-call timeouts and metrics, and the
//! one `match` over [`Method`] that calls the node. Shared by HTTP and WebSocket.

use crate::api::{ApiError, BlockRef};
use crate::jsonrpc::{self, code, Entry, ErrorObject, Incoming, Response};
use crate::methods::Method;
use crate::metrics::MethodLabel;
use crate::params::{self, Params};
use crate::server::Shared;
use crate::wire::{AccountInfo, BlockInfo, EvidenceInfo, StatusInfo, TransactionInfo, TransactionPage, ValidatorInfo};
use crate::ws::{Scope, Topic};
use crate::{openrpc, send};
use futures_util::future::join_all;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::time::Instant;
use tally_ledger::store::HistoryCursor;

/// `getTransactionsByAddress`'s default and largest page.
pub const DEFAULT_HISTORY_LIMIT: u64 = 50;
/// The largest page.
pub const MAX_HISTORY_LIMIT: u64 = 500;

/// Answers a body: `None` when nothing is to be sent back (only notifications).
pub async fn handle_body(shared: &Shared, scope: Option<&Scope>, body: &[u8]) -> Option<String> {
    match jsonrpc::parse(body, shared.config.max_batch_len) {
        Incoming::Failed(error) => {
            shared.metrics.observe(&MethodLabel::invalid(), std::time::Duration::ZERO);
            Some(jsonrpc::to_text(&Response::new(None, Err(error))))
        }
        Incoming::Single(entry) => handle_entry(shared, scope, entry).await.map(|r| jsonrpc::to_text(&r)),
        Incoming::Batch(entries) => {
            let answers = join_all(entries.into_iter().map(|e| handle_entry(shared, scope, e))).await;
            let responses: Vec<Response<'_>> = answers.into_iter().flatten().collect();
            if responses.is_empty() {
                None
            } else {
                Some(jsonrpc::to_text(&responses))
            }
        }
    }
}

async fn handle_entry<'a>(shared: &Shared, scope: Option<&Scope>, entry: Entry<'a>) -> Option<Response<'a>> {
    match entry {
        Entry::Invalid { id, error } => {
            shared.metrics.observe(&MethodLabel::invalid(), std::time::Duration::ZERO);
            Some(Response::new(id, Err(error)))
        }
        Entry::Call(call) => {
            let start = Instant::now();
            let outcome = match Method::from_name(&call.method) {
                None => Err(ErrorObject::method_not_found(&call.method, None)),
                Some(method) => {
                    let timeout = shared.config.request_timeout();
                    match tokio::time::timeout(timeout, dispatch(shared, scope, method, call.params)).await {
                        Ok(outcome) => outcome,
                        Err(_) => Err(ErrorObject::timed_out()),
                    }
                }
            };
            shared.metrics.observe(&MethodLabel::for_name(&call.method), start.elapsed());
            if let Err(error) = &outcome {
                if error.code == code::INTERNAL_ERROR {
                    tracing::warn!(method = %call.method, data = ?error.data, "rpc call failed");
                }
            }
            // A notification is executed but never answered.
            call.id.map(|id| Response::new(Some(id), outcome))
        }
    }
}

/// The result as JSON.
pub fn to_value<T: Serialize>(value: &T) -> Result<Value, ErrorObject> {
    serde_json::to_value(value).map_err(|e| ErrorObject::internal(&e.to_string()))
}

/// Runs one method.
async fn dispatch(
    shared: &Shared,
    scope: Option<&Scope>,
    method: Method,
    raw: Option<&RawValue>,
) -> Result<Value, ErrorObject> {
    let spec = method.spec();
    if spec.websocket_only && scope.is_none() {
        return Err(ErrorObject::method_not_found(spec.name, Some("served only over WebSocket at /ws")));
    }
    let p = Params::bind(spec.params, raw)?;
    let api = &*shared.api;
    match method {
        Method::Status => to_value(&StatusInfo::from(&api.status().await?)),
        Method::GetAccount => {
            let key = p.required("address", params::address)?;
            to_value(&AccountInfo::new(key, &api.account(key).await?))
        }
        Method::SendTransaction => send::send_transaction(shared, &p).await,
        Method::GetTransaction => {
            let hash = p.required("hash", params::hash)?;
            to_value(&TransactionInfo::from(&api.transaction(hash).await?))
        }
        Method::GetBlock => {
            let at = p.required("height", block_ref)?;
            match api.block(at).await? {
                Some(block) => to_value(&BlockInfo::from(&block)),
                None => Err(ApiError::NotFound.into()),
            }
        }
        Method::GetTransactionsByAddress => {
            let key = p.required("address", params::address)?;
            let limit = p.optional("limit", params::u64_value)?.unwrap_or(DEFAULT_HISTORY_LIMIT);
            if !(1..=MAX_HISTORY_LIMIT).contains(&limit) {
                return Err(ErrorObject::invalid_params("limit", "must be between 1 and 500"));
            }
            let before = p.optional("before", cursor)?;
            let page = api.history(key, limit as usize, before).await?;
            to_value(&TransactionPage::from(&page))
        }
        Method::GetValidators => {
            let validators = api.validators().await?;
            to_value(&validators.iter().map(ValidatorInfo::from).collect::<Vec<_>>())
        }
        Method::GetEvidence => {
            let from = p.optional("from_height", params::u64_value)?;
            let evidence = api.evidence(from).await?;
            to_value(&evidence.iter().map(EvidenceInfo::from).collect::<Vec<_>>())
        }
        Method::Subscribe => {
            let scope = scope.ok_or_else(|| ErrorObject::method_not_found(spec.name, None))?;
            let topic = match (p.required("topic", params::string)?.as_str(), p.optional("address", params::address)?) {
                ("newBlocks", None) => Topic::NewBlocks,
                ("newBlocks", Some(_)) => {
                    return Err(ErrorObject::invalid_params("address", "only for topic \"address\""))
                }
                ("address", Some(key)) => Topic::Address(key),
                ("address", None) => {
                    return Err(ErrorObject::invalid_params("address", "required for topic \"address\""))
                }
                _ => return Err(ErrorObject::invalid_params("topic", "must be \"newBlocks\" or \"address\"")),
            };
            scope.subscribe(topic).map(Value::String)
        }
        Method::Unsubscribe => {
            let scope = scope.ok_or_else(|| ErrorObject::method_not_found(spec.name, None))?;
            let id = p.required("subscription", params::string)?;
            if scope.unsubscribe(&id) {
                Ok(Value::Bool(true))
            } else {
                Err(ApiError::NotFound.into())
            }
        }
        Method::Discover => Ok(openrpc::document()),
    }
}

fn block_ref(raw: &RawValue) -> Result<BlockRef, String> {
    if raw.get() == "\"latest\"" {
        return Ok(BlockRef::Latest);
    }
    params::u64_value(raw).map(BlockRef::Height).map_err(|_| "must be a height or \"latest\"".to_string())
}

fn cursor(raw: &RawValue) -> Result<HistoryCursor, String> {
    HistoryCursor::decode(&params::string(raw)?).ok_or_else(|| "not a cursor returned by this method".into())
}
