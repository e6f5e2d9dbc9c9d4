//! keepalived.conf's `vrrp_instance` blocks to hamasq `[vrrp NAME]`
//! sections, so a dnsmasq + keepalived box migrates in one command.
//!
//! keepalived's grammar: whitespace-separated words, `{ ... }` blocks,
//! `!` or `#` starting a comment, `"..."` quoting one word, and
//! `include PATTERN` reading other files in place (relative to the
//! including file, `*`/`?` in the last part). Each keyword
//! line becomes one hamasq key or is listed with the reason. What differs
//! in meaning is converted to the same behaviour where that exists:
//!
//! - keepalived speaks VRRPv2 unless `vrrp_version 3` (global) or
//!   `version 3` (instance) says otherwise; the version is always written
//!   so that a half-migrated pair still talks.
//! - A positive `weight` adds to the priority while the check *passes*;
//!   hamasq's weight applies while it *fails*. `priority P` with `weight +W`
//!   is written as `priority P+W` with `weight -W`: the same priority in
//!   every state (keepalived caps it at 254 too).
//! - `notify_master` / `_backup` / `_fault` / `_stop` run different scripts
//!   with no arguments; hamasq has keepalived's generic `notify` (called
//!   with `INSTANCE NAME STATE PRIORITY`), so those lines are listed.

use std::collections::HashMap;
use std::path::Path;

use super::{Entry, Outcome, Report};

/// The `[vrrp NAME]` sections and the fate of every keepalived line.
pub struct KaConverted {
    pub sections: Vec<(String, Vec<Entry>)>,
    pub reports: Vec<Report>,
}

/// One keyword line, maybe opening a block.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Node {
    line: usize,
    words: Vec<String>,
    children: Option<Vec<Node>>,
}

/// Words with their line numbers.
fn tokens(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let mut chars = raw.chars().peekable();
        let mut word = String::new();
        let flush = |w: &mut String, out: &mut Vec<(usize, String)>| {
            if !w.is_empty() {
                out.push((i + 1, std::mem::take(w)));
            }
        };
        while let Some(c) = chars.next() {
            match c {
                '"' => {
                    for q in chars.by_ref() {
                        if q == '"' {
                            break;
                        }
                        word.push(q);
                    }
                    // An empty quoted word still counts.
                    out.push((i + 1, std::mem::take(&mut word)));
                }
                '!' | '#' if word.is_empty() => break,
                '{' | '}' => {
                    flush(&mut word, &mut out);
                    out.push((i + 1, c.to_string()));
                }
                c if c.is_whitespace() => flush(&mut word, &mut out),
                c => word.push(c),
            }
        }
        flush(&mut word, &mut out);
    }
    out
}

/// The block structure: a node's words are the words of its line up to
/// `{`, `}` or the line's end.
fn parse(tokens: &[(usize, String)], i: &mut usize, out: &mut Vec<Node>) {
    while *i < tokens.len() {
        let (line, w) = &tokens[*i];
        if w == "}" {
            *i += 1;
            return;
        }
        if w == "{" {
            // A block with no keyword: keep its contents.
            *i += 1;
            parse(tokens, i, out);
            continue;
        }
        let mut words = Vec::new();
        while *i < tokens.len()
            && tokens[*i].0 == *line
            && !["{", "}"].contains(&tokens[*i].1.as_str())
        {
            words.push(tokens[*i].1.clone());
            *i += 1;
        }
        let children = if *i < tokens.len() && tokens[*i].1 == "{" {
            *i += 1;
            let mut c = Vec::new();
            parse(tokens, i, &mut c);
            Some(c)
        } else {
            None
        };
        out.push(Node {
            line: *line,
            words,
            children,
        });
    }
}

/// Collects the outcome of each line as conversion proceeds. Lines are
/// numbered across the file and what it includes, in reading order
/// ([`Loaded`]); [`convert`] turns them into file and line at the end.
struct Conv<'a> {
    text: Vec<&'a str>,
    first_src: usize,
    reports: Vec<Report>,
}

impl Conv<'_> {
    /// Records an outcome for a node's line (the first outcome wins:
    /// nodes sharing a line report once).
    fn report(&mut self, n: &Node, outcome: Outcome) -> usize {
        if let Some(i) = self.reports.iter().position(|r| r.line == n.line) {
            return self.first_src + i;
        }
        self.reports.push(Report {
            file: String::new(),
            line: n.line,
            text: shown(self.text.get(n.line - 1).map_or("", |t| t.trim())),
            outcome,
        });
        self.first_src + self.reports.len() - 1
    }

    fn skip(&mut self, n: &Node, why: impl Into<String>) {
        self.report(n, Outcome::Skipped(why.into()));
        for c in n.children.iter().flatten() {
            self.skip(c, "inside a block that is not converted");
        }
    }
}

