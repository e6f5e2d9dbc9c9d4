//! Reply selection: which configured options go into a reply, in what
//! order (see the module doc of [`super`]).

use super::grammar::OptionSpec;
use super::table::*;

/// Sent even when the client's option 55 does not list them (dnsmasq's
/// behaviour for its netmask and broadcast defaults).
pub const ALWAYS_SEND: [u8; 2] = [1, 28];

/// T1 and T2: the reply builder computes them; [`select_options`] skips them.
pub const SERVER_COMPUTED: [u8; 2] = [58, 59];

// ---- reply selection ---------------------------------------------------------

/// Whether a spec's tags match a client's: every `TAG` set, every `!TAG`
/// not set (case-sensitive, as dnsmasq).
pub fn tags_match(spec_tags: &[String], client_tags: &[&str]) -> bool {
    spec_tags.iter().all(|t| match t.strip_prefix('!') {
        Some(neg) => !client_tags.contains(&neg),
        None => client_tags.contains(&t.as_str()),
    })
}

/// The first spec for `code` in precedence order (e.g. a configured T1).
pub fn first_wins<'a, I>(applicable: I, code: u8) -> Option<&'a OptionSpec>
where
    I: IntoIterator<Item = &'a OptionSpec>,
{
    applicable.into_iter().find(|s| s.code == code)
}

#[derive(Clone, Copy)]
struct Cand<'a> {
    data: &'a [u8],
    force: bool,
}

/// The options to send, in order (module docs, "Reply selection").
/// `applicable` must already be filtered by tag and ordered most specific
/// first; the first spec per code wins.
pub fn select_options<'a, I>(prl: Option<&[u8]>, applicable: I) -> Vec<(u8, Vec<u8>)>
where
    I: IntoIterator<Item = &'a OptionSpec>,
{
    select_cands(
        prl,
        applicable.into_iter().map(|s| {
            (
                s.code,
                Cand {
                    data: &s.data,
                    force: s.force,
                },
            )
        }),
    )
}

/// [`select_options`] over a whole configured list: keeps the specs whose
/// tags match `client_tags`, ranks tagged matches above untagged ones
/// (dnsmasq: a matching tagged option overrides an untagged one; within a
/// rank, file order), then the server's `defaults` (netmask, router, DNS,
/// ...) last, so any configured value or empty mask overrides them.
pub fn select(
    prl: Option<&[u8]>,
    configured: &[OptionSpec],
    client_tags: &[&str],
    defaults: &[(u8, Vec<u8>)],
) -> Vec<(u8, Vec<u8>)> {
    let matching = || {
        configured
            .iter()
            .filter(|s| tags_match(&s.tags, client_tags))
    };
    let tagged = matching().filter(|s| !s.tags.is_empty());
    let untagged = matching().filter(|s| s.tags.is_empty());
    let specs = tagged.chain(untagged).map(|s| {
        (
            s.code,
            Cand {
                data: &s.data,
                force: s.force,
            },
        )
    });
    let defs = defaults
        .iter()
        .map(|(code, data)| (*code, Cand { data, force: false }));
    select_cands(prl, specs.chain(defs))
}

fn never_selected(code: u8) -> bool {
    SERVER_COMPUTED.contains(&code)
        || matches!(by_code(code).map(|d| d.kind), Some(Kind::Refused(_)))
}

