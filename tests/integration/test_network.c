/*
 * Network adapters end to end (spec section 10.6) in process mode: the real agent, real runc,
 * busybox layers. Every test first moves itself into a network namespace of its own, so the
 * agent (its child) sees that namespace as the UVM's; "client" namespaces stand for the host
 * side. A veth pair joins them: one end, with a known MAC, is the UVM's NIC, handed to the agent
 * by MacAddress. Every address used lies inside these namespaces; nothing reaches the host's
 * network.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "gcs/messages.h"
#include "harness.h"
#include "nl.h"

#include "ctx.h"

#define CID "c0ffee00-0000-4000-8000-00000000ne01"
#define CID2 "c0ffee00-0000-4000-8000-00000000ne02"
#define NS1 "5C2E6B8A-1F0D-4C1E-9A4B-0123456789AB"
#define NS2 "6d3f7c9b-2e1e-4d2f-8b5c-1234567890bc"
#define AD1 "a1b2c3d4-0000-4000-8000-000000000001"
#define AD2 "a1b2c3d4-0000-4000-8000-000000000002"
#define MAC1 "02:1c:0a:00:00:01"
#define MAC1_HCS "02-1C-0A-00-00-01"
#define MAC2 "02:1c:0a:00:00:02"

/* ---- namespaces of the test ---- */

/* The test's own network namespace, which the agent inherits as the UVM's. */
static struct nlh *uvm_net(void)
{
	struct nlh *h;
	struct nlh_link lo;

	ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
	ck_assert_int_eq(nlh_open(-1, &h), 0);
	ck_assert_int_eq(nlh_link_get(h, "lo", &lo), 0);
	ck_assert_int_eq(nlh_link_set_up(h, lo.ifindex, true), 0);
	return h;
}

/*
 * A client namespace held by a child of the test (it dies with the test, and the namespace with
 * it: no mount to leave behind), with the peer end of a veth pair whose UVM end (uvm_if, in the
 * test's namespace) gets mac; the peer gets addr and is up. path: /proc/<child>/ns/net.
 */
static pid_t client_ns(struct nlh *h, char *path, size_t path_len, const char *uvm_if,
		       const char *peer, const char *mac, const char *addr)
{
	struct nlh *in;
	struct nlh_link l;
	struct nlh_ip ip;
	uint8_t m[6];
	unsigned len;
	int fd, p[2];
	char c;
	pid_t pid;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	snprintf(path, path_len, "/proc/%d/ns/net", (int)pid);
	fd = netns_open(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(nlh_veth_add(h, uvm_if, peer, fd), 0);
	ck_assert_int_eq(nlh_link_get(h, uvm_if, &l), 0);
	ck_assert_int_eq(nlh_mac_parse(mac, m), 0);
	ck_assert_int_eq(nlh_link_set_mac(h, l.ifindex, m), 0);
	ck_assert_int_eq(nlh_open(fd, &in), 0);
	ck_assert_int_eq(nlh_link_get(in, "lo", &l), 0);
	ck_assert_int_eq(nlh_link_set_up(in, l.ifindex, true), 0);
	ck_assert_int_eq(nlh_link_get(in, peer, &l), 0);
	ck_assert_int_eq(nlh_link_set_up(in, l.ifindex, true), 0);
	ck_assert_int_eq(nlh_prefix_parse(addr, &ip, &len), 0);
	ck_assert_int_eq(nlh_addr_add(in, l.ifindex, &ip, len), 0);
	nlh_close(in);
	close(fd);
	return pid;
}

static void stop_child(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Runs argv inside the namespace at path; its exit code, with stdout in out. */
static int ns_run(const char *path, const char *const *argv, char *out, size_t cap)
{
	int p[2], status = 0;
	size_t len = 0;
	pid_t pid;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
			_exit(125);
		dup2(p[1], 1);
		execv("/bin/busybox", (char *const *)argv);
		_exit(126);
	}
	close(p[1]);
	out[0] = '\0';
	for (;;) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		char chunk[4096];
		ssize_t n;
		if (poll(&pfd, 1, STEP_MS) <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		n = read(p[0], chunk, sizeof(chunk));
		if (n <= 0)
			break;
		append(out, cap, &len, chunk, (size_t)n);
	}
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A busybox httpd in the namespace at path serving dir on port (killed by the caller). */
static pid_t ns_httpd(const char *path, const char *dir, const char *port)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
			_exit(125);
		execl("/bin/busybox", "busybox", "httpd", "-f", "-p", port, "-h", dir, NULL);
		_exit(126);
	}
	return pid;
}

