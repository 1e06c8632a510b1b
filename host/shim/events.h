/*
 * Task events to containerd: ttrpc `containerd.services.events.ttrpc.v1.Events/Forward` on
 * $TTRPC_ADDRESS, one Envelope per event (what containerd's Go shim library does since 1.3).
 */
#pragma once

#include <protobuf-c/protobuf-c.h>

struct events;

/* address: containerd's ttrpc socket ($TTRPC_ADDRESS); namespace: the shim's -namespace. */
int events_new(const char *address, const char *namespace, struct events **ret_events);
void events_free(struct events *e);

/*
 * Sends event under topic ("/tasks/exit"), its Any's type_url the bare message name
 * ("containerd.events.TaskExit", as containerd expects). Connects when needed and tries up to
 * five times, 100 ms apart and doubling. Thread-safe; blocks while it tries.
 */
int events_publish(struct events *e, const char *topic, const ProtobufCMessage *event);
/*
 * The same, without blocking: the event is stamped now and queued; one thread sends the queue
 * in order (the v2 README's ordering: create, start, exit, delete). e NULL (no $TTRPC_ADDRESS):
 * nothing. The message is packed before this returns.
 */
int events_post(struct events *e, const char *topic, const ProtobufCMessage *event);
/* Waits up to timeout_ms for the queue to be sent (before exit). */
void events_flush(struct events *e, int timeout_ms);