/// A line as it may be shown: a password is not repeated into the output
/// and the terminal.
fn shown(line: &str) -> String {
    if line.starts_with("auth_pass") {
        "auth_pass (not shown)".into()
    } else {
        line.to_string()
    }
}

/// A `vrrp_script` block.
#[derive(Default)]
struct Script {
    node_lines: Vec<Node>,
    path: Option<Result<String, String>>,
    interval: Option<String>,
    timeout: Option<String>,
    weight: i32,
}

/// keepalived.conf with its `include`s spliced in where they stand, as
/// keepalived reads it; each line keeps where it came from.
#[derive(Default)]
struct Loaded {
    files: Vec<String>,
    /// Per line (0-based): index into `files` and 1-based line there.
    origin: Vec<(usize, usize)>,
    text: Vec<String>,
    /// What each `include` line (1-based overall number) did.
    includes: HashMap<usize, Result<String, String>>,
}

/// keepalived stops nesting includes at this depth.
const MAX_INCLUDE_DEPTH: usize = 8;

impl Loaded {
    fn load(&mut self, name: &str, text: &str, depth: usize) {
        let fi = self.files.len();
        self.files.push(name.to_string());
        for (i, raw) in text.lines().enumerate() {
            self.text.push(raw.to_string());
            self.origin.push((fi, i + 1));
            let at = self.text.len();
            let mut w = raw.split_whitespace();
            if w.next() != Some("include") {
                continue;
            }
            let result = match w.next().map(|p| p.trim_matches('"')) {
                None => Err("include needs a file".to_string()),
                Some(_) if depth >= MAX_INCLUDE_DEPTH => {
                    Err(format!("includes nested deeper than {MAX_INCLUDE_DEPTH}"))
                }
                Some(p) => {
                    let base = Path::new(name).parent().unwrap_or(Path::new("/"));
                    expand(p, base).and_then(|paths| {
                        let mut read = Vec::new();
                        for path in &paths {
                            let t = std::fs::read_to_string(path)
                                .map_err(|e| format!("cannot read {path}: {e}"))?;
                            read.push((path.clone(), t));
                        }
                        for (path, t) in &read {
                            self.load(path, t, depth + 1);
                        }
                        Ok(if paths.is_empty() {
                            "followed: no files match".to_string()
                        } else {
                            format!("followed: {}", paths.join(", "))
                        })
                    })
                }
            };
            self.includes.insert(at, result);
        }
    }

    /// File name and line of overall line `n` (1-based).
    fn at(&self, n: usize) -> (String, usize) {
        let (f, l) = self.origin[n - 1];
        (self.files[f].clone(), l)
    }
}

/// An include pattern: absolute, or relative to the including file's
/// directory; `*` and `?` in its last part match names (sorted, as glob).
fn expand(pattern: &str, base: &Path) -> Result<Vec<String>, String> {
    let path = base.join(pattern);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return Ok(vec![path.to_string_lossy().into_owned()]);
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read directory {}: {e}", dir.display()))?;
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter(|e| glob_match(name.as_bytes(), e.file_name().to_string_lossy().as_bytes()))
        .map(|e| e.path().to_string_lossy().into_owned())
        .collect();
    out.sort();
    Ok(out)
}

/// `*` (any run) and `?` (one byte) against a name; a leading dot is
/// matched only by a dot, as in glob(3).
fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pat.first() != Some(&b'.') {
        return false;
    }
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pat, name)
}

/// Marks every `include` line, at any depth, with what reading it did.
fn report_includes(c: &mut Conv<'_>, nodes: &[Node], loaded: &Loaded) {
    for n in nodes {
        if let Some(r) = loaded.includes.get(&n.line) {
            let outcome = match r {
                Ok(what) => Outcome::Followed(what.clone()),
                Err(why) => Outcome::Skipped(why.clone()),
            };
            c.report(n, outcome);
        }
        report_includes(c, n.children.as_deref().unwrap_or(&[]), loaded);
    }
}

