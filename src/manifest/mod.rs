//! Manifests: the bytes of one file into typed documents that remember where they came from.
//!
//! This stage owns YAML. Nothing else in gwsync parses YAML or knows which parser is used
//! (serde_yaml is archived upstream; keeping it here keeps it swappable). It turns each file
//! into [`Document`]s of the kinds gwsync understands, each with its [`Origin`] (file,
//! document index, line), and [`Diagnostic`]s for everything it refuses: hostile input
//! (non-UTF-8, NUL bytes, too many documents, alias bombs, deep nesting), syntax errors,
//! unknown kinds or API versions, missing names, misspelled fields.
//!
//! It knows nothing about teams or folders: who may declare what is `tenancy`'s job, and
//! duplicates across files are found there too, once every file is loaded.

mod fields;
pub mod lbc;
mod locate;
mod schema;
pub mod tenants;
mod yaml;

use crate::config::Limits;
use crate::diagnostic::{Diagnostic, codes};
use gateway_api::apis::standard::{
    gatewayclasses::GatewayClassSpec, gateways::GatewaySpec, httproutes::HttpRouteSpec,
    listenersets::ListenerSetSpec, referencegrants::ReferenceGrantSpec,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

pub use tenants::TenantsSpec;

/// The API group of the Gateway API kinds.
pub const GATEWAY_API_GROUP: &str = "gateway.networking.k8s.io";
/// The Gateway API release whose schema gwsync reads: the one the `gateway-api` crate (0.22)
/// is generated from.
pub const GATEWAY_API_VERSION: &str = "v1.5.1";
/// The API group of gwsync's own kinds.
pub const GWSYNC_GROUP: &str = "gwsync.dev";

/// Every kind gwsync reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    Tenants,
    GatewayClass,
    Gateway,
    HTTPRoute,
    ListenerSet,
    ReferenceGrant,
    LoadBalancerConfiguration,
    TargetGroupConfiguration,
    ListenerRuleConfiguration,
}

/// How strictly unknown fields are treated: gwsync's own kinds and the `gateway.k8s.aws`
/// kinds are ours to define, so any unknown field is an error; in Gateway API kinds an
/// unknown field in the spec is an error too (gwsync pins one Gateway API version and cannot
/// honour a field it does not know), one elsewhere (metadata) a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    Strict,
    Lenient,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Tenants,
        Kind::GatewayClass,
        Kind::Gateway,
        Kind::HTTPRoute,
        Kind::ListenerSet,
        Kind::ReferenceGrant,
        Kind::LoadBalancerConfiguration,
        Kind::TargetGroupConfiguration,
        Kind::ListenerRuleConfiguration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Tenants => "Tenants",
            Kind::GatewayClass => "GatewayClass",
            Kind::Gateway => "Gateway",
            Kind::HTTPRoute => "HTTPRoute",
            Kind::ListenerSet => "ListenerSet",
            Kind::ReferenceGrant => "ReferenceGrant",
            Kind::LoadBalancerConfiguration => "LoadBalancerConfiguration",
            Kind::TargetGroupConfiguration => "TargetGroupConfiguration",
            Kind::ListenerRuleConfiguration => "ListenerRuleConfiguration",
        }
    }

    fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The `apiVersion` values accepted for this kind.
    pub fn api_versions(self) -> &'static [&'static str] {
        match self {
            Kind::Tenants => &["gwsync.dev/v1alpha1"],
            Kind::GatewayClass | Kind::Gateway | Kind::HTTPRoute | Kind::ReferenceGrant => &[
                "gateway.networking.k8s.io/v1",
                "gateway.networking.k8s.io/v1beta1",
            ],
            Kind::ListenerSet => &["gateway.networking.k8s.io/v1"],
            Kind::LoadBalancerConfiguration
            | Kind::TargetGroupConfiguration
            | Kind::ListenerRuleConfiguration => &["gateway.k8s.aws/v1beta1", "gateway.k8s.aws/v1"],
        }
    }

    pub fn strictness(self) -> Strictness {
        match self {
            Kind::GatewayClass
            | Kind::Gateway
            | Kind::HTTPRoute
            | Kind::ListenerSet
            | Kind::ReferenceGrant => Strictness::Lenient,
            _ => Strictness::Strict,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a document came from: a file of the revision, the document's 1-based index in it,
/// and the 1-based line where the document starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Origin {
    pub file: String,
    pub index: usize,
    pub line: usize,
}

/// The identity of an object: kind, namespace (as resolved by tenancy; as written here) and
/// name. Duplicates are found on this key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectKey {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// The `metadata` gwsync reads. Anything else in `metadata` is reported like an unknown field.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The typed content of a document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Body {
    Tenants(Box<TenantsSpec>),
    GatewayClass(Box<GatewayClassSpec>),
    Gateway(Box<GatewaySpec>),
    HTTPRoute(Box<HttpRouteSpec>),
    ListenerSet(Box<ListenerSetSpec>),
    ReferenceGrant(Box<ReferenceGrantSpec>),
    LoadBalancerConfiguration(Box<lbc::LoadBalancerConfigurationSpec>),
    TargetGroupConfiguration(Box<lbc::TargetGroupConfigurationSpec>),
    ListenerRuleConfiguration(Box<lbc::ListenerRuleConfigurationSpec>),
}

