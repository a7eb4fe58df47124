/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe/TCP PDU codec: a byte-stream receiver that validates every header
 * field before trusting it, and builders for the PDUs each side sends.
 * Rules and their spec sections are listed in doc/nvme_tcp.md.
 */
#include <endian.h>
#include <errno.h>
#include <nmmintrin.h>
#include <pthread.h>
#include <string.h>

#include "osprey/iov.h"
#include "osprey_internal/nvme_tcp_codec.h"
#include "osprey/util.h"

/* Receiver states: the regions of one PDU in wire order, then connection-level states. */
enum nvme_tcp_recv_state {
	RS_CH,		/* the 8-byte common header */
	RS_HDR,		/* rest of the header (+ header digest; + error data for TermReq) */
	RS_IOV,		/* asking the caller where the data goes */
	RS_PAD,		/* padding between the header and PDO */
	RS_DATA,	/* PDU data into the caller's iovecs */
	RS_DDGST,	/* data digest */
	RS_DONE,	/* deliver the PDU */
	RS_WAIT_PARAMS, /* IC PDU delivered; waiting for osp_nvme_tcp_recv_set_params() */
	RS_TERMINATED,	/* TermReq delivered; the connection is over */
	RS_ERROR,
};

#define PROGRESS_NEED_BYTES 0
#define PROGRESS_PAUSED 1

