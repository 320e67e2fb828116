//! The `validate` report: an [`Admission`] and its [`Translation`] rendered for people (text)
//! and machines (JSON), and the exit code it deserves.
//!
//! Rendering only: the verdicts are decided by `tenancy` (admission) and `translate` (what
//! ALB cannot express, limits), never here; a team is admitted when both admit it.

use crate::diagnostic::{Diagnostic, Severity};
use crate::exit::Exit;
use crate::source::Revision;
use crate::tenancy::{Admission, Outcome, Verdict};
use crate::translate::{ListenerBudget, Translation};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The verdict on a revision as a whole; its exit code is [`Status::exit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    /// Every team admitted, no error.
    Clean,
    /// Some team refused, or some object has an error (an unresolved reference).
    Problems,
    /// The revision as a whole (tenants file, platform folder) is invalid.
    Invalid,
}

impl Status {
    /// The exit code of `validate`, `plan --offline` and `check` for this verdict.
    pub fn exit(self) -> Exit {
        match self {
            Status::Clean => Exit::Clean,
            Status::Problems => Exit::Attention,
            Status::Invalid => Exit::NothingDone,
        }
    }
}

/// What a report covers: the whole revision, or one team.
pub struct Report<'a> {
    pub revision: &'a Revision,
    pub admission: &'a Admission,
    pub translation: &'a Translation,
    pub team: Option<&'a str>,
}

/// The platform's or a team's result after admission and translation.
pub struct View<'a> {
    pub name: &'a str,
    pub verdict: Verdict,
    pub documents: usize,
    /// Admission's diagnostics, then translation's, each once.
    pub diagnostics: Vec<&'a Diagnostic>,
}

impl View<'_> {
    fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity != Severity::Warning)
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    /// Version of this JSON shape.
    version: u32,
    revision: &'a Revision,
    valid: bool,
    status: u8,
    diagnostics: Vec<&'a Diagnostic>,
    platform: Option<JsonOutcome<'a>>,
    teams: Vec<JsonOutcome<'a>>,
    /// The rule budget of every listener translated.
    budgets: &'a [ListenerBudget],
}

#[derive(Serialize)]
struct JsonOutcome<'a> {
    name: &'a str,
    verdict: Verdict,
    documents: usize,
    diagnostics: Vec<&'a Diagnostic>,
}

impl<'a> JsonOutcome<'a> {
    fn of(v: View<'a>) -> Self {
        JsonOutcome {
            name: v.name,
            verdict: v.verdict,
            documents: v.documents,
            diagnostics: v.diagnostics,
        }
    }
}

impl<'a> Report<'a> {
    fn view(&self, o: &'a Outcome) -> View<'a> {
        let translation = self.translation;
        // Translation may refuse a team whole (limits, inexpressible conditions); a rule
        // whose action cannot be expressed answers 500 with an error, and its team stays
        // admitted with its other rules (what apply does too).
        let refused = translation.refused_teams.contains(&o.name)
            || (o.name == "platform" && !translation.refused_gateways.is_empty());
        View {
            name: &o.name,
            verdict: if refused { Verdict::Refused } else { o.verdict },
            documents: o.documents.len(),
            // Translation states again some reference errors admission found (it needs them
            // to make the rule answer 500): each is shown once.
            diagnostics: o
                .diagnostics
                .iter()
                .chain(translation.diagnostics.iter().filter(|d| {
                    d.team.as_deref() == Some(o.name.as_str()) && !o.diagnostics.contains(d)
                }))
                .collect(),
        }
    }

    /// A team's result (an undecided one too, when the platform is refused); None for a name
    /// the revision does not declare.
    pub fn team_view(&self, name: &str) -> Option<View<'a>> {
        self.admission
            .teams
            .iter()
            .chain(&self.admission.undecided)
            .find(|t| t.name == name)
            .map(|t| self.view(t))
    }

    /// Whether a team is admitted by both admission and translation.
    pub fn team_admitted(&self, name: &str) -> bool {
        self.admission
            .team(name)
            .is_some_and(|t| self.view(t).verdict == Verdict::Admitted)
    }

    fn platform(&self) -> Option<View<'a>> {
        self.admission.platform.as_ref().map(|p| self.view(p))
    }

    /// Every team's outcome; when the platform is refused, the undecided teams with their
    /// own problems.
    fn teams(&self) -> impl Iterator<Item = View<'a>> + '_ {
        self.admission
            .teams
            .iter()
            .chain(&self.admission.undecided)
            .filter(|t| self.team.is_none_or(|name| t.name == name))
            .map(|t| self.view(t))
    }

    /// Revision-level diagnostics; with a team filter, files outside every folder are
    /// nobody's business but the platform's and are left out.
    fn revision_diagnostics(&self) -> impl Iterator<Item = &Diagnostic> {
        let whole = self.team.is_none();
        self.admission
            .revision_diagnostics
            .iter()
            .filter(move |d| whole || d.severity == Severity::Refusal)
    }

    pub fn status(&self) -> Status {
        if !self.admission.revision_valid() || !self.translation.refused_gateways.is_empty() {
            return Status::Invalid;
        }
        let team_problems = self
            .teams()
            .any(|t| t.verdict == Verdict::Refused || t.has_errors());
        let revision_problems = self
            .revision_diagnostics()
            .any(|d| d.severity != Severity::Warning);
        if team_problems || revision_problems {
            Status::Problems
        } else {
            Status::Clean
        }
    }

    pub fn to_json(&self) -> String {
        let report = JsonReport {
            version: 1,
            revision: self.revision,
            valid: self.admission.revision_valid(),
            status: self.status().exit().code(),
            diagnostics: self.revision_diagnostics().collect(),
            platform: self.platform().map(JsonOutcome::of),
            teams: self.teams().map(JsonOutcome::of).collect(),
            budgets: &self.translation.budgets,
        };
        serde_json::to_string_pretty(&report).expect("the report serialises")
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let r = self.revision;
        let short = crate::source::short(&r.commit);
        let _ = writeln!(
            out,
            "revision {short} {:?} by {}",
            r.summary,
            crate::diagnostic::printable(&r.author)
        );
        for d in self.revision_diagnostics() {
            let _ = writeln!(out, "  {}: {d}", d.severity.as_str());
        }
        match self.platform() {
            None => {
                let _ = writeln!(
                    out,
                    "REFUSED: the tenants file is invalid; nothing in this revision is admitted"
                );
            }
            Some(p) => {
                write_outcome(&mut out, "platform", &p);
                if p.verdict == Verdict::Refused {
                    let _ = writeln!(
                        out,
                        "REFUSED: the platform folder is invalid; nothing in this revision is admitted"
                    );
                }
            }
        }
        for t in self.teams() {
            write_outcome(&mut out, &format!("team {}", t.name), &t);
        }
        if let Some(name) = self.team
            && self.admission.revision_valid()
            && self.admission.team(name).is_none()
        {
            let _ = writeln!(out, "team {name}: not declared in the tenants file");
        }
        write_budgets(&mut out, &self.translation.budgets);
        let summary = match self.status() {
            Status::Clean => "ok",
            Status::Problems => "problems found",
            Status::Invalid => "revision invalid",
        };
        let _ = writeln!(out, "result: {summary}");
        out
    }
}

/// `rule budget:`, per load balancer (rules of its quota) and listener (rules, the matches
/// they came from, what compaction saved).
pub fn write_budgets(out: &mut String, budgets: &[ListenerBudget]) {
    if budgets.is_empty() {
        return;
    }
    let _ = writeln!(out, "rule budget:");
    let mut by_gateway: BTreeMap<&str, Vec<&ListenerBudget>> = BTreeMap::new();
    for b in budgets {
        by_gateway.entry(b.gateway.as_str()).or_default().push(b);
    }
    for (gateway, listeners) in by_gateway {
        let total: usize = listeners.iter().map(|b| b.rules).sum();
        let quota = listeners[0].quota;
        // Over 80% of the quota: a few more matches and a team is refused for the rule limit.
        let near = if total * 10 > quota * 8 {
            " (near the quota: aws.rules_per_load_balancer)"
        } else {
            ""
        };
        let _ = writeln!(out, "  Gateway {gateway}: {total}/{quota} rules{near}");
        for b in listeners {
            let _ = write!(
                out,
                "    port {}: {} from {}",
                b.port,
                counted(b.route_rules, "rule"),
                counted(b.matches, "match")
            );
            if b.saved() > 0 {
                let _ = write!(out, " (compaction saved {})", b.saved());
            }
            let isolation = b.rules - b.route_rules;
            if isolation > 0 {
                let _ = write!(
                    out,
                    ", and {}",
                    counted(isolation, "listener-isolation 404")
                );
            }
            let _ = writeln!(out);
        }
    }
}

/// `1 rule`, `2 rules`, `2 matches`.
fn counted(n: usize, what: &str) -> String {
    match (n, what.ends_with("ch")) {
        (1, _) => format!("1 {what}"),
        (_, true) => format!("{n} {what}es"),
        _ => format!("{n} {what}s"),
    }
}

fn write_outcome(out: &mut String, label: &str, o: &View<'_>) {
    let count = |s: Severity| o.diagnostics.iter().filter(|d| d.severity == s).count();
    let verdict = match o.verdict {
        Verdict::Admitted => "admitted",
        Verdict::Refused => "REFUSED",
        Verdict::Undecided => "not decided (the platform is refused)",
    };
    let _ = write!(out, "{label}: {verdict}");
    match o.verdict {
        Verdict::Admitted => {
            let _ = write!(out, " ({} documents", o.documents);
        }
        Verdict::Refused | Verdict::Undecided => {
            let _ = write!(out, " ({} refusals", count(Severity::Refusal));
        }
    }
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    if errors > 0 {
        let _ = write!(out, ", {errors} errors");
    }
    if warnings > 0 {
        let _ = write!(out, ", {warnings} warnings");
    }
    let _ = writeln!(out, ")");
    for d in &o.diagnostics {
        let _ = writeln!(out, "  {}: {d}", d.severity.as_str());
    }
}
