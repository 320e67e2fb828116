//! The SDK clients gwsync talks to AWS with, and the client-side rate limits every call
//! goes through.
//!
//! [`Clients::connect`] loads the SDK's default configuration chain (environment, shared
//! profile, container or instance credentials), so `AWS_REGION`, `AWS_PROFILE` and
//! `AWS_ENDPOINT_URL` work as in every AWS tool; the `[aws]` settings of gwsync's config,
//! when set, take precedence. Retries are the SDK's `standard` mode with 5 attempts: it
//! retries throttling errors, transient errors (HTTP 5xx, timeouts, connection failures)
//! with exponential backoff and full jitter, within a retry quota (AWS SDK for Rust
//! developer guide, "Retries": <https://docs.aws.amazon.com/sdk-for-rust/latest/dg/retries.html>;
//! AWS SDKs and Tools reference guide, "Retry behavior":
//! <https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html>).
//!
//! Retries only react to throttling; the rate limits keep gwsync from causing it. ELB's API
//! limits are per account and region and shared with every other tool there (consoles,
//! Terraform, the AWS Load Balancer Controller), so gwsync stays well below them, writes far
//! more than reads. Every SDK call in `observe` and `apply` first awaits [`Clients::read`]
//! or [`Clients::write`].
//!
//! Leases: every write also checks the clients' [`WriteWindow`]: a process that holds the apply
//! lease keeps it open until shortly before its lease would expire, and sends nothing once it
//! has closed (its lease may be another's by then).
//!
//! Observation: clients built with a [`CallObserver`] ([`Clients::connect_observed`],
//! [`Clients::from_sdk_config_observed`]) report every operation's final outcome (after the
//! SDK's retries) and every throttled attempt, through an SDK interceptor on both clients. It
//! only reads: it never fails, delays or changes a call.
//!
//! What is left to others: which calls to make (`observe`, `apply`), errors (callers turn SDK
//! errors into their own typed errors), and what observations become (metrics, logs).

use crate::aws::error::CallError;
use crate::config::AwsConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_elasticloadbalancingv2::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_elasticloadbalancingv2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_elasticloadbalancingv2::error::{BoxError, ProvideErrorMetadata};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::result::SdkError;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Attempts per call, the first included (the SDK's default is 3).
pub const MAX_ATTEMPTS: u32 = 5;

/// How long one attempt may take before it is abandoned (and retried): a hung connection
/// must not stall a reconcile forever.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one call may take, its retries and backoff included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);

/// Rounds of a read that keeps failing with throttling or transient errors, each after the
/// SDK's own retries ([`Clients::read_call`]), and the pauses between them (doubling).
pub const READ_ROUNDS: u32 = 6;
const READ_PAUSE: Duration = Duration::from_secs(1);
const READ_PAUSE_MAX: Duration = Duration::from_secs(16);

/// Client-side limits on the rate of AWS calls: a steady rate per second and a burst that
/// may be spent at once after a quiet period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub read_per_second: u32,
    pub read_burst: u32,
    pub write_per_second: u32,
    pub write_burst: u32,
}

impl Default for RateLimits {
    /// `[aws]`'s defaults (see `AwsConfig`).
    fn default() -> Self {
        RateLimits::of(&AwsConfig::default())
    }
}

impl RateLimits {
    /// The limits the `[aws]` settings of gwsync's config ask for.
    pub fn of(aws: &AwsConfig) -> RateLimits {
        RateLimits {
            read_per_second: aws.reads_per_second,
            read_burst: aws.read_burst,
            write_per_second: aws.writes_per_second,
            write_burst: aws.write_burst,
        }
    }

    /// No limit at all: for tests against moto.
    pub fn unlimited() -> Self {
        RateLimits {
            read_per_second: 0,
            read_burst: 0,
            write_per_second: 0,
            write_burst: 0,
        }
    }
}

