//! Which URIs the `web-download` import method may fetch: Glance's
//! `[import_filtering_opts]` (`glance/common/utils.py` `validate_import_uri`)
//! plus a refusal of private and special addresses, so that an import cannot
//! be used to reach the operator's own network or a metadata service (SSRF).
//!
//! The rules, in the order [`UriFilter::check`] applies them:
//!
//! 1. the URI parses (WHATWG rules, as a browser would: `http://2130706433/`,
//!    `http://0x7f.1/` and `http://0177.0.0.1/` all mean `127.0.0.1`, so the
//!    checks below see the address that will actually be contacted);
//! 2. it carries no user name or password;
//! 3. the scheme is in the allow list (when that is non-empty) and not in the
//!    deny list;
//! 4. it has a host; a host matching `allowed_hosts` is accepted as is;
//!    otherwise it must not match `disallowed_hosts` and must not be a
//!    private or special address or an internal name (`localhost`,
//!    `*.localhost`, `*.local`, `*.internal`);
//! 5. the port (explicit, or the scheme's default) is in the allow list
//!    (when non-empty) and not in the deny list.
//!
//! **`allowed_hosts` exempts, it does not restrict.** In Glance a non-empty
//! `allowed_hosts` is the only list of hosts that may be used. Here it only
//! lifts the private-address and deny-list refusals for the hosts it names,
//! so an operator can allow a mirror at `10.0.0.5` without cutting off every
//! public host. Restricting imports to a few hosts is still possible with
//! `disallowed_hosts` and the scheme and port lists.
//!
//! The check judges the URI only: a public name that resolves to a private
//! address is not caught here (the worker's `fetch` cannot reach the
//! operator's private network anyway; this filter is the policy layer).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Allowed schemes (comma-separated; default `http,https`).
pub const IMPORT_ALLOWED_SCHEMES: &str = "IMPORT_ALLOWED_SCHEMES";
/// Refused schemes (comma-separated; default none).
pub const IMPORT_DISALLOWED_SCHEMES: &str = "IMPORT_DISALLOWED_SCHEMES";
/// Hosts exempted from the private-address and deny-list refusals: names,
/// IP literals or CIDRs (comma-separated; default none).
pub const IMPORT_ALLOWED_HOSTS: &str = "IMPORT_ALLOWED_HOSTS";
/// Refused hosts: names, IP literals or CIDRs (comma-separated; default none).
pub const IMPORT_DISALLOWED_HOSTS: &str = "IMPORT_DISALLOWED_HOSTS";
/// Allowed ports (comma-separated; default `80,443`).
pub const IMPORT_ALLOWED_PORTS: &str = "IMPORT_ALLOWED_PORTS";
/// Refused ports (comma-separated; default none).
pub const IMPORT_DISALLOWED_PORTS: &str = "IMPORT_DISALLOWED_PORTS";

/// The operator's filtering options, as configured (not yet validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriFilterConfig {
    /// Schemes a URI may use; empty = any scheme not disallowed.
    pub allowed_schemes: Vec<String>,
    /// Schemes a URI may not use.
    pub disallowed_schemes: Vec<String>,
    /// Hosts exempted from the private-address and deny-list refusals.
    pub allowed_hosts: Vec<String>,
    /// Hosts refused (names, IP literals or CIDRs).
    pub disallowed_hosts: Vec<String>,
    /// Ports a URI may use; empty = any port not disallowed.
    pub allowed_ports: Vec<u16>,
    /// Ports a URI may not use.
    pub disallowed_ports: Vec<u16>,
}

impl Default for UriFilterConfig {
    /// Glance's defaults: http(s) on ports 80 and 443, nothing else listed.
    fn default() -> Self {
        UriFilterConfig {
            allowed_schemes: vec!["http".into(), "https".into()],
            disallowed_schemes: Vec::new(),
            allowed_hosts: Vec::new(),
            disallowed_hosts: Vec::new(),
            allowed_ports: vec![80, 443],
            disallowed_ports: Vec::new(),
        }
    }
}

/// A filter option the operator got wrong (the worker should refuse to
/// start imports rather than guess what was meant).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {var}: '{value}' {problem}")]
pub struct FilterConfigError {
    /// The variable holding the bad entry.
    pub var: &'static str,
    /// The entry.
    pub value: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

fn split_list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty())
}

