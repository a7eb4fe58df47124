/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the NVMe/TCP target transport's receive path
 * (lib/nvmf/tcp.c, compiled in) with fake sockets, a fake buffer pool and a
 * fake core: the fuzz input is what the host sends on one connection.
 *
 * Input layout: byte 0 = mode, byte 1 = PRNG seed, the rest = the stream.
 * Seed bit 0: the core frees the qpair from inside osp_nvmf_qpair_disconnect
 * when it holds no request (the transport must defer the free).
 *
 *   mode bit 0: prepend a valid ICReq (digests chosen by bits 5-6)
 *   mode bit 1: prepend a valid admin Connect (needs bit 0)
 *   mode bit 2: the socket returns the stream in random pieces (else all at once)
 *   mode bit 3: the peer closes the connection after the stream (else it stays open)
 *   mode bit 4: the core holds some requests and completes them later (PRNG)
 *   mode bit 5/6: ICReq asks for header / data digests
 *   mode bit 7: tight resources: 2 data buffers, socket writes fail sometimes
 *
 * Invariants checked (abort() on violation; ASan/UBSan catch memory errors):
 * - every byte the target sends parses as valid C2H PDUs (a host-role
 *   codec reads them), data digests included, nothing after a C2HTermReq;
 * - the core never gets a request after the qpair was disconnected;
 * - after the core's teardown every data buffer is back in the pool;
 * - no leak (LeakSanitizer) and the run stays bounded.
 *
 * Build (as test/fuzz/run.sh builds the codec harness, plus -lcjson):
 *   clang -std=gnu11 -g -O1 -D_GNU_SOURCE -msse4.2 -fno-omit-frame-pointer -I include \
 *     -I /usr/include/cjson -fsanitize=fuzzer,address,undefined \
 *     -fno-sanitize-recover=undefined test/fuzz/nvmf_tcp_fuzz.c lib/nvme_tcp_codec/pdu.c \
 *     lib/util/util.c lib/util/iov.c -lcjson -o build/fuzz/nvmf_tcp_fuzz
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/nvmf/tcp.c"
#include "osprey_internal/sock_module.h"	/* the fake socket layer embeds struct osp_sock */

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                    \
			abort();                                                           \
		}                                                                          \
	} while (0)

/* ---------------------------------------------------------------- state */

static struct {
	uint8_t mode;
	uint32_t rng;
	const uint8_t *in;
	size_t in_len;
	size_t in_off;
	bool eof_sent;
	bool sock_failed;
	/* fake core */
	struct osp_nvmf_request *held[256];
	int nheld;
	bool disconnected;
	/* output checker */
	struct osp_nvme_tcp_recv host;
	bool host_terminated;
	uint8_t scratch[256 * 1024];
	struct nvmf_tcp_qpair *tq;
	uint8_t hpda;
	bool sync_fini;
	bool finished;
	struct osp_nvmf_transport_poll_group *pg;
	const struct osp_nvmf_transport_ops *ops;
} g;

static uint32_t
rnd(void)
{
	g.rng = g.rng * 1103515245u + 12345u;
	return g.rng >> 8;
}

/* ---------------------------------------------------------------- stubs: nvmf, log, json */

void
osp_nvmf_transport_register(const struct osp_nvmf_transport_ops *ops)
{
	(void)ops;
}

void
osp_log(enum osp_log_level level, const char *file, int line, const char *func,
	const char *format, ...)
{
	(void)level;
	(void)file;
	(void)line;
	(void)func;
	(void)format;
}

void
osp_log_register_flag(struct osp_log_flag *flag)
{
	(void)flag;
}

cJSON *
osp_json_add_uint64(cJSON *obj, const char *name, uint64_t val)
{
	return cJSON_AddNumberToObject(obj, name, (double)val);
}

/* ---------------------------------------------------------------- stubs: env */

/*
 * iobuf: one malloc per buffer (ASan sees an overrun of any of them), no
 * cache; waiters are served by fuzz_iobuf_serve(), which the poll loop calls
 * as the real channel's poller would run.
 */
struct osp_iobuf_pool {
	uint32_t count;
	uint32_t reserve;
	uint32_t nfree;
	void **free;
	void **all;
};

