/*
 * What the container suites share: the layer images, a test's context (agent, notifications,
 * paths in hcsshim's layout), storage in hcsshim's order, OCI documents, stdio, checks.
 */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gcs/messages.h"
#include "harness.h"
#include "layers.h"

#define Z GCS_NULL_GUID_STRING
/* A call that must succeed; its error (in the caller's err) is the failure message. */
#define OK(call) ck_assert_msg((call) == 0, "%s: %s", #call, err.message)
/* Deadline of every bridge call and of every wait for output or exit. */
#define STEP_MS 20000
/* How long "nothing more arrives" is watched for. */
#define QUIET_MS 300

#define INIT_READY "init-ready"
/*
 * The main init: shows what the overlay looks like from inside, then parks. As PID 1 of its PID
 * namespace it would ignore a SIGTERM without a handler (the Go GCS's recording shows exactly
 * that), so it traps it and exits 143, as a killed process would report.
 */
#define INIT_SCRIPT                                                                           \
	"trap 'exit 143' TERM; cat " LAYERS_UPPER_FILE " " LAYERS_BASE_FILE "; "              \
	"if [ -e " LAYERS_WHITED_OUT " ]; then echo whiteout-broken; else echo whiteout-ok; " \
	"fi; hostname; echo " INIT_READY "; sleep 1000 & wait"

/* Built once in main (Check's parent), shared read-only by every test. */
extern struct layer_set layers;
extern bool layers_ok;
extern char layers_error[GCS_ERROR_MESSAGE_MAX];

struct note {
	char cid[96];
	char type[32];
};

struct ctx {
	struct test_env env;
	struct agent_proc ap;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct note notes[8];
	size_t n_notes; /* all received, even beyond the array */
	char cid[80];
	char scsi_layer[160];
	char pmem_layer[160];
	char bundle[224];
	char rootfs[240];
	char scratch_dir[320];
};

void ctx_after_test(void);
void ctx_test_setup(void);
void on_note(void *user, const struct gcs_proto_notification *n);
size_t notes_wait(struct ctx *c, size_t n, int timeout_ms);
void expect_one_note(struct ctx *c, const char *type);
size_t notes_now(struct ctx *c);
void ctx_start(struct ctx *c, const char *cid, bool disks, bool raw);
void ctx_stop(struct ctx *c);
int agent_read(struct ctx *c, const char *path, char *buf, size_t len);
void expect_file(struct ctx *c, const char *path, const char *text);
void expect_no_file(struct ctx *c, const char *path);
void expect_mounted(struct ctx *c, const char *path, const char *fstype);
void expect_unmounted(struct ctx *c, const char *path);
void expect_nothing_mounted(struct ctx *c);
void expect_unplugged(struct ctx *c, unsigned lun);
bool runc_state_exists(struct ctx *c);
void storage_up(struct ctx *c);
void remove_overlay(struct ctx *c);
void remove_disks(struct ctx *c);
void delete_state(struct ctx *c);
json_t *strv(const char *const *v);
json_t *make_spec(struct ctx *c, const char *const *args, bool terminal);
json_t *make_process(const char *const *args, bool terminal);
int create(struct ctx *c, json_t *spec, struct gcs_error *err);
void append(char *buf, size_t cap, size_t *len, const char *data, size_t n);
void read_until(int fd, char *buf, size_t cap, size_t *len, const char *needle);
uint32_t exec_in(struct ctx *c, const char *const *args, char *out, size_t out_cap, char *errs,
		 size_t err_cap);
struct gcs_process *start_init(struct ctx *c, const struct gcs_stdio st[3]);

/* One test case per test: the layers' sweep runs in Check's parent after each. */
#define ADD_TEST(s, fn)                                                \
	do {                                                           \
		TCase *tc = tcase_create(#fn);                         \
		tcase_set_timeout(tc, 120);                            \
		tcase_add_unchecked_fixture(tc, NULL, ctx_after_test); \
		tcase_add_checked_fixture(tc, ctx_test_setup, NULL);   \
		tcase_add_test(tc, fn);                                \
		suite_add_tcase(s, tc);                                \
	} while (0)

/* Builds the layers, runs the suite, reports what is left: the suite's exit status. */
int ctx_run_suite(Suite *s, const char *name);
