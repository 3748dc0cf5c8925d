//! Money: an exact decimal amount in an ISO 4217 currency. Never a float.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::InvalidValue;

/// An ISO 4217 currency, checked against the standard's list (by the `iso_currency` crate).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// The euro, the currency of SEPA.
    pub const EUR: Currency = Currency(iso_currency::Currency::EUR);

    /// Looks up a three-letter ISO 4217 code (`EUR`, `USD`).
    pub fn from_code(code: &str) -> Result<Self, InvalidValue> {
        iso_currency::Currency::from_code(code)
            .map(Self)
            .ok_or_else(|| {
                InvalidValue::new(
                    "currency",
                    format!("{code:?} is not an ISO 4217 currency code"),
                )
            })
    }

    /// The three-letter code.
    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// How many decimals an amount in this currency may have (2 for EUR, 0 for JPY).
    pub fn minor_digits(&self) -> u32 {
        self.0.exponent().map(u32::from).unwrap_or(0)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_code(s)
    }
}

/// An exact amount of money: a signed decimal and its currency.
///
/// The amount never has more decimals than its currency allows; it is kept at exactly that scale, so
/// `12.5 EUR` and `12.50 EUR` are the same value and print the same way.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Amount {
    value: Decimal,
    currency: Currency,
}

impl Amount {
    /// An amount; refused when it has more decimals than the currency has minor units.
    pub fn new(value: Decimal, currency: Currency) -> Result<Self, InvalidValue> {
        let digits = currency.minor_digits();
        let normalized = value.normalize();
        if normalized.scale() > digits {
            return Err(InvalidValue::new(
                "amount",
                format!("{value} has more than {digits} decimals for {currency}"),
            ));
        }
        let mut value = normalized;
        value.rescale(digits);
        Ok(Self { value, currency })
    }

    /// Parses an API amount (`"-1234.56"`, a dot as decimal separator, no grouping) in a currency.
    pub fn parse_api(text: &str, currency: Currency) -> Result<Self, InvalidValue> {
        let ok = !text.is_empty()
            && text
                .trim_start_matches('-')
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
            && text.matches('.').count() <= 1
            && !text.trim_start_matches('-').starts_with('.')
            && !text.ends_with('.');
        if !ok {
            return Err(InvalidValue::new(
                "amount",
                format!("{text:?} is not a decimal like \"-1234.56\""),
            ));
        }
        let value = Decimal::from_str(text)
            .map_err(|e| InvalidValue::new("amount", format!("{text:?}: {e}")))?;
        Self::new(value, currency)
    }

    /// A euro amount from a decimal known to be exact (for seeds and tests).
    pub fn eur(value: Decimal) -> Result<Self, InvalidValue> {
        Self::new(value, Currency::EUR)
    }

    /// Zero in a currency.
    pub fn zero(currency: Currency) -> Self {
        let mut value = Decimal::ZERO;
        value.rescale(currency.minor_digits());
        Self { value, currency }
    }

    /// The signed value, at the currency's scale.
    pub fn value(&self) -> Decimal {
        self.value
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The API form: `"-1234.56"`.
    pub fn to_api_string(&self) -> String {
        self.value.to_string()
    }

    /// The same amount with the opposite sign.
    pub fn negated(&self) -> Self {
        Self {
            value: -self.value,
            currency: self.currency,
        }
    }

    /// The amount without its sign.
    pub fn abs(&self) -> Self {
        Self {
            value: self.value.abs(),
            currency: self.currency,
        }
    }

    /// Whether the amount is above zero.
    pub fn is_positive(&self) -> bool {
        self.value > Decimal::ZERO
    }

    /// Whether the amount is below zero.
    pub fn is_negative(&self) -> bool {
        self.value < Decimal::ZERO
    }

    /// The sum, or `None` when the currencies differ.
    pub fn checked_add(&self, other: &Amount) -> Option<Amount> {
        (self.currency == other.currency).then(|| Amount {
            value: self.value + other.value,
            currency: self.currency,
        })
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value, self.currency)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn amounts_keep_the_currency_scale() {
        let a = Amount::eur(dec!(12.5)).unwrap();
        let b = Amount::parse_api("12.50", Currency::EUR).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_api_string(), "12.50");
    }

    #[test]
    fn too_many_decimals_are_refused() {
        let error = Amount::eur(dec!(1.234)).unwrap_err();
        assert_eq!(error.field, "amount");
        let yen = Currency::from_code("JPY").unwrap();
        assert!(Amount::new(dec!(10.5), yen).is_err());
        assert_eq!(Amount::new(dec!(10), yen).unwrap().to_api_string(), "10");
    }

    #[test]
    fn api_amounts_are_strict() {
        for bad in [
            "", "1,00", "1.2.3", "+5", "1e3", ".5", "5.", "--1", "12 EUR",
        ] {
            assert!(
                Amount::parse_api(bad, Currency::EUR).is_err(),
                "{bad:?} was accepted"
            );
        }
        assert_eq!(
            Amount::parse_api("-1234.56", Currency::EUR)
                .unwrap()
                .value(),
            dec!(-1234.56)
        );
    }

    #[test]
    fn unknown_currencies_are_refused() {
        let error = Currency::from_code("EUX").unwrap_err();
        assert_eq!(error.field, "currency");
        assert_eq!(Currency::from_code("EUR").unwrap(), Currency::EUR);
    }
}
