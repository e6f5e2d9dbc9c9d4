//! The DHCPv4 server core: sans-IO, one function per RFC 2131 §4.3 case.
//!
//! [`Server::handle`] takes `now` and one decoded request and returns an
//! [`Outcome`]: silence (with the reason, for counters) or a reply plus the
//! lease changes that must be durable **before** the reply is sent (design
//! §5: the driver commits the batch, then sends). Bindings are updated in
//! memory at once and each change is remembered until the driver reports
//! its commit durable ([`Server::committed`]); if the commit fails the
//! driver drops the reply and the bindings go back to what is on disk
//! ([`Server::roll_back`]), so no ACK ever leaves for a lease that is not
//! on disk and no binding stays that the disk does not hold.
//!
//! | message | RFC 2131 | handled by |
//! |---|---|---|
//! | DHCPDISCOVER | §4.3.1 | [`Server::discover`] |
//! | DHCPREQUEST, SELECTING (option 54 present) | §4.3.2 | [`Server::request_selecting`] |
//! | DHCPREQUEST, INIT-REBOOT (50, no 54, ciaddr 0) | §4.3.2 | [`Server::request_init_reboot`] |
//! | DHCPREQUEST, RENEWING (unicast, ciaddr) / REBINDING (broadcast, ciaddr) | §4.3.2 | [`Server::request_renew_rebind`] |
//! | DHCPDECLINE | §4.3.3 | [`Server::decline`] |
//! | DHCPRELEASE | §4.3.4 | [`Server::release`] |
//! | DHCPINFORM | §4.3.5 | [`Server::inform`] |
//!
//! Replies are addressed per §4.1 ([`destination`]).

use std::net::Ipv4Addr;
use std::time::Duration;

use super::allocate::{Ask, Holds, Source, choose, reclaim};
use super::binding::{ClientKey, HwAddr, Lease};
use super::bindings::LeaseDb;
use super::config::{Boot, DhcpConfig, HostCfg, LeaseTime};
use super::gate::{self, Msg, Verdict};
use super::host_table::HostTable;
use super::leases::Change;
use super::options::OptionSpec;
use super::subnet::{Reservations, Subnet};
use super::{names, options};
use crate::clock::{Mono, UnixTime};
use crate::net::IfAddr;
use crate::vrrp::Role;

/// DHCP message types (RFC 2132 §9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgType {
    Discover,
    Offer,
    Request,
    Decline,
    Ack,
    Nak,
    Release,
    Inform,
    Other(u8),
}

impl MsgType {
    pub fn from_u8(v: u8) -> MsgType {
        match v {
            1 => MsgType::Discover,
            2 => MsgType::Offer,
            3 => MsgType::Request,
            4 => MsgType::Decline,
            5 => MsgType::Ack,
            6 => MsgType::Nak,
            7 => MsgType::Release,
            8 => MsgType::Inform,
            x => MsgType::Other(x),
        }
    }

    /// dnsmasq's DHCPDISCOVER .. DHCPINFORM as a log word.
    pub fn name(self) -> &'static str {
        match self {
            MsgType::Discover => "discover",
            MsgType::Offer => "offer",
            MsgType::Request => "request",
            MsgType::Decline => "decline",
            MsgType::Ack => "ack",
            MsgType::Nak => "nak",
            MsgType::Release => "release",
            MsgType::Inform => "inform",
            MsgType::Other(_) => "other",
        }
    }

    pub fn code(self) -> u8 {
        match self {
            MsgType::Discover => 1,
            MsgType::Offer => 2,
            MsgType::Request => 3,
            MsgType::Decline => 4,
            MsgType::Ack => 5,
            MsgType::Nak => 6,
            MsgType::Release => 7,
            MsgType::Inform => 8,
            MsgType::Other(x) => x,
        }
    }
}

/// The parts of a request the core decides on (built from the wire
/// packet by the driver, or directly by tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Req {
    pub msg: MsgType,
    pub xid: u32,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub hw: HwAddr,
    pub client_id: Option<Vec<u8>>,
    pub requested: Option<Ipv4Addr>,
    pub server_id: Option<Ipv4Addr>,
    pub prl: Option<Vec<u8>>,
    /// DHCP payload bytes the reply may use (option 57 minus IP/UDP).
    pub max_len: usize,
    pub hostname: Option<Vec<u8>>,
    /// Option 81 raw.
    pub fqdn: Option<Vec<u8>>,
    /// Option 82 raw, echoed whole (RFC 3046 §2.2).
    pub relay_info: Option<Vec<u8>>,
    /// RFC 3011 option 118 or RFC 3527 RAI sub-option 5.
    pub subnet_select: Option<Ipv4Addr>,
    /// Arrived unicast to one of our addresses (RENEWING vs REBINDING).
    pub unicast: bool,
    /// The interface it arrived on (index), for local subnets.
    pub ifindex: Option<u32>,
}

pub const FLAG_BROADCAST: u16 = 0x8000;

/// Where a reply goes (RFC 2131 §4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// `giaddr` ≠ 0: to the relay, server port 67.
    Relay(Ipv4Addr),
    /// `ciaddr` ≠ 0: unicast to the client, port 68.
    Client(Ipv4Addr),
    /// 255.255.255.255:68 on the arrival interface.
    Broadcast,
    /// To `yiaddr` at `chaddr` without ARP (raw send or ARP entry; the driver
    /// falls back to broadcast when it cannot).
    Hardware(Ipv4Addr, HwAddr),
}

/// Where a reply leaves from, as the source a quinn-proto `Transmit`
/// carries: the driver needs nothing else to send it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The address it is sent from: our server identifier (option 54), so
    /// the client hears the server it will talk to (the VIP in a pair).
    pub addr: Ipv4Addr,
    /// For a reply on the link (broadcast, or unicast to a client without
    /// an address yet, RFC 2131 §4.1) the interface the request came in
    /// by; 0 for a routed one (to a relay, or to the client's `ciaddr`).
    pub ifindex: u32,
}

impl Origin {
    fn of(addr: Ipv4Addr, to: &Destination, req: &Req) -> Origin {
        let ifindex = match to {
            Destination::Broadcast | Destination::Hardware(..) => req.ifindex.unwrap_or(0),
            Destination::Relay(_) | Destination::Client(_) => 0,
        };
        Origin { addr, ifindex }
    }
}