/// The ELBv2 and ACM clients, with the rate limiters their calls share.
#[derive(Clone, Debug)]
pub struct Clients {
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub acm: aws_sdk_acm::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    reads: Option<Arc<DefaultDirectRateLimiter>>,
    writes: Option<Arc<DefaultDirectRateLimiter>>,
    /// Calls made, counted as permits taken: every call takes exactly one.
    counts: Arc<CallCounts>,
    window: WriteWindow,
    /// Set once AWS refused a DescribeTags call that mixed kinds of resource: from then on
    /// each call names one kind (`observe::describe`).
    tags_by_kind: Arc<AtomicBool>,
}

/// Until when writes may be sent: always, or (while a lease is held) until a deadline the
/// lease's renewals move on. Clones share it.
#[derive(Clone, Debug, Default)]
pub struct WriteWindow(Arc<Mutex<Option<Instant>>>);

/// A write refused because the lease it needs is about to expire, or has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "not sent: this process's lease ends too soon to send a write safely (another gwsync may \
     hold it by then); the apply stops here and the next holder's plan completes it"
)]
pub struct WindowClosed;

impl WriteWindow {
    /// Writes go until `deadline`.
    pub fn open_until(&self, deadline: Instant) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(deadline);
    }

    /// No deadline any more (the lease was released).
    pub fn unguard(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Until when writes may go (`None`: no deadline).
    pub fn deadline(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a write may be sent now.
    pub fn check(&self) -> Result<(), WindowClosed> {
        match *self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(deadline) if Instant::now() >= deadline => Err(WindowClosed),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Default)]
struct CallCounts {
    reads: AtomicU64,
    writes: AtomicU64,
}

/// The SDK's configuration from its default chain, with gwsync's `[aws]` overrides, retries
/// and timeouts: what every client gwsync makes is built from.
pub async fn sdk_config(aws: &AwsConfig) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        );
    if let Some(region) = &aws.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &aws.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &aws.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// How many calls a set of [`Clients`] has made (its clones included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallCount {
    pub reads: u64,
    pub writes: u64,
}

impl Clients {
    /// Clients from the default configuration chain, with gwsync's overrides and retries.
    pub async fn connect(aws: &AwsConfig, rates: RateLimits) -> Clients {
        Clients::connect_with(aws, rates, None).await
    }

    /// [`Clients::connect`], every operation reported to `observer`.
    pub async fn connect_observed(
        aws: &AwsConfig,
        rates: RateLimits,
        observer: Arc<dyn CallObserver>,
    ) -> Clients {
        Clients::connect_with(aws, rates, Some(observer)).await
    }

    async fn connect_with(
        aws: &AwsConfig,
        rates: RateLimits,
        observer: Option<Arc<dyn CallObserver>>,
    ) -> Clients {
        Clients::build(&sdk_config(aws).await, rates, observer)
    }

    /// Clients from a configuration made elsewhere (tests point it at moto), used as given.
    pub fn from_sdk_config(sdk: &SdkConfig, rates: RateLimits) -> Clients {
        Clients::build(sdk, rates, None)
    }

    /// [`Clients::from_sdk_config`], every operation reported to `observer`.
    pub fn from_sdk_config_observed(
        sdk: &SdkConfig,
        rates: RateLimits,
        observer: Arc<dyn CallObserver>,
    ) -> Clients {
        Clients::build(sdk, rates, Some(observer))
    }

    fn build(
        sdk: &SdkConfig,
        rates: RateLimits,
        observer: Option<Arc<dyn CallObserver>>,
    ) -> Clients {
        let mut elb = aws_sdk_elasticloadbalancingv2::config::Builder::from(sdk);
        let mut acm = aws_sdk_acm::config::Builder::from(sdk);
        let mut secrets = aws_sdk_secretsmanager::config::Builder::from(sdk);
        if let Some(observer) = observer {
            elb = elb.interceptor(CallInterceptor::new(ELBV2, observer.clone()));
            acm = acm.interceptor(CallInterceptor::new(ACM, observer.clone()));
            secrets = secrets.interceptor(CallInterceptor::new(SECRETS_MANAGER, observer));
        }
        Clients {
            elb: aws_sdk_elasticloadbalancingv2::Client::from_conf(elb.build()),
            acm: aws_sdk_acm::Client::from_conf(acm.build()),
            secrets: aws_sdk_secretsmanager::Client::from_conf(secrets.build()),
            reads: limiter(rates.read_per_second, rates.read_burst),
            writes: limiter(rates.write_per_second, rates.write_burst),
            counts: Arc::default(),
            window: WriteWindow::default(),
            tags_by_kind: Arc::default(),
        }
    }

