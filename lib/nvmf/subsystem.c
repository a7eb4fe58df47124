/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe-oF subsystems of a target: creation and destruction, the state
 * machine (inactive, active, paused) carried out on the poll groups, allowed
 * hosts, namespaces (each claims its bdev) and listeners with the ports they
 * share. Everything runs on the target's (app) thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "osprey/bdev.h"
#include "osprey/bdev_module.h"
#include "osprey/log.h"
#include "osprey/nvmf.h"
#include "osprey/nvmf_transport.h"
#include "osprey/util.h"

#include "nvmf_internal.h"

/* ---- subsystems ---- */

void
osp_nvmf_subsystem_opts_init(struct osp_nvmf_subsystem_opts *opts, size_t opts_size)
{
	memset(opts, 0, opts_size);
	opts->opts_size = opts_size;
}

static bool
ascii_printable(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s < 0x20 || *s > 0x7e) {
			return false;
		}
	}
	return true;
}

struct osp_nvmf_subsystem *
nvmf_subsystem_alloc(struct osp_nvmf_tgt *tgt, const char *nqn, enum osp_nvmf_subsystem_type type)
{
	struct osp_nvmf_subsystem *s = calloc(1, sizeof(*s));
	uint32_t id;

	if (s == NULL) {
		return NULL;
	}
	for (id = 0; id <= tgt->max_subsystems; id++) {
		if ((tgt->subsys_ids[id / 8] & (1u << (id % 8))) == 0) {
			break;
		}
	}
	if (id > tgt->max_subsystems) {
		free(s);
		return NULL;
	}
	tgt->subsys_ids[id / 8] |= (uint8_t)(1u << (id % 8));
	s->id = id;
	TAILQ_INIT(&s->ctrlrs);
	TAILQ_INIT(&s->zombie_ns);
	s->tgt = tgt;
	s->type = type;
	s->state = OSP_NVMF_SUBSYSTEM_INACTIVE;
	snprintf(s->nqn, sizeof(s->nqn), "%s", nqn);
	snprintf(s->sn, sizeof(s->sn), "%s", OSP_NVMF_DEFAULT_SN);
	snprintf(s->mn, sizeof(s->mn), "%s", OSP_NVMF_DEFAULT_MN);
	s->min_cntlid = 1;
	s->max_cntlid = OSP_NVMF_CNTLID_MAX;
	TAILQ_INIT(&s->namespaces);
	TAILQ_INIT(&s->hosts);
	TAILQ_INIT(&s->listeners);
	return s;
}

int
osp_nvmf_subsystem_create(struct osp_nvmf_tgt *tgt, const char *nqn,
			  const struct osp_nvmf_subsystem_opts *opts,
			  struct osp_nvmf_subsystem **subsystem, char *err, size_t errlen)
{
	struct osp_nvmf_subsystem_opts o;
	struct osp_nvmf_subsystem *s;
	int rc;

	osp_nvmf_subsystem_opts_init(&o, sizeof(o));
	if (opts != NULL) {
		memcpy(&o, opts, OSP_MIN(sizeof(o), opts->opts_size));
	}
	rc = osp_nqn_check(nqn, err, errlen);
	if (rc != 0) {
		return rc;
	}
	if (strcmp(nqn, OSP_NVMF_DISCOVERY_NQN) == 0) {
		osp_seterr(err, errlen, "NQN %s is the built-in discovery subsystem", nqn);
		return -EEXIST;
	}
	if (osp_nvmf_tgt_find_subsystem(tgt, nqn) != NULL) {
		osp_seterr(err, errlen, "Subsystem %s already exists", nqn);
		return -EEXIST;
	}
	if (o.serial_number != NULL && (strlen(o.serial_number) > OSP_NVMF_SN_MAX_LEN ||
					!ascii_printable(o.serial_number))) {
		osp_seterr(err, errlen, "Invalid serial_number '%s': at most %d printable ASCII "
		       "characters", o.serial_number, OSP_NVMF_SN_MAX_LEN);
		return -EINVAL;
	}
	if (o.model_number != NULL && (strlen(o.model_number) > OSP_NVMF_MN_MAX_LEN ||
				       !ascii_printable(o.model_number) ||
				       o.model_number[0] == '\0')) {
		osp_seterr(err, errlen, "Invalid model_number '%s': 1 to %d printable ASCII "
		       "characters", o.model_number, OSP_NVMF_MN_MAX_LEN);
		return -EINVAL;
	}
	if (o.min_cntlid == 0) {
		o.min_cntlid = 1;
	}
	if (o.max_cntlid == 0) {
		o.max_cntlid = OSP_NVMF_CNTLID_MAX;
	}
	if (o.min_cntlid > o.max_cntlid || o.max_cntlid > OSP_NVMF_CNTLID_MAX) {
		osp_seterr(err, errlen, "Invalid controller ID range %u-%u: expected "
		       "1 <= min_cntlid <= max_cntlid <= %u", o.min_cntlid, o.max_cntlid,
		       OSP_NVMF_CNTLID_MAX);
		return -EINVAL;
	}
	if (tgt->num_subsystems >= tgt->max_subsystems) {
		osp_seterr(err, errlen, "The target already has its maximum of %u subsystems",
		       tgt->max_subsystems);
		return -ENOSPC;
	}
	s = nvmf_subsystem_alloc(tgt, nqn, OSP_NVMF_SUBTYPE_KIND_NVME);
	if (s == NULL) {
		osp_seterr(err, errlen, "Out of memory");
		return -ENOMEM;
	}
	if (o.serial_number != NULL) {
		snprintf(s->sn, sizeof(s->sn), "%s", o.serial_number);
	}
	if (o.model_number != NULL) {
		snprintf(s->mn, sizeof(s->mn), "%s", o.model_number);
	}
	s->allow_any_host = o.allow_any_host;
	s->max_namespaces = o.max_namespaces;
	s->min_cntlid = o.min_cntlid;
	s->max_cntlid = o.max_cntlid;
	s->ana_reporting = o.ana_reporting;
	TAILQ_INSERT_TAIL(&tgt->subsystems, s, link);
	tgt->num_subsystems++;
	nvmf_tgt_discovery_changed(tgt);
	if (subsystem != NULL) {
		*subsystem = s;
	}
	return 0;
}