static inline uint32_t
get_le32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static inline void
put_le32(void *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static inline uint32_t
crc32c_final(uint32_t crc)
{
	return crc ^ 0xffffffffu;
}

/*
 * Data digests: CRC-32C over three interleaved streams. The CRC32
 * instruction takes 3 cycles and issues one per cycle, so one dependent
 * chain (osp_crc32c_update) uses a third of it. Each 3 * CRC3_BLOCK chunk is
 * split in three blocks whose CRCs run side by side (the 2nd and 3rd from
 * state 0), then combined: the CRC register is linear in its state, so
 * crc(s, A B C) = shift(crc(s, A), 2 blocks) ^ shift(crc(0, B), 1 block) ^
 * crc(0, C), where shift(x, n) is the state reached from x over n zero
 * bytes. Both shifts are linear maps of x, kept as byte tables built once
 * from the instruction itself (the state over zero bytes, from each single
 * bit), so no polynomial constants are typed in by hand.
 */
#define CRC3_BLOCK 256u

static uint32_t g_crc3_shift1[4][256]; /* over CRC3_BLOCK zero bytes */
static uint32_t g_crc3_shift2[4][256]; /* over 2 * CRC3_BLOCK zero bytes */
static pthread_once_t g_crc3_once = PTHREAD_ONCE_INIT;

static uint32_t
crc3_zeros(uint32_t state, size_t n)
{
	uint64_t c = state;

	for (; n >= 8; n -= 8) {
		c = _mm_crc32_u64(c, 0);
	}
	return (uint32_t)c;
}

static void
crc3_tables_init(void)
{
	uint32_t bit1[32], bit2[32];
	int b, k, v;

	for (b = 0; b < 32; b++) {
		bit1[b] = crc3_zeros(1u << b, CRC3_BLOCK);
		bit2[b] = crc3_zeros(1u << b, 2 * CRC3_BLOCK);
	}
	for (k = 0; k < 4; k++) {
		for (v = 0; v < 256; v++) {
			uint32_t t1 = 0, t2 = 0;

			for (b = 0; b < 8; b++) {
				if (v & (1 << b)) {
					t1 ^= bit1[8 * k + b];
					t2 ^= bit2[8 * k + b];
				}
			}
			g_crc3_shift1[k][v] = t1;
			g_crc3_shift2[k][v] = t2;
		}
	}
}

static inline uint32_t
crc3_shift(const uint32_t t[4][256], uint32_t x)
{
	return t[0][x & 0xff] ^ t[1][(x >> 8) & 0xff] ^ t[2][(x >> 16) & 0xff] ^ t[3][x >> 24];
}

/* osp_crc32c_update()'s result (raw state in and out), faster on long buffers. */
static uint32_t
crc32c_data(const void *buf, size_t len, uint32_t crc)
{
	const uint8_t *p = buf;

	if (len >= 3 * CRC3_BLOCK) {
		pthread_once(&g_crc3_once, crc3_tables_init);
		do {
			uint64_t a = crc, b = 0, c = 0, va, vb, vc;
			size_t i;

			for (i = 0; i < CRC3_BLOCK; i += 8) {
				memcpy(&va, p + i, 8);
				memcpy(&vb, p + CRC3_BLOCK + i, 8);
				memcpy(&vc, p + 2 * CRC3_BLOCK + i, 8);
				a = _mm_crc32_u64(a, va);
				b = _mm_crc32_u64(b, vb);
				c = _mm_crc32_u64(c, vc);
			}
			crc = crc3_shift(g_crc3_shift2, (uint32_t)a) ^
			      crc3_shift(g_crc3_shift1, (uint32_t)b) ^ (uint32_t)c;
			p += 3 * CRC3_BLOCK;
			len -= 3 * CRC3_BLOCK;
		} while (len >= 3 * CRC3_BLOCK);
	}
	return osp_crc32c_update(p, len, crc);
}

uint8_t
osp_nvme_tcp_pdu_hlen(uint8_t pdu_type)
{
	switch (pdu_type) {
	case OSP_NVME_TCP_PDU_TYPE_IC_REQ:
		return sizeof(struct osp_nvme_tcp_ic_req);
	case OSP_NVME_TCP_PDU_TYPE_IC_RESP:
		return sizeof(struct osp_nvme_tcp_ic_resp);
	case OSP_NVME_TCP_PDU_TYPE_H2C_TERM_REQ:
	case OSP_NVME_TCP_PDU_TYPE_C2H_TERM_REQ:
		return sizeof(struct osp_nvme_tcp_term_req_hdr);
	case OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD:
		return sizeof(struct osp_nvme_tcp_cmd);
	case OSP_NVME_TCP_PDU_TYPE_CAPSULE_RESP:
		return sizeof(struct osp_nvme_tcp_rsp);
	case OSP_NVME_TCP_PDU_TYPE_H2C_DATA:
		return sizeof(struct osp_nvme_tcp_h2c_data_hdr);
	case OSP_NVME_TCP_PDU_TYPE_C2H_DATA:
		return sizeof(struct osp_nvme_tcp_c2h_data_hdr);
	case OSP_NVME_TCP_PDU_TYPE_R2T:
		return sizeof(struct osp_nvme_tcp_r2t_hdr);
	default:
		return 0;
	}
}

static bool
pdu_type_is_ic(uint8_t type)
{
	return type == OSP_NVME_TCP_PDU_TYPE_IC_REQ || type == OSP_NVME_TCP_PDU_TYPE_IC_RESP;
}

static bool
pdu_type_is_term(uint8_t type)
{
	return type == OSP_NVME_TCP_PDU_TYPE_H2C_TERM_REQ ||
	       type == OSP_NVME_TCP_PDU_TYPE_C2H_TERM_REQ;
}

static bool
pdu_type_has_data(uint8_t type)
{
	return type == OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD || type == OSP_NVME_TCP_PDU_TYPE_H2C_DATA ||
	       type == OSP_NVME_TCP_PDU_TYPE_C2H_DATA;
}

/* PDU direction (TCP spec PDU definitions: H2C PDUs go to the controller, C2H to the host). */
static bool
pdu_type_allowed(enum osp_nvme_tcp_role role, uint8_t type)
{
	switch (type) {
	case OSP_NVME_TCP_PDU_TYPE_IC_REQ:
	case OSP_NVME_TCP_PDU_TYPE_H2C_TERM_REQ:
	case OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD:
	case OSP_NVME_TCP_PDU_TYPE_H2C_DATA:
		return role == OSP_NVME_TCP_ROLE_TARGET;
	case OSP_NVME_TCP_PDU_TYPE_IC_RESP:
	case OSP_NVME_TCP_PDU_TYPE_C2H_TERM_REQ:
	case OSP_NVME_TCP_PDU_TYPE_CAPSULE_RESP:
	case OSP_NVME_TCP_PDU_TYPE_C2H_DATA:
	case OSP_NVME_TCP_PDU_TYPE_R2T:
		return role == OSP_NVME_TCP_ROLE_HOST;
	default:
		return false;
	}
}

/* ---------------------------------------------------------------- receiver */

static uint32_t
recv_hdr_bytes(const struct osp_nvme_tcp_recv *r)
{
	uint32_t n = (r->state == RS_CH || r->state == RS_HDR) ? r->got : r->hdr_total;
	uint8_t hlen = r->buf.hdr.ch.hlen;

	if (n >= sizeof(struct osp_nvme_tcp_common_hdr) && hlen >= sizeof(struct osp_nvme_tcp_common_hdr) &&
	    hlen < n) {
		n = hlen;
	}
	return OSP_MIN(n, (uint32_t)OSP_NVME_TCP_TERM_REQ_ERROR_DATA_MAX);
}

static int
recv_set_error(struct osp_nvme_tcp_recv *r, int rc)
{
	r->err_hdr_len = recv_hdr_bytes(r);
	r->err = rc;
	r->state = RS_ERROR;
	return rc;
}

static int
recv_fatal(struct osp_nvme_tcp_recv *r, uint16_t fes, uint32_t fei)
{
	r->fes = fes;
	r->fei = fei;
	return recv_set_error(r, -EPROTO);
}

int
osp_nvme_tcp_recv_fail(struct osp_nvme_tcp_recv *r, uint16_t fes, uint32_t fei)
{
	r->fes = fes;
	r->fei = fei;
	return -EPROTO;
}

int
osp_nvme_tcp_recv_init(struct osp_nvme_tcp_recv *r, const struct osp_nvme_tcp_recv_opts *opts)
{
	if (r == NULL || opts == NULL || opts->hdr_fn == NULL || opts->done_fn == NULL ||
	    (opts->role != OSP_NVME_TCP_ROLE_TARGET && opts->role != OSP_NVME_TCP_ROLE_HOST)) {
		return -EINVAL;
	}
	memset(r, 0, sizeof(*r));
	r->opts = *opts;
	r->pda_align = OSP_NVME_TCP_PDA_ALIGN(0);
	r->state = RS_CH;
	return 0;
}

int
osp_nvme_tcp_recv_set_params(struct osp_nvme_tcp_recv *r, bool hdgst, bool ddgst, uint8_t pda)
{
	if (r->state != RS_WAIT_PARAMS || pda > OSP_NVME_TCP_PDA_MAX) {
		return -EINVAL;
	}
	r->hdgst = hdgst;
	r->ddgst = ddgst;
	r->pda_align = OSP_NVME_TCP_PDA_ALIGN(pda);
	r->state = RS_CH;
	return 0;
}

void
osp_nvme_tcp_recv_set_limits(struct osp_nvme_tcp_recv *r, uint32_t max_icd, uint32_t maxh2cdata,
			     uint32_t max_c2h_data)
{
	r->opts.max_icd = max_icd;
	r->opts.maxh2cdata = maxh2cdata;
	r->opts.max_c2h_data = max_c2h_data;
}

int
osp_nvme_tcp_recv_error(const struct osp_nvme_tcp_recv *r, uint16_t *fes, uint32_t *fei,
			const void **hdr, size_t *hdr_len)
{
	if (r->state != RS_ERROR || r->err != -EPROTO || r->fes == 0) {
		return -ENOENT;
	}
	if (fes) {
		*fes = r->fes;
	}
	if (fei) {
		*fei = r->fei;
	}
	if (hdr) {
		*hdr = r->buf.raw;
	}
	if (hdr_len) {
		*hdr_len = r->err_hdr_len;
	}
	return 0;
}

/*
 * The common header alone decides how many bytes the rest of the PDU takes,
 * so everything in it is checked before another byte is read (TCP spec common header
 * and each PDU's definition: exact HLEN, PDO alignment to our PDA, PLEN
 * consistent with HLEN, digests and PDO, digests as negotiated at IC time).
 */
static int
recv_check_ch(struct osp_nvme_tcp_recv *r)
{
	const struct osp_nvme_tcp_common_hdr *ch = &r->buf.hdr.ch;
	uint8_t type = ch->pdu_type;
	uint8_t hlen = osp_nvme_tcp_pdu_hlen(type);
	uint32_t plen = le32toh(ch->plen);
	uint32_t hd, dd, limit;
	bool ddgstf = ch->flags & OSP_NVME_TCP_CH_FLAGS_DDGSTF;

	if (hlen == 0 || !pdu_type_allowed(r->opts.role, type)) {
		return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
				  OSP_NVME_TCP_CH_OFF_PDU_TYPE);
	}
	/* ICReq/ICResp exactly once, first; TermReq at any time (TCP spec: connection
	 * initialization, fatal error handling). */
	if (!pdu_type_is_term(type) && pdu_type_is_ic(type) == r->ic_done) {
		return recv_fatal(r, OSP_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
	}
	if (ch->hlen != hlen) {
		return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
				  OSP_NVME_TCP_CH_OFF_HLEN);
	}

	r->pad_len = 0;
	r->data_len = 0;
	r->has_ddgst = false;

	if (pdu_type_is_ic(type) || pdu_type_is_term(type)) {
		/* These never carry digests, whatever was negotiated. */
		if (ch->flags & (OSP_NVME_TCP_CH_FLAGS_HDGSTF | OSP_NVME_TCP_CH_FLAGS_DDGSTF)) {
			return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
					  OSP_NVME_TCP_CH_OFF_FLAGS);
		}
		if (pdu_type_is_ic(type) ? plen != hlen :
					   plen < hlen || plen > OSP_NVME_TCP_TERM_REQ_PLEN_MAX) {
			return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
					  OSP_NVME_TCP_CH_OFF_PLEN);
		}
		/* A TermReq's error data is read into the header buffer with it. */
		r->hdr_total = plen;
		return 0;
	}

	if (!!(ch->flags & OSP_NVME_TCP_CH_FLAGS_HDGSTF) != r->hdgst ||
	    (ddgstf && (!r->ddgst || !pdu_type_has_data(type)))) {
		return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
				  OSP_NVME_TCP_CH_OFF_FLAGS);
	}
	hd = r->hdgst ? OSP_NVME_TCP_DIGEST_LEN : 0;
	r->hdr_total = hlen + hd;
	if (plen < r->hdr_total) {
		return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
				  OSP_NVME_TCP_CH_OFF_PLEN);
	}
	if (plen == r->hdr_total) {
		/* No data: fine for a command capsule, not for a data PDU; PDO is unused. */
		if (type == OSP_NVME_TCP_PDU_TYPE_H2C_DATA || type == OSP_NVME_TCP_PDU_TYPE_C2H_DATA) {
			return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
					  OSP_NVME_TCP_CH_OFF_PLEN);
		}
		if (ddgstf) {
			return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
					  OSP_NVME_TCP_CH_OFF_FLAGS);
		}
		return 0;
	}
	if (!pdu_type_has_data(type)) {
		return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
				  OSP_NVME_TCP_CH_OFF_PLEN);
	}
	/* Data present: it carries a data digest iff data digests were negotiated. */
	if (ddgstf != r->ddgst) {
		return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
				  OSP_NVME_TCP_CH_OFF_FLAGS);
	}
	dd = ddgstf ? OSP_NVME_TCP_DIGEST_LEN : 0;
	/* TCP spec "PDU Data Alignment": PDO is a multiple of the receiver's (PDA + 1) * 4
	 * and leaves room for the header and its digest. */
	if (ch->pdo < r->hdr_total || ch->pdo % r->pda_align != 0 ||
	    (uint64_t)ch->pdo + dd >= plen) {
		return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
				  OSP_NVME_TCP_CH_OFF_PDO);
	}
	r->data_len = plen - ch->pdo - dd;
	r->pad_len = ch->pdo - r->hdr_total;
	r->has_ddgst = ddgstf;

	switch (type) {
	case OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD:
		limit = r->opts.max_icd;
		break;
	case OSP_NVME_TCP_PDU_TYPE_H2C_DATA:
		/* More than MAXH2CDATA in one H2CData PDU has its own status. */
		if (r->data_len > r->opts.maxh2cdata) {
			return recv_fatal(r, OSP_NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED, 0);
		}
		return 0;
	default:
		limit = r->opts.max_c2h_data;
		break;
	}
	if (r->data_len > limit) {
		return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
				  OSP_NVME_TCP_CH_OFF_PLEN);
	}
	return 0;
}

