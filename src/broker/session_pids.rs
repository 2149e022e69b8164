//! The packet ids a session has in flight outward [MQTT-2.2.1-3]: a bitmap of all 65,535
//! ids, so picking a free id costs the same whatever the window (a bridge keeps up to
//! 1,000 in flight). Allocated only once a session has `SCAN_MAX` messages in flight at
//! once; below that a scan of the window is as cheap and an idle session keeps no 8 KiB.

use crate::protocol::PacketId;

/// In flight at once before the bitmap is built (a scan of this many is a few ns).
pub(super) const SCAN_MAX: usize = 32;

const WORDS: usize = 65_536 / 64;

/// Ids in use, when the window has grown past `SCAN_MAX`; `None` means "scan the window".
/// One thin pointer inside every session (and so every client task).
#[derive(Default)]
pub(super) struct PidSet {
    bits: Option<Box<[u64; WORDS]>>,
}

impl std::fmt::Debug for PidSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.bits {
            Some(b) => write!(
                f,
                "PidSet({} in use)",
                b.iter().map(|w| w.count_ones()).sum::<u32>()
            ),
            None => f.write_str("PidSet(scan)"),
        }
    }
}

fn slot(pid: PacketId) -> (usize, u64) {
    let i = usize::from(pid.get());
    (i / 64, 1u64 << (i % 64))
}

impl PidSet {
    /// Whether the bitmap is in use (tests).
    #[cfg(test)]
    pub(super) fn is_bitmap(&self) -> bool {
        self.bits.is_some()
    }

    /// `Some(in use)` from the bitmap, `None` when the caller must scan its window.
    pub(super) fn contains(&self, pid: PacketId) -> Option<bool> {
        let (w, m) = slot(pid);
        self.bits
            .as_ref()
            .map(|b| b.get(w).is_some_and(|x| x & m != 0))
    }

    /// `pid` entered the window, which now holds `len` messages; `all` lists every id
    /// in it (read only when the bitmap is built, once).
    pub(super) fn insert<I: Iterator<Item = PacketId>>(
        &mut self,
        pid: PacketId,
        len: usize,
        all: impl FnOnce() -> I,
    ) {
        if self.bits.is_none() && len >= SCAN_MAX {
            let Ok(mut b) = Box::<[u64; WORDS]>::try_from(vec![0u64; WORDS].into_boxed_slice())
            else {
                return;
            };
            for p in all() {
                let (w, m) = slot(p);
                if let Some(x) = b.get_mut(w) {
                    *x |= m;
                }
            }
            self.bits = Some(b);
        }
        self.set(pid, true);
    }

    /// `pid` left the window: every place that ends an outgoing flow calls this.
    pub(super) fn remove(&mut self, pid: PacketId) {
        self.set(pid, false);
    }

    fn set(&mut self, pid: PacketId, on: bool) {
        let (w, m) = slot(pid);
        if let Some(x) = self.bits.as_mut().and_then(|b| b.get_mut(w)) {
            if on {
                *x |= m;
            } else {
                *x &= !m;
            }
        }
    }
}
