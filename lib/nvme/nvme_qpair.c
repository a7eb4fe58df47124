/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/nvme queue pairs: request slots (cid = slot index, a free list, no
 * allocation per command), the Fabrics Connect of a queue, aborting on
 * failure, I/O qpair allocation and the NVM command set submit functions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/iov.h"

#include "nvme_internal.h"

/* ------------------------------------------------------------ requests */

int
nvme_qpair_init(struct nvme_qpair *qpair, struct osp_nvme_ctrlr *ctrlr,
		const struct nvme_transport_ops *ops, uint16_t qid, uint32_t qsize)
{
	uint32_t i;

	if (qsize < 2) {
		return -EINVAL;
	}
	qpair->ctrlr = ctrlr;
	qpair->ops = ops;
	memset(&qpair->stats, 0, sizeof(qpair->stats));
	qpair->id = qid;
	qpair->qsize = qsize;
	qpair->state = NVME_QPAIR_DISCONNECTED;
	/* One SQ slot stays empty (SQ full is tail + 1 == head). */
	qpair->num_reqs = qsize - 1;
	qpair->reqs = calloc(qpair->num_reqs, sizeof(*qpair->reqs));
	if (qpair->reqs == NULL) {
		return -ENOMEM;
	}
	STAILQ_INIT(&qpair->free_reqs);
	for (i = 0; i < qpair->num_reqs; i++) {
		qpair->reqs[i].qpair = qpair;
		STAILQ_INSERT_TAIL(&qpair->free_reqs, &qpair->reqs[i], free_link);
	}
	return 0;
}

void
nvme_qpair_fini(struct nvme_qpair *qpair)
{
	free(qpair->reqs);
	qpair->reqs = NULL;
	qpair->num_reqs = 0;
}

struct nvme_request *
nvme_request_get(struct nvme_qpair *qpair)
{
	struct nvme_request *req = STAILQ_FIRST(&qpair->free_reqs);

	if (req == NULL) {
		return NULL;
	}
	STAILQ_REMOVE_HEAD(&qpair->free_reqs, free_link);
	return req;
}

void
nvme_request_put(struct nvme_qpair *qpair, struct nvme_request *req)
{
	req->active = false;
	req->cb_fn = NULL;
	STAILQ_INSERT_HEAD(&qpair->free_reqs, req, free_link);
}

void
nvme_cpl_set_status(struct osp_nvme_cpl *cpl, struct nvme_request *req, uint8_t sct, uint8_t sc)
{
	memset(cpl, 0, sizeof(*cpl));
	cpl->sqid = req->qpair->id;
	cpl->cid = req->cmd.cid;
	osp_nvme_cpl_set_status(cpl, sct, sc, false);
}

void
nvme_request_complete(struct nvme_request *req, const struct osp_nvme_cpl *cpl)
{
	struct nvme_qpair *qpair = req->qpair;
	osp_nvme_cmd_cb cb_fn = req->cb_fn;
	void *cb_arg = req->cb_arg;

	if (!req->active) {
		return;
	}
	/* Free the slot first: the callback may submit the next command. */
	qpair->num_outstanding--;
	nvme_request_put(qpair, req);
	if (cb_fn != NULL) {
		cb_fn(cb_arg, cpl);
	}
}

void
nvme_qpair_abort_all(struct nvme_qpair *qpair)
{
	struct osp_nvme_cpl cpl;
	uint32_t i;

	for (i = 0; i < qpair->num_reqs; i++) {
		struct nvme_request *req = &qpair->reqs[i];

		if (!req->active) {
			continue;
		}
		nvme_cpl_set_status(&cpl, req, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_SQ_DELETION);
		nvme_request_complete(req, &cpl);
	}
}

