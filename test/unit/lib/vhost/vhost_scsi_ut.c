/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the vhost-user-scsi back end (lib/vhost/vhost_scsi.c) without
 * a guest or rte_vhost: split rings built in a fake guest memory, popped the
 * way vhost.c's poller does, the chains handed to the back end; the real
 * lib/scsi and bdev layer with malloc bdevs on a hand-driven test thread.
 * vhost.c's controller functions are replaced by small fakes below. Each
 * test runs twice: with one poll group on the controller thread (thread 0),
 * then with two poll groups on threads 1 and 2 (a cpumask of two cores):
 * queue i is served by poll group i % npgs, on that group's thread.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ut_bdev.h"
#include "../../../../drivers/bdev/malloc/bdev_malloc.h"

#include "vhost/mem.c"
#include "vhost/vring.c"
#include "vhost/vhost_scsi.c"

/* ---- fakes of vhost.c ---- */
static struct vhost_ctrlr *g_ctrlr;
static int g_completed;
/* Chains popped and not yet completed (what the poll group counts in vhost.c). */
static uint32_t g_inflight;
/* Poll groups of the controllers made (2: created with cpumask 0x3). */
static uint16_t g_npgs = 1;
/* The request queue run_cmd() uses (2: poll group 0; 3: poll group 1 when there are two). */
static int g_cmdq = 2;
#define NQ	4

static int
pg_thread(uint16_t pg)
{
	return g_npgs == 1 ? 0 : pg + 1;
}