/* Whole header in: header digest first, then the type-specific fields. */
static int
recv_check_hdr(struct osp_nvme_tcp_recv *r)
{
	const union osp_nvme_tcp_pdu_hdr *h = &r->buf.hdr;
	uint8_t hlen = h->ch.hlen;

	if (r->hdr_total > hlen && !pdu_type_is_term(h->ch.pdu_type)) {
		uint32_t crc = crc32c_final(osp_crc32c_update(h->raw, hlen, 0xffffffffu));

		if (crc != get_le32(&r->buf.raw[hlen])) {
			return recv_fatal(r, OSP_NVME_TCP_FES_HDGST_ERROR, 0);
		}
	}

	switch (h->ch.pdu_type) {
	case OSP_NVME_TCP_PDU_TYPE_IC_REQ:
		if (le16toh(h->ic_req.pfv) != OSP_NVME_TCP_PFV_1_0) {
			return recv_fatal(r, OSP_NVME_TCP_FES_UNSUPPORTED_PARAMETER,
					  OSP_NVME_TCP_IC_OFF_PFV);
		}
		if (h->ic_req.hpda > OSP_NVME_TCP_PDA_MAX) {
			return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
					  OSP_NVME_TCP_IC_OFF_PDA);
		}
		break;
	case OSP_NVME_TCP_PDU_TYPE_IC_RESP: {
		uint32_t maxh2cdata = le32toh(h->ic_resp.maxh2cdata);

		if (le16toh(h->ic_resp.pfv) != OSP_NVME_TCP_PFV_1_0) {
			return recv_fatal(r, OSP_NVME_TCP_FES_UNSUPPORTED_PARAMETER,
					  OSP_NVME_TCP_IC_OFF_PFV);
		}
		if (h->ic_resp.cpda > OSP_NVME_TCP_PDA_MAX) {
			return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
					  OSP_NVME_TCP_IC_OFF_PDA);
		}
		/* TCP spec §3.6.2.3: a multiple of 4, at least 4096. */
		if (maxh2cdata < OSP_NVME_TCP_MIN_MAXH2CDATA || maxh2cdata % 4 != 0) {
			return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
					  OSP_NVME_TCP_IC_OFF_MAXR2T_MAXH2CDATA);
		}
		break;
	}
	case OSP_NVME_TCP_PDU_TYPE_H2C_DATA:
		if (le32toh(h->h2c_data.datal) != r->data_len) {
			return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
					  OSP_NVME_TCP_DATA_OFF_DATAL);
		}
		break;
	case OSP_NVME_TCP_PDU_TYPE_C2H_DATA:
		if (le32toh(h->c2h_data.datal) != r->data_len) {
			return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
					  OSP_NVME_TCP_DATA_OFF_DATAL);
		}
		/* SUCCESS replaces the CapsuleResp, so it only makes sense on the last PDU. */
		if ((h->ch.flags & OSP_NVME_TCP_C2H_DATA_FLAGS_SUCCESS) &&
		    !(h->ch.flags & OSP_NVME_TCP_DATA_FLAGS_LAST_PDU)) {
			return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
					  OSP_NVME_TCP_CH_OFF_FLAGS);
		}
		break;
	case OSP_NVME_TCP_PDU_TYPE_R2T:
		if (le32toh(h->r2t.r2tl) == 0) {
			return recv_fatal(r, OSP_NVME_TCP_FES_INVALID_PDU_HEADER_FIELD,
					  OSP_NVME_TCP_R2T_OFF_R2TL);
		}
		break;
	default:
		break;
	}
	return 0;
}

