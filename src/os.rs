//! The process and the operating system: the open-file limit, and CPU time and resident
//! memory from Linux `/proc` (elsewhere `None`), for the broker's metrics and `midge bench`;
//! the clock in Unix milliseconds and random ids.

/// Raises the soft RLIMIT_NOFILE to the hard limit (every connection is a file
/// descriptor; distributions default the soft limit to 1024) and returns the soft limit
/// now in force, if known. The broker calls it at start-up, `midge bench` before opening
/// its connections.
pub fn raise_nofile() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.maximum.is_some() && lim.current != lim.maximum {
        lim.current = lim.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, lim) {
            tracing::warn!("cannot raise the open-file limit: {e}");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// Linux reports `/proc/*/stat` times in USER_HZ units, fixed at 100 for user space.
pub const TICKS_PER_SEC: f64 = 100.0;

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

/// Unix milliseconds of `t` (0 before the epoch): the one wall-clock conversion the
/// broker, its store, its logs and its monitors share.
pub fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Unix milliseconds now.
/// 64 random bits from the OS; the clock's nanoseconds if it has no randomness to give.
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    match getrandom::fill(&mut b) {
        Ok(()) => u64::from_le_bytes(b),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    }
}

pub fn unix_ms_now() -> u64 {
    unix_ms(std::time::SystemTime::now())
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
}
