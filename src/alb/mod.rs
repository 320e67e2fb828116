//! The ALB model: load balancers, listeners, rules, target groups, as plain data.
//!
//! One set of types serves as the desired state (built by `translate` from admitted
//! documents) and the observed state (read from AWS). Everything that AWS reports in several
//! equivalent shapes is given one canonical shape here, so that two equal configurations
//! compare equal: conditions and actions are typed, values are kept in the order gwsync
//! writes them, redirect parts are always filled (`#{host}` and friends when unchanged).
//!
//! The model knows nothing about Gateway API; [`evaluate`] answers "which rule takes this
//! request and what happens" from the model alone, with ALB's matching rules.

pub mod covers;
pub mod evaluate;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod identity;
mod observed;
pub mod render;
pub mod values;

pub use observed::Observed;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every load balancer of one revision, one per Gateway, sorted by Gateway.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stack {
    pub load_balancers: Vec<LoadBalancer>,
}

impl Stack {
    pub fn load_balancer(&self, gateway: &str) -> Option<&LoadBalancer> {
        self.load_balancers.iter().find(|lb| lb.gateway == gateway)
    }
}

/// An Application Load Balancer, built from one Gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancer {
    /// `namespace/name` of the Gateway: the load balancer's stable identity.
    pub gateway: String,
    /// The ALB name: at most 32 characters of letters, digits and '-'.
    pub name: String,
    pub scheme: Scheme,
    pub ip_address_type: IpAddressType,
    /// Subnet IDs (`subnet-…`; names are not resolved).
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// Sorted by port.
    pub listeners: Vec<Listener>,
    /// The target groups gwsync owns for this load balancer, sorted by backend.
    pub target_groups: Vec<TargetGroup>,
}

impl LoadBalancer {
    pub fn listener(&self, port: u16) -> Option<&Listener> {
        self.listeners.iter().find(|l| l.port == port)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    Internal,
    InternetFacing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IpAddressType {
    Ipv4,
    Dualstack,
    DualstackWithoutPublicIpv4,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    Http,
    Https,
}

impl Protocol {
    /// Whether clients leave `port` out of the Host header for this scheme (80, 443).
    pub fn is_default_port(self, port: u16) -> bool {
        port == match self {
            Protocol::Http => 80,
            Protocol::Https => 443,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "HTTP",
            Protocol::Https => "HTTPS",
        }
    }

    /// The URL scheme of requests on this protocol.
    pub fn scheme(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
        }
    }
}

/// One ALB listener: every Gateway and ListenerSet listener on one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    pub port: u16,
    pub protocol: Protocol,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_policy: Option<String>,
    /// Certificates of an HTTPS listener; the first is the default certificate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<Certificate>,
    /// What a request that no rule matches gets: gwsync always answers a fixed 404.
    pub default_action: Action,
    /// Sorted by priority.
    pub rules: Vec<Rule>,
}

/// A listener certificate: known by ARN, or to be found in ACM for a hostname.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Certificate {
    Arn(String),
    /// An issued ACM certificate covering this hostname, looked up when planning against AWS.
    ForHostname(String),
    /// An issued ACM certificate covering a hostname of a route attached to a listener that
    /// has no hostname and no certificate of its own (as the AWS Load Balancer Controller
    /// discovers them): used when ACM has one; the listener needs at least one.
    ForRouteHostname(String),
}

impl Certificate {
    /// The hostname to find a certificate for in ACM, if this one is not known by ARN.
    pub fn hostname(&self) -> Option<&str> {
        match self {
            Certificate::Arn(_) => None,
            Certificate::ForHostname(h) | Certificate::ForRouteHostname(h) => Some(h),
        }
    }
}