int
nvme_qpair_submit(struct nvme_qpair *qpair, const struct osp_nvme_cmd *cmd,
		  const struct iovec *iov, int iovcnt, void *buf, uint32_t len,
		  osp_nvme_cmd_cb cb_fn, void *cb_arg, bool connect_cmd)
{
	struct iovec single;

	struct nvme_request *req;
	uint8_t xfer = cmd->opc & 0x3;
	int rc;

	if (cmd->opc == OSP_NVMF_FABRIC_OPCODE) {
		/* Fabrics commands carry their direction in FCTYPE bits 1:0 (Base §6). */
		xfer = ((const struct osp_nvmf_capsule_cmd *)cmd)->fctype & 0x3;
	}

	if (qpair->state == NVME_QPAIR_FAILED || qpair->state == NVME_QPAIR_DISCONNECTED) {
		return -ENXIO;
	}
	if (qpair->state != NVME_QPAIR_CONNECTED && !connect_cmd) {
		return -ENOMEM;
	}
	if (xfer == 0x3) {
		return -EINVAL; /* bidirectional: not over fabrics */
	}
	if (iov == NULL && buf != NULL) {
		single.iov_base = buf;
		single.iov_len = len;
		iov = &single;
		iovcnt = 1;
	}
	if (len > 0 && (xfer == 0 || iov == NULL || iovcnt <= 0 || iovcnt > OSP_NVME_MAX_IOVS)) {
		return -EINVAL;
	}
	if (len == 0 && xfer != 0) {
		/* a data command without data: send it as a no-data command */
		xfer = 0;
	}
	if (len > 0 && iov != &single && osp_iov_len(iov, iovcnt) < len) {
		return -EINVAL;
	}
	req = nvme_request_get(qpair);
	if (req == NULL) {
		qpair->stats.queue_full++;
		return -ENOMEM;
	}
	req->cmd = *cmd;
	req->cmd.cid = (uint16_t)(req - qpair->reqs);
	req->cmd.psdt = OSP_NVME_PSDT_SGL_MPTR_CONTIG;
	req->cmd.fuse = 0;
	req->cb_fn = cb_fn;
	req->cb_arg = cb_arg;
	req->payload_size = len;
	if (len > 0 && iov == &single) {
		/* a contiguous buffer: the iovec must outlive this call */
		req->single_iov = single;
		iov = &req->single_iov;
	}
	req->iov = len > 0 ? iov : NULL;
	req->iovcnt = len > 0 ? iovcnt : 0;
	req->host_to_ctrlr = xfer == 0x1;
	req->connect_cmd = connect_cmd;
	req->active = true;
	qpair->num_outstanding++;
	rc = qpair->ops->qpair_submit_request(qpair, req);
	if (rc != 0) {
		qpair->num_outstanding--;
		nvme_request_put(qpair, req);
		return rc;
	}
	qpair->stats.submitted++;
	return 0;
}

/* ------------------------------------------------------------ connect */

static void
qpair_connect_cb(void *arg, const struct osp_nvme_cpl *cpl)
{
	struct nvme_qpair *qpair = arg;
	const struct osp_nvmf_connect_rsp *rsp = (const struct osp_nvmf_connect_rsp *)cpl;

	if (qpair->state != NVME_QPAIR_FABRIC_CONNECTING) {
		return; /* aborted by a disconnect */
	}
	if (osp_nvme_cpl_is_error(cpl)) {
		int rc = -EIO;

		if (osp_nvme_cpl_is_status(cpl, OSP_NVME_SCT_COMMAND_SPECIFIC,
					   OSP_NVMF_SC_INVALID_HOST) ||
		    osp_nvme_cpl_is_status(cpl, OSP_NVME_SCT_COMMAND_SPECIFIC,
					   OSP_NVMF_SC_INVALID_PARAM)) {
			rc = -EACCES;
		}
		if (osp_nvme_cpl_is_status(cpl, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_ABORTED_SQ_DELETION)) {
			rc = -ECONNRESET;
		}
		nvme_set_connect_error(&qpair->connect_err, rc, "fabrics connect", cpl);
		qpair->state = NVME_QPAIR_FAILED;
		return;
	}
	if (qpair->id == 0) {
		qpair->ctrlr->cntlid = rsp->status_code_specific.success.cntlid;
	}
	qpair->state = NVME_QPAIR_CONNECTED;
}

int
nvme_qpair_connect_start(struct nvme_qpair *qpair, uint32_t timeout_ms)
{
	int rc;

	memset(&qpair->connect_err, 0, sizeof(qpair->connect_err));
	qpair->connect_start_us = nvme_now_us();
	qpair->connect_timeout_us = (uint64_t)timeout_ms * 1000;
	qpair->state = NVME_QPAIR_TRANSPORT_CONNECTING;
	rc = qpair->ops->qpair_connect(qpair);
	if (rc != 0) {
		nvme_set_connect_error(&qpair->connect_err, rc, "transport connect", NULL);
		qpair->state = NVME_QPAIR_FAILED;
		return rc;
	}
	return 0;
}

