//! The process's operating-system limits, for the broker and `midge bench` alike.

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
