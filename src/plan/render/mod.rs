//! Render: a [`Plan`] as text for a terminal, Markdown for a pull-request comment, or JSON to
//! save and apply later. All three come from the same structure; none computes anything the
//! plan does not hold.
//!
//! Values in text are escaped (`diagnostic::printable`), in Markdown HTML- and
//! Markdown-escaped: a value read from input or from AWS can never forge a line or markup.
//!
//! Text reads like Terraform's: one line per change (`+` create, `~` update, `→` move,
//! `-` delete) with its address, AWS call and reason, then a summary and the notes. Markdown
//! has the summary as heading, a table of changes, each change's before/after JSON as a
//! collapsed diff, and the notes as a warning. An empty plan says "No changes.".

pub mod words;

use super::{Change, ChangeAction, Operation, Plan};
use crate::diagnostic::printable;
use serde_json::Value;
use std::fmt::Write;

/// GitHub refuses comments over 65536 characters: details stop before that.
pub const MARKDOWN_BUDGET: usize = 60_000;

/// The AWS call a change makes (the `call` field of its JSON).
pub fn call(operation: &Operation) -> &'static str {
    match operation {
        Operation::CreateTargetGroup { .. } => "CreateTargetGroup",
        Operation::ModifyTargetGroup { .. } => "ModifyTargetGroup",
        Operation::ModifyTargetGroupAttributes { .. } => "ModifyTargetGroupAttributes",
        Operation::RegisterTargets { .. } => "RegisterTargets",
        Operation::DeregisterTargets { .. } => "DeregisterTargets",
        Operation::CreateLoadBalancer { .. } => "CreateLoadBalancer",
        Operation::SetSecurityGroups { .. } => "SetSecurityGroups",
        Operation::SetSubnets { .. } => "SetSubnets",
        Operation::ModifyLoadBalancerAttributes { .. } => "ModifyLoadBalancerAttributes",
        Operation::SetTags { .. } => "SetTags",
        Operation::CreateListener { .. } => "CreateListener",
        Operation::ModifyListener { .. } => "ModifyListener",
        Operation::CreateRule { .. } => "CreateRule",
        Operation::ModifyRule { .. } => "ModifyRule",
        Operation::SetRulePriorities { .. } => "SetRulePriorities",
        Operation::DeleteRule { .. } => "DeleteRule",
        Operation::DeleteListener { .. } => "DeleteListener",
        Operation::DeleteLoadBalancer { .. } => "DeleteLoadBalancer",
        Operation::DeleteTargetGroup { .. } => "DeleteTargetGroup",
    }
}

/// The plan's summary: "N to create, N to update, N to move, N to delete".
pub fn summary(plan: &Plan) -> String {
    let count = |action: ChangeAction| plan.changes.iter().filter(|c| c.action == action).count();
    format!(
        "{} to create, {} to update, {} to move, {} to delete",
        count(ChangeAction::Create),
        count(ChangeAction::Update),
        count(ChangeAction::Move),
        count(ChangeAction::Delete)
    )
}

/// `+` create, `~` update, `→` move, `-` delete.
pub fn symbol(action: ChangeAction) -> &'static str {
    match action {
        ChangeAction::Create => "+",
        ChangeAction::Update => "~",
        ChangeAction::Move => "→",
        ChangeAction::Delete => "-",
    }
}

/// The plan for a terminal.
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.changes.is_empty() {
        out.push_str("No changes.\n");
    } else {
        for c in &plan.changes {
            let _ = writeln!(
                out,
                "{} {} ({}): {}",
                symbol(c.action),
                printable(&c.address),
                call(&c.operation),
                printable(&c.reason.to_string())
            );
        }
        let _ = writeln!(out, "\nPlan: {}.", summary(plan));
    }
    if !plan.notes.is_empty() {
        out.push_str("\nNot applied, needs an operator:\n");
        for note in &plan.notes {
            let _ = writeln!(out, "  ! {}", printable(&note.to_string()));
        }
    }
    out
}

/// The plan as JSON, to save and apply later.
pub fn json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).expect("a plan serialises")
}

