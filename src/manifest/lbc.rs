//! The AWS Load Balancer Controller's Gateway API configuration kinds (API group
//! `gateway.k8s.aws`, versions `v1beta1` and `v1`), as gwsync reads them:
//!
//! - `LoadBalancerConfiguration` (in `platform/`): the load balancer behind a Gateway
//!   (scheme, subnets, security groups, attributes, certificates per listener), attached with
//!   the Gateway's `spec.infrastructure.parametersRef`.
//! - `TargetGroupConfiguration` (in a team's folder): the target group behind a `Service`
//!   backend, named by `targetReference`. Without Kubernetes, this document is what makes
//!   the Service exist for gwsync.
//! - `ListenerRuleConfiguration` (in a team's folder): extra conditions and actions for the
//!   ALB rules of an HTTPRoute rule, attached with an `ExtensionRef` filter.
//!
//! Only the `spec` types live here; the envelope (`apiVersion`, `kind`, `metadata`) and YAML
//! handling are the loader's job (`manifest::yaml`). This module checks shape, not
//! values: one configuration block per action, one health-check matcher, a well-formed
//! `protocolPort`. Value ranges and ALB limits (name lengths, status codes, how many values
//! a condition holds) are checked in `translate`.
//!
//! Schema source: `kubernetes-sigs/aws-load-balancer-controller`, files
//! `apis/gateway/v1/{loadbalancerconfig,targetgroupconfig,listenerruleconfig}_types.go`
//! (commit `f227bb21`), the same files under `apis/gateway/v1beta1/`, the CRD
//! `config/crd/gateway/gateway.k8s.aws_loadbalancerconfigurations.yaml` and
//! `docs/guide/gateway/{loadbalancerconfig,targetgroupconfig,listenerruleconfig}.md`.
//! Field names and enum values are the controller's, so a file written for the controller
//! reads the same here. Both versions share one set of types, since v1 and the current
//! v1beta1 agree on the fields gwsync keeps, except that v1 lets a
//! `TargetGroupConfiguration` omit `targetReference` (gwsync requires it) and v1beta1 had a
//! `namespace` on the OIDC client secret (refused: gwsync has no Kubernetes Secrets). Shapes
//! of early v1beta1 releases (tags as a list of `{key, value}`, a route `identifier` string)
//! are refused.
//!
//! Every struct refuses unknown fields. A controller field that gwsync leaves out is refused
//! too rather than ignored, so that the load balancer never silently differs from the file.
//! Left out on purpose:
//! - Network Load Balancer fields: subnet `eipAllocation`, `privateIPv4Allocation`,
//!   `ipv6Allocation`, `sourceNatIPv6Prefix`; listener `alpnPolicy`, `targetGroupStickiness`,
//!   `quicEnabled`; `enableICMP`, `disableSecurityGroup`,
//!   `enforceSecurityGroupInboundRulesOnPrivateLinkTraffic`; protocols other than HTTP and
//!   HTTPS; TCP health checks.
//! - Kubernetes-only fields: `mergingMode` (no GatewayClass configuration),
//!   `manageBackendSecurityGroupRules`, `nodeSelector`, `enableMultiCluster`,
//!   `vpcId` / `vpcID` (the VPC follows from the load balancer's subnets), and a
//!   `TargetGroupConfiguration` without `targetReference` (used only through
//!   `defaultTargetGroupConfiguration`, not supported yet).
//! - Security groups the controller would create: `securityGroupPrefixes`, `sourceRanges`
//!   (gwsync attaches the groups you list, it does not manage any).
//! - Other services and not-yet-supported load balancer features: `wafV2`,
//!   `shieldConfiguration`, `minimumLoadBalancerCapacity`, `customerOwnedIpv4Pool`,
//!   `ipv4IPAMPoolId`, `loadBalancerSubnetsSelector`, listener `mutualAuthentication` and
//!   `listenerAttributes`, `targetControlPort`, OIDC `useExistingClientSecret`, and the
//!   `host-header` rule condition of newer controller releases (hostnames are owned per team
//!   and come from the HTTPRoute).
//!
//! One gwsync extension, not in the controller's schema: `targets` in a target group's
//! properties ([`TargetGroupProps::targets`]), to register targets without Kubernetes.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The API group of the AWS Load Balancer Controller's kinds.
pub const GROUP: &str = "gateway.k8s.aws";
/// The versions of [`GROUP`] that gwsync reads; both map onto the same spec types.
pub const VERSIONS: &[&str] = &["v1beta1", "v1"];

/// AWS tags, key to value. Ordered so that canonical output is stable.
pub type Tags = BTreeMap<String, String>;

// ---------------------------------------------------------------------------------------
// LoadBalancerConfiguration
// ---------------------------------------------------------------------------------------

/// `LoadBalancerConfiguration.spec`: settings of the ALB behind a Gateway. Every field is
/// optional; gwsync's defaults apply to what is left out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoadBalancerConfigurationSpec {
    /// The load balancer's name (1 to 32 characters). Generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_name: Option<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<LoadBalancerScheme>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_type: Option<LoadBalancerIpAddressType>,

    /// The subnets to place the load balancer in (at least two Availability Zones).
    #[serde(
        default,
        deserialize_with = "null_is_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub load_balancer_subnets: Vec<SubnetConfiguration>,

    /// Security groups to attach, by ID or name, as the controller accepts them.
    #[serde(
        default,
        deserialize_with = "null_is_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub security_groups: Vec<String>,

    /// Per-listener settings, matched to the Gateway's listeners by protocol and port.
    #[serde(
        default,
        deserialize_with = "null_is_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub listener_configurations: Vec<ListenerConfiguration>,

    /// ELB load balancer attributes, e.g. `idle_timeout.timeout_seconds`.
    #[serde(
        default,
        deserialize_with = "null_is_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub load_balancer_attributes: Vec<Attribute>,

    /// Tags on the load balancer (the controller also puts them on its listeners).
    #[serde(
        default,
        deserialize_with = "null_is_empty",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub tags: Tags,

    /// A TargetGroupConfiguration without `targetReference`, in the platform folder, whose
    /// properties every target group of the load balancer takes where its own
    /// configuration leaves them out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_target_group_configuration: Option<DefaultTargetGroupConfigurationRef>,
}

