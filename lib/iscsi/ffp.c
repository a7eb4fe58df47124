/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The full feature phase (RFC 7143 3.2, 11): SCSI Command / Response with
 * sense and residuals, Data-In (zero copy from the SCSI layer's buffers,
 * status collapsed into the last Data-In when there is no sense), R2T and
 * Data-Out (several R2Ts outstanding, DataSN / R2TSN / buffer offsets
 * checked), immediate and unsolicited data, NOP-Out / NOP-In both ways,
 * Task Management, Text (SendTargets and MaxRecvDataSegmentLength
 * renegotiation, long answers continued), Logout, Async Message and Reject.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "osprey/env.h"
#include "osprey/iov.h"
#include "osprey/log.h"
#include "osprey/util.h"

#include "iscsi_internal.h"

/* SPC-4 sense key and additional sense code of commands refused before execution. */
#define SENSE_ILLEGAL_REQUEST	0x05
#define ASC_INVALID_FIELD_IN_CDB	0x24
#define SENSE_ABORTED_COMMAND	0x0b
#define ASC_DATA_PHASE_ERROR	0x4b
#define ASC_INVALID_FIELD_IN_CMD_IU	0x0e
#define ASCQ_INVALID_FIELD_IN_CMD_IU	0x03

/* ---- sequence numbers ---- */

void
iscsi_fill_sn(struct iscsi_conn *conn, uint32_t *statsn, uint32_t *exp_cmdsn, uint32_t *max_cmdsn,
	      bool advance)
{
	struct iscsi_session *sess = conn->sess;

	*statsn = htobe32(advance ? conn->statsn++ : conn->statsn);
	if (sess != NULL) {
		*exp_cmdsn = htobe32(sess->exp_cmdsn);
		*max_cmdsn = htobe32(iscsi_session_max_cmdsn(sess));
	}
}

/* SAM LUN number from the 8-byte LUN field (SAM-5 4.7); invalid forms map out of range. */
static uint64_t
lun_decode(const uint8_t lun[8])
{
	int i;

	for (i = 2; i < 8; i++) {
		if (lun[i] != 0) {
			return UINT64_MAX;
		}
	}
	switch (lun[0] >> 6) {
	case 0:	/* peripheral device addressing: bus 0 only */
		return lun[0] == 0 ? lun[1] : UINT64_MAX;
	case 1:	/* flat space addressing */
		return ((uint64_t)(lun[0] & 0x3f) << 8) | lun[1];
	default:
		return UINT64_MAX;
	}
}

/* ---- Reject ---- */

void
iscsi_conn_reject(struct iscsi_conn *conn, uint8_t reason)
{
	struct iscsi_pdu *pdu = iscsi_pdu_get(conn, true);
	struct iscsi_bhs_reject *rej;

	if (pdu == NULL) {
		return;
	}
	rej = (struct iscsi_bhs_reject *)&pdu->hdr.bhs;
	rej->opcode = ISCSI_OP_REJECT;
	rej->flags = ISCSI_FLAG_FINAL;
	rej->reason = reason;
	rej->itt = ISCSI_RSVD_TAG;
	iscsi_fill_sn(conn, &rej->statsn, &rej->exp_cmdsn, &rej->max_cmdsn, false);
	memcpy(pdu->inline_data, conn->rx_bhs.raw, ISCSI_BHS_LEN);
	OSP_DEBUGLOG(iscsi, "reject opcode 0x%02x reason 0x%02x\n",
		     conn->rx_bhs.bhs.opcode & ISCSI_OPCODE_MASK, reason);
	iscsi_conn_send_pdu(conn, pdu, pdu->inline_data, ISCSI_BHS_LEN);
}

/* A protocol error ERL 0 cannot recover from: Reject, then the connection ends. */
static void
protocol_error(struct iscsi_conn *conn, uint8_t reason, const char *why)
{
	iscsi_conn_reject(conn, reason);
	iscsi_conn_drop(conn, why);
}

/* ---- requests ---- */

static struct iscsi_req *
req_get(struct iscsi_conn *conn)
{
	struct iscsi_req *req = TAILQ_FIRST(&conn->free_reqs);

	if (req == NULL) {
		return NULL;
	}
	TAILQ_REMOVE(&conn->free_reqs, req, link);
	memset((char *)req + offsetof(struct iscsi_req, state), 0,
	       offsetof(struct iscsi_req, bufs) - offsetof(struct iscsi_req, state));
	req->conn = conn;
	conn->reqs_out++;
	TAILQ_INSERT_TAIL(&conn->active_reqs, req, link);
	return req;
}

static void
req_window_release(struct iscsi_req *req)
{
	struct iscsi_session *sess = req->conn->sess;

	if (req->counted && sess != NULL) {
		req->counted = false;
		sess->window_used--;
	}
}

void
iscsi_req_release(struct iscsi_req *req)
{
	struct iscsi_conn *conn = req->conn;
	uint32_t i;

	if (req->waiting) {
		TAILQ_REMOVE(&conn->tx_wait, req, wait_link);
		req->waiting = false;
	}
	if (req->ahead && conn->sess != NULL) {
		TAILQ_REMOVE(&conn->sess->ahead_reqs, req, ahead_link);
		req->ahead = false;
	}
	req_window_release(req);
	for (i = 0; i < req->nbufs; i++) {
		osp_iobuf_put(&conn->pg->iobuf, req->bufs[i]);
	}
	req->nbufs = 0;
	if (req->task_done) {
		osp_scsi_task_put(&req->task);
	}
	req->state = ISCSI_REQ_FREE;
	TAILQ_REMOVE(&conn->active_reqs, req, link);
	TAILQ_INSERT_HEAD(&conn->free_reqs, req, link);
	conn->reqs_out--;
	if (conn->state == ISCSI_CONN_EXITING) {
		iscsi_conn_free_if_done(conn);
	}
}

static void
req_maybe_release(struct iscsi_req *req)
{
	if (req->pdus_out == 0 && !req->waiting &&
	    (req->aborted ? (req->state != ISCSI_REQ_EXEC) : req->state == ISCSI_REQ_SENT)) {
		iscsi_req_release(req);
	}
}

void
iscsi_req_pdu_sent(struct iscsi_req *req, struct iscsi_pdu *pdu, int err)
{
	(void)pdu;
	(void)err;
	req->pdus_out--;
	req_maybe_release(req);
}

void
iscsi_conn_abort_reqs(struct iscsi_conn *conn)
{
	struct iscsi_req *req, *tmp;

	TAILQ_FOREACH_SAFE(req, &conn->active_reqs, link, tmp) {
		req->aborted = true;
		if (req->waiting) {
			TAILQ_REMOVE(&conn->tx_wait, req, wait_link);
			req->waiting = false;
		}
		req_maybe_release(req);
	}
}

/* ---- responses ---- */

static void
residual(const struct iscsi_req *req, uint8_t *flags, uint32_t *res)
{
	const struct osp_scsi_task *t = &req->task;

	if (t->data_wanted > req->edtl) {
		*flags |= ISCSI_RSP_FLAG_OVERFLOW;
		*res = htobe32(t->data_wanted - req->edtl);
	} else if (t->data_transferred < req->edtl) {
		*flags |= ISCSI_RSP_FLAG_UNDERFLOW;
		*res = htobe32(req->edtl - t->data_transferred);
	} else {
		*res = 0;
	}
}

