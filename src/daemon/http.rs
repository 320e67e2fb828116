//! The daemon's HTTP endpoint: liveness, readiness, metrics, status and the push webhook.
//!
//! | route | answers |
//! |---|---|
//! | `GET /healthz` | 200 while the reconcile loop's heartbeat is recent, else 503 with the reason |
//! | `GET /readyz` | 200 once a reconcile has succeeded, else 503; 503 `standby` on an instance that does not lead (several instances share a store) |
//! | `GET /metrics` | the Prometheus text exposition of [`Metrics`] |
//! | `GET /status` | the JSON of `gwsync status --format json`, from the [`StatusSource`]; 500 with `{"error": ...}` if it fails |
//! | `POST /webhook` | 404 without a secret; 413 over the body cap; 401 without valid proof; 429 when one source's authenticated deliveries come over the rate; else 202 and one fetch asked of the loop |
//!
//! What it owns: routing, status codes, connection limits ([`serve`]: a cap on connections,
//! header and connection timeouts), the webhook's order of checks (the body cap first;
//! then the signature, a cheap HMAC over a capped body; the rate limit counts authenticated
//! deliveries only, per source address, so that a flood of unsigned requests never makes a
//! genuine push wait), and coalescing webhook triggers into one pending fetch.
//!
//! What it must not do: reconcile, fetch, or read the state database. It reads the
//! [`Health`] the loop keeps and hands the loop a trigger; status comes from a function the
//! daemon plugs in. A webhook's payload is never parsed ([`super::webhook`]).

use super::metrics::{self, Metrics};
use super::webhook::WebhookAuth;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// What `GET /status` serves, computed anew for each request.
pub type StatusFuture = Pin<Box<dyn Future<Output = Result<serde_json::Value, String>> + Send>>;

/// Where `GET /status` gets its JSON: the daemon plugs in what `gwsync status --format json`
/// prints. An `Err` is served as a 500 with `{"error": <message>}`.
pub type StatusSource = Arc<dyn Fn() -> StatusFuture + Send + Sync>;

/// The loop's signs of life, shared between the loop (which writes) and the endpoint (which
/// reads).
#[derive(Debug)]
pub struct Health {
    ready: AtomicBool,
    /// Another instance leads: this one only serves and passes webhooks on.
    standby: AtomicBool,
    /// Unix seconds of the last sign of life.
    heartbeat: AtomicI64,
}

impl Default for Health {
    fn default() -> Self {
        Health::new()
    }
}

impl Health {
    /// Not ready; alive as of now (the loop has just been started).
    pub fn new() -> Health {
        Health {
            ready: AtomicBool::new(false),
            standby: AtomicBool::new(false),
            heartbeat: AtomicI64::new(unix_now()),
        }
    }

    /// Ready once a reconcile has succeeded.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Standby while another instance leads.
    pub fn set_standby(&self, standby: bool) {
        self.standby.store(standby, Ordering::Relaxed);
    }

    pub fn is_standby(&self) -> bool {
        self.standby.load(Ordering::Relaxed)
    }

    /// The loop shows life now.
    pub fn beat(&self) {
        self.beat_at(unix_now());
    }

    /// The loop showed life at `unix_seconds`.
    pub fn beat_at(&self, unix_seconds: i64) {
        self.heartbeat.store(unix_seconds, Ordering::Relaxed);
    }

    /// How long since the last sign of life (zero if the clock went back).
    pub fn silence(&self) -> Duration {
        let since = unix_now().saturating_sub(self.heartbeat.load(Ordering::Relaxed));
        Duration::from_secs(u64::try_from(since).unwrap_or(0))
    }

    /// Whether the loop showed life within `max_silence`.
    pub fn is_alive(&self, max_silence: Duration) -> bool {
        self.silence() <= max_silence
    }
}

fn unix_now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}

