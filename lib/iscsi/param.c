/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSCSI text keys (RFC 7143 6 and 13): splitting a Login/Text data segment
 * into pairs, building answers, and the target's side of the operational
 * negotiation. The security keys (AuthMethod, CHAP_*) are chap.c's.
 *
 * Everything here reads bytes from the network: every length is bounded,
 * every value checked against its key's domain before it is used.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "osprey/util.h"
#include "iscsi_param.h"

/* Private negotiation flags (struct iscsi_nego.flags). */
#define NEGO_F_MRDSL_DECLARED	(1u << 0)	/* our MaxRecvDataSegmentLength sent */
#define NEGO_F_OFFERS_DONE	(1u << 1)	/* target offers appended (op stage) */
#define NEGO_F_MRDSL_SEEN	(1u << 2)	/* the initiator declared its MRDSL */
#define NEGO_F_IN_SECURITY	(1u << 3)	/* the last request was a security-stage one */

/* RFC 7143 13: domains. */
#define ISCSI_DSL_MIN		512u
#define ISCSI_DSL_MAX		16777215u	/* 2^24 - 1 */
#define ISCSI_NAME_MAX		223u		/* RFC 7143 4.2.7.1 */
#define ISCSI_PROTOCOL_LEVEL	1u		/* RFC 7143 13.24: this RFC's level */

enum param_kind {
	PK_LIST,	/* first value of the offer's list we support */
	PK_MIN,		/* numerical, result is the smaller */
	PK_MAX,		/* numerical, result is the larger */
	PK_OR,		/* boolean OR */
	PK_AND,		/* boolean AND */
	PK_DECL,	/* declarative: no answer */
	PK_SPECIAL,	/* handled by name */
};

enum param_use {
	PU_LO,		/* leading connection's login only */
	PU_IO,		/* any connection's login only */
	PU_ALL,		/* login and full feature phase */
	PU_FFPO,	/* full feature phase only */
	PU_TARGET,	/* only the target sends it */
	PU_SECURITY,	/* security stage only (chap.c) */
};

enum param_id {
	P_HEADER_DIGEST, P_DATA_DIGEST, P_MAX_CONNECTIONS, P_SEND_TARGETS, P_TARGET_NAME,
	P_INITIATOR_NAME, P_TARGET_ALIAS, P_INITIATOR_ALIAS, P_TARGET_ADDRESS, P_TPGT,
	P_INITIAL_R2T, P_IMMEDIATE_DATA, P_MAX_RECV_DSL, P_MAX_BURST, P_FIRST_BURST,
	P_TIME2WAIT, P_TIME2RETAIN, P_MAX_OUTSTANDING_R2T, P_DATA_PDU_IN_ORDER,
	P_DATA_SEQ_IN_ORDER, P_ERL, P_SESSION_TYPE, P_TASK_REPORTING, P_PROTOCOL_LEVEL,
	P_IFMARKER, P_OFMARKER, P_IFMARKINT, P_OFMARKINT,
	P_AUTH_METHOD, P_CHAP_A, P_CHAP_I, P_CHAP_C, P_CHAP_N, P_CHAP_R,
	P_COUNT
};
OSP_STATIC_ASSERT(P_COUNT <= 64, "keys_seen[0] holds one bit per key");

struct param_def {
	const char *name;
	uint8_t kind;
	uint8_t use;
	bool discovery_irrelevant;	/* "Irrelevant when: SessionType=Discovery" */
	uint32_t min, max;		/* numerical domain */
};

static const struct param_def g_params[P_COUNT] = {
	[P_HEADER_DIGEST] = { "HeaderDigest", PK_LIST, PU_IO, false, 0, 0 },
	[P_DATA_DIGEST] = { "DataDigest", PK_LIST, PU_IO, false, 0, 0 },
	[P_MAX_CONNECTIONS] = { "MaxConnections", PK_MIN, PU_LO, true, 1, 65535 },
	[P_SEND_TARGETS] = { "SendTargets", PK_SPECIAL, PU_FFPO, false, 0, 0 },
	[P_TARGET_NAME] = { "TargetName", PK_DECL, PU_IO, false, 0, 0 },
	[P_INITIATOR_NAME] = { "InitiatorName", PK_DECL, PU_IO, false, 0, 0 },
	[P_TARGET_ALIAS] = { "TargetAlias", PK_DECL, PU_TARGET, false, 0, 0 },
	[P_INITIATOR_ALIAS] = { "InitiatorAlias", PK_DECL, PU_ALL, false, 0, 0 },
	[P_TARGET_ADDRESS] = { "TargetAddress", PK_DECL, PU_TARGET, false, 0, 0 },
	[P_TPGT] = { "TargetPortalGroupTag", PK_DECL, PU_TARGET, false, 0, 0 },
	[P_INITIAL_R2T] = { "InitialR2T", PK_OR, PU_LO, true, 0, 0 },
	[P_IMMEDIATE_DATA] = { "ImmediateData", PK_AND, PU_LO, true, 0, 0 },
	[P_MAX_RECV_DSL] = { "MaxRecvDataSegmentLength", PK_DECL, PU_ALL, false,
			     ISCSI_DSL_MIN, ISCSI_DSL_MAX },
	[P_MAX_BURST] = { "MaxBurstLength", PK_MIN, PU_LO, true, ISCSI_DSL_MIN, ISCSI_DSL_MAX },
	[P_FIRST_BURST] = { "FirstBurstLength", PK_MIN, PU_LO, true, ISCSI_DSL_MIN, ISCSI_DSL_MAX },
	[P_TIME2WAIT] = { "DefaultTime2Wait", PK_MAX, PU_LO, false, 0, 3600 },
	[P_TIME2RETAIN] = { "DefaultTime2Retain", PK_MIN, PU_LO, false, 0, 3600 },
	[P_MAX_OUTSTANDING_R2T] = { "MaxOutstandingR2T", PK_MIN, PU_LO, true, 1, 65535 },
	[P_DATA_PDU_IN_ORDER] = { "DataPDUInOrder", PK_OR, PU_LO, true, 0, 0 },
	[P_DATA_SEQ_IN_ORDER] = { "DataSequenceInOrder", PK_OR, PU_LO, true, 0, 0 },
	[P_ERL] = { "ErrorRecoveryLevel", PK_MIN, PU_LO, false, 0, 2 },
	[P_SESSION_TYPE] = { "SessionType", PK_DECL, PU_LO, false, 0, 0 },
	[P_TASK_REPORTING] = { "TaskReporting", PK_LIST, PU_LO, true, 0, 0 },
	[P_PROTOCOL_LEVEL] = { "iSCSIProtocolLevel", PK_MIN, PU_LO, false, 0, 31 },
	[P_IFMARKER] = { "IFMarker", PK_SPECIAL, PU_IO, false, 0, 0 },
	[P_OFMARKER] = { "OFMarker", PK_SPECIAL, PU_IO, false, 0, 0 },
	[P_IFMARKINT] = { "IFMarkInt", PK_SPECIAL, PU_IO, false, 0, 0 },
	[P_OFMARKINT] = { "OFMarkInt", PK_SPECIAL, PU_IO, false, 0, 0 },
	[P_AUTH_METHOD] = { "AuthMethod", PK_SPECIAL, PU_SECURITY, false, 0, 0 },
	[P_CHAP_A] = { "CHAP_A", PK_SPECIAL, PU_SECURITY, false, 0, 0 },
	[P_CHAP_I] = { "CHAP_I", PK_SPECIAL, PU_SECURITY, false, 0, 0 },
	[P_CHAP_C] = { "CHAP_C", PK_SPECIAL, PU_SECURITY, false, 0, 0 },
	[P_CHAP_N] = { "CHAP_N", PK_SPECIAL, PU_SECURITY, false, 0, 0 },
	[P_CHAP_R] = { "CHAP_R", PK_SPECIAL, PU_SECURITY, false, 0, 0 },
};

