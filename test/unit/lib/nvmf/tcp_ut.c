/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the NVMe/TCP target transport (lib/nvmf/tcp.c compiled in)
 * over real loopback TCP connections (ports picked free at run time), with a hand-written
 * NVMe/TCP host built from the lib/nvme_tcp_codec builders and a fake core that
 * answers reads with a pattern and records writes. The poll group is polled
 * by hand: no threads, no sleeps beyond waiting for the loopback socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "osprey_internal/sock_module.h"
#include "nvmf/tcp.c"

#include "ut_env.h"
#include "ut_thread.h"
#include "ut_port.h"
#include "ut_run.h"

/* ---------------------------------------------------------------- fake core */

static const struct osp_nvmf_transport_ops *g_registered;

void
osp_nvmf_transport_register(const struct osp_nvmf_transport_ops *ops)
{
	g_registered = ops;
}

#define MAX_HELD 64

static struct {
	int execs;
	int disconnects;
	bool hold;
	/* Tear the qpair down from inside osp_nvmf_qpair_disconnect (when nothing is held). */
	bool sync_fini;
	struct osp_nvmf_qpair *finished;
	struct osp_nvmf_request *held[MAX_HELD];
	int nheld;
	/* last command seen */
	struct osp_nvme_cmd cmd;
	enum osp_nvmf_data_xfer xfer;
	uint32_t length;
	uint8_t data[512 * 1024];
} g_core;

static uint8_t
pattern(uint32_t i, uint32_t seed)
{
	return (uint8_t)(i * 7 + seed);
}

static void
core_complete(struct osp_nvmf_request *req)
{
	uint32_t i, off = 0;

	memset(&req->rsp, 0, sizeof(req->rsp));
	req->rsp.cid = req->cmd.cid;
	if (req->xfer == OSP_NVMF_XFER_CONTROLLER_TO_HOST) {
		for (i = 0; i < req->iovcnt; i++) {
			uint8_t *p = req->iov[i].iov_base;
			size_t j;

			for (j = 0; j < req->iov[i].iov_len && off < req->length; j++, off++) {
				p[j] = pattern(off, req->cmd.cdw10);
			}
		}
		if (req->cmd.cdw13 == 0xc0de) {
			req->rsp.cdw0 = 5;
		}
	}
	if (req->cmd.cdw13 == 0xbad) {
		req->rsp.status.sct = OSP_NVME_SCT_GENERIC;
		req->rsp.status.sc = OSP_NVME_SC_LBA_OUT_OF_RANGE;
	}
	req->qpair->transport->ops->req_complete(req);
}

void
osp_nvmf_request_exec(struct osp_nvmf_request *req)
{
	uint32_t i, off = 0;

	CU_ASSERT(!req->qpair->disconnecting);
	g_core.execs++;
	g_core.cmd = req->cmd;
	g_core.xfer = req->xfer;
	g_core.length = req->length;
	if (req->xfer == OSP_NVMF_XFER_HOST_TO_CONTROLLER) {
		for (i = 0; i < req->iovcnt; i++) {
			CU_ASSERT_FATAL(off + req->iov[i].iov_len <= sizeof(g_core.data));
			memcpy(g_core.data + off, req->iov[i].iov_base, req->iov[i].iov_len);
			off += req->iov[i].iov_len;
		}
		CU_ASSERT(off == req->length);
	}
	if (g_core.hold) {
		CU_ASSERT_FATAL(g_core.nheld < MAX_HELD);
		g_core.held[g_core.nheld++] = req;
		return;
	}
	core_complete(req);
}

void
osp_nvmf_qpair_disconnect(struct osp_nvmf_qpair *qpair)
{
	if (!qpair->disconnecting) {
		g_core.disconnects++;
	}
	qpair->disconnecting = true;
	/* As the core does: tell the transport. */
	qpair->transport->ops->qpair_disconnect(qpair);
	if (g_core.sync_fini && g_core.nheld == 0 && g_core.finished != qpair) {
		g_core.finished = qpair;
		qpair->transport->ops->poll_group_remove(qpair->group, qpair);
		qpair->transport->ops->qpair_fini(qpair, NULL, NULL);
	}
}

static void
core_release_held(void)
{
	int i, n = g_core.nheld;

	g_core.nheld = 0;
	for (i = 0; i < n; i++) {
		core_complete(g_core.held[i]);
	}
}

/* ---------------------------------------------------------------- harness */

/* The listener of every connection test, then three for test_opts_and_create. */
static uint16_t g_ports[3];
#define PORT_MAIN	g_ports[0]

static struct osp_nvmf_transport *g_t;
static struct osp_nvmf_transport_poll_group *g_pg;
static struct osp_nvmf_listen_addr g_addr;
static struct osp_nvmf_qpair *g_new_qpair;

struct conn {
	int fd;
	struct osp_nvmf_qpair *qpair;
	struct osp_nvme_tcp_send_params p;
	bool closed_by_core;
};

static void
new_qpair_cb(struct osp_nvmf_qpair *qpair, void *cb_arg)
{
	g_new_qpair = qpair;
}

static int
poll_group(void)
{
	int rc = g_t->ops->poll_group_poll(g_pg);

	/* The thread's pollers too: requests waiting for buffers are served by iobuf's. */
	ut_poll_thread(0);
	return rc;
}

static void
make_addr(struct osp_nvmf_listen_addr *a, const char *ip, int port)
{
	memset(a, 0, sizeof(*a));
	a->trtype = OSP_NVMF_TRTYPE_TCP;
	a->adrfam = strchr(ip, ':') ? OSP_NVMF_ADRFAM_IPV6 : OSP_NVMF_ADRFAM_IPV4;
	snprintf(a->traddr, sizeof(a->traddr), "%s", ip);
	snprintf(a->trsvcid, sizeof(a->trsvcid), "%d", port);
}

static struct osp_nvmf_transport *
make_transport(const char *specific, int *rc, char *err, size_t errlen)
{
	struct osp_nvmf_transport_opts o = {.opts_size = sizeof(o)};
	struct osp_nvmf_transport *t = NULL;
	cJSON *j = specific ? cJSON_Parse(specific) : NULL;

	g_registered->opts_init(&o);
	o.max_queue_depth = 32;
	o.max_aq_depth = 32;
	o.max_io_size = 262144;
	o.io_unit_size = 131072;
	o.num_shared_buffers = 4;
	o.buf_cache_size = 1;
	o.transport_specific = j;
	*rc = g_registered->create(&o, &t, err, errlen);
	if (*rc == 0) {
		t->opts = o;
		t->opts.transport_specific = NULL;
	}
	cJSON_Delete(j);
	return t;
}

static int
suite_init(void)
{
	char err[256];
	int rc;

	ut_env_init();
	if (ut_allocate_threads(1) != 0) {
		return -1;
	}
	ut_set_thread(0);
	/* Pull the posix socket implementation out of its archive. */
	g_osp_sock_posix_sendmsg_calls = 0;
	if (g_registered == NULL || ut_free_ports(g_ports, 3) != 0) {
		return -1;
	}
	g_t = make_transport(NULL, &rc, err, sizeof(err));
	if (g_t == NULL) {
		fprintf(stderr, "create: %s\n", err);
		return -1;
	}
	make_addr(&g_addr, "127.0.0.1", PORT_MAIN);
	if (g_t->ops->listen(g_t, &g_addr) != 0) {
		return -1;
	}
	g_pg = g_t->ops->poll_group_create(g_t);
	return g_pg == NULL ? -1 : 0;
}

static int
suite_fini(void)
{
	g_t->ops->poll_group_destroy(g_pg);
	g_t->ops->stop_listen(g_t, &g_addr);
	g_t->ops->destroy(g_t, NULL, NULL);
	ut_free_threads();
	return 0;
}

static uint32_t
bufs_free(void)
{
	struct nvmf_tcp_transport *tt = tcp_transport(g_t);

	return (uint32_t)osp_iobuf_pool_get_free(tt->buf_pool) + tcp_group(g_pg)->iobuf.cache_count;
}

