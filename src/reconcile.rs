//! Reconcile: from a translated revision and the live AWS state to a plan.
//!
//! The steps every command that changes AWS shares (and, later, the daemon): stand a refused
//! team's last admitted files in for its folder ([`compose_snapshot`]), observe what gwsync
//! owns, find the ACM certificates for listener hostnames, hold back the Gateways that must
//! not change in this revision, and diff. It returns the plan with the AWS identifiers
//! `apply` needs; it changes nothing itself.

use crate::alb::{Certificate, Stack};
use crate::aws::AwsIds;
use crate::aws::client::Clients;
use crate::aws::observe::{AwsError, find_certificates, observe, resolve_certificates};
use crate::plan::{Observed, Plan, diff};
use crate::source::{Revision, Snapshot, SourceFile};
use crate::tenancy::{Admission, PathOwner, Tenancy};
use crate::translate::Translation;
use crate::validate::Report;
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
    }
}

/// A plan against the live configuration, with what it was computed from.
pub struct LivePlan {
    pub plan: Plan,
    pub ids: AwsIds,
    pub observed: Observed,
    /// Problems that held a Gateway back (refused teams, missing certificates).
    pub held_back: Vec<String>,
}

/// Reads AWS and computes the plan for a checked revision.
pub async fn live_plan(
    clients: &Clients,
    instance_id: &str,
    revision: &Revision,
    admission: &Admission,
    translation: &Translation,
) -> Result<LivePlan, AwsError> {
    let (observed, mut ids) = observe(clients, instance_id).await?;
    let mut desired = translation.stack.clone();
    let mut held_back = Vec::new();

    let hostnames: BTreeSet<String> = desired
        .load_balancers
        .iter()
        .flat_map(|lb| &lb.listeners)
        .flat_map(|l| &l.certificates)
        .filter_map(|c| match c {
            Certificate::ForHostname(h) => Some(h.clone()),
            Certificate::Arn(_) => None,
        })
        .collect();
    if !hostnames.is_empty() {
        let found = find_certificates(clients, &hostnames).await?;
        ids.certificates.extend(found.clone());
        for d in resolve_certificates(&mut desired, &found) {
            held_back.push(d.to_string());
        }
    }
    let hold: BTreeSet<String> = held_gateways(revision, admission, translation, &desired);
    for gateway in &hold {
        held_back.push(format!(
            "Gateway {gateway} is left as it is on AWS: a team with routes on it is refused, or a listener has no certificate (see above)"
        ));
    }
    hold_back(&mut desired, &observed.stack, &hold);
    let plan = diff(&desired, &observed, Some(revision.commit.clone()));
    Ok(LivePlan {
        plan,
        ids,
        observed,
        held_back,
    })
}

/// Gateways that must not change in this revision: refused by translation, holding a
/// listener whose certificate was not found, or possibly carrying routes of a team that is
/// refused and has no last admitted state to stand in (see [`compose_snapshot`]): its rules
/// on AWS would otherwise be deleted.
fn held_gateways(
    revision: &Revision,
    admission: &Admission,
    translation: &Translation,
    desired: &Stack,
) -> BTreeSet<String> {
    let mut hold: BTreeSet<String> = translation.refused_gateways.clone();
    for lb in &desired.load_balancers {
        let unresolved = lb
            .listeners
            .iter()
            .flat_map(|l| &l.certificates)
            .any(|c| matches!(c, Certificate::ForHostname(_)));
        if unresolved {
            hold.insert(lb.gateway.clone());
        }
    }
    let view = Report {
        revision,
        admission,
        translation,
        team: None,
    };
    for team in &admission.teams {
        if !view.team_admitted(&team.name) {
            // A refused team's attachments are gone; its routes may sit on any Gateway.
            hold.extend(desired.load_balancers.iter().map(|lb| lb.gateway.clone()));
        }
    }
    hold
}

/// Replaces held Gateways in the desired state by what AWS has, so that the diff leaves them
/// alone.
fn hold_back(desired: &mut Stack, observed: &Stack, hold: &BTreeSet<String>) {
    desired
        .load_balancers
        .retain(|lb| !hold.contains(&lb.gateway));
    desired.load_balancers.extend(
        observed
            .load_balancers
            .iter()
            .filter(|lb| hold.contains(&lb.gateway))
            .cloned(),
    );
    desired
        .load_balancers
        .sort_by(|a, b| a.gateway.cmp(&b.gateway));
}