    /// Whether DescribeTags calls must name one kind of resource each.
    pub(crate) fn tags_by_kind(&self) -> bool {
        self.tags_by_kind.load(Ordering::Relaxed)
    }

    /// From now on DescribeTags calls name one kind of resource each; whether that is new.
    pub(crate) fn split_tags_by_kind(&self) -> bool {
        !self.tags_by_kind.swap(true, Ordering::Relaxed)
    }

    /// The window every write of these clients (and their clones) checks.
    pub fn write_window(&self) -> &WriteWindow {
        &self.window
    }

    /// The calls made so far, for logs, metrics and tests that hold gwsync to its call
    /// budget.
    pub fn calls(&self) -> CallCount {
        CallCount {
            reads: self.counts.reads.load(Ordering::Relaxed),
            writes: self.counts.writes.load(Ordering::Relaxed),
        }
    }

    /// Waits until a read (Describe*, List*) may be sent.
    pub async fn read(&self) {
        self.counts.reads.fetch_add(1, Ordering::Relaxed);
        if let Some(l) = &self.reads {
            l.until_ready().await;
        }
    }

    /// One read call (`Describe*`): waits for the read limit and sends `call()`. When it
    /// fails with throttling or a transient error even after the SDK's own retries (whose
    /// quota a storm of faults drains), it waits and sends it again, up to [`READ_ROUNDS`]
    /// times with doubling pauses: a read is safe to repeat, and an observe that slows down
    /// is better than one that fails. Other errors are returned at once.
    pub async fn read_call<T, E, F, Fut>(
        &self,
        operation: &'static str,
        mut call: F,
    ) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut pause = READ_PAUSE;
        for round in 1.. {
            self.read().await;
            match call().await {
                Ok(out) => return Ok(out),
                Err(e) if round < READ_ROUNDS && worth_another_round(&e) => {
                    tracing::warn!(
                        operation,
                        round,
                        error = %CallError::new(operation, &e),
                        "a read failed after the SDK's retries; trying again in {pause:?}"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(READ_PAUSE_MAX);
                }
                Err(e) => return Err(CallError::new(operation, &e)),
            }
        }
        unreachable!("the loop returns")
    }

    /// Waits until a write (Create*, Modify*, Delete*, Set*, tags, targets) may be sent, and
    /// refuses it when the write window closed meanwhile.
    pub async fn write(&self) -> Result<(), WindowClosed> {
        if let Some(l) = &self.writes {
            l.until_ready().await;
        }
        self.window.check()?;
        self.counts.writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Throttling and transient answers: a read that met one may succeed later. (A service
/// error with another code, e.g. `LoadBalancerNotFound`, will not.)
fn worth_another_round<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        // A connection that failed or timed out may work later; missing credentials and
        // other failures before anything was sent will not.
        SdkError::DispatchFailure(e) => e.is_io() || e.is_timeout(),
        SdkError::ServiceError(e) => {
            e.raw().status().is_server_error()
                || e.raw().status().as_u16() == 429
                || e.err()
                    .code()
                    .is_some_and(|c| THROTTLING_CODES.contains(&c))
        }
        _ => false,
    }
}

/// A limiter of `per_second` with bursts of `burst` (at least one call); None for a rate of
/// zero, which means unlimited.
fn limiter(per_second: u32, burst: u32) -> Option<Arc<DefaultDirectRateLimiter>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(Arc::new(RateLimiter::direct(
        Quota::per_second(rate).allow_burst(burst),
    )))
}

