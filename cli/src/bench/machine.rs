//! The machine a bench ran on, and what the process uses of it (`/proc` on Linux; elsewhere
//! the figures that need it are reported as unavailable).

use serde::Serialize;

/// The machine: processors, memory and operating system.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Machine {
    /// Processors this process may use (`nproc`).
    pub(super) cpus: usize,
    /// The processor model, when known.
    pub(super) cpu_model: Option<String>,
    /// Total memory in GiB, when known.
    pub(super) memory_gib: Option<f64>,
    /// The operating system (`PRETTY_NAME` of os-release), when known.
    pub(super) os: Option<String>,
    /// The kernel release, when known.
    pub(super) kernel: Option<String>,
    /// The architecture.
    pub(super) arch: &'static str,
}

impl Machine {
    /// The machine this process runs on.
    pub(super) fn current() -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let cpu_model = read("/proc/cpuinfo").and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
        });
        let memory_gib = read("/proc/meminfo")
            .and_then(|text| kib_field(&text, "MemTotal:"))
            .map(|kib| kib as f64 / (1024.0 * 1024.0));
        let os = read("/etc/os-release").and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        });
        let kernel = read("/proc/sys/kernel/osrelease").map(|v| v.trim().to_owned());
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model,
            memory_gib,
            os,
            kernel,
            arch: std::env::consts::ARCH,
        }
    }

    /// One line: `2 CPUs (model), 23.4 GiB, Debian 12, Linux 6.1 x86_64`.
    pub(super) fn summary(&self) -> String {
        let mut parts = vec![match &self.cpu_model {
            Some(model) => format!("{} CPUs ({model})", self.cpus),
            None => format!("{} CPUs", self.cpus),
        }];
        if let Some(gib) = self.memory_gib {
            parts.push(format!("{gib:.1} GiB memory"));
        }
        if let Some(os) = &self.os {
            parts.push(os.clone());
        }
        parts.push(match &self.kernel {
            Some(k) => format!("{} {k} {}", std::env::consts::OS, self.arch),
            None => format!("{} {}", std::env::consts::OS, self.arch),
        });
        parts.join(", ")
    }
}

/// The process's resident set size in bytes (`VmRSS`), when the system reports it.
pub(super) fn rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    kib_field(&text, "VmRSS:").map(|kib| kib * 1024)
}

/// The CPU time this process has used so far (user + system), in clock ticks, when the system
/// reports it.
pub(super) fn cpu_ticks() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the line, utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The number of `key  123 kB` in `/proc` text.
fn kib_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fields_parse() {
        assert_eq!(
            kib_field("Name:\tx\nVmRSS:\t  12345 kB\n", "VmRSS:"),
            Some(12345)
        );
        assert_eq!(kib_field("VmHWM: 1 kB", "VmRSS:"), None);
        if cfg!(target_os = "linux") {
            assert!(rss_bytes().unwrap() > 0);
            assert!(cpu_ticks().is_some());
        }
    }
}
