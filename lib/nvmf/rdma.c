/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe-oF RDMA target transport: capsules arrive as RDMA SENDs into posted
 * receives (command + in-capsule data), host data moves with RDMA READ
 * (host to controller) and RDMA WRITE (controller to host) against the
 * host's keyed SGL data blocks, responses go back as SENDs (with Invalidate
 * when the host asks). Connections come through rdma_cm. See doc/nvmf_rdma.md.
 *
 * Threads: the rdma_cm event channel is polled by the target thread (the
 * core's acceptor calls nvmf_rdma_accept); everything about a queue pair's
 * QP (create, accept, disconnect, destroy) and its requests runs on its poll
 * group's thread. The target thread only rejects connection requests and,
 * once a group has drained and destroyed a QP, destroys its rdma_cm id and
 * frees it (rdma_cm ids and their events are the target thread's).
 *
 * References: NVM Express over Fabrics 1.1 ("Fabrics"), NVMe over Fabrics
 * RDMA transport binding (RDMA_CM private data, §3 of the binding in the
 * Fabrics spec: "RDMA"), NVMe Base 2.0 ("Base": SGLs §4.3.2).
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <cJSON.h>

#include "osprey/env.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "rdma_internal.h"

OSP_LOG_REGISTER_COMPONENT(nvmf_rdma)

#define DIV_ROUND_UP(a, b) ((uint32_t)(((uint64_t)(a) + (b) - 1) / (b)))
#define CAPSULE_CMD_SIZE 64u

static const struct osp_nvmf_transport_ops g_nvmf_rdma_ops;

static inline struct nvmf_rdma_transport *
rdma_transport(struct osp_nvmf_transport *t)
{
	return OSP_CONTAINEROF(t, struct nvmf_rdma_transport, transport);
}

static inline struct nvmf_rdma_poll_group *
rdma_group(struct osp_nvmf_transport_poll_group *g)
{
	return OSP_CONTAINEROF(g, struct nvmf_rdma_poll_group, group);
}

static inline struct nvmf_rdma_qpair *
rdma_qpair(struct osp_nvmf_qpair *q)
{
	return OSP_CONTAINEROF(q, struct nvmf_rdma_qpair, qpair);
}

static inline struct nvmf_rdma_req *
rdma_req(struct osp_nvmf_request *r)
{
	return OSP_CONTAINEROF(r, struct nvmf_rdma_req, req);
}

/* ---------------------------------------------------------------- options */

static void
nvmf_rdma_opts_init(struct osp_nvmf_transport_opts *o)
{
	/* SPDK's RDMA transport defaults, so configs behave the same. */
	o->max_queue_depth = 128;
	o->max_qpairs_per_ctrlr = 128;
	o->in_capsule_data_size = 4096;
	o->max_io_size = 131072;
	o->io_unit_size = 8192;
	o->max_aq_depth = 128;
	o->num_shared_buffers = 4095;
	o->buf_cache_size = 32;
	o->dif_insert_or_strip = false;
	o->zcopy = false;
	o->abort_timeout_sec = 1;
	o->acceptor_poll_rate = 10000;
}

/* TCP-only parameters: refused rather than ignored. */
static const char *const g_tcp_only_params[] = { "c2h_success", "sock_priority", "control_msg_num" };

static int
json_uint(const cJSON *ts, const char *name, uint64_t min, uint64_t max, uint64_t *out,
	  char *err, size_t errlen)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(ts, name);

	if (item == NULL) {
		return 0;
	}
	if (!cJSON_IsNumber(item) || item->valuedouble != (double)(uint64_t)item->valuedouble ||
	    item->valuedouble < (double)min || item->valuedouble > (double)max) {
		snprintf(err, errlen, "Invalid %s: must be an integer from %" PRIu64 " to %" PRIu64,
			 name, min, max);
		return -EINVAL;
	}
	*out = (uint64_t)item->valuedouble;
	return 0;
}

static int
json_bool(const cJSON *ts, const char *name, bool *out, char *err, size_t errlen)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(ts, name);

	if (item == NULL) {
		return 0;
	}
	if (!cJSON_IsBool(item)) {
		snprintf(err, errlen, "Invalid %s: must be true or false", name);
		return -EINVAL;
	}
	*out = cJSON_IsTrue(item);
	return 0;
}

static int
nvmf_rdma_parse_specific(struct nvmf_rdma_transport *rt, const cJSON *ts, char *err, size_t errlen)
{
	uint64_t v;
	size_t i;
	int rc;

	if (ts == NULL) {
		return 0;
	}
	if (!cJSON_IsObject(ts)) {
		snprintf(err, errlen, "RDMA transport parameters must be a JSON object");
		return -EINVAL;
	}
	for (i = 0; i < OSP_COUNTOF(g_tcp_only_params); i++) {
		if (cJSON_GetObjectItemCaseSensitive(ts, g_tcp_only_params[i]) != NULL) {
			snprintf(err, errlen, "%s is a TCP transport parameter; RDMA does not take it",
				 g_tcp_only_params[i]);
			return -EINVAL;
		}
	}
	v = rt->num_cqe;
	rc = json_uint(ts, "num_cqe", 128, 1u << 20, &v, err, errlen);
	rt->num_cqe = (uint32_t)v;
	v = rt->max_srq_depth;
	rc = rc ?: json_uint(ts, "max_srq_depth", 2, 1u << 20, &v, err, errlen);
	rt->max_srq_depth = (uint32_t)v;
	v = (uint64_t)rt->acceptor_backlog;
	rc = rc ?: json_uint(ts, "acceptor_backlog", 1, 65535, &v, err, errlen);
	rt->acceptor_backlog = (int)v;
	rc = rc ?: json_bool(ts, "no_srq", &rt->no_srq, err, errlen);
	rc = rc ?: json_bool(ts, "no_wr_batching", &rt->no_wr_batching, err, errlen);
	if (rc == 0 && cJSON_GetObjectItemCaseSensitive(ts, "ack_timeout") != NULL) {
		v = 0;
		rc = json_uint(ts, "ack_timeout", 0, 31, &v, err, errlen);
	}
	if (rc == 0 && cJSON_GetObjectItemCaseSensitive(ts, "data_wr_pool_size") != NULL) {
		snprintf(err, errlen, "data_wr_pool_size is not supported: work requests live in "
			 "each request");
		rc = -EINVAL;
	}
	return rc;
}

static int
nvmf_rdma_check_opts(const struct osp_nvmf_transport_opts *o, char *err, size_t errlen)
{
	uint32_t per_io;

	if (o->max_queue_depth < 2 || o->max_aq_depth < 2 || o->max_aq_depth > 4096) {
		snprintf(err, errlen, "Invalid max_queue_depth %u / max_aq_depth %u: queues have at "
			 "least 2 entries, the admin queue at most 4096", o->max_queue_depth,
			 o->max_aq_depth);
		return -EINVAL;
	}
	if (o->io_unit_size < 512 || o->io_unit_size % 512 != 0) {
		snprintf(err, errlen, "Invalid io_unit_size %u: a multiple of 512", o->io_unit_size);
		return -EINVAL;
	}
	per_io = DIV_ROUND_UP(o->max_io_size, o->io_unit_size);
	if (per_io > OSP_NVMF_MAX_REQ_IOVS) {
		snprintf(err, errlen, "max_io_size %u / io_unit_size %u needs %u buffers per I/O; "
			 "at most %d are supported: raise io_unit_size", o->max_io_size,
			 o->io_unit_size, per_io, OSP_NVMF_MAX_REQ_IOVS);
		return -EINVAL;
	}
	if (o->max_io_size > (1u << 24) - 1) {
		/* A keyed SGL data block has a 24-bit length. */
		snprintf(err, errlen, "Invalid max_io_size %u: at most 16 MiB - 1", o->max_io_size);
		return -EINVAL;
	}
	if (o->in_capsule_data_size > 131072 || o->in_capsule_data_size % 16 != 0) {
		snprintf(err, errlen, "Invalid in_capsule_data_size %u: a multiple of 16 up to 131072",
			 o->in_capsule_data_size);
		return -EINVAL;
	}
	if (o->num_shared_buffers < per_io) {
		snprintf(err, errlen, "num_shared_buffers %u is too small: one %u-byte I/O needs %u "
			 "buffers of io_unit_size %u", o->num_shared_buffers, o->max_io_size, per_io,
			 o->io_unit_size);
		return -EINVAL;
	}
	return 0;
}

/* ---------------------------------------------------------------- devices */

static void
device_free(struct nvmf_rdma_device *d)
{
	if (d->pool_mr != NULL) {
		ibv_dereg_mr(d->pool_mr);
	}
	osp_rdma_mem_map_put(d->map);
	if (d->pd != NULL) {
		ibv_dealloc_pd(d->pd);
	}
	free(d);
}

/* The iobuf pool's buffers: one region, found by taking every buffer once (nothing uses it yet). */
static int
pool_region(struct nvmf_rdma_transport *rt)
{
	uint32_t n = rt->opts.num_shared_buffers, i, got = 0;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	void **all = calloc(n, sizeof(*all));

	if (all == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		all[i] = osp_iobuf_pool_get(rt->buf_pool);
		if (all[i] == NULL) {
			break;
		}
		got++;
		lo = OSP_MIN(lo, (uintptr_t)all[i]);
		hi = OSP_MAX(hi, (uintptr_t)all[i] + osp_iobuf_pool_get_bufsize(rt->buf_pool));
	}
	for (i = 0; i < got; i++) {
		osp_iobuf_pool_put(rt->buf_pool, all[i]);
	}
	free(all);
	if (got != n) {
		return -ENOMEM;
	}
	rt->pool_start = lo;
	rt->pool_end = hi;
	return 0;
}