/// The `service` label of the ELBv2 client's operations.
pub const ELBV2: &str = "elbv2";
/// The `service` label of the ACM client's operations.
pub const ACM: &str = "acm";
/// The `service` label of the Secrets Manager client's operations.
pub const SECRETS_MANAGER: &str = "secretsmanager";

/// The operation name when the SDK's operation metadata is missing from the call's config bag.
/// Every SDK operation puts it there before its first attempt, so this is only a fallback.
pub const UNKNOWN_OPERATION: &str = "unknown";

/// Error codes AWS answers a throttled request with: ELBv2's query protocol says `Throttling`,
/// JSON services (ACM) `ThrottlingException`; the other two are the generic ones. HTTP 429 is
/// a throttle whatever its code. Quota errors (`TooManyRules`, `LimitExceededException`) are
/// not: waiting does not lift them.
pub const THROTTLING_CODES: [&str; 4] = [
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
];

/// Hears about the AWS operations of observed [`Clients`]. Called on the SDK's task, in the
/// middle of a call: implementations must be quick and must not block.
pub trait CallObserver: Send + Sync + std::fmt::Debug {
    /// An operation ended: `outcome` is its final result, after the SDK's retries.
    /// `operation` is the API's name (`DescribeRules`), or [`UNKNOWN_OPERATION`].
    fn call(&self, service: &'static str, operation: &str, outcome: CallOutcome);

    /// One attempt of an operation was throttled; the SDK may retry it.
    fn throttled_attempt(&self, service: &'static str, operation: &str);
}

/// How an operation ended, after the SDK's retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Ok,
    /// It failed, and not because of throttling.
    Error,
    /// It failed, and its last attempt was throttled (retries or the retry quota ran out).
    Throttled,
}

impl CallOutcome {
    /// The label value: `ok`, `error`, `throttled`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Error => "error",
            CallOutcome::Throttled => "throttled",
        }
    }
}

/// The SDK interceptor behind [`CallObserver`].
///
/// The operation's name is the SDK's own: the `Metadata` every operation puts in the config
/// bag while its configuration is applied, before any attempt (and before `read_after_attempt`
/// and `read_after_execution`, the only hooks that report). Whether an attempt was throttled
/// is read from its raw response: the error an interceptor sees is type-erased, its code out
/// of reach.
#[derive(Debug)]
struct CallInterceptor {
    service: &'static str,
    observer: Arc<dyn CallObserver>,
}

impl CallInterceptor {
    fn new(service: &'static str, observer: Arc<dyn CallObserver>) -> CallInterceptor {
        CallInterceptor { service, observer }
    }
}

/// The name of the operation a config bag belongs to, [`UNKNOWN_OPERATION`] if it has none.
fn operation_name(cfg: &ConfigBag) -> &str {
    cfg.load::<Metadata>()
        .map_or(UNKNOWN_OPERATION, Metadata::name)
}

impl Intercept for CallInterceptor {
    fn name(&self) -> &'static str {
        "gwsync-call-observer"
    }

    // Once per attempt, retried or not.
    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if last_response_throttled(context) {
            self.observer
                .throttled_attempt(self.service, operation_name(cfg));
        }
        Ok(())
    }

    // Once per execution, always, after the last attempt: the response, if any, is the last
    // attempt's.
    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let succeeded = matches!(context.output_or_error(), Some(Ok(_)));
        let outcome = final_outcome(succeeded, last_response_throttled(context));
        self.observer
            .call(self.service, operation_name(cfg), outcome);
        Ok(())
    }
}

/// Whether the context's response (the last attempt's) says the request was throttled.
fn last_response_throttled(context: &FinalizerInterceptorContextRef<'_>) -> bool {
    context.response().is_some_and(|r| {
        response_is_throttling(
            r.status().as_u16(),
            r.headers().get("x-amzn-errortype"),
            r.body().bytes(),
        )
    })
}