/// Why nothing was sent; each one is a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Silence {
    /// No subnet of ours matches (giaddr, option 118, interface).
    NotForUs,
    /// The client's reservation says `ignore`.
    Ignored,
    /// No free address in our ranges.
    PoolExhausted,
    /// `dhcp-lease-max` reached.
    LeaseMax,
    /// SELECTING with another server's identifier (RFC 2131 §4.3.2).
    OtherServer,
    /// INIT-REBOOT / RENEW / REBIND for an address we know nothing about
    /// and may not NAK (not authoritative, RFC 2131 §4.3.2).
    NoRecord,
    /// DECLINE or RELEASE handled; no reply by definition.
    NoReplyNeeded,
    /// A message type a server does not answer (OFFER, ACK, ...).
    NotARequest,
    /// The subnet's VRRP instance is not Active (design §4, [`gate`]).
    Gated,
}

impl Silence {
    /// A log word.
    pub fn name(self) -> &'static str {
        match self {
            Silence::NotForUs => "not_for_us",
            Silence::Ignored => "ignored",
            Silence::PoolExhausted => "pool_exhausted",
            Silence::LeaseMax => "lease_max",
            Silence::OtherServer => "other_server",
            Silence::NoRecord => "no_record",
            Silence::NoReplyNeeded => "no_reply_needed",
            Silence::NotARequest => "not_a_request",
            Silence::Gated => "gated",
        }
    }
}

/// What the core decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Silent(Silence),
    Reply(Answer),
    /// No reply, but changes to store (DECLINE, RELEASE).
    Store(Vec<Change>, Silence),
}

/// What [`Server::apply_peer`] did with a peer's change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerApplied {
    /// To store (and nothing else changed if empty).
    pub store: Vec<Change>,
    pub conflict: Option<PeerConflict>,
}

/// Two clients held one address on the two boxes; the same client wins
/// on both (see [`super::merge`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerConflict {
    pub ip: Ipv4Addr,
    pub kept: HwAddr,
    pub lost: HwAddr,
}

/// A reply to send once `changes` are durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub msg: MsgType,
    pub xid: u32,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub hw: HwAddr,
    pub sname: Option<String>,
    pub file: Option<String>,
    /// In send order; 82 is moved last by the encoder.
    pub options: Vec<(u8, Vec<u8>)>,
    pub to: Destination,
    pub origin: Origin,
    pub max_len: usize,
    pub changes: Vec<Change>,
    /// An OFFER of an address this client never held: with `dhcp-ping`
    /// the driver probes it before sending (RFC 2131 §2.2 "SHOULD probe").
    pub probe: bool,
}

/// Current time, both kinds (clock.rs): protocol timers and lease expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    pub mono: Mono,
    pub wall: UnixTime,
}

/// Settings the core needs, from `[dhcp]` joined with the interfaces.
#[derive(Clone, Debug)]
pub struct Plan {
    pub subnets: Vec<Subnet>,
    pub reservations: Reservations,
    pub options: Vec<OptionSpec>,
    pub boot: Option<Boot>,
    pub lease_max: u32,
    pub authoritative: bool,
    pub decline_time: Duration,
    pub offer_time: Duration,
    /// Overrides the server identifier (the VIP in an HA pair).
    pub server_id: Option<Ipv4Addr>,
    /// Every IPv4 address of this machine, for the server identifier on a
    /// relayed subnet and to recognise our identifiers in requests.
    pub local_addrs: Vec<IfAddr>,
    /// This box answers DNS on port 53: local subnets get this server (the
    /// VIP in an HA pair) as their DNS server unless `dns-server` is set.
    pub dns_server: bool,
    /// `[dns] domain`: sent as the domain name (option 15) unless a
    /// `dhcp-option` for 15 matches the client, as dnsmasq's `domain=`.
    pub domain: Option<String>,
    /// `[ha] mclt` with a pair link (design §9): see [`Server::set_peer_synced`].
    pub mclt: Option<Duration>,
}

impl Plan {
    pub fn new(cfg: &DhcpConfig, subnets: Vec<Subnet>) -> Plan {
        Plan {
            subnets,
            reservations: Reservations::new(cfg.hosts.clone()),
            options: cfg.options.clone(),
            boot: cfg.boot.clone(),
            lease_max: cfg.lease_max,
            authoritative: cfg.authoritative,
            decline_time: cfg.decline_time,
            offer_time: cfg.offer_time,
            server_id: None,
            local_addrs: Vec::new(),
            dns_server: false,
            domain: None,
            mclt: None,
        }
    }
}

/// The server's state: its plan, the bindings, offers and quarantine.
pub struct Server {
    plan: Plan,
    db: LeaseDb,
    holds: Holds,
    /// The last `now` given, to turn wall-clock deadlines into [`Mono`].
    seen: Option<Now>,
    /// What the last published host table was built from.
    hosts: Option<HostsBuilt>,
    /// The role of each `[vrrp]` instance, by index ([`Subnet::vrrp`]):
    /// the gate is asked with the role of the request's subnet.
    roles: Vec<Role>,
    /// Every binding changed since the last durable commit, oldest first:
    /// the address and what it held before. A failed commit undoes them
    /// ([`Server::roll_back`]), so memory never keeps what the disk lost.
    undo: Vec<(Ipv4Addr, Option<Lease>)>,
    /// The undo position of `undo[0]` (positions only grow).
    undo_base: u64,
    /// With `[ha]`: the peer link is up and this box has caught up, so the
    /// peer knows what we grant (see [`Server::set_peer_synced`]).
    peer_synced: bool,
    /// Conflicts with the peer already reported, by address and loser.
    conflicts_seen: std::collections::HashSet<(Ipv4Addr, HwAddr)>,
    /// `ipv6-names`: the IPv6 addresses each MAC uses (design §10), for
    /// AAAA names of the leases' names; empty without them.
    neighbours: std::sync::Arc<crate::neigh::Neighbours>,
}

/// Conflicts remembered for [`Server::apply_peer`]'s report-once rule.
const CONFLICTS_REMEMBERED: usize = 4096;

/// See [`Server::refresh_host_table`].
#[derive(Clone, Copy, Debug)]
struct HostsBuilt {
    at: UnixTime,
    names_gen: u64,
    /// The first expiry of a named lease in that table.
    valid_until: Option<UnixTime>,
}

/// How long a wall-clock deadline is trusted before it is re-read.
const WALL_RECHECK: Duration = Duration::from_secs(60);

