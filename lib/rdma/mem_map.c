/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RDMA memory map: the env's DMA memory registered with a protection domain,
 * translated to (lkey, rkey) per I/O without a syscall or a lock.
 *
 * Writer side (the env's memory events, serialized by the env): a sorted
 * list of live ranges, one per range the env reported added (minus what it
 * freed since), each with its own memory region. A region reaches up to
 * OSP_RDMA_MEM_MAP_SPAN bytes into the live neighbours it had when it was
 * registered, so a buffer that the DPDK heap placed across the boundary of
 * two ranges added one after the other still lies inside one region (the
 * later one) and translates.
 *
 * Freeing: a region whose span meets freed memory must no longer be handed
 * out (the address may be mapped again to other pages, which the region
 * does not see), but work requests already posted with its keys on the
 * parts that stay live must keep working. So it turns stale: the live parts
 * get new regions at once, and the stale one is deregistered only when no
 * live range meets its span any more (nothing legitimate can use it then).
 *
 * Reader side (any thread): the live ranges are published as an immutable
 * table (copy on write, release/acquire). Old tables are kept until the map
 * is destroyed, since a reader may still hold one; memory events are rare
 * (hugepages mapped or unmapped), so they stay few.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>

#include "osprey/env.h"
#include "osprey/log.h"
#include "osprey/rdma.h"

#define MM_ACCESS (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE)

struct mm_mr {
	struct ibv_mr *mr;
	uintptr_t start;
	uintptr_t end;
	bool stale;
	struct mm_mr *next;
};

struct mm_range {
	uintptr_t start;		/* the live memory */
	uintptr_t end;
	uintptr_t mr_start;		/* the span of its region; empty when unregistered */
	uintptr_t mr_end;
	uint32_t lkey;
	uint32_t rkey;
	struct mm_mr *mr;		/* writer side only */
	bool redo;			/* writer side: needs a new region */
};

struct mm_table {
	size_t n;
	struct mm_table *retired_next;
	struct mm_range r[];
};

struct osp_rdma_mem_map {
	struct ibv_pd *pd;
	int ref;
	_Atomic(struct mm_table *) table;
	/* Writer side (under lock). */
	pthread_mutex_t lock;
	struct mm_range *ranges;
	size_t n;
	size_t cap;
	struct mm_mr *mrs;
	struct mm_table *retired;
	int error;
	struct osp_rdma_mem_map *next;
};

static pthread_mutex_t g_maps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct osp_rdma_mem_map *g_maps;

static int
mm_reserve(struct osp_rdma_mem_map *map, size_t n)
{
	struct mm_range *r;
	size_t cap;

	if (n <= map->cap) {
		return 0;
	}
	cap = map->cap ? map->cap * 2 : 16;
	while (cap < n) {
		cap *= 2;
	}
	r = realloc(map->ranges, cap * sizeof(*r));
	if (r == NULL) {
		return -ENOMEM;
	}
	map->ranges = r;
	map->cap = cap;
	return 0;
}

/* The span a region for ranges[i] gets: up to SPAN into contiguous live neighbours. */
static void
mm_span(const struct osp_rdma_mem_map *map, size_t i, uintptr_t *s, uintptr_t *e)
{
	uintptr_t lo = map->ranges[i].start, hi = map->ranges[i].end;
	uintptr_t want_lo = lo > OSP_RDMA_MEM_MAP_SPAN ? lo - OSP_RDMA_MEM_MAP_SPAN : 0;
	uintptr_t want_hi = hi + OSP_RDMA_MEM_MAP_SPAN < hi ? UINTPTR_MAX : hi + OSP_RDMA_MEM_MAP_SPAN;
	size_t j;

	for (j = i; j > 0 && lo > want_lo && map->ranges[j - 1].end == lo; j--) {
		lo = map->ranges[j - 1].start > want_lo ? map->ranges[j - 1].start : want_lo;
	}
	for (j = i + 1; j < map->n && hi < want_hi && map->ranges[j].start == hi; j++) {
		hi = map->ranges[j].end < want_hi ? map->ranges[j].end : want_hi;
	}
	*s = lo;
	*e = hi;
}

static void
mm_register(struct osp_rdma_mem_map *map, size_t i)
{
	struct mm_range *r = &map->ranges[i];
	struct mm_mr *m;
	uintptr_t s, e;

	r->mr = NULL;
	r->mr_start = r->mr_end = 0;
	r->lkey = r->rkey = 0;
	r->redo = false;
	mm_span(map, i, &s, &e);
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		map->error = -ENOMEM;
		return;
	}
	m->mr = ibv_reg_mr(map->pd, (void *)s, e - s, MM_ACCESS);
	if (m->mr == NULL) {
		map->error = errno ? -errno : -ENOMEM;
		OSP_ERRLOG("ibv_reg_mr(%p, %zu) failed: %s\n", (void *)s, (size_t)(e - s),
			   strerror(-map->error));
		free(m);
		return;
	}
	m->start = s;
	m->end = e;
	m->next = map->mrs;
	map->mrs = m;
	r->mr = m;
	r->mr_start = s;
	r->mr_end = e;
	r->lkey = m->mr->lkey;
	r->rkey = m->mr->rkey;
}

