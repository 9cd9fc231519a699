//! Outbound HTTP that cannot be aimed at the server's own network (SSRF).
//!
//! Webhook URLs and the `webhook` plugin's endpoints are written by tenants,
//! so a request to them must never reach what only the server can reach:
//! loopback, private and link-local networks, carrier-grade NAT, cloud
//! metadata services. Checking the URL's host name is not enough (a name can
//! resolve to `127.0.0.1`, or resolve to a public address when checked and a
//! private one when connected: DNS rebinding), so the check sits where the
//! connection is made:
//!
//! - [`GuardedClient`]'s DNS resolver resolves every name itself and hands
//!   the connector only the addresses the policy allows, so the address
//!   checked is the address connected to;
//! - IP-literal hosts (which never reach a resolver) are checked before the
//!   request is built, by [`GuardedClient::request`];
//! - every redirect hop goes through the same URL check, and then through
//!   the same resolver;
//! - proxies from the environment are ignored, because a proxy would resolve
//!   and connect on the server's behalf, past the check.
//!
//! The operator can allow networks with `switchyard serve --allow-net CIDR`
//! (a webhook receiver on the same private network, or on loopback in
//! development). Cloud metadata addresses stay refused unless the allowed
//! network is exactly that one address: `--allow-net 169.254.0.0/16` does
//! not open 169.254.169.254.
//!
//! ```
//! use switchyard_studio_api::ssrf::{AddressClass, AddressPolicy, classify};
//! assert_eq!(classify("10.1.2.3".parse().unwrap()), Some(AddressClass::Private));
//! assert_eq!(classify("93.184.215.14".parse().unwrap()), None);
//! let policy = AddressPolicy::new(vec!["10.1.2.0/24".parse().unwrap()]);
//! assert!(policy.check("10.1.2.3".parse().unwrap()).is_ok());
//! assert!(policy.check("10.9.9.9".parse().unwrap()).is_err());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use ipnet::IpNet;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an address is not reachable by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16), unique local fc00::/7,
    /// deprecated site-local fec0::/10, local-use NAT64 64:ff9b:1::/48.
    Private,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// Carrier-grade NAT, 100.64.0.0/10 (RFC 6598).
    SharedAddressSpace,
    /// 0.0.0.0/8 and :: (on Linux, connecting to 0.0.0.0 reaches localhost).
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18.0.0/15.
    Benchmarking,
    /// IETF special-purpose blocks that route nowhere public: 192.0.0/24,
    /// 192.88.99/24, 240/4, 100::/64, 2001::/23.
    Reserved,
    /// Cloud instance metadata: 169.254.169.254 (AWS, GCP, Azure, …),
    /// 168.63.129.16 (Azure's wire server), fd00:ec2::254 (AWS over IPv6).
    Metadata,
}

impl AddressClass {
    /// "a loopback address", for messages.
    pub fn describe(self) -> &'static str {
        match self {
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private address",
            AddressClass::LinkLocal => "a link-local address",
            AddressClass::SharedAddressSpace => "a carrier-grade NAT address (100.64.0.0/10)",
            AddressClass::Unspecified => "an unspecified address",
            AddressClass::Broadcast => "the broadcast address",
            AddressClass::Multicast => "a multicast address",
            AddressClass::Documentation => "a documentation address",
            AddressClass::Benchmarking => "a benchmarking address",
            AddressClass::Reserved => "a reserved address",
            AddressClass::Metadata => "a cloud metadata address",
        }
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The refused blocks, most specific first (the metadata and broadcast
/// addresses sit inside larger blocks and must win for the message).
static REFUSED: LazyLock<Vec<(IpNet, AddressClass)>> = LazyLock::new(|| {
    use AddressClass::*;
    [
        ("169.254.169.254/32", Metadata),
        ("168.63.129.16/32", Metadata),
        ("255.255.255.255/32", Broadcast),
        ("0.0.0.0/8", Unspecified),
        ("10.0.0.0/8", Private),
        ("100.64.0.0/10", SharedAddressSpace),
        ("127.0.0.0/8", Loopback),
        ("169.254.0.0/16", LinkLocal),
        ("172.16.0.0/12", Private),
        ("192.0.0.0/24", Reserved),
        ("192.0.2.0/24", Documentation),
        ("192.88.99.0/24", Reserved),
        ("192.168.0.0/16", Private),
        ("198.18.0.0/15", Benchmarking),
        ("198.51.100.0/24", Documentation),
        ("203.0.113.0/24", Documentation),
        ("224.0.0.0/4", Multicast),
        ("240.0.0.0/4", Reserved),
        ("fd00:ec2::254/128", Metadata),
        ("::/128", Unspecified),
        ("::1/128", Loopback),
        ("64:ff9b:1::/48", Private),
        ("100::/64", Reserved),
        ("2001::/23", Reserved),
        ("2001:db8::/32", Documentation),
        ("3fff::/20", Documentation),
        ("fc00::/7", Private),
        ("fe80::/10", LinkLocal),
        ("fec0::/10", Private),
        ("ff00::/8", Multicast),
    ]
    .into_iter()
    .map(|(net, class)| (net.parse().expect("a valid CIDR literal"), class))
    .collect()
});

/// The IPv4 address an IPv6 address carries, for the forms that reach it:
/// IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d, deprecated),
/// NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::). Such an address is
/// judged by the IPv4 address inside.
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail),
        // :: and ::1 are themselves, not 0.0.0.0 and 0.0.0.1.
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, _, _] => Some(tail),
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

