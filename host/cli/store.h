/*
 * The state directory (--root, default /run/lcow):
 *
 *   <root>/c/<id>/state.json  a container's record: its UVM, bundle, creation time (written by
 *                             create, removed by delete), beside the images lcow made for it
 *                             (rootfs.img from a root.path directory, scratch.img)
 *   <root>/u/<name>/          a UVM: daemon.pid, ctl.sock, daemon.log (without --log), uvm.json
 *                             ({"id","mode","pod","created"}), vm/ (the launcher's state)
 *
 * <name> is the UVM ID when it has at most 24 bytes, else its first 15 bytes, "-" and a hash:
 * the agent's sockets live under vm/, and a Unix socket path has at most 107 bytes.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

/* Makes root absolute and creates <root>, <root>/c and <root>/u (0700). */
int store_open(const char *root);
const char *store_root(void);

int store_container_dir(const char *id, char *buf, size_t len);
int store_uvm_dir(const char *uvm, char *buf, size_t len);
int store_uvm_file(const char *uvm, const char *name, char *buf, size_t len);

/* A container's record; -ENOENT when there is no such container. */
int store_record_read(const char *id, json_t **ret);
int store_record_write(const char *id, json_t *rec);
/* The IDs of every container with a record, sorted (malloc'd array of malloc'd strings). */
int store_list(char ***ret, size_t *ret_n);
void store_list_free(char **ids, size_t n);

/* The UVM's daemon, if it runs (its pid file, checked against its command line); else -ESRCH. */
int store_daemon_pid(const char *uvm, pid_t *ret);
