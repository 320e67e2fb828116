//! Reconcile: from a revision in Git to AWS, the steps every command that changes AWS and
//! the daemon share.
//!
//! - [`checked`]: read, admit and translate a revision; its effective form, where a refused
//!   team keeps its last admitted files ([`compose_snapshot`]);
//! - this module: observe what gwsync owns, find the ACM certificates for listener
//!   hostnames, hold back the Gateways that must not change in this revision, and diff
//!   ([`live_plan`]); it changes nothing itself;
//! - [`observing`]: everything, or (the daemon) only what the plan touches, from the
//!   reading it keeps between reconciles;
//! - [`preflight`]: what only AWS can tell about a desired rule (a `TargetGroupName` that
//!   does not exist or lives in another VPC), found before any write;
//! - [`record`]: what is written to the store, and the apply lease;
//! - [`lease`]: holding a lease (taken, renewed, lost past its deadline);
//! - [`sync`]: the pin, the deletion guard, applying and recording;
//! - [`rollback`]: a recorded revision rebuilt from the store, planned, and pinned;
//! - [`teams`]: per team, what is live, what is wanted and why they differ, recorded after
//!   every reconcile; the held and stalled teams a plan leaves as they are;
//! - [`Refusal`]: what stops a command before any write for the operator to decide
//!   (deletion guard, a stale saved plan, a rollback that cannot be rebuilt).

mod ages;
pub mod checked;
mod holds;
pub mod lease;
pub mod observing;
pub mod preflight;
pub mod record;
mod refusal;
pub mod rollback;
pub mod sync;
pub mod teams;

pub use observing::{ObservedCache, Observing};
pub use refusal::{Refusal, TooManyDeletions, saved_plan};

pub use checked::{
    CheckCache, Checked, Effective, admit_options, check, check_incremental, last_good,
    translate_options,
};

use crate::alb::Stack;
use crate::aws::AwsIds;
use crate::aws::client::Clients;
use crate::aws::error::AwsError;
use crate::aws::observe::{find_certificates, observe_for, resolve_certificates};
use crate::aws::secrets::{
    ClientCredentials, named_secrets, read_credentials, resolve_credentials,
};
use crate::plan::{HeldBack, Observed, Plan, TeamKept, diff};
use crate::source::{Revision, Snapshot, SourceFile};
use crate::tenancy::{Admission, PathOwner, Tenancy};
use crate::translate::Translation;
use std::collections::{BTreeMap, BTreeSet};

/// A revision in which some teams' folders are replaced by the files of their last admitted
/// revision: how a refused team keeps its last good state while every other team moves on.
/// Pure: `replacements` maps a team's name to its stored files (path, text).
pub fn compose_snapshot(
    current: &Snapshot,
    tenancy: &Tenancy,
    replacements: &BTreeMap<String, Vec<(String, String)>>,
) -> Snapshot {
    let replaced = |path: &str| match tenancy.owner_of(path) {
        PathOwner::Team(i) => replacements.contains_key(&tenancy.teams[i].name),
        _ => false,
    };
    let mut files: Vec<SourceFile> = current
        .files
        .iter()
        .filter(|f| !replaced(&f.path))
        .cloned()
        .chain(
            replacements
                .values()
                .flatten()
                .map(|(path, text)| SourceFile {
                    path: path.clone(),
                    bytes: text.clone().into_bytes(),
                }),
        )
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Snapshot {
        revision: current.revision.clone(),
        files,
        entries_refused: current
            .entries_refused
            .iter()
            .filter(|e| !replaced(&e.path))
            .cloned()
            .collect(),
        submodules: current.submodules.clone(),
        over_limits: current.over_limits.clone(),
    }
}

/// A plan against the live configuration, with what it was computed from.
pub struct LivePlan {
    pub plan: Plan,
    pub ids: AwsIds,
    pub observed: Observed,
    /// What is left as it is on AWS and why (refused teams, missing certificates).
    pub held_back: Vec<HeldBack>,
}

/// What a live plan is computed for: a revision as admitted and translated, and the teams
/// whose rules stay as they are on AWS.
pub struct PlanFor<'a> {
    pub revision: &'a Revision,
    pub admission: &'a Admission,
    pub translation: &'a Translation,
    /// Teams held by an operator or stalled (see [`teams::kept`]).
    pub held: &'a BTreeMap<String, TeamKept>,
    /// Rules a load balancer may hold (`aws.rules_per_load_balancer`).
    pub rules_quota: usize,
}

/// Reads AWS and computes the plan for a checked revision; the rules of held teams and of
/// teams refused in it stay as they are on AWS. What is read depends on `observing`: what
/// ACM and Secrets Manager hold for the desired state is read each time, the load balancers'
/// configuration is read whole or, from the daemon's cache, only where the plan touches it.
pub async fn live_plan(
    clients: &Clients,
    instance_id: &str,
    wanted: PlanFor<'_>,
    observing: Observing<'_>,
) -> Result<LivePlan, AwsError> {
    let stack = &wanted.translation.stack;
    let lookups = Lookups::read(clients, stack).await?;
    let plan = |observed: Observed, ids: AwsIds| plan_against(&wanted, &lookups, observed, ids);
    match observing {
        Observing::Everything => {
            let (observed, ids) = observe_for(clients, instance_id, stack).await?;
            Ok(plan(observed, ids))
        }
        Observing::Cached(cache) => cache.plan(clients, instance_id, stack, plan).await,
    }
}

