/*
 * Containers end to end (spec sections 7, 8, 10, 11 and 14): the real agent with its run root,
 * sysfs and /dev pointed into a test directory, busybox layers on loop devices presented as a
 * SCSI LUN and a pmem device, real runc. Each test drives hcsshim's sequence through libgcs and
 * checks both sides: the answers, and what the agent did (mounts, files seen through the
 * overlay, runc state, unplugs), then that nothing is left behind (mounts, runc state, loop
 * devices, agent fds).
 *
 * Agent flags: --run-root <dir>/run --sysfs-root <dir>/sys --dev-root <dir>/dev
 * --runc-root <dir>/run/runc. Guest paths follow hcsshim's V1 layout under <dir>/run:
 * <run>/mounts/scsi/m0 (base layer, SCSI controller 0 LUN 1), <run>/layers/p0 (upper layer,
 * pmem 0), <run>/gcs/c/<cid> (scratch disk on LUN 0, and the bundle), <run>/gcs/c/<cid>/rootfs
 * (overlay), <run>/gcs/c/<cid>/scratch/<cid> (its upper and work directories).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "gcs/frame.h"
#include "gcs/guid.h"
#include "gcs/messages.h"
#include "harness.h"
#include "layers.h"

#include "ctx.h"

/* ---- the fixture itself (needs no agent) ---- */

/*
 * The layers mount and stack as the agent will stack them (the whiteout hides the base's file),
 * the scratch image is blank, the stand-in sysfs has the agent's lookup paths, and the teardown
 * reports and removes a mount left behind.
 */
START_TEST(test_fixture)
{
	struct test_env e;
	struct gcs_error err = { 0 };
	char scratch[256], p[PATH_MAX], q[PATH_MAX], buf[256], report[2048] = "";
	unsigned char magic[2];
	struct stat st;
	int fd;

	OK(env_create(&e, &layers, &err));
	OK(env_add_scsi(&e, layers.base, true, 0, 1, &err));
	OK(env_add_pmem(&e, layers.upper, 0, &err));
	OK(env_blank_image(&e, "scratch.img", 64 << 20, scratch, sizeof(scratch), &err));
	OK(env_add_scsi(&e, scratch, false, 0, 0, &err));

	/* The agent's lookups: controller GUID -> host<N>, N:0:0:<lun>/block/<name>, dev/<name>. */
	snprintf(p, sizeof(p), "%s/bus/vmbus/devices/%s/host%d", e.sys,
		 layers_scsi_controller_guid[0], LAYERS_SCSI_HOST(0));
	ck_assert_msg(stat(p, &st) == 0 && S_ISDIR(st.st_mode), "%s", p);
	for (unsigned lun = 0; lun < 2; lun++) {
		struct env_disk *d = &e.disks[lun == 1 ? 0 : 2];
		snprintf(p, sizeof(p), "%s/bus/scsi/devices/%d:0:0:%u/block/loop%d", e.sys,
			 LAYERS_SCSI_HOST(0), lun, d->loop);
		ck_assert_msg(stat(p, &st) == 0 && S_ISDIR(st.st_mode), "%s", p);
		snprintf(p, sizeof(p), "%s/loop%d", e.dev, d->loop);
		ck_assert_msg(stat(p, &st) == 0 && S_ISBLK(st.st_mode), "%s", p);
		snprintf(p, sizeof(p), "/sys/block/loop%d/ro", d->loop);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(read(fd, buf, 1), 1);
		close(fd);
		ck_assert_int_eq(buf[0], lun == 1 ? '1' : '0');
	}
	snprintf(p, sizeof(p), "%s/pmem0", e.dev);
	ck_assert_msg(stat(p, &st) == 0 && S_ISBLK(st.st_mode), "%s", p);
	ck_assert_int_eq(env_unplugged(&e, 0, 1, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");

	/* Blank: no ext4 superblock magic (0xEF53 at 1080). */
	fd = open(scratch, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, magic, 2, 1080), 2);
	close(fd);
	ck_assert(!(magic[0] == 0x53 && magic[1] == 0xEF));

	/* base + upper as a read-only overlay, as the agent's CombinedLayers will stack them. */
	const char *names[] = { "", "/base", "/upper", "/root" };
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/mnt%s", e.dir, names[i]);
		ck_assert_int_eq(mkdir(p, 0755), 0);
	}
	snprintf(p, sizeof(p), "%s/loop%d", e.dev, e.disks[0].loop);
	snprintf(q, sizeof(q), "%s/mnt/base", e.dir);
	ck_assert_msg(mount(p, q, "ext4", MS_RDONLY, "noload") == 0, "mount %s: %m", p);
	snprintf(p, sizeof(p), "%s/pmem0", e.dev);
	snprintf(q, sizeof(q), "%s/mnt/upper", e.dir);
	ck_assert_msg(mount(p, q, "ext4", MS_RDONLY, "noload") == 0, "mount %s: %m", p);
	snprintf(buf, sizeof(buf), "lowerdir=%s/mnt/upper:%s/mnt/base", e.dir, e.dir);
	snprintf(q, sizeof(q), "%s/mnt/root", e.dir);
	ck_assert_msg(mount("overlay", q, "overlay", MS_RDONLY, buf) == 0, "overlay: %m");
	snprintf(p, sizeof(p), "%s%s", q, LAYERS_UPPER_FILE);
	ck_assert_int_eq(stat(p, &st), 0);
	snprintf(p, sizeof(p), "%s%s", q, LAYERS_BASE_FILE);
	ck_assert_int_eq(stat(p, &st), 0);
	snprintf(p, sizeof(p), "%s/bin/sh", q);
	ck_assert_msg(stat(p, &st) == 0 && (st.st_mode & 0111), "%s", p);
	snprintf(p, sizeof(p), "%s%s", q, LAYERS_WHITED_OUT);
	ck_assert_msg(stat(p, &st) < 0 && errno == ENOENT, "the whiteout did not hide %s",
		      LAYERS_WHITED_OUT);
	snprintf(p, sizeof(p), "%s/mnt/base%s", e.dir, LAYERS_WHITED_OUT);
	ck_assert_int_eq(stat(p, &st), 0);

	/* Left mounted on purpose: the teardown must report all three and clean up anyway. */
	ck_assert_int_eq(mounts_under(0, e.dir, NULL, 0), 3);
	snprintf(q, sizeof(q), "%s", e.dir);
	ck_assert_int_eq(env_destroy(&e, report, sizeof(report)), 3);
	ck_assert_msg(strstr(report, "/mnt/root") != NULL, "%s", report);
	ck_assert_int_eq(mounts_under(0, layers.dir, NULL, 0), 0);
	report[0] = '\0';
	ck_assert_msg(loops_backed_under(layers.dir, report, sizeof(report)) == 0, "%s", report);
	ck_assert_msg(stat(q, &st) < 0 && errno == ENOENT, "%s is still there", q);
	ck_assert_int_eq(stat(layers.base, &st), 0);
}
END_TEST

