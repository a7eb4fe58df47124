/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Portal groups (a tag and the addresses it listens on) and the acceptor:
 * the listening sockets sit in one socket group on the app thread, so an
 * idle target sleeps until a connection arrives; each accepted socket goes
 * to the next poll group (round robin) by message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/log.h"
#include "osprey/util.h"

#include "iscsi_internal.h"

struct iscsi_portal_grp *
iscsi_portal_grp_find(int tag)
{
	struct iscsi_portal_grp *pg;

	TAILQ_FOREACH(pg, &g_iscsi.pgs, link) {
		if (pg->tag == tag) {
			return pg;
		}
	}
	return NULL;
}

/* ---- the acceptor ---- */

struct accept_msg {
	struct osp_sock *sock;
	int tag;
	struct iscsi_poll_group *pg;
};

static void
accepted_on_pg(void *arg)
{
	struct accept_msg *m = arg;

	iscsi_conn_accepted(m->pg, m->sock, m->tag);
	free(m);
}

static void
acceptor_cb(void *arg, struct osp_sock_group *group, struct osp_sock *lsock)
{
	struct iscsi_portal *p = arg;
	struct osp_sock *sock;
	struct accept_msg *m;

	(void)group;
	while ((sock = osp_sock_accept(lsock)) != NULL) {
		if (__atomic_load_n(&g_iscsi.nconns_login, __ATOMIC_RELAXED) >=
		    ISCSI_MAX_CONNS_IN_LOGIN) {
			/* A flood of connections that do not log in: refuse more (they time out). */
			osp_sock_close(&sock);
			continue;
		}
		m = calloc(1, sizeof(*m));
		if (m == NULL || g_iscsi.shutting_down || (m->pg = iscsi_pick_poll_group()) == NULL) {
			free(m);
			osp_sock_close(&sock);
			continue;
		}
		m->sock = sock;
		m->tag = p->pg->tag;
		if (osp_thread_send_msg(m->pg->thread, accepted_on_pg, m) != 0) {
			osp_sock_close(&m->sock);
			free(m);
		}
	}
}

static int
acceptor_poll(void *arg)
{
	(void)arg;
	if (g_iscsi.accept_group == NULL) {
		return OSP_POLLER_IDLE;
	}
	return osp_sock_group_poll(g_iscsi.accept_group) > 0 ? OSP_POLLER_BUSY : OSP_POLLER_IDLE;
}

int
iscsi_acceptor_start(void)
{
	if (g_iscsi.accept_group != NULL) {
		return 0;
	}
	g_iscsi.accept_group = osp_sock_group_create(NULL);
	if (g_iscsi.accept_group == NULL) {
		return -errno;
	}
	g_iscsi.accept_poller = osp_poller_register_named(acceptor_poll, NULL, 0,
				"iscsi_acceptor");
	if (g_iscsi.accept_poller == NULL) {
		osp_sock_group_close(&g_iscsi.accept_group);
		return -ENOMEM;
	}
	return 0;
}

static void
portal_close(struct iscsi_portal *p)
{
	if (p->sock != NULL) {
		if (g_iscsi.accept_group != NULL) {
			osp_sock_group_remove_sock(g_iscsi.accept_group, p->sock);
		}
		osp_sock_close(&p->sock);
	}
}

void
iscsi_acceptor_stop(void)
{
	struct iscsi_portal_grp *pg;
	struct iscsi_portal *p;

	TAILQ_FOREACH(pg, &g_iscsi.pgs, link) {
		TAILQ_FOREACH(p, &pg->portals, link) {
			portal_close(p);
		}
		pg->started = false;
	}
	osp_poller_unregister(&g_iscsi.accept_poller);
	if (g_iscsi.accept_group != NULL) {
		osp_sock_group_close(&g_iscsi.accept_group);
	}
}

static int
portal_open(struct iscsi_portal *p, char *err, size_t errlen)
{
	unsigned long port = strtoul(p->port, NULL, 10);
	uint16_t bound = 0;
	int rc;

	rc = iscsi_acceptor_start();
	if (rc != 0) {
		osp_seterr(err, errlen, "cannot start the iSCSI acceptor: %s", strerror(-rc));
		return rc;
	}
	p->sock = osp_sock_listen(p->host, (int)port, NULL, NULL);
	if (p->sock == NULL) {
		rc = -errno;
		osp_seterr(err, errlen, "cannot listen on %s:%s: %s", p->host, p->port,
			   strerror(errno));
		return rc;
	}
	osp_sock_getaddr(p->sock, NULL, 0, &bound, NULL, 0, NULL);
	p->bound_port = bound;
	rc = osp_sock_group_add_sock(g_iscsi.accept_group, p->sock, acceptor_cb, p);
	if (rc != 0) {
		osp_sock_close(&p->sock);
		osp_seterr(err, errlen, "cannot poll the listener %s:%s: %s", p->host, p->port,
			   strerror(-rc));
		return rc;
	}
	return 0;
}

/* ---- portal groups ---- */

