//! Extraction: a page's HTML and its screen map in, domain values out. Pure: no IO, no browser.
//!
//! The driver takes the page source once; everything read from a page is read here with `scraper`, one
//! parse per page instead of one WebDriver round trip per cell. The flows read through `Page`; outside
//! the crate, [`ScreenMap::read`] reads a whole screen into a [`Reading`] the same way.

use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, RwLock};

use scraper::{ElementRef, Html, Selector};
use time::Date;

use super::format::parse_iso_date;
use super::map::{Parse, ScreenMap, ValueDef};
use crate::model::{Amount, Iban};

/// One value read from a page, parsed as the screen map says ([`Parse`]).
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
    /// Whether an element is there (`parse = "presence"`).
    Flag(bool),
}

impl Value {
    /// The text, for a value parsed as text.
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The amount, for a value parsed as an amount.
    pub fn amount(&self) -> Option<Amount> {
        match self {
            Value::Amount(a) => Some(*a),
            _ => None,
        }
    }

    /// The date, for a value parsed as a date.
    pub fn date(&self) -> Option<Date> {
        match self {
            Value::Date(d) => Some(*d),
            _ => None,
        }
    }

    /// The IBAN, for a value parsed as an IBAN.
    pub fn iban(&self) -> Option<&Iban> {
        match self {
            Value::Iban(i) => Some(i),
            _ => None,
        }
    }

    /// The number, for a value parsed as a whole number.
    pub fn integer(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            _ => None,
        }
    }

    /// The flag, for a presence.
    pub fn flag(&self) -> Option<bool> {
        match self {
            Value::Flag(b) => Some(*b),
            _ => None,
        }
    }
}

/// One row of a table: column name → value; an optional column with no value is absent.
pub type Record = BTreeMap<String, Value>;

/// Why a page could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ExtractError {
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
pub(crate) struct Page<'m> {
    html: Html,
    map: &'m ScreenMap,
}

/// Compiled selectors by their text, shared by every page of the process: a map's selectors are few
/// and asked for on every read, so each is compiled once (bounded all the same: cleared when full).
static SELECTORS: LazyLock<RwLock<HashMap<String, Selector>>> = LazyLock::new(Default::default);

/// The most selectors kept compiled.
const SELECTORS_KEPT: usize = 4096;

