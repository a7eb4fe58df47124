/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the env: core sets, rings, mempools, DMA memory, ticks. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>


#include "osprey/env.h"
#include "ut_env.h"
#include "ut_run.h"

static void
test_cpuset_parse(void)
{
	struct osp_cpuset s;

	CU_ASSERT(osp_cpuset_parse(&s, "0x3") == 0);
	CU_ASSERT(osp_cpuset_count(&s) == 2);
	CU_ASSERT(osp_cpuset_get_cpu(&s, 0) && osp_cpuset_get_cpu(&s, 1));
	CU_ASSERT_STRING_EQUAL(osp_cpuset_fmt(&s), "3");
	CU_ASSERT(osp_cpuset_parse(&s, "F0") == 0);
	CU_ASSERT(osp_cpuset_count(&s) == 4 && osp_cpuset_get_cpu(&s, 4) && !osp_cpuset_get_cpu(&s, 0));
	CU_ASSERT(osp_cpuset_parse(&s, "[0-2,5]") == 0);
	CU_ASSERT(osp_cpuset_count(&s) == 4 && osp_cpuset_get_cpu(&s, 5));
	CU_ASSERT_STRING_EQUAL(osp_cpuset_fmt(&s), "27");
	CU_ASSERT(osp_cpuset_parse(&s, "1,3") == 0);
	CU_ASSERT(osp_cpuset_count(&s) == 2 && osp_cpuset_get_cpu(&s, 3));
	CU_ASSERT(osp_cpuset_parse(&s, "0x100000000") == 0);
	CU_ASSERT(osp_cpuset_get_cpu(&s, 32));
	/* Bad input. */
	CU_ASSERT(osp_cpuset_parse(&s, "") == -EINVAL);
	CU_ASSERT(osp_cpuset_parse(&s, "0x") == -EINVAL);
	CU_ASSERT(osp_cpuset_parse(&s, "0x0") == -EINVAL);
	CU_ASSERT(osp_cpuset_parse(&s, "xyz") == -EINVAL);
	CU_ASSERT(osp_cpuset_parse(&s, "[3-1]") == -EINVAL);
	CU_ASSERT(osp_cpuset_parse(&s, "[0,1") == -EINVAL);
	CU_ASSERT(osp_cpuset_parse(&s, "[0-99999]") == -EINVAL);
	CU_ASSERT(osp_cpuset_parse(&s, NULL) == -EINVAL);
}

static void
test_ring(void)
{
	struct osp_ring *r = osp_ring_create(OSP_RING_TYPE_MP_SC, 6, OSP_ENV_SOCKET_ID_ANY);
	void *objs[16], *out[16];
	size_t fs, i;

	CU_ASSERT_FATAL(r != NULL);
	for (i = 0; i < 16; i++) {
		objs[i] = (void *)(uintptr_t)(i + 1);
	}
	/* Rounded up to 8 slots: 7 usable; all or nothing. */
	CU_ASSERT(osp_ring_enqueue(r, objs, 8, &fs) == 0);
	CU_ASSERT(osp_ring_enqueue(r, objs, 5, &fs) == 5);
	CU_ASSERT(fs == 2);
	CU_ASSERT(osp_ring_count(r) == 5);
	CU_ASSERT(osp_ring_dequeue(r, out, 3) == 3);
	CU_ASSERT(out[0] == objs[0] && out[2] == objs[2]);
	CU_ASSERT(osp_ring_dequeue(r, out, 16) == 2);
	CU_ASSERT(out[1] == objs[4]);
	CU_ASSERT(osp_ring_dequeue(r, out, 16) == 0);
	osp_ring_free(r);
	CU_ASSERT(osp_ring_create(OSP_RING_TYPE_SP_SC, 1, OSP_ENV_SOCKET_ID_ANY) == NULL);
}

static void
test_mempool(void)
{
	struct osp_mempool *mp = osp_mempool_create("ut_pool", 64, 128, 8, OSP_ENV_SOCKET_ID_ANY);
	struct osp_mempool *mp2 = osp_mempool_create("ut_pool", 4, 16, 0, OSP_ENV_SOCKET_ID_ANY);
	void *e[64], *x;
	int i;

	CU_ASSERT_FATAL(mp != NULL);
	/* Same name twice is allowed: names are made unique. */
	CU_ASSERT_FATAL(mp2 != NULL);
	CU_ASSERT(osp_mempool_count(mp) == 64);
	CU_ASSERT(osp_mempool_get_bulk(mp, e, 64) == 0);
	CU_ASSERT(osp_mempool_get(mp) == NULL);
	CU_ASSERT(osp_mempool_get_bulk(mp, &x, 1) == -ENOMEM);
	for (i = 0; i < 64; i++) {
		memset(e[i], 0xa5, 128);
	}
	osp_mempool_put_bulk(mp, e, 64);
	CU_ASSERT(osp_mempool_count(mp) == 64);
	x = osp_mempool_get(mp);
	CU_ASSERT(x != NULL);
	osp_mempool_put(mp, x);
	osp_mempool_free(mp);
	osp_mempool_free(mp2);
	CU_ASSERT(osp_mempool_create("zero", 0, 16, 0, OSP_ENV_SOCKET_ID_ANY) == NULL);
}

