//! Which topic lines a message matches and how its topic changes on the way: the local
//! prefix is swapped for the remote one going out, and back coming in (Mosquitto's
//! `topic pattern dir qos local-prefix remote-prefix`).

use crate::config::BridgeTopic;
use crate::protocol::topic::matches;

/// The topic on the remote for a local message, by the first `out` line it matches.
pub fn to_remote(lines: &[BridgeTopic], local: &str) -> Option<String> {
    lines
        .iter()
        .filter(|t| t.direction.out() && matches(&t.local_filter(), local))
        .find_map(|t| swap(local, &t.local_prefix, &t.remote_prefix))
}

/// The local topic for a remote message, by the first `in` line it matches.
pub fn to_local(lines: &[BridgeTopic], remote: &str) -> Option<String> {
    lines
        .iter()
        .filter(|t| t.direction.inbound() && matches(&t.remote_filter(), remote))
        .find_map(|t| swap(remote, &t.remote_prefix, &t.local_prefix))
}

fn swap(topic: &str, from: &str, to: &str) -> Option<String> {
    let rest = topic.strip_prefix(from)?;
    let out = format!("{to}{rest}");
    // An empty pattern with prefixes maps the prefix topic itself; never an empty name.
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_topic;

    fn lines(l: &[&str]) -> Vec<BridgeTopic> {
        l.iter().filter_map(|l| parse_topic(l).ok()).collect()
    }

    #[test]
    fn prefixes_swap_each_way() {
        let t = lines(&[
            "sensors/# out 1 site/ cloud/site1/",
            "cmd/# in 2 local/ remote/",
            "x/# both",
        ]);
        assert_eq!(
            to_remote(&t, "site/sensors/a").as_deref(),
            Some("cloud/site1/sensors/a")
        );
        assert_eq!(to_remote(&t, "sensors/a"), None, "no local prefix");
        assert_eq!(
            to_local(&t, "remote/cmd/go").as_deref(),
            Some("local/cmd/go")
        );
        assert_eq!(to_local(&t, "cloud/site1/sensors/a"), None, "out only");
        assert_eq!(to_remote(&t, "x/1").as_deref(), Some("x/1"));
        assert_eq!(to_local(&t, "x/1").as_deref(), Some("x/1"));
        assert_eq!(to_remote(&t, "remote/cmd/go"), None, "in only");
    }
}
