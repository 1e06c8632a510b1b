#!/bin/bash
# The utility VM's kernel: one Debian package, pinned by name, exact version and SHA256 in
# initrd/kernel.lock, downloaded by `make deps` into a cache that `make initrd` reads offline.
#
#   initrd/kernel.sh fetch   (make deps) download the pinned package into the cache, unless a
#                            file with the pinned SHA256 is there already; a cached file with
#                            another SHA256 is replaced
#   initrd/kernel.sh path    (initrd/build.sh) print the cached package's path once its SHA256
#                            matches the lock; never runs apt
#   initrd/kernel.sh pin     (make kernel-pin) rewrite the flavour's line of the lock from what
#                            apt offers now: the package linux-image-$KERNEL_FLAVOUR depends on
#                            (or linux-image-$KERNEL_VERSION-$KERNEL_FLAVOUR) at its candidate
#                            version, with the SHA256 of apt's index
#
# Environment: KERNEL_FLAVOUR (default amd64), KERNEL_CACHE (default .cache/kernel at the top of
# the tree; `make clean` keeps it), KERNEL_LOCK (default initrd/kernel.lock), KERNEL_VERSION (pin
# only: an ABI such as 6.1.0-57).
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KERNEL_FLAVOUR=${KERNEL_FLAVOUR:-amd64}
KERNEL_CACHE=${KERNEL_CACHE:-$TOP/.cache/kernel}
KERNEL_LOCK=${KERNEL_LOCK:-$TOP/initrd/kernel.lock}
LOCK_NAME=${KERNEL_LOCK#"$TOP/"}

die() { printf 'kernel: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'kernel: %s\n' "$*"; }

# Sets PKG, VERSION and SHA256 from the lock's line "FLAVOUR PACKAGE VERSION SHA256".
read_lock() {
	local flavour pkg version sha extra
	[ -f "$KERNEL_LOCK" ] || die "$LOCK_NAME is missing: run 'make kernel-pin' to write it"
	PKG=
	while read -r flavour pkg version sha extra; do
		case $flavour in '' | '#'*) continue ;; esac
		[ "$flavour" = "$KERNEL_FLAVOUR" ] || continue
		[[ -n $sha && -z $extra && $sha =~ ^[0-9a-f]{64}$ ]] ||
			die "$LOCK_NAME: bad line for $flavour (want: FLAVOUR PACKAGE VERSION SHA256)"
		PKG=$pkg VERSION=$version SHA256=$sha
	done <"$KERNEL_LOCK"
	[ -n "$PKG" ] || die "$LOCK_NAME pins no kernel for flavour $KERNEL_FLAVOUR:" \
		"run 'make kernel-pin KERNEL_FLAVOUR=$KERNEL_FLAVOUR'"
}

# The name apt-get download gives the file (an epoch's ':' is written %3a).
deb_name() { printf '%s_%s_amd64.deb' "$PKG" "${VERSION//:/%3a}"; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

cmd_path() {
	local deb sha
	read_lock
	deb=$KERNEL_CACHE/$(deb_name)
	[ -f "$deb" ] || die "$PKG $VERSION (pinned in $LOCK_NAME) is not in $KERNEL_CACHE:" \
		"run 'make deps' to download it"
	sha=$(sha_of "$deb")
	[ "$sha" = "$SHA256" ] || die "$deb has SHA256 $sha, $LOCK_NAME pins $SHA256:" \
		"run 'make deps' to download it again"
	printf '%s\n' "$deb"
}

# What an interrupted fetch or pin leaves behind, removed on exit.
CLEANUP=
trap '[ -z "$CLEANUP" ] || rm -rf "$CLEANUP"' EXIT

apt_opts=(-q)
[ "$(id -u)" != 0 ] || apt_opts+=(-o APT::Sandbox::User=root)

# apt's line for the pinned version: 'URI' FILE SIZE SHA256:HEX. Fails when apt does not know it.
apt_uri() { apt-get "${apt_opts[@]}" --print-uris download "$PKG=$VERSION" 2>&1; }

cmd_fetch() {
	local deb tmp uri apt_sha old
	read_lock
	mkdir -p "$KERNEL_CACHE"
	deb=$KERNEL_CACHE/$(deb_name)
	if [ -f "$deb" ]; then
		[ "$(sha_of "$deb")" = "$SHA256" ] && { say "$PKG $VERSION: cached, SHA256 matches"; return; }
		say "$deb does not have the pinned SHA256: downloading it again"
		rm -f "$deb"
	fi
	if ! uri=$(apt_uri); then
		# The package lists may be older than the pin: refresh them once, then decide.
		say "apt does not know $PKG $VERSION: apt-get update"
		apt-get -q update >/dev/null || die "apt-get update failed"
		uri=$(apt_uri) || die "$PKG version $VERSION (pinned in $LOCK_NAME) is not in the" \
			"Debian archive any more (apt: ${uri##*E: }). Run 'make kernel-pin' to pin what apt" \
			"offers now (or 'make kernel-pin KERNEL_VERSION=<abi>'), then 'make deps'"
	fi
	uri=$(grep "^'" <<<"$uri" | head -n 1) || die "apt-get --print-uris printed no URI for $PKG"
	apt_sha=$(sed -n 's/.* SHA256:\([0-9a-f]*\)$/\1/p' <<<"$uri")
	[ "$apt_sha" = "$SHA256" ] || die "apt's index gives $PKG $VERSION the SHA256 '$apt_sha'," \
		"$LOCK_NAME pins $SHA256: not downloading it (re-pin with 'make kernel-pin' if the" \
		"archive's package is the one you want)"
	tmp=$(mktemp -d "$KERNEL_CACHE/.download-XXXXXX")
	CLEANUP=$tmp
	say "downloading $PKG $VERSION ($(awk '{ printf "%.0f", $3 / 1048576 }' <<<"$uri") MiB)"
	(cd "$tmp" && apt-get "${apt_opts[@]}" download "$PKG=$VERSION") ||
		die "apt-get download $PKG=$VERSION failed"
	[ -f "$tmp/$(deb_name)" ] || die "apt-get download left no $(deb_name)"
	[ "$(sha_of "$tmp/$(deb_name)")" = "$SHA256" ] ||
		die "the downloaded $(deb_name) does not have the SHA256 $LOCK_NAME pins"
	mv "$tmp/$(deb_name)" "$deb"
	# Other versions of this flavour are stale: the lock names one.
	for old in "$KERNEL_CACHE"/linux-image-*-"$KERNEL_FLAVOUR"_*_amd64.deb; do
		[ -e "$old" ] && [ "$old" != "$deb" ] || continue
		case $(basename "$old") in
		linux-image-*-cloud-"$KERNEL_FLAVOUR"_*) continue ;; # another flavour's
		esac
		say "removing the unpinned $(basename "$old")"
		rm -f "$old"
	done
	say "$PKG $VERSION: SHA256 matches, cached as $deb"
}

cmd_pin() {
	local meta cand dep abi sha line old_line="(none) none" tmp
	meta=linux-image-$KERNEL_FLAVOUR
	if [ -n "${KERNEL_VERSION:-}" ]; then
		PKG=linux-image-$KERNEL_VERSION-$KERNEL_FLAVOUR
		VERSION=$(apt-cache policy "$PKG" | sed -n 's/^ *Candidate: //p')
		[ -n "$VERSION" ] && [ "$VERSION" != "(none)" ] ||
			die "apt offers no $PKG (apt-get update?)"
	else
		cand=$(apt-cache policy "$meta" | sed -n 's/^ *Candidate: //p')
		[ -n "$cand" ] && [ "$cand" != "(none)" ] || die "apt offers no $meta (apt-get update?)"
		dep=$(apt-cache show "$meta=$cand" | sed -n 's/^Depends: //p' | head -n 1)
		[[ $dep =~ (linux-image-([0-9][^ ,]*)-$KERNEL_FLAVOUR)\ \(=\ ([^\)]+)\) ]] ||
			die "cannot tell which kernel $meta $cand depends on ('$dep')"
		PKG=${BASH_REMATCH[1]} abi=${BASH_REMATCH[2]} VERSION=${BASH_REMATCH[3]}
		[[ $abi =~ ^[0-9][0-9.]*-[0-9][0-9a-z.]*$ ]] || die "$PKG does not look like a kernel"
	fi
	sha=$(apt-cache show "$PKG=$VERSION" | sed -n 's/^SHA256: //p' | head -n 1)
	[[ $sha =~ ^[0-9a-f]{64}$ ]] || die "apt's index has no SHA256 for $PKG $VERSION"
	line="$KERNEL_FLAVOUR $PKG $VERSION $sha"
	[ -f "$KERNEL_LOCK" ] || printf '%s\n' \
		'# The Debian kernel package of the utility VM, one line per flavour:' \
		'#   FLAVOUR PACKAGE VERSION SHA256' \
		"# 'make deps' downloads it into the kernel cache and checks the SHA256; 'make initrd'" \
		"# reads it from there. 'make kernel-pin' rewrites a line from what apt offers." \
		>"$KERNEL_LOCK"
	tmp=$(mktemp "$KERNEL_LOCK.XXXXXX")
	CLEANUP=$tmp
	while IFS= read -r l; do
		if [ "${l%% *}" = "$KERNEL_FLAVOUR" ]; then
			old_line=$l
			[ -z "$line" ] || printf '%s\n' "$line"
			line=
		else
			printf '%s\n' "$l"
		fi
	done <"$KERNEL_LOCK" >"$tmp"
	[ -z "$line" ] || printf '%s\n' "$line" >>"$tmp"
	mv "$tmp" "$KERNEL_LOCK"
	if [ "$old_line" = "$KERNEL_FLAVOUR $PKG $VERSION $sha" ]; then
		say "$LOCK_NAME: $KERNEL_FLAVOUR stays $PKG $VERSION"
	else
		old_line=${old_line#"$KERNEL_FLAVOUR "}
		say "$LOCK_NAME: $KERNEL_FLAVOUR: ${old_line% *} -> $PKG $VERSION (SHA256 $sha)"
		say "run 'make deps' to download it"
	fi
}

case ${1:-} in
fetch) cmd_fetch ;;
path) cmd_path ;;
pin) cmd_pin ;;
*) echo "usage: $0 fetch|path|pin" >&2; exit 2 ;;
esac
