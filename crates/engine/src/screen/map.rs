//! Screen maps as data: how a bank's website is recognised and read, loaded from `selectors/<bank>.toml`.
//!
//! A map names screens (`login`, `sca`, `accounts`, `account`, `payment_new`, …). Each screen says how
//! it is recognised (`is_here`), where it lives (`url`), what can be typed into it (`fields`), what can
//! be clicked (`actions`), which single values it shows (`values`) and which lists (`tables`: a row
//! selector and, per column, a selector and how the text parses). The flows in [`super`] use these names
//! only; everything layout-specific is in the file. A map is checked when it is loaded: unknown keys
//! are refused, every selector must parse as CSS, and every screen, field, action, value and table the
//! flows use must be there. Every load error names the file and the key.
//!
//! [`ScreenMap::read`] reads a page's HTML through a map, one screen at a time, into the values the
//! flows would see: a map author checks a map against saved pages with it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// How a column or value's text becomes a domain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Parse {
    /// The text, trimmed.
    #[default]
    Text,
    /// A Belgian amount: `-1.234,56 EUR`.
    BelgianAmount,
    /// A Belgian date: `23/11/2026`.
    BelgianDate,
    /// An IBAN, also at the end of a text like `Zichtrekening – BE60 7381 2345 6770`.
    Iban,
    /// A whole number.
    Integer,
}

/// How a field is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// Typed key by key (for sites that validate key events).
    Keys,
    /// Set by one script call (about twice as fast).
    #[default]
    Script,
    /// A `<select>`: the option with this value is chosen.
    Select,
    /// A checkbox: ticked for `true`.
    Checkbox,
    /// A file input: a local path is sent to it.
    File,
}

/// A field of a form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// The input's CSS selector.
    pub css: String,
    /// How to fill it.
    #[serde(default)]
    pub input: Input,
}

/// A single item on a screen, or a column of a table (relative to its row).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueDef {
    /// The element's CSS selector.
    pub css: String,
    /// How its text parses.
    #[serde(default)]
    pub parse: Parse,
    /// Read this attribute instead of the text.
    pub attribute: Option<String>,
    /// Whether the element may be missing or empty (else it is a *screen changed*).
    #[serde(default)]
    pub optional: bool,
}

/// A list of records.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableDef {
    /// Selects every row.
    pub rows: String,
    /// Per column, relative to a row; `"."` in a column's `css` means the row itself.
    pub columns: BTreeMap<String, ValueDef>,
}

/// One screen of the website.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Screen {
    /// Present exactly when the browser shows this screen.
    pub is_here: String,
    /// Where the screen is, relative to the website's base; `{id}` is replaced.
    pub url: Option<String>,
    /// Present once scripts have rendered the screen's data (waited for before reading).
    pub ready: Option<String>,
    /// The query string the screen's form submits (a GET form), with `{field}` for each field's value:
    /// the flows then open the filtered screen in one page load instead of filling the form.
    pub query: Option<String>,
    /// What can be typed.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldDef>,
    /// What can be clicked: a CSS selector each.
    #[serde(default)]
    pub actions: BTreeMap<String, String>,
    /// Single items.
    #[serde(default)]
    pub values: BTreeMap<String, ValueDef>,
    /// Lists.
    #[serde(default)]
    pub tables: BTreeMap<String, TableDef>,
}

/// The map file's header.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankInfo {
    /// The bank's name.
    pub name: String,
    /// Which version of the bank's website the map describes.
    pub layout: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    bank: BankInfo,
    screens: BTreeMap<String, Screen>,
}

/// A loaded, checked screen map.
#[derive(Debug, Clone)]
pub struct ScreenMap {
    /// The file it came from (named in every error).
    pub file: String,
    /// The bank and layout.
    pub bank: BankInfo,
    /// Every screen by name.
    pub screens: BTreeMap<String, Screen>,
}

