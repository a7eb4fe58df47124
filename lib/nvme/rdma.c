/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe over Fabrics RDMA host transport (NVMe-oF RDMA transport binding):
 * one reliable-connected queue pair per NVMe queue, set up through rdma_cm
 * without blocking (address and route resolution and the connection are
 * events read from a non-blocking event channel on each connect poll), the
 * binding's private data on RDMA_CM_REQUEST/ACCEPT/REJECT.
 *
 * Commands go out as SENDs of the 64-byte SQE (from a registered capsule
 * array, one slot per request), followed by in-capsule data for writes on I/O
 * queues up to the controller's IOCCSZ. Other data is described by one keyed
 * SGL data block descriptor (address and rkey of registered memory): the
 * controller moves it with RDMA READ/WRITE. Responses arrive as RECVs into a
 * registered array of completion entries, one receive per queue entry.
 *
 * Memory: a payload in the env's DMA memory is looked up in lib/rdma's memory
 * map (no syscall); any other payload is copied through the qpair's bounce
 * area (one slot per request, registered once). The admin queue allocates its
 * bounce area at connect (the Connect data and the controller's scratch page
 * live in ordinary memory); an I/O queue on the first payload that needs it.
 * A payload larger than a bounce slot that is not in DMA memory fails with
 * -EINVAL and a log line.
 */
#ifdef OSP_HAVE_RDMA
#include <errno.h>
#include <fcntl.h>
#include <endian.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "osprey/iov.h"
#include "osprey/nvmf_spec.h"
#include "osprey/rdma.h"
#include "osprey/util.h"

#include "nvme_internal.h"

/* Largest transfer of one command (one keyed SGL descriptor covers it). */
#define NVME_RDMA_MAX_XFER (128u * 1024)
/* Send SGEs: the SQE and up to this many in-capsule data pieces. */
#define NVME_RDMA_MAX_ICD_SGE 4
#define NVME_RDMA_MAX_SGE (1 + NVME_RDMA_MAX_ICD_SGE)
/* Bounce areas: bytes per qpair at most (slots shrink for deep queues). */
#define NVME_RDMA_ADMIN_BOUNCE_BUDGET (2u * 1024 * 1024)
#define NVME_RDMA_IO_BOUNCE_BUDGET (16u * 1024 * 1024)
#define NVME_RDMA_ADMIN_BOUNCE_SLOT (64u * 1024)
#define NVME_RDMA_RESOLVE_TIMEOUT_MS 2000
/* How often a running qpair looks at its rdma_cm channel (disconnects). */
#define NVME_RDMA_CM_POLL_US 10000
#define NVME_RDMA_POLL_BATCH 32
#define NVME_RDMA_POLL_MAX_BATCHES 4
#define NVME_RDMA_MAX_RD_ATOM 16

/* One per RDMA device: the protection domain every qpair on it shares. */
struct rdma_dev {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct osp_rdma_mem_map *map;
	struct ibv_device_attr attr;
	uint32_t refs;
	struct rdma_dev *next;
};

static pthread_mutex_t g_rdma_devs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rdma_dev *g_rdma_devs;

enum rdma_wr_kind {
	RDMA_WR_SEND = 1,
	RDMA_WR_RECV = 2,
};

struct rdma_req {
	uint8_t kind; /* RDMA_WR_SEND; first: a work request id points here */
	bool send_done;
	bool resp_done;
	bool bounced;
	struct osp_nvme_cpl cpl;
	struct ibv_send_wr wr;
	struct ibv_sge sge[NVME_RDMA_MAX_SGE];
};
_Static_assert(sizeof(struct rdma_req) <= NVME_REQUEST_TRANSPORT_CTX, "rdma_req fits the request");

/*
 * The command capsule of a request, registered: the SQE and room for small
 * in-capsule data that is not in registered memory (the I/O queues' Connect
 * data), sent in one piece.
 */
#define NVME_RDMA_CAPSULE_ICD 1024u
struct rdma_capsule {
	struct osp_nvme_cmd cmd;
	uint8_t icd[NVME_RDMA_CAPSULE_ICD];
};

struct rdma_rsp {
	uint8_t kind; /* RDMA_WR_RECV; first */
	struct ibv_recv_wr wr;
	struct ibv_sge sge;
};

enum rdma_qp_state {
	RDMA_QP_IDLE = 0,
	RDMA_QP_RESOLVING_ADDR,
	RDMA_QP_RESOLVING_ROUTE,
	RDMA_QP_CONNECTING,
	RDMA_QP_RUNNING,
	RDMA_QP_FAILED,
};

struct rdma_qpair {
	struct nvme_qpair q; /* first: the core casts */
	enum rdma_qp_state rstate;
	int fail_rc;
	const char *fail_step;
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	struct rdma_dev *dev;
	struct ibv_cq *cq;
	bool qp_created;
	/* SQE per request (cid = index), completion entry per receive */
	struct rdma_capsule *capsules;
	struct ibv_mr *capsule_mr;
	struct osp_nvme_cpl *cpls;
	struct ibv_mr *cpl_mr;
	struct rdma_rsp *rsps;
	uint32_t num_rsps;
	/* bounce area: num_reqs slots of bounce_slot bytes */
	uint8_t *bounce;
	uint32_t bounce_slot;
	struct ibv_mr *bounce_mr;
	uint32_t icd_max;
	uint32_t max_send_sge;
	uint64_t next_cm_poll_us;
	uint32_t completions;
};

static inline struct rdma_qpair *
rqp_of(struct nvme_qpair *q)
{
	return (struct rdma_qpair *)q;
}

static inline struct rdma_req *
rreq_of(struct nvme_request *req)
{
	return (struct rdma_req *)req->transport_ctx;
}

