/*
 * The agent against a hostile or broken world, on raw frames: paths swapped for symlinks while
 * it works on them, a runtime that never finishes, the bridge closing under a running
 * container, shutdowns of a container that already stopped, a restart after SIGKILL on the
 * leftovers of the killed agent, a disk removed while an overlay uses it, container IDs that
 * look like runc flags.
 *
 * Every test ends with the harness's checks: no leaked agent fds, no zombies, no mounts (in our
 * table and the agent's), no runc state, no cgroup named like the container, no loop devices,
 * the temp dirs removed.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "gcs/guid.h"
#include "gcs/messages.h"
#include "harness.h"

#define Z GCS_NULL_GUID_STRING
#define QUIET_MS 300
#define STEP_MS 20000

#define STUB_FAIL HARNESS_STUBS "/runc-fail"
#define STUB_HANG HARNESS_STUBS "/runc-hang"
#define STUB_RECORD HARNESS_STUBS "/runc-record"

static char *base_of(const char *cid)
{
	return json_text(json_pack("{s:s, s:s}", "ContainerId", cid, "ActivityId", Z));
}

static void expect_create_ok(struct ct *c, const char *script)
{
	char *resp = ct_create(c, ct_spec(c, script), STEP_MS);

	ck_assert_msg(json_result(resp) == 0, "Create %s: %s", c->cid, resp);
	free(resp);
	ck_assert_msg(ct_runc_state(c, NULL), "no runc state after Create");
}

/* Entries of a directory (not . and ..; none when it does not exist), listed into report. */
static int dir_entries(const char *dir, char *report, size_t len)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	report[0] = '\0';
	if (!d && errno == ENOENT)
		return 0;
	ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		size_t used = strlen(report);

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(report + used, len - used, "%s%s", n ? ", " : "", de->d_name);
		n++;
	}
	return n;
}

/* ---- the symlink-exchange race ---- */

#define RACE_TRIES 1002

/*
 * A child that swaps D and S (a symlink to O) with renameat2(RENAME_EXCHANGE) until killed;
 * it dies with us (PR_SET_PDEATHSIG). *count is shared.
 */
static pid_t exchanger_start(const char *d, const char *s, volatile unsigned long *count)
{
	pid_t parent = getpid(), pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid > 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	for (;;) {
		if (renameat2(AT_FDCWD, d, AT_FDCWD, s, RENAME_EXCHANGE) < 0)
			_exit(2);
		(*count)++;
	}
}

struct race_kind {
	const char *name;
	unsigned ok, refused;
};

/*
 * MappedVirtualDisk Add, CombinedLayers Add and Create (runc refuses at once) with their paths
 * under D while D and a symlink to O outside the run root keep changing places; each followed
 * by its Remove (or DeleteContainerState). Whatever the answers, nothing may land in O or be
 * mounted there, and after the last Removes nothing is mounted under the run root.
 */
