#!/bin/bash
# The .proto files of the containerd shim: taken from three Debian packages, never committed.
#
#   host/shim/protos.sh fetch   (make deps) download the versions of golang-github-containerd-
#                               containerd-dev, golang-github-containerd-cgroups-dev and
#                               golang-github-gogo-googleapis-dev that host/shim/protos.lock
#                               pins, with `apt-get download` into
#                               PROTO_CACHE (not installed: that would pull systemd), unless they
#                               are cached already; check their SHA256 against the lock; then
#                               extract and strip the files
#   host/shim/protos.sh dir     (make build) print the directory of the stripped files; never
#                               runs apt
#
# Stripping: the containerd files weak-import gogoproto and containerd's fieldpath plugin (the
# cgroups file imports gogoproto plainly) and carry their options, which protoc-c does not
# know. They only steer Go code generation, so removing them leaves the wire format unchanged.
#
# Environment: PROTO_CACHE (default .cache/protos at the top of the tree; `make clean` keeps
# it, `make distclean` removes it).
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROTO_CACHE=${PROTO_CACHE:-$TOP/.cache/protos}
LOCK=$TOP/host/shim/protos.lock
PKGS=(golang-github-containerd-containerd-dev golang-github-containerd-cgroups-dev
	golang-github-gogo-googleapis-dev)
GOSRC=usr/share/gocode/src
CTRD=github.com/containerd/containerd
# Paths under $GOSRC; the import statements of the files name them the same way.
FILES=(
	"$CTRD/runtime/v2/task/shim.proto"
	"$CTRD/api/types/mount.proto"
	"$CTRD/api/types/metrics.proto"
	"$CTRD/api/types/task/task.proto"
	"$CTRD/api/events/task.proto"
	"$CTRD/api/services/ttrpc/events/v1/events.proto"
	"github.com/containerd/cgroups/stats/v1/metrics.proto"
	"github.com/gogo/googleapis/google/rpc/status.proto"
)

die() { printf 'protos: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'protos: %s\n' "$*"; }

SRC=$PROTO_CACHE/src
CLEANUP=
trap '[ -z "$CLEANUP" ] || rm -rf "$CLEANUP"' EXIT

apt_opts=(-q)
[ "$(id -u)" != 0 ] || apt_opts+=(-o APT::Sandbox::User=root)

# "version sha256" of a package in the lock
pinned() { awk -v p="$1" '$1 == p { print $2, $3 }' "$LOCK"; }
# The cached .deb of the pinned version of a package (dpkg's file name: ':' of an epoch as %3a)
cached_deb() {
	local v
	read -r v _ <<<"$(pinned "$1")"
	[ -f "$PROTO_CACHE/$1_${v//:/%3a}_all.deb" ] && printf '%s\n' "$PROTO_CACHE/$1_${v//:/%3a}_all.deb"
}
check_deb() {
	local v sum got
	read -r v sum <<<"$(pinned "$1")"
	got=$(sha256sum "$2" | cut -d' ' -f1)
	[ "$got" = "$sum" ] || die "$2: SHA256 $got, but $LOCK pins $sum"
}

# The stripped copy of one file: gogoproto/fieldpath imports, options and field options gone.
# google/rpc/status.proto keeps its path relative to the googleapis root.
strip_one() {
	local in=$1 out=$2
	mkdir -p "$(dirname "$out")"
	sed -E -e '/^[[:space:]]*import weak /d' \
		-e '/^[[:space:]]*import "gogoproto\/gogo\.proto";/d' \
		-e '/^[[:space:]]*option \((gogoproto|containerd\.plugin)\.[^)]*\)/d' \
		-e 's/[[:space:]]*\[\((gogoproto|containerd\.plugin)\.[^]]*\]//' \
		"$in" >"$out"
	! grep -qE 'gogoproto|fieldpath' "$out" || die "$out: gogoproto or fieldpath left after stripping"
}

cmd_fetch() {
	local p deb tmp f rel v
	mkdir -p "$PROTO_CACHE"
	for p in "${PKGS[@]}"; do
		[ -n "$(pinned "$p")" ] || die "$p is not pinned in $LOCK"
		deb=$(cached_deb "$p") || true
		if [ -n "$deb" ]; then
			check_deb "$p" "$deb"
			say "$p: cached as $(basename "$deb"), SHA256 as pinned"
			continue
		fi
		tmp=$(mktemp -d "$PROTO_CACHE/.download-XXXXXX")
		CLEANUP=$tmp
		read -r v _ <<<"$(pinned "$p")"
		say "downloading $p $v"
		(cd "$tmp" && apt-get "${apt_opts[@]}" download "$p=$v") ||
			{ apt-get -q update >/dev/null && (cd "$tmp" && apt-get "${apt_opts[@]}" download "$p=$v"); } ||
			die "apt-get download $p=$v failed"
		check_deb "$p" "$tmp"/"$p"_*_all.deb
		mv "$tmp"/"$p"_*_all.deb "$PROTO_CACHE/"
		rm -rf "$tmp"
		CLEANUP=
	done
	tmp=$(mktemp -d "$PROTO_CACHE/.extract-XXXXXX")
	CLEANUP=$tmp
	for p in "${PKGS[@]}"; do
		dpkg-deb -x "$(cached_deb "$p")" "$tmp/x"
	done
	mkdir -p "$tmp/src"
	for f in "${FILES[@]}"; do
		[ -f "$tmp/x/$GOSRC/$f" ] || die "$f is not in ${PKGS[*]}"
		rel=${f#github.com/gogo/googleapis/}
		strip_one "$tmp/x/$GOSRC/$f" "$tmp/src/$rel"
	done
	rm -rf "$SRC"
	mv "$tmp/src" "$SRC"
	say "${#FILES[@]} stripped .proto files in $SRC"
}

cmd_dir() {
	local f rel
	for f in "${FILES[@]}"; do
		rel=${f#github.com/gogo/googleapis/}
		[ -f "$SRC/$rel" ] || die "$SRC/$rel is missing: run 'make deps' to fetch it"
	done
	printf '%s\n' "$SRC"
}

case ${1:-} in
fetch) cmd_fetch ;;
dir) cmd_dir ;;
*) die "usage: $0 fetch|dir" ;;
esac
