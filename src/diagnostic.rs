//! Diagnostics: the one shape every stage uses to say what is wrong with the input.
//!
//! A diagnostic names where the problem is (file, line, team, object, field) and what it is
//! (a stable [`Code`] and a message). Its [`Severity`] decides its effect: a `Refusal` refuses
//! the team (or the whole revision) that owns the file, an `Error` is a problem on one object
//! that leaves its team admitted (an unresolved reference, as the Gateway API spec treats
//! them), a `Warning` changes nothing. Stages create diagnostics; only `tenancy` decides
//! verdicts from them, and only renderers format them.

use serde::Serialize;
use std::fmt;

/// What a diagnostic does to the verdict of the files' owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// The owner (team, or the whole revision for the platform) is refused.
    Refusal,
    /// The object is admitted but wrong (e.g. an unresolved backend): `validate` exits 1.
    Error,
    /// Worth reading; no effect.
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Refusal => "refused",
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A stable, machine-readable identifier for the kind of problem (kebab-case). Tests and
/// JSON consumers match on codes, people read messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Code(pub &'static str);

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// One problem, with everything an operator needs to find it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// `Kind/namespace/name` of the object, when the problem is inside one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Dotted path of the field inside the object (`spec.rules[0].matches[1].path`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl Diagnostic {
    pub fn new(severity: Severity, code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity,
            code,
            file: None,
            line: None,
            team: None,
            object: None,
            field: None,
            message: message.into(),
        }
    }

    pub fn refusal(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Refusal, code, message)
    }

    pub fn error(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, code, message)
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, code, message)
    }

    pub fn at(mut self, file: &str, line: Option<usize>) -> Diagnostic {
        self.file = Some(file.to_string());
        self.line = line;
        self
    }

    pub fn object(mut self, object: impl Into<String>) -> Diagnostic {
        self.object = Some(object.into());
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Diagnostic {
        self.field = Some(field.into());
        self
    }

    pub fn with_severity(mut self, severity: Severity) -> Diagnostic {
        self.severity = severity;
        self
    }

    pub fn team(mut self, team: impl Into<String>) -> Diagnostic {
        self.team = Some(team.into());
        self
    }
}

/// `file:line: team: Kind/namespace/name: field: message`, leaving out the parts that are
/// not known.
impl fmt::Display for Diagnostic {
    /// One line, whatever the input held: file names, objects, fields and messages (which
    /// quote values from the input) go through [`printable`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: ", printable(file))?,
            (Some(file), None) => write!(f, "{}: ", printable(file))?,
            _ => {}
        }
        for part in [&self.team, &self.object, &self.field]
            .into_iter()
            .flatten()
        {
            write!(f, "{}: ", printable(part))?;
        }
        write!(f, "{}", printable(&self.message))
    }
}

/// `text` safe to print on a terminal or in a log line: control characters (a newline that
/// would forge a line of output, ANSI escape sequences, carriage returns) and the Unicode
/// controls that reorder text (bidirectional overrides and isolates) are written as escapes
/// (`\n`, `\u{1b}`). Everything else is kept as it is.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The codes gwsync emits. Keep them stable: CI pipelines and tests match on them.
pub mod codes {
    use super::Code;

    // Source and file-level problems.
    pub const SYMLINK: Code = Code("symlink");
    pub const SUBMODULE: Code = Code("submodule");
    pub const EMPTY_TEAM_FOLDER: Code = Code("empty-team-folder");
    pub const FILE_TOO_LARGE: Code = Code("file-too-large");
    pub const NON_UTF8_PATH: Code = Code("non-utf8-path");
    pub const UNPRINTABLE_PATH: Code = Code("unprintable-path");
    pub const OUTSIDE_FOLDERS: Code = Code("outside-folders");
    pub const NOT_UTF8: Code = Code("not-utf8");
    pub const NUL_BYTE: Code = Code("nul-byte");
    pub const TOO_MANY_DOCUMENTS: Code = Code("too-many-documents");
    pub const YAML_SYNTAX: Code = Code("yaml-syntax");
    pub const YAML_TOO_DEEP: Code = Code("yaml-too-deep");
    pub const YAML_TOO_MANY_NODES: Code = Code("yaml-too-many-nodes");
    /// A YAML merge key (`<<`): Kubernetes does not apply them, so the merged fields would
    /// silently be missing.
    pub const YAML_MERGE_KEY: Code = Code("yaml-merge-key");
    /// A control character (CR, LF, ESC, ...) in a value of a spec.
    pub const CONTROL_CHARACTER: Code = Code("control-character");
    /// The revision exceeds `limits.max_files` or `limits.max_total_bytes`: nothing was read.
    pub const REVISION_TOO_LARGE: Code = Code("revision-too-large");
    /// A value that is a template placeholder left unfilled (`<my cert arn>`, `${VAR}`,
    /// `{{ .Values.x }}`): gwsync substitutes nothing.
    pub const PLACEHOLDER: Code = Code("placeholder");
    /// One owner's files exceed `limits.max_files_per_owner` or `limits.max_bytes_per_owner`.
    pub const OWNER_TOO_LARGE: Code = Code("owner-too-large");

    // Document-level problems.
    pub const NOT_A_MAPPING: Code = Code("not-a-mapping");
    pub const MISSING_API_VERSION: Code = Code("missing-api-version");
    pub const MISSING_KIND: Code = Code("missing-kind");
    pub const UNKNOWN_KIND: Code = Code("unknown-kind");
    pub const UNKNOWN_API_VERSION: Code = Code("unknown-api-version");
    pub const MISSING_NAME: Code = Code("missing-name");
    pub const INVALID_NAME: Code = Code("invalid-name");
    pub const UNKNOWN_FIELD: Code = Code("unknown-field");
    pub const INVALID_FIELD: Code = Code("invalid-field");
    pub const IGNORED_STATUS: Code = Code("ignored-status");
    pub const DUPLICATE_OBJECT: Code = Code("duplicate-object");

