//! Password hashes: Argon2id in PHC strings, computed off the async threads.
//!
//! A sign-in for an unknown address still verifies against a fixed hash, so that the time
//! an answer takes does not tell which addresses have accounts.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{ApiError, ApiResult};

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_LEN: usize = 8;
/// The longest password accepted, in bytes (hashing cost is bounded by it).
pub const MAX_PASSWORD_BYTES: usize = 256;

/// Hashes and verifies passwords with Argon2id.
#[derive(Debug, Clone)]
pub struct Passwords {
    params: Arc<Params>,
    dummy: Arc<OnceLock<String>>,
}

impl Default for Passwords {
    /// The OWASP-recommended Argon2id parameters: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Self::with_params(Params::default())
    }
}

impl Passwords {
    /// Hashing with `params` (tests may use cheaper ones).
    pub fn with_params(params: Params) -> Self {
        Self {
            params: Arc::new(params),
            dummy: Arc::default(),
        }
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, (*self.params).clone())
    }

    /// Checks a new password against the rules.
    ///
    /// # Errors
    /// 400 naming the `password` field.
    pub fn check_rules(password: &str) -> ApiResult<()> {
        if password.chars().count() < MIN_PASSWORD_LEN {
            return Err(ApiError::bad_field(
                "password",
                format!("a password has at least {MIN_PASSWORD_LEN} characters"),
            ));
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(ApiError::bad_field(
                "password",
                format!("a password has at most {MAX_PASSWORD_BYTES} bytes"),
            ));
        }
        Ok(())
    }

    /// The PHC string of `password`, with a fresh salt.
    ///
    /// # Errors
    /// 500 when hashing fails (no randomness).
    pub async fn hash(&self, password: &str) -> ApiResult<String> {
        let this = self.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || this.hash_now(&password))
            .await
            .map_err(|e| ApiError::internal(&e))?
    }

    fn hash_now(&self, password: &str) -> ApiResult<String> {
        let mut salt = [0_u8; 16];
        getrandom_salt(&mut salt)?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| ApiError::internal(&e))?;
        self.argon()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::internal(&e))
    }

    /// Whether `password` matches `hash`; with no hash (an unknown address, or an account
    /// without a password) it still spends the time of one verification and says no.
    ///
    /// # Errors
    /// 500 when the work cannot be scheduled.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> ApiResult<bool> {
        let this = self.clone();
        let password = password.to_owned();
        let hash = hash.map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            let (phc, real) = match hash {
                Some(hash) => (hash, true),
                None => (this.dummy_hash()?, false),
            };
            let Ok(parsed) = PasswordHash::new(&phc) else {
                tracing::error!("a stored password hash is not a PHC string");
                return Ok(false);
            };
            let ok = this
                .argon()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            Ok(ok && real)
        })
        .await
        .map_err(|e| ApiError::internal(&e))?
    }

    fn dummy_hash(&self) -> ApiResult<String> {
        if let Some(hash) = self.dummy.get() {
            return Ok(hash.clone());
        }
        let hash = self.hash_now("not a password anyone has")?;
        Ok(self.dummy.get_or_init(|| hash).clone())
    }
}

fn getrandom_salt(salt: &mut [u8; 16]) -> ApiResult<()> {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    OsRng
        .try_fill_bytes(salt)
        .map_err(|e| ApiError::internal(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Passwords {
        Passwords::with_params(Params::new(256, 1, 1, None).expect("params"))
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let passwords = cheap();
        let hash = passwords.hash("correct horse").await.expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(
            passwords
                .verify("correct horse", Some(&hash))
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify("correct horsf", Some(&hash))
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify("correct horse", None)
                .await
                .expect("verify"),
            "no hash never matches"
        );
        assert_ne!(
            hash,
            passwords.hash("correct horse").await.expect("hash"),
            "every hash has its own salt"
        );
    }

    #[test]
    fn rules() {
        assert!(Passwords::check_rules("1234567").is_err());
        assert!(Passwords::check_rules("12345678").is_ok());
        assert!(Passwords::check_rules(&"x".repeat(257)).is_err());
    }
}
