//! Forms in both layouts: each field's `name` and `id` per layout (the server reads either), submitted
//! values, submit buttons, the form element with its CSRF token, labelled inputs, selects and
//! checkboxes, and form errors that name their field.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::text::{Layout, escape};

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

#[cfg(test)]
mod tests {
    use super::{Field, FormData};

    #[test]
    fn form_values_are_read_under_either_name() {
        let mut form = FormData::default();
        form.0.insert("psu_id".into(), " 1000001 ".into());
        assert_eq!(form.get(Field::Customer), "1000001");
        assert_eq!(form.get(Field::Password), "");
    }
}
