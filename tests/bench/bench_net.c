/*
 * TCP through a utility VM's NIC, wired the way the CLI wires `--network ns:PATH`, against the
 * same transfer between two plain network namespaces joined by a veth.
 *
 *   baseline:  A (vA 10.98.0.1/24) <-veth-> B (vB 10.98.0.2/24, our socket)
 *   UVM:       the container (10.98.1.2/24, vW's MAC) - virtio-net - QEMU - tap, in W
 *              - tc redirects (lcow_net_wire) - vW, in W <-veth-> T (vT 10.98.1.1/24, our socket)
 *
 * Both peers run the same program, busybox nc turning into busybox dd on the connection, and
 * connect to our listening socket; we receive NET_MIB MiB to the peer's EOF, or send them and
 * wait for the EOF the peer's exit gives. MiB/s from the first byte to that EOF, on our side.
 * Every namespace, link, tap and qdisc is the bench's own and goes at the end, or at the
 * failure (bench_defer); none is made in the host's namespace.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lcow/net.h>
#include <lcow/uvm.h>

#include "layers.h"
#include "nl.h"

#define STR_(x) #x
#define STR(x) STR_(x)

#define NET_MIB 128
#define NET_BYTES ((size_t)NET_MIB << 20)
#define NET_RUNS 3
#define BASELINE \
	"busybox nc -e dd netns<->netns over a veth, " STR(NET_MIB) " MiB, median of " STR(NET_RUNS)
#define NET_PORT 5201
/* For every wait: the peer's connect, each read or write, its exit. */
#define NET_TIMEOUT_MS 60000

#define A_IP "10.98.0.1"
#define B_IP "10.98.0.2"
#define T_IP "10.98.1.1"
#define W_IP "10.98.1.2"

#define CID "net"
#define CDIR "/run/gcs/c/" CID
#define LAYER_MOUNT "/run/mounts/scsi/m0"
#define SCRATCH_MB 64

enum way { PEER_SENDS, PEER_RECEIVES };

enum { NS_A, NS_B, NS_T, NS_W, NS_COUNT };

/* Everything the part makes; torn down by rig_down in any state. */
struct net_rig {
	char path[NS_COUNT][128]; /* bind-mounted namespace files; "" once removed */
	int fd[NS_COUNT];
	int listen[NS_COUNT]; /* our sockets, in B and T */
	pid_t peer; /* the baseline's peer while it runs */
	char record[160]; /* lcow_net_wire's record */
	char link[LCOW_NET_IFNAMSIZ]; /* its tap in W */
	bool wired;
	int tap_fd;
	struct lcow_uvm *uvm;
	struct gcs_process *init; /* the container's */
	char ns_id[37], adapter_id[37];
};

static struct layer_set layers;
static struct net_rig rig;

static void ok_or_fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* rc < 0 (a negative errno) fails the run: "<what>: <strerror>". */
static void ok_or_fail(int rc, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	if (rc >= 0)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	bench_fail("%s: %s", what, strerror(-rc));
}

/* ---- the rig ---- */

/* Undoes whatever of g exists (the UVM first: QEMU holds the tap); failures into report. */
static int rig_down(struct net_rig *g, char *report, size_t len)
{
	struct gcs_error err = { 0 };
	int bad = 0;

	if (g->peer > 0) {
		kill(g->peer, SIGKILL);
		waitpid(g->peer, NULL, 0);
		g->peer = 0;
	}
	if (g->init)
		gcs_process_free(g->init);
	g->init = NULL;
	lcow_uvm_stop(g->uvm);
	g->uvm = NULL;
	if (g->wired && lcow_net_unwire(g->record, &err) < 0) {
		report_note(report, len, "%s", err.message);
		bad++;
	}
	g->wired = false;
	if (g->tap_fd >= 0)
		close(g->tap_fd);
	g->tap_fd = -1;
	for (int i = 0; i < NS_COUNT; i++) {
		int rc;
		if (g->listen[i] >= 0)
			close(g->listen[i]);
		if (g->fd[i] >= 0)
			close(g->fd[i]);
		g->listen[i] = g->fd[i] = -1;
		if (!g->path[i][0])
			continue;
		rc = netns_remove(g->path[i]);
		if (rc < 0) {
			report_note(report, len, "remove %s: %s", g->path[i], strerror(-rc));
			bad++;
		}
		g->path[i][0] = '\0';
	}
	return bad;
}

