/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/nvme_tcp_codec: wire format sizes, PDU builders, and the
 * receive state machine fed in every split, with every header field wrong.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_tcp_codec/pdu.c"
#include "ut_run.h"

#define MAX_RECS 16
#define DATA_BUF 65536

struct rec {
	uint8_t type;
	uint8_t hdr[OSP_NVME_TCP_RECV_HDR_BUF];
	uint32_t data_len;
	size_t data_off; /* where its data went in ctx->databuf */
	bool ddgst_ok;
};

struct ctx {
	struct rec recs[MAX_RECS];
	int nrec;
	int hdr_calls;
	uint8_t databuf[DATA_BUF];
	size_t data_used;
	size_t iov_chunk;	/* split the data iovec into pieces of this size (0: one iovec) */
	size_t give_len;	/* limit the iovec space offered (0: as much as asked) */
	bool ic_set_params;	/* call set_params from the IC done callback */
	bool hdgst, ddgst;
	uint8_t pda;
	int hdr_eagain;		/* pause this many times in hdr_fn */
	int done_eagain;	/* pause this many times in done_fn */
	uint16_t hdr_fail_fes;	/* make hdr_fn fail the connection */
};

static int
ut_hdr_fn(struct osp_nvme_tcp_recv *r, void *cb_arg, const union osp_nvme_tcp_pdu_hdr *hdr,
	  uint32_t data_len, struct iovec *iov, int *iovcnt)
{
	struct ctx *c = cb_arg;
	size_t len = c->give_len ? c->give_len : data_len;
	size_t off = 0;
	int n = 0;

	c->hdr_calls++;
	if (c->hdr_eagain > 0) {
		c->hdr_eagain--;
		return -EAGAIN;
	}
	if (c->hdr_fail_fes) {
		return osp_nvme_tcp_recv_fail(r, c->hdr_fail_fes, 10);
	}
	CU_ASSERT_FATAL(c->data_used + len <= DATA_BUF);
	while (off < len) {
		size_t chunk = c->iov_chunk ? OSP_MIN(c->iov_chunk, len - off) : len - off;

		CU_ASSERT_FATAL(n < *iovcnt);
		iov[n].iov_base = c->databuf + c->data_used + off;
		iov[n].iov_len = chunk;
		n++;
		off += chunk;
	}
	*iovcnt = n;
	return 0;
}

static int
ut_done_fn(struct osp_nvme_tcp_recv *r, void *cb_arg, const union osp_nvme_tcp_pdu_hdr *hdr,
	   uint32_t data_len, bool ddgst_ok)
{
	struct ctx *c = cb_arg;
	struct rec *rec;
	uint8_t type = hdr->ch.pdu_type;

	CU_ASSERT_FATAL(c->nrec < MAX_RECS);
	rec = &c->recs[c->nrec++];
	rec->type = type;
	memcpy(rec->hdr, hdr->raw, OSP_MIN((size_t)le32toh(hdr->ch.plen), sizeof(rec->hdr)));
	rec->data_len = data_len;
	rec->ddgst_ok = ddgst_ok;
	rec->data_off = c->data_used;
	if (!pdu_type_is_term(type)) {
		c->data_used += data_len;
	}
	if (pdu_type_is_ic(type) && c->ic_set_params) {
		CU_ASSERT(osp_nvme_tcp_recv_set_params(r, c->hdgst, c->ddgst, c->pda) == 0);
	}
	if (c->done_eagain > 0) {
		c->done_eagain--;
		return -EAGAIN;
	}
	return 0;
}

static void
ut_recv_init(struct osp_nvme_tcp_recv *r, struct ctx *c, enum osp_nvme_tcp_role role)
{
	struct osp_nvme_tcp_recv_opts opts = {
		.role = role,
		.max_icd = 8192,
		.maxh2cdata = 16384,
		.max_c2h_data = 32768,
		.hdr_fn = ut_hdr_fn,
		.done_fn = ut_done_fn,
		.cb_arg = c,
	};

	CU_ASSERT_FATAL(osp_nvme_tcp_recv_init(r, &opts) == 0);
}

static size_t
flatten(const struct osp_nvme_tcp_pdu *pdu, uint8_t *out)
{
	size_t off = 0;
	int i;

	for (i = 0; i < pdu->iovcnt; i++) {
		memcpy(out + off, pdu->iov[i].iov_base, pdu->iov[i].iov_len);
		off += pdu->iov[i].iov_len;
	}
	CU_ASSERT(off == pdu->plen);
	return off;
}

/*
 * Feed len bytes: a first chunk of `first` bytes, then chunks of `step`
 * (0 = everything left). Pauses are resumed by feeding the rest again.
 * Returns the bytes consumed or the first error.
 */
static ssize_t
feed_split(struct osp_nvme_tcp_recv *r, const uint8_t *buf, size_t len, size_t first, size_t step)
{
	size_t off = 0;
	int spins = 0;

	while (off < len) {
		size_t want = off == 0 && first ? first : (step ? step : len - off);
		ssize_t rc;

		want = OSP_MIN(want, len - off);
		rc = osp_nvme_tcp_recv_feed(r, buf + off, want);
		if (rc < 0) {
			return rc;
		}
		off += (size_t)rc;
		if ((size_t)rc < want && ++spins > 1000) {
			return -EDEADLK;
		}
	}
	return (ssize_t)off;
}

/* The same through next_iov/commit, writing at most `step` bytes per round. */
static ssize_t
feed_zero_copy(struct osp_nvme_tcp_recv *r, const uint8_t *buf, size_t len, size_t step)
{
	struct iovec iov[4];
	size_t off = 0;
	int spins = 0;

	while (off < len) {
		size_t room = OSP_MIN(step, len - off), n = 0;
		int cnt = osp_nvme_tcp_recv_next_iov(r, iov, 4), i, rc;

		if (cnt < 0) {
			return cnt;
		}
		if (cnt == 0) {
			if (++spins > 1000) {
				return -EDEADLK;
			}
			continue;
		}
		for (i = 0; i < cnt && n < room; i++) {
			size_t chunk = OSP_MIN(iov[i].iov_len, room - n);

			memcpy(iov[i].iov_base, buf + off + n, chunk);
			n += chunk;
		}
		rc = osp_nvme_tcp_recv_commit(r, n);
		if (rc < 0) {
			return rc;
		}
		off += n;
	}
	return (ssize_t)off;
}

/* Set up a receiver that has already taken its IC PDU with these parameters. */
static void
ut_connect(struct osp_nvme_tcp_recv *r, struct ctx *c, enum osp_nvme_tcp_role role, bool hdgst,
	   bool ddgst, uint8_t pda)
{
	struct osp_nvme_tcp_pdu pdu;
	uint8_t wire[256];
	size_t len;
	uint8_t dgst = (hdgst ? OSP_NVME_TCP_DGST_HDGST_ENABLE : 0) |
		       (ddgst ? OSP_NVME_TCP_DGST_DDGST_ENABLE : 0);

	memset(c, 0, sizeof(*c));
	c->ic_set_params = true;
	c->hdgst = hdgst;
	c->ddgst = ddgst;
	c->pda = pda;
	ut_recv_init(r, c, role);
	if (role == OSP_NVME_TCP_ROLE_TARGET) {
		CU_ASSERT_FATAL(osp_nvme_tcp_build_ic_req(&pdu, 0, dgst, 3) == 0);
	} else {
		CU_ASSERT_FATAL(osp_nvme_tcp_build_ic_resp(&pdu, 0, dgst, 16384) == 0);
	}
	len = flatten(&pdu, wire);
	CU_ASSERT_FATAL(osp_nvme_tcp_recv_feed(r, wire, len) == (ssize_t)len);
	CU_ASSERT_FATAL(c->nrec == 1);
	c->nrec = 0;
	c->data_used = 0;
}

static void
fill_pattern(uint8_t *buf, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		buf[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
	}
}

