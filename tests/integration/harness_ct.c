/* Integration harness: containers on raw frames (struct ct). */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#define Z GCS_NULL_GUID_STRING

/* ---- containers on raw frames ---- */

#define CT_OK(call) ck_assert_msg((call) == 0, "%s: %s", #call, err.message)

/* hcsshim's spec after createLCOWSpec, for busybox (as test_containers.c). */
static const char ct_spec_template[] =
	"{\"ociVersion\":\"1.1.0\","
	"\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},\"args\":[],"
	"\"env\":[\"PATH=/bin:/sbin:/usr/bin\",\"TERM=xterm\"],\"cwd\":\"/\"},"
	"\"root\":{\"path\":\"\"},\"hostname\":\"lcow-ct\","
	"\"mounts\":["
	"{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	"{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
	"\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
	"{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\","
	"\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\"]},"
	"{\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\","
	"\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"mode=1777\",\"size=65536k\"]},"
	"{\"destination\":\"/dev/mqueue\",\"type\":\"mqueue\",\"source\":\"mqueue\","
	"\"options\":[\"nosuid\",\"noexec\",\"nodev\"]},"
	"{\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\","
	"\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"ro\"]}],"
	"\"linux\":{\"cgroupsPath\":\"\","
	"\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},"
	"{\"type\":\"mount\"}],"
	"\"maskedPaths\":[\"/proc/kcore\",\"/proc/keys\",\"/proc/timer_list\",\"/sys/firmware\"],"
	"\"readonlyPaths\":[\"/proc/bus\",\"/proc/fs\",\"/proc/irq\",\"/proc/sys\","
	"\"/proc/sysrq-trigger\"]}}";

void ct_start(struct ct *c, const char *cid, bool disks, const char *const *extra)
{
	struct gcs_error err = { 0 };
	char scratch[256];
	size_t n = 0;

	memset(c, 0, sizeof(*c));
	CT_OK(env_create(&c->env, &harness_layers, &err));
	if (disks) {
		CT_OK(env_add_scsi(&c->env, harness_layers.base, true, 0, 1, &err));
		CT_OK(env_add_pmem(&c->env, harness_layers.upper, 0, &err));
		CT_OK(env_blank_image(&c->env, "scratch.img", 64 << 20, scratch, sizeof(scratch),
				      &err));
		CT_OK(env_add_scsi(&c->env, scratch, false, 0, 0, &err));
	}
	snprintf(c->cid, sizeof(c->cid), "%s", cid);
	snprintf(c->scsi_layer, sizeof(c->scsi_layer), "%s/mounts/scsi/m0", c->env.run);
	snprintf(c->pmem_layer, sizeof(c->pmem_layer), "%s/layers/p0", c->env.run);
	snprintf(c->bundle, sizeof(c->bundle), "%s/gcs/c/%s", c->env.run, cid);
	snprintf(c->rootfs, sizeof(c->rootfs), "%s/rootfs", c->bundle);
	if (disks)
		snprintf(c->scratch_dir, sizeof(c->scratch_dir), "%s/scratch/%s", c->bundle, cid);
	for (size_t i = 0; c->env.args[i]; i++)
		c->args[n++] = c->env.args[i];
	for (size_t i = 0; extra && extra[i]; i++) {
		ck_assert_uint_lt(n, ARRAY_SIZE(c->args) - 1);
		c->args[n++] = extra[i];
	}
	c->args[n] = NULL;
	agent_start_opts(&c->ap, &(struct agent_start_opts){ .raw = true,
							     .args = c->args,
							     .parent_dir = harness_layers.dir });
	ck_assert_int_eq(env_set_agent(&c->env, c->ap.pid), 0);
	raw_negotiate(&c->ap);
}

static void ct_expect_mounted(struct ct *c, const char *path, const char *fstype)
{
	char got[64];

	ck_assert_msg(mount_fstype(c->ap.pid, path, got, sizeof(got)) == 0, "nothing mounted at %s",
		      path);
	ck_assert_msg(strcmp(got, fstype) == 0, "%s at %s, want %s", got, path, fstype);
}

static void ct_expect_unmounted(struct ct *c, const char *path)
{
	char got[64];

	ck_assert_msg(mount_fstype(c->ap.pid, path, got, sizeof(got)) == -ENOENT,
		      "%s still mounted at %s", got, path);
}

void ct_storage_up(struct ct *c)
{
	raw_modify_ok(&c->ap, "Add", "MappedVirtualDisk",
		      json_pack("{s:s, s:i, s:b, s:[s]}", "MountPath", c->scsi_layer, "Lun", 1,
				"ReadOnly", 1, "Options", "ro"));
	ct_expect_mounted(c, c->scsi_layer, "ext4");
	raw_modify_ok(&c->ap, "Add", "VPMemDevice", json_pack("{s:s}", "MountPath", c->pmem_layer));
	ct_expect_mounted(c, c->pmem_layer, "ext4");
	raw_modify_ok(&c->ap, "Add", "MappedVirtualDisk",
		      json_pack("{s:s, s:b, s:s}", "MountPath", c->bundle, "EnsureFilesystem", 1,
				"Filesystem", "ext4"));
	ct_expect_mounted(c, c->bundle, "ext4");
	raw_modify_ok(&c->ap, "Add", "CombinedLayers",
		      json_pack("{s:s, s:s, s:[{s:s}, {s:s}], s:s}", "ContainerID", c->cid,
				"ContainerRootPath", c->rootfs, "Layers", "Path", c->pmem_layer,
				"Path", c->scsi_layer, "ScratchPath", c->scratch_dir));
	ct_expect_mounted(c, c->rootfs, "overlay");
}

void ct_storage_down(struct ct *c)
{
	raw_modify_ok(&c->ap, "Remove", "CombinedLayers",
		      json_pack("{s:s}", "ContainerRootPath", c->rootfs));
	ct_expect_unmounted(c, c->rootfs);
	raw_modify_ok(&c->ap, "Remove", "MappedVirtualDisk",
		      json_pack("{s:s}", "MountPath", c->bundle));
	ct_expect_unmounted(c, c->bundle);
	raw_modify_ok(&c->ap, "Remove", "SCSIDevice", json_object());
	raw_modify_ok(&c->ap, "Remove", "VPMemDevice",
		      json_pack("{s:s}", "MountPath", c->pmem_layer));
	ct_expect_unmounted(c, c->pmem_layer);
	raw_modify_ok(&c->ap, "Remove", "MappedVirtualDisk",
		      json_pack("{s:s}", "MountPath", c->scsi_layer));
	ct_expect_unmounted(c, c->scsi_layer);
	raw_modify_ok(&c->ap, "Remove", "SCSIDevice", json_pack("{s:i}", "Lun", 1));
}

json_t *ct_spec(struct ct *c, const char *script)
{
	json_error_t jerr;
	json_t *spec = json_loads(ct_spec_template, 0, &jerr);

	ck_assert_msg(spec != NULL, "spec template: %s", jerr.text);
	json_object_set_new(json_object_get(spec, "process"), "args",
			    json_pack("[s, s, s]", "/bin/sh", "-c", script));
	json_object_set_new(json_object_get(spec, "root"), "path", json_string(c->rootfs));
	return spec;
}

char *ct_create_body(struct ct *c, const char *id, const char *bundle, json_t *spec)
{
	char *config =
		json_text(json_pack("{s:{s:i, s:i}, s:s, s:o, s:s}", "SchemaVersion", "Major", 2,
				    "Minor", 1, "OciBundlePath", bundle, "OciSpecification", spec,
				    "ScratchDirPath", c->scratch_dir));
	char *body = json_text(json_pack("{s:s, s:s, s:s}", "ContainerId", id ? id : c->cid,
					 "ActivityId", Z, "ContainerConfig", config));

	free(config);
	return body;
}

char *ct_create(struct ct *c, json_t *spec, int timeout_ms)
{
	char *body = ct_create_body(c, NULL, c->bundle, spec);
	char *resp = raw_call(&c->ap, GCS_MSG_CREATE_REQ, body, timeout_ms);

	free(body);
	return resp;
}

static char *ct_base(struct ct *c)
{
	return json_text(json_pack("{s:s, s:s}", "ContainerId", c->cid, "ActivityId", Z));
}

uint32_t ct_start_init(struct ct *c)
{
	char *base = ct_base(c);

	free(raw_call_result(&c->ap, GCS_MSG_START_REQ, base, 0, 20000));
	free(base);
	return raw_exec(&c->ap, c->cid, json_object());
}

uint32_t ct_exec(struct ct *c, const char *const *argv)
{
	json_t *args = json_array();

	for (size_t i = 0; argv[i]; i++)
		json_array_append_new(args, json_string(argv[i]));
	return raw_exec(&c->ap, c->cid,
			json_pack("{s:{s:b, s:{s:i, s:i}, s:o, s:[s], s:s}}", "OciProcess",
				  "terminal", 0, "user", "uid", 0, "gid", 0, "args", args, "env",
				  "PATH=/bin:/sbin:/usr/bin", "cwd", "/"));
}

void ct_wait_ready(struct ct *c)
{
	int64_t deadline = harness_now_ms() + 10000;
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/ready", c->rootfs);
	while (stat(p, &st) < 0) {
		ck_assert_msg(harness_now_ms() < deadline, "the init of %s did not write /ready",
			      c->cid);
		usleep(10000);
	}
}

bool ct_runc_state(struct ct *c, const char *id)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", c->env.runc_root, id ? id : c->cid);
	return lstat(p, &st) == 0;
}