static void
conn_open(struct conn *c, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int i, one = 1;

	memset(c, 0, sizeof(*c));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(c->fd >= 0);
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	CU_ASSERT_FATAL(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	g_new_qpair = NULL;
	for (i = 0; i < 1000 && g_new_qpair == NULL; i++) {
		if (g_t->ops->accept(g_t, new_qpair_cb, NULL) == 0) {
			usleep(1000);
		}
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(g_new_qpair);
	c->qpair = g_new_qpair;
	CU_ASSERT_FATAL(g_t->ops->poll_group_add(g_pg, c->qpair) == 0);
}

/* What the core does once it holds nothing of the qpair. */
static void
conn_fini(struct conn *c)
{
	if (c->qpair == NULL || c->qpair == g_core.finished) {
		c->qpair = NULL;
		return;
	}
	if (!c->qpair->disconnecting) {
		osp_nvmf_qpair_disconnect(c->qpair);
	}
	poll_group();
	core_release_held();
	g_t->ops->poll_group_remove(g_pg, c->qpair);
	g_t->ops->qpair_fini(c->qpair, NULL, NULL);
	c->qpair = NULL;
}

static void
conn_close(struct conn *c)
{
	conn_fini(c);
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	CU_ASSERT(bufs_free() == 4);
}

static void
host_send(struct conn *c, const struct iovec *iov, int iovcnt)
{
	struct iovec v[OSP_NVME_TCP_PDU_MAX_IOV + 1];
	int i = 0;
	ssize_t n;

	memcpy(v, iov, sizeof(*iov) * iovcnt);
	while (i < iovcnt) {
		n = writev(c->fd, &v[i], iovcnt - i);
		CU_ASSERT_FATAL(n > 0);
		while (n > 0 && i < iovcnt) {
			if ((size_t)n >= v[i].iov_len) {
				n -= v[i].iov_len;
				i++;
			} else {
				v[i].iov_base = (uint8_t *)v[i].iov_base + n;
				v[i].iov_len -= n;
				n = 0;
			}
		}
	}
}

static void
host_send_pdu(struct conn *c, struct osp_nvme_tcp_pdu *pdu)
{
	host_send(c, pdu->iov, pdu->iovcnt);
}

static void
host_send_raw(struct conn *c, const void *buf, size_t len)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

	host_send(c, &iov, 1);
}

/* Read exactly len bytes, polling the target meanwhile. 0, -ECONNRESET on EOF, -ETIMEDOUT. */
static int
host_read(struct conn *c, void *buf, size_t len)
{
	size_t got = 0;
	int idle = 0;
	ssize_t n;

	while (got < len) {
		n = recv(c->fd, (uint8_t *)buf + got, len - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
			idle = 0;
			continue;
		}
		if (n == 0) {
			return -ECONNRESET;
		}
		if (errno != EAGAIN) {
			return -errno;
		}
		if (poll_group() == 0 && ++idle > 2000) {
			return -ETIMEDOUT;
		}
		if (idle > 100) {
			usleep(100);
		}
	}
	return 0;
}

/* One whole PDU into buf; returns its PLEN or a negative errno. */
static int
host_read_pdu(struct conn *c, uint8_t *buf, size_t cap)
{
	struct osp_nvme_tcp_common_hdr ch;
	int rc;

	rc = host_read(c, buf, sizeof(ch));
	if (rc != 0) {
		return rc;
	}
	memcpy(&ch, buf, sizeof(ch));
	if (ch.plen < sizeof(ch) || ch.plen > cap) {
		return -EPROTO;
	}
	rc = host_read(c, buf + sizeof(ch), ch.plen - sizeof(ch));
	return rc != 0 ? rc : (int)ch.plen;
}

/* Poll until nothing happens and no byte arrives: true if the target sent nothing. */
static bool
host_nothing_more(struct conn *c)
{
	uint8_t b;
	int i;

	for (i = 0; i < 50; i++) {
		poll_group();
	}
	return recv(c->fd, &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

static uint8_t g_rx[512 * 1024];

static void
host_ic(struct conn *c, bool hd, bool dd, uint8_t hpda)
{
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_tcp_ic_resp *resp = (struct osp_nvme_tcp_ic_resp *)g_rx;
	uint8_t dgst = (hd ? OSP_NVME_TCP_DGST_HDGST_ENABLE : 0) |
		       (dd ? OSP_NVME_TCP_DGST_DDGST_ENABLE : 0);

	CU_ASSERT_FATAL(osp_nvme_tcp_build_ic_req(&pdu, hpda, dgst, 3) == 0);
	host_send_pdu(c, &pdu);
	CU_ASSERT_FATAL(host_read_pdu(c, g_rx, sizeof(g_rx)) == 128);
	CU_ASSERT(resp->ch.pdu_type == OSP_NVME_TCP_PDU_TYPE_IC_RESP);
	CU_ASSERT(resp->pfv == 0);
	CU_ASSERT(resp->cpda == 0);
	CU_ASSERT(resp->dgst == dgst);
	CU_ASSERT(resp->maxh2cdata == NVMF_TCP_MAXH2CDATA);
	c->p.hdgst = hd;
	c->p.ddgst = dd;
	c->p.pda = 0;
}

static void
set_sgl(struct osp_nvme_cmd *cmd, uint8_t id, uint64_t addr, uint32_t len)
{
	struct osp_nvme_sgl_descriptor sgl;

	memset(&sgl, 0, sizeof(sgl));
	sgl.address = addr;
	sgl.unkeyed.length = len;
	sgl.generic.type = id >> 4;
	sgl.generic.subtype = id & 0xf;
	memcpy(&cmd->prp1, &sgl, sizeof(sgl));
}

static void
mk_cmd(struct osp_nvme_cmd *cmd, uint8_t opc, uint16_t cid, uint8_t sgl_id, uint32_t len)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->opc = opc;
	cmd->cid = cid;
	cmd->psdt = OSP_NVME_PSDT_SGL_MPTR_CONTIG;
	cmd->nsid = 1;
	set_sgl(cmd, sgl_id, 0, len);
}

static void
expect_resp(struct conn *c, uint16_t cid, uint8_t sct, uint8_t sc)
{
	struct osp_nvme_tcp_rsp *rsp = (struct osp_nvme_tcp_rsp *)g_rx;
	int plen = host_read_pdu(c, g_rx, sizeof(g_rx));

	CU_ASSERT(plen == (int)(24 + (c->p.hdgst ? 4 : 0)));
	CU_ASSERT(rsp->ch.pdu_type == OSP_NVME_TCP_PDU_TYPE_CAPSULE_RESP);
	CU_ASSERT(rsp->rccqe.cid == cid);
	CU_ASSERT(rsp->rccqe.status.sct == sct);
	CU_ASSERT(rsp->rccqe.status.sc == sc);
	if (c->p.hdgst) {
		CU_ASSERT(osp_crc32c_update(g_rx, 24, ~0u) ^ ~0u) ;
		CU_ASSERT(((osp_crc32c_update(g_rx, 24, ~0u) ^ ~0u)) == *(uint32_t *)&g_rx[24]);
	}
}

static void
expect_term_req(struct conn *c, uint16_t fes, uint32_t fei)
{
	struct osp_nvme_tcp_term_req_hdr *t = (struct osp_nvme_tcp_term_req_hdr *)g_rx;
	int plen = host_read_pdu(c, g_rx, sizeof(g_rx));

	CU_ASSERT(plen >= 24);
	CU_ASSERT(t->ch.pdu_type == OSP_NVME_TCP_PDU_TYPE_C2H_TERM_REQ);
	CU_ASSERT_EQUAL(t->fes, fes);
	CU_ASSERT_EQUAL(t->fei, fei);
	CU_ASSERT(c->qpair->disconnecting);
}

static void
host_connect(struct conn *c, uint16_t qid, bool disable_sqfc)
{
	struct osp_nvmf_connect_cmd cc;
	struct osp_nvmf_connect_data data;
	struct osp_nvme_cmd cmd;
	struct osp_nvme_tcp_pdu pdu;
	struct iovec iov = {.iov_base = &data, .iov_len = sizeof(data)};

	memset(&cc, 0, sizeof(cc));
	cc.opcode = OSP_NVMF_FABRIC_OPCODE;
	cc.cid = 0x77;
	cc.fctype = OSP_NVMF_FCTYPE_CONNECT;
	cc.qid = qid;
	cc.sqsize = 31;
	cc.cattr = disable_sqfc ? OSP_NVMF_CONNECT_CATTR_DISABLE_SQ_FLOW_CONTROL : 0;
	memcpy(&cmd, &cc, sizeof(cmd));
	set_sgl(&cmd, OSP_NVME_SGL_ID_ICD, 0, sizeof(data));
	memset(&data, 0, sizeof(data));
	snprintf(data.subnqn, sizeof(data.subnqn), "nqn.2016-06.io.spdk:cnode1");
	snprintf(data.hostnqn, sizeof(data.hostnqn), "nqn.2014-08.org.nvmexpress:uuid:x");
	CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(&pdu, &c->p, &cmd, &iov, 1) == 0);
	g_core.execs = 0;
	host_send_pdu(c, &pdu);
	expect_resp(c, 0x77, 0, 0);
	CU_ASSERT(g_core.execs == 1);
	CU_ASSERT(g_core.xfer == OSP_NVMF_XFER_HOST_TO_CONTROLLER);
	CU_ASSERT(g_core.length == 1024);
	CU_ASSERT(memcmp(g_core.data, &data, sizeof(data)) == 0);
}

static void
conn_ready(struct conn *c, bool hd, bool dd, uint16_t qid)
{
	conn_open(c, PORT_MAIN);
	host_ic(c, hd, dd, 0);
	host_connect(c, qid, true);
}

/* Write len bytes with cid through R2T/H2CData in PDUs of at most chunk bytes. */
static void
host_write_r2t(struct conn *c, uint16_t cid, uint32_t len, uint32_t chunk, uint8_t seed)
{
	static uint8_t data[262144];
	struct osp_nvme_tcp_r2t_hdr *r2t = (struct osp_nvme_tcp_r2t_hdr *)g_rx;
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cmd cmd;
	uint32_t i, off = 0, r2t_end, r2ts = 0;

	for (i = 0; i < len; i++) {
		data[i] = pattern(i, seed);
	}
	mk_cmd(&cmd, OSP_NVME_OPC_WRITE, cid, OSP_NVME_SGL_ID_TRANSPORT, len);
	CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(&pdu, &c->p, &cmd, NULL, 0) == 0);
	host_send_pdu(c, &pdu);
	g_core.execs = 0;
	while (off < len) {
		CU_ASSERT_FATAL(host_read_pdu(c, g_rx, sizeof(g_rx)) > 0);
		CU_ASSERT_FATAL(r2t->ch.pdu_type == OSP_NVME_TCP_PDU_TYPE_R2T);
		CU_ASSERT(r2t->cccid == cid);
		CU_ASSERT(r2t->r2to == off);
		CU_ASSERT(r2t->r2tl <= NVMF_TCP_MAXH2CDATA);
		CU_ASSERT(r2t->r2tl == OSP_MIN(len - off, NVMF_TCP_MAXH2CDATA));
		r2t_end = off + r2t->r2tl;
		r2ts++;
		while (off < r2t_end) {
			uint32_t n = OSP_MIN(chunk, r2t_end - off);
			struct iovec iov = {.iov_base = data + off, .iov_len = n};

			CU_ASSERT_FATAL(osp_nvme_tcp_build_h2c_data(&pdu, &c->p, cid, r2t->ttag, off,
					&iov, 1, off + n == r2t_end) == 0);
			host_send_pdu(c, &pdu);
			off += n;
		}
	}
	CU_ASSERT(r2ts == (len + NVMF_TCP_MAXH2CDATA - 1) / NVMF_TCP_MAXH2CDATA);
	expect_resp(c, cid, 0, 0);
	CU_ASSERT(g_core.execs == 1);
	CU_ASSERT(g_core.length == len);
	CU_ASSERT(memcmp(g_core.data, data, len) == 0);
}

