//! The `hamasq` command: CLI, logging set-up, exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use hamasq::config::{self, ConfigError};
use hamasq::daemon::{self, exit};
use hamasq::daemonize::{self, Ready};
use hamasq::event;
use hamasq::log::{Level, Target};

const USAGE: &str = "\
usage: hamasq [-c FILE] [--test] [--foreground] [--log-level LEVEL] [--version] [--help]
       hamasq status [-c FILE]              (ask the running daemon: VRRP role, VIP, peer, DHCP, DNS)
       hamasq leases [-c FILE]              (active DHCP leases; read from state-dir if no daemon runs)
       hamasq log-queries [on|off] [-c FILE] (switch the running daemon's DNS query log until the next reload)
       hamasq import-dnsmasq [--keepalived KEEPALIVED.CONF] [--peer-dnsmasq PEER.CONF] DNSMASQ.CONF|-
                                            (hamasq INI on stdout, lines left out on stderr)
       hamasq --help-options                (every config key by section, and the dhcp-option names)
       hamasq ha-keygen                     (a new [ha] pre-shared key on stdout, for key-file)

  -c, --config FILE     config file (default /etc/hamasq.conf)
  -t, --test            check the config, print `config OK` or every error, and exit
  -f, --foreground      stay in the foreground (for systemd, procd and containers)
      --log-level L     error, warn, info, debug or trace; overrides log-level in the file
  -V, --version         print the version and exit
  -h, --help            print this help and exit
      --help-options    list every config key and dhcp-option name, and exit

signals: SIGTERM/SIGINT stop in order, SIGHUP reloads the config (an invalid
config is logged and the old one kept), SIGUSR1 logs a compact state and stats summary.

exit codes: 0 ok, 1 start-up or runtime failure, 2 invalid config or command line";

#[derive(Debug, PartialEq, Eq)]
struct Cli {
    config: PathBuf,
    test: bool,
    foreground: bool,
    log_level: Option<Level>,
}

#[derive(Debug)]
enum Parsed {
    Run(Cli),
    Print(String),
    Import {
        dnsmasq: String,
        keepalived: Option<String>,
        peer: Option<String>,
    },
    /// A control-socket command: `status`, `leases`, `leases delete IP`,
    /// `log-queries [on|off]`.
    Status(PathBuf, String),
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut cli = Cli {
        config: PathBuf::from(config::DEFAULT_PATH),
        test: false,
        foreground: false,
        log_level: None,
    };
    let mut it = args.into_iter().peekable();
    let ask = match it.peek().map(String::as_str) {
        Some("status") => Some("status"),
        Some("leases") => Some("leases"),
        Some("log-queries") => Some("log-queries"),
        _ => None,
    };
    if let Some(cmd) = ask {
        it.next();
        let mut config = PathBuf::from(config::DEFAULT_PATH);
        let mut line = cmd.to_string();
        while let Some(a) = it.next() {
            match a.as_str() {
                "-c" | "--config" => {
                    config = PathBuf::from(it.next().ok_or("--config needs a value")?)
                }
                "-h" | "--help" => return Ok(Parsed::Print(sub_usage(cmd))),
                "--delete" if cmd == "leases" && line == "leases" => {
                    let ip = it.next().ok_or("--delete needs an IPv4 address")?;
                    let ip: std::net::Ipv4Addr = ip
                        .parse()
                        .map_err(|_| format!("--delete {ip:?}: not an IPv4 address"))?;
                    line = format!("leases delete {ip}");
                }
                "on" | "off" if cmd == "log-queries" && line == "log-queries" => {
                    line = format!("log-queries {a}");
                }
                other => return Err(format!("unknown argument {other:?} after {cmd}")),
            }
        }
        return Ok(Parsed::Status(config, line));
    }
    if it.peek().map(String::as_str) == Some("ha-keygen") {
        it.next();
        if let Some(a) = it.next() {
            return Err(format!("unexpected argument {a:?} after ha-keygen"));
        }
        // 32 random bytes from the OS, as hex: `hamasq ha-keygen > ha.key`.
        return hamasq::ha::auth::Psk::generate_hex()
            .map(Parsed::Print)
            .map_err(|e| format!("ha-keygen: cannot read random bytes: {e}"));
    }
    if it.peek().map(String::as_str) == Some("import-dnsmasq") {
        it.next();
        let mut dnsmasq = None;
        let mut keepalived = None;
        let mut peer = None;
        while let Some(a) = it.next() {
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (a.clone(), None),
            };
            let slot = match flag.as_str() {
                "--keepalived" => &mut keepalived,
                "--peer-dnsmasq" => &mut peer,
                _ if dnsmasq.is_none() && (a == "-" || !a.starts_with('-')) => {
                    dnsmasq = Some(a);
                    continue;
                }
                _ => {
                    return Err(format!(
                        "unexpected argument {a:?} after import-dnsmasq \
                         [--keepalived FILE] [--peer-dnsmasq FILE] FILE"
                    ));
                }
            };
            *slot = Some(
                inline
                    .or_else(|| it.next())
                    .ok_or_else(|| format!("{flag} needs a file"))?,
            );
        }
        let dnsmasq = dnsmasq.ok_or("import-dnsmasq needs the dnsmasq config file (- = stdin)")?;
        return Ok(Parsed::Import {
            dnsmasq,
            keepalived,
            peer,
        });
    }
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-c" | "--config" => cli.config = PathBuf::from(value("--config")?),
            "-t" | "--test" => cli.test = true,
            "-f" | "--foreground" => cli.foreground = true,
            "--log-level" => {
                let v = value("--log-level")?;
                cli.log_level = Some(Level::parse(&v).ok_or_else(|| {
                    format!("--log-level {v:?}: expected one of {}", Level::NAMES)
                })?);
            }
            "-V" | "--version" => {
                return Ok(Parsed::Print(format!(
                    "hamasq {}",
                    env!("CARGO_PKG_VERSION")
                )));
            }
            "-h" | "--help" => return Ok(Parsed::Print(USAGE.to_string())),
            "--help-options" => return Ok(Parsed::Print(help_options())),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Parsed::Run(cli))
}

