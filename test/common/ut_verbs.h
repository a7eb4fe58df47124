/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A fake libibverbs / librdmacm device for the unit tests of the RDMA transports
 * (test/unit/lib/nvme/rdma_ut.c: the host, test/unit/lib/nvmf/rdma_ut.c: the target).
 *
 * What both sides need and what behaves the same for both lives here: one device
 * (g_ut_ctx, attributes g_ut_dev_attr), protection domains, memory registrations in a
 * table (ut_verbs_sge_registered() checks an SGE against them), CQs that hold a ring of
 * work completions (ut_verbs_cq_push() / the ops' poll_cq), completion channels, rdma_cm
 * event channels and ids, and a queue of rdma_cm events (ut_cm_push(); rdma_ack_cm_event
 * frees them). Counters of live objects let a test check that nothing leaked.
 *
 * What each side drives differently stays in the test: the QPs (rdma_create_qp, the
 * post_send / post_recv ops set in g_ut_ctx.ops), address and route resolution,
 * connect / accept / reject / disconnect, listening.
 *
 * This header defines the functions (they replace the libraries' symbols at link
 * time): include it once per test program, after the transport's sources.
 */
#ifndef OSPREY_UT_VERBS_H
#define OSPREY_UT_VERBS_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#define UT_VERBS_MAX_MR 256
#define UT_VERBS_CQ_RING 8192
#define UT_VERBS_MAX_EVENTS 32

struct ut_verbs_cq {
	struct ibv_cq cq;
	struct ibv_wc wc[UT_VERBS_CQ_RING];
	uint32_t head, tail;
};

static struct ibv_device g_ut_dev;
static struct ibv_context g_ut_ctx;
static struct ibv_context *g_ut_ctx_list[2];
static struct ibv_device_attr g_ut_dev_attr;
/* The peer and local address of every rdma_cm id. */
static struct sockaddr_in g_ut_peer = { .sin_family = AF_INET, .sin_port = 0x3412 };
/* rdma_get_devices() finds no device. */
static bool g_ut_no_devices;

static struct ibv_mr g_ut_mrs[UT_VERBS_MAX_MR];
static bool g_ut_mr_used[UT_VERBS_MAX_MR];
static uint32_t g_ut_next_key = 0x1000;

static struct rdma_cm_event *g_ut_events[UT_VERBS_MAX_EVENTS];
static int g_ut_nevents;

/* Live objects: 0 again when a test has torn everything down. */
static int g_ut_pds_live;
static int g_ut_mrs_live;
static int g_ut_cqs_live;
static int g_ut_ids_live;

int rdma_ack_cm_event(struct rdma_cm_event *ev);

static int
ut_verbs_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	struct ut_verbs_cq *f = (struct ut_verbs_cq *)cq;
	int i = 0;

	while (i < n && f->head != f->tail) {
		wc[i++] = f->wc[f->head++ % UT_VERBS_CQ_RING];
	}
	return i;
}

static int
ut_verbs_req_notify_cq(struct ibv_cq *cq, int solicited)
{
	return 0;
}

/*
 * The device, empty: no CQ ops but the ring's own poll; the test sets its
 * post_send / post_recv (and post_srq_recv) ops and the attributes it wants.
 */
static void
ut_verbs_reset(void)
{
	memset(&g_ut_dev_attr, 0, sizeof(g_ut_dev_attr));
	memset(&g_ut_ctx, 0, sizeof(g_ut_ctx));
	g_ut_ctx.device = &g_ut_dev;
	g_ut_ctx.ops.poll_cq = ut_verbs_poll_cq;
	g_ut_ctx.ops.req_notify_cq = ut_verbs_req_notify_cq;
	g_ut_no_devices = false;
	while (g_ut_nevents > 0) { /* left over by a failed test */
		rdma_ack_cm_event(g_ut_events[--g_ut_nevents]);
	}
}

