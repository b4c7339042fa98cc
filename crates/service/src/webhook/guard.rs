//! The SSRF guard for the URLs an operator stores for a tenant (webhook target, OAuth2
//! token endpoint). Without it, whoever can set a target can make callscribe POST to the
//! cloud metadata service, to a database port on localhost or to the office network, and
//! read the answer back through the delivery log.
//!
//! Two checks, because either alone can be bypassed:
//! - when a URL is stored, a host written as an IP literal must be allowed (the admin API
//!   answers 400 naming the field);
//! - when connecting, every name is resolved by [`GuardedResolver`], which passes on only
//!   allowed addresses, and the client connects only to what it passed on. A name whose
//!   DNS answer changes after it was stored (DNS rebinding) is caught here. Literal hosts
//!   never reach a resolver, which is why the first check is repeated whenever a target
//!   is loaded ([`AddressPolicy::check_url`]).
//!
//! Webhook clients follow no redirects and ignore proxy variables (a proxy would resolve
//! the name itself, out of the guard's sight).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

pub use crate::cidr::Cidr;

/// Why an address or URL may not be called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("{ip} is {why}, which callscribe does not call unless webhook.allow_cidrs allows it")]
    Address { ip: IpAddr, why: &'static str },
    #[error(
        "{host} resolves only to addresses callscribe does not call ({refused}) unless webhook.allow_cidrs allows them"
    )]
    Resolved { host: String, refused: String },
    #[error("{host} has no address")]
    NoAddress { host: String },
}

/// Which addresses outbound calls may reach: every public unicast address, plus the
/// configured networks; everything when `allow_all` (the guard off).
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allow_all: bool,
    allow: Arc<[Cidr]>,
}

impl AddressPolicy {
    pub fn new(allow_all: bool, allow: &[Cidr]) -> AddressPolicy {
        AddressPolicy {
            allow_all,
            allow: allow.into(),
        }
    }

    /// The policy of `[webhook]`.
    pub fn from_config(config: &crate::config::WebhookConfig) -> AddressPolicy {
        AddressPolicy::new(config.allow_private_addresses, &config.allow_cidrs)
    }

    /// `Ok` when `ip` may be called.
    pub fn check(&self, ip: IpAddr) -> Result<(), GuardError> {
        if self.allow_all || self.allow.iter().any(|c| c.contains(ip)) {
            return Ok(());
        }
        // An IPv6 form that carries an IPv4 address reaches that address: judge it (and
        // the allowed networks) as IPv4.
        if let IpAddr::V6(v6) = ip
            && let Some(v4) = embedded_ipv4(v6)
        {
            return self.check(IpAddr::V4(v4)).map_err(|e| match e {
                GuardError::Address { why, .. } => GuardError::Address { ip, why },
                other => other,
            });
        }
        match forbidden_range(ip) {
            Some(why) => Err(GuardError::Address { ip, why }),
            None => Ok(()),
        }
    }

    /// Checks a URL whose host is an IP literal; a name passes here and is checked by
    /// [`GuardedResolver`] each time it is resolved.
    pub fn check_url(&self, url: &Url) -> Result<(), GuardError> {
        // The URL parser has already turned every IPv4 spelling (`2130706433`, `0x7f.1`)
        // into dotted decimal, and writes IPv6 literals in brackets.
        let host = url.host_str().unwrap_or_default();
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        match literal.parse::<IpAddr>() {
            Ok(ip) => self.check(ip),
            Err(_) => Ok(()),
        }
    }

    /// A resolver for reqwest that hands out only addresses this policy allows.
    pub fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver {
            policy: self.clone(),
        })
    }
}

/// The range a non-public address belongs to, as the refusal names it; `None` for a
/// public unicast address.
pub fn forbidden_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_broadcast() => "the broadcast address",
        (0, ..) => "an unspecified (this-network) address",
        (127, ..) => "a loopback address",
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => "a private (RFC 1918) address",
        (100, 64..=127, _) => "a shared (CGNAT, RFC 6598) address",
        (169, 254, _) => "a link-local address (cloud metadata lives there)",
        (192, 0, 0) => "an IETF protocol assignment (192.0.0.0/24)",
        (198, 18..=19, _) => "a benchmarking address (198.18.0.0/15)",
        (224..=239, ..) => "a multicast address",
        (240..=255, ..) => "a reserved address (240.0.0.0/4)",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(match s[0] {
        _ if ip.is_unspecified() => "the unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        0x0064 if s[1] == 0xff9b && s[2] == 0x0001 => "a local-use NAT64 address",
        0x0100 if s[1..4] == [0, 0, 0] => "a discard-only address",
        0xfc00..=0xfdff => "a unique local (private, fc00::/7) address",
        0xfe80..=0xfebf => "a link-local address",
        0xfec0..=0xfeff => "a site-local address",
        0xff00..=0xffff => "a multicast address",
        _ => return None,
    })
}

