/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/iscsi/param.c: the text parser, the answer buffer and the
 * operational negotiation of every RFC 7143 section 13 key (the security
 * stage's AuthMethod=None path too; CHAP itself is chap_ut.c's).
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iscsi/param.c"
#include "iscsi/chap.c"
#include "ut_run.h"

static struct iscsi_text g_req;
static struct iscsi_text g_rsp_parsed;
static char g_rspbuf[8192];
static struct iscsi_textbuf g_rsp;
static char g_err[256];
static struct iscsi_param_defaults g_defs;

/* "k=v\0k=v\0" from a '|'-separated string (test shorthand). */
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

static void
rsp_reset(void)
{
	g_rsp.buf = g_rspbuf;
	g_rsp.len = 0;
	g_rsp.cap = sizeof(g_rspbuf);
	g_err[0] = '\0';
}

/* Run one request through process(); the answers are parsed into g_rsp_parsed. */
static uint16_t
run(struct iscsi_nego *n, enum iscsi_nego_stage csg, const char *keys, bool *transit)
{
	char buf[4096];
	size_t len = mk(buf, keys);
	bool t = false;
	uint16_t st;

	rsp_reset();
	st = iscsi_text_parse(&g_req, buf, len, g_err, sizeof(g_err));
	if (st != 0) {
		return st;
	}
	st = iscsi_nego_process(n, csg, &g_req, &g_rsp, &t, g_err, sizeof(g_err));
	if (transit != NULL) {
		*transit = t;
	}
	CU_ASSERT_FATAL(iscsi_text_parse(&g_rsp_parsed, g_rsp.buf, g_rsp.len, NULL, 0) == 0);
	return st;
}

