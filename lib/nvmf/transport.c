/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The transport registry (filled by constructors) and the transports created
 * on a target. A build without TCP simply has nothing registered under "TCP",
 * so nvmf_create_transport -t tcp answers that the transport is not available.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "osprey/log.h"
#include "osprey/nvmf_transport.h"
#include "osprey/util.h"

#include "nvmf_internal.h"

#define NVMF_MAX_TRANSPORT_OPS 8

static const struct osp_nvmf_transport_ops *g_transport_ops[NVMF_MAX_TRANSPORT_OPS];
static size_t g_num_transport_ops;

void
osp_nvmf_transport_register(const struct osp_nvmf_transport_ops *ops)
{
	if (ops == NULL || ops->name == NULL || ops->create == NULL) {
		OSP_ERRLOG("nvmf transport registration without a name or create()\n");
		return;
	}
	if (osp_nvmf_transport_ops_find(ops->name) != NULL) {
		OSP_ERRLOG("nvmf transport %s registered twice\n", ops->name);
		return;
	}
	if (g_num_transport_ops == NVMF_MAX_TRANSPORT_OPS) {
		OSP_ERRLOG("too many nvmf transports: %s ignored\n", ops->name);
		return;
	}
	g_transport_ops[g_num_transport_ops++] = ops;
}

const struct osp_nvmf_transport_ops *
osp_nvmf_transport_ops_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < g_num_transport_ops; i++) {
		if (strcasecmp(g_transport_ops[i]->name, name) == 0) {
			return g_transport_ops[i];
		}
	}
	return NULL;
}

int
osp_nvmf_transport_opts_init(const char *trtype, struct osp_nvmf_transport_opts *opts,
			     size_t opts_size)
{
	const struct osp_nvmf_transport_ops *ops = osp_nvmf_transport_ops_find(trtype);
	struct osp_nvmf_transport_opts o = {};

	if (ops == NULL) {
		return -ENOTSUP;
	}
	o.opts_size = sizeof(o);
	/* Generic defaults; the transport's opts_init overrides what it wants. */
	o.max_queue_depth = 128;
	o.max_qpairs_per_ctrlr = 128;
	o.in_capsule_data_size = 4096;
	o.max_io_size = 131072;
	o.io_unit_size = 131072;
	o.max_aq_depth = 128;
	o.num_shared_buffers = 511;
	o.buf_cache_size = 32;
	o.abort_timeout_sec = 1;
	o.acceptor_poll_rate = 10000;
	if (ops->opts_init != NULL) {
		ops->opts_init(&o);
	}
	o.opts_size = opts_size;
	memcpy(opts, &o, OSP_MIN(opts_size, sizeof(o)));
	return 0;
}

struct osp_nvmf_transport *
osp_nvmf_tgt_get_transport(struct osp_nvmf_tgt *tgt, const char *trtype)
{
	struct osp_nvmf_transport *t;

	TAILQ_FOREACH(t, &tgt->transports, link) {
		if (strcasecmp(t->ops->name, trtype) == 0) {
			return t;
		}
	}
	return NULL;
}

struct osp_nvmf_transport *
osp_nvmf_transport_first(struct osp_nvmf_tgt *tgt)
{
	return TAILQ_FIRST(&tgt->transports);
}

struct osp_nvmf_transport *
osp_nvmf_transport_next(struct osp_nvmf_transport *transport)
{
	return TAILQ_NEXT(transport, link);
}

int
osp_nvmf_transport_create(struct osp_nvmf_tgt *tgt, const char *trtype,
			  const struct osp_nvmf_transport_opts *opts,
			  struct osp_nvmf_transport **out, char *err, size_t errlen)
{
	const struct osp_nvmf_transport_ops *ops = osp_nvmf_transport_ops_find(trtype);
	struct osp_nvmf_transport_opts o;
	struct osp_nvmf_transport *t = NULL;
	char upper[32];
	size_t i;
	int rc;

