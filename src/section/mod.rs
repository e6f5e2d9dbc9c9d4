//! Reading one config section: the grammar every subsystem's `[section]`
//! reader shares, a leaf the protocols import without importing the whole
//! config (which imports them).
//!
//! * [`ConfigError`]: one thing wrong, naming file, line, section, key and
//!   value; [`raw`]: stage 1, the INI-style lines.
//! * [`SectionReader`]: typed keys out of one section, unknown keys
//!   taught; the value parsers ([`parse_bool`], [`parse_duration_secs`] ...).

pub mod raw;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use raw::{Entry, RawSection};

/// One thing wrong with a config. It is the operator's to fix, so it names
/// where: file, line (when known), section, key and the offending value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub section: Option<String>,
    pub key: Option<String>,
    pub value: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    /// `FILE:LINE: [SECTION] KEY = "VALUE": MESSAGE`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        f.write_str(":")?;
        if let Some(s) = &self.section {
            write!(f, " [{s}]")?;
        }
        if let Some(k) = &self.key {
            write!(f, " {k}")?;
            if let Some(v) = &self.value {
                write!(f, " = {v:?}")?;
            }
        }
        if self.key.is_none()
            && let Some(v) = &self.value
        {
            write!(f, " {v:?}")?;
        }
        if self.section.is_some() || self.key.is_some() || self.value.is_some() {
            f.write_str(":")?;
        }
        write!(f, " {}", self.message)
    }
}

/// Reads typed keys out of one section and reports what it could not use.
pub struct SectionReader<'a> {
    file: &'a Path,
    section: &'a RawSection,
    used: Vec<bool>,
    errs: Vec<ConfigError>,
    /// Every key name asked for, present or not: the section's vocabulary
    /// (config's `known_keys`).
    asked: Vec<String>,
}