static void
pg_free(struct iscsi_portal_grp *pg)
{
	struct iscsi_portal *p;

	while ((p = TAILQ_FIRST(&pg->portals)) != NULL) {
		TAILQ_REMOVE(&pg->portals, p, link);
		portal_close(p);
		free(p);
	}
	free(pg);
}

static int
pg_start(struct iscsi_portal_grp *pg, char *err, size_t errlen)
{
	struct iscsi_portal *p;
	int rc;

	if (pg->started) {
		return 0;
	}
	TAILQ_FOREACH(p, &pg->portals, link) {
		rc = portal_open(p, err, errlen);
		if (rc != 0) {
			TAILQ_FOREACH(p, &pg->portals, link) {
				portal_close(p);
			}
			return rc;
		}
	}
	pg->started = true;
	return 0;
}

int
osp_iscsi_portal_grp_create(int tag, const char *const *hosts, const char *const *ports,
			    int count, bool is_private, bool wait, char *err, size_t errlen)
{
	struct iscsi_portal_grp *pg;
	struct iscsi_portal *p;
	const char *h;
	size_t hl;
	char *end;
	unsigned long port;
	int i, rc;

	if (tag <= 0 || tag > 65535) {
		osp_seterr(err, errlen, "Invalid portal group tag %d: expected 1-65535", tag);
		return -EINVAL;
	}
	if (count <= 0 || count > OSP_ISCSI_MAX_PORTALS_PER_PG) {
		osp_seterr(err, errlen, "A portal group needs 1 to %d portals",
			   OSP_ISCSI_MAX_PORTALS_PER_PG);
		return -EINVAL;
	}
	iscsi_lock();
	if (iscsi_portal_grp_find(tag) != NULL) {
		iscsi_unlock();
		osp_seterr(err, errlen, "Portal group %d already exists", tag);
		return -EEXIST;
	}
	iscsi_unlock();
	pg = calloc(1, sizeof(*pg));
	if (pg == NULL) {
		return -ENOMEM;
	}
	pg->tag = tag;
	pg->is_private = is_private;
	TAILQ_INIT(&pg->portals);
	for (i = 0; i < count; i++) {
		h = hosts[i];
		if (h == NULL || h[0] == '\0') {
			osp_seterr(err, errlen, "Portal %d: empty host", i);
			pg_free(pg);
			return -EINVAL;
		}
		hl = strlen(h);
		if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
			h++;
			hl -= 2;
		}
		if (hl >= sizeof(p->host)) {
			osp_seterr(err, errlen, "Portal %d: host too long", i);
			pg_free(pg);
			return -EINVAL;
		}
		errno = 0;
		port = ports[i] != NULL ? strtoul(ports[i], &end, 10) : 0;
		if (ports[i] == NULL || ports[i][0] < '0' || ports[i][0] > '9' || *end != '\0' ||
		    errno != 0 || port > 65535) {
			osp_seterr(err, errlen, "Portal %d: invalid port '%s': expected 0-65535", i,
				   ports[i] ? ports[i] : "");
			pg_free(pg);
			return -EINVAL;
		}
		p = calloc(1, sizeof(*p));
		if (p == NULL) {
			pg_free(pg);
			return -ENOMEM;
		}
		memcpy(p->host, h, hl);
		snprintf(p->port, sizeof(p->port), "%lu", port);
		p->pg = pg;
		TAILQ_INSERT_TAIL(&pg->portals, p, link);
		pg->nportals++;
	}
	if (!wait) {
		rc = pg_start(pg, err, errlen);
		if (rc != 0) {
			pg_free(pg);
			return rc;
		}
	}
	iscsi_lock();
	TAILQ_INSERT_TAIL(&g_iscsi.pgs, pg, link);
	iscsi_unlock();
	return 0;
}

int
osp_iscsi_portal_grp_start(int tag, char *err, size_t errlen)
{
	struct iscsi_portal_grp *pg = iscsi_portal_grp_find(tag);

	if (pg == NULL) {
		osp_seterr(err, errlen, "Portal group %d not found", tag);
		return -ENOENT;
	}
	return pg_start(pg, err, errlen);
}

int
osp_iscsi_portal_grp_delete(int tag, char *err, size_t errlen)
{
	struct iscsi_portal_grp *pg;

	iscsi_lock();
	pg = iscsi_portal_grp_find(tag);
	if (pg == NULL) {
		iscsi_unlock();
		osp_seterr(err, errlen, "Portal group %d not found", tag);
		return -ENOENT;
	}
	if (pg->refcnt > 0) {
		iscsi_unlock();
		osp_seterr(err, errlen, "Portal group %d is mapped to %u target node(s): "
			   "remove the maps first", tag, pg->refcnt);
		return -EBUSY;
	}
	TAILQ_REMOVE(&g_iscsi.pgs, pg, link);
	iscsi_unlock();
	pg_free(pg);
	return 0;
}

void
iscsi_portal_grp_delete_all(void)
{
	struct iscsi_portal_grp *pg;

	iscsi_lock();
	while ((pg = TAILQ_FIRST(&g_iscsi.pgs)) != NULL) {
		TAILQ_REMOVE(&g_iscsi.pgs, pg, link);
		pg_free(pg);
	}
	iscsi_unlock();
}
