/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the NVMe-oF RDMA target transport (lib/nvmf/rdma.c compiled
 * in) on a fake verbs / rdma_cm layer in memory: no device. The fake QP keeps
 * the receives and sends the transport posts; the test plays the host:
 * it fills a receive with a capsule and completes it, carries out the
 * transport's RDMA READs and WRITEs against host buffers (plain memory here:
 * the remote address is a pointer), completes its SENDs, and can fail any
 * work request with any IBV_WC_* status or flush everything (the host gone).
 * A fake core records what the transport hands it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "nvmf/rdma.c"

#include "ut_verbs.h"

#include "ut_env.h"
#include "ut_run.h"
#include "ut_thread.h"

/* ---------------------------------------------------------------- fake core */

static const struct osp_nvmf_transport_ops *g_ops;

void
osp_nvmf_transport_register(const struct osp_nvmf_transport_ops *ops)
{
	g_ops = ops;
}

#define MAX_EXEC 64
static struct osp_nvmf_request *g_exec[MAX_EXEC];
static int g_nexec;
static int g_disconnects;

void
osp_nvmf_request_exec(struct osp_nvmf_request *req)
{
	CU_ASSERT_FATAL(g_nexec < MAX_EXEC);
	g_exec[g_nexec++] = req;
}

void
osp_nvmf_qpair_disconnect(struct osp_nvmf_qpair *qpair)
{
	if (qpair->disconnecting) {
		return;
	}
	qpair->disconnecting = true;
	g_disconnects++;
	g_ops->qpair_disconnect(qpair);
}

static struct osp_nvmf_request *
exec_pop(void)
{
	struct osp_nvmf_request *r;

	if (g_nexec == 0) {
		return NULL;
	}
	r = g_exec[0];
	memmove(g_exec, g_exec + 1, (size_t)(--g_nexec) * sizeof(g_exec[0]));
	return r;
}

/* ---------------------------------------------------------------- fake verbs */

#define FQ_MAX 512
struct fake_srq {
	struct ibv_srq srq;
	struct ibv_recv_wr *recv[8192];
	int nrecv;
};
static bool g_use_srq;
static int g_srqs_live;

struct fake_qp {
	struct ibv_qp qp;
	struct ibv_cq *cq;
	struct fake_srq *srq;
	struct ibv_recv_wr *recv[FQ_MAX];	/* posted receives, oldest first */
	int nrecv;
	struct ibv_send_wr *send[FQ_MAX];	/* posted sends, oldest first */
	int nsend;
	bool error;
};

static struct fake_qp *g_qps[16];
static int g_nqps;
static int g_qps_live;

/* Everything posted on fq completes as flushed; later posts too. */
static void
fq_flush(struct fake_qp *fq)
{
	int i;

	fq->error = true;
	for (i = 0; i < fq->nrecv; i++) {
		ut_verbs_cq_push(fq->cq, fq->recv[i]->wr_id, IBV_WC_WR_FLUSH_ERR, IBV_WC_RECV, 0, fq->qp.qp_num);
	}
	for (i = 0; i < fq->nsend; i++) {
		ut_verbs_cq_push(fq->cq, fq->send[i]->wr_id, IBV_WC_WR_FLUSH_ERR, IBV_WC_SEND, 0, fq->qp.qp_num);
	}
	fq->nrecv = 0;
	fq->nsend = 0;
}

static bool g_post_send_fail;

static int
fake_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	struct fake_qp *fq = (struct fake_qp *)qp;

	if (g_post_send_fail) {
		/* The device refuses the whole chain (a QP in a bad state). */
		*bad = wr;
		return EINVAL;
	}

	for (; wr != NULL; wr = wr->next) {
		CU_ASSERT_FATAL(fq->nsend < FQ_MAX);
		CU_ASSERT(wr->send_flags & IBV_SEND_SIGNALED);
		fq->send[fq->nsend++] = wr;
	}
	if (fq->error) {
		fq_flush(fq);
	}
	return 0;
}

static int
fake_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	struct fake_qp *fq = (struct fake_qp *)qp;

	for (; wr != NULL; wr = wr->next) {
		CU_ASSERT_FATAL(fq->nrecv < FQ_MAX);
		CU_ASSERT(wr->num_sge == 1);
		fq->recv[fq->nrecv++] = wr;
	}
	if (fq->error) {
		fq_flush(fq);
	}
	return 0;
}

static int
fake_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	struct fake_srq *fs = (struct fake_srq *)srq;

	for (; wr != NULL; wr = wr->next) {
		CU_ASSERT_FATAL(fs->nrecv < 8192);
		fs->recv[fs->nrecv++] = wr;
	}
	return 0;
}

struct ibv_srq *
ibv_create_srq(struct ibv_pd *pd, struct ibv_srq_init_attr *attr)
{
	struct fake_srq *fs = calloc(1, sizeof(*fs));

	CU_ASSERT(attr->attr.max_sge == 1);
	fs->srq.context = &g_ut_ctx;
	fs->srq.pd = pd;
	g_srqs_live++;
	return &fs->srq;
}

int
ibv_destroy_srq(struct ibv_srq *srq)
{
	free(srq);
	g_srqs_live--;
	return 0;
}

/* The SGE's lkey names a registered region that holds it. */

int
ibv_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int attr_mask)
{
	if (attr->qp_state == IBV_QPS_ERR) {
		fq_flush((struct fake_qp *)qp);
	}
	return 0;
}

/* ---------------------------------------------------------------- fake rdma_cm */

static int g_rejects;
static uint16_t g_reject_sts;
static int g_accepts;
static struct osp_nvmf_rdma_cm_accept g_accept_pd;
static struct rdma_conn_param g_accept_param;

int
rdma_bind_addr(struct rdma_cm_id *id, struct sockaddr *addr)
{
	return 0;
}

int
rdma_listen(struct rdma_cm_id *id, int backlog)
{
	return 0;
}

int
rdma_reject(struct rdma_cm_id *id, const void *pd, uint8_t len)
{
	const struct osp_nvmf_rdma_cm_reject *rej = pd;

	CU_ASSERT(len == sizeof(*rej));
	g_reject_sts = le16toh(rej->sts);
	g_rejects++;
	return 0;
}

int
rdma_accept(struct rdma_cm_id *id, struct rdma_conn_param *param)
{
	CU_ASSERT(id->qp != NULL);
	CU_ASSERT_FATAL(param->private_data_len == sizeof(g_accept_pd));
	memcpy(&g_accept_pd, param->private_data, sizeof(g_accept_pd));
	g_accept_param = *param;
	g_accepts++;
	return 0;
}

int
rdma_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd, struct ibv_qp_init_attr *attr)
{
	struct fake_qp *fq = calloc(1, sizeof(*fq));

	CU_ASSERT(attr->send_cq == attr->recv_cq);
	CU_ASSERT(attr->cap.max_send_sge <= (uint32_t)g_ut_dev_attr.max_sge);
	fq->qp.context = &g_ut_ctx;
	fq->qp.qp_num = 100 + (uint32_t)g_nqps;
	fq->qp.pd = pd;
	fq->cq = attr->send_cq;
	fq->srq = (struct fake_srq *)attr->srq;
	CU_ASSERT(g_use_srq == (attr->srq != NULL));
	id->qp = &fq->qp;
	g_qps[g_nqps++ % 16] = fq;
	g_qps_live++;
	return 0;
}

void
rdma_destroy_qp(struct rdma_cm_id *id)
{
	struct fake_qp *fq = (struct fake_qp *)id->qp;
	int i;

	for (i = 0; i < 16; i++) {
		if (g_qps[i] == fq) {
			g_qps[i] = NULL;
		}
	}
	free(fq);
	id->qp = NULL;
	g_qps_live--;
}

int
rdma_disconnect(struct rdma_cm_id *id)
{
	if (id->qp != NULL) {
		fq_flush((struct fake_qp *)id->qp);
	}
	return 0;
}

/* ---------------------------------------------------------------- the host */

