/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe-oF target control plane: the target object and transport/address
 * names. Subsystems (with their hosts, namespaces and listeners) are in
 * subsystem.c, the discovery log page in discovery.c. Everything runs on the
 * target's (app) thread.
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

static TAILQ_HEAD(, osp_nvmf_tgt) g_tgts = TAILQ_HEAD_INITIALIZER(g_tgts);
static struct osp_nvmf_tgt *g_default_tgt;

/* ---- addresses ---- */

static const struct {
	const char *name;
	int val;
} g_trtypes[] = {
	{"RDMA", OSP_NVMF_TRTYPE_RDMA}, {"FC", OSP_NVMF_TRTYPE_FC},
	{"TCP", OSP_NVMF_TRTYPE_TCP}, {"INTRA_HOST", OSP_NVMF_TRTYPE_INTRA_HOST},
}, g_adrfams[] = {
	{"IPv4", OSP_NVMF_ADRFAM_IPV4}, {"IPv6", OSP_NVMF_ADRFAM_IPV6},
	{"IB", OSP_NVMF_ADRFAM_IB}, {"FC", OSP_NVMF_ADRFAM_FC},
	{"INTRA_HOST", OSP_NVMF_ADRFAM_INTRA_HOST},
};

const char *
osp_nvmf_trtype_str(enum osp_nvmf_trtype trtype)
{
	size_t i;

	for (i = 0; i < OSP_COUNTOF(g_trtypes); i++) {
		if (g_trtypes[i].val == (int)trtype) {
			return g_trtypes[i].name;
		}
	}
	return NULL;
}

const char *
osp_nvmf_adrfam_str(enum osp_nvmf_adrfam adrfam)
{
	size_t i;

	for (i = 0; i < OSP_COUNTOF(g_adrfams); i++) {
		if (g_adrfams[i].val == (int)adrfam) {
			return g_adrfams[i].name;
		}
	}
	return NULL;
}

int
osp_nvmf_listen_addr_parse(struct osp_nvmf_listen_addr *addr, const char *trtype,
			   const char *adrfam, const char *traddr, const char *trsvcid,
			   char *err, size_t errlen)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char *end;
	unsigned long port;
	size_t i;
	int af;

	memset(addr, 0, sizeof(*addr));
	for (i = 0; trtype != NULL && i < OSP_COUNTOF(g_trtypes); i++) {
		if (strcasecmp(trtype, g_trtypes[i].name) == 0) {
			addr->trtype = g_trtypes[i].val;
			break;
		}
	}
	if (addr->trtype == 0) {
		osp_seterr(err, errlen, "Invalid trtype '%s': expected TCP or RDMA",
		       trtype ? trtype : "");
		return -EINVAL;
	}
	if (adrfam == NULL) {
		addr->adrfam = OSP_NVMF_ADRFAM_IPV4;
	} else {
		for (i = 0; i < OSP_COUNTOF(g_adrfams); i++) {
			if (strcasecmp(adrfam, g_adrfams[i].name) == 0) {
				addr->adrfam = g_adrfams[i].val;
				break;
			}
		}
		if (addr->adrfam == 0) {
			osp_seterr(err, errlen, "Invalid adrfam '%s': expected ipv4, ipv6, ib or fc",
			       adrfam);
			return -EINVAL;
		}
	}
	if (traddr == NULL || traddr[0] == '\0' || strlen(traddr) > OSP_NVMF_TRADDR_MAX_LEN) {
		osp_seterr(err, errlen, "Invalid traddr: expected a non-empty address of at most %d "
		       "characters", OSP_NVMF_TRADDR_MAX_LEN);
		return -EINVAL;
	}
	if (addr->adrfam == OSP_NVMF_ADRFAM_IPV4 || addr->adrfam == OSP_NVMF_ADRFAM_IPV6) {
		af = addr->adrfam == OSP_NVMF_ADRFAM_IPV4 ? AF_INET : AF_INET6;
		if (inet_pton(af, traddr, buf) != 1) {
			osp_seterr(err, errlen, "Invalid traddr '%s': not an %s address", traddr,
			       osp_nvmf_adrfam_str(addr->adrfam));
			return -EINVAL;
		}
	}
	snprintf(addr->traddr, sizeof(addr->traddr), "%s", traddr);
	if (trsvcid == NULL) {
		trsvcid = "4420";
	}
	if (addr->trtype == OSP_NVMF_TRTYPE_TCP || addr->trtype == OSP_NVMF_TRTYPE_RDMA) {
		errno = 0;
		port = strtoul(trsvcid, &end, 10);
		if (trsvcid[0] < '0' || trsvcid[0] > '9' || *end != '\0' || errno != 0 ||
		    port == 0 || port > 65535) {
			osp_seterr(err, errlen, "Invalid trsvcid '%s': expected a port number 1-65535",
			       trsvcid);
			return -EINVAL;
		}
		snprintf(addr->trsvcid, sizeof(addr->trsvcid), "%lu", port);
	} else {
		if (strlen(trsvcid) > OSP_NVMF_TRSVCID_MAX_LEN) {
			osp_seterr(err, errlen, "Invalid trsvcid: at most %d characters",
			       OSP_NVMF_TRSVCID_MAX_LEN);
			return -EINVAL;
		}
		snprintf(addr->trsvcid, sizeof(addr->trsvcid), "%s", trsvcid);
	}
	return 0;
}

