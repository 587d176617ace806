//! Password hashes in their PHC / modular-crypt text form: bcrypt (`$2b$10$...`) and Argon2
//! (`$argon2id$v=19$m=19456,t=2,p=1$...`), checked at load time and verified per request.

use argon2::password_hash::{PasswordHash as Phc, PasswordVerifier};

/// A parsed password hash.
#[derive(Debug, Clone)]
pub(crate) enum PasswordHash {
    /// bcrypt, with its cost (log2 of the rounds).
    Bcrypt { hash: String, cost: u32 },
    /// Argon2 (i, d or id), with its memory cost in KiB.
    Argon2 { hash: String, memory_kib: u32 },
}

impl PasswordHash {
    /// Parses `hash`, saying what is wrong with it.
    pub(crate) fn parse(hash: &str) -> Result<Self, String> {
        if ["$2a$", "$2b$", "$2x$", "$2y$"]
            .iter()
            .any(|prefix| hash.starts_with(prefix))
        {
            let parts: bcrypt::HashParts = hash
                .parse()
                .map_err(|e| format!("is not a valid bcrypt hash: {e}"))?;
            return Ok(Self::Bcrypt {
                hash: hash.to_owned(),
                cost: parts.get_cost(),
            });
        }
        if hash.starts_with("$argon2") {
            let phc = Phc::new(hash).map_err(|e| format!("is not a valid Argon2 hash: {e}"))?;
            if !matches!(phc.algorithm.as_str(), "argon2i" | "argon2d" | "argon2id") {
                return Err(format!("has the unknown algorithm `{}`", phc.algorithm));
            }
            let params = argon2::Params::try_from(&phc)
                .map_err(|e| format!("has invalid Argon2 parameters: {e}"))?;
            if phc.hash.is_none() {
                return Err("is an Argon2 hash without its output".into());
            }
            return Ok(Self::Argon2 {
                hash: hash.to_owned(),
                memory_kib: params.m_cost(),
            });
        }
        Err(
            "is neither a bcrypt hash (`$2b$...`) nor an Argon2 hash (`$argon2id$...`); \
             plain-text passwords are not accepted"
                .into(),
        )
    }

    /// Whether `password` matches.
    pub(crate) fn verify(&self, password: &[u8]) -> bool {
        match self {
            Self::Bcrypt { hash, .. } => bcrypt::verify(password, hash).unwrap_or(false),
            Self::Argon2 { hash, .. } => Phc::new(hash).is_ok_and(|phc| {
                argon2::Argon2::default()
                    .verify_password(password, &phc)
                    .is_ok()
            }),
        }
    }

    /// The bcrypt cost, if it is bcrypt.
    pub(crate) fn bcrypt_cost(&self) -> Option<u32> {
        match self {
            Self::Bcrypt { cost, .. } => Some(*cost),
            Self::Argon2 { .. } => None,
        }
    }

    /// The Argon2 memory cost in KiB, if it is Argon2.
    pub(crate) fn argon2_memory_kib(&self) -> Option<u32> {
        match self {
            Self::Argon2 { memory_kib, .. } => Some(*memory_kib),
            Self::Bcrypt { .. } => None,
        }
    }
}
