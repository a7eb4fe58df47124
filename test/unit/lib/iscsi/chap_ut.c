/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/iscsi/chap.c: AuthMethod against every policy, the CHAP
 * exchange (RFC 7143 12.1.3, RFC 1994) one-way and mutual, both binary
 * encodings, every class of bad input (each one AUTH_FAILED with a reason
 * for the log and nothing in the answer), and replays of libiscsi 1.19's
 * CHAP logins captured against tgtd.
 *
 * The expected CHAP_R values were computed with Python's hashlib, not with
 * lib/util/md5.c: MD5(CHAP_I || secret || CHAP_C).
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iscsi/param.c"
#include "iscsi/chap.c"
#include "ut_run.h"

static struct iscsi_text g_req;
static struct iscsi_text g_ans;
static char g_rspbuf[8192];
static struct iscsi_textbuf g_rsp;
static char g_err[256];
static struct iscsi_param_defaults g_defs;
static int g_lookups;

struct user {
	const char *user, *secret, *muser, *msecret;
};
static const struct user g_users[] = {
	{ "inituser", "initsecret1234", "tgtuser", "tgtsecret56789" },
	{ "oneway", "initsecret1234", "", "" },
	{ "nosecret", "", "", "" },
	{ "long", NULL, "", "" },	/* secret: 255 bytes of x */
	{ "samesecret", "initsecret1234", "tgtuser", "initsecret1234" },
};

static int
lookup(void *ctx, const char *user, struct iscsi_chap_secret *out)
{
	unsigned int i;

	g_lookups++;
	for (i = 0; i < OSP_COUNTOF(g_users); i++) {
		if (strcmp(g_users[i].user, user) == 0) {
			snprintf(out->user, sizeof(out->user), "%s", g_users[i].user);
			if (g_users[i].secret == NULL) {
				memset(out->secret, 'x', 255);
				out->secret[255] = '\0';
			} else {
				snprintf(out->secret, sizeof(out->secret), "%s", g_users[i].secret);
			}
			snprintf(out->muser, sizeof(out->muser), "%s", g_users[i].muser);
			snprintf(out->msecret, sizeof(out->msecret), "%s", g_users[i].msecret);
			return 0;
		}
	}
	return -ENOENT;
}

static size_t
mk(char *out, const char *s)
{
	size_t n = strlen(s), i;

	memcpy(out, s, n + 1);
	for (i = 0; i < n; i++) {
		if (out[i] == '|') {
			out[i] = '\0';
		}
	}
	return n + 1;
}

static uint16_t
run(struct iscsi_nego *n, enum iscsi_nego_stage csg, const char *keys, bool *transit)
{
	char buf[4096];
	size_t len = mk(buf, keys);
	bool t = false;
	uint16_t st;

	g_rsp.buf = g_rspbuf;
	g_rsp.len = 0;
	g_rsp.cap = sizeof(g_rspbuf);
	g_err[0] = '\0';
	st = iscsi_text_parse(&g_req, buf, len, g_err, sizeof(g_err));
	if (st != 0) {
		return st;
	}
	st = iscsi_nego_process(n, csg, &g_req, &g_rsp, &t, g_err, sizeof(g_err));
	if (transit != NULL) {
		*transit = t;
	}
	CU_ASSERT_FATAL(iscsi_text_parse(&g_ans, g_rsp.buf, g_rsp.len, NULL, 0) == 0);
	return st;
}

static const char *
ans(const char *key)
{
	return iscsi_text_get(&g_ans, key);
}

static bool
ans_is(const char *key, const char *val)
{
	const char *v = ans(key);

	if (v == NULL || strcmp(v, val) != 0) {
		printf("  %s: got %s, want %s\n", key, v ? v : "(none)", val);
		return false;
	}
	return true;
}

/* P_NO_SECRETS: CHAP allowed, not required, and no auth group (lookup NULL). */
enum pol { P_EITHER, P_NONE_ONLY, P_REQUIRE, P_MUTUAL, P_BROKEN, P_NO_SECRETS };