/* ---- transcript ---- */

static char *recorded(bool to_guest, uint32_t type, uint64_t id)
{
	char *body = transcript_body(to_guest, type, id, true);

	ck_assert_msg(body != NULL, "type 0x%08x id %llu is not in the transcript", type,
		      (unsigned long long)id);
	return body;
}

static char *recorded_raw(bool to_guest, uint32_t type, uint64_t id)
{
	char *body = transcript_body(to_guest, type, id, false);

	ck_assert_msg(body != NULL, "type 0x%08x id %llu is not in the transcript", type,
		      (unsigned long long)id);
	return body;
}

/* ---- libgcs's requests, on the wire (a fake guest answers) ---- */

/* The recorded session's container, and what stands for the recorder's "<dir>". */
#define RCID "c1795847347096192243"
#define RDIR "/tmp/gcsdrive"
#define CID "3f2a9c0e7b1d4e6f8a5b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60e1"
_Static_assert(sizeof(CID) == 65, "hcsshim's container IDs are 64 hex characters");
#define HDR(cid) "{\"ContainerId\":\"" cid "\",\"ActivityId\":\"" Z "\""
#define MODIFY(rt, res, settings)                                                \
	HDR(Z)                                                                   \
	",\"Request\":{\"RequestType\":\"" rt "\",\"ResourceType\":\"" res "\"," \
	"\"Settings\":" settings "}}\n"

static void expect_output(struct gcs_process *p, int stream, uint32_t port)
{
	char buf[128] = "", want[64];
	size_t len = 0;

	snprintf(want, sizeof(want), "hello %u\n", port);
	read_until(gcs_process_stdio_fd(p, stream), buf, sizeof(buf), &len, NULL);
	ck_assert_str_eq(buf, want);
}

/*
 * Every helper against the bodies hcsshim sends: the vectors of spec section 14.1 and 10.1, and
 * the recorded session's container exec (id 112) and Create (id 108, recorded truncated: the
 * prefix is compared).
 */
