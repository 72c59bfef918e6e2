//! CPU time and memory of node processes, from Linux's `/proc`.

use tally_tests::load_report::{round, NodeUsage, OwnUsage};

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system CPU seconds used so far by process `pid`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// A `kB` field of `/proc/<pid>/status` (`VmHWM`, `VmRSS`), in MiB.
fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Resets the peak resident set size of `pid` (best effort: needs permission to write
/// `/proc/<pid>/clear_refs`).
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// The load generator's CPU counter at the start of a phase.
pub struct Own {
    cpu: Option<f64>,
    at: std::time::Instant,
}

impl Own {
    /// Takes this process's counter.
    pub fn start() -> Own {
        Own { cpu: cpu_seconds(std::process::id()), at: std::time::Instant::now() }
    }

    /// This process's CPU use since [`Own::start`] (zero when `/proc` cannot be read).
    pub fn finish(&self) -> OwnUsage {
        let elapsed = self.at.elapsed().as_secs_f64().max(1e-9);
        match (self.cpu, cpu_seconds(std::process::id())) {
            (Some(before), Some(now)) => {
                OwnUsage { cpu_seconds: round(now - before, 2), cpu_cores: round((now - before) / elapsed, 3) }
            }
            _ => OwnUsage::default(),
        }
    }
}

/// CPU counters taken at the start of a phase.
pub struct Start {
    cpu: Vec<Option<f64>>,
    reset: Vec<bool>,
    at: std::time::Instant,
}

/// Takes the counters of `pids` and resets their peak RSS.
pub fn start(pids: &[u32]) -> Start {
    Start {
        cpu: pids.iter().map(|&p| cpu_seconds(p)).collect(),
        reset: pids.iter().map(|&p| reset_peak(p)).collect(),
        at: std::time::Instant::now(),
    }
}

/// The figures of `pids` since `start`; processes that cannot be read are left out.
pub fn finish(pids: &[u32], start: &Start) -> Vec<NodeUsage> {
    let elapsed = start.at.elapsed().as_secs_f64().max(1e-9);
    pids.iter()
        .enumerate()
        .filter_map(|(node, &pid)| {
            let before = start.cpu.get(node).copied().flatten()?;
            let cpu = cpu_seconds(pid)? - before;
            Some(NodeUsage {
                node,
                pid,
                cpu_seconds: round(cpu, 2),
                cpu_cores: round(cpu / elapsed, 2),
                peak_rss_mib: round(status_mib(pid, "VmHWM:")?, 1),
                peak_reset: start.reset.get(node).copied().unwrap_or(false),
                rss_mib: round(status_mib(pid, "VmRSS:")?, 1),
            })
        })
        .collect()
}
