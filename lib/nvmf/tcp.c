/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe/TCP target transport: moves capsules and data between lib/sock
 * connections and the NVMe-oF core (lib/nvmf). The PDU codec (lib/nvme_tcp_codec)
 * validates every header; this file checks what needs the command context
 * (SGLs, TTAG/CCCID/DATAO against our R2Ts), owns the per-qpair request
 * pool and the shared data buffers, and answers protocol violations with a
 * C2HTermReq before dropping the connection. See doc/nvmf_tcp.md.
 *
 * References: NVM Express TCP Transport Specification 1.0a ("TCP"), NVMe
 * Base Specification 2.0 ("Base"), NVMe over Fabrics 1.1 (Connect).
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "osprey/env.h"
#include "osprey/iov.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey_internal/nvme_tcp_codec.h"
#include "osprey/nvmf_transport.h"
#include "osprey/sock.h"
#include "osprey/util.h"

#include "tcp_internal.h"

OSP_LOG_REGISTER_COMPONENT(nvmf_tcp)

#define DIV_ROUND_UP(a, b) ((uint32_t)(((uint64_t)(a) + (b) - 1) / (b)))

static const struct osp_nvmf_transport_ops g_nvmf_tcp_ops;

/* How log lines name a qpair: the host's address, qid and cntlid (once connected). */
static const char *
nvmf_tcp_qpair_name(struct nvmf_tcp_qpair *tq)
{
	if (tq->qpair.cntlid != 0) {
		snprintf(tq->name, sizeof(tq->name), "qpair %s qid %u cntlid %u", tq->peer,
			 tq->qpair.qid, tq->qpair.cntlid);
	} else {
		snprintf(tq->name, sizeof(tq->name), "qpair %s (not connected)", tq->peer);
	}
	return tq->name;
}

static inline struct nvmf_tcp_transport *
tcp_transport(struct osp_nvmf_transport *t)
{
	return OSP_CONTAINEROF(t, struct nvmf_tcp_transport, transport);
}

static inline struct nvmf_tcp_poll_group *
tcp_group(struct osp_nvmf_transport_poll_group *g)
{
	return OSP_CONTAINEROF(g, struct nvmf_tcp_poll_group, group);
}

static inline struct nvmf_tcp_qpair *
tcp_qpair(struct osp_nvmf_qpair *q)
{
	return OSP_CONTAINEROF(q, struct nvmf_tcp_qpair, qpair);
}

static inline struct nvmf_tcp_req *
tcp_req(struct osp_nvmf_request *r)
{
	return OSP_CONTAINEROF(r, struct nvmf_tcp_req, req);
}

/* ---------------------------------------------------------------- options */

static void
nvmf_tcp_opts_init(struct osp_nvmf_transport_opts *o)
{
	/* SPDK's TCP transport defaults, so configs behave the same. */
	o->max_queue_depth = 128;
	o->max_qpairs_per_ctrlr = 128;
	o->in_capsule_data_size = 4096;
	o->max_io_size = 131072;
	o->io_unit_size = 131072;
	o->max_aq_depth = 128;
	o->num_shared_buffers = 511;
	o->buf_cache_size = 32;
	o->dif_insert_or_strip = false;
	o->zcopy = false;
	o->abort_timeout_sec = 1;
	o->acceptor_poll_rate = 10000;
}

/* RDMA-only parameters of nvmf_create_transport: refused for TCP rather than ignored. */
static const char *const g_rdma_only_params[] = {
	"num_cqe", "max_srq_depth", "no_srq", "acceptor_backlog", "no_wr_batching",
	"ack_timeout", "data_wr_pool_size",
};

static int
nvmf_tcp_parse_specific(struct nvmf_tcp_transport *tt, const cJSON *ts, char *err, size_t errlen)
{
	const cJSON *item;
	size_t i;

	if (ts == NULL) {
		return 0;
	}
	if (!cJSON_IsObject(ts)) {
		snprintf(err, errlen, "TCP transport parameters must be a JSON object");
		return -EINVAL;
	}
	item = cJSON_GetObjectItemCaseSensitive(ts, "c2h_success");
	if (item != NULL) {
		if (!cJSON_IsBool(item)) {
			snprintf(err, errlen, "Invalid c2h_success: must be true or false");
			return -EINVAL;
		}
		tt->c2h_success = cJSON_IsTrue(item);
	}
	item = cJSON_GetObjectItemCaseSensitive(ts, "sock_priority");
	if (item != NULL) {
		if (!cJSON_IsNumber(item) || item->valuedouble != (double)(int)item->valuedouble ||
		    item->valuedouble < 0 || item->valuedouble > NVMF_TCP_SOCK_PRIORITY_MAX) {
			snprintf(err, errlen, "Invalid sock_priority: must be an integer from 0 to %d",
				 NVMF_TCP_SOCK_PRIORITY_MAX);
			return -EINVAL;
		}
		tt->sock_priority = (uint32_t)item->valuedouble;
	}
	item = cJSON_GetObjectItemCaseSensitive(ts, "control_msg_num");
	if (item != NULL) {
		if (!cJSON_IsNumber(item) || item->valuedouble != (double)(int)item->valuedouble ||
		    item->valuedouble < 1 || item->valuedouble > 65535) {
			snprintf(err, errlen,
				 "Invalid control_msg_num: must be an integer from 1 to 65535");
			return -EINVAL;
		}
		tt->control_msg_num = (uint32_t)item->valuedouble;
	}
	for (i = 0; i < OSP_COUNTOF(g_rdma_only_params); i++) {
		if (cJSON_GetObjectItemCaseSensitive(ts, g_rdma_only_params[i]) != NULL) {
			snprintf(err, errlen, "%s is an RDMA transport parameter; TCP does not take it",
				 g_rdma_only_params[i]);
			return -EINVAL;
		}
	}
	return 0;
}

static int
nvmf_tcp_check_opts(const struct osp_nvmf_transport_opts *o, char *err, size_t errlen)
{
	uint32_t per_io, per_admin_icd;

	if (o->max_aq_depth > 4096) {
		/* Base: an admin queue holds at most 4096 entries; TTAGs are 16 bits. */
		snprintf(err, errlen, "Invalid max_aq_depth %u: at most 4096", o->max_aq_depth);
		return -EINVAL;
	}
	if (o->io_unit_size < 512) {
		snprintf(err, errlen, "Invalid io_unit_size %u: must be at least 512", o->io_unit_size);
		return -EINVAL;
	}
	per_io = DIV_ROUND_UP(o->max_io_size, o->io_unit_size);
	if (per_io > OSP_NVMF_MAX_REQ_IOVS) {
		snprintf(err, errlen, "max_io_size %u / io_unit_size %u needs %u buffers per I/O; "
			 "at most %d are supported: raise io_unit_size", o->max_io_size,
			 o->io_unit_size, per_io, OSP_NVMF_MAX_REQ_IOVS);
		return -EINVAL;
	}
	if (o->in_capsule_data_size > 131072 || o->in_capsule_data_size % 16 != 0) {
		snprintf(err, errlen, "Invalid in_capsule_data_size %u: must be a multiple of 16 "
			 "up to 131072", o->in_capsule_data_size);
		return -EINVAL;
	}
	if (o->max_queue_depth < 2 || o->max_aq_depth < 2) {
		/* A queue has at least 2 entries (Base: MQES is 0's based). */
		snprintf(err, errlen, "Invalid max_queue_depth %u / max_aq_depth %u: queues have "
			 "at least 2 entries", o->max_queue_depth, o->max_aq_depth);
		return -EINVAL;
	}
	if ((uint64_t)OSP_MAX((uint32_t)o->max_queue_depth, o->max_aq_depth) *
	    o->in_capsule_data_size > NVMF_TCP_MAX_ICD_PER_QPAIR) {
		/* Every connection allocates this much DMA memory when its ICReq arrives. */
		snprintf(err, errlen, "max_queue_depth %u x in_capsule_data_size %u needs %llu MiB "
			 "of DMA memory per connection; the limit is %u MiB: lower max_queue_depth "
			 "or in_capsule_data_size", OSP_MAX((uint32_t)o->max_queue_depth,
					 o->max_aq_depth), o->in_capsule_data_size,
			 (unsigned long long)((uint64_t)OSP_MAX((uint32_t)o->max_queue_depth,
					      o->max_aq_depth) * o->in_capsule_data_size >> 20),
			 NVMF_TCP_MAX_ICD_PER_QPAIR >> 20);
		return -EINVAL;
	}
	per_admin_icd = DIV_ROUND_UP(NVMF_TCP_ADMIN_ICD, o->io_unit_size);
	if (o->num_shared_buffers < OSP_MAX(per_io, per_admin_icd)) {
		snprintf(err, errlen, "num_shared_buffers %u is too small: one %u-byte I/O needs %u "
			 "buffers of io_unit_size %u", o->num_shared_buffers, o->max_io_size,
			 OSP_MAX(per_io, per_admin_icd), o->io_unit_size);
		return -EINVAL;
	}
	return 0;
}