static inline struct nvme_request *
req_of_rreq(struct rdma_req *rreq)
{
	return OSP_CONTAINEROF(rreq, struct nvme_request, transport_ctx);
}

/* ------------------------------------------------------------ devices */

static struct rdma_dev *
rdma_dev_get(struct ibv_context *ctx)
{
	struct rdma_dev *d;

	pthread_mutex_lock(&g_rdma_devs_lock);
	for (d = g_rdma_devs; d != NULL; d = d->next) {
		if (d->ctx == ctx) {
			d->refs++;
			pthread_mutex_unlock(&g_rdma_devs_lock);
			return d;
		}
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		goto out;
	}
	d->ctx = ctx;
	if (ibv_query_device(ctx, &d->attr) != 0) {
		OSP_ERRLOG("RDMA device %s: ibv_query_device failed\n",
			   ibv_get_device_name(ctx->device));
		free(d);
		d = NULL;
		goto out;
	}
	d->pd = ibv_alloc_pd(ctx);
	if (d->pd == NULL) {
		OSP_ERRLOG("RDMA device %s: cannot allocate a protection domain\n",
			   ibv_get_device_name(ctx->device));
		free(d);
		d = NULL;
		goto out;
	}
	/* NULL (registration failed): every payload then goes through bounce buffers. */
	d->map = osp_rdma_mem_map_get(d->pd);
	d->refs = 1;
	d->next = g_rdma_devs;
	g_rdma_devs = d;
out:
	pthread_mutex_unlock(&g_rdma_devs_lock);
	return d;
}

static void
rdma_dev_put(struct rdma_dev *dev)
{
	struct rdma_dev **p;

	pthread_mutex_lock(&g_rdma_devs_lock);
	if (--dev->refs == 0) {
		for (p = &g_rdma_devs; *p != NULL; p = &(*p)->next) {
			if (*p == dev) {
				*p = dev->next;
				break;
			}
		}
		if (dev->map != NULL) {
			osp_rdma_mem_map_put(dev->map);
		}
		ibv_dealloc_pd(dev->pd);
		free(dev);
	}
	pthread_mutex_unlock(&g_rdma_devs_lock);
}

/*
 * The one place that turns a payload address into keys: the memory map of
 * the env's DMA memory (lib/rdma). 0, or -EINVAL when [addr, addr + len) is
 * not inside one registered region.
 */
static int
rdma_mem_translate(struct rdma_qpair *rqp, const void *addr, size_t len, uint32_t *lkey,
		   uint32_t *rkey)
{
	if (rqp->dev->map == NULL) {
		return -EINVAL;
	}
	return osp_rdma_mem_translate(rqp->dev->map, addr, len, lkey, rkey);
}

/* ------------------------------------------------------------ transport checks */

static int
rdma_ctrlr_check(const struct osp_nvme_transport_id *trid, const struct osp_nvme_ctrlr_opts *opts)
{
	uint64_t port;

	if (trid->adrfam != OSP_NVMF_ADRFAM_IPV4 && trid->adrfam != OSP_NVMF_ADRFAM_IPV6) {
		OSP_ERRLOG("NVMe/RDMA needs adrfam IPv4 or IPv6 (RoCE, iWARP or IPoIB addressing)\n");
		return -EINVAL;
	}
	if (trid->traddr[0] == '\0' || osp_parse_u64(trid->trsvcid, 10, &port) != 0 ||
	    port == 0 || port > 65535) {
		OSP_ERRLOG("NVMe/RDMA needs traddr and a trsvcid port (1-65535)\n");
		return -EINVAL;
	}
	if (opts->admin_queue_size > 32) {
		/* The binding's admin queue is at most 32 entries (hsqsize < 32). */
		OSP_ERRLOG("NVMe/RDMA: admin_queue_size %u above 32\n", opts->admin_queue_size);
		return -EINVAL;
	}
	return 0;
}

static uint32_t
rdma_ctrlr_max_xfer_size(struct osp_nvme_ctrlr *ctrlr)
{
	return NVME_RDMA_MAX_XFER;
}

/* ------------------------------------------------------------ failing and teardown */

static void
rdma_fail(struct rdma_qpair *rqp, int rc, const char *step)
{
	if (rqp->rstate == RDMA_QP_FAILED) {
		return;
	}
	rqp->rstate = RDMA_QP_FAILED;
	rqp->fail_rc = rc;
	rqp->fail_step = step;
}

static void
rdma_dereg(struct ibv_mr **mr)
{
	if (*mr != NULL) {
		ibv_dereg_mr(*mr);
		*mr = NULL;
	}
}

/* Release every RDMA resource; the qpair's buffers stay for a reconnect. */
static void
rdma_teardown(struct rdma_qpair *rqp)
{
	if (rqp->id != NULL) {
		if (rqp->rstate == RDMA_QP_RUNNING || rqp->rstate == RDMA_QP_CONNECTING ||
		    rqp->rstate == RDMA_QP_FAILED) {
			/* Sends a DREQ and moves the QP to error; does not wait. */
			rdma_disconnect(rqp->id);
		}
		if (rqp->qp_created) {
			/* From here on the controller cannot reach our memory. */
			rdma_destroy_qp(rqp->id);
			rqp->qp_created = false;
		}
	}
	rdma_dereg(&rqp->capsule_mr);
	rdma_dereg(&rqp->cpl_mr);
	rdma_dereg(&rqp->bounce_mr);
	if (rqp->cq != NULL) {
		ibv_destroy_cq(rqp->cq);
		rqp->cq = NULL;
	}
	if (rqp->id != NULL) {
		/* Every event was acknowledged when read: this does not wait. */
		rdma_destroy_id(rqp->id);
		rqp->id = NULL;
	}
	if (rqp->ch != NULL) {
		rdma_destroy_event_channel(rqp->ch);
		rqp->ch = NULL;
	}
	if (rqp->dev != NULL) {
		rdma_dev_put(rqp->dev);
		rqp->dev = NULL;
	}
}

