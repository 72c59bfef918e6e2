//! JSON-RPC 2.0 framing: splitting a body into calls, validating each request object, and
//! writing responses. Ids are kept as the raw JSON text they arrived as, so they are echoed
//! exactly (`1.50`, `18446744073709551616`, `"x"`, `null`).
//!
//! Nothing here recurses into user JSON: the body is checked by serde_json's iterative skipper
//! and only the top two levels (batch, request object) are ever opened, so deeply nested input
//! costs no stack.

use crate::api::ApiError;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// JSON-RPC error codes used by the server.
pub mod code {
    /// Invalid JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method (or not served on this transport).
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Bad parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// A failure inside the node or the server (including a timed-out call).
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The transfer was refused; `data.reason` says why.
    pub const TRANSFER_REJECTED: i64 = -32000;
    /// The thing asked for does not exist.
    pub const NOT_FOUND: i64 = -32001;
    /// The node is still syncing.
    pub const NOT_READY: i64 = -32002;
    /// Too many requests from this client over WebSocket (HTTP answers 429 instead).
    pub const RATE_LIMITED: i64 = -32005;
}

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ErrorObject {
    /// The error code.
    pub code: i64,
    /// A short description.
    pub message: String,
    /// Details: `reason` for -32000, `param` and `detail` for -32602.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    fn new(code: i64, message: &str, data: Option<Value>) -> ErrorObject {
        ErrorObject { code, message: message.to_string(), data }
    }

    /// -32700.
    pub fn parse_error(detail: impl std::fmt::Display) -> ErrorObject {
        Self::new(code::PARSE_ERROR, "parse error", Some(json!({ "detail": detail.to_string() })))
    }

    /// -32600.
    pub fn invalid_request(detail: &str) -> ErrorObject {
        Self::new(code::INVALID_REQUEST, "invalid request", Some(json!({ "detail": detail })))
    }

    /// -32601.
    pub fn method_not_found(method: &str, detail: Option<&str>) -> ErrorObject {
        let mut data = json!({ "method": method });
        if let Some(detail) = detail {
            data["detail"] = Value::from(detail);
        }
        Self::new(code::METHOD_NOT_FOUND, "method not found", Some(data))
    }

    /// -32602 for the parameter `param`.
    pub fn invalid_params(param: &str, detail: &str) -> ErrorObject {
        Self::new(code::INVALID_PARAMS, "invalid params", Some(json!({ "param": param, "detail": detail })))
    }

    /// -32602 not tied to one parameter.
    pub fn invalid_params_shape(detail: &str) -> ErrorObject {
        Self::new(code::INVALID_PARAMS, "invalid params", Some(json!({ "detail": detail })))
    }

    /// -32603.
    pub fn internal(detail: &str) -> ErrorObject {
        Self::new(code::INTERNAL_ERROR, "internal error", Some(json!({ "detail": detail })))
    }

    /// -32603 for a call that outlived the request timeout.
    pub fn timed_out() -> ErrorObject {
        Self::new(code::INTERNAL_ERROR, "request timed out", Some(json!({ "reason": "timeout" })))
    }

    /// -32005 for a WebSocket message over the rate limit.
    pub fn rate_limited(retry_after_ms: u64) -> ErrorObject {
        Self::new(code::RATE_LIMITED, "rate limited", Some(json!({ "retry_after_ms": retry_after_ms })))
    }
}

impl From<ApiError> for ErrorObject {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Rejected(reason) => ErrorObject::new(
                code::TRANSFER_REJECTED,
                "transfer rejected",
                Some(json!({ "reason": reason.as_str() })),
            ),
            ApiError::NotFound => ErrorObject::new(code::NOT_FOUND, "not found", None),
            ApiError::NotReady => ErrorObject::new(code::NOT_READY, "node not ready", None),
            ApiError::Internal(detail) => ErrorObject::internal(&detail),
        }
    }
}

/// A well-formed call. `id: None` marks a notification, which gets no response.
#[derive(Debug)]
pub struct Call<'a> {
    /// The raw id, if the request had one (`null` included).
    pub id: Option<&'a RawValue>,
    /// The method name.
    pub method: String,
    /// The raw params: an array or an object, if present.
    pub params: Option<&'a RawValue>,
}

/// One element of a body: a call, or a request object that is not valid.
#[derive(Debug)]
pub enum Entry<'a> {
    /// A valid request.
    Call(Call<'a>),
    /// An invalid request, answered with `error` under `id` (null unless the id was readable).
    Invalid {
        /// The id to answer with.
        id: Option<&'a RawValue>,
        /// The error.
        error: ErrorObject,
    },
}

/// What a body holds.
#[derive(Debug)]
pub enum Incoming<'a> {
    /// One request object (or a non-object value, as an invalid entry).
    Single(Entry<'a>),
    /// A non-empty batch within the length limit.
    Batch(Vec<Entry<'a>>),
    /// The whole body fails: answered with this error and id null.
    Failed(ErrorObject),
}

/// Keeps `null` as a present value instead of turning it into `None`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
struct RawRequest<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    jsonrpc: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    method: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<&'a RawValue>,
}

fn first_byte(raw: &RawValue) -> u8 {
    raw.get().as_bytes().first().copied().unwrap_or(b' ')
}

