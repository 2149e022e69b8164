//! Payload decoders chosen by topic, never guessed: `[ui.decoders]` maps topic filters
//! to a [`Decoder`], and Sparkplug B is decoded by default under `spBv1.0/`. A topic no
//! rule covers keeps the dashboard's plain display (JSON, text or hex by content).
//! Pure functions: `json` (pretty, with a path filter), `sparkplug` (the Sparkplug B
//! protobuf via prost, and the seq/bdSeq state per edge node), text and hex here.

pub mod json;
pub mod sparkplug;

use std::fmt;

use crate::derive::payload::hex_dump;

/// How a payload is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    Json,
    Sparkplug,
    Text,
    Hex,
}

impl Decoder {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Decoder::Json => "json",
            Decoder::Sparkplug => "sparkplug",
            Decoder::Text => "text",
            Decoder::Hex => "hex",
        }
    }
}

/// Why a payload could not be decoded as its topic's decoder says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub decoder: Decoder,
    pub reason: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not {}: {}", self.decoder.label(), self.reason)
    }
}

impl std::error::Error for DecodeError {}

/// The Sparkplug B namespace [tck-id-topic-structure-namespace-a].
pub const SPARKPLUG_FILTER: &str = "spBv1.0/#";

/// Topic filter → decoder rules. The most specific rule wins: the longest matching
/// filter (a configured `spBv1.0/#` replaces the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoders {
    rules: Vec<(String, Decoder)>,
}

impl Default for Decoders {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Decoders {
    /// The configured rules, plus Sparkplug B under `spBv1.0/` unless configured.
    #[must_use]
    pub fn new(mut rules: Vec<(String, Decoder)>) -> Self {
        if !rules.iter().any(|(f, _)| f == SPARKPLUG_FILTER) {
            rules.push((SPARKPLUG_FILTER.to_owned(), Decoder::Sparkplug));
        }
        Self { rules }
    }

    /// The decoder of `topic`, if a rule covers it.
    #[must_use]
    pub fn for_topic(&self, topic: &str) -> Option<Decoder> {
        self.rules
            .iter()
            .filter(|(f, _)| midge_topic::matches(f, topic))
            .max_by_key(|(f, _)| f.len())
            .map(|(_, d)| *d)
    }
}

/// Decodes `payload` into display lines; `path` narrows a JSON document (see
/// [`json::select`]).
///
/// # Errors
/// The payload is not what the decoder expects (invalid JSON, UTF-8 or protobuf).
pub fn decode(d: Decoder, payload: &[u8], path: &str) -> Result<Vec<String>, DecodeError> {
    let err = |reason: String| DecodeError { decoder: d, reason };
    match d {
        Decoder::Json => json::pretty(payload, path).map_err(err),
        Decoder::Sparkplug => sparkplug::Payload::decode_bytes(payload)
            .map(|p| p.lines())
            .map_err(|e| err(e.to_string())),
        Decoder::Text => std::str::from_utf8(payload)
            .map(|t| t.lines().map(str::to_owned).collect())
            .map_err(|e| err(e.to_string())),
        Decoder::Hex => Ok(hex_dump(payload, usize::MAX)),
    }
}

/// Display lines of a payload under its topic's decoder: the decoded form, or the error
/// and then the raw bytes (a decode error never hides the message); `None` when no rule
/// covers the topic.
#[must_use]
pub fn lines(
    decoders: &Decoders,
    topic: &str,
    payload: &[u8],
    path: &str,
    max_lines: usize,
) -> Option<(Decoder, Vec<String>, bool)> {
    let d = decoders.for_topic(topic)?;
    Some(match decode(d, payload, path) {
        Ok(mut l) => {
            l.truncate(max_lines);
            (d, l, false)
        }
        Err(e) => {
            let mut l = vec![e.to_string()];
            l.extend(hex_dump(payload, max_lines.saturating_sub(1)));
            (d, l, true)
        }
    })
}

/// A one-line summary for lists (Pub/Sub, history): the decoded form flattened.
#[must_use]
pub fn summary(decoders: &Decoders, topic: &str, payload: &[u8]) -> Option<String> {
    match decoders.for_topic(topic)? {
        Decoder::Sparkplug => Some(match sparkplug::Payload::decode_bytes(payload) {
            Ok(p) => p.summary(),
            Err(e) => format!("not sparkplug: {e}"),
        }),
        Decoder::Hex => Some(
            payload
                .iter()
                .take(64)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        // JSON and text read fine in the plain preview.
        Decoder::Json | Decoder::Text => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_by_topic_never_guessed() {
        let d = Decoders::new(vec![
            ("factory/+/json".to_owned(), Decoder::Json),
            ("raw/#".to_owned(), Decoder::Hex),
            ("raw/text/#".to_owned(), Decoder::Text),
        ]);
        assert_eq!(d.for_topic("factory/a/json"), Some(Decoder::Json));
        assert_eq!(d.for_topic("raw/x"), Some(Decoder::Hex));
        assert_eq!(
            d.for_topic("raw/text/x"),
            Some(Decoder::Text),
            "most specific"
        );
        assert_eq!(d.for_topic("spBv1.0/g/NDATA/n"), Some(Decoder::Sparkplug));
        // A JSON-looking payload elsewhere is not decoded: no rule covers it.
        assert_eq!(d.for_topic("home/lamp"), None);
        let off = Decoders::new(vec![("spBv1.0/#".to_owned(), Decoder::Hex)]);
        assert_eq!(off.for_topic("spBv1.0/g/NDATA/n"), Some(Decoder::Hex));
    }

    #[test]
    fn errors_show_the_raw_bytes() {
        let d = Decoders::new(vec![("j/#".to_owned(), Decoder::Json)]);
        let (dec, l, failed) = lines(&d, "j/x", b"{oops", "", 10).expect("covered");
        assert_eq!(dec, Decoder::Json);
        assert!(failed);
        assert!(l[0].starts_with("not json: "), "{l:?}");
        assert!(l[1].contains("7b 6f 6f 70 73"), "{l:?}");
        let (_, l, failed) = lines(&d, "spBv1.0/g/NDATA/n", &[0xff, 0xff], "", 10).expect("sp");
        assert!(failed);
        assert!(l[0].starts_with("not sparkplug: "), "{l:?}");
        assert_eq!(lines(&d, "home/x", b"1", "", 10), None);
    }
}
