/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the NVMe/TCP PDU receive state machine
 * (lib/nvme_tcp_codec/pdu.c: osp_nvme_tcp_recv_*).
 *
 * Input layout: byte 0 = mode, byte 1 = PRNG seed, the rest = the byte stream
 * a peer sends on the connection.
 *
 *   mode bit 0: role HOST (else TARGET)
 *   mode bit 1: feed the stream in random pieces (else in one call)
 *   mode bit 2: zero-copy path (next_iov/commit) instead of feed
 *   mode bit 3: do not call set_params from the IC done callback; call it
 *               after feed/next_iov reports the pause
 *   mode bit 4: own PDA = seed & 31 (else 0)
 *   mode bit 5: small data limits (max_icd 1024, maxh2cdata 4096, max_c2h 4096)
 *   mode bit 6: callbacks may pause (-EAGAIN), fail with a FES, or fail with
 *               their own error, chosen by the PRNG
 *   mode bit 7: hdr_fn sometimes supplies buffers smaller than the data
 *
 * The PRNG (seeded from byte 1) chooses split points, buffer layout and
 * callback behaviour. Invariant violations abort(); ASan/UBSan catch memory
 * errors. Any crash is a finding.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey_internal/nvme_tcp_codec.h"
#include "osprey/util.h"

#define CHECK(cond)                                                                        \
	do {                                                                                   \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);  \
			abort();                                                                       \
		}                                                                                  \
	} while (0)

#define MAX_BUFS 8

struct fctx {
	enum osp_nvme_tcp_role role;
	uint8_t mode;
	uint32_t rng;
	uint8_t pda;
	uint32_t max_icd, maxh2cdata, max_c2h;

	/* data buffers handed out by hdr_fn for the current PDU */
	void *bufs[MAX_BUFS];
	int nbufs;
	uint32_t expect_data_len; /* data_len passed to hdr_fn, 0 if none */
	bool hdr_paused;	  /* hdr_fn already paused once for this PDU */

	/* what the callbacks did that feed should report */
	int cb_err;	  /* our own non-EPROTO error, 0 if none */
	uint16_t cb_fes;  /* FES we expect with -EPROTO, 0 if unknown */
	bool short_buf;	  /* hdr_fn gave fewer bytes than data_len */

	bool ic_seen;
	bool need_params;
	uint8_t ic_dgst; /* DGST of the IC PDU, for delayed set_params */
	bool terminated;
	unsigned pdus;
};

static uint32_t
rnd(struct fctx *c)
{
	uint32_t x = c->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	c->rng = x;
	return x;
}

static void
free_bufs(struct fctx *c)
{
	for (int i = 0; i < c->nbufs; i++) {
		free(c->bufs[i]);
	}
	c->nbufs = 0;
}

static bool
type_allowed(enum osp_nvme_tcp_role role, uint8_t t)
{
	if (role == OSP_NVME_TCP_ROLE_TARGET) {
		return t == OSP_NVME_TCP_PDU_TYPE_IC_REQ || t == OSP_NVME_TCP_PDU_TYPE_H2C_TERM_REQ ||
		       t == OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD || t == OSP_NVME_TCP_PDU_TYPE_H2C_DATA;
	}
	return t == OSP_NVME_TCP_PDU_TYPE_IC_RESP || t == OSP_NVME_TCP_PDU_TYPE_C2H_TERM_REQ ||
	       t == OSP_NVME_TCP_PDU_TYPE_CAPSULE_RESP || t == OSP_NVME_TCP_PDU_TYPE_C2H_DATA ||
	       t == OSP_NVME_TCP_PDU_TYPE_R2T;
}

static bool
type_has_data(uint8_t t)
{
	return t == OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD || t == OSP_NVME_TCP_PDU_TYPE_H2C_DATA ||
	       t == OSP_NVME_TCP_PDU_TYPE_C2H_DATA;
}

