//! The daemon's Prometheus metrics: one registry, every series named `gwsync_*`, and its text
//! exposition for `GET /metrics`.
//!
//! What it owns: the metric names, their help texts, label sets and buckets, and the encoding
//! (Prometheus text format 0.0.4, [`CONTENT_TYPE`]). Label values are what the callers pass;
//! the known ones (the `*_OUTCOMES` / `*_RESULTS` constants) are created at zero up front,
//! so a rate over them is defined from the first scrape on.
//!
//! What it must not do: decide anything. The reconcile loop, the webhook handler and the AWS
//! clients (through [`CallObserver`]) report what happened; nothing here reads Git, AWS or the
//! store, and nothing reads the metrics back to make a decision.

use crate::aws::client::{CallObserver, CallOutcome};
use crate::store::{TeamRecord, TeamState};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// The `Content-Type` of what [`Metrics::encode`] returns (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Outcomes of a reconcile, as the loop reports them: a sync's (`SyncOutcome::label`),
/// `stalled` when the retries ran out, `busy` when another gwsync held the apply lease.
pub const RECONCILE_OUTCOMES: [&str; 9] = [
    "applied",
    "unchanged",
    "failed",
    "pinned",
    "invalid",
    "guarded",
    "frozen",
    "stalled",
    "busy",
];

/// Outcomes of a Git fetch.
pub const FETCH_OUTCOMES: [&str; 2] = ["ok", "error"];

/// Results of a `POST /webhook`.
pub const WEBHOOK_RESULTS: [&str; 7] = [
    "accepted",
    "unauthorized",
    "too_large",
    "rate_limited",
    "disabled",
    "bad_request",
    "unavailable",
];

/// Results of a configuration reload.
pub const CONFIG_RELOAD_RESULTS: [&str; 2] = ["ok", "invalid"];

/// How much of AWS a plan read (`Observation::label`).
pub const OBSERVE_SCOPES: [&str; 2] = ["full", "incremental"];

/// Bucket bounds, in seconds, for reconcile and fetch durations: a no-op reconcile takes tens
/// of milliseconds, a large apply paced by the write rate limit minutes.
const DURATION_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChangeLabels {
    change: String,
}

