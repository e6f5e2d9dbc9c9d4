# hamasq: UCI to hamasq INI. Sourced by /etc/init.d/hamasq; plain POSIX sh
# and awk (busybox's is enough), no `uci` binary, so the same code runs in
# the test suite on sample files (tests/packaging.rs).
#
#   hamasq_uci_to_ini [CONFDIR [IFACES]] > hamasq.conf
#
# CONFDIR holds the UCI files `hamasq`, `dhcp` and `network` (default
# /etc/config; a missing file counts as empty). IFACES, optional, has one
# line per logical interface that is up: `NAME DEVICE ADDRESS/PREFIX`
# (the init script writes it from netifd's state); an interface not in it
# is taken from its static `config interface` section in `network`.
#
# Read from /etc/config/dhcp, as dnsmasq's init script reads it:
#   config dnsmasq: authoritative, domain, dhcpleasemax, logdhcp, quietdhcp,
#                   noping, dhcp_option(_force) (for every client),
#                   readethers (/etc/ethers, or $HAMASQ_ETHERS), dhcp_boot
#   config dhcp:    interface, start, limit, leasetime, ignore, dhcpv4,
#                   networkid (the tag, else the interface, as dnsmasq),
#                   dhcp_option, dhcp_option_force, dynamicdhcp(v4)
#   config host:    mac, ip, name, leasetime, tag, networkid, enable
#   config boot:    filename, servername, serveraddress
#   config tag:     dhcp_option, force
#   config odhcpd:  maindhcp (odhcpd serves DHCPv4: hamasq does not)
# Settings hamasq cannot honour are named in a warning, never dropped
# silently: dynamicdhcp(v4) 0 (no static-only pools: the pool is not
# served), force, options, netmask, interface_name, instance, DHCPv6/RA
# without a config odhcpd, config match/vendorclass/userclass/circuitid/
# remoteid/subscrid/mac/relay, a boot or host setting without an
# equivalent, and every other option of config dnsmasq that differs from
# dnsmasq.init's default (dnsmasq_tables below lists them all).
# With HAMASQ_DNSMASQ=1 in the environment (the init script sets it when
# dnsmasq is enabled) a pool that dnsmasq serves (no `option ignore 1`)
# is left to dnsmasq, with a warning.
# and, with `option dns 1` in /etc/config/hamasq, for hamasq's [dns]:
#   config dnsmasq: port, domain, cachesize, dnsforwardmax, resolvfile,
#                   local_ttl, min/max_cache_ttl, localservice, noresolv,
#                   strictorder, allservers, nohosts, expandhosts,
#                   domainneeded, boguspriv, rebind_protection,
#                   rebind_localhost, server, local, address, addnhosts,
#                   rebind_domain (rebind_protection and boguspriv on
#                   unless set to 0, as in dnsmasq.init); confdir,
#                   interface, notinterface: warned about
#   config domain:  name, ip (host-record);  config cname: cname, target
#   config hostrecord: name, ip;  config srvhost: srv, target, port,
#                   class, weight;  config mxhost/dnsrr/ipset: warned about
# Read from /etc/config/hamasq: see that file. With its
# `option keepalived '1'`, the vrrp_instance sections of keepalived's
# /etc/config/keepalived become [vrrp NAME] too (interface,
# virtual_router_id, priority, advert_int, nopreempt, preempt_delay,
# unicast_src_ip, unicast_peer, virtual_ipaddress and track_interface by
# the names of their config ipaddress / track_interface sections); the
# rest is named in a warning.
#
# Writes the INI on stdout and one `hamasq-uci: ...` line per warning on
# stderr. Returns 1 when the files cannot be read.

hamasq_uci_to_ini() {
	local dir="${1:-/etc/config}" ifaces="${2:-}" f
	local hamasq=/dev/null dhcp=/dev/null network=/dev/null keepalived=/dev/null
	[ -r "$dir/hamasq" ] && hamasq="$dir/hamasq"
	[ -r "$dir/dhcp" ] && dhcp="$dir/dhcp"
	[ -r "$dir/network" ] && network="$dir/network"
	[ -r "$dir/keepalived" ] && keepalived="$dir/keepalived"
	[ -n "$ifaces" ] && [ -r "$ifaces" ] || ifaces=/dev/null
	for f in "$hamasq" "$dhcp" "$network" "$ifaces"; do
		[ -r "$f" ] || { echo "hamasq-uci: cannot read $f" >&2; return 1; }
	done
	local ethers="${HAMASQ_ETHERS-/etc/ethers}"
	[ -n "$ethers" ] && [ -r "$ethers" ] || ethers=/dev/null
	${HAMASQ_AWK:-awk} -v dnsmasq_on="${HAMASQ_DNSMASQ:-0}" "$HAMASQ_UCI_AWK" \
		pkg=hamasq "$hamasq" pkg=dhcp "$dhcp" pkg=network "$network" \
		pkg=ifaces "$ifaces" pkg=ethers "$ethers" pkg=keepalived "$keepalived"
}

HAMASQ_UCI_AWK='
function warn(m) { printf "hamasq-uci: %s\n", m > "/dev/stderr" }

# UCI line -> T[1..n]; quotes and backslashes as uci(1) writes them.
function tokenize(s,   n, i, c, w, have, q) {
	n = 0; w = ""; have = 0; q = ""
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (q == "\047") {
			if (c == "\047") q = ""; else w = w c
			continue
		}
		if (q == "\"") {
			if (c == "\\" && i < length(s)) { i++; w = w substr(s, i, 1) }
			else if (c == "\"") q = ""
			else w = w c
			continue
		}
		if (c == " " || c == "\t" || c == "\r") {
			if (have) { T[++n] = w; w = ""; have = 0 }
			continue
		}
		if (c == "#" && !have) break
		have = 1
		if (c == "\047" || c == "\"") q = c
		else if (c == "\\" && i < length(s)) { i++; w = w substr(s, i, 1) }
		else w = w c
	}
	if (have) T[++n] = w
	return n
}

