/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the NVMe/TCP host transport (lib/nvme/tcp.c) against
 * a hand-written controller peer in the test: a plain TCP socket on
 * 127.0.0.1 (on a port the kernel picks) driven from the same thread,
 * which reads the host's PDUs and writes crafted ones. Covers ICResp
 * validation (PFV, CPDA, MAXH2CDATA, digests), in-capsule writes, R2T and
 * H2CData splitting at MAXH2CDATA, C2HData into iovecs with and without the
 * SUCCESS flag, data digest errors, and every protocol violation that must
 * fail the qpair (unknown cid, data beyond the buffer, misplaced R2T,
 * TermReq, peer close) without crashing.
 */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "osprey_internal/sock_module.h"
#include "nvme/nvme.c"
#include "nvme/nvme_ctrlr.c"
#include "nvme/nvme_qpair.c"
#include "nvme/tcp.c"
#include "nvme/pcie.c"
#include "ut_port.h"
#include "ut_run.h"

#define NQN1 "nqn.2016-06.io.osprey:cnode1"

static int g_listen_fd = -1;
static int g_port;

struct conn {
	struct osp_nvme_ctrlr *ctrlr;
	struct nvme_qpair *q;
	int fd; /* the peer's end */
	bool hdgst, ddgst;
	uint32_t maxh2cdata;
	int32_t last_rc;
};

static int
listen_port(void)
{
	uint16_t port;

	g_listen_fd = ut_listen_any(&port);
	return g_listen_fd < 0 ? -1 : port;
}

/* Let the host make progress: connect steps or completions. */
static void
pump(struct conn *c)
{
	if (c->q->state == NVME_QPAIR_TRANSPORT_CONNECTING ||
	    c->q->state == NVME_QPAIR_FABRIC_CONNECTING) {
		c->last_rc = nvme_qpair_connect_poll(c->q);
	} else {
		c->last_rc = osp_nvme_qpair_process_completions((struct osp_nvme_qpair *)c->q, 0);
	}
}

/* Read exactly n bytes from the host, pumping it meanwhile. 0 or -1 (timeout/EOF). */
static int
peer_read(struct conn *c, void *buf, size_t n)
{
	size_t got = 0;
	uint64_t deadline = nvme_now_us() + 3000000;

	while (got < n) {
		ssize_t r = recv(c->fd, (uint8_t *)buf + got, n - got, MSG_DONTWAIT);

		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0) {
			return -1;
		}
		if (nvme_now_us() > deadline) {
			return -1;
		}
		pump(c);
		usleep(100);
	}
	return 0;
}

/* Read one PDU from the host into buf (header + everything); returns plen or -1. */
static int
peer_read_pdu(struct conn *c, uint8_t *buf, size_t cap)
{
	struct osp_nvme_tcp_common_hdr ch;

	if (peer_read(c, &ch, sizeof(ch)) != 0 || ch.plen < sizeof(ch) || ch.plen > cap) {
		return -1;
	}
	memcpy(buf, &ch, sizeof(ch));
	if (peer_read(c, buf + sizeof(ch), ch.plen - sizeof(ch)) != 0) {
		return -1;
	}
	return (int)ch.plen;
}

