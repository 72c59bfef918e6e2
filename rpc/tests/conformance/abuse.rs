//! 1,000 hostile bodies: the server answers every one sensibly, never changes the node's state,
//! and still serves real calls afterwards.

use crate::harness::start;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn hostile_body(rng: &mut ChaCha8Rng, i: usize) -> Vec<u8> {
    let methods = [
        "status",
        "getAccount",
        "getTransaction",
        "getBlock",
        "getTransactionsByAddress",
        "getValidators",
        "getEvidence",
        "rpc.discover",
        "subscribe",
        "x",
    ];
    match i % 10 {
        0 => (0..rng.gen_range(0..4096)).map(|_| rng.gen()).collect(),
        1 => {
            let depth = rng.gen_range(100..200_000);
            let open = if rng.gen() { "[" } else { "{\"a\":" };
            let mut body = open.repeat(depth);
            if rng.gen() {
                body.push_str(&(if open == "[" { "]" } else { "}" }).repeat(depth));
            }
            body.into_bytes()
        }
        2 => {
            let digits: String =
                (0..rng.gen_range(20..20_000)).map(|_| char::from(b'0' + rng.gen_range(0..10))).collect();
            let number = format!("1{digits}");
            let place = rng.gen_range(0..3);
            let (id, param) = match place {
                0 => (number.as_str(), "1"),
                1 => ("1", number.as_str()),
                _ => (number.as_str(), number.as_str()),
            };
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"getBlock","params":[{param}]}}"#).into_bytes()
        }
        3 if i % 100 == 3 => {
            // A body of about 2 MB.
            let mut body = br#"{"jsonrpc":"2.0","id":1,"method":"status","params":[""#.to_vec();
            body.extend(std::iter::repeat_n(b'a', 2 << 20));
            body.extend_from_slice(br#""]}"#);
            body
        }
        4 => {
            // A valid request, then random bytes flipped.
            let method = methods[rng.gen_range(0..methods.len())];
            let mut body = format!(
                r#"{{"jsonrpc":"2.0","id":{},"method":"{method}","params":["tally1q7h0rr3gzre7ht2czndl796ptue42vr7u7dx4c8dzvfcygc9t90qdcwww3",{}]}}"#,
                rng.gen::<u32>(),
                rng.gen::<u64>()
            )
            .into_bytes();
            for _ in 0..rng.gen_range(1..6) {
                let at = rng.gen_range(0..body.len());
                body[at] = rng.gen();
            }
            body
        }
        5 => {
            // Big batches of junk.
            let n = rng.gen_range(1..300);
            let items: Vec<String> = (0..n)
                .map(|_| match rng.gen_range(0..4) {
                    0 => "1".to_string(),
                    1 => "{}".to_string(),
                    2 => format!(r#"{{"jsonrpc":"2.0","method":"{}"}}"#, methods[rng.gen_range(0..methods.len())]),
                    _ => r#"{"jsonrpc":"2.0","id":[],"method":"status"}"#.to_string(),
                })
                .collect();
            format!("[{}]", items.join(",")).into_bytes()
        }
        6 => {
            // Wrong types everywhere.
            let values = ["null", "true", "[]", "{}", "\"\"", "-1", "1.5", "\"\\ud800\"", "1e999"];
            let mut pick = || values[rng.gen_range(0..values.len())];
            format!(r#"{{"jsonrpc":{},"id":{},"method":{},"params":{}}}"#, pick(), pick(), pick(), pick()).into_bytes()
        }
        7 => {
            // Strings with escapes and control characters.
            let s: String = (0..rng.gen_range(0..200)).map(|_| char::from(rng.gen_range(0u8..128))).collect();
            format!(
                r#"{{"jsonrpc":"2.0","id":"{}","method":"getTransaction","params":["{}"]}}"#,
                s.escape_default(),
                s.escape_debug()
            )
            .into_bytes()
        }
        8 => {
            let method = methods[rng.gen_range(0..methods.len())];
            let params = "[".repeat(rng.gen_range(1..5000));
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#).into_bytes()
        }
        _ => {
            let method = methods[rng.gen_range(0..methods.len())];
            let nested = format!("{}1{}", "[".repeat(130), "]".repeat(130));
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":[{nested}, {nested}]}}"#).into_bytes()
        }
    }
}

#[tokio::test]
async fn hostile_bodies_change_nothing() {
    let server = start().await;
    let before = server.fake.fingerprint();
    let mut rng = ChaCha8Rng::seed_from_u64(0x7a11);
    for i in 0..1000 {
        let body = hostile_body(&mut rng, i);
        let answer = server.post(body.clone()).await;
        match answer.status {
            200 => {
                // Syntax only: echoed ids may be numbers beyond any native type.
                let value: Box<serde_json::value::RawValue> = serde_json::from_str(&answer.text)
                    .unwrap_or_else(|e| panic!("body {i}: answer is not JSON ({e}): {}", answer.text));
                assert!(value.get().starts_with(['{', '[']), "body {i}: {}", answer.text);
            }
            204 | 413 => {}
            other => panic!("body {i} got HTTP {other}: {}", answer.text),
        }
    }
    assert_eq!(server.fake.fingerprint(), before);
    let status = server.result("status", "[]").await;
    assert_eq!(status["chain_id"], "tally-devnet");
    server.stop().await;
}
