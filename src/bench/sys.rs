//! What the bench reads from and asks of the operating system: the open-file limit, and the
//! CPU time and resident memory of itself and of the broker (Linux `/proc`; elsewhere these
//! are `None` and the report says so).

use std::time::Instant;

pub use crate::os::raise_nofile;

/// Linux reports `/proc/*/stat` times in USER_HZ units, fixed at 100 for user space.
const TICKS_PER_SEC: f64 = 100.0;

/// User + system CPU time of a process in ticks: `None` = this process.
pub fn cpu_ticks(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    parse_stat_ticks(&text)
}

/// Fields 14 (utime) and 15 (stime) of `/proc/PID/stat`; the command name (field 2) may
/// contain spaces and parentheses, so counting starts after its last ')'.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // field 3 is the first after ')'
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Resident set size in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&text)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU use of this process and optionally the broker between `start` and `stop`.
pub struct CpuMeter {
    at: Instant,
    own: Option<u64>,
    broker_pid: Option<u32>,
    broker: Option<u64>,
}

impl CpuMeter {
    pub fn start(broker_pid: Option<u32>) -> Self {
        Self {
            at: Instant::now(),
            own: cpu_ticks(None),
            broker_pid,
            broker: broker_pid.and_then(|p| cpu_ticks(Some(p))),
        }
    }

    /// Percent of one core used since `start`: (this process, the broker).
    pub fn stop(&self) -> (Option<f64>, Option<f64>) {
        let secs = self.at.elapsed().as_secs_f64().max(1e-3);
        let pct = |before: Option<u64>, after: Option<u64>| {
            let d = after?.checked_sub(before?)?;
            #[expect(clippy::cast_precision_loss, reason = "ticks are small")]
            Some(d as f64 / TICKS_PER_SEC / secs * 100.0)
        };
        (
            pct(self.own, cpu_ticks(None)),
            pct(
                self.broker,
                self.broker_pid.and_then(|p| cpu_ticks(Some(p))),
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_tricky_name() {
        let stat = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 17 0 0 20 0 1 0";
        assert_eq!(parse_stat_ticks(stat), Some(267));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn vm_rss_line() {
        let status = "Name:\tmidge\nVmPeak:\t 100 kB\nVmRSS:\t   5120 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(5120));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn own_process_is_readable() {
        assert!(cpu_ticks(None).is_some());
        assert!(rss_kib(std::process::id()).is_some_and(|kib| kib > 0));
        assert!(raise_nofile().is_some_and(|n| n > 0));
    }
}