static int
recv_get_iov(struct osp_nvme_tcp_recv *r)
{
	uint64_t total = 0;
	int rc, i;

	r->iovcnt = OSP_NVME_TCP_RECV_MAX_IOV;
	rc = r->opts.hdr_fn(r, r->opts.cb_arg, &r->buf.hdr, r->data_len, r->iov, &r->iovcnt);
	if (rc == -EAGAIN) {
		return PROGRESS_PAUSED;
	}
	if (rc < 0) {
		return recv_set_error(r, rc);
	}
	if (r->iovcnt < 0 || r->iovcnt > OSP_NVME_TCP_RECV_MAX_IOV) {
		return recv_set_error(r, -EINVAL);
	}
	for (i = 0; i < r->iovcnt; i++) {
		if (r->iov[i].iov_len != 0 && r->iov[i].iov_base == NULL) {
			return recv_set_error(r, -EINVAL);
		}
		total += r->iov[i].iov_len;
	}
	if (total < r->data_len) {
		return recv_fatal(r, OSP_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, 0);
	}
	r->iov_idx = 0;
	r->iov_off = 0;
	r->crc = 0xffffffffu;
	r->got = 0;
	r->state = r->pad_len ? RS_PAD : RS_DATA;
	return 0;
}

static int
recv_deliver(struct osp_nvme_tcp_recv *r)
{
	uint8_t type = r->buf.hdr.ch.pdu_type;
	uint32_t data_len = r->data_len;
	bool ddgst_ok = true;
	int rc;

	if (r->has_ddgst) {
		ddgst_ok = crc32c_final(r->crc) == get_le32(r->ddgst_buf);
	}
	r->got = 0;
	if (pdu_type_is_ic(type)) {
		r->ic_done = true;
		r->state = RS_WAIT_PARAMS;
	} else if (pdu_type_is_term(type)) {
		data_len = r->hdr_total - sizeof(struct osp_nvme_tcp_term_req_hdr);
		r->state = RS_TERMINATED;
	} else {
		r->state = RS_CH;
	}
	rc = r->opts.done_fn(r, r->opts.cb_arg, &r->buf.hdr, data_len, ddgst_ok);
	if (rc == -EAGAIN) {
		return PROGRESS_PAUSED;
	}
	if (rc < 0) {
		return recv_set_error(r, rc);
	}
	return 0;
}

