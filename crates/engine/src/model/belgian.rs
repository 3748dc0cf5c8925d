//! Belgian screen formats: how online-banking websites show amounts and dates, both ways.
//!
//! Screens show `-1.234,56 EUR`, `1 234,56 €`, `+ 25,00 EUR` and `23/11/2026`; APIs show `"-1234.56"` and
//! `2026-11-23`. Both parse to the same values. Pure functions: text in, values out.

use rust_decimal::Decimal;
use time::Date;

use super::{Amount, Currency, InvalidValue};

/// Formats an amount the Belgian way: `-1.234,56 EUR` (dot groups thousands, comma before the decimals).
pub fn format_amount(amount: &Amount) -> String {
    format!("{} {}", format_number(amount.value()), amount.currency())
}

/// Formats a number the Belgian way, without currency: `-1.234,56`.
pub fn format_number(value: Decimal) -> String {
    let text = value.abs().to_string();
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text.as_str(), None),
    };
    let mut out = String::new();
    if value.is_sign_negative() && !value.is_zero() {
        out.push('-');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push('.');
        }
        out.push(c);
    }
    if let Some(frac) = frac {
        out.push(',');
        out.push_str(frac);
    }
    out
}

/// Parses a Belgian screen amount: `-1.234,56 EUR`, `1 234,56 €`, `+ 25,00 EUR`, `−7,50 EUR` (a minus
/// sign U+2212), with ordinary, no-break (U+00A0) or narrow no-break (U+202F) spaces.
///
/// `default_currency` is used when the text carries no currency (a column whose header says `EUR`).
pub fn parse_amount(
    text: &str,
    default_currency: Option<Currency>,
) -> Result<Amount, InvalidValue> {
    let field = "amount";
    let cleaned: String = text
        .chars()
        .map(|c| match c {
            '\u{a0}' | '\u{202f}' | '\u{2009}' => ' ',
            '\u{2212}' => '-',
            other => other,
        })
        .collect();
    let cleaned = cleaned.trim();
    // Split off the currency: a trailing or leading code or symbol.
    let (number, currency) = split_currency(cleaned);
    let currency = match (currency, default_currency) {
        (Some(code), _) => Currency::from_code(code)?,
        (None, Some(default)) => default,
        (None, None) => {
            return Err(InvalidValue::new(
                field,
                format!("{text:?} carries no currency"),
            ));
        }
    };
    let mut number = number.trim().to_owned();
    let negative = match number.chars().next() {
        Some('-') => true,
        Some('+') => false,
        _ => {
            number.insert(0, '+');
            false
        }
    };
    let digits: String = number[1..].chars().filter(|c| *c != ' ').collect();
    let (int, frac) = match digits.split_once(',') {
        Some((i, f)) => (i.to_owned(), f.to_owned()),
        None => (digits.clone(), String::new()),
    };
    let groups_ok = int.split('.').enumerate().all(|(i, g)| {
        !g.is_empty() && g.chars().all(|c| c.is_ascii_digit()) && (i == 0 || g.len() == 3)
    }) && int
        .split('.')
        .next()
        .is_some_and(|g| g.len() <= 3 || !int.contains('.'));
    let frac_ok =
        frac.chars().all(|c| c.is_ascii_digit()) && !(digits.contains(',') && frac.is_empty());
    if int.is_empty() || !groups_ok || !frac_ok {
        return Err(InvalidValue::new(
            field,
            format!("{text:?} is not a Belgian amount like \"-1.234,56 EUR\""),
        ));
    }
    let plain = format!(
        "{}{}{}{}",
        if negative { "-" } else { "" },
        int.replace('.', ""),
        if frac.is_empty() { "" } else { "." },
        frac
    );
    let value: Decimal = plain
        .parse()
        .map_err(|e| InvalidValue::new(field, format!("{text:?}: {e}")))?;
    Amount::new(value, currency)
}

fn split_currency(text: &str) -> (&str, Option<&str>) {
    if let Some(rest) = text.strip_suffix('€').or_else(|| text.strip_prefix('€')) {
        return (rest, Some("EUR"));
    }
    match text.rsplit_once(' ') {
        Some((rest, code)) if is_code(code) => (rest, Some(code)),
        _ => (text, None),
    }
}

fn is_code(text: &str) -> bool {
    text.len() == 3 && text.chars().all(|c| c.is_ascii_alphabetic())
}

/// Formats a date the Belgian way: `23/11/2026`.
pub fn format_date(date: Date) -> String {
    format!(
        "{:02}/{:02}/{:04}",
        date.day(),
        u8::from(date.month()),
        date.year()
    )
}

