//! The retained tree against the filter rules, and against a plain scan with
//! `topic::matches`, the reference it replaced.
use super::*;
use crate::protocol::{topic, QoS};
use bytes::Bytes;
use std::time::Duration;

fn msg(topic: &str, payload: &'static [u8]) -> Arc<Message> {
    Arc::new(Message::internal(
        topic,
        Bytes::from_static(payload),
        QoS::AtMostOnce,
        true,
    ))
}

fn store(topics: &[&str]) -> RetainedStore {
    let mut s = RetainedStore::default();
    for t in topics {
        s.set(msg(t, b"x"));
    }
    s
}

fn topics(s: &RetainedStore, filter: &str) -> Vec<String> {
    s.matching(filter, Instant::now())
        .iter()
        .map(|m| m.topic.to_string())
        .collect()
}

const TOPICS: &[&str] = &[
    "a",
    "a/b",
    "a/b/c",
    "a/c",
    "b/b",
    "/",
    "/x",
    "a//c",
    "$SYS/uptime",
    "$SYS/a/b",
    "$x",
];

#[test]
fn exact_filters_find_one_topic() {
    let s = store(TOPICS);
    assert_eq!(topics(&s, "a/b"), ["a/b"]);
    assert_eq!(topics(&s, "a"), ["a"]);
    assert_eq!(topics(&s, "/"), ["/"]);
    assert_eq!(topics(&s, "a//c"), ["a//c"]);
    assert_eq!(topics(&s, "$SYS/uptime"), ["$SYS/uptime"]);
    assert!(topics(&s, "a/b/c/d").is_empty());
    assert!(topics(&s, "b").is_empty(), "a node without a message");
}

#[test]
fn plus_matches_one_level() {
    let s = store(TOPICS);
    assert_eq!(topics(&s, "a/+"), ["a/b", "a/c"]);
    assert_eq!(topics(&s, "+/b"), ["a/b", "b/b"]);
    assert_eq!(topics(&s, "+"), ["a"]);
    assert_eq!(topics(&s, "+/+/c"), ["a//c", "a/b/c"]);
    // An empty level is a level.
    assert_eq!(topics(&s, "+/+"), ["/", "/x", "a/b", "a/c", "b/b"]);
    assert_eq!(topics(&s, "a/+/c"), ["a//c", "a/b/c"]);
}

#[test]
fn hash_matches_a_subtree_and_its_parent() {
    let s = store(TOPICS);
    // [MQTT-4.7.1-2]: `a/#` matches `a` itself.
    assert_eq!(topics(&s, "a/#"), ["a", "a//c", "a/b", "a/b/c", "a/c"]);
    assert_eq!(topics(&s, "a/b/#"), ["a/b", "a/b/c"]);
    assert_eq!(topics(&s, "+/b/#"), ["a/b", "a/b/c", "b/b"]);
    assert_eq!(topics(&s, "b/#"), ["b/b"], "the parent has no message");
    assert_eq!(
        topics(&s, "#"),
        ["/", "/x", "a", "a//c", "a/b", "a/b/c", "a/c", "b/b"]
    );
}

#[test]
fn leading_wildcards_skip_dollar_topics() {
    let s = store(TOPICS);
    // [MQTT-4.7.2-1]: `#` and `+/...` don't match `$` topics; `$SYS/#` does.
    for f in ["#", "+", "+/+", "+/#", "+/a/b"] {
        let got = topics(&s, f);
        assert!(got.iter().all(|t| !t.starts_with('$')), "{f}: {got:?}");
    }
    assert_eq!(topics(&s, "$SYS/#"), ["$SYS/a/b", "$SYS/uptime"]);
    assert_eq!(topics(&s, "$SYS/+"), ["$SYS/uptime"]);
    assert_eq!(topics(&s, "$SYS/+/b"), ["$SYS/a/b"]);
    assert_eq!(topics(&s, "$x"), ["$x"]);
}

#[test]
fn empty_payload_deletes_and_prunes() {
    let mut s = store(TOPICS);
    assert_eq!(s.len(), TOPICS.len());
    s.set(msg("a/b", b""));
    assert_eq!(s.len(), TOPICS.len() - 1);
    assert!(topics(&s, "a/b").is_empty());
    assert_eq!(topics(&s, "a/b/#"), ["a/b/c"], "the child stays");
    s.set(msg("a/b/c", b""));
    assert_eq!(topics(&s, "a/#"), ["a", "a//c", "a/c"]);
    // Deleting what isn't there changes nothing.
    s.set(msg("a/b", b""));
    s.set(msg("no/such/topic", b""));
    s.set(msg("a/b/c/d", b""));
    assert_eq!(s.len(), TOPICS.len() - 2);
    for t in TOPICS {
        s.set(msg(t, b""));
    }
    assert_eq!(s.len(), 0);
    assert!(s.is_empty());
    assert!(s.root.is_empty(), "every branch is pruned: {:?}", s.root);
}