/// A listener rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// 1..=50000; lower is evaluated first.
    pub priority: u32,
    /// ANDed; within one condition, values are ORed.
    pub conditions: Vec<Condition>,
    /// Authentication actions first, then exactly one final action.
    pub actions: Vec<Action>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<Transform>,
    /// Why the rule exists; None for a rule read from AWS that gwsync cannot trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<RuleSource>,
    /// The team (or `platform`) whose documents asked for the rule: its `gwsync.dev/owner`
    /// tag on AWS, so that a refused team's rules can be left exactly as they are while
    /// every other team proceeds. None for a rule read back without that tag (made by an
    /// older gwsync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl Rule {
    /// The action that decides the response (the last one).
    pub fn final_action(&self) -> Option<&Action> {
        self.actions.last()
    }

    /// Makes the rule answer 500 for exactly its own requests (its conditions stay): what a
    /// rule that needs what it cannot have (a target group, credentials) does instead of
    /// failing at apply.
    pub fn answer_500(&mut self) {
        self.actions = vec![Action::fixed(500)];
        self.transforms.clear();
    }

    /// The target groups the rule forwards to.
    pub fn forwards_to(&self) -> impl Iterator<Item = &TargetGroupRef> {
        self.actions
            .iter()
            .flat_map(|a| match a {
                Action::Forward { target_groups, .. } => target_groups.as_slice(),
                _ => &[],
            })
            .map(|w| &w.target_group)
    }

    /// The backends of the target groups gwsync owns that the rule forwards to.
    pub fn owned_backends(&self) -> impl Iterator<Item = &String> {
        self.forwards_to().filter_map(|t| match t {
            TargetGroupRef::Owned(backend) => Some(backend),
            TargetGroupRef::Existing(_) => None,
        })
    }
}

/// The backend of the target group gwsync owns on each load balancer that needs it and never
/// registers a target in: a forward's share for unresolved backends goes there, and ALB
/// answers it with 503 (docs/SEMANTICS.md). `namespace/name:port` like a Service backend,
/// in a namespace no team can have (`gwsync.dev` is not a DNS label).
pub const UNRESOLVED_BACKEND: &str = "gwsync.dev/unresolved-backends:80";

/// Where a rule came from, for plans and `explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RuleSource {
    /// Matches of one HTTPRoute rule (several when compacted).
    Route {
        /// `namespace/name` of the HTTPRoute.
        route: String,
        /// Index of the rule in `spec.rules`.
        rule: usize,
        /// Indexes of the matches in the rule's `matches` (empty: the rule has none).
        matches: Vec<usize>,
        /// The route's file and line in the repository (`teams/payments/routes.yaml:12`), so
        /// that a plan or an apply failure points at what to edit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
        /// The rule's `name` (Gateway API `HTTPRouteRule.name`), when it has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// A 404 that keeps requests for a more specific listener hostname away from less
    /// specific listeners' routes (Gateway API listener isolation).
    ListenerIsolation { hostname: String },
    /// A rule on one of gwsync's listeners that gwsync does not own (made by hand or by
    /// another tool): read from AWS, never changed.
    Foreign,
}

/// A rule condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "field", rename_all = "kebab-case")]
pub enum Condition {
    HostHeader {
        values: Patterns,
    },
    PathPattern {
        values: Patterns,
    },
    HttpHeader {
        name: String,
        values: Patterns,
    },
    /// Pairs with an optional key; any pair may match.
    QueryString {
        values: Vec<QueryValue>,
    },
    HttpRequestMethod {
        values: Vec<String>,
    },
    SourceIp {
        values: Vec<String>,
    },
}

impl Condition {
    /// Sorts a rule's conditions into gwsync's canonical order (host, path, method, headers
    /// by name, query strings, source IPs), so that a rule built by translation and the same
    /// rule read back from AWS compare equal, and hash alike for their identity.
    pub fn canonical_order(conditions: &mut [Condition]) {
        conditions.sort_by_cached_key(|c| {
            let rank = match c {
                Condition::HostHeader { .. } => 0,
                Condition::PathPattern { .. } => 1,
                Condition::HttpRequestMethod { .. } => 2,
                Condition::HttpHeader { .. } => 3,
                Condition::QueryString { .. } => 4,
                Condition::SourceIp { .. } => 5,
            };
            (rank, serde_json::to_string(c).unwrap_or_default())
        });
    }