/// Converts keepalived.conf text (`file` names it; its includes are read
/// from the file system). `first_src` is the report index of its first
/// line in the caller's list.
pub fn convert(file: &str, text: &str, first_src: usize) -> KaConverted {
    let mut loaded = Loaded::default();
    loaded.load(file, text, 0);
    let all = loaded.text.join("\n");
    let toks = tokens(&all);
    let mut nodes = Vec::new();
    let mut i = 0;
    // A stray `}` ends a parse() early: go on after it.
    while i < toks.len() {
        parse(&toks, &mut i, &mut nodes);
    }
    let mut c = Conv {
        text: loaded.text.iter().map(String::as_str).collect(),
        first_src,
        reports: Vec::new(),
    };
    report_includes(&mut c, &nodes, &loaded);
    // Globals first: they are defaults for every instance.
    let mut version = None;
    let mut globals: Vec<(String, String, Node)> = Vec::new();
    let mut scripts: std::collections::HashMap<String, Script> = Default::default();
    for n in &nodes {
        let kw = n.words.first().map(String::as_str).unwrap_or("");
        match kw {
            "global_defs" => {
                c.report(n, Outcome::Converted);
                for g in n.children.iter().flatten() {
                    let k = g.words[0].as_str();
                    let arg = g.words.get(1).cloned().unwrap_or_default();
                    let key = match k {
                        "vrrp_version" => {
                            version = Some(arg.clone());
                            c.report(g, Outcome::Converted);
                            continue;
                        }
                        "vrrp_garp_master_delay" => "garp-master-delay",
                        "vrrp_garp_master_repeat" => "garp-master-repeat",
                        "vrrp_garp_master_refresh" => "garp-master-refresh",
                        "vrrp_startup_delay" => "startup-delay",
                        "router_id" => {
                            c.skip(g, "not needed: hamasq names itself in logs by host name");
                            continue;
                        }
                        "enable_script_security" | "script_user" => {
                            c.skip(g, "not needed: hamasq runs every hook script as `user` with no capabilities");
                            continue;
                        }
                        "vrrp_strict" | "vrrp_skip_check_adv_addr" | "vrrp_iptables" => {
                            c.skip(g, "not needed: hamasq checks adverts as RFC 9568 §7.1 says and adds no firewall rules");
                            continue;
                        }
                        _ => {
                            c.skip(g, "no hamasq equivalent");
                            continue;
                        }
                    };
                    globals.push((key.to_string(), arg, g.clone()));
                }
            }
            "vrrp_script" if n.words.len() == 2 => {
                let mut s = Script {
                    node_lines: vec![n.clone()],
                    ..Script::default()
                };
                for k in n.children.iter().flatten() {
                    s.node_lines.push(k.clone());
                    let arg = k.words.get(1).cloned();
                    match (k.words[0].as_str(), arg) {
                        ("script", Some(cmd)) => {
                            let parts: Vec<&str> = cmd.split_whitespace().collect();
                            s.path = Some(match (parts.as_slice(), k.words.len()) {
                                ([p], 2) if p.starts_with('/') => Ok(p.to_string()),
                                ([_], 2) => Err(format!(
                                    "{cmd}: hamasq runs track scripts by absolute path, without a shell"
                                )),
                                _ => Err(format!(
                                    "{cmd}: hamasq runs track scripts without arguments or a shell; \
                                     wrap the command in a script"
                                )),
                            });
                        }
                        ("interval", Some(v)) => s.interval = Some(v),
                        ("timeout", Some(v)) => s.timeout = Some(v),
                        ("weight", Some(v)) => s.weight = v.parse().unwrap_or(0),
                        _ => {}
                    }
                }
                scripts.insert(n.words[1].clone(), s);
            }
            "vrrp_instance" => {}
            "vrrp_sync_group" => c.skip(
                n,
                "hamasq has no sync groups: the first [vrrp] section drives DHCP, and each \
                 instance follows its own priority",
            ),
            "virtual_server" | "virtual_server_group" => {
                c.skip(n, "load balancing (IPVS) is not part of hamasq")
            }
            // Reported by report_includes; their lines follow in place.
            "include" => {}
            _ => c.skip(n, "no hamasq equivalent"),
        }
    }
    let mut sections = Vec::new();
    let mut used_scripts = std::collections::HashSet::new();
    for n in &nodes {
        if n.words.first().map(String::as_str) != Some("vrrp_instance") {
            continue;
        }
        let Some(name) = n.words.get(1).filter(|_| n.words.len() == 2) else {
            c.skip(n, "expected vrrp_instance NAME {");
            continue;
        };
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            c.skip(
                n,
                format!("{name}: a [vrrp NAME] is letters, digits, '-', '_' or '.'"),
            );
            continue;
        }
        let entries = instance(
            &mut c,
            n,
            &globals,
            version.as_deref(),
            &scripts,
            &mut used_scripts,
        );
        sections.push((format!("vrrp {name}"), entries));
    }
    for g in &globals {
        c.report(
            &g.2,
            Outcome::Skipped("no converted vrrp_instance to apply it to".into()),
        );
    }
    // The vrrp_script blocks: converted when tracked.
    let mut names: Vec<&String> = scripts.keys().collect();
    names.sort();
    for name in names {
        let s = &scripts[name];
        for k in &s.node_lines {
            if !used_scripts.contains(name) {
                c.report(
                    k,
                    Outcome::Skipped(format!(
                        "vrrp_script {name} is not tracked by any converted vrrp_instance"
                    )),
                );
                continue;
            }
            match k.words[0].as_str() {
                "vrrp_script" | "script" | "interval" | "timeout" | "weight" => {
                    c.report(k, Outcome::Converted);
                }
                "fall" | "rise" => c.skip(
                    k,
                    "hamasq acts on the first failed and the first passed run (no fall/rise counts)",
                ),
                "user" => c.skip(k, "hamasq runs track scripts as `user` ([general]) with no capabilities"),
                _ => c.skip(k, "no hamasq equivalent"),
            }
        }
    }
    c.reports.sort_by_key(|r| r.line);
    // Reports were pushed in conversion order; entries point at them by
    // index, so re-map after sorting.
    let sections = remap(sections, &c.reports, first_src);
    for r in &mut c.reports {
        (r.file, r.line) = loaded.at(r.line);
    }
    KaConverted {
        sections,
        reports: c.reports,
    }
}