/* Read len bytes; success says whether the last C2HData should carry SUCCESS. */
static void
host_read_cmd(struct conn *c, uint16_t cid, uint32_t len, uint32_t cdw13, bool success)
{
	struct osp_nvme_tcp_c2h_data_hdr *d = (struct osp_nvme_tcp_c2h_data_hdr *)g_rx;
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cmd cmd;
	uint32_t off = 0, i, pdus = 0;
	bool last = false;
	int plen;

	mk_cmd(&cmd, OSP_NVME_OPC_READ, cid, OSP_NVME_SGL_ID_TRANSPORT, len);
	cmd.cdw10 = 0x33;
	cmd.cdw13 = cdw13;
	CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(&pdu, &c->p, &cmd, NULL, 0) == 0);
	host_send_pdu(c, &pdu);
	while (!last) {
		uint32_t hd = c->p.hdgst ? 4 : 0, dd = c->p.ddgst ? 4 : 0;

		plen = host_read_pdu(c, g_rx, sizeof(g_rx));
		CU_ASSERT_FATAL(plen > 0);
		CU_ASSERT_FATAL(d->ch.pdu_type == OSP_NVME_TCP_PDU_TYPE_C2H_DATA);
		CU_ASSERT(d->cccid == cid);
		CU_ASSERT(d->datao == off);
		CU_ASSERT(d->datal <= NVMF_TCP_C2H_PDU_MAX);
		CU_ASSERT((uint32_t)plen == d->ch.pdo + d->datal + dd);
		CU_ASSERT(!!(d->ch.flags & OSP_NVME_TCP_CH_FLAGS_HDGSTF) == c->p.hdgst);
		CU_ASSERT(!!(d->ch.flags & OSP_NVME_TCP_CH_FLAGS_DDGSTF) == c->p.ddgst);
		if (hd) {
			CU_ASSERT((osp_crc32c_update(g_rx, 24, ~0u) ^ ~0u) == *(uint32_t *)&g_rx[24]);
		}
		if (dd) {
			CU_ASSERT((osp_crc32c_update(g_rx + d->ch.pdo, d->datal, ~0u) ^ ~0u) ==
				  *(uint32_t *)&g_rx[d->ch.pdo + d->datal]);
		}
		for (i = 0; i < d->datal; i++) {
			if (g_rx[d->ch.pdo + i] != pattern(off + i, 0x33)) {
				CU_FAIL("C2H data mismatch");
				break;
			}
		}
		off += d->datal;
		pdus++;
		last = d->ch.flags & OSP_NVME_TCP_DATA_FLAGS_LAST_PDU;
		CU_ASSERT(last == (off == len));
	}
	CU_ASSERT(pdus == (len + NVMF_TCP_C2H_PDU_MAX - 1) / NVMF_TCP_C2H_PDU_MAX);
	CU_ASSERT(!!(d->ch.flags & OSP_NVME_TCP_C2H_DATA_FLAGS_SUCCESS) == success);
	if (!success) {
		expect_resp(c, cid, 0, 0);
		CU_ASSERT(((struct osp_nvme_tcp_rsp *)g_rx)->rccqe.cdw0 == (cdw13 == 0xc0de ? 5u : 0u));
	}
	CU_ASSERT(host_nothing_more(c));
}

/* ---------------------------------------------------------------- tests */