/* Recompute the header digest of a PDU in wire (after a test edited the header). */
static void
fix_hdgst(uint8_t *wire)
{
	uint8_t hlen = wire[2];

	if (wire[1] & OSP_NVME_TCP_CH_FLAGS_HDGSTF) {
		put_le32(wire + hlen, crc32c_final(osp_crc32c_update(wire, hlen, 0xffffffffu)));
	}
}

static void
set_plen(uint8_t *wire, uint32_t plen)
{
	put_le32(wire + 4, plen);
}

/* ---------------------------------------------------------------- tests */

static void
test_sizes(void)
{
	CU_ASSERT(sizeof(struct osp_nvme_cmd) == 64);
	CU_ASSERT(sizeof(struct osp_nvme_cpl) == 16);
	CU_ASSERT(sizeof(struct osp_nvme_ctrlr_data) == 4096);
	CU_ASSERT(offsetof(struct osp_nvme_ctrlr_data, ioccsz) == 1792);
	CU_ASSERT(offsetof(struct osp_nvme_ctrlr_data, subnqn) == 768);
	CU_ASSERT(offsetof(struct osp_nvme_ctrlr_data, mdts) == 77);
	CU_ASSERT(offsetof(struct osp_nvme_ctrlr_data, cntlid) == 78);
	CU_ASSERT(offsetof(struct osp_nvme_ctrlr_data, oaes) == 92);
	CU_ASSERT(offsetof(struct osp_nvme_ctrlr_data, nn) == 516);
	CU_ASSERT(offsetof(struct osp_nvme_ctrlr_data, vwc) == 525);
	CU_ASSERT(sizeof(struct osp_nvme_ns_data) == 4096);
	CU_ASSERT(offsetof(struct osp_nvme_ns_data, eui64) == 120);
	CU_ASSERT(sizeof(struct osp_nvme_sgl_descriptor) == 16);
	CU_ASSERT(sizeof(struct osp_nvme_error_information_entry) == 64);
	CU_ASSERT(sizeof(struct osp_nvme_health_information_page) == 512);
	CU_ASSERT(sizeof(struct osp_nvme_firmware_page) == 512);
	CU_ASSERT(sizeof(struct osp_nvmf_connect_cmd) == 64);
	CU_ASSERT(sizeof(struct osp_nvmf_connect_data) == 1024);
	CU_ASSERT(sizeof(struct osp_nvmf_connect_rsp) == 16);
	CU_ASSERT(sizeof(struct osp_nvmf_property_get_cmd) == 64);
	CU_ASSERT(sizeof(struct osp_nvmf_property_set_cmd) == 64);
	CU_ASSERT(offsetof(struct osp_nvmf_property_set_cmd, ofst) == 44);
	CU_ASSERT(offsetof(struct osp_nvmf_property_set_cmd, value) == 48);
	CU_ASSERT(sizeof(struct osp_nvmf_discovery_log_page) == 1024);
	CU_ASSERT(sizeof(struct osp_nvmf_discovery_log_page_entry) == 1024);
	CU_ASSERT(sizeof(struct osp_nvme_tcp_common_hdr) == 8);
	CU_ASSERT(sizeof(struct osp_nvme_tcp_ic_req) == 128);
	CU_ASSERT(sizeof(struct osp_nvme_tcp_ic_resp) == 128);
	CU_ASSERT(sizeof(struct osp_nvme_tcp_term_req_hdr) == 24);
	CU_ASSERT(sizeof(struct osp_nvme_tcp_cmd) == 72);
	CU_ASSERT(sizeof(struct osp_nvme_tcp_rsp) == 24);
	CU_ASSERT(sizeof(struct osp_nvme_tcp_h2c_data_hdr) == 24);
	CU_ASSERT(sizeof(struct osp_nvme_tcp_c2h_data_hdr) == 24);
	CU_ASSERT(sizeof(struct osp_nvme_tcp_r2t_hdr) == 24);
	CU_ASSERT(offsetof(struct osp_nvme_tcp_ic_resp, maxh2cdata) == 12);
	CU_ASSERT(offsetof(struct osp_nvme_tcp_h2c_data_hdr, datal) == 16);

	/* Bitfield layouts land where the spec puts them. */
	{
		union osp_nvme_cc_register cc = {.raw = 0};
		union osp_nvme_cap_register cap = {.raw = 0};
		struct osp_nvme_cpl cpl;
		union osp_nvme_async_event_completion aer = {.raw = 0};
		struct osp_nvme_sgl_descriptor sgl;

		cc.bits.iosqes = 6;
		cc.bits.iocqes = 4;
		cc.bits.en = 1;
		CU_ASSERT(cc.raw == 0x00460001);
		cap.bits.to = 0xff;
		cap.bits.mpsmax = 0xf;
		CU_ASSERT(cap.raw == ((0xffull << 24) | (0xfull << 52)));
		memset(&cpl, 0, sizeof(cpl));
		cpl.status.sct = OSP_NVME_SCT_COMMAND_SPECIFIC;
		cpl.status.sc = OSP_NVME_SC_INVALID_FIELD;
		cpl.status.dnr = 1;
		CU_ASSERT(cpl.raw == ((1u << OSP_NVME_STATUS_SCT_SHIFT) | (2u << OSP_NVME_STATUS_SC_SHIFT) |
				      (1u << OSP_NVME_STATUS_DNR_SHIFT)));
		aer.bits.async_event_type = OSP_NVME_ASYNC_EVENT_TYPE_NOTICE;
		aer.bits.async_event_info = OSP_NVME_ASYNC_EVENT_NS_ATTR_CHANGED;
		aer.bits.log_page_identifier = OSP_NVME_LOG_CHANGED_NS_LIST;
		CU_ASSERT(aer.raw == 0x00040002);
		memset(&sgl, 0, sizeof(sgl));
		sgl.unkeyed.type = OSP_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
		sgl.unkeyed.subtype = OSP_NVME_SGL_SUBTYPE_TRANSPORT;
		CU_ASSERT(((uint8_t *)&sgl)[15] == 0x5a);
		CU_ASSERT(OSP_NVME_SGL_ID_TRANSPORT == 0x5a && OSP_NVME_SGL_ID_ICD == 0x01);
		sgl.keyed.length = 0x123456;
		sgl.keyed.key = 0xdeadbeef;
		CU_ASSERT(((uint8_t *)&sgl)[8] == 0x56 && ((uint8_t *)&sgl)[10] == 0x12 &&
			  ((uint8_t *)&sgl)[11] == 0xef && ((uint8_t *)&sgl)[15] == 0x5a);
	}
}

