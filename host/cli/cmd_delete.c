/* `lcow delete`: containers, and pods that have none left. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include <lcow/runtime.h>

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] delete [--force] ID...\n"
	"\n"
	"Deletes containers: the agent's state, the overlay, the scratch and layer disks, the\n"
	"network (the NIC, and a namespace's tap or veth pair and tc redirects), the\n"
	"record, and the UVM with its last container (unless the UVM is a pod). A running or\n"
	"paused container needs --force, which kills it first. An ID that names no container but\n"
	"a pod (create --uvm) deletes the pod's UVM, which must have no containers left (or\n"
	"--force). When a UVM's daemon died, delete cleans up what it left; one that does not\n"
	"answer is killed first with --force.\n"
	"\n"
	"Options:\n"
	"  -f, --force  kill a running container first; no error for a missing one\n"
	"  -h, --help   show this help\n";

/* What a dead daemon left: its UVM (the VM, the agent, mounts, cgroups) and directory. */
static void sweep_uvm(const char *uvm)
{
	char dir[PATH_MAX], vmdir[PATH_MAX];
	int n;

	if (store_uvm_dir(uvm, dir, sizeof(dir)) < 0 ||
	    pathf(vmdir, sizeof(vmdir), "%s/vm", dir) < 0)
		return;
	n = lcow_rt_uvm_sweep(vmdir);
	rm_rf(dir);
	log_warning("UVM %s: its daemon was not running; cleaned up after it (%d leftovers)", uvm,
		    n);
}

/* A daemon that does not answer: --force kills it (its pid checked against its command line). */
static void kill_daemon(const char *uvm)
{
	pid_t pid;

	if (store_daemon_pid(uvm, &pid) < 0)
		return;
	log_warning("UVM %s: its daemon (pid %d) does not answer: killing it", uvm, (int)pid);
	kill(pid, SIGKILL);
	for (int i = 0; i < 500 && kill(pid, 0) == 0 && store_daemon_pid(uvm, &pid) == 0; i++)
		usleep(10000);
}

static int delete_pod(const char *id, bool force)
{
	struct gcs_error err = { 0 };
	json_auto_t *req = json_pack("{s:s, s:b}", "op", "shutdown", "force", force);
	char dir[PATH_MAX];
	struct stat st;
	int rc;

	if (!id_valid(id) || store_uvm_dir(id, dir, sizeof(dir)) < 0 || stat(dir, &st) < 0)
		return force ? 0 : fail("container does not exist");
	rc = client_check_uvm(id, &err);
	if (rc == -ESRCH) {
		sweep_uvm(id);
		return 0;
	}
	if (rc == 0)
		rc = client_call(id, req, NULL, 0, CREATE_MS, NULL, NULL, 0, &err);
	if (rc == -ETIMEDOUT && force) {
		kill_daemon(id);
		sweep_uvm(id);
		return 0;
	}
	return rc < 0 ? fail("%s", err.message) : 0;
}

static int delete_one(const char *id, bool force)
{
	struct gcs_error err = { 0 };
	json_auto_t *req = NULL;
	char uvm[132], code[32], dir[PATH_MAX];
	int rc;

	if (client_container(id, uvm, sizeof(uvm), NULL, &err) < 0) {
		/* runc removes a directory without state, and --force forgives a missing one. */
		if (id_valid(id) && store_container_dir(id, dir, sizeof(dir)) == 0) {
			net_sweep(dir);
			rm_rf(dir);
		}
		return delete_pod(id, force);
	}
	rc = client_check_uvm(uvm, &err);
	if (rc == -ESRCH || rc == -ENOENT) {
		if (rc == -ESRCH)
			sweep_uvm(uvm);
		store_container_dir(id, dir, sizeof(dir));
		net_sweep(dir); /* network.h: the host side of its network, from its record */
		rm_rf(dir);
		return 0;
	}
	req = json_pack("{s:s, s:s, s:b}", "op", "delete", "id", id, "force", force);
	rc = client_call(uvm, req, NULL, 0, CREATE_MS, NULL, code, sizeof(code), &err);
	if (rc == -ETIMEDOUT && force) {
		kill_daemon(uvm);
		sweep_uvm(uvm);
	}
	if ((rc == -ETIMEDOUT && force) || (rc < 0 && !strcmp(code, "not-found"))) {
		/*
		 * A record whose create never reached the daemon, or a daemon that hung. The UVM
		 * started for that container goes too when it has no other (a pod stays).
		 */
		if (rc != -ETIMEDOUT) {
			json_auto_t *down = json_pack("{s:s, s:b, s:b}", "op", "shutdown", "force",
						      0, "unless_pod", 1);
			struct gcs_error e = { 0 };
			if (client_call(uvm, down, NULL, 0, CREATE_MS, NULL, NULL, 0, &e) < 0)
				log_debug("UVM %s: %s", uvm, e.message);
		}
		store_container_dir(id, dir, sizeof(dir));
		net_sweep(dir);
		rm_rf(dir);
		return 0;
	}
	return rc < 0 ? fail("%s", err.message) : 0;
}

int cmd_delete(int argc, char **argv)
{
	static const struct option options[] = { { "force", no_argument, NULL, 'f' },
						 { "help", no_argument, NULL, 'h' },
						 { NULL, 0, NULL, 0 } };
	bool force = false;
	int c, status = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "fh", options, NULL)) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return usage_error("delete", "unknown option");
		}
	}
	if (optind >= argc)
		return usage_error("delete", "expected at least one ID");
	for (int i = optind; i < argc; i++)
		if (delete_one(argv[i], force) != 0)
			status = 1;
	return status;
}
