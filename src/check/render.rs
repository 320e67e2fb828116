//! A [`Check`] for a terminal, as JSON, and as a pull-request comment.
//!
//! The comment starts with [`MARKER`], a hidden HTML comment CI looks for to update its one
//! comment instead of adding another. It has a line per team, then collapsed details (the
//! team's diagnostics and rule changes, the requests that move, the budget), in a stable
//! order, HTML- and Markdown-escaped, no ANSI codes, and stays under GitHub's 65,536
//! characters: details that would not fit are left out with a note.

use super::{Check, FileOwner, TeamCheck};
use crate::diagnostic::{Severity, printable};
use crate::plan::render::{
    MARKDOWN_BUDGET, call, change_table, code, html, inline, summary, symbol,
};
use crate::plan::{Change, ChangeAction};
use crate::tenancy::Verdict;
use crate::validate::{Status, write_budgets};
use std::fmt::Write;

/// The hidden first line of the pull-request comment.
pub const MARKER: &str = "<!-- gwsync-check -->";

/// The version of the JSON shape.
const JSON_VERSION: u32 = 1;

fn result_words(status: Status) -> &'static str {
    match status {
        Status::Clean => "ok",
        Status::Problems => "problems found",
        Status::Invalid => "revision invalid",
    }
}

fn verdict_words(team: &TeamCheck) -> String {
    let count = |s: Severity| team.diagnostics.iter().filter(|d| d.severity == s).count();
    let verdict = match team.verdict {
        None => "not declared at head (removed)",
        Some(Verdict::Admitted) => "admitted",
        Some(Verdict::Refused) => "REFUSED",
        Some(Verdict::Undecided) => "not decided (the platform is refused)",
    };
    let mut parts = Vec::new();
    for (severity, word) in [
        (Severity::Refusal, "refusal"),
        (Severity::Error, "error"),
        (Severity::Warning, "warning"),
    ] {
        match count(severity) {
            0 => {}
            1 => parts.push(format!("1 {word}")),
            n => parts.push(format!("{n} {word}s")),
        }
    }
    if parts.is_empty() {
        verdict.to_string()
    } else {
        format!("{verdict} ({})", parts.join(", "))
    }
}

fn owner_words(owner: &FileOwner) -> String {
    match owner {
        FileOwner::Team(team) => format!("team {team}"),
        FileOwner::Platform => "platform: needs the platform's review".to_string(),
        FileOwner::Tenants => "tenants file: needs the platform's review".to_string(),
        FileOwner::Repository => "repository rules: needs the platform's review".to_string(),
        FileOwner::Unowned => "outside every folder".to_string(),
    }
}

/// The changes of the plan whose owner is `owner` (a team, or `platform` for the rest).
fn changes_of<'a>(check: &'a Check, owner: Option<&'a str>) -> impl Iterator<Item = &'a Change> {
    let teams: Vec<&str> = check.teams.iter().map(|t| t.team.as_str()).collect();
    check.plan.changes.iter().filter(move |c| match owner {
        Some(team) => c.owner.as_deref() == Some(team),
        None => c.owner.as_deref().is_none_or(|o| !teams.contains(&o)),
    })
}

fn counted_changes<'a>(changes: impl Iterator<Item = &'a Change>) -> String {
    let mut counts = [0usize; 4];
    for c in changes {
        counts[match c.action {
            ChangeAction::Create => 0,
            ChangeAction::Update => 1,
            ChangeAction::Move => 2,
            ChangeAction::Delete => 3,
        }] += 1;
    }
    let words = ["added", "changed", "moved", "removed"];
    let parts: Vec<String> = counts
        .iter()
        .zip(words)
        .filter(|(n, _)| **n > 0)
        .map(|(n, w)| format!("{n} {w}"))
        .collect();
    if parts.is_empty() {
        "no change".to_string()
    } else {
        parts.join(", ")
    }
}

fn change_line(c: &Change) -> String {
    format!(
        "{} {} ({}): {}",
        symbol(c.action),
        c.address,
        call(&c.operation),
        c.reason
    )
}

