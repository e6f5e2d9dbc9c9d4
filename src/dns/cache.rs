//! The answer cache and its fast path (design §6).
//!
//! A cache hit costs one parse of the client's question (no allocation),
//! one hash lookup, one copy of the stored answer into the caller's send
//! buffer, and a few patches: the client's ID, RD and CD bits, the question
//! bytes as the client wrote them (0x20 case, and QTYPE for a name-wide
//! NXDOMAIN), and every TTL counted down from the precomputed offsets.
//!
//! * Key: lower-cased wire QNAME, QTYPE, QCLASS and the DO bit.
//! * Value: the upstream answer as received, cut down to what the client
//!   needs (answer section; authority too for negative answers and DO
//!   queries; never the additional section and never upstream's OPT, which
//!   is hop-by-hop, RFC 6891 §6.1.1).
//! * TTLs: RFC 2181 §8 (MSB set means 0), one TTL per RRset (§5.2, the
//!   lowest), clamped to `min-cache-ttl`/`max-cache-ttl`; the entry lives
//!   for the lowest.
//! * Negative answers (RFC 2308 §5): NXDOMAIN and NODATA live for
//!   min(SOA TTL, SOA MINIMUM) of the authority SOA, or `neg-ttl` when there
//!   is none (not cached without it). A bare NXDOMAIN is cached for the name
//!   and every type (§5); one behind a CNAME only for the question.
//! * Never cached: TC=1, any RCODE but NOERROR/NXDOMAIN (SERVFAIL and
//!   REFUSED say nothing about the name), malformed answers (hickory-proto
//!   decodes each one first), answers to another question.
//! * Bounded by `cache-size` entries and a byte budget, least recently used
//!   first out, O(1) per operation (an index-linked list over a slab).
//! * Serve-stale (RFC 8767): with a window set, an expired entry is kept for
//!   that long; [`Cache::lookup`] says [`Lookup::Stale`] and the caller
//!   refreshes it, then calls [`Cache::serve_stale`] if every upstream
//!   failed, which answers with TTL 30 (§4) and EDE 3 "Stale Answer"
//!   (RFC 8914 §4.4).
//!
//! Counters follow dnsmasq's CHAOS names (`cachesize.bind`,
//! `insertions.bind`, `evictions.bind`, `hits.bind`, `misses.bind`); an
//! eviction is a live entry pushed out for room, as in dnsmasq.
//!
//! Sans-IO: every call takes `now`.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{Name, Record};

use super::message::{
    self, EDE_STALE_ANSWER, HEADER_LEN, KEY_MAX, MAX_MESSAGE, QueryView, Transport, at, flag,
    get_u16, get_u32, opt_len, push_opt, put_u16, put_u32, rcode, rtype, walk_record,
};
use crate::clock::Mono;

/// dnsmasq's `cache-size` default.
pub const DEFAULT_CACHE_SIZE: usize = 150;
/// Default `max-cache-ttl`: RFC 8767 §4 recommends capping TTLs at 7 days.
pub const DEFAULT_MAX_TTL: u32 = 604_800;
/// Cap on negative TTLs: RFC 2308 §5 finds 1-3 hours sensible and more than
/// a day problematic.
pub const DEFAULT_MAX_NEG_TTL: u32 = 10_800;
/// TTL of a stale answer (RFC 8767 §4: "RECOMMENDED value of 30 seconds").
pub const STALE_TTL: u32 = 30;
/// dnsmasq's `use-stale-cache` default window: one day (RFC 8767 §5
/// suggests 1 to 3 days).
pub const DEFAULT_STALE_WINDOW: Duration = Duration::from_secs(86_400);
/// Default byte budget for stored answers; with the entry bound it keeps
/// the cache's memory predictable whatever upstream sends.
pub const DEFAULT_MAX_BYTES: usize = 4 << 20;
/// Answers larger than this are not cached (they only fit TCP anyway).
pub const MAX_ENTRY_BYTES: usize = 16 << 10;

/// Fixed per-entry overhead counted against the byte budget (slot, map
/// bucket, allocator header), an estimate.
const ENTRY_OVERHEAD: usize = 80;

