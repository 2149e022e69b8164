//! `[mqttsn]` in the TOML file, and the Paho gateway's predefined-topics CSV it may name
//! (`ClientID, TopicName, TopicID` per line, `*` = every client, `#` starts a comment).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::Cx;
use crate::config::sn::{MqttSnConfig, PredefinedTopic};
use crate::config::ConfigError;
use crate::protocol::topic::valid_topic_name;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMqttSn {
    gateway_id: Option<Spanned<i64>>,
    advertise_interval_secs: Option<Spanned<i64>>,
    advertise_address: Option<Spanned<String>>,
    #[serde(default)]
    predefined: Vec<RawPredefined>,
    predefined_topics_file: Option<Spanned<String>>,
    #[serde(default)]
    users: BTreeMap<String, Spanned<String>>,
    t_retry_secs: Option<Spanned<i64>>,
    n_retry: Option<Spanned<i64>>,
    max_datagrams_per_sec: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPredefined {
    id: Spanned<i64>,
    topic: Spanned<String>,
    /// Only this client may use it; every client when absent.
    client_id: Option<String>,
}

impl Cx<'_> {
    pub(super) fn mqttsn(&self, raw: RawMqttSn) -> Result<MqttSnConfig, ConfigError> {
        let d = MqttSnConfig::default();
        let mut predefined = Vec::new();
        let mut seen = HashSet::new();
        for p in raw.predefined {
            let id: u16 = self
                .int("[mqttsn] predefined id", Some(&p.id), 1, 65_535)?
                .unwrap_or(1);
            if !valid_topic_name(p.topic.get_ref()) {
                return Err(self.invalid(
                    "[mqttsn] predefined topic",
                    p.topic.span(),
                    "not a topic name (non-empty, no wildcards)",
                ));
            }
            if !seen.insert((p.client_id.clone(), id)) {
                return Err(self.invalid(
                    "[mqttsn] predefined id",
                    p.id.span(),
                    "defined twice for the same clients",
                ));
            }
            predefined.push(PredefinedTopic {
                client_id: p.client_id,
                id,
                topic: p.topic.into_inner(),
            });
        }
        if let Some(file) = &raw.predefined_topics_file {
            let path = self.path(PathBuf::from(file.get_ref()));
            let text = std::fs::read_to_string(&path).map_err(|e| {
                self.invalid(
                    "[mqttsn] predefined_topics_file",
                    file.span(),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            for row in paho_csv(&text, &path)? {
                if seen.insert((row.client_id.clone(), row.id)) {
                    predefined.push(row);
                }
            }
        }
        let mut users = BTreeMap::new();
        for (client, user) in raw.users {
            if user.get_ref().is_empty() {
                return Err(self.invalid(
                    &format!("[mqttsn] users.{client}"),
                    user.span(),
                    "must name a user",
                ));
            }
            users.insert(client, user.into_inner());
        }
        Ok(MqttSnConfig {
            gateway_id: self
                .int("[mqttsn] gateway_id", raw.gateway_id.as_ref(), 1, 255)?
                .unwrap_or(d.gateway_id),
            advertise_interval_secs: self
                .int(
                    "[mqttsn] advertise_interval_secs",
                    raw.advertise_interval_secs.as_ref(),
                    0,
                    i64::from(u16::MAX),
                )?
                .unwrap_or(d.advertise_interval_secs),
            advertise_address: raw
                .advertise_address
                .map(|a| {
                    a.get_ref().parse().map_err(|_| {
                        self.invalid(
                            "[mqttsn] advertise_address",
                            a.span(),
                            "not an IP:PORT address (e.g. \"255.255.255.255:1884\")",
                        )
                    })
                })
                .transpose()?,
            predefined,
            users,
            retry_secs: self
                .int("[mqttsn] t_retry_secs", raw.t_retry_secs.as_ref(), 1, 3600)?
                .unwrap_or(d.retry_secs),
            max_retries: self
                .int("[mqttsn] n_retry", raw.n_retry.as_ref(), 0, 100)?
                .unwrap_or(d.max_retries),
            max_datagrams_per_sec: self
                .int(
                    "[mqttsn] max_datagrams_per_sec",
                    raw.max_datagrams_per_sec.as_ref(),
                    0,
                    i64::from(u32::MAX),
                )?
                .unwrap_or(d.max_datagrams_per_sec),
        })
    }
}

/// The Paho MQTT-SN gateway's predefined topic file. Errors name `path` and the line.
pub(crate) fn paho_csv(text: &str, path: &Path) -> Result<Vec<PredefinedTopic>, ConfigError> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |reason: &str| ConfigError::Invalid {
            file: path.to_owned(),
            line: n + 1,
            key: "predefined topic".to_owned(),
            value: line.to_owned(),
            reason: reason.to_owned(),
        };
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [client, topic, id] = fields[..] else {
            return Err(bad("expected ClientID, TopicName, TopicID"));
        };
        if client.is_empty() {
            return Err(bad("empty ClientID (use * for every client)"));
        }
        if !valid_topic_name(topic) {
            return Err(bad("not a topic name (non-empty, no wildcards)"));
        }
        let id = match id.parse::<u16>() {
            Ok(id) if id > 0 => id,
            _ => return Err(bad("TopicID must be between 1 and 65535")),
        };
        rows.push(PredefinedTopic {
            client_id: (client != "*").then(|| client.to_owned()),
            id,
            topic: topic.to_owned(),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError, ListenerKind, PredefinedTopic};

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, Path::new("/etc/midge/midge.toml"))
    }

    #[test]
    fn the_contract_example_parses() {
        let c = parse(
            "[[listener]]\nbind = \"127.0.0.1:1884\"\nkind = \"mqttsn\"\n[mqttsn]\ngateway_id = 7\n\
             advertise_interval_secs = 0\npredefined = [ { id = 1, topic = \"sensors/temperature\" } ]\n\
             users = { \"*\" = \"sensors\", \"dev-1\" = \"alice\" }\nt_retry_secs = 2\nn_retry = 5\n",
        )
        .expect("valid");
        assert_eq!(c.listeners[0].kind, ListenerKind::Mqttsn);
        assert_eq!(c.mqttsn.gateway_id, 7);
        assert_eq!(c.mqttsn.advertise_interval_secs, 0);
        assert_eq!((c.mqttsn.retry_secs, c.mqttsn.max_retries), (2, 5));
        assert_eq!(c.mqttsn.user_for("dev-1"), Some("alice"));
        assert_eq!(c.mqttsn.user_for("other"), Some("sensors"));
        assert_eq!(
            c.mqttsn.predefined,
            [PredefinedTopic {
                client_id: None,
                id: 1,
                topic: "sensors/temperature".into()
            }]
        );
    }

    #[test]
    fn bad_values_name_key_and_line() {
        for (text, want) in [
            ("[mqttsn]\ngateway_id = 0\n", ":2: [mqttsn] gateway_id = 0: must be between 1 and 255"),
            (
                "[mqttsn]\npredefined = [ { id = 1, topic = \"a/#\" } ]\n",
                ":2: [mqttsn] predefined topic = \"a/#\"",
            ),
            (
                "[mqttsn]\npredefined = [ { id = 1, topic = \"a\" }, { id = 1, topic = \"b\" } ]\n",
                "defined twice",
            ),
            ("[mqttsn]\nsurprise = 1\n", "unknown field"),
            (
                "[mqttsn]\nadvertise_address = \"everyone\"\n",
                ":2: [mqttsn] advertise_address = \"everyone\": not an IP:PORT",
            ),
            (
                "[[listener]]\nbind = \"127.0.0.1:1\"\nkind = \"mqttsn\"\n[listener.tls]\ncert = \"c\"\nkey = \"k\"\n",
                "DTLS is not offered",
            ),
            (
                "[mqttsn]\npredefined_topics_file = \"/nonexistent/p.csv\"\n",
                ":2: [mqttsn] predefined_topics_file",
            ),
        ] {
            let err = parse(text).expect_err(text).to_string();
            assert!(err.contains(want), "{err} should contain {want}");
        }
    }

    #[test]
    fn paho_csv_rows_and_errors() {
        let rows = super::paho_csv(
            "#\n# ClientId, TopicName, TopicId\n\nGatewayTestClient,mqttsn/predefined/topic1,1\n\
             * , mqttsn/predefined/all , 2\n",
            Path::new("p.csv"),
        )
        .expect("valid");
        assert_eq!(rows[0].client_id.as_deref(), Some("GatewayTestClient"));
        assert_eq!((rows[1].client_id.as_deref(), rows[1].id), (None, 2));
        assert_eq!(rows[1].topic, "mqttsn/predefined/all");
        for (text, line) in [
            ("a,b\n", 1),
            ("#\nx,t,0\n", 2),
            ("x,t/#,3", 1),
            ("x,t,70000", 1),
        ] {
            let err = super::paho_csv(text, Path::new("p.csv"))
                .expect_err(text)
                .to_string();
            assert!(err.starts_with(&format!("p.csv:{line}:")), "{err}");
        }
    }
}
