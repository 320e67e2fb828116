use super::*;
use crate::diagnostic::{Code, Severity};

fn load(text: &str) -> FileLoad {
    load_file("teams/a/r.yaml", text.as_bytes(), &Limits::default())
}

fn codes_of(load: &FileLoad) -> Vec<(Code, Severity, Option<usize>)> {
    load.diagnostics
        .iter()
        .map(|d| (d.code, d.severity, d.line))
        .collect()
}

const ROUTE: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs:
  - name: shared
    namespace: platform
  rules:
  - backendRefs:
    - name: web
      port: 8080
";

#[test]
fn multi_document_file_keeps_index_and_line() {
    let text = format!(
        "# leading comment\n---\n{ROUTE}---\n# only a comment\n---\n\n{}",
        ROUTE.replace("name: web\nspec", "name: api\nspec")
    );
    let l = load(&text);
    assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
    let docs: Vec<(&str, usize, usize)> = l
        .documents
        .iter()
        .map(|d| (d.key.name.as_str(), d.origin.index, d.origin.line))
        .collect();
    assert_eq!(docs, [("web", 1, 3), ("api", 2, 19)]);
    assert_eq!(l.documents[0].key.kind, Kind::HTTPRoute);
    assert!(matches!(l.documents[0].body, Body::HTTPRoute(_)));
}

#[test]
fn unknown_spec_field_in_gateway_api_kind_is_a_refusal_with_the_closest_known_one() {
    let l = load(&ROUTE.replace("  rules:", "  hostname: [a.com]\n  rules:"));
    assert!(l.documents.is_empty());
    let d = &l.diagnostics[0];
    assert_eq!(
        (d.code, d.severity),
        (codes::UNKNOWN_FIELD, Severity::Refusal)
    );
    assert_eq!(d.field.as_deref(), Some("spec.hostname"));
    assert_eq!(d.object.as_deref(), Some("HTTPRoute/web"));
    assert!(d.message.ends_with("did you mean `hostnames`?"), "{d}");
}

#[test]
fn unknown_metadata_in_gateway_api_kind_is_a_warning() {
    let l = load(&ROUTE.replace("metadata:\n", "metadata:\n  uid: 0b5e\n"));
    assert_eq!(l.documents.len(), 1, "{:?}", l.diagnostics);
    let d = &l.diagnostics[0];
    assert_eq!(
        (d.code, d.severity),
        (codes::UNKNOWN_FIELD, Severity::Warning)
    );
    assert_eq!(d.field.as_deref(), Some("metadata.uid"));
}

#[test]
fn unknown_field_in_own_kind_is_a_refusal() {
    let l = load(
        "apiVersion: gwsync.dev/v1alpha1\nkind: Tenants\nplatform: {path: platform/, namespace: platform}\nteam: []\n",
    );
    assert!(l.documents.is_empty());
    assert_eq!(
        codes_of(&l),
        [(codes::UNKNOWN_FIELD, Severity::Refusal, Some(4))]
    );
    assert!(l.diagnostics[0].message.contains("unknown field `team`"));
}

#[test]
fn type_error_names_field_and_line() {
    let l = load(&ROUTE.replace("port: 8080", "port: eighty"));
    assert_eq!(
        codes_of(&l),
        [(codes::INVALID_FIELD, Severity::Refusal, Some(12))]
    );
    assert_eq!(
        l.diagnostics[0].field.as_deref(),
        Some("spec.rules[0].backendRefs[0].port")
    );
    // The document did not deserialise, but its error still names the object.
    assert_eq!(l.diagnostics[0].object.as_deref(), Some("HTTPRoute/web"));
}

#[test]
fn status_is_ignored_with_a_warning() {
    let l = load(&format!("{ROUTE}status:\n  parents: []\n"));
    assert_eq!(l.documents.len(), 1);
    assert_eq!(
        codes_of(&l),
        [(codes::IGNORED_STATUS, Severity::Warning, Some(13))]
    );
}

#[test]
fn envelope_problems() {
    let cases: [(&str, Code); 6] = [
        (
            "kind: HTTPRoute\nmetadata: {name: a}\n",
            codes::MISSING_API_VERSION,
        ),
        ("apiVersion: v1\nmetadata: {name: a}\n", codes::MISSING_KIND),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n",
            codes::UNKNOWN_KIND,
        ),
        (
            "apiVersion: gateway.networking.k8s.io/v1alpha9\nkind: HTTPRoute\nmetadata: {name: a}\nspec: {}\n",
            codes::UNKNOWN_API_VERSION,
        ),
        (
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {}\nspec: {}\n",
            codes::MISSING_NAME,
        ),
        ("- just\n- a list\n", codes::NOT_A_MAPPING),
    ];
    for (text, code) in cases {
        let l = load(text);
        assert!(l.documents.is_empty(), "{text}");
        assert_eq!(l.diagnostics.len(), 1, "{text}: {:?}", l.diagnostics);
        assert_eq!(l.diagnostics[0].code, code, "{text}");
        assert_eq!(l.diagnostics[0].severity, Severity::Refusal);
    }
}