/// The cache's settings (the `[dns]` keys named in each field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// `cache-size`: most entries; 0 disables caching.
    pub size: usize,
    /// `min-cache-ttl`, seconds.
    pub min_ttl: u32,
    /// `max-cache-ttl`, seconds.
    pub max_ttl: u32,
    /// `neg-ttl`: TTL for negative answers without an SOA; `None` = do not
    /// cache those (dnsmasq's default).
    pub neg_ttl: Option<u32>,
    /// Upper bound on negative TTLs, seconds (RFC 2308 §5).
    pub max_neg_ttl: u32,
    /// `use-stale-cache`: how long past expiry an entry may be served stale
    /// when upstreams fail; `None` = never (RFC 8767 is opt-in).
    pub stale_window: Option<Duration>,
    /// Byte budget for all stored answers.
    pub max_bytes: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            size: DEFAULT_CACHE_SIZE,
            min_ttl: 0,
            max_ttl: DEFAULT_MAX_TTL,
            neg_ttl: None,
            max_neg_ttl: DEFAULT_MAX_NEG_TTL,
            stale_window: None,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// What [`Cache::lookup`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A fresh answer is in `out`: send it.
    Hit,
    /// Nothing usable: forward the query.
    Miss,
    /// Only an expired entry within the stale window (`out` untouched):
    /// forward the query, and call [`Cache::serve_stale`] if every upstream
    /// fails (RFC 8767 §5).
    Stale,
    /// Not a query the cache handles (malformed, several questions, an
    /// unknown EDNS version, ANY, zone transfers, non-IN class, ...): the
    /// slow path decides. Not counted as a miss.
    Skip,
}

/// Why an upstream answer was not cached. Expected outcomes, not faults:
/// the forwarder still relays the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotCached {
    /// `cache-size` is 0.
    Disabled,
    /// The question is not one the cache keys (see [`Lookup::Skip`]).
    Question,
    /// Header or sections that do not decode (hickory-proto's verdict) or do
    /// not add up.
    Malformed,
    /// A response that is not a reply to a QUERY.
    NotResponse,
    /// TC=1: the answer is incomplete (RFC 2181 §9).
    Truncated,
    /// RCODE other than NOERROR/NXDOMAIN (SERVFAIL, REFUSED, ...).
    Rcode(u8),
    /// The reply's question differs from ours.
    QuestionMismatch,
    /// A negative answer with no SOA and no `neg-ttl` (RFC 2308 §5).
    NoSoa,
    /// Every TTL is 0 after clamping: use once, do not keep (RFC 1035 §3.2.1).
    ZeroTtl,
    /// Larger than [`MAX_ENTRY_BYTES`] or the byte budget.
    TooBig,
}

impl fmt::Display for NotCached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotCached::Disabled => f.write_str("disabled"),
            NotCached::Question => f.write_str("question"),
            NotCached::Malformed => f.write_str("malformed"),
            NotCached::NotResponse => f.write_str("not_response"),
            NotCached::Truncated => f.write_str("truncated"),
            NotCached::Rcode(r) => write!(f, "rcode_{r}"),
            NotCached::QuestionMismatch => f.write_str("question_mismatch"),
            NotCached::NoSoa => f.write_str("no_soa"),
            NotCached::ZeroTtl => f.write_str("zero_ttl"),
            NotCached::TooBig => f.write_str("too_big"),
        }
    }
}

/// The cache key of a question, owned; built from the client query the
/// forwarder is answering, then handed to [`Cache::insert`] with the reply.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Question {
    key: Box<[u8]>,
}

impl fmt::Debug for Question {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Question({:?} {} {} do={})",
            self.name(),
            self.qtype(),
            self.qclass(),
            self.dnssec_ok()
        )
    }
}

impl Question {
    /// The question of a raw client query, if the cache handles it.
    pub fn from_query(query: &[u8]) -> Option<Question> {
        Question::from_view(&QueryView::parse(query).ok()?)
    }

    /// The question of a parsed client query, if the cache handles it.
    pub fn from_view(q: &QueryView) -> Option<Question> {
        cacheable(q).then(|| Question {
            key: q.key().into(),
        })
    }

