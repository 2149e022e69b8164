//! The broker's clock: the router's timers and deadlines (will delay, session expiry,
//! message expiry) read the time here, so a test can drive them with
//! `tokio::time::pause()` and `advance()`. Outside a paused runtime (always in a release
//! build: tokio's `test-util` is a dev-dependency feature) it is the monotonic clock.

use std::time::Instant;

/// Now, as tokio's (possibly paused) clock sees it.
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}
