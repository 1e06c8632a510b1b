/*
 * init's command line: which vsock ports to use and which program to run. Pure functions (no
 * I/O), unit-tested in tests/unit/test_init_args.c.
 *
 * The kernel hands everything after "--" on its command line to /init as argv[1..] (plus any
 * unknown boot word without '=' or '.', which is why the launcher must not pass such words).
 * Two forms are accepted:
 *
 *   hcsshim form:  /init [-e PORT] [-w] [--] /bin/vsockexec [-r] [-i PORT] [-o PORT] [-e PORT]
 *                        [--] PROGRAM [ARGS...]
 *   direct form:   /init [-e PORT] [-o PORT] [-l PORT] [-w] [--] [PROGRAM [ARGS...]]
 *
 * init's options stop at the first word that is not an option (or after "--"), as getopt with
 * a leading '+' does in hcsshim's init. An option's value may be attached ("-e1") or the next
 * word ("-e 1"); a PORT is a decimal or 0x-prefixed hex number, 1 to 0xfffffffe, or 0 for none.
 *
 *   init -e PORT   entropy: read from host (CID 2) port PORT until EOF, feed it to /dev/random
 *   init -o PORT   direct form only: the program's stdout goes to host port PORT
 *   init -l PORT   direct form only: the program's stderr goes to host port PORT
 *   init -w        accepted and ignored (hcsshim's writable /etc and /var overlays for a VHD root;
 *                  the initramfs root is writable already)
 *
 * A PROGRAM whose last path component is "vsockexec" is not executed: init does its job itself
 * and parses its options, as hcsshim's vsockexec does:
 *
 *   vsockexec -i PORT / -o PORT / -e PORT   stdin / stdout / stderr to host port PORT
 *                                           (the same port twice shares one connection)
 *   vsockexec -r                            relay mode; accepted, and treated as the default
 *                                           mode (one connection, made before the exec)
 *
 * Defaults differ by form, so that each means what its users expect:
 * - hcsshim form: exactly what is written, as in hcsshim: entropy only with init's -e, and only
 *   the stdio fds vsockexec names are connected. init's -o and -l are an error there.
 * - direct form: entropy from port 1 unless -e says otherwise, stderr to port 109 unless -l says
 *   otherwise, stdout to the console unless -o is given. Port 0 turns any of them off.
 * - no PROGRAM at all: the direct form with PROGRAM = /bin/gcs and no arguments.
 * In both forms stdin is /dev/null and stdout/stderr are the console when no port is given or
 * when connecting the port fails.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INIT_PORT_NONE 0U
#define INIT_DEFAULT_ENTROPY_PORT 1U /* LinuxEntropyVsockPort */
#define INIT_DEFAULT_LOG_PORT 109U /* LinuxLogVsockPort */
#define INIT_DEFAULT_PROGRAM "/bin/gcs"

struct init_args {
	uint32_t entropy_port; /* INIT_PORT_NONE: no entropy */
	uint32_t stdio_port[3]; /* for fds 0, 1, 2; INIT_PORT_NONE: not connected */
	bool vsockexec; /* the hcsshim form */
	int argc;
	/* the program and its arguments, NULL-terminated: the caller's argv or a static default */
	char **argv;
};

/*
 * Parses init's argv (argv[0] is init itself; argv[argc] must be NULL). On failure returns
 * -EINVAL and writes a one-line reason into errmsg.
 */
int init_args_parse(int argc, char **argv, char *errmsg, size_t errlen, struct init_args *ret_args);

/* Parses a vsock PORT as described above; -EINVAL when it is not one. */
int init_parse_port(const char *s, uint32_t *ret_port);

/* Whether the kernel command line (as in /proc/cmdline) holds the word, before any "--". */
bool init_cmdline_has(const char *cmdline, const char *word);