/// The check for a terminal.
pub fn text(check: &Check) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "base {} {:?} -> head {} {:?}",
        crate::source::short(&check.base.commit),
        check.base.summary,
        crate::source::short(&check.head.commit),
        check.head.summary
    );
    let _ = writeln!(out, "files changed:");
    for f in &check.files {
        let _ = writeln!(out, "  {} ({})", printable(&f.path), owner_words(&f.owner));
    }
    for d in &check.revision_diagnostics {
        let _ = writeln!(out, "{}: {d}", d.severity.as_str());
    }
    for team in &check.teams {
        let _ = writeln!(out, "team {}: {}", team.team, verdict_words(team));
        for d in &team.diagnostics {
            let _ = writeln!(out, "  {}: {d}", d.severity.as_str());
        }
        for c in changes_of(check, Some(&team.team)) {
            let _ = writeln!(out, "  {}", printable(&change_line(c)));
        }
    }
    let others: Vec<&Change> = changes_of(check, None).collect();
    if !others.is_empty() {
        let _ = writeln!(out, "platform:");
        for c in others {
            let _ = writeln!(out, "  {}", printable(&change_line(c)));
        }
    }
    let against = if check.live { "AWS" } else { "base" };
    let _ = writeln!(
        out,
        "rules (head against {against}): {}",
        summary(&check.plan)
    );
    if !check.moved.is_empty() {
        let _ = writeln!(out, "requests of other teams that move:");
        for m in &check.moved {
            let _ = writeln!(
                out,
                "  Gateway {}: {} ({} sampled)",
                m.gateway,
                printable(&m.example),
                m.requests
            );
            for (when, d) in [("before", &m.before), ("after", &m.after)] {
                let _ = writeln!(
                    out,
                    "    {when}: {} {} -> {}",
                    d.team
                        .as_deref()
                        .map_or("-".to_string(), |t| format!("team {t}")),
                    printable(&d.rule),
                    printable(&d.action)
                );
            }
        }
    }
    out.push_str(&budget_text(check));
    let _ = writeln!(out, "result: {}", result_words(check.status()));
    out
}

/// The check as JSON: the [`Check`] with `version` and `status` (the exit code).
pub fn json(check: &Check) -> String {
    let mut value = serde_json::to_value(check).expect("a check serialises");
    value["version"] = JSON_VERSION.into();
    value["status"] = check.status().exit().code().into();
    serde_json::to_string_pretty(&value).expect("JSON serialises")
}

/// The check as a pull-request comment.
pub fn markdown(check: &Check) -> String {
    let status = check.status();
    let mut out = String::new();
    let _ = writeln!(out, "{MARKER}");
    let headline = match status {
        Status::Clean => "every team this change concerns is admitted",
        Status::Problems => "some team this change concerns is refused or has errors",
        Status::Invalid => "the revision is invalid as a whole",
    };
    let icon = match status {
        Status::Clean => "✅",
        Status::Problems => "❌",
        Status::Invalid => "⛔",
    };
    let _ = writeln!(out, "### {icon} gwsync check: {headline}\n");
    let _ = writeln!(
        out,
        "Base {} → head {}; rules compared with {}.\n",
        code(crate::source::short(&check.base.commit)),
        code(crate::source::short(&check.head.commit)),
        if check.live {
            "what AWS holds"
        } else {
            "the base"
        }
    );
    if check.needs_platform_review() {
        out.push_str("> [!IMPORTANT]\n> This change needs the platform's review:\n");
        for f in check
            .files
            .iter()
            .filter(|f| f.owner.needs_platform_review())
        {
            let _ = writeln!(
                out,
                "> - {} ({})",
                code(&f.path),
                inline(&owner_words(&f.owner))
            );
        }
        out.push('\n');
    }
    if !check.revision_diagnostics.is_empty() {
        out.push_str("> [!WARNING]\n");
        for d in &check.revision_diagnostics {
            let _ = writeln!(
                out,
                "> - **{}**: {}",
                d.severity.as_str(),
                inline(&d.to_string())
            );
        }
        out.push('\n');
    }
    if !check.moved.is_empty() {
        let _ = writeln!(
            out,
            "> [!CAUTION]\n> Requests of other teams go elsewhere after this change ({} shown below).\n",
            check.moved.len()
        );
    }
    out.push_str("| Team | Result | Rules |\n|---|---|---|\n");
    for team in &check.teams {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            inline(&team.team),
            inline(&verdict_words(team)),
            counted_changes(changes_of(check, Some(&team.team)))
        );
    }
    let mut sections: Vec<String> = check.teams.iter().map(|t| team_section(check, t)).collect();
    let others: Vec<&Change> = changes_of(check, None).collect();
    if !others.is_empty() {
        sections.push(details(
            "platform: load balancers, listeners, moves",
            &change_table(others.into_iter()),
        ));
    }
    if !check.moved.is_empty() {
        sections.push(moved_section(check));
    }
    let budget = budget_text(check);
    if !budget.is_empty() {
        sections.push(details("Rule budget", &format!("```\n{budget}```\n")));
    }
    out.push('\n');
    let mut left_out = 0;
    for section in sections {
        if out.len() + section.len() > MARKDOWN_BUDGET {
            left_out += 1;
            continue;
        }
        out.push_str(&section);
    }
    if left_out > 0 {
        let _ = writeln!(
            out,
            "\n{left_out} section(s) left out to stay within GitHub's comment size: run `gwsync check` for all of it."
        );
    }
    out
}