static void
peer_send(struct conn *c, const void *buf, size_t len)
{
	CU_ASSERT_FATAL(send(c->fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len);
}

static void
peer_send_pdu(struct conn *c, struct osp_nvme_tcp_pdu *pdu)
{
	int i;

	for (i = 0; i < pdu->iovcnt; i++) {
		peer_send(c, pdu->iov[i].iov_base, pdu->iov[i].iov_len);
	}
}

static struct osp_nvme_tcp_send_params
peer_params(struct conn *c)
{
	struct osp_nvme_tcp_send_params p = { .hdgst = c->hdgst, .ddgst = c->ddgst, .pda = 0 };

	return p;
}

/* Start a host qpair (qid) and accept it; the ICReq is read and checked. */
static void
conn_start(struct conn *c, uint16_t qid, bool hdgst, bool ddgst)
{
	struct osp_nvme_transport_id t;
	struct osp_nvme_ctrlr_opts o;
	struct osp_nvme_tcp_ic_req icreq;
	char s[200];
	int rc;

	memset(c, 0, sizeof(*c));
	c->hdgst = hdgst;
	c->ddgst = ddgst;
	snprintf(s, sizeof(s), "trtype:tcp traddr:127.0.0.1 trsvcid:%d subnqn:" NQN1, g_port);
	CU_ASSERT_FATAL(osp_nvme_transport_id_parse(&t, s) == 0);
	osp_nvme_ctrlr_opts_init(&o, sizeof(o));
	o.header_digest = hdgst;
	o.data_digest = ddgst;
	c->ctrlr = nvme_ctrlr_alloc(&t, &o, sizeof(o), &rc);
	CU_ASSERT_FATAL(c->ctrlr != NULL);
	/* IOCCSZ allowing 4096 bytes of in-capsule data on I/O queues */
	c->ctrlr->cdata.ioccsz = (4096 + 64) / 16;
	c->ctrlr->cntlid = 9;
	if (qid == 0) {
		c->q = c->ctrlr->adminq;
	} else {
		c->q = g_nvme_tcp_ops.qpair_create(c->ctrlr, qid, 32);
		CU_ASSERT_FATAL(c->q != NULL);
	}
	CU_ASSERT_FATAL(nvme_qpair_connect_start(c->q, 3000) == 0);
	c->fd = accept(g_listen_fd, NULL, NULL);
	CU_ASSERT_FATAL(c->fd >= 0);
	CU_ASSERT_FATAL(peer_read(c, &icreq, sizeof(icreq)) == 0);
	CU_ASSERT(icreq.ch.pdu_type == OSP_NVME_TCP_PDU_TYPE_IC_REQ);
	CU_ASSERT(icreq.ch.plen == 128);
	CU_ASSERT(icreq.pfv == 0);
	CU_ASSERT(icreq.hpda == 0);
	CU_ASSERT(icreq.maxr2t == 0);
	CU_ASSERT(icreq.dgst == ((hdgst ? 1 : 0) | (ddgst ? 2 : 0)));
}

static void
conn_free(struct conn *c)
{
	if (c->q != c->ctrlr->adminq) {
		nvme_qpair_disconnect(c->q, NVME_QPAIR_DISCONNECTED);
		c->q->ops->qpair_destroy(c->q);
	}
	nvme_ctrlr_free(c->ctrlr);
	if (c->fd >= 0) {
		close(c->fd);
	}
}

/* Pump until the qpair's connect ends; its result. */
static int
conn_wait_connect(struct conn *c)
{
	uint64_t deadline = nvme_now_us() + 3000000;

	for (;;) {
		pump(c);
		if (c->last_rc != -EAGAIN || nvme_now_us() > deadline) {
			return c->last_rc;
		}
		if (c->q->state == NVME_QPAIR_FABRIC_CONNECTING) {
			return -EAGAIN;
		}
		usleep(100);
	}
}

static void
send_icresp(struct conn *c, uint16_t pfv, uint8_t cpda, uint8_t dgst, uint32_t maxh2cdata)
{
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_tcp_ic_resp *r = &pdu.hdr.ic_resp;

	CU_ASSERT_FATAL(osp_nvme_tcp_build_ic_resp(&pdu, 0, dgst, 4096) == 0);
	/* fields the builder would refuse are patched in (IC PDUs carry no digest) */
	r->pfv = pfv;
	r->cpda = cpda;
	r->maxh2cdata = maxh2cdata;
	c->maxh2cdata = maxh2cdata;
	peer_send_pdu(c, &pdu);
}

static void
send_resp(struct conn *c, uint16_t cid, uint8_t sct, uint8_t sc, uint32_t cdw0)
{
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_tcp_send_params p = peer_params(c);
	struct osp_nvme_cpl cpl;

	memset(&cpl, 0, sizeof(cpl));
	cpl.cid = cid;
	cpl.cdw0 = cdw0;
	cpl.status.sct = sct;
	cpl.status.sc = sc;
	CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_resp(&pdu, &p, &cpl) == 0);
	peer_send_pdu(c, &pdu);
}

static uint8_t g_pdu[300000];

