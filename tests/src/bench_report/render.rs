//! The generated section: tables of what was measured, and the ceiling they imply.

use super::inputs::{ApplyCommit, Micro, Report as Network, Step};
use super::machine::Machine;
use super::{BEGIN, END};
use std::fmt::Write;

/// The criterion benchmarks the report lists, with what each measures.
pub const MICRO: [(&str, &str); 16] = [
    ("signatures/decode_hash_verify_strict", "decode + hash + `verify_strict`, key decompressed each time"),
    ("signatures/cached_key_strict_key_verify", "strict signature check, sender's key cached (the node's path)"),
    ("signatures/cached_key_dalek_verify_strict", "ed25519-dalek `verify_strict`, key cached"),
    ("signatures/decode_hash", "decode + hash of a transfer"),
    ("signatures/verify_batch_64", "checked `verify_batch` of 64 (SPEC §2 pre-checks), both cores"),
    ("signatures/verify_batch_256", "checked `verify_batch` of 256, both cores"),
    ("signatures/verify_strict_parallel_64", "strict checks of 64 spread over both cores"),
    ("signatures/verify_strict_parallel_256", "strict checks of 256 spread over both cores"),
    ("blocks_2000_transfers/transfers_root", "transfers root of a 2,000-transfer block, per transfer"),
    ("blocks_2000_transfers/encode", "block encode, per transfer"),
    ("blocks_2000_transfers/decode", "block decode, per transfer"),
    (
        "blocks_2000_transfers/last_transfer_only",
        "one transfer read out of a 2,000-transfer block (a committed lookup)",
    ),
    (
        "state_tree_1m_accounts/state_root_after_20000_updates",
        "state root after 20,000 updates in 1M accounts, per update",
    ),
    ("gossip/batch_16_per_validator", "gossip in a 4-node mesh, batches of 16, CPU per transfer per validator"),
    ("gossip/batch_64_per_validator", "gossip in a 4-node mesh, batches of 64, CPU per transfer per validator"),
    ("gossip/batch_256_per_validator", "gossip in a 4-node mesh, batches of 256, CPU per transfer per validator"),
];

/// The signature check each validator does once per transfer.
pub const VERIFY: &str = "signatures/cached_key_strict_key_verify";
/// The decoding and hashing each validator does once per transfer.
pub const DECODE: &str = "signatures/decode_hash";
/// Each validator's share of gossiping a transfer, in batches about the size the node sends
/// near saturation (a 25 ms flush at ~8,000/s over four nodes: ~50).
pub const GOSSIP: &str = "gossip/batch_64_per_validator";

/// Everything the section is made from.
pub struct Inputs {
    /// Where it ran.
    pub machine: Machine,
    /// When (UTC date).
    pub date: String,
    /// The criterion estimates found, by id.
    pub micro: Vec<Micro>,
    /// The apply+commit passes.
    pub apply_commit: Vec<ApplyCommit>,
    /// The network benchmark.
    pub network: Network,
    /// The commands `make bench` ran, for the reader to run again.
    pub commands: Vec<String>,
}

/// The physical ceiling for committed transfers/s, from the micro-benchmarks of the same run.
#[derive(Clone, Debug, PartialEq)]
pub struct Ceiling {
    /// Signature check, µs per transfer.
    pub verify_us: f64,
    /// Decode + hash, µs per transfer.
    pub decode_us: f64,
    /// Gossip (send, relay, receive), µs per transfer per validator.
    pub gossip_us: f64,
    /// Apply + commit on one core, µs per transfer.
    pub apply_us: f64,
    /// The state size of that apply+commit pass.
    pub apply_accounts: u64,
    /// Cores the load generator used at saturation.
    pub load_cores: f64,
    /// Committed transfers/s the cores allow.
    pub transfers_per_s: f64,
}

impl Ceiling {
    /// CPU per transfer per validator, µs.
    pub fn per_transfer_us(&self) -> f64 {
        self.verify_us + self.decode_us + self.gossip_us + self.apply_us
    }

