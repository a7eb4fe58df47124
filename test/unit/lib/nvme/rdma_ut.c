/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the NVMe/RDMA host transport (lib/nvme/rdma.c) on a fake
 * verbs layer in memory (no device): the test defines the rdma_cm and verbs
 * functions the transport calls (the program's definitions win over
 * librdmacm/libibverbs), a fake ibv_context whose post_send/post_recv/poll_cq
 * record work requests and hand out completions the test queues, and a fake
 * lib/rdma memory map (one "DMA" buffer translates, other memory does not).
 * Covers the connect steps and the binding's private data, every reject and
 * resolution failure, the data paths (keyed SGL on registered memory and
 * through the bounce area, in-capsule data from registered memory, copied
 * behind the SQE and through the bounce area), completion ordering, every
 * work completion error status, malformed responses, and that a disconnect
 * deregisters everything.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "nvme/nvme.c"
#include "nvme/nvme_ctrlr.c"
#include "nvme/nvme_qpair.c"
#include "nvme/tcp.c"
#include "nvme/pcie.c"
#include "nvme/rdma.c"
#include "ut_run.h"

#ifdef OSP_HAVE_RDMA

#include "ut_verbs.h"

#define NQN1 "nqn.2016-06.io.osprey:cnode1"

/* ------------------------------------------------------------ fake lib/rdma map */

static uint8_t g_dma_buf[256 * 1024] __attribute__((aligned(4096)));
static int g_map_token;
#define DMA_LKEY 0x111u
#define DMA_RKEY 0x222u

struct osp_rdma_mem_map *
osp_rdma_mem_map_get(struct ibv_pd *pd)
{
	return (struct osp_rdma_mem_map *)&g_map_token;
}

void
osp_rdma_mem_map_put(struct osp_rdma_mem_map *map)
{
}

int
osp_rdma_mem_translate(const struct osp_rdma_mem_map *map, const void *addr, size_t len,
		       uint32_t *lkey, uint32_t *rkey)
{
	uintptr_t a = (uintptr_t)addr, b = (uintptr_t)g_dma_buf;

	if (len == 0 || a < b || a + len > b + sizeof(g_dma_buf)) {
		return -EINVAL;
	}
	*lkey = DMA_LKEY;
	*rkey = DMA_RKEY;
	return 0;
}

/* ------------------------------------------------------------ fake verbs */

#define MAX_SENDS 4096

static enum rdma_cm_event_type g_addr_event = RDMA_CM_EVENT_ADDR_RESOLVED;
/* What rdma_connect answers: the event, its status and private data. */
static struct rdma_cm_event g_connect_answer;
static uint8_t g_answer_pdata[32];
static struct osp_nvmf_rdma_cm_req g_req_pdata;
static int g_disconnects;
static int g_post_send_rc;

struct sent {
	struct ibv_send_wr wr;
	struct ibv_sge sge[NVME_RDMA_MAX_SGE];
	uint8_t capsule[64 + NVME_RDMA_CAPSULE_ICD];
	struct ibv_cq *cq; /* where its completion goes */
};
static struct sent g_sent[MAX_SENDS];
static uint32_t g_num_sent;
static struct ibv_recv_wr *g_recvs[MAX_SENDS];
static struct ibv_cq *g_recv_cqs[MAX_SENDS];
static uint32_t g_recv_head, g_recv_tail;

int
rdma_resolve_addr(struct rdma_cm_id *id, struct sockaddr *src_addr, struct sockaddr *dst_addr,
		  int timeout_ms)
{
	ut_cm_push(id, g_addr_event, g_addr_event == RDMA_CM_EVENT_ADDR_ERROR ? -110 : 0, NULL, 0);
	return 0;
}

int
rdma_resolve_route(struct rdma_cm_id *id, int timeout_ms)
{
	ut_cm_push(id, RDMA_CM_EVENT_ROUTE_RESOLVED, 0, NULL, 0);
	return 0;
}

static int fake_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad);
static int fake_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad);

