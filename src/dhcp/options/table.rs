//! The option name table: dnsmasq's names, codes and value kinds, and
//! the codes the server owns (see the module doc of [`super`]).

/// How an option's value is written in the config and encoded on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One IPv4 address.
    Ip,
    /// One or more IPv4 addresses.
    IpList,
    /// Pairs of IPv4 addresses (33: destination, router; 21: address, mask).
    IpPairs,
    U8,
    U16,
    U32,
    I32,
    /// A 32-bit count of seconds; accepts `s/m/h/d/w` suffixes and `infinite`.
    Seconds,
    /// One byte, 0 or 1.
    Bool,
    /// NVT ASCII text.
    Str,
    /// One domain name as ASCII text (option 15).
    Domain,
    /// RFC 1035 wire-format names (option 119, RFC 3397).
    DomainList,
    /// RFC 3361 SIP servers (option 120).
    Sip,
    /// RFC 3442 classless routes (121, 249).
    Classless,
    /// Opaque bytes (colon hex).
    Bytes,
    /// Option 12: only "no value" (do not send the host name) is accepted.
    HostName,
    /// Not configurable; the reason says why.
    Refused(&'static str),
}

/// One row of the name table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionDef {
    pub code: u8,
    /// dnsmasq's name, without `option:`.
    pub name: &'static str,
    pub kind: Kind,
}

const fn def(code: u8, name: &'static str, kind: Kind) -> OptionDef {
    OptionDef { code, name, kind }
}

const CLIENT_ONLY: &str = "clients send it; a server does not";

/// The option table, by code.
pub const OPTIONS: &[OptionDef] = &[
    def(
        0,
        "pad",
        Kind::Refused("it is wire framing, not an option (RFC 2132 §3.1)"),
    ),
    def(1, "netmask", Kind::Ip),
    def(2, "time-offset", Kind::I32),
    def(3, "router", Kind::IpList),
    def(6, "dns-server", Kind::IpList),
    def(7, "log-server", Kind::IpList),
    def(9, "lpr-server", Kind::IpList),
    def(12, "hostname", Kind::HostName),
    def(13, "boot-file-size", Kind::U16),
    def(15, "domain-name", Kind::Domain),
    def(16, "swap-server", Kind::Ip),
    def(17, "root-path", Kind::Str),
    def(18, "extension-path", Kind::Str),
    def(19, "ip-forward-enable", Kind::Bool),
    def(20, "non-local-source-routing", Kind::Bool),
    def(21, "policy-filter", Kind::IpPairs),
    def(22, "max-datagram-reassembly", Kind::U16),
    def(23, "default-ttl", Kind::U8),
    def(26, "mtu", Kind::U16),
    def(27, "all-subnets-local", Kind::Bool),
    def(28, "broadcast", Kind::Ip),
    def(31, "router-discovery", Kind::Bool),
    def(32, "router-solicitation", Kind::Ip),
    def(33, "static-route", Kind::IpPairs),
    def(34, "trailer-encapsulation", Kind::Bool),
    def(35, "arp-timeout", Kind::U32),
    def(36, "ethernet-encap", Kind::Bool),
    def(37, "tcp-ttl", Kind::U8),
    def(38, "tcp-keepalive", Kind::U32),
    def(40, "nis-domain", Kind::Str),
    def(41, "nis-server", Kind::IpList),
    def(42, "ntp-server", Kind::IpList),
    def(43, "vendor-encap", Kind::Bytes),
    def(44, "netbios-ns", Kind::IpList),
    def(45, "netbios-dd", Kind::IpList),
    def(46, "netbios-nodetype", Kind::U8),
    def(47, "netbios-scope", Kind::Str),
    def(48, "x-windows-fs", Kind::IpList),
    def(49, "x-windows-dm", Kind::IpList),
    def(50, "requested-address", Kind::Refused(CLIENT_ONLY)),
    def(
        51,
        "lease-time",
        Kind::Refused(
            "the lease time comes from the range or reservation; the server places it \
             (RFC 2131 §4.3.1 Table 3)",
        ),
    ),
    def(
        52,
        "option-overload",
        Kind::Refused("the wire layer sets it (RFC 2132 §9.3)"),
    ),
    def(
        53,
        "message-type",
        Kind::Refused("the server sets it (RFC 2132 §9.6)"),
    ),
    def(
        54,
        "server-identifier",
        Kind::Refused("the server sets it to its own address (RFC 2131 §4.3.1)"),
    ),
    def(55, "parameter-request", Kind::Refused(CLIENT_ONLY)),
    def(
        56,
        "message",
        Kind::Refused(
            "it carries DHCPNAK error text; RFC 2131 Table 3 forbids it in OFFER and ACK",
        ),
    ),
    def(57, "max-message-size", Kind::Refused(CLIENT_ONLY)),
    def(58, "T1", Kind::Seconds),
    def(59, "T2", Kind::Seconds),
    def(60, "vendor-class", Kind::Str),
    def(
        61,
        "client-id",
        Kind::Refused("it is the client's; the server echoes it unaltered (RFC 6842)"),
    ),
    def(64, "nis+-domain", Kind::Str),
    def(65, "nis+-server", Kind::IpList),
    def(66, "tftp-server", Kind::Str),
    def(67, "bootfile-name", Kind::Str),
    def(68, "mobile-ip-home", Kind::IpList),
    def(69, "smtp-server", Kind::IpList),
    def(70, "pop3-server", Kind::IpList),
    def(71, "nntp-server", Kind::IpList),
    def(74, "irc-server", Kind::IpList),
    def(77, "user-class", Kind::Refused(CLIENT_ONLY)),
    def(
        80,
        "rapid-commit",
        Kind::Refused("rapid commit is a server setting (RFC 4039), not an option value"),
    ),
    def(
        81,
        "FQDN",
        Kind::Refused("the server builds it from the client's own option 81 (RFC 4702)"),
    ),
    def(
        82,
        "agent-id",
        Kind::Refused("relay agents add it and servers only echo it (RFC 3046 §2.2)"),
    ),
    def(93, "client-arch", Kind::Refused(CLIENT_ONLY)),
    def(94, "client-interface-id", Kind::Refused(CLIENT_ONLY)),
    def(97, "client-machine-id", Kind::Refused(CLIENT_ONLY)),
    def(100, "posix-timezone", Kind::Str),
    def(101, "tzdb-timezone", Kind::Str),
    def(108, "ipv6-only", Kind::Seconds),
    def(114, "captive-portal", Kind::Str),
    def(
        118,
        "subnet-select",
        Kind::Refused("clients and relays send it (RFC 3011)"),
    ),
    def(119, "domain-search", Kind::DomainList),
    def(120, "sip-server", Kind::Sip),
    def(121, "classless-static-route", Kind::Classless),
    def(125, "vendor-id-encap", Kind::Bytes),
    def(150, "tftp-server-address", Kind::IpList),
    def(249, "ms-classless-static-route", Kind::Classless),
    def(
        255,
        "end",
        Kind::Refused("it is wire framing, not an option (RFC 2132 §3.2)"),
    ),
];

