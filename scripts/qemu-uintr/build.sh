#!/usr/bin/env bash
# Build QEMU 7.2 (Debian bookworm source package) with the UINTR patch
# series in this directory, x86_64-softmmu / TCG only, into a cache
# directory keyed by the patches and this script:
#
#   ${QEMU_UINTR_CACHE:-$HOME/.cache/sel4-rs}/qemu-uintr-<key>/bin/qemu-system-x86_64
#
# The last line on stdout is that absolute path; everything else goes to
# stderr.  A second run with the same key only prints the path.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${QEMU_UINTR_CACHE:-$HOME/.cache/sel4-rs}

log() { printf '[qemu-uintr] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mapfile -t patches < <(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$here/series")
[ ${#patches[@]} -gt 0 ] || die "empty series file"

key=$(
    {
        cat "$here/build.sh"
        for p in "${patches[@]}"; do
            printf '\n== %s\n' "$p"
            cat "$here/$p"
        done
    } | sha256sum | cut -c1-16
)
out="$cache_root/qemu-uintr-$key"
bin="$out/bin/qemu-system-x86_64"

if [ -x "$bin" ] && [ -f "$out/.complete" ]; then
    log "cached: $out"
    echo "$bin"
    exit 0
fi

start=$SECONDS
mkdir -p "$cache_root"
exec 9>"$cache_root/.qemu-uintr.lock"
flock 9
# another run may have finished while we waited for the lock
if [ -x "$bin" ] && [ -f "$out/.complete" ]; then
    log "cached: $out"
    echo "$bin"
    exit 0
fi

# ---- build dependencies ---------------------------------------------------
deps=(build-essential ninja-build pkg-config meson python3 dpkg-dev
      libglib2.0-dev libpixman-1-dev libfdt-dev zlib1g-dev
      seabios ipxe-qemu)
missing=()
for d in "${deps[@]}"; do
    if ! dpkg-query -W -f='${Status}\n' "$d" 2>/dev/null | grep -q '^install ok installed'; then
        missing+=("$d")
    fi
done

src_list=/etc/apt/sources.list.d/qemu-uintr-deb-src.sources
have_src() {
    local v
    v=$(apt-cache showsrc qemu 2>/dev/null || true)
    grep -q '^Version: 1:7\.2' <<<"$v"
}

if [ "$(id -u)" = 0 ]; then
    refresh=
    if ! have_src; then
        log "enabling bookworm deb-src in $src_list"
        cat >"$src_list" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        refresh=1
    fi
    if [ -n "$refresh" ] || [ ${#missing[@]} -gt 0 ]; then
        log "apt-get update"
        apt-get update -qq >&2
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "${missing[@]}" >&2
    fi
else
    [ ${#missing[@]} -eq 0 ] ||
        die "missing packages (run as root to install): ${missing[*]}"
fi
have_src || die "no qemu 7.2 source package; enable bookworm deb-src (see README.md)"

# ---- source -----------------------------------------------------------------
debsrc="$cache_root/debian-src"
mkdir -p "$debsrc"
dsc=$(ls -1v "$debsrc"/qemu_7.2*.dsc 2>/dev/null | tail -n1 || true)
if [ -z "$dsc" ]; then
    log "apt-get source --download-only qemu"
    (cd "$debsrc" && apt-get source --download-only qemu) >&2 2>&1 ||
        die "apt-get source failed"
    dsc=$(ls -1v "$debsrc"/qemu_7.2*.dsc | tail -n1)
fi
log "source package: $(basename "$dsc")"

work="$cache_root/work-$key"
rm -rf "$work"
mkdir -p "$work"
stage=
trap 'rm -rf "$work" ${stage:+"$stage"}' EXIT
dpkg-source -x "$dsc" "$work/qemu" >&2 ||
    die "dpkg-source -x failed"

for p in "${patches[@]}"; do
    log "applying $p"
    patch -d "$work/qemu" -p1 --fuzz=0 -N -s <"$here/$p" >&2 ||
        die "$p does not apply"
done

# ---- configure and build ----------------------------------------------------
jobs=$(nproc 2>/dev/null || echo 2)
mkdir -p "$work/build"
log "configure (x86_64-softmmu, TCG)"
(cd "$work/build" && ../qemu/configure \
    --prefix=/opt/qemu-uintr \
    --target-list=x86_64-softmmu \
    --without-default-features \
    --enable-tcg \
    --disable-docs \
    --disable-tools \
    --disable-user \
    --disable-guest-agent \
    --disable-werror \
    --disable-install-blobs) >"$work/configure.log" 2>&1 || {
    tail -n 40 "$work/configure.log" >&2
    die "configure failed"
}
log "ninja -j$jobs qemu-system-x86_64"
ninja -C "$work/build" -j"$jobs" qemu-system-x86_64 >"$work/build.log" 2>&1 || {
    tail -n 60 "$work/build.log" >&2
    die "build failed"
}

# Option ROMs (multiboot, linuxboot, kvmvapic, pvh) from the QEMU sources;
# configure skips them when no 32-bit libc is installed, they need none.
log "option ROMs"
rom="$work/build/pc-bios/optionrom"
mkdir -p "$rom"
cat >"$rom/config.mak" <<EOF
TOPSRC_DIR=$work/qemu
EXTRA_CFLAGS=
CC=gcc
CCAS=gcc
AR=ar
AS=as
LD=ld
NM=nm
OBJCOPY=objcopy
RANLIB=ranlib
STRIP=strip
EOF
[ -f "$rom/Makefile" ] || ln -s "$work/qemu/pc-bios/optionrom/Makefile" "$rom/Makefile"
make -C "$rom" >"$work/optionrom.log" 2>&1 || {
    tail -n 30 "$work/optionrom.log" >&2
    die "option ROM build failed"
}

# ---- install into the keyed cache directory ---------------------------------
# QEMU finds its data relative to the binary (../share/qemu).
stage="$out.tmp.$$"
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/share/qemu"
cp "$work/build/qemu-system-x86_64" "$stage/bin/"
cp "$rom"/{multiboot,multiboot_dma,linuxboot,linuxboot_dma,kvmvapic,pvh}.bin \
    "$stage/share/qemu/"
cp "$work/build/trace/trace-events-all" "$stage/share/qemu/" 2>/dev/null || true
# SeaBIOS, VGA BIOS and iPXE NIC ROMs from the Debian packages
cp -L /usr/share/seabios/bios-256k.bin /usr/share/seabios/bios.bin \
    /usr/share/seabios/vgabios*.bin "$stage/share/qemu/"
cp -L /usr/lib/ipxe/qemu/*.rom "$stage/share/qemu/"
{
    echo "source: $(basename "$dsc")"
    echo "patches: ${patches[*]}"
    echo "key: $key"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$stage/BUILD-INFO"

# quick self-check: UINTR visible, firmware found
"$stage/bin/qemu-system-x86_64" -cpu help | grep -qw uintr ||
    die "built binary does not know the uintr feature"
set +e
timeout 5 "$stage/bin/qemu-system-x86_64" -M pc -cpu Nehalem,+uintr \
    -display none -monitor none -serial none -S >"$work/check.log" 2>&1
rc=$?
set -e
[ $rc = 124 ] || { cat "$work/check.log" >&2; die "self-check failed (rc=$rc)"; }

touch "$stage/.complete"
rm -rf "$out"
mv "$stage" "$out"
stage=
log "built $out in $((SECONDS - start))s"
echo "$bin"