static bool
type_is_ic(uint8_t t)
{
	return t == OSP_NVME_TCP_PDU_TYPE_IC_REQ || t == OSP_NVME_TCP_PDU_TYPE_IC_RESP;
}

static bool
type_is_term(uint8_t t)
{
	return t == OSP_NVME_TCP_PDU_TYPE_H2C_TERM_REQ || t == OSP_NVME_TCP_PDU_TYPE_C2H_TERM_REQ;
}

static bool
chaos(struct fctx *c)
{
	return (c->mode & 0x40) != 0;
}

static int
hdr_cb(struct osp_nvme_tcp_recv *r, void *arg, const union osp_nvme_tcp_pdu_hdr *hdr,
       uint32_t data_len, struct iovec *iov, int *iovcnt)
{
	struct fctx *c = arg;
	uint8_t t = hdr->ch.pdu_type;
	uint32_t give, left;
	int n, i;

	CHECK(!c->terminated);
	CHECK(c->ic_seen);
	CHECK(type_allowed(c->role, t));
	CHECK(type_has_data(t));
	CHECK(hdr->ch.hlen == osp_nvme_tcp_pdu_hlen(t));
	CHECK(data_len > 0);
	CHECK(*iovcnt == OSP_NVME_TCP_RECV_MAX_IOV);
	switch (t) {
	case OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD:
		CHECK(data_len <= c->max_icd);
		break;
	case OSP_NVME_TCP_PDU_TYPE_H2C_DATA:
		CHECK(data_len <= c->maxh2cdata);
		CHECK(le32toh(hdr->h2c_data.datal) == data_len);
		break;
	case OSP_NVME_TCP_PDU_TYPE_C2H_DATA:
		CHECK(data_len <= c->max_c2h);
		CHECK(le32toh(hdr->c2h_data.datal) == data_len);
		break;
	}
	/* the PDU fits in PLEN: header (+digest) <= PDO, data + digest after it */
	CHECK(hdr->ch.pdo >= hdr->ch.hlen);
	CHECK((uint64_t)hdr->ch.pdo + data_len <= le32toh(hdr->ch.plen));

	free_bufs(c);
	c->expect_data_len = 0;

	if (chaos(c)) {
		uint32_t x = rnd(c) % 32;

		if (x < 4 && !c->hdr_paused) {
			c->hdr_paused = true;
			return -EAGAIN;
		}
		if (x == 4) {
			c->cb_fes = OSP_NVME_TCP_FES_R2T_LIMIT_EXCEEDED;
			return osp_nvme_tcp_recv_fail(r, c->cb_fes, rnd(c));
		}
		if (x == 5) {
			c->cb_err = -EIO;
			return -EIO;
		}
	}
	c->hdr_paused = false;

	give = data_len;
	c->short_buf = false;
	if ((c->mode & 0x80) && rnd(c) % 4 == 0) {
		give = rnd(c) % data_len; /* fewer than data_len: out of range */
		c->short_buf = true;
	} else if (rnd(c) % 2) {
		give += rnd(c) % 64;
	}

	n = 1 + rnd(c) % MAX_BUFS;
	left = give;
	for (i = 0; i < n; i++) {
		uint32_t len = (i == n - 1) ? left : (left ? rnd(c) % (left + 1) : 0);

		if (len == 0) {
			/* Empty iovecs are legal, NULL base included (the codec only
			 * refuses NULL with a non-zero length). Building with
			 * -DFUZZ_NO_NULL_EMPTY_IOV gives them a real pointer instead,
			 * to fuzz past the known finding in test/fuzz/crashes/README.md. */
#ifdef FUZZ_NO_NULL_EMPTY_IOV
			iov[i].iov_base = &c->rng;
#else
			iov[i].iov_base = (rnd(c) & 1) ? NULL : (void *)&c->rng;
#endif
			iov[i].iov_len = 0;
			continue;
		}
		c->bufs[c->nbufs] = malloc(len);
		CHECK(c->bufs[c->nbufs] != NULL);
		iov[i].iov_base = c->bufs[c->nbufs];
		iov[i].iov_len = len;
		c->nbufs++;
		left -= len;
	}
	CHECK(left == 0);
	*iovcnt = n;
	c->expect_data_len = data_len;
	return 0;
}