static int
qpair_send_connect(struct nvme_qpair *qpair)
{
	struct osp_nvme_ctrlr *ctrlr = qpair->ctrlr;
	struct osp_nvmf_connect_cmd c;
	struct osp_nvmf_connect_data *d = &qpair->connect_data;

	memset(&c, 0, sizeof(c));
	c.opcode = OSP_NVMF_FABRIC_OPCODE;
	c.fctype = OSP_NVMF_FCTYPE_CONNECT;
	c.recfmt = 0;
	c.qid = qpair->id;
	c.sqsize = (uint16_t)(qpair->qsize - 1);
	if (qpair->id == 0) {
		c.kato = ctrlr->opts.keep_alive_timeout_ms;
	} else if (ctrlr->opts.disable_sq_flow_control) {
		c.cattr |= OSP_NVMF_CONNECT_CATTR_DISABLE_SQ_FLOW_CONTROL;
	}
	memset(d, 0, sizeof(*d));
	memcpy(d->hostid, ctrlr->opts.hostid, sizeof(d->hostid));
	d->cntlid = qpair->id == 0 ? OSP_NVMF_CNTLID_DYNAMIC : ctrlr->cntlid;
	snprintf(d->subnqn, sizeof(d->subnqn), "%s", ctrlr->trid.subnqn);
	snprintf(d->hostnqn, sizeof(d->hostnqn), "%s", ctrlr->opts.hostnqn);
	qpair->state = NVME_QPAIR_FABRIC_CONNECTING;
	return nvme_qpair_submit(qpair, (const struct osp_nvme_cmd *)&c, NULL, 0, d, sizeof(*d),
				 qpair_connect_cb, qpair, true);
}

int
nvme_qpair_connect_poll(struct nvme_qpair *qpair)
{
	int rc;
	int32_t n;

	switch (qpair->state) {
	case NVME_QPAIR_CONNECTED:
		return 0;
	case NVME_QPAIR_FAILED:
	case NVME_QPAIR_DISCONNECTED:
		if (qpair->connect_err.rc == 0) {
			nvme_set_connect_error(&qpair->connect_err, -ENXIO, "transport connect", NULL);
		}
		return qpair->connect_err.rc;
	case NVME_QPAIR_TRANSPORT_CONNECTING:
		rc = qpair->ops->qpair_connect_poll(qpair);
		if (rc == 0 && qpair->ops->local_bus) {
			/* PCIe: the queue exists once the transport created it. */
			qpair->state = NVME_QPAIR_CONNECTED;
			return 0;
		}
		if (rc == 0) {
			rc = qpair_send_connect(qpair);
			if (rc != 0) {
				nvme_set_connect_error(&qpair->connect_err, rc, "fabrics connect", NULL);
				nvme_qpair_disconnect(qpair, NVME_QPAIR_FAILED);
				return rc;
			}
			break;
		}
		if (rc != -EAGAIN) {
			if (qpair->connect_err.rc == 0) {
				nvme_set_connect_error(&qpair->connect_err, rc, "transport connect", NULL);
			}
			nvme_qpair_disconnect(qpair, NVME_QPAIR_FAILED);
			return rc;
		}
		break;
	case NVME_QPAIR_FABRIC_CONNECTING:
		n = qpair->ops->qpair_process_completions(qpair, 0);
		if (n < 0 && qpair->state == NVME_QPAIR_FABRIC_CONNECTING) {
			nvme_set_connect_error(&qpair->connect_err, -ECONNRESET, "fabrics connect", NULL);
			nvme_qpair_disconnect(qpair, NVME_QPAIR_FAILED);
			return -ECONNRESET;
		}
		if (qpair->state == NVME_QPAIR_CONNECTED) {
			return 0;
		}
		if (qpair->state == NVME_QPAIR_FAILED) {
			nvme_qpair_disconnect(qpair, NVME_QPAIR_FAILED);
			return qpair->connect_err.rc;
		}
		break;
	}
	if (qpair->connect_timeout_us != 0 &&
	    nvme_now_us() - qpair->connect_start_us > qpair->connect_timeout_us) {
		nvme_set_connect_error(&qpair->connect_err, -ETIMEDOUT,
				       qpair->state == NVME_QPAIR_TRANSPORT_CONNECTING ?
				       "transport connect" : "fabrics connect", NULL);
		nvme_qpair_disconnect(qpair, NVME_QPAIR_FAILED);
		return -ETIMEDOUT;
	}
	return -EAGAIN;
}

void
nvme_qpair_disconnect(struct nvme_qpair *qpair, enum nvme_qpair_state new_state)
{
	qpair->ops->qpair_disconnect(qpair);
	qpair->state = new_state;
	nvme_qpair_abort_all(qpair);
}