impl<'a> SectionReader<'a> {
    pub fn new(file: &'a Path, section: &'a RawSection) -> SectionReader<'a> {
        SectionReader {
            file,
            section,
            used: vec![false; section.entries.len()],
            errs: Vec::new(),
            asked: Vec::new(),
        }
    }

    /// Every key name asked for, in order: the section's vocabulary.
    pub fn into_asked(self) -> Vec<String> {
        self.asked
    }

    fn note(&mut self, key: &str) {
        if !self.asked.iter().any(|k| k == key) {
            self.asked.push(key.to_string());
        }
    }

    fn error(&self, e: &Entry, message: String) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: e.line,
            section: Some(self.section.name.clone()),
            key: Some(e.key.clone()),
            value: Some(e.value.clone()),
            message,
        }
    }

    /// An error about a value that did not parse, with a hint when an
    /// inline comment is the likely cause (dnsmasq strips them; INI keeps
    /// them in the value).
    fn value_error(&self, e: &Entry, message: String) -> ConfigError {
        let comment = [" #", "\t#", " ;", "\t;"]
            .iter()
            .filter_map(|c| e.value.find(c))
            .min();
        let message = match comment {
            Some(at) => format!(
                "{message} (`#` and `;` start a comment only at the start of a line: \
                 {:?} is part of the value; move it to a line of its own)",
                e.value[at..].trim()
            ),
            None => message,
        };
        self.error(e, message)
    }

    /// The whole value of the entry on `line`, for errors found across
    /// entries (they name the line, and the value as written).
    pub fn value_at(&self, line: Option<usize>) -> Option<String> {
        let line = line?;
        self.section
            .entries
            .iter()
            .find(|e| e.line == Some(line))
            .map(|e| e.value.clone())
    }

    /// How many times `key` is given.
    pub fn count(&self, key: &str) -> usize {
        self.section.entries.iter().filter(|e| e.key == key).count()
    }

    /// The line of the section header.
    pub fn section_line(&self) -> Option<usize> {
        self.section.line
    }

    fn take(&mut self, key: &str) -> Vec<&'a Entry> {
        self.note(key);
        let mut out = Vec::new();
        for (i, e) in self.section.entries.iter().enumerate() {
            if e.key == key {
                self.used[i] = true;
                out.push(e);
            }
        }
        out
    }

    /// A key that may appear once. Missing → `default`; invalid → error and `default`.
    pub fn scalar<T>(
        &mut self,
        key: &str,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> T {
        let found = self.take(key);
        let Some(first) = found.first() else {
            return default;
        };
        for dup in &found[1..] {
            let first_line = first
                .line
                .map(|l| format!(" (first set on line {l})"))
                .unwrap_or_default();
            let err = self.error(
                dup,
                format!("given more than once{first_line}; this key takes one value"),
            );
            self.errs.push(err);
        }
        match parse(first.value.trim()) {
            Ok(v) => v,
            Err(m) => {
                let err = self.value_error(first, m);
                self.errs.push(err);
                default
            }
        }
    }

    /// A key that must be present: like [`SectionReader::scalar`], and an
    /// error naming the section and key when it is missing.
    pub fn required<T>(
        &mut self,
        key: &str,
        placeholder: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> T {
        self.note(key);
        if !self.section.entries.iter().any(|e| e.key == key) {
            self.missing(key);
            return placeholder;
        }
        self.scalar(key, placeholder, parse)
    }

    /// Whether `key` is given at all (valid or not).
    pub fn has(&self, key: &str) -> bool {
        self.section.entries.iter().any(|e| e.key == key)
    }

    /// Reports that a required `key` is missing.
    pub fn missing(&mut self, key: &str) {
        self.errs.push(ConfigError {
            file: self.file.to_path_buf(),
            line: self.section.line,
            section: Some(self.section.name.clone()),
            key: Some(key.to_string()),
            value: None,
            message: "required, but missing".into(),
        });
    }

    /// An error about a key's (first) value found by a cross-key check.
    pub fn error_on(&mut self, key: &str, message: String) {
        if let Some(e) = self.section.entries.iter().find(|e| e.key == key) {
            let err = self.error(e, message);
            self.errs.push(err);
        }
    }

    /// A key that may repeat: every valid value in file order.
    pub fn list<T>(&mut self, key: &str, parse: impl Fn(&str) -> Result<T, String>) -> Vec<T> {
        self.list_with_line(key, parse, |_, _| {})
    }

    /// Like [`SectionReader::list`], and `set_line` records each value's line.
    pub fn list_with_line<T>(
        &mut self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
        set_line: impl Fn(&mut T, Option<usize>),
    ) -> Vec<T> {
        let mut out = Vec::new();
        for e in self.take(key) {
            match parse(e.value.trim()) {
                Ok(mut v) => {
                    set_line(&mut v, e.line);
                    out.push(v);
                }
                Err(m) => {
                    let err = self.value_error(e, m);
                    self.errs.push(err);
                }
            }
        }
        out
    }

    /// Ends reading: unknown keys plus every value error, in file order.
    /// An unknown key names the section it belongs in, or the closest key
    /// of this section.
    /// `vocabulary` lists every section's keys (config's `known_keys`),
    /// asked for only when a key is unknown.
    pub fn finish(
        mut self,
        vocabulary: impl FnOnce() -> Vec<(&'static str, Vec<String>)>,
    ) -> Vec<ConfigError> {
        let mut vocabulary = Some(vocabulary);
        let mut all = None;
        for (i, e) in self.section.entries.iter().enumerate() {
            if !self.used[i] {
                let all =
                    all.get_or_insert_with(|| vocabulary.take().map(|f| f()).unwrap_or_default());
                let message = unknown_key_message(&e.key, &self.section.name, &self.asked, all);
                let err = self.error(e, message);
                self.errs.push(err);
            }
        }
        self.errs
    }
}

/// "unknown key", taught: the section where `key` belongs, else the
/// closest key of this section (or of another one).
fn unknown_key_message(
    key: &str,
    section: &str,
    asked: &[String],
    all: &[(&'static str, Vec<String>)],
) -> String {
    let kind = section.split_whitespace().next().unwrap_or(section);
    let header = |s: &str| {
        if s == "vrrp" {
            "[vrrp NAME]".to_string()
        } else {
            format!("[{s}]")
        }
    };
    let homes: Vec<String> = all
        .iter()
        .filter(|(s, keys)| *s != kind && keys.iter().any(|k| k == key))
        .map(|(s, _)| header(s))
        .collect();
    if !homes.is_empty() {
        return format!(
            "unknown key in [{section}]; it belongs in {}",
            homes.join(" or ")
        );
    }
    if let Some(k) = closest(key, asked.iter().map(String::as_str)) {
        return format!("unknown key; did you mean {k}?");
    }
    for (s, keys) in all.iter().filter(|(s, _)| *s != kind) {
        if let Some(k) = closest(key, keys.iter().map(String::as_str)) {
            return format!("unknown key; did you mean {k} (in {})?", header(s));
        }
    }
    "unknown key".into()
}

/// The candidate within two edits of `word` (one for words of four
/// letters or fewer), the nearest first; none when it is a tie.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = if word.len() <= 4 { 1 } else { 2 };
    let mut best: Option<(usize, &str, bool)> = None;
    for c in candidates {
        let d = edit_distance(word, c);
        if d > limit {
            continue;
        }
        best = match best {
            Some((bd, bc, _)) if bd < d => Some((bd, bc, false)),
            Some((bd, bc, _)) if bd == d && bc != c => Some((bd, bc, true)),
            Some(b) if b.0 == d => Some(b),
            _ => Some((d, c, false)),
        };
    }
    best.filter(|b| !b.2).map(|b| b.1)
}

/// Levenshtein distance, with a swap of two neighbours counted as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// A duration in seconds with an optional unit (s, m, h, d, w).
pub fn parse_duration_secs(v: &str) -> Option<u64> {
    let v = v.trim();
    let (num, mult) = match v.char_indices().last()? {
        (i, 's') => (&v[..i], 1),
        (i, 'm') => (&v[..i], 60),
        (i, 'h') => (&v[..i], 3600),
        (i, 'd') => (&v[..i], 86_400),
        (i, 'w') => (&v[..i], 604_800),
        _ => (v, 1),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// A boolean flag value (`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`).
pub fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// A network interface name: 1 to 15 bytes (IFNAMSIZ), no '/', space or
/// ',' (the kernel refuses '/' and whitespace; ',' separates list items).
pub fn parse_ifname(v: &str) -> Result<String, String> {
    if !v.is_empty() && v.len() < 16 && !v.contains(['/', ' ', ',']) {
        Ok(v.to_string())
    } else {
        Err("not an interface name".into())
    }
}

/// An unsigned integer within `[min, max]`.
pub fn parse_u32_in(v: &str, min: u32, max: u32) -> Result<u32, String> {
    match v.parse::<u64>() {
        Ok(n) if n >= min as u64 && n <= max as u64 => Ok(n as u32),
        Ok(_) => Err(format!("out of range; expected {min} to {max}")),
        Err(_) => Err(format!("not a whole number; expected {min} to {max}")),
    }
}

/// An IPv4 or IPv6 address.
pub fn parse_ip(v: &str) -> Result<IpAddr, String> {
    v.parse().map_err(|_| "not a valid IP address".into())
}

/// `IP:PORT`, `[IPv6]:PORT`.
pub fn parse_socket_addr(v: &str) -> Result<SocketAddr, String> {
    v.parse().map_err(|_| {
        if v.parse::<IpAddr>().is_ok() {
            "missing the port; expected IP:PORT or [IPv6]:PORT".into()
        } else {
            "not a valid address; expected IP:PORT or [IPv6]:PORT".into()
        }
    })
}

/// An absolute path.
pub fn absolute_path(v: &str) -> Result<PathBuf, String> {
    if v.starts_with('/') {
        Ok(PathBuf::from(v))
    } else {
        Err("expected an absolute path".into())
    }
}