static const char *
ans(const char *key)
{
	return iscsi_text_get(&g_rsp_parsed, key);
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

static void
nego_new(struct iscsi_nego *n, bool leading)
{
	iscsi_nego_init(n, &g_defs, leading);
}

/* ---- parser ---- */

static void
test_parse_basic(void)
{
	char buf[256];
	size_t len;

	len = mk(buf, "A=1|Bb=two|X-com.example.k=v");
	CU_ASSERT(iscsi_text_parse(&g_req, buf, len, g_err, sizeof(g_err)) == 0);
	CU_ASSERT(g_req.npairs == 3);
	CU_ASSERT_STRING_EQUAL(iscsi_text_get(&g_req, "Bb"), "two");
	CU_ASSERT_STRING_EQUAL(iscsi_text_get(&g_req, "X-com.example.k"), "v");
	CU_ASSERT(iscsi_text_get(&g_req, "C") == NULL);
	/* The last NUL is optional. */
	CU_ASSERT(iscsi_text_parse(&g_req, "A=1\0B=2", 7, NULL, 0) == 0);
	CU_ASSERT(g_req.npairs == 2 && strcmp(iscsi_text_get(&g_req, "B"), "2") == 0);
	/* Stray NULs (padding counted in) are skipped. */
	CU_ASSERT(iscsi_text_parse(&g_req, "A=1\0\0\0", 6, NULL, 0) == 0);
	CU_ASSERT(g_req.npairs == 1);
	/* Empty text. */
	CU_ASSERT(iscsi_text_parse(&g_req, "", 0, NULL, 0) == 0 && g_req.npairs == 0);
	/* '=' inside the value belongs to the value. */
	CU_ASSERT(iscsi_text_parse(&g_req, "A=b=c", 5, NULL, 0) == 0);
	CU_ASSERT_STRING_EQUAL(iscsi_text_get(&g_req, "A"), "b=c");
	/* An empty value is a value. */
	CU_ASSERT(iscsi_text_parse(&g_req, "SendTargets=", 12, NULL, 0) == 0);
	CU_ASSERT_STRING_EQUAL(iscsi_text_get(&g_req, "SendTargets"), "");
	/* X# keys. */
	CU_ASSERT(iscsi_text_parse(&g_req, "X#12345=a", 9, NULL, 0) == 0);
}

static void
test_parse_bad(void)
{
	static char big[ISCSI_TEXT_MAX_LEN + 2];
	char buf[1024];
	size_t len;
	int i;

	CU_ASSERT(iscsi_text_parse(&g_req, "A", 1, g_err, sizeof(g_err)) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	CU_ASSERT(strstr(g_err, "'='") != NULL);
	CU_ASSERT(iscsi_text_parse(&g_req, "=1", 2, NULL, 0) == ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	/* Duplicate key in one request. */
	len = mk(buf, "A=1|B=2|A=1");
	CU_ASSERT(iscsi_text_parse(&g_req, buf, len, g_err, sizeof(g_err)) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	CU_ASSERT(strstr(g_err, "twice") != NULL);
	/* Key of 63 bytes is fine, 64 is not. */
	memset(buf, 'K', 63);
	memcpy(buf + 63, "=v", 3);
	CU_ASSERT(iscsi_text_parse(&g_req, buf, 66, NULL, 0) == 0);
	memset(buf, 'K', 64);
	memcpy(buf + 64, "=v", 3);
	CU_ASSERT(iscsi_text_parse(&g_req, buf, 67, NULL, 0) == ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	/* Value of 255 bytes fine, 256 not (except CHAP_C/CHAP_R). */
	memcpy(buf, "A=", 2);
	memset(buf + 2, 'v', 255);
	buf[257] = '\0';
	CU_ASSERT(iscsi_text_parse(&g_req, buf, 258, NULL, 0) == 0);
	memset(buf + 2, 'v', 256);
	buf[258] = '\0';
	CU_ASSERT(iscsi_text_parse(&g_req, buf, 259, NULL, 0) == ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	memcpy(buf, "CHAP_C=0x", 9);
	memset(buf + 9, 'a', 600);
	buf[609] = '\0';
	CU_ASSERT(iscsi_text_parse(&g_req, buf, 610, NULL, 0) == 0);
	/* Key characters outside RFC 7143 6.1's set. */
	CU_ASSERT(iscsi_text_parse(&g_req, "A B=1", 5, NULL, 0) == ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	CU_ASSERT(iscsi_text_parse(&g_req, "A\nB=1", 5, NULL, 0) == ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	CU_ASSERT(iscsi_text_parse(&g_req, "\xc3\xa9=1", 4, NULL, 0) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	/* Too many pairs. */
	len = 0;
	for (i = 0; i < ISCSI_TEXT_MAX_PAIRS + 1; i++) {
		len += (size_t)sprintf(buf + len, "K%d=1", i) + 1;
	}
	CU_ASSERT(iscsi_text_parse(&g_req, buf, len, NULL, 0) == ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	/* Exactly the limit is fine. */
	len = 0;
	for (i = 0; i < ISCSI_TEXT_MAX_PAIRS; i++) {
		len += (size_t)sprintf(buf + len, "K%d=1", i) + 1;
	}
	CU_ASSERT(iscsi_text_parse(&g_req, buf, len, NULL, 0) == 0);
	/* Whole text too long. */
	memset(big, 'a', sizeof(big));
	CU_ASSERT(iscsi_text_parse(&g_req, big, ISCSI_TEXT_MAX_LEN + 1, NULL, 0) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	/* Exactly ISCSI_TEXT_MAX_LEN of pairs-less text: refused as a pair without '='. */
	CU_ASSERT(iscsi_text_parse(&g_req, big, ISCSI_TEXT_MAX_LEN, NULL, 0) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
}

static void
test_textbuf(void)
{
	char b[12];
	struct iscsi_textbuf tb = { .buf = b, .len = 0, .cap = sizeof(b) };

	CU_ASSERT(iscsi_textbuf_add(&tb, "Ab", "cd") == 0);	/* 6 bytes */
	CU_ASSERT(tb.len == 6 && memcmp(b, "Ab=cd\0", 6) == 0);
	CU_ASSERT(iscsi_textbuf_add(&tb, "E", "fgh") == 0);	/* 6 more: exactly full */
	CU_ASSERT(tb.len == 12);
	CU_ASSERT(iscsi_textbuf_add(&tb, "X", "") == -ENOSPC);
	CU_ASSERT(tb.len == 12);
	tb.len = 10;
	CU_ASSERT(iscsi_textbuf_add(&tb, "Y", "z") == -ENOSPC);	/* needs 4, 2 left */
	tb.buf = NULL;
	tb.len = 0;
	CU_ASSERT(iscsi_textbuf_add(&tb, "Y", "z") == -ENOSPC);
}

static void
test_numbers(void)
{
	uint64_t v;

	CU_ASSERT(iscsi_param_parse_number("0", &v) == 0 && v == 0);
	CU_ASSERT(iscsi_param_parse_number("8192", &v) == 0 && v == 8192);
	CU_ASSERT(iscsi_param_parse_number("0x2000", &v) == 0 && v == 8192);
	CU_ASSERT(iscsi_param_parse_number("0XfF", &v) == 0 && v == 255);
	CU_ASSERT(iscsi_param_parse_number("18446744073709551615", &v) == 0 && v == UINT64_MAX);
	CU_ASSERT(iscsi_param_parse_number("18446744073709551616", &v) == -EINVAL);
	CU_ASSERT(iscsi_param_parse_number("0xffffffffffffffff", &v) == 0 && v == UINT64_MAX);
	CU_ASSERT(iscsi_param_parse_number("0x1ffffffffffffffff", &v) == -EINVAL);
	CU_ASSERT(iscsi_param_parse_number("", &v) == -EINVAL);
	CU_ASSERT(iscsi_param_parse_number("0x", &v) == -EINVAL);
	CU_ASSERT(iscsi_param_parse_number("-1", &v) == -EINVAL);
	CU_ASSERT(iscsi_param_parse_number("+1", &v) == -EINVAL);
	CU_ASSERT(iscsi_param_parse_number(" 1", &v) == -EINVAL);
	CU_ASSERT(iscsi_param_parse_number("1 ", &v) == -EINVAL);
	CU_ASSERT(iscsi_param_parse_number("12a", &v) == -EINVAL);
	CU_ASSERT(iscsi_param_parse_number("0x1g", &v) == -EINVAL);
	CU_ASSERT(iscsi_param_parse_number("0b1010", &v) == -EINVAL);
}

/* ---- negotiation ---- */

/* What open-iscsi sends for a normal session without CHAP. */
static void
test_normal_login_defaults(void)
{
	struct iscsi_nego n;
	bool t;

	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY,
		      "InitiatorName=iqn.1993-08.org.debian:01:abc|InitiatorAlias=host|"
		      "SessionType=Normal|TargetName=iqn.2016-06.io.osprey:t1|AuthMethod=None",
		      &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(ans_is("AuthMethod", "None"));
	CU_ASSERT(ans("InitiatorName") == NULL && ans("SessionType") == NULL &&
		  ans("TargetName") == NULL);
	CU_ASSERT_STRING_EQUAL(n.sess.initiator_name, "iqn.1993-08.org.debian:01:abc");
	CU_ASSERT_STRING_EQUAL(n.sess.initiator_alias, "host");
	CU_ASSERT_STRING_EQUAL(n.sess.target_name, "iqn.2016-06.io.osprey:t1");
	CU_ASSERT(n.sess.session_type == ISCSI_SESSION_TYPE_NORMAL);
	CU_ASSERT(n.authenticated);

	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL,
		      "HeaderDigest=None|DataDigest=None|MaxConnections=1|InitialR2T=No|"
		      "ImmediateData=Yes|MaxRecvDataSegmentLength=262144|MaxBurstLength=16776192|"
		      "FirstBurstLength=262144|DefaultTime2Wait=2|DefaultTime2Retain=0|"
		      "MaxOutstandingR2T=1|DataPDUInOrder=Yes|DataSequenceInOrder=Yes|"
		      "ErrorRecoveryLevel=0|IFMarker=No|OFMarker=No", &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(ans_is("HeaderDigest", "None"));
	CU_ASSERT(ans_is("DataDigest", "None"));
	CU_ASSERT(ans_is("MaxConnections", "1"));
	CU_ASSERT(ans_is("InitialR2T", "Yes"));		/* OR with ours (Yes) */
	CU_ASSERT(ans_is("ImmediateData", "Yes"));
	CU_ASSERT(ans_is("MaxRecvDataSegmentLength", "8192"));	/* our declaration */
	CU_ASSERT(ans_is("MaxBurstLength", "262144"));
	CU_ASSERT(ans_is("FirstBurstLength", "65536"));
	CU_ASSERT(ans_is("DefaultTime2Wait", "2"));
	CU_ASSERT(ans_is("DefaultTime2Retain", "0"));
	CU_ASSERT(ans_is("MaxOutstandingR2T", "1"));
	CU_ASSERT(ans_is("DataPDUInOrder", "Yes"));
	CU_ASSERT(ans_is("DataSequenceInOrder", "Yes"));
	CU_ASSERT(ans_is("ErrorRecoveryLevel", "0"));
	CU_ASSERT(ans_is("IFMarker", "No"));
	CU_ASSERT(ans_is("OFMarker", "No"));
	CU_ASSERT(n.conn.max_send_dsl == 262144);
	CU_ASSERT(n.conn.max_recv_dsl == 8192);
	CU_ASSERT(n.sess.max_burst_length == 262144);
	CU_ASSERT(n.sess.first_burst_length == 65536);
	CU_ASSERT(n.sess.initial_r2t == true);
	CU_ASSERT(n.sess.default_time2retain == 0);
	CU_ASSERT(!n.conn.header_digest && !n.conn.data_digest);
	rsp_reset();
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) == 0);
	CU_ASSERT(g_rsp.len == 0);	/* MRDSL already declared */
}

/* The target's own settings change the answers. */
static void
test_target_settings(void)
{
	struct iscsi_nego n;
	bool t;

	g_defs.initial_r2t = false;
	g_defs.max_connections = 4;
	g_defs.max_burst_length = 1048576;
	g_defs.first_burst_length = 131072;
	g_defs.max_outstanding_r2t = 16;
	g_defs.default_time2wait = 5;
	g_defs.max_recv_data_segment_length = 65536;
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL,
		      "InitiatorName=iqn.a|TargetName=iqn.t|MaxConnections=8|InitialR2T=No|"
		      "MaxBurstLength=524288|FirstBurstLength=524288|MaxOutstandingR2T=8|"
		      "DefaultTime2Wait=1|DataPDUInOrder=No", &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(ans_is("MaxConnections", "4"));
	CU_ASSERT(ans_is("InitialR2T", "No"));
	CU_ASSERT(ans_is("MaxBurstLength", "524288"));
	/* min(524288, 131072), also <= MaxBurstLength. */
	CU_ASSERT(ans_is("FirstBurstLength", "131072"));
	CU_ASSERT(ans_is("MaxOutstandingR2T", "8"));
	CU_ASSERT(ans_is("DefaultTime2Wait", "5"));	/* max function */
	CU_ASSERT(ans_is("DataPDUInOrder", "Yes"));	/* OR with ours */
	CU_ASSERT(ans_is("MaxRecvDataSegmentLength", "65536"));
	CU_ASSERT(n.sess.max_connections == 4 && !n.sess.initial_r2t);
	CU_ASSERT(n.sess.max_outstanding_r2t == 8 && n.sess.default_time2wait == 5);
	CU_ASSERT(n.conn.max_recv_dsl == 65536);
	CU_ASSERT(n.conn.max_send_dsl == 8192);	/* the initiator declared nothing */
	iscsi_param_defaults_init(&g_defs);
}

/* FirstBurstLength is answered after MaxBurstLength whatever the order. */
static void
test_first_burst_le_max_burst(void)
{
	struct iscsi_nego n;

	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL,
		      "FirstBurstLength=65536|MaxBurstLength=16384", NULL) == 0);
	CU_ASSERT(ans_is("MaxBurstLength", "16384"));
	CU_ASSERT(ans_is("FirstBurstLength", "16384"));
	CU_ASSERT(n.sess.first_burst_length <= n.sess.max_burst_length);

	/* MaxBurstLength lowered in a later request below the FirstBurstLength result. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL,
		      "InitiatorName=iqn.a|TargetName=iqn.t|FirstBurstLength=65536", NULL) == 0);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "MaxBurstLength=4096", NULL) == 0);
	rsp_reset();
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) == 0);
	CU_ASSERT(n.sess.first_burst_length == 4096 && n.sess.max_burst_length == 4096);
}

static void
test_digests(void)
{
	struct iscsi_nego n;

	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "HeaderDigest=CRC32C,None|DataDigest=None,CRC32C",
		      NULL) == 0);
	CU_ASSERT(ans_is("HeaderDigest", "CRC32C"));
	CU_ASSERT(ans_is("DataDigest", "None"));
	CU_ASSERT(n.conn.header_digest && !n.conn.data_digest);

	/* Unknown values are skipped; nothing acceptable is Reject. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL,
		      "HeaderDigest=Y-com.example.sha,CRC32C|DataDigest=MD5,Y-x", NULL) == 0);
	CU_ASSERT(ans_is("HeaderDigest", "CRC32C"));
	CU_ASSERT(ans_is("DataDigest", "Reject"));
	CU_ASSERT(n.conn.header_digest && !n.conn.data_digest);

	/* Digests off on the target. */
	g_defs.allow_digests = false;
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "HeaderDigest=CRC32C,None|DataDigest=CRC32C",
		      NULL) == 0);
	CU_ASSERT(ans_is("HeaderDigest", "None"));
	CU_ASSERT(ans_is("DataDigest", "Reject"));
	CU_ASSERT(!n.conn.header_digest && !n.conn.data_digest);
	iscsi_param_defaults_init(&g_defs);

	/* A node that requires digests: None is skipped, and finish checks. */
	nego_new(&n, true);
	n.require_header_digest = true;
	n.require_data_digest = true;
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "InitiatorName=iqn.a|TargetName=iqn.t|"
		      "HeaderDigest=None,CRC32C|DataDigest=None", NULL) == 0);
	CU_ASSERT(ans_is("HeaderDigest", "CRC32C"));
	CU_ASSERT(ans_is("DataDigest", "Reject"));
	rsp_reset();
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	CU_ASSERT(strstr(g_err, "data digests") != NULL);
	g_defs.allow_digests = false;	/* the node's requirement wins */
	nego_new(&n, true);
	n.require_header_digest = true;
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "InitiatorName=iqn.a|TargetName=iqn.t|"
		      "HeaderDigest=None,CRC32C|DataDigest=None,CRC32C", NULL) == 0);
	CU_ASSERT(ans_is("HeaderDigest", "CRC32C"));
	CU_ASSERT(ans_is("DataDigest", "None"));
	rsp_reset();
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) == 0);
	iscsi_param_defaults_init(&g_defs);
	/* No digest keys at all: the default None cannot satisfy the node. */
	nego_new(&n, true);
	n.require_header_digest = true;
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "InitiatorName=iqn.a|TargetName=iqn.t", NULL) == 0);
	rsp_reset();
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);

	/* Empty list elements and an empty list. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "HeaderDigest=,,CRC32C|DataDigest=", NULL) == 0);
	CU_ASSERT(ans_is("HeaderDigest", "CRC32C"));
	CU_ASSERT(ans_is("DataDigest", "Reject"));
}

/* Every numerical key: domain edges, out of domain Reject, not a number Reject. */
static void
test_numerical_domains(void)
{
	static const struct {
		const char *key;
		const char *lo, *hi, *below, *above;
	} k[] = {
		{ "MaxConnections", "1", "65535", "0", "65536" },
		{ "MaxBurstLength", "512", "16777215", "511", "16777216" },
		{ "FirstBurstLength", "512", "16777215", "511", "16777216" },
		{ "DefaultTime2Wait", "0", "3600", NULL, "3601" },
		{ "DefaultTime2Retain", "0", "3600", NULL, "3601" },
		{ "MaxOutstandingR2T", "1", "65535", "0", "65536" },
		{ "ErrorRecoveryLevel", "0", "2", NULL, "3" },
		{ "iSCSIProtocolLevel", "0", "31", NULL, "32" },
	};
	struct iscsi_nego n;
	char req[128];
	unsigned int i;

	for (i = 0; i < OSP_COUNTOF(k); i++) {
		const char *vals[4] = { k[i].lo, k[i].hi, k[i].below, k[i].above };
		int j;

		for (j = 0; j < 4; j++) {
			if (vals[j] == NULL) {
				continue;
			}
			nego_new(&n, true);
			snprintf(req, sizeof(req), "%s=%s", k[i].key, vals[j]);
			CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, req, NULL) == 0);
			if (j < 2) {
				CU_ASSERT(ans(k[i].key) != NULL && strcmp(ans(k[i].key), "Reject") != 0);
			} else {
				CU_ASSERT(ans_is(k[i].key, "Reject"));
			}
		}
		nego_new(&n, true);
		snprintf(req, sizeof(req), "%s=abc", k[i].key);
		CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, req, NULL) == 0);
		CU_ASSERT(ans_is(k[i].key, "Reject"));
		nego_new(&n, true);
		snprintf(req, sizeof(req), "%s=", k[i].key);
		CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, req, NULL) == 0);
		CU_ASSERT(ans_is(k[i].key, "Reject"));
	}
	/* Hex values are numbers too. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "MaxBurstLength=0x1000", NULL) == 0);
	CU_ASSERT(ans_is("MaxBurstLength", "4096"));
	/* ERL: only 0 is implemented; min(2, 0) = 0. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "ErrorRecoveryLevel=2", NULL) == 0);
	CU_ASSERT(ans_is("ErrorRecoveryLevel", "0"));
	CU_ASSERT(n.sess.error_recovery_level == 0);
	/* Protocol level: ours is 1 (RFC 7143). */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "iSCSIProtocolLevel=2", NULL) == 0);
	CU_ASSERT(ans_is("iSCSIProtocolLevel", "1"));
	/* A rejected key keeps its default. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "MaxBurstLength=100", NULL) == 0);
	CU_ASSERT(n.sess.max_burst_length == 262144);
}

static void
test_booleans(void)
{
	static const struct {
		const char *key;
		bool is_or;
	} k[] = {
		{ "InitialR2T", true }, { "ImmediateData", false },
		{ "DataPDUInOrder", true }, { "DataSequenceInOrder", true },
	};
	struct iscsi_nego n;
	char req[64];
	unsigned int i;
	int ours, theirs;

	for (i = 0; i < OSP_COUNTOF(k); i++) {
		for (ours = 0; ours < 2; ours++) {
			for (theirs = 0; theirs < 2; theirs++) {
				bool want = k[i].is_or ? (ours || theirs) : (ours && theirs);

				iscsi_param_defaults_init(&g_defs);
				g_defs.initial_r2t = g_defs.immediate_data = g_defs.data_pdu_in_order =
					g_defs.data_sequence_in_order = ours;
				nego_new(&n, true);
				snprintf(req, sizeof(req), "%s=%s", k[i].key, theirs ? "Yes" : "No");
				CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, req, NULL) == 0);
				CU_ASSERT(ans_is(k[i].key, want ? "Yes" : "No"));
			}
		}
		iscsi_param_defaults_init(&g_defs);
		nego_new(&n, true);
		snprintf(req, sizeof(req), "%s=yes", k[i].key);	/* case matters */
		CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, req, NULL) == 0);
		CU_ASSERT(ans_is(k[i].key, "Reject"));
	}
	iscsi_param_defaults_init(&g_defs);
}