    /// `(cores − the load generator's share) / (validators × CPU per transfer)`, using the
    /// one-thread apply+commit pass of the smallest state (the network's state is small).
    pub fn of(inputs: &Inputs, saturation: &Step) -> Result<Ceiling, String> {
        let find = |id: &str| {
            inputs.micro.iter().find(|m| m.id == id).ok_or_else(|| format!("criterion has no estimate for {id}"))
        };
        let apply = inputs
            .apply_commit
            .iter()
            .filter(|p| p.threads == 1)
            .min_by_key(|p| p.accounts)
            .ok_or("no one-thread apply+commit pass")?;
        let mut ceiling = Ceiling {
            verify_us: find(VERIFY)?.us_per_element(),
            decode_us: find(DECODE)?.us_per_element(),
            gossip_us: find(GOSSIP)?.us_per_element(),
            // CPU per transfer: the pass's CPU figure (RocksDB's background work included)
            // where it has one, else its wall-clock rate on one thread.
            apply_us: 1e6
                / if apply.transfers_per_cpu_s > 0.0 { apply.transfers_per_cpu_s } else { apply.transfers_per_s }
                    .max(1.0),
            apply_accounts: apply.accounts,
            load_cores: saturation.load_generator.cpu_cores,
            transfers_per_s: 0.0,
        };
        let validators = inputs.network.nodes.max(1) as f64;
        let cores = (inputs.network.cores as f64 - ceiling.load_cores).max(0.0);
        ceiling.transfers_per_s = cores / (validators * ceiling.per_transfer_us() * 1e-6);
        Ok(ceiling)
    }
}

/// The step that committed the most per second.
pub fn saturation(network: &Network) -> Option<&Step> {
    network.steps.iter().max_by(|a, b| a.committed_tps.total_cmp(&b.committed_tps))
}

/// The highest offered rate at or below `fraction` of `rate` (else the lowest step).
pub fn step_at(network: &Network, rate: f64, fraction: f64) -> Option<&Step> {
    let below = network.steps.iter().filter(|s| f64::from(s.offered_tps) <= fraction * rate);
    below.max_by_key(|s| s.offered_tps).or_else(|| network.steps.iter().min_by_key(|s| s.offered_tps))
}

/// CPU seconds per committed transfer per validator in `step`, µs.
pub fn measured_us_per_transfer(step: &Step) -> f64 {
    let cpu: f64 = step.nodes.iter().map(|n| n.cpu_seconds).sum();
    cpu * 1e6 / (step.committed.max(1) as f64 * step.nodes.len().max(1) as f64)
}

fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn usage(step: &Step) -> String {
    let nodes: Vec<String> = step.nodes.iter().map(|n| format!("{:.2} / {:.0}", n.cpu_cores, n.peak_rss_mib)).collect();
    nodes.join(", ")
}