static int
done_cb(struct osp_nvme_tcp_recv *r, void *arg, const union osp_nvme_tcp_pdu_hdr *hdr,
	uint32_t data_len, bool ddgst_ok)
{
	struct fctx *c = arg;
	uint8_t t = hdr->ch.pdu_type;
	uint32_t plen = le32toh(hdr->ch.plen);
	int rc;

	CHECK(!c->terminated);
	CHECK(!c->short_buf);
	CHECK(type_allowed(c->role, t));
	CHECK(hdr->ch.hlen == osp_nvme_tcp_pdu_hlen(t));
	CHECK(ddgst_ok || (hdr->ch.flags & OSP_NVME_TCP_CH_FLAGS_DDGSTF));
	c->pdus++;

	if (type_is_term(t)) {
		CHECK((hdr->ch.flags & (OSP_NVME_TCP_CH_FLAGS_HDGSTF | OSP_NVME_TCP_CH_FLAGS_DDGSTF)) == 0);
		CHECK(data_len <= OSP_NVME_TCP_TERM_REQ_ERROR_DATA_MAX);
		CHECK(plen == sizeof(struct osp_nvme_tcp_term_req_hdr) + data_len);
		CHECK(c->expect_data_len == 0);
		c->terminated = true;
	} else if (type_is_ic(t)) {
		uint8_t dgst;

		CHECK(!c->ic_seen);
		CHECK(data_len == 0);
		CHECK(plen == 128);
		CHECK((hdr->ch.flags & (OSP_NVME_TCP_CH_FLAGS_HDGSTF | OSP_NVME_TCP_CH_FLAGS_DDGSTF)) == 0);
		c->ic_seen = true;
		if (t == OSP_NVME_TCP_PDU_TYPE_IC_REQ) {
			CHECK(hdr->ic_req.pfv == 0);
			CHECK(hdr->ic_req.hpda <= OSP_NVME_TCP_PDA_MAX);
			dgst = hdr->ic_req.dgst;
		} else {
			uint32_t m = le32toh(hdr->ic_resp.maxh2cdata);

			CHECK(hdr->ic_resp.pfv == 0);
			CHECK(hdr->ic_resp.cpda <= OSP_NVME_TCP_PDA_MAX);
			CHECK(m >= OSP_NVME_TCP_MIN_MAXH2CDATA && m % 4 == 0);
			dgst = hdr->ic_resp.dgst;
		}
		c->ic_dgst = dgst;
		if (c->mode & 0x08) {
			c->need_params = true;
		} else {
			rc = osp_nvme_tcp_recv_set_params(r, dgst & 1, dgst & 2, c->pda);
			CHECK(rc == 0);
			/* only once */
			CHECK(osp_nvme_tcp_recv_set_params(r, false, false, 0) == -EINVAL);
		}
	} else {
		CHECK(c->ic_seen);
		if (type_has_data(t) && data_len > 0) {
			CHECK(data_len == c->expect_data_len);
			CHECK(c->nbufs > 0);
		} else {
			CHECK(data_len == 0);
			CHECK(c->expect_data_len == 0);
			CHECK(t == OSP_NVME_TCP_PDU_TYPE_CAPSULE_CMD ||
			      t == OSP_NVME_TCP_PDU_TYPE_CAPSULE_RESP || t == OSP_NVME_TCP_PDU_TYPE_R2T);
		}
		if (t == OSP_NVME_TCP_PDU_TYPE_R2T) {
			CHECK(le32toh(hdr->r2t.r2tl) != 0);
		}
		if (t == OSP_NVME_TCP_PDU_TYPE_C2H_DATA &&
		    (hdr->ch.flags & OSP_NVME_TCP_C2H_DATA_FLAGS_SUCCESS)) {
			CHECK(hdr->ch.flags & OSP_NVME_TCP_DATA_FLAGS_LAST_PDU);
		}
		if (!ddgst_ok) {
			CHECK(data_len > 0);
		}
	}
	free_bufs(c);
	c->expect_data_len = 0;
	c->hdr_paused = false;

	if (chaos(c)) {
		uint32_t x = rnd(c) % 32;

		if (x < 4) {
			return -EAGAIN;
		}
		if (x == 4 && !c->terminated) {
			c->cb_err = -ECANCELED;
			return -ECANCELED;
		}
	}
	return 0;
}