/* ---- adapters ---- */

static int add_adapter(struct ctx *c, const char *ns, const char *id, const char *mac,
		       const struct gcs_proto_ip_config *ips, size_t n_ips,
		       const struct gcs_proto_route *routes, size_t n_routes, struct gcs_error *err)
{
	struct gcs_proto_network_adapter a = {
		.namespace_id = ns,
		.id = id,
		.mac_address = mac,
		.ip_configs = ips,
		.n_ip_configs = n_ips,
		.routes = routes,
		.n_routes = n_routes,
	};

	return gcs_add_network_adapter(c->ap.b, &a, err);
}

static void expect_in_uvm(struct nlh *h, const char *ifname, bool there)
{
	struct nlh_link l;
	int rc = nlh_link_get(h, ifname, &l);

	ck_assert_msg(there ? rc == 0 : rc == -ENODEV, "%s %s in the UVM's namespace (%d)", ifname,
		      there ? "not" : "still", rc);
}

static int count_addrs(void *user, int ifindex, const struct nlh_ip *ip, unsigned len)
{
	(void)ifindex;
	(void)ip;
	(void)len;
	(*(int *)user)++;
	return 0;
}

/* No namespace of the agent's is left: <run>/gcs/netns is empty (or missing). */
static void expect_no_agent_netns(struct ctx *c)
{
	char p[PATH_MAX];
	int n = 0;

	snprintf(p, sizeof(p), "%s/gcs/netns", c->env.run);
	_cleanup_closedir_ DIR *d = opendir(p);
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	ck_assert_msg(n == 0, "%d network namespaces left in %s", n, p);
}

static json_t *spec_in_ns(struct ctx *c, const char *const *args, const char *ns,
			  const char *hostname)
{
	json_t *spec = make_spec(c, args, false);

	json_object_set_new(spec, "windows",
			    json_pack("{s:{s:s}}", "network", "networkNamespace", ns));
	json_object_set_new(spec, "hostname", json_string(hostname));
	return spec;
}

#define HTTPD_INIT                                                                        \
	"trap 'exit 143' TERM; mkdir -p /www && echo hello-from-ct > /www/index.html && " \
	"httpd -p 8000 -h /www && echo " INIT_READY "; sleep 1000 & wait"

/*
 * Add before Create (the NIC waits in the UVM's namespace), Create moves and configures it, the
 * container serves HTTP to the client namespace and fetches from a server there; its resolv.conf,
 * hosts, hostname, addresses, routes and MTU are as sent; Remove hands the NIC back and the
 * namespace goes.
 */
