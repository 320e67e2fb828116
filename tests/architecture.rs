//! The pipeline's shape, checked from the source: every `crate::` reference between the
//! top-level modules points down the pipeline (the order below, which docs/ARCHITECTURE.md
//! shows), and no two files of one module import each other, directly or round a cycle.
//! The dependency list in docs/ARCHITECTURE.md must be the one the code has.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The top-level modules from the top of the pipeline (who calls) to the bottom (what is
/// called). A module may depend only on modules after it.
const LAYERS: &[&str] = &[
    "cli",
    "doctor",
    "daemon",
    "check",
    "reconcile",
    "status",
    "validate",
    "aws",
    "plan",
    "translate",
    "tenancy",
    "manifest",
    "store",
    "source",
    "config",
    "diagnostic",
    "exit",
    "alb",
    "hostname",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The file's code without comments (line comments and doc comments; gwsync has no block
/// comments).
fn code(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module a file belongs to (`src/plan/diff.rs` → `plan`).
fn top_module(path: &Path) -> String {
    let relative = path.strip_prefix(src()).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_string()
}

/// The names that follow `prefix` as a path's first segment: `crate::plan::x` gives `plan`
/// for the prefix `crate::`; `use crate::{a::x, b}` gives `a` and `b`.
fn first_segments(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group);
            for item in split_top_level(&group[..end]) {
                out.insert(identifier(item.trim()));
            }
        } else {
            out.insert(identifier(rest));
        }
    }
    out.retain(|s| !s.is_empty() && s != "self");
    out
}

fn identifier(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

fn split_top_level(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// module -> the top-level modules it references.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<&str> = LAYERS.iter().copied().collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src()) {
        let module = top_module(&file);
        if module == "lib" || module == "main" {
            continue;
        }
        let deps = graph.entry(module.clone()).or_default();
        for dep in first_segments(&code(&file), "crate::") {
            if dep != module && modules.contains(dep.as_str()) {
                deps.insert(dep);
            }
        }
    }
    graph
}

#[test]
fn every_module_is_in_the_layer_list() {
    let graph = module_graph();
    let known: BTreeSet<&str> = LAYERS.iter().copied().collect();
    let found: BTreeSet<&str> = graph.keys().map(String::as_str).collect();
    assert_eq!(
        found, known,
        "src/ and LAYERS disagree: add the module to LAYERS"
    );
}

#[test]
fn every_arrow_points_down_the_pipeline() {
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m).unwrap();
    let upward: Vec<String> = module_graph()
        .iter()
        .flat_map(|(from, deps)| deps.iter().map(move |to| (from, to)))
        .filter(|(from, to)| rank(to) <= rank(from))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(
        upward.is_empty(),
        "arrows pointing up the pipeline: {upward:?}"
    );
}

/// Within one top-level module, the graph of its files (`super::x`, `crate::m::x`) has no
/// cycle. A module's `mod.rs` (its facade) and test files are left out: the facade re-exports
/// its children, and tests may use anything.
#[test]
fn no_two_files_of_a_module_import_each_other() {
    let mut cycles = Vec::new();
    for entry in fs::read_dir(src()).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let module = dir.file_name().unwrap().to_string_lossy().to_string();
        let siblings: BTreeSet<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().to_string())
            .filter(|s| s != "mod" && s != "tests")
            .collect();
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for sibling in &siblings {
            let text = code(&dir.join(format!("{sibling}.rs")));
            // Only the file's own code: its `mod tests` (always last) may use anything.
            let text = text.split("#[cfg(test)]").next().unwrap();
            let mut deps = first_segments(text, "super::");
            deps.extend(first_segments(text, &format!("crate::{module}::")));
            deps.retain(|d| d != sibling && siblings.contains(d));
            graph.insert(sibling.clone(), deps);
        }
        for start in graph.keys() {
            if let Some(cycle) = cycle_from(&graph, start) {
                cycles.push(format!("{module}: {}", cycle.join(" -> ")));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "files that import each other: {cycles:?}"
    );
}

/// A path from `start` back to itself, if there is one.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![start.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().unwrap();
        for next in graph.get(last).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push(longer);
            }
        }
    }
    None
}

/// docs/ARCHITECTURE.md lists each module's dependencies between the markers
/// `<!-- dependencies -->` and `<!-- /dependencies -->`, one `- module → a, b` line each.
#[test]
fn the_documented_dependencies_are_the_real_ones() {
    let doc =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ARCHITECTURE.md"))
            .unwrap();
    let start = doc.find("<!-- dependencies -->").expect("start marker");
    let end = doc.find("<!-- /dependencies -->").expect("end marker");
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in doc[start..end].lines().filter(|l| l.starts_with("- `")) {
        let (module, deps) = line[2..].split_once('→').expect("module → deps");
        let deps = deps
            .split(',')
            .map(|d| d.trim().trim_matches('`').to_string())
            .filter(|d| !d.is_empty() && d != "(nothing)")
            .collect();
        documented.insert(module.trim().trim_matches('`').to_string(), deps);
    }
    let real = module_graph();
    let mut expected = String::new();
    for module in LAYERS {
        let deps: Vec<String> = real[*module].iter().map(|d| format!("`{d}`")).collect();
        let deps = if deps.is_empty() {
            "(nothing)".to_string()
        } else {
            deps.join(", ")
        };
        expected.push_str(&format!("- `{module}` → {deps}\n"));
    }
    assert_eq!(
        documented, real,
        "docs/ARCHITECTURE.md should list:\n{expected}"
    );
}
