//! The DHCP task's log lines about messages (design §8): one info line per
//! message as dnsmasq logs them, and the `log-dhcp` detail of replies.

use std::net::Ipv4Addr;

use super::binding::HwAddr;
use super::driver::DhcpTask;
use super::server::{Answer, MsgType};
use super::socket::ifname;
use crate::{event, event_limited, log};

impl DhcpTask {
    /// One info line per DHCP message received or sent, as dnsmasq's
    /// `DHCPACK(eth0) 192.168.1.118 aa:bb:.. laptop`, unless `quiet-dhcp`;
    /// rate-limited per message type like every input-driven line.
    pub(super) fn log_message(
        &self,
        msg: MsgType,
        ifindex: u32,
        giaddr: Ipv4Addr,
        ip: Ipv4Addr,
        hw: &HwAddr,
        name: Option<&str>,
    ) {
        if self.quiet_dhcp || !crate::log::enabled(crate::log::Level::Info) {
            return;
        }
        // A routed reply (a renewal to `ciaddr`) names the interface of the
        // client's subnet.
        let iface = || {
            ifname(ifindex).or_else(|| {
                let subnets = &self.server.plan().subnets;
                let s = subnets.iter().find(|s| s.contains(ip))?;
                s.local.as_ref().map(|l| l.name.clone())
            })
        };
        let via = if !giaddr.is_unspecified() {
            format!("relay={giaddr}")
        } else {
            format!("iface={}", iface().unwrap_or_else(|| "-".into()))
        };
        let ip = if ip.is_unspecified() {
            String::new()
        } else {
            format!(" ip={ip}")
        };
        let name = name
            .map(|n| format!(" name={}", log::q(n)))
            .unwrap_or_default();
        let line = format!("{via}{ip} mac={hw}{name}");
        match msg {
            MsgType::Discover => event_limited!(Info, "dhcp.discover", "{line}"),
            MsgType::Offer => event_limited!(Info, "dhcp.offer", "{line}"),
            MsgType::Request => event_limited!(Info, "dhcp.request", "{line}"),
            MsgType::Decline => event_limited!(Info, "dhcp.decline", "{line}"),
            MsgType::Ack => event_limited!(Info, "dhcp.ack", "{line}"),
            MsgType::Nak => event_limited!(Info, "dhcp.nak", "{line}"),
            MsgType::Release => event_limited!(Info, "dhcp.release", "{line}"),
            MsgType::Inform => event_limited!(Info, "dhcp.inform", "{line}"),
            MsgType::Other(_) => {}
        }
    }

    pub(super) fn log_reply(&self, a: &Answer) {
        if self.log_dhcp {
            event!(
                Info,
                "dhcp.reply",
                "msg={} mac={} ip={} xid={:#x} changes={}",
                a.msg.name(),
                a.hw,
                a.yiaddr,
                a.xid,
                a.changes.len()
            );
        }
    }
}