static struct osp_nvmf_transport *g_t;
static struct osp_nvmf_transport_poll_group *g_pg;
static struct osp_nvmf_qpair *g_new;
static struct rdma_cm_id *g_listen_id;

static void
new_qpair_cb(struct osp_nvmf_qpair *qpair, void *cb_arg)
{
	g_new = qpair;
}

static void
push_connect(const void *pd, uint8_t pd_len, uint8_t ird)
{
	struct rdma_cm_id *id;
	struct rdma_cm_event *ev;

	rdma_create_id(NULL, &id, NULL, RDMA_PS_TCP);
	ev = ut_cm_push(id, RDMA_CM_EVENT_CONNECT_REQUEST, 0, pd, pd_len);
	ev->listen_id = g_listen_id;
	/* Seen from the passive side: the host's responder resources come as initiator_depth. */
	ev->param.conn.responder_resources = 0;
	ev->param.conn.initiator_depth = ird;
}

/* A connection with that private data: the new qpair in the group, or NULL (rejected). */
static struct nvmf_rdma_qpair *
host_connect(uint16_t qid, uint16_t hsqsize, uint16_t hrqsize)
{
	struct osp_nvmf_rdma_cm_req req = {};

	req.qid = htole16(qid);
	req.hsqsize = htole16(hsqsize);
	req.hrqsize = htole16(hrqsize);
	req.cntlid = 0xffff;
	push_connect(&req, sizeof(req), 16);
	g_new = NULL;
	CU_ASSERT(g_ops->accept(g_t, new_qpair_cb, NULL) == 1);
	if (g_new == NULL) {
		return NULL;
	}
	CU_ASSERT_FATAL(g_ops->poll_group_add(g_pg, g_new) == 0);
	return rdma_qpair(g_new);
}

static struct fake_qp *
fq_of(struct nvmf_rdma_qpair *rq)
{
	return (struct fake_qp *)rq->qp;
}

static void
poll(void)
{
	int i;

	for (i = 0; i < 4; i++) {
		g_ops->poll_group_poll(g_pg);
		/* Not ut_poll_threads(): the iobuf poller is busy while a request waits. */
		ut_poll_thread(0);
		ut_poll_thread(0);
	}
}

/* The oldest receive posted for fq: its own, or the shared receive queue's. */
static struct ibv_recv_wr *
take_recv(struct fake_qp *fq)
{
	struct ibv_recv_wr *wr;

	if (fq->srq != NULL) {
		CU_ASSERT_FATAL(fq->srq->nrecv > 0);
		wr = fq->srq->recv[0];
		memmove(fq->srq->recv, fq->srq->recv + 1,
			(size_t)(--fq->srq->nrecv) * sizeof(fq->srq->recv[0]));
	} else {
		CU_ASSERT_FATAL(fq->nrecv > 0);
		wr = fq->recv[0];
		memmove(fq->recv, fq->recv + 1, (size_t)(--fq->nrecv) * sizeof(fq->recv[0]));
	}
	return wr;
}

/* The host sends a capsule: into the oldest posted receive. */
static void
host_send(struct nvmf_rdma_qpair *rq, const struct osp_nvme_cmd *cmd, const void *icd,
	  uint32_t icd_len)
{
	struct fake_qp *fq = fq_of(rq);
	struct ibv_recv_wr *wr = take_recv(fq);

	CU_ASSERT_FATAL(wr->sg_list[0].length >= CAPSULE_CMD_SIZE + icd_len);
	CU_ASSERT(ut_verbs_sge_registered(&wr->sg_list[0]));
	memcpy((void *)(uintptr_t)wr->sg_list[0].addr, cmd, sizeof(*cmd));
	if (icd_len > 0) {
		memcpy((uint8_t *)(uintptr_t)wr->sg_list[0].addr + CAPSULE_CMD_SIZE, icd, icd_len);
	}
	ut_verbs_cq_push(fq->cq, wr->wr_id, IBV_WC_SUCCESS, IBV_WC_RECV, CAPSULE_CMD_SIZE + icd_len,
		fq->qp.qp_num);
}

/* What the host saw: the last response and how it came. */
static struct osp_nvme_cpl g_rsp;
static int g_nrsp;
static enum ibv_wr_opcode g_rsp_op;
static uint32_t g_rsp_inv;
static int g_nreads, g_nwrites;
static uint32_t g_host_rkey = 0x5151;
/* Fail the next send-queue WR with this status (0: none). */
static enum ibv_wc_status g_fail_status;
static bool g_fail_armed;

/* Carry out up to max posted send-queue WRs (READ, WRITE, SEND), oldest first. */
static int
host_run_sends(struct nvmf_rdma_qpair *rq, int max)
{
	struct fake_qp *fq = fq_of(rq);
	int done = 0, i;

	while (fq != NULL && fq->nsend > 0 && done < max) {
		struct ibv_send_wr *wr = fq->send[0];
		enum ibv_wc_opcode op = IBV_WC_SEND;
		uint8_t *remote = (uint8_t *)(uintptr_t)wr->wr.rdma.remote_addr;

		memmove(fq->send, fq->send + 1, (size_t)(--fq->nsend) * sizeof(fq->send[0]));
		if (g_fail_armed) {
			g_fail_armed = false;
			ut_verbs_cq_push(fq->cq, wr->wr_id, g_fail_status, op, 0, fq->qp.qp_num);
			done++;
			continue;
		}
		for (i = 0; i < wr->num_sge; i++) {
			CU_ASSERT(ut_verbs_sge_registered(&wr->sg_list[i]));
		}
		switch (wr->opcode) {
		case IBV_WR_RDMA_READ:
			CU_ASSERT(wr->wr.rdma.rkey == g_host_rkey || wr->wr.rdma.rkey == g_host_rkey + 1);
			for (i = 0; i < wr->num_sge; i++) {
				memcpy((void *)(uintptr_t)wr->sg_list[i].addr, remote, wr->sg_list[i].length);
				remote += wr->sg_list[i].length;
			}
			op = IBV_WC_RDMA_READ;
			g_nreads++;
			break;
		case IBV_WR_RDMA_WRITE:
			for (i = 0; i < wr->num_sge; i++) {
				memcpy(remote, (void *)(uintptr_t)wr->sg_list[i].addr, wr->sg_list[i].length);
				remote += wr->sg_list[i].length;
			}
			op = IBV_WC_RDMA_WRITE;
			g_nwrites++;
			break;
		case IBV_WR_SEND:
		case IBV_WR_SEND_WITH_INV:
			CU_ASSERT(wr->num_sge == 1 && wr->sg_list[0].length == sizeof(g_rsp));
			memcpy(&g_rsp, (void *)(uintptr_t)wr->sg_list[0].addr, sizeof(g_rsp));
			g_rsp_op = wr->opcode;
			g_rsp_inv = wr->opcode == IBV_WR_SEND_WITH_INV ? wr->invalidate_rkey : 0;
			g_nrsp++;
			break;
		default:
			CU_FAIL("unexpected send opcode");
		}
		ut_verbs_cq_push(fq->cq, wr->wr_id, IBV_WC_SUCCESS, op, 0, fq->qp.qp_num);
		done++;
	}
	return done;
}

/* Run the host and the group until nothing moves. */
static void
run(struct nvmf_rdma_qpair *rq)
{
	int i;

	for (i = 0; i < 64; i++) {
		poll();
		if (host_run_sends(rq, 1000) == 0) {
			poll();
			if (fq_of(rq) == NULL || fq_of(rq)->nsend == 0) {
				break;
			}
		}
	}
}

static void
cmd_init(struct osp_nvme_cmd *cmd, uint8_t opc, uint16_t cid)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->opc = opc;
	cmd->cid = cid;
	cmd->nsid = 1;
	cmd->psdt = OSP_NVME_PSDT_SGL_MPTR_CONTIG;	/* SGLs, as every Fabrics host sends */
}

