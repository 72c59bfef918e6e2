//! docs/RPC.md: every method has an example, each example is one curl command against
//! `$TALLY_RPC`, and each one runs against a server and gets an answer that is not a protocol
//! error (when curl is installed).

use crate::fake::transfer_with;
use crate::harness::start;
use serde_json::Value;
use std::collections::BTreeSet;
use tally_rpc::methods::Method;

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/RPC.md");
    std::fs::read_to_string(path).expect("docs/RPC.md")
}

/// The contents of every ```sh block.
fn sh_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(block.trim().to_string());
                current = None;
            }
            (Some(block), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// The transfer of the `sendTransaction` example: development account 9 pays account 8.
pub fn example_transfer_hex() -> String {
    hex::encode(transfer_with(9, 8, 1, 0, 0, b"rpc-docs").encode())
}

#[tokio::test]
async fn every_example_is_one_runnable_curl_command() {
    let text = doc();
    let blocks = sh_blocks(&text);
    assert!(text.contains(&example_transfer_hex()), "sendTransaction example should carry {}", example_transfer_hex());
    let mut covered = BTreeSet::new();
    for block in &blocks {
        assert!(block.starts_with("curl -s $TALLY_RPC") || block.starts_with("curl -s \"$TALLY_RPC"), "{block}");
        assert!(!block.contains('\n'), "one line per example: {block}");
        for method in Method::ALL {
            if block.contains(&format!("\"method\":\"{}\"", method.name())) {
                covered.insert(method.name());
            }
        }
    }
    let http_methods: BTreeSet<&str> =
        Method::ALL.iter().filter(|m| !m.spec().websocket_only).map(|m| m.name()).collect();
    assert!(
        http_methods.is_subset(&covered),
        "methods without a curl example: {:?}",
        http_methods.difference(&covered)
    );
    if std::process::Command::new("curl").arg("--version").output().is_err() {
        eprintln!("curl is not installed: examples checked for shape only");
        return;
    }
    let server = start().await;
    // A chain that keeps committing, so the waiting example returns at commit.
    let fake = server.fake.clone();
    let chain = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            fake.commit_block();
        }
    });
    for block in blocks.iter().filter(|b| !b.contains("/metrics") && !b.contains("/health")) {
        let (command, url) = (block.clone(), server.url.clone());
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new("sh").arg("-c").arg(command).env("TALLY_RPC", url).output()
        })
        .await
        .unwrap()
        .unwrap();
        assert!(output.status.success(), "{block}: {}", String::from_utf8_lossy(&output.stderr));
        let answer: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{block}: not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)));
        let code = answer["error"]["code"].as_i64();
        assert!(!matches!(code, Some(-32700 | -32600 | -32601 | -32602)), "{block}: protocol error {answer}");
    }
    chain.abort();
    server.stop().await;
}