static void
test_unknown_and_private_keys(void)
{
	struct iscsi_nego n;

	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL,
		      "X-com.example.Foo=1|X#12345=bar|SomethingNew=Yes|"
		      "X-com.microsoft.CoolNewFeature=Yes", NULL) == 0);
	CU_ASSERT(ans_is("X-com.example.Foo", "NotUnderstood"));
	CU_ASSERT(ans_is("X#12345", "NotUnderstood"));
	CU_ASSERT(ans_is("SomethingNew", "NotUnderstood"));
	CU_ASSERT(ans_is("X-com.microsoft.CoolNewFeature", "NotUnderstood"));
}

/* Obsolete markers (RFC 7143 13.26), TaskReporting, target-only and FFPO keys. */
static void
test_special_keys(void)
{
	struct iscsi_nego n;

	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL,
		      "IFMarker=Yes|OFMarker=maybe|IFMarkInt=2048~8192|OFMarkInt=1|"
		      "TaskReporting=FastAbort,RFC3720|TargetAlias=x|TargetAddress=1.2.3.4|"
		      "TargetPortalGroupTag=1|SendTargets=All", NULL) == 0);
	CU_ASSERT(ans_is("IFMarker", "No"));
	CU_ASSERT(ans_is("OFMarker", "Reject"));
	CU_ASSERT(ans_is("IFMarkInt", "Reject"));
	CU_ASSERT(ans_is("OFMarkInt", "Reject"));
	CU_ASSERT(ans_is("TaskReporting", "RFC3720"));
	CU_ASSERT(ans_is("TargetAlias", "Reject"));
	CU_ASSERT(ans_is("TargetAddress", "Reject"));
	CU_ASSERT(ans_is("TargetPortalGroupTag", "Reject"));
	CU_ASSERT(ans_is("SendTargets", "Reject"));

	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "TaskReporting=FastAbort", NULL) == 0);
	CU_ASSERT(ans_is("TaskReporting", "Reject"));

	/* A "value" that is an answer constant is no offer. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "MaxBurstLength=NotUnderstood", NULL) == 0);
	CU_ASSERT(ans_is("MaxBurstLength", "Reject"));
}

static void
test_discovery_irrelevant(void)
{
	struct iscsi_nego n;
	bool t;

	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL,
		      "MaxConnections=1|InitialR2T=No|ImmediateData=Yes|MaxBurstLength=4096|"
		      "FirstBurstLength=4096|MaxOutstandingR2T=1|DataPDUInOrder=Yes|"
		      "DataSequenceInOrder=Yes|TaskReporting=RFC3720|DefaultTime2Wait=2|"
		      "ErrorRecoveryLevel=0|HeaderDigest=None|MaxRecvDataSegmentLength=32768|"
		      "InitiatorName=iqn.a|SessionType=Discovery", &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(n.sess.session_type == ISCSI_SESSION_TYPE_DISCOVERY);
	CU_ASSERT(ans_is("MaxConnections", "Irrelevant"));
	CU_ASSERT(ans_is("InitialR2T", "Irrelevant"));
	CU_ASSERT(ans_is("ImmediateData", "Irrelevant"));
	CU_ASSERT(ans_is("MaxBurstLength", "Irrelevant"));
	CU_ASSERT(ans_is("FirstBurstLength", "Irrelevant"));
	CU_ASSERT(ans_is("MaxOutstandingR2T", "Irrelevant"));
	CU_ASSERT(ans_is("DataPDUInOrder", "Irrelevant"));
	CU_ASSERT(ans_is("DataSequenceInOrder", "Irrelevant"));
	CU_ASSERT(ans_is("TaskReporting", "Irrelevant"));
	CU_ASSERT(ans_is("DefaultTime2Wait", "2"));
	CU_ASSERT(ans_is("ErrorRecoveryLevel", "0"));
	CU_ASSERT(ans_is("HeaderDigest", "None"));
	CU_ASSERT(n.conn.max_send_dsl == 32768);
	CU_ASSERT(n.sess.max_burst_length == 262144);	/* untouched */
	/* No TargetName needed for discovery. */
	rsp_reset();
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) == 0);

	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "SessionType=Bogus", NULL) ==
		  ISCSI_LOGIN_STATUS_SESSION_TYPE_UNSUPP);
}

