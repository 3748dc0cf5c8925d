//! A website's number and date formats, as its screen map configures them (`[formats]`): parsing what
//! a page shows into amounts and dates, and writing what a form takes. Pure: text in, values out.
//!
//! Amounts: a decimal character, grouping characters (groups of three), where the minus sign may
//! stand (`-1.234,56`, `1.234,56-`), currency symbols (`€`) and ISO codes before or after the number
//! (`-€ 1.234,56`, `1.234,56 EUR`), and a currency for amounts that show none. Dates: patterns in the
//! `time` crate's format description language (`[day]/[month]/[year]`), with the website's month
//! names (`3 January 2026`) turned into numbers first.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;
use time::Date;
use time::format_description::OwnedFormatItem;

use crate::model::{Amount, Currency};

/// Where a negative amount's minus sign stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MinusPosition {
    /// Before the number (and before or after a currency in front): `-1.234,56`, `-€ 1.234,56`.
    #[default]
    Leading,
    /// After the number: `1.234,56-`.
    Trailing,
    /// Either.
    Either,
}

/// How a website writes amounts (`[formats.amount]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountFormat {
    /// The character before the decimals (`,` in `1.234,56`).
    #[serde(default = "dot")]
    pub decimal: char,
    /// Characters that group thousands (`.` and space in `1.234,56` and `1 234,56`); may be empty.
    #[serde(default)]
    pub grouping: String,
    /// Where the minus sign stands.
    #[serde(default)]
    pub minus: MinusPosition,
    /// Currency symbols and the ISO 4217 code each stands for (`"€" = "EUR"`). Three capital letters
    /// before or after the number are always read as an ISO code.
    #[serde(default)]
    pub symbols: BTreeMap<String, String>,
    /// The currency of an amount that shows none (a column whose header says `EUR`).
    pub currency: Option<String>,
}

fn dot() -> char {
    '.'
}

impl Default for AmountFormat {
    fn default() -> Self {
        Self {
            decimal: '.',
            grouping: String::new(),
            minus: MinusPosition::Leading,
            symbols: BTreeMap::new(),
            currency: None,
        }
    }
}

/// How a website writes dates (`[formats.date]`), as configured.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DateFormatDef {
    /// Patterns a shown date may follow, tried in order (`time` format descriptions:
    /// `[day]/[month]/[year]`, `[day padding:none] [month] [year]`).
    #[serde(default)]
    pub patterns: Vec<String>,
    /// The twelve month names (or abbreviations) the website writes, January first; a date's month
    /// name becomes its number before the patterns are tried. Several spellings of one month: `|`.
    #[serde(default)]
    pub months: Vec<String>,
    /// The pattern a date is typed into a form with; the first of `patterns` when absent.
    pub input: Option<String>,
}

/// A checked date format: its patterns compiled.
#[derive(Debug, Clone)]
pub struct DateFormat {
    patterns: Vec<(String, OwnedFormatItem)>,
    months: Vec<Vec<String>>,
    input: Option<OwnedFormatItem>,
}