static int
devices_open(struct nvmf_rdma_transport *rt, char *err, size_t errlen)
{
	struct ibv_context **ctxs;
	struct nvmf_rdma_device *d;
	int n = 0, i;

	ctxs = rdma_get_devices(&n);
	if (ctxs == NULL || n == 0) {
		if (ctxs != NULL) {
			rdma_free_devices(ctxs);
		}
		snprintf(err, errlen, "No RDMA device found (ibv_get_device_list: %s): load an RDMA "
			 "driver (e.g. rdma_rxe and 'rdma link add rxe0 type rxe netdev eth0') first",
			 errno ? strerror(errno) : "none");
		return -ENODEV;
	}
	for (i = 0; i < n; i++) {
		d = calloc(1, sizeof(*d));
		if (d == NULL) {
			goto nomem;
		}
		d->ctx = ctxs[i];
		snprintf(d->name, sizeof(d->name), "%s", ibv_get_device_name(ctxs[i]->device));
		if (ibv_query_device(d->ctx, &d->attr) != 0) {
			OSP_ERRLOG("RDMA device %s: ibv_query_device failed: skipped\n", d->name);
			free(d);
			continue;
		}
		d->pd = ibv_alloc_pd(d->ctx);
		d->map = d->pd != NULL ? osp_rdma_mem_map_get(d->pd) : NULL;
		if (d->map == NULL) {
			OSP_ERRLOG("RDMA device %s: no protection domain or memory map: skipped\n",
				   d->name);
			device_free(d);
			continue;
		}
		if (osp_rdma_mem_translate(d->map, (void *)rt->pool_start,
					   rt->pool_end - rt->pool_start, NULL, NULL) != 0) {
			/* Not env DMA memory (no hugepages): the pool gets its own region. */
			d->pool_mr = ibv_reg_mr(d->pd, (void *)rt->pool_start,
						rt->pool_end - rt->pool_start,
						IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
						IBV_ACCESS_REMOTE_WRITE);
			if (d->pool_mr == NULL) {
				OSP_ERRLOG("RDMA device %s: cannot register the %zu-byte buffer pool: "
					   "%s: skipped\n", d->name, (size_t)(rt->pool_end - rt->pool_start),
					   strerror(errno));
				device_free(d);
				continue;
			}
		}
		TAILQ_INSERT_TAIL(&rt->devices, d, link);
	}
	rdma_free_devices(ctxs);
	if (TAILQ_EMPTY(&rt->devices)) {
		snprintf(err, errlen, "No usable RDMA device (see the log for why each was skipped)");
		return -ENODEV;
	}
	return 0;
nomem:
	rdma_free_devices(ctxs);
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

static struct nvmf_rdma_device *
device_find(struct nvmf_rdma_transport *rt, struct ibv_context *ctx)
{
	struct nvmf_rdma_device *d;

	TAILQ_FOREACH(d, &rt->devices, link) {
		if (d->ctx == ctx) {
			return d;
		}
	}
	return NULL;
}

/* lkey of [p, p + len): the buffer pool's own region, else the env's memory map. */
static inline int
buf_lkey(const struct nvmf_rdma_qpair *rq, const void *p, size_t len, uint32_t *lkey)
{
	const struct nvmf_rdma_device *d = rq->dev;
	uintptr_t a = (uintptr_t)p;

	if (d->pool_mr != NULL && a >= rq->rt->pool_start && a + len <= rq->rt->pool_end) {
		*lkey = d->pool_mr->lkey;
		return 0;
	}
	return osp_rdma_mem_translate(d->map, p, len, lkey, NULL);
}

/* ---------------------------------------------------------------- create / destroy */

static void nvmf_rdma_retire(void *arg);

static int
nvmf_rdma_destroy(struct osp_nvmf_transport *t, osp_nvmf_transport_destroy_done_cb cb_fn,
		  void *cb_arg)
{
	struct nvmf_rdma_transport *rt = rdma_transport(t);
	struct nvmf_rdma_listener *l;
	struct nvmf_rdma_device *d;
	struct nvmf_rdma_qpair *rq;

	while ((l = TAILQ_FIRST(&rt->listeners)) != NULL) {
		TAILQ_REMOVE(&rt->listeners, l, link);
		rdma_destroy_id(l->id);
		free(l);
	}
	while ((rq = TAILQ_FIRST(&rt->retired)) != NULL) {
		nvmf_rdma_retire(rq);
	}
	while ((d = TAILQ_FIRST(&rt->devices)) != NULL) {
		TAILQ_REMOVE(&rt->devices, d, link);
		device_free(d);
	}
	if (rt->event_channel != NULL) {
		rdma_destroy_event_channel(rt->event_channel);
	}
	osp_iobuf_pool_free(rt->buf_pool);
	free(rt);
	if (cb_fn != NULL) {
		cb_fn(cb_arg);
	}
	return 0;
}

static int
nvmf_rdma_create(const struct osp_nvmf_transport_opts *opts, struct osp_nvmf_transport **out,
		 char *err, size_t errlen)
{
	static uint32_t g_pool_id;
	struct nvmf_rdma_transport *rt;
	char name[32];
	int rc, flags;

	rt = calloc(1, sizeof(*rt));
	if (rt == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rt->opts = *opts;
	rt->opts.transport_specific = NULL;
	rt->num_cqe = 4096;
	rt->max_srq_depth = 4096;
	rt->acceptor_backlog = 100;
	TAILQ_INIT(&rt->devices);
	TAILQ_INIT(&rt->listeners);
	TAILQ_INIT(&rt->retired);
	rt->transport.ops = &g_nvmf_rdma_ops;
	rt->thread = osp_get_thread();
	rc = nvmf_rdma_parse_specific(rt, opts->transport_specific, err, errlen);
	rc = rc ?: nvmf_rdma_check_opts(opts, err, errlen);
	if (rc != 0) {
		free(rt);
		return rc;
	}
	snprintf(name, sizeof(name), "nvmf_rdma_%u", g_pool_id++);
	rt->buf_pool = osp_iobuf_pool_create(name, opts->io_unit_size, opts->num_shared_buffers,
					     DIV_ROUND_UP(opts->max_io_size, opts->io_unit_size));
	if (rt->buf_pool == NULL || pool_region(rt) != 0) {
		snprintf(err, errlen, "Cannot allocate %u data buffers of %u bytes: lower "
			 "num_shared_buffers or io_unit_size", opts->num_shared_buffers,
			 opts->io_unit_size);
		nvmf_rdma_destroy(&rt->transport, NULL, NULL);
		return -ENOMEM;
	}
	rc = devices_open(rt, err, errlen);
	if (rc != 0) {
		nvmf_rdma_destroy(&rt->transport, NULL, NULL);
		return rc;
	}
	rt->event_channel = rdma_create_event_channel();
	if (rt->event_channel == NULL) {
		rc = errno ? -errno : -ENODEV;
		snprintf(err, errlen, "rdma_create_event_channel failed: %s (is rdma_ucm loaded?)",
			 strerror(-rc));
		nvmf_rdma_destroy(&rt->transport, NULL, NULL);
		return rc;
	}
	/* Polled by the acceptor: never block the target thread. */
	flags = fcntl(rt->event_channel->fd, F_GETFL);
	if (flags < 0 || fcntl(rt->event_channel->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot make the rdma_cm channel non-blocking: %s",
			 strerror(errno));
		nvmf_rdma_destroy(&rt->transport, NULL, NULL);
		return rc;
	}
	rt->transport.opts = rt->opts;
	*out = &rt->transport;
	return 0;
}

static void
nvmf_rdma_dump_opts(struct osp_nvmf_transport *t, cJSON *obj)
{
	struct nvmf_rdma_transport *rt = rdma_transport(t);

	osp_json_add_uint64(obj, "num_cqe", rt->num_cqe);
	osp_json_add_uint64(obj, "max_srq_depth", rt->max_srq_depth);
	cJSON_AddBoolToObject(obj, "no_srq", rt->no_srq);
	osp_json_add_uint64(obj, "acceptor_backlog", (uint64_t)rt->acceptor_backlog);
	cJSON_AddBoolToObject(obj, "no_wr_batching", rt->no_wr_batching);
}

/* ---------------------------------------------------------------- listeners */

static struct nvmf_rdma_listener *
listener_find(struct nvmf_rdma_transport *rt, const struct osp_nvmf_listen_addr *addr)
{
	struct nvmf_rdma_listener *l;

	TAILQ_FOREACH(l, &rt->listeners, link) {
		if (l->addr.adrfam == addr->adrfam && strcmp(l->addr.traddr, addr->traddr) == 0 &&
		    strcmp(l->addr.trsvcid, addr->trsvcid) == 0) {
			return l;
		}
	}
	return NULL;
}

static int
nvmf_rdma_listen(struct osp_nvmf_transport *t, const struct osp_nvmf_listen_addr *addr)
{
	struct nvmf_rdma_transport *rt = rdma_transport(t);
	struct addrinfo hints = {}, *ai = NULL;
	struct nvmf_rdma_listener *l;
	int rc;

	if (addr->adrfam != OSP_NVMF_ADRFAM_IPV4 && addr->adrfam != OSP_NVMF_ADRFAM_IPV6) {
		OSP_ERRLOG("RDMA listens on IPv4 or IPv6 addresses only\n");
		return -EINVAL;
	}
	if (listener_find(rt, addr) != NULL) {
		return -EEXIST;
	}
	hints.ai_family = addr->adrfam == OSP_NVMF_ADRFAM_IPV4 ? AF_INET : AF_INET6;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(addr->traddr, addr->trsvcid, &hints, &ai);
	if (rc != 0 || ai == NULL) {
		OSP_ERRLOG("invalid RDMA listen address %s port %s: %s\n", addr->traddr,
			   addr->trsvcid, gai_strerror(rc));
		return -EINVAL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		freeaddrinfo(ai);
		return -ENOMEM;
	}
	l->addr = *addr;
	rc = rdma_create_id(rt->event_channel, &l->id, l, RDMA_PS_TCP);
	if (rc == 0) {
		rc = rdma_bind_addr(l->id, ai->ai_addr);
		if (rc == 0) {
			rc = rdma_listen(l->id, rt->acceptor_backlog);
		}
		if (rc != 0) {
			rc = errno ? -errno : -EINVAL;
			rdma_destroy_id(l->id);
		}
	} else {
		rc = errno ? -errno : -ENOMEM;
	}
	freeaddrinfo(ai);
	if (rc != 0) {
		OSP_ERRLOG("cannot listen for RDMA on %s port %s: %s\n", addr->traddr, addr->trsvcid,
			   strerror(-rc));
		free(l);
		return rc == -ENODEV ? -EADDRNOTAVAIL : rc;
	}
	TAILQ_INSERT_TAIL(&rt->listeners, l, link);
	OSP_NOTICELOG("NVMe/RDMA target listening on %s port %s\n", addr->traddr, addr->trsvcid);
	return 0;
}

static void
nvmf_rdma_stop_listen(struct osp_nvmf_transport *t, const struct osp_nvmf_listen_addr *addr)
{
	struct nvmf_rdma_transport *rt = rdma_transport(t);
	struct nvmf_rdma_listener *l = listener_find(rt, addr);

	if (l != NULL) {
		TAILQ_REMOVE(&rt->listeners, l, link);
		rdma_destroy_id(l->id);
		free(l);
	}
}

static void
nvmf_rdma_listener_discover(struct osp_nvmf_transport *t, const struct osp_nvmf_listen_addr *addr,
			    struct osp_nvmf_discovery_log_page_entry *entry)
{
	entry->treq = OSP_NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED;
	memset(&entry->tsas, 0, sizeof(entry->tsas));
	entry->tsas.rdma.rdma_qptype = 1;	/* reliable connected */
	entry->tsas.rdma.rdma_prtype = 1;	/* no provider specified */
	entry->tsas.rdma.rdma_cms = 1;		/* RDMA_CM */
}

/* ---------------------------------------------------------------- posting */

static void
qpair_flush_later(struct nvmf_rdma_qpair *rq)
{
	if (!rq->in_flush_list && rq->pg != NULL) {
		TAILQ_INSERT_TAIL(&rq->pg->flush, rq, flush_link);
		rq->in_flush_list = true;
	}
}

static void qpair_flush(struct nvmf_rdma_qpair *rq);

/* Queue one send-queue WR (its slot is taken by the caller); posted now or at the end of the poll. */
static void
queue_send(struct nvmf_rdma_qpair *rq, struct ibv_send_wr *wr)
{
	wr->next = NULL;
	if (rq->send_tail != NULL) {
		rq->send_tail->next = wr;
	} else {
		rq->send_head = wr;
	}
	rq->send_tail = wr;
	rq->send_out++;
	rq->pgd->stat.total_send_wrs++;
	if (rq->rt->no_wr_batching) {
		qpair_flush(rq);
	} else {
		qpair_flush_later(rq);
	}
}

static void
queue_recv(struct nvmf_rdma_qpair *rq, struct nvmf_rdma_recv *rv)
{
	rv->wr.next = NULL;
	if (rq->recv_tail != NULL) {
		rq->recv_tail->next = &rv->wr;
	} else {
		rq->recv_head = &rv->wr;
	}
	rq->recv_tail = &rv->wr;
	rq->recv_out++;
	rq->pgd->stat.total_recv_wrs++;
	if (rq->rt->no_wr_batching) {
		qpair_flush(rq);
	} else {
		qpair_flush_later(rq);
	}
}

static void wc_process(struct nvmf_rdma_poll_group *pg, const struct ibv_wc *wc);

/* The SRQ's receives queued during this poll go to the device. */
static void
pgd_flush_srq(struct nvmf_rdma_pg_dev *pgd)
{
	struct ibv_recv_wr *rw = pgd->srq_head, *bad = NULL;

	if (rw == NULL) {
		return;
	}
	pgd->srq_head = pgd->srq_tail = NULL;
	pgd->stat.recv_doorbell_updates++;
	if (ibv_post_srq_recv(pgd->srq, rw, &bad) != 0) {
		/* Those receives are lost to the SRQ: it serves on with fewer. */
		OSP_ERRLOG("%s: ibv_post_srq_recv failed: the shared receive queue shrinks\n",
			   pgd->dev->name);
	}
}

static void
srq_recv_repost(struct nvmf_rdma_pg_dev *pgd, struct nvmf_rdma_recv *rv, bool batch)
{
	rv->wr.next = NULL;
	if (pgd->srq_tail != NULL) {
		pgd->srq_tail->next = &rv->wr;
	} else {
		pgd->srq_head = &rv->wr;
	}
	pgd->srq_tail = &rv->wr;
	pgd->stat.total_recv_wrs++;
	if (!batch) {
		pgd_flush_srq(pgd);
	}
}

/* A receive is free again: back to its qpair's queue (unless it is dead) or to the SRQ. */
static void
recv_repost(struct nvmf_rdma_qpair *rq, struct nvmf_rdma_recv *rv)
{
	if (rv->rq == NULL) {
		srq_recv_repost(rv->pgd, rv, !rq->rt->no_wr_batching);
	} else if (!rq->dead) {
		queue_recv(rq, rv);
	}
}

/*
 * A chain the device refused from *bad on: those WRs never complete by
 * themselves, so they are completed here as flushed (the QP is broken).
 */
static void
fail_unposted(struct nvmf_rdma_qpair *rq, uint64_t *ids, uint32_t n)
{
	struct ibv_wc wc;
	uint32_t i;

	for (i = 0; i < n; i++) {
		memset(&wc, 0, sizeof(wc));
		wc.wr_id = ids[i];
		wc.status = IBV_WC_WR_FLUSH_ERR;
		wc.qp_num = rq->qp != NULL ? rq->qp->qp_num : 0;
		wc_process(rq->pg, &wc);
	}
}

static void
qpair_flush(struct nvmf_rdma_qpair *rq)
{
	struct ibv_send_wr *sw = rq->send_head, *sbad = NULL;
	struct ibv_recv_wr *rw = rq->recv_head, *rbad = NULL;
	uint64_t ids[NVMF_RDMA_MAX_WRS * 2];
	uint32_t n = 0;
	int rc;

	rq->send_head = rq->send_tail = NULL;
	rq->recv_head = rq->recv_tail = NULL;
	if (rw != NULL) {
		rc = rq->qp != NULL ? ibv_post_recv(rq->qp, rw, &rbad) : -ENOTCONN;
		rq->pgd->stat.recv_doorbell_updates++;
		if (rc != 0) {
			if (rbad == NULL) {
				rbad = rw;
			}
			OSP_DEBUGLOG(nvmf_rdma, "%s: ibv_post_recv failed (%d)\n", rq->peer, rc);
			for (; rbad != NULL; rbad = rbad->next) {
				if (n == OSP_COUNTOF(ids)) {
					fail_unposted(rq, ids, n);
					n = 0;
				}
				ids[n++] = rbad->wr_id;
			}
		}
	}
	if (sw != NULL) {
		rc = rq->qp != NULL ? ibv_post_send(rq->qp, sw, &sbad) : -ENOTCONN;
		rq->pgd->stat.send_doorbell_updates++;
		if (rc != 0) {
			if (sbad == NULL) {
				sbad = sw;
			}
			OSP_DEBUGLOG(nvmf_rdma, "%s: ibv_post_send failed (%d)\n", rq->peer, rc);
			for (; sbad != NULL; sbad = sbad->next) {
				if (n == OSP_COUNTOF(ids)) {
					fail_unposted(rq, ids, n);
					n = 0;
				}
				ids[n++] = sbad->wr_id;
			}
		}
	}
	if (n > 0) {
		fail_unposted(rq, ids, n);
	}
}

/* ---------------------------------------------------------------- qpair state */

static void qpair_check_drained(struct nvmf_rdma_qpair *rq);
static void buffers_arrived(struct osp_iobuf_entry *entry, void **bufs);

static void
qpair_pending_add(struct nvmf_rdma_qpair *rq, struct nvmf_rdma_req *rr)
{
	TAILQ_INSERT_TAIL(&rq->pending_reqs, rr, link);
	if (!rq->in_pending_list && rq->pg != NULL) {
		TAILQ_INSERT_TAIL(&rq->pg->pending, rq, pending_link);
		rq->in_pending_list = true;
	}
}

static void
req_put_bufs(struct nvmf_rdma_req *rr)
{
	struct nvmf_rdma_qpair *rq = rr->rq;

	while (rr->nbufs > 0) {
		rr->nbufs--;
		if (rq->pg != NULL) {
			osp_iobuf_put(&rq->pg->iobuf, rr->bufs[rr->nbufs]);
		} else {
			osp_iobuf_pool_put(rq->rt->buf_pool, rr->bufs[rr->nbufs]);
		}
	}
}

/* Back to the free list (and its receive back to the device) once nothing is outstanding. */
static void
req_try_release(struct nvmf_rdma_req *rr)
{
	struct nvmf_rdma_qpair *rq = rr->rq;

	if ((rr->state != RR_DONE && rr->state != RR_SENDING) || rr->data_wrs_out > 0 ||
	    rr->rsp_out) {
		return;
	}
	req_put_bufs(rr);
	if (rr->recv != NULL) {
		recv_repost(rq, rr->recv);
		rr->recv = NULL;
	}
	rr->state = RR_FREE;
	TAILQ_INSERT_TAIL(&rq->free_reqs, rr, link);
	qpair_check_drained(rq);
}

/* Requests the core does not hold and that have nothing outstanding: dropped. */
static void
qpair_drop_unheld(struct nvmf_rdma_qpair *rq)
{
	struct nvmf_rdma_req *rr;
	uint32_t i;

	while ((rr = TAILQ_FIRST(&rq->pending_reqs)) != NULL) {
		TAILQ_REMOVE(&rq->pending_reqs, rr, link);
		rr->state = RR_DONE;
		req_try_release(rr);
	}
	if (rq->in_pending_list) {
		TAILQ_REMOVE(&rq->pg->pending, rq, pending_link);
		rq->in_pending_list = false;
	}
	for (i = 0; i < rq->depth; i++) {
		rr = &rq->reqs[i];
		if (rr->state == RR_NEED_BUF) {
			osp_iobuf_entry_abort(&rq->pg->iobuf, &rr->buf_entry);
			rr->state = RR_DONE;
			req_try_release(rr);
		}
	}
}

/*
 * The connection is over (a completion error, the host disconnected, or the
 * core disconnects it): stop receiving, move the QP to the error state so
 * that everything posted completes (flushed), and tell the core.
 */
static void
qpair_fail(struct nvmf_rdma_qpair *rq)
{
	if (rq->dead) {
		return;
	}
	rq->dead = true;
	if (rq->accepted && !rq->cm_disconnected) {
		rq->cm_disconnected = true;
		/* Moves the QP to the error state and sends a DREQ to the host. */
		if (rdma_disconnect(rq->cm_id) != 0 && rq->qp != NULL) {
			struct ibv_qp_attr attr = { .qp_state = IBV_QPS_ERR };

			ibv_modify_qp(rq->qp, &attr, IBV_QP_STATE);
		}
	}
	if (rq->pg != NULL) {
		qpair_drop_unheld(rq);
	}
	if (rq->pg != NULL && !rq->qpair.disconnecting) {
		osp_nvmf_qpair_disconnect(&rq->qpair);
	}
	qpair_check_drained(rq);
}

/* ---------------------------------------------------------------- requests */

/*
 * Build the data WRs of rr: its buffers against the host's keyed data
 * blocks. A WR covers part of one remote block with up to max_sge local
 * pieces (SGEs taken in order from data_sge, so a WR's are contiguous);
 * pieces that touch in memory (and region) are merged.
 */
static int
req_build_data_wrs(struct nvmf_rdma_req *rr, enum ibv_wr_opcode op, uint32_t total)
{
	struct nvmf_rdma_qpair *rq = rr->rq;
	uint32_t unit = rq->rt->opts.io_unit_size;
	uint32_t d, doff, boff = 0, b = 0, left = total, nsge = 0;
	struct ibv_send_wr *wr;

	rr->nwr = 0;
	rr->next_wr = 0;
	for (d = 0; d < rr->nremote && left > 0; d++) {
		uint32_t dlen = OSP_MIN(rr->remote[d].len, left);

		wr = NULL;
		for (doff = 0; doff < dlen;) {
			uint32_t c, lkey;
			struct ibv_sge *last;
			void *p;

			if (b >= rr->nbufs) {
				return -EINVAL;
			}
			c = OSP_MIN(unit - boff, dlen - doff);
			p = (uint8_t *)rr->bufs[b] + boff;
			if (buf_lkey(rq, p, c, &lkey) != 0) {
				OSP_ERRLOG("%s: data buffer %p is not registered\n", rq->peer, p);
				return -EFAULT;
			}
			last = wr != NULL ? &wr->sg_list[wr->num_sge - 1] : NULL;
			if (last != NULL && last->addr + last->length == (uintptr_t)p && last->lkey == lkey) {
				last->length += c;
			} else {
				if (wr == NULL || (uint32_t)wr->num_sge == rq->max_sge) {
					if (rr->nwr >= NVMF_RDMA_MAX_WRS || nsge >= NVMF_RDMA_MAX_WRS) {
						return -EINVAL;
					}
					wr = &rr->data_wr[rr->nwr++];
					memset(wr, 0, sizeof(*wr));
					wr->wr_id = (uintptr_t)&rr->data_type;
					wr->opcode = op;
					wr->send_flags = IBV_SEND_SIGNALED;
					wr->sg_list = &rr->data_sge[nsge];
					wr->wr.rdma.remote_addr = rr->remote[d].addr + doff;
					wr->wr.rdma.rkey = rr->remote[d].key;
				}
				if (nsge >= NVMF_RDMA_MAX_WRS) {
					return -EINVAL;
				}
				rr->data_sge[nsge].addr = (uintptr_t)p;
				rr->data_sge[nsge].length = c;
				rr->data_sge[nsge].lkey = lkey;
				nsge++;
				wr->num_sge++;
			}
			doff += c;
			boff += c;
			if (boff == unit) {
				b++;
				boff = 0;
			}
		}
		left -= dlen;
	}
	return left == 0 ? 0 : -EINVAL;
}

static void
req_exec(struct nvmf_rdma_req *rr)
{
	if (rr->rq->dead) {
		rr->state = RR_DONE;
		req_try_release(rr);
		return;
	}
	rr->state = RR_EXEC;
	osp_nvmf_request_exec(&rr->req);
}

/* Send the response (after any WRITEs), as credits allow. */
static void qpair_pump(struct nvmf_rdma_qpair *rq);

static void
req_respond(struct nvmf_rdma_req *rr)
{
	rr->state = RR_PENDING_SEND;
	qpair_pending_add(rr->rq, rr);
	qpair_pump(rr->rq);
}

/* Answer a command ourselves (bad SGL, no buffer registration) without the core. */
static void
req_fail(struct nvmf_rdma_req *rr, uint8_t sct, uint8_t sc, bool dnr)
{
	memset(&rr->req.rsp, 0, sizeof(rr->req.rsp));
	osp_nvme_cpl_set_status(&rr->req.rsp, sct, sc, dnr);
	rr->req.rsp.cid = rr->req.cmd.cid;
	rr->req.rsp.sqid = rr->rq->qpair.qid;
	rr->nwr = 0;
	rr->next_wr = 0;
	req_respond(rr);
}

static void
buffers_ready(struct nvmf_rdma_req *rr)
{
	struct osp_nvmf_request *req = &rr->req;
	uint32_t unit = rr->rq->rt->opts.io_unit_size, off = 0, i;
	int rc;

	for (i = 0; i < rr->nbufs; i++) {
		req->iov[i].iov_base = rr->bufs[i];
		req->iov[i].iov_len = OSP_MIN(unit, req->length - off);
		off += (uint32_t)req->iov[i].iov_len;
	}
	req->iovcnt = rr->nbufs;
	if (req->xfer == OSP_NVMF_XFER_HOST_TO_CONTROLLER) {
		rc = req_build_data_wrs(rr, IBV_WR_RDMA_READ, req->length);
		if (rc != 0) {
			req_fail(rr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR, false);
			return;
		}
		rr->state = RR_PENDING_READ;
		qpair_pending_add(rr->rq, rr);
		qpair_pump(rr->rq);
	} else {
		req_exec(rr);
	}
}

static void
buffers_arrived(struct osp_iobuf_entry *entry, void **bufs)
{
	struct nvmf_rdma_req *rr = OSP_CONTAINEROF(entry, struct nvmf_rdma_req, buf_entry);

	(void)bufs;
	rr->nbufs = entry->count;
	buffers_ready(rr);
}

/* Data direction from the opcode (Base: opcode bits 1:0; Fabrics: FCTYPE bits 1:0). */
static uint8_t
cmd_dir(const struct osp_nvme_cmd *cmd)
{
	if (cmd->opc == OSP_NVMF_FABRIC_OPCODE) {
		return ((const struct osp_nvmf_capsule_cmd *)cmd)->fctype & 0x3;
	}
	return cmd->opc & 0x3;
}

static bool
keyed_subtype_ok(uint8_t subtype)
{
	return subtype == OSP_NVME_SGL_SUBTYPE_ADDRESS || subtype == OSP_NVME_SGL_SUBTYPE_INVALIDATE_KEY;
}

/*
 * A keyed SGL data block into rr->remote (RDMA §: Keyed SGL Data Block with
 * the Address or Invalidate Key subtype). Returns an NVMe status code (0 ok).
 */
static uint8_t
req_add_remote(struct nvmf_rdma_req *rr, const struct osp_nvme_sgl_descriptor *sgl)
{
	struct nvmf_rdma_remote *r;

	if (sgl->keyed.type != OSP_NVME_SGL_TYPE_KEYED_DATA_BLOCK ||
	    !keyed_subtype_ok(sgl->keyed.subtype)) {
		return OSP_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID;
	}
	if (rr->nremote >= NVMF_RDMA_MAX_SGL_DESC) {
		return OSP_NVME_SC_INVALID_NUM_SGL_DESCRIPTORS;
	}
	r = &rr->remote[rr->nremote++];
	r->addr = le64toh(sgl->address);
	r->key = (uint32_t)sgl->keyed.key;
	r->len = (uint32_t)sgl->keyed.length;
	if (sgl->keyed.subtype == OSP_NVME_SGL_SUBTYPE_INVALIDATE_KEY) {
		if (rr->invalidate && rr->inv_rkey != r->key) {
			/* One key can be invalidated by the SEND: the host invalidates the rest. */
			return 0;
		}
		rr->invalidate = true;
		rr->inv_rkey = r->key;
	}
	return 0;
}

/* A command capsule arrived in rv (len bytes): check it and start it. */
static void
capsule_start(struct nvmf_rdma_qpair *rq, struct nvmf_rdma_recv *rv, uint32_t len)
{
	struct nvmf_rdma_req *rr = TAILQ_FIRST(&rq->free_reqs);
	const struct osp_nvme_cmd *cmd = (const struct osp_nvme_cmd *)rv->buf;
	struct osp_nvme_sgl_descriptor sgl;
	uint32_t icd_len, total = 0, i, n;
	uint8_t dir, sc;
	uint64_t off;

	if (len < CAPSULE_CMD_SIZE || rr == NULL) {
		/* A capsule shorter than a command, or more capsules than the host may have out. */
		OSP_ERRLOG("%s: %s: disconnecting\n", rq->peer,
			   rr == NULL ? "more commands than the queue holds" : "short command capsule");
		recv_repost(rq, rv);
		qpair_fail(rq);
		return;
	}
	TAILQ_REMOVE(&rq->free_reqs, rr, link);
	rq->pgd->stat.requests++;
	rr->recv = rv;
	rr->req.cmd = *cmd;
	memset(&rr->req.rsp, 0, sizeof(rr->req.rsp));
	rr->req.rsp.cid = cmd->cid;
	rr->req.length = 0;
	rr->req.iovcnt = 0;
	rr->req.xfer = OSP_NVMF_XFER_NONE;
	rr->nremote = 0;
	rr->invalidate = false;
	rr->nwr = 0;
	rr->next_wr = 0;
	rr->data_error = false;
	icd_len = len - CAPSULE_CMD_SIZE;

	if (cmd->opc == OSP_NVMF_FABRIC_OPCODE &&
	    ((const struct osp_nvmf_capsule_cmd *)cmd)->fctype == OSP_NVMF_FCTYPE_CONNECT) {
		const struct osp_nvmf_connect_cmd *cc = (const struct osp_nvmf_connect_cmd *)cmd;

		/* RDMA: the Connect must name the queue and size of the RDMA_CM_REQUEST. */
		if (le16toh(cc->qid) != rq->host_qid || le16toh(cc->sqsize) != rq->hsqsize) {
			OSP_ERRLOG("%s: Connect qid %u sqsize %u, RDMA_CM_REQUEST said qid %u "
				   "hsqsize %u\n", rq->peer, le16toh(cc->qid), le16toh(cc->sqsize),
				   rq->host_qid, rq->hsqsize);
			req_fail(rr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD, true);
			return;
		}
	}
	dir = cmd_dir(cmd);
	if (dir == 0) {
		req_exec(rr);
		return;
	}
	/* Fabrics carry data by SGLs only: a data command with PSDT 00b (PRPs) is
	 * refused (commands without data, and Fabrics commands, whose byte 1 is
	 * reserved, are not checked: harmless). */
	if (dir == 3 || (cmd->psdt == OSP_NVME_PSDT_PRP && cmd->opc != OSP_NVMF_FABRIC_OPCODE)) {
		req_fail(rr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD, true);
		return;
	}
	rr->req.xfer = dir == 1 ? OSP_NVMF_XFER_HOST_TO_CONTROLLER : OSP_NVMF_XFER_CONTROLLER_TO_HOST;
	memcpy(&sgl, &cmd->prp1, sizeof(sgl));

	if (sgl.generic.type == OSP_NVME_SGL_TYPE_DATA_BLOCK &&
	    sgl.generic.subtype == OSP_NVME_SGL_SUBTYPE_OFFSET) {
		/* In-capsule data (host to controller only). */
		off = le64toh(sgl.address);
		n = le32toh(sgl.unkeyed.length);
		if (rr->req.xfer != OSP_NVMF_XFER_HOST_TO_CONTROLLER) {
			req_fail(rr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID, true);
			return;
		}
		if (off > icd_len) {
			req_fail(rr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_SGL_OFFSET, true);
			return;
		}
		if (n > icd_len - off) {
			req_fail(rr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_DATA_SGL_LENGTH_INVALID, true);
			return;
		}
		rr->req.length = n;
		if (n == 0) {
			rr->req.xfer = OSP_NVMF_XFER_NONE;
		} else {
			rr->req.iov[0].iov_base = rv->buf + CAPSULE_CMD_SIZE + off;
			rr->req.iov[0].iov_len = n;
			rr->req.iovcnt = 1;
		}
		req_exec(rr);
		return;
	}
	if (sgl.generic.type == OSP_NVME_SGL_TYPE_LAST_SEGMENT &&
	    sgl.generic.subtype == OSP_NVME_SGL_SUBTYPE_OFFSET) {
		/* A list of keyed data blocks in the capsule (several SGL descriptors). */
		const struct osp_nvme_sgl_descriptor *list;

		off = le64toh(sgl.address);
		n = le32toh(sgl.unkeyed.length);
		if (n == 0 || n % sizeof(sgl) != 0 || n / sizeof(sgl) > NVMF_RDMA_MAX_SGL_DESC) {
			req_fail(rr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_NUM_SGL_DESCRIPTORS, true);
			return;
		}
		if (off > icd_len || n > icd_len - off) {
			req_fail(rr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_SGL_SEG_DESCRIPTOR, true);
			return;
		}
		list = (const struct osp_nvme_sgl_descriptor *)(rv->buf + CAPSULE_CMD_SIZE + off);
		for (i = 0; i < n / sizeof(sgl); i++) {
			struct osp_nvme_sgl_descriptor d;

			memcpy(&d, &list[i], sizeof(d));
			sc = req_add_remote(rr, &d);
			if (sc != 0) {
				req_fail(rr, OSP_NVME_SCT_GENERIC, sc, true);
				return;
			}
		}
	} else {
		sc = req_add_remote(rr, &sgl);
		if (sc != 0) {
			req_fail(rr, OSP_NVME_SCT_GENERIC, sc, true);
			return;
		}
	}
	for (i = 0; i < rr->nremote; i++) {
		total += rr->remote[i].len;
		if (total > rq->rt->opts.max_io_size) {
			req_fail(rr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_DATA_SGL_LENGTH_INVALID, true);
			return;
		}
	}
	rr->req.length = total;
	if (total == 0) {
		rr->req.xfer = OSP_NVMF_XFER_NONE;
		req_exec(rr);
		return;
	}
	/* First come, first served (the iobuf channel's queue): nobody overtakes a waiter. */
	n = DIV_ROUND_UP(total, rq->rt->opts.io_unit_size);
	switch (osp_iobuf_get_bulk(&rq->pg->iobuf, rr->bufs, n, &rr->buf_entry, buffers_arrived)) {
	case 0:
		rr->nbufs = n;
		buffers_ready(rr);
		return;
	case -EAGAIN:
		rr->state = RR_NEED_BUF;
		rq->pg->stat.pending_data_buffer++;
		return;
	default:
		req_fail(rr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR, false);
		return;
	}
}

/*
 * Post what the credits allow, oldest request first (a request that cannot
 * go on blocks the ones behind it, so data and responses keep their order).
 */
static void
qpair_pump(struct nvmf_rdma_qpair *rq)
{
	struct nvmf_rdma_req *rr;

	while ((rr = TAILQ_FIRST(&rq->pending_reqs)) != NULL) {
		if (rq->dead) {
			qpair_drop_unheld(rq);
			return;
		}
		if (rr->state == RR_PENDING_READ) {
			while (rr->next_wr < rr->nwr && rq->sq_free > 0 && rq->rd_free > 0) {
				rq->sq_free--;
				rq->rd_free--;
				rr->data_wrs_out++;
				queue_send(rq, &rr->data_wr[rr->next_wr++]);
			}
			if (rq->dead) {
				/* A refused post (no_wr_batching) failed the qpair: rr is dropped. */
				qpair_drop_unheld(rq);
				return;
			}
			if (rr->next_wr < rr->nwr) {
				rq->pgd->stat.pending_rdma_read++;
				break;
			}
			TAILQ_REMOVE(&rq->pending_reqs, rr, link);
			rr->state = RR_READING;
			continue;
		}
		/* RR_PENDING_SEND: the WRITEs, then the response behind them on the same queue. */
		while (rr->next_wr < rr->nwr && rq->sq_free > 0) {
			rq->sq_free--;
			rr->data_wrs_out++;
			queue_send(rq, &rr->data_wr[rr->next_wr++]);
		}
		if (rq->dead) {
			qpair_drop_unheld(rq);
			return;
		}
		if (rr->next_wr < rr->nwr || rq->sq_free == 0) {
			rq->pgd->stat.pending_rdma_write++;
			break;
		}
		TAILQ_REMOVE(&rq->pending_reqs, rr, link);
		*rr->rsp_buf = rr->req.rsp;
		memset(&rr->rsp_wr, 0, sizeof(rr->rsp_wr));
		rr->rsp_wr.wr_id = (uintptr_t)&rr->rsp_type;
		rr->rsp_wr.sg_list = &rr->rsp_sge;
		rr->rsp_wr.num_sge = 1;
		rr->rsp_wr.send_flags = IBV_SEND_SIGNALED;
		if (rr->invalidate &&
		    (rq->dev->attr.device_cap_flags & IBV_DEVICE_MEM_MGT_EXTENSIONS)) {
			rr->rsp_wr.opcode = IBV_WR_SEND_WITH_INV;
			rr->rsp_wr.invalidate_rkey = rr->inv_rkey;
		} else {
			rr->rsp_wr.opcode = IBV_WR_SEND;
		}
		rq->sq_free--;
		rr->rsp_out = true;
		rr->state = RR_SENDING;
		queue_send(rq, &rr->rsp_wr);
	}
	if (TAILQ_EMPTY(&rq->pending_reqs) && rq->in_pending_list) {
		TAILQ_REMOVE(&rq->pg->pending, rq, pending_link);
		rq->in_pending_list = false;
	}
}

static int
nvmf_rdma_req_complete(struct osp_nvmf_request *req)
{
	struct nvmf_rdma_req *rr = rdma_req(req);
	struct nvmf_rdma_qpair *rq = rr->rq;
	uint32_t len;

	if (rq->qpair.disconnecting && !rq->dead) {
		qpair_fail(rq);
	}
	if (rq->dead) {
		rr->state = RR_DONE;
		req_try_release(rr);
		return 0;
	}
	req->rsp.cid = req->cmd.cid;
	rr->nwr = 0;
	rr->next_wr = 0;
	if (!osp_nvme_cpl_is_error(&req->rsp) && req->xfer == OSP_NVMF_XFER_CONTROLLER_TO_HOST &&
	    req->length > 0 && rr->nbufs > 0) {
		len = (uint32_t)OSP_MIN((uint64_t)req->length,
					(uint64_t)rr->nbufs * rq->rt->opts.io_unit_size);
		if (req_build_data_wrs(rr, IBV_WR_RDMA_WRITE, len) != 0) {
			memset(&req->rsp, 0, sizeof(req->rsp));
			req->rsp.cid = req->cmd.cid;
			req->rsp.sqid = rq->qpair.qid;
			osp_nvme_cpl_set_status(&req->rsp, OSP_NVME_SCT_GENERIC,
						OSP_NVME_SC_INTERNAL_DEVICE_ERROR, false);
			rr->nwr = 0;
		}
	}
	req_respond(rr);
	return 0;
}

static int
nvmf_rdma_req_free(struct osp_nvmf_request *req)
{
	struct nvmf_rdma_req *rr = rdma_req(req);

	rr->state = RR_DONE;
	req_try_release(rr);
	return 0;
}

/* ---------------------------------------------------------------- completions */

static const char *
wc_status_str(enum ibv_wc_status s)
{
	return ibv_wc_status_str(s);
}

static void
wc_error(struct nvmf_rdma_qpair *rq, const struct ibv_wc *wc, const char *what)
{
	rq->pgd->stat.wc_errors++;
	if (wc->status == IBV_WC_WR_FLUSH_ERR || rq->dead) {
		/* The QP is in the error state: everything posted comes back this way. */
		OSP_DEBUGLOG(nvmf_rdma, "%s: %s flushed\n", rq->peer, what);
	} else {
		OSP_ERRLOG("%s qid %u: %s failed: %s (%d, vendor error 0x%x): disconnecting\n",
			   rq->peer, rq->host_qid, what, wc_status_str(wc->status), wc->status,
			   wc->vendor_err);
	}
	qpair_fail(rq);
}

static void
wc_process(struct nvmf_rdma_poll_group *pg, const struct ibv_wc *wc)
{
	uint8_t *type = (uint8_t *)(uintptr_t)wc->wr_id;
	struct nvmf_rdma_recv *rv;
	struct nvmf_rdma_req *rr;
	struct nvmf_rdma_qpair *rq;

	switch (*type) {
	case NVMF_RDMA_WR_RECV:
		rv = OSP_CONTAINEROF(type, struct nvmf_rdma_recv, wr_type);
		if (rv->rq == NULL) {
			/* The SRQ's: whose capsule it is, by QP number. */
			TAILQ_FOREACH(rq, &pg->qpairs, link) {
				if (rq->qp != NULL && rq->qp->qp_num == wc->qp_num && rq->pgd == rv->pgd) {
					break;
				}
			}
			if (rq == NULL || rq->dead || wc->status != IBV_WC_SUCCESS) {
				if (rq != NULL && wc->status != IBV_WC_SUCCESS) {
					wc_error(rq, wc, "receive");
				}
				/* A late capsule of a qpair being torn down: the buffer serves on. */
				srq_recv_repost(rv->pgd, rv, true);
				return;
			}
			capsule_start(rq, rv, wc->byte_len);
			return;
		}
		rq = rv->rq;
		rq->recv_out--;
		if (wc->status != IBV_WC_SUCCESS) {
			wc_error(rq, wc, "receive");
		} else if (!rq->dead) {
			capsule_start(rq, rv, wc->byte_len);
		}
		qpair_check_drained(rq);
		return;
	case NVMF_RDMA_WR_DATA:
		rr = OSP_CONTAINEROF(type, struct nvmf_rdma_req, data_type);
		rq = rr->rq;
		rq->send_out--;
		rq->sq_free++;
		rr->data_wrs_out--;
		if (rr->req.xfer == OSP_NVMF_XFER_HOST_TO_CONTROLLER) {
			rq->rd_free++;
		}
		if (wc->status != IBV_WC_SUCCESS) {
			rr->data_error = true;
			wc_error(rq, wc, rr->req.xfer == OSP_NVMF_XFER_HOST_TO_CONTROLLER ?
				 "RDMA READ" : "RDMA WRITE");
		}
		if (rr->state == RR_READING && rr->data_wrs_out == 0) {
			if (rr->data_error || rq->dead) {
				rr->state = RR_DONE;
				req_try_release(rr);
			} else {
				req_exec(rr);
			}
		} else {
			req_try_release(rr);
		}
		qpair_check_drained(rq);
		return;
	case NVMF_RDMA_WR_RSP:
		rr = OSP_CONTAINEROF(type, struct nvmf_rdma_req, rsp_type);
		rq = rr->rq;
		rq->send_out--;
		rq->sq_free++;
		rr->rsp_out = false;
		if (wc->status != IBV_WC_SUCCESS) {
			wc_error(rq, wc, "response SEND");
		}
		rr->state = RR_DONE;
		req_try_release(rr);
		qpair_check_drained(rq);
		return;
	default:
		OSP_ERRLOG("completion with an unknown work request id: ignored\n");
		return;
	}
}

/* ---------------------------------------------------------------- qpair life */

static void
qpair_free(struct nvmf_rdma_qpair *rq)
{
	uint32_t i;

	for (i = 0; rq->reqs != NULL && i < rq->depth; i++) {
		req_put_bufs(&rq->reqs[i]);
	}
	osp_dma_free(rq->recv_area);
	osp_dma_free(rq->rsp_area);
	free(rq->reqs);
	free(rq->recvs);
	free(rq);
}

/* On the transport's thread: the QP is gone; the rdma_cm id and the memory go now. */
static void
nvmf_rdma_retire(void *arg)
{
	struct nvmf_rdma_qpair *rq = arg;
	struct nvmf_rdma_transport *rt = rq->rt;

	TAILQ_REMOVE(&rt->retired, rq, link);
	if (rq->cm_msgs_out > 0) {
		/* A message about an rdma_cm event is on its way to the group: after its answer. */
		rq->retire_pending = true;
		return;
	}
	if (rq->cm_id != NULL) {
		rq->cm_id->context = NULL;
		rdma_destroy_id(rq->cm_id);
	}
	qpair_free(rq);
}

static void
retire_on_transport_thread(void *arg)
{
	struct nvmf_rdma_qpair *rq = arg;

	TAILQ_INSERT_TAIL(&rq->rt->retired, rq, link);
	nvmf_rdma_retire(rq);
}

/*
 * Once the core let go (qpair_fini) and nothing is outstanding on the QP:
 * destroy the QP here (the group's thread owns it), hand the rest to the
 * transport's thread.
 */
static void
qpair_check_drained(struct nvmf_rdma_qpair *rq)
{
	osp_nvmf_qpair_fini_cb cb;
	void *cb_arg;

	if (!rq->fini_requested || rq->drained || !rq->dead || rq->recv_out > 0 ||
	    rq->send_out > 0 || rq->send_head != NULL || rq->recv_head != NULL) {
		return;
	}
	rq->drained = true;
	if (rq->pg != NULL) {
		qpair_drop_unheld(rq);
		if (rq->in_flush_list) {
			TAILQ_REMOVE(&rq->pg->flush, rq, flush_link);
			rq->in_flush_list = false;
		}
		if (rq->in_group_list) {
			TAILQ_REMOVE(&rq->pg->qpairs, rq, link);
			rq->in_group_list = false;
			rq->pg->stat.current_qpairs--;
		}
		if (rq->pgd != NULL && rq->qp != NULL) {
			rq->pgd->cq_used -= (int)((rq->recvs != NULL ? rq->depth : 0) + rq->sq_size);
		}
	}
	if (rq->qp != NULL) {
		rdma_destroy_qp(rq->cm_id);
		rq->qp = NULL;
	}
	{
		uint32_t i;

		for (i = 0; rq->reqs != NULL && i < rq->depth; i++) {
			req_put_bufs(&rq->reqs[i]);
		}
	}
	cb = rq->fini_cb;
	cb_arg = rq->fini_arg;
	if (rq->rt->thread != NULL && rq->rt->thread != osp_get_thread()) {
		osp_thread_send_msg(rq->rt->thread, retire_on_transport_thread, rq);
	} else if (rq->rt->thread != NULL) {
		/* Never from inside a caller that still uses rq: a message to ourselves. */
		osp_thread_send_msg(rq->rt->thread, retire_on_transport_thread, rq);
	} else {
		retire_on_transport_thread(rq);
	}
	if (cb != NULL) {
		cb(cb_arg);
	}
}

static void
nvmf_rdma_qpair_fini(struct osp_nvmf_qpair *qpair, osp_nvmf_qpair_fini_cb cb_fn, void *cb_arg)
{
	struct nvmf_rdma_qpair *rq = rdma_qpair(qpair);

	rq->fini_cb = cb_fn;
	rq->fini_arg = cb_arg;
	rq->fini_requested = true;
	if (!rq->accepted && !rq->dead && rq->cm_id != NULL) {
		struct osp_nvmf_rdma_cm_reject rej = { .recfmt = 0, .sts = htole16(OSP_NVMF_RDMA_CM_NO_RSC) };

		rdma_reject(rq->cm_id, &rej, sizeof(rej));
	}
	if (!rq->dead) {
		rq->dead = true;
		if (rq->accepted && !rq->cm_disconnected) {
			rq->cm_disconnected = true;
			rdma_disconnect(rq->cm_id);
		}
		if (rq->pg != NULL) {
			qpair_drop_unheld(rq);
		}
	}
	qpair_check_drained(rq);
}

static void
nvmf_rdma_qpair_disconnect(struct osp_nvmf_qpair *qpair)
{
	qpair_fail(rdma_qpair(qpair));
}

static int
fill_addr(struct osp_nvmf_listen_addr *addr, const struct sockaddr *sa)
{
	char ip[INET6_ADDRSTRLEN] = "";
	uint16_t port;

	if (sa == NULL) {
		return -ENOTCONN;
	}
	memset(addr, 0, sizeof(*addr));
	addr->trtype = OSP_NVMF_TRTYPE_RDMA;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		port = ntohs(in->sin_port);
		addr->adrfam = OSP_NVMF_ADRFAM_IPV4;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
		addr->adrfam = OSP_NVMF_ADRFAM_IPV6;
	} else {
		return -EAFNOSUPPORT;
	}
	snprintf(addr->traddr, sizeof(addr->traddr), "%s", ip);
	snprintf(addr->trsvcid, sizeof(addr->trsvcid), "%u", port);
	return 0;
}

static int
nvmf_rdma_qpair_get_peer_addr(struct osp_nvmf_qpair *qpair, struct osp_nvmf_listen_addr *addr)
{
	struct nvmf_rdma_qpair *rq = rdma_qpair(qpair);

	return rq->cm_id == NULL ? -ENOTCONN : fill_addr(addr, rdma_get_peer_addr(rq->cm_id));
}

static int
nvmf_rdma_qpair_get_local_addr(struct osp_nvmf_qpair *qpair, struct osp_nvmf_listen_addr *addr)
{
	struct nvmf_rdma_qpair *rq = rdma_qpair(qpair);

	return rq->cm_id == NULL ? -ENOTCONN : fill_addr(addr, rdma_get_local_addr(rq->cm_id));
}

/* ---------------------------------------------------------------- connecting */

static void
cm_reject(struct nvmf_rdma_transport *rt, struct rdma_cm_id *id, uint16_t sts, const char *why)
{
	struct osp_nvmf_rdma_cm_reject rej = { .recfmt = 0, .sts = htole16(sts) };
	struct osp_nvmf_listen_addr peer = {};

	fill_addr(&peer, rdma_get_peer_addr(id));
	OSP_ERRLOG("NVMe/RDMA: refusing a connection from %s: %s (status %u)\n",
		   peer.traddr[0] ? peer.traddr : "?", why, sts);
	rt->rejects++;
	rdma_reject(id, &rej, sizeof(rej));
}

/*
 * RDMA_CM_CONNECT_REQUEST: check the private data (RDMA_CM_REQUEST) against
 * our limits. Returns 0 or a binding status code for RDMA_CM_REJECT.
 */
static uint16_t
connect_check(const struct nvmf_rdma_transport *rt, const void *pd, uint8_t pd_len,
	      uint32_t responder_resources, struct osp_nvmf_rdma_cm_req *out, const char **why)
{
	struct osp_nvmf_rdma_cm_req req;
	uint32_t max_depth;

	if (pd == NULL || pd_len < sizeof(req)) {
		*why = "private data shorter than RDMA_CM_REQUEST";
		return OSP_NVMF_RDMA_CM_INVALID_LEN;
	}
	memcpy(&req, pd, sizeof(req));
	req.recfmt = le16toh(req.recfmt);
	req.qid = le16toh(req.qid);
	req.hrqsize = le16toh(req.hrqsize);
	req.hsqsize = le16toh(req.hsqsize);
	req.cntlid = le16toh(req.cntlid);
	if (req.recfmt != 0) {
		*why = "unknown record format";
		return OSP_NVMF_RDMA_CM_INVALID_RECFMT;
	}
	if (req.qid >= rt->opts.max_qpairs_per_ctrlr) {
		*why = "queue id above max_io_qpairs_per_ctrlr";
		return OSP_NVMF_RDMA_CM_INVALID_QID;
	}
	max_depth = req.qid == 0 ? rt->opts.max_aq_depth : rt->opts.max_queue_depth;
	if (req.hsqsize == 0 || (uint32_t)req.hsqsize + 1 > max_depth) {
		/* hsqsize is 0's based: a queue of hsqsize + 1 entries, at least 2. */
		*why = req.qid == 0 ? "hsqsize above max_aq_depth" : "hsqsize above max_queue_depth";
		return OSP_NVMF_RDMA_CM_INVALID_HSQSIZE;
	}
	if (req.hrqsize == 0 || req.hrqsize > max_depth) {
		*why = "hrqsize 0 or above the queue depth";
		return OSP_NVMF_RDMA_CM_INVALID_HRQSIZE;
	}
	if (responder_resources == 0) {
		/* The host lets us read nothing: no command with data could work. */
		*why = "no RDMA READ resources (IRD 0)";
		return OSP_NVMF_RDMA_CM_INVALID_IRD;
	}
	*out = req;
	return 0;
}

/* Returns true when the request was rejected (the id is ours to destroy after the ack). */
static bool
connect_request(struct nvmf_rdma_transport *rt, struct rdma_cm_event *ev,
		osp_nvmf_new_qpair_fn new_qpair, void *cb_arg)
{
	const struct rdma_conn_param *cp = &ev->param.conn;
	struct nvmf_rdma_device *dev = device_find(rt, ev->id->verbs);
	struct osp_nvmf_rdma_cm_req req;
	struct nvmf_rdma_qpair *rq;
	const char *why = NULL;
	uint16_t sts;

	/*
	 * The event reports the host's side seen from here: its responder
	 * resources (RDMA READs it serves for us) arrive as initiator_depth.
	 */
	sts = connect_check(rt, cp->private_data, cp->private_data_len, cp->initiator_depth,
			    &req, &why);
	if (sts != 0) {
		cm_reject(rt, ev->id, sts, why);
		return true;
	}
	if (dev == NULL) {
		cm_reject(rt, ev->id, OSP_NVMF_RDMA_CM_NO_RSC, "on a device the transport did not open");
		return true;
	}
	rq = calloc(1, sizeof(*rq));
	if (rq == NULL) {
		cm_reject(rt, ev->id, OSP_NVMF_RDMA_CM_NO_RSC, "out of memory");
		return true;
	}
	rq->rt = rt;
	rq->dev = dev;
	rq->cm_id = ev->id;
	rq->host_qid = req.qid;
	rq->hsqsize = req.hsqsize;
	rq->hrqsize = req.hrqsize;
	rq->host_ird = cp->initiator_depth;
	rq->depth = (uint32_t)req.hsqsize + 1;
	rq->qpair.transport = &rt->transport;
	rq->qpair.qid = req.qid;
	rq->qpair.sq_size = rq->depth;
	TAILQ_INIT(&rq->free_reqs);
	TAILQ_INIT(&rq->pending_reqs);
	{
		struct osp_nvmf_listen_addr peer = {};

		fill_addr(&peer, rdma_get_peer_addr(ev->id));
		snprintf(rq->peer, sizeof(rq->peer), "%.46s:%.8s", peer.traddr, peer.trsvcid);
	}
	ev->id->context = rq;
	new_qpair(&rq->qpair, cb_arg);
	return false;
}

/* Back on the transport's thread: the group handled an rdma_cm event message. */
static void
cm_msg_done(void *arg)
{
	struct nvmf_rdma_qpair *rq = arg;

	rq->cm_msgs_out--;
	if (rq->cm_msgs_out == 0 && rq->retire_pending) {
		rq->retire_pending = false;
		TAILQ_INSERT_TAIL(&rq->rt->retired, rq, link);
		nvmf_rdma_retire(rq);
	}
}

/*
 * On the group's thread: the host disconnected (or the device went away).
 * The qpair's memory lives until cm_msg_done() ran on the transport's thread.
 */
static void
cm_msg_disconnect(void *arg)
{
	struct nvmf_rdma_qpair *rq = arg;

	if (!rq->drained && !rq->dead) {
		qpair_fail(rq);
	}
	if (rq->rt->thread != NULL) {
		osp_thread_send_msg(rq->rt->thread, cm_msg_done, rq);
	} else {
		cm_msg_done(rq);
	}
}

/*
 * rdma_cm events for a connection. DISCONNECTED / DEVICE_REMOVAL: the host
 * (or device) is gone; the QP need not be in the error state (the host
 * destroyed its own), so the group is told to tear the qpair down now rather
 * than at the keep alive timeout.
 */
static void
cm_conn_event(struct nvmf_rdma_transport *rt, struct rdma_cm_event *ev)
{
	struct nvmf_rdma_qpair *rq = ev->id->context;

	if (rq != NULL && rq->pg != NULL && rq->pg->thread != NULL &&
	    (ev->event == RDMA_CM_EVENT_DISCONNECTED || ev->event == RDMA_CM_EVENT_DEVICE_REMOVAL)) {
		if (osp_thread_send_msg(rq->pg->thread, cm_msg_disconnect, rq) == 0) {
			rq->cm_msgs_out++;
		}
	}

	switch (ev->event) {
	case RDMA_CM_EVENT_ESTABLISHED:
		OSP_DEBUGLOG(nvmf_rdma, "%s: established\n", rq ? rq->peer : "?");
		break;
	case RDMA_CM_EVENT_DISCONNECTED:
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_REJECTED:
		OSP_NOTICELOG("NVMe/RDMA: %s qid %u: %s\n", rq ? rq->peer : "?",
			      rq ? rq->host_qid : 0, rdma_event_str(ev->event));
		break;
	default:
		break;
	}
}

static uint32_t
nvmf_rdma_accept(struct osp_nvmf_transport *t, osp_nvmf_new_qpair_fn new_qpair, void *cb_arg)
{
	struct nvmf_rdma_transport *rt = rdma_transport(t);
	struct rdma_cm_event *ev;
	uint32_t count = 0;

	while (rdma_get_cm_event(rt->event_channel, &ev) == 0) {
		if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST) {
			struct rdma_cm_id *id = ev->id;

			count++;
			if (connect_request(rt, ev, new_qpair, cb_arg)) {
				/* rdma_destroy_id waits for the event's ack: ack first. */
				rdma_ack_cm_event(ev);
				rdma_destroy_id(id);
				continue;
			}
		} else {
			struct nvmf_rdma_listener *l;
			bool is_listener = false;

			TAILQ_FOREACH(l, &rt->listeners, link) {
				is_listener = is_listener || l->id == ev->id;
			}
			if (is_listener) {
				/* DEVICE_REMOVAL of a listener's device: it accepts nothing more. */
				OSP_ERRLOG("NVMe/RDMA: listener event %s\n", rdma_event_str(ev->event));
			} else {
				cm_conn_event(rt, ev);
			}
			count++;
		}
		rdma_ack_cm_event(ev);
	}
	return count;
}