    /// How many values this condition counts against ALB's limit of condition values per
    /// rule.
    pub fn value_count(&self) -> usize {
        match self {
            Condition::HostHeader { values }
            | Condition::PathPattern { values }
            | Condition::HttpHeader { values, .. } => values.len(),
            Condition::QueryString { values } => values.len(),
            Condition::HttpRequestMethod { values } | Condition::SourceIp { values } => {
                values.len()
            }
        }
    }

    /// How many `*` and `?` wildcards this condition's values hold.
    pub fn wildcard_count(&self) -> usize {
        let count = |s: &str| s.chars().filter(|c| *c == '*' || *c == '?').count();
        match self {
            Condition::HostHeader {
                values: Patterns::Wildcard(v),
            }
            | Condition::PathPattern {
                values: Patterns::Wildcard(v),
            }
            | Condition::HttpHeader {
                values: Patterns::Wildcard(v),
                ..
            } => v.iter().map(|s| count(s)).sum(),
            Condition::QueryString { values } => values
                .iter()
                .map(|q| q.key.as_deref().map_or(0, count) + count(&q.value))
                .sum(),
            _ => 0,
        }
    }
}

/// Values of a host, path or header condition: ALB wildcard patterns (`*`, `?`) or regular
/// expressions (`RegexValues`). One condition holds one kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Patterns {
    Wildcard(Vec<String>),
    Regex(Vec<String>),
}

impl Patterns {
    pub fn len(&self) -> usize {
        match self {
            Patterns::Wildcard(v) | Patterns::Regex(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct QueryValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub value: String,
}

/// A rule or default action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Action {
    Forward {
        target_groups: Vec<WeightedTargetGroup>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stickiness_seconds: Option<u32>,
    },
    /// Every part is filled, as AWS returns it: `#{protocol}`, `#{host}`, `#{port}`,
    /// `/#{path}`, `#{query}` keep the request's own.
    Redirect {
        protocol: String,
        host: String,
        port: String,
        path: String,
        query: String,
        status: u16,
    },
    FixedResponse {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    },
    /// Authentication before the final action: `authenticate-cognito`, `authenticate-oidc` or
    /// `jwt-validation`.
    Authenticate(Authenticate),
}

impl Action {
    pub fn fixed(status: u16) -> Action {
        Action::FixedResponse {
            status,
            content_type: None,
            body: None,
        }
    }
}

/// An authentication action, typed by kind. The client secret of OIDC is never part of the
/// model (AWS does not return it, and it has no place in a plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Authenticate {
    Cognito(CognitoAuthentication),
    Oidc(OidcAuthentication),
    JwtValidation(JwtValidation),
}

impl Authenticate {
    /// The ALB action type, e.g. `authenticate-cognito`.
    pub fn action_type(&self) -> &'static str {
        match self {
            Authenticate::Cognito(_) => "authenticate-cognito",
            Authenticate::Oidc(_) => "authenticate-oidc",
            Authenticate::JwtValidation(_) => "jwt-validation",
        }
    }
}

/// `authenticate-cognito`: an Amazon Cognito user pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CognitoAuthentication {
    pub user_pool_arn: String,
    pub user_pool_client_id: String,
    pub user_pool_domain: String,
    pub session: AuthenticationSession,
}

/// `authenticate-oidc`: an OpenID Connect identity provider.
#[derive(Debug, Clone, Eq, Serialize, Deserialize)]
pub struct OidcAuthentication {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub user_info_endpoint: String,
    /// The OAuth 2.0 client ID. Translation leaves it empty: it comes from `credentials`,
    /// which only a live plan reads (`aws::secrets`).
    pub client_id: String,
    pub session: AuthenticationSession,
    /// Where the client ID and secret come from (desired rules only: AWS returns neither
    /// the secret nor where it came from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<OidcCredentials>,
}

/// Two OIDC actions are the same on AWS when everything AWS holds and returns is: where a
/// desired rule's credentials come from is not part of that.
impl PartialEq for OidcAuthentication {
    fn eq(&self, other: &Self) -> bool {
        self.issuer == other.issuer
            && self.authorization_endpoint == other.authorization_endpoint
            && self.token_endpoint == other.token_endpoint
            && self.user_info_endpoint == other.user_info_endpoint
            && self.client_id == other.client_id
            && self.session == other.session
    }
}

