/* Shared helpers of the Check unit suites. */
#pragma once

#include <check.h>
#include <stddef.h>

/* Runs one suite in fork mode and returns the process exit status (0 = all passed). */
int testutil_run(Suite *s);

/* Reads a file under tests/data (malloc'd, NUL-terminated); aborts the test when missing. */
char *testutil_read_data(const char *name, size_t *ret_len);

/* Decodes hex text ("01 0b 10 10 ...", whitespace ignored) into buf; returns the byte count. */
size_t testutil_unhex(const char *hex, unsigned char *buf, size_t cap);