/// Which refused class `ip` belongs to; `None` for a public address.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    if let IpAddr::V6(v6) = ip
        && let Some(v4) = embedded_ipv4(v6)
    {
        return classify(IpAddr::V4(v4));
    }
    REFUSED
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, class)| *class)
}

/// Which addresses outbound HTTP may reach: every public address, and the
/// refused ones only inside a network the operator allowed.
#[derive(Clone, Default)]
pub struct AddressPolicy {
    pub allowed: Vec<IpNet>,
    /// Clients built for this policy, one per [`ClientOptions`]: a client
    /// holds a connection pool and the parsed TLS roots, worth keeping.
    clients: Arc<Mutex<HashMap<ClientOptions, GuardedClient>>>,
}

impl fmt::Debug for AddressPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddressPolicy")
            .field("allowed", &self.allowed)
            .finish_non_exhaustive()
    }
}

impl AddressPolicy {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self {
            allowed,
            clients: Arc::default(),
        }
    }

    /// Whether `ip` may be connected to; the class that refuses it if not.
    pub fn check(&self, ip: IpAddr) -> Result<(), AddressClass> {
        check_address(&self.allowed, ip)
    }

    /// A client that enforces this policy (cached per options).
    ///
    /// # Errors
    /// When the TLS stack cannot be set up.
    pub fn client(&self, options: ClientOptions) -> anyhow::Result<GuardedClient> {
        let mut clients = self.clients.lock().expect("client cache lock");
        if let Some(client) = clients.get(&options) {
            return Ok(client.clone());
        }
        let client = GuardedClient::build(Arc::new(self.allowed.clone()), options)?;
        clients.insert(options, client.clone());
        Ok(client)
    }

    /// Checks a URL's scheme, credentials and, when the host is an IP
    /// literal, its address (names are checked when resolved).
    ///
    /// # Errors
    /// A [`UrlProblem`] saying what is wrong.
    pub fn check_url(&self, url: &Url, allow_plain_http: bool) -> Result<(), UrlProblem> {
        check_url(&self.allowed, url, allow_plain_http)
    }
}

fn check_address(allowed: &[IpNet], ip: IpAddr) -> Result<(), AddressClass> {
    let Some(class) = classify(ip) else {
        return Ok(());
    };
    let embedded = match ip {
        IpAddr::V6(v6) => embedded_ipv4(v6).map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    let allows = |net: &IpNet| {
        // A metadata address opens only to an allowance of exactly itself,
        // so a broad `--allow-net` never exposes instance credentials.
        let exact = class != AddressClass::Metadata || net.prefix_len() == net.max_prefix_len();
        exact && (net.contains(&ip) || embedded.is_some_and(|v4| net.contains(&v4)))
    };
    if allowed.iter().any(allows) {
        Ok(())
    } else {
        Err(class)
    }
}

/// What is wrong with an outbound URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlProblem {
    /// Not `https://` (or not `http://` either, in development mode).
    Scheme(String),
    /// `user:password@` in the URL.
    Credentials,
    /// No host.
    NoHost,
    /// The host is an IP literal the policy refuses.
    Refused(Refused),
}