/// The plan for a pull-request comment.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.changes.is_empty() {
        out.push_str("### gwsync plan: no changes\n\n");
    } else {
        let _ = writeln!(out, "### gwsync plan: {}\n", summary(plan));
    }
    let mut origin = Vec::new();
    if let Some(commit) = &plan.commit {
        origin.push(format!("commit `{commit}`"));
    }
    if !plan.observed_fingerprint.is_empty() {
        origin.push(format!("observed state `{}`", plan.observed_fingerprint));
    }
    if !origin.is_empty() {
        let _ = writeln!(out, "Computed from {}.\n", origin.join(", against "));
    }
    if !plan.notes.is_empty() {
        out.push_str("> [!WARNING]\n> Not applied, needs an operator:\n");
        for note in &plan.notes {
            let _ = writeln!(out, "> - {}", inline(&note.to_string()));
        }
        out.push('\n');
    }
    if plan.changes.is_empty() {
        out.push_str("No changes.\n");
        return out;
    }

    out.push_str(&change_table(plan.changes.iter()));

    let mut details = String::new();
    let mut left_out = 0;
    for c in plan
        .changes
        .iter()
        .filter(|c| c.before.is_some() || c.after.is_some())
    {
        let lines = json_diff(c.before.as_ref(), c.after.as_ref());
        let fence = fence_for(&lines);
        let block = format!(
            "<details><summary>{} {} <code>{}</code></summary>\n\n{fence}diff\n{lines}{fence}\n\n</details>\n",
            symbol(c.action),
            html(&c.address),
            call(&c.operation)
        );
        if out.len() + details.len() + block.len() > MARKDOWN_BUDGET {
            left_out += 1;
            continue;
        }
        details.push_str(&block);
    }
    if !details.is_empty() || left_out > 0 {
        out.push_str("\n#### Details\n\n");
        out.push_str(&details);
        if left_out > 0 {
            let _ = writeln!(
                out,
                "\n{left_out} more change(s) left out for length: see the JSON plan."
            );
        }
    }
    out
}

/// A Markdown table of changes: action, address, AWS call, reason.
pub fn change_table<'a>(changes: impl Iterator<Item = &'a Change>) -> String {
    let mut out = String::from("| | Address | Call | Reason |\n|:-:|---|---|---|\n");
    for c in changes {
        let _ = writeln!(
            out,
            "| {} | {} | `{}` | {} |",
            symbol(c.action),
            code(&c.address),
            call(&c.operation),
            inline(&c.reason.to_string())
        );
    }
    out
}