/* The three-stream data digest equals the one-stream CRC at every length and alignment. */
static void
test_crc32c_data(void)
{
	static uint8_t buf[3 * 4096 + 64];
	size_t len, off, i;
	uint32_t seed = 12345;
	int bad = 0;

	for (i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
	for (off = 0; off < 9; off++) {
		for (len = 0; len + off <= sizeof(buf); len += (len < 1600 ? 1 : 97)) {
			uint32_t init = (uint32_t)(len * 2654435761u) ^ 0xffffffffu;

			if (crc32c_data(buf + off, len, init) != osp_crc32c_update(buf + off, len, init)) {
				bad++;
			}
		}
	}
	CU_ASSERT(bad == 0);
	/* The check value of CRC-32C, through the three-stream path's fallback and a long buffer. */
	CU_ASSERT(crc32c_final(crc32c_data("123456789", 9, 0xffffffffu)) == 0xe3069283);
	memset(buf, 0, 4096);
	CU_ASSERT(crc32c_data(buf, 4096, 0xffffffffu) == osp_crc32c_update(buf, 4096, 0xffffffffu));
}

static void
test_crc_wire_format(void)
{
	struct osp_nvme_tcp_send_params p = {.hdgst = true};
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cpl cpl;
	uint32_t crc;

	/* The standard CRC-32C check value. */
	CU_ASSERT(crc32c_final(osp_crc32c_update("123456789", 9, 0xffffffffu)) == 0xe3069283);
	memset(&cpl, 0, sizeof(cpl));
	cpl.cid = 7;
	CU_ASSERT(osp_nvme_tcp_build_capsule_resp(&pdu, &p, &cpl) == 0);
	CU_ASSERT(pdu.plen == 28 && pdu.iovcnt == 1 && pdu.iov[0].iov_len == 28);
	CU_ASSERT(pdu.hdr.ch.flags == OSP_NVME_TCP_CH_FLAGS_HDGSTF);
	crc = crc32c_final(osp_crc32c_update(pdu.raw, 24, 0xffffffffu));
	/* Little-endian on the wire. */
	CU_ASSERT(pdu.raw[24] == (crc & 0xff) && pdu.raw[25] == ((crc >> 8) & 0xff) &&
		  pdu.raw[26] == ((crc >> 16) & 0xff) && pdu.raw[27] == (crc >> 24));
}

/* One PDU of every kind each role receives, with the given parameters. */
struct case_pdu {
	enum osp_nvme_tcp_role rx_role;
	uint8_t type;
	uint32_t data_len;
};

static const struct case_pdu g_cases[] = {
	{OSP_NVME_TCP_ROLE_TARGET, OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 0},
	{OSP_NVME_TCP_ROLE_TARGET, OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 1},
	{OSP_NVME_TCP_ROLE_TARGET, OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 4096},
	{OSP_NVME_TCP_ROLE_TARGET, OSP_NVME_TCP_PDU_TYPE_H2C_DATA, 513},
	{OSP_NVME_TCP_ROLE_TARGET, OSP_NVME_TCP_PDU_TYPE_H2C_DATA, 16384},
	{OSP_NVME_TCP_ROLE_TARGET, OSP_NVME_TCP_PDU_TYPE_H2C_TERM_REQ, 0},
	{OSP_NVME_TCP_ROLE_TARGET, OSP_NVME_TCP_PDU_TYPE_H2C_TERM_REQ, 24},
	{OSP_NVME_TCP_ROLE_HOST, OSP_NVME_TCP_PDU_TYPE_CAPSULE_RESP, 0},
	{OSP_NVME_TCP_ROLE_HOST, OSP_NVME_TCP_PDU_TYPE_C2H_DATA, 3},
	{OSP_NVME_TCP_ROLE_HOST, OSP_NVME_TCP_PDU_TYPE_C2H_DATA, 32768},
	{OSP_NVME_TCP_ROLE_HOST, OSP_NVME_TCP_PDU_TYPE_R2T, 0},
	{OSP_NVME_TCP_ROLE_HOST, OSP_NVME_TCP_PDU_TYPE_C2H_TERM_REQ, 128},
	{OSP_NVME_TCP_ROLE_HOST, OSP_NVME_TCP_PDU_TYPE_C2H_TERM_REQ, 200}, /* cut to 128 */
};

static uint8_t g_src[65536];

/* Build the case's PDU into wire; returns its length. */
static size_t
build_case(const struct case_pdu *cs, const struct osp_nvme_tcp_send_params *p, uint8_t *wire,
	   struct osp_nvme_tcp_pdu *pdu, unsigned seed)
{
	struct iovec iov[3];
	int iovcnt = 0;
	struct osp_nvme_cmd cmd;
	struct osp_nvme_cpl cpl;
	uint32_t len = cs->data_len;

	fill_pattern(g_src, sizeof(g_src), seed);
	/* Data in up to three iovecs, one of them empty, to exercise the gather. */
	if (len > 0) {
		iov[0].iov_base = g_src;
		iov[0].iov_len = len / 3;
		iov[1].iov_base = g_src + len / 3;
		iov[1].iov_len = 0;
		iov[2].iov_base = g_src + len / 3;
		iov[2].iov_len = len - len / 3;
		iovcnt = 3;
	}
	switch (cs->type) {
	case OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD:
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = OSP_NVME_OPC_WRITE;
		cmd.cid = (uint16_t)(0x1234 + seed);
		cmd.nsid = 1;
		cmd.cdw10 = 0xa5a5a5a5;
		CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_cmd(pdu, p, &cmd, iov, iovcnt) == 0);
		break;
	case OSP_NVME_TCP_PDU_TYPE_CAPSULE_RESP:
		memset(&cpl, 0, sizeof(cpl));
		cpl.cid = (uint16_t)(0x4321 + seed);
		cpl.cdw0 = 0xcafef00d;
		cpl.status.sc = OSP_NVME_SC_INVALID_FIELD;
		CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_resp(pdu, p, &cpl) == 0);
		break;
	case OSP_NVME_TCP_PDU_TYPE_H2C_DATA:
		CU_ASSERT_FATAL(osp_nvme_tcp_build_h2c_data(pdu, p, 9, 77, 4096 * seed, iov, iovcnt,
							    true) == 0);
		break;
	case OSP_NVME_TCP_PDU_TYPE_C2H_DATA:
		CU_ASSERT_FATAL(osp_nvme_tcp_build_c2h_data(pdu, p, 9, 512 * seed, iov, iovcnt, true,
							    true) == 0);
		break;
	case OSP_NVME_TCP_PDU_TYPE_R2T:
		CU_ASSERT_FATAL(osp_nvme_tcp_build_r2t(pdu, p, 9, 78, 8192, 65536) == 0);
		break;
	case OSP_NVME_TCP_PDU_TYPE_H2C_TERM_REQ:
	case OSP_NVME_TCP_PDU_TYPE_C2H_TERM_REQ:
		CU_ASSERT_FATAL(osp_nvme_tcp_build_term_req(
					pdu,
					cs->type == OSP_NVME_TCP_PDU_TYPE_C2H_TERM_REQ ?
						OSP_NVME_TCP_ROLE_TARGET :
						OSP_NVME_TCP_ROLE_HOST,
					OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD, 3, g_src, len) == 0);
		break;
	default:
		CU_FAIL_FATAL("case type");
	}
	return flatten(pdu, wire);
}

/* Check what the receiver delivered against what was built. */
static void
check_case(const struct case_pdu *cs, const struct osp_nvme_tcp_send_params *p,
	   const struct osp_nvme_tcp_pdu *pdu, const struct ctx *c, const struct rec *rec,
	   unsigned seed)
{
	uint32_t expect_len = cs->data_len;
	uint8_t hlen = osp_nvme_tcp_pdu_hlen(cs->type);

	fill_pattern(g_src, sizeof(g_src), seed);
	CU_ASSERT(rec->type == cs->type);
	CU_ASSERT(rec->ddgst_ok);
	CU_ASSERT(memcmp(rec->hdr, pdu->raw, hlen) == 0);
	if (pdu_type_is_term(cs->type)) {
		expect_len = OSP_MIN(expect_len, (uint32_t)OSP_NVME_TCP_TERM_REQ_ERROR_DATA_MAX);
		CU_ASSERT(rec->data_len == expect_len);
		CU_ASSERT(memcmp(rec->hdr + 24, g_src, expect_len) == 0);
		CU_ASSERT(le16toh(((const struct osp_nvme_tcp_term_req_hdr *)rec->hdr)->fes) ==
			  OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD);
		CU_ASSERT(get_le32(rec->hdr + 10) == 3);
		return;
	}
	CU_ASSERT(rec->data_len == expect_len);
	CU_ASSERT(memcmp(c->databuf + rec->data_off, g_src, expect_len) == 0);
	if (expect_len > 0) {
		uint32_t align = OSP_NVME_TCP_PDA_ALIGN(p->pda);

		CU_ASSERT(pdu->hdr.ch.pdo % align == 0);
		CU_ASSERT(pdu->hdr.ch.pdo >= hlen + (p->hdgst ? 4 : 0));
		CU_ASSERT(pdu->hdr.ch.pdo < hlen + (p->hdgst ? 4 : 0) + align);
		CU_ASSERT(pdu->plen == pdu->hdr.ch.pdo + expect_len + (p->ddgst ? 4 : 0));
	} else {
		CU_ASSERT(pdu->hdr.ch.pdo == 0);
		CU_ASSERT(pdu->plen == hlen + (p->hdgst ? 4u : 0u));
	}
}

static const uint8_t g_pdas[] = {0, 1, 3, 31};