static void
sgl_keyed(struct osp_nvme_sgl_descriptor *sgl, const void *addr, uint32_t len, uint32_t key,
	  bool inv)
{
	memset(sgl, 0, sizeof(*sgl));
	sgl->address = (uintptr_t)addr;
	sgl->keyed.length = len;
	sgl->keyed.key = key;
	sgl->keyed.type = OSP_NVME_SGL_TYPE_KEYED_DATA_BLOCK;
	sgl->keyed.subtype = inv ? OSP_NVME_SGL_SUBTYPE_INVALIDATE_KEY : OSP_NVME_SGL_SUBTYPE_ADDRESS;
}

static void
cmd_keyed(struct osp_nvme_cmd *cmd, uint8_t opc, uint16_t cid, const void *addr, uint32_t len,
	  bool inv)
{
	struct osp_nvme_sgl_descriptor sgl;

	cmd_init(cmd, opc, cid);
	sgl_keyed(&sgl, addr, len, g_host_rkey, inv);
	memcpy(&cmd->prp1, &sgl, sizeof(sgl));
}

/* Copy the request's data out of its iovecs. */
static uint32_t
req_gather(const struct osp_nvmf_request *req, uint8_t *out)
{
	uint32_t i, off = 0;

	for (i = 0; i < req->iovcnt; i++) {
		memcpy(out + off, req->iov[i].iov_base, req->iov[i].iov_len);
		off += (uint32_t)req->iov[i].iov_len;
	}
	return off;
}

static void
req_scatter(struct osp_nvmf_request *req, const uint8_t *in)
{
	uint32_t i, off = 0;

	for (i = 0; i < req->iovcnt; i++) {
		memcpy(req->iov[i].iov_base, in + off, req->iov[i].iov_len);
		off += (uint32_t)req->iov[i].iov_len;
	}
}

static void
core_complete(struct osp_nvmf_request *req, uint8_t sc)
{
	memset(&req->rsp, 0, sizeof(req->rsp));
	req->rsp.status.sc = sc;
	CU_ASSERT(g_ops->req_complete(req) == 0);
}

static void
fill(uint8_t *p, size_t len, uint8_t seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
	}
}

static void push_cm_event(struct nvmf_rdma_qpair *rq, enum rdma_cm_event_type type);

/* ---------------------------------------------------------------- set-up */

static int g_fini_done;

static void
fini_cb(void *arg)
{
	g_fini_done++;
}

static void
setup_with(const char *json_opts, uint32_t max_io, uint32_t nbufs, uint32_t cache)
{
	struct osp_nvmf_transport_opts o = {};
	struct osp_nvmf_listen_addr a = {};
	char err[256] = "";
	cJSON *ts = json_opts ? cJSON_Parse(json_opts) : NULL;

	ut_verbs_reset();
	g_ut_dev_attr.max_qp_wr = 1024;
	g_ut_dev_attr.max_sge = 4;
	g_ut_dev_attr.max_cqe = 65536;
	g_ut_dev_attr.max_qp_init_rd_atom = 2;
	g_ut_dev_attr.max_qp_rd_atom = 16;
	g_ut_dev_attr.device_cap_flags = IBV_DEVICE_MEM_MGT_EXTENSIONS;
	g_ut_ctx.ops.post_send = fake_post_send;
	g_ut_ctx.ops.post_recv = fake_post_recv;
	g_ut_ctx.ops.post_srq_recv = fake_post_srq_recv;
	g_ut_dev_attr.max_srq = g_use_srq ? 64 : 0;
	g_ut_dev_attr.max_srq_wr = 256;
	g_nexec = 0;
	g_disconnects = 0;
	g_rejects = 0;
	g_accepts = 0;
	g_nrsp = 0;
	g_nreads = 0;
	g_nwrites = 0;
	g_fini_done = 0;
	g_fail_armed = false;

	o.opts_size = sizeof(o);
	o.max_qpairs_per_ctrlr = 4;
	g_ops->opts_init(&o);
	o.max_qpairs_per_ctrlr = 4;
	o.max_queue_depth = 32;
	o.max_aq_depth = 32;
	o.max_io_size = max_io;
	o.io_unit_size = 8192;
	o.num_shared_buffers = nbufs;
	o.buf_cache_size = cache;
	o.transport_specific = ts;
	CU_ASSERT_FATAL(g_ops->create(&o, &g_t, err, sizeof(err)) == 0);
	cJSON_Delete(ts);
	g_t->ops = g_ops;
	g_t->opts = o;
	a.trtype = OSP_NVMF_TRTYPE_RDMA;
	a.adrfam = OSP_NVMF_ADRFAM_IPV4;
	snprintf(a.traddr, sizeof(a.traddr), "192.168.1.1");
	snprintf(a.trsvcid, sizeof(a.trsvcid), "4420");
	CU_ASSERT_FATAL(g_ops->listen(g_t, &a) == 0);
	g_listen_id = TAILQ_FIRST(&rdma_transport(g_t)->listeners)->id;
	g_pg = g_ops->poll_group_create(g_t);
	CU_ASSERT_FATAL(g_pg != NULL);
}

static void
setup(void)
{
	setup_with(NULL, 131072, 255, 8);
}

/* The core lets go of rq: remove, fini, and everything is released. */
static void
core_fini(struct nvmf_rdma_qpair *rq)
{
	int before = g_fini_done;

	if (!rq->qpair.disconnecting) {
		osp_nvmf_qpair_disconnect(&rq->qpair);
	}
	poll();
	CU_ASSERT(g_ops->poll_group_remove(g_pg, &rq->qpair) == 0);
	g_ops->qpair_fini(&rq->qpair, fini_cb, NULL);
	poll();
	CU_ASSERT(g_fini_done == before + 1);
}

static void
teardown(void)
{
	struct nvmf_rdma_transport *rt = rdma_transport(g_t);

	poll();
	/* Every data buffer is back: in the shared pool or the group's cache. */
	CU_ASSERT(osp_iobuf_pool_get_free(rt->buf_pool) + rdma_group(g_pg)->iobuf.cache_count ==
		  rt->opts.num_shared_buffers);
	g_ops->poll_group_destroy(g_pg);
	CU_ASSERT(g_ops->destroy(g_t, NULL, NULL) == 0);
	CU_ASSERT(g_ut_ids_live == 0);
	CU_ASSERT(g_qps_live == 0);
	CU_ASSERT(g_ut_mrs_live == 0);
	CU_ASSERT(g_ut_cqs_live == 0);
	CU_ASSERT(g_ut_pds_live == 0);
	CU_ASSERT(g_srqs_live == 0);
	CU_ASSERT(g_ut_nevents == 0);
}

/* ---------------------------------------------------------------- tests */

