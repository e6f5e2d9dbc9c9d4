#!/usr/bin/env python3
"""Builds hamasq's .deb with dpkg-deb alone, from [package.metadata.deb] in
Cargo.toml: the same table cargo-deb reads, so `cargo deb` and this script
make the same package, and CI needs no cargo-deb (a crates.io install and
build of several minutes) to test it.

    packaging/debian/build-deb.py [--target TRIPLE] [--binary PATH] [--out DIR] [--revision N]

The binary is the static one of contrib/build-static.sh (default
target/static/x86_64-unknown-linux-musl/hamasq; built first if missing).
Writes DIR/hamasq_<version>-1_<arch>.deb (default DIR: target/debian) and
prints its path. Supported from the table: maintainer, copyright,
license-file, extended-description, section, priority, depends, assets,
conf-files, maintainer-scripts (with #DEBHELPER#) and systemd-units
(unit-scripts, unit-name, enable, start, restart-after-upgrade), with the
maintainer-script fragments dh_installsystemd and cargo-deb generate.

What dh would add for Debian's policy (and lintian) is done here too: man
pages and documentation gzip -9n compressed, usr/share/doc/<name>/
changelog.Debian.gz, a machine-readable (DEP-5) copyright file, and the
lintian overrides of packaging/debian/lintian-overrides.
"""

import argparse
import email.utils
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARCH = {
    "x86_64-unknown-linux-musl": "amd64",
    "aarch64-unknown-linux-musl": "arm64",
    "armv7-unknown-linux-musleabihf": "armhf",
}
# Debian's name for the MIT licence text hamasq uses (DEP-5, SPDX "MIT")
DEP5_LICENSE = {"MIT": "Expat"}


def die(msg):
    print(f"build-deb: {msg}", file=sys.stderr)
    sys.exit(1)