static void rig_abort(void *arg)
{
	char report[512] = "";

	rig_down(arg, report, sizeof(report));
}

/* Namespace i as <layers.dir>/netns-<letter>, kept open. */
static void ns_make(struct net_rig *g, int i)
{
	snprintf(g->path[i], sizeof(g->path[i]), "%s/netns-%c", layers.dir, "ABTW"[i]);
	ok_or_fail(netns_create(g->path[i]), "network namespace %s", g->path[i]);
	g->fd[i] = netns_open(g->path[i]);
	ok_or_fail(g->fd[i], "open %s", g->path[i]);
}

/* The link name of namespace ns_fd gets ip/24 and goes up. */
static void link_up(int ns_fd, const char *name, const char *ip)
{
	struct nlh *h = NULL;
	struct nlh_link l;
	struct nlh_ip a;

	ok_or_fail(nlh_open(ns_fd, &h), "netlink in the namespace of %s", name);
	ok_or_fail(nlh_link_get(h, name, &l), "link %s", name);
	ok_or_fail(nlh_ip_parse(ip, &a), "address %s", ip);
	ok_or_fail(nlh_addr_add(h, l.ifindex, &a, 24), "%s/24 on %s", ip, name);
	ok_or_fail(nlh_link_set_up(h, l.ifindex, true), "set %s up", name);
	nlh_close(h);
}

/* A veth pair: name1 (ip1/24) in namespace i, name2 (ip2/24) in namespace j. */
static void veth_between(struct net_rig *g, int i, const char *name1, const char *ip1, int j,
			 const char *name2, const char *ip2)
{
	struct nlh *h = NULL;

	ok_or_fail(nlh_open(g->fd[i], &h), "netlink in %s", g->path[i]);
	ok_or_fail(nlh_veth_add(h, name1, name2, g->fd[j]), "veth %s in %s (peer %s in %s)", name1,
		   g->path[i], name2, g->path[j]);
	nlh_close(h);
	link_up(g->fd[i], name1, ip1);
	link_up(g->fd[j], name2, ip2);
}

/* Our listening socket on ip:NET_PORT in namespace i (a socket is of the namespace it was made
 * in). */
static void listen_in(struct net_rig *g, int i, const char *ip)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(NET_PORT) };
	int old = -1, one = 1, s;

	ok_or_fail(netns_enter(g->fd[i], &old), "enter %s", g->path[i]);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	netns_leave(old);
	if (s < 0)
		bench_fail("socket in %s: %m", g->path[i]);
	g->listen[i] = s;
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
		bench_fail("bad address %s", ip);
	if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 4) < 0)
		bench_fail("listen on %s:%d in %s: %m", ip, NET_PORT, g->path[i]);
}

/* ---- one transfer ---- */

/*
 * Reads fd into out (NUL-terminated, cut at len; the rest is read and dropped) until until
 * appears in it, or to EOF when until is NULL; each wait bounded by NET_TIMEOUT_MS.
 */
static void read_to(int fd, const char *until, char *out, size_t len, const char *what)
{
	size_t n = 0;

	out[0] = '\0';
	while (!until || !strstr(out, until)) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		char drop[4096], *to = n + 1 < len ? out + n : drop;
		size_t room = n + 1 < len ? len - 1 - n : sizeof(drop);
		ssize_t r;
		int rc = poll(&pf, 1, NET_TIMEOUT_MS);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			bench_fail("%s: %s (so far: %s)", what, rc ? strerror(errno) : "timed out",
				   out);
		r = read(fd, to, room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			bench_fail("%s: read: %m", what);
		if (r == 0) {
			if (until)
				bench_fail("%s: EOF before \"%s\": %s", what, until, out);
			return;
		}
		if (to == out + n) {
			n += (size_t)r;
			out[n] = '\0';
		}
	}
}