struct vhost_ctrlr *
vhost_ctrlr_new(const char *name, const struct vhost_backend_ops *ops, int *rc, char *err,
		size_t errlen)
{
	struct vhost_ctrlr *c;

	if (g_ctrlr != NULL && strcmp(g_ctrlr->name, name) == 0) {
		snprintf(err, errlen, "Controller '%s' already exists", name);
		*rc = -EEXIST;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->ops = ops;
	c->vid = -1;
	c->thread = osp_get_thread();
	c->npgs = 1;
	c->pgs[0].ctrlr = c;
	c->pgs[0].thread = c->thread;
	return c;
}

/* vhost.c's own is e2e-tested: here 0x3 (two poll groups on threads 1 and 2) or an error. */
int
vhost_ctrlr_set_cpumask(struct vhost_ctrlr *ctrlr, const char *mask, char *err, size_t errlen)
{
	if (strcmp(mask, "0x3") != 0) {
		snprintf(err, errlen, "Invalid cpumask '%s'", mask);
		return -EINVAL;
	}
	CU_ASSERT_FATAL(osp_cpuset_parse(&ctrlr->cpumask, mask) == 0);
	ctrlr->has_cpumask = true;
	ctrlr->npgs = 2;
	for (uint16_t i = 0; i < 2; i++) {
		ctrlr->pgs[i].ctrlr = ctrlr;
		ctrlr->pgs[i].thread = ut_thread(i + 1);
	}
	return 0;
}

int
vhost_ctrlr_register(struct vhost_ctrlr *ctrlr, uint64_t features, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	ctrlr->features = features | (1ull << OSP_VIRTIO_F_VERSION_1);
	g_ctrlr = ctrlr;
	return 0;
}

void
vhost_ctrlr_free(struct vhost_ctrlr *ctrlr)
{
	ctrlr->ops->destroy(ctrlr);
	free(ctrlr);
}

struct vhost_ctrlr *
vhost_ctrlr_find(const char *name)
{
	return g_ctrlr != NULL && strcmp(g_ctrlr->name, name) == 0 ? g_ctrlr : NULL;
}

struct vhost_ctrlr *
vhost_ctrlr_first(void)
{
	return g_ctrlr;
}

struct vhost_ctrlr *
vhost_ctrlr_next(struct vhost_ctrlr *c)
{
	(void)c;
	return NULL;
}

void
vhost_task_complete(struct vhost_task *task, uint32_t used_len)
{
	struct vhost_queue *q = task->q;

	osp_vring_push(&q->vq, &task->req, used_len);
	q->free[q->nfree++] = task;
	g_inflight--;
	g_completed++;
}

void
osp_vhost_ctrlr_delete(const char *name, osp_vhost_ctrlr_cb cb, void *cb_arg)
{
	(void)name;
	vhost_ctrlr_free(g_ctrlr);
	g_ctrlr = NULL;
	if (cb != NULL) {
		cb(cb_arg, 0, NULL);
	}
}

void
vhost_write_config_json_type(cJSON *config, const char *type)
{
	if (g_ctrlr != NULL && strcmp(g_ctrlr->ops->type, type) == 0) {
		g_ctrlr->ops->write_config_json(g_ctrlr, config);
	}
}

/* ---- a fake guest: 4 MiB; rings of 16 at 0x0000 / 0x4000 / 0x8000, buffers from 0x100000 ---- */
#define MEM_SIZE	(4u << 20)
#define QSIZE		16
static uint8_t *g_guest;
static struct osp_vhost_mem g_mem;
static uint16_t g_avail_idx[NQ];
static uint16_t g_used_seen[NQ];
static uint16_t g_next_desc[NQ];
static uint64_t g_top;

static uint64_t
ring_base(int q)
{
	return (uint64_t)q * 0x4000;
}

static uint64_t
galloc(uint32_t n)
{
	uint64_t a = g_top;

	g_top = (g_top + n + 63) & ~63ull;
	CU_ASSERT_FATAL(g_top < MEM_SIZE);
	return a;
}

struct buf {
	uint64_t addr;
	uint32_t len;
	bool wr;
};

/* Put a chain on queue q's avail ring. */
static void
ring_add(int q, const struct buf *b, int n)
{
	uint8_t *desc = g_guest + ring_base(q);
	uint8_t *avail = desc + 16 * QSIZE;
	uint16_t head = g_next_desc[q];

	for (int i = 0; i < n; i++) {
		uint16_t id = (uint16_t)((head + i) % QSIZE);
		uint16_t flags = (b[i].wr ? 2 : 0) | (i + 1 < n ? 1 : 0);
		uint16_t next = (uint16_t)((id + 1) % QSIZE);

		memcpy(desc + 16 * id, &b[i].addr, 8);
		memcpy(desc + 16 * id + 8, &b[i].len, 4);
		memcpy(desc + 16 * id + 12, &flags, 2);
		memcpy(desc + 16 * id + 14, &next, 2);
	}
	g_next_desc[q] = (uint16_t)((head + n) % QSIZE);
	memcpy(avail + 4 + 2 * (g_avail_idx[q] % QSIZE), &head, 2);
	g_avail_idx[q]++;
	memcpy(avail + 2, &g_avail_idx[q], 2);
}

/* What vhost.c's pollers do: pop every chain and start it on its poll group's thread. */
static void
pop_start(void)
{
	for (int i = 0; i < NQ; i++) {
		struct vhost_queue *q = &g_ctrlr->queues[i];
		struct osp_vring_req req;
		struct vhost_task *task;

		while (q->nfree > 0) {
			task = q->free[q->nfree - 1];
			req.iov = task->iov;
			req.iov_max = VHOST_IOV_MAX;
			if (osp_vring_pop_burst(&q->vq, &req, 1) != 1) {
				break;
			}
			q->nfree--;
			g_inflight++;
			task->req = req;
			ut_set_thread(pg_thread((uint16_t)(q->pg - g_ctrlr->pgs)));
			g_ctrlr->ops->task_start(g_ctrlr, task);
			ut_set_thread(0);
		}
	}
}

static void
ctrlr_poll(void)
{
	pop_start();
	ut_poll_threads();
}

/* Used entries of queue q not yet seen; the lengths in lens. */
static int
ring_used(int q, uint32_t *lens, int max)
{
	uint8_t *used = g_guest + ring_base(q) + 0x1000;
	uint16_t idx;
	int n = 0;

	memcpy(&idx, used + 2, 2);
	while (g_used_seen[q] != idx && n < max) {
		memcpy(&lens[n++], used + 4 + 8 * (g_used_seen[q] % QSIZE) + 4, 4);
		g_used_seen[q]++;
	}
	return n;
}

static void
queues_init(void)
{
	memset(g_guest, 0, MEM_SIZE);
	memset(g_avail_idx, 0, sizeof(g_avail_idx));
	memset(g_used_seen, 0, sizeof(g_used_seen));
	memset(g_next_desc, 0, sizeof(g_next_desc));
	g_top = 0x100000;
	for (int i = 0; i < NQ; i++) {
		struct vhost_queue *q = &g_ctrlr->queues[i];
		uint8_t *base = g_guest + ring_base(i);

		memset(q, 0, sizeof(*q));
		CU_ASSERT_FATAL(osp_vring_init_split(&q->vq, &g_mem, QSIZE, base, base + 16 * QSIZE,
						     base + 0x1000, 0, 0, 0) == 0);
		q->ctrlr = g_ctrlr;
		q->pg = &g_ctrlr->pgs[i % g_ctrlr->npgs];
		q->idx = (uint16_t)i;
		q->callfd = -1;
		q->ntasks = QSIZE;
		q->tasks = calloc(QSIZE, g_ctrlr->ops->task_size);
		q->free = calloc(QSIZE, sizeof(*q->free));
		for (int t = 0; t < QSIZE; t++) {
			struct vhost_task *task = (struct vhost_task *)(q->tasks + t * g_ctrlr->ops->task_size);

			task->q = q;
			q->free[t] = task;
		}
		q->nfree = QSIZE;
	}
	g_ctrlr->nqueues = NQ;
	g_ctrlr->started = true;
	g_ctrlr->neg_features = g_ctrlr->features;
}

static void
queues_fini(void)
{
	for (int i = 0; i < NQ; i++) {
		free(g_ctrlr->queues[i].tasks);
		free(g_ctrlr->queues[i].free);
	}
	g_ctrlr->nqueues = 0;
	g_ctrlr->started = false;
}

/* ---- target set-up ---- */
static int g_cb_rc;
static int g_cb_calls;

static void
target_cb(void *arg, int num_or_rc, const char *msg)
{
	(void)arg;
	(void)msg;
	g_cb_rc = num_or_rc;
	g_cb_calls++;
}

static int
add_target(int num, const char *bdev)
{
	g_cb_calls = 0;
	osp_vhost_scsi_ctrlr_add_target("vs", num, bdev, target_cb, NULL);
	ut_poll_threads();
	CU_ASSERT(g_cb_calls == 1);
	return g_cb_rc;
}

static void
malloc_bdev(const char *name, uint32_t bs)
{
	struct bdev_malloc_opts o = { .name = name, .num_blocks = 1024, .block_size = bs };
	struct osp_bdev *b;

	CU_ASSERT_EQUAL_FATAL(bdev_malloc_create(&o, &b), 0);
}

static void
setup(void)
{
	char err[128];

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(3), 0);
	malloc_bdev("M0", 512);
	malloc_bdev("M1", 4096);
	malloc_bdev("M2", 512);
	CU_ASSERT_EQUAL(osp_vhost_scsi_ctrlr_create("vs", "0x5", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(osp_vhost_scsi_ctrlr_create("vs", g_npgs == 2 ? "0x3" : NULL, err,
							  sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(g_ctrlr->npgs, g_npgs);
	CU_ASSERT_EQUAL(osp_vhost_scsi_ctrlr_create("vs", NULL, err, sizeof(err)), -EEXIST);
	CU_ASSERT_EQUAL(add_target(0, "M0"), 0);
	queues_init();
	g_completed = 0;
}

static void
teardown(void)
{
	queues_fini();
	osp_vhost_ctrlr_delete("vs", NULL, NULL);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_targets_alive, 0);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

/* ---- commands ---- */

struct cmd {
	uint64_t resp;
	uint64_t datain;
	uint32_t used;
	uint32_t sense_len;
	uint32_t resid;
	uint8_t status;
	uint8_t response;
};

static void
lun_bytes(uint8_t *p, int target, int lun)
{
	memset(p, 0, 8);
	p[0] = 1;
	p[1] = (uint8_t)target;
	p[2] = (uint8_t)(0x40 | (lun >> 8));
	p[3] = (uint8_t)lun;
}

/*
 * A command: header (hdr_len bytes, LUN from lun8 or target/LUN 0), data-out
 * (out_len bytes from out, in nout pieces), response (resp_len), data-in
 * (in_len bytes in nin pieces). Runs it and reads the response back.
 */
static struct cmd
run_cmd(const uint8_t *lun8, int target, const uint8_t *cdb, int cdb_len, const void *out,
	uint32_t out_len, int nout, uint32_t in_len, int nin, uint32_t hdr_len, uint32_t resp_len)
{
	struct buf b[16];
	uint8_t hdr[64] = {};
	struct cmd c = {};
	uint32_t lens[4];
	uint64_t a;
	int n = 0;

	if (lun8 != NULL) {
		memcpy(hdr, lun8, 8);
	} else {
		lun_bytes(hdr, target, 0);
	}
	hdr[8] = 0x77;
	memcpy(hdr + 19, cdb, (size_t)cdb_len);
	a = galloc(hdr_len);
	memcpy(g_guest + a, hdr, hdr_len < sizeof(hdr) ? hdr_len : sizeof(hdr));
	b[n++] = (struct buf){ a, hdr_len, false };
	if (out_len != 0) {
		a = galloc(out_len);
		memcpy(g_guest + a, out, out_len);
		for (uint32_t off = 0, step = (out_len + (uint32_t)nout - 1) / (uint32_t)nout; off < out_len;
		     off += step) {
			b[n++] = (struct buf){ a + off, step < out_len - off ? step : out_len - off, false };
		}
	}
	c.resp = galloc(resp_len);
	memset(g_guest + c.resp, 0xee, resp_len);
	b[n++] = (struct buf){ c.resp, resp_len, true };
	if (in_len != 0) {
		c.datain = galloc(in_len);
		memset(g_guest + c.datain, 0xee, in_len);
		for (uint32_t off = 0, step = (in_len + (uint32_t)nin - 1) / (uint32_t)nin; off < in_len;
		     off += step) {
			b[n++] = (struct buf){ c.datain + off, step < in_len - off ? step : in_len - off, true };
		}
	}
	ring_add(g_cmdq, b, n);
	ctrlr_poll();
	CU_ASSERT_EQUAL_FATAL(ring_used(g_cmdq, lens, 4), 1);
	c.used = lens[0];
	if (resp_len >= 12) {
		memcpy(&c.sense_len, g_guest + c.resp, 4);
		memcpy(&c.resid, g_guest + c.resp + 4, 4);
		c.status = g_guest[c.resp + 10];
		c.response = g_guest[c.resp + 11];
	}
	return c;
}

static struct cmd
simple(int target, const uint8_t *cdb, int cdb_len, uint32_t in_len)
{
	return run_cmd(NULL, target, cdb, cdb_len, NULL, 0, 1, in_len, 1, VSCSI_CMD_HDR, VSCSI_RESP_LEN);
}

static const uint8_t TUR[6] = { 0 };
static const uint8_t INQ[6] = { 0x12, 0, 0, 0, 96, 0 };

static void
clear_ua(int target)
{
	for (int i = 0; i < 8 && simple(target, TUR, 6, 0).status != 0; i++) {
	}
}

static void
test_config(void)
{
	setup();
	CU_ASSERT_EQUAL(g_ctrlr->config_len, 36);
	CU_ASSERT_EQUAL(get_le32(g_ctrlr->config + 0), VSCSI_NUM_REQ_QUEUES);
	CU_ASSERT_EQUAL(get_le32(g_ctrlr->config + 16), 16);
	CU_ASSERT_EQUAL(get_le32(g_ctrlr->config + 20), 96);
	CU_ASSERT_EQUAL(get_le32(g_ctrlr->config + 24), 32);
	CU_ASSERT_EQUAL(g_ctrlr->config[30], 7);
	CU_ASSERT(g_ctrlr->features & (1ull << VSCSI_F_HOTPLUG));
	CU_ASSERT(!(g_ctrlr->features & (1ull << VSCSI_F_INOUT)));
	teardown();
}

static void
test_commands(void)
{
	uint8_t cdb[16] = {};
	uint8_t pat[4096];
	struct cmd c;

	setup();
	c = simple(0, TUR, 6, 0);
	CU_ASSERT(c.response == VSCSI_S_OK && c.status == 2 && c.sense_len >= 18);
	CU_ASSERT(c.used == VSCSI_RESP_LEN);
	CU_ASSERT_EQUAL(g_guest[c.resp + 12 + 2] & 0xf, 6);	/* UNIT ATTENTION */
	clear_ua(0);
	c = simple(0, INQ, 6, 96);
	CU_ASSERT(c.response == 0 && c.status == 0 && g_guest[c.datain] == 0);
	CU_ASSERT(c.used > VSCSI_RESP_LEN + 36 && c.resid == 96 - (c.used - VSCSI_RESP_LEN));
	for (size_t i = 0; i < sizeof(pat); i++) {
		pat[i] = (uint8_t)(i * 13 + 1);
	}
	cdb[0] = 0x2a;
	cdb[5] = 10;
	cdb[8] = 8;
	c = run_cmd(NULL, 0, cdb, 10, pat, sizeof(pat), 3, 0, 1, VSCSI_CMD_HDR, VSCSI_RESP_LEN);
	CU_ASSERT(c.response == 0 && c.status == 0 && c.resid == 0 && c.used == VSCSI_RESP_LEN);
	cdb[0] = 0x28;
	c = run_cmd(NULL, 0, cdb, 10, NULL, 0, 1, sizeof(pat), 4, VSCSI_CMD_HDR, VSCSI_RESP_LEN);
	CU_ASSERT(c.status == 0 && c.used == VSCSI_RESP_LEN + sizeof(pat));
	CU_ASSERT(memcmp(g_guest + c.datain, pat, sizeof(pat)) == 0);
	/* A larger buffer than the read: residual. */
	cdb[8] = 2;
	c = run_cmd(NULL, 0, cdb, 10, NULL, 0, 1, 4096, 1, VSCSI_CMD_HDR, VSCSI_RESP_LEN);
	CU_ASSERT(c.status == 0 && c.resid == 3072 && c.used == VSCSI_RESP_LEN + 1024);
	/* LUN 3 does not exist: INQUIRY with peripheral qualifier 011b. */
	{
		uint8_t l[8];

		lun_bytes(l, 0, 3);
		c = run_cmd(l, 0, INQ, 6, NULL, 0, 1, 96, 1, VSCSI_CMD_HDR, VSCSI_RESP_LEN);
		CU_ASSERT(c.response == 0 && c.status == 0 && g_guest[c.datain] == 0x7f);
	}
	CU_ASSERT_EQUAL(g_targets_alive, 1);
	teardown();
}

static void
test_bad_requests(void)
{
	uint8_t l[8], cdb[16] = {};
	uint8_t data[512] = {};
	struct cmd c;
	struct buf b[3];
	uint32_t lens[2];

	setup();
	clear_ua(0);
	memset(l, 0, 8);
	c = run_cmd(l, 0, TUR, 6, NULL, 0, 1, 0, 1, VSCSI_CMD_HDR, VSCSI_RESP_LEN);
	CU_ASSERT(c.response == VSCSI_S_BAD_TARGET && c.used == VSCSI_RESP_FIXED);
	c = simple(3, TUR, 6, 0);
	CU_ASSERT(c.response == VSCSI_S_BAD_TARGET);
	c = simple(255, TUR, 6, 0);
	CU_ASSERT(c.response == VSCSI_S_BAD_TARGET);
	lun_bytes(l, 0, 0);
	l[7] = 1;
	c = run_cmd(l, 0, TUR, 6, NULL, 0, 1, 0, 1, VSCSI_CMD_HDR, VSCSI_RESP_LEN);
	CU_ASSERT(c.response == VSCSI_S_INCORRECT_LUN);
	l[7] = 0;
	l[2] = 0xc0;
	c = run_cmd(l, 0, TUR, 6, NULL, 0, 1, 0, 1, VSCSI_CMD_HDR, VSCSI_RESP_LEN);
	CU_ASSERT(c.response == VSCSI_S_INCORRECT_LUN);
	l[2] = 0x01;	/* peripheral addressing with a bus number */
	c = run_cmd(l, 0, TUR, 6, NULL, 0, 1, 0, 1, VSCSI_CMD_HDR, VSCSI_RESP_LEN);
	CU_ASSERT(c.response == VSCSI_S_INCORRECT_LUN);
	l[2] = 0x00;	/* peripheral addressing, LUN 0 */
	c = run_cmd(l, 0, TUR, 6, NULL, 0, 1, 0, 1, VSCSI_CMD_HDR, VSCSI_RESP_LEN);
	CU_ASSERT(c.response == VSCSI_S_OK && c.status == 0);
	/* Short header, short response, no response. */
	c = run_cmd(NULL, 0, TUR, 6, NULL, 0, 1, 0, 1, 19, VSCSI_RESP_LEN);
	CU_ASSERT(c.response == VSCSI_S_FAILURE && c.used == VSCSI_RESP_FIXED);
	c = run_cmd(NULL, 0, TUR, 6, NULL, 0, 1, 0, 1, VSCSI_CMD_HDR, 20);
	CU_ASSERT(c.response == VSCSI_S_FAILURE && c.used == VSCSI_RESP_FIXED);
	c = run_cmd(NULL, 0, TUR, 6, NULL, 0, 1, 0, 1, VSCSI_CMD_HDR, 11);
	CU_ASSERT(c.used == 0 && g_guest[c.resp] == 0xee);
	/* Both directions: no F_INOUT. */
	cdb[0] = 0x2a;
	cdb[8] = 1;
	c = run_cmd(NULL, 0, cdb, 10, data, sizeof(data), 1, 512, 1, VSCSI_CMD_HDR, VSCSI_RESP_LEN);
	CU_ASSERT(c.response == VSCSI_S_FAILURE);
	/* A write with a data-in buffer: refused before it runs. */
	c = run_cmd(NULL, 0, cdb, 10, NULL, 0, 1, 512, 1, VSCSI_CMD_HDR, VSCSI_RESP_LEN);
	CU_ASSERT(c.response == 0 && c.status == 2 && g_guest[c.resp + 12 + 12] == 0x0e);
	/* A read with a data-out buffer: GOOD, nothing moved. */
	cdb[0] = 0x28;
	c = run_cmd(NULL, 0, cdb, 10, data, sizeof(data), 1, 0, 1, VSCSI_CMD_HDR, VSCSI_RESP_LEN);
	CU_ASSERT(c.response == 0 && c.resid == 512);
	/* A descriptor outside guest memory: back unused. */
	b[0] = (struct buf){ galloc(64), VSCSI_CMD_HDR, false };
	b[1] = (struct buf){ galloc(VSCSI_RESP_LEN), VSCSI_RESP_LEN, true };
	b[2] = (struct buf){ MEM_SIZE + 4096, 512, true };
	ring_add(2, b, 3);
	ctrlr_poll();
	CU_ASSERT(ring_used(2, lens, 2) == 1 && lens[0] == 0);
	/* Only a readable part. */
	ring_add(2, b, 1);
	ctrlr_poll();
	CU_ASSERT(ring_used(2, lens, 2) == 1 && lens[0] == 0);
	CU_ASSERT(g_inflight == 0);
	teardown();
}

static uint8_t
tmf(int target, uint32_t subtype, uint64_t tag, uint32_t *used)
{
	uint8_t req[VSCSI_TMF_REQ] = {};
	struct buf b[2];
	uint32_t lens[2] = { 0xffff };

	put_le32(req + 4, subtype);
	lun_bytes(req + 8, target, 0);
	memcpy(req + 16, &tag, 8);
	b[0] = (struct buf){ galloc(sizeof(req)), sizeof(req), false };
	memcpy(g_guest + b[0].addr, req, sizeof(req));
	b[1] = (struct buf){ galloc(1), 1, true };
	g_guest[b[1].addr] = 0xee;
	ring_add(0, b, 2);
	ctrlr_poll();
	CU_ASSERT(ring_used(0, lens, 2) == 1);
	*used = lens[0];
	return g_guest[b[1].addr];
}

static void
test_controlq(void)
{
	uint32_t used, lens[2];
	uint8_t an[VSCSI_AN_REQ] = { 1 };
	struct buf b[2];
	uint8_t cdb[16] = { 0x28 };

	setup();
	clear_ua(0);
	CU_ASSERT(tmf(0, VSCSI_T_TMF_LUN_RESET, 0, &used) == VSCSI_S_OK && used == 1);
	CU_ASSERT(simple(0, TUR, 6, 0).status == 2);
	clear_ua(0);
	CU_ASSERT(tmf(0, VSCSI_T_TMF_ABORT_TASK, 999, &used) == VSCSI_S_OK);
	CU_ASSERT(tmf(0, VSCSI_T_TMF_I_T_NEXUS_RESET, 0, &used) == VSCSI_S_OK);
	clear_ua(0);
	CU_ASSERT(tmf(0, 42, 0, &used) == VSCSI_S_FUNCTION_REJECTED);
	CU_ASSERT(tmf(0, VSCSI_T_TMF_CLEAR_ACA, 0, &used) == VSCSI_S_FUNCTION_REJECTED);
	CU_ASSERT(tmf(5, VSCSI_T_TMF_LUN_RESET, 0, &used) == VSCSI_S_BAD_TARGET);
	/* AN query: nothing supported. */
	lun_bytes(an + 4, 0, 0);
	b[0] = (struct buf){ galloc(sizeof(an)), sizeof(an), false };
	memcpy(g_guest + b[0].addr, an, sizeof(an));
	b[1] = (struct buf){ galloc(VSCSI_AN_RESP), VSCSI_AN_RESP, true };
	memset(g_guest + b[1].addr, 0xee, VSCSI_AN_RESP);
	ring_add(0, b, 2);
	ctrlr_poll();
	CU_ASSERT(ring_used(0, lens, 2) == 1 && lens[0] == VSCSI_AN_RESP);
	CU_ASSERT(get_le32(g_guest + b[1].addr) == 0 && g_guest[b[1].addr + 4] == VSCSI_S_OK);
	/* Truncated TMF: back unused. */
	b[0].len = 8;
	g_guest[b[0].addr] = 0;
	b[1].len = 1;
	ring_add(0, b, 2);
	ctrlr_poll();
	CU_ASSERT(ring_used(0, lens, 2) == 1 && lens[0] == 0);
	/* ABORT TASK of a command in flight: it comes back ABORTED before the TMF. */
	{
		struct buf cb[3];
		uint8_t hdr[VSCSI_CMD_HDR] = {};
		uint8_t req[VSCSI_TMF_REQ] = {};
		uint64_t tag = 0x1234;

		lun_bytes(hdr, 0, 0);
		memcpy(hdr + 8, &tag, 8);
		cdb[8] = 8;
		memcpy(hdr + 19, cdb, 10);
		cb[0] = (struct buf){ galloc(sizeof(hdr)), sizeof(hdr), false };
		memcpy(g_guest + cb[0].addr, hdr, sizeof(hdr));
		cb[1] = (struct buf){ galloc(VSCSI_RESP_LEN), VSCSI_RESP_LEN, true };
		cb[2] = (struct buf){ galloc(4096), 4096, true };
		ring_add(2, cb, 3);
		put_le32(req + 4, VSCSI_T_TMF_ABORT_TASK);
		lun_bytes(req + 8, 0, 0);
		memcpy(req + 16, &tag, 8);
		b[0] = (struct buf){ galloc(sizeof(req)), sizeof(req), false };
		memcpy(g_guest + b[0].addr, req, sizeof(req));
		b[1] = (struct buf){ galloc(1), 1, true };
		ring_add(0, b, 2);
		/* Both popped before the threads run: the read is still in the bdev layer. */
		ctrlr_poll();
		CU_ASSERT(ring_used(2, lens, 2) == 1);
		CU_ASSERT(g_guest[cb[1].addr + 11] == VSCSI_S_ABORTED ||
			  g_guest[cb[1].addr + 11] == VSCSI_S_OK);
		CU_ASSERT(ring_used(0, lens, 2) == 1 && g_guest[b[1].addr] == VSCSI_S_OK);
	}
	CU_ASSERT(g_inflight == 0);
	teardown();
}

/* The back end's view of the eventq's poll group. */
static struct vscsi_pg *
vscsi_evpg(void)
{
	return &((struct vhost_scsi_ctrlr *)g_ctrlr->be)->pgs[1 % g_npgs];
}

static void
post_event(uint64_t *addr)
{
	struct buf b = { galloc(16), 16, true };

	memset(g_guest + b.addr, 0xee, 16);
	*addr = b.addr;
	ring_add(1, &b, 1);
	ctrlr_poll();
}

static void
remove_cb(void *arg, int rc, const char *msg)
{
	(void)msg;
	*(int *)arg = rc == 0 ? 1 : rc;
}

static void
test_events_and_removal(void)
{
	uint64_t ev1, ev2;
	uint32_t lens[4];
	int removed = 0;
	struct buf bad = { galloc(4), 4, true };
	uint8_t cdb[16] = { 0x28 };

	setup();
	post_event(&ev1);
	CU_ASSERT(ring_used(1, lens, 4) == 0);
	/* A buffer too small is given back at once. */
	ring_add(1, &bad, 1);
	ctrlr_poll();
	CU_ASSERT(ring_used(1, lens, 4) == 1 && lens[0] == 0);
	CU_ASSERT_EQUAL(add_target(-1, "M1"), 1);
	CU_ASSERT(ring_used(1, lens, 4) == 1 && lens[0] == 16);
	CU_ASSERT(get_le32(g_guest + ev1) == VSCSI_T_TRANSPORT_RESET);
	CU_ASSERT(g_guest[ev1 + 4] == 1 && g_guest[ev1 + 5] == 1 && g_guest[ev1 + 6] == 0 &&
		  g_guest[ev1 + 7] == 0);
	CU_ASSERT_EQUAL(get_le32(g_guest + ev1 + 12), 1);	/* VIRTIO_SCSI_EVT_RESET_RESCAN */
	CU_ASSERT(get_le32(g_guest + ev1 + 12) == VSCSI_EVT_RESET_RESCAN);
	CU_ASSERT_EQUAL(add_target(1, "M2"), -EEXIST);
	CU_ASSERT_EQUAL(add_target(8, "M2"), -EINVAL);
	CU_ASSERT_EQUAL(add_target(2, "nope"), -ENODEV);
	clear_ua(1);
	/* A read in flight on target 1 (popped, the bdev I/O not yet run), then remove. */
	{
		struct buf cb[3];
		uint8_t hdr[VSCSI_CMD_HDR] = {};

		lun_bytes(hdr, 1, 0);
		cdb[8] = 1;
		memcpy(hdr + 19, cdb, 10);
		cb[0] = (struct buf){ galloc(sizeof(hdr)), sizeof(hdr), false };
		memcpy(g_guest + cb[0].addr, hdr, sizeof(hdr));
		cb[1] = (struct buf){ galloc(VSCSI_RESP_LEN), VSCSI_RESP_LEN, true };
		cb[2] = (struct buf){ galloc(4096), 4096, true };
		ring_add(g_cmdq, cb, 3);
		pop_start();
		osp_vhost_scsi_ctrlr_remove_target("vs", 1, remove_cb, &removed);
		CU_ASSERT(removed == 0);
		/* The read in flight holds the removal until it is back. */
		ut_poll_threads();
		CU_ASSERT(removed == 1);
		CU_ASSERT(ring_used(g_cmdq, lens, 4) == 1 && lens[0] == VSCSI_RESP_LEN + 4096);
		/* No event buffer posted: the removal is a missed event. */
		CU_ASSERT(vscsi_evpg()->events_missed);
		/* A command for the removed target: BAD_TARGET at once. */
		hdr[19] = 0;
		memcpy(g_guest + cb[0].addr, hdr, sizeof(hdr));
		ring_add(g_cmdq, cb, 2);
		pop_start();
		CU_ASSERT(ring_used(g_cmdq, lens, 4) == 1 && lens[0] == VSCSI_RESP_FIXED);
		CU_ASSERT(g_guest[cb[1].addr + 11] == VSCSI_S_BAD_TARGET);
	}
	CU_ASSERT(((struct vhost_scsi_ctrlr *)g_ctrlr->be)->targets[1] == NULL);
	post_event(&ev2);
	CU_ASSERT(ring_used(1, lens, 4) == 1 && lens[0] == 16);
	CU_ASSERT(get_le32(g_guest + ev2) == (VSCSI_T_NO_EVENT | VSCSI_T_EVENTS_MISSED));
	/* Removal of an absent target, of a target being removed twice is harmless. */
	removed = 0;
	osp_vhost_scsi_ctrlr_remove_target("vs", 1, remove_cb, &removed);
	CU_ASSERT(removed == -ENODEV);
	/* The device stops with a held event buffer: it goes back unused. */
	post_event(&ev1);
	ut_set_thread(pg_thread(1 % g_npgs));
	vscsi_pg_stopping(g_ctrlr, g_ctrlr->queues[1].pg);
	ut_set_thread(0);
	CU_ASSERT(ring_used(1, lens, 4) == 1 && lens[0] == 0);
	CU_ASSERT(g_inflight == 0);
	teardown();
}

static void
test_hot_remove_and_json(void)
{
	uint64_t ev;
	uint32_t lens[4];
	cJSON *o, *arr;
	char *s;

	setup();
	post_event(&ev);
	CU_ASSERT_EQUAL(add_target(4, "M2"), 4);
	CU_ASSERT(ring_used(1, lens, 4) == 1 && get_le32(g_guest + ev + 12) == VSCSI_EVT_RESET_RESCAN);
	o = cJSON_CreateObject();
	vscsi_info_json(g_ctrlr, o);
	s = cJSON_PrintUnformatted(o);
	CU_ASSERT(strstr(s, "\"target_name\":\"Target 4\",\"id\":4,\"scsi_dev_num\":4,"
			 "\"luns\":[{\"id\":0,\"bdev_name\":\"M2\"}]") != NULL);
	free(s);
	cJSON_Delete(o);
	arr = cJSON_CreateArray();
	vhost_write_config_json_type(arr, "scsi");
	s = cJSON_PrintUnformatted(arr);
	CU_ASSERT(strstr(s, "\"method\":\"vhost_create_scsi_controller\"") != NULL);
	CU_ASSERT(strstr(s, "{\"ctrlr\":\"vs\",\"scsi_target_num\":4,\"bdev_name\":\"M2\"}") != NULL);
	free(s);
	cJSON_Delete(arr);
	post_event(&ev);
	CU_ASSERT_EQUAL(bdev_malloc_delete("M2", NULL, NULL), 0);
	ut_poll_threads();
	CU_ASSERT(ring_used(1, lens, 4) == 1 && lens[0] == 16);
	CU_ASSERT(get_le32(g_guest + ev + 12) == VSCSI_EVT_RESET_REMOVED && g_guest[ev + 5] == 4);
	CU_ASSERT(((struct vhost_scsi_ctrlr *)g_ctrlr->be)->targets[4] == NULL);
	CU_ASSERT_EQUAL(g_targets_alive, 1);
	teardown();
}

/*
 * Random chains on the control and request queues (lengths, header bytes,
 * CDBs, LUN fields, both directions): every chain comes back once, nothing
 * stays in flight, and ASan sees no access outside the buffers.
 */
static void
test_random_chains(void)
{
	static const uint8_t ops[] = { 0x00, 0x03, 0x12, 0x1a, 0x25, 0x28, 0x2a, 0x2f, 0x35, 0x41,
				       0x42, 0x5a, 0x5e, 0x5f, 0x88, 0x89, 0x8a, 0x8f, 0x93, 0x9e,
				       0xa0, 0xa3, 0xff, 0x7f };
	uint32_t seed = 12345, lens[4];
	uint8_t junk[512];
	uint64_t reqs = 0, errs = 0;

	setup();
	CU_ASSERT_EQUAL(add_target(1, "M1"), 1);
	for (int it = 0; it < 3000; it++) {
		struct buf b[8];
		int n = 0, q;
		uint32_t hl, rl, dl;
		uint64_t a;

		g_top = 0x100000;
		for (size_t i = 0; i < sizeof(junk); i++) {
			seed = seed * 1103515245u + 12345u;
			junk[i] = (uint8_t)(seed >> 16);
		}
		q = junk[0] % 4 == 0 ? 0 : 2 + junk[0] % 2;
		/* The header is junk[28..]: a plausible LUN field and CDB most of the time. */
		if (junk[1] % 4 != 0) {
			uint8_t *lun = junk + 28 + (q == 0 ? 8 : 0);

			lun[0] = 1;
			lun[1] = junk[2] % 3;
			lun[2] = junk[3] % 2 ? 0x40 : 0;
			lun[3] = junk[4] % 4 == 0 ? junk[5] : 0;
			memset(lun + 4, 0, 4);
			junk[28 + 19] = ops[junk[6] % sizeof(ops)];
		}
		if (q == 0) {
			junk[28] = junk[7] % 4;	/* type: TMF, AN query/subscribe, unknown */
			memset(junk + 29, 0, 3);
			junk[32] = junk[17] % 9;	/* TMF subtype */
			memset(junk + 33, 0, 3);
		}
		hl = junk[8] % 4 == 0 ? junk[9] % 80 : (q == 0 ? 24 : VSCSI_CMD_HDR);
		rl = junk[10] % 4 == 0 ? junk[11] % 140 : (q == 0 ? 5 : VSCSI_RESP_LEN);
		dl = junk[12] % 3 == 0 ? 0 : (uint32_t)(junk[13] | junk[14] << 8) % 9000;
		a = galloc(hl + 1);
		memcpy(g_guest + a, junk + 28, hl < sizeof(junk) - 28 ? hl : sizeof(junk) - 28);
		if (hl > 0) {
			b[n++] = (struct buf){ a, hl, false };
		}
		if (dl > 0 && junk[15] % 2 == 0) {
			b[n++] = (struct buf){ galloc(dl), dl, false };
		}
		if (rl > 0) {
			b[n++] = (struct buf){ galloc(rl), rl, true };
		}
		if (dl > 0 && junk[15] % 2 == 1) {
			b[n++] = (struct buf){ galloc(dl / 2 + 1), dl / 2 + 1, true };
			b[n++] = (struct buf){ galloc(dl / 2 + 1), dl / 2 + 1, true };
		}
		if (junk[16] % 16 == 0) {
			b[n++] = (struct buf){ MEM_SIZE - 8, 64, true };	/* crosses the end */
		}
		if (n == 0) {
			continue;
		}
		ring_add(q, b, n);
		ctrlr_poll();
		CU_ASSERT_EQUAL_FATAL(ring_used(q, lens, 4), 1);
		CU_ASSERT_EQUAL_FATAL(g_inflight, 0);
	}
	for (uint16_t i = 0; i < g_ctrlr->npgs; i++) {
		reqs += g_ctrlr->pgs[i].stat_requests;
		errs += g_ctrlr->pgs[i].stat_errors;
	}
	printf("\n  random chains: %lu requests, %lu refused or failed\n", (unsigned long)reqs,
	       (unsigned long)errs);
	CU_ASSERT(reqs > 2500 && errs > 100 && reqs - errs > 800);
	teardown();
}

/* A read of 8 blocks at lba on queue q with tag, popped and started (threads not run). */
static void
push_read(int q, int target, uint64_t tag, uint8_t lba, struct buf *cb)
{
	uint8_t hdr[VSCSI_CMD_HDR] = {};
	uint8_t cdb[10] = { 0x28 };

	lun_bytes(hdr, target, 0);
	memcpy(hdr + 8, &tag, 8);
	cdb[5] = lba;
	cdb[8] = 8;
	memcpy(hdr + 19, cdb, 10);
	cb[0] = (struct buf){ galloc(sizeof(hdr)), sizeof(hdr), false };
	memcpy(g_guest + cb[0].addr, hdr, sizeof(hdr));
	cb[1] = (struct buf){ galloc(VSCSI_RESP_LEN), VSCSI_RESP_LEN, true };
	memset(g_guest + cb[1].addr, 0xee, VSCSI_RESP_LEN);
	cb[2] = (struct buf){ galloc(4096), 4096, true };
	ring_add(q, cb, 3);
	pop_start();
}

/* A TMF on the controlq, popped and started (threads not run). */
static uint64_t
push_tmf(int target, uint32_t subtype, uint64_t tag)
{
	uint8_t req[VSCSI_TMF_REQ] = {};
	struct buf b[2];

	put_le32(req + 4, subtype);
	lun_bytes(req + 8, target, 0);
	memcpy(req + 16, &tag, 8);
	b[0] = (struct buf){ galloc(sizeof(req)), sizeof(req), false };
	memcpy(g_guest + b[0].addr, req, sizeof(req));
	b[1] = (struct buf){ galloc(1), 1, true };
	g_guest[b[1].addr] = 0xee;
	ring_add(0, b, 2);
	pop_start();
	return b[1].addr;
}

static void
clear_ua_q(int q, int target)
{
	int saved = g_cmdq;

	g_cmdq = q;
	clear_ua(target);
	g_cmdq = saved;
}

/*
 * Requests on both request queues (poll groups 0 and 1 when there are two):
 * data written on one is read on the other; ABORT TASK and QUERY TASK from
 * the controlq find a request of the other poll group; a LUN RESET reaches
 * every poll group's nexus; removal, add and hot remove with requests in
 * flight on both.
 */
static void
test_poll_groups(void)
{
	uint8_t pat[4096], cdb[16] = {};
	struct buf r2[3], r3[3];
	uint32_t lens[4];
	uint64_t tr;
	struct cmd c;
	int removed = 0;
	cJSON *arr;
	char *s;

	setup();
	clear_ua_q(2, 0);
	clear_ua_q(3, 0);
	/* Written through queue 3, read back through queue 2. */
	for (size_t i = 0; i < sizeof(pat); i++) {
		pat[i] = (uint8_t)(i * 7 + 3);
	}
	cdb[0] = 0x2a;
	cdb[5] = 40;
	cdb[8] = 8;
	g_cmdq = 3;
	c = run_cmd(NULL, 0, cdb, 10, pat, sizeof(pat), 2, 0, 1, VSCSI_CMD_HDR, VSCSI_RESP_LEN);
	CU_ASSERT(c.response == 0 && c.status == 0);
	g_cmdq = 2;
	cdb[0] = 0x28;
	c = run_cmd(NULL, 0, cdb, 10, NULL, 0, 1, sizeof(pat), 2, VSCSI_CMD_HDR, VSCSI_RESP_LEN);
	CU_ASSERT(c.status == 0 && memcmp(g_guest + c.datain, pat, sizeof(pat)) == 0);

	/* QUERY TASK, then ABORT TASK, of a read in flight on queue 3. */
	push_read(3, 0, 0x5151, 40, r3);
	tr = push_tmf(0, VSCSI_T_TMF_QUERY_TASK, 0x5151);
	ut_poll_threads();
	CU_ASSERT(g_guest[tr] == VSCSI_S_FUNCTION_SUCCEEDED);
	CU_ASSERT(ring_used(3, lens, 4) == 1 && g_guest[r3[1].addr + 11] == VSCSI_S_OK);
	CU_ASSERT(memcmp(g_guest + r3[2].addr, pat, sizeof(pat)) == 0);
	CU_ASSERT(ring_used(0, lens, 4) == 1);
	push_read(3, 0, 0x5252, 40, r3);
	tr = push_tmf(0, VSCSI_T_TMF_ABORT_TASK, 0x5252);
	ut_poll_threads();
	CU_ASSERT(g_guest[tr] == VSCSI_S_OK);
	CU_ASSERT(ring_used(3, lens, 4) == 1 && g_guest[r3[1].addr + 11] == VSCSI_S_ABORTED);
	CU_ASSERT(ring_used(0, lens, 4) == 1);
	/* Nothing by that tag any more: QUERY TASK says FUNCTION COMPLETE. */
	tr = push_tmf(0, VSCSI_T_TMF_QUERY_TASK, 0x5252);
	ut_poll_threads();
	CU_ASSERT(g_guest[tr] == VSCSI_S_OK);
	CU_ASSERT(ring_used(0, lens, 4) == 1);

	/* LUN RESET with reads in flight on both queues: every nexus gets the unit attention. */
	push_read(2, 0, 1, 40, r2);
	push_read(3, 0, 2, 40, r3);
	tr = push_tmf(0, VSCSI_T_TMF_LUN_RESET, 0);
	ut_poll_threads();
	CU_ASSERT(g_guest[tr] == VSCSI_S_OK);
	CU_ASSERT(ring_used(2, lens, 4) == 1 && ring_used(3, lens, 4) == 1);
	CU_ASSERT(ring_used(0, lens, 4) == 1);
	g_cmdq = 3;
	CU_ASSERT(simple(0, TUR, 6, 0).status == 2);
	/* One nexus per poll group: with one, queue 3's TUR took the only unit attention. */
	g_cmdq = 2;
	CU_ASSERT(simple(0, TUR, 6, 0).status == (g_npgs == 2 ? 2 : 0));
	clear_ua_q(2, 0);
	clear_ua_q(3, 0);
	/* I_T NEXUS RESET goes to every nexus too. */
	tr = push_tmf(0, VSCSI_T_TMF_I_T_NEXUS_RESET, 0);
	ut_poll_threads();
	CU_ASSERT(g_guest[tr] == VSCSI_S_OK && ring_used(0, lens, 4) == 1);
	clear_ua_q(2, 0);
	clear_ua_q(3, 0);

	/* Removal with reads in flight on both queues: they finish, then the target goes. */
	push_read(2, 0, 3, 40, r2);
	push_read(3, 0, 4, 40, r3);
	osp_vhost_scsi_ctrlr_remove_target("vs", 0, remove_cb, &removed);
	CU_ASSERT(removed == 0);
	ut_poll_threads();
	CU_ASSERT(removed == 1);
	CU_ASSERT(ring_used(2, lens, 4) == 1 && g_guest[r2[1].addr + 11] == VSCSI_S_OK);
	CU_ASSERT(ring_used(3, lens, 4) == 1 && g_guest[r3[1].addr + 11] == VSCSI_S_OK);
	CU_ASSERT(memcmp(g_guest + r2[2].addr, pat, sizeof(pat)) == 0);
	CU_ASSERT(memcmp(g_guest + r3[2].addr, pat, sizeof(pat)) == 0);
	CU_ASSERT(g_targets_alive == 0);
	g_cmdq = 3;
	CU_ASSERT(simple(0, TUR, 6, 0).response == VSCSI_S_BAD_TARGET);
	g_cmdq = 2;
	CU_ASSERT(simple(0, TUR, 6, 0).response == VSCSI_S_BAD_TARGET);
	/* Back on the same bdev: served on both queues, the data still there. */
	CU_ASSERT_EQUAL(add_target(0, "M0"), 0);
	clear_ua_q(2, 0);
	clear_ua_q(3, 0);
	g_cmdq = 3;
	c = run_cmd(NULL, 0, cdb, 10, NULL, 0, 1, sizeof(pat), 2, VSCSI_CMD_HDR, VSCSI_RESP_LEN);
	CU_ASSERT(c.status == 0 && memcmp(g_guest + c.datain, pat, sizeof(pat)) == 0);
	g_cmdq = 2;
	arr = cJSON_CreateArray();
	vhost_write_config_json_type(arr, "scsi");
	s = cJSON_PrintUnformatted(arr);
	CU_ASSERT((strstr(s, "\"cpumask\":\"0x3\"") != NULL) == (g_npgs == 2));
	free(s);
	cJSON_Delete(arr);

	/* Hot remove with reads in flight on both queues. */
	push_read(2, 0, 5, 40, r2);
	push_read(3, 0, 6, 40, r3);
	CU_ASSERT_EQUAL(bdev_malloc_delete("M0", NULL, NULL), 0);
	ut_poll_threads();
	CU_ASSERT(ring_used(2, lens, 4) == 1 && ring_used(3, lens, 4) == 1);
	CU_ASSERT(((struct vhost_scsi_ctrlr *)g_ctrlr->be)->targets[0] == NULL);
	CU_ASSERT(g_targets_alive == 0);
	CU_ASSERT(g_inflight == 0);
	teardown();
}

static int
suite_one_pg(void)
{
	g_npgs = 1;
	return 0;
}

static int
suite_two_pgs(void)
{
	g_npgs = 2;
	return 0;
}

int
main(void)
{
	CU_pSuite suite;
	struct osp_vhost_mem_region r;
	int rc;

	g_guest = aligned_alloc(4096, MEM_SIZE);
	r = (struct osp_vhost_mem_region){ 0, MEM_SIZE, g_guest };
	if (g_guest == NULL || osp_vhost_mem_init(&g_mem, &r, 1) != 0 ||
	    CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		suite = CU_add_suite(i == 0 ? "vhost_scsi" : "vhost_scsi_2pg",
				     i == 0 ? suite_one_pg : suite_two_pgs, NULL);
		CU_ADD_TEST(suite, test_config);
		CU_ADD_TEST(suite, test_commands);
		CU_ADD_TEST(suite, test_bad_requests);
		CU_ADD_TEST(suite, test_controlq);
		CU_ADD_TEST(suite, test_events_and_removal);
		CU_ADD_TEST(suite, test_hot_remove_and_json);
		CU_ADD_TEST(suite, test_random_chains);
		CU_ADD_TEST(suite, test_poll_groups);
	}
	rc = ut_run_suites();
	free(g_guest);
	return rc;
}