# --- the store: S[pkg] sections; per section type, name, options, lists
function addsec(p, type, name,   i) {
	i = ++S[p]
	STYPE[p, i] = type
	NTYPE[p, type]++
	if (name == "") name = "@" type "[" (NTYPE[p, type] - 1) "]"
	SNAME[p, i] = name
	SIDX[p, name] = i
	return i
}
function opt(p, i, k, def) { return ((p, i, k) in OPT) ? OPT[p, i, k] : def }
# Values of a list option (or of a plain option, split at blanks) into V.
function vals(p, i, k,   n, j, m, a) {
	n = 0
	for (j = 1; j <= LN[p, i, k]; j++) V[++n] = L[p, i, k, j]
	if (((p, i, k) in OPT) && OPT[p, i, k] != "") {
		m = split(OPT[p, i, k], a, /[ \t]+/)
		for (j = 1; j <= m; j++) if (a[j] != "") V[++n] = a[j]
	}
	return n
}
function first(p, type,   i) {
	for (i = 1; i <= S[p]; i++) if (STYPE[p, i] == type) return i
	return 0
}
function truthy(v) { return v == "1" || v == "on" || v == "true" || v == "yes" || v == "enabled" }

# --- IPv4 arithmetic without bit operations (POSIX awk has none) nor ^
# (busybox awk may be built without its maths library)
function ip2int(s,   a, n, j, r) {
	n = split(s, a, ".")
	if (n != 4) return -1
	r = 0
	for (j = 1; j <= 4; j++) {
		if (a[j] !~ /^[0-9]+$/ || a[j] + 0 > 255) return -1
		r = r * 256 + a[j]
	}
	return r
}
function int2ip(n,   a, b, c) {
	a = int(n / 16777216); n -= a * 16777216
	b = int(n / 65536); n -= b * 65536
	c = int(n / 256); n -= c * 256
	return a "." b "." c "." n
}
function mask2prefix(m,   v, p, blk) {
	v = ip2int(m)
	if (v < 0) return -1
	blk = 4294967296 - v
	for (p = 32; p >= 0; p--) {
		if (blk == 1) return p
		if (blk % 2) return -1
		blk /= 2
	}
	return -1
}

# Device and ADDR/PREFIX of logical interface `lif` into DEV, CIDR.
function iface(lif,   i, d, a, m, pfx, n, j, x) {
	DEV = ""; CIDR = ""
	if ((lif) in RDEV) { DEV = RDEV[lif]; CIDR = RCIDR[lif]; return 1 }
	i = SIDX["network", lif]
	if (!i || STYPE["network", i] != "interface") return 0
	d = opt("network", i, "device", "")
	if (d == "") d = opt("network", i, "ifname", "")
	if (opt("network", i, "type", "") == "bridge") d = "br-" lif
	if (opt("network", i, "proto", "") != "static") return 0
	n = vals("network", i, "ipaddr")
	a = (n > 0) ? V[1] : ""
	if (index(a, "/")) { pfx = substr(a, index(a, "/") + 1); a = substr(a, 1, index(a, "/") - 1) }
	else {
		m = opt("network", i, "netmask", "")
		pfx = (m == "") ? -1 : mask2prefix(m)
	}
	if (d == "" || ip2int(a) < 0 || pfx !~ /^[0-9]+$/ || pfx + 0 < 8 || pfx + 0 > 30) return 0
	DEV = d; CIDR = a "/" pfx
	return 1
}

function leasetime(v) {
	if (v == "") return "12h"
	if (v == "infinite") return v
	if (v ~ /^[0-9]+s$/) v = substr(v, 1, length(v) - 1)
	if (v ~ /^[0-9]+[mhdw]?$/) return v
	return ""
}

function out(s) { print s }
function kv(k, v) { print k " = " v }