int32_t
nvme_qpair_process(struct nvme_qpair *qpair, uint32_t max)
{
	int32_t n;

	if (qpair->state == NVME_QPAIR_FAILED || qpair->state == NVME_QPAIR_DISCONNECTED) {
		return -ENXIO;
	}
	if (qpair->state != NVME_QPAIR_CONNECTED) {
		int rc = nvme_qpair_connect_poll(qpair);

		return rc == 0 || rc == -EAGAIN ? 0 : -ENXIO;
	}
	qpair->in_completions = true;
	n = qpair->ops->qpair_process_completions(qpair, max);
	qpair->in_completions = false;
	if (n < 0) {
		nvme_qpair_disconnect(qpair, NVME_QPAIR_FAILED);
		return -ENXIO;
	}
	return n;
}

/* ------------------------------------------------------------ I/O qpairs */

void
osp_nvme_ctrlr_get_default_io_qpair_opts(struct osp_nvme_ctrlr *ctrlr,
					 struct osp_nvme_io_qpair_opts *opts, size_t opts_size)
{
	struct osp_nvme_io_qpair_opts d;

	if (opts == NULL || opts_size == 0) {
		return;
	}
	memset(&d, 0, sizeof(d));
	d.opts_size = OSP_MIN(opts_size, sizeof(d));
	d.io_queue_size = ctrlr != NULL ? ctrlr->opts.io_queue_size : 128;
	d.async_mode = false;
	memcpy(opts, &d, OSP_MIN(opts_size, sizeof(d)));
}

static int
qid_alloc(struct osp_nvme_ctrlr *ctrlr)
{
	uint32_t q;

	for (q = 1; q <= ctrlr->num_io_queues; q++) {
		uint64_t bit = 1ull << (q % 64);

		if (!(ctrlr->qid_bitmap[q / 64] & bit)) {
			ctrlr->qid_bitmap[q / 64] |= bit;
			return (int)q;
		}
	}
	return -EBUSY;
}

static void
qid_free(struct osp_nvme_ctrlr *ctrlr, uint16_t qid)
{
	if (qid != 0 && qid <= ctrlr->num_io_queues && ctrlr->qid_bitmap != NULL) {
		ctrlr->qid_bitmap[qid / 64] &= ~(1ull << (qid % 64));
	}
}

static int
io_qpair_connect_blocking(struct nvme_qpair *qpair)
{
	int rc;

	for (;;) {
		rc = nvme_qpair_connect_poll(qpair);
		if (rc != -EAGAIN) {
			return rc;
		}
		nvme_poll_pause();
	}
}

struct osp_nvme_qpair *
osp_nvme_ctrlr_alloc_io_qpair(struct osp_nvme_ctrlr *ctrlr,
			      const struct osp_nvme_io_qpair_opts *user_opts, size_t opts_size)
{
	struct osp_nvme_io_qpair_opts opts;
	struct nvme_qpair *qpair;
	uint32_t qsize, gen;
	int qid, rc;

	if (ctrlr == NULL) {
		errno = EINVAL;
		return NULL;
	}
	osp_nvme_ctrlr_get_default_io_qpair_opts(ctrlr, &opts, sizeof(opts));
	if (user_opts != NULL) {
		memcpy(&opts, user_opts, OSP_MIN(opts_size, sizeof(opts)));
	}
	qsize = opts.io_queue_size;
	nvme_ctrlr_lock(ctrlr);
	if (ctrlr->is_discovery) {
		nvme_ctrlr_unlock(ctrlr);
		errno = EINVAL;
		return NULL;
	}
	if (ctrlr->state != NVME_CTRLR_STATE_READY || ctrlr->resetting) {
		nvme_ctrlr_unlock(ctrlr);
		errno = ENXIO;
		return NULL;
	}
	if (qsize < 2 || qsize > (uint32_t)ctrlr->cap.bits.mqes + 1) {
		nvme_ctrlr_unlock(ctrlr);
		OSP_ERRLOG("I/O queue size %u outside 2..%u (CAP.MQES + 1)\n", qsize,
			   (uint32_t)ctrlr->cap.bits.mqes + 1);
		errno = EINVAL;
		return NULL;
	}
	qid = qid_alloc(ctrlr);
	if (qid < 0) {
		nvme_ctrlr_unlock(ctrlr);
		errno = EBUSY;
		return NULL;
	}
	gen = ctrlr->reset_gen;
	nvme_ctrlr_unlock(ctrlr);

	qpair = ctrlr->ops->qpair_create(ctrlr, (uint16_t)qid, qsize);
	if (qpair == NULL) {
		nvme_ctrlr_lock(ctrlr);
		qid_free(ctrlr, (uint16_t)qid);
		nvme_ctrlr_unlock(ctrlr);
		errno = ENOMEM;
		return NULL;
	}
	qpair->reset_gen = gen;
	qpair->async_mode = opts.async_mode;
	rc = nvme_qpair_connect_start(qpair, ctrlr->opts.transport_connect_timeout_ms +
				      ctrlr->opts.admin_timeout_ms);
	if (rc == 0 && !opts.async_mode) {
		rc = io_qpair_connect_blocking(qpair);
	}
	if (rc != 0) {
		OSP_ERRLOG("I/O qpair %d: %s failed: %s\n", qid,
			   qpair->connect_err.step ? qpair->connect_err.step : "connect",
			   strerror(-rc));
		nvme_qpair_disconnect(qpair, NVME_QPAIR_FAILED);
		ctrlr->ops->qpair_destroy(qpair);
		nvme_ctrlr_lock(ctrlr);
		qid_free(ctrlr, (uint16_t)qid);
		nvme_ctrlr_unlock(ctrlr);
		errno = -rc;
		return NULL;
	}
	nvme_ctrlr_lock(ctrlr);
	TAILQ_INSERT_TAIL(&ctrlr->io_qpairs, qpair, link);
	nvme_ctrlr_unlock(ctrlr);
	return (struct osp_nvme_qpair *)qpair;
}

