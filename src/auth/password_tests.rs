//! Password file tests: hashes made by the real `mosquitto_passwd` and by the reference
//! argon2 implementation, edits, saving, and errors naming file and line.

use std::path::Path;
use std::process::Command;

use super::cmd::edit;
use super::hash::PasswordHash;
use super::{AuthError, AuthResult, Authenticator, PasswordFile};

/// Whether `program` (Debian `package`) is on `PATH`. With `CI=true` a missing one fails
/// the test, naming the package; elsewhere the test prints why and skips. (The e2e
/// tests' `support::have` does the same; unit tests cannot share it.)
fn have(program: &str, package: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let found = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    });
    if found {
        return true;
    }
    let why = format!(
        "not on PATH: {program} (Debian package {package}); scripts/test-deps installs what the \
         tests need"
    );
    let ci = matches!(std::env::var("CI").as_deref(), Ok("true" | "1"));
    assert!(!ci, "{why}");
    eprintln!("SKIPPED: {why}");
    false
}

/// Runs `mosquitto_passwd ARGS` (check `have` first).
fn mosquitto_passwd(args: &[&str]) {
    let out = Command::new("mosquitto_passwd")
        .args(args)
        .output()
        .expect("run mosquitto_passwd");
    assert!(
        out.status.success(),
        "mosquitto_passwd {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn pbkdf2_from_mosquitto_passwd() {
    let dir = tmp();
    let file = dir.path().join("passwd");
    let f = path_str(&file);
    if !have("mosquitto_passwd", "mosquitto") {
        return;
    }
    mosquitto_passwd(&["-b", "-c", f, "alice", "secret"]);
    mosquitto_passwd(&["-b", f, "carol", "pässwörd with spaces"]);
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(text.contains("alice:$7$"), "{text}");
    let pw = PasswordFile::load(&file).expect("load");
    assert!(pw.verify("alice", b"secret"));
    assert!(!pw.verify("alice", b"Secret"));
    assert!(!pw.verify("alice", b""));
    assert!(pw.verify("carol", "pässwörd with spaces".as_bytes()));
    assert!(!pw.verify("mallory", b"secret"));
}

#[test]
fn sha512_from_mosquitto_passwd() {
    let dir = tmp();
    let file = dir.path().join("passwd");
    let f = path_str(&file);
    if !have("mosquitto_passwd", "mosquitto") {
        return;
    }
    mosquitto_passwd(&["-H", "sha512", "-b", "-c", f, "bob", "hunter2"]);
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(text.starts_with("bob:$6$"), "{text}");
    let pw = PasswordFile::load(&file).expect("load");
    assert!(pw.verify("bob", b"hunter2"));
    assert!(!pw.verify("bob", b"hunter3"));
}

#[test]
fn argon2id_from_mosquitto_passwd_when_supported() {
    if !have("mosquitto_passwd", "mosquitto") {
        return;
    }
    let dir = tmp();
    let file = dir.path().join("passwd");
    let f = path_str(&file);
    let supported = Command::new("mosquitto_passwd")
        .args(["-H", "argon2id", "-b", "-c", f, "dave", "opensesame"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !supported {
        eprintln!(
            "SKIPPED: this mosquitto_passwd cannot write argon2id (needs Mosquitto 2.1); \
             argon2id is covered by the reference vectors below"
        );
        return;
    }
    let pw = PasswordFile::load(&file).expect("load");
    assert!(pw.verify("dave", b"opensesame"));
    assert!(!pw.verify("dave", b"opensesamf"));
}

/// Made by the reference implementation (Debian `argon2`):
/// `echo -n hunter2 | argon2 midgesaltsalt -id -t 2 -m 10 -p 2 -l 32 -e`.
const ARGON2ID_VECTOR: &str =
    "$argon2id$v=19$m=1024,t=2,p=2$bWlkZ2VzYWx0c2FsdA$mH8LUgRQ89pkWGeI0IskZgQKOIMtucT+OOARB4ReAfU";
/// A 64-byte salt and 64-byte hash, the sizes Mosquitto 2.1 writes:
/// `echo -n pässwörd | argon2 SSSS…(64) -id -t 1 -m 6 -p 1 -l 64 -e`.
const ARGON2ID_LONG_SALT: &str = "$argon2id$v=19$m=64,t=1,p=1$U1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTUw$N4ZGMLKMLBM560dSYGYhvBz94syz0oeGd8kzj3LV3FSFBfV9Dvlg9kRjnyonNvn+bL3HoWMW3aEwsrxXNjIsXA";

#[test]
fn argon2id_reference_vectors() {
    let text = format!("erin:{ARGON2ID_VECTOR}\nfrank:{ARGON2ID_LONG_SALT}\n");
    let pw = PasswordFile::parse(&text, Path::new("passwd")).expect("parse");
    assert!(pw.verify("erin", b"hunter2"));
    assert!(!pw.verify("erin", b"hunter3"));
    assert!(pw.verify("frank", "pässwörd".as_bytes()));
    assert!(!pw.verify("frank", b"passwort"));
    // Our encoder writes the same text back.
    let parsed = PasswordHash::parse(ARGON2ID_VECTOR).expect("parse");
    assert_eq!(parsed.encode(), ARGON2ID_VECTOR);
}

#[test]
fn argon2id_made_by_the_argon2_crate() {
    let mut pw = PasswordFile::new();
    pw.set_argon2id_with("gina", b"correct horse", 64, 1, 1)
        .expect("set");
    let text = pw.to_text();
    assert!(
        text.starts_with("gina:$argon2id$v=19$m=64,t=1,p=1$"),
        "{text}"
    );
    let back = PasswordFile::parse(&text, Path::new("passwd")).expect("parse");
    assert!(back.verify("gina", b"correct horse"));
    assert!(!back.verify("gina", b"battery staple"));
}

#[test]
fn our_pbkdf2_has_mosquitto_passwd_fields() {
    let dir = tmp();
    let ours = dir.path().join("ours");
    let theirs = dir.path().join("theirs");
    let mut pw = PasswordFile::new();
    pw.set("alice", b"secret").expect("set");
    pw.save(&ours).expect("save");
    let our_line = std::fs::read_to_string(&ours).expect("read");
    let our_fields: Vec<&str> = our_line.trim_end().split('$').collect();
    assert_eq!(our_fields[0], "alice:");
    assert_eq!(our_fields[1], "7");
    assert_eq!(our_fields[2], super::DEFAULT_PBKDF2_ITERATIONS.to_string());
    if !have("mosquitto_passwd", "mosquitto") {
        return;
    }
    mosquitto_passwd(&["-b", "-c", path_str(&theirs), "alice", "x"]);
    let their_line = std::fs::read_to_string(&theirs).expect("read");
    let their_fields: Vec<&str> = their_line.trim_end().split('$').collect();
    assert_eq!(
        our_fields.len(),
        their_fields.len(),
        "{our_line} vs {their_line}"
    );
    // Same salt size (12 bytes, all Mosquitto 2.0 accepts) and hash size (64 bytes).
    assert_eq!(our_fields[3].len(), their_fields[3].len());
    assert_eq!(our_fields[4].len(), their_fields[4].len());

    // Both ways: mosquitto_passwd adds a user to our file; we read both users.
    mosquitto_passwd(&["-b", path_str(&ours), "bob", "b0b"]);
    let both = PasswordFile::load(&ours).expect("load");
    assert!(both.verify("alice", b"secret"));
    assert!(both.verify("bob", b"b0b"));
}

#[test]
fn set_remove_save_round_trip_keeps_comments_and_order() {
    let dir = tmp();
    let file = dir.path().join("passwd");
    let mut pw = PasswordFile::new();
    pw.set_with_iterations("alice", b"one", 101).expect("set");
    pw.set_with_iterations("bob", b"two", 101).expect("set");
    pw.save(&file).expect("save");
    let with_comment = format!(
        "# users\n\n{}",
        std::fs::read_to_string(&file).expect("read")
    );
    std::fs::write(&file, with_comment).expect("write");

    let mut pw = PasswordFile::load(&file).expect("load");
    pw.set_with_iterations("alice", b"three", 101).expect("set");
    pw.set_with_iterations("carol", b"four", 101).expect("set");
    assert!(pw.remove("bob"));
    assert!(!pw.remove("bob"));
    pw.save(&file).expect("save");

    let text = std::fs::read_to_string(&file).expect("read");
    assert!(text.starts_with("# users\n\nalice:$7$101$"), "{text}");
    let back = PasswordFile::load(&file).expect("load");
    assert_eq!(back.usernames().collect::<Vec<_>>(), ["alice", "carol"]);
    assert!(back.verify("alice", b"three"));
    assert!(!back.verify("alice", b"one"));
    assert!(back.verify("carol", b"four"));
    assert!(!back.verify("bob", b"two"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
}

#[test]
fn last_duplicate_wins_and_remove_drops_all() {
    let mut first = PasswordFile::new();
    first.set_with_iterations("u", b"old", 101).expect("set");
    let mut second = PasswordFile::new();
    second.set_with_iterations("u", b"new", 101).expect("set");
    let text = format!("{}{}", first.to_text(), second.to_text());
    let mut pw = PasswordFile::parse(&text, Path::new("p")).expect("parse");
    assert!(pw.verify("u", b"new"));
    assert!(!pw.verify("u", b"old"));
    assert!(pw.remove("u"));
    assert!(!pw.verify("u", b"old"));
    assert_eq!(pw.to_text(), "");
}

#[test]
fn malformed_lines_are_named() {
    let cases = [
        ("alice:plaintext\n", 1, "plain-text"),
        ("# c\nalice\n", 2, "username:hash"),
        ("\n\nalice:$5$abc$def\n", 3, "unsupported"),
        ("alice:$7$x$AAAA$AAAA\n", 1, "iteration"),
        ("alice:$6$!!!$AAAA\n", 1, "salt is not base64"),
        ("alice:$6$AAAAAAAAAAAAAAAA$AAAA\n", 1, "64 bytes"),
        (":$6$AAAA$AAAA\n", 1, "empty username"),
        ("alice:\n", 1, "no password hash"),
        (
            "alice:$argon2id$v=19$m=64,t=1$AAAAAAAAAAA$AAAAAAAAAAA\n",
            1,
            "m, t and p",
        ),
    ];
    for (text, line, what) in cases {
        let err = PasswordFile::parse(text, Path::new("/etc/midge/passwd")).expect_err(text);
        let msg = err.to_string();
        assert!(
            matches!(err, AuthError::Parse { line: l, .. } if l == line),
            "{text:?}: {msg}"
        );
        assert!(
            msg.starts_with(&format!("/etc/midge/passwd:{line}: ")),
            "{msg}"
        );
        assert!(msg.contains(what), "{text:?}: {msg}");
    }
}

#[test]
fn missing_file_error_names_it() {
    let err = PasswordFile::load(Path::new("/nonexistent/midge-passwd")).expect_err("missing");
    assert!(
        err.to_string().starts_with("/nonexistent/midge-passwd: "),
        "{err}"
    );
}

#[test]
fn passwd_command_creates_updates_and_deletes() {
    let dir = tmp();
    let file = dir.path().join("sub").join("passwd");
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    edit(&file, "alice", false, false, || Ok(b"pw1".to_vec())).expect("create");
    edit(&file, "bob", false, true, || Ok(b"pw2".to_vec())).expect("add argon2");
    let pw = PasswordFile::load(&file).expect("load");
    assert!(pw.verify("alice", b"pw1"));
    assert!(pw.verify("bob", b"pw2"));
    assert!(std::fs::read_to_string(&file)
        .expect("read")
        .contains("bob:$argon2id$"));

    edit(&file, "alice", true, false, || {
        unreachable!("no prompt on delete")
    })
    .expect("delete");
    let err = edit(&file, "alice", true, false, || Ok(Vec::new())).expect_err("gone");
    assert!(matches!(err, AuthError::UnknownUser(_)), "{err}");
    let pw = PasswordFile::load(&file).expect("load");
    assert_eq!(pw.usernames().collect::<Vec<_>>(), ["bob"]);

    let err = edit(&file, "bad:name", false, false, || Ok(b"x".to_vec())).expect_err("colon");
    assert!(matches!(err, AuthError::InvalidUsername(_)), "{err}");
}

#[test]
fn authenticate_follows_mosquitto() {
    let mut pw = PasswordFile::new();
    pw.set_with_iterations("alice", b"secret", 101)
        .expect("set");
    let strict = Authenticator::from_parts(false, Some(pw.clone()), None);
    assert_eq!(
        strict.authenticate(Some("alice"), Some(b"secret")),
        AuthResult::Allowed
    );
    assert_eq!(
        strict.authenticate(Some("alice"), Some(b"nope")),
        AuthResult::BadCredentials
    );
    assert_eq!(
        strict.authenticate(Some("alice"), None),
        AuthResult::BadCredentials
    );
    assert_eq!(
        strict.authenticate(Some("eve"), Some(b"secret")),
        AuthResult::BadCredentials
    );
    assert_eq!(strict.authenticate(None, None), AuthResult::NotAuthorized);

    let open = Authenticator::from_parts(true, Some(pw), None);
    assert_eq!(open.authenticate(None, None), AuthResult::Allowed);
    // A username still has to be right when a password file is configured.
    assert_eq!(
        open.authenticate(Some("eve"), Some(b"x")),
        AuthResult::BadCredentials
    );

    let nothing = Authenticator::from_parts(false, None, None);
    assert_eq!(
        nothing.authenticate(Some("alice"), Some(b"x")),
        AuthResult::NotAuthorized
    );
    let anyone = Authenticator::from_parts(true, None, None);
    assert_eq!(
        anyone.authenticate(Some("alice"), Some(b"x")),
        AuthResult::Allowed
    );
}

/// Kills the broker this test started when the test ends, pass or fail.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The real Mosquitto broker accepts a password file we wrote: a right password connects,
/// a wrong one is refused.
#[test]
fn real_mosquitto_accepts_our_file() {
    use std::io::BufRead as _;
    use std::process::Stdio;
    use std::time::Duration;

    if !have("mosquitto", "mosquitto") || !have("mosquitto_pub", "mosquitto-clients") {
        return;
    }
    let dir = tmp();
    let file = dir.path().join("passwd");
    let mut pw = PasswordFile::parse("# written by midge\n", Path::new("passwd")).expect("parse");
    pw.set("alice", b"secret").expect("set");
    pw.save(&file).expect("save");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n\
             log_dest stderr\nuser root\n",
            file.display()
        ),
    )
    .expect("write conf");
    let spawned = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut broker = Child(spawned.expect("run mosquitto"));
    // Wait for the broker to say it is listening (or to exit), at most 10 s.
    let stderr = broker.0.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let running = line.contains(" running");
            if tx.send(line).is_err() || running {
                break;
            }
        }
    });
    let mut log = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if line.contains(" running") => break,
            Ok(line) => log.push(line),
            Err(_) => panic!("mosquitto did not start: {log:#?}"),
        }
    }
    let publish = |password: &str| {
        Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-u", "alice", "-P", password, "-t", "t", "-m", "x"])
            .output()
            .expect("run mosquitto_pub")
    };
    let ok = publish("secret");
    assert!(
        ok.status.success(),
        "right password refused: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let refused = publish("wrong");
    assert!(!refused.status.success(), "wrong password accepted");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not authorised"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