/// `defaultTargetGroupConfiguration`: a default TargetGroupConfiguration, by name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DefaultTargetGroupConfigurationRef {
    pub name: String,
}

/// One subnet of the load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubnetConfiguration {
    /// The subnet's ID (`subnet-…`) or name.
    pub identifier: String,
}

/// Settings for one listener of the load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListenerConfiguration {
    /// Which listener these settings are for, e.g. `HTTPS:443`.
    pub protocol_port: ProtocolPort,

    /// ARN of the listener's default certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_certificate: Option<String>,

    /// ARNs of further certificates (SNI).
    #[serde(
        default,
        deserialize_with = "null_is_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub certificates: Vec<String>,

    /// The ELB security policy of an HTTPS listener, e.g.
    /// `ELBSecurityPolicy-TLS13-1-2-2021-06`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_policy: Option<String>,
}

/// A listener's `PROTOCOL:PORT`, written as one string (`HTTPS:443`) like the controller's
/// `protocolPort`. Only the ALB protocols are accepted, and both parts are required: the
/// controller's pattern lets either be empty, but such a value never matches a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolPort {
    pub protocol: ListenerProtocol,
    pub port: u16,
}

impl fmt::Display for ProtocolPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.protocol, self.port)
    }
}

impl FromStr for ProtocolPort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let invalid = |why: &str| format!("invalid protocolPort `{s}`: {why}");
        let (protocol, port) = s
            .split_once(':')
            .ok_or_else(|| invalid("expected PROTOCOL:PORT, e.g. HTTPS:443"))?;
        let protocol = match protocol {
            "HTTP" => ListenerProtocol::Http,
            "HTTPS" => ListenerProtocol::Https,
            _ => return Err(invalid("the protocol must be HTTP or HTTPS")),
        };
        // Compare with the number written back to refuse `+443` and `0443`.
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0 && p.to_string() == port)
            .ok_or_else(|| invalid("the port must be a number from 1 to 65535"))?;
        Ok(ProtocolPort { protocol, port })
    }
}

impl Serialize for ProtocolPort {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ProtocolPort {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------
// TargetGroupConfiguration
// ---------------------------------------------------------------------------------------

/// `TargetGroupConfiguration.spec`: the target group behind a `Service` backend, with
/// defaults for every route that uses it and overrides per route.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TargetGroupConfigurationSpec {
    /// The backend these settings are for. Without it (the controller's v1) the
    /// configuration is a default that a LoadBalancerConfiguration names
    /// (`defaultTargetGroupConfiguration`): only the platform declares those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_reference: Option<TargetReference>,

    /// Properties for every route that uses the backend, unless a route configuration
    /// overrides them.
    #[serde(
        default,
        deserialize_with = "null_is_empty",
        skip_serializing_if = "TargetGroupProps::is_empty"
    )]
    pub default_configuration: TargetGroupProps,

    /// Properties for specific routes. The most specific identifier that matches a route
    /// wins: kind + namespace + name, then kind + namespace, then kind alone.
    #[serde(
        default,
        deserialize_with = "null_is_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub route_configurations: Vec<RouteConfiguration>,
}

/// The backend object a [`TargetGroupConfigurationSpec`] configures.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TargetReference {
    /// The referent's API group; absent or empty means the core group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,

    /// The referent's kind; absent means `Service`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,

    pub name: String,
}

impl TargetReference {
    /// The API group with the controller's default applied (`""`, the core group).
    pub fn group(&self) -> &str {
        self.group.as_deref().unwrap_or("")
    }

    /// The kind with the controller's default applied (`Service`).
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("Service")
    }
}

/// Target group properties for the routes a [`RouteIdentifier`] selects.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RouteConfiguration {
    pub route_identifier: RouteIdentifier,
    pub target_group_props: TargetGroupProps,
}

/// Selects routes: by kind, kind and namespace, or kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RouteIdentifier {
    /// The route's kind, e.g. `HTTPRoute`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The properties of a target group. Every field is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TargetGroupProps {
    /// The target group's name (at most 32 characters). Generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_name: Option<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_type: Option<TargetGroupIpAddressType>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_config: Option<HealthCheckConfiguration>,

    /// ELB target group attributes, e.g. `deregistration_delay.timeout_seconds`.
    #[serde(
        default,
        deserialize_with = "null_is_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub target_group_attributes: Vec<Attribute>,

    /// `instance` when absent, as in the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TargetGroupProtocol>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<ProtocolVersion>,

    #[serde(
        default,
        deserialize_with = "null_is_empty",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub tags: Tags,

    /// **gwsync extension, not in the AWS Load Balancer Controller's schema.** The targets
    /// to register in the target group, since there are no Pods or Nodes to discover. When
    /// empty, gwsync registers nothing and leaves registration to others (e.g. an Auto
    /// Scaling group attached to the target group).
    #[serde(
        default,
        deserialize_with = "null_is_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub targets: Vec<Target>,
}

impl TargetGroupProps {
    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// These properties, with `defaults` filling what they leave out: field by field (the
    /// health check's too), attributes and tags by key (these win). The name and the targets
    /// are never taken from defaults: a name is one group's, targets one Service's.
    pub fn over(&self, defaults: &TargetGroupProps) -> TargetGroupProps {
        let by_key = |own: &[Attribute], fallback: &[Attribute]| {
            let mut merged: Vec<Attribute> = fallback
                .iter()
                .filter(|d| !own.iter().any(|o| o.key == d.key))
                .cloned()
                .collect();
            merged.extend(own.iter().cloned());
            merged
        };
        let mut tags = defaults.tags.clone();
        tags.extend(self.tags.clone());
        TargetGroupProps {
            target_group_name: self.target_group_name.clone(),
            ip_address_type: self.ip_address_type.or(defaults.ip_address_type),
            health_check_config: match (&self.health_check_config, &defaults.health_check_config) {
                (Some(own), Some(fallback)) => Some(own.over(fallback)),
                (own, fallback) => own.clone().or_else(|| fallback.clone()),
            },
            target_group_attributes: by_key(
                &self.target_group_attributes,
                &defaults.target_group_attributes,
            ),
            target_type: self.target_type.or(defaults.target_type),
            protocol: self.protocol.or(defaults.protocol),
            protocol_version: self.protocol_version.or(defaults.protocol_version),
            tags,
            targets: self.targets.clone(),
        }
    }
}