static void
test_no_device_and_options(void)
{
	struct osp_nvmf_transport_opts o = {};
	struct osp_nvmf_transport *t = NULL;
	char err[256] = "";
	cJSON *ts;

	o.opts_size = sizeof(o);
	g_ops->opts_init(&o);
	CU_ASSERT(o.io_unit_size == 8192 && o.num_shared_buffers == 4095);
	g_ut_no_devices = true;
	CU_ASSERT(g_ops->create(&o, &t, err, sizeof(err)) == -ENODEV);
	CU_ASSERT(strstr(err, "No RDMA device found") != NULL);
	g_ut_no_devices = false;
	CU_ASSERT(g_ut_mrs_live == 0);

	ts = cJSON_Parse("{\"sock_priority\": 1}");
	o.transport_specific = ts;
	CU_ASSERT(g_ops->create(&o, &t, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "TCP transport parameter") != NULL);
	cJSON_Delete(ts);
	ts = cJSON_Parse("{\"num_cqe\": 1.5}");
	o.transport_specific = ts;
	CU_ASSERT(g_ops->create(&o, &t, err, sizeof(err)) == -EINVAL);
	cJSON_Delete(ts);
	o.transport_specific = NULL;
	o.io_unit_size = 100;
	CU_ASSERT(g_ops->create(&o, &t, err, sizeof(err)) == -EINVAL);
	o.io_unit_size = 512;
	o.max_io_size = 1u << 20;
	CU_ASSERT(g_ops->create(&o, &t, err, sizeof(err)) == -EINVAL);

	/* Options round trip through dump_opts. */
	setup_with("{\"num_cqe\": 2048, \"max_srq_depth\": 64, \"no_srq\": true, "
		   "\"acceptor_backlog\": 7, \"no_wr_batching\": true}", 131072, 255, 8);
	{
		cJSON *j = cJSON_CreateObject();

		g_ops->dump_opts(g_t, j);
		CU_ASSERT(cJSON_GetObjectItem(j, "num_cqe")->valuedouble == 2048);
		CU_ASSERT(cJSON_GetObjectItem(j, "max_srq_depth")->valuedouble == 64);
		CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(j, "no_srq")));
		CU_ASSERT(cJSON_GetObjectItem(j, "acceptor_backlog")->valuedouble == 7);
		CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(j, "no_wr_batching")));
		/* save_config round trip: what dump_opts wrote creates the same transport. */
		{
			char *saved = cJSON_PrintUnformatted(j), *again;
			cJSON *j2 = cJSON_CreateObject();

			teardown();
			setup_with(saved, 131072, 255, 8);
			g_ops->dump_opts(g_t, j2);
			again = cJSON_PrintUnformatted(j2);
			CU_ASSERT_STRING_EQUAL(saved, again);
			free(saved);
			free(again);
			cJSON_Delete(j2);
		}
		cJSON_Delete(j);
	}
	teardown();
}

static void
test_connect_accept_reject(void)
{
	struct osp_nvmf_rdma_cm_req req = {};
	struct nvmf_rdma_qpair *rq;
	struct {
		uint16_t recfmt, qid, hrqsize, hsqsize;
		uint8_t len, ird;
		uint16_t sts;
	} bad[] = {
		{ 0, 0, 32, 31, 16, 16, OSP_NVMF_RDMA_CM_INVALID_LEN },
		{ 1, 0, 32, 31, 32, 16, OSP_NVMF_RDMA_CM_INVALID_RECFMT },
		{ 0, 4, 32, 31, 32, 16, OSP_NVMF_RDMA_CM_INVALID_QID },
		{ 0, 1, 32, 0, 32, 16, OSP_NVMF_RDMA_CM_INVALID_HSQSIZE },
		{ 0, 1, 32, 32, 32, 16, OSP_NVMF_RDMA_CM_INVALID_HSQSIZE },
		{ 0, 0, 32, 32, 32, 16, OSP_NVMF_RDMA_CM_INVALID_HSQSIZE },
		{ 0, 1, 0, 31, 32, 16, OSP_NVMF_RDMA_CM_INVALID_HRQSIZE },
		{ 0, 1, 33, 31, 32, 16, OSP_NVMF_RDMA_CM_INVALID_HRQSIZE },
		{ 0, 1, 32, 31, 32, 0, OSP_NVMF_RDMA_CM_INVALID_IRD },
	};
	size_t i;

	setup();
	for (i = 0; i < OSP_COUNTOF(bad); i++) {
		memset(&req, 0, sizeof(req));
		req.recfmt = htole16(bad[i].recfmt);
		req.qid = htole16(bad[i].qid);
		req.hrqsize = htole16(bad[i].hrqsize);
		req.hsqsize = htole16(bad[i].hsqsize);
		push_connect(&req, bad[i].len, bad[i].ird);
		g_new = NULL;
		g_rejects = 0;
		CU_ASSERT(g_ops->accept(g_t, new_qpair_cb, NULL) == 1);
		CU_ASSERT(g_new == NULL);
		CU_ASSERT(g_rejects == 1);
		CU_ASSERT(g_reject_sts == bad[i].sts);
		/* The rejected id is the application's to destroy, after the ack. */
		CU_ASSERT(g_ut_ids_live == 1);
	}
	CU_ASSERT(rdma_transport(g_t)->rejects == OSP_COUNTOF(bad));

	/* A good one: RoCE pads the private data to 56 bytes. */
	{
		uint8_t pd[56] = {};

		req.recfmt = 0;
		req.qid = htole16(1);
		req.hsqsize = htole16(15);
		req.hrqsize = htole16(16);
		memcpy(pd, &req, sizeof(req));
		push_connect(pd, sizeof(pd), 4);
		g_new = NULL;
		CU_ASSERT(g_ops->accept(g_t, new_qpair_cb, NULL) == 1);
		CU_ASSERT_FATAL(g_new != NULL);
		CU_ASSERT(g_ops->poll_group_add(g_pg, g_new) == 0);
	}
	rq = rdma_qpair(g_new);
	CU_ASSERT(g_accepts == 1);
	CU_ASSERT(le16toh(g_accept_pd.crqsize) == 16);
	CU_ASSERT(g_accept_pd.recfmt == 0);
	/* Our READ depth: the host's IRD (4) and the device's limit (2). */
	CU_ASSERT(g_accept_param.initiator_depth == 2);
	CU_ASSERT(fq_of(rq)->nrecv == 16);
	CU_ASSERT(rq->qpair.qid == 1 && rq->qpair.sq_size == 16);
	{
		struct osp_nvmf_listen_addr a;

		CU_ASSERT(g_ops->qpair_get_peer_addr(&rq->qpair, &a) == 0);
		CU_ASSERT(a.trtype == OSP_NVMF_TRTYPE_RDMA && a.adrfam == OSP_NVMF_ADRFAM_IPV4);
		CU_ASSERT(strcmp(a.trsvcid, "4660") == 0);
	}
	/* The Connect must match the private data's qid and sqsize. */
	{
		struct osp_nvmf_connect_cmd cc = {};
		uint8_t data[1024] = {};
		struct osp_nvme_sgl_descriptor sgl = {};

		cc.opcode = OSP_NVMF_FABRIC_OPCODE;
		cc.fctype = OSP_NVMF_FCTYPE_CONNECT;
		cc.cid = 9;
		cc.qid = htole16(2);
		cc.sqsize = htole16(15);
		sgl.unkeyed.type = OSP_NVME_SGL_TYPE_DATA_BLOCK;
		sgl.unkeyed.subtype = OSP_NVME_SGL_SUBTYPE_OFFSET;
		sgl.unkeyed.length = 1024;
		cc.sgl1 = sgl;
		host_send(rq, (struct osp_nvme_cmd *)&cc, data, sizeof(data));
		run(rq);
		CU_ASSERT(g_nexec == 0);
		CU_ASSERT(g_nrsp == 1 && g_rsp.cid == 9 && g_rsp.status.sc == OSP_NVME_SC_INVALID_FIELD);
		cc.qid = htole16(1);
		cc.cid = 10;
		host_send(rq, (struct osp_nvme_cmd *)&cc, data, sizeof(data));
		run(rq);
		CU_ASSERT_FATAL(g_nexec == 1);
		core_complete(exec_pop(), 0);
		run(rq);
		CU_ASSERT(g_nrsp == 2 && g_rsp.cid == 10 && g_rsp.status.sc == 0);
	}
	/* Every receive is posted again once its request is done. */
	CU_ASSERT(fq_of(rq)->nrecv == 16);
	core_fini(rq);
	CU_ASSERT(g_disconnects == 1);
	teardown();
}

