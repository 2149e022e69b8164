//! The JSON decoder: pretty-printed, optionally narrowed by a path such as
//! `sensors[0].temp` or `$.a.b` (object keys separated by dots, array indices in
//! brackets or as bare numbers).

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Vec<Step> {
    let p = path.trim();
    let p = p.strip_prefix('$').unwrap_or(p);
    let mut steps = Vec::new();
    for part in p.split('.').filter(|s| !s.is_empty()) {
        // `a[0][1]`: the key, then the indices.
        let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            match key.parse::<usize>() {
                Ok(i) => steps.push(Step::Index(i)),
                Err(_) => steps.push(Step::Key(key.to_owned())),
            }
        }
        for idx in rest.split('[') {
            let idx = idx.trim_end_matches(']');
            if let Ok(i) = idx.parse::<usize>() {
                steps.push(Step::Index(i));
            } else if !idx.is_empty() {
                steps.push(Step::Key(idx.trim_matches(['"', '\'']).to_owned()));
            }
        }
    }
    steps
}

/// The part of `v` at `path`; `None` when the path leads nowhere.
#[must_use]
pub fn select<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    parse_path(path).iter().try_fold(v, |v, s| match s {
        Step::Key(k) => v.get(k.as_str()),
        Step::Index(i) => v.get(*i),
    })
}

/// `payload` as pretty JSON, narrowed to `path` when it is not empty.
///
/// # Errors
/// Not JSON, or the path leads nowhere.
pub fn pretty(payload: &[u8], path: &str) -> Result<Vec<String>, String> {
    let v: Value = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    let v = select(&v, path).ok_or_else(|| format!("nothing at path {path}"))?;
    let s = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    Ok(s.lines().map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let doc = br#"{"a":{"b":[{"c":1},{"c":2}]},"x y":3}"#;
        assert_eq!(pretty(doc, "a.b[1].c"), Ok(vec!["2".to_owned()]));
        assert_eq!(pretty(doc, "$.a.b.0.c"), Ok(vec!["1".to_owned()]));
        assert_eq!(pretty(doc, "x y"), Ok(vec!["3".to_owned()]));
        assert_eq!(pretty(doc, "").map(|l| l.len()), Ok(13));
        assert!(pretty(doc, "a.zz").is_err_and(|e| e.contains("nothing at path")));
        assert!(pretty(b"{", "").is_err());
    }
}