impl HealthCheckConfiguration {
    /// This health check, with `defaults` filling the fields it leaves out.
    fn over(&self, defaults: &HealthCheckConfiguration) -> HealthCheckConfiguration {
        HealthCheckConfiguration {
            healthy_threshold_count: self
                .healthy_threshold_count
                .or(defaults.healthy_threshold_count),
            health_check_interval: self
                .health_check_interval
                .or(defaults.health_check_interval),
            health_check_path: self
                .health_check_path
                .clone()
                .or_else(|| defaults.health_check_path.clone()),
            health_check_port: self.health_check_port.or(defaults.health_check_port),
            health_check_protocol: self
                .health_check_protocol
                .or(defaults.health_check_protocol),
            health_check_timeout: self.health_check_timeout.or(defaults.health_check_timeout),
            unhealthy_threshold_count: self
                .unhealthy_threshold_count
                .or(defaults.unhealthy_threshold_count),
            matcher: self.matcher.clone().or_else(|| defaults.matcher.clone()),
        }
    }
}

/// **gwsync extension.** One target to register, as in ELB's `RegisterTargets`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Target {
    /// An instance ID (`i-…`) for `targetType: instance`, an IP address for `ip`.
    pub id: String,

    /// The port the target receives traffic on; the target group's port when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,

    /// For IP targets outside the VPC: `all`, or the target's Availability Zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
}

/// How the load balancer checks the health of the targets. Every field is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthCheckConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_threshold_count: Option<i32>,

    /// Seconds between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_interval: Option<i32>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_path: Option<String>,

    /// The port to check; the traffic port when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_port: Option<HealthCheckPort>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_protocol: Option<HealthCheckProtocol>,

    /// Seconds without a response that fail a check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_timeout: Option<i32>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_threshold_count: Option<i32>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matcher: Option<HealthCheckMatcher>,
}

/// The health check port. The controller's field is a string; `traffic-port` or a port
/// number, written quoted or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthCheckPort {
    /// The port each target receives traffic on.
    TrafficPort,
    Port(u16),
}

impl fmt::Display for HealthCheckPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthCheckPort::TrafficPort => f.write_str("traffic-port"),
            HealthCheckPort::Port(port) => write!(f, "{port}"),
        }
    }
}

impl Serialize for HealthCheckPort {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HealthCheckPort {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PortVisitor;

        impl Visitor<'_> for PortVisitor {
            type Value = HealthCheckPort;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`traffic-port` or a port number from 1 to 65535")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HealthCheckPort, E> {
                match u16::try_from(v) {
                    Ok(port) if port > 0 => Ok(HealthCheckPort::Port(port)),
                    _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HealthCheckPort, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<HealthCheckPort, E> {
                if v == "traffic-port" {
                    return Ok(HealthCheckPort::TrafficPort);
                }
                match v.parse::<u16>() {
                    Ok(port) if port > 0 && port.to_string() == v => {
                        Ok(HealthCheckPort::Port(port))
                    }
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }

        deserializer.deserialize_any(PortVisitor)
    }
}

/// The response codes that count as healthy: HTTP codes (e.g. `200`, `200-299`,
/// `200,204`) or, for `protocolVersion: GRPC`, gRPC codes (e.g. `0`, `0-99`). Written
/// `{httpCode: "200"}` or `{grpcCode: "0"}`; exactly one of the two.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "MatcherFields", into = "MatcherFields")]
pub enum HealthCheckMatcher {
    HttpCode(String),
    GrpcCode(String),
}

/// The matcher as written: the controller's two optional fields.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MatcherFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grpc_code: Option<String>,
}

impl TryFrom<MatcherFields> for HealthCheckMatcher {
    type Error = &'static str;

