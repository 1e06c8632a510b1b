#!/bin/bash
# Builds the utility VM's boot files from Debian's kernel package and our static binaries:
#   $BUILD/vmlinux     the PVH-bootable ELF kernel (for QEMU -kernel on microvm / q35)
#   $BUILD/vmlinuz     the same kernel as Debian ships it (bzImage)
#   $BUILD/initrd.img  newc cpio, compressed: /init, /bin/gcs, kernel modules (+ runc)
# See initrd/README.md. Run through `make initrd` (which builds $BUILD/gcs and $BUILD/init).
#
# Environment:
#   BUILD            build directory (default build/default)
#   WITH_RUNC        1: add /usr/sbin/runc and its libraries (default 0)
#   KERNEL_FLAVOUR   Debian kernel flavour (default amd64; cloud-amd64 has no 9p)
#   KERNEL_CACHE     where `make deps` put the kernel package (default .cache/kernel)
#   KERNEL_VERSION   ABI version such as 6.1.0-57: must be the one initrd/kernel.lock pins
#                    (`make kernel-pin KERNEL_VERSION=...` pins another)
# The kernel package is the one initrd/kernel.lock pins, read from the cache `make deps` fills
# (initrd/kernel.sh): this script never uses the network or apt.
#   INITRD_COMPRESS  zstd (default) | xz | gzip
#   SOURCE_DATE_EPOCH  mtime of every initrd entry (default 0)
set -euo pipefail

BUILD=${BUILD:-build/default}
WITH_RUNC=${WITH_RUNC:-0}
KERNEL_FLAVOUR=${KERNEL_FLAVOUR:-amd64}
KERNEL_VERSION=${KERNEL_VERSION:-}
INITRD_COMPRESS=${INITRD_COMPRESS:-zstd}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
RUNC=${RUNC:-/usr/sbin/runc}
MAX_BASE_INITRD=$((2 * 1024 * 1024)) # the initrd without runc must stay under 2 MiB

# Modules by name; their dependencies are added from modules.dep. Built-in ones are skipped.
MODULES=(
	virtio_mmio virtio_pci                 # virtio transports: microvm, q35/pc
	vmw_vsock_virtio_transport             # vsock (pulls vsock, virtio_ring, virtio)
	virtio_scsi sd_mod                     # layers and scratch as SCSI LUNs
	overlay ext4                           # container rootfs
	virtio_pmem nd_pmem                    # read-only layers on virtio-pmem (q35)
	virtiofs                               # shared directories (fuse)
	loop dm_mod                            # loop devices; dm-linear for pmem MappingInfo
	virtio_net                             # NICs (pulls net_failover, failover)
)
# Only when the kernel has them (the cloud flavour has no 9p at all).
OPTIONAL_MODULES=(9p 9pnet_virtio 9pnet_fd)

say() { printf 'initrd: %s\n' "$*"; }
die() { printf 'initrd: error: %s\n' "$*" >&2; exit 1; }

for tool in dpkg-deb depmod modprobe cpio readelf strip sha256sum; do
	command -v "$tool" >/dev/null || die "$tool is missing (make deps installs it)"
done

mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
KDIR=$BUILD/kernel
mkdir -p "$KDIR"

[ -x "$BUILD/gcs" ] || die "$BUILD/gcs is missing: run 'make initrd'"
[ -x "$BUILD/init" ] || die "$BUILD/init is missing: run 'make initrd'"

# ---- 1. the kernel package (pinned in initrd/kernel.lock, cached by make deps) ----
deb=$(KERNEL_FLAVOUR=$KERNEL_FLAVOUR "$(dirname "$0")/kernel.sh" path) || exit 1
KREL=$(basename "$deb" | sed 's/^linux-image-\(.*\)_[^_]*_amd64\.deb$/\1/') # 6.1.0-57-amd64
[ -z "$KERNEL_VERSION" ] || [ "$KERNEL_VERSION-$KERNEL_FLAVOUR" = "$KREL" ] ||
	die "KERNEL_VERSION=$KERNEL_VERSION, but initrd/kernel.lock pins $KREL: run" \
		"'make kernel-pin KERNEL_VERSION=$KERNEL_VERSION' and 'make deps' to change the pin"