static int
param_lookup(const char *key)
{
	int i;

	for (i = 0; i < P_COUNT; i++) {
		if (strcmp(g_params[i].name, key) == 0) {
			return i;
		}
	}
	return -1;
}

bool
iscsi_param_is_security_key(const char *key)
{
	int id = param_lookup(key);

	if (id >= 0) {
		return g_params[id].use == PU_SECURITY;
	}
	/*
	 * The other authentication methods' keys (RFC 7143 12.1: SRP_*, KRB_*,
	 * SPKM_*): security-stage keys we do not implement.
	 */
	return strncmp(key, "SRP_", 4) == 0 || strncmp(key, "KRB_", 4) == 0 ||
	       strncmp(key, "SPKM_", 5) == 0 || strncmp(key, "TargetAuth", 10) == 0;
}

/* ---- text parsing ---- */

bool
iscsi_param_text_ok(const char *str, bool allow_space)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s != '\0') {
		uint32_t cp;
		int n, i;

		if (*s < 0x80) {
			if (*s < 0x20 || *s == 0x7f || (*s == ' ' && !allow_space)) {
				return false;
			}
			s++;
			continue;
		}
		if ((*s & 0xe0) == 0xc0) {
			n = 1;
			cp = *s & 0x1f;
		} else if ((*s & 0xf0) == 0xe0) {
			n = 2;
			cp = *s & 0x0f;
		} else if ((*s & 0xf8) == 0xf0) {
			n = 3;
			cp = *s & 0x07;
		} else {
			return false;
		}
		for (i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80) {
				return false;	/* also stops at the NUL */
			}
			cp = cp << 6 | (s[i] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond Unicode, C1 controls. */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || (cp >= 0x80 && cp < 0xa0)) {
			return false;
		}
		s += n + 1;
	}
	return true;
}

/*
 * A peer's string made safe for a log line: bytes outside printable ASCII
 * become '?', at most outlen - 1 of them.
 */
const char *
iscsi_param_printable(const char *in, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; i + 1 < outlen && in[i] != '\0'; i++) {
		out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
	}
	if (outlen > 0) {
		out[i] = '\0';
	}
	return out;
}

/*
 * RFC 7143 6.1: a key is a standard-label (letters, digits, '.', '-', '+',
 * '@', '_') or an extension "X-..." / "X#..."; '#' is the only extra byte
 * extensions bring.
 */
static bool
text_key_ok(const char *k, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = k[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '-' || c == '+' || c == '@' || c == '_' || c == '#') {
			continue;
		}
		return false;
	}
	return true;
}

/* Values that may exceed 255 bytes (RFC 7143 12.1.3: CHAP binary values). */
static size_t
text_val_max(const char *key)
{
	if (strcmp(key, "CHAP_C") == 0 || strcmp(key, "CHAP_R") == 0) {
		return ISCSI_TEXT_MAX_VAL_LEN;
	}
	return 255;
}

