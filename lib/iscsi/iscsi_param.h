/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/iscsi text keys (RFC 7143 6, 13): parsing a Login/Text data segment
 * into key=value pairs, negotiating the login keys against the target's
 * settings, and CHAP (RFC 7143 12.1.3, RFC 1994) for the security stage.
 * Pure code: no sockets, no threads; conn.c / login.c drive it.
 *
 * Error domains: parse/negotiate return 0, or a login status as
 * (class << 8 | detail) (ISCSI_LOGIN_STATUS_* below) with a one-line reason
 * in err for the log; set-up functions return -errno.
 */
#ifndef ISCSI_PARAM_H
#define ISCSI_PARAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Login response Status-Class / Status-Detail (RFC 7143 11.13.5), packed. */
#define ISCSI_LOGIN_STATUS(cls, detail)		((uint16_t)(((cls) << 8) | (detail)))
#define ISCSI_LOGIN_STATUS_SUCCESS		ISCSI_LOGIN_STATUS(0, 0)
#define ISCSI_LOGIN_STATUS_TARGET_MOVED_TEMP	ISCSI_LOGIN_STATUS(1, 1)
#define ISCSI_LOGIN_STATUS_INITIATOR_ERROR	ISCSI_LOGIN_STATUS(2, 0)
#define ISCSI_LOGIN_STATUS_AUTH_FAILED		ISCSI_LOGIN_STATUS(2, 1)
#define ISCSI_LOGIN_STATUS_AUTHZ_FAILED		ISCSI_LOGIN_STATUS(2, 2)
#define ISCSI_LOGIN_STATUS_NOT_FOUND		ISCSI_LOGIN_STATUS(2, 3)
#define ISCSI_LOGIN_STATUS_TARGET_REMOVED	ISCSI_LOGIN_STATUS(2, 4)
#define ISCSI_LOGIN_STATUS_UNSUPPORTED_VERSION	ISCSI_LOGIN_STATUS(2, 5)
#define ISCSI_LOGIN_STATUS_TOO_MANY_CONNS	ISCSI_LOGIN_STATUS(2, 6)
#define ISCSI_LOGIN_STATUS_MISSING_PARAM	ISCSI_LOGIN_STATUS(2, 7)
#define ISCSI_LOGIN_STATUS_NO_SESSION_SPANNING	ISCSI_LOGIN_STATUS(2, 8)
#define ISCSI_LOGIN_STATUS_SESSION_TYPE_UNSUPP	ISCSI_LOGIN_STATUS(2, 9)
#define ISCSI_LOGIN_STATUS_NO_SESSION		ISCSI_LOGIN_STATUS(2, 10)
#define ISCSI_LOGIN_STATUS_INVALID_REQUEST	ISCSI_LOGIN_STATUS(2, 11)
#define ISCSI_LOGIN_STATUS_TARGET_ERROR		ISCSI_LOGIN_STATUS(3, 0)
#define ISCSI_LOGIN_STATUS_SERVICE_UNAVAILABLE	ISCSI_LOGIN_STATUS(3, 1)
#define ISCSI_LOGIN_STATUS_OUT_OF_RESOURCES	ISCSI_LOGIN_STATUS(3, 2)

/* RFC 7143 6.1: keys up to 63 bytes; values up to 255 except where noted. */
#define ISCSI_TEXT_MAX_KEY_LEN		63
#define ISCSI_TEXT_MAX_VAL_LEN		8192	/* CHAP_C / CHAP_R in hex or base64 */
#define ISCSI_TEXT_MAX_PAIRS		64
/* A login or text request's whole text (all its continued PDUs). */
#define ISCSI_TEXT_MAX_LEN		65536

struct iscsi_kv {
	const char *key;		/* NUL-terminated, inside iscsi_text.buf */
	const char *val;
};

/* The keys of one request, in arrival order. */
struct iscsi_text {
	char buf[ISCSI_TEXT_MAX_LEN + 1];
	uint32_t npairs;
	struct iscsi_kv kv[ISCSI_TEXT_MAX_PAIRS];
};

/*
 * Split data (len bytes, "key=value\0" repeated, the last NUL optional per
 * the RFC's liberal reading that real initiators need; stray NULs skipped)
 * into t. Refuses with ISCSI_LOGIN_STATUS_INITIATOR_ERROR: a pair without
 * '=', an empty key, a key over 63 bytes or with a byte outside RFC 7143
 * 6.1's set, a value over 255 bytes (ISCSI_TEXT_MAX_VAL_LEN for CHAP_C and
 * CHAP_R), a key sent twice in one request, more than ISCSI_TEXT_MAX_PAIRS
 * pairs, len > ISCSI_TEXT_MAX_LEN. An empty value ("SendTargets=") is kept:
 * each key's negotiation decides about it.
 */
uint16_t iscsi_text_parse(struct iscsi_text *t, const void *data, size_t len, char *err,
			  size_t errlen);
/* The value of key, or NULL. */
const char *iscsi_text_get(const struct iscsi_text *t, const char *key);

