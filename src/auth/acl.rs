//! The ACL file in Mosquitto's syntax and its check, with the semantics of Mosquitto
//! 2.0's default security plugin:
//! - `user NAME` starts a block; `topic [read|write|readwrite|deny] FILTER` rules before
//!   any `user` line apply to clients without a username; `pattern …` rules (with `%c`
//!   the client id and `%u` the username) apply to every client wherever they appear.
//! - A client's own block is checked first, then the patterns. In each list every `deny`
//!   that matches refuses; otherwise the first rule that matches with the access asked
//!   for grants it. Nothing granted: refused.
//! - With any pattern rule present, a username or client id containing `+` or `#` gets
//!   nothing from the patterns (it could widen its own filters).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::matching::{filter_covers, topic_matches};
use super::AuthError;
use crate::protocol::topic::valid_filter;

/// What a client wants to do with a topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Receive a message published on this topic name (checked at delivery).
    Read,
    /// Publish to this topic name (also a will's topic).
    Write,
    /// Subscribe with this filter: granted by `read` rules whose filter covers it.
    Subscribe,
}

/// The outcome of a check, with the rule that decided it for the dashboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// e.g. `acl:12 topic read sensors/#`; `None` when no rule matched (refused) or no
    /// ACL file is configured (allowed). Shared, so a check never allocates it.
    pub rule: Option<Arc<str>>,
}

impl Decision {
    pub(crate) fn allow(rule: Option<Arc<str>>) -> Self {
        Self {
            allowed: true,
            rule,
        }
    }

    pub(crate) fn deny(rule: Option<Arc<str>>) -> Self {
        Self {
            allowed: false,
            rule,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Perm {
    Read,
    Write,
    ReadWrite,
    Deny,
}

impl Perm {
    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "read" => Self::Read,
            "write" => Self::Write,
            "readwrite" => Self::ReadWrite,
            "deny" => Self::Deny,
            _ => return None,
        })
    }

    fn word(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::ReadWrite => "readwrite",
            Self::Deny => "deny",
        }
    }

    fn grants(self, access: Access) -> bool {
        match access {
            Access::Read | Access::Subscribe => matches!(self, Self::Read | Self::ReadWrite),
            Access::Write => matches!(self, Self::Write | Self::ReadWrite),
        }
    }
}

/// A rule's filter: split once at load, or a template filled in per check.
#[derive(Clone, Debug)]
enum Filter {
    Levels(Box<[Box<str>]>),
    Template { text: Box<str>, uses_username: bool },
}

#[derive(Clone, Debug)]
struct Rule {
    perm: Perm,
    filter: Filter,
    label: Arc<str>,
}

/// Rules in checking order: every deny first, then the others in file order.
#[derive(Clone, Debug, Default)]
struct RuleList {
    denies: Vec<Rule>,
    grants: Vec<Rule>,
}

impl RuleList {
    fn push(&mut self, rule: Rule) {
        if rule.perm == Perm::Deny {
            self.denies.push(rule);
        } else {
            self.grants.push(rule);
        }
    }

    fn is_empty(&self) -> bool {
        self.denies.is_empty() && self.grants.is_empty()
    }

    /// `Some(decision)` if a rule in this list decides, `None` to go on.
    fn decide(&self, ids: &Ids<'_>, topic: &str, access: Access) -> Option<Decision> {
        for rule in &self.denies {
            if rule_matches(rule, ids, topic, access) {
                return Some(Decision::deny(Some(rule.label.clone())));
            }
        }
        for rule in &self.grants {
            if rule.perm.grants(access) && rule_matches(rule, ids, topic, access) {
                return Some(Decision::allow(Some(rule.label.clone())));
            }
        }
        None
    }
}

struct Ids<'a> {
    client_id: &'a str,
    username: Option<&'a str>,
}

/// A loaded ACL file.
#[derive(Clone, Debug, Default)]
pub struct AclFile {
    /// Rules before any `user` line: for clients without a username.
    anonymous: RuleList,
    users: HashMap<Box<str>, RuleList>,
    patterns: RuleList,
}

