//! Tally's system-test harness: real `tally-node` processes on 127.0.0.1, in a temporary
//! directory, driven only over JSON-RPC and the CLIs.
//!
//! ```ignore
//! let mut net = Net::start(4);
//! net.wait_height(3).await;
//! net.kill(1);
//! net.restart(1);
//! ```
//!
//! Every wait is bounded; every process is killed when the [`Net`] drops, even when a test
//! fails, and the directory (with each node's `node.log`) is kept and its path printed when the
//! test panicked.
#![deny(missing_docs)]

pub mod chain;
pub mod checks;
pub mod load_report;
pub mod netns;
pub mod scenario;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tally_rpc::RpcClient;

/// Where the workspace's binaries are: next to the test executable's `deps/` directory.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    // A binary of this crate (`tally-load`) runs from the profile directory itself.
    let beside = exe.parent().map(|d| d.join(name)).filter(|p| p.exists());
    let path = beside.unwrap_or_else(|| dir.join(name));
    assert!(
        path.exists(),
        "{} not found: build the binaries first (`cargo build --workspace --bins`, which `make test` does)",
        path.display()
    );
    path
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// One network at a time per test binary: a 2-core machine cannot run several fairly.
static ONE_NETWORK: Mutex<()> = Mutex::new(());

/// `count` consecutive free TCP ports on 127.0.0.1 (checked by binding them).
pub fn free_ports(count: u16) -> u16 {
    // Below Linux's ephemeral range (32768+), where outgoing connections take their ports.
    const LOW: u16 = 10_000;
    const HIGH: u16 = 32_000;
    if NEXT_PORT.load(Ordering::SeqCst) == 0 {
        let seed = LOW + (std::process::id() % 1_000) as u16 * 20;
        let _ = NEXT_PORT.compare_exchange(0, seed, Ordering::SeqCst, Ordering::SeqCst);
    }
    loop {
        let base = NEXT_PORT.fetch_add(count, Ordering::SeqCst);
        if base > HIGH {
            NEXT_PORT.store(LOW, Ordering::SeqCst);
            continue;
        }
        let all_free = (0..count).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if all_free {
            return base;
        }
    }
}

/// Settings every test network uses: short intervals so that tests are quick.
pub const FAST_SETTINGS: &[&str] = &[
    "consensus.empty_block_interval_ms=200",
    "consensus.timeout_propose_ms=1500",
    "consensus.timeout_prevote_ms=500",
    "consensus.timeout_precommit_ms=500",
    "consensus.timeout_delta_ms=250",
];

/// One node of a [`Net`].
pub struct Node {
    /// Its home directory.
    pub home: PathBuf,
    /// Its RPC port.
    pub rpc_port: u16,
    /// Its P2P port.
    pub p2p_port: u16,
    child: Option<Child>,
    paused: bool,
    extra_args: Vec<String>,
    /// The IPv4 address its RPC and P2P listen on and are reached at (`127.0.0.1` unless
    /// [`Net::set_hosts`] placed it elsewhere).
    host: String,
    /// A command its `tally-node` runs under, e.g. `ip netns exec NS` (none by default).
    launcher: Vec<String>,
}

impl Node {
    /// The RPC URL.
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.rpc_port)
    }

    /// The IPv4 address it listens on (`127.0.0.1` unless [`Net::set_hosts`] moved it).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// A client for this node.
    pub fn client(&self) -> RpcClient {
        RpcClient::new(self.url()).with_timeout(Duration::from_secs(10))
    }

    /// True if the process runs.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// True while the process is stopped by [`Net::pause`].
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The process id while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// A network of real node processes.
pub struct Net {
    _turn: Option<MutexGuard<'static, ()>>,
    dir: Option<tempfile::TempDir>,
    /// The nodes, validators first.
    pub nodes: Vec<Node>,
    node_bin: PathBuf,
    settings: Vec<String>,
}

fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status();
}

impl Net {
    /// Lays out and starts `validators` nodes of the development chain with [`FAST_SETTINGS`].
    pub fn start(validators: u32) -> Net {
        Net::start_with(validators, &[])
    }

