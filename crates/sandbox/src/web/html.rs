//! HTML building blocks for both layouts of the website: escaping, the page shell, form fields, buttons,
//! record lists and detail lists.
//!
//! Every page is written once; only these helpers know how a layout spells things. Layout 1 names data by
//! `id` (one value on the page) and `class` (one value per row); layout 2 names them by `data-item` and
//! `data-field` in the camelCase of the same key, with another structure (definition lists and cards
//! instead of tables), other form field names and other button texts. So every data item has a stable,
//! specific selector in each layout, and a screen map written for one layout fails on the other.

use std::collections::HashMap;
use std::fmt::Write as _;

/// Which markup the website serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// The original design: tables, `id`s and `class`es, `data-screen` on the body.
    V1,
    /// The redesign (the `layout-v2` fault): cards and definition lists, `data-item`/`data-field`,
    /// `main#view-…`.
    V2,
}

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Percent-encodes a query value.
pub(crate) fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `booked-balance` → `bookedBalance`: how layout 2 spells a layout-1 key.
pub(crate) fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A form field, with its `name` in each layout. The server accepts either name, whatever the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Csrf,
    Return,
    Customer,
    Password,
    Response,
    BalanceDate,
    DateFrom,
    DateTo,
    Direction,
    Recurrence,
    Page,
    PageSize,
    Account,
    CreditorName,
    CreditorIban,
    Amount,
    Communication,
    ExecutionDate,
    Instant,
    Reference,
    StartDate,
    EndDate,
    Frequency,
    Day,
    Decision,
    File,
}

impl Field {
    /// The field's `name` in layout 1 and in layout 2.
    pub(crate) fn names(self) -> (&'static str, &'static str) {
        match self {
            Field::Csrf => ("csrf", "_token"),
            Field::Return => ("return", "back"),
            Field::Customer => ("customer", "psu_id"),
            Field::Password => ("password", "passcode"),
            Field::Response => ("response", "otp"),
            Field::BalanceDate => ("balance_date", "on_date"),
            Field::DateFrom => ("from", "since"),
            Field::DateTo => ("to", "until"),
            Field::Direction => ("type", "direction"),
            Field::Recurrence => ("recurrence", "kind"),
            Field::Page => ("page", "p"),
            Field::PageSize => ("per_page", "size"),
            Field::Account => ("from_account", "debtor"),
            Field::CreditorName => ("beneficiary_name", "payee"),
            Field::CreditorIban => ("beneficiary_iban", "payee_account"),
            Field::Amount => ("amount", "sum"),
            Field::Communication => ("communication", "message"),
            Field::ExecutionDate => ("execution_date", "pay_on"),
            Field::Instant => ("instant", "express"),
            Field::Reference => ("reference", "e2e_ref"),
            Field::StartDate => ("start_date", "first_payment"),
            Field::EndDate => ("end_date", "last_payment"),
            Field::Frequency => ("frequency", "interval"),
            Field::Day => ("day_of_execution", "pay_day"),
            Field::Decision => ("decision", "choice"),
            Field::File => ("file", "document"),
        }
    }

    /// The field's `name` in a layout.
    pub(crate) fn name(self, layout: Layout) -> &'static str {
        match layout {
            Layout::V1 => self.names().0,
            Layout::V2 => self.names().1,
        }
    }

    /// The input's `id` in a layout: the name in layout 1, `in-<name>` in layout 2.
    pub(crate) fn id(self, layout: Layout) -> String {
        match layout {
            Layout::V1 => self.names().0.to_owned(),
            Layout::V2 => format!("in-{}", self.names().1),
        }
    }
}

/// Submitted form or query values, read by [`Field`] under either layout's name.
#[derive(Debug, Clone, Default)]
pub(crate) struct FormData(pub(crate) HashMap<String, String>);

impl FormData {
    /// The value of a field, trimmed; empty when absent.
    pub(crate) fn get(&self, field: Field) -> &str {
        let (v1, v2) = field.names();
        self.0
            .get(v1)
            .or_else(|| self.0.get(v2))
            .map(|v| v.trim())
            .unwrap_or("")
    }

    /// Whether a checkbox was ticked.
    pub(crate) fn checked(&self, field: Field) -> bool {
        !self.get(field).is_empty()
    }
}