int
osp_nvme_ctrlr_free_io_qpair(struct osp_nvme_qpair *oq)
{
	struct nvme_qpair *qpair = (struct nvme_qpair *)oq;
	struct osp_nvme_ctrlr *ctrlr;

	if (qpair == NULL || qpair->id == 0) {
		return -EINVAL;
	}
	ctrlr = qpair->ctrlr;
	nvme_qpair_disconnect(qpair, NVME_QPAIR_DISCONNECTED);
	nvme_ctrlr_lock(ctrlr);
	TAILQ_REMOVE(&ctrlr->io_qpairs, qpair, link);
	qid_free(ctrlr, qpair->id);
	nvme_ctrlr_unlock(ctrlr);
	qpair->ops->qpair_destroy(qpair);
	return 0;
}

int
osp_nvme_ctrlr_reconnect_io_qpair(struct osp_nvme_qpair *oq)
{
	struct nvme_qpair *qpair = (struct nvme_qpair *)oq;
	struct osp_nvme_ctrlr *ctrlr;
	uint32_t gen;
	int rc;

	if (qpair == NULL || qpair->id == 0) {
		return -EINVAL;
	}
	ctrlr = qpair->ctrlr;
	if (qpair->state == NVME_QPAIR_CONNECTED &&
	    __atomic_load_n(&ctrlr->reset_gen, __ATOMIC_ACQUIRE) == qpair->reset_gen) {
		return -EBUSY;
	}
	nvme_ctrlr_lock(ctrlr);
	if (ctrlr->resetting) {
		nvme_ctrlr_unlock(ctrlr);
		return -EAGAIN;
	}
	if (ctrlr->state != NVME_CTRLR_STATE_READY) {
		nvme_ctrlr_unlock(ctrlr);
		return -ENXIO;
	}
	gen = ctrlr->reset_gen;
	nvme_ctrlr_unlock(ctrlr);
	if (qpair->state != NVME_QPAIR_FAILED && qpair->state != NVME_QPAIR_DISCONNECTED) {
		nvme_qpair_disconnect(qpair, NVME_QPAIR_DISCONNECTED);
	}
	qpair->reset_gen = gen;
	rc = nvme_qpair_connect_start(qpair, ctrlr->opts.transport_connect_timeout_ms +
				      ctrlr->opts.admin_timeout_ms);
	if (rc == 0 && !qpair->async_mode) {
		rc = io_qpair_connect_blocking(qpair);
	}
	if (rc != 0) {
		nvme_qpair_disconnect(qpair, NVME_QPAIR_FAILED);
	}
	return rc;
}

uint16_t
osp_nvme_qpair_get_id(struct osp_nvme_qpair *oq)
{
	return ((struct nvme_qpair *)oq)->id;
}

bool
osp_nvme_qpair_is_connected(struct osp_nvme_qpair *oq)
{
	return ((struct nvme_qpair *)oq)->state == NVME_QPAIR_CONNECTED;
}