static void
nego_new(struct iscsi_nego *n, enum pol p)
{
	iscsi_nego_init(n, &g_defs, true);
	n->auth.lookup = p == P_NO_SECRETS ? NULL : lookup;
	n->auth.lookup_ctx = NULL;
	n->auth.disable_chap = p == P_NONE_ONLY || p == P_BROKEN;
	n->auth.require_chap = p == P_REQUIRE || p == P_BROKEN;
	n->auth.mutual_chap = p == P_MUTUAL;
}

/* The fixed challenge the tests put in place of the random one. */
static const uint8_t g_chal16[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
/* hashlib.md5(bytes([42]) + b"initsecret1234" + bytes(range(16))) */
#define R_HEX "0x0ff4ccede727d6d5a159224a7a537c0d"
#define R_HEX_UPPER "0x0FF4CCEDE727D6D5A159224A7A537C0D"
#define R_B64 "0bD/TM7ecn1tWhWSJKelN8DQ=="

/* AuthMethod=CHAP then CHAP_A=5; pins id 42 and g_chal16 for a known answer. */
static void
to_wait_nr(struct iscsi_nego *n, enum pol p)
{
	bool t = true;

	nego_new(n, p);
	CU_ASSERT_FATAL(run(n, ISCSI_STAGE_SECURITY, "InitiatorName=iqn.i|TargetName=iqn.t|"
			    "SessionType=Normal|AuthMethod=CHAP,None", &t) == 0);
	CU_ASSERT(!t);
	CU_ASSERT(ans_is("AuthMethod", "CHAP"));
	CU_ASSERT_FATAL(run(n, ISCSI_STAGE_SECURITY, "CHAP_A=5", &t) == 0);
	CU_ASSERT(!t);
	CU_ASSERT(ans_is("CHAP_A", "5"));
	CU_ASSERT(ans("CHAP_I") != NULL && ans("CHAP_C") != NULL);
	n->chap_id = 42;
	memcpy(n->chap_challenge, g_chal16, 16);
	n->chap_challenge_len = 16;
}

/* A failure says nothing to the initiator: no answer keys, AUTH_FAILED, a logged reason. */
static bool
failed_quietly(uint16_t st)
{
	return st == ISCSI_LOGIN_STATUS_AUTH_FAILED && g_rsp.len == 0 && g_err[0] != '\0';
}

static void
test_auth_method_policy(void)
{
	static const struct {
		enum pol p;
		const char *offer;
		const char *want;	/* NULL: AUTH_FAILED */
	} c[] = {
		{ P_EITHER, "CHAP,None", "CHAP" },
		{ P_EITHER, "None,CHAP", "None" },
		{ P_EITHER, "None", "None" },
		{ P_EITHER, "KRB5,SRP,CHAP", "CHAP" },
		{ P_EITHER, "KRB5,SPKM1", NULL },
		{ P_NONE_ONLY, "CHAP,None", "None" },
		{ P_NONE_ONLY, "CHAP", NULL },
		{ P_REQUIRE, "None,CHAP", "CHAP" },
		{ P_REQUIRE, "None", NULL },
		{ P_MUTUAL, "None,CHAP", "CHAP" },
		{ P_MUTUAL, "None", NULL },
		{ P_BROKEN, "CHAP,None", NULL },
		{ P_EITHER, "", NULL },
		{ P_EITHER, ",,", NULL },
		{ P_EITHER, "chap", NULL },	/* values are case-sensitive */
		{ P_EITHER, "CHAPX,None", "None" },
		{ P_NO_SECRETS, "CHAP,None", "None" },
		{ P_NO_SECRETS, "CHAP", NULL },
	};
	struct iscsi_nego n;
	unsigned int i;
	char req[128];
	bool t;

	for (i = 0; i < OSP_COUNTOF(c); i++) {
		uint16_t st;

		nego_new(&n, c[i].p);
		snprintf(req, sizeof(req), "InitiatorName=iqn.i|AuthMethod=%s", c[i].offer);
		st = run(&n, ISCSI_STAGE_SECURITY, req, &t);
		if (c[i].want == NULL) {
			CU_ASSERT(failed_quietly(st));
			CU_ASSERT(!n.authenticated);
		} else {
			CU_ASSERT(st == 0);
			CU_ASSERT(ans_is("AuthMethod", c[i].want));
			CU_ASSERT(t == (strcmp(c[i].want, "None") == 0));
			CU_ASSERT(n.authenticated == (strcmp(c[i].want, "None") == 0));
		}
	}
}

static void
test_chap_oneway(void)
{
	const char *responses[] = { R_HEX, R_HEX_UPPER, R_B64, "0X0ff4ccede727d6d5a159224a7a537c0d",
				    "0BD/TM7ecn1tWhWSJKelN8DQ", "0x0ff4ccede727d6d5a159224a7a537c0d" };
	struct iscsi_nego n;
	unsigned int i;
	char req[256];
	bool t;

	for (i = 0; i < OSP_COUNTOF(responses); i++) {
		to_wait_nr(&n, i % 2 ? P_REQUIRE : P_EITHER);
		snprintf(req, sizeof(req), "CHAP_N=%s|CHAP_R=%s", i == 5 ? "oneway" : "inituser",
			 responses[i]);
		CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, req, &t) == 0);
		CU_ASSERT(t);
		CU_ASSERT(n.authenticated);
		CU_ASSERT(g_rsp.len == 0);	/* nothing to say back without mutual CHAP */
		CU_ASSERT_STRING_EQUAL(n.chap_user, i == 5 ? "oneway" : "inituser");
		/* The challenge is gone once used. */
		CU_ASSERT(n.chap_challenge_len == 0);
		/* On to the operational stage. */
		CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "HeaderDigest=None", &t) == 0);
		CU_ASSERT(t);
	}
}