START_TEST(test_symlink_exchange_race)
{
	static const char *const args[] = { "--runc", STUB_FAIL, NULL };
	char race[PATH_MAX], d[PATH_MAX], s[PATH_MAX], o[PATH_MAX], lower[PATH_MAX], mnt[PATH_MAX],
		rootfs[PATH_MAX], scratch[PATH_MAX], bundle[PATH_MAX], report[4096];
	struct race_kind kinds[3] = { { "MappedVirtualDisk" }, { "CombinedLayers" }, { "Create" } };
	struct gcs_error err = { 0 };
	volatile unsigned long *exchanges;
	char *del = base_of("race-c");
	struct stat st;
	pid_t ex;
	struct ct c;

	ct_start(&c, "race", false, args);
	ck_assert_msg(env_add_scsi(&c.env, harness_layers.base, true, 0, 1, &err) == 0, "%s",
		      err.message);
	ck_assert_msg(env_add_scsi(&c.env, harness_layers.base, true, 0, 2, &err) == 0, "%s",
		      err.message);
	snprintf(race, sizeof(race), "%s/race", c.env.run);
	snprintf(d, sizeof(d), "%s/d", race);
	snprintf(s, sizeof(s), "%s/s", race);
	snprintf(o, sizeof(o), "%s/outside", c.env.dir);
	snprintf(lower, sizeof(lower), "%s/layers/base", c.env.run);
	snprintf(mnt, sizeof(mnt), "%s/m", d);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", d);
	snprintf(scratch, sizeof(scratch), "%s/scratch", d);
	snprintf(bundle, sizeof(bundle), "%s/bundle", d);
	ck_assert_int_eq(mkdir(race, 0755), 0);
	ck_assert_int_eq(mkdir(d, 0755), 0);
	ck_assert_int_eq(mkdir(o, 0755), 0);
	ck_assert_int_eq(symlink(o, s), 0);
	raw_modify_ok(&c.ap, "Add", "MappedVirtualDisk",
		      json_pack("{s:s, s:i, s:b, s:[s]}", "MountPath", lower, "Lun", 1, "ReadOnly",
				1, "Options", "ro"));

	exchanges = mmap(NULL, sizeof(*exchanges), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert(exchanges != MAP_FAILED);
	*exchanges = 0;
	ex = exchanger_start(d, s, exchanges);
	for (unsigned i = 0; i < RACE_TRIES; i++) {
		struct race_kind *k = &kinds[i % 3];
		char *resp;
		int32_t r;

		if (i % 3 == 0) {
			resp = raw_modify(&c.ap, "Add", "MappedVirtualDisk",
					  json_pack("{s:s, s:i, s:b, s:[s]}", "MountPath", mnt,
						    "Lun", 2, "ReadOnly", 1, "Options", "ro"),
					  10000);
			r = json_result(resp);
			free(resp);
			free(raw_modify(&c.ap, "Remove", "MappedVirtualDisk",
					json_pack("{s:s}", "MountPath", mnt), 10000));
		} else if (i % 3 == 1) {
			resp = raw_modify(&c.ap, "Add", "CombinedLayers",
					  json_pack("{s:s, s:s, s:[{s:s}], s:s}", "ContainerID",
						    "race", "ContainerRootPath", rootfs, "Layers",
						    "Path", lower, "ScratchPath", scratch),
					  10000);
			r = json_result(resp);
			free(resp);
			free(raw_modify(&c.ap, "Remove", "CombinedLayers",
					json_pack("{s:s}", "ContainerRootPath", rootfs), 10000));
		} else {
			json_t *spec = ct_spec(&c, "true");
			char *body;

			json_object_set_new(json_object_get(spec, "root"), "path",
					    json_string(rootfs));
			body = ct_create_body(&c, "race-c", bundle, spec);
			resp = raw_call(&c.ap, GCS_MSG_CREATE_REQ, body, 10000);
			r = json_result(resp);
			free(resp);
			free(body);
			free(raw_call(&c.ap, GCS_MSG_DELETE_CONTAINER_STATE_REQ, del, 10000));
		}
		if (r == 0)
			k->ok++;
		else
			k->refused++;
	}
	kill(ex, SIGKILL);
	ck_assert_int_eq(waitpid(ex, NULL, 0), ex);
	printf("test_symlink_exchange_race: %lu exchanges; ", *exchanges);
	for (int i = 0; i < 3; i++)
		printf("%s%s %u succeeded, %u refused", i ? "; " : "", kinds[i].name, kinds[i].ok,
		       kinds[i].refused);
	printf("\n");
	fflush(stdout);
	ck_assert_msg(*exchanges > 0, "the exchanger never ran");
	munmap((void *)exchanges, sizeof(*exchanges));
	/* D is the directory again, then the last Removes. */
	ck_assert_int_eq(lstat(d, &st), 0);
	if (S_ISLNK(st.st_mode))
		ck_assert_int_eq(renameat2(AT_FDCWD, d, AT_FDCWD, s, RENAME_EXCHANGE), 0);
	ck_assert_msg(lstat(d, &st) == 0 && S_ISDIR(st.st_mode), "%s is not a directory", d);
	free(raw_modify(&c.ap, "Remove", "MappedVirtualDisk", json_pack("{s:s}", "MountPath", mnt),
			10000));
	free(raw_modify(&c.ap, "Remove", "CombinedLayers",
			json_pack("{s:s}", "ContainerRootPath", rootfs), 10000));
	free(raw_call(&c.ap, GCS_MSG_DELETE_CONTAINER_STATE_REQ, del, 10000));
	free(del);

	report[0] = '\0';
	ck_assert_msg(mounts_under(c.ap.pid, o, report, sizeof(report)) == 0 &&
			      mounts_under(0, o, report, sizeof(report)) == 0,
		      "mounted outside the run root: %s", report);
	ck_assert_msg(dir_entries(o, report, sizeof(report)) == 0,
		      "written outside the run root, into %s: %s", o, report);
	raw_modify_ok(&c.ap, "Remove", "MappedVirtualDisk", json_pack("{s:s}", "MountPath", lower));
	report[0] = '\0';
	ck_assert_msg(mounts_under(c.ap.pid, c.env.run, report, sizeof(report)) == 0 &&
			      mounts_under(0, c.env.run, report, sizeof(report)) == 0,
		      "left mounted after the last Removes: %s", report);
	ck_assert_msg(procs_matching(STUB_FAIL, c.env.runc_root, report, sizeof(report)) == 0,
		      "runc stand-ins left: %s", report);
	ct_stop(&c);
}
END_TEST

/* ---- a runtime that never finishes ---- */

/* Two runtime deadlines (runc create, then its cleanup), and 0.5 s to spawn and reap. */
#define HUNG_ANSWER_MS (1500 + 1500 + 500)
/* What runc-hang's processes are named. */
#define HUNG "lcow-hung-runc "

/*
 * runc sleeps forever; with --runtime-timeout 1500 Create is answered with an error within
 * 1.5 s + 1.5 s that says so, the runc process is gone, and the agent serves on.
 */
START_TEST(test_hung_runtime)
{
	static const char *const args[] = { "--runc", STUB_HANG, "--runtime-timeout", "1500",
					    NULL };
	char report[2048] = "", *body, *resp = NULL, *msg;
	int64_t t0, took, gone;
	uint64_t id;
	struct ct c;
	int rc;

	ct_start(&c, "ct-hang", false, args);
	body = ct_create_body(&c, NULL, c.bundle, ct_spec(&c, "true"));
	t0 = harness_now_ms();
	id = raw_request(&c.ap, GCS_MSG_CREATE_REQ, body);
	free(body);
	/* The stand-in is seen running (so that the scan below can see it). */
	while (procs_matching(HUNG, c.env.runc_root, NULL, 0) == 0) {
		ck_assert_msg(harness_now_ms() - t0 < 1000, "the hung runc never ran");
		usleep(10000);
	}
	rc = raw_response(&c.ap, id, (int)(t0 + HUNG_ANSWER_MS - harness_now_ms()), &resp);
	took = harness_now_ms() - t0;
	ck_assert_msg(rc == 0, "Create with a hung runc: no answer within %d ms", HUNG_ANSWER_MS);
	msg = json_member_str(resp, "ErrorMessage");
	printf("test_hung_runtime: answered after %lld ms: %s\n", (long long)took, resp);
	fflush(stdout);
	ck_assert_msg(json_result(resp) == HR_VMCOMPUTE_TIMEOUT,
		      "Create with a hung runc: want the timeout HRESULT 0xC0370109: %s", resp);
	for (char *p = msg; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	ck_assert_msg(strstr(msg, "timed out") || strstr(msg, "did not finish") ||
			      strstr(msg, "timeout"),
		      "the error does not say that runc did not finish: %s", resp);
	free(msg);
	free(resp);
	/* The answer may come a moment before the reap: 1 s. */
	for (gone = harness_now_ms() + 1000; procs_matching(HUNG, c.env.runc_root, NULL, 0) > 0;) {
		ck_assert_msg(
			harness_now_ms() < gone, "the hung runc is still there: %s",
			(procs_matching(HUNG, c.env.runc_root, report, sizeof(report)), report));
		usleep(10000);
	}
	raw_still_serving(&c.ap);
	/* The failed Create left no container behind. */
	free(raw_call_result(&c.ap, GCS_MSG_GET_PROPERTIES_REQ,
			     "{\"ContainerId\":\"ct-hang\",\"ActivityId\":\"" Z
			     "\",\"Query\":\"{}\"}",
			     HR_SYSTEM_NOT_FOUND, 5000));
	ct_stop(&c);
}
END_TEST

/* ---- the bridge closes under a running container ---- */

/* pid has exited (gone, or a zombie waiting for its reaper), within 2 s. */
static bool dead_within(pid_t pid, int ms)
{
	int64_t deadline = harness_now_ms() + ms;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (;;) {
		char buf[512] = "", *p;
		FILE *f = fopen(path, "re");
		bool dead = !f;

		if (f) {
			dead = !fgets(buf, sizeof(buf), f) || !(p = strrchr(buf, ')')) ||
			       p[2] == 'Z' || p[2] == 'X';
			fclose(f);
		}
		if (dead)
			return true;
		if (harness_now_ms() >= deadline)
			return false;
		usleep(10000);
	}
}

/*
 * A container with an exec'd `sleep 1000`: the bridge closes (--reconnect 0, the harness's
 * default): the agent exits 0 within 2 s, the container's processes are gone, and so are its
 * runc state, its cgroups, every mount and loop device.
 */
START_TEST(test_clean_exit_with_container)
{
	char report[4096] = "";
	uint32_t init, exec;
	int64_t t0, took;
	struct ct c;
	int status;

	ct_start(&c, "ct-clean-exit", true, NULL);
	ck_assert_msg(!c.ap.redials, "the agent must run with --reconnect 0");
	ct_storage_up(&c);
	expect_create_ok(&c, CT_INIT_TRAPS_TERM);
	init = ct_start_init(&c);
	ct_wait_ready(&c);
	exec = ct_exec(&c, (const char *const[]){ "sleep", "1000", NULL });
	ck_assert_msg(!dead_within((pid_t)init, 0) && !dead_within((pid_t)exec, 0),
		      "the container's processes are not running");

	close(c.ap.raw_fd);
	c.ap.raw_fd = -1;
	t0 = harness_now_ms();
	status = agent_wait_exit(&c.ap, 2000);
	took = harness_now_ms() - t0;
	if (status == -1) {
		kill(c.ap.pid, SIGKILL);
		waitpid(c.ap.pid, NULL, 0);
		ck_abort_msg("the agent did not exit within 2 s of the bridge closing");
	}
	printf("test_clean_exit_with_container: the agent exited after %lld ms\n", (long long)took);
	fflush(stdout);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "agent status 0x%x", status);
	ck_assert_msg(dead_within((pid_t)init, 2000), "the init %u outlived the agent", init);
	ck_assert_msg(dead_within((pid_t)exec, 2000), "the exec'd sleep %u outlived the agent",
		      exec);
	ck_assert_msg(env_leftovers(&c.env, 0, report, sizeof(report)) == 0,
		      "left behind by the agent: %s", report);
	ck_assert_msg(dir_entries(c.env.runc_root, report, sizeof(report)) == 0,
		      "runc state left: %s", report);
	ck_assert_msg(cgroups_named(c.cid, report, sizeof(report)) == 0, "left behind: %s", report);
	agent_release(&c.ap);
	ct_finish(&c);
}
END_TEST

/* ---- shutdowns of a container that already stopped ---- */

START_TEST(test_shutdown_after_init_exit)
{
	struct ct c;
	uint32_t init;
	char *base;

	ct_start(&c, "ct-exited", true, NULL);
	ct_storage_up(&c);
	expect_create_ok(&c, "exit 3");
	init = ct_start_init(&c);
	ck_assert_uint_eq(raw_wait_end(&c.ap, raw_wait_start(&c.ap, c.cid, init), STEP_MS), 3);
	ck_assert_msg(raw_wait_notes(&c.ap, 1, STEP_MS) >= 1, "no notification for %s", c.cid);
	base = base_of(c.cid);
	free(raw_call_result(&c.ap, GCS_MSG_SHUTDOWN_GRACEFUL_REQ, base, 0, STEP_MS));
	free(raw_call_result(&c.ap, GCS_MSG_SHUTDOWN_FORCED_REQ, base, 0, STEP_MS));
	free(base);
	raw_quiet(&c.ap, QUIET_MS);
	ck_assert_msg(c.ap.n_notes == 1, "%zu notifications, want 1", c.ap.n_notes);
	ck_assert_str_eq(c.ap.notes[0].cid, c.cid);
	ck_assert_str_eq(c.ap.notes[0].type, "UnexpectedExit");
	ct_delete(&c);
	ct_storage_down(&c);
	ct_stop(&c);
}
END_TEST

/* ---- a restart after SIGKILL ---- */

/* s mentions path as a whole (not as the prefix of a longer path). */
static bool mentions(const char *s, const char *path)
{
	size_t n = strlen(path);

	for (const char *p = s; (p = strstr(p, path)); p++) {
		char next = p[n];

		if (next != '/' && next != '-' && next != '_' && next != '.' &&
		    !(next >= '0' && next <= '9') && !(next >= 'a' && next <= 'z') &&
		    !(next >= 'A' && next <= 'Z'))
			return true;
	}
	return false;
}

/* Some warning line of agent.log after offset mentions what (in any field). */
static bool warned_about(const struct agent_proc *ap, long offset, const char *what)
{
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/agent.log", ap->dir);
	f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, offset, SEEK_SET), 0);
	while (!found && getline(&line, &cap, f) > 0) {
		json_t *o = json_loads(line, 0, NULL);
		const char *level = json_string_value(json_object_get(o, "level"));

		found = level && (!strcmp(level, "warning") || !strcmp(level, "warn")) &&
			mentions(line, what);
		json_decref(o);
	}
	free(line);
	fclose(f);
	return found;
}

