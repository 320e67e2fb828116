//! The YAML side of the manifest stage: splitting a file into documents, bounding each
//! document's size before it is materialised, and deserialising it into its typed kind while
//! collecting unknown fields. This is the only file that names the YAML parser.
//!
//! Each document is read twice: first by [`Shape`], a streaming pass that builds nothing,
//! counts nodes (after alias expansion) and depth, and picks up `apiVersion` and `kind`; then,
//! only if it is within the limits, into its typed struct. An alias bomb therefore stops at
//! `limits.max_yaml_nodes` nodes without allocating the expansion.

use super::{Body, Document, Kind, Metadata, ObjectKey, Origin, Strictness, tenants};
use crate::config::Limits;
use crate::diagnostic::{Code, Diagnostic, Severity, codes};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess};
use serde::{Deserialize, Deserializer};
use std::fmt;

/// One document's text and the 1-based line of the file where it starts.
pub(super) struct Chunk<'a> {
    pub line: usize,
    pub text: &'a str,
}

/// Splits a multi-document file on `---` (and `...`) marker lines, dropping documents that
/// hold only blanks and comments. Each chunk keeps its starting line so that errors inside
/// it can be reported against the file. Markers are only recognised at column 0, where YAML
/// allows them; block scalars cannot hold an unindented `---`.
pub(super) fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_marker = |m: &str| {
            bare == m
                || bare
                    .strip_prefix(m)
                    .is_some_and(|rest| rest.starts_with([' ', '\t']))
        };
        if is_marker("---") || is_marker("...") {
            push_chunk(&mut chunks, &text[start..offset], start_line);
            // Content after `--- ` on the same line (e.g. `--- !tag` or `--- {a: 1}`) belongs
            // to the next document; keep the marker line so line numbers stay right.
            if is_marker("---") && !bare[3..].trim().is_empty() {
                start = offset + 3;
                start_line = i + 1;
            } else {
                start = offset + line.len();
                start_line = i + 2;
            }
        }
        offset += line.len();
    }
    push_chunk(&mut chunks, &text[start..], start_line);
    chunks
}

fn push_chunk<'a>(chunks: &mut Vec<Chunk<'a>>, text: &'a str, first_line: usize) {
    // The document's line is its first line with content, so that errors point at it.
    let leading = leading_lines(text);
    if text.lines().nth(leading).is_some() {
        chunks.push(Chunk {
            line: first_line + leading,
            text,
        });
    }
}