START_TEST(test_adapter_end_to_end)
{
	static const char *const init_args[] = { "/bin/sh", "-c", HTTPD_INIT, NULL };
	const struct gcs_proto_ip_config ips[] = { { "10.201.0.2", 24 }, { "10.202.0.2", 24 } };
	const struct gcs_proto_route routes[] = {
		{ .next_hop = "10.201.0.1", .destination_prefix = "0.0.0.0/0" },
		{ .next_hop = "", .destination_prefix = "10.203.0.0/16", .metric = 7 },
	};
	struct gcs_stdio st[3] = {
		[GCS_STDOUT] = { GCS_STDIO_SOCKET }, [GCS_STDERR] = { GCS_STDIO_SOCKET }
	};
	struct gcs_proto_network_adapter ad = {
		.namespace_id = NS1,
		.id = AD1,
		.mac_address = MAC1_HCS,
		.dns_suffix = "corp.example, lab.example",
		.dns_server_list = "10.201.0.53,10.201.0.54",
		.encap_overhead = 50,
		.ip_configs = ips,
		.n_ip_configs = 2,
		.routes = routes,
		.n_routes = 2,
	};
	struct gcs_error err = { 0 };
	struct gcs_process *init;
	char out[8192] = "", errs[1024], client[PATH_MAX], www[PATH_MAX], p[PATH_MAX];
	size_t len = 0;
	uint32_t code;
	pid_t server;
	struct nlh *h = uvm_net();
	struct ctx c;
	int n = 0;

	ctx_start(&c, CID, true, false);
	pid_t holder = client_ns(h, client, sizeof(client), "lcw0", "lcc0", MAC1, "10.201.0.1/24");
	storage_up(&c);

	OK(gcs_add_network_adapter(c.ap.b, &ad, &err));
	/* no container of the namespace yet: the NIC waits where it is */
	expect_in_uvm(h, "lcw0", true);
	OK(create(&c, spec_in_ns(&c, init_args, NS1, "web-1.corp.example"), &err));
	expect_in_uvm(h, "lcw0", false);
	snprintf(p, sizeof(p), "%s/gcs/netns/%s", c.env.run,
		 "5c2e6b8a-1f0d-4c1e-9a4b-0123456789ab");
	ck_assert_msg(access(p, F_OK) == 0, "no namespace file %s", p);

	init = start_init(&c, st);
	read_until(gcs_process_stdio_fd(init, GCS_STDOUT), out, sizeof(out), &len, INIT_READY);

	/* the client namespace reaches the container, and the container the client */
	ck_assert_int_eq(ns_run(client,
				(const char *const[]){ "busybox", "wget", "-q", "-O", "-",
						       "http://10.201.0.2:8000/index.html", NULL },
				out, sizeof(out)),
			 0);
	ck_assert_str_eq(out, "hello-from-ct\n");
	snprintf(www, sizeof(www), "%s/www", c.ap.dir);
	ck_assert_int_eq(mkdir(www, 0755), 0);
	snprintf(p, sizeof(p), "%s/f.txt", www);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs("hello-from-client\n", f);
	fclose(f);
	server = ns_httpd(client, www, "8081");
	code = 1;
	for (int i = 0; i < 50 && code != 0; i++) {
		code = exec_in(&c, SH("timeout 3 wget -q -O - http://10.201.0.1:8081/f.txt"), out,
			       sizeof(out), errs, sizeof(errs));
		if (code != 0)
			usleep(100 * 1000); /* the server binds its port after its fork */
	}
	stop_child(server);
	ck_assert_msg(code == 0, "wget from the container: %u %s", code, errs);
	ck_assert_str_eq(out, "hello-from-client\n");

	/* the files and the configuration as sent */
	ck_assert_uint_eq(
		exec_in(&c, SH("cat /etc/resolv.conf"), out, sizeof(out), errs, sizeof(errs)), 0);
	ck_assert_str_eq(out, "search corp.example lab.example\nnameserver 10.201.0.53\n"
			      "nameserver 10.201.0.54\n");
	ck_assert_uint_eq(
		exec_in(&c, SH("cat /etc/hostname"), out, sizeof(out), errs, sizeof(errs)), 0);
	ck_assert_str_eq(out, "web-1.corp.example\n");
	ck_assert_uint_eq(exec_in(&c, SH("cat /etc/hosts"), out, sizeof(out), errs, sizeof(errs)),
			  0);
	ck_assert_msg(
		!strncmp(out, "127.0.0.1 localhost\n127.0.0.1 web-1.corp.example web-1\n\n", 56),
		"hosts: %s", out);
	ck_assert_uint_eq(exec_in(&c, SH("ip -o addr; ip route; cat /sys/class/net/lcw0/mtu"), out,
				  sizeof(out), errs, sizeof(errs)),
			  0);
	ck_assert_msg(strstr(out, "inet 10.201.0.2/24") && strstr(out, "inet 10.202.0.2/24") &&
			      strstr(out, "default via 10.201.0.1 dev lcw0") &&
			      strstr(out, "10.203.0.0/16 dev lcw0") && strstr(out, "metric 7") &&
			      strstr(out, "\n1450\n") && strstr(out, "lo") &&
			      strstr(out, "inet 127.0.0.1/8"),
		      "in the container: %s", out);

	OK(gcs_process_signal(init, SIGTERM, &err));
	OK(gcs_process_wait(init, STEP_MS, &code, &err));
	read_until(gcs_process_stdio_fd(init, GCS_STDOUT), out, sizeof(out), &len, NULL);
	gcs_process_free(init);
	expect_one_note(&c, "GracefulExit");
	delete_state(&c);
	/* the NIC is still in the namespace until the host removes it */
	expect_in_uvm(h, "lcw0", false);
	OK(gcs_remove_network_adapter(c.ap.b, NS1, AD1, &err));
	expect_in_uvm(h, "lcw0", true);
	struct nlh_link l;
	ck_assert_int_eq(nlh_link_get(h, "lcw0", &l), 0);
	ck_assert_int_eq(nlh_addr_list(h, l.ifindex, count_addrs, &n), 0);
	ck_assert_int_eq(n, 0);
	expect_no_agent_netns(&c);
	/* removing it again, or from a namespace that is gone, is success */
	OK(gcs_remove_network_adapter(c.ap.b, NS1, AD1, &err));
	remove_overlay(&c);
	remove_disks(&c);
	ctx_stop(&c);
	stop_child(holder);
	nlh_close(h);
}
END_TEST

