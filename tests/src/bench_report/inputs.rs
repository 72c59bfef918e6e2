//! Reading what the benchmarks wrote: criterion's estimates, the apply+commit JSON lines and
//! `tally-load`'s JSON report.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
pub use tally_tests::load_report::{Report, Step};

/// One criterion benchmark's mean time, per iteration and per element.
#[derive(Clone, Debug, PartialEq)]
pub struct Micro {
    /// `group/function`.
    pub id: String,
    /// Mean nanoseconds per iteration.
    pub ns_per_iteration: f64,
    /// Elements per iteration (criterion's throughput; 1 when none was set).
    pub elements: u64,
}

impl Micro {
    /// Mean microseconds per element.
    pub fn us_per_element(&self) -> f64 {
        self.ns_per_iteration / self.elements.max(1) as f64 / 1e3
    }

    /// Elements per second.
    pub fn per_second(&self) -> f64 {
        1e6 / self.us_per_element()
    }
}

#[derive(Deserialize)]
struct Estimates {
    mean: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

#[derive(Deserialize)]
struct BenchmarkJson {
    throughput: Option<BTreeMap<String, u64>>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The latest estimate of `id` (`group/function`) under criterion's output directory, or
/// `None` when that benchmark has not been run; unreadable output is an error.
pub fn micro(criterion: &Path, id: &str) -> Result<Option<Micro>, String> {
    let dir = criterion.join(id).join("new");
    let estimates_path = dir.join("estimates.json");
    if !estimates_path.exists() {
        return Ok(None);
    }
    let estimates: Estimates = read_json(&estimates_path)?;
    let benchmark: BenchmarkJson = read_json(&dir.join("benchmark.json"))?;
    let elements = benchmark.throughput.and_then(|t| t.get("Elements").copied()).unwrap_or(1);
    Ok(Some(Micro { id: id.to_string(), ns_per_iteration: estimates.mean.point_estimate, elements }))
}

/// One pass of the apply+commit benchmark (a line of `TALLY_BENCH_JSON`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ApplyCommit {
    /// Accounts in the state.
    pub accounts: u64,
    /// Threads the pass could use.
    pub threads: usize,
    /// Transfers per block.
    pub transfers_per_block: u64,
    /// Transfers applied and committed per second.
    pub transfers_per_s: f64,
    /// Transfers per CPU-second of the whole process (RocksDB's background threads included);
    /// 0 where the pass did not record it.
    #[serde(default)]
    pub transfers_per_cpu_s: f64,
    /// Milliseconds per block, and its parts.
    pub ms_per_block: f64,
    /// Execution and the state-root update.
    pub execute_and_state_root_ms: f64,
    /// Building the block.
    pub block_assembly_ms: f64,
    /// The synced RocksDB write.
    pub synced_store_write_ms: f64,
    /// Applying the execution to the in-memory state.
    pub apply_ms: f64,
    /// The store's size on disk after the pass (genesis and every block, flushed and
    /// compacted), MiB; 0 where the pass did not record it.
    #[serde(default)]
    pub store_mib: f64,
    /// One snapshot of every account (copy, write, flush and compaction), CPU milliseconds,
    /// spread over the blocks between two snapshots; included in the per-CPU-second figure. 0
    /// where the pass did not record it.
    #[serde(default)]
    pub snapshot_cpu_ms_per_block: f64,
}

/// Every pass in a file of JSON lines (later passes of the same size and threads win).
pub fn apply_commit(path: &Path) -> Result<Vec<ApplyCommit>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut passes: Vec<ApplyCommit> = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let pass: ApplyCommit = serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        passes.retain(|p| (p.accounts, p.threads) != (pass.accounts, pass.threads));
        passes.push(pass);
    }
    passes.sort_by_key(|p| (std::cmp::Reverse(p.accounts), p.threads));
    Ok(passes)
}

/// Reads `tally-load`'s JSON report.
pub fn network(path: &Path) -> Result<Report, String> {
    read_json(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_element_figures_divide_by_the_throughput() {
        let m = Micro { id: "signatures/verify_batch_64".into(), ns_per_iteration: 2_240_000.0, elements: 64 };
        assert!((m.us_per_element() - 35.0).abs() < 1e-9);
        assert!((m.per_second() - 28_571.4).abs() < 0.1);
    }

    #[test]
    fn criterion_output_is_read_with_its_throughput() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("signatures/verify_batch_64/new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(new.join("estimates.json"), r#"{"mean":{"point_estimate":6400.0,"standard_error":1.0}}"#)
            .unwrap();
        std::fs::write(new.join("benchmark.json"), r#"{"throughput":{"Elements":64},"group_id":"signatures"}"#)
            .unwrap();
        let m = micro(dir.path(), "signatures/verify_batch_64").unwrap().unwrap();
        assert_eq!(m.elements, 64);
        assert!((m.us_per_element() - 0.1).abs() < 1e-9);
        assert_eq!(micro(dir.path(), "signatures/missing").unwrap(), None, "not run");
        // Output that is there but unreadable is an error, not "not run".
        std::fs::write(new.join("estimates.json"), "{truncated").unwrap();
        assert!(micro(dir.path(), "signatures/verify_batch_64").unwrap_err().contains("estimates.json"));
    }

    #[test]
    fn apply_commit_lines_keep_the_latest_pass_of_each_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ac.jsonl");
        let line = |accounts: u64, rate: f64| {
            format!(
                r#"{{"accounts":{accounts},"threads":1,"transfers_per_block":10000,"transfers_per_s":{rate},"ms_per_block":1,"execute_and_state_root_ms":1,"block_assembly_ms":1,"synced_store_write_ms":1,"apply_ms":1}}"#
            )
        };
        std::fs::write(&path, format!("{}\n{}\n\n{}\n", line(60_000, 1.0), line(1_000_000, 2.0), line(60_000, 3.0)))
            .unwrap();
        let passes = apply_commit(&path).unwrap();
        assert_eq!(
            passes.iter().map(|p| (p.accounts, p.transfers_per_s)).collect::<Vec<_>>(),
            [(1_000_000, 2.0), (60_000, 3.0)]
        );
        std::fs::write(&path, "{not json\n").unwrap();
        assert!(apply_commit(&path).unwrap_err().contains(":1:"));
    }
}