/// Loads one document: bounds, kind, typed body. Returns the document and its warnings, or
/// the diagnostics that refused it.
pub(super) fn load_document(
    origin: Origin,
    text: &str,
    limits: &Limits,
) -> Result<(Document, Vec<Diagnostic>), Vec<Diagnostic>> {
    let at = |d: Diagnostic, line: usize| d.at(&origin.file, Some(line));
    let shape = Shape::measure(text, limits).map_err(|stopped| {
        let line = origin.line + chunk_line_offset(text, stopped.line);
        let mut d = Diagnostic::refusal(stopped.code, stopped.message);
        if let Some(field) = stopped.field {
            d = d.field(field);
        }
        if let Some(object) = stopped.object {
            d = d.object(object);
        }
        vec![at(d, line)]
    })?;
    let (Some(api_version), Some(kind_name)) = (shape.api_version.clone(), shape.kind.clone())
    else {
        let code = if !shape.is_mapping {
            codes::NOT_A_MAPPING
        } else if shape.kind.is_none() {
            codes::MISSING_KIND
        } else {
            codes::MISSING_API_VERSION
        };
        let message = match code {
            codes::NOT_A_MAPPING => "a document must be a mapping with apiVersion and kind",
            codes::MISSING_API_VERSION => "apiVersion is missing or not a string",
            _ => "kind is missing or not a string",
        };
        return Err(vec![at(Diagnostic::refusal(code, message), origin.line)]);
    };
    // The object as far as the walk read it, for the kinds gwsync does not read.
    let object = |kind: &str| match (&shape.namespace, &shape.name) {
        (Some(ns), Some(name)) => format!("{kind}/{ns}/{name}"),
        (None, Some(name)) => format!("{kind}/{name}"),
        (_, None) => format!("{kind}/?"),
    };
    let Some(kind) = Kind::from_name(&kind_name) else {
        let hint =
            crate::diagnostic::closest_name(Kind::ALL.iter().map(|k| k.as_str()), &kind_name)
                .map(|k| format!("did you mean `{k}`? "))
                .unwrap_or_default();
        return Err(vec![at(
            Diagnostic::refusal(
                codes::UNKNOWN_KIND,
                format!(
                    "kind `{kind_name}` ({api_version}) is not one gwsync reads; {hint}known kinds: {}",
                    Kind::ALL.map(Kind::as_str).join(", ")
                ),
            )
            .object(object(&kind_name))
            .field("kind"),
            origin.line,
        )]);
    };
    if !kind.api_versions().contains(&api_version.as_str()) {
        return Err(vec![at(
            Diagnostic::refusal(
                codes::UNKNOWN_API_VERSION,
                format!(
                    "apiVersion `{api_version}` is not supported for {kind}; use {}",
                    kind.api_versions().join(" or ")
                ),
            )
            .object(object(kind.as_str()))
            .field("apiVersion"),
            origin.line,
        )]);
    }
    let typed = match kind {
        Kind::Tenants => parse_typed::<tenants::TenantsSpec>(text, kind).map(|p| {
            let metadata = p.value.metadata.clone().unwrap_or_default();
            p.map(|spec| (metadata, Body::Tenants(Box::new(spec))))
        }),
        Kind::GatewayClass => parse_envelope(text, kind, |s| Body::GatewayClass(Box::new(s))),
        Kind::Gateway => parse_envelope(text, kind, |s| Body::Gateway(Box::new(s))),
        Kind::HTTPRoute => parse_envelope(text, kind, |s| Body::HTTPRoute(Box::new(s))),
        Kind::ListenerSet => parse_envelope(text, kind, |s| Body::ListenerSet(Box::new(s))),
        Kind::ReferenceGrant => parse_envelope(text, kind, |s| Body::ReferenceGrant(Box::new(s))),
        Kind::LoadBalancerConfiguration => {
            parse_envelope(text, kind, |s| Body::LoadBalancerConfiguration(Box::new(s)))
        }
        Kind::TargetGroupConfiguration => {
            parse_envelope(text, kind, |s| Body::TargetGroupConfiguration(Box::new(s)))
        }
        Kind::ListenerRuleConfiguration => {
            parse_envelope(text, kind, |s| Body::ListenerRuleConfiguration(Box::new(s)))
        }
    };
    let parsed = match typed {
        Ok(parsed) => parsed,
        Err(e) => {
            let line = e
                .location
                .map_or(origin.line, |l| origin.line + chunk_line_offset(text, l));
            let code = if e.message.starts_with("unknown field") {
                codes::UNKNOWN_FIELD
            } else {
                codes::INVALID_FIELD
            };
            let d = Diagnostic::refusal(code, e.message)
                .object(object_of_unparsed(text, kind))
                .field(e.path);
            return Err(vec![at(d, line)]);
        }
    };
    let (metadata, body) = parsed.value;
    let name = match kind {
        // The tenants file is one per repository; its name is optional.
        Kind::Tenants => metadata
            .name
            .clone()
            .unwrap_or_else(|| "tenants".to_string()),
        _ => match &metadata.name {
            Some(name) => name.clone(),
            None => {
                return Err(vec![at(
                    Diagnostic::refusal(codes::MISSING_NAME, "metadata.name is required")
                        .object(format!("{kind}/?"))
                        .field("metadata.name"),
                    origin.line,
                )]);
            }
        },
    };
    let key = ObjectKey {
        kind,
        namespace: metadata.namespace.clone(),
        name,
    };
    let mut diagnostics = Vec::new();
    if let Err(message) = check_object_name(&key.name) {
        diagnostics.push(Diagnostic::refusal(codes::INVALID_NAME, message).field("metadata.name"));
    }
    if let Some(ns) = &key.namespace
        && let Err(message) = check_namespace_name(ns)
    {
        diagnostics
            .push(Diagnostic::refusal(codes::INVALID_NAME, message).field("metadata.namespace"));
    }
    if let Body::HTTPRoute(spec) = &body {
        diagnostics.extend(super::schema::http_route_problems(spec));
    }
    for path in parsed.ignored {
        diagnostics.push(if path == "status" {
            Diagnostic::warning(
                codes::IGNORED_STATUS,
                "status is written by controllers, not kept in Git; gwsync ignores it",
            )
            .field(path)
        } else {
            unknown_field(kind, path)
        });
    }
    let text_line = origin.line - leading_lines(text);
    let document = Document {
        origin,
        api_version,
        key,
        metadata,
        body,
        text: text.to_string(),
        text_line,
    };
    let diagnostics = diagnostics
        .into_iter()
        .map(|d| document.diagnostic(d))
        .collect::<Vec<_>>();
    if diagnostics.iter().any(|d| d.severity == Severity::Refusal) {
        Err(diagnostics)
    } else {
        Ok((document, diagnostics))
    }
}