struct osp_iobuf_pool *
osp_iobuf_pool_create(const char *name, uint32_t bufsize, uint32_t count, uint32_t reserve)
{
	struct osp_iobuf_pool *pool = calloc(1, sizeof(*pool));
	uint32_t i;

	(void)name;
	CHECK(reserve >= 1 && reserve <= count);
	pool->count = count;
	pool->reserve = reserve;
	pool->free = calloc(count, sizeof(void *));
	pool->all = calloc(count, sizeof(void *));
	for (i = 0; i < count; i++) {
		pool->all[i] = malloc(bufsize);
		pool->free[i] = pool->all[i];
	}
	pool->nfree = count;
	return pool;
}

void
osp_iobuf_pool_free(struct osp_iobuf_pool *pool)
{
	uint32_t i;

	for (i = 0; i < pool->count; i++) {
		free(pool->all[i]);
	}
	free(pool->all);
	free(pool->free);
	free(pool);
}

size_t
osp_iobuf_pool_get_free(const struct osp_iobuf_pool *pool)
{
	return pool->nfree;
}

void
osp_iobuf_pool_put(struct osp_iobuf_pool *pool, void *buf)
{
	CHECK(pool->nfree < pool->count);
	pool->free[pool->nfree++] = buf;
}

int
osp_iobuf_channel_init(struct osp_iobuf_channel *ch, struct osp_iobuf_pool *pool,
		       uint32_t cache_size)
{
	(void)cache_size;
	memset(ch, 0, sizeof(*ch));
	ch->pool = pool;
	STAILQ_INIT(&ch->waitq);
	return 0;
}

void
osp_iobuf_channel_fini(struct osp_iobuf_channel *ch)
{
	CHECK(STAILQ_EMPTY(&ch->waitq));
	ch->pool = NULL;
}

static bool
fuzz_iobuf_take(struct osp_iobuf_pool *pool, void **bufs, uint32_t count)
{
	uint32_t i;

	if (pool->nfree < count) {
		return false;
	}
	for (i = 0; i < count; i++) {
		bufs[i] = pool->free[--pool->nfree];
	}
	return true;
}

int
osp_iobuf_get_bulk(struct osp_iobuf_channel *ch, void **bufs, uint32_t count,
		   struct osp_iobuf_entry *entry, osp_iobuf_get_cb cb_fn)
{
	if (count == 0 || count > ch->pool->reserve) {
		return -EINVAL;
	}
	if (STAILQ_EMPTY(&ch->waitq) && fuzz_iobuf_take(ch->pool, bufs, count)) {
		return 0;
	}
	if (entry != NULL) {
		entry->cb_fn = cb_fn;
		entry->bufs = bufs;
		entry->count = count;
		STAILQ_INSERT_TAIL(&ch->waitq, entry, link);
	}
	return -EAGAIN;
}

void
osp_iobuf_put(struct osp_iobuf_channel *ch, void *buf)
{
	osp_iobuf_pool_put(ch->pool, buf);
}

void
osp_iobuf_entry_abort(struct osp_iobuf_channel *ch, struct osp_iobuf_entry *entry)
{
	struct osp_iobuf_entry *e;

	STAILQ_FOREACH(e, &ch->waitq, link) {
		if (e == entry) {
			STAILQ_REMOVE(&ch->waitq, entry, osp_iobuf_entry, link);
			return;
		}
	}
}

/* The channel poller's job: serve waiters, oldest first. Returns how many. */
static int
fuzz_iobuf_serve(struct osp_iobuf_channel *ch)
{
	struct osp_iobuf_entry *e;
	int n = 0;

	while ((e = STAILQ_FIRST(&ch->waitq)) != NULL && fuzz_iobuf_take(ch->pool, e->bufs, e->count)) {
		STAILQ_REMOVE_HEAD(&ch->waitq, link);
		e->cb_fn(e, e->bufs);
		n++;
	}
	return n;
}

void *
osp_dma_zmalloc(size_t size, size_t align, uint64_t *phys_addr)
{
	(void)align;
	(void)phys_addr;
	return calloc(1, size);
}

void
osp_dma_free(void *buf)
{
	free(buf);
}

/* Time stands still: the admission timeout never fires during a run. */
uint64_t
osp_get_ticks(void)
{
	return 0;
}

uint64_t
osp_get_ticks_hz(void)
{
	return 1000;
}

