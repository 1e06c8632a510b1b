/*
 * Task Stats for containerd: the agent's LCOWMetrics (containerd's cgroup v1 Metrics as JSON,
 * keys the proto field names) turned into the protobuf message containerd's `ctr task metrics`
 * decodes, by a converter that reads any protobuf-c message descriptor.
 */
#pragma once

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "google/protobuf/any.pb-c.h"

/*
 * The Any type_url of cgroup v1 Metrics: containerd's typeurl falls back to gogo's proto
 * registry, where github.com/containerd/cgroups registers the bare message name (no
 * "type.googleapis.com/" prefix).
 */
#define METRICS_V1_TYPE_URL "io.containerd.cgroups.v1.Metrics"

/*
 * Builds a message of type desc from the JSON object obj: each field is read from the key of
 * its proto name; other keys are ignored; a null value is taken as absent. Integer fields take
 * a JSON integer or an integral real in range (the real 2^64, which is how a double holds
 * UINT64_MAX, reads as UINT64_MAX); double and float fields any number; bool fields true or
 * false; string fields a string; enum fields a number or a value name; message fields an
 * object; repeated fields an array of those. Bytes fields are not supported.
 *
 * On success *ret is a malloc'd message, as protobuf_c_message_unpack(desc, NULL, ...) makes
 * them: protobuf_c_message_free_unpacked(*ret, NULL) frees it. On failure nothing is left
 * allocated, *ret is untouched and err holds the field path and the reason ("memory.usage.
 * limit: expected an integer, got a string"): -EINVAL for a wrong type or value, -ERANGE for a
 * number out of the field's range, -EOPNOTSUPP for a bytes field, -ENOMEM.
 */
int metrics_message_from_json(const ProtobufCMessageDescriptor *desc, const json_t *obj,
			      ProtobufCMessage **ret, char *err, size_t len);

/*
 * The StatsResponse.stats of a container: LCOWMetrics as an io.containerd.cgroups.v1.Metrics,
 * packed. Sets ret->type_url and ret->value of the caller's Any (initialised, e.g. with
 * GOOGLE__PROTOBUF__ANY__INIT) only on success; both are malloc'd and the caller frees them
 * (free() each, or google__protobuf__any__free_unpacked on a malloc'd Any). Errors as
 * metrics_message_from_json.
 */
int metrics_stats_any(const json_t *lcow_metrics, Google__Protobuf__Any *ret, char *err,
		      size_t len);