/* A work completion in cq's ring, for the transport's next poll. */
static inline void
ut_verbs_cq_push(struct ibv_cq *cq, uint64_t wr_id, enum ibv_wc_status st,
		 enum ibv_wc_opcode op, uint32_t len, uint32_t qp_num)
{
	struct ut_verbs_cq *f = (struct ut_verbs_cq *)cq;
	struct ibv_wc *wc = &f->wc[f->tail++ % UT_VERBS_CQ_RING];

	memset(wc, 0, sizeof(*wc));
	wc->wr_id = wr_id;
	wc->status = st;
	wc->opcode = op;
	wc->byte_len = len;
	wc->qp_num = qp_num;
}

/* The SGE's lkey names a registered region that holds all of it. */
static inline bool
ut_verbs_sge_registered(const struct ibv_sge *sge)
{
	int i;

	for (i = 0; i < UT_VERBS_MAX_MR; i++) {
		if (g_ut_mr_used[i] && g_ut_mrs[i].lkey == sge->lkey &&
		    (uintptr_t)g_ut_mrs[i].addr <= sge->addr &&
		    sge->addr + sge->length <= (uintptr_t)g_ut_mrs[i].addr + g_ut_mrs[i].length) {
			return true;
		}
	}
	return false;
}

/*
 * An rdma_cm event for the next rdma_get_cm_event(), with a copy of pdata; the
 * caller may fill in more of it (listen_id, conn parameters) before it is read.
 */
static inline struct rdma_cm_event *
ut_cm_push(struct rdma_cm_id *id, enum rdma_cm_event_type type, int status, const void *pdata,
	   uint8_t plen)
{
	struct rdma_cm_event *ev = calloc(1, sizeof(*ev));

	if (ev == NULL || g_ut_nevents >= UT_VERBS_MAX_EVENTS) {
		abort();
	}
	ev->id = id;
	ev->event = type;
	ev->status = status;
	if (pdata != NULL) {
		void *copy = malloc(plen ? plen : 1);

		if (copy == NULL) {
			abort();
		}
		memcpy(copy, pdata, plen);
		ev->param.conn.private_data = copy;
		ev->param.conn.private_data_len = plen;
	}
	g_ut_events[g_ut_nevents++] = ev;
	return ev;
}

/* ---------------------------------------------------------------- libibverbs */

int
ibv_query_device(struct ibv_context *context, struct ibv_device_attr *attr)
{
	*attr = g_ut_dev_attr;
	return 0;
}

const char *
ibv_get_device_name(struct ibv_device *device)
{
	return "fake0";
}

struct ibv_pd *
ibv_alloc_pd(struct ibv_context *context)
{
	struct ibv_pd *pd = calloc(1, sizeof(*pd));

	if (pd == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	pd->context = context;
	g_ut_pds_live++;
	return pd;
}

int
ibv_dealloc_pd(struct ibv_pd *pd)
{
	free(pd);
	g_ut_pds_live--;
	return 0;
}

#undef ibv_reg_mr
struct ibv_mr *
ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length, int access)
{
	int i;

	for (i = 0; i < UT_VERBS_MAX_MR; i++) {
		if (!g_ut_mr_used[i]) {
			g_ut_mr_used[i] = true;
			memset(&g_ut_mrs[i], 0, sizeof(g_ut_mrs[i]));
			g_ut_mrs[i].context = pd->context;
			g_ut_mrs[i].pd = pd;
			g_ut_mrs[i].addr = addr;
			g_ut_mrs[i].length = length;
			g_ut_mrs[i].lkey = g_ut_next_key++;
			g_ut_mrs[i].rkey = g_ut_next_key++;
			g_ut_mrs_live++;
			return &g_ut_mrs[i];
		}
	}
	errno = ENOMEM;
	return NULL;
}

struct ibv_mr *
ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t length, uint64_t iova, unsigned int access)
{
	return ibv_reg_mr(pd, addr, length, (int)access);
}

int
ibv_dereg_mr(struct ibv_mr *mr)
{
	g_ut_mr_used[mr - g_ut_mrs] = false;
	g_ut_mrs_live--;
	return 0;
}