/// The error code of an AWS error response: the JSON protocols' `X-Amzn-ErrorType` header or
/// `__type` field (`ThrottlingException:http://...`, `com.amazonaws.acm#ThrottlingException`:
/// the name is what follows `#` and precedes `:`), else the query protocol's XML
/// `<Error><Code>`.
fn error_code(error_type: Option<&str>, body: Option<&[u8]>) -> Option<String> {
    fn shape_name(s: &str) -> &str {
        let s = s.split(':').next().unwrap_or(s);
        s.rsplit_once('#').map_or(s, |(_, name)| name)
    }
    if let Some(header) = error_type {
        return Some(shape_name(header).to_owned());
    }
    let text = std::str::from_utf8(body?).ok()?.trim_start();
    if text.starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(text).ok()?;
        let code = json.get("__type").or_else(|| json.get("code"))?.as_str()?;
        return Some(shape_name(code).to_owned());
    }
    let (_, rest) = text.split_once("<Code>")?;
    let (code, _) = rest.split_once("</Code>")?;
    Some(code.trim().to_owned())
}

/// Whether a response says the request was throttled: HTTP 429, or an error response with
/// one of the [`THROTTLING_CODES`].
fn response_is_throttling(status: u16, error_type: Option<&str>, body: Option<&[u8]>) -> bool {
    status == 429
        || (status >= 400
            && error_code(error_type, body).is_some_and(|c| THROTTLING_CODES.contains(&c.as_str())))
}

