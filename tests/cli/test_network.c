/*
 * Container networking through the lcow command, in process mode: a container whose spec names
 * a network namespace (made by the test with `ip netns add`, its veth's other end in a second
 * namespace of the test) gets that namespace's address, serves HTTP to the other namespace,
 * and `lcow state` shows the address; delete (also after its daemon, or its daemon and its
 * agent, were killed) leaves no link, qdisc or record behind; and the network options' misuses
 * are errors that say why. Only addresses inside the test's own namespaces are used.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clinet.h"

#define WEB WEB_SCRIPT("served-from-container", "8080")

/* Nothing of lcow's is left in the pod namespace: only lo and eth0, no ingress qdisc. */
static void expect_pod_clean(struct nets *n)
{
	char p[PATH_MAX], out[4096];
	long long deadline = now_ms() + 10000;

	/* a veth pair whose peer's namespace died goes asynchronously */
	while (sh("test \"$(ip -n %s -o link show | grep -vc -e ' lo:' -e ' eth0@')\" = 0",
		  n->pod) != 0 &&
	       now_ms() < deadline)
		usleep(50000);
	snprintf(p, sizeof(p), "%s/pod.txt", fx.dir);
	sh("{ ip -n %s -o link show; ip netns exec %s tc qdisc show; } >'%s'", n->pod, n->pod, p);
	slurp(p, out, sizeof(out));
	ck_assert_msg(!strstr(out, ": lcow") && !strstr(out, "ingress"), "left in %s: %s", n->pod,
		      out);
}

static void kill_file_pid(struct t *t, const char *uvm, const char *file)
{
	char p[PATH_MAX], text[32];
	int pid;

	snprintf(p, sizeof(p), "%s/u/%s/%s", t->root, uvm, file);
	slurp(p, text, sizeof(text));
	pid = atoi(text);
	ck_assert_msg(pid > 1, "no pid in %s", p);
	kill(pid, SIGKILL);
	for (int i = 0; i < 500 && kill(pid, 0) == 0; i++)
		usleep(10000);
}

/*
 * The spec's namespace is the default: the container has 10.77.0.2/24, the other namespace
 * fetches from its web server, state shows the address; delete removes the veth pair and the
 * redirects.
 */
START_TEST(test_netns_container)
{
	struct nets n;
	const char *id;
	char *b;
	struct t t;

	t_start(&t);
	nets_make(&n, "a");
	id = cid(&t, "web");
	b = net_bundle(&t, "b", WEB, n.pod);
	ck_assert_msg(lcow_out(&t, tpath(&t, "c.out"), "run", "-d", "--uvm-mode", "process", "-b",
			       b, id) == 0,
		      "run: %s", t.err);
	expect_file_has(tpath(&t, "c.out"), "started");
	expect_file_has(tpath(&t, "c.out"), "inet 10.77.0.2/24");
	expect_served(n.out, "10.77.0.2:8080", "served-from-container", 20000);
	OK(&t, "state", id);
	ck_assert_msg(strstr(t.out, "\"addresses\": [\n      \"10.77.0.2/24\"") &&
			      strstr(t.out, "\"mode\": \"ns\"") && strstr(t.out, n.pod),
		      "state: %s", t.out);
	/* the wiring while it runs: lcow's veth beside eth0, redirects on both */
	ck_assert_int_eq(sh("ip -n %s -o link show | grep -q lcowv", n.pod), 0);
	ck_assert_int_eq(sh("ip netns exec %s tc filter show dev eth0 ingress | grep -q "
			    "'Egress Redirect to device lcowv'",
			    n.pod),
			 0);
	/* a second container on the same namespace is refused, and the first keeps its network */
	ck_assert_int_eq(lcow(&t, "run", "--uvm-mode", "process", "-b", b, cid(&t, "web2")), 1);
	ck_assert_msg(strstr(t.err, "in use"), "%s", t.err);
	expect_served(n.out, "10.77.0.2:8080", "served-from-container", 20000);
	OK(&t, "delete", "--force", id);
	expect_pod_clean(&n);
	t_end(&t);
	nets_remove(&n);
}
END_TEST

/* --network ns:PATH on a spec without a network namespace; a second container the same way. */
START_TEST(test_network_option)
{
	struct nets n;
	char path[128];
	const char *id;
	char *b;
	struct t t;

	t_start(&t);
	nets_make(&n, "b");
	snprintf(path, sizeof(path), "ns:/run/netns/%s", n.pod);
	id = cid(&t, "opt");
	b = bundle(&t, "b", SH_ARGS("busybox ip -4 -o addr show; busybox ip route"), false, NULL);
	ck_assert_msg(lcow_out(&t, tpath(&t, "c.out"), "run", "--uvm-mode", "process", "--network",
			       path, "-b", b, id) == 0,
		      "run: %s", t.err);
	expect_file_has(tpath(&t, "c.out"), "inet 10.77.0.2/24");
	expect_file_has(tpath(&t, "c.out"), "default via 10.77.0.1");
	expect_pod_clean(&n);
	/* once more: the namespace is free again */
	ck_assert_int_eq(lcow_out(&t, tpath(&t, "c2.out"), "run", "--uvm-mode", "process",
				  "--network", path, "-b", b, cid(&t, "opt2")),
			 0);
	expect_file_has(tpath(&t, "c2.out"), "inet 10.77.0.2/24");
	expect_pod_clean(&n);
	/* --network none: a namespace of its own with only lo, though the spec names one */
	b = net_bundle(&t, "b2", "busybox ip -o link show; echo links-done", n.pod);
	ck_assert_int_eq(lcow_out(&t, tpath(&t, "c3.out"), "run", "--uvm-mode", "process",
				  "--network", "none", "-b", b, cid(&t, "none")),
			 0);
	slurp(tpath(&t, "c3.out"), t.out, sizeof(t.out));
	ck_assert_msg(strstr(t.out, "links-done") && strstr(t.out, "lo:") &&
			      !strstr(t.out, "eth0") && !strstr(t.out, ": lcow"),
		      "links: %s", t.out);
	expect_pod_clean(&n);
	t_end(&t);
	nets_remove(&n);
}
END_TEST

