#!/bin/bash
# make demo: a busybox container in a utility VM, through the lcow CLI, then nothing left.
#
# Builds what it runs (lcow, the agent gcs, lcow-vsock, init and the initrd, nothing else),
# builds a busybox-static root filesystem and an OCI bundle around it (root.path: lcow turns the
# directory into an ext4 layer disk), then, each step timed: `lcow create` (boots the UVM and
# creates the container), `lcow start`, the container's output once it has exited, and
# `lcow delete` (the container and its UVM).
#
# The UVM is a QEMU VM when QEMU is installed (lcow's launcher runs it under TCG). When QEMU mode
# was possible but failed, the demo fails: it does not fall back. Without QEMU, or with
# LCOW_UVM_MODE=process, it runs a process-mode UVM (the agent as a host process in namespaces
# of its own: no hypervisor, not a security boundary) and says so.
#
# Environment: BUILD (default build/default), MAKE (default make), LCOW_UVM_MODE (auto, qemu or
# process), LCOW_QEMU (the QEMU binary lcow runs), DEMO_TIMEOUT (seconds the container may run,
# default 60).
set -euo pipefail
export LC_ALL=C

BUILD=${BUILD:-build/default}
MAKE=${MAKE:-make}
MODE=${LCOW_UVM_MODE:-auto}
QEMU=${LCOW_QEMU:-qemu-system-x86_64}
DEMO_TIMEOUT=${DEMO_TIMEOUT:-60}
JOBS=$(nproc)

say() { printf 'demo: %s\n' "$*"; }
fail() { printf 'demo: FAILED: %s\n' "$*" >&2; exit 1; }

# Seconds since $1 (an $EPOCHREALTIME), one decimal.
since() {
	local us=$((${EPOCHREALTIME/./} - ${1/./}))
	printf '%d.%d' $((us / 1000000)) $((us / 100000 % 10))
}

# phase LABEL LOG CMD...: "demo: LABEL ... 1.2 s", CMD's output in LOG, shown when it fails.
phase() {
	local label=$1 log=$2 t0=$EPOCHREALTIME rc=0
	shift 2
	printf 'demo: %s ... ' "$label"
	"$@" >"$log" 2>&1 || rc=$?
	if [ "$rc" != 0 ]; then
		printf 'failed after %s s (exit status %d)\n' "$(since "$t0")" "$rc"
		sed 's/^/  | /' "$log" | tail -n 30 >&2
		return "$rc"
	fi
	printf '%s s\n' "$(since "$t0")"
}

[ "$(id -u)" = 0 ] || fail "needs root (loop devices, mounts, namespaces)"
[ -x /bin/busybox ] || fail "/bin/busybox is missing: apt-get install busybox-static"
case $MODE in auto | qemu | process) ;; *) fail "LCOW_UVM_MODE must be auto, qemu or process" ;; esac

# ---- which UVM ----
why=
if [ "$MODE" = process ]; then
	why="LCOW_UVM_MODE=process"
elif ! command -v "$QEMU" >/dev/null; then
	[ "$MODE" = auto ] || fail "LCOW_UVM_MODE=qemu, but $QEMU is not installed"
	why="$QEMU is not installed"
fi
if [ -n "$why" ]; then
	uvm_mode=process
	say "mode: process-mode UVM, because $why"
	say "      (the agent runs on this host in namespaces of its own: no hypervisor, NOT a"
	say "      security boundary)"
else
	uvm_mode=qemu
	say "mode: QEMU utility VM ($QEMU; lcow's kernel and initrd, lcow-vsock for vsock)"
fi

# ---- build what the demo runs ----
mkdir -p "$BUILD"
logs=$(mktemp -d /tmp/lcow-demo-logs-XXXXXX)
work=
id=demo-$$
LCOW=$(cd "$BUILD" && pwd)/lcow
cleanup() {
	if [ -n "$work" ]; then
		"$LCOW" --root "$work/root" delete --force "$id" >/dev/null 2>&1 || true
		rm -rf --one-file-system "$work"
	fi
	rm -rf "$logs"
}
trap cleanup EXIT

targets=("$BUILD/lcow" "$BUILD/gcs")
[ "$uvm_mode" = process ] || targets+=("$BUILD/lcow-vsock" "$BUILD/init")
phase "building lcow, the agent gcs$([ "$uvm_mode" = process ] || echo ', lcow-vsock and init') (make -j$JOBS)" \
	"$logs/build.log" "$MAKE" --no-print-directory -j"$JOBS" SANITIZE= "${targets[@]}" ||
	fail "the build failed (output above)"
