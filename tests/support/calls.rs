//! Every AWS call gwsync's clients make, recorded by an SDK interceptor: tests hold gwsync to
//! its call budget (calls per operation) and can make the n-th write call fail.
//!
//! [`recorded_clients`] builds gwsync's [`Clients`] with the recorder attached to both the
//! ELBv2 and the ACM client. Two kinds of failure can be injected into the n-th write:
//! - [`CallLog::fail_write`]: the call fails before it is sent (AWS never sees it);
//! - [`CallLog::lose_answer_of_write`]: the call is sent and carried out, and its answer is
//!   lost (as in a crash or a cut connection right after AWS acted).
//!
//! - [`Failure::AnsweredWith503`]: the call is carried out, and its answer replaced by a 503,
//!   which the SDK retries: the retry meets what the first attempt made (a create's
//!   `PriorityInUse`, `DuplicateTargetGroupName`).
//!
//! The first two are final: interceptor errors are not retried by the SDK.

use aws_config::SdkConfig;
use aws_sdk_elasticloadbalancingv2::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeDeserializationInterceptorContextRef,
    BeforeSerializationInterceptorContextRef,
};
use aws_sdk_elasticloadbalancingv2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_elasticloadbalancingv2::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::body::SdkBody;
use gwsync::aws::client::{Clients, RateLimits};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Operation names that change something: `Create*`, `Modify*`, `Delete*`, `Set*`,
/// `Register*`, `Deregister*`, `Add*`, `Remove*`. Everything else (`Describe*`, `List*`,
/// `Get*`) reads.
pub const WRITE_PREFIXES: [&str; 8] = [
    "Create",
    "Modify",
    "Delete",
    "Set",
    "Register",
    "Deregister",
    "Add",
    "Remove",
];

pub fn is_write(operation: &str) -> bool {
    WRITE_PREFIXES.iter().any(|p| operation.starts_with(p))
}

/// How an injected failure fails its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Before the request is sent.
    BeforeSending,
    /// After AWS answered: the call took effect, the caller sees an error.
    AnswerLost,
    /// After AWS answered: the call took effect, and the SDK sees a 503 and retries it.
    AnsweredWith503,
}

/// Every operation the recorded clients started, in order; optionally fails one write.
#[derive(Debug, Default)]
pub struct CallLog {
    calls: Mutex<Vec<String>>,
    /// The 1-based number of the write call to fail (counted over the log's lifetime), and
    /// how.
    fail_write: Mutex<Option<(usize, Failure)>>,
    writes: Mutex<usize>,
    /// The write whose answer is to be lost once it arrives. gwsync makes its calls one at a
    /// time, so the next answer is that call's.
    lose_answer: Mutex<Option<String>>,
    /// The write whose (first) answer is to be replaced by a 503.
    answer_503: Mutex<bool>,
}

impl CallLog {
    /// Operation name -> calls since the last take.
    pub fn take(&self) -> BTreeMap<String, usize> {
        counts(self.calls.lock().unwrap().drain(..))
    }

    /// Makes the `n`-th write from now fail before it is sent (1-based); None stops
    /// failing.
    pub fn fail_write(&self, n: Option<usize>) {
        self.inject(n, Failure::BeforeSending);
    }

    /// Makes the `n`-th write from now take effect on AWS and then fail, its answer lost
    /// (1-based); None stops failing.
    pub fn lose_answer_of_write(&self, n: Option<usize>) {
        self.inject(n, Failure::AnswerLost);
    }

    /// Makes the `n`-th write from now fail as `failure` says; None stops failing.
    pub fn inject(&self, n: Option<usize>, failure: Failure) {
        let writes = *self.writes.lock().unwrap();
        *self.fail_write.lock().unwrap() = n.map(|n| (writes + n, failure));
    }

    /// Write calls started over the log's lifetime (the failed one included).
    pub fn writes(&self) -> usize {
        *self.writes.lock().unwrap()
    }
}

/// Operation name -> how many times it is in `calls`.
pub fn counts<S: Into<String>>(calls: impl IntoIterator<Item = S>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for op in calls {
        *counts.entry(op.into()).or_default() += 1;
    }
    counts
}

/// The write operations of a count, without the reads.
pub fn writes_of(calls: &BTreeMap<String, usize>) -> BTreeMap<String, usize> {
    calls
        .iter()
        .filter(|(op, _)| is_write(op))
        .map(|(op, n)| (op.clone(), *n))
        .collect()
}

/// The SDK interceptor that feeds a [`CallLog`].
#[derive(Debug, Clone)]
pub struct Recorder(pub Arc<CallLog>);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "gwsync-test-call-recorder"
    }

    // Once per call, before the retry loop, so a failure here is final; and after the
    // operation's own configuration (which `read_before_execution` of a client-level
    // interceptor runs before), so the operation's `Metadata` is there.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_owned())
            .unwrap_or_else(|| "<unknown>".into());
        self.0.calls.lock().unwrap().push(operation.clone());
        if is_write(&operation) {
            let mut writes = self.0.writes.lock().unwrap();
            *writes += 1;
            match *self.0.fail_write.lock().unwrap() {
                Some((n, Failure::BeforeSending)) if n == *writes => {
                    return Err(format!("injected failure of write #{writes} ({operation})").into());
                }
                Some((n, Failure::AnsweredWith503)) if n == *writes => {
                    *self.0.answer_503.lock().unwrap() = true;
                }
                Some((n, Failure::AnswerLost)) if n == *writes => {
                    *self.0.lose_answer.lock().unwrap() = Some(format!(
                        "injected loss of the answer to write #{writes} ({operation})"
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    // Per attempt, after the response arrived: AWS has acted; the SDK reads a 503 instead.
    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if std::mem::take(&mut *self.0.answer_503.lock().unwrap()) {
            let response = context.response_mut();
            *response.status_mut() = 503u16.try_into().expect("503 is a status");
            *response.body_mut() = SdkBody::from(
                "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code>\
                 <Message>injected after the call took effect</Message></Error>\
                 <RequestId>injected</RequestId></ErrorResponse>",
            );
        }
        Ok(())
    }

    // After the response arrived, before it is read: AWS has acted.
    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match self.0.lose_answer.lock().unwrap().take() {
            Some(message) => Err(message.into()),
            None => Ok(()),
        }
    }
}

/// gwsync's clients for `sdk_config`, without rate limits, every call recorded in `log`.
pub fn recorded_clients(sdk_config: &SdkConfig, log: &Arc<CallLog>) -> Clients {
    let mut clients = Clients::from_sdk_config(sdk_config, RateLimits::unlimited());
    clients.elb = aws_sdk_elasticloadbalancingv2::Client::from_conf(
        aws_sdk_elasticloadbalancingv2::config::Builder::from(sdk_config)
            .interceptor(Recorder(log.clone()))
            .build(),
    );
    clients.acm = aws_sdk_acm::Client::from_conf(
        aws_sdk_acm::config::Builder::from(sdk_config)
            .interceptor(Recorder(log.clone()))
            .build(),
    );
    clients
}