/* Full setup: ICResp accepted, Connect answered. */
static void
conn_up(struct conn *c, uint16_t qid, bool hdgst, bool ddgst, uint32_t maxh2cdata)
{
	const struct osp_nvme_tcp_cmd *cmd = (const void *)g_pdu;
	const struct osp_nvmf_connect_cmd *cc = (const void *)&cmd->ccsqe;
	const struct osp_nvmf_connect_data *cd;
	int plen;

	conn_start(c, qid, hdgst, ddgst);
	send_icresp(c, 0, 0, (hdgst ? 1 : 0) | (ddgst ? 2 : 0), maxh2cdata);
	CU_ASSERT(conn_wait_connect(c) == -EAGAIN);
	plen = peer_read_pdu(c, g_pdu, sizeof(g_pdu));
	CU_ASSERT_FATAL(plen > 0);
	CU_ASSERT(cmd->ch.pdu_type == OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD);
	CU_ASSERT(cc->opcode == OSP_NVMF_FABRIC_OPCODE && cc->fctype == OSP_NVMF_FCTYPE_CONNECT);
	CU_ASSERT(cc->qid == qid);
	/* Connect data in-capsule, described by an offset data block SGL */
	CU_ASSERT(cc->sgl1.unkeyed.type == OSP_NVME_SGL_TYPE_DATA_BLOCK);
	CU_ASSERT(cc->sgl1.unkeyed.subtype == OSP_NVME_SGL_SUBTYPE_OFFSET);
	CU_ASSERT(cc->sgl1.unkeyed.length == 1024);
	CU_ASSERT(cmd->ch.flags == ((hdgst ? 1 : 0) | (ddgst ? 2 : 0)));
	cd = (const void *)(g_pdu + cmd->ch.pdo);
	CU_ASSERT(strcmp(cd->subnqn, NQN1) == 0);
	CU_ASSERT(cd->cntlid == (qid == 0 ? 0xffff : 9));
	send_resp(c, cmd->ccsqe.cid, 0, 0, 9);
	CU_ASSERT(conn_wait_connect(c) == 0);
	CU_ASSERT(c->q->state == NVME_QPAIR_CONNECTED);
}

/* ---- command tracking ---- */

static int g_done;
static struct osp_nvme_cpl g_cpl;

static void
cb(void *arg, const struct osp_nvme_cpl *cpl)
{
	g_done++;
	g_cpl = *cpl;
}

static int
submit(struct conn *c, uint8_t opc, void *buf, uint32_t len)
{
	struct osp_nvme_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = opc;
	cmd.nsid = 1;
	return osp_nvme_ctrlr_cmd_io_raw(c->ctrlr, (struct osp_nvme_qpair *)c->q, &cmd, buf, len,
					 cb, NULL);
}

static bool
wait_done(struct conn *c, int n)
{
	uint64_t deadline = nvme_now_us() + 3000000;

	while (g_done < n && nvme_now_us() < deadline) {
		pump(c);
		if (c->last_rc < 0) {
			return false;
		}
		usleep(100);
	}
	return g_done >= n;
}

/* Pump until the qpair reports failure. */
static bool
wait_failed(struct conn *c)
{
	uint64_t deadline = nvme_now_us() + 3000000;

	while (nvme_now_us() < deadline) {
		pump(c);
		if (c->last_rc == -ENXIO) {
			return true;
		}
		usleep(100);
	}
	return false;
}

/* ---- tests ---- */