/// The table row for a code.
pub fn by_code(code: u8) -> Option<&'static OptionDef> {
    OPTIONS.iter().find(|d| d.code == code)
}

/// The table row for a name (without `option:`), case-insensitively.
pub fn by_name(name: &str) -> Option<&'static OptionDef> {
    OPTIONS.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

/// `option:router` for a known code, `option 224` otherwise.
pub fn display(code: u8) -> String {
    match by_code(code) {
        Some(d) => format!("option:{}", d.name),
        None => format!("option {code}"),
    }
}

/// Whether an empty value means "do not send" (see the module docs).
pub fn empty_means_do_not_send(code: u8) -> bool {
    !matches!(by_code(code).map(|d| d.kind), None | Some(Kind::Bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::options::fixtures::*;

    #[test]
    fn table_codes_and_names_are_unique() {
        for (i, a) in OPTIONS.iter().enumerate() {
            for b in &OPTIONS[i + 1..] {
                assert_ne!(a.code, b.code, "{} / {}", a.name, b.name);
                assert!(!a.name.eq_ignore_ascii_case(b.name), "{}", a.name);
            }
        }
        assert_eq!(by_name("ROUTER").map(|d| d.code), Some(3));
        assert_eq!(by_name("t1").map(|d| d.code), Some(58));
        assert_eq!(display(3), "option:router");
        assert_eq!(display(224), "option 224");
    }

    #[test]
    fn names_map_to_dnsmasq_codes() {
        for (name, code) in [
            ("router", 3),
            ("dns-server", 6),
            ("domain-name", 15),
            ("domain-search", 119),
            ("ntp-server", 42),
            ("classless-static-route", 121),
            ("tftp-server", 66),
            ("bootfile-name", 67),
            ("vendor-encap", 43),
            ("netmask", 1),
            ("broadcast", 28),
            ("mtu", 26),
            ("static-route", 33),
            ("netbios-ns", 44),
            ("netbios-nodetype", 46),
            ("posix-timezone", 100),
            ("tzdb-timezone", 101),
            ("sip-server", 120),
            ("ipv6-only", 108),
            ("captive-portal", 114),
            ("T1", 58),
            ("T2", 59),
            ("router-discovery", 31),
            ("log-server", 7),
            ("lpr-server", 9),
            ("root-path", 17),
            ("ip-forward-enable", 19),
            ("time-offset", 2),
            ("nis-domain", 40),
            ("nis-server", 41),
            ("smtp-server", 69),
            ("pop3-server", 70),
            ("tftp-server-address", 150),
        ] {
            assert_eq!(ok(&format!("option:{name}")).code, code, "{name}");
        }
    }
}
