//! Who is asking, and the secrets that prove it: argon2 password hashes, random bearer and IRC
//! tokens (only their SHA-256 is stored), the viewer behind a bearer token, and the login
//! brute-force limiter.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use chrono::Utc;
use domain::{Level, TokenHash};
use projections::ReadModels;
use rand::RngCore as _;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// The person behind a request's bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub user_id: Uuid,
    pub token_id: Uuid,
    pub nick: String,
    pub level: Level,
}

impl Viewer {
    /// Refuses unless the viewer has at least `level`; `what` names what needed it. GraphQL and
    /// the web pages both check levels through this.
    pub fn require(&self, level: Level, what: &str) -> ApiResult<()> {
        if self.level < level {
            return Err(ApiError::forbidden(format!(
                "{what} needs level {} ({}); you have {} ({})",
                level.as_u8(),
                level.name(),
                self.level.as_u8(),
                self.level.name()
            )));
        }
        Ok(())
    }
}

/// A fresh secret: 32 random bytes, URL-safe base64 with a prefix that says what it is (so a
/// leaked one is recognisable in logs and secret scanners).
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Hashes a password with argon2id (default parameters, random salt). CPU-heavy: call from
/// `spawn_blocking`.
pub fn hash_password(password: &str) -> ApiResult<String> {
    let salt = SaltString::encode_b64(&{
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        salt
    })
    .map_err(|e| ApiError::internal(std::io::Error::other(e.to_string())))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(std::io::Error::other(e.to_string())))
}

/// Checks a password against a stored argon2 hash (constant time inside argon2).
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Password rules: long enough to resist guessing, short enough that hashing stays cheap.
pub fn check_password_rules(password: &str) -> ApiResult<()> {
    let chars = password.chars().count();
    if chars < 10 {
        return Err(ApiError::bad_input("a password needs at least 10 characters"));
    }
    if password.len() > 256 {
        return Err(ApiError::bad_input("a password may be at most 256 bytes"));
    }
    Ok(())
}

/// Reads `Authorization: Bearer <token>` (also accepted bare, as GraphQL WebSocket clients send
/// it in the connection payload).
pub fn bearer_token(header: &str) -> Option<&str> {
    let header = header.trim();
    let has_scheme =
        header.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("bearer")) && header[6..].chars().next().is_none_or(char::is_whitespace);
    let token = if has_scheme { header[6..].trim() } else { header };
    (!token.is_empty()).then_some(token)
}

/// Looks up the viewer of a bearer token in the users read model. Unknown, revoked and expired
/// tokens are all "not signed in" with the same message, so probing teaches nothing.
pub async fn viewer_for_token(read: &ReadModels, token: &str) -> ApiResult<Viewer> {
    let hash = TokenHash::of_secret(token);
    let holder = read.api_token_holder(hash.as_str()).await?;
    let invalid = || ApiError::refused(crate::error::Code::Unauthenticated, "that API token is unknown, expired or revoked; log in again");
    let Some(holder) = holder else { return Err(invalid()) };
    if holder.revoked_at.is_some() || holder.expires_at <= Utc::now() {
        return Err(invalid());
    }
    Ok(Viewer { token_id: holder.token_id, user_id: holder.user_id, nick: holder.nick, level: crate::graphql::level_of(holder.level) })
}

/// Limits on failed logins, per username and per client address, over a sliding window. In
/// memory: a restart forgives, which is acceptable for a limit measured in minutes; several API
/// processes each keep their own count (documented in the README).
///
/// An IPv6 client counts per /64 (one host usually holds a whole /64, and could otherwise use a
/// fresh address per guess). Usernames in keys are bounded: longer ones are refused outright.
pub struct LoginLimiter {
    window: Duration,
    per_username: usize,
    per_address: usize,
    state: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    failures: HashMap<String, Vec<Instant>>,
    /// Per username key, the address key and time each of its attempts was counted under, so a
    /// success can take its own attempt back from the address's count.
    attempts: HashMap<String, Vec<(Instant, Option<String>)>>,
}

/// Longer than any username (20) or email local part anyone types; keys stay small.
const MAX_USERNAME_CHARS: usize = 64;

impl LoginLimiter {
    pub fn new(window: Duration, per_username: usize, per_address: usize) -> Self {
        Self { window, per_username, per_address, state: Mutex::new(Counts::default()) }
    }

    /// Usernames are trimmed and folded as the account lookup does, so `" Admin"` and `"admin"`
    /// share one count.
    fn keys(username: &str, address: Option<IpAddr>) -> (String, Option<String>) {
        (format!("u:{}", username.trim().to_lowercase()), address.map(address_key))
    }

    /// Checks the limits and, in the same critical section, counts this attempt as a failure
    /// until [`record_success`](Self::record_success) says otherwise: concurrent guesses cannot
    /// all pass the check before any is counted.
    pub fn attempt(&self, username: &str, address: Option<IpAddr>) -> ApiResult<()> {
        if username.chars().count() > MAX_USERNAME_CHARS {
            return Err(ApiError::bad_input(format!("a username is at most {MAX_USERNAME_CHARS} characters")));
        }
        let mut counts = self.state.lock().expect("limiter lock");
        self.check_locked(&mut counts.failures, username, address)?;
        self.record_locked(&mut counts, username, address);
        Ok(())
    }

