//! Listeners, matched by (Gateway, port). A new one is created alone and its rules follow; an
//! existing one has its protocol, certificates, SSL policy and default action brought in line
//! and its rules diffed; a stale one is deleted after its rules, unless it holds rules gwsync
//! does not own (AWS would delete them with it): then it stays, with a note.

use super::matcher::{Pair, pairs};
use super::{Phase, Planner, change, json, listener_address};
use crate::alb::{Certificate, Listener};
use crate::plan::{
    ChangeAction, Difference, NewListenerCause, Note, Operation, Reason, Removed, Staleness,
};
use std::collections::BTreeSet;

impl Planner<'_> {
    pub(super) fn listeners(
        &mut self,
        gateway: &str,
        desired: &[Listener],
        observed: &[Listener],
        cause: NewListenerCause,
    ) {
        let paired = pairs(
            desired.iter().map(|l| (l.port, l)),
            observed.iter().map(|l| (l.port, l)),
        );
        for (port, pair) in paired {
            match pair {
                Pair::Create(desired) => self.create_listener(gateway, desired, cause),
                Pair::Update { desired, observed } => {
                    self.update_listener(gateway, desired, observed)
                }
                Pair::Delete(observed) => {
                    self.delete_listener(gateway, observed, &Staleness::PortUnused { port });
                }
            }
        }
    }

    fn create_listener(&mut self, gateway: &str, desired: &Listener, cause: NewListenerCause) {
        let mut listener = desired.clone();
        listener.rules.clear();
        let after = json(&listener);
        self.push(
            Phase::Listeners,
            change(
                listener_address(gateway, desired.port),
                ChangeAction::Create,
                Operation::CreateListener {
                    gateway: gateway.to_string(),
                    listener,
                },
                (None, Some(after)),
                Reason::NewListener {
                    cause,
                    protocol: desired.protocol,
                    port: desired.port,
                    rules: desired.rules.len(),
                },
            ),
        );
        self.rules(gateway, desired.port, &desired.rules, &[]);
    }

    fn update_listener(&mut self, gateway: &str, desired: &Listener, observed: &Listener) {
        let differences = listener_differences(desired, observed);
        if !differences.is_empty() {
            let mut before = observed.clone();
            before.rules.clear();
            let mut after = desired.clone();
            after.rules.clear();
            let jsons = (Some(json(&before)), Some(json(&after)));
            self.push(
                Phase::Listeners,
                change(
                    listener_address(gateway, desired.port),
                    ChangeAction::Update,
                    Operation::ModifyListener {
                        gateway: gateway.to_string(),
                        listener: after,
                    },
                    jsons,
                    Reason::Differs { differences },
                ),
            );
        }
        self.rules(gateway, desired.port, &desired.rules, &observed.rules);
    }

    /// Deletes an owned listener and its rules (explicit deletes, counted by the deletion
    /// guard); returns false, leaving the listener with a note, when it holds rules gwsync
    /// does not own, which AWS would delete with it.
    pub(super) fn delete_listener(
        &mut self,
        gateway: &str,
        observed: &Listener,
        cause: &Staleness,
    ) -> bool {
        for rule in &observed.rules {
            let id = self.observed_rule_id(gateway, observed.port, rule);
            self.delete_rule(gateway, observed.port, &id, rule, cause);
        }
        let foreign = self
            .observed
            .foreign_priorities
            .get(&(gateway.to_string(), observed.port))
            .filter(|p| !p.is_empty());
        if let Some(priorities) = foreign {
            self.notes.push(Note::ListenerKept {
                gateway: gateway.to_string(),
                protocol: observed.protocol,
                port: observed.port,
                cause: cause.clone(),
                foreign_priorities: priorities.iter().copied().collect(),
            });
            return false;
        }
        let mut listener = observed.clone();
        listener.rules.clear();
        self.push(
            Phase::StaleListeners,
            change(
                listener_address(gateway, observed.port),
                ChangeAction::Delete,
                Operation::DeleteListener {
                    gateway: gateway.to_string(),
                    port: observed.port,
                },
                (Some(json(&listener)), None),
                Reason::Stale {
                    cause: cause.clone(),
                    removed: Removed::Listener {
                        protocol: observed.protocol,
                        port: observed.port,
                    },
                },
            ),
        );
        true
    }
}

/// The listener settings that differ (its rules are diffed apart).
fn listener_differences(desired: &Listener, observed: &Listener) -> Vec<Difference> {
    let mut differences = Vec::new();
    if desired.protocol != observed.protocol {
        differences.push(Difference::Protocol {
            before: observed.protocol,
            after: desired.protocol,
        });
    }
    if !same_certificates(&desired.certificates, &observed.certificates) {
        differences.push(Difference::Certificates {
            before: observed.certificates.clone(),
            after: desired.certificates.clone(),
        });
    }
    // No policy configured: AWS's default stays, whatever it is today.
    if desired.ssl_policy.is_some() && desired.ssl_policy != observed.ssl_policy {
        differences.push(Difference::SslPolicy {
            before: observed.ssl_policy.clone(),
            after: desired.ssl_policy.clone(),
        });
    }
    if desired.default_action != observed.default_action {
        differences.push(Difference::DefaultAction {
            before: Box::new(observed.default_action.clone()),
            after: Box::new(desired.default_action.clone()),
        });
    }
    differences
}

/// The first certificate is the listener's default; the others are a set.
fn same_certificates(desired: &[Certificate], observed: &[Certificate]) -> bool {
    desired.first() == observed.first()
        && desired.iter().skip(1).collect::<BTreeSet<_>>()
            == observed.iter().skip(1).collect::<BTreeSet<_>>()
}