int
rdma_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd, struct ibv_qp_init_attr *qp_init_attr)
{
	CU_ASSERT(qp_init_attr->qp_type == IBV_QPT_RC);
	CU_ASSERT(qp_init_attr->cap.max_recv_sge == 1);
	id->qp = calloc(1, sizeof(*id->qp));
	id->qp->context = &g_ut_ctx;
	id->qp->pd = pd;
	id->qp->send_cq = qp_init_attr->send_cq;
	id->qp->recv_cq = qp_init_attr->recv_cq;
	return 0;
}

void
rdma_destroy_qp(struct rdma_cm_id *id)
{
	free(id->qp);
	id->qp = NULL;
}

int
rdma_connect(struct rdma_cm_id *id, struct rdma_conn_param *conn_param)
{
	CU_ASSERT(conn_param->private_data_len == sizeof(g_req_pdata));
	memcpy(&g_req_pdata, conn_param->private_data, sizeof(g_req_pdata));
	CU_ASSERT(conn_param->responder_resources > 0);
	CU_ASSERT(conn_param->rnr_retry_count == 7);
	ut_cm_push(id, g_connect_answer.event, g_connect_answer.status,
		   g_connect_answer.param.conn.private_data,
		   g_connect_answer.param.conn.private_data_len);
	return 0;
}

int
rdma_disconnect(struct rdma_cm_id *id)
{
	g_disconnects++;
	return 0;
}

static int
fake_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	struct sent *s;
	int i;

	if (g_post_send_rc != 0) {
		*bad = wr;
		return g_post_send_rc;
	}
	CU_ASSERT_FATAL(g_num_sent < MAX_SENDS);
	s = &g_sent[g_num_sent++];
	s->wr = *wr;
	s->cq = qp->send_cq;
	CU_ASSERT_FATAL(wr->num_sge >= 1 && wr->num_sge <= NVME_RDMA_MAX_SGE);
	memcpy(s->sge, wr->sg_list, sizeof(wr->sg_list[0]) * (size_t)wr->num_sge);
	CU_ASSERT(wr->opcode == IBV_WR_SEND);
	CU_ASSERT(wr->send_flags & IBV_SEND_SIGNALED);
	CU_ASSERT(wr->sg_list[0].length >= 64 && wr->sg_list[0].length <= sizeof(s->capsule));
	memcpy(s->capsule, (void *)(uintptr_t)wr->sg_list[0].addr, wr->sg_list[0].length);
	CU_ASSERT(ut_verbs_sge_registered(&wr->sg_list[0])); /* the capsule */
	for (i = 0; i < wr->num_sge; i++) {
		CU_ASSERT(wr->sg_list[i].lkey != 0);
	}
	return 0;
}

static int
fake_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	for (; wr != NULL; wr = wr->next) {
		CU_ASSERT(wr->num_sge == 1 && wr->sg_list[0].length >= 16);
		g_recv_cqs[g_recv_tail % MAX_SENDS] = qp->recv_cq;
		g_recvs[g_recv_tail++ % MAX_SENDS] = wr;
	}
	return 0;
}

static void
fake_reset(void)
{
	ut_verbs_reset();
	g_ut_dev_attr.max_sge = 32;
	g_ut_dev_attr.max_qp_rd_atom = 16;
	g_ut_dev_attr.max_qp_init_rd_atom = 16;
	g_ut_ctx.ops.post_send = fake_post_send;
	g_ut_ctx.ops.post_recv = fake_post_recv;
	g_num_sent = 0;
	g_recv_head = g_recv_tail = 0;
	g_post_send_rc = 0;
	g_addr_event = RDMA_CM_EVENT_ADDR_RESOLVED;
	memset(&g_connect_answer, 0, sizeof(g_connect_answer));
	memset(g_answer_pdata, 0, sizeof(g_answer_pdata));
	g_connect_answer.event = RDMA_CM_EVENT_ESTABLISHED;
	/* ACCEPT: recfmt 0, crqsize 128 */
	g_answer_pdata[2] = 128;
	g_connect_answer.param.conn.private_data = g_answer_pdata;
	g_connect_answer.param.conn.private_data_len = 32;
}

/* ------------------------------------------------------------ helpers */

static struct osp_nvme_sgl_descriptor
sgl_of(const struct sent *s)
{
	struct osp_nvme_sgl_descriptor sgl;

	memcpy(&sgl, s->capsule + offsetof(struct osp_nvme_cmd, prp1), sizeof(sgl));
	return sgl;
}

