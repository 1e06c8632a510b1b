/*
 * Processes of the UVM itself (not of a container): ps for the front ends, and runc, the
 * agent's runtime, for what the bridge has no message for. runc runs as
 * `runc --root <guest runc root> ...`: in process mode the host's runc, seen through the
 * agent's mount namespace; in a QEMU UVM the initrd's (built with WITH_RUNC=1).
 */
#include "rt.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UVM_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define HELPER_MS 30000
#define RUNC_OUTPUT_MAX 65536

struct output {
	char **buf;
	size_t *len;
	size_t cap, max;
	bool *truncated;
};

static void output_add(struct output *o, const char *p, size_t n)
{
	if (*o->len + n > o->max) {
		*o->truncated = true;
		n = o->max - *o->len;
	}
	if (*o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		char *b;
		while (cap < *o->len + n + 1)
			cap *= 2;
		b = realloc(*o->buf, cap);
		if (!b) {
			*o->truncated = true;
			return;
		}
		*o->buf = b;
		o->cap = cap;
	}
	memcpy(*o->buf + *o->len, p, n);
	*o->len += n;
	(*o->buf)[*o->len] = '\0';
}

void lcow_rt_output_free(struct lcow_rt_output *o)
{
	free(o->out);
	free(o->err);
	*o = (struct lcow_rt_output){ 0 };
}

int lcow_rt_uvm_command(struct lcow_rt *rt, const char *const *argv, size_t n, size_t max,
			int timeout_ms, struct lcow_rt_output *ret, struct gcs_error *err)
{
	static const struct gcs_proto_env env[] = { { "PATH", UVM_PATH } };
	struct gcs_proto_process_params pp = { .command_args = argv,
					       .n_command_args = n,
					       .working_directory = "/",
					       .environment = env,
					       .n_environment = 1 };
	struct gcs_exec_options o = { .params = &pp, .timeout_ms = timeout_ms };
	struct lcow_rt_output r = { 0 };
	struct output dst[2] = { { &r.out, &r.out_len, 0, max, &r.truncated },
				 { &r.err, &r.err_len, 0, max, &r.truncated } };
	long long deadline = time_now_ms() + timeout_ms;
	struct gcs_process *p = NULL;
	int fds[2], rc;

	o.stdio[GCS_STDOUT].mode = GCS_STDIO_SOCKET;
	o.stdio[GCS_STDERR].mode = GCS_STDIO_SOCKET;
	rc = gcs_process_exec(vm_bridge(&rt->vm), &o, &p, err);
	if (rc < 0)
		return rc;
	fds[0] = gcs_process_stdio_fd(p, GCS_STDOUT);
	fds[1] = gcs_process_stdio_fd(p, GCS_STDERR);
	while (fds[0] >= 0 || fds[1] >= 0) {
		struct pollfd pf[2] = { { .fd = fds[0], .events = POLLIN },
					{ .fd = fds[1], .events = POLLIN } };
		long long left = deadline - time_now_ms();
		char buf[16384];

		if (left <= 0 || poll(pf, 2, (int)left) <= 0)
			break;
		for (int i = 0; i < 2; i++) {
			ssize_t k;
			if (!pf[i].revents)
				continue;
			k = read(fds[i], buf, sizeof(buf));
			if (k <= 0)
				fds[i] = -1;
			else
				output_add(&dst[i], buf, (size_t)k);
		}
	}
	rc = gcs_process_wait(p, fds[0] >= 0 || fds[1] >= 0 ? 0 : timeout_ms, &r.code, err);
	if (rc == -ETIMEDOUT)
		gcs_process_signal(p, SIGKILL, &(struct gcs_error){ 0 });
	gcs_process_free(p);
	if (rc == -ETIMEDOUT)
		rc = gcs_error_set(err, rc, HR_FAIL, "%s did not finish within %d s", argv[0],
				   timeout_ms / 1000);
	if (rc < 0) {
		lcow_rt_output_free(&r);
		return rc;
	}
	*ret = r;
	return 0;
}

/* The message of a runc error line (msg="..."), or the whole output. */
static void runc_message(const char *out, char *buf, size_t len)
{
	const char *m = strstr(out, "msg=\"");
	size_t n;

	if (!m) {
		snprintf(buf, len, "%s", out);
		n = strlen(buf);
		while (n > 0 && buf[n - 1] == '\n')
			buf[--n] = '\0';
		return;
	}
	m += 5;
	for (n = 0; m[n] && m[n] != '"' && n + 1 < len; n++)
		buf[n] = m[n];
	buf[n] = '\0';
}

int uvm_runc(struct lcow_rt *d, const char *const *args, struct gcs_error *err)
{
	struct lcow_rt_output out = { 0 };
	const char *argv[12];
	char msg[512];
	size_t n = 0;
	int rc;

	argv[n++] = "runc";
	argv[n++] = "--root";
	argv[n++] = d->vm.runc_root;
	while (*args && n < ARRAY_SIZE(argv))
		argv[n++] = *args++;
	rc = lcow_rt_uvm_command(d, argv, n, RUNC_OUTPUT_MAX, HELPER_MS, &out, err);
	if (rc < 0)
		return gcs_error_prefix(err, rc, "runc %s in the UVM", argv[3]);
	if (out.code != 0) {
		const char *text = out.err && strstr(out.err, "msg=\"") ? out.err :
				   out.err && out.err[0]		? out.err :
									  out.out;
		runc_message(text ? text : "", msg, sizeof(msg));
		lcow_rt_output_free(&out);
		return gcs_error_set(err, -EIO, HR_FAIL, "%s", msg[0] ? msg : "runc failed");
	}
	lcow_rt_output_free(&out);
	return 0;
}

int ctr_operation(struct lcow_rt *d, const char *id, const char *op, int sig, struct gcs_error *err)
{
	char num[16];
	int rc = gcs_container_operation(vm_bridge(&d->vm), id, op, sig, err);

	if (rc != -EOPNOTSUPP)
		return rc;
	gcs_error_clear(err);
	snprintf(num, sizeof(num), "%d", sig ? sig : SIGKILL);
	if (!strcmp(op, GCS_CONTAINER_OP_KILL_ALL))
		return uvm_runc(d, (const char *const[]){ "kill", "--all", id, num, NULL }, err);
	return uvm_runc(
		d,
		(const char *const[]){ !strcmp(op, GCS_CONTAINER_OP_PAUSE) ? "pause" : "resume", id,
				       NULL },
		err);
}