static void
test_leading_only(void)
{
	struct iscsi_nego n;

	nego_new(&n, false);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL,
		      "InitiatorName=iqn.a|TargetName=iqn.t|SessionType=Normal|MaxConnections=2|"
		      "MaxBurstLength=4096|InitialR2T=No|ErrorRecoveryLevel=0|"
		      "HeaderDigest=CRC32C|MaxRecvDataSegmentLength=4096", NULL) == 0);
	CU_ASSERT(ans_is("MaxConnections", "Irrelevant"));
	CU_ASSERT(ans_is("MaxBurstLength", "Irrelevant"));
	CU_ASSERT(ans_is("InitialR2T", "Irrelevant"));
	CU_ASSERT(ans_is("ErrorRecoveryLevel", "Irrelevant"));
	/* The session's values (copied in by login.c) are not touched. */
	CU_ASSERT(n.sess.max_burst_length == 262144 && n.sess.initial_r2t);
	CU_ASSERT(ans("SessionType") == NULL);
	/* Connection keys are negotiated on every connection. */
	CU_ASSERT(ans_is("HeaderDigest", "CRC32C"));
	CU_ASSERT(n.conn.header_digest && n.conn.max_send_dsl == 4096);
	rsp_reset();
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) == 0);
}

static void
test_renegotiation(void)
{
	struct iscsi_nego n;

	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "MaxBurstLength=4096", NULL) == 0);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "MaxBurstLength=4096", NULL) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	CU_ASSERT(strstr(g_err, "twice") != NULL);

	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "HeaderDigest=None", NULL) == 0);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "HeaderDigest=CRC32C", NULL) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);

	/* Re-declaring a name with the same value is tolerated, another value is not. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "InitiatorName=iqn.a|TargetName=iqn.t", NULL) == 0);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "InitiatorName=iqn.a|TargetName=iqn.t", NULL) == 0);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "TargetName=iqn.other", NULL) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "SessionType=Discovery", NULL) == 0);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "SessionType=Normal", NULL) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	/* MaxRecvDataSegmentLength may be declared again (the last one counts). */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "MaxRecvDataSegmentLength=4096", NULL) == 0);
	CU_ASSERT(ans_is("MaxRecvDataSegmentLength", "8192"));
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "MaxRecvDataSegmentLength=16384", NULL) == 0);
	CU_ASSERT(ans("MaxRecvDataSegmentLength") == NULL);	/* declared once */
	CU_ASSERT(n.conn.max_send_dsl == 16384);
}