/*
 * The peer: busybox nc connects to host:NET_PORT and runs busybox dd on the connection (-e:
 * the socket becomes dd's stdin and stdout), which writes NET_MIB MiB of zeros into it or
 * reads it to EOF in whole MiB (fullblock). Its record counts tell what it moved.
 */
static void peer_argv(const char *argv[13], const char *host, enum way w)
{
	const char *const a[13] = {
		"busybox", "nc",
		"-w",	   "30",
		host,	   STR(NET_PORT),
		"-e",	   "busybox",
		"dd",	   w == PEER_SENDS ? "if=/dev/zero" : "of=/dev/null",
		"bs=1M",   w == PEER_SENDS ? "count=" STR(NET_MIB) : "iflag=fullblock",
		NULL
	};

	memcpy(argv, a, sizeof(a));
}

/* dd's report on its stderr: NET_MIB whole records in and out. */
static void dd_check(const char *out, const char *what)
{
	static const char want[] = STR(NET_MIB) "+0 records in\n" STR(NET_MIB) "+0 records out";

	if (!strstr(out, want))
		bench_fail("%s: dd did not move %d MiB: %s", what, NET_MIB, out);
}

/*
 * Our side on the listening socket lfd: accepts the peer, then receives to its EOF
 * (PEER_SENDS), or sends NET_BYTES, half-closes and waits for the EOF that comes when the
 * peer's dd has read everything and exited (PEER_RECEIVES). MiB/s from the first byte to that
 * EOF. err_fd is the peer's stderr: anything there before it connects is its failure.
 */
