/* A minimal intrusive doubly linked list. */
#pragma once

#include <stddef.h>

struct list {
	struct list *prev, *next;
};

#define LIST_INIT(name)          \
	{                        \
		&(name), &(name) \
	}
#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_for_each_safe(pos, tmp, head)                               \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); \
	     (pos) = (tmp), (tmp) = (pos)->next)
#define list_for_each(pos, head) for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

static inline void list_init(struct list *l)
{
	l->prev = l->next = l;
}

static inline int list_empty(const struct list *l)
{
	return l->next == l;
}

/* An entry that was list_init'ed or list_del'ed is linked nowhere. */
static inline int list_linked(const struct list *n)
{
	return n->next != n;
}

static inline void list_add_tail(struct list *head, struct list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static inline void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

static inline size_t list_count(const struct list *head)
{
	size_t n = 0;

	for (const struct list *p = head->next; p != head; p = p->next)
		n++;
	return n;
}
