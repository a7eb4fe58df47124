/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The login phase (RFC 7143 6): Login Request / Response PDUs, continued
 * text (C bit), stage transitions (security 0 -> operational 1 -> full
 * feature 3), the target and access checks, session creation, connection
 * reinstatement and the move of a non-leading connection to its session's
 * thread. The keys themselves are negotiated by param.c / chap.c through
 * iscsi_param.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "osprey/log.h"
#include "osprey/util.h"

#include "iscsi_internal.h"

#define LOGIN_RSP_MAX	8192

struct iscsi_login {
	struct iscsi_nego nego;
	struct iscsi_text text;
	char *accum;			/* continued text (C bit) */
	uint32_t accum_len;
	bool started;
	uint8_t isid[6];
	uint16_t tsih;
	uint16_t cid;
	uint32_t itt;
	uint32_t cmdsn;
	int stage;			/* current stage: 0 or 1 */
	bool transit;			/* the pending answer's T, CSG, NSG */
	int rsp_csg;
	int rsp_nsg;
	enum iscsi_session_type type;
	char target_name[ISCSI_NAME_MAX_LEN + 1];
	struct iscsi_session *join;	/* non-leading: the session joined */
	bool tpgt_sent;
	char alias[256];
	bool node_hdigest;
	bool node_ddigest;
	uint32_t queue_depth;
	char rsp[LOGIN_RSP_MAX];
	struct iscsi_textbuf tb;
};

struct iscsi_login *
iscsi_login_alloc(void)
{
	struct iscsi_login *l = calloc(1, sizeof(*l));

	if (l != NULL) {
		l->tb.buf = l->rsp;
		l->tb.cap = sizeof(l->rsp);
	}
	return l;
}

void
iscsi_login_free(struct iscsi_login *login)
{
	if (login == NULL) {
		return;
	}
	free(login->accum);
	/* CHAP state and secrets may be in there. */
	memset(login, 0, sizeof(*login));
	free(login);
}

/* ---- responses ---- */

static void
login_send_rsp(struct iscsi_conn *conn, uint16_t status, bool with_text)
{
	struct iscsi_login *l = conn->login;
	struct iscsi_pdu *pdu;
	struct iscsi_bhs_login_rsp *rsp;
	uint32_t len = 0;
	void *data = NULL;

	if (with_text && status == ISCSI_LOGIN_STATUS_SUCCESS && l->tb.len > 0) {
		data = malloc(l->tb.len);
		if (data == NULL) {
			iscsi_conn_drop(conn, "out of memory");
			return;
		}
		memcpy(data, l->tb.buf, l->tb.len);
		len = l->tb.len;
	}
	pdu = iscsi_pdu_get(conn, true);
	if (pdu == NULL) {
		free(data);
		iscsi_conn_drop(conn, "out of memory");
		return;
	}
	pdu->owned = data;
	rsp = (struct iscsi_bhs_login_rsp *)&pdu->hdr.bhs;
	rsp->opcode = ISCSI_OP_LOGIN_RSP;
	if (status == ISCSI_LOGIN_STATUS_SUCCESS) {
		rsp->flags = (uint8_t)((l->transit ? ISCSI_LOGIN_FLAG_TRANSIT : 0) |
				       (l->rsp_csg << 2) | (l->transit ? l->rsp_nsg : 0));
	}
	rsp->version_max = ISCSI_VERSION;
	rsp->version_active = ISCSI_VERSION;
	memcpy(rsp->isid, l->isid, 6);
	rsp->tsih = htobe16(l->transit && l->rsp_nsg == ISCSI_STAGE_FULL_FEATURE && conn->sess ?
			    conn->sess->tsih : l->tsih);
	rsp->itt = htobe32(l->itt);
	rsp->statsn = htobe32(conn->statsn++);
	if (conn->sess != NULL) {
		rsp->exp_cmdsn = htobe32(conn->sess->exp_cmdsn);
		rsp->max_cmdsn = htobe32(iscsi_session_max_cmdsn(conn->sess));
	} else {
		rsp->exp_cmdsn = htobe32(l->cmdsn);
		rsp->max_cmdsn = htobe32(l->cmdsn);
	}
	rsp->status_class = (uint8_t)(status >> 8);
	rsp->status_detail = (uint8_t)status;
	l->tb.len = 0;
	iscsi_conn_send_pdu(conn, pdu, data, len);
}