struct ibv_comp_channel *
ibv_create_comp_channel(struct ibv_context *context)
{
	struct ibv_comp_channel *ch = calloc(1, sizeof(*ch));

	if (ch == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	ch->context = context;
	ch->fd = eventfd(0, EFD_NONBLOCK);
	return ch;
}

int
ibv_destroy_comp_channel(struct ibv_comp_channel *ch)
{
	close(ch->fd);
	free(ch);
	return 0;
}

struct ibv_cq *
ibv_create_cq(struct ibv_context *context, int cqe, void *cq_context,
	      struct ibv_comp_channel *channel, int comp_vector)
{
	struct ut_verbs_cq *f = calloc(1, sizeof(*f));

	if (f == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	f->cq.context = context;
	f->cq.channel = channel;
	f->cq.cq_context = cq_context;
	f->cq.cqe = cqe;
	g_ut_cqs_live++;
	return &f->cq;
}

int
ibv_resize_cq(struct ibv_cq *cq, int cqe)
{
	cq->cqe = cqe;
	return 0;
}

int
ibv_destroy_cq(struct ibv_cq *cq)
{
	free(cq);
	g_ut_cqs_live--;
	return 0;
}

int
ibv_get_cq_event(struct ibv_comp_channel *channel, struct ibv_cq **cq, void **cq_context)
{
	errno = EAGAIN;
	return -1;
}

void
ibv_ack_cq_events(struct ibv_cq *cq, unsigned int nevents)
{
}

/* ---------------------------------------------------------------- librdmacm */

struct ibv_context **
rdma_get_devices(int *num)
{
	if (g_ut_no_devices) {
		errno = ENOSYS;
		if (num != NULL) {
			*num = 0;
		}
		return NULL;
	}
	g_ut_ctx_list[0] = &g_ut_ctx;
	g_ut_ctx_list[1] = NULL;
	if (num != NULL) {
		*num = 1;
	}
	return g_ut_ctx_list;
}

void
rdma_free_devices(struct ibv_context **list)
{
}

struct rdma_event_channel *
rdma_create_event_channel(void)
{
	struct rdma_event_channel *ch = calloc(1, sizeof(*ch));

	if (ch == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	ch->fd = eventfd(0, 0);
	return ch;
}

void
rdma_destroy_event_channel(struct rdma_event_channel *ch)
{
	close(ch->fd);
	free(ch);
}

int
rdma_create_id(struct rdma_event_channel *ch, struct rdma_cm_id **id, void *context,
	       enum rdma_port_space ps)
{
	*id = calloc(1, sizeof(**id));
	if (*id == NULL) {
		errno = ENOMEM;
		return -1;
	}
	(*id)->channel = ch;
	(*id)->context = context;
	(*id)->verbs = &g_ut_ctx;
	(*id)->ps = ps;
	memcpy(&(*id)->route.addr.dst_addr, &g_ut_peer, sizeof(g_ut_peer));
	memcpy(&(*id)->route.addr.src_addr, &g_ut_peer, sizeof(g_ut_peer));
	g_ut_ids_live++;
	return 0;
}

int
rdma_destroy_id(struct rdma_cm_id *id)
{
	CU_ASSERT(id->qp == NULL); /* rdma_destroy_qp first */
	free(id);
	g_ut_ids_live--;
	return 0;
}

int
rdma_get_cm_event(struct rdma_event_channel *ch, struct rdma_cm_event **ev)
{
	if (g_ut_nevents == 0) {
		errno = EAGAIN;
		return -1;
	}
	*ev = g_ut_events[0];
	memmove(g_ut_events, g_ut_events + 1, (size_t)(--g_ut_nevents) * sizeof(g_ut_events[0]));
	return 0;
}

int
rdma_ack_cm_event(struct rdma_cm_event *ev)
{
	free((void *)ev->param.conn.private_data);
	free(ev);
	return 0;
}

const char *
rdma_event_str(enum rdma_cm_event_type event)
{
	return "EVENT";
}

#endif /* OSPREY_UT_VERBS_H */