	for (i = 0; trtype != NULL && trtype[i] != '\0' && i < sizeof(upper) - 1; i++) {
		upper[i] = (char)(trtype[i] >= 'a' && trtype[i] <= 'z' ? trtype[i] - 32 : trtype[i]);
	}
	upper[i] = '\0';
	if (ops == NULL) {
		snprintf(err, errlen, "transport %s is not available in this build", upper);
		return -ENOTSUP;
	}
	if (osp_nvmf_tgt_get_transport(tgt, ops->name) != NULL) {
		snprintf(err, errlen, "Transport %s already exists", ops->name);
		return -EEXIST;
	}
	if (opts != NULL) {
		osp_nvmf_transport_opts_init(ops->name, &o, sizeof(o));
		memcpy(&o, opts, OSP_MIN(sizeof(o), opts->opts_size));
	} else {
		osp_nvmf_transport_opts_init(ops->name, &o, sizeof(o));
	}
	o.opts_size = sizeof(o);
	if (o.max_queue_depth < 2 || o.max_aq_depth < 2 || o.max_qpairs_per_ctrlr < 2 ||
	    o.io_unit_size == 0 || o.max_io_size == 0) {
		snprintf(err, errlen, "Invalid options: max_queue_depth, max_aq_depth and "
			 "max_qpairs_per_ctrlr must be at least 2, max_io_size and io_unit_size "
			 "not 0");
		return -EINVAL;
	}
	/*
	 * The poll groups' buffer caches must leave one max_io_size request's
	 * worth of shared buffers to a group that waits (else one busy group can
	 * hold them all and the others' qpairs wait forever). Clamp rather than
	 * refuse, as SPDK does, so that the defaults (511 buffers, caches of 32)
	 * keep working on any number of cores. Groups created later are held to
	 * the same rule by iobuf when they set up their caches.
	 */
	if (tgt->num_poll_groups > 0 && o.num_shared_buffers > 0) {
		uint32_t per_io = (uint32_t)(((uint64_t)o.max_io_size + o.io_unit_size - 1) /
					     o.io_unit_size);
		uint32_t room = o.num_shared_buffers > per_io ? o.num_shared_buffers - per_io : 0;

		if ((uint64_t)o.buf_cache_size * tgt->num_poll_groups > room) {
			OSP_WARNLOG("transport %s: buf_cache_size %u x %u poll groups would leave fewer "
				    "than the %u shared buffers of one %u-byte I/O out of "
				    "num_shared_buffers %u: buf_cache_size lowered to %u (raise "
				    "num_shared_buffers to keep it)\n", ops->name, o.buf_cache_size,
				    tgt->num_poll_groups, per_io, o.max_io_size, o.num_shared_buffers,
				    room / tgt->num_poll_groups);
			o.buf_cache_size = room / tgt->num_poll_groups;
		}
	}
	err[0] = '\0';
	rc = ops->create(&o, &t, err, errlen);
	if (rc != 0 || t == NULL) {
		if (err[0] == '\0') {
			snprintf(err, errlen, "Transport %s could not be created: %s", ops->name,
				 strerror(rc != 0 ? -rc : ENOMEM));
		}
		return rc != 0 ? rc : -ENOMEM;
	}
	t->ops = ops;
	t->tgt = tgt;
	t->opts = o;
	t->opts.transport_specific = NULL;
	TAILQ_INSERT_TAIL(&tgt->transports, t, link);
	/* Every poll group gets the transport's per-thread state; the acceptor starts. */
	nvmf_tgt_transport_added(tgt, t);
	if (out != NULL) {
		*out = t;
	}
	return 0;
}

static void
transport_destroyed(void *cb_arg)
{
	(void)cb_arg;
}

void
nvmf_tgt_destroy_transports(struct osp_nvmf_tgt *tgt)
{
	struct osp_nvmf_transport *t;

	while ((t = TAILQ_FIRST(&tgt->transports)) != NULL) {
		TAILQ_REMOVE(&tgt->transports, t, link);
		if (t->ops->destroy != NULL) {
			t->ops->destroy(t, transport_destroyed, NULL);
		}
	}
}
