//! `gwsync check`: what a pull request does, from two checked revisions (its base and its
//! head, or the working tree as head), for the team that opens it and the platform that
//! reviews it: the files it changes and whose they are; each team it concerns, admitted at
//! head with its diagnostics; the rules it adds, changes and removes (the diff of the two
//! desired states, or with `--live` a plan of head against AWS); the requests of other teams
//! that end up elsewhere ([`moved`]); the rule and target-group budget of each load balancer.
//! Rendered for a terminal, as JSON, and as a pull-request comment by [`render`].
//!
//! This stage compares what `reconcile::check` produced; it must not read Git or call AWS
//! itself (the CLI hands it the revisions, the changed paths and, with `--live`, the plan).

pub mod moved;
pub mod render;

use crate::alb::Observed;
use crate::alb::identity::PLATFORM_OWNER;
use crate::diagnostic::Diagnostic;
use crate::plan::{Plan, diff};
use crate::reconcile::Checked;
use crate::source::Revision;
use crate::tenancy::{PathOwner, Verdict};
use crate::translate::ListenerBudget;
use crate::validate::Status;
use moved::Moved;
use serde::Serialize;
use std::collections::BTreeSet;

/// Whose a changed file is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "team", rename_all = "kebab-case")]
pub enum FileOwner {
    Team(String),
    Platform,
    /// The tenants file: who owns which folder, hostname and target group.
    Tenants,
    /// Hidden files and folders (`.github/CODEOWNERS`, CI workflows): the repository's
    /// rules, the platform's to review.
    Repository,
    /// Outside every folder of the tenants file.
    Unowned,
}

impl FileOwner {
    /// Whether a change to the file needs the platform's review.
    pub fn needs_platform_review(&self) -> bool {
        matches!(
            self,
            FileOwner::Platform | FileOwner::Tenants | FileOwner::Repository
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedFile {
    pub path: String,
    pub owner: FileOwner,
}

/// A team the change concerns (it owns a changed file or a changed rule), at head.
#[derive(Debug, Clone, Serialize)]
pub struct TeamCheck {
    pub team: String,
    /// None when head does not declare the team (the change removes it).
    pub verdict: Option<Verdict>,
    pub diagnostics: Vec<Diagnostic>,
    /// Whether one of its files changed (else only its rules do).
    pub files_changed: bool,
}

impl TeamCheck {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity != crate::diagnostic::Severity::Warning)
    }
}

/// Target groups of one load balancer at head, against the quota.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetGroupBudget {
    pub gateway: String,
    pub target_groups: usize,
    pub quota: usize,
}

/// What a change does.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub base: Revision,
    pub head: Revision,
    /// The plan is head against AWS (`--live`), not head against base.
    pub live: bool,
    pub files: Vec<ChangedFile>,
    pub teams: Vec<TeamCheck>,
    /// Problems of the revision as a whole at head (the tenants file, the platform folder).
    pub revision_diagnostics: Vec<Diagnostic>,
    /// Head is valid as a whole (its tenants file and platform folder are admitted).
    pub head_valid: bool,
    pub plan: Plan,
    pub moved: Vec<Moved>,
    pub budgets: Vec<ListenerBudget>,
    pub target_groups: Vec<TargetGroupBudget>,
}

/// What [`compare`] needs besides the two revisions.
pub struct Inputs<'a> {
    /// The paths that differ between base and head.
    pub changed: &'a [String],
    pub tenants_file: &'a str,
    pub target_groups_per_load_balancer: usize,
    /// A plan of head against AWS, for `--live`; else head is compared with base.
    pub live_plan: Option<Plan>,
    /// Revision-level warnings the CLI found (a CODEOWNERS file out of date).
    pub warnings: Vec<Diagnostic>,
}

