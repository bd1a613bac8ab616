//! IP allow-list: the sender's address must be in one of the configured networks.
//! Behind a load balancer the connecting peer is the balancer, so `X-Forwarded-For`
//! is honoured only when the peer is an explicitly trusted proxy, and then read from
//! the right, skipping further trusted proxies (the left part is client-controlled).

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_yaml::Value;

use super::context::Context;
use super::{AuthRequest, Reason, Rejection, SignRequest, Verifier};

/// `- ip_allow: { networks: [...], trusted_proxies: [...] }` as written in the file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IpAllowConfig {
    /// Allowed addresses or networks, e.g. `["18.230.43.17", "10.0.0.0/8", "::1"]`.
    pub networks: Vec<String>,
    /// Proxies (load balancers) whose `X-Forwarded-For` is believed. Empty (default):
    /// only the connecting address counts.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// A built allow-list.
#[derive(Debug)]
pub struct IpAllowVerifier {
    networks: Vec<IpNet>,
    trusted_proxies: Vec<IpNet>,
}

/// Builds `- ip_allow: { networks: [...], trusted_proxies: [...] }`.
pub(super) fn build(value: Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    let config: IpAllowConfig = cx.settings(value)?;
    if config.networks.is_empty() {
        cx.report(
            "networks",
            "expected at least one address or network, e.g. `[\"10.0.0.0/8\"]`",
        );
    }
    let before = cx.problems();
    let networks = parse_all(&config.networks, "networks", cx);
    let trusted_proxies = parse_all(&config.trusted_proxies, "trusted_proxies", cx);
    cx.done(
        before,
        IpAllowVerifier {
            networks,
            trusted_proxies,
        },
    )
}

fn parse_all(texts: &[String], field: &str, cx: &mut Context<'_>) -> Vec<IpNet> {
    texts
        .iter()
        .enumerate()
        .filter_map(|(index, text)| {
            let parsed = text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<IpAddr>().map(IpNet::from));
            match parsed {
                Ok(net) => Some(net),
                Err(_) => {
                    cx.report(
                        &format!("{field}[{index}]"),
                        format!(
                            "expected an IP address or CIDR network such as `10.0.0.0/8`, found `{text}`"
                        ),
                    );
                    None
                }
            }
        })
        .collect()
}

impl IpAllowVerifier {
    /// The address the request comes from, after trusted proxies.
    fn client(&self, request: &AuthRequest<'_>) -> Option<IpAddr> {
        let peer = canonical(request.peer?);
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let mut client = peer;
        let hops = request
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Ok(address) = hop.parse::<IpAddr>().map(canonical) else {
                // An unparsable hop ends what can be believed.
                break;
            };
            client = address;
            if !self.is_trusted(address) {
                break;
            }
        }
        Some(client)
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&address))
    }
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`, as a dual-stack listener reports) as IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

impl Verifier for IpAllowVerifier {
    fn scheme(&self) -> &'static str {
        "ip_allow"
    }

    fn verify(&self, request: &AuthRequest<'_>) -> Result<(), Rejection> {
        let client = self
            .client(request)
            .ok_or_else(|| Rejection::new(Reason::AddressNotAllowed, "sender address unknown"))?;
        if self.networks.iter().any(|net| net.contains(&client)) {
            Ok(())
        } else {
            Err(Rejection::new(
                Reason::AddressNotAllowed,
                format!("{client} is not in the allow-list"),
            ))
        }
    }

    fn sign(&self, _request: &mut SignRequest<'_>) -> Result<(), String> {
        // Nothing to add: the request must come from an allowed address.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PathParams;
    use http::{HeaderMap, HeaderValue, Method, Uri};

    fn verifier(networks: &[&str], proxies: &[&str]) -> IpAllowVerifier {
        IpAllowVerifier {
            networks: networks.iter().map(|n| n.parse().unwrap()).collect(),
            trusted_proxies: proxies.iter().map(|n| n.parse().unwrap()).collect(),
        }
    }

    fn check(verifier: &IpAllowVerifier, peer: &str, forwarded: Option<&str>) -> Result<(), Rejection> {
        let mut headers = HeaderMap::new();
        if let Some(chain) = forwarded {
            headers.insert("x-forwarded-for", HeaderValue::from_str(chain).unwrap());
        }
        let (uri, params) = (Uri::from_static("/"), PathParams::default());
        verifier.verify(&AuthRequest {
            method: &Method::POST,
            uri: &uri,
            headers: &headers,
            body: b"",
            params: &params,
            peer: Some(peer.parse().unwrap()),
            now: 0,
        })
    }

    #[test]
    fn peer_must_be_in_a_network() {
        let allow = verifier(&["18.230.43.17/32", "10.0.0.0/8"], &[]);
        assert!(check(&allow, "18.230.43.17", None).is_ok());
        assert!(check(&allow, "10.1.2.3", None).is_ok());
        assert!(
            check(&allow, "::ffff:10.1.2.3", None).is_ok(),
            "IPv4-mapped peers count as IPv4"
        );
        let rejected = check(&allow, "18.230.43.18", None).unwrap_err();
        assert_eq!(rejected.reason, Reason::AddressNotAllowed);
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let allow = verifier(&["18.230.43.17/32"], &[]);
        assert!(check(&allow, "203.0.113.9", Some("18.230.43.17")).is_err());
    }

    #[test]
    fn forwarded_for_is_read_from_the_right_past_trusted_proxies() {
        let allow = verifier(&["18.230.43.17/32"], &["10.0.0.0/8"]);
        assert!(check(&allow, "10.0.0.5", Some("18.230.43.17")).is_ok());
        assert!(check(&allow, "10.0.0.5", Some("18.230.43.17, 10.0.0.7")).is_ok());
        // A spoofed left-most entry does not help a sender outside the list.
        assert!(check(&allow, "10.0.0.5", Some("18.230.43.17, 203.0.113.9")).is_err());
    }
}