uint32_t
osp_nvme_qpair_get_num_outstanding(struct osp_nvme_qpair *oq)
{
	return ((struct nvme_qpair *)oq)->num_outstanding;
}

int32_t
osp_nvme_qpair_process_completions(struct osp_nvme_qpair *oq, uint32_t max)
{
	struct nvme_qpair *qpair = (struct nvme_qpair *)oq;
	int32_t n;

	if (qpair == NULL) {
		return -EINVAL;
	}
	if (qpair->id != 0 &&
	    __atomic_load_n(&qpair->ctrlr->reset_gen, __ATOMIC_ACQUIRE) != qpair->reset_gen &&
	    qpair->state != NVME_QPAIR_FAILED && qpair->state != NVME_QPAIR_DISCONNECTED) {
		/* The controller was reset: this association is gone. */
		if (qpair->ops->qpair_stale_quiesced != NULL &&
		    !qpair->ops->qpair_stale_quiesced(qpair)) {
			return 0; /* its commands' buffers may still be written to */
		}
		nvme_qpair_disconnect(qpair, NVME_QPAIR_FAILED);
		return -ENXIO;
	}
	n = nvme_qpair_process(qpair, max);
	qpair->stats.polls++;
	if (n > 0) {
		qpair->stats.completions += (uint64_t)n;
		if ((uint64_t)n > qpair->stats.max_completions_per_poll) {
			qpair->stats.max_completions_per_poll = (uint64_t)n;
		}
	} else if (n == 0) {
		qpair->stats.idle_polls++;
	}
	return n;
}

int
osp_nvme_qpair_get_transport_stats(struct osp_nvme_qpair *oq,
				   struct osp_nvme_qpair_transport_stats *stats)
{
	struct nvme_qpair *qpair = (struct nvme_qpair *)oq;

	if (qpair == NULL || stats == NULL) {
		return -EINVAL;
	}
	memset(stats, 0, sizeof(*stats));
	if (qpair->ops->qpair_get_transport_stats == NULL) {
		return -ENOTSUP;
	}
	return qpair->ops->qpair_get_transport_stats(qpair, stats);
}

int
osp_nvme_qpair_get_stats(struct osp_nvme_qpair *oq, struct osp_nvme_qpair_stats *stats)
{
	if (oq == NULL || stats == NULL) {
		return -EINVAL;
	}
	*stats = ((struct nvme_qpair *)oq)->stats;
	return 0;
}

/* ------------------------------------------------------------ NVM commands */

/*
 * The I/O path of ns_rw(): the same as nvme_qpair_submit() for an NVM
 * read/write-type command whose arguments the caller checked, with the
 * command built in the request itself (no copy through the stack).
 */
static inline __attribute__((always_inline)) int
qpair_submit_rw(struct nvme_qpair *qpair, uint8_t opc, uint32_t nsid, uint64_t lba,
		uint32_t cdw12, const struct iovec *iov, int iovcnt, void *buf, uint32_t len,
		osp_nvme_cmd_cb cb_fn, void *cb_arg)
{
	struct nvme_request *req;
	int rc;

	if (qpair->state != NVME_QPAIR_CONNECTED) {
		return qpair->state == NVME_QPAIR_FAILED ||
		       qpair->state == NVME_QPAIR_DISCONNECTED ? -ENXIO : -ENOMEM;
	}
	if (len > 0 && iov != NULL && osp_iov_len(iov, iovcnt) < len) {
		return -EINVAL;
	}
	req = nvme_request_get(qpair);
	if (req == NULL) {
		qpair->stats.queue_full++;
		return -ENOMEM;
	}
	memset(&req->cmd, 0, sizeof(req->cmd));
	req->cmd.opc = opc;
	req->cmd.psdt = OSP_NVME_PSDT_SGL_MPTR_CONTIG;
	req->cmd.cid = (uint16_t)(req - qpair->reqs);
	req->cmd.nsid = nsid;
	req->cmd.cdw10 = (uint32_t)lba;
	req->cmd.cdw11 = (uint32_t)(lba >> 32);
	req->cmd.cdw12 = cdw12;
	req->cb_fn = cb_fn;
	req->cb_arg = cb_arg;
	req->payload_size = len;
	if (len > 0 && iov == NULL) {
		req->single_iov.iov_base = buf;
		req->single_iov.iov_len = len;
		iov = &req->single_iov;
		iovcnt = 1;
	}
	req->iov = len > 0 ? iov : NULL;
	req->iovcnt = len > 0 ? iovcnt : 0;
	req->host_to_ctrlr = len > 0 && (opc & 0x3) == 0x1;
	req->connect_cmd = false;
	req->active = true;
	qpair->num_outstanding++;
	rc = qpair->ops->qpair_submit_request(qpair, req);
	if (rc != 0) {
		qpair->num_outstanding--;
		nvme_request_put(qpair, req);
		return rc;
	}
	qpair->stats.submitted++;
	return 0;
}

