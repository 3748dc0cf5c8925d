//! The owner records of replicas that share a PostgreSQL journal: the same [`OwnerStore`], in the
//! journal's database (tables of the service's own, migrated by their own versions), reached through
//! the journal's pool. One owner per consent and per payment is the primary key of `owners`: of two
//! replicas recording one resource at once, the first insert wins and the second changes nothing.

use std::sync::Arc;

use psd2_fallback_engine::journal::{JournalError, PostgresJournal};
use psd2_fallback_engine::model::belgian::parse_iso_date;
use psd2_fallback_engine::model::{ConsentRequest, PaymentKind, PaymentRef};
use time::Date;

use crate::owners::{
    OwnerStore, OwnerStoreError, OwnerStoreResult, ResourceOwner, consent_request_of, iban_list,
    kind_from_row, kind_to_row,
};

/// The service's tables in the journal's database, by version.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "
CREATE TABLE owners (
    bank TEXT NOT NULL,
    resource TEXT NOT NULL CHECK (resource IN ('consent', 'payment')),
    id TEXT NOT NULL,
    payment_kind TEXT,
    caller TEXT NOT NULL,
    psu TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (bank, resource, id),
    CHECK ((resource = 'payment') = (payment_kind IS NOT NULL))
);
CREATE TABLE consent_requests (
    bank TEXT NOT NULL,
    id TEXT NOT NULL,
    accounts TEXT NOT NULL,
    balances TEXT NOT NULL,
    transactions TEXT NOT NULL,
    recurring BOOLEAN NOT NULL,
    valid_until TEXT NOT NULL,
    frequency_per_day INTEGER NOT NULL,
    PRIMARY KEY (bank, id)
);
",
)];

/// Who made which consent and payment, in the PostgreSQL database the replicas share.
#[derive(Debug)]
pub struct PostgresOwnerStore {
    journal: Arc<PostgresJournal>,
}

fn store_error(error: JournalError) -> OwnerStoreError {
    OwnerStoreError::new(error.to_string())
}

impl PostgresOwnerStore {
    /// The owner store in `journal`'s database, its tables migrated.
    pub fn beside(journal: Arc<PostgresJournal>) -> OwnerStoreResult<Self> {
        journal
            .migrate("service_migrations", MIGRATIONS)
            .map_err(store_error)?;
        Ok(Self { journal })
    }

    fn owner_of(
        &self,
        bank: &str,
        resource: &'static str,
        id: &str,
    ) -> OwnerStoreResult<Option<(Option<String>, ResourceOwner)>> {
        let (bank, id) = (bank.to_owned(), id.to_owned());
        self.journal
            .run(move |client| async move {
                let row = client
                    .query_opt(
                        "SELECT payment_kind, caller, psu FROM owners
                         WHERE bank = $1 AND resource = $2 AND id = $3",
                        &[&bank, &resource, &id],
                    )
                    .await?;
                row.map(|r| {
                    Ok((
                        r.try_get(0)?,
                        ResourceOwner {
                            caller: r.try_get(1)?,
                            psu: r.try_get(2)?,
                        },
                    ))
                })
                .transpose()
            })
            .map_err(store_error)
    }
}