/// Entries carry the line they came from in `src` (as a line number while
/// converting); turns it into the report index.
fn remap(
    sections: Vec<(String, Vec<Entry>)>,
    reports: &[Report],
    first_src: usize,
) -> Vec<(String, Vec<Entry>)> {
    sections
        .into_iter()
        .map(|(name, entries)| {
            let entries = entries
                .into_iter()
                .map(|mut e| {
                    e.src = first_src + reports.iter().position(|r| r.line == e.src).unwrap_or(0);
                    e
                })
                .collect();
            (name, entries)
        })
        .collect()
}

fn instance(
    c: &mut Conv<'_>,
    n: &Node,
    globals: &[(String, String, Node)],
    global_version: Option<&str>,
    scripts: &std::collections::HashMap<String, Script>,
    used_scripts: &mut std::collections::HashSet<String>,
) -> Vec<Entry> {
    let mut e: Vec<Entry> = Vec::new();
    let push = |e: &mut Vec<Entry>, key: &str, value: String, line: usize| {
        e.push(Entry {
            key: key.into(),
            value,
            src: line,
        })
    };
    let body: Vec<Node> = n.children.clone().unwrap_or_default();
    let mut interface = None;
    let mut priority: i32 = 100;
    let mut priority_line = None;
    let mut version = global_version.map(str::to_string);
    // Positive weights, added to the priority (see the module docs).
    let mut bonus = 0;
    let mut changed: Vec<String> = Vec::new();
    for k in &body {
        if k.words[0] == "interface" {
            interface = k.words.get(1).cloned();
        }
    }
    for k in &body {
        let kw = k.words[0].as_str();
        let arg = k.words.get(1).cloned();
        let one = k.words.len() == 2 && k.children.is_none();
        let simple = |key: &str| (key.to_string(), arg.clone());
        let mapped = match kw {
            "interface" if one => Some(simple("interface")),
            "virtual_router_id" if one => Some(simple("virtual-router-id")),
            "advert_int" if one => Some(simple("advert-int")),
            "preempt_delay" if one => Some(simple("preempt-delay")),
            "unicast_src_ip" if one => Some(simple("unicast-src-ip")),
            "garp_master_delay" if one => Some(simple("garp-master-delay")),
            "garp_master_repeat" if one => Some(simple("garp-master-repeat")),
            "garp_master_refresh" if one => Some(simple("garp-master-refresh")),
            "down_timer_adverts" if one => Some(simple("down-timer-adverts")),
            "nopreempt" if k.words.len() == 1 => {
                Some(("nopreempt".to_string(), Some("true".into())))
            }
            _ => None,
        };
        if let Some((key, Some(v))) = mapped {
            push(&mut e, &key, v, k.line);
            c.report(k, Outcome::Converted);
            continue;
        }
        match kw {
            "priority" if one => {
                priority = arg.as_deref().and_then(|p| p.parse().ok()).unwrap_or(-1);
                if !(1..=255).contains(&priority) {
                    c.skip(k, "expected a priority from 1 to 255");
                    priority = 100;
                } else {
                    priority_line = Some(k.line);
                }
            }
            "version" if one => version = arg,
            "state" => c.skip(
                k,
                "not needed: hamasq starts as Backup and the highest priority becomes Active \
                 (RFC 9568 §6.4.1); priority 255 starts Active at once",
            ),
            "notify" if one => {
                push(&mut e, "notify", arg.unwrap_or_default(), k.line);
                c.report(k, Outcome::Converted);
            }
            "notify" => c.skip(
                k,
                "hamasq runs notify without a shell or extra arguments; wrap the command in a script",
            ),
            "notify_master" | "notify_backup" | "notify_fault" | "notify_stop" | "notify_deleted" => c.skip(
                k,
                "hamasq has one `notify` script, called as SCRIPT INSTANCE NAME \
                 MASTER|BACKUP|FAULT|STOP PRIORITY (keepalived's `notify`); dispatch on the \
                 third argument",
            ),
            "virtual_ipaddress" => {
                c.report(k, Outcome::Converted);
                for a in k.children.iter().flatten() {
                    match vip(a, interface.as_deref()) {
                        Ok((v, note)) => {
                            push(&mut e, "virtual-ipaddress", v, a.line);
                            c.report(a, note.map_or(Outcome::Converted, Outcome::Changed));
                        }
                        Err(why) => c.skip(a, why),
                    }
                }
            }
            "unicast_peer" => {
                c.report(k, Outcome::Converted);
                for p in k.children.iter().flatten() {
                    if p.words.len() == 1 {
                        push(&mut e, "unicast-peer", p.words[0].clone(), p.line);
                        c.report(p, Outcome::Converted);
                    } else {
                        c.skip(p, "per-peer options (min_ttl, max_ttl) are not supported");
                    }
                }
            }
            "track_interface" => {
                c.report(k, Outcome::Converted);
                for t in k.children.iter().flatten() {
                    let w = match t.words.as_slice() {
                        [_] => Some(0),
                        [_, w, n] if w == "weight" => n.parse::<i32>().ok(),
                        _ => None,
                    };
                    match w {
                        Some(w) if w > 0 => {
                            bonus += w;
                            changed.push(format!("track_interface {} weight {w}", t.words[0]));
                            push(&mut e, "track-interface", format!("{} weight -{w}", t.words[0]), t.line);
                            c.report(t, Outcome::Changed(positive_weight_note(w)));
                        }
                        Some(0) => {
                            push(&mut e, "track-interface", t.words[0].clone(), t.line);
                            c.report(t, Outcome::Converted);
                        }
                        Some(w) => {
                            push(&mut e, "track-interface", format!("{} weight {w}", t.words[0]), t.line);
                            c.report(t, Outcome::Converted);
                        }
                        None => c.skip(t, "expected IFNAME [weight N]"),
                    }
                }
            }
            "track_script" => {
                c.report(k, Outcome::Converted);
                for t in k.children.iter().flatten() {
                    let name = &t.words[0];
                    let Some(s) = scripts.get(name) else {
                        c.skip(t, format!("no vrrp_script {name} in this file"));
                        continue;
                    };
                    let path = match &s.path {
                        Some(Ok(p)) => p.clone(),
                        Some(Err(why)) => {
                            c.skip(t, why.clone());
                            continue;
                        }
                        None => {
                            c.skip(t, format!("vrrp_script {name} has no script line"));
                            continue;
                        }
                    };
                    let w = match t.words.as_slice() {
                        [_] => Some(s.weight),
                        [_, w, n] if w == "weight" => n.parse::<i32>().ok(),
                        _ => None,
                    };
                    let Some(w) = w else {
                        c.skip(t, "expected NAME [weight N]");
                        continue;
                    };
                    used_scripts.insert(name.clone());
                    let mut v = path;
                    let weight = if w > 0 { -w } else { w };
                    if weight != 0 {
                        v.push_str(&format!(" weight {weight}"));
                    }
                    for (k, val) in [("interval", &s.interval), ("timeout", &s.timeout)] {
                        if let Some(val) = val {
                            v.push_str(&format!(" {k} {val}"));
                        }
                    }
                    push(&mut e, "track-script", v, t.line);
                    if w > 0 {
                        bonus += w;
                        changed.push(format!("track_script {name} weight {w}"));
                        c.report(t, Outcome::Changed(positive_weight_note(w)));
                    } else {
                        c.report(t, Outcome::Converted);
                    }
                }
            }
            "authentication" => c.skip(
                k,
                "VRRP authentication is gone from RFC 9568 (and never protected anything): hamasq \
                 sends none, so remove it from a keepalived peer that is kept",
            ),
            "virtual_ipaddress_excluded" | "virtual_routes" | "virtual_rules" => c.skip(
                k,
                "hamasq manages only the addresses in virtual_ipaddress; add others from the notify script",
            ),
            "use_vmac" | "vmac_xmit_base" => c.skip(
                k,
                "virtual MAC interfaces are not supported: hamasq moves the VIP with gratuitous ARP",
            ),
            "smtp_alert" => c.skip(k, "no e-mail alerts; use the notify script"),
            "dont_track_primary" => c.skip(k, "not needed: hamasq tracks only the interfaces listed"),
            _ => c.skip(k, "no hamasq equivalent"),
        }
    }
    // Priority, raised by positive weights; capped at 254 as keepalived.
    let eff = priority + bonus;
    let (prio_value, prio_line) = match priority_line {
        Some(l) => (eff, Some(l)),
        None if bonus > 0 => (eff, None),
        None => (priority, None),
    };
    if prio_value > 254 && bonus > 0 {
        // Cannot be expressed: leave the base priority, say why.
        if let Some(l) = priority_line {
            let node = body.iter().find(|k| k.line == l).cloned();
            push(&mut e, "priority", priority.to_string(), l);
            if let Some(node) = node {
                c.report(
                    &node,
                    Outcome::Changed(format!(
                        "priority {priority} plus the positive weights ({}) exceeds 254; \
                         the weights were written as failures of the same size, so the \
                         healthy priority is {priority}, not {}",
                        changed.join(", "),
                        eff.min(254)
                    )),
                );
            }
        }
    } else if let Some(l) = prio_line {
        push(&mut e, "priority", prio_value.to_string(), l);
        if let Some(node) = body.iter().find(|k| k.line == l) {
            let out = if bonus > 0 {
                Outcome::Changed(format!(
                    "written as {prio_value}: keepalived adds the positive weights ({}) while \
                     the checks pass; hamasq subtracts them when they fail",
                    changed.join(", ")
                ))
            } else {
                Outcome::Converted
            };
            c.report(node, out);
        }
    } else if bonus > 0 {
        push(&mut e, "priority", prio_value.to_string(), n.line);
    }
    // global_defs defaults, unless the instance sets the same key.
    for g in globals {
        if !e.iter().any(|x| x.key == g.0) {
            push(&mut e, &g.0, g.1.clone(), g.2.line);
            c.report(&g.2, Outcome::Converted);
        }
    }
    let v = version.unwrap_or_else(|| "2".into());
    push(&mut e, "version", v.clone(), n.line);
    let header = if global_version.is_none() && !body.iter().any(|k| k.words[0] == "version") {
        Outcome::Changed(
            "version = 2 written: keepalived speaks VRRPv2 unless told otherwise, and a \
             keepalived peer must hear the same version; set 3 once both boxes run hamasq"
                .into(),
        )
    } else {
        Outcome::Converted
    };
    c.report(n, header);
    for k in &body {
        if k.words[0] == "version" {
            c.report(k, Outcome::Converted);
        }
    }
    e
}