bool
osp_nvmf_listen_addr_equal(const struct osp_nvmf_listen_addr *a,
			   const struct osp_nvmf_listen_addr *b)
{
	return a->trtype == b->trtype && a->adrfam == b->adrfam &&
	       strcasecmp(a->traddr, b->traddr) == 0 && strcmp(a->trsvcid, b->trsvcid) == 0;
}

/* ---- the target ---- */

void
nvmf_set_default_tgt(struct osp_nvmf_tgt *tgt)
{
	g_default_tgt = tgt;
}

struct osp_nvmf_tgt *
osp_nvmf_get_tgt(const char *name)
{
	struct osp_nvmf_tgt *tgt;

	if (name == NULL) {
		return g_default_tgt != NULL ? g_default_tgt : TAILQ_FIRST(&g_tgts);
	}
	TAILQ_FOREACH(tgt, &g_tgts, link) {
		if (strcmp(tgt->name, name) == 0) {
			return tgt;
		}
	}
	return NULL;
}

struct osp_nvmf_tgt *
osp_nvmf_tgt_create(const char *name, uint32_t max_subsystems)
{
	struct osp_nvmf_tgt *tgt = calloc(1, sizeof(*tgt));

	if (tgt == NULL) {
		return NULL;
	}
	tgt->name = strdup(name != NULL ? name : "nvmf_tgt");
	tgt->max_subsystems = max_subsystems != 0 ? max_subsystems : 1024;
	TAILQ_INIT(&tgt->subsystems);
	TAILQ_INIT(&tgt->transports);
	TAILQ_INIT(&tgt->ports);
	TAILQ_INIT(&tgt->poll_groups);
	tgt->thread = osp_get_thread();
	/* Subsystem ids index the poll groups' per-subsystem state; 0 is discovery. */
	tgt->subsys_ids = calloc((tgt->max_subsystems + 1 + 7) / 8, 1);
	tgt->discovery = tgt->name && tgt->subsys_ids ? nvmf_subsystem_alloc(tgt,
			 OSP_NVMF_DISCOVERY_NQN, OSP_NVMF_SUBTYPE_KIND_DISCOVERY) : NULL;
	if (tgt->discovery == NULL) {
		free(tgt->subsys_ids);
		free(tgt->name);
		free(tgt);
		return NULL;
	}
	tgt->discovery->allow_any_host = true;
	TAILQ_INSERT_TAIL(&tgt->subsystems, tgt->discovery, link);
	TAILQ_INSERT_TAIL(&g_tgts, tgt, link);
	return tgt;
}

void
osp_nvmf_tgt_destroy(struct osp_nvmf_tgt *tgt)
{
	struct osp_nvmf_subsystem *s, *tmp;

	if (tgt == NULL) {
		return;
	}
	TAILQ_FOREACH_SAFE(s, &tgt->subsystems, link, tmp) {
		TAILQ_REMOVE(&tgt->subsystems, s, link);
		nvmf_subsystem_free(s);
	}
	osp_poller_unregister(&tgt->acceptor);
	nvmf_tgt_destroy_transports(tgt);
	TAILQ_REMOVE(&g_tgts, tgt, link);
	if (g_default_tgt == tgt) {
		g_default_tgt = NULL;
	}
	free(tgt->subsys_ids);
	free(tgt->name);
	free(tgt);
}

const char *
osp_nvmf_tgt_get_name(const struct osp_nvmf_tgt *tgt)
{
	return tgt->name;
}

uint64_t
osp_nvmf_tgt_get_discovery_genctr(const struct osp_nvmf_tgt *tgt)
{
	return tgt->discovery_genctr;
}

void
nvmf_tgt_discovery_changed(struct osp_nvmf_tgt *tgt)
{
	tgt->discovery_genctr++;
	nvmf_tgt_discovery_aen(tgt);
}