/* The SCSI Response; false if no PDU is free now (the request waits). */
static bool
send_scsi_rsp(struct iscsi_req *req)
{
	struct iscsi_conn *conn = req->conn;
	struct iscsi_pdu *pdu = iscsi_pdu_get(conn, false);
	struct iscsi_bhs_scsi_rsp *rsp;
	uint32_t len = 0;

	if (pdu == NULL) {
		return false;
	}
	rsp = (struct iscsi_bhs_scsi_rsp *)&pdu->hdr.bhs;
	rsp->opcode = ISCSI_OP_SCSI_RSP;
	rsp->flags = ISCSI_FLAG_FINAL;
	rsp->response = ISCSI_RSP_COMPLETED;
	rsp->status = req->task.status;
	rsp->itt = htobe32(req->itt);
	req_window_release(req);
	iscsi_fill_sn(conn, &rsp->statsn, &rsp->exp_cmdsn, &rsp->max_cmdsn, true);
	rsp->exp_datasn = htobe32(req->datasn);
	residual(req, &rsp->flags, &rsp->residual);
	if (req->task.sense_len > 0) {
		len = 2u + req->task.sense_len;
		pdu->inline_data[0] = 0;
		pdu->inline_data[1] = req->task.sense_len;
		memcpy(&pdu->inline_data[2], req->task.sense, req->task.sense_len);
	}
	pdu->req = req;
	req->pdus_out++;
	iscsi_conn_send_pdu(conn, pdu, pdu->inline_data, len);
	return true;
}

static void
req_wait_pdu(struct iscsi_req *req)
{
	if (!req->waiting) {
		req->waiting = true;
		TAILQ_INSERT_TAIL(&req->conn->tx_wait, req, wait_link);
	}
}

/* Send as much of the Data-In and status as PDUs allow; the rest when PDUs come back. */
void
iscsi_req_continue_tx(struct iscsi_req *req)
{
	struct iscsi_conn *conn = req->conn;
	struct osp_scsi_task *t = &req->task;
	struct iscsi_session *sess = conn->sess;
	struct iscsi_bhs_data_in *di;
	struct iscsi_pdu *pdu;
	struct iovec iov[ISCSI_PDU_DATA_IOVS];
	bool collapse = t->status != OSP_SCSI_STATUS_CHECK_CONDITION && t->sense_len == 0;
	uint32_t maxburst = sess->params.max_burst_length ? sess->params.max_burst_length :
			    262144;
	size_t seg;
	bool last, final;
	int n;

	if (req->aborted || conn->state == ISCSI_CONN_EXITING) {
		req->state = ISCSI_REQ_SENT;
		req_maybe_release(req);
		return;
	}
	while (req->datain_off < req->datain_len) {
		pdu = iscsi_pdu_get(conn, false);
		if (pdu == NULL) {
			req_wait_pdu(req);
			return;
		}
		seg = OSP_MIN(req->datain_len - req->datain_off, conn->max_send_dsl);
		seg = OSP_MIN(seg, maxburst - req->datain_burst);
		n = osp_iov_slice_partial(iov, ISCSI_PDU_DATA_IOVS, t->iovs, t->iovcnt,
					  req->datain_off, seg, &seg);
		if (n <= 0 || seg == 0) {
			/* The data is shorter than the SCSI layer said: stop here. */
			TAILQ_INSERT_HEAD(&conn->free_pdus, pdu, link);
			req->datain_len = req->datain_off;
			break;
		}
		last = req->datain_off + seg == req->datain_len;
		final = last || req->datain_burst + seg == maxburst;
		di = (struct iscsi_bhs_data_in *)&pdu->hdr.bhs;
		di->opcode = ISCSI_OP_DATA_IN;
		di->flags = final ? ISCSI_FLAG_FINAL : 0;
		memcpy(di->lun, req->lun, 8);
		di->itt = htobe32(req->itt);
		di->ttt = ISCSI_RSVD_TAG;
		di->datasn = htobe32(req->datasn++);
		di->buffer_offset = htobe32(req->datain_off);
		if (last && collapse) {
			di->flags |= ISCSI_DATAIN_FLAG_STATUS;
			di->status = t->status;
			residual(req, &di->flags, &di->residual);
			req_window_release(req);
			iscsi_fill_sn(conn, &di->statsn, &di->exp_cmdsn, &di->max_cmdsn, true);
			req->status_sent = true;
		} else {
			iscsi_fill_sn(conn, &di->statsn, &di->exp_cmdsn, &di->max_cmdsn, false);
			di->statsn = 0;	/* reserved without the S bit */
		}
		pdu->req = req;
		req->pdus_out++;
		iscsi_conn_send_pdu_iov(conn, pdu, iov, n, (uint32_t)seg);
		req->datain_off += (uint32_t)seg;
		req->datain_burst = final ? 0 : req->datain_burst + (uint32_t)seg;
	}
	if (!req->status_sent) {
		if (!send_scsi_rsp(req)) {
			req_wait_pdu(req);
			return;
		}
		req->status_sent = true;
	}
	req->state = ISCSI_REQ_SENT;
	req_maybe_release(req);
}

static void
task_cpl(struct osp_scsi_task *task)
{
	struct iscsi_req *req = task->cb_arg;
	struct iscsi_conn *conn = req->conn;

	req->task_done = true;
	if (task->status == OSP_SCSI_STATUS_TASK_ABORTED) {
		/* Aborted by a TMF: the initiator expects no response (RFC 7143 4.2.3.3). */
		req->aborted = true;
	}
	if (req->aborted || conn->state == ISCSI_CONN_EXITING) {
		req->aborted = true;
		req->state = ISCSI_REQ_SENT;
		req_maybe_release(req);
		return;
	}
	req->state = ISCSI_REQ_DATA_IN;
	req->datain_off = 0;
	req->datain_len = task->dir == OSP_SCSI_DIR_FROM_DEV ?
			  OSP_MIN(task->data_transferred, req->edtl) : 0;
	iscsi_req_continue_tx(req);
	iscsi_conn_flush(conn);
}

static void
req_execute(struct iscsi_req *req)
{
	if (req->ahead) {
		/* Delivered once the commands before it have arrived. */
		req->state = ISCSI_REQ_HELD;
		return;
	}
	req->state = ISCSI_REQ_EXEC;
	osp_scsi_itn_execute(req->conn->sess->itn, &req->task);
}

/* Answer a command at once with status and sense, without executing it. */
static void
req_fail(struct iscsi_req *req, uint8_t status, uint8_t sk, uint8_t asc, uint8_t ascq)
{
	req->task.data_transferred = 0;
	req->task.data_wanted = 0;
	if (status == OSP_SCSI_STATUS_CHECK_CONDITION) {
		osp_scsi_task_set_sense(&req->task, sk, asc, ascq);
	} else {
		req->task.status = status;
	}
	req->state = ISCSI_REQ_DATA_IN;
	iscsi_req_continue_tx(req);
}