/// The result of identifying the client of a request.
struct Client {
    key: ClientKey,
    host: Option<HostCfg>,
    name: Option<String>,
}

impl Server {
    pub fn new(plan: Plan, leases: Vec<Lease>) -> Server {
        Server {
            plan,
            db: LeaseDb::from_leases(leases),
            holds: Holds::default(),
            seen: None,
            hosts: None,
            roles: Vec::new(),
            undo: Vec::new(),
            undo_base: 0,
            peer_synced: false,
            conflicts_seen: Default::default(),
            neighbours: Default::default(),
        }
    }

    /// The role `[vrrp]` instance number `instance` published (the driver
    /// passes each one on).
    pub fn set_role(&mut self, instance: usize, role: Role) {
        if self.roles.len() <= instance {
            self.roles.resize(instance + 1, Role::Initialize);
        }
        self.roles[instance] = role;
    }

    /// The role that gates subnet `si` (design §4): its instance's, or,
    /// for a request no subnet of ours matches, the first instance's.
    /// Standalone without VRRP; an instance not heard from yet is still
    /// in Initialize (RFC 9568 §6.4.1).
    /// What the pair link says (design §9, issue 13 item 5). With
    /// `[ha] mclt`, an ACK lasts at most the MCLT (draft-ietf-dhc-failover-12
    /// §5.2.1, "maximum client lead time") when:
    /// * the peer is not in sync: what we grant now the peer cannot know
    ///   until the link heals, so neither a claim nobody knew nor an
    ///   extension outlives the partition by more than the MCLT;
    /// * or, in sync, the claim is on an address neither store holds for
    ///   this client (a stale claim, e.g. from before a lost store): the
    ///   peer will know it within milliseconds, but a client that
    ///   misremembers gets a short lease, not an hour on an address that
    ///   may be in use.
    ///
    /// A reservation is configured on both boxes alike and is never cut.
    pub fn set_peer_synced(&mut self, synced: bool) {
        self.peer_synced = synced;
    }

    /// The lease time after the MCLT rule of [`Server::set_peer_synced`].
    fn mclt_cap(&self, lt: LeaseTime, known: bool) -> LeaseTime {
        let Some(mclt) = self.plan.mclt else {
            return lt;
        };
        if self.peer_synced && known {
            return lt;
        }
        let cap = u32::try_from(mclt.as_secs()).unwrap_or(u32::MAX);
        match lt {
            LeaseTime::Secs(s) if s <= cap => lt,
            _ => LeaseTime::Secs(cap),
        }
    }

    fn role_of(&self, si: Option<usize>) -> Role {
        match si.and_then(|i| self.plan.subnets[i].vrrp) {
            Some(v) => self.roles.get(v).copied().unwrap_or(Role::Initialize),
            None => self.roles.first().copied().unwrap_or(Role::Standalone),
        }
    }

    /// Binds `lease`, remembering what it displaced for [`Server::roll_back`];
    /// returns the displaced bindings like [`LeaseDb::insert`].
    fn bind(&mut self, lease: Lease) -> Vec<Lease> {
        let ip = lease.ip;
        let before = self.db.get(ip).map(|l| l.to_lease());
        let displaced = self.db.insert(lease);
        self.undo.push((ip, before));
        // Undone after the entry above is: the client's old binding comes
        // back first (taking the client off `ip`), then `ip` gets its own.
        self.undo.extend(
            displaced
                .iter()
                .filter(|d| d.ip != ip)
                .map(|d| (d.ip, Some(d.clone()))),
        );
        displaced
    }

    /// Removes the binding of `ip`, remembering it for [`Server::roll_back`].
    fn unbind(&mut self, ip: Ipv4Addr) -> Option<Lease> {
        let old = self.db.remove(ip);
        if let Some(l) = &old {
            self.undo.push((ip, Some(l.clone())));
        }
        old
    }

    /// The undo position after the last change: a commit of everything
    /// staged so far is durable up to here.
    pub fn undo_mark(&self) -> u64 {
        self.undo_base + self.undo.len() as u64
    }

    /// The changes up to `mark` are on disk: they can no longer be undone.
    pub fn committed(&mut self, mark: u64) {
        let n = mark
            .saturating_sub(self.undo_base)
            .min(self.undo.len() as u64);
        self.undo.drain(..n as usize);
        self.undo_base += n;
        if self.undo.capacity() > 1024 && self.undo.capacity() > 4 * self.undo.len() {
            self.undo.shrink_to_fit();
        }
    }

    /// A commit failed: every binding changed since the last durable
    /// commit goes back to what it was (design §5, "memory follows the
    /// disk"), newest first. Returns how many changes were undone.
    pub fn roll_back(&mut self) -> usize {
        let n = self.undo.len();
        while let Some((ip, before)) = self.undo.pop() {
            self.db.remove(ip);
            if let Some(l) = before {
                self.db.insert(l);
            }
        }
        self.undo_base += n as u64;
        n
    }