static void
test_roundtrip(void)
{
	static uint8_t wire[70000];
	struct osp_nvme_tcp_recv r;
	struct osp_nvme_tcp_pdu pdu;
	struct ctx c;
	size_t i, len;
	int hd, dd, pi;

	for (i = 0; i < OSP_COUNTOF(g_cases); i++) {
		for (hd = 0; hd < 2; hd++) {
			for (dd = 0; dd < 2; dd++) {
				for (pi = 0; pi < (int)sizeof(g_pdas); pi++) {
					struct osp_nvme_tcp_send_params p = {
						.hdgst = hd, .ddgst = dd, .pda = g_pdas[pi]};
					bool term = pdu_type_is_term(g_cases[i].type);

					ut_connect(&r, &c, g_cases[i].rx_role, hd, dd, g_pdas[pi]);
					c.iov_chunk = 1100;
					len = build_case(&g_cases[i], &p, wire, &pdu, (unsigned)i);
					/* TermReqs never carry digests or padding. */
					if (term) {
						CU_ASSERT(pdu.hdr.ch.flags == 0 && pdu.hdr.ch.pdo == 0);
					}
					CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, len) == (ssize_t)len);
					CU_ASSERT_FATAL(c.nrec == 1);
					check_case(&g_cases[i], &p, &pdu, &c, &c.recs[0], (unsigned)i);
					CU_ASSERT(c.hdr_calls == (g_cases[i].data_len && !term ? 1 : 0));
				}
			}
		}
	}
}

static void
test_ic_roundtrip(void)
{
	struct osp_nvme_tcp_recv r;
	struct osp_nvme_tcp_pdu pdu;
	struct ctx c;
	uint8_t wire[256];
	size_t len;
	const struct osp_nvme_tcp_ic_req *req;
	const struct osp_nvme_tcp_ic_resp *resp;

	memset(&c, 0, sizeof(c));
	c.ic_set_params = true;
	ut_recv_init(&r, &c, OSP_NVME_TCP_ROLE_TARGET);
	CU_ASSERT(osp_nvme_tcp_build_ic_req(&pdu, 7, OSP_NVME_TCP_DGST_HDGST_ENABLE |
						       OSP_NVME_TCP_DGST_DDGST_ENABLE, 15) == 0);
	len = flatten(&pdu, wire);
	CU_ASSERT(len == 128 && pdu.hdr.ch.hlen == 128 && pdu.hdr.ch.pdo == 0);
	CU_ASSERT(feed_split(&r, wire, len, 1, 1) == (ssize_t)len);
	CU_ASSERT_FATAL(c.nrec == 1);
	req = (const struct osp_nvme_tcp_ic_req *)c.recs[0].hdr;
	CU_ASSERT(req->ch.pdu_type == OSP_NVME_TCP_PDU_TYPE_IC_REQ && req->pfv == 0 && req->hpda == 7 &&
		  req->dgst == 3 && le32toh(req->maxr2t) == 15);

	memset(&c, 0, sizeof(c));
	c.ic_set_params = true;
	ut_recv_init(&r, &c, OSP_NVME_TCP_ROLE_HOST);
	CU_ASSERT(osp_nvme_tcp_build_ic_resp(&pdu, 31, OSP_NVME_TCP_DGST_DDGST_ENABLE, 131072) == 0);
	len = flatten(&pdu, wire);
	CU_ASSERT(feed_split(&r, wire, len, 77, 0) == (ssize_t)len);
	CU_ASSERT_FATAL(c.nrec == 1);
	resp = (const struct osp_nvme_tcp_ic_resp *)c.recs[0].hdr;
	CU_ASSERT(resp->cpda == 31 && resp->dgst == 2 && le32toh(resp->maxh2cdata) == 131072);
}

/* A stream of several PDUs, for split tests. Returns its length. */
static size_t
build_stream(enum osp_nvme_tcp_role rx_role, const struct osp_nvme_tcp_send_params *p,
	     uint8_t *wire, struct osp_nvme_tcp_pdu *pdus, const struct case_pdu **cases, int *n)
{
	size_t len = 0, i;

	*n = 0;
	for (i = 0; i < OSP_COUNTOF(g_cases); i++) {
		if (g_cases[i].rx_role != rx_role || pdu_type_is_term(g_cases[i].type) ||
		    g_cases[i].data_len > 1000) {
			continue;
		}
		cases[*n] = &g_cases[i];
		len += build_case(&g_cases[i], p, wire + len, &pdus[*n], (unsigned)(*n + 1));
		(*n)++;
	}
	return len;
}

static void
check_stream(const struct osp_nvme_tcp_send_params *p, const struct osp_nvme_tcp_pdu *pdus,
	     const struct case_pdu **cases, int n, const struct ctx *c)
{
	int i;

	CU_ASSERT_FATAL(c->nrec == n);
	for (i = 0; i < n; i++) {
		check_case(cases[i], p, &pdus[i], c, &c->recs[i], (unsigned)(i + 1));
	}
}

static void
test_split_every_boundary(void)
{
	static uint8_t wire[8192];
	struct osp_nvme_tcp_pdu pdus[8];
	const struct case_pdu *cases[8];
	struct osp_nvme_tcp_recv r;
	struct ctx c;
	size_t len, k;
	int n, role, variant;

	for (role = 0; role < 2; role++) {
		for (variant = 0; variant < 2; variant++) {
			struct osp_nvme_tcp_send_params p = {
				.hdgst = variant, .ddgst = variant, .pda = variant ? 3 : 0};

			len = build_stream((enum osp_nvme_tcp_role)role, &p, wire, pdus, cases, &n);
			CU_ASSERT_FATAL(n >= 3);
			/* prefix of k bytes, then the rest */
			for (k = 1; k < len; k++) {
				ut_connect(&r, &c, (enum osp_nvme_tcp_role)role, p.hdgst, p.ddgst, p.pda);
				CU_ASSERT(feed_split(&r, wire, len, k, 0) == (ssize_t)len);
				check_stream(&p, pdus, cases, n, &c);
			}
			/* byte by byte, and in odd steps, into data iovecs of odd sizes */
			ut_connect(&r, &c, (enum osp_nvme_tcp_role)role, p.hdgst, p.ddgst, p.pda);
			c.iov_chunk = 17;
			CU_ASSERT(feed_split(&r, wire, len, 1, 1) == (ssize_t)len);
			check_stream(&p, pdus, cases, n, &c);
			ut_connect(&r, &c, (enum osp_nvme_tcp_role)role, p.hdgst, p.ddgst, p.pda);
			c.iov_chunk = 33;
			CU_ASSERT(feed_split(&r, wire, len, 3, 5) == (ssize_t)len);
			check_stream(&p, pdus, cases, n, &c);
			/* zero copy through next_iov/commit, in several step sizes */
			for (k = 1; k < 300; k += 37) {
				ut_connect(&r, &c, (enum osp_nvme_tcp_role)role, p.hdgst, p.ddgst, p.pda);
				c.iov_chunk = 20;
				CU_ASSERT(feed_zero_copy(&r, wire, len, k) == (ssize_t)len);
				check_stream(&p, pdus, cases, n, &c);
			}
			/* pausing callbacks give the same result */
			ut_connect(&r, &c, (enum osp_nvme_tcp_role)role, p.hdgst, p.ddgst, p.pda);
			c.hdr_eagain = 3;
			c.done_eagain = 2;
			CU_ASSERT(feed_split(&r, wire, len, 0, 0) == (ssize_t)len);
			check_stream(&p, pdus, cases, n, &c);
		}
	}
}