START_TEST(test_wrappers_wire)
{
	const char *const lower[] = { "/run/layers/p0" };
	struct gcs_stdio all[3] = { { GCS_STDIO_SOCKET },
				    { GCS_STDIO_SOCKET },
				    { GCS_STDIO_SOCKET } };
	struct gcs_stdio out[3] = { [GCS_STDOUT] = { GCS_STDIO_SOCKET } };
	struct gcs_error err = { 0 };
	struct fake_guest g;
	struct gcs_process *p;
	struct gcs_bridge *b;
	size_t next = 0;
	char dir[128];
	json_t *doc;
	char *want;

	/* Under the suite's directory: the sweep removes it if the test fails. */
	snprintf(dir, sizeof(dir), "%s/t-XXXXXX", layers.dir);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	fake_guest_start(&g, dir);
	b = g.b;

	/* 14.1 ids 1-3 */
	ck_assert_int_eq(gcs_add_pmem_layer(b, 0, "/run/layers/p0", &err), 0);
	fake_guest_expect(&g, &next, GCS_MSG_MODIFY_SETTINGS_REQ,
			  MODIFY("Add", "VPMemDevice", "{\"MountPath\":\"/run/layers/p0\"}"));
	ck_assert_int_eq(gcs_add_scratch_disk(b, 0, 0, "/run/gcs/c/" CID, &err), 0);
	fake_guest_expect(&g, &next, GCS_MSG_MODIFY_SETTINGS_REQ,
			  MODIFY("Add", "MappedVirtualDisk",
				 "{\"MountPath\":\"/run/gcs/c/" CID "\",\"EnsureFilesystem\":true,"
				 "\"Filesystem\":\"ext4\"}"));
	ck_assert_int_eq(gcs_combine_layers(b, CID, "/run/gcs/c/" CID "/rootfs", lower, 1,
					    "/run/gcs/c/" CID "/scratch/" CID, &err),
			 0);
	fake_guest_expect(&g, &next, GCS_MSG_MODIFY_SETTINGS_REQ,
			  MODIFY("Add", "CombinedLayers",
				 "{\"ContainerID\":\"" CID
				 "\",\"ContainerRootPath\":\"/run/gcs/c/" CID
				 "/rootfs\",\"Layers\":[{\"Path\":\"/run/layers/p0\"}],"
				 "\"ScratchPath\":\"/run/gcs/c/" CID "/scratch/" CID "\"}"));
	/* 10.1: a read-only SCSI layer */
	ck_assert_int_eq(gcs_add_scsi_layer(b, 0, 1, "/run/mounts/scsi/m0", true, &err), 0);
	fake_guest_expect(
		&g, &next, GCS_MSG_MODIFY_SETTINGS_REQ,
		MODIFY("Add", "MappedVirtualDisk",
		       "{\"MountPath\":\"/run/mounts/scsi/m0\",\"Lun\":1,\"ReadOnly\":true,"
		       "\"Options\":[\"ro\"]}"));
	ck_assert_int_eq(gcs_add_scsi_layer(b, 2, 5, "/run/mounts/scsi/m1", false, &err), 0);
	fake_guest_expect(
		&g, &next, GCS_MSG_MODIFY_SETTINGS_REQ,
		MODIFY("Add", "MappedVirtualDisk",
		       "{\"MountPath\":\"/run/mounts/scsi/m1\",\"Lun\":5,\"Controller\":2}"));

	/* 14.1 id 4: Create */
	doc = json_pack("{s:s, s:{s:[s], s:s, s:{s:i, s:i}}, s:{s:s}, s:{}}", "ociVersion", "1.1.0",
			"process", "args", "/bin/sh", "cwd", "/", "user", "uid", 0, "gid", 0,
			"root", "path", "/run/gcs/c/" CID "/rootfs", "linux");
	ck_assert_int_eq(gcs_create_container_spec(b, CID, "/run/gcs/c/" CID, doc,
						   "/run/gcs/c/" CID "/scratch/" CID, &err),
			 0);
	json_decref(doc);
	fake_guest_expect(
		&g, &next, GCS_MSG_CREATE_REQ,
		HDR(CID) ",\"ContainerConfig\":\"{\\\"SchemaVersion\\\":{\\\"Major\\\":2,"
			 "\\\"Minor\\\":1},\\\"OciBundlePath\\\":\\\"/run/gcs/c/" CID "\\\","
			 "\\\"OciSpecification\\\":{\\\"ociVersion\\\":\\\"1.1.0\\\","
			 "\\\"process\\\":{\\\"args\\\":[\\\"/bin/sh\\\"],\\\"cwd\\\":\\\"/\\\","
			 "\\\"user\\\":{\\\"uid\\\":0,\\\"gid\\\":0}},\\\"root\\\":{\\\"path\\\":"
			 "\\\"/run/gcs/c/" CID "/rootfs\\\"},\\\"linux\\\":{}},"
			 "\\\"ScratchDirPath\\\":\\\"/run/gcs/c/" CID "/scratch/" CID "\\\"}\"}\n");
	/* 14.1 ids 5-6: Start, then the init with the three streams on the first three ports */
	ck_assert_int_eq(gcs_start_container(b, CID, &err), 0);
	fake_guest_expect(&g, &next, GCS_MSG_START_REQ, HDR(CID) "}\n");
	OK(gcs_start_init(b, CID, all, &p, &err));
	fake_guest_expect(
		&g, &next, GCS_MSG_EXECUTE_PROCESS_REQ,
		HDR(CID) ",\"Settings\":{\"ProcessParameters\":\"{\\\"CreateStdInPipe\\\":true,"
			 "\\\"CreateStdOutPipe\\\":true,\\\"CreateStdErrPipe\\\":true}\","
			 "\"VsockStdioRelaySettings\":{\"StdIn\":1073741825,"
			 "\"StdOut\":1073741826,\"StdErr\":1073741827}}}\n");
	ck_assert_uint_eq(gcs_process_pid(p), 900);
	expect_output(p, GCS_STDOUT, 1073741826);
	expect_output(p, GCS_STDERR, 1073741827);
	gcs_process_free(p);
	/* 14.1 id 8: an exec with stdout only */
	doc = json_pack("{s:[s], s:s, s:{s:i, s:i}}", "args", "ps", "cwd", "/", "user", "uid", 0,
			"gid", 0);
	OK(gcs_container_exec(b, CID, doc, out, &p, &err));
	json_decref(doc);
	fake_guest_expect(
		&g, &next, GCS_MSG_EXECUTE_PROCESS_REQ,
		HDR(CID) ",\"Settings\":{\"ProcessParameters\":\"{\\\"CreateStdOutPipe\\\":true,"
			 "\\\"OciProcess\\\":{\\\"args\\\":[\\\"ps\\\"],\\\"cwd\\\":\\\"/\\\","
			 "\\\"user\\\":{\\\"uid\\\":0,\\\"gid\\\":0}}}\","
			 "\"VsockStdioRelaySettings\":{\"StdOut\":1073741828}}}\n");
	expect_output(p, GCS_STDOUT, 1073741828);
	gcs_process_free(p);
	/* The recording's id 112: its port, 0x40000005, is the next one here too. */
	doc = json_pack("{s:{s:i, s:i}, s:[s, s, s], s:[s], s:s}", "user", "uid", 0, "gid", 0,
			"args", "/bin/sh", "-c", "echo exec-in-container $(hostname)", "env",
			"PATH=/bin", "cwd", "/");
	ck_assert_msg(gcs_container_exec(b, RCID, doc, out, &p, &err) == 0, "%s", err.message);
	json_decref(doc);
	want = recorded(true, GCS_MSG_EXECUTE_PROCESS_REQ, 112);
	{
		/* The recording shows host bodies without json.Encoder's newline. */
		char *nl = malloc(strlen(want) + 2);
		sprintf(nl, "%s\n", want);
		fake_guest_expect(&g, &next, GCS_MSG_EXECUTE_PROCESS_REQ, nl);
		free(nl);
	}
	free(want);
	gcs_process_free(p);
	/*
	 * The recording's id 108, up to where the recorder cut it. The recorder wrote "<dir>" over
	 * its temporary directory; on the wire the inner document would escape '<' as \u003c
	 * (json.Marshal), so a real path stands in for it on both sides.
	 */
	doc = json_pack("{s:s, s:{s:{s:i, s:i}, s:[s, s, s], s:[s], s:s}, s:{s:s}, s:s, s:[{s:s, "
			"s:s, s:s}], s:{s:[{s:s}]}}",
			"ociVersion", "1.0.2", "process", "user", "uid", 0, "gid", 0, "args",
			"/bin/sh", "-c", "echo container-init-hello; exec sleep 30", "env",
			"PATH=/bin:/sbin:/usr/bin", "cwd", "/", "root", "path", RDIR "/ctr/rootfs",
			"hostname", "gcsdrive", "mounts", "destination", "/proc", "type", "proc",
			"source", "proc", "linux", "namespaces", "type", "pid");
	ck_assert_int_eq(
		gcs_create_container_spec(b, RCID, RDIR "/ctr/bundle-" RCID, doc, NULL, &err), 0);
	json_decref(doc);
	want = recorded(true, GCS_MSG_CREATE_REQ, 108);
	ck_assert_ptr_nonnull(strstr(want, "...(truncated)"));
	*strstr(want, "...(truncated)") = '\0';
	want = str_replace_all(want, "<dir>", RDIR);
	pthread_mutex_lock(&g.lock);
	ck_assert_uint_lt(next, g.n);
	ck_assert_msg(strncmp(g.bodies[next], want, strlen(want)) == 0, "\n  %s\nwant\n  %s...",
		      g.bodies[next], want);
	ck_assert_ptr_nonnull(strstr(g.bodies[next], "\\\"ScratchDirPath\\\":\\\"\\\"}\"}\n"));
	pthread_mutex_unlock(&g.lock);
	next++;
	free(want);

	/* 14.1 ids 15-18: the overlay, the scratch disk with its unplug, the pmem layer */
	ck_assert_int_eq(gcs_uncombine_layers(b, "/run/gcs/c/" CID "/rootfs", &err), 0);
	fake_guest_expect(&g, &next, GCS_MSG_MODIFY_SETTINGS_REQ,
			  MODIFY("Remove", "CombinedLayers",
				 "{\"ContainerRootPath\":\"/run/gcs/c/" CID "/rootfs\"}"));
	ck_assert_int_eq(gcs_remove_scsi_disk(b, 0, 0, "/run/gcs/c/" CID, &err), 0);
	fake_guest_expect(
		&g, &next, GCS_MSG_MODIFY_SETTINGS_REQ,
		MODIFY("Remove", "MappedVirtualDisk", "{\"MountPath\":\"/run/gcs/c/" CID "\"}"));
	fake_guest_expect(&g, &next, GCS_MSG_MODIFY_SETTINGS_REQ,
			  MODIFY("Remove", "SCSIDevice", "{}"));
	ck_assert_int_eq(gcs_remove_pmem_layer(b, 0, "/run/layers/p0", &err), 0);
	fake_guest_expect(&g, &next, GCS_MSG_MODIFY_SETTINGS_REQ,
			  MODIFY("Remove", "VPMemDevice", "{\"MountPath\":\"/run/layers/p0\"}"));
	/* hcsshim's unmount also repeats ReadOnly; the guest does not need it. */
	ck_assert_int_eq(gcs_remove_scsi_disk(b, 1, 3, "/run/mounts/scsi/m0", &err), 0);
	fake_guest_expect(
		&g, &next, GCS_MSG_MODIFY_SETTINGS_REQ,
		MODIFY("Remove", "MappedVirtualDisk",
		       "{\"MountPath\":\"/run/mounts/scsi/m0\",\"Lun\":3,\"Controller\":1}"));
	fake_guest_expect(&g, &next, GCS_MSG_MODIFY_SETTINGS_REQ,
			  MODIFY("Remove", "SCSIDevice", "{\"Controller\":1,\"Lun\":3}"));

	/* Refused locally, nothing sent. */
	ck_assert_int_eq(gcs_start_init(b, Z, NULL, &p, &err), -EINVAL);
	ck_assert_int_eq(gcs_start_init(b, "", NULL, &p, &err), -EINVAL);
	ck_assert_int_eq(gcs_container_exec(b, CID, NULL, NULL, &p, &err), -EINVAL);
	ck_assert_int_eq(gcs_add_scsi_layer(b, 0, 0, NULL, true, &err), -EINVAL);
	ck_assert_int_eq(gcs_combine_layers(b, CID, "", lower, 1, NULL, &err), -EINVAL);
	ck_assert_int_eq(gcs_create_container_spec(b, CID, "/b", NULL, NULL, &err), -EINVAL);
	ck_assert_int_eq(err.hresult, HR_INVALIDARG);
	fake_guest_expect(&g, &next, 0, NULL);
	fake_guest_stop(&g);
	ck_assert_int_eq(run_cmd((const char *const[]){ "rm", "-rf", dir, NULL }, STEP_MS, NULL, 0),
			 0);
}
END_TEST

