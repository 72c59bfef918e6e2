//! The `tally` wallet as a person or a script uses it: the real binary, a temporary wallet home,
//! and (where a node is needed) a real four-validator network.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tally_ledger::genesis::dev_account_seed;
use tally_ledger::{ChainId, Transfer, TransferBody};
use tally_tests::chain::{dev_key, dev_public};
use tally_tests::{binary, free_ports, Net};

/// Every wallet command must finish within this.
const COMMAND_LIMIT: Duration = Duration::from_secs(90);
const PASSPHRASE: &str = "wallet test passphrase";

/// What a finished command did.
#[derive(Debug)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn ok(self) -> Outcome {
        assert_eq!(self.code, 0, "command failed: {self:#?}");
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    /// Asserts a failure with `code` whose stderr mentions every one of `needles`.
    fn fails(self, code: i32, needles: &[&str]) -> Outcome {
        assert_eq!(self.code, code, "exit code: {self:#?}");
        for needle in needles {
            assert!(self.stderr.contains(needle), "stderr lacks {needle:?}: {self:#?}");
        }
        self
    }
}

/// Runs `command` with stdin closed, killing it if it outlives [`COMMAND_LIMIT`].
fn run_bounded(mut command: Command) -> Outcome {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {command:?}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(COMMAND_LIMIT) {
        Ok(Ok(output)) => Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        },
        Ok(Err(e)) => panic!("waiting for {command:?}: {e}"),
        Err(_) => {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            panic!("{command:?} did not finish within {COMMAND_LIMIT:?}");
        }
    }
}

/// A wallet home in a temporary directory, pointed at one node.
struct Wallet {
    home: tempfile::TempDir,
    rpc: String,
}

impl Wallet {
    fn new(rpc: &str) -> Wallet {
        let home = tempfile::Builder::new().prefix("tally-wallet-").tempdir().unwrap();
        Wallet { home, rpc: rpc.to_string() }
    }

    fn command(&self, passphrase: Option<&str>, args: &[&str]) -> Command {
        let mut command = Command::new(binary("tally"));
        command.arg("--home").arg(self.home.path()).arg("--rpc").arg(&self.rpc).args(args);
        for name in ["TALLY_WALLET_RPC", "TALLY_WALLET_HOME", "TALLY_PASSPHRASE"] {
            command.env_remove(name);
        }
        if let Some(passphrase) = passphrase {
            command.env("TALLY_PASSPHRASE", passphrase);
        }
        command
    }

    /// Runs `tally ARGS` with the test passphrase.
    fn run(&self, args: &[&str]) -> Outcome {
        run_bounded(self.command(Some(PASSPHRASE), args))
    }

    /// Runs `tally ARGS` with another passphrase (or none).
    fn run_with(&self, passphrase: Option<&str>, args: &[&str]) -> Outcome {
        run_bounded(self.command(passphrase, args))
    }

    fn key_file(&self, name: &str) -> PathBuf {
        self.home.path().join("keys").join(format!("{name}.json"))
    }

    fn import_dev(&self, name: &str, k: u32) {
        let seed = hex::encode(dev_account_seed(k));
        let out = self.run(&["keys", "import", name, "--seed-hex", &seed]).ok();
        assert!(out.stdout.contains(&dev_public(k).address().to_string()), "{out:#?}");
    }

    fn address(&self, name: &str) -> String {
        self.run(&["keys", "show", name, "--address"]).ok().stdout.trim().to_string()
    }

