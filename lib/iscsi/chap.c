/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The target's side of the iSCSI security stage: AuthMethod (RFC 7143
 * 12.1) against the target's policy, and CHAP with MD5 (RFC 7143 12.1.3,
 * RFC 1994), one-way or mutual.
 *
 * Every failure is ISCSI_LOGIN_STATUS_AUTH_FAILED with the reason in err for
 * the target's log only: the initiator learns that authentication failed,
 * never which part (user, response, its own challenge) was wrong.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "osprey/util.h"
#include "iscsi_param.h"

enum chap_state {
	CHAP_ST_NONE = 0,	/* no AuthMethod negotiated yet */
	CHAP_ST_NO_AUTH,	/* AuthMethod=None chosen */
	CHAP_ST_WAIT_A,		/* AuthMethod=CHAP chosen, CHAP_A expected */
	CHAP_ST_WAIT_NR,	/* challenge sent, CHAP_N/CHAP_R expected */
	CHAP_ST_DONE,		/* the initiator (and, mutual, we) authenticated */
	CHAP_ST_FAILED,		/* terminal: nothing authenticates this login any more */
};

#define CHAP_MD5		5	/* RFC 1994 / IANA PPP: CHAP with MD5 */
#define CHAP_DIGEST_LEN		OSP_MD5_DIGEST_LEN
#define CHAP_CHALLENGE_LEN	16	/* ours: as long as the digest */
/*
 * The initiator's challenge (mutual CHAP): RFC 7143 12.1.3 caps binary
 * values at 1024 bytes; shorter than 16 would let anyone posing as an
 * initiator collect our answers to trivially small challenges.
 */
#define CHAP_PEER_CHALLENGE_MIN	16
#define CHAP_PEER_CHALLENGE_MAX	1024

static uint16_t
chap_fail(struct iscsi_nego *n, char *err, size_t errlen, const char *reason)
{
	osp_seterr(err, errlen, "CHAP: %s", reason);
	/* A failed exchange cannot be resumed; wipe what it held. */
	explicit_bzero(n->chap_challenge, sizeof(n->chap_challenge));
	n->chap_challenge_len = 0;
	n->authenticated = false;
	n->chap_state = CHAP_ST_FAILED;
	return ISCSI_LOGIN_STATUS_AUTH_FAILED;
}

static int
chap_hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

static int
chap_b64val(char c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	if (c == '+') {
		return 62;
	}
	if (c == '/') {
		return 63;
	}
	return -1;
}

int
iscsi_chap_decode_binary(const char *s, uint8_t *out, size_t outcap)
{
	size_t len = strlen(s), n = 0, i;

	if (len < 3 || s[0] != '0') {
		return -EINVAL;
	}
	if (s[1] == 'x' || s[1] == 'X') {
		const char *h = s + 2;
		size_t hl = len - 2;
		bool odd = hl % 2 == 1;

		if ((hl + 1) / 2 > outcap) {
			return -E2BIG;
		}
		for (i = 0; i < hl; i++) {
			if (chap_hexval(h[i]) < 0) {
				return -EINVAL;
			}
		}
		i = 0;
		if (odd) {
			out[n++] = (uint8_t)chap_hexval(h[0]);
			i = 1;
		}
		for (; i < hl; i += 2) {
			out[n++] = (uint8_t)(chap_hexval(h[i]) << 4 | chap_hexval(h[i + 1]));
		}
		return (int)n;
	}
	if (s[1] == 'b' || s[1] == 'B') {
		const char *b = s + 2;
		size_t bl = len - 2, pad = 0;
		uint32_t acc = 0;
		unsigned int bits = 0;

		/* '=' padding is optional, but only at the end and at most two. */
		while (bl > 0 && b[bl - 1] == '=' && pad < 2) {
			bl--;
			pad++;
		}
		if (bl == 0 || bl % 4 == 1 || (pad != 0 && (bl + pad) % 4 != 0)) {
			return -EINVAL;
		}
		for (i = 0; i < bl; i++) {
			int v = chap_b64val(b[i]);

			if (v < 0) {
				return -EINVAL;
			}
			acc = acc << 6 | (uint32_t)v;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				if (n == outcap) {
					return -E2BIG;
				}
				out[n++] = (uint8_t)(acc >> bits);
			}
		}
		/* The leftover bits of the last character must be zero (canonical form). */
		if ((acc & ((1u << bits) - 1)) != 0) {
			return -EINVAL;
		}
		return (int)n;
	}
	return -EINVAL;
}