/* ---------------------------------------------------------------- stubs: sockets */

struct fsock {
	struct osp_sock base;
	bool listening;
	bool accepted;
};

struct osp_sock_group {
	void *ctx;
	struct fsock *sock;
};

static struct fsock *g_conn;

void
osp_sock_get_default_opts(struct osp_sock_opts *opts, size_t opts_size)
{
	memset(opts, 0, opts_size);
	opts->opts_size = opts_size;
}

struct osp_sock *
osp_sock_listen(const char *ip, int port, const char *impl_name, const struct osp_sock_opts *opts)
{
	struct fsock *s = calloc(1, sizeof(*s));

	s->listening = true;
	TAILQ_INIT(&s->base.queued_reqs);
	return &s->base;
}

struct osp_sock *
osp_sock_accept(struct osp_sock *sock)
{
	struct fsock *l = (struct fsock *)sock, *s;

	if (l->accepted) {
		errno = EAGAIN;
		return NULL;
	}
	l->accepted = true;
	s = calloc(1, sizeof(*s));
	TAILQ_INIT(&s->base.queued_reqs);
	g_conn = s;
	return &s->base;
}

/* What the target sent goes through a host-role codec. */
static void
check_output(const struct osp_sock_request *req)
{
	int i;
	ssize_t rc;

	for (i = 0; i < req->iovcnt; i++) {
		CHECK(!g.host_terminated);
		rc = osp_nvme_tcp_recv_feed(&g.host, req->iov[i].iov_base, req->iov[i].iov_len);
		if (rc != (ssize_t)req->iov[i].iov_len) {
			uint16_t fes = 0;
			uint32_t fei = 0;

			osp_nvme_tcp_recv_error(&g.host, &fes, &fei, NULL, NULL);
			fprintf(stderr, "target sent a bad PDU: rc %zd FES %u FEI %u\n", rc, fes, fei);
			abort();
		}
	}
}

static int
complete_queue(struct fsock *s, int err)
{
	TAILQ_HEAD(, osp_sock_request) list;
	struct osp_sock_request *req;
	int n = 0;

	/* Detach first, as lib/sock does: a completion may close the socket. */
	TAILQ_INIT(&list);
	TAILQ_CONCAT(&list, &s->base.queued_reqs, internal.link);
	while ((req = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, req, internal.link);
		if (err == 0 && (g.mode & 0x80) && rnd() % 64 == 0) {
			g.sock_failed = true;
		}
		if (err == 0 && g.sock_failed) {
			/* A broken connection fails this write and every later one. */
			err = -EPIPE;
		}
		if (err == 0) {
			check_output(req);
		}
		req->cb_fn(req->cb_arg, err);
		n++;
	}
	return n;
}

int
osp_sock_close(struct osp_sock **psock)
{
	struct fsock *s;

	if (psock == NULL || *psock == NULL) {
		return -EBADF;
	}
	s = (struct fsock *)*psock;
	*psock = NULL;
	s->base.closing = true;
	complete_queue(s, -ECANCELED);
	if (s == g_conn) {
		g_conn = NULL;
	}
	free(s);
	return 0;
}

int
osp_sock_getaddr(struct osp_sock *sock, char *saddr, int slen, uint16_t *sport, char *caddr,
		 int clen, uint16_t *cport)
{
	if (saddr) {
		snprintf(saddr, slen, "127.0.0.1");
	}
	if (caddr) {
		snprintf(caddr, clen, "127.0.0.1");
	}
	if (sport) {
		*sport = 4420;
	}
	if (cport) {
		*cport = 50000;
	}
	return 0;
}

static size_t
in_chunk(size_t want)
{
	size_t left = g.in_len - g.in_off;
	size_t n = OSP_MIN(want, left);

	if ((g.mode & 0x04) && n > 1) {
		n = 1 + rnd() % n;
	}
	return n;
}

ssize_t
osp_sock_recv(struct osp_sock *sock, void *buf, size_t len)
{
	size_t n;

	if (g.in_off == g.in_len) {
		if (g.mode & 0x08) {
			g.eof_sent = true;
			return 0;
		}
		return -EAGAIN;
	}
	n = in_chunk(len);
	memcpy(buf, g.in + g.in_off, n);
	g.in_off += n;
	return (ssize_t)n;
}