/// The rule budget (as `validate` prints it) and each load balancer's target groups.
fn budget_text(check: &Check) -> String {
    let mut out = String::new();
    write_budgets(&mut out, &check.budgets);
    for tg in &check.target_groups {
        let _ = writeln!(
            out,
            "  Gateway {}: {}/{} target groups",
            tg.gateway, tg.target_groups, tg.quota
        );
    }
    out
}

fn details(summary: &str, body: &str) -> String {
    format!(
        "<details><summary>{}</summary>\n\n{body}\n</details>\n",
        html(summary)
    )
}

fn team_section(check: &Check, team: &TeamCheck) -> String {
    let mut body = String::new();
    for d in &team.diagnostics {
        let _ = writeln!(
            body,
            "- **{}**: {}",
            d.severity.as_str(),
            inline(&d.to_string())
        );
    }
    let changes: Vec<&Change> = changes_of(check, Some(&team.team)).collect();
    if !changes.is_empty() {
        if !body.is_empty() {
            body.push('\n');
        }
        body.push_str(&change_table(changes.into_iter()));
    }
    if body.is_empty() {
        body.push_str("No problems and no rule changes.\n");
    }
    details(
        &format!("team {}: {}", team.team, verdict_words(team)),
        &body,
    )
}

fn moved_section(check: &Check) -> String {
    let mut body =
        String::from("| Gateway | Example request | Before | After |\n|---|---|---|---|\n");
    for m in &check.moved {
        let side = |d: &super::moved::Destination| {
            let team = d
                .team
                .as_deref()
                .map_or("-".to_string(), |t| format!("team {t}"));
            inline(&format!("{team}: {} → {}", d.rule, d.action))
        };
        let _ = writeln!(
            body,
            "| {} | {} ({} sampled) | {} | {} |",
            code(&m.gateway),
            code(&m.example),
            m.requests,
            side(&m.before),
            side(&m.after)
        );
    }
    details("Requests of other teams that go elsewhere", &body)
}

/// Every diagnostic of the check: the revision's, then each team's.
fn all_diagnostics(check: &Check) -> impl Iterator<Item = &crate::diagnostic::Diagnostic> {
    check
        .revision_diagnostics
        .iter()
        .chain(check.teams.iter().flat_map(|t| &t.diagnostics))
}

/// GitHub Actions workflow commands, one per diagnostic (`::error file=…,line=…::…`): each
/// shows on the pull request's changed line. Values are escaped as the runner requires.
pub fn github_annotations(check: &Check) -> String {
    // Data: `%`, CR and LF; properties also `:` and `,`.
    let data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let property = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    let mut out = String::new();
    for d in all_diagnostics(check) {
        let level = match d.severity {
            Severity::Warning => "warning",
            Severity::Refusal | Severity::Error => "error",
        };
        let mut properties = vec![format!("title={}", property(&format!("gwsync {}", d.code)))];
        if let Some(file) = &d.file {
            properties.push(format!("file={}", property(file)));
            properties.push(format!("line={}", d.line.unwrap_or(1)));
        }
        let _ = writeln!(
            out,
            "::{level} {}::{}",
            properties.join(","),
            data(&d.to_string())
        );
    }
    out
}

/// A GitLab Code Quality report (JSON), one issue per diagnostic with a file: the merge
/// request shows each on its line.
pub fn gitlab_code_quality(check: &Check) -> String {
    use sha2::{Digest, Sha256};
    let issues: Vec<serde_json::Value> = all_diagnostics(check)
        .filter_map(|d| {
            let file = d.file.as_ref()?;
            let text = d.to_string();
            Some(serde_json::json!({
                "description": text,
                "check_name": d.code.0,
                "fingerprint": hex::encode(Sha256::digest(text.as_bytes())),
                "severity": match d.severity {
                    Severity::Warning => "minor",
                    Severity::Error => "major",
                    Severity::Refusal => "critical",
                },
                "location": {"path": file, "lines": {"begin": d.line.unwrap_or(1)}},
            }))
        })
        .collect();
    serde_json::to_string_pretty(&issues).expect("JSON serialises") + "\n"
}