/*
 * Move through every state that needs no more bytes. Returns
 * PROGRESS_NEED_BYTES, PROGRESS_PAUSED or a negative error.
 */
static int
recv_progress(struct osp_nvme_tcp_recv *r)
{
	int rc;

	for (;;) {
		switch (r->state) {
		case RS_CH:
			if (r->got < sizeof(struct osp_nvme_tcp_common_hdr)) {
				return PROGRESS_NEED_BYTES;
			}
			rc = recv_check_ch(r);
			if (rc < 0) {
				return rc;
			}
			r->state = RS_HDR;
			break;
		case RS_HDR:
			if (r->got < r->hdr_total) {
				return PROGRESS_NEED_BYTES;
			}
			rc = recv_check_hdr(r);
			if (rc < 0) {
				return rc;
			}
			r->got = 0;
			r->state = r->data_len ? RS_IOV : RS_DONE;
			break;
		case RS_IOV:
			rc = recv_get_iov(r);
			if (rc != 0) {
				return rc;
			}
			break;
		case RS_PAD:
			if (r->got < r->pad_len) {
				return PROGRESS_NEED_BYTES;
			}
			r->got = 0;
			r->state = RS_DATA;
			break;
		case RS_DATA:
			if (r->got < r->data_len) {
				return PROGRESS_NEED_BYTES;
			}
			r->got = 0;
			r->state = r->has_ddgst ? RS_DDGST : RS_DONE;
			break;
		case RS_DDGST:
			if (r->got < OSP_NVME_TCP_DIGEST_LEN) {
				return PROGRESS_NEED_BYTES;
			}
			r->got = 0;
			r->state = RS_DONE;
			break;
		case RS_DONE:
			rc = recv_deliver(r);
			if (rc != 0) {
				return rc;
			}
			break;
		case RS_WAIT_PARAMS:
			return PROGRESS_PAUSED;
		case RS_TERMINATED:
			return PROGRESS_NEED_BYTES;
		case RS_ERROR:
		default:
			return r->err;
		}
	}
}

/* Bytes still expected in the current region. */
static uint32_t
recv_region_left(const struct osp_nvme_tcp_recv *r)
{
	switch (r->state) {
	case RS_CH:
		return sizeof(struct osp_nvme_tcp_common_hdr) - r->got;
	case RS_HDR:
		return r->hdr_total - r->got;
	case RS_PAD:
		return r->pad_len - r->got;
	case RS_DATA:
		return r->data_len - r->got;
	case RS_DDGST:
		return OSP_NVME_TCP_DIGEST_LEN - r->got;
	default:
		return 0;
	}
}

/* Account for n bytes of the current region; copy them from src first if given. */
static void
recv_advance(struct osp_nvme_tcp_recv *r, size_t n, const uint8_t *src)
{
	uint8_t *dst;

	switch (r->state) {
	case RS_CH:
	case RS_HDR:
		dst = &r->buf.raw[r->got];
		break;
	case RS_PAD:
		dst = &r->pad_scratch[r->got];
		break;
	case RS_DDGST:
		dst = &r->ddgst_buf[r->got];
		break;
	case RS_DATA:
		r->got += n;
		while (n > 0) {
			struct iovec *iov = &r->iov[r->iov_idx];
			size_t chunk = OSP_MIN(n, iov->iov_len - r->iov_off);

			if (chunk == 0) {
				/* An empty iovec ({NULL, 0} is allowed): no pointer arithmetic on it. */
				r->iov_idx++;
				r->iov_off = 0;
				continue;
			}
			dst = (uint8_t *)iov->iov_base + r->iov_off;
			if (src != NULL) {
				memcpy(dst, src, chunk);
				src += chunk;
			}
			if (r->has_ddgst) {
				r->crc = crc32c_data(dst, chunk, r->crc);
			}
			r->iov_off += chunk;
			n -= chunk;
			if (r->iov_off == iov->iov_len) {
				r->iov_idx++;
				r->iov_off = 0;
			}
		}
		return;
	default:
		return;
	}
	if (src != NULL) {
		memcpy(dst, src, n);
	}
	r->got += n;
}