    // Tenancy and ownership.
    pub const INVALID_TENANTS: Code = Code("invalid-tenants");
    pub const NAMESPACE_MISMATCH: Code = Code("namespace-mismatch");
    pub const KIND_NOT_ALLOWED_HERE: Code = Code("kind-not-allowed-here");
    pub const HOSTNAME_NOT_GRANTED: Code = Code("hostname-not-granted");
    pub const PATH_NOT_GRANTED: Code = Code("path-not-granted");
    pub const TARGET_GROUP_NOT_GRANTED: Code = Code("target-group-not-granted");
    pub const UNSUPPORTED: Code = Code("unsupported");
    pub const OTHER_GATEWAY_CLASS: Code = Code("other-gateway-class");
    /// Two target groups of the desired state share a name (AWS names are per account).
    pub const TARGET_GROUP_NAME_TAKEN: Code = Code("target-group-name-taken");
    /// A tag gwsync keeps for itself (`gwsync.dev/`) or AWS does (`aws:`).
    pub const RESERVED_TAG: Code = Code("reserved-tag");
    /// A target address a team may not register (link-local, loopback, metadata service).
    pub const UNSAFE_TARGET: Code = Code("unsafe-target");
    /// The commit changes the tenants file (or the platform folder) together with team
    /// folders: a team's pull request that also widens its own grants.
    pub const TENANTS_CHANGED_WITH_TEAMS: Code = Code("tenants-changed-with-teams");

    // References (errors on the object; the team stays admitted).
    pub const PARENT_NOT_FOUND: Code = Code("parent-not-found");
    pub const NO_MATCHING_PARENT: Code = Code("no-matching-parent");
    pub const NOT_ALLOWED_BY_LISTENERS: Code = Code("not-allowed-by-listeners");
    pub const NO_MATCHING_LISTENER_HOSTNAME: Code = Code("no-matching-listener-hostname");
    pub const LISTENERS_NOT_ALLOWED: Code = Code("listeners-not-allowed");
    pub const LISTENER_CONFLICT: Code = Code("listener-conflict");
    pub const BACKEND_NOT_FOUND: Code = Code("backend-not-found");
    pub const REF_NOT_PERMITTED: Code = Code("ref-not-permitted");
    pub const INVALID_BACKEND_KIND: Code = Code("invalid-backend-kind");
    pub const PARAMETERS_NOT_FOUND: Code = Code("parameters-not-found");
    pub const MIXED_BACKENDS: Code = Code("mixed-backends");

    // Translation to ALB.
    pub const ALB_LIMIT: Code = Code("alb-limit");
    /// A value ALB refuses (too long, a character it does not take).
    pub const ALB_VALUE: Code = Code("alb-value");
    /// Expressible, but ALB answers some requests differently from Gateway API.
    pub const ALB_DIFFERS: Code = Code("alb-differs");
    pub const NO_CERTIFICATE: Code = Code("no-certificate");
    /// A match an earlier rule of the listener already has exactly: it never matches.
    pub const UNREACHABLE_MATCH: Code = Code("unreachable-match");
    /// A match an earlier rule of the listener takes every request of: it never matches.
    pub const SHADOWED_MATCH: Code = Code("shadowed-match");

    // Pull requests (`gwsync check`).
    /// The committed CODEOWNERS is not what the tenants file implies.
    pub const CODEOWNERS_OUTDATED: Code = Code("codeowners-outdated");
    pub const INVALID_NAME_FOR_AWS: Code = Code("invalid-aws-name");
}

/// The name among `known` closest to `unknown` (case aside), if close enough to be a likely
/// misspelling of it: at most a third of its letters (and at least one) differ.
pub fn closest_name<'a>(known: impl Iterator<Item = &'a str>, unknown: &str) -> Option<&'a str> {
    known
        .map(|known| {
            (
                strsim::damerau_levenshtein(&known.to_lowercase(), &unknown.to_lowercase()),
                known,
            )
        })
        .filter(|(distance, known)| *distance <= (known.len() / 3).max(1))
        .min()
        .map(|(_, known)| known)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_diagnostic_prints_on_one_line_whatever_the_input_held() {
        let d = Diagnostic::refusal(
            codes::NOT_UTF8,
            "value `\u{1b}[31mred\u{1b}[0m` is \u{202e}reversed",
        )
        .at("teams/orders/evil\nteam payments: admitted.yaml", Some(3));
        let text = d.to_string();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{text}"
        );
        assert!(
            text.starts_with("teams/orders/evil\\nteam payments: admitted.yaml:3: "),
            "{text}"
        );
        assert!(text.contains("\\u{1b}[31mred"), "{text}");
        assert_eq!(printable("plain é text"), "plain é text");
    }

    use super::*;

    #[test]
    fn renders_every_known_part_in_order() {
        let d = Diagnostic::refusal(codes::HOSTNAME_NOT_GRANTED, "not granted")
            .at("teams/a/r.yaml", Some(7))
            .team("a")
            .object("HTTPRoute/a/web")
            .field("spec.hostnames[0]");
        assert_eq!(
            d.to_string(),
            "teams/a/r.yaml:7: a: HTTPRoute/a/web: spec.hostnames[0]: not granted"
        );
        let bare = Diagnostic::warning(codes::SUBMODULE, "skipped");
        assert_eq!(bare.to_string(), "skipped");
    }
}