/* ---------------------------------------------------------------- poll groups */

static void
pgd_free(struct nvmf_rdma_pg_dev *pgd)
{
	if (pgd->wake_fd_added) {
		osp_thread_remove_wake_fd(pgd->channel->fd);
	}
	if (pgd->cq != NULL) {
		if (pgd->armed) {
			struct ibv_cq *ev_cq;
			void *ev_ctx;

			if (ibv_get_cq_event(pgd->channel, &ev_cq, &ev_ctx) == 0) {
				ibv_ack_cq_events(ev_cq, 1);
			}
		}
		ibv_destroy_cq(pgd->cq);
	}
	if (pgd->srq != NULL) {
		ibv_destroy_srq(pgd->srq);
	}
	osp_dma_free(pgd->srq_area);
	free(pgd->srq_recvs);
	if (pgd->channel != NULL) {
		ibv_destroy_comp_channel(pgd->channel);
	}
	free(pgd);
}

/* The group's shared receive queue on a device, every receive posted. */
static int
pgd_srq_create(struct nvmf_rdma_transport *rt, struct nvmf_rdma_pg_dev *pgd)
{
	struct nvmf_rdma_device *d = pgd->dev;
	struct ibv_srq_init_attr sa = {};
	uint32_t slot = CAPSULE_CMD_SIZE + rt->opts.in_capsule_data_size, i, lkey;

	pgd->srq_depth = OSP_MIN(rt->max_srq_depth, (uint32_t)d->attr.max_srq_wr);
	sa.attr.max_wr = pgd->srq_depth;
	sa.attr.max_sge = 1;
	pgd->srq = ibv_create_srq(d->pd, &sa);
	if (pgd->srq == NULL) {
		OSP_ERRLOG("%s: ibv_create_srq(%u) failed: %s (no_srq avoids it)\n", d->name,
			   pgd->srq_depth, strerror(errno));
		return -ENOMEM;
	}
	pgd->srq_recvs = calloc(pgd->srq_depth, sizeof(*pgd->srq_recvs));
	pgd->srq_area = osp_dma_zmalloc((size_t)pgd->srq_depth * slot, 0, NULL);
	if (pgd->srq_recvs == NULL || pgd->srq_area == NULL ||
	    osp_rdma_mem_translate(d->map, pgd->srq_area, (size_t)pgd->srq_depth * slot, &lkey,
				   NULL) != 0) {
		OSP_ERRLOG("%s: no registered memory for %u shared receives\n", d->name,
			   pgd->srq_depth);
		return -ENOMEM;
	}
	if (pgd->cq_size < (int)pgd->srq_depth * 2) {
		int want = (int)OSP_MIN((uint32_t)d->attr.max_cqe, pgd->srq_depth * 2);

		if (want > pgd->cq_size && ibv_resize_cq(pgd->cq, want) == 0) {
			pgd->cq_size = pgd->cq->cqe;
		}
	}
	pgd->cq_used += (int)pgd->srq_depth;
	for (i = 0; i < pgd->srq_depth; i++) {
		struct nvmf_rdma_recv *rv = &pgd->srq_recvs[i];

		rv->wr_type = NVMF_RDMA_WR_RECV;
		rv->rq = NULL;
		rv->pgd = pgd;
		rv->buf = pgd->srq_area + (size_t)i * slot;
		rv->sge.addr = (uintptr_t)rv->buf;
		rv->sge.length = slot;
		rv->sge.lkey = lkey;
		rv->wr.wr_id = (uintptr_t)&rv->wr_type;
		rv->wr.sg_list = &rv->sge;
		rv->wr.num_sge = 1;
		srq_recv_repost(pgd, rv, true);
	}
	pgd_flush_srq(pgd);
	return 0;
}

