/*
 * containerd-shim-lcow-v1: the containerd shim v2 of runtime io.containerd.lcow.v1.
 *
 * containerd runs it as `-namespace NS -address A -publish-binary P -id ID [-debug] start`
 * (cwd = the bundle) and expects the address of a ttrpc server on stdout, or as `... -bundle B
 * delete` when it cannot reach the shim any more, expecting a DeleteResponse on stdout.
 * Flags follow Go's flag package: -name value, -name=value, and -- forms alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lcow/layers.h>
#include <lcow/runtime.h>

#include "address.h"
#include "cleanup.h"
#include "events.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"
#include "fileio.h"
#include "fsutil.h"
#include "log.h"
#include "paths.h"
#include "task.h"
#include "ttrpc.h"

static const char *arg_namespace;
static const char *arg_address;
static const char *arg_publish_binary;
static const char *arg_id;
static const char *arg_bundle;
static bool arg_debug;

static void usage(FILE *f)
{
	fprintf(f, "usage: containerd-shim-lcow-v1 -namespace NS -address ADDR -publish-binary BIN "
		   "-id ID [-bundle DIR] [-debug] start|delete\n");
}

/* Returns the action (argv's one positional word), NULL after -v/-h or a bad flag. */
static int parse_args(int argc, char **argv, const char **ret_action)
{
	static const struct {
		const char *name;
		const char **value;
	} opts[] = {
		{ "namespace", &arg_namespace },
		{ "address", &arg_address },
		{ "publish-binary", &arg_publish_binary },
		{ "id", &arg_id },
		{ "bundle", &arg_bundle },
	};
	const char *action = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq;
		size_t len;
		bool found = false;

		if (a[0] != '-') {
			if (action) {
				fprintf(stderr, "containerd-shim-lcow-v1: unexpected argument %s\n",
					a);
				return -EINVAL;
			}
			action = a;
			continue;
		}
		a += a[1] == '-' ? 2 : 1;
		eq = strchr(a, '=');
		len = eq ? (size_t)(eq - a) : strlen(a);
		if ((len == 5 && strncmp(a, "debug", 5) == 0)) {
			arg_debug = !eq || strcmp(eq + 1, "false") != 0;
			continue;
		}
		if ((len == 1 && (a[0] == 'v' || a[0] == 'h')) || strncmp(a, "help", len) == 0) {
			if (a[0] == 'v')
				printf("containerd-shim-lcow-v1\n  Runtime: io.containerd.lcow.v1\n");
			else
				usage(stdout);
			*ret_action = NULL;
			return 0;
		}
		for (size_t o = 0; o < ARRAY_SIZE(opts); o++) {
			if (strlen(opts[o].name) != len || strncmp(a, opts[o].name, len) != 0)
				continue;
			if (eq)
				*opts[o].value = eq + 1;
			else if (i + 1 < argc)
				*opts[o].value = argv[++i];
			else {
				fprintf(stderr,
					"containerd-shim-lcow-v1: flag needs an argument: -%s\n",
					opts[o].name);
				return -EINVAL;
			}
			found = true;
			break;
		}
		if (!found) {
			fprintf(stderr,
				"containerd-shim-lcow-v1: flag provided but not defined: %s\n",
				argv[i]);
			return -EINVAL;
		}
	}
	if (!action) {
		usage(stderr);
		return -EINVAL;
	}
	*ret_action = action;
	return 0;
}

static int write_file(const char *path, const char *text)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	size_t len = strlen(text);

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || rename(tmp, path) < 0) {
		int r = -errno;

		unlink(tmp);
		return r ? r : -EIO;
	}
	return 0;
}

/* The server's stderr: the bundle's log FIFO when containerd reads it, else /dev/null. Opened
 * non-blocking (a reader must be there) and kept so, so a slow reader only loses lines. */
static void redirect_stdio(const char *bundle)
{
	_cleanup_free_ char *path = NULL;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC), log = -1;

	if (asprintf(&path, "%s/log", bundle) >= 0)
		log = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(log >= 0 ? log : null, STDERR_FILENO);
		close(null);
	}
	if (log >= 0)
		close(log);
}