static void expect_refused(struct ctx *c, int32_t hr, const char *needle,
			   const struct gcs_proto_network_adapter *a)
{
	struct gcs_error err = { 0 };

	ck_assert_int_eq(gcs_add_network_adapter(c->ap.b, a, &err), -EREMOTEIO);
	ck_assert_msg(err.hresult == hr, "HRESULT 0x%08x, not 0x%08x: %s", (unsigned)err.hresult,
		      (unsigned)hr, err.message);
	ck_assert_msg(strstr(err.message, needle), "\"%s\" not in: %s", needle, err.message);
}

/* Bad adapters are refused with the right HRESULT and change nothing; a good one then works. */
START_TEST(test_adapter_bad_input)
{
	const struct gcs_proto_ip_config good_ip[] = { { "10.201.0.2", 24 } };
	const struct gcs_proto_ip_config bad_len[] = { { "10.201.0.2", 33 } };
	const struct gcs_proto_ip_config bad_ip[] = { { "10.201.0", 24 } };
	const struct gcs_proto_route host_bits[] = { { "10.201.0.1", "10.5.0.1/16", 0 } };
	const struct gcs_proto_route bad_hop[] = { { "10.201.0.zz", "0.0.0.0/0", 0 } };
	const struct gcs_proto_route families[] = { { "fd00::1", "0.0.0.0/0", 0 } };
	struct gcs_proto_network_adapter a = { .namespace_id = NS1,
					       .id = AD1,
					       .mac_address = MAC1,
					       .ip_configs = good_ip,
					       .n_ip_configs = 1 };
	struct gcs_proto_network_adapter b;
	struct gcs_error err = { 0 };
	char client[PATH_MAX];
	struct nlh *h = uvm_net();
	struct nlh_link l;
	int64_t t0;
	struct ctx c;
	int n = 0;

	ctx_start(&c, CID, false, false);
	pid_t holder = client_ns(h, client, sizeof(client), "lcw0", "lcc0", MAC1, "10.201.0.1/24");

	b = a;
	b.ip_configs = bad_len;
	expect_refused(&c, HR_INVALIDARG, "prefix length 33", &b);
	b.ip_configs = bad_ip;
	expect_refused(&c, HR_INVALIDARG, "IPConfigs[0]", &b);
	b = a;
	b.routes = host_bits;
	b.n_routes = 1;
	expect_refused(&c, HR_INVALIDARG, "outside its prefix", &b);
	b.routes = bad_hop;
	expect_refused(&c, HR_INVALIDARG, "NextHop", &b);
	b.routes = families;
	expect_refused(&c, HR_INVALIDARG, "different families", &b);
	b = a;
	b.mac_address = "00:15:5d:zz:00:01";
	expect_refused(&c, HR_INVALIDARG, "MacAddress", &b);
	b = a;
	b.namespace_id = "../../etc";
	expect_refused(&c, HR_INVALIDARG, "NamespaceID", &b);
	b = a;
	b.vpci_assigned = true;
	expect_refused(&c, HR_NOTIMPL, "VPCI", &b);
	b = a;
	b.n_ip_configs = 0;
	expect_refused(&c, HR_NOTIMPL, "DHCP", &b);
	b = a;
	b.dns_server_list = "10.0.0.1\nnameserver 1.2.3.4";
	expect_refused(&c, HR_INVALIDARG, "DNS", &b);
	/* an unknown MAC: the agent waits 5 s for it, as hcsshim's guest does */
	b = a;
	b.mac_address = "02-1C-0A-00-00-99";
	t0 = harness_now_ms();
	expect_refused(&c, HR_FAIL, "interface with MAC 02:1c:0a:00:00:99 not found after 5 s", &b);
	ck_assert_int_ge(harness_now_ms() - t0, 4900);

	/* nothing changed: the NIC is where it was, unconfigured, and no namespace was made */
	expect_in_uvm(h, "lcw0", true);
	ck_assert_int_eq(nlh_link_get(h, "lcw0", &l), 0);
	ck_assert_int_eq(nlh_addr_list(h, l.ifindex, count_addrs, &n), 0);
	ck_assert_int_eq(n, 0);
	expect_no_agent_netns(&c);

	/* the good one is taken; the same adapter twice, or its MAC under another ID, is not */
	OK(gcs_add_network_adapter(c.ap.b, &a, &err));
	expect_refused(&c, HR_FAIL, "already in namespace", &a);
	b = a;
	b.id = AD2;
	expect_refused(&c, HR_INVALIDARG, "belongs to adapter", &b);
	OK(gcs_remove_network_adapter(c.ap.b, NS1, AD1, &err));
	OK(gcs_remove_network_adapter(c.ap.b, NS2, AD2, &err));
	expect_no_agent_netns(&c);
	ctx_stop(&c);
	stop_child(holder);
	nlh_close(h);
}
END_TEST