static double our_side(int lfd, int err_fd, enum way w, const char *what)
{
	static char buf[1 << 20];
	struct pollfd pf[2] = { { .fd = lfd, .events = POLLIN },
				{ .fd = err_fd, .events = POLLIN } };
	struct timeval tv = { .tv_sec = NET_TIMEOUT_MS / 1000 };
	double t0 = 0, elapsed;
	size_t moved = 0;
	ssize_t n;
	int s, rc;

	while ((rc = poll(pf, 2, NET_TIMEOUT_MS)) < 0 && errno == EINTR)
		;
	if (rc <= 0)
		bench_fail("%s: the peer did not connect: %s", what,
			   rc ? strerror(errno) : "timed out");
	if (!(pf[0].revents & POLLIN)) {
		char out[1024];
		read_to(err_fd, NULL, out, sizeof(out), what);
		bench_fail("%s: the peer ended before it connected: %s", what, out);
	}
	s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		bench_fail("%s: accept: %m", what);
	if (setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		bench_fail("%s: socket timeouts: %m", what);
	if (w == PEER_SENDS) {
		while ((n = read(s, buf, sizeof(buf))) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				bench_fail("%s: after %zu bytes: %s", what, moved,
					   errno == EAGAIN ? "timed out" : strerror(errno));
			if (!moved)
				t0 = now_us();
			moved += (size_t)n;
		}
	} else {
		t0 = now_us();
		while (moved < NET_BYTES) {
			size_t want =
				NET_BYTES - moved < sizeof(buf) ? NET_BYTES - moved : sizeof(buf);
			n = send(s, buf, want, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				bench_fail("%s: after %zu bytes: %s", what, moved,
					   n == 0	   ? "sent nothing" :
					   errno == EAGAIN ? "timed out" :
							     strerror(errno));
			moved += (size_t)n;
		}
		if (shutdown(s, SHUT_WR) < 0)
			bench_fail("%s: shutdown: %m", what);
		while ((n = read(s, buf, 1)) < 0 && errno == EINTR)
			;
		if (n != 0)
			bench_fail("%s: after the last byte, no EOF from the peer: %s", what,
				   n > 0	   ? "it sent data" :
				   errno == EAGAIN ? "timed out" :
						     strerror(errno));
	}
	elapsed = now_us() - t0;
	close(s);
	if (moved != NET_BYTES)
		bench_fail("%s: %zu of %zu bytes arrived", what, moved, NET_BYTES);
	return mibs(moved, elapsed > 0 ? elapsed : 1);
}

/* The peer in namespace A, spawned from there; us in B. */
static double baseline_once(struct net_rig *g, enum way w)
{
	const char *argv[13], *what = w == PEER_SENDS ? "baseline A->B" : "baseline B->A";
	char out[1024];
	int ep[2], old = -1;
	double rate;

	peer_argv(argv, B_IP, w);
	if (pipe2(ep, O_CLOEXEC) < 0)
		bench_fail("pipe2: %m");
	ok_or_fail(netns_enter(g->fd[NS_A], &old), "enter %s", g->path[NS_A]);
	g->peer = spawn_fds(argv, -1, -1, ep[1]);
	netns_leave(old);
	close(ep[1]);
	rate = our_side(g->listen[NS_B], ep[0], w, what);
	read_to(ep[0], NULL, out, sizeof(out), what);
	close(ep[0]);
	reap_expect(g->peer, 0, "busybox nc -e dd in namespace A");
	g->peer = 0;
	dd_check(out, what);
	return rate;
}

/* The peer as a process of the container (runc exec through the agent); us in T. */
static double uvm_once(struct net_rig *g, enum way w)
{
	const char *argv[13], *what = w == PEER_SENDS ? "container->T" : "T->container";
	struct gcs_stdio stdio[3] = { { 0 }, { 0 }, { GCS_STDIO_SOCKET, -1 } };
	struct gcs_error err = { 0 };
	struct gcs_process *p;
	json_t *args = json_array(), *proc;
	char out[1024];
	uint32_t code;
	double rate;
	int rc;

	peer_argv(argv, T_IP, w);
	for (int i = 0; argv[i]; i++)
		json_array_append_new(args, json_string(argv[i]));
	proc = json_pack("{s:o, s:s, s:[s]}", "args", args, "cwd", "/", "env", "PATH=/bin");
	if (!proc)
		bench_fail("json_pack of the exec");
	rc = gcs_container_exec(lcow_uvm_bridge(g->uvm), CID, proc, stdio, &p, &err);
	json_decref(proc);
	if (rc < 0)
		bench_fail("%s: exec in the container: %s", what, err.message);
	rate = our_side(g->listen[NS_T], gcs_process_stdio_fd(p, GCS_STDERR), w, what);
	read_to(gcs_process_stdio_fd(p, GCS_STDERR), NULL, out, sizeof(out), what);
	rc = gcs_process_wait(p, NET_TIMEOUT_MS, &code, &err);
	gcs_process_free(p);
	if (rc < 0)
		bench_fail("%s: wait for nc -e dd: %s", what, err.message);
	if (code != 0)
		bench_fail("%s: nc -e dd in the container exited with %u: %s", what, code, out);
	dd_check(out, what);
	return rate;
}

/* ---- the UVM and its container ---- */

/* W's veth, as CNI leaves it, wired to a tap by the library the CLI uses. */
static void wire_w(struct net_rig *g, struct lcow_net_info *info)
{
	struct lcow_net_wire_options o = {
		.kind = LCOW_NET_TAP,
		.netns = g->path[NS_W],
		.info = info,
		.link = g->link,
		.record = g->record,
	};
	struct gcs_error err = { 0 };

	if (lcow_net_inspect(g->path[NS_W], info, &err) < 0)
		bench_fail("%s", err.message);
	if (info->n_addrs != 1 || strcmp(info->addrs[0].ip, W_IP) != 0)
		bench_fail("%s: lcow_net_inspect found %zu addresses (%s), not " W_IP,
			   g->path[NS_W], info->n_addrs, info->n_addrs ? info->addrs[0].ip : "");
	snprintf(g->link, sizeof(g->link), "lcowt%.8s", g->adapter_id);
	snprintf(g->record, sizeof(g->record), "%s/net.json", layers.dir);
	if (lcow_net_wire(&o, &g->tap_fd, &err) < 0)
		bench_fail("%s", err.message);
	g->wired = true;
}

static json_t *net_spec(const char *ns_id)
{
	json_t *spec = json_pack(
		"{s:s, s:{s:[sss], s:[s], s:s, s:{s:i, s:i}}, s:{s:s}, s:s, s:[{s:s, s:s, s:s}], "
		"s:{s:[{s:s}, {s:s}, {s:s}, {s:s}, {s:s}]}, s:{s:{s:s}}}",
		"ociVersion", "1.0.2", "process", "args", "/bin/sh", "-c",
		"trap 'exit 143' TERM; echo ready; while :; do sleep 1; done", "env", "PATH=/bin",
		"cwd", "/", "user", "uid", 0, "gid", 0, "root", "path", CDIR "/rootfs", "hostname",
		"net", "mounts", "destination", "/proc", "type", "proc", "source", "proc", "linux",
		"namespaces", "type", "pid", "type", "ipc", "type", "uts", "type", "mount", "type",
		"network", "windows", "network", "networkNamespace", ns_id);

	if (!spec)
		bench_fail("json_pack of the spec");
	return spec;
}

/*
 * As the CLI's daemon does: the busybox layer (LUN 1) and the scratch (LUN 2) combined into
 * the rootfs, the adapter (Network Add from lcow_net_inspect's view of W), then a container in
 * the adapter's namespace, its init idle.
 */
static void container_up(struct net_rig *g, const struct lcow_net_info *info)
{
	struct gcs_bridge *b = lcow_uvm_bridge(g->uvm);
	const char *lowers[] = { LAYER_MOUNT };
	struct gcs_stdio stdio[3] = { { 0 }, { GCS_STDIO_SOCKET, -1 }, { 0 } };
	struct gcs_error err = { 0 };
	struct lcow_net_adapter ad;
	json_t *spec;
	char out[256];
	int rc;

	if (gcs_add_scsi_layer(b, 0, 1, LAYER_MOUNT, true, &err) < 0 ||
	    gcs_add_scratch_disk(b, 0, 2, CDIR, &err) < 0 ||
	    gcs_combine_layers(b, CID, CDIR "/rootfs", lowers, 1, CDIR "/scratch/" CID, &err) < 0)
		bench_fail("the container's rootfs: %s", err.message);
	lcow_net_adapter(info, g->ns_id, g->adapter_id, &ad);
	if (gcs_add_network_adapter(b, &ad.a, &err) < 0)
		bench_fail("Network Add (%s): %s", ad.mac, err.message);
	spec = net_spec(g->ns_id);
	rc = gcs_create_container_spec(b, CID, CDIR, spec, CDIR "/scratch/" CID, &err);
	json_decref(spec);
	if (rc < 0 || gcs_start_container(b, CID, &err) < 0 ||
	    gcs_start_init(b, CID, stdio, &g->init, &err) < 0)
		bench_fail("the container: %s", err.message);
	read_to(gcs_process_stdio_fd(g->init, GCS_STDOUT), "ready", out, sizeof(out),
		"the container's init");
}

/* The container stops (SIGTERM: 143) and goes, then its disks and its adapter. */
static void container_down(struct net_rig *g)
{
	struct gcs_bridge *b = lcow_uvm_bridge(g->uvm);
	struct gcs_error err = { 0 };
	uint32_t code;

	if (gcs_process_signal(g->init, SIGTERM, &err) < 0 ||
	    gcs_process_wait(g->init, NET_TIMEOUT_MS, &code, &err) < 0)
		bench_fail("stop the container: %s", err.message);
	if (code != 143)
		bench_fail("the container's init exited with %u, expected 143", code);
	gcs_process_free(g->init);
	g->init = NULL;
	if (gcs_uncombine_layers(b, CDIR "/rootfs", &err) < 0 ||
	    gcs_delete_container_state(b, CID, &err) < 0 ||
	    gcs_remove_scsi_disk(b, 0, 2, CDIR, &err) < 0 ||
	    gcs_remove_scsi_disk(b, 0, 1, LAYER_MOUNT, &err) < 0 ||
	    gcs_remove_network_adapter(b, g->ns_id, g->adapter_id, &err) < 0)
		bench_fail("tear down the container: %s", err.message);
}

/* Boots the UVM with W's tap as its NIC (the veth's MAC) and both disks at boot. */
static void uvm_up(struct net_rig *g, const struct lcow_net_info *info)
{
	char dir[128], scratch[128];
	const struct lcow_uvm_disk disks[] = { { layers.base, true, 0, 1 },
					       { scratch, false, 0, 2 } };
	struct lcow_uvm_nic nic = { .id = "net0", .backend = LCOW_NIC_TAP, .tap_fd = g->tap_fd };
	int fd;

	snprintf(dir, sizeof(dir), "%s/vm", layers.dir);
	snprintf(scratch, sizeof(scratch), "%s/scratch.img", layers.dir);
	fd = open(scratch, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)SCRATCH_MB << 20) < 0)
		bench_fail("scratch image %s: %m", scratch);
	close(fd);
	memcpy(nic.mac, info->mac, 6);
	g->uvm = bench_uvm_start(bench_qemu(), dir, disks, 2, &nic, 1, "the network UVM");
}

