//! Authentication and authorisation with Mosquitto's files: the password file
//! ([`PasswordFile`]), the ACL file ([`AclFile`]), the `midge passwd` command, and the
//! [`Authenticator`] the broker asks at CONNECT and on every PUBLISH, SUBSCRIBE and
//! delivery. Reloading (SIGHUP) builds a new `Authenticator` and swaps it in.

mod acl;
mod cmd;
mod hash;
mod matching;
mod password;

#[cfg(test)]
mod acl_tests;
#[cfg(test)]
mod password_tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use acl::{Access, AclFile, Decision};
pub use cmd::passwd_command;
pub use hash::{HashError, DEFAULT_PBKDF2_ITERATIONS};
pub use password::PasswordFile;

/// Everything that can go wrong loading or editing the files; Display names file and
/// line where there is one.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{path}: {err}", path = path.display())]
    Io { path: PathBuf, err: std::io::Error },
    #[error("{path}:{line}: {message}", path = path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("invalid username: {0}")]
    InvalidUsername(&'static str),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error("user {0:?} is not in the password file")]
    UnknownUser(String),
    #[error("the passwords do not match")]
    PasswordMismatch,
    #[error("empty password")]
    EmptyPassword,
    #[error("reading the password: {0}")]
    Prompt(std::io::Error),
}

/// The outcome of checking a CONNECT's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthResult {
    Allowed,
    /// A username was given and the password is wrong or missing, or the user unknown.
    BadCredentials,
    /// No usable credentials and anonymous clients are refused.
    NotAuthorized,
}

/// The broker's view of both files. Cheap to build (no hashing at load), immutable
/// afterwards, so it can be shared behind an `Arc` and swapped on reload.
#[derive(Clone, Debug)]
pub struct Authenticator {
    allow_anonymous: bool,
    passwords: Option<PasswordFile>,
    acl: Option<AclFile>,
}

impl Authenticator {
    /// Loads the files that are configured.
    pub fn new(
        allow_anonymous: bool,
        password_file: Option<&Path>,
        acl_file: Option<&Path>,
    ) -> Result<Self, AuthError> {
        Ok(Self {
            allow_anonymous,
            passwords: password_file.map(PasswordFile::load).transpose()?,
            acl: acl_file.map(AclFile::load).transpose()?,
        })
    }

    /// From already parsed parts (tests, embedding).
    pub fn from_parts(
        allow_anonymous: bool,
        passwords: Option<PasswordFile>,
        acl: Option<AclFile>,
    ) -> Self {
        Self {
            allow_anonymous,
            passwords,
            acl,
        }
    }

    /// Checks a CONNECT's credentials the way Mosquitto 2.0 does: without a username the
    /// client is anonymous; with a username and a password file, the password must match;
    /// with no password file, `allow_anonymous` decides for everyone. Verification is
    /// CPU-heavy (milliseconds): call it off the async executor (`spawn_blocking`).
    pub fn authenticate(&self, username: Option<&str>, password: Option<&[u8]>) -> AuthResult {
        match (username, &self.passwords) {
            (Some(user), Some(file)) => match password {
                Some(pw) if file.verify(user, pw) => AuthResult::Allowed,
                _ => AuthResult::BadCredentials,
            },
            _ if self.allow_anonymous => AuthResult::Allowed,
            _ => AuthResult::NotAuthorized,
        }
    }

    /// May this client do `access` on `topic` (a topic name for Read/Write, a filter for
    /// Subscribe)? Without an ACL file everything is allowed except publishing to `$SYS`
    /// or `$share`, which Mosquitto refuses whatever the plugins say.
    pub fn authorize(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> Decision {
        if access == Access::Write {
            if topic.starts_with("$SYS") {
                return Decision::deny(Some(builtin_rule(BuiltinRule::SysReadOnly)));
            }
            if topic.starts_with("$share") {
                return Decision::deny(Some(builtin_rule(BuiltinRule::SharePublish)));
            }
        }
        match &self.acl {
            Some(acl) => acl.check(client_id, username, topic, access),
            None => Decision::allow(None),
        }
    }

    pub fn allow_anonymous(&self) -> bool {
        self.allow_anonymous
    }

    pub fn passwords(&self) -> Option<&PasswordFile> {
        self.passwords.as_ref()
    }

    pub fn acl(&self) -> Option<&AclFile> {
        self.acl.as_ref()
    }
}

#[derive(Clone, Copy)]
enum BuiltinRule {
    SysReadOnly,
    SharePublish,
}

/// Labels for the built-in rules, made once so a decision never allocates.
fn builtin_rule(which: BuiltinRule) -> Arc<str> {
    use std::sync::OnceLock;
    static SYS: OnceLock<Arc<str>> = OnceLock::new();
    static SHARE: OnceLock<Arc<str>> = OnceLock::new();
    match which {
        BuiltinRule::SysReadOnly => SYS.get_or_init(|| "builtin: $SYS is read-only".into()),
        BuiltinRule::SharePublish => {
            SHARE.get_or_init(|| "builtin: no publishing to $share".into())
        }
    }
    .clone()
}
