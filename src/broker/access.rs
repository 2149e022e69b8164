//! The broker's view of authentication and authorisation: one trait, so the client task
//! and router ask the same questions whether or not password and ACL files are set.

use crate::protocol::ReasonCode;

/// What a connection may do. Implementations must be cheap: `allow_*` run on the publish
/// path.
pub trait Access: Send + Sync + 'static {
    /// CONNECT credentials. `Err` carries the v5 reason (0x86 bad credentials, 0x87 not
    /// authorised); v3 CONNACK maps them to 4 and 5.
    fn authenticate(
        &self,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> Result<(), ReasonCode>;
    /// Whether `authenticate` is cheap enough to run on the runtime's worker threads
    /// (no password hashing).
    fn authenticate_is_cheap(&self) -> bool {
        false
    }
    /// Whether any ACL is configured; when false the `allow_*` checks are skipped.
    fn has_acl(&self) -> bool {
        false
    }
    fn allow_publish(&self, _client_id: &str, _username: Option<&str>, _topic: &str) -> bool {
        true
    }
    fn allow_subscribe(&self, _client_id: &str, _username: Option<&str>, _filter: &str) -> bool {
        true
    }
    fn allow_delivery(&self, _client_id: &str, _username: Option<&str>, _topic: &str) -> bool {
        true
    }
    /// Which rule decided a refusal, for the log and the dashboard (e.g. "acl:12 topic
    /// read sensors/#"); called only on the refusal path.
    fn denial_rule(
        &self,
        _client_id: &str,
        _username: Option<&str>,
        _topic: &str,
        _subscribe: bool,
    ) -> Option<String> {
        None
    }
}

/// Topics no client may publish to (or name as its will), whatever the ACL says, as in
/// Mosquitto: `$SYS` is the broker's own (else anyone could spoof its statistics), and
/// `$share/…` is not a topic name.
pub fn reserved_for_broker(topic: &str) -> bool {
    topic.starts_with("$SYS") || topic.starts_with("$share")
}

/// The CONNECT user property with which a v5 bridge says it is one (v3 bridges set bit
/// 0x80 of the protocol level instead).
pub const BRIDGE_PROPERTY: &str = "midge-bridge";

/// The one `$SYS` topic a bridge may publish (and name as its will): its own state,
/// `$SYS/broker/connection/<client_id>/state`, as Mosquitto's bridges do.
pub fn bridge_state_topic(topic: &str, client_id: &str) -> bool {
    topic
        .strip_prefix("$SYS/broker/connection/")
        .and_then(|rest| rest.strip_suffix("/state"))
        == Some(client_id)
}

/// No password file and no ACL: anonymous clients allowed or not.
pub struct Open {
    pub allow_anonymous: bool,
}

impl Access for Open {
    fn authenticate_is_cheap(&self) -> bool {
        true
    }
    fn authenticate(
        &self,
        _username: Option<&str>,
        _password: Option<&[u8]>,
    ) -> Result<(), ReasonCode> {
        // Without a password file there is nobody to check a name against: like
        // Mosquitto, everyone is let in when anonymous access is on, and nobody otherwise.
        if self.allow_anonymous {
            Ok(())
        } else {
            Err(ReasonCode::NotAuthorized)
        }
    }
}

/// Password file and ACL file, as Mosquitto reads them, re-read on `reload` (SIGHUP)
/// without dropping connections. The lock is only written by `reload`; readers on the
/// publish path take it briefly and never across an `.await`.
pub struct FileAccess {
    current: std::sync::RwLock<std::sync::Arc<crate::auth::Authenticator>>,
    allow_anonymous: bool,
    password_file: Option<std::path::PathBuf>,
    acl_file: Option<std::path::PathBuf>,
}

impl FileAccess {
    pub fn load(
        allow_anonymous: bool,
        password_file: Option<std::path::PathBuf>,
        acl_file: Option<std::path::PathBuf>,
    ) -> Result<Self, crate::auth::AuthError> {
        let auth = crate::auth::Authenticator::new(
            allow_anonymous,
            password_file.as_deref(),
            acl_file.as_deref(),
        )?;
        Ok(Self {
            current: std::sync::RwLock::new(std::sync::Arc::new(auth)),
            allow_anonymous,
            password_file,
            acl_file,
        })
    }

    /// Re-read both files; on error the previous ones stay in force.
    pub fn reload(&self) -> Result<(), crate::auth::AuthError> {
        let auth = crate::auth::Authenticator::new(
            self.allow_anonymous,
            self.password_file.as_deref(),
            self.acl_file.as_deref(),
        )?;
        if let Ok(mut cur) = self.current.write() {
            *cur = std::sync::Arc::new(auth);
        }
        Ok(())
    }

    fn get(&self) -> std::sync::Arc<crate::auth::Authenticator> {
        match self.current.read() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl Access for FileAccess {
    fn authenticate(
        &self,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> Result<(), ReasonCode> {
        Access::authenticate(&*self.get(), username, password)
    }
    fn has_acl(&self) -> bool {
        self.acl_file.is_some()
    }
    fn allow_publish(&self, client_id: &str, username: Option<&str>, topic: &str) -> bool {
        self.get().allow_publish(client_id, username, topic)
    }
    fn allow_subscribe(&self, client_id: &str, username: Option<&str>, filter: &str) -> bool {
        self.get().allow_subscribe(client_id, username, filter)
    }
    fn allow_delivery(&self, client_id: &str, username: Option<&str>, topic: &str) -> bool {
        self.get().allow_delivery(client_id, username, topic)
    }
    fn denial_rule(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        subscribe: bool,
    ) -> Option<String> {
        self.get()
            .denial_rule(client_id, username, topic, subscribe)
    }
}

/// Password file and ACL file, as Mosquitto reads them (fixed; see `FileAccess` for
/// reloading).
impl Access for crate::auth::Authenticator {
    fn authenticate(
        &self,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> Result<(), ReasonCode> {
        match crate::auth::Authenticator::authenticate(self, username, password) {
            crate::auth::AuthResult::Allowed => Ok(()),
            crate::auth::AuthResult::BadCredentials => Err(ReasonCode::BadUserNameOrPassword),
            crate::auth::AuthResult::NotAuthorized => Err(ReasonCode::NotAuthorized),
        }
    }
    fn has_acl(&self) -> bool {
        self.acl().is_some()
    }
    fn allow_publish(&self, client_id: &str, username: Option<&str>, topic: &str) -> bool {
        self.authorize(client_id, username, topic, crate::auth::Access::Write)
            .allowed
    }
    fn allow_subscribe(&self, client_id: &str, username: Option<&str>, filter: &str) -> bool {
        self.authorize(client_id, username, filter, crate::auth::Access::Subscribe)
            .allowed
    }
    fn allow_delivery(&self, client_id: &str, username: Option<&str>, topic: &str) -> bool {
        self.authorize(client_id, username, topic, crate::auth::Access::Read)
            .allowed
    }
    fn denial_rule(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        subscribe: bool,
    ) -> Option<String> {
        let access = if subscribe {
            crate::auth::Access::Subscribe
        } else {
            crate::auth::Access::Write
        };
        let d = self.authorize(client_id, username, topic, access);
        // No rule matched: the ACL's default, deny.
        Some(d.rule.map_or_else(
            || "no matching rule (default deny)".to_owned(),
            |r| r.to_string(),
        ))
    }
}
