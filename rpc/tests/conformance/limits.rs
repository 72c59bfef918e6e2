//! Body, rate, connection and time limits; CORS; the metrics exposition.

use crate::harness::{start, start_with};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tally_rpc::RpcConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let server = start().await;
    let padding = " ".repeat((1 << 20) + 1);
    let answer = server.post(format!(r#"{{"jsonrpc":"2.0","id":1,"method":"status"}}{padding}"#)).await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.json()["error"]["code"], -32600);
    // Chunked (no content-length) bodies are cut off the same way.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n").await.unwrap();
    let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
    for _ in 0..40 {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break; // the server answered and closed early
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut reply = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut reply)).await.unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&reply[..n]).starts_with("HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&reply[..n])
    );
    // Just under the limit is fine.
    let padding = " ".repeat((1 << 20) - 100);
    let answer = server.post(format!(r#"{{"jsonrpc":"2.0","id":1,"method":"status"}}{padding}"#)).await;
    assert_eq!(answer.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let config = RpcConfig {
        rate_limit_per_second: 1,
        rate_limit_burst: 3,
        rate_limit_exempt_loopback: false,
        ..RpcConfig::default()
    };
    let server = start_with(config, 16).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..5 {
        let answer = server.post(r#"{"jsonrpc":"2.0","id":1,"method":"status"}"#).await;
        statuses.push(answer.status);
        if answer.status == 429 {
            retry_after = answer.headers.get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            assert_eq!(answer.json()["error"]["code"], -32005);
        }
    }
    assert_eq!(&statuses[..3], &[200, 200, 200]);
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
    assert!(retry_after.is_some_and(|s| (1..=2).contains(&s)), "{retry_after:?}");
    // The typed client reports it as an HTTP error with the retry delay.
    match server.client.status().await {
        Err(tally_rpc::ClientError::Http { status: 429, retry_after: Some(_), .. }) => {}
        other => panic!("{other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn loopback_is_exempt_by_default() {
    let config = RpcConfig { rate_limit_per_second: 1, rate_limit_burst: 1, ..RpcConfig::default() };
    let server = start_with(config, 16).await;
    for _ in 0..30 {
        assert_eq!(server.post(r#"{"jsonrpc":"2.0","id":1,"method":"status"}"#).await.status, 200);
    }
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_get_503() {
    let server = start_with(RpcConfig { max_connections: 2, ..RpcConfig::default() }, 16).await;
    let held_a = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let held_b = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    extra.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), extra.read_to_end(&mut reply)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 503"), "{}", String::from_utf8_lossy(&reply));
    // Closing a connection frees its slot.
    drop(held_a);
    drop(held_b);
    let mut ok = false;
    for _ in 0..50 {
        if server.get("/health").await.status == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok);
    server.stop().await;
}

#[tokio::test]
async fn slow_calls_time_out() {
    let server = start_with(RpcConfig { request_timeout_ms: 200, ..RpcConfig::default() }, 16).await;
    *server.fake.slow.lock().unwrap() = Some(Duration::from_secs(5));
    let r = server.call("getValidators", "[]").await;
    assert_eq!(r["error"]["code"], -32603);
    assert_eq!(r["error"]["message"], "request timed out");
    *server.fake.slow.lock().unwrap() = None;
    server.result("getValidators", "[]").await;
    server.stop().await;
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let config = RpcConfig { cors_allowed_origins: vec!["https://shop.example".into()], ..RpcConfig::default() };
    let server = start_with(config, 16).await;
    let preflight = |origin: &'static str| {
        server
            .http
            .request(reqwest::Method::OPTIONS, &server.url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("https://shop.example").await.unwrap();
    assert_eq!(allowed.headers().get("access-control-allow-origin").unwrap(), "https://shop.example");
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    server.stop().await;
}

/// Checks the Prometheus / OpenMetrics text format line by line: HELP/TYPE/UNIT/EOF comments,
/// samples `name{label="value",...} number` whose names belong to a declared family, label
/// values properly escaped, histogram buckets cumulative and ending in +Inf equal to _count.
fn check_exposition(text: &str) -> HashMap<String, f64> {
    let mut families: HashMap<String, String> = HashMap::new();
    let mut samples = HashMap::new();
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
    };
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "exposition must end with # EOF");
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let keyword = parts.next().unwrap();
            let name = parts.next().unwrap_or_else(|| panic!("bad comment {line}"));
            assert!(valid_name(name), "{line}");
            match keyword {
                "HELP" | "UNIT" => {}
                "TYPE" => {
                    let kind = parts.next().unwrap();
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "info", "unknown", "stateset", "gaugehistogram"]
                            .contains(&kind),
                        "{line}"
                    );
                    families.insert(name.to_string(), kind.to_string());
                }
                other => panic!("unknown comment {other}: {line}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad sample {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let name = series.split('{').next().unwrap();
        assert!(valid_name(name), "{line}");
        if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
            let inner = labels.strip_prefix('{').and_then(|l| l.strip_suffix('}')).unwrap_or_else(|| panic!("{line}"));
            let mut rest = inner;
            while !rest.is_empty() {
                let (key, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("bad label in {line}"));
                assert!(valid_name(key), "{line}");
                let mut end = None;
                let mut escaped = false;
                for (i, c) in after.char_indices() {
                    match (escaped, c) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.unwrap_or_else(|| panic!("unterminated label in {line}"));
                rest = after[end + 1..].strip_prefix(',').unwrap_or(&after[end + 1..]);
            }
        }
        let family = ["_total", "_bucket", "_count", "_sum", "_created", "_info", ""]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|base| families.contains_key(*base)))
            .unwrap_or_else(|| panic!("sample {name} belongs to no declared family"));
        assert!(!family.is_empty());
        samples.insert(series.to_string(), value);
    }
    // Histogram buckets are cumulative and +Inf equals _count.
    for (family, kind) in &families {
        if kind != "histogram" {
            continue;
        }
        let mut by_series: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
        for (series, value) in &samples {
            if let Some(labels) = series.strip_prefix(&format!("{family}_bucket{{")) {
                let (le, others): (Vec<&str>, Vec<&str>) =
                    labels.trim_end_matches('}').split(',').partition(|l| l.starts_with("le="));
                let le = le[0].trim_start_matches("le=\"").trim_end_matches('"');
                let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() };
                by_series.entry(others.join(",")).or_default().push((bound, *value));
            }
        }
        for (labels, mut buckets) in by_series {
            buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
            assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{family} buckets not cumulative");
            assert_eq!(buckets.last().unwrap().0, f64::INFINITY);
            let count = samples.get(&format!("{family}_count{{{labels}}}")).copied();
            assert_eq!(count, Some(buckets.last().unwrap().1), "{family}{{{labels}}} +Inf != count");
        }
    }
    samples
}

#[tokio::test]
async fn metrics_exposition_is_well_formed() {
    let server = start().await;
    for _ in 0..3 {
        server.result("status", "[]").await;
    }
    server.call("noSuchMethod", "[]").await;
    server.rpc("{").await;
    let answer = server.get("/metrics").await;
    assert_eq!(answer.status, 200);
    assert!(answer.headers.get("content-type").unwrap().to_str().unwrap().contains("openmetrics-text"));
    let samples = check_exposition(&answer.text);
    assert_eq!(samples.get(r#"tally_rpc_requests_total{method="status"}"#), Some(&3.0), "{}", answer.text);
    assert_eq!(samples.get(r#"tally_rpc_requests_total{method="unknown"}"#), Some(&1.0));
    assert_eq!(samples.get(r#"tally_rpc_requests_total{method="invalid"}"#), Some(&1.0));
    assert_eq!(samples.get(r#"tally_rpc_request_seconds_count{method="status"}"#), Some(&3.0));
    assert_eq!(samples.get("tally_height"), Some(&42.0), "the node's metrics share the registry");
    let families: HashSet<&str> = answer.text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).collect();
    assert!(families.contains("tally_rpc_request_seconds histogram"));
    assert!(families.contains("tally_rpc_requests counter"));
    assert_eq!(server.metrics.requests("status"), 3);
    server.stop().await;
}

#[test]
fn exposition_checker_catches_malformed_text() {
    let good = "# TYPE a counter\na_total 1\n# EOF";
    check_exposition(good);
    for bad in [
        "a_total 1\n# EOF",
        "# TYPE a counter\na_total x\n# EOF",
        "# TYPE a counter\na_total{l=\"x} 1\n# EOF",
        "# TYPE a counter\na_total 1",
    ] {
        assert!(std::panic::catch_unwind(|| check_exposition(bad)).is_err(), "{bad}");
    }
}