/* ---- containers through libgcs ---- */

/* The init runs in a PID namespace of its own (runc's, from the spec). */
static void expect_own_pid_ns(uint32_t pid)
{
	char p[64], mine[64] = "", its[64] = "";

	snprintf(p, sizeof(p), "/proc/%u/ns/pid", pid);
	ck_assert_int_gt(readlink("/proc/self/ns/pid", mine, sizeof(mine) - 1), 0);
	ck_assert_msg(readlink(p, its, sizeof(its) - 1) > 0, "%s: %m", p);
	ck_assert_str_ne(mine, its);
}

/*
 * hcsshim's whole sequence: layers (SCSI + pmem), scratch (formatted by the agent), overlay,
 * Create, Start, init with stdio, execs, ProcessList, SIGTERM to init -> 143 and one
 * GracefulExit, DeleteContainerState, then the storage in reverse (V2 controller order).
 */
START_TEST(test_full_sequence)
{
	static const char *const init_args[] = { "/bin/sh", "-c", INIT_SCRIPT, NULL };
	const char *const props[] = { "ProcessList" };
	struct gcs_stdio st[3] = {
		[GCS_STDOUT] = { GCS_STDIO_SOCKET }, [GCS_STDERR] = { GCS_STDIO_SOCKET }
	};
	struct gcs_proto_get_properties_resp pr;
	struct gcs_error err = { 0 };
	struct gcs_process *init;
	char out[4096] = "", errs[1024], p[PATH_MAX];
	size_t len = 0;
	uint32_t code, pid;
	bool found = false;
	struct ctx c;

	ctx_start(&c, CID, true, false);
	storage_up(&c);
	OK(create(&c, make_spec(&c, init_args, false), &err));
	snprintf(p, sizeof(p), "%s/config.json", c.bundle);
	ck_assert_msg(agent_read(&c, p, errs, sizeof(errs)) == 0, "no %s", p);
	ck_assert_msg(runc_state_exists(&c), "no runc state after Create");

	init = start_init(&c, st);
	pid = gcs_process_pid(init);
	expect_own_pid_ns(pid);
	read_until(gcs_process_stdio_fd(init, GCS_STDOUT), out, sizeof(out), &len, INIT_READY "\n");
	ck_assert_str_eq(out, LAYERS_UPPER_TEXT "\n" LAYERS_BASE_TEXT
						"\nwhiteout-ok\nlcow-ct\n" INIT_READY "\n");

	/* execs: stdout, stderr and exit code; the container's processes; a write to scratch */
	ck_assert_uint_eq(exec_in(&c, (const char *const[]){ "cat", LAYERS_UPPER_FILE, NULL }, out,
				  sizeof(out), errs, sizeof(errs)),
			  0);
	ck_assert_str_eq(out, LAYERS_UPPER_TEXT "\n");
	ck_assert_uint_eq(exec_in(&c, (const char *const[]){ "ps", NULL }, out, sizeof(out), errs,
				  sizeof(errs)),
			  0);
	ck_assert_msg(strstr(out, "sleep 1000") != NULL, "ps: %s", out);
	ck_assert_uint_eq(exec_in(&c, SH("echo to-err >&2; echo written > /tmp/w.txt; exit 7"), out,
				  sizeof(out), errs, sizeof(errs)),
			  7);
	ck_assert_str_eq(errs, "to-err\n");
	snprintf(p, sizeof(p), "%s/upper/tmp/w.txt", c.scratch_dir);
	expect_file(&c, p, "written\n");

	OK(gcs_get_properties(c.ap.b, c.cid, props, 1, &pr, &err));
	for (size_t i = 0; i < pr.n_process_list; i++)
		found |= pr.process_list[i].process_id == pid;
	ck_assert_msg(found && pr.n_process_list >= 2, "init %u not among %zu processes", pid,
		      pr.n_process_list);
	gcs_proto_release(&pr);
	ck_assert_uint_eq(notes_now(&c), 0);

	OK(gcs_process_signal(init, SIGTERM, &err));
	OK(gcs_process_wait(init, STEP_MS, &code, &err));
	ck_assert_uint_eq(code, 143);
	read_until(gcs_process_stdio_fd(init, GCS_STDOUT), out, sizeof(out), &len, NULL);
	gcs_process_free(init);
	expect_one_note(&c, "GracefulExit");

	delete_state(&c);
	ck_assert_int_eq(gcs_get_properties(c.ap.b, c.cid, props, 1, &pr, &err), -EREMOTEIO);
	ck_assert_int_eq(err.hresult, HR_SYSTEM_NOT_FOUND);
	remove_overlay(&c);
	remove_disks(&c);
	ctx_stop(&c);
}
END_TEST