/// The webhook's settings; without them `POST /webhook` answers 404.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub auth: WebhookAuth,
    /// Bodies over this many bytes get a 413 (GitHub's push payloads are capped at 25 MB;
    /// pushes of a few commits are a few kilobytes).
    pub max_body_bytes: usize,
    /// Requests let through per second, across all senders; 0 is read as 1.
    pub per_second: u32,
    /// Requests let through at once after a quiet period; 0 is read as `per_second`.
    pub burst: u32,
}

/// Everything the endpoint serves from.
#[derive(Clone)]
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// `GET /healthz` fails once the loop has been silent for longer than this.
    pub max_silence: Duration,
    pub status: StatusSource,
    pub webhook: Option<WebhookSettings>,
    /// Where a valid webhook asks for a fetch. Make it with [`trigger_channel`], so that
    /// requests arriving while one fetch is pending coalesce into it.
    pub trigger: mpsc::Sender<()>,
}

impl std::fmt::Debug for HttpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpState")
            .field("health", &self.health)
            .field("max_silence", &self.max_silence)
            .field("webhook", &self.webhook)
            .finish_non_exhaustive()
    }
}

/// The webhook trigger channel: one pending fetch at most, which every further request
/// joins.
pub fn trigger_channel() -> (mpsc::Sender<()>, mpsc::Receiver<()>) {
    mpsc::channel(1)
}

/// The state the handlers share: [`HttpState`] with the webhook's limiter built.
struct Shared {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    max_silence: Duration,
    status: StatusSource,
    webhook: Option<Webhook>,
    trigger: mpsc::Sender<()>,
}

struct Webhook {
    auth: WebhookAuth,
    /// One budget per source address: a noisy sender never uses up another's.
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl Webhook {
    fn new(settings: WebhookSettings) -> Webhook {
        let rate = NonZeroU32::new(settings.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.burst).unwrap_or(rate);
        Webhook {
            auth: settings.auth,
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        }
    }
}

/// The endpoint's routes, for [`serve`] and for tests.
pub fn router(state: HttpState) -> Router {
    // Without a webhook nothing is read: the handler answers 404 first.
    let max_body_bytes = state.webhook.as_ref().map_or(0, |w| w.max_body_bytes);
    let shared = Arc::new(Shared {
        metrics: state.metrics,
        health: state.health,
        max_silence: state.max_silence,
        status: state.status,
        webhook: state.webhook.map(Webhook::new),
        trigger: state.trigger,
    });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route(
            "/webhook",
            post(webhook).layer(DefaultBodyLimit::max(max_body_bytes)),
        )
        .with_state(shared)
}

/// What one connection may take of the endpoint: the cap on connections held at once, the
/// time to send headers, the lifetime of a connection (body and keep-alive included).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub connection_timeout: Duration,
}

/// Serves [`router`] on `listener` (HTTP/1.1) until `shutdown` completes. Connections over
/// `limits.max_connections` are closed as they arrive, a client that does not finish its
/// headers in `limits.header_timeout` is dropped, and no connection outlives
/// `limits.connection_timeout`: slow or idle clients can hold a slot for a bounded time and
/// never exhaust the process's file descriptors.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: HttpState,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    tracing::warn!(%error, "HTTP endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "HTTP endpoint: connection cap reached, connection closed");
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(
            app.clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer))),
        );
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            if tokio::time::timeout(limits.connection_timeout, connection)
                .await
                .is_err()
            {
                tracing::debug!(%peer, "HTTP endpoint: connection outlived its limit, closed");
            }
            drop(slot);
        });
    }
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.health.is_alive(shared.max_silence) {
        return (StatusCode::OK, "ok").into_response();
    }
    let reason = format!(
        "unhealthy: the reconcile loop has shown no sign of life for {}s (limit {}s)",
        shared.health.silence().as_secs(),
        shared.max_silence.as_secs()
    );
    (StatusCode::SERVICE_UNAVAILABLE, reason).into_response()
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.health.is_standby() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "standby: another instance leads; webhooks sent here are passed on to it",
        )
            .into_response()
    } else if shared.health.is_ready() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no successful reconcile yet",
        )
            .into_response()
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        )],
        shared.metrics.encode(),
    )
        .into_response()
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    match (shared.status)().await {
        Ok(json) => axum::Json(json).into_response(),
        Err(error) => {
            tracing::error!(%error, "GET /status failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(serde_json::json!({ "error": error })),
            )
                .into_response()
        }
    }
}

