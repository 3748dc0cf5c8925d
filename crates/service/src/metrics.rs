//! The service's metrics, in Prometheus text format (`prometheus-client`), and `Metered`, the `Bank`
//! wrapper that counts every call of a channel by operation and outcome and times it.
//!
//! `Metered` wraps each channel before it is handed to the `Failover`, so the failover itself stays
//! unaware of metrics: a call it makes through the API or the website is counted where it happens.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use time::Date;

use psd2_fallback_engine::bank::{Bank, BankResult, Channel, PsuContext};
use psd2_fallback_engine::health::{Mode, SwitchReason};
use psd2_fallback_engine::model::{
    Account, AccountId, Amount, AuthorisationId, Balance, Cancellation, ConsentAccess,
    ConsentCreated, ConsentId, ConsentRequest, ConsentStatus, FundsConfirmation, Iban, PaymentFile,
    PaymentInitiation, PaymentRef, PaymentRequest, PaymentStatus, ScaAnswer, ScaProgress,
    ScaStatus, ScaStep, ScaTarget, StandingOrderRequest, Transaction, TransactionFilter,
};
use psd2_fallback_engine::screen::HttpReads;

type Labels = Vec<(String, String)>;
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s: covers a loopback API and a slow website.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Every metric the service exposes. Cheap to clone: the metrics are shared.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    /// 1 for the mode a bank is in, 0 for the others.
    mode: Family<Labels, Gauge>,
    /// Switch events by bank and reason.
    switches: Family<Labels, Counter>,
    /// Bank calls by bank, channel, operation and outcome.
    requests: Family<Labels, Counter>,
    /// Bank call latency by bank, channel and operation.
    latency: HistogramFamily,
    /// Payment writes whose outcome is not known yet.
    in_doubt: Gauge,
    /// Browser sessions open, per bank: set by the screen channel.
    browser_sessions: Family<Labels, Gauge>,
    /// Website reads served over HTTP on a browser's session, per bank.
    http_reads: Family<Labels, Counter>,
    /// Website reads over HTTP that did not land on their screen and were read in the browser.
    http_read_fallbacks: Family<Labels, Counter>,
    /// When each configured certificate expires (Unix seconds). Declared always, with no series until
    /// a certificate is configured, so alert rules and dashboards can name it today.
    certificate_expiry: Family<Labels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("psd2_fallback");
        let mode = Family::<Labels, Gauge>::default();
        let switches = Family::<Labels, Counter>::default();
        let requests = Family::<Labels, Counter>::default();
        let latency = HistogramFamily::new_with_constructor(latency_histogram);
        let in_doubt = Gauge::default();
        let browser_sessions = Family::<Labels, Gauge>::default();
        let certificate_expiry = Family::<Labels, Gauge>::default();
        let http_reads = Family::<Labels, Counter>::default();
        let http_read_fallbacks = Family::<Labels, Counter>::default();
        registry.register(
            "bank_mode",
            "The mode a bank is served in (1 for the current mode: api, fallback or probing)",
            mode.clone(),
        );
        registry.register(
            "switches",
            "Switch events by bank and reason",
            switches.clone(),
        );
        registry.register(
            "bank_requests",
            "Calls to a bank by channel, operation and outcome",
            requests.clone(),
        );
        registry.register(
            "bank_request_duration_seconds",
            "Latency of calls to a bank by channel and operation",
            latency.clone(),
        );
        registry.register(
            "journal_in_doubt",
            "Payment writes in the journal whose outcome is not known yet",
            in_doubt.clone(),
        );
        registry.register(
            "browser_sessions_open",
            "Browser sessions open on the website channel, per bank",
            browser_sessions.clone(),
        );
        registry.register(
            "website_http_reads",
            "Website reads served over HTTP on a browser's session, per bank",
            http_reads.clone(),
        );
        registry.register(
            "website_http_read_fallbacks",
            "Website reads over HTTP that did not land on their screen and were read in the browser, per bank",
            http_read_fallbacks.clone(),
        );
        registry.register(
            "certificate_expiry_timestamp_seconds",
            "When a configured certificate expires, in Unix seconds, by certificate (no series without certificates)",
            certificate_expiry.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                mode,
                switches,
                requests,
                latency,
                in_doubt,
                browser_sessions,
                http_reads,
                http_read_fallbacks,
                certificate_expiry,
            }),
        }
    }

    /// Sets a bank's current mode.
    pub fn set_mode(&self, bank: &str, mode: Mode) {
        for m in [Mode::Api, Mode::Fallback, Mode::Probing] {
            self.inner
                .mode
                .get_or_create(&vec![
                    ("bank".to_owned(), bank.to_owned()),
                    ("mode".to_owned(), m.name().to_owned()),
                ])
                .set(i64::from(m == mode));
        }
    }

    /// Counts a switch event.
    pub fn count_switch(&self, bank: &str, reason: &SwitchReason) {
        let reason = match reason {
            SwitchReason::PolicyTripped(_) => "policy_tripped",
            SwitchReason::DwellElapsed => "dwell_elapsed",
            SwitchReason::Recovered(_) => "recovered",
            SwitchReason::ProbeFailed => "probe_failed",
            SwitchReason::Override(_) => "override",
        };
        self.inner
            .switches
            .get_or_create(&vec![
                ("bank".to_owned(), bank.to_owned()),
                ("reason".to_owned(), reason.to_owned()),
            ])
            .inc();
    }

    /// Counts one call to a bank and records its latency.
    pub fn count_call(
        &self,
        bank: &str,
        channel: Channel,
        operation: &str,
        outcome: &str,
        seconds: f64,
    ) {
        let base = vec![
            ("bank".to_owned(), bank.to_owned()),
            ("channel".to_owned(), channel.to_string()),
            ("operation".to_owned(), operation.to_owned()),
        ];
        self.inner.latency.get_or_create(&base).observe(seconds);
        let mut labels = base;
        labels.push(("outcome".to_owned(), outcome.to_owned()));
        self.inner.requests.get_or_create(&labels).inc();
    }

    /// How many calls to a bank were counted for a channel, operation and outcome.
    pub fn calls(&self, bank: &str, channel: Channel, operation: &str, outcome: &str) -> u64 {
        self.inner
            .requests
            .get_or_create(&vec![
                ("bank".to_owned(), bank.to_owned()),
                ("channel".to_owned(), channel.to_string()),
                ("operation".to_owned(), operation.to_owned()),
                ("outcome".to_owned(), outcome.to_owned()),
            ])
            .get()
    }

    /// Sets the number of in-doubt writes in the journal.
    pub fn set_in_doubt(&self, count: usize) {
        self.inner
            .in_doubt
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Brings a bank's HTTP-read counters up to the screen channel's own (they only grow).
    pub fn set_http_reads(&self, bank: &str, reads: HttpReads) {
        let labels = vec![("bank".to_owned(), bank.to_owned())];
        for (family, now) in [
            (&self.inner.http_reads, reads.served),
            (&self.inner.http_read_fallbacks, reads.fell_back),
        ] {
            let counter = family.get_or_create(&labels);
            let shown = counter.get();
            if now > shown {
                counter.inc_by(now - shown);
            }
        }
    }

    /// The gauge of browser sessions open for a bank, for the screen channel to keep up to date.
    pub fn browser_sessions(&self, bank: &str) -> Gauge {
        self.inner
            .browser_sessions
            .get_or_create(&vec![("bank".to_owned(), bank.to_owned())])
            .clone()
    }

    /// Records when a configured certificate (`qwac`, `qseal`, a TLS server certificate) expires.
    pub fn set_certificate_expiry(&self, certificate: &str, expires: time::OffsetDateTime) {
        self.inner
            .certificate_expiry
            .get_or_create(&vec![("certificate".to_owned(), certificate.to_owned())])
            .set(expires.unix_timestamp());
    }

    /// Everything, in the Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.inner.registry).expect("writing to a String cannot fail");
        out
    }
}

