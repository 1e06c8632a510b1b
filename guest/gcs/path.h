/*
 * Paths from the host: lexical checks (absolute, normalized, below a root), the symlink check
 * that keeps them inside the root, and the mkdir -p / rmdir the storage handlers need.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Absolute, with no empty, "." or ".." component and no trailing "/" ("/" itself is not). */
bool path_is_normalized(const char *path);

/* path lies strictly below root; both normalized (root may be "/"). */
bool path_is_below(const char *path, const char *root);

/* path equals root or lies below it. */
bool path_is_within(const char *path, const char *root);

/* The parent of a normalized path into buf ("/a/b" -> "/a", "/a" -> "/"). */
int path_dirname(const char *path, char *buf, size_t len);

/* a + "/" + b into buf; -ENAMETOOLONG when it does not fit. */
int path_join(char *buf, size_t len, const char *a, const char *b);

/*
 * Resolves the longest existing prefix of path (lstat) with realpath and checks that it stays
 * within the resolved root: 0 when it does, -EXDEV when a symlink leads outside, -errno when
 * a component cannot be resolved (a dangling symlink is -ENOENT).
 */
int path_check_inside(const char *path, const char *root);