    /// Refuses while either key has used up its failures; says when to retry.
    fn check_locked(&self, failures: &mut HashMap<String, Vec<Instant>>, username: &str, address: Option<IpAddr>) -> ApiResult<()> {
        let now = Instant::now();
        let (user_key, addr_key) = Self::keys(username, address);
        let mut retry_after = None;
        for (key, limit) in [(Some(user_key), self.per_username), (addr_key, self.per_address)] {
            let Some(key) = key else { continue };
            if let Some(times) = failures.get_mut(&key) {
                times.retain(|t| now.duration_since(*t) < self.window);
                if times.len() >= limit {
                    let oldest = times[times.len() - limit];
                    let wait = self.window.saturating_sub(now.duration_since(oldest));
                    retry_after = Some(retry_after.map_or(wait, |w: Duration| w.max(wait)));
                }
            }
        }
        match retry_after {
            Some(wait) => Err(ApiError::rate_limited(
                format!("too many failed logins; try again in {} seconds", wait.as_secs().max(1)),
                wait.as_secs().max(1),
            )),
            None => Ok(()),
        }
    }

    fn record_locked(&self, counts: &mut Counts, username: &str, address: Option<IpAddr>) {
        let now = Instant::now();
        let (user_key, addr_key) = Self::keys(username, address);
        // Bounded memory under a spray of usernames: forget the stalest keys first.
        if counts.failures.len() > 100_000 {
            counts.failures.retain(|_, times| times.last().is_some_and(|t| now.duration_since(*t) < self.window));
            counts.attempts.retain(|_, tries| tries.last().is_some_and(|(t, _)| now.duration_since(*t) < self.window));
        }
        counts.failures.entry(user_key.clone()).or_default().push(now);
        if let Some(key) = &addr_key {
            counts.failures.entry(key.clone()).or_default().push(now);
        }
        counts.attempts.entry(user_key).or_default().push((now, addr_key));
    }

    /// A successful login is not a failure: it clears the username's count, and takes its own
    /// attempt back from the address's count (only its own: one right password must not launder
    /// a spray of wrong ones from the same address).
    pub fn record_success(&self, username: &str) {
        let (user_key, _) = Self::keys(username, None);
        let mut counts = self.state.lock().expect("limiter lock");
        counts.failures.remove(&user_key);
        let latest = counts.attempts.remove(&user_key).and_then(|mut tries| tries.pop());
        if let Some((at, Some(addr_key))) = latest
            && let Some(times) = counts.failures.get_mut(&addr_key)
            && let Some(i) = times.iter().rposition(|t| *t == at)
        {
            times.remove(i);
        }
    }
}

/// The address's key: IPv4 as it is, IPv6 by its /64.
fn address_key(address: IpAddr) -> String {
    match crate::client_address::canonical(address) {
        IpAddr::V4(v4) => format!("a:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("a:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn secrets_are_random_and_prefixed() {
        let (a, b) = (new_secret("sb_"), new_secret("sb_"));
        assert_ne!(a, b);
        assert!(a.starts_with("sb_") && a.len() == 3 + 43);
    }

    #[test]
    fn bearer_tokens_are_read_with_or_without_the_scheme() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("abc"), Some("abc"));
        assert_eq!(bearer_token("Bearer  "), None);
    }

    #[test]
    fn the_limiter_locks_a_username_after_its_failures_and_forgives_on_success() {
        let limiter = LoginLimiter::new(Duration::from_secs(600), 3, 100);
        let addr: Option<IpAddr> = Some("127.0.0.1".parse().unwrap());
        for spelling in ["Alice", "alice", " alice "] {
            limiter.attempt(spelling, addr).unwrap(); // each a wrong password: no success follows
        }
        let refused = limiter.attempt("ALICE", addr).unwrap_err();
        assert_eq!(refused.code(), crate::error::Code::RateLimited);
        limiter.attempt("bob", addr).unwrap();
        limiter.attempt(" alice ", addr).unwrap_err();
        limiter.record_success("alice");
        limiter.attempt("alice", addr).unwrap();
    }

    #[test]
    fn an_attempt_is_counted_as_it_is_checked() {
        let limiter = LoginLimiter::new(Duration::from_secs(600), 2, 100);
        limiter.attempt("carol", None).unwrap();
        limiter.attempt("Carol", None).unwrap();
        assert!(limiter.attempt("carol", None).is_err(), "the third concurrent guess is refused before any answer");
    }

    #[test]
    fn the_limiter_locks_an_address_spraying_usernames() {
        let limiter = LoginLimiter::new(Duration::from_secs(600), 100, 5);
        let addr: Option<IpAddr> = Some("10.0.0.9".parse().unwrap());
        for i in 0..5 {
            limiter.attempt(&format!("user{i}"), addr).unwrap();
        }
        assert!(limiter.attempt("someone-new", addr).is_err());
        assert!(limiter.attempt("someone-new", Some("10.0.0.10".parse().unwrap())).is_ok());
    }
}