static void
send_done(const struct sent *s, enum ibv_wc_status st)
{
	ut_verbs_cq_push(s->cq, s->wr.wr_id, st, IBV_WC_SEND, 0, 0);
}

/* The controller's response for cid in the next posted receive. */
static void
respond(uint16_t cid, uint16_t sc, uint32_t len)
{
	struct ibv_recv_wr *r;
	struct ibv_cq *cq;
	struct osp_nvme_cpl cpl;

	CU_ASSERT_FATAL(g_recv_head != g_recv_tail);
	cq = g_recv_cqs[g_recv_head % MAX_SENDS];
	r = g_recvs[g_recv_head++ % MAX_SENDS];
	memset(&cpl, 0, sizeof(cpl));
	cpl.cid = cid;
	osp_nvme_cpl_set_status(&cpl, OSP_NVME_SCT_GENERIC, sc, false);
	memcpy((void *)(uintptr_t)r->sg_list[0].addr, &cpl, sizeof(cpl));
	ut_verbs_cq_push(cq, r->wr_id, IBV_WC_SUCCESS, IBV_WC_RECV, len, 0);
}

struct conn {
	struct osp_nvme_ctrlr *ctrlr;
	struct nvme_qpair *q;
};

static int
conn_open(struct conn *c, uint16_t qid, uint32_t qsize)
{
	struct osp_nvme_transport_id t;
	struct osp_nvme_ctrlr_opts o;
	int rc, i;

	memset(c, 0, sizeof(*c));
	CU_ASSERT_FATAL(osp_nvme_transport_id_parse(&t, "trtype:RDMA adrfam:IPv4 traddr:10.0.0.1 "
						    "trsvcid:4420 subnqn:" NQN1) == 0);
	osp_nvme_ctrlr_opts_init(&o, sizeof(o));
	c->ctrlr = nvme_ctrlr_alloc(&t, &o, sizeof(o), &rc);
	CU_ASSERT_FATAL(c->ctrlr != NULL);
	CU_ASSERT_FATAL(c->ctrlr->ops == &g_nvme_rdma_ops);
	c->ctrlr->cdata.ioccsz = (4096 + 64) / 16;
	c->ctrlr->cntlid = 7;
	if (qid == 0) {
		c->q = c->ctrlr->adminq;
	} else {
		c->q = g_nvme_rdma_ops.qpair_create(c->ctrlr, qid, qsize);
		CU_ASSERT_FATAL(c->q != NULL);
	}
	rc = nvme_qpair_connect_start(c->q, 3000);
	if (rc != 0) {
		return rc;
	}
	for (i = 0; i < 10; i++) {
		rc = nvme_qpair_connect_poll(c->q);
		if (rc != -EAGAIN || c->q->state == NVME_QPAIR_FABRIC_CONNECTING) {
			break;
		}
	}
	if (rc != -EAGAIN) {
		return rc;
	}
	/* The Fabrics Connect went out: accept it. */
	CU_ASSERT_FATAL(c->q->state == NVME_QPAIR_FABRIC_CONNECTING);
	{
		struct sent *s = &g_sent[g_num_sent - 1];
		uint16_t cid = ((struct osp_nvme_cmd *)s->capsule)->cid;

		CU_ASSERT(((struct osp_nvme_cmd *)s->capsule)->opc == OSP_NVMF_FABRIC_OPCODE);
		send_done(s, IBV_WC_SUCCESS);
		respond(cid, OSP_NVME_SC_SUCCESS, 16);
	}
	return nvme_qpair_connect_poll(c->q);
}

static void
conn_close(struct conn *c)
{
	if (c->q != c->ctrlr->adminq) {
		nvme_qpair_disconnect(c->q, NVME_QPAIR_DISCONNECTED);
		c->q->ops->qpair_destroy(c->q);
	}
	nvme_ctrlr_free(c->ctrlr);
	CU_ASSERT(g_ut_mrs_live == 0);
	CU_ASSERT(g_ut_cqs_live == 0);
	CU_ASSERT(g_ut_ids_live == 0);
}

struct io_result {
	int done;
	struct osp_nvme_cpl cpl;
};

static void
io_cb(void *arg, const struct osp_nvme_cpl *cpl)
{
	struct io_result *r = arg;

	r->done++;
	r->cpl = *cpl;
}