/* ------------------------------------------------------------ qpair create/destroy */

static struct nvme_qpair *
rdma_qpair_create(struct osp_nvme_ctrlr *ctrlr, uint16_t qid, uint32_t qsize)
{
	struct rdma_qpair *rqp = calloc(1, sizeof(*rqp));
	uint32_t i;

	if (rqp == NULL) {
		return NULL;
	}
	if (nvme_qpair_init(&rqp->q, ctrlr, ctrlr->ops, qid, qsize) != 0) {
		free(rqp);
		return NULL;
	}
	rqp->num_rsps = qsize;
	if (posix_memalign((void **)&rqp->capsules, 4096,
			   (size_t)rqp->q.num_reqs * sizeof(*rqp->capsules)) != 0) {
		rqp->capsules = NULL;
		goto fail;
	}
	if (posix_memalign((void **)&rqp->cpls, 4096,
			   (size_t)rqp->num_rsps * sizeof(*rqp->cpls)) != 0) {
		rqp->cpls = NULL;
		goto fail;
	}
	rqp->rsps = calloc(rqp->num_rsps, sizeof(*rqp->rsps));
	if (rqp->rsps == NULL) {
		goto fail;
	}
	for (i = 0; i < rqp->q.num_reqs; i++) {
		rreq_of(&rqp->q.reqs[i])->kind = RDMA_WR_SEND;
	}
	for (i = 0; i < rqp->num_rsps; i++) {
		struct rdma_rsp *rsp = &rqp->rsps[i];

		rsp->kind = RDMA_WR_RECV;
		rsp->sge.addr = (uintptr_t)&rqp->cpls[i];
		rsp->sge.length = sizeof(rqp->cpls[i]);
		rsp->wr.wr_id = (uintptr_t)rsp;
		rsp->wr.sg_list = &rsp->sge;
		rsp->wr.num_sge = 1;
	}
	return &rqp->q;
fail:
	free(rqp->capsules);
	free(rqp->cpls);
	free(rqp->rsps);
	nvme_qpair_fini(&rqp->q);
	free(rqp);
	return NULL;
}

static void
rdma_qpair_destroy(struct nvme_qpair *q)
{
	struct rdma_qpair *rqp = rqp_of(q);

	rdma_teardown(rqp);
	free(rqp->bounce);
	free(rqp->capsules);
	free(rqp->cpls);
	free(rqp->rsps);
	nvme_qpair_fini(q);
	free(rqp);
}

/* ------------------------------------------------------------ bounce area */

static int
rdma_bounce_register(struct rdma_qpair *rqp)
{
	rqp->bounce_mr = ibv_reg_mr(rqp->dev->pd, rqp->bounce,
				    (size_t)rqp->q.num_reqs * rqp->bounce_slot,
				    IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
				    IBV_ACCESS_REMOTE_WRITE);
	if (rqp->bounce_mr == NULL) {
		OSP_ERRLOG("qpair %u: cannot register the %zu-byte bounce area: %s\n", rqp->q.id,
			   (size_t)rqp->q.num_reqs * rqp->bounce_slot, strerror(errno));
		return -ENOMEM;
	}
	return 0;
}

/* Allocate (once) and register the bounce area. 0 or -ENOMEM. */
static int
rdma_bounce_setup(struct rdma_qpair *rqp)
{
	uint32_t budget, slot, cap;

	if (rqp->bounce_mr != NULL) {
		return 0;
	}
	if (rqp->bounce == NULL) {
		budget = rqp->q.id == 0 ? NVME_RDMA_ADMIN_BOUNCE_BUDGET : NVME_RDMA_IO_BOUNCE_BUDGET;
		cap = rqp->q.id == 0 ? NVME_RDMA_ADMIN_BOUNCE_SLOT : NVME_RDMA_MAX_XFER;
		slot = budget / rqp->q.num_reqs;
		slot = OSP_MIN(slot & ~4095u, cap);
		if (slot < 4096) {
			slot = 4096;
		}
		if (posix_memalign((void **)&rqp->bounce, 4096, (size_t)rqp->q.num_reqs * slot) != 0) {
			rqp->bounce = NULL;
			return -ENOMEM;
		}
		rqp->bounce_slot = slot;
	}
	return rdma_bounce_register(rqp);
}

static void
rdma_bounce_too_small(struct rdma_qpair *rqp, uint32_t len)
{
	OSP_ERRLOG("qpair %u: a %u-byte payload outside the env's DMA memory exceeds the %u-byte "
		   "bounce slot: use DMA memory (osp_dma_malloc) for large transfers\n", rqp->q.id,
		   len, rqp->bounce_slot);
}

/* ------------------------------------------------------------ connect */

static const char *
rdma_reject_step(uint16_t sts)
{
	switch (sts) {
	case OSP_NVMF_RDMA_CM_INVALID_LEN:
		return "rdma connect rejected by the controller: invalid private data length";
	case OSP_NVMF_RDMA_CM_INVALID_RECFMT:
		return "rdma connect rejected by the controller: invalid record format";
	case OSP_NVMF_RDMA_CM_INVALID_QID:
		return "rdma connect rejected by the controller: invalid queue ID";
	case OSP_NVMF_RDMA_CM_INVALID_HSQSIZE:
		return "rdma connect rejected by the controller: invalid host SQ size";
	case OSP_NVMF_RDMA_CM_INVALID_HRQSIZE:
		return "rdma connect rejected by the controller: invalid host RQ size";
	case OSP_NVMF_RDMA_CM_NO_RSC:
		return "rdma connect rejected by the controller: no resources";
	case OSP_NVMF_RDMA_CM_INVALID_IRD:
		return "rdma connect rejected by the controller: invalid IRD";
	case OSP_NVMF_RDMA_CM_INVALID_ORD:
		return "rdma connect rejected by the controller: invalid ORD";
	case OSP_NVMF_RDMA_CM_INVALID_CNTLID:
		return "rdma connect rejected by the controller: invalid controller ID";
	default:
		return "rdma connect rejected by the controller: unknown status";
	}
}