    /// A question from parts: `name` in any case, `dnssec_ok` the client's DO.
    pub fn new(name: &Name, qtype: u16, qclass: u16, dnssec_ok: bool) -> Option<Question> {
        let mut key = Vec::with_capacity(name.len() + 7);
        for label in name.iter() {
            if label.is_empty() || label.len() > message::MAX_LABEL {
                return None;
            }
            key.push(label.len() as u8);
            key.extend(label.iter().map(u8::to_ascii_lowercase));
        }
        key.push(0);
        if key.len() > message::MAX_NAME_WIRE || !cacheable_type(qtype, qclass) {
            return None;
        }
        key.extend_from_slice(&qtype.to_be_bytes());
        key.extend_from_slice(&qclass.to_be_bytes());
        key.push(dnssec_ok as u8);
        Some(Question { key: key.into() })
    }

    /// Lower-case wire QNAME.
    pub fn name(&self) -> &[u8] {
        &self.key[..self.key.len() - 5]
    }

    pub fn qtype(&self) -> u16 {
        get_u16(&self.key, self.key.len() - 5).unwrap_or(0)
    }

    pub fn qclass(&self) -> u16 {
        get_u16(&self.key, self.key.len() - 3).unwrap_or(0)
    }

    pub fn dnssec_ok(&self) -> bool {
        self.key.last() == Some(&1)
    }
}

fn cacheable_type(qtype: u16, qclass: u16) -> bool {
    // Meta types are never answered from a cache: ANY gets the minimal
    // treatment of RFC 8482 elsewhere, transfers are refused, OPT is not a
    // question (RFC 6891 §6.1.1). QTYPE 0 is reserved, and our name-wide
    // NXDOMAIN marker. Only class IN is cached.
    qclass == message::CLASS_IN
        && qtype != 0
        && qtype != rtype::OPT
        && !(rtype::IXFR..=rtype::ANY).contains(&qtype)
}

fn cacheable(q: &QueryView) -> bool {
    cacheable_type(q.qtype, q.qclass)
}

/// One TTL field to patch: where, and its clamped original value.
#[derive(Clone, Copy, Debug)]
struct TtlSlot {
    at: u16,
    ttl: u32,
}

/// One cached answer. Key, answer and TTL slots share one allocation (a
/// router caching thousands of names pays one heap block per name).
struct Entry {
    /// The key, then the wire answer (header with ID 0 and counts cut,
    /// question, kept records), then each TTL slot as `at` (u16) and `ttl`
    /// (u32), big-endian.
    data: Box<[u8]>,
    key_len: u16,
    wire_len: u16,
    /// Just past QTYPE/QCLASS; the question name starts at [`HEADER_LEN`].
    question_end: u16,
    inserted: Mono,
    expires: Mono,
    negative: bool,
    rcode: u8,
}

impl Entry {
    fn new(key: &[u8], wire: &[u8], ttls: &[TtlSlot]) -> Entry {
        let mut data = Vec::with_capacity(key.len() + wire.len() + 6 * ttls.len());
        data.extend_from_slice(key);
        data.extend_from_slice(wire);
        for t in ttls {
            data.extend_from_slice(&t.at.to_be_bytes());
            data.extend_from_slice(&t.ttl.to_be_bytes());
        }
        Entry {
            data: data.into_boxed_slice(),
            key_len: key.len() as u16,
            wire_len: wire.len() as u16,
            question_end: 0,
            inserted: Mono(0),
            expires: Mono(0),
            negative: false,
            rcode: 0,
        }
    }

    fn key(&self) -> &[u8] {
        self.data.get(..self.key_len as usize).unwrap_or(&[])
    }

    fn wire(&self) -> &[u8] {
        let k = self.key_len as usize;
        self.data.get(k..k + self.wire_len as usize).unwrap_or(&[])
    }

    fn ttls(&self) -> impl Iterator<Item = TtlSlot> + '_ {
        let from = self.key_len as usize + self.wire_len as usize;
        self.data
            .get(from..)
            .unwrap_or(&[])
            .chunks_exact(6)
            .map(|c| TtlSlot {
                at: u16::from_be_bytes([c[0], c[1]]),
                ttl: u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            })
    }

    fn cost(&self) -> usize {
        ENTRY_OVERHEAD + self.data.len()
    }
}

const NIL: u32 = u32::MAX;

/// The map's keys are already keyed SipHash values: hash them as they are.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

struct Slot {
    entry: Option<Entry>,
    prev: u32,
    next: u32,
}