    /// [`Net::start`] with extra `--set` settings for every node.
    pub fn start_with(validators: u32, settings: &[&str]) -> Net {
        let mut net = Net::layout(validators);
        net.settings.extend(settings.iter().map(|s| s.to_string()));
        for i in 0..net.nodes.len() {
            net.launch(i);
        }
        net
    }

    /// Lays out `validators` nodes without starting them.
    pub fn layout(validators: u32) -> Net {
        let turn = ONE_NETWORK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Net::layout_chain(validators, "tally-devnet", Some(turn))
    }

    /// A one-validator network of another chain (`other-devnet`) whose node dials `net`'s
    /// nodes; for tests of peers that must be refused. Not started.
    pub fn layout_unlocked_other_chain(net: &Net) -> Net {
        let mut foreign = Net::layout_chain(1, "other-devnet", None);
        for node in &net.nodes {
            foreign.nodes[0].extra_args.push("--peer".into());
            foreign.nodes[0].extra_args.push(format!("/ip4/127.0.0.1/tcp/{}", node.p2p_port));
        }
        foreign
    }

    fn layout_chain(validators: u32, chain_id: &str, turn: Option<MutexGuard<'static, ()>>) -> Net {
        let node_bin = binary("tally-node");
        let dir = tempfile::Builder::new().prefix("tally-net-").tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let base = free_ports(validators as u16 * 2);
        let (rpc_base, p2p_base) = (base, base + validators as u16);
        let status = Command::new(&node_bin)
            .args(["testnet", "--validators", &validators.to_string(), "--chain-id", chain_id, "--dir"])
            .arg(dir.path())
            .args(["--rpc-port-base", &rpc_base.to_string(), "--p2p-port-base", &p2p_base.to_string()])
            .stdout(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("running tally-node testnet: {e}"));
        assert!(status.success(), "tally-node testnet failed");
        let nodes = (0..validators as u16)
            .map(|i| Node {
                home: dir.path().join(format!("node{i}")),
                rpc_port: rpc_base + i,
                p2p_port: p2p_base + i,
                child: None,
                paused: false,
                extra_args: Vec::new(),
                host: "127.0.0.1".to_string(),
                launcher: Vec::new(),
            })
            .collect();
        Net {
            _turn: turn,
            dir: Some(dir),
            nodes,
            node_bin,
            settings: FAST_SETTINGS.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The directory holding every node's home.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().map(|d| d.path()).unwrap_or_else(|| Path::new("."))
    }

    /// Node `i`'s home directory (`<dir>/node<i>` for a validator).
    pub fn home(&self, i: usize) -> &Path {
        &self.nodes[i].home
    }

    /// Node `i`'s P2P address, `/ip4/127.0.0.1/tcp/<port>` (its own host after
    /// [`Net::set_hosts`]).
    pub fn p2p_addr(&self, i: usize) -> String {
        format!("/ip4/{}/tcp/{}", self.nodes[i].host, self.nodes[i].p2p_port)
    }

    /// Places node `i` at `hosts[i]` (IPv4 addresses; one per node, before any is launched):
    /// its RPC and P2P listen there, [`Node::url`] and [`Net::p2p_addr`] use it, and every
    /// node's bootstrap peers become the others' addresses at their hosts. Without it every
    /// node is on 127.0.0.1, as before.
    pub fn set_hosts(&mut self, hosts: &[String]) {
        assert_eq!(hosts.len(), self.nodes.len(), "one host per node");
        assert!(self.nodes.iter().all(|n| !n.is_running()), "set_hosts before launching");
        for (node, host) in self.nodes.iter_mut().zip(hosts) {
            node.host = host.clone();
        }
        let peers: Vec<String> = (0..self.nodes.len()).map(|i| self.p2p_addr(i)).collect();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            node.extra_args.extend([
                "--p2p-listen".to_string(),
                peers[i].clone(),
                "--rpc-listen".to_string(),
                format!("{}:{}", node.host, node.rpc_port),
            ]);
            for (j, peer) in peers.iter().enumerate() {
                if j != i {
                    node.extra_args.extend(["--peer".to_string(), peer.clone()]);
                }
            }
        }
    }