fn selector(css: &str) -> Selector {
    if let Some(kept) = SELECTORS.read().unwrap_or_else(|p| p.into_inner()).get(css) {
        return kept.clone();
    }
    let compiled = Selector::parse(css).expect("selectors are checked when the map is loaded");
    let mut kept = SELECTORS.write().unwrap_or_else(|p| p.into_inner());
    if kept.len() >= SELECTORS_KEPT {
        kept.clear();
    }
    kept.insert(css.to_owned(), compiled.clone());
    compiled
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
    pub(crate) fn new(source: &str, map: &'m ScreenMap) -> Self {
        Self {
            html: Html::parse_document(source),
            map,
        }
    }

    /// Whether the page is this screen.
    pub(crate) fn is(&self, screen: &str) -> bool {
        self.map
            .screens
            .get(screen)
            .is_some_and(|s| self.html.select(&selector(&s.is_here)).next().is_some())
    }

    /// Whether a selector matches on the page.
    pub(crate) fn has(&self, css: &str) -> bool {
        self.html.select(&selector(css)).next().is_some()
    }

    /// The trimmed text of the first element a selector matches (a button's label).
    pub(crate) fn text(&self, css: &str) -> Option<String> {
        self.html
            .select(&selector(css))
            .next()
            .map(|e| e.text().collect::<String>().trim().to_owned())
    }

    /// How many elements a selector matches.
    pub(crate) fn count(&self, css: &str) -> usize {
        self.html.select(&selector(css)).count()
    }

    /// Which of these screens the page is, if any (first match wins).
    pub(crate) fn which<'a>(&self, screens: &[&'a str]) -> Option<&'a str> {
        screens.iter().copied().find(|s| self.is(s))
    }

    /// The first attribute `attr` of the element matching a selector.
    pub(crate) fn attribute(&self, css: &str, attr: &str) -> Option<String> {
        self.html
            .select(&selector(css))
            .next()
            .and_then(|e| e.value().attr(attr))
            .map(str::to_owned)
    }

    fn value_def(&self, screen: &str, name: &str) -> Option<&'m ValueDef> {
        self.map.get(screen).and_then(|s| s.values.get(name))
    }

    /// A single value of a screen; `None` when an optional value is missing or empty, or when the map
    /// does not describe it (a value the contract lets a website lack).
    pub(crate) fn value(&self, screen: &str, name: &str) -> Result<Option<Value>, ExtractError> {
        let Some(def) = self.value_def(screen, name) else {
            return Ok(None);
        };
        if def.parse == Parse::Presence {
            return Ok(Some(Value::Flag(self.has(&def.css))));
        }
        let element = self.html.select(&selector(&def.css)).next();
        read(self.map, screen, (name, None), def, element)
    }

    /// A value that must be there.
    pub(crate) fn required(&self, screen: &str, name: &str) -> Result<Value, ExtractError> {
        self.value(screen, name)?
            .ok_or_else(|| ExtractError::Missing {
                screen: screen.to_owned(),
                selector: self
                    .value_def(screen, name)
                    .map(|d| d.css.clone())
                    .unwrap_or_else(|| format!("values.{name} (not in the map)")),
            })
    }

    /// A value that must be there, of the type the contract checked at load (`get` picks it out).
    pub(crate) fn typed<T>(
        &self,
        screen: &str,
        name: &str,
        get: impl Fn(&Value) -> Option<T>,
    ) -> Result<T, ExtractError> {
        let value = self.required(screen, name)?;
        get(&value).ok_or_else(|| ExtractError::Unparsable {
            screen: screen.to_owned(),
            item: name.to_owned(),
            reason: format!("{value:?} is not of the type the flows need"),
        })
    }

    /// Every row of a table.
    pub(crate) fn table(&self, screen: &str, name: &str) -> Result<Vec<Record>, ExtractError> {
        let Some(def) = self.map.get(screen).and_then(|s| s.tables.get(name)) else {
            return Err(ExtractError::Missing {
                screen: screen.to_owned(),
                selector: format!("tables.{name} (not in the map)"),
            });
        };
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
                if col.parse == Parse::Presence {
                    record.insert((*key).clone(), Value::Flag(element.is_some()));
                    continue;
                }
                let item = (name, Some(key.as_str()));
                if let Some(value) = read(self.map, screen, item, col, element)? {
                    record.insert((*key).clone(), value);
                }
            }
            out.push(record);
        }
        Ok(out)
    }
}

/// Reads one value (`(name, None)`) or one table cell (`(table, Some(column))`); the item is named,
/// as `name` or `table.column`, only in an error (not formatted for each cell read).
fn read(
    map: &ScreenMap,
    screen: &str,
    item: (&str, Option<&str>),
    def: &ValueDef,
    element: Option<ElementRef<'_>>,
) -> Result<Option<Value>, ExtractError> {
    let raw = element.map(|element| match &def.attribute {
        Some(attr) => element.value().attr(attr).unwrap_or_default().to_owned(),
        None => text_of(element),
    });
    from_raw(map, screen, item, def, def.parse, raw)
}

/// Parses one value's text (`None`: its element is not there) as `how` says, with the value's
/// rules for a missing or empty one: the same for a page's element and a JSON row's field.
pub(crate) fn from_raw(
    map: &ScreenMap,
    screen: &str,
    item: (&str, Option<&str>),
    def: &ValueDef,
    how: Parse,
    raw: Option<String>,
) -> Result<Option<Value>, ExtractError> {
    let Some(raw) = raw else {
        return if def.optional {
            Ok(None)
        } else {
            Err(ExtractError::Missing {
                screen: screen.to_owned(),
                selector: def.css.clone(),
            })
        };
    };
    let raw = raw.trim();
    if raw.is_empty() {
        return if def.optional || how == Parse::Text {
            Ok((!def.optional).then(|| Value::Text(String::new())))
        } else {
            Err(ExtractError::Unparsable {
                screen: screen.to_owned(),
                item: item_name(item),
                reason: "is empty".to_owned(),
            })
        };
    }
    parse(map, raw, how)
        .map(Some)
        .map_err(|reason| ExtractError::Unparsable {
            screen: screen.to_owned(),
            item: item_name(item),
            reason,
        })
}

