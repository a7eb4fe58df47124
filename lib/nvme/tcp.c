/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe/TCP host transport (NVM Express TCP Transport Specification 1.0a):
 * one non-blocking socket per queue pair, the PDU codec of lib/nvme_tcp_codec,
 * in-capsule data for small writes, R2T-driven H2CData for larger ones
 * (split at the controller's MAXH2CDATA), C2HData received straight into
 * the caller's buffers. Every PDU field from the controller is checked
 * against the command it names; a violation fails the queue pair.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/iov.h"
#include "osprey_internal/nvme_tcp_codec.h"
#include "osprey/sock.h"

#include "nvme_internal.h"

/* Fabrics and admin commands may carry up to 8 KiB in-capsule (TCP spec §3.3). */
#define NVME_TCP_ADMIN_ICD_MAX 8192u
/*
 * Receive buffer of a queue pair: one recv() takes what the socket holds
 * (many CapsuleResps and small C2HData PDUs), which the codec then parses
 * in one pass. Data regions at least NVME_TCP_ZCOPY_RECV_MIN long are read
 * straight into the caller's buffers instead.
 */
#define NVME_TCP_RBUF_SIZE 65536u
#define NVME_TCP_ZCOPY_RECV_MIN 8192u
/*
 * After a large data region, the next receive into the buffer asks for this
 * much only: enough for the CapsuleResp and the next C2HData header that
 * usually follow, little of the next large data region (which is copied out
 * of the buffer instead of being read straight into place).
 */
#define NVME_TCP_RBUF_AFTER_DIRECT 1024u

enum tcp_qpair_state {
	TCP_QP_IDLE = 0,
	TCP_QP_WAIT_ICRESP,
	TCP_QP_RUNNING,
	TCP_QP_FAILED,
};

struct tcp_req {
	struct osp_nvme_tcp_pdu cmd_pdu;
	struct osp_nvme_tcp_pdu h2c_pdu;
	struct osp_sock_request cmd_sreq;
	struct osp_sock_request h2c_sreq;
	struct osp_nvme_cpl cpl;
	/* Progress of one command: from sends on, zeroed at each submit. */
	uint32_t sends;	     /* socket writes not yet completed */
	bool resp_done;	     /* CapsuleResp (or C2HData with SUCCESS) received */
	bool ddgst_error;    /* a C2HData of this command failed its data digest */
	bool icd;	     /* the data went in-capsule */
	bool h2c_busy;	     /* h2c_pdu is queued on the socket */
	bool deferred;	     /* became complete during a submit's flush */
	uint32_t c2h_received;
	uint32_t h2c_sent;   /* data bytes queued in H2CData PDUs */
	uint32_t h2c_chunk;  /* bytes in h2c_pdu */
	uint32_t r2t_end;    /* end of the current R2T's range */
	uint16_t ttag;
};
_Static_assert(sizeof(struct tcp_req) <= NVME_REQUEST_TRANSPORT_CTX, "tcp_req fits the request");
#define TCP_REQ_PROGRESS_OFF offsetof(struct tcp_req, sends)

struct tcp_qpair {
	struct nvme_qpair q; /* first: the core casts */
	struct osp_sock *sock;
	struct osp_nvme_tcp_recv rx;
	enum tcp_qpair_state tstate;
	int fail_rc;
	struct osp_nvme_tcp_send_params sp;
	uint32_t maxh2cdata;
	/* In-capsule data limit of this queue's commands (from IOCCSZ on I/O queues). */
	uint32_t icd_max;
	uint8_t dgst_requested;
	struct osp_nvme_tcp_pdu ic_pdu;
	struct osp_sock_request ic_sreq;
	struct osp_nvme_tcp_pdu term_pdu;
	struct osp_sock_request term_sreq;
	uint32_t completions; /* in the current process call */
	uint32_t max_completions; /* of the current process call, 0: no limit */
	bool in_submit;	      /* flushing from a submit: no callbacks now */
	uint32_t deferred;    /* requests waiting for the next poll to complete */
	/* rbuf[rbuf_off .. rbuf_len) was received and not yet parsed. */
	uint8_t *rbuf;
	uint32_t rbuf_off;
	uint32_t rbuf_len;
	uint32_t rbuf_ask;   /* bytes the last recv asked for */
	bool last_direct;    /* the last read went straight into a data buffer */
	/*
	 * The last C2HData carried >= NVME_TCP_ZCOPY_RECV_MIN: large reads are
	 * streaming, so a receive into the buffer between two of them asks for
	 * NVME_TCP_RBUF_AFTER_DIRECT only (the next PDU's header and a little
	 * of its data), not for NVME_TCP_RBUF_SIZE (up to 64 KiB of its data,
	 * all of it then copied out of the buffer).
	 */
	bool big_c2h;
	/*
	 * Writes queued on the socket whose callback has not run yet: a poll
	 * with none skips osp_sock_flush() (most polls: an empty flush still
	 * walks the socket's request lists).
	 */
	uint32_t wr_pending;
	/* Transport counters: PDUs received; the counters of closed sockets. */
	uint64_t pdus_received;
	struct osp_sock_stats closed_sock_stats;
};

static inline struct tcp_qpair *
tqp_of(struct nvme_qpair *q)
{
	return (struct tcp_qpair *)q;
}

static inline struct tcp_req *
treq_of(struct nvme_request *req)
{
	return (struct tcp_req *)req->transport_ctx;
}

static int
tcp_port(const struct osp_nvme_transport_id *trid)
{
	uint64_t port;

	if (osp_parse_u64(trid->trsvcid, 10, &port) != 0 || port == 0 || port > 65535) {
		return -EINVAL;
	}
	return (int)port;
}

static int
tcp_ctrlr_check(const struct osp_nvme_transport_id *trid, const struct osp_nvme_ctrlr_opts *opts)
{
	if (trid->adrfam != OSP_NVMF_ADRFAM_IPV4 && trid->adrfam != OSP_NVMF_ADRFAM_IPV6) {
		OSP_ERRLOG("NVMe/TCP needs adrfam IPv4 or IPv6\n");
		return -EINVAL;
	}
	if (trid->traddr[0] == '\0' || tcp_port(trid) < 0) {
		OSP_ERRLOG("NVMe/TCP needs traddr and a trsvcid port (1-65535)\n");
		return -EINVAL;
	}
	return 0;
}

static uint32_t
tcp_ctrlr_max_xfer_size(struct osp_nvme_ctrlr *ctrlr)
{
	return OSP_NVME_MAX_XFER_SIZE;
}

/*
 * osp_iov_slice() of a request's data: [off, off + len) of req->iov into
 * iov (max elements). The usual single buffer takes no walk.
 */
static inline int
req_data_slice(const struct nvme_request *req, struct iovec *iov, int max, uint32_t off,
	       uint32_t len)
{
	if (req->iovcnt == 1 && len > 0 && (uint64_t)off + len <= req->iov[0].iov_len) {
		iov[0].iov_base = (uint8_t *)req->iov[0].iov_base + off;
		iov[0].iov_len = len;
		return 1;
	}
	return osp_iov_slice(iov, max, req->iov, req->iovcnt, off, len);
}

/* ------------------------------------------------------------ failing */

static void
tcp_fail(struct tcp_qpair *tqp, int rc)
{
	if (tqp->tstate == TCP_QP_FAILED) {
		return;
	}
	tqp->tstate = TCP_QP_FAILED;
	tqp->fail_rc = rc;
}

static void
term_sent_cb(void *arg, int err)
{
	struct tcp_qpair *tqp = arg;

	tqp->wr_pending--;
}

/* A protocol violation found by the receiver: tell the controller, then fail. */
static void
tcp_protocol_error(struct tcp_qpair *tqp)
{
	uint16_t fes;
	uint32_t fei;
	const void *hdr;
	size_t hdr_len;

	if (osp_nvme_tcp_recv_error(&tqp->rx, &fes, &fei, &hdr, &hdr_len) == 0) {
		OSP_ERRLOG("qpair %u: NVMe/TCP protocol error (FES 0x%x, FEI %u): sending "
			   "H2CTermReq\n", tqp->q.id, fes, fei);
		if (tqp->sock != NULL &&
		    osp_nvme_tcp_build_term_req(&tqp->term_pdu, OSP_NVME_TCP_ROLE_HOST, fes, fei,
						hdr, hdr_len) == 0) {
			tqp->term_sreq.cb_fn = term_sent_cb;
			tqp->term_sreq.cb_arg = tqp;
			tqp->term_sreq.iov = tqp->term_pdu.iov;
			tqp->term_sreq.iovcnt = tqp->term_pdu.iovcnt;
			if (osp_sock_writev_async(tqp->sock, &tqp->term_sreq) == 0) {
				tqp->wr_pending++;
				osp_sock_flush(tqp->sock);
			}
		}
	}
	tcp_fail(tqp, -EPROTO);
}

/* ------------------------------------------------------------ completion */

static void
tcp_req_try_complete(struct tcp_qpair *tqp, struct nvme_request *req)
{
	struct tcp_req *treq = treq_of(req);

	if (!req->active || !treq->resp_done || treq->sends != 0) {
		return;
	}
	if (tqp->in_submit) {
		/* Callbacks never run inside a submit (nvme.h): the next poll does it. */
		if (!treq->deferred) {
			treq->deferred = true;
			tqp->deferred++;
		}
		return;
	}
	treq->deferred = false;
	tqp->completions++;
	nvme_request_complete(req, &treq->cpl);
}

static void
cmd_sent_cb(void *arg, int err)
{
	struct nvme_request *req = arg;
	struct tcp_req *treq = treq_of(req);
	struct tcp_qpair *tqp = tqp_of(req->qpair);

	tqp->wr_pending--;
	treq->sends--;
	if (err != 0) {
		tcp_fail(tqp, err);
		return;
	}
	tcp_req_try_complete(tqp, req);
}

static void h2c_sent_cb(void *arg, int err);

static int
send_next_h2c(struct tcp_qpair *tqp, struct nvme_request *req)
{
	struct tcp_req *treq = treq_of(req);
	struct iovec iov[OSP_NVME_TCP_PDU_MAX_DATA_IOV];
	uint32_t chunk = OSP_MIN(tqp->maxh2cdata, treq->r2t_end - treq->h2c_sent);
	bool last = treq->h2c_sent + chunk == treq->r2t_end;
	int n, rc;

	n = req_data_slice(req, iov, OSP_NVME_TCP_PDU_MAX_DATA_IOV, treq->h2c_sent, chunk);
	if (n <= 0) {
		return -EINVAL;
	}
	rc = osp_nvme_tcp_build_h2c_data(&treq->h2c_pdu, &tqp->sp, req->cmd.cid, treq->ttag,
					 treq->h2c_sent, iov, n, last);
	if (rc != 0) {
		return rc;
	}
	treq->h2c_sreq.cb_fn = h2c_sent_cb;
	treq->h2c_sreq.cb_arg = req;
	treq->h2c_sreq.iov = treq->h2c_pdu.iov;
	treq->h2c_sreq.iovcnt = treq->h2c_pdu.iovcnt;
	rc = osp_sock_writev_async(tqp->sock, &treq->h2c_sreq);
	if (rc != 0) {
		return rc;
	}
	tqp->wr_pending++;
	treq->sends++;
	treq->h2c_busy = true;
	treq->h2c_chunk = chunk;
	treq->h2c_sent += chunk;
	return 0;
}

static void
h2c_sent_cb(void *arg, int err)
{
	struct nvme_request *req = arg;
	struct tcp_req *treq = treq_of(req);
	struct tcp_qpair *tqp = tqp_of(req->qpair);

	tqp->wr_pending--;
	treq->sends--;
	treq->h2c_busy = false;
	if (err != 0) {
		tcp_fail(tqp, err);
		return;
	}
	/* A response that came early (an error) ends the transfer: send no more. */
	if (tqp->tstate == TCP_QP_RUNNING && !treq->resp_done &&
	    treq->h2c_sent < treq->r2t_end) {
		if (send_next_h2c(tqp, req) != 0) {
			tcp_fail(tqp, -EIO);
		}
		return;
	}
	tcp_req_try_complete(tqp, req);
}

/* ------------------------------------------------------------ receive callbacks */

static int
tcp_hdr_fn(struct osp_nvme_tcp_recv *r, void *cb_arg, const union osp_nvme_tcp_pdu_hdr *hdr,
	   uint32_t data_len, struct iovec *iov, int *iovcnt)
{
	struct tcp_qpair *tqp = cb_arg;
	const struct osp_nvme_tcp_c2h_data_hdr *c2h = &hdr->c2h_data;
	struct nvme_request *req;
	struct tcp_req *treq;
	int n;

	if (hdr->ch.pdu_type != OSP_NVME_TCP_PDU_TYPE_C2H_DATA) {
		return osp_nvme_tcp_recv_fail(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 0);
	}
	req = nvme_qpair_get_active_request(&tqp->q, c2h->cccid);
	if (req == NULL || req->host_to_ctrlr || req->payload_size == 0) {
		OSP_ERRLOG("qpair %u: C2HData for cid %u which expects no data\n", tqp->q.id,
			   c2h->cccid);
		return osp_nvme_tcp_recv_fail(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
					      offsetof(struct osp_nvme_tcp_c2h_data_hdr, cccid));
	}
	treq = treq_of(req);
	/* In order and within the command's buffer (TCP spec §3.6.2.6/7). */
	if (treq->resp_done || c2h->datao != treq->c2h_received ||
	    (uint64_t)c2h->datao + data_len > req->payload_size) {
		OSP_ERRLOG("qpair %u: C2HData cid %u offset %u length %u outside the %u-byte "
			   "buffer (%u received)\n", tqp->q.id, c2h->cccid, c2h->datao, data_len,
			   req->payload_size, treq->c2h_received);
		return osp_nvme_tcp_recv_fail(r, OSP_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, 0);
	}
	n = req_data_slice(req, iov, *iovcnt, c2h->datao, data_len);
	if (n <= 0) {
		return osp_nvme_tcp_recv_fail(r, OSP_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, 0);
	}
	*iovcnt = n;
	tqp->big_c2h = data_len >= NVME_TCP_ZCOPY_RECV_MIN;
	return 0;
}

static int
tcp_handle_icresp(struct tcp_qpair *tqp, const struct osp_nvme_tcp_ic_resp *ic)
{
	bool hdgst = ic->dgst & OSP_NVME_TCP_DGST_HDGST_ENABLE;
	bool ddgst = ic->dgst & OSP_NVME_TCP_DGST_DDGST_ENABLE;

	/* The codec checked PFV, CPDA <= 31 and MAXH2CDATA (>= 4096, multiple of 4). */
	if (tqp->tstate != TCP_QP_WAIT_ICRESP) {
		return osp_nvme_tcp_recv_fail(&tqp->rx, OSP_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
	}
	if (ic->dgst != tqp->dgst_requested) {
		OSP_ERRLOG("qpair %u: controller answered digests 0x%x to our request 0x%x\n",
			   tqp->q.id, ic->dgst, tqp->dgst_requested);
		return osp_nvme_tcp_recv_fail(&tqp->rx, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
					      OSP_NVME_TCP_IC_OFF_DGST);
	}
	if (osp_nvme_tcp_recv_set_params(&tqp->rx, hdgst, ddgst, 0) != 0) {
		return -EPROTO;
	}
	tqp->sp.hdgst = hdgst;
	tqp->sp.ddgst = ddgst;
	tqp->sp.pda = ic->cpda;
	tqp->maxh2cdata = ic->maxh2cdata;
	tqp->tstate = TCP_QP_RUNNING;
	return 0;
}

static int tcp_done_pdu(struct osp_nvme_tcp_recv *r, struct tcp_qpair *tqp,
			const union osp_nvme_tcp_pdu_hdr *hdr, uint32_t data_len, bool ddgst_ok);

/* Pauses the receiver once the poll's completion budget is spent (the rest stays buffered). */
static int
tcp_done_fn(struct osp_nvme_tcp_recv *r, void *cb_arg, const union osp_nvme_tcp_pdu_hdr *hdr,
	    uint32_t data_len, bool ddgst_ok)
{
	struct tcp_qpair *tqp = cb_arg;
	int rc = tcp_done_pdu(r, tqp, hdr, data_len, ddgst_ok);

	if (rc == 0 && tqp->max_completions != 0 && tqp->completions >= tqp->max_completions) {
		return -EAGAIN;
	}
	return rc;
}

static int
tcp_done_pdu(struct osp_nvme_tcp_recv *r, struct tcp_qpair *tqp,
	     const union osp_nvme_tcp_pdu_hdr *hdr, uint32_t data_len, bool ddgst_ok)
{
	struct nvme_request *req;
	struct tcp_req *treq;

	tqp->pdus_received++;
	switch (hdr->ch.pdu_type) {
	case OSP_NVME_TCP_PDU_TYPE_IC_RESP:
		return tcp_handle_icresp(tqp, &hdr->ic_resp);

	case OSP_NVME_TCP_PDU_TYPE_C2H_TERM_REQ:
		OSP_ERRLOG("qpair %u: controller terminated the connection (C2HTermReq FES 0x%x "
			   "FEI %u)\n", tqp->q.id, hdr->term_req.fes, hdr->term_req.fei);
		tcp_fail(tqp, -ECONNRESET);
		return -ECONNRESET;

	case OSP_NVME_TCP_PDU_TYPE_CAPSULE_RESP: {
		const struct osp_nvme_cpl *cpl = &hdr->capsule_resp.rccqe;

		req = nvme_qpair_get_active_request(&tqp->q, cpl->cid);
		if (req == NULL) {
			OSP_ERRLOG("qpair %u: CapsuleResp for unknown cid %u\n", tqp->q.id, cpl->cid);
			return osp_nvme_tcp_recv_fail(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
						      offsetof(struct osp_nvme_tcp_rsp, rccqe) +
						      offsetof(struct osp_nvme_cpl, cid));
		}
		treq = treq_of(req);
		if (treq->resp_done) {
			return osp_nvme_tcp_recv_fail(r, OSP_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
		}
		treq->cpl = *cpl;
		if (treq->ddgst_error && !osp_nvme_cpl_is_error(cpl)) {
			osp_nvme_cpl_set_status(&treq->cpl, OSP_NVME_SCT_GENERIC,
						OSP_NVME_SC_TRANSIENT_TRANSPORT_ERROR, false);
		}
		treq->resp_done = true;
		tcp_req_try_complete(tqp, req);
		return 0;
	}

	case OSP_NVME_TCP_PDU_TYPE_C2H_DATA: {
		const struct osp_nvme_tcp_c2h_data_hdr *c2h = &hdr->c2h_data;

		req = nvme_qpair_get_active_request(&tqp->q, c2h->cccid);
		if (req == NULL) {
			return osp_nvme_tcp_recv_fail(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
						      offsetof(struct osp_nvme_tcp_c2h_data_hdr,
							       cccid));
		}
		treq = treq_of(req);
		treq->c2h_received += data_len;
		if (!ddgst_ok) {
			OSP_ERRLOG("qpair %u: data digest error in C2HData for cid %u\n", tqp->q.id,
				   c2h->cccid);
			treq->ddgst_error = true;
		}
		if (c2h->ch.flags & OSP_NVME_TCP_C2H_DATA_FLAGS_SUCCESS) {
			if (treq->c2h_received != req->payload_size) {
				OSP_ERRLOG("qpair %u: C2HData SUCCESS for cid %u after %u of %u bytes\n",
					   tqp->q.id, c2h->cccid, treq->c2h_received,
					   req->payload_size);
				return osp_nvme_tcp_recv_fail(r,
							      OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
							      OSP_NVME_TCP_CH_OFF_FLAGS);
			}
			nvme_cpl_set_status(&treq->cpl, req, OSP_NVME_SCT_GENERIC,
					    treq->ddgst_error ? OSP_NVME_SC_TRANSIENT_TRANSPORT_ERROR :
					    OSP_NVME_SC_SUCCESS);
			treq->resp_done = true;
			tcp_req_try_complete(tqp, req);
		}
		return 0;
	}

	case OSP_NVME_TCP_PDU_TYPE_R2T: {
		const struct osp_nvme_tcp_r2t_hdr *r2t = &hdr->r2t;

		req = nvme_qpair_get_active_request(&tqp->q, r2t->cccid);
		if (req == NULL || !req->host_to_ctrlr || req->payload_size == 0 ||
		    treq_of(req)->icd) {
			OSP_ERRLOG("qpair %u: R2T for cid %u which has no data to send\n", tqp->q.id,
				   r2t->cccid);
			return osp_nvme_tcp_recv_fail(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
						      offsetof(struct osp_nvme_tcp_r2t_hdr, cccid));
		}
		treq = treq_of(req);
		/* One R2T at a time (MAXR2T), in order, inside the buffer. */
		if (treq->resp_done || treq->h2c_sent != treq->r2t_end ||
		    r2t->r2to != treq->h2c_sent ||
		    (uint64_t)r2t->r2to + r2t->r2tl > req->payload_size) {
			OSP_ERRLOG("qpair %u: R2T cid %u offset %u length %u not expected (%u of %u "
				   "sent)\n", tqp->q.id, r2t->cccid, r2t->r2to, r2t->r2tl,
				   treq->h2c_sent, req->payload_size);
			return osp_nvme_tcp_recv_fail(r, OSP_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE,
						      0);
		}
		treq->ttag = r2t->ttag;
		treq->r2t_end = r2t->r2to + r2t->r2tl;
		if (!treq->h2c_busy && send_next_h2c(tqp, req) != 0) {
			tcp_fail(tqp, -EIO);
			return -EIO;
		}
		return 0;
	}

	default:
		return osp_nvme_tcp_recv_fail(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 0);
	}
}

/* ------------------------------------------------------------ qpair ops */

static struct nvme_qpair *
tcp_qpair_create(struct osp_nvme_ctrlr *ctrlr, uint16_t qid, uint32_t qsize)
{
	struct tcp_qpair *tqp = calloc(1, sizeof(*tqp));

	if (tqp == NULL) {
		return NULL;
	}
	if (nvme_qpair_init(&tqp->q, ctrlr, ctrlr->ops, qid, qsize) != 0) {
		free(tqp);
		return NULL;
	}
	return &tqp->q;
}

static void
tcp_qpair_destroy(struct nvme_qpair *q)
{
	struct tcp_qpair *tqp = tqp_of(q);

	if (tqp->sock != NULL) {
		osp_sock_close(&tqp->sock);
	}
	nvme_qpair_fini(q);
	free(tqp->rbuf);
	free(tqp);
}

static void
ic_sent_cb(void *arg, int err)
{
	struct tcp_qpair *tqp = arg;

	tqp->wr_pending--;
	if (err != 0) {
		tcp_fail(arg, err);
	}
}

static void tcp_sock_stats_keep(struct tcp_qpair *tqp);

/*
 * The ctrlr's priority and source address (hostaddr/hostsvcid) into the
 * socket options: the queue with QID qid binds src_svcid + qid, as one
 * local port carries one connection to the target's port.
 */
static int
tcp_source_opts(struct osp_nvme_ctrlr *ctrlr, uint16_t qid, struct osp_sock_opts *so)
{
	uint64_t port = 0;

	so->priority = ctrlr->trid.priority;
	if (ctrlr->opts.src_svcid[0] != '\0' &&
	    (osp_parse_u64(ctrlr->opts.src_svcid, 10, &port) != 0 || port + qid > 65535)) {
		OSP_ERRLOG("qpair %u: source port %s + QID %u is not a port number\n", qid,
			   ctrlr->opts.src_svcid, qid);
		return -EINVAL;
	}
	if (strlen(ctrlr->opts.src_addr) >= sizeof(so->src_addr)) {
		OSP_ERRLOG("source address '%.64s' is too long\n", ctrlr->opts.src_addr);
		return -EINVAL;
	}
	snprintf(so->src_addr, sizeof(so->src_addr), "%s", ctrlr->opts.src_addr);
	so->src_port = port != 0 ? (uint16_t)(port + qid) : 0;
	return 0;
}

static int
tcp_qpair_connect(struct nvme_qpair *q)
{
	struct tcp_qpair *tqp = tqp_of(q);
	struct osp_nvme_ctrlr *ctrlr = q->ctrlr;
	struct osp_nvme_tcp_recv_opts ro;
	struct osp_sock_opts so;
	ssize_t fl;
	int rc, port;

	if (tqp->sock != NULL) {
		tcp_sock_stats_keep(tqp);
		osp_sock_close(&tqp->sock);
	}
	port = tcp_port(&ctrlr->trid);
	if (port < 0) {
		return -EINVAL;
	}
	if (tqp->rbuf == NULL) {
		/* Once per queue pair (kept across reconnects), never per I/O. */
		tqp->rbuf = malloc(NVME_TCP_RBUF_SIZE);
		if (tqp->rbuf == NULL) {
			return -ENOMEM;
		}
	}
	if (q->id == 0) {
		tqp->icd_max = NVME_TCP_ADMIN_ICD_MAX;
	} else {
		/* The controller was identified before its I/O queues connect. */
		uint32_t ioccsz = ctrlr->cdata.ioccsz;

		tqp->icd_max = ioccsz >= 4 ? (uint32_t)OSP_MIN((uint64_t)ioccsz * 16 - 64,
							       (uint64_t)OSP_NVME_MAX_XFER_SIZE) : 0;
	}
	tqp->rbuf_off = tqp->rbuf_len = 0;
	tqp->last_direct = false;
	tqp->big_c2h = false;
	osp_sock_get_default_opts(&so, sizeof(so));
	so.connect_timeout_ms = 0; /* non-blocking: progress is polled */
	so.recv_pipe = false;	   /* tcp_rx reads into the qpair's own buffer */
	rc = tcp_source_opts(ctrlr, q->id, &so);
	if (rc != 0) {
		return rc;
	}
	tqp->sock = osp_sock_connect(ctrlr->trid.traddr, port, NULL, &so);
	if (tqp->sock == NULL) {
		return -errno;
	}
	memset(&ro, 0, sizeof(ro));
	ro.role = OSP_NVME_TCP_ROLE_HOST;
	ro.max_c2h_data = OSP_NVME_MAX_XFER_SIZE;
	ro.hdr_fn = tcp_hdr_fn;
	ro.done_fn = tcp_done_fn;
	ro.cb_arg = tqp;
	rc = osp_nvme_tcp_recv_init(&tqp->rx, &ro);
	if (rc != 0) {
		osp_sock_close(&tqp->sock);
		return rc;
	}
	tqp->dgst_requested = (ctrlr->opts.header_digest ? OSP_NVME_TCP_DGST_HDGST_ENABLE : 0) |
			      (ctrlr->opts.data_digest ? OSP_NVME_TCP_DGST_DDGST_ENABLE : 0);
	/* MAXR2T 0 (one R2T per command): the R2T handling below relies on it. */
	rc = osp_nvme_tcp_build_ic_req(&tqp->ic_pdu, 0, tqp->dgst_requested, 0);
	if (rc != 0) {
		osp_sock_close(&tqp->sock);
		return rc;
	}
	tqp->ic_sreq.cb_fn = ic_sent_cb;
	tqp->ic_sreq.cb_arg = tqp;
	tqp->ic_sreq.iov = tqp->ic_pdu.iov;
	tqp->ic_sreq.iovcnt = tqp->ic_pdu.iovcnt;
	tqp->fail_rc = 0;
	tqp->tstate = TCP_QP_WAIT_ICRESP;
	memset(&tqp->sp, 0, sizeof(tqp->sp));
	rc = osp_sock_writev_async(tqp->sock, &tqp->ic_sreq);
	if (rc != 0) {
		osp_sock_close(&tqp->sock);
		tqp->tstate = TCP_QP_IDLE;
		return rc;
	}
	tqp->wr_pending++;
	/* Usually still in the handshake: the send then happens on a later poll. */
	fl = osp_sock_flush(tqp->sock);
	if (fl < 0 && fl != -EAGAIN) {
		osp_sock_close(&tqp->sock);
		tqp->tstate = TCP_QP_IDLE;
		return (int)fl;
	}
	return 0;
}

/* A receive failure: a protocol violation gets a TermReq first. */
static void
tcp_rx_error(struct tcp_qpair *tqp, int rc)
{
	if (rc == -EPROTO) {
		tcp_protocol_error(tqp);
	} else {
		tcp_fail(tqp, rc);
	}
}

/*
 * Read and handle PDUs: one recv() into the queue pair's buffer, parsed in
 * one pass (callbacks run from the codec), or a readv() straight into the
 * caller's buffer when the codec waits for a large data region. A recv that
 * did not fill the buffer emptied the socket: no second call just to hear
 * EAGAIN, the next poll reads what arrives meanwhile.
 */
static void
tcp_rx(struct tcp_qpair *tqp)
{
	struct iovec iov[OSP_NVME_TCP_RECV_MAX_IOV];
	bool direct;
	ssize_t n;
	int cnt = 0, rc;

	while (tqp->tstate != TCP_QP_FAILED) {
		if (tqp->rbuf_off < tqp->rbuf_len) {
			n = osp_nvme_tcp_recv_feed(&tqp->rx, tqp->rbuf + tqp->rbuf_off,
						   tqp->rbuf_len - tqp->rbuf_off);
			if (n < 0) {
				tcp_rx_error(tqp, (int)n);
				return;
			}
			tqp->rbuf_off += (uint32_t)n;
			if (tqp->rbuf_off < tqp->rbuf_len) {
				return; /* paused: completion budget spent, or waiting for params */
			}
			if (tqp->rbuf_len < tqp->rbuf_ask) {
				return; /* the socket held no more than that */
			}
			continue;
		}
		if (tqp->max_completions != 0 && tqp->completions >= tqp->max_completions) {
			return;
		}
		/* Between PDUs (every idle poll): the next read goes to the buffer. */
		direct = false;
		if (!osp_nvme_tcp_recv_at_pdu_start(&tqp->rx)) {
			cnt = osp_nvme_tcp_recv_next_iov(&tqp->rx, iov, OSP_NVME_TCP_RECV_MAX_IOV);
			if (cnt < 0) {
				tcp_rx_error(tqp, cnt);
				return;
			}
			if (cnt == 0) {
				return; /* paused */
			}
			direct = osp_iov_len(iov, cnt) >= NVME_TCP_ZCOPY_RECV_MIN;
		}
		if (direct) {
			n = osp_sock_readv(tqp->sock, iov, cnt);
		} else {
			tqp->rbuf_off = tqp->rbuf_len = 0;
			tqp->rbuf_ask = tqp->last_direct || tqp->big_c2h ?
					NVME_TCP_RBUF_AFTER_DIRECT : NVME_TCP_RBUF_SIZE;
			n = osp_sock_recv(tqp->sock, tqp->rbuf, tqp->rbuf_ask);
		}
		if (n == -EAGAIN) {
			return;
		}
		if (n == 0) {
			OSP_ERRLOG("qpair %u: controller closed the connection\n", tqp->q.id);
			tcp_fail(tqp, -ECONNRESET);
			return;
		}
		if (n < 0) {
			if (tqp->tstate == TCP_QP_WAIT_ICRESP && n == -ENOTCONN) {
				return; /* handshake still in progress */
			}
			tcp_fail(tqp, (int)n);
			return;
		}
		tqp->last_direct = direct;
		if (direct) {
			rc = osp_nvme_tcp_recv_commit(&tqp->rx, (size_t)n);
			if (rc < 0) {
				tcp_rx_error(tqp, rc);
				return;
			}
			if ((size_t)n < osp_iov_len(iov, cnt)) {
				return; /* the socket is empty for now */
			}
			continue;
		}
		tqp->rbuf_len = (uint32_t)n;
	}
}

/* Send what is queued, then read and handle PDUs, then send what they queued. */
static int
tcp_poll(struct tcp_qpair *tqp, uint32_t max)
{
	ssize_t n;

	if (tqp->tstate == TCP_QP_FAILED || tqp->sock == NULL) {
		return -ENXIO;
	}
	/* What an earlier flush left (the socket buffer was full). */
	if (tqp->wr_pending != 0) {
		n = osp_sock_flush(tqp->sock);
		if (n < 0 && n != -EAGAIN) {
			tcp_fail(tqp, (int)n);
			return -ENXIO;
		}
	}
	if (tqp->deferred != 0) {
		uint32_t i;

		tqp->deferred = 0;
		for (i = 0; i < tqp->q.num_reqs; i++) {
			struct nvme_request *req = &tqp->q.reqs[i];

			if (req->active && treq_of(req)->deferred) {
				treq_of(req)->deferred = false;
				tcp_req_try_complete(tqp, req);
			}
		}
	}
	tqp->max_completions = max;
	tcp_rx(tqp);
	tqp->max_completions = 0;
	if (tqp->tstate == TCP_QP_FAILED) {
		return -ENXIO;
	}
	/* Writes queued by callbacks (R2T data, new commands) go out now. */
	if (tqp->wr_pending != 0) {
		n = osp_sock_flush(tqp->sock);
		if (n < 0 && n != -EAGAIN) {
			tcp_fail(tqp, (int)n);
			return -ENXIO;
		}
	}
	return 0;
}

static int
tcp_qpair_connect_poll(struct nvme_qpair *q)
{
	struct tcp_qpair *tqp = tqp_of(q);

	if (tqp->tstate == TCP_QP_RUNNING) {
		return 0;
	}
	if (tqp->tstate != TCP_QP_WAIT_ICRESP) {
		return tqp->fail_rc ? tqp->fail_rc : -ENXIO;
	}
	tqp->completions = 0;
	if (tcp_poll(tqp, 0) < 0) {
		int rc = tqp->fail_rc ? tqp->fail_rc : -ENXIO;

		nvme_set_connect_error(&q->connect_err, rc,
				       rc == -EPROTO ? "icresp" : "tcp connect", NULL);
		return rc;
	}
	return tqp->tstate == TCP_QP_RUNNING ? 0 : -EAGAIN;
}

/* Add the socket's counters to the closed sockets' (before closing it). */
static void
tcp_sock_stats_keep(struct tcp_qpair *tqp)
{
	struct osp_sock_stats st;
	struct osp_sock_stats *acc = &tqp->closed_sock_stats;

	if (osp_sock_get_stats(tqp->sock, &st) == 0) {
		acc->send_requests += st.send_requests;
		acc->sends += st.sends;
		acc->bytes_sent += st.bytes_sent;
		acc->receives += st.receives;
		acc->bytes_received += st.bytes_received;
	}
}

static int
tcp_qpair_get_transport_stats(struct nvme_qpair *q, struct osp_nvme_qpair_transport_stats *stats)
{
	struct tcp_qpair *tqp = tqp_of(q);
	struct osp_sock_stats st = tqp->closed_sock_stats;
	struct osp_sock_stats cur;

	if (tqp->sock != NULL && osp_sock_get_stats(tqp->sock, &cur) == 0) {
		st.send_requests += cur.send_requests;
		st.sends += cur.sends;
		st.bytes_sent += cur.bytes_sent;
		st.receives += cur.receives;
		st.bytes_received += cur.bytes_received;
	}
	stats->pdus_received = tqp->pdus_received;
	stats->send_requests = st.send_requests;
	stats->sends = st.sends;
	stats->bytes_sent = st.bytes_sent;
	stats->receives = st.receives;
	stats->bytes_received = st.bytes_received;
	return 0;
}

static void
tcp_qpair_disconnect(struct nvme_qpair *q)
{
	struct tcp_qpair *tqp = tqp_of(q);

	if (tqp->sock != NULL) {
		tcp_sock_stats_keep(tqp);
		/* Queued writes complete with -ECANCELED from here. */
		osp_sock_close(&tqp->sock);
	}
	if (tqp->tstate != TCP_QP_FAILED) {
		tqp->tstate = TCP_QP_IDLE;
	}
}

static int
tcp_qpair_submit_request(struct nvme_qpair *q, struct nvme_request *req)
{
	struct tcp_qpair *tqp = tqp_of(q);
	struct tcp_req *treq = treq_of(req);
	struct osp_nvme_sgl_descriptor sgl;
	struct iovec iov[OSP_NVME_TCP_PDU_MAX_DATA_IOV];
	uint32_t icd_max;
	int n = 0, rc;

	if (tqp->tstate != TCP_QP_RUNNING || tqp->sock == NULL) {
		return -ENXIO;
	}
	/* The PDUs are rebuilt whole by the builders: only the progress is reset. */
	memset((uint8_t *)treq + TCP_REQ_PROGRESS_OFF, 0, sizeof(*treq) - TCP_REQ_PROGRESS_OFF);

	icd_max = req->cmd.opc == OSP_NVMF_FABRIC_OPCODE ? NVME_TCP_ADMIN_ICD_MAX : tqp->icd_max;
	memset(&sgl, 0, sizeof(sgl));
	sgl.unkeyed.length = req->payload_size;
	if (req->host_to_ctrlr && req->payload_size > 0 && req->payload_size <= icd_max) {
		n = req_data_slice(req, iov, OSP_NVME_TCP_PDU_MAX_DATA_IOV, 0, req->payload_size);
	}
	if (n > 0) {
		treq->icd = true;
		sgl.unkeyed.type = OSP_NVME_SGL_TYPE_DATA_BLOCK;
		sgl.unkeyed.subtype = OSP_NVME_SGL_SUBTYPE_OFFSET;
	} else {
		n = 0;
		sgl.unkeyed.type = OSP_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
		sgl.unkeyed.subtype = OSP_NVME_SGL_SUBTYPE_TRANSPORT;
	}
	/* SGL1 occupies the DPTR field, bytes 24-39 of the SQE. */
	memcpy((uint8_t *)&req->cmd + offsetof(struct osp_nvme_cmd, prp1), &sgl, sizeof(sgl));
	rc = osp_nvme_tcp_build_capsule_cmd(&treq->cmd_pdu, &tqp->sp, &req->cmd, n ? iov : NULL, n);
	if (rc != 0) {
		return rc;
	}
	treq->cmd_sreq.cb_fn = cmd_sent_cb;
	treq->cmd_sreq.cb_arg = req;
	treq->cmd_sreq.iov = treq->cmd_pdu.iov;
	treq->cmd_sreq.iovcnt = treq->cmd_pdu.iovcnt;
	rc = osp_sock_writev_async(tqp->sock, &treq->cmd_sreq);
	if (rc != 0) {
		return rc;
	}
	tqp->wr_pending++;
	treq->sends = 1;
	if (!q->in_completions) {
		/* Outside a poll nobody would send it until the next one. */
		ssize_t fl;

		tqp->in_submit = true;
		fl = osp_sock_flush(tqp->sock);
		tqp->in_submit = false;

		if (fl < 0 && fl != -EAGAIN) {
			tcp_fail(tqp, (int)fl);
		}
	}
	return 0;
}

static int32_t
tcp_qpair_process_completions(struct nvme_qpair *q, uint32_t max)
{
	struct tcp_qpair *tqp = tqp_of(q);

	tqp->completions = 0;
	if (tcp_poll(tqp, max) < 0) {
		return -ENXIO;
	}
	return (int32_t)tqp->completions;
}

struct nvme_transport_ops g_nvme_tcp_ops = {
	.name = "TCP",
	.trtype = OSP_NVME_TRANSPORT_TCP,
	.ctrlr_check = tcp_ctrlr_check,
	.ctrlr_max_xfer_size = tcp_ctrlr_max_xfer_size,
	.qpair_create = tcp_qpair_create,
	.qpair_destroy = tcp_qpair_destroy,
	.qpair_connect = tcp_qpair_connect,
	.qpair_connect_poll = tcp_qpair_connect_poll,
	.qpair_disconnect = tcp_qpair_disconnect,
	.qpair_get_transport_stats = tcp_qpair_get_transport_stats,
	.qpair_submit_request = tcp_qpair_submit_request,
	.qpair_process_completions = tcp_qpair_process_completions,
};