impl UriFilterConfig {
    /// Reads the `IMPORT_*` variables through `get`; an unset variable takes
    /// its default, a set but empty one means an empty list. A port that is
    /// not a number is an error: silently dropping a *disallowed* port would
    /// widen the filter.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<UriFilterConfig, FilterConfigError> {
        let defaults = UriFilterConfig::default();
        let strings = |var: &str, default: Vec<String>| match get(var) {
            Some(raw) => split_list(&raw).map(str::to_ascii_lowercase).collect(),
            None => default,
        };
        let ports = |var: &'static str, default: Vec<u16>| match get(var) {
            Some(raw) => split_list(&raw)
                .map(|p| {
                    p.parse::<u16>().map_err(|_| FilterConfigError {
                        var,
                        value: p.to_owned(),
                        problem: "is not a port number",
                    })
                })
                .collect(),
            None => Ok(default),
        };
        Ok(UriFilterConfig {
            allowed_schemes: strings(IMPORT_ALLOWED_SCHEMES, defaults.allowed_schemes),
            disallowed_schemes: strings(IMPORT_DISALLOWED_SCHEMES, defaults.disallowed_schemes),
            allowed_hosts: strings(IMPORT_ALLOWED_HOSTS, defaults.allowed_hosts),
            disallowed_hosts: strings(IMPORT_DISALLOWED_HOSTS, defaults.disallowed_hosts),
            allowed_ports: ports(IMPORT_ALLOWED_PORTS, defaults.allowed_ports)?,
            disallowed_ports: ports(IMPORT_DISALLOWED_PORTS, defaults.disallowed_ports)?,
        })
    }
}

/// A URI refused by the filter (a 400 to the client).
///
/// The wording "does not pass filtering" is what OpenStack's Tempest looks
/// for in the task message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("URI for web-download does not pass filtering: {uri} ({reason})")]
pub struct UriRefused {
    /// The URI (with any password masked).
    pub uri: String,
    /// Which rule refused it.
    pub reason: String,
}

/// One `allowed_hosts`/`disallowed_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// A DNS name, lower-case, without a trailing dot.
    Name(String),
    /// An address block (a single address is a /32 or /128).
    Net(IpAddr, u8),
}

impl HostPattern {
    fn parse(var: &'static str, raw: &str) -> Result<HostPattern, FilterConfigError> {
        let error = |problem| FilterConfigError { var, value: raw.to_owned(), problem };
        let (addr, prefix) = match raw.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (raw, None),
        };
        let unbracketed = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')).unwrap_or(addr);
        match unbracketed.parse::<IpAddr>() {
            Ok(ip) => {
                let max = if ip.is_ipv4() { 32 } else { 128 };
                let bits = match prefix {
                    Some(p) => p.parse::<u8>().ok().filter(|b| *b <= max).ok_or_else(|| error("has a bad prefix"))?,
                    None => max,
                };
                Ok(HostPattern::Net(ip, bits))
            }
            Err(_) if prefix.is_some() => Err(error("is not a CIDR")),
            Err(_) => {
                let name = addr.trim_end_matches('.').to_ascii_lowercase();
                if name.is_empty() || name.contains(['[', ']', ':', ' ']) {
                    Err(error("is not a host name, address or CIDR"))
                } else {
                    Ok(HostPattern::Name(name))
                }
            }
        }
    }

    fn matches(&self, host: &Target) -> bool {
        match (self, host) {
            (HostPattern::Name(name), Target::Name(host)) => name == host,
            (HostPattern::Net(net, bits), Target::Ip(ip)) => {
                // `[::ffff:10.0.0.5]` is the same peer as `10.0.0.5`: an
                // entry for one applies to the other.
                let mapped = match ip {
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
                    IpAddr::V4(_) => None,
                };
                in_net(*ip, *net, *bits) || mapped.is_some_and(|m| in_net(m, *net, *bits))
            }
            _ => false,
        }
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// The host of a parsed URI, as the rules see it.
enum Target {
    Name(String),
    Ip(IpAddr),
}

/// The validated filter; build it once per request from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriFilter {
    allowed_schemes: Vec<String>,
    disallowed_schemes: Vec<String>,
    allowed_hosts: Vec<HostPattern>,
    disallowed_hosts: Vec<HostPattern>,
    allowed_ports: Vec<u16>,
    disallowed_ports: Vec<u16>,
}