/* None of the part's links may be in the host's namespace (nothing here makes one there). */
static void host_links_check(const struct net_rig *g)
{
	const char *names[] = { "vA", "vB", "vT", "vW", g->link };

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (names[i][0] && if_nametoindex(names[i]))
			bench_fail("a link %s is in the host's network namespace", names[i]);
}

void bench_net(struct bench_run *r)
{
	double b_up[NET_RUNS], b_down[NET_RUNS], v_up[NET_RUNS], v_down[NET_RUNS];
	struct gcs_error err = { 0 };
	struct lcow_net_info info;
	char why[512], report[512] = "";
	double t0 = now_us();

	printf("== TCP through a QEMU utility VM's NIC (tap and veth joined by tc redirects)\n");
	fflush(stdout);
	if (!bench_vm_possible(bench_qemu(), why, sizeof(why))) {
		bench_not_run(r, "net", why);
		return;
	}
	if (layers_build(&layers, &err) < 0)
		bench_fail("busybox layer: %s", err.message);
	bench_defer(bench_layers_abort, &layers);
	rig = (struct net_rig){ .tap_fd = -1 };
	for (int i = 0; i < NS_COUNT; i++)
		rig.fd[i] = rig.listen[i] = -1;
	bench_defer(rig_abort, &rig);
	lcow_net_guid(rig.ns_id);
	lcow_net_guid(rig.adapter_id);

	/* The baseline first, with no VM running. */
	ns_make(&rig, NS_A);
	ns_make(&rig, NS_B);
	veth_between(&rig, NS_A, "vA", A_IP, NS_B, "vB", B_IP);
	listen_in(&rig, NS_B, B_IP);
	for (int i = 0; i < NET_RUNS; i++) {
		b_up[i] = baseline_once(&rig, PEER_SENDS);
		b_down[i] = baseline_once(&rig, PEER_RECEIVES);
	}

	ns_make(&rig, NS_T);
	ns_make(&rig, NS_W);
	veth_between(&rig, NS_W, "vW", W_IP, NS_T, "vT", T_IP);
	wire_w(&rig, &info);
	uvm_up(&rig, &info);
	container_up(&rig, &info);
	listen_in(&rig, NS_T, T_IP);
	for (int i = 0; i < NET_RUNS; i++) {
		v_up[i] = uvm_once(&rig, PEER_SENDS);
		v_down[i] = uvm_once(&rig, PEER_RECEIVES);
	}
	container_down(&rig);

	figure("net_tcp_container_to_host_uvm_nic", median(v_up, NET_RUNS), "MiB/s", BASELINE,
	       median(b_up, NET_RUNS));
	figure("net_tcp_host_to_container_uvm_nic", median(v_down, NET_RUNS), "MiB/s", BASELINE,
	       median(b_down, NET_RUNS));

	bench_undefer(&rig);
	if (rig_down(&rig, report, sizeof(report)) > 0)
		bench_fail("tear down the network part: %s", report);
	host_links_check(&rig);
	bench_undefer(&layers);
	if (layers_destroy(&layers, report, sizeof(report)) > 0)
		bench_fail("left behind by the network part: %s", report);
	printf("net: %d transfers of %d MiB, the VM's boot and the teardowns in %.0f s\n",
	       4 * NET_RUNS, NET_MIB, (now_us() - t0) / 1e6);
	fflush(stdout);
}