/* Answer with a failure status and close once it is sent. */
static void
login_fail(struct iscsi_conn *conn, uint16_t status, const char *why)
{
	OSP_NOTICELOG("iSCSI: login from %s:%u%s%s refused (status %u/%u): %s\n",
		      conn->initiator_addr, conn->initiator_port,
		      conn->initiator_name[0] ? " of " : "", conn->initiator_name, status >> 8,
		      status & 0xff, why);
	login_send_rsp(conn, status, false);
	conn->closing_after_send = true;
	conn->login_failed = true;
}

/* ---- entering the full feature phase ---- */

static void
login_enter_ffp(struct iscsi_conn *conn)
{
	struct iscsi_login *l = conn->login;
	struct iscsi_nego *n = &l->nego;
	uint32_t qd = conn->sess->queue_depth;

	conn->hdigest = n->conn.header_digest;
	conn->ddigest = n->conn.data_digest;
	conn->max_recv_dsl = n->conn.max_recv_dsl ? n->conn.max_recv_dsl :
			     g_iscsi.opts.max_recv_data_segment_length;
	conn->max_send_dsl = n->conn.max_send_dsl ? n->conn.max_send_dsl : 8192;
	if (iscsi_conn_alloc_ffp(conn, qd) != 0 ||
	    iscsi_conn_resize_rx(conn, conn->max_recv_dsl) != 0) {
		login_fail(conn, ISCSI_LOGIN_STATUS_OUT_OF_RESOURCES, "out of memory");
		return;
	}
	/* The final response goes out before digests apply to this connection's PDUs. */
	login_send_rsp(conn, ISCSI_LOGIN_STATUS_SUCCESS, true);
	conn->state = ISCSI_CONN_FFP;
	iscsi_stat_move(&g_iscsi.nconns_login, &g_iscsi.nconns_running);
	iscsi_login_free(conn->login);
	conn->login = NULL;
	conn->last_activity_tsc = osp_get_ticks();
	OSP_DEBUGLOG(iscsi, "%s logged in to %s (tsih %u cid %u)\n", conn->initiator_name,
		     conn->target_name[0] ? conn->target_name : "discovery", conn->sess->tsih,
		     conn->cid);
}

static void
itn_opened(void *cb_arg, struct osp_scsi_itn *itn, int rc)
{
	struct iscsi_conn *conn = cb_arg;
	struct iscsi_session *sess = conn->sess;

	sess->opening = false;
	if (itn != NULL) {
		sess->itn = itn;
	}
	if (conn->state == ISCSI_CONN_EXITING) {
		iscsi_conn_put(conn);
		return;
	}
	conn->in_cb--;
	if (rc != 0 || itn == NULL) {
		login_fail(conn, ISCSI_LOGIN_STATUS_TARGET_ERROR, "cannot open the I_T nexus");
		iscsi_conn_flush(conn);
		return;
	}
	login_enter_ffp(conn);
	iscsi_conn_flush(conn);
}