/// A submit button, with its selector and text in each layout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Button {
    /// Layout 1: the button's `id` (or `class` when it repeats on a page).
    pub(crate) v1: &'static str,
    /// Layout 1's text.
    pub(crate) v1_text: &'static str,
    /// Layout 2: the button's `data-action`.
    pub(crate) v2: &'static str,
    /// Layout 2's text.
    pub(crate) v2_text: &'static str,
}

/// Renders a submit button; `repeated` buttons (one per row) carry a class instead of an id in layout 1.
/// `value` makes the button submit [`Field::Decision`].
pub(crate) fn button(layout: Layout, b: &Button, repeated: bool, value: Option<&str>) -> String {
    let decision = value
        .map(|v| {
            format!(
                r#" name="{}" value="{}""#,
                Field::Decision.name(layout),
                escape(v)
            )
        })
        .unwrap_or_default();
    match layout {
        Layout::V1 => {
            let attr = if repeated { "class" } else { "id" };
            format!(
                r#"<button type="submit" {attr}="{}"{decision}>{}</button>"#,
                b.v1,
                escape(b.v1_text)
            )
        }
        Layout::V2 => format!(
            r#"<button type="submit" class="btn" data-action="{}"{decision}>{}</button>"#,
            b.v2,
            escape(b.v2_text)
        ),
    }
}

/// A form (with the CSRF token when `csrf` is given). `id` is `(layout 1 id, layout 2 id)`.
pub(crate) fn form(
    layout: Layout,
    id: (&str, &str),
    action: &str,
    csrf: Option<&str>,
    inner: &str,
) -> String {
    let id = match layout {
        Layout::V1 => id.0,
        Layout::V2 => id.1,
    };
    let token = csrf
        .map(|t| hidden(layout, Field::Csrf, t))
        .unwrap_or_default();
    format!(
        r#"<form id="{id}" method="post" action="{}">{token}{inner}</form>"#,
        escape(action)
    )
}

/// A hidden input.
pub(crate) fn hidden(layout: Layout, field: Field, value: &str) -> String {
    format!(
        r#"<input type="hidden" name="{}" value="{}">"#,
        field.name(layout),
        escape(value)
    )
}

/// A labelled input of a `kind` (`text`, `password`, `date`…) with a value kept from a previous try.
pub(crate) fn input(
    layout: Layout,
    field: Field,
    label: &str,
    kind: &str,
    value: &str,
    extra: &str,
) -> String {
    let control = format!(
        r#"<input type="{kind}" id="{id}" name="{name}" value="{value}" {extra}>"#,
        id = field.id(layout),
        name = field.name(layout),
        value = escape(value),
    );
    wrap_field(layout, field, label, &control)
}

/// A labelled select; `options` are `(value, text)`.
pub(crate) fn select(
    layout: Layout,
    field: Field,
    label: &str,
    options: &[(String, String)],
    selected: &str,
) -> String {
    let mut control = format!(
        r#"<select id="{}" name="{}">"#,
        field.id(layout),
        field.name(layout)
    );
    for (value, text) in options {
        let sel = if value == selected { " selected" } else { "" };
        let _ = write!(
            control,
            r#"<option value="{}"{sel}>{}</option>"#,
            escape(value),
            escape(text)
        );
    }
    control.push_str("</select>");
    wrap_field(layout, field, label, &control)
}

/// A labelled checkbox.
pub(crate) fn checkbox(layout: Layout, field: Field, label: &str, checked: bool) -> String {
    let checked = if checked { " checked" } else { "" };
    let control = format!(
        r#"<input type="checkbox" id="{}" name="{}" value="on"{checked}>"#,
        field.id(layout),
        field.name(layout)
    );
    wrap_field(layout, field, label, &control)
}

fn wrap_field(layout: Layout, field: Field, label: &str, control: &str) -> String {
    match layout {
        Layout::V1 => format!(
            r#"<div class="field"><label for="{}">{}</label>{control}</div>"#,
            field.id(layout),
            escape(label)
        ),
        Layout::V2 => format!(
            r#"<p class="frow"><label class="lbl" for="{}">{}</label>{control}</p>"#,
            field.id(layout),
            escape(label)
        ),
    }
}

