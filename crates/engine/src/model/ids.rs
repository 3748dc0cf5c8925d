//! Identifiers: opaque strings issued by the bank, plus the ones we issue (end-to-end ids).
//!
//! The ones that identify a person (`PsuId`) hide themselves from `Debug` so they never reach a log by
//! accident; `Display` shows them, because a request has to carry them.

use std::fmt;

use super::InvalidValue;

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Wraps an identifier as the bank issued it.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// An identifier that came from outside (a caller's request path, a bank's answer),
            /// checked before it is used in a request: see [`check_id`].
            pub fn parse(id: impl Into<String>) -> Result<Self, InvalidValue> {
                let id = id.into();
                check_id($field, &id)?;
                Ok(Self(id))
            }

            /// The name of the field this identifier travels in (`resourceId`, `paymentId`, …).
            pub const FIELD: &'static str = $field;

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

opaque_id!(
    /// The bank's identifier of an account (Berlin Group `resourceId`).
    AccountId,
    "resourceId"
);
opaque_id!(
    /// The bank's identifier of a payment, a bulk payment (payment file) or a periodic payment.
    PaymentId,
    "paymentId"
);
opaque_id!(
    /// The bank's identifier of a consent (Berlin Group `consentId`).
    ConsentId,
    "consentId"
);
opaque_id!(
    /// The bank's identifier of one authorisation (SCA) of a payment, file or consent.
    AuthorisationId,
    "authorisationId"
);
opaque_id!(
    /// The bank's identifier of a transaction (Berlin Group `transactionId`).
    TransactionId,
    "transactionId"
);

/// The longest identifier accepted from outside.
pub const MAX_ID_LENGTH: usize = 256;

/// Checks an identifier taken from outside before it goes into a request path: 1 to
/// [`MAX_ID_LENGTH`] visible ASCII characters (no space, no control character), and neither `.` nor
/// `..`, which a URL would read as a step up its path. Anything else is sent percent-encoded, as one
/// path segment, and the bank decides whether it knows it.
pub fn check_id(field: &'static str, id: &str) -> Result<(), InvalidValue> {
    if id.is_empty() {
        return Err(InvalidValue::new(field, "must not be empty"));
    }
    if id.len() > MAX_ID_LENGTH {
        return Err(InvalidValue::new(
            field,
            format!("is {} characters long; at most {MAX_ID_LENGTH}", id.len()),
        ));
    }
    if let Some(bad) = id.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(InvalidValue::new(
            field,
            format!("contains {bad:?}; only visible ASCII characters are accepted"),
        ));
    }
    if id == "." || id == ".." {
        return Err(InvalidValue::new(field, "must not be \".\" or \"..\""));
    }
    Ok(())
}

/// The customer (PSU) as the bank knows them: their customer number. Hidden from `Debug`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PsuId(String);

impl PsuId {
    /// Wraps a customer number.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The customer number as text, for the request that must carry it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PsuId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let visible: String = self
            .0
            .chars()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        write!(f, "PsuId(…{visible})")
    }
}

impl fmt::Display for PsuId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The end-to-end identification of a payment (ISO 20022 `EndToEndId`): set by the initiator, carried
/// unchanged to the creditor, and the key by which a payment of unknown outcome is found again.
///
/// At most 35 characters of the SEPA character set, not starting or ending with `/`, no `//`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndToEndId(String);

impl EndToEndId {
    /// Validates an end-to-end id.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidValue> {
        let id = id.into();
        let field = "endToEndIdentification";
        if id.is_empty() || id.chars().count() > 35 {
            return Err(InvalidValue::new(field, "must be 1 to 35 characters"));
        }
        if let Some(c) = id.chars().find(|c| !is_sepa_char(*c)) {
            return Err(InvalidValue::new(
                field,
                format!("character {c:?} is outside the SEPA character set"),
            ));
        }
        if id.starts_with('/') || id.ends_with('/') || id.contains("//") {
            return Err(InvalidValue::new(
                field,
                "must not start or end with '/' nor contain '//'",
            ));
        }
        Ok(Self(id))
    }

    /// A fresh, unique end-to-end id (32 hexadecimal characters).
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// The end-to-end id of a request that came without one, derived from who sent it and the
    /// request's own id (`X-Request-ID`): the same request asked again gets the same id (32
    /// hexadecimal characters).
    pub fn from_request(caller: &str, request_id: &str) -> Self {
        let name = format!("psd2-fallback:end-to-end:{caller}:{request_id}");
        Self(
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes())
                .simple()
                .to_string(),
        )
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EndToEndId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The SEPA (EPC) basic Latin character set for identifiers and remittance information.
pub(crate) fn is_sepa_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " /-?:().,'+".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_from_outside_are_checked_and_name_their_field() {
        for good in ["acc-01", "a", "Zx9_~.-=+/?", &"a".repeat(MAX_ID_LENGTH)] {
            assert!(AccountId::parse(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            ".",
            "..",
            "acc 01",
            "acc\t01",
            "acc\u{0}",
            "accé",
            "acc\u{202e}",
            &"a".repeat(MAX_ID_LENGTH + 1),
        ] {
            let error = PaymentId::parse(bad).expect_err(bad);
            assert_eq!(error.field, "paymentId", "{bad:?}");
        }
        assert_eq!(ConsentId::parse("").unwrap_err().field, "consentId");
    }
}