static void
test_in_capsule_write(void)
{
	struct nvmf_rdma_qpair *rq;
	struct osp_nvme_cmd cmd;
	struct osp_nvme_sgl_descriptor sgl = {};
	struct osp_nvmf_request *req;
	uint8_t icd[4096], got[4096];

	setup();
	rq = host_connect(1, 31, 32);
	CU_ASSERT_FATAL(rq != NULL);
	fill(icd, sizeof(icd), 3);
	cmd_init(&cmd, 0x01, 1);
	sgl.unkeyed.type = OSP_NVME_SGL_TYPE_DATA_BLOCK;
	sgl.unkeyed.subtype = OSP_NVME_SGL_SUBTYPE_OFFSET;
	sgl.address = 512;
	sgl.unkeyed.length = 2048;
	memcpy(&cmd.prp1, &sgl, sizeof(sgl));
	host_send(rq, &cmd, icd, sizeof(icd));
	run(rq);
	req = exec_pop();
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT(req->xfer == OSP_NVMF_XFER_HOST_TO_CONTROLLER && req->length == 2048);
	CU_ASSERT(req_gather(req, got) == 2048 && memcmp(got, icd + 512, 2048) == 0);
	CU_ASSERT(g_nreads == 0);
	core_complete(req, 0);
	run(rq);
	CU_ASSERT(g_nrsp == 1 && g_rsp.cid == 1 && g_rsp_op == IBV_WR_SEND);

	/* Offset or length past the data in the capsule: refused, not executed. */
	sgl.address = 4000;
	sgl.unkeyed.length = 200;
	memcpy(&cmd.prp1, &sgl, sizeof(sgl));
	cmd.cid = 2;
	host_send(rq, &cmd, icd, sizeof(icd));
	run(rq);
	CU_ASSERT(g_nexec == 0 && g_nrsp == 2 && g_rsp.status.sc == OSP_NVME_SC_DATA_SGL_LENGTH_INVALID);
	sgl.address = 5000;
	sgl.unkeyed.length = 0;
	memcpy(&cmd.prp1, &sgl, sizeof(sgl));
	cmd.cid = 3;
	host_send(rq, &cmd, icd, sizeof(icd));
	run(rq);
	CU_ASSERT(g_nexec == 0 && g_nrsp == 3 && g_rsp.status.sc == OSP_NVME_SC_INVALID_SGL_OFFSET);
	/* In-capsule data on a read: a wrong descriptor type. */
	cmd_init(&cmd, 0x02, 4);
	sgl.address = 0;
	sgl.unkeyed.length = 512;
	memcpy(&cmd.prp1, &sgl, sizeof(sgl));
	host_send(rq, &cmd, NULL, 0);
	run(rq);
	CU_ASSERT(g_nexec == 0 && g_nrsp == 4 &&
		  g_rsp.status.sc == OSP_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID);
	/* A capsule shorter than a command: the connection goes. */
	{
		struct fake_qp *fq = fq_of(rq);
		struct ibv_recv_wr *wr = take_recv(fq);

		ut_verbs_cq_push(fq->cq, wr->wr_id, IBV_WC_SUCCESS, IBV_WC_RECV, 20, fq->qp.qp_num);
		poll();
		CU_ASSERT(g_disconnects == 1);
	}
	core_fini(rq);
	teardown();
}

static void
test_keyed_write_and_read(void)
{
	static uint8_t host[3][65536], got[65536];
	struct nvmf_rdma_qpair *rq;
	struct osp_nvme_cmd cmd;
	struct osp_nvmf_request *req;
	uint32_t len = 20000;

	setup();
	rq = host_connect(1, 31, 32);
	CU_ASSERT_FATAL(rq != NULL);

	/* Host to controller: RDMA READ (the buffers touch: one SGE), then exec. */
	fill(host[0], len, 11);
	cmd_keyed(&cmd, 0x01, 7, host[0], len, false);
	host_send(rq, &cmd, NULL, 0);
	poll();
	CU_ASSERT(fq_of(rq)->nsend >= 1);
	CU_ASSERT(rq->rd_free < 2);
	run(rq);
	req = exec_pop();
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT(g_nreads >= 1);
	CU_ASSERT(req->length == len && req->iovcnt == 3);
	CU_ASSERT(req_gather(req, got) == len && memcmp(got, host[0], len) == 0);
	core_complete(req, 0);
	run(rq);
	CU_ASSERT(g_nrsp == 1 && g_rsp.cid == 7 && g_rsp_op == IBV_WR_SEND);
	CU_ASSERT(rq->rd_free == 2 && rq->sq_free == rq->sq_size);

	/* Controller to host with Invalidate: WRITEs, then SEND with Invalidate of the key. */
	fill(got, len, 77);
	memset(host[1], 0, sizeof(host[1]));
	cmd_keyed(&cmd, 0x02, 8, host[1], len, true);
	host_send(rq, &cmd, NULL, 0);
	run(rq);
	req = exec_pop();
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT(req->xfer == OSP_NVMF_XFER_CONTROLLER_TO_HOST && req->length == len);
	req_scatter(req, got);
	g_nwrites = 0;
	core_complete(req, 0);
	run(rq);
	CU_ASSERT(g_nwrites >= 1);
	CU_ASSERT(memcmp(host[1], got, len) == 0);
	CU_ASSERT(host[1][len] == 0);
	CU_ASSERT(g_nrsp == 2 && g_rsp.cid == 8 && g_rsp_op == IBV_WR_SEND_WITH_INV &&
		  g_rsp_inv == g_host_rkey);

	/* A failed read: no data moves, the status goes back. */
	g_nwrites = 0;
	cmd_keyed(&cmd, 0x02, 9, host[1], len, false);
	host_send(rq, &cmd, NULL, 0);
	run(rq);
	req = exec_pop();
	CU_ASSERT_FATAL(req != NULL);
	core_complete(req, OSP_NVME_SC_INTERNAL_DEVICE_ERROR);
	run(rq);
	CU_ASSERT(g_nwrites == 0 && g_nrsp == 3 && g_rsp.status.sc == OSP_NVME_SC_INTERNAL_DEVICE_ERROR);

	/* No data (flush): straight to the core, then the response. */
	cmd_init(&cmd, 0x00, 10);
	host_send(rq, &cmd, NULL, 0);
	run(rq);
	req = exec_pop();
	CU_ASSERT_FATAL(req != NULL && req->xfer == OSP_NVMF_XFER_NONE);
	core_complete(req, 0);
	run(rq);
	CU_ASSERT(g_nrsp == 4 && g_rsp.cid == 10);

	/* Bad keyed SGLs: too long, a bidirectional opcode, a wrong descriptor type. */
	cmd_keyed(&cmd, 0x01, 11, host[0], 131073, false);
	host_send(rq, &cmd, NULL, 0);
	run(rq);
	CU_ASSERT(g_nexec == 0 && g_rsp.cid == 11 && g_rsp.status.sc == OSP_NVME_SC_DATA_SGL_LENGTH_INVALID);
	cmd_keyed(&cmd, 0x03, 12, host[0], 512, false);
	host_send(rq, &cmd, NULL, 0);
	run(rq);
	CU_ASSERT(g_nexec == 0 && g_rsp.cid == 12 && g_rsp.status.sc == OSP_NVME_SC_INVALID_FIELD);
	cmd_keyed(&cmd, 0x01, 13, host[0], 512, false);
	((struct osp_nvme_sgl_descriptor *)&cmd.prp1)->keyed.type = OSP_NVME_SGL_TYPE_BIT_BUCKET;
	host_send(rq, &cmd, NULL, 0);
	run(rq);
	CU_ASSERT(g_nexec == 0 && g_rsp.cid == 13 &&
		  g_rsp.status.sc == OSP_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID);
	CU_ASSERT(g_disconnects == 0);
	core_fini(rq);
	teardown();
}

