//! Byzantine and network-abuse scenarios (issue 7), played by `tally-byz`, a misbehaving peer
//! built from the project's libraries: a validator that equivocates is recorded and cannot fork
//! the chain; a raw peer sending garbage is banned and the chain goes on; and a forged
//! far-future vote does not leave nodes polling their peers nonstop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};
use tally_ledger::genesis::public_key_of_seed;
use tally_tests::{binary, Net};

/// How long `tally-byz` runs.
const BYZ_SECS: u64 = 10;

/// A running `tally-byz`, killed when dropped (also when the test fails). Its output goes to
/// `<net dir>/byz-<mode>.log`, kept with the nodes' logs when a test fails.
struct Byz {
    child: Option<Child>,
    log: PathBuf,
}

impl Byz {
    fn spawn(net: &Net, mode: &str, key: Option<&Path>, targets: &[usize]) -> Byz {
        Byz::spawn_for(net, mode, key, targets, BYZ_SECS)
    }

    fn spawn_for(net: &Net, mode: &str, key: Option<&Path>, targets: &[usize], secs: u64) -> Byz {
        let log = net.dir().join(format!("byz-{mode}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out.try_clone().unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let mut command = Command::new(binary("tally-byz"));
        command.arg("--genesis").arg(net.home(0).join("genesis.json"));
        for &i in targets {
            command.args(["--peer", &net.p2p_addr(i)]);
        }
        command.args(["--mode", mode, "--duration", &secs.to_string()]);
        if let Some(key) = key {
            command.arg("--key").arg(key);
        }
        command.env("RUST_LOG", "warn");
        let child = command.stdout(out).stderr(err).spawn().unwrap_or_else(|e| panic!("starting tally-byz: {e}"));
        Byz { child: Some(child), log }
    }

    /// Waits (bounded) for it to exit by itself; returns its status and output.
    fn wait(&mut self, limit: Duration) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap_or_else(|| panic!("tally-byz already waited for"));
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tally-byz did not stop by itself within {limit:?}; output in {}", self.log.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        (status, std::fs::read_to_string(&self.log).unwrap_or_default())
    }
}

impl Drop for Byz {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `kind=count` pairs of the summary line.
fn summary_count(output: &str, kind: &str) -> u64 {
    let line = output.lines().rev().find(|l| l.contains("mode=")).unwrap_or("");
    line.split_whitespace()
        .find_map(|pair| pair.strip_prefix(kind).and_then(|rest| rest.strip_prefix('=')))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The peer ids the byzantine peer ran under (`tally-byz: peer id <id> ...`).
fn byz_peer_ids(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix("tally-byz: peer id "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The peer ids node `i` logged as graylisted and banned.
fn graylisted(net: &Net, i: usize) -> Vec<String> {
    net.plain_log(i)
        .lines()
        .filter(|l| l.contains("graylisted"))
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("peer=")))
        .map(str::to_string)
        .collect()
}

/// The greatest height among `nodes`.
async fn top_height(net: &Net, nodes: &[usize]) -> u64 {
    let mut top = 0;
    for &i in nodes {
        top = top.max(net.height(i).await.unwrap_or(0));
    }
    top
}

/// No honest node banned another honest node.
async fn assert_no_honest_node_banned(net: &Net, honest: &[usize]) {
    let mut ids = Vec::new();
    for &i in honest {
        ids.push(net.client(i).status().await.unwrap_or_else(|e| panic!("status of node {i}: {e}")).node_id);
    }
    for &i in honest {
        for peer in graylisted(net, i) {
            assert!(!ids.contains(&peer), "node {i} banned the honest node {peer}; logs in {}", net.dir().display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocating_validator_is_recorded_and_the_chain_does_not_fork() {
    let mut net = Net::start(4);
    net.wait_height_within(2, Duration::from_secs(60)).await;
    net.kill(3);
    let key_path = net.home(3).join("consensus_key.json");
    let seed = tally_node::home::read_key(&key_path).unwrap_or_else(|e| panic!("{e}"));
    let byzantine = public_key_of_seed(&seed).address().to_string();
    let honest = [0, 1, 2];

    let mut byz = Byz::spawn(&net, "equivocate", Some(&key_path), &honest);
    let started = Instant::now();
    let before = top_height(&net, &honest).await;
    // Three of four validators keep committing while the fourth's key equivocates.
    net.wait_height_within(before + 5, Duration::from_secs(45)).await;
    eprintln!("5 blocks committed in {:?} with an equivocating validator", started.elapsed());
    let (status, output) = byz.wait(Duration::from_secs(BYZ_SECS * 3 + 20));
    eprintln!("{}", output.trim_end());
    assert!(status.success(), "tally-byz failed: {status}\n{output}");
    for kind in ["prevote", "precommit"] {
        assert!(summary_count(&output, kind) >= 2, "tally-byz sent no {kind}s: {output}");
    }

    // Still committing after it stopped.
    let after = top_height(&net, &honest).await;
    net.wait_height_within(after + 2, Duration::from_secs(30)).await;

    for i in honest {
        let evidence =
            net.client(i).get_evidence(None).await.unwrap_or_else(|e| panic!("getEvidence on node {i}: {e}"));
        let naming: Vec<_> = evidence.iter().filter(|e| e.validator.to_string() == byzantine).collect();
        eprintln!("node {i}: {} evidence entries, {} naming validator 3", evidence.len(), naming.len());
        assert!(!naming.is_empty(), "node {i} recorded no evidence against validator 3 ({byzantine}): {evidence:?}");
        for e in naming {
            assert_eq!(e.first.validator.to_string(), byzantine);
            assert_eq!(e.second.validator.to_string(), byzantine);
            assert_eq!((e.first.height, e.first.round), (e.second.height, e.second.round));
            assert_eq!((e.first.height, e.first.round), (e.height, e.round));
            assert_eq!(e.first.kind, e.second.kind);
            assert!(
                e.first.block_hash != e.second.block_hash || e.first.signature != e.second.signature,
                "evidence of two identical messages: {e:?}"
            );
        }
    }
    assert_no_honest_node_banned(&net, &honest).await;
    net.check_all(&[]).await.unwrap_or_else(|e| panic!("{e}; logs in {}", net.dir().display()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_peer_sending_garbage_is_dropped_and_the_chain_goes_on() {
    let net = Net::start(4);
    net.wait_height_within(2, Duration::from_secs(60)).await;
    let all = [0, 1, 2, 3];

    let mut byz = Byz::spawn(&net, "abuse", None, &all);
    let started = Instant::now();
    let before = top_height(&net, &all).await;
    net.wait_height_within(before + 5, Duration::from_secs(45)).await;
    eprintln!("5 blocks committed in {:?} under abuse", started.elapsed());
    let (status, output) = byz.wait(Duration::from_secs(BYZ_SECS * 3 + 20));
    eprintln!("{}", output.trim_end());
    assert!(status.success(), "tally-byz failed: {status}\n{output}");
    assert!(summary_count(&output, "junk") > 0, "tally-byz published nothing: {output}");

    let after = top_height(&net, &all).await;
    net.wait_height_within(after + 3, Duration::from_secs(30)).await;

    // The abuser was graylisted and banned by honest nodes, and only the abuser was.
    let ids = byz_peer_ids(&output);
    assert!(!ids.is_empty(), "no peer id in the output: {output}");
    let mut banned = 0;
    for i in all {
        let peers = graylisted(&net, i);
        let of_byz = peers.iter().filter(|p| ids.contains(p)).count();
        eprintln!("node {i} banned {of_byz} of the abuser's {} identities", ids.len());
        banned += of_byz;
    }
    assert!(banned > 0, "no honest node banned the abuser; logs in {}", net.dir().display());
    assert_no_honest_node_banned(&net, &all).await;

    // Once it is gone each node is connected to its three honest peers again.
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in all {
        loop {
            let peers = net.client(i).status().await.map(|s| s.peers).unwrap_or(0);
            if peers == 3 {
                break;
            }
            assert!(Instant::now() < deadline, "node {i} reports {peers} peers, not 3");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    net.check_all(&[]).await.unwrap_or_else(|e| panic!("{e}; logs in {}", net.dir().display()));
}

/// Sync status requests a silent, well-behaved peer receives in `secs` seconds.
fn status_polls_seen(net: &Net, secs: u64) -> u64 {
    let mut observer = Byz::spawn_for(net, "observe", None, &[0, 1, 2, 3], secs);
    let (status, output) = observer.wait(Duration::from_secs(secs * 3 + 20));
    assert!(status.success(), "tally-byz --mode observe failed: {status}\n{output}");
    summary_count(&output, "sync_requests_received")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_far_future_vote_does_not_make_nodes_poll_their_peers() {
    let net = Net::start(4);
    net.wait_height_within(3, Duration::from_secs(60)).await;
    let baseline = status_polls_seen(&net, 5);
    // Two seconds of abuse, including votes 1000 heights ahead with random signatures.
    let mut byz = Byz::spawn_for(&net, "abuse", None, &[0, 1, 2, 3], 2);
    let (status, output) = byz.wait(Duration::from_secs(30));
    assert!(status.success(), "tally-byz failed: {status}\n{output}");
    assert!(summary_count(&output, "far_future_vote") > 0, "no far-future vote sent: {output}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = status_polls_seen(&net, 5);
    eprintln!("status requests to a silent peer in 5 s: {baseline} before, {after} after the abuser left");
    // Each node polls every peer every 3 s when in step: about 7 requests in 5 s from 4 nodes.
    assert!(after <= (baseline * 5).max(50), "{after} status requests in 5 s after abuse (baseline {baseline})");
    net.check_all(&[]).await.unwrap_or_else(|e| panic!("{e}; logs in {}", net.dir().display()));
}
