/*
 * Container networking through the lcow command with QEMU-mode UVMs (make vm-check):
 *
 *   user:    `lcow run --network user -p 18080:80` of a web server answers on 127.0.0.1:18080.
 *            lcow (and so QEMU's user-mode stack) runs in a network namespace of the test's
 *            with only lo, so the guest reaches nothing beyond it.
 *   ns:PATH: a container in the test's namespace (eth0 10.77.0.2/24, its peer in a second test
 *            namespace) is served over the tap lcow joins to eth0; delete leaves no tap and no
 *            qdisc.
 *   a pod:   its UVM can hot-add NICs: a second container's user NIC with its own published
 *            port.
 *
 * The harness is clitest.h's; without the kernel, the initrd, QEMU or lcow-vsock every test
 * fails and says so. Only loopback and the test's own namespaces' addresses are used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clitest.h"

/* main's pid: the test namespaces are lcow-t-<it>-..., so that a failed test's are found. */
static int suite_pid;

/* After each test (Check's parent): what a failed test left, its namespaces last. */
static void after_net_test(void)
{
	after_test();
	sh("for n in $(ip netns list | cut -d' ' -f1 | grep '^lcow-t-%d-'); do ip netns del \"$n\"; "
	   "done; true",
	   suite_pid);
}

#define ADD_NET_TEST(s, fn)                                            \
	do {                                                           \
		TCase *tc = tcase_create(#fn);                         \
		tcase_set_timeout(tc, 240);                            \
		tcase_add_unchecked_fixture(tc, NULL, after_net_test); \
		tcase_add_test(tc, fn);                                \
		suite_add_tcase(s, tc);                                \
	} while (0)

static void expect_qemu(void)
{
	static const char *const files[] = { "vmlinux", "initrd.img", "lcow-vsock" };
	char dir[PATH_MAX], p[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", LCOW_BIN);
	*strrchr(dir, '/') = '\0';
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		if (access(p, R_OK) != 0) {
			snprintf(p, sizeof(p), "%s/../default/%s", dir, files[i]);
			ck_assert_msg(access(p, R_OK) == 0,
				      "QEMU mode needs %s next to lcow or in ../default (make "
				      "initrd WITH_RUNC=1)",
				      files[i]);
		}
	}
}

/* A web server container on port (80 needs CAP_NET_BIND_SERVICE); it prints its addresses. */
static char *web_bundle(struct t *t, const char *name, const char *text, int port,
			const char *netns)
{
	char spec[4096], ns[160] = "";

	if (netns)
		snprintf(ns, sizeof(ns), ",{\"type\":\"network\",\"path\":\"/run/netns/%s\"}",
			 netns);
	snprintf(spec, sizeof(spec),
		 "{\"ociVersion\":\"1.0.2\",\"process\":{\"user\":{\"uid\":0,\"gid\":0},"
		 "\"capabilities\":{\"bounding\":[\"CAP_NET_BIND_SERVICE\"],"
		 "\"effective\":[\"CAP_NET_BIND_SERVICE\"],"
		 "\"permitted\":[\"CAP_NET_BIND_SERVICE\"]},"
		 "\"args\":[\"sh\",\"-c\",\"busybox ip -4 -o addr show; mkdir -p /tmp/www; echo "
		 "%s >/tmp/www/index.html; echo started; exec busybox httpd -f -p %d -h "
		 "/tmp/www\"],\"env\":[\"PATH=/bin\"],\"cwd\":\"/\"},"
		 "\"root\":{\"path\":\"%s\"},\"hostname\":\"net-test\","
		 "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
		 "{\"destination\":\"/tmp\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"}],"
		 "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},"
		 "{\"type\":\"uts\"},{\"type\":\"mount\"}%s]}}",
		 text, port, fx.rootfs, ns);
	return bundle_text(t, name, spec);
}