/// One value on a page: layout 1 `<strong id="key">`, layout 2 `<span data-item="camelKey">`. `html` is
/// already escaped.
pub(crate) fn value(layout: Layout, key: &str, html: &str) -> String {
    match layout {
        Layout::V1 => format!(r#"<strong id="{key}">{html}</strong>"#),
        Layout::V2 => format!(
            r#"<span class="val" data-item="{}">{html}</span>"#,
            camel(key)
        ),
    }
}

/// An error message: layout 1 `p#error`, layout 2 `[data-item=error]`.
pub(crate) fn error(layout: Layout, text: &str) -> String {
    match layout {
        Layout::V1 => format!(
            r#"<p id="error" class="msg msg-error">{}</p>"#,
            escape(text)
        ),
        Layout::V2 => format!(
            r#"<div class="alert alert-danger" role="alert" data-item="error">{}</div>"#,
            escape(text)
        ),
    }
}

/// An information message: layout 1 `p#notice`, layout 2 `[data-item=notice]`.
pub(crate) fn notice(layout: Layout, text: &str) -> String {
    match layout {
        Layout::V1 => format!(
            r#"<p id="notice" class="msg msg-info">{}</p>"#,
            escape(text)
        ),
        Layout::V2 => format!(
            r#"<div class="alert alert-info" role="status" data-item="notice">{}</div>"#,
            escape(text)
        ),
    }
}

/// Form errors, each naming its field: layout 1 `ul#errors > li[data-field=<v1 name>]`, layout 2
/// `[data-item=errors] > p[data-error-for=<v2 name>]`.
pub(crate) fn field_errors(layout: Layout, errors: &[(Field, String)]) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    match layout {
        Layout::V1 => {
            out.push_str(r#"<ul id="errors" class="msg msg-error">"#);
            for (field, text) in errors {
                let _ = write!(
                    out,
                    r#"<li data-field="{}">{}</li>"#,
                    field.name(layout),
                    escape(text)
                );
            }
            out.push_str("</ul>");
        }
        Layout::V2 => {
            out.push_str(r#"<div class="alert alert-danger" role="alert" data-item="errors">"#);
            for (field, text) in errors {
                let _ = write!(
                    out,
                    r#"<p data-error-for="{}">{}</p>"#,
                    field.name(layout),
                    escape(text)
                );
            }
            out.push_str("</div>");
        }
    }
    out
}

/// A key/value list of single values: layout 1 a table whose cells are `td#key`, layout 2 a definition
/// list whose values are `dd[data-item=camelKey]`. Values are already-escaped HTML.
pub(crate) fn details(layout: Layout, id: (&str, &str), items: &[(&str, &str, String)]) -> String {
    let mut out = String::new();
    match layout {
        Layout::V1 => {
            let _ = write!(out, r#"<table id="{}" class="details">"#, id.0);
            for (key, label, html) in items {
                let _ = write!(
                    out,
                    r#"<tr><th>{}</th><td id="{key}">{html}</td></tr>"#,
                    escape(label)
                );
            }
            out.push_str("</table>");
        }
        Layout::V2 => {
            let _ = write!(out, r#"<dl id="{}" class="summary">"#, id.1);
            for (key, label, html) in items {
                let _ = write!(
                    out,
                    r#"<div class="pair"><dt>{}</dt><dd data-item="{}">{html}</dd></div>"#,
                    escape(label),
                    camel(key)
                );
            }
            out.push_str("</dl>");
        }
    }
    out
}

/// A column of a record list: its key and its header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Col {
    pub(crate) key: &'static str,
    pub(crate) label: &'static str,
}

/// One record of a list: attributes for the row (already escaped, e.g. `data-id="…"`) and its cells'
/// HTML in column order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Row {
    pub(crate) attrs: String,
    pub(crate) cells: Vec<String>,
}

/// A list of records: layout 1 `table#<list> > tbody > tr.<row> > td.<key>`, layout 2
/// `div#<list> > article.card.<row> dd[data-field=camelKey]`.
pub(crate) fn records(
    layout: Layout,
    list: (&str, &str),
    row: (&str, &str),
    cols: &[Col],
    rows: &[Row],
) -> String {
    let mut out = String::new();
    match layout {
        Layout::V1 => {
            let _ = write!(out, r#"<table id="{}" class="grid"><thead><tr>"#, list.0);
            for col in cols {
                let _ = write!(out, "<th>{}</th>", escape(col.label));
            }
            out.push_str("</tr></thead><tbody>");
            for r in rows {
                let _ = write!(out, r#"<tr class="{}" {}>"#, row.0, r.attrs);
                for (col, cell) in cols.iter().zip(&r.cells) {
                    let _ = write!(out, r#"<td class="{}">{cell}</td>"#, col.key);
                }
                out.push_str("</tr>");
            }
            if rows.is_empty() {
                let _ = write!(
                    out,
                    r#"<tr class="empty"><td colspan="{}">Nothing to show.</td></tr>"#,
                    cols.len()
                );
            }
            out.push_str("</tbody></table>");
        }
        Layout::V2 => {
            let _ = write!(out, r#"<div id="{}" class="cards">"#, list.1);
            for r in rows {
                let _ = write!(out, r#"<article class="card {}" {}><dl>"#, row.1, r.attrs);
                for (col, cell) in cols.iter().zip(&r.cells) {
                    let _ = write!(
                        out,
                        r#"<dt>{}</dt><dd data-field="{}">{cell}</dd>"#,
                        escape(col.label),
                        camel(col.key)
                    );
                }
                out.push_str("</dl></article>");
            }
            if rows.is_empty() {
                out.push_str(r#"<p class="empty">Nothing to show.</p>"#);
            }
            out.push_str("</div>");
        }
    }
    out
}

/// A link: layout 1 with an `id` or `class`, layout 2 with `data-link`.
pub(crate) fn link(layout: Layout, href: &str, v1: &str, v2: &str, text: &str) -> String {
    match layout {
        Layout::V1 => format!(
            r#"<a href="{}" id="{v1}">{}</a>"#,
            escape(href),
            escape(text)
        ),
        Layout::V2 => format!(
            r#"<a href="{}" class="lnk" data-link="{v2}">{}</a>"#,
            escape(href),
            escape(text)
        ),
    }
}

/// What the page shell needs to know about the visitor.
#[derive(Debug, Clone)]
pub(crate) struct Chrome {
    pub(crate) layout: Layout,
    /// The logged-in customer's name, for the header and the menu; `None` before login.
    pub(crate) customer: Option<String>,
    /// The session's CSRF token, for the cookie banner's form.
    pub(crate) csrf: Option<String>,
    /// Whether the cookie banner is shown (no `cookies=accepted` cookie yet).
    pub(crate) banner: bool,
    /// The path of the page, where the banner's form comes back to.
    pub(crate) path: String,
}

const MENU: [(&str, &str, &str, &str); 6] = [
    ("accounts", "/accounts", "Accounts", "My accounts"),
    (
        "new-payment",
        "/payments/new",
        "New payment",
        "Transfer money",
    ),
    ("payments", "/payments", "Payments", "Payment overview"),
    (
        "standing-orders",
        "/standing-orders",
        "Standing orders",
        "Recurring transfers",
    ),
    ("files", "/files", "Payment files", "Batch upload"),
    ("logout", "/logout", "Log out", "Sign out"),
];

/// The whole page: head with styles, header and menu, the screen marker, the cookie banner.
///
/// The screen marker is `body[data-screen=<screen>]` in layout 1 and `main#view-<screen>` in layout 2.
pub(crate) fn page(chrome: &Chrome, screen: &str, title: &str, body: &str) -> String {
    let layout = chrome.layout;
    let mut out = String::with_capacity(body.len() + 8192);
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{} · Sandbox Bank</title><style>{CSS}</style></head>"#,
        escape(title)
    );
    match layout {
        Layout::V1 => {
            let _ = write!(
                out,
                r#"<body data-screen="{screen}" class="v1"><header class="topbar"><span class="brand">Sandbox Bank</span>"#
            );
            if let Some(name) = &chrome.customer {
                let _ = write!(
                    out,
                    r#"<span id="customer-name" class="who">{}</span></header><nav id="menu">"#,
                    escape(name)
                );
                for (key, href, text, _) in MENU {
                    let _ = write!(out, r#"<a id="nav-{key}" href="{href}">{text}</a>"#);
                }
                out.push_str("</nav>");
            } else {
                out.push_str("</header>");
            }
            let _ = write!(
                out,
                r#"<main class="content"><h1>{}</h1>{body}</main>"#,
                escape(title)
            );
        }
        Layout::V2 => {
            out.push_str(r#"<body class="v2"><div class="shell"><div class="masthead"><b class="logo">SANDBOX<span>bank</span></b>"#);
            if let Some(name) = &chrome.customer {
                let _ = write!(
                    out,
                    r#"<span class="user" data-item="customerName">{}</span></div><aside class="sidebar"><ul class="nav-list">"#,
                    escape(name)
                );
                for (key, href, _, text) in MENU {
                    let _ = write!(
                        out,
                        r#"<li><a data-nav="{key}" href="{href}">{text}</a></li>"#
                    );
                }
                out.push_str("</ul></aside>");
            } else {
                out.push_str("</div>");
            }
            let _ = write!(
                out,
                r#"<main id="view-{screen}" class="panel"><h2 class="title">{}</h2>{body}</main></div>"#,
                escape(title)
            );
        }
    }
    if chrome.banner {
        out.push_str(&banner(chrome));
    }
    out.push_str("</body></html>");
    out
}

/// The cookie banner: an overlay covering the page until accepted, by a script setting the cookie or,
/// without script, by posting its form.
fn banner(chrome: &Chrome) -> String {
    let layout = chrome.layout;
    let accept = Button {
        v1: "cookie-accept",
        v1_text: "Accept",
        v2: "accept-cookies",
        v2_text: "Accept all cookies",
    };
    let inner = format!(
        "{}{}",
        hidden(layout, Field::Return, &chrome.path),
        button(layout, &accept, false, None)
    );
    let form = form(
        layout,
        ("cookie-form", "consent-form"),
        "/cookies",
        chrome.csrf.as_deref(),
        &inner,
    );
    let (open, text, button_sel, overlay_sel) = match layout {
        Layout::V1 => (
            r#"<div id="cookie-banner" class="overlay"><div class="overlay-box">"#,
            "<p>Sandbox Bank uses cookies to keep you logged in and to remember this choice.</p>",
            "#cookie-accept",
            "#cookie-banner",
        ),
        Layout::V2 => (
            r#"<div class="consent-overlay overlay" role="dialog" data-item="cookieConsent"><div class="overlay-box">"#,
            "<h3>Your privacy</h3><p>We use functional cookies only. Please accept them to continue.</p>",
            r#"[data-action="accept-cookies"]"#,
            r#"[data-item="cookieConsent"]"#,
        ),
    };
    format!(
        r#"{open}{text}{form}</div></div><script>(function(){{var b=document.querySelector('{button_sel}');b.addEventListener('click',function(e){{e.preventDefault();document.cookie='cookies=accepted; path=/; max-age=31536000; SameSite=Lax';var o=document.querySelector('{overlay_sel}');o.hidden=true;o.remove();}});}})();</script>"#
    )
}

const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2733;background:#f4f6f8;font-size:15px}
a{color:#0b5cad}
.topbar{display:flex;justify-content:space-between;align-items:center;background:#0b3d6e;color:#fff;padding:12px 24px}
.brand{font-weight:700;font-size:20px;letter-spacing:.5px}
.who{opacity:.9}
#menu{display:flex;gap:4px;background:#12528f;padding:0 16px}
#menu a{color:#fff;text-decoration:none;padding:10px 14px;display:inline-block}
#menu a:hover{background:#0b3d6e}
.content{max-width:1100px;margin:24px auto;background:#fff;padding:24px 32px;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.1)}
h1{margin-top:0;font-size:24px}
table{border-collapse:collapse;width:100%;margin:12px 0}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid #e3e7eb;vertical-align:top}
thead th{background:#eef2f6;font-weight:600}
table.details{width:auto;min-width:420px}
table.details th{background:none;color:#52606d;font-weight:500;padding-right:24px}
td.balance,td.available,td.amount,td.tx-amount,.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.neg{color:#b3261e}
.field{margin:10px 0;display:flex;align-items:center;gap:12px}
.field label{width:220px;color:#3e4c59}
input[type=text],input[type=password],input[type=number],input[type=file],select{padding:7px 9px;border:1px solid #9aa5b1;border-radius:4px;min-width:260px;font-size:15px}
button,.btn{background:#0b5cad;color:#fff;border:0;border-radius:4px;padding:8px 16px;font-size:15px;cursor:pointer;margin:6px 6px 6px 0}
button:hover{background:#084a8c}
button[value=cancel],button.cancel-payment,button[value=discard]{background:#6b7785}
.msg{padding:10px 14px;border-radius:4px}
.msg-error{background:#fdecea;color:#8a1c13;border:1px solid #f5c2bd}
.msg-info{background:#e8f1fb;color:#0b3d6e;border:1px solid #bcd6f2}
ul.msg{list-style:none}
.challenge{font-size:28px;letter-spacing:4px;font-family:monospace}
.pager{display:flex;gap:16px;align-items:center;margin:12px 0}
.filters{display:flex;flex-wrap:wrap;gap:4px 20px;background:#f7f9fb;padding:8px 14px;border-radius:4px}
.filters .field label{width:auto}
.filters input[type=text],.filters select{min-width:140px}
.overlay{position:fixed;inset:0;background:rgba(10,20,30,.55);display:flex;align-items:center;justify-content:center;z-index:1000}
.overlay-box{background:#fff;padding:24px 32px;border-radius:8px;max-width:480px;box-shadow:0 8px 24px rgba(0,0,0,.3)}
.overlay[hidden]{display:none}
body.v2{background:#fbf7f2;font-family:Georgia,"Times New Roman",serif}
.v2 .shell{display:grid;grid-template-columns:220px 1fr;grid-template-rows:auto 1fr;min-height:100vh}
.v2 .masthead{grid-column:1/3;display:flex;justify-content:space-between;align-items:center;padding:14px 28px;background:#2d1e3e;color:#f3e9ff}
.v2 .logo{font-size:22px;letter-spacing:3px}.v2 .logo span{color:#e0a85b;margin-left:4px}
.v2 .sidebar{background:#3d2b52;padding:18px 0}
.v2 .nav-list{list-style:none;margin:0;padding:0}
.v2 .nav-list a{display:block;color:#f3e9ff;padding:10px 24px;text-decoration:none}
.v2 .nav-list a:hover{background:#2d1e3e}
.v2 .panel{padding:24px 36px;grid-column:2}
.v2 .title{margin-top:0;color:#2d1e3e}
.v2 .cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:14px}
.v2 .card{background:#fff;border:1px solid #e4d9ee;border-radius:10px;padding:12px 16px}
.v2 dl{margin:0}.v2 dt{font-size:12px;text-transform:uppercase;color:#7a6a8a;margin-top:6px}.v2 dd{margin:0 0 4px 0}
.v2 .summary .pair{display:flex;gap:18px;border-bottom:1px dotted #d9cce6;padding:6px 0}.v2 .summary dt{width:200px}
.v2 .frow{display:flex;gap:12px;align-items:center}.v2 .lbl{width:200px}
.v2 .btn{background:#7b3fa0;border-radius:18px}
.v2 .alert{padding:10px 14px;border-radius:8px;margin:10px 0}.v2 .alert-danger{background:#fde8ec;color:#7d1028}.v2 .alert-info{background:#efe6fa;color:#2d1e3e}
.v2 .movements{list-style:none;padding:0}.v2 .movement{display:grid;grid-template-columns:100px 1.4fr 1.4fr 2fr 130px 110px 80px;gap:8px;padding:7px 4px;border-bottom:1px solid #eadff3}
.v2 .movement [data-field=amount]{text-align:right;font-variant-numeric:tabular-nums}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn layout_two_spells_keys_in_camel_case() {
        assert_eq!(camel("booked-balance"), "bookedBalance");
        assert_eq!(camel("status"), "status");
        assert_eq!(url_encode("23/11/2026"), "23%2F11%2F2026");
    }

    #[test]
    fn form_values_are_read_under_either_name() {
        let mut form = FormData::default();
        form.0.insert("psu_id".into(), " 1000001 ".into());
        assert_eq!(form.get(Field::Customer), "1000001");
        assert_eq!(form.get(Field::Password), "");
    }
}
