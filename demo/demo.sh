#!/bin/bash
# make demo: a busybox container in a utility VM, through the lcow CLI, then nothing left.
#
# Builds a busybox-static root filesystem and an OCI bundle around it (root.path: lcow turns
# the directory into an ext4 layer disk), runs it with `lcow run`, and removes everything. The
# UVM is a QEMU VM when QEMU, lcow's kernel and initrd and its vsock device are there (make
# initrd WITH_RUNC=1); otherwise, or when that VM does not come up, a process-mode UVM (the
# agent as a host process in namespaces of its own: no hypervisor, not a security boundary).
#
# Environment: BUILD (default build/default), LCOW_UVM_MODE (auto, qemu or process).
set -euo pipefail

BUILD=${BUILD:-build/default}
LCOW=$(cd "$BUILD" && pwd)/lcow
MODE=${LCOW_UVM_MODE:-auto}

say() { printf 'demo: %s\n' "$*"; }
[ -x "$LCOW" ] || { say "$LCOW is missing: run make"; exit 1; }
[ -x /bin/busybox ] || { say "/bin/busybox is missing: apt-get install busybox-static"; exit 1; }
[ "$(id -u)" = 0 ] || { say "needs root (loop devices, mounts, namespaces)"; exit 1; }

work=$(mktemp -d /tmp/lcow-demo-XXXXXX)
id=demo-$$
cleanup() {
	"$LCOW" --root "$work/root" delete --force "$id" >/dev/null 2>&1 || true
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# ---- the bundle ----
rootfs=$work/bundle/rootfs
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,root}
cp /bin/busybox "$rootfs/bin/"
for applet in $(/bin/busybox --list); do
	[ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
cat >"$work/bundle/config.json" <<'JSON'
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": { "uid": 0, "gid": 0 },
    "args": [ "sh", "-c", "echo; echo '  Hello from a busybox container in an lcow utility VM!'; echo; echo \"  kernel: $(uname -srm)\"; echo \"  host name: $(hostname), pid $$, $(ls /bin | wc -l) commands in /bin\"; echo" ],
    "env": [ "PATH=/bin" ],
    "cwd": "/"
  },
  "root": { "path": "rootfs" },
  "hostname": "lcow-demo",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": [ "nosuid", "mode=755" ] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [ "nosuid", "noexec", "nodev", "ro" ] }
  ],
  "linux": { "namespaces": [ { "type": "pid" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" } ] }
}
JSON

# ---- run it ----
run() {
	say "lcow run --uvm-mode $1 (state in $work/root)"
	"$LCOW" --root "$work/root" run --uvm-mode "$1" --bundle "$work/bundle" "$id"
}
start=$(date +%s%N)
if ! run "$MODE"; then
	[ "$MODE" != process ] || exit 1
	say "the UVM did not work here (see the error above; the QEMU pieces may still be in"
	say "progress): falling back to process mode: no hypervisor, not a security boundary"
	start=$(date +%s%N)
	run process
fi
ms=$((($(date +%s%N) - start) / 1000000))
say "lcow run took $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"

# ---- nothing left ----
cleanup
trap - EXIT
left=$(losetup -a | grep -c "$work" || true)
[ "$left" = 0 ] || { say "loop devices left: $left"; exit 1; }
say "cleaned up: no UVM, no loop devices, no state"