static int
nvmf_tcp_create(const struct osp_nvmf_transport_opts *opts, struct osp_nvmf_transport **out,
		char *err, size_t errlen)
{
	static uint32_t g_pool_id;
	struct nvmf_tcp_transport *tt;
	uint32_t reserve;
	char name[32];
	int rc;

	tt = calloc(1, sizeof(*tt));
	if (tt == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	tt->opts = *opts;
	tt->opts.transport_specific = NULL;
	tt->c2h_success = true;
	tt->control_msg_num = 32;
	TAILQ_INIT(&tt->listeners);
	rc = nvmf_tcp_parse_specific(tt, opts->transport_specific, err, errlen);
	if (rc == 0) {
		rc = nvmf_tcp_check_opts(opts, err, errlen);
	}
	if (rc != 0) {
		free(tt);
		return rc;
	}
	snprintf(name, sizeof(name), "nvmf_tcp_%u", g_pool_id++);
	/* Caches leave at least one request's worth (the most one request takes at once). */
	reserve = OSP_MAX(DIV_ROUND_UP(opts->max_io_size, opts->io_unit_size),
			  DIV_ROUND_UP(NVMF_TCP_ADMIN_ICD, opts->io_unit_size));
	tt->buf_pool = osp_iobuf_pool_create(name, opts->io_unit_size, opts->num_shared_buffers,
					     reserve);
	if (tt->buf_pool == NULL) {
		snprintf(err, errlen, "Cannot allocate %u data buffers of %u bytes (%llu MiB): "
			 "lower num_shared_buffers or io_unit_size", opts->num_shared_buffers,
			 opts->io_unit_size,
			 (unsigned long long)opts->num_shared_buffers * opts->io_unit_size >> 20);
		free(tt);
		return -ENOMEM;
	}
	tt->transport.ops = &g_nvmf_tcp_ops;
	tt->transport.opts = tt->opts;
	*out = &tt->transport;
	return 0;
}

static int
nvmf_tcp_destroy(struct osp_nvmf_transport *t, osp_nvmf_transport_destroy_done_cb cb_fn,
		 void *cb_arg)
{
	struct nvmf_tcp_transport *tt = tcp_transport(t);
	struct nvmf_tcp_listener *l;

	while ((l = TAILQ_FIRST(&tt->listeners)) != NULL) {
		TAILQ_REMOVE(&tt->listeners, l, link);
		osp_sock_close(&l->sock);
		free(l);
	}
	/* Logs data buffers still in use. */
	osp_iobuf_pool_free(tt->buf_pool);
	free(tt);
	if (cb_fn != NULL) {
		cb_fn(cb_arg);
	}
	return 0;
}

static void
nvmf_tcp_dump_opts(struct osp_nvmf_transport *t, cJSON *obj)
{
	struct nvmf_tcp_transport *tt = tcp_transport(t);

	cJSON_AddBoolToObject(obj, "c2h_success", tt->c2h_success);
	osp_json_add_uint64(obj, "sock_priority", tt->sock_priority);
	osp_json_add_uint64(obj, "control_msg_num", tt->control_msg_num);
}

/* ---------------------------------------------------------------- listeners */

static struct nvmf_tcp_listener *
nvmf_tcp_listener_find(struct nvmf_tcp_transport *tt, const struct osp_nvmf_listen_addr *addr)
{
	struct nvmf_tcp_listener *l;

	TAILQ_FOREACH(l, &tt->listeners, link) {
		if (l->addr.adrfam == addr->adrfam && strcmp(l->addr.traddr, addr->traddr) == 0 &&
		    strcmp(l->addr.trsvcid, addr->trsvcid) == 0) {
			return l;
		}
	}
	return NULL;
}

static int
parse_port(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 65535) {
		return -EINVAL;
	}
	return (int)v;
}

static int
nvmf_tcp_listen(struct osp_nvmf_transport *t, const struct osp_nvmf_listen_addr *addr)
{
	struct nvmf_tcp_transport *tt = tcp_transport(t);
	struct nvmf_tcp_listener *l;
	struct osp_sock_opts sopts;
	int port;

	if (addr->adrfam != OSP_NVMF_ADRFAM_IPV4 && addr->adrfam != OSP_NVMF_ADRFAM_IPV6) {
		OSP_ERRLOG("TCP listens on IPv4 or IPv6 addresses only\n");
		return -EINVAL;
	}
	port = parse_port(addr->trsvcid);
	if (port < 0) {
		OSP_ERRLOG("invalid TCP port '%s'\n", addr->trsvcid);
		return -EINVAL;
	}
	if (nvmf_tcp_listener_find(tt, addr) != NULL) {
		return -EEXIST;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		return -ENOMEM;
	}
	l->addr = *addr;
	osp_sock_get_default_opts(&sopts, sizeof(sopts));
	/* Accepted connections inherit it: every PDU of this listener's queues. */
	sopts.priority = (int)tt->sock_priority;
	l->sock = osp_sock_listen(addr->traddr, port, NULL, &sopts);
	if (l->sock == NULL) {
		int rc = errno != 0 ? -errno : -EINVAL;

		OSP_ERRLOG("cannot listen on %s port %d: %s\n", addr->traddr, port, strerror(-rc));
		free(l);
		return rc;
	}
	TAILQ_INSERT_TAIL(&tt->listeners, l, link);
	OSP_NOTICELOG("NVMe/TCP target listening on %s port %d\n", addr->traddr, port);
	return 0;
}

static void
nvmf_tcp_stop_listen(struct osp_nvmf_transport *t, const struct osp_nvmf_listen_addr *addr)
{
	struct nvmf_tcp_listener *l = nvmf_tcp_listener_find(tcp_transport(t), addr);

	if (l != NULL) {
		TAILQ_REMOVE(&tcp_transport(t)->listeners, l, link);
		osp_sock_close(&l->sock);
		free(l);
	}
}

static void
nvmf_tcp_listener_discover(struct osp_nvmf_transport *t, const struct osp_nvmf_listen_addr *addr,
			   struct osp_nvmf_discovery_log_page_entry *entry)
{
	/* The core honours a Connect that disables SQ flow control (SQHD FFFFh). */
	entry->treq = OSP_NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED | OSP_NVMF_TREQ_DISABLE_SQ_FLOW_CONTROL;
	memset(&entry->tsas, 0, sizeof(entry->tsas));
	entry->tsas.tcp.sectype = OSP_NVMF_TCP_SECTYPE_NONE;
}

/* ---------------------------------------------------------------- buffers */

static void
buf_put(struct nvmf_tcp_transport *tt, struct nvmf_tcp_poll_group *pg, void *buf)
{
	if (pg != NULL) {
		osp_iobuf_put(&pg->iobuf, buf);
		return;
	}
	osp_iobuf_pool_put(tt->buf_pool, buf);
}

static void
req_put_bufs(struct nvmf_tcp_req *tr)
{
	struct nvmf_tcp_qpair *tq = tr->tq;

	while (tr->nbufs > 0) {
		buf_put(tq->tt, tq->pg, tr->bufs[--tr->nbufs]);
	}
}

static void buffers_arrived(struct osp_iobuf_entry *entry, void **bufs);

/*
 * All or nothing: enough io_unit_size buffers for len bytes (the request
 * holds none). With wait, the request is queued on the group's iobuf
 * channel when they are short (-EAGAIN) and buffers_arrived() goes on.
 */
static int
req_get_bufs(struct nvmf_tcp_req *tr, uint32_t len, bool wait)
{
	struct nvmf_tcp_qpair *tq = tr->tq;
	uint32_t n = DIV_ROUND_UP(len, tq->tt->opts.io_unit_size);
	int rc;

	if (n > OSP_NVMF_MAX_REQ_IOVS || tr->nbufs != 0 || tq->pg == NULL) {
		return -EINVAL;
	}
	rc = osp_iobuf_get_bulk(&tq->pg->iobuf, tr->bufs, n, wait ? &tr->buf_entry : NULL,
				buffers_arrived);
	if (rc == 0) {
		tr->nbufs = n;
	}
	return rc;
}

/* iovecs covering [off, off + len) of the request's buffers; returns their count. */
static int
req_bufs_iov(struct nvmf_tcp_req *tr, uint32_t off, uint32_t len, struct iovec *iov, int max)
{
	uint32_t unit = tr->tq->tt->opts.io_unit_size;
	int n = 0;

	if (osp_likely(len > 0 && max > 0 && tr->nbufs > 0 && off < unit && len <= unit - off)) {
		/* Within the first buffer (any transfer up to io_unit_size). */
		iov[0].iov_base = (uint8_t *)tr->bufs[0] + off;
		iov[0].iov_len = len;
		return 1;
	}
	while (len > 0 && n < max) {
		uint32_t idx = off / unit, o = off % unit, c = OSP_MIN(unit - o, len);

		if (idx >= tr->nbufs) {
			break;
		}
		iov[n].iov_base = (uint8_t *)tr->bufs[idx] + o;
		iov[n].iov_len = c;
		n++;
		off += c;
		len -= c;
	}
	return n;
}

/* ---------------------------------------------------------------- qpair life */

static void qpair_do_fini(struct nvmf_tcp_qpair *tq);

static inline void
tq_hold(struct nvmf_tcp_qpair *tq)
{
	tq->ref++;
}

/* The last thing a caller does with tq: it may be freed here. */
static inline void
tq_unhold(struct nvmf_tcp_qpair *tq)
{
	if (--tq->ref == 0 && tq->fini_pending && !tq->finishing) {
		qpair_do_fini(tq);
	}
}

/*
 * Have the next poll of tq's group look at tq (once, however often asked). A
 * dead qpair receives nothing more and has nothing left to stop.
 */