    fn balance(&self, target: &str) -> u64 {
        let account = self.run(&["balance", target, "--output", "json"]).ok().json();
        account["balance"].as_str().and_then(|b| b.parse().ok()).unwrap_or_else(|| panic!("balance in {account}"))
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Starts a four-validator devnet and waits until node 0, the wallet's node, has committed a
/// block. (Only node 0 is asked: the wallet talks to one node, and three of four validators
/// keep the chain going should one be slow to join.)
async fn devnet() -> Net {
    let net = Net::start(4);
    net.wait_ready(0, Duration::from_secs(60)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while net.height(0).await.unwrap_or(0) < 1 {
        assert!(std::time::Instant::now() < deadline, "node 0 committed no block within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    net
}

/// The URL of a port nothing listens on.
fn closed_port_url() -> String {
    format!("http://127.0.0.1:{}", free_ports(1))
}

#[test]
fn keys_offline_signing_and_local_errors_need_no_node() {
    let wallet = Wallet::new(&closed_port_url());

    // keys new: 24 words shown once, an encrypted file of mode 0600 in a 0700 directory.
    let created = wallet.run(&["keys", "new", "alice", "--output", "json"]).ok();
    let info = created.json();
    let words: Vec<&str> = info["mnemonic"].as_str().unwrap().split(' ').collect();
    assert_eq!(words.len(), 24);
    assert_eq!(info["derivation_path"], "m/44'/7337'/0'/0'/0'");
    assert!(created.stderr.contains("shown only this once"), "{created:#?}");
    assert_eq!(mode(&wallet.key_file("alice")), 0o600);
    assert_eq!(mode(&wallet.home.path().join("keys")), 0o700);
    let file: Value = serde_json::from_str(&std::fs::read_to_string(wallet.key_file("alice")).unwrap()).unwrap();
    assert_eq!(file["version"], 1);
    assert_eq!(file["kdf"]["name"], "argon2id");
    assert_eq!((file["kdf"]["m"].as_u64(), file["kdf"]["t"].as_u64()), (Some(65536), Some(3)));
    assert_eq!(file["cipher"]["name"], "xchacha20poly1305");
    assert_eq!(file["address"], info["address"]);
    assert!(!std::fs::read_to_string(wallet.key_file("alice")).unwrap().contains(&words.join(" ")));

    // The mnemonic restores the same key; a second key of the same name is refused.
    let mnemonic = words.join(" ");
    let restored = wallet.run(&["keys", "import", "alice2", "--mnemonic", &mnemonic, "--output", "json"]).ok();
    assert_eq!(restored.json()["address"], info["address"]);
    wallet.run(&["keys", "new", "alice"]).fails(1, &["already exists"]);

    // A development key is one command; show and export agree with the devnet's seeds.
    wallet.import_dev("dev0", 0);
    let shown = wallet.run(&["keys", "show", "dev0", "--output", "json"]).ok().json();
    assert_eq!(shown["public_key"], hex::encode(dev_public(0).0));
    assert_eq!(shown["address"], dev_public(0).address().to_string());
    let listed = wallet.run(&["keys", "list", "--output", "json"]).ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 3);
    wallet.run(&["keys", "export", "dev0"]).fails(1, &["--yes"]);
    let exported = wallet.run(&["keys", "export", "dev0", "--yes"]).ok();
    assert_eq!(exported.stdout.trim(), hex::encode(dev_account_seed(0)));

    // Wrong passphrase, tampered file, unknown key, ambiguous default.
    wallet
        .run_with(Some("not the passphrase"), &["keys", "export", "dev0", "--yes"])
        .fails(1, &["wrong passphrase or corrupted key file"]);
    let mut tampered: Value =
        serde_json::from_str(&std::fs::read_to_string(wallet.key_file("alice2")).unwrap()).unwrap();
    let ciphertext = tampered["ciphertext"].as_str().unwrap().to_string();
    let flipped = if ciphertext.starts_with('0') { "1" } else { "0" };
    tampered["ciphertext"] = Value::String(format!("{flipped}{}", &ciphertext[1..]));
    std::fs::write(wallet.key_file("alice2"), tampered.to_string()).unwrap();
    wallet.run(&["keys", "export", "alice2", "--yes"]).fails(1, &["wrong passphrase or corrupted key file"]);
    tampered["version"] = Value::from(9);
    std::fs::write(wallet.key_file("alice2"), tampered.to_string()).unwrap();
    wallet.run(&["keys", "export", "alice2", "--yes"]).fails(1, &["unsupported key file version 9"]);
    wallet.run(&["--key", "nobody", "balance"]).fails(1, &["no key named \"nobody\""]);
    wallet.run(&["balance", "nobody"]).fails(1, &["no key named \"nobody\""]);
    wallet.run(&["balance"]).fails(1, &["choose one with --key"]);

    // Strict amounts: refused before anything else happens, with a message, exit 1.
    let to = dev_public(1).address().to_string();
    for bad in ["1.5", "1e3", "-1", "+1", " 1", "0x10", "", "1,000", "01", "18446744073709551616", "0"] {
        let out = wallet.run(&["--key", "dev0", "send", "--to", &to, "--amount", bad]);
        out.fails(1, &["--amount"]);
    }
    wallet.run(&["--key", "dev0", "send", "--to", &to, "--amount", "5", "--fee", "1.0"]).fails(1, &["--fee"]);

    // A bad address checksum, a memo over 64 bytes.
    let mut broken = to.clone();
    let last = broken.pop().unwrap();
    broken.push(if last == 'q' { 'p' } else { 'q' });
    wallet.run(&["--key", "dev0", "send", "--to", &broken, "--amount", "5"]).fails(1, &["--to", "checksum"]);
    let memo = "m".repeat(65);
    wallet.run(&["--key", "dev0", "send", "--to", &to, "--amount", "5", "--memo", &memo]).fails(1, &["64 bytes"]);

    // No node: every network command says how to fix it, exit 2.
    for args in [&["status"][..], &["balance", "dev0"], &["--key", "dev0", "send", "--to", &to, "--amount", "5"]] {
        wallet.run(args).fails(2, &["cannot reach the node at http://127.0.0.1:", "is tally-node running?"]);
    }
    let json = wallet.run(&["status", "--output", "json"]).fails(2, &[]).json();
    assert_eq!(json["error"]["kind"], "unreachable");

    // Offline signing: the exact bytes of SPEC §3, with no node anywhere.
    let signed = wallet
        .run(&[
            "--key",
            "dev0",
            "sign",
            "--to",
            &to,
            "--amount",
            "5",
            "--nonce",
            "3",
            "--fee",
            "2",
            "--memo",
            "inv-1",
            "--valid-until",
            "77",
        ])
        .ok();
    let expected = TransferBody {
        chain_id: ChainId::new("tally-devnet").unwrap(),
        from: dev_public(0),
        to: dev_public(1),
        amount: 5,
        fee: 2,
        nonce: 3,
        valid_until: 77,
        memo: b"inv-1".to_vec(),
    }
    .sign(&dev_key(0))
    .unwrap();
    assert_eq!(signed.stdout.trim(), hex::encode(expected.encode()));

    // Completions and help.
    let completions = wallet.run(&["completions", "bash"]).ok();
    assert!(completions.stdout.contains("tally"));
    let help = wallet.run(&["--help"]).ok();
    assert!(help.stdout.contains("Examples") && help.stdout.contains("Exit codes"), "{help:#?}");
    wallet.run(&["frobnicate"]).fails(1, &["frobnicate"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fund_a_key_send_history_tx_sign_broadcast_and_rejections_on_a_devnet() {
    let net = devnet().await;
    let wallet = Wallet::new(&net.nodes[0].url());
    wallet.import_dev("dev0", 0);
    wallet.run(&["keys", "new", "alice"]).ok();
    wallet.run(&["keys", "new", "bob"]).ok();
    let (alice, bob) = (wallet.address("alice"), wallet.address("bob"));
    let dev0 = dev_public(0).address().to_string();
    let dev0_before = wallet.balance("dev0");

    // Fund alice from the development account and wait for finality.
    let sent = wallet
        .run(&[
            "--key", "dev0", "send", "--to", &alice, "--amount", "1000000", "--memo", "hello", "--wait", "--output",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(sent["status"], "committed", "{sent}");
    assert!(sent["height"].as_u64().is_some(), "{sent}");
    assert_eq!(sent["amount"], "1000000");
    assert_eq!(sent["fee"], "1");
    assert_eq!(sent["memo"], hex::encode("hello"));
    let hash = sent["hash"].as_str().unwrap().to_string();
    let tx = Transfer::decode(&hex::decode(sent["tx"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(tx.hash().to_hex(), hash);
    assert!(tx.valid_until > 0, "valid_until = height + the default --valid-for");
    assert_eq!(wallet.balance("alice"), 1_000_000);
    assert_eq!(wallet.balance(&dev0), dev0_before - 1_000_001);

    // Text mode of --wait prints the height and the time to finality.
    let text = wallet.run(&["--key", "dev0", "send", "--to", &alice, "--amount", "1", "--wait"]).ok();
    assert!(text.stdout.contains("committed") && text.stdout.contains("final in"), "{text:#?}");

    // History on both sides, and `tx`.
    for who in ["alice", "dev0"] {
        let page = wallet.run(&["history", who, "--output", "json"]).ok().json();
        let hashes: Vec<&str> =
            page["transactions"].as_array().unwrap().iter().filter_map(|t| t["hash"].as_str()).collect();
        assert!(hashes.contains(&hash.as_str()), "{who}: {page}");
    }
    let paged = wallet.run(&["history", "alice", "--limit", "1", "--output", "json"]).ok().json();
    assert_eq!(paged["transactions"].as_array().unwrap().len(), 1);
    let cursor = paged["next"].as_str().expect("a next cursor after a full page").to_string();
    let next = wallet.run(&["history", "alice", "--limit", "1", "--before", &cursor, "--output", "json"]).ok().json();
    assert_eq!(next["transactions"][0]["hash"], hash.as_str(), "the older transfer is on page two");
    let text = wallet.run(&["history", "alice", "--limit", "1"]).ok();
    assert!(text.stdout.contains("--before"), "text history prints the next cursor: {text:#?}");
    let info = wallet.run(&["tx", &hash, "--output", "json"]).ok().json();
    assert_eq!(info["status"], "committed");
    assert_eq!(info["from"], dev0.as_str());
    assert_eq!(info["to"], alice.as_str());
    assert_eq!(info["amount"], "1000000");
    let text = wallet.run(&["tx", &hash]).ok();
    assert!(text.stdout.contains("committed") && text.stdout.contains("1,000,000"), "{text:#?}");

    // Two sends in a row, the first not yet final: the second takes the next nonce.
    let first =
        wallet.run(&["--key", "alice", "send", "--to", &bob, "--amount", "1000", "--output", "json"]).ok().json();
    let second = wallet
        .run(&["--key", "alice", "send", "--to", &bob, "--amount", "250", "--wait", "--output", "json"])
        .ok()
        .json();
    assert_eq!((first["nonce"].as_str(), second["nonce"].as_str()), (Some("0"), Some("1")));
    assert_eq!(second["status"], "committed");
    let first_hash = first["hash"].as_str().unwrap();
    let mut committed = false;
    for _ in 0..100 {
        if wallet.run(&["tx", first_hash, "--output", "json"]).ok().json()["status"] == "committed" {
            committed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(committed, "the first of two quick sends commits too");
    assert_eq!(wallet.balance("bob"), 1_250);

    // Insufficient funds, with the numbers.
    wallet
        .run(&["--key", "bob", "send", "--to", &alice, "--amount", "2000"])
        .fails(3, &["insufficient funds: balance 1,250, needed 2,001 including the fee of 1"]);
    let json = wallet.run(&["--key", "bob", "send", "--to", &alice, "--amount", "2000", "--output", "json"]).json();
    assert_eq!(json["error"]["kind"], "insufficient_funds");

    // Offline sign, then broadcast --wait; broadcasting again is idempotent.
    let hex_tx = wallet
        .run(&["--key", "alice", "sign", "--to", &bob, "--amount", "7", "--nonce", "2"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let broadcast = wallet.run(&["broadcast", &hex_tx, "--wait", "--output", "json"]).ok().json();
    assert_eq!(broadcast["status"], "committed", "{broadcast}");
    assert_eq!(wallet.balance("bob"), 1_257);
    let again = wallet.run(&["broadcast", &hex_tx, "--output", "json"]).ok().json();
    assert_eq!(again["status"], "committed");

    // A used nonce, another chain, a fee below the minimum, an unknown hash, a bad transfer.
    let reused = wallet.run(&["--key", "alice", "sign", "--to", &bob, "--amount", "8", "--nonce", "2"]).ok();
    wallet.run(&["broadcast", reused.stdout.trim()]).fails(3, &["bad nonce", "next nonce is 3"]);
    let other_chain = wallet.run(&[
        "--key",
        "alice",
        "sign",
        "--to",
        &bob,
        "--amount",
        "8",
        "--nonce",
        "3",
        "--chain-id",
        "other-devnet",
    ]);
    wallet.run(&["broadcast", other_chain.ok().stdout.trim()]).fails(3, &["wrong chain", "tally-devnet"]);
    wallet
        .run(&["--key", "alice", "send", "--to", &bob, "--amount", "8", "--fee", "0"])
        .fails(3, &["fee too low", "--fee"]);
    wallet.run(&["tx", &"ab".repeat(32)]).fails(4, &["unknown"]);
    wallet.run(&["tx", "xyz"]).fails(1, &["64 hex"]);
    wallet.run(&["broadcast", "00ff"]).fails(1, &["invalid transfer"]);

    // Status.
    let status = wallet.run(&["status", "--output", "json"]).ok().json();
    assert_eq!(status["chain_id"], "tally-devnet");
    assert!(status["peers"].as_u64().is_some());
    let text = wallet.run(&["status"]).ok();
    assert!(text.stdout.contains("tally-devnet") && text.stdout.contains("peers"), "{text:#?}");
}

/// The fenced ```sh block after the WALKTHROUGH heading of wallet-cli/README.md.
fn walkthrough() -> Vec<String> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wallet-cli/README.md");
    let text = std::fs::read_to_string(&readme).unwrap_or_else(|e| panic!("{}: {e}", readme.display()));
    let section = text.split("## WALKTHROUGH").nth(1).expect("a WALKTHROUGH section");
    let block = section.split("```sh\n").nth(1).expect("a ```sh block").split("```").next().unwrap();
    block.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walkthrough_runs_command_for_command() {
    let lines = walkthrough();
    assert!(lines.len() >= 8, "the walkthrough has commands: {lines:?}");
    let net = devnet().await;
    let home = tempfile::Builder::new().prefix("tally-walkthrough-").tempdir().unwrap();
    let bin_dir = binary("tally").parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut exported: Vec<(String, String)> = Vec::new();
    for line in &lines {
        // `export NAME=VALUE` lines set the variable for the lines after them, as in a shell.
        if let Some(assignment) = line.strip_prefix("export ") {
            let (name, value) = assignment.split_once('=').expect("export NAME=VALUE");
            exported.push((name.to_string(), value.trim_matches('"').trim_matches('\'').to_string()));
            continue;
        }
        let mut command = Command::new("sh");
        command.arg("-c").arg(line).current_dir(home.path());
        for name in ["TALLY_WALLET_HOME", "TALLY_PASSPHRASE"] {
            command.env_remove(name);
        }
        command.env("HOME", home.path()).env("PATH", &path).env("TALLY_WALLET_RPC", net.nodes[0].url());
        for (name, value) in &exported {
            command.env(name, value);
        }
        let out = run_bounded(command);
        eprintln!("$ {line}\n{}{}", out.stdout, out.stderr);
        assert_eq!(out.code, 0, "walkthrough line failed: {line}\n{out:#?}");
    }
    // It did what it says: alice holds what dev0 sent.
    let mut command = Command::new(binary("tally"));
    command.args(["--home"]).arg(home.path().join(".tally")).args(["--rpc", &net.nodes[0].url()]);
    command.args(["balance", "alice", "--output", "json"]).env_remove("TALLY_WALLET_HOME");
    let account = run_bounded(command).ok().json();
    assert_ne!(account["balance"], "0", "alice was paid: {account}");
}
