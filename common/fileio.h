/* Host helpers: whole files (removal, atomic writes, reads, JSON) and program lookup. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Removes path and everything under it, never crossing into another filesystem. */
int rm_rf(const char *path);
/* Writes text to path through a temporary file and rename (what runc does for pid files). */
int write_file_atomic(const char *path, const char *text, mode_t mode);
/* The whole file, NUL-terminated, malloc'd (at most max bytes). */
int read_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* JSON file I/O (compact, keys in insertion order). */
int json_write_file(const char *path, json_t *j);
int json_read_file(const char *path, json_t **ret, char *errbuf, size_t errlen);
/* The directory of the running executable. */
int exe_dir(char *buf, size_t len);
/* Whether a program is in PATH (or, with a slash, exists and is executable). */
bool program_exists(const char *name);