/* A TermReq we built must parse on the peer's receiver and carry the same fields. */
struct term_check {
	bool seen;
	uint16_t fes;
	uint32_t fei;
	const void *data;
	size_t len;
};

static int
term_hdr_cb(struct osp_nvme_tcp_recv *r, void *arg, const union osp_nvme_tcp_pdu_hdr *hdr,
	    uint32_t data_len, struct iovec *iov, int *iovcnt)
{
	(void)r; (void)arg; (void)hdr; (void)data_len; (void)iov; (void)iovcnt;
	CHECK(0 && "hdr_fn called for a TermReq");
	return -EINVAL;
}

static int
term_done_cb(struct osp_nvme_tcp_recv *r, void *arg, const union osp_nvme_tcp_pdu_hdr *hdr,
	     uint32_t data_len, bool ddgst_ok)
{
	struct term_check *tc = arg;

	(void)r;
	CHECK(!tc->seen);
	CHECK(ddgst_ok);
	CHECK(type_is_term(hdr->ch.pdu_type));
	CHECK(le16toh(hdr->term_req.fes) == tc->fes);
	CHECK(le32toh(hdr->term_req.fei) == tc->fei);
	CHECK(data_len == tc->len);
	CHECK(data_len == 0 || memcmp(&hdr->raw[24], tc->data, data_len) == 0);
	tc->seen = true;
	return 0;
}

static void
check_term_req_roundtrip(enum osp_nvme_tcp_role sender, const struct osp_nvme_tcp_pdu *pdu,
			 uint16_t fes, uint32_t fei, const void *data, size_t len)
{
	struct osp_nvme_tcp_recv *peer = malloc(sizeof(*peer));
	struct term_check tc = { .fes = fes, .fei = fei, .data = data, .len = len };
	struct osp_nvme_tcp_recv_opts o = {
		.role = sender == OSP_NVME_TCP_ROLE_TARGET ? OSP_NVME_TCP_ROLE_HOST :
							     OSP_NVME_TCP_ROLE_TARGET,
		.max_icd = 8192, .maxh2cdata = 8192, .max_c2h_data = 8192,
		.hdr_fn = term_hdr_cb, .done_fn = term_done_cb, .cb_arg = &tc,
	};
	ssize_t n;

	CHECK(peer != NULL);
	CHECK(osp_nvme_tcp_recv_init(peer, &o) == 0);
	for (int i = 0; i < pdu->iovcnt; i++) {
		n = osp_nvme_tcp_recv_feed(peer, pdu->iov[i].iov_base, pdu->iov[i].iov_len);
		CHECK(n == (ssize_t)pdu->iov[i].iov_len);
	}
	CHECK(tc.seen);
	CHECK(osp_nvme_tcp_recv_feed(peer, "x", 1) == -ESHUTDOWN);
	free(peer);
}