uint16_t
iscsi_text_parse(struct iscsi_text *t, const void *data, size_t len, char *err, size_t errlen)
{
	size_t pos = 0;

	t->npairs = 0;
	t->buf[0] = '\0';
	if (len > ISCSI_TEXT_MAX_LEN) {
		osp_seterr(err, errlen, "text of %zu bytes exceeds the %u-byte limit", len,
			   ISCSI_TEXT_MAX_LEN);
		return ISCSI_LOGIN_STATUS_INITIATOR_ERROR;
	}
	if (len != 0) {
		memcpy(t->buf, data, len);
	}
	/* The last pair's NUL is optional: buf[len] ends it either way. */
	t->buf[len] = '\0';
	while (pos < len) {
		char *s = t->buf + pos;
		size_t slen = strlen(s);
		char *eq;
		size_t klen, vlen;
		uint32_t i;

		pos += slen + 1;
		if (slen == 0) {
			/* A stray NUL (padding counted in the length): nothing to parse. */
			continue;
		}
		eq = memchr(s, '=', slen);
		if (eq == NULL) {
			char shown[41];

			osp_seterr(err, errlen, "text pair without '=' (%s)",
				   iscsi_param_printable(s, shown, sizeof(shown)));
			return ISCSI_LOGIN_STATUS_INITIATOR_ERROR;
		}
		klen = (size_t)(eq - s);
		vlen = slen - klen - 1;
		if (klen == 0) {
			osp_seterr(err, errlen, "text pair with an empty key");
			return ISCSI_LOGIN_STATUS_INITIATOR_ERROR;
		}
		if (klen > ISCSI_TEXT_MAX_KEY_LEN) {
			osp_seterr(err, errlen, "key of %zu bytes exceeds %u", klen,
				   ISCSI_TEXT_MAX_KEY_LEN);
			return ISCSI_LOGIN_STATUS_INITIATOR_ERROR;
		}
		if (!text_key_ok(s, klen)) {
			osp_seterr(err, errlen, "key with a character outside RFC 7143 6.1's set");
			return ISCSI_LOGIN_STATUS_INITIATOR_ERROR;
		}
		*eq = '\0';
		if (vlen > text_val_max(s)) {
			osp_seterr(err, errlen, "value of %s is %zu bytes (limit %zu)", s, vlen,
				   text_val_max(s));
			return ISCSI_LOGIN_STATUS_INITIATOR_ERROR;
		}
		for (i = 0; i < t->npairs; i++) {
			if (strcmp(t->kv[i].key, s) == 0) {
				osp_seterr(err, errlen, "key %s sent twice in one request", s);
				return ISCSI_LOGIN_STATUS_INITIATOR_ERROR;
			}
		}
		if (t->npairs == ISCSI_TEXT_MAX_PAIRS) {
			osp_seterr(err, errlen, "more than %u keys in one request",
				   ISCSI_TEXT_MAX_PAIRS);
			return ISCSI_LOGIN_STATUS_INITIATOR_ERROR;
		}
		t->kv[t->npairs].key = s;
		t->kv[t->npairs].val = eq + 1;
		t->npairs++;
	}
	return ISCSI_LOGIN_STATUS_SUCCESS;
}

const char *
iscsi_text_get(const struct iscsi_text *t, const char *key)
{
	uint32_t i;

	for (i = 0; i < t->npairs; i++) {
		if (strcmp(t->kv[i].key, key) == 0) {
			return t->kv[i].val;
		}
	}
	return NULL;
}

int
iscsi_textbuf_add(struct iscsi_textbuf *tb, const char *key, const char *val)
{
	size_t klen = strlen(key), vlen = strlen(val);
	size_t need = klen + 1 + vlen + 1;

	if (tb->buf == NULL || tb->len > tb->cap || need > tb->cap - tb->len) {
		return -ENOSPC;
	}
	memcpy(tb->buf + tb->len, key, klen);
	tb->buf[tb->len + klen] = '=';
	memcpy(tb->buf + tb->len + klen + 1, val, vlen);
	tb->buf[tb->len + need - 1] = '\0';
	tb->len += (uint32_t)need;
	return 0;
}

/* ---- values ---- */

/*
 * RFC 7143 6.1 numerical-value: a decimal-constant or a hex-constant
 * ("0x" + hex digits), unsigned, below 2^64. Leading zeros in decimal are
 * tolerated (harmless). Returns 0 or -EINVAL.
 */
int
iscsi_param_parse_number(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		unsigned int n = 0;

		for (p += 2; *p != '\0'; p++, n++) {
			int d;

			if (*p >= '0' && *p <= '9') {
				d = *p - '0';
			} else if (*p >= 'a' && *p <= 'f') {
				d = *p - 'a' + 10;
			} else if (*p >= 'A' && *p <= 'F') {
				d = *p - 'A' + 10;
			} else {
				return -EINVAL;
			}
			if (v >> 60) {
				return -EINVAL;
			}
			v = v << 4 | (uint64_t)d;
		}
		if (n == 0) {
			return -EINVAL;
		}
		*out = v;
		return 0;
	}
	if (*p == '\0') {
		return -EINVAL;
	}
	for (; *p != '\0'; p++) {
		uint64_t d;

		if (*p < '0' || *p > '9') {
			return -EINVAL;
		}
		d = (uint64_t)(*p - '0');
		if (v > (UINT64_MAX - d) / 10) {
			return -EINVAL;
		}
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int
param_parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "Yes") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(s, "No") == 0) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

/* Answers that carry no value: the key stays at its default (RFC 7143 6.2). */
static bool
param_is_nonvalue(const char *s)
{
	return strcmp(s, "NotUnderstood") == 0 || strcmp(s, "Irrelevant") == 0 ||
	       strcmp(s, "Reject") == 0;
}

/*
 * The first element of the comma-separated list that accept() takes, in the
 * offer's order (RFC 7143 6.2.1), copied into out; false if none.
 */
static bool
param_list_pick(const char *list, bool (*accept)(const char *v, const void *ctx),
		const void *ctx, char *out, size_t outlen)
{
	const char *p = list;

	while (true) {
		const char *comma = strchr(p, ',');
		size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (n > 0 && n < outlen) {
			memcpy(out, p, n);
			out[n] = '\0';
			if (accept(out, ctx)) {
				return true;
			}
		}
		if (comma == NULL) {
			return false;
		}
		p = comma + 1;
	}
}

struct digest_pick {
	const struct iscsi_nego *n;
	bool required;
};

static bool
param_accept_digest(const char *v, const void *ctx)
{
	const struct digest_pick *d = ctx;

	if (strcmp(v, "None") == 0) {
		return !d->required;
	}
	/* A node that requires digests has them whatever the global switch says. */
	return strcmp(v, "CRC32C") == 0 && (d->n->defaults->allow_digests || d->required);
}

static bool
param_accept_task_reporting(const char *v, const void *ctx)
{
	/* ResponseFence and FastAbort are ERL > 0 / TMF refinements we do not offer. */
	return strcmp(v, "RFC3720") == 0;
}

/* ---- negotiation ---- */

