#!/bin/bash
# Debian's containerd drives containerd-shim-lcow-v1 through `ctr run --runtime
# io.containerd.lcow.v1`: proves that containerd starts the shim, dials the address it prints
# and reaches the Task service (Create answers Unimplemented for now, so the run must fail
# with that error), and that the shim is gone afterwards.
#
#   tests/containerd/run.sh SHIM     (make check-containerd; root)
#
# containerd gets its own config, root, state and sockets in a temp dir; the shim's sockets go
# there too (LCOW_SHIM_SOCKET_DIR), so of the /run/containerd every containerd of the host
# shares, only ctr's fifo directories of this run's container are touched, and removed.
set -euo pipefail

SHIM=$(realpath "$1")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ID=lcow-t$$
fail() { printf 'containerd: FAIL: %s\n' "$*" >&2; exit 1; }
say() { printf 'containerd: %s\n' "$*"; }

command -v containerd >/dev/null && command -v ctr >/dev/null ||
	{ say "containerd is not installed (make deps): skipped"; exit 0; }
[ "$(id -u)" = 0 ] || { say "needs root: skipped"; exit 0; }

T=$(mktemp -d /tmp/lcow-ctrd-XXXXXX)
CTRD_PID=
cleanup() {
	set +e
	local p
	if [ -n "$CTRD_PID" ]; then
		kill "$CTRD_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$CTRD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$CTRD_PID" 2>/dev/null || true
	fi
	# Shims of this run: started through our bin/ symlink, so their argv names $T.
	for p in $(pgrep -f "^$T/bin/containerd-shim-lcow-v1" || true); do kill -9 "$p" 2>/dev/null || true; done
	grep -o " $T/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
	for p in /run/containerd/fifo/*/"$ID"-*; do [ -e "$p" ] && rm -rf "$(dirname "$p")"; done
	rm -rf "$T"
}
trap cleanup EXIT

mkdir -p "$T/bin" "$T/s"
ln -s "$SHIM" "$T/bin/containerd-shim-lcow-v1"
cat >"$T/config.toml" <<EOT
version = 2
root = "$T/root"
state = "$T/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$T/c.sock"
[ttrpc]
  address = "$T/c.sock.ttrpc"
[debug]
  level = "debug"
EOT
PATH=$T/bin:$PATH LCOW_SHIM_SOCKET_DIR=$T/s containerd --config "$T/config.toml" >"$T/containerd.log" 2>&1 &
CTRD_PID=$!
for _ in $(seq 100); do [ -S "$T/c.sock" ] && break; sleep 0.1; done
[ -S "$T/c.sock" ] || { cat "$T/containerd.log" >&2; fail "containerd did not start"; }
export CONTAINERD_ADDRESS=$T/c.sock
say "containerd $(ctr version 2>/dev/null | awk '/Version/ { print $2; exit }') up (pid $CTRD_PID)"

/usr/bin/python3 "$HERE/mkoci.py" "$T/busybox.tar" localhost/busybox:lcow
timeout 60 ctr images import "$T/busybox.tar" >/dev/null || fail "ctr images import"

set +e
out=$(timeout 60 ctr run --rm --runtime io.containerd.lcow.v1 localhost/busybox:lcow "$ID" /bin/true 2>&1)
rc=$?
set -e
say "ctr run: exit $rc: $out"
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "ctr run should fail with Create unimplemented (exit $rc)"
grep -q "Create is not implemented" <<<"$out" || { tail -30 "$T/containerd.log" >&2; fail "no Unimplemented Create in: $out"; }
grep -q 'level=info msg=\\\?"serving '"$ID" "$T/containerd.log" ||
	{ tail -30 "$T/containerd.log" >&2; fail "the shim's log (bundle FIFO) did not reach containerd's log"; }

# containerd shuts the shim down after the failed Create (Shutdown, then `delete`).
for _ in $(seq 50); do pgrep -f "^$T/bin/containerd-shim-lcow-v1" >/dev/null || break; sleep 0.1; done
! pgrep -f "^$T/bin/containerd-shim-lcow-v1" >/dev/null || fail "the shim is still running"
[ -z "$(ls -A "$T/s")" ] || fail "shim sockets left: $(ls "$T/s")"
say "PASS: containerd started the shim, Create answered Unimplemented, the shim exited"