/* Route known: create the CQ and QP, register the buffers, post receives, connect. */
static int
rdma_route_resolved(struct rdma_qpair *rqp)
{
	struct nvme_qpair *q = &rqp->q;
	struct ibv_qp_init_attr qa;
	struct rdma_conn_param cp;
	struct osp_nvmf_rdma_cm_req priv;
	struct ibv_recv_wr *bad = NULL;
	uint32_t i;
	int rc;

	rqp->dev = rdma_dev_get(rqp->id->verbs);
	if (rqp->dev == NULL) {
		return -ENOMEM;
	}
	rqp->cq = ibv_create_cq(rqp->id->verbs, (int)(q->num_reqs + rqp->num_rsps), NULL, NULL, 0);
	if (rqp->cq == NULL) {
		OSP_ERRLOG("qpair %u: ibv_create_cq(%u): %s\n", q->id, q->num_reqs + rqp->num_rsps,
			   strerror(errno));
		return -ENOMEM;
	}
	rqp->max_send_sge = (uint32_t)OSP_MIN(rqp->dev->attr.max_sge, NVME_RDMA_MAX_SGE);
	if (rqp->max_send_sge < 2) {
		rqp->max_send_sge = 1;
	}
	memset(&qa, 0, sizeof(qa));
	qa.qp_context = rqp;
	qa.send_cq = rqp->cq;
	qa.recv_cq = rqp->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = q->num_reqs;
	qa.cap.max_recv_wr = rqp->num_rsps;
	qa.cap.max_send_sge = rqp->max_send_sge;
	qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(rqp->id, rqp->dev->pd, &qa) != 0) {
		OSP_ERRLOG("qpair %u: rdma_create_qp (%u sends, %u receives): %s\n", q->id,
			   q->num_reqs, rqp->num_rsps, strerror(errno));
		return -ENOMEM;
	}
	rqp->qp_created = true;
	rqp->capsule_mr = ibv_reg_mr(rqp->dev->pd, rqp->capsules,
				     (size_t)q->num_reqs * sizeof(*rqp->capsules), 0);
	rqp->cpl_mr = ibv_reg_mr(rqp->dev->pd, rqp->cpls,
				 (size_t)rqp->num_rsps * sizeof(*rqp->cpls), IBV_ACCESS_LOCAL_WRITE);
	if (rqp->capsule_mr == NULL || rqp->cpl_mr == NULL) {
		OSP_ERRLOG("qpair %u: cannot register the capsule buffers: %s\n", q->id,
			   strerror(errno));
		return -ENOMEM;
	}
	/* Admin commands carry their data through the bounce area (no ICD there). */
	if (q->id == 0 || rqp->bounce != NULL) {
		rc = rdma_bounce_setup(rqp);
		if (rc != 0) {
			return rc;
		}
	}
	for (i = 0; i < q->num_reqs; i++) {
		rreq_of(&q->reqs[i])->sge[0].lkey = rqp->capsule_mr->lkey;
	}
	for (i = 0; i < rqp->num_rsps; i++) {
		rqp->rsps[i].sge.lkey = rqp->cpl_mr->lkey;
		rqp->rsps[i].wr.next = i + 1 < rqp->num_rsps ? &rqp->rsps[i + 1].wr : NULL;
	}
	rc = ibv_post_recv(rqp->id->qp, &rqp->rsps[0].wr, &bad);
	for (i = 0; i < rqp->num_rsps; i++) {
		rqp->rsps[i].wr.next = NULL;
	}
	if (rc != 0) {
		OSP_ERRLOG("qpair %u: ibv_post_recv: %s\n", q->id, strerror(rc));
		return -rc;
	}

	memset(&priv, 0, sizeof(priv));
	priv.recfmt = htole16(0);
	priv.qid = htole16(q->id);
	priv.hrqsize = htole16((uint16_t)rqp->num_rsps);
	priv.hsqsize = htole16((uint16_t)(q->qsize - 1));
	memset(&cp, 0, sizeof(cp));
	cp.private_data = &priv;
	cp.private_data_len = sizeof(priv);
	/* The controller reads our memory: let it have RDMA READs in flight. */
	cp.responder_resources = (uint8_t)OSP_MIN(rqp->dev->attr.max_qp_rd_atom,
						  NVME_RDMA_MAX_RD_ATOM);
	cp.initiator_depth = (uint8_t)OSP_MIN(rqp->dev->attr.max_qp_init_rd_atom,
					      NVME_RDMA_MAX_RD_ATOM);
	cp.flow_control = 1;
	cp.retry_count = 7;
	cp.rnr_retry_count = 7; /* infinite: a controller short of receives catches up */
	if (rdma_connect(rqp->id, &cp) != 0) {
		OSP_ERRLOG("qpair %u: rdma_connect: %s\n", q->id, strerror(errno));
		return -errno;
	}
	rqp->rstate = RDMA_QP_CONNECTING;
	return 0;
}