static void
test_opts_and_create(void)
{
	struct osp_nvmf_transport_opts o = {.opts_size = sizeof(o)};
	struct osp_nvmf_transport *t;
	struct osp_nvmf_listen_addr a;
	struct osp_nvmf_discovery_log_page_entry e;
	char err[256];
	cJSON *j;
	int rc, fd;
	uint16_t busy_port;

	CU_ASSERT_PTR_NOT_NULL_FATAL(g_registered);
	CU_ASSERT_STRING_EQUAL(g_registered->name, "TCP");
	CU_ASSERT(g_registered->type == OSP_NVMF_TRTYPE_TCP);
	g_registered->opts_init(&o);
	CU_ASSERT(o.max_queue_depth == 128 && o.max_qpairs_per_ctrlr == 128);
	CU_ASSERT(o.in_capsule_data_size == 4096 && o.max_io_size == 131072);
	CU_ASSERT(o.io_unit_size == 131072 && o.max_aq_depth == 128);
	CU_ASSERT(o.num_shared_buffers == 511 && o.buf_cache_size == 32);

	/* transport specific options, written back by dump_opts */
	t = make_transport("{\"c2h_success\": false, \"sock_priority\": 3}", &rc, err, sizeof(err));
	CU_ASSERT_FATAL(rc == 0 && t != NULL);
	j = cJSON_CreateObject();
	t->ops->dump_opts(t, j);
	CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(j, "c2h_success")));
	CU_ASSERT(cJSON_GetObjectItem(j, "sock_priority")->valuedouble == 3);
	cJSON_Delete(j);

	/* listen errors: duplicate, bad family, port in use; IPv6 */
	make_addr(&a, "127.0.0.1", g_ports[1]);
	CU_ASSERT(t->ops->listen(t, &a) == 0);
	CU_ASSERT(t->ops->listen(t, &a) == -EEXIST);
	memset(&e, 0xff, sizeof(e));
	t->ops->listener_discover(t, &a, &e);
	CU_ASSERT(e.treq == (OSP_NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED |
			     OSP_NVMF_TREQ_DISABLE_SQ_FLOW_CONTROL));
	CU_ASSERT(e.tsas.tcp.sectype == OSP_NVMF_TCP_SECTYPE_NONE);
	t->ops->stop_listen(t, &a);
	a.adrfam = OSP_NVMF_ADRFAM_IB;
	CU_ASSERT(t->ops->listen(t, &a) == -EINVAL);
	make_addr(&a, "127.0.0.1", 0);
	snprintf(a.trsvcid, sizeof(a.trsvcid), "http");
	CU_ASSERT(t->ops->listen(t, &a) == -EINVAL);
	fd = ut_listen_any(&busy_port);
	CU_ASSERT_FATAL(fd >= 0);
	make_addr(&a, "127.0.0.1", busy_port);
	CU_ASSERT(t->ops->listen(t, &a) == -EADDRINUSE);
	close(fd);
	make_addr(&a, "::1", g_ports[2]);
	rc = t->ops->listen(t, &a);
	CU_ASSERT(rc == 0 || rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT);
	if (rc == 0) {
		t->ops->stop_listen(t, &a);
	}
	t->ops->destroy(t, NULL, NULL);

	/* invalid values are refused with a message */
	err[0] = '\0';
	CU_ASSERT(make_transport("{\"c2h_success\": 1}", &rc, err, sizeof(err)) == NULL);
	CU_ASSERT(rc == -EINVAL && strstr(err, "c2h_success") != NULL);
	CU_ASSERT(make_transport("{\"sock_priority\": 9}", &rc, err, sizeof(err)) == NULL);
	CU_ASSERT(rc == -EINVAL && strstr(err, "sock_priority") != NULL);
	CU_ASSERT(make_transport("{\"sock_priority\": 1.5}", &rc, err, sizeof(err)) == NULL);
	CU_ASSERT(make_transport("{\"num_cqe\": 10}", &rc, err, sizeof(err)) == NULL);
	CU_ASSERT(rc == -EINVAL && strstr(err, "num_cqe") != NULL);
	o.opts_size = sizeof(o);
	g_registered->opts_init(&o);
	o.io_unit_size = 4096;
	o.max_io_size = 1 << 20;
	t = NULL;
	CU_ASSERT(g_registered->create(&o, &t, err, sizeof(err)) == -EINVAL && t == NULL);
	CU_ASSERT(strstr(err, "io_unit_size") != NULL);
}

static void
test_ic_connect_icd_write(void)
{
	struct conn c;
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cmd cmd;
	struct osp_nvmf_listen_addr a;
	uint8_t data[4096];
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	uint32_t i;

	conn_ready(&c, false, false, 1);
	CU_ASSERT(g_t->ops->qpair_get_peer_addr(c.qpair, &a) == 0);
	CU_ASSERT_STRING_EQUAL(a.traddr, "127.0.0.1");
	CU_ASSERT(a.adrfam == OSP_NVMF_ADRFAM_IPV4);
	CU_ASSERT(g_t->ops->qpair_get_local_addr(c.qpair, &a) == 0);
	CU_ASSERT_EQUAL(atoi(a.trsvcid), PORT_MAIN);

	/* 4 KiB write in the capsule */
	for (i = 0; i < sizeof(data); i++) {
		data[i] = pattern(i, 9);
	}
	mk_cmd(&cmd, OSP_NVME_OPC_WRITE, 5, OSP_NVME_SGL_ID_ICD, sizeof(data));
	CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, &iov, 1) == 0);
	g_core.execs = 0;
	host_send_pdu(&c, &pdu);
	expect_resp(&c, 5, 0, 0);
	CU_ASSERT(g_core.execs == 1 && g_core.length == sizeof(data));
	CU_ASSERT(memcmp(g_core.data, data, sizeof(data)) == 0);

	/* in-capsule data larger than the I/O queue's limit: fatal (PLEN) */
	{
		static uint8_t big[8192];
		struct iovec biov = {.iov_base = big, .iov_len = sizeof(big)};

		mk_cmd(&cmd, OSP_NVME_OPC_WRITE, 6, OSP_NVME_SGL_ID_ICD, sizeof(big));
		CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, &biov, 1) == 0);
		host_send_pdu(&c, &pdu);
		expect_term_req(&c, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, OSP_NVME_TCP_CH_OFF_PLEN);
	}
	conn_close(&c);
}

static void
test_admin_icd_8k(void)
{
	struct conn c;
	static uint8_t data[8192];
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cmd cmd;

	/* On the admin queue 8 KiB of in-capsule data goes to a shared buffer. */
	conn_ready(&c, false, false, 0);
	memset(data, 0x5a, sizeof(data));
	mk_cmd(&cmd, 0x09 /* Set Features: host to controller */, 8, OSP_NVME_SGL_ID_ICD,
	       sizeof(data));
	CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, &iov, 1) == 0);
	host_send_pdu(&c, &pdu);
	expect_resp(&c, 8, 0, 0);
	CU_ASSERT(g_core.length == sizeof(data) && memcmp(g_core.data, data, sizeof(data)) == 0);
	conn_close(&c);
}

static void
test_write_r2t(void)
{
	struct conn c;

	conn_ready(&c, false, false, 1);
	host_write_r2t(&c, 10, 20000, 8192, 1);	/* one R2T, three H2CData */
	host_write_r2t(&c, 11, 200000, 65536, 2);	/* two R2Ts */
	host_write_r2t(&c, 12, 512, 512, 3);
	conn_close(&c);
}

static void
test_read_c2h(void)
{
	struct conn c;

	conn_ready(&c, false, false, 1);
	host_read_cmd(&c, 20, 20000, 0, true);		/* SUCCESS, no CapsuleResp */
	host_read_cmd(&c, 21, 200000, 0, true);		/* two C2HData PDUs */
	host_read_cmd(&c, 22, 4096, 0xc0de, false);	/* cdw0 != 0: CapsuleResp */
	conn_close(&c);

	/* SQ flow control on: never SUCCESS (the host needs SQHD) */
	conn_open(&c, PORT_MAIN);
	host_ic(&c, false, false, 0);
	host_connect(&c, 1, false);
	host_read_cmd(&c, 23, 8192, 0, false);
	conn_close(&c);
}

static void
test_read_error_status(void)
{
	struct conn c;
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cmd cmd;

	conn_ready(&c, false, false, 1);
	/* a failed read sends no data, only the CapsuleResp */
	mk_cmd(&cmd, OSP_NVME_OPC_READ, 30, OSP_NVME_SGL_ID_TRANSPORT, 4096);
	cmd.cdw13 = 0xbad;
	CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, NULL, 0) == 0);
	host_send_pdu(&c, &pdu);
	expect_resp(&c, 30, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_LBA_OUT_OF_RANGE);
	conn_close(&c);
}