static void
test_multiple_sgl_descriptors(void)
{
	static uint8_t h0[8192], h1[8192], h2[16384], want[32768], got[32768];
	struct osp_nvme_sgl_descriptor list[3], seg = {};
	uint32_t lens[3] = { 4096, 100, 9000 }, total = 4096 + 100 + 9000;
	struct nvmf_rdma_qpair *rq;
	struct osp_nvme_cmd cmd;
	struct osp_nvmf_request *req;

	setup();
	rq = host_connect(1, 31, 32);
	CU_ASSERT_FATAL(rq != NULL);
	fill(h0, sizeof(h0), 1);
	fill(h1, sizeof(h1), 2);
	fill(h2, sizeof(h2), 3);
	memcpy(want, h0, lens[0]);
	memcpy(want + lens[0], h1, lens[1]);
	memcpy(want + lens[0] + lens[1], h2, lens[2]);
	sgl_keyed(&list[0], h0, lens[0], g_host_rkey, false);
	sgl_keyed(&list[1], h1, lens[1], g_host_rkey + 1, false);
	sgl_keyed(&list[2], h2, lens[2], g_host_rkey, false);
	cmd_init(&cmd, 0x01, 21);
	seg.unkeyed.type = OSP_NVME_SGL_TYPE_LAST_SEGMENT;
	seg.unkeyed.subtype = OSP_NVME_SGL_SUBTYPE_OFFSET;
	seg.address = 0;
	seg.unkeyed.length = sizeof(list);
	memcpy(&cmd.prp1, &seg, sizeof(seg));
	host_send(rq, &cmd, list, sizeof(list));
	g_nreads = 0;
	poll();
	/* One READ per descriptor, two at a time (the device's READ depth). */
	CU_ASSERT(fq_of(rq)->nsend == 2);
	CU_ASSERT(rq->rd_free == 0);
	CU_ASSERT(rq->pgd->stat.pending_rdma_read > 0);
	run(rq);
	CU_ASSERT(g_nreads == 3);
	req = exec_pop();
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT(req->length == total);
	CU_ASSERT(req_gather(req, got) == total && memcmp(got, want, total) == 0);
	core_complete(req, 0);
	run(rq);

	/* The same list on a read: the data lands in the three host buffers. */
	memset(h0, 0, sizeof(h0));
	memset(h1, 0, sizeof(h1));
	memset(h2, 0, sizeof(h2));
	cmd_init(&cmd, 0x02, 22);
	memcpy(&cmd.prp1, &seg, sizeof(seg));
	host_send(rq, &cmd, list, sizeof(list));
	run(rq);
	req = exec_pop();
	CU_ASSERT_FATAL(req != NULL);
	req_scatter(req, want);
	core_complete(req, 0);
	run(rq);
	CU_ASSERT(memcmp(h0, want, lens[0]) == 0 && memcmp(h1, want + lens[0], lens[1]) == 0 &&
		  memcmp(h2, want + lens[0] + lens[1], lens[2]) == 0);
	CU_ASSERT(h1[lens[1]] == 0);
	CU_ASSERT(g_rsp.cid == 22 && g_rsp.status.sc == 0);

	/* A list of 17, a list past the capsule, a non-keyed entry: refused. */
	{
		struct osp_nvme_sgl_descriptor many[17];
		int i;

		for (i = 0; i < 17; i++) {
			sgl_keyed(&many[i], h0, 16, g_host_rkey, false);
		}
		seg.unkeyed.length = sizeof(many);
		cmd_init(&cmd, 0x01, 23);
		memcpy(&cmd.prp1, &seg, sizeof(seg));
		host_send(rq, &cmd, many, sizeof(many));
		run(rq);
		CU_ASSERT(g_nexec == 0 && g_rsp.cid == 23 &&
			  g_rsp.status.sc == OSP_NVME_SC_INVALID_NUM_SGL_DESCRIPTORS);
		seg.unkeyed.length = 48;
		cmd.cid = 24;
		memcpy(&cmd.prp1, &seg, sizeof(seg));
		host_send(rq, &cmd, many, 32);
		run(rq);
		CU_ASSERT(g_nexec == 0 && g_rsp.cid == 24 &&
			  g_rsp.status.sc == OSP_NVME_SC_INVALID_SGL_SEG_DESCRIPTOR);
		many[1].keyed.type = OSP_NVME_SGL_TYPE_DATA_BLOCK;
		cmd.cid = 25;
		host_send(rq, &cmd, many, 48);
		run(rq);
		CU_ASSERT(g_nexec == 0 && g_rsp.cid == 25 &&
			  g_rsp.status.sc == OSP_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID);
	}
	core_fini(rq);
	teardown();
}

/* Requests wait for data buffers (never fail) and go on when buffers come back. */
static void
test_buffer_wait(void)
{
	static uint8_t host[4][32768];
	struct nvmf_rdma_qpair *rq;
	struct osp_nvme_cmd cmd;
	struct osp_nvmf_request *r1, *r2;

	setup_with(NULL, 32768, 4, 0);
	rq = host_connect(1, 31, 32);
	CU_ASSERT_FATAL(rq != NULL);
	cmd_keyed(&cmd, 0x02, 1, host[0], 32768, false);
	host_send(rq, &cmd, NULL, 0);
	cmd_keyed(&cmd, 0x02, 2, host[1], 32768, false);
	host_send(rq, &cmd, NULL, 0);
	run(rq);
	CU_ASSERT_FATAL(g_nexec == 1);
	CU_ASSERT(rdma_group(g_pg)->stat.pending_data_buffer == 1);
	r1 = exec_pop();
	CU_ASSERT(r1->cmd.cid == 1);
	core_complete(r1, 0);
	run(rq);
	CU_ASSERT_FATAL(g_nexec == 1);
	r2 = exec_pop();
	CU_ASSERT(r2->cmd.cid == 2 && r2->length == 32768 && r2->iovcnt == 4);
	core_complete(r2, 0);
	run(rq);
	CU_ASSERT(g_nrsp == 2 && g_rsp.cid == 2);

	/* A waiter whose connection goes: dropped, its buffers never taken. */
	cmd_keyed(&cmd, 0x02, 3, host[0], 32768, false);
	host_send(rq, &cmd, NULL, 0);
	cmd_keyed(&cmd, 0x02, 4, host[1], 32768, false);
	host_send(rq, &cmd, NULL, 0);
	run(rq);
	CU_ASSERT_FATAL(g_nexec == 1);
	r1 = exec_pop();
	/* The host is gone: its DISCONNECTED event (with an SRQ and nothing in
	 * flight, nothing completes in error: the event is what tells). */
	fq_flush(fq_of(rq));
	push_cm_event(rq, RDMA_CM_EVENT_DISCONNECTED);
	CU_ASSERT(g_ops->accept(g_t, new_qpair_cb, NULL) == 1);
	poll();
	CU_ASSERT(g_disconnects == 1);
	core_complete(r1, 0);
	poll();
	CU_ASSERT(g_nexec == 0);
	core_fini(rq);
	teardown();
}

/* Every completion error status: the qpair is drained and freed, nothing leaks. */
static void
test_completion_errors(void)
{
	static uint8_t host[16384];
	enum ibv_wc_status st[] = {
		IBV_WC_LOC_LEN_ERR, IBV_WC_LOC_QP_OP_ERR, IBV_WC_LOC_EEC_OP_ERR,
		IBV_WC_LOC_PROT_ERR, IBV_WC_WR_FLUSH_ERR, IBV_WC_MW_BIND_ERR,
		IBV_WC_BAD_RESP_ERR, IBV_WC_LOC_ACCESS_ERR, IBV_WC_REM_INV_REQ_ERR,
		IBV_WC_REM_ACCESS_ERR, IBV_WC_REM_OP_ERR, IBV_WC_RETRY_EXC_ERR,
		IBV_WC_RNR_RETRY_EXC_ERR, IBV_WC_LOC_RDD_VIOL_ERR, IBV_WC_REM_INV_RD_REQ_ERR,
		IBV_WC_REM_ABORT_ERR, IBV_WC_INV_EECN_ERR, IBV_WC_INV_EEC_STATE_ERR,
		IBV_WC_FATAL_ERR, IBV_WC_RESP_TIMEOUT_ERR, IBV_WC_GENERAL_ERR,
		IBV_WC_TM_ERR, IBV_WC_TM_RNDV_INCOMPLETE,
	};
	struct nvmf_rdma_qpair *rq;
	struct osp_nvme_cmd cmd;
	struct osp_nvmf_request *req;
	size_t i;
	int where;

	setup();
	for (i = 0; i < OSP_COUNTOF(st); i++) {
		for (where = 0; where < 4; where++) {
			/* 0: the READ, 1: the WRITE, 2: the response SEND, 3: a receive. */
			rq = host_connect(1, 7, 8);
			CU_ASSERT_FATAL(rq != NULL);
			g_disconnects = 0;
			g_nexec = 0;
			if (where == 3) {
				struct fake_qp *fq = fq_of(rq);
				struct ibv_recv_wr *wr = take_recv(fq);

				ut_verbs_cq_push(fq->cq, wr->wr_id, st[i], IBV_WC_RECV, 0, fq->qp.qp_num);
				poll();
			} else {
				cmd_keyed(&cmd, where == 0 ? 0x01 : 0x02, 1, host, 12000, false);
				host_send(rq, &cmd, NULL, 0);
				poll();
				if (where == 0) {
					g_fail_status = st[i];
					g_fail_armed = true;
					run(rq);
					CU_ASSERT(g_nexec == 0);
				} else {
					req = exec_pop();
					CU_ASSERT_FATAL(req != NULL);
					core_complete(req, 0);
					poll();
					if (where == 2) {
						/* Let the WRITEs through, fail the SEND. */
						host_run_sends(rq, fq_of(rq)->nsend - 1);
					}
					g_fail_status = st[i];
					g_fail_armed = true;
					run(rq);
				}
			}
			CU_ASSERT(g_disconnects == 1);
			CU_ASSERT(rq->dead);
			core_fini(rq);
		}
	}
	teardown();
}

