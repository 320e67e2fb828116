//! `gwsync run`: the long-running reconciler a platform team runs as a systemd service.
//!
//! The loop owns *when* to reconcile; [`reconciler`] owns *how*. It wakes on:
//! - the poll timer (`repo.poll_interval` with ±10% jitter): fetch, reconcile if the tracked
//!   branch moved;
//! - a new commit in a local repository or an edit of the configuration file ([`watch`]);
//! - a verified push webhook ([`http`], [`webhook`]): it only triggers a fetch;
//! - SIGHUP or a configuration edit: reload, keeping the old configuration if the new one is
//!   invalid, then reconcile again;
//! - an operator's action made with the CLI while it runs (`hold`, `release`, `resume`,
//!   `rollback`): the store's counter of them is read every half second, and a change
//!   reconciles at once;
//! - the retry timer after a failed apply (exponential backoff, then `stalled`);
//! - the drift timer (`daemon.drift_interval`): observe AWS and compare with the last applied
//!   desired state; re-apply with `self_heal`;
//! - SIGTERM or SIGINT: the reconcile in flight (if any) runs to its end, then the daemon
//!   stops. Meanwhile systemd's watchdog keeps being fed and the HTTP endpoint keeps serving.
//!
//! One reconcile at a time: they run inline in this loop, and each apply takes the store's
//! apply lease, which the CLI shares.
//!
//! Several daemons may share one store (PostgreSQL): the one holding the leader lease
//! ([`leadership`]) reconciles; the others are standby. A standby daemon serves its HTTP
//! endpoint (`/readyz` answers 503 `standby`), keeps its clone and admission cache warm on
//! every poll, and passes a webhook it receives on to the leader through the store. It takes
//! over when the leader's lease is released or expires.

pub mod commit_status;
pub mod http;
pub mod leadership;
pub mod metrics;
pub mod reconciler;
pub mod watch;
pub mod webhook;

use crate::aws::client::CallObserver;
use crate::config::Config;
use crate::error_chain;
use crate::reconcile::sync::{SyncOutcome, SyncResult};
use crate::source::Revision;
use http::{Health, HttpState, StatusSource, WebhookSettings};
use leadership::{Leadership, Turn};
use metrics::Metrics;
use reconciler::{ReconcileError, Reconciler};
use sd_notify::NotifyState;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use watch::Change;

/// How long events of one burst (a commit is several renames, a save several writes) are
/// gathered into one trigger.
const COALESCE: Duration = Duration::from_millis(100);
/// `/healthz` fails when the loop has shown no life for this long.
const MAX_SILENCE: Duration = Duration::from_secs(120);
/// How often the loop shows life when systemd asks for no watchdog.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// How often the store is asked whether an operator acted with the CLI: one cheap query.
const OPERATOR_CHECK: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
    #[error("cannot install the signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("daemon.webhook_secret_env names `{0}`, which is not set")]
    MissingWebhookSecret(String),
    #[error("the webhook secret in `{var}` is refused")]
    WeakWebhookSecret {
        var: String,
        source: webhook::WeakSecret,
    },
}

/// What `gwsync run` needs from the command line.
pub struct RunOptions {
    /// Reads the configuration (at start and on every reload), with the command line's
    /// overrides applied.
    pub load_config: Box<dyn Fn() -> Result<Config, String> + Send>,
    /// The configuration file to watch, if there is one.
    pub config_file: Option<PathBuf>,
}

/// Why the loop woke up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// Look at the repository; `force` reconciles even if the branch did not move.
    Check {
        why: &'static str,
        force: bool,
    },
    Reload,
    Drift,
    Beat,
    /// Time to look whether an operator acted with the CLI.
    Operator,
    /// Time to renew, take or give up the leader lease.
    Lease,
    Stop,
}