static long file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (long)st.st_size;
}

/*
 * Agent A mounts a layer disk, a pmem layer, a scratch disk and an overlay, creates a
 * container, and is SIGKILLed. Agent B on the same run root and runc root removes all of it
 * before it serves (a warning for each), then the same Adds and Create succeed.
 */
START_TEST(test_restart_after_sigkill)
{
	char report[4096] = "", log[PATH_MAX];
	const char *leftovers[5];
	long offset;
	struct ct c;

	ct_start(&c, "ct-restart", true, NULL);
	ct_storage_up(&c);
	expect_create_ok(&c, "sleep 1000");
	agent_kill(&c.ap);
	ck_assert_msg(mounts_under(0, c.env.run, report, sizeof(report)) >= 4,
		      "SIGKILL left fewer mounts than expected: %s", report);
	ck_assert_msg(ct_runc_state(&c, NULL), "SIGKILL left no runc state");

	snprintf(log, sizeof(log), "%s/agent.log", c.ap.dir);
	offset = file_size(log);
	agent_respawn(&c.ap, &(struct agent_start_opts){ .raw = true,
							 .args = c.args,
							 .parent_dir = harness_layers.dir });
	ck_assert_int_eq(env_set_agent(&c.env, c.ap.pid), 0);
	raw_negotiate(&c.ap);
	report[0] = '\0';
	ck_assert_msg(mounts_under(0, c.env.run, report, sizeof(report)) == 0 &&
			      mounts_under(c.ap.pid, c.env.run, report, sizeof(report)) == 0,
		      "the new agent serves with the old mounts: %s", report);
	ck_assert_msg(!ct_runc_state(&c, NULL), "the new agent serves with the old runc state");
	ck_assert_msg(cgroups_named(c.cid, report, sizeof(report)) == 0,
		      "the new agent serves with the old cgroups: %s", report);
	leftovers[0] = c.rootfs;
	leftovers[1] = c.bundle;
	leftovers[2] = c.pmem_layer;
	leftovers[3] = c.scsi_layer;
	leftovers[4] = c.cid;
	for (size_t i = 0; i < ARRAY_SIZE(leftovers); i++)
		ck_assert_msg(warned_about(&c.ap, offset, leftovers[i]),
			      "no warning about the leftover %s in the new agent's log",
			      leftovers[i]);

	ct_storage_up(&c);
	expect_create_ok(&c, "sleep 1000");
	ct_delete(&c);
	ct_storage_down(&c);
	ct_stop(&c);
}
END_TEST