static void
qpair_attn(struct nvmf_tcp_qpair *tq)
{
	if (!tq->in_attn_list && tq->in_group_list && !tq->dead) {
		TAILQ_INSERT_TAIL(&tq->pg->attn, tq, attn_link);
		tq->in_attn_list = true;
		tq->pg->num_attn++;
	}
}

static void
qpair_attn_remove(struct nvmf_tcp_qpair *tq)
{
	if (tq->in_attn_list) {
		TAILQ_REMOVE(&tq->pg->attn, tq, attn_link);
		tq->in_attn_list = false;
		tq->pg->num_attn--;
	}
}

/* The receiver waits for a free request or buffers: the poll retries it. */
static void
qpair_rx_pause(struct nvmf_tcp_qpair *tq)
{
	tq->rx_paused = true;
	qpair_attn(tq);
}

static struct nvmf_tcp_req *
req_get(struct nvmf_tcp_qpair *tq)
{
	struct nvmf_tcp_req *tr = TAILQ_FIRST(&tq->free_reqs);

	if (tr != NULL) {
		TAILQ_REMOVE(&tq->free_reqs, tr, link);
		tq->free_count--;
		tr->icd_len = 0;
		tr->icd_slot = NULL;
		tr->h2c_off = 0;
		tr->r2t_end = 0;
		tr->r2t_deferred = false;
		tr->ddgst_err = false;
		tr->c2h_off = 0;
		tr->c2h_len = 0;
		tr->c2h_success = false;
		tr->c2h_whole = false;
		tr->req.length = 0;
		tr->req.iovcnt = 0;
		tr->req.xfer = OSP_NVMF_XFER_NONE;
		tr->state = TR_RECV_ICD;
	}
	return tr;
}

/* Back to the free list once nothing references it any more. */
static void
req_try_release(struct nvmf_tcp_req *tr)
{
	struct nvmf_tcp_qpair *tq = tr->tq;

	if (tr->state != TR_DONE || tr->writes > 0 ||
	    (!tq->dead && tr->c2h_off < tr->c2h_len)) {
		return;
	}
	req_put_bufs(tr);
	tr->state = TR_FREE;
	TAILQ_INSERT_TAIL(&tq->free_reqs, tr, link);
	tq->free_count++;
}

/* Drop what the core does not hold: requests receiving data or waiting for buffers. */
static void
qpair_drop_unheld(struct nvmf_tcp_qpair *tq)
{
	uint32_t i;

	for (i = 0; i < tq->nreqs; i++) {
		struct nvmf_tcp_req *tr = &tq->reqs[i];

		switch (tr->state) {
		case TR_NEED_BUF:
			osp_iobuf_entry_abort(&tq->pg->iobuf, &tr->buf_entry);
		/* fallthrough */
		case TR_RECV_ICD:
		case TR_H2C:
			tr->state = TR_DONE;
			req_try_release(tr);
			break;
		default:
			break;
		}
	}
	tq->rx_req = NULL;
	tq->rx_h2c = NULL;
	tq->stash_valid = false;
	tq->rx_paused = false;
}

/* Out of the group's socket group; its zero-copy counters stay in the group's stats. */
static void
qpair_sock_leave_group(struct nvmf_tcp_qpair *tq)
{
	struct osp_sock_stats ss;

	if (!tq->in_sock_group) {
		return;
	}
	if (osp_sock_get_stats(tq->sock, &ss) == 0) {
		tq->pg->stat.zcopy_sends += ss.zcopy_sends;
		tq->pg->stat.zcopy_copied += ss.zcopy_copied;
	}
	osp_sock_group_remove_sock(tq->pg->sock_group, tq->sock);
	tq->in_sock_group = false;
}

/*
 * The connection is over for us (protocol error, peer gone, socket error, or
 * the core disconnected it): stop receiving and executing, push out what is
 * queued (a TermReq), and tell the core. The socket closes in qpair_fini.
 */
static void
qpair_fail(struct nvmf_tcp_qpair *tq)
{
	if (tq->dead) {
		return;
	}
	tq->dead = true;
	tq_hold(tq);
	qpair_drop_unheld(tq);
	if (tq->sock != NULL) {
		osp_sock_flush(tq->sock);
		qpair_sock_leave_group(tq);
	}
	osp_nvmf_qpair_disconnect(&tq->qpair);
	tq_unhold(tq);
}

/* ---------------------------------------------------------------- sending */

static void wr_done(void *cb_arg, int err);

static int
wr_queue(struct nvmf_tcp_wr *wr)
{
	int rc;

	wr->sreq.cb_fn = wr_done;
	wr->sreq.cb_arg = wr;
	wr->sreq.iov = wr->pdu.iov;
	wr->sreq.iovcnt = wr->pdu.iovcnt;
	rc = osp_sock_writev_async(wr->tq->sock, &wr->sreq);
	if (rc != 0) {
		return rc;
	}
	wr->busy = true;
	if (wr->tr != NULL) {
		wr->tr->writes++;
	}
	return 0;
}

static void
send_term_req(struct nvmf_tcp_qpair *tq, uint16_t fes, uint32_t fei, const void *hdr,
	      size_t hdr_len)
{
	if (tq->term_wr.busy || tq->sock == NULL) {
		return;
	}
	OSP_NOTICELOG("NVMe/TCP %s: fatal error FES %#x FEI %u: sending C2HTermReq\n",
		      nvmf_tcp_qpair_name(tq), fes, fei);
	if (osp_nvme_tcp_build_term_req(&tq->term_wr.pdu, OSP_NVME_TCP_ROLE_TARGET, fes, fei, hdr,
					hdr_len) == 0 && wr_queue(&tq->term_wr) == 0 && tq->pg) {
		tq->pg->stat.term_reqs_sent++;
	}
}

/*
 * The two PDUs of every command, written directly when the connection has
 * no header digest (CapsuleResp) or no digest at all (C2HData): every byte
 * of the header and of the padding up to PDO is set, as the codec's
 * builders do, without their argument checks (the arguments are ours and
 * valid) and without clearing the whole header area first. Other cases
 * (digests, R2T, ICResp, TermReq) go through the codec.
 */
static inline void
build_capsule_resp_fast(struct osp_nvme_tcp_pdu *pdu, const struct osp_nvme_cpl *cpl)
{
	struct osp_nvme_tcp_rsp *h = &pdu->hdr.capsule_resp;

	h->ch.pdu_type = OSP_NVME_TCP_PDU_TYPE_CAPSULE_RESP;
	h->ch.flags = 0;
	h->ch.hlen = sizeof(*h);
	h->ch.pdo = 0;
	h->ch.plen = htole32(sizeof(*h));
	h->rccqe = *cpl;
	pdu->iov[0].iov_base = pdu->raw;
	pdu->iov[0].iov_len = sizeof(*h);
	pdu->iovcnt = 1;
	pdu->plen = sizeof(*h);
}

static inline void
build_c2h_data_fast(struct osp_nvme_tcp_pdu *pdu, uint8_t pda, uint16_t cccid, uint32_t datao,
		    const struct iovec *iov, int iovcnt, uint32_t len, bool last, bool success)
{
	struct osp_nvme_tcp_c2h_data_hdr *h = &pdu->hdr.c2h_data;
	uint32_t align = OSP_NVME_TCP_PDA_ALIGN(pda);
	uint32_t pdo = ((uint32_t)sizeof(*h) + align - 1) / align * align;

	h->ch.pdu_type = OSP_NVME_TCP_PDU_TYPE_C2H_DATA;
	h->ch.flags = (last ? OSP_NVME_TCP_DATA_FLAGS_LAST_PDU : 0) |
		      (success ? OSP_NVME_TCP_C2H_DATA_FLAGS_SUCCESS : 0);
	h->ch.hlen = sizeof(*h);
	h->ch.pdo = (uint8_t)pdo;
	h->ch.plen = htole32(pdo + len);
	h->cccid = htole16(cccid);
	memset(h->rsvd10, 0, sizeof(h->rsvd10));
	h->datao = htole32(datao);
	h->datal = htole32(len);
	memset(h->rsvd20, 0, sizeof(h->rsvd20));
	if (pdo > sizeof(*h)) {
		memset(&pdu->raw[sizeof(*h)], 0, pdo - sizeof(*h));
	}
	pdu->iov[0].iov_base = pdu->raw;
	pdu->iov[0].iov_len = pdo;
	memcpy(&pdu->iov[1], iov, sizeof(*iov) * (size_t)iovcnt);
	pdu->iovcnt = 1 + iovcnt;
	pdu->plen = pdo + len;
}

static int
build_resp(struct nvmf_tcp_req *tr)
{
	struct nvmf_tcp_qpair *tq = tr->tq;

	if (!tq->tx.hdgst) {
		build_capsule_resp_fast(&tr->rsp_wr.pdu, &tr->req.rsp);
		return 0;
	}
	return osp_nvme_tcp_build_capsule_resp(&tr->rsp_wr.pdu, &tq->tx, &tr->req.rsp);
}

static void
send_resp(struct nvmf_tcp_req *tr)
{
	if (build_resp(tr) != 0 || wr_queue(&tr->rsp_wr) != 0) {
		qpair_fail(tr->tq);
	}
}