ssize_t
osp_sock_readv(struct osp_sock *sock, struct iovec *iov, int iovcnt)
{
	ssize_t total = 0;
	int i;

	for (i = 0; i < iovcnt; i++) {
		ssize_t n = osp_sock_recv(sock, iov[i].iov_base, iov[i].iov_len);

		if (n <= 0) {
			return total > 0 ? total : n;
		}
		total += n;
		if ((size_t)n < iov[i].iov_len) {
			break;
		}
	}
	return total;
}

int
osp_sock_writev_async(struct osp_sock *sock, struct osp_sock_request *req)
{
	if (req->cb_fn == NULL || req->iovcnt < 0) {
		return -EINVAL;
	}
	if (sock->closing) {
		return -EBADF;
	}
	if (req->iovcnt > 0 && req->iov[0].iov_len > 0 &&
	    *(uint8_t *)req->iov[0].iov_base == OSP_NVME_TCP_PDU_TYPE_IC_RESP && g.tq != NULL) {
		/* The checker needs the HPDA when this ICResp reaches it, maybe after a free. */
		g.hpda = g.tq->tx.pda;
	}
	TAILQ_INSERT_TAIL(&sock->queued_reqs, req, internal.link);
	return 0;
}

ssize_t
osp_sock_flush(struct osp_sock *sock)
{
	complete_queue((struct fsock *)sock, 0);
	return 0;
}

/* The fake socket makes no zero-copy sends: its counters stay 0. */
int
osp_sock_get_stats(struct osp_sock *sock, struct osp_sock_stats *stats)
{
	(void)sock;
	memset(stats, 0, sizeof(*stats));
	return 0;
}

struct osp_sock_group *
osp_sock_group_create(void *ctx)
{
	struct osp_sock_group *grp = calloc(1, sizeof(*grp));

	grp->ctx = ctx;
	return grp;
}

int
osp_sock_group_add_sock(struct osp_sock_group *group, struct osp_sock *sock, osp_sock_cb cb_fn,
			void *cb_arg)
{
	if (group->sock != NULL) {
		return -EBUSY;
	}
	group->sock = (struct fsock *)sock;
	sock->cb_fn = cb_fn;
	sock->cb_arg = cb_arg;
	return 0;
}

int
osp_sock_group_remove_sock(struct osp_sock_group *group, struct osp_sock *sock)
{
	if (group->sock != (struct fsock *)sock) {
		return -ENOENT;
	}
	group->sock = NULL;
	return 0;
}

int
osp_sock_group_poll(struct osp_sock_group *group)
{
	struct fsock *s = group->sock;
	int n;

	if (s == NULL) {
		return 0;
	}
	n = complete_queue(s, 0);
	s = group->sock;	/* a completion may have removed it */
	if (s != NULL && (g.in_off < g.in_len || ((g.mode & 0x08) && !g.eof_sent))) {
		s->base.cb_fn(s->base.cb_arg, group, &s->base);
		n++;
	}
	return n;
}

int
osp_sock_group_close(struct osp_sock_group **group)
{
	CHECK((*group)->sock == NULL);
	free(*group);
	*group = NULL;
	return 0;
}

/* ---------------------------------------------------------------- fake core */

static void
core_complete(struct osp_nvmf_request *req)
{
	uint32_t i;

	memset(&req->rsp, 0, sizeof(req->rsp));
	req->rsp.cid = req->cmd.cid;
	if (req->xfer == OSP_NVMF_XFER_CONTROLLER_TO_HOST) {
		for (i = 0; i < req->iovcnt; i++) {
			memset(req->iov[i].iov_base, (int)i, req->iov[i].iov_len);
		}
	}
	switch (rnd() % 8) {
	case 0:
		req->rsp.status.sc = OSP_NVME_SC_INVALID_FIELD;
		break;
	case 1:
		req->rsp.cdw0 = 1;
		break;
	default:
		break;
	}
	g.ops->req_complete(req);
}