/* ---- R2T / Data-Out ---- */

static void
send_r2ts(struct iscsi_req *req)
{
	struct iscsi_conn *conn = req->conn;
	struct iscsi_session *sess = conn->sess;
	uint32_t maxr2t = sess->params.max_outstanding_r2t ? sess->params.max_outstanding_r2t : 1;
	uint32_t maxburst = sess->params.max_burst_length ? sess->params.max_burst_length : 262144;
	struct iscsi_bhs_r2t *r2t;
	struct iscsi_pdu *pdu;
	struct iscsi_r2t *slot;
	uint32_t i, len;

	maxr2t = OSP_MIN(maxr2t, ISCSI_MAX_R2T);
	while (req->nr2t < maxr2t && req->r2t_next < req->edtl) {
		for (i = 0; i < ISCSI_MAX_R2T && req->r2t[i].active; i++) {
		}
		if (i == ISCSI_MAX_R2T) {
			return;
		}
		pdu = iscsi_pdu_get(conn, true);
		if (pdu == NULL) {
			return;
		}
		slot = &req->r2t[i];
		len = OSP_MIN(req->edtl - req->r2t_next, maxburst);
		slot->active = true;
		slot->offset = req->r2t_next;
		slot->len = len;
		slot->recv = 0;
		slot->datasn = 0;
		do {
			slot->ttt = sess->next_ttt++;
		} while (slot->ttt == ISCSI_RSVD_TAG);
		req->nr2t++;
		req->r2t_next += len;
		r2t = (struct iscsi_bhs_r2t *)&pdu->hdr.bhs;
		r2t->opcode = ISCSI_OP_R2T;
		r2t->flags = ISCSI_FLAG_FINAL;
		memcpy(r2t->lun, req->lun, 8);
		r2t->itt = htobe32(req->itt);
		r2t->ttt = htobe32(slot->ttt);
		iscsi_fill_sn(conn, &r2t->statsn, &r2t->exp_cmdsn, &r2t->max_cmdsn, false);
		r2t->r2tsn = htobe32(req->r2tsn++);
		r2t->buffer_offset = htobe32(slot->offset);
		r2t->desired_len = htobe32(len);
		iscsi_conn_send_pdu(conn, pdu, NULL, 0);
	}
}

static struct iscsi_req *
req_find(struct iscsi_conn *conn, uint32_t itt)
{
	struct iscsi_req *req;

	TAILQ_FOREACH(req, &conn->active_reqs, link) {
		if (req->itt == itt && !req->is_tmf) {
			return req;
		}
	}
	return NULL;
}

/*
 * A Data-Out out of sequence (DataSN, offset, length). ERL 0 cannot ask for
 * it again: the command ends with CHECK CONDITION, ABORTED COMMAND / DATA
 * PHASE ERROR, and the connection goes on (its other commands are fine);
 * Data-Outs still on their way for the command are answered with Reject.
 */
static void
data_out_error(struct iscsi_req *req, const char *why, uint32_t datasn, uint32_t off)
{
	struct iscsi_conn *conn = req->conn;

	OSP_NOTICELOG("iSCSI: %s from %s:%u (ITT 0x%x, DataSN %u, offset %u): the command "
		      "fails\n", why, conn->initiator_addr, conn->initiator_port, req->itt, datasn,
		      off);
	req_fail(req, OSP_SCSI_STATUS_CHECK_CONDITION, SENSE_ABORTED_COMMAND,
		 ASC_DATA_PHASE_ERROR, 0x00);
}

static void
handle_data_out(struct iscsi_conn *conn)
{
	const struct iscsi_bhs_data_out *h = (const void *)&conn->rx_bhs.bhs;
	uint32_t itt = be32toh(h->itt), ttt = be32toh(h->ttt);
	uint32_t datasn = be32toh(h->datasn), off = be32toh(h->buffer_offset);
	uint32_t len = conn->rx_dsl, i;
	bool final = h->flags & ISCSI_FLAG_FINAL;
	struct iscsi_req *req = req_find(conn, itt);
	struct iscsi_r2t *slot = NULL;

	if (req == NULL || req->state != ISCSI_REQ_DATA_OUT) {
		/* Data for a command answered early or never sent: tell, and go on. */
		if (ttt != ISCSI_RSVD_TAG || req != NULL) {
			iscsi_conn_reject(conn, ISCSI_REJECT_INVALID_PDU_FIELD);
		}
		return;
	}
	if (ttt == ISCSI_RSVD_TAG) {
		if (off != req->unsol_next || datasn != req->unsol_datasn ||
		    (uint64_t)off + len > req->unsol_end || (final && off + len != req->unsol_end)) {
			data_out_error(req, "unsolicited Data-Out out of order or beyond "
				       "FirstBurstLength", datasn, off);
			return;
		}
		req->unsol_next += len;
		req->unsol_datasn++;
	} else {
		for (i = 0; i < ISCSI_MAX_R2T; i++) {
			if (req->r2t[i].active && req->r2t[i].ttt == ttt) {
				slot = &req->r2t[i];
				break;
			}
		}
		if (slot == NULL) {
			iscsi_conn_reject(conn, ISCSI_REJECT_INVALID_PDU_FIELD);
			return;
		}
		if (off != slot->offset + slot->recv || datasn != slot->datasn ||
		    len > slot->len - slot->recv || (final && slot->recv + len != slot->len)) {
			data_out_error(req, "Data-Out with a wrong DataSN, offset or length for its "
				       "R2T", datasn, off);
			return;
		}
		slot->recv += len;
		slot->datasn++;
	}
	if (len > 0) {
		osp_iov_copy_from_buf(conn->rx_data, len, req->iovs, (int)req->nbufs, off);
	}
	req->data_recv += len;
	if (slot != NULL && slot->recv == slot->len) {
		slot->active = false;
		req->nr2t--;
	}
	if (req->data_recv == req->edtl) {
		req_execute(req);
		return;
	}
	send_r2ts(req);
}

/* ---- SCSI Command ---- */

static void
send_busy(struct iscsi_conn *conn, uint32_t itt, uint8_t status)
{
	struct iscsi_pdu *pdu = iscsi_pdu_get(conn, true);
	struct iscsi_bhs_scsi_rsp *rsp;

	if (pdu == NULL) {
		return;
	}
	rsp = (struct iscsi_bhs_scsi_rsp *)&pdu->hdr.bhs;
	rsp->opcode = ISCSI_OP_SCSI_RSP;
	rsp->flags = ISCSI_FLAG_FINAL;
	rsp->status = status;
	rsp->itt = htobe32(itt);
	iscsi_fill_sn(conn, &rsp->statsn, &rsp->exp_cmdsn, &rsp->max_cmdsn, true);
	iscsi_conn_send_pdu(conn, pdu, NULL, 0);
}

/*
 * Commands that arrived ahead of a gap in the CmdSN sequence and whose gap is
 * now filled: deliver them in CmdSN order (those still collecting data go on
 * when their data is complete).
 */
