/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Target nodes: an iSCSI name over one SCSI device (lib/scsi), its LUNs,
 * the (portal group, initiator group) pairs that say who reaches it through
 * which portals, its CHAP settings and queue depth; the access check of a
 * login and the SendTargets listing (RFC 7143 Appendix C), which shows an
 * initiator only the nodes it may log in to.
 *
 * Every target port of the SCSI device is a portal group: relative port id
 * = portal group tag, name "<node>,t,0x<tag>" (SPC-4 iSCSI TransportID).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "osprey/log.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "iscsi_internal.h"

void
iscsi_tgt_node_full_name(const char *name, char *out, size_t outlen)
{
	if (strncasecmp(name, "iqn.", 4) == 0 || strncasecmp(name, "eui.", 4) == 0 ||
	    strncasecmp(name, "naa.", 4) == 0) {
		snprintf(out, outlen, "%s", name);
	} else {
		snprintf(out, outlen, "%s:%s", g_iscsi.opts.node_base[0] != '\0' ?
			 g_iscsi.opts.node_base : "iqn.2016-06.io.spdk", name);
	}
}

struct iscsi_tgt_node *
iscsi_tgt_node_find(const char *name)
{
	struct iscsi_tgt_node *node;
	char full[ISCSI_NAME_MAX_LEN + 64];

	iscsi_tgt_node_full_name(name, full, sizeof(full));
	TAILQ_FOREACH(node, &g_iscsi.nodes, link) {
		if (strcasecmp(node->name, full) == 0 && !node->removing) {
			return node;
		}
	}
	return NULL;
}

bool
iscsi_tgt_node_has_pg(const struct iscsi_tgt_node *node, int pg_tag)
{
	int i;

	for (i = 0; i < node->nmaps; i++) {
		if (node->maps[i].pg_tag == pg_tag) {
			return true;
		}
	}
	return false;
}

bool
iscsi_tgt_node_access(const struct iscsi_tgt_node *node, int pg_tag, const char *iname,
		      const char *addr)
{
	struct iscsi_init_grp *ig;
	bool allowed = false;
	int i, r;

	for (i = 0; i < node->nmaps; i++) {
		if (node->maps[i].pg_tag != pg_tag) {
			continue;
		}
		ig = iscsi_init_grp_find(node->maps[i].ig_tag);
		if (ig == NULL) {
			continue;
		}
		r = iscsi_init_grp_check(ig, iname, addr);
		if (r < 0) {
			return false;
		}
		if (r > 0) {
			allowed = true;
		}
	}
	return allowed;
}

/* Whether iname@addr may reach node through any portal group (discovery). */
static bool
node_visible(const struct iscsi_tgt_node *node, const char *iname, const char *addr)
{
	int i;

	for (i = 0; i < node->nmaps; i++) {
		if (iscsi_tgt_node_access(node, node->maps[i].pg_tag, iname, addr)) {
			return true;
		}
	}
	return false;
}

struct textacc {
	char *buf;
	uint32_t len;
	uint32_t cap;
	bool failed;
};

static void
acc_add(struct textacc *a, const char *key, const char *val)
{
	size_t need = strlen(key) + 1 + strlen(val) + 1;
	char *nb;

	if (a->failed) {
		return;
	}
	if (a->len + need > a->cap) {
		uint32_t ncap = a->cap ? a->cap * 2 : 4096;

		while (ncap < a->len + need) {
			ncap *= 2;
		}
		nb = realloc(a->buf, ncap);
		if (nb == NULL) {
			a->failed = true;
			return;
		}
		a->buf = nb;
		a->cap = ncap;
	}
	a->len += (uint32_t)snprintf(a->buf + a->len, a->cap - a->len, "%s=%s", key, val) + 1;
}

