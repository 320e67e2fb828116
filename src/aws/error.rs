//! The one AWS error type. A failed call carries the operation, AWS's error code and AWS's
//! own message (or, when AWS did not answer, the cause: timeout, connection, credentials);
//! never the request, its credentials or its pagination tokens. `observe` and `apply` both
//! make their errors here, so a failure reads the same wherever it happens.

use aws_sdk_elasticloadbalancingv2::error::{DisplayErrorContext, ProvideErrorMetadata};
use std::fmt;

/// A call that failed after the SDK's retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// The API operation, e.g. `CreateRule`.
    pub operation: &'static str,
    /// AWS's error code, e.g. `PriorityInUse`; None when AWS did not answer.
    pub code: Option<String>,
    /// AWS's message, or the cause when AWS did not answer.
    pub message: String,
}

impl CallError {
    /// The error of a failed SDK call to `operation`.
    pub fn new<E>(operation: &'static str, error: &E) -> CallError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = error.code().map(str::to_string);
        // Service errors carry AWS's message; the others (timeouts, connection failures,
        // missing credentials) are described by their first and last cause, in one short
        // line; the whole chain is logged at debug (`-vv`).
        let message = match error.message() {
            Some(m) => m.to_string(),
            None => {
                tracing::debug!(operation, error = %DisplayErrorContext(error), "call failed");
                short_cause(error)
            }
        };
        CallError {
            operation,
            code,
            message,
        }
    }

    /// Whether AWS answered with this error code.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

/// Longest cause kept in a [`CallError`]'s message.
const MAX_CAUSE: usize = 200;

/// `outermost: innermost` of an error's chain (the SDK's middle layers say the same again,
/// some in their Debug form), cut at [`MAX_CAUSE`] characters; for missing credentials,
/// with where gwsync looks for them.
fn short_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let top = error.to_string();
    let mut root = None;
    let mut source = error.source();
    while let Some(s) = source {
        root = Some(s.to_string());
        source = s.source();
    }
    // One line: a cause that lists its attempts keeps its first line.
    let root = root.map(|r| {
        r.lines()
            .next()
            .unwrap_or_default()
            .trim_end_matches("Attempted:")
            .trim()
            .to_string()
    });
    let mut text = match root {
        Some(root) if !root.is_empty() && root != top => format!("{top}: {root}"),
        _ => top,
    };
    if text.chars().count() > MAX_CAUSE {
        text = text.chars().take(MAX_CAUSE).collect::<String>() + "…";
    }
    if text.to_ascii_lowercase().contains("credential") {
        text.push_str(
            " (gwsync finds AWS credentials as the AWS CLI does: the EC2 instance profile, aws.profile or AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; -vv shows every provider tried)",
        );
    }
    text
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: ", self.operation)?;
        if let Some(code) = &self.code {
            write!(f, "{code}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for CallError {}

/// Reading or changing AWS failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    #[error(transparent)]
    Call(#[from] CallError),
    /// An owned resource that the model cannot hold (e.g. two load balancers claiming one
    /// Gateway): an operator must look before gwsync touches anything.
    #[error("{resource}: {message}")]
    Unexpected { resource: String, message: String },
}

impl AwsError {
    pub(super) fn unexpected(resource: impl Into<String>, message: impl Into<String>) -> AwsError {
        AwsError::Unexpected {
            resource: resource.into(),
            message: message.into(),
        }
    }
}
