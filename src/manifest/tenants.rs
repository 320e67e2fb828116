//! The `Tenants` kind (`gwsync.dev/v1alpha1`): the platform team's map of who owns what.
//!
//! This is a user-facing contract: fields may be added, never renamed. Only its shape lives
//! here; what it means (folders, grants, checks on it) is `tenancy`'s job.

use super::Metadata;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole `tenants.yaml` document.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TenantsSpec {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    pub platform: PlatformSpec,
    #[serde(default)]
    pub teams: Vec<TeamSpec>,
}

/// The platform team: its folder, namespace and owners.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlatformSpec {
    pub path: String,
    pub namespace: String,
    /// Labels of the platform namespace, matched by `allowedRoutes` selectors.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<String>,
}

/// One application team and its grants.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TeamSpec {
    pub name: String,
    pub path: String,
    pub namespace: String,
    /// Labels of the team's namespace, matched by `allowedRoutes` selectors.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<String>,
    /// Hostnames the team may route: exact, `*.suffix` (any subdomain) or `*` (any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<String>,
    /// Path prefixes the team may claim on hostnames it shares with others.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub paths: BTreeMap<String, Vec<String>>,
    /// Name globs of existing target groups (`TargetGroupName` backends) it may forward to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_groups: Vec<String>,
}
