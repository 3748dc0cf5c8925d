//! How the second website writes money and days, and reads what a customer types: balances as
//! `€ 1.234,56` and `-€ 1.234,56` (a no-break space after the sign), days as `3 mrt. 2026`, typed days
//! as `dd-mm-jjjj`. The history's `1.234,56-` is drawn by the page's script from the JSON call.

use time::{Date, Month};

use psd2_fallback_engine::model::Amount;
use psd2_fallback_engine::model::belgian::format_number;

/// The month abbreviations, January first (May has no dot: it is not abbreviated).
pub(crate) const MONTHS: [&str; 12] = [
    "jan.", "feb.", "mrt.", "apr.", "mei", "jun.", "jul.", "aug.", "sep.", "okt.", "nov.", "dec.",
];

/// A day as the website shows it: `3 mrt. 2026`.
pub(crate) fn day(date: Date) -> String {
    format!(
        "{} {} {}",
        date.day(),
        MONTHS[usize::from(u8::from(date.month())) - 1],
        date.year()
    )
}

/// A day as a customer types it: `03-03-2026`.
pub(crate) fn typed_day(date: Date) -> String {
    format!(
        "{:02}-{:02}-{}",
        date.day(),
        u8::from(date.month()),
        date.year()
    )
}

/// An amount with the euro sign before it and the minus before that: `-€ 1.234,56`.
pub(crate) fn euro(amount: &Amount) -> String {
    let number = format_number(amount.value().abs());
    if amount.is_negative() {
        format!("-€\u{a0}{number}")
    } else {
        format!("€\u{a0}{number}")
    }
}

/// Reads a typed day `dd-mm-jjjj` (one-digit day and month allowed); the error says what is expected.
pub(crate) fn parse_typed_day(text: &str) -> Result<Date, String> {
    let wrong = || format!("{text:?} is geen datum in de vorm dd-mm-jjjj");
    let parts: Vec<&str> = text.trim().split('-').collect();
    let [d, m, y] = parts[..] else {
        return Err(wrong());
    };
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(d, 2) || !digits(m, 2) || y.len() != 4 || !digits(y, 4) {
        return Err(wrong());
    }
    let (d, m, y) = (
        d.parse::<u8>().map_err(|_| wrong())?,
        m.parse::<u8>().map_err(|_| wrong())?,
        y.parse::<i32>().map_err(|_| wrong())?,
    );
    let month = Month::try_from(m).map_err(|_| wrong())?;
    Date::from_calendar_date(y, month, d).map_err(|_| format!("{text:?} bestaat niet"))
}

#[cfg(test)]
mod tests {
    use super::{day, euro, parse_typed_day, typed_day};
    use psd2_fallback_engine::model::Amount;
    use rust_decimal::dec;
    use time::macros::date;

    #[test]
    fn days_have_dutch_month_names_and_may_has_no_dot() {
        assert_eq!(day(date!(2026 - 03 - 03)), "3 mrt. 2026");
        assert_eq!(day(date!(2026 - 05 - 31)), "31 mei 2026");
        assert_eq!(day(date!(2026 - 12 - 01)), "1 dec. 2026");
        assert_eq!(typed_day(date!(2026 - 03 - 03)), "03-03-2026");
    }

    #[test]
    fn euros_carry_the_minus_before_the_sign() {
        let minus = Amount::eur(dec!(-1234.56)).unwrap();
        assert_eq!(euro(&minus), "-€\u{a0}1.234,56");
        assert_eq!(euro(&Amount::eur(dec!(7)).unwrap()), "€\u{a0}7,00");
    }

    #[test]
    fn typed_days_are_read_or_refused_with_the_form_expected() {
        assert_eq!(parse_typed_day("3-3-2026"), Ok(date!(2026 - 03 - 03)));
        assert_eq!(parse_typed_day(" 28-02-2026 "), Ok(date!(2026 - 02 - 28)));
        for bad in [
            "",
            "2026-03-03",
            "03/03/2026",
            "3-13-2026",
            "x-1-2026",
            "1-1-26",
        ] {
            let error = parse_typed_day(bad).unwrap_err();
            assert!(error.contains("dd-mm-jjjj"), "{bad}: {error}");
        }
        assert!(
            parse_typed_day("30-02-2026")
                .unwrap_err()
                .contains("bestaat niet")
        );
    }
}
