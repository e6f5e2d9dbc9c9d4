//! Reading dnsmasq config files the way dnsmasq reads them (its option.c,
//! `read_file`, `one_file` and `--conf-dir`), so that what is converted is
//! what dnsmasq would have run:
//!
//! - A `#` starts a comment at the start of a line or after whitespace,
//!   outside double quotes: `cache-size=10000   # big` is `cache-size=10000`,
//!   while `txt-record=x,"a #1"` and `server=/x/1.2.3.4#5353` keep theirs.
//! - `conf-file=FILE` reads FILE at that point (`-` = stdin, read once; a
//!   bare `conf-file` = /etc/dnsmasq.conf). `conf-dir=DIR[,SUFFIX...]` reads
//!   the regular files of DIR in byte order of their paths, except dot
//!   files, `NAME~` and `#NAME#`; `*.conf` keeps only names ending in
//!   `.conf`, a plain suffix (`.bak`) leaves such names out. A file already
//!   read (same device and inode) is not read again, as in dnsmasq.
//!
//! dnsmasq stops at an include it cannot read; here the include line is
//! listed with the reason and the rest is still converted.

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One option line of a dnsmasq config, comment stripped and trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The file as it was named (`stdin` for `-`).
    pub file: String,
    /// 1-based line number in that file.
    pub line: usize,
    pub text: String,
    /// For `conf-file` / `conf-dir` lines: what following it did.
    pub include: Option<Result<String, String>>,
}

/// dnsmasq's comment rule: `#` at the start or after whitespace, outside
/// double quotes (a quote without its closing one leaves the rest as is).
pub fn strip_comment(raw: &str) -> &str {
    let mut in_quotes = false;
    let mut after_space = true;
    for (i, c) in raw.char_indices() {
        if c == '"' {
            in_quotes = !in_quotes;
            after_space = false;
        } else if in_quotes {
            continue;
        } else if c.is_whitespace() {
            after_space = true;
        } else if c == '#' && after_space {
            return raw[..i].trim();
        } else {
            after_space = false;
        }
    }
    raw.trim()
}

/// The option lines of one text, includes not followed.
pub fn lines_of(file: &str, text: &str) -> Vec<Line> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let t = strip_comment(raw);
            (!t.is_empty()).then(|| Line {
                file: file.to_string(),
                line: i + 1,
                text: t.to_string(),
                include: None,
            })
        })
        .collect()
}

/// `key` and `value` of an option line, as dnsmasq splits it (spaces
/// around `=` allowed).
pub fn key_value(text: &str) -> (&str, Option<&str>) {
    match text.split_once('=') {
        Some((k, v)) => (k.trim(), Some(v.trim())),
        None => (text.trim(), None),
    }
}

/// Reads a dnsmasq config and everything it includes, in dnsmasq's order.
pub struct Reader<'a> {
    stdin: &'a mut dyn Read,
    stdin_read: bool,
    seen: HashSet<(u64, u64)>,
}