/* The long-lived server: serves the Task service until Shutdown. */
static int serve(int listen_fd, const char *socket_path, const char *bundle, const char *group)
{
	struct shim shim = {
		.namespace = arg_namespace,
		.id = arg_id,
		.bundle = bundle,
		.socket_path = socket_path,
	};
	const char *ttrpc_address = getenv("TTRPC_ADDRESS");
	int r;

	r = shim_init(&shim, group);
	if (r < 0)
		return r;
	if (ttrpc_address && *ttrpc_address) {
		r = events_new(ttrpc_address, arg_namespace, &shim.events);
		if (r < 0)
			return r;
	}
	r = ttrpc_server_new(task_methods, task_n_methods, &shim, &shim.server);
	if (r < 0) {
		events_free(shim.events);
		return r;
	}
	log_info("serving %s on %s (namespace %s, pid %d)", arg_id, socket_path, arg_namespace,
		 getpid());
	r = ttrpc_server_serve(shim.server, listen_fd);
	unlink(socket_path);
	close(listen_fd);
	shim_fini(&shim);
	ttrpc_server_free(shim.server);
	events_flush(shim.events, 10000);
	events_free(shim.events);
	if (r < 0)
		log_error("serve: %s", strerror(-r));
	else
		log_info("shim of %s exits", arg_id);
	return r;
}

static int cmd_start(void)
{
	_cleanup_free_ char *bundle = NULL, *group = NULL, *address = NULL, *addr_file = NULL;
	char path[108];
	int listen_fd = -1, r;
	pid_t pid;

	if (!arg_namespace || !arg_address || !arg_id) {
		fprintf(stderr, "start needs -namespace, -address and -id\n");
		return -EINVAL;
	}
	bundle = getcwd(NULL, 0);
	if (!bundle)
		return -errno;
	r = address_group(bundle, arg_id, &group);
	if (r < 0)
		return r;
	r = address_socket_path(arg_address, arg_namespace, group, path, sizeof(path));
	if (r < 0) {
		fprintf(stderr, "socket path for %s: %s\n", group, strerror(-r));
		return r;
	}
	if (asprintf(&address, "unix://%s", path) < 0 ||
	    asprintf(&addr_file, "%s/address", bundle) < 0)
		return -ENOMEM;

	r = address_listen(path, &listen_fd);
	if (r == -EADDRINUSE) {
		/* The shim of this group (the pod) serves already: hand containerd its address. */
		r = write_file(addr_file, address);
		if (r < 0) {
			fprintf(stderr, "write %s: %s\n", addr_file, strerror(-r));
			return r;
		}
		printf("%s\n", address);
		return fflush(stdout) == 0 ? 0 : -EIO;
	}
	if (r < 0) {
		fprintf(stderr, "listen on %s: %s\n", path, strerror(-r));
		return r;
	}

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		unlink(path);
		close(listen_fd);
		return r;
	}
	if (pid == 0) {
		/* Detached from containerd's pipes: it reads start's stdout and stderr to EOF. */
		setsid();
		redirect_stdio(bundle);
		_exit(serve(listen_fd, path, bundle, group) < 0 ? 1 : 0);
	}
	close(listen_fd);
	r = write_file(addr_file, address);
	if (r < 0) {
		fprintf(stderr, "write %s: %s\n", addr_file, strerror(-r));
		kill(pid, SIGKILL);
		unlink(path);
		return r;
	}
	printf("%s\n", address);
	return fflush(stdout) == 0 ? 0 : -EIO;
}

/*
 * What a dead shim left of one task: when no shim serves the task's group any more, the UVM
 * (killed by its state directory's pid files: QEMU and the vsock device, or the process-mode
 * agent with its mounts, loop devices and cgroups), the task's hold on its layer images, its
 * directory (record and scratch disk), and the UVM's directory once no task is left in it. A
 * live shim of the group (another container of the pod) cleans up after itself instead.
 */
