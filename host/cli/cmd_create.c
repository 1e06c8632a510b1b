/* `lcow create`: a container in a UVM, ready to start. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "client.h"
#include "log.h"
#include "store.h"
#include "util.h"

static const char usage[] =
	"Usage: lcow [GLOBAL OPTIONS] create [OPTIONS] CONTAINER-ID\n"
	"\n"
	"Creates a container from an OCI bundle in a utility VM: the UVM is started first\n"
	"(named like the container) unless --uvm names a running one. The container's process is\n"
	"not started (see `lcow start`); it gets lcow's stdin, stdout and stderr, held until it\n"
	"exits, or with process.terminal a pty sent to --console-socket.\n"
	"\n"
	"Bundle (config.json, an OCI runtime spec): the root comes from windows.layerFolders as\n"
	"runhcs reads it (each read-only layer folder holds layer.vhd, an ext4 image, raw or a\n"
	"fixed VHD, top-most first; the last folder is the scratch, holding scratch.img, created\n"
	"sparse when missing), else from root.path, an unpacked root filesystem that lcow turns\n"
	"into an ext4 layer image under --root.\n"
	"\n"
	"Options:\n"
	"  -b, --bundle DIR        the bundle (default: the current directory)\n"
	"  --uvm ID                run in the UVM (pod) ID, starting it when it does not run;\n"
	"                          a pod stays after its last container (`lcow delete ID`)\n"
	"  --uvm-mode MODE         how a new UVM runs: auto (default; qemu when\n"
	"                          qemu-system-x86_64, the UVM kernel, initrd and lcow-vsock are\n"
	"                          there, else process), qemu, or process (the agent as a host\n"
	"                          process in namespaces of its own: no hypervisor, NOT a\n"
	"                          security boundary)\n"
	"  --pid-file FILE         write the container's pid (in the UVM) to FILE\n"
	"  --console-socket PATH   send the pty master of a terminal container to this Unix\n"
	"                          socket (runc's protocol); the console follows its size\n"
	"  --network none|user|ns:PATH\n"
	"                          the container's network (default: ns:PATH when the spec's\n"
	"                          linux.namespaces network entry has a path, else user in\n"
	"                          qemu mode and none in process mode):\n"
	"                          none: only lo;\n"
	"                          user: QEMU's user-mode stack (10.0.2.15/24, gateway\n"
	"                          10.0.2.2, DNS 10.0.2.3; reaches what the host reaches);\n"
	"                          qemu mode only;\n"
	"                          ns:PATH: the host network namespace PATH (e.g.\n"
	"                          /run/netns/NAME, as CNI sets it up) with its one veth: the\n"
	"                          container gets the veth's MAC, addresses and routes, and\n"
	"                          the namespace's resolv.conf nameservers; frames go between\n"
	"                          the veth and the UVM's NIC (a tap; in process mode a veth\n"
	"                          pair into the agent's namespaces) by tc redirects, all\n"
	"                          removed by delete\n"
	"  -p, --publish [IP:]HOSTPORT:CTRPORT[/tcp|udp]\n"
	"                          with --network user: forward a host port (on 127.0.0.1\n"
	"                          unless IP is given) to the container's port; repeatable\n"
	"  --no-pivot, --no-new-keyring  accepted and ignored (the agent decides)\n"
	"  -h, --help              show this help\n";

int usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fail("%s: %s (see lcow %s --help)", cmd, msg, cmd);
}

static void owner(char *buf, size_t len)
{
	struct passwd *pw = getpwuid(getuid());

	snprintf(buf, len, "%s", pw ? pw->pw_name : "");
}

/*
 * A scratch image holds one container's writes, and its UVM opens it for writing: a second
 * container on the same scratch (two containers of one layer-folder bundle) is refused by name.
 */