/* The host vanishes with a READ in flight and a request in the core. */
static void
test_disconnect_mid_transfer(void)
{
	static uint8_t host[2][65536];
	struct nvmf_rdma_qpair *rq;
	struct osp_nvme_cmd cmd;
	struct osp_nvmf_request *held;

	setup();
	rq = host_connect(1, 31, 32);
	CU_ASSERT_FATAL(rq != NULL);
	cmd_keyed(&cmd, 0x02, 1, host[0], 65536, false);
	host_send(rq, &cmd, NULL, 0);
	poll();
	held = exec_pop();
	CU_ASSERT_FATAL(held != NULL);
	cmd_keyed(&cmd, 0x01, 2, host[1], 65536, false);
	host_send(rq, &cmd, NULL, 0);
	poll();
	CU_ASSERT(fq_of(rq)->nsend == 1);	/* the READ in flight */
	/* Host gone: the rdma_cm event, and every posted WR flushed. */
	{
		ut_cm_push(rq->cm_id, RDMA_CM_EVENT_DISCONNECTED, 0, NULL, 0);
		CU_ASSERT(g_ops->accept(g_t, new_qpair_cb, NULL) == 1);
	}
	fq_flush(fq_of(rq));
	poll();
	CU_ASSERT(g_disconnects == 1);
	CU_ASSERT(g_nexec == 0);
	/* The core's request completes later: nothing is sent, it is released. */
	core_complete(held, 0);
	poll();
	CU_ASSERT(fq_of(rq)->nsend == 0);
	core_fini(rq);

	/* The target keeps serving: a new connection works. */
	rq = host_connect(1, 31, 32);
	CU_ASSERT_FATAL(rq != NULL);
	cmd_init(&cmd, 0x00, 5);
	host_send(rq, &cmd, NULL, 0);
	run(rq);
	held = exec_pop();
	CU_ASSERT_FATAL(held != NULL);
	core_complete(held, 0);
	run(rq);
	CU_ASSERT(g_rsp.cid == 5);
	/* The core disconnects it (keep alive, shutdown) with a request in the core. */
	cmd_init(&cmd, 0x00, 6);
	host_send(rq, &cmd, NULL, 0);
	run(rq);
	held = exec_pop();
	CU_ASSERT_FATAL(held != NULL);
	osp_nvmf_qpair_disconnect(&rq->qpair);
	poll();
	CU_ASSERT(rq->cm_disconnected);
	core_complete(held, 0);
	core_fini(rq);
	teardown();
}

/* WR batching: with it, one doorbell per poll for several requests. */
static void
test_wr_batching(void)
{
	struct nvmf_rdma_qpair *rq;
	struct nvmf_rdma_pg_dev *pgd;
	struct osp_nvme_cmd cmd;
	uint64_t before;
	int i;

	setup();
	rq = host_connect(1, 31, 32);
	CU_ASSERT_FATAL(rq != NULL);
	pgd = rq->pgd;
	for (i = 0; i < 8; i++) {
		cmd_init(&cmd, 0x00, (uint16_t)i);
		host_send(rq, &cmd, NULL, 0);
	}
	poll();
	CU_ASSERT(g_nexec == 8);
	before = pgd->stat.send_doorbell_updates;
	while (g_nexec > 0) {
		core_complete(exec_pop(), 0);
	}
	g_ops->poll_group_poll(g_pg);
	CU_ASSERT(pgd->stat.send_doorbell_updates == before + 1);
	CU_ASSERT(fq_of(rq)->nsend == 8);
	run(rq);
	{
		cJSON *j = cJSON_CreateObject(), *d;

		g_ops->poll_group_dump_stat(g_pg, j);
		d = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "devices"), 0);
		CU_ASSERT_FATAL(d != NULL);
		CU_ASSERT(strcmp(cJSON_GetObjectItem(d, "name")->valuestring, "fake0") == 0);
		CU_ASSERT(cJSON_GetObjectItem(d, "requests")->valuedouble == 8);
		cJSON_Delete(j);
	}
	core_fini(rq);
	teardown();
}

/* Scattered buffers: WRs cut at max_sge SGEs and at each remote block, offsets right. */
static void
test_build_wrs_scattered(void)
{
	struct nvmf_rdma_qpair *rq;
	struct nvmf_rdma_req *rr;
	void *bufs[10];
	uint32_t i, w, sum[2] = {0, 0};
	uint64_t expect_addr[2] = {0x100000, 0x900000};

	setup();
	rq = host_connect(1, 7, 8);
	CU_ASSERT_FATAL(rq != NULL);
	rr = TAILQ_FIRST(&rq->free_reqs);
	for (i = 0; i < 10; i++) {
		/* Separate allocations: never contiguous (allocator headers between). */
		bufs[i] = osp_dma_malloc(8192 + 4096, 4096, NULL);
		CU_ASSERT_FATAL(bufs[i] != NULL);
		rr->bufs[i] = bufs[i];
	}
	rr->nbufs = 9;
	rr->nremote = 2;
	rr->remote[0] = (struct nvmf_rdma_remote) { .addr = expect_addr[0], .key = 1, .len = 40000 };
	rr->remote[1] = (struct nvmf_rdma_remote) { .addr = expect_addr[1], .key = 2, .len = 30000 };
	CU_ASSERT_FATAL(req_build_data_wrs(rr, IBV_WR_RDMA_WRITE, 70000) == 0);
	CU_ASSERT(rr->nwr >= 4);
	for (w = 0; w < rr->nwr; w++) {
		struct ibv_send_wr *wr = &rr->data_wr[w];
		uint32_t d = wr->wr.rdma.rkey - 1, len = 0;
		int k;

		CU_ASSERT_FATAL(d < 2);
		CU_ASSERT(wr->num_sge >= 1 && (uint32_t)wr->num_sge <= rq->max_sge);
		CU_ASSERT(wr->wr.rdma.remote_addr == expect_addr[d] + sum[d]);
		for (k = 0; k < wr->num_sge; k++) {
			CU_ASSERT(ut_verbs_sge_registered(&wr->sg_list[k]));
			len += wr->sg_list[k].length;
		}
		sum[d] += len;
	}
	CU_ASSERT(sum[0] == 40000 && sum[1] == 30000);
	/* Too few buffers for the length: refused, not overrun. */
	rr->nbufs = 8;
	CU_ASSERT(req_build_data_wrs(rr, IBV_WR_RDMA_WRITE, 70000) == -EINVAL);
	rr->nbufs = 0;
	rr->nwr = 0;
	for (i = 0; i < 10; i++) {
		osp_dma_free(bufs[i]);
	}
	core_fini(rq);
	teardown();
}