/* ---- a disk that backs a live overlay ---- */

START_TEST(test_remove_disk_under_overlay)
{
	char got[64], *resp, *msg;
	struct ct c;

	ct_start(&c, "ct-busy", true, NULL);
	ct_storage_up(&c);
	resp = raw_modify(&c.ap, "Remove", "MappedVirtualDisk",
			  json_pack("{s:s}", "MountPath", c.scsi_layer), STEP_MS);
	msg = json_member_str(resp, "ErrorMessage");
	ck_assert_msg(json_result(resp) == HR_FAIL, "Remove of a layer under an overlay: %s", resp);
	ck_assert_msg(strstr(msg, c.rootfs) != NULL, "the error does not name the overlay %s: %s",
		      c.rootfs, resp);
	free(msg);
	free(resp);
	ck_assert_msg(mount_fstype(c.ap.pid, c.scsi_layer, got, sizeof(got)) == 0,
		      "the layer was unmounted under the overlay");
	ck_assert_msg(mount_fstype(c.ap.pid, c.rootfs, got, sizeof(got)) == 0 &&
			      !strcmp(got, "overlay"),
		      "the overlay is gone");

	raw_modify_ok(&c.ap, "Remove", "CombinedLayers",
		      json_pack("{s:s}", "ContainerRootPath", c.rootfs));
	raw_modify_ok(&c.ap, "Remove", "MappedVirtualDisk",
		      json_pack("{s:s}", "MountPath", c.scsi_layer));
	raw_modify_ok(&c.ap, "Remove", "SCSIDevice", json_pack("{s:i}", "Lun", 1));
	raw_modify_ok(&c.ap, "Remove", "MappedVirtualDisk",
		      json_pack("{s:s}", "MountPath", c.bundle));
	raw_modify_ok(&c.ap, "Remove", "SCSIDevice", json_object());
	raw_modify_ok(&c.ap, "Remove", "VPMemDevice",
		      json_pack("{s:s}", "MountPath", c.pmem_layer));
	ct_stop(&c);
}
END_TEST

