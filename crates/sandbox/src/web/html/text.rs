//! The two layouts, and the text helpers both use: escaping for HTML, percent-encoding for queries, and
//! the camelCase in which layout 2 spells a layout-1 key.

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

#[cfg(test)]
mod tests {
    use super::{camel, escape, url_encode};

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
}