/// Counters, by dnsmasq's names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// `cachesize.bind`: the configured number of entries.
    pub cachesize: u64,
    /// Entries held now.
    pub entries: u64,
    /// `insertions.bind`.
    pub insertions: u64,
    /// `evictions.bind`: live entries pushed out to make room.
    pub evictions: u64,
    /// `hits.bind`: answers from the cache (stale ones included).
    pub hits: u64,
    /// `misses.bind`: cacheable questions not answered from the cache.
    pub misses: u64,
    /// Stale answers served (RFC 8767), also counted in `hits`.
    pub stale_served: u64,
    /// Bytes held against the budget.
    pub bytes: u64,
}

impl CacheStats {
    /// The TXT value for a dnsmasq CHAOS statistics name (`hits.bind`, ...),
    /// lower-case, without the trailing dot. `servers.bind` belongs to the
    /// forwarder.
    pub fn chaos_txt(&self, name: &str) -> Option<String> {
        let v = match name {
            "cachesize.bind" => self.cachesize,
            "insertions.bind" => self.insertions,
            "evictions.bind" => self.evictions,
            "hits.bind" => self.hits,
            "misses.bind" => self.misses,
            _ => return None,
        };
        Some(v.to_string())
    }
}

/// The answer cache. One owner (the DNS task); not shared.
pub struct Cache {
    cfg: CacheConfig,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Key hash → slot. The key itself lives only in the entry, which is
    /// compared on every lookup, so a hash collision is a miss, never a
    /// wrong answer.
    map: HashMap<u64, u32, BuildHasherDefault<Prehashed>>,
    hasher: std::collections::hash_map::RandomState,
    /// Most recently used.
    head: u32,
    /// Least recently used: the next to go.
    tail: u32,
    bytes: usize,
    stats: CacheStats,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("cfg", &self.cfg)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Cache {
    pub fn new(cfg: CacheConfig) -> Cache {
        let size = cfg.size.min(u32::MAX as usize - 1);
        Cache {
            cfg: CacheConfig { size, ..cfg },
            slots: Vec::new(),
            free: Vec::new(),
            map: HashMap::with_capacity_and_hasher(size.min(1 << 16), Default::default()),
            hasher: std::collections::hash_map::RandomState::new(),
            head: NIL,
            tail: NIL,
            bytes: 0,
            stats: CacheStats::default(),
        }
    }

    pub fn config(&self) -> &CacheConfig {
        &self.cfg
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            cachesize: self.cfg.size as u64,
            entries: self.map.len() as u64,
            bytes: self.bytes as u64,
            ..self.stats
        }
    }

