//! One server per test on 127.0.0.1:0, over a fake node, with helpers to post raw bodies.

use crate::fake::FakeNode;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tally_rpc::{RpcClient, RpcConfig, RpcMetrics, RpcServer, WsClient};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestServer {
    pub addr: SocketAddr,
    pub url: String,
    pub fake: Arc<FakeNode>,
    pub metrics: RpcMetrics,
    pub client: RpcClient,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// A raw HTTP answer.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

pub async fn start() -> TestServer {
    start_with(RpcConfig::default(), 1024).await
}

pub async fn start_with(config: RpcConfig, broadcast_capacity: usize) -> TestServer {
    let fake = FakeNode::new(broadcast_capacity);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut registry = Registry::default();
    let height = Gauge::<i64>::default();
    height.set(42);
    registry.register("tally_height", "Last committed height", height);
    let metrics = RpcMetrics::new();
    metrics.register(&mut registry);
    let server = RpcServer::new(fake.clone(), config).unwrap().with_metrics(metrics.clone(), Arc::new(registry));
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));
    let url = format!("http://{addr}");
    TestServer {
        addr,
        client: RpcClient::new(url.clone()).with_timeout(Duration::from_secs(20)),
        url,
        fake,
        metrics,
        http: reqwest::Client::new(),
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestServer {
    pub async fn post(&self, body: impl Into<reqwest::Body>) -> Answer {
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        Answer { status, headers, text: response.text().await.unwrap() }
    }

    /// Posts a body and parses the JSON answer (which must be HTTP 200).
    pub async fn rpc(&self, body: &str) -> Value {
        let answer = self.post(body.to_string()).await;
        assert_eq!(answer.status, 200, "{body} -> {}", answer.text);
        answer.json()
    }

    /// Calls `method` with `params` (JSON text) and returns the whole response object.
    pub async fn call(&self, method: &str, params: &str) -> Value {
        self.rpc(&format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#)).await
    }

    /// Calls and returns the result, failing on an error.
    pub async fn result(&self, method: &str, params: &str) -> Value {
        let response = self.call(method, params).await;
        assert!(response.get("error").is_none(), "{method} {params}: {response}");
        response["result"].clone()
    }

    /// Calls and returns the error code.
    pub async fn error_code(&self, method: &str, params: &str) -> i64 {
        let response = self.call(method, params).await;
        response["error"]["code"].as_i64().unwrap_or_else(|| panic!("{method} {params}: no error in {response}"))
    }

    pub async fn get(&self, path: &str) -> Answer {
        let response = self.http.get(format!("{}{path}", self.url)).send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        Answer { status, headers, text: response.text().await.unwrap() }
    }

    pub fn ws_url(&self) -> String {
        self.client.ws_url()
    }

    pub async fn ws(&self) -> WsClient {
        WsClient::connect(&self.ws_url()).await.unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap().unwrap();
        }
    }
}

/// Waits until `condition` holds, polling; fails after 10 s.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}