char *
iscsi_send_targets(const char *iname, const char *addr, const char *local_addr, int pg_tag,
		   const char *only, bool all, uint32_t *len)
{
	struct textacc a = {};
	struct iscsi_tgt_node *node;
	struct iscsi_portal_grp *pg;
	struct iscsi_portal *p;
	char val[128];
	const char *host;
	int i, j;
	bool dup;

	(void)pg_tag;
	iscsi_lock();
	TAILQ_FOREACH(node, &g_iscsi.nodes, link) {
		if (node->removing) {
			continue;
		}
		if (!all && (only == NULL || strcasecmp(only, node->name) != 0)) {
			continue;
		}
		if (!node_visible(node, iname, addr)) {
			continue;
		}
		acc_add(&a, "TargetName", node->name);
		for (i = 0; i < node->nmaps; i++) {
			/* List each portal group once even if mapped with several initiator groups. */
			dup = false;
			for (j = 0; j < i; j++) {
				if (node->maps[j].pg_tag == node->maps[i].pg_tag) {
					dup = true;
				}
			}
			if (dup || !iscsi_tgt_node_access(node, node->maps[i].pg_tag, iname, addr)) {
				continue;
			}
			pg = iscsi_portal_grp_find(node->maps[i].pg_tag);
			if (pg == NULL || pg->is_private) {
				continue;
			}
			TAILQ_FOREACH(p, &pg->portals, link) {
				host = p->host;
				if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
					host = local_addr;
				}
				if (strchr(host, ':') != NULL) {
					snprintf(val, sizeof(val), "[%s]:%u,%d", host, p->bound_port,
						 pg->tag);
				} else {
					snprintf(val, sizeof(val), "%s:%u,%d", host, p->bound_port,
						 pg->tag);
				}
				acc_add(&a, "TargetAddress", val);
			}
		}
	}
	iscsi_unlock();
	if (a.failed) {
		free(a.buf);
		*len = 0;
		return NULL;
	}
	*len = a.len;
	return a.buf;
}

/* ---- create / change ---- */

static int
node_add_port(struct iscsi_tgt_node *node, int pg_tag)
{
	char pname[OSP_SCSI_PORT_MAX_NAME + 1];
	int rc;

	if (osp_scsi_dev_find_port(node->dev, (uint16_t)pg_tag) != NULL) {
		return 0;
	}
	snprintf(pname, sizeof(pname), "%s,t,0x%04x", node->name, pg_tag);
	rc = osp_scsi_dev_add_port(node->dev, (uint16_t)pg_tag, pname);
	return rc == -EEXIST ? 0 : rc;
}

/* Check and add maps (mutex held). */
static int
node_add_maps(struct iscsi_tgt_node *node, const int *pg_tags, const int *ig_tags, int nmaps,
	      char *err, size_t errlen)
{
	struct iscsi_portal_grp *pg;
	struct iscsi_init_grp *ig;
	int i, j, rc;

	if (node->nmaps + nmaps > OSP_ISCSI_MAX_PG_IG_MAPS) {
		osp_seterr(err, errlen, "A target node holds at most %d pg_ig_maps",
			   OSP_ISCSI_MAX_PG_IG_MAPS);
		return -ENOSPC;
	}
	for (i = 0; i < nmaps; i++) {
		if (iscsi_portal_grp_find(pg_tags[i]) == NULL) {
			osp_seterr(err, errlen, "Portal group %d not found", pg_tags[i]);
			return -ENOENT;
		}
		if (iscsi_init_grp_find(ig_tags[i]) == NULL) {
			osp_seterr(err, errlen, "Initiator group %d not found", ig_tags[i]);
			return -ENOENT;
		}
		for (j = 0; j < node->nmaps; j++) {
			if (node->maps[j].pg_tag == pg_tags[i] && node->maps[j].ig_tag == ig_tags[i]) {
				osp_seterr(err, errlen, "Map (pg %d, ig %d) already exists",
					   pg_tags[i], ig_tags[i]);
				return -EEXIST;
			}
		}
		for (j = 0; j < i; j++) {
			if (pg_tags[j] == pg_tags[i] && ig_tags[j] == ig_tags[i]) {
				osp_seterr(err, errlen, "Map (pg %d, ig %d) given twice", pg_tags[i],
					   ig_tags[i]);
				return -EEXIST;
			}
		}
	}
	for (i = 0; i < nmaps; i++) {
		rc = node_add_port(node, pg_tags[i]);
		if (rc != 0) {
			osp_seterr(err, errlen, "Cannot add target port %d: %s", pg_tags[i],
				   strerror(-rc));
			return rc;
		}
		pg = iscsi_portal_grp_find(pg_tags[i]);
		ig = iscsi_init_grp_find(ig_tags[i]);
		pg->refcnt++;
		ig->refcnt++;
		node->maps[node->nmaps].pg_tag = pg_tags[i];
		node->maps[node->nmaps].ig_tag = ig_tags[i];
		node->nmaps++;
	}
	return 0;
}