/* Feed wire (one PDU, possibly edited) to a connected receiver and expect a fatal error. */
static void
expect_fatal(enum osp_nvme_tcp_role role, bool hdgst, bool ddgst, uint8_t pda, const uint8_t *wire,
	     size_t len, uint16_t fes, uint32_t fei, int line)
{
	struct osp_nvme_tcp_recv r;
	struct ctx c;
	uint16_t got_fes = 0;
	uint32_t got_fei = 0;
	const void *hdr = NULL;
	size_t hdr_len = 0;
	ssize_t rc;
	int mode;

	/* whole, and byte by byte: same verdict */
	for (mode = 0; mode < 2; mode++) {
		ut_connect(&r, &c, role, hdgst, ddgst, pda);
		rc = feed_split(&r, wire, len, mode ? 1 : 0, mode ? 1 : 0);
		if (rc != -EPROTO) {
			fprintf(stderr, "line %d: rc %zd\n", line, rc);
		}
		CU_ASSERT(rc == -EPROTO);
		CU_ASSERT(osp_nvme_tcp_recv_error(&r, &got_fes, &got_fei, &hdr, &hdr_len) == 0);
		if (got_fes != fes || got_fei != fei) {
			fprintf(stderr, "line %d: fes %u fei %u, expected %u %u\n", line, got_fes, got_fei,
				fes, fei);
		}
		CU_ASSERT(got_fes == fes && got_fei == fei);
		CU_ASSERT(c.nrec == 0);
		CU_ASSERT(hdr_len >= 8 && hdr_len <= 128 && memcmp(hdr, wire, hdr_len) == 0);
		/* The receiver stays failed. */
		CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, 1) == -EPROTO);
		CU_ASSERT(osp_nvme_tcp_recv_commit(&r, 0) == -EPROTO);
	}
}
#define EXPECT_FATAL(role, hd, dd, pda, wire, len, fes, fei) \
	expect_fatal(role, hd, dd, pda, wire, len, fes, fei, __LINE__)

#define T OSP_NVME_TCP_ROLE_TARGET
#define H OSP_NVME_TCP_ROLE_HOST
#define FES_HDR OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD

static void
test_bad_type_and_sequence(void)
{
	struct osp_nvme_tcp_send_params p = {0};
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_tcp_recv r;
	struct ctx c;
	uint8_t wire[512];
	size_t len;
	struct osp_nvme_cpl cpl;
	struct osp_nvme_cmd cmd;
	unsigned t;

	memset(&cpl, 0, sizeof(cpl));
	memset(&cmd, 0, sizeof(cmd));
	/* Unknown types, for both roles. */
	CU_ASSERT(osp_nvme_tcp_build_capsule_resp(&pdu, &p, &cpl) == 0);
	len = flatten(&pdu, wire);
	for (t = 0x08; t <= 0xff; t++) {
		if (t == OSP_NVME_TCP_PDU_TYPE_R2T) {
			continue;
		}
		wire[0] = (uint8_t)t;
		EXPECT_FATAL(T, false, false, 0, wire, len, FES_HDR, 0);
		EXPECT_FATAL(H, false, false, 0, wire, len, FES_HDR, 0);
	}
	/* Types from the wrong direction. */
	len = flatten(&pdu, wire); /* CapsuleResp to a target */
	EXPECT_FATAL(T, false, false, 0, wire, len, FES_HDR, 0);
	CU_ASSERT(osp_nvme_tcp_build_r2t(&pdu, &p, 1, 1, 0, 4096) == 0);
	len = flatten(&pdu, wire);
	EXPECT_FATAL(T, false, false, 0, wire, len, FES_HDR, 0);
	CU_ASSERT(osp_nvme_tcp_build_capsule_cmd(&pdu, &p, &cmd, NULL, 0) == 0);
	len = flatten(&pdu, wire);
	EXPECT_FATAL(H, false, false, 0, wire, len, FES_HDR, 0);
	CU_ASSERT(osp_nvme_tcp_build_ic_req(&pdu, 0, 0, 0) == 0);
	len = flatten(&pdu, wire);
	EXPECT_FATAL(H, false, false, 0, wire, len, FES_HDR, 0);
	CU_ASSERT(osp_nvme_tcp_build_term_req(&pdu, T, 1, 0, NULL, 0) == 0);
	len = flatten(&pdu, wire); /* C2HTermReq to a target */
	EXPECT_FATAL(T, false, false, 0, wire, len, FES_HDR, 0);

	/* A second ICReq after the IC exchange. */
	CU_ASSERT(osp_nvme_tcp_build_ic_req(&pdu, 0, 0, 0) == 0);
	len = flatten(&pdu, wire);
	EXPECT_FATAL(T, false, false, 0, wire, len, OSP_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
	CU_ASSERT(osp_nvme_tcp_build_ic_resp(&pdu, 0, 0, 4096) == 0);
	len = flatten(&pdu, wire);
	EXPECT_FATAL(H, false, false, 0, wire, len, OSP_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);

	/* Anything but IC or TermReq before the IC exchange. */
	memset(&c, 0, sizeof(c));
	ut_recv_init(&r, &c, T);
	CU_ASSERT(osp_nvme_tcp_build_capsule_cmd(&pdu, &p, &cmd, NULL, 0) == 0);
	len = flatten(&pdu, wire);
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, len) == -EPROTO);
	CU_ASSERT(r.fes == OSP_NVME_TCP_FES_PDU_SEQUENCE_ERROR);
	memset(&c, 0, sizeof(c));
	ut_recv_init(&r, &c, H);
	CU_ASSERT(osp_nvme_tcp_build_capsule_resp(&pdu, &p, &cpl) == 0);
	len = flatten(&pdu, wire);
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, len) == -EPROTO);
	CU_ASSERT(r.fes == OSP_NVME_TCP_FES_PDU_SEQUENCE_ERROR);
	/* A TermReq before the IC exchange is delivered; nothing is accepted after it. */
	memset(&c, 0, sizeof(c));
	ut_recv_init(&r, &c, H);
	CU_ASSERT(osp_nvme_tcp_build_term_req(&pdu, T, OSP_NVME_TCP_FES_UNSUPPORTED_PARAMETER, 8,
					      "abcdefgh", 8) == 0);
	len = flatten(&pdu, wire);
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, len) == (ssize_t)len);
	CU_ASSERT(c.nrec == 1 && c.recs[0].type == OSP_NVME_TCP_PDU_TYPE_C2H_TERM_REQ &&
		  c.recs[0].data_len == 8 && memcmp(c.recs[0].hdr + 24, "abcdefgh", 8) == 0);
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, 1) == -ESHUTDOWN);
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, NULL, 0) == 0);
}