    /// Applies a reloaded config, keeping every binding.
    pub fn reconfigure(&mut self, plan: Plan) {
        self.plan = plan;
        self.hosts = None;
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Addresses under DECLINE (or ping-conflict) quarantine.
    pub fn quarantined(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.holds.quarantined_addrs().map(|(ip, _)| ip)
    }

    pub fn db(&self) -> &LeaseDb {
        &self.db
    }

    /// The one entry point. The HA gate's first rows (the role, the
    /// message) are asked before anything else, so a Backup neither
    /// answers nor changes any state (design §4).
    pub fn handle(&mut self, now: Now, req: &Req) -> Outcome {
        // Expired offers and quarantines are ignored by every check (their
        // deadline is compared with `now`) and swept by `handle_timeout`.
        self.seen = Some(now);
        let msg = self.gate_msg(req);
        let role = self.role_of(self.subnet_for(req));
        match gate::decide(role, msg, None, self.plan.authoritative) {
            Verdict::Answer => {}
            Verdict::Silent(s) => {
                if msg == Msg::SelectOther {
                    // "If the server identifier ... does not match the
                    // server's identifier, the server MUST NOT respond"
                    // (RFC 2131 §4.3.2); our offer is freed.
                    self.drop_offer(&ClientKey::new(req.client_id.as_deref(), req.hw));
                }
                return Outcome::Silent(s);
            }
            Verdict::Nak(why) => return self.nak(req, why),
        }
        match msg {
            Msg::Discover => self.discover(now, req),
            Msg::Select => self.request_selecting(now, req),
            Msg::InitReboot => self.request_init_reboot(now, req),
            Msg::Renew => self.request_renew_rebind(now, req),
            Msg::Decline => self.decline(now, req),
            Msg::Release => self.release(now, req),
            Msg::Inform => self.inform(now, req),
            Msg::SelectOther | Msg::Other => Outcome::Silent(Silence::NotARequest),
        }
    }

    /// The message as the gate's table sees it (RFC 2131 §4.3.2 tells the
    /// REQUEST states apart by options 50/54 and ciaddr).
    fn gate_msg(&self, req: &Req) -> Msg {
        match req.msg {
            MsgType::Discover => Msg::Discover,
            MsgType::Request => match req.server_id {
                Some(id) if self.is_our_id(id) => Msg::Select,
                Some(_) => Msg::SelectOther,
                None if req.ciaddr.is_unspecified() => Msg::InitReboot,
                None => Msg::Renew,
            },
            MsgType::Decline => Msg::Decline,
            MsgType::Release => Msg::Release,
            MsgType::Inform => Msg::Inform,
            _ => Msg::Other,
        }
    }

    /// The subnet a request belongs to (RFC 2131 §4.3.1): RFC 3011/3527
    /// subnet selection first, then giaddr, then, for a unicast from a
    /// configured client (RENEWING, INFORM), the subnet of its `ciaddr`:
    /// such a packet crosses routers without a relay (§4.3.2 RENEWING), so
    /// the arrival interface says nothing about where the client is. Last,
    /// the arrival interface.
    fn subnet_for(&self, req: &Req) -> Option<usize> {
        let by_addr = |ip: Ipv4Addr| self.plan.subnets.iter().position(|s| s.contains(ip));
        if let Some(sel) = req.subnet_select {
            return by_addr(sel);
        }
        if !req.giaddr.is_unspecified() {
            return by_addr(req.giaddr);
        }
        if req.unicast
            && !req.ciaddr.is_unspecified()
            && let Some(si) = by_addr(req.ciaddr)
        {
            return Some(si);
        }
        let idx = req.ifindex?;
        self.plan
            .subnets
            .iter()
            .position(|s| s.local.as_ref().is_some_and(|l| l.index == idx))
    }

    /// Our identifier on `subnet` (option 54, RFC 2131 §4.3.1: "an
    /// address of the server reachable by the client"): the HA override
    /// (VIP), else our address on the subnet's interface. For a relayed
    /// subnet it is our address on the interface the relay's packet came
    /// in by (`ifindex`), which the relay can reach.
    fn server_id(&self, subnet: &Subnet, ifindex: Option<u32>) -> Ipv4Addr {
        if let Some(vip) = subnet.vip {
            return vip;
        }
        if let Some(id) = self.plan.server_id {
            return id;
        }
        if let Some(l) = &subnet.local {
            return l.addr;
        }
        let on_arrival = ifindex.and_then(|i| self.plan.local_addrs.iter().find(|a| a.index == i));
        on_arrival
            .or_else(|| self.plan.local_addrs.iter().find(|a| !a.addr.is_loopback()))
            .or_else(|| self.plan.subnets.iter().find_map(|s| s.local.as_ref()))
            .map_or(Ipv4Addr::UNSPECIFIED, |l| l.addr)
    }

    /// Whether a server identifier in a request is ours.
    fn is_our_id(&self, id: Ipv4Addr) -> bool {
        self.plan.server_id == Some(id)
            || self.plan.subnets.iter().any(|s| s.vip == Some(id))
            || self.plan.local_addrs.iter().any(|a| a.addr == id)
            || self
                .plan
                .subnets
                .iter()
                .any(|s| s.local.as_ref().is_some_and(|l| l.addr == id))
    }

    fn client(&self, req: &Req) -> Client {
        let key = ClientKey::new(req.client_id.as_deref(), req.hw);
        let fqdn = req.fqdn.as_deref().and_then(names::parse_fqdn);
        let sent_name = names::client_hostname(req.hostname.as_deref(), fqdn.as_ref());
        let host = self
            .plan
            .reservations
            .find(req.client_id.as_deref(), &req.hw, sent_name.as_deref())
            .cloned();
        // A name the operator gave to another reservation is not for this
        // client to take (dnsmasq refuses it too): DNS would otherwise
        // answer the reserved name with the impostor's address as well.
        let sent_name = sent_name.filter(|n| {
            !self
                .plan
                .reservations
                .hosts
                .iter()
                .any(|h| h.name.as_deref() == Some(n.as_str()) && Some(h) != host.as_ref())
        });
        // A reservation's name wins over what the client calls itself.
        let name = host.as_ref().and_then(|h| h.name.clone()).or(sent_name);
        Client { key, host, name }
    }

    fn lease_time(&self, subnet: &Subnet, ip: Ipv4Addr, c: &Client) -> LeaseTime {
        c.host
            .as_ref()
            .and_then(|h| h.lease)
            .or_else(|| subnet.own_range(ip).map(|r| r.lease))
            .or_else(|| subnet.ranges.first().map(|r| r.lease))
            .unwrap_or(LeaseTime::DEFAULT)
    }

    fn reserved_ip(c: &Client, subnet: &Subnet) -> Option<Ipv4Addr> {
        c.host
            .as_ref()
            .and_then(|h| h.ip)
            .filter(|ip| subnet.contains(*ip))
    }

    /// Whether a client without an active lease must be refused a new one
    /// (`dhcp-lease-max`). A client whose binding merely expired or was
    /// released is a new lease as far as the count goes.
    fn at_lease_max(&self, key: &ClientKey, now: Now) -> bool {
        !self
            .db
            .of_client(key)
            .is_some_and(|l| l.is_active(now.wall))
            && self.db.active_count(now.wall) >= self.plan.lease_max as usize
    }

    /// Drops the client's outstanding offer (only its own: the offers
    /// index keeps one offer per client and per address).
    fn drop_offer(&mut self, key: &ClientKey) {
        self.holds.offers.withdraw(key);
    }

    // ---- §4.3.1 DHCPDISCOVER -------------------------------------------

    pub fn discover(&mut self, now: Now, req: &Req) -> Outcome {
        let Some(si) = self.subnet_for(req) else {
            return Outcome::Silent(Silence::NotForUs);
        };
        let c = self.client(req);
        if c.host.as_ref().is_some_and(|h| h.ignore) {
            return Outcome::Silent(Silence::Ignored);
        }
        if self.at_lease_max(&c.key, now) {
            return Outcome::Silent(Silence::LeaseMax);
        }
        let subnet = &self.plan.subnets[si];
        let ask = Ask {
            key: &c.key,
            reserved: Self::reserved_ip(&c, subnet),
            requested: req.requested,
            mono: now.mono,
            wall: now.wall,
            role: self.role_of(Some(si)),
            authoritative: self.plan.authoritative,
        };
        let res = &self.plan.reservations;
        let Some((ip, src)) = choose(subnet, res, &self.db, &self.holds, &ask).or_else(|| {
            reclaim(
                subnet,
                res,
                &self.db,
                &self.holds,
                &ask,
                self.plan.offer_time,
            )
            .map(|ip| (ip, Source::Reclaimed))
        }) else {
            return Outcome::Silent(Silence::PoolExhausted);
        };
        let lease = self.lease_time(subnet, ip, &c);
        // Offers live in memory only, briefly: a DISCOVER flood cannot
        // exhaust the pool or write to flash.
        let until = now.mono + self.plan.offer_time;
        self.holds.offers.offer(ip, c.key.clone(), until);
        let subnet = &self.plan.subnets[si];
        let mut answer = self.answer(req, subnet, &c, MsgType::Offer, ip, Some(lease), Vec::new());
        answer.probe = matches!(src, Source::Hashed | Source::Requested | Source::Reclaimed)
            && self.db.get(ip).is_none_or(|l| !l.is_client(&c.key));
        Outcome::Reply(answer)
    }

    /// The driver found `ip` answering a ping before we offered it: some
    /// host uses it without a lease. It is quarantined like a DECLINEd
    /// address (RFC 2131 §2.2, §4.3.3) and any offer of it is dropped.
    pub fn mark_in_use(&mut self, now: Now, ip: Ipv4Addr) {
        self.holds.quarantine(ip, now.mono + self.plan.decline_time);
        self.holds.offers.unoffer(ip);
    }

    // ---- §4.3.2 DHCPREQUEST ----------------------------------------------

    /// SELECTING: the client chose us among the offers (one naming
    /// another server was answered by the gate, in [`Server::handle`]).
    fn request_selecting(&mut self, now: Now, req: &Req) -> Outcome {
        let Some(ip) = req.requested else {
            // SELECTING without option 50 is malformed (RFC 2131 Table 5).
            return self.nak(req, "selecting without a requested address");
        };
        self.commit_ack(now, req, ip, Msg::Select)
    }

    /// INIT-REBOOT: a client that knows its address after a reboot.
    fn request_init_reboot(&mut self, now: Now, req: &Req) -> Outcome {
        let Some(ip) = req.requested else {
            return Outcome::Silent(Silence::NotARequest);
        };
        self.commit_ack(now, req, ip, Msg::InitReboot)
    }

    /// RENEWING (unicast) and REBINDING (broadcast): `ciaddr` is the address.
    fn request_renew_rebind(&mut self, now: Now, req: &Req) -> Outcome {
        self.commit_ack(now, req, req.ciaddr, Msg::Renew)
    }

    /// The shared decision of the REQUEST states: the gate's table
    /// ([`gate::decide`]) says ACK (and record), NAK or silence.
    fn commit_ack(&mut self, now: Now, req: &Req, ip: Ipv4Addr, msg: Msg) -> Outcome {
        let si = match self.subnet_for(req) {
            Some(si) => si,
            None => return Outcome::Silent(Silence::NotForUs),
        };
        let c = self.client(req);
        if c.host.as_ref().is_some_and(|h| h.ignore) {
            return Outcome::Silent(Silence::Ignored);
        }
        let subnet = &self.plan.subnets[si];
        // Wrong network: the client moved (RFC 2131 §4.3.2 INIT-REBOOT: "If
        // the DHCP server detects that the client is on the wrong network
        // ... the server SHOULD send a DHCPNAK"). That needs no record of
        // the client, only knowing where it is: from giaddr, option 118 or
        // the link a broadcast arrived on. A unicast without a relay may
        // come from anywhere.
        let located = !req.unicast || !req.giaddr.is_unspecified() || req.subnet_select.is_some();
        let reserved = Self::reserved_ip(&c, subnet);
        let ask = Ask {
            key: &c.key,
            reserved,
            requested: Some(ip),
            mono: now.mono,
            wall: now.wall,
            role: self.role_of(Some(si)),
            authoritative: self.plan.authoritative,
        };
        let claim = gate::classify(
            ip,
            subnet,
            &self.plan.reservations,
            &self.db,
            &self.holds,
            &ask,
            located,
        );
        match gate::decide(ask.role, msg, Some(claim), self.plan.authoritative) {
            Verdict::Answer => {}
            Verdict::Silent(s) => return Outcome::Silent(s),
            Verdict::Nak(why) => return self.nak(req, why),
        }
        // The client's name survives a renewal that does not repeat it
        // (dnsmasq keeps it too); a name taken by another client since is
        // already gone from this binding.
        let current = self.db.of_client(&c.key).filter(|l| l.ip() == ip);
        let name = c
            .name
            .clone()
            .or_else(|| current.and_then(|l| l.hostname().map(str::to_string)));
        if self.at_lease_max(&c.key, now) {
            return Outcome::Silent(Silence::LeaseMax);
        }
        // ACK, recording the binding: either ours already, offered by us, or
        // adopted (in our or the peer's range and free; design §4 "adopt").
        // Adopted or granted out of the peer's sight, it lasts at most the
        // MCLT ([`Server::set_peer_synced`]).
        let known = current.is_some() || msg == Msg::Select || reserved == Some(ip);
        let lt = self.lease_time(subnet, ip, &c);
        let lt = if reserved == Some(ip) {
            lt
        } else {
            self.mclt_cap(lt, known)
        };
        let expires = match lt {
            LeaseTime::Infinite => UnixTime(0),
            LeaseTime::Secs(s) => UnixTime(now.wall.0.saturating_add(s as u64).max(1)),
        };
        let lease = Lease {
            ip,
            hw: req.hw,
            client_id: req.client_id.clone(),
            hostname: name,
            expires,
        };
        let mut changes = Vec::new();
        // A name belongs to one client: an older lease holding it loses it.
        if let Some(n) = &lease.hostname {
            let clash = self
                .db
                .by_name(n)
                .filter(|l| l.ip() != ip && !l.is_client(&c.key))
                .map(|l| l.to_lease());
            if let Some(mut l) = clash {
                l.hostname = None;
                self.bind(l.clone());
                changes.push(Change::Upsert(l));
            }
        }
        for old in self.bind(lease.clone()) {
            changes.push(Change::Remove(old.ip));
        }
        changes.push(Change::Upsert(lease));
        self.drop_offer(&c.key);
        let subnet = &self.plan.subnets[si];
        let answer = self.answer(req, subnet, &c, MsgType::Ack, ip, Some(lt), changes);
        Outcome::Reply(answer)
    }

    /// A DHCPNAK (RFC 2131 §4.3.2) with `why` as its message (option 56).
    /// When a NAK is allowed is the gate's table ([`gate::decide`]).
    fn nak(&self, req: &Req, why: &'static str) -> Outcome {
        let sid = self
            .subnet_for(req)
            .map(|si| self.server_id(&self.plan.subnets[si], req.ifindex))
            .or(self.plan.server_id)
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        let mut options = vec![
            (53, vec![MsgType::Nak.code()]),
            (54, sid.octets().to_vec()),
            (56, why.as_bytes().to_vec()),
        ];
        if let Some(id) = &req.client_id {
            options.push((61, id.clone()));
        }
        if let Some(ri) = &req.relay_info {
            options.push((82, ri.clone()));
        }
        // §4.1: a NAK via a relay sets the broadcast bit; without a relay
        // it is always broadcast.
        let (to, flags) = if req.giaddr.is_unspecified() {
            (Destination::Broadcast, req.flags)
        } else {
            (Destination::Relay(req.giaddr), req.flags | FLAG_BROADCAST)
        };
        let origin = Origin::of(sid, &to, req);
        Outcome::Reply(Answer {
            msg: MsgType::Nak,
            xid: req.xid,
            flags,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: req.giaddr,
            hw: req.hw,
            sname: None,
            file: None,
            options,
            to,
            origin,
            max_len: req.max_len,
            changes: Vec::new(),
            probe: false,
        })
    }

    // ---- §4.3.3 DHCPDECLINE ---------------------------------------------

    /// The client found the address in use (ARP): quarantine it and drop
    /// the binding; no reply.
    pub fn decline(&mut self, now: Now, req: &Req) -> Outcome {
        let Some(ip) = req.requested else {
            return Outcome::Silent(Silence::NotARequest);
        };
        if req.server_id.is_some_and(|id| !self.is_our_id(id)) {
            return Outcome::Silent(Silence::OtherServer);
        }
        let key = ClientKey::new(req.client_id.as_deref(), req.hw);
        let bound = self.db.get(ip).is_some_and(|l| l.is_client(&key));
        let offered = self.holds.offers.is_offered_to(ip, &key);
        if !(bound || offered) {
            return Outcome::Silent(Silence::NoRecord);
        }
        self.holds.quarantine(ip, now.mono + self.plan.decline_time);
        self.drop_offer(&key);
        self.holds.offers.unoffer(ip);
        let changes = match self.unbind(ip) {
            Some(_) => vec![Change::Remove(ip)],
            None => Vec::new(),
        };
        Outcome::Store(changes, Silence::NoReplyNeeded)
    }

    // ---- §4.3.4 DHCPRELEASE -----------------------------------------------

    /// The client gives the address back. The binding is kept, expired,
    /// so the client gets the same address next time (§4.3.4 "SHOULD retain
    /// a record of the client's initialization parameters").
    pub fn release(&mut self, now: Now, req: &Req) -> Outcome {
        let key = ClientKey::new(req.client_id.as_deref(), req.hw);
        let ip = req.ciaddr;
        match self.db.get(ip) {
            Some(l) if l.is_client(&key) && l.is_active(now.wall) => {
                let mut l = l.to_lease();
                l.expires = UnixTime(now.wall.0.max(1));
                self.bind(l.clone());
                Outcome::Store(vec![Change::Upsert(l)], Silence::NoReplyNeeded)
            }
            _ => Outcome::Silent(Silence::NoRecord),
        }
    }

    /// The operator drops the binding of `ip` (`hamasq leases --delete`,
    /// what dnsmasq users do with DBus/ubus DeleteLease): removed, not kept
    /// expired for affinity, through the undo log like every change so a
    /// failed commit brings it back. The dropped lease and the change to
    /// store, or `None` when nothing is bound at `ip`.
    pub fn delete(&mut self, ip: Ipv4Addr) -> Option<(Lease, Change)> {
        let l = self.unbind(ip)?;
        self.holds.offers.unoffer(ip);
        Some((l, Change::Remove(ip)))
    }

    // ---- §4.3.5 DHCPINFORM ------------------------------------------------

    /// Configuration only: no address, no lease time (Table 3), unicast
    /// to ciaddr.
    pub fn inform(&mut self, _now: Now, req: &Req) -> Outcome {
        let si = match self.subnet_for(req).or_else(|| {
            self.plan
                .subnets
                .iter()
                .position(|s| s.contains(req.ciaddr))
        }) {
            Some(si) => si,
            None => return Outcome::Silent(Silence::NotForUs),
        };
        let c = self.client(req);
        if c.host.as_ref().is_some_and(|h| h.ignore) {
            return Outcome::Silent(Silence::Ignored);
        }
        let subnet = &self.plan.subnets[si];
        // Built for ciaddr so that its range's `set:` tag applies; Table 3:
        // yiaddr is 0 in an ACK to INFORM.
        let mut a = self.answer(req, subnet, &c, MsgType::Ack, req.ciaddr, None, Vec::new());
        a.yiaddr = Ipv4Addr::UNSPECIFIED;
        Outcome::Reply(a)
    }

    // ---- building a reply ------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    fn answer(
        &self,
        req: &Req,
        subnet: &Subnet,
        c: &Client,
        msg: MsgType,
        yiaddr: Ipv4Addr,
        lease: Option<LeaseTime>,
        changes: Vec<Change>,
    ) -> Answer {
        let sid = self.server_id(subnet, req.ifindex);
        // Tags: the range's `set:` tag and the reservation's.
        let mut tags: Vec<&str> = Vec::new();
        if let Some(t) = subnet.own_range(yiaddr).and_then(|r| r.tag.as_deref()) {
            tags.push(t);
        }
        if let Some(h) = &c.host {
            tags.extend(h.set_tags.iter().map(String::as_str));
        }
        let mut options: Vec<(u8, Vec<u8>)> =
            vec![(53, vec![msg.code()]), (54, sid.octets().to_vec())];
        if let Some(lt) = lease {
            options.push((51, lt.wire().to_be_bytes().to_vec()));
            if let LeaseTime::Secs(s) = lt {
                let (t1, t2) = self.renewal_times(s, &tags);
                options.push((58, t1.to_be_bytes().to_vec()));
                options.push((59, t2.to_be_bytes().to_vec()));
            }
        }
        let defaults = self.default_options(subnet);
        for (code, data) in
            options::select(req.prl.as_deref(), &self.plan.options, &tags, &defaults)
        {
            // dnsmasq's "0.0.0.0 means this server".
            options.push((code, options::substitute_self_address(code, &data, sid)));
        }
        if let (Some(f), Some(name)) = (
            req.fqdn.as_deref().and_then(names::parse_fqdn),
            c.name.as_deref(),
        ) {
            // RFC 4702 §4: we register the name in our own DNS.
            options.push((81, names::fqdn_reply(&f, true, name, None)));
        }
        if let Some(id) = &req.client_id {
            // RFC 6842 §3: echo option 61 unaltered.
            options.push((61, id.clone()));
        }
        if let Some(ri) = &req.relay_info {
            options.push((82, ri.clone()));
        }
        let to = destination(req, msg, yiaddr);
        let origin = Origin::of(sid, &to, req);
        let (siaddr, sname, file) = match &self.plan.boot {
            Some(b) => (
                b.server_addr.unwrap_or(sid),
                b.server_name.clone(),
                Some(b.file.clone()),
            ),
            None => (Ipv4Addr::UNSPECIFIED, None, None),
        };
        Answer {
            msg,
            xid: req.xid,
            flags: req.flags,
            ciaddr: if msg == MsgType::Ack {
                req.ciaddr
            } else {
                Ipv4Addr::UNSPECIFIED
            },
            yiaddr,
            siaddr,
            giaddr: req.giaddr,
            hw: req.hw,
            sname,
            file,
            options,
            to,
            origin,
            max_len: req.max_len,
            changes,
            probe: false,
        }
    }