def systemd_fragments(unit, enable, start, restart):
    """#DEBHELPER# text per script, as dh_installsystemd writes it."""
    u = f"'{unit}'"
    post = []
    if enable:
        post.append(f"""\
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ] ; then
	# This will only remove masks created by d-s-h on package removal.
	deb-systemd-helper unmask {u} >/dev/null || true
	# was-enabled defaults to true, so new installations run enable.
	if deb-systemd-helper --quiet was-enabled {u}; then
		deb-systemd-helper enable {u} >/dev/null || true
	else
		deb-systemd-helper update-state {u} >/dev/null || true
	fi
fi""")
    if start:
        action = 'if [ -n "$2" ]; then _dh_action=restart; else _dh_action=start; fi' if restart \
            else '_dh_action=start'
        post.append(f"""\
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ] ; then
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		{action}
		deb-systemd-invoke $_dh_action {u} >/dev/null || true
	fi
fi""")
    prerm = f"""\
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	deb-systemd-invoke stop {u} >/dev/null || true
fi"""
    postrm = f"""\
if [ "$1" = remove ] && [ -d /run/systemd/system ] ; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = "remove" ]; then
	if [ -x "/usr/bin/deb-systemd-helper" ]; then
		deb-systemd-helper mask {u} >/dev/null || true
	fi
fi
if [ "$1" = "purge" ]; then
	if [ -x "/usr/bin/deb-systemd-helper" ]; then
		deb-systemd-helper purge {u} >/dev/null || true
		deb-systemd-helper unmask {u} >/dev/null || true
	fi
fi"""
    tag = "# Automatically added by packaging/debian/build-deb.py"
    wrap = lambda s: f"{tag}\n{s}\n# End automatically added section" if s else ""
    return {"postinst": wrap("\n".join(post)), "prerm": wrap(prerm), "postrm": wrap(postrm)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="x86_64-unknown-linux-musl", choices=sorted(ARCH))
    ap.add_argument("--binary")
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "debian"))
    ap.add_argument("--revision", help="Debian revision (default: the table's, else 1)")
    a = ap.parse_args()

    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        cargo = tomllib.load(f)
    pkg = cargo["package"]
    meta = pkg.get("metadata", {}).get("deb")
    if not meta:
        die("Cargo.toml has no [package.metadata.deb]")
    name = meta.get("name", pkg["name"])
    revision = a.revision or meta.get("revision") or "1"
    # Debian's convention (dch): DEBFULLNAME and DEBEMAIL name whoever
    # builds the package; else the table's maintainer.
    maintainer = meta["maintainer"]
    if os.environ.get("DEBEMAIL"):
        maintainer = f"{os.environ.get('DEBFULLNAME', name + ' developers')} <{os.environ['DEBEMAIL']}>"
    version = f"{pkg['version']}-{revision}"
    arch = ARCH[a.target]
    binary = a.binary or os.path.join(ROOT, "target", "static", a.target, "hamasq")
    if not os.path.exists(binary):
        subprocess.run([os.path.join(ROOT, "contrib", "build-static.sh"), a.target], check=True, stdout=sys.stderr)

    stage = tempfile.mkdtemp(prefix="hamasq-deb-")
    try:
        root = os.path.join(stage, "root")
        debian = os.path.join(root, "DEBIAN")
        os.makedirs(debian)

        def put(src, dest, mode):
            dest = dest.lstrip("/")
            if dest.endswith("/"):
                dest += os.path.basename(src)
            path = os.path.join(root, dest)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            shutil.copyfile(src, path)
            os.chmod(path, mode)

        for src, dest, mode in meta["assets"]:
            if src == f"target/release/{pkg['name']}":
                src = binary  # cargo-deb maps this to the --target build
            else:
                src = os.path.join(ROOT, src)
            put(src, dest, int(mode, 8))

        doc = os.path.join(root, "usr/share/doc", name)
        # Debian policy 12.3 and 12.1: documentation and man pages gzip -9n
        # compressed (the copyright file never)
        for top in (doc, os.path.join(root, "usr/share/man")):
            for d, _, files in os.walk(top):
                for fn in files:
                    if fn.endswith(".gz") or (d == doc and fn == "copyright"):
                        continue
                    _gzip(os.path.join(d, fn))

        lic = meta.get("license-file")
        if lic:
            with open(os.path.join(ROOT, lic[0])) as f:
                text = f.read().split("\n")[int(lic[1]) if len(lic) > 1 else 0:]
            spdx = pkg.get("license", "")
            short = DEP5_LICENSE.get(spdx, spdx)
            body = "".join(f" {line}\n" if line.strip() else " .\n" for line in _trim(text))
            cp = os.path.join(doc, "copyright")
            os.makedirs(doc, exist_ok=True)
            with open(cp, "w") as f:
                f.write("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
                        f"Upstream-Name: {name}\n"
                        + (f"Source: {pkg['homepage']}\n" if pkg.get("homepage") else "")
                        + f"\nFiles: *\nCopyright: {meta.get('copyright', '')}\nLicense: {short}\n"
                        + f"\nLicense: {short}\n{body}")
            os.chmod(cp, 0o644)

        # changelog.Debian.gz: one entry for this build (Debian policy 12.7)
        when = os.environ.get("SOURCE_DATE_EPOCH")
        if when is None:
            r = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%ct"],
                               capture_output=True, text=True)
            when = r.stdout.strip() or None
        date = email.utils.formatdate(float(when) if when else None)
        os.makedirs(doc, exist_ok=True)
        cl = os.path.join(doc, "changelog.Debian")
        with open(cl, "w") as f:
            f.write(f"{name} ({version}) unstable; urgency=medium\n\n"
                    f"  * {name} {pkg['version']}: the static binary of\n"
                    f"    contrib/build-static.sh, packaged by packaging/debian/build-deb.py.\n\n"
                    f" -- {maintainer}  {date}\n")
        _gzip(cl)

        overrides = os.path.join(ROOT, "packaging/debian/lintian-overrides")
        if os.path.exists(overrides):
            put(overrides, f"usr/share/lintian/overrides/{name}", 0o644)

        frags = {"postinst": "", "prerm": "", "postrm": ""}
        su = meta.get("systemd-units")
        if su:
            unit = su.get("unit-name", name)
            put(os.path.join(ROOT, su["unit-scripts"], f"{unit}.service"),
                f"usr/lib/systemd/system/{unit}.service", 0o644)
            frags = systemd_fragments(f"{unit}.service", su.get("enable", True),
                                      su.get("start", True), su.get("restart-after-upgrade", True))

        scripts = meta.get("maintainer-scripts")
        for s in ("preinst", "postinst", "prerm", "postrm"):
            text = None
            if scripts and os.path.exists(os.path.join(ROOT, scripts, s)):
                with open(os.path.join(ROOT, scripts, s)) as f:
                    text = f.read()
                if "#DEBHELPER#" not in text and frags.get(s):
                    die(f"{scripts}{s} has no #DEBHELPER# line for the systemd fragment")
                text = text.replace("#DEBHELPER#", frags.get(s, ""))
            elif frags.get(s):
                text = f"#!/bin/sh\nset -e\n{frags[s]}\n"
            if text is not None:
                with open(os.path.join(debian, s), "w") as f:
                    f.write(text)
                os.chmod(os.path.join(debian, s), 0o755)

        conf = meta.get("conf-files", [])
        if conf:
            with open(os.path.join(debian, "conffiles"), "w") as f:
                f.write("".join("/" + c.lstrip("/") + "\n" for c in conf))

        sums, size = [], 0
        for d, _, files in sorted(os.walk(root)):
            if d.startswith(debian):
                continue
            for fn in sorted(files):
                p = os.path.join(d, fn)
                size += os.path.getsize(p)
                with open(p, "rb") as f:
                    sums.append(f"{hashlib.md5(f.read()).hexdigest()}  {os.path.relpath(p, root)}\n")
        with open(os.path.join(debian, "md5sums"), "w") as f:
            f.writelines(sums)

        desc = pkg.get("description", name)
        ext = meta.get("extended-description", "").strip()
        ext_lines = "".join(f" {line}\n" if line.strip() else " .\n"
                            for line in _wrap(ext)) if ext else ""
        fields = [
            ("Package", name), ("Version", version), ("Architecture", arch),
            ("Maintainer", maintainer), ("Installed-Size", str((size + 1023) // 1024)),
            ("Depends", meta.get("depends", "")), ("Section", meta.get("section", "")),
            ("Priority", meta.get("priority", "optional")), ("Homepage", pkg.get("homepage", "")),
        ]
        with open(os.path.join(debian, "control"), "w") as f:
            for k, v in fields:
                if v:
                    f.write(f"{k}: {v}\n")
            f.write(f"Description: {desc}\n{ext_lines}")

        os.makedirs(a.out, exist_ok=True)
        deb = os.path.join(a.out, f"{name}_{version}_{arch}.deb")
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", root, deb],
                       check=True, stdout=sys.stderr)
        print(deb)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _gzip(path):
    """gzip -9n: replaces PATH by PATH.gz, no name or time stored."""
    with open(path, "rb") as src, open(path + ".gz", "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as z:
            shutil.copyfileobj(src, z)
    os.chmod(path + ".gz", os.stat(path).st_mode & 0o777)
    os.remove(path)


def _trim(lines):
    """LINES without leading and trailing blank ones."""
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _wrap(text, width=76):
    out, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        out.append(line)
    return out


if __name__ == "__main__":
    main()