/// The number of lines between the document's reported first line and line `l` (1-based) of
/// the chunk; chunks may start with blank or comment lines that the document line skips.
fn chunk_line_offset(text: &str, l: usize) -> usize {
    l.saturating_sub(1).saturating_sub(leading_lines(text))
}

/// Blank, comment and directive lines before a document's content.
fn leading_lines(text: &str) -> usize {
    text.lines()
        .take_while(|line| {
            let t = line.trim();
            t.is_empty() || t.starts_with('#') || t.starts_with('%')
        })
        .count()
}

/// An unknown field: a refusal in gwsync's and the `gateway.k8s.aws` kinds, and in the spec
/// of a Gateway API kind (gwsync pins one Gateway API version: a field it does not know is a
/// field it cannot honour, and a misspelt `wieght` would silently be weight 1); a warning
/// elsewhere (metadata a `kubectl get -o yaml` leaves behind). Named with the closest known
/// field where there is one.
fn unknown_field(kind: Kind, path: String) -> Diagnostic {
    let severity = match kind.strictness() {
        Strictness::Strict => Severity::Refusal,
        Strictness::Lenient if path.starts_with("spec.") => Severity::Refusal,
        Strictness::Lenient => Severity::Warning,
    };
    let mut message = format!("unknown field `{}` for {kind}", last_segment(&path));
    if let Some(known) = super::fields::closest_known(kind, &path) {
        message.push_str(&format!("; did you mean `{known}`?"));
    }
    Diagnostic::new(severity, codes::UNKNOWN_FIELD, message).field(path)
}

fn last_segment(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// Kubernetes object names: DNS subdomain (RFC 1123), at most 253 characters.
fn check_object_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| is_dns_label(label, usize::MAX));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters"
        ))
    }
}

/// Namespaces: DNS label (RFC 1123), at most 63 characters.
fn check_namespace_name(ns: &str) -> Result<(), String> {
    if is_dns_label(ns, 63) {
        Ok(())
    } else {
        Err(format!(
            "`{ns}` is not a valid namespace: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
        ))
    }
}

pub(crate) fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A typed value and the paths of the fields the type did not know.
struct Parsed<T> {
    value: T,
    ignored: Vec<String>,
}

impl<T> Parsed<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Parsed<U> {
        Parsed {
            value: f(self.value),
            ignored: self.ignored,
        }
    }
}

