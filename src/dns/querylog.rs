//! The query log (`[dns] log-queries`, dnsmasq's `log-queries`): what the
//! cores say about each answer, and the text of its log line.
//!
//! The cores never log: every reply they produce carries a [`Source`]
//! ([`super::resolver::Outcome::Reply`], [`super::forward::Action::Reply`]),
//! a small `Copy` value that costs nothing to return. Only when query
//! logging is on does the driver turn a reply into text with
//! [`QueryLine`] (name and type read back from the client's query, the
//! RCODE from the reply's header), so the fast path with logging off
//! formats and allocates nothing.
//!
//! A line: `info dns.query client=192.168.1.20 name=www.example.com
//! type=A source=upstream server=192.0.2.53 rcode=NOERROR`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::RecordType;

use super::message::{HEADER_LEN, at, flag, get_u16, name_text_at, skip_name};

/// Where an answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A fresh cache entry.
    Cache,
    /// A cache entry past its TTL, served because no upstream answered
    /// (RFC 8767 §5, `use-stale-cache`).
    Stale,
    /// Local data: hosts files, `host-record` and the other record keys,
    /// DHCP names, `localhost`, `local=` and `home.arpa` zones, the CHAOS
    /// names, RFC 8482's HINFO for ANY, and the protocol's own error
    /// replies to malformed queries (FORMERR, NOTIMP, BADVERS).
    Local,
    /// A rule that keeps the name from resolving: `address=/d/` (NXDOMAIN),
    /// `address=/d/#` or an unspecified address, `bogus-priv`,
    /// `domain-needed`, `stop-dns-rebind` (the upstream answer stripped),
    /// CHAOS names with `chaos-stats = false`.
    Blocked,
    /// The answer of this upstream server (for a SERVFAIL-like answer: the
    /// last server that gave it, every other having failed).
    Upstream(SocketAddr),
    /// Nobody could answer: no upstream serves the name (REFUSED), every
    /// upstream failed or timed out, or every one is at `dns-forward-max`
    /// (SERVFAIL, made here).
    Failed,
}

impl Source {
    /// The `source=` word.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cache => "cache",
            Source::Stale => "stale",
            Source::Local => "local",
            Source::Blocked => "blocked",
            Source::Upstream(_) => "upstream",
            Source::Failed => "failed",
        }
    }
}

/// An upstream as the config writes it: `IP`, or `IP#PORT` off port 53.
struct Server(SocketAddr);

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.port() {
            53 => write!(f, "{}", self.0.ip()),
            p => write!(f, "{}#{p}", self.0.ip()),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if let Source::Upstream(a) = self {
            write!(f, " server={}", Server(*a))?;
        }
        Ok(())
    }
}

/// One query-log line's fields, formatted only when written.
pub struct QueryLine<'a> {
    pub client: IpAddr,
    pub tcp: bool,
    /// The client's query, as received.
    pub query: &'a [u8],
    /// The reply sent to it.
    pub reply: &'a [u8],
    pub source: Source,
}

impl fmt::Display for QueryLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client={}", self.client)?;
        match question(self.query) {
            Some((name, qtype)) => write!(f, " name={name} type={}", TypeText(qtype))?,
            None => f.write_str(" name=- type=-")?,
        }
        write!(f, " source={} rcode=", self.source)?;
        match get_u16(self.reply, at::FLAGS) {
            Some(flags) => f.write_str(rcode_text((flags & flag::RCODE) as u8))?,
            None => f.write_str("-")?,
        }
        if self.tcp {
            f.write_str(" proto=tcp")?;
        }
        Ok(())
    }
}

/// The first question's name (presentation form, lower case, `.` for the
/// root) and type, or `None` when the query has no readable question.
fn question(query: &[u8]) -> Option<(String, u16)> {
    if get_u16(query, at::QDCOUNT)? == 0 {
        return None;
    }
    let end = skip_name(query, HEADER_LEN)?;
    let qtype = get_u16(query, end)?;
    let name = name_text_at(query, HEADER_LEN)?;
    Some((if name.is_empty() { ".".into() } else { name }, qtype))
}

/// A type's mnemonic, or `TYPE123` for one without (RFC 3597 §5).
struct TypeText(u16);

impl fmt::Display for TypeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match RecordType::from(self.0) {
            RecordType::Unknown(n) => write!(f, "TYPE{n}"),
            t => f.write_str(t.into()),
        }
    }
}

/// The header RCODE's name (RFC 1035 §4.1.1, RFC 2136 §2.2).
fn rcode_text(rc: u8) -> &'static str {
    match rc {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => "RCODE11-15",
    }
}

/// A request to the DNS task from the control socket.
pub enum Command {
    /// `hamasq log-queries [on|off]`: switches query logging (`None`: only
    /// asks) and answers with the state as text. The switch holds until
    /// the next one or the next reload, which applies `[dns] log-queries`.
    LogQueries(Option<bool>, tokio::sync::oneshot::Sender<String>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::resolver::error_reply_into;
    use crate::testkit::dns_query;

    fn line(client: &str, tcp: bool, query: &[u8], reply: &[u8], source: Source) -> String {
        QueryLine {
            client: client.parse().unwrap(),
            tcp,
            query,
            reply,
            source,
        }
        .to_string()
    }

    #[test]
    fn a_line_names_client_name_type_source_and_rcode() {
        let q = dns_query(7, "WWW.Example.com", 1u16).bytes();
        let mut nx = Vec::new();
        error_reply_into(&q, 3, &mut nx);
        let up = Source::Upstream("192.0.2.53:53".parse().unwrap());
        assert_eq!(
            line("192.168.1.20", false, &q, &nx, up),
            "client=192.168.1.20 name=www.example.com type=A source=upstream \
             server=192.0.2.53 rcode=NXDOMAIN"
        );
        let other = Source::Upstream("192.0.2.53:5353".parse().unwrap());
        assert!(
            line("10.0.0.1", true, &q, &nx, other)
                .ends_with("source=upstream server=192.0.2.53#5353 rcode=NXDOMAIN proto=tcp")
        );
        let mut ok = Vec::new();
        error_reply_into(&q, 0, &mut ok);
        for (s, word) in [
            (Source::Cache, "cache"),
            (Source::Stale, "stale"),
            (Source::Local, "local"),
            (Source::Blocked, "blocked"),
            (Source::Failed, "failed"),
        ] {
            let l = line("10.0.0.1", false, &q, &ok, s);
            assert!(l.ends_with(&format!(" source={word} rcode=NOERROR")), "{l}");
        }
    }

    #[test]
    fn odd_names_and_types_stay_one_readable_value() {
        // A space and a newline in a label, an unassigned type.
        let q = dns_query(7, "a b\nc.example", 65_000u16).bytes();
        let mut r = Vec::new();
        error_reply_into(&q, 2, &mut r);
        let l = line("10.0.0.1", false, &q, &r, Source::Failed);
        assert_eq!(
            l,
            "client=10.0.0.1 name=a\\032b\\010c.example type=TYPE65000 source=failed rcode=SERVFAIL"
        );
        // The root, and a query without a question.
        let root = dns_query(7, "", 2u16).bytes();
        assert!(line("10.0.0.1", false, &root, &r, Source::Local).contains("name=. type=NS"));
        let mut bare = q[..HEADER_LEN].to_vec();
        bare[5] = 0;
        assert!(line("10.0.0.1", false, &bare, &[], Source::Local).contains("name=- type=- "));
        assert!(line("10.0.0.1", false, &bare, &[], Source::Local).ends_with("rcode=-"));
    }
}