static void
test_icresp_validation(void)
{
	struct conn c;
	uint8_t term[200];

	/* PFV not 0: refused, H2CTermReq sent */
	conn_start(&c, 0, false, false);
	send_icresp(&c, 1, 0, 0, 8192);
	CU_ASSERT(conn_wait_connect(&c) == -EPROTO);
	CU_ASSERT(peer_read(&c, term, 24) == 0);
	CU_ASSERT(term[0] == OSP_NVME_TCP_PDU_TYPE_H2C_TERM_REQ);
	CU_ASSERT(((struct osp_nvme_tcp_term_req_hdr *)term)->fes ==
		  OSP_NVME_TCP_FES_UNSUPPORTED_PARAMETER);
	CU_ASSERT(c.q->connect_err.rc == -EPROTO);
	conn_free(&c);

	/* CPDA above 31 */
	conn_start(&c, 0, false, false);
	send_icresp(&c, 0, 32, 0, 8192);
	CU_ASSERT(conn_wait_connect(&c) == -EPROTO);
	conn_free(&c);

	/* MAXH2CDATA below 4096, and not a multiple of 4 */
	conn_start(&c, 0, false, false);
	send_icresp(&c, 0, 0, 0, 2048);
	CU_ASSERT(conn_wait_connect(&c) == -EPROTO);
	conn_free(&c);
	conn_start(&c, 0, false, false);
	send_icresp(&c, 0, 0, 0, 8190);
	CU_ASSERT(conn_wait_connect(&c) == -EPROTO);
	conn_free(&c);

	/* digests not as asked */
	conn_start(&c, 0, true, true);
	send_icresp(&c, 0, 0, 1, 8192);
	CU_ASSERT(conn_wait_connect(&c) == -EPROTO);
	conn_free(&c);
	conn_start(&c, 0, false, false);
	send_icresp(&c, 0, 0, 3, 8192);
	CU_ASSERT(conn_wait_connect(&c) == -EPROTO);
	conn_free(&c);

	/* a CapsuleResp instead of the ICResp */
	conn_start(&c, 0, false, false);
	send_resp(&c, 0, 0, 0, 0);
	CU_ASSERT(conn_wait_connect(&c) == -EPROTO);
	conn_free(&c);

	/* peer closes before answering */
	conn_start(&c, 0, false, false);
	close(c.fd);
	c.fd = -1;
	CU_ASSERT(conn_wait_connect(&c) == -ECONNRESET);
	conn_free(&c);

	/* Connect refused: the status is kept */
	conn_start(&c, 0, false, false);
	send_icresp(&c, 0, 0, 0, 8192);
	CU_ASSERT(conn_wait_connect(&c) == -EAGAIN);
	CU_ASSERT(peer_read_pdu(&c, g_pdu, sizeof(g_pdu)) > 0);
	send_resp(&c, ((struct osp_nvme_tcp_cmd *)g_pdu)->ccsqe.cid, OSP_NVME_SCT_COMMAND_SPECIFIC,
		  OSP_NVMF_SC_INVALID_HOST, 0);
	CU_ASSERT(conn_wait_connect(&c) == -EACCES);
	CU_ASSERT(c.q->connect_err.has_cpl);
	CU_ASSERT(c.q->connect_err.cpl.status.sc == OSP_NVMF_SC_INVALID_HOST);
	conn_free(&c);
}

