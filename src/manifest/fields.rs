//! The fields a Gateway API kind knows at a place in its spec, from the schema the
//! `gateway-api` crate derives (the Gateway API version gwsync pins), so that an unknown
//! field is named with the closest known one: `wieght` → "did you mean `weight`?".

use super::Kind;
use gateway_api::apis::standard::{
    gatewayclasses::GatewayClassSpec, gateways::GatewaySpec, httproutes::HttpRouteSpec,
    listenersets::ListenerSetSpec, referencegrants::ReferenceGrantSpec,
};
use serde_json::Value;
use std::sync::OnceLock;

/// The known field closest to the unknown field at `path` (`spec.rules[0].backendRefs[0].wieght`)
/// of a document of `kind`, if one is close enough to be a likely misspelling.
pub(super) fn closest_known(kind: Kind, path: &str) -> Option<String> {
    let rest = path.strip_prefix("spec.")?;
    let (parent, unknown) = match rest.rsplit_once('.') {
        Some((parent, unknown)) => (Some(parent), unknown),
        None => (None, rest),
    };
    let schema = schema_of(kind)?;
    let mut node = resolve(schema, schema);
    for segment in parent.into_iter().flat_map(segments) {
        node = match segment {
            Segment::Key(key) => resolve(schema, properties(node)?.get(key)?),
            Segment::Index => resolve(schema, node.get("items")?),
        };
    }
    crate::diagnostic::closest_name(properties(node)?.keys().map(String::as_str), unknown)
        .map(str::to_string)
}

enum Segment<'a> {
    Key(&'a str),
    Index,
}

/// `rules[0].backendRefs[1]` → `rules`, index, `backendRefs`, index.
fn segments(path: &str) -> impl Iterator<Item = Segment<'_>> {
    path.split('.').flat_map(|part| {
        let (key, indexes) = part.split_once('[').unwrap_or((part, ""));
        std::iter::once(Segment::Key(key)).chain(
            indexes
                .split('[')
                .filter(|i| !i.is_empty())
                .map(|_| Segment::Index),
        )
    })
}

fn properties(node: &Value) -> Option<&serde_json::Map<String, Value>> {
    node.get("properties")?.as_object()
}

/// Follows `$ref`s and the `anyOf`/`oneOf`/`allOf` that wrap optional types to the schema
/// that has properties or items.
fn resolve<'a>(root: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..16 {
        if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
            let name = reference.rsplit('/').next().unwrap_or(reference);
            match root.get("$defs").and_then(|d| d.get(name)) {
                Some(target) => node = target,
                None => return node,
            }
            continue;
        }
        let branch = ["anyOf", "oneOf", "allOf"].iter().find_map(|k| {
            node.get(*k)?
                .as_array()?
                .iter()
                .find(|b| b.get("type").and_then(Value::as_str) != Some("null"))
        });
        match branch {
            Some(b) if node.get("properties").is_none() => node = b,
            _ => return node,
        }
    }
    node
}

fn schema_of(kind: Kind) -> Option<&'static Value> {
    fn cached<T: schemars::JsonSchema>(cell: &'static OnceLock<Value>) -> &'static Value {
        cell.get_or_init(|| schemars::schema_for!(T).to_value())
    }
    static GATEWAY_CLASS: OnceLock<Value> = OnceLock::new();
    static GATEWAY: OnceLock<Value> = OnceLock::new();
    static HTTP_ROUTE: OnceLock<Value> = OnceLock::new();
    static LISTENER_SET: OnceLock<Value> = OnceLock::new();
    static REFERENCE_GRANT: OnceLock<Value> = OnceLock::new();
    Some(match kind {
        Kind::GatewayClass => cached::<GatewayClassSpec>(&GATEWAY_CLASS),
        Kind::Gateway => cached::<GatewaySpec>(&GATEWAY),
        Kind::HTTPRoute => cached::<HttpRouteSpec>(&HTTP_ROUTE),
        Kind::ListenerSet => cached::<ListenerSetSpec>(&LISTENER_SET),
        Kind::ReferenceGrant => cached::<ReferenceGrantSpec>(&REFERENCE_GRANT),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspellings_get_the_known_field() {
        let cases = [
            (
                Kind::HTTPRoute,
                "spec.rules[0].backendRefs[0].wieght",
                Some("weight"),
            ),
            (Kind::HTTPRoute, "spec.rules[0].matchs", Some("matches")),
            (Kind::HTTPRoute, "spec.hostname", Some("hostnames")),
            (
                Kind::HTTPRoute,
                "spec.rules[1].matches[0].path.vaule",
                Some("value"),
            ),
            (Kind::Gateway, "spec.listeners[0].prot", Some("port")),
            (Kind::HTTPRoute, "spec.priority", None),
        ];
        for (kind, path, expected) in cases {
            assert_eq!(closest_known(kind, path).as_deref(), expected, "{path}");
        }
    }
}
