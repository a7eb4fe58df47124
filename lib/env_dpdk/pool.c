/* SPDX-License-Identifier: BSD-3-Clause */
/* Mempools and rings over DPDK's rte_mempool and rte_ring. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>

#include <rte_config.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "osprey/env.h"

static atomic_uint g_ring_seq;
static atomic_uint g_pool_seq;

struct osp_mempool *
osp_mempool_create_ctor(const char *name, size_t count, size_t ele_size, size_t cache_size,
			int socket_id, osp_mempool_obj_cb_t *obj_init, void *obj_init_arg)
{
	char mp_name[RTE_MEMPOOL_NAMESIZE];
	struct rte_mempool *mp;

	if (count == 0 || ele_size == 0) {
		return NULL;
	}
	if (cache_size > RTE_MEMPOOL_CACHE_MAX_SIZE) {
		cache_size = RTE_MEMPOOL_CACHE_MAX_SIZE;
	}
	/* A per-core cache larger than count / 1.5 is refused by DPDK. */
	if (cache_size * 3 / 2 > count) {
		cache_size = count * 2 / 3;
	}
	/* Names are short in DPDK: keep a unique suffix so truncation cannot collide. */
	snprintf(mp_name, sizeof(mp_name), "%.*s_%x", (int)(sizeof(mp_name) - 10),
		 name ? name : "osp", atomic_fetch_add(&g_pool_seq, 1));
	/*
	 * Small elements (messages, events) would be padded to a cache line or
	 * more each; pack them instead and keep alignment for larger ones.
	 */
	mp = rte_mempool_create(mp_name, count, ele_size, cache_size, 0, NULL, NULL,
				(rte_mempool_obj_cb_t *)obj_init, obj_init_arg,
				socket_id == OSP_ENV_SOCKET_ID_ANY ? SOCKET_ID_ANY : socket_id,
				ele_size < RTE_CACHE_LINE_SIZE ? RTE_MEMPOOL_F_NO_CACHE_ALIGN : 0);
	return (struct osp_mempool *)mp;
}

struct osp_mempool *
osp_mempool_create(const char *name, size_t count, size_t ele_size, size_t cache_size,
		   int socket_id)
{
	return osp_mempool_create_ctor(name, count, ele_size, cache_size, socket_id, NULL, NULL);
}

void
osp_mempool_free(struct osp_mempool *mp)
{
	rte_mempool_free((struct rte_mempool *)mp);
}

void *
osp_mempool_get(struct osp_mempool *mp)
{
	void *ele;

	if (rte_mempool_get((struct rte_mempool *)mp, &ele) != 0) {
		return NULL;
	}
	return ele;
}

int
osp_mempool_get_bulk(struct osp_mempool *mp, void **ele_arr, size_t count)
{
	return rte_mempool_get_bulk((struct rte_mempool *)mp, ele_arr, count) == 0 ? 0 : -ENOMEM;
}

void
osp_mempool_put(struct osp_mempool *mp, void *ele)
{
	rte_mempool_put((struct rte_mempool *)mp, ele);
}

void
osp_mempool_put_bulk(struct osp_mempool *mp, void **ele_arr, size_t count)
{
	rte_mempool_put_bulk((struct rte_mempool *)mp, ele_arr, count);
}

size_t
osp_mempool_count(const struct osp_mempool *mp)
{
	return rte_mempool_avail_count((const struct rte_mempool *)mp);
}

const char *
osp_mempool_get_name(const struct osp_mempool *mp)
{
	return ((const struct rte_mempool *)mp)->name;
}

struct osp_ring *
osp_ring_create(enum osp_ring_type type, size_t count, int socket_id)
{
	char name[RTE_RING_NAMESIZE];
	unsigned flags;

	switch (type) {
	case OSP_RING_TYPE_SP_SC:
		flags = RING_F_SP_ENQ | RING_F_SC_DEQ;
		break;
	case OSP_RING_TYPE_MP_SC:
		flags = RING_F_SC_DEQ;
		break;
	case OSP_RING_TYPE_MP_MC:
		flags = 0;
		break;
	default:
		return NULL;
	}
	if (count < 2 || count > RTE_RING_SZ_MASK) {
		return NULL;
	}
	count = rte_align32pow2(count);
	snprintf(name, sizeof(name), "osp_ring_%u", atomic_fetch_add(&g_ring_seq, 1));
	return (struct osp_ring *)rte_ring_create(name, count,
			socket_id == OSP_ENV_SOCKET_ID_ANY ? SOCKET_ID_ANY : socket_id, flags);
}

void
osp_ring_free(struct osp_ring *ring)
{
	rte_ring_free((struct rte_ring *)ring);
}

size_t
osp_ring_count(struct osp_ring *ring)
{
	return rte_ring_count((struct rte_ring *)ring);
}

size_t
osp_ring_enqueue(struct osp_ring *ring, void **objs, size_t count, size_t *free_space)
{
	unsigned fs;
	size_t n;

	n = rte_ring_enqueue_bulk((struct rte_ring *)ring, objs, count, &fs);
	if (free_space != NULL) {
		*free_space = fs;
	}
	return n;
}

size_t
osp_ring_dequeue(struct osp_ring *ring, void **objs, size_t count)
{
	return rte_ring_dequeue_burst((struct rte_ring *)ring, objs, count, NULL);
}