static void
test_writes(void)
{
	static uint8_t data[20000];
	struct conn c;
	const struct osp_nvme_tcp_cmd *cmd = (const void *)g_pdu;
	const struct osp_nvme_sgl_descriptor *sgl = (const void *)&cmd->ccsqe.prp1;
	struct osp_nvme_tcp_pdu r2t;
	struct osp_nvme_tcp_send_params p;
	size_t i;
	int digests;

	for (i = 0; i < sizeof(data); i++) {
		data[i] = (uint8_t)(i * 7 + 1);
	}
	for (digests = 0; digests < 2; digests++) {
		conn_up(&c, 1, digests, digests, 8192);
		p = peer_params(&c);

		/* 4096 bytes: in-capsule */
		g_done = 0;
		CU_ASSERT(submit(&c, OSP_NVME_OPC_WRITE, data, 4096) == 0);
		CU_ASSERT_FATAL(peer_read_pdu(&c, g_pdu, sizeof(g_pdu)) > 0);
		CU_ASSERT(cmd->ch.pdu_type == OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD);
		CU_ASSERT(sgl->unkeyed.type == OSP_NVME_SGL_TYPE_DATA_BLOCK);
		CU_ASSERT(sgl->unkeyed.subtype == OSP_NVME_SGL_SUBTYPE_OFFSET);
		CU_ASSERT(sgl->unkeyed.length == 4096);
		CU_ASSERT(cmd->ch.plen == cmd->ch.pdo + 4096u + (digests ? 4 : 0));
		CU_ASSERT(memcmp(g_pdu + cmd->ch.pdo, data, 4096) == 0);
		send_resp(&c, cmd->ccsqe.cid, 0, 0, 0);
		CU_ASSERT(wait_done(&c, 1));
		CU_ASSERT(!osp_nvme_cpl_is_error(&g_cpl));

		/* 20000 bytes: R2T, H2CData split at MAXH2CDATA (8192) */
		g_done = 0;
		CU_ASSERT(submit(&c, OSP_NVME_OPC_WRITE, data, sizeof(data)) == 0);
		CU_ASSERT_FATAL(peer_read_pdu(&c, g_pdu, sizeof(g_pdu)) > 0);
		{
			uint16_t cid = cmd->ccsqe.cid;
			uint32_t off, want[] = { 8192, 4096, 7712 };
			uint32_t r2t_at[] = { 0, 12288 }, r2t_len[] = { 12288, 7712 };
			int k, pdus = 0;

			CU_ASSERT(sgl->unkeyed.type == OSP_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK);
			CU_ASSERT(sgl->unkeyed.length == sizeof(data));
			CU_ASSERT(cmd->ch.plen == 72u + (digests ? 4 : 0)); /* no data */
			for (k = 0; k < 2; k++) {
				CU_ASSERT_FATAL(osp_nvme_tcp_build_r2t(&r2t, &p, cid, (uint16_t)(7 + k),
								       r2t_at[k], r2t_len[k]) == 0);
				peer_send_pdu(&c, &r2t);
				off = r2t_at[k];
				while (off < r2t_at[k] + r2t_len[k]) {
					const struct osp_nvme_tcp_h2c_data_hdr *h = (const void *)g_pdu;

					CU_ASSERT_FATAL(peer_read_pdu(&c, g_pdu, sizeof(g_pdu)) > 0);
					CU_ASSERT_FATAL(h->ch.pdu_type == OSP_NVME_TCP_PDU_TYPE_H2C_DATA);
					CU_ASSERT(h->cccid == cid);
					CU_ASSERT(h->ttag == 7 + k);
					CU_ASSERT(h->datao == off);
					CU_ASSERT(h->datal == want[pdus]);
					CU_ASSERT(memcmp(g_pdu + h->ch.pdo, data + off, h->datal) == 0);
					off += h->datal;
					CU_ASSERT(!!(h->ch.flags & OSP_NVME_TCP_DATA_FLAGS_LAST_PDU) ==
						  (off == r2t_at[k] + r2t_len[k]));
					pdus++;
				}
			}
			CU_ASSERT(pdus == 3);
			CU_ASSERT(g_done == 0);
			send_resp(&c, cid, 0, 0, 0);
			CU_ASSERT(wait_done(&c, 1));
			CU_ASSERT(!osp_nvme_cpl_is_error(&g_cpl));
		}
		conn_free(&c);
	}
}