    /// Runs node `i`'s `tally-node` under `launcher` from its next launch on, e.g.
    /// `["ip", "netns", "exec", "NS"]` (which execs, so the process id is still the node's).
    pub fn set_launcher(&mut self, i: usize, launcher: &[&str]) {
        self.nodes[i].launcher = launcher.iter().map(|s| s.to_string()).collect();
    }

    /// Adds a full node (no consensus key) that knows every validator; not started.
    pub fn add_full_node(&mut self) -> usize {
        let index = self.nodes.len();
        let home = self.dir().join(format!("full{index}"));
        let status = Command::new(&self.node_bin)
            .args(["init", "--full-node", "--moniker", &format!("full{index}"), "--home"])
            .arg(&home)
            .arg("--genesis")
            .arg(self.nodes[0].home.join("genesis.json"))
            .stdout(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("tally-node init: {e}"));
        assert!(status.success(), "tally-node init --full-node failed");
        let ports = free_ports(2);
        let peers: Vec<String> = self.nodes.iter().map(|n| format!("/ip4/127.0.0.1/tcp/{}", n.p2p_port)).collect();
        let mut extra_args = vec![
            "--p2p-listen".to_string(),
            format!("/ip4/127.0.0.1/tcp/{}", ports + 1),
            "--rpc-listen".to_string(),
            format!("127.0.0.1:{ports}"),
        ];
        for peer in peers {
            extra_args.push("--peer".into());
            extra_args.push(peer);
        }
        self.nodes.push(Node {
            home,
            rpc_port: ports,
            p2p_port: ports + 1,
            child: None,
            paused: false,
            extra_args,
            host: "127.0.0.1".to_string(),
            launcher: Vec::new(),
        });
        index
    }

