//! One revision read, admitted and translated ([`Checked`]), and the form in which it is
//! applied ([`Effective`]): a team refused in it keeps the files of its last admitted revision.
//!
//! This is the shared front half of every command that reads a revision and of the daemon.
//! It reads Git (through [`Source`]) and the store; it never talks to AWS.

use super::ages::{AgesUpTo, route_ages};
use crate::config::Config;
use crate::plan::{HeldBack, TeamKept};
use crate::reconcile::compose_snapshot;
use crate::source::{Revision, Snapshot, Source, SourceError, WorkingTree};
use crate::store::{Store, StoreError};
use crate::tenancy::{Admission, AdmissionCache, AdmitOptions, admit, admit_incremental};
use crate::translate::{RouteAges, TranslateOptions, Translation, translate};
use crate::validate::Report;
use std::collections::BTreeMap;

/// One revision, read, admitted and translated.
#[derive(Debug, Clone)]
pub struct Checked {
    pub revision: Revision,
    pub snapshot: Snapshot,
    pub ages: RouteAges,
    pub admission: Admission,
    pub translation: Translation,
}

impl Checked {
    /// The validation view of the whole revision.
    pub fn report(&self) -> Report<'_> {
        Report {
            revision: &self.revision,
            admission: &self.admission,
            translation: &self.translation,
            team: None,
        }
    }
}

pub fn admit_options(config: &Config) -> AdmitOptions {
    AdmitOptions {
        tenants_file: config.repo.tenants_file.clone(),
        limits: config.limits,
        gateway_classes: config.gateway_classes.clone(),
    }
}

pub fn translate_options(config: &Config) -> TranslateOptions {
    TranslateOptions {
        instance_id: config.instance_id.clone(),
        rules_per_load_balancer: config.aws.rules_per_load_balancer,
        target_groups_per_load_balancer: config.aws.target_groups_per_load_balancer,
        oidc_secret_prefix: config.aws.oidc_secret_prefix.clone(),
    }
}

/// Reads `revision` from `source`, admits and translates it. Route ages start from what the
/// last process left in the repository ([`super::ages`]).
pub fn check(source: &Source, revision: Revision, config: &Config) -> Result<Checked, SourceError> {
    let snapshot = source.snapshot(&revision, &config.limits)?;
    let mut admission = admit(&snapshot, &admit_options(config));
    flag_platform_changes(source, &revision, &mut admission, config)?;
    let (ages, ..) = route_ages(source, &revision, &snapshot, &admission, config, None)?;
    Ok(finish(revision, snapshot, ages, admission, config))
}

/// [`check`] for the working tree of a local repository (`--worktree`): uncommitted edits on
/// top of `HEAD`, whose history gives the route ages.
pub fn check_working_tree(
    source: &Source,
    working_tree: &WorkingTree,
    config: &Config,
) -> Result<Checked, SourceError> {
    let snapshot = source.snapshot_working_tree(working_tree, &config.limits)?;
    let mut admission = admit(&snapshot, &admit_options(config));
    let changed = source.working_tree_changes(working_tree)?;
    warn_platform_changes(&changed, &mut admission, config);
    // The history is HEAD's: the revision reads as HEAD.
    let revision = working_tree.revision.clone();
    let (ages, ..) = route_ages(source, &revision, &snapshot, &admission, config, None)?;
    Ok(finish(revision, snapshot, ages, admission, config))
}

/// What [`check_incremental`] keeps from one revision to the next, so that the daemon reads
/// again only what a commit changed: each owner's parsed files (`tenancy::AdmissionCache`)
/// and the route ages up to the last tip.
#[derive(Debug, Default)]
pub struct CheckCache {
    pub admission: AdmissionCache,
    ages: Option<AgesUpTo>,
    /// Whether the last call walked only the commits since the tip before.
    ages_incremental: bool,
}

impl CheckCache {
    /// Whether the last [`check_incremental`] read route ages from the new commits only.
    pub fn ages_were_incremental(&self) -> bool {
        self.ages_incremental
    }
}

