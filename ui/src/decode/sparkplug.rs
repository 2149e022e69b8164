//! Sparkplug B (Eclipse Sparkplug 3.0): the payload protobuf as prost structs, written
//! out by hand from `sparkplug_b.proto` (what `prost-build` would generate, without
//! needing `protoc` to build), its display, and the seq/bdSeq state per edge node.
//! DataSet, Template and extension values are kept as their raw bytes: the dashboard
//! shows their size, not their insides.

use std::collections::BTreeMap;

use prost::Message as _;

/// `Payload` of `sparkplug_b.proto` (proto2).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    #[prost(uint64, optional, tag = "1")]
    pub timestamp: Option<u64>,
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    #[prost(uint64, optional, tag = "3")]
    pub seq: Option<u64>,
    #[prost(string, optional, tag = "4")]
    pub uuid: Option<String>,
    #[prost(bytes = "vec", optional, tag = "5")]
    pub body: Option<Vec<u8>>,
}

/// `Payload.Metric`; `metadata` (8) and `properties` (9) are skipped.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(uint64, optional, tag = "2")]
    pub alias: Option<u64>,
    #[prost(uint64, optional, tag = "3")]
    pub timestamp: Option<u64>,
    #[prost(uint32, optional, tag = "4")]
    pub datatype: Option<u32>,
    #[prost(bool, optional, tag = "5")]
    pub is_historical: Option<bool>,
    #[prost(bool, optional, tag = "6")]
    pub is_transient: Option<bool>,
    #[prost(bool, optional, tag = "7")]
    pub is_null: Option<bool>,
    #[prost(oneof = "Value", tags = "10, 11, 12, 13, 14, 15, 16, 17, 18, 19")]
    pub value: Option<Value>,
}

/// The `value` oneof of a metric.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Value {
    #[prost(uint32, tag = "10")]
    Int(u32),
    #[prost(uint64, tag = "11")]
    Long(u64),
    #[prost(float, tag = "12")]
    Float(f32),
    #[prost(double, tag = "13")]
    Double(f64),
    #[prost(bool, tag = "14")]
    Boolean(bool),
    #[prost(string, tag = "15")]
    String(String),
    #[prost(bytes = "vec", tag = "16")]
    Bytes(Vec<u8>),
    #[prost(bytes = "vec", tag = "17")]
    DataSet(Vec<u8>),
    #[prost(bytes = "vec", tag = "18")]
    Template(Vec<u8>),
    #[prost(bytes = "vec", tag = "19")]
    Extension(Vec<u8>),
}

/// The Sparkplug B data type names, by their index in the specification.
const DATATYPES: [&str; 35] = [
    "Unknown",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "Float",
    "Double",
    "Boolean",
    "String",
    "DateTime",
    "Text",
    "UUID",
    "DataSet",
    "Bytes",
    "File",
    "Template",
    "PropertySet",
    "PropertySetList",
    "Int8Array",
    "Int16Array",
    "Int32Array",
    "Int64Array",
    "UInt8Array",
    "UInt16Array",
    "UInt32Array",
    "UInt64Array",
    "FloatArray",
    "DoubleArray",
    "BooleanArray",
    "StringArray",
    "DateTimeArray",
];

/// A data type's name, or its number when unknown.
#[must_use]
pub fn datatype_name(t: Option<u32>) -> String {
    match t {
        None => "—".to_owned(),
        Some(n) => usize::try_from(n)
            .ok()
            .and_then(|i| DATATYPES.get(i))
            .map_or_else(|| format!("type {n}"), |s| (*s).to_owned()),
    }
}

impl Metric {
    /// The value as text, signed where the data type says so (Int8–Int32 travel as
    /// two's complement in `int_value`, Int64 in `long_value`).
    #[must_use]
    pub fn value_text(&self) -> String {
        if self.is_null == Some(true) {
            return "null".to_owned();
        }
        #[expect(clippy::cast_possible_wrap, reason = "two's complement by the spec")]
        match (&self.value, self.datatype) {
            (None, _) => "—".to_owned(),
            (Some(Value::Int(v)), Some(1)) => (*v as u8 as i8).to_string(),
            (Some(Value::Int(v)), Some(2)) => (*v as u16 as i16).to_string(),
            (Some(Value::Int(v)), Some(3)) => (*v as i32).to_string(),
            (Some(Value::Long(v)), Some(4)) => (*v as i64).to_string(),
            (Some(Value::Int(v)), _) => v.to_string(),
            (Some(Value::Long(v)), _) => v.to_string(),
            (Some(Value::Float(v)), _) => v.to_string(),
            (Some(Value::Double(v)), _) => v.to_string(),
            (Some(Value::Boolean(v)), _) => v.to_string(),
            (Some(Value::String(s)), _) => format!("{s:?}"),
            (Some(Value::Bytes(b)), _) => format!("{} bytes", b.len()),
            (Some(Value::DataSet(b)), _) => format!("dataset ({} bytes)", b.len()),
            (Some(Value::Template(b)), _) => format!("template ({} bytes)", b.len()),
            (Some(Value::Extension(b)), _) => format!("extension ({} bytes)", b.len()),
        }
    }

