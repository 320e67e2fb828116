//! Route ages, the precedence tie-breaker (when each route first entered the history), for a
//! checked revision, without walking the whole history each time.
//!
//! Ages come from the first-parent history of the revision. What an earlier walk found is kept
//! with the commit it ended at ([`AgesUpTo`]): in memory by the daemon between revisions, and
//! on disk in the repository's Git directory (`<git dir>/gwsync/route-ages.json`) for the next
//! process, CLI or daemon. A later walk reads only the commits after that tip, provided the tip
//! is on the revision's first-parent history and the inputs (the tenants file, the limits) are
//! the same; otherwise the whole history is walked again. Either way the result is the same.
//! The cache is advisory: an unreadable, foreign or stale file only costs a whole walk, and a
//! file that cannot be written is skipped.

use crate::config::Config;
use crate::source::{Revision, Snapshot, Source, SourceError};
use crate::tenancy::{Admission, Tenancy};
use crate::translate::RouteAges;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The cache file's name in the Git directory's gwsync folder.
const CACHE_FILE: &str = "route-ages.json";
/// Goes into [`AgesUpTo::inputs`]: a change of how ages are derived invalidates old files.
const FORMAT: &str = "gwsync route ages v1";

/// Route ages as of `tip`, valid while `inputs` (a digest of the tenants file, which says
/// which folder is whose and its namespace, and of the limits) stays the same.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct AgesUpTo {
    tip: String,
    inputs: String,
    ages: RouteAges,
}

impl AgesUpTo {
    /// The ages of `revision`, for the next walk to start from.
    fn new(
        revision: &Revision,
        snapshot: &Snapshot,
        config: &Config,
        ages: &RouteAges,
    ) -> AgesUpTo {
        AgesUpTo {
            tip: revision.commit.clone(),
            inputs: inputs(snapshot, config),
            ages: ages.clone(),
        }
    }

    /// The ages the last process left in `source`'s Git directory, if any.
    fn load(source: &Source) -> Option<AgesUpTo> {
        let bytes = source.read_cache(CACHE_FILE)?;
        serde_json::from_slice(&bytes)
            .inspect_err(|error| tracing::debug!(%error, "route ages cache unreadable"))
            .ok()
    }

    /// Leaves these ages for the next process; a failure (a read-only checkout) is logged.
    fn save(&self, source: &Source) {
        let bytes = serde_json::to_vec(self).expect("route ages serialise");
        if let Err(error) = source.write_cache(CACHE_FILE, &bytes) {
            tracing::debug!(%error, "route ages cache not written");
        }
    }

    /// Whether these are already the ages of `revision` with these inputs: nothing to save.
    fn is_for(&self, revision: &Revision, snapshot: &Snapshot, config: &Config) -> bool {
        self.tip == revision.commit && self.inputs == inputs(snapshot, config)
    }
}

/// What the ages of a history depend on besides the history.
fn inputs(snapshot: &Snapshot, config: &Config) -> String {
    let mut hasher = Sha256::new();
    hasher.update(FORMAT.as_bytes());
    hasher.update(format!("{:?}", config.limits).as_bytes());
    hasher.update(config.repo.tenants_file.as_bytes());
    hasher.update(tenants_bytes(snapshot, config));
    hex::encode(hasher.finalize())
}

fn tenants_bytes<'a>(snapshot: &'a Snapshot, config: &Config) -> &'a [u8] {
    snapshot
        .files
        .iter()
        .find(|f| f.path == config.repo.tenants_file)
        .map_or(&[], |f| f.bytes.as_slice())
}

/// Route ages of `revision` from `previous` (else the ages the last process left on disk),
/// leaving the new ones on disk when they differ; with whether only new commits were walked,
/// and the ages as of this revision for the next walk (None when the tenants file is
/// refused).
pub(super) fn route_ages(
    source: &Source,
    revision: &Revision,
    snapshot: &Snapshot,
    admission: &Admission,
    config: &Config,
    previous: Option<AgesUpTo>,
) -> Result<(RouteAges, bool, Option<AgesUpTo>), SourceError> {
    let previous = previous.or_else(|| AgesUpTo::load(source));
    let saved = previous
        .as_ref()
        .is_some_and(|p| p.is_for(revision, snapshot, config));
    let Some(tenancy) = &admission.tenancy else {
        return Ok((RouteAges::new(), false, None));
    };
    let (ages, incremental) = walk(source, revision, snapshot, tenancy, config, previous)?;
    let up_to = AgesUpTo::new(revision, snapshot, config, &ages);
    if !saved {
        up_to.save(source);
    }
    Ok((ages, incremental, Some(up_to)))
}

/// Route ages from the history of `revision`. With the ages of an earlier tip on the same
/// first-parent history and the same inputs, only the commits since that tip are read (and
/// the second value is true); each route keeps its earliest time either way.
fn walk(
    source: &Source,
    revision: &Revision,
    snapshot: &Snapshot,
    tenancy: &Tenancy,
    config: &Config,
    previous: Option<AgesUpTo>,
) -> Result<(RouteAges, bool), SourceError> {
    let mut ages = RouteAges::new();
    let previous = previous.filter(|p| p.inputs == inputs(snapshot, config));
    let incremental = source.for_each_introduction(
        revision,
        previous.as_ref().map(|p| p.tip.as_str()),
        &config.limits,
        &|path| crate::translate::ages::may_hold_routes(tenancy, path),
        &mut |time, path, bytes| {
            crate::translate::ages::record(&mut ages, tenancy, &config.limits, time, path, bytes)
        },
    )?;
    if let Some(previous) = previous.filter(|_| incremental) {
        for (route, time) in previous.ages {
            let age = ages.entry(route).or_insert(time);
            *age = (*age).min(time);
        }
    }
    Ok((ages, incremental))
}