/// A value's name, or a table cell's `table.column`.
fn item_name((name, column): (&str, Option<&str>)) -> String {
    match column {
        Some(column) => format!("{name}.{column}"),
        None => name.to_owned(),
    }
}

/// Parses one text as the map says, in the map's formats.
pub(crate) fn parse(map: &ScreenMap, text: &str, how: Parse) -> Result<Value, String> {
    match how {
        Parse::Text => Ok(Value::Text(text.to_owned())),
        Parse::Amount => map.amounts.parse(text).map(Value::Amount),
        Parse::Decimal => map.amounts.parse_plain(text).map(Value::Amount),
        Parse::Date => map.dates.parse(text).map(Value::Date),
        Parse::IsoDate => parse_iso_date(text).map(Value::Date),
        Parse::Presence => Ok(Value::Flag(true)),
        Parse::Integer => text
            .parse()
            .map(Value::Integer)
            .map_err(|_| format!("{text:?} is not a whole number")),
        Parse::Iban => {
            // The IBAN may follow a name: `Current account – BE60 7381 2345 6770`.
            let candidate = text.rsplit(['–', '-', ':']).next().unwrap_or(text).trim();
            Iban::parse(candidate)
                .or_else(|_| Iban::parse(text))
                .map(Value::Iban)
                .map_err(|_| "is not an IBAN".to_owned())
        }
    }
}

/// One screen of a page, read through a screen map: each of its values and each row of its tables,
/// parsed as the map says. Made by [`ScreenMap::read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// Each value of the screen by name; `None` for an optional value the page does not show.
    values: BTreeMap<String, Option<Value>>,
    /// Each table of the screen by name, with its rows in page order.
    tables: BTreeMap<String, Vec<Record>>,
}

impl Reading {
    /// Each value of the screen, in name order; `None` for an optional value the page does not show.
    pub fn values(&self) -> impl Iterator<Item = (&str, Option<&Value>)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_ref()))
    }

    /// A value by name; `None` when the page does not show it (an optional value) or the screen has
    /// no value of that name.
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.values.get(name).and_then(Option::as_ref)
    }

    /// Each table of the screen, in name order, with its rows in page order.
    pub fn tables(&self) -> impl Iterator<Item = (&str, &[Record])> {
        self.tables.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// A table's rows, in page order; `None` when the screen has no table of that name.
    pub fn table(&self, name: &str) -> Option<&[Record]> {
        self.tables.get(name).map(Vec::as_slice)
    }
}

/// Why a page could not be read as a screen: names the map file, the screen and what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The map has no screen of that name.
    #[error("screen map {file}: no screen {screen:?}")]
    UnknownScreen {
        /// The map file.
        file: String,
        /// The screen asked for.
        screen: String,
    },
    /// The page is another screen: the screen's `is_here` selector finds nothing.
    #[error(
        "screen map {file}: screen {screen:?}: the page is not this screen (is_here {selector:?} found nothing)"
    )]
    NotHere {
        /// The map file.
        file: String,
        /// The screen.
        screen: String,
        /// Its `is_here` selector.
        selector: String,
    },
    /// A selector of a value or column that is not optional found nothing: the website changed.
    #[error("screen map {file}: screen {screen:?}: selector {selector:?} found nothing")]
    Missing {
        /// The map file.
        file: String,
        /// The screen.
        screen: String,
        /// The selector.
        selector: String,
    },
    /// An element's text does not parse as the map says.
    #[error("screen map {file}: screen {screen:?}: {item}: {reason}")]
    Unparsable {
        /// The map file.
        file: String,
        /// The screen.
        screen: String,
        /// The value (`amount`) or table column (`history.amount`).
        item: String,
        /// Why.
        reason: String,
    },
}