/// Splits a body into entries. `max_batch_len` bounds a batch before any of it is looked at.
pub fn parse(body: &[u8], max_batch_len: usize) -> Incoming<'_> {
    let raw: &RawValue = match serde_json::from_slice(body) {
        Ok(raw) => raw,
        Err(e) => return Incoming::Failed(ErrorObject::parse_error(e)),
    };
    if first_byte(raw) != b'[' {
        return Incoming::Single(entry(raw));
    }
    let items: Vec<&RawValue> = match serde_json::from_str(raw.get()) {
        Ok(items) => items,
        Err(e) => return Incoming::Failed(ErrorObject::parse_error(e)),
    };
    if items.is_empty() {
        return Incoming::Failed(ErrorObject::invalid_request("empty batch"));
    }
    if items.len() > max_batch_len {
        let detail = format!("batch of {} requests exceeds the limit of {max_batch_len}", items.len());
        return Incoming::Failed(ErrorObject::invalid_request(&detail));
    }
    Incoming::Batch(items.into_iter().map(entry).collect())
}

/// Validates one request object.
fn entry(raw: &RawValue) -> Entry<'_> {
    let invalid = |id, detail: &str| Entry::Invalid { id, error: ErrorObject::invalid_request(detail) };
    if first_byte(raw) != b'{' {
        return invalid(None, "a request must be a JSON object");
    }
    let request: RawRequest<'_> = match serde_json::from_str(raw.get()) {
        Ok(request) => request,
        Err(e) => return invalid(None, &format!("bad request object: {e}")),
    };
    let id = match request.id {
        None => None,
        Some(id) => match first_byte(id) {
            b'"' | b'-' | b'0'..=b'9' | b'n' => Some(id),
            _ => return invalid(None, "id must be a string, a number or null"),
        },
    };
    let answer_id = Some(id.unwrap_or(RawValue::NULL));
    match request.jsonrpc.map(|v| serde_json::from_str::<String>(v.get())) {
        Some(Ok(version)) if version == "2.0" => {}
        _ => return invalid(answer_id, "jsonrpc must be \"2.0\""),
    }
    let method = match request.method.map(|v| serde_json::from_str::<String>(v.get())) {
        Some(Ok(method)) => method,
        _ => return invalid(answer_id, "method must be a string"),
    };
    if let Some(params) = request.params {
        if !matches!(first_byte(params), b'[' | b'{') {
            return invalid(answer_id, "params must be an array or an object");
        }
    }
    Entry::Call(Call { id, method, params: request.params })
}

/// A response object.
#[derive(Serialize)]
pub struct Response<'a> {
    jsonrpc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorObject>,
    id: &'a RawValue,
}

impl<'a> Response<'a> {
    /// A response carrying `outcome` under `id` (null when `None`).
    pub fn new(id: Option<&'a RawValue>, outcome: Result<Value, ErrorObject>) -> Response<'a> {
        let id = id.unwrap_or(RawValue::NULL);
        match outcome {
            Ok(result) => Response { jsonrpc: "2.0", result: Some(result), error: None, id },
            Err(error) => Response { jsonrpc: "2.0", result: None, error: Some(error), id },
        }
    }
}

/// Serializes a response or a batch of them. Serializing values built from owned data cannot
/// fail; if it ever did, the client still gets a valid JSON-RPC error.
pub fn to_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| {
        String::from(r#"{"jsonrpc":"2.0","error":{"code":-32603,"message":"internal error"},"id":null}"#)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(body: &str) -> Entry<'_> {
        match parse(body.as_bytes(), 10) {
            Incoming::Single(e) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ids_are_kept_verbatim() {
        for id in ["1", "\"a\"", "null", "1.50", "18446744073709551616123", "-0", "1e400"] {
            let body = format!(r#"{{"jsonrpc":"2.0","method":"m","id":{id}}}"#);
            match single(&body) {
                Entry::Call(call) => assert_eq!(call.id.map(|i| i.get()), Some(id)),
                other => panic!("{other:?}"),
            }
        }
        match single(r#"{"jsonrpc":"2.0","method":"m"}"#) {
            Entry::Call(call) => assert!(call.id.is_none()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn invalid_requests() {
        for body in [
            r#"{"jsonrpc":"2.0","method":"m","id":{}}"#,
            r#"{"jsonrpc":"2.0","method":"m","id":[1]}"#,
            r#"{"jsonrpc":"2.0","method":"m","id":true}"#,
            r#"{"jsonrpc":"1.0","method":"m","id":1}"#,
            r#"{"method":"m","id":1}"#,
            r#"{"jsonrpc":"2.0","method":1,"id":1}"#,
            r#"{"jsonrpc":"2.0","method":"m","params":"x","id":1}"#,
            r#"{"jsonrpc":"2.0","method":"m","params":null,"id":1}"#,
            r#"{"jsonrpc":"2.0","method":"m","method":"n","id":1}"#,
            r#"5"#,
        ] {
            assert!(matches!(single(body), Entry::Invalid { .. }), "{body}");
        }
    }

    #[test]
    fn deep_nesting_is_not_a_crash() {
        let deep = "[".repeat(1 << 20);
        assert!(matches!(parse(deep.as_bytes(), 10), Incoming::Failed(e) if e.code == code::PARSE_ERROR));
        let balanced = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(parse(balanced.as_bytes(), 10), Incoming::Batch(v) if v.len() == 1));
    }
}