/// Normalises the spaces and minus signs websites use into plain ones.
fn normalise(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{a0}' | '\u{202f}' | '\u{2009}' | '\t' | '\n' => ' ',
            '\u{2212}' | '\u{2013}' => '-',
            other => other,
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

impl AmountFormat {
    /// Checks the format: a known default currency and symbols' codes, a decimal character that is not
    /// a grouping one. The error names the key below `formats.amount`.
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        if self.grouping.contains(self.decimal) {
            return Err((
                "grouping".to_owned(),
                format!("{:?} is also the decimal character", self.decimal),
            ));
        }
        if self.decimal.is_ascii_digit() || self.grouping.chars().any(|c| c.is_ascii_digit()) {
            return Err(("decimal".to_owned(), "a digit cannot separate".to_owned()));
        }
        if let Some(code) = &self.currency {
            Currency::from_code(code).map_err(|e| ("currency".to_owned(), e.to_string()))?;
        }
        for (symbol, code) in &self.symbols {
            Currency::from_code(code)
                .map_err(|e| (format!("symbols.{symbol:?}"), e.to_string()))?;
        }
        Ok(())
    }

    /// The currency at the start or end of a text, and the text without it.
    fn split_currency<'t>(&self, text: &'t str) -> (&'t str, Option<String>) {
        let mut symbols: Vec<(&String, &String)> = self.symbols.iter().collect();
        symbols.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        for (symbol, code) in symbols {
            if let Some(rest) = text.strip_prefix(symbol.as_str()) {
                return (rest.trim(), Some(code.clone()));
            }
            if let Some(rest) = text.strip_suffix(symbol.as_str()) {
                return (rest.trim(), Some(code.clone()));
            }
        }
        let is_code = |s: &str| s.len() == 3 && s.chars().all(|c| c.is_ascii_uppercase());
        if let Some((code, rest)) = text.split_once(' ').filter(|(c, _)| is_code(c)) {
            return (rest.trim(), Some(code.to_owned()));
        }
        if let Some((rest, code)) = text.rsplit_once(' ').filter(|(_, c)| is_code(c)) {
            return (rest.trim(), Some(code.to_owned()));
        }
        (text, None)
    }

    /// Parses an amount as the website shows it.
    pub fn parse(&self, shown: &str) -> Result<Amount, String> {
        let text = normalise(shown);
        let bad = |why: &str| format!("{shown:?} is not an amount: {why}");
        let mut negative = None::<bool>;
        let mut rest = text.as_str();
        let take_sign = |rest: &mut &str, negative: &mut Option<bool>| -> Result<(), String> {
            if let Some(r) = rest.strip_prefix(['-', '+']) {
                if negative.is_some() {
                    return Err(bad("two signs"));
                }
                if rest.starts_with('-') && self.minus == MinusPosition::Trailing {
                    return Err(bad(
                        "the minus sign stands after the number on this website",
                    ));
                }
                *negative = Some(rest.starts_with('-'));
                *rest = r.trim();
            }
            if let Some(r) = rest.strip_suffix('-') {
                if negative.is_some() {
                    return Err(bad("two signs"));
                }
                if self.minus == MinusPosition::Leading {
                    return Err(bad(
                        "the minus sign stands before the number on this website",
                    ));
                }
                *negative = Some(true);
                *rest = r.trim();
            }
            Ok(())
        };
        take_sign(&mut rest, &mut negative)?;
        let (number, code) = self.split_currency(rest);
        let mut number = number;
        take_sign(&mut number, &mut negative)?;
        let negative = negative.unwrap_or(false);
        let (int, frac) = match number.split_once(self.decimal) {
            Some((i, f)) => (i, Some(f)),
            None => (number, None),
        };
        if int.is_empty() {
            return Err(bad("no digits"));
        }
        let groups: Vec<&str> = int.split(|c| self.grouping.contains(c)).collect();
        let grouped = groups.len() > 1;
        for (i, group) in groups.iter().enumerate() {
            if group.is_empty() || !group.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad("unexpected characters"));
            }
            if grouped && ((i == 0 && group.len() > 3) || (i > 0 && group.len() != 3)) {
                return Err(bad("digits are not grouped by three"));
            }
        }
        let frac = match frac {
            Some(f) if f.is_empty() || !f.chars().all(|c| c.is_ascii_digit()) => {
                return Err(bad("unexpected characters after the decimal character"));
            }
            other => other,
        };
        let plain = format!(
            "{}{}{}",
            if negative { "-" } else { "" },
            groups.concat(),
            frac.map(|f| format!(".{f}")).unwrap_or_default()
        );
        self.amount(&plain, code, &bad)
    }

    /// A plain number and the currency code that came with it (or the map's) as an amount.
    fn amount(
        &self,
        number: &str,
        code: Option<String>,
        bad: &dyn Fn(&str) -> String,
    ) -> Result<Amount, String> {
        let value: Decimal = number.parse().map_err(|e| bad(&format!("{e}")))?;
        let code = code
            .or_else(|| self.currency.clone())
            .ok_or_else(|| bad("it shows no currency and the map gives none"))?;
        let currency = Currency::from_code(&code).map_err(|e| e.to_string())?;
        Amount::new(value, currency).map_err(|e| e.to_string())
    }

    /// A plain amount as data carries it, not as the page shows it: `-1234.56`, a point for the
    /// decimals, no grouping, the sign in front, then a currency code or none (the map's `currency`).
    pub fn parse_plain(&self, text: &str) -> Result<Amount, String> {
        let bad = |why: &str| format!("{text:?} is not a plain amount: {why}");
        let (number, code) = match text.trim().split_once(char::is_whitespace) {
            Some((number, code)) => (number, Some(code.trim().to_owned())),
            None => (text.trim(), None),
        };
        let digits = number.strip_prefix('-').unwrap_or(number);
        if digits.is_empty()
            || !digits.chars().all(|c| c.is_ascii_digit() || c == '.')
            || digits.matches('.').count() > 1
        {
            return Err(bad("unexpected characters"));
        }
        self.amount(number, code, &bad)
    }

    /// An amount's number as a form takes it: no grouping, the website's decimal character.
    pub fn input(&self, value: Decimal) -> String {
        value.to_string().replace('.', &self.decimal.to_string())
    }
}