static void
test_bad_lengths(void)
{
	struct osp_nvme_tcp_pdu pdu;
	uint8_t wire[20000];
	size_t len;
	struct osp_nvme_cmd cmd;
	struct osp_nvme_cpl cpl;
	struct iovec iov = {.iov_base = g_src, .iov_len = 100};
	int hd;

	memset(&cmd, 0, sizeof(cmd));
	memset(&cpl, 0, sizeof(cpl));
	for (hd = 0; hd < 2; hd++) {
		struct osp_nvme_tcp_send_params p = {.hdgst = hd, .ddgst = true, .pda = 3};
		uint32_t hdr_end = 72 + (hd ? 4 : 0);

		/* CapsuleCmd with 100 bytes of data at PDO 80 (align 16). */
		CU_ASSERT(osp_nvme_tcp_build_capsule_cmd(&pdu, &p, &cmd, &iov, 1) == 0);
		len = flatten(&pdu, wire);
		CU_ASSERT(pdu.hdr.ch.pdo == 80 && len == 80 + 100 + 4);

		/* HLEN: one off either way, zero, the maximum. */
		wire[2] = 71;
		EXPECT_FATAL(T, hd, true, 3, wire, len, FES_HDR, 2);
		wire[2] = 73;
		EXPECT_FATAL(T, hd, true, 3, wire, len, FES_HDR, 2);
		wire[2] = 0;
		EXPECT_FATAL(T, hd, true, 3, wire, len, FES_HDR, 2);
		wire[2] = 255;
		EXPECT_FATAL(T, hd, true, 3, wire, len, FES_HDR, 2);
		wire[2] = 72;

		/* PDO: below the header (+digest), misaligned, at or past the end. */
		wire[3] = (uint8_t)(hdr_end - 4);
		EXPECT_FATAL(T, hd, true, 3, wire, len, FES_HDR, 3);
		wire[3] = 0;
		EXPECT_FATAL(T, hd, true, 3, wire, len, FES_HDR, 3);
		wire[3] = 84; /* aligned to 4, not to 16 */
		EXPECT_FATAL(T, hd, true, 3, wire, len, FES_HDR, 3);
		wire[3] = 88;
		EXPECT_FATAL(T, hd, true, 3, wire, len, FES_HDR, 3);
		wire[3] = 80;
		set_plen(wire, 84); /* PDO + DDGST == PLEN: no data */
		EXPECT_FATAL(T, hd, true, 3, wire, len, FES_HDR, 3);
		set_plen(wire, (uint32_t)len);

		/* PLEN: smaller than the header, larger than the in-capsule limit. */
		set_plen(wire, hdr_end - 1);
		EXPECT_FATAL(T, hd, true, 3, wire, len, FES_HDR, 4);
		set_plen(wire, 0);
		EXPECT_FATAL(T, hd, true, 3, wire, len, FES_HDR, 4);
		set_plen(wire, 80 + 8192 + 4 + 1);
		EXPECT_FATAL(T, hd, true, 3, wire, len, FES_HDR, 4);
		set_plen(wire, 0xffffffffu);
		EXPECT_FATAL(T, hd, true, 3, wire, len, FES_HDR, 4);
		set_plen(wire, (uint32_t)len);

		/* Flags that disagree with the negotiated digests. */
		EXPECT_FATAL(T, !hd, true, 3, wire, len, FES_HDR, 1);
		EXPECT_FATAL(T, hd, false, 3, wire, len, FES_HDR, 1);
		wire[1] &= (uint8_t)~OSP_NVME_TCP_CH_FLAGS_DDGSTF;
		EXPECT_FATAL(T, hd, true, 3, wire, len, FES_HDR, 1);
		wire[1] |= OSP_NVME_TCP_CH_FLAGS_DDGSTF;
		/* PDA the receiver asked for is larger than what the sender used. */
		EXPECT_FATAL(T, hd, true, 7, wire, len, FES_HDR, 3);

		/* CapsuleResp: PLEN must be exactly HLEN (+digest); DDGSTF never. */
		CU_ASSERT(osp_nvme_tcp_build_capsule_resp(&pdu, &p, &cpl) == 0);
		len = flatten(&pdu, wire);
		set_plen(wire, (uint32_t)len + 4);
		EXPECT_FATAL(H, hd, true, 3, wire, len + 4, FES_HDR, 4);
		set_plen(wire, (uint32_t)len - 1);
		EXPECT_FATAL(H, hd, true, 3, wire, len, FES_HDR, 4);
		set_plen(wire, (uint32_t)len);
		wire[1] |= OSP_NVME_TCP_CH_FLAGS_DDGSTF;
		EXPECT_FATAL(H, hd, true, 3, wire, len, FES_HDR, 1);
		wire[1] &= (uint8_t)~OSP_NVME_TCP_CH_FLAGS_DDGSTF;
		wire[2] = 72;
		EXPECT_FATAL(H, hd, true, 3, wire, len, FES_HDR, 2);

		/* R2T: zero length; PLEN with room for data. */
		CU_ASSERT(osp_nvme_tcp_build_r2t(&pdu, &p, 1, 2, 0, 4096) == 0);
		len = flatten(&pdu, wire);
		put_le32(wire + 16, 0);
		fix_hdgst(wire);
		EXPECT_FATAL(H, hd, true, 3, wire, len, FES_HDR, 16);
		set_plen(wire, (uint32_t)len + 8);
		EXPECT_FATAL(H, hd, true, 3, wire, len + 8, FES_HDR, 4);

		/* H2CData: DATAL disagreeing with PLEN, no data, over MAXH2CDATA. */
		CU_ASSERT(osp_nvme_tcp_build_h2c_data(&pdu, &p, 1, 2, 0, &iov, 1, false) == 0);
		len = flatten(&pdu, wire);
		put_le32(wire + 16, 99);
		fix_hdgst(wire);
		EXPECT_FATAL(T, hd, true, 3, wire, len, FES_HDR, 16);
		put_le32(wire + 16, 100);
		fix_hdgst(wire);
		set_plen(wire, 24 + (hd ? 4 : 0));
		wire[1] &= (uint8_t)~OSP_NVME_TCP_CH_FLAGS_DDGSTF;
		EXPECT_FATAL(T, hd, true, 3, wire, 24 + (hd ? 4 : 0), FES_HDR, 4);
		{
			struct iovec big = {.iov_base = g_src, .iov_len = 16385};

			CU_ASSERT(osp_nvme_tcp_build_h2c_data(&pdu, &p, 1, 2, 0, &big, 1, true) == 0);
			len = flatten(&pdu, wire);
			EXPECT_FATAL(T, hd, true, 3, wire, len,
				     OSP_NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED, 0);
		}

		/* C2HData: SUCCESS without LAST_PDU; over the host's limit. */
		CU_ASSERT(osp_nvme_tcp_build_c2h_data(&pdu, &p, 1, 0, &iov, 1, true, true) == 0);
		len = flatten(&pdu, wire);
		wire[1] &= (uint8_t)~OSP_NVME_TCP_DATA_FLAGS_LAST_PDU;
		fix_hdgst(wire);
		EXPECT_FATAL(H, hd, true, 3, wire, len, FES_HDR, 1);
		set_plen(wire, 80 + 32769 + 4);
		EXPECT_FATAL(H, hd, true, 3, wire, len, FES_HDR, 4);
	}

	/* ICReq: digest flags, PLEN, PFV, HPDA. */
	CU_ASSERT(osp_nvme_tcp_build_ic_req(&pdu, 0, 0, 0) == 0);
	len = flatten(&pdu, wire);
	memset(wire + len, 0, 8);
	wire[1] = OSP_NVME_TCP_CH_FLAGS_HDGSTF;
	{
		struct osp_nvme_tcp_recv r;
		struct ctx c;
		uint16_t fes;
		uint32_t fei;

		memset(&c, 0, sizeof(c));
		ut_recv_init(&r, &c, T);
		CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, len) == -EPROTO);
		CU_ASSERT(osp_nvme_tcp_recv_error(&r, &fes, &fei, NULL, NULL) == 0 && fes == FES_HDR &&
			  fei == 1);
		wire[1] = 0;
		set_plen(wire, 129);
		ut_recv_init(&r, &c, T);
		CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, len + 1) == -EPROTO);
		CU_ASSERT(osp_nvme_tcp_recv_error(&r, &fes, &fei, NULL, NULL) == 0 && fes == FES_HDR &&
			  fei == 4);
		set_plen(wire, 128);
		wire[8] = 1; /* PFV */
		ut_recv_init(&r, &c, T);
		CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, len) == -EPROTO);
		CU_ASSERT(osp_nvme_tcp_recv_error(&r, &fes, &fei, NULL, NULL) == 0 &&
			  fes == OSP_NVME_TCP_FES_UNSUPPORTED_PARAMETER && fei == 8);
		wire[8] = 0;
		wire[10] = 32; /* HPDA */
		ut_recv_init(&r, &c, T);
		CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, len) == -EPROTO);
		CU_ASSERT(osp_nvme_tcp_recv_error(&r, &fes, &fei, NULL, NULL) == 0 && fes == FES_HDR &&
			  fei == 10);

		/* ICResp: MAXH2CDATA below 4096 or not a multiple of 4, CPDA out of range. */
		CU_ASSERT(osp_nvme_tcp_build_ic_resp(&pdu, 0, 0, 4096) == 0);
		len = flatten(&pdu, wire);
		put_le32(wire + 12, 4092);
		ut_recv_init(&r, &c, H);
		CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, len) == -EPROTO);
		CU_ASSERT(osp_nvme_tcp_recv_error(&r, &fes, &fei, NULL, NULL) == 0 && fes == FES_HDR &&
			  fei == 12);
		put_le32(wire + 12, 4098);
		ut_recv_init(&r, &c, H);
		CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, len) == -EPROTO);
		CU_ASSERT(r.fei == 12);
		put_le32(wire + 12, 4096);
		wire[10] = 32;
		ut_recv_init(&r, &c, H);
		CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, len) == -EPROTO);
		CU_ASSERT(r.fes == FES_HDR && r.fei == 10);
	}

	/* TermReq: PLEN below HLEN or above 152, digest flags. */
	CU_ASSERT(osp_nvme_tcp_build_term_req(&pdu, H, 1, 0, g_src, 128) == 0);
	len = flatten(&pdu, wire);
	CU_ASSERT(len == 152);
	set_plen(wire, 153);
	EXPECT_FATAL(T, false, false, 0, wire, len + 1, FES_HDR, 4);
	set_plen(wire, 23);
	EXPECT_FATAL(T, true, true, 0, wire, len, FES_HDR, 4);
	set_plen(wire, 152);
	wire[1] = OSP_NVME_TCP_CH_FLAGS_DDGSTF;
	EXPECT_FATAL(T, true, true, 0, wire, len, FES_HDR, 1);
}