/// Compares `head` with `base`.
pub fn compare(base: &Checked, head: &Checked, inputs: Inputs<'_>) -> Check {
    let files = owners(head, base, inputs.changed, inputs.tenants_file);
    let live = inputs.live_plan.is_some();
    let plan = inputs.live_plan.unwrap_or_else(|| {
        diff(
            &head.translation.stack,
            &Observed::applied(base.translation.stack.clone()),
            Some(head.revision.commit.clone()),
        )
    });
    let mut concerned: BTreeSet<String> = files
        .iter()
        .filter_map(|f| match &f.owner {
            FileOwner::Team(team) => Some(team.clone()),
            _ => None,
        })
        .collect();
    let with_files = concerned.clone();
    concerned.extend(
        plan.changes
            .iter()
            .filter_map(|c| c.owner.clone())
            .filter(|owner| owner != PLATFORM_OWNER),
    );
    let report = head.report();
    let teams = concerned
        .iter()
        .map(|team| {
            let view = report.team_view(team);
            TeamCheck {
                team: team.clone(),
                verdict: view.as_ref().map(|v| v.verdict),
                diagnostics: view
                    .map(|v| v.diagnostics.into_iter().cloned().collect())
                    .unwrap_or_default(),
                files_changed: with_files.contains(team),
            }
        })
        .collect();
    let mut revision_diagnostics = head.admission.revision_diagnostics.clone();
    if let Some(platform) = &head.admission.platform
        && platform.verdict != Verdict::Admitted
    {
        revision_diagnostics.extend(platform.diagnostics.iter().cloned());
    }
    revision_diagnostics.extend(inputs.warnings);
    Check {
        base: base.revision.clone(),
        head: head.revision.clone(),
        live,
        files,
        teams,
        revision_diagnostics,
        head_valid: report.status() != Status::Invalid,
        // Other teams: those whose files the change leaves alone, even when their rules
        // change with it (renumbered, split by a rule that lands between them).
        moved: moved::moved(
            &base.translation.stack,
            &head.translation.stack,
            &with_files,
        ),
        plan,
        budgets: head.translation.budgets.clone(),
        target_groups: head
            .translation
            .stack
            .load_balancers
            .iter()
            .map(|lb| TargetGroupBudget {
                gateway: lb.gateway.clone(),
                target_groups: lb.target_groups.len(),
                quota: inputs.target_groups_per_load_balancer,
            })
            .collect(),
    }
}

impl Check {
    /// 0: every team the change concerns is admitted without error; 1: one is refused or has
    /// an error; 2: head is invalid as a whole.
    pub fn status(&self) -> Status {
        if !self.head_valid {
            Status::Invalid
        } else if self
            .teams
            .iter()
            .any(|t| t.verdict.is_some_and(|v| v != Verdict::Admitted) || t.has_errors())
        {
            Status::Problems
        } else {
            Status::Clean
        }
    }

    /// Whether the change touches what the platform must review.
    pub fn needs_platform_review(&self) -> bool {
        self.files.iter().any(|f| f.owner.needs_platform_review())
    }
}

/// The owner of each changed path, by head's tenants file (base's when head has none).
fn owners(
    head: &Checked,
    base: &Checked,
    changed: &[String],
    tenants_file: &str,
) -> Vec<ChangedFile> {
    let tenancy = head
        .admission
        .tenancy
        .as_ref()
        .or(base.admission.tenancy.as_ref());
    changed
        .iter()
        .map(|path| {
            let owner = if path == tenants_file {
                FileOwner::Tenants
            } else {
                match tenancy.map(|t| (t, t.owner_of(path))) {
                    Some((t, PathOwner::Team(i))) => FileOwner::Team(t.teams[i].name.clone()),
                    Some((_, PathOwner::Platform)) => FileOwner::Platform,
                    Some((_, PathOwner::Ignored)) => FileOwner::Repository,
                    Some((_, PathOwner::Unowned)) | None => FileOwner::Unowned,
                }
            };
            ChangedFile {
                path: path.clone(),
                owner,
            }
        })
        .collect()
}