void
iscsi_param_defaults_init(struct iscsi_param_defaults *d)
{
	memset(d, 0, sizeof(*d));
	d->max_connections = 2;
	d->initial_r2t = true;
	d->immediate_data = true;
	d->max_burst_length = 262144;
	d->first_burst_length = 65536;
	d->default_time2wait = 2;
	d->default_time2retain = 20;
	d->max_outstanding_r2t = 1;
	d->data_pdu_in_order = true;
	d->data_sequence_in_order = true;
	d->error_recovery_level = 0;
	d->max_recv_data_segment_length = 8192;
	d->allow_digests = true;
}

void
iscsi_nego_init(struct iscsi_nego *n, const struct iscsi_param_defaults *d, bool leading)
{
	memset(n, 0, sizeof(*n));
	n->defaults = d;
	n->leading = leading;
	/* RFC 7143 13: the values in force when a key is not negotiated. */
	n->sess.session_type = ISCSI_SESSION_TYPE_NORMAL;
	n->sess.max_connections = 1;
	n->sess.initial_r2t = true;
	n->sess.immediate_data = true;
	n->sess.max_burst_length = 262144;
	n->sess.first_burst_length = 65536;
	n->sess.default_time2wait = 2;
	n->sess.default_time2retain = 20;
	n->sess.max_outstanding_r2t = 1;
	n->sess.data_pdu_in_order = true;
	n->sess.data_sequence_in_order = true;
	n->sess.error_recovery_level = 0;
	n->conn.header_digest = false;
	n->conn.data_digest = false;
	n->conn.max_recv_dsl = 8192;
	n->conn.max_send_dsl = 8192;
}

static inline bool
nego_seen(const struct iscsi_nego *n, int id)
{
	return (n->keys_seen[0] >> id) & 1;
}

static inline bool
nego_offered(const struct iscsi_nego *n, int id)
{
	return (n->keys_seen[1] >> id) & 1;
}

#define NEGO_ADD(rsp, k, v, err, errlen) \
	do { \
		if (iscsi_textbuf_add((rsp), (k), (v)) != 0) { \
			osp_seterr((err), (errlen), "response text full at key %s", (k)); \
			return ISCSI_LOGIN_STATUS_OUT_OF_RESOURCES; \
		} \
	} while (0)

static uint16_t
nego_add_u32(struct iscsi_textbuf *rsp, const char *key, uint32_t v, char *err, size_t errlen)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%u", v);
	NEGO_ADD(rsp, key, buf, err, errlen);
	return ISCSI_LOGIN_STATUS_SUCCESS;
}

/* The session-wide result field of a numerical or boolean key. */
static uint32_t *
nego_num_field(struct iscsi_nego *n, int id)
{
	switch (id) {
	case P_MAX_CONNECTIONS: return &n->sess.max_connections;
	case P_MAX_BURST: return &n->sess.max_burst_length;
	case P_FIRST_BURST: return &n->sess.first_burst_length;
	case P_TIME2WAIT: return &n->sess.default_time2wait;
	case P_TIME2RETAIN: return &n->sess.default_time2retain;
	case P_MAX_OUTSTANDING_R2T: return &n->sess.max_outstanding_r2t;
	case P_ERL: return &n->sess.error_recovery_level;
	default: return NULL;
	}
}

static bool *
nego_bool_field(struct iscsi_nego *n, int id)
{
	switch (id) {
	case P_INITIAL_R2T: return &n->sess.initial_r2t;
	case P_IMMEDIATE_DATA: return &n->sess.immediate_data;
	case P_DATA_PDU_IN_ORDER: return &n->sess.data_pdu_in_order;
	case P_DATA_SEQ_IN_ORDER: return &n->sess.data_sequence_in_order;
	default: return NULL;
	}
}

/* What the target wants for a numerical key (its configured value). */
static uint32_t
nego_target_num(const struct iscsi_nego *n, int id)
{
	const struct iscsi_param_defaults *d = n->defaults;

	switch (id) {
	case P_MAX_CONNECTIONS: return d->max_connections;
	case P_MAX_BURST: return d->max_burst_length;
	case P_FIRST_BURST: return OSP_MIN(d->first_burst_length, d->max_burst_length);
	case P_TIME2WAIT: return d->default_time2wait;
	case P_TIME2RETAIN: return d->default_time2retain;
	case P_MAX_OUTSTANDING_R2T: return d->max_outstanding_r2t;
	case P_ERL: return d->error_recovery_level;
	case P_PROTOCOL_LEVEL: return ISCSI_PROTOCOL_LEVEL;
	default: return 0;
	}
}

static bool
nego_target_bool(const struct iscsi_nego *n, int id)
{
	const struct iscsi_param_defaults *d = n->defaults;

	switch (id) {
	case P_INITIAL_R2T: return d->initial_r2t;
	case P_IMMEDIATE_DATA: return d->immediate_data;
	case P_DATA_PDU_IN_ORDER: return d->data_pdu_in_order;
	case P_DATA_SEQ_IN_ORDER: return d->data_sequence_in_order;
	default: return false;
	}
}

/* Copy a declared name into a fixed field; false if it does not fit. */
static bool
nego_copy_name(char *dst, size_t dstlen, const char *v)
{
	size_t l = strlen(v);

	if (l >= dstlen) {
		return false;
	}
	memcpy(dst, v, l + 1);
	return true;
}

static uint16_t
nego_declare_mrdsl(struct iscsi_nego *n, struct iscsi_textbuf *rsp, char *err, size_t errlen)
{
	uint32_t ours = n->defaults->max_recv_data_segment_length;
	uint16_t st;

	if (n->flags & NEGO_F_MRDSL_DECLARED) {
		return ISCSI_LOGIN_STATUS_SUCCESS;
	}
	ours = OSP_MAX(ISCSI_DSL_MIN, OSP_MIN(ours, ISCSI_DSL_MAX));
	st = nego_add_u32(rsp, "MaxRecvDataSegmentLength", ours, err, errlen);
	if (st == ISCSI_LOGIN_STATUS_SUCCESS) {
		n->flags |= NEGO_F_MRDSL_DECLARED;
		n->conn.max_recv_dsl = ours;
	}
	return st;
}