static void ns_free(struct osp_nvmf_ns *ns);
static void listener_free(struct osp_nvmf_subsystem *s, struct nvmf_listener *l);

void
nvmf_subsystem_free(struct osp_nvmf_subsystem *s)
{
	struct osp_nvmf_ns *ns;
	struct nvmf_host *h;
	struct nvmf_listener *l;

	while ((ns = TAILQ_FIRST(&s->namespaces)) != NULL) {
		TAILQ_REMOVE(&s->namespaces, ns, link);
		ns_free(ns);
	}
	while ((h = TAILQ_FIRST(&s->hosts)) != NULL) {
		TAILQ_REMOVE(&s->hosts, h, link);
		free(h);
	}
	while ((l = TAILQ_FIRST(&s->listeners)) != NULL) {
		listener_free(s, l);
	}
	while ((ns = TAILQ_FIRST(&s->zombie_ns)) != NULL) {
		TAILQ_REMOVE(&s->zombie_ns, ns, link);
		ns_free(ns);
	}
	s->tgt->subsys_ids[s->id / 8] &= (uint8_t)~(1u << (s->id % 8));
	if (s->destroy_cb != NULL) {
		s->destroy_cb(s->destroy_cb_arg);
	}
	free(s);
}

void
nvmf_subsystem_maybe_free(struct osp_nvmf_subsystem *s)
{
	if (s->destroying && s->groups_released && s->num_ctrlrs == 0) {
		nvmf_subsystem_free(s);
	}
}

static void
subsystem_groups_released(void *ctx, int status)
{
	struct osp_nvmf_subsystem *s = ctx;

	(void)status;
	s->groups_released = true;
	nvmf_subsystem_maybe_free(s);
}

int
osp_nvmf_subsystem_destroy(struct osp_nvmf_subsystem *s)
{
	return osp_nvmf_subsystem_destroy_ext(s, NULL, NULL);
}

int
osp_nvmf_subsystem_destroy_ext(struct osp_nvmf_subsystem *s, void (*cb_fn)(void *cb_arg),
			       void *cb_arg)
{
	struct osp_nvmf_tgt *tgt = s->tgt;

	if (s->type == OSP_NVMF_SUBTYPE_KIND_DISCOVERY) {
		return -EPERM;
	}
	if (s->destroying) {
		return -EBUSY;
	}
	s->destroy_cb = cb_fn;
	s->destroy_cb_arg = cb_arg;
	/*
	 * Hosts no longer find it at once; it is freed when its connections
	 * are gone and every poll group released its namespace channels.
	 */
	s->destroying = true;
	s->state = OSP_NVMF_SUBSYSTEM_INACTIVE;
	TAILQ_REMOVE(&tgt->subsystems, s, link);
	tgt->num_subsystems--;
	nvmf_tgt_discovery_changed(tgt);
	if (TAILQ_EMPTY(&tgt->poll_groups)) {
		s->groups_released = true;
		nvmf_subsystem_maybe_free(s);
		return 0;
	}
	nvmf_subsystem_disconnect_qpairs(s, NULL);
	nvmf_subsystem_update_groups(s, OSP_NVMF_SUBSYSTEM_INACTIVE, subsystem_groups_released, s);
	return 0;
}

