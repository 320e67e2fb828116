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
//! What is left to others: which calls to make (`observe`, `apply`), and errors (callers
//! turn SDK errors into their own typed errors).

use crate::config::AwsConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Attempts per call, the first included (the SDK's default is 3).
pub const MAX_ATTEMPTS: u32 = 5;

/// How long one attempt may take before it is abandoned (and retried): a hung connection
/// must not stall a reconcile forever.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one call may take, its retries and backoff included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);

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
    /// Modest on purpose: ELB throttles per account and region, and the account's other
    /// tools share that budget. Reads come in bursts (one observe is tens of calls); writes
    /// are few per reconcile and go out at a pace that never starves the others.
    fn default() -> Self {
        RateLimits {
            read_per_second: 50,
            read_burst: 200,
            write_per_second: 3,
            write_burst: 20,
        }
    }
}

impl RateLimits {
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
    reads: Option<Arc<DefaultDirectRateLimiter>>,
    writes: Option<Arc<DefaultDirectRateLimiter>>,
    /// Calls made, counted as permits taken: every call takes exactly one.
    counts: Arc<CallCounts>,
}

#[derive(Debug, Default)]
struct CallCounts {
    reads: AtomicU64,
    writes: AtomicU64,
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
        Clients::from_sdk_config(&loader.load().await, rates)
    }

    /// Clients from a configuration made elsewhere (tests point it at moto), used as given.
    pub fn from_sdk_config(sdk: &SdkConfig, rates: RateLimits) -> Clients {
        Clients {
            elb: aws_sdk_elasticloadbalancingv2::Client::new(sdk),
            acm: aws_sdk_acm::Client::new(sdk),
            reads: limiter(rates.read_per_second, rates.read_burst),
            writes: limiter(rates.write_per_second, rates.write_burst),
            counts: Arc::default(),
        }
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

    /// Waits until a write (Create*, Modify*, Delete*, Set*, tags, targets) may be sent.
    pub async fn write(&self) {
        self.counts.writes.fetch_add(1, Ordering::Relaxed);
        if let Some(l) = &self.writes {
            l.until_ready().await;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
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
    async fn unlimited_never_waits() {
        let clients = Clients::from_sdk_config(&sdk(), RateLimits::unlimited());
        let start = Instant::now();
        for _ in 0..10_000 {
            clients.read().await;
            clients.write().await;
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
            (50, 200, 3, 20)
        );
    }
}