static void cleanup_task(const char *bundle, bool shim_alive)
{
	struct gcs_error err = { 0 };
	_cleanup_free_ char *group = NULL;
	char uvm[4096], vmdir[4200], ctr[4096], cdir[4200], cache[4096], owner[33];
	int n;

	if (shim_alive || address_group(bundle, arg_id, &group) < 0 ||
	    paths_uvm_dir(arg_namespace, group, uvm, sizeof(uvm)) < 0 ||
	    paths_ctr_dir(arg_namespace, group, arg_id, ctr, sizeof(ctr)) < 0 ||
	    paths_layer_cache(cache, sizeof(cache)) < 0 ||
	    pathf(vmdir, sizeof(vmdir), "%s/vm", uvm) < 0 ||
	    pathf(cdir, sizeof(cdir), "%s/c", uvm) < 0)
		return;
	if (access(vmdir, F_OK) == 0) {
		n = lcow_rt_uvm_sweep(vmdir);
		fprintf(stderr, "UVM of %s: %d leftovers of a dead shim removed\n", group, n);
	}
	paths_owner(arg_namespace, arg_id, owner);
	if (lcow_layer_release_all(cache, owner, &err) < 0)
		fprintf(stderr, "layers of %s: %s\n", arg_id, err.message);
	if (access(ctr, F_OK) == 0 && rm_rf(ctr) < 0)
		fprintf(stderr, "remove %s: %s\n", ctr, strerror(errno));
	rmdir(cdir);
	if (access(cdir, F_OK) != 0 && access(uvm, F_OK) == 0)
		rm_rf(uvm);
}

/*
 * containerd's cleanup when it cannot reach the shim (killed, or after Shutdown in 1.6):
 * a stale socket named in the bundle's address file goes, and what a dead shim left of the
 * task (cleanup_task). Idempotent; the answer is the exit of a killed task, as the runc shim
 * gives it (128 + SIGKILL).
 */
static int cmd_delete(void)
{
	Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	_cleanup_free_ char *cwd = NULL, *addr_file = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	const char *bundle = arg_bundle;
	char address[256];
	bool alive = false;
	struct timespec now;
	size_t len;
	FILE *f;

	if (!arg_namespace || !arg_id) {
		fprintf(stderr, "delete needs -namespace and -id\n");
		return -EINVAL;
	}
	if (!bundle) {
		cwd = getcwd(NULL, 0);
		if (!cwd)
			return -errno;
		bundle = cwd;
	}
	if (asprintf(&addr_file, "%s/address", bundle) < 0)
		return -ENOMEM;
	f = fopen(addr_file, "re");
	if (f) {
		if (fgets(address, sizeof(address), f)) {
			const char *p = address;

			address[strcspn(address, "\n")] = '\0';
			if (strncmp(p, "unix://", 7) == 0)
				p += 7;
			if (*p == '/') {
				alive = address_probe(p) == 0;
				if (!alive)
					unlink(p);
			}
		}
		fclose(f);
	}
	cleanup_task(bundle, alive);

	clock_gettime(CLOCK_REALTIME, &now);
	ts.seconds = now.tv_sec;
	ts.nanos = (int32_t)now.tv_nsec;
	resp.pid = 0;
	resp.exit_status = 128 + SIGKILL;
	resp.exited_at = &ts;
	len = containerd__task__v2__delete_response__get_packed_size(&resp);
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	containerd__task__v2__delete_response__pack(&resp, buf);
	if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0)
		return -EIO;
	return 0;
}

int main(int argc, char **argv)
{
	const char *action;
	int r;

	signal(SIGPIPE, SIG_IGN);
	r = parse_args(argc, argv, &action);
	if (r < 0)
		return 1;
	if (!action)
		return 0;
	log_set_debug(arg_debug);
	if (strcmp(action, "start") == 0)
		r = cmd_start();
	else if (strcmp(action, "delete") == 0)
		r = cmd_delete();
	else {
		fprintf(stderr, "containerd-shim-lcow-v1: unknown action %s\n", action);
		usage(stderr);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "containerd-shim-lcow-v1 %s: %s\n", action, strerror(-r));
		return 1;
	}
	return 0;
}