struct osp_nvmf_subsystem *
osp_nvmf_tgt_find_subsystem(struct osp_nvmf_tgt *tgt, const char *nqn)
{
	struct osp_nvmf_subsystem *s;

	if (nqn == NULL) {
		return NULL;
	}
	TAILQ_FOREACH(s, &tgt->subsystems, link) {
		if (strcmp(s->nqn, nqn) == 0) {
			return s;
		}
	}
	return NULL;
}

struct osp_nvmf_subsystem *
osp_nvmf_subsystem_first(struct osp_nvmf_tgt *tgt)
{
	return TAILQ_FIRST(&tgt->subsystems);
}

struct osp_nvmf_subsystem *
osp_nvmf_subsystem_next(struct osp_nvmf_subsystem *s)
{
	return TAILQ_NEXT(s, link);
}

const char *
osp_nvmf_subsystem_get_nqn(const struct osp_nvmf_subsystem *s)
{
	return s->nqn;
}

enum osp_nvmf_subsystem_type
osp_nvmf_subsystem_get_type(const struct osp_nvmf_subsystem *s)
{
	return s->type;
}

const char *
osp_nvmf_subsystem_get_sn(const struct osp_nvmf_subsystem *s)
{
	return s->sn;
}

const char *
osp_nvmf_subsystem_get_mn(const struct osp_nvmf_subsystem *s)
{
	return s->mn;
}

uint32_t
osp_nvmf_subsystem_get_max_namespaces(const struct osp_nvmf_subsystem *s)
{
	return s->max_namespaces;
}

uint16_t
osp_nvmf_subsystem_get_min_cntlid(const struct osp_nvmf_subsystem *s)
{
	return s->min_cntlid;
}

uint16_t
osp_nvmf_subsystem_get_max_cntlid(const struct osp_nvmf_subsystem *s)
{
	return s->max_cntlid;
}

bool
osp_nvmf_subsystem_get_ana_reporting(const struct osp_nvmf_subsystem *s)
{
	return s->ana_reporting;
}

enum osp_nvmf_subsystem_state
osp_nvmf_subsystem_get_state(const struct osp_nvmf_subsystem *s)
{
	return s->state;
}

const char *
osp_nvmf_subsystem_state_str(enum osp_nvmf_subsystem_state state)
{
	switch (state) {
	case OSP_NVMF_SUBSYSTEM_INACTIVE:
		return "inactive";
	case OSP_NVMF_SUBSYSTEM_ACTIVE:
		return "active";
	case OSP_NVMF_SUBSYSTEM_PAUSED:
		return "paused";
	}
	return "unknown";
}

struct state_change_ctx {
	struct osp_nvmf_subsystem *s;
	enum osp_nvmf_subsystem_state to;
	osp_nvmf_subsystem_state_change_done cb_fn;
	void *cb_arg;
};

/* Namespaces removed while poll groups held channels: every group let go now. */
static void
subsystem_free_zombies(struct osp_nvmf_subsystem *s)
{
	struct osp_nvmf_ns *ns;

	while ((ns = TAILQ_FIRST(&s->zombie_ns)) != NULL) {
		TAILQ_REMOVE(&s->zombie_ns, ns, link);
		ns_free(ns);
	}
}

static void
subsystem_state_changed(void *ctx, int status)
{
	struct state_change_ctx *c = ctx;
	struct osp_nvmf_subsystem *s = c->s;

	s->changing = false;
	s->state = c->to;
	if (status != 0) {
		OSP_ERRLOG("subsystem %s: a poll group failed the change to %s: %s\n", s->nqn,
			   osp_nvmf_subsystem_state_str(c->to), strerror(-status));
	}
	if (c->to != OSP_NVMF_SUBSYSTEM_PAUSED) {
		subsystem_free_zombies(s);
	}
	if (c->cb_fn != NULL) {
		c->cb_fn(s, c->cb_arg, status);
	}
	free(c);
}

/*
 * Every poll group applies the change (pausing waits for the subsystem's
 * outstanding commands on each); cb_fn runs when the last one did. Without
 * poll groups the change is immediate.
 */
static int
subsystem_change_state(struct osp_nvmf_subsystem *s, enum osp_nvmf_subsystem_state from,
		       enum osp_nvmf_subsystem_state to,
		       osp_nvmf_subsystem_state_change_done cb_fn, void *cb_arg)
{
	struct state_change_ctx *c;

	if (s->changing || s->destroying) {
		return -EBUSY;
	}
	if (s->state != from) {
		return -EINVAL;
	}
	if (TAILQ_EMPTY(&s->tgt->poll_groups)) {
		s->state = to;
		if (to != OSP_NVMF_SUBSYSTEM_PAUSED) {
			subsystem_free_zombies(s);
		}
		if (cb_fn != NULL) {
			cb_fn(s, cb_arg, 0);
		}
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return -ENOMEM;
	}
	c->s = s;
	c->to = to;
	c->cb_fn = cb_fn;
	c->cb_arg = cb_arg;
	s->changing = true;
	nvmf_subsystem_update_groups(s, to, subsystem_state_changed, c);
	return 0;
}

