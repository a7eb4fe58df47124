/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSCSI connections: the PDU receive state machine (BHS -> AHS -> header
 * digest -> data + padding -> data digest, every length checked against
 * what was negotiated before a byte of it is read), the transmit side
 * (PDUs from a per-connection pool, queued with osp_sock_writev_async and
 * flushed at the end of each poll), the poll group poller and its 1 s timer
 * (login timeouts, NOP-In pings of idle connections, dead-peer detection),
 * and the connection's life cycle.
 *
 * Send path and stalls: a PDU that does not fit in the socket's send buffer
 * stays queued in lib/sock, which asks epoll for EPOLLOUT; the poll group's
 * epoll fd is a wake fd of its thread, so the reactor wakes as soon as the
 * socket is writable again, even while asleep, and the next poll sends the
 * rest. When PDUs complete, requests waiting for PDUs (large reads) go on
 * at once (conn->tx_wait), so queued Data-In never waits for the
 * initiator's next PDU.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "osprey/env.h"
#include "osprey/iov.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/util.h"

#include "iscsi_internal.h"

/* During login the data segment limit is the RFC default (RFC 7143 13.12). */
#define ISCSI_LOGIN_MAX_DSL		8192
#define ISCSI_LOGIN_PDUS		8
#define ISCSI_LOGIN_TIMEOUT_S		15
/* Control PDUs beyond the pool a connection may have queued (see iscsi_pdu_get). */
#define ISCSI_MAX_EXTRA_PDUS		512
/* PDUs a request may have queued at once: Data-In is produced as they come back. */
#define ISCSI_PDUS_PER_REQ		4

static const uint8_t g_zero_pad[4];

static uint32_t
digest_final(uint32_t crc)
{
	return crc ^ 0xffffffffu;
}

static void conn_free_check(struct iscsi_conn *conn);

/* ---- transmit ---- */

struct iscsi_pdu *
iscsi_pdu_get(struct iscsi_conn *conn, bool may_alloc)
{
	struct iscsi_pdu *pdu = TAILQ_FIRST(&conn->free_pdus);

	if (pdu != NULL) {
		TAILQ_REMOVE(&conn->free_pdus, pdu, link);
		pdu->from_pool = true;
	} else if (may_alloc) {
		/*
		 * Control responses (login, text, NOP, TMF, reject) never wait for
		 * the pool; but an initiator that sends and never reads would make
		 * them pile up: past ISCSI_MAX_EXTRA_PDUS it is dropped.
		 */
		if (conn->extra_pdus >= ISCSI_MAX_EXTRA_PDUS) {
			iscsi_conn_drop(conn, "the initiator does not read its responses");
			return NULL;
		}
		pdu = malloc(sizeof(*pdu));
		if (pdu == NULL) {
			return NULL;
		}
		pdu->from_pool = false;
		conn->extra_pdus++;
	} else {
		return NULL;
	}
	memset(&pdu->hdr, 0, sizeof(pdu->hdr));
	pdu->conn = conn;
	pdu->req = NULL;
	pdu->owned = NULL;
	pdu->last = false;
	pdu->iovcnt = 0;
	return pdu;
}

static void
pdu_put(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	free(pdu->owned);
	pdu->owned = NULL;
	if (pdu->from_pool) {
		TAILQ_INSERT_HEAD(&conn->free_pdus, pdu, link);
	} else {
		conn->extra_pdus--;
		free(pdu);
	}
}

static void
conn_resume_tx(struct iscsi_conn *conn)
{
	struct iscsi_req *req;

	while (conn->state != ISCSI_CONN_EXITING && !TAILQ_EMPTY(&conn->free_pdus) &&
	       (req = TAILQ_FIRST(&conn->tx_wait)) != NULL) {
		TAILQ_REMOVE(&conn->tx_wait, req, wait_link);
		req->waiting = false;
		iscsi_req_continue_tx(req);
		if (req->waiting) {
			break;	/* it went back to the end of the queue: the pool is dry */
		}
	}
}

