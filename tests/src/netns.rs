//! A [`Net`] whose nodes each run in their own Linux network namespace, the closest one machine
//! gets to separate hosts.
//!
//! Layout of one run (`<u>` is a five-hex-digit id unique to the run, `<r>` a free third
//! octet):
//!
//! ```text
//!   root namespace:  bridge tbr-<u>  10.77.<r>.254/24   (the test process reaches RPC here)
//!                      |-- veth tv-<u>-0  <->  eth0 10.77.<r>.1/24 in namespace tally-<u>-0
//!                      |-- veth tv-<u>-1  <->  eth0 10.77.<r>.2/24 in namespace tally-<u>-1
//!                      ...
//! ```
//!
//! Each node's `eth0` (inside its namespace) gets `tc qdisc add dev eth0 root netem delay
//! <d>`: every packet leaving a node is delayed once, so node to node is `d` each way (`2d`
//! round trip); the test process's requests reach a node undelayed and the replies take `d`.
//! Loopback is up in every namespace. Everything is created by the run and removed when the
//! [`NetnsNet`] drops (after its node processes are killed), also when a test panics. Other
//! `tally-*` namespaces (left by a run that was killed) are reported, never touched.
//!
//! [`NetnsNet::start`] returns `Err(reason)` when the machine cannot do this — not root, `ip
//! netns add` refused, no bridge or veth, or no `sch_netem` in the kernel — so that a test can
//! print the reason and pass.

use crate::Net;
use std::ops::{Deref, DerefMut};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How to build the namespaced network.
#[derive(Clone, Debug)]
pub struct Options {
    /// How many validators.
    pub validators: u32,
    /// Extra `--set` settings for every node.
    pub settings: Vec<String>,
    /// The netem delay on each node's interface (each way between two nodes).
    pub delay: Duration,
    /// When `tc ... netem` fails: run without any delay (true) instead of giving up (false).
    pub without_netem_if_unavailable: bool,
}

/// A started [`Net`] with node `i` in namespace `tally-<u>-i`; derefs to the [`Net`].
pub struct NetnsNet {
    // Dropped first: the nodes are killed before their namespaces go.
    net: Net,
    lab: Lab,
    /// The delay actually applied on each node's interface (`None`: netem unavailable and
    /// [`Options::without_netem_if_unavailable`] was set).
    pub delay: Option<Duration>,
}

impl Deref for NetnsNet {
    type Target = Net;
    fn deref(&self) -> &Net {
        &self.net
    }
}

impl DerefMut for NetnsNet {
    fn deref_mut(&mut self) -> &mut Net {
        &mut self.net
    }
}

impl NetnsNet {
    /// Checks the preconditions, lays out the network (taking the harness's one-network turn),
    /// builds the namespaces and starts every node in its own. `Err` is why it cannot run here.
    pub fn start(options: &Options) -> Result<NetnsNet, String> {
        let uid = run(&["id", "-u"])?;
        if uid.trim() != "0" {
            return Err(format!("not root (uid {})", uid.trim()));
        }
        run(&["ip", "-V"]).map_err(|e| format!("no `ip` command: {e}"))?;
        let mut net = Net::layout(options.validators);
        net.settings.extend(options.settings.iter().cloned());
        let count = net.nodes.len();
        let (lab, delay) = Lab::build(count, options)?;
        let hosts: Vec<String> = (0..count).map(|i| lab.node_ip(i)).collect();
        net.set_hosts(&hosts);
        for i in 0..count {
            let namespace = lab.namespaces[i].clone();
            net.set_launcher(i, &["ip", "netns", "exec", &namespace]);
        }
        let mut netns = NetnsNet { net, lab, delay };
        for i in 0..count {
            netns.net.launch(i);
        }
        Ok(netns)
    }

    /// The namespaces, node `i`'s at `i`.
    pub fn namespaces(&self) -> &[String] {
        &self.lab.namespaces
    }

    /// The root side's interfaces this run created (the bridge, then one veth per node).
    pub fn interfaces(&self) -> Vec<String> {
        self.lab.bridge.iter().chain(&self.lab.veths).cloned().collect()
    }

    /// One line describing the layout, for a test's output.
    pub fn describe(&self) -> String {
        let delay = match self.delay {
            Some(d) => format!("netem delay {d:?} on each node's eth0 ({d:?} each way node to node)"),
            None => "NO netem delay (unavailable here)".to_string(),
        };
        format!(
            "{} nodes in namespaces {} on bridge {} (10.77.{}.254/24), nodes at {}; {delay}",
            self.lab.namespaces.len(),
            self.lab.namespaces.join(", "),
            self.lab.bridge.as_deref().unwrap_or("?"),
            self.lab.octet,
            (0..self.lab.namespaces.len()).map(|i| self.lab.node_ip(i)).collect::<Vec<_>>().join(", ")
        )
    }
}

/// The namespaces, bridge and veths of one run; removes whatever it created when dropped.
struct Lab {
    namespaces: Vec<String>,
    bridge: Option<String>,
    veths: Vec<String>,
    octet: u8,
}

impl Lab {
    fn node_ip(&self, i: usize) -> String {
        format!("10.77.{}.{}", self.octet, i + 1)
    }

