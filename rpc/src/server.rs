//! The HTTP server: routes, body and rate limits, CORS, health and metrics endpoints.

use crate::api::NodeApi;
use crate::config::{ConfigError, RpcConfig};
use crate::dispatch::handle_body;
use crate::jsonrpc::{self, ErrorObject, Response as RpcResponse};
use crate::limits::{ClientAddr, LimitedListener, RateLimiter};
use crate::metrics::{exposition, RpcMetrics};
use crate::ws;
use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use prometheus_client::registry::Registry;
use std::future::Future;
use std::io;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// What every handler shares.
pub(crate) struct Shared {
    pub(crate) api: Arc<dyn NodeApi>,
    pub(crate) config: RpcConfig,
    pub(crate) metrics: RpcMetrics,
    pub(crate) registry: Arc<Registry>,
    pub(crate) limiter: RateLimiter,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// The JSON-RPC server: `POST /`, `GET /ws`, `GET /health`, `GET /metrics`.
///
/// ```no_run
/// # async fn run(api: std::sync::Arc<dyn tally_rpc::NodeApi>, stop: tokio::sync::oneshot::Receiver<()>) -> std::io::Result<()> {
/// use prometheus_client::registry::Registry;
/// use tally_rpc::{RpcConfig, RpcMetrics, RpcServer};
/// let mut registry = Registry::default();
/// // ... the node registers its own metrics here ...
/// let metrics = RpcMetrics::new();
/// metrics.register(&mut registry);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8545").await?;
/// let server = RpcServer::new(api, RpcConfig::default())
///     .map_err(std::io::Error::other)?
///     .with_metrics(metrics, std::sync::Arc::new(registry));
/// server.serve(listener, async { let _ = stop.await; }).await
/// # }
/// ```
pub struct RpcServer {
    api: Arc<dyn NodeApi>,
    config: RpcConfig,
    metrics: RpcMetrics,
    registry: Arc<Registry>,
}

impl RpcServer {
    /// A server over `api`; refuses an invalid configuration. Until
    /// [`RpcServer::with_metrics`] is called, `/metrics` serves a private registry holding only
    /// the RPC metrics.
    pub fn new(api: Arc<dyn NodeApi>, config: RpcConfig) -> Result<RpcServer, ConfigError> {
        config.validate()?;
        let metrics = RpcMetrics::new();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        Ok(RpcServer { api, config, metrics, registry: Arc::new(registry) })
    }

    /// Uses `metrics` (already registered in `registry`) and serves all of `registry` at
    /// `/metrics`.
    pub fn with_metrics(mut self, metrics: RpcMetrics, registry: Arc<Registry>) -> RpcServer {
        self.metrics = metrics;
        self.registry = registry;
        self
    }

    /// The metrics this server records into.
    pub fn metrics(&self) -> &RpcMetrics {
        &self.metrics
    }

    /// Serves on `listener` until `shutdown` completes, then stops accepting, closes WebSocket
    /// connections and waits for calls in progress to finish.
    pub async fn serve<F>(self, listener: TcpListener, shutdown: F) -> io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (tx_shutdown, rx_shutdown) = watch::channel(false);
        let config = self.config;
        let cors = cors_layer(&config.cors_allowed_origins);
        let listener = LimitedListener::new(listener, config.max_connections);
        let shared = Arc::new(Shared {
            api: self.api,
            limiter: RateLimiter::new(
                config.rate_limit_per_second,
                config.rate_limit_burst,
                config.rate_limit_exempt_loopback,
            ),
            config,
            metrics: self.metrics,
            registry: self.registry,
            shutdown: rx_shutdown,
        });
        let mut router = Router::new()
            .route("/", post(rpc_http))
            .route("/ws", get(rpc_ws))
            .route("/health", get(health))
            .route("/metrics", get(metrics))
            .layer(middleware::from_fn_with_state(Arc::clone(&shared), rate_limit))
            .with_state(shared);
        if let Some(cors) = cors {
            router = router.layer(cors);
        }
        let signal = async move {
            shutdown.await;
            let _ = tx_shutdown.send(true);
        };
        axum::serve(listener, router.into_make_service_with_connect_info::<ClientAddr>())
            .with_graceful_shutdown(signal)
            .await
    }
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE]),
    )
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error_response(status: StatusCode, error: ErrorObject) -> Response {
    json_response(status, jsonrpc::to_text(&RpcResponse::new(None, Err(error))))
}

async fn rate_limit(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let client = request.extensions().get::<ConnectInfo<ClientAddr>>().map(|c| c.0 .0.ip());
    if let Some(ip) = client {
        if let Err(wait) = shared.limiter.check(ip) {
            shared.metrics.rate_limited();
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut response =
                error_response(StatusCode::TOO_MANY_REQUESTS, ErrorObject::rate_limited(wait.as_millis() as u64));
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            return response;
        }
    }
    next.run(request).await
}

async fn rpc_http(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let limit = shared.config.max_body_bytes;
    let read = tokio::time::timeout(shared.config.request_timeout(), axum::body::to_bytes(body, limit)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(error)) => {
            let too_large = error.into_inner().downcast_ref::<http_body_util::LengthLimitError>().is_some();
            return if too_large {
                let detail = format!("request body exceeds {limit} bytes");
                error_response(StatusCode::PAYLOAD_TOO_LARGE, ErrorObject::invalid_request(&detail))
            } else {
                error_response(StatusCode::BAD_REQUEST, ErrorObject::invalid_request("unreadable request body"))
            };
        }
        Err(_) => {
            return error_response(StatusCode::REQUEST_TIMEOUT, ErrorObject::invalid_request("request body too slow"))
        }
    };
    match handle_body(&shared, None, &bytes).await {
        Some(text) => json_response(StatusCode::OK, text),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn rpc_ws(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let max = shared.config.max_body_bytes;
    upgrade.max_message_size(max).max_frame_size(max).on_upgrade(move |socket| ws::run(socket, shared, client.0.ip()))
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let verdict = tokio::time::timeout(shared.config.request_timeout(), shared.api.health()).await;
    let (status, body) = match verdict {
        Ok(health) if health.ok => (StatusCode::OK, serde_json::json!({ "ok": true })),
        Ok(health) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "ok": false, "reason": health.reason.unwrap_or_else(|| "unhealthy".into()) }),
        ),
        Err(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, serde_json::json!({ "ok": false, "reason": "health check timed out" }))
        }
    };
    json_response(status, body.to_string())
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let text = exposition(&shared.registry);
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
        .into_response()
}