static void
pdu_sent(void *arg, int err)
{
	struct iscsi_pdu *pdu = arg;
	struct iscsi_conn *conn = pdu->conn;
	struct iscsi_req *req = pdu->req;

	conn->pdus_out--;
	pdu_put(conn, pdu);
	if (req != NULL) {
		/* Releasing the request may free an exiting connection: hold it. */
		conn->in_cb++;
		iscsi_req_pdu_sent(req, pdu, err);
		conn->in_cb--;
	}
	if (conn->state == ISCSI_CONN_EXITING) {
		conn_free_check(conn);
		return;
	}
	if (err != 0) {
		iscsi_conn_drop(conn, "send failed");
		return;
	}
	if (conn->closing_after_send && conn->pdus_out == 0) {
		iscsi_conn_drop(conn, NULL);
		return;
	}
	conn_resume_tx(conn);
}

void
iscsi_conn_flush(struct iscsi_conn *conn)
{
	if (!conn->flush_pending && conn->pg != NULL && conn->state != ISCSI_CONN_EXITING) {
		conn->flush_pending = true;
		TAILQ_INSERT_TAIL(&conn->pg->flush_list, conn, flush_link);
	}
}

/* Header digest, padding and data digest around the data iovecs already in pdu->iov[1..]. */
static void
pdu_finish(struct iscsi_conn *conn, struct iscsi_pdu *pdu, int data_iovcnt, uint32_t len)
{
	bool ffp = conn->state != ISCSI_CONN_LOGIN;
	uint32_t crc, pad = (4 - (len & 3)) & 3;
	int n = 1 + data_iovcnt;

	iscsi_bhs_set_dsl(&pdu->hdr.bhs, len);
	pdu->iov[0].iov_base = pdu->hdr.raw;
	pdu->iov[0].iov_len = ISCSI_BHS_LEN;
	if (ffp && conn->hdigest) {
		/* The digest iovec goes right after the header: shift the data ones. */
		memmove(&pdu->iov[2], &pdu->iov[1], sizeof(pdu->iov[0]) * (size_t)data_iovcnt);
		crc = digest_final(osp_crc32c_update(pdu->hdr.raw, ISCSI_BHS_LEN, 0xffffffffu));
		memcpy(pdu->hdgst, &crc, 4);
		pdu->iov[1].iov_base = pdu->hdgst;
		pdu->iov[1].iov_len = 4;
		n++;
	}
	if (len > 0) {
		if (pad > 0) {
			pdu->iov[n].iov_base = (void *)g_zero_pad;
			pdu->iov[n].iov_len = pad;
			n++;
		}
		if (ffp && conn->ddigest) {
			crc = osp_crc32c_iov_update(&pdu->iov[n - data_iovcnt - (pad ? 1 : 0)],
						    data_iovcnt + (pad ? 1 : 0), 0xffffffffu);
			crc = digest_final(crc);
			memcpy(pdu->ddgst, &crc, 4);
			pdu->iov[n].iov_base = pdu->ddgst;
			pdu->iov[n].iov_len = 4;
			n++;
		}
	}
	pdu->iovcnt = n;
	pdu->sreq.cb_fn = pdu_sent;
	pdu->sreq.cb_arg = pdu;
	pdu->sreq.iov = pdu->iov;
	pdu->sreq.iovcnt = n;
	conn->pdus_out++;
	if (conn->sock == NULL || osp_sock_writev_async(conn->sock, &pdu->sreq) != 0) {
		/* Closed under us: complete it as cancelled. */
		pdu_sent(pdu, -ECANCELED);
		return;
	}
	iscsi_conn_flush(conn);
}

void
iscsi_conn_send_pdu(struct iscsi_conn *conn, struct iscsi_pdu *pdu, const void *data,
		    uint32_t len)
{
	int n = 0;

	if (len > 0) {
		pdu->iov[1].iov_base = (void *)data;
		pdu->iov[1].iov_len = len;
		n = 1;
	}
	pdu_finish(conn, pdu, n, len);
}