/// The AWS Secrets Manager secret that holds an OIDC client's `clientID` and `clientSecret`
/// (JSON), read when a live plan is made; the secret itself lives only in memory, for the
/// requests that send it ([`crate::aws::AwsIds::client_secrets`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcCredentials {
    /// The secret's full name (`gwsync/payments/okta`).
    pub secret: String,
    /// A rule that exists keeps the client secret it has on AWS when modified
    /// (`useExistingClientSecret`); a new rule always gets the one the secret holds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_existing_secret: bool,
}

/// The session settings Cognito and OIDC authentication share. AWS fills in its defaults
/// ([`AuthenticationSession::default`]) when they are not given and reports them back, so
/// the desired state states them too and an unchanged rule compares equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticationSession {
    pub scope: String,
    pub session_cookie_name: String,
    pub session_timeout_seconds: i64,
    pub on_unauthenticated_request: OnUnauthenticatedRequest,
    /// Query parameters for the redirect to the authorization endpoint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_params: BTreeMap<String, String>,
}

impl Default for AuthenticationSession {
    /// AWS's defaults (AuthenticateCognitoActionConfig / AuthenticateOidcActionConfig API
    /// reference): scope `openid`, cookie `AWSELBAuthSessionCookie`, 7 days, authenticate.
    fn default() -> Self {
        AuthenticationSession {
            scope: "openid".to_string(),
            session_cookie_name: "AWSELBAuthSessionCookie".to_string(),
            session_timeout_seconds: 604_800,
            on_unauthenticated_request: OnUnauthenticatedRequest::Authenticate,
            extra_params: BTreeMap::new(),
        }
    }
}

/// What ALB does with a request that has no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnauthenticatedRequest {
    Deny,
    Allow,
    Authenticate,
}

impl OnUnauthenticatedRequest {
    pub fn as_str(self) -> &'static str {
        match self {
            OnUnauthenticatedRequest::Deny => "deny",
            OnUnauthenticatedRequest::Allow => "allow",
            OnUnauthenticatedRequest::Authenticate => "authenticate",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Deny, Self::Allow, Self::Authenticate]
            .into_iter()
            .find(|v| v.as_str() == value)
    }
}

/// `jwt-validation`: a bearer token checked against an issuer's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtValidation {
    pub issuer: String,
    pub jwks_endpoint: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_claims: Vec<JwtClaim>,
}

/// A claim a JWT must carry, with the values it may have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtClaim {
    pub name: String,
    /// `single-string`, `string-array` or `space-separated-values`, as AWS names them.
    pub format: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightedTargetGroup {
    pub target_group: TargetGroupRef,
    /// 0..=999.
    pub weight: u32,
}

/// A target group named by a rule: one gwsync owns (by backend) or an existing one (by name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetGroupRef {
    /// `namespace/name:port` of the Service.
    Owned(String),
    /// The name of a target group gwsync does not own.
    Existing(String),
}

/// A request transform applied before the request reaches its targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Transform {
    HostHeaderRewrite { regex: String, replace: String },
    UrlRewrite { regex: String, replace: String },
}

/// A target group gwsync owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroup {
    /// `namespace/name:port` of the Service; also the `gwsync.dev/backend` tag.
    pub backend: String,
    /// At most 32 characters of letters, digits and '-'.
    pub name: String,
    pub protocol: Protocol,
    pub protocol_version: ProtocolVersion,
    pub port: u16,
    pub target_type: TargetType,
    pub health_check: HealthCheck,
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// Targets registered by gwsync; empty when registration is left to others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Target>,
    /// The team (or `platform`) whose TargetGroupConfiguration declares it: its
    /// `gwsync.dev/owner` tag on AWS. None for a group read back without that tag (made by
    /// an older gwsync). Not compared: it is written once, at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub protocol: Protocol,
    /// `traffic-port` or a port number.
    pub port: String,
    pub path: String,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub matcher: Matcher,
}