static void
c2h_continue(struct nvmf_tcp_req *tr)
{
	struct nvmf_tcp_qpair *tq = tr->tq;
	struct iovec slice[OSP_NVME_TCP_PDU_MAX_DATA_IOV];
	const struct iovec *iov = slice;
	uint32_t chunk = OSP_MIN(tr->c2h_len - tr->c2h_off, NVMF_TCP_C2H_PDU_MAX);
	bool last = tr->c2h_off + chunk == tr->c2h_len, merged = false;
	int n;

	/* c2h_len is within the iovecs, and a PDU takes as many iovecs as a request has. */
	OSP_STATIC_ASSERT(OSP_NVME_TCP_PDU_MAX_DATA_IOV >= OSP_NVMF_MAX_REQ_IOVS, "C2H slice fits");
	if (tr->c2h_off == 0 && last && tr->c2h_whole) {
		/* All of the request's iovecs in one PDU: no slicing. */
		iov = tr->req.iov;
		n = (int)tr->req.iovcnt;
	} else {
		n = osp_iov_slice(slice, (int)OSP_COUNTOF(slice), tr->req.iov, (int)tr->req.iovcnt,
				  tr->c2h_off, chunk);
	}
	if (n <= 0) {
		qpair_fail(tq);
		return;
	}
	if (!tq->tx.hdgst && !tq->tx.ddgst) {
		build_c2h_data_fast(&tr->data_wr.pdu, tq->tx.pda, tr->req.cmd.cid, tr->c2h_off, iov, n,
				    chunk, last, last && tr->c2h_success);
	} else if (osp_nvme_tcp_build_c2h_data(&tr->data_wr.pdu, &tq->tx, tr->req.cmd.cid,
					       tr->c2h_off, iov, n, last,
					       last && tr->c2h_success) != 0) {
		qpair_fail(tq);
		return;
	}
	if (last && !tr->c2h_success) {
		/*
		 * The CapsuleResp rides in the same socket write as the last
		 * C2HData (one request, one completion), when their iovecs fit
		 * the PDU's array; it stays in rsp_wr, which lives as long as tr.
		 */
		struct osp_nvme_tcp_pdu *d = &tr->data_wr.pdu, *r = &tr->rsp_wr.pdu;

		if (build_resp(tr) != 0) {
			qpair_fail(tq);
			return;
		}
		if (d->iovcnt + r->iovcnt <= (int)OSP_COUNTOF(d->iov)) {
			memcpy(&d->iov[d->iovcnt], r->iov, sizeof(r->iov[0]) * (size_t)r->iovcnt);
			d->iovcnt += r->iovcnt;
			merged = true;
		}
	}
	if (wr_queue(&tr->data_wr) != 0) {
		qpair_fail(tq);
		return;
	}
	tr->c2h_off += chunk;
	tq->pg->stat.c2h_pdus++;
	if (last && !tr->c2h_success && !merged && wr_queue(&tr->rsp_wr) != 0) {
		qpair_fail(tq);
	}
}

static void
send_r2t(struct nvmf_tcp_req *tr)
{
	struct nvmf_tcp_qpair *tq = tr->tq;
	uint32_t r2tl = OSP_MIN(tr->req.length - tr->h2c_off, NVMF_TCP_MAXH2CDATA);

	if (tr->data_wr.busy) {
		/* The previous R2T's write has not completed: its PDU is still in use. */
		tr->r2t_deferred = true;
		return;
	}
	tr->r2t_deferred = false;
	if (osp_nvme_tcp_build_r2t(&tr->data_wr.pdu, &tq->tx, tr->req.cmd.cid, tr->ttag,
				   tr->h2c_off, r2tl) != 0 || wr_queue(&tr->data_wr) != 0) {
		qpair_fail(tq);
		return;
	}
	tr->r2t_end = tr->h2c_off + r2tl;
	tq->pg->stat.r2t_sent++;
}

static void
wr_done(void *cb_arg, int err)
{
	struct nvmf_tcp_wr *wr = cb_arg;
	struct nvmf_tcp_qpair *tq = wr->tq;
	struct nvmf_tcp_req *tr = wr->tr;

	wr->busy = false;
	tq_hold(tq);
	if (err != 0 && !tq->dead) {
		OSP_DEBUGLOG(nvmf_tcp, "%s: write failed: %s\n", nvmf_tcp_qpair_name(tq),
			     strerror(-err));
		qpair_fail(tq);
	}
	if (tr != NULL) {
		tr->writes--;
		if (!tq->dead && wr == &tr->data_wr) {
			if (tr->state == TR_H2C && tr->r2t_deferred) {
				send_r2t(tr);
			} else if (tr->state == TR_DONE && tr->c2h_off < tr->c2h_len) {
				c2h_continue(tr);
			}
		}
		req_try_release(tr);
	}
	if (--tq->ref == 0 && tq->fini_pending && !tq->finishing) {
		/* lib/sock may complete more of this batch's writes (ours): free it later. */
		TAILQ_INSERT_TAIL(&tq->pg->fini_list, tq, fini_link);
		tq->finishing = true;
	}
}

/* ---------------------------------------------------------------- commands */

static void
req_exec(struct nvmf_tcp_req *tr)
{
	if (tr->tq->dead) {
		tr->state = TR_DONE;
		req_try_release(tr);
		return;
	}
	tr->state = TR_EXEC;
	osp_nvmf_request_exec(&tr->req);
}

/* Answer a command ourselves (bad SGL, digest error) without the core. */
static void
nvmf_tcp_req_fail(struct nvmf_tcp_req *tr, uint8_t sct, uint8_t sc, bool dnr)
{
	osp_nvme_cpl_set_status(&tr->req.rsp, sct, sc, dnr);
	tr->req.rsp.sqid = tr->tq->qpair.qid;
	tr->state = TR_DONE;
	send_resp(tr);
	req_try_release(tr);
}

