//! The hosted service's one check of a mock's text: what the api runs on every save, the
//! generator on every publish and the mock server on every config it loads.
//!
//! [`CloudCheck`] is the spec's own rules in [`Mode::Cloud`] (no local files, templates
//! must compile, ...) within its [`Limits`], plus the service's rule on outbound calls:
//! every webhook and external-body URL written literally (not a template, which is known
//! only per request) must be a destination the [`DestinationPolicy`] allows, so a mock
//! aiming at a private or metadata address is refused when saved, not only when it fires.
//! The domain does no IO: the policy is the caller's (the egress guard).

use super::{Body, Endpoint, Format, ItemReport, Limits, Mode, Spec, read};
use crate::Diagnostic;

/// Judges the outbound destinations a spec names.
pub trait DestinationPolicy: std::fmt::Debug {
    /// `Err` with the reason when a request to `url` would be refused.
    ///
    /// # Errors
    /// When the destination is not allowed.
    fn check_destination(&self, url: &str) -> Result<(), String>;
}

/// A policy that allows every destination.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyDestination;

impl DestinationPolicy for AnyDestination {
    fn check_destination(&self, _url: &str) -> Result<(), String> {
        Ok(())
    }
}

/// The hosted service's rules for a mock's text (see the module docs).
#[derive(Clone, Copy)]
pub struct CloudCheck<'a> {
    /// How large and deep the text may be.
    pub limits: &'a Limits,
    /// Which outbound destinations are allowed.
    pub destinations: &'a dyn DestinationPolicy,
}

impl std::fmt::Debug for CloudCheck<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudCheck")
            .field("limits", self.limits)
            .finish_non_exhaustive()
    }
}

impl CloudCheck<'_> {
    /// Checks one mock's YAML text.
    ///
    /// # Errors
    /// Every finding, by position, when at least one is an error.
    pub fn check(&self, source: &str) -> Result<(Spec, Vec<Diagnostic>), Vec<Diagnostic>> {
        let (spec, warnings) =
            read::parse_text(source, Format::Yaml, self.limits).check(Mode::Cloud)?;
        let mut refused = self.refused_destinations(&spec);
        if refused.is_empty() {
            return Ok((spec, warnings));
        }
        refused.extend(warnings);
        Err(refused)
    }

    /// Checks a unified config (many mocks' items, each with its `host`) item by item,
    /// keeping the items that pass: one tenant's bad item must not take down the others.
    /// An item whose destination is refused is reported as an error on that item.
    ///
    /// # Errors
    /// Every finding when the text as a whole cannot be read (syntax, limits, not a list).
    pub fn check_by_item(&self, source: &str) -> Result<ItemReport, Vec<Diagnostic>> {
        let mut report =
            read::parse_text(source, Format::Yaml, self.limits).by_item(Mode::Cloud)?;
        let refused = self.refused_destinations(&report.spec);
        report.diagnostics.extend(refused);
        Ok(report)
    }

    /// An error for every literal destination of `spec` the policy refuses.
    fn refused_destinations(&self, spec: &Spec) -> Vec<Diagnostic> {
        let mut refused = Vec::new();
        for endpoint in &spec.endpoints {
            for (key, url) in destinations(endpoint) {
                if url.contains("{{") || url.contains("{%") {
                    continue; // known only per request; the guard checks it then
                }
                if let Err(reason) = self.destinations.check_destination(url) {
                    refused.push(
                        Diagnostic::error(
                            endpoint.line,
                            1,
                            format!("destination not allowed: {url}: {reason}"),
                        )
                        .in_item(endpoint.item, key.clone()),
                    );
                }
            }
        }
        refused
    }
}

/// The outbound URLs `endpoint` names, with the key that holds each.
fn destinations(endpoint: &Endpoint) -> Vec<(String, &str)> {
    let mut found = Vec::new();
    if let Some(webhook) = &endpoint.webhook {
        found.push(("endpoint.webhook.url".to_owned(), webhook.url.as_str()));
    }
    for (key, response) in endpoint.all_responses() {
        if let Body::External(external) = &response.body
            && external.path.contains("://")
        {
            found.push((format!("{key}.external-body.path"), external.path.as_str()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Refuses every URL with "internal" in it.
    #[derive(Debug)]
    struct NoInternal;

    impl DestinationPolicy for NoInternal {
        fn check_destination(&self, url: &str) -> Result<(), String> {
            if url.contains("internal") {
                return Err("a private address".to_owned());
            }
            Ok(())
        }
    }

    fn spec(webhook: &str) -> String {
        format!(
            "- endpoint:\n    path: /a\n    webhook:\n      url: {webhook}\n- endpoint:\n    host: b.test\n    path: /b\n"
        )
    }

    #[test]
    fn literal_destinations_are_judged_templates_are_not() {
        let limits = Limits::default();
        let cloud = CloudCheck {
            limits: &limits,
            destinations: &NoInternal,
        };
        assert!(cloud.check(&spec("http://public.example/hook")).is_ok());
        assert!(
            cloud
                .check(&spec("'http://{{query-params.to}}/hook'"))
                .is_ok()
        );
        let refused = cloud.check(&spec("http://internal.example/")).unwrap_err();
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!((refused[0].line, refused[0].item), (1, Some(0)));
        assert!(
            refused[0].message.contains("a private address"),
            "{refused:?}"
        );
        let everything = CloudCheck {
            limits: &limits,
            destinations: &AnyDestination,
        };
        assert!(everything.check(&spec("http://internal.example/")).is_ok());
    }

    #[test]
    fn cloud_rules_hold_item_by_item() {
        let limits = Limits::default();
        let cloud = CloudCheck {
            limits: &limits,
            destinations: &NoInternal,
        };
        let report = cloud
            .check_by_item(&spec("http://internal.example/"))
            .unwrap();
        let bad: Vec<_> = report
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.item)
            .collect();
        assert_eq!(bad, [Some(0)]);
        let local = "- endpoint:\n    path: /a\n    response:\n      external-body:\n        provider: json\n        path: ./data.json\n";
        assert!(cloud.check(local).is_err(), "no local files in the cloud");
    }
}