static void
test_reads(void)
{
	static uint8_t data[10000], a[4000], b[6000];
	struct conn c;
	const struct osp_nvme_tcp_cmd *cmd = (const void *)g_pdu;
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_tcp_send_params p;
	struct iovec iov[2];
	struct osp_nvme_cmd rc;
	uint16_t cid;
	size_t i;

	for (i = 0; i < sizeof(data); i++) {
		data[i] = (uint8_t)(i * 13 + 5);
	}
	conn_up(&c, 1, true, true, 8192);
	p = peer_params(&c);

	/* into two iovecs, SUCCESS flag: no CapsuleResp */
	memset(&rc, 0, sizeof(rc));
	rc.opc = OSP_NVME_OPC_READ;
	rc.nsid = 1;
	iov[0].iov_base = a;
	iov[0].iov_len = sizeof(a);
	iov[1].iov_base = b;
	iov[1].iov_len = sizeof(b);
	g_done = 0;
	CU_ASSERT(nvme_qpair_submit(c.q, &rc, iov, 2, NULL, sizeof(data), cb, NULL, false) == 0);
	CU_ASSERT_FATAL(peer_read_pdu(&c, g_pdu, sizeof(g_pdu)) > 0);
	cid = cmd->ccsqe.cid;
	{
		struct iovec d = { data, 6000 };

		CU_ASSERT_FATAL(osp_nvme_tcp_build_c2h_data(&pdu, &p, cid, 0, &d, 1, false, false) == 0);
		peer_send_pdu(&c, &pdu);
		d.iov_base = data + 6000;
		d.iov_len = 4000;
		CU_ASSERT_FATAL(osp_nvme_tcp_build_c2h_data(&pdu, &p, cid, 6000, &d, 1, true, true) == 0);
		peer_send_pdu(&c, &pdu);
	}
	CU_ASSERT(wait_done(&c, 1));
	CU_ASSERT(!osp_nvme_cpl_is_error(&g_cpl));
	CU_ASSERT(memcmp(a, data, 4000) == 0);
	CU_ASSERT(memcmp(b, data + 4000, 6000) == 0);

	/* data, then a CapsuleResp; the data digest is corrupted: transient transport error */
	g_done = 0;
	CU_ASSERT(submit(&c, OSP_NVME_OPC_READ, a, 4000) == 0);
	CU_ASSERT_FATAL(peer_read_pdu(&c, g_pdu, sizeof(g_pdu)) > 0);
	cid = cmd->ccsqe.cid;
	{
		struct iovec d = { data, 4000 };

		CU_ASSERT_FATAL(osp_nvme_tcp_build_c2h_data(&pdu, &p, cid, 0, &d, 1, true, false) == 0);
		pdu.ddgst[0] ^= 0xff;
		peer_send_pdu(&c, &pdu);
	}
	send_resp(&c, cid, 0, 0, 0);
	CU_ASSERT(wait_done(&c, 1));
	CU_ASSERT(g_cpl.status.sct == OSP_NVME_SCT_GENERIC);
	CU_ASSERT(g_cpl.status.sc == OSP_NVME_SC_TRANSIENT_TRANSPORT_ERROR);
	/* the qpair goes on */
	g_done = 0;
	CU_ASSERT(submit(&c, OSP_NVME_OPC_FLUSH, NULL, 0) == 0);
	CU_ASSERT_FATAL(peer_read_pdu(&c, g_pdu, sizeof(g_pdu)) > 0);
	send_resp(&c, cmd->ccsqe.cid, 0, 0, 0);
	CU_ASSERT(wait_done(&c, 1));
	CU_ASSERT(!osp_nvme_cpl_is_error(&g_cpl));
	conn_free(&c);
}

enum bad_kind {
	BAD_C2H_UNKNOWN_CID,
	BAD_C2H_BEYOND_BUFFER,
	BAD_C2H_OUT_OF_ORDER,
	BAD_C2H_FOR_WRITE,
	BAD_R2T_FOR_READ,
	BAD_R2T_BEYOND,
	BAD_RESP_UNKNOWN_CID,
	BAD_SUCCESS_EARLY,
	BAD_TERM_REQ,
	BAD_CLOSE,
	BAD_HDGST,
};