impl HealthCheck {
    /// What ELB uses for a target group of `protocol` and `version` when a setting is not
    /// given (CreateTargetGroup API reference): the traffic port, `/`, every 30 s, 5 s
    /// timeout, 5 healthy and 2 unhealthy results, the version's default matcher. The one
    /// place these defaults live: translation fills in what the configuration leaves out,
    /// observe what AWS leaves out.
    pub fn aws_default(protocol: Protocol, version: ProtocolVersion) -> HealthCheck {
        HealthCheck {
            protocol,
            port: "traffic-port".to_string(),
            path: "/".to_string(),
            interval_seconds: 30,
            timeout_seconds: 5,
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            matcher: Matcher::default_for(version),
        }
    }
}

/// The HTTP version from the load balancer to the targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ProtocolVersion {
    /// AWS's default for HTTP and HTTPS target groups.
    #[default]
    Http1,
    Http2,
    Grpc,
}

impl ProtocolVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::Http1 => "HTTP1",
            ProtocolVersion::Http2 => "HTTP2",
            ProtocolVersion::Grpc => "GRPC",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Http1, Self::Http2, Self::Grpc]
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(value))
    }
}

/// What a target group's targets are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    /// EC2 instance IDs: AWS's default.
    #[default]
    Instance,
    Ip,
    Lambda,
    Alb,
}

impl TargetType {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Instance => "instance",
            TargetType::Ip => "ip",
            TargetType::Lambda => "lambda",
            TargetType::Alb => "alb",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Instance, Self::Ip, Self::Lambda, Self::Alb]
            .into_iter()
            .find(|v| v.as_str() == value)
    }
}

/// The responses a health check counts as healthy: HTTP status codes for HTTP/1 and HTTP/2
/// target groups, gRPC status codes for gRPC ones (e.g. `200-299`, `0`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Matcher {
    HttpCode(String),
    GrpcCode(String),
}

impl Matcher {
    /// AWS's default for a target group of `version`: `200` for HTTP, `12` for gRPC.
    pub fn default_for(version: ProtocolVersion) -> Matcher {
        match version {
            ProtocolVersion::Grpc => Matcher::GrpcCode("12".to_string()),
            ProtocolVersion::Http1 | ProtocolVersion::Http2 => Matcher::HttpCode("200".to_string()),
        }
    }

    /// The codes, whichever kind they are.
    pub fn codes(&self) -> &str {
        match self {
            Matcher::HttpCode(c) | Matcher::GrpcCode(c) => c,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_aws_defaults_by_protocol_version() {
        assert_eq!(ProtocolVersion::default(), ProtocolVersion::Http1);
        assert_eq!(TargetType::default(), TargetType::Instance);
        let http = HealthCheck::aws_default(Protocol::Https, ProtocolVersion::Http2);
        assert_eq!(http.matcher, Matcher::HttpCode("200".into()));
        assert_eq!(http.protocol, Protocol::Https);
        let grpc = HealthCheck::aws_default(Protocol::Http, ProtocolVersion::Grpc);
        assert_eq!(grpc.matcher, Matcher::GrpcCode("12".into()));
        assert_eq!(ProtocolVersion::parse("grpc"), Some(ProtocolVersion::Grpc));
        assert_eq!(TargetType::parse("lambda"), Some(TargetType::Lambda));
        assert_eq!(
            TargetType::parse("Lambda"),
            None,
            "AWS's values are lower case"
        );
    }

    #[test]
    fn typed_values_keep_aws_names_in_json() {
        assert_eq!(serde_json::to_value(ProtocolVersion::Grpc).unwrap(), "GRPC");
        assert_eq!(serde_json::to_value(TargetType::Ip).unwrap(), "ip");
        assert_eq!(
            serde_json::to_value(Matcher::GrpcCode("0".into())).unwrap(),
            serde_json::json!({"grpc-code": "0"})
        );
        let auth = Action::Authenticate(Authenticate::JwtValidation(JwtValidation {
            issuer: "https://idp".into(),
            jwks_endpoint: "https://idp/keys".into(),
            additional_claims: vec![],
        }));
        let text = serde_json::to_string(&auth).unwrap();
        assert_eq!(
            serde_json::from_str::<Action>(&text).unwrap(),
            auth,
            "{text}"
        );
    }
}