void
iscsi_conn_send_pdu_iov(struct iscsi_conn *conn, struct iscsi_pdu *pdu, const struct iovec *iov,
			int iovcnt, uint32_t len)
{
	memcpy(&pdu->iov[1], iov, sizeof(*iov) * (size_t)iovcnt);
	pdu_finish(conn, pdu, iovcnt, len);
}

/* ---- life cycle ---- */

int
iscsi_conn_resize_rx(struct iscsi_conn *conn, uint32_t len)
{
	uint8_t *buf;

	len = (len + 3) & ~3u;
	if (len <= conn->rx_data_cap) {
		return 0;
	}
	buf = realloc(conn->rx_data, len);
	if (buf == NULL) {
		return -ENOMEM;
	}
	conn->rx_data = buf;
	conn->rx_data_cap = len;
	return 0;
}

static struct iscsi_pdu *
conn_alloc_pdus(struct iscsi_conn *conn, uint32_t n)
{
	struct iscsi_pdu *pool;
	uint32_t i;

	pool = calloc(n, sizeof(*pool));
	if (pool == NULL) {
		return NULL;
	}
	for (i = 0; i < n; i++) {
		TAILQ_INSERT_TAIL(&conn->free_pdus, &pool[i], link);
	}
	conn->npdus += n;
	return pool;
}

/* Requests and PDUs sized by the session's queue depth, at the end of login. */
int
iscsi_conn_alloc_ffp(struct iscsi_conn *conn, uint32_t queue_depth)
{
	uint32_t i, nreqs = queue_depth + 16;

	conn->req_pool = calloc(nreqs, sizeof(*conn->req_pool));
	if (conn->req_pool == NULL) {
		return -ENOMEM;
	}
	conn->nreqs = nreqs;
	for (i = 0; i < nreqs; i++) {
		conn->req_pool[i].conn = conn;
		TAILQ_INSERT_TAIL(&conn->free_reqs, &conn->req_pool[i], link);
	}
	conn->ffp_pdu_pool = conn_alloc_pdus(conn, nreqs * ISCSI_PDUS_PER_REQ);
	return conn->ffp_pdu_pool != NULL ? 0 : -ENOMEM;
}

void
iscsi_conn_accepted(struct iscsi_poll_group *pg, struct osp_sock *sock, int portal_tag)
{
	struct iscsi_conn *conn;
	int rc;

	conn = calloc(1, sizeof(*conn));
	if (conn == NULL) {
		OSP_ERRLOG("out of memory for a new iSCSI connection\n");
		osp_sock_close(&sock);
		return;
	}
	conn->id = __atomic_fetch_add(&g_iscsi.next_conn_id, 1, __ATOMIC_RELAXED);
	conn->pg = pg;
	conn->sock = sock;
	conn->portal_tag = portal_tag;
	conn->state = ISCSI_CONN_LOGIN;
	conn->max_recv_dsl = ISCSI_LOGIN_MAX_DSL;
	conn->max_send_dsl = ISCSI_LOGIN_MAX_DSL;
	conn->statsn = (uint32_t)(osp_get_ticks() & 0xffff) + 1;
	TAILQ_INIT(&conn->free_pdus);
	TAILQ_INIT(&conn->tx_wait);
	TAILQ_INIT(&conn->free_reqs);
	TAILQ_INIT(&conn->active_reqs);
	osp_sock_getaddr(sock, conn->target_addr, sizeof(conn->target_addr), &conn->target_port,
			 conn->initiator_addr, sizeof(conn->initiator_addr), &conn->initiator_port);
	/*
	 * The login state (~80 KiB with its text buffers) and the data buffer
	 * come with the first PDU: a connection that never speaks costs little.
	 */
	if ((conn->pdu_pool = conn_alloc_pdus(conn, ISCSI_LOGIN_PDUS)) == NULL) {
		OSP_ERRLOG("out of memory for a new iSCSI connection\n");
		goto fail;
	}
	rc = osp_sock_group_add_sock(pg->sock_group, sock, iscsi_conn_sock_cb, conn);
	if (rc != 0) {
		OSP_ERRLOG("cannot poll a new iSCSI connection: %s\n", strerror(-rc));
		goto fail;
	}
	conn->in_sock_group = true;
	conn->last_activity_tsc = osp_get_ticks();
	conn->login_deadline_tsc = conn->last_activity_tsc +
				   ISCSI_LOGIN_TIMEOUT_S * osp_get_ticks_hz();
	TAILQ_INSERT_TAIL(&pg->conns, conn, pg_link);
	pg->nconns++;
	iscsi_stat_move(NULL, &g_iscsi.nconns_login);
	OSP_DEBUGLOG(iscsi, "connection %lu from %s:%u\n", (unsigned long)conn->id,
		     conn->initiator_addr, conn->initiator_port);
	return;
fail:
	osp_sock_close(&conn->sock);
	iscsi_login_free(conn->login);
	free(conn->rx_data);
	free(conn->pdu_pool);
	free(conn);
}