/*
 * The initiator's MaxRecvDataSegmentLength (declarative, RFC 7143 13.12):
 * what we may send it. Outside 512..2^24-1 the login fails: below, every PDU
 * we send could overrun it; above, "Reject" would collide with our own
 * declaration of the same key in the answer. In full feature phase (no
 * declaration of ours) it is Reject and the previous value stays.
 */
static uint16_t
nego_initiator_mrdsl(struct iscsi_nego *n, const char *val, struct iscsi_textbuf *rsp,
		     bool in_login, char *err, size_t errlen)
{
	uint64_t v;

	if (iscsi_param_parse_number(val, &v) != 0 || v < ISCSI_DSL_MIN || v > ISCSI_DSL_MAX) {
		if (!in_login) {
			/* Full feature phase: the previous value stays in force. */
			NEGO_ADD(rsp, "MaxRecvDataSegmentLength", "Reject", err, errlen);
			return ISCSI_LOGIN_STATUS_SUCCESS;
		}
		char shown[21];

		osp_seterr(err, errlen, "MaxRecvDataSegmentLength=%s is not a number from 512 to "
			   "2^24-1", iscsi_param_printable(val, shown, sizeof(shown)));
		return ISCSI_LOGIN_STATUS_INITIATOR_ERROR;
	}
	n->conn.max_send_dsl = (uint32_t)v;
	n->flags |= NEGO_F_MRDSL_SEEN;
	return ISCSI_LOGIN_STATUS_SUCCESS;
}

/*
 * The initiator's answer to a key the target offered (RFC 7143 6.2): it must
 * obey the key's result function, else the login fails.
 */
static uint16_t
nego_offer_answer(struct iscsi_nego *n, int id, const char *val, char *err, size_t errlen)
{
	const struct param_def *def = &g_params[id];
	uint64_t v;
	bool b;

	if (param_is_nonvalue(val)) {
		return ISCSI_LOGIN_STATUS_SUCCESS;	/* the default stays */
	}
	switch (def->kind) {
	case PK_MIN:
	case PK_MAX:
		if (iscsi_param_parse_number(val, &v) != 0 || v < def->min || v > def->max ||
		    (def->kind == PK_MIN && v > nego_target_num(n, id)) ||
		    (def->kind == PK_MAX && v < nego_target_num(n, id))) {
			break;
		}
		*nego_num_field(n, id) = (uint32_t)v;
		return ISCSI_LOGIN_STATUS_SUCCESS;
	case PK_OR:
	case PK_AND:
		if (param_parse_bool(val, &b) != 0) {
			break;
		}
		/* AND offered No: only No is a valid answer; OR offered No: either. */
		if (def->kind == PK_AND && b && !nego_target_bool(n, id)) {
			break;
		}
		*nego_bool_field(n, id) = b;
		return ISCSI_LOGIN_STATUS_SUCCESS;
	default:
		break;
	}
	{
		char shown[41];

		osp_seterr(err, errlen, "answer %s=%s to the target's offer breaks the key's rule",
			   def->name, iscsi_param_printable(val, shown, sizeof(shown)));
	}
	return ISCSI_LOGIN_STATUS_INITIATOR_ERROR;
}

/* Re-declaring a name with the same value is harmless; a different one is not. */
static uint16_t
nego_redeclared(struct iscsi_nego *n, int id, const char *val, char *err, size_t errlen)
{
	const char *cur = NULL;
	char st[16];

	switch (id) {
	case P_INITIATOR_NAME: cur = n->sess.initiator_name; break;
	case P_TARGET_NAME: cur = n->sess.target_name; break;
	case P_INITIATOR_ALIAS: cur = n->sess.initiator_alias; break;
	case P_SESSION_TYPE:
		snprintf(st, sizeof(st), "%s", n->sess.session_type ==
			 ISCSI_SESSION_TYPE_DISCOVERY ? "Discovery" : "Normal");
		cur = st;
		break;
	default: break;
	}
	if (cur != NULL && strcmp(cur, val) == 0) {
		return ISCSI_LOGIN_STATUS_SUCCESS;
	}
	osp_seterr(err, errlen, "key %s negotiated twice in one login", g_params[id].name);
	return ISCSI_LOGIN_STATUS_INITIATOR_ERROR;
}

/* Declarative keys the initiator sends about itself and what it wants. */
static uint16_t
nego_declarative(struct iscsi_nego *n, int id, const char *val, struct iscsi_textbuf *rsp,
		 char *err, size_t errlen)
{
	switch (id) {
	case P_INITIATOR_NAME:
	case P_TARGET_NAME: {
		char *dst = id == P_INITIATOR_NAME ? n->sess.initiator_name : n->sess.target_name;

		/*
		 * RFC 7143 4.2.7: at most 223 bytes of UTF-8, no spaces. Names end
		 * up in logs, ACL matches and RPC output: nothing else gets in.
		 */
		if (val[0] == '\0' || strlen(val) > ISCSI_NAME_MAX || !iscsi_param_text_ok(val, false)) {
			osp_seterr(err, errlen, "%s empty, longer than %u bytes, or not UTF-8 "
				   "without spaces and control characters", g_params[id].name,
				   ISCSI_NAME_MAX);
			return ISCSI_LOGIN_STATUS_INITIATOR_ERROR;
		}
		nego_copy_name(dst, id == P_INITIATOR_NAME ? sizeof(n->sess.initiator_name) :
			       sizeof(n->sess.target_name), val);
		return ISCSI_LOGIN_STATUS_SUCCESS;
	}
	case P_INITIATOR_ALIAS:
		/* Informational only: a bad one is refused, the login goes on. */
		if (!iscsi_param_text_ok(val, true) ||
		    !nego_copy_name(n->sess.initiator_alias, sizeof(n->sess.initiator_alias), val)) {
			NEGO_ADD(rsp, "InitiatorAlias", "Reject", err, errlen);
		}
		return ISCSI_LOGIN_STATUS_SUCCESS;
	case P_SESSION_TYPE:
		if (strcmp(val, "Normal") == 0) {
			n->sess.session_type = ISCSI_SESSION_TYPE_NORMAL;
		} else if (strcmp(val, "Discovery") == 0) {
			n->sess.session_type = ISCSI_SESSION_TYPE_DISCOVERY;
		} else {
			char shown[21];

			osp_seterr(err, errlen, "SessionType=%s is neither Normal nor Discovery",
				   iscsi_param_printable(val, shown, sizeof(shown)));
			return ISCSI_LOGIN_STATUS_SESSION_TYPE_UNSUPP;
		}
		return ISCSI_LOGIN_STATUS_SUCCESS;
	case P_MAX_RECV_DSL:
		return nego_initiator_mrdsl(n, val, rsp, true, err, errlen);
	default:
		return ISCSI_LOGIN_STATUS_SUCCESS;
	}
}