/*
 * Crashes: a daemon killed with SIGKILL (the next command adopts the UVM, delete undoes the
 * wiring), then a daemon and its agent killed (delete sweeps the UVM and the wiring's record).
 */
START_TEST(test_netns_after_crash)
{
	struct nets n;
	const char *id;
	char *b;
	struct t t;

	t_start(&t);
	nets_make(&n, "c");
	b = net_bundle(&t, "b", WEB, n.pod);
	id = cid(&t, "crash1");
	ck_assert_msg(lcow_out(&t, tpath(&t, "c.out"), "run", "-d", "--uvm-mode", "process", "-b",
			       b, id) == 0,
		      "run: %s", t.err);
	expect_file_has(tpath(&t, "c.out"), "started");
	kill_file_pid(&t, id, "daemon.pid");
	OK(&t, "state", id);
	ck_assert_msg(strstr(t.out, "10.77.0.2/24"), "state after adoption: %s", t.out);
	expect_served(n.out, "10.77.0.2:8080", "served-from-container", 20000);
	OK(&t, "delete", "--force", id);
	expect_pod_clean(&n);

	id = cid(&t, "crash2");
	ck_assert_int_eq(lcow_out(&t, tpath(&t, "c2.out"), "run", "-d", "--uvm-mode", "process",
				  "-b", b, id),
			 0);
	expect_file_has(tpath(&t, "c2.out"), "started");
	kill_file_pid(&t, id, "daemon.pid");
	kill_file_pid(&t, id, "vm/agent.pid");
	OK(&t, "delete", "--force", id);
	expect_pod_clean(&n);
	t_end(&t);
	nets_remove(&n);
}
END_TEST

/* What cannot be: each an error that says why, before any UVM is started. */
START_TEST(test_network_errors)
{
	char *b;
	struct t t;

	t_start(&t);
	b = bundle(&t, "b", SH_ARGS("true"), false, NULL);
	ck_assert_int_eq(lcow(&t, "run", "--uvm-mode", "process", "--network", "user", "-b", b,
			      cid(&t, "u")),
			 1);
	ck_assert_msg(strstr(t.err, "--network user") && strstr(t.err, "process-mode"), "%s",
		      t.err);
	ck_assert_int_eq(
		lcow(&t, "run", "--uvm-mode", "process", "-p", "8080:80", "-b", b, cid(&t, "p")),
		1);
	ck_assert_msg(strstr(t.err, "--publish") && strstr(t.err, "--network user") &&
			      strstr(t.err, "none"),
		      "%s", t.err);
	ck_assert_int_eq(
		lcow(&t, "create", "--network", "none", "--publish", "1:2", "-b", b, cid(&t, "p2")),
		1);
	ck_assert_msg(strstr(t.err, "--publish") && strstr(t.err, "needs --network user"), "%s",
		      t.err);
	ck_assert_int_eq(lcow(&t, "run", "--network", "bridge", "-b", b, cid(&t, "x")), 1);
	ck_assert_msg(strstr(t.err, "none, user or ns:PATH"), "%s", t.err);
	ck_assert_int_eq(lcow(&t, "run", "--network", "ns:netns/x", "-b", b, cid(&t, "x")), 1);
	ck_assert_msg(strstr(t.err, "absolute path"), "%s", t.err);
	ck_assert_int_eq(lcow(&t, "run", "--network", "user", "-p", "80", "-b", b, cid(&t, "x")),
			 1);
	ck_assert_msg(strstr(t.err, "[IP:]HOSTPORT:CTRPORT"), "%s", t.err);
	ck_assert_int_eq(
		lcow(&t, "run", "--network", "user", "-p", "1:2/sctp", "-b", b, cid(&t, "x")), 1);
	ck_assert_msg(strstr(t.err, "tcp|udp"), "%s", t.err);
	ck_assert_int_eq(lcow(&t, "run", "--uvm-mode", "process", "--network",
			      "ns:/run/netns/lcow-t-no-such-namespace", "-b", b, cid(&t, "ns")),
			 1);
	ck_assert_msg(strstr(t.err, "lcow-t-no-such-namespace"), "%s", t.err);
	/* help tells of them */
	OK(&t, "run", "--help");
	ck_assert_msg(strstr(t.out, "--network none|user|ns:PATH") && strstr(t.out, "--publish"),
		      "%s", t.out);
	OK(&t, "create", "--help");
	ck_assert_msg(strstr(t.out, "--network none|user|ns:PATH") && strstr(t.out, "--publish"),
		      "%s", t.out);
	t_end(&t);
}
END_TEST

int main(void)
{
	Suite *s;

	net_suite_init();
	s = suite_create("cli_network");

	ADD_NET_TEST(s, test_network_errors);
	ADD_NET_TEST(s, test_netns_container);
	ADD_NET_TEST(s, test_network_option);
	ADD_NET_TEST(s, test_netns_after_crash);
	return clitest_main(s);
}