/*
 * At a PDU boundary with at least a common header in the input (the usual
 * case for a buffer filled by one recv: a batch of whole PDUs): take the
 * common header, check it, and take the rest of the header in one more copy
 * when it is there too. The same checks as the region-by-region path
 * (recv_progress() runs recv_check_hdr() next); it only skips that path's
 * per-region bookkeeping. Returns the bytes taken, or a negative error.
 */
static ssize_t
recv_take_hdr(struct osp_nvme_tcp_recv *r, const uint8_t *p, size_t avail)
{
	const size_t ch_len = sizeof(struct osp_nvme_tcp_common_hdr);
	int rc;

	memcpy(r->buf.raw, p, ch_len);
	r->got = ch_len;
	rc = recv_check_ch(r);
	if (rc < 0) {
		return rc;
	}
	r->state = RS_HDR;
	if (avail < r->hdr_total) {
		return (ssize_t)ch_len;
	}
	/* hdr_total fits the header buffer: recv_check_ch() bounds it. */
	memcpy(&r->buf.raw[ch_len], p + ch_len, r->hdr_total - ch_len);
	r->got = r->hdr_total;
	return (ssize_t)r->hdr_total;
}

ssize_t
osp_nvme_tcp_recv_feed(struct osp_nvme_tcp_recv *r, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t off = 0, n;
	ssize_t took;
	int rc;

	if (len > 0 && buf == NULL) {
		return -EINVAL;
	}
	rc = recv_progress(r);
	for (;;) {
		if (rc < 0) {
			return rc;
		}
		if (rc == PROGRESS_PAUSED || off == len) {
			return (ssize_t)off;
		}
		if (r->state == RS_TERMINATED) {
			return -ESHUTDOWN;
		}
		if (r->state == RS_CH && r->got == 0 &&
		    len - off >= sizeof(struct osp_nvme_tcp_common_hdr)) {
			took = recv_take_hdr(r, p + off, len - off);
			if (took < 0) {
				return took;
			}
			off += (size_t)took;
			rc = recv_progress(r);
			continue;
		}
		n = OSP_MIN(len - off, (size_t)recv_region_left(r));
		recv_advance(r, n, p + off);
		off += n;
		rc = recv_progress(r);
	}
}

int
osp_nvme_tcp_recv_next_iov(struct osp_nvme_tcp_recv *r, struct iovec *iov, int max)
{
	uint32_t left;
	int rc;

	if (iov == NULL || max < 1) {
		return -EINVAL;
	}
	rc = recv_progress(r);
	if (rc < 0) {
		return rc;
	}
	if (rc == PROGRESS_PAUSED) {
		return 0;
	}
	left = recv_region_left(r);
	switch (r->state) {
	case RS_TERMINATED:
		return -ESHUTDOWN;
	case RS_CH:
	case RS_HDR:
		iov[0].iov_base = &r->buf.raw[r->got];
		break;
	case RS_PAD:
		iov[0].iov_base = &r->pad_scratch[r->got];
		break;
	case RS_DDGST:
		iov[0].iov_base = &r->ddgst_buf[r->got];
		break;
	case RS_DATA:
		/* What fits in max iovecs now; the rest comes with later calls. */
		return osp_iov_slice_partial(iov, max, &r->iov[r->iov_idx], r->iovcnt - r->iov_idx,
					     r->iov_off, left, NULL);
	default:
		return 0;
	}
	iov[0].iov_len = left;
	return 1;
}

int
osp_nvme_tcp_recv_commit(struct osp_nvme_tcp_recv *r, size_t n)
{
	int rc;

	if (r->state == RS_ERROR) {
		return r->err;
	}
	if (n > recv_region_left(r)) {
		return -EINVAL;
	}
	recv_advance(r, n, NULL);
	rc = recv_progress(r);
	return rc < 0 ? rc : 0;
}

bool
osp_nvme_tcp_recv_at_pdu_start(const struct osp_nvme_tcp_recv *r)
{
	return r->state == RS_CH && r->got == 0;
}

/* ---------------------------------------------------------------- builders */

static int
data_len_of(const struct iovec *data, int iovcnt, uint64_t *total)
{
	int i;

	*total = 0;
	if (iovcnt < 0 || iovcnt > OSP_NVME_TCP_PDU_MAX_DATA_IOV || (iovcnt > 0 && data == NULL)) {
		return -EINVAL;
	}
	for (i = 0; i < iovcnt; i++) {
		if (data[i].iov_len != 0 && data[i].iov_base == NULL) {
			return -EINVAL;
		}
		*total += data[i].iov_len;
	}
	return 0;
}

static void
pdu_start(struct osp_nvme_tcp_pdu *pdu, uint8_t type)
{
	memset(pdu->raw, 0, OSP_NVME_TCP_HLEN_MAX);
	pdu->hdr.ch.pdu_type = type;
	pdu->hdr.ch.hlen = osp_nvme_tcp_pdu_hlen(type);
	pdu->iovcnt = 0;
	pdu->plen = 0;
}

/*
 * Lay out a digest-capable PDU whose type-specific fields are already set:
 * flags, PDO (aligned to the peer's PDA), PLEN, header digest over the final
 * header, zero padding, data iovecs and data digest.
 */