/// `hamasq status --help`, `hamasq leases --help`.
fn sub_usage(cmd: &str) -> String {
    match cmd {
        "status" => "\
usage: hamasq status [-c FILE]

Asks the running daemon over its control socket (control-socket, by default
control.sock in state-dir): each VRRP instance's state and for how long, its
virtual IP, the Active router it follows and when it was last heard; DHCP
leases per range; DHCP and DNS figures; then every counter.
Exit 0, or 1 when no daemon answers."
            .into(),
        "log-queries" => "\
usage: hamasq log-queries [on|off] [-c FILE]

Switches the running daemon's DNS query log (one info line per answered
query: client, name, type, where the answer came from, RCODE) on or off
without a config change, or without on|off says whether it is on. The
switch holds until the next switch or the next reload (SIGHUP), which
applies [dns] log-queries from the file. Lines are rate-limited as other
per-packet logs (log-rate-limit, 0 = every query).
Exit 0, or 1 when no daemon answers or DNS is not running."
            .into(),
        _ => "\
usage: hamasq leases [-c FILE] [--delete IP]

Active DHCP leases, one per line in dnsmasq's lease-file form:
EXPIRY MAC IP NAME CLIENT-ID (EXPIRY in Unix seconds, 0 = infinite; * = none).
Asks the running daemon; when none answers, reads the lease store in
state-dir (the snapshot dhcp.leases plus its journal dhcp.leases.journal)
strictly read-only, and says so on stderr.
--delete IP drops the lease of IP in the running daemon (stored like a
release, but the binding is gone; dhcp-script runs del), as dnsmasq users
do over DBus/ubus; the client keeps the address until it next asks.
Exit 0, or 1 when neither is possible (or no lease or daemon for --delete)."
            .into(),
    }
}

