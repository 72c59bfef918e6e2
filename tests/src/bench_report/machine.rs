//! A description of the machine the benchmarks ran on, from Linux's `/proc` and `/etc`.

use std::process::Command;

/// What the report says about the machine.
#[derive(Clone, Debug, PartialEq)]
pub struct Machine {
    /// CPU model name.
    pub cpu: String,
    /// Logical cores the benchmarks could use.
    pub cores: usize,
    /// Total memory, GiB.
    pub memory_gib: f64,
    /// Operating system and kernel.
    pub os: String,
    /// `rustc --version`.
    pub rustc: String,
    /// The checked-out commit, when in a git repository.
    pub commit: Option<String>,
}

impl Machine {
    /// Reads this machine's description; whatever cannot be read is given as "unknown".
    pub fn this() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let os = field(&release, "PRETTY_NAME", '=').map(|v| v.trim_matches('"').to_string());
        Machine {
            cpu: field(&cpuinfo, "model name", ':').unwrap_or_else(|| "unknown".into()),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: field(&meminfo, "MemTotal", ':')
                .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(0.0, |kb| kb / (1024.0 * 1024.0)),
            os: format!("{}, Linux {}", os.as_deref().unwrap_or("unknown"), kernel.trim()),
            rustc: output("rustc", &["--version"]).unwrap_or_else(|| "unknown".into()),
            commit: output("git", &["rev-parse", "--short", "HEAD"]),
        }
    }
}

/// The value of the first line `name<sep> value` in `text`, trimmed.
fn field(text: &str, name: &str, separator: char) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(separator)?;
        (key.trim() == name).then(|| value.trim().to_string())
    })
}

/// A command's trimmed standard output, if it ran and succeeded.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_by_name_whatever_the_spacing() {
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: sse\n";
        assert_eq!(field(cpuinfo, "model name", ':').as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(field("PRETTY_NAME=\"Debian 12\"\n", "PRETTY_NAME", '='), Some("\"Debian 12\"".into()));
        assert_eq!(field(cpuinfo, "vendor", ':'), None);
    }
}
