//! ISC `dhclient -6 -S` (stateless DHCPv6, RFC 8415 §18.2.6) as the lab
//! tests run it: a hook that only records what it got, its lease and pid
//! files in the lab's directory (never the machine's).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Lab, Proc};

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

/// `dhclient -6 -S` (Information-request only, RFC 8415 §18.2.6) in the
/// foreground, its files in the lab directory.
pub fn dhclient_stateless(lab: &Lab, host: &str, script: &Path) -> Proc {
    let lf = lab.dir().join(format!("{host}.leases6"));
    let pf = lab.dir().join(format!("{host}.pid6"));
    lab.host(host).spawn(&[
        "dhclient",
        "-6",
        "-S",
        "-d",
        "-v",
        "-sf",
        script.to_str().unwrap(),
        "-lf",
        lf.to_str().unwrap(),
        "-pf",
        pf.to_str().unwrap(),
        "eth0",
    ])
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