/// The IPv4 address inside an IPv6 form that reaches it: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::`).
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail),
        // `::` and `::1` are IPv6's own unspecified and loopback addresses.
        [0, 0, 0, 0, 0, 0, _, _] if !ip.is_unspecified() && !ip.is_loopback() => Some(tail),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// reqwest's resolver for webhook clients: the system resolver, then the policy on each
/// address. Only allowed addresses go back to the connector, so the client connects to
/// exactly what was checked; a name with none left fails the request with the reason.
pub struct GuardedResolver {
    policy: AddressPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = allowed_addresses(&policy, &host, resolved)?;
            Ok::<Addrs, Box<dyn std::error::Error + Send + Sync>>(Box::new(allowed.into_iter()))
        })
    }
}

/// The addresses of `host` the policy allows, or why there are none.
fn allowed_addresses(
    policy: &AddressPolicy,
    host: &str,
    resolved: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, GuardError> {
    if resolved.is_empty() {
        return Err(GuardError::NoAddress { host: host.into() });
    }
    let (allowed, refused): (Vec<_>, Vec<_>) = resolved
        .into_iter()
        .partition(|addr| policy.check(addr.ip()).is_ok());
    if allowed.is_empty() {
        let refused = refused
            .iter()
            .filter_map(|addr| policy.check(addr.ip()).err())
            .map(|e| match e {
                GuardError::Address { ip, why } => format!("{ip}: {why}"),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        return Err(GuardError::Resolved {
            host: host.into(),
            refused,
        });
    }
    Ok(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &AddressPolicy, ip: &str) -> bool {
        policy.check(ip.parse().unwrap()).is_err()
    }

    #[test]
    fn every_non_public_range_is_refused_by_default() {
        let policy = AddressPolicy::default();
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "192.0.0.170",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.1.2.3",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "100::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(refused(&policy, ip), "{ip} should be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        let policy = AddressPolicy::default();
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.169.0.1",
            "169.253.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!refused(&policy, ip), "{ip} should pass");
        }
    }

    #[test]
    fn allowed_networks_open_only_themselves_and_their_mapped_forms() {
        let allow: Vec<Cidr> = ["127.0.0.0/8", "fd00:1::/32"]
            .iter()
            .map(|c| c.parse().unwrap())
            .collect();
        let policy = AddressPolicy::new(false, &allow);
        assert!(!refused(&policy, "127.0.0.1"));
        assert!(!refused(&policy, "::ffff:127.0.0.1"));
        assert!(!refused(&policy, "fd00:1::5"));
        assert!(refused(&policy, "::1"));
        assert!(refused(&policy, "10.0.0.1"));
        assert!(refused(&policy, "169.254.169.254"));
        assert!(!refused(&AddressPolicy::new(true, &[]), "169.254.169.254"));
    }

    #[test]
    fn the_refusal_names_the_address_and_its_range() {
        let err = AddressPolicy::default()
            .check_url(&Url::parse("http://[::ffff:127.0.0.1]:8080/hook").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("::ffff:127.0.0.1 is a loopback address"),
            "{err}"
        );
        let err = AddressPolicy::default()
            .check_url(&Url::parse("http://169.254.169.254/latest/meta-data/").unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("link-local"), "{err}");
        // Decimal and hex spellings are IPv4 literals to the URL parser too.
        for url in ["http://2130706433/", "http://0x7f.1/"] {
            let parsed = Url::parse(url).unwrap();
            assert!(
                AddressPolicy::default().check_url(&parsed).is_err(),
                "{url}"
            );
        }
        let name = Url::parse("https://hooks.example.com/x").unwrap();
        assert_eq!(AddressPolicy::default().check_url(&name), Ok(()));
    }

    #[test]
    fn resolved_addresses_are_filtered_and_a_name_with_none_left_fails() {
        let addr = |s: &str| SocketAddr::new(s.parse().unwrap(), 0);
        let policy = AddressPolicy::default();
        let mixed = vec![addr("127.0.0.1"), addr("93.184.215.14")];
        assert_eq!(
            allowed_addresses(&policy, "rebind.example", mixed).unwrap(),
            vec![addr("93.184.215.14")]
        );
        let err = allowed_addresses(&policy, "localhost", vec![addr("127.0.0.1"), addr("::1")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("localhost resolves only to")
                && err.contains("127.0.0.1: a loopback address")
                && err.contains("::1: a loopback address"),
            "{err}"
        );
        assert!(allowed_addresses(&policy, "empty", vec![]).is_err());
    }
}