static void
conn_free(struct iscsi_conn *conn)
{
	struct iscsi_pdu *pdu;

	if (conn->flush_pending) {
		TAILQ_REMOVE(&conn->pg->flush_list, conn, flush_link);
		conn->flush_pending = false;
	}
	TAILQ_REMOVE(&conn->pg->conns, conn, pg_link);
	conn->pg->nconns--;
	if (conn->sess != NULL) {
		iscsi_session_remove_conn(conn->sess, conn);
		conn->sess = NULL;
	}
	while ((pdu = TAILQ_FIRST(&conn->free_pdus)) != NULL) {
		TAILQ_REMOVE(&conn->free_pdus, pdu, link);
	}
	iscsi_login_free(conn->login);
	free(conn->text_req);
	free(conn->text_rsp);
	free(conn->text_nego);
	free(conn->rx_data);
	free(conn->pdu_pool);
	free(conn->ffp_pdu_pool);
	free(conn->req_pool);
	iscsi_stat_move(&g_iscsi.nconns_exiting, &g_iscsi.nconns_exited);
	free(conn);
}

static void
conn_free_check(struct iscsi_conn *conn)
{
	if (conn->state == ISCSI_CONN_EXITING && !conn->in_cb && conn->reqs_out == 0 &&
	    conn->pdus_out == 0 && !conn->freed) {
		conn->freed = true;
		conn_free(conn);
	}
}

void
iscsi_conn_put(struct iscsi_conn *conn)
{
	conn->in_cb--;
	conn_free_check(conn);
}

void
iscsi_conn_free_if_done(struct iscsi_conn *conn)
{
	conn_free_check(conn);
}

void
iscsi_conn_drop(struct iscsi_conn *conn, const char *why)
{
	uint32_t *from;

	if (conn->state == ISCSI_CONN_EXITING) {
		return;
	}
	from = conn->state == ISCSI_CONN_LOGIN ? &g_iscsi.nconns_login : &g_iscsi.nconns_running;
	iscsi_stat_move(from, &g_iscsi.nconns_exiting);
	if (why != NULL) {
		OSP_NOTICELOG("iSCSI: closing the connection from %s:%u%s%s: %s\n",
			      conn->initiator_addr, conn->initiator_port,
			      conn->initiator_name[0] ? " of " : "", conn->initiator_name, why);
	}
	conn->state = ISCSI_CONN_EXITING;
	if (conn->flush_pending) {
		TAILQ_REMOVE(&conn->pg->flush_list, conn, flush_link);
		conn->flush_pending = false;
	}
	conn->in_cb++;
	if (conn->sock != NULL) {
		if (conn->in_sock_group) {
			osp_sock_group_remove_sock(conn->pg->sock_group, conn->sock);
			conn->in_sock_group = false;
		}
		/* A last chance for what is queued (a Reject, a Logout Response). */
		osp_sock_flush(conn->sock);
		osp_sock_close(&conn->sock);
	}
	iscsi_conn_abort_reqs(conn);
	conn->in_cb--;
	conn_free_check(conn);
}