static int scratch_in_use(const char *id, const char *scratch, struct gcs_error *err)
{
	char **ids = NULL;
	size_t n = 0;
	int rc = store_list(&ids, &n);

	if (rc < 0)
		return 0; /* no records to compare with */
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		json_t *rec = NULL;
		const char *other;

		if (!strcmp(ids[i], id) || store_record_read(ids[i], &rec) < 0)
			continue;
		other = json_string_value(json_object_get(rec, "scratch"));
		if (other && !strcmp(other, scratch))
			rc = gcs_error_set(err, -EBUSY, HR_FAIL,
					   "the scratch %s is in use by container %s: a scratch "
					   "holds one container's writes (give each container its "
					   "own scratch folder)",
					   scratch, ids[i]);
		json_decref(rec);
	}
	store_list_free(ids, n);
	return rc;
}

static int write_record(const struct create_opts *o, const struct bundle *b, const char *uvm)
{
	char when[48], who[64];
	json_t *annotations = json_object_get(b->spec, "annotations");
	json_t *rec;
	int rc;

	time_rfc3339(when, sizeof(when));
	owner(who, sizeof(who));
	rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", o->id, "uvm", uvm,
			"bundle", b->dir, "rootfs", b->rootfs, "scratch", b->scratch, "created",
			when, "owner", who, "ociVersion",
			json_string_value(json_object_get(b->spec, "ociVersion")));
	if (!rec)
		return -ENOMEM;
	if (json_is_object(annotations))
		json_object_set(rec, "annotations", annotations);
	rc = store_record_write(o->id, rec);
	json_decref(rec);
	return rc;
}

/* The stdio the container gets: a console pty, or lcow's own. */
static int stdio_fds(const struct create_opts *o, bool terminal, int *fds, size_t *n, int *ret_pty,
		     struct gcs_error *err)
{
	*ret_pty = -1;
	if (terminal && o->detach) {
		int rc;
		if (!o->console_socket)
			return gcs_error_set(err, -EINVAL, HR_FAIL,
					     "cannot allocate tty if lcow will detach without "
					     "setting console socket");
		rc = console_pty(o->console_socket, ret_pty, err);
		if (rc < 0)
			return rc;
		fds[0] = fds[1] = *ret_pty;
		*n = 2;
		return 0;
	}
	if (o->console_socket)
		return gcs_error_set(err, -EINVAL, HR_FAIL,
				     "cannot use console socket if lcow will not detach or "
				     "allocate tty");
	for (int i = 0; i < 3; i++)
		fds[i] = i;
	*n = terminal ? 2 : 3;
	return 0;
}

static int create_in_uvm(const struct create_opts *o, const struct bundle *b, const char *ctr_dir,
			 const char *uvm, json_t *net, const int *fds, size_t n_fds,
			 uint32_t *ret_pid, struct gcs_error *err)
{
	json_t *req, *layers = json_array(), *r = NULL;
	json_auto_t *first_net = NULL;
	char code[32];
	bool started;
	int rc;

	for (size_t i = 0; i < b->n_layers; i++)
		json_array_append_new(layers, json_string(b->layers[i]));
	req = json_pack("{s:s, s:s, s:O, s:o, s:s, s:s, s:O, s:O}", "op", "create", "id", o->id,
			"spec", b->spec, "layers", layers, "scratch", b->scratch, "dir", ctr_dir,
			"network", json_object_get(net, "network"), "publish",
			json_object_get(net, "publish"));
	/* A QEMU UVM started for this container gets its NIC at boot (microvm has no hot-plug). */
	first_net = json_pack("{s:s, s:s, s:O, s:O}", "id", o->id, "dir", ctr_dir, "network",
			      json_object_get(net, "network"), "publish",
			      json_object_get(net, "publish"));
	if (!req || !first_net) {
		json_decref(req);
		return gcs_error_set(err, -ENOMEM, HR_FAIL, "out of memory");
	}
	/* A UVM that is on its way out refuses: wait for it to go, then start a new one. */
	for (int attempt = 0;; attempt++) {
		if (client_cancel_pending()) {
			rc = gcs_error_set(err, -ECANCELED, HR_FAIL, "cancelled");
			break;
		}
		rc = client_ensure_uvm(uvm, o->mode, o->uvm != NULL, first_net, &started, err);
		if (rc < 0)
			break;
		rc = client_call(uvm, req, fds, n_fds, CREATE_MS, &r, code, sizeof(code), err);
		if (rc == 0 || strcmp(code, "exiting") != 0 || attempt >= 50)
			break;
		usleep(100000);
	}
	json_decref(req);
	if (rc == 0) {
		*ret_pid = (uint32_t)json_integer_value(json_object_get(r, "pid"));
		json_decref(r);
	}
	return rc;
}