int
osp_nvmf_subsystem_start(struct osp_nvmf_subsystem *s,
			 osp_nvmf_subsystem_state_change_done cb_fn, void *cb_arg)
{
	return subsystem_change_state(s, OSP_NVMF_SUBSYSTEM_INACTIVE, OSP_NVMF_SUBSYSTEM_ACTIVE,
				      cb_fn, cb_arg);
}

int
osp_nvmf_subsystem_stop(struct osp_nvmf_subsystem *s,
			osp_nvmf_subsystem_state_change_done cb_fn, void *cb_arg)
{
	if (s->state == OSP_NVMF_SUBSYSTEM_PAUSED) {
		return subsystem_change_state(s, OSP_NVMF_SUBSYSTEM_PAUSED,
					      OSP_NVMF_SUBSYSTEM_INACTIVE, cb_fn, cb_arg);
	}
	return subsystem_change_state(s, OSP_NVMF_SUBSYSTEM_ACTIVE, OSP_NVMF_SUBSYSTEM_INACTIVE,
				      cb_fn, cb_arg);
}

int
osp_nvmf_subsystem_pause(struct osp_nvmf_subsystem *s,
			 osp_nvmf_subsystem_state_change_done cb_fn, void *cb_arg)
{
	return subsystem_change_state(s, OSP_NVMF_SUBSYSTEM_ACTIVE, OSP_NVMF_SUBSYSTEM_PAUSED,
				      cb_fn, cb_arg);
}

int
osp_nvmf_subsystem_resume(struct osp_nvmf_subsystem *s,
			  osp_nvmf_subsystem_state_change_done cb_fn, void *cb_arg)
{
	return subsystem_change_state(s, OSP_NVMF_SUBSYSTEM_PAUSED, OSP_NVMF_SUBSYSTEM_ACTIVE,
				      cb_fn, cb_arg);
}

/* ---- hosts ---- */

static struct nvmf_host *
host_find(const struct osp_nvmf_subsystem *s, const char *hostnqn)
{
	struct nvmf_host *h;

	TAILQ_FOREACH(h, &s->hosts, link) {
		if (strcmp(h->nqn, hostnqn) == 0) {
			return h;
		}
	}
	return NULL;
}

int
osp_nvmf_subsystem_add_host(struct osp_nvmf_subsystem *s, const char *hostnqn, char *err,
			    size_t errlen)
{
	struct nvmf_host *h;
	int rc;

	rc = osp_nqn_check(hostnqn, err, errlen);
	if (rc != 0) {
		return rc;
	}
	if (s->type == OSP_NVMF_SUBTYPE_KIND_DISCOVERY) {
		osp_seterr(err, errlen, "The discovery subsystem allows any host");
		return -EINVAL;
	}
	if (host_find(s, hostnqn) != NULL) {
		osp_seterr(err, errlen, "Host %s is already allowed on %s", hostnqn, s->nqn);
		return -EEXIST;
	}
	if (s->num_hosts >= OSP_NVMF_MAX_HOSTS) {
		osp_seterr(err, errlen, "Subsystem %s already lists %d hosts", s->nqn,
		       OSP_NVMF_MAX_HOSTS);
		return -ENOSPC;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		osp_seterr(err, errlen, "Out of memory");
		return -ENOMEM;
	}
	snprintf(h->nqn, sizeof(h->nqn), "%s", hostnqn);
	TAILQ_INSERT_TAIL(&s->hosts, h, link);
	s->num_hosts++;
	nvmf_tgt_discovery_changed(s->tgt);
	return 0;
}

int
osp_nvmf_subsystem_remove_host(struct osp_nvmf_subsystem *s, const char *hostnqn)
{
	struct nvmf_host *h = hostnqn != NULL ? host_find(s, hostnqn) : NULL;

	if (h == NULL) {
		return -ENOENT;
	}
	TAILQ_REMOVE(&s->hosts, h, link);
	s->num_hosts--;
	free(h);
	nvmf_tgt_discovery_changed(s->tgt);
	return 0;
}

void
osp_nvmf_subsystem_set_allow_any_host(struct osp_nvmf_subsystem *s, bool allow)
{
	if (s->type == OSP_NVMF_SUBTYPE_KIND_DISCOVERY || s->allow_any_host == allow) {
		return;
	}
	s->allow_any_host = allow;
	nvmf_tgt_discovery_changed(s->tgt);
}

bool
osp_nvmf_subsystem_get_allow_any_host(const struct osp_nvmf_subsystem *s)
{
	return s->allow_any_host;
}