impl AclFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|err| AuthError::Io {
            path: path.to_path_buf(),
            err,
        })?;
        Self::parse(&text, path)
    }

    /// Parses the text of an ACL file; `origin` names it in errors and rule labels.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, AuthError> {
        let name = origin.file_name().map_or_else(
            || origin.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut acl = Self::default();
        // `None` until the first `user` line: the anonymous block.
        let mut user: Option<Box<str>> = None;
        for (n, raw) in text.lines().enumerate() {
            let line_no = n + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: String| AuthError::Parse {
                path: origin.to_path_buf(),
                line: line_no,
                message,
            };
            let (keyword, rest) = split_word(line);
            match keyword {
                "user" => {
                    if rest.is_empty() {
                        return Err(err("`user` without a username".into()));
                    }
                    // The rest of the line, so names may contain blanks, as in Mosquitto.
                    user = Some(rest.into());
                }
                "topic" | "pattern" => {
                    let (first, after) = split_word(rest);
                    if first.is_empty() {
                        return Err(err(format!("`{keyword}` without a topic filter")));
                    }
                    // One word only: it is the filter and access is readwrite, as in
                    // Mosquitto (so `topic read` means the topic named "read").
                    let (perm, filter) = if after.is_empty() {
                        (Perm::ReadWrite, first)
                    } else {
                        let perm = Perm::parse(first).ok_or_else(|| {
                            err(format!(
                                "unknown access {first:?} (expected read, write, readwrite or deny)"
                            ))
                        })?;
                        (perm, after)
                    };
                    if !valid_filter(filter) {
                        return Err(err(format!("invalid topic filter {filter:?}")));
                    }
                    let label: Arc<str> =
                        format!("{name}:{line_no} {keyword} {} {filter}", perm.word()).into();
                    if keyword == "topic" {
                        let rule = Rule {
                            perm,
                            filter: Filter::Levels(split_levels(filter)),
                            label,
                        };
                        match &user {
                            None => acl.anonymous.push(rule),
                            Some(u) => acl.users.entry(u.clone()).or_default().push(rule),
                        }
                    } else {
                        let filter = if filter.contains("%c") || filter.contains("%u") {
                            Filter::Template {
                                text: filter.into(),
                                uses_username: filter.contains("%u"),
                            }
                        } else {
                            Filter::Levels(split_levels(filter))
                        };
                        acl.patterns.push(Rule {
                            perm,
                            filter,
                            label,
                        });
                    }
                }
                other => {
                    return Err(err(format!(
                        "unknown keyword {other:?} (expected topic, pattern or user)"
                    )))
                }
            }
        }
        Ok(acl)
    }

    /// May this client do `access` on `topic`? `topic` is a topic name for Read and
    /// Write, a subscription filter (possibly `$share/group/filter`) for Subscribe.
    pub fn check(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> Decision {
        let topic = match (access, topic.strip_prefix("$share/")) {
            // The group name does not matter to the ACL, only the filter [MQTT-4.8.2-1].
            (Access::Subscribe, Some(rest)) => match rest.split_once('/') {
                Some((_, filter)) => filter,
                None => return Decision::deny(None),
            },
            _ => topic,
        };
        let ids = Ids {
            client_id,
            username,
        };
        let own = match username {
            Some(u) => self.users.get(u),
            None => Some(&self.anonymous),
        };
        if let Some(decision) = own.and_then(|list| list.decide(&ids, topic, access)) {
            return decision;
        }
        if self.patterns.is_empty() {
            return Decision::deny(None);
        }
        if username.is_some_and(has_wildcard) || has_wildcard(client_id) {
            return Decision::deny(None);
        }
        self.patterns
            .decide(&ids, topic, access)
            .unwrap_or(Decision::deny(None))
    }

    /// The number of rules of all kinds.
    pub fn rule_count(&self) -> usize {
        let len = |l: &RuleList| l.denies.len() + l.grants.len();
        len(&self.anonymous) + len(&self.patterns) + self.users.values().map(len).sum::<usize>()
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['+', '#'])
}

fn split_word(s: &str) -> (&str, &str) {
    match s.split_once([' ', '\t']) {
        Some((word, rest)) => (word, rest.trim()),
        None => (s, ""),
    }
}

fn split_levels(filter: &str) -> Box<[Box<str>]> {
    filter.split('/').map(Into::into).collect()
}

thread_local! {
    /// Scratch space for filling in `%c`/`%u`, reused so a check does not allocate.
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

fn rule_matches(rule: &Rule, ids: &Ids<'_>, topic: &str, access: Access) -> bool {
    let matches = |levels: &mut dyn Iterator<Item = &str>| match access {
        Access::Subscribe => filter_covers(levels, topic),
        Access::Read | Access::Write => topic_matches(levels, topic),
    };
    match &rule.filter {
        Filter::Levels(levels) => matches(&mut levels.iter().map(AsRef::as_ref)),
        Filter::Template {
            text,
            uses_username,
        } => {
            // Mosquitto skips `%u` rules for clients without a username.
            if *uses_username && ids.username.is_none() {
                return false;
            }
            SCRATCH.with(|cell| {
                let Ok(mut buf) = cell.try_borrow_mut() else {
                    return false;
                };
                fill_template(&mut buf, text, ids);
                matches(&mut buf.split('/'))
            })
        }
    }
}

/// Replaces `%c` with the client id and `%u` with the username; any other `%` stays.
fn fill_template(out: &mut String, template: &str, ids: &Ids<'_>) {
    out.clear();
    let mut rest = template;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match (after.as_bytes().first(), ids.username) {
            (Some(b'c'), _) => out.push_str(ids.client_id),
            (Some(b'u'), Some(u)) => out.push_str(u),
            _ => {
                out.push('%');
                rest = after;
                continue;
            }
        }
        rest = &after[1..];
    }
    out.push_str(rest);
}