#[test]
fn replacing_keeps_the_count() {
    let mut s = store(&["r/t"]);
    s.set(msg("r/t", b"v2"));
    assert_eq!(s.len(), 1);
    let got = s.matching("r/t", Instant::now());
    assert_eq!(&got[0].payload[..], b"v2");
    assert_eq!(s.iter().count(), 1);
}

#[test]
fn expired_messages_are_skipped() {
    let mut s = RetainedStore::default();
    let mut m = Message::internal("e/t", Bytes::from_static(b"x"), QoS::AtMostOnce, true);
    let now = Instant::now();
    m.expires_at = Some(now + Duration::from_secs(10));
    s.set(Arc::new(m));
    assert_eq!(s.matching("e/#", now).len(), 1);
    assert!(s.matching("e/#", now + Duration::from_secs(10)).is_empty());
    assert!(s.matching("e/t", now + Duration::from_secs(11)).is_empty());
}

#[test]
fn many_children_switch_to_a_map_and_back_to_nothing() {
    let mut s = RetainedStore::default();
    let names: Vec<String> = (0..100).map(|i| format!("m/{i:03}")).collect();
    for t in names.iter().rev() {
        s.set(Arc::new(Message::internal(
            t,
            Bytes::from_static(b"x"),
            QoS::AtMostOnce,
            true,
        )));
    }
    assert_eq!(s.len(), 100);
    assert_eq!(topics(&s, "m/+"), names, "in order");
    assert_eq!(topics(&s, "m/042"), ["m/042"]);
    let all: Vec<String> = s.iter().map(|m| m.topic.to_string()).collect();
    assert_eq!(all, names);
    for t in &names {
        s.set(msg(t, b""));
    }
    assert!(s.is_empty() && s.root.is_empty());
}

#[test]
fn deep_topics_do_not_recurse() {
    // Deeper than a thread's stack could take if the walks were recursive.
    let deep = vec!["l"; 200_000].join("/");
    let mut s = RetainedStore::default();
    s.set(Arc::new(Message::internal(
        &deep,
        Bytes::from_static(b"x"),
        QoS::AtMostOnce,
        true,
    )));
    assert_eq!(s.matching("#", Instant::now()).len(), 1);
    assert_eq!(s.iter().count(), 1);
    s.set(Arc::new(Message::internal(
        &deep,
        Bytes::new(),
        QoS::AtMostOnce,
        true,
    )));
    assert!(s.is_empty() && s.root.is_empty());
    // And a deep tree is dropped without recursion too.
    s.set(Arc::new(Message::internal(
        &deep,
        Bytes::from_static(b"x"),
        QoS::AtMostOnce,
        true,
    )));
    drop(s);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn level() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("$s".to_owned()),
            "[a-c]{1,2}",
        ]
    }

    fn topic_name() -> impl Strategy<Value = String> {
        proptest::collection::vec(level(), 1..4).prop_map(|v| v.join("/"))
    }

    fn filter() -> impl Strategy<Value = String> {
        let l = prop_oneof![level(), Just("+".to_owned())];
        (proptest::collection::vec(l, 1..4), any::<bool>()).prop_map(|(mut v, hash)| {
            if hash {
                v.push("#".to_owned());
            }
            v.join("/")
        })
    }

    proptest! {
        /// Any sequence of sets and deletes, then any filter: the tree returns what a scan
        /// of the live topics with `topic::matches` returns, sorted the same way.
        #[test]
        fn tree_matches_a_scan(
            ops in proptest::collection::vec((topic_name(), any::<bool>()), 0..40),
            filters in proptest::collection::vec(filter(), 1..8),
        ) {
            let mut s = RetainedStore::default();
            let mut live = std::collections::BTreeSet::new();
            for (t, delete) in &ops {
                let payload: &'static [u8] = if *delete { b"" } else { b"x" };
                s.set(Arc::new(Message::internal(t, Bytes::from_static(payload), QoS::AtMostOnce, true)));
                if *delete { live.remove(t); } else { live.insert(t.clone()); }
            }
            prop_assert_eq!(s.len(), live.len());
            for f in &filters {
                let mut want: Vec<&String> = live.iter().filter(|t| topic::matches(f, t)).collect();
                // Level order: compare level by level.
                want.sort_by(|a, b| a.split('/').cmp(b.split('/')));
                let got = topics(&s, f);
                prop_assert_eq!(got.iter().collect::<Vec<_>>(), want, "filter {}", f);
            }
            for t in &live {
                s.set(Arc::new(Message::internal(t, Bytes::new(), QoS::AtMostOnce, true)));
            }
            prop_assert!(s.is_empty() && s.root.is_empty());
        }
    }
}

/// A node and its level name are paid per topic level: at a million retained messages
/// (`r/<i/10>/<i%10>`) the tree took 67 MiB, a map by topic 114 MiB. Grow them knowingly.
#[test]
fn per_level_structs_stay_small() {
    assert!(std::mem::size_of::<Node>() <= 32, "Node");
    assert!(std::mem::size_of::<Level>() <= 24, "Level");
    assert_eq!(Level::new("status").as_bytes(), b"status");
    let long = "x".repeat(INLINE + 1);
    assert_eq!(Level::new(&long).as_bytes(), long.as_bytes());
}