static void
buffers_ready(struct nvmf_tcp_req *tr)
{
	tr->req.iovcnt = (uint32_t)req_bufs_iov(tr, 0, tr->req.length, tr->req.iov,
						OSP_NVMF_MAX_REQ_IOVS);
	if (tr->req.xfer == OSP_NVMF_XFER_HOST_TO_CONTROLLER) {
		tr->state = TR_H2C;
		tr->h2c_off = 0;
		send_r2t(tr);
	} else {
		req_exec(tr);
	}
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

/*
 * A whole command capsule: check its SGL (TCP §3.3: in-capsule data is a
 * Data Block descriptor with the Offset subtype, anything else is a
 * Transport SGL Data Block moved with R2T/H2CData or C2HData), get buffers,
 * then start the data transfer or hand it to the core.
 */
static void
capsule_start(struct nvmf_tcp_qpair *tq, struct nvmf_tcp_req *tr, const struct osp_nvme_cmd *cmd,
	      uint32_t icd_len, bool ddgst_ok)
{
	struct osp_nvme_sgl_descriptor sgl;
	uint8_t dir, id;
	uint32_t len;
	uint64_t off;

	tr->req.cmd = *cmd;
	memset(&tr->req.rsp, 0, sizeof(tr->req.rsp));
	tr->req.rsp.cid = cmd->cid;
	tr->req.length = 0;
	tr->req.iovcnt = 0;
	tr->req.xfer = OSP_NVMF_XFER_NONE;
	tr->icd_len = icd_len;
	tq->pg->stat.capsules++;

	if (!ddgst_ok) {
		/* TCP "Data Digest": not fatal, the command fails with a retryable status. */
		tq->pg->stat.data_digest_errors++;
		nvmf_tcp_req_fail(tr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_TRANSIENT_TRANSPORT_ERROR, false);
		return;
	}
	dir = cmd_dir(cmd);
	if (dir == 0) {
		req_exec(tr);
		return;
	}
	/* Bidirectional transfers do not exist in NVMe/TCP; fabrics carry data by
	 * SGLs only, so a data command with PSDT 00b (PRPs) is refused too
	 * (commands without data, and Fabrics commands, whose byte 1 is reserved,
	 * are not checked: harmless). */
	if (dir == 3 || (cmd->psdt == OSP_NVME_PSDT_PRP && cmd->opc != OSP_NVMF_FABRIC_OPCODE)) {
		nvmf_tcp_req_fail(tr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD, true);
		return;
	}
	memcpy(&sgl, &cmd->prp1, sizeof(sgl));
	id = OSP_NVME_SGL_ID(sgl.generic.type, sgl.generic.subtype);
	len = le32toh(sgl.unkeyed.length);
	off = le64toh(sgl.address);
	tr->req.xfer = dir == 1 ? OSP_NVMF_XFER_HOST_TO_CONTROLLER : OSP_NVMF_XFER_CONTROLLER_TO_HOST;

	if (id == OSP_NVME_SGL_ID_ICD) {
		if (tr->req.xfer != OSP_NVMF_XFER_HOST_TO_CONTROLLER) {
			nvmf_tcp_req_fail(tr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID, true);
			return;
		}
		if (off > icd_len) {
			nvmf_tcp_req_fail(tr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_SGL_OFFSET, true);
			return;
		}
		if (len > icd_len - off) {
			nvmf_tcp_req_fail(tr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_DATA_SGL_LENGTH_INVALID, true);
			return;
		}
		tr->req.length = len;
		if (len == 0) {
			tr->req.xfer = OSP_NVMF_XFER_NONE;
		} else if (tr->icd_slot != NULL) {
			tr->req.iov[0].iov_base = tr->icd_slot + off;
			tr->req.iov[0].iov_len = len;
			tr->req.iovcnt = 1;
		} else {
			tr->req.iovcnt = (uint32_t)req_bufs_iov(tr, (uint32_t)off, len, tr->req.iov,
								OSP_NVMF_MAX_REQ_IOVS);
		}
		req_exec(tr);
		return;
	}
	if (id != OSP_NVME_SGL_ID_TRANSPORT) {
		nvmf_tcp_req_fail(tr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID, true);
		return;
	}
	/* In-capsule data next to a transport SGL describes nothing: drop it. */
	req_put_bufs(tr);
	tr->icd_slot = NULL;
	if (len > tq->tt->opts.max_io_size) {
		nvmf_tcp_req_fail(tr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_DATA_SGL_LENGTH_INVALID, true);
		return;
	}
	tr->req.length = len;
	if (len == 0) {
		tr->req.xfer = OSP_NVMF_XFER_NONE;
		req_exec(tr);
		return;
	}
	/* First come, first served (the iobuf channel's queue): nobody overtakes a waiter. */
	switch (req_get_bufs(tr, len, true)) {
	case 0:
		buffers_ready(tr);
		return;
	case -EAGAIN:
		tr->state = TR_NEED_BUF;
		tq->pg->stat.pending_data_buffer++;
		return;
	default:
		nvmf_tcp_req_fail(tr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INTERNAL_DEVICE_ERROR, false);
		return;
	}
}

/* Buffers for a TR_NEED_BUF request, from the group's iobuf channel. */
static void
buffers_arrived(struct osp_iobuf_entry *entry, void **bufs)
{
	struct nvmf_tcp_req *tr = OSP_CONTAINEROF(entry, struct nvmf_tcp_req, buf_entry);
	struct nvmf_tcp_qpair *tq = tr->tq;

	(void)bufs;
	tr->nbufs = entry->count;
	tq_hold(tq);
	buffers_ready(tr);
	tq_unhold(tq);
}

static void
h2c_data_done(struct nvmf_tcp_req *tr, uint32_t data_len, bool ddgst_ok)
{
	tr->h2c_off += data_len;
	if (!ddgst_ok) {
		tr->ddgst_err = true;
		tr->tq->pg->stat.data_digest_errors++;
	}
	if (tr->h2c_off < tr->r2t_end) {
		return;
	}
	if (tr->h2c_off < tr->req.length) {
		send_r2t(tr);
	} else if (tr->ddgst_err) {
		nvmf_tcp_req_fail(tr, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_TRANSIENT_TRANSPORT_ERROR, false);
	} else {
		req_exec(tr);
	}
}

static void qpair_admit_end(struct nvmf_tcp_qpair *tq);

/* The Connect went through: the queue type fixes the in-capsule data limit. */
static void
connect_done(struct nvmf_tcp_qpair *tq, const struct osp_nvme_cmd *cmd)
{
	const struct osp_nvmf_connect_cmd *cc = (const struct osp_nvmf_connect_cmd *)cmd;
	uint32_t icd = tq->tt->opts.in_capsule_data_size;

	qpair_admit_end(tq);
	tq->sq_fc_disabled = cc->cattr & OSP_NVMF_CONNECT_CATTR_DISABLE_SQ_FLOW_CONTROL;
	if (le16toh(cc->qid) == 0) {
		icd = OSP_MAX(icd, NVMF_TCP_ADMIN_ICD);
	}
	osp_nvme_tcp_recv_set_limits(&tq->rx, icd, NVMF_TCP_MAXH2CDATA, 0);
}

static int
nvmf_tcp_req_complete(struct osp_nvmf_request *req)
{
	struct nvmf_tcp_req *tr = tcp_req(req);
	struct nvmf_tcp_qpair *tq = tr->tq;
	bool ok = !osp_nvme_cpl_is_error(&req->rsp);
	uint64_t iov_total = 0;

	tq_hold(tq);
	if (tq->qpair.disconnecting && !tq->dead) {
		qpair_fail(tq);
	}
	tr->state = TR_DONE;
	tr->c2h_off = 0;
	tr->c2h_len = 0;
	if (tq->dead) {
		/* Nobody to answer: free it once its writes (an R2T) are done. */
		req_try_release(tr);
		tq_unhold(tq);
		return 0;
	}
	req->rsp.cid = req->cmd.cid;
	if (ok && req->cmd.opc == OSP_NVMF_FABRIC_OPCODE &&
	    ((const struct osp_nvmf_capsule_cmd *)&req->cmd)->fctype == OSP_NVMF_FCTYPE_CONNECT) {
		connect_done(tq, &req->cmd);
	}
	if (ok && req->xfer == OSP_NVMF_XFER_CONTROLLER_TO_HOST && req->length > 0) {
		iov_total = osp_iov_len(req->iov, (int)OSP_MIN(req->iovcnt,
							       (uint32_t)OSP_NVMF_MAX_REQ_IOVS));
		tr->c2h_len = (uint32_t)OSP_MIN((uint64_t)req->length, iov_total);
		tr->c2h_whole = iov_total == tr->c2h_len &&
				req->iovcnt <= OSP_NVME_TCP_PDU_MAX_DATA_IOV;
	}
	if (tr->c2h_len > 0) {
		/*
		 * SUCCESS replaces the CapsuleResp, which then cannot carry SQHD:
		 * only when the host disabled SQ flow control (TCP, C2HData
		 * flags) and the CQE holds nothing else (no DNR, M or CRD either).
		 */
		tr->c2h_success = tq->tt->c2h_success && tq->sq_fc_disabled &&
				  osp_nvme_cpl_status_field(&req->rsp) == 0 &&
				  req->rsp.cdw0 == 0 && req->rsp.cdw1 == 0;
		c2h_continue(tr);
	} else {
		send_resp(tr);
	}
	req_try_release(tr);
	tq_unhold(tq);
	return 0;
}

static int
nvmf_tcp_req_free(struct osp_nvmf_request *req)
{
	struct nvmf_tcp_req *tr = tcp_req(req);

	tr->state = TR_DONE;
	tr->c2h_len = 0;
	req_try_release(tr);
	return 0;
}

/* ---------------------------------------------------------------- receiving */

static int
rx_hdr(struct osp_nvme_tcp_recv *r, void *cb_arg, const union osp_nvme_tcp_pdu_hdr *hdr,
       uint32_t data_len, struct iovec *iov, int *iovcnt)
{
	struct nvmf_tcp_qpair *tq = cb_arg;
	struct nvmf_tcp_req *tr;
	uint32_t datao, datal;
	uint16_t ttag;

	if (tq->dead) {
		return -ECANCELED;
	}
	switch (hdr->ch.pdu_type) {
	case OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD:
		tr = tq->rx_req;
		if (tr == NULL) {
			tr = req_get(tq);
			if (tr == NULL) {
				qpair_rx_pause(tq);
				return -EAGAIN;
			}
			tq->rx_req = tr;
		}
		if (data_len <= tq->icd_unit) {
			tr->icd_slot = tq->icd_area + (size_t)tr->ttag * tq->icd_unit;
			iov[0].iov_base = tr->icd_slot;
			iov[0].iov_len = data_len;
			*iovcnt = 1;
			return 0;
		}
		/* Larger than the slot (admin queue, before Connect): shared buffers. */
		if (req_get_bufs(tr, data_len, false) != 0) {
			qpair_rx_pause(tq);
			tq->pg->stat.pending_data_buffer++;
			return -EAGAIN;
		}
		*iovcnt = req_bufs_iov(tr, 0, data_len, iov, *iovcnt);
		return 0;
	case OSP_NVME_TCP_PDU_TYPE_H2C_DATA:
		ttag = le16toh(hdr->h2c_data.ttag);
		datao = le32toh(hdr->h2c_data.datao);
		datal = le32toh(hdr->h2c_data.datal);
		/* TCP H2CData: TTAG and CCCID name an outstanding R2T; DATAO/DATAL stay inside it. */
		if (ttag >= tq->nreqs || tq->reqs[ttag].state != TR_H2C ||
		    tq->reqs[ttag].r2t_deferred || tq->reqs[ttag].h2c_off >= tq->reqs[ttag].r2t_end) {
			return osp_nvme_tcp_recv_fail(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
						      offsetof(struct osp_nvme_tcp_h2c_data_hdr, ttag));
		}
		tr = &tq->reqs[ttag];
		if (le16toh(hdr->h2c_data.cccid) != tr->req.cmd.cid) {
			return osp_nvme_tcp_recv_fail(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
						      offsetof(struct osp_nvme_tcp_h2c_data_hdr, cccid));
		}
		if (datao != tr->h2c_off) {
			return osp_nvme_tcp_recv_fail(r, OSP_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE,
						      OSP_NVME_TCP_DATA_OFF_DATAO);
		}
		if (datal > tr->r2t_end - datao) {
			return osp_nvme_tcp_recv_fail(r, OSP_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE,
						      OSP_NVME_TCP_DATA_OFF_DATAL);
		}
		*iovcnt = req_bufs_iov(tr, datao, datal, iov, *iovcnt);
		tq->rx_h2c = tr;
		return 0;
	default:
		return osp_nvme_tcp_recv_fail(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
					      OSP_NVME_TCP_CH_OFF_PDU_TYPE);
	}
}

static int qpair_alloc_reqs(struct nvmf_tcp_qpair *tq);
static int nvmf_tcp_qpair_get_peer_addr(struct osp_nvmf_qpair *qpair,
					struct osp_nvmf_listen_addr *addr);

static int
handle_ic_req(struct nvmf_tcp_qpair *tq, const struct osp_nvme_tcp_ic_req *ic)
{
	uint8_t dgst = ic->dgst & (OSP_NVME_TCP_DGST_HDGST_ENABLE | OSP_NVME_TCP_DGST_DDGST_ENABLE);
	int rc;

	rc = qpair_alloc_reqs(tq);
	if (rc != 0) {
		return rc;
	}
	/* We compute both digests, so we enable what the host asks for (TCP §3.6.2). */
	tq->tx.hdgst = dgst & OSP_NVME_TCP_DGST_HDGST_ENABLE;
	tq->tx.ddgst = dgst & OSP_NVME_TCP_DGST_DDGST_ENABLE;
	tq->tx.pda = ic->hpda;
	tq->maxr2t = le32toh(ic->maxr2t);
	rc = osp_nvme_tcp_build_ic_resp(&tq->ctrl_wr.pdu, 0, dgst, NVMF_TCP_MAXH2CDATA);
	if (rc == 0) {
		rc = wr_queue(&tq->ctrl_wr);
	}
	if (rc == 0) {
		rc = osp_nvme_tcp_recv_set_params(&tq->rx, tq->tx.hdgst, tq->tx.ddgst, 0);
	}
	tq->ic_done = rc == 0;
	return rc;
}

static int
rx_done(struct osp_nvme_tcp_recv *r, void *cb_arg, const union osp_nvme_tcp_pdu_hdr *hdr,
	uint32_t data_len, bool ddgst_ok)
{
	struct nvmf_tcp_qpair *tq = cb_arg;
	struct nvmf_tcp_req *tr;
	int rc;

	if (tq->dead) {
		return -ECANCELED;
	}
	switch (hdr->ch.pdu_type) {
	case OSP_NVME_TCP_PDU_TYPE_IC_REQ:
		rc = handle_ic_req(tq, &hdr->ic_req);
		if (rc != 0) {
			return rc;
		}
		break;
	case OSP_NVME_TCP_PDU_TYPE_H2C_TERM_REQ:
		OSP_NOTICELOG("NVMe/TCP %s: host ended the connection (FES %#x)\n",
			      nvmf_tcp_qpair_name(tq), le16toh(hdr->term_req.fes));
		tq->pg->stat.term_reqs_received++;
		qpair_fail(tq);
		break;
	case OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD:
		if (data_len > 0) {
			tr = tq->rx_req;
			tq->rx_req = NULL;
			if (tr == NULL) {
				return -EINVAL;
			}
		} else {
			tr = req_get(tq);
			if (tr == NULL) {
				/* More commands than queue entries: hold it, read nothing more. */
				tq->stash = hdr->capsule_cmd.ccsqe;
				tq->stash_valid = true;
				qpair_rx_pause(tq);
				return -EAGAIN;
			}
		}
		capsule_start(tq, tr, &hdr->capsule_cmd.ccsqe, data_len, ddgst_ok);
		break;
	case OSP_NVME_TCP_PDU_TYPE_H2C_DATA:
		tr = tq->rx_h2c;
		tq->rx_h2c = NULL;
		if (tr != NULL) {
			h2c_data_done(tr, data_len, ddgst_ok);
		}
		break;
	default:
		break;
	}
	return tq->dead ? -ECANCELED : 0;
}

static void
rx_error(struct nvmf_tcp_qpair *tq, int rc)
{
	uint16_t fes;
	uint32_t fei;
	const void *hdr;
	size_t hdr_len;

	if (tq->dead) {
		return;
	}
	if (rc == -EPROTO && osp_nvme_tcp_recv_error(&tq->rx, &fes, &fei, &hdr, &hdr_len) == 0) {
		send_term_req(tq, fes, fei, hdr, hdr_len);
	} else if (rc != -ESHUTDOWN) {
		OSP_ERRLOG("NVMe/TCP %s: receive failed: %s\n", nvmf_tcp_qpair_name(tq),
			   strerror(-rc));
	}
	qpair_fail(tq);
}

/*
 * Receive what the socket holds: one recv() into the connection's buffer,
 * fed to the codec, or a readv() straight into the data buffers when the
 * codec waits for a large data region (zero copy for H2CData and big
 * in-capsule data). Returns the amount of work done.
 */
static int
qpair_rx(struct nvmf_tcp_qpair *tq)
{
	struct iovec iov[OSP_NVME_TCP_RECV_MAX_IOV];
	int work = 0, reads = 0, cnt, rc;
	bool drained = false;
	size_t want;
	ssize_t n;

	tq_hold(tq);
	while (!tq->dead) {
		if (tq->qpair.disconnecting) {
			qpair_fail(tq);
			break;
		}
		if (tq->stash_valid) {
			struct nvmf_tcp_req *tr = req_get(tq);

			if (tr == NULL) {
				qpair_rx_pause(tq);
				break;
			}
			tq->stash_valid = false;
			capsule_start(tq, tr, &tq->stash, 0, true);
			work++;
			continue;
		}
		if (tq->rbuf_off < tq->rbuf_len) {
			n = osp_nvme_tcp_recv_feed(&tq->rx, tq->rbuf + tq->rbuf_off,
						   tq->rbuf_len - tq->rbuf_off);
			if (n < 0) {
				rx_error(tq, (int)n);
				break;
			}
			if (n > 0) {
				work++;
			}
			tq->rbuf_off += (uint32_t)n;
			if (tq->rbuf_off < tq->rbuf_len) {
				/* A callback paused: no request or buffer free now. */
				if (!tq->dead) {
					qpair_rx_pause(tq);
				}
				break;
			}
			continue;
		}
		/*
		 * A read that got less than it asked for emptied the socket: no
		 * second read just to hear EAGAIN (epoll, or the socket group's
		 * busy polling, brings us back when more comes). Level-triggered
		 * epoll also brings us back after 5 reads: other connections' turn.
		 */
		if (drained || reads++ == 4) {
			break;
		}
		tq->rbuf_off = tq->rbuf_len = 0;
		if (tq->rbuf_big != NULL && tq->rbuf != tq->rbuf_big) {
			/* The ICReq is in: from now on read up to 64 KiB at a time. */
			tq->rbuf = tq->rbuf_big;
			tq->rbuf_cap = NVMF_TCP_RBUF_SIZE;
		}
		cnt = osp_nvme_tcp_recv_next_iov(&tq->rx, iov, (int)OSP_COUNTOF(iov));
		if (cnt < 0) {
			rx_error(tq, cnt);
			break;
		}
		if (cnt == 0) {
			if (!tq->dead) {
				qpair_rx_pause(tq);
			}
			break;
		}
		want = osp_iov_len(iov, cnt);
		if (want >= NVMF_TCP_ZCOPY_RECV_MIN) {
			n = osp_sock_readv(tq->sock, iov, cnt);
			if (n == -EAGAIN) {
				break;
			}
			if (n <= 0) {
				OSP_DEBUGLOG(nvmf_tcp, "%s: connection closed (%zd)\n",
					     nvmf_tcp_qpair_name(tq), n);
				qpair_fail(tq);
				break;
			}
			work++;
			drained = (size_t)n < want;
			rc = osp_nvme_tcp_recv_commit(&tq->rx, (size_t)n);
			if (rc < 0) {
				rx_error(tq, rc);
				break;
			}
			continue;
		}
		n = osp_sock_recv(tq->sock, tq->rbuf, tq->rbuf_cap);
		if (n == -EAGAIN) {
			break;
		}
		if (n <= 0) {
			OSP_DEBUGLOG(nvmf_tcp, "%s: connection closed (%zd)\n",
					     nvmf_tcp_qpair_name(tq), n);
			qpair_fail(tq);
			break;
		}
		tq->rbuf_len = (uint32_t)n;
		drained = (uint32_t)n < tq->rbuf_cap;
		work++;
	}
	tq_unhold(tq);
	return work;
}

static void
qpair_sock_cb(void *cb_arg, struct osp_sock_group *group, struct osp_sock *sock)
{
	struct nvmf_tcp_qpair *tq = cb_arg;

	tq->rx_paused = false;
	qpair_rx(tq);
}

/* ---------------------------------------------------------------- qpairs */

/* The connection completed Connect, or is going away: no longer counted. */
static void
qpair_admit_end(struct nvmf_tcp_qpair *tq)
{
	if (tq->unadmitted) {
		tq->unadmitted = false;
		__atomic_fetch_sub(&tq->tt->num_unadmitted, 1, __ATOMIC_RELAXED);
	}
}

static void
qpair_free_mem(struct nvmf_tcp_qpair *tq)
{
	qpair_admit_end(tq);
	osp_dma_free(tq->icd_area);
	free(tq->reqs);
	free(tq->rbuf_big);
	free(tq);
}

/*
 * At ICReq: the requests, their in-capsule data area and the large receive
 * buffer. qid and SQ size are unknown until Connect: room for the larger
 * queue. A connection that never sends ICReq never costs this.
 */
static int
qpair_alloc_reqs(struct nvmf_tcp_qpair *tq)
{
	const struct osp_nvmf_transport_opts *o = &tq->tt->opts;
	uint32_t i, n = OSP_MAX((uint32_t)o->max_queue_depth, o->max_aq_depth);

	if (tq->reqs != NULL) {
		return 0;
	}
	tq->reqs = calloc(n, sizeof(*tq->reqs));
	tq->rbuf_big = malloc(NVMF_TCP_RBUF_SIZE);
	if (tq->icd_unit > 0) {
		tq->icd_area = osp_dma_zmalloc((size_t)n * tq->icd_unit, 0, NULL);
	}
	if (tq->reqs == NULL || tq->rbuf_big == NULL || (tq->icd_unit > 0 && tq->icd_area == NULL)) {
		OSP_ERRLOG("NVMe/TCP: no memory for a connection's %u requests (%llu KiB of DMA "
			   "memory for in-capsule data): closing it\n", n,
			   (unsigned long long)n * tq->icd_unit >> 10);
		osp_dma_free(tq->icd_area);
		free(tq->reqs);
		free(tq->rbuf_big);
		tq->icd_area = NULL;
		tq->reqs = NULL;
		tq->rbuf_big = NULL;
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		struct nvmf_tcp_req *tr = &tq->reqs[i];

		tr->tq = tq;
		tr->ttag = (uint16_t)i;
		tr->req.qpair = &tq->qpair;
		tr->req.transport_ctx = tr;
		tr->data_wr.tq = tq;
		tr->data_wr.tr = tr;
		tr->rsp_wr.tq = tq;
		tr->rsp_wr.tr = tr;
		TAILQ_INSERT_TAIL(&tq->free_reqs, tr, link);
	}
	tq->nreqs = n;
	tq->free_count = n;
	return 0;
}

static struct nvmf_tcp_qpair *
qpair_create(struct nvmf_tcp_transport *tt, struct osp_sock *sock)
{
	const struct osp_nvmf_transport_opts *o = &tt->opts;
	struct osp_nvme_tcp_recv_opts ro = {};
	struct nvmf_tcp_qpair *tq;

	tq = calloc(1, sizeof(*tq));
	if (tq == NULL) {
		return NULL;
	}
	tq->icd_unit = o->in_capsule_data_size;
	tq->rbuf = tq->rbuf_ic;
	tq->rbuf_cap = sizeof(tq->rbuf_ic);
	tq->tt = tt;
	tq->sock = sock;
	tq->qpair.transport = &tt->transport;
	{
		char ip[OSP_SOCK_ADDR_STRLEN] = "?";
		uint16_t port = 0;

		osp_sock_getaddr(sock, NULL, 0, NULL, ip, sizeof(ip), &port);
		snprintf(tq->peer, sizeof(tq->peer), "%s:%u", ip, port);
	}
	TAILQ_INIT(&tq->free_reqs);
	tq->ctrl_wr.tq = tq;
	tq->term_wr.tq = tq;
	ro.role = OSP_NVME_TCP_ROLE_TARGET;
	ro.max_icd = OSP_MAX(tq->icd_unit, NVMF_TCP_ADMIN_ICD);
	ro.maxh2cdata = NVMF_TCP_MAXH2CDATA;
	ro.hdr_fn = rx_hdr;
	ro.done_fn = rx_done;
	ro.cb_arg = tq;
	osp_nvme_tcp_recv_init(&tq->rx, &ro);
	return tq;
}

/* A connection refused at accept: logged at most once a second, with the count. */
static void
accept_refuse_log(struct nvmf_tcp_transport *tt, struct osp_sock *sock)
{
	uint64_t now = osp_get_ticks();
	char ip[OSP_SOCK_ADDR_STRLEN] = "?";
	uint16_t port = 0;

	tt->refused_unlogged++;
	if (tt->refused_log_tick != 0 && now - tt->refused_log_tick < osp_get_ticks_hz()) {
		return;
	}
	osp_sock_getaddr(sock, NULL, 0, NULL, ip, sizeof(ip), &port);
	OSP_ERRLOG("NVMe/TCP: %u connections have not completed Connect yet: refusing new "
		   "ones (%" PRIu64 " refused, the latest from %s:%u)\n", NVMF_TCP_MAX_UNADMITTED,
		   tt->refused_unlogged, ip, port);
	tt->refused_unlogged = 0;
	tt->refused_log_tick = now;
}

/* Close a connection that did not complete ICReq and Connect in time. */
static void
qpair_admit_timeout(struct nvmf_tcp_qpair *tq)
{
	tq->pg->stat.admit_timeouts++;
	/* One line per connection; a flood of them is bounded by NVMF_TCP_MAX_UNADMITTED. */
	OSP_NOTICELOG("NVMe/TCP: closing the connection from %s: no %s within %u ms\n",
		      tq->peer, tq->ic_done ? "Connect" : "ICReq", NVMF_TCP_ADMIT_TIMEOUT_MS);
	qpair_fail(tq);
}

static uint32_t
nvmf_tcp_accept(struct osp_nvmf_transport *t, osp_nvmf_new_qpair_fn new_qpair, void *cb_arg)
{
	struct nvmf_tcp_transport *tt = tcp_transport(t);
	struct nvmf_tcp_listener *l;
	struct nvmf_tcp_qpair *tq;
	struct osp_sock *sock;
	uint32_t count = 0;

	TAILQ_FOREACH(l, &tt->listeners, link) {
		while ((sock = osp_sock_accept(l->sock)) != NULL) {
			if (__atomic_load_n(&tt->num_unadmitted, __ATOMIC_RELAXED) >=
			    NVMF_TCP_MAX_UNADMITTED) {
				accept_refuse_log(tt, sock);
				osp_sock_close(&sock);
				continue;
			}
			tq = qpair_create(tt, sock);
			if (tq == NULL) {
				OSP_ERRLOG("out of memory for a new NVMe/TCP connection\n");
				osp_sock_close(&sock);
				continue;
			}
			tq->unadmitted = true;
			__atomic_fetch_add(&tt->num_unadmitted, 1, __ATOMIC_RELAXED);
			tq->admit_deadline = osp_get_ticks() +
					     NVMF_TCP_ADMIT_TIMEOUT_MS * osp_get_ticks_hz() / 1000;
			count++;
			new_qpair(&tq->qpair, cb_arg);
		}
	}
	return count;
}

static void
qpair_do_fini(struct nvmf_tcp_qpair *tq)
{
	osp_nvmf_qpair_fini_cb cb = tq->fini_cb;
	void *arg = tq->fini_arg;
	uint32_t i;

	tq->finishing = true;
	tq->dead = true;
	if (tq->pg != NULL) {
		qpair_drop_unheld(tq);
		qpair_attn_remove(tq);
		if (tq->in_group_list) {
			TAILQ_REMOVE(&tq->pg->qpairs, tq, link);
			tq->in_group_list = false;
			tq->pg->stat.current_qpairs--;
		}
	}
	if (tq->sock != NULL) {
		qpair_sock_leave_group(tq);
		/* Last chance for a queued TermReq; then the rest is cancelled. */
		osp_sock_flush(tq->sock);
		osp_sock_close(&tq->sock);
	}
	for (i = 0; i < tq->nreqs; i++) {
		if (tq->reqs[i].state != TR_FREE) {
			req_put_bufs(&tq->reqs[i]);
		}
	}
	qpair_free_mem(tq);
	if (cb != NULL) {
		cb(arg);
	}
}

static void
nvmf_tcp_qpair_fini(struct osp_nvmf_qpair *qpair, osp_nvmf_qpair_fini_cb cb_fn, void *cb_arg)
{
	struct nvmf_tcp_qpair *tq = tcp_qpair(qpair);

	tq->fini_cb = cb_fn;
	tq->fini_arg = cb_arg;
	tq->dead = true;
	if (tq->ref > 0) {
		/* Called from inside our own call into the core: free on the way out. */
		tq->fini_pending = true;
		return;
	}
	qpair_do_fini(tq);
}

static int
fill_addr(struct osp_nvmf_listen_addr *addr, const char *ip, uint16_t port)
{
	memset(addr, 0, sizeof(*addr));
	addr->trtype = OSP_NVMF_TRTYPE_TCP;
	addr->adrfam = strchr(ip, ':') != NULL ? OSP_NVMF_ADRFAM_IPV6 : OSP_NVMF_ADRFAM_IPV4;
	snprintf(addr->traddr, sizeof(addr->traddr), "%s", ip);
	snprintf(addr->trsvcid, sizeof(addr->trsvcid), "%u", port);
	return 0;
}

static int
nvmf_tcp_qpair_get_peer_addr(struct osp_nvmf_qpair *qpair, struct osp_nvmf_listen_addr *addr)
{
	struct nvmf_tcp_qpair *tq = tcp_qpair(qpair);
	char ip[OSP_SOCK_ADDR_STRLEN];
	uint16_t port;
	int rc;

	if (tq->sock == NULL) {
		return -ENOTCONN;
	}
	rc = osp_sock_getaddr(tq->sock, NULL, 0, NULL, ip, sizeof(ip), &port);
	return rc != 0 ? rc : fill_addr(addr, ip, port);
}

static int
nvmf_tcp_qpair_get_local_addr(struct osp_nvmf_qpair *qpair, struct osp_nvmf_listen_addr *addr)
{
	struct nvmf_tcp_qpair *tq = tcp_qpair(qpair);
	char ip[OSP_SOCK_ADDR_STRLEN];
	uint16_t port;
	int rc;

	if (tq->sock == NULL) {
		return -ENOTCONN;
	}
	rc = osp_sock_getaddr(tq->sock, ip, sizeof(ip), &port, NULL, 0, NULL);
	return rc != 0 ? rc : fill_addr(addr, ip, port);
}

/* ---------------------------------------------------------------- poll groups */

static struct osp_nvmf_transport_poll_group *
nvmf_tcp_poll_group_create(struct osp_nvmf_transport *t)
{
	struct nvmf_tcp_transport *tt = tcp_transport(t);
	struct nvmf_tcp_poll_group *pg;

	pg = calloc(1, sizeof(*pg));
	if (pg == NULL) {
		return NULL;
	}
	pg->tt = tt;
	pg->group.transport = t;
	TAILQ_INIT(&pg->qpairs);
	TAILQ_INIT(&pg->fini_list);
	TAILQ_INIT(&pg->attn);
	/*
	 * The cache fills as I/O runs, never ahead, and iobuf clamps it so that
	 * the groups' caches cannot pin the whole pool (doc/nvmf_tcp.md).
	 */
	if (osp_iobuf_channel_init(&pg->iobuf, tt->buf_pool, tt->opts.buf_cache_size) != 0) {
		free(pg);
		return NULL;
	}
	pg->sock_group = osp_sock_group_create(pg);
	if (pg->sock_group == NULL) {
		osp_iobuf_channel_fini(&pg->iobuf);
		free(pg);
		return NULL;
	}
	return &pg->group;
}

static void
nvmf_tcp_poll_group_destroy(struct osp_nvmf_transport_poll_group *group)
{
	struct nvmf_tcp_poll_group *pg = tcp_group(group);
	struct nvmf_tcp_qpair *tq;

	while ((tq = TAILQ_FIRST(&pg->fini_list)) != NULL) {
		TAILQ_REMOVE(&pg->fini_list, tq, fini_link);
		qpair_do_fini(tq);
	}
	if (!TAILQ_EMPTY(&pg->qpairs)) {
		OSP_ERRLOG("NVMe/TCP poll group destroyed with connections\n");
	}
	osp_sock_group_close(&pg->sock_group);
	osp_iobuf_channel_fini(&pg->iobuf);
	free(pg);
}

static int
nvmf_tcp_poll_group_add(struct osp_nvmf_transport_poll_group *group, struct osp_nvmf_qpair *qpair)
{
	struct nvmf_tcp_poll_group *pg = tcp_group(group);
	struct nvmf_tcp_qpair *tq = tcp_qpair(qpair);
	int rc;

	rc = osp_sock_group_add_sock(pg->sock_group, tq->sock, qpair_sock_cb, tq);
	if (rc != 0) {
		return rc;
	}
	tq->pg = pg;
	tq->in_sock_group = true;
	tq->in_group_list = true;
	qpair->group = group;
	TAILQ_INSERT_TAIL(&pg->qpairs, tq, link);
	pg->stat.current_qpairs++;
	pg->stat.total_qpairs++;
	if (qpair->disconnecting) {
		qpair_attn(tq);
	}
	return 0;
}

static int
nvmf_tcp_poll_group_remove(struct osp_nvmf_transport_poll_group *group,
			   struct osp_nvmf_qpair *qpair)
{
	struct nvmf_tcp_poll_group *pg = tcp_group(group);
	struct nvmf_tcp_qpair *tq = tcp_qpair(qpair);

	if (tq->pg != pg) {
		return -ENOENT;
	}
	qpair_drop_unheld(tq);
	qpair_sock_leave_group(tq);
	qpair_attn_remove(tq);
	if (tq->in_group_list) {
		TAILQ_REMOVE(&pg->qpairs, tq, link);
		tq->in_group_list = false;
		pg->stat.current_qpairs--;
	}
	return 0;
}

/* The core started a disconnect: the next poll stops the connection. */
static void
nvmf_tcp_qpair_disconnect(struct osp_nvmf_qpair *qpair)
{
	qpair_attn(tcp_qpair(qpair));
}

static int
nvmf_tcp_poll_group_poll(struct osp_nvmf_transport_poll_group *group)
{
	struct nvmf_tcp_poll_group *pg = tcp_group(group);
	struct nvmf_tcp_qpair *tq, *tmp;
	uint64_t now = 0;
	uint32_t n;
	int work = 0, rc;

	if (__atomic_load_n(&pg->tt->num_unadmitted, __ATOMIC_RELAXED) > 0) {
		now = osp_get_ticks();
	}
	while ((tq = TAILQ_FIRST(&pg->fini_list)) != NULL) {
		TAILQ_REMOVE(&pg->fini_list, tq, fini_link);
		qpair_do_fini(tq);
		work++;
	}
	/*
	 * Requests waiting for data buffers are served by the iobuf channel's
	 * poller. The attn list: each qpair on it when the poll starts is
	 * looked at once (a receiver that pauses again goes back to the tail
	 * for the next poll); always taking the head keeps the walk correct
	 * when the work frees other qpairs of the list.
	 */
	for (n = pg->num_attn; n > 0; n--) {
		tq = TAILQ_FIRST(&pg->attn);
		if (tq == NULL) {
			break;
		}
		qpair_attn_remove(tq);
		if (tq->qpair.disconnecting && !tq->dead) {
			tq_hold(tq);
			qpair_fail(tq);
			tq_unhold(tq);
			work++;
		} else if (tq->rx_paused && !tq->dead) {
			tq->rx_paused = false;
			work += qpair_rx(tq);
		}
	}
	/* Only while some connection of the transport has not completed Connect. */
	if (now != 0) {
		TAILQ_FOREACH_SAFE(tq, &pg->qpairs, link, tmp) {
			if (tq->unadmitted && !tq->dead && now >= tq->admit_deadline &&
			    tq->free_count == tq->nreqs) {
				/* Nothing in flight (a Connect being processed is left alone). */
				tq_hold(tq);
				qpair_admit_timeout(tq);
				tq_unhold(tq);
				work++;
			}
		}
	}
	rc = osp_sock_group_poll(pg->sock_group);
	if (rc < 0) {
		return work > 0 ? work : rc;
	}
	return work + rc;
}

static void
nvmf_tcp_poll_group_dump_stat(struct osp_nvmf_transport_poll_group *group, cJSON *obj)
{
	struct nvmf_tcp_poll_group *pg = tcp_group(group);
	struct osp_sock_stats ss;
	struct nvmf_tcp_qpair *tq;
	uint64_t zc_sends = pg->stat.zcopy_sends, zc_copied = pg->stat.zcopy_copied;

	/* Zero-copy sends (sock_impl_set_options): connections gone, and those there now. */
	TAILQ_FOREACH(tq, &pg->qpairs, link) {
		if (tq->in_sock_group && osp_sock_get_stats(tq->sock, &ss) == 0) {
			zc_sends += ss.zcopy_sends;
			zc_copied += ss.zcopy_copied;
		}
	}
	osp_json_add_uint64(obj, "pending_data_buffer", pg->stat.pending_data_buffer);
	osp_json_add_uint64(obj, "current_qpairs", pg->stat.current_qpairs);
	osp_json_add_uint64(obj, "total_qpairs", pg->stat.total_qpairs);
	osp_json_add_uint64(obj, "capsules", pg->stat.capsules);
	osp_json_add_uint64(obj, "r2t_sent", pg->stat.r2t_sent);
	osp_json_add_uint64(obj, "c2h_pdus", pg->stat.c2h_pdus);
	osp_json_add_uint64(obj, "term_reqs_sent", pg->stat.term_reqs_sent);
	osp_json_add_uint64(obj, "term_reqs_received", pg->stat.term_reqs_received);
	osp_json_add_uint64(obj, "data_digest_errors", pg->stat.data_digest_errors);
	osp_json_add_uint64(obj, "admit_timeouts", pg->stat.admit_timeouts);
	osp_json_add_uint64(obj, "buf_cache_count", pg->iobuf.cache_count);
	osp_json_add_uint64(obj, "zcopy_sends", zc_sends);
	osp_json_add_uint64(obj, "zcopy_copied", zc_copied);
}

static const struct osp_nvmf_transport_ops g_nvmf_tcp_ops = {
	.name = "TCP",
	.type = OSP_NVMF_TRTYPE_TCP,
	.opts_init = nvmf_tcp_opts_init,
	.create = nvmf_tcp_create,
	.destroy = nvmf_tcp_destroy,
	.listen = nvmf_tcp_listen,
	.stop_listen = nvmf_tcp_stop_listen,
	.accept = nvmf_tcp_accept,
	.listener_discover = nvmf_tcp_listener_discover,
	.poll_group_create = nvmf_tcp_poll_group_create,
	.poll_group_destroy = nvmf_tcp_poll_group_destroy,
	.poll_group_add = nvmf_tcp_poll_group_add,
	.poll_group_remove = nvmf_tcp_poll_group_remove,
	.poll_group_poll = nvmf_tcp_poll_group_poll,
	.req_complete = nvmf_tcp_req_complete,
	.req_free = nvmf_tcp_req_free,
	.qpair_fini = nvmf_tcp_qpair_fini,
	.qpair_disconnect = nvmf_tcp_qpair_disconnect,
	.qpair_get_peer_addr = nvmf_tcp_qpair_get_peer_addr,
	.qpair_get_local_addr = nvmf_tcp_qpair_get_local_addr,
	.dump_opts = nvmf_tcp_dump_opts,
	.poll_group_dump_stat = nvmf_tcp_poll_group_dump_stat,
};

OSP_NVMF_TRANSPORT_REGISTER(tcp, &g_nvmf_tcp_ops)