    /// Drops every entry (SIGHUP). Counters are kept, as dnsmasq does.
    pub fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.map.clear();
        self.head = NIL;
        self.tail = NIL;
        self.bytes = 0;
    }

    /// Drops every entry whose (lower-case, wire-form) name `matches`: one
    /// pass over the cache, for names that have just become local.
    pub fn purge_names(&mut self, matches: impl Fn(&[u8]) -> bool) {
        let doomed: Vec<u32> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| {
                let k = slot.entry.as_ref()?.key();
                (k.len() >= 5 && matches(&k[..k.len() - 5])).then_some(i as u32)
            })
            .collect();
        for i in doomed {
            self.remove(i);
        }
    }

    /// The fast path: answers `query` (a raw client query) from the cache
    /// into `out` (cleared first) on [`Lookup::Hit`]. See [`Lookup`].
    pub fn lookup(
        &mut self,
        query: &[u8],
        transport: Transport,
        now: Mono,
        out: &mut Vec<u8>,
    ) -> Lookup {
        match QueryView::parse(query) {
            Ok(q) => self.lookup_parsed(&q, query, transport, now, out),
            Err(_) => Lookup::Skip,
        }
    }

    /// [`Cache::lookup`] for a query the caller has parsed already: `q` is
    /// `QueryView::parse(query)`.
    pub fn lookup_parsed(
        &mut self,
        q: &QueryView,
        query: &[u8],
        transport: Transport,
        now: Mono,
        out: &mut Vec<u8>,
    ) -> Lookup {
        if !cacheable(q) {
            return Lookup::Skip;
        }
        let Some(idx) = self.find(q) else {
            self.stats.misses += 1;
            return Lookup::Miss;
        };
        let Some(e) = self.entry(idx) else {
            self.stats.misses += 1;
            return Lookup::Miss;
        };
        if now < e.expires {
            write_fresh(e, q, query, transport, now, out);
            self.touch(idx);
            self.stats.hits += 1;
            return Lookup::Hit;
        }
        let stale = self.within_stale_window(e, now);
        self.stats.misses += 1;
        if stale {
            Lookup::Stale
        } else {
            self.remove(idx);
            Lookup::Miss
        }
    }

    /// Answers `query` from an expired entry still within the stale window,
    /// every TTL set to [`STALE_TTL`] and, for EDNS clients, EDE 3 "Stale
    /// Answer" (RFC 8914 §4.4). For the forwarder when every upstream has
    /// failed or timed out (RFC 8767 §5). A fresh entry is served as a hit.
    /// Returns whether `out` holds an answer.
    pub fn serve_stale(
        &mut self,
        query: &[u8],
        transport: Transport,
        now: Mono,
        out: &mut Vec<u8>,
    ) -> bool {
        let Ok(q) = QueryView::parse(query) else {
            return false;
        };
        if !cacheable(&q) {
            return false;
        }
        let Some(idx) = self.find(&q) else {
            return false;
        };
        let Some(e) = self.entry(idx) else {
            return false;
        };
        if now < e.expires {
            write_fresh(e, &q, query, transport, now, out);
        } else if self.within_stale_window(e, now) {
            write_answer(
                e,
                &q,
                query,
                transport,
                out,
                |_| STALE_TTL,
                Some(EDE_STALE_ANSWER),
            );
            self.stats.stale_served += 1;
        } else {
            return false;
        }
        self.touch(idx);
        self.stats.hits += 1;
        true
    }

    /// Caches an upstream `response` to `question`. The forwarder has
    /// already matched the reply to its query (RFC 5452); this checks the
    /// question again and refuses what must not be cached (see
    /// [`NotCached`]).
    pub fn insert(
        &mut self,
        question: &Question,
        response: &[u8],
        now: Mono,
    ) -> Result<(), NotCached> {
        if self.cfg.size == 0 {
            return Err(NotCached::Disabled);
        }
        let entry = prepare(&self.cfg, question, response, now)?;
        let cost = entry.cost();
        if cost > self.cfg.max_bytes {
            return Err(NotCached::TooBig);
        }
        // The new answer replaces whatever this question had (a stale entry
        // being refreshed, say), and a name-wide NXDOMAIN also replaces it
        // under its own key. An answer that proves the name exists drops
        // the name-wide NXDOMAIN.
        let nx_key = nxdomain_key(&question.key);
        let mut stale_keys = [Some(&question.key[..]), Some(entry.key()), None];
        if !entry.negative {
            stale_keys[2] = Some(&nx_key[..]);
        }
        for k in stale_keys.into_iter().flatten() {
            if let Some(idx) = self.get(k) {
                self.remove(idx);
            }
        }
        while self.map.len() >= self.cfg.size || self.bytes + cost > self.cfg.max_bytes {
            if !self.evict_one(now) {
                break;
            }
        }
        let hash = self.hasher.hash_one(entry.key());
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    entry: None,
                    prev: NIL,
                    next: NIL,
                });
                (self.slots.len() - 1) as u32
            }
        };
        if let Some(s) = self.slots.get_mut(idx as usize) {
            s.entry = Some(entry);
        }
        self.link_front(idx);
        self.map.insert(hash, idx);
        self.bytes += cost;
        self.stats.insertions += 1;
        Ok(())
    }

    fn within_stale_window(&self, e: &Entry, now: Mono) -> bool {
        self.cfg.stale_window.is_some_and(|w| now < e.expires + w)
    }

    /// The slot holding exactly `key`.
    fn get(&self, key: &[u8]) -> Option<u32> {
        let idx = *self.map.get(&self.hasher.hash_one(key))?;
        (self.entry(idx)?.key() == key).then_some(idx)
    }

    fn find(&self, q: &QueryView) -> Option<u32> {
        if let Some(i) = self.get(q.key()) {
            return Some(i);
        }
        let (k, n) = q.nxdomain_key();
        self.get(&k[..n.min(KEY_MAX)])
    }

    fn entry(&self, idx: u32) -> Option<&Entry> {
        self.slots.get(idx as usize).and_then(|s| s.entry.as_ref())
    }

    fn evict_one(&mut self, now: Mono) -> bool {
        let victim = self.tail;
        if victim == NIL {
            return false;
        }
        if self.entry(victim).is_some_and(|e| now < e.expires) {
            self.stats.evictions += 1;
        }
        self.remove(victim);
        true
    }

    fn remove(&mut self, idx: u32) {
        self.unlink(idx);
        if let Some(e) = self
            .slots
            .get_mut(idx as usize)
            .and_then(|s| s.entry.take())
        {
            self.bytes = self.bytes.saturating_sub(e.cost());
            // Only this slot's mapping: a colliding key may own the hash.
            let h = self.hasher.hash_one(e.key());
            if self.map.get(&h) == Some(&idx) {
                self.map.remove(&h);
            }
            self.free.push(idx);
        }
    }

    fn touch(&mut self, idx: u32) {
        if self.head != idx {
            self.unlink(idx);
            self.link_front(idx);
        }
    }

    fn unlink(&mut self, idx: u32) {
        let Some(s) = self.slots.get(idx as usize) else {
            return;
        };
        let (prev, next) = (s.prev, s.next);
        match self.slots.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.slots.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
        if let Some(s) = self.slots.get_mut(idx as usize) {
            s.prev = NIL;
            s.next = NIL;
        }
    }

    fn link_front(&mut self, idx: u32) {
        let old = self.head;
        if let Some(s) = self.slots.get_mut(idx as usize) {
            s.prev = NIL;
            s.next = old;
        }
        match self.slots.get_mut(old as usize) {
            Some(o) => o.prev = idx,
            None => self.tail = idx,
        }
        self.head = idx;
    }

    /// Keys from most to least recently used, for tests.
    #[cfg(test)]
    fn lru_order(&self) -> Vec<Box<[u8]>> {
        let mut out = Vec::new();
        let mut i = self.head;
        while let Some(s) = self.slots.get(i as usize) {
            if let Some(e) = &s.entry {
                out.push(e.key().into());
            }
            i = s.next;
            if out.len() > self.slots.len() {
                break;
            }
        }
        out
    }
}