/* A response being built ("key=value\0" ...). */
struct iscsi_textbuf {
	char *buf;
	uint32_t len;
	uint32_t cap;
};
/* Append; -ENOSPC if it does not fit (the caller answers OUT_OF_RESOURCES). */
int iscsi_textbuf_add(struct iscsi_textbuf *tb, const char *key, const char *val);

/* The target's settings (iscsi_set_options) that negotiation starts from. */
struct iscsi_param_defaults {
	uint32_t max_connections;		/* MaxConnections, default 2 */
	bool initial_r2t;			/* InitialR2T, default true */
	bool immediate_data;			/* ImmediateData, default true */
	uint32_t max_burst_length;		/* default 262144 */
	uint32_t first_burst_length;		/* default 65536 */
	uint32_t default_time2wait;		/* default 2 */
	uint32_t default_time2retain;		/* default 20 */
	uint32_t max_outstanding_r2t;		/* default 1 */
	bool data_pdu_in_order;			/* default true */
	bool data_sequence_in_order;		/* default true */
	uint32_t error_recovery_level;		/* default 0 (the only one supported) */
	uint32_t max_recv_data_segment_length;	/* what the target receives, default 8192 */
	bool allow_digests;			/* offer/accept CRC32C (default true) */
};
void iscsi_param_defaults_init(struct iscsi_param_defaults *d);

enum iscsi_session_type {
	ISCSI_SESSION_TYPE_INVALID = 0,
	ISCSI_SESSION_TYPE_NORMAL,
	ISCSI_SESSION_TYPE_DISCOVERY,
};

/* Results of the operational negotiation (session-wide, and this connection's). */
struct iscsi_sess_params {
	enum iscsi_session_type session_type;
	char initiator_name[224];
	char initiator_alias[256];
	char target_name[224];			/* empty for discovery */
	uint32_t max_connections;
	bool initial_r2t;
	bool immediate_data;
	uint32_t max_burst_length;
	uint32_t first_burst_length;
	uint32_t default_time2wait;
	uint32_t default_time2retain;
	uint32_t max_outstanding_r2t;
	bool data_pdu_in_order;
	bool data_sequence_in_order;
	uint32_t error_recovery_level;
};

struct iscsi_conn_params {
	bool header_digest;			/* CRC32C */
	bool data_digest;
	uint32_t max_recv_dsl;			/* ours: largest data segment we accept */
	uint32_t max_send_dsl;			/* the initiator's MaxRecvDataSegmentLength */
};

/* CHAP settings of the target node / discovery, from its auth group. */
struct iscsi_chap_secret {
	char user[256];
	char secret[256];
	char muser[256];			/* mutual: the target's name and secret */
	char msecret[256];
};

/*
 * Look up the secret of CHAP user name for the auth group the login uses:
 * 0 and *out filled, or -ENOENT.
 */
typedef int (*iscsi_chap_lookup_fn)(void *ctx, const char *user, struct iscsi_chap_secret *out);

struct iscsi_auth_policy {
	bool disable_chap;			/* AuthMethod=None only */
	bool require_chap;			/* AuthMethod=CHAP only */
	bool mutual_chap;			/* the initiator must ask for mutual CHAP */
	/*
	 * NULL when the node (or discovery) has no auth group: CHAP is then
	 * not chosen unless required, so "CHAP,None" gets None instead of a
	 * CHAP exchange that can only fail.
	 */
	iscsi_chap_lookup_fn lookup;
	void *lookup_ctx;
};

enum iscsi_nego_stage {
	ISCSI_STAGE_SECURITY = 0,		/* CSG 0 */
	ISCSI_STAGE_OPERATIONAL = 1,		/* CSG 1 */
	ISCSI_STAGE_FULL_FEATURE = 3,
};

/*
 * One connection's login negotiation: what was declared, offered and
 * answered so far (a key negotiated twice in one login is refused), the CHAP
 * exchange state, and the results. Lives in the connection.
 */
struct iscsi_nego {
	const struct iscsi_param_defaults *defaults;
	struct iscsi_auth_policy auth;		/* set by login.c once the target is known */
	/*
	 * Set by login.c with auth: the target node requires CRC32C (SPDK's
	 * -H/-D). None is then skipped in the initiator's HeaderDigest /
	 * DataDigest list, so "None,CRC32C" gets CRC32C and a list without it
	 * gets Reject (and the login should fail at finish).
	 */
	bool require_header_digest;
	bool require_data_digest;
	bool leading;				/* first connection of the session (TSIH 0) */
	struct iscsi_sess_params sess;		/* leading: negotiated here; else copied in */
	struct iscsi_conn_params conn;
	bool authenticated;			/* security stage passed (or not required) */
	/* Private to param.c / chap.c. */
	uint64_t keys_seen[2];			/* bit per known key */
	uint32_t chap_state;
	uint8_t chap_id;
	uint8_t chap_challenge[32];
	uint32_t chap_challenge_len;
	char chap_user[256];
	uint32_t flags;				/* ISCSI_NEGO_F_* (param.c) */
};

