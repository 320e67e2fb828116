//! `gwsync history` and `gwsync show`: what was read and applied, from the store.

use super::live::runtime;
use super::{Cli, CliError, HistoryArgs, OutputFormat, ShowArgs, load_config, record};
use crate::exit::Exit;
use crate::store::OperatorEvent;
use std::fmt::Write as _;

pub(super) use crate::status::time;

pub(super) fn history(cli: &Cli, args: &HistoryArgs) -> Result<Exit, CliError> {
    let config = load_config(cli)?.0;
    let (entries, events) = runtime()?.block_on(async {
        let store = record::open(&config).await?;
        let entries = store.history(args.team.as_deref(), args.limit).await?;
        let events: Vec<OperatorEvent> = store
            .events(args.limit)
            .await?
            .into_iter()
            .filter(|e| {
                args.team
                    .as_deref()
                    .is_none_or(|t| e.team.as_deref().is_none_or(|et| et == t))
            })
            .collect();
        Ok::<_, CliError>((entries, events))
    })?;
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "revisions": entries,
                "operator_actions": events,
            }))
            .expect("history serialises")
        ),
        OutputFormat::Text => {
            if entries.is_empty() {
                println!("No revisions recorded yet.");
            }
            let mut out = String::new();
            for e in &entries {
                let _ = writeln!(
                    out,
                    "{}  {}  {:?} by {}",
                    crate::source::short(&e.commit),
                    time(e.committed_at),
                    e.summary,
                    e.author
                );
                let teams: Vec<String> = e
                    .teams
                    .iter()
                    .map(|t| match t.errors {
                        0 => format!("{} {}", t.owner, t.verdict),
                        n => format!("{} {} ({n} problems)", t.owner, t.verdict),
                    })
                    .collect();
                if !teams.is_empty() {
                    let _ = writeln!(out, "    {}", teams.join(", "));
                }
                for a in &e.applies {
                    let _ = writeln!(
                        out,
                        "    apply #{} ({}) by {} at {}: {}",
                        a.id,
                        a.kind,
                        a.actor,
                        time(a.started_at),
                        a.outcome.as_deref().unwrap_or("unfinished")
                    );
                }
            }
            if !events.is_empty() {
                let _ = writeln!(out, "operator actions:");
            }
            for e in &events {
                let _ = writeln!(out, "    {}", event_line(e));
            }
            print!("{out}");
        }
    }
    Ok(Exit::Clean)
}

/// `2026-12-06T08:00:00Z  hold team payments by cli:alice: "incident 42"`.
fn event_line(e: &OperatorEvent) -> String {
    let mut line = format!("{}  {}", time(e.at), e.action.as_str());
    if let Some(team) = &e.team {
        let _ = write!(line, " team {team}");
    }
    if let Some(commit) = &e.commit {
        let _ = write!(line, " at {}", crate::source::short(commit));
    }
    let _ = write!(line, " by {}", e.actor);
    if let Some(reason) = &e.reason {
        let _ = write!(line, ": {reason:?}");
    }
    line
}

pub(super) fn show(cli: &Cli, args: &ShowArgs) -> Result<Exit, CliError> {
    let config = load_config(cli)?.0;
    let detail = runtime()?.block_on(async {
        let store = record::open(&config).await?;
        Ok::<_, CliError>(store.show(&args.revision).await?)
    })?;
    let Some(detail) = detail else {
        return Err(CliError::Usage(format!(
            "no recorded revision starts with `{}` (see `gwsync history`)",
            args.revision
        )));
    };
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&detail).expect("the revision serialises")
        ),
        OutputFormat::Text => print!("{}", show_text(&detail)),
    }
    Ok(Exit::Clean)
}

/// A recorded revision for people: each owner's verdict and problems, each apply with its
/// plan (rendered as `plan` renders it) and outcome.
fn show_text(d: &crate::store::RevisionDetail) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "revision {} {:?} by {}\n  committed {}, first read {}",
        d.commit,
        d.summary,
        d.author,
        time(d.committed_at),
        time(d.first_seen_at)
    );
    for s in &d.snapshots {
        let _ = writeln!(out, "{}: {}", s.owner, s.verdict);
        for diagnostic in s.diagnostics.as_array().into_iter().flatten() {
            let _ = writeln!(out, "  {}", stored_diagnostic(diagnostic));
        }
    }
    for a in &d.applies {
        let _ = writeln!(
            out,
            "apply #{} ({}) by {}, {} to {}: {}",
            a.id,
            a.kind,
            a.actor,
            time(a.started_at),
            a.finished_at.map_or("(unfinished)".to_string(), time),
            a.outcome.as_deref().unwrap_or("unfinished")
        );
        if let Ok(plan) = serde_json::from_value::<crate::plan::Plan>(a.plan.clone()) {
            for line in crate::plan::render::text(&plan).lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    out
}

/// A diagnostic as stored (its JSON), in the shape `validate` prints:
/// `severity: file:line: team: Kind/namespace/name: field: message`.
fn stored_diagnostic(d: &serde_json::Value) -> String {
    let text = |key: &str| d.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let location = match (text("file"), d.get("line").and_then(|v| v.as_u64())) {
        (Some(file), Some(line)) => Some(format!("{file}:{line}")),
        (file, _) => file,
    };
    let parts: Vec<String> = [
        text("severity"),
        location,
        text("team"),
        text("object"),
        text("field"),
        text("message"),
    ]
    .into_iter()
    .flatten()
    .collect();
    parts.join(": ")
}