/* One operational key the initiator offered (it was not offered by us). */
static uint16_t
nego_offer(struct iscsi_nego *n, int id, const char *val, struct iscsi_textbuf *rsp, char *err,
	   size_t errlen)
{
	const struct param_def *def = &g_params[id];
	char pick[32];
	uint64_t v;
	bool b;

	switch (id) {
	case P_HEADER_DIGEST:
	case P_DATA_DIGEST: {
		struct digest_pick dp = {
			.n = n,
			.required = id == P_HEADER_DIGEST ? n->require_header_digest :
				    n->require_data_digest,
		};

		if (!param_list_pick(val, param_accept_digest, &dp, pick, sizeof(pick))) {
			NEGO_ADD(rsp, def->name, "Reject", err, errlen);
			return ISCSI_LOGIN_STATUS_SUCCESS;
		}
		if (id == P_HEADER_DIGEST) {
			n->conn.header_digest = strcmp(pick, "CRC32C") == 0;
		} else {
			n->conn.data_digest = strcmp(pick, "CRC32C") == 0;
		}
		NEGO_ADD(rsp, def->name, pick, err, errlen);
		return ISCSI_LOGIN_STATUS_SUCCESS;
	}
	case P_TASK_REPORTING:
		if (!param_list_pick(val, param_accept_task_reporting, n, pick, sizeof(pick))) {
			NEGO_ADD(rsp, def->name, "Reject", err, errlen);
		} else {
			NEGO_ADD(rsp, def->name, pick, err, errlen);
		}
		return ISCSI_LOGIN_STATUS_SUCCESS;
	case P_IFMARKER:
	case P_OFMARKER:
		/*
		 * RFC 7143 13.26 obsoletes markers: "Reject" is recommended, "No"
		 * allowed; RFC 3720 initiators (which still send IFMarker=No) expect
		 * the boolean AND answer, so a valid boolean gets No.
		 */
		NEGO_ADD(rsp, def->name, param_parse_bool(val, &b) == 0 ? "No" : "Reject", err,
			 errlen);
		return ISCSI_LOGIN_STATUS_SUCCESS;
	case P_IFMARKINT:
	case P_OFMARKINT:
		NEGO_ADD(rsp, def->name, "Reject", err, errlen);	/* RFC 7143 13.26: MUST */
		return ISCSI_LOGIN_STATUS_SUCCESS;
	default:
		break;
	}

	switch (def->kind) {
	case PK_MIN:
	case PK_MAX: {
		uint32_t ours = nego_target_num(n, id), res;

		if (iscsi_param_parse_number(val, &v) != 0 || v < def->min || v > def->max) {
			NEGO_ADD(rsp, def->name, "Reject", err, errlen);
			return ISCSI_LOGIN_STATUS_SUCCESS;
		}
		if (def->kind == PK_MIN) {
			res = OSP_MIN((uint32_t)v, ours);
		} else {
			res = OSP_MAX((uint32_t)v, ours);
		}
		if (id == P_FIRST_BURST) {
			/* RFC 7143 13.14: FirstBurstLength MUST NOT exceed MaxBurstLength. */
			res = OSP_MIN(res, n->sess.max_burst_length);
		}
		if (id == P_ERL && res != 0) {
			res = 0;	/* only ERL 0 is implemented */
		}
		if (nego_num_field(n, id) != NULL) {
			*nego_num_field(n, id) = res;
		}
		return nego_add_u32(rsp, def->name, res, err, errlen);
	}
	case PK_OR:
	case PK_AND:
		if (param_parse_bool(val, &b) != 0) {
			NEGO_ADD(rsp, def->name, "Reject", err, errlen);
			return ISCSI_LOGIN_STATUS_SUCCESS;
		}
		if (def->kind == PK_OR) {
			b = b || nego_target_bool(n, id);
		} else {
			b = b && nego_target_bool(n, id);
		}
		*nego_bool_field(n, id) = b;
		NEGO_ADD(rsp, def->name, b ? "Yes" : "No", err, errlen);
		return ISCSI_LOGIN_STATUS_SUCCESS;
	default:
		NEGO_ADD(rsp, def->name, "Reject", err, errlen);
		return ISCSI_LOGIN_STATUS_SUCCESS;
	}
}