void
osp_nvmf_request_exec(struct osp_nvmf_request *req)
{
	uint32_t i, sum = 0;
	size_t j;

	CHECK(!req->qpair->disconnecting);
	CHECK(req->iovcnt <= OSP_NVMF_MAX_REQ_IOVS);
	if (req->xfer == OSP_NVMF_XFER_HOST_TO_CONTROLLER) {
		/* Read every data byte: ASan checks the iovecs. */
		for (i = 0; i < req->iovcnt; i++) {
			for (j = 0; j < req->iov[i].iov_len; j++) {
				sum += ((uint8_t *)req->iov[i].iov_base)[j];
			}
		}
	}
	(void)sum;
	if ((g.mode & 0x10) && g.nheld < (int)OSP_COUNTOF(g.held) && rnd() % 2) {
		g.held[g.nheld++] = req;
		return;
	}
	core_complete(req);
}

static void
core_fini(struct osp_nvmf_qpair *qpair)
{
	g.finished = true;
	g.tq = NULL;
	CHECK(nvmf_tcp_poll_group_remove(g.pg, qpair) == 0);
	nvmf_tcp_qpair_fini(qpair, NULL, NULL);
}

void
osp_nvmf_qpair_disconnect(struct osp_nvmf_qpair *qpair)
{
	CHECK(!g.finished);
	qpair->disconnecting = true;
	/* As the core does: tell the transport. */
	qpair->transport->ops->qpair_disconnect(qpair);
	g.disconnected = true;
	if (g.sync_fini && g.nheld == 0) {
		core_fini(qpair);
	}
}

static void
core_release_some(bool all)
{
	int i = 0;

	while (i < g.nheld) {
		if (all || rnd() % 2) {
			struct osp_nvmf_request *req = g.held[i];

			g.held[i] = g.held[--g.nheld];
			core_complete(req);
		} else {
			i++;
		}
	}
}

/* ---------------------------------------------------------------- output checker */

static int
host_hdr(struct osp_nvme_tcp_recv *r, void *cb_arg, const union osp_nvme_tcp_pdu_hdr *hdr,
	 uint32_t data_len, struct iovec *iov, int *iovcnt)
{
	CHECK(data_len <= sizeof(g.scratch));
	iov[0].iov_base = g.scratch;
	iov[0].iov_len = data_len;
	*iovcnt = 1;
	return 0;
}

static int
host_done(struct osp_nvme_tcp_recv *r, void *cb_arg, const union osp_nvme_tcp_pdu_hdr *hdr,
	  uint32_t data_len, bool ddgst_ok)
{
	CHECK(ddgst_ok);
	switch (hdr->ch.pdu_type) {
	case OSP_NVME_TCP_PDU_TYPE_IC_RESP:
		CHECK(hdr->ic_resp.cpda == 0);
		return osp_nvme_tcp_recv_set_params(r, hdr->ic_resp.dgst & 1, hdr->ic_resp.dgst & 2,
						    g.hpda);
	case OSP_NVME_TCP_PDU_TYPE_C2H_TERM_REQ:
		g.host_terminated = true;
		break;
	default:
		break;
	}
	return 0;
}

/* ---------------------------------------------------------------- driver */

static struct osp_nvmf_qpair *g_new;

static void
new_qpair(struct osp_nvmf_qpair *qpair, void *cb_arg)
{
	g_new = qpair;
}