/// The whole generated section, markers included.
pub fn section(inputs: &Inputs) -> Result<String, String> {
    let network = &inputs.network;
    let top = saturation(network).ok_or("the network report has no steps")?;
    let ceiling = Ceiling::of(inputs, top)?;
    let m = &inputs.machine;
    let mut s = String::new();
    let w = &mut s;
    // `write!` to a String cannot fail.
    let _ = writeln!(w, "{BEGIN} (written by `make bench` through tally-bench-report; edits here are lost) -->");
    let _ = writeln!(w, "## Latest `make bench` ({})\n", inputs.date);
    let _ = writeln!(
        w,
        "Machine: {}, {} cores, {:.0} GiB; {}; {}{}.\n",
        m.cpu,
        m.cores,
        m.memory_gib,
        m.os,
        m.rustc,
        m.commit.as_ref().map(|c| format!("; commit `{c}`")).unwrap_or_default()
    );
    let _ = writeln!(w, "```sh");
    for command in &inputs.commands {
        let _ = writeln!(w, "{command}");
    }
    let _ = writeln!(w, "```\n");

    let _ = writeln!(w, "### Micro-benchmarks (criterion; one core unless stated)\n");
    let _ = writeln!(w, "| what | per item | per second |\n|---|---|---|");
    for (id, what) in MICRO {
        match inputs.micro.iter().find(|m| m.id == id) {
            Some(m) => {
                let _ = writeln!(w, "| {what} | {:.2} µs | {} |", m.us_per_element(), thousands(m.per_second()));
            }
            None => {
                let _ = writeln!(w, "| {what} | not run | |");
            }
        }
    }

    let _ = writeln!(w, "\n### Apply + commit (signatures excluded; RocksDB, synced)\n");
    let _ = writeln!(
        w,
        "| accounts | threads | transfers/s | per CPU-second, all threads | ms per block | execute + state root | \
         block assembly | synced store write | in-memory apply | account snapshots, CPU | store on disk, MiB |\n\
         |---|---|---|---|---|---|---|---|---|---|---|"
    );
    for p in &inputs.apply_commit {
        let per_cpu = if p.transfers_per_cpu_s > 0.0 { thousands(p.transfers_per_cpu_s) } else { "–".into() };
        let store = if p.store_mib > 0.0 { thousands(p.store_mib) } else { "–".into() };
        let _ = writeln!(
            w,
            "| {} | {} | **{}** | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            thousands(p.accounts as f64),
            p.threads,
            thousands(p.transfers_per_s),
            per_cpu,
            p.ms_per_block,
            p.execute_and_state_root_ms,
            p.block_assembly_ms,
            p.synced_store_write_ms,
            p.apply_ms,
            p.snapshot_cpu_ms_per_block,
            store
        );
    }

    let _ = writeln!(
        w,
        "\n### Network: {} validators and the load generator on {} cores\n\n{} senders, {} connections per node, \
         {} s per rate. Latency is submit → final (a shed transfer counts from its first send); CPU is in cores, \
         averaged over the step. A transfer shed (`mempool_full`) or refused as ahead of the node's nonce window \
         (`bad_nonce`: the node had not applied a block the load generator had seen) is sent again after a \
         backoff; *stranded* transfers were accepted behind one of their sender's that was never accepted, and \
         so could not commit; *lost* ones were accepted and never committed without such a cause; *not sent* \
         ones were scheduled but not sent before the step ended (the load generator, on the same cores, \
         fell behind its schedule, or held them behind a refused transfer of their sender).\n",
        network.nodes,
        network.cores,
        thousands(f64::from(network.accounts)),
        network.connections,
        network.steps.first().map_or(0, |s| s.duration_s)
    );
    let _ = writeln!(
        w,
        "| offered/s | sent/s | committed/s | steady/s | p50 ms | p90 ms | p99 ms | accepted → final p50 / p99 | shed / \
         ahead, sent again | rejected | not sent | stranded | expired | lost | blocks | CPU / peak MiB per \
         node |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for step in &network.steps {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {} | {} / {} | {} / {} | {} | {} | {} | {} | {} | {} | {} |",
            thousands(f64::from(step.offered_tps)),
            thousands(step.sent_tps),
            thousands(step.committed_tps),
            thousands(step.committed_tps_steady),
            thousands(step.latency_ms.p50),
            thousands(step.latency_ms.p90),
            thousands(step.latency_ms.p99),
            thousands(step.accepted_latency_ms.p50),
            thousands(step.accepted_latency_ms.p99),
            thousands(step.shed_retries as f64),
            thousands(step.ahead_retries as f64),
            thousands(step.rejected.values().sum::<usize>() as f64),
            thousands(step.not_sent as f64),
            thousands(step.stranded as f64),
            thousands(step.expired as f64),
            thousands(step.lost() as f64),
            thousands(step.blocks as f64),
            usage(step)
        );
    }

    let rate = top.committed_tps;
    let half = step_at(network, rate, 0.5).ok_or("no steps")?;
    let ninety = step_at(network, rate, 0.9).ok_or("no steps")?;
    let measured = measured_us_per_transfer(top);
    let _ = writeln!(w, "\n### Ceiling and summary\n");
    let _ = writeln!(
        w,
        "- CPU per transfer per validator: signature check {:.1} µs + decode and hash {:.2} µs + gossip {:.1} µs + \
         apply and commit {:.1} µs ({} accounts, one thread, RocksDB's background work included) = **{:.1} µs**.",
        ceiling.verify_us,
        ceiling.decode_us,
        ceiling.gossip_us,
        ceiling.apply_us,
        thousands(ceiling.apply_accounts as f64),
        ceiling.per_transfer_us()
    );
    let _ = writeln!(
        w,
        "- Ceiling: ({} cores − {:.2} for the load generator) / ({} validators × {:.1} µs) = **{} transfers/s**.",
        network.cores,
        ceiling.load_cores,
        network.nodes,
        ceiling.per_transfer_us(),
        thousands(ceiling.transfers_per_s)
    );
    let _ = writeln!(
        w,
        "- Saturation: **{} committed transfers/s** at {} offered ({} in the step's second half), **{:.0} % of the \
         ceiling**.",
        thousands(rate),
        thousands(f64::from(top.offered_tps)),
        thousands(top.committed_tps_steady),
        100.0 * rate / ceiling.transfers_per_s.max(1.0)
    );
    let _ = writeln!(
        w,
        "- Measured there: {:.1} µs of CPU per committed transfer per validator; the ceiling's four parts are {:.0} \
         % of it; the rest is RPC, consensus, the mempool, the kernel and allocation.",
        measured,
        100.0 * ceiling.per_transfer_us() / measured.max(1e-9)
    );
    // The sweep's steps are fixed in advance: each figure is from the highest step at or below
    // the fraction, and says which fraction that step is.
    for (wanted, step) in [(50, half), (90, ninety)] {
        let _ = writeln!(
            w,
            "- Below {wanted} % of saturation, at {:.0} % ({} offered): p50 {} ms, p99 {} ms; CPU / peak MiB per node {}.",
            100.0 * f64::from(step.offered_tps) / rate.max(1.0),
            thousands(f64::from(step.offered_tps)),
            thousands(step.latency_ms.p50),
            thousands(step.latency_ms.p99),
            usage(step)
        );
    }
    let _ = writeln!(w, "\nPlot: [latency against offered load](bench/latency.svg).\n");
    let _ = writeln!(w, "{END}");
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_tests::load_report::{Latency, NodeUsage, OwnUsage};

    fn step(offered: u32, committed_tps: f64) -> Step {
        let node = NodeUsage { cpu_seconds: 15.0, cpu_cores: 0.5, peak_rss_mib: 300.0, ..NodeUsage::default() };
        Step {
            offered_tps: offered,
            duration_s: 30,
            sent_tps: f64::from(offered),
            committed_tps,
            committed_tps_steady: committed_tps,
            committed: (committed_tps * 30.0) as usize,
            latency_ms: Latency { p50: 100.0, p90: 200.0, p99: 300.0, ..Latency::default() },
            blocks: 10,
            nodes: vec![node; 4],
            load_generator: OwnUsage { cpu_seconds: 3.0, cpu_cores: 0.1 },
            ..Step::default()
        }
    }

    fn inputs() -> Inputs {
        let pass = |accounts, rate: f64| ApplyCommit {
            accounts,
            threads: 1,
            transfers_per_block: 10_000,
            transfers_per_s: rate,
            transfers_per_cpu_s: if accounts == 60_000 { rate * 0.9 } else { 0.0 },
            ms_per_block: 1.0,
            execute_and_state_root_ms: 1.0,
            block_assembly_ms: 0.0,
            synced_store_write_ms: 0.0,
            apply_ms: 0.0,
            store_mib: 0.0,
            snapshot_cpu_ms_per_block: 0.0,
        };
        Inputs {
            machine: Machine {
                cpu: "cpu".into(),
                cores: 2,
                memory_gib: 24.0,
                os: "os".into(),
                rustc: "rustc".into(),
                commit: None,
            },
            date: "2026-12-04".into(),
            micro: vec![
                Micro { id: VERIFY.into(), ns_per_iteration: 35_000.0, elements: 1 },
                Micro { id: DECODE.into(), ns_per_iteration: 500.0, elements: 1 },
                Micro { id: GOSSIP.into(), ns_per_iteration: 64_000.0, elements: 64 },
            ],
            // The smallest state's one-thread pass is the one that counts: 200,000/s = 5 µs.
            apply_commit: vec![pass(1_000_000, 100_000.0), pass(60_000, 200_000.0)],
            network: Network {
                tool: "tally-load".into(),
                started_unix: 0,
                spawned: true,
                nodes: 4,
                chain_id: "tally-devnet".into(),
                accounts: 4000,
                connections: 16,
                batch: 64,
                cores: 2,
                settings: Vec::new(),
                steps: vec![step(1000, 1000.0), step(4000, 3990.0), step(8000, 7500.0), step(10000, 7400.0)],
            },
            commands: vec!["make bench".into()],
        }
    }

    #[test]
    fn the_ceiling_is_the_cores_left_over_the_validators_cpu_per_transfer() {
        let inputs = inputs();
        let top = saturation(&inputs.network).unwrap();
        assert_eq!(top.offered_tps, 8000);
        let ceiling = Ceiling::of(&inputs, top).unwrap();
        assert_eq!(ceiling.apply_accounts, 60_000);
        // 35 + 0.5 + 1 µs + apply and commit from the pass's CPU figure (180,000 transfers per
        // CPU-second), not its wall-clock rate (200,000/s).
        let per_transfer = 36.5 + 1e6 / 180_000.0;
        assert!((ceiling.per_transfer_us() - per_transfer).abs() < 1e-9);
        // (2 − 0.1) / (4 × that)
        assert!((ceiling.transfers_per_s - 1.9 / (4.0 * per_transfer * 1e-6)).abs() < 1e-6);
    }

    #[test]
    fn latency_is_reported_at_the_steps_below_half_and_nine_tenths_of_saturation() {
        let inputs = inputs();
        assert_eq!(step_at(&inputs.network, 7500.0, 0.5).unwrap().offered_tps, 1000);
        assert_eq!(step_at(&inputs.network, 7500.0, 0.9).unwrap().offered_tps, 4000);
        assert_eq!(step_at(&inputs.network, 100.0, 0.5).unwrap().offered_tps, 1000, "else the lowest step");
    }

    #[test]
    fn the_section_is_marked_and_carries_the_figures() {
        let text = section(&inputs()).unwrap();
        assert!(text.starts_with(BEGIN) && text.trim_end().ends_with(END));
        assert!(text.contains("**7,500 committed transfers/s**"), "{text}");
        assert!(text.contains("| 60,000 | 1 | **200,000** | 180,000 | 1.0 | 1.0 | 0.0 | 0.0 | 0.0 |"), "{text}");
        assert!(text.contains("| 1,000,000 | 1 | **100,000** | – |"), "a pass without CPU time: {text}");
        // Every row of every table has as many cells as its header.
        let mut header_cells = None;
        for line in text.lines() {
            match (line.starts_with('|'), header_cells) {
                (true, None) => header_cells = Some(line.matches('|').count()),
                (true, Some(cells)) => assert_eq!(line.matches('|').count(), cells, "{line}"),
                (false, _) => header_cells = None,
            }
        }
        assert!(text.contains("| strict checks of 64 spread over both cores | not run | |"));
        assert!(
            text.contains("- Below 90 % of saturation, at 53 % (4,000 offered): p50"),
            "the step's own fraction: {text}"
        );
        // 4 nodes × 15 s over 225,000 transfers × 4 validators.
        assert!((measured_us_per_transfer(saturation(&inputs().network).unwrap()) - 66.666).abs() < 0.01);
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1234567.0), "1,234,567");
    }
}