static void
test_digests(void)
{
	struct conn c;
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_tcp_r2t_hdr r2t;
	struct osp_nvme_cmd cmd;
	uint8_t data[4096];
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};

	conn_ready(&c, true, true, 1);
	host_write_r2t(&c, 40, 100000, 30000, 4);
	host_read_cmd(&c, 41, 150000, 0, true);

	/* data digest error in H2CData: the command fails, the connection lives */
	mk_cmd(&cmd, OSP_NVME_OPC_WRITE, 42, OSP_NVME_SGL_ID_TRANSPORT, sizeof(data));
	CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, NULL, 0) == 0);
	host_send_pdu(&c, &pdu);
	CU_ASSERT_FATAL(host_read_pdu(&c, g_rx, sizeof(g_rx)) == 28);
	memcpy(&r2t, g_rx, sizeof(r2t));
	CU_ASSERT(r2t.ch.pdu_type == OSP_NVME_TCP_PDU_TYPE_R2T);
	memset(data, 1, sizeof(data));
	CU_ASSERT_FATAL(osp_nvme_tcp_build_h2c_data(&pdu, &c.p, 42, r2t.ttag, 0, &iov, 1, true) == 0);
	pdu.ddgst[0] ^= 1;
	g_core.execs = 0;
	host_send_pdu(&c, &pdu);
	expect_resp(&c, 42, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_TRANSIENT_TRANSPORT_ERROR);
	CU_ASSERT(g_core.execs == 0);
	/* ... in in-capsule data too */
	mk_cmd(&cmd, OSP_NVME_OPC_WRITE, 43, OSP_NVME_SGL_ID_ICD, sizeof(data));
	CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, &iov, 1) == 0);
	pdu.ddgst[3] ^= 0x80;
	host_send_pdu(&c, &pdu);
	expect_resp(&c, 43, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_TRANSIENT_TRANSPORT_ERROR);
	CU_ASSERT(g_core.execs == 0);
	host_read_cmd(&c, 44, 512, 0, true);

	/* header digest error: fatal */
	mk_cmd(&cmd, OSP_NVME_OPC_READ, 45, OSP_NVME_SGL_ID_TRANSPORT, 512);
	CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, NULL, 0) == 0);
	pdu.raw[72] ^= 1;
	host_send_pdu(&c, &pdu);
	expect_term_req(&c, OSP_NVME_TCP_FES_HDGST_ERROR, 0);
	CU_ASSERT(g_core.disconnects > 0);
	conn_close(&c);
}

static void
test_bad_sgl(void)
{
	struct conn c;
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cmd cmd;
	uint8_t data[64];
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};

	conn_ready(&c, false, false, 1);
	g_core.execs = 0;
	/* longer than max_io_size: answered without reading data */
	mk_cmd(&cmd, OSP_NVME_OPC_WRITE, 50, OSP_NVME_SGL_ID_TRANSPORT, 262144 + 4096);
	CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, NULL, 0) == 0);
	host_send_pdu(&c, &pdu);
	expect_resp(&c, 50, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_DATA_SGL_LENGTH_INVALID);
	mk_cmd(&cmd, OSP_NVME_OPC_READ, 51, OSP_NVME_SGL_ID_TRANSPORT, 1u << 30);
	CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, NULL, 0) == 0);
	host_send_pdu(&c, &pdu);
	expect_resp(&c, 51, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_DATA_SGL_LENGTH_INVALID);
	/* keyed (RDMA) descriptor */
	mk_cmd(&cmd, OSP_NVME_OPC_READ, 52, OSP_NVME_SGL_ID(OSP_NVME_SGL_TYPE_KEYED_DATA_BLOCK, 0), 512);
	CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, NULL, 0) == 0);
	host_send_pdu(&c, &pdu);
	expect_resp(&c, 52, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID);
	/* in-capsule SGL on a read */
	mk_cmd(&cmd, OSP_NVME_OPC_READ, 53, OSP_NVME_SGL_ID_ICD, 64);
	CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, &iov, 1) == 0);
	host_send_pdu(&c, &pdu);
	expect_resp(&c, 53, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID);
	/* in-capsule SGL longer than the data sent, or past it */
	mk_cmd(&cmd, OSP_NVME_OPC_WRITE, 54, OSP_NVME_SGL_ID_ICD, 128);
	CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, &iov, 1) == 0);
	host_send_pdu(&c, &pdu);
	expect_resp(&c, 54, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_DATA_SGL_LENGTH_INVALID);
	mk_cmd(&cmd, OSP_NVME_OPC_WRITE, 55, OSP_NVME_SGL_ID_ICD, 16);
	set_sgl(&cmd, OSP_NVME_SGL_ID_ICD, 100, 16);
	CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, &iov, 1) == 0);
	host_send_pdu(&c, &pdu);
	expect_resp(&c, 55, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_SGL_OFFSET);
	CU_ASSERT(g_core.execs == 0);
	/* the connection still works */
	host_read_cmd(&c, 56, 1024, 0, true);
	CU_ASSERT(!c.qpair->disconnecting);
	conn_close(&c);
}

/* Open a connection, do IC (+Connect), then send raw bytes and expect a TermReq. */
static void
bad_input(const void *raw, size_t len, bool ic, uint16_t fes, uint32_t fei)
{
	struct conn c;
	int d0 = g_core.disconnects;

	if (ic) {
		conn_ready(&c, false, false, 1);
	} else {
		conn_open(&c, PORT_MAIN);
	}
	host_send_raw(&c, raw, len);
	expect_term_req(&c, fes, fei);
	CU_ASSERT(g_core.disconnects == d0 + 1);
	conn_close(&c);
}