say "kernel $KREL ($(basename "$deb"), SHA256 as pinned)"

# ---- the initrd's inputs: up to date when none changed ----
# The libraries ldd names for $1, by the paths it names, and the dynamic loader.
libs_of() { ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'; }
EXTRA=()
if [ "$WITH_RUNC" = 1 ]; then
	[ -x "$RUNC" ] || die "$RUNC is missing (apt-get install runc)"
	# Containers need a scratch disk the agent formats on demand (EnsureFilesystem).
	MKFS=$(command -v mkfs.ext4) || die "mkfs.ext4 is missing (apt-get install e2fsprogs)"
	EXTRA=("$RUNC" "$MKFS")
fi
# The outputs are a function of these (and of the host's cpio, depmod and compressor).
inputs_digest() {
	local f
	{
		printf '%s\n' "$(basename "$deb")" "$KERNEL_FLAVOUR" "$WITH_RUNC" "$INITRD_COMPRESS" \
			"$SOURCE_DATE_EPOCH"
		for f in "$0" "$BUILD/gcs" "$BUILD/init" "${EXTRA[@]}"; do
			sha256sum "$(readlink -f "$f")"
		done
		for f in "${EXTRA[@]}"; do
			for lib in $(libs_of "$f"); do sha256sum "$(readlink -f "$lib")"; done
		done
	} | sha256sum | cut -d' ' -f1
}
outputs_digest() {
	sha256sum "$BUILD/vmlinux" "$BUILD/vmlinuz" "$BUILD/initrd.img" 2>/dev/null | sha256sum |
		cut -d' ' -f1
}
size() { stat -c %s "$1"; }
report() {
	printf 'initrd: %-34s %10s bytes\n' "vmlinux ($KREL)" "$(size "$BUILD/vmlinux")" \
		"vmlinuz" "$(size "$BUILD/vmlinuz")" \
		"initrd.img without runc ($INITRD_COMPRESS)" "$1"
	[ "$WITH_RUNC" = 1 ] &&
		printf 'initrd: %-34s %10s bytes\n' "initrd.img with runc ($INITRD_COMPRESS)" \
			"$(size "$BUILD/initrd.img")"
	[ "$1" -lt "$MAX_BASE_INITRD" ] ||
		die "the initrd without runc is $1 bytes: over the $MAX_BASE_INITRD budget"
}
# The stamp: the inputs' digest, the outputs' digest, the size of the initrd without runc.
STAMP=$BUILD/initrd.stamp
inputs=$(inputs_digest)
if read -r s_in s_out s_base <"$STAMP" 2>/dev/null && [ "$s_in" = "$inputs" ] &&
	[ "$s_out" = "$(outputs_digest)" ]; then
	report "$s_base"
	say "up to date: $BUILD/vmlinux, $BUILD/vmlinuz, $BUILD/initrd.img (WITH_RUNC=$WITH_RUNC)"
	exit 0
fi
rm -f "$STAMP"

ROOT=$KDIR/root-$KREL
# Trees of other kernels (400 MB each) and packages an older build.sh downloaded here are stale.
for old in "$KDIR"/root-* "$KDIR"/*.deb; do
	[ -e "$old" ] && [ "$old" != "$ROOT" ] || continue
	say "removing the stale $old"
	rm -rf "$old"
done
# The stamp names the package it was extracted from: a re-pin to another build of the same ABI
# extracts again.
if [ "$(cat "$ROOT/.extracted" 2>/dev/null)" != "$(basename "$deb")" ]; then
	rm -rf "$ROOT"
	mkdir -p "$ROOT"
	dpkg-deb -x "$deb" "$ROOT"
	basename "$deb" >"$ROOT/.extracted"
fi
CONFIG=$ROOT/boot/config-$KREL
VMLINUZ=$ROOT/boot/vmlinuz-$KREL
MODDIR=$ROOT/lib/modules/$KREL
for f in "$CONFIG" "$VMLINUZ" "$MODDIR"; do
	[ -e "$f" ] || die "unexpected layout in $deb: no $f"
done
kconfig() { grep -q "^CONFIG_$1=y" "$CONFIG"; }

# ---- 2. vmlinuz and the PVH vmlinux ----
# extract-vmlinux's method: find the compressed payload's magic in the bzImage, decompress from
# each candidate offset until the result is an ELF. Direct boot (QEMU -kernel on microvm) needs
# the ELF's Xen PVH entry note (CONFIG_PVH).
extract_vmlinux() {
	local in=$1 out=$2 magic tool
	if kconfig KERNEL_XZ; then magic='\xfd7zXZ\x00'; tool='xz -dc --single-stream'
	elif kconfig KERNEL_ZSTD; then magic='\x28\xb5\x2f\xfd'; tool='zstd -dc'
	elif kconfig KERNEL_LZ4; then magic='\x02\x21\x4c\x18'; tool='lz4 -dc'
	elif kconfig KERNEL_GZIP; then magic='\x1f\x8b\x08'; tool='gzip -dc'
	else die "the kernel's compression is none of xz, zstd, lz4, gzip"
	fi
	command -v "${tool%% *}" >/dev/null || die "${tool%% *} is needed to unpack the kernel"
	local offsets
	offsets=$(LC_ALL=C grep -obUaP "$magic" "$in" | cut -d: -f1) || true
	for off in $offsets; do
		# Decompressors complain about the bzImage's trailing bytes: the ELF check decides.
		tail -c "+$((off + 1))" "$in" | $tool >"$out.tmp" 2>/dev/null || true
		if [ "$(head -c 4 "$out.tmp" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
			mv "$out.tmp" "$out"
			return 0
		fi
	done
	rm -f "$out.tmp"
	die "no ELF kernel found inside $in"
}

if [ ! -f "$BUILD/vmlinux" ] || [ "$(cat "$KDIR/vmlinux.release" 2>/dev/null)" != "$(basename "$deb")" ]; then
	kconfig PVH || die "$KREL is not built with CONFIG_PVH: no direct ELF boot"
	say "extracting vmlinux from vmlinuz-$KREL"
	extract_vmlinux "$VMLINUZ" "$BUILD/vmlinux"
	# XEN_ELFNOTE_PHYS32_ENTRY (type 0x12) is the PVH entry point QEMU looks for.
	readelf -n "$BUILD/vmlinux" | grep -Eq 'Xen.*(0x00000012|PHYS32_ENTRY)' ||
		die "vmlinux has no PVH entry note"
	basename "$deb" >"$KDIR/vmlinux.release"
fi
cmp -s "$VMLINUZ" "$BUILD/vmlinuz" || cp "$VMLINUZ" "$BUILD/vmlinuz"

# ---- 3. modules ----
[ -f "$MODDIR/modules.dep" ] || depmod -b "$ROOT" "$KREL"

# Prints the modules (paths relative to $MODDIR) that loading $1 takes, dependencies first.
# Empty for a built-in module; fails when the kernel has no such module.
module_closure() {
	modprobe -d "$ROOT" -S "$KREL" --show-depends "$1" 2>/dev/null |
		awk -v dir="$MODDIR/" '$1 == "insmod" && index($2, dir) == 1 { print substr($2, length(dir) + 1) }'
	[ "${PIPESTATUS[0]}" = 0 ]
}

declare -A seen=()
order=()
for name in "${MODULES[@]}" "${OPTIONAL_MODULES[@]}"; do
	if ! list=$(module_closure "$name"); then
		case " ${OPTIONAL_MODULES[*]} " in
		*" $name "*) say "no $name in $KREL: skipped"; continue ;;
		esac
		die "module $name not found in $KREL"
	fi
	[ -n "$list" ] || { say "$name is built in"; continue; }
	while read -r mod; do
		[ -n "${seen[$mod]:-}" ] && continue
		seen[$mod]=1
		order+=("$mod")
	done <<<"$list"
done

# ---- 4. the initrd tree ----
STAGE=$BUILD/initrd-root
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,dev,etc,proc,run,sys,tmp,lib/modules}
chmod 1777 "$STAGE/tmp"
install -m 0755 "$BUILD/init" "$STAGE/init"
install -m 0755 "$BUILD/gcs" "$STAGE/bin/gcs"
strip --strip-all "$STAGE/init" "$STAGE/bin/gcs"

: >"$STAGE/lib/modules/load-order"
for mod in "${order[@]}"; do
	dst=lib/modules/$KREL/${mod%.ko*}.ko
	mkdir -p "$STAGE/$(dirname "$dst")"
	# finit_module(2) wants a plain ELF unless the kernel has MODULE_DECOMPRESS.
	case $mod in
	*.ko) cp "$MODDIR/$mod" "$STAGE/$dst" ;;
	*.ko.xz) xz -dc "$MODDIR/$mod" >"$STAGE/$dst" ;;
	*.ko.zst) zstd -qdc "$MODDIR/$mod" >"$STAGE/$dst" ;;
	*.ko.gz) gzip -dc "$MODDIR/$mod" >"$STAGE/$dst" ;;
	*) die "unexpected module file $mod" ;;
	esac
	echo "/$dst" >>"$STAGE/lib/modules/load-order"
done
say "${#order[@]} modules: $(for m in "${order[@]}"; do basename "${m%.ko*}"; done | tr '\n' ' ')"

# $1 at $2 with its libraries at the paths ldd names.
add_with_libs() {
	local bin=$1 dst=$2 lib
	install -D -m 0755 "$bin" "$STAGE/$dst"
	for lib in $(libs_of "$bin"); do
		[ -e "$STAGE/$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$STAGE/$lib"
	done
}

# ---- 5. cpio + compression ----
kernel_can() { kconfig "RD_$1" || die "$KREL cannot unpack a $INITRD_COMPRESS initrd (CONFIG_RD_$1)"; }
compress() {
	case $INITRD_COMPRESS in
	# The kernel's xz decoder wants CRC32 (or no) checks, not xz's default CRC64.
	xz) kernel_can XZ; xz -9 --check=crc32 --threads=1 -c ;;
	zstd) kernel_can ZSTD; zstd -q -19 -c ;;
	gzip) kernel_can GZIP; gzip -9 -n -c ;;
	*) die "INITRD_COMPRESS must be xz, zstd or gzip" ;;
	esac
}

# Sorted names, fixed mtimes, owner 0:0, no inode/device numbers: the same input gives the same
# bytes.
write_initrd() {
	(cd "$STAGE" &&
		find . -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} + &&
		find . -mindepth 1 -printf '%P\0' | LC_ALL=C sort -z |
		cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) |
		compress >"$1.tmp"
	mv "$1.tmp" "$1"
}

write_initrd "$BUILD/initrd.img"
base_size=$(size "$BUILD/initrd.img")
if [ "$WITH_RUNC" = 1 ]; then
	add_with_libs "$RUNC" /usr/sbin/runc
	add_with_libs "$MKFS" /sbin/mkfs.ext4
	write_initrd "$BUILD/initrd.img"
fi

report "$base_size"
echo "$inputs $(outputs_digest) $base_size" >"$STAMP"
say "wrote $BUILD/vmlinux, $BUILD/vmlinuz, $BUILD/initrd.img (WITH_RUNC=$WITH_RUNC)"