impl DateFormat {
    /// Compiles a configured date format; the error names the key below `formats.date`.
    pub(crate) fn new(def: &DateFormatDef) -> Result<Self, (String, String)> {
        if def.patterns.is_empty() {
            return Err(("patterns".to_owned(), "at least one pattern".to_owned()));
        }
        let compile = |key: String, pattern: &str| {
            time::format_description::parse_owned::<2>(pattern)
                .map_err(|e| (key, format!("{pattern:?} is not a date pattern: {e}")))
        };
        let mut patterns = Vec::new();
        for (i, pattern) in def.patterns.iter().enumerate() {
            patterns.push((pattern.clone(), compile(format!("patterns[{i}]"), pattern)?));
        }
        if !def.months.is_empty() && def.months.len() != 12 {
            return Err((
                "months".to_owned(),
                format!("twelve names, January first ({} given)", def.months.len()),
            ));
        }
        let months = def
            .months
            .iter()
            .map(|m| m.split('|').map(|s| s.trim().to_lowercase()).collect())
            .collect();
        let input = match &def.input {
            Some(p) => Some(compile("input".to_owned(), p)?),
            None => None,
        };
        Ok(Self {
            patterns,
            months,
            input,
        })
    }

    /// Parses a date as the website shows it.
    pub fn parse(&self, shown: &str) -> Result<Date, String> {
        let mut text = normalise(shown);
        if !self.months.is_empty() {
            let lower = text.to_lowercase();
            // The longest name that appears wins (`june` is not `jun`).
            let found = self
                .months
                .iter()
                .enumerate()
                .flat_map(|(i, names)| names.iter().map(move |n| (i, n)))
                .filter(|(_, n)| !n.is_empty() && lower.contains(n.as_str()))
                .max_by_key(|(_, n)| n.len());
            if let Some((i, name)) = found {
                let at = lower.find(name.as_str()).unwrap_or_default();
                // Lowercasing may change byte lengths only outside ASCII; then fall back to the text.
                if lower.len() == text.len() {
                    text.replace_range(at..at + name.len(), &format!("{:02}", i + 1));
                }
            }
        }
        for (_, pattern) in &self.patterns {
            if let Ok(date) = Date::parse(&text, pattern) {
                return Ok(date);
            }
        }
        let tried: Vec<&str> = self.patterns.iter().map(|(p, _)| p.as_str()).collect();
        Err(format!(
            "{shown:?} is not a date like {}",
            tried.join(" or ")
        ))
    }

    /// A date as a form takes it.
    pub fn input(&self, date: Date) -> String {
        let pattern = self.input.as_ref().unwrap_or(&self.patterns[0].1);
        date.format(pattern).unwrap_or_else(|_| date.to_string())
    }
}

/// An ISO 8601 date, alone or at the start of a date-time (`2026-11-23`, `2026-11-23T10:00:00Z`), as
/// attributes carry it.
pub fn parse_iso_date(text: &str) -> Result<Date, String> {
    let day = text.trim().get(..10).unwrap_or(text);
    Date::parse(
        day,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| format!("{text:?} is not an ISO date like 2026-11-23"))
}