static int
submit(struct conn *c, uint8_t opc, void *buf, uint32_t len, struct io_result *r)
{
	struct osp_nvme_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = opc;
	cmd.nsid = 1;
	cmd.cdw12 = len / 512 - 1;
	memset(r, 0, sizeof(*r));
	return nvme_qpair_submit(c->q, &cmd, NULL, 0, buf, len, io_cb, r, false);
}

static int32_t
process(struct conn *c)
{
	return osp_nvme_qpair_process_completions((struct osp_nvme_qpair *)c->q, 0);
}

/* ------------------------------------------------------------ tests */

static void
test_connect(void)
{
	struct conn c;
	const struct sent *s;
	struct osp_nvme_sgl_descriptor sgl;

	/* Admin queue: private data, Connect data through a keyed SGL (no ICD). */
	fake_reset();
	CU_ASSERT(conn_open(&c, 0, 32) == 0);
	CU_ASSERT(g_req_pdata.recfmt == 0);
	CU_ASSERT(g_req_pdata.qid == 0);
	CU_ASSERT(g_req_pdata.hrqsize == 32);
	CU_ASSERT(g_req_pdata.hsqsize == 31);
	s = &g_sent[0];
	sgl = sgl_of(s);
	CU_ASSERT(sgl.keyed.type == OSP_NVME_SGL_TYPE_KEYED_DATA_BLOCK);
	CU_ASSERT(sgl.keyed.subtype == OSP_NVME_SGL_SUBTYPE_ADDRESS);
	CU_ASSERT(sgl.keyed.length == sizeof(struct osp_nvmf_connect_data));
	CU_ASSERT(sgl.keyed.key != 0 && sgl.keyed.key != DMA_RKEY);
	/* the bounce slot holds the Connect data */
	CU_ASSERT(strcmp((char *)(uintptr_t)sgl.address +
			 offsetof(struct osp_nvmf_connect_data, subnqn), NQN1) == 0);
	CU_ASSERT(c.q->state == NVME_QPAIR_CONNECTED);
	CU_ASSERT(c.ctrlr->cntlid == 0);
	conn_close(&c);

	/* I/O queue: the 1 KiB Connect data goes in-capsule, right behind the SQE. */
	fake_reset();
	CU_ASSERT(conn_open(&c, 3, 64) == 0);
	CU_ASSERT(g_req_pdata.qid == 3);
	CU_ASSERT(g_req_pdata.hrqsize == 64);
	CU_ASSERT(g_req_pdata.hsqsize == 63);
	s = &g_sent[0];
	sgl = sgl_of(s);
	CU_ASSERT(sgl.unkeyed.type == OSP_NVME_SGL_TYPE_DATA_BLOCK);
	CU_ASSERT(sgl.unkeyed.subtype == OSP_NVME_SGL_SUBTYPE_OFFSET);
	CU_ASSERT(sgl.unkeyed.length == 1024);
	CU_ASSERT(sgl.address == 0);
	CU_ASSERT(s->wr.num_sge == 1);
	CU_ASSERT(s->sge[0].length == 64 + 1024);
	CU_ASSERT(strcmp((char *)s->capsule + 64 + offsetof(struct osp_nvmf_connect_data, subnqn),
			 NQN1) == 0);
	CU_ASSERT(c.q->state == NVME_QPAIR_CONNECTED);
	conn_close(&c);
	CU_ASSERT(g_disconnects > 0);
}

