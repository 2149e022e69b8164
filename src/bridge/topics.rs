//! Which topic lines a message matches and how its topic changes on the way: the local
//! prefix is swapped for the remote one going out, and back coming in (Mosquitto's
//! `topic pattern dir qos local-prefix remote-prefix`).

use crate::config::BridgeTopic;
use crate::protocol::topic::matches;
use crate::protocol::ByteStr;

/// One direction of one topic line, with its filter spelled out once (it is matched
/// against every message).
struct Route {
    filter: String,
    /// Wildcard-free part of a filter `<literal>/#` (most lines): matched without
    /// splitting the topic into levels.
    under: Option<String>,
    from: String,
    to: String,
    /// `from == to`: the topic stays as it is.
    same: bool,
}

impl Route {
    /// Whether this line takes `topic`: it matches the filter and has the prefix to
    /// swap, and the result is not empty (an empty pattern with prefixes maps the prefix
    /// topic itself; `site/#` also matches `site`, which has no prefix `site/`).
    fn applies(&self, topic: &str) -> bool {
        let matched = match &self.under {
            // `a/#` matches `a` and everything below it [MQTT-4.7.1-2].
            Some(lit) => topic
                .strip_prefix(lit.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
            None => matches(&self.filter, topic),
        };
        matched
            && topic.starts_with(self.from.as_str())
            && (!self.to.is_empty() || topic.len() > self.from.len())
    }

    /// The topic on the other side (`applies` said yes). A line without prefixes keeps
    /// the topic as it is (no copy).
    fn map(&self, topic: &ByteStr) -> ByteStr {
        if self.same {
            return topic.clone();
        }
        let rest = topic.get(self.from.len()..).unwrap_or_default();
        ByteStr::from(format!("{}{rest}", self.to))
    }
}

/// A bridge's topic lines, out and in, ready for per-message use.
pub struct Routes {
    out: Vec<Route>,
    inbound: Vec<Route>,
}

impl Routes {
    pub fn new(lines: &[BridgeTopic]) -> Self {
        let route = |t: &BridgeTopic, out: bool| {
            let same = t.local_prefix == t.remote_prefix;
            let filter = if out {
                t.local_filter()
            } else {
                t.remote_filter()
            };
            let under = filter
                .strip_suffix("/#")
                .filter(|lit| !lit.is_empty() && !lit.contains(['+', '#']))
                .map(str::to_owned);
            if out {
                Route {
                    filter,
                    under,
                    from: t.local_prefix.clone(),
                    to: t.remote_prefix.clone(),
                    same,
                }
            } else {
                Route {
                    filter,
                    under,
                    from: t.remote_prefix.clone(),
                    to: t.local_prefix.clone(),
                    same,
                }
            }
        };
        Self {
            out: lines
                .iter()
                .filter(|t| t.direction.out())
                .map(|t| route(t, true))
                .collect(),
            inbound: lines
                .iter()
                .filter(|t| t.direction.inbound())
                .map(|t| route(t, false))
                .collect(),
        }
    }

    /// The topic on the remote for a local message, by the first `out` line it matches.
    pub fn to_remote(&self, local: &ByteStr) -> Option<ByteStr> {
        let r = self.out.iter().find(|r| r.applies(local))?;
        Some(r.map(local))
    }

    /// Whether a local message goes out under its own topic (its first `out` line has
    /// no prefixes to swap), so its encoded PUBLISH can be sent as it is.
    pub fn keeps_out(&self, local: &str) -> bool {
        self.out
            .iter()
            .find(|r| r.applies(local))
            .is_some_and(|r| r.same)
    }

    /// The local topic for a remote message, by the first `in` line it matches.
    pub fn to_local(&self, remote: &ByteStr) -> Option<ByteStr> {
        let r = self.inbound.iter().find(|r| r.applies(remote))?;
        Some(r.map(remote))
    }
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
        let t = Routes::new(&lines(&[
            "sensors/# out 1 site/ cloud/site1/",
            "cmd/# in 2 local/ remote/",
            "x/# both",
        ]));
        let to_remote = |t: &Routes, s: &str| t.to_remote(&ByteStr::from(s));
        let to_local = |t: &Routes, s: &str| t.to_local(&ByteStr::from(s));
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
        // `# both 0 p/ p/` keeps topics as they are, but `p` itself has no prefix `p/`.
        let same = Routes::new(&lines(&["# both 0 p/ p/"]));
        assert_eq!(to_remote(&same, "p/a").as_deref(), Some("p/a"));
        assert_eq!(to_remote(&same, "p"), None);
        assert_eq!(to_remote(&t, "site"), None);
        assert!(same.keeps_out("p/a") && !same.keeps_out("p"));
        assert!(t.keeps_out("x/1") && !t.keeps_out("site/sensors/a"));
        // `x/#` takes `x` and what is below it, not `xy` (no splitting into levels).
        assert!(t.keeps_out("x") && !t.keeps_out("xy/1") && !t.keeps_out("y/x/1"));
        // An empty pattern with prefixes maps the prefix topic itself.
        let bare = Routes::new(&lines(&["\"\" out 0 a/b c/d"]));
        assert_eq!(to_remote(&bare, "a/b").as_deref(), Some("c/d"));
    }
}
