/* The lcow command line: global options and the subcommands, one file each (cmd_*.c). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "network.h"
#include <lcow/runtime.h>

/* Global options (main.c). */
extern const char *arg_root;
extern const char *arg_log;
extern bool arg_log_json;
extern bool arg_debug;

#define DEFAULT_ROOT "/run/lcow"

int cmd_run(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_state(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_spec(int argc, char **argv);
int cmd_update(int argc, char **argv);
int cmd_events(int argc, char **argv);

/* ---- shared by create and run (cmd_create.c) ---- */

struct create_opts {
	const char *id;
	const char *bundle; /* default: the current directory */
	const char *uvm; /* --uvm: a pod; NULL: a UVM of the container's own, named like it */
	enum lcow_rt_mode mode;
	const char *pid_file;
	const char *console_socket;
	bool detach; /* the CLI will not stay: a terminal needs the console socket */
	struct net_opts net; /* --network, --publish */
};

struct created {
	char uvm[132];
	bool terminal;
	uint32_t pid;
};

/*
 * Loads the bundle, makes sure the UVM runs, and creates the container in it with lcow's stdio
 * (or a pty sent to the console socket). Reports failures itself; returns the exit status.
 */
int create_container(const struct create_opts *o, struct created *ret);
/*
 * The options of create and run (run also takes --detach): 0 and *ret_done after --help, else
 * 0 with o filled, or the exit status of a usage error.
 */
int create_parse(const char *cmd, const char *usage, int argc, char **argv, struct create_opts *o,
		 bool *ret_done);
/* Deletes a container (after run), quietly. */
void delete_quietly(const char *id, const char *uvm);
/* Option parsing helpers shared by the commands. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* runc's state object from a container's record and the daemon's answer (cmd_state.c). */
json_t *state_json(const char *id, json_t *rec, json_t *live);