fn select_cands<'a>(
    prl: Option<&[u8]>,
    cands: impl Iterator<Item = (u8, Cand<'a>)>,
) -> Vec<(u8, Vec<u8>)> {
    let mut win: [Option<Cand<'a>>; 256] = [None; 256];
    for (code, c) in cands {
        let slot = &mut win[usize::from(code)];
        if slot.is_none() {
            *slot = Some(c);
        }
    }
    // The value to send for a code, if any.
    let value = |code: u8| -> Option<&'a [u8]> {
        if never_selected(code) {
            return None;
        }
        let c = win[usize::from(code)]?;
        if c.data.is_empty() && empty_means_do_not_send(code) {
            return None;
        }
        Some(c.data)
    };
    let requested = |code: u8| prl.is_some_and(|p| p.contains(&code));

    let mut out: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut sent = [false; 256];
    let mut push = |out: &mut Vec<(u8, Vec<u8>)>, code: u8, data: &[u8]| {
        if !sent[usize::from(code)] {
            sent[usize::from(code)] = true;
            out.push((code, data.to_vec()));
        }
    };
    match prl {
        Some(prl) => {
            for &code in prl {
                if code == 249 && win[249].is_none() {
                    // Microsoft's 249 has 121's format (MS-DHCPE §2.2.8).
                    if let Some(d) = value(121) {
                        push(&mut out, 249, d);
                    }
                } else if let Some(d) = value(code) {
                    push(&mut out, code, d);
                }
            }
            for code in 0..=255u8 {
                if win[usize::from(code)].is_some_and(|c| c.force)
                    && code != 108
                    && let Some(d) = value(code)
                {
                    push(&mut out, code, d);
                }
            }
            for code in ALWAYS_SEND {
                if let Some(d) = value(code) {
                    push(&mut out, code, d);
                }
            }
        }
        None => {
            for code in 0..=255u8 {
                // RFC 8925 §3.3: 108 only when listed in option 55.
                if code == 108 {
                    continue;
                }
                if let Some(d) = value(code) {
                    push(&mut out, code, d);
                }
            }
        }
    }
    // RFC 3442: when sending 121 to a client that asked for it, SHOULD NOT
    // include the Router or Static Routes options.
    if requested(121) && out.iter().any(|(c, _)| *c == 121) {
        out.retain(|(c, _)| *c != 3 && *c != 33);
    }
    // RFC 2132 §3.3: the subnet mask MUST come before the router option.
    let pos = |out: &[(u8, Vec<u8>)], code: u8| out.iter().position(|(c, _)| *c == code);
    if let (Some(m), Some(r)) = (pos(&out, 1), pos(&out, 3))
        && m > r
    {
        let mask = out.remove(m);
        out.insert(r, mask);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(code: u8, d: &[u8], force: bool) -> OptionSpec {
        OptionSpec {
            tags: vec![],
            code,
            data: d.to_vec(),
            force,
        }
    }

    fn codes(out: &[(u8, Vec<u8>)]) -> Vec<u8> {
        out.iter().map(|(c, _)| *c).collect()
    }

    #[test]
    fn prl_order_then_forced_then_always_sent() {
        let specs = [
            spec(6, &[10, 0, 0, 53], false),
            spec(42, &[10, 0, 0, 123], false),
            spec(15, b"lan", false),
            spec(1, &[255, 255, 255, 0], false),
            spec(28, &[10, 0, 0, 255], false),
            spec(100, b"UTC0", true),
            spec(66, b"tftp", false),
        ];
        let cases: &[(Option<&[u8]>, &[u8])] = &[
            (Some(&[15, 6, 42]), &[15, 6, 42, 100, 1, 28]),
            (Some(&[42, 42, 6]), &[42, 6, 100, 1, 28]),
            (Some(&[28, 1, 6]), &[28, 1, 6, 100]),
            (Some(&[]), &[100, 1, 28]),
            // Not requested and not forced: 66 is not sent.
            (Some(&[66]), &[66, 100, 1, 28]),
            (None, &[1, 6, 15, 28, 42, 66, 100]),
        ];
        for (prl, want) in cases {
            assert_eq!(codes(&select_options(*prl, &specs)), *want, "{prl:?}");
        }
    }

    #[test]
    fn first_spec_per_code_wins_and_empty_masks() {
        let reservation = spec(6, &[1, 1, 1, 1], false);
        let global = spec(6, &[9, 9, 9, 9], false);
        let out = select_options(Some(&[6]), [&reservation, &global]);
        assert_eq!(out, [(6, vec![1, 1, 1, 1])]);
        // An empty router at a more specific level masks the global one.
        let mask = spec(3, &[], false);
        let router = spec(3, &[10, 0, 0, 1], false);
        assert!(select_options(Some(&[3]), [&mask, &router]).is_empty());
        // Byte-valued options with no value are sent empty.
        let empty43 = spec(43, &[], true);
        assert_eq!(select_options(Some(&[]), [&empty43]), [(43, vec![])]);
        assert_eq!(first_wins([&reservation, &global], 6), Some(&reservation));
    }

    #[test]
    fn special_cases_in_selection() {
        // 108 only when requested, even if forced (RFC 8925 §3.3).
        let v6 = spec(108, &[0, 0, 7, 8], true);
        assert!(select_options(Some(&[1]), [&v6]).is_empty());
        assert!(select_options(None, [&v6]).is_empty());
        assert_eq!(codes(&select_options(Some(&[108]), [&v6])), [108]);
        // Server-owned and server-computed codes never come out.
        let bad = [
            spec(53, &[5], true),
            spec(58, &[0, 0, 0, 9], true),
            spec(255, &[], true),
        ];
        assert!(select_options(Some(&[53, 58, 255]), &bad).is_empty());
        // RFC 2132 §3.3: mask before router whatever the request order.
        let mr = [
            spec(3, &[10, 0, 0, 1], false),
            spec(1, &[255, 0, 0, 0], false),
        ];
        assert_eq!(codes(&select_options(Some(&[3, 6, 1]), &mr)), [1, 3]);
        assert_eq!(codes(&select_options(Some(&[3]), &mr)), [1, 3]);
    }

    #[test]
    fn classless_routes_in_selection() {
        let routes = [
            spec(121, &[0, 10, 0, 0, 1], false),
            spec(3, &[10, 0, 0, 1], false),
            spec(33, &[10, 1, 0, 0, 10, 0, 0, 1], false),
        ];
        // Requested 121: 3 and 33 are left out (RFC 3442 SHOULD NOT).
        assert_eq!(codes(&select_options(Some(&[121, 3, 33]), &routes)), [121]);
        // A client without 121 support gets 3 and 33.
        assert_eq!(codes(&select_options(Some(&[3, 33]), &routes)), [3, 33]);
        // 249 only if requested; it carries 121's value when not configured.
        let out = select_options(Some(&[249, 3]), &routes);
        assert_eq!(out, [(249, vec![0, 10, 0, 0, 1]), (3, vec![10, 0, 0, 1])]);
        assert_eq!(codes(&select_options(None, &routes)), [3, 33, 121]);
        let explicit = [spec(249, &[8, 10, 10, 0, 0, 1], false), routes[0].clone()];
        assert_eq!(
            select_options(Some(&[249]), &explicit),
            [(249, vec![8, 10, 10, 0, 0, 1])]
        );
    }

    #[test]
    fn select_filters_tags_and_ranks_defaults_last() {
        let mut tagged = spec(6, &[2, 2, 2, 2], false);
        tagged.tags = vec!["lan".into()];
        let mut not_guest = spec(42, &[3, 3, 3, 3], false);
        not_guest.tags = vec!["!guest".into()];
        let configured = [spec(6, &[1, 1, 1, 1], false), tagged, not_guest];
        let defaults = [
            (3, vec![10, 0, 0, 1]),
            (6, vec![10, 0, 0, 1]),
            (28, vec![10, 0, 0, 255]),
        ];
        let out = select(Some(&[6, 42, 3]), &configured, &["lan"], &defaults);
        assert_eq!(
            out,
            [
                (6, vec![2, 2, 2, 2]),
                (42, vec![3, 3, 3, 3]),
                (3, vec![10, 0, 0, 1]),
                (28, vec![10, 0, 0, 255])
            ]
        );
        let out = select(Some(&[6, 42]), &configured, &["guest"], &defaults);
        assert_eq!(out, [(6, vec![1, 1, 1, 1]), (28, vec![10, 0, 0, 255])]);
        assert!(tags_match(&[], &[]));
        assert!(!tags_match(&["a".into()], &[]));
    }
}