bool
osp_nvmf_subsystem_host_allowed(const struct osp_nvmf_subsystem *s, const char *hostnqn)
{
	if (hostnqn == NULL) {
		return false;
	}
	return s->allow_any_host || host_find(s, hostnqn) != NULL;
}

const char *
osp_nvmf_subsystem_host_first(const struct osp_nvmf_subsystem *s)
{
	struct nvmf_host *h = TAILQ_FIRST(&s->hosts);

	return h != NULL ? h->nqn : NULL;
}

const char *
osp_nvmf_subsystem_host_next(const struct osp_nvmf_subsystem *s, const char *prev)
{
	struct nvmf_host *h = (struct nvmf_host *)(uintptr_t)prev; /* nqn is the first member */

	(void)s;
	h = TAILQ_NEXT(h, link);
	return h != NULL ? h->nqn : NULL;
}

/* ---- namespaces ---- */

void
osp_nvmf_ns_opts_init(struct osp_nvmf_ns_opts *opts, size_t opts_size)
{
	memset(opts, 0, opts_size);
	opts->opts_size = opts_size;
}

static void
ns_free(struct osp_nvmf_ns *ns)
{
	if (ns->desc != NULL) {
		osp_bdev_close(ns->desc);
	}
	free(ns->bdev_name);
	free(ns);
}

/* Unlink ns; free it now or once the poll groups released its channels. */
static void
ns_unlink(struct osp_nvmf_ns *ns)
{
	struct osp_nvmf_subsystem *s = ns->subsystem;
	uint32_t nsid = ns->nsid;

	TAILQ_REMOVE(&s->namespaces, ns, link);
	s->num_ns--;
	if (TAILQ_EMPTY(&s->tgt->poll_groups) ||
	    (s->state == OSP_NVMF_SUBSYSTEM_INACTIVE && !s->changing)) {
		ns_free(ns);
	} else {
		TAILQ_INSERT_TAIL(&s->zombie_ns, ns, link);
	}
	nvmf_subsystem_ns_changed(s, nsid);
}

static void ns_remove(struct osp_nvmf_ns *ns);

static void
ns_remove_resumed(struct osp_nvmf_subsystem *s, void *cb_arg, int status)
{
	(void)s;
	(void)cb_arg;
	(void)status;
}

static void
ns_remove_paused(struct osp_nvmf_subsystem *s, void *cb_arg, int status)
{
	struct osp_nvmf_ns *ns = cb_arg;

	(void)status;
	ns_unlink(ns);
	osp_nvmf_subsystem_resume(s, ns_remove_resumed, NULL);
}

static void
ns_remove_retry(void *arg)
{
	ns_remove(arg);
}

/* Remove ns (its bdev is going away), pausing an active subsystem around the change. */
static void
ns_remove(struct osp_nvmf_ns *ns)
{
	struct osp_nvmf_subsystem *s = ns->subsystem;

	if (s->changing) {
		/* Another state change is running: try again once it is done. */
		osp_thread_send_msg(osp_get_thread(), ns_remove_retry, ns);
		return;
	}
	if (s->state == OSP_NVMF_SUBSYSTEM_ACTIVE &&
	    osp_nvmf_subsystem_pause(s, ns_remove_paused, ns) == 0) {
		return;
	}
	ns_unlink(ns);
}

static void
ns_bdev_event(enum osp_bdev_event_type type, struct osp_bdev *bdev, void *ctx)
{
	struct osp_nvmf_ns *ns = ctx;

	if (type != OSP_BDEV_EVENT_REMOVE) {
		return;
	}
	OSP_NOTICELOG("bdev %s removed: removing namespace %u of %s\n", ns->bdev_name, ns->nsid,
		      ns->subsystem->nqn);
	ns_remove(ns);
}

static bool
bytes_zero(const uint8_t *b, size_t n)
{
	while (n-- > 0) {
		if (*b++ != 0) {
			return false;
		}
	}
	return true;
}

/*
 * The claim a namespace holds on its bdev: one bdev backs one namespace of
 * one subsystem (as in SPDK), since two would share identifiers and let two
 * hosts write the same blocks unknowingly. Closing the namespace's
 * descriptor releases it. Never registered: it only names the claimant.
 */
static struct osp_bdev_module g_nvmf_ns_claim = {
	.name = "NVMe-oF Target",
};

/*
 * Explain why bdev_name cannot be opened for writing (it is claimed).
 * Returns -EEXIST if a namespace holds it, else -EPERM.
 */
