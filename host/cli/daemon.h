/*
 * The UVM daemon (`lcow uvm-daemon`): one per UVM, started by create/run, detached (setsid). It
 * holds the UVM's runtime (lcow/runtime.h: the UVM, its bridge, its containers) and serves the
 * CLI over <uvm-dir>/ctl.sock (see ctl.h): one thread per connection, each request dispatched
 * through a table to its handler, which turns it into lcow_rt_* calls and the runtime's answers
 * into replies. The containers' stdio fds come with the requests (SCM_RIGHTS) and go to the
 * runtime. It tears the UVM down and exits when the last container is deleted, unless the UVM
 * is a pod (--uvm).
 */
#pragma once

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include <lcow/runtime.h>

#include "ctl.h"

struct daemon {
	char uvm_id[132];
	char dir[PATH_MAX]; /* <root>/u/<name> */
	char sock[PATH_MAX];
	bool pod;
	bool debug;
	enum lcow_rt_mode mode;
	struct lcow_rt *rt; /* from the boot (or adoption) on */
	int listen_fd, wake_fd;
	int ready_fd; /* while booting: the starting CLI's end (EOF or "cancel": give up) */
	int boot_sig_fd; /* while booting: SIGTERM, SIGINT, SIGHUP */
	bool cancelled; /* the boot was cancelled */
	json_t *first_net; /* --first-net */
};

/* `lcow uvm-daemon`: argv[0] is "uvm-daemon". */
int cmd_uvm_daemon(int argc, char **argv);

/* ---- daemon.c, for the handlers ---- */

void reply_ok(struct ctl_conn *c, json_t *fields);
void reply_err(struct ctl_conn *c, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * Stops the UVM and removes its directory (the last container went, or a shutdown); no new
 * container is accepted from then on. daemon_exit, after the answer went out, ends the daemon.
 */
void daemon_stop_uvm(struct daemon *d);
void daemon_exit(struct daemon *d);
/* The request's container with a reference, or NULL after answering "container does not exist". */
struct lcow_rt_ctr *ctr_find(struct daemon *d, struct ctl_conn *c, json_t *req);
/* True after answering that the UVM is gone (its agent closed the bridge). */
bool uvm_gone(struct daemon *d, struct ctl_conn *c);
/* An error of the runtime as the reply: its code ("not-found", ...) from the errno. */
void reply_rt_err(struct ctl_conn *c, int rc, const struct gcs_error *err);

/* A request handler: fds (with create and exec) are the handler's to pass on or close. */
struct daemon_op {
	const char *name;
	void (*fn)(struct daemon *d, struct ctl_conn *c, json_t *req, int *fds, size_t n_fds);
	bool takes_fds;
};

/* ---- dctr.c: the container requests ---- */

extern const struct daemon_op daemon_ctr_ops[];
extern const size_t daemon_n_ctr_ops;

/* ---- dquery.c: ps, update, stats and events ---- */

extern const struct daemon_op daemon_query_ops[];
extern const size_t daemon_n_query_ops;