/// A map that cannot be used: names the file and the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("screen map {file}: {key}: {reason}")]
pub struct MapError {
    /// The map file.
    pub file: String,
    /// The key (`screens.login.fields.password`), or `-` for the whole file.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

/// What the flows use, checked at load: `(screen, kind, name)`; kind is `field`, `action`, `value`,
/// `table`, `url`, `ready`, or `-` for the screen alone.
pub(crate) const CONTRACT: &[(&str, &str, &str)] = &[
    ("cookie_banner", "action", "accept"),
    ("maintenance", "-", ""),
    ("error", "value", "message"),
    ("login", "url", ""),
    ("login", "field", "customer"),
    ("login", "field", "password"),
    ("login", "action", "submit"),
    ("login", "value", "error"),
    ("sca", "value", "challenge"),
    ("sca", "value", "error"),
    ("sca", "field", "response"),
    ("sca", "action", "submit"),
    ("accounts", "url", ""),
    ("accounts", "table", "accounts"),
    ("account", "url", ""),
    ("account", "ready", ""),
    ("account", "value", "booked"),
    ("account", "value", "available"),
    ("account", "value", "expected"),
    ("account", "value", "closing"),
    ("account", "value", "forward"),
    ("account", "value", "closing_date"),
    ("account", "value", "today"),
    ("account", "value", "balance_on_date"),
    ("account", "value", "balance_on_date_day"),
    ("account", "value", "error"),
    ("account", "value", "page"),
    ("account", "value", "pages"),
    ("account", "field", "balance_date"),
    ("account", "field", "date_from"),
    ("account", "field", "date_to"),
    ("account", "field", "direction"),
    ("account", "field", "recurrence"),
    ("account", "field", "page_size"),
    ("account", "action", "show_balance"),
    ("account", "action", "filter"),
    ("account", "action", "next_page"),
    ("account", "table", "history"),
    ("payment_new", "url", ""),
    ("payment_new", "field", "debtor"),
    ("payment_new", "field", "creditor_name"),
    ("payment_new", "field", "creditor_iban"),
    ("payment_new", "field", "amount"),
    ("payment_new", "field", "communication"),
    ("payment_new", "field", "execution_date"),
    ("payment_new", "field", "instant"),
    ("payment_new", "field", "reference"),
    ("payment_new", "action", "submit"),
    ("payment_new", "value", "error"),
    ("payment_confirm", "value", "debtor"),
    ("payment_confirm", "value", "creditor_name"),
    ("payment_confirm", "value", "creditor_iban"),
    ("payment_confirm", "value", "amount"),
    ("payment_confirm", "value", "communication"),
    ("payment_confirm", "value", "date"),
    ("payment_confirm", "value", "instant"),
    ("payment_confirm", "value", "reference"),
    ("payment_confirm", "action", "confirm"),
    ("payment_confirm", "action", "cancel"),
    ("order_new", "url", ""),
    ("order_new", "field", "debtor"),
    ("order_new", "field", "creditor_name"),
    ("order_new", "field", "creditor_iban"),
    ("order_new", "field", "amount"),
    ("order_new", "field", "communication"),
    ("order_new", "field", "start_date"),
    ("order_new", "field", "end_date"),
    ("order_new", "field", "frequency"),
    ("order_new", "field", "day"),
    ("order_new", "field", "reference"),
    ("order_new", "action", "submit"),
    ("order_new", "value", "error"),
    ("order_confirm", "value", "debtor"),
    ("order_confirm", "value", "creditor_name"),
    ("order_confirm", "value", "creditor_iban"),
    ("order_confirm", "value", "amount"),
    ("order_confirm", "value", "communication"),
    ("order_confirm", "value", "start_date"),
    ("order_confirm", "value", "frequency"),
    ("order_confirm", "value", "reference"),
    ("order_confirm", "action", "confirm"),
    ("order_confirm", "action", "cancel"),
    ("files", "url", ""),
    ("files", "field", "file"),
    ("files", "action", "upload"),
    ("files", "value", "error"),
    ("file_review", "value", "message_id"),
    ("file_review", "value", "count"),
    ("file_review", "action", "confirm"),
    ("file_review", "action", "cancel"),
    ("sign", "url", ""),
    ("sign", "value", "reference"),
    ("sign", "value", "challenge"),
    ("sign", "value", "error"),
    ("sign", "field", "response"),
    ("sign", "action", "submit"),
    ("result", "value", "reference"),
    ("result", "value", "status"),
    ("payments", "url", ""),
    ("payments", "table", "payments"),
    ("payment", "url", ""),
    ("payment", "value", "reference"),
    ("payment", "value", "status"),
    ("payment", "action", "cancel"),
];

impl ScreenMap {
    /// Loads and checks a map file.
    pub fn load(path: &Path) -> Result<Self, MapError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| MapError {
            file: file.clone(),
            key: "-".to_owned(),
            reason: format!("cannot read: {e}"),
        })?;
        Self::parse(&file, &text)
    }

    /// Parses and checks a map from its text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, MapError> {
        let error = |key: String, reason: String| MapError {
            file: file.to_owned(),
            key,
            reason,
        };
        let raw: MapFile = toml::from_str(text).map_err(|e| {
            // The toml error names the key or line; keep its message, without the source excerpt.
            let message = e.message().to_owned();
            let key = e
                .span()
                .map(|span| {
                    let line = text[..span.start].lines().count().max(1);
                    format!("line {line}")
                })
                .unwrap_or_else(|| "-".to_owned());
            error(key, message)
        })?;
        let map = ScreenMap {
            file: file.to_owned(),
            bank: raw.bank,
            screens: raw.screens,
        };
        // Every selector parses as CSS.
        for (name, screen) in &map.screens {
            let base = format!("screens.{name}");
            let mut selectors = vec![(format!("{base}.is_here"), &screen.is_here)];
            if let Some(ready) = &screen.ready {
                selectors.push((format!("{base}.ready"), ready));
            }
            for (k, f) in &screen.fields {
                selectors.push((format!("{base}.fields.{k}.css"), &f.css));
            }
            for (k, a) in &screen.actions {
                selectors.push((format!("{base}.actions.{k}"), a));
            }
            for (k, v) in &screen.values {
                selectors.push((format!("{base}.values.{k}.css"), &v.css));
            }
            for (k, t) in &screen.tables {
                selectors.push((format!("{base}.tables.{k}.rows"), &t.rows));
                for (c, v) in &t.columns {
                    if v.css != "." {
                        selectors.push((format!("{base}.tables.{k}.columns.{c}.css"), &v.css));
                    }
                }
            }
            for (key, css) in selectors {
                if let Err(e) = scraper::Selector::parse(css) {
                    return Err(error(key, format!("{css:?} is not a CSS selector: {e}")));
                }
            }
            if let Some(query) = &screen.query {
                for part in query.split('{').skip(1) {
                    let field = part.split('}').next().unwrap_or_default();
                    if !screen.fields.contains_key(field) {
                        return Err(error(
                            format!("{base}.query"),
                            format!("{{{field}}} is not a field of the screen"),
                        ));
                    }
                }
            }
        }
        // Everything the flows use is there.
        for (screen, kind, name) in CONTRACT {
            let Some(s) = map.screens.get(*screen) else {
                return Err(error(
                    format!("screens.{screen}"),
                    "missing: the flows need this screen".to_owned(),
                ));
            };
            let present = match *kind {
                "field" => s.fields.contains_key(*name),
                "action" => s.actions.contains_key(*name),
                "value" => s.values.contains_key(*name),
                "table" => s.tables.contains_key(*name),
                "url" => s.url.is_some(),
                "ready" => s.ready.is_some(),
                _ => true,
            };
            if !present {
                let key = match *kind {
                    "url" | "ready" => format!("screens.{screen}.{kind}"),
                    _ => format!("screens.{screen}.{kind}s.{name}"),
                };
                return Err(error(key, "missing: the flows need it".to_owned()));
            }
        }
        Ok(map)
    }

    /// A screen the contract guarantees.
    pub(crate) fn screen(&self, name: &str) -> &Screen {
        self.screens
            .get(name)
            .unwrap_or_else(|| panic!("screen {name} is in the contract checked at load"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox_map() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../selectors/sandbox.toml"
        ))
        .unwrap()
    }

    #[test]
    fn both_sandbox_maps_load() {
        for file in ["sandbox.toml", "sandbox-v2.toml"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../selectors")
                .join(file);
            let map = ScreenMap::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(map.bank.name, "sandbox");
        }
    }

    #[test]
    fn load_errors_name_the_file_and_the_key() {
        let base = sandbox_map();
        let cases: Vec<(String, &str, &str)> = vec![
            (
                base.replacen("[screens.sca]", "[screens.sca_page]", 1),
                "screens.sca",
                "missing",
            ),
            (
                base.replacen(
                    r##"password = { css = "#password" }"##,
                    r##"passwd = { css = "#password" }"##,
                    1,
                ),
                "screens.login.fields.password",
                "missing",
            ),
            (
                base.replacen(
                    r##"is_here = "body[data-screen=login]""##,
                    r##"is_here = "body[[data-screen=login""##,
                    1,
                ),
                "screens.login.is_here",
                "not a CSS selector",
            ),
            (
                base.replacen("[screens.login]", "[screens.login]\ncolour = \"blue\"", 1),
                "line",
                "unknown field `colour`",
            ),
            (
                base.replacen(r#"parse = "belgian_amount""#, r#"parse = "dollars""#, 1),
                "line",
                "unknown variant `dollars`",
            ),
            (
                base.replacen("&per_page={page_size}", "&per_page={rows_per_page}", 1),
                "screens.account.query",
                "{rows_per_page} is not a field",
            ),
            (
                base.replace("[screens.payments", "[screens.orders"),
                "screens.payments",
                "missing",
            ),
        ];
        for (text, key, reason) in cases {
            let error = ScreenMap::parse("selectors/broken.toml", &text).unwrap_err();
            assert_eq!(error.file, "selectors/broken.toml");
            assert!(error.key.starts_with(key), "{error}");
            assert!(error.reason.contains(reason), "{error}");
            assert!(
                error.to_string().contains("selectors/broken.toml"),
                "{error}"
            );
        }
    }
}