impl Default for UriFilter {
    fn default() -> Self {
        UriFilter::new(UriFilterConfig::default()).expect("the defaults are valid")
    }
}

impl UriFilter {
    /// Validates the host entries of `config` (names, IPs, CIDRs).
    pub fn new(config: UriFilterConfig) -> Result<UriFilter, FilterConfigError> {
        let hosts = |var, list: Vec<String>| {
            list.iter().map(|h| HostPattern::parse(var, h.trim())).collect::<Result<Vec<_>, _>>()
        };
        Ok(UriFilter {
            allowed_schemes: config.allowed_schemes.iter().map(|s| s.to_ascii_lowercase()).collect(),
            disallowed_schemes: config.disallowed_schemes.iter().map(|s| s.to_ascii_lowercase()).collect(),
            allowed_hosts: hosts(IMPORT_ALLOWED_HOSTS, config.allowed_hosts)?,
            disallowed_hosts: hosts(IMPORT_DISALLOWED_HOSTS, config.disallowed_hosts)?,
            allowed_ports: config.allowed_ports,
            disallowed_ports: config.disallowed_ports,
        })
    }

    /// [`UriFilterConfig::from_vars`] then [`UriFilter::new`].
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<UriFilter, FilterConfigError> {
        UriFilter::new(UriFilterConfig::from_vars(get)?)
    }

    /// The parsed URI if every rule lets it through (see the module docs).
    pub fn check(&self, uri: &str) -> Result<Url, UriRefused> {
        let refuse = |shown: &str, reason: String| UriRefused { uri: shown.to_owned(), reason };
        let url = Url::parse(uri.trim()).map_err(|e| {
            // The worker is built without the Unicode tables of IDNA (a
            // ninth of its size): an international host name must come in
            // its ASCII form, which every IDN has.
            let reason = if uri.is_ascii() {
                format!("not a valid URI: {e}")
            } else {
                format!("not a valid URI: {e}; give an international host name in its ASCII (punycode, xn--) form")
            };
            refuse(uri, reason)
        })?;

        if !url.username().is_empty() || url.password().is_some() {
            // Credentials would be sent to the remote host and kept in the
            // task input; neither is wanted. Never echo the password back.
            let mut masked = url.clone();
            let _ = masked.set_username("");
            let _ = masked.set_password(None);
            return Err(refuse(masked.as_str(), "user names and passwords are not allowed in the URI".into()));
        }

        let scheme = url.scheme();
        if !self.allowed_schemes.is_empty() && !self.allowed_schemes.iter().any(|s| s == scheme) {
            return Err(refuse(uri, format!("scheme '{scheme}' is not allowed")));
        }
        if self.disallowed_schemes.iter().any(|s| s == scheme) {
            return Err(refuse(uri, format!("scheme '{scheme}' is disallowed")));
        }

        let target = match url.host() {
            None => return Err(refuse(uri, "the URI has no host".into())),
            Some(Host::Ipv4(ip)) => Target::Ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Target::Ip(IpAddr::V6(ip)),
            // `localhost.` is `localhost`: compare names without the root dot.
            Some(Host::Domain(name)) => Target::Name(name.trim_end_matches('.').to_ascii_lowercase()),
        };
        let shown_host = url.host_str().unwrap_or_default();
        if !self.allowed_hosts.iter().any(|p| p.matches(&target)) {
            if self.disallowed_hosts.iter().any(|p| p.matches(&target)) {
                return Err(refuse(uri, format!("host {shown_host} is disallowed")));
            }
            let internal = match &target {
                Target::Ip(ip) => is_special_ip(*ip),
                Target::Name(name) => is_internal_name(name),
            };
            if internal {
                return Err(refuse(uri, format!("host {shown_host} is a private or special address")));
            }
        }

        // With no explicit and no default port (a scheme the url crate does
        // not know) there is no port to judge, as in Glance.
        if let Some(port) = url.port_or_known_default() {
            if !self.allowed_ports.is_empty() && !self.allowed_ports.contains(&port) {
                return Err(refuse(uri, format!("port {port} is not allowed")));
            }
            if self.disallowed_ports.contains(&port) {
                return Err(refuse(uri, format!("port {port} is disallowed")));
            }
        }
        Ok(url)
    }
}

