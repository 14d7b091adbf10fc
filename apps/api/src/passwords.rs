//! Password hashes: Argon2id in PHC strings, computed off the async threads, at most one
//! per core at a time (each takes 19 MiB and a core for tens of milliseconds: unbounded, a
//! burst of sign-ins would take the memory and the blocking pool of the whole process).
//!
//! A sign-in for an unknown address still verifies against a fixed hash, so that the time
//! an answer takes does not tell which addresses have accounts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

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
    /// Room for hashes under way; the rest wait their turn.
    permits: Arc<Semaphore>,
    /// Hashes under way now, and the most there ever were.
    running: Arc<(AtomicUsize, AtomicUsize)>,
}

impl Default for Passwords {
    /// The OWASP-recommended Argon2id parameters: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Self::with_params(Params::default())
    }
}

impl Passwords {
    /// Hashing with `params` (tests may use cheaper ones), one hash per core at a time.
    pub fn with_params(params: Params) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            params: Arc::new(params),
            dummy: Arc::default(),
            permits: Arc::new(Semaphore::new(cores)),
            running: Arc::default(),
        }
    }

    /// The same, with at most `hashes` at a time.
    #[must_use]
    pub fn with_concurrency(mut self, hashes: usize) -> Self {
        self.permits = Arc::new(Semaphore::new(hashes.max(1)));
        self
    }

    /// The most hashes that were ever under way at once.
    pub fn peak_concurrency(&self) -> usize {
        self.running.1.load(Ordering::Relaxed)
    }

    /// Runs `work` on the blocking pool when there is room for one more hash.
    async fn bounded<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Self) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let (now, peak) = &*this.running;
            let running = now.fetch_add(1, Ordering::Relaxed) + 1;
            peak.fetch_max(running, Ordering::Relaxed);
            let result = work(&this);
            now.fetch_sub(1, Ordering::Relaxed);
            result
        })
        .await
        .map_err(|e| ApiError::internal(&e))?
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
        let password = password.to_owned();
        self.bounded(move |this| this.hash_now(&password)).await
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
        let password = password.to_owned();
        let hash = hash.map(str::to_owned);
        self.bounded(move |this| {
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_hashes_run_at_once_than_allowed() {
        // Costly enough that the 12 overlap unless made to wait.
        let passwords = Passwords::with_params(Params::new(4096, 2, 1, None).expect("params"))
            .with_concurrency(2);
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let passwords = passwords.clone();
                tokio::spawn(async move { passwords.hash(&format!("password {i}")).await })
            })
            .collect();
        for task in tasks {
            task.await.expect("task").expect("hash");
        }
        let peak = passwords.peak_concurrency();
        assert!((1..=2).contains(&peak), "{peak} hashes at once");
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
