/* A minimal intrusive doubly linked list. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct vlist {
	struct vlist *prev, *next;
};

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif
#define vlist_entry(ptr, type, member) container_of(ptr, type, member)
#define vlist_for_each_safe(pos, tmp, head)                              \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); \
	     (pos) = (tmp), (tmp) = (pos)->next)

static inline void vlist_init(struct vlist *l)
{
	l->prev = l->next = l;
}

static inline bool vlist_empty(const struct vlist *l)
{
	return l->next == l;
}

/* An entry that was vlist_init'ed or vlist_del'ed is linked nowhere. */
static inline bool vlist_linked(const struct vlist *n)
{
	return n->next != n;
}

static inline void vlist_add_tail(struct vlist *head, struct vlist *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static inline void vlist_del(struct vlist *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

static inline size_t vlist_count(const struct vlist *head)
{
	size_t n = 0;

	for (const struct vlist *p = head->next; p != head; p = p->next)
		n++;
	return n;
}