/// The `change` label of `gwsync_leadership_changes_total`.
pub const LEADERSHIP_CHANGES: [&str; 2] = ["acquired", "lost"];
/// The `result` label of `gwsync_lease_renewals_total`.
pub const RENEWAL_RESULTS: [&str; 2] = ["ok", "failed"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabels {
    scope: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TeamLabels {
    team: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TeamStateLabels {
    team: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AwsCallLabels {
    service: String,
    operation: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AwsOperationLabels {
    service: String,
    operation: String,
}

type DurationFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Every metric of the daemon. Cheap to update from any thread; share it behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconcile_duration: DurationFamily<OutcomeLabels>,
    reconciles: Family<OutcomeLabels, Counter>,
    team_state: Family<TeamStateLabels, Gauge>,
    team_last_applied: Family<TeamLabels, Gauge>,
    team_failures: Family<TeamLabels, Gauge>,
    /// The teams with series, so that a team gone from the repository loses them.
    known_teams: Mutex<BTreeSet<String>>,
    drift_resources: Gauge,
    drift_detected: Counter,
    drift_healed: Counter,
    stalled: Gauge,
    ready: Gauge,
    last_reconcile: Gauge,
    git_fetch_duration: DurationFamily<OutcomeLabels>,
    webhook_requests: Family<ResultLabels, Counter>,
    config_reloads: Family<ResultLabels, Counter>,
    aws_calls: Family<AwsCallLabels, Counter>,
    aws_throttles: Family<AwsOperationLabels, Counter>,
    observes: Family<ScopeLabels, Counter>,
    leader: Gauge,
    leader_epoch: Gauge,
    leadership_changes: Family<ChangeLabels, Counter>,
    lease_renewals: Family<ResultLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric registered, the known label values at zero.
    pub fn new() -> Metrics {
        let metrics = Metrics {
            registry: Registry::with_prefix("gwsync"),
            reconcile_duration: Family::new_with_constructor(duration_histogram),
            reconciles: Family::default(),
            team_state: Family::default(),
            team_last_applied: Family::default(),
            team_failures: Family::default(),
            known_teams: Mutex::default(),
            drift_resources: Gauge::default(),
            drift_detected: Counter::default(),
            drift_healed: Counter::default(),
            stalled: Gauge::default(),
            ready: Gauge::default(),
            last_reconcile: Gauge::default(),
            git_fetch_duration: Family::new_with_constructor(duration_histogram),
            webhook_requests: Family::default(),
            config_reloads: Family::default(),
            aws_calls: Family::default(),
            aws_throttles: Family::default(),
            observes: Family::default(),
            leader: Gauge::default(),
            leader_epoch: Gauge::default(),
            leadership_changes: Family::default(),
            lease_renewals: Family::default(),
        };
        metrics.register()
    }

    fn register(mut self) -> Metrics {
        let r = &mut self.registry;
        r.register(
            "reconcile_duration_seconds",
            "Duration of a reconcile, from trigger to recorded outcome",
            self.reconcile_duration.clone(),
        );
        r.register(
            "reconciles",
            "Reconciles run, by outcome",
            self.reconciles.clone(),
        );
        r.register(
            "team_state",
            "1 for the state the team is in, 0 for its other states",
            self.team_state.clone(),
        );
        r.register(
            "team_last_applied_timestamp_seconds",
            "Unix time the revision live for the team was applied",
            self.team_last_applied.clone(),
        );
        r.register(
            "team_apply_failures",
            "Consecutive applies in which a change of the team failed (0 when in sync)",
            self.team_failures.clone(),
        );
        r.register(
            "drift_resources",
            "AWS resources that differed from the desired state at the last observe",
            self.drift_resources.clone(),
        );
        r.register(
            "drift_detected",
            "Reconciles that found AWS drifted from the last applied state",
            self.drift_detected.clone(),
        );
        r.register(
            "drift_healed",
            "Reconciles that put drifted AWS resources back",
            self.drift_healed.clone(),
        );
        r.register(
            "stalled",
            "1 while the reconcile loop is stalled (it keeps failing and backs off), else 0",
            self.stalled.clone(),
        );
        r.register(
            "ready",
            "1 once a reconcile has succeeded, else 0",
            self.ready.clone(),
        );
        r.register(
            "last_reconcile_timestamp_seconds",
            "Unix time the last reconcile ended",
            self.last_reconcile.clone(),
        );
        r.register(
            "git_fetch_duration_seconds",
            "Duration of a Git fetch, by outcome",
            self.git_fetch_duration.clone(),
        );
        r.register(
            "webhook_requests",
            "Requests to POST /webhook, by result",
            self.webhook_requests.clone(),
        );
        r.register(
            "config_reloads",
            "Configuration reloads, by result",
            self.config_reloads.clone(),
        );
        r.register(
            "aws_calls",
            "AWS API operations, by final outcome after the SDK's retries",
            self.aws_calls.clone(),
        );
        r.register(
            "aws_throttles",
            "Attempts AWS answered with a throttling error, retried ones included",
            self.aws_throttles.clone(),
        );
        r.register(
            "observes",
            "Reads of AWS for a plan, by scope: full (everything owned) or incremental (only what the plan touches)",
            self.observes.clone(),
        );
        r.register(
            "leader",
            "1 while this instance holds the leader lease (it reconciles), 0 while standby",
            self.leader.clone(),
        );
        r.register(
            "leader_epoch",
            "The epoch of the leader lease this instance last took (0: never)",
            self.leader_epoch.clone(),
        );
        r.register(
            "leadership_changes",
            "Times this instance took (acquired) or lost the leader lease",
            self.leadership_changes.clone(),
        );
        r.register(
            "lease_renewals",
            "Renewals of the leader lease by this instance, by result",
            self.lease_renewals.clone(),
        );
        // `get_or_create` creates the series at zero; the guard it returns is not needed.
        for outcome in RECONCILE_OUTCOMES {
            let labels = outcome_labels(outcome);
            let _ = self.reconciles.get_or_create(&labels);
            let _ = self.reconcile_duration.get_or_create(&labels);
        }
        for outcome in FETCH_OUTCOMES {
            let _ = self
                .git_fetch_duration
                .get_or_create(&outcome_labels(outcome));
        }
        for result in WEBHOOK_RESULTS {
            let _ = self.webhook_requests.get_or_create(&result_labels(result));
        }
        for result in CONFIG_RELOAD_RESULTS {
            let _ = self.config_reloads.get_or_create(&result_labels(result));
        }
        for scope in OBSERVE_SCOPES {
            let _ = self.observes.get_or_create(&scope_labels(scope));
        }
        for change in LEADERSHIP_CHANGES {
            let _ = self.leadership_changes.get_or_create(&ChangeLabels {
                change: change.to_string(),
            });
        }
        for result in RENEWAL_RESULTS {
            let _ = self.lease_renewals.get_or_create(&result_labels(result));
        }
        self
    }

    /// This instance took the leader lease at `epoch`.
    pub fn became_leader(&self, epoch: i64) {
        self.leader.set(1);
        self.leader_epoch.set(epoch);
        self.leadership_change("acquired");
    }

    /// This instance lost the leader lease.
    pub fn stepped_down(&self) {
        self.leader.set(0);
        self.leadership_change("lost");
    }

    fn leadership_change(&self, change: &str) {
        self.leadership_changes
            .get_or_create(&ChangeLabels {
                change: change.to_string(),
            })
            .inc();
    }

    /// Renewals of the leader lease since the last call: `ok` and `failed`.
    pub fn lease_renewed(&self, ok: u64, failed: u64) {
        self.lease_renewals
            .get_or_create(&result_labels("ok"))
            .inc_by(ok);
        self.lease_renewals
            .get_or_create(&result_labels("failed"))
            .inc_by(failed);
    }

    /// A plan read AWS: `scope` is one of [`OBSERVE_SCOPES`].
    pub fn observed(&self, scope: &str) {
        self.observes.get_or_create(&scope_labels(scope)).inc();
    }

    /// One reconcile that took `seconds` and ended in `outcome` (see [`RECONCILE_OUTCOMES`]).
    pub fn observe_reconcile(&self, seconds: f64, outcome: &str) {
        let labels = outcome_labels(outcome);
        self.reconcile_duration
            .get_or_create(&labels)
            .observe(seconds);
        self.reconciles.get_or_create(&labels).inc();
    }

    /// Every team's series from its record; teams gone from the repository lose theirs.
    pub fn set_teams(&self, records: &[TeamRecord]) {
        let now: BTreeSet<String> = records.iter().map(|r| r.team.clone()).collect();
        let mut known = self.known_teams.lock().expect("known teams lock");
        for gone in known.difference(&now) {
            self.forget_team(gone);
        }
        for record in records {
            self.set_team_state(&record.team, record.state);
            self.set_team_failures(&record.team, record.failures);
            if let Some(at) = record.live_at {
                self.set_team_applied(&record.team, at);
            }
        }
        *known = now;
    }

    /// Puts `team` in `state`: that series to 1, the team's other states to 0 (one-hot).
    pub fn set_team_state(&self, team: &str, state: TeamState) {
        for s in TeamState::ALL {
            self.team_state
                .get_or_create(&team_state_labels(team, s.as_str()))
                .set(i64::from(s == state));
        }
    }

    /// Consecutive applies in which a change of `team` failed.
    pub fn set_team_failures(&self, team: &str, failures: u32) {
        self.team_failures
            .get_or_create(&TeamLabels {
                team: team.to_owned(),
            })
            .set(i64::from(failures));
    }

    /// Drops every series of a team that is no longer in `tenants.yaml`, so that it does not
    /// linger at its last value.
    pub fn forget_team(&self, team: &str) {
        for s in TeamState::ALL {
            self.team_state.remove(&team_state_labels(team, s.as_str()));
        }
        let labels = TeamLabels {
            team: team.to_owned(),
        };
        self.team_last_applied.remove(&labels);
        self.team_failures.remove(&labels);
    }

    /// When the revision live for the team was applied.
    pub fn set_team_applied(&self, team: &str, unix_seconds: i64) {
        self.team_last_applied
            .get_or_create(&TeamLabels {
                team: team.to_owned(),
            })
            .set(unix_seconds);
    }

    /// How many AWS resources differ from the desired state right now.
    pub fn set_drift(&self, differing_resources: usize) {
        self.drift_resources
            .set(i64::try_from(differing_resources).unwrap_or(i64::MAX));
    }

    /// A reconcile found drift.
    pub fn drift_detected(&self) {
        self.drift_detected.inc();
    }

    /// A reconcile put drifted resources back.
    pub fn drift_healed(&self) {
        self.drift_healed.inc();
    }

    pub fn set_stalled(&self, stalled: bool) {
        self.stalled.set(i64::from(stalled));
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// When the last reconcile ended.
    pub fn set_last_reconcile(&self, unix_seconds: i64) {
        self.last_reconcile.set(unix_seconds);
    }

    /// One Git fetch that took `seconds` and ended in `outcome` ("ok" or "error").
    pub fn observe_git_fetch(&self, seconds: f64, outcome: &str) {
        self.git_fetch_duration
            .get_or_create(&outcome_labels(outcome))
            .observe(seconds);
    }

    /// One `POST /webhook`, answered with `result` (see [`WEBHOOK_RESULTS`]).
    pub fn webhook(&self, result: &str) {
        self.webhook_requests
            .get_or_create(&result_labels(result))
            .inc();
    }

    /// One configuration reload, "ok" or "invalid".
    pub fn config_reload(&self, result: &str) {
        self.config_reloads
            .get_or_create(&result_labels(result))
            .inc();
    }

    /// Every metric in the Prometheus text format (serve it as [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

impl CallObserver for Metrics {
    fn call(&self, service: &'static str, operation: &str, outcome: CallOutcome) {
        self.aws_calls
            .get_or_create(&AwsCallLabels {
                service: service.to_owned(),
                operation: operation.to_owned(),
                outcome: outcome.as_str().to_owned(),
            })
            .inc();
    }

    fn throttled_attempt(&self, service: &'static str, operation: &str) {
        self.aws_throttles
            .get_or_create(&AwsOperationLabels {
                service: service.to_owned(),
                operation: operation.to_owned(),
            })
            .inc();
    }
}

fn outcome_labels(outcome: &str) -> OutcomeLabels {
    OutcomeLabels {
        outcome: outcome.to_owned(),
    }
}

fn result_labels(result: &str) -> ResultLabels {
    ResultLabels {
        result: result.to_owned(),
    }
}

fn scope_labels(scope: &str) -> ScopeLabels {
    ScopeLabels {
        scope: scope.to_owned(),
    }
}

fn team_state_labels(team: &str, state: &str) -> TeamStateLabels {
    TeamStateLabels {
        team: team.to_owned(),
        state: state.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Sample lines (`name{labels} value`) of the exposition, without comments.
    fn samples(metrics: &Metrics) -> BTreeMap<String, String> {
        metrics
            .encode()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (series, value) = l.rsplit_once(' ').expect("a sample line");
                (series.to_owned(), value.to_owned())
            })
            .collect()
    }

    fn value(metrics: &Metrics, series: &str) -> Option<String> {
        samples(metrics).get(series).cloned()
    }

    #[test]
    fn every_metric_is_exposed_with_the_prefix_and_help() {
        let m = Metrics::new();
        // Families without a series yet are left out of the exposition.
        m.set_team_state("payments", TeamState::InSync);
        m.set_team_applied("payments", 1);
        m.set_team_failures("payments", 0);
        m.call("elbv2", "DescribeRules", CallOutcome::Ok);
        m.throttled_attempt("elbv2", "DescribeRules");
        let text = m.encode();
        for name in [
            "gwsync_reconcile_duration_seconds histogram",
            "gwsync_reconciles_total counter",
            "gwsync_team_state gauge",
            "gwsync_team_last_applied_timestamp_seconds gauge",
            "gwsync_team_apply_failures gauge",
            "gwsync_drift_resources gauge",
            "gwsync_drift_detected_total counter",
            "gwsync_drift_healed_total counter",
            "gwsync_stalled gauge",
            "gwsync_ready gauge",
            "gwsync_last_reconcile_timestamp_seconds gauge",
            "gwsync_git_fetch_duration_seconds histogram",
            "gwsync_webhook_requests_total counter",
            "gwsync_config_reloads_total counter",
            "gwsync_aws_calls_total counter",
            "gwsync_aws_throttles_total counter",
        ] {
            assert!(text.contains(&format!("# TYPE {name}\n")), "{name}\n{text}");
        }
        assert!(text.contains("# HELP gwsync_ready "), "{text}");
    }

    #[test]
    fn known_label_values_start_at_zero() {
        let m = Metrics::new();
        for outcome in RECONCILE_OUTCOMES {
            assert_eq!(
                value(
                    &m,
                    &format!("gwsync_reconciles_total{{outcome=\"{outcome}\"}}")
                ),
                Some("0".into())
            );
        }
        for result in WEBHOOK_RESULTS {
            assert_eq!(
                value(
                    &m,
                    &format!("gwsync_webhook_requests_total{{result=\"{result}\"}}")
                ),
                Some("0".into())
            );
        }
        assert_eq!(
            value(&m, "gwsync_config_reloads_total{result=\"invalid\"}"),
            Some("0".into())
        );
        assert_eq!(
            value(
                &m,
                "gwsync_git_fetch_duration_seconds_count{outcome=\"error\"}"
            ),
            Some("0".into())
        );
    }

    #[test]
    fn a_reconcile_counts_and_lands_in_its_bucket() {
        let m = Metrics::new();
        m.observe_reconcile(0.7, "applied");
        m.observe_reconcile(0.02, "unchanged");
        assert_eq!(
            value(&m, "gwsync_reconciles_total{outcome=\"applied\"}"),
            Some("1".into())
        );
        let s = samples(&m);
        assert_eq!(
            s["gwsync_reconcile_duration_seconds_bucket{outcome=\"applied\",le=\"0.5\"}"],
            "0"
        );
        assert_eq!(
            s["gwsync_reconcile_duration_seconds_bucket{outcome=\"applied\",le=\"1\"}"],
            "1"
        );
        assert_eq!(
            s["gwsync_reconcile_duration_seconds_bucket{outcome=\"applied\",le=\"300\"}"],
            "1"
        );
        assert_eq!(
            s["gwsync_reconcile_duration_seconds_bucket{outcome=\"unchanged\",le=\"0.05\"}"],
            "1"
        );
        assert_eq!(
            s["gwsync_reconcile_duration_seconds_sum{outcome=\"applied\"}"],
            "0.7"
        );
    }

    #[test]
    fn team_state_is_one_hot_and_a_forgotten_team_disappears() {
        let m = Metrics::new();
        m.set_team_state("payments", TeamState::Failed);
        m.set_team_failures("payments", 2);
        m.set_team_state("payments", TeamState::InSync);
        m.set_team_applied("payments", 1_700_000_000);
        m.set_team_state("orders", TeamState::Stalled);
        let s = samples(&m);
        assert_eq!(
            s["gwsync_team_state{team=\"payments\",state=\"in-sync\"}"],
            "1"
        );
        assert_eq!(
            s["gwsync_team_state{team=\"payments\",state=\"failed\"}"],
            "0"
        );
        assert_eq!(
            s["gwsync_team_state{team=\"orders\",state=\"stalled\"}"],
            "1"
        );
        let orders_states = s
            .keys()
            .filter(|k| k.starts_with("gwsync_team_state{team=\"orders\""))
            .count();
        assert_eq!(orders_states, TeamState::ALL.len(), "one series per state");
        assert_eq!(
            s["gwsync_team_last_applied_timestamp_seconds{team=\"payments\"}"],
            "1700000000"
        );
        assert_eq!(s["gwsync_team_apply_failures{team=\"payments\"}"], "2");

        m.forget_team("payments");
        let text = m.encode();
        assert!(!text.contains("payments"), "{text}");
        assert!(text.contains("team=\"orders\""), "{text}");
    }

    #[test]
    fn gauges_and_counters_hold_what_they_are_given() {
        let m = Metrics::new();
        m.set_drift(3);
        m.drift_detected();
        m.drift_healed();
        m.drift_healed();
        m.set_stalled(true);
        m.set_ready(true);
        m.set_last_reconcile(1_700_000_123);
        m.observe_git_fetch(1.5, "ok");
        m.webhook("accepted");
        m.config_reload("invalid");
        let s = samples(&m);
        assert_eq!(s["gwsync_drift_resources"], "3");
        assert_eq!(s["gwsync_drift_detected_total"], "1");
        assert_eq!(s["gwsync_drift_healed_total"], "2");
        assert_eq!(s["gwsync_stalled"], "1");
        assert_eq!(s["gwsync_ready"], "1");
        assert_eq!(s["gwsync_last_reconcile_timestamp_seconds"], "1700000123");
        assert_eq!(
            s["gwsync_git_fetch_duration_seconds_count{outcome=\"ok\"}"],
            "1"
        );
        assert_eq!(s["gwsync_webhook_requests_total{result=\"accepted\"}"], "1");
        assert_eq!(s["gwsync_config_reloads_total{result=\"invalid\"}"], "1");
        m.set_stalled(false);
        assert_eq!(value(&m, "gwsync_stalled"), Some("0".into()));
    }

    #[test]
    fn aws_calls_and_throttles_are_counted_per_operation() {
        let m = Metrics::new();
        m.throttled_attempt("elbv2", "DescribeRules");
        m.throttled_attempt("elbv2", "DescribeRules");
        m.call("elbv2", "DescribeRules", CallOutcome::Ok);
        m.call("acm", "ListCertificates", CallOutcome::Throttled);
        let s = samples(&m);
        assert_eq!(
            s["gwsync_aws_calls_total{service=\"elbv2\",operation=\"DescribeRules\",outcome=\"ok\"}"],
            "1"
        );
        assert_eq!(
            s["gwsync_aws_calls_total{service=\"acm\",operation=\"ListCertificates\",outcome=\"throttled\"}"],
            "1"
        );
        assert_eq!(
            s["gwsync_aws_throttles_total{service=\"elbv2\",operation=\"DescribeRules\"}"],
            "2"
        );
    }
}