fn positive_weight_note(w: i32) -> String {
    format!(
        "weight {w} (added while the check passes) is written as weight -{w} with the \
         priority raised by {w}: the same priority in every state"
    )
}

/// `ADDR[/LEN] [dev IF] [brd B] [scope S] [label L]`.
fn vip(a: &Node, interface: Option<&str>) -> Result<(String, Option<String>), String> {
    let addr = &a.words[0];
    let ip = addr.split('/').next().unwrap_or("");
    if ip.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(format!("{addr}: only IPv4 virtual addresses are supported"));
    }
    let mut dropped = Vec::new();
    let mut w = a.words[1..].iter();
    while let Some(k) = w.next() {
        let v = w.next().map(String::as_str).unwrap_or("");
        match k.as_str() {
            "dev" if Some(v) != interface => {
                return Err(format!(
                    "on {v}, not on the instance's interface: hamasq puts every VIP on `interface`; \
                     make a second [vrrp] section for {v}"
                ));
            }
            "dev" => {}
            "label" | "brd" | "broadcast" | "scope" => dropped.push(format!("{k} {v}")),
            _ => return Err(format!("{k}: no hamasq equivalent")),
        }
    }
    let note = (!dropped.is_empty()).then(|| format!("left out: {}", dropped.join(", ")));
    Ok((addr.clone(), note))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(text: &str) -> KaConverted {
        convert("keepalived.conf", text, 0)
    }

    fn ini(k: &KaConverted) -> String {
        let mut s = String::new();
        for (name, entries) in &k.sections {
            s.push_str(&format!("[{name}]\n"));
            for e in entries {
                s.push_str(&format!("{} = {}\n", e.key, e.value));
            }
        }
        s
    }

    const PAIR: &str = r#"! Configuration File for keepalived