async fn webhook(
    State(shared): State<Arc<Shared>>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<SocketAddr>>>,
    request: Request,
) -> Response {
    // Served by [`serve`], every request knows its peer; a router driven directly (tests)
    // counts all its requests as one source.
    let source = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0.0.ip());
    let answer = |result: &str, status: StatusCode, text: &'static str| {
        shared.metrics.webhook(result);
        (status, text).into_response()
    };
    let Some(hook) = &shared.webhook else {
        return answer(
            "disabled",
            StatusCode::NOT_FOUND,
            "no webhook secret configured",
        );
    };
    let headers = request.headers().clone();
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            tracing::warn!("webhook refused: the body is over the size cap");
            return answer(
                "too_large",
                StatusCode::PAYLOAD_TOO_LARGE,
                "webhook body too large",
            );
        }
        Err(rejection) => {
            tracing::warn!(error = %rejection.body_text(), "webhook refused: unreadable body");
            return answer(
                "bad_request",
                StatusCode::BAD_REQUEST,
                "unreadable webhook body",
            );
        }
    };
    let provider = match hook.auth.verify(&headers, &body) {
        Ok(provider) => provider,
        Err(rejection) => {
            tracing::warn!(reason = %rejection, "webhook refused");
            return answer(
                "unauthorized",
                StatusCode::UNAUTHORIZED,
                "webhook not authenticated",
            );
        }
    };
    // The rate limit counts authenticated deliveries only (the HMAC is cheap, the body
    // capped), per source: a flood of unsigned requests never makes a genuine push wait.
    if hook.limiter.check_key(&source).is_err() {
        tracing::debug!("webhook rate-limited");
        let mut response = answer(
            "rate_limited",
            StatusCode::TOO_MANY_REQUESTS,
            "too many webhook requests",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    }
    match shared.trigger.try_send(()) {
        // Full: a fetch is already pending, and it will see this push too.
        Ok(()) | Err(mpsc::error::TrySendError::Full(())) => {
            tracing::info!(provider = provider.as_str(), "webhook: fetch requested");
            answer("accepted", StatusCode::ACCEPTED, "fetch requested")
        }
        Err(mpsc::error::TrySendError::Closed(())) => {
            tracing::warn!("webhook refused: the reconcile loop has stopped");
            answer(
                "unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "the reconcile loop has stopped",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_health_is_alive_and_not_ready() {
        let health = Health::new();
        assert!(health.is_alive(Duration::from_secs(1)));
        assert!(!health.is_ready());
        health.set_ready(true);
        assert!(health.is_ready());
    }

    #[test]
    fn silence_is_measured_from_the_last_beat() {
        let health = Health::new();
        health.beat_at(unix_now() - 120);
        assert!(health.silence() >= Duration::from_secs(120));
        assert!(!health.is_alive(Duration::from_secs(60)));
        assert!(health.is_alive(Duration::from_secs(600)));
        health.beat();
        assert!(health.is_alive(Duration::from_secs(60)));
        health.beat_at(unix_now() + 3600);
        assert_eq!(
            health.silence(),
            Duration::ZERO,
            "a clock that went back is no silence"
        );
    }

    #[test]
    fn the_trigger_channel_holds_one_pending_fetch() {
        let (tx, mut rx) = trigger_channel();
        assert!(tx.try_send(()).is_ok());
        assert!(matches!(
            tx.try_send(()),
            Err(mpsc::error::TrySendError::Full(()))
        ));
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_err());
    }
}
