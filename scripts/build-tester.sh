#!/usr/bin/env bash
# build-tester.sh -- the trusted tester rootfs the client's test_script runs in (DESIGN.md §8).
#
# usage: scripts/build-tester.sh DEST [--uid-shift N]
#
# A minimal root filesystem made only of Debian packages: busybox (sh and the usual applets)
# and curl with exactly the libraries curl needs (Depends and Pre-Depends, recursively; no
# Recommends or Suggests), fetched with `apt-get download` and unpacked with `dpkg-deb -x`,
# the way tests/fixtures/build-image.py builds its `tiny` image. Nothing but Debian packages
# is ever downloaded. busybox's applets are symlinks in /bin (busybox --list, run chrooted).
#
# Cached: the result goes to DEST/<hash>/rootfs, <hash> covering this script, the uid shift
# and the candidate version of every package as apt knows it now (no network needed to
# decide); a second run with nothing changed only prints the path. DEST/current points at
# the last build (what `vexxy sandbox run --test-script` uses by default). The .debs are kept
# in DEST/debs. Ownership is shifted by N (default 268435456, vexxy's default) for the user
# namespace, as vx_image_unpack does for images. Prints the rootfs path on stdout; the time a
# build took (or "cached") on stderr. Run as root.
set -euo pipefail

die() { echo "build-tester: $*" >&2; exit 2; }

[ $# -ge 1 ] || die "usage: build-tester.sh DEST [--uid-shift N]"
dest=$1
shift
uid_shift=268435456
while [ $# -gt 0 ]; do
    case $1 in
    --uid-shift) [ $# -ge 2 ] || die "--uid-shift needs a value"; uid_shift=$2; shift 2 ;;
    *) die "unknown option '$1'" ;;
    esac
done
[[ $uid_shift =~ ^[0-9]+$ ]] || die "--uid-shift must be a number, not '$uid_shift'"
[ "$(id -u)" = 0 ] || die "must run as root (dpkg-deb -x ownership, chroot, chown)"
for tool in apt-get apt-cache dpkg-deb chroot sha256sum; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed"
done

mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

# curl + busybox and what they depend on (real packages only: "<virtual>" lines dropped)
mapfile -t pkgs < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances busybox curl | grep -v '^[ <]' | sort -u)
[ ${#pkgs[@]} -ge 2 ] || die "apt-cache depends resolved nothing (apt-get update?)"

# one apt-cache call for all candidates ("pkg:" then "  Candidate: v"), in pkgs order
versions=$(apt-cache policy "${pkgs[@]}" | awk '/^[^ ]/ {p=$1; sub(/:$/, "", p)}
    /^  Candidate:/ {print p "=" $2}' | sort)
[ "$(echo "$versions" | wc -l)" = ${#pkgs[@]} ] || die "apt-cache policy misses some of: ${pkgs[*]}"
if echo "$versions" | grep -q '=(none)$'; then
    die "no candidate version of: $(echo "$versions" | grep '=(none)$' | tr '\n' ' ')"
fi
hash=$( { cat "${BASH_SOURCE[0]}"; echo "shift=$uid_shift"; echo "$versions"; } | sha256sum |
    cut -c1-16)
out=$dest/$hash

if [ -d "$out/rootfs" ] && [ -f "$out/packages.txt" ]; then
    ln -sfn "$hash" "$dest/current.tmp" && mv -T "$dest/current.tmp" "$dest/current"
    echo "build-tester: cached ($out)" >&2
    echo "$out/rootfs"
    exit 0
fi

t0=$(date +%s%N)
debdir=$dest/debs
mkdir -p "$debdir"
chmod 755 "$debdir" # apt-get download runs as _apt
# as root into a root-owned dir apt warns that it cannot drop to _apt: expected here
(cd "$debdir" && apt-get download -q "${pkgs[@]}" 2>&1 >/dev/null | grep -v 'unsandboxed') || true


tmp=$dest/.tmp-$$
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/rootfs"
root=$tmp/rootfs
while IFS== read -r p v; do
    deb=
    for f in "$debdir/${p}"_*.deb; do
        [ -e "$f" ] || continue
        if [ "$(dpkg-deb -f "$f" Package)" = "$p" ] && [ "$(dpkg-deb -f "$f" Version)" = "$v" ]; then
            deb=$f
            break
        fi
    done
    [ -n "$deb" ] || die "apt-get download gave no .deb of $p $v"
    dpkg-deb -x "$deb" "$root"
done <<<"$versions"

[ -x "$root/bin/busybox" ] || die "no /bin/busybox in the rootfs"
[ -x "$root/usr/bin/curl" ] || die "no /usr/bin/curl in the rootfs"
for a in $(chroot "$root" /bin/busybox --list); do
    [ -e "$root/bin/$a" ] || [ -e "$root/usr/bin/$a" ] || ln -s busybox "$root/bin/$a"
done
mkdir -p "$root"/{proc,sys,dev,tmp,run,etc,root}
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
chroot "$root" /usr/bin/curl --version >/dev/null || die "curl does not run in the rootfs"

# every file of these packages is root's: shift them all to the container's root
if [ -n "$(find "$root" \( ! -uid 0 -o ! -gid 0 \) -print -quit)" ]; then
    die "a package ships files not owned by root: the shift would be wrong"
fi
chown -hR "$uid_shift:$uid_shift" "$root"
echo "$versions" >"$tmp/packages.txt"
chmod 755 "$tmp" "$dest"

# a concurrent build of the same hash may have won the race: its result is as good
if ! mv -T "$tmp" "$out" 2>/dev/null; then
    [ -f "$out/packages.txt" ] || { rm -rf "$out"; mv -T "$tmp" "$out"; }
fi
rm -rf "$tmp"
trap - EXIT
ln -sfn "$hash" "$dest/current.tmp" && mv -T "$dest/current.tmp" "$dest/current"
echo "build-tester: built $out in $(( ($(date +%s%N) - t0) / 1000000 )) ms" \
    "(${#pkgs[@]} packages)" >&2
echo "$out/rootfs"