    fn try_from(fields: MatcherFields) -> Result<Self, Self::Error> {
        match (fields.http_code, fields.grpc_code) {
            (Some(codes), None) => Ok(HealthCheckMatcher::HttpCode(codes)),
            (None, Some(codes)) => Ok(HealthCheckMatcher::GrpcCode(codes)),
            _ => Err("matcher needs exactly one of `httpCode` or `grpcCode`"),
        }
    }
}

impl From<HealthCheckMatcher> for MatcherFields {
    fn from(matcher: HealthCheckMatcher) -> Self {
        match matcher {
            HealthCheckMatcher::HttpCode(codes) => MatcherFields {
                http_code: Some(codes),
                grpc_code: None,
            },
            HealthCheckMatcher::GrpcCode(codes) => MatcherFields {
                http_code: None,
                grpc_code: Some(codes),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------
// ListenerRuleConfiguration
// ---------------------------------------------------------------------------------------

/// `ListenerRuleConfiguration.spec`: what an HTTPRoute rule's ALB rules get beyond what
/// the Gateway API expresses. As in the controller, at most one pre-routing action
/// (authentication or JWT validation) and at most one routing action (forward, redirect or
/// fixed response); the routing action only adds settings to, or replaces, what the route
/// itself says.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListenerRuleConfigurationSpec {
    /// One or two actions, each of a different group (pre-routing, routing).
    #[serde(
        default,
        deserialize_with = "deserialize_actions",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub actions: Vec<Action>,

    /// Conditions added to each ALB rule of the route rule (ANDed with the route's own).
    #[serde(
        default,
        deserialize_with = "null_is_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conditions: Vec<ListenerRuleCondition>,

    /// Tags on the ALB rules.
    #[serde(
        default,
        deserialize_with = "null_is_empty",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub tags: Tags,
}

/// A condition added to the ALB rules. The controller supports only `source-ip`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListenerRuleCondition {
    pub field: ConditionField,

    #[serde(rename = "sourceIPConfig")]
    pub source_ip_config: SourceIpConditionConfig,

    /// Indexes into the route rule's `matches` whose ALB rules get this condition; all of
    /// them when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_indexes: Option<Vec<u32>>,
}

/// Client addresses a rule is limited to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SourceIpConditionConfig {
    /// CIDR blocks, IPv4 or IPv6; at least one.
    #[serde(deserialize_with = "non_empty")]
    pub values: Vec<String>,
}

/// One action of a listener rule: the controller's `type` with the one configuration block
/// that type takes (`fixed-response` with `fixedResponseConfig`, and so on).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "ActionFields", into = "ActionFields")]
pub enum Action {
    /// Settings for the forward the route's `backendRefs` produce.
    Forward(ForwardActionConfig),
    /// Settings for the redirect the route's `RequestRedirect` filter produces.
    Redirect(RedirectActionConfig),
    FixedResponse(FixedResponseActionConfig),
    AuthenticateCognito(AuthenticateCognitoActionConfig),
    AuthenticateOidc(AuthenticateOidcActionConfig),
    JwtValidation(JwtValidationActionConfig),
}

impl Action {
    pub fn action_type(&self) -> ActionType {
        match self {
            Action::Forward(_) => ActionType::Forward,
            Action::Redirect(_) => ActionType::Redirect,
            Action::FixedResponse(_) => ActionType::FixedResponse,
            Action::AuthenticateCognito(_) => ActionType::AuthenticateCognito,
            Action::AuthenticateOidc(_) => ActionType::AuthenticateOidc,
            Action::JwtValidation(_) => ActionType::JwtValidation,
        }
    }
}

impl ActionType {
    /// The name of the configuration block an action of this type takes.
    fn config_field(self) -> &'static str {
        match self {
            ActionType::Forward => "forwardConfig",
            ActionType::Redirect => "redirectConfig",
            ActionType::FixedResponse => "fixedResponseConfig",
            ActionType::AuthenticateCognito => "authenticateCognitoConfig",
            ActionType::AuthenticateOidc => "authenticateOIDCConfig",
            ActionType::JwtValidation => "jwtValidationConfig",
        }
    }

    /// Authentication and JWT validation run before the routing action.
    pub fn is_pre_routing(self) -> bool {
        matches!(
            self,
            ActionType::AuthenticateCognito
                | ActionType::AuthenticateOidc
                | ActionType::JwtValidation
        )
    }
}

/// An action as written: the type and the controller's optional configuration blocks.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ActionFields {
    #[serde(rename = "type")]
    action_type: ActionType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    forward_config: Option<ForwardActionConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    redirect_config: Option<RedirectActionConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fixed_response_config: Option<FixedResponseActionConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authenticate_cognito_config: Option<AuthenticateCognitoActionConfig>,
    #[serde(
        default,
        rename = "authenticateOIDCConfig",
        skip_serializing_if = "Option::is_none"
    )]
    authenticate_oidc_config: Option<AuthenticateOidcActionConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jwt_validation_config: Option<JwtValidationActionConfig>,
}

impl TryFrom<ActionFields> for Action {
    type Error = String;

    fn try_from(f: ActionFields) -> Result<Self, String> {
        let ty = f.action_type;
        let set = [
            (ActionType::Forward, f.forward_config.is_some()),
            (ActionType::Redirect, f.redirect_config.is_some()),
            (ActionType::FixedResponse, f.fixed_response_config.is_some()),
            (
                ActionType::AuthenticateCognito,
                f.authenticate_cognito_config.is_some(),
            ),
            (
                ActionType::AuthenticateOidc,
                f.authenticate_oidc_config.is_some(),
            ),
            (ActionType::JwtValidation, f.jwt_validation_config.is_some()),
        ];
        if let Some((other, _)) = set.iter().find(|(t, is_set)| *is_set && *t != ty) {
            return Err(format!(
                "`{}` belongs to actions of type `{other}`, not `{ty}`",
                other.config_field()
            ));
        }
        let missing = || format!("an action of type `{ty}` needs `{}`", ty.config_field());
        Ok(match ty {
            ActionType::Forward => Action::Forward(f.forward_config.ok_or_else(missing)?),
            ActionType::Redirect => Action::Redirect(f.redirect_config.ok_or_else(missing)?),
            ActionType::FixedResponse => {
                Action::FixedResponse(f.fixed_response_config.ok_or_else(missing)?)
            }
            ActionType::AuthenticateCognito => {
                Action::AuthenticateCognito(f.authenticate_cognito_config.ok_or_else(missing)?)
            }
            ActionType::AuthenticateOidc => {
                Action::AuthenticateOidc(f.authenticate_oidc_config.ok_or_else(missing)?)
            }
            ActionType::JwtValidation => {
                Action::JwtValidation(f.jwt_validation_config.ok_or_else(missing)?)
            }
        })
    }
}

impl From<Action> for ActionFields {
    fn from(action: Action) -> Self {
        let mut f = ActionFields {
            action_type: action.action_type(),
            forward_config: None,
            redirect_config: None,
            fixed_response_config: None,
            authenticate_cognito_config: None,
            authenticate_oidc_config: None,
            jwt_validation_config: None,
        };
        match action {
            Action::Forward(c) => f.forward_config = Some(c),
            Action::Redirect(c) => f.redirect_config = Some(c),
            Action::FixedResponse(c) => f.fixed_response_config = Some(c),
            Action::AuthenticateCognito(c) => f.authenticate_cognito_config = Some(c),
            Action::AuthenticateOidc(c) => f.authenticate_oidc_config = Some(c),
            Action::JwtValidation(c) => f.jwt_validation_config = Some(c),
        }
        f
    }
}

/// The controller's rules on the action list: one or two actions, at most one pre-routing
/// and at most one routing action.
fn deserialize_actions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Action>, D::Error> {
    let actions: Vec<Action> = null_is_empty(d)?;
    let pre = actions
        .iter()
        .filter(|a| a.action_type().is_pre_routing())
        .count();
    let routing = actions.len() - pre;
    if pre > 1 {
        return Err(de::Error::custom(
            "at most one pre-routing action (authenticate-cognito, authenticate-oidc or jwt-validation) per rule",
        ));
    }
    if routing > 1 {
        return Err(de::Error::custom(
            "at most one routing action (forward, redirect or fixed-response) per rule",
        ));
    }
    Ok(actions)
}

