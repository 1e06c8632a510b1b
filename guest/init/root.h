/*
 * Moving the root off the initramfs. pivot_root(2) fails with EINVAL when the current root is
 * the kernel's rootfs (it has no parent mount), so runc's default container setup cannot work
 * there. Like LinuxKit's init, we copy the initramfs into a tmpfs and make that the root
 * (switch_root's MS_MOVE + chroot), which keeps runc's pivot_root (no --no-pivot needed).
 */
#pragma once

/* Where the new root is mounted while the initramfs is copied; hidden once we switch. */
#define NEW_ROOT "/.lcow-root"

/*
 * When / is the initramfs (tmpfs or ramfs), copies it into a new tmpfs, deleting each file
 * from the initramfs once copied so the memory is not held twice, and switches to it. Returns
 * 1 when it switched, 0 when / is not an initramfs (a disk root), or a negative errno.
 */
int root_switch_to_tmpfs(void);

/*
 * Moves the tree under directory src into directory dst: copies every entry (regular files,
 * directories, symlinks, device nodes, fifos; owners and modes kept) and unlinks the original
 * once copied. Directories on another filesystem (mount points) are recreated empty. An entry
 * of src named as NEW_ROOT's last component is left alone: it is where dst lives.
 */
int root_move_tree(int src, int dst);
