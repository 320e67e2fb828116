//! Finds the line of a field inside a document's text, so that a diagnostic about
//! `spec.rules[1].backendRefs[0].name` points at that line and not at the document's start.
//!
//! This reads block-style YAML by indentation, which is how Kubernetes manifests are
//! written. It is best effort: inside flow collections (`{...}`, `[...]`) it stops at the
//! line that opens them, and when it cannot follow a path it returns the deepest line it
//! reached, or None. A wrong guess costs a less precise line, never a wrong verdict.

/// One step of a field path.
#[derive(Debug, PartialEq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        while let Some(close) = rest.find(']') {
            if let Ok(i) = rest[1..close].parse() {
                out.push(Step::Index(i));
            }
            rest = &rest[close + 1..];
        }
    }
    out
}

/// A line of the document, split into its indentation and content, with sequence dashes
/// peeled off: `  - - name: x` has dashes at columns 2 and 4 and its key at column 6.
struct Line<'a> {
    /// Columns of the `- ` markers at the start of the content.
    dashes: Vec<usize>,
    /// Column where the content after the dashes starts.
    col: usize,
    content: &'a str,
}

fn parse_line(raw: &str) -> Option<Line<'_>> {
    let indent = raw.len() - raw.trim_start_matches(' ').len();
    let mut content = &raw[indent..];
    if content.trim().is_empty() || content.starts_with('#') {
        return None;
    }
    let mut col = indent;
    let mut dashes = Vec::new();
    while content == "-" || content.starts_with("- ") {
        dashes.push(col);
        let after = content[1..].trim_start_matches(' ');
        col += content.len() - after.len();
        content = after;
    }
    Some(Line {
        dashes,
        col,
        content,
    })
}

fn key_of(content: &str) -> Option<&str> {
    let end = content.find(':')?;
    let key = content[..end]
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    let after = &content[end + 1..];
    (after.is_empty() || after.starts_with(' ')).then_some(key)
}

/// The 1-based line (within `text`) of the field at `path`.
pub(super) fn field_line(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<Option<Line>> = text.lines().map(parse_line).collect();
    // Where the walk stands: the line of the last step, the column its children must be
    // deeper than, and whether children may start on that same line (after a `- `).
    let mut at: Option<usize> = None;
    let mut parent_col: isize = -1;
    let mut inline = false;
    for step in steps(path) {
        let first = match (at, inline) {
            (None, _) => 0,
            (Some(i), true) => i,
            (Some(i), false) => i + 1,
        };
        match step {
            Step::Key(key) => {
                let mut child_col = None;
                let mut hit = None;
                for (i, line) in lines.iter().enumerate().skip(first) {
                    let Some(line) = line else { continue };
                    let on_item_line = inline && Some(i) == at;
                    let col = if on_item_line {
                        line.col
                    } else {
                        line.dashes.first().copied().unwrap_or(line.col)
                    };
                    if col as isize <= parent_col {
                        break;
                    }
                    let child_col = *child_col.get_or_insert(col);
                    if col == child_col && key_of(line.content) == Some(key) {
                        hit = Some((i, col));
                        break;
                    }
                }
                let (i, col) = hit?;
                at = Some(i);
                parent_col = col as isize;
                inline = false;
                // A flow collection on the key's line cannot be followed further.
                let value = lines[i]
                    .as_ref()?
                    .content
                    .split_once(':')
                    .map(|(_, v)| v.trim());
                if value.is_some_and(|v| v.starts_with('{') || v.starts_with('[')) {
                    return Some(i + 1);
                }
            }
            Step::Index(n) => {
                let mut item_col = None;
                let mut count = 0usize;
                let mut hit = None;
                for (i, line) in lines.iter().enumerate().skip(first) {
                    let Some(line) = line else { continue };
                    let Some(&dash) = line.dashes.first() else {
                        if line.col as isize <= parent_col {
                            break;
                        }
                        continue;
                    };
                    // Items may sit at the key's own column (`key:` then `- item`).
                    if (dash as isize) < parent_col {
                        break;
                    }
                    let item_col = *item_col.get_or_insert(dash);
                    if dash < item_col {
                        break;
                    }
                    if dash != item_col {
                        continue;
                    }
                    if count == n {
                        hit = Some((i, dash));
                        break;
                    }
                    count += 1;
                }
                let (i, dash) = hit?;
                at = Some(i);
                parent_col = dash as isize;
                inline = true;
                let content = lines[i].as_ref()?.content;
                if content.starts_with('{') || content.starts_with('[') {
                    return Some(i + 1);
                }
            }
        }
    }
    at.map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
spec:
  hostnames: [\"a.example.com\"]
  parentRefs:
  - name: public
    namespace: platform
  rules:
    - matches:
        - path: {type: PathPrefix, value: /api}
      backendRefs:
        - name: api
          port: 8080
        - name: canary
          port: 8080
    # a comment
    - backendRefs:
      - {name: web, port: 80}
";

    #[test]
    fn follows_block_paths() {
        assert_eq!(field_line(DOC, "metadata.name"), Some(4));
        assert_eq!(field_line(DOC, "spec.hostnames[0]"), Some(6));
        assert_eq!(field_line(DOC, "spec.parentRefs[0]"), Some(8));
        assert_eq!(field_line(DOC, "spec.parentRefs[0].namespace"), Some(9));
        assert_eq!(field_line(DOC, "spec.rules[0].matches[0].path"), Some(12));
        assert_eq!(
            field_line(DOC, "spec.rules[0].backendRefs[1].name"),
            Some(16)
        );
        assert_eq!(
            field_line(DOC, "spec.rules[0].backendRefs[1].port"),
            Some(17)
        );
        assert_eq!(field_line(DOC, "spec.rules[1]"), Some(19));
        assert_eq!(field_line(DOC, "spec.rules[1].backendRefs[0]"), Some(20));
        assert_eq!(
            field_line(DOC, "spec.rules[1].backendRefs[0].port"),
            Some(20)
        );
    }

    #[test]
    fn unknown_paths_give_none() {
        assert_eq!(field_line(DOC, "spec.nothing"), None);
        assert_eq!(field_line(DOC, "spec.rules[5]"), None);
    }

    #[test]
    fn keys_of_siblings_are_not_confused() {
        let doc = "a:\n  name: x\nb:\n  name: y\n";
        assert_eq!(field_line(doc, "b.name"), Some(4));
        assert_eq!(field_line(doc, "a.name"), Some(2));
    }
}