static int
ns_explain_claimed(struct osp_nvmf_tgt *tgt, const char *bdev_name, char *err, size_t errlen)
{
	struct osp_bdev *bdev = osp_bdev_get_by_name(bdev_name);
	struct osp_bdev_module *m = bdev != NULL ? osp_bdev_get_claim_module(bdev) : NULL;
	struct osp_nvmf_subsystem *s;
	struct osp_nvmf_ns *ns;

	if (bdev == NULL || m != &g_nvmf_ns_claim) {
		osp_seterr(err, errlen, "bdev %s is claimed by %s%s and cannot be opened for writing",
			   bdev_name, m != NULL ? "module " : "another module",
			   m != NULL ? m->name : "");
		return -EPERM;
	}
	TAILQ_FOREACH(s, &tgt->subsystems, link) {
		TAILQ_FOREACH(ns, &s->namespaces, link) {
			if (strcmp(ns->bdev_name, osp_bdev_get_name(bdev)) == 0) {
				osp_seterr(err, errlen, "bdev %s is already namespace %u of %s: a "
					   "bdev can back only one namespace", ns->bdev_name,
					   ns->nsid, s->nqn);
				return -EEXIST;
			}
		}
	}
	osp_seterr(err, errlen, "bdev %s is still held by a namespace being removed: retry in a "
		   "moment", bdev_name);
	return -EPERM;
}

int
osp_nvmf_subsystem_add_ns(struct osp_nvmf_subsystem *s, const char *bdev_name,
			  const struct osp_nvmf_ns_opts *opts, char *err, size_t errlen)
{
	struct osp_nvmf_ns_opts o;
	struct osp_nvmf_ns *ns, *cur, *after = NULL;
	uint32_t nsid, limit;
	int rc;

	osp_nvmf_ns_opts_init(&o, sizeof(o));
	if (opts != NULL) {
		memcpy(&o, opts, OSP_MIN(sizeof(o), opts->opts_size));
		o.opts_size = sizeof(o);
	}
	if (s->type == OSP_NVMF_SUBTYPE_KIND_DISCOVERY) {
		osp_seterr(err, errlen, "The discovery subsystem has no namespaces");
		return -EINVAL;
	}
	if (s->state == OSP_NVMF_SUBSYSTEM_ACTIVE || s->changing) {
		osp_seterr(err, errlen, "Subsystem %s is active: pause it first", s->nqn);
		return -EBUSY;
	}
	limit = s->max_namespaces != 0 ? s->max_namespaces : OSP_NVMF_NSID_MAX;
	nsid = o.nsid;
	if (nsid == 0xffffffffu) {
		osp_seterr(err, errlen, "Invalid nsid 0xffffffff: it is the broadcast value");
		return -EINVAL;
	}
	if (nsid > limit) {
		osp_seterr(err, errlen, "Invalid nsid %u: subsystem %s allows nsid 1 to %u "
		       "(max_namespaces)", nsid, s->nqn, limit);
		return -ERANGE;
	}
	if (nsid == 0) {
		/* Lowest free nsid (the list is in ascending nsid order). */
		nsid = 1;
		TAILQ_FOREACH(cur, &s->namespaces, link) {
			if (cur->nsid != nsid) {
				break;
			}
			after = cur;
			nsid++;
		}
		if (nsid > limit) {
			osp_seterr(err, errlen, "Subsystem %s has no free nsid: all %u are in use "
			       "(max_namespaces)", s->nqn, limit);
			return -ENOSPC;
		}
	} else {
		TAILQ_FOREACH(cur, &s->namespaces, link) {
			if (cur->nsid == nsid) {
				osp_seterr(err, errlen, "nsid %u of %s is already in use by bdev %s",
				       nsid, s->nqn, cur->bdev_name);
				return -EEXIST;
			}
			if (cur->nsid > nsid) {
				break;
			}
			after = cur;
		}
	}
	if (!bytes_zero(o.nguid, sizeof(o.nguid)) || !bytes_zero(o.eui64, sizeof(o.eui64)) ||
	    !osp_uuid_is_null(&o.uuid)) {
		TAILQ_FOREACH(cur, &s->namespaces, link) {
			if ((!bytes_zero(o.nguid, sizeof(o.nguid)) &&
			     memcmp(cur->opts.nguid, o.nguid, sizeof(o.nguid)) == 0) ||
			    (!bytes_zero(o.eui64, sizeof(o.eui64)) &&
			     memcmp(cur->opts.eui64, o.eui64, sizeof(o.eui64)) == 0) ||
			    (!osp_uuid_is_null(&o.uuid) &&
			     osp_uuid_compare(&cur->opts.uuid, &o.uuid) == 0)) {
				osp_seterr(err, errlen, "Namespace %u of %s already has that uuid, "
				       "nguid or eui64: identifiers must be unique", cur->nsid,
				       s->nqn);
				return -EEXIST;
			}
		}
	}
	ns = calloc(1, sizeof(*ns));
	if (ns == NULL || (ns->bdev_name = strdup(bdev_name)) == NULL) {
		free(ns);
		osp_seterr(err, errlen, "Out of memory");
		return -ENOMEM;
	}
	ns->nsid = nsid;
	ns->subsystem = s;
	rc = osp_bdev_open_ext(bdev_name, true, ns_bdev_event, ns, &ns->desc);
	if (rc != 0) {
		ns->desc = NULL;
		ns_free(ns);
		if (rc == -ENODEV) {
			osp_seterr(err, errlen, "No bdev named '%s'", bdev_name);
		} else if (rc == -EPERM) {
			rc = ns_explain_claimed(s->tgt, bdev_name, err, errlen);
		} else {
			osp_seterr(err, errlen, "Cannot open bdev %s: %s", bdev_name, strerror(-rc));
		}
		return rc;
	}
	/* Use the canonical name even if an alias was given. */
	free(ns->bdev_name);
	ns->bdev_name = strdup(osp_bdev_get_name(osp_bdev_desc_get_bdev(ns->desc)));
	if (ns->bdev_name == NULL) {
		ns_free(ns);
		osp_seterr(err, errlen, "Out of memory");
		return -ENOMEM;
	}
	/* One bdev backs at most one namespace of a subsystem (they would share a UUID). */
	TAILQ_FOREACH(cur, &s->namespaces, link) {
		if (strcmp(cur->bdev_name, ns->bdev_name) == 0) {
			osp_seterr(err, errlen, "bdev %s is already namespace %u of %s", ns->bdev_name,
			       cur->nsid, s->nqn);
			ns_free(ns);
			return -EEXIST;
		}
	}
	rc = osp_bdev_module_claim_bdev(osp_bdev_desc_get_bdev(ns->desc), ns->desc,
					&g_nvmf_ns_claim);
	if (rc != 0) {
		/* Open for writing by someone else (not through a claim). */
		osp_seterr(err, errlen, "bdev %s is open for writing by another user: a namespace "
			   "needs it exclusively", ns->bdev_name);
		ns_free(ns);
		return rc;
	}
	if (osp_uuid_is_null(&o.uuid)) {
		o.uuid = *osp_bdev_get_uuid(osp_bdev_desc_get_bdev(ns->desc));
	}
	o.nsid = nsid;
	ns->opts = o;
	if (after != NULL) {
		TAILQ_INSERT_AFTER(&s->namespaces, after, ns, link);
	} else {
		TAILQ_INSERT_HEAD(&s->namespaces, ns, link);
	}
	s->num_ns++;
	nvmf_subsystem_ns_changed(s, nsid);
	return (int)nsid;
}