/*
 * Start a negotiation: results set to the RFC 7143 defaults (section 13), not
 * to d's values; the target's values are what it answers with. d must outlive
 * n. sess.session_type starts as NORMAL (the RFC default when the initiator
 * does not declare SessionType).
 */
void iscsi_nego_init(struct iscsi_nego *n, const struct iscsi_param_defaults *d, bool leading);

/*
 * Process the keys of one Login Request in stage csg and append the answers
 * to rsp. Security stage: AuthMethod, CHAP_A, CHAP_N/CHAP_R (checked with
 * auth.lookup), mutual CHAP_I/CHAP_C (answered with CHAP_N/CHAP_R);
 * *transit_ok says whether the stage may end (CHAP finished). Operational
 * stage (and operational keys sent in the security stage): every key of RFC
 * 7143 13 with its rules (list, numerical min/max, boolean and/or, declarative;
 * leading-only keys answered Irrelevant on other connections (the session's
 * value stays); NotUnderstood for unknown
 * keys; Irrelevant where the session type makes a key irrelevant; Reject for
 * values outside the domain). InitiatorName, SessionType and TargetName are
 * parsed into sess and left to login.c to check. Returns
 * ISCSI_LOGIN_STATUS_SUCCESS or the status to fail the login with.
 *
 * *transit_ok, security stage: authentication is finished (AuthMethod=None
 * chosen, CHAP verified, or no AuthMethod sent and CHAP not required).
 * Operational stage: false while the target has offers the initiator has not
 * answered yet (only when the target's settings are stricter than the RFC
 * defaults, e.g. ImmediateData=No or a smaller MaxBurstLength): answer with
 * T=0 even if the initiator asked to transit, and do not call finish; the
 * initiator answers in its next request. Going to the operational stage
 * without finishing a required CHAP exchange fails with AUTH_FAILED.
 */
uint16_t iscsi_nego_process(struct iscsi_nego *n, enum iscsi_nego_stage csg,
			    const struct iscsi_text *req, struct iscsi_textbuf *rsp,
			    bool *transit_ok, char *err, size_t errlen);

/*
 * When the login goes to full feature phase (after the last process() call,
 * from either stage): append the target's declarations not sent yet (its
 * MaxRecvDataSegmentLength, only if the last request was an operational-stage
 * one: a security-stage response carries security keys only, and the
 * default 8192 then holds, see conn.max_recv_dsl) and check that nothing required is missing
 * (InitiatorName, and TargetName for a normal session: MISSING_PARAM), that
 * authentication finished or was not required (AUTH_FAILED) and that the
 * digests the node requires were negotiated (INITIATOR_ERROR).
 * FirstBurstLength is lowered to MaxBurstLength if the initiator lowered the
 * latter below it (RFC 7143 13.14). Offers cannot be made here (the initiator
 * could not answer them); see *transit_ok above.
 */
uint16_t iscsi_nego_finish(struct iscsi_nego *n, struct iscsi_textbuf *rsp, char *err,
			   size_t errlen);

/*
 * Full-feature Text Request keys outside SendTargets (renegotiation of
 * MaxRecvDataSegmentLength is the only one allowed at ERL 0; others get
 * Reject / NotUnderstood per the RFC).
 */
uint16_t iscsi_nego_text(struct iscsi_nego *n, const struct iscsi_text *req,
			 struct iscsi_textbuf *rsp, char *err, size_t errlen);

/*
 * Internal to lib/iscsi (param.c <-> chap.c), exposed for the unit tests and
 * the fuzzer.
 */
/* AuthMethod, CHAP_* and the other methods' keys (SRP_, KRB_, SPKM_). */
bool iscsi_param_is_security_key(const char *key);
/* Valid UTF-8 without control characters (C0, DEL, C1); spaces if allow_space. */
bool iscsi_param_text_ok(const char *s, bool allow_space);
/* in with every byte outside printable ASCII as '?', cut to outlen - 1: for logs. */
const char *iscsi_param_printable(const char *in, char *out, size_t outlen);
/* RFC 7143 6.1 numerical value (decimal or 0x hex, < 2^64): 0 or -EINVAL. */
int iscsi_param_parse_number(const char *s, uint64_t *out);
/* The security keys of one security-stage request (chap.c). */
uint16_t iscsi_chap_process(struct iscsi_nego *n, const struct iscsi_text *req,
			    struct iscsi_textbuf *rsp, char *err, size_t errlen);
/*
 * Leaving the security stage (operational stage reached, or the login
 * ending): AUTH_FAILED unless authentication finished or was not required.
 */
uint16_t iscsi_chap_check_done(struct iscsi_nego *n, char *err, size_t errlen);
/*
 * RFC 7143 6.1 binary value: "0x" hex (an odd digit count gets an implied
 * leading 0) or "0b" base64. Decodes into out (outcap bytes): the length, or
 * -EINVAL (bad encoding, empty) / -E2BIG (longer than outcap).
 */
int iscsi_chap_decode_binary(const char *s, uint8_t *out, size_t outcap);

#endif
