//! ISC dhclient as the lab tests run it, for DHCPv4 and for stateless
//! DHCPv6 (`-6 -S`, RFC 8415 §18.2.6): in the foreground, a hook that only
//! records (or configures the namespace's own eth0), its lease and pid
//! files in the lab's directory (never the machine's).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Host, Lab, Proc};

/// A dhclient hook that records the stateless configuration it got.
pub fn dhclient_script(lab: &Lab, tag: &str) -> (PathBuf, PathBuf) {
    let rec = lab.dir().join(format!("{tag}.rec"));
    let script = lab.dir().join(format!("{tag}.sh"));
    super::write_script(
        &script,
        &format!(
            "#!/bin/sh\necho \"$reason dns=$new_dhcp6_name_servers domains=$new_dhcp6_domain_search\" >> {}\nexit 0\n",
            rec.display()
        ),
    );
    (script, rec)
}

/// ISC dhclient on `host`'s eth0 in the foreground (`-d`: it dies with
/// the lab), `script` as its hook, its lease and pid files
/// `dir/NAME.leases` and `dir/NAME.pid` (write the lease file first for a
/// client that remembers a lease); `args` come before the interface
/// (`-6 -S`, `-cf FILE`, `-v`).
pub fn spawn(host: &Host, dir: &Path, name: &str, script: &Path, args: &[&str]) -> Proc {
    let lf = dir.join(format!("{name}.leases"));
    let pf = dir.join(format!("{name}.pid"));
    let mut argv = vec!["dhclient", "-d"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&[
        "-sf",
        script.to_str().unwrap(),
        "-lf",
        lf.to_str().unwrap(),
        "-pf",
        pf.to_str().unwrap(),
        "eth0",
    ]);
    host.spawn(&argv)
}

/// `dhclient -6 -S` (Information-request only, RFC 8415 §18.2.6).
pub fn dhclient_stateless(lab: &Lab, host: &str, script: &Path) -> Proc {
    let name = format!("{host}6");
    spawn(
        lab.host(host),
        lab.dir(),
        &name,
        script,
        &["-6", "-S", "-v"],
    )
}

pub fn wait_record(rec: &Path, what: &str) -> String {
    let mut last = String::new();
    let ok = super::wait_until(Duration::from_secs(20), || {
        last = std::fs::read_to_string(rec).unwrap_or_default();
        last.contains(what)
    });
    assert!(ok, "{} never recorded {what:?}: {last:?}", rec.display());
    last
}
