//! The journal's keys: what a store keys a row on in place of a customer's identifiers.
//!
//! A consent id, an IBAN or a PSU id is never a journal key in clear. Each is replaced by a keyed hash
//! (HMAC-SHA256 under a secret the journal's owner keeps apart from the database), so a copy of the
//! database alone does not say whose counters, consents or payments it keys. A plain hash would not
//! do: PSU ids and a bank's IBANs are few enough to hash them all and look the results up. The hash
//! is stable for one secret, so lookups still work, across restarts and across replicas that share it.
//! Every store calls this one helper, and the failover hashes an intent's key here before any store
//! sees it.

use std::fmt;
use std::path::Path;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

use super::{JournalError, JournalResult};

/// The secret behind the journal's keyed hashes. Its `Debug` shows nothing of it.
pub struct JournalKeys {
    secret: SecretBox<[u8; 32]>,
}

impl fmt::Debug for JournalKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JournalKeys(..)")
    }
}

impl JournalKeys {
    /// Keys from a secret of 32 bytes.
    pub fn new(secret: SecretBox<[u8; 32]>) -> Self {
        Self { secret }
    }

    /// A new random secret, from the operating system's generator.
    pub fn generate() -> JournalResult<Self> {
        let mut secret = Box::new([0u8; 32]);
        getrandom::fill(secret.as_mut_slice()).map_err(|e| JournalError::Key {
            what: format!("no random secret: {e}"),
        })?;
        Ok(Self::new(SecretBox::new(secret)))
    }

    /// Keys from their text form: 64 hexadecimal digits (surrounding white space ignored). `origin`
    /// names where the text came from, for the error; the text itself is never in an error.
    pub fn parse(text: &str, origin: &str) -> JournalResult<Self> {
        let text = text.trim();
        let bad = || JournalError::Key {
            what: format!("{origin}: a journal key is 64 hexadecimal digits"),
        };
        if text.len() != 64 || !text.is_ascii() {
            return Err(bad());
        }
        let mut secret = Box::new([0u8; 32]);
        for (i, byte) in secret.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Self::new(SecretBox::new(secret)))
    }

    /// The keys kept in `path` (64 hexadecimal digits).
    pub fn read(path: &Path) -> JournalResult<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| JournalError::Key {
            what: format!("{}: {e}", path.display()),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Writes new random keys to `path`, readable by its owner only, unless the file exists; then
    /// reads it (two processes creating the same journal at once agree on one secret).
    pub fn read_or_create(path: &Path) -> JournalResult<Self> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt;
        let fresh = Self::generate()?;
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match created {
            Ok(mut file) => {
                file.write_all(fresh.to_text().as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| JournalError::Key {
                        what: format!("{}: {e}", path.display()),
                    })?;
                Ok(fresh)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::read(path),
            Err(e) => Err(JournalError::Key {
                what: format!("{}: {e}", path.display()),
            }),
        }
    }

    fn to_text(&self) -> String {
        hex(self.secret.expose_secret())
    }

    /// The key of an intent, from its idempotency key (which names the customer and the debtor).
    pub fn intent(&self, idempotency_key: &str) -> String {
        self.hash("intent", idempotency_key)
    }

    /// The key of a customer (PSU id).
    pub fn psu(&self, psu: &str) -> String {
        self.hash("psu", psu)
    }

    /// The key of an account (its IBAN or the bank's account id).
    pub fn account(&self, account: &str) -> String {
        self.hash("account", account)
    }

    /// The key of a consent id.
    pub fn consent(&self, consent: &str) -> String {
        self.hash("consent", consent)
    }

    /// HMAC-SHA256 of `kind`, a zero byte and `value`, in hexadecimal: one kind's value never hashes
    /// like another kind's.
    fn hash(&self, kind: &str, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.secret.expose_secret())
            .expect("HMAC takes a key of any length");
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_per_secret_and_kind_and_hide_the_value() {
        let keys = JournalKeys::parse(&"ab".repeat(32), "test").unwrap();
        let again = JournalKeys::parse(&format!(" {}\n", "ab".repeat(32)), "test").unwrap();
        assert_eq!(keys.psu("1000001"), again.psu("1000001"));
        assert_ne!(keys.psu("1000001"), keys.account("1000001"), "kinds apart");
        assert_ne!(keys.psu("1000001"), keys.psu("1000002"));
        let other = JournalKeys::generate().unwrap();
        assert_ne!(keys.psu("1000001"), other.psu("1000001"), "secrets apart");
        assert!(!keys.consent("c-1").contains("c-1"));
        assert_eq!(keys.intent("k").len(), 64);
        assert_eq!(format!("{keys:?}"), "JournalKeys(..)");
    }

    #[test]
    fn a_bad_key_text_is_an_error_naming_its_origin_not_its_text() {
        for text in ["", "zz", &"g".repeat(64), &"é".repeat(32)] {
            let error = JournalKeys::parse(text, "journal_key_file").unwrap_err();
            assert_eq!(
                error.to_string(),
                "journal key: journal_key_file: a journal key is 64 hexadecimal digits"
            );
        }
    }
}
