/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMA memory events: tell a subscriber (an RDMA memory map, an IOMMU) about
 * every range of DMA-capable memory the env owns, now and as DPDK maps and
 * unmaps hugepages later (its memory event callbacks; with --no-huge the
 * one area reserved at start-up is all there is and no event follows).
 *
 * Locking: DPDK calls its memory event callbacks with its memory hotplug
 * lock held for writing. osp_mem_event_register() takes that lock for
 * reading while it replays the existing ranges and adds the subscriber, so
 * a subscriber sees each range exactly once, either in the replay or as an
 * event. g_lock (ours) protects the subscriber list; the order is always
 * hotplug lock, then g_lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <rte_config.h>
#include <rte_eal_memconfig.h>
#include <rte_errno.h>
#include <rte_memory.h>

#include "osprey/env.h"

struct mem_sub {
	osp_mem_event_cb cb;
	void *ctx;
	struct mem_sub *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mem_sub *g_subs;
/* Whether DPDK's callback is registered (it is never removed: the EAL drops it at cleanup). */
static bool g_dpdk_cb_registered;

/* Replay state: merges virtually adjacent memsegs into one range per call. */
struct replay {
	osp_mem_event_cb cb;
	void *ctx;
	uintptr_t start;
	size_t len;
};

static void
replay_flush(struct replay *r)
{
	if (r->len != 0) {
		r->cb(r->ctx, true, (void *)r->start, r->len);
		r->len = 0;
	}
}

static int
replay_seg(const struct rte_memseg_list *msl, const struct rte_memseg *ms, void *arg)
{
	struct replay *r = arg;
	uintptr_t va = (uintptr_t)ms->addr;

	/* External memory (rte_malloc_heap_memory_add) is not the env's to report. */
	if (msl->external || ms->addr == NULL || ms->len == 0) {
		return 0;
	}
	if (r->len != 0 && r->start + r->len == va) {
		r->len += ms->len;
		return 0;
	}
	replay_flush(r);
	r->start = va;
	r->len = ms->len;
	return 0;
}

static void
dpdk_mem_event(enum rte_mem_event type, const void *addr, size_t len, void *arg)
{
	struct mem_sub *s;

	pthread_mutex_lock(&g_lock);
	for (s = g_subs; s != NULL; s = s->next) {
		s->cb(s->ctx, type == RTE_MEM_EVENT_ALLOC, (void *)(uintptr_t)addr, len);
	}
	pthread_mutex_unlock(&g_lock);
}

int
osp_mem_event_register(osp_mem_event_cb cb, void *ctx)
{
	struct replay r = { .cb = cb, .ctx = ctx };
	struct mem_sub *s;
	int rc = 0;

	if (cb == NULL) {
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return -ENOMEM;
	}
	s->cb = cb;
	s->ctx = ctx;

	rte_mcfg_mem_read_lock();
	if (!g_dpdk_cb_registered) {
		/* Legacy memory and --no-huge have no events (ENOTSUP): the
		 * memory that exists now is all there will be. */
		if (rte_mem_event_callback_register("osprey_mem_event", dpdk_mem_event, NULL) == 0) {
			g_dpdk_cb_registered = true;
		} else if (rte_errno != ENOTSUP) {
			rc = -rte_errno;
		}
	}
	if (rc == 0) {
		rte_memseg_walk_thread_unsafe(replay_seg, &r);
		replay_flush(&r);
		pthread_mutex_lock(&g_lock);
		s->next = g_subs;
		g_subs = s;
		pthread_mutex_unlock(&g_lock);
	}
	rte_mcfg_mem_read_unlock();
	if (rc != 0) {
		free(s);
	}
	return rc;
}

void
osp_mem_event_unregister(osp_mem_event_cb cb, void *ctx)
{
	struct mem_sub **p, *s = NULL;

	pthread_mutex_lock(&g_lock);
	for (p = &g_subs; *p != NULL; p = &(*p)->next) {
		if ((*p)->cb == cb && (*p)->ctx == ctx) {
			s = *p;
			*p = s->next;
			break;
		}
	}
	pthread_mutex_unlock(&g_lock);
	free(s);
}