/* One non-security key of a Login Request. */
static uint16_t
nego_key(struct iscsi_nego *n, const char *key, const char *val, struct iscsi_textbuf *rsp,
	 char *err, size_t errlen)
{
	int id = param_lookup(key);
	const struct param_def *def;

	if (id < 0) {
		/* Unknown keys, X- and X# extensions included (RFC 7143 6.2). */
		NEGO_ADD(rsp, key, "NotUnderstood", err, errlen);
		return ISCSI_LOGIN_STATUS_SUCCESS;
	}
	def = &g_params[id];
	if (nego_seen(n, id)) {
		if (id == P_MAX_RECV_DSL) {
			/* Declarative and per direction: a new declaration replaces the old. */
			return nego_initiator_mrdsl(n, val, rsp, true, err, errlen);
		}
		if (def->kind == PK_DECL) {
			return nego_redeclared(n, id, val, err, errlen);
		}
		/* RFC 7143 6.2: a renegotiation attempt is a Login reject (initiator error). */
		osp_seterr(err, errlen, "key %s negotiated twice in one login", def->name);
		return ISCSI_LOGIN_STATUS_INITIATOR_ERROR;
	}
	n->keys_seen[0] |= 1ULL << id;
	if (nego_offered(n, id)) {
		return nego_offer_answer(n, id, val, err, errlen);
	}
	if (def->use == PU_TARGET || def->use == PU_FFPO) {
		/* Only the target declares these; SendTargets belongs to Text requests. */
		NEGO_ADD(rsp, key, "Reject", err, errlen);
		return ISCSI_LOGIN_STATUS_SUCCESS;
	}
	if (def->use == PU_LO && !n->leading) {
		if (id == P_SESSION_TYPE) {
			/* Declared on each connection by some initiators; login.c compares. */
			return nego_declarative(n, id, val, rsp, err, errlen);
		}
		/*
		 * The session's value was fixed by its leading connection and
		 * cannot change here (RFC 7143 13: LO). "Irrelevant" refuses the
		 * offer without calling the negotiation failed: the session's
		 * value stays in force for this connection too.
		 */
		NEGO_ADD(rsp, key, "Irrelevant", err, errlen);
		return ISCSI_LOGIN_STATUS_SUCCESS;
	}
	if (def->kind == PK_DECL) {
		return nego_declarative(n, id, val, rsp, err, errlen);
	}
	if (def->discovery_irrelevant && n->sess.session_type == ISCSI_SESSION_TYPE_DISCOVERY) {
		NEGO_ADD(rsp, key, "Irrelevant", err, errlen);
		return ISCSI_LOGIN_STATUS_SUCCESS;
	}
	if (param_is_nonvalue(val)) {
		/* Not an offer: nothing to negotiate, the default stays. */
		NEGO_ADD(rsp, key, "Reject", err, errlen);
		return ISCSI_LOGIN_STATUS_SUCCESS;
	}
	return nego_offer(n, id, val, rsp, err, errlen);
}

/*
 * Where the target's settings are stricter than the RFC defaults that hold
 * when a key goes unmentioned, the target must offer them itself (RFC 7143
 * 6.2); the initiator answers in its next request.
 */
static uint16_t
nego_target_offers(struct iscsi_nego *n, struct iscsi_textbuf *rsp, bool *pending, char *err,
		   size_t errlen)
{
	static const int nums[] = { P_MAX_BURST, P_FIRST_BURST, P_TIME2WAIT, P_TIME2RETAIN };
	static const int bools[] = { P_INITIAL_R2T, P_IMMEDIATE_DATA };
	unsigned int i;
	uint16_t st;

	n->flags |= NEGO_F_OFFERS_DONE;
	if (!n->leading || n->sess.session_type != ISCSI_SESSION_TYPE_NORMAL) {
		return ISCSI_LOGIN_STATUS_SUCCESS;
	}
	for (i = 0; i < OSP_COUNTOF(nums); i++) {
		int id = nums[i];
		uint32_t ours = nego_target_num(n, id), dflt = *nego_num_field(n, id);
		bool stricter;

		if (id == P_FIRST_BURST) {
			/* Never offer more than the MaxBurstLength already agreed. */
			ours = OSP_MIN(ours, n->sess.max_burst_length);
		}
		stricter = g_params[id].kind == PK_MIN ? ours < dflt : ours > dflt;

		if (nego_seen(n, id) || !stricter) {
			continue;
		}
		st = nego_add_u32(rsp, g_params[id].name, ours, err, errlen);
		if (st != ISCSI_LOGIN_STATUS_SUCCESS) {
			return st;
		}
		n->keys_seen[1] |= 1ULL << id;
		*pending = true;
	}
	for (i = 0; i < OSP_COUNTOF(bools); i++) {
		int id = bools[i];

		/* Both defaults are Yes; offering No matters (AND) or helps (OR). */
		if (nego_seen(n, id) || nego_target_bool(n, id)) {
			continue;
		}
		NEGO_ADD(rsp, g_params[id].name, "No", err, errlen);
		n->keys_seen[1] |= 1ULL << id;
		*pending = true;
	}
	return ISCSI_LOGIN_STATUS_SUCCESS;
}

/*
 * Keys are handled in three passes so that a key's answer can depend on
 * another key of the same request whatever their order: the session type and
 * names first (Irrelevant depends on the type), then the rest, and
 * FirstBurstLength after MaxBurstLength (it may not exceed it).
 */
static int
nego_pass_of(const char *key)
{
	if (strcmp(key, "SessionType") == 0 || strcmp(key, "InitiatorName") == 0 ||
	    strcmp(key, "TargetName") == 0) {
		return 0;
	}
	if (strcmp(key, "FirstBurstLength") == 0) {
		return 2;
	}
	return 1;
}