static void
test_bad_pdus(void)
{
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cmd cmd;
	uint8_t raw[128];

	/* unknown PDU type first */
	memset(raw, 0, sizeof(raw));
	raw[0] = 0x08;
	raw[2] = 24;
	raw[4] = 24;
	bad_input(raw, 24, false, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 0);
	/* a command before ICReq */
	mk_cmd(&cmd, OSP_NVME_OPC_READ, 1, OSP_NVME_SGL_ID_TRANSPORT, 512);
	osp_nvme_tcp_build_capsule_cmd(&pdu, &(struct osp_nvme_tcp_send_params){0}, &cmd, NULL, 0);
	bad_input(pdu.raw, pdu.plen, false, OSP_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
	/* ICReq with PFV 1, with HPDA 32, with a wrong PLEN */
	osp_nvme_tcp_build_ic_req(&pdu, 0, 0, 0);
	pdu.hdr.ic_req.pfv = 1;
	bad_input(pdu.raw, 128, false, OSP_NVME_TCP_FES_UNSUPPORTED_PARAMETER, 8);
	osp_nvme_tcp_build_ic_req(&pdu, 0, 0, 0);
	pdu.hdr.ic_req.hpda = 32;
	bad_input(pdu.raw, 128, false, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 10);
	osp_nvme_tcp_build_ic_req(&pdu, 0, 0, 0);
	pdu.hdr.ch.plen = 256;
	bad_input(pdu.raw, 128, false, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 4);
	/* a second ICReq */
	osp_nvme_tcp_build_ic_req(&pdu, 0, 0, 0);
	bad_input(pdu.raw, 128, true, OSP_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
	/* a capsule with a huge PLEN */
	mk_cmd(&cmd, OSP_NVME_OPC_WRITE, 2, OSP_NVME_SGL_ID_ICD, 16);
	osp_nvme_tcp_build_capsule_cmd(&pdu, &(struct osp_nvme_tcp_send_params){0}, &cmd, NULL, 0);
	pdu.hdr.ch.pdo = 72;
	pdu.hdr.ch.plen = 0x7fffffff;
	bad_input(pdu.raw, 72, true, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 4);
	/* a C2H-only PDU type from the host */
	osp_nvme_tcp_build_capsule_resp(&pdu, &(struct osp_nvme_tcp_send_params){0},
					&(struct osp_nvme_cpl){0});
	bad_input(pdu.raw, pdu.plen, true, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 0);
	/* H2CData with no R2T outstanding */
	{
		uint8_t d[16] = {0};
		struct iovec iov = {.iov_base = d, .iov_len = sizeof(d)};

		osp_nvme_tcp_build_h2c_data(&pdu, &(struct osp_nvme_tcp_send_params){0}, 1, 0, 0,
					    &iov, 1, true);
		memcpy(raw, pdu.raw, 24);
		memcpy(raw + 24, d, sizeof(d));
		bad_input(raw, 40, true, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 10);
	}
	/* H2CTermReq from the host: disconnect, no TermReq back */
	{
		struct conn c;
		int d0 = g_core.disconnects;

		conn_ready(&c, false, false, 1);
		osp_nvme_tcp_build_term_req(&pdu, OSP_NVME_TCP_ROLE_HOST, 1, 0, NULL, 0);
		host_send_pdu(&c, &pdu);
		CU_ASSERT(host_nothing_more(&c));
		CU_ASSERT(g_core.disconnects == d0 + 1);
		conn_close(&c);
	}
}

enum h2c_fault { F_TTAG, F_CCCID, F_DATAO, F_DATAL };

static void
h2c_fault(enum h2c_fault f, uint16_t fes, uint32_t fei)
{
	struct conn c;
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_tcp_r2t_hdr r2t;
	struct osp_nvme_cmd cmd;
	static uint8_t data[8192];
	struct iovec iov = {.iov_base = data, .iov_len = 4096};

	conn_ready(&c, false, false, 1);
	mk_cmd(&cmd, OSP_NVME_OPC_WRITE, 60, OSP_NVME_SGL_ID_TRANSPORT, 4096);
	osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, NULL, 0);
	host_send_pdu(&c, &pdu);
	CU_ASSERT_FATAL(host_read_pdu(&c, g_rx, sizeof(g_rx)) == 24);
	memcpy(&r2t, g_rx, sizeof(r2t));
	switch (f) {
	case F_TTAG:
		osp_nvme_tcp_build_h2c_data(&pdu, &c.p, 60, r2t.ttag + 1, 0, &iov, 1, true);
		break;
	case F_CCCID:
		osp_nvme_tcp_build_h2c_data(&pdu, &c.p, 61, r2t.ttag, 0, &iov, 1, true);
		break;
	case F_DATAO:
		iov.iov_len = 2048;
		osp_nvme_tcp_build_h2c_data(&pdu, &c.p, 60, r2t.ttag, 2048, &iov, 1, true);
		break;
	case F_DATAL:
		iov.iov_len = 8192;
		osp_nvme_tcp_build_h2c_data(&pdu, &c.p, 60, r2t.ttag, 0, &iov, 1, true);
		break;
	}
	g_core.execs = 0;
	host_send_pdu(&c, &pdu);
	expect_term_req(&c, fes, fei);
	CU_ASSERT(g_core.execs == 0);
	conn_close(&c);
}

static void
test_bad_h2c(void)
{
	h2c_fault(F_TTAG, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 10);
	h2c_fault(F_CCCID, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 8);
	h2c_fault(F_DATAO, OSP_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, 12);
	h2c_fault(F_DATAL, OSP_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, 16);
}

static void
test_peer_close_mid_transfer(void)
{
	struct conn c;
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_tcp_r2t_hdr r2t;
	struct osp_nvme_cmd cmd;
	static uint8_t data[65536];
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	int d0 = g_core.disconnects, i;

	conn_ready(&c, false, false, 1);
	mk_cmd(&cmd, OSP_NVME_OPC_WRITE, 70, OSP_NVME_SGL_ID_TRANSPORT, 200000);
	osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, NULL, 0);
	host_send_pdu(&c, &pdu);
	CU_ASSERT_FATAL(host_read_pdu(&c, g_rx, sizeof(g_rx)) == 24);
	memcpy(&r2t, g_rx, sizeof(r2t));
	osp_nvme_tcp_build_h2c_data(&pdu, &c.p, 70, r2t.ttag, 0, &iov, 1, false);
	host_send_pdu(&c, &pdu);
	CU_ASSERT(bufs_free() == 2);	/* 200000 bytes hold two 128 KiB buffers */
	close(c.fd);
	c.fd = -1;
	for (i = 0; i < 1000 && !c.qpair->disconnecting; i++) {
		poll_group();
	}
	CU_ASSERT(c.qpair->disconnecting);
	CU_ASSERT(g_core.disconnects == d0 + 1);
	/* the request was not the core's: its buffers are back already */
	CU_ASSERT(bufs_free() == 4);
	conn_close(&c);
}

static void
test_buffer_wait_and_core_disconnect(void)
{
	struct conn c;
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cmd cmd;
	struct nvmf_tcp_poll_group *pg = tcp_group(g_pg);
	uint64_t waits = pg->stat.pending_data_buffer;
	uint16_t cid;
	int i;

	conn_ready(&c, false, false, 1);
	/* four reads hold the four buffers in the core; the fifth waits */
	g_core.hold = true;
	for (cid = 80; cid < 85; cid++) {
		mk_cmd(&cmd, OSP_NVME_OPC_READ, cid, OSP_NVME_SGL_ID_TRANSPORT, 131072);
		cmd.cdw10 = 0x33;
		osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, NULL, 0);
		host_send_pdu(&c, &pdu);
	}
	for (i = 0; i < 2000 && g_core.nheld < 4; i++) {
		poll_group();
	}
	for (i = 0; i < 100; i++) {
		poll_group();
	}
	CU_ASSERT(g_core.nheld == 4);
	CU_ASSERT(bufs_free() == 0);
	CU_ASSERT(pg->stat.pending_data_buffer == waits + 1);
	g_core.hold = false;
	core_release_held();
	/* the waiting read got a buffer and ran */
	for (i = 0; i < 5; i++) {
		struct osp_nvme_tcp_c2h_data_hdr *d = (struct osp_nvme_tcp_c2h_data_hdr *)g_rx;

		CU_ASSERT_FATAL(host_read_pdu(&c, g_rx, sizeof(g_rx)) > 0);
		CU_ASSERT(d->ch.pdu_type == OSP_NVME_TCP_PDU_TYPE_C2H_DATA);
		CU_ASSERT(d->cccid == 80 + i);
		CU_ASSERT(d->datal == 131072);
	}
	CU_ASSERT(host_nothing_more(&c));
	CU_ASSERT(bufs_free() == 4);

	/* the core disconnects while it holds a request: completed without a send */
	g_core.hold = true;
	mk_cmd(&cmd, OSP_NVME_OPC_READ, 90, OSP_NVME_SGL_ID_TRANSPORT, 4096);
	osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, NULL, 0);
	host_send_pdu(&c, &pdu);
	for (i = 0; i < 2000 && g_core.nheld < 1; i++) {
		poll_group();
	}
	CU_ASSERT_FATAL(g_core.nheld == 1);
	osp_nvmf_qpair_disconnect(c.qpair);
	poll_group();
	g_core.hold = false;
	core_release_held();
	CU_ASSERT(host_nothing_more(&c));
	CU_ASSERT(bufs_free() == 4);
	conn_close(&c);
}

static void
test_queue_full_stash(void)
{
	struct conn c;
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cmd cmd;
	uint16_t cid;
	int i;

	/* more commands than requests: the extra one waits, none is lost */
	conn_ready(&c, false, false, 1);
	g_core.hold = true;
	g_core.nheld = 0;
	for (cid = 0; cid < 33; cid++) {
		mk_cmd(&cmd, OSP_NVME_OPC_FLUSH, 100 + cid, OSP_NVME_SGL_ID_TRANSPORT, 0);
		osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, NULL, 0);
		host_send_pdu(&c, &pdu);
	}
	for (i = 0; i < 2000 && g_core.nheld < 32; i++) {
		poll_group();
	}
	CU_ASSERT(g_core.nheld == 32);
	g_core.hold = false;
	core_release_held();
	for (i = 0; i < 33; i++) {
		expect_resp(&c, 100 + i, 0, 0);
	}
	CU_ASSERT(host_nothing_more(&c));
	conn_close(&c);
}

/* Is tq on its group's attn list? */
static bool
on_attn_list(struct nvmf_tcp_qpair *tq)
{
	struct nvmf_tcp_qpair *it;
	uint32_t n = 0;
	bool found = false;

	TAILQ_FOREACH(it, &tq->pg->attn, attn_link) {
		found = found || it == tq;
		n++;
	}
	CU_ASSERT(n == tq->pg->num_attn);
	CU_ASSERT(found == tq->in_attn_list);
	return found;
}