/* ---- container IDs that look like flags ---- */

/*
 * Every runc call that carries id carries it after a "--" (runc-calls.log, tab-separated);
 * returns how many calls carried it.
 */
static int runc_never_took_as_flag(struct ct *c, const char *id)
{
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0;
	int calls = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/runc-calls.log", c->env.run);
	f = fopen(path, "re");
	if (!f) {
		ck_assert_int_eq(errno, ENOENT);
		return 0;
	}
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *copy;
		bool after_dd = false, carried = false;

		line[strcspn(line, "\n")] = '\0';
		copy = strdup(line);
		for (char *a = strtok_r(copy, "\t", &save); a; a = strtok_r(NULL, "\t", &save)) {
			if (!strcmp(a, "--"))
				after_dd = true;
			if (strcmp(a, id) != 0)
				continue;
			ck_assert_msg(after_dd, "runc got the container ID %s as a flag: runc %s",
				      id, line);
			carried = true;
		}
		calls += carried;
		free(copy);
	}
	free(line);
	fclose(f);
	return calls;
}

START_TEST(test_flag_like_container_ids)
{
	static const char *const args[] = { "--runc", STUB_RECORD, NULL };
	static const char *const ids[] = { "--help", "-rf" };
	char root[PATH_MAX], ctr[PATH_MAX], out[512], report[2048];
	struct ct c;

	ct_start(&c, "flags", false, args);
	snprintf(ctr, sizeof(ctr), "%s/ctr", c.env.run);
	snprintf(root, sizeof(root), "%s/rootfs", ctr);
	ck_assert_int_eq(mkdir(ctr, 0755), 0);
	ck_assert_int_eq(
		run_cmd((const char *const[]){ "cp", "-a", harness_layers.base_tree, root, NULL },
			STEP_MS, out, sizeof(out)),
		0);
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		char bundle[PATH_MAX], *body, *resp;
		json_t *spec = ct_spec(&c, "true");
		bool accepted;
		int calls;

		snprintf(bundle, sizeof(bundle), "%s/gcs/c/flag%zu", c.env.run, i);
		json_object_set_new(json_object_get(spec, "root"), "path", json_string(root));
		body = ct_create_body(&c, ids[i], bundle, spec);
		resp = raw_call(&c.ap, GCS_MSG_CREATE_REQ, body, STEP_MS);
		printf("test_flag_like_container_ids: Create %s: %s\n", ids[i], resp);
		fflush(stdout);
		accepted = json_result(resp) == 0;
		if (accepted) {
			char *base = base_of(ids[i]);

			ck_assert_msg(ct_runc_state(&c, ids[i]), "Create %s: no runc state",
				      ids[i]);
			free(raw_call_result(&c.ap, GCS_MSG_DELETE_CONTAINER_STATE_REQ, base, 0,
					     STEP_MS));
			free(base);
		}
		free(resp);
		free(body);
		calls = runc_never_took_as_flag(&c, ids[i]);
		ck_assert_msg(!accepted || calls >= 2,
			      "Create %s was accepted, but runc-calls.log shows %d calls with it",
			      ids[i], calls);
		ck_assert_msg(!ct_runc_state(&c, ids[i]), "runc state of %s left", ids[i]);
		ck_assert_msg(dir_entries(c.env.runc_root, report, sizeof(report)) == 0,
			      "runc state left: %s", report);
		ck_assert_msg(cgroups_named(ids[i], report, sizeof(report)) == 0, "left behind: %s",
			      report);
	}
	ck_assert_int_eq(
		run_cmd((const char *const[]){ "rm", "-rf", "--one-file-system", ctr, NULL },
			STEP_MS, out, sizeof(out)),
		0);
	ct_stop(&c);
}
END_TEST

int main(void)
{
	const struct harness_test tests[] = {
		HARNESS_TEST(test_symlink_exchange_race, 120),
		HARNESS_TEST(test_hung_runtime, 30),
		HARNESS_TEST(test_clean_exit_with_container, 60),
		HARNESS_TEST(test_shutdown_after_init_exit, 60),
		HARNESS_TEST(test_restart_after_sigkill, 60),
		HARNESS_TEST(test_remove_disk_under_overlay, 60),
		HARNESS_TEST(test_flag_like_container_ids, 60),
	};

	return harness_main("agent-hostile", tests, ARRAY_SIZE(tests));
}