static void
test_chap_bad_response(void)
{
	static const char *bad[] = {
		"0x0ff4ccede727d6d5a159224a7a537c0e",		/* one bit off */
		"0x0ff4ccede727d6d5a159224a7a537c",		/* 15 bytes */
		"0x0ff4ccede727d6d5a159224a7a537c0d00",		/* 17 bytes */
		"0x0ff4ccede727d6d5a159224a7a537c0g",		/* not hex */
		"0ff4ccede727d6d5a159224a7a537c0d",		/* no prefix */
		"0x",
		"0b",
		"0bD/TM7ecn1tWhWSJKelN8D!",			/* not base64 */
		"0bD/TM7ecn1tWhWSJKelN8DQ===",			/* too much padding */
		"0bD/TM7ecn1tWhWSJKelN8DR",			/* non-canonical last char */
		"",
		"Reject",
	};
	struct iscsi_nego n;
	unsigned int i;
	char req[256];

	for (i = 0; i < OSP_COUNTOF(bad); i++) {
		to_wait_nr(&n, P_EITHER);
		snprintf(req, sizeof(req), "CHAP_N=inituser|CHAP_R=%s", bad[i]);
		CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, req, NULL)));
		CU_ASSERT(!n.authenticated);
		/* The exchange cannot be resumed after a failure. */
		CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_HEX, NULL) ==
			  ISCSI_LOGIN_STATUS_AUTH_FAILED);
	}
	/* Wrong user, user without a secret, missing halves, no lookup at all. */
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=nobody|CHAP_R=" R_HEX, NULL)));
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=nosecret|CHAP_R=" R_HEX,
				     NULL)));
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_R=" R_HEX, NULL)));
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=init\nuser|CHAP_R=" R_HEX,
				     NULL)));
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=|CHAP_R=" R_HEX, NULL)));
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser", NULL)));
	to_wait_nr(&n, P_EITHER);
	n.auth.lookup = NULL;
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_HEX,
				     NULL)));
	/* The right response with another user's name (same secret is a different user). */
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=long|CHAP_R=" R_HEX, NULL) ==
		  ISCSI_LOGIN_STATUS_AUTH_FAILED);
	/* The reason stays in the log; the wrong-secret and unknown-user cases differ there only. */
	to_wait_nr(&n, P_EITHER);
	run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=0x0ff4ccede727d6d5a159224a7a537c0e",
	    NULL);
	CU_ASSERT(strstr(g_err, "CHAP") != NULL && strstr(g_err, "initsecret") == NULL);
}