static bool
overlaps(uintptr_t a0, uintptr_t a1, uintptr_t b0, uintptr_t b1)
{
	return a0 < b1 && b0 < a1;
}

/* Deregister the stale regions no live range meets any more. */
static void
mm_reap(struct osp_rdma_mem_map *map)
{
	struct mm_mr **p = &map->mrs, *m;
	size_t i;
	bool live;

	while ((m = *p) != NULL) {
		live = !m->stale;
		for (i = 0; i < map->n && !live; i++) {
			live = overlaps(m->start, m->end, map->ranges[i].start, map->ranges[i].end);
		}
		if (live) {
			p = &m->next;
			continue;
		}
		*p = m->next;
		ibv_dereg_mr(m->mr);
		free(m);
	}
}

/* Publish the live ranges to the readers. */
static void
mm_publish(struct osp_rdma_mem_map *map)
{
	struct mm_table *t = malloc(sizeof(*t) + map->n * sizeof(t->r[0])), *old;

	if (t == NULL) {
		/* Readers keep the previous table: added memory does not translate yet. */
		map->error = -ENOMEM;
		return;
	}
	t->n = map->n;
	t->retired_next = NULL;
	if (map->n > 0) {
		memcpy(t->r, map->ranges, map->n * sizeof(t->r[0]));
	}
	old = atomic_exchange_explicit(&map->table, t, memory_order_acq_rel);
	if (old != NULL) {
		old->retired_next = map->retired;
		map->retired = old;
	}
}

static void
mm_free_range(struct osp_rdma_mem_map *map, uintptr_t v, uintptr_t e)
{
	size_t i, j, extra = 0;
	struct mm_range *r;

	/* A region whose span meets the freed memory turns stale; its range needs a new one. */
	for (i = 0; i < map->n; i++) {
		r = &map->ranges[i];
		if (r->mr != NULL && overlaps(r->mr_start, r->mr_end, v, e)) {
			r->mr->stale = true;
			r->redo = true;
		}
		if (overlaps(r->start, r->end, v, e) && r->start < v && r->end > e) {
			extra++;
		}
	}
	if (mm_reserve(map, map->n + extra) != 0) {
		map->error = -ENOMEM;
		OSP_ERRLOG("no memory to split a registration: range %p-%p no longer translates\n",
			   (void *)v, (void *)e);
		/* Drop the split ranges whole rather than keep translating freed memory. */
		extra = 0;
	}
	for (i = 0; i < map->n;) {
		r = &map->ranges[i];
		if (!overlaps(r->start, r->end, v, e)) {
			i++;
			continue;
		}
		r->redo = true;
		if (r->start < v && r->end > e) {
			if (map->n + 1 > map->cap) {
				memmove(r, r + 1, (map->n - i - 1) * sizeof(*r));
				map->n--;
				continue;
			}
			memmove(r + 1, r, (map->n - i) * sizeof(*r));
			map->n++;
			r[0].end = v;
			r[1].start = e;
			i += 2;
		} else if (r->start < v) {
			r->end = v;
			i++;
		} else if (r->end > e) {
			r->start = e;
			i++;
		} else {
			memmove(r, r + 1, (map->n - i - 1) * sizeof(*r));
			map->n--;
		}
	}
	for (j = 0; j < map->n; j++) {
		if (map->ranges[j].redo) {
			mm_register(map, j);
		}
	}
}

static void
mm_add_range(struct osp_rdma_mem_map *map, uintptr_t v, uintptr_t e)
{
	size_t i;

	/* Never reported twice; if it were, forget the old state of that memory first. */
	for (i = 0; i < map->n; i++) {
		if (overlaps(map->ranges[i].start, map->ranges[i].end, v, e)) {
			mm_free_range(map, v, e);
			break;
		}
	}
	if (mm_reserve(map, map->n + 1) != 0) {
		map->error = -ENOMEM;
		return;
	}
	for (i = 0; i < map->n && map->ranges[i].start < v; i++) {
	}
	memmove(&map->ranges[i + 1], &map->ranges[i], (map->n - i) * sizeof(map->ranges[0]));
	map->n++;
	memset(&map->ranges[i], 0, sizeof(map->ranges[i]));
	map->ranges[i].start = v;
	map->ranges[i].end = e;
	mm_register(map, i);
}