/* The receiver failed with rc: check it is what the callbacks and the codec agree on. */
static void
handle_error(struct osp_nvme_tcp_recv *r, struct fctx *c, ssize_t rc)
{
	uint16_t fes = 0;
	uint32_t fei = 0;
	const void *h = NULL;
	size_t hlen = 0;
	struct osp_nvme_tcp_pdu *pdu;
	size_t total = 0;

	if (rc == -ESHUTDOWN) {
		CHECK(c->terminated);
		CHECK(osp_nvme_tcp_recv_error(r, &fes, &fei, &h, &hlen) == -ENOENT);
		return;
	}
	if (rc != -EPROTO) {
		CHECK(c->cb_err != 0 && rc == c->cb_err);
		CHECK(osp_nvme_tcp_recv_error(r, &fes, &fei, &h, &hlen) == -ENOENT);
		/* sticky */
		CHECK(osp_nvme_tcp_recv_feed(r, "x", 1) == rc);
		return;
	}
	CHECK(c->cb_err == 0);
	CHECK(osp_nvme_tcp_recv_error(r, &fes, &fei, &h, &hlen) == 0);
	CHECK(fes != 0);
	if (c->cb_fes) {
		CHECK(fes == c->cb_fes);
	} else if (c->short_buf) {
		CHECK(fes == OSP_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE);
	}
	CHECK(hlen <= OSP_NVME_TCP_TERM_REQ_ERROR_DATA_MAX);
	CHECK(hlen == 0 || h != NULL);
	/* also with NULL outputs */
	CHECK(osp_nvme_tcp_recv_error(r, NULL, NULL, NULL, NULL) == 0);

	pdu = malloc(sizeof(*pdu));
	CHECK(pdu != NULL);
	CHECK(osp_nvme_tcp_build_term_req(pdu, c->role, fes, fei, h, hlen) == 0);
	CHECK(pdu->plen == 24 + hlen);
	CHECK(pdu->hdr.ch.pdu_type == (c->role == OSP_NVME_TCP_ROLE_TARGET ?
					       OSP_NVME_TCP_PDU_TYPE_C2H_TERM_REQ :
					       OSP_NVME_TCP_PDU_TYPE_H2C_TERM_REQ));
	CHECK(pdu->iovcnt >= 1 && pdu->iovcnt <= OSP_NVME_TCP_PDU_MAX_IOV);
	for (int i = 0; i < pdu->iovcnt; i++) {
		total += pdu->iov[i].iov_len;
	}
	CHECK(total == pdu->plen);
	check_term_req_roundtrip(c->role, pdu, fes, fei, h, hlen);
	free(pdu);

	/* the receiver stays failed */
	CHECK(osp_nvme_tcp_recv_feed(r, "x", 1) == -EPROTO);
	{
		struct iovec iv;

		CHECK(osp_nvme_tcp_recv_next_iov(r, &iv, 1) == -EPROTO);
		CHECK(osp_nvme_tcp_recv_commit(r, 0) == -EPROTO);
	}
}

/* After a pause: apply delayed params. Returns true if anything changed. */
static bool
after_pause(struct osp_nvme_tcp_recv *r, struct fctx *c)
{
	if (c->need_params) {
		c->need_params = false;
		CHECK(osp_nvme_tcp_recv_set_params(r, c->ic_dgst & 1, c->ic_dgst & 2, c->pda) == 0);
		return true;
	}
	return false;
}

static void
run_feed(struct osp_nvme_tcp_recv *r, struct fctx *c, const uint8_t *p, size_t len)
{
	size_t off = 0;
	int stalls = 0;
	ssize_t rc;

	while (off < len) {
		size_t chunk = len - off;

		if (c->mode & 0x02) {
			uint32_t x = rnd(c);

			chunk = 1 + (x % 4 == 0 ? x % 8 : x % 300);
			if (chunk > len - off) {
				chunk = len - off;
			}
		}
		rc = osp_nvme_tcp_recv_feed(r, p + off, chunk);
		if (rc < 0) {
			handle_error(r, c, rc);
			return;
		}
		CHECK((size_t)rc <= chunk);
		off += rc;
		if ((size_t)rc < chunk) {
			after_pause(r, c);
			stalls = rc == 0 ? stalls + 1 : 0;
			CHECK(stalls < 64);
		} else {
			stalls = 0;
		}
	}
	/* resume anything paused with no more bytes */
	for (int i = 0; i < 8; i++) {
		after_pause(r, c);
		rc = osp_nvme_tcp_recv_feed(r, NULL, 0);
		if (rc < 0) {
			handle_error(r, c, rc);
			return;
		}
		CHECK(rc == 0);
	}
}