/* `lcow ARGS` inside the network namespace ns, stdout to out (a container's output). */
static int lcow_in(struct t *t, const char *ns, const char *out, const char *args)
{
	int rc = sh("ip netns exec %s '%s' --root '%s' %s >'%s' 2>'%s' </dev/null", ns, LCOW_BIN,
		    t->root, args, out, tpath(t, "lcow_in.err"));

	slurp(tpath(t, "lcow_in.err"), t->err, sizeof(t->err));
	return rc;
}

/* GET / of the server at addr (HOST:PORT) from inside ns (socat), 0 when it answers. */
static int get(const char *ns, const char *addr, const char *out)
{
	return sh("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | ip netns exec %s socat -t 5 - "
		  "TCP:%s,connect-timeout=3 >'%s'",
		  ns, addr, out);
}

/* GET / of addr from inside ns until the answer has want (TCG: generous). */
static void expect_served(const char *ns, const char *addr, const char *want)
{
	char p[PATH_MAX], body[256] = "";
	long long deadline = now_ms() + 60000;

	snprintf(p, sizeof(p), "%s/get.out", fx.dir);
	while (now_ms() < deadline) {
		if (get(ns, addr, p) == 0) {
			slurp(p, body, sizeof(body));
			if (strstr(body, want))
				return;
		}
		usleep(300000);
	}
	ck_abort_msg("%s in %s: no \"%s\" (got \"%s\"; %s)", addr, ns, want, body, fx.error);
}

START_TEST(test_user_publish)
{
	char ns[64], args[1024];
	const char *id;
	char *b;
	struct t t;

	expect_qemu();
	t_start(&t);
	snprintf(ns, sizeof(ns), "lcow-t-%d-user", suite_pid);
	ck_assert_int_eq(sh("ip netns add %s && ip -n %s link set lo up", ns, ns), 0);
	id = cid(&t, "user");
	b = web_bundle(&t, "b", "served-over-slirp", 80, NULL);
	snprintf(args, sizeof(args), "run -d --uvm-mode qemu --network user -p 18080:80 -b '%s' %s",
		 b, id);
	if (lcow_in(&t, ns, tpath(&t, "c.out"), args) != 0) {
		sh("ip netns del %s", ns);
		ck_abort_msg("run: %s", t.err);
	}
	expect_file_has(tpath(&t, "c.out"), "started");
	expect_file_has(tpath(&t, "c.out"), "inet 10.0.2.15/24");
	expect_served(ns, "127.0.0.1:18080", "served-over-slirp");
	OK(&t, "state", id);
	ck_assert_msg(strstr(t.out, "\"mode\": \"user\"") && strstr(t.out, "10.0.2.15/24") &&
			      strstr(t.out, "tcp:127.0.0.1:18080-:80"),
		      "state: %s", t.out);
	OK(&t, "delete", "--force", id);
	t_end(&t);
	sh("ip netns del %s", ns);
}
END_TEST