/* ---- moving a connection to its session's thread (MC/S) ---- */

struct conn_move {
	struct iscsi_conn *conn;
	struct iscsi_session *sess;
};

static void
conn_arrive(void *arg)
{
	struct conn_move *m = arg;
	struct iscsi_conn *conn = m->conn;
	struct iscsi_poll_group *pg = m->sess->pg;
	int rc;

	free(m);
	conn->pg = pg;
	TAILQ_INSERT_TAIL(&pg->conns, conn, pg_link);
	pg->nconns++;
	rc = osp_sock_group_add_sock(pg->sock_group, conn->sock, iscsi_conn_sock_cb, conn);
	if (rc != 0) {
		iscsi_conn_drop(conn, "cannot poll the connection on its session's thread");
		return;
	}
	conn->in_sock_group = true;
	iscsi_login_continue_on_session(conn);
	iscsi_conn_flush(conn);
}

void
iscsi_conn_move_to_thread(struct iscsi_conn *conn, struct iscsi_session *sess)
{
	struct conn_move *m = calloc(1, sizeof(*m));

	if (m == NULL) {
		iscsi_conn_drop(conn, "out of memory");
		return;
	}
	m->conn = conn;
	m->sess = sess;
	if (conn->flush_pending) {
		TAILQ_REMOVE(&conn->pg->flush_list, conn, flush_link);
		conn->flush_pending = false;
	}
	if (conn->in_sock_group) {
		osp_sock_group_remove_sock(conn->pg->sock_group, conn->sock);
		conn->in_sock_group = false;
	}
	TAILQ_REMOVE(&conn->pg->conns, conn, pg_link);
	conn->pg->nconns--;
	conn->pg = NULL;
	conn->moving = true;
	osp_thread_send_msg(sess->pg->thread, conn_arrive, m);
}

/* ---- receive ---- */

static void
rx_reset(struct iscsi_conn *conn)
{
	conn->rx_state = ISCSI_RX_BHS;
	conn->rx_off = 0;
}

/* The header is in: check what can be checked before reading more. */
static int
rx_header_done(struct iscsi_conn *conn)
{
	struct iscsi_bhs *bhs = &conn->rx_bhs.bhs;
	uint32_t dsl = iscsi_bhs_dsl(bhs);
	uint32_t limit = conn->state == ISCSI_CONN_LOGIN ? ISCSI_LOGIN_MAX_DSL : conn->max_recv_dsl;

	conn->rx_ahs_len = (uint32_t)bhs->total_ahs_len * 4;
	conn->rx_dsl = dsl;
	conn->rx_data_padded = (dsl + 3) & ~3u;
	if (dsl > limit) {
		OSP_NOTICELOG("iSCSI: %s:%u sent a %u-byte data segment (opcode 0x%02x); the limit is "
			      "%u (MaxRecvDataSegmentLength)\n", conn->initiator_addr,
			      conn->initiator_port, dsl, bhs->opcode & ISCSI_OPCODE_MASK, limit);
		if (conn->state != ISCSI_CONN_LOGIN) {
			iscsi_conn_reject(conn, ISCSI_REJECT_PROTOCOL_ERROR);
		}
		return -EPROTO;
	}
	if (iscsi_conn_resize_rx(conn, conn->rx_data_padded) != 0) {
		return -ENOMEM;
	}
	return 0;
}

