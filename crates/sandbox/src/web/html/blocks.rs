//! What a screen shows, in both layouts: a single value, error and information messages, detail lists
//! of single values, record lists (tables in layout 1, cards in layout 2), and links. Each data item has
//! a stable, specific selector in each layout.

use std::fmt::Write as _;

use super::text::{Layout, camel, escape};

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
