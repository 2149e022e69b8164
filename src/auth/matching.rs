//! Matching an ACL rule's filter, given level by level, against a topic name (PUBLISH
//! and delivery) or a subscription filter (SUBSCRIBE). No allocation.

/// Does the rule filter match `topic`? MQTT matching [MQTT-4.7.1-2], [MQTT-4.7.1-3], with
/// Mosquitto's rule that a topic starting with `$` only matches a filter starting with `$`
/// and the other way round (so `#` never grants `$SYS`) [MQTT-4.7.2-1].
pub fn topic_matches<'a>(mut rule: impl Iterator<Item = &'a str>, topic: &str) -> bool {
    let mut t = topic.split('/');
    let mut first = true;
    loop {
        let (r, tl) = (rule.next(), t.next());
        if first {
            first = false;
            let r_dollar = r.is_some_and(|l| l.starts_with('$'));
            if r_dollar != topic.starts_with('$') {
                return false;
            }
        }
        match (r, tl) {
            // `#` also matches the parent level: `a/#` matches `a` [MQTT-4.7.1-2].
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(rl), Some(tl)) if rl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Is every topic that subscription filter `sub` can match also matched by the rule
/// filter? A wildcard in the subscription must be covered by a wildcard in the rule: `+`
/// by `+` or `#`, `#` by `#` (as Mosquitto's dynamic-security plugin checks subscribe
/// ACLs). `$` topics only as for [`topic_matches`].
pub fn filter_covers<'a>(mut rule: impl Iterator<Item = &'a str>, sub: &str) -> bool {
    let mut s = sub.split('/');
    let mut index = 0usize;
    loop {
        let (r, sl) = (rule.next(), s.next());
        if index == 0 {
            let r_dollar = r.is_some_and(|l| l.starts_with('$'));
            if r_dollar != sub.starts_with('$') {
                return false;
            }
        }
        match (r, sl) {
            (Some("#"), _) => return true,
            // A top-level `#` matches only topics with at least one level, so `+/#`
            // covers it too.
            (Some("+"), Some("#")) if index == 0 => return rule.next() == Some("#"),
            (Some(_), Some("#")) => return false,
            (Some("+"), Some(_)) => {}
            // Literal levels must be equal; a `+` in the subscription is not covered by
            // a literal in the rule.
            (Some(rl), Some(sl)) if rl == sl && sl != "+" => {}
            (None, None) => return true,
            _ => return false,
        }
        index += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(rule: &str, topic: &str) -> bool {
        topic_matches(rule.split('/'), topic)
    }

    fn c(rule: &str, sub: &str) -> bool {
        filter_covers(rule.split('/'), sub)
    }

    #[test]
    fn topic_matching_table() {
        let yes = [
            ("a/b", "a/b"),
            ("a/+", "a/b"),
            ("a/+", "a/"),
            ("+/b", "/b"),
            ("a/#", "a"),
            ("a/#", "a/b/c"),
            ("#", "a/b"),
            ("foo/+/#", "foo/bar"),
            ("$SYS/#", "$SYS/broker/uptime"),
            ("$SYS/+/x", "$SYS/a/x"),
        ];
        for (r, t) in yes {
            assert!(m(r, t), "{r} should match {t}");
        }
        let no = [
            ("a/b", "a/c"),
            ("a/+", "a/b/c"),
            ("a/+", "a"),
            ("a/b/#", "a"),
            ("#", "$SYS/broker"),
            ("+/broker", "$SYS/broker"),
            ("$SYS/#", "SYS/x"),
            ("a", "a/b"),
            ("a/b", "a"),
        ];
        for (r, t) in no {
            assert!(!m(r, t), "{r} should not match {t}");
        }
    }

    #[test]
    fn subscription_coverage_table() {
        let yes = [
            ("#", "#"),
            ("#", "a/+/b"),
            ("a/#", "a/#"),
            ("a/#", "a/+"),
            ("a/#", "a"),
            ("a/#", "a/b/#"),
            ("a/+", "a/+"),
            ("a/+", "a/b"),
            ("+/#", "#"),
            ("+/+", "+/+"),
            ("$SYS/#", "$SYS/broker/#"),
            ("a/b", "a/b"),
        ];
        for (r, s) in yes {
            assert!(c(r, s), "{r} should cover {s}");
        }
        let no = [
            ("a/+", "a/#"),
            ("a/b", "a/+"),
            ("a/b", "a/#"),
            ("a/+/c", "a/#"),
            ("a/b/#", "a/#"),
            ("a/b/#", "a"),
            ("a/+", "a/b/c"),
            ("#", "$SYS/#"),
            ("+/#", "$SYS/x"),
            ("a/#", "#"),
            ("a/+/#", "a/#"),
            ("$SYS/#", "#"),
        ];
        for (r, s) in no {
            assert!(!c(r, s), "{r} should not cover {s}");
        }
    }
}