/* Read what the state needs; returns > 0 bytes read, -EAGAIN, 0 (closed) or -errno. */
static ssize_t
rx_step(struct iscsi_conn *conn, bool *pdu_done)
{
	bool digests = conn->state != ISCSI_CONN_LOGIN;
	uint8_t *dst;
	uint32_t need;
	ssize_t rc;
	uint32_t crc;

	*pdu_done = false;
	switch (conn->rx_state) {
	case ISCSI_RX_BHS:
		dst = conn->rx_bhs.raw;
		need = ISCSI_BHS_LEN;
		break;
	case ISCSI_RX_AHS:
		dst = conn->rx_ahs;
		need = conn->rx_ahs_len;
		break;
	case ISCSI_RX_HDGST:
	case ISCSI_RX_DDGST:
		dst = conn->rx_dgst;
		need = ISCSI_DIGEST_LEN;
		break;
	case ISCSI_RX_DATA:
	default:
		dst = conn->rx_data;
		need = conn->rx_data_padded;
		break;
	}
	if (conn->rx_off < need) {
		rc = osp_sock_recv(conn->sock, dst + conn->rx_off, need - conn->rx_off);
		if (rc <= 0) {
			return rc;
		}
		conn->rx_off += (uint32_t)rc;
		if (conn->rx_off < need) {
			return rc;
		}
	} else {
		rc = 1;	/* an empty stage */
	}
	conn->rx_off = 0;
	switch (conn->rx_state) {
	case ISCSI_RX_BHS:
		if (rx_header_done(conn) != 0) {
			return -EPROTO;
		}
		if (conn->rx_ahs_len > 0) {
			conn->rx_state = ISCSI_RX_AHS;
			return rc;
		}
	/* fallthrough */
	case ISCSI_RX_AHS:
		if (digests && conn->hdigest) {
			conn->rx_state = ISCSI_RX_HDGST;
			return rc;
		}
		goto data;
	case ISCSI_RX_HDGST:
		crc = osp_crc32c_update(conn->rx_bhs.raw, ISCSI_BHS_LEN, 0xffffffffu);
		crc = digest_final(osp_crc32c_update(conn->rx_ahs, conn->rx_ahs_len, crc));
		if (memcmp(&crc, conn->rx_dgst, 4) != 0) {
			/* The lengths cannot be trusted: the connection is lost (RFC 7143 7.8). */
			OSP_NOTICELOG("iSCSI: header digest error from %s:%u\n",
				      conn->initiator_addr, conn->initiator_port);
			return -EPROTO;
		}
data:
		if (conn->rx_dsl > 0) {
			conn->rx_state = ISCSI_RX_DATA;
			return rc;
		}
		*pdu_done = true;
		return rc;
	case ISCSI_RX_DATA:
		if (digests && conn->ddigest) {
			conn->rx_state = ISCSI_RX_DDGST;
			return rc;
		}
		*pdu_done = true;
		return rc;
	case ISCSI_RX_DDGST:
	default:
		crc = digest_final(osp_crc32c_update(conn->rx_data, conn->rx_data_padded,
						     0xffffffffu));
		if (memcmp(&crc, conn->rx_dgst, 4) != 0) {
			OSP_NOTICELOG("iSCSI: data digest error from %s:%u\n",
				      conn->initiator_addr, conn->initiator_port);
			iscsi_conn_reject(conn, ISCSI_REJECT_DATA_DIGEST);
			/* ERL 0 cannot recover the lost data: end the connection. */
			return -EPROTO;
		}
		*pdu_done = true;
		return rc;
	}
}

void
iscsi_conn_handle_pdu(struct iscsi_conn *conn)
{
	if (conn->state == ISCSI_CONN_LOGIN) {
		iscsi_login_handle_pdu(conn);
	} else if (conn->state == ISCSI_CONN_FFP || conn->state == ISCSI_CONN_LOGGED_OUT) {
		iscsi_ffp_handle_pdu(conn);
	}
}

void
iscsi_conn_sock_cb(void *arg, struct osp_sock_group *group, struct osp_sock *sock)
{
	struct iscsi_conn *conn = arg;
	bool done;
	ssize_t rc;
	int budget = 64;

	(void)group;
	(void)sock;
	conn->in_cb++;
	while (budget > 0 && conn->state != ISCSI_CONN_EXITING && !conn->moving) {
		rc = rx_step(conn, &done);
		if (rc == -EAGAIN) {
			break;
		}
		if (rc == 0) {
			iscsi_conn_drop(conn, conn->state == ISCSI_CONN_LOGIN ||
					conn->state == ISCSI_CONN_LOGGED_OUT ? NULL :
					"the initiator closed the connection");
			break;
		}
		if (rc < 0) {
			iscsi_conn_drop(conn, rc == -EPROTO ? "protocol error" : strerror((int)-rc));
			break;
		}
		if (done) {
			budget--;
			conn->last_activity_tsc = osp_get_ticks();
			conn->nop_outstanding = false;
			rx_reset(conn);
			iscsi_conn_handle_pdu(conn);
		}
	}
	conn->in_cb--;
	if (conn->state == ISCSI_CONN_EXITING) {
		conn_free_check(conn);
	}
}

