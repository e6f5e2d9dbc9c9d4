//! Hosts files (`/etc/hosts`, `addn-hosts`), in the format of hosts(5):
//! `ADDRESS NAME [ALIAS...]`, `#` starts a comment.
//!
//! Parsing is forgiving the way dnsmasq is: a bad line (or a bad name on a
//! line) is skipped and reported with its line number, and the rest of the
//! file still counts. Re-read on SIGHUP; the caller rebuilds
//! [`super::local::LocalData`] from the new files.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::grammar::parse_dns_name;

/// One usable line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostsEntry {
    pub addr: IpAddr,
    /// Lower-case; the first is the canonical name (used for PTR).
    pub names: Vec<String>,
    pub line: usize,
}

/// A line (or a name on it) that was skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
}

/// A parsed hosts file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostsFile {
    pub path: PathBuf,
    pub entries: Vec<HostsEntry>,
    pub bad_lines: Vec<BadLine>,
}

/// Most problems of one file logged one by one; the rest are counted.
const LOGGED_BAD_LINES: usize = 10;

impl HostsFile {
    /// Parses hosts-file text. Never fails: problems are in `bad_lines`.
    pub fn parse(path: impl Into<PathBuf>, text: &[u8]) -> HostsFile {
        let mut f = HostsFile {
            path: path.into(),
            ..HostsFile::default()
        };
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = i + 1;
            let raw = raw.split(|&b| b == b'#').next().unwrap_or_default();
            let text = String::from_utf8_lossy(raw);
            let mut words = text.split_ascii_whitespace();
            let Some(addr_text) = words.next() else {
                continue; // blank or comment
            };
            let mut bad = |reason: String| f.bad_lines.push(BadLine { line, reason });
            let addr = match addr_text.parse::<IpAddr>() {
                Ok(a) => a,
                Err(_) if addr_text.contains('%') => {
                    bad(format!("scoped address {addr_text:?} is not supported"));
                    continue;
                }
                Err(_) => {
                    bad(format!("{addr_text:?} is not an IP address"));
                    continue;
                }
            };
            let mut names = Vec::new();
            let mut seen_any = false;
            for w in words {
                seen_any = true;
                match parse_dns_name(w) {
                    Ok(n) if !names.contains(&n) => names.push(n),
                    Ok(_) => {}
                    Err(e) => bad(format!("name {w:?} skipped: {e}")),
                }
            }
            if !seen_any {
                bad(format!("no name after {addr_text}"));
            }
            if !names.is_empty() {
                f.entries.push(HostsEntry { addr, names, line });
            }
        }
        f
    }

    /// Reads a hosts file, or every file of a directory in alphabetical
    /// order (dnsmasq's `addn-hosts=DIR`).
    pub fn load(path: &Path) -> io::Result<Vec<HostsFile>> {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            let mut out = Vec::with_capacity(files.len());
            for p in files {
                let text = std::fs::read(&p)?;
                out.push(HostsFile::parse(p, &text));
            }
            Ok(out)
        } else {
            let text = std::fs::read(path)?;
            Ok(vec![HostsFile::parse(path, &text)])
        }
    }

    /// Logs what was loaded and the skipped lines, the first few one by one.
    pub fn log(&self) {
        let path = self.path.display();
        crate::event!(
            Info,
            "dns.hosts_loaded",
            "path={path} entries={} bad_lines={}",
            self.entries.len(),
            self.bad_lines.len()
        );
        for b in self.bad_lines.iter().take(LOGGED_BAD_LINES) {
            crate::event!(
                Warn,
                "dns.hosts_bad_line",
                "path={path} line={} reason={}",
                b.line,
                crate::log::q(&b.reason)
            );
        }
        if self.bad_lines.len() > LOGGED_BAD_LINES {
            crate::event!(
                Warn,
                "dns.hosts_bad_line",
                "path={path} more={} (not shown)",
                self.bad_lines.len() - LOGGED_BAD_LINES
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_shapes() {
        let text = b"# a comment\n\
            127.0.0.1\tlocalhost\n\
            ::1     localhost ip6-localhost ip6-loopback\n\
            \n\
            192.168.1.10  NAS nas.lan   # trailing comment\n\
            192.168.1.11 printer\r\n\
            fe80::1%eth0 scoped\n\
            10.0.0.300 bad-ip\n\
            10.0.0.7\n\
            10.0.0.8 good bad!name also-good\n\
            0.0.0.0 ads.example\n";
        let f = HostsFile::parse("/etc/hosts", text);
        let names: Vec<(String, Vec<String>, usize)> = f
            .entries
            .iter()
            .map(|e| (e.addr.to_string(), e.names.clone(), e.line))
            .collect();
        let v = |a: &str, n: &[&str], l: usize| {
            (a.to_string(), n.iter().map(|s| s.to_string()).collect(), l)
        };
        assert_eq!(
            names,
            vec![
                v("127.0.0.1", &["localhost"], 2),
                v("::1", &["localhost", "ip6-localhost", "ip6-loopback"], 3),
                v("192.168.1.10", &["nas", "nas.lan"], 5),
                v("192.168.1.11", &["printer"], 6),
                v("10.0.0.8", &["good", "also-good"], 10),
                v("0.0.0.0", &["ads.example"], 11),
            ]
        );
        let bad: Vec<usize> = f.bad_lines.iter().map(|b| b.line).collect();
        assert_eq!(bad, vec![7, 8, 9, 10]);
        assert!(f.bad_lines[0].reason.contains("scoped"));
        assert!(f.bad_lines[1].reason.contains("not an IP address"));
        assert!(f.bad_lines[2].reason.contains("no name"));
        assert!(f.bad_lines[3].reason.contains("bad!name"));
    }

    #[test]
    fn hostile_bytes_are_reported_not_fatal() {
        let mut text = b"10.0.0.1 ok\n10.0.0.2 \xff\xfe\n".to_vec();
        text.extend(std::iter::repeat_n(b'a', 300));
        text.extend_from_slice(b"\n10.0.0.3 \0nul\n");
        let f = HostsFile::parse("x", &text);
        assert_eq!(f.entries.len(), 1);
        assert_eq!(f.bad_lines.len(), 3);
    }

    #[test]
    fn loads_files_and_directories() {
        let dir = std::env::temp_dir().join(format!("hamasq-hosts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b"), "10.0.0.2 b\n").unwrap();
        std::fs::write(dir.join("a"), "10.0.0.1 a\n").unwrap();
        let files = HostsFile::load(&dir).unwrap();
        let first: Vec<&str> = files
            .iter()
            .map(|f| f.entries[0].names[0].as_str())
            .collect();
        assert_eq!(first, ["a", "b"]);
        assert_eq!(HostsFile::load(&dir.join("a")).unwrap().len(), 1);
        assert!(HostsFile::load(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