/* A 255-byte secret (the field's limit). */
static void
test_chap_long_secret(void)
{
	struct iscsi_nego n;

	to_wait_nr(&n, P_EITHER);
	/* hashlib.md5(bytes([42]) + b"x" * 255 + bytes(range(16))) */
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY,
		      "CHAP_N=long|CHAP_R=0xccef2eaf50a34f1725d73db9d62f513b", NULL) == 0);
	CU_ASSERT(n.authenticated);
}

static void
test_chap_algorithm(void)
{
	static const struct {
		const char *a;
		bool ok;
	} c[] = {
		{ "5", true }, { "7,5", true }, { "0x5", true }, { "6,7,5,128", true },
		{ "7", false }, { "", false }, { "5x", false }, { "6,7", false }, { ",", false },
		{ "05", true },
	};
	struct iscsi_nego n;
	unsigned int i;
	char req[64];
	bool t;

	for (i = 0; i < OSP_COUNTOF(c); i++) {
		uint16_t st;

		nego_new(&n, P_EITHER);
		CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "AuthMethod=CHAP", &t) == 0);
		snprintf(req, sizeof(req), "CHAP_A=%s", c[i].a);
		st = run(&n, ISCSI_STAGE_SECURITY, req, &t);
		if (c[i].ok) {
			CU_ASSERT(st == 0);
			CU_ASSERT(ans_is("CHAP_A", "5"));
		} else {
			CU_ASSERT(failed_quietly(st));
		}
	}
}

/* Our identifier and challenge: random (getrandom), 16 bytes, hex. */
static void
test_chap_challenge(void)
{
	struct iscsi_nego n;
	char c1[64], c2[64];
	uint64_t id;
	int same = 0, i;

	for (i = 0; i < 8; i++) {
		nego_new(&n, P_EITHER);
		CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "AuthMethod=CHAP", NULL) == 0);
		CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "CHAP_A=5", NULL) == 0);
		CU_ASSERT(iscsi_param_parse_number(ans("CHAP_I"), &id) == 0 && id <= 255);
		CU_ASSERT(id == n.chap_id);
		snprintf(i % 2 ? c2 : c1, sizeof(c1), "%s", ans("CHAP_C"));
		CU_ASSERT(strlen(ans("CHAP_C")) == 2 + 32 && strncmp(ans("CHAP_C"), "0x", 2) == 0);
		CU_ASSERT(n.chap_challenge_len == 16);
		if (i % 2 && strcmp(c1, c2) == 0) {
			same++;
		}
	}
	CU_ASSERT(same == 0);
}