static inline __attribute__((always_inline)) int
ns_rw(struct osp_nvme_ns *ns, struct osp_nvme_qpair *oq, uint8_t opc, const struct iovec *iov,
      int iovcnt, void *buf, uint64_t lba, uint32_t lba_count, osp_nvme_cmd_cb cb_fn, void *cb_arg,
      uint32_t io_flags, bool data)
{
	struct nvme_qpair *qpair = (struct nvme_qpair *)oq;
	uint64_t bytes;

	if (ns == NULL || qpair == NULL || qpair->id == 0 || !ns->active) {
		return -EINVAL;
	}
	if (lba_count == 0 || lba_count > 65536 || lba > ns->data.nsze ||
	    lba_count > ns->data.nsze - lba) {
		return -EINVAL;
	}
	if (io_flags & ~(OSP_NVME_IO_FLAGS_FUA | OSP_NVME_IO_FLAGS_LIMITED_RETRY |
			 OSP_NVME_IO_FLAGS_DEALLOCATE)) {
		return -EINVAL;
	}
	if ((io_flags & OSP_NVME_IO_FLAGS_DEALLOCATE) && opc != OSP_NVME_OPC_WRITE_ZEROES) {
		return -EINVAL;
	}
	bytes = (uint64_t)lba_count * ns->sector_size;
	if (data && (ns->md_size != 0 && (ns->data.flbas & OSP_NVME_NS_FLBAS_EXTENDED))) {
		return -EINVAL;
	}
	if (data && bytes > ns->ctrlr->max_xfer_size) {
		return -EINVAL;
	}
	return qpair_submit_rw(qpair, opc, ns->id, lba, (lba_count - 1) | io_flags, iov, iovcnt,
			       buf, data ? (uint32_t)bytes : 0, cb_fn, cb_arg);
}

static inline __attribute__((always_inline)) int
ns_rw_contig(struct osp_nvme_ns *ns, struct osp_nvme_qpair *oq, uint8_t opc, void *buf,
	     uint64_t lba, uint32_t lba_count, osp_nvme_cmd_cb cb_fn, void *cb_arg,
	     uint32_t io_flags)
{
	if (buf == NULL) {
		return -EINVAL;
	}
	return ns_rw(ns, oq, opc, NULL, 0, buf, lba, lba_count, cb_fn, cb_arg, io_flags, true);
}

int
osp_nvme_ns_cmd_read(struct osp_nvme_ns *ns, struct osp_nvme_qpair *qpair, void *buf,
		     uint64_t lba, uint32_t lba_count, osp_nvme_cmd_cb cb_fn, void *cb_arg,
		     uint32_t io_flags)
{
	return ns_rw_contig(ns, qpair, OSP_NVME_OPC_READ, buf, lba, lba_count, cb_fn, cb_arg,
			    io_flags);
}

int
osp_nvme_ns_cmd_write(struct osp_nvme_ns *ns, struct osp_nvme_qpair *qpair, void *buf,
		      uint64_t lba, uint32_t lba_count, osp_nvme_cmd_cb cb_fn, void *cb_arg,
		      uint32_t io_flags)
{
	return ns_rw_contig(ns, qpair, OSP_NVME_OPC_WRITE, buf, lba, lba_count, cb_fn, cb_arg,
			    io_flags);
}

int
osp_nvme_ns_cmd_compare(struct osp_nvme_ns *ns, struct osp_nvme_qpair *qpair, void *buf,
			uint64_t lba, uint32_t lba_count, osp_nvme_cmd_cb cb_fn, void *cb_arg,
			uint32_t io_flags)
{
	return ns_rw_contig(ns, qpair, OSP_NVME_OPC_COMPARE, buf, lba, lba_count, cb_fn, cb_arg,
			    io_flags);
}

