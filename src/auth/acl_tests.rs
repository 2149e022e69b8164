//! ACL tables: user blocks, anonymous rules, patterns, deny precedence, access kinds,
//! subscription coverage, `$SYS`, and parse errors naming file and line.

use std::path::Path;

use super::{Access, AclFile, AuthError, Authenticator};

fn acl(text: &str) -> AclFile {
    AclFile::parse(text, Path::new("/etc/midge/acl")).expect("valid acl")
}

/// (client id, username, topic, access, allowed)
type Case<'a> = (&'a str, Option<&'a str>, &'a str, Access, bool);

fn check_table(acl: &AclFile, cases: &[Case<'_>]) {
    for &(client, user, topic, access, allowed) in cases {
        let d = acl.check(client, user, topic, access);
        assert_eq!(
            d.allowed, allowed,
            "{client} {user:?} {access:?} {topic}: decided by {:?}",
            d.rule
        );
    }
}

use Access::{Read as R, Subscribe as S, Write as W};

const FILE: &str = "\
# anonymous clients may only read the weather
topic read weather/#

user alice
topic readwrite home/alice/#
topic write alerts
topic deny home/alice/secret

user bob
topic home/bob/#
topic read home/+/status

pattern readwrite devices/%c/#
pattern read users/%u/inbox
";

#[test]
fn user_blocks_and_anonymous_rules() {
    let a = acl(FILE);
    check_table(
        &a,
        &[
            ("anon", None, "weather/today", R, true),
            ("anon", None, "weather/today", W, false),
            ("anon", None, "home/alice/x", R, false),
            ("a1", Some("alice"), "home/alice/x", R, true),
            ("a1", Some("alice"), "home/alice/x", W, true),
            ("a1", Some("alice"), "alerts", W, true),
            ("a1", Some("alice"), "alerts", R, false),
            // The anonymous block does not apply to a client with a username.
            ("a1", Some("alice"), "weather/today", R, false),
            ("b1", Some("bob"), "home/bob/lamp", W, true),
            ("b1", Some("bob"), "home/alice/status", R, true),
            ("b1", Some("bob"), "home/alice/status", W, false),
            ("b1", Some("bob"), "home/alice/x", R, false),
            // A username with no block gets only the patterns.
            ("c1", Some("carol"), "home/bob/lamp", R, false),
        ],
    );
}

#[test]
fn deny_wins_within_a_block() {
    let a = acl(FILE);
    let d = a.check("a1", Some("alice"), "home/alice/secret", R);
    assert!(!d.allowed);
    assert_eq!(
        d.rule.as_deref(),
        Some("acl:7 topic deny home/alice/secret")
    );
    let d = a.check("a1", Some("alice"), "home/alice/secret", W);
    assert!(!d.allowed);
    // Deny listed after the grant still wins; a deny never grants.
    let b = acl("topic read a/#\ntopic deny a/b\n");
    check_table(
        &b,
        &[("x", None, "a/b", R, false), ("x", None, "a/c", R, true)],
    );
}

#[test]
fn decision_names_the_rule() {
    let a = acl(FILE);
    let d = a.check("b1", Some("bob"), "home/carol/status", R);
    assert!(d.allowed);
    assert_eq!(d.rule.as_deref(), Some("acl:11 topic read home/+/status"));
    let d = a.check("b1", Some("bob"), "home/bob/x", W);
    assert_eq!(d.rule.as_deref(), Some("acl:10 topic readwrite home/bob/#"));
    let d = a.check("b1", Some("bob"), "nowhere", R);
    assert_eq!((d.allowed, d.rule), (false, None));
}

#[test]
fn patterns_substitute_client_id_and_username() {
    let a = acl(FILE);
    check_table(
        &a,
        &[
            ("dev1", None, "devices/dev1/temp", W, true),
            ("dev1", None, "devices/dev1", R, true),
            ("dev1", None, "devices/dev2/temp", W, false),
            ("dev1", Some("carol"), "devices/dev1/temp", R, true),
            ("x", Some("carol"), "users/carol/inbox", R, true),
            ("x", Some("carol"), "users/carol/inbox", W, false),
            ("x", Some("carol"), "users/dave/inbox", R, false),
            // `%u` rules do not apply without a username.
            ("x", None, "users//inbox", R, false),
            ("x", None, "users/%u/inbox", R, false),
            // A client id with '/' spans levels, as in Mosquitto's string substitution.
            ("site/7", None, "devices/site/7/t", W, true),
            // Wildcards in ids must not widen the pattern.
            ("+", None, "devices/dev9/t", W, false),
            ("dev1", Some("#"), "devices/dev1/t", W, false),
            ("#", None, "devices/#/t", R, false),
        ],
    );
    let d = a.check("dev1", None, "devices/dev1/x", W);
    assert_eq!(
        d.rule.as_deref(),
        Some("acl:13 pattern readwrite devices/%c/#")
    );
}

#[test]
fn pattern_denies_and_user_grants() {
    // Mosquitto checks the user block first: its grant stands even if a pattern denies.
    let a = acl("pattern deny private/%c\nuser u\ntopic read private/#\n");
    check_table(
        &a,
        &[
            ("me", Some("u"), "private/me", R, true),
            ("me", Some("v"), "private/me", R, false),
        ],
    );
    // Deny patterns come before grant patterns wherever they are in the file.
    let b = acl("pattern read in/%c/#\npattern deny in/%c/secret\n");
    check_table(
        &b,
        &[
            ("me", None, "in/me/a", R, true),
            ("me", None, "in/me/secret", R, false),
        ],
    );
}

#[test]
fn default_access_keyword_quirks() {
    // One word after `topic` is the filter, with readwrite (Mosquitto's reading).
    let a = acl("topic sensors/#\ntopic read\n");
    check_table(
        &a,
        &[
            ("c", None, "sensors/1", R, true),
            ("c", None, "sensors/1", W, true),
            ("c", None, "read", W, true),
        ],
    );
    // The filter is the rest of the line, so it may contain blanks.
    let b = acl("topic read a b/c\n");
    check_table(&b, &[("c", None, "a b/c", R, true)]);
    // Repeated `user` blocks add up.
    let c = acl("user u\ntopic read a\nuser v\ntopic read b\nuser u\ntopic read c\n");
    check_table(
        &c,
        &[
            ("c", Some("u"), "a", R, true),
            ("c", Some("u"), "c", R, true),
            ("c", Some("u"), "b", R, false),
        ],
    );
}

#[test]
fn subscribe_needs_a_read_rule_covering_the_filter() {
    let a = acl(
        "user u\ntopic read sensors/#\ntopic read rooms/+/temp\ntopic write cmd/#\n\
         topic deny sensors/secret/#\n",
    );
    check_table(
        &a,
        &[
            ("c", Some("u"), "sensors/#", S, true),
            ("c", Some("u"), "sensors/+/t", S, true),
            ("c", Some("u"), "sensors", S, true),
            ("c", Some("u"), "rooms/+/temp", S, true),
            ("c", Some("u"), "rooms/kitchen/temp", S, true),
            ("c", Some("u"), "rooms/#", S, false),
            ("c", Some("u"), "rooms/+/+", S, false),
            ("c", Some("u"), "#", S, false),
            ("c", Some("u"), "cmd/#", S, false),
            ("c", Some("u"), "sensors/secret/#", S, false),
            ("c", Some("u"), "sensors/secret/x", S, false),
            ("c", Some("u"), "$share/g/sensors/#", S, true),
            ("c", Some("u"), "$share/g/rooms/#", S, false),
            ("c", Some("u"), "$share/g", S, false),
        ],
    );
}

#[test]
fn sys_topics_need_rules_that_name_them() {
    let a = acl("topic read #\nuser mon\ntopic read $SYS/#\ntopic read +/x\n");
    check_table(
        &a,
        &[
            ("c", None, "a/b", R, true),
            ("c", None, "$SYS/broker/uptime", R, false),
            ("c", None, "$SYS/#", S, false),
            ("m", Some("mon"), "$SYS/broker/uptime", R, true),
            ("m", Some("mon"), "$SYS/broker/#", S, true),
            ("m", Some("mon"), "$SYS/x", R, true),
            ("m", Some("mon"), "$SYS/x", S, true),
            ("m", Some("mon"), "a/x", R, true),
        ],
    );
}

#[test]
fn authorizer_without_acl_allows_all_but_sys_writes() {
    let open = Authenticator::from_parts(true, None, None);
    assert!(open.authorize("c", None, "any/topic", W).allowed);
    assert!(open.authorize("c", None, "#", S).allowed);
    assert!(open.authorize("c", None, "$SYS/broker/uptime", R).allowed);
    let d = open.authorize("c", None, "$SYS/broker/uptime", W);
    assert!(!d.allowed);
    assert!(d.rule.is_some());
    assert!(!open.authorize("c", None, "$share/g/t", W).allowed);

    // An ACL file that is empty denies everything.
    let closed = Authenticator::from_parts(true, None, Some(acl("# nothing\n")));
    assert!(!closed.authorize("c", None, "a", R).allowed);
    assert!(!closed.authorize("c", Some("u"), "a", W).allowed);
    // Even an ACL that grants `$SYS/#` write cannot override the built-in rule.
    let sys = Authenticator::from_parts(true, None, Some(acl("topic readwrite $SYS/#\n")));
    assert!(sys.authorize("c", None, "$SYS/x", R).allowed);
    assert!(!sys.authorize("c", None, "$SYS/x", W).allowed);
}

#[test]
fn bad_lines_are_named() {
    let cases = [
        ("topic read\nuser\n", 2, "without a username"),
        ("\n\ntopic reed a/b\n", 3, "unknown access"),
        ("topic read a/#/b\n", 1, "invalid topic filter"),
        ("# ok\nsubscribe a\n", 2, "unknown keyword"),
        ("pattern read a+/%c\n", 1, "invalid topic filter"),
        ("topic\n", 1, "without a topic filter"),
    ];
    for (text, line, what) in cases {
        let err = AclFile::parse(text, Path::new("/etc/midge/acl")).expect_err(text);
        let msg = err.to_string();
        assert!(
            matches!(err, AuthError::Parse { line: l, .. } if l == line),
            "{text:?}: {msg}"
        );
        assert!(
            msg.starts_with(&format!("/etc/midge/acl:{line}: ")),
            "{msg}"
        );
        assert!(msg.contains(what), "{text:?}: {msg}");
    }
}

#[test]
fn loads_from_disk_and_through_authenticator() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("acl");
    std::fs::write(&file, FILE).expect("write");
    let auth = Authenticator::new(false, None, Some(&file)).expect("load");
    assert!(
        auth.authorize("a1", Some("alice"), "home/alice/x", W)
            .allowed
    );
    assert!(!auth.authorize("a1", Some("alice"), "home/bob/x", W).allowed);
    assert_eq!(auth.acl().map(AclFile::rule_count), Some(8));
    let err =
        Authenticator::new(false, None, Some(&dir.path().join("missing"))).expect_err("missing");
    assert!(err.to_string().contains("missing"), "{err}");
}