/// A failed typed parse: the field path, the message without the parser's own location
/// suffix, and the 1-based line inside the chunk.
struct ParseFailure {
    path: String,
    message: String,
    location: Option<usize>,
}

fn parse_typed<T: DeserializeOwned>(text: &str, kind: Kind) -> Result<Parsed<T>, ParseFailure> {
    let mut ignored = Vec::new();
    let de = serde_yaml::Deserializer::from_str(text);
    let mut record = |path: serde_ignored::Path<'_>| ignored.push(field_path(&path));
    let tracked = serde_ignored::Deserializer::new(de, &mut record);
    match serde_path_to_error::deserialize::<_, T>(tracked) {
        Ok(value) => Ok(Parsed { value, ignored }),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let location = inner.location().map(|l| l.line());
            let mut message = inner.to_string();
            if let Some(cut) = message.find(" at line ") {
                message.truncate(cut);
            }
            // serde_yaml starts messages about nested fields with its own rendering of the
            // path; the path is reported in its own field.
            if let Some((head, rest)) = message.split_once(": ")
                && !head.contains(' ')
            {
                message = rest.to_string();
            }
            let path = if path == "." { String::new() } else { path };
            Err(ParseFailure {
                message: format!("{message} (in {kind})"),
                path,
                location,
            })
        }
    }
}

/// A field path in the same notation as serde_path_to_error's (`spec.rules[0].name`), so
/// that every diagnostic names fields alike and `locate` can follow them.
fn field_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        Path::Map { parent, key } => {
            let parent = field_path(parent);
            if parent.is_empty() {
                key.to_string()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_path(parent),
    }
}

/// The Kubernetes object envelope around a `spec`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<S> {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    metadata: Metadata,
    spec: S,
}

fn parse_envelope<S: DeserializeOwned>(
    text: &str,
    kind: Kind,
    wrap: impl FnOnce(S) -> Body,
) -> Result<Parsed<(Metadata, Body)>, ParseFailure> {
    parse_typed::<Envelope<S>>(text, kind).map(|p| p.map(|e| (e.metadata, wrap(e.spec))))
}

/// `Kind/namespace/name` of a document that did not deserialise, as far as its metadata can
/// still be read (within the limits: the streaming pass has already bounded it), so that its
/// error names the object too.
fn object_of_unparsed(text: &str, kind: Kind) -> String {
    #[derive(Deserialize)]
    struct Head {
        metadata: Option<HeadMetadata>,
    }
    #[derive(Deserialize)]
    struct HeadMetadata {
        name: Option<String>,
        namespace: Option<String>,
    }
    let metadata = serde_yaml::from_str::<Head>(text)
        .ok()
        .and_then(|h| h.metadata);
    let (namespace, name) = match metadata {
        Some(m) => (m.namespace, m.name),
        None => (None, None),
    };
    let default = if kind == Kind::Tenants {
        "tenants"
    } else {
        "?"
    };
    ObjectKey {
        kind,
        namespace,
        name: name.unwrap_or_else(|| default.to_string()),
    }
    .to_string()
}

/// What the streaming pass learns about a document before it is deserialised for real.
#[derive(Default)]
struct Shape {
    is_mapping: bool,
    api_version: Option<String>,
    kind: Option<String>,
    /// `metadata.name` and `metadata.namespace` as walked.
    name: Option<String>,
    namespace: Option<String>,
}

/// Why the streaming pass stopped: a limit, a merge key, or a value the schema forbids
/// wherever it appears; `field` is where, when it is a field.
struct Stopped {
    code: Code,
    message: String,
    line: usize,
    field: Option<String>,
    /// `Kind/namespace/name` as far as the walk had read it.
    object: Option<String>,
}

/// One step of the path to the node being walked.
enum Segment {
    Key(String),
    Index(usize),
}

