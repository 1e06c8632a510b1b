/*
 * ModifySettings for the utility VM itself (null container ID, spec section 10): disks, layers,
 * the overlay root filesystems of containers, Plan 9 shares. See storage.c.
 */
#pragma once

#include <stddef.h>

#include "gcs/hresult.h"

struct agent;
struct request;

int storage_handle_modify(struct request *req, struct gcs_error *err);
/*
 * A path from the host: absolute, normalized (no "//", ".", "..", trailing "/"), under
 * run_root, and no existing component may be a symlink that leads outside run_root.
 * E_INVALIDARG otherwise; nothing is touched. what names the field in the message.
 */
int storage_check_path(struct agent *a, const char *what, const char *path, struct gcs_error *err);
/* Removes the mounts an earlier agent on this run root left (start-up, before serving). */
void storage_recover(struct agent *a);
/* Unmounts and removes, newest first, everything ModifySettings set up (agent shutdown). */
void storage_cleanup(struct agent *a);
void storage_dump(struct agent *a, char *buf, size_t len);