static void
rdma_handle_established(struct rdma_qpair *rqp, const void *pdata, uint8_t plen)
{
	struct osp_nvmf_rdma_cm_accept rep;
	struct osp_nvme_ctrlr *ctrlr = rqp->q.ctrlr;

	if (pdata != NULL && plen >= 4) {
		memset(&rep, 0, sizeof(rep));
		memcpy(&rep, pdata, OSP_MIN(plen, sizeof(rep)));
		rep.recfmt = le16toh(rep.recfmt);
		rep.crqsize = le16toh(rep.crqsize);
		if (rep.recfmt != 0) {
			OSP_ERRLOG("qpair %u: RDMA_CM_ACCEPT with record format %u (0 expected)\n",
				   rqp->q.id, rep.recfmt);
			rdma_fail(rqp, -EPROTO, "rdma connect: bad accept private data");
			return;
		}
		if (rep.crqsize < rqp->q.qsize - 1) {
			OSP_NOTICELOG("qpair %u: controller posts %u receives for a %u-entry queue: "
				      "commands beyond them wait for RNR retries\n", rqp->q.id,
				      rep.crqsize, rqp->q.qsize);
		}
	}
	/* In-capsule data on I/O queues, up to IOCCSZ, when the data starts at offset 0. */
	rqp->icd_max = 0;
	if (rqp->q.id != 0 && ctrlr->cdata.ioccsz > 4 && ctrlr->cdata.icdoff == 0 &&
	    rqp->max_send_sge >= 2) {
		rqp->icd_max = (uint32_t)OSP_MIN((uint64_t)ctrlr->cdata.ioccsz * 16 - 64,
						 (uint64_t)NVME_RDMA_MAX_XFER);
	}
	rqp->next_cm_poll_us = nvme_now_us() + NVME_RDMA_CM_POLL_US;
	rqp->rstate = RDMA_QP_RUNNING;
}

/* Read and handle every pending rdma_cm event. */
static void
rdma_cm_poll(struct rdma_qpair *rqp)
{
	struct rdma_cm_event *ev;
	uint16_t q = rqp->q.id;

	while (rqp->ch != NULL && rdma_get_cm_event(rqp->ch, &ev) == 0) {
		enum rdma_cm_event_type type = ev->event;
		int status = ev->status;
		uint8_t plen = ev->param.conn.private_data_len;
		uint8_t pbuf[64];
		const void *pdata = NULL;
		int rc;

		if (ev->param.conn.private_data != NULL && plen > 0) {
			plen = (uint8_t)OSP_MIN(plen, sizeof(pbuf));
			memcpy(pbuf, ev->param.conn.private_data, plen);
			pdata = pbuf;
		}
		rdma_ack_cm_event(ev);

		switch (type) {
		case RDMA_CM_EVENT_ADDR_RESOLVED:
			if (rqp->rstate != RDMA_QP_RESOLVING_ADDR) {
				break;
			}
			if (rdma_resolve_route(rqp->id, NVME_RDMA_RESOLVE_TIMEOUT_MS) != 0) {
				OSP_ERRLOG("qpair %u: rdma_resolve_route: %s\n", q, strerror(errno));
				rdma_fail(rqp, -errno, "rdma resolve route");
				break;
			}
			rqp->rstate = RDMA_QP_RESOLVING_ROUTE;
			break;
		case RDMA_CM_EVENT_ADDR_ERROR:
			OSP_ERRLOG("qpair %u: no RDMA device reaches %s (address resolution status "
				   "%d)\n", q, rqp->q.ctrlr->trid.traddr, status);
			rdma_fail(rqp, -EHOSTUNREACH, "rdma resolve address (no RDMA device reaches "
				  "traddr)");
			break;
		case RDMA_CM_EVENT_ROUTE_RESOLVED:
			if (rqp->rstate != RDMA_QP_RESOLVING_ROUTE) {
				break;
			}
			rc = rdma_route_resolved(rqp);
			if (rc != 0) {
				rdma_fail(rqp, rc, "rdma queue pair setup");
			}
			break;
		case RDMA_CM_EVENT_ROUTE_ERROR:
			OSP_ERRLOG("qpair %u: route resolution to %s failed (status %d)\n", q,
				   rqp->q.ctrlr->trid.traddr, status);
			rdma_fail(rqp, -EHOSTUNREACH, "rdma resolve route");
			break;
		case RDMA_CM_EVENT_ESTABLISHED:
			if (rqp->rstate == RDMA_QP_CONNECTING) {
				rdma_handle_established(rqp, pdata, plen);
			}
			break;
		case RDMA_CM_EVENT_REJECTED:
			if (pdata != NULL && plen >= sizeof(struct osp_nvmf_rdma_cm_reject) &&
			    status == 28 /* consumer defined: the NVMe-oF binding's reject */) {
				struct osp_nvmf_rdma_cm_reject rej;

				memcpy(&rej, pdata, sizeof(rej));
				rej.recfmt = le16toh(rej.recfmt);
				rej.sts = le16toh(rej.sts);
				OSP_ERRLOG("qpair %u: %s:%s rejected the RDMA connection: %s (status "
					   "%u, record format %u)\n", q, rqp->q.ctrlr->trid.traddr,
					   rqp->q.ctrlr->trid.trsvcid, rdma_reject_step(rej.sts) +
					   strlen("rdma connect rejected by the controller: "),
					   rej.sts, rej.recfmt);
				rdma_fail(rqp, -ECONNREFUSED, rdma_reject_step(rej.sts));
			} else {
				OSP_ERRLOG("qpair %u: %s:%s rejected the RDMA connection (CM reason %d: "
					   "%s)\n", q, rqp->q.ctrlr->trid.traddr,
					   rqp->q.ctrlr->trid.trsvcid, status,
					   status == 8 ? "nobody listens on that port" :
					   "see the target's log");
				rdma_fail(rqp, -ECONNREFUSED, status == 8 ?
					  "rdma connect rejected: nobody listens on traddr:trsvcid" :
					  "rdma connect rejected");
			}
			break;
		case RDMA_CM_EVENT_UNREACHABLE:
			OSP_ERRLOG("qpair %u: %s:%s unreachable over RDMA (status %d)\n", q,
				   rqp->q.ctrlr->trid.traddr, rqp->q.ctrlr->trid.trsvcid, status);
			rdma_fail(rqp, -EHOSTUNREACH, "rdma connect (target unreachable)");
			break;
		case RDMA_CM_EVENT_CONNECT_ERROR:
			OSP_ERRLOG("qpair %u: RDMA connection error (status %d)\n", q, status);
			rdma_fail(rqp, -ECONNRESET, "rdma connect (connection error)");
			break;
		case RDMA_CM_EVENT_DISCONNECTED:
			if (rqp->rstate == RDMA_QP_RUNNING) {
				OSP_ERRLOG("qpair %u: the controller closed the RDMA connection\n", q);
			}
			rdma_fail(rqp, -ECONNRESET, "rdma connection closed by the controller");
			break;
		case RDMA_CM_EVENT_DEVICE_REMOVAL:
			OSP_ERRLOG("qpair %u: RDMA device removed\n", q);
			rdma_fail(rqp, -ENODEV, "rdma device removed");
			break;
		default:
			break;
		}
	}
}