static void
push_cm_event(struct nvmf_rdma_qpair *rq, enum rdma_cm_event_type type)
{
	ut_cm_push(rq->cm_id, type, 0, NULL, 0);
}

/* The host's DISCONNECTED (or DEVICE_REMOVAL) alone tears the qpair down. */
static void
test_cm_disconnect_event(void)
{
	struct nvmf_rdma_qpair *rq;

	setup();
	rq = host_connect(1, 7, 8);
	CU_ASSERT_FATAL(rq != NULL);
	push_cm_event(rq, RDMA_CM_EVENT_DISCONNECTED);
	CU_ASSERT(g_ops->accept(g_t, new_qpair_cb, NULL) == 1);
	poll();
	CU_ASSERT(g_disconnects == 1);
	CU_ASSERT(rq->dead && rq->cm_disconnected);
	CU_ASSERT(rq->recv_out == 0);
	core_fini(rq);

	rq = host_connect(1, 7, 8);
	CU_ASSERT_FATAL(rq != NULL);
	push_cm_event(rq, RDMA_CM_EVENT_DEVICE_REMOVAL);
	CU_ASSERT(g_ops->accept(g_t, new_qpair_cb, NULL) == 1);
	poll();
	CU_ASSERT(g_disconnects == 2);
	core_fini(rq);

	/* The event arrives after the core let go: the qpair is freed only after its message. */
	rq = host_connect(1, 7, 8);
	CU_ASSERT_FATAL(rq != NULL);
	osp_nvmf_qpair_disconnect(&rq->qpair);
	g_ops->poll_group_poll(g_pg);
	g_ops->qpair_fini(&rq->qpair, fini_cb, NULL);
	push_cm_event(rq, RDMA_CM_EVENT_DISCONNECTED);
	CU_ASSERT(g_ops->accept(g_t, new_qpair_cb, NULL) == 1);
	ut_poll_threads();
	CU_ASSERT(g_ut_ids_live == 1);
	teardown();
}

/* The device refuses a post (no_wr_batching: at once, inside the request's path). */
static void
test_post_refused(void)
{
	static uint8_t host[16384];
	struct nvmf_rdma_qpair *rq;
	struct osp_nvme_cmd cmd;
	struct osp_nvmf_request *req;
	int how;

	for (how = 0; how < 2; how++) {
		setup_with(how == 0 ? "{\"no_wr_batching\": true}" : NULL, 131072, 255, 8);
		rq = host_connect(1, 7, 8);
		CU_ASSERT_FATAL(rq != NULL);
		cmd_keyed(&cmd, 0x02, 1, host, 12000, false);
		host_send(rq, &cmd, NULL, 0);
		poll();
		req = exec_pop();
		CU_ASSERT_FATAL(req != NULL);
		cmd_keyed(&cmd, 0x01, 2, host, 12000, false);
		g_post_send_fail = true;
		host_send(rq, &cmd, NULL, 0);
		poll();
		CU_ASSERT(g_disconnects == 1);
		CU_ASSERT(g_nexec == 0);
		core_complete(req, 0);
		g_post_send_fail = false;
		core_fini(rq);
		teardown();
	}
}

/* The same paths with a shared receive queue per poll group and device. */
#define SRQ_VARIANT(name) \
	static void name##_srq(void) \
	{ \
		g_use_srq = true; \
		name(); \
		g_use_srq = false; \
	}
SRQ_VARIANT(test_in_capsule_write)
SRQ_VARIANT(test_keyed_write_and_read)
SRQ_VARIANT(test_multiple_sgl_descriptors)
SRQ_VARIANT(test_buffer_wait)
SRQ_VARIANT(test_completion_errors)
SRQ_VARIANT(test_disconnect_mid_transfer)
SRQ_VARIANT(test_cm_disconnect_event)

/* Two qpairs share the SRQ: capsules go to the qpair their QP number names. */
static void
test_srq_shared(void)
{
	struct nvmf_rdma_qpair *a, *b;
	struct nvmf_rdma_pg_dev *pgd;
	struct osp_nvme_cmd cmd;
	struct osp_nvmf_request *r1, *r2;

	g_use_srq = true;
	setup();
	a = host_connect(1, 7, 8);
	b = host_connect(2, 7, 8);
	CU_ASSERT_FATAL(a != NULL && b != NULL);
	pgd = a->pgd;
	CU_ASSERT_FATAL(pgd->srq != NULL && pgd == b->pgd);
	CU_ASSERT(((struct fake_srq *)pgd->srq)->nrecv == (int)pgd->srq_depth);
	CU_ASSERT(fq_of(a)->nrecv == 0 && fq_of(b)->nrecv == 0);
	cmd_init(&cmd, 0x00, 1);
	host_send(a, &cmd, NULL, 0);
	cmd_init(&cmd, 0x00, 2);
	host_send(b, &cmd, NULL, 0);
	poll();
	r1 = exec_pop();
	r2 = exec_pop();
	CU_ASSERT_FATAL(r1 != NULL && r2 != NULL);
	CU_ASSERT(r1->qpair == &a->qpair && r1->cmd.cid == 1);
	CU_ASSERT(r2->qpair == &b->qpair && r2->cmd.cid == 2);
	core_complete(r1, 0);
	core_complete(r2, 0);
	run(a);
	run(b);
	/* Every shared receive is posted again. */
	CU_ASSERT(((struct fake_srq *)pgd->srq)->nrecv == (int)pgd->srq_depth);
	/* A capsule for a QP that is gone: the buffer goes back to the SRQ. */
	core_fini(a);
	{
		struct ibv_recv_wr *wr = ((struct fake_srq *)pgd->srq)->recv[0];
		struct fake_srq *fs = (struct fake_srq *)pgd->srq;

		memmove(fs->recv, fs->recv + 1, (size_t)(--fs->nrecv) * sizeof(fs->recv[0]));
		ut_verbs_cq_push(fq_of(b)->cq, wr->wr_id, IBV_WC_SUCCESS, IBV_WC_RECV, 64, 9999);
		poll();
		CU_ASSERT(fs->nrecv == (int)pgd->srq_depth);
		CU_ASSERT(g_nexec == 0);
	}
	core_fini(b);
	teardown();
	g_use_srq = false;
}

int
main(void)
{
	CU_pSuite suite;

	ut_env_init();
	if (ut_allocate_threads(1) != 0) {
		return 1;
	}
	ut_set_thread(0);
	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("nvmf_rdma", NULL, NULL);
	CU_ADD_TEST(suite, test_no_device_and_options);
	CU_ADD_TEST(suite, test_connect_accept_reject);
	CU_ADD_TEST(suite, test_in_capsule_write);
	CU_ADD_TEST(suite, test_keyed_write_and_read);
	CU_ADD_TEST(suite, test_multiple_sgl_descriptors);
	CU_ADD_TEST(suite, test_buffer_wait);
	CU_ADD_TEST(suite, test_completion_errors);
	CU_ADD_TEST(suite, test_disconnect_mid_transfer);
	CU_ADD_TEST(suite, test_wr_batching);
	CU_ADD_TEST(suite, test_build_wrs_scattered);
	CU_ADD_TEST(suite, test_cm_disconnect_event);
	CU_ADD_TEST(suite, test_post_refused);
	CU_ADD_TEST(suite, test_in_capsule_write_srq);
	CU_ADD_TEST(suite, test_keyed_write_and_read_srq);
	CU_ADD_TEST(suite, test_multiple_sgl_descriptors_srq);
	CU_ADD_TEST(suite, test_buffer_wait_srq);
	CU_ADD_TEST(suite, test_completion_errors_srq);
	CU_ADD_TEST(suite, test_disconnect_mid_transfer_srq);
	CU_ADD_TEST(suite, test_cm_disconnect_event_srq);
	CU_ADD_TEST(suite, test_srq_shared);
	return ut_run_suites();
}