/// `hamasq --help-options`: every config key by section, then the names
/// `dhcp-option` accepts (as dnsmasq's `--help dhcp`).
fn help_options() -> String {
    use std::fmt::Write as _;
    let mut out = String::from("config keys (see hamasq.conf(5)):\n");
    for (section, keys) in config::validate::known_keys() {
        let header = if section == "vrrp" {
            "[vrrp NAME]".to_string()
        } else {
            format!("[{section}]")
        };
        let _ = writeln!(out, "  {header}");
        for k in keys {
            let _ = writeln!(out, "    {k}");
        }
    }
    out.push_str("\ndhcp-option names (option:NAME, or the number):\n");
    for d in hamasq::dhcp::options::OPTIONS {
        if let hamasq::dhcp::options::Kind::Refused(_) = d.kind {
            continue;
        }
        let _ = writeln!(out, "  {:>3}  {}", d.code, d.name);
    }
    out.pop();
    out
}

/// `hamasq status` / `hamasq leases`: the running daemon's answer on its
/// control socket (`leases` falls back to the store files).
fn status(config_path: &std::path::Path, cmd: &str) -> ExitCode {
    let text = match std::fs::read_to_string(config_path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("hamasq: cannot read {}: {e}", config_path.display());
            return ExitCode::from(exit::CONFIG);
        }
    };
    let cfg = match config::parse_and_validate(config_path, &text) {
        Ok(c) => c,
        Err(errs) => {
            print_errors(&errs);
            return ExitCode::from(exit::CONFIG);
        }
    };
    let Some(sock) = cfg.general.control_socket.clone() else {
        eprintln!(
            "hamasq: control-socket = none in {}: no status to ask for",
            config_path.display()
        );
        return ExitCode::from(exit::CONFIG);
    };
    match hamasq::control::request(&sock, cmd) {
        Ok(s) if s.starts_with("error: ") => {
            eprint!("hamasq: {}", &s[7..]);
            ExitCode::from(exit::FAILURE)
        }
        Ok(s) => {
            print!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) if cmd == "leases" => stored_leases(&cfg, &sock, &e),
        Err(e) => {
            eprintln!(
                "hamasq: no daemon answers on {}: {e} (is it running with this config?)",
                sock.display()
            );
            ExitCode::from(exit::FAILURE)
        }
    }
}

/// `hamasq leases` with no daemon: the store files, read-only.
fn stored_leases(
    cfg: &config::Config,
    sock: &std::path::Path,
    why: &dyn std::fmt::Display,
) -> ExitCode {
    let dir = &cfg.general.state_dir;
    match hamasq::dhcp::leases::read_only(dir) {
        Ok(leases) => {
            eprintln!(
                "hamasq: no daemon answers on {} ({why}); read the lease store in {} instead",
                sock.display(),
                dir.display()
            );
            print!(
                "{}",
                hamasq::dhcp::report::stored_leases(&leases, hamasq::clock::UnixTime::now())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "hamasq: no daemon answers on {} ({why}), and the lease store in {} cannot be read: {e}",
                sock.display(),
                dir.display()
            );
            ExitCode::from(exit::FAILURE)
        }
    }
}