static void
test_chap_order(void)
{
	struct iscsi_nego n;

	/* CHAP_A before AuthMethod, CHAP_N before CHAP_A. */
	nego_new(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_A=5", NULL)));
	nego_new(&n, P_EITHER);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "AuthMethod=CHAP", NULL) == 0);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_HEX,
				     NULL)));
	/* CHAP_A twice. */
	nego_new(&n, P_EITHER);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "AuthMethod=CHAP", NULL) == 0);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "CHAP_A=5", NULL) == 0);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_A=5", NULL)));
	/* AuthMethod twice. */
	nego_new(&n, P_EITHER);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "AuthMethod=None", NULL) == 0);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "AuthMethod=CHAP", NULL)));
	/* Security keys after success. */
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_HEX, NULL) == 0);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_A=5", NULL)));
	/* CHAP keys with AuthMethod=None chosen. */
	nego_new(&n, P_EITHER);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "AuthMethod=None", NULL) == 0);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_A=5", NULL)));
	/* A failed login stays failed, even where no CHAP is required. */
	nego_new(&n, P_EITHER);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "AuthMethod=CHAP", NULL) == 0);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_A=7", NULL)));
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "InitiatorAlias=x", NULL) ==
		  ISCSI_LOGIN_STATUS_AUTH_FAILED);
	CU_ASSERT(!n.authenticated);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "HeaderDigest=None", NULL) ==
		  ISCSI_LOGIN_STATUS_AUTH_FAILED);
	g_rsp.len = 0;
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) ==
		  ISCSI_LOGIN_STATUS_AUTH_FAILED);
	/* Another method's keys. */
	nego_new(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "SRP_U=user", NULL)));
	/* AuthMethod and CHAP_A in one request: served in order (harmless). */
	nego_new(&n, P_EITHER);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "CHAP_A=5|AuthMethod=CHAP", NULL) == 0);
	CU_ASSERT(ans_is("AuthMethod", "CHAP") && ans_is("CHAP_A", "5"));
}

/* Leaving the security stage early, or skipping it, when CHAP is required. */
static void
test_chap_skipped(void)
{
	struct iscsi_nego n;
	bool t;

	/* CHAP required, initiator starts in the operational stage. */
	nego_new(&n, P_REQUIRE);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_OPERATIONAL, "InitiatorName=iqn.i|"
				     "TargetName=iqn.t|HeaderDigest=None", NULL)));
	/* CHAP required, security stage without AuthMethod, then op stage. */
	nego_new(&n, P_REQUIRE);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "InitiatorName=iqn.i|TargetName=iqn.t", &t) == 0);
	CU_ASSERT(!t);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "HeaderDigest=None", NULL) ==
		  ISCSI_LOGIN_STATUS_AUTH_FAILED);
	/* ... or straight to full feature phase. */
	nego_new(&n, P_REQUIRE);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "InitiatorName=iqn.i|TargetName=iqn.t", &t) == 0);
	g_rsp.len = 0;
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) ==
		  ISCSI_LOGIN_STATUS_AUTH_FAILED);
	/* CHAP started but not finished. */
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "HeaderDigest=None", NULL) ==
		  ISCSI_LOGIN_STATUS_AUTH_FAILED);
	to_wait_nr(&n, P_EITHER);
	g_rsp.len = 0;
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) ==
		  ISCSI_LOGIN_STATUS_AUTH_FAILED);
	/* Not required: skipping is fine. */
	nego_new(&n, P_EITHER);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "InitiatorName=iqn.i|TargetName=iqn.t", &t) == 0);
	CU_ASSERT(t && n.authenticated);
	nego_new(&n, P_NONE_ONLY);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "InitiatorName=iqn.i|TargetName=iqn.t", &t) == 0);
	CU_ASSERT(t);
	g_rsp.len = 0;
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) == 0);
}

/* Captured: libiscsi's CHAP_I=1 and 32-byte CHAP_C; tgtd's answer with secret tgtsecret56789. */
#define MUT_C "0x83950E9359902933324BA1CCAA2262A1A869F2FFA09865A6CFC71EDF2E0329B1"
#define MUT_C_B64 "0bg5UOk1mQKTMyS6HMqiJioahp8v+gmGWmz8ce3y4DKbE="
#define MUT_R "0x6dceb9c6b19530b7f4747d1ca7555a7c"