static size_t
build_prefix(uint8_t *buf)
{
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_tcp_send_params p = {
		.hdgst = g.mode & 0x20, .ddgst = g.mode & 0x40, .pda = 0,
	};
	size_t len = 0;

	if (!(g.mode & 0x01)) {
		return 0;
	}
	osp_nvme_tcp_build_ic_req(&pdu, 0, (p.hdgst ? 1 : 0) | (p.ddgst ? 2 : 0), 0);
	memcpy(buf, pdu.raw, pdu.plen);
	len = pdu.plen;
	if (g.mode & 0x02) {
		struct osp_nvmf_connect_cmd cc;
		struct osp_nvme_cmd cmd;
		struct osp_nvme_sgl_descriptor sgl = {0};
		static uint8_t data[1024];
		struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
		int i;

		memset(&cc, 0, sizeof(cc));
		cc.opcode = OSP_NVMF_FABRIC_OPCODE;
		cc.fctype = OSP_NVMF_FCTYPE_CONNECT;
		cc.cattr = OSP_NVMF_CONNECT_CATTR_DISABLE_SQ_FLOW_CONTROL;
		sgl.unkeyed.length = sizeof(data);
		sgl.generic.subtype = OSP_NVME_SGL_SUBTYPE_OFFSET;
		memcpy(&cmd, &cc, sizeof(cmd));
		memcpy(&cmd.prp1, &sgl, sizeof(sgl));
		osp_nvme_tcp_build_capsule_cmd(&pdu, &p, &cmd, &iov, 1);
		for (i = 0; i < pdu.iovcnt; i++) {
			memcpy(buf + len, pdu.iov[i].iov_base, pdu.iov[i].iov_len);
			len += pdu.iov[i].iov_len;
		}
	}
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t stream[2048 + 65536];
	struct osp_nvmf_transport_opts o = {.opts_size = sizeof(o)};
	struct osp_nvme_tcp_recv_opts ho = {};
	struct osp_nvmf_transport *t = NULL;
	struct osp_nvmf_transport_poll_group *pg;
	struct osp_nvmf_listen_addr a = {};
	struct nvmf_tcp_transport *tt;
	char err[256];
	size_t plen, i;
	int idle = 0;

	if (size < 2 || size - 2 > 65536) {
		return 0;
	}
	memset(&g, 0, sizeof(g));
	g.ops = &g_nvmf_tcp_ops;
	g.mode = data[0];
	g.rng = data[1];
	g.sync_fini = data[1] & 1;
	plen = build_prefix(stream);
	memcpy(stream + plen, data + 2, size - 2);
	g.in = stream;
	g.in_len = plen + size - 2;

	ho.role = OSP_NVME_TCP_ROLE_HOST;
	ho.max_c2h_data = NVMF_TCP_C2H_PDU_MAX;
	ho.hdr_fn = host_hdr;
	ho.done_fn = host_done;
	CHECK(osp_nvme_tcp_recv_init(&g.host, &ho) == 0);

	nvmf_tcp_opts_init(&o);
	o.max_queue_depth = 8;
	o.max_aq_depth = 8;
	o.io_unit_size = 8192;
	o.max_io_size = 65536;
	o.num_shared_buffers = (g.mode & 0x80) ? 8 : 64;
	o.buf_cache_size = 2;
	CHECK(nvmf_tcp_create(&o, &t, err, sizeof(err)) == 0);
	tt = tcp_transport(t);
	a.trtype = OSP_NVMF_TRTYPE_TCP;
	a.adrfam = OSP_NVMF_ADRFAM_IPV4;
	snprintf(a.traddr, sizeof(a.traddr), "127.0.0.1");
	snprintf(a.trsvcid, sizeof(a.trsvcid), "4420");
	CHECK(nvmf_tcp_listen(t, &a) == 0);
	pg = nvmf_tcp_poll_group_create(t);
	CHECK(pg != NULL);
	g.pg = pg;
	g_new = NULL;
	CHECK(nvmf_tcp_accept(t, new_qpair, NULL) == 1 && g_new != NULL);
	g.tq = tcp_qpair(g_new);
	CHECK(nvmf_tcp_poll_group_add(pg, g_new) == 0);

	for (i = 0; i < 100000 && idle < 4 && !g.finished; i++) {
		int rc = nvmf_tcp_poll_group_poll(pg);

		CHECK(rc >= 0);
		rc += fuzz_iobuf_serve(&tcp_group(pg)->iobuf);
		if (g.nheld > 0) {
			core_release_some(false);
			rc++;
		}
		idle = rc == 0 ? idle + 1 : 0;
	}
	CHECK(i < 100000);

	/* The core's teardown: disconnect, drain, remove, fini. */
	if (!g.finished) {
		g.sync_fini = false;
		if (!g_new->disconnecting) {
			osp_nvmf_qpair_disconnect(g_new);
		}
		nvmf_tcp_poll_group_poll(pg);
		core_release_some(true);
		core_fini(g_new);
	}
	CHECK(g.nheld == 0);
	nvmf_tcp_poll_group_destroy(pg);
	CHECK(osp_iobuf_pool_get_free(tt->buf_pool) == o.num_shared_buffers);
	nvmf_tcp_stop_listen(t, &a);
	nvmf_tcp_destroy(t, NULL, NULL);
	return 0;
}