/// Counts nodes and depth while walking the event stream, and keeps the path to the current
/// node; `exceeded` records which check stopped the walk, so its error is told apart from a
/// syntax error.
struct Budget {
    nodes: usize,
    max_nodes: usize,
    max_depth: usize,
    exceeded: Option<(Code, String, Option<String>)>,
    path: Vec<Segment>,
    /// The text of the map key just walked (None when it was not a string).
    last_key: Option<String>,
    /// `metadata.name` and `metadata.namespace` as walked, to name the object of an error.
    name: Option<String>,
    namespace: Option<String>,
}

impl Budget {
    /// The path to the current node, in the notation of every other diagnostic.
    fn field(&self) -> String {
        let mut out = String::new();
        for segment in &self.path {
            match segment {
                Segment::Key(k) if out.is_empty() => out.push_str(k),
                Segment::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    /// The key the current value sits under, if it sits under a key.
    fn key(&self) -> Option<&str> {
        match self.path.last() {
            Some(Segment::Key(k)) => Some(k),
            _ => None,
        }
    }

    fn in_spec(&self) -> bool {
        matches!(self.path.first(), Some(Segment::Key(k)) if k == "spec")
    }

    fn stop<E: de::Error>(&mut self, code: Code, message: String, at_field: bool) -> E {
        let field = Some(self.field()).filter(|f| at_field && !f.is_empty());
        self.exceeded = Some((code, message.clone(), field));
        E::custom(message)
    }
}

impl Shape {
    fn measure(text: &str, limits: &Limits) -> Result<Shape, Stopped> {
        let mut budget = Budget {
            nodes: 0,
            max_nodes: limits.max_yaml_nodes,
            max_depth: limits.max_yaml_depth,
            exceeded: None,
            path: Vec::new(),
            last_key: None,
            name: None,
            namespace: None,
        };
        let mut shape = Shape::default();
        let de = serde_yaml::Deserializer::from_str(text);
        let seed = Walk {
            budget: &mut budget,
            depth: 0,
            top: Some(&mut shape),
            role: Role::Value,
        };
        match seed.deserialize(de) {
            Ok(()) => {
                shape.name = budget.name.take();
                shape.namespace = budget.namespace.take();
                Ok(shape)
            }
            Err(e) => {
                let line = e.location().map_or(1, |l| l.line());
                Err(match budget.exceeded {
                    Some((code, message, field)) => Stopped {
                        code,
                        message,
                        line,
                        field,
                        object: shape.kind.as_deref().and_then(Kind::from_name).map(|kind| {
                            ObjectKey {
                                kind,
                                namespace: budget.namespace.take(),
                                name: budget.name.take().unwrap_or_else(|| "?".to_string()),
                            }
                            .to_string()
                        }),
                    },
                    None => {
                        let mut message = e.to_string();
                        if let Some(cut) = message.find(" at line ") {
                            message.truncate(cut);
                        }
                        let code = if message.contains("repetition limit") {
                            codes::YAML_TOO_MANY_NODES
                        } else if message.contains("recursion limit") {
                            codes::YAML_TOO_DEEP
                        } else {
                            codes::YAML_SYNTAX
                        };
                        Stopped {
                            code,
                            message: format!("YAML: {message}"),
                            line,
                            field: None,
                            object: None,
                        }
                    }
                })
            }
        }
    }
}

/// Whether a node is a map key or a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Key,
    Value,
}

/// A seed that walks any value, charging each node to the budget and checking what the
/// schema forbids wherever it appears (see [`Walk::check_number`], [`Walk::check_text`]). At
/// the top level it also records `apiVersion` and `kind`.
struct Walk<'a> {
    budget: &'a mut Budget,
    depth: usize,
    top: Option<&'a mut Shape>,
    role: Role,
}

/// Integer fields whose range every kind gwsync reads shares: Gateway API ports (listeners,
/// parent and backend references, redirects) and the `targets` extension are 1–65535;
/// backend weights 0–1,000,000 (the Gateway API schema's bounds).
const RANGES: [(&str, i128, i128); 2] = [("port", 1, 65_535), ("weight", 0, 1_000_000)];

/// String fields that may hold line breaks and tabs: a fixed response's body.
const MULTILINE_FIELDS: [&str; 1] = ["messageBody"];

impl Walk<'_> {
    fn charge<E: de::Error>(&mut self) -> Result<(), E> {
        self.budget.nodes += 1;
        if self.budget.nodes > self.budget.max_nodes {
            let message = format!(
                "the document expands to more than {} YAML nodes (limits.max_yaml_nodes); aliases that multiply content are refused",
                self.budget.max_nodes
            );
            return Err(self.budget.stop(codes::YAML_TOO_MANY_NODES, message, false));
        }
        Ok(())
    }