static void
login_complete_leading(struct iscsi_conn *conn)
{
	struct iscsi_login *l = conn->login;
	struct iscsi_tgt_node *node = NULL;
	struct iscsi_session *sess, *old;
	int rc;

	iscsi_lock();
	if (l->type == ISCSI_SESSION_TYPE_NORMAL) {
		node = iscsi_tgt_node_find(l->target_name);
		if (node == NULL) {
			iscsi_unlock();
			login_fail(conn, ISCSI_LOGIN_STATUS_TARGET_REMOVED, "the target was removed");
			return;
		}
	}
	/* Session reinstatement (RFC 7143 6.3.5): an old session of this initiator port goes. */
	old = iscsi_session_find(l->nego.sess.initiator_name, l->isid, 0,
				 node != NULL ? node->name : NULL);
	iscsi_unlock();
	if (old != NULL) {
		OSP_NOTICELOG("iSCSI: %s reinstates its session (ISID %02x%02x%02x%02x%02x%02x, "
			      "tsih %u)\n", l->nego.sess.initiator_name, l->isid[0], l->isid[1],
			      l->isid[2], l->isid[3], l->isid[4], l->isid[5], old->tsih);
		iscsi_sessions_drop_matching(node, l->nego.sess.initiator_name, l->isid, NULL);
	}
	rc = iscsi_session_create(conn, node, l->isid, &l->nego.sess, &sess);
	if (rc != 0) {
		login_fail(conn, rc == -EUSERS ? ISCSI_LOGIN_STATUS_TOO_MANY_CONNS :
			   rc == -ENODEV ? ISCSI_LOGIN_STATUS_TARGET_REMOVED :
			   ISCSI_LOGIN_STATUS_OUT_OF_RESOURCES,
			   rc == -EUSERS ? "max_sessions reached" : "cannot create the session");
		return;
	}
	sess->exp_cmdsn = l->cmdsn;
	if (l->queue_depth != 0) {
		sess->queue_depth = l->queue_depth;
	}
	iscsi_session_add_conn(sess, conn);
	if (node == NULL) {
		login_enter_ffp(conn);
		return;
	}
	sess->iport = osp_scsi_port_create(sess->initiator_port_name, 0);
	if (sess->iport == NULL) {
		login_fail(conn, ISCSI_LOGIN_STATUS_OUT_OF_RESOURCES, "out of memory");
		return;
	}
	sess->opening = true;
	conn->in_cb++;
	rc = osp_scsi_itn_open(node->dev, sess->iport, (uint16_t)conn->portal_tag, itn_opened,
			       conn);
	if (rc != 0) {
		sess->opening = false;
		conn->in_cb--;
		login_fail(conn, ISCSI_LOGIN_STATUS_TARGET_ERROR, "cannot open the I_T nexus");
	}
}

static void
login_complete_join(struct iscsi_conn *conn)
{
	struct iscsi_session *sess = conn->login->join;
	struct iscsi_conn *c, *tmp;

	uint32_t others = 0;

	TAILQ_FOREACH(c, &sess->conns, sess_link) {
		if (c->cid != conn->cid && c->state != ISCSI_CONN_EXITING) {
			others++;
		}
	}
	if (others >= sess->params.max_connections) {
		login_fail(conn, ISCSI_LOGIN_STATUS_TOO_MANY_CONNS, "MaxConnections reached");
		return;
	}
	/* Joined first, so that the session outlives the connection this one replaces. */
	iscsi_session_add_conn(sess, conn);
	/* Connection reinstatement: an old connection with this CID goes (RFC 7143 6.3.4). */
	TAILQ_FOREACH_SAFE(c, &sess->conns, sess_link, tmp) {
		if (c->cid == conn->cid && c != conn) {
			iscsi_conn_drop(c, "reinstated by a new connection with its CID");
		}
	}
	login_enter_ffp(conn);
}

/* ---- the first PDU: who and what ---- */