void ct_delete(struct ct *c)
{
	char *base = ct_base(c);

	free(raw_call_result(&c->ap, GCS_MSG_DELETE_CONTAINER_STATE_REQ, base, 0, 20000));
	free(base);
	ck_assert_msg(!ct_runc_state(c, NULL), "runc state of %s left after DeleteContainerState",
		      c->cid);
}

void ct_check_leftovers(struct ct *c)
{
	char report[4096] = "";

	ck_assert_msg(env_leftovers(&c->env, c->ap.pid, report, sizeof(report)) == 0,
		      "left behind by the agent: %s", report);
	ck_assert_msg(cgroups_named(c->cid, report, sizeof(report)) == 0, "left behind: %s",
		      report);
}

void ct_finish(struct ct *c)
{
	char report[4096] = "";
	char dir[sizeof(c->env.dir)];
	struct stat st;

	c->env.agent = 0;
	snprintf(dir, sizeof(dir), "%s", c->env.dir);
	ck_assert_msg(env_destroy(&c->env, report, sizeof(report)) == 0, "teardown found: %s",
		      report);
	report[0] = '\0';
	ck_assert_msg(loops_backed_under(c->env.suite, report, sizeof(report)) == 0,
		      "loop devices left: %s", report);
	ck_assert_msg(stat(dir, &st) < 0 && errno == ENOENT, "%s is still there", dir);
}

void ct_stop(struct ct *c)
{
	ct_check_leftovers(c);
	agent_stop(&c->ap);
	ct_finish(c);
}
