//! `[mqttsn]`: the MQTT-SN 1.2 gateway's settings (its UDP sockets are the
//! `kind = "mqttsn"` listeners). Parsed and validated in `file/sn.rs`.

use std::collections::BTreeMap;

/// A topic id every client (or one client) may use without REGISTER (MQTT-SN 1.2 §6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredefinedTopic {
    /// `None`: every client (`*` in the Paho CSV, or the inline `predefined` list).
    pub client_id: Option<String>,
    pub id: u16,
    pub topic: String,
}

/// `[mqttsn]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttSnConfig {
    /// In GWINFO and ADVERTISE. Default 1; 1..=255.
    pub gateway_id: u8,
    /// ADVERTISE broadcast period in seconds; 0 = off. Default 900 (15 minutes).
    pub advertise_interval_secs: u64,
    /// Where ADVERTISE goes; `None` (default): 255.255.255.255 on the listener's port.
    /// A multicast group (as Paho's `MulticastIP`) or a unicast address also work.
    pub advertise_address: Option<std::net::SocketAddr>,
    /// The inline `predefined` list and the `predefined_topics_file` rows together.
    pub predefined: Vec<PredefinedTopic>,
    /// SN client id (or `*` for every client) → the broker user it acts as. MQTT-SN 1.2
    /// has no credentials, so with `allow_anonymous = false` only mapped clients connect;
    /// the ACL applies to the mapped user. Empty by default.
    pub users: BTreeMap<String, String>,
    /// T_retry: seconds before an unacknowledged message to a client is sent again.
    /// Default 10, at least 1 (MQTT-SN 1.2 §6.13 suggests 10 to 15).
    pub retry_secs: u64,
    /// N_retry: retransmissions before the client is considered lost. Default 3.
    pub max_retries: u32,
    /// Datagrams per second accepted from one source address; above it they are dropped
    /// and counted. Default 200; 0 = no limit.
    pub max_datagrams_per_sec: u32,
}

impl Default for MqttSnConfig {
    fn default() -> Self {
        MqttSnConfig {
            gateway_id: 1,
            advertise_interval_secs: 900,
            advertise_address: None,
            predefined: Vec::new(),
            users: BTreeMap::new(),
            retry_secs: 10,
            max_retries: 3,
            max_datagrams_per_sec: 200,
        }
    }
}

impl MqttSnConfig {
    /// The user `client_id` acts as: its own entry, else `*`'s.
    #[must_use]
    pub fn user_for(&self, client_id: &str) -> Option<&str> {
        self.users
            .get(client_id)
            .or_else(|| self.users.get("*"))
            .map(String::as_str)
    }
}
