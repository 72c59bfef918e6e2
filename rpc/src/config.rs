//! The server's limits, as the node's `config.toml` holds them under `[rpc]`.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Limits and policies of the RPC server (SPEC §7 "Limits"). Every field has a default, so an
/// empty `[rpc]` table is valid; unknown keys are refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpcConfig {
    /// Largest request body (HTTP) or message (WebSocket), in bytes; larger is HTTP 413.
    pub max_body_bytes: usize,
    /// Most requests in one batch; more is a single -32600 error.
    pub max_batch_len: usize,
    /// Most open connections (HTTP and WebSocket); one more is answered HTTP 503 and closed.
    pub max_connections: usize,
    /// Longest time one call may take, in milliseconds; then it fails with -32603 "request timed
    /// out". `sendTransaction`'s `wait` is cut short to fit inside it.
    pub request_timeout_ms: u64,
    /// Requests per second allowed to one client IP (0 disables rate limiting).
    pub rate_limit_per_second: u32,
    /// Requests a client may make at once above the steady rate.
    pub rate_limit_burst: u32,
    /// Loopback clients (127.0.0.0/8, ::1) are not rate limited.
    pub rate_limit_exempt_loopback: bool,
    /// Origins allowed by CORS (`"*"` for any); empty sends no CORS headers.
    pub cors_allowed_origins: Vec<String>,
    /// Most subscriptions one WebSocket connection may hold.
    pub ws_max_subscriptions: usize,
    /// Messages queued for one WebSocket client; a subscriber that lets it overflow is dropped.
    pub ws_queue_len: usize,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            max_body_bytes: 1 << 20,
            max_batch_len: 100,
            max_connections: 512,
            request_timeout_ms: 30_000,
            rate_limit_per_second: 100,
            rate_limit_burst: 200,
            rate_limit_exempt_loopback: true,
            cors_allowed_origins: Vec::new(),
            ws_max_subscriptions: 64,
            ws_queue_len: 1024,
        }
    }
}

/// A configuration value out of range; `field` names it as in `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rpc.{field}: {message}")]
pub struct ConfigError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: &'static str,
}

impl RpcConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |field, message| Err(ConfigError { field, message });
        if self.max_body_bytes < 1024 || self.max_body_bytes > (64 << 20) {
            return fail("max_body_bytes", "must be between 1 KiB and 64 MiB");
        }
        if self.max_batch_len == 0 || self.max_batch_len > 10_000 {
            return fail("max_batch_len", "must be between 1 and 10000");
        }
        if self.max_connections == 0 || self.max_connections > 65_536 {
            return fail("max_connections", "must be between 1 and 65536");
        }
        if self.request_timeout_ms < 100 || self.request_timeout_ms > 600_000 {
            return fail("request_timeout_ms", "must be between 100 and 600000");
        }
        if self.rate_limit_per_second > 0 && self.rate_limit_burst == 0 {
            return fail("rate_limit_burst", "must be at least 1 when rate limiting is on");
        }
        if self.cors_allowed_origins.iter().any(|o| o != "*" && axum::http::HeaderValue::from_str(o).is_err()) {
            return fail("cors_allowed_origins", "each origin must be \"*\" or a valid header value");
        }
        if self.ws_max_subscriptions == 0 {
            return fail("ws_max_subscriptions", "must be at least 1");
        }
        if self.ws_queue_len < 4 || self.ws_queue_len > 1_000_000 {
            return fail("ws_queue_len", "must be between 4 and 1000000");
        }
        Ok(())
    }

    /// [`RpcConfig::request_timeout_ms`] as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_empty_table_parses() {
        RpcConfig::default().validate().unwrap();
        let parsed: RpcConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, RpcConfig::default());
        assert!(serde_json::from_str::<RpcConfig>(r#"{"max_body_byte": 1}"#).is_err());
    }

    #[test]
    fn out_of_range_values_name_the_field() {
        let bad = RpcConfig { max_batch_len: 0, ..RpcConfig::default() };
        assert_eq!(bad.validate().unwrap_err().field, "max_batch_len");
        let bad = RpcConfig { cors_allowed_origins: vec!["bad\norigin".into()], ..RpcConfig::default() };
        assert_eq!(bad.validate().unwrap_err().field, "cors_allowed_origins");
    }
}