static uint16_t
login_first(struct iscsi_conn *conn, const struct iscsi_bhs_login_req *req, char *why,
	    size_t whylen)
{
	struct iscsi_login *l = conn->login;
	struct iscsi_tgt_node *node;
	const char *iname, *stype, *tname;
	bool disable, require, mutual;
	int32_t group;

	memcpy(l->isid, req->isid, 6);
	l->tsih = be16toh(req->tsih);
	l->cid = be16toh(req->cid);
	l->cmdsn = be32toh(req->cmdsn);
	conn->cid = l->cid;
	iscsi_nego_init(&l->nego, &g_iscsi.param_defaults, l->tsih == 0);
	iname = iscsi_text_get(&l->text, "InitiatorName");
	stype = iscsi_text_get(&l->text, "SessionType");
	tname = iscsi_text_get(&l->text, "TargetName");
	if (iname == NULL || iname[0] == '\0') {
		osp_seterr(why, whylen, "no InitiatorName");
		return ISCSI_LOGIN_STATUS_MISSING_PARAM;
	}
	if (strlen(iname) > ISCSI_NAME_MAX_LEN) {
		osp_seterr(why, whylen, "InitiatorName too long");
		return ISCSI_LOGIN_STATUS_INITIATOR_ERROR;
	}
	snprintf(conn->initiator_name, sizeof(conn->initiator_name), "%s", iname);
	if (stype == NULL || strcmp(stype, "Normal") == 0) {
		l->type = ISCSI_SESSION_TYPE_NORMAL;
	} else if (strcmp(stype, "Discovery") == 0) {
		l->type = ISCSI_SESSION_TYPE_DISCOVERY;
	} else {
		osp_seterr(why, whylen, "SessionType=%s", stype);
		return ISCSI_LOGIN_STATUS_SESSION_TYPE_UNSUPP;
	}
	if (g_iscsi.shutting_down) {
		osp_seterr(why, whylen, "the target is shutting down");
		return ISCSI_LOGIN_STATUS_SERVICE_UNAVAILABLE;
	}
	iscsi_lock();
	if (l->type == ISCSI_SESSION_TYPE_NORMAL) {
		if (tname == NULL || tname[0] == '\0') {
			iscsi_unlock();
			osp_seterr(why, whylen, "no TargetName");
			return ISCSI_LOGIN_STATUS_MISSING_PARAM;
		}
		node = iscsi_tgt_node_find(tname);
		if (node == NULL || strcasecmp(node->name, tname) != 0) {
			iscsi_unlock();
			osp_seterr(why, whylen, "no target %.223s", tname);
			return ISCSI_LOGIN_STATUS_NOT_FOUND;
		}
		if (!iscsi_tgt_node_has_pg(node, conn->portal_tag)) {
			iscsi_unlock();
			osp_seterr(why, whylen, "%s is not reachable through portal group %d",
				   node->name, conn->portal_tag);
			return ISCSI_LOGIN_STATUS_NOT_FOUND;
		}
		if (!iscsi_tgt_node_access(node, conn->portal_tag, iname, conn->initiator_addr)) {
			iscsi_unlock();
			osp_seterr(why, whylen, "%s may not use %s (initiator groups)", iname,
				   node->name);
			return ISCSI_LOGIN_STATUS_AUTHZ_FAILED;
		}
		snprintf(l->target_name, sizeof(l->target_name), "%s", node->name);
		snprintf(conn->target_name, sizeof(conn->target_name), "%s", node->name);
		disable = node->disable_chap;
		require = node->require_chap;
		mutual = node->mutual_chap;
		group = node->chap_group != 0 ? node->chap_group : g_iscsi_disc_chap_group;
		l->node_hdigest = node->header_digest;
		l->node_ddigest = node->data_digest;
		l->queue_depth = node->queue_depth;
		snprintf(l->alias, sizeof(l->alias), "%s", node->alias);
	} else {
		disable = g_iscsi_disc_disable_chap;
		require = g_iscsi_disc_require_chap;
		mutual = g_iscsi_disc_mutual_chap;
		group = g_iscsi_disc_chap_group;
	}
	iscsi_unlock();
	l->nego.auth.disable_chap = disable;
	l->nego.auth.require_chap = require;
	l->nego.auth.mutual_chap = mutual;
	l->nego.auth.lookup = iscsi_chap_lookup;
	l->nego.auth.lookup_ctx = (void *)(intptr_t)group;
	if (l->tsih != 0) {
		struct iscsi_session *sess;

		if (l->type != ISCSI_SESSION_TYPE_NORMAL) {
			osp_seterr(why, whylen, "a discovery session has one connection");
			return ISCSI_LOGIN_STATUS_NO_SESSION_SPANNING;
		}
		iscsi_lock();
		sess = iscsi_session_find(iname, l->isid, l->tsih, NULL);
		if (sess == NULL || sess->node == NULL ||
		    strcasecmp(sess->node->name, l->target_name) != 0) {
			iscsi_unlock();
			osp_seterr(why, whylen, "no session with TSIH %u", l->tsih);
			return ISCSI_LOGIN_STATUS_NO_SESSION;
		}
		l->nego.sess = sess->params;
		l->join = sess;
		iscsi_unlock();
	}
	return ISCSI_LOGIN_STATUS_SUCCESS;
}

/*
 * A node that requires digests (header_digest / data_digest of
 * iscsi_create_target_node) picks CRC32C from the initiator's list even
 * where the list puts None first; a list without CRC32C fails at the end of
 * the login.
 */