static struct osp_nvmf_transport_poll_group *
nvmf_rdma_poll_group_create(struct osp_nvmf_transport *t)
{
	struct nvmf_rdma_transport *rt = rdma_transport(t);
	struct nvmf_rdma_poll_group *pg;
	struct nvmf_rdma_pg_dev *pgd;
	struct nvmf_rdma_device *d;
	int flags;

	pg = calloc(1, sizeof(*pg));
	if (pg == NULL) {
		return NULL;
	}
	pg->rt = rt;
	pg->group.transport = t;
	pg->thread = osp_get_thread();
	TAILQ_INIT(&pg->devs);
	TAILQ_INIT(&pg->qpairs);
	TAILQ_INIT(&pg->flush);
	TAILQ_INIT(&pg->pending);
	if (osp_iobuf_channel_init(&pg->iobuf, rt->buf_pool, rt->opts.buf_cache_size) != 0) {
		free(pg);
		return NULL;
	}
	TAILQ_FOREACH(d, &rt->devices, link) {
		pgd = calloc(1, sizeof(*pgd));
		if (pgd == NULL) {
			goto fail;
		}
		TAILQ_INSERT_TAIL(&pg->devs, pgd, link);
		pgd->dev = d;
		pgd->channel = ibv_create_comp_channel(d->ctx);
		if (pgd->channel == NULL) {
			OSP_ERRLOG("%s: ibv_create_comp_channel failed: %s\n", d->name, strerror(errno));
			goto fail;
		}
		flags = fcntl(pgd->channel->fd, F_GETFL);
		if (flags < 0 || fcntl(pgd->channel->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
			goto fail;
		}
		pgd->cq_size = (int)OSP_MIN((uint32_t)d->attr.max_cqe, rt->num_cqe);
		pgd->cq = ibv_create_cq(d->ctx, pgd->cq_size, pgd, pgd->channel, 0);
		if (pgd->cq == NULL) {
			OSP_ERRLOG("%s: ibv_create_cq(%d) failed: %s\n", d->name, pgd->cq_size,
				   strerror(errno));
			goto fail;
		}
		pgd->cq_size = pgd->cq->cqe;
		if (!rt->no_srq && d->attr.max_srq > 0 && pgd_srq_create(rt, pgd) != 0) {
			goto fail;
		}
		/* An idle group sleeps: the CQ's event channel wakes the thread (armed when idle). */
		if (osp_get_thread() != NULL && osp_thread_add_wake_fd(pgd->channel->fd, EPOLLIN) == 0) {
			pgd->wake_fd_added = true;
		}
	}
	return &pg->group;
fail:
	while ((pgd = TAILQ_FIRST(&pg->devs)) != NULL) {
		TAILQ_REMOVE(&pg->devs, pgd, link);
		pgd_free(pgd);
	}
	osp_iobuf_channel_fini(&pg->iobuf);
	free(pg);
	return NULL;
}

static void
nvmf_rdma_poll_group_destroy(struct osp_nvmf_transport_poll_group *group)
{
	struct nvmf_rdma_poll_group *pg = rdma_group(group);
	struct nvmf_rdma_pg_dev *pgd;

	if (!TAILQ_EMPTY(&pg->qpairs)) {
		OSP_ERRLOG("NVMe/RDMA poll group destroyed with connections\n");
	}
	while ((pgd = TAILQ_FIRST(&pg->devs)) != NULL) {
		TAILQ_REMOVE(&pg->devs, pgd, link);
		pgd_free(pgd);
	}
	osp_iobuf_channel_fini(&pg->iobuf);
	free(pg);
}

/* The qpair's memory, its QP on the group's CQ, its receives posted, then rdma_accept. */
static int
qpair_setup(struct nvmf_rdma_poll_group *pg, struct nvmf_rdma_qpair *rq)
{
	const struct osp_nvmf_transport_opts *o = &pg->rt->opts;
	struct ibv_qp_init_attr qa = {};
	struct rdma_conn_param param = {};
	struct osp_nvmf_rdma_cm_accept acc = {};
	struct nvmf_rdma_pg_dev *pgd;
	const struct ibv_device_attr *da = &rq->dev->attr;
	uint32_t i, slot, need;
	uint32_t lkey_recv, lkey_rsp;

	TAILQ_FOREACH(pgd, &pg->devs, link) {
		if (pgd->dev == rq->dev) {
			break;
		}
	}
	if (pgd == NULL) {
		return -ENODEV;
	}
	rq->pgd = pgd;
	if (rq->depth > (uint32_t)da->max_qp_wr) {
		rq->depth = (uint32_t)da->max_qp_wr;
	}
	rq->icd_size = o->in_capsule_data_size;
	rq->max_sge = OSP_MIN((uint32_t)da->max_sge, 16u);
	rq->sq_size = OSP_MIN((uint32_t)da->max_qp_wr, rq->depth * 3 + 1);
	rq->rd_depth = OSP_MIN(rq->host_ird, (uint32_t)OSP_MAX(da->max_qp_init_rd_atom, 1));
	/* With the SRQ, the receives (and their completions) are the group's. */
	need = (pgd->srq != NULL ? 0 : rq->depth) + rq->sq_size;
	if (pgd->cq_used + (int)need > pgd->cq_size) {
		int want = pgd->cq_used + (int)need;

		if (want > da->max_cqe || ibv_resize_cq(pgd->cq, want) != 0) {
			OSP_ERRLOG("%s: the poll group's CQ (%d entries) is full: raise num_cqe\n",
				   rq->peer, pgd->cq_size);
			return -ENOSPC;
		}
		pgd->cq_size = pgd->cq->cqe;
	}
	slot = CAPSULE_CMD_SIZE + rq->icd_size;
	rq->reqs = calloc(rq->depth, sizeof(*rq->reqs));
	if (pgd->srq == NULL) {
		rq->recvs = calloc(rq->depth, sizeof(*rq->recvs));
		rq->recv_area = osp_dma_zmalloc((size_t)rq->depth * slot, 0, NULL);
	}
	rq->rsp_area = osp_dma_zmalloc((size_t)rq->depth * sizeof(struct osp_nvme_cpl), 0, NULL);
	if (rq->reqs == NULL || rq->rsp_area == NULL ||
	    (pgd->srq == NULL && (rq->recvs == NULL || rq->recv_area == NULL))) {
		return -ENOMEM;
	}
	lkey_recv = 0;
	if ((pgd->srq == NULL &&
	     osp_rdma_mem_translate(rq->dev->map, rq->recv_area, (size_t)rq->depth * slot,
				    &lkey_recv, NULL) != 0) ||
	    osp_rdma_mem_translate(rq->dev->map, rq->rsp_area,
				   (size_t)rq->depth * sizeof(struct osp_nvme_cpl), &lkey_rsp, NULL) != 0) {
		OSP_ERRLOG("%s: receive/response buffers are not registered\n", rq->peer);
		return -EFAULT;
	}
	qa.send_cq = pgd->cq;
	qa.recv_cq = pgd->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = rq->sq_size;
	qa.cap.max_recv_wr = pgd->srq != NULL ? 0 : rq->depth;
	qa.cap.max_send_sge = rq->max_sge;
	qa.cap.max_recv_sge = pgd->srq != NULL ? 0 : 1;
	qa.srq = pgd->srq;
	qa.qp_context = rq;
	if (rdma_create_qp(rq->cm_id, rq->dev->pd, &qa) != 0) {
		OSP_ERRLOG("%s: rdma_create_qp failed: %s\n", rq->peer, strerror(errno));
		return errno ? -errno : -ENOMEM;
	}
	rq->qp = rq->cm_id->qp;
	pgd->cq_used += (int)need;
	rq->sq_free = rq->sq_size;
	rq->rd_free = rq->rd_depth;
	for (i = 0; i < rq->depth; i++) {
		struct nvmf_rdma_req *rr = &rq->reqs[i];

		if (rq->recvs != NULL) {
			struct nvmf_rdma_recv *rv = &rq->recvs[i];

			rv->wr_type = NVMF_RDMA_WR_RECV;
			rv->rq = rq;
			rv->pgd = pgd;
			rv->buf = rq->recv_area + (size_t)i * slot;
			rv->sge.addr = (uintptr_t)rv->buf;
			rv->sge.length = slot;
			rv->sge.lkey = lkey_recv;
			rv->wr.wr_id = (uintptr_t)&rv->wr_type;
			rv->wr.sg_list = &rv->sge;
			rv->wr.num_sge = 1;
		}
		rr->rq = rq;
		rr->data_type = NVMF_RDMA_WR_DATA;
		rr->rsp_type = NVMF_RDMA_WR_RSP;
		rr->req.qpair = &rq->qpair;
		rr->req.transport_ctx = rr;
		rr->rsp_buf = &rq->rsp_area[i];
		rr->rsp_sge.addr = (uintptr_t)rr->rsp_buf;
		rr->rsp_sge.length = sizeof(struct osp_nvme_cpl);
		rr->rsp_sge.lkey = lkey_rsp;
		TAILQ_INSERT_TAIL(&rq->free_reqs, rr, link);
	}
	/* Receives are posted before the accept: the host may send at once. */
	for (i = 0; rq->recvs != NULL && i < rq->depth; i++) {
		queue_recv(rq, &rq->recvs[i]);
	}
	qpair_flush(rq);
	acc.recfmt = 0;
	acc.crqsize = htole16((uint16_t)rq->depth);
	param.private_data = &acc;
	param.private_data_len = sizeof(acc);
	param.initiator_depth = (uint8_t)OSP_MIN(rq->rd_depth, 255u);
	param.responder_resources = 0;	/* the host never reads from us */
	param.rnr_retry_count = 7;
	if (rdma_accept(rq->cm_id, &param) != 0) {
		OSP_ERRLOG("%s: rdma_accept failed: %s\n", rq->peer, strerror(errno));
		return errno ? -errno : -ECONNABORTED;
	}
	rq->accepted = true;
	return 0;
}

static int
nvmf_rdma_poll_group_add(struct osp_nvmf_transport_poll_group *group, struct osp_nvmf_qpair *qpair)
{
	struct nvmf_rdma_poll_group *pg = rdma_group(group);
	struct nvmf_rdma_qpair *rq = rdma_qpair(qpair);
	int rc;

	rq->pg = pg;
	qpair->group = group;
	rc = qpair_setup(pg, rq);
	if (rc != 0) {
		/* The core calls qpair_fini next: it rejects the request (not accepted yet). */
		rq->pg = NULL;
		if (rq->qp != NULL) {
			rq->pgd->cq_used -= (int)((rq->recvs != NULL ? rq->depth : 0) + rq->sq_size);
			rdma_destroy_qp(rq->cm_id);
			rq->qp = NULL;
		}
		rq->recv_out = 0;
		rq->recv_head = rq->recv_tail = NULL;
		return rc;
	}
	TAILQ_INSERT_TAIL(&pg->qpairs, rq, link);
	rq->in_group_list = true;
	pg->stat.current_qpairs++;
	pg->stat.total_qpairs++;
	if (qpair->disconnecting) {
		qpair_fail(rq);
	}
	return 0;
}

static int
nvmf_rdma_poll_group_remove(struct osp_nvmf_transport_poll_group *group,
			    struct osp_nvmf_qpair *qpair)
{
	struct nvmf_rdma_qpair *rq = rdma_qpair(qpair);

	if (rq->pg != rdma_group(group)) {
		return -ENOENT;
	}
	/* The qpair stays on the group's lists until its QP has drained (qpair_fini). */
	return 0;
}

/* Take the CQ's event if one came, so the fd stops waking the thread. */
static void
pgd_consume_event(struct nvmf_rdma_pg_dev *pgd)
{
	struct ibv_cq *ev_cq;
	void *ev_ctx;

	if (pgd->armed && ibv_get_cq_event(pgd->channel, &ev_cq, &ev_ctx) == 0) {
		ibv_ack_cq_events(ev_cq, 1);
		pgd->armed = false;
	}
}

static int
pgd_poll(struct nvmf_rdma_poll_group *pg, struct nvmf_rdma_pg_dev *pgd)
{
	struct ibv_wc wc[NVMF_RDMA_POLL_BATCH];
	int n, i;

	n = ibv_poll_cq(pgd->cq, NVMF_RDMA_POLL_BATCH, wc);
	if (n <= 0) {
		return 0;
	}
	pgd->stat.completions += (uint64_t)n;
	for (i = 0; i < n; i++) {
		wc_process(pg, &wc[i]);
	}
	return n;
}

static int
nvmf_rdma_poll_group_poll(struct osp_nvmf_transport_poll_group *group)
{
	struct nvmf_rdma_poll_group *pg = rdma_group(group);
	struct nvmf_rdma_pg_dev *pgd;
	struct nvmf_rdma_qpair *rq;
	int work = 0, n;

	TAILQ_FOREACH(pgd, &pg->devs, link) {
		pgd->stat.polls++;
		pgd_consume_event(pgd);
		n = pgd_poll(pg, pgd);
		if (n == 0) {
			pgd->stat.idle_polls++;
		}
		work += n;
	}
	/* Credits came back: requests waiting for them go on. */
	for (n = 0, rq = TAILQ_FIRST(&pg->pending); rq != NULL; rq = TAILQ_FIRST(&pg->pending)) {
		struct nvmf_rdma_qpair *last = TAILQ_LAST(&pg->pending, nvmf_rdma_qpair_list);

		/* Each qpair once per poll: one still waiting goes back to the tail. */
		TAILQ_REMOVE(&pg->pending, rq, pending_link);
		rq->in_pending_list = false;
		qpair_pump(rq);
		if (!TAILQ_EMPTY(&rq->pending_reqs) && !rq->in_pending_list && !rq->dead) {
			TAILQ_INSERT_TAIL(&pg->pending, rq, pending_link);
			rq->in_pending_list = true;
		}
		if (rq == last) {
			break;
		}
	}
	while ((rq = TAILQ_FIRST(&pg->flush)) != NULL) {
		TAILQ_REMOVE(&pg->flush, rq, flush_link);
		rq->in_flush_list = false;
		qpair_flush(rq);
		work++;
	}
	TAILQ_FOREACH(pgd, &pg->devs, link) {
		if (pgd->srq_head != NULL) {
			pgd_flush_srq(pgd);
			work++;
		}
	}
	if (work == 0) {
		/*
		 * Idle: arm each CQ once so its event channel wakes the thread,
		 * then look again (a completion that came before the arm raises
		 * no event).
		 */
		TAILQ_FOREACH(pgd, &pg->devs, link) {
			if (!pgd->armed && pgd->wake_fd_added) {
				if (ibv_req_notify_cq(pgd->cq, 0) == 0) {
					pgd->armed = true;
				}
				work += pgd_poll(pg, pgd);
			}
		}
	}
	return work;
}

static void
nvmf_rdma_poll_group_dump_stat(struct osp_nvmf_transport_poll_group *group, cJSON *obj)
{
	struct nvmf_rdma_poll_group *pg = rdma_group(group);
	struct nvmf_rdma_pg_dev *pgd;
	cJSON *devs = cJSON_CreateArray(), *d;

	osp_json_add_uint64(obj, "pending_data_buffer", pg->stat.pending_data_buffer);
	osp_json_add_uint64(obj, "current_qpairs", pg->stat.current_qpairs);
	osp_json_add_uint64(obj, "total_qpairs", pg->stat.total_qpairs);
	osp_json_add_uint64(obj, "buf_cache_count", pg->iobuf.cache_count);
	TAILQ_FOREACH(pgd, &pg->devs, link) {
		d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "name", pgd->dev->name);
		osp_json_add_uint64(d, "polls", pgd->stat.polls);
		osp_json_add_uint64(d, "idle_polls", pgd->stat.idle_polls);
		osp_json_add_uint64(d, "completions", pgd->stat.completions);
		osp_json_add_uint64(d, "requests", pgd->stat.requests);
		osp_json_add_uint64(d, "pending_rdma_read", pgd->stat.pending_rdma_read);
		osp_json_add_uint64(d, "pending_rdma_write", pgd->stat.pending_rdma_write);
		osp_json_add_uint64(d, "total_send_wrs", pgd->stat.total_send_wrs);
		osp_json_add_uint64(d, "send_doorbell_updates", pgd->stat.send_doorbell_updates);
		osp_json_add_uint64(d, "total_recv_wrs", pgd->stat.total_recv_wrs);
		osp_json_add_uint64(d, "recv_doorbell_updates", pgd->stat.recv_doorbell_updates);
		osp_json_add_uint64(d, "completion_errors", pgd->stat.wc_errors);
		cJSON_AddItemToArray(devs, d);
	}
	cJSON_AddItemToObject(obj, "devices", devs);
}

