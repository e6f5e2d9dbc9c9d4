//! What the VRRP lab tests share (tests/vrrp_e2e.rs for IPv4,
//! tests/vrrp6_e2e.rs for IPv6): a hamasq config in the lab's directory,
//! starting hamasq, starting a real keepalived.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::lab::{Host, Lab, Proc};

pub const BIN: &str = env!("CARGO_BIN_EXE_hamasq");

/// `body` under the lab's common `[general]` ([`Lab::hamasq_conf`]).
pub fn conf(lab: &Lab, host: &str, body: &str) -> PathBuf {
    lab.hamasq_conf(host, body)
}

/// hamasq in the foreground in `host`, once its VRRP task has started.
pub fn start(host: &Host, conf: &Path) -> Proc {
    let p = host.spawn(&[BIN, "-f", "-c", conf.to_str().unwrap()]);
    p.wait_for_log("vrrp.started", Duration::from_secs(10));
    p
}

/// keepalived in the foreground in `host`, VRRP only, logging to stdout;
/// its pid files named by `tag` beside `conf`.
pub fn keepalived(host: &Host, conf: &Path, tag: &str) -> Proc {
    let dir = conf.parent().unwrap();
    host.spawn(&[
        "keepalived",
        "-n",
        "-l",
        "-D",
        "-P",
        "-f",
        conf.to_str().unwrap(),
        "-p",
        dir.join(format!("{tag}.pid")).to_str().unwrap(),
        "-r",
        dir.join(format!("{tag}-vrrp.pid")).to_str().unwrap(),
    ])
}