    /// T1 and T2 (RFC 2131 §4.4.5): configured `option:T1`/`option:T2`
    /// clamped below the lease (as dnsmasq), else 0.5 and 0.875 of it.
    fn renewal_times(&self, lease: u32, tags: &[&str]) -> (u32, u32) {
        let configured = |code: u8| {
            let matching = self
                .plan
                .options
                .iter()
                .filter(|o| options::tags_match(&o.tags, tags));
            options::first_wins(matching, code)
                .and_then(|o| <[u8; 4]>::try_from(o.data.as_slice()).ok())
                .map(u32::from_be_bytes)
        };
        let t2 = configured(59)
            .filter(|v| *v < lease)
            .unwrap_or((lease as u64 * 7 / 8) as u32);
        let t1 = configured(58)
            .filter(|v| *v < t2)
            .unwrap_or((lease / 2).min(t2));
        (t1, t2)
    }

    /// Options a subnet gets unless configured otherwise (dnsmasq's
    /// behaviour): its netmask and broadcast address, and on a local
    /// subnet this server as the router and, when it serves DNS, as the
    /// DNS server.
    fn default_options(&self, subnet: &Subnet) -> Vec<(u8, Vec<u8>)> {
        let mut d = vec![
            (1, subnet.mask().octets().to_vec()),
            (28, subnet.broadcast().octets().to_vec()),
        ];
        if subnet.local.is_some() {
            let me = self.server_id(subnet, None).octets().to_vec();
            if self.plan.dns_server {
                d.push((6, me.clone()));
            }
            d.push((3, me));
        }
        // RFC 2132 §3.17; dnsmasq sends its `domain=` as option 15 (not as
        // a search list, 119: that one is sent only when configured).
        if let Some(dom) = &self.plan.domain {
            d.push((15, dom.as_bytes().to_vec()));
        }
        d
    }