int
osp_nvmf_subsystem_remove_ns(struct osp_nvmf_subsystem *s, uint32_t nsid)
{
	struct osp_nvmf_ns *ns = osp_nvmf_subsystem_get_ns(s, nsid);

	if (ns == NULL) {
		return -ENOENT;
	}
	if (s->state == OSP_NVMF_SUBSYSTEM_ACTIVE || s->changing) {
		return -EBUSY;
	}
	ns_unlink(ns);
	return 0;
}

struct osp_nvmf_ns *
osp_nvmf_subsystem_get_ns(struct osp_nvmf_subsystem *s, uint32_t nsid)
{
	struct osp_nvmf_ns *ns;

	TAILQ_FOREACH(ns, &s->namespaces, link) {
		if (ns->nsid == nsid) {
			return ns;
		}
	}
	return NULL;
}

struct osp_nvmf_ns *
osp_nvmf_subsystem_ns_first(struct osp_nvmf_subsystem *s)
{
	return TAILQ_FIRST(&s->namespaces);
}

struct osp_nvmf_ns *
osp_nvmf_subsystem_ns_next(struct osp_nvmf_subsystem *s, struct osp_nvmf_ns *prev)
{
	(void)s;
	return TAILQ_NEXT(prev, link);
}

uint32_t
osp_nvmf_ns_get_id(const struct osp_nvmf_ns *ns)
{
	return ns->nsid;
}

const char *
osp_nvmf_ns_get_bdev_name(const struct osp_nvmf_ns *ns)
{
	return ns->bdev_name;
}

const struct osp_nvmf_ns_opts *
osp_nvmf_ns_get_opts(const struct osp_nvmf_ns *ns)
{
	return &ns->opts;
}

/* ---- listeners ---- */

static struct nvmf_listener *
nvmf_subsystem_listener_find(const struct osp_nvmf_subsystem *s, const struct osp_nvmf_listen_addr *addr)
{
	struct nvmf_listener *l;

	TAILQ_FOREACH(l, &s->listeners, link) {
		if (osp_nvmf_listen_addr_equal(&l->addr, addr)) {
			return l;
		}
	}
	return NULL;
}

static void
listener_free(struct osp_nvmf_subsystem *s, struct nvmf_listener *l)
{
	struct nvmf_port *port = l->port;

	TAILQ_REMOVE(&s->listeners, l, link);
	free(l);
	if (--port->refcnt == 0) {
		if (port->transport->ops->stop_listen != NULL) {
			port->transport->ops->stop_listen(port->transport, &port->addr);
		}
		TAILQ_REMOVE(&s->tgt->ports, port, link);
		free(port);
	}
}

