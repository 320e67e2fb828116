//! Listeners: create and modify (the default certificate with the listener call, the others
//! with the listener-certificate calls), delete.

use super::adopt::{gone, in_the_way};
use super::{Applier, ApplyError, Outcome};
use crate::alb::{Listener, Protocol, identity};
use crate::aws::requests::{self, ActionsFor, RequestError};
use std::collections::{BTreeMap, BTreeSet};

impl Applier<'_> {
    pub(super) async fn create_listener(
        &mut self,
        gateway: &str,
        listener: &Listener,
    ) -> Result<Outcome, ApplyError> {
        let key = (gateway.to_owned(), listener.port);
        if self.ids.listeners.contains_key(&key) {
            return Ok(Outcome::AlreadyExists);
        }
        let lb_arn = self.load_balancer_arn(gateway)?;
        let default_action = requests::actions(
            std::slice::from_ref(&listener.default_action),
            gateway,
            self.ids,
            ActionsFor::New,
        )?;
        let resource_id = identity::listener_id(gateway, listener.port);
        let tags = requests::create_tags(self.instance_id, &resource_id, None, &BTreeMap::new())?;
        let certificates = listener_certificates(listener)?;
        let mut call = self
            .clients
            .elb
            .create_listener()
            .load_balancer_arn(&lb_arn)
            .protocol(requests::protocol(listener.protocol))
            .port(i32::from(listener.port))
            .set_default_actions(Some(default_action))
            .set_tags(Some(tags));
        if let Some((default, _)) = certificates.split_first() {
            call = call
                .certificates(requests::certificate(default))
                .set_ssl_policy(listener.ssl_policy.clone());
        }
        let arn = match self.write("CreateListener", call.send()).await {
            Ok(out) => out
                .listeners()
                .first()
                .and_then(|l| l.listener_arn())
                .ok_or_else(|| ApplyError::Other("CreateListener returned no ARN".into()))?
                .to_owned(),
            Err(e) if in_the_way(&e) => self
                .own_listener_on(&lb_arn, listener.port, &resource_id)
                .await?
                .ok_or(e)?,
            Err(e) => return Err(e),
        };
        self.ids.listeners.insert(key, arn.clone());
        if certificates.len() > 1 {
            self.add_listener_certificates(&arn, &certificates[1..])
                .await?;
        }
        Ok(Outcome::Done)
    }

    pub(super) async fn modify_listener(
        &mut self,
        gateway: &str,
        listener: &Listener,
    ) -> Result<Outcome, ApplyError> {
        let arn = self
            .ids
            .listeners
            .get(&(gateway.to_owned(), listener.port))
            .cloned()
            .ok_or_else(|| ApplyError::Unknown(format!("listener {gateway}:{}", listener.port)))?;
        let default_action = requests::actions(
            std::slice::from_ref(&listener.default_action),
            gateway,
            self.ids,
            ActionsFor::Existing,
        )?;
        let certificates = listener_certificates(listener)?;
        let mut call = self
            .clients
            .elb
            .modify_listener()
            .listener_arn(&arn)
            .protocol(requests::protocol(listener.protocol))
            .port(i32::from(listener.port))
            .set_default_actions(Some(default_action));
        if let Some((default, _)) = certificates.split_first() {
            call = call
                .certificates(requests::certificate(default))
                .set_ssl_policy(listener.ssl_policy.clone());
        }
        self.write("ModifyListener", call.send()).await?;

        let Some((default, extra)) = certificates.split_first() else {
            return Ok(Outcome::Done);
        };
        let have = self.extra_listener_certificates(&arn, default).await?;
        let want: BTreeSet<&String> = extra.iter().collect();
        let add: Vec<String> = extra
            .iter()
            .filter(|c| !have.contains(*c))
            .cloned()
            .collect();
        let remove: Vec<String> = have.iter().filter(|c| !want.contains(c)).cloned().collect();
        if !add.is_empty() {
            self.add_listener_certificates(&arn, &add).await?;
        }
        if !remove.is_empty() {
            let call = self
                .clients
                .elb
                .remove_listener_certificates()
                .listener_arn(&arn)
                .set_certificates(Some(
                    remove.iter().map(|c| requests::certificate(c)).collect(),
                ));
            self.write("RemoveListenerCertificates", call.send())
                .await?;
        }
        Ok(Outcome::Done)
    }

    /// AWS deletes the listener's rules with it.
    pub(super) async fn delete_listener(
        &mut self,
        gateway: &str,
        port: u16,
    ) -> Result<Outcome, ApplyError> {
        let key = (gateway.to_owned(), port);
        let arn = self
            .ids
            .listeners
            .get(&key)
            .cloned()
            .ok_or_else(|| ApplyError::Unknown(format!("listener {gateway}:{port}")))?;
        let call = self.clients.elb.delete_listener().listener_arn(arn);
        if let Err(e) = self.write("DeleteListener", call.send()).await
            && !gone(&e)
        {
            return Err(e);
        }
        self.ids.listeners.remove(&key);
        self.forget_rules(&super::rule_id_prefix(gateway, Some(port)));
        Ok(Outcome::Done)
    }

    async fn add_listener_certificates(
        &self,
        arn: &str,
        certificates: &[String],
    ) -> Result<(), ApplyError> {
        let call = self
            .clients
            .elb
            .add_listener_certificates()
            .listener_arn(arn)
            .set_certificates(Some(
                certificates
                    .iter()
                    .map(|c| requests::certificate(c))
                    .collect(),
            ));
        self.write("AddListenerCertificates", call.send())
            .await
            .map(|_| ())
    }

    /// The listener's certificates other than its default one.
    async fn extra_listener_certificates(
        &self,
        arn: &str,
        default: &str,
    ) -> Result<BTreeSet<String>, ApplyError> {
        let mut out = BTreeSet::new();
        let mut marker = None;
        loop {
            let call = self
                .clients
                .elb
                .describe_listener_certificates()
                .listener_arn(arn)
                .set_marker(marker.take());
            let page = self
                .read("DescribeListenerCertificates", || call.clone().send())
                .await?;
            for c in page.certificates() {
                if let Some(cert) = c.certificate_arn()
                    && c.is_default() != Some(true)
                    && cert != default
                {
                    out.insert(cert.to_owned());
                }
            }
            match page.next_marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
                _ => return Ok(out),
            }
        }
    }
}

/// The certificate ARNs an HTTPS listener is created or modified with (none for HTTP).
fn listener_certificates(listener: &Listener) -> Result<Vec<String>, ApplyError> {
    match listener.protocol {
        Protocol::Http => Ok(Vec::new()),
        Protocol::Https => {
            let arns = requests::certificate_arns(&listener.certificates)?;
            if arns.is_empty() {
                return Err(RequestError::NoCertificate.into());
            }
            Ok(arns)
        }
    }
}