#[test]
fn invalid_names_are_refused() {
    let l = load(&ROUTE.replace("name: web\nspec", "name: Web_Route\nspec"));
    assert_eq!(
        codes_of(&l),
        [(codes::INVALID_NAME, Severity::Refusal, Some(4))]
    );
    let l = load(&ROUTE.replace("name: web\nspec", "name: web\n  namespace: Pay\nspec"));
    assert_eq!(
        l.diagnostics[0].field.as_deref(),
        Some("metadata.namespace")
    );
}

#[test]
fn syntax_error_points_at_its_line() {
    let l = load(&format!("{ROUTE}---\napiVersion: v1\nkind: [unclosed\n"));
    assert_eq!(l.documents.len(), 1);
    let d = &l.diagnostics[0];
    assert_eq!(d.code, codes::YAML_SYNTAX);
    assert!(d.line.unwrap() >= 15, "{d}");
}

#[test]
fn nul_bytes_and_bad_utf8_are_refused_with_a_line() {
    let l = load_file("x.yaml", b"a: 1\nb: \0\n", &Limits::default());
    assert_eq!(
        codes_of(&l),
        [(codes::NUL_BYTE, Severity::Refusal, Some(2))]
    );
    let l = load_file("x.yaml", b"a: 1\n\nb: \xff\n", &Limits::default());
    assert_eq!(
        codes_of(&l),
        [(codes::NOT_UTF8, Severity::Refusal, Some(3))]
    );
}

#[test]
fn too_many_documents() {
    let limits = Limits {
        max_documents_per_file: 2,
        ..Limits::default()
    };
    let text = format!("{ROUTE}---\n{ROUTE}---\n{ROUTE}");
    let l = load_file("x.yaml", text.as_bytes(), &limits);
    assert!(l.documents.is_empty());
    assert_eq!(l.diagnostics[0].code, codes::TOO_MANY_DOCUMENTS);
}

#[test]
fn billion_laughs_is_refused_quickly() {
    let mut text = String::from(
        "apiVersion: v1\nkind: HTTPRoute\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let prev = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    let started = std::time::Instant::now();
    let l = load(&text);
    assert!(l.documents.is_empty());
    assert_eq!(
        l.diagnostics[0].code,
        codes::YAML_TOO_MANY_NODES,
        "{:?}",
        l.diagnostics
    );
    // Not a timing assertion on the happy path: a regression here would take minutes and
    // gigabytes, so a generous bound catches it without flaking.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn deep_nesting_is_refused() {
    let depth = 100;
    let text = format!(
        "apiVersion: v1\nkind: HTTPRoute\nx: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let l = load(&text);
    assert_eq!(l.diagnostics[0].code, codes::YAML_TOO_DEEP);
}

#[test]
fn lbc_kinds_are_strict() {
    let text = "apiVersion: gateway.k8s.aws/v1beta1
kind: TargetGroupConfiguration
metadata: {name: web}
spec:
  targetReference: {name: web}
  defaultConfiguration:
    targetTyp: ip
";
    let l = load(text);
    assert!(l.documents.is_empty());
    assert_eq!(l.diagnostics[0].severity, Severity::Refusal);
    assert!(
        l.diagnostics[0].message.contains("targetTyp"),
        "{:?}",
        l.diagnostics
    );
}

#[test]
fn split_handles_markers_with_content_and_end_markers() {
    let chunks = yaml::split_documents("--- {a: 1}\n...\n---\nb: 2\n");
    let lines: Vec<usize> = chunks.iter().map(|c| c.line).collect();
    assert_eq!(lines, [1, 4]);
}

#[test]
fn an_unknown_kind_or_api_version_names_its_object_and_field() {
    let l = load("apiVersion: v1\nkind: Secret\nmetadata: {name: aws-keys, namespace: payments}\n");
    let d = &l.diagnostics[0];
    assert_eq!(d.code, codes::UNKNOWN_KIND);
    assert_eq!(d.object.as_deref(), Some("Secret/payments/aws-keys"));
    assert_eq!(d.field.as_deref(), Some("kind"));
    assert!(!d.message.contains("did you mean"), "{}", d.message);
    let l =
        load("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoot\nmetadata: {name: web}\n");
    let d = &l.diagnostics[0];
    assert!(
        d.message.contains("did you mean `HTTPRoute`?"),
        "{}",
        d.message
    );
    let l = load(
        "apiVersion: gateway.networking.k8s.io/v9\nkind: HTTPRoute\nmetadata: {name: web}\nspec: {}\n",
    );
    let d = &l.diagnostics[0];
    assert_eq!(d.code, codes::UNKNOWN_API_VERSION);
    assert_eq!(d.object.as_deref(), Some("HTTPRoute/web"));
    assert_eq!(d.field.as_deref(), Some("apiVersion"));
}
