//! The sandbox bank's second website in a real headless Chromium: the cookie wall takes every click
//! until the visitor chooses, logging in takes three pages, and the history is drawn by the page's
//! script from its JSON call, 25 items at a time, until "Meer laden" is gone.

use fantoccini::Locator;
use psd2_fallback_engine::model::belgian::format_number;
use psd2_fallback_engine::model::{AccountId, TransactionFilter};
use psd2_fallback_sandbox::card_reader_response;

use crate::support::browser::Browser;
use crate::support::sandbox;

const ANNA: &str = "1000001";

#[tokio::test]
async fn the_cookie_wall_takes_clicks_and_the_history_loads_batch_by_batch() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let sandbox = sandbox().await;
    browser
        .goto(&format!("{}/inloggen", sandbox.web2_url()))
        .await;
    browser.wait_for("body.scherm-inloggen #cookiemuur").await;
    browser.fill("#klantnummer", ANNA).await;
    let covered = browser
        .client
        .find(Locator::Css("#volgende"))
        .await
        .unwrap()
        .click()
        .await
        .expect_err("the wall takes the click");
    assert!(covered.to_string().contains("intercepted"), "{covered}");
    assert!(browser.has("body.scherm-inloggen").await, "still step 1");
    browser
        .click(r#"#cookiemuur button[data-keuze="alles"]"#)
        .await;
    assert!(!browser.has("#cookiemuur").await, "the wall is gone");

    browser.click("#volgende").await;
    browser.wait_for("body.scherm-wachtwoord").await;
    assert_eq!(browser.text("#gekozen-klant").await, ANNA);
    browser.fill("#wachtwoord", "anna-sandbox").await;
    browser.click("#inloggen").await;
    browser.wait_for("body.scherm-kaartlezer").await;
    let challenge = browser.text("#uitdaging").await;
    browser
        .fill("#respons", &card_reader_response(ANNA, &challenge))
        .await;
    browser.click("#bevestigen").await;
    browser.wait_for("body.scherm-overzicht").await;
    let cards = browser
        .client
        .find_all(Locator::Css("li.rekeningkaart"))
        .await
        .unwrap();
    assert_eq!(cards.len(), sandbox.ledger().accounts(ANNA).len());
    assert!(
        !browser.source().await.contains("cookiemuur"),
        "the choice holds on the next pages"
    );

    let expected = sandbox
        .ledger()
        .transactions(
            ANNA,
            &AccountId::new("acc-01"),
            &TransactionFilter::default(),
        )
        .unwrap();
    browser
        .click(r#"li[data-rekening="acc-01"] a.naar-mutaties"#)
        .await;
    browser
        .wait_for(r#"#mutaties[data-status="klaar"][data-getoond="25"]"#)
        .await;
    let mut shown = 25;
    while shown < expected.len() {
        browser.click("#meer-laden").await;
        shown = (shown + 25).min(expected.len());
        browser
            .wait_for(&format!(
                r#"#mutaties[data-status="klaar"][data-getoond="{shown}"]"#
            ))
            .await;
    }
    browser.wait_for("#meer-laden[hidden]").await;
    let page = browser.source().await;
    assert_eq!(
        page.matches(r#"<li class="mutatie""#).count(),
        expected.len()
    );
    let recurring = expected.iter().filter(|t| t.is_recurring()).count();
    assert!(recurring > 0);
    assert_eq!(
        page.matches(r#"<span class="etiket periodiek">Periodiek</span>"#)
            .count(),
        recurring,
        "recurring items carry the badge, the others nothing"
    );
    let debit = expected
        .iter()
        .find(|t| t.amount.is_negative())
        .expect("a debit");
    let item = browser
        .text(&format!(
            r#"li.mutatie[data-id="{}"] .bedrag"#,
            debit.id.as_str()
        ))
        .await;
    assert_eq!(
        item,
        format!("{}-", format_number(debit.amount.value().abs())),
        "the minus after the amount"
    );
    let day = browser
        .text(&format!(
            r#"li.mutatie[data-id="{}"] time.datum"#,
            debit.id.as_str()
        ))
        .await;
    let months = [
        "jan.", "feb.", "mrt.", "apr.", "mei", "jun.", "jul.", "aug.", "sep.", "okt.", "nov.",
        "dec.",
    ];
    let date = debit.date();
    assert_eq!(
        day,
        format!(
            "{} {} {}",
            date.day(),
            months[usize::from(u8::from(date.month())) - 1],
            date.year()
        )
    );
    browser.close().await;
    sandbox.shutdown().await;
}