static int
chap_params_check(bool disable_chap, bool require_chap, bool mutual_chap, int32_t chap_group,
		  char *err, size_t errlen)
{
	if (iscsi_chap_flags_check(disable_chap, require_chap, mutual_chap, err, errlen) != 0) {
		return -EINVAL;
	}
	if (chap_group < 0) {
		osp_seterr(err, errlen, "Invalid chap_group %d", chap_group);
		return -EINVAL;
	}
	return 0;
}

int
osp_iscsi_tgt_node_create(const struct osp_iscsi_tgt_node_opts *o, char *err, size_t errlen)
{
	struct iscsi_tgt_node *node;
	char full[ISCSI_NAME_MAX_LEN + 64];
	int i, rc;

	if (o->name == NULL || o->name[0] == '\0') {
		osp_seterr(err, errlen, "Missing target node name");
		return -EINVAL;
	}
	iscsi_tgt_node_full_name(o->name, full, sizeof(full));
	if (!iscsi_target_name_valid(full)) {
		osp_seterr(err, errlen, "Invalid target node name '%s': expected an iqn.yyyy-mm./"
			   "eui./naa. name (RFC 7143 4.2.7) of at most %d bytes of letters, digits, "
			   "'-', '.' and ':'", full, ISCSI_NAME_MAX_LEN);
		return -EINVAL;
	}
	if (o->alias != NULL && strlen(o->alias) > 255) {
		osp_seterr(err, errlen, "alias_name is longer than 255 bytes");
		return -EINVAL;
	}
	if (o->nluns <= 0) {
		osp_seterr(err, errlen, "A target node needs at least one LUN");
		return -EINVAL;
	}
	if (o->queue_depth > g_iscsi.opts.max_queue_depth && g_iscsi.opts.max_queue_depth != 0) {
		osp_seterr(err, errlen, "queue_depth %u is above max_queue_depth %u",
			   o->queue_depth, g_iscsi.opts.max_queue_depth);
		return -EINVAL;
	}
	rc = chap_params_check(o->disable_chap, o->require_chap, o->mutual_chap, o->chap_group,
			       err, errlen);
	if (rc != 0) {
		return rc;
	}
	iscsi_lock();
	if (iscsi_tgt_node_find(full) != NULL) {
		iscsi_unlock();
		osp_seterr(err, errlen, "Target node %s already exists", full);
		return -EEXIST;
	}
	iscsi_unlock();
	node = calloc(1, sizeof(*node));
	if (node == NULL) {
		return -ENOMEM;
	}
	memcpy(node->name, full, strlen(full) + 1);	/* iscsi_name_valid: at most 223 bytes */
	snprintf(node->alias, sizeof(node->alias), "%s", o->alias ? o->alias : "");
	node->queue_depth = o->queue_depth ? o->queue_depth : g_iscsi.opts.max_queue_depth;
	node->disable_chap = o->disable_chap;
	node->require_chap = o->require_chap;
	node->mutual_chap = o->mutual_chap;
	node->chap_group = o->chap_group;
	node->header_digest = o->header_digest;
	node->data_digest = o->data_digest;
	rc = osp_scsi_dev_create(node->name, &node->dev);
	if (rc != 0) {
		osp_seterr(err, errlen, "Cannot create the SCSI device: %s", strerror(-rc));
		free(node);
		return rc;
	}
	for (i = 0; i < o->nluns; i++) {
		rc = osp_scsi_dev_add_lun(node->dev, o->bdev_names[i], o->lun_ids[i], NULL);
		if (rc != 0) {
			osp_seterr(err, errlen, "Cannot add LUN %d over bdev %s: %s", o->lun_ids[i],
				   o->bdev_names[i],
				   rc == -ENODEV ? "no such bdev" : rc == -EEXIST ? "LUN id in use" :
				   rc == -EPERM ? "the bdev is claimed" : strerror(-rc));
			goto fail;
		}
	}
	iscsi_lock();
	rc = node_add_maps(node, o->pg_tags, o->ig_tags, o->nmaps, err, errlen);
	if (rc == 0) {
		TAILQ_INSERT_TAIL(&g_iscsi.nodes, node, link);
	}
	iscsi_unlock();
	if (rc != 0) {
		goto fail;
	}
	return 0;
fail:
	osp_scsi_dev_destroy(node->dev, free, node);
	return rc;
}