static void
release_ahead(struct iscsi_session *sess)
{
	struct iscsi_req *req;

	while ((req = TAILQ_FIRST(&sess->ahead_reqs)) != NULL &&
	       iscsi_sn_lt(req->cmdsn, sess->exp_cmdsn)) {
		TAILQ_REMOVE(&sess->ahead_reqs, req, ahead_link);
		req->ahead = false;
		if (req->state == ISCSI_REQ_HELD) {
			req_execute(req);
		}
	}
}

static void
ahead_insert(struct iscsi_session *sess, struct iscsi_req *req)
{
	struct iscsi_req *it;

	req->ahead = true;
	TAILQ_FOREACH(it, &sess->ahead_reqs, ahead_link) {
		if (iscsi_sn_gt(it->cmdsn, req->cmdsn)) {
			TAILQ_INSERT_BEFORE(it, req, ahead_link);
			return;
		}
	}
	TAILQ_INSERT_TAIL(&sess->ahead_reqs, req, ahead_link);
}

static void
handle_scsi_cmd(struct iscsi_conn *conn)
{
	const struct iscsi_bhs_scsi_cmd *h = (const void *)&conn->rx_bhs.bhs;
	struct iscsi_session *sess = conn->sess;
	bool immediate = h->opcode & ISCSI_OP_IMMEDIATE;
	bool rd = h->flags & ISCSI_CMD_FLAG_READ, wr = h->flags & ISCSI_CMD_FLAG_WRITE;
	uint32_t edtl = be32toh(h->edtl), imm = conn->rx_dsl, i, n, left;
	uint32_t firstburst;
	struct iscsi_req *req;
	struct osp_scsi_task *t;
	bool arrived_ahead = false;
	enum osp_scsi_dir cdir;

	if (sess->node == NULL) {
		iscsi_conn_reject(conn, ISCSI_REJECT_PROTOCOL_ERROR);
		return;
	}
	if (!immediate && be32toh(h->cmdsn) != sess->exp_cmdsn) {
		arrived_ahead = true;
	}
	if (iscsi_session_check_cmdsn(sess, be32toh(h->cmdsn), immediate) != 0) {
		OSP_DEBUGLOG(iscsi, "CmdSN %u outside [%u, %u]: discarded\n", be32toh(h->cmdsn),
			     sess->exp_cmdsn, iscsi_session_max_cmdsn(sess));
		return;
	}
	if (!(h->flags & ISCSI_FLAG_FINAL)) {
		/* Command PDUs are never continued (11.3.1). */
		iscsi_conn_reject(conn, ISCSI_REJECT_PROTOCOL_ERROR);
		return;
	}
	req = req_get(conn);
	if (req == NULL) {
		send_busy(conn, be32toh(h->itt), OSP_SCSI_STATUS_TASK_SET_FULL);
		return;
	}
	if (!immediate) {
		req->counted = true;
		sess->window_used++;
	}
	req->itt = be32toh(h->itt);
	req->cmdsn = be32toh(h->cmdsn);
	req->edtl = edtl;
	req->immediate = immediate;
	if (arrived_ahead) {
		ahead_insert(sess, req);
	}
	memcpy(req->lun, h->lun, 8);
	t = &req->task;
	osp_scsi_task_init(t, task_cpl, req);
	t->lun_id = lun_decode(h->lun);
	t->tag = req->itt;
	memcpy(t->cdb, h->cdb, 16);
	t->cdb_len = 16;
	t->transfer_len = edtl;
	t->dir = wr ? OSP_SCSI_DIR_TO_DEV : rd ? OSP_SCSI_DIR_FROM_DEV : OSP_SCSI_DIR_NONE;
	for (i = 0; i + 4 <= conn->rx_ahs_len;) {
		/*
		 * AHS (11.2.2): AHSLength(2) type(1) type-specific(1) data,
		 * padded to 4 bytes. Extended CDB (type 1, 11.2.2.3) holds CDB
		 * bytes 16 and up; the bidirectional read length (type 2) only
		 * comes with R=W=1, refused below; other types are reserved.
		 */
		const uint8_t *a = conn->rx_ahs + i;
		uint32_t alen = ((uint32_t)a[0] << 8) | a[1];
		bool bad = 4 + alen > conn->rx_ahs_len - i;

		if (!bad && a[2] == ISCSI_AHS_EXT_CDB) {
			bad = alen < 1 || 16 + alen - 1 > OSP_SCSI_MAX_CDB_LEN || t->cdb_len > 16;
			if (!bad) {
				memcpy(&t->cdb[16], &a[4], alen - 1);
				t->cdb_len = (uint8_t)(16 + alen - 1);
			}
		} else if (!bad && a[2] != ISCSI_AHS_BIDI_RLEN) {
			bad = true;
		}
		if (bad) {
			req_fail(req, OSP_SCSI_STATUS_CHECK_CONDITION, SENSE_ILLEGAL_REQUEST,
				 ASC_INVALID_FIELD_IN_CDB, 0x00);
			return;
		}
		i += (4 + alen + 3) & ~3u;
	}
	if (rd && wr) {
		/* Bidirectional commands are not supported by the SCSI layer. */
		req_fail(req, OSP_SCSI_STATUS_CHECK_CONDITION, SENSE_ILLEGAL_REQUEST,
			 ASC_INVALID_FIELD_IN_CDB, 0x00);
		return;
	}
	cdir = osp_scsi_cdb_data_dir(t->cdb);
	if (wr && cdir == OSP_SCSI_DIR_FROM_DEV) {
		/*
		 * A data-in command sent with W=1: no data is solicited and none
		 * can go back. Such a command has no effect but its data, so it
		 * ends GOOD with nothing transferred: the whole EDTL is the
		 * underflow residual (what libiscsi's iSCSIResiduals.Read10Invalid
		 * expects); immediate data with it is dropped.
		 */
		req_fail(req, OSP_SCSI_STATUS_GOOD, 0, 0, 0);
		return;
	}
	if (rd && cdir == OSP_SCSI_DIR_TO_DEV) {
		/*
		 * A data-out command sent with R=1: it cannot get its data, and
		 * claiming success would lie about a write; refused with sense
		 * before anything is solicited, never executed.
		 */
		req_fail(req, OSP_SCSI_STATUS_CHECK_CONDITION, SENSE_ILLEGAL_REQUEST,
			 ASC_INVALID_FIELD_IN_CMD_IU, ASCQ_INVALID_FIELD_IN_CMD_IU);
		return;
	}
	if (!wr) {
		if (imm > 0) {
			/* Data with a command that sends none. */
			req->aborted = true;
			req->state = ISCSI_REQ_SENT;
			iscsi_req_release(req);
			iscsi_conn_reject(conn, ISCSI_REJECT_PROTOCOL_ERROR);
			return;
		}
		t->iovcnt = 0;	/* reads: the SCSI layer's buffers, sent as they are */
		req_execute(req);
		return;
	}
	firstburst = sess->params.first_burst_length ? sess->params.first_burst_length : 65536;
	if (imm > edtl || imm > firstburst || (imm > 0 && !sess->params.immediate_data)) {
		req->aborted = true;
		req->state = ISCSI_REQ_SENT;
		iscsi_req_release(req);
		protocol_error(conn, ISCSI_REJECT_PROTOCOL_ERROR,
			       "immediate data beyond EDTL, FirstBurstLength or not negotiated");
		return;
	}
	n = (uint32_t)osp_divide_round_up(edtl, g_iscsi.data_bufsize);
	if (n > g_iscsi.data_reserve) {
		req_fail(req, OSP_SCSI_STATUS_CHECK_CONDITION, SENSE_ILLEGAL_REQUEST,
			 ASC_INVALID_FIELD_IN_CDB, 0x00);
		return;
	}
	if (n > 0 && osp_iobuf_get_bulk(&conn->pg->iobuf, req->bufs, n, NULL, NULL) != 0) {
		req_fail(req, OSP_SCSI_STATUS_BUSY, 0, 0, 0);
		return;
	}
	req->nbufs = n;
	for (i = 0, left = edtl; i < n; i++) {
		req->iovs[i].iov_base = req->bufs[i];
		req->iovs[i].iov_len = OSP_MIN(left, g_iscsi.data_bufsize);
		left -= (uint32_t)req->iovs[i].iov_len;
	}
	t->iovs = req->iovs;
	t->iovcnt = (int)n;
	if (imm > 0) {
		osp_iov_copy_from_buf(conn->rx_data, imm, req->iovs, (int)n, 0);
	}
	req->data_recv = imm;
	req->unsol_next = imm;
	req->unsol_end = sess->params.initial_r2t ? imm : OSP_MIN(firstburst, edtl);
	req->r2t_next = req->unsol_end;
	if (req->data_recv == edtl) {
		req_execute(req);
		return;
	}
	req->state = ISCSI_REQ_DATA_OUT;
	send_r2ts(req);
}

