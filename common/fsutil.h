/* Small file-system helpers every lcow program shares (paths it trusts, not the host's). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* snprintf into a path buffer: -ENAMETOOLONG when it does not fit. */
int pathf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * mkdir -p: missing parents get 0755, path itself mode; what exists must be a directory
 * (-ENOTDIR otherwise). mkdir_p_created also tells whether path itself was created here, so
 * that a caller removes only what it made.
 */
int mkdir_p(const char *path, mode_t mode);
int mkdir_p_created(const char *path, mode_t mode, bool *ret_created);