static void
run_bad(enum bad_kind kind)
{
	static uint8_t buf[8192], junk[8192];
	struct conn c;
	const struct osp_nvme_tcp_cmd *cmd = (const void *)g_pdu;
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_tcp_send_params p;
	struct iovec d = { junk, 4096 };
	uint16_t rcid, wcid;
	uint8_t term[200];

	conn_up(&c, 1, true, false, 8192);
	p = peer_params(&c);
	g_done = 0;
	CU_ASSERT(submit(&c, OSP_NVME_OPC_READ, buf, 4096) == 0);
	CU_ASSERT_FATAL(peer_read_pdu(&c, g_pdu, sizeof(g_pdu)) > 0);
	rcid = cmd->ccsqe.cid;
	CU_ASSERT(submit(&c, OSP_NVME_OPC_WRITE, buf, 8192) == 0);
	CU_ASSERT_FATAL(peer_read_pdu(&c, g_pdu, sizeof(g_pdu)) > 0);
	wcid = cmd->ccsqe.cid;

	switch (kind) {
	case BAD_C2H_UNKNOWN_CID:
		osp_nvme_tcp_build_c2h_data(&pdu, &p, 25, 0, &d, 1, true, true);
		peer_send_pdu(&c, &pdu);
		break;
	case BAD_C2H_BEYOND_BUFFER:
		d.iov_len = 8192;
		osp_nvme_tcp_build_c2h_data(&pdu, &p, rcid, 0, &d, 1, true, true);
		peer_send_pdu(&c, &pdu);
		break;
	case BAD_C2H_OUT_OF_ORDER:
		d.iov_len = 1024;
		osp_nvme_tcp_build_c2h_data(&pdu, &p, rcid, 1024, &d, 1, false, false);
		peer_send_pdu(&c, &pdu);
		break;
	case BAD_C2H_FOR_WRITE:
		osp_nvme_tcp_build_c2h_data(&pdu, &p, wcid, 0, &d, 1, true, true);
		peer_send_pdu(&c, &pdu);
		break;
	case BAD_R2T_FOR_READ:
		osp_nvme_tcp_build_r2t(&pdu, &p, rcid, 1, 0, 4096);
		peer_send_pdu(&c, &pdu);
		break;
	case BAD_R2T_BEYOND:
		osp_nvme_tcp_build_r2t(&pdu, &p, wcid, 1, 4096, 8192);
		peer_send_pdu(&c, &pdu);
		break;
	case BAD_RESP_UNKNOWN_CID:
		send_resp(&c, 30, 0, 0, 0);
		break;
	case BAD_SUCCESS_EARLY:
		d.iov_len = 1024;
		osp_nvme_tcp_build_c2h_data(&pdu, &p, rcid, 0, &d, 1, true, true);
		peer_send_pdu(&c, &pdu);
		break;
	case BAD_TERM_REQ:
		osp_nvme_tcp_build_term_req(&pdu, OSP_NVME_TCP_ROLE_TARGET,
					    OSP_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0, NULL, 0);
		peer_send_pdu(&c, &pdu);
		break;
	case BAD_CLOSE:
		close(c.fd);
		c.fd = -1;
		break;
	case BAD_HDGST:
		osp_nvme_tcp_build_capsule_resp(&pdu, &p, (struct osp_nvme_cpl[]){ { .cid = rcid } });
		((uint8_t *)pdu.iov[0].iov_base)[24] ^= 1;
		peer_send_pdu(&c, &pdu);
		break;
	}
	CU_ASSERT(wait_failed(&c));
	/* both outstanding commands were aborted, exactly once */
	CU_ASSERT(g_done == 2);
	CU_ASSERT(g_cpl.status.sc == OSP_NVME_SC_ABORTED_SQ_DELETION);
	CU_ASSERT(osp_nvme_qpair_get_num_outstanding((struct osp_nvme_qpair *)c.q) == 0);
	/* the qpair stays failed */
	CU_ASSERT(submit(&c, OSP_NVME_OPC_FLUSH, NULL, 0) == -ENXIO);
	CU_ASSERT(osp_nvme_qpair_process_completions((struct osp_nvme_qpair *)c.q, 0) == -ENXIO);
	if (kind != BAD_CLOSE && kind != BAD_TERM_REQ) {
		/* a protocol error is reported to the controller with an H2CTermReq */
		if (peer_read(&c, term, 24) == 0) {
			CU_ASSERT(term[0] == OSP_NVME_TCP_PDU_TYPE_H2C_TERM_REQ);
		} else {
			CU_FAIL("no H2CTermReq");
		}
	}
	conn_free(&c);
}

static void
test_protocol_errors(void)
{
	int k;

	for (k = BAD_C2H_UNKNOWN_CID; k <= BAD_HDGST; k++) {
		run_bad((enum bad_kind)k);
	}
}

static void
test_cid_exhaustion(void)
{
	static uint8_t buf[512];
	struct conn c;
	int i, ok = 0;

	conn_up(&c, 1, false, false, 8192);
	for (i = 0; i < 40; i++) {
		int rc = submit(&c, OSP_NVME_OPC_READ, buf, 512);

		if (rc == 0) {
			ok++;
		} else {
			CU_ASSERT(rc == -ENOMEM);
		}
	}
	CU_ASSERT(ok == 31); /* queue of 32 */
	conn_free(&c);
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	g_osp_sock_posix_sendmsg_calls = 0;
	g_port = listen_port();
	if (g_port < 0) {
		fprintf(stderr, "cannot listen on 127.0.0.1\n");
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("nvme_tcp", NULL, NULL);
	CU_ADD_TEST(suite, test_icresp_validation);
	CU_ADD_TEST(suite, test_writes);
	CU_ADD_TEST(suite, test_reads);
	CU_ADD_TEST(suite, test_protocol_errors);
	CU_ADD_TEST(suite, test_cid_exhaustion);
	rc = ut_run_suites();
	close(g_listen_fd);
	return rc;
}