    /// When [`Server::handle_timeout`] has work: an offer or a quarantine
    /// ends, or a named lease expires (its name leaves DNS: the driver
    /// refreshes the host table after the timeout). Offers and quarantines
    /// end within the second after their deadline (every check compares
    /// deadlines with `now`, so a late sweep frees nothing late; a flood
    /// of offers makes one wake-up a second, not one per offer). A lease
    /// expiry is a wall-clock time: it is re-read at least once a minute,
    /// so a stepped clock delays a name's removal by a minute at most.
    pub fn poll_timeout(&self) -> Option<Mono> {
        let holds = self
            .holds
            .next_deadline()
            .map(|t| Mono(t.0.div_ceil(1000).saturating_mul(1000)));
        let names = self.seen.and_then(|n| {
            let until = self.hosts?.valid_until?;
            let wait = Duration::from_secs(until.0.saturating_sub(n.wall.0)).min(WALL_RECHECK);
            // Passed already: nothing until the table is rebuilt.
            (until > n.wall).then_some(n.mono + wait)
        });
        match (holds, names) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Ends the offers and quarantines due by `now` (O(ended)).
    pub fn handle_timeout(&mut self, now: Now) {
        self.seen = Some(now);
        self.holds.expire(now.mono);
    }

    /// The domain name (option 15) a client at `ip` is given, as its
    /// range's tag selects it; for `dhcp-script`'s DNSMASQ_DOMAIN.
    pub fn domain_of(&self, ip: Ipv4Addr) -> Option<String> {
        let subnet = self.plan.subnets.iter().find(|s| s.contains(ip))?;
        let tags: Vec<&str> = subnet
            .own_range(ip)
            .and_then(|r| r.tag.as_deref())
            .into_iter()
            .collect();
        let matching = self
            .plan
            .options
            .iter()
            .filter(|o| options::tags_match(&o.tags, &tags));
        match options::first_wins(matching, 15) {
            // An empty `dhcp-option = 15` masks the domain: none is sent.
            Some(o) if o.data.is_empty() => None,
            Some(o) => Some(String::from_utf8_lossy(&o.data).into_owned()),
            None => self.plan.domain.clone(),
        }
    }

    /// A lease change from the HA peer (design §9), decided per address
    /// by [`super::merge`] exactly as the peer decides ours. Returns what
    /// to store (the peer's change and what it displaced here: the same
    /// client's old address, a name another lease loses) and whether two
    /// clients claimed the address. Offers are not touched: an offer of
    /// this address to another client fails at its REQUEST, which the
    /// gate's table checks against the table this updates.
    pub fn apply_peer(&mut self, now: UnixTime, change: &Change) -> PeerApplied {
        use super::merge::{self, Merge};
        let mut out = PeerApplied::default();
        match change {
            Change::Remove(ip) => {
                let mine = self.db.get(*ip).map(|l| l.to_lease());
                if merge::remove(mine.as_ref(), now) == Merge::Take && self.unbind(*ip).is_some() {
                    out.store.push(Change::Remove(*ip));
                }
            }
            Change::Upsert(theirs) => {
                let elsewhere = self.db.of_client(&theirs.key()).map(|l| l.to_lease());
                if merge::stale(elsewhere.as_ref(), theirs, now) {
                    return out;
                }
                let mine = self.db.get(theirs.ip).map(|l| l.to_lease());
                let take = match merge::upsert(mine.as_ref(), theirs, now) {
                    Merge::Take => true,
                    Merge::Keep => false,
                    Merge::Conflict { take } => {
                        let c = PeerConflict {
                            ip: theirs.ip,
                            kept: if take {
                                theirs.hw
                            } else {
                                mine.as_ref().map_or(theirs.hw, |m| m.hw)
                            },
                            lost: if take {
                                mine.as_ref().map_or(theirs.hw, |m| m.hw)
                            } else {
                                theirs.hw
                            },
                        };
                        // Reported once per address and loser: the peer's
                        // stream may carry the loser's lease more than once
                        // (its renewals during a partition, a resend after a
                        // reconnect).
                        if self.conflicts_seen.len() >= CONFLICTS_REMEMBERED {
                            self.conflicts_seen.clear();
                        }
                        if self.conflicts_seen.insert((c.ip, c.lost)) {
                            out.conflict = Some(c);
                        }
                        take
                    }
                };
                if take {
                    // A name belongs to one client, as for our own grants.
                    if let Some(n) = &theirs.hostname {
                        let clash = self
                            .db
                            .by_name(n)
                            .filter(|l| l.ip() != theirs.ip && !l.is_client(&theirs.key()))
                            .map(|l| l.to_lease());
                        if let Some(mut l) = clash {
                            l.hostname = None;
                            self.bind(l.clone());
                            out.store.push(Change::Upsert(l));
                        }
                    }
                    // Through the undo log: a failed commit of the peer's
                    // change takes it back out of memory too (design §5).
                    for old in self.bind(theirs.clone()) {
                        if old.ip != theirs.ip {
                            out.store.push(Change::Remove(old.ip));
                        }
                    }
                    out.store.push(Change::Upsert(theirs.clone()));
                }
            }
        }
        out
    }

    /// A new neighbour table ([`crate::neigh`]): the next
    /// [`Server::refresh_host_table`] rebuilds the names.
    pub fn set_neighbours(&mut self, n: std::sync::Arc<crate::neigh::Neighbours>) {
        if *n != *self.neighbours {
            self.neighbours = n;
            self.hosts = None;
        }
    }

    /// Names for DNS (design §1): active leases with a name, and
    /// reservations with a name and an address; each named lease's name
    /// also answers AAAA with the IPv6 addresses its MAC uses (design
    /// §10; Ethernet only: the neighbour table knows MACs).
    pub fn host_table(&self, now: UnixTime) -> HostTable {
        let leases = self
            .db
            .named()
            .filter(|l| l.is_active(now))
            .filter_map(|l| l.hostname().map(|n| (n, l.ip())));
        let reserved = self
            .plan
            .reservations
            .hosts
            .iter()
            .filter(|h| !h.ignore)
            .filter_map(|h| Some((h.name.as_deref()?, h.ip?)));
        let v6 = self
            .db
            .named()
            .filter(|l| l.is_active(now) && l.hw().htype == 1)
            .filter_map(|l| Some((l.hostname()?, self.neighbours.addrs(l.hw().as_bytes()))))
            .flat_map(|(name, addrs)| addrs.iter().map(move |a| (name, *a)));
        HostTable::new(reserved.chain(leases)).with_v6(v6)
    }

    /// The host table at `now` if it may differ from the one this returned
    /// last, else `None`: a commit that touched no named lease, or only
    /// renewed active ones, costs nothing here even with 50,000 leases
    /// (building the table is O(named leases)). It changes with the named
    /// leases ([`LeaseDb::names_generation`]), a reload, the first expiry
    /// of a named lease in it, and a clock set back.
    pub fn refresh_host_table(&mut self, now: UnixTime) -> Option<HostTable> {
        let names_gen = self.db.names_generation();
        if let Some(b) = self.hosts
            && b.names_gen == names_gen
            && b.at <= now
            && b.valid_until.is_none_or(|t| now < t)
        {
            return None;
        }
        let table = self.host_table(now);
        let valid_until = self
            .db
            .named()
            .map(|l| l.expires())
            .filter(|e| e.0 != 0 && *e > now)
            .min();
        self.db.names_published(now);
        self.hosts = Some(HostsBuilt {
            at: now,
            names_gen,
            valid_until,
        });
        Some(table)
    }

    /// The next wall time a lease expires (to refresh the host table).
    pub fn next_expiry_after(&self, now: UnixTime) -> Option<UnixTime> {
        self.db.next_expiry_after(now)
    }
}

/// RFC 2131 §4.1 reply addressing.
pub fn destination(req: &Req, msg: MsgType, yiaddr: Ipv4Addr) -> Destination {
    if !req.giaddr.is_unspecified() {
        Destination::Relay(req.giaddr)
    } else if msg == MsgType::Nak {
        Destination::Broadcast
    } else if !req.ciaddr.is_unspecified() {
        Destination::Client(req.ciaddr)
    } else if req.flags & FLAG_BROADCAST != 0 || yiaddr.is_unspecified() {
        Destination::Broadcast
    } else {
        Destination::Hardware(yiaddr, req.hw)
    }
}

/// Where an address came from, for logs.
pub fn source_name(s: Source) -> &'static str {
    match s {
        Source::Reservation => "reservation",
        Source::Previous => "previous",
        Source::Requested => "requested",
        Source::Hashed => "hashed",
        Source::Reclaimed => "reclaimed offer",
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