    /// Builds everything; a failure while building node 0's part (the probe) is a reason to
    /// skip, a later one a panic (the machine could do it once, so it is a bug).
    fn build(count: usize, options: &Options) -> Result<(Lab, Option<Duration>), String> {
        let existing = run(&["ip", "netns", "list"]).map_err(|e| format!("`ip netns list` failed: {e}"))?;
        let existing: Vec<&str> = existing.lines().filter_map(|l| l.split_whitespace().next()).collect();
        let id = unique_id(&existing);
        let stale: Vec<&&str> = existing.iter().filter(|n| n.starts_with("tally-")).collect();
        if !stale.is_empty() {
            eprintln!(
                "netns: left alone, not this run's (from a run that was killed?): {stale:?}; \
                 remove with `ip netns del NAME`"
            );
        }
        let octet = free_octet()?;
        let mut lab = Lab { namespaces: Vec::new(), bridge: None, veths: Vec::new(), octet };
        let bridge = format!("tbr-{id}");
        let mut delay = Some(options.delay);
        for i in 0..count {
            let namespace = format!("tally-{id}-{i}");
            probe(i, run(&["ip", "netns", "add", &namespace]).map_err(|e| format!("`ip netns add` failed: {e}")))?;
            lab.namespaces.push(namespace.clone());
            if i == 0 {
                run(&["ip", "link", "add", &bridge, "type", "bridge"]).map_err(|e| format!("no bridge: {e}"))?;
                lab.bridge = Some(bridge.clone());
                run(&["ip", "addr", "add", &format!("10.77.{octet}.254/24"), "dev", &bridge])?;
                run(&["ip", "link", "set", &bridge, "up"])?;
            }
            let veth = format!("tv-{id}-{i}");
            let made = run(&["ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &namespace]);
            probe(i, made.map_err(|e| format!("no veth pair: {e}")))?;
            lab.veths.push(veth.clone());
            let address = format!("{}/24", lab.node_ip(i));
            let steps: [&[&str]; 5] = [
                &["ip", "link", "set", &veth, "master", &bridge],
                &["ip", "link", "set", &veth, "up"],
                &["ip", "-n", &namespace, "link", "set", "lo", "up"],
                &["ip", "-n", &namespace, "addr", "add", &address, "dev", "eth0"],
                &["ip", "-n", &namespace, "link", "set", "eth0", "up"],
            ];
            for step in steps {
                probe(i, run(step))?;
            }
            if let Some(d) = delay {
                let ms = format!("{}ms", d.as_millis());
                let netem = ["ip", "netns", "exec", &namespace, "tc", "qdisc", "add", "dev", "eth0", "root", "netem"];
                match run(&[&netem[..], &["delay", &ms]].concat()) {
                    Ok(_) => {}
                    Err(e) if i == 0 && options.without_netem_if_unavailable => {
                        eprintln!("netns: tc netem unavailable ({e}); running WITHOUT any delay as asked");
                        delay = None;
                    }
                    Err(e) if i == 0 => return Err(format!("tc netem unavailable: {e}")),
                    Err(e) => panic!("netem on node {i}: {e}"),
                }
            }
        }
        Ok((lab, delay))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace destroys its eth0 and with it the veth's root end.
        for namespace in self.namespaces.drain(..).rev() {
            if let Err(e) = run(&["ip", "netns", "del", &namespace]) {
                eprintln!("netns: could not delete namespace {namespace}: {e}");
            }
        }
        let links = run(&["ip", "-o", "link", "show"]).unwrap_or_default();
        let present = |name: &str| links.lines().any(|l| l.split(':').nth(1).map(str::trim) == Some(name));
        for link in self.veths.drain(..).chain(self.bridge.take()) {
            if present(&link) {
                if let Err(e) = run(&["ip", "link", "del", &link]) {
                    eprintln!("netns: could not delete interface {link}: {e}");
                }
            }
        }
    }
}

/// A step of node `i`'s part: for node 0 (the probe) a failure is returned, to skip; for a
/// later node, where the same step worked once already, it is a panic.
fn probe(i: usize, result: Result<String, String>) -> Result<String, String> {
    match result {
        Err(e) if i > 0 => panic!("building node {i}'s namespace: {e}"),
        result => result,
    }
}

/// Runs a command to completion; its stdout, or why it failed (with its stderr).
fn run(args: &[&str]) -> Result<String, String> {
    let output = Command::new(args[0]).args(&args[1..]).output().map_err(|e| format!("`{}`: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!("`{}`: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()))
    }
}

/// Five hex digits from the process id and the clock, not the id of any existing `tally-*`
/// namespace.
fn unique_id(existing: &[&str]) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0) as u64;
    let mut x = (std::process::id() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ nanos;
    loop {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let id = format!("{:05x}", x & 0xf_ffff);
        if !existing.iter().any(|n| n.starts_with(&format!("tally-{id}-"))) {
            return id;
        }
    }
}

/// A third octet `r` such that no address or route of the root namespace is in 10.77.r.0/24.
fn free_octet() -> Result<u8, String> {
    let taken = format!("{}\n{}", run(&["ip", "-4", "-o", "addr", "show"])?, run(&["ip", "-4", "route", "show"])?);
    if taken.contains("10.77.0.0/16") || taken.contains("10.0.0.0/8") {
        return Err("10.77.0.0/16 is routed here already".to_string());
    }
    let start = (std::process::id() % 250) as u16;
    (0..250u16)
        .map(|k| ((start + k) % 250 + 1) as u8)
        .find(|r| !taken.contains(&format!("10.77.{r}.")))
        .ok_or_else(|| "no free 10.77.x.0/24 subnet".to_string())
}
