/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The discovery log page (NVMe Base Specification 2.0, §5.16.1.23): one
 * entry per listener of each subsystem the host may connect to. Built on the
 * target's (app) thread; the discovery controller (admin.c) asks for it.
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

/* ---- discovery log page (NVMe Base Specification 2.0, §5.16.1.23) ---- */

static void
discovery_fill_entry(struct osp_nvmf_discovery_log_page_entry *e,
		     const struct osp_nvmf_subsystem *s, const struct nvmf_listener *l)
{
	struct osp_nvmf_transport *transport = l->port->transport;

	memset(e, 0, sizeof(*e));
	e->trtype = (uint8_t)l->addr.trtype;
	e->adrfam = (uint8_t)l->addr.adrfam;
	e->subtype = OSP_NVMF_SUBTYPE_NVME;
	e->treq = OSP_NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED;
	e->portid = l->port->id;
	e->cntlid = OSP_NVMF_CNTLID_DYNAMIC;
	e->asqsz = (uint16_t)(transport->opts.max_aq_depth != 0 ?
			      OSP_MIN(transport->opts.max_aq_depth, 0xffffu) : 32);
	/* TRSVCID and TRADDR are space padded ASCII; SUBNQN is NUL terminated. */
	osp_strcpy_pad(e->trsvcid, l->addr.trsvcid, sizeof(e->trsvcid), ' ');
	osp_strcpy_pad(e->traddr, l->addr.traddr, sizeof(e->traddr), ' ');
	snprintf(e->subnqn, sizeof(e->subnqn), "%s", s->nqn);
	if (transport->ops->listener_discover != NULL) {
		transport->ops->listener_discover(transport, &l->addr, e);
	}
}

size_t
osp_nvmf_get_discovery_log_page(struct osp_nvmf_tgt *tgt, const char *hostnqn, void *buf,
				uint64_t offset, size_t length)
{
	struct osp_nvmf_discovery_log_page *page;
	struct osp_nvmf_subsystem *s;
	struct nvmf_listener *l;
	uint64_t numrec = 0;
	size_t size, n;

	TAILQ_FOREACH(s, &tgt->subsystems, link) {
		if (s->type != OSP_NVMF_SUBTYPE_KIND_NVME ||
		    !osp_nvmf_subsystem_host_allowed(s, hostnqn)) {
			continue;
		}
		TAILQ_FOREACH(l, &s->listeners, link) {
			numrec++;
		}
	}
	size = sizeof(*page) + numrec * sizeof(page->entries[0]);
	page = calloc(1, size);
	if (page == NULL) {
		return 0;
	}
	page->genctr = tgt->discovery_genctr;
	page->numrec = numrec;
	page->recfmt = 0;
	numrec = 0;
	TAILQ_FOREACH(s, &tgt->subsystems, link) {
		if (s->type != OSP_NVMF_SUBTYPE_KIND_NVME ||
		    !osp_nvmf_subsystem_host_allowed(s, hostnqn)) {
			continue;
		}
		TAILQ_FOREACH(l, &s->listeners, link) {
			discovery_fill_entry(&page->entries[numrec++], s, l);
		}
	}
	if (buf != NULL && length > 0) {
		memset(buf, 0, length);
		if (offset < size) {
			n = OSP_MIN(length, size - (size_t)offset);
			memcpy(buf, (uint8_t *)page + offset, n);
		}
	}
	free(page);
	return size;
}
