//! HTML building blocks for both layouts of the website: escaping, the page shell, form fields, buttons,
//! record lists and detail lists.
//!
//! Every page is written once; only these helpers know how a layout spells things. Layout 1 names data by
//! `id` (one value on the page) and `class` (one value per row); layout 2 names them by `data-item` and
//! `data-field` in the camelCase of the same key, with another structure (definition lists and cards
//! instead of tables), other form field names and other button texts. So every data item has a stable,
//! specific selector in each layout, and a screen map written for one layout fails on the other.
//!
//! - `text`: the layouts, escaping and URL encoding, and how layout 2 spells a key.
//! - `forms`: form fields and their names in each layout, submitted values, buttons, inputs, form
//!   errors.
//! - `blocks`: single values, messages, detail lists, record lists and links.
//! - `shell`: the page around a screen: header, menu, screen marker, cookie banner, styles.
//!
//! This file only re-exports; the screens import `html::…` and nothing here imports it.

mod blocks;
mod forms;
mod shell;
mod text;

pub(crate) use blocks::{Col, Row, details, error, link, notice, records, value};
pub(crate) use forms::{
    Button, Field, FormData, button, checkbox, field_errors, form, hidden, input, select,
};
pub(crate) use shell::{Chrome, page};
pub(crate) use text::{Layout, escape, url_encode};