/* A terminal init: ResizeConsole reaches its pty (stty size), and it exits by itself. */
START_TEST(test_tty)
{
	static const char *const args[] = { "/bin/sh", "-c",
					    "read x; stty size; tty >/dev/null && echo is-a-tty",
					    NULL };
	struct gcs_stdio st[3] = {
		[GCS_STDIN] = { GCS_STDIO_SOCKET }, [GCS_STDOUT] = { GCS_STDIO_SOCKET }
	};
	struct gcs_error err = { 0 };
	struct gcs_process *init;
	char out[1024] = "";
	size_t len = 0;
	uint32_t code;
	struct ctx c;

	ctx_start(&c, "ct-tty", true, false);
	storage_up(&c);
	OK(create(&c, make_spec(&c, args, true), &err));
	init = start_init(&c, st);
	OK(gcs_process_resize(init, 33, 111, &err));
	ck_assert_int_eq(write(gcs_process_stdio_fd(init, GCS_STDIN), "go\n", 3), 3);
	read_until(gcs_process_stdio_fd(init, GCS_STDOUT), out, sizeof(out), &len, "is-a-tty");
	ck_assert_msg(strstr(out, "33 111") != NULL, "stty size: %s", out);
	OK(gcs_process_wait(init, STEP_MS, &code, &err));
	ck_assert_uint_eq(code, 0);
	gcs_process_free(init);
	expect_one_note(&c, "UnexpectedExit");
	delete_state(&c);
	remove_overlay(&c);
	remove_disks(&c);
	ctx_stop(&c);
}
END_TEST

/*
 * An init that exits by itself: no notification before a wait has been answered, then exactly
 * one UnexpectedExit; both shutdowns of the stopped container are harmless. V1 shim order:
 * the storage goes first, DeleteContainerState last.
 */
START_TEST(test_init_exits)
{
	struct gcs_stdio st[3] = { [GCS_STDOUT] = { GCS_STDIO_SOCKET } };
	struct gcs_error err = { 0 };
	struct gcs_process *init;
	char out[256] = "";
	size_t len = 0;
	uint32_t code;
	struct ctx c;

	ctx_start(&c, "ct-exit3", true, false);
	storage_up(&c);
	ck_assert_msg(create(&c, make_spec(&c, SH("echo bye; exit 3"), false), &err) == 0,
		      "create: %s", err.message);
	init = start_init(&c, st);
	read_until(gcs_process_stdio_fd(init, GCS_STDOUT), out, sizeof(out), &len, NULL);
	ck_assert_str_eq(out, "bye\n");
	usleep(QUIET_MS * 1000);
	ck_assert_msg(notes_now(&c) == 0, "notification before the init's wait was answered");
	OK(gcs_process_wait(init, STEP_MS, &code, &err));
	ck_assert_uint_eq(code, 3);
	gcs_process_free(init);
	expect_one_note(&c, "UnexpectedExit");
	for (int force = 0; force < 2; force++) {
		int rc = gcs_shutdown_container(c.ap.b, c.cid, force, &err);
		ck_assert_msg(
			rc == 0 || (rc == -EREMOTEIO && err.hresult == HR_SYSTEM_ALREADY_STOPPED),
			"shutdown (force %d): %d %s", force, rc, err.message);
	}
	usleep(QUIET_MS * 1000);
	ck_assert_uint_eq(notes_now(&c), 1);
	remove_overlay(&c);
	remove_disks(&c);
	delete_state(&c);
	ctx_stop(&c);
}
END_TEST

/* A second Create with the same ID is HCS_E_SYSTEM_ALREADY_EXISTS; the first is unharmed. */
START_TEST(test_duplicate_create)
{
	struct gcs_stdio st[3] = { [GCS_STDOUT] = { GCS_STDIO_SOCKET } };
	struct gcs_error err = { 0 };
	struct gcs_process *init;
	char out[256] = "";
	size_t len = 0;
	uint32_t code;
	struct ctx c;

	ctx_start(&c, "ct-dup", true, false);
	storage_up(&c);
	ck_assert_msg(create(&c, make_spec(&c, SH("echo dup-ok"), false), &err) == 0, "create: %s",
		      err.message);
	ck_assert_int_eq(create(&c, make_spec(&c, SH("echo second"), false), &err), -EREMOTEIO);
	ck_assert_msg(err.hresult == HR_SYSTEM_ALREADY_EXISTS, "0x%08x %s", (uint32_t)err.hresult,
		      err.message);
	init = start_init(&c, st);
	read_until(gcs_process_stdio_fd(init, GCS_STDOUT), out, sizeof(out), &len, NULL);
	ck_assert_str_eq(out, "dup-ok\n");
	OK(gcs_process_wait(init, STEP_MS, &code, &err));
	ck_assert_uint_eq(code, 0);
	gcs_process_free(init);
	expect_one_note(&c, "UnexpectedExit");
	delete_state(&c);
	remove_overlay(&c);
	remove_disks(&c);
	ctx_stop(&c);
}
END_TEST

/*
 * A spec runc refuses: the error carries runc's own words, whether it comes from Create (runc
 * create) or from the init's start. A failed Create leaves no container and no notification.
 */
static bool bad_spec(struct ctx *c, json_t *spec, const char *const *words)
{
	struct gcs_error err = { 0 };
	struct gcs_process *init = NULL;
	int rc = create(c, spec, &err);
	bool created = rc == 0;

	if (created) {
		struct gcs_stdio st[3] = { [GCS_STDOUT] = { GCS_STDIO_SOCKET } };
		ck_assert_int_eq(gcs_start_container(c->ap.b, c->cid, &err), 0);
		rc = gcs_start_init(c->ap.b, c->cid, st, &init, &err);
		ck_assert_msg(rc < 0, "the init of a bad spec started");
		delete_state(c);
	} else {
		const char *const props[] = { "ProcessList" };
		struct gcs_proto_get_properties_resp pr;
		struct gcs_error e2 = { 0 };
		ck_assert_int_eq(gcs_get_properties(c->ap.b, c->cid, props, 1, &pr, &e2),
				 -EREMOTEIO);
		ck_assert_msg(e2.hresult == HR_SYSTEM_NOT_FOUND,
			      "a failed Create left the container registered: %s", e2.message);
	}
	ck_assert_int_eq(rc, -EREMOTEIO);
	ck_assert_int_ne(err.hresult, 0);
	for (size_t i = 0; words[i]; i++)
		ck_assert_msg(strstr(err.message, words[i]) != NULL, "\"%s\" not in: %s", words[i],
			      err.message);
	ck_assert_msg(!runc_state_exists(c), "runc state left after a failed create");
	return created;
}