/// The signals the daemon answers.
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    fn install() -> Result<Signals, DaemonError> {
        let s = |kind| signal(kind).map_err(DaemonError::Signals);
        Ok(Signals {
            term: s(SignalKind::terminate())?,
            int: s(SignalKind::interrupt())?,
            hup: s(SignalKind::hangup())?,
        })
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(options: RunOptions) -> Result<(), DaemonError> {
    let config = (options.load_config)().map_err(DaemonError::Config)?;
    let metrics = Arc::new(Metrics::new());
    let observer: Arc<dyn CallObserver> = metrics.clone();
    let mut reconciler = Reconciler::open(config.clone(), actor(), Some(observer)).await?;
    let mut signals = Signals::install()?;

    let health = Arc::new(Health::new());
    let tracked: Arc<Mutex<Option<Revision>>> = Arc::default();
    let (webhook_tx, mut webhook_rx) = http::trigger_channel();
    let listener = tokio::net::TcpListener::bind(config.daemon.listen)
        .await
        .map_err(|error| DaemonError::Listen {
            addr: config.daemon.listen,
            error,
        })?;
    let http_state = HttpState {
        metrics: metrics.clone(),
        health: health.clone(),
        max_silence: MAX_SILENCE,
        status: status_source(reconciler.store().clone(), tracked.clone()),
        webhook: webhook_settings(&config)?,
        trigger: webhook_tx,
    };
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = http::ConnectionLimits {
        max_connections: config.daemon.max_connections,
        header_timeout: config.daemon.header_timeout,
        connection_timeout: config.daemon.connection_timeout,
    };
    let server = tokio::spawn(http::serve(listener, http_state, limits, async {
        let _ = http_stopped.await;
    }));
    tracing::info!(listen = %config.daemon.listen, "HTTP endpoint up");

    let (change_tx, mut change_rx) = mpsc::channel::<Change>(1);
    let mut watches = start_watches(&reconciler, &options, change_tx.clone());

    let watchdog = sd_notify::watchdog_enabled();
    let mut beat = tokio::time::interval(watchdog.map_or(HEARTBEAT, |d| d / 2));
    notify(&[NotifyState::Ready, NotifyState::Status("started")]);

    let mut schedule = Schedule::new(reconciler.config());
    let mut last_seen: Option<String> = None;
    let mut operator = tokio::time::interval(OPERATOR_CHECK);
    let mut operator_actions = reconciler.store().operator_actions().await.unwrap_or(0);
    let base_store = reconciler.store().clone();
    let mut leadership = Leadership::new(&actor(), config.store.lease_duration);
    take_turn(
        &mut leadership,
        &mut reconciler,
        &base_store,
        &health,
        &metrics,
    )
    .await;
    let mut lease = tokio::time::interval(leadership.period());
    loop {
        let wake = tokio::select! {
            _ = signals.term.recv() => Wake::Stop,
            _ = signals.int.recv() => Wake::Stop,
            _ = signals.hup.recv() => Wake::Reload,
            Some(change) = change_rx.recv() => match change {
                Change::Repository => Wake::Check { why: "commit", force: false },
                Change::Config => Wake::Reload,
            },
            Some(()) = webhook_rx.recv() => Wake::Check { why: "webhook", force: false },
            _ = sleep_until(schedule.poll) => Wake::Check { why: "poll", force: false },
            _ = sleep_until_some(schedule.retry) => Wake::Check { why: "retry", force: true },
            _ = sleep_until_some(schedule.drift) => Wake::Drift,
            _ = beat.tick() => Wake::Beat,
            _ = operator.tick() => Wake::Operator,
            _ = lease.tick() => Wake::Lease,
        };
        let wake = match wake {
            Wake::Stop => break,
            Wake::Lease => {
                match take_turn(
                    &mut leadership,
                    &mut reconciler,
                    &base_store,
                    &health,
                    &metrics,
                )
                .await
                {
                    Turn::Became(_) => Wake::Check {
                        why: "leader",
                        force: true,
                    },
                    Turn::Same | Turn::SteppedDown => continue,
                }
            }
            Wake::Drift if !leadership.is_leader() => {
                schedule.after_drift(reconciler.config(), None);
                continue;
            }
            Wake::Operator if !leadership.is_leader() => continue,
            Wake::Beat => {
                health.beat();
                if watchdog.is_some() {
                    notify(&[NotifyState::Watchdog]);
                }
                continue;
            }
            Wake::Drift => {
                let drift = check_drift(&mut reconciler, &metrics);
                let stop = keep_serving(drift, &mut signals, &mut beat, &health, watchdog).await;
                schedule.after_drift(reconciler.config(), reconciler.retry_delay());
                if stop {
                    break;
                }
                continue;
            }
            Wake::Operator => match reconciler.store().operator_actions().await {
                Ok(seen) if seen != operator_actions => {
                    operator_actions = seen;
                    Wake::Check {
                        why: "operator",
                        force: true,
                    }
                }
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %error_chain(&e), "cannot read the operator actions");
                    continue;
                }
            },
            Wake::Reload | Wake::Check { .. } => wake,
        };
        // Gather the rest of the burst before reading anything: a commit is several renames,
        // an editor may save a file in steps, webhooks come in bunches.
        tokio::time::sleep(COALESCE).await;
        let mut reload_now = wake == Wake::Reload;
        while let Ok(change) = change_rx.try_recv() {
            reload_now |= change == Change::Config;
        }
        let (why, mut force) = match wake {
            Wake::Check { why, force } => (why, force),
            _ => ("reload", false),
        };
        let mut webhook = why == "webhook";
        while webhook_rx.try_recv().is_ok() {
            webhook = true;
        }
        // A reload (SIGHUP, an edited file) also looks at the repository, as an operator's
        // `systemctl reload` expects; a changed configuration reconciles again.
        if reload_now && reload(&mut reconciler, &options, &metrics).await {
            watches = start_watches(&reconciler, &options, change_tx.clone());
            schedule = Schedule::new(reconciler.config());
            force = true;
        }
        if !leadership.is_leader() {
            follow(&mut reconciler, &base_store, &tracked, webhook).await;
            schedule.after_check(reconciler.config(), None);
            continue;
        }
        let cycle = check(
            &mut reconciler,
            &metrics,
            &health,
            &tracked,
            &mut last_seen,
            why,
            force,
        );
        let stop = keep_serving(cycle, &mut signals, &mut beat, &health, watchdog).await;
        schedule.after_check(reconciler.config(), reconciler.retry_delay());
        if stop {
            break;
        }
    }
    tracing::info!("stopping");
    notify(&[NotifyState::Stopping]);
    leadership.release(&base_store).await;
    drop(watches);
    let _ = stop_http.send(());
    let _ = server.await;
    reconciler.store().close().await;
    Ok(())
}