global_defs {
   router_id gw1
   vrrp_version 3
   vrrp_garp_master_delay 1
}

vrrp_script chk_dnsmasq {
    script "/usr/local/bin/check-dnsmasq"
    interval 2
    timeout 3
    fall 2
    rise 2
    weight -30
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    nopreempt
    preempt_delay 10
    unicast_src_ip 192.168.1.2
    unicast_peer {
        192.168.1.3
    }
    authentication {
        auth_type PASS
        auth_pass secret
    }
    virtual_ipaddress {
        192.168.1.1/24 dev eth0 label eth0:vip
    }
    track_script {
        chk_dnsmasq
    }
    notify /usr/local/bin/vrrp-notify
    notify_master "/usr/local/bin/became-master --now"
}
"#;

    #[test]
    fn an_instance_becomes_a_vrrp_section() {
        let k = conv(PAIR);
        let s = ini(&k);
        for l in [
            "[vrrp VI_1]",
            "garp-master-delay = 1",
            "interface = eth0",
            "virtual-router-id = 51",
            "priority = 150",
            "advert-int = 1",
            "nopreempt = true",
            "preempt-delay = 10",
            "unicast-src-ip = 192.168.1.2",
            "unicast-peer = 192.168.1.3",
            "virtual-ipaddress = 192.168.1.1/24",
            "track-script = /usr/local/bin/check-dnsmasq weight -30 interval 2 timeout 3",
            "notify = /usr/local/bin/vrrp-notify",
            "version = 3",
        ] {
            assert!(s.contains(&format!("{l}\n")), "{l:?} missing:\n{s}");
        }
        let skipped: Vec<(usize, &str)> = k
            .reports
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Skipped(w) => Some((r.line, w.as_str())),
                _ => None,
            })
            .collect();
        let lines: Vec<usize> = skipped.iter().map(|s| s.0).collect();
        // router_id, fall, rise, state, authentication + 2 inside, notify_master.
        assert_eq!(lines, [3, 12, 13, 18, 29, 30, 31, 40], "{skipped:#?}");
        assert!(skipped[3].1.contains("RFC 9568"));
        assert!(skipped[7].1.contains("dispatch on the third argument"));
        // The password is not repeated.
        assert!(k.reports.iter().all(|r| !r.text.contains("secret")));
        let pass = k.reports.iter().find(|r| r.line == 31).unwrap();
        assert_eq!(pass.text, "auth_pass (not shown)");
        // Every non-blank, non-comment line has exactly one report.
        let expected = PAIR
            .lines()
            .filter(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with('!') && !t.starts_with('#') && t != "}"
            })
            .count();
        let got: Vec<usize> = k.reports.iter().map(|r| r.line).collect();
        assert_eq!(k.reports.len(), expected, "{got:?}");
        let r34 = k.reports.iter().find(|r| r.line == 34).unwrap();
        assert!(
            matches!(&r34.outcome, Outcome::Changed(n) if n.contains("label eth0:vip")),
            "{r34:?}"
        );
    }

    #[test]
    fn the_result_validates() {
        let k = conv(PAIR);
        let text = format!("[general]\n{}", ini(&k));
        let cfg = crate::config::parse_and_validate(std::path::Path::new("/c.conf"), &text)
            .unwrap_or_else(|e| panic!("{e:#?}\n{text}"));
        let v = &cfg.vrrp[0];
        assert_eq!((v.vrid, v.priority, v.version), (51, 150, 3));
        assert!(!v.preempt);
        assert_eq!(v.unicast_peers.len(), 1);
        assert_eq!(v.track_scripts[0].weight, -30);
    }

    #[test]
    fn positive_weights_move_into_the_priority_and_v2_is_the_default() {
        let k = conv(
            "vrrp_script up {\n script /bin/true\n weight 20\n}\n\
             vrrp_instance lan {\n interface eth0\n virtual_router_id 7\n priority 100\n\
             virtual_ipaddress {\n 10.0.0.1\n }\n track_script {\n up\n }\n\
             track_interface {\n wan weight 10\n eth9\n }\n}\n",
        );
        let s = ini(&k);
        assert!(s.contains("priority = 130\n"), "{s}");
        assert!(s.contains("track-script = /bin/true weight -20\n"), "{s}");
        assert!(s.contains("track-interface = wan weight -10\n"), "{s}");
        assert!(s.contains("track-interface = eth9\n"), "{s}");
        assert!(s.contains("version = 2\n"), "{s}");
        let header = k
            .reports
            .iter()
            .find(|r| r.text.starts_with("vrrp_instance"))
            .unwrap();
        assert!(matches!(&header.outcome, Outcome::Changed(n) if n.contains("VRRPv2")));
    }

    #[test]
    fn includes_are_read_in_place_and_reported_by_file_and_line() {
        let d = crate::import::source::tests::TempDir::new("ka-include");
        d.write(
            "conf.d/10-lan.conf",
            "vrrp_instance lan {\n interface eth0\n virtual_router_id 7\n\
             virtual_ipaddress {\n 10.0.0.1/24\n }\n include ../peers.inc\n}\n",
        );
        d.write("conf.d/20-old.conf~", "vrrp_instance old {\n}\n");
        d.write("conf.d/.hidden.conf", "vrrp_instance hidden {\n}\n");
        d.write("peers.inc", "unicast_peer {\n 10.0.0.3\n}\n");
        let main = d.write(
            "keepalived.conf",
            "global_defs {\n vrrp_version 3\n}\ninclude conf.d/*.conf\ninclude /nonexistent/x.conf\n",
        );
        let k = convert(&main, &std::fs::read_to_string(&main).unwrap(), 0);
        let s = ini(&k);
        assert!(s.contains("[vrrp lan]\n"), "{s}");
        assert!(
            !s.contains("[vrrp old]") && !s.contains("[vrrp hidden]"),
            "{s}"
        );
        assert!(s.contains("unicast-peer = 10.0.0.3\n"), "{s}");
        assert!(s.contains("version = 3\n"), "{s}");
        let at = |file: &str, line: usize| {
            k.reports
                .iter()
                .find(|r| r.file.ends_with(file) && r.line == line)
                .map(|r| r.outcome.clone())
                .unwrap_or_else(|| panic!("{file}:{line} not reported: {:#?}", k.reports))
        };
        assert!(
            matches!(at("keepalived.conf", 4), Outcome::Followed(f) if f.contains("10-lan.conf"))
        );
        assert!(
            matches!(at("keepalived.conf", 5), Outcome::Skipped(w) if w.contains("cannot read"))
        );
        assert!(matches!(at("10-lan.conf", 7), Outcome::Followed(f) if f.contains("peers.inc")));
        assert_eq!(at("peers.inc", 2), Outcome::Converted);
        assert_eq!(at("10-lan.conf", 2), Outcome::Converted);
        // Every line of the three files read has one report.
        assert_eq!(k.reports.len(), 4 + 6 + 2, "{:#?}", k.reports);
    }

    #[test]
    fn scripts_with_arguments_and_foreign_vips_are_listed() {
        let k = conv(
            "vrrp_script chk {\n script \"/usr/bin/pgrep dnsmasq\"\n}\n\
             vrrp_script unused {\n script /bin/true\n}\n\
             vrrp_instance lan {\n interface eth0\n virtual_router_id 7\n\
             virtual_ipaddress {\n 10.0.0.1/24\n 10.0.1.1/24 dev eth1\n fd00::1/64\n }\n\
             track_script {\n chk\n missing\n }\n}\n",
        );
        let why = |line: usize| {
            k.reports
                .iter()
                .find(|r| r.line == line)
                .map(|r| format!("{:?}", r.outcome))
                .unwrap()
        };
        assert!(why(2).contains("not tracked"), "{}", why(2));
        assert!(why(5).contains("not tracked"));
        assert!(why(12).contains("second [vrrp] section"));
        assert!(why(13).contains("IPv4"));
        assert!(why(16).contains("without arguments"));
        assert!(why(17).contains("no vrrp_script missing"));
    }
}