static void
test_connect_failures(void)
{
	struct conn c;
	uint8_t rej[4] = { 0, 0, 4, 0 }; /* recfmt 0, sts 4: invalid HSQSIZE */

	/* The binding's reject: status decoded into the step. */
	fake_reset();
	g_connect_answer.event = RDMA_CM_EVENT_REJECTED;
	g_connect_answer.status = 28;
	g_connect_answer.param.conn.private_data = rej;
	g_connect_answer.param.conn.private_data_len = sizeof(rej);
	CU_ASSERT(conn_open(&c, 0, 32) == -ECONNREFUSED);
	CU_ASSERT(c.q->connect_err.rc == -ECONNREFUSED);
	CU_ASSERT(c.q->connect_err.step != NULL &&
		  strstr(c.q->connect_err.step, "invalid host SQ size") != NULL);
	conn_close(&c);

	/* Nobody listens (CM reason 8, no private data). */
	fake_reset();
	g_connect_answer.event = RDMA_CM_EVENT_REJECTED;
	g_connect_answer.status = 8;
	g_connect_answer.param.conn.private_data = NULL;
	g_connect_answer.param.conn.private_data_len = 0;
	CU_ASSERT(conn_open(&c, 0, 32) == -ECONNREFUSED);
	CU_ASSERT(strstr(c.q->connect_err.step, "nobody listens") != NULL);
	conn_close(&c);

	/* No device reaches the address. */
	fake_reset();
	g_addr_event = RDMA_CM_EVENT_ADDR_ERROR;
	CU_ASSERT(conn_open(&c, 0, 32) == -EHOSTUNREACH);
	CU_ASSERT(strstr(c.q->connect_err.step, "resolve address") != NULL);
	conn_close(&c);

	/* Unreachable, connect error. */
	fake_reset();
	g_connect_answer.event = RDMA_CM_EVENT_UNREACHABLE;
	CU_ASSERT(conn_open(&c, 0, 32) == -EHOSTUNREACH);
	conn_close(&c);
	fake_reset();
	g_connect_answer.event = RDMA_CM_EVENT_CONNECT_ERROR;
	CU_ASSERT(conn_open(&c, 0, 32) == -ECONNRESET);
	conn_close(&c);

	/* An ACCEPT with another record format. */
	fake_reset();
	g_answer_pdata[0] = 1;
	CU_ASSERT(conn_open(&c, 0, 32) == -EPROTO);
	conn_close(&c);

	/* Admin queue above the binding's 32 entries: refused before connecting. */
	{
		struct osp_nvme_transport_id t;
		struct osp_nvme_ctrlr_opts o;

		CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:RDMA traddr:10.0.0.1 trsvcid:4420 "
						      "subnqn:" NQN1) == 0);
		osp_nvme_ctrlr_opts_init(&o, sizeof(o));
		o.admin_queue_size = 64;
		CU_ASSERT(g_nvme_rdma_ops.ctrlr_check(&t, &o) == -EINVAL);
		o.admin_queue_size = 32;
		CU_ASSERT(g_nvme_rdma_ops.ctrlr_check(&t, &o) == 0);
	}
}