/// A line diff of two JSON values, pretty-printed: unchanged lines with two spaces, removed
/// with `-`, added with `+`.
fn json_diff(before: Option<&Value>, after: Option<&Value>) -> String {
    let lines = |v: Option<&Value>| -> Vec<String> {
        v.map(|v| {
            serde_json::to_string_pretty(v)
                .expect("JSON serialises")
                .lines()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
    };
    let (a, b) = (lines(before), lines(after));
    // Longest common subsequence of lines; both sides are one resource, small.
    let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(out, "  {}", a[i]);
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || common[i + 1][j] >= common[i][j + 1]) {
            let _ = writeln!(out, "- {}", a[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "+ {}", b[j]);
            j += 1;
        }
    }
    out
}

/// A code fence longer than any run of backticks in the content.
pub fn fence_for(content: &str) -> String {
    let longest = content.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// Text from the plan (values from team input among it) as inline Markdown that renders as
/// exactly that text: one line; HTML escaped, so that no `<details>` or `<img>` from a path
/// value reaches a pull-request comment; Markdown punctuation escaped, so that no link,
/// image or emphasis can be made from a value.
pub fn inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in one_line(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '!' | '~' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// An inline code span for a table cell: HTML and Markdown are not read inside one, so only
/// pipes (which end the cell) and backticks (which end the span) are replaced.
pub fn code(s: &str) -> String {
    format!("`{}`", one_line(s).replace('|', "\\|").replace('`', "'"))
}

/// Text for HTML (a `<summary>`): `&`, `<` and `>` escaped.
pub fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::diff::tests::{abc, converge, rule, web};
    use crate::plan::{
        Change, LoadBalancerSetting, Note, Observed, PLAN_VERSION, Reason, Removed, Staleness,
    };
    use serde_json::json;

    fn empty() -> Plan {
        Plan {
            version: PLAN_VERSION,
            commit: Some("abc123".to_string()),
            observed_fingerprint: "fp".to_string(),
            changes: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A plan with every kind of change: a new rule, a weight change, a reorder and a
    /// deleted rule (with its target group), plus a note.
    fn mixed() -> Plan {
        let deployed = converge(&web(abc()), &Observed::default()).1;
        let mut rules = abc();
        rules[0].actions = vec![crate::plan::diff::tests::forward(&[
            ("team/a:8080", 90),
            ("team/c:8080", 10),
        ])];
        rules.remove(1);
        rules.rotate_left(1); // c, a
        rules.push(rule("x", "x.example.com", "/x", &[("team/a:8080", 1)]));
        let mut desired = web(rules);
        desired.load_balancers[0].name = "renamed".to_string();
        let (plan, _) = converge(&desired, &deployed);
        plan
    }

    #[test]
    fn an_empty_plan_says_so_everywhere() {
        let plan = empty();
        assert_eq!(text(&plan), "No changes.\n");
        let md = markdown(&plan);
        assert!(md.contains("No changes."), "{md}");
        assert!(!md.contains('|'));
        let back: Plan = serde_json::from_str(&json(&plan)).unwrap();
        assert_eq!(back, plan);
    }

    #[test]
    fn text_lists_one_line_per_change_then_the_summary_and_notes() {
        let plan = mixed();
        let out = text(&plan);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines
                .iter()
                .take(plan.changes.len())
                .map(|l| l.split(' ').next().unwrap())
                .collect::<Vec<_>>(),
            vec!["+", "~", "→", "-", "-"],
            "{out}"
        );
        assert!(lines[0].starts_with("+ platform/public/listener/443/rule/"));
        assert!(lines[0].contains("(CreateRule): HTTPRoute team/x rules[0].matches[0] asks for"));
        assert!(lines[1].contains(
            "(ModifyRule): actions: forward to team/a:8080 → forward to team/a:8080 (weight 90)"
        ));
        assert!(
            lines[2].starts_with("→ platform/public/listener/443/priorities (SetRulePriorities): ")
        );
        assert!(out.contains("\nPlan: 1 to create, 1 to update, 1 to move, 2 to delete.\n"));
        assert!(out.contains(
            "Not applied, needs an operator:\n  ! platform/public: the load balancer is named"
        ));
    }

    #[test]
    fn notes_show_without_changes() {
        let mut plan = empty();
        plan.notes.push(Note::LoadBalancerSetting {
            gateway: "platform/public".to_string(),
            setting: LoadBalancerSetting::Scheme,
            on_aws: "internal".to_string(),
            desired: "internet-facing".to_string(),
        });
        let out = text(&plan);
        assert!(out.starts_with("No changes.\n"));
        assert!(out.contains("! platform/public: the load balancer is internal on AWS"));
        let md = markdown(&plan);
        assert!(md.contains("> [!WARNING]"));
        assert!(md.contains("> - platform/public: the load balancer is internal on AWS"));
        assert!(md.contains("No changes."));
    }

    #[test]
    fn markdown_has_a_heading_a_table_and_collapsed_diffs() {
        let plan = mixed();
        let md = markdown(&plan);
        assert!(
            md.starts_with("### gwsync plan: 1 to create, 1 to update, 1 to move, 2 to delete\n")
        );
        assert!(md.contains("Computed from commit `c0ffee`, against observed state `applied`."));
        assert!(md.contains("| | Address | Call | Reason |"));
        assert_eq!(md.matches("\n| ").count(), plan.changes.len() + 1);
        assert!(md.contains("| ~ | `platform/public/listener/443/rule/"));
        assert_eq!(md.matches("<details>").count(), plan.changes.len());
        assert!(md.contains("```diff\n"));
        // The weight change shows as changed lines only.
        assert!(md.contains("-           \"weight\": 1\n"), "{md}");
        assert!(md.contains("+           \"weight\": 90\n"));
        assert!(md.contains("> [!WARNING]"));
        assert!(md.contains("> - platform/public: the load balancer is named"));
    }

    /// A value read from AWS (a foreign rule, a name) cannot forge a line of text output.
    #[test]
    fn text_escapes_control_characters_in_values() {
        let mut plan = empty();
        plan.changes.push(Change {
            address: "lb\nteam orders: admitted".to_string(),
            action: ChangeAction::Delete,
            operation: Operation::DeleteLoadBalancer {
                gateway: "x".to_string(),
            },
            before: None,
            after: None,
            reason: Reason::Stale {
                cause: Staleness::GatewayRemoved {
                    gateway: "g\u{1b}[2J".to_string(),
                },
                removed: Removed::LoadBalancer {
                    name: "x".to_string(),
                },
            },
            owner: None,
        });
        let out = text(&plan);
        assert_eq!(
            out.lines().filter(|l| l.starts_with("- ")).count(),
            1,
            "{out}"
        );
        assert!(out.contains("lb\\nteam orders: admitted"), "{out}");
        assert!(!out.contains('\u{1b}'), "{out}");
    }

    /// A value from team input cannot open HTML, a link or an image in a PR comment.
    #[test]
    fn markdown_escapes_html_and_markup_from_values() {
        let mut plan = empty();
        let hostile = "<details><img src=x> [click](http://e.example) **bold** `tick`";
        plan.changes.push(Change {
            address: hostile.to_string(),
            action: ChangeAction::Delete,
            operation: Operation::DeleteLoadBalancer {
                gateway: hostile.to_string(),
            },
            before: Some(json!({"name": hostile})),
            after: None,
            reason: Reason::Stale {
                cause: Staleness::GatewayRemoved {
                    gateway: hostile.to_string(),
                },
                removed: Removed::LoadBalancer {
                    name: "x".to_string(),
                },
            },
            owner: None,
        });
        let md = markdown(&plan);
        let outside_code: String = md
            .split("```")
            .step_by(2)
            .flat_map(|part| part.split('`').step_by(2))
            .collect();
        assert!(!outside_code.contains("<details><img"), "{md}");
        assert!(!outside_code.contains("<img"), "{md}");
        assert!(
            md.contains(
                "&lt;details&gt;&lt;img src=x&gt; \\[click\\]\\(http://e.example\\) \\*\\*bold"
            ),
            "{md}"
        );
        assert!(md.contains("<summary>- &lt;details&gt;"), "{md}");
    }

    #[test]
    fn markdown_cells_are_escaped() {
        let mut plan = empty();
        plan.changes.push(Change {
            address: "a|b".to_string(),
            action: ChangeAction::Delete,
            operation: Operation::DeleteLoadBalancer {
                gateway: "a|b".to_string(),
            },
            before: Some(json!({"body": "```"})),
            after: None,
            reason: Reason::Stale {
                cause: Staleness::GatewayRemoved {
                    gateway: "a|b".to_string(),
                },
                removed: Removed::LoadBalancer {
                    name: "line one\nline | two".to_string(),
                },
            },
            owner: None,
        });
        let md = markdown(&plan);
        assert!(md.contains(
            "| - | `a\\|b` | `DeleteLoadBalancer` | Gateway a\\|b is no longer desired: load balancer line one line \\| two |"
        ), "{md}");
        assert!(md.contains("````diff\n"), "{md}");
    }

    #[test]
    fn long_plans_stay_under_the_comment_limit() {
        let mut plan = empty();
        let big = json!({"value": "x".repeat(5_000)});
        for i in 0..40 {
            plan.changes.push(Change {
                address: format!("gw/{i}"),
                action: ChangeAction::Delete,
                operation: Operation::DeleteLoadBalancer {
                    gateway: format!("gw/{i}"),
                },
                before: Some(big.clone()),
                after: None,
                reason: Reason::Stale {
                    cause: Staleness::GatewayRemoved {
                        gateway: format!("gw/{i}"),
                    },
                    removed: Removed::LoadBalancer {
                        name: format!("gw-{i}"),
                    },
                },
                owner: None,
            });
        }
        let md = markdown(&plan);
        assert!(md.len() < 65_536);
        assert!(md.contains("more change(s) left out for length"));
        assert_eq!(md.matches("\n| - |").count(), 40, "the table is whole");
    }

    #[test]
    fn json_round_trips() {
        let plan = mixed();
        let out = json(&plan);
        let back: Plan = serde_json::from_str(&out).unwrap();
        assert_eq!(back, plan);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["version"], PLAN_VERSION);
        assert_eq!(v["changes"][1]["operation"]["call"], "ModifyRule");
        let reason = &v["changes"][1]["reason"];
        assert_eq!(reason["why"], "rule-differs", "{reason}");
        assert_eq!(reason["differences"][0]["field"], "actions");
        assert_eq!(reason["source"]["route"], "team/a");
        assert_eq!(v["changes"][2]["action"], "move");
    }

    #[test]
    fn line_diff() {
        let d = json_diff(
            Some(&json!({"a": 1, "b": 2})),
            Some(&json!({"a": 1, "b": 3})),
        );
        assert_eq!(d, "  {\n    \"a\": 1,\n-   \"b\": 2\n+   \"b\": 3\n  }\n");
        assert_eq!(json_diff(None, Some(&json!(1))), "+ 1\n");
        assert_eq!(json_diff(Some(&json!(1)), None), "- 1\n");
    }
}