impl OwnerStore for PostgresOwnerStore {
    fn record_consent_owner(
        &self,
        bank: &str,
        consent: &str,
        owner: &ResourceOwner,
        request: &ConsentRequest,
    ) -> OwnerStoreResult<()> {
        let (bank, consent, owner) = (bank.to_owned(), consent.to_owned(), owner.clone());
        let access = &request.access;
        let lists = [
            psd2_fallback_engine::journal::accounts_column(access),
            iban_list(&access.balances),
            iban_list(&access.transactions),
        ];
        let (recurring, valid_until) = (request.recurring, request.valid_until.to_string());
        let frequency = i32::try_from(request.frequency_per_day).unwrap_or(i32::MAX);
        self.journal
            .run(move |mut client| async move {
                let transaction = client.transaction().await?;
                transaction
                    .execute(
                        "INSERT INTO owners (bank, resource, id, caller, psu)
                         VALUES ($1, 'consent', $2, $3, $4) ON CONFLICT DO NOTHING",
                        &[&bank, &consent, &owner.caller, &owner.psu],
                    )
                    .await?;
                let [accounts, balances, transactions] = &lists;
                transaction
                    .execute(
                        "INSERT INTO consent_requests (bank, id, accounts, balances, transactions,
                             recurring, valid_until, frequency_per_day)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                        &[
                            &bank,
                            &consent,
                            accounts,
                            balances,
                            transactions,
                            &recurring,
                            &valid_until,
                            &frequency,
                        ],
                    )
                    .await?;
                transaction.commit().await?;
                Ok(())
            })
            .map_err(store_error)
    }

    fn consent_owner(&self, bank: &str, consent: &str) -> OwnerStoreResult<Option<ResourceOwner>> {
        Ok(self
            .owner_of(bank, "consent", consent)?
            .map(|(_, owner)| owner))
    }

    fn consent_request(
        &self,
        bank: &str,
        consent: &str,
    ) -> OwnerStoreResult<Option<ConsentRequest>> {
        let (bank, consent) = (bank.to_owned(), consent.to_owned());
        let row = self
            .journal
            .run(move |client| async move {
                let row = client
                    .query_opt(
                        "SELECT accounts, balances, transactions, recurring, valid_until,
                             frequency_per_day
                         FROM consent_requests WHERE bank = $1 AND id = $2",
                        &[&bank, &consent],
                    )
                    .await?;
                row.map(|r| {
                    Ok::<_, JournalError>((
                        [
                            r.try_get::<_, String>(0)?,
                            r.try_get::<_, String>(1)?,
                            r.try_get::<_, String>(2)?,
                        ],
                        r.try_get::<_, bool>(3)?,
                        r.try_get::<_, String>(4)?,
                        r.try_get::<_, i32>(5)?,
                    ))
                })
                .transpose()
            })
            .map_err(store_error)?;
        let Some(([accounts, balances, transactions], recurring, valid_until, frequency)) = row
        else {
            return Ok(None);
        };
        consent_request_of(
            [&accounts, &balances, &transactions],
            recurring,
            &valid_until,
            u32::try_from(frequency).unwrap_or(0),
        )
        .map(Some)
    }

    fn consents_until(&self, until: Date) -> OwnerStoreResult<Vec<(String, String, String, Date)>> {
        let until = until.to_string();
        let rows = self
            .journal
            .run(move |client| async move {
                let rows = client
                    .query(
                        "SELECT r.bank, r.id, o.caller, r.valid_until FROM consent_requests r
                         JOIN owners o ON o.bank = r.bank AND o.resource = 'consent' AND o.id = r.id
                         WHERE r.valid_until <= $1 ORDER BY r.valid_until",
                        &[&until],
                    )
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok::<_, JournalError>((
                            r.try_get::<_, String>(0)?,
                            r.try_get::<_, String>(1)?,
                            r.try_get::<_, String>(2)?,
                            r.try_get::<_, String>(3)?,
                        ))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(store_error)?;
        rows.into_iter()
            .map(|(bank, id, caller, until)| {
                let until = parse_iso_date(&until).map_err(|e| {
                    OwnerStoreError::new(format!("consent_requests.valid_until: {e}"))
                })?;
                Ok((bank, id, caller, until))
            })
            .collect()
    }

    fn consents_expiring(&self, bank: &str, from: Date, until: Date) -> OwnerStoreResult<usize> {
        // `valid_until` is an ISO date, so text order is date order.
        let (bank, from, until) = (bank.to_owned(), from.to_string(), until.to_string());
        let count: i64 = self
            .journal
            .run(move |client| async move {
                let row = client
                    .query_one(
                        "SELECT COUNT(*) FROM consent_requests
                         WHERE bank = $1 AND valid_until BETWEEN $2 AND $3",
                        &[&bank, &from, &until],
                    )
                    .await?;
                Ok(row.try_get(0)?)
            })
            .map_err(store_error)?;
        Ok(usize::try_from(count).unwrap_or_default())
    }

    fn record_payment_owner(
        &self,
        bank: &str,
        payment: &PaymentRef,
        owner: &ResourceOwner,
    ) -> OwnerStoreResult<()> {
        let values = (
            bank.to_owned(),
            payment.id.to_string(),
            kind_to_row(payment.kind),
            owner.clone(),
        );
        self.journal
            .run(move |client| async move {
                let (bank, id, kind, owner) = values;
                client
                    .execute(
                        "INSERT INTO owners (bank, resource, id, payment_kind, caller, psu)
                         VALUES ($1, 'payment', $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                        &[&bank, &id, &kind, &owner.caller, &owner.psu],
                    )
                    .await?;
                Ok(())
            })
            .map_err(store_error)
    }

    fn payment_owner(
        &self,
        bank: &str,
        payment: &str,
    ) -> OwnerStoreResult<Option<(PaymentKind, ResourceOwner)>> {
        let Some((kind, owner)) = self.owner_of(bank, "payment", payment)? else {
            return Ok(None);
        };
        let kind = kind.unwrap_or_default();
        kind_from_row(&kind)
            .map(|kind| Some((kind, owner)))
            .ok_or_else(|| {
                OwnerStoreError::new(format!(
                    "owners.payment_kind holds an unknown value {kind:?}"
                ))
            })
    }
}
