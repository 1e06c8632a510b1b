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
 * The harness is clitest.h's and clinet.h's; without the kernel, the initrd, QEMU or lcow-vsock
 * every test fails and says so. Only loopback and the test's own namespaces' addresses are used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clinet.h"

#define SERVED_MS 60000 /* TCG */

/* `lcow ARGS` inside the network namespace ns, stdout to out (a container's output). */
static int lcow_in(struct t *t, const char *ns, const char *out, const char *args)
{
	int rc = sh("ip netns exec %s '%s' --root '%s' %s >'%s' 2>'%s' </dev/null", ns, LCOW_BIN,
		    t->root, args, out, tpath(t, "lcow_in.err"));

	slurp(tpath(t, "lcow_in.err"), t->err, sizeof(t->err));
	return rc;
}

/* A network namespace of the test's with only lo up: where lcow and QEMU's user stack run. */
static void lo_netns(char *ns, size_t len, const char *tag)
{
	snprintf(ns, len, "lcow-t-%d-%s", net_suite_pid, tag);
	ck_assert_int_eq(sh("ip netns add %s && ip -n %s link set lo up", ns, ns), 0);
}

START_TEST(test_user_publish)
{
	char ns[64], args[1024];
	const char *id;
	char *b;
	struct t t;

	expect_qemu();
	t_start(&t);
	lo_netns(ns, sizeof(ns), "user");
	id = cid(&t, "user");
	b = net_bundle(&t, "b", WEB_SCRIPT("served-over-slirp", "80"), NULL);
	snprintf(args, sizeof(args), "run -d --uvm-mode qemu --network user -p 18080:80 -b '%s' %s",
		 b, id);
	ck_assert_msg(lcow_in(&t, ns, tpath(&t, "c.out"), args) == 0, "run: %s", t.err);
	expect_file_has(tpath(&t, "c.out"), "started");
	expect_file_has(tpath(&t, "c.out"), "inet 10.0.2.15/24");
	expect_served(ns, "127.0.0.1:18080", "served-over-slirp", SERVED_MS);
	OK(&t, "state", id);
	ck_assert_msg(strstr(t.out, "\"mode\": \"user\"") && strstr(t.out, "10.0.2.15/24") &&
			      strstr(t.out, "tcp:127.0.0.1:18080-:80"),
		      "state: %s", t.out);
	OK(&t, "delete", "--force", id);
	t_end(&t);
}
END_TEST

START_TEST(test_netns_tap)
{
	char text[4096];
	struct nets n;
	const char *id;
	char *b;
	struct t t;

	expect_qemu();
	t_start(&t);
	nets_make(&n, "tap");
	id = cid(&t, "tap");
	b = net_bundle(&t, "b", WEB_SCRIPT("served-over-tap", "8080"), n.pod);
	ck_assert_msg(lcow_out(&t, tpath(&t, "c.out"), "run", "-d", "--uvm-mode", "qemu", "-b", b,
			       id) == 0,
		      "run: %s", t.err);
	expect_file_has(tpath(&t, "c.out"), "started");
	expect_file_has(tpath(&t, "c.out"), "inet 10.77.0.2/24");
	ck_assert_int_eq(sh("ip -n %s -o link show | grep -q lcowt", n.pod), 0);
	expect_served(n.out, "10.77.0.2:8080", "served-over-tap", SERVED_MS);
	OK(&t, "state", id);
	ck_assert_msg(strstr(t.out, "\"mode\": \"ns\"") && strstr(t.out, "10.77.0.2/24"),
		      "state: %s", t.out);
	OK(&t, "delete", "--force", id);
	sh("{ ip -n %s -o link show; ip netns exec %s tc qdisc show; } >'%s'", n.pod, n.pod,
	   tpath(&t, "left.txt"));
	slurp(tpath(&t, "left.txt"), text, sizeof(text));
	ck_assert_msg(!strstr(text, ": lcow") && !strstr(text, "ingress"), "left: %s", text);
	t_end(&t);
	nets_remove(&n);
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
	lo_netns(ns, sizeof(ns), "hot");
	snprintf(pod, sizeof(pod), "%s", cid(&t, "pod"));
	b1 = strdup(net_bundle(&t, "b1", WEB_SCRIPT("first-nic", "80"), NULL));
	b2 = strdup(net_bundle(&t, "b2", WEB_SCRIPT("hot-added-nic", "80"), NULL));
	snprintf(args, sizeof(args),
		 "run -d --uvm-mode qemu --uvm %s --network user -p 18081:80 -b '%s' %s", pod, b1,
		 cid(&t, "one"));
	ck_assert_msg(lcow_in(&t, ns, tpath(&t, "1.out"), args) == 0, "run 1: %s", t.err);
	snprintf(args, sizeof(args),
		 "run -d --uvm-mode qemu --uvm %s --network user -p 18082:80 -b '%s' %s", pod, b2,
		 cid(&t, "two"));
	ck_assert_msg(lcow_in(&t, ns, tpath(&t, "2.out"), args) == 0, "run 2: %s", t.err);
	expect_file_has(tpath(&t, "2.out"), "inet 10.0.2.15/24");
	expect_served(ns, "127.0.0.1:18081", "first-nic", SERVED_MS);
	expect_served(ns, "127.0.0.1:18082", "hot-added-nic", SERVED_MS);
	OK(&t, "delete", "--force", cid(&t, "two"));
	/* its NIC went: its port no longer answers */
	ck_assert_int_ne(http_get(ns, "127.0.0.1:18082", tpath(&t, "gone.out")), 0);
	expect_served(ns, "127.0.0.1:18081", "first-nic", SERVED_MS);
	OK(&t, "delete", "--force", cid(&t, "one"));
	OK(&t, "delete", pod);
	free(b1);
	free(b2);
	t_end(&t);
}
END_TEST

int main(void)
{
	Suite *s;

	net_suite_init();
	s = suite_create("cli-qemu-net");
	ADD_NET_TEST(s, test_user_publish);
	ADD_NET_TEST(s, test_netns_tap);
	ADD_NET_TEST(s, test_pod_hotplug);
	return clitest_main(s);
}