impl fmt::Display for UrlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlProblem::Scheme(message) => f.write_str(message),
            UrlProblem::Credentials => f.write_str(
                "the URL carries credentials (user:password@); deliveries are signed instead",
            ),
            UrlProblem::NoHost => f.write_str("the URL has no host"),
            UrlProblem::Refused(refused) => write!(f, "refused: {refused}"),
        }
    }
}

fn check_url(allowed: &[IpNet], url: &Url, allow_plain_http: bool) -> Result<(), UrlProblem> {
    match url.scheme() {
        "https" => {}
        "http" if allow_plain_http => {}
        "http" => {
            return Err(UrlProblem::Scheme(
                "the URL must start with https:// (plain http:// is accepted only in development mode, `serve --dev`)".into(),
            ));
        }
        other => {
            return Err(UrlProblem::Scheme(format!(
                "the URL's scheme is `{other}`; only https:// is accepted"
            )));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlProblem::Credentials);
    }
    // The parser has already normalised every IPv4 spelling (hex, octal,
    // a bare integer) to dotted decimal and bracketed IPv6 literals.
    let ip = match url.host_str() {
        None | Some("") => return Err(UrlProblem::NoHost),
        Some(host) => match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => match v6.parse::<Ipv6Addr>() {
                Ok(v6) => IpAddr::V6(v6),
                Err(_) => return Err(UrlProblem::NoHost),
            },
            None => match host.parse::<Ipv4Addr>() {
                Ok(v4) => IpAddr::V4(v4),
                Err(_) => return Ok(()),
            },
        },
    };
    check_address(allowed, ip)
        .map_err(|class| UrlProblem::Refused(Refused(format!("{ip} is {}", class.describe()))))
}

/// A request refused by the policy; the text says which host or address and
/// why, never the URL's path or query (which may hold a token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// How a [`GuardedClient`] behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientOptions {
    /// The whole exchange, redirects included.
    pub timeout: Duration,
    /// Accept `http://` (development mode); otherwise `https://` only, on
    /// every hop.
    pub allow_plain_http: bool,
    /// Redirect hops followed, each re-checked; 0 follows none.
    pub max_redirects: usize,
}

/// A `reqwest` client bound to an address policy: see the module docs.
#[derive(Clone)]
pub struct GuardedClient {
    client: reqwest::Client,
    allowed: Arc<Vec<IpNet>>,
    allow_plain_http: bool,
}

impl fmt::Debug for GuardedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedClient")
            .field("allowed", &self.allowed)
            .finish_non_exhaustive()
    }
}

impl GuardedClient {
    fn build(allowed: Arc<Vec<IpNet>>, options: ClientOptions) -> anyhow::Result<Self> {
        let resolver = Arc::new(GuardedResolver {
            allowed: allowed.clone(),
        });
        let redirect_allowed = allowed.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            // `previous` starts with the original URL.
            if attempt.previous().len() > options.max_redirects {
                return attempt.stop();
            }
            match check_url(&redirect_allowed, attempt.url(), options.allow_plain_http) {
                Ok(()) => attempt.follow(),
                Err(UrlProblem::Refused(refused)) => attempt.error(refused),
                Err(problem) => {
                    attempt.error(Refused(format!("a redirect was refused: {problem}")))
                }
            }
        });
        let client = reqwest::Client::builder()
            .dns_resolver(resolver)
            .no_proxy()
            .redirect(redirects)
            .https_only(!options.allow_plain_http)
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            allowed,
            allow_plain_http: options.allow_plain_http,
        })
    }

    /// A request to `url`, after the URL check (scheme, credentials, IP
    /// literal); names are checked as they resolve.
    ///
    /// # Errors
    /// The [`UrlProblem`] that refuses the URL.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &Url,
    ) -> Result<reqwest::RequestBuilder, UrlProblem> {
        check_url(&self.allowed, url, self.allow_plain_http)?;
        Ok(self.client.request(method, url.clone()))
    }
}

/// Resolves names with the system resolver and keeps only the addresses the
/// policy allows; refuses the name when none is left.
struct GuardedResolver {
    allowed: Arc<Vec<IpNet>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.allowed.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut first_refusal = None;
            let mut usable = Vec::with_capacity(resolved.len());
            for addr in resolved {
                match check_address(&allowed, addr.ip()) {
                    Ok(()) => usable.push(addr),
                    Err(class) => {
                        first_refusal.get_or_insert((addr.ip(), class));
                    }
                }
            }
            if usable.is_empty() {
                let reason = match first_refusal {
                    Some((ip, class)) => format!("{host} resolves to {ip}, {}", class.describe()),
                    None => format!("{host} resolves to no address"),
                };
                return Err(Box::new(Refused(reason)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(usable.into_iter()) as Addrs)
        })
    }
}