static void
test_chap_mutual(void)
{
	struct iscsi_nego n;
	char req[3000];
	bool t;
	int i;

	to_wait_nr(&n, P_MUTUAL);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_HEX "|CHAP_I=1|"
		      "CHAP_C=" MUT_C, &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(ans_is("CHAP_N", "tgtuser"));
	CU_ASSERT(ans_is("CHAP_R", MUT_R));
	/* The same challenge in base64. */
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_B64 "|CHAP_I=0x01|"
		      "CHAP_C=" MUT_C_B64, &t) == 0);
	CU_ASSERT(ans_is("CHAP_R", MUT_R));

	/* The longest challenge: 1024 bytes, id 255. */
	to_wait_nr(&n, P_EITHER);
	i = snprintf(req, sizeof(req), "CHAP_N=inituser|CHAP_R=" R_HEX "|CHAP_I=255|CHAP_C=0x");
	for (int k = 0; k < 1024; k++) {
		i += snprintf(req + i, sizeof(req) - (size_t)i, "%02x", (k * 7 + 3) & 255);
	}
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, req, &t) == 0);
	/* hashlib.md5(bytes([255]) + b"tgtsecret56789" + bytes((i*7+3)&255 for i in range(1024))) */
	CU_ASSERT(ans_is("CHAP_R", "0xfce00d03034d54eddce7f2d6724cf998"));
	/* 1025 bytes. */
	to_wait_nr(&n, P_EITHER);
	snprintf(req + i, sizeof(req) - (size_t)i, "00");
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, req, &t)));
	/* 15 bytes. */
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_HEX
				     "|CHAP_I=1|CHAP_C=0x000102030405060708090a0b0c0d0e", &t)));
	/* Our own challenge reflected. */
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_HEX
				     "|CHAP_I=7|CHAP_C=0x000102030405060708090a0b0c0d0e0f", &t)));
	/* ... even in base64. */
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_HEX
				     "|CHAP_I=7|CHAP_C=0bAAECAwQFBgcICQoLDA0ODw==", &t)));
	/* Halves of the mutual pair, bad ids. */
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_HEX
				     "|CHAP_I=1", &t)));
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_HEX
				     "|CHAP_C=" MUT_C, &t)));
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_HEX
				     "|CHAP_I=256|CHAP_C=" MUT_C, &t)));
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_HEX
				     "|CHAP_I=-1|CHAP_C=" MUT_C, &t)));
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_HEX
				     "|CHAP_I=1|CHAP_C=0xzz", &t)));
	/* Mutual asked, but the user has no target secret. */
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=oneway|CHAP_R=" R_HEX
				     "|CHAP_I=1|CHAP_C=" MUT_C, &t)));
	/* One secret for both directions: mutual CHAP refused, one-way still fine. */
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=samesecret|CHAP_R=" R_HEX
				     "|CHAP_I=1|CHAP_C=" MUT_C, &t)));
	CU_ASSERT(strstr(g_err, "same") != NULL);
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=samesecret|CHAP_R=" R_HEX, &t) == 0);
	/* Mutual required, not asked. */
	to_wait_nr(&n, P_MUTUAL);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_HEX, &t)));
	/* Wrong initiator response: we must not answer the initiator's challenge. */
	to_wait_nr(&n, P_EITHER);
	CU_ASSERT(failed_quietly(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|"
				     "CHAP_R=0x0ff4ccede727d6d5a159224a7a537c0e|CHAP_I=1|CHAP_C=" MUT_C,
				     &t)));
	CU_ASSERT(ans("CHAP_R") == NULL);
}

