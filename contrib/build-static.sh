#!/usr/bin/env bash
# Fully static hamasq binaries (musl, no ELF interpreter, no shared
# libraries) for the boxes hamasq runs on:
#
#   contrib/build-static.sh [--out DIR] [TARGET...]
#
# TARGET is a Rust triple or a short name; default: all three.
#   x86_64   x86_64-unknown-linux-musl        PCs, VMs, x86 routers, containers
#   aarch64  aarch64-unknown-linux-musl       Raspberry Pi 3/4/5 (64-bit OS), ARM routers
#   armv7    armv7-unknown-linux-musleabihf   Raspberry Pi 2/3 (32-bit OS), older routers
#
# Each binary lands in DIR/<triple>/hamasq (default DIR: target/static in
# the source tree, which packaging/docker/Dockerfile and
# packaging/debian/build-deb.sh take it from). Cargo's own build directory
# is $CARGO_TARGET_DIR as usual. The release profile of Cargo.toml applies
# (size-optimised, fat LTO, stripped).
#
# How each target is built, and what it needs (installed on first use):
#   x86_64   stable toolchain + rustup target; linked by the host cc.
#   aarch64  stable toolchain + rustup target; linked by rust-lld, which
#            ships with rustc (musl's crt objects and libc.a come with the
#            rustup target), so no cross C toolchain is needed.
#   armv7    the same when `rustup target add` can fetch the target's
#            standard library; otherwise (the case on our CI machines, whose
#            rustup mirror has no armv7 musl std) nightly with -Zbuild-std
#            (rustup component rust-src) and zig as the linker (the PyPI
#            package `ziglang`), which provides musl's crt objects, libc.a
#            and libunwind for arm-linux-musleabihf.
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

build() { # TRIPLE
  local t=$1 tc=$stable up
  local -a env=() flags=()
  up=$(echo "$t" | tr 'a-z-' 'A-Z_')
  case "$t" in
    x86_64-unknown-linux-musl) ensure_target "$stable" "$t" || return 1 ;;
    aarch64-unknown-linux-musl)
      ensure_target "$stable" "$t" || return 1
      env+=("CARGO_TARGET_${up}_LINKER=rust-lld") ;;
    armv7-unknown-linux-musleabihf|arm-unknown-linux-musleabihf)
      local zt=arm-linux-musleabihf
      [ "$t" = armv7-unknown-linux-musleabihf ] && zt="arm-linux-musleabihf -mcpu=generic+v7a+vfp3d16"
      [ "$t" = arm-unknown-linux-musleabihf ] && zt="arm-linux-musleabihf -mcpu=arm1176jzf_s"
      if ensure_target "$stable" "$t"; then
        env+=("CARGO_TARGET_${up}_LINKER=rust-lld")
      else
        say "no prebuilt std for $t: nightly -Zbuild-std, linked by zig"
        tc=nightly
        rustup component list --installed --toolchain nightly 2>/dev/null | grep -q '^rust-src' ||
          rustup component add --toolchain nightly rust-src >&2 || return 1
        local zl
        zl=$(zig_linker "$t" "$zt") || return 1
        env+=("CARGO_TARGET_${up}_LINKER=$zl")
        env+=("CARGO_TARGET_${up}_RUSTFLAGS=-C link-self-contained=no")
        flags+=(-Zbuild-std=std,panic_unwind)
      fi ;;
    *) say "unknown target $t"; return 2 ;;
  esac
  say "building $t ($tc)"
  env "${env[@]}" CARGO_TARGET_DIR="$target_dir" \
    rustup run "$tc" cargo build --release --locked --target "$t" "${flags[@]}" >&2 || return 1
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
  esac
  build "$t" || { say "FAILED: $t"; rc=1; }
done
exit $rc