uint16_t
iscsi_nego_process(struct iscsi_nego *n, enum iscsi_nego_stage csg,
		   const struct iscsi_text *req, struct iscsi_textbuf *rsp,
		   bool *transit_ok, char *err, size_t errlen)
{
	bool pending = false;
	uint16_t st;
	uint32_t i;
	int pass;

	*transit_ok = false;
	if (csg != ISCSI_STAGE_SECURITY && csg != ISCSI_STAGE_OPERATIONAL) {
		osp_seterr(err, errlen, "login request in stage %d", (int)csg);
		return ISCSI_LOGIN_STATUS_INITIATOR_ERROR;
	}
	if (csg == ISCSI_STAGE_SECURITY) {
		n->flags |= NEGO_F_IN_SECURITY;
	} else {
		n->flags &= ~NEGO_F_IN_SECURITY;
	}
	/* Identity first: the security stage's answers may depend on SessionType. */
	for (i = 0; i < req->npairs; i++) {
		if (nego_pass_of(req->kv[i].key) == 0) {
			st = nego_key(n, req->kv[i].key, req->kv[i].val, rsp, err, errlen);
			if (st != ISCSI_LOGIN_STATUS_SUCCESS) {
				return st;
			}
		}
	}
	if (csg == ISCSI_STAGE_SECURITY) {
		st = iscsi_chap_process(n, req, rsp, err, errlen);
		if (st != ISCSI_LOGIN_STATUS_SUCCESS) {
			return st;
		}
	} else {
		for (i = 0; i < req->npairs; i++) {
			if (iscsi_param_is_security_key(req->kv[i].key)) {
				osp_seterr(err, errlen, "security key %s in the operational stage",
					   req->kv[i].key);
				return ISCSI_LOGIN_STATUS_INITIATOR_ERROR;
			}
		}
		/* Skipping (or not finishing) the security stage. */
		st = iscsi_chap_check_done(n, err, errlen);
		if (st != ISCSI_LOGIN_STATUS_SUCCESS) {
			return st;
		}
	}
	for (pass = 1; pass <= 2; pass++) {
		for (i = 0; i < req->npairs; i++) {
			const char *key = req->kv[i].key;

			if (nego_pass_of(key) != pass || iscsi_param_is_security_key(key)) {
				continue;
			}
			st = nego_key(n, key, req->kv[i].val, rsp, err, errlen);
			if (st != ISCSI_LOGIN_STATUS_SUCCESS) {
				return st;
			}
		}
	}
	if (csg == ISCSI_STAGE_OPERATIONAL) {
		if ((n->flags & NEGO_F_MRDSL_SEEN) || !(n->flags & NEGO_F_OFFERS_DONE)) {
			st = nego_declare_mrdsl(n, rsp, err, errlen);
			if (st != ISCSI_LOGIN_STATUS_SUCCESS) {
				return st;
			}
		}
		if (!(n->flags & NEGO_F_OFFERS_DONE)) {
			st = nego_target_offers(n, rsp, &pending, err, errlen);
			if (st != ISCSI_LOGIN_STATUS_SUCCESS) {
				return st;
			}
		}
		/* Our offers still unanswered: the stage cannot end yet. */
		pending = pending || (n->keys_seen[1] & ~n->keys_seen[0]) != 0;
		*transit_ok = !pending;
	} else {
		if (n->flags & NEGO_F_MRDSL_SEEN) {
			st = nego_declare_mrdsl(n, rsp, err, errlen);
			if (st != ISCSI_LOGIN_STATUS_SUCCESS) {
				return st;
			}
		}
		*transit_ok = n->authenticated;
	}
	return ISCSI_LOGIN_STATUS_SUCCESS;
}

uint16_t
iscsi_nego_finish(struct iscsi_nego *n, struct iscsi_textbuf *rsp, char *err, size_t errlen)
{
	uint16_t st;

	st = iscsi_chap_check_done(n, err, errlen);
	if (st != ISCSI_LOGIN_STATUS_SUCCESS) {
		return st;
	}
	if (n->sess.initiator_name[0] == '\0') {
		osp_seterr(err, errlen, "InitiatorName missing");
		return ISCSI_LOGIN_STATUS_MISSING_PARAM;
	}
	if (n->sess.session_type == ISCSI_SESSION_TYPE_NORMAL && n->sess.target_name[0] == '\0') {
		osp_seterr(err, errlen, "TargetName missing in a normal session");
		return ISCSI_LOGIN_STATUS_MISSING_PARAM;
	}
	if ((n->require_header_digest && !n->conn.header_digest) ||
	    (n->require_data_digest && !n->conn.data_digest)) {
		osp_seterr(err, errlen, "the target requires CRC32C %s digests, the initiator "
			   "did not agree to them", n->require_header_digest &&
			   !n->conn.header_digest ? "header" : "data");
		return ISCSI_LOGIN_STATUS_INITIATOR_ERROR;
	}
	/*
	 * RFC 7143 13.14: FirstBurstLength MUST NOT exceed MaxBurstLength. An
	 * initiator lowering MaxBurstLength below the (default or earlier)
	 * FirstBurstLength gets the smaller of the two for both.
	 */
	if (n->leading && n->sess.first_burst_length > n->sess.max_burst_length) {
		n->sess.first_burst_length = n->sess.max_burst_length;
	}
	/*
	 * A login going from the security stage straight to full feature phase
	 * answers in a security-stage response, where initiators take only
	 * security keys (open-iscsi fails the login on any other): our
	 * MaxRecvDataSegmentLength stays the default 8192 then (conn.max_recv_dsl
	 * says so).
	 */
	if (n->flags & NEGO_F_IN_SECURITY) {
		return ISCSI_LOGIN_STATUS_SUCCESS;
	}
	return nego_declare_mrdsl(n, rsp, err, errlen);
}

uint16_t
iscsi_nego_text(struct iscsi_nego *n, const struct iscsi_text *req, struct iscsi_textbuf *rsp,
		char *err, size_t errlen)
{
	uint32_t i;
	uint16_t st;

	for (i = 0; i < req->npairs; i++) {
		const char *key = req->kv[i].key, *val = req->kv[i].val;
		int id = param_lookup(key);

		if (id < 0) {
			NEGO_ADD(rsp, key, "NotUnderstood", err, errlen);
			continue;
		}
		switch (id) {
		case P_SEND_TARGETS:
			continue;	/* the caller's (the discovery answer) */
		case P_MAX_RECV_DSL:
			st = nego_initiator_mrdsl(n, val, rsp, false, err, errlen);
			if (st != ISCSI_LOGIN_STATUS_SUCCESS) {
				return st;
			}
			continue;
		case P_INITIATOR_ALIAS:
			if (!iscsi_param_text_ok(val, true) ||
			    !nego_copy_name(n->sess.initiator_alias,
					    sizeof(n->sess.initiator_alias), val)) {
				NEGO_ADD(rsp, key, "Reject", err, errlen);
			}
			continue;
		default:
			/* Login-only keys, the target's own, security keys. */
			NEGO_ADD(rsp, key, "Reject", err, errlen);
			continue;
		}
	}
	return ISCSI_LOGIN_STATUS_SUCCESS;
}