BEGIN { pkg = "" }
FNR == 1 { cur = 0 }
{
	if (pkg == "ifaces") {
		if (NF >= 3 && $1 !~ /^#/) { RDEV[$1] = $2; RCIDR[$1] = $3 }
		next
	}
	if (pkg == "ethers") {
		if (NF >= 2 && $1 !~ /^#/) { ETHMAC[++NETH] = $1; ETHVAL[NETH] = $2 }
		next
	}
	n = tokenize($0)
	if (n == 0) next
	if (T[1] == "package") next
	if (T[1] == "config") { cur = addsec(pkg, T[2], (n >= 3) ? T[3] : ""); next }
	if (n < 2 || !cur) { warn(FILENAME ":" FNR ": not understood: " $0); next }
	if (T[1] == "option") OPT[pkg, cur, T[2]] = (n >= 3) ? T[3] : ""
	else if (T[1] == "list") L[pkg, cur, T[2], ++LN[pkg, cur, T[2]]] = (n >= 3) ? T[3] : ""
	else warn(FILENAME ":" FNR ": not understood: " $0)
}

END {
	m = first("hamasq", "hamasq")
	out("# Written by /etc/init.d/hamasq from /etc/config/hamasq, /etc/config/dhcp")
	out("# and /etc/config/network: edit those, then /etc/init.d/hamasq reload.")
	out("[general]")
	kv("log-target", opt("hamasq", m, "log_target", "stderr"))
	if (opt("hamasq", m, "log_facility", "") != "") kv("log-facility", opt("hamasq", m, "log_facility", ""))
	kv("log-level", opt("hamasq", m, "log_level", "info"))
	kv("pid-file", "none")
	statedir = opt("hamasq", m, "state_dir", "/var/lib/hamasq")
	kv("state-dir", statedir)
	# hamasq drops root itself, keeping its three capabilities (procd`s
	# own `user` would leave it none): see /etc/init.d/hamasq.
	user = opt("hamasq", m, "user", "hamasq")
	if (user == "root" || user == "") warn("user " (user == "" ? "(empty)" : "root") ": hamasq keeps running as root with every capability")
	else kv("user", user)
	if (opt("hamasq", m, "metrics_listen", "") != "") kv("metrics-listen", opt("hamasq", m, "metrics_listen", ""))

	nvrrp = 0
	for (i = 1; i <= S["hamasq"]; i++)
		if (STYPE["hamasq", i] == "vrrp" && opt("hamasq", i, "enabled", "1") != "0") nvrrp++
	if (truthy(opt("hamasq", m, "keepalived", "0")))
		for (i = 1; i <= S["keepalived"]; i++) if (STYPE["keepalived", i] == "vrrp_instance") nvrrp++

	# ---- [dhcp]
	if (opt("hamasq", m, "dhcp", "1") != "0") dhcp_section()

	# ---- [vrrp NAME]
	hook = opt("hamasq", m, "hotplug", "1")
	for (i = 1; i <= S["hamasq"]; i++) {
		if (STYPE["hamasq", i] != "vrrp" || opt("hamasq", i, "enabled", "1") == "0") continue
		name = SNAME["hamasq", i]
		if (name ~ /^@/) { warn("a config vrrp section needs a name (config vrrp NAME): skipped"); continue }
		out("")
		out("[vrrp " name "]")
		hasnotify = 0
		for (k in OPT) {
			split(k, ks, SUBSEP)
			if (ks[1] == "hamasq" && ks[2] == i) VKEYS[i, ks[3]] = 1
		}
		for (k in LN) {
			split(k, ks, SUBSEP)
			if (ks[1] == "hamasq" && ks[2] == i) VKEYS[i, ks[3]] = 1
		}
		# a fixed order, so the file only changes when the config does
		nk = split("interface virtual_router_id priority advert_int version virtual_ipaddress nopreempt preempt_delay unicast_src_ip unicast_peer checksum garp_master_repeat garp_master_delay garp_master_refresh startup_delay down_timer_adverts track_interface track_script notify notify_timeout", order, " ")
		for (j = 1; j <= nk; j++) vrrp_key(i, order[j])
		for (k in VKEYS) {
			split(k, ks, SUBSEP)
			if (ks[1] != i || ks[2] == "enabled" || (ks[2] in DONE)) continue
			vrrp_key(i, ks[2])
		}
		for (k in DONE) delete DONE[k]
		if (!hasnotify && hook != "0")
			kv("notify", opt("hamasq", m, "hotplug_script", "/usr/libexec/hamasq/vrrp-hotplug"))
	}

	if (truthy(opt("hamasq", m, "keepalived", "0"))) keepalived_instances()

	# ---- [dns]
	DNSON = truthy(opt("hamasq", m, "dns", "0"))
	if (DNSON) dns_section()
	else for (i = 1; i <= S["dhcp"]; i++)
		if (STYPE["dhcp", i] ~ /^(domain|cname|hostrecord|srvhost)$/) {
			warn("config " STYPE["dhcp", i] " sections are DNS names, served only with option dns 1 in /etc/config/hamasq: ignored")
			break
		}

	# what dnsmasq.init would have done that the sections above did not
	if (DNSON || DHCPON) dnsmasq_leftovers()

	# the logical interfaces whose events reload hamasq (init script)
	if (NTRIG > 0) {
		line = ""
		for (j = 1; j <= NTRIG; j++) line = line (j > 1 ? " " : "") TRIG[j]
		out("")
		out("# netifd interfaces: " line)
	}
}

# keepalived`s UCI (as its init script reads it) -> [vrrp NAME]
function keepalived_instances(   i, j, n, name, k, v, ref, r, w, nk, ks, hook, dev) {
	hook = opt("hamasq", m, "hotplug", "1")
	for (i = 1; i <= S["keepalived"]; i++) {
		if (STYPE["keepalived", i] != "vrrp_instance") continue
		name = opt("keepalived", i, "name", "")
		if (name !~ /^[A-Za-z0-9_.-]+$/) { warn("keepalived: a vrrp_instance needs a name of letters, digits, _ . -: skipped"); continue }
		if (("hamasq", name) in SIDX) { warn("keepalived: vrrp_instance " name ": /etc/config/hamasq has a config vrrp of that name: skipped"); continue }
		out("")
		out("[vrrp " name "]")
		v = opt("keepalived", i, "interface", "")
		if (iface(v)) { trigger(v); v = DEV }
		if (v != "") kv("interface", v)
		dev = v
		nk = split("virtual_router_id priority advert_int preempt_delay unicast_src_ip", ks, " ")
		for (j = 1; j <= nk; j++) {
			v = opt("keepalived", i, ks[j], "")
			k = ks[j]; gsub(/_/, "-", k)
			if (v != "") kv(k, v)
		}
		if (opt("keepalived", i, "nopreempt", "") != "") kv("nopreempt", truthy(opt("keepalived", i, "nopreempt", "")) ? "true" : "false")
		n = vals("keepalived", i, "unicast_peer")
		for (j = 1; j <= n; j++) kv("unicast-peer", V[j])
		# virtual_ipaddress and track_interface name other sections
		n = vals("keepalived", i, "virtual_ipaddress")
		for (j = 1; j <= n; j++) { REF[j] = V[j] }
		for (j = 1; j <= n; j++) {
			r = ka_named("ipaddress", REF[j])
			if (!r) { warn("keepalived: vrrp_instance " name ": no config ipaddress named " REF[j] ": left out"); continue }
			kv("virtual-ipaddress", opt("keepalived", r, "address", ""))
			if (opt("keepalived", r, "device", "") != "" && opt("keepalived", r, "device", "") != dev)
				warn("keepalived: ipaddress " REF[j] " on device " opt("keepalived", r, "device", "") ": hamasq adds it on the instance`s interface")
		}
		n = vals("keepalived", i, "track_interface")
		for (j = 1; j <= n; j++) { REF[j] = V[j] }
		for (j = 1; j <= n; j++) {
			r = ka_named("track_interface", REF[j])
			if (!r) { warn("keepalived: vrrp_instance " name ": no config track_interface named " REF[j] ": left out"); continue }
			w = opt("keepalived", r, "weight", "")
			v = opt("keepalived", r, "value", "")
			kv("track-interface", v (w != "" ? " weight " w : ""))
		}
		nk = split("state track_script notify notify_master notify_backup notify_fault notify_stop use_vmac native_ipv6 virtual_ipaddress_excluded virtual_routes mcast_src_ip accept dont_track_primary auth_type auth_pass smtp_alert debug", ks, " ")
		for (j = 1; j <= nk; j++)
			if (opt("keepalived", i, ks[j], "") != "" || LN["keepalived", i, ks[j]] > 0)
				warn("keepalived: vrrp_instance " name ": " ks[j] " not converted" (ks[j] ~ /^notify/ ? " (role changes are hotplug events for /etc/hotplug.d/keepalived/ with option keepalived_hotplug 1)" : ""))
		if (hook != "0")
			kv("notify", opt("hamasq", m, "hotplug_script", "/usr/libexec/hamasq/vrrp-hotplug"))
	}
}

# the config TYPE section of /etc/config/keepalived whose option name is N
function ka_named(type, n,   i) {
	for (i = 1; i <= S["keepalived"]; i++)
		if (STYPE["keepalived", i] == type && opt("keepalived", i, "name", "") == n) return i
	return 0
}

function trigger(lif) {
	if (lif in TRIGSEEN) return
	TRIGSEEN[lif] = 1
	TRIG[++NTRIG] = lif
}

# dnsmasq`s DNS settings in /etc/config/dhcp, as dnsmasq.init maps them
function dns_section(   dm, n, j, k, nk, v, keys, ini, i, name, ip) {
	dm = first("dhcp", "dnsmasq")
	out("")
	out("[dns]")
	if (dm) {
		# UCI option -> hamasq key, for values
		nk = split("port:port domain:domain cachesize:cache-size dnsforwardmax:dns-forward-max resolvfile:resolv-file local_ttl:local-ttl min_cache_ttl:min-cache-ttl max_cache_ttl:max-cache-ttl", keys, " ")
		for (j = 1; j <= nk; j++) {
			split(keys[j], k, ":")
			v = opt("dhcp", dm, k[1], "")
			if (v != "") kv(k[2], v)
		}
		# ... for flags (written only when set, as true or false)
		nk = split("localservice:local-service noresolv:no-resolv strictorder:strict-order allservers:all-servers nohosts:no-hosts expandhosts:expand-hosts domainneeded:domain-needed rebind_localhost:rebind-localhost-ok", keys, " ")
		for (j = 1; j <= nk; j++) {
			split(keys[j], k, ":")
			v = opt("dhcp", dm, k[1], "")
			if (v != "") kv(k[2], truthy(v) ? "true" : "false")
		}
		# on unless set to 0, as dnsmasq.init has them
		kv("bogus-priv", truthy(opt("dhcp", dm, "boguspriv", "1")) ? "true" : "false")
		kv("stop-dns-rebind", truthy(opt("dhcp", dm, "rebind_protection", "1")) ? "true" : "false")
		# dnsmasq settings hamasq has no equivalent for
		if (opt("dhcp", dm, "confdir", "") != "")
			warn("dhcp." SNAME["dhcp", dm] ": confdir " opt("dhcp", dm, "confdir", "") " is not read by hamasq (adblock lists and other dnsmasq snippets in it have no effect)")
		# interfaces to answer on, as dnsmasq.init: the device of a
		# logical interface, else the name as given
		n = vals("dhcp", dm, "interface")
		for (i = 1; i <= n; i++) { v = V[i]; if (iface(v)) v = DEV; IFV[i] = v }
		for (i = 1; i <= n; i++) kv("interface", IFV[i])
		n = vals("dhcp", dm, "listen_address")
		for (i = 1; i <= n; i++) kv("listen-address", V[i])
		if (vals("dhcp", dm, "notinterface") > 0)
			warn("dhcp." SNAME["dhcp", dm] ": notinterface not converted (hamasq has no except-interface): list the interfaces to answer on with interface instead")
		# ... and for lists
		nk = split("server:server local:local address:address addnhosts:addn-hosts rebind_domain:rebind-domain-ok", keys, " ")
		for (j = 1; j <= nk; j++) {
			split(keys[j], k, ":")
			n = vals("dhcp", dm, k[1])
			for (i = 1; i <= n; i++) {
				v = V[i]
				if (k[1] == "rebind_domain" && v !~ /^\//) v = "/" v "/"
				kv(k[2], v)
			}
		}
	}
	for (i = 1; i <= S["dhcp"]; i++) {
		if (STYPE["dhcp", i] == "domain") {
			name = opt("dhcp", i, "name", ""); ip = opt("dhcp", i, "ip", "")
			if (name == "" || ip == "") warn("dhcp." SNAME["dhcp", i] ": a domain needs name and ip: skipped")
			else {
				# dnsmasq.init puts these in a hosts file, which expandhosts
				# qualifies with the domain
				if (dm && index(name, ".") == 0 && truthy(opt("dhcp", dm, "expandhosts", "0")) && opt("dhcp", dm, "domain", "") != "")
					name = name "," name "." opt("dhcp", dm, "domain", "")
				kv("host-record", name "," ip)
			}
		} else if (STYPE["dhcp", i] == "cname") {
			name = opt("dhcp", i, "cname", ""); ip = opt("dhcp", i, "target", "")
			if (name == "" || ip == "") warn("dhcp." SNAME["dhcp", i] ": a cname needs cname and target: skipped")
			else kv("cname", name "," ip)
		} else if (STYPE["dhcp", i] == "hostrecord") {
			# names then addresses, comma-separated, as dnsmasq.init
			name = ""
			n = vals("dhcp", i, "name")
			for (j = 1; j <= n; j++) name = name (name == "" ? "" : ",") V[j]
			ip = ""
			n = vals("dhcp", i, "ip")
			for (j = 1; j <= n; j++) ip = ip (ip == "" ? "" : ",") V[j]
			if (name == "" || ip == "") warn("dhcp." SNAME["dhcp", i] ": a hostrecord needs name and ip: skipped")
			else kv("host-record", name "," ip)
		} else if (STYPE["dhcp", i] == "srvhost") {
			name = opt("dhcp", i, "srv", ""); ip = opt("dhcp", i, "target", "")
			v = opt("dhcp", i, "port", "")
			if (name == "" || ip == "" || v == "") warn("dhcp." SNAME["dhcp", i] ": a srvhost needs srv, target and port: skipped")
			else {
				v = name "," ip "," v
				if (opt("dhcp", i, "class", "") != "") {
					v = v "," opt("dhcp", i, "class", "")
					if (opt("dhcp", i, "weight", "") != "") v = v "," opt("dhcp", i, "weight", "")
				}
				kv("srv-host", v)
			}
		} else if (STYPE["dhcp", i] ~ /^(mxhost|dnsrr|ipset)$/) {
			warn("dhcp." SNAME["dhcp", i] ": config " STYPE["dhcp", i] " not converted (" (STYPE["dhcp", i] == "mxhost" ? "no MX records" : STYPE["dhcp", i] == "dnsrr" ? "no arbitrary records" : "no ipset/nftset filling") " in hamasq)")
		}
	}
}

# Every option dnsmasq.init reads in a config dnsmasq section, by what it
# is for, and dnsmasq.init`s default ("" for a value or a list):
#   dnsc, dhcpc  converted above (dns_section, dhcp_section, init script)
#   dns, dhcp    no equivalent in hamasq: named in a warning when set to
#                something else than the default (add_local_hostname, on
#                by default, even when left out), and only when hamasq
#                does that job (option dns 1 / a [dhcp] section written);
#                otherwise dnsmasq keeps doing it with that setting
#   tftp         dnsmasq`s TFTP/PXE server: warned about with option dns 1
#                (dnsmasq is then off, or at least off port 53)
#   any          warned about whenever hamasq does DNS or DHCP
#   none         about the dnsmasq process itself, nothing to convert:
#                disabled, nodaemon, ubus (hamasq has no ubus object;
#                its hotplug events go through ubus, see the init script)
# Options in no list (a newer dnsmasq.init, a typo) are named too.
function dnsmasq_tables(   a, n, j, kd) {
	n = split("port domain cachesize dnsforwardmax resolvfile local_ttl min_cache_ttl max_cache_ttl localservice noresolv strictorder allservers nohosts expandhosts domainneeded boguspriv rebind_protection rebind_localhost server local address addnhosts rebind_domain confdir interface listen_address notinterface", a, " ")
	for (j = 1; j <= n; j++) ROLE[a[j]] = "dnsc"
	n = split("authoritative dhcpleasemax logdhcp quietdhcp noping readethers dhcp_boot dhcp_option dhcp_option_force leasefile dhcpscript", a, " ")
	for (j = 1; j <= n; j++) ROLE[a[j]] = "dhcpc"
	n = split("disabled nodaemon ubus", a, " ")
	for (j = 1; j <= n; j++) ROLE[a[j]] = "none"
	n = split("dns:filterwin2k:0 dns:nonegcache:0 dns:logqueries:0 dns:localise_queries:0 dns:dbus:0 dns:nonwildcard:1 dns:proxydnssec:0 dns:filter_aaaa:0 dns:filter_a:0 dns:filter_rr: dns:cache_rr: dns:ednspacket_max:1232 dns:queryport: dns:minport: dns:maxport: dns:rev_server: dns:connmark_allowlist_enable:0 dns:connmark_allowlist: dns:ignore_hosts_dir:0 dns:bogusnxdomain: dns:serversfile: dns:max_ttl: dns:add_local_domain:1 dns:add_local_hostname:0 dns:add_local_fqdn: dns:add_wan_fqdn:0 dns:cachelocal:1 dns:localuse: dns:dnssec:0 dns:dnsseccheckunsigned:1 dns:addmac:0 dns:stripmac:0 dns:addsubnet: dns:stripsubnet:0 dns:extraconftext: dns:addnmount: dhcp:sequential_ip:0 dhcp:rapidcommit:0 dhcp:scriptarp:0 dhcp:fqdn:0 dhcp:dhcphostsfile: dhcp:dhcpbogushostname:1 tftp:enable_tftp:0 tftp:tftp_root: tftp:tftp_no_fail:0 tftp:pxe_prompt: tftp:tftp_unique_root: tftp:pxe_service: any:logfacility:", a, " ")
	for (j = 1; j <= n; j++) {
		split(a[j], kd, ":")
		ROLE[kd[2]] = kd[1]; DEF[kd[2]] = kd[3]
	}
	# why, where a word helps
	WHY["localise_queries"] = "hamasq answers a local name with all its addresses, not only those on the interface the query came in on"
	WHY["logqueries"] = "hamasq has no query log"
	WHY["nonegcache"] = "hamasq caches negative answers that carry an SOA"
	WHY["filter_aaaa"] = WHY["filter_a"] = WHY["filter_rr"] = "hamasq does not filter answers by record type"
	WHY["dnssec"] = "hamasq does not validate DNSSEC"
	WHY["ednspacket_max"] = "hamasq always offers 1232"
	WHY["nonwildcard"] = "hamasq binds as interface and listen-address say"
	WHY["add_local_hostname"] = WHY["add_local_fqdn"] = WHY["add_wan_fqdn"] = "the router`s own name is not added: give it a config domain"
	WHY["dhcpbogushostname"] = "hamasq always refuses the client names localhost, wpad and isatap"
	WHY["logfacility"] = "use log_facility in /etc/config/hamasq"
	WHY["tftp"] = "hamasq has no TFTP server"
}

# the options of the config dnsmasq section that hamasq cannot honour
function dnsmasq_leftovers(   dm, i, k, ks, o, v, r, d, sec, n, j, nh) {
	dm = first("dhcp", "dnsmasq")
	if (!dm) return
	dnsmasq_tables()
	sec = "dhcp." SNAME["dhcp", dm]
	for (k in OPT) {
		split(k, ks, SUBSEP)
		if (ks[1] == "dhcp" && ks[2] == dm) HAVE[ks[3]] = 1
	}
	for (k in LN) {
		split(k, ks, SUBSEP)
		if (ks[1] == "dhcp" && ks[2] == dm) HAVE[ks[3]] = 1
	}
	# in name order: every awk then warns in the same order
	nh = 0
	for (o in HAVE) {
		for (j = ++nh; j > 1 && NAMES[j - 1] > o; j--) NAMES[j] = NAMES[j - 1]
		NAMES[j] = o
	}
	for (i = 1; i <= nh; i++) {
		o = NAMES[i]
		r = (o in ROLE) ? ROLE[o] : "unknown"
		if (r == "dnsc" || r == "dhcpc" || r == "none") continue
		if ((r == "dns" || r == "tftp") && !DNSON) continue
		if (r == "dhcp" && !DHCPON) continue
		n = vals("dhcp", dm, o)
		v = ""
		for (j = 1; j <= n; j++) v = v (j > 1 ? " " : "") V[j]
		d = DEF[o]
		if (d == "0" || d == "1") { if (truthy(v) == (d == "1")) continue }
		else if (v == d) continue
		warn(sec ": " o " " v " not converted (" ((o in WHY) ? WHY[o] : (r in WHY) ? WHY[r] : (r == "unknown") ? "not a dnsmasq.init option this conversion knows" : "no equivalent in hamasq") ")")
	}
	# on by default in dnsmasq.init, and not done by hamasq: named even
	# when left out (dnsmasq answered for the router`s own name)
	if (DNSON && !("add_local_hostname" in HAVE))
		warn(sec ": add_local_hostname (on unless set to 0) not converted (" WHY["add_local_hostname"] ")")
	for (k in HAVE) delete HAVE[k]
	for (i = dm + 1; i <= S["dhcp"]; i++)
		if (STYPE["dhcp", i] == "dnsmasq")
			warn("dhcp." SNAME["dhcp", i] ": a second config dnsmasq section (another dnsmasq instance) not converted: hamasq reads the first")
	if (DHCPON)
		for (i = 1; i <= S["dhcp"]; i++)
			if (STYPE["dhcp", i] == "relay") {
				warn("dhcp." SNAME["dhcp", i] ": config relay not converted (hamasq is no DHCP relay)")
				break
			}
}

function vrrp_key(i, k,   n, j, v, key, a) {
	if (k in DONE) return
	DONE[k] = 1
	n = 0
	if (LN["hamasq", i, k] > 0) {
		# a list: one value per entry
		for (j = 1; j <= LN["hamasq", i, k]; j++) V[++n] = L["hamasq", i, k, j]
	} else if (("hamasq", i, k) in OPT) {
		# an option: one value (track_interface = wan0 weight -60), but
		# addresses may be given blank-separated
		if (k == "virtual_ipaddress" || k == "unicast_peer") n = split(OPT["hamasq", i, k], V, /[ \t]+/)
		else V[++n] = OPT["hamasq", i, k]
	}
	key = k
	gsub(/_/, "-", key)
	for (j = 1; j <= n; j++) {
		v = V[j]
		if (v == "") continue
		if (k == "notify") hasnotify = 1
		if (k == "interface" && iface(v)) { trigger(v); v = DEV }
		if (k == "nopreempt") v = truthy(v) ? "true" : "false"
		kv(key, v)
	}
}

function dhcp_section(   i, j, k, n, o, sec, lif, ip, pfx, blk, net, bc, s, e, lim, lt, half, split_, nr, ni, dm, macs, addr, name, line, tag, ignored, v, nid, t, nt, nboot, fn, sn, sa, ty, mac, nk, ks) {
	o = first("dhcp", "odhcpd")
	if (o && truthy(opt("dhcp", o, "maindhcp", "0"))) {
		warn("odhcpd is the DHCPv4 server (dhcp.odhcpd.maindhcp=" opt("dhcp", o, "maindhcp", "") "): hamasq serves no DHCP")
		return
	}
	dm = first("dhcp", "dnsmasq")
	split_ = opt("hamasq", m, "ha_split", "")
	if (split_ != "" && split_ != "lower" && split_ != "upper") {
		warn("ha_split must be lower or upper, not " split_ ": ignored"); split_ = ""
	}
	nr = 0; ni = 0
	# which config dhcp sections: the list dhcp_section, else every one not ignored
	n = vals("hamasq", m, "dhcp_section")
	if (n > 0) for (j = 1; j <= n; j++) WANT[V[j]] = 1
	for (i = 1; i <= S["dhcp"]; i++) {
		if (STYPE["dhcp", i] != "dhcp") continue
		sec = SNAME["dhcp", i]
		ignored = truthy(opt("dhcp", i, "ignore", "0"))
		if (n > 0) { if (!(sec in WANT)) continue }
		else if (ignored || opt("dhcp", i, "dhcpv4", "") == "disabled") continue
		if (sec ~ /^@/) sec = "dhcp" i
		lif = opt("dhcp", i, "interface", SNAME["dhcp", i])
		if (dnsmasq_on == "1" && !ignored) {
			warn("dhcp." sec ": dnsmasq is enabled and serves this pool: left to dnsmasq. To switch over: uci set dhcp." sec ".ignore=1 (or /etc/init.d/dnsmasq disable), uci commit dhcp, /etc/init.d/dnsmasq reload")
			continue
		}
		# dynamicdhcpv4 overrides dynamicdhcp for IPv4, as in dnsmasq.init
		v = opt("dhcp", i, "dynamicdhcpv4", opt("dhcp", i, "dynamicdhcp", "1"))
		if (!truthy(v)) {
			warn("dhcp." sec ": " ((("dhcp", i, "dynamicdhcpv4") in OPT) ? "dynamicdhcpv4" : "dynamicdhcp") " 0 (static leases only) has no equivalent in hamasq: pool not served, so no client gets an address it was not given")
			continue
		}
		if (opt("dhcp", i, "instance", "") != "")
			warn("dhcp." sec ": instance " opt("dhcp", i, "instance", "") " not converted: hamasq reads every config dhcp section (or those of its dhcp_section list)")
		if (vals("dhcp", i, "interface_name") > 0)
			warn("dhcp." sec ": interface_name not converted (no interface-name in hamasq): give the name a config domain instead")
		# DHCPv6 and RA: odhcpd`s on OpenWrt (it reads these sections
		# too); only without a config odhcpd did dnsmasq serve them
		if (!first("dhcp", "odhcpd")) {
			nk = split("dhcpv6 ra ra_management ra_preference dns domain dynamicdhcpv6", ks, " ")
			for (j = 1; j <= nk; j++)
				if (opt("dhcp", i, ks[j], "") != "" || LN["dhcp", i, ks[j]] > 0)
					warn("dhcp." sec ": " ks[j] " not converted: hamasq serves DHCPv4 only, and there is no config odhcpd for IPv6")
		}
		if (opt("dhcp", i, "force", "") != "")
			warn("dhcp." sec ": force " opt("dhcp", i, "force", "") ": hamasq never probes for another DHCP server first (as with force 1)")
		if (opt("dhcp", i, "options", "") != "")
			warn("dhcp." sec ": options \"" opt("dhcp", i, "options", "") "\" (raw dnsmasq dhcp-range flags) not converted")
		if (vals("dhcp", i, "tag") > 0)
			warn("dhcp." sec ": tag (the pool only for clients with those tags) not converted: the pool serves every client")
		if (!iface(lif)) { warn("dhcp." sec ": interface " lif " has no static IPv4 address: skipped"); continue }
		trigger(lif)
		ip = ip2int(substr(CIDR, 1, index(CIDR, "/") - 1))
		pfx = substr(CIDR, index(CIDR, "/") + 1) + 0
		v = opt("dhcp", i, "netmask", "")
		if (v != "" && mask2prefix(v) != pfx)
			warn("dhcp." sec ": netmask " v " not converted: hamasq serves the subnet of " lif "`s own address (" CIDR ")")
		blk = 1; for (j = pfx; j < 32; j++) blk *= 2
		net = ip - ip % blk; bc = net + blk - 1
		# ipcalc.sh as dnsmasq.init calls it: START = network | (start & ~mask)
		s = opt("dhcp", i, "start", "100")
		s = (index(s, ".") ? ip2int(s) : s + 0) % blk + net
		lim = opt("dhcp", i, "limit", "150") + 0
		if (s < net + 1) s = net + 1
		if (s == ip) s = ip + 1
		e = s + lim - 1
		if (e > bc - 1) e = bc - 1
		if (e == ip) e = ip - 1
		if (lim < 1 || s > e) { warn("dhcp." sec ": start/limit leave no address in " CIDR ": skipped"); continue }
		if (ip > s && ip < e) warn("dhcp." sec ": the pool " int2ip(s) "-" int2ip(e) " contains this router (" int2ip(ip) ")")
		lt = leasetime(opt("dhcp", i, "leasetime", ""))
		if (lt == "") { warn("dhcp." sec ": leasetime " opt("dhcp", i, "leasetime", "") " not understood: 12h used"); lt = "12h" }
		if (!(DEV in SEEN)) { SEEN[DEV] = 1; IFL[++ni] = DEV }
		# the pool`s tag, as dnsmasq.init: networkid, else the interface
		tag = opt("dhcp", i, "networkid", lif)
		if (tag !~ /^[A-Za-z0-9_.-]+$/) { warn("dhcp." sec ": networkid " tag " is not a usable tag: dhcp" i " used"); tag = "dhcp" i }
		if (split_ != "" && e > s) {
			half = int((e - s + 1) / 2)
			if (split_ == "lower") { RANGE[++nr] = "set:" tag "," int2ip(s) "," int2ip(s + half - 1) "," lt; PEER[nr] = int2ip(s + half) "," int2ip(e) }
			else { RANGE[++nr] = "set:" tag "," int2ip(s + half) "," int2ip(e) "," lt; PEER[nr] = int2ip(s) "," int2ip(s + half - 1) }
		} else { RANGE[++nr] = "set:" tag "," int2ip(s) "," int2ip(e) "," lt; PEER[nr] = "" }
		NO[nr] = 0
		options_of(i, tag, nr)
	}
	if (nr == 0) {
		warn("no config dhcp section to serve: no [dhcp] section written")
		return
	}
	DHCPON = 1
	out("")
	out("[dhcp]")
	for (j = 1; j <= ni; j++) kv("interface", IFL[j])
	for (j = 1; j <= nr; j++) {
		kv("dhcp-range", RANGE[j])
		if (PEER[j] != "") kv("dhcp-peer-range", PEER[j])
	}
	if (opt("hamasq", m, "dns_self", "1") != "0") kv("dhcp-option", "option:dns-server,0.0.0.0")
	if (dm && opt("dhcp", dm, "domain", "") != "") kv("dhcp-option", "option:domain-name," opt("dhcp", dm, "domain", ""))
	for (j = 1; j <= nr; j++) for (k = 1; k <= NO[j]; k++) out(OPTS[j, k])
	# options of config dnsmasq: for every client, as dnsmasq.init has them
	if (dm) host_options(dm, "")

	# config host: static leases (enable 0 = left out, as dnsmasq.init)
	for (i = 1; i <= S["dhcp"]; i++) {
		if (STYPE["dhcp", i] != "host" || !truthy(opt("dhcp", i, "enable", "1"))) continue
		sec = "dhcp." SNAME["dhcp", i]
		n = vals("dhcp", i, "mac")
		macs = ""
		for (j = 1; j <= n; j++) { macs = macs (macs == "" ? "" : ",") V[j]; HOSTMAC[tolower(V[j])] = 1 }
		addr = opt("dhcp", i, "ip", "")
		name = opt("dhcp", i, "name", "")
		if (macs == "" && name == "") { warn(sec ": a host needs mac or name: skipped"); continue }
		nk = split("duid hostid match_tag broadcast instance", ks, " ")
		for (j = 1; j <= nk; j++)
			if (opt("dhcp", i, ks[j], "") != "" || LN["dhcp", i, ks[j]] > 0)
				warn(sec ": " ks[j] " not converted (no equivalent in hamasq)")
		if (truthy(opt("dhcp", i, "dns", "0")))
			warn(sec ": dns 1 (a hosts-file name for " addr ") not converted: hamasq answers for the name of the lease")
		line = macs
		if (addr == "ignore") line = line ",ignore"
		else {
			if (addr != "") line = line (line == "" ? "" : ",") addr
			if (name != "") line = line (line == "" ? "" : ",") name
			if (opt("dhcp", i, "leasetime", "") != "") {
				lt = leasetime(opt("dhcp", i, "leasetime", ""))
				if (lt == "") warn(sec ": leasetime " opt("dhcp", i, "leasetime", "") " not understood: left out")
				else line = line "," lt
			}
			nid = opt("dhcp", i, "networkid", "")
			if (nid != "") line = line ",set:" nid
			nt = vals("dhcp", i, "tag")
			for (j = 1; j <= nt; j++) line = line ",set:" V[j]
		}
		kv("dhcp-host", line)
		if (nid != "") { HNO = 0; host_options(i, nid) }
	}
	# readethers: /etc/ethers lines are dhcp-host lines, as dnsmasq reads them
	if (dm && truthy(opt("dhcp", dm, "readethers", "0"))) {
		for (j = 1; j <= NETH; j++) {
			mac = tolower(ETHMAC[j])
			if (mac in HOSTMAC) { warn("/etc/ethers: " ETHMAC[j] " already has a config host: ethers line skipped"); continue }
			HOSTMAC[mac] = 1
			kv("dhcp-host", ETHMAC[j] "," ETHVAL[j])
		}
	}

	# config boot: PXE boot file (one, untagged: hamasq`s dhcp-boot has no tag)
	nboot = 0
	for (i = 1; i <= S["dhcp"]; i++) {
		if (STYPE["dhcp", i] != "boot") continue
		sec = "dhcp." SNAME["dhcp", i]
		fn = opt("dhcp", i, "filename", ""); sn = opt("dhcp", i, "servername", ""); sa = opt("dhcp", i, "serveraddress", "")
		if (fn == "") { warn(sec ": a boot needs filename: skipped"); continue }
		if (sa != "" && sn == "") { warn(sec ": serveraddress without servername: skipped, as dnsmasq.init does"); continue }
		if (opt("dhcp", i, "networkid", "") != "") { warn(sec ": boot for networkid " opt("dhcp", i, "networkid", "") " not converted: hamasq has one untagged dhcp-boot"); continue }
		if (nboot++) { warn(sec ": a second boot section: hamasq has one dhcp-boot: skipped"); continue }
		kv("dhcp-boot", fn (sn != "" ? "," sn : "") (sa != "" ? "," sa : ""))
		host_options(i, "")
	}
	if (!nboot && dm && opt("dhcp", dm, "dhcp_boot", "") != "") kv("dhcp-boot", opt("dhcp", dm, "dhcp_boot", ""))

	# config tag NAME: options for clients tagged NAME (force: always sent)
	for (i = 1; i <= S["dhcp"]; i++) {
		ty = STYPE["dhcp", i]
		if (ty == "tag") {
			t = SNAME["dhcp", i]
			if (t ~ /^@/) { warn("a config tag section needs a name (config tag NAME): skipped"); continue }
			n = vals("dhcp", i, "dhcp_option")
			for (j = 1; j <= n; j++) kv(truthy(opt("dhcp", i, "force", "0")) ? "dhcp-option-force" : "dhcp-option", "tag:" t "," V[j])
		} else if (ty == "match" || ty == "vendorclass" || ty == "userclass" || ty == "circuitid" || ty == "remoteid" || ty == "subscrid" || ty == "mac") {
			warn("dhcp." SNAME["dhcp", i] ": config " ty " (sets tag " opt("dhcp", i, "networkid", "?") ") not converted: hamasq cannot match clients on it, so that tag`s options reach no client")
		}
	}

	if (dm && opt("dhcp", dm, "dhcpleasemax", "") != "") kv("dhcp-lease-max", opt("dhcp", dm, "dhcpleasemax", ""))
	if (dm && truthy(opt("dhcp", dm, "authoritative", "0"))) {
		if (nvrrp > 0) warn("dhcp authoritative left off: it is wrong for an HA pair")
		else kv("dhcp-authoritative", "true")
	}
	if (dm && truthy(opt("dhcp", dm, "logdhcp", "0"))) kv("log-dhcp", "true")
	if (dm && truthy(opt("dhcp", dm, "quietdhcp", "0"))) kv("quiet-dhcp", "true")
	# lease changes as hotplug events (subsystem dhcp), as dnsmasq on OpenWrt
	if (opt("hamasq", m, "hotplug", "1") != "0") kv("dhcp-script", opt("hamasq", m, "dhcp_hotplug_script", "/usr/libexec/hamasq/dhcp-hotplug"))
	# the state directory is in RAM on OpenWrt (/var is /tmp): fsync buys nothing
	if (opt("hamasq", m, "lease_fsync", "") != "") kv("dhcp-lease-fsync", truthy(opt("hamasq", m, "lease_fsync", "")) ? "true" : "false")
	else if (statedir ~ /^\/(tmp|var)\//) kv("dhcp-lease-fsync", "false")
	n = vals("hamasq", m, "dhcp_ping")
	if (n > 0) kv("dhcp-ping", truthy(V[1]) ? "true" : "false")
	else if (dm && truthy(opt("dhcp", dm, "noping", "0"))) kv("dhcp-ping", "false")
	k = LN["hamasq", m, "dhcp_extra"]
	for (j = 1; j <= k; j++) out(L["hamasq", m, "dhcp_extra", j])
}

# dhcp_option and dhcp_option_force of section i into OPTS[r, ...], tagged
function options_of(i, tag, r,   k, j) {
	k = vals("dhcp", i, "dhcp_option")
	for (j = 1; j <= k; j++) OPTS[r, ++NO[r]] = "dhcp-option = " tagged(tag, V[j])
	k = vals("dhcp", i, "dhcp_option_force")
	for (j = 1; j <= k; j++) OPTS[r, ++NO[r]] = "dhcp-option-force = " tagged(tag, V[j])
}

# the same, written at once (a host`s networkid, an untagged boot)
function host_options(i, tag,   k, j, f) {
	f = truthy(opt("dhcp", i, "force", "0")) ? "dhcp-option-force" : "dhcp-option"
	k = vals("dhcp", i, "dhcp_option")
	for (j = 1; j <= k; j++) kv(f, tag == "" ? V[j] : tagged(tag, V[j]))
	k = vals("dhcp", i, "dhcp_option_force")
	for (j = 1; j <= k; j++) kv("dhcp-option-force", tag == "" ? V[j] : tagged(tag, V[j]))
}

function tagged(tag, v) {
	if (v ~ /^(tag|set):/) return v
	return "tag:" tag "," v
}
'