static void
test_data_paths(void)
{
	struct conn c;
	struct io_result r;
	struct osp_nvme_sgl_descriptor sgl;
	struct sent *s;
	uint8_t *heap = aligned_alloc(4096, 256 * 1024);
	uint16_t cid;

	fake_reset();
	CU_ASSERT_FATAL(conn_open(&c, 1, 32) == 0);

	/* Read into DMA memory: keyed SGL on the caller's buffer, the map's rkey. */
	CU_ASSERT(submit(&c, OSP_NVME_OPC_READ, g_dma_buf, 4096, &r) == 0);
	s = &g_sent[g_num_sent - 1];
	cid = ((struct osp_nvme_cmd *)s->capsule)->cid;
	sgl = sgl_of(s);
	CU_ASSERT(sgl.keyed.type == OSP_NVME_SGL_TYPE_KEYED_DATA_BLOCK);
	CU_ASSERT(sgl.address == (uintptr_t)g_dma_buf);
	CU_ASSERT(sgl.keyed.key == DMA_RKEY);
	CU_ASSERT(sgl.keyed.length == 4096);
	CU_ASSERT(((struct osp_nvme_cmd *)s->capsule)->psdt == OSP_NVME_PSDT_SGL_MPTR_CONTIG);
	/* The response first: not complete before the SEND's completion. */
	respond(cid, OSP_NVME_SC_SUCCESS, 16);
	CU_ASSERT(process(&c) == 0);
	CU_ASSERT(r.done == 0);
	send_done(s, IBV_WC_SUCCESS);
	CU_ASSERT(process(&c) == 1);
	CU_ASSERT(r.done == 1 && !osp_nvme_cpl_is_error(&r.cpl));

	/* Write from DMA memory, in-capsule: a second SGE on the caller's buffer. */
	CU_ASSERT(submit(&c, OSP_NVME_OPC_WRITE, g_dma_buf + 8192, 4096, &r) == 0);
	s = &g_sent[g_num_sent - 1];
	sgl = sgl_of(s);
	CU_ASSERT(sgl.unkeyed.type == OSP_NVME_SGL_TYPE_DATA_BLOCK);
	CU_ASSERT(sgl.unkeyed.subtype == OSP_NVME_SGL_SUBTYPE_OFFSET);
	CU_ASSERT(s->wr.num_sge == 2);
	CU_ASSERT(s->sge[1].addr == (uintptr_t)(g_dma_buf + 8192));
	CU_ASSERT(s->sge[1].lkey == DMA_LKEY);
	CU_ASSERT(s->sge[1].length == 4096);
	send_done(s, IBV_WC_SUCCESS);
	respond(((struct osp_nvme_cmd *)s->capsule)->cid, OSP_NVME_SC_SUCCESS, 16);
	CU_ASSERT(process(&c) == 1 && r.done == 1);

	/* Small write from ordinary memory: copied behind the SQE. */
	memset(heap, 0xa5, 512);
	CU_ASSERT(submit(&c, OSP_NVME_OPC_WRITE, heap, 512, &r) == 0);
	s = &g_sent[g_num_sent - 1];
	CU_ASSERT(s->wr.num_sge == 1 && s->sge[0].length == 64 + 512);
	CU_ASSERT(s->capsule[64] == 0xa5 && s->capsule[64 + 511] == 0xa5);
	send_done(s, IBV_WC_SUCCESS);
	respond(((struct osp_nvme_cmd *)s->capsule)->cid, OSP_NVME_SC_SUCCESS, 16);
	CU_ASSERT(process(&c) == 1 && r.done == 1);

	/* 4 KiB write from ordinary memory: in-capsule from the bounce slot. */
	memset(heap, 0x5a, 4096);
	CU_ASSERT(submit(&c, OSP_NVME_OPC_WRITE, heap, 4096, &r) == 0);
	s = &g_sent[g_num_sent - 1];
	CU_ASSERT(s->wr.num_sge == 2);
	CU_ASSERT(s->sge[1].addr != (uintptr_t)heap && s->sge[1].lkey != DMA_LKEY);
	CU_ASSERT(((uint8_t *)(uintptr_t)s->sge[1].addr)[4095] == 0x5a);
	send_done(s, IBV_WC_SUCCESS);
	respond(((struct osp_nvme_cmd *)s->capsule)->cid, OSP_NVME_SC_SUCCESS, 16);
	CU_ASSERT(process(&c) == 1 && r.done == 1);

	/* 64 KiB write from ordinary memory: keyed SGL on the bounce slot. */
	memset(heap, 0x3c, 65536);
	CU_ASSERT(submit(&c, OSP_NVME_OPC_WRITE, heap, 65536, &r) == 0);
	s = &g_sent[g_num_sent - 1];
	sgl = sgl_of(s);
	CU_ASSERT(sgl.keyed.type == OSP_NVME_SGL_TYPE_KEYED_DATA_BLOCK);
	CU_ASSERT(sgl.address != (uintptr_t)heap && sgl.keyed.key != DMA_RKEY);
	CU_ASSERT(((uint8_t *)(uintptr_t)sgl.address)[65535] == 0x3c);
	send_done(s, IBV_WC_SUCCESS);
	respond(((struct osp_nvme_cmd *)s->capsule)->cid, OSP_NVME_SC_SUCCESS, 16);
	CU_ASSERT(process(&c) == 1 && r.done == 1);

	/* 8 KiB read into ordinary memory: the controller writes the bounce slot,
	 * the data is in the caller's buffer when the callback runs. */
	memset(heap, 0, 8192);
	CU_ASSERT(submit(&c, OSP_NVME_OPC_READ, heap, 8192, &r) == 0);
	s = &g_sent[g_num_sent - 1];
	sgl = sgl_of(s);
	memset((void *)(uintptr_t)sgl.address, 0x77, 8192);
	send_done(s, IBV_WC_SUCCESS);
	respond(((struct osp_nvme_cmd *)s->capsule)->cid, OSP_NVME_SC_SUCCESS, 16);
	CU_ASSERT(process(&c) == 1 && r.done == 1);
	CU_ASSERT(heap[0] == 0x77 && heap[8191] == 0x77);

	/* A failed read copies nothing back and reports the status. */
	memset(heap, 0, 4096);
	CU_ASSERT(submit(&c, OSP_NVME_OPC_READ, heap, 4096, &r) == 0);
	s = &g_sent[g_num_sent - 1];
	memset((void *)(uintptr_t)sgl_of(s).address, 0x11, 4096);
	send_done(s, IBV_WC_SUCCESS);
	respond(((struct osp_nvme_cmd *)s->capsule)->cid, OSP_NVME_SC_INTERNAL_DEVICE_ERROR, 16);
	CU_ASSERT(process(&c) == 1 && r.done == 1);
	CU_ASSERT(osp_nvme_cpl_is_error(&r.cpl));
	CU_ASSERT(heap[0] == 0);

	/* 192 KiB: DMA memory goes direct; ordinary memory exceeds the bounce slot. */
	CU_ASSERT(submit(&c, OSP_NVME_OPC_READ, heap, 192 * 1024, &r) == -EINVAL);
	CU_ASSERT(submit(&c, OSP_NVME_OPC_READ, g_dma_buf, 192 * 1024, &r) == 0);
	s = &g_sent[g_num_sent - 1];
	CU_ASSERT(sgl_of(s).keyed.length == 192 * 1024);
	send_done(s, IBV_WC_SUCCESS);
	respond(((struct osp_nvme_cmd *)s->capsule)->cid, OSP_NVME_SC_SUCCESS, 16);
	CU_ASSERT(process(&c) == 1 && r.done == 1);

	/* No data: a zero keyed descriptor. */
	CU_ASSERT(submit(&c, OSP_NVME_OPC_FLUSH, NULL, 0, &r) == 0);
	s = &g_sent[g_num_sent - 1];
	sgl = sgl_of(s);
	CU_ASSERT(sgl.keyed.type == OSP_NVME_SGL_TYPE_KEYED_DATA_BLOCK);
	CU_ASSERT(sgl.keyed.length == 0 && sgl.keyed.key == 0 && sgl.address == 0);
	send_done(s, IBV_WC_SUCCESS);
	respond(((struct osp_nvme_cmd *)s->capsule)->cid, OSP_NVME_SC_SUCCESS, 16);
	CU_ASSERT(process(&c) == 1 && r.done == 1);

	/* post_send failing: the submit says so, nothing completes. */
	g_post_send_rc = ENOMEM;
	CU_ASSERT(submit(&c, OSP_NVME_OPC_READ, g_dma_buf, 4096, &r) == -ENOMEM);
	g_post_send_rc = 0;

	/* A full queue: 31 outstanding, then the core refuses; all complete. */
	{
		struct io_result rs[32];
		uint32_t first = g_num_sent, i;
		int ok = 0;

		for (i = 0; i < 32; i++) {
			if (submit(&c, OSP_NVME_OPC_READ, g_dma_buf + i * 4096, 4096, &rs[i]) == 0) {
				ok++;
			}
		}
		CU_ASSERT(ok == 31);
		for (i = first; i < g_num_sent; i++) {
			send_done(&g_sent[i], IBV_WC_SUCCESS);
			respond(((struct osp_nvme_cmd *)g_sent[i].capsule)->cid, OSP_NVME_SC_SUCCESS, 16);
		}
		/* bounded polls: several calls drain 62 work completions */
		ok = 0;
		for (i = 0; i < 10; i++) {
			ok += process(&c);
		}
		CU_ASSERT(ok == 31);
	}
	conn_close(&c);
	free(heap);
}