#ifdef NVMF_TCP_FUZZ_GEN_SEEDS
/*
 * Seed writer (build with -DNVMF_TCP_FUZZ_GEN_SEEDS and without
 * -fsanitize=fuzzer): valid command streams after the IC/Connect prefix, so
 * the fuzzer starts past the headers. Usage: nvmf_tcp_fuzz_seeds <dir>
 */
static size_t
seed_cmds(uint8_t *buf, bool hd, bool dd)
{
	struct osp_nvme_tcp_send_params p = {.hdgst = hd, .ddgst = dd};
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cmd cmd;
	struct osp_nvme_sgl_descriptor sgl;
	static uint8_t data[8192];
	struct iovec iov = {.iov_base = data, .iov_len = 1024};
	size_t len = 0;
	int i;

#define PUT(pdu_)                                                                   \
	for (i = 0; i < (pdu_).iovcnt; i++) {                                       \
		memcpy(buf + len, (pdu_).iov[i].iov_base, (pdu_).iov[i].iov_len);   \
		len += (pdu_).iov[i].iov_len;                                       \
	}
	/* write 1 KiB in the capsule (cid 1) */
	memset(&cmd, 0, sizeof(cmd));
	memset(&sgl, 0, sizeof(sgl));
	cmd.opc = OSP_NVME_OPC_WRITE;
	cmd.cid = 1;
	sgl.unkeyed.length = 1024;
	sgl.generic.subtype = OSP_NVME_SGL_SUBTYPE_OFFSET;
	memcpy(&cmd.prp1, &sgl, sizeof(sgl));
	osp_nvme_tcp_build_capsule_cmd(&pdu, &p, &cmd, &iov, 1);
	PUT(pdu);
	/* read 6000 bytes (cid 2) */
	cmd.opc = OSP_NVME_OPC_READ;
	cmd.cid = 2;
	sgl.unkeyed.length = 6000;
	sgl.generic.type = OSP_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
	sgl.generic.subtype = OSP_NVME_SGL_SUBTYPE_TRANSPORT;
	memcpy(&cmd.prp1, &sgl, sizeof(sgl));
	osp_nvme_tcp_build_capsule_cmd(&pdu, &p, &cmd, NULL, 0);
	PUT(pdu);
	/* write 6000 bytes through R2T (cid 3; the 4th request: TTAG 3) in two H2CData */
	cmd.opc = OSP_NVME_OPC_WRITE;
	cmd.cid = 3;
	osp_nvme_tcp_build_capsule_cmd(&pdu, &p, &cmd, NULL, 0);
	PUT(pdu);
	iov.iov_len = 4000;
	osp_nvme_tcp_build_h2c_data(&pdu, &p, 3, 3, 0, &iov, 1, false);
	PUT(pdu);
	iov.iov_len = 2000;
	osp_nvme_tcp_build_h2c_data(&pdu, &p, 3, 3, 4000, &iov, 1, true);
	PUT(pdu);
	/* flush (cid 4) and the host's TermReq */
	cmd.opc = OSP_NVME_OPC_FLUSH;
	cmd.cid = 4;
	osp_nvme_tcp_build_capsule_cmd(&pdu, &p, &cmd, NULL, 0);
	PUT(pdu);
	osp_nvme_tcp_build_term_req(&pdu, OSP_NVME_TCP_ROLE_HOST, 1, 0, NULL, 0);
	PUT(pdu);
#undef PUT
	return len;
}

int
main(int argc, char **argv)
{
	static const uint8_t modes[] = {0x03, 0x07, 0x0b, 0x13, 0x63, 0x67, 0x83, 0x9f};
	static uint8_t buf[65536];
	char path[512];
	size_t i, len;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: %s <seed dir>\n", argv[0]);
		return 1;
	}
	for (i = 0; i < sizeof(modes); i++) {
		buf[0] = modes[i];
		buf[1] = (uint8_t)(i * 37);
		len = 2 + seed_cmds(buf + 2, modes[i] & 0x20, modes[i] & 0x40);
		snprintf(path, sizeof(path), "%s/nvmf_tcp_seed_%02x", argv[1], modes[i]);
		f = fopen(path, "wb");
		if (f == NULL || fwrite(buf, 1, len, f) != len) {
			perror(path);
			return 1;
		}
		fclose(f);
	}
	return 0;
}
#endif