static void
test_digest_errors(void)
{
	static uint8_t wire[8192];
	struct osp_nvme_tcp_send_params p = {.hdgst = true, .ddgst = true, .pda = 1};
	struct osp_nvme_tcp_pdu pdu, pdu2;
	struct osp_nvme_tcp_recv r;
	struct ctx c;
	size_t len, len2, i;
	const struct case_pdu *cs = &g_cases[2]; /* CapsuleCmd, 4096 bytes */
	const struct case_pdu *cs2 = &g_cases[0]; /* CapsuleCmd, no data */

	len = build_case(cs, &p, wire, &pdu, 5);
	len2 = build_case(cs2, &p, wire + len, &pdu2, 6);
	/* Header digest: one byte flipped anywhere after the common header, or in the digest. */
	for (i = 8; i < 72 + 4; i++) {
		wire[i] ^= 0x20;
		EXPECT_FATAL(T, true, true, 1, wire, len, OSP_NVME_TCP_FES_HDGST_ERROR, 0);
		wire[i] ^= 0x20;
	}
	/* Data digest: one byte flipped in the data or the digest is reported, not fatal. */
	for (i = pdu.hdr.ch.pdo; i < len; i += (i < len - 8 ? 97 : 1)) {
		wire[i] ^= 0x01;
		ut_connect(&r, &c, T, true, true, 1);
		CU_ASSERT(feed_split(&r, wire, len + len2, 0, 0) == (ssize_t)(len + len2));
		CU_ASSERT(c.nrec == 2 && !c.recs[0].ddgst_ok && c.recs[1].ddgst_ok);
		wire[i] ^= 0x01;
	}
	/* Padding is not covered by any digest and is ignored. */
	CU_ASSERT(pdu.hdr.ch.pdo == 80);
	wire[78] = 0xff;
	ut_connect(&r, &c, T, true, true, 1);
	CU_ASSERT(feed_split(&r, wire, len, 0, 0) == (ssize_t)len);
	CU_ASSERT(c.nrec == 1 && c.recs[0].ddgst_ok);
}

static void
test_data_out_of_range(void)
{
	static uint8_t wire[8192];
	struct osp_nvme_tcp_send_params p = {.ddgst = true};
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_tcp_recv r;
	struct ctx c;
	size_t len;
	uint16_t fes;
	uint32_t fei;

	len = build_case(&g_cases[3], &p, wire, &pdu, 1); /* H2CData, 513 bytes */
	/* The caller offers 512 bytes for 513: out of range, before any data is written. */
	ut_connect(&r, &c, T, false, true, 0);
	c.give_len = 512;
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, len) == -EPROTO);
	CU_ASSERT(osp_nvme_tcp_recv_error(&r, &fes, &fei, NULL, NULL) == 0 &&
		  fes == OSP_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE && fei == 0);
	CU_ASSERT(c.databuf[0] == 0);
	/* More room than data is fine. */
	ut_connect(&r, &c, T, false, true, 0);
	c.give_len = 4096;
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, len) == (ssize_t)len);
	CU_ASSERT(c.nrec == 1 && c.recs[0].data_len == 513);
	/* The callback ends the connection with its own FES. */
	ut_connect(&r, &c, T, false, true, 0);
	c.hdr_fail_fes = OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD;
	CU_ASSERT(feed_split(&r, wire, len, 1, 1) == -EPROTO);
	CU_ASSERT(osp_nvme_tcp_recv_error(&r, &fes, &fei, NULL, NULL) == 0 &&
		  fes == OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD && fei == 10);
	/* The R2T limit status is the host's to raise, the same way. */
	ut_connect(&r, &c, H, false, true, 0);
	len = build_case(&g_cases[8], &p, wire, &pdu, 1); /* C2HData, 3 bytes */
	c.give_len = 2;
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, len) == -EPROTO);
	CU_ASSERT(r.fes == OSP_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE);
}

static void
test_wait_params_and_errors(void)
{
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_tcp_recv r;
	struct osp_nvme_tcp_recv_opts opts = {0};
	struct osp_nvme_tcp_send_params p = {.hdgst = true};
	struct ctx c;
	uint8_t wire[512];
	size_t len, len2;
	struct osp_nvme_cmd cmd;
	uint16_t fes = 0;
	uint32_t fei = 0;
	const void *hdr = NULL;
	size_t hdr_len = 0;

	/* The IC callback did not set parameters: the receiver stops after the ICReq. */
	memset(&c, 0, sizeof(c));
	ut_recv_init(&r, &c, T);
	CU_ASSERT(osp_nvme_tcp_recv_set_params(&r, false, false, 0) == -EINVAL); /* not yet */
	CU_ASSERT(osp_nvme_tcp_build_ic_req(&pdu, 0, OSP_NVME_TCP_DGST_HDGST_ENABLE, 0) == 0);
	len = flatten(&pdu, wire);
	memset(&cmd, 0, sizeof(cmd));
	CU_ASSERT(osp_nvme_tcp_build_capsule_cmd(&pdu, &p, &cmd, NULL, 0) == 0);
	len2 = flatten(&pdu, wire + len);
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, len + len2) == (ssize_t)len);
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire + len, len2) == 0);
	CU_ASSERT(osp_nvme_tcp_recv_next_iov(&r, (struct iovec[1]){}, 1) == 0);
	CU_ASSERT(osp_nvme_tcp_recv_set_params(&r, true, false, 32) == -EINVAL);
	CU_ASSERT(osp_nvme_tcp_recv_set_params(&r, true, false, 0) == 0);
	CU_ASSERT(osp_nvme_tcp_recv_set_params(&r, true, false, 0) == -EINVAL); /* once */
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire + len, len2) == (ssize_t)len2);
	CU_ASSERT(c.nrec == 2 && c.recs[1].type == OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD);
	CU_ASSERT(osp_nvme_tcp_recv_error(&r, &fes, &fei, &hdr, &hdr_len) == -ENOENT);

	/* commit more than the region holds */
	CU_ASSERT(osp_nvme_tcp_recv_commit(&r, 9) == -EINVAL);

	/* The error header can go straight into a TermReq, which the peer parses. */
	wire[len + 2] = 70; /* bad HLEN */
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire + len, len2) == -EPROTO);
	CU_ASSERT(osp_nvme_tcp_recv_error(&r, &fes, &fei, &hdr, &hdr_len) == 0);
	CU_ASSERT(fes == FES_HDR && fei == 2 && hdr_len == 8);
	CU_ASSERT(osp_nvme_tcp_build_term_req(&pdu, T, fes, fei, hdr, hdr_len) == 0);
	len = flatten(&pdu, wire);
	CU_ASSERT(len == 32);
	memset(&c, 0, sizeof(c));
	ut_recv_init(&r, &c, H);
	CU_ASSERT(feed_split(&r, wire, len, 1, 1) == (ssize_t)len);
	CU_ASSERT(c.nrec == 1 && c.recs[0].data_len == 8 && c.recs[0].hdr[24 + 2] == 70);

	/* A callback error is returned as is and sticks. */
	memset(&c, 0, sizeof(c));
	ut_recv_init(&r, &c, T);
	opts = r.opts;
	CU_ASSERT(osp_nvme_tcp_recv_init(&r, &(struct osp_nvme_tcp_recv_opts){.role = T}) == -EINVAL);
	opts.role = (enum osp_nvme_tcp_role)5;
	CU_ASSERT(osp_nvme_tcp_recv_init(&r, &opts) == -EINVAL);
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, NULL, 3) == -EINVAL);
}

