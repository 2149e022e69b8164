//! The password file, in Mosquitto's format: one `user:hash` per line, blank lines and
//! `#` comments ignored. Owns loading, verifying, editing and saving it; comments, order
//! and untouched lines survive an edit.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::hash::{self, HashError, PasswordHash, DEFAULT_PBKDF2_ITERATIONS};
use super::AuthError;

/// A loaded password file.
#[derive(Clone, Debug, Default)]
pub struct PasswordFile {
    /// Every line in file order, so `save` keeps comments and layout.
    lines: Vec<Line>,
    /// Username → index in `lines` of its entry. On duplicates the last line wins, as in
    /// Mosquitto (its hash table finds the most recently added entry).
    index: HashMap<String, usize>,
}

#[derive(Clone, Debug)]
enum Line {
    /// A comment, a blank line, or an entry that was removed (`None`, skipped on save).
    Other(Option<String>),
    Entry {
        username: String,
        hash: PasswordHash,
        /// The line as read, written back unchanged unless the entry is replaced.
        text: String,
    },
}

impl PasswordFile {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|err| AuthError::Io {
            path: path.to_path_buf(),
            err,
        })?;
        Self::parse(&text, path)
    }

    /// Parses the text of a password file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, AuthError> {
        let mut file = Self::default();
        for (n, raw) in text.lines().enumerate() {
            let line_no = n + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                file.lines.push(Line::Other(Some(raw.to_owned())));
                continue;
            }
            let err = |message: String| AuthError::Parse {
                path: origin.to_path_buf(),
                line: line_no,
                message,
            };
            let Some((user, rest)) = trimmed.split_once(':') else {
                return Err(err("expected `username:hash`".into()));
            };
            let username = user.trim();
            check_username(username).map_err(|m| err(m.into()))?;
            // Mosquitto reads the hash up to the next ':' and ignores the rest.
            let hash_text = rest.split(':').next().unwrap_or_default().trim();
            if hash_text.is_empty() {
                return Err(err(format!("user {username:?} has no password hash")));
            }
            let hash = PasswordHash::parse(hash_text)
                .map_err(|e| err(format!("user {username:?}: {e}")))?;
            file.index.insert(username.to_owned(), file.lines.len());
            file.lines.push(Line::Entry {
                username: username.to_owned(),
                hash,
                text: raw.to_owned(),
            });
        }
        Ok(file)
    }

    /// Is `password` right for `username`? An unknown user costs about as much as a known
    /// one and is refused.
    pub fn verify(&self, username: &str, password: &[u8]) -> bool {
        match self.hash_of(username) {
            Some(hash) => hash.verify(password),
            None => {
                hash::dummy_verify(password);
                false
            }
        }
    }

    /// Does the file have an entry for `username`?
    pub fn contains(&self, username: &str) -> bool {
        self.index.contains_key(username)
    }

    /// Usernames in file order.
    pub fn usernames(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|l| match l {
            Line::Entry { username, .. } => Some(username.as_str()),
            Line::Other(_) => None,
        })
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Has the file no users?
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Adds `username` or replaces its password, as a `$7$` (PBKDF2-SHA512) hash with
    /// [`DEFAULT_PBKDF2_ITERATIONS`], which Mosquitto 2.0 and later read.
    pub fn set(&mut self, username: &str, password: &[u8]) -> Result<(), AuthError> {
        self.set_with_iterations(username, password, DEFAULT_PBKDF2_ITERATIONS)
    }

    /// [`set`](Self::set) with an explicit PBKDF2 iteration count.
    pub fn set_with_iterations(
        &mut self,
        username: &str,
        password: &[u8],
        iterations: u32,
    ) -> Result<(), AuthError> {
        check_username(username).map_err(AuthError::InvalidUsername)?;
        let hash = PasswordHash::new_pbkdf2(password, iterations).map_err(hash_error)?;
        self.put(username, hash);
        Ok(())
    }

    /// Adds `username` or replaces its password, as an argon2id PHC string with Mosquitto
    /// 2.1's parameters. Only Mosquitto 2.1 and later (and midge) read these.
    pub fn set_argon2id(&mut self, username: &str, password: &[u8]) -> Result<(), AuthError> {
        self.set_argon2id_with(
            username,
            password,
            hash::ARGON2_M_COST,
            hash::ARGON2_T_COST,
            hash::ARGON2_P_COST,
        )
    }

    /// [`set_argon2id`](Self::set_argon2id) with explicit costs (KiB, passes, lanes).
    pub fn set_argon2id_with(
        &mut self,
        username: &str,
        password: &[u8],
        m_cost: u32,
        t_cost: u32,
        p_cost: u32,
    ) -> Result<(), AuthError> {
        check_username(username).map_err(AuthError::InvalidUsername)?;
        let hash =
            PasswordHash::new_argon2id(password, m_cost, t_cost, p_cost).map_err(hash_error)?;
        self.put(username, hash);
        Ok(())
    }

    /// Removes `username`; `false` if it was not there.
    pub fn remove(&mut self, username: &str) -> bool {
        if self.index.remove(username).is_none() {
            return false;
        }
        // Duplicated entries go too, so an older line cannot come back into force.
        for line in &mut self.lines {
            if matches!(line, Line::Entry { username: u, .. } if u == username) {
                *line = Line::Other(None);
            }
        }
        true
    }

    /// The file's text: untouched lines as read, changed entries as `user:hash`.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            match line {
                Line::Other(Some(text)) | Line::Entry { text, .. } => {
                    out.push_str(text);
                    out.push('\n');
                }
                Line::Other(None) => {}
            }
        }
        out
    }

    /// Writes the file atomically (a temporary file in the same directory, then rename)
    /// with mode 0600, since the hashes are secret enough to brute-force.
    pub fn save(&self, path: &Path) -> Result<(), AuthError> {
        let io = |err| AuthError::Io {
            path: path.to_path_buf(),
            err,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map_or_else(|| "passwd".into(), |n| n.to_string_lossy().into_owned());
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let result = write_private(&tmp, self.to_text().as_bytes())
            .and_then(|()| std::fs::rename(&tmp, path));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io)
    }

    fn hash_of(&self, username: &str) -> Option<&PasswordHash> {
        match self.lines.get(*self.index.get(username)?)? {
            Line::Entry { hash, .. } => Some(hash),
            Line::Other(_) => None,
        }
    }

    fn put(&mut self, username: &str, hash: PasswordHash) {
        let text = format!("{username}:{}", hash.encode());
        let entry = Line::Entry {
            username: username.to_owned(),
            hash,
            text,
        };
        match self.index.get(username) {
            Some(&i) => self.lines[i] = entry,
            None => {
                self.index.insert(username.to_owned(), self.lines.len());
                self.lines.push(entry);
            }
        }
    }
}

/// `mosquitto_passwd`'s rules: not empty, under 65,536 bytes, no ':' and no control
/// characters. Leading or trailing blanks would be trimmed away when read back.
fn check_username(username: &str) -> Result<(), &'static str> {
    if username.is_empty() {
        Err("empty username")
    } else if username.len() > 65_535 {
        Err("username longer than 65,535 bytes")
    } else if username.contains(':') {
        Err("username contains ':'")
    } else if username.chars().any(char::is_control) {
        Err("username contains a control character")
    } else if username.trim() != username {
        Err("username starts or ends with a blank")
    } else {
        Ok(())
    }
}

fn hash_error(e: HashError) -> AuthError {
    AuthError::Hash(e)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