/// Names that only mean something inside the operator's network.
fn is_internal_name(name: &str) -> bool {
    name == "localhost"
        || name.ends_with(".localhost")
        || name.ends_with(".local")
        || name.ends_with(".internal")
        || name == "local"
        || name == "internal"
}

/// Loopback, private, link-local (cloud metadata lives at
/// 169.254.169.254), carrier-grade NAT, benchmarking, multicast, reserved
/// and broadcast addresses.
fn is_special_ipv4(ip: Ipv4Addr) -> bool {
    const BLOCKS: [([u8; 4], u8); 12] = [
        ([0, 0, 0, 0], 8),
        ([10, 0, 0, 0], 8),
        ([100, 64, 0, 0], 10),
        ([127, 0, 0, 0], 8),
        ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12),
        ([192, 0, 0, 0], 24),
        ([192, 168, 0, 0], 16),
        ([198, 18, 0, 0], 15),
        ([224, 0, 0, 0], 4),
        ([240, 0, 0, 0], 4),
        ([255, 255, 255, 255], 32),
    ];
    BLOCKS.iter().any(|(net, bits)| in_net(IpAddr::V4(ip), IpAddr::V4(Ipv4Addr::from(*net)), *bits))
}

fn is_special_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_special_ipv4(v4),
        IpAddr::V6(v6) => is_special_ipv6(v6),
    }
}

