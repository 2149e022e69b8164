//! Password hashes in the formats Mosquitto reads: `$6$` (salted SHA-512), `$7$`
//! (PBKDF2-HMAC-SHA512, Mosquitto 2.0) and argon2id PHC strings (Mosquitto 2.1). Owns
//! parsing, encoding, creating and constant-time verification of one hash.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

/// PBKDF2 iterations for hashes we write. Mosquitto 2.0 writes 101 (far too few today);
/// Mosquitto 2.1 and OWASP use 210,000, which costs ~100 ms of a core per CONNECT and
/// makes a reconnect storm a CPU outage. 20,000 keeps one verification near 10 ms in a
/// release build while still being 200 times the work of Mosquitto 2.0's default; users
/// who want a memory-hard hash choose argon2id. Any count is read back, so files keep
/// working if this changes.
pub const DEFAULT_PBKDF2_ITERATIONS: u32 = 20_000;

/// argon2id parameters for hashes we write: Mosquitto 2.1's choice (OWASP's first
/// recommendation): 46 MiB, one pass, one lane.
pub const ARGON2_M_COST: u32 = 47_104;
pub const ARGON2_T_COST: u32 = 1;
pub const ARGON2_P_COST: u32 = 1;

/// Salt length of hashes we write: 12 bytes for `$6$`/`$7$` because Mosquitto 2.0 refuses
/// any other length; 16 bytes for argon2id (libargon2 accepts 8 and up).
const SHA_SALT_LEN: usize = 12;
const ARGON2_SALT_LEN: usize = 16;
/// Output length of SHA-512 and of the PBKDF2/argon2id hashes we write, as Mosquitto does.
const HASH_LEN: usize = 64;

/// Base64 as OpenSSL writes it (standard alphabet, padded), read whether padded or not.
const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// Base64 as libargon2 writes PHC strings: standard alphabet, no padding.
const B64_NO_PAD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One decoded password hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordHash {
    /// `$6$salt$hash`: SHA-512 over password then salt.
    Sha512 { salt: Vec<u8>, hash: [u8; HASH_LEN] },
    /// `$7$iterations$salt$hash`: PBKDF2-HMAC-SHA512.
    Pbkdf2 {
        iterations: u32,
        salt: Vec<u8>,
        hash: [u8; HASH_LEN],
    },
    /// `$argon2id$v=19$m=…,t=…,p=…$salt$hash`.
    Argon2id {
        version: u32,
        m_cost: u32,
        t_cost: u32,
        p_cost: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
}

/// Why a hash string could not be read; the caller adds file and line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("plain-text password; Mosquitto and midge need hashed passwords (use `midge passwd`)")]
    PlainText,
    #[error("unsupported hash type (expected $6$, $7$ or $argon2id$)")]
    UnknownScheme,
    #[error("malformed {scheme} hash: {what}")]
    Malformed {
        scheme: &'static str,
        what: &'static str,
    },
    #[error("could not gather random bytes for a salt: {0}")]
    Random(String),
    #[error("invalid argon2 parameters: {0}")]
    Argon2(String),
}

fn malformed(scheme: &'static str, what: &'static str) -> HashError {
    HashError::Malformed { scheme, what }
}

impl PasswordHash {
    /// Parses the hash field of a password file line.
    pub fn parse(text: &str) -> Result<Self, HashError> {
        if let Some(rest) = text.strip_prefix("$6$") {
            let (salt, hash) = split_salt_hash(rest, "$6$")?;
            return Ok(Self::Sha512 { salt, hash });
        }
        if let Some(rest) = text.strip_prefix("$7$") {
            let (iter, rest) = rest
                .split_once('$')
                .ok_or_else(|| malformed("$7$", "missing iteration count"))?;
            let iterations = iter
                .parse::<u32>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| malformed("$7$", "iteration count is not a positive number"))?;
            let (salt, hash) = split_salt_hash(rest, "$7$")?;
            return Ok(Self::Pbkdf2 {
                iterations,
                salt,
                hash,
            });
        }
        if let Some(rest) = text.strip_prefix("$argon2id$") {
            return parse_argon2id(rest);
        }
        if text.starts_with('$') {
            Err(HashError::UnknownScheme)
        } else {
            Err(HashError::PlainText)
        }
    }

    /// The text form, as Mosquitto and `mosquitto_passwd` write it.
    pub fn encode(&self) -> String {
        match self {
            Self::Sha512 { salt, hash } => {
                format!("$6${}${}", B64.encode(salt), B64.encode(hash))
            }
            Self::Pbkdf2 {
                iterations,
                salt,
                hash,
            } => format!("$7${iterations}${}${}", B64.encode(salt), B64.encode(hash)),
            Self::Argon2id {
                version,
                m_cost,
                t_cost,
                p_cost,
                salt,
                hash,
            } => format!(
                "$argon2id$v={version}$m={m_cost},t={t_cost},p={p_cost}${}${}",
                B64_NO_PAD.encode(salt),
                B64_NO_PAD.encode(hash)
            ),
        }
    }

    /// A new `$7$` hash of `password` with a fresh random salt.
    pub fn new_pbkdf2(password: &[u8], iterations: u32) -> Result<Self, HashError> {
        let iterations = iterations.max(1);
        let salt = random_salt(SHA_SALT_LEN)?;
        let mut hash = [0u8; HASH_LEN];
        pbkdf2::pbkdf2_hmac::<Sha512>(password, &salt, iterations, &mut hash);
        Ok(Self::Pbkdf2 {
            iterations,
            salt,
            hash,
        })
    }

    /// A new argon2id hash of `password` with the given costs and a fresh random salt.
    pub fn new_argon2id(
        password: &[u8],
        m_cost: u32,
        t_cost: u32,
        p_cost: u32,
    ) -> Result<Self, HashError> {
        let salt = random_salt(ARGON2_SALT_LEN)?;
        let mut hash = vec![0u8; HASH_LEN];
        argon2id(0x13, m_cost, t_cost, p_cost, HASH_LEN)?
            .hash_password_into(password, &salt, &mut hash)
            .map_err(|e| HashError::Argon2(e.to_string()))?;
        Ok(Self::Argon2id {
            version: 0x13,
            m_cost,
            t_cost,
            p_cost,
            salt,
            hash,
        })
    }

    /// Does `password` hash to this? The final comparison is constant-time.
    pub fn verify(&self, password: &[u8]) -> bool {
        match self {
            Self::Sha512 { salt, hash } => {
                let computed = Sha512::new()
                    .chain_update(password)
                    .chain_update(salt)
                    .finalize();
                computed.as_slice().ct_eq(hash).into()
            }
            Self::Pbkdf2 {
                iterations,
                salt,
                hash,
            } => {
                let mut computed = [0u8; HASH_LEN];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, *iterations, &mut computed);
                computed.ct_eq(hash).into()
            }
            Self::Argon2id {
                version,
                m_cost,
                t_cost,
                p_cost,
                salt,
                hash,
            } => {
                let mut computed = vec![0u8; hash.len()];
                let Ok(ctx) = argon2id(*version, *m_cost, *t_cost, *p_cost, hash.len()) else {
                    return false;
                };
                if ctx
                    .hash_password_into(password, salt, &mut computed)
                    .is_err()
                {
                    return false;
                }
                computed.ct_eq(hash).into()
            }
        }
    }
}