static void
test_paused_list(void)
{
	struct nvmf_tcp_poll_group *pg = tcp_group(g_pg);
	struct nvmf_tcp_qpair *tq1, *tq2;
	struct conn c1, c2;
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cmd cmd;
	uint16_t cid;
	int i;

	conn_ready(&c1, false, false, 1);
	conn_ready(&c2, false, false, 2);
	tq1 = tcp_qpair(c1.qpair);
	tq2 = tcp_qpair(c2.qpair);
	/* idle connections are not on the list: the poll does not look at them */
	poll_group();
	CU_ASSERT(pg->num_attn == 0);
	CU_ASSERT(!on_attn_list(tq1) && !on_attn_list(tq2));

	/* c1 runs out of requests: paused, on the list, and stays there while paused */
	g_core.hold = true;
	g_core.nheld = 0;
	for (cid = 0; cid < 33; cid++) {
		mk_cmd(&cmd, OSP_NVME_OPC_FLUSH, 200 + cid, OSP_NVME_SGL_ID_TRANSPORT, 0);
		osp_nvme_tcp_build_capsule_cmd(&pdu, &c1.p, &cmd, NULL, 0);
		host_send_pdu(&c1, &pdu);
	}
	for (i = 0; i < 2000 && !(g_core.nheld == 32 && tq1->stash_valid); i++) {
		poll_group();
	}
	CU_ASSERT_FATAL(g_core.nheld == 32 && tq1->stash_valid);
	for (i = 0; i < 10; i++) {
		poll_group();
	}
	CU_ASSERT(tq1->rx_paused && on_attn_list(tq1) && !on_attn_list(tq2));
	CU_ASSERT(pg->num_attn == 1);

	/* the paused one resumes from the list once requests are free again */
	g_core.hold = false;
	core_release_held();
	for (i = 0; i < 100 && tq1->stash_valid; i++) {
		poll_group();
	}
	CU_ASSERT(!tq1->stash_valid && !on_attn_list(tq1));
	for (i = 0; i < 33; i++) {
		expect_resp(&c1, 200 + i, 0, 0);
	}

	/* paused again, then removed from the group while on the list */
	g_core.hold = true;
	for (cid = 0; cid < 33; cid++) {
		mk_cmd(&cmd, OSP_NVME_OPC_FLUSH, 300 + cid, OSP_NVME_SGL_ID_TRANSPORT, 0);
		osp_nvme_tcp_build_capsule_cmd(&pdu, &c1.p, &cmd, NULL, 0);
		host_send_pdu(&c1, &pdu);
	}
	for (i = 0; i < 2000 && !(g_core.nheld == 32 && tq1->stash_valid); i++) {
		poll_group();
	}
	CU_ASSERT_FATAL(tq1->rx_paused && on_attn_list(tq1));
	g_core.hold = false;
	core_release_held();	/* requests free, but the receiver still waits for the poll */
	CU_ASSERT_FATAL(on_attn_list(tq1));
	g_t->ops->poll_group_remove(g_pg, c1.qpair);
	CU_ASSERT(pg->num_attn == 0 && TAILQ_EMPTY(&pg->attn));
	g_t->ops->qpair_fini(c1.qpair, NULL, NULL);
	c1.qpair = NULL;
	for (i = 0; i < 10; i++) {
		poll_group();	/* (ASan) nothing left that points at the freed qpair */
	}
	close(c1.fd);
	c1.fd = -1;

	/* a disconnect the core starts puts the qpair on the list; the poll stops it */
	CU_ASSERT(!on_attn_list(tq2));
	osp_nvmf_qpair_disconnect(c2.qpair);
	CU_ASSERT(on_attn_list(tq2));
	poll_group();
	CU_ASSERT(tq2->dead && !on_attn_list(tq2));
	conn_close(&c2);
}

static void
test_sync_fini_and_pda(void)
{
	struct conn c;
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cmd cmd;
	struct osp_nvme_tcp_c2h_data_hdr *d = (struct osp_nvme_tcp_c2h_data_hdr *)g_rx;
	uint8_t raw[24] = {0x08, 0, 24, 0, 24};
	int i;

	/* HPDA 3: C2H data starts on a 16-byte boundary; header digest only */
	conn_open(&c, PORT_MAIN);
	host_ic(&c, true, false, 3);
	host_connect(&c, 1, true);
	mk_cmd(&cmd, OSP_NVME_OPC_READ, 7, OSP_NVME_SGL_ID_TRANSPORT, 1000);
	cmd.cdw10 = 0x33;
	osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, NULL, 0);
	host_send_pdu(&c, &pdu);
	CU_ASSERT_FATAL(host_read_pdu(&c, g_rx, sizeof(g_rx)) == 32 + 1000);
	CU_ASSERT(d->ch.pdo == 32 && d->ch.pdo % 16 == 0);
	CU_ASSERT(d->datal == 1000 && g_rx[32 + 999] == pattern(999, 0x33));

	/* the core frees the qpair from inside the disconnect our receive path made */
	g_core.sync_fini = true;
	host_send_raw(&c, raw, sizeof(raw));
	for (i = 0; i < 100 && g_core.finished == NULL; i++) {
		poll_group();
	}
	CU_ASSERT(g_core.finished == c.qpair);
	g_core.sync_fini = false;
	/* the TermReq (with the 8 header bytes received) went out before the socket closed */
	CU_ASSERT(host_read_pdu(&c, g_rx, sizeof(g_rx)) == 24 + 8);
	CU_ASSERT(((struct osp_nvme_tcp_term_req_hdr *)g_rx)->ch.pdu_type ==
		  OSP_NVME_TCP_PDU_TYPE_C2H_TERM_REQ);
	CU_ASSERT(memcmp(g_rx + 24, raw, 8) == 0);
	CU_ASSERT(host_read(&c, g_rx, 1) == -ECONNRESET);
	conn_close(&c);
	g_core.finished = NULL;
}

/*
 * The PDUs a read gets without digests are written directly (not by the
 * codec): every header byte and the PDO padding must still be right, and
 * the CapsuleResp goes in the same socket write as the last C2HData.
 */
static void
test_read_direct_pdus(void)
{
	struct conn c;
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cmd cmd;
	struct osp_nvme_tcp_c2h_data_hdr *d = (struct osp_nvme_tcp_c2h_data_hdr *)g_rx;
	struct osp_nvme_tcp_rsp *rsp = (struct osp_nvme_tcp_rsp *)g_rx;
	struct osp_sock_stats before, after;
	struct nvmf_tcp_qpair *tq;
	int i;

	/* HPDA 3 (16-byte alignment), no digests, SQ flow control on: C2HData + CapsuleResp */
	conn_open(&c, PORT_MAIN);
	host_ic(&c, false, false, 3);
	host_connect(&c, 1, false);
	tq = tcp_qpair(c.qpair);
	for (i = 0; i < 2; i++) {
		/* two reads of different sizes */
		CU_ASSERT_FATAL(osp_sock_get_stats(tq->sock, &before) == 0);
		mk_cmd(&cmd, OSP_NVME_OPC_READ, (uint16_t)(40 + i), OSP_NVME_SGL_ID_TRANSPORT,
		       i == 0 ? 1000 : 4096);
		cmd.cdw10 = 0x33;
		CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, NULL, 0) == 0);
		host_send_pdu(&c, &pdu);
		CU_ASSERT_FATAL(host_read_pdu(&c, g_rx, sizeof(g_rx)) == 32 + (i == 0 ? 1000 : 4096));
		CU_ASSERT(d->ch.pdu_type == OSP_NVME_TCP_PDU_TYPE_C2H_DATA);
		CU_ASSERT(d->ch.flags == OSP_NVME_TCP_DATA_FLAGS_LAST_PDU);
		CU_ASSERT(d->ch.hlen == 24 && d->ch.pdo == 32);
		CU_ASSERT(d->cccid == 40 + i && d->datao == 0 && d->datal == (i == 0 ? 1000u : 4096u));
		CU_ASSERT(d->rsvd10[0] == 0 && d->rsvd10[1] == 0);
		CU_ASSERT(memcmp(d->rsvd20, "\0\0\0\0", 4) == 0);
		CU_ASSERT(memcmp(&g_rx[24], "\0\0\0\0\0\0\0\0", 8) == 0);
		CU_ASSERT(g_rx[32] == pattern(0, 0x33) && g_rx[32 + 999] == pattern(999, 0x33));
		CU_ASSERT_FATAL(host_read_pdu(&c, g_rx, sizeof(g_rx)) == 24);
		CU_ASSERT(rsp->ch.pdu_type == OSP_NVME_TCP_PDU_TYPE_CAPSULE_RESP);
		CU_ASSERT(rsp->ch.flags == 0 && rsp->ch.hlen == 24 && rsp->ch.pdo == 0);
		CU_ASSERT(rsp->rccqe.cid == 40 + i && rsp->rccqe.status.sc == 0);
		CU_ASSERT(host_nothing_more(&c));
		CU_ASSERT_FATAL(osp_sock_get_stats(tq->sock, &after) == 0);
		CU_ASSERT(after.send_requests - before.send_requests == 1);
	}
	conn_close(&c);
}