/// `::`, `::1`, unique-local, link-local and multicast addresses, and any
/// address that embeds an IPv4 one (mapped, compatible, NAT64, 6to4), judged
/// by that IPv4 address: the packets end up there.
fn is_special_ipv6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    if ip.is_unspecified() || ip.is_loopback() {
        return true;
    }
    let net = |prefix: Ipv6Addr, bits| in_net(IpAddr::V6(ip), IpAddr::V6(prefix), bits);
    if net(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7)
        || net(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10)
        || net(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8)
    {
        return true;
    }
    let low32 = Ipv4Addr::from((u32::from(segments[6]) << 16) | u32::from(segments[7]));
    // `::a.b.c.d` (compatible) and `::ffff:a.b.c.d` (mapped).
    if let Some(v4) = ip.to_ipv4() {
        return is_special_ipv4(v4);
    }
    if net(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        return is_special_ipv4(low32);
    }
    if segments[0] == 0x2002 {
        let embedded = Ipv4Addr::from((u32::from(segments[1]) << 16) | u32::from(segments[2]));
        return is_special_ipv4(embedded);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(filter: &UriFilter, uri: &str) -> UriRefused {
        filter.check(uri).expect_err(uri)
    }

    fn with(config: UriFilterConfig) -> UriFilter {
        UriFilter::new(config).unwrap()
    }

    fn allowing_hosts(hosts: &[&str]) -> UriFilter {
        with(UriFilterConfig { allowed_hosts: hosts.iter().map(|h| h.to_string()).collect(), ..Default::default() })
    }

    #[test]
    fn public_hosts_on_default_ports_pass() {
        let filter = UriFilter::default();
        for uri in [
            "http://example.com/image.qcow2",
            "http://example.com:80/image.qcow2",
            "https://example.com/image.qcow2",
            "https://example.com:443/x",
            "http://93.184.216.34/x",
            "http://[2606:2800:220:1:248:1893:25c8:1946]/x",
        ] {
            assert!(filter.check(uri).is_ok(), "{uri}");
        }
        assert_eq!(filter.check("HTTP://Example.COM/a").unwrap().as_str(), "http://example.com/a");
    }

    #[test]
    fn loopback_in_every_spelling_is_refused() {
        let filter = UriFilter::default();
        for uri in [
            "http://127.0.0.1/",
            "http://127.1.2.3/",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://app.localhost/",
            "http://[::1]/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://%31%32%37.0.0.1/",
            "http://127.0.0.1./",
        ] {
            let refusal = refused(&filter, uri);
            assert!(refusal.reason.contains("private or special"), "{uri}: {refusal}");
        }
    }

    #[test]
    fn an_international_host_name_passes_in_its_ascii_form_only() {
        let filter = UriFilter::default();
        assert!(filter.check("http://xn--bcher-kva.example/image.qcow2").is_ok());
        assert!(filter.check("http://example.com/b\u{fc}cher.qcow2").is_ok(), "non-ASCII paths are encoded");
        for uri in ["http://b\u{fc}cher.example/image.qcow2", "http://\u{24db}ocalhost/"] {
            let refusal = refused(&filter, uri);
            assert!(refusal.reason.contains("ASCII (punycode, xn--) form"), "{uri}: {refusal}");
        }
    }

    #[test]
    fn private_link_local_and_special_addresses_are_refused() {
        let filter = UriFilter::default();
        for uri in [
            "http://169.254.169.254/latest/meta-data/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://192.0.0.8/",
            "http://198.18.0.1/",
            "http://224.0.0.1/",
            "http://240.0.0.1/",
            "http://255.255.255.255/",
            "http://[::]/",
            "http://[fd00::1]/",
            "http://[fc00::1]/",
            "http://[fe80::1]/",
            "http://[ff02::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::10.0.0.1]/",
            "http://[2002:7f00:1::]/",
            "http://metadata.google.internal/",
            "http://printer.local/",
        ] {
            assert!(refused(&filter, uri).reason.contains("private or special"), "{uri}");
        }
        // Neighbours of the blocks are public.
        for uri in ["http://172.32.0.1/", "http://100.128.0.1/", "http://[64:ff9b::8.8.8.8]/", "http://11.0.0.1/"] {
            assert!(filter.check(uri).is_ok(), "{uri}");
        }
    }

    #[test]
    fn schemes_other_than_http_and_https_are_refused_by_default() {
        let filter = UriFilter::default();
        for (uri, scheme) in
            [("ftp://example.com/x", "ftp"), ("file:///etc/passwd", "file"), ("gopher://example.com/", "gopher")]
        {
            assert_eq!(refused(&filter, uri).reason, format!("scheme '{scheme}' is not allowed"));
        }
        let no_https = with(UriFilterConfig { disallowed_schemes: vec!["https".into()], ..UriFilterConfig::default() });
        assert_eq!(refused(&no_https, "https://example.com/").reason, "scheme 'https' is disallowed");
        assert!(no_https.check("http://example.com/").is_ok());
    }

    #[test]
    fn ports_outside_the_allow_list_are_refused() {
        let filter = UriFilter::default();
        assert_eq!(refused(&filter, "http://example.com:8080/").reason, "port 8080 is not allowed");
        assert_eq!(refused(&filter, "https://example.com:22/").uri, "https://example.com:22/");
        let listed = with(UriFilterConfig { allowed_ports: vec![80, 443, 8080], ..Default::default() });
        assert!(listed.check("http://example.com:8080/").is_ok());
        let any_but_80 =
            with(UriFilterConfig { allowed_ports: vec![], disallowed_ports: vec![80], ..Default::default() });
        assert!(any_but_80.check("http://example.com:8080/").is_ok());
        assert_eq!(refused(&any_but_80, "http://example.com/").reason, "port 80 is disallowed");
    }

    #[test]
    fn allowed_hosts_exempt_only_themselves() {
        let filter = allowing_hosts(&["127.0.0.1"]);
        assert!(filter.check("http://127.0.0.1/x").is_ok());
        assert!(filter.check("http://2130706433/x").is_ok(), "same address, other spelling");
        assert!(filter.check("http://[::ffff:127.0.0.1]/x").is_ok(), "mapped form of the same address");
        assert!(refused(&filter, "http://127.0.0.2/").reason.contains("private"));
        assert!(filter.check("http://example.com/").is_ok(), "the allow list does not restrict public hosts");
        // Ports are still checked for exempted hosts.
        assert!(refused(&filter, "http://127.0.0.1:8080/").reason.contains("port"));

        let named = allowing_hosts(&["Mirror.Internal", "localhost"]);
        assert!(named.check("http://mirror.internal/x").is_ok());
        assert!(named.check("http://localhost/x").is_ok());
        assert!(refused(&named, "http://other.internal/").reason.contains("private"));
    }

    #[test]
    fn allowed_hosts_accept_cidrs_and_bracketed_ipv6() {
        let filter = allowing_hosts(&["10.0.0.0/8", "fd00::/8", "[fe80::1]", "::1"]);
        assert!(filter.check("http://10.200.3.4/").is_ok());
        assert!(filter.check("http://[fd12::1]/").is_ok());
        assert!(filter.check("http://[fe80::1]/").is_ok());
        assert!(filter.check("http://[::1]/").is_ok());
        assert!(refused(&filter, "http://[fe80::2]/").reason.contains("private"));
        assert!(refused(&filter, "http://[fc00::1]/").reason.contains("private"));
        assert!(refused(&filter, "http://192.168.0.1/").reason.contains("private"));
    }

    #[test]
    fn disallowed_hosts_beat_public_hosts_and_allowed_hosts_beat_them() {
        let filter = with(UriFilterConfig {
            disallowed_hosts: vec!["example.com".into(), "93.184.0.0/16".into()],
            ..Default::default()
        });
        assert_eq!(refused(&filter, "http://example.com/").reason, "host example.com is disallowed");
        assert_eq!(refused(&filter, "http://93.184.216.34/").reason, "host 93.184.216.34 is disallowed");
        assert!(filter.check("http://example.org/").is_ok());
        let both = with(UriFilterConfig {
            allowed_hosts: vec!["example.com".into()],
            disallowed_hosts: vec!["example.com".into()],
            ..Default::default()
        });
        assert!(both.check("http://example.com/").is_ok());
    }

    #[test]
    fn credentials_are_refused_and_never_echoed() {
        let filter = UriFilter::default();
        let refusal = refused(&filter, "http://user:secret@example.com/x");
        assert!(refusal.reason.contains("user names and passwords"));
        assert!(!refusal.to_string().contains("secret"), "{refusal}");
        assert!(refused(&filter, "http://user@example.com/").reason.contains("user names"));
        assert!(refused(&filter, "http://example.com:80@127.0.0.1/").reason.contains("user names"));
    }

    #[test]
    fn refusal_message_is_the_one_tempest_matches() {
        let refusal = refused(&UriFilter::default(), "http://127.0.0.1/x");
        assert_eq!(
            refusal.to_string(),
            "URI for web-download does not pass filtering: http://127.0.0.1/x (host 127.0.0.1 is a private or special address)"
        );
        assert!(refused(&UriFilter::default(), "not a uri").to_string().contains("does not pass filtering"));
        assert!(refused(&UriFilter::default(), "http://").to_string().contains("does not pass filtering"));
    }

    #[test]
    fn config_comes_from_vars_with_glance_defaults() {
        let none = UriFilterConfig::from_vars(|_| None).unwrap();
        assert_eq!(none, UriFilterConfig::default());
        assert_eq!(none.allowed_ports, vec![80, 443]);
        let vars = |name: &str| match name {
            IMPORT_ALLOWED_SCHEMES => Some("HTTPS".to_string()),
            IMPORT_ALLOWED_PORTS => Some(String::new()),
            IMPORT_DISALLOWED_PORTS => Some(" 22 , 25,".to_string()),
            IMPORT_ALLOWED_HOSTS => Some("10.0.0.0/8, mirror.local".to_string()),
            _ => None,
        };
        let config = UriFilterConfig::from_vars(vars).unwrap();
        assert_eq!(config.allowed_schemes, vec!["https"]);
        assert!(config.allowed_ports.is_empty());
        assert_eq!(config.disallowed_ports, vec![22, 25]);
        assert_eq!(config.allowed_hosts, vec!["10.0.0.0/8", "mirror.local"]);
        let filter = UriFilter::from_vars(vars).unwrap();
        assert!(filter.check("https://10.1.1.1:8443/").is_ok());
        assert!(filter.check("https://example.com:22/").is_err());

        let bad_port = UriFilterConfig::from_vars(|n| (n == IMPORT_DISALLOWED_PORTS).then(|| "ssh".to_string()));
        assert_eq!(bad_port.unwrap_err().var, IMPORT_DISALLOWED_PORTS);
        for bad in ["10.0.0.0/33", "example.com/8", "[::1", "fd00::/129"] {
            let config = UriFilterConfig { allowed_hosts: vec![bad.into()], ..Default::default() };
            assert!(UriFilter::new(config).is_err(), "{bad}");
        }
    }
}