/// Writes the stored answer for `q` into `out`: the client's ID, RD and CD,
/// the client's question bytes, TTLs from `ttl_of(stored)`, AD only if the
/// client asked with AD or DO (RFC 6840 §5.8), our OPT when the client sent
/// one (RFC 6891 §6.1.1), and TC=1 with the records dropped when the answer
/// exceeds what the client can receive (RFC 1035 §4.2.1, RFC 6891 §7).
fn write_answer(
    e: &Entry,
    q: &QueryView,
    query: &[u8],
    transport: Transport,
    out: &mut Vec<u8>,
    ttl_of: impl Fn(u32) -> u32,
    ede: Option<u16>,
) {
    out.clear();
    out.extend_from_slice(e.wire());
    let qend = e.question_end as usize;
    if q.question_end == qend
        && let (Some(dst), Some(src)) = (out.get_mut(HEADER_LEN..qend), query.get(HEADER_LEN..qend))
    {
        dst.copy_from_slice(src);
    }
    put_u16(out, at::ID, q.id);
    let stored = get_u16(out, at::FLAGS).unwrap_or(0);
    let client_ad_or_do = q.flags & flag::AD != 0 || q.dnssec_ok();
    let mut flags = stored & !(flag::RD | flag::CD | flag::AD | flag::TC);
    flags |= q.flags & (flag::RD | flag::CD);
    if stored & flag::AD != 0 && client_ad_or_do {
        flags |= flag::AD;
    }
    for s in e.ttls() {
        put_u32(out, s.at as usize, ttl_of(s.ttl));
    }
    let opt = q.edns.map(|_| opt_len(ede)).unwrap_or(0);
    if out.len() + opt > q.response_limit(transport) {
        out.truncate(qend);
        put_u16(out, at::ANCOUNT, 0);
        put_u16(out, at::NSCOUNT, 0);
        put_u16(out, at::ARCOUNT, 0);
        flags |= flag::TC;
    }
    put_u16(out, at::FLAGS, flags);
    if let Some(edns) = q.edns {
        push_opt(out, edns.dnssec_ok, ede);
        let ar = get_u16(out, at::ARCOUNT).unwrap_or(0);
        put_u16(out, at::ARCOUNT, ar.saturating_add(1));
    }
}

