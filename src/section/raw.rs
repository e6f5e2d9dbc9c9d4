//! Stage 1 of 3: INI text to sections of `key = value` entries, with the
//! line of every entry. Pure: no file system, no interfaces.
//!
//! The INI grammar is rust-ini's (`[section]`, `key = value`, `;`/`#`
//! comment lines, optional quotes). rust-ini does not report lines, so this
//! stage also scans the text to find, for the n-th occurrence of a key in a
//! section, the line it came from; every later error can then name it.
//! Repeated keys are kept in order: they are lists.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::ConfigError;

/// One `key = value` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: Option<usize>,
}

/// One `[section]` with its entries in file order. Sections given twice are
/// merged by the caller's rules; here each header is its own `RawSection`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawSection {
    /// The header text, e.g. `general` or `vrrp lan`.
    pub name: String,
    pub line: Option<usize>,
    pub entries: Vec<Entry>,
}

/// A parsed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawConfig {
    pub file: PathBuf,
    /// Keys before the first section header: always an error.
    pub top_level: Vec<Entry>,
    pub sections: Vec<RawSection>,
}

/// Parses INI text. A syntax error stops this stage (rust-ini cannot go
/// on after one), so it returns that single error with its line.
pub fn parse(file: &Path, text: &str) -> Result<RawConfig, Vec<ConfigError>> {
    // rust-ini stops at its first error and, for an unclosed `[` or a bare
    // word, reports the end of the file. Check line shapes first so the
    // operator gets every such line, each with its own number.
    let shape_errors = check_line_shapes(file, text);
    if !shape_errors.is_empty() {
        return Err(shape_errors);
    }
    let opt = ini::ParseOption {
        enabled_quote: true,
        // Backslashes are literal: regexes and Windows-style paths in
        // option values must survive.
        enabled_escape: false,
        enabled_indented_mutiline_value: false,
        enabled_preserve_key_leading_whitespace: false,
    };
    let doc = ini::Ini::load_from_str_opt(text, opt).map_err(|e| {
        vec![ConfigError {
            file: file.to_path_buf(),
            line: Some(e.line),
            section: None,
            key: None,
            value: None,
            message: format!("INI syntax error at column {}: {}", e.col + 1, e.msg),
        }]
    })?;
    let lines = LineIndex::scan(text);

    let mut key_seen: HashMap<(Option<String>, String), usize> = HashMap::new();
    let mut section_seen: HashMap<String, usize> = HashMap::new();
    let mut out = RawConfig {
        file: file.to_path_buf(),
        top_level: Vec::new(),
        sections: Vec::new(),
    };
    for (name, props) in doc.iter() {
        let mut entries = Vec::with_capacity(props.len());
        for (k, v) in props.iter() {
            let n = key_seen
                .entry((name.map(str::to_string), k.to_string()))
                .or_insert(0);
            let line = lines.key_line(name, k, *n);
            *n += 1;
            entries.push(Entry {
                key: k.to_string(),
                value: v.to_string(),
                line,
            });
        }
        match name {
            None => out.top_level.extend(entries),
            Some(name) => {
                let n = section_seen.entry(name.to_string()).or_insert(0);
                let line = lines.section_line(name, *n);
                *n += 1;
                out.sections.push(RawSection {
                    name: name.to_string(),
                    line,
                    entries,
                });
            }
        }
    }
    // rust-ini may yield the repeated header of a section together with the
    // first; keep file order by line so errors read top to bottom.
    out.sections.sort_by_key(|s| s.line.unwrap_or(usize::MAX));
    Ok(out)
}

/// Every line that is neither blank, a comment, a `[section]` header nor a
/// `key = value` line.
fn check_line_shapes(file: &Path, text: &str) -> Vec<ConfigError> {
    let mut errs = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let message = if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        } else if line.starts_with('[') {
            if line.ends_with(']') && line.len() > 2 {
                continue;
            }
            "a section header must be `[name]` on one line"
        } else if line.starts_with('=') {
            "a line cannot start with `=`: the key is missing"
        } else if !line.contains(['=', ':']) {
            "expected `key = value` (a flag needs `= true`)"
        } else {
            continue;
        };
        errs.push(ConfigError {
            file: file.to_path_buf(),
            line: Some(i + 1),
            section: None,
            key: None,
            value: Some(line.to_string()),
            message: message.into(),
        });
    }
    errs
}