START_TEST(test_bad_spec)
{
	static const char *const missing[] = { "/nonexistent/binary", NULL };
	bool created;
	struct ctx c;
	json_t *spec;

	ctx_start(&c, "ct-bad", true, false);
	storage_up(&c);
	created = bad_spec(
		&c, make_spec(&c, missing, false),
		(const char *const[]){ "/nonexistent/binary", "no such file or directory", NULL });
	spec = make_spec(&c, SH("true"), false);
	json_array_append_new(json_object_get(json_object_get(spec, "linux"), "namespaces"),
			      json_pack("{s:s}", "type", "bogus"));
	created |= bad_spec(&c, spec, (const char *const[]){ "bogus", "does not exist", NULL });
	/* The host never had a container: a notification would kill hcsshim's bridge. */
	usleep(QUIET_MS * 1000);
	if (!created)
		ck_assert_uint_eq(notes_now(&c), 0);
	remove_overlay(&c);
	remove_disks(&c);
	ctx_stop(&c);
}
END_TEST

static void expect_invalid(int rc, const struct gcs_error *err, const char *what)
{
	ck_assert_msg(rc == -EREMOTEIO && err->hresult == HR_INVALIDARG,
		      "%s: %d, HRESULT 0x%08x, want E_INVALIDARG: %s", what, rc,
		      (uint32_t)err->hresult, err->message);
}

/* Paths outside the run root are E_INVALIDARG, and nothing is mounted or written. */
START_TEST(test_path_escapes)
{
	const char *lower[2];
	char dotdot[PATH_MAX], outside[PATH_MAX], link[PATH_MAX], via_link[PATH_MAX], p[PATH_MAX],
		q[PATH_MAX], scratch[PATH_MAX];
	struct gcs_error err = { 0 };
	struct stat st;
	json_t *spec;
	struct ctx c;

	ctx_start(&c, "ct-esc", true, false);
	snprintf(outside, sizeof(outside), "%s/outside", c.env.dir);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	snprintf(link, sizeof(link), "%s/esc", c.env.run);
	ck_assert_int_eq(symlink(outside, link), 0);
	snprintf(dotdot, sizeof(dotdot), "%s/../etc", c.env.run);
	snprintf(via_link, sizeof(via_link), "%s/m0", link);

	expect_invalid(gcs_add_scsi_layer(c.ap.b, 0, 1, dotdot, true, &err), &err, dotdot);
	expect_invalid(gcs_add_scsi_layer(c.ap.b, 0, 1, via_link, true, &err), &err, via_link);
	snprintf(p, sizeof(p), "%s/layers/../../outside/p0", c.env.run);
	expect_invalid(gcs_add_pmem_layer(c.ap.b, 0, p, &err), &err, p);
	snprintf(p, sizeof(p), "%s/scratch", outside);
	expect_invalid(gcs_add_scratch_disk(c.ap.b, 0, 0, p, &err), &err, p);
	expect_invalid(gcs_add_scratch_disk(c.ap.b, 0, 0, "relative/path", &err), &err,
		       "a relative path");

	lower[0] = c.pmem_layer;
	lower[1] = c.scsi_layer;
	snprintf(p, sizeof(p), "%s/rootfs", outside);
	expect_invalid(gcs_combine_layers(c.ap.b, c.cid, p, lower, 2, c.scratch_dir, &err), &err,
		       p);
	snprintf(scratch, sizeof(scratch), "%s/scratch", outside);
	expect_invalid(gcs_combine_layers(c.ap.b, c.cid, c.rootfs, lower, 2, scratch, &err), &err,
		       scratch);
	lower[0] = outside;
	expect_invalid(gcs_combine_layers(c.ap.b, c.cid, c.rootfs, lower, 2, c.scratch_dir, &err),
		       &err, "a layer outside");

	snprintf(q, sizeof(q), "%s/bundle", outside);
	spec = make_spec(&c, SH("true"), false);
	expect_invalid(gcs_create_container_spec(c.ap.b, c.cid, q, spec, "", &err), &err, q);
	json_decref(spec);
	ck_assert(!runc_state_exists(&c));

	expect_nothing_mounted(&c);
	snprintf(p, sizeof(p), "%s/etc", c.env.dir);
	ck_assert_msg(stat(p, &st) < 0, "%s was created", p);
	ck_assert_msg(rmdir(outside) == 0, "something was written into %s", outside);
	usleep(QUIET_MS * 1000);
	ck_assert_uint_eq(notes_now(&c), 0);
	ctx_stop(&c);
}
END_TEST

/* SchemaVersion below 2.1 is HCS_E_INVALID_JSON, and nothing is created. */
START_TEST(test_schema_20)
{
	static const struct gcs_proto_schema_version old[] = { { 2, 0 }, { 1, 9 } };
	struct gcs_error err = { 0 };
	struct ctx c;

	ctx_start(&c, "ct-schema", false, false);
	for (size_t i = 0; i < ARRAY_SIZE(old); i++) {
		struct gcs_proto_container_config config = {
			.schema_version = old[i],
			.oci_bundle_path = c.bundle,
			.oci_specification = make_spec(&c, SH("true"), false),
			.scratch_dir_path = "",
		};
		int rc = gcs_create_container(c.ap.b, c.cid, &config, &err);

		json_decref(config.oci_specification);
		ck_assert_msg(rc == -EREMOTEIO && err.hresult == HR_INVALID_JSON,
			      "schema %u.%u: %d 0x%08x %s", old[i].major, old[i].minor, rc,
			      (uint32_t)err.hresult, err.message);
	}
	ck_assert(!runc_state_exists(&c));
	usleep(QUIET_MS * 1000);
	ck_assert_uint_eq(notes_now(&c), 0);
	ctx_stop(&c);
}
END_TEST

/* ---- the recorded session's container part, frame by frame ---- */

#define FIRST_ID 108
#define LAST_ID 118