/// [`write_answer`] for a live entry: every TTL counted down by the whole
/// seconds since it was cached.
fn write_fresh(
    e: &Entry,
    q: &QueryView,
    query: &[u8],
    transport: Transport,
    now: Mono,
    out: &mut Vec<u8>,
) {
    let elapsed = now.since(e.inserted).as_secs().min(u32::MAX as u64) as u32;
    write_answer(
        e,
        q,
        query,
        transport,
        out,
        |ttl| ttl.saturating_sub(elapsed),
        None,
    );
}

/// RFC 2181 §8: a TTL with the most significant bit set is treated as 0.
fn sane_ttl(ttl: u32) -> u32 {
    if ttl & 0x8000_0000 != 0 { 0 } else { ttl }
}

/// The name-wide NXDOMAIN key of a question key: QTYPE 0.
fn nxdomain_key(key: &[u8]) -> Box<[u8]> {
    let mut k: Box<[u8]> = key.into();
    if let Some(n) = k.len().checked_sub(5) {
        k[n] = 0;
        k[n + 1] = 0;
    }
    k
}

/// Validates and cuts an upstream answer into an [`Entry`].
fn prepare(
    cfg: &CacheConfig,
    question: &Question,
    resp: &[u8],
    now: Mono,
) -> Result<Entry, NotCached> {
    let qtype = question.qtype();
    let qclass = question.qclass();
    if !cacheable_type(qtype, qclass) {
        return Err(NotCached::Question);
    }
    if resp.len() > MAX_MESSAGE {
        return Err(NotCached::Malformed);
    }
    let flags = get_u16(resp, at::FLAGS).ok_or(NotCached::Malformed)?;
    if flags & flag::QR == 0 || flags & flag::OPCODE != 0 {
        return Err(NotCached::NotResponse);
    }
    if flags & flag::TC != 0 {
        return Err(NotCached::Truncated);
    }
    let rc = (flags & flag::RCODE) as u8;
    if rc != rcode::NOERROR && rc != rcode::NXDOMAIN {
        return Err(NotCached::Rcode(rc));
    }
    if get_u16(resp, at::QDCOUNT) != Some(1) {
        return Err(NotCached::QuestionMismatch);
    }
    // hickory-proto decodes the whole message: names (compression pointers
    // must point backwards, so no loops), RDATA of known types, one OPT.
    let msg = Message::from_vec(resp).map_err(|_| NotCached::Malformed)?;
    if msg.metadata.message_type != MessageType::Response || msg.metadata.op_code != OpCode::Query {
        return Err(NotCached::NotResponse);
    }
    // An extended RCODE in the OPT makes this something else (BADVERS ...).
    if !matches!(
        msg.metadata.response_code,
        ResponseCode::NoError | ResponseCode::NXDomain
    ) {
        return Err(NotCached::Rcode(msg.metadata.response_code.low()));
    }
    let qname_end = message::match_name_lower(resp, HEADER_LEN, question.name())
        .ok_or(NotCached::QuestionMismatch)?;
    if get_u16(resp, qname_end) != Some(qtype) || get_u16(resp, qname_end + 2) != Some(qclass) {
        return Err(NotCached::QuestionMismatch);
    }
    let question_end = qname_end + 4;

    let ancount = get_u16(resp, at::ANCOUNT).ok_or(NotCached::Malformed)? as usize;
    let nscount = get_u16(resp, at::NSCOUNT).ok_or(NotCached::Malformed)? as usize;
    if msg.answers.len() != ancount || msg.authorities.len() != nscount {
        return Err(NotCached::Malformed);
    }
    let mut pos = question_end;
    let mut answers = Vec::with_capacity(ancount);
    for _ in 0..ancount {
        let r = walk_record(resp, pos).ok_or(NotCached::Malformed)?;
        pos = r.end;
        answers.push(r);
    }
    let answer_end = pos;
    let mut authority = Vec::with_capacity(nscount);
    for _ in 0..nscount {
        let r = walk_record(resp, pos).ok_or(NotCached::Malformed)?;
        pos = r.end;
        authority.push(r);
    }
    let authority_end = pos;

    let positive = answers.iter().any(|r| {
        r.class == qclass
            && (r.rtype == qtype || (qtype == rtype::CNAME && r.rtype == rtype::CNAME))
    });
    let nxdomain = rc == rcode::NXDOMAIN;
    let negative = nxdomain || !positive;

    // RFC 2308 §5: the negative TTL is min(SOA TTL, SOA MINIMUM).
    let neg_ttl = if negative {
        let soa = authority.iter().find(|r| r.rtype == rtype::SOA);
        let from_soa = soa.and_then(|r| {
            let minimum = get_u32(resp, (r.rdata_at + r.rdlen).checked_sub(4)?)?;
            Some(sane_ttl(r.ttl).min(sane_ttl(minimum)))
        });
        Some(
            from_soa
                .or(cfg.neg_ttl)
                .ok_or(NotCached::NoSoa)?
                .min(cfg.max_neg_ttl)
                .min(cfg.max_ttl),
        )
    } else {
        None
    };

    // What to keep: the answer section always; the authority section for
    // negative answers (the SOA, NSEC proofs) and for DO clients (wildcard
    // proofs); never the additional section (glue is not cached data,
    // RFC 2181 §5.4.1) nor the OPT.
    let keep_authority = negative || question.dnssec_ok();
    let (cut, kept_ns) = if keep_authority {
        (authority_end, nscount)
    } else {
        (answer_end, 0)
    };
    if cut > MAX_ENTRY_BYTES {
        return Err(NotCached::TooBig);
    }

    // One TTL per RRset (RFC 2181 §5.2): the lowest of the set.
    let kept: Vec<(&Record, &message::RecordPos)> = msg
        .answers
        .iter()
        .zip(&answers)
        .chain(msg.authorities.iter().zip(&authority).take(kept_ns))
        .collect();
    let clamp = |t: u32| sane_ttl(t).clamp(cfg.min_ttl.min(cfg.max_ttl), cfg.max_ttl);
    let negative_soa = |p: &message::RecordPos| negative && p.rtype == rtype::SOA;
    let mut rrset_min: HashMap<(&Name, u16, u16), u32> = HashMap::with_capacity(kept.len());
    for (rec, pos) in &kept {
        if !negative_soa(pos) {
            let t = clamp(pos.ttl);
            rrset_min
                .entry((&rec.name, pos.rtype, pos.class))
                .and_modify(|m| *m = (*m).min(t))
                .or_insert(t);
        }
    }
    let ttls: Vec<TtlSlot> = kept
        .iter()
        .map(|(rec, pos)| TtlSlot {
            at: pos.ttl_at as u16,
            ttl: if negative_soa(pos) {
                neg_ttl.unwrap_or(0)
            } else {
                rrset_min
                    .get(&(&rec.name, pos.rtype, pos.class))
                    .copied()
                    .unwrap_or(0)
            },
        })
        .collect();
    let entry_ttl = ttls.iter().map(|s| s.ttl).chain(neg_ttl).min().unwrap_or(0);
    if entry_ttl == 0 {
        return Err(NotCached::ZeroTtl);
    }

    let mut wire: Vec<u8> = resp.get(..cut).ok_or(NotCached::Malformed)?.to_vec();
    put_u16(&mut wire, at::ID, 0);
    // A cached answer is not authoritative (RFC 1035 §4.1.1 AA); we offer
    // recursion (RA). Z is zero (RFC 1035 §4.1.1).
    let stored_flags = (flags & !(flag::AA | flag::TC | flag::Z)) | flag::RA;
    put_u16(&mut wire, at::FLAGS, stored_flags);
    put_u16(&mut wire, at::NSCOUNT, kept_ns as u16);
    put_u16(&mut wire, at::ARCOUNT, 0);
    // Store the question lower-case; each hit copies the client's bytes.
    if let Some(dst) = wire.get_mut(HEADER_LEN..qname_end) {
        dst.copy_from_slice(question.name());
    }

    // A bare NXDOMAIN covers every type of the name (RFC 2308 §5); behind a
    // CNAME it is about the target, so only this question is keyed.
    let key = if nxdomain && ancount == 0 {
        nxdomain_key(&question.key)
    } else {
        question.key.clone()
    };
    Ok(Entry {
        question_end: question_end as u16,
        inserted: now,
        expires: now + Duration::from_secs(entry_ttl as u64),
        negative,
        rcode: rc,
        ..Entry::new(&key, &wire, &ttls)
    })
}

impl Cache {
    /// Whether the entry for `query` is negative and its RCODE, for tests
    /// and the `dump` of the cache.
    pub fn peek(&self, query: &[u8]) -> Option<(bool, u8)> {
        let q = QueryView::parse(query).ok()?;
        let e = self.entry(self.find(&q)?)?;
        Some((e.negative, e.rcode))
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