static void
test_mrdsl(void)
{
	struct iscsi_nego n;

	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "MaxRecvDataSegmentLength=512", NULL) == 0);
	CU_ASSERT(n.conn.max_send_dsl == 512);
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "MaxRecvDataSegmentLength=16777215", NULL) == 0);
	CU_ASSERT(n.conn.max_send_dsl == 16777215);
	/* Above the domain: the login fails too. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "MaxRecvDataSegmentLength=16777216", NULL) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	CU_ASSERT(strstr(g_err, "512") != NULL);
	/* Below 512 or garbage: we cannot serve it, the login fails. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "MaxRecvDataSegmentLength=511", NULL) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "MaxRecvDataSegmentLength=lots", NULL) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	/* Our value is clamped to the domain when declared. */
	g_defs.max_recv_data_segment_length = 100;
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "HeaderDigest=None", NULL) == 0);
	CU_ASSERT(ans_is("MaxRecvDataSegmentLength", "512"));
	g_defs.max_recv_data_segment_length = 1u << 25;
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "HeaderDigest=None", NULL) == 0);
	CU_ASSERT(ans_is("MaxRecvDataSegmentLength", "16777215"));
	iscsi_param_defaults_init(&g_defs);
}

/* Settings stricter than the RFC defaults are offered by the target. */
static void
test_target_offers(void)
{
	struct iscsi_nego n;
	bool t;

	g_defs.immediate_data = false;
	g_defs.max_burst_length = 65536;
	g_defs.first_burst_length = 8192;
	g_defs.default_time2retain = 5;
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "InitiatorName=iqn.a|TargetName=iqn.t|"
		      "HeaderDigest=None", &t) == 0);
	CU_ASSERT(!t);
	CU_ASSERT(ans_is("ImmediateData", "No"));
	CU_ASSERT(ans_is("MaxBurstLength", "65536"));
	CU_ASSERT(ans_is("FirstBurstLength", "8192"));
	CU_ASSERT(ans_is("DefaultTime2Retain", "5"));
	CU_ASSERT(ans("InitialR2T") == NULL);	/* ours is the default */
	/* Answers within the rules. */
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "ImmediateData=No|MaxBurstLength=32768|"
		      "FirstBurstLength=8192", &t) == 0);
	CU_ASSERT(!t);	/* DefaultTime2Retain still unanswered */
	CU_ASSERT(g_rsp.len == 0);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "DefaultTime2Retain=NotUnderstood", &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(!n.sess.immediate_data && n.sess.max_burst_length == 32768);
	CU_ASSERT(n.sess.first_burst_length == 8192 && n.sess.default_time2retain == 20);

	/* Answers breaking the rule fail the login. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "HeaderDigest=None", &t) == 0);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "MaxBurstLength=131072", &t) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "HeaderDigest=None", &t) == 0);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "ImmediateData=Yes", &t) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "HeaderDigest=None", &t) == 0);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "DefaultTime2Retain=9", &t) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);

	/* Keys the initiator offered itself are not offered again. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "ImmediateData=Yes|MaxBurstLength=1024|"
		      "FirstBurstLength=1024|DefaultTime2Retain=0", &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(ans_is("ImmediateData", "No"));
	CU_ASSERT(ans_is("MaxBurstLength", "1024"));

	/* The FirstBurstLength offered never exceeds the MaxBurstLength agreed. */
	g_defs.first_burst_length = 32768;
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "ImmediateData=Yes|MaxBurstLength=16384|"
		      "DefaultTime2Retain=0", &t) == 0);
	CU_ASSERT(!t);
	CU_ASSERT(ans_is("MaxBurstLength", "16384"));
	CU_ASSERT(ans_is("FirstBurstLength", "16384"));
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "FirstBurstLength=16384", &t) == 0);
	CU_ASSERT(t && n.sess.first_burst_length == 16384);

	/* Discovery sessions and non-leading connections get no offers. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "SessionType=Discovery", &t) == 0);
	CU_ASSERT(t && ans("ImmediateData") == NULL);
	nego_new(&n, false);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "HeaderDigest=None", &t) == 0);
	CU_ASSERT(t && ans("ImmediateData") == NULL);
	iscsi_param_defaults_init(&g_defs);
}

static void
test_stages_and_missing(void)
{
	struct iscsi_nego n;
	bool t;

	/* Operational keys may come in the security stage (0 -> 3 logins). */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "InitiatorName=iqn.a|TargetName=iqn.t|"
		      "AuthMethod=None|MaxBurstLength=4096|MaxRecvDataSegmentLength=4096", &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(ans_is("MaxBurstLength", "4096"));
	CU_ASSERT(ans_is("MaxRecvDataSegmentLength", "8192"));
	rsp_reset();
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) == 0);

	/*
	 * finish declares MRDSL if not done yet, in an operational-stage
	 * response only; from the security stage straight to full feature phase
	 * (0 -> 3) the default stays and nothing is added.
	 */
	g_defs.max_recv_data_segment_length = 65536;
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "InitiatorName=iqn.a|TargetName=iqn.t|"
		      "AuthMethod=None", &t) == 0);
	rsp_reset();
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) == 0);
	CU_ASSERT(g_rsp.len == 0);
	CU_ASSERT(n.conn.max_recv_dsl == 8192);
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "InitiatorName=iqn.a|TargetName=iqn.t|"
		      "AuthMethod=None", &t) == 0);
	/* An operational request that declares nothing: MRDSL goes in its answer. */
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "X-com.example.k=1", &t) == 0);
	CU_ASSERT(ans_is("MaxRecvDataSegmentLength", "65536"));
	CU_ASSERT(n.conn.max_recv_dsl == 65536);
	iscsi_param_defaults_init(&g_defs);

	/* Security keys in the operational stage. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "AuthMethod=None", NULL) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "CHAP_A=5", NULL) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	/* Bad stage. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_FULL_FEATURE, "HeaderDigest=None", NULL) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	CU_ASSERT(run(&n, (enum iscsi_nego_stage)2, "HeaderDigest=None", NULL) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);

	/* Missing names. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "TargetName=iqn.t", NULL) == 0);
	rsp_reset();
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) ==
		  ISCSI_LOGIN_STATUS_MISSING_PARAM);
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, "InitiatorName=iqn.a", NULL) == 0);
	rsp_reset();
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) ==
		  ISCSI_LOGIN_STATUS_MISSING_PARAM);
	CU_ASSERT(strstr(g_err, "TargetName") != NULL);

	/* Names: empty or over 223 bytes. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "InitiatorName=", NULL) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	{
		char req[300];

		strcpy(req, "TargetName=iqn.");
		memset(req + 15, 'a', 220);	/* "iqn." + 220: a 224-byte name */
		req[15 + 220] = '\0';
		nego_new(&n, true);
		CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, req, NULL) ==
			  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
		req[15 + 219] = '\0';	/* 223 */
		nego_new(&n, true);
		CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, req, NULL) == 0);
	}
}