/* ---- NOP ---- */

void
iscsi_conn_send_nopin_ping(struct iscsi_conn *conn)
{
	struct iscsi_pdu *pdu;
	struct iscsi_bhs_nop *nop;

	if (conn->sess == NULL || (pdu = iscsi_pdu_get(conn, true)) == NULL) {
		return;
	}
	nop = (struct iscsi_bhs_nop *)&pdu->hdr.bhs;
	nop->opcode = ISCSI_OP_NOPIN;
	nop->flags = ISCSI_FLAG_FINAL;
	nop->itt = ISCSI_RSVD_TAG;
	do {
		conn->nop_ttt = conn->sess->next_ttt++;
	} while (conn->nop_ttt == ISCSI_RSVD_TAG);
	nop->ttt = htobe32(conn->nop_ttt);
	iscsi_fill_sn(conn, &nop->cmdsn_or_statsn, &nop->exp_statsn_or_cmdsn, &nop->max_cmdsn,
		      false);
	conn->nop_outstanding = true;
	conn->nop_sent_tsc = osp_get_ticks();
	iscsi_conn_send_pdu(conn, pdu, NULL, 0);
	iscsi_conn_flush(conn);
}

static void
handle_nop_out(struct iscsi_conn *conn)
{
	const struct iscsi_bhs_nop *h = (const void *)&conn->rx_bhs.bhs;
	uint32_t itt = be32toh(h->itt), ttt = be32toh(h->ttt);
	bool immediate = h->opcode & ISCSI_OP_IMMEDIATE;
	struct iscsi_pdu *pdu;
	struct iscsi_bhs_nop *nop;
	uint32_t len;
	void *data = NULL;

	if (itt == ISCSI_RSVD_TAG) {
		/* The answer to our ping, or a ping that wants no answer (11.18.1). */
		if (!immediate) {
			iscsi_conn_reject(conn, ISCSI_REJECT_PROTOCOL_ERROR);
		}
		return;
	}
	if (ttt != ISCSI_RSVD_TAG) {
		iscsi_conn_reject(conn, ISCSI_REJECT_INVALID_PDU_FIELD);
		return;
	}
	if (iscsi_session_check_cmdsn(conn->sess, be32toh(h->cmdsn_or_statsn), immediate) != 0) {
		return;
	}
	len = OSP_MIN(conn->rx_dsl, conn->max_send_dsl);
	if (len > 0) {
		data = malloc(len);
		if (data == NULL) {
			return;
		}
		memcpy(data, conn->rx_data, len);
	}
	pdu = iscsi_pdu_get(conn, true);
	if (pdu == NULL) {
		free(data);
		return;
	}
	pdu->owned = data;
	nop = (struct iscsi_bhs_nop *)&pdu->hdr.bhs;
	nop->opcode = ISCSI_OP_NOPIN;
	nop->flags = ISCSI_FLAG_FINAL;
	memcpy(nop->lun, h->lun, 8);
	nop->itt = h->itt;
	nop->ttt = ISCSI_RSVD_TAG;
	iscsi_fill_sn(conn, &nop->cmdsn_or_statsn, &nop->exp_statsn_or_cmdsn, &nop->max_cmdsn,
		      true);
	iscsi_conn_send_pdu(conn, pdu, data, len);
}

/* ---- Task Management ---- */

static void
send_tmf_rsp(struct iscsi_conn *conn, uint32_t itt, uint8_t response)
{
	struct iscsi_pdu *pdu = iscsi_pdu_get(conn, true);
	struct iscsi_bhs_tmf_rsp *rsp;

	if (pdu == NULL) {
		return;
	}
	rsp = (struct iscsi_bhs_tmf_rsp *)&pdu->hdr.bhs;
	rsp->opcode = ISCSI_OP_TMF_RSP;
	rsp->flags = ISCSI_FLAG_FINAL;
	rsp->response = response;
	rsp->itt = htobe32(itt);
	iscsi_fill_sn(conn, &rsp->statsn, &rsp->exp_cmdsn, &rsp->max_cmdsn, true);
	iscsi_conn_send_pdu(conn, pdu, NULL, 0);
}

static void
tmf_cpl(struct osp_scsi_task *task)
{
	struct iscsi_req *req = task->cb_arg;
	struct iscsi_conn *conn = req->conn;
	uint8_t rsp;

	req->task_done = true;
	switch (task->tmf_resp) {
	case OSP_SCSI_TMF_RESP_COMPLETE:
	case OSP_SCSI_TMF_RESP_SUCCEEDED:
		rsp = ISCSI_TMF_RSP_COMPLETE;
		break;
	case OSP_SCSI_TMF_RESP_INVALID_LUN:
	case OSP_SCSI_TMF_RESP_INCORRECT_LUN:
		rsp = ISCSI_TMF_RSP_NO_LUN;
		break;
	case OSP_SCSI_TMF_RESP_REJECTED:
		rsp = ISCSI_TMF_RSP_NOT_SUPPORTED;
		break;
	default:
		rsp = ISCSI_TMF_RSP_REJECTED;
		break;
	}
	if (conn->state != ISCSI_CONN_EXITING && !req->aborted) {
		send_tmf_rsp(conn, req->itt, rsp);
		if (req->tmf_fn == OSP_SCSI_TMF_TARGET_COLD_RESET && conn->sess != NULL) {
			/* A cold reset ends every connection of the nexus (RFC 7143 11.5.1). */
			conn->closing_after_send = true;
		}
		iscsi_conn_flush(conn);
	}
	req->aborted = true;
	req->state = ISCSI_REQ_SENT;
	req_maybe_release(req);
}