/// The policy's refusal behind a failed request, if that is what failed it.
pub fn refusal(error: &reqwest::Error) -> Option<&Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<Refused>() {
            return Some(refused);
        }
        source = current.source();
    }
    None
}

/// Why a request failed, for logs and the delivery log: the policy's
/// refusal as `refused: …`, else a short description without the URL.
pub fn describe_failure(error: &reqwest::Error) -> String {
    if let Some(refused) = refusal(error) {
        return format!("refused: {refused}");
    }
    if error.is_timeout() {
        return "timed out".into();
    }
    let what = if error.is_connect() {
        "could not connect"
    } else if error.is_redirect() {
        "redirect failed"
    } else if error.is_body() || error.is_decode() {
        "could not read the response"
    } else {
        "request failed"
    };
    // The innermost cause says what happened (e.g. "Connection refused");
    // the outer ones repeat the URL, which may carry a token.
    let mut inner: &(dyn std::error::Error + 'static) = error;
    while let Some(next) = inner.source() {
        inner = next;
    }
    let detail: String = inner.to_string().chars().take(300).collect();
    if std::ptr::addr_eq(inner, error as &dyn std::error::Error) {
        what.to_owned()
    } else {
        format!("{what}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn addresses_are_classified_by_the_table() {
        use AddressClass::*;
        let table: &[(&str, Option<AddressClass>)] = &[
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("::1", Some(Loopback)),
            ("10.0.0.1", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("192.168.1.1", Some(Private)),
            ("fc00::1", Some(Private)),
            ("fd12:3456::1", Some(Private)),
            ("fec0::1", Some(Private)),
            ("64:ff9b:1::1", Some(Private)),
            ("169.254.1.1", Some(LinkLocal)),
            ("fe80::1", Some(LinkLocal)),
            ("100.64.0.1", Some(SharedAddressSpace)),
            ("100.127.255.255", Some(SharedAddressSpace)),
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)),
            ("::", Some(Unspecified)),
            ("255.255.255.255", Some(Broadcast)),
            ("224.0.0.1", Some(Multicast)),
            ("239.255.255.250", Some(Multicast)),
            ("ff02::1", Some(Multicast)),
            ("192.0.2.1", Some(Documentation)),
            ("198.51.100.7", Some(Documentation)),
            ("203.0.113.9", Some(Documentation)),
            ("2001:db8::1", Some(Documentation)),
            ("3fff::1", Some(Documentation)),
            ("198.18.0.1", Some(Benchmarking)),
            ("198.19.255.255", Some(Benchmarking)),
            ("192.0.0.8", Some(Reserved)),
            ("192.88.99.1", Some(Reserved)),
            ("240.0.0.1", Some(Reserved)),
            ("100::1", Some(Reserved)),
            ("2001::1", Some(Reserved)),
            ("169.254.169.254", Some(Metadata)),
            ("168.63.129.16", Some(Metadata)),
            ("fd00:ec2::254", Some(Metadata)),
            // IPv6 forms that carry an IPv4 address are judged by it.
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:10.0.0.1", Some(Private)),
            ("::ffff:169.254.169.254", Some(Metadata)),
            ("::127.0.0.1", Some(Loopback)),
            ("64:ff9b::a9fe:a9fe", Some(Metadata)),
            ("2002:c0a8:0101::1", Some(Private)),
            ("2002:7f00:0001::", Some(Loopback)),
            // Public addresses, including neighbours of the refused blocks.
            ("93.184.215.14", None),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("172.15.255.255", None),
            ("172.32.0.0", None),
            ("100.63.255.255", None),
            ("100.128.0.0", None),
            ("169.253.255.255", None),
            ("198.17.255.255", None),
            ("223.255.255.255", None),
            ("168.63.129.17", None),
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4001:80b::200e", None),
            ("::ffff:8.8.8.8", None),
            ("64:ff9b::808:808", None),
            ("2002:0808:0808::1", None),
        ];
        for (text, expected) in table {
            assert_eq!(classify(ip(text)), *expected, "{text}");
        }
    }

    #[test]
    fn allowed_networks_open_refused_addresses() {
        let policy = AddressPolicy::new(vec![
            "127.0.0.0/8".parse().unwrap(),
            "10.1.2.0/24".parse().unwrap(),
        ]);
        assert_eq!(policy.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("10.1.2.200")), Ok(()));
        assert_eq!(policy.check(ip("10.1.3.1")), Err(AddressClass::Private));
        assert_eq!(policy.check(ip("::1")), Err(AddressClass::Loopback));
        assert_eq!(policy.check(ip("8.8.8.8")), Ok(()));
        assert_eq!(
            AddressPolicy::default().check(ip("127.0.0.1")),
            Err(AddressClass::Loopback)
        );
    }

    #[test]
    fn metadata_addresses_open_only_to_an_exact_allowance() {
        let broad = AddressPolicy::new(vec![
            "169.254.0.0/16".parse().unwrap(),
            "0.0.0.0/0".parse().unwrap(),
            "::/0".parse().unwrap(),
        ]);
        assert_eq!(broad.check(ip("169.254.1.1")), Ok(()));
        assert_eq!(
            broad.check(ip("169.254.169.254")),
            Err(AddressClass::Metadata)
        );
        assert_eq!(
            broad.check(ip("fd00:ec2::254")),
            Err(AddressClass::Metadata)
        );
        assert_eq!(
            broad.check(ip("::ffff:169.254.169.254")),
            Err(AddressClass::Metadata)
        );
        let exact = AddressPolicy::new(vec!["169.254.169.254/32".parse().unwrap()]);
        assert_eq!(exact.check(ip("169.254.169.254")), Ok(()));
    }

    #[test]
    fn urls_are_checked_for_scheme_credentials_and_literal_addresses() {
        let policy = AddressPolicy::new(vec!["127.0.0.1/32".parse().unwrap()]);
        let check = |url: &str, plain: bool| policy.check_url(&Url::parse(url).unwrap(), plain);
        assert_eq!(check("https://hooks.example.com/in", false), Ok(()));
        assert!(matches!(
            check("http://hooks.example.com/in", false),
            Err(UrlProblem::Scheme(_))
        ));
        assert_eq!(check("http://hooks.example.com/in", true), Ok(()));
        assert!(matches!(
            check("ftp://hooks.example.com/in", true),
            Err(UrlProblem::Scheme(_))
        ));
        assert_eq!(
            check("https://user:pw@hooks.example.com/", false),
            Err(UrlProblem::Credentials)
        );
        assert_eq!(
            check("https://user@hooks.example.com/", false),
            Err(UrlProblem::Credentials)
        );
        assert_eq!(check("https://127.0.0.1:9/", false), Ok(()));
        // Every spelling of an address is the address: the URL parser
        // normalises hex, octal and integer IPv4 forms.
        for url in [
            "https://127.0.0.2/",
            "https://0x7f.0.0.2/",
            "https://2130706434/",
            "https://[::1]/",
            "https://[::ffff:7f00:2]/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fd00:ec2::254]/",
            "https://0.0.0.0/",
            "https://10.0.0.1/",
        ] {
            assert!(
                matches!(check(url, false), Err(UrlProblem::Refused(_))),
                "{url}"
            );
        }
        let refused = check("https://169.254.169.254/?token=s3cret", false).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "refused: 169.254.169.254 is a cloud metadata address"
        );
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_refused_addresses() {
        let resolver = GuardedResolver {
            allowed: Arc::new(Vec::new()),
        };
        let error = match resolver.resolve("localhost".parse().unwrap()).await {
            Ok(_) => panic!("localhost resolved to an allowed address"),
            Err(error) => error,
        };
        let refused = error.downcast_ref::<Refused>().expect("a refusal");
        assert!(refused.0.starts_with("localhost resolves to "), "{refused}");
        assert!(refused.0.ends_with("a loopback address"), "{refused}");

        let resolver = GuardedResolver {
            allowed: Arc::new(vec!["127.0.0.0/8".parse().unwrap()]),
        };
        let addrs: Vec<SocketAddr> = resolver
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(!addrs.is_empty());
        assert!(
            addrs.iter().all(|a| a.ip() == ip("127.0.0.1")),
            "only the allowed addresses are handed on: {addrs:?}"
        );
    }
}