static void
test_decode_binary(void)
{
	uint8_t b[8];

	CU_ASSERT(iscsi_chap_decode_binary("0x0102", b, sizeof(b)) == 2 && b[0] == 1 && b[1] == 2);
	CU_ASSERT(iscsi_chap_decode_binary("0x102", b, sizeof(b)) == 2 && b[0] == 1 && b[1] == 2);
	CU_ASSERT(iscsi_chap_decode_binary("0xA", b, sizeof(b)) == 1 && b[0] == 10);
	CU_ASSERT(iscsi_chap_decode_binary("0x0102030405060708", b, sizeof(b)) == 8);
	CU_ASSERT(iscsi_chap_decode_binary("0x010203040506070809", b, sizeof(b)) == -E2BIG);
	CU_ASSERT(iscsi_chap_decode_binary("0x", b, sizeof(b)) == -EINVAL);
	CU_ASSERT(iscsi_chap_decode_binary("0x0g", b, sizeof(b)) == -EINVAL);
	CU_ASSERT(iscsi_chap_decode_binary("", b, sizeof(b)) == -EINVAL);
	CU_ASSERT(iscsi_chap_decode_binary("1x00", b, sizeof(b)) == -EINVAL);
	CU_ASSERT(iscsi_chap_decode_binary("0z00", b, sizeof(b)) == -EINVAL);
	/* base64: "AQI=" and "AQI" are 01 02; "AQID" is 01 02 03. */
	CU_ASSERT(iscsi_chap_decode_binary("0bAQI=", b, sizeof(b)) == 2 && b[0] == 1 && b[1] == 2);
	CU_ASSERT(iscsi_chap_decode_binary("0bAQI", b, sizeof(b)) == 2);
	CU_ASSERT(iscsi_chap_decode_binary("0bAQID", b, sizeof(b)) == 3 && b[2] == 3);
	CU_ASSERT(iscsi_chap_decode_binary("0bAQ==", b, sizeof(b)) == 1 && b[0] == 1);
	CU_ASSERT(iscsi_chap_decode_binary("0bA", b, sizeof(b)) == -EINVAL);	/* 6 bits */
	CU_ASSERT(iscsi_chap_decode_binary("0bAQI==", b, sizeof(b)) == -EINVAL);
	CU_ASSERT(iscsi_chap_decode_binary("0b=", b, sizeof(b)) == -EINVAL);
	CU_ASSERT(iscsi_chap_decode_binary("0bAR==", b, sizeof(b)) == -EINVAL);	/* stray bits */
	CU_ASSERT(iscsi_chap_decode_binary("0bA=QI", b, sizeof(b)) == -EINVAL);
	CU_ASSERT(iscsi_chap_decode_binary("0b+/+/", b, sizeof(b)) == 3 && b[0] == 0xfb);
	CU_ASSERT(iscsi_chap_decode_binary("0bAAAAAAAAAAAA", b, sizeof(b)) == -E2BIG);
}

/*
 * libiscsi 1.19 (iscsi-inq with user%password and target_user/
 * target_password) against tgtd 1.0.85, captured with a proxy: the requests'
 * keys and flags as sent. Our challenge replaces tgtd's 50-byte one, so the
 * initiator's CHAP_R is the one a correct libiscsi computes for ours.
 */
static void
test_replay_libiscsi_mutual_chap(void)
{
	struct iscsi_nego n;
	bool t;

	nego_new(&n, P_EITHER);
	/* CSG=0 NSG=1 T=1 */
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY,
		      "InitiatorName=iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-inq|"
		      "TargetName=iqn.2026-12.io.osprey.cap:chap|SessionType=Normal|"
		      "AuthMethod=CHAP,None", &t) == 0);
	CU_ASSERT(!t);	/* T=0 back, as tgtd */
	CU_ASSERT(ans_is("AuthMethod", "CHAP"));
	/* CSG=0 NSG=0 T=0 */
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "CHAP_A=5", &t) == 0);
	CU_ASSERT(!t);
	n.chap_id = 42;
	memcpy(n.chap_challenge, g_chal16, 16);
	/* CSG=0 NSG=1 T=1; libiscsi writes hex in upper case. */
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_HEX_UPPER "|CHAP_I=1|"
		      "CHAP_C=" MUT_C, &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(ans_is("CHAP_N", "tgtuser") && ans_is("CHAP_R", MUT_R));
	/* CSG=1 NSG=3 T=1 */
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL,
		      "HeaderDigest=None,CRC32C|DataDigest=None|InitialR2T=No|ImmediateData=Yes|"
		      "MaxBurstLength=262144|FirstBurstLength=262144|DefaultTime2Wait=2|"
		      "DefaultTime2Retain=0|MaxOutstandingR2T=1|ErrorRecoveryLevel=0|IFMarker=No|"
		      "OFMarker=No|MaxConnections=1|MaxRecvDataSegmentLength=262144|"
		      "DataPDUInOrder=Yes|DataSequenceInOrder=Yes", &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(ans_is("HeaderDigest", "None"));
	CU_ASSERT(ans_is("FirstBurstLength", "65536"));
	CU_ASSERT(g_ans.npairs == 16);	/* 15 answers + our MaxRecvDataSegmentLength */
	g_rsp.len = 0;
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) == 0);
	CU_ASSERT(g_rsp.len == 0);
}