/// Work comparable to verifying a password we would write, for unknown users, so the
/// response time does not reveal which usernames exist.
pub fn dummy_verify(password: &[u8]) {
    let mut out = [0u8; HASH_LEN];
    pbkdf2::pbkdf2_hmac::<Sha512>(
        password,
        b"midge-no-user",
        DEFAULT_PBKDF2_ITERATIONS,
        &mut out,
    );
    std::hint::black_box(out);
}

fn split_salt_hash(
    rest: &str,
    scheme: &'static str,
) -> Result<(Vec<u8>, [u8; HASH_LEN]), HashError> {
    let (salt_b64, hash_b64) = rest
        .split_once('$')
        .ok_or_else(|| malformed(scheme, "expected salt$hash"))?;
    let salt = B64
        .decode(salt_b64)
        .map_err(|_| malformed(scheme, "salt is not base64"))?;
    if salt.is_empty() {
        return Err(malformed(scheme, "empty salt"));
    }
    let hash = B64
        .decode(hash_b64)
        .map_err(|_| malformed(scheme, "hash is not base64"))?;
    let hash: [u8; HASH_LEN] = hash
        .try_into()
        .map_err(|_| malformed(scheme, "hash is not 64 bytes"))?;
    Ok((salt, hash))
}

/// Parses what follows `$argon2id$`: `[v=N$]m=M,t=T,p=P$salt$hash` (libargon2's encoding;
/// a missing version means 0x10, as in the PHC format).
fn parse_argon2id(rest: &str) -> Result<PasswordHash, HashError> {
    const S: &str = "argon2id";
    let mut parts = rest.split('$');
    let mut field = parts
        .next()
        .ok_or_else(|| malformed(S, "missing parameters"))?;
    let mut version = 0x10;
    if let Some(v) = field.strip_prefix("v=") {
        version = v
            .parse()
            .map_err(|_| malformed(S, "version is not a number"))?;
        field = parts
            .next()
            .ok_or_else(|| malformed(S, "missing parameters"))?;
    }
    let (mut m, mut t, mut p) = (None, None, None);
    for kv in field.split(',') {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| malformed(S, "parameter without '='"))?;
        let v: u32 = v
            .parse()
            .map_err(|_| malformed(S, "parameter is not a number"))?;
        match k {
            "m" => m = Some(v),
            "t" => t = Some(v),
            "p" => p = Some(v),
            _ => return Err(malformed(S, "unknown parameter")),
        }
    }
    let (Some(m_cost), Some(t_cost), Some(p_cost)) = (m, t, p) else {
        return Err(malformed(S, "m, t and p are required"));
    };
    let salt = parts
        .next()
        .and_then(|s| B64_NO_PAD.decode(s).ok())
        .ok_or_else(|| malformed(S, "salt is missing or not base64"))?;
    let hash = parts
        .next()
        .and_then(|s| B64_NO_PAD.decode(s).ok())
        .ok_or_else(|| malformed(S, "hash is missing or not base64"))?;
    if parts.next().is_some() {
        return Err(malformed(S, "trailing fields"));
    }
    // Validate now so a bad line fails at load time, not at every CONNECT.
    argon2id(version, m_cost, t_cost, p_cost, hash.len())?;
    if salt.len() < 8 {
        return Err(malformed(S, "salt shorter than 8 bytes"));
    }
    Ok(PasswordHash::Argon2id {
        version,
        m_cost,
        t_cost,
        p_cost,
        salt,
        hash,
    })
}

fn argon2id(
    version: u32,
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
    out_len: usize,
) -> Result<Argon2<'static>, HashError> {
    let version = Version::try_from(version).map_err(|e| HashError::Argon2(e.to_string()))?;
    let params = Params::new(m_cost, t_cost, p_cost, Some(out_len))
        .map_err(|e| HashError::Argon2(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, version, params))
}

fn random_salt(len: usize) -> Result<Vec<u8>, HashError> {
    let mut salt = vec![0u8; len];
    getrandom::fill(&mut salt).map_err(|e| HashError::Random(e.to_string()))?;
    Ok(salt)
}