struct replay {
	struct ctx *c;
	char *resp[LAST_ID - FIRST_ID + 1];
	uint32_t resp_type[LAST_ID - FIRST_ID + 1];
	int resp_seq[LAST_ID - FIRST_ID + 1];
	char *notes[4];
	int note_seq[4];
	size_t n_notes;
	int seq;
	uint32_t pid_map[4][2]; /* recorded pid -> ours */
	size_t n_pids;
};

static void replay_recv(struct replay *r)
{
	uint32_t type;
	uint64_t id;
	char *body;

	raw_recv(&r->c->ap, &type, &id, &body);
	r->seq++;
	if (type == GCS_MSG_CONTAINER_NOTIFY) {
		ck_assert_uint_eq(id, 0);
		ck_assert_uint_lt(r->n_notes, ARRAY_SIZE(r->notes));
		r->note_seq[r->n_notes] = r->seq;
		r->notes[r->n_notes++] = body;
		return;
	}
	ck_assert_msg(id >= FIRST_ID && id <= LAST_ID, "unexpected answer id %llu: %s",
		      (unsigned long long)id, body);
	ck_assert_msg(!r->resp[id - FIRST_ID], "two answers to id %llu", (unsigned long long)id);
	r->resp[id - FIRST_ID] = body;
	r->resp_type[id - FIRST_ID] = type;
	r->resp_seq[id - FIRST_ID] = r->seq;
}

static const char *replay_answer(struct replay *r, uint64_t id)
{
	while (!r->resp[id - FIRST_ID])
		replay_recv(r);
	return r->resp[id - FIRST_ID];
}

/* Nothing arrives for a while. */
static void replay_quiet(struct replay *r)
{
	struct pollfd pfd = { .fd = r->c->ap.raw_fd, .events = POLLIN };

	ck_assert_msg(poll(&pfd, 1, QUIET_MS) == 0, "unexpected frame from the agent");
}

static uint32_t json_uint(const char *body, const char *key)
{
	json_t *o = json_loads(body, 0, NULL);
	uint32_t v;

	ck_assert_msg(o != NULL, "not JSON: %s", body);
	v = (uint32_t)json_integer_value(json_object_get(o, key));
	json_decref(o);
	return v;
}

static int32_t result_of(const char *body)
{
	return (int32_t)json_uint(body, "Result");
}

static void same_shape(const char *ours, const char *theirs, const char *what)
{
	char a[512], b[512];

	json_keys(ours, a, sizeof(a));
	json_keys(theirs, b, sizeof(b));
	ck_assert_msg(strcmp(a, b) == 0, "%s: keys %s, the Go GCS's %s (%s)", what, a, b, ours);
}

/* Sends the recorded request (pids mapped to ours), listening first on its stdout port. */
static int replay_send(struct replay *r, uint32_t type, uint64_t id, const char *body,
		       uint32_t stdout_port)
{
	char *mapped = strdup(body), *nl;
	int lfd = -1, fd = -1;

	for (size_t i = 0; i < r->n_pids; i++) {
		char from[32], to[32];
		snprintf(from, sizeof(from), "\"ProcessId\":%u", r->pid_map[i][0]);
		snprintf(to, sizeof(to), "\"ProcessId\":%u", r->pid_map[i][1]);
		mapped = str_replace_all(mapped, from, to);
	}
	if (stdout_port)
		ck_assert_int_eq(gcs_transport_listen(r->c->ap.t, stdout_port, &lfd), 0);
	nl = malloc(strlen(mapped) + 2);
	sprintf(nl, "%s\n", mapped);
	raw_send(&r->c->ap, type, id, nl);
	free(nl);
	free(mapped);
	if (stdout_port) {
		ck_assert_int_eq(gcs_transport_accept(lfd, STEP_MS, &fd), 0);
		gcs_transport_unlisten(r->c->ap.t, stdout_port, lfd);
	}
	return fd;
}

/* Replays a recorded request and compares our answer with the Go GCS's (type and keys). */
static const char *replay_step(struct replay *r, uint32_t type, uint64_t id, uint32_t port,
			       int *ret_fd)
{
	_cleanup_free_ char *req = recorded_raw(true, type, id);
	_cleanup_free_ char *theirs = recorded(false, GCS_MSG_RESPONSE | (type & 0x0FFFFFFF), id);
	const char *ours;
	char what[32];
	int fd = replay_send(r, type, id, req, port);

	if (ret_fd)
		*ret_fd = fd;
	else if (fd >= 0)
		close(fd);
	ours = replay_answer(r, id);
	snprintf(what, sizeof(what), "id %llu", (unsigned long long)id);
	ck_assert_uint_eq(r->resp_type[id - FIRST_ID], GCS_MSG_RESPONSE | (type & 0x0FFFFFFF));
	if (result_of(theirs) == 0 && result_of(ours) == 0)
		same_shape(ours, theirs, what);
	if (type == GCS_MSG_EXECUTE_PROCESS_REQ) {
		ck_assert_msg(result_of(ours) == 0, "%s: %s", what, ours);
		r->pid_map[r->n_pids][0] = json_uint(theirs, "ProcessId");
		r->pid_map[r->n_pids][1] = json_uint(ours, "ProcessId");
		r->n_pids++;
	}
	return ours;
}

static void read_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	read_until(fd, buf, cap, &len, NULL);
	close(fd);
}

/*
 * ids 108-118 of the recording: Create (its body is cut in the recording: the rest is filled in
 * with runc's usual namespaces and our own rootfs, a plain busybox directory like the
 * recording's), Start, init and exec with stdout, SIGTERM that PID 1 ignores, SIGKILL, the init's
 * wait (137) before the ForcedExit notification, ShutdownGraceful, GetProperties "{}",
 * DeleteContainerState. Answers are compared with the Go GCS's by type and keys.
 */