int
osp_nvme_ns_cmd_readv(struct osp_nvme_ns *ns, struct osp_nvme_qpair *qpair,
		      const struct iovec *iov, int iovcnt, uint64_t lba, uint32_t lba_count,
		      osp_nvme_cmd_cb cb_fn, void *cb_arg, uint32_t io_flags)
{
	if (iov == NULL || iovcnt <= 0 || iovcnt > OSP_NVME_MAX_IOVS) {
		return -EINVAL;
	}
	return ns_rw(ns, qpair, OSP_NVME_OPC_READ, iov, iovcnt, NULL, lba, lba_count, cb_fn, cb_arg,
		     io_flags, true);
}

int
osp_nvme_ns_cmd_writev(struct osp_nvme_ns *ns, struct osp_nvme_qpair *qpair,
		       const struct iovec *iov, int iovcnt, uint64_t lba, uint32_t lba_count,
		       osp_nvme_cmd_cb cb_fn, void *cb_arg, uint32_t io_flags)
{
	if (iov == NULL || iovcnt <= 0 || iovcnt > OSP_NVME_MAX_IOVS) {
		return -EINVAL;
	}
	return ns_rw(ns, qpair, OSP_NVME_OPC_WRITE, iov, iovcnt, NULL, lba, lba_count, cb_fn, cb_arg,
		     io_flags, true);
}

int
osp_nvme_ns_cmd_write_zeroes(struct osp_nvme_ns *ns, struct osp_nvme_qpair *qpair,
			     uint64_t lba, uint32_t lba_count, osp_nvme_cmd_cb cb_fn, void *cb_arg,
			     uint32_t io_flags)
{
	return ns_rw(ns, qpair, OSP_NVME_OPC_WRITE_ZEROES, NULL, 0, NULL, lba, lba_count, cb_fn, cb_arg,
		     io_flags, false);
}

int
osp_nvme_ns_cmd_flush(struct osp_nvme_ns *ns, struct osp_nvme_qpair *oq, osp_nvme_cmd_cb cb_fn,
		      void *cb_arg)
{
	struct nvme_qpair *qpair = (struct nvme_qpair *)oq;
	struct osp_nvme_cmd cmd;

	if (ns == NULL || qpair == NULL || qpair->id == 0) {
		return -EINVAL;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = OSP_NVME_OPC_FLUSH;
	cmd.nsid = ns->id;
	return nvme_qpair_submit(qpair, &cmd, NULL, 0, NULL, 0, cb_fn, cb_arg, false);
}

int
osp_nvme_ns_cmd_dataset_management(struct osp_nvme_ns *ns, struct osp_nvme_qpair *oq,
				   uint32_t attributes, const struct osp_nvme_dsm_range *ranges,
				   uint16_t num_ranges, osp_nvme_cmd_cb cb_fn, void *cb_arg)
{
	struct nvme_qpair *qpair = (struct nvme_qpair *)oq;
	struct osp_nvme_cmd cmd;

	if (ns == NULL || qpair == NULL || qpair->id == 0 || ranges == NULL || num_ranges == 0 ||
	    num_ranges > OSP_NVME_DSM_MAX_RANGES) {
		return -EINVAL;
	}
	if (attributes & ~(OSP_NVME_DSM_ATTR_INTEGRAL_READ | OSP_NVME_DSM_ATTR_INTEGRAL_WRITE |
			   OSP_NVME_DSM_ATTR_DEALLOCATE)) {
		return -EINVAL;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = OSP_NVME_OPC_DATASET_MANAGEMENT;
	cmd.nsid = ns->id;
	cmd.cdw10 = (uint32_t)num_ranges - 1;
	cmd.cdw11 = attributes;
	return nvme_qpair_submit(qpair, &cmd, NULL, 0, (void *)(uintptr_t)ranges,
				 (uint32_t)(num_ranges * sizeof(*ranges)), cb_fn, cb_arg, false);
}

int
osp_nvme_ctrlr_cmd_io_raw(struct osp_nvme_ctrlr *ctrlr, struct osp_nvme_qpair *oq,
			  const struct osp_nvme_cmd *cmd, void *buf, uint32_t len,
			  osp_nvme_cmd_cb cb_fn, void *cb_arg)
{
	struct nvme_qpair *qpair = (struct nvme_qpair *)oq;

	if (ctrlr == NULL || qpair == NULL || cmd == NULL || qpair->id == 0 ||
	    (len > 0 && buf == NULL) || len > ctrlr->max_xfer_size) {
		return -EINVAL;
	}
	return nvme_qpair_submit(qpair, cmd, NULL, 0, buf, len, cb_fn, cb_arg, false);
}
