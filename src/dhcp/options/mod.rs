//! DHCPv4 options: dnsmasq's names, the `dhcp-option` value grammar, the
//! encoding of each value kind, and which options go into a reply.
//!
//! # Names
//!
//! [`OPTIONS`] maps dnsmasq's option names (its `opttab`, written
//! `option:NAME`, matched case-insensitively as dnsmasq does) to codes and
//! value [`Kind`]s. One name is hamasq's own: `ms-classless-static-route`
//! (249, which dnsmasq has no name for). dnsmasq's
//! `server-ip-address` is not an option at all (it sets the BOOTP `siaddr`
//! header field) and is refused with a pointer to the boot settings; option
//! 150 is `tftp-server-address`.
//!
//! # Value grammar (`dhcp-option` / `dhcp-option-force`)
//!
//! `[tag:TAG,]...[tag:TAG,]OPTION[,VALUE...]`, where OPTION is
//! `option:NAME` or a decimal code 1-254. `net:TAG` is accepted as
//! dnsmasq's old spelling of `tag:TAG`; `tag:!TAG` (sent only when TAG is
//! *not* set) is kept with its `!`. `encap:`, `vi-encap:`, `vendor:` and
//! `option6:` are refused with a reason. Commas inside double quotes do not
//! split; inside quotes `\"` and `\\` are escapes and every other backslash
//! is literal (Windows boot paths survive).
//!
//! Values by kind:
//!
//! - addresses: `192.168.1.1[,192.168.1.2...]`; an address with a prefix
//!   length is refused outside 121/249. dnsmasq's `0.0.0.0` = "this server"
//!   is kept literally here and substituted when a reply is built
//!   ([`substitute_self_address`]).
//! - numbers: decimal, range-checked per option (e.g. `mtu` ≥ 68, RFC 2132
//!   §5.1); times (`T1`, `T2`, `ipv6-only`) also take `s/m/h/d/w` suffixes
//!   and `infinite`.
//! - text: `"quoted"` or bare; a bare text is the rest of the line, commas
//!   included (`option:posix-timezone,EST5EDT,M3.2.0,M11.1.0`). Because the
//!   table knows the kind, `option:tftp-server,1.2.3.4` is the *text*
//!   "1.2.3.4": dnsmasq needs quotes there, we accept both. NVT ASCII
//!   without a trailing NUL (RFC 2132 §2).
//! - domain lists (119): RFC 1035 §3.1 wire names without compression
//!   (RFC 3397 §2 allows but does not require it).
//! - SIP servers (120): all addresses (enc 1) or all names (enc 0), RFC
//!   3361 §3; never mixed.
//! - classless routes (121, 249): `DEST/WIDTH,ROUTER[,DEST/WIDTH,ROUTER...]`
//!   encoded as RFC 3442's width byte + ceil(width/8) significant octets +
//!   router; widths over 32 and host bits set beyond the width are refused.
//! - `static-route` (33) and `policy-filter` (21): address pairs; a 0.0.0.0
//!   destination in 33 is refused (RFC 2132 §5.8).
//! - bytes (43, 125): colon hex `01:04:c0:a8:01:02`, or a quoted string.
//! - unknown codes: guessed like dnsmasq: all IPv4 → address list, one
//!   colon-hex token → bytes, one decimal → the smallest of 1/2/4 bytes
//!   (`b`/`s`/`i` suffix forces the size), one quoted token → its text,
//!   anything else → the bare text.
//!
//! Encoded values may exceed 255 bytes (the wire layer splits them, RFC
//! 3396) but are capped at [`MAX_VALUE_LEN`].
//!
//! # No value
//!
//! `option:router` alone (dnsmasq: "don't include this option"). dnsmasq
//! treats an empty value as *do not send* for the options it has defaults
//! for (1, 3, 6, 12, 15, 28) and as *send zero-length* for every other code.
//! hamasq keeps the first half and narrows the second: an empty value means
//! *do not send* for every known option whose RFC gives it a minimum length
//! (a zero-length router or NTP list is malformed), and *send zero-length*
//! only for byte-valued and unknown codes. Either way, under first-wins
//! precedence an empty value at a more specific level masks a value (or a
//! server default) at a less specific one.
//!
//! # Codes the server owns
//!
//! Refused with a reason ([`Kind::Refused`]): 0 and 255 (framing), 50, 55,
//! 57, 61, 77, 93, 94, 97, 118 (sent by clients or relays), 51 (the lease
//! time comes from the range or reservation: RFC 2131 §4.3.1 Table 3
//! requires it in OFFER and ACK-to-REQUEST and forbids it in ACK-to-INFORM,
//! so only the server can place it), 52, 53, 54, 56 (Table 3: MUST NOT in
//! OFFER/ACK), 80 (rapid commit is a setting, RFC 4039), 81 (built from the
//! client's own option 81, RFC 4702), 82 (relays add it, servers only echo
//! it, RFC 3046 §2.2). Option 12 is accepted only without a value ("do not
//! send the host name"); the name itself comes from the reservation.
//!
//! # Reply selection ([`select_options`], [`select`])
//!
//! - First one per code wins; the caller passes candidates most specific
//!   first (reservation > range > subnet > global > server defaults).
//! - With a parameter request list (55): requested options first, in the
//!   order requested (RFC 2132 §9.8: the server "MUST try to insert the
//!   requested options in the order requested by the client"), each once
//!   (RFC 2131 §4.3.1); then `dhcp-option-force` options not requested
//!   (ascending code); then [`ALWAYS_SEND`] (1 and 28) if not yet sent.
//!   That last set follows dnsmasq, which sends its netmask and broadcast
//!   defaults unrequested but router, DNS and domain only when requested.
//! - Without option 55: every applicable option, ascending code (dnsmasq:
//!   "if no requested options, send everything").
//! - 108 (IPv6-only preferred) is never sent unless requested, even when
//!   forced (RFC 8925 §3.3: MUST NOT).
//! - A client that requests 249 (Microsoft's pre-standard code, same format,
//!   MS-DHCPE §2.2.8) while 249 is not configured gets 121's value as 249;
//!   that copy is never sent unrequested.
//! - RFC 3442 ("DHCP Client Behavior"): a client that gets 121 MUST ignore
//!   3 and 33, and "the server SHOULD NOT include the Router or Static
//!   Routes options" when the client requested 121 and it is being sent. We
//!   follow the SHOULD NOT (dnsmasq sends both). A router that only 3
//!   carries is therefore lost on such clients: [`classless_lacks_default`]
//!   lets config validation warn that 121 needs a `0.0.0.0/0` route.
//! - RFC 2132 §3.3: if both 1 and 3 are sent, 1 comes first.
//! - 0, 255, [`SERVER_COMPUTED`] (58, 59: the reply builder computes T1/T2
//!   from the lease, RFC 2131 §4.4.5, using a configured value from
//!   [`first_wins`] if any, as dnsmasq does) and every refused code are never
//!   emitted here even if a caller built such a spec by hand.
//!
//! # Files
//!
//! - `table.rs`: the name table ([`OPTIONS`]) and the value kinds.
//! - `grammar.rs`: the `dhcp-option` grammar ([`parse_dhcp_option`]).
//! - `encode.rs`: the encoders of the structured kinds (119, 121/249) and
//!   [`substitute_self_address`].
//! - `select.rs`: which options go into a reply ([`select`]).

mod encode;
mod grammar;
mod select;
mod table;

pub use encode::*;
pub use grammar::*;
pub use select::*;
pub use table::*;

/// Test helpers shared by the files' tests.
#[cfg(test)]
mod fixtures {
    use super::*;
    use std::net::Ipv4Addr;

    pub(super) fn ok(v: &str) -> OptionSpec {
        parse_dhcp_option(v, false).unwrap_or_else(|e| panic!("{v:?}: {e}"))
    }

    pub(super) fn data(v: &str) -> Vec<u8> {
        ok(v).data
    }

    pub(super) fn err(v: &str) -> String {
        match parse_dhcp_option(v, false) {
            Ok(s) => panic!("{v:?} parsed as {s:?}"),
            Err(e) => e,
        }
    }

    pub(super) fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }
}