impl ScreenMap {
    /// Reads a page's HTML as one of the map's screens: every value and every table row, parsed as the
    /// map says, as the screen channel's flows read the same page. For map authors checking a map
    /// against saved pages, and for tests. No IO.
    ///
    /// Fails when the map has no such screen, when the page is not that screen (its `is_here` finds
    /// nothing), and on the first value or column (values first, then tables, each in name order) whose
    /// selector finds nothing or whose text does not parse.
    pub fn read(&self, screen: &str, html: &str) -> Result<Reading, ReadError> {
        let Some(def) = self.screens.get(screen) else {
            return Err(ReadError::UnknownScreen {
                file: self.file.clone(),
                screen: screen.to_owned(),
            });
        };
        let page = Page::new(html, self);
        if !page.is(screen) {
            return Err(ReadError::NotHere {
                file: self.file.clone(),
                screen: screen.to_owned(),
                selector: def.is_here.clone(),
            });
        }
        let named = |error: ExtractError| match error {
            ExtractError::Missing { screen, selector } => ReadError::Missing {
                file: self.file.clone(),
                screen,
                selector,
            },
            ExtractError::Unparsable {
                screen,
                item,
                reason,
            } => ReadError::Unparsable {
                file: self.file.clone(),
                screen,
                item,
                reason,
            },
        };
        let mut values = BTreeMap::new();
        for name in def.values.keys() {
            values.insert(name.clone(), page.value(screen, name).map_err(named)?);
        }
        let mut tables = BTreeMap::new();
        for name in def.tables.keys() {
            tables.insert(name.clone(), page.table(screen, name).map_err(named)?);
        }
        Ok(Reading { values, tables })
    }
}

/// The rows of a JSON document (a page's island, or one batch of a call) as records, each column
/// parsed as the map says; an item named in errors as `table.column`.
pub(crate) fn json_records(
    map: &ScreenMap,
    screen: &str,
    name: &str,
    doc: &serde_json::Value,
) -> Result<Vec<Record>, ExtractError> {
    let table = map
        .get(screen)
        .and_then(|s| s.tables.get(name))
        .ok_or_else(|| missing_json(screen, format!("tables.{name} (not in the map)")))?;
    let json = table
        .json
        .as_ref()
        .ok_or_else(|| missing_json(screen, format!("tables.{name}.json (not in the map)")))?;
    let rows = doc
        .pointer(&json.rows)
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| missing_json(screen, format!("tables.{name}.json.rows {:?}", json.rows)))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut record = Record::new();
        for (key, column) in &json.columns {
            let Some(def) = table.columns.get(key) else {
                continue;
            };
            let found = row.pointer(column.at());
            let (parse, currency) = match column {
                super::json_rows::JsonColumn::At(_) => (def.parse, None),
                super::json_rows::JsonColumn::Parsed {
                    parse, currency, ..
                } => (parse.unwrap_or(def.parse), currency.as_deref()),
            };
            if parse == Parse::Presence || def.parse == Parse::Presence {
                let present = match found {
                    None | Some(serde_json::Value::Null) => false,
                    Some(serde_json::Value::Bool(b)) => *b,
                    Some(serde_json::Value::String(s)) => !s.trim().is_empty(),
                    Some(_) => true,
                };
                record.insert(key.clone(), Value::Flag(present));
                continue;
            }
            // Absent or `null` is what the script draws as an empty element.
            let mut raw = match found {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            if let Some(serde_json::Value::String(code)) = currency.and_then(|c| row.pointer(c))
                && !raw.trim().is_empty()
            {
                raw = format!("{} {code}", raw.trim());
            }
            let item = (name, Some(key.as_str()));
            if let Some(value) = from_raw(map, screen, item, def, parse, Some(raw))? {
                record.insert(key.clone(), value);
            }
        }
        out.push(record);
    }
    Ok(out)
}

/// How many rows the list has in all, when the map points at it.
pub(crate) fn json_total(
    map: &ScreenMap,
    screen: &str,
    name: &str,
    doc: &serde_json::Value,
) -> Option<i64> {
    let json = map.get(screen)?.tables.get(name)?.json.as_ref()?;
    doc.pointer(json.total.as_deref()?)?.as_i64()
}