static void
run_zcopy(struct osp_nvme_tcp_recv *r, struct fctx *c, const uint8_t *p, size_t len)
{
	size_t off = 0;
	int stalls = 0;

	while (off < len) {
		struct iovec iov[4];
		int max = 1 + rnd(c) % 4;
		int cnt = osp_nvme_tcp_recv_next_iov(r, iov, max);
		size_t want, n = 0;
		int rc;

		if (cnt < 0) {
			handle_error(r, c, cnt);
			return;
		}
		CHECK(cnt <= max);
		if (cnt == 0) {
			after_pause(r, c);
			CHECK(++stalls < 64);
			continue;
		}
		stalls = 0;
		want = len - off;
		if (c->mode & 0x02) {
			size_t lim = 1 + rnd(c) % 300; /* OSP_MIN evaluates twice */

			want = OSP_MIN(want, lim);
		}
		for (int i = 0; i < cnt && n < want; i++) {
			size_t k = OSP_MIN(want - n, iov[i].iov_len);

			CHECK(iov[i].iov_len > 0 && iov[i].iov_base != NULL);
			memcpy(iov[i].iov_base, p + off + n, k); /* ASan checks the target */
			n += k;
		}
		/* more than any region holds is refused, and changes nothing */
		if (rnd(c) % 16 == 0) {
			CHECK(osp_nvme_tcp_recv_commit(r, (size_t)UINT32_MAX + 1) == -EINVAL);
		}
		rc = osp_nvme_tcp_recv_commit(r, n);
		off += n;
		if (rc < 0) {
			handle_error(r, c, rc);
			return;
		}
		CHECK(rc == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct osp_nvme_tcp_recv *r;
	struct osp_nvme_tcp_recv_opts o;
	struct fctx c;

	if (size < 2) {
		return 0;
	}
	memset(&c, 0, sizeof(c));
	c.mode = data[0];
	c.role = (c.mode & 0x01) ? OSP_NVME_TCP_ROLE_HOST : OSP_NVME_TCP_ROLE_TARGET;
	c.rng = 0x9e3779b9u ^ ((uint32_t)data[1] * 0x01000193u) ^ (uint32_t)size;
	if (c.rng == 0) {
		c.rng = 1;
	}
	c.pda = (c.mode & 0x10) ? (data[1] & 31) : 0;
	if (c.mode & 0x20) {
		c.max_icd = 1024;
		c.maxh2cdata = 4096;
		c.max_c2h = 4096;
	} else {
		c.max_icd = 8192;
		c.maxh2cdata = 65536;
		c.max_c2h = 65536;
	}

	memset(&o, 0, sizeof(o));
	o.role = c.role;
	o.max_icd = c.max_icd;
	o.maxh2cdata = c.maxh2cdata;
	o.max_c2h_data = c.max_c2h;
	o.hdr_fn = hdr_cb;
	o.done_fn = done_cb;
	o.cb_arg = &c;

	/* heap-allocated so ASan sees its exact bounds */
	r = malloc(sizeof(*r));
	CHECK(r != NULL);
	CHECK(osp_nvme_tcp_recv_init(r, &o) == 0);
	/* not waiting for params yet */
	CHECK(osp_nvme_tcp_recv_set_params(r, false, false, 0) == -EINVAL);
	CHECK(osp_nvme_tcp_recv_error(r, NULL, NULL, NULL, NULL) == -ENOENT);

	if (c.mode & 0x04) {
		run_zcopy(r, &c, data + 2, size - 2);
	} else {
		run_feed(r, &c, data + 2, size - 2);
	}

	free_bufs(&c);
	free(r);
	return 0;
}