static int
pdu_finish(struct osp_nvme_tcp_pdu *pdu, const struct osp_nvme_tcp_send_params *params,
	   const struct iovec *data, int iovcnt, uint64_t data_len)
{
	struct osp_nvme_tcp_common_hdr *ch = &pdu->hdr.ch;
	uint32_t hd = params->hdgst ? OSP_NVME_TCP_DIGEST_LEN : 0;
	uint32_t dd = 0, hdr_end = ch->hlen + hd, pdo = 0, plen;
	uint32_t crc;
	int i;

	if (params->pda > OSP_NVME_TCP_PDA_MAX) {
		return -EINVAL;
	}
	if (hd) {
		ch->flags |= OSP_NVME_TCP_CH_FLAGS_HDGSTF;
	}
	if (data_len > 0) {
		uint32_t align = OSP_NVME_TCP_PDA_ALIGN(params->pda);

		pdo = (hdr_end + align - 1) / align * align;
		if (params->ddgst) {
			dd = OSP_NVME_TCP_DIGEST_LEN;
			ch->flags |= OSP_NVME_TCP_CH_FLAGS_DDGSTF;
		}
		if (data_len > UINT32_MAX - pdo - dd) {
			return -EINVAL;
		}
		plen = pdo + (uint32_t)data_len + dd;
	} else {
		plen = hdr_end;
	}
	ch->pdo = (uint8_t)pdo;
	ch->plen = htole32(plen);
	if (hd) {
		crc = crc32c_final(osp_crc32c_update(pdu->raw, ch->hlen, 0xffffffffu));
		put_le32(&pdu->raw[ch->hlen], crc);
	}
	if (pdo > hdr_end) {
		memset(&pdu->raw[hdr_end], 0, pdo - hdr_end);
	}

	pdu->iov[0].iov_base = pdu->raw;
	pdu->iov[0].iov_len = data_len > 0 ? pdo : hdr_end;
	pdu->iovcnt = 1;
	if (data_len > 0) {
		crc = 0xffffffffu;
		for (i = 0; i < iovcnt; i++) {
			if (data[i].iov_len == 0) {
				continue;
			}
			pdu->iov[pdu->iovcnt++] = data[i];
			if (dd) {
				crc = crc32c_data(data[i].iov_base, data[i].iov_len, crc);
			}
		}
		if (dd) {
			put_le32(pdu->ddgst, crc32c_final(crc));
			pdu->iov[pdu->iovcnt].iov_base = pdu->ddgst;
			pdu->iov[pdu->iovcnt].iov_len = dd;
			pdu->iovcnt++;
		}
	}
	pdu->plen = plen;
	return 0;
}

static void
pdu_fixed(struct osp_nvme_tcp_pdu *pdu, uint32_t plen)
{
	pdu->hdr.ch.plen = htole32(plen);
	pdu->iov[0].iov_base = pdu->raw;
	pdu->iov[0].iov_len = plen;
	pdu->iovcnt = 1;
	pdu->plen = plen;
}

int
osp_nvme_tcp_build_ic_req(struct osp_nvme_tcp_pdu *pdu, uint8_t hpda, uint8_t dgst,
			  uint32_t maxr2t)
{
	if (hpda > OSP_NVME_TCP_PDA_MAX ||
	    (dgst & ~(OSP_NVME_TCP_DGST_HDGST_ENABLE | OSP_NVME_TCP_DGST_DDGST_ENABLE))) {
		return -EINVAL;
	}
	pdu_start(pdu, OSP_NVME_TCP_PDU_TYPE_IC_REQ);
	pdu->hdr.ic_req.pfv = htole16(OSP_NVME_TCP_PFV_1_0);
	pdu->hdr.ic_req.hpda = hpda;
	pdu->hdr.ic_req.dgst = dgst;
	pdu->hdr.ic_req.maxr2t = htole32(maxr2t);
	pdu_fixed(pdu, sizeof(struct osp_nvme_tcp_ic_req));
	return 0;
}

int
osp_nvme_tcp_build_ic_resp(struct osp_nvme_tcp_pdu *pdu, uint8_t cpda, uint8_t dgst,
			   uint32_t maxh2cdata)
{
	if (cpda > OSP_NVME_TCP_PDA_MAX ||
	    (dgst & ~(OSP_NVME_TCP_DGST_HDGST_ENABLE | OSP_NVME_TCP_DGST_DDGST_ENABLE)) ||
	    maxh2cdata < OSP_NVME_TCP_MIN_MAXH2CDATA || maxh2cdata % 4 != 0) {
		return -EINVAL;
	}
	pdu_start(pdu, OSP_NVME_TCP_PDU_TYPE_IC_RESP);
	pdu->hdr.ic_resp.pfv = htole16(OSP_NVME_TCP_PFV_1_0);
	pdu->hdr.ic_resp.cpda = cpda;
	pdu->hdr.ic_resp.dgst = dgst;
	pdu->hdr.ic_resp.maxh2cdata = htole32(maxh2cdata);
	pdu_fixed(pdu, sizeof(struct osp_nvme_tcp_ic_resp));
	return 0;
}

