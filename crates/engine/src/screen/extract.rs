//! Extraction: a page's HTML and its screen map in, domain values out. Pure: no IO, no browser.
//!
//! The driver takes the page source once; everything read from a page is read here with `scraper`, one
//! parse per page instead of one WebDriver round trip per cell.

use std::collections::BTreeMap;

use scraper::{ElementRef, Html, Selector};
use time::Date;

use super::map::{Parse, Screen, ScreenMap, ValueDef};
use crate::model::belgian::{parse_amount, parse_date};
use crate::model::{Amount, Iban};

/// One value read from a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Text, trimmed.
    Text(String),
    /// An amount.
    Amount(Amount),
    /// A date.
    Date(Date),
    /// An IBAN.
    Iban(Iban),
    /// A whole number.
    Integer(i64),
}

impl Value {
    /// The text, for a value parsed as text.
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// One row of a table: column name → value; an optional column with no value is absent.
pub type Record = BTreeMap<String, Value>;

/// Why a page could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// A selector found nothing: the website changed.
    #[error("screen {screen:?}: selector {selector:?} found nothing")]
    Missing {
        /// The screen.
        screen: String,
        /// The selector.
        selector: String,
    },
    /// An element's text does not parse as the map says.
    #[error("screen {screen:?}: {item}: {reason}")]
    Unparsable {
        /// The screen.
        screen: String,
        /// The value or column.
        item: String,
        /// Why.
        reason: String,
    },
}

/// A parsed page, read through a screen map.
#[derive(Debug)]
pub struct Page<'m> {
    html: Html,
    map: &'m ScreenMap,
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("selectors are checked when the map is loaded")
}

/// The element's text: its text nodes, each trimmed, joined by one space.
fn text_of(element: ElementRef<'_>) -> String {
    element
        .text()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl<'m> Page<'m> {
    /// Parses a page's source.
    pub fn new(source: &str, map: &'m ScreenMap) -> Self {
        Self {
            html: Html::parse_document(source),
            map,
        }
    }

    /// Whether the page is this screen.
    pub fn is(&self, screen: &str) -> bool {
        self.map
            .screens
            .get(screen)
            .is_some_and(|s| self.html.select(&selector(&s.is_here)).next().is_some())
    }

    /// Whether a selector matches on the page.
    pub fn has(&self, css: &str) -> bool {
        self.html.select(&selector(css)).next().is_some()
    }

    /// Which of these screens the page is, if any (first match wins).
    pub fn which<'a>(&self, screens: &[&'a str]) -> Option<&'a str> {
        screens.iter().copied().find(|s| self.is(s))
    }

    /// The first attribute `attr` of the element matching a selector.
    pub fn attribute(&self, css: &str, attr: &str) -> Option<String> {
        self.html
            .select(&selector(css))
            .next()
            .and_then(|e| e.value().attr(attr))
            .map(str::to_owned)
    }

    fn screen(&self, name: &str) -> &'m Screen {
        self.map.screen(name)
    }

    /// A single value of a screen; `None` when an optional value is missing or empty.
    pub fn value(&self, screen: &str, name: &str) -> Result<Option<Value>, ExtractError> {
        let def =
            self.screen(screen).values.get(name).unwrap_or_else(|| {
                panic!("value {screen}.{name} is in the contract checked at load")
            });
        let element = self.html.select(&selector(&def.css)).next();
        read(screen, name, def, element)
    }

    /// A value that must be there.
    pub fn required(&self, screen: &str, name: &str) -> Result<Value, ExtractError> {
        self.value(screen, name)?
            .ok_or_else(|| ExtractError::Missing {
                screen: screen.to_owned(),
                selector: self.screen(screen).values[name].css.clone(),
            })
    }

    /// Every row of a table.
    pub fn table(&self, screen: &str, name: &str) -> Result<Vec<Record>, ExtractError> {
        let def =
            self.screen(screen).tables.get(name).unwrap_or_else(|| {
                panic!("table {screen}.{name} is in the contract checked at load")
            });
        let columns: Vec<(&String, &ValueDef, Option<Selector>)> = def
            .columns
            .iter()
            .map(|(k, v)| (k, v, (v.css != ".").then(|| selector(&v.css))))
            .collect();
        let mut out = Vec::new();
        for row in self.html.select(&selector(&def.rows)) {
            let mut record = Record::new();
            for (key, col, sel) in &columns {
                let element = match sel {
                    None => Some(row),
                    Some(sel) => row.select(sel).next(),
                };
                if let Some(value) = read(screen, &format!("{name}.{key}"), col, element)? {
                    record.insert((*key).clone(), value);
                }
            }
            out.push(record);
        }
        Ok(out)
    }
}

