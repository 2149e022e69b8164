//! `midge passwd FILE USER` and `midge passwd --delete FILE USER`: edit a
//! Mosquitto-compatible password file like `mosquitto_passwd` does.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::Path;

use super::{AuthError, PasswordFile};

/// Adds or updates `user` in `file` (created if missing), or with `delete` removes it.
/// The password is asked twice without echo when stdin is a terminal, otherwise read as
/// one line from stdin (for scripts). `argon2` writes an argon2id hash (Mosquitto 2.1+)
/// instead of `$7$` PBKDF2-SHA512 (Mosquitto 2.0+). `batch` is the password given on the
/// command line (`-b`, as `mosquitto_passwd -b`): then nothing is read from stdin.
pub fn passwd_command(
    file: &Path,
    user: &str,
    delete: bool,
    argon2: bool,
    batch: Option<&str>,
) -> Result<(), AuthError> {
    match batch {
        Some("") => Err(AuthError::EmptyPassword),
        Some(pw) => edit(file, user, delete, argon2, || Ok(pw.as_bytes().to_vec())),
        None => edit(file, user, delete, argon2, read_password),
    }
}

/// The command with the password source injected, so tests need no terminal.
pub(crate) fn edit(
    file: &Path,
    user: &str,
    delete: bool,
    argon2: bool,
    password: impl FnOnce() -> Result<Vec<u8>, AuthError>,
) -> Result<(), AuthError> {
    let mut pw = match PasswordFile::load(file) {
        Ok(pw) => pw,
        Err(AuthError::Io { err, .. }) if !delete && err.kind() == std::io::ErrorKind::NotFound => {
            PasswordFile::new()
        }
        Err(e) => return Err(e),
    };
    if delete {
        if !pw.remove(user) {
            return Err(AuthError::UnknownUser(user.to_owned()));
        }
    } else {
        let secret = password()?;
        if argon2 {
            pw.set_argon2id(user, &secret)?;
        } else {
            pw.set(user, &secret)?;
        }
    }
    pw.save(file)
}

fn read_password() -> Result<Vec<u8>, AuthError> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(AuthError::Prompt)?;
        let again = rpassword::prompt_password("Reenter password: ").map_err(AuthError::Prompt)?;
        if first != again {
            return Err(AuthError::PasswordMismatch);
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(AuthError::Prompt)?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    if password.is_empty() {
        return Err(AuthError::EmptyPassword);
    }
    Ok(password.into_bytes())
}
