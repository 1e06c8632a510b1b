/*
 * Processes the agent watches: those it starts in the utility VM and those runc starts for
 * containers. Each has a scope (its container's ID, "" for the utility VM), an exit code once it
 * has exited and its output is flushed, parked WaitForProcess requests, and optional stdio
 * relays. An owner (a container) hears of its processes through callbacks, so this module knows
 * nothing of containers.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "gcs/hresult.h"
#include "gcs/messages.h"
#include "relay.h"

struct agent;
struct process;
struct request;

struct process_owner_ops {
	/* Exited, output flushed: the exit code can be reported. */
	void (*done)(void *owner, struct process *p, int exit_code);
	/* The exit code was answered to a waiter; the process is forgotten after this. */
	void (*reported)(void *owner, struct process *p);
	/* A signal was sent to it on the host's request. */
	void (*signaled)(void *owner, struct process *p, int sig);
};

/*
 * Watches pid (a child of the agent, or an orphan reparented to it, which may have exited
 * already: may_have_exited). Takes pty_master (-1 for none). NULL when out of memory.
 */
struct process *process_attach(struct agent *a, const char *scope, pid_t pid, int pty_master,
			       const char *name, const struct process_owner_ops *ops, void *owner,
			       bool may_have_exited);

/*
 * Starts a process of the utility VM from ProcessParameters with the dialed streams (fds[i] or
 * -1; taken). *ret_pid on success.
 */
int process_spawn(struct agent *a, const struct gcs_proto_process_params *pp, int fds[3],
		  pid_t *ret_pid, struct gcs_error *err);

struct process *process_find(struct agent *a, const char *scope, uint32_t pid);
pid_t process_pid(const struct process *p);
bool process_has_exited(const struct process *p);
int process_pty(const struct process *p);

/* Starts a stdio relay owned by the process (takes both fds). */
int process_relay(struct process *p, enum relay_dir dir, int src, int dst);

/* WaitForProcess: answers now if the exit is known, else parks req (timeout_ms or forever). */
int process_wait(struct process *p, struct request *req, uint32_t timeout_ms,
		 struct gcs_error *err);
int process_signal(struct process *p, int sig, struct gcs_error *err);
int process_resize(struct process *p, uint16_t rows, uint16_t cols, struct gcs_error *err);

/* SIGKILLs every live process of scope (no reaping: their exits come through the loop). */
void process_kill_scope(struct agent *a, const char *scope);
/* Number of processes of scope that have not exited. */
size_t process_live_count(struct agent *a, const char *scope);
/* Forgets every process of scope (DeleteContainerState): parked waits are dropped. */
void process_forget_scope(struct agent *a, const char *scope);

void process_dump(struct agent *a, char *buf, size_t len);
/* SIGKILLs every process, reaps them, frees everything (agent exit). */
void process_kill_all(struct agent *a);
