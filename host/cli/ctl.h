/*
 * The control protocol between the lcow CLI and a UVM daemon.
 *
 * A Unix stream socket, <uvm-dir>/ctl.sock; one request per connection. The client sends one
 * JSON object on one line ({"op":"create","id":"c1",...}), with up to CTL_MAX_FDS file
 * descriptors attached to that line (SCM_RIGHTS): the stdio a container or exec'd process gets.
 * The daemon answers with one JSON line, {"ok":true,...} or {"ok":false,"error":"..."}. A
 * request that waits for a process ("wait":true) gets a second line when the process exits:
 * {"ok":true,"exit":N}, or {"ok":false,"error":"..."} when the UVM went away.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>

#define CTL_MAX_FDS 3
#define CTL_MAX_LINE (4 << 20)

struct ctl_conn {
	int fd;
	char *buf;
	size_t len, cap;
	int fds[CTL_MAX_FDS]; /* received with the line being read */
	size_t n_fds;
};

void ctl_conn_init(struct ctl_conn *c, int fd);
/* Closes the socket and any received fd nobody took. */
void ctl_close(struct ctl_conn *c);
/* Connects (non-blocking connect: -ECONNREFUSED at once when nobody listens). */
int ctl_connect(const char *sock_path, struct ctl_conn *ret);
int ctl_listen(const char *sock_path, int *ret_fd);
int ctl_send(struct ctl_conn *c, json_t *msg, const int *fds, size_t n_fds);
/*
 * Reads one line within timeout_ms (< 0: forever): -ETIMEDOUT, -ECONNRESET at EOF, -EPROTO when
 * it is not a JSON object. The fds that came with it move to fds (up to *n_fds; CLOEXEC); any
 * beyond are closed. fds may be NULL.
 */
int ctl_recv(struct ctl_conn *c, int timeout_ms, json_t **ret, int *fds, size_t *n_fds);

/* runc's console socket protocol: the pty master, with its name as the message. */
int send_console(const char *socket_path, const char *name, int fd);