impl<'a> Reader<'a> {
    pub fn new(stdin: &'a mut dyn Read) -> Reader<'a> {
        Reader {
            stdin,
            stdin_read: false,
            seen: HashSet::new(),
        }
    }

    /// Every option line of `path` (`-` = stdin) and of the files it
    /// includes. Only the top file failing to read is an error.
    pub fn read(&mut self, path: &str) -> Result<Vec<Line>, String> {
        let mut out = Vec::new();
        if let Some((name, text)) = self.file_text(path)? {
            self.push_text(&name, &text, &mut out);
        }
        Ok(out)
    }

    /// The text of a file, or `None` when it was read before.
    fn file_text(&mut self, path: &str) -> Result<Option<(String, String)>, String> {
        if path == "-" {
            if self.stdin_read {
                return Ok(None);
            }
            self.stdin_read = true;
            let mut text = String::new();
            self.stdin
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            return Ok(Some(("stdin".into(), text)));
        }
        if let Ok(m) = std::fs::metadata(path)
            && !self.seen.insert((m.dev(), m.ino()))
        {
            return Ok(None);
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        Ok(Some((path.to_string(), text)))
    }

    fn push_text(&mut self, name: &str, text: &str, out: &mut Vec<Line>) {
        for mut l in lines_of(name, text) {
            let (key, value) = key_value(&l.text);
            let files = match key {
                "conf-file" => Some(Ok(vec![value.unwrap_or("/etc/dnsmasq.conf").to_string()])),
                "conf-dir" => Some(match value {
                    Some(v) => conf_dir(v),
                    None => Err("conf-dir needs a directory".into()),
                }),
                _ => None,
            };
            let Some(files) = files else {
                out.push(l);
                continue;
            };
            let files = match files {
                Ok(f) => f,
                Err(e) => {
                    l.include = Some(Err(e));
                    out.push(l);
                    continue;
                }
            };
            let mut texts = Vec::new();
            let mut failed = Vec::new();
            for f in &files {
                match self.file_text(f) {
                    Ok(Some(t)) => texts.push(t),
                    Ok(None) => {}
                    Err(e) => failed.push(e),
                }
            }
            l.include = Some(if failed.is_empty() {
                Ok(match texts.len() {
                    0 if files.is_empty() => "followed: no files match".to_string(),
                    0 => "followed: already read".to_string(),
                    _ => format!(
                        "followed: {}",
                        texts
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })
            } else {
                Err(format!(
                    "{}; its lines are not converted",
                    failed.join("; ")
                ))
            });
            out.push(l);
            for (n, t) in texts {
                self.push_text(&n, &t, out);
            }
        }
    }
}

/// The files `conf-dir=DIR[,SUFFIX...]` names, in dnsmasq's order.
fn conf_dir(value: &str) -> Result<Vec<String>, String> {
    let mut parts = value.split(',');
    let dir = parts.next().unwrap_or("").trim();
    let mut keep = Vec::new();
    let mut leave = Vec::new();
    for p in parts.map(str::trim).filter(|p| !p.is_empty()) {
        match p.strip_prefix('*') {
            Some("") => {}
            Some(suffix) => keep.push(suffix),
            None => leave.push(p),
        }
    }
    let ends = |name: &str, s: &str| name.len() > s.len() && name.ends_with(s);
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read directory {dir}: {e}"))?;
    let mut files: Vec<String> = Vec::new();
    for e in entries {
        let e = e.map_err(|e| format!("cannot read directory {dir}: {e}"))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.is_empty()
            || name.ends_with('~')
            || name.starts_with('.')
            || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
        {
            continue;
        }
        if !keep.is_empty() && !keep.iter().any(|s| ends(&name, s)) {
            continue;
        }
        if leave.iter().any(|s| ends(&name, s)) {
            continue;
        }
        let path: PathBuf = Path::new(dir).join(&name);
        // Only regular files (after following links), as dnsmasq.
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            files.push(format!("{}/{name}", dir.trim_end_matches('/')));
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh directory, removed on drop (also used by keepalived.rs).
    pub struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!(
                "hamasq-import-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }

        pub fn write(&self, name: &str, text: &str) -> String {
            let p = self.0.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            p.to_string_lossy().into_owned()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn comments_follow_dnsmasqs_rule() {
        assert_eq!(
            strip_comment("cache-size=10000   # comment"),
            "cache-size=10000"
        );
        assert_eq!(strip_comment("cache-size=10000\t#x"), "cache-size=10000");
        assert_eq!(strip_comment("# whole line"), "");
        assert_eq!(strip_comment("  #indented"), "");
        // No space before '#': part of the value (a port, an address).
        assert_eq!(
            strip_comment("server=/corp/10.0.0.53#5353"),
            "server=/corp/10.0.0.53#5353"
        );
        assert_eq!(strip_comment("address=/x/#"), "address=/x/#");
        // Inside quotes a '#' after a space is text.
        assert_eq!(
            strip_comment("txt-record=a.lan,\"room #1\" # note"),
            "txt-record=a.lan,\"room #1\""
        );
    }

    #[test]
    fn includes_are_followed_in_place_with_conf_dir_rules() {
        let d = TempDir::new("inc");
        let dir = d.0.join("d").to_string_lossy().into_owned();
        d.write("d/10-a.conf", "server=10.0.0.1\n");
        d.write("d/20-b.conf", "server=10.0.0.2 # two\n");
        d.write("d/30-c.bak", "server=10.0.0.3\n");
        d.write("d/40-d.conf~", "server=10.0.0.4\n");
        d.write("d/.hidden.conf", "server=10.0.0.5\n");
        d.write("d/#50-e.conf#", "server=10.0.0.6\n");
        d.write("d/05-f.txt", "server=10.0.0.7\n");
        std::fs::create_dir_all(d.0.join("d/sub.conf")).unwrap();
        let extra = d.write("extra.conf", "cache-size=500\n");
        let main = d.write(
            "main.conf",
            &format!(
                "domain=lan\nconf-dir={dir},.bak,.txt\nconf-file={extra}\nconf-file={extra}\nport=53\n"
            ),
        );
        let mut stdin = std::io::empty();
        let lines = Reader::new(&mut stdin).read(&main).unwrap();
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "domain=lan",
                &format!("conf-dir={dir},.bak,.txt"),
                "server=10.0.0.1",
                "server=10.0.0.2",
                &format!("conf-file={extra}"),
                "cache-size=500",
                &format!("conf-file={extra}"),
                "port=53",
            ]
        );
        assert_eq!(lines[3].file, format!("{dir}/20-b.conf"));
        assert_eq!(lines[3].line, 1);
        assert!(matches!(&lines[1].include, Some(Ok(s)) if s.contains("20-b.conf")));
        assert_eq!(
            lines[6].include,
            Some(Ok("followed: already read".to_string()))
        );
        // `*.conf` keeps only .conf names.
        let only = d.write("only.conf", &format!("conf-dir={dir},*.conf\n"));
        let lines = Reader::new(&mut stdin).read(&only).unwrap();
        let n: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(n[1..], ["server=10.0.0.1", "server=10.0.0.2"]);
    }

    #[test]
    fn stdin_is_read_once_and_a_missing_include_is_reported() {
        let d = TempDir::new("stdin");
        let mut stdin: &[u8] = b"cache-size=300\nconf-file=-\nconf-file=/nonexistent/x.conf\n";
        let mut r = Reader::new(&mut stdin);
        let lines = r.read("-").unwrap();
        assert_eq!(lines[0].file, "stdin");
        assert_eq!(lines[1].include, Some(Ok("followed: already read".into())));
        assert!(
            matches!(&lines[2].include, Some(Err(e)) if e.contains("cannot read /nonexistent/x.conf")),
            "{lines:?}"
        );
        let gone = d.0.join("gone").to_string_lossy().into_owned();
        assert!(r.read(&gone).is_err());
    }
}