/// When the loop wakes next, besides triggers.
struct Schedule {
    poll: Instant,
    retry: Option<Instant>,
    drift: Option<Instant>,
}

impl Schedule {
    /// A fresh start polls at once.
    fn new(config: &Config) -> Schedule {
        Schedule {
            poll: Instant::now(),
            retry: None,
            drift: config.daemon.drift_interval.map(|d| Instant::now() + d),
        }
    }

    fn after_check(&mut self, config: &Config, retry: Option<Duration>) {
        self.poll = Instant::now() + jitter(config.repo.poll_interval);
        self.retry = retry.map(|d| Instant::now() + d);
    }

    /// A drift check may find that another process applied: then `retry` says to reconcile.
    fn after_drift(&mut self, config: &Config, retry: Option<Duration>) {
        self.drift = config.daemon.drift_interval.map(|d| Instant::now() + d);
        if let Some(retry) = retry {
            self.retry = Some(Instant::now() + retry);
        }
    }
}

/// ±10%, so that many instances polling one forge do not align.
fn jitter(interval: Duration) -> Duration {
    interval.mul_f64(rand::random_range(0.9..1.1))
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs `work` to its end while still feeding the watchdog and noting a stop request;
/// returns whether the daemon is to stop afterwards. An apply is never cut short: after a
/// stop request, each beat asks systemd to extend its stop timeout.
async fn keep_serving(
    work: impl Future<Output = ()>,
    signals: &mut Signals,
    beat: &mut tokio::time::Interval,
    health: &Health,
    watchdog: Option<Duration>,
) -> bool {
    tokio::pin!(work);
    let mut stop = false;
    loop {
        tokio::select! {
            () = &mut work => return stop,
            _ = signals.term.recv() => {
                tracing::info!("SIGTERM: stopping after the reconcile in flight");
                notify(&[NotifyState::Stopping]);
                stop = true;
            }
            _ = signals.int.recv() => stop = true,
            _ = beat.tick() => {
                health.beat();
                if watchdog.is_some() {
                    notify(&[NotifyState::Watchdog]);
                }
                if stop {
                    // Still finishing the apply: ask systemd for more time than TimeoutStopSec,
                    // a few beats at a time, so that a live apply is not killed halfway.
                    let more = beat.period().saturating_mul(3).as_micros();
                    notify(&[NotifyState::ExtendTimeoutUsec(
                        u32::try_from(more).unwrap_or(u32::MAX),
                    )]);
                }
            }
        }
    }
}

/// One tick of the leader lease, and what follows from it: a daemon that took it leads (its
/// records fenced by it), one that lost it is standby (not ready, nothing applied).
async fn take_turn(
    leadership: &mut Leadership,
    reconciler: &mut Reconciler,
    store: &crate::store::Store,
    health: &Health,
    metrics: &Metrics,
) -> Turn {
    let turn = leadership.tick(store).await;
    match turn {
        Turn::Became(epoch) => {
            if let Some(keeper) = leadership.keeper() {
                reconciler.lead(keeper);
            }
            metrics.became_leader(epoch);
        }
        Turn::SteppedDown => {
            reconciler.step_down();
            health.set_ready(false);
            metrics.set_ready(false);
            metrics.stepped_down();
        }
        Turn::Same => {}
    }
    health.set_standby(!leadership.is_leader());
    let (ok, failed) = leadership.take_renewals();
    metrics.lease_renewed(ok, failed);
    turn
}

/// What a standby daemon does on a trigger: fetch and check the tracked branch (so that its
/// clone and admission cache are warm when it takes over), and pass a webhook (`webhook`: one
/// came in, maybe gathered into another trigger) on to the leader through the store.
async fn follow(
    reconciler: &mut Reconciler,
    store: &crate::store::Store,
    tracked: &Mutex<Option<Revision>>,
    webhook: bool,
) {
    if webhook {
        match store.pass_trigger().await {
            Ok(()) => tracing::info!("standby: the webhook is passed on to the leader"),
            Err(e) => tracing::warn!(error = %e, "standby: cannot pass the webhook on"),
        }
    }
    let warmed = tokio::task::block_in_place(|| {
        let revision = reconciler.fetch()?;
        *tracked.lock().expect("tracked revision lock") = Some(revision.clone());
        reconciler.warm(revision)
    });
    if let Err(e) = warmed {
        tracing::warn!(error = %error_chain(&e), "standby: cannot read the repository");
    }
}

/// Fetches and, when the branch moved (or `force`), reconciles.
async fn check(
    reconciler: &mut Reconciler,
    metrics: &Metrics,
    health: &Health,
    tracked: &Mutex<Option<Revision>>,
    last_seen: &mut Option<String>,
    why: &'static str,
    force: bool,
) {
    let started = std::time::Instant::now();
    let fetched = tokio::task::block_in_place(|| reconciler.fetch());
    let took = started.elapsed().as_secs_f64();
    let revision = match fetched {
        Ok(revision) => {
            metrics.observe_git_fetch(took, "ok");
            revision
        }
        Err(e) => {
            metrics.observe_git_fetch(took, "error");
            tracing::error!(error = %error_chain(&e), trigger = why, "cannot read the repository; the live state stays as it is");
            return;
        }
    };
    *tracked.lock().expect("tracked revision lock") = Some(revision.clone());
    if let Err(e) = reconciler.take_up_stall().await {
        tracing::warn!(error = %e, "cannot read the stalled condition");
    }
    metrics.set_stalled(reconciler.stalled().is_some());
    let moved = last_seen.as_deref() != Some(revision.commit.as_str());
    if reconciler.stalled() == Some(revision.commit.as_str()) {
        if moved {
            tracing::warn!(commit = %revision.commit, "the revision is stalled: its applies kept failing; waiting for a new commit or `gwsync sync`");
        }
        *last_seen = Some(revision.commit);
        return;
    }
    if !moved && !force {
        tracing::debug!(commit = %revision.commit, trigger = why, "branch did not move");
        return;
    }
    let commit = revision.commit.clone();
    tracing::info!(commit = %commit, trigger = why, "reconciling");
    let started = std::time::Instant::now();
    let result = reconciler.reconcile(revision).await;
    let seconds = started.elapsed().as_secs_f64();
    let outcome = match &result {
        Ok(r) => r.outcome.label(),
        Err(e) if e.is_busy() => "busy",
        Err(_) => "failed",
    };
    let outcome = if reconciler.stalled() == Some(commit.as_str()) {
        "stalled"
    } else {
        outcome
    };
    metrics.observe_reconcile(seconds, outcome);
    metrics.set_last_reconcile(crate::reconcile::record::now());
    if let Some(observation) = reconciler.take_observation() {
        tracing::info!(commit = %commit, "observe: {observation}");
        metrics.observed(observation.label());
    }
    metrics.set_stalled(reconciler.stalled().is_some());
    match &result {
        Ok(r) => log_result(&commit, r, seconds),
        Err(e) if e.is_busy() => {
            tracing::info!(error = %e, "another gwsync is applying; trying again at the next poll");
            return;
        }
        Err(e) => tracing::error!(commit = %commit, error = %error_chain(e), "reconcile failed"),
    }
    *last_seen = Some(commit);
    if result.as_ref().is_ok_and(|r| r.outcome.converged()) {
        health.set_ready(true);
        metrics.set_ready(true);
    }
    publish_teams(reconciler, metrics).await;
    notify(&[NotifyState::Status(&format!("last reconcile: {outcome}"))]);
}

fn log_result(commit: &str, result: &SyncResult, seconds: f64) {
    if let Some(pin) = &result.pin_lifted {
        tracing::info!(commit, pinned = %pin.commit, "a new commit arrived since the rollback: the pin is lifted");
    }
    for h in &result.held_back {
        tracing::warn!(commit, "held back: {h}");
    }
    match &result.outcome {
        SyncOutcome::Applied(report) => {
            tracing::info!(commit, seconds, changes = report.results.len(), "applied")
        }
        SyncOutcome::Unchanged => tracing::info!(commit, seconds, "in sync"),
        SyncOutcome::Pinned(pin) => tracing::info!(
            commit,
            pinned = %pin.commit,
            "held back by a rollback's pin (`gwsync resume` lifts it)"
        ),
        SyncOutcome::Invalid => tracing::error!(
            commit,
            "the revision is refused as a whole (see `gwsync validate`); the live state stays as it is"
        ),
        SyncOutcome::Guarded(guard) => tracing::error!(
            commit,
            "{guard}; waiting for `gwsync apply --allow-deletes`"
        ),
        SyncOutcome::Frozen(window) => tracing::warn!(
            commit,
            %window,
            "planned, nothing applied: a freeze window is open"
        ),
        SyncOutcome::Failed(report) => {
            for f in report.failures() {
                tracing::error!(commit, resource = %f.address, outcome = ?f.outcome, "change failed");
            }
        }
    }
}

/// Each team's state, failures and live time, from the store.
async fn publish_teams(reconciler: &Reconciler, metrics: &Metrics) {
    match reconciler.store().team_records().await {
        Ok(records) => metrics.set_teams(&records),
        Err(e) => tracing::warn!(error = %e, "cannot read team states for the metrics"),
    }
}

async fn check_drift(reconciler: &mut Reconciler, metrics: &Metrics) {
    let checked = reconciler.check_drift().await;
    if let Some(observation) = reconciler.take_observation() {
        metrics.observed(observation.label());
    }
    match checked {
        Ok(None) => tracing::debug!("drift check skipped: nothing converged yet, or pinned"),
        Ok(Some(drift)) if drift.plan.is_empty() => {
            metrics.set_drift(0);
            tracing::debug!(commit = %drift.commit, "no drift");
        }
        Ok(Some(drift)) => {
            metrics.drift_detected();
            tracing::warn!(
                commit = %drift.commit,
                resources = drift.plan.changes.len(),
                "drift: AWS differs from the applied state:\n{}",
                drift.render()
            );
            match drift.healed {
                Some(true) => {
                    metrics.drift_healed();
                    metrics.set_drift(0);
                    tracing::info!(commit = %drift.commit, "drift healed");
                }
                Some(false) => {
                    metrics.set_drift(drift.plan.changes.len());
                    tracing::error!(commit = %drift.commit, "healing the drift failed");
                }
                None => metrics.set_drift(drift.plan.changes.len()),
            }
        }
        Err(e) => tracing::error!(error = %error_chain(&e), "drift check failed"),
    }
}

/// Loads the configuration again; an invalid one is reported and the running one kept.
async fn reload(reconciler: &mut Reconciler, options: &RunOptions, metrics: &Metrics) -> bool {
    let config = match (options.load_config)() {
        Ok(c) => c,
        Err(e) => {
            metrics.config_reload("invalid");
            tracing::error!(error = %e, "the new configuration is invalid; keeping the running one");
            return false;
        }
    };
    if config == *reconciler.config() {
        tracing::debug!("configuration unchanged");
        return false;
    }
    if config.daemon.listen != reconciler.config().daemon.listen
        || config.daemon.webhook_secret_env != reconciler.config().daemon.webhook_secret_env
    {
        tracing::warn!("daemon.listen and the webhook secret take effect at the next start");
    }
    notify(&[NotifyState::Reloading]);
    let result = reconciler.reload(config).await;
    notify(&[NotifyState::Ready]);
    match result {
        Ok(()) => {
            metrics.config_reload("ok");
            tracing::info!("configuration reloaded");
            true
        }
        Err(e) => {
            metrics.config_reload("invalid");
            tracing::error!(error = %error_chain(&e), "cannot use the new configuration; keeping the running one");
            false
        }
    }
}

fn start_watches(
    reconciler: &Reconciler,
    options: &RunOptions,
    changes: mpsc::Sender<Change>,
) -> Option<watch::Watches> {
    if !reconciler.config().daemon.watch {
        return None;
    }
    let git_dir = reconciler.local_git_dir();
    match watch::start(git_dir.as_deref(), options.config_file.as_deref(), changes) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the repository or the configuration; polling only");
            None
        }
    }
}