/// The outcome label of a call.
pub(crate) fn outcome<T>(result: &BankResult<T>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => error.class(),
    }
}

/// A channel that counts and times every call it serves.
#[derive(Debug)]
pub(crate) struct Metered {
    /// The channel itself.
    inner: Arc<dyn Bank>,
    /// Which channel it is, for the label.
    channel: Channel,
    /// The bank's name, for the label.
    bank: String,
    /// Where the counts go.
    metrics: Metrics,
}

impl Metered {
    pub(crate) fn new(
        inner: Arc<dyn Bank>,
        channel: Channel,
        bank: &str,
        metrics: Metrics,
    ) -> Self {
        Self {
            inner,
            channel,
            bank: bank.to_owned(),
            metrics,
        }
    }

    fn record<T>(&self, operation: &str, started: Instant, result: &BankResult<T>) {
        self.metrics.count_call(
            &self.bank,
            self.channel,
            operation,
            outcome(result),
            started.elapsed().as_secs_f64(),
        );
    }
}

macro_rules! metered {
    ($self:ident, $operation:literal, $call:expr) => {{
        let started = Instant::now();
        let result = $call.await;
        $self.record($operation, started, &result);
        result
    }};
}

#[async_trait]
impl Bank for Metered {
    async fn accounts(&self, psu: &PsuContext) -> BankResult<Vec<Account>> {
        metered!(self, "accounts", self.inner.accounts(psu))
    }

    async fn balances(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        at: Option<Date>,
    ) -> BankResult<Vec<Balance>> {
        metered!(self, "balances", self.inner.balances(psu, account, at))
    }

    async fn transactions(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        filter: &TransactionFilter,
    ) -> BankResult<Vec<Transaction>> {
        metered!(
            self,
            "transactions",
            self.inner.transactions(psu, account, filter)
        )
    }

    async fn initiate_payment(
        &self,
        psu: &PsuContext,
        request: &PaymentRequest,
    ) -> BankResult<PaymentInitiation> {
        metered!(
            self,
            "initiate_payment",
            self.inner.initiate_payment(psu, request)
        )
    }