fn final_outcome(succeeded: bool, last_attempt_throttled: bool) -> CallOutcome {
    match (succeeded, last_attempt_throttled) {
        (true, _) => CallOutcome::Ok,
        (false, true) => CallOutcome::Throttled,
        (false, false) => CallOutcome::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Instant;

    fn sdk() -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build()
    }

    #[tokio::test]
    async fn bursts_pass_at_once_then_the_rate_applies() {
        let clients = Clients::from_sdk_config(
            &sdk(),
            RateLimits {
                read_per_second: 20,
                read_burst: 5,
                write_per_second: 1,
                write_burst: 1,
            },
        );
        let start = Instant::now();
        for _ in 0..5 {
            clients.read().await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(40),
            "the burst waits"
        );
        // Five more at 20 per second: about 250 ms.
        for _ in 0..5 {
            clients.read().await;
        }
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
    }

    #[tokio::test]
    async fn a_write_is_refused_once_the_window_closed_and_not_counted() {
        let clients = Clients::from_sdk_config(&sdk(), RateLimits::unlimited());
        clients.write().await.unwrap();
        let window = clients.write_window().clone();
        window.open_until(Instant::now() + Duration::from_secs(60));
        clients.write().await.unwrap();
        window.open_until(Instant::now());
        assert_eq!(clients.write().await, Err(WindowClosed));
        window.unguard();
        clients.write().await.unwrap();
        assert_eq!(clients.calls().writes, 3);
    }

    #[tokio::test]
    async fn unlimited_never_waits() {
        let clients = Clients::from_sdk_config(&sdk(), RateLimits::unlimited());
        let start = Instant::now();
        for _ in 0..10_000 {
            clients.read().await;
            clients.write().await.unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(
            clients.calls(),
            CallCount {
                reads: 10_000,
                writes: 10_000
            }
        );
    }

    /// The README's configuration table and docs/PERFORMANCE.md state these; reads are ELB's
    /// documented bucket for non-mutating calls.
    #[test]
    fn defaults_are_the_documented_ones() {
        let d = RateLimits::default();
        assert_eq!(
            (
                d.read_per_second,
                d.read_burst,
                d.write_per_second,
                d.write_burst
            ),
            (10, 40, 3, 20)
        );
    }

    #[test]
    fn operation_names_come_from_the_sdk_metadata_in_the_config_bag() {
        let mut cfg = ConfigBag::base();
        assert_eq!(operation_name(&cfg), UNKNOWN_OPERATION);
        cfg.interceptor_state()
            .store_put(Metadata::new("DescribeRules", "elasticloadbalancingv2"));
        assert_eq!(operation_name(&cfg), "DescribeRules");
    }

    #[test]
    fn error_codes_are_read_in_either_protocol() {
        let xml = b"<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\
            <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>\
            <RequestId>r</RequestId></ErrorResponse>";
        assert_eq!(
            error_code(None, Some(xml.as_slice())).as_deref(),
            Some("Throttling")
        );
        let json = br#"{"__type":"com.amazonaws.acm#ThrottlingException","message":"slow down"}"#;
        assert_eq!(
            error_code(None, Some(json.as_slice())).as_deref(),
            Some("ThrottlingException")
        );
        let code = br#"{"code":"ResourceNotFoundException"}"#;
        assert_eq!(
            error_code(None, Some(code.as_slice())).as_deref(),
            Some("ResourceNotFoundException")
        );
        assert_eq!(
            error_code(
                Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/"),
                Some(b"{}".as_slice())
            )
            .as_deref(),
            Some("ThrottlingException"),
            "the header wins"
        );
        for body in [b"".as_slice(), b"<html>busy</html>", b"{not json", b"{}"] {
            assert_eq!(error_code(None, Some(body)), None, "{body:?}");
        }
        assert_eq!(error_code(None, None), None);
    }

    #[test]
    fn throttling_is_429_or_a_throttling_code_on_an_error() {
        let xml = |code: &str| {
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code></Error></ErrorResponse>"
            )
        };
        for code in THROTTLING_CODES {
            assert!(
                response_is_throttling(400, None, Some(xml(code).as_bytes())),
                "{code}"
            );
        }
        for code in [
            "LoadBalancerNotFound",
            "TooManyRules",
            "LimitExceededException",
            "ThrottlingX",
        ] {
            assert!(
                !response_is_throttling(400, None, Some(xml(code).as_bytes())),
                "{code}"
            );
        }
        assert!(response_is_throttling(429, None, None));
        assert!(response_is_throttling(
            429,
            None,
            Some(b"<html/>".as_slice())
        ));
        assert!(response_is_throttling(
            400,
            None,
            Some(br#"{"__type":"ThrottlingException"}"#.as_slice())
        ));
        assert!(
            !response_is_throttling(200, None, Some(xml("Throttling").as_bytes())),
            "a success is never a throttle"
        );
        assert!(!response_is_throttling(503, None, None));
    }

    #[test]
    fn the_final_outcome_is_ok_unless_it_failed_and_throttled_if_the_last_attempt_was() {
        assert_eq!(final_outcome(true, false), CallOutcome::Ok);
        assert_eq!(final_outcome(true, true), CallOutcome::Ok);
        assert_eq!(final_outcome(false, true), CallOutcome::Throttled);
        assert_eq!(final_outcome(false, false), CallOutcome::Error);
        assert_eq!(
            [CallOutcome::Ok, CallOutcome::Error, CallOutcome::Throttled].map(CallOutcome::as_str),
            ["ok", "error", "throttled"]
        );
    }

    /// Every observation, in order, as `service operation what`.
    #[derive(Debug, Default)]
    struct Observed(Mutex<Vec<String>>);

    impl Observed {
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    impl CallObserver for Observed {
        fn call(&self, service: &'static str, operation: &str, outcome: CallOutcome) {
            let line = format!("{service} {operation} {}", outcome.as_str());
            self.0.lock().unwrap().push(line);
        }

        fn throttled_attempt(&self, service: &'static str, operation: &str) {
            let line = format!("{service} {operation} throttled attempt");
            self.0.lock().unwrap().push(line);
        }
    }

    /// One canned HTTP answer: status, content type, body.
    type Answer = (u16, &'static str, &'static str);

    /// An HTTP server on 127.0.0.1 that answers each request with the next canned answer
    /// (500 once they run out) and closes the connection. Returns its base URL.
    async fn answering(answers: Vec<Answer>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let answers = Arc::new(Mutex::new(std::collections::VecDeque::from(answers)));
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let answers = answers.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        let n = socket.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        request.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length = text[..end]
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                            if request.len() >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    let (status, content_type, body) = answers
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or((500, "text/plain", "no answer left"));
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        url
    }

    async fn observed_clients(url: &str, observed: &Arc<Observed>) -> Clients {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_elasticloadbalancingv2::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .endpoint_url(url)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .load()
            .await;
        Clients::from_sdk_config_observed(&sdk, RateLimits::unlimited(), observed.clone())
    }

    const ELB_THROTTLED: Answer = (
        400,
        "text/xml",
        "<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\
         <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>\
         <RequestId>r</RequestId></ErrorResponse>",
    );
    const ELB_NOT_FOUND: Answer = (
        400,
        "text/xml",
        "<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\
         <Error><Type>Sender</Type><Code>LoadBalancerNotFound</Code><Message>no</Message></Error>\
         <RequestId>r</RequestId></ErrorResponse>",
    );
    const ELB_NO_LOAD_BALANCERS: Answer = (
        200,
        "text/xml",
        "<DescribeLoadBalancersResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\
         <DescribeLoadBalancersResult><LoadBalancers/></DescribeLoadBalancersResult>\
         <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeLoadBalancersResponse>",
    );

    #[tokio::test]
    async fn an_observed_call_reports_each_throttled_attempt_and_its_final_outcome() {
        let observed = Arc::new(Observed::default());
        let url = answering(vec![ELB_THROTTLED, ELB_THROTTLED, ELB_NO_LOAD_BALANCERS]).await;
        let clients = observed_clients(&url, &observed).await;
        clients
            .elb
            .describe_load_balancers()
            .send()
            .await
            .expect("the third attempt succeeds");
        assert_eq!(
            observed.take(),
            [
                "elbv2 DescribeLoadBalancers throttled attempt",
                "elbv2 DescribeLoadBalancers throttled attempt",
                "elbv2 DescribeLoadBalancers ok",
            ]
        );
    }

    #[tokio::test]
    async fn a_call_throttled_to_the_end_is_throttled_and_other_failures_are_errors() {
        let observed = Arc::new(Observed::default());
        let url = answering(vec![
            ELB_THROTTLED,
            ELB_THROTTLED,
            ELB_THROTTLED,
            ELB_NOT_FOUND,
        ])
        .await;
        let clients = observed_clients(&url, &observed).await;
        let describe = || clients.elb.describe_load_balancers().names("public").send();
        describe().await.expect_err("every attempt is throttled");
        assert_eq!(
            observed.take(),
            [
                "elbv2 DescribeLoadBalancers throttled attempt",
                "elbv2 DescribeLoadBalancers throttled attempt",
                "elbv2 DescribeLoadBalancers throttled attempt",
                "elbv2 DescribeLoadBalancers throttled",
            ]
        );
        describe().await.expect_err("not found");
        assert_eq!(observed.take(), ["elbv2 DescribeLoadBalancers error"]);
    }

    #[tokio::test]
    async fn acm_calls_are_observed_too() {
        let observed = Arc::new(Observed::default());
        let url = answering(vec![
            (
                400,
                "application/x-amz-json-1.1",
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            ),
            (
                200,
                "application/x-amz-json-1.1",
                r#"{"CertificateSummaryList":[]}"#,
            ),
        ])
        .await;
        let clients = observed_clients(&url, &observed).await;
        clients.acm.list_certificates().send().await.unwrap();
        assert_eq!(
            observed.take(),
            [
                "acm ListCertificates throttled attempt",
                "acm ListCertificates ok"
            ]
        );
    }

    #[test]
    fn unobserved_clients_carry_no_interceptor_of_ours() {
        let clients = Clients::from_sdk_config(&sdk(), RateLimits::unlimited());
        assert_eq!(clients.elb.config().interceptors().count(), 0);
        assert_eq!(clients.acm.config().interceptors().count(), 0);
        let observed: Arc<dyn CallObserver> = Arc::new(Observed::default());
        let clients = Clients::from_sdk_config_observed(&sdk(), RateLimits::unlimited(), observed);
        assert_eq!(clients.elb.config().interceptors().count(), 1);
        assert_eq!(clients.acm.config().interceptors().count(), 1);
    }
}