static void
chap_encode_hex(const uint8_t *p, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	out[0] = '0';
	out[1] = 'x';
	for (i = 0; i < len; i++) {
		out[2 + 2 * i] = hex[p[i] >> 4];
		out[3 + 2 * i] = hex[p[i] & 0xf];
	}
	out[2 + 2 * len] = '\0';
}

/* RFC 1994 4.1: Response = MD5(Identifier || secret || Challenge). */
static void
chap_response(uint8_t id, const char *secret, const uint8_t *chal, size_t chal_len,
	      uint8_t digest[CHAP_DIGEST_LEN])
{
	struct osp_md5_ctx ctx;

	osp_md5_init(&ctx);
	osp_md5_update(&ctx, &id, 1);
	osp_md5_update(&ctx, secret, strlen(secret));
	osp_md5_update(&ctx, chal, chal_len);
	osp_md5_final(&ctx, digest);
}

/* Comparison whose time does not depend on where the bytes differ. */
static bool
chap_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	uint8_t d = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		d |= a[i] ^ b[i];
	}
	return d == 0;
}

static int
chap_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t r = getrandom(p, len, 0);

		if (r < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static bool
chap_policy_requires(const struct iscsi_auth_policy *p)
{
	return p->require_chap || p->mutual_chap;
}

/* AuthMethod: the first of the initiator's list the policy allows (RFC 7143 6.2.1). */
static uint16_t
chap_auth_method(struct iscsi_nego *n, const char *list, struct iscsi_textbuf *rsp, char *err,
		 size_t errlen)
{
	const struct iscsi_auth_policy *p = &n->auth;
	/*
	 * Without secrets (no lookup) CHAP is not something we can do unless
	 * the policy insists (and then fails): an initiator offering
	 * "CHAP,None" gets None, as from a target with no CHAP configured.
	 */
	bool chap_ok = !p->disable_chap && (p->lookup != NULL || chap_policy_requires(p));
	bool none_ok = !chap_policy_requires(p);
	const char *pos = list, *chosen = NULL;
	char reason[128];

	if (n->chap_state != CHAP_ST_NONE) {
		return chap_fail(n, err, errlen, "AuthMethod negotiated twice");
	}
	if (p->disable_chap && chap_policy_requires(p)) {
		return chap_fail(n, err, errlen, "the auth policy both disables and requires CHAP");
	}
	while (chosen == NULL) {
		const char *comma = strchr(pos, ',');
		size_t len = comma != NULL ? (size_t)(comma - pos) : strlen(pos);

		if (chap_ok && len == 4 && memcmp(pos, "CHAP", 4) == 0) {
			chosen = "CHAP";
		} else if (none_ok && len == 4 && memcmp(pos, "None", 4) == 0) {
			chosen = "None";
		}
		if (comma == NULL) {
			break;
		}
		pos = comma + 1;
	}
	if (chosen == NULL) {
		char shown[41];

		snprintf(reason, sizeof(reason), "no acceptable AuthMethod in \"%s\" (policy: %s)",
			 iscsi_param_printable(list, shown, sizeof(shown)),
			 chap_policy_requires(p) ? "CHAP required" :
			 p->disable_chap ? "None only" : "CHAP or None");
		return chap_fail(n, err, errlen, reason);
	}
	if (iscsi_textbuf_add(rsp, "AuthMethod", chosen) != 0) {
		osp_seterr(err, errlen, "response text full at AuthMethod");
		return ISCSI_LOGIN_STATUS_OUT_OF_RESOURCES;
	}
	if (strcmp(chosen, "None") == 0) {
		n->chap_state = CHAP_ST_NO_AUTH;
		n->authenticated = true;
	} else {
		n->chap_state = CHAP_ST_WAIT_A;
		n->authenticated = false;
	}
	return ISCSI_LOGIN_STATUS_SUCCESS;
}

/* CHAP_A: MD5 (5) is the only algorithm; answer it with our identifier and challenge. */
static uint16_t
chap_algorithm(struct iscsi_nego *n, const char *list, struct iscsi_textbuf *rsp, char *err,
	       size_t errlen)
{
	const char *pos = list;
	bool md5 = false;
	char num[8], chal[2 + 2 * CHAP_CHALLENGE_LEN + 1];

	if (n->chap_state != CHAP_ST_WAIT_A) {
		return chap_fail(n, err, errlen, "CHAP_A outside the CHAP exchange");
	}
	while (true) {
		const char *comma = strchr(pos, ',');
		size_t len = comma != NULL ? (size_t)(comma - pos) : strlen(pos);
		char one[24];
		uint64_t v;

		if (len > 0 && len < sizeof(one)) {
			memcpy(one, pos, len);
			one[len] = '\0';
			if (iscsi_param_parse_number(one, &v) == 0 && v == CHAP_MD5) {
				md5 = true;
				break;
			}
		}
		if (comma == NULL) {
			break;
		}
		pos = comma + 1;
	}
	if (!md5) {
		return chap_fail(n, err, errlen, "CHAP_A does not offer MD5 (5)");
	}
	if (chap_random(&n->chap_id, 1) != 0 ||
	    chap_random(n->chap_challenge, CHAP_CHALLENGE_LEN) != 0) {
		chap_fail(n, err, errlen, "no random bytes for the challenge (getrandom)");
		return ISCSI_LOGIN_STATUS_TARGET_ERROR;
	}
	n->chap_challenge_len = CHAP_CHALLENGE_LEN;
	snprintf(num, sizeof(num), "%u", n->chap_id);
	chap_encode_hex(n->chap_challenge, CHAP_CHALLENGE_LEN, chal);
	if (iscsi_textbuf_add(rsp, "CHAP_A", "5") != 0 ||
	    iscsi_textbuf_add(rsp, "CHAP_I", num) != 0 ||
	    iscsi_textbuf_add(rsp, "CHAP_C", chal) != 0) {
		osp_seterr(err, errlen, "response text full at CHAP_A");
		return ISCSI_LOGIN_STATUS_OUT_OF_RESOURCES;
	}
	n->chap_state = CHAP_ST_WAIT_NR;
	return ISCSI_LOGIN_STATUS_SUCCESS;
}

/*
 * CHAP_N/CHAP_R: the initiator's name and response to our challenge; with
 * CHAP_I/CHAP_C (mutual CHAP) it challenges us back and we answer with the
 * target's name and response.
 */
static uint16_t
chap_verify(struct iscsi_nego *n, const struct iscsi_text *req, struct iscsi_textbuf *rsp,
	    char *err, size_t errlen)
{
	const char *cn = iscsi_text_get(req, "CHAP_N"), *cr = iscsi_text_get(req, "CHAP_R");
	const char *ci = iscsi_text_get(req, "CHAP_I"), *cc = iscsi_text_get(req, "CHAP_C");
	struct iscsi_chap_secret sec;
	uint8_t resp[CHAP_DIGEST_LEN], expect[CHAP_DIGEST_LEN];
	uint8_t peer_chal[CHAP_PEER_CHALLENGE_MAX];
	char hex[2 + 2 * CHAP_DIGEST_LEN + 1];
	uint64_t peer_id = 0;
	int rlen, clen = 0;
	uint16_t st = ISCSI_LOGIN_STATUS_SUCCESS;

	if (n->chap_state != CHAP_ST_WAIT_NR) {
		return chap_fail(n, err, errlen, "CHAP_N/CHAP_R/CHAP_I/CHAP_C out of order");
	}
	if (cn == NULL || cr == NULL) {
		return chap_fail(n, err, errlen, "CHAP_N or CHAP_R missing");
	}
	/* The user name is logged and looked up: UTF-8 without control characters. */
	if (cn[0] == '\0' || !iscsi_param_text_ok(cn, true)) {
		return chap_fail(n, err, errlen, "CHAP_N empty or not printable UTF-8");
	}
	if ((ci == NULL) != (cc == NULL)) {
		return chap_fail(n, err, errlen, "CHAP_I without CHAP_C or the reverse");
	}
	if (ci == NULL && n->auth.mutual_chap) {
		return chap_fail(n, err, errlen, "mutual CHAP required but the initiator did not ask for it");
	}
	if (n->auth.lookup == NULL) {
		return chap_fail(n, err, errlen, "no secrets configured");
	}
	rlen = iscsi_chap_decode_binary(cr, resp, sizeof(resp));
	if (rlen != CHAP_DIGEST_LEN) {
		return chap_fail(n, err, errlen, "CHAP_R is not a 16-byte hex or base64 value");
	}
	if (ci != NULL) {
		if (iscsi_param_parse_number(ci, &peer_id) != 0 || peer_id > 255) {
			return chap_fail(n, err, errlen, "CHAP_I is not a number from 0 to 255");
		}
		clen = iscsi_chap_decode_binary(cc, peer_chal, sizeof(peer_chal));
		if (clen < CHAP_PEER_CHALLENGE_MIN) {
			return chap_fail(n, err, errlen,
					 "CHAP_C malformed, shorter than 16 or longer than 1024 bytes");
		}
		/* RFC 7143 12.1.3: our own challenge sent back is a reflection attack. */
		if ((uint32_t)clen == n->chap_challenge_len &&
		    memcmp(peer_chal, n->chap_challenge, (size_t)clen) == 0) {
			return chap_fail(n, err, errlen, "the initiator's CHAP_C reflects ours");
		}
	}
	memset(&sec, 0, sizeof(sec));
	if (n->auth.lookup(n->auth.lookup_ctx, cn, &sec) != 0 || sec.secret[0] == '\0') {
		/* The same work as a wrong secret: the timing says nothing about users. */
		chap_response(n->chap_id, "-", n->chap_challenge, n->chap_challenge_len, expect);
		(void)chap_equal(resp, expect, CHAP_DIGEST_LEN);
		explicit_bzero(&sec, sizeof(sec));
		return chap_fail(n, err, errlen, "unknown CHAP user (or no secret for it)");
	}
	/* Terminate whatever the lookup wrote: the fields are fixed-size. */
	sec.secret[sizeof(sec.secret) - 1] = '\0';
	sec.msecret[sizeof(sec.msecret) - 1] = '\0';
	sec.muser[sizeof(sec.muser) - 1] = '\0';
	chap_response(n->chap_id, sec.secret, n->chap_challenge, n->chap_challenge_len, expect);
	if (!chap_equal(resp, expect, CHAP_DIGEST_LEN)) {
		st = chap_fail(n, err, errlen, "CHAP_R does not match the secret of the user");
		goto out;
	}
	if (ci != NULL) {
		if (sec.muser[0] == '\0' || sec.msecret[0] == '\0') {
			st = chap_fail(n, err, errlen,
				       "mutual CHAP asked but the user has no target name/secret");
			goto out;
		}
		/*
		 * One secret for both directions lets anyone who can talk to the
		 * initiator as a target learn the answers it needs here (RFC 7143
		 * 12.1.3: a secret authenticates initiators or targets, not both).
		 */
		if (strcmp(sec.secret, sec.msecret) == 0) {
			st = chap_fail(n, err, errlen,
				       "mutual CHAP refused: the user's secret and the target's "
				       "secret are the same (RFC 7143 12.1.3)");
			goto out;
		}
		chap_response((uint8_t)peer_id, sec.msecret, peer_chal, (size_t)clen, expect);
		chap_encode_hex(expect, CHAP_DIGEST_LEN, hex);
		if (iscsi_textbuf_add(rsp, "CHAP_N", sec.muser) != 0 ||
		    iscsi_textbuf_add(rsp, "CHAP_R", hex) != 0) {
			osp_seterr(err, errlen, "response text full at CHAP_N");
			st = ISCSI_LOGIN_STATUS_OUT_OF_RESOURCES;
			goto out;
		}
	}
	snprintf(n->chap_user, sizeof(n->chap_user), "%s", cn);
	n->chap_state = CHAP_ST_DONE;
	n->authenticated = true;
	explicit_bzero(n->chap_challenge, sizeof(n->chap_challenge));
	n->chap_challenge_len = 0;
out:
	explicit_bzero(&sec, sizeof(sec));
	explicit_bzero(expect, sizeof(expect));
	return st;
}

uint16_t
iscsi_chap_process(struct iscsi_nego *n, const struct iscsi_text *req, struct iscsi_textbuf *rsp,
		   char *err, size_t errlen)
{
	const char *am = iscsi_text_get(req, "AuthMethod");
	const char *ca = iscsi_text_get(req, "CHAP_A");
	bool nr = iscsi_text_get(req, "CHAP_N") != NULL || iscsi_text_get(req, "CHAP_R") != NULL ||
		  iscsi_text_get(req, "CHAP_I") != NULL || iscsi_text_get(req, "CHAP_C") != NULL;
	uint32_t i;
	uint16_t st;

	if (n->chap_state == CHAP_ST_FAILED) {
		return chap_fail(n, err, errlen, "login already failed authentication");
	}
	for (i = 0; i < req->npairs; i++) {
		const char *k = req->kv[i].key;

		if (iscsi_param_is_security_key(k) && strncmp(k, "CHAP_", 5) != 0 &&
		    strcmp(k, "AuthMethod") != 0) {
			/* SRP/Kerberos/SPKM keys: we never choose those methods. */
			return chap_fail(n, err, errlen, "key of an authentication method not chosen");
		}
	}
	if (n->chap_state == CHAP_ST_DONE && (am != NULL || ca != NULL || nr)) {
		return chap_fail(n, err, errlen, "security key after CHAP completed");
	}
	/*
	 * In the order of the exchange; an initiator sending the next step in
	 * the same request as the previous one is served (harmless).
	 */
	if (am != NULL) {
		st = chap_auth_method(n, am, rsp, err, errlen);
		if (st != ISCSI_LOGIN_STATUS_SUCCESS) {
			return st;
		}
	}
	if (ca != NULL) {
		st = chap_algorithm(n, ca, rsp, err, errlen);
		if (st != ISCSI_LOGIN_STATUS_SUCCESS) {
			return st;
		}
	}
	if (nr) {
		st = chap_verify(n, req, rsp, err, errlen);
		if (st != ISCSI_LOGIN_STATUS_SUCCESS) {
			return st;
		}
	}
	if (n->chap_state == CHAP_ST_NONE && !chap_policy_requires(&n->auth)) {
		/* No AuthMethod yet and none required: the stage may end (RFC 7143 6.3). */
		n->authenticated = true;
	}
	return ISCSI_LOGIN_STATUS_SUCCESS;
}

uint16_t
iscsi_chap_check_done(struct iscsi_nego *n, char *err, size_t errlen)
{
	switch (n->chap_state) {
	case CHAP_ST_WAIT_A:
	case CHAP_ST_WAIT_NR:
		return chap_fail(n, err, errlen, "security stage left before CHAP completed");
	case CHAP_ST_FAILED:
		return chap_fail(n, err, errlen, "login already failed authentication");
	case CHAP_ST_DONE:
	case CHAP_ST_NO_AUTH:
		if (n->authenticated) {
			return ISCSI_LOGIN_STATUS_SUCCESS;
		}
		break;
	default:
		break;
	}
	if (chap_policy_requires(&n->auth)) {
		return chap_fail(n, err, errlen, "CHAP required but the security stage was skipped");
	}
	n->authenticated = true;
	return ISCSI_LOGIN_STATUS_SUCCESS;
}