/// `hamasq import-dnsmasq [--keepalived FILE] FILE`: the INI on stdout;
/// on stderr every line left out or changed, with its reason, and a count
/// that accounts for every input line.
fn import_dnsmasq(src: hamasq::import::Sources<'_>) -> ExitCode {
    let c = match hamasq::import::convert_files(src, &mut std::io::stdin()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hamasq: {e}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    print!("{}", c.ini);
    use hamasq::import::Outcome;
    let (mut converted, mut changed, mut followed, mut skipped) = (0, 0, 0, 0);
    for r in &c.lines {
        match &r.outcome {
            Outcome::Converted => converted += 1,
            Outcome::Followed(_) => followed += 1,
            Outcome::Changed(n) => {
                changed += 1;
                eprintln!(
                    "{}:{}: converted with a change: {}: {n}",
                    r.file, r.line, r.text
                );
            }
            Outcome::Skipped(n) => {
                skipped += 1;
                eprintln!("{}:{}: not converted: {}: {n}", r.file, r.line, r.text);
            }
        }
    }
    if src.keepalived.is_some() && src.peer_dnsmasq.is_none() {
        eprintln!(
            "hamasq: hint: give the other box's dnsmasq config with --peer-dnsmasq FILE: its \
             dhcp-range lines become dhcp-peer-range here, so that the other box's clients keep \
             their addresses after a failover"
        );
    }
    let mut files: Vec<&str> = c.lines.iter().map(|r| r.file.as_str()).collect();
    files.sort_unstable();
    files.dedup();
    eprintln!(
        "hamasq: {} lines from {} file{}: {converted} converted, {changed} converted with a \
         change, {followed} include{} followed, {skipped} not converted (listed above and at \
         the end of the output)",
        c.lines.len(),
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        if followed == 1 { "" } else { "s" },
    );
    ExitCode::SUCCESS
}

fn print_errors(errs: &[ConfigError]) {
    for e in errs {
        eprintln!("{e}");
    }
    let n = errs.len();
    eprintln!("config FAILED: {n} error{}", if n == 1 { "" } else { "s" });
}

fn main() -> ExitCode {
    // Allocator settings before anything big is allocated (glibc only).
    hamasq::memory::tune();
    let cli = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Run(c)) => c,
        Ok(Parsed::Print(s)) => {
            println!("{s}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Import {
            dnsmasq,
            keepalived,
            peer,
        }) => {
            return import_dnsmasq(hamasq::import::Sources {
                dnsmasq: &dnsmasq,
                keepalived: keepalived.as_deref(),
                peer_dnsmasq: peer.as_deref(),
            });
        }
        Ok(Parsed::Status(path, cmd)) => return status(&path, &cmd),
        Err(e) => {
            eprintln!("hamasq: {e}\n\n{USAGE}");
            return ExitCode::from(exit::CONFIG);
        }
    };

    let mut resolved = match config::load(&cli.config) {
        Ok(r) => r,
        Err(errs) => {
            print_errors(&errs);
            return ExitCode::from(exit::CONFIG);
        }
    };
    if cli.test {
        for w in &resolved.warnings {
            eprintln!("warning: {w}");
        }
        println!("config OK");
        return ExitCode::SUCCESS;
    }

    daemon::apply_logging(&resolved.config, cli.log_level, cli.foreground);
    hamasq::rlimit::fit_open_files(&mut resolved.config);
    let ready = if cli.foreground {
        Ready::foreground()
    } else {
        let keep_stderr = resolved.config.general.log_target_for(cli.foreground) == Target::Stderr;
        match daemonize::daemonize(keep_stderr) {
            Ok(r) => r,
            Err(e) => {
                event!(
                    Error,
                    "daemon.start_failed",
                    "cause={}",
                    hamasq::log::q(format_args!("cannot go to the background: {e}"))
                );
                return ExitCode::from(exit::FAILURE);
            }
        }
    };

    // One thread: the subsystems are I/O-bound and a router has few cores.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            event!(
                Error,
                "daemon.start_failed",
                "cause={}",
                hamasq::log::q(format_args!("cannot start the runtime: {e}"))
            );
            return ExitCode::from(exit::FAILURE);
        }
    };
    let opts = daemon::Options {
        config_path: cli.config,
        log_level: cli.log_level,
        foreground: cli.foreground,
    };
    let code = rt.block_on(daemon::run(opts, resolved, ready));
    // Do not wait for stray blocking work (e.g. a DNS lookup) at exit.
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn run(s: &str) -> Cli {
        match parse_args(args(s)) {
            Ok(Parsed::Run(c)) => c,
            _ => panic!("{s} did not parse to a run"),
        }
    }

    #[test]
    fn parses_the_documented_flags() {
        let c = run("-c /tmp/x.conf --test --foreground --log-level debug");
        assert_eq!(c.config, PathBuf::from("/tmp/x.conf"));
        assert!(c.test && c.foreground);
        assert_eq!(c.log_level, Some(Level::Debug));
        let c = run("--config=/a.conf -f");
        assert_eq!(c.config, PathBuf::from("/a.conf"));
        assert_eq!(run("").config, PathBuf::from("/etc/hamasq.conf"));
    }

    #[test]
    fn import_takes_a_file_or_stdin_and_keepalived_on_either_side() {
        let import = |s: &str| match parse_args(args(s)) {
            Ok(Parsed::Import {
                dnsmasq,
                keepalived,
                peer,
            }) => {
                assert_eq!(peer, None, "{s}");
                Ok((dnsmasq, keepalived))
            }
            Ok(other) => panic!("{s}: {other:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(import("import-dnsmasq -"), Ok(("-".into(), None)));
        let both = Ok(("/d.conf".into(), Some("/k.conf".into())));
        assert_eq!(import("import-dnsmasq --keepalived /k.conf /d.conf"), both);
        assert_eq!(import("import-dnsmasq /d.conf --keepalived /k.conf"), both);
        assert_eq!(import("import-dnsmasq /d.conf --keepalived=/k.conf"), both);
        assert!(
            import("import-dnsmasq")
                .unwrap_err()
                .contains("needs the dnsmasq")
        );
        assert!(import("import-dnsmasq /d.conf --keepalived").is_err());
        assert!(import("import-dnsmasq /a.conf /b.conf").is_err());
        assert!(import("import-dnsmasq --bogus /a.conf").is_err());
        assert!(matches!(
            parse_args(args("import-dnsmasq --peer-dnsmasq /b.conf /a.conf")),
            Ok(Parsed::Import { peer: Some(p), .. }) if p == "/b.conf"
        ));
    }

    #[test]
    fn rejects_unknown_and_incomplete_arguments() {
        assert!(parse_args(args("--bogus")).is_err());
        assert!(parse_args(args("-c")).is_err());
        assert!(
            parse_args(args("--log-level loud"))
                .unwrap_err()
                .contains("expected one of")
        );
    }

    #[test]
    fn ha_keygen_prints_a_key_the_loader_accepts() {
        let Ok(Parsed::Print(a)) = parse_args(args("ha-keygen")) else {
            panic!("ha-keygen did not print");
        };
        let Ok(Parsed::Print(b)) = parse_args(args("ha-keygen")) else {
            panic!("ha-keygen did not print");
        };
        assert_ne!(a, b, "two keys alike");
        assert!(hamasq::ha::auth::Psk::from_hex(a.trim()).is_ok(), "{a}");
        assert!(parse_args(args("ha-keygen extra")).is_err());
    }

    #[test]
    fn version_and_help_print() {
        assert!(
            matches!(parse_args(args("--version")), Ok(Parsed::Print(s)) if s.starts_with("hamasq "))
        );
        assert!(matches!(parse_args(args("-h")), Ok(Parsed::Print(s)) if s.contains("exit codes")));
    }
}

#[cfg(test)]
mod log_queries_tests {
    use super::*;

    fn parse(s: &str) -> Result<Parsed, String> {
        parse_args(s.split_whitespace().map(String::from))
    }

    #[test]
    fn log_queries_sends_its_switch_over_the_control_socket() {
        let line = |s: &str| match parse(s) {
            Ok(Parsed::Status(path, line)) => (path, line),
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(
            line("log-queries on -c /a.conf"),
            (PathBuf::from("/a.conf"), "log-queries on".into())
        );
        assert_eq!(line("log-queries off").1, "log-queries off");
        assert_eq!(line("log-queries").1, "log-queries");
        assert!(parse("log-queries maybe").is_err());
        assert!(parse("log-queries on off").is_err());
        assert!(parse("status on").is_err());
        assert!(
            matches!(parse("log-queries --help"), Ok(Parsed::Print(s)) if s.contains("next reload"))
        );
    }
}