/* Drop requests of lun (UINT64_MAX: all) still collecting data: they never reached the SCSI layer. */
static void
abort_data_out(struct iscsi_conn *conn, uint64_t lun, uint32_t only_itt, bool one)
{
	struct iscsi_session *sess = conn->sess;
	struct iscsi_conn *c;
	struct iscsi_req *req, *tmp;

	TAILQ_FOREACH(c, &sess->conns, sess_link) {
		TAILQ_FOREACH_SAFE(req, &c->active_reqs, link, tmp) {
			if ((req->state != ISCSI_REQ_DATA_OUT && req->state != ISCSI_REQ_HELD) ||
			    req->is_tmf) {
				continue;
			}
			if (one ? req->itt != only_itt :
			    (lun != UINT64_MAX && req->task.lun_id != lun)) {
				continue;
			}
			req->aborted = true;
			req->state = ISCSI_REQ_SENT;
			req_maybe_release(req);
		}
	}
}

static void
handle_tmf(struct iscsi_conn *conn)
{
	const struct iscsi_bhs_tmf_req *h = (const void *)&conn->rx_bhs.bhs;
	struct iscsi_session *sess = conn->sess;
	uint32_t itt = be32toh(h->itt), ref = be32toh(h->ref_task_tag);
	uint32_t cmdsn = be32toh(h->cmdsn), refcmdsn = be32toh(h->ref_cmdsn);
	bool immediate = h->opcode & ISCSI_OP_IMMEDIATE;
	int func = h->flags & ISCSI_TMF_FUNC_MASK;
	uint64_t lun = lun_decode(h->lun);
	enum osp_scsi_tmf fn;
	struct iscsi_req *req, *target;
	struct iscsi_conn *c;

	if (sess->node == NULL) {
		iscsi_conn_reject(conn, ISCSI_REJECT_PROTOCOL_ERROR);
		return;
	}
	if (iscsi_session_check_cmdsn(sess, cmdsn, immediate) != 0) {
		return;
	}
	switch (func) {
	case ISCSI_TMF_ABORT_TASK:
		fn = OSP_SCSI_TMF_ABORT_TASK;
		target = NULL;
		TAILQ_FOREACH(c, &sess->conns, sess_link) {
			if ((target = req_find(c, ref)) != NULL) {
				break;
			}
		}
		if (target == NULL) {
			/*
			 * RFC 7143 11.6.1 a) and b): a command not received yet (its
			 * CmdSN in the window, before the TMF's) counts as aborted; one
			 * already done is no task.
			 */
			bool in_window = !iscsi_sn_lt(refcmdsn, sess->exp_cmdsn) &&
					 !iscsi_sn_gt(refcmdsn, iscsi_session_max_cmdsn(sess)) &&
					 iscsi_sn_lt(refcmdsn, cmdsn);

			send_tmf_rsp(conn, itt, in_window ? ISCSI_TMF_RSP_COMPLETE :
				     ISCSI_TMF_RSP_NO_TASK);
			return;
		}
		if (target->task.lun_id != lun) {
			send_tmf_rsp(conn, itt, ISCSI_TMF_RSP_NO_TASK);
			return;
		}
		if (target->state == ISCSI_REQ_DATA_OUT || target->state == ISCSI_REQ_HELD) {
			abort_data_out(conn, lun, ref, true);
			send_tmf_rsp(conn, itt, ISCSI_TMF_RSP_COMPLETE);
			return;
		}
		if (target->state != ISCSI_REQ_EXEC) {
			/* Done already, its status on the way: nothing left to abort. */
			send_tmf_rsp(conn, itt, ISCSI_TMF_RSP_NO_TASK);
			return;
		}
		break;
	case ISCSI_TMF_ABORT_TASK_SET:
		fn = OSP_SCSI_TMF_ABORT_TASK_SET;
		break;
	case ISCSI_TMF_CLEAR_ACA:
		fn = OSP_SCSI_TMF_CLEAR_ACA;
		break;
	case ISCSI_TMF_CLEAR_TASK_SET:
		fn = OSP_SCSI_TMF_CLEAR_TASK_SET;
		break;
	case ISCSI_TMF_LUN_RESET:
		fn = OSP_SCSI_TMF_LUN_RESET;
		break;
	case ISCSI_TMF_TARGET_WARM_RESET:
		fn = OSP_SCSI_TMF_TARGET_WARM_RESET;
		break;
	case ISCSI_TMF_TARGET_COLD_RESET:
		fn = OSP_SCSI_TMF_TARGET_COLD_RESET;
		break;
	case ISCSI_TMF_TASK_REASSIGN:
		send_tmf_rsp(conn, itt, ISCSI_TMF_RSP_NO_REASSIGN);
		return;
	default:
		send_tmf_rsp(conn, itt, ISCSI_TMF_RSP_REJECTED);
		return;
	}
	if (fn != OSP_SCSI_TMF_ABORT_TASK) {
		abort_data_out(conn, fn == OSP_SCSI_TMF_TARGET_WARM_RESET ||
			       fn == OSP_SCSI_TMF_TARGET_COLD_RESET ? UINT64_MAX : lun, 0, false);
	}
	req = req_get(conn);
	if (req == NULL) {
		send_tmf_rsp(conn, itt, ISCSI_TMF_RSP_REJECTED);
		return;
	}
	req->is_tmf = true;
	req->itt = itt;
	req->tmf_fn = fn;
	req->state = ISCSI_REQ_EXEC;
	osp_scsi_task_init(&req->task, tmf_cpl, req);
	req->task.lun_id = lun;
	req->task.tag = itt;
	osp_scsi_itn_tmf(sess->itn, &req->task, fn, lun, ref);
}

/* ---- Text ---- */

static void
send_text_chunk(struct iscsi_conn *conn, uint32_t itt)
{
	struct iscsi_pdu *pdu = iscsi_pdu_get(conn, true);
	struct iscsi_bhs_text *rsp;
	uint32_t left = conn->text_rsp_len - conn->text_rsp_off;
	uint32_t len = OSP_MIN(left, conn->max_send_dsl);
	void *data = NULL;

	if (pdu == NULL) {
		return;
	}
	if (len > 0) {
		data = malloc(len);
		if (data == NULL) {
			pdu->owned = NULL;
			iscsi_conn_reject(conn, ISCSI_REJECT_LONG_OP);
			TAILQ_INSERT_HEAD(&conn->free_pdus, pdu, link);
			return;
		}
		memcpy(data, conn->text_rsp + conn->text_rsp_off, len);
	}
	pdu->owned = data;
	rsp = (struct iscsi_bhs_text *)&pdu->hdr.bhs;
	rsp->opcode = ISCSI_OP_TEXT_RSP;
	rsp->itt = htobe32(itt);
	conn->text_rsp_off += len;
	if (conn->text_rsp_off < conn->text_rsp_len) {
		rsp->flags = ISCSI_TEXT_FLAG_CONTINUE;
		do {
			conn->text_ttt = conn->sess->next_ttt++;
		} while (conn->text_ttt == ISCSI_RSVD_TAG);
		rsp->ttt = htobe32(conn->text_ttt);
	} else {
		rsp->flags = ISCSI_FLAG_FINAL;
		rsp->ttt = ISCSI_RSVD_TAG;
		free(conn->text_rsp);
		conn->text_rsp = NULL;
		conn->text_rsp_len = conn->text_rsp_off = 0;
		conn->text_ttt = ISCSI_RSVD_TAG;
	}
	iscsi_fill_sn(conn, &rsp->cmdsn_or_statsn, &rsp->exp_statsn_or_cmdsn, &rsp->max_cmdsn,
		      true);
	iscsi_conn_send_pdu(conn, pdu, data, len);
}

