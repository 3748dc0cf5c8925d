//! The International Bank Account Number (ISO 13616), validated before anything is sent anywhere.

use std::fmt;
use std::str::FromStr;

use iban::IbanLike;

use super::InvalidValue;

/// A valid IBAN in electronic form (no spaces, upper case).
///
/// Validation (country format and the mod-97 check digits) is done by the `iban_validate` crate. `Debug`
/// masks the middle of the number so a log line does not carry an account number; `Display` shows the
/// electronic form, because a request has to carry it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Iban(String);

impl Iban {
    /// Validates an IBAN given in electronic (`BE68539007547034`) or paper form (`BE68 5390 0754 7034`).
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let compact = compact.to_ascii_uppercase();
        match iban::Iban::from_str(&compact) {
            Ok(valid) => Ok(Self(valid.electronic_str().to_owned())),
            Err(error) => Err(InvalidValue::new("iban", describe(&compact, error))),
        }
    }

    /// The electronic form: `BE68539007547034`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The paper form, in groups of four: `BE68 5390 0754 7034`.
    pub fn paper(&self) -> String {
        let mut out = String::with_capacity(self.0.len() + self.0.len() / 4);
        for (i, c) in self.0.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push(' ');
            }
            out.push(c);
        }
        out
    }

    /// The two-letter country code.
    pub fn country(&self) -> &str {
        &self.0[..2]
    }

    /// The number with all but the country, check digits and last four characters masked, for logs and
    /// captures: `BE68 **** **** 7034`.
    pub fn masked(&self) -> String {
        let n = self.0.len();
        let masked: String = self
            .0
            .chars()
            .enumerate()
            .map(|(i, c)| if i < 4 || i >= n - 4 { c } else { '*' })
            .collect();
        Self(masked).paper()
    }
}

fn describe(compact: &str, error: iban::ParseIbanError) -> String {
    match error {
        iban::ParseIbanError::InvalidBaseIban {
            source: iban::ParseBaseIbanError::InvalidChecksum,
        } => "check digits do not match (ISO 13616 mod-97)".to_owned(),
        iban::ParseIbanError::InvalidBaseIban { .. } => {
            format!(
                "{:?} is not an IBAN (2 letters, 2 digits, up to 30 letters or digits)",
                mask_text(compact)
            )
        }
        iban::ParseIbanError::InvalidBban(_) => {
            "the account part does not match its country's format".to_owned()
        }
        iban::ParseIbanError::UnknownCountry(_) => {
            format!(
                "unknown country code {:?}",
                compact.get(..2).unwrap_or(compact)
            )
        }
    }
}

/// Masks an unvalidated account number for an error message: keeps its first four and last two characters.
fn mask_text(text: &str) -> String {
    let n = text.chars().count();
    text.chars()
        .enumerate()
        .map(|(i, c)| if i < 4 || i + 2 >= n { c } else { '*' })
        .collect()
}

impl FromStr for Iban {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Iban {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Iban {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Iban({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_paper_and_electronic_forms() {
        let a = Iban::parse("BE68 5390 0754 7034").unwrap();
        let b = Iban::parse("be68539007547034").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "BE68539007547034");
        assert_eq!(a.paper(), "BE68 5390 0754 7034");
        assert_eq!(a.country(), "BE");
    }

    #[test]
    fn refuses_wrong_check_digits_and_names_the_field() {
        let error = Iban::parse("BE69539007547034").unwrap_err();
        assert_eq!(error.field, "iban");
        assert!(error.reason.contains("mod-97"), "{error}");
    }

    #[test]
    fn debug_masks_the_account_number() {
        let iban = Iban::parse("BE68539007547034").unwrap();
        let shown = format!("{iban:?}");
        assert_eq!(shown, "Iban(BE68 **** **** 7034)");
        assert!(!shown.contains("539007"));
    }
}