fn missing_json(screen: &str, selector: String) -> ExtractError {
    ExtractError::Missing {
        screen: screen.to_owned(),
        selector,
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
        let map = map();
        let eur = |v| Value::Amount(Amount::eur(v).unwrap());
        let cases: &[(&str, Parse, Result<Value, ()>)] = &[
            ("-1.234,56 EUR", Parse::Amount, Ok(eur(dec!(-1234.56)))),
            ("250.000,00\u{a0}EUR", Parse::Amount, Ok(eur(dec!(250000)))),
            ("1,234.56 EUR", Parse::Amount, Err(())),
            (
                "23/11/2026",
                Parse::Date,
                Ok(Value::Date(date!(2026 - 11 - 23))),
            ),
            ("2026-11-23", Parse::Date, Err(())),
            (
                "2026-11-23",
                Parse::IsoDate,
                Ok(Value::Date(date!(2026 - 11 - 23))),
            ),
            ("26", Parse::Integer, Ok(Value::Integer(26))),
            ("x", Parse::Integer, Err(())),
            (
                "Current account – BE60 7381 2345 6770",
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
            let got = parse(&map, text, *how).map_err(|_| ());
            assert_eq!(&got, expected, "{text:?} as {how:?}");
        }
    }

    #[test]
    fn reads_values_and_tables_and_names_what_is_missing() {
        let map = map();
        let html = r#"<html><body data-screen="accounts"><table id="accounts"><tbody>
            <tr class="account-row" data-account-id="acc-01"><td class="account-name"><a>Current</a></td>
            <td class="account-product">Current account</td><td class="account-iban">BE60 7381 2345 6770</td>
            <td class="account-currency">EUR</td><td class="account-owner">Anna</td>
            <td class="account-balance"><span class="neg">-1,00 EUR</span></td></tr></tbody></table></body></html>"#;
        let page = Page::new(html, &map);
        assert!(page.is("accounts"));
        assert!(!page.is("login"));
        let rows = page.table("accounts", "accounts").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["id"], Value::Text("acc-01".into()));
        assert_eq!(rows[0]["name"], Value::Text("Current".into()));
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

    #[test]
    fn a_screen_reads_whole_and_errors_name_file_screen_and_selector() {
        let map = map();
        let file = map.file.clone();
        let accounts = r#"<html><body data-screen="accounts"><table id="accounts"><tbody>
            <tr class="account-row" data-account-id="acc-01"><td class="account-name">Current</td>
            <td class="account-product">Current account</td><td class="account-iban">BE60 7381 2345 6770</td>
            <td class="account-currency">EUR</td><td class="account-owner">Anna</td>
            <td class="account-balance">-1,00 EUR</td></tr></tbody></table></body></html>"#;
        let sca = r#"<html><body data-screen="sca"><p id="challenge">4711 0815</p></body></html>"#;

        let reading = map.read("accounts", accounts).unwrap();
        assert_eq!(reading.values().count(), 0);
        let tables: Vec<(&str, usize)> = reading.tables().map(|(k, r)| (k, r.len())).collect();
        assert_eq!(tables, [("accounts", 1)]);
        let row = &reading.table("accounts").unwrap()[0];
        assert_eq!(row["id"], Value::Text("acc-01".into()));
        assert_eq!(
            row["iban"],
            Value::Iban(Iban::parse("BE60738123456770").unwrap())
        );
        assert_eq!(reading.table("history"), None);

        let reading = map.read("sca", sca).unwrap();
        let values: Vec<(&str, Option<&Value>)> = reading.values().collect();
        let challenge = Value::Text("4711 0815".into());
        assert_eq!(values, [("challenge", Some(&challenge)), ("error", None)]);
        assert_eq!(reading.value("challenge"), Some(&challenge));
        assert_eq!(reading.value("error"), None);

        let cases: Vec<(&str, String, ReadError)> = vec![
            (
                "nowhere",
                accounts.to_owned(),
                ReadError::UnknownScreen {
                    file: file.clone(),
                    screen: "nowhere".into(),
                },
            ),
            (
                "login",
                accounts.to_owned(),
                ReadError::NotHere {
                    file: file.clone(),
                    screen: "login".into(),
                    selector: "body[data-screen=login]".into(),
                },
            ),
            (
                "accounts",
                accounts.replace("account-owner", "holder"),
                ReadError::Missing {
                    file: file.clone(),
                    screen: "accounts".into(),
                    selector: "td.account-owner".into(),
                },
            ),
            (
                "accounts",
                accounts.replace("-1,00 EUR", "minus one"),
                ReadError::Unparsable {
                    file: file.clone(),
                    screen: "accounts".into(),
                    item: "accounts.booked".into(),
                    reason: parse(&map, "minus one", Parse::Amount).unwrap_err(),
                },
            ),
        ];
        for (screen, html, expected) in cases {
            let error = map.read(screen, &html).unwrap_err();
            assert_eq!(error, expected);
            assert!(error.to_string().contains(&file), "{error}");
        }
    }
}
