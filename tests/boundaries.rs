//! DESIGN.md's boundaries, checked on the source text: which modules may name which
//! crates and modules, and no cycles between modules. A grep-level check (paths written
//! `crate::…`, `super::…` and `midge_*::…`), so it runs in every `cargo test`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).expect("readable source");
                out.push((p, text));
            }
        }
    }
    out.sort();
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `src/broker/router/mod.rs` → `broker::router`; test-only files count as their module.
fn module_of(path: &Path) -> Vec<String> {
    let rel = path.strip_prefix(root().join("src")).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Code without line comments (doc comments name modules freely).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Module paths named after `crate::` and `super::` in `text`, resolved from `module`.
fn references(module: &[String], text: &str) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    for (start, _) in text
        .match_indices("crate::")
        .chain(text.match_indices("super::"))
    {
        if start > 0 && text[..start].ends_with(|c: char| ident(c) || c == ':') {
            continue;
        }
        let rest = &text[start..];
        let path: Vec<&str> = rest
            .split(|c: char| !(ident(c) || c == ':'))
            .next()
            .unwrap_or("")
            .split("::")
            .filter(|s| !s.is_empty())
            .collect();
        let mut base: Vec<String> = Vec::new();
        let mut segs = path.iter();
        match path.first() {
            Some(&"crate") => {
                segs.next();
            }
            Some(&"super") => {
                // `super` is the parent of this file's module, whether it is `foo.rs` or
                // `foo/mod.rs` (`module_of` names both `foo`).
                base = module.to_vec();
                while segs.clone().next() == Some(&"super") {
                    segs.next();
                    base.pop();
                }
            }
            _ => continue,
        }
        base.extend(segs.map(|s| (*s).to_owned()));
        out.insert(base);
    }
    out
}

/// The known module a path points into: its longest prefix that is a module.
fn resolve(path: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
}

/// Module → modules it names, cut to `depth` segments, without a module's ancestors
/// or descendants (a parent declares its children; children use their parent's items).
fn graph(depth: usize) -> BTreeMap<String, BTreeSet<String>> {
    let files = sources(&root().join("src"));
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(p, _)| module_of(p)).collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (p, text) in &files {
        let m = module_of(p);
        if m.first().is_some_and(|s| s == "main") || m.is_empty() {
            continue;
        }
        let from: Vec<String> = m.iter().take(depth).cloned().collect();
        for r in references(&m, &code(text)) {
            let Some(to) = resolve(&r, &modules) else {
                continue;
            };
            let to: Vec<String> = to.into_iter().take(depth).collect();
            if to.is_empty() || to.starts_with(&from) || from.starts_with(&to) {
                continue;
            }
            g.entry(from.join("::")).or_default().insert(to.join("::"));
        }
    }
    g
}

/// A cycle in `g`, if any (depth-first search).
fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut c = stack[i..].to_vec();
            c.push(n.to_owned());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_owned());
        for next in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|n| visit(n, g, &mut Vec::new(), &mut done))
}

#[test]
fn no_cycles_between_modules() {
    for depth in [1, 2, 3] {
        let g = graph(depth);
        assert!(
            g.values().map(BTreeSet::len).sum::<usize>() > 10,
            "the checker saw almost no edges at depth {depth}: {g:?}"
        );
        if let Some(c) = cycle(&g) {
            panic!("module cycle at depth {depth}: {}", c.join(" → "));
        }
    }
}

/// Files under `src/` whose code names `needle`, outside the `allowed` prefixes.
fn offenders(needle: &str, allowed: &[&str]) -> Vec<String> {
    sources(&root().join("src"))
        .into_iter()
        .filter(|(p, text)| {
            let rel = p
                .strip_prefix(root())
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned();
            !allowed.iter().any(|a| rel.starts_with(a)) && code(text).contains(needle)
        })
        .map(|(p, _)| p.strip_prefix(root()).unwrap_or(&p).display().to_string())
        .collect()
}

#[test]
fn crates_and_layers_are_named_only_where_design_allows() {
    let rules: &[(&str, &[&str], &str)] = &[
        (
            "midge_ui",
            &["src/main.rs"],
            "only main.rs starts the dashboard",
        ),
        (
            "midge_model",
            &["src/broker/observe/", "src/monitor/"],
            "only broker/observe and monitor/ speak the dashboard's model",
        ),
        (
            "crate::broker",
            &[
                "src/broker/",
                "src/monitor/",
                "src/bench/",
                "src/http/",
                "src/bridge/",
                "src/mqttsn/",
            ],
            "transport, protocol, storage, auth and config sit below the broker",
        ),
        (
            "crate::monitor",
            &["src/monitor/"],
            "nothing below monitor/ uses it",
        ),
        (
            "observe::",
            &[
                "src/broker/observe/",
                "src/broker/mod.rs",
                "src/monitor/",
                "src/main.rs",
            ],
            "the core never reads its observers (broker/mod.rs only starts them)",
        ),
    ];
    for (needle, allowed, why) in rules {
        let bad = offenders(needle, allowed);
        assert!(bad.is_empty(), "{needle} named in {bad:?}: {why}");
    }
    // Sans-IO: the codec and the session do no I/O and read no clock.
    for dir in [
        "src/protocol/",
        "src/broker/session.rs",
        "src/mqttsn/codec/",
    ] {
        for needle in [
            "tokio::",
            "std::net",
            "std::fs",
            "Instant::now",
            "SystemTime::now",
        ] {
            let hits: Vec<String> = sources(&root().join("src"))
                .into_iter()
                .filter(|(p, t)| {
                    p.strip_prefix(root())
                        .is_ok_and(|r| r.to_string_lossy().starts_with(dir))
                        && !p.to_string_lossy().contains("/tests")
                        && code(t).contains(needle)
                })
                .map(|(p, _)| p.display().to_string())
                .collect();
            assert!(hits.is_empty(), "{needle} in sans-IO code: {hits:?}");
        }
    }
    // The MQTT-SN codec stands alone: bytes and thiserror, nothing of the crate.
    let named: Vec<String> = sources(&root().join("src/mqttsn/codec"))
        .into_iter()
        .filter(|(_, t)| code(t).contains("crate::"))
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert!(named.is_empty(), "the SN codec names the crate: {named:?}");
}