    /// Starts node `i`'s process (its log goes to `<home>/node.log`, appended across restarts).
    pub fn launch(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "node {i} is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.home.join("node.log"))
            .unwrap_or_else(|e| panic!("node.log: {e}"));
        let mut command = match node.launcher.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(&self.node_bin);
                command
            }
            None => Command::new(&self.node_bin),
        };
        command.arg("start").arg("--home").arg(&node.home);
        for setting in &self.settings {
            command.args(["--set", setting]);
        }
        command.args(&node.extra_args);
        command.env("RUST_LOG", node_log_filter());
        let err = log.try_clone().unwrap_or_else(|e| panic!("node.log: {e}"));
        let child = command.stdout(log).stderr(err).spawn().unwrap_or_else(|e| panic!("starting node {i}: {e}"));
        node.child = Some(child);
        node.paused = false;
    }

    /// SIGKILL node `i` and reap it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            if self.nodes[i].paused {
                signal(&child, "CONT");
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM node `i` and wait (bounded) for a clean exit; returns its exit status code.
    pub fn stop(&mut self, i: usize) -> Option<i32> {
        let mut child = self.nodes[i].child.take()?;
        signal(&child, "TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("node {i} did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts node `i` again from its home.
    pub fn restart(&mut self, i: usize) {
        self.launch(i);
    }

    /// SIGSTOP node `i`.
    pub fn pause(&mut self, i: usize) {
        if let Some(child) = &self.nodes[i].child {
            signal(child, "STOP");
            self.nodes[i].paused = true;
        }
    }

    /// SIGCONT node `i`.
    pub fn resume(&mut self, i: usize) {
        if let Some(child) = &self.nodes[i].child {
            signal(child, "CONT");
            self.nodes[i].paused = false;
        }
    }

    /// A client of node `i`.
    pub fn client(&self, i: usize) -> RpcClient {
        self.nodes[i].client()
    }

    /// Adds `--set` settings used by every later launch.
    pub fn set(&mut self, setting: &str) {
        self.settings.push(setting.to_string());
    }

    /// The whole lines of node `i`'s `data/signed.jsonl` as JSON values. A last line without its
    /// newline is an append a SIGKILL cut short (never fsynced, so never sent): it is left out,
    /// as the node itself cuts it off when it starts again.
    pub fn signed_messages(&self, i: usize) -> Vec<serde_json::Value> {
        let path = self.nodes[i].home.join("data").join("signed.jsonl");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let whole = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
        whole
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("signed.jsonl line {l:?}: {e}")))
            .collect()
    }

    /// The contents of node `i`'s log.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.nodes[i].home.join("node.log")).unwrap_or_default()
    }

    /// Node `i`'s log without the ANSI colour sequences the node writes (`key=value` fields
    /// then read as they print).
    pub fn plain_log(&self, i: usize) -> String {
        strip_ansi(&self.log(i))
    }

    /// Node `i`'s committed height, if it answers.
    pub async fn height(&self, i: usize) -> Option<u64> {
        self.client(i).status().await.ok().map(|s| s.latest_height)
    }

    /// Waits until every running, unpaused node has committed `height`; panics after `limit`.
    pub async fn wait_height_within(&self, height: u64, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let mut all = true;
            for (i, node) in self.nodes.iter().enumerate() {
                if node.is_running() && !node.paused && self.height(i).await.is_none_or(|h| h < height) {
                    all = false;
                }
            }
            if all {
                return;
            }
            if Instant::now() > deadline {
                let mut heights = Vec::new();
                for i in 0..self.nodes.len() {
                    heights.push(self.height(i).await);
                }
                panic!(
                    "height {height} not reached within {limit:?}; heights {heights:?}; logs in {}",
                    self.dir().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// [`Net::wait_height_within`] with a generous default bound (60 s).
    pub async fn wait_height(&self, height: u64) {
        self.wait_height_within(height, Duration::from_secs(60)).await
    }

    /// Waits until node `i` answers RPC.
    pub async fn wait_ready(&self, i: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.height(i).await.is_none() {
            assert!(Instant::now() < deadline, "node {i} did not answer RPC within {limit:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Net {
    /// True while node `i` is stopped by [`Net::pause`].
    pub fn is_paused(&self, i: usize) -> bool {
        self.nodes[i].is_paused()
    }

    /// Runs the four checkers of [`checks`] over every running, unpaused node: every transfer
    /// in `acknowledged` (acknowledged as committed) is in every chain exactly once; the ledger
    /// replays from genesis with no negative balance, nonces rising by one and the supply kept,
    /// and agrees with what the nodes report; every node has the same block hash and state root
    /// at every height; no node's `signed.jsonl` holds two different messages for one height,
    /// round and type. Returns the fetched data for figures such as [`checks::longest_gap`].
    pub async fn check_all(&self, acknowledged: &[tally_ledger::Hash]) -> Result<checks::Snapshot, String> {
        checks::check_all(self, acknowledged).await
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        if std::thread::panicking() || std::env::var_os("TALLY_TEST_KEEP_LOGS").is_some() {
            if let Some(dir) = self.dir.take() {
                let path = dir.keep();
                eprintln!("network logs kept in {}", path.display());
            }
        }
    }
}

/// The nodes' log filter: `TALLY_TEST_NODE_LOG` when set (for example
/// `info,tally_node=debug,libp2p_gossipsub=debug` to follow gossip), else debug for the node.
fn node_log_filter() -> String {
    std::env::var("TALLY_TEST_NODE_LOG").unwrap_or_else(|_| "info,tally_node=debug,libp2p=warn".to_owned())
}

/// `text` without ANSI colour sequences (`ESC [ ... letter`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod log_tests {
    #[test]
    fn colour_sequences_are_stripped_and_the_text_kept() {
        let line = "\u{1b}[32m INFO\u{1b}[0m store opened \u{1b}[3mreplayed_blocks\u{1b}[0m\u{1b}[2m=\u{1b}[0m5";
        assert_eq!(super::strip_ansi(line), " INFO store opened replayed_blocks=5");
    }
}