static void
test_dma(void)
{
	uint64_t phys = 0, size;
	char *buf = osp_dma_zmalloc(8192, 4096, &phys);
	int i, zero = 1;

	CU_ASSERT_FATAL(buf != NULL);
	CU_ASSERT(((uintptr_t)buf & 4095) == 0);
	for (i = 0; i < 8192; i++) {
		zero &= buf[i] == 0;
	}
	CU_ASSERT(zero);
	size = 8192;
	CU_ASSERT(osp_vtophys(buf, &size) != OSP_VTOPHYS_ERROR);
	CU_ASSERT(size > 0 && size <= 8192);
	CU_ASSERT(osp_vtophys(buf + 4096, NULL) == phys + 4096);
	osp_dma_free(buf);
	CU_ASSERT(osp_dma_malloc(64, 3, NULL) == NULL);
	/* Memory the env does not own has no IOVA (a device could not reach it). */
	buf = malloc(8192);
	CU_ASSERT_FATAL(buf != NULL);
	size = 8192;
	CU_ASSERT(osp_vtophys(buf, &size) == OSP_VTOPHYS_ERROR);
	CU_ASSERT(osp_vtophys(&size, NULL) == OSP_VTOPHYS_ERROR);
	free(buf);
}

static void
test_cores_and_time(void)
{
	uint32_t i, n = 0;
	uint64_t t0;

	OSP_ENV_FOREACH_CORE(i) {
		n++;
	}
	CU_ASSERT(n == osp_env_get_core_count());
	CU_ASSERT(osp_env_get_first_core() == 0);
	CU_ASSERT(osp_env_get_current_core() == 0);
	CU_ASSERT(osp_get_ticks_hz() > 1000000);
	t0 = osp_get_ticks();
	osp_delay_us(1000);
	CU_ASSERT(osp_get_ticks() - t0 >= osp_get_ticks_hz() / 1000);
}

/* Memory events: a subscriber is told about the memory that holds every DMA buffer. */
struct mem_seen {
	uintptr_t start[64];
	size_t len[64];
	int n;
	int removed;
};

static void
mem_seen_cb(void *ctx, bool added, void *vaddr, size_t len)
{
	struct mem_seen *m = ctx;

	if (!added) {
		m->removed++;
		return;
	}
	if (m->n < 64) {
		m->start[m->n] = (uintptr_t)vaddr;
		m->len[m->n] = len;
		m->n++;
	}
}

static bool
mem_seen_holds(const struct mem_seen *m, const void *p, size_t len)
{
	int i;

	for (i = 0; i < m->n; i++) {
		if (m->start[i] <= (uintptr_t)p && (uintptr_t)p + len <= m->start[i] + m->len[i]) {
			return true;
		}
	}
	return false;
}

static void
test_mem_events(void)
{
	struct mem_seen a = {0}, b = {0};
	void *buf = osp_dma_malloc(1 << 20, 4096, NULL);
	int stack;

	CU_ASSERT_FATAL(buf != NULL);
	CU_ASSERT(osp_mem_event_register(NULL, NULL) == -EINVAL);
	CU_ASSERT(osp_mem_event_register(mem_seen_cb, &a) == 0);
	CU_ASSERT(a.n >= 1);
	CU_ASSERT(mem_seen_holds(&a, buf, 1 << 20));
	CU_ASSERT(!mem_seen_holds(&a, &stack, sizeof(stack)));
	CU_ASSERT(osp_mem_event_register(mem_seen_cb, &b) == 0);
	CU_ASSERT(b.n == a.n);
	osp_mem_event_unregister(mem_seen_cb, &a);
	osp_mem_event_unregister(mem_seen_cb, &b);
	/* Unknown subscriber: nothing happens. */
	osp_mem_event_unregister(mem_seen_cb, &b);
	osp_dma_free(buf);
	CU_ASSERT(a.removed == 0);
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	ut_env_init();
	CU_initialize_registry();
	suite = CU_add_suite("env", NULL, NULL);
	CU_ADD_TEST(suite, test_cpuset_parse);
	CU_ADD_TEST(suite, test_ring);
	CU_ADD_TEST(suite, test_mempool);
	CU_ADD_TEST(suite, test_dma);
	CU_ADD_TEST(suite, test_mem_events);
	CU_ADD_TEST(suite, test_cores_and_time);
	rc = ut_run_suites();
	return rc;
}