static void
mm_event(void *ctx, bool added, void *vaddr, size_t len)
{
	struct osp_rdma_mem_map *map = ctx;
	uintptr_t v = (uintptr_t)vaddr, e = v + len;

	if (len == 0 || e < v) {
		return;
	}
	pthread_mutex_lock(&map->lock);
	if (added) {
		mm_add_range(map, v, e);
	} else {
		mm_free_range(map, v, e);
	}
	mm_reap(map);
	mm_publish(map);
	pthread_mutex_unlock(&map->lock);
}

static void
mm_destroy(struct osp_rdma_mem_map *map)
{
	struct mm_table *t, *tn;
	struct mm_mr *m, *mn;

	for (m = map->mrs; m != NULL; m = mn) {
		mn = m->next;
		ibv_dereg_mr(m->mr);
		free(m);
	}
	free(atomic_load(&map->table));
	for (t = map->retired; t != NULL; t = tn) {
		tn = t->retired_next;
		free(t);
	}
	free(map->ranges);
	pthread_mutex_destroy(&map->lock);
	free(map);
}

struct osp_rdma_mem_map *
osp_rdma_mem_map_get(struct ibv_pd *pd)
{
	struct osp_rdma_mem_map *map;
	int rc;

	if (pd == NULL) {
		return NULL;
	}
	pthread_mutex_lock(&g_maps_lock);
	for (map = g_maps; map != NULL; map = map->next) {
		if (map->pd == pd) {
			map->ref++;
			pthread_mutex_unlock(&g_maps_lock);
			return map;
		}
	}
	map = calloc(1, sizeof(*map));
	if (map == NULL) {
		pthread_mutex_unlock(&g_maps_lock);
		return NULL;
	}
	map->pd = pd;
	map->ref = 1;
	pthread_mutex_init(&map->lock, NULL);
	rc = osp_mem_event_register(mm_event, map);
	if (rc == 0 && map->error == 0 && atomic_load(&map->table) == NULL) {
		/* No DMA memory at all yet: an empty table, so readers find nothing. */
		pthread_mutex_lock(&map->lock);
		mm_publish(map);
		pthread_mutex_unlock(&map->lock);
	}
	if (rc != 0 || map->error != 0) {
		OSP_ERRLOG("cannot register the env's DMA memory with the protection domain: %s\n",
			   strerror(rc ? -rc : -map->error));
		if (rc == 0) {
			osp_mem_event_unregister(mm_event, map);
		}
		mm_destroy(map);
		pthread_mutex_unlock(&g_maps_lock);
		return NULL;
	}
	map->next = g_maps;
	g_maps = map;
	pthread_mutex_unlock(&g_maps_lock);
	return map;
}

void
osp_rdma_mem_map_put(struct osp_rdma_mem_map *map)
{
	struct osp_rdma_mem_map **p;

	if (map == NULL) {
		return;
	}
	pthread_mutex_lock(&g_maps_lock);
	if (--map->ref > 0) {
		pthread_mutex_unlock(&g_maps_lock);
		return;
	}
	for (p = &g_maps; *p != NULL; p = &(*p)->next) {
		if (*p == map) {
			*p = map->next;
			break;
		}
	}
	pthread_mutex_unlock(&g_maps_lock);
	osp_mem_event_unregister(mm_event, map);
	mm_destroy(map);
}

int
osp_rdma_mem_translate(const struct osp_rdma_mem_map *map, const void *addr, size_t len,
		       uint32_t *lkey, uint32_t *rkey)
{
	const struct mm_table *t;
	uintptr_t a = (uintptr_t)addr, e = a + len;
	size_t lo = 0, hi, mid, i;
	const struct mm_range *r;

	if (map == NULL || len == 0 || e < a) {
		return -EINVAL;
	}
	t = atomic_load_explicit(&((struct osp_rdma_mem_map *)map)->table, memory_order_acquire);
	if (t == NULL) {
		return -EINVAL;
	}
	/* First range ending after a. */
	hi = t->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (t->r[mid].end <= a) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	if (lo >= t->n || t->r[lo].start > a) {
		return -EINVAL;
	}
	/* Its own region first, then the neighbours' that may reach over it. */
	for (i = 0; i < 3; i++) {
		size_t k = i == 0 ? lo : (i == 1 ? lo + 1 : lo - 1);

		if (k >= t->n) {	/* lo + 1 past the end, or lo - 1 below 0 */
			continue;
		}
		r = &t->r[k];
		if (r->mr_start <= a && e <= r->mr_end && r->mr_end > r->mr_start) {
			if (lkey != NULL) {
				*lkey = r->lkey;
			}
			if (rkey != NULL) {
				*rkey = r->rkey;
			}
			return 0;
		}
	}
	return -EINVAL;
}