/// One typed document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    pub origin: Origin,
    pub api_version: String,
    pub key: ObjectKey,
    pub metadata: Metadata,
    pub body: Body,
    /// The document's text, to find the line of a field when a diagnostic names one.
    #[serde(skip)]
    text: String,
    /// The file line of the first line of `text`.
    #[serde(skip)]
    text_line: usize,
}

impl Document {
    /// A diagnostic that points at this document: file, object, and the line of the field it
    /// names (the document's first line when it names none, or the field cannot be found).
    pub fn diagnostic(&self, d: Diagnostic) -> Diagnostic {
        let line = d
            .field
            .as_deref()
            .and_then(|field| locate::field_line(&self.text, field))
            .map_or(self.origin.line, |l| self.text_line + l - 1);
        d.at(&self.origin.file, Some(line))
            .object(self.key.to_string())
    }
}

/// What loading one file produced: the documents that parsed, and every problem found.
/// A document with a refusal is left out of `documents`; the refusal is in `diagnostics`.
#[derive(Debug, Clone, Default)]
pub struct FileLoad {
    pub documents: Vec<Document>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads every document of one file.
pub fn load_file(path: &str, bytes: &[u8], limits: &Limits) -> FileLoad {
    let mut out = FileLoad::default();
    let text = match file_text(path, bytes) {
        Ok(text) => text,
        Err(d) => {
            out.diagnostics.push(d);
            return out;
        }
    };
    let chunks = yaml::split_documents(text);
    if chunks.len() > limits.max_documents_per_file {
        out.diagnostics.push(
            Diagnostic::refusal(
                codes::TOO_MANY_DOCUMENTS,
                format!(
                    "{} documents in one file; the limit (limits.max_documents_per_file) is {}",
                    chunks.len(),
                    limits.max_documents_per_file
                ),
            )
            .at(path, None),
        );
        return out;
    }
    for (i, chunk) in chunks.into_iter().enumerate() {
        let origin = Origin {
            file: path.to_string(),
            index: i + 1,
            line: chunk.line,
        };
        match yaml::load_document(origin, chunk.text, limits) {
            Ok((doc, diags)) => {
                out.diagnostics.extend(diags);
                out.documents.push(doc);
            }
            Err(diags) => out.diagnostics.extend(diags),
        }
    }
    out
}

/// Reads a YAML (or JSON) document that is not a manifest, such as `explain`'s request
/// list, so that the YAML parser stays named in this stage only.
pub fn from_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_yaml::from_str(text).map_err(|e| e.to_string())
}

/// Is `s` a valid namespace name (an RFC 1123 DNS label)?
pub fn is_namespace_name(s: &str) -> bool {
    yaml::is_dns_label(s, 63)
}

/// Refuses bytes that are not text before any YAML parser sees them.
fn file_text<'a>(path: &str, bytes: &'a [u8]) -> Result<&'a str, Diagnostic> {
    let line_of = |offset: usize| 1 + bytes[..offset].iter().filter(|b| **b == b'\n').count();
    if let Some(offset) = bytes.iter().position(|b| *b == 0) {
        return Err(Diagnostic::refusal(
            codes::NUL_BYTE,
            "the file contains a NUL byte; manifests must be text",
        )
        .at(path, Some(line_of(offset))));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        Diagnostic::refusal(
            codes::NOT_UTF8,
            format!(
                "the file is not valid UTF-8 (byte {}); manifests must be UTF-8 text",
                e.valid_up_to()
            ),
        )
        .at(path, Some(line_of(e.valid_up_to())))
    })
}

#[cfg(test)]
mod tests;