/* ---- delete ---- */

static void
node_dev_destroyed(void *arg)
{
	struct iscsi_tgt_node *node = arg;
	void (*cb)(void *, int) = node->delete_cb;
	void *cb_arg = node->delete_cb_arg;

	free(node);
	if (cb != NULL) {
		cb(cb_arg, 0);
	}
}

static void
node_release(struct iscsi_tgt_node *node)
{
	struct iscsi_portal_grp *pg;
	struct iscsi_init_grp *ig;
	int i, rc;

	iscsi_lock();
	for (i = 0; i < node->nmaps; i++) {
		pg = iscsi_portal_grp_find(node->maps[i].pg_tag);
		ig = iscsi_init_grp_find(node->maps[i].ig_tag);
		if (pg != NULL) {
			pg->refcnt--;
		}
		if (ig != NULL) {
			ig->refcnt--;
		}
	}
	node->nmaps = 0;
	TAILQ_REMOVE(&g_iscsi.nodes, node, link);
	iscsi_unlock();
	rc = osp_scsi_dev_destroy(node->dev, node_dev_destroyed, node);
	if (rc != 0) {
		OSP_ERRLOG("destroying the SCSI device of %s: %s\n", node->name, strerror(-rc));
		node_dev_destroyed(node);
	}
}

static void
node_check_gone(void *arg)
{
	struct iscsi_tgt_node *node = arg;
	uint32_t n;

	iscsi_lock();
	n = node->num_sessions;
	iscsi_unlock();
	if (n == 0) {
		node_release(node);
	}
}

/* A session of node ended (any thread): the deletion waiting for it may go on. */
void
iscsi_tgt_node_session_gone(struct iscsi_tgt_node *node)
{
	bool last;

	iscsi_lock();
	node->num_sessions--;
	last = node->removing && node->num_sessions == 0;
	iscsi_unlock();
	if (last) {
		osp_thread_send_msg(g_iscsi.app_thread, node_check_gone, node);
	}
}

int
osp_iscsi_tgt_node_delete(const char *name, void (*cb)(void *cb_arg, int rc), void *cb_arg,
			  char *err, size_t errlen)
{
	struct iscsi_tgt_node *node;
	uint32_t n;

	iscsi_lock();
	node = iscsi_tgt_node_find(name);
	if (node == NULL) {
		iscsi_unlock();
		osp_seterr(err, errlen, "Target node %s not found", name);
		return -ENOENT;
	}
	node->removing = true;
	node->delete_cb = cb;
	node->delete_cb_arg = cb_arg;
	n = node->num_sessions;
	iscsi_unlock();
	if (n == 0) {
		node_release(node);
	} else {
		iscsi_sessions_drop_matching(node, NULL, NULL, NULL);
	}
	return 0;
}

void
iscsi_tgt_node_delete_all(void)
{
	struct iscsi_tgt_node *node, *tmp;

	TAILQ_FOREACH_SAFE(node, &g_iscsi.nodes, link, tmp) {
		osp_iscsi_tgt_node_delete(node->name, NULL, NULL, NULL, 0);
	}
}