/* The port for addr, created (and listened on) on first use; lowest free port id. */
static int
port_get(struct osp_nvmf_tgt *tgt, struct osp_nvmf_transport *transport,
	 const struct osp_nvmf_listen_addr *addr, struct nvmf_port **out, char *err,
	 size_t errlen)
{
	struct nvmf_port *port, *p, *after = NULL;
	uint16_t id = 0;
	int rc;

	TAILQ_FOREACH(port, &tgt->ports, link) {
		if (osp_nvmf_listen_addr_equal(&port->addr, addr)) {
			port->refcnt++;
			*out = port;
			return 0;
		}
	}
	TAILQ_FOREACH(p, &tgt->ports, link) {	/* ascending id */
		if (p->id != id) {
			break;
		}
		after = p;
		id++;
	}
	port = calloc(1, sizeof(*port));
	if (port == NULL) {
		osp_seterr(err, errlen, "Out of memory");
		return -ENOMEM;
	}
	port->addr = *addr;
	port->transport = transport;
	port->id = id;
	port->refcnt = 1;
	if (transport->ops->listen != NULL) {
		rc = transport->ops->listen(transport, addr);
		if (rc != 0) {
			osp_seterr(err, errlen, "Transport %s cannot listen on %s:%s: %s",
			       transport->ops->name, addr->traddr, addr->trsvcid, strerror(-rc));
			free(port);
			return rc;
		}
	}
	if (after != NULL) {
		TAILQ_INSERT_AFTER(&tgt->ports, after, port, link);
	} else {
		TAILQ_INSERT_HEAD(&tgt->ports, port, link);
	}
	*out = port;
	return 0;
}

int
osp_nvmf_subsystem_add_listener(struct osp_nvmf_subsystem *s,
				const struct osp_nvmf_listen_addr *addr, char *err, size_t errlen)
{
	const char *trname = osp_nvmf_trtype_str(addr->trtype);
	struct osp_nvmf_transport *transport;
	struct nvmf_listener *l;
	int rc;

	if (trname == NULL) {
		osp_seterr(err, errlen, "Invalid trtype %d", (int)addr->trtype);
		return -EINVAL;
	}
	if (osp_nvmf_transport_ops_find(trname) == NULL) {
		osp_seterr(err, errlen, "transport %s is not available in this build", trname);
		return -ENOTSUP;
	}
	transport = osp_nvmf_tgt_get_transport(s->tgt, trname);
	if (transport == NULL) {
		osp_seterr(err, errlen, "Transport %s has not been created: call "
		       "nvmf_create_transport -t %s first", trname, trname);
		return -ENODEV;
	}
	if (nvmf_subsystem_listener_find(s, addr) != NULL) {
		osp_seterr(err, errlen, "Subsystem %s already listens on %s %s:%s", s->nqn, trname,
		       addr->traddr, addr->trsvcid);
		return -EEXIST;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		osp_seterr(err, errlen, "Out of memory");
		return -ENOMEM;
	}
	l->addr = *addr;
	rc = port_get(s->tgt, transport, addr, &l->port, err, errlen);
	if (rc != 0) {
		free(l);
		return rc;
	}
	TAILQ_INSERT_TAIL(&s->listeners, l, link);
	nvmf_tgt_discovery_changed(s->tgt);
	return 0;
}

int
osp_nvmf_subsystem_remove_listener(struct osp_nvmf_subsystem *s,
				   const struct osp_nvmf_listen_addr *addr)
{
	struct nvmf_listener *l = nvmf_subsystem_listener_find(s, addr);

	if (l == NULL) {
		return -ENOENT;
	}
	/* Hosts connected through it lose their connections (as in SPDK). */
	if (!TAILQ_EMPTY(&s->tgt->poll_groups)) {
		nvmf_subsystem_disconnect_qpairs(s, addr);
	}
	listener_free(s, l);
	nvmf_tgt_discovery_changed(s->tgt);
	return 0;
}

const struct osp_nvmf_listen_addr *
osp_nvmf_subsystem_listener_first(const struct osp_nvmf_subsystem *s)
{
	struct nvmf_listener *l = TAILQ_FIRST(&s->listeners);

	return l != NULL ? &l->addr : NULL;
}

const struct osp_nvmf_listen_addr *
osp_nvmf_subsystem_listener_next(const struct osp_nvmf_subsystem *s,
				 const struct osp_nvmf_listen_addr *prev)
{
	const struct nvmf_listener *l = (const struct nvmf_listener *)prev; /* addr is first */

	(void)s;
	l = TAILQ_NEXT(l, link);
	return l != NULL ? &l->addr : NULL;
}