/// [`check`], reading again only the owners whose files changed since the revision `cache`
/// last saw, and walking only the commits since then for route ages; the result is the
/// same.
pub fn check_incremental(
    source: &Source,
    revision: Revision,
    config: &Config,
    cache: &mut CheckCache,
) -> Result<Checked, SourceError> {
    let snapshot = source.snapshot(&revision, &config.limits)?;
    let mut admission = admit_incremental(&snapshot, &admit_options(config), &mut cache.admission);
    flag_platform_changes(source, &revision, &mut admission, config)?;
    // A daemon just started takes up where the last process left the ages.
    let previous = cache.ages.take();
    let (ages, incremental, up_to) =
        route_ages(source, &revision, &snapshot, &admission, config, previous)?;
    cache.ages_incremental = incremental;
    cache.ages = up_to;
    Ok(finish(revision, snapshot, ages, admission, config))
}

/// Warns, on the revision, when its commit changes the platform's files together with team
/// folders ([`crate::tenancy::Tenancy::platform_changed_with_teams`]).
fn flag_platform_changes(
    source: &Source,
    revision: &Revision,
    admission: &mut Admission,
    config: &Config,
) -> Result<(), SourceError> {
    if admission.tenancy.is_some() {
        let changed = source.changed_paths(revision)?;
        warn_platform_changes(&changed, admission, config);
    }
    Ok(())
}

/// The warning of [`crate::tenancy::Tenancy::platform_changed_with_teams`] on the revision,
/// for the paths it changes.
fn warn_platform_changes(changed: &[String], admission: &mut Admission, config: &Config) {
    let warning = admission.tenancy.as_ref().and_then(|tenancy| {
        tenancy.platform_changed_with_teams(changed, &config.repo.tenants_file)
    });
    admission.revision_diagnostics.extend(warning);
}

fn finish(
    revision: Revision,
    snapshot: Snapshot,
    ages: RouteAges,
    admission: Admission,
    config: &Config,
) -> Checked {
    let translation = translate(&admission, &ages, &translate_options(config));
    Checked {
        revision,
        snapshot,
        ages,
        admission,
        translation,
    }
}

/// The revision as it is applied: a team refused in it keeps the files of its last admitted
/// revision (from the store) while every other team is taken as it is now.
#[derive(Debug, Clone)]
pub struct Effective {
    pub admission: Admission,
    pub translation: Translation,
    /// Which teams keep an earlier state, for the operator.
    pub notes: Vec<HeldBack>,
    /// Teams held by an operator (`gwsync hold`) or stalled: their rules stay as they are on
    /// AWS.
    pub held: BTreeMap<String, TeamKept>,
}

impl Effective {
    /// The revision as it is, with a note saying why no last good state was looked up.
    pub fn as_is(checked: &Checked, notes: Vec<HeldBack>) -> Effective {
        Effective {
            admission: checked.admission.clone(),
            translation: checked.translation.clone(),
            notes,
            held: BTreeMap::new(),
        }
    }
}

/// The effective form of `checked`: refused teams replaced by their last admitted files.
pub async fn last_good(
    config: &Config,
    store: &Store,
    checked: &Checked,
) -> Result<Effective, StoreError> {
    let held = super::teams::kept(config, store, checked).await?;
    let Some(tenancy) = &checked.admission.tenancy else {
        return Ok(Effective {
            held,
            ..Effective::as_is(checked, Vec::new())
        });
    };
    let report = checked.report();
    let mut replacements = BTreeMap::new();
    let mut notes = Vec::new();
    for team in &checked.admission.teams {
        if report.team_admitted(&team.name) || held.contains_key(&team.name) {
            continue;
        }
        match store.last_admitted(&team.name).await? {
            Some((commit, files)) => {
                notes.push(HeldBack::TeamAtLastGood {
                    team: team.name.clone(),
                    commit,
                });
                replacements.insert(team.name.clone(), files);
            }
            None => notes.push(HeldBack::TeamWithoutLastGood {
                team: team.name.clone(),
            }),
        }
    }
    if replacements.is_empty() {
        return Ok(Effective {
            held,
            ..Effective::as_is(checked, notes)
        });
    }
    let composed = compose_snapshot(&checked.snapshot, tenancy, &replacements);
    let admission = admit(&composed, &admit_options(config));
    let translation = translate(&admission, &checked.ages, &translate_options(config));
    Ok(Effective {
        admission,
        translation,
        notes,
        held,
    })
}