static void
test_write_error_sync_fini(void)
{
	struct conn c;
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cmd cmd;
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int i, execs;

	/*
	 * Responses of several commands are queued when the peer resets the
	 * connection: the failed write disconnects the qpair and the core frees
	 * it at once, while lib/sock still completes the batch's other writes.
	 */
	conn_ready(&c, false, false, 1);
	for (i = 0; i < 3; i++) {
		mk_cmd(&cmd, OSP_NVME_OPC_READ, 200 + i, OSP_NVME_SGL_ID_TRANSPORT, 4096);
		osp_nvme_tcp_build_capsule_cmd(&pdu, &c.p, &cmd, NULL, 0);
		host_send_pdu(&c, &pdu);
	}
	execs = g_core.execs;
	for (i = 0; i < 100000 && g_core.execs < execs + 3; i++) {
		struct nvmf_tcp_qpair *tq = tcp_qpair(c.qpair);

		/* poll the socket's callback only: the queued writes must stay queued */
		qpair_rx(tq);
	}
	CU_ASSERT_FATAL(g_core.execs == execs + 3);
	g_core.sync_fini = true;
	setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c.fd);
	c.fd = -1;
	for (i = 0; i < 100 && g_core.finished == NULL; i++) {
		poll_group();
	}
	CU_ASSERT(g_core.finished == c.qpair);
	poll_group();
	g_core.sync_fini = false;
	conn_close(&c);
	g_core.finished = NULL;
}

static void
test_stats(void)
{
	cJSON *j = cJSON_CreateObject();

	g_t->ops->poll_group_dump_stat(g_pg, j);
	CU_ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(j, "pending_data_buffer")));
	CU_ASSERT(cJSON_GetObjectItem(j, "term_reqs_sent")->valuedouble > 0);
	CU_ASSERT(cJSON_GetObjectItem(j, "current_qpairs")->valuedouble == 0);
	cJSON_Delete(j);
}

/*
 * Admission: options needing too much memory per connection are refused; a
 * connection costs little until its ICReq; one that does not complete Connect
 * in time is closed; beyond the cap of connections waiting for Connect, new
 * ones are closed at accept.
 */
static void
test_admission(void)
{
	struct osp_nvmf_transport_opts o = {.opts_size = sizeof(o)};
	struct nvmf_tcp_transport *tt = tcp_transport(g_t);
	struct osp_nvmf_transport *t = NULL;
	struct nvmf_tcp_qpair *tq;
	struct conn c;
	char err[256], b;
	int i, fd;
	ssize_t n;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT_MAIN)};

	g_registered->opts_init(&o);
	o.max_queue_depth = 4096;
	o.in_capsule_data_size = 131072;
	CU_ASSERT(g_registered->create(&o, &t, err, sizeof(err)) == -EINVAL && t == NULL);
	CU_ASSERT(strstr(err, "512 MiB") != NULL && strstr(err, "in_capsule_data_size") != NULL);
	o.max_queue_depth = 512;	/* 64 MiB: the limit itself is fine */
	o.num_shared_buffers = 4;
	o.buf_cache_size = 1;
	CU_ASSERT_FATAL(g_registered->create(&o, &t, err, sizeof(err)) == 0 && t != NULL);
	t->ops->destroy(t, NULL, NULL);
	t = NULL;
	o.max_queue_depth = 1;
	CU_ASSERT(g_registered->create(&o, &t, err, sizeof(err)) == -EINVAL && t == NULL);
	CU_ASSERT(strstr(err, "max_queue_depth") != NULL);

	/* Nothing big before the ICReq; everything after it; counted until Connect. */
	CU_ASSERT(tt->num_unadmitted == 0);
	conn_open(&c, PORT_MAIN);
	tq = tcp_qpair(c.qpair);
	CU_ASSERT(tq->reqs == NULL && tq->icd_area == NULL && tq->rbuf_big == NULL);
	CU_ASSERT(tq->nreqs == 0 && tq->rbuf == tq->rbuf_ic);
	CU_ASSERT(tt->num_unadmitted == 1 && tq->unadmitted);
	host_ic(&c, false, false, 0);
	CU_ASSERT(tq->reqs != NULL && tq->icd_area != NULL && tq->rbuf_big != NULL);
	CU_ASSERT(tq->nreqs == 32 && tq->free_count == 32);
	host_connect(&c, 0, false);
	CU_ASSERT(tt->num_unadmitted == 0 && !tq->unadmitted);
	CU_ASSERT(tq->rbuf == tq->rbuf_big);
	conn_close(&c);

	/* No ICReq in time: closed by the group's poll, and counted. */
	conn_open(&c, PORT_MAIN);
	tq = tcp_qpair(c.qpair);
	poll_group();
	CU_ASSERT(!c.qpair->disconnecting);
	tq->admit_deadline = 1;
	poll_group();
	CU_ASSERT(c.qpair->disconnecting && tcp_group(g_pg)->stat.admit_timeouts == 1);
	conn_close(&c);
	CU_ASSERT(tt->num_unadmitted == 0);
	/* ICReq but no Connect: the same. */
	conn_open(&c, PORT_MAIN);
	host_ic(&c, false, false, 0);
	tcp_qpair(c.qpair)->admit_deadline = 1;
	poll_group();
	CU_ASSERT(c.qpair->disconnecting && tcp_group(g_pg)->stat.admit_timeouts == 2);
	conn_close(&c);

	/* At the cap, a new connection is closed at accept. */
	tt->num_unadmitted = NVMF_TCP_MAX_UNADMITTED;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	for (i = 0; i < 50; i++) {
		CU_ASSERT(g_t->ops->accept(g_t, new_qpair_cb, NULL) == 0);
		usleep(1000);
	}
	CU_ASSERT(tt->refused_log_tick != 0);
	n = recv(fd, &b, 1, MSG_DONTWAIT);
	CU_ASSERT(n == 0 || (n < 0 && errno == ECONNRESET));
	close(fd);
	tt->num_unadmitted = 0;
	CU_ASSERT(bufs_free() == 4);
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	CU_initialize_registry();
	suite = CU_add_suite("nvmf_tcp", suite_init, suite_fini);
	CU_ADD_TEST(suite, test_opts_and_create);
	CU_ADD_TEST(suite, test_admission);
	CU_ADD_TEST(suite, test_ic_connect_icd_write);
	CU_ADD_TEST(suite, test_admin_icd_8k);
	CU_ADD_TEST(suite, test_write_r2t);
	CU_ADD_TEST(suite, test_read_c2h);
	CU_ADD_TEST(suite, test_read_error_status);
	CU_ADD_TEST(suite, test_digests);
	CU_ADD_TEST(suite, test_bad_sgl);
	CU_ADD_TEST(suite, test_bad_pdus);
	CU_ADD_TEST(suite, test_bad_h2c);
	CU_ADD_TEST(suite, test_peer_close_mid_transfer);
	CU_ADD_TEST(suite, test_buffer_wait_and_core_disconnect);
	CU_ADD_TEST(suite, test_queue_full_stash);
	CU_ADD_TEST(suite, test_paused_list);
	CU_ADD_TEST(suite, test_sync_fini_and_pda);
	CU_ADD_TEST(suite, test_read_direct_pdus);
	CU_ADD_TEST(suite, test_write_error_sync_fini);
	CU_ADD_TEST(suite, test_stats);
	rc = ut_run_suites();
	return rc;
}