START_TEST(test_netns_tap)
{
	char pod[64], out[64], text[4096];
	const char *id;
	char *b;
	struct t t;

	expect_qemu();
	t_start(&t);
	snprintf(pod, sizeof(pod), "lcow-t-%d-qpod", suite_pid);
	snprintf(out, sizeof(out), "lcow-t-%d-qout", suite_pid);
	ck_assert_msg(sh("set -e; ip netns add %s; ip netns add %s; "
			 "ip -n %s link add vo type veth peer name eth0 netns %s; "
			 "ip -n %s addr add 10.77.0.1/24 dev vo; ip -n %s link set vo up; "
			 "ip -n %s link set lo up; ip -n %s addr add 10.77.0.2/24 dev eth0; "
			 "ip -n %s link set eth0 up; ip -n %s route add default via 10.77.0.1",
			 pod, out, out, pod, out, out, pod, pod, pod, pod) == 0,
		      "%s", fx.error);
	id = cid(&t, "tap");
	b = web_bundle(&t, "b", "served-over-tap", 8080, pod);
	if (lcow_out(&t, tpath(&t, "c.out"), "run", "-d", "--uvm-mode", "qemu", "-b", b, id) != 0) {
		sh("ip netns del %s; ip netns del %s", pod, out);
		ck_abort_msg("run: %s", t.err);
	}
	expect_file_has(tpath(&t, "c.out"), "started");
	expect_file_has(tpath(&t, "c.out"), "inet 10.77.0.2/24");
	ck_assert_int_eq(sh("ip -n %s -o link show | grep -q lcowt", pod), 0);
	expect_served(out, "10.77.0.2:8080", "served-over-tap");
	OK(&t, "state", id);
	ck_assert_msg(strstr(t.out, "\"mode\": \"ns\"") && strstr(t.out, "10.77.0.2/24"),
		      "state: %s", t.out);
	OK(&t, "delete", "--force", id);
	sh("ip -n %s -o link show >'%s/l.txt'; ip netns exec %s tc qdisc show >>'%s/l.txt'", pod,
	   t.dir, pod, t.dir);
	slurp(tpath(&t, "l.txt"), text, sizeof(text));
	ck_assert_msg(!strstr(text, ": lcow") && !strstr(text, "ingress"), "left: %s", text);
	t_end(&t);
	sh("ip netns del %s; ip netns del %s", pod, out);
}
END_TEST

/* A pod's UVM: the first container's NIC at boot, the second's hot-added (q35). */
START_TEST(test_pod_hotplug)
{
	char ns[64], args[1024], pod[64];
	char *b1, *b2;
	struct t t;

	expect_qemu();
	t_start(&t);
	snprintf(ns, sizeof(ns), "lcow-t-%d-hot", suite_pid);
	snprintf(pod, sizeof(pod), "%s", cid(&t, "pod"));
	ck_assert_int_eq(sh("ip netns add %s && ip -n %s link set lo up", ns, ns), 0);
	b1 = strdup(web_bundle(&t, "b1", "first-nic", 80, NULL));
	b2 = strdup(web_bundle(&t, "b2", "hot-added-nic", 80, NULL));
	snprintf(args, sizeof(args),
		 "run -d --uvm-mode qemu --uvm %s --network user -p 18081:80 -b '%s' %s", pod, b1,
		 cid(&t, "one"));
	if (lcow_in(&t, ns, tpath(&t, "1.out"), args) != 0) {
		sh("ip netns del %s", ns);
		ck_abort_msg("run 1: %s", t.err);
	}
	snprintf(args, sizeof(args),
		 "run -d --uvm-mode qemu --uvm %s --network user -p 18082:80 -b '%s' %s", pod, b2,
		 cid(&t, "two"));
	if (lcow_in(&t, ns, tpath(&t, "2.out"), args) != 0) {
		lcow(&t, "delete", "--force", cid(&t, "one"));
		lcow(&t, "delete", "--force", pod);
		sh("ip netns del %s", ns);
		ck_abort_msg("run 2: %s", t.err);
	}
	expect_file_has(tpath(&t, "2.out"), "inet 10.0.2.15/24");
	expect_served(ns, "127.0.0.1:18081", "first-nic");
	expect_served(ns, "127.0.0.1:18082", "hot-added-nic");
	OK(&t, "delete", "--force", cid(&t, "two"));
	/* its NIC went: its port no longer answers */
	ck_assert_int_ne(get(ns, "127.0.0.1:18082", tpath(&t, "gone.out")), 0);
	expect_served(ns, "127.0.0.1:18081", "first-nic");
	OK(&t, "delete", "--force", cid(&t, "one"));
	OK(&t, "delete", pod);
	free(b1);
	free(b2);
	t_end(&t);
	sh("ip netns del %s", ns);
}
END_TEST

int main(void)
{
	Suite *s;

	suite_pid = (int)getpid();
	s = suite_create("cli-qemu-net");

	ADD_NET_TEST(s, test_user_publish);
	ADD_NET_TEST(s, test_netns_tap);
	ADD_NET_TEST(s, test_pod_hotplug);
	return clitest_main(s);
}