    fn label(&self) -> String {
        match (&self.name, self.alias) {
            (Some(n), _) => n.clone(),
            (None, Some(a)) => format!("alias {a}"),
            (None, None) => "—".to_owned(),
        }
    }
}

impl Payload {
    /// Decodes a Sparkplug B payload.
    ///
    /// # Errors
    /// The bytes are not a valid protobuf of this schema.
    pub fn decode_bytes(b: &[u8]) -> Result<Self, prost::DecodeError> {
        Self::decode(b)
    }

    /// The display: sequence, timestamp, then one line per metric.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "Sparkplug B · seq {} · timestamp {} · {} metrics",
            self.seq.map_or_else(|| "—".to_owned(), |s| s.to_string()),
            self.timestamp
                .map_or_else(|| "—".to_owned(), crate::view::fmt::clock_ms),
            self.metrics.len()
        )];
        if let Some(u) = &self.uuid {
            out.push(format!("uuid {u}"));
        }
        let w = self
            .metrics
            .iter()
            .map(|m| m.label().chars().count())
            .max()
            .unwrap_or(4)
            .clamp(6, 32);
        out.push(format!(
            "{:<w$} {:>6} {:<10} value",
            "metric", "alias", "type"
        ));
        for m in &self.metrics {
            out.push(format!(
                "{:<w$} {:>6} {:<10} {}",
                m.label(),
                m.alias.map_or_else(|| "—".to_owned(), |a| a.to_string()),
                datatype_name(m.datatype),
                m.value_text()
            ));
        }
        if let Some(b) = &self.body {
            out.push(format!("body {} bytes", b.len()));
        }
        out
    }

    /// One line: `seq 3 · Temperature=21.5 · Running=true`.
    #[must_use]
    pub fn summary(&self) -> String {
        let mut s = format!(
            "spB seq {}",
            self.seq.map_or_else(|| "—".to_owned(), |s| s.to_string())
        );
        for m in &self.metrics {
            s.push_str(&format!(" · {}={}", m.label(), m.value_text()));
        }
        s
    }

    /// The `bdSeq` metric (NBIRTH/NDEATH), if present.
    #[must_use]
    pub fn bd_seq(&self) -> Option<u64> {
        self.metrics
            .iter()
            .find(|m| m.name.as_deref() == Some("bdSeq"))
            .and_then(|m| match m.value {
                Some(Value::Long(v)) => Some(v),
                Some(Value::Int(v)) => Some(u64::from(v)),
                _ => None,
            })
    }
}

/// What a Sparkplug topic names: `spBv1.0/group/TYPE/node[/device]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpTopic<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub node: &'a str,
    pub device: Option<&'a str>,
}

/// Parses a Sparkplug B topic; `None` for `STATE` and anything else.
#[must_use]
pub fn parse_topic(topic: &str) -> Option<SpTopic<'_>> {
    let mut l = topic.split('/');
    if l.next()? != "spBv1.0" {
        return None;
    }
    let (group, kind, node) = (l.next()?, l.next()?, l.next()?);
    let device = l.next();
    (l.next().is_none() && !kind.is_empty()).then_some(SpTopic {
        group,
        kind,
        node,
        device,
    })
}

/// The sequence state of one edge node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeState {
    /// The `bdSeq` of its last NBIRTH (or NDEATH).
    pub bd_seq: Option<u64>,
    pub seq: Option<u64>,
    /// Messages whose seq was not the previous one + 1 (mod 256).
    pub gaps: u64,
    /// Whether the last word was a death.
    pub dead: bool,
}

/// seq/bdSeq per edge node (group, node), bounded.
#[derive(Debug, Clone, Default)]
pub struct EdgeNodes {
    nodes: BTreeMap<(String, String), NodeState>,
}

/// Edge nodes tracked at most (a busy plant has hundreds, not millions).
const MAX_NODES: usize = 4096;

impl EdgeNodes {
    /// Takes in one message on a Sparkplug topic; ignores what does not decode.
    pub fn observe(&mut self, topic: &str, payload: &[u8]) {
        let Some(t) = parse_topic(topic) else { return };
        let Ok(p) = Payload::decode_bytes(payload) else {
            return;
        };
        let key = (t.group.to_owned(), t.node.to_owned());
        if !self.nodes.contains_key(&key) && self.nodes.len() >= MAX_NODES {
            return;
        }
        let n = self.nodes.entry(key).or_default();
        match t.kind {
            "NBIRTH" => {
                n.bd_seq = p.bd_seq().or(n.bd_seq);
                n.seq = p.seq;
                n.dead = false;
                return;
            }
            // An NDEATH carries bdSeq and no seq (the broker sends it as the will).
            "NDEATH" => {
                n.bd_seq = p.bd_seq().or(n.bd_seq);
                n.dead = true;
                return;
            }
            _ => {}
        }
        if let Some(s) = p.seq {
            if let Some(prev) = n.seq {
                if s != (prev + 1) % 256 {
                    n.gaps += 1;
                }
            }
            n.seq = Some(s);
        }
    }