int
osp_iscsi_tgt_node_add_lun(const char *name, const char *bdev_name, int lun_id, char *err,
			   size_t errlen)
{
	struct iscsi_tgt_node *node;
	int rc;

	iscsi_lock();
	node = iscsi_tgt_node_find(name);
	iscsi_unlock();
	if (node == NULL) {
		osp_seterr(err, errlen, "Target node %s not found", name);
		return -ENOENT;
	}
	if (lun_id < -1 || lun_id >= OSP_SCSI_DEV_MAX_LUN) {
		osp_seterr(err, errlen, "Invalid lun_id %d: expected 0-%d", lun_id,
			   OSP_SCSI_DEV_MAX_LUN - 1);
		return -EINVAL;
	}
	rc = osp_scsi_dev_add_lun(node->dev, bdev_name, lun_id, NULL);
	if (rc != 0) {
		osp_seterr(err, errlen, "Cannot add LUN %d over bdev %s: %s", lun_id, bdev_name,
			   rc == -ENODEV ? "no such bdev" : rc == -EEXIST ? "LUN id in use" :
			   rc == -EPERM ? "the bdev is claimed" : strerror(-rc));
	}
	return rc;
}

int
osp_iscsi_tgt_node_add_maps(const char *name, const int *pg_tags, const int *ig_tags, int nmaps,
			    char *err, size_t errlen)
{
	struct iscsi_tgt_node *node;
	int rc;

	iscsi_lock();
	node = iscsi_tgt_node_find(name);
	if (node == NULL) {
		iscsi_unlock();
		osp_seterr(err, errlen, "Target node %s not found", name);
		return -ENOENT;
	}
	rc = node_add_maps(node, pg_tags, ig_tags, nmaps, err, errlen);
	iscsi_unlock();
	return rc;
}

int
osp_iscsi_tgt_node_remove_maps(const char *name, const int *pg_tags, const int *ig_tags,
			       int nmaps, char *err, size_t errlen)
{
	struct iscsi_tgt_node *node;
	struct iscsi_portal_grp *pg;
	struct iscsi_init_grp *ig;
	int i, j;

	iscsi_lock();
	node = iscsi_tgt_node_find(name);
	if (node == NULL) {
		iscsi_unlock();
		osp_seterr(err, errlen, "Target node %s not found", name);
		return -ENOENT;
	}
	for (i = 0; i < nmaps; i++) {
		for (j = 0; j < node->nmaps; j++) {
			if (node->maps[j].pg_tag == pg_tags[i] && node->maps[j].ig_tag == ig_tags[i]) {
				break;
			}
		}
		if (j == node->nmaps) {
			iscsi_unlock();
			osp_seterr(err, errlen, "Map (pg %d, ig %d) not found on %s", pg_tags[i],
				   ig_tags[i], node->name);
			return -ENOENT;
		}
	}
	for (i = 0; i < nmaps; i++) {
		for (j = 0; j < node->nmaps; j++) {
			if (node->maps[j].pg_tag == pg_tags[i] && node->maps[j].ig_tag == ig_tags[i]) {
				pg = iscsi_portal_grp_find(pg_tags[i]);
				ig = iscsi_init_grp_find(ig_tags[i]);
				if (pg != NULL) {
					pg->refcnt--;
				}
				if (ig != NULL) {
					ig->refcnt--;
				}
				node->maps[j] = node->maps[--node->nmaps];
				break;
			}
		}
	}
	iscsi_unlock();
	return 0;
}

int
osp_iscsi_tgt_node_set_auth(const char *name, bool disable_chap, bool require_chap,
			    bool mutual_chap, int32_t chap_group, char *err, size_t errlen)
{
	struct iscsi_tgt_node *node;
	int rc;

	rc = chap_params_check(disable_chap, require_chap, mutual_chap, chap_group, err, errlen);
	if (rc != 0) {
		return rc;
	}
	iscsi_lock();
	node = iscsi_tgt_node_find(name);
	if (node == NULL) {
		iscsi_unlock();
		osp_seterr(err, errlen, "Target node %s not found", name);
		return -ENOENT;
	}
	node->disable_chap = disable_chap;
	node->require_chap = require_chap;
	node->mutual_chap = mutual_chap;
	node->chap_group = chap_group;
	iscsi_unlock();
	return 0;
}