/* Asks for the rest of a continued Text request (RFC 7143 11.11.2). */
static void
send_text_more(struct iscsi_conn *conn, uint32_t itt)
{
	struct iscsi_pdu *pdu = iscsi_pdu_get(conn, true);
	struct iscsi_bhs_text *rsp;

	if (pdu == NULL) {
		return;
	}
	pdu->owned = NULL;
	rsp = (struct iscsi_bhs_text *)&pdu->hdr.bhs;
	rsp->opcode = ISCSI_OP_TEXT_RSP;
	rsp->flags = 0;
	rsp->itt = htobe32(itt);
	do {
		conn->text_ttt = conn->sess->next_ttt++;
	} while (conn->text_ttt == ISCSI_RSVD_TAG);
	rsp->ttt = htobe32(conn->text_ttt);
	iscsi_fill_sn(conn, &rsp->cmdsn_or_statsn, &rsp->exp_statsn_or_cmdsn, &rsp->max_cmdsn,
		      true);
	iscsi_conn_send_pdu(conn, pdu, NULL, 0);
}

static void
text_req_drop(struct iscsi_conn *conn)
{
	free(conn->text_req);
	conn->text_req = NULL;
	conn->text_req_len = 0;
	conn->text_ttt = ISCSI_RSVD_TAG;
}

static void
handle_text(struct iscsi_conn *conn)
{
	const struct iscsi_bhs_text *h = (const void *)&conn->rx_bhs.bhs;
	struct iscsi_session *sess = conn->sess;
	uint32_t itt = be32toh(h->itt), ttt = be32toh(h->ttt);
	bool immediate = h->opcode & ISCSI_OP_IMMEDIATE;
	struct iscsi_text *t;
	struct iscsi_textbuf tb = {};
	const char *st;
	char err[128];
	char *targets = NULL;
	const char *data = (const char *)conn->rx_data;
	uint32_t tlen = 0, len = conn->rx_dsl;
	bool cont = h->flags & ISCSI_TEXT_FLAG_CONTINUE;
	uint16_t status;

	if (iscsi_session_check_cmdsn(sess, be32toh(h->cmdsn_or_statsn), immediate) != 0) {
		return;
	}
	if (ttt != ISCSI_RSVD_TAG && conn->text_req == NULL) {
		/* The initiator asks for the next part of a long answer. */
		if (conn->text_rsp == NULL || ttt != conn->text_ttt) {
			iscsi_conn_reject(conn, ISCSI_REJECT_INVALID_PDU_FIELD);
			return;
		}
		send_text_chunk(conn, itt);
		return;
	}
	if (cont && (h->flags & ISCSI_FLAG_FINAL)) {
		iscsi_conn_reject(conn, ISCSI_REJECT_PROTOCOL_ERROR);	/* C=1 needs F=0 (11.10.2) */
		text_req_drop(conn);
		return;
	}
	if (conn->text_req != NULL && (ttt == ISCSI_RSVD_TAG || itt != conn->text_itt)) {
		/* A new request ends a continued one the initiator abandoned (11.10.4). */
		if (ttt != ISCSI_RSVD_TAG) {
			iscsi_conn_reject(conn, ISCSI_REJECT_INVALID_PDU_FIELD);
			return;
		}
		text_req_drop(conn);
	} else if (conn->text_req != NULL && ttt != conn->text_ttt) {
		iscsi_conn_reject(conn, ISCSI_REJECT_INVALID_PDU_FIELD);
		return;
	}
	if (cont || conn->text_req != NULL) {
		/* A request in several PDUs: gathered up to 64 KiB (RFC 7143 6.1). */
		if (conn->text_req == NULL) {
			conn->text_req = malloc(ISCSI_TEXT_MAX_LEN);
			conn->text_itt = itt;
		}
		if (conn->text_req == NULL || conn->text_req_len + len > ISCSI_TEXT_MAX_LEN) {
			text_req_drop(conn);
			iscsi_conn_reject(conn, ISCSI_REJECT_PROTOCOL_ERROR);
			return;
		}
		memcpy(conn->text_req + conn->text_req_len, data, len);
		conn->text_req_len += len;
		if (cont) {
			send_text_more(conn, itt);
			return;
		}
		data = conn->text_req;
		len = conn->text_req_len;
	}
	/* A new request ends a continued answer the initiator abandoned. */
	free(conn->text_rsp);
	conn->text_rsp = NULL;
	t = malloc(sizeof(*t));
	tb.cap = 8192;
	tb.buf = malloc(tb.cap);
	if (t == NULL || tb.buf == NULL) {
		free(t);
		free(tb.buf);
		iscsi_conn_reject(conn, ISCSI_REJECT_LONG_OP);
		return;
	}
	status = iscsi_text_parse(t, data, len, err, sizeof(err));
	text_req_drop(conn);
	if (status != ISCSI_LOGIN_STATUS_SUCCESS) {
		free(t);
		free(tb.buf);
		iscsi_conn_reject(conn, ISCSI_REJECT_PROTOCOL_ERROR);
		return;
	}
	st = iscsi_text_get(t, "SendTargets");
	if (st != NULL) {
		if (strcmp(st, "All") == 0) {
			targets = iscsi_send_targets(conn->initiator_name, conn->initiator_addr,
						     conn->target_addr, conn->portal_tag, NULL, true,
						     &tlen);
		} else if (st[0] == '\0' || sess->node != NULL) {
			targets = iscsi_send_targets(conn->initiator_name, conn->initiator_addr,
						     conn->target_addr, conn->portal_tag,
						     st[0] != '\0' ? st : (sess->node ?
								     sess->node->name : ""),
						     false, &tlen);
		} else {
			targets = iscsi_send_targets(conn->initiator_name, conn->initiator_addr,
						     conn->target_addr, conn->portal_tag, st, false,
						     &tlen);
		}
	}
	if (t->npairs > (st != NULL ? 1u : 0u)) {
		if (conn->text_nego == NULL) {
			conn->text_nego = calloc(1, sizeof(*conn->text_nego));
			if (conn->text_nego != NULL) {
				iscsi_nego_init(conn->text_nego, &g_iscsi.param_defaults, false);
				conn->text_nego->sess = sess->params;
				conn->text_nego->conn.header_digest = conn->hdigest;
				conn->text_nego->conn.data_digest = conn->ddigest;
				conn->text_nego->conn.max_recv_dsl = conn->max_recv_dsl;
				conn->text_nego->conn.max_send_dsl = conn->max_send_dsl;
			}
		}
		if (conn->text_nego != NULL) {
			status = iscsi_nego_text(conn->text_nego, t, &tb, err, sizeof(err));
			if (status != ISCSI_LOGIN_STATUS_SUCCESS) {
				free(t);
				free(tb.buf);
				free(targets);
				iscsi_conn_reject(conn, ISCSI_REJECT_PROTOCOL_ERROR);
				return;
			}
			if (conn->text_nego->conn.max_send_dsl != 0) {
				conn->max_send_dsl = conn->text_nego->conn.max_send_dsl;
			}
		}
	}
	free(t);
	/* The answer: negotiation keys, then the target list. */
	conn->text_rsp_len = tb.len + tlen;
	conn->text_rsp = malloc(conn->text_rsp_len + 1);
	if (conn->text_rsp == NULL) {
		free(tb.buf);
		free(targets);
		iscsi_conn_reject(conn, ISCSI_REJECT_LONG_OP);
		return;
	}
	memcpy(conn->text_rsp, tb.buf, tb.len);
	if (tlen > 0) {
		memcpy(conn->text_rsp + tb.len, targets, tlen);
	}
	free(tb.buf);
	free(targets);
	conn->text_rsp_off = 0;
	conn->text_itt = itt;
	send_text_chunk(conn, itt);
}