/// Target group stickiness for the rule's forward.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ForwardActionConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_stickiness_config: Option<TargetGroupStickinessConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TargetGroupStickinessConfig {
    /// 1 to 604800 seconds; the controller's default is 3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i32>,

    /// The controller's default is `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// The query string of the rule's redirect; the controller's default is `#{query}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RedirectActionConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// A fixed response instead of a forward.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FixedResponseActionConfig {
    /// 2XX, 4XX or 5XX.
    pub status_code: u16,

    /// `text/plain` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<FixedResponseContentType>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_body: Option<String>,
}

/// Authenticate users with an Amazon Cognito user pool (HTTPS listeners only).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthenticateCognitoActionConfig {
    pub user_pool_arn: String,
    pub user_pool_client_id: String,
    /// The user pool's domain prefix or fully qualified domain name.
    pub user_pool_domain: String,

    /// `openid` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,

    /// Up to 10 query parameters for the redirect to the authorization endpoint.
    #[serde(
        default,
        deserialize_with = "null_is_empty",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub authentication_request_extra_params: BTreeMap<String, String>,

    /// `authenticate` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_unauthenticated_request: Option<OnUnauthenticatedRequest>,

    /// `AWSELBAuthSessionCookie` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_cookie_name: Option<String>,

    /// Seconds, 1 to 604800 (the default, 7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_timeout: Option<i64>,
}

/// Authenticate users with an OpenID Connect identity provider (HTTPS listeners only).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthenticateOidcActionConfig {
    pub authorization_endpoint: String,

    /// Where the OAuth 2.0 client ID and secret come from. The controller reads a
    /// Kubernetes Secret of this name in the route's namespace, with the keys `clientID` and
    /// `clientSecret`; gwsync reads the AWS Secrets Manager secret
    /// `<aws.oidc_secret_prefix><namespace>/<name>` holding the same keys as JSON, at apply
    /// time only. Client secrets never belong in Git.
    pub secret: SecretReference,

    pub issuer: String,
    pub token_endpoint: String,
    pub user_info_endpoint: String,

    /// `openid` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,

    /// Up to 10 query parameters for the redirect to the authorization endpoint.
    #[serde(
        default,
        deserialize_with = "null_is_empty",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub authentication_request_extra_params: BTreeMap<String, String>,

    /// `authenticate` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_unauthenticated_request: Option<OnUnauthenticatedRequest>,

    /// `AWSELBAuthSessionCookie` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_cookie_name: Option<String>,

    /// Seconds, 1 to 604800 (the default, 7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_timeout: Option<i64>,

    /// When a rule that exists is modified, keep the client secret it has on AWS instead of
    /// sending the one the secret holds (a new rule always gets the secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_existing_client_secret: Option<bool>,
}

/// The name of the OIDC client credentials.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretReference {
    pub name: String,
}

/// Validate a JSON Web Token before routing (HTTPS listeners only).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JwtValidationActionConfig {
    /// The expected `iss` claim.
    pub issuer: String,

    /// The HTTPS URL of the JSON Web Key Set.
    pub jwks_endpoint: String,

    /// Claims to check besides `exp`, `iss`, `nbf` and `iat`.
    #[serde(
        default,
        deserialize_with = "null_is_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub additional_claims: Vec<JwtAdditionalClaim>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JwtAdditionalClaim {
    pub format: JwtClaimFormat,
    pub name: String,
    /// At least one value.
    #[serde(deserialize_with = "non_empty")]
    pub values: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------

/// An ELB attribute (load balancer or target group), e.g.
/// `{key: idle_timeout.timeout_seconds, value: "120"}`. Values are strings, as in ELB.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Attribute {
    pub key: String,
    pub value: String,
}

/// Defines a string enum with its exact wire values, `as_str` and `Display`.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $value)] $variant, )+
        }

        impl $name {
            /// The value as written in YAML and sent to AWS.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $value, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// Who can reach the load balancer.
    LoadBalancerScheme {
        /// Reachable only from within the VPC.
        Internal = "internal",
        /// Reachable from the internet.
        InternetFacing = "internet-facing",
    }
}

string_enum! {
    /// The load balancer's address families.
    LoadBalancerIpAddressType {
        Ipv4 = "ipv4",
        Dualstack = "dualstack",
        /// Private IPv4 and public IPv6 addresses.
        DualstackWithoutPublicIpv4 = "dualstack-without-public-ipv4",
    }
}

string_enum! {
    /// The protocols of ALB listeners.
    ListenerProtocol {
        Http = "HTTP",
        Https = "HTTPS",
    }
}

string_enum! {
    TargetGroupIpAddressType {
        Ipv4 = "ipv4",
        Ipv6 = "ipv6",
    }
}

string_enum! {
    /// What the target group's targets are.
    TargetType {
        /// EC2 instance IDs.
        Instance = "instance",
        /// IP addresses.
        Ip = "ip",
    }
}

string_enum! {
    /// The protocol from the load balancer to the targets.
    TargetGroupProtocol {
        Http = "HTTP",
        Https = "HTTPS",
    }
}

string_enum! {
    /// The HTTP version to the targets.
    ProtocolVersion {
        Http1 = "HTTP1",
        Http2 = "HTTP2",
        Grpc = "GRPC",
    }
}

string_enum! {
    HealthCheckProtocol {
        // Early v1beta1 CRDs listed the values in lower case; accept those files too.
        #[serde(alias = "http")]
        Http = "HTTP",
        #[serde(alias = "https")]
        Https = "HTTPS",
    }
}

string_enum! {
    /// The request field a [`ListenerRuleCondition`] matches on.
    ConditionField {
        SourceIp = "source-ip",
    }
}

