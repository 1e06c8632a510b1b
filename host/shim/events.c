#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "github.com/containerd/containerd/api/services/ttrpc/events/v1/events.pb-c.h"
#include "log.h"
#include "ttrpc.h"

#define EVENTS_SERVICE "containerd.services.events.ttrpc.v1.Events"
#define EVENTS_TRIES 5
#define EVENTS_TIMEOUT_MS 5000

struct events {
	char *address;
	char *namespace;
	pthread_mutex_t lock;
	struct ttrpc_client *client;
};

int events_new(const char *address, const char *namespace, struct events **ret_events)
{
	struct events *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->address = strdup(address);
	e->namespace = strdup(namespace);
	if (!e->address || !e->namespace) {
		events_free(e);
		return -ENOMEM;
	}
	pthread_mutex_init(&e->lock, NULL);
	*ret_events = e;
	return 0;
}

void events_free(struct events *e)
{
	if (!e)
		return;
	ttrpc_client_free(e->client);
	pthread_mutex_destroy(&e->lock);
	free(e->address);
	free(e->namespace);
	free(e);
}

/* One Forward over the current connection (made when there is none). */
static int forward(struct events *e,
		   const Containerd__Services__Events__Ttrpc__V1__ForwardRequest *req,
		   const char *topic)
{
	_cleanup_free_ char *message = NULL;
	int code, r;

	if (!e->client) {
		r = ttrpc_client_connect(e->address, &e->client);
		if (r < 0)
			return r;
	}
	r = ttrpc_client_call(e->client, EVENTS_SERVICE, "Forward", &req->base, NULL,
			      EVENTS_TIMEOUT_MS, &code, &message, NULL);
	if (r < 0) {
		ttrpc_client_free(e->client);
		e->client = NULL;
		return r;
	}
	if (code != 0) {
		log_warn("forward %s: code %d: %s", topic, code, message);
		return -EPROTO;
	}
	return 0;
}

int events_publish(struct events *e, const char *topic, const ProtobufCMessage *event)
{
	Containerd__Services__Events__Ttrpc__V1__ForwardRequest req =
		CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
	Containerd__Services__Events__Ttrpc__V1__Envelope env =
		CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	_cleanup_free_ uint8_t *value = NULL;
	struct timespec now;
	size_t len = protobuf_c_message_get_packed_size(event);
	int r = 0;

	value = malloc(len ? len : 1);
	if (!value)
		return -ENOMEM;
	protobuf_c_message_pack(event, value);
	clock_gettime(CLOCK_REALTIME, &now);
	ts.seconds = now.tv_sec;
	ts.nanos = (int32_t)now.tv_nsec;
	any.type_url = (char *)event->descriptor->name;
	any.value.data = value;
	any.value.len = len;
	env.timestamp = &ts;
	env.namespace_ = e->namespace;
	env.topic = (char *)topic;
	env.event = &any;
	req.envelope = &env;

	pthread_mutex_lock(&e->lock);
	for (int i = 0; i < EVENTS_TRIES; i++) {
		if (i > 0) {
			struct timespec d = { 0, 100000000L << (i - 1) };

			while (d.tv_nsec >= 1000000000L) {
				d.tv_sec++;
				d.tv_nsec -= 1000000000L;
			}
			nanosleep(&d, NULL);
		}
		r = forward(e, &req, topic);
		if (r >= 0)
			break;
	}
	pthread_mutex_unlock(&e->lock);
	if (r < 0)
		log_error("publish %s: %s", topic, strerror(-r));
	return r;
}