/* ---- Logout ---- */

static void
handle_logout(struct iscsi_conn *conn)
{
	const struct iscsi_bhs_logout_req *h = (const void *)&conn->rx_bhs.bhs;
	struct iscsi_session *sess = conn->sess;
	int reason = h->flags & ISCSI_LOGOUT_REASON_MASK;
	uint16_t cid = be16toh(h->cid);
	bool immediate = h->opcode & ISCSI_OP_IMMEDIATE;
	struct iscsi_bhs_logout_rsp *rsp;
	struct iscsi_conn *c, *other = NULL;
	struct iscsi_pdu *pdu;
	uint8_t response = ISCSI_LOGOUT_RSP_SUCCESS;

	if (iscsi_session_check_cmdsn(sess, be32toh(h->cmdsn), immediate) != 0) {
		return;
	}
	switch (reason) {
	case ISCSI_LOGOUT_CLOSE_SESSION:
		conn->logout_session = true;
		conn->closing_after_send = true;
		break;
	case ISCSI_LOGOUT_CLOSE_CONNECTION:
		if (cid == conn->cid) {
			conn->closing_after_send = true;
			break;
		}
		TAILQ_FOREACH(c, &sess->conns, sess_link) {
			if (c->cid == cid && c->state != ISCSI_CONN_EXITING) {
				other = c;
			}
		}
		if (other == NULL) {
			response = ISCSI_LOGOUT_RSP_CID_NOT_FOUND;
		} else {
			iscsi_conn_drop(other, "logged out by another connection of its session");
		}
		break;
	case ISCSI_LOGOUT_REMOVE_FOR_RECOVERY:
		response = ISCSI_LOGOUT_RSP_NO_RECOVERY;
		break;
	default:
		iscsi_conn_reject(conn, ISCSI_REJECT_INVALID_PDU_FIELD);
		return;
	}
	pdu = iscsi_pdu_get(conn, true);
	if (pdu == NULL) {
		iscsi_conn_drop(conn, "out of memory");
		return;
	}
	rsp = (struct iscsi_bhs_logout_rsp *)&pdu->hdr.bhs;
	rsp->opcode = ISCSI_OP_LOGOUT_RSP;
	rsp->flags = ISCSI_FLAG_FINAL;
	rsp->response = response;
	rsp->itt = h->itt;
	iscsi_fill_sn(conn, &rsp->statsn, &rsp->exp_cmdsn, &rsp->max_cmdsn, true);
	rsp->time2wait = htobe16((uint16_t)sess->params.default_time2wait);
	rsp->time2retain = htobe16((uint16_t)sess->params.default_time2retain);
	if (conn->closing_after_send) {
		conn->state = ISCSI_CONN_LOGGED_OUT;
		if (conn->logout_session) {
			/* The session's other connections end with it. */
			TAILQ_FOREACH(c, &sess->conns, sess_link) {
				if (c != conn) {
					iscsi_conn_drop(c, NULL);
				}
			}
		}
	}
	iscsi_conn_send_pdu(conn, pdu, NULL, 0);
}

/* ---- Async Message ---- */

void
iscsi_conn_send_async_logout(struct iscsi_conn *conn)
{
	struct iscsi_pdu *pdu;
	struct iscsi_bhs_async *a;

	if (conn->async_logout_sent || conn->sess == NULL) {
		return;
	}
	pdu = iscsi_pdu_get(conn, true);
	if (pdu == NULL) {
		return;
	}
	conn->async_logout_sent = true;
	a = (struct iscsi_bhs_async *)&pdu->hdr.bhs;
	a->opcode = ISCSI_OP_ASYNC;
	a->flags = ISCSI_FLAG_FINAL;
	a->itt = ISCSI_RSVD_TAG;
	iscsi_fill_sn(conn, &a->statsn, &a->exp_cmdsn, &a->max_cmdsn, true);
	a->async_event = ISCSI_ASYNC_LOGOUT_REQUEST;
	a->param3 = htobe16(1);	/* seconds to log out in (11.9.1) */
	iscsi_conn_send_pdu(conn, pdu, NULL, 0);
	iscsi_conn_flush(conn);
}

/* ---- dispatch ---- */

void
iscsi_ffp_handle_pdu(struct iscsi_conn *conn)
{
	uint8_t op = conn->rx_bhs.bhs.opcode & ISCSI_OPCODE_MASK;

	if (conn->state == ISCSI_CONN_LOGGED_OUT) {
		return;	/* after the Logout Response nothing more is taken */
	}
	if (op != ISCSI_OP_SCSI_CMD && conn->rx_ahs_len > 0) {
		protocol_error(conn, ISCSI_REJECT_PROTOCOL_ERROR, "AHS on a PDU that has none");
		return;
	}
	switch (op) {
	case ISCSI_OP_SCSI_CMD:
		handle_scsi_cmd(conn);
		break;
	case ISCSI_OP_DATA_OUT:
		handle_data_out(conn);
		break;
	case ISCSI_OP_NOPOUT:
		handle_nop_out(conn);
		break;
	case ISCSI_OP_TMF_REQ:
		handle_tmf(conn);
		break;
	case ISCSI_OP_TEXT_REQ:
		handle_text(conn);
		break;
	case ISCSI_OP_LOGOUT_REQ:
		handle_logout(conn);
		break;
	case ISCSI_OP_LOGIN_REQ:
		/* A login on a logged-in connection: protocol error (RFC 7143 6.1). */
		protocol_error(conn, ISCSI_REJECT_PROTOCOL_ERROR, "Login Request in full feature phase");
		break;
	case ISCSI_OP_SNACK:
		/* ERL 0: no SNACK support (RFC 7143 11.16). */
		iscsi_conn_reject(conn, ISCSI_REJECT_CMD_NOT_SUPPORTED);
		break;
	default:
		iscsi_conn_reject(conn, ISCSI_REJECT_CMD_NOT_SUPPORTED);
		break;
	}
	if (conn->sess != NULL && !TAILQ_EMPTY(&conn->sess->ahead_reqs)) {
		release_ahead(conn->sess);
	}
}