/// What a plan needs from outside the load balancers: the ACM certificates for listener
/// hostnames and the OIDC client credentials in Secrets Manager.
struct Lookups {
    certificates: Option<BTreeMap<String, String>>,
    credentials: Option<BTreeMap<String, Result<ClientCredentials, String>>>,
}

impl Lookups {
    async fn read(clients: &Clients, desired: &Stack) -> Result<Lookups, AwsError> {
        let hostnames: BTreeSet<String> = desired
            .load_balancers
            .iter()
            .flat_map(|lb| &lb.listeners)
            .flat_map(|l| &l.certificates)
            .filter_map(|c| c.hostname().map(str::to_string))
            .collect();
        let certificates = if hostnames.is_empty() {
            None
        } else {
            Some(find_certificates(clients, &hostnames).await?)
        };
        let secrets = named_secrets(desired);
        let credentials = if secrets.is_empty() {
            None
        } else {
            Some(read_credentials(clients, &secrets).await?)
        };
        Ok(Lookups {
            certificates,
            credentials,
        })
    }
}

/// The plan that takes `observed` to the desired state of `wanted`, with what stays as it is
/// and why. Pure.
fn plan_against(
    wanted: &PlanFor<'_>,
    lookups: &Lookups,
    observed: Observed,
    mut ids: AwsIds,
) -> LivePlan {
    let mut desired = wanted.translation.stack.clone();
    let mut held_back = Vec::new();
    if let Some(found) = &lookups.certificates {
        ids.certificates.extend(found.clone());
        held_back.extend(resolve_certificates(&mut desired, found));
    }
    if let Some(found) = &lookups.credentials {
        held_back.extend(resolve_credentials(&mut desired, found, &mut ids));
    }
    held_back.extend(preflight::unusable_target_groups(&mut desired, &ids));
    let kept = holds::kept_teams(
        wanted.revision,
        wanted.admission,
        wanted.translation,
        wanted.held,
    );
    holds::drop_held_rules(&mut desired, &kept);
    let hold = holds::held_gateways(
        wanted.translation,
        &desired,
        &observed,
        &kept,
        wanted.rules_quota,
    );
    held_back.extend(hold.iter().map(|(gateway, causes)| HeldBack::Gateway {
        gateway: gateway.clone(),
        causes: causes.iter().cloned().collect(),
    }));
    holds::hold_back(&mut desired, &observed.stack, &hold);
    // A refused team's own rules (told apart by their owner tag) stay as they are: to the
    // diff they are foreign. The plan keeps the fingerprint of what AWS holds.
    let mut seen = observed.clone();
    held_back.extend(holds::keep_team_rules(
        &mut seen,
        &mut desired,
        &kept,
        &hold,
    ));
    // Last: a listener kept as it is must equal what the diff sees, kept teams' rules
    // (already foreign to it) included.
    holds::hold_listeners_without_certificates(&mut desired, &seen.stack);
    let plan = diff(&desired, &seen, Some(wanted.revision.commit.clone()));
    LivePlan {
        plan,
        ids,
        observed,
        held_back,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tenants::{PlatformSpec, TeamSpec, TenantsSpec};
    use crate::source::{RefusedEntry, RefusedReason};

    fn tenancy() -> Tenancy {
        let team = |name: &str| TeamSpec {
            name: name.into(),
            path: format!("teams/{name}/"),
            namespace: name.into(),
            labels: Default::default(),
            owners: vec![],
            hostnames: vec![],
            paths: Default::default(),
            target_groups: vec![],
        };
        let spec = TenantsSpec {
            api_version: "gwsync.dev/v1alpha1".into(),
            kind: "Tenants".into(),
            metadata: None,
            platform: PlatformSpec {
                path: "platform/".into(),
                namespace: "platform".into(),
                labels: Default::default(),
                owners: vec![],
            },
            teams: vec![team("a"), team("b")],
        };
        Tenancy::from_spec(&spec, "tenants.yaml", 1).unwrap()
    }

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_replaced_team_gets_its_stored_files_and_nothing_of_its_current_folder() {
        let current = Snapshot {
            revision: Revision {
                commit: "c".repeat(40),
                author: "t".into(),
                committed_at: 0,
                summary: "now".into(),
            },
            files: vec![
                file("platform/gw.yaml", "platform now"),
                file("teams/a/new.yaml", "a now"),
                file("teams/b/r.yaml", "b now"),
                file("tenants.yaml", "tenants now"),
            ],
            entries_refused: vec![
                RefusedEntry {
                    path: "teams/a/link.yaml".into(),
                    reason: RefusedReason::NonUtf8Path,
                },
                RefusedEntry {
                    path: "teams/b/link.yaml".into(),
                    reason: RefusedReason::NonUtf8Path,
                },
            ],
            submodules: vec![],
            over_limits: None,
        };
        let replacements = BTreeMap::from([(
            "a".to_string(),
            vec![("teams/a/old.yaml".to_string(), "a before".to_string())],
        )]);
        let composed = compose_snapshot(&current, &tenancy(), &replacements);
        let files: Vec<(&str, &[u8])> = composed
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.bytes.as_slice()))
            .collect();
        assert_eq!(
            files,
            [
                ("platform/gw.yaml", b"platform now".as_slice()),
                ("teams/a/old.yaml", b"a before"),
                ("teams/b/r.yaml", b"b now"),
                ("tenants.yaml", b"tenants now"),
            ]
        );
        let refused: Vec<&str> = composed
            .entries_refused
            .iter()
            .map(|e| e.path.as_str())
            .collect();
        assert_eq!(refused, ["teams/b/link.yaml"]);
        assert_eq!(composed.revision, current.revision);
    }
}