    fn enter<E: de::Error>(&mut self) -> Result<(), E> {
        if self.depth >= self.budget.max_depth {
            let message = format!(
                "the document nests deeper than {} levels (limits.max_yaml_depth)",
                self.budget.max_depth
            );
            return Err(self.budget.stop(codes::YAML_TOO_DEEP, message, false));
        }
        Ok(())
    }

    fn child(&mut self, role: Role) -> Walk<'_> {
        Walk {
            budget: self.budget,
            depth: self.depth + 1,
            top: None,
            role,
        }
    }

    /// A port or weight outside its range; negative numbers are never clamped.
    fn check_number<E: de::Error>(&mut self, value: i128) -> Result<(), E> {
        let Some(key) = self.budget.key().filter(|_| self.role == Role::Value) else {
            return Ok(());
        };
        match RANGES.iter().find(|(name, _, _)| *name == key) {
            Some((name, min, max)) if !(*min..=*max).contains(&value) => {
                let message = format!("{name} {value} is outside {min}-{max}");
                Err(self.budget.stop(codes::INVALID_FIELD, message, true))
            }
            _ => Ok(()),
        }
    }

    /// A merge key, or a control character in a value of the spec: a CR or LF would split a
    /// header or a log line, an escape would rewrite a terminal.
    fn check_text<E: de::Error>(&mut self, value: &str) -> Result<(), E> {
        if self.role == Role::Key {
            if value == "<<" {
                let message = "YAML merge keys (`<<`) are not applied by Kubernetes or gwsync: the merged fields would be missing; write the fields out".to_string();
                return Err(self.budget.stop(codes::YAML_MERGE_KEY, message, true));
            }
            self.budget.last_key = Some(value.to_string());
            return Ok(());
        }
        if let [Segment::Key(m), Segment::Key(k)] = self.budget.path.as_slice()
            && m == "metadata"
        {
            match k.as_str() {
                "name" => self.budget.name = Some(value.to_string()),
                "namespace" => self.budget.namespace = Some(value.to_string()),
                _ => {}
            }
        }
        if !self.budget.in_spec() {
            return Ok(());
        }
        let multiline = self
            .budget
            .key()
            .is_some_and(|k| MULTILINE_FIELDS.contains(&k));
        let forbidden =
            |c: &char| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'));
        if let Some(c) = value.chars().find(forbidden) {
            let message =
                format!("the value holds the control character {c:?}; values must be printable");
            return Err(self.budget.stop(codes::CONTROL_CHARACTER, message, true));
        }
        if !multiline && is_placeholder(value) {
            let message = format!(
                "`{value}` looks like a placeholder left unfilled; gwsync substitutes nothing: write the real value"
            );
            return Err(self.budget.stop(codes::PLACEHOLDER, message, true));
        }
        Ok(())
    }
}