string_enum! {
    /// The `type` of an [`Action`].
    ActionType {
        Forward = "forward",
        FixedResponse = "fixed-response",
        Redirect = "redirect",
        AuthenticateCognito = "authenticate-cognito",
        AuthenticateOidc = "authenticate-oidc",
        JwtValidation = "jwt-validation",
    }
}

string_enum! {
    FixedResponseContentType {
        TextPlain = "text/plain",
        TextCss = "text/css",
        TextHtml = "text/html",
        ApplicationJavascript = "application/javascript",
        ApplicationJson = "application/json",
    }
}

string_enum! {
    /// What an authentication action does with a request that is not authenticated.
    OnUnauthenticatedRequest {
        /// Answer 401 Unauthorized.
        Deny = "deny",
        /// Forward the request without user claims.
        Allow = "allow",
        /// Redirect to the identity provider.
        Authenticate = "authenticate",
    }
}

string_enum! {
    /// How a JWT claim's value is compared with [`JwtAdditionalClaim::values`].
    JwtClaimFormat {
        SingleString = "single-string",
        StringArray = "string-array",
        SpaceSeparatedValues = "space-separated-values",
    }
}

/// Reads `null` (e.g. `tags:` with nothing after it) as the empty value, as Kubernetes does
/// for absent fields.
fn null_is_empty<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A list the controller requires to have at least one item.
fn non_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let items = Vec::<T>::deserialize(d)?;
    if items.is_empty() {
        return Err(de::Error::invalid_length(0, &"at least one value"));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: serde::de::DeserializeOwned>(yaml: &str) -> Result<T, String> {
        serde_yaml::from_str(yaml).map_err(|e| e.to_string())
    }

    /// Serialising and reading back gives the same value, in YAML and JSON.
    fn round_trips<T>(value: &T)
    where
        T: Serialize + serde::de::DeserializeOwned + PartialEq + fmt::Debug,
    {
        let yaml = serde_yaml::to_string(value).unwrap();
        assert_eq!(&serde_yaml::from_str::<T>(&yaml).unwrap(), value, "{yaml}");
        let json = serde_json::to_string(value).unwrap();
        assert_eq!(&serde_json::from_str::<T>(&json).unwrap(), value, "{json}");
    }

    #[test]
    fn group_and_versions() {
        assert_eq!(GROUP, "gateway.k8s.aws");
        assert_eq!(VERSIONS, &["v1beta1", "v1"]);
    }

    #[test]
    fn load_balancer_configuration() {
        let spec: LoadBalancerConfigurationSpec = parse(
            r#"
loadBalancerName: payments-public
scheme: internet-facing
ipAddressType: dualstack
loadBalancerSubnets:
  - identifier: subnet-0a1b2c3d4e5f60718
  - identifier: public-b
securityGroups: [sg-0123456789abcdef0]
listenerConfigurations:
  - protocolPort: HTTPS:443
    defaultCertificate: arn:aws:acm:eu-west-1:111122223333:certificate/aaaa
    certificates:
      - arn:aws:acm:eu-west-1:111122223333:certificate/bbbb
    sslPolicy: ELBSecurityPolicy-TLS13-1-2-2021-06
  - protocolPort: HTTP:80
loadBalancerAttributes:
  - key: idle_timeout.timeout_seconds
    value: "120"
tags:
  team: platform
  cost-center: "42"
"#,
        )
        .unwrap();
        assert_eq!(spec.scheme, Some(LoadBalancerScheme::InternetFacing));
        assert_eq!(
            spec.ip_address_type,
            Some(LoadBalancerIpAddressType::Dualstack)
        );
        assert_eq!(spec.load_balancer_subnets[1].identifier, "public-b");
        let https = &spec.listener_configurations[0];
        assert_eq!(
            https.protocol_port,
            ProtocolPort {
                protocol: ListenerProtocol::Https,
                port: 443
            }
        );
        assert_eq!(https.certificates.len(), 1);
        assert_eq!(
            spec.listener_configurations[1].protocol_port.to_string(),
            "HTTP:80"
        );
        assert_eq!(spec.load_balancer_attributes[0].value, "120");
        assert_eq!(spec.tags["cost-center"], "42");
        round_trips(&spec);
    }

    #[test]
    fn empty_and_null_fields_are_absent() {
        let spec: LoadBalancerConfigurationSpec = parse("{scheme: internal, tags: }").unwrap();
        assert_eq!(spec.scheme, Some(LoadBalancerScheme::Internal));
        assert!(spec.tags.is_empty());
        // Canonical output leaves out everything unset.
        assert_eq!(
            serde_json::to_string(&spec).unwrap(),
            r#"{"scheme":"internal"}"#
        );
        assert_eq!(
            serde_json::to_string(&LoadBalancerConfigurationSpec::default()).unwrap(),
            "{}"
        );
    }

    #[test]
    fn protocol_port() {
        for bad in [
            "TCP:80",
            "HTTPS",
            "HTTPS:",
            ":443",
            "https:443",
            "HTTP:0",
            "HTTP:65536",
        ] {
            let e = bad.parse::<ProtocolPort>().unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        for bad in ["HTTP:+80", "HTTP:080"] {
            assert!(bad.parse::<ProtocolPort>().is_err(), "{bad}");
        }
        let e = parse::<ListenerConfiguration>("protocolPort: TLS:443").unwrap_err();
        assert!(e.contains("the protocol must be HTTP or HTTPS"), "{e}");
    }

    #[test]
    fn target_group_configuration() {
        let spec: TargetGroupConfigurationSpec = parse(
            r#"
targetReference:
  name: checkout
defaultConfiguration:
  targetGroupName: payments-checkout
  ipAddressType: ipv4
  targetType: ip
  protocol: HTTP
  protocolVersion: HTTP2
  healthCheckConfig:
    healthyThresholdCount: 5
    healthCheckInterval: 30
    healthCheckPath: /healthz
    healthCheckPort: "8080"
    healthCheckProtocol: HTTP
    healthCheckTimeout: 5
    unhealthyThresholdCount: 2
    matcher:
      httpCode: "200"
  targetGroupAttributes:
    - key: deregistration_delay.timeout_seconds
      value: "30"
  tags:
    Environment: Production
  targets:
    - id: 10.0.1.15
      port: 8080
    - id: 192.168.7.3
      port: 8080
      availabilityZone: all
routeConfigurations:
  - routeIdentifier:
      kind: HTTPRoute
      namespace: payments
      name: api
    targetGroupProps:
      healthCheckConfig:
        healthCheckPath: /api/health
        healthCheckPort: traffic-port
        matcher:
          grpcCode: "0-99"
  - routeIdentifier:
      kind: HTTPRoute
    targetGroupProps: {}
"#,
        )
        .unwrap();
        assert_eq!(spec.target_reference.as_ref().unwrap().kind(), "Service");
        assert_eq!(spec.target_reference.as_ref().unwrap().group(), "");
        let props = &spec.default_configuration;
        assert_eq!(props.target_type, Some(TargetType::Ip));
        assert_eq!(props.protocol_version, Some(ProtocolVersion::Http2));
        let hc = props.health_check_config.as_ref().unwrap();
        assert_eq!(hc.health_check_port, Some(HealthCheckPort::Port(8080)));
        assert_eq!(hc.matcher, Some(HealthCheckMatcher::HttpCode("200".into())));
        assert_eq!(props.targets[1].availability_zone.as_deref(), Some("all"));
        let api = &spec.route_configurations[0];
        assert_eq!(api.route_identifier.name.as_deref(), Some("api"));
        let api_hc = api.target_group_props.health_check_config.as_ref().unwrap();
        assert_eq!(api_hc.health_check_port, Some(HealthCheckPort::TrafficPort));
        assert_eq!(
            api_hc.matcher,
            Some(HealthCheckMatcher::GrpcCode("0-99".into()))
        );
        assert!(spec.route_configurations[1].target_group_props.is_empty());
        round_trips(&spec);
    }

    #[test]
    fn minimal_target_group_configuration() {
        let spec: TargetGroupConfigurationSpec = parse("targetReference: {name: web}").unwrap();
        assert!(spec.default_configuration.is_empty());
        assert_eq!(
            serde_json::to_string(&spec).unwrap(),
            r#"{"targetReference":{"name":"web"}}"#
        );
        // Without targetReference: a default (admission decides where it may be).
        let default =
            parse::<TargetGroupConfigurationSpec>("defaultConfiguration: {targetType: ip}")
                .unwrap();
        assert!(default.target_reference.is_none());
    }

    #[test]
    fn health_check_port_and_protocol() {
        let hc: HealthCheckConfiguration =
            parse("{healthCheckPort: 9000, healthCheckProtocol: https}").unwrap();
        assert_eq!(hc.health_check_port, Some(HealthCheckPort::Port(9000)));
        assert_eq!(hc.health_check_protocol, Some(HealthCheckProtocol::Https));
        // Written back as the controller's string and upper-case protocol.
        assert_eq!(
            serde_json::to_string(&hc).unwrap(),
            r#"{"healthCheckPort":"9000","healthCheckProtocol":"HTTPS"}"#
        );
        for bad in [
            "healthCheckPort: http",
            "healthCheckPort: 0",
            "healthCheckPort: 70000",
        ] {
            let e = parse::<HealthCheckConfiguration>(bad).unwrap_err();
            assert!(e.contains("traffic-port"), "{e}");
        }
    }

    #[test]
    fn matcher_needs_exactly_one_code() {
        for bad in ["{}", "{httpCode: '200', grpcCode: '0'}"] {
            let e = parse::<HealthCheckMatcher>(bad).unwrap_err();
            assert!(e.contains("exactly one of `httpCode` or `grpcCode`"), "{e}");
        }
        let e = parse::<HealthCheckMatcher>("{httpCodes: '200'}").unwrap_err();
        assert!(e.contains("unknown field `httpCodes`"), "{e}");
    }

    #[test]
    fn listener_rule_configuration() {
        let spec: ListenerRuleConfigurationSpec = parse(
            r#"
actions:
  - type: authenticate-oidc
    authenticateOIDCConfig:
      authorizationEndpoint: https://idp.example.com/authorize
      secret:
        name: payments-oidc
      issuer: https://idp.example.com
      tokenEndpoint: https://idp.example.com/token
      userInfoEndpoint: https://idp.example.com/userinfo
      scope: openid email
      authenticationRequestExtraParams:
        prompt: login
      onUnauthenticatedRequest: authenticate
      sessionTimeout: 3600
  - type: forward
    forwardConfig:
      targetGroupStickinessConfig:
        durationSeconds: 120
        enabled: true
conditions:
  - field: source-ip
    sourceIPConfig:
      values: [10.0.0.0/8, "2001:db8::/32"]
    matchIndexes: [0, 2]
tags:
  owner: payments
"#,
        )
        .unwrap();
        let Action::AuthenticateOidc(oidc) = &spec.actions[0] else {
            panic!("{:?}", spec.actions[0]);
        };
        assert_eq!(oidc.secret.name, "payments-oidc");
        assert_eq!(
            oidc.on_unauthenticated_request,
            Some(OnUnauthenticatedRequest::Authenticate)
        );
        assert!(spec.actions[0].action_type().is_pre_routing());
        assert_eq!(spec.actions[1].action_type(), ActionType::Forward);
        assert_eq!(spec.conditions[0].field, ConditionField::SourceIp);
        assert_eq!(spec.conditions[0].source_ip_config.values.len(), 2);
        assert_eq!(spec.conditions[0].match_indexes, Some(vec![0, 2]));
        round_trips(&spec);
    }

    #[test]
    fn every_action_type() {
        let spec: ListenerRuleConfigurationSpec = parse(
            r#"
actions:
  - type: fixed-response
    fixedResponseConfig:
      statusCode: 404
      contentType: text/plain
      messageBody: my fixed response
  - type: authenticate-cognito
    authenticateCognitoConfig:
      userPoolArn: arn:aws:cognito-idp:eu-west-1:111122223333:userpool/eu-west-1_abc
      userPoolClientId: cid
      userPoolDomain: auth.example.com
      onUnauthenticatedRequest: deny
"#,
        )
        .unwrap();
        let Action::FixedResponse(fixed) = &spec.actions[0] else {
            panic!("{:?}", spec.actions[0]);
        };
        assert_eq!(fixed.status_code, 404);
        assert_eq!(
            fixed.content_type,
            Some(FixedResponseContentType::TextPlain)
        );
        round_trips(&spec);

        let spec: ListenerRuleConfigurationSpec = parse(
            r#"
actions:
  - type: jwt-validation
    jwtValidationConfig:
      jwksEndpoint: https://example.com/.well-known/jwks.json
      issuer: https://example.com
      additionalClaims:
        - {name: roles, format: string-array, values: [admin, editor]}
  - type: redirect
    redirectConfig:
      query: "foo"
"#,
        )
        .unwrap();
        let Action::JwtValidation(jwt) = &spec.actions[0] else {
            panic!("{:?}", spec.actions[0]);
        };
        assert_eq!(jwt.additional_claims[0].format, JwtClaimFormat::StringArray);
        assert_eq!(
            spec.actions[1],
            Action::Redirect(RedirectActionConfig {
                query: Some("foo".into())
            })
        );
        round_trips(&spec);
    }

    #[test]
    fn action_blocks_must_match_the_type() {
        let e = parse::<Action>("{type: fixed-response}").unwrap_err();
        assert!(
            e.contains("an action of type `fixed-response` needs `fixedResponseConfig`"),
            "{e}"
        );
        let e = parse::<Action>(
            "{type: redirect, redirectConfig: {}, fixedResponseConfig: {statusCode: 503}}",
        )
        .unwrap_err();
        assert!(
            e.contains(
                "`fixedResponseConfig` belongs to actions of type `fixed-response`, not `redirect`"
            ),
            "{e}"
        );
    }

    #[test]
    fn action_list_rules() {
        let two_routing = "actions:
  - {type: redirect, redirectConfig: {}}
  - {type: fixed-response, fixedResponseConfig: {statusCode: 503}}";
        let e = parse::<ListenerRuleConfigurationSpec>(two_routing).unwrap_err();
        assert!(e.contains("at most one routing action"), "{e}");
        let e = parse::<SourceIpConditionConfig>("values: []").unwrap_err();
        assert!(e.contains("at least one value"), "{e}");
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        // A misspelling.
        let e = parse::<LoadBalancerConfigurationSpec>("schema: internal").unwrap_err();
        assert!(e.contains("unknown field `schema`"), "{e}");
        // Controller fields gwsync leaves out, at every level.
        let e = parse::<LoadBalancerConfigurationSpec>("wafV2: {webACL: acl}").unwrap_err();
        assert!(e.contains("unknown field `wafV2`"), "{e}");
        let e = parse::<LoadBalancerConfigurationSpec>(
            "loadBalancerSubnets: [{identifier: subnet-1, eipAllocation: eip-1}]",
        )
        .unwrap_err();
        assert!(e.contains("unknown field `eipAllocation`"), "{e}");
        let e = parse::<LoadBalancerConfigurationSpec>(
            "listenerConfigurations: [{protocolPort: 'HTTPS:443', alpnPolicy: None}]",
        )
        .unwrap_err();
        assert!(e.contains("unknown field `alpnPolicy`"), "{e}");
        let e = parse::<TargetGroupConfigurationSpec>(
            "{targetReference: {name: web}, defaultConfiguration: {nodeSelector: {}}}",
        )
        .unwrap_err();
        assert!(e.contains("unknown field `nodeSelector`"), "{e}");
        let e = parse::<Target>("{id: i-0abc, weight: 3}").unwrap_err();
        assert!(e.contains("unknown field `weight`"), "{e}");
        let e = parse::<Action>(
            "{type: fixed-response, fixedResponseConfig: {statusCode: 503, body: x}}",
        )
        .unwrap_err();
        assert!(e.contains("unknown field `body`"), "{e}");
        let e = parse::<SecretReference>("{name: s, namespace: other}").unwrap_err();
        assert!(e.contains("unknown field `namespace`"), "{e}");
    }

    #[test]
    fn early_v1beta1_shapes_are_refused() {
        let e = parse::<TargetGroupProps>("tags: [{key: team, value: payments}]").unwrap_err();
        assert!(e.contains("invalid type: sequence, expected a map"), "{e}");
        let e = parse::<RouteConfiguration>(
            "{identifier: 'HTTPRoute:payments:api', targetGroupProps: {}}",
        )
        .unwrap_err();
        assert!(e.contains("unknown field `identifier`"), "{e}");
    }

    #[test]
    fn wrong_enum_values_are_refused() {
        let e = parse::<LoadBalancerConfigurationSpec>("scheme: public").unwrap_err();
        assert!(
            e.contains("unknown variant `public`, expected `internal` or `internet-facing`"),
            "{e}"
        );
        let e = parse::<TargetGroupProps>("targetType: lambda").unwrap_err();
        assert!(e.contains("unknown variant `lambda`"), "{e}");
        let e = parse::<TargetGroupProps>("protocol: TCP").unwrap_err();
        assert!(e.contains("unknown variant `TCP`"), "{e}");
        let e = parse::<ListenerRuleCondition>(
            "{field: host-header, sourceIPConfig: {values: [10.0.0.0/8]}}",
        )
        .unwrap_err();
        assert!(e.contains("unknown variant `host-header`"), "{e}");
        let e = parse::<Action>("{type: authenticate}").unwrap_err();
        assert!(e.contains("unknown variant `authenticate`"), "{e}");
    }

    #[test]
    fn enum_strings_are_exact() {
        assert_eq!(
            LoadBalancerScheme::InternetFacing.as_str(),
            "internet-facing"
        );
        assert_eq!(
            LoadBalancerIpAddressType::DualstackWithoutPublicIpv4.to_string(),
            "dualstack-without-public-ipv4"
        );
        assert_eq!(ActionType::AuthenticateOidc.as_str(), "authenticate-oidc");
        assert_eq!(
            serde_json::to_string(&FixedResponseContentType::ApplicationJson).unwrap(),
            r#""application/json""#
        );
    }
}