/// Where each section header and key sits in the text.
struct LineIndex {
    sections: HashMap<String, Vec<usize>>,
    keys: HashMap<(Option<String>, String), Vec<usize>>,
}

impl LineIndex {
    fn scan(text: &str) -> LineIndex {
        let mut sections: HashMap<String, Vec<usize>> = HashMap::new();
        let mut keys: HashMap<(Option<String>, String), Vec<usize>> = HashMap::new();
        let mut current: Option<String> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest.split(']').next().unwrap_or("").trim().to_string();
                sections.entry(name.clone()).or_default().push(i + 1);
                current = Some(name);
                continue;
            }
            let end = line.find(['=', ':']).unwrap_or(line.len());
            let key = line[..end].trim().to_string();
            keys.entry((current.clone(), key)).or_default().push(i + 1);
        }
        LineIndex { sections, keys }
    }

    fn section_line(&self, name: &str, nth: usize) -> Option<usize> {
        self.sections.get(name)?.get(nth).copied()
    }

    fn key_line(&self, section: Option<&str>, key: &str, nth: usize) -> Option<usize> {
        self.keys
            .get(&(section.map(str::to_string), key.to_string()))?
            .get(nth)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> RawConfig {
        parse(Path::new("t.conf"), text).expect("parses")
    }

    #[test]
    fn keeps_repeats_in_order_with_lines() {
        let c = p(
            "# comment\n[general]\nlog-level = debug\n\n[dns]\nserver = 1.1.1.1\n; x\nserver = 9.9.9.9\n",
        );
        assert!(c.top_level.is_empty());
        assert_eq!(c.sections.len(), 2);
        assert_eq!(c.sections[0].name, "general");
        assert_eq!(c.sections[0].line, Some(2));
        assert_eq!(c.sections[0].entries[0].line, Some(3));
        let dns = &c.sections[1];
        assert_eq!(dns.line, Some(5));
        let servers: Vec<_> = dns
            .entries
            .iter()
            .map(|e| (e.value.as_str(), e.line))
            .collect();
        assert_eq!(servers, vec![("1.1.1.1", Some(6)), ("9.9.9.9", Some(8))]);
    }

    #[test]
    fn vrrp_sections_have_names_and_same_keys_get_their_own_lines() {
        let c = p("[vrrp a]\npriority = 100\n[vrrp b]\npriority = 50\n");
        assert_eq!(c.sections[0].name, "vrrp a");
        assert_eq!(c.sections[1].name, "vrrp b");
        assert_eq!(c.sections[1].entries[0].line, Some(4));
    }

    #[test]
    fn values_with_colons_and_quotes() {
        let c = p("[dhcp]\ndhcp-host = 00:11:22:33:44:55,10.0.0.5\nname = \"a b\"\n");
        let e = &c.sections[0].entries;
        assert_eq!(e[0].value, "00:11:22:33:44:55,10.0.0.5");
        assert_eq!(e[1].value, "a b");
    }

    #[test]
    fn top_level_keys_are_collected() {
        let c = p("stray = 1\n[general]\n");
        assert_eq!(c.top_level.len(), 1);
        assert_eq!(c.top_level[0].line, Some(1));
    }

    #[test]
    fn every_malformed_line_is_named() {
        let errs = parse(
            Path::new("t.conf"),
            "[general]\nlog-level = info\n[broken\nforeground\n= 5\n[]\nok = 1\n",
        )
        .unwrap_err();
        let lines: Vec<_> = errs.iter().map(|e| e.line.unwrap()).collect();
        assert_eq!(lines, vec![3, 4, 5, 6]);
        assert_eq!(
            errs[1].to_string(),
            "t.conf:4: \"foreground\": expected `key = value` (a flag needs `= true`)"
        );
    }
}