/// Parses a Belgian screen date: `23/11/2026` (also `23-11-2026` and `23.11.2026`).
pub fn parse_date(text: &str) -> Result<Date, InvalidValue> {
    let field = "date";
    let text = text.trim();
    let parts: Vec<&str> = text.split(['/', '-', '.']).collect();
    let bad = || InvalidValue::new(field, format!("{text:?} is not a date like \"23/11/2026\""));
    let [d, m, y] = parts.as_slice() else {
        return Err(bad());
    };
    if d.len() > 2 || m.len() > 2 || y.len() != 4 {
        return Err(bad());
    }
    let day: u8 = d.parse().map_err(|_| bad())?;
    let month: u8 = m.parse().map_err(|_| bad())?;
    let year: i32 = y.parse().map_err(|_| bad())?;
    let month = time::Month::try_from(month).map_err(|_| bad())?;
    Date::from_calendar_date(year, month, day)
        .map_err(|_| InvalidValue::new(field, format!("{text:?} does not exist in the calendar")))
}

/// Parses an API date: `2026-11-23` (ISO 8601).
pub fn parse_iso_date(text: &str) -> Result<Date, InvalidValue> {
    Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| {
        InvalidValue::new(
            "date",
            format!("{text:?} is not a date like \"2026-11-23\""),
        )
    })
}

/// Formats an API date: `2026-11-23`.
pub fn format_iso_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::dec;

    fn eur(v: Decimal) -> Amount {
        Amount::eur(v).unwrap()
    }

    #[test]
    fn parses_every_screen_spelling() {
        let cases = [
            ("-1.234,56 EUR", dec!(-1234.56)),
            ("1 234,56 €", dec!(1234.56)),
            ("1\u{a0}234,56\u{a0}EUR", dec!(1234.56)),
            ("250.000,00\u{a0}EUR", dec!(250000.00)),
            ("+ 25,00 EUR", dec!(25)),
            ("\u{2212}7,50 EUR", dec!(-7.5)),
            ("€ 3,10", dec!(3.10)),
            ("0,01 EUR", dec!(0.01)),
            ("12 EUR", dec!(12)),
        ];
        for (text, value) in cases {
            assert_eq!(parse_amount(text, None).unwrap(), eur(value), "{text:?}");
        }
        assert_eq!(
            parse_amount("-1.234,56", Some(Currency::EUR)).unwrap(),
            eur(dec!(-1234.56))
        );
    }

    #[test]
    fn refuses_malformed_amounts_naming_the_text() {
        for text in [
            "1,234.56 EUR",
            "12,3,4 EUR",
            "1.23,00 EUR",
            "abc EUR",
            "",
            "1.234,567 EUR",
            "5 XYZ",
            "5,",
        ] {
            let result = parse_amount(text, Some(Currency::EUR));
            assert!(result.is_err(), "{text:?} was accepted as {result:?}");
        }
        let error = parse_amount("12,00", None).unwrap_err();
        assert!(error.reason.contains("no currency"), "{error}");
    }

    #[test]
    fn formats_like_a_belgian_bank() {
        assert_eq!(format_amount(&eur(dec!(-1234.56))), "-1.234,56 EUR");
        assert_eq!(format_amount(&eur(dec!(250000))), "250.000,00 EUR");
        assert_eq!(format_amount(&eur(dec!(0.5))), "0,50 EUR");
        assert_eq!(
            format_date(time::macros::date!(2026 - 11 - 3)),
            "03/11/2026"
        );
    }

    #[test]
    fn dates_parse_and_refuse() {
        assert_eq!(
            parse_date("23/11/2026").unwrap(),
            time::macros::date!(2026 - 11 - 23)
        );
        assert_eq!(
            parse_date("1.2.2026").unwrap(),
            time::macros::date!(2026 - 02 - 01)
        );
        assert!(
            parse_date("31/02/2026")
                .unwrap_err()
                .reason
                .contains("calendar")
        );
        assert!(parse_date("2026-11-23").is_err());
        assert_eq!(
            parse_iso_date("2026-11-23").unwrap(),
            parse_date("23/11/2026").unwrap()
        );
    }

    proptest! {
        #[test]
        fn amounts_round_trip_exactly(cents in -100_000_000_000i64..100_000_000_000i64) {
            let amount = eur(Decimal::new(cents, 2));
            let shown = format_amount(&amount);
            prop_assert_eq!(parse_amount(&shown, None).unwrap(), amount);
            let nbsp = shown.replace(' ', "\u{a0}");
            prop_assert_eq!(parse_amount(&nbsp, None).unwrap(), amount);
            let euro_sign = format!("{} €", format_number(amount.value()).replace('.', " "));
            prop_assert_eq!(parse_amount(&euro_sign, None).unwrap(), amount);
        }

        #[test]
        fn dates_round_trip_exactly(days in 0i32..80_000) {
            let date = Date::from_julian_day(2_400_000 + days).unwrap();
            prop_assert_eq!(parse_date(&format_date(date)).unwrap(), date);
            prop_assert_eq!(parse_iso_date(&format_iso_date(date)).unwrap(), date);
        }
    }
}
