/* A minimal synchronous QMP client (QEMU's JSON monitor protocol) for disk and NIC hot-plug. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct qmp {
	int fd;
	char buf[65536];
	size_t len;
	char deleted[64][32]; /* ids of DEVICE_DELETED events not yet waited for */
	unsigned n_deleted;
};

/* Connects (retrying until timeout_ms while QEMU starts), reads the greeting, enters command mode. */
int qmp_connect(struct qmp *q, const char *path, int timeout_ms, char *errbuf, size_t errlen);
/*
 * Sends one command (a JSON object text); -EREMOTEIO with QEMU's error description on failure
 * (-ENOENT when its class is DeviceNotFound).
 */
int qmp_execute(struct qmp *q, const char *cmd, int timeout_ms, char *errbuf, size_t errlen);
/*
 * The same with fd (>= 0) attached to the command as SCM_RIGHTS (what getfd and add-fd take),
 * and the reply's "return" value in ret (may be NULL; the caller's reference).
 */
int qmp_call(struct qmp *q, const char *cmd, int fd, int timeout_ms, json_t **ret, char *errbuf,
	     size_t errlen);
/* Waits for DEVICE_DELETED of the given device id. */
int qmp_wait_deleted(struct qmp *q, const char *id, int timeout_ms);
void qmp_close(struct qmp *q);