static int write_runc_pid_file(const char *path, uint32_t pid)
{
	char text[32];

	snprintf(text, sizeof(text), "%u", pid);
	return write_file_atomic(path, text, 0644);
}

int create_container(const struct create_opts *o, struct created *ret)
{
	struct gcs_error err = { 0 };
	json_auto_t *net = json_object();
	char ctr_dir[PATH_MAX];
	struct bundle b;
	int fds[3], pty = -1, rc;
	size_t n_fds = 0;
	const char *uvm = o->uvm ? o->uvm : o->id;

	memset(ret, 0, sizeof(*ret));
	/* Ctrl-C or SIGTERM from here on cancels: nothing of the container is left. */
	client_hold_cancel();
	if (!id_valid(o->id))
		return fail("invalid container id '%s'", o->id);
	if (o->uvm && !id_valid(o->uvm))
		return fail("invalid UVM id '%s'", o->uvm);
	if (store_container_dir(o->id, ctr_dir, sizeof(ctr_dir)) < 0)
		return fail("--root is too long");
	if (mkdir(ctr_dir, 0700) < 0) {
		if (errno == EEXIST)
			return fail("container with id exists: %s", o->id);
		return fail("mkdir %s: %m", ctr_dir);
	}
	rc = bundle_load(o->bundle ? o->bundle : ".", ctr_dir, &b, &err);
	if (rc == 0)
		rc = scratch_in_use(o->id, b.scratch, &err);
	if (rc == 0 && !net)
		rc = gcs_error_set(&err, -ENOMEM, HR_FAIL, "out of memory");
	if (rc == 0)
		rc = net_resolve(&o->net, b.spec, client_uvm_mode(uvm, o->mode), net, &err);
	if (rc == 0)
		rc = stdio_fds(o, b.terminal, fds, &n_fds, &pty, &err);
	if (rc == 0 && (rc = write_record(o, &b, uvm)) < 0)
		gcs_error_set(&err, rc, HR_FAIL, "write the container's record: %s", strerror(-rc));
	if (rc == 0)
		rc = create_in_uvm(o, &b, ctr_dir, uvm, net, fds, n_fds, &ret->pid, &err);
	if (pty >= 0)
		close(pty);
	ret->terminal = b.terminal;
	bundle_free(&b);
	if (client_cancel_pending()) {
		/* Interrupted: what was made goes (with its UVM, unless another container has it). */
		if (rc == 0)
			delete_quietly(o->id, uvm);
		net_sweep(ctr_dir);
		rm_rf(ctr_dir);
		log_debug("create %s: interrupted by signal %d", o->id, client_cancel_pending());
		return 128 + client_cancel_pending();
	}
	if (rc < 0) {
		/* a daemon that died while wiring the network left its record here */
		net_sweep(ctr_dir);
		rm_rf(ctr_dir);
		return fail("%s", err.message);
	}
	snprintf(ret->uvm, sizeof(ret->uvm), "%s", uvm);
	if (o->pid_file && (rc = write_runc_pid_file(o->pid_file, ret->pid)) < 0)
		return fail("pid file %s: %s", o->pid_file, strerror(-rc));
	return 0;
}