/*
 * open-iscsi 2.1.8 (iscsiadm discovery with discovery.sendtargets.auth.*),
 * captured against a minimal CHAP-insisting responder: one-way CHAP offers
 * "CHAP,None" with T=1, mutual offers "CHAP" with T=0; hex in lower case; a
 * 16-byte challenge of its own.
 */
static void
test_replay_open_iscsi_chap(void)
{
	struct iscsi_nego n;
	bool t;

	nego_new(&n, P_REQUIRE);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY,
		      "InitiatorName=iqn.2004-10.com.ubuntu:01:osprey-capture|SessionType=Discovery|"
		      "AuthMethod=CHAP,None", &t) == 0);
	CU_ASSERT(!t && ans_is("AuthMethod", "CHAP"));
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "CHAP_A=5", &t) == 0);
	n.chap_id = 42;
	memcpy(n.chap_challenge, g_chal16, 16);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_HEX, &t) == 0);
	CU_ASSERT(t && g_rsp.len == 0);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL,
		      "HeaderDigest=None|DataDigest=None|DefaultTime2Wait=2|DefaultTime2Retain=0|"
		      "IFMarker=No|OFMarker=No|ErrorRecoveryLevel=0|MaxRecvDataSegmentLength=32768",
		      &t) == 0);
	CU_ASSERT(t);

	nego_new(&n, P_MUTUAL);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY,
		      "InitiatorName=iqn.2004-10.com.ubuntu:01:osprey-capture|SessionType=Discovery|"
		      "AuthMethod=CHAP", &t) == 0);
	CU_ASSERT(!t && ans_is("AuthMethod", "CHAP"));
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "CHAP_A=5", &t) == 0);
	n.chap_id = 42;
	memcpy(n.chap_challenge, g_chal16, 16);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "CHAP_N=inituser|CHAP_R=" R_HEX "|CHAP_I=20|"
		      "CHAP_C=0xcedc6c51cb2ae02a97d3fa0c77b36fcd", &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(ans_is("CHAP_N", "tgtuser"));
	/* hashlib.md5(bytes([20]) + b"tgtsecret56789" + bytes.fromhex("cedc...fcd")) */
	CU_ASSERT(ans_is("CHAP_R", "0x534127ebec8f12ab8a3f1171e3ca4000"));
	CU_ASSERT(g_ans.npairs == 2);
}

int
main(void)
{
	CU_pSuite suite;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	iscsi_param_defaults_init(&g_defs);
	suite = CU_add_suite("iscsi_chap", NULL, NULL);
	CU_ADD_TEST(suite, test_auth_method_policy);
	CU_ADD_TEST(suite, test_chap_oneway);
	CU_ADD_TEST(suite, test_chap_bad_response);
	CU_ADD_TEST(suite, test_chap_long_secret);
	CU_ADD_TEST(suite, test_chap_algorithm);
	CU_ADD_TEST(suite, test_chap_challenge);
	CU_ADD_TEST(suite, test_chap_order);
	CU_ADD_TEST(suite, test_chap_skipped);
	CU_ADD_TEST(suite, test_chap_mutual);
	CU_ADD_TEST(suite, test_decode_binary);
	CU_ADD_TEST(suite, test_replay_libiscsi_mutual_chap);
	CU_ADD_TEST(suite, test_replay_open_iscsi_chap);
	return ut_run_suites();
}