/// A template placeholder copied from a guide or chart and never filled in: a whole value in
/// angle brackets (`<my cert arn>`), a shell or Terraform `${VAR}`, a Helm `{{ .Values.x }}`.
fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    let angle = v.len() > 2
        && v.starts_with('<')
        && v.ends_with('>')
        && !v[1..v.len() - 1].contains(['<', '>']);
    angle || v.contains("${") || (v.contains("{{") && v.contains("}}"))
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// A top-level key and, for `apiVersion` / `kind`, its string value.
struct Captured(Option<String>);

impl<'de> Deserialize<'de> for Captured {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Captured;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Captured, E> {
                Ok(Captured(Some(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Captured, E> {
                Ok(Captured(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Captured, E> {
                Ok(Captured(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Captured, E> {
                Ok(Captured(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Captured, E> {
                Ok(Captured(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Captured, E> {
                Ok(Captured(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Captured, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Captured(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Captured, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Captured(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> de::Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(mut self, _: bool) -> Result<(), E> {
        self.charge()
    }
    fn visit_i64<E: de::Error>(mut self, v: i64) -> Result<(), E> {
        self.charge()?;
        self.check_number(v.into())
    }
    fn visit_u64<E: de::Error>(mut self, v: u64) -> Result<(), E> {
        self.charge()?;
        self.check_number(v.into())
    }
    fn visit_f64<E: de::Error>(mut self, _: f64) -> Result<(), E> {
        self.charge()
    }
    fn visit_str<E: de::Error>(mut self, v: &str) -> Result<(), E> {
        self.charge()?;
        self.check_text(v)
    }
    fn visit_unit<E: de::Error>(mut self) -> Result<(), E> {
        self.charge()
    }
    fn visit_none<E: de::Error>(mut self) -> Result<(), E> {
        self.charge()
    }
    fn visit_some<D: Deserializer<'de>>(mut self, d: D) -> Result<(), D::Error> {
        self.charge()?;
        let role = self.role;
        self.child(role).deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(mut self, d: D) -> Result<(), D::Error> {
        self.charge()?;
        let role = self.role;
        self.child(role).deserialize(d)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(mut self, data: A) -> Result<(), A::Error> {
        // A tagged value (`!Tag value`): walk the tag and its content.
        self.charge()?;
        let (_, variant): (IgnoredAny, _) = data.variant()?;
        de::VariantAccess::newtype_variant_seed(variant, self.child(Role::Value))
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.charge()?;
        self.enter()?;
        let mut index = 0;
        loop {
            self.budget.path.push(Segment::Index(index));
            let more = seq.next_element_seed(self.child(Role::Value))?.is_some();
            self.budget.path.pop();
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.charge()?;
        self.enter()?;
        match self.top.take() {
            Some(shape) => {
                shape.is_mapping = true;
                while let Some(key) = map.next_key::<Captured>()? {
                    self.charge()?;
                    match key.0.as_deref() {
                        Some("apiVersion") => shape.api_version = map.next_value::<Captured>()?.0,
                        Some("kind") => shape.kind = map.next_value::<Captured>()?.0,
                        Some(other) => {
                            self.child(Role::Key).check_text::<A::Error>(other)?;
                            self.walk_value(&mut map, Some(other.to_string()))?;
                        }
                        None => self.walk_value(&mut map, None)?,
                    }
                }
            }
            None => loop {
                self.budget.last_key = None;
                if map.next_key_seed(self.child(Role::Key))?.is_none() {
                    break;
                }
                let key = self.budget.last_key.take();
                self.walk_value(&mut map, key)?;
            },
        }
        Ok(())
    }
}

impl Walk<'_> {
    /// Walks the value of a map entry whose key is `key`, with the key on the path.
    fn walk_value<'de, A: MapAccess<'de>>(
        &mut self,
        map: &mut A,
        key: Option<String>,
    ) -> Result<(), A::Error> {
        self.budget
            .path
            .push(Segment::Key(key.unwrap_or_else(|| "?".to_string())));
        map.next_value_seed(self.child(Role::Value))?;
        self.budget.path.pop();
        Ok(())
    }
}