/* The response buffer running out is OUT_OF_RESOURCES, not an overflow. */
static void
test_response_full(void)
{
	struct iscsi_nego n;
	char req[256], small[20];
	struct iscsi_textbuf tb = { .buf = small, .len = 0, .cap = sizeof(small) };
	bool t;

	nego_new(&n, true);
	mk(req, "HeaderDigest=None|DataDigest=None|MaxBurstLength=4096");
	CU_ASSERT(iscsi_text_parse(&g_req, req, strlen("HeaderDigest=None|DataDigest=None|"
		  "MaxBurstLength=4096") + 1, NULL, 0) == 0);
	CU_ASSERT(iscsi_nego_process(&n, ISCSI_STAGE_OPERATIONAL, &g_req, &tb, &t, g_err,
				     sizeof(g_err)) == ISCSI_LOGIN_STATUS_OUT_OF_RESOURCES);
	CU_ASSERT(tb.len <= tb.cap);
}

/* Full feature phase Text keys. */
static void
test_text_ffp(void)
{
	struct iscsi_nego n;
	char buf[256];
	size_t len;

	nego_new(&n, true);
	n.conn.max_send_dsl = 8192;
	len = mk(buf, "MaxRecvDataSegmentLength=65536|SendTargets=All|InitiatorAlias=new|"
		 "MaxBurstLength=4096|X-foo=1|HeaderDigest=CRC32C");
	CU_ASSERT(iscsi_text_parse(&g_req, buf, len, NULL, 0) == 0);
	rsp_reset();
	CU_ASSERT(iscsi_nego_text(&n, &g_req, &g_rsp, g_err, sizeof(g_err)) == 0);
	CU_ASSERT(iscsi_text_parse(&g_rsp_parsed, g_rsp.buf, g_rsp.len, NULL, 0) == 0);
	CU_ASSERT(n.conn.max_send_dsl == 65536);
	CU_ASSERT(ans("MaxRecvDataSegmentLength") == NULL);
	CU_ASSERT(ans("SendTargets") == NULL);
	CU_ASSERT_STRING_EQUAL(n.sess.initiator_alias, "new");
	CU_ASSERT(ans_is("MaxBurstLength", "Reject"));
	CU_ASSERT(ans_is("HeaderDigest", "Reject"));
	CU_ASSERT(ans_is("X-foo", "NotUnderstood"));
	/* A bad MRDSL in FFP keeps the old one. */
	len = mk(buf, "MaxRecvDataSegmentLength=100");
	CU_ASSERT(iscsi_text_parse(&g_req, buf, len, NULL, 0) == 0);
	rsp_reset();
	CU_ASSERT(iscsi_nego_text(&n, &g_req, &g_rsp, g_err, sizeof(g_err)) == 0);
	CU_ASSERT(n.conn.max_send_dsl == 65536);
	CU_ASSERT(strcmp(g_rsp.buf, "MaxRecvDataSegmentLength=Reject") == 0);
}

/*
 * Replays of real initiators' login requests (keys and stage flags as sent),
 * captured with a proxy in front of tgtd 1.0.85: libiscsi 1.19 (iscsi-ls,
 * iscsi-inq). LIBISCSI_OP is what libiscsi offers in every operational
 * request, in discovery sessions too.
 */
#define LIBISCSI_OP \
	"HeaderDigest=None,CRC32C|DataDigest=None|InitialR2T=No|ImmediateData=Yes|" \
	"MaxBurstLength=262144|FirstBurstLength=262144|DefaultTime2Wait=2|" \
	"DefaultTime2Retain=0|MaxOutstandingR2T=1|ErrorRecoveryLevel=0|IFMarker=No|" \
	"OFMarker=No|MaxConnections=1|MaxRecvDataSegmentLength=262144|DataPDUInOrder=Yes|" \
	"DataSequenceInOrder=Yes"

/* iscsi-inq iscsi://127.0.0.1/iqn.../1: straight to the operational stage (CSG=1 NSG=3 T=1). */
static void
test_replay_libiscsi_normal(void)
{
	struct iscsi_nego n;
	bool t;

	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL,
		      "InitiatorName=iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-inq|"
		      "TargetName=iqn.2026-12.io.osprey.cap:noauth|SessionType=Normal|" LIBISCSI_OP,
		      &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(ans_is("HeaderDigest", "None"));
	CU_ASSERT(ans_is("DataDigest", "None"));
	CU_ASSERT(ans_is("InitialR2T", "Yes"));
	CU_ASSERT(ans_is("ImmediateData", "Yes"));
	CU_ASSERT(ans_is("MaxBurstLength", "262144"));
	CU_ASSERT(ans_is("FirstBurstLength", "65536"));
	CU_ASSERT(ans_is("DefaultTime2Wait", "2"));
	CU_ASSERT(ans_is("DefaultTime2Retain", "0"));
	CU_ASSERT(ans_is("MaxOutstandingR2T", "1"));
	CU_ASSERT(ans_is("ErrorRecoveryLevel", "0"));
	CU_ASSERT(ans_is("IFMarker", "No"));
	CU_ASSERT(ans_is("OFMarker", "No"));
	CU_ASSERT(ans_is("MaxConnections", "1"));
	CU_ASSERT(ans_is("DataPDUInOrder", "Yes"));
	CU_ASSERT(ans_is("DataSequenceInOrder", "Yes"));
	CU_ASSERT(ans_is("MaxRecvDataSegmentLength", "8192"));
	CU_ASSERT(g_rsp_parsed.npairs == 16);
	rsp_reset();
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) == 0);
	CU_ASSERT(g_rsp.len == 0);
	CU_ASSERT(n.conn.max_send_dsl == 262144);
}

/*
 * iscsi-ls iscsi://127.0.0.1: discovery straight to the operational stage,
 * with the normal-session keys (answered Irrelevant).
 */