/// How a column or value's text becomes a domain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Parse {
    /// The text, trimmed.
    #[default]
    Text,
    /// An amount in the map's `[formats.amount]`.
    Amount,
    /// A date in the map's `[formats.date]`.
    Date,
    /// An ISO 8601 date (`2026-11-23`, or the start of a date-time), as attributes carry them.
    IsoDate,
    /// An IBAN, also at the end of a text like `Current account – BE60 7381 2345 6770`.
    Iban,
    /// A whole number.
    Integer,
    /// Whether the element is there at all (a "recurring" badge): never missing.
    Presence,
    /// A plain amount as data carries it (`-1234.56`, a JSON call's or an attribute's), in the map's
    /// `[formats.amount] currency` unless a code follows it.
    Decimal,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(decimal: char, grouping: &str, minus: MinusPosition) -> AmountFormat {
        AmountFormat {
            decimal,
            grouping: grouping.to_owned(),
            minus,
            symbols: [("€".to_owned(), "EUR".to_owned())].into(),
            currency: None,
        }
    }

    #[test]
    fn amounts_parse_as_configured() {
        let be = format(',', ". ", MinusPosition::Leading);
        let trailing = format(',', ".", MinusPosition::Trailing);
        let either = format(',', ".", MinusPosition::Either);
        let us = format('.', ",", MinusPosition::Leading);
        let cases: &[(&AmountFormat, &str, Option<&str>)] = &[
            (&be, "-1.234,56 EUR", Some("-1234.56 EUR")),
            (&be, "1 234,56\u{a0}€", Some("1234.56 EUR")),
            (&be, "+ 25,00 EUR", Some("25.00 EUR")),
            (&be, "\u{2212}7,50 EUR", Some("-7.50 EUR")),
            (&be, "-€ 1.234,56", Some("-1234.56 EUR")),
            (&be, "€ -1.234,56", Some("-1234.56 EUR")),
            (&be, "1.234,56-", None),
            (&be, "1.23,56 EUR", None),
            (&be, "12,5x EUR", None),
            (&be, "1.234,56", None),
            (&be, "--1,00 EUR", None),
            (&trailing, "1.234,56- €", Some("-1234.56 EUR")),
            (&trailing, "€ 1.234,56-", Some("-1234.56 EUR")),
            (&trailing, "-1.234,56 €", None),
            (&either, "1.234,56-EUR", None),
            (&either, "1.234,56 EUR-", Some("-1234.56 EUR")),
            (&us, "-1,234.56 USD", Some("-1234.56 USD")),
            (&us, "1,234,567.00 EUR", Some("1234567.00 EUR")),
            (&us, "1.234,56 EUR", None),
        ];
        for (fmt, text, want) in cases {
            let got = fmt.parse(text).map(|a| a.to_string());
            match want {
                Some(want) => assert_eq!(got.as_deref(), Ok(*want), "{text}"),
                None => assert!(got.is_err(), "{text} parsed as {got:?}"),
            }
        }
        let mut defaulted = format(',', ".", MinusPosition::Leading);
        defaulted.currency = Some("EUR".to_owned());
        assert_eq!(defaulted.parse("-12,00").unwrap().to_string(), "-12.00 EUR");
        assert_eq!(defaulted.input("-1234.5".parse().unwrap()), "-1234,5");
    }

    #[test]
    fn dates_parse_with_patterns_and_month_names() {
        let de = DateFormat::new(&DateFormatDef {
            patterns: vec![
                "[day]/[month]/[year]".to_owned(),
                "[day padding:none] [month] [year]".to_owned(),
            ],
            months: [
                "januar|jan",
                "februar|feb",
                "märz|mrz",
                "april|apr",
                "mai",
                "juni|jun",
                "juli|jul",
                "august|aug",
                "september|sep",
                "oktober|okt",
                "november|nov",
                "dezember|dez",
            ]
            .map(str::to_owned)
            .to_vec(),
            input: None,
        })
        .unwrap();
        let d = |y, m, day| Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), day);
        assert_eq!(de.parse("23/11/2026"), Ok(d(2026, 11, 23).unwrap()));
        assert_eq!(de.parse("3 Juni 2026"), Ok(d(2026, 6, 3).unwrap()));
        assert_eq!(de.parse("3 jun 2026"), Ok(d(2026, 6, 3).unwrap()));
        assert_eq!(de.parse("3\u{a0}mrz 2026"), Ok(d(2026, 3, 3).unwrap()));
        assert!(de.parse("31/02/2026").is_err());
        assert!(de.parse("3 foo 2026").is_err());
        assert_eq!(de.input(d(2026, 1, 5).unwrap()), "05/01/2026");
        assert_eq!(
            parse_iso_date("2026-11-23T10:00:00Z"),
            Ok(d(2026, 11, 23).unwrap())
        );
        assert!(parse_iso_date("23/11/2026").is_err());
        let bad = DateFormatDef {
            patterns: vec!["[dya]".to_owned()],
            ..Default::default()
        };
        assert_eq!(DateFormat::new(&bad).unwrap_err().0, "patterns[0]");
    }
}