static void
login_require_digests(struct iscsi_login *l)
{
	uint32_t i;

	for (i = 0; i < l->text.npairs; i++) {
		struct iscsi_kv *kv = &l->text.kv[i];
		bool hd = strcmp(kv->key, "HeaderDigest") == 0;
		bool dd = strcmp(kv->key, "DataDigest") == 0;

		if (((hd && l->node_hdigest) || (dd && l->node_ddigest)) &&
		    strstr(kv->val, "CRC32C") != NULL) {
			kv->val = "CRC32C";
		}
	}
}

/* ---- one Login Request ---- */

static void
login_process(struct iscsi_conn *conn)
{
	struct iscsi_login *l = conn->login;
	const struct iscsi_bhs_login_req *req = (const void *)&conn->rx_bhs.bhs;
	char why[256] = "";
	uint16_t status;
	bool transit_ok = true, t, c;
	int csg, nsg;
	const void *data;
	uint32_t len;

	t = req->flags & ISCSI_LOGIN_FLAG_TRANSIT;
	c = req->flags & ISCSI_LOGIN_FLAG_CONTINUE;
	csg = ISCSI_LOGIN_CSG(req->flags);
	nsg = ISCSI_LOGIN_NSG(req->flags);
	l->itt = be32toh(req->itt);
	if (!l->started) {
		memcpy(l->isid, req->isid, 6);
		l->tsih = be16toh(req->tsih);
		l->cmdsn = be32toh(req->cmdsn);
	}
	if ((req->opcode & ISCSI_OPCODE_MASK) != ISCSI_OP_LOGIN_REQ) {
		/* Only Login PDUs before the full feature phase (RFC 7143 11.13.5: 02/0b). */
		login_fail(conn, ISCSI_LOGIN_STATUS_INVALID_REQUEST, "not a Login Request");
		return;
	}
	/* Version-min..Version-max must include 0, the only version (11.12.4). */
	if (req->version_min != ISCSI_VERSION) {
		login_fail(conn, ISCSI_LOGIN_STATUS_UNSUPPORTED_VERSION, "unsupported version");
		return;
	}
	if ((t && c) || csg == 2 || csg == 3 || (t && (nsg == 2 || nsg <= csg))) {
		login_fail(conn, ISCSI_LOGIN_STATUS_INITIATOR_ERROR, "invalid T/C/CSG/NSG");
		return;
	}
	if (l->started && (memcmp(l->isid, req->isid, 6) != 0 || l->tsih != be16toh(req->tsih) ||
			   l->cid != be16toh(req->cid))) {
		login_fail(conn, ISCSI_LOGIN_STATUS_INITIATOR_ERROR, "ISID, TSIH or CID changed");
		return;
	}
	if (csg < l->stage) {
		login_fail(conn, ISCSI_LOGIN_STATUS_INITIATOR_ERROR, "stage went back");
		return;
	}
	/* Continued text: gather it, answer with an empty response (RFC 7143 6.2). */
	data = conn->rx_data != NULL ? (const void *)conn->rx_data : "";	/* none yet: empty */
	len = conn->rx_dsl;
	if (c || l->accum_len > 0) {
		if (l->accum == NULL) {
			l->accum = malloc(ISCSI_TEXT_MAX_LEN);
		}
		if (l->accum == NULL || l->accum_len + len > ISCSI_TEXT_MAX_LEN) {
			login_fail(conn, ISCSI_LOGIN_STATUS_OUT_OF_RESOURCES, "login text too long");
			return;
		}
		if (len > 0) {
			memcpy(l->accum + l->accum_len, data, len);
		}
		l->accum_len += len;
		if (c) {
			l->transit = false;
			l->rsp_csg = csg;
			l->rsp_nsg = csg;
			login_send_rsp(conn, ISCSI_LOGIN_STATUS_SUCCESS, false);
			return;
		}
		data = l->accum;
		len = l->accum_len;
		l->accum_len = 0;
	}
	status = iscsi_text_parse(&l->text, data, len, why, sizeof(why));
	if (status != ISCSI_LOGIN_STATUS_SUCCESS) {
		login_fail(conn, status, why);
		return;
	}
	if (!l->started) {
		l->started = true;
		status = login_first(conn, req, why, sizeof(why));
		if (status != ISCSI_LOGIN_STATUS_SUCCESS) {
			login_fail(conn, status, why);
			return;
		}
		if (l->join != NULL && l->join->pg != conn->pg) {
			/* Every connection of a session runs on the session's thread. */
			iscsi_conn_move_to_thread(conn, l->join);
			return;
		}
	}
	l->stage = csg;
	login_require_digests(l);
	status = iscsi_nego_process(&l->nego, (enum iscsi_nego_stage)csg, &l->text, &l->tb,
				    &transit_ok, why, sizeof(why));
	if (status != ISCSI_LOGIN_STATUS_SUCCESS) {
		login_fail(conn, status, why);
		return;
	}
	if (!l->tpgt_sent && l->type == ISCSI_SESSION_TYPE_NORMAL) {
		/* Declared in the first answer of a normal session's login (RFC 7143 13.9). */
		char tag[8];

		snprintf(tag, sizeof(tag), "%d", conn->portal_tag);
		if (iscsi_textbuf_add(&l->tb, "TargetPortalGroupTag", tag) != 0 ||
		    (l->alias[0] != '\0' && iscsi_textbuf_add(&l->tb, "TargetAlias", l->alias) != 0)) {
			login_fail(conn, ISCSI_LOGIN_STATUS_OUT_OF_RESOURCES, "login answer too long");
			return;
		}
		l->tpgt_sent = true;
	}
	l->transit = false;
	l->rsp_csg = csg;
	l->rsp_nsg = csg;
	/*
	 * Transit only when the keys allow it: CHAP finished in the security
	 * stage, no target offer left unanswered in the operational one (the
	 * answer then carries T=0 and the initiator goes on in this stage).
	 */
	if (t && transit_ok) {
		l->transit = true;
		l->rsp_nsg = nsg;
	}
	if (l->transit && nsg == ISCSI_STAGE_FULL_FEATURE) {
		status = iscsi_nego_finish(&l->nego, &l->tb, why, sizeof(why));
		if (status != ISCSI_LOGIN_STATUS_SUCCESS) {
			login_fail(conn, status, why);
			return;
		}
		if ((l->node_hdigest && !l->nego.conn.header_digest) ||
		    (l->node_ddigest && !l->nego.conn.data_digest)) {
			login_fail(conn, ISCSI_LOGIN_STATUS_INITIATOR_ERROR,
				   "the target requires CRC32C digests");
			return;
		}
		if (l->join != NULL) {
			login_complete_join(conn);
		} else {
			login_complete_leading(conn);
		}
		return;
	}
	if (l->transit) {
		l->stage = nsg;
	}
	login_send_rsp(conn, ISCSI_LOGIN_STATUS_SUCCESS, true);
}

void
iscsi_login_handle_pdu(struct iscsi_conn *conn)
{
	if (conn->login_failed) {
		return;	/* a failure response is on its way: ignore the rest */
	}
	if (conn->login == NULL) {
		conn->login = iscsi_login_alloc();
		if (conn->login == NULL) {
			iscsi_conn_drop(conn, "out of memory for the login");
			return;
		}
	}
	if (conn->rx_ahs_len > 0) {
		login_fail(conn, ISCSI_LOGIN_STATUS_INITIATOR_ERROR, "AHS in a Login Request");
		return;
	}
	login_process(conn);
}

void
iscsi_login_continue_on_session(struct iscsi_conn *conn)
{
	struct iscsi_login *l = conn->login;
	struct iscsi_session *s;
	bool found = false;

	conn->moving = false;
	iscsi_lock();
	TAILQ_FOREACH(s, &g_iscsi.sessions, link) {
		if (s == l->join && !s->dropping) {
			found = true;
		}
	}
	iscsi_unlock();
	if (!found) {
		l->join = NULL;
		login_fail(conn, ISCSI_LOGIN_STATUS_NO_SESSION, "the session ended");
		return;
	}
	/* The PDU that asked to join is still in conn->rx_*: run it here. */
	login_process(conn);
}
