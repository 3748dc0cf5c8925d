//! `psd2-fallback report`: availability per bank and day (EBA method) and the fallback data-access log,
//! from a journal file: printed for one day, or written for a range of days as the regulator's figures
//! in CSV, JSON or an HTML page with a chart (`regulator`).

use std::path::PathBuf;

use anyhow::Context;
use psd2_fallback_engine::journal::{JournalStore, SqliteJournal};
use psd2_fallback_engine::model::belgian::parse_iso_date;
use psd2_fallback_engine::report::{daily_availability, regulator_figures};

use super::regulator;

/// Which journal, which day, which banks.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The journal file.
    #[arg(long)]
    journal: PathBuf,
    /// The day, YYYY-MM-DD (UTC); with `--to`, the first day.
    #[arg(long)]
    day: String,
    /// The last day of a range, YYYY-MM-DD (UTC; default: `--day`).
    #[arg(long)]
    to: Option<String>,
    /// `text` (printed), or the regulator's figures per bank and day: `csv`, `json`, `html`.
    #[arg(long, default_value = "text", value_parser = ["text", "csv", "json", "html"])]
    format: String,
    /// The same as `--format html`: a page with a chart.
    #[arg(long, conflicts_with = "format")]
    html: bool,
    /// Where to write the figures (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
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
    let to = match &args.to {
        Some(to) => parse_iso_date(to).context("--to")?,
        None => day,
    };
    if to < day {
        anyhow::bail!("--to {to} is before --day {day}");
    }
    let journal = SqliteJournal::open(&args.journal)?;
    let format = if args.html {
        "html"
    } else {
        args.format.as_str()
    };
    if format == "text" {
        let mut day = day;
        while day <= to {
            print(&journal, day, args.banks.clone())?;
            day = day.next_day().context("--to")?;
        }
        return Ok(());
    }
    let banks = banks_of(&journal, day, to, args.banks)?;
    let figures = regulator_figures(&journal, &banks, day, to)?;
    let written = match format {
        "csv" => regulator::csv(&figures)?,
        "json" => format!("{:#}\n", regulator::json(&figures)),
        _ => regulator::html(&figures),
    };
    match &args.out {
        Some(path) => std::fs::write(path, written).with_context(|| path.display().to_string())?,
        None => print!("{written}"),
    }
    Ok(())
}

/// The banks asked for, and those with a fallback access in the range.
fn banks_of(
    journal: &dyn JournalStore,
    from: time::Date,
    to: time::Date,
    mut banks: Vec<String>,
) -> anyhow::Result<Vec<String>> {
    let mut day = from;
    while day <= to {
        banks.extend(journal.access_log(day)?.into_iter().map(|a| a.bank));
        day = day.next_day().context("--to")?;
    }
    banks.sort();
    banks.dedup();
    Ok(banks)
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
