//! Topic names and filters: validation (section 4.7) and matching.

/// A topic name a client may publish to: at least one character [MQTT-4.7.3-1], no
/// wildcards [MQTT-3.3.2-2], no U+0000 [MQTT-4.7.3-2], at most 65,535 bytes.
pub fn valid_topic_name(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= usize::from(u16::MAX)
        && !topic.bytes().any(|b| matches!(b, b'+' | b'#' | 0))
}

/// A topic filter: at least one character [MQTT-4.7.3-1]; `#` only alone as the last level
/// [MQTT-4.7.1-2]; `+` only as a whole level [MQTT-4.7.1-3]; no U+0000 [MQTT-4.7.3-2].
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.len() > usize::from(u16::MAX) || filter.contains('\0') {
        return false;
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        match level {
            "#" if !last => return false,
            "#" | "+" => {}
            l if l.contains(['#', '+']) => return false,
            _ => {}
        }
    }
    true
}

/// Does `filter` match `topic`? Both must be valid. Topics beginning with `$` are not
/// matched by a filter beginning with a wildcard [MQTT-4.7.2-1]. Written once in
/// `midge-topic`, which the dashboard shares.
pub use midge_topic::matches;

/// A parsed subscription filter: plain, or `$share/{group}/{filter}` (v5 section 4.8.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedFilter<'a> {
    pub group: &'a str,
    pub filter: &'a str,
}

/// `Ok(None)` for a plain filter, `Ok(Some)` for a valid shared one, `Err(())` for a
/// `$share/` filter with an empty or wildcard group name or a missing filter
/// [MQTT-4.8.2-1], [MQTT-4.8.2-2].
#[expect(clippy::result_unit_err, reason = "the only failure is 'invalid'")]
pub fn parse_shared(filter: &str) -> Result<Option<SharedFilter<'_>>, ()> {
    let Some(rest) = filter.strip_prefix("$share/") else {
        return Ok(None);
    };
    let (group, inner) = rest.split_once('/').ok_or(())?;
    if group.is_empty() || group.contains(['+', '#']) || !valid_filter(inner) {
        return Err(());
    }
    Ok(Some(SharedFilter {
        group,
        filter: inner,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_validity() {
        for ok in [
            "a",
            "/",
            "a/b",
            "+",
            "#",
            "a/+/b",
            "a/#",
            "+/+",
            "$SYS/#",
            "sport/tennis/+",
        ] {
            assert!(valid_filter(ok), "{ok}");
        }
        for bad in ["", "a#", "a/#/b", "a+", "a/b+/c", "#/a", "a\0b"] {
            assert!(!valid_filter(bad), "{bad:?}");
        }
    }

    #[test]
    fn topic_validity() {
        assert!(valid_topic_name("a/b"));
        assert!(valid_topic_name("/"));
        assert!(!valid_topic_name(""));
        assert!(!valid_topic_name("a/+"));
        assert!(!valid_topic_name("a/#"));
    }

    #[test]
    fn shared() {
        assert_eq!(parse_shared("a/b"), Ok(None));
        assert_eq!(
            parse_shared("$share/g/a/+"),
            Ok(Some(SharedFilter {
                group: "g",
                filter: "a/+"
            }))
        );
        assert_eq!(parse_shared("$share//a"), Err(()));
        assert_eq!(parse_shared("$share/g"), Err(()));
        assert_eq!(parse_shared("$share/g+/a"), Err(()));
    }
}