static void
test_wc_errors(void)
{
	struct conn c;
	struct io_result r;
	int st;

	/* Every error status fails the qpair; the command is aborted, not lost. */
	for (st = IBV_WC_LOC_LEN_ERR; st <= IBV_WC_TM_RNDV_INCOMPLETE; st++) {
		struct sent *s;

		fake_reset();
		CU_ASSERT_FATAL(conn_open(&c, 1, 8) == 0);
		CU_ASSERT(submit(&c, OSP_NVME_OPC_READ, g_dma_buf, 4096, &r) == 0);
		s = &g_sent[g_num_sent - 1];
		send_done(s, (enum ibv_wc_status)st);
		CU_ASSERT(process(&c) == -ENXIO);
		CU_ASSERT(r.done == 1);
		CU_ASSERT(osp_nvme_cpl_is_error(&r.cpl));
		CU_ASSERT(c.q->state == NVME_QPAIR_FAILED);
		/* a receive failing the same way */
		conn_close(&c);
		fake_reset();
		CU_ASSERT_FATAL(conn_open(&c, 1, 8) == 0);
		CU_ASSERT(submit(&c, OSP_NVME_OPC_READ, g_dma_buf, 4096, &r) == 0);
		ut_verbs_cq_push(g_recv_cqs[g_recv_head % MAX_SENDS],
				 g_recvs[g_recv_head % MAX_SENDS]->wr_id, (enum ibv_wc_status)st,
				 IBV_WC_RECV, 0, 0);
		CU_ASSERT(process(&c) == -ENXIO);
		CU_ASSERT(r.done == 1);
		conn_close(&c);
	}
}

