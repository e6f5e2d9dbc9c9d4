#!/usr/bin/env bash
# Fully static hamasq binaries (musl, no ELF interpreter, no shared
# libraries) for the boxes hamasq runs on:
#
#   contrib/build-static.sh [--out DIR] [TARGET...]
#
# TARGET is a Rust triple or a short name; default: x86_64 aarch64 armv7.
#   x86_64   x86_64-unknown-linux-musl        PCs, VMs, x86 routers, containers
#   aarch64  aarch64-unknown-linux-musl       Raspberry Pi 3/4/5 (64-bit OS), ARM routers
#   armv7    armv7-unknown-linux-musleabihf   Raspberry Pi 2/3 (32-bit OS), older routers
#   armv6    arm-unknown-linux-musleabihf     Raspberry Pi Zero/1 (not tested)
#   mips     mips-unknown-linux-musl          OpenWrt ath79 and other big-endian MIPS32r2 (24kc)
#   mipsel   mipsel-unknown-linux-musl        OpenWrt ramips (mt7621, mt76x8), little-endian MIPS32r2
#   armv5    armv5te-unknown-linux-musleabi   OpenWrt kirkwood and other ARMv5TE (ARM926EJ-S), soft float
#   powerpc  powerpc-unknown-linux-musl       32-bit PowerPC with an FPU (OpenWrt apm821xx), big-endian
#
# Each binary lands in DIR/<triple>/hamasq (default DIR: target/static in
# the source tree, which packaging/docker/Dockerfile and
# packaging/debian/build-deb.sh take it from). Cargo's own build directory
# is $CARGO_TARGET_DIR as usual. The release profile of Cargo.toml applies
# (size-optimised, fat LTO, stripped). A table of sizes (raw and xz -9e)
# goes to stdout.
#
# How each target is built, and what it needs:
#   With rustup's prebuilt standard library for the target (`rustup target
#   add`, tried first except for MIPS, armv5te and powerpc): the stable
#   toolchain; x86_64 is linked by the host cc, the others by rust-lld,
#   which ships with rustc.
#   Otherwise (MIPS and powerpc-musl are tier-3 targets: rustup has no std
#   for them; armv5te, so that its std is not downloaded either; and
#   machines whose rustup cannot download targets) the standard library
#   is built from source with -Zbuild-std, by
#     - nightly with its rust-src component, if installed, else
#     - Debian's rustc-web, cargo-web and rust-web-src (a rustc >= our
#       rust-version with the library's source; RUSTC_BOOTSTRAP=1 lets its
#       cargo take -Z flags),
#   and linked by zig (PyPI package `ziglang`, installed on first use),
#   which brings musl's crt objects, libc.a and libunwind for the target.
#   The MIPS binaries are linked non-PIE (-C relocation-model=static): as
#   static-pie they crash at runtime start-up (packaging/README.md).
# No target needs C code of ours: hamasq has no C dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/static
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build-static: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(x86_64 aarch64 armv7)
case "$out" in /*) ;; *) out=$root/$out ;; esac

target_dir=${CARGO_TARGET_DIR:-$root/target}
# Cargo reads these too; a caller's flags for the host must not leak into
# cross builds.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET || true

say() { echo "build-static: $*" >&2; }
# The toolchain cargo uses here by default (stable), for the targets that
# rustup can supply.
stable=$(rustup show active-toolchain 2>/dev/null | cut -d' ' -f1)
stable=${stable:-stable}

has_target() { # TOOLCHAIN TRIPLE
  rustup target list --installed --toolchain "$1" 2>/dev/null | grep -qx "$2"
}

ensure_target() { # TOOLCHAIN TRIPLE -> 0 if the std of TRIPLE is there
  has_target "$1" "$2" && return 0
  say "rustup target add --toolchain $1 $2"
  RUST_BACKTRACE=0 rustup target add --toolchain "$1" "$2" 2>&1 | grep -v '^ *[0-9]*: \|^ *at ' >&2 || true
  has_target "$1" "$2"
}

zig_linker() { # TRIPLE ZIGTARGET -> prints a linker wrapper path
  local dir=$target_dir/static-tools py=
  # zig from PyPI, into a directory of ours (pip --target: no virtualenv,
  # and Debian's "externally managed" Python allows it).
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -m pip --version >/dev/null 2>&1; then
      py=$(command -v "$p"); break
    fi
  done
  [ -n "$py" ] || { say "no python3 with pip, needed to fetch zig (PyPI ziglang)"; return 1; }
  if ! PYTHONPATH=$dir/py "$py" -m ziglang version >/dev/null 2>&1; then
    say "installing zig (PyPI package ziglang) into $dir/py for the $1 link"
    "$py" -m pip install --quiet --disable-pip-version-check --target "$dir/py" 'ziglang==0.17.1' >&2 || return 1
  fi
  mkdir -p "$dir"
  local w=$dir/zigcc-$1
  cat > "$w" <<EOF
#!/bin/sh
# Linker for $1: zig cc, which brings musl's crt objects, libc.a and
# libunwind for $2. Written by contrib/build-static.sh.
PYTHONPATH='$dir/py' exec '$py' -m ziglang cc -target $2 "\$@"
EOF
  chmod +x "$w"
  echo "$w"
}

# zig's -target (and CPU) for a Rust triple
zig_target() {
  case "$1" in
    x86_64-unknown-linux-musl) echo "x86_64-linux-musl" ;;
    aarch64-unknown-linux-musl) echo "aarch64-linux-musl" ;;
    armv7-unknown-linux-musleabihf) echo "arm-linux-musleabihf -mcpu=generic+v7a+vfp3d16" ;;
    arm-unknown-linux-musleabihf) echo "arm-linux-musleabihf -mcpu=arm1176jzf_s" ;;
    # Rust's MIPS musl targets are MIPS32r2, soft float (OpenWrt's 24kc)
    mips-unknown-linux-musl) echo "mips-linux-musleabi -mcpu=mips32r2" ;;
    mipsel-unknown-linux-musl) echo "mipsel-linux-musleabi -mcpu=mips32r2" ;;
    armv5te-unknown-linux-musleabi) echo "arm-linux-musleabi -mcpu=arm926ej_s" ;;
    powerpc-unknown-linux-musl) echo "powerpc-linux-musleabihf" ;;
    *) return 1 ;;
  esac
}

# MAJOR.MINOR as one number: 1.88 -> 188
vnum() { sed -n 's/^[^0-9]*\([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p' | { read -r a b; echo $((a * 100 + b)); }; }
msrv=$(grep '^rust-version' Cargo.toml | vnum)

# Prints the command that runs a cargo able to -Zbuild-std, or fails.
build_std_cargo() {
  if rustup component list --installed --toolchain nightly 2>/dev/null | grep -q '^rust-src'; then
    echo "rustup run nightly cargo"; return 0
  fi
  if [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] &&
     [ -d "$(/usr/bin/rustc --print sysroot 2>/dev/null)/lib/rustlib/src/rust/library/std" ]; then
    if [ "$(/usr/bin/rustc --version | vnum)" -ge "$msrv" ]; then
      echo "env RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc /usr/bin/cargo"
      return 0
    fi
    say "/usr/bin/rustc is too old ($(/usr/bin/rustc --version)) for Cargo.toml's rust-version"
  fi
  say "cannot build the standard library: install nightly with rust-src," \
      "or Debian's rustc-web cargo-web rust-web-src"
  return 1
}

build() { # TRIPLE
  local t=$1 up zt zl c prebuilt=0
  local -a env=() flags=() cargo=(rustup run "$stable" cargo)
  up=$(echo "$t" | tr 'a-z-' 'A-Z_')
  zt=$(zig_target "$t") || { say "unknown target $t"; return 2; }
  case "$t" in
    # MIPS and powerpc-musl are tier 3 (no prebuilt std anywhere);
    # armv5te's std is built too rather than fetched by rustup.
    mips*|powerpc*|armv5te*) ;;
    *) ensure_target "$stable" "$t" && prebuilt=1 ;;
  esac
  if [ "$prebuilt" = 1 ]; then
    [ "$t" = x86_64-unknown-linux-musl ] || env+=("CARGO_TARGET_${up}_LINKER=rust-lld")
    say "building $t ($stable, prebuilt std)"
  else
    c=$(build_std_cargo) || return 1
    read -r -a cargo <<< "$c"
    zl=$(zig_linker "$t" "$zt") || return 1
    env+=("CARGO_TARGET_${up}_LINKER=$zl")
    local rf="-C link-self-contained=no"
    # MIPS: non-PIE. In a MIPS static-pie, musl's start-up code adds the
    # load address to every local GOT entry, including those of weak
    # symbols musl lacks (std's __cxa_thread_atexit_impl): they stop
    # being 0 and the daemon jumps to its own ELF header at runtime
    # start-up (packaging/README.md).
    case "$t" in
      mips*) rf="$rf -C relocation-model=static" ;;
      # the only one of our targets that links dynamically by default
      powerpc*) rf="$rf -C target-feature=+crt-static" ;;
    esac
    env+=("CARGO_TARGET_${up}_RUSTFLAGS=$rf")
    flags+=(-Zbuild-std=std,panic_unwind)
    say "building $t (-Zbuild-std with ${cargo[*]}; linked by zig -target $zt)"
  fi
  env "${env[@]}" CARGO_TARGET_DIR="$target_dir" \
    "${cargo[@]}" build --release --locked --target "$t" "${flags[@]}" >&2 || return 1
  # (set -e does not apply inside a function called with ||: check each step.)
  mkdir -p "$out/$t" || return 1
  rm -f "$out/$t/hamasq"
  cp -f "$target_dir/$t/release/hamasq" "$out/$t/hamasq" || return 1
  local raw xz
  raw=$(stat -c %s "$out/$t/hamasq") || return 1
  xz=$(xz -9e -c "$out/$t/hamasq" | wc -c) || return 1
  printf '%s\t%s\t%s\n' "$out/$t/hamasq" "$raw" "$xz"
}

echo "# binary	bytes	xz -9e bytes"
rc=0
for t in "${targets[@]}"; do
  case "$t" in
    x86_64) t=x86_64-unknown-linux-musl ;;
    aarch64|arm64) t=aarch64-unknown-linux-musl ;;
    armv7|armhf) t=armv7-unknown-linux-musleabihf ;;
    armv6|arm) t=arm-unknown-linux-musleabihf ;;
    mips) t=mips-unknown-linux-musl ;;
    mipsel) t=mipsel-unknown-linux-musl ;;
    armv5|armv5te) t=armv5te-unknown-linux-musleabi ;;
    powerpc|ppc) t=powerpc-unknown-linux-musl ;;
  esac
  build "$t" || { say "FAILED: $t"; rc=1; }
done
exit $rc