/*
 * An adapter added while its container runs is moved at once (the namespace is already the
 * container's); a container of another namespace cannot reach it.
 */
START_TEST(test_adapter_hot_add_and_isolation)
{
	static const char *const init_args[] = { "/bin/sh", "-c", HTTPD_INIT, NULL };
	const struct gcs_proto_ip_config ip1[] = { { "10.211.0.2", 24 } };
	const struct gcs_proto_ip_config ip2[] = { { "10.212.0.2", 24 } };
	const struct gcs_proto_route r2[] = { { "10.212.0.1", "0.0.0.0/0", 0 } };
	struct gcs_stdio st[3] = {
		[GCS_STDOUT] = { GCS_STDIO_SOCKET }, [GCS_STDERR] = { GCS_STDIO_SOCKET }
	};
	const char *lower[2];
	struct gcs_error err = { 0 };
	struct gcs_process *init, *init2;
	char out[4096] = "", out2[4096] = "", errs[1024], c1[PATH_MAX], c2[PATH_MAX];
	char root2[PATH_MAX], scratch2[PATH_MAX], bundle2[PATH_MAX];
	size_t len = 0, len2 = 0;
	uint32_t code;
	struct nlh *h = uvm_net();
	struct ctx c;

	ctx_start(&c, CID, true, false);
	pid_t h1 = client_ns(h, c1, sizeof(c1), "lcw1", "lcc1", MAC1, "10.211.0.1/24");
	pid_t h2 = client_ns(h, c2, sizeof(c2), "lcw2", "lcc2", MAC2, "10.212.0.1/24");
	storage_up(&c);

	/* container 1 first, in a namespace without adapters; its adapter comes while it runs */
	OK(create(&c, spec_in_ns(&c, init_args, NS1, "one"), &err));
	init = start_init(&c, st);
	read_until(gcs_process_stdio_fd(init, GCS_STDOUT), out, sizeof(out), &len, INIT_READY);
	OK(add_adapter(&c, NS1, AD1, MAC1, ip1, 1, NULL, 0, &err));
	expect_in_uvm(h, "lcw1", false);
	ck_assert_int_eq(ns_run(c1,
				(const char *const[]){ "busybox", "wget", "-q", "-O", "-",
						       "http://10.211.0.2:8000/index.html", NULL },
				out, sizeof(out)),
			 0);
	ck_assert_str_eq(out, "hello-from-ct\n");

	/* container 2 on the same layers, in namespace 2 */
	lower[0] = c.pmem_layer;
	lower[1] = c.scsi_layer;
	snprintf(bundle2, sizeof(bundle2), "%s/gcs/c/%s", c.env.run, CID2);
	snprintf(root2, sizeof(root2), "%s/rootfs", bundle2);
	snprintf(scratch2, sizeof(scratch2), "%s/scratch/%s", bundle2, CID2);
	OK(gcs_combine_layers(c.ap.b, CID2, root2, lower, 2, scratch2, &err));
	OK(add_adapter(&c, NS2, AD2, MAC2, ip2, 1, r2, 1, &err));
	json_t *spec2 = spec_in_ns(&c,
				   (const char *const[]){ "/bin/sh", "-c",
							  "trap 'exit 143' TERM; echo " INIT_READY
							  "; sleep 1000 & wait",
							  NULL },
				   NS2, "two");
	json_object_set_new(json_object_get(spec2, "root"), "path", json_string(root2));
	OK(gcs_create_container_spec(c.ap.b, CID2, bundle2, spec2, scratch2, &err));
	json_decref(spec2);
	OK(gcs_start_container(c.ap.b, CID2, &err));
	OK(gcs_start_init(c.ap.b, CID2, st, &init2, &err));
	read_until(gcs_process_stdio_fd(init2, GCS_STDOUT), out2, sizeof(out2), &len2, INIT_READY);
	expect_in_uvm(h, "lcw2", false);
	/* from namespace 2, container 1's address is out of reach */
	char cid_save[80];
	snprintf(cid_save, sizeof(cid_save), "%s", c.cid);
	snprintf(c.cid, sizeof(c.cid), "%s", CID2);
	code = exec_in(&c,
		       SH("ip -o addr; timeout 3 wget -q -O - http://10.211.0.2:8000/index.html"),
		       out, sizeof(out), errs, sizeof(errs));
	snprintf(c.cid, sizeof(c.cid), "%s", cid_save);
	ck_assert_msg(code != 0 && !strstr(out, "hello-from-ct") && strstr(out, "10.212.0.2/24") &&
			      !strstr(out, "10.211.0.2"),
		      "namespace 2 reached namespace 1: %u %s", code, out);

	OK(gcs_process_signal(init2, SIGKILL, &err));
	OK(gcs_process_wait(init2, STEP_MS, &code, &err));
	gcs_process_free(init2);
	OK(gcs_process_signal(init, SIGKILL, &err));
	OK(gcs_process_wait(init, STEP_MS, &code, &err));
	gcs_process_free(init);
	notes_wait(&c, 2, STEP_MS);
	OK(gcs_delete_container_state(c.ap.b, CID2, &err));
	delete_state(&c);
	OK(gcs_remove_network_adapter(c.ap.b, NS1, AD1, &err));
	OK(gcs_remove_network_adapter(c.ap.b, NS2, AD2, &err));
	expect_in_uvm(h, "lcw1", true);
	expect_in_uvm(h, "lcw2", true);
	expect_no_agent_netns(&c);
	OK(gcs_uncombine_layers(c.ap.b, root2, &err));
	remove_overlay(&c);
	remove_disks(&c);
	ctx_stop(&c);
	stop_child(h1);
	stop_child(h2);
	nlh_close(h);
}
END_TEST

/* NamespaceAddRequestSupported is claimed (hcsshim sends no adapter without it). */
START_TEST(test_capability)
{
	struct ctx c;

	ctx_start(&c, CID, false, false);
	ck_assert(gcs_bridge_capabilities(c.ap.b)->guest_defined.namespace_add_request_supported);
	ctx_stop(&c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("network");

	ADD_TEST(s, test_capability);
	ADD_TEST(s, test_adapter_bad_input);
	ADD_TEST(s, test_adapter_end_to_end);
	ADD_TEST(s, test_adapter_hot_add_and_isolation);
	return ctx_run_suite(s, "network");
}