/* ---- poll group ---- */

int
iscsi_pg_poll(void *arg)
{
	struct iscsi_poll_group *pg = arg;
	struct iscsi_conn *conn;
	int rc, busy;

	rc = osp_sock_group_poll(pg->sock_group);
	busy = rc > 0;
	/* Send what this poll produced now rather than on the next one. */
	while ((conn = TAILQ_FIRST(&pg->flush_list)) != NULL) {
		TAILQ_REMOVE(&pg->flush_list, conn, flush_link);
		conn->flush_pending = false;
		if (conn->sock != NULL) {
			conn->in_cb++;
			osp_sock_flush(conn->sock);
			conn->in_cb--;
			conn_free_check(conn);
		}
		busy = 1;
	}
	return busy ? OSP_POLLER_BUSY : OSP_POLLER_IDLE;
}

int
iscsi_pg_timer(void *arg)
{
	struct iscsi_poll_group *pg = arg;
	struct iscsi_conn *conn, *tmp;
	uint64_t now = osp_get_ticks(), hz = osp_get_ticks_hz();
	uint64_t interval = (uint64_t)g_iscsi.opts.nop_in_interval * hz;
	uint64_t timeout = (uint64_t)g_iscsi.opts.nop_timeout * hz;

	TAILQ_FOREACH_SAFE(conn, &pg->conns, pg_link, tmp) {
		if (conn->state == ISCSI_CONN_LOGIN) {
			if (now > conn->login_deadline_tsc) {
				iscsi_conn_drop(conn, "login not completed in time");
			}
			continue;
		}
		if (conn->state != ISCSI_CONN_FFP) {
			continue;
		}
		if (conn->nop_outstanding) {
			if (now - conn->nop_sent_tsc > timeout) {
				iscsi_conn_drop(conn, "no answer to a NOP-In ping (nop_timeout)");
			}
			continue;
		}
		if (interval > 0 && now - conn->last_activity_tsc > interval) {
			iscsi_conn_send_nopin_ping(conn);
		}
	}
	return OSP_POLLER_IDLE;
}

/* ---- RPC output (on the connection's thread) ---- */

void
iscsi_conn_json(struct iscsi_conn *conn, cJSON *obj)
{
	osp_json_add_uint64(obj, "id", conn->id);
	osp_json_add_uint64(obj, "cid", conn->cid);
	osp_json_add_uint64(obj, "tsih", conn->sess ? conn->sess->tsih : 0);
	osp_json_add_uint64(obj, "lcore_id", conn->pg ? conn->pg->core : 0);
	cJSON_AddStringToObject(obj, "initiator_addr", conn->initiator_addr);
	cJSON_AddStringToObject(obj, "target_addr", conn->target_addr);
	cJSON_AddStringToObject(obj, "target_node_name", conn->target_name);
	cJSON_AddStringToObject(obj, "initiator_name", conn->initiator_name);
	cJSON_AddStringToObject(obj, "state", conn->state == ISCSI_CONN_LOGIN ? "login" :
				conn->state == ISCSI_CONN_FFP ? "running" :
				conn->state == ISCSI_CONN_LOGGED_OUT ? "logged_out" : "exiting");
	cJSON_AddBoolToObject(obj, "header_digest", conn->hdigest);
	cJSON_AddBoolToObject(obj, "data_digest", conn->ddigest);
	osp_json_add_uint64(obj, "max_recv_data_segment_length", conn->max_recv_dsl);
	osp_json_add_uint64(obj, "max_send_data_segment_length", conn->max_send_dsl);
}