static const struct osp_nvmf_transport_ops g_nvmf_rdma_ops = {
	.name = "RDMA",
	.type = OSP_NVMF_TRTYPE_RDMA,
	.opts_init = nvmf_rdma_opts_init,
	.create = nvmf_rdma_create,
	.destroy = nvmf_rdma_destroy,
	.listen = nvmf_rdma_listen,
	.stop_listen = nvmf_rdma_stop_listen,
	.accept = nvmf_rdma_accept,
	.listener_discover = nvmf_rdma_listener_discover,
	.poll_group_create = nvmf_rdma_poll_group_create,
	.poll_group_destroy = nvmf_rdma_poll_group_destroy,
	.poll_group_add = nvmf_rdma_poll_group_add,
	.poll_group_remove = nvmf_rdma_poll_group_remove,
	.poll_group_poll = nvmf_rdma_poll_group_poll,
	.req_complete = nvmf_rdma_req_complete,
	.req_free = nvmf_rdma_req_free,
	.qpair_fini = nvmf_rdma_qpair_fini,
	.qpair_disconnect = nvmf_rdma_qpair_disconnect,
	.qpair_get_peer_addr = nvmf_rdma_qpair_get_peer_addr,
	.qpair_get_local_addr = nvmf_rdma_qpair_get_local_addr,
	.dump_opts = nvmf_rdma_dump_opts,
	.poll_group_dump_stat = nvmf_rdma_poll_group_dump_stat,
};

OSP_NVMF_TRANSPORT_REGISTER(rdma, &g_nvmf_rdma_ops)