static void
test_builders_invalid(void)
{
	struct osp_nvme_tcp_send_params p = {0}, bad = {.pda = 32};
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cmd cmd;
	struct osp_nvme_cpl cpl;
	struct iovec iov[OSP_NVME_TCP_PDU_MAX_DATA_IOV + 1];
	struct iovec empty = {.iov_base = g_src, .iov_len = 0};
	int i;

	memset(&cmd, 0, sizeof(cmd));
	memset(&cpl, 0, sizeof(cpl));
	for (i = 0; i < (int)OSP_COUNTOF(iov); i++) {
		iov[i].iov_base = g_src + i;
		iov[i].iov_len = 1;
	}
	CU_ASSERT(osp_nvme_tcp_build_ic_req(&pdu, 32, 0, 0) == -EINVAL);
	CU_ASSERT(osp_nvme_tcp_build_ic_req(&pdu, 0, 4, 0) == -EINVAL);
	CU_ASSERT(osp_nvme_tcp_build_ic_resp(&pdu, 0, 0, 4095) == -EINVAL);
	CU_ASSERT(osp_nvme_tcp_build_ic_resp(&pdu, 0, 0, 4097) == -EINVAL);
	CU_ASSERT(osp_nvme_tcp_build_ic_resp(&pdu, 32, 0, 4096) == -EINVAL);
	CU_ASSERT(osp_nvme_tcp_build_term_req(&pdu, T, 1, 0, NULL, 5) == -EINVAL);
	CU_ASSERT(osp_nvme_tcp_build_capsule_cmd(&pdu, &bad, &cmd, iov, 1) == -EINVAL);
	CU_ASSERT(osp_nvme_tcp_build_capsule_cmd(&pdu, &p, &cmd, iov, OSP_NVME_TCP_PDU_MAX_DATA_IOV + 1) ==
		  -EINVAL);
	CU_ASSERT(osp_nvme_tcp_build_capsule_cmd(&pdu, &p, &cmd, iov, OSP_NVME_TCP_PDU_MAX_DATA_IOV) == 0);
	CU_ASSERT(pdu.iovcnt == OSP_NVME_TCP_PDU_MAX_DATA_IOV + 1 &&
		  pdu.plen == 72 + OSP_NVME_TCP_PDU_MAX_DATA_IOV);
	CU_ASSERT(osp_nvme_tcp_build_capsule_cmd(&pdu, &p, &cmd, NULL, 1) == -EINVAL);
	CU_ASSERT(osp_nvme_tcp_build_capsule_cmd(&pdu, &p, NULL, NULL, 0) == -EINVAL);
	CU_ASSERT(osp_nvme_tcp_build_capsule_resp(&pdu, NULL, &cpl) == -EINVAL);
	CU_ASSERT(osp_nvme_tcp_build_h2c_data(&pdu, &p, 1, 1, 0, &empty, 1, true) == -EINVAL);
	CU_ASSERT(osp_nvme_tcp_build_c2h_data(&pdu, &p, 1, 0, iov, 1, false, true) == -EINVAL);
	CU_ASSERT(osp_nvme_tcp_build_c2h_data(&pdu, &p, 1, 0, NULL, 0, true, false) == -EINVAL);
	CU_ASSERT(osp_nvme_tcp_build_r2t(&pdu, &p, 1, 1, 0, 0) == -EINVAL);
	/* A capsule whose only iovec is empty carries no data. */
	CU_ASSERT(osp_nvme_tcp_build_capsule_cmd(&pdu, &p, &cmd, &empty, 1) == 0);
	CU_ASSERT(pdu.plen == 72 && pdu.hdr.ch.pdo == 0 && pdu.iovcnt == 1);
}

/* osp_nvme_tcp_recv_at_pdu_start(): only between PDUs, never paused or failed. */
static void
test_at_pdu_start(void)
{
	struct osp_nvme_tcp_send_params p = {.hdgst = true, .ddgst = true};
	struct osp_nvme_tcp_recv r;
	struct osp_nvme_tcp_pdu pdu;
	struct osp_nvme_cpl cpl = {.cid = 3};
	static uint8_t data[4096], wire[8192];
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	struct ctx c;
	size_t len;

	/* Before the ICResp: waiting for a PDU's first byte. */
	memset(&c, 0, sizeof(c));
	ut_recv_init(&r, &c, OSP_NVME_TCP_ROLE_HOST);
	CU_ASSERT(osp_nvme_tcp_recv_at_pdu_start(&r));
	/* ICResp taken, set_params not called yet: paused, not at a PDU start. */
	CU_ASSERT_FATAL(osp_nvme_tcp_build_ic_resp(&pdu, 0, 3, 16384) == 0);
	len = flatten(&pdu, wire);
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, len) == (ssize_t)len);
	CU_ASSERT(!osp_nvme_tcp_recv_at_pdu_start(&r));

	ut_connect(&r, &c, OSP_NVME_TCP_ROLE_HOST, true, true, 0);
	CU_ASSERT(osp_nvme_tcp_recv_at_pdu_start(&r));
	/* Inside a CapsuleResp's common header, then past it, then after it. */
	CU_ASSERT_FATAL(osp_nvme_tcp_build_capsule_resp(&pdu, &p, &cpl) == 0);
	len = flatten(&pdu, wire);
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, 3) == 3);
	CU_ASSERT(!osp_nvme_tcp_recv_at_pdu_start(&r));
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire + 3, 9) == 9);
	CU_ASSERT(!osp_nvme_tcp_recv_at_pdu_start(&r));
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire + 12, len - 12) == (ssize_t)(len - 12));
	CU_ASSERT(c.nrec == 1);
	CU_ASSERT(osp_nvme_tcp_recv_at_pdu_start(&r));
	/* A C2HData whose header is in but not its data. */
	CU_ASSERT_FATAL(osp_nvme_tcp_build_c2h_data(&pdu, &p, 3, 0, &iov, 1, true, false) == 0);
	len = flatten(&pdu, wire);
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, 100) == 100);
	CU_ASSERT(!osp_nvme_tcp_recv_at_pdu_start(&r));
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire + 100, len - 100) == (ssize_t)(len - 100));
	CU_ASSERT(c.nrec == 2);
	CU_ASSERT(osp_nvme_tcp_recv_at_pdu_start(&r));
	/* Failed (a PDU type a host never receives): not at a PDU start. */
	memset(wire, 0, 8);
	wire[0] = OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD;
	wire[2] = 72;
	CU_ASSERT(osp_nvme_tcp_recv_feed(&r, wire, 8) == -EPROTO);
	CU_ASSERT(!osp_nvme_tcp_recv_at_pdu_start(&r));
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	CU_initialize_registry();
	suite = CU_add_suite("nvme_tcp_pdu", NULL, NULL);
	CU_ADD_TEST(suite, test_sizes);
	CU_ADD_TEST(suite, test_crc_wire_format);
	CU_ADD_TEST(suite, test_crc32c_data);
	CU_ADD_TEST(suite, test_roundtrip);
	CU_ADD_TEST(suite, test_ic_roundtrip);
	CU_ADD_TEST(suite, test_split_every_boundary);
	CU_ADD_TEST(suite, test_bad_type_and_sequence);
	CU_ADD_TEST(suite, test_bad_lengths);
	CU_ADD_TEST(suite, test_digest_errors);
	CU_ADD_TEST(suite, test_data_out_of_range);
	CU_ADD_TEST(suite, test_wait_params_and_errors);
	CU_ADD_TEST(suite, test_builders_invalid);
	CU_ADD_TEST(suite, test_at_pdu_start);
	rc = ut_run_suites();
	return rc;
}