static void
test_bad_responses(void)
{
	struct conn c;
	struct io_result r;
	struct sent *s;
	uint16_t cid;

	/* A response for a cid that is not outstanding. */
	fake_reset();
	CU_ASSERT_FATAL(conn_open(&c, 1, 8) == 0);
	CU_ASSERT(submit(&c, OSP_NVME_OPC_READ, g_dma_buf, 4096, &r) == 0);
	cid = ((struct osp_nvme_cmd *)g_sent[g_num_sent - 1].capsule)->cid;
	respond((uint16_t)(cid + 3), OSP_NVME_SC_SUCCESS, 16);
	CU_ASSERT(process(&c) == -ENXIO);
	CU_ASSERT(r.done == 1);
	conn_close(&c);

	/* A response shorter than a completion entry. */
	fake_reset();
	CU_ASSERT_FATAL(conn_open(&c, 1, 8) == 0);
	CU_ASSERT(submit(&c, OSP_NVME_OPC_READ, g_dma_buf, 4096, &r) == 0);
	cid = ((struct osp_nvme_cmd *)g_sent[g_num_sent - 1].capsule)->cid;
	respond(cid, OSP_NVME_SC_SUCCESS, 8);
	CU_ASSERT(process(&c) == -ENXIO);
	conn_close(&c);

	/* Two responses for one command (the SEND not completed yet). */
	fake_reset();
	CU_ASSERT_FATAL(conn_open(&c, 1, 8) == 0);
	CU_ASSERT(submit(&c, OSP_NVME_OPC_READ, g_dma_buf, 4096, &r) == 0);
	s = &g_sent[g_num_sent - 1];
	cid = ((struct osp_nvme_cmd *)s->capsule)->cid;
	respond(cid, OSP_NVME_SC_SUCCESS, 16);
	respond(cid, OSP_NVME_SC_SUCCESS, 16);
	CU_ASSERT(process(&c) == -ENXIO);
	CU_ASSERT(r.done == 1);
	conn_close(&c);

	/* The controller disconnects: noticed on an idle poll. */
	fake_reset();
	CU_ASSERT_FATAL(conn_open(&c, 1, 8) == 0);
	ut_cm_push(NULL, RDMA_CM_EVENT_DISCONNECTED, 0, NULL, 0);
	rqp_of(c.q)->next_cm_poll_us = 0;
	CU_ASSERT(process(&c) == -ENXIO);
	conn_close(&c);
}

int
main(void)
{
	CU_pSuite suite;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("nvme_rdma", NULL, NULL);
	CU_ADD_TEST(suite, test_connect);
	CU_ADD_TEST(suite, test_connect_failures);
	CU_ADD_TEST(suite, test_data_paths);
	CU_ADD_TEST(suite, test_wc_errors);
	CU_ADD_TEST(suite, test_bad_responses);
	return ut_run_suites();
}

#else /* !OSP_HAVE_RDMA */

static void
test_not_built(void)
{
	/* Without libibverbs/librdmacm the transport is absent: RDMA is not registered. */
	CU_ASSERT(nvme_transport_get(OSP_NVME_TRANSPORT_RDMA) == NULL);
}

int
main(void)
{
	CU_pSuite suite;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("nvme_rdma", NULL, NULL);
	CU_ADD_TEST(suite, test_not_built);
	return ut_run_suites();
}
#endif
