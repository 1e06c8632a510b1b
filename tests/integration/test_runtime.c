/*
 * The host runtime core (lcow/runtime.h) on a process-mode UVM: a container from a layer image
 * and a scratch, its init started with a pipe for stdout, its exit awaited (code and output),
 * an exec kept and waited for, then delete and stop with nothing left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lcow/runtime.h>

#include "ctx.h"

static const char spec_json[] =
	"{\"ociVersion\":\"1.1.0\","
	"\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},"
	"\"args\":[\"/bin/sh\",\"-c\",\"cat " LAYERS_BASE_FILE "; read x; exit 7\"],"
	"\"env\":[\"PATH=/bin:/sbin:/usr/bin\"],\"cwd\":\"/\"},"
	"\"root\":{\"path\":\"rootfs\"},\"hostname\":\"rt\","
	"\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"}],"
	"\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},"
	"{\"type\":\"mount\"}]}}";

struct exits {
	pthread_mutex_t lock;
	unsigned n;
	uint32_t last_code;
};

static void on_exit_cb(void *user, const char *id, uint32_t pid, uint32_t code)
{
	struct exits *e = user;

	(void)id;
	(void)pid;
	pthread_mutex_lock(&e->lock);
	e->n++;
	e->last_code = code;
	pthread_mutex_unlock(&e->lock);
}

static size_t read_all(int fd, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < len && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	return n;
}

START_TEST(test_runtime_lifecycle)
{
	struct exits ex = { .lock = PTHREAD_MUTEX_INITIALIZER };
	char dir[128], cdir[160], scratch[200], vmdir[160], out[512];
	struct gcs_error err = { 0 };
	struct lcow_rt_options o = {
		.id = "rt-uvm", .mode = LCOW_RT_PROCESS, .on_exit = on_exit_cb, .user = &ex
	};
	struct lcow_rt *rt = NULL;
	struct lcow_rt_ctr *x;
	struct lcow_rt_state st;
	int in[2], outp[2], fds[3], devnull, fd;
	json_t *spec, *proc;
	uint32_t pid = 0, code = 0;

	ck_assert_msg(layers_ok, "%s", layers_error);
	snprintf(dir, sizeof(dir), "%s/t-rt-XXXXXX", layers.dir);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cdir, sizeof(cdir), "%s/c", dir);
	snprintf(vmdir, sizeof(vmdir), "%s/vm", dir);
	snprintf(scratch, sizeof(scratch), "%s/scratch.img", cdir);
	ck_assert_int_eq(mkdir(cdir, 0700), 0);
	fd = open(scratch, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 1LL << 30), 0);
	close(fd);
	setenv("LCOW_AGENT", LCOW_AGENT, 1);
	o.dir = dir;
	OK(lcow_rt_start(&o, false, &rt, &err));

	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(outp, O_CLOEXEC), 0);
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	fds[0] = in[0];
	fds[1] = outp[1];
	fds[2] = devnull;
	spec = json_loads(spec_json, 0, NULL);
	ck_assert_ptr_nonnull(spec);
	{
		const char *layer_paths[] = { layers.base };
		struct lcow_rt_create_options co = { .id = "rt-c1",
						     .dir = cdir,
						     .spec = spec,
						     .layers = layer_paths,
						     .n_layers = 1,
						     .scratch = scratch,
						     .fds = fds,
						     .n_fds = 3 };
		OK(lcow_rt_create(rt, &co, &pid, &err));
	}
	json_decref(spec);
	x = lcow_rt_ctr_get(rt, "rt-c1");
	ck_assert_ptr_nonnull(x);
	lcow_rt_ctr_state(rt, x, &st);
	ck_assert_int_eq(st.status, LCOW_RT_CREATED);
	ck_assert_ptr_null(lcow_rt_ctr_get(rt, "rt-c2"));

	OK(lcow_rt_start_init(rt, x, 0, 0, &pid, &err));
	ck_assert_uint_gt(pid, 0);
	lcow_rt_ctr_state(rt, x, &st);
	ck_assert_int_eq(st.status, LCOW_RT_RUNNING);
	/* still running: the wait times out */
	ck_assert_int_eq(lcow_rt_wait(rt, x, 0, 100, &code, &err), -ETIMEDOUT);

	/* an exec kept for its exit */
	proc = lcow_rt_ctr_process(rt, x);
	json_object_set_new(proc, "args", json_pack("[s,s,s]", "/bin/sh", "-c", "exit 3"));
	{
		int efd[1] = { open("/dev/null", O_RDWR | O_CLOEXEC) };
		uint32_t epid = 0;
		OK(lcow_rt_exec(rt, x, proc, efd, 1, 0, 0, true, &epid, &err));
		OK(lcow_rt_wait(rt, x, epid, STEP_MS, &code, &err));
		ck_assert_uint_eq(code, 3);
		lcow_rt_release(rt, x, epid);
		ck_assert_int_eq(lcow_rt_wait(rt, x, epid, 0, &code, &err), -ESRCH);
	}
	json_decref(proc);

	/* the init reads a line, then exits 7 */
	close(in[0]);
	close(outp[1]);
	close(devnull);
	ck_assert_int_eq(write(in[1], "go\n", 3), 3);
	close(in[1]);
	OK(lcow_rt_wait(rt, x, 0, STEP_MS, &code, &err));
	ck_assert_uint_eq(code, 7);
	read_all(outp[0], out, sizeof(out));
	close(outp[0]);
	ck_assert_msg(strstr(out, LAYERS_BASE_TEXT), "stdout: %s", out);
	lcow_rt_ctr_state(rt, x, &st);
	ck_assert_int_eq(st.status, LCOW_RT_STOPPED);
	ck_assert(st.exited);
	ck_assert_uint_eq(st.exit_code, 7);
	/* the exec's and the init's exits, delivered after the waits saw them */
	for (int i = 0; i < STEP_MS / 10; i++) {
		unsigned n;
		pthread_mutex_lock(&ex.lock);
		n = ex.n;
		pthread_mutex_unlock(&ex.lock);
		if (n >= 2)
			break;
		usleep(10000);
	}
	pthread_mutex_lock(&ex.lock);
	ck_assert_uint_eq(ex.n, 2);
	ck_assert_uint_eq(ex.last_code, 7);
	pthread_mutex_unlock(&ex.lock);

	OK(lcow_rt_delete(rt, x, false, &err));
	lcow_rt_ctr_put(rt, x);
	ck_assert_ptr_null(lcow_rt_ctr_get(rt, "rt-c1"));
	ck_assert(lcow_rt_claim_last(rt));
	lcow_rt_stop(rt);
	lcow_rt_free(rt);
	/* nothing left: the UVM's state went, and a sweep finds nothing */
	ck_assert_int_ne(access(vmdir, F_OK), 0);
	ck_assert_int_eq(lcow_rt_uvm_sweep(vmdir), 0);
	ck_assert_int_ne(access(cdir, F_OK), 0); /* the container's directory went with it */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("runtime");

	ADD_TEST(s, test_runtime_lifecycle);
	return ctx_run_suite(s, "test_runtime");
}