    async fn payment_status(
        &self,
        psu: &PsuContext,
        payment: &PaymentRef,
    ) -> BankResult<PaymentStatus> {
        metered!(
            self,
            "payment_status",
            self.inner.payment_status(psu, payment)
        )
    }

    async fn cancel_payment(
        &self,
        psu: &PsuContext,
        payment: &PaymentRef,
    ) -> BankResult<Cancellation> {
        metered!(
            self,
            "cancel_payment",
            self.inner.cancel_payment(psu, payment)
        )
    }

    async fn upload_payment_file(
        &self,
        psu: &PsuContext,
        file: &PaymentFile,
    ) -> BankResult<PaymentInitiation> {
        metered!(
            self,
            "upload_payment_file",
            self.inner.upload_payment_file(psu, file)
        )
    }

    async fn create_standing_order(
        &self,
        psu: &PsuContext,
        request: &StandingOrderRequest,
    ) -> BankResult<PaymentInitiation> {
        metered!(
            self,
            "create_standing_order",
            self.inner.create_standing_order(psu, request)
        )
    }

    async fn cancel_standing_order(
        &self,
        psu: &PsuContext,
        order: &PaymentRef,
    ) -> BankResult<Cancellation> {
        metered!(
            self,
            "cancel_standing_order",
            self.inner.cancel_standing_order(psu, order)
        )
    }

    async fn confirm_funds(
        &self,
        psu: &PsuContext,
        account: &Iban,
        amount: &Amount,
    ) -> BankResult<FundsConfirmation> {
        metered!(
            self,
            "confirm_funds",
            self.inner.confirm_funds(psu, account, amount)
        )
    }

    async fn create_consent(
        &self,
        psu: &PsuContext,
        request: &ConsentRequest,
    ) -> BankResult<ConsentId> {
        metered!(
            self,
            "create_consent",
            self.inner.create_consent(psu, request)
        )
    }

    async fn create_consent_announced(
        &self,
        psu: &PsuContext,
        request: &ConsentRequest,
    ) -> BankResult<ConsentCreated> {
        metered!(
            self,
            "create_consent",
            self.inner.create_consent_announced(psu, request)
        )
    }

    async fn consent_status(
        &self,
        psu: &PsuContext,
        consent: &ConsentId,
    ) -> BankResult<ConsentStatus> {
        metered!(
            self,
            "consent_status",
            self.inner.consent_status(psu, consent)
        )
    }

    async fn consent_access(
        &self,
        psu: &PsuContext,
        consent: &ConsentId,
    ) -> BankResult<ConsentAccess> {
        metered!(
            self,
            "consent_access",
            self.inner.consent_access(psu, consent)
        )
    }

    async fn start_authorisation(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
    ) -> BankResult<ScaStep> {
        metered!(
            self,
            "start_authorisation",
            self.inner.start_authorisation(psu, target)
        )
    }

    async fn select_sca_method(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        method: &str,
    ) -> BankResult<ScaStep> {
        metered!(
            self,
            "select_sca_method",
            self.inner
                .select_sca_method(psu, target, authorisation, method)
        )
    }

    async fn authorisation_ids(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
    ) -> BankResult<Vec<AuthorisationId>> {
        metered!(
            self,
            "authorisation_ids",
            self.inner.authorisation_ids(psu, target)
        )
    }

    async fn authorisation_status(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
    ) -> BankResult<ScaProgress> {
        metered!(
            self,
            "authorisation_status",
            self.inner.authorisation_status(psu, target, authorisation)
        )
    }

    async fn authorise(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        answer: &ScaAnswer,
    ) -> BankResult<ScaStatus> {
        metered!(
            self,
            "authorise",
            self.inner.authorise(psu, target, authorisation, answer)
        )
    }

    async fn exchange_authorisation_code(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        code: &psd2_fallback_engine::model::AuthorisationCode,
        state: &str,
    ) -> BankResult<ScaStatus> {
        metered!(
            self,
            "exchange_authorisation_code",
            self.inner
                .exchange_authorisation_code(psu, target, authorisation, code, state)
        )
    }

    async fn find_payment(
        &self,
        psu: &PsuContext,
        debtor: &Iban,
        end_to_end_id: &str,
    ) -> BankResult<Option<(PaymentRef, PaymentStatus)>> {
        metered!(
            self,
            "find_payment",
            self.inner.find_payment(psu, debtor, end_to_end_id)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// r15: the screen channel's HTTP-read counters reach `/metrics` as counters that only grow, per
    /// bank.
    #[test]
    fn http_reads_and_their_fallbacks_are_counters_per_bank() {
        let metrics = Metrics::new();
        metrics.set_http_reads(
            "sandbox",
            HttpReads {
                served: 7,
                fell_back: 1,
            },
        );
        metrics.set_http_reads(
            "sandbox",
            HttpReads {
                served: 9,
                fell_back: 1,
            },
        );
        let text = metrics.encode();
        for needle in [
            "psd2_fallback_website_http_reads_total{bank=\"sandbox\"} 9",
            "psd2_fallback_website_http_read_fallbacks_total{bank=\"sandbox\"} 1",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
    }
}