int
osp_nvme_tcp_build_term_req(struct osp_nvme_tcp_pdu *pdu, enum osp_nvme_tcp_role sender,
			    uint16_t fes, uint32_t fei, const void *err_data, size_t err_len)
{
	size_t hlen = sizeof(struct osp_nvme_tcp_term_req_hdr);

	if ((sender != OSP_NVME_TCP_ROLE_TARGET && sender != OSP_NVME_TCP_ROLE_HOST) ||
	    (err_len > 0 && err_data == NULL)) {
		return -EINVAL;
	}
	err_len = OSP_MIN(err_len, (size_t)OSP_NVME_TCP_TERM_REQ_ERROR_DATA_MAX);
	pdu_start(pdu, sender == OSP_NVME_TCP_ROLE_TARGET ? OSP_NVME_TCP_PDU_TYPE_C2H_TERM_REQ :
							    OSP_NVME_TCP_PDU_TYPE_H2C_TERM_REQ);
	pdu->hdr.term_req.fes = htole16(fes);
	pdu->hdr.term_req.fei = htole32(fei);
	if (err_len > 0) {
		memcpy(&pdu->raw[hlen], err_data, err_len);
	}
	pdu_fixed(pdu, (uint32_t)(hlen + err_len));
	return 0;
}

int
osp_nvme_tcp_build_capsule_cmd(struct osp_nvme_tcp_pdu *pdu,
			       const struct osp_nvme_tcp_send_params *params,
			       const struct osp_nvme_cmd *cmd, const struct iovec *data, int iovcnt)
{
	uint64_t len;

	if (params == NULL || cmd == NULL || data_len_of(data, iovcnt, &len) != 0) {
		return -EINVAL;
	}
	pdu_start(pdu, OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD);
	pdu->hdr.capsule_cmd.ccsqe = *cmd;
	return pdu_finish(pdu, params, data, iovcnt, len);
}

int
osp_nvme_tcp_build_capsule_resp(struct osp_nvme_tcp_pdu *pdu,
				const struct osp_nvme_tcp_send_params *params,
				const struct osp_nvme_cpl *cpl)
{
	if (params == NULL || cpl == NULL) {
		return -EINVAL;
	}
	pdu_start(pdu, OSP_NVME_TCP_PDU_TYPE_CAPSULE_RESP);
	pdu->hdr.capsule_resp.rccqe = *cpl;
	return pdu_finish(pdu, params, NULL, 0, 0);
}

int
osp_nvme_tcp_build_h2c_data(struct osp_nvme_tcp_pdu *pdu,
			    const struct osp_nvme_tcp_send_params *params, uint16_t cccid,
			    uint16_t ttag, uint32_t datao, const struct iovec *data, int iovcnt,
			    bool last)
{
	uint64_t len;

	if (params == NULL || data_len_of(data, iovcnt, &len) != 0 || len == 0 ||
	    len > UINT32_MAX) {
		return -EINVAL;
	}
	pdu_start(pdu, OSP_NVME_TCP_PDU_TYPE_H2C_DATA);
	pdu->hdr.h2c_data.cccid = htole16(cccid);
	pdu->hdr.h2c_data.ttag = htole16(ttag);
	pdu->hdr.h2c_data.datao = htole32(datao);
	pdu->hdr.h2c_data.datal = htole32((uint32_t)len);
	if (last) {
		pdu->hdr.ch.flags |= OSP_NVME_TCP_DATA_FLAGS_LAST_PDU;
	}
	return pdu_finish(pdu, params, data, iovcnt, len);
}

int
osp_nvme_tcp_build_c2h_data(struct osp_nvme_tcp_pdu *pdu,
			    const struct osp_nvme_tcp_send_params *params, uint16_t cccid,
			    uint32_t datao, const struct iovec *data, int iovcnt, bool last,
			    bool success)
{
	uint64_t len;

	if (params == NULL || data_len_of(data, iovcnt, &len) != 0 || len == 0 ||
	    len > UINT32_MAX || (success && !last)) {
		return -EINVAL;
	}
	pdu_start(pdu, OSP_NVME_TCP_PDU_TYPE_C2H_DATA);
	pdu->hdr.c2h_data.cccid = htole16(cccid);
	pdu->hdr.c2h_data.datao = htole32(datao);
	pdu->hdr.c2h_data.datal = htole32((uint32_t)len);
	if (last) {
		pdu->hdr.ch.flags |= OSP_NVME_TCP_DATA_FLAGS_LAST_PDU;
	}
	if (success) {
		pdu->hdr.ch.flags |= OSP_NVME_TCP_C2H_DATA_FLAGS_SUCCESS;
	}
	return pdu_finish(pdu, params, data, iovcnt, len);
}

int
osp_nvme_tcp_build_r2t(struct osp_nvme_tcp_pdu *pdu, const struct osp_nvme_tcp_send_params *params,
		       uint16_t cccid, uint16_t ttag, uint32_t r2to, uint32_t r2tl)
{
	if (params == NULL || r2tl == 0) {
		return -EINVAL;
	}
	pdu_start(pdu, OSP_NVME_TCP_PDU_TYPE_R2T);
	pdu->hdr.r2t.cccid = htole16(cccid);
	pdu->hdr.r2t.ttag = htole16(ttag);
	pdu->hdr.r2t.r2to = htole32(r2to);
	pdu->hdr.r2t.r2tl = htole32(r2tl);
	return pdu_finish(pdu, params, NULL, 0, 0);
}
