/*
 * Where the shim keeps its state: under its root ($LCOW_SHIM_ROOT, default SHIM_ROOT_DEFAULT),
 * the UVM of each pod (a directory named by a digest of namespace and group, short enough for
 * the process-mode UVM's Unix sockets inside it), a directory per container inside it (its
 * record and its scratch disk), and the layer cache every shim on the host shares. The `start`
 * server and the `delete` subcommand compute the same paths from the same inputs.
 */
#pragma once

#include <stddef.h>

#define SHIM_ROOT_DEFAULT "/var/lib/lcow/shim"

/* $LCOW_SHIM_ROOT or the default. */
const char *paths_root(void);
/* <root>/vm-<16 hex of sha256("<namespace>/<group>")> */
int paths_uvm_dir(const char *ns, const char *group, char *buf, size_t len);
/* <uvm dir>/c/<id> */
int paths_ctr_dir(const char *ns, const char *group, const char *id, char *buf, size_t len);
/* <root>/layers */
int paths_layer_cache(char *buf, size_t len);
/* The layer cache's owner name of a container: 32 hex of sha256("<namespace>/<id>"). */
void paths_owner(const char *ns, const char *id, char out[33]);