    #[must_use]
    pub fn get(&self, group: &str, node: &str) -> Option<&NodeState> {
        self.nodes.get(&(group.to_owned(), node.to_owned()))
    }

    /// The state line of the edge node a topic belongs to.
    #[must_use]
    pub fn describe(&self, topic: &str) -> Option<String> {
        let t = parse_topic(topic)?;
        let n = self.get(t.group, t.node)?;
        let opt = |v: Option<u64>| v.map_or_else(|| "—".to_owned(), |v| v.to_string());
        Some(format!(
            "edge node {}/{}{}: bdSeq {} · seq {} · {} gap{}",
            t.group,
            t.node,
            if n.dead { " (dead)" } else { "" },
            opt(n.bd_seq),
            opt(n.seq),
            n.gaps,
            if n.gaps == 1 { "" } else { "s" }
        ))
    }
}

/// Encodes a payload (tests, fixtures and `midge` tests publish with it).
#[must_use]
pub fn encode(p: &Payload) -> Vec<u8> {
    p.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str, alias: u64, datatype: u32, value: Value) -> Metric {
        Metric {
            name: Some(name.to_owned()),
            alias: Some(alias),
            datatype: Some(datatype),
            value: Some(value),
            ..Metric::default()
        }
    }

    /// A DDATA payload as the Sparkplug B reference encoder writes it, bytes by hand:
    /// timestamp=1, metrics=[{name "t", alias 1, datatype Float(9), float 21.5}], seq=7.
    const DDATA: &[u8] = &[
        0x08, 0x01, // 1: timestamp = 1
        0x12, 0x0c, // 2: metric, 12 bytes
        0x0a, 0x01, b't', // name "t"
        0x10, 0x01, // alias 1
        0x20, 0x09, // datatype 9 (Float)
        0x65, 0x00, 0x00, 0xac, 0x41, // 12: float 21.5
        0x18, 0x07, // 3: seq = 7
    ];

    #[test]
    fn decodes_hand_written_bytes() {
        let p = Payload::decode_bytes(DDATA).expect("valid");
        assert_eq!(p.seq, Some(7));
        assert_eq!(p.metrics[0].name.as_deref(), Some("t"));
        assert_eq!(p.metrics[0].value_text(), "21.5");
        let l = p.lines();
        assert!(l[0].contains("seq 7"), "{l:?}");
        assert_eq!(
            l[2].split_whitespace().collect::<Vec<_>>(),
            ["t", "1", "Float", "21.5"]
        );
    }

    #[test]
    fn signed_types_and_round_trip() {
        let p = Payload {
            timestamp: Some(1_749_988_800_000),
            seq: Some(0),
            metrics: vec![
                metric("bdSeq", 0, 8, Value::Long(3)),
                metric("Temp", 1, 2, Value::Int(u32::from(u16::MAX))),
                metric("Big", 2, 4, Value::Long(u64::MAX)),
                metric("Name", 3, 12, Value::String("press".to_owned())),
            ],
            ..Payload::default()
        };
        let back = Payload::decode_bytes(&encode(&p)).expect("round trip");
        assert_eq!(back, p);
        let v: Vec<String> = back.metrics.iter().map(Metric::value_text).collect();
        assert_eq!(v, ["3", "-1", "-1", "\"press\""]);
        assert_eq!(back.bd_seq(), Some(3));
    }

    #[test]
    fn seq_and_bdseq_per_edge_node() {
        let mut nodes = EdgeNodes::default();
        let birth = Payload {
            seq: Some(0),
            metrics: vec![metric("bdSeq", 0, 8, Value::Long(5))],
            ..Payload::default()
        };
        nodes.observe("spBv1.0/plant/NBIRTH/edge1", &encode(&birth));
        for s in [1u64, 2, 4] {
            let d = Payload {
                seq: Some(s),
                ..Payload::default()
            };
            nodes.observe("spBv1.0/plant/DDATA/edge1/dev", &encode(&d));
        }
        let n = nodes.get("plant", "edge1").expect("tracked");
        assert_eq!((n.bd_seq, n.seq, n.gaps), (Some(5), Some(4), 1));
        assert_eq!(
            nodes.describe("spBv1.0/plant/NDATA/edge1").as_deref(),
            Some("edge node plant/edge1: bdSeq 5 · seq 4 · 1 gap")
        );
        assert_eq!(parse_topic("spBv1.0/STATE/host"), None);
    }
}