static void
test_replay_libiscsi_discovery(void)
{
	struct iscsi_nego n;
	bool t;

	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL,
		      "InitiatorName=iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-ls|"
		      "SessionType=Discovery|" LIBISCSI_OP, &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(n.sess.session_type == ISCSI_SESSION_TYPE_DISCOVERY);
	CU_ASSERT(ans_is("InitialR2T", "Irrelevant"));
	CU_ASSERT(ans_is("MaxConnections", "Irrelevant"));
	CU_ASSERT(ans_is("HeaderDigest", "None"));
	CU_ASSERT(ans_is("ErrorRecoveryLevel", "0"));
	rsp_reset();
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) == 0);

	/*
	 * iscsi-ls with user%password: a security stage (CSG=0 NSG=1 T=1) where
	 * the target picks None, then the operational request re-declares
	 * InitiatorName and SessionType with the same values.
	 */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY,
		      "InitiatorName=iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-ls|"
		      "SessionType=Discovery|AuthMethod=CHAP,None", &t) == 0);
	/* CHAP allowed but no secrets (no auth group): None, as tgtd answers. */
	CU_ASSERT(ans_is("AuthMethod", "None"));
	CU_ASSERT(t);
	nego_new(&n, true);
	n.auth.disable_chap = true;
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY,
		      "InitiatorName=iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-ls|"
		      "SessionType=Discovery|AuthMethod=CHAP,None", &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(ans_is("AuthMethod", "None"));
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL,
		      "InitiatorName=iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-ls|"
		      "SessionType=Discovery|" LIBISCSI_OP, &t) == 0);
	CU_ASSERT(t);
	rsp_reset();
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) == 0);
}

/*
 * open-iscsi 2.1.8's rules for a login response's operational keys (its
 * usr/login.c, get_op_params_text_keys): any key it does not know fails the
 * login, digests must be None or CRC32C, MaxConnections and
 * MaxOutstandingR2T must be 1 in a normal session, ErrorRecoveryLevel 0.
 */
static bool
open_iscsi_accepts(const struct iscsi_text *a, bool normal)
{
	static const char *known[] = {
		"TargetAlias", "TargetAddress", "TargetPortalGroupTag", "InitialR2T",
		"ImmediateData", "MaxRecvDataSegmentLength", "FirstBurstLength",
		"MaxBurstLength", "HeaderDigest", "DataDigest", "DefaultTime2Wait",
		"DefaultTime2Retain", "OFMarker", "OFMarkInt", "IFMarker", "IFMarkInt",
		"DataPDUInOrder", "DataSequenceInOrder", "MaxOutstandingR2T", "MaxConnections",
		"ErrorRecoveryLevel",
	};
	uint32_t i;

	for (i = 0; i < a->npairs; i++) {
		const char *k = a->kv[i].key, *v = a->kv[i].val;
		bool found = false;
		unsigned int j;

		for (j = 0; j < OSP_COUNTOF(known); j++) {
			found = found || strcmp(k, known[j]) == 0;
		}
		if (!found) {
			printf("  open-iscsi does not know %s\n", k);
			return false;
		}
		if ((strcmp(k, "HeaderDigest") == 0 || strcmp(k, "DataDigest") == 0) &&
		    strcmp(v, "None") != 0 && strcmp(v, "CRC32C") != 0) {
			return false;
		}
		if (normal && (strcmp(k, "MaxConnections") == 0 ||
			       strcmp(k, "MaxOutstandingR2T") == 0) && strcmp(v, "1") != 0) {
			return false;
		}
		if (strcmp(k, "ErrorRecoveryLevel") == 0 && strcmp(v, "0") != 0) {
			return false;
		}
	}
	return true;
}

/*
 * open-iscsi 2.1.8's discovery (iscsiadm -m discovery -t st), captured: its
 * default MaxRecvDataSegmentLength (32768) makes it go through the
 * operational stage.
 */
#define OPEN_ISCSI_DISC_OP \
	"HeaderDigest=None|DataDigest=None|DefaultTime2Wait=2|DefaultTime2Retain=0|" \
	"IFMarker=No|OFMarker=No|ErrorRecoveryLevel=0|MaxRecvDataSegmentLength=32768"

static void
test_replay_open_iscsi_discovery(void)
{
	struct iscsi_nego n;
	bool t;

	/* No auth configured: straight to the operational stage (CSG=1 NSG=3 T=1). */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL,
		      "InitiatorName=iqn.2004-10.com.ubuntu:01:osprey-capture|"
		      "SessionType=Discovery|" OPEN_ISCSI_DISC_OP, &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(ans_is("HeaderDigest", "None"));
	CU_ASSERT(ans_is("DefaultTime2Retain", "0"));
	CU_ASSERT(ans_is("MaxRecvDataSegmentLength", "8192"));
	CU_ASSERT(open_iscsi_accepts(&g_rsp_parsed, false));
	CU_ASSERT(n.conn.max_send_dsl == 32768);
	rsp_reset();
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) == 0);

	/* With discovery CHAP configured and a target answering None: 0 -> 1 -> 3. */
	nego_new(&n, true);
	n.auth.disable_chap = true;
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY,
		      "InitiatorName=iqn.2004-10.com.ubuntu:01:osprey-capture|"
		      "SessionType=Discovery|AuthMethod=CHAP,None", &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(ans_is("AuthMethod", "None"));
	CU_ASSERT(g_rsp_parsed.npairs == 1);	/* only security keys in a security answer */
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL, OPEN_ISCSI_DISC_OP, &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(open_iscsi_accepts(&g_rsp_parsed, false));
	rsp_reset();
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) == 0);

	/*
	 * With discovery.sendtargets.iscsi.MaxRecvDataSegmentLength = 8192 and
	 * no digests it goes from the security stage straight to full feature
	 * phase (CSG=0 NSG=3 T=1, captured against iscsi_tgt): the one answer is
	 * a security-stage one, where open-iscsi takes only security keys.
	 */
	nego_new(&n, true);
	n.auth.disable_chap = true;
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY,
		      "InitiatorName=iqn.2004-10.com.ubuntu:01:osprey-capture|"
		      "SessionType=Discovery|AuthMethod=CHAP,None", &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(iscsi_textbuf_add(&g_rsp, "TargetPortalGroupTag", "1") == 0);	/* login.c's */
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) == 0);
	CU_ASSERT(iscsi_text_parse(&g_rsp_parsed, g_rsp.buf, g_rsp.len, NULL, 0) == 0);
	CU_ASSERT(g_rsp_parsed.npairs == 2 && ans_is("AuthMethod", "None"));
	CU_ASSERT(n.conn.max_recv_dsl == 8192 && n.conn.max_send_dsl == 8192);
}

/*
 * open-iscsi's normal session login as its iscsid builds it (usr/login.c,
 * fill_op_params_text, with Debian's iscsid.conf defaults). Not captured:
 * iscsid needs the kernel's iscsi_tcp to create a session before it logs in,
 * which this host lacks; the kernel initiator test covers the real thing.
 */
