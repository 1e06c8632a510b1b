#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
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

/* An event waiting to be sent: its topic and its packed Any value, stamped when posted. */
struct pending {
	struct pending *next;
	char *topic;
	const char *type_url;
	uint8_t *value;
	size_t len;
	struct timespec at;
};

struct events {
	char *address;
	char *namespace;
	pthread_mutex_t lock; /* the connection */
	struct ttrpc_client *client;
	/* the queue of events_post, sent in order by sender */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct pending *head, **tail;
	bool busy, stop, started;
	pthread_t sender;
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
	pthread_mutex_init(&e->qlock, NULL);
	pthread_cond_init(&e->qcond, NULL);
	e->tail = &e->head;
	*ret_events = e;
	return 0;
}

void events_free(struct events *e)
{
	if (!e)
		return;
	if (e->started) {
		pthread_mutex_lock(&e->qlock);
		e->stop = true;
		pthread_cond_broadcast(&e->qcond);
		pthread_mutex_unlock(&e->qlock);
		pthread_join(e->sender, NULL);
	}
	while (e->head) {
		struct pending *p = e->head;

		e->head = p->next;
		log_warn("event %s dropped at exit", p->topic);
		free(p->topic);
		free(p->value);
		free(p);
	}
	ttrpc_client_free(e->client);
	pthread_cond_destroy(&e->qcond);
	pthread_mutex_destroy(&e->qlock);
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

/* Forwards one packed event, trying EVENTS_TRIES times. */
static int send_packed(struct events *e, const char *topic, const char *type_url, uint8_t *value,
		       size_t len, const struct timespec *at)
{
	Containerd__Services__Events__Ttrpc__V1__ForwardRequest req =
		CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
	Containerd__Services__Events__Ttrpc__V1__Envelope env =
		CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	int r = 0;

	ts.seconds = at->tv_sec;
	ts.nanos = (int32_t)at->tv_nsec;
	any.type_url = (char *)type_url;
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
	else
		log_debug("event %s sent", topic);
	return r;
}

static int pack(const ProtobufCMessage *event, uint8_t **ret, size_t *ret_len)
{
	size_t len = protobuf_c_message_get_packed_size(event);
	uint8_t *value = malloc(len ? len : 1);

	if (!value)
		return -ENOMEM;
	protobuf_c_message_pack(event, value);
	*ret = value;
	*ret_len = len;
	return 0;
}

int events_publish(struct events *e, const char *topic, const ProtobufCMessage *event)
{
	_cleanup_free_ uint8_t *value = NULL;
	struct timespec now;
	size_t len;
	int r;

	r = pack(event, &value, &len);
	if (r < 0)
		return r;
	clock_gettime(CLOCK_REALTIME, &now);
	return send_packed(e, topic, event->descriptor->name, value, len, &now);
}

static void *sender(void *arg)
{
	struct events *e = arg;

	pthread_mutex_lock(&e->qlock);
	for (;;) {
		struct pending *p = e->head;

		if (!p) {
			e->busy = false;
			pthread_cond_broadcast(&e->qcond);
			if (e->stop)
				break;
			pthread_cond_wait(&e->qcond, &e->qlock);
			continue;
		}
		e->busy = true;
		e->head = p->next;
		if (!e->head)
			e->tail = &e->head;
		pthread_mutex_unlock(&e->qlock);
		send_packed(e, p->topic, p->type_url, p->value, p->len, &p->at);
		free(p->topic);
		free(p->value);
		free(p);
		pthread_mutex_lock(&e->qlock);
	}
	pthread_mutex_unlock(&e->qlock);
	return NULL;
}

int events_post(struct events *e, const char *topic, const ProtobufCMessage *event)
{
	struct pending *p;
	int r = 0;

	if (!e)
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->topic = strdup(topic)) || pack(event, &p->value, &p->len) < 0) {
		if (p)
			free(p->topic);
		free(p);
		log_error("event %s: out of memory", topic);
		return -ENOMEM;
	}
	p->type_url = event->descriptor->name;
	clock_gettime(CLOCK_REALTIME, &p->at);
	pthread_mutex_lock(&e->qlock);
	if (!e->started) {
		r = -pthread_create(&e->sender, NULL, sender, e);
		e->started = r == 0;
	}
	if (r == 0) {
		*e->tail = p;
		e->tail = &p->next;
		pthread_cond_broadcast(&e->qcond);
	}
	pthread_mutex_unlock(&e->qlock);
	if (r < 0) {
		log_error("event %s: no sender thread: %s", topic, strerror(-r));
		free(p->topic);
		free(p->value);
		free(p);
	}
	return r;
}

void events_flush(struct events *e, int timeout_ms)
{
	struct timespec until;

	if (!e)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&e->qlock);
	while ((e->head || e->busy) &&
	       pthread_cond_timedwait(&e->qcond, &e->qlock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&e->qlock);
}