START_TEST(test_transcript_replay)
{
	static const char rest[] =
		"s\\\":[{\\\"type\\\":\\\"pid\\\"},{\\\"type\\\":\\\"ipc\\\"},{\\\"type\\\":"
		"\\\"uts\\\"},{\\\"type\\\":\\\"mount\\\"}]}},\\\"ScratchDirPath\\\":\\\"\\\"}\"}\n";
	struct replay r = { 0 };
	_cleanup_free_ char *create = NULL, *theirs = NULL;
	char out[512], p[PATH_MAX], q[PATH_MAX];
	const char *ans;
	struct ctx c;
	json_t *doc;
	int fd;

	ctx_start(&c, RCID, false, true);
	r.c = &c;
	snprintf(p, sizeof(p), "%s/ctr", c.env.run);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(q, sizeof(q), "%s/rootfs", p);
	ck_assert_int_eq(run_cmd((const char *const[]){ "cp", "-a", layers.base_tree, q, NULL },
				 STEP_MS, out, sizeof(out)),
			 0);

	raw_send(&c.ap, GCS_MSG_NEGOTIATE_PROTOCOL_REQ, 0,
		 "{\"ContainerId\":\"\",\"ActivityId\":\"" Z
		 "\",\"MinimumVersion\":4,\"MaximumVersion\":4}\n");
	{
		uint32_t type;
		uint64_t id;
		char *body;
		raw_recv(&c.ap, &type, &id, &body);
		ck_assert_int_eq(result_of(body), 0);
		free(body);
	}

	/* 108: the recorded Create, completed, "<dir>" being our run root. */
	create = recorded_raw(true, GCS_MSG_CREATE_REQ, 108);
	ck_assert_ptr_nonnull(strstr(create, "...(truncated)"));
	create = str_replace_all(create, "...(truncated)", rest);
	create = str_replace_all(create, "<dir>", c.env.run);
	doc = json_loads(create, 0, NULL);
	ck_assert_msg(doc != NULL, "the completed Create is not JSON: %s", create);
	json_decref(doc);
	raw_send(&c.ap, GCS_MSG_CREATE_REQ, 108, create);
	ans = replay_answer(&r, 108);
	theirs = recorded(false, GCS_MSG_CREATE_RESP, 108);
	ck_assert_uint_eq(r.resp_type[0], GCS_MSG_CREATE_RESP);
	ck_assert_msg(result_of(ans) == 0, "Create: %s", ans);
	same_shape(ans, theirs, "id 108");
	ck_assert(runc_state_exists(&c));

	replay_step(&r, GCS_MSG_START_REQ, 109, 0, NULL);
	replay_step(&r, GCS_MSG_EXECUTE_PROCESS_REQ, 110, 1073741828, &fd);
	{
		_cleanup_free_ char *wait = recorded_raw(true, GCS_MSG_WAIT_FOR_PROCESS_REQ, 111);
		replay_send(&r, GCS_MSG_WAIT_FOR_PROCESS_REQ, 111, wait, 0);
	}
	{
		size_t len = 0;
		out[0] = '\0';
		read_until(fd, out, sizeof(out), &len, "\n");
		ck_assert_str_eq(out, "container-init-hello\n");
	}
	replay_step(&r, GCS_MSG_EXECUTE_PROCESS_REQ, 112, 1073741829, &fd);
	ans = replay_step(&r, GCS_MSG_WAIT_FOR_PROCESS_REQ, 113, 0, NULL);
	ck_assert_uint_eq(json_uint(ans, "ExitCode"), 0);
	read_all(fd, out, sizeof(out));
	ck_assert_str_eq(out, "exec-in-container gcsdrive\n");

	/* 114: SIGTERM to a PID 1 without a handler: delivered, ignored, the wait stays parked. */
	ans = replay_step(&r, GCS_MSG_SIGNAL_PROCESS_REQ, 114, 0, NULL);
	ck_assert_int_eq(result_of(ans), 0);
	replay_quiet(&r);
	ck_assert_ptr_null(r.resp[111 - FIRST_ID]);
	ans = replay_step(&r, GCS_MSG_SIGNAL_PROCESS_REQ, 115, 0, NULL);
	ck_assert_int_eq(result_of(ans), 0);
	ans = replay_answer(&r, 111);
	ck_assert_uint_eq(r.resp_type[111 - FIRST_ID], GCS_MSG_WAIT_FOR_PROCESS_RESP);
	ck_assert_uint_eq(json_uint(ans, "ExitCode"), 137);
	free(theirs);
	theirs = recorded(false, GCS_MSG_WAIT_FOR_PROCESS_RESP, 111);
	same_shape(ans, theirs, "id 111");
	while (r.n_notes == 0)
		replay_recv(&r);
	ck_assert_msg(r.note_seq[0] > r.resp_seq[111 - FIRST_ID],
		      "the notification came before the init's wait was answered");

	/*
	 * 116: the Go GCS answered 0 (the container had just stopped); the spec's answer for a
	 * stopped container is HCS_E_SYSTEM_ALREADY_STOPPED. hcsshim takes both.
	 */
	ans = replay_step(&r, GCS_MSG_SHUTDOWN_GRACEFUL_REQ, 116, 0, NULL);
	ck_assert_msg(result_of(ans) == 0 || result_of(ans) == HR_SYSTEM_ALREADY_STOPPED, "%s",
		      ans);
	ans = replay_step(&r, GCS_MSG_GET_PROPERTIES_REQ, 117, 0, NULL);
	{
		json_t *o = json_loads(ans, 0, NULL);
		ck_assert_str_eq(json_string_value(json_object_get(o, "Properties")), "{}");
		json_decref(o);
	}
	ans = replay_step(&r, GCS_MSG_DELETE_CONTAINER_STATE_REQ, 118, 0, NULL);
	ck_assert_msg(result_of(ans) == 0, "%s", ans);
	ck_assert(!runc_state_exists(&c));

	/* Exactly one notification, shaped like the Go GCS's, ForcedExit after the SIGKILL. */
	replay_quiet(&r);
	ck_assert_uint_eq(r.n_notes, 1);
	free(theirs);
	theirs = recorded(false, GCS_MSG_CONTAINER_NOTIFY, 0);
	same_shape(r.notes[0], theirs, "notification");
	doc = json_loads(r.notes[0], 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "ContainerId")), RCID);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "Type")), "ForcedExit");
	json_decref(doc);

	for (size_t i = 0; i < ARRAY_SIZE(r.resp); i++)
		free(r.resp[i]);
	for (size_t i = 0; i < r.n_notes; i++)
		free(r.notes[i]);
	snprintf(p, sizeof(p), "%s/ctr", c.env.run);
	ck_assert_int_eq(run_cmd((const char *const[]){ "rm", "-rf", "--one-file-system", p, NULL },
				 STEP_MS, out, sizeof(out)),
			 0);
	ctx_stop(&c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("containers");

	ADD_TEST(s, test_fixture);
	ADD_TEST(s, test_wrappers_wire);
	ADD_TEST(s, test_schema_20);
	ADD_TEST(s, test_path_escapes);
	ADD_TEST(s, test_full_sequence);
	ADD_TEST(s, test_tty);
	ADD_TEST(s, test_init_exits);
	ADD_TEST(s, test_duplicate_create);
	ADD_TEST(s, test_bad_spec);
	ADD_TEST(s, test_transcript_replay);
	return ctx_run_suite(s, "test_containers");
}