void delete_quietly(const char *id, const char *uvm)
{
	struct gcs_error err = { 0 };
	json_t *req = json_pack("{s:s, s:s, s:b}", "op", "delete", "id", id, "force", 1);

	if (client_call(uvm, req, NULL, 0, CREATE_MS, NULL, NULL, 0, &err) < 0)
		log_warning("delete %s: %s", id, err.message);
	json_decref(req);
}

enum { OPT_UVM = 0x100, OPT_UVM_MODE, OPT_PID_FILE, OPT_CONSOLE, OPT_NETWORK, OPT_IGNORED };

static const struct option options[] = {
	{ "bundle", required_argument, NULL, 'b' },
	{ "detach", no_argument, NULL, 'd' },
	{ "uvm", required_argument, NULL, OPT_UVM },
	{ "uvm-mode", required_argument, NULL, OPT_UVM_MODE },
	{ "pid-file", required_argument, NULL, OPT_PID_FILE },
	{ "console-socket", required_argument, NULL, OPT_CONSOLE },
	{ "network", required_argument, NULL, OPT_NETWORK },
	{ "publish", required_argument, NULL, 'p' },
	{ "no-pivot", no_argument, NULL, OPT_IGNORED },
	{ "no-new-keyring", no_argument, NULL, OPT_IGNORED },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int create_parse(const char *cmd, const char *usage, int argc, char **argv, struct create_opts *o,
		 bool *ret_done)
{
	bool run = !strcmp(cmd, "run");
	struct gcs_error err = { 0 };
	char fwd[96];
	int c;

	*ret_done = false;
	memset(o, 0, sizeof(*o));
	o->detach = !run;
	if (lcow_rt_mode_parse(getenv("LCOW_UVM_MODE") ?: "auto", &o->mode) < 0)
		o->mode = LCOW_RT_AUTO;
	optind = 0;
	while ((c = getopt_long(argc, argv, run ? "b:dp:h" : "b:p:h", options, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->bundle = optarg;
			break;
		case 'd':
			if (!run)
				return usage_error(cmd, "unknown option --detach");
			o->detach = true;
			break;
		case OPT_UVM:
			o->uvm = optarg;
			break;
		case OPT_UVM_MODE:
			if (lcow_rt_mode_parse(optarg, &o->mode) < 0)
				return usage_error(cmd, "--uvm-mode must be auto, qemu or process");
			break;
		case OPT_PID_FILE:
			o->pid_file = optarg;
			break;
		case OPT_CONSOLE:
			o->console_socket = optarg;
			break;
		case OPT_NETWORK:
			if (net_network_check(optarg, &err) < 0)
				return usage_error(cmd, "%s", err.message);
			o->net.network = optarg;
			break;
		case 'p':
			if (net_publish_parse(optarg, fwd, sizeof(fwd), &err) < 0)
				return usage_error(cmd, "%s", err.message);
			if (o->net.n_publish >= NET_MAX_PUBLISH)
				return usage_error(cmd, "at most %d --publish", NET_MAX_PUBLISH);
			o->net.publish[o->net.n_publish++] = optarg;
			break;
		case OPT_IGNORED:
			break;
		case 'h':
			fputs(usage, stdout);
			*ret_done = true;
			return 0;
		default:
			return usage_error(cmd, "unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error(cmd, "expected one container ID");
	if (o->net.n_publish && o->net.network && strcmp(o->net.network, "user") != 0)
		return usage_error(
			cmd,
			"--publish forwards host ports into QEMU's user-mode network and "
			"needs --network user, not %s",
			o->net.network);
	o->id = argv[optind];
	return 0;
}

int cmd_create(int argc, char **argv)
{
	struct create_opts o;
	struct created cr;
	bool done;
	int rc = create_parse("create", usage, argc, argv, &o, &done);

	if (rc != 0 || done)
		return rc;
	return create_container(&o, &cr);
}
