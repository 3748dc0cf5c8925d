//! `psd2-fallback report`: one day's availability per bank (EBA method) and the fallback data-access log,
//! printed from a journal file.

use std::path::PathBuf;

use anyhow::Context;
use psd2_fallback_engine::journal::{JournalStore, SqliteJournal};
use psd2_fallback_engine::model::belgian::parse_iso_date;
use psd2_fallback_engine::report::daily_availability;

/// Which journal, which day, which banks.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The journal file.
    #[arg(long)]
    journal: PathBuf,
    /// The day, YYYY-MM-DD (UTC).
    #[arg(long)]
    day: String,
    /// A bank to report on (repeatable); banks seen in the day's access log are always included.
    #[arg(long = "bank")]
    banks: Vec<String>,
}

/// Opens the journal (it must exist: a report never creates one) and prints the report.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let day = parse_iso_date(&args.day).context("--day")?;
    if !args.journal.is_file() {
        anyhow::bail!("{}: no such journal file", args.journal.display());
    }
    let journal = SqliteJournal::open(&args.journal)?;
    print(&journal, day, args.banks)
}

/// The day's availability per bank and the fallback access log.
fn print(
    journal: &dyn JournalStore,
    day: time::Date,
    mut banks: Vec<String>,
) -> anyhow::Result<()> {
    let access = journal.access_log(day)?;
    banks.extend(access.iter().map(|a| a.bank.clone()));
    let from = day.midnight().assume_utc() - time::Duration::days(30);
    let to = day.midnight().assume_utc() + time::Duration::days(1);
    for intent in journal.open_intents()? {
        banks.push(intent.bank);
    }
    banks.sort();
    banks.dedup();
    println!("Availability on {day} (UTC, EBA/GL/2018/07 method)");
    if banks.is_empty() {
        println!("  no bank had an outage or a fallback access that day");
    }
    for bank in &banks {
        let a = daily_availability(journal, bank, day)?;
        println!(
            "  {bank:<16} {:>8.4} % available, {} s down, {} outage(s)",
            a.availability_percent(),
            a.downtime_seconds,
            a.outages.len()
        );
        for (start, end) in &a.outages {
            println!("      {start} .. {end}");
        }
        let switches = journal.switches(bank, from, to)?;
        for s in switches.iter().filter(|s| s.at.date() == day) {
            println!(
                "      switch #{} {} -> {} at {}: {}",
                s.id, s.from, s.to, s.at, s.reason
            );
        }
    }
    println!("Fallback data-access log ({} entries)", access.len());
    for entry in &access {
        println!(
            "  {}  {:<12} PSU {:<10} {}  (switch #{})",
            entry.at,
            entry.bank,
            entry.psu,
            entry.data,
            entry
                .switch_event
                .map(|id| id.to_string())
                .unwrap_or_else(|| "-".to_owned())
        );
    }
    Ok(())
}
