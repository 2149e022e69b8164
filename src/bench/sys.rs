//! What the bench reads from and asks of the operating system: the open-file limit, and the
//! CPU time and resident memory of itself and of the broker (Linux `/proc`; elsewhere these
//! are `None` and the report says so).

use std::time::Instant;

pub use crate::os::{cpu_ticks, raise_nofile, rss_kib, TICKS_PER_SEC};

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
    fn own_process_is_readable() {
        assert!(cpu_ticks(None).is_some());
        assert!(rss_kib(std::process::id()).is_some_and(|kib| kib > 0));
        assert!(raise_nofile().is_some_and(|n| n > 0));
    }
}