if [ "$uvm_mode" = qemu ]; then
	phase "building the utility VM's kernel and initrd (make initrd WITH_RUNC=1)" \
		"$logs/initrd.log" "$MAKE" --no-print-directory initrd WITH_RUNC=1 ||
		fail "the UVM image did not build (output above; 'make deps' fetches the kernel)"
fi

# ---- the bundle ----
work=$(mktemp -d /tmp/lcow-demo-XXXXXX)
make_bundle() {
	local rootfs=$work/bundle/rootfs applet
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
}
phase "writing a busybox bundle (state in $work/root)" "$logs/bundle.log" make_bundle ||
	fail "could not write the bundle"

# ---- create, start, output, delete ----
# The container's stdout and stderr are the FIFO's write end: lcow create hands them to the UVM's
# daemon, which closes them once the container has exited and its state is "stopped". So the
# reader's EOF is the container's exit, with no polling.
lcow() { "$LCOW" --root "$work/root" "$@"; }
mkfifo "$work/stdio"
timeout "$DEMO_TIMEOUT" cat "$work/stdio" >"$work/output" &
reader=$!
t_all=$EPOCHREALTIME
if [ "$uvm_mode" = qemu ]; then
	label="booting the utility VM (QEMU) and creating the container (lcow create)"
else
	label="starting a process-mode UVM and creating the container (lcow create)"
fi
printf 'demo: %s ... ' "$label"
t0=$EPOCHREALTIME rc=0
lcow create --uvm-mode "$uvm_mode" --bundle "$work/bundle" "$id" \
	<"/dev/null" >"$work/stdio" 2>&1 || rc=$?
if [ "$rc" != 0 ]; then
	printf 'failed after %s s\n' "$(since "$t0")"
	wait "$reader" || true
	sed 's/^/  | /' "$work/output" >&2
	[ "$uvm_mode" = qemu ] &&
		fail "QEMU mode failed: lcow create --uvm-mode qemu exited with status $rc (its error" \
			"is above). Not falling back to process mode; LCOW_UVM_MODE=process make demo" \
			"runs the demo without a hypervisor"
	fail "lcow create --uvm-mode process exited with status $rc (its error is above)"
fi
printf '%s s\n' "$(since "$t0")"

if [ "$uvm_mode" = qemu ]; then
	# The accelerator, from the command line of the QEMU the UVM's daemon started.
	accel=
	for pid in $(cat "$work/root/u/$id/vm/qemu.pid" 2>/dev/null); do
		args=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null) || continue
		accel=$(sed -n '/^-accel$/{n;p;q}' <<<"$args")
		[ -z "$accel" ] || break
	done
	case $accel in
	tcg) say "QEMU runs with -accel tcg: TCG, software emulation (no KVM)" ;;
	kvm) say "QEMU runs with -accel kvm: KVM, hardware virtualization" ;;
	'') say "QEMU's accelerator: not found on its command line" ;;
	*) say "QEMU runs with -accel $accel" ;;
	esac
fi

phase "starting the container (lcow start)" "$logs/start.log" lcow start "$id" ||
	fail "lcow start failed (output above)"
t0=$EPOCHREALTIME rc=0
wait "$reader" || rc=$?
[ "$rc" != 124 ] || fail "the container did not exit within $DEMO_TIMEOUT s"
[ "$rc" = 0 ] || fail "reading the container's output failed (status $rc)"
status=$(lcow state "$id" | sed -n 's/^ *"status": "\(.*\)",$/\1/p')
say "container output (its stdout and stderr, relayed from the UVM by libgcs):"
sed 's/^/  | /' "$work/output"
say "the container exited $(since "$t0") s after lcow start returned (lcow state: ${status:-?})"
[ "$status" = stopped ] || fail "lcow state says '$status' after the container closed its output"
grep -q 'Hello from a busybox container' "$work/output" ||
	fail "the container's output is not the greeting"

phase "deleting the container and its UVM (lcow delete)" "$logs/delete.log" lcow delete "$id" ||
	fail "lcow delete failed (output above)"
say "create to delete: $(since "$t_all") s"

# ---- nothing left ----
left=
for p in /proc/[0-9]*; do
	grep -qsF "$work" "$p/cmdline" && left="$left ${p#/proc/}"
done
[ -z "$left" ] || fail "processes left that name $work:$left"
! grep -qF "$work" /proc/self/mountinfo || fail "mounts left under $work"
! losetup -a | grep -qF "$work" || fail "loop devices left on files under $work"
rm -rf --one-file-system "$work"
work=
case $uvm_mode in
qemu) say "done: a QEMU utility VM (${accel:-accelerator unknown}); no UVM, daemon, loop device, mount or state left" ;;
process) say "done: a process-mode UVM ($why); no agent, daemon, loop device, mount or state left" ;;
esac