static void
test_replay_open_iscsi_normal(void)
{
	struct iscsi_nego n;
	bool t;

	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY,
		      "InitiatorName=iqn.2004-10.com.ubuntu:01:osprey-capture|"
		      "TargetName=iqn.2016-06.io.osprey:disk1|SessionType=Normal|AuthMethod=None",
		      &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(g_rsp_parsed.npairs == 1 && ans_is("AuthMethod", "None"));
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL,
		      "HeaderDigest=None|DataDigest=None|DefaultTime2Wait=2|DefaultTime2Retain=0|"
		      "IFMarker=No|OFMarker=No|ErrorRecoveryLevel=0|InitialR2T=No|ImmediateData=Yes|"
		      "MaxBurstLength=16776192|FirstBurstLength=262144|MaxOutstandingR2T=1|"
		      "MaxConnections=1|DataPDUInOrder=Yes|DataSequenceInOrder=Yes|"
		      "MaxRecvDataSegmentLength=262144", &t) == 0);
	CU_ASSERT(t);
	CU_ASSERT(open_iscsi_accepts(&g_rsp_parsed, true));
	CU_ASSERT(ans_is("MaxBurstLength", "262144"));
	CU_ASSERT(ans_is("FirstBurstLength", "65536"));
	CU_ASSERT(ans_is("MaxConnections", "1"));
	rsp_reset();
	CU_ASSERT(iscsi_nego_finish(&n, &g_rsp, g_err, sizeof(g_err)) == 0);

	/* The target's settings never push open-iscsi outside what it accepts. */
	g_defs.max_connections = 8;
	g_defs.max_outstanding_r2t = 16;
	g_defs.immediate_data = false;
	g_defs.max_burst_length = 65536;
	g_defs.first_burst_length = 4096;
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_OPERATIONAL,
		      "InitiatorName=iqn.2004-10.com.ubuntu:01:osprey-capture|"
		      "TargetName=iqn.2016-06.io.osprey:disk1|SessionType=Normal|"
		      "HeaderDigest=CRC32C,None|DataDigest=CRC32C,None|DefaultTime2Wait=2|"
		      "DefaultTime2Retain=0|IFMarker=No|OFMarker=No|ErrorRecoveryLevel=0|"
		      "InitialR2T=No|ImmediateData=Yes|MaxBurstLength=16776192|"
		      "FirstBurstLength=262144|MaxOutstandingR2T=1|MaxConnections=1|"
		      "DataPDUInOrder=Yes|DataSequenceInOrder=Yes|MaxRecvDataSegmentLength=262144",
		      &t) == 0);
	CU_ASSERT(t);	/* it offered every key: nothing for us to offer */
	CU_ASSERT(open_iscsi_accepts(&g_rsp_parsed, true));
	CU_ASSERT(ans_is("HeaderDigest", "CRC32C") && ans_is("ImmediateData", "No"));
	CU_ASSERT(ans_is("FirstBurstLength", "4096"));
	iscsi_param_defaults_init(&g_defs);
}

static void
test_text_checks(void)
{
	struct iscsi_nego n;
	char out[8];

	CU_ASSERT(iscsi_param_text_ok("iqn.2016-06.io.osprey:disk1", false));
	CU_ASSERT(iscsi_param_text_ok("iqn.2024-01.com.example:\xc3\xa9t\xc3\xa9", false));
	CU_ASSERT(iscsi_param_text_ok("\xf0\x9f\x92\xbe", false));	/* U+1F4BE */
	CU_ASSERT(iscsi_param_text_ok("a b", true));
	CU_ASSERT(!iscsi_param_text_ok("a b", false));
	CU_ASSERT(!iscsi_param_text_ok("a\tb", true));
	CU_ASSERT(!iscsi_param_text_ok("a\nb", true));
	CU_ASSERT(!iscsi_param_text_ok("a\x7f", true));
	CU_ASSERT(!iscsi_param_text_ok("\xc2\x85", true));		/* C1 NEL */
	CU_ASSERT(!iscsi_param_text_ok("\xc3", true));			/* truncated */
	CU_ASSERT(!iscsi_param_text_ok("\xc0\xaf", true));		/* overlong */
	CU_ASSERT(!iscsi_param_text_ok("\xe0\x80\xaf", true));		/* overlong */
	CU_ASSERT(!iscsi_param_text_ok("\xed\xa0\x80", true));		/* surrogate */
	CU_ASSERT(!iscsi_param_text_ok("\xf4\x90\x80\x80", true));	/* > U+10FFFF */
	CU_ASSERT(!iscsi_param_text_ok("\xff", true));
	CU_ASSERT(!iscsi_param_text_ok("\x80", true));
	CU_ASSERT_STRING_EQUAL(iscsi_param_printable("a\nb\xc3\xa9", out, sizeof(out)), "a?b??");
	CU_ASSERT_STRING_EQUAL(iscsi_param_printable("abcdefghij", out, sizeof(out)), "abcdefg");

	/* Names with spaces, control bytes or bad UTF-8 fail the login. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "InitiatorName=iqn.a b", NULL) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "TargetName=iqn.t\x1b[2J", NULL) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "TargetName=iqn.t\xff", NULL) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "InitiatorName=iqn.2024-01.com.example:\xc3\xa9",
		      NULL) == 0);
	/* A bad alias is refused, the login goes on. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "InitiatorAlias=my\nhost", NULL) == 0);
	CU_ASSERT(ans_is("InitiatorAlias", "Reject"));
	CU_ASSERT(n.sess.initiator_alias[0] == '\0');
	/* The log line never carries the peer's raw bytes. */
	nego_new(&n, true);
	CU_ASSERT(run(&n, ISCSI_STAGE_SECURITY, "SessionType=\x1b[31mX", NULL) ==
		  ISCSI_LOGIN_STATUS_SESSION_TYPE_UNSUPP);
	CU_ASSERT(strchr(g_err, '\x1b') == NULL);
	CU_ASSERT(iscsi_text_parse(&g_req, "A\x1b[2J", 6, g_err, sizeof(g_err)) ==
		  ISCSI_LOGIN_STATUS_INITIATOR_ERROR);
	CU_ASSERT(strchr(g_err, '\x1b') == NULL);
}

int
main(void)
{
	CU_pSuite suite;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	iscsi_param_defaults_init(&g_defs);
	suite = CU_add_suite("iscsi_param", NULL, NULL);
	CU_ADD_TEST(suite, test_parse_basic);
	CU_ADD_TEST(suite, test_parse_bad);
	CU_ADD_TEST(suite, test_textbuf);
	CU_ADD_TEST(suite, test_numbers);
	CU_ADD_TEST(suite, test_normal_login_defaults);
	CU_ADD_TEST(suite, test_target_settings);
	CU_ADD_TEST(suite, test_first_burst_le_max_burst);
	CU_ADD_TEST(suite, test_digests);
	CU_ADD_TEST(suite, test_numerical_domains);
	CU_ADD_TEST(suite, test_booleans);
	CU_ADD_TEST(suite, test_unknown_and_private_keys);
	CU_ADD_TEST(suite, test_special_keys);
	CU_ADD_TEST(suite, test_discovery_irrelevant);
	CU_ADD_TEST(suite, test_leading_only);
	CU_ADD_TEST(suite, test_renegotiation);
	CU_ADD_TEST(suite, test_mrdsl);
	CU_ADD_TEST(suite, test_target_offers);
	CU_ADD_TEST(suite, test_stages_and_missing);
	CU_ADD_TEST(suite, test_response_full);
	CU_ADD_TEST(suite, test_text_ffp);
	CU_ADD_TEST(suite, test_text_checks);
	CU_ADD_TEST(suite, test_replay_libiscsi_normal);
	CU_ADD_TEST(suite, test_replay_libiscsi_discovery);
	CU_ADD_TEST(suite, test_replay_open_iscsi_discovery);
	CU_ADD_TEST(suite, test_replay_open_iscsi_normal);
	return ut_run_suites();
}