fn status_source(
    store: crate::store::Store,
    tracked: Arc<Mutex<Option<Revision>>>,
) -> StatusSource {
    Arc::new(move || {
        let store = store.clone();
        let tracked = tracked.lock().expect("tracked revision lock").clone();
        Box::pin(async move {
            let status = crate::status::collect(&store, tracked)
                .await
                .map_err(|e| e.to_string())?;
            serde_json::to_value(&status).map_err(|e| e.to_string())
        })
    })
}

fn webhook_settings(config: &Config) -> Result<Option<WebhookSettings>, DaemonError> {
    let Some(var) = &config.daemon.webhook_secret_env else {
        return Ok(None);
    };
    let missing = || DaemonError::MissingWebhookSecret(var.clone());
    let secret = std::env::var(var).map_err(|_| missing())?;
    Ok(Some(WebhookSettings {
        auth: webhook::WebhookAuth::new(secret.into_bytes()).map_err(|source| {
            DaemonError::WeakWebhookSecret {
                var: var.clone(),
                source,
            }
        })?,
        max_body_bytes: config.daemon.webhook_max_body_bytes,
        per_second: config.daemon.webhook_per_second,
        burst: config.daemon.webhook_burst,
    }))
}

/// Who applies, for the record: `daemon@<host>`.
fn actor() -> String {
    format!("daemon@{}", crate::store::lease::this_host())
}

/// Tells systemd (when it started us with `Type=notify`); a no-op otherwise.
fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}