static int
rdma_qpair_connect(struct nvme_qpair *q)
{
	struct rdma_qpair *rqp = rqp_of(q);
	struct osp_nvme_transport_id *trid = &q->ctrlr->trid;
	struct addrinfo hints, *res = NULL;
	int rc, flags;

	rdma_teardown(rqp);
	rqp->rstate = RDMA_QP_IDLE;
	rqp->fail_rc = 0;
	rqp->fail_step = NULL;
	rqp->icd_max = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = trid->adrfam == OSP_NVMF_ADRFAM_IPV6 ? AF_INET6 : AF_INET;
	/* Numeric only: a name lookup could block the reactor. */
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(trid->traddr, trid->trsvcid, &hints, &res);
	if (rc != 0 || res == NULL) {
		OSP_ERRLOG("NVMe/RDMA: traddr '%s' trsvcid '%s' is not a numeric %s address and "
			   "port\n", trid->traddr, trid->trsvcid,
			   hints.ai_family == AF_INET6 ? "IPv6" : "IPv4");
		return -EINVAL;
	}
	rqp->ch = rdma_create_event_channel();
	if (rqp->ch == NULL) {
		rc = errno == ENODEV || errno == ENOENT ? -ENODEV : -errno;
		OSP_ERRLOG("NVMe/RDMA: cannot open the rdma_cm event channel (%s): is rdma_ucm "
			   "loaded and an RDMA device present?\n", strerror(-rc));
		freeaddrinfo(res);
		return rc;
	}
	flags = fcntl(rqp->ch->fd, F_GETFL);
	if (flags < 0 || fcntl(rqp->ch->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rc = -errno;
		freeaddrinfo(res);
		rdma_teardown(rqp);
		return rc;
	}
	if (rdma_create_id(rqp->ch, &rqp->id, rqp, RDMA_PS_TCP) != 0) {
		rc = -errno;
		OSP_ERRLOG("NVMe/RDMA: rdma_create_id: %s\n", strerror(errno));
		freeaddrinfo(res);
		rdma_teardown(rqp);
		return rc;
	}
	if (rdma_resolve_addr(rqp->id, NULL, res->ai_addr, NVME_RDMA_RESOLVE_TIMEOUT_MS) != 0) {
		rc = -errno;
		OSP_ERRLOG("NVMe/RDMA: rdma_resolve_addr(%s): %s\n", trid->traddr, strerror(errno));
		freeaddrinfo(res);
		rdma_teardown(rqp);
		return rc;
	}
	freeaddrinfo(res);
	rqp->rstate = RDMA_QP_RESOLVING_ADDR;
	return 0;
}

static int
rdma_qpair_connect_poll(struct nvme_qpair *q)
{
	struct rdma_qpair *rqp = rqp_of(q);

	if (rqp->rstate != RDMA_QP_RUNNING && rqp->rstate != RDMA_QP_FAILED) {
		rdma_cm_poll(rqp);
	}
	if (rqp->rstate == RDMA_QP_RUNNING) {
		return 0;
	}
	if (rqp->rstate == RDMA_QP_FAILED || rqp->rstate == RDMA_QP_IDLE) {
		int rc = rqp->fail_rc != 0 ? rqp->fail_rc : -ENXIO;

		nvme_set_connect_error(&q->connect_err, rc,
				       rqp->fail_step != NULL ? rqp->fail_step : "rdma connect",
				       NULL);
		return rc;
	}
	return -EAGAIN;
}

static void
rdma_qpair_disconnect(struct nvme_qpair *q)
{
	struct rdma_qpair *rqp = rqp_of(q);

	rdma_teardown(rqp);
	if (rqp->rstate != RDMA_QP_FAILED) {
		rqp->rstate = RDMA_QP_IDLE;
	}
}

/* ------------------------------------------------------------ I/O */

static void
rdma_req_try_complete(struct rdma_qpair *rqp, struct nvme_request *req)
{
	struct rdma_req *rreq = rreq_of(req);

	if (!req->active || !rreq->send_done || !rreq->resp_done) {
		return;
	}
	if (rreq->bounced && !req->host_to_ctrlr && !osp_nvme_cpl_is_error(&rreq->cpl)) {
		uint32_t idx = (uint32_t)(req - rqp->q.reqs);

		osp_iov_copy_from_buf(rqp->bounce + (size_t)idx * rqp->bounce_slot,
				      req->payload_size, (struct iovec *)req->iov, req->iovcnt, 0);
	}
	rqp->completions++;
	nvme_request_complete(req, &rreq->cpl);
}

static int
rdma_qpair_submit_request(struct nvme_qpair *q, struct nvme_request *req)
{
	struct rdma_qpair *rqp = rqp_of(q);
	struct rdma_req *rreq = rreq_of(req);
	uint32_t idx = (uint32_t)(req - q->reqs);
	struct rdma_capsule *capsule = &rqp->capsules[idx];
	struct osp_nvme_sgl_descriptor sgl;
	uint32_t icd_in_capsule = 0;
	struct ibv_send_wr *bad = NULL;
	uint32_t len = req->payload_size;
	uint32_t lkey, rkey;
	int nsge = 1, rc;

	if (rqp->rstate != RDMA_QP_RUNNING) {
		return -ENXIO;
	}
	rreq->send_done = false;
	rreq->resp_done = false;
	rreq->bounced = false;
	memset(&sgl, 0, sizeof(sgl));

	if (len == 0) {
		/* No data: a keyed data block of length 0 (address and key 0). */
		sgl.keyed.type = OSP_NVME_SGL_TYPE_KEYED_DATA_BLOCK;
		sgl.keyed.subtype = OSP_NVME_SGL_SUBTYPE_ADDRESS;
	} else if (req->host_to_ctrlr && len <= rqp->icd_max) {
		struct iovec iov[NVME_RDMA_MAX_ICD_SGE];
		int n, i;

		n = osp_iov_slice(iov, (int)OSP_MIN(rqp->max_send_sge - 1, NVME_RDMA_MAX_ICD_SGE),
				  req->iov, req->iovcnt, 0, len);
		for (i = 0; i < n; i++) {
			if (rdma_mem_translate(rqp, iov[i].iov_base, iov[i].iov_len, &lkey,
					       &rkey) != 0) {
				break;
			}
			rreq->sge[1 + i].addr = (uintptr_t)iov[i].iov_base;
			rreq->sge[1 + i].length = (uint32_t)iov[i].iov_len;
			rreq->sge[1 + i].lkey = lkey;
		}
		if (n > 0 && i == n) {
			nsge = 1 + n;
		} else if (len <= NVME_RDMA_CAPSULE_ICD) {
			/* Small and not registered (the Connect data): right behind the SQE. */
			osp_iov_copy_to_buf(capsule->icd, len, req->iov, req->iovcnt, 0);
			icd_in_capsule = len;
		} else {
			uint8_t *slot;

			rc = rdma_bounce_setup(rqp);
			if (rc != 0) {
				return rc;
			}
			if (len > rqp->bounce_slot) {
				rdma_bounce_too_small(rqp, len);
				return -EINVAL;
			}
			slot = rqp->bounce + (size_t)idx * rqp->bounce_slot;
			osp_iov_copy_to_buf(slot, len, req->iov, req->iovcnt, 0);
			rreq->sge[1].addr = (uintptr_t)slot;
			rreq->sge[1].length = len;
			rreq->sge[1].lkey = rqp->bounce_mr->lkey;
			nsge = 2;
		}
		sgl.unkeyed.type = OSP_NVME_SGL_TYPE_DATA_BLOCK;
		sgl.unkeyed.subtype = OSP_NVME_SGL_SUBTYPE_OFFSET;
		sgl.unkeyed.length = len;
		sgl.address = 0; /* ICDOFF is 0 (checked at connect) */
	} else {
		const struct iovec *v = req->iov;
		bool direct = false;

		if (len > 0xffffff) {
			return -EINVAL;
		}
		if (req->iovcnt == 1 || (v[0].iov_len >= len)) {
			direct = rdma_mem_translate(rqp, v[0].iov_base, len, &lkey, &rkey) == 0;
		}
		if (direct) {
			sgl.address = (uintptr_t)v[0].iov_base;
			sgl.keyed.key = rkey;
		} else {
			uint8_t *slot;

			rc = rdma_bounce_setup(rqp);
			if (rc != 0) {
				return rc;
			}
			if (len > rqp->bounce_slot) {
				rdma_bounce_too_small(rqp, len);
				return -EINVAL;
			}
			slot = rqp->bounce + (size_t)idx * rqp->bounce_slot;
			if (req->host_to_ctrlr) {
				osp_iov_copy_to_buf(slot, len, req->iov, req->iovcnt, 0);
			}
			rreq->bounced = true;
			sgl.address = (uintptr_t)slot;
			sgl.keyed.key = rqp->bounce_mr->rkey;
		}
		sgl.keyed.type = OSP_NVME_SGL_TYPE_KEYED_DATA_BLOCK;
		sgl.keyed.subtype = OSP_NVME_SGL_SUBTYPE_ADDRESS;
		sgl.keyed.length = len;
	}

	memcpy(&capsule->cmd, &req->cmd, sizeof(capsule->cmd));
	/* SGL1 occupies the DPTR field, bytes 24-39 of the SQE. */
	memcpy((uint8_t *)&capsule->cmd + offsetof(struct osp_nvme_cmd, prp1), &sgl, sizeof(sgl));
	rreq->sge[0].addr = (uintptr_t)capsule;
	rreq->sge[0].length = (uint32_t)sizeof(capsule->cmd) + icd_in_capsule;
	rreq->sge[0].lkey = rqp->capsule_mr->lkey;
	memset(&rreq->wr, 0, sizeof(rreq->wr));
	rreq->wr.wr_id = (uintptr_t)rreq;
	rreq->wr.sg_list = rreq->sge;
	rreq->wr.num_sge = nsge;
	rreq->wr.opcode = IBV_WR_SEND;
	rreq->wr.send_flags = IBV_SEND_SIGNALED;
	rc = ibv_post_send(rqp->id->qp, &rreq->wr, &bad);
	if (rc != 0) {
		OSP_ERRLOG("qpair %u: ibv_post_send: %s\n", q->id, strerror(rc));
		return -rc;
	}
	return 0;
}

static int
rdma_handle_recv(struct rdma_qpair *rqp, struct rdma_rsp *rsp, const struct ibv_wc *wc)
{
	uint32_t ridx = (uint32_t)(rsp - rqp->rsps);
	struct osp_nvme_cpl cpl = rqp->cpls[ridx];
	struct ibv_recv_wr *bad = NULL;
	struct nvme_request *req;
	struct rdma_req *rreq;
	int rc;

	if (wc->byte_len < sizeof(cpl)) {
		OSP_ERRLOG("qpair %u: a %u-byte response capsule (16 expected)\n", rqp->q.id,
			   wc->byte_len);
		rdma_fail(rqp, -EPROTO, "rdma response");
		return -EPROTO;
	}
	/* The entry is copied: the receive goes back right away. */
	rc = ibv_post_recv(rqp->id->qp, &rsp->wr, &bad);
	if (rc != 0) {
		rdma_fail(rqp, -rc, "rdma post receive");
		return -rc;
	}
	req = nvme_qpair_get_active_request(&rqp->q, cpl.cid);
	if (req == NULL) {
		OSP_ERRLOG("qpair %u: response for cid %u which is not outstanding\n", rqp->q.id,
			   cpl.cid);
		rdma_fail(rqp, -EPROTO, "rdma response");
		return -EPROTO;
	}
	rreq = rreq_of(req);
	if (rreq->resp_done) {
		OSP_ERRLOG("qpair %u: second response for cid %u\n", rqp->q.id, cpl.cid);
		rdma_fail(rqp, -EPROTO, "rdma response");
		return -EPROTO;
	}
	rreq->cpl = cpl;
	rreq->resp_done = true;
	rdma_req_try_complete(rqp, req);
	return 0;
}

static int
rdma_poll(struct rdma_qpair *rqp, uint32_t max)
{
	struct ibv_wc wc[NVME_RDMA_POLL_BATCH];
	int n, i, batches;

	/*
	 * A bounded number of batches: completion callbacks submit new commands,
	 * so under load the CQ never runs dry and an unbounded loop would never
	 * give the caller its thread back.
	 */
	for (batches = 0; batches < NVME_RDMA_POLL_MAX_BATCHES; batches++) {
		if (rqp->rstate != RDMA_QP_RUNNING || rqp->cq == NULL) {
			return -ENXIO;
		}
		if (max != 0 && rqp->completions >= max) {
			return 0;
		}
		n = ibv_poll_cq(rqp->cq, NVME_RDMA_POLL_BATCH, wc);
		if (n < 0) {
			rdma_fail(rqp, -EIO, "rdma poll cq");
			return -ENXIO;
		}
		if (n == 0) {
			break;
		}
		for (i = 0; i < n; i++) {
			uint8_t kind = *(uint8_t *)(uintptr_t)wc[i].wr_id;


			if (wc[i].status != IBV_WC_SUCCESS) {
				if (rqp->rstate == RDMA_QP_RUNNING) {
					OSP_ERRLOG("qpair %u: %s work request failed: %s (vendor "
						   "error 0x%x)\n", rqp->q.id,
						   kind == RDMA_WR_RECV ? "receive" : "send",
						   ibv_wc_status_str(wc[i].status), wc[i].vendor_err);
				}
				rdma_fail(rqp, wc[i].status == IBV_WC_WR_FLUSH_ERR ? -ECONNRESET :
					  -EIO, "rdma work completion");
				return -ENXIO;
			}
			if (kind == RDMA_WR_RECV) {
				if (rdma_handle_recv(rqp, (struct rdma_rsp *)(uintptr_t)wc[i].wr_id,
						     &wc[i]) != 0) {
					return -ENXIO;
				}
			} else {
				struct rdma_req *rreq = (struct rdma_req *)(uintptr_t)wc[i].wr_id;

				rreq->send_done = true;
				rdma_req_try_complete(rqp, req_of_rreq(rreq));
			}
		}
		if (n < NVME_RDMA_POLL_BATCH) {
			break;
		}
	}
	/* Idle: look for a disconnect now and then (a syscall, so not every poll). */
	if (rqp->completions == 0) {
		uint64_t now = nvme_now_us();

		if (now >= rqp->next_cm_poll_us) {
			rqp->next_cm_poll_us = now + NVME_RDMA_CM_POLL_US;
			rdma_cm_poll(rqp);
			if (rqp->rstate != RDMA_QP_RUNNING) {
				return -ENXIO;
			}
		}
	}
	return 0;
}

static int32_t
rdma_qpair_process_completions(struct nvme_qpair *q, uint32_t max)
{
	struct rdma_qpair *rqp = rqp_of(q);

	rqp->completions = 0;
	if (rdma_poll(rqp, max) < 0) {
		return -ENXIO;
	}
	return (int32_t)rqp->completions;
}

struct nvme_transport_ops g_nvme_rdma_ops = {
	.name = "RDMA",
	.trtype = OSP_NVME_TRANSPORT_RDMA,
	.ctrlr_check = rdma_ctrlr_check,
	.ctrlr_max_xfer_size = rdma_ctrlr_max_xfer_size,
	.qpair_create = rdma_qpair_create,
	.qpair_destroy = rdma_qpair_destroy,
	.qpair_connect = rdma_qpair_connect,
	.qpair_connect_poll = rdma_qpair_connect_poll,
	.qpair_disconnect = rdma_qpair_disconnect,
	.qpair_submit_request = rdma_qpair_submit_request,
	.qpair_process_completions = rdma_qpair_process_completions,
};
#endif /* OSP_HAVE_RDMA */
