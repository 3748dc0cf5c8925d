//! The account page's history in each layout: the empty container, the JSON island with the page's
//! rows, the script that renders them and then sets the marker attribute, and the pager.

use super::html::{Layout, escape};

/// How each layout names the history's parts.
pub(crate) struct HistoryKeys {
    island: &'static str,
    container: &'static str,
    row_tag: &'static str,
    row_class: &'static str,
    row_id_attr: &'static str,
    cell_tag: &'static str,
    cell_attr: &'static str,
    /// The key of each cell of a row, in column order; the page's JSON rows use the same keys.
    pub(crate) cells: [&'static str; 12],
    marker: &'static str,
    marker_attr: &'static str,
    marker_value: &'static str,
}

/// The names of the history's parts in a layout.
pub(crate) fn history_keys(layout: Layout) -> HistoryKeys {
    match layout {
        Layout::V1 => HistoryKeys {
            island: "history-data",
            container: "history-body",
            row_tag: "tr",
            row_class: "tx-row",
            row_id_attr: "data-tx-id",
            cell_tag: "td",
            cell_attr: "class",
            cells: [
                "tx-date",
                "tx-name",
                "tx-iban",
                "tx-communication",
                "tx-amount",
                "tx-recurring",
                "tx-status",
                "tx-booking-date",
                "tx-value-date",
                "tx-code",
                "tx-e2e",
                "tx-order",
            ],
            marker: "history",
            marker_attr: "data-rendered",
            marker_value: "true",
        },
        Layout::V2 => HistoryKeys {
            island: "movements-json",
            container: "movements",
            row_tag: "li",
            row_class: "movement",
            row_id_attr: "data-movement",
            cell_tag: "span",
            cell_attr: "data-field",
            cells: [
                "bookingDate",
                "counterparty",
                "counterpartyAccount",
                "message",
                "amount",
                "standingOrder",
                "state",
                "bookedOn",
                "valueDate",
                "transactionCode",
                "endToEndId",
                "orderReference",
            ],
            marker: "movements",
            marker_attr: "data-ready",
            marker_value: "yes",
        },
    }
}

/// The history's empty container, its JSON island and the script that fills the container and then sets
/// the marker attribute.
pub(crate) fn history_table(
    layout: Layout,
    keys: &HistoryKeys,
    island: &serde_json::Value,
) -> String {
    let data = island
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    let container = match layout {
        Layout::V1 => format!(
            r#"<table id="{}" class="grid" {}="false"><thead><tr><th>Date</th><th>Counterparty</th><th>Counterparty IBAN</th><th>Communication</th><th class="num">Amount</th><th>Recurring</th><th>Status</th><th>Booked on</th><th>Value date</th><th>Code</th><th>End-to-end id</th><th>Standing order</th></tr></thead><tbody id="{}"></tbody></table>"#,
            keys.marker, keys.marker_attr, keys.container
        ),
        Layout::V2 => format!(
            r#"<ul id="{}" class="movements" {}="no"></ul>"#,
            keys.container, keys.marker_attr
        ),
    };
    let cells = keys
        .cells
        .iter()
        .map(|c| format!("'{c}'"))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        r#"{container}<script type="application/json" id="{island}">{data}</script><script>
window.addEventListener('DOMContentLoaded',function(){{
  var d=JSON.parse(document.getElementById('{island}').textContent);
  var box=document.getElementById('{container_id}');
  var keys=[{cells}];
  d.rows.forEach(function(r){{
    var row=document.createElement('{row_tag}');
    row.className='{row_class}';
    row.setAttribute('{row_id_attr}',r.id);
    keys.forEach(function(k){{
      var cell=document.createElement('{cell_tag}');
      cell.setAttribute('{cell_attr}',k);
      cell.textContent=r[k];
      if(k==='{amount_key}'&&r.negative){{cell.classList.add('neg');}}
      row.appendChild(cell);
    }});
    box.appendChild(row);
  }});
  var m=document.getElementById('{marker}');
  m.setAttribute('data-rows',String(d.rows.length));
  m.setAttribute('{marker_attr}','{marker_value}');
}});
</script>"#,
        island = keys.island,
        container_id = keys.container,
        row_tag = keys.row_tag,
        row_class = keys.row_class,
        row_id_attr = keys.row_id_attr,
        cell_tag = keys.cell_tag,
        cell_attr = keys.cell_attr,
        amount_key = keys.cells[4],
        marker = keys.marker,
        marker_attr = keys.marker_attr,
        marker_value = keys.marker_value,
    )
}

/// "Page N of M" with previous/next links.
pub(crate) fn pager(
    layout: Layout,
    page: usize,
    pages: usize,
    link: &dyn Fn(usize) -> String,
) -> String {
    let prev = (page > 1).then(|| link(page - 1));
    let next = (page < pages).then(|| link(page + 1));
    match layout {
        Layout::V1 => {
            let prev = prev
                .map(|h| format!(r#"<a id="page-prev" href="{}">Previous</a>"#, escape(&h)))
                .unwrap_or_default();
            let next = next
                .map(|h| format!(r#"<a id="page-next" href="{}">Next</a>"#, escape(&h)))
                .unwrap_or_default();
            format!(
                r#"<div class="pager">{prev}<span id="page-info" data-page="{page}" data-pages="{pages}">Page {page} of {pages}</span>{next}</div>"#
            )
        }
        Layout::V2 => {
            let prev = prev
                .map(|h| format!(r#"<a rel="prev" href="{}">‹ Newer</a>"#, escape(&h)))
                .unwrap_or_default();
            let next = next
                .map(|h| format!(r#"<a rel="next" href="{}">Older ›</a>"#, escape(&h)))
                .unwrap_or_default();
            format!(
                r#"<nav class="pager pagination">{prev}<span data-item="pageOf" data-page="{page}" data-pages="{pages}">{page} / {pages}</span>{next}</nav>"#
            )
        }
    }
}