fn read(
    screen: &str,
    item: &str,
    def: &ValueDef,
    element: Option<ElementRef<'_>>,
) -> Result<Option<Value>, ExtractError> {
    let Some(element) = element else {
        return if def.optional {
            Ok(None)
        } else {
            Err(ExtractError::Missing {
                screen: screen.to_owned(),
                selector: def.css.clone(),
            })
        };
    };
    let raw = match &def.attribute {
        Some(attr) => element.value().attr(attr).map(str::to_owned),
        None => Some(text_of(element)),
    };
    let raw = raw.map(|t| t.trim().to_owned()).unwrap_or_default();
    if raw.is_empty() {
        return if def.optional || def.parse == Parse::Text {
            Ok((!def.optional).then(|| Value::Text(String::new())))
        } else {
            Err(ExtractError::Unparsable {
                screen: screen.to_owned(),
                item: item.to_owned(),
                reason: "is empty".to_owned(),
            })
        };
    }
    parse(&raw, def.parse)
        .map(Some)
        .map_err(|reason| ExtractError::Unparsable {
            screen: screen.to_owned(),
            item: item.to_owned(),
            reason,
        })
}

/// Parses one text as the map says.
pub fn parse(text: &str, how: Parse) -> Result<Value, String> {
    match how {
        Parse::Text => Ok(Value::Text(text.to_owned())),
        Parse::BelgianAmount => parse_amount(text, None)
            .map(Value::Amount)
            .map_err(|e| e.to_string()),
        Parse::BelgianDate => parse_date(text).map(Value::Date).map_err(|e| e.to_string()),
        Parse::Integer => text
            .parse()
            .map(Value::Integer)
            .map_err(|_| format!("{text:?} is not a whole number")),
        Parse::Iban => {
            // The IBAN may follow a name: `Zichtrekening – BE60 7381 2345 6770`.
            let candidate = text.rsplit(['–', '-', ':']).next().unwrap_or(text).trim();
            Iban::parse(candidate)
                .or_else(|_| Iban::parse(text))
                .map(Value::Iban)
                .map_err(|_| "is not an IBAN".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;
    use std::path::Path;
    use time::macros::date;

    fn map() -> ScreenMap {
        ScreenMap::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../selectors/sandbox.toml"))
            .unwrap()
    }

    #[test]
    fn parses_each_kind_of_text() {
        let eur = |v| Value::Amount(Amount::eur(v).unwrap());
        let cases: &[(&str, Parse, Result<Value, ()>)] = &[
            (
                "-1.234,56 EUR",
                Parse::BelgianAmount,
                Ok(eur(dec!(-1234.56))),
            ),
            (
                "250.000,00\u{a0}EUR",
                Parse::BelgianAmount,
                Ok(eur(dec!(250000))),
            ),
            ("1,234.56 EUR", Parse::BelgianAmount, Err(())),
            (
                "23/11/2026",
                Parse::BelgianDate,
                Ok(Value::Date(date!(2026 - 11 - 23))),
            ),
            ("2026-11-23", Parse::BelgianDate, Err(())),
            ("26", Parse::Integer, Ok(Value::Integer(26))),
            ("x", Parse::Integer, Err(())),
            (
                "Zichtrekening – BE60 7381 2345 6770",
                Parse::Iban,
                Ok(Value::Iban(Iban::parse("BE60738123456770").unwrap())),
            ),
            ("BE60 7381 2345 6771", Parse::Iban, Err(())),
            (
                " Ethias ",
                Parse::Text,
                Ok(Value::Text(" Ethias ".to_owned())),
            ),
        ];
        for (text, how, expected) in cases {
            let got = parse(text, *how).map_err(|_| ());
            assert_eq!(&got, expected, "{text:?} as {how:?}");
        }
    }

    #[test]
    fn reads_values_and_tables_and_names_what_is_missing() {
        let map = map();
        let html = r#"<html><body data-screen="accounts"><table id="accounts"><tbody>
            <tr class="account-row" data-account-id="acc-01"><td class="account-name"><a>Zicht</a></td>
            <td class="account-product">Zichtrekening</td><td class="account-iban">BE60 7381 2345 6770</td>
            <td class="account-currency">EUR</td><td class="account-owner">Anna</td>
            <td class="account-balance"><span class="neg">-1,00 EUR</span></td></tr></tbody></table></body></html>"#;
        let page = Page::new(html, &map);
        assert!(page.is("accounts"));
        assert!(!page.is("login"));
        let rows = page.table("accounts", "accounts").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["id"], Value::Text("acc-01".into()));
        assert_eq!(rows[0]["name"], Value::Text("Zicht".into()));
        assert_eq!(
            rows[0]["booked"],
            Value::Amount(Amount::eur(dec!(-1)).unwrap())
        );
        let broken = html.replace("account-owner", "holder");
        let error = Page::new(&broken, &map)
            .table("accounts", "accounts")
            .unwrap_err();
        assert_eq!(
            error,
            ExtractError::Missing {
                screen: "accounts".into(),
                selector: "td.account-owner".into()
            }
        );
    }
}
