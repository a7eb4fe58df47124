/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sessions: ISID/TSIH identity (RFC 7143 4.4.2), the global session table
 * that logins search for reinstatement and for adding connections, the
 * CmdSN window (ExpCmdSN / MaxCmdSN, 4.2.2.1) with the queue depth as its
 * size, and the teardown once the last connection is gone.
 *
 * A session and all of its connections live on one poll group thread (the
 * leading connection's); a session is freed there, when its last connection
 * is freed, which happens only after every request of that connection has
 * come back from the SCSI layer, so the nexus is idle when it is closed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "osprey/log.h"
#include "osprey/util.h"

#include "iscsi_internal.h"

struct iscsi_session *
iscsi_session_find(const char *iname, const uint8_t isid[6], uint16_t tsih, const char *target)
{
	struct iscsi_session *sess;

	TAILQ_FOREACH(sess, &g_iscsi.sessions, link) {
		if (sess->dropping || strcasecmp(sess->initiator_name, iname) != 0 ||
		    memcmp(sess->isid, isid, 6) != 0) {
			continue;
		}
		if (tsih != 0) {
			if (sess->tsih == tsih) {
				return sess;
			}
			continue;
		}
		/* Reinstatement: same initiator port, same target (discovery included). */
		if ((sess->node == NULL && (target == NULL || target[0] == '\0')) ||
		    (sess->node != NULL && target != NULL &&
		     strcasecmp(sess->node->name, target) == 0)) {
			return sess;
		}
	}
	return NULL;
}

static bool
tsih_in_use(uint16_t tsih)
{
	struct iscsi_session *sess;

	TAILQ_FOREACH(sess, &g_iscsi.sessions, link) {
		if (sess->tsih == tsih) {
			return true;
		}
	}
	return false;
}

int
iscsi_session_create(struct iscsi_conn *conn, struct iscsi_tgt_node *node, const uint8_t isid[6],
		     const struct iscsi_sess_params *params, struct iscsi_session **out)
{
	struct iscsi_session *sess;
	uint32_t tries;

	sess = calloc(1, sizeof(*sess));
	if (sess == NULL) {
		return -ENOMEM;
	}
	sess->pg = conn->pg;
	memcpy(sess->isid, isid, 6);
	snprintf(sess->initiator_name, sizeof(sess->initiator_name), "%s", params->initiator_name);
	snprintf(sess->initiator_port_name, sizeof(sess->initiator_port_name),
		 "%s,i,0x%02x%02x%02x%02x%02x%02x", params->initiator_name, isid[0], isid[1],
		 isid[2], isid[3], isid[4], isid[5]);
	sess->params = *params;
	sess->node = node;
	sess->queue_depth = node != NULL ? node->queue_depth : 8;
	if (sess->queue_depth == 0) {
		sess->queue_depth = g_iscsi.opts.max_queue_depth;
	}
	sess->next_ttt = 1;
	TAILQ_INIT(&sess->conns);
	TAILQ_INIT(&sess->ahead_reqs);
	iscsi_lock();
	if (g_iscsi.nsessions >= g_iscsi.opts.max_sessions) {
		iscsi_unlock();
		free(sess);
		return -EUSERS;
	}
	if (node != NULL && node->removing) {
		iscsi_unlock();
		free(sess);
		return -ENODEV;
	}
	for (tries = 0; tries < 65536; tries++) {
		if (g_iscsi.next_tsih == 0) {
			g_iscsi.next_tsih = 1;
		}
		if (!tsih_in_use(g_iscsi.next_tsih)) {
			break;
		}
		g_iscsi.next_tsih++;
	}
	sess->tsih = g_iscsi.next_tsih++;
	TAILQ_INSERT_TAIL(&g_iscsi.sessions, sess, link);
	sess->in_table = true;
	g_iscsi.nsessions++;
	if (node != NULL) {
		node->num_sessions++;
	}
	iscsi_unlock();
	*out = sess;
	return 0;
}

void
iscsi_session_add_conn(struct iscsi_session *sess, struct iscsi_conn *conn)
{
	TAILQ_INSERT_TAIL(&sess->conns, conn, sess_link);
	sess->nconns++;
	conn->sess = sess;
}

static void
session_unlist(struct iscsi_session *sess)
{
	iscsi_lock();
	if (sess->in_table) {
		TAILQ_REMOVE(&g_iscsi.sessions, sess, link);
		sess->in_table = false;
		g_iscsi.nsessions--;
	}
	iscsi_unlock();
}

static void
session_free(struct iscsi_session *sess)
{
	session_unlist(sess);
	if (sess->itn != NULL) {
		osp_scsi_itn_close(sess->itn);
		sess->itn = NULL;
	}
	if (sess->iport != NULL) {
		osp_scsi_port_free(sess->iport);
	}
	if (sess->node != NULL) {
		iscsi_tgt_node_session_gone(sess->node);
	}
	OSP_DEBUGLOG(iscsi, "session tsih %u of %s freed\n", sess->tsih, sess->initiator_name);
	free(sess);
}

void
iscsi_session_remove_conn(struct iscsi_session *sess, struct iscsi_conn *conn)
{
	TAILQ_REMOVE(&sess->conns, conn, sess_link);
	sess->nconns--;
	if (sess->nconns == 0 && !sess->opening) {
		session_free(sess);
	}
}

void
iscsi_session_drop(struct iscsi_session *sess)
{
	struct iscsi_conn *conn, *tmp;

	if (sess->dropping) {
		return;
	}
	sess->dropping = true;
	session_unlist(sess);
	TAILQ_FOREACH_SAFE(conn, &sess->conns, sess_link, tmp) {
		iscsi_conn_drop(conn, NULL);
	}
}

struct drop_msg {
	struct iscsi_session *sess;
};

static void
drop_on_thread(void *arg)
{
	struct drop_msg *m = arg;
	struct iscsi_session *s;
	bool found = false;

	/* Still there? It is freed only on this thread, so the check holds. */
	iscsi_lock();
	TAILQ_FOREACH(s, &g_iscsi.sessions, link) {
		if (s == m->sess) {
			found = true;
			break;
		}
	}
	iscsi_unlock();
	if (found) {
		iscsi_session_drop(m->sess);
	}
	free(m);
}

void
iscsi_sessions_drop_matching(struct iscsi_tgt_node *node, const char *iname, const uint8_t *isid,
			     struct iscsi_session *except)
{
	struct iscsi_session *sess;
	struct drop_msg *m;

	iscsi_lock();
	TAILQ_FOREACH(sess, &g_iscsi.sessions, link) {
		if (sess == except || sess->dropping) {
			continue;
		}
		if (node != NULL && sess->node != node) {
			continue;
		}
		if (iname != NULL && strcasecmp(sess->initiator_name, iname) != 0) {
			continue;
		}
		if (isid != NULL && memcmp(sess->isid, isid, 6) != 0) {
			continue;
		}
		m = calloc(1, sizeof(*m));
		if (m == NULL) {
			continue;
		}
		m->sess = sess;
		osp_thread_send_msg(sess->pg->thread, drop_on_thread, m);
	}
	iscsi_unlock();
}

/* ---- CmdSN window ---- */

uint32_t
iscsi_session_max_cmdsn(const struct iscsi_session *sess)
{
	uint32_t free_slots = sess->window_used < sess->queue_depth ?
			      sess->queue_depth - sess->window_used : 0;

	/* MaxCmdSN = ExpCmdSN - 1 means a closed window (RFC 7143 4.2.2.1). */
	return sess->exp_cmdsn - 1 + free_slots;
}

int
iscsi_session_check_cmdsn(struct iscsi_session *sess, uint32_t cmdsn, bool immediate)
{
	uint32_t max = iscsi_session_max_cmdsn(sess), d;

	if (immediate) {
		return 0;
	}
	if (cmdsn == sess->exp_cmdsn && !iscsi_sn_gt(cmdsn, max)) {
		bool b0;

		/* Commands that arrived ahead on other connections close the gap. */
		sess->exp_cmdsn++;
		b0 = sess->ahead & 1;
		sess->ahead >>= 1;
		while (b0) {
			sess->exp_cmdsn++;
			b0 = sess->ahead & 1;
			sess->ahead >>= 1;
		}
		return 0;
	}
	if (iscsi_sn_gt(cmdsn, sess->exp_cmdsn) && !iscsi_sn_gt(cmdsn, max)) {
		d = cmdsn - sess->exp_cmdsn;
		if (d < 64 && !(sess->ahead & (1ull << (d - 1)))) {
			sess->ahead |= 1ull << (d - 1);
			return 0;
		}
	}
	return -1;
}
