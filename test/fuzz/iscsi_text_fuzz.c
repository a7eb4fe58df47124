/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the iSCSI login text keys: the parser
 * (iscsi_text_parse) and the negotiation (iscsi_nego_process / finish /
 * text, CHAP included) in lib/iscsi/param.c and chap.c, driven through one
 * connection's login by the fuzz input.
 *
 * Input layout: byte 0 = config, then records [op][len lo][len hi][len bytes]
 * (at most 16), each the data segment of one request:
 *
 *   config bit 0: leading connection (else a non-leading one)
 *   config bit 1-2: auth policy: 0 CHAP or None, 1 None only, 2 CHAP
 *                   required, 3 mutual CHAP required
 *   config bit 3: digests off on the target
 *   config bit 4: target settings stricter than the RFC defaults (the target
 *                 makes offers)
 *   config bit 5: a 64-byte response buffer (else 8 KiB)
 *   config bit 6: no secrets lookup
 *   config bit 7: the node requires header and data digests
 *   op & 3: 0 security-stage request, 1 operational-stage request,
 *           2 finish (end of login; the data is ignored), 3 full feature
 *           phase Text request
 *
 * The CHAP identifier and challenge are pinned after every request (id 42,
 * bytes 0..15) so that inputs can carry a correct CHAP_R: user "u" with
 * secret "secret-of-u-1234" answers with 0x5413648535f29f78d5588e602800314c,
 * and asks for mutual CHAP with any challenge (target name "t", secret
 * "secret-of-t-5678").
 *
 * Invariants checked (abort() on violation; ASan/UBSan catch memory errors):
 * - a status is one the header defines; a failed step ends the login;
 * - on success the answer text fits its buffer and parses again as valid
 *   text with no key twice (what an initiator's parser would get);
 * - negotiated values stay in their RFC 7143 domains (data segment lengths
 *   512..2^24-1, ERL 0, MaxConnections >= 1, MaxOutstandingR2T >= 1);
 * - after finish: FirstBurstLength <= MaxBurstLength and authentication
 *   done (CHAP verified when the policy requires it);
 * - authenticated never holds with CHAP required unless CHAP succeeded.
 *
 * Build (test/fuzz/run.sh does):
 *   clang -std=gnu11 -g -O1 -D_GNU_SOURCE -msse4.2 -I include -I lib \
 *     -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *     test/fuzz/iscsi_text_fuzz.c lib/iscsi/param.c lib/iscsi/chap.c \
 *     lib/util/md5.c lib/util/util.c -o build/fuzz/iscsi_text_fuzz
 * With -DISCSI_TEXT_FUZZ_GEN_SEEDS (no -fsanitize=fuzzer) it writes the seeds
 * into the directory given as argument instead.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/util.h"
#include "iscsi/iscsi_param.h"

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                    \
			abort();                                                           \
		}                                                                          \
	} while (0)

#define FUZZ_MAX_RECORDS 16
#define DSL_MAX 16777215u

static int
fuzz_lookup(void *ctx, const char *user, struct iscsi_chap_secret *out)
{
	if (strcmp(user, "u") == 0) {
		snprintf(out->user, sizeof(out->user), "u");
		snprintf(out->secret, sizeof(out->secret), "secret-of-u-1234");
		snprintf(out->muser, sizeof(out->muser), "t");
		snprintf(out->msecret, sizeof(out->msecret), "secret-of-t-5678");
		return 0;
	}
	if (strcmp(user, "nomutual") == 0) {
		snprintf(out->secret, sizeof(out->secret), "secret-of-u-1234");
		return 0;
	}
	return -ENOENT;
}

static bool
status_known(uint16_t st)
{
	switch (st) {
	case ISCSI_LOGIN_STATUS_SUCCESS:
	case ISCSI_LOGIN_STATUS_INITIATOR_ERROR:
	case ISCSI_LOGIN_STATUS_AUTH_FAILED:
	case ISCSI_LOGIN_STATUS_MISSING_PARAM:
	case ISCSI_LOGIN_STATUS_SESSION_TYPE_UNSUPP:
	case ISCSI_LOGIN_STATUS_TARGET_ERROR:
	case ISCSI_LOGIN_STATUS_OUT_OF_RESOURCES:
		return true;
	default:
		return false;
	}
}

static void
check_domains(const struct iscsi_nego *n)
{
	CHECK(n->conn.max_send_dsl >= 512 && n->conn.max_send_dsl <= DSL_MAX);
	CHECK(n->conn.max_recv_dsl >= 512 && n->conn.max_recv_dsl <= DSL_MAX);
	if (n->leading) {
		CHECK(n->sess.max_burst_length >= 512 && n->sess.max_burst_length <= DSL_MAX);
		CHECK(n->sess.first_burst_length >= 512 && n->sess.first_burst_length <= DSL_MAX);
		CHECK(n->sess.error_recovery_level == 0);
		CHECK(n->sess.max_connections >= 1 && n->sess.max_connections <= 65535);
		CHECK(n->sess.max_outstanding_r2t >= 1 && n->sess.max_outstanding_r2t <= 65535);
		CHECK(n->sess.default_time2wait <= 3600 && n->sess.default_time2retain <= 3600);
	}
	CHECK(n->sess.session_type == ISCSI_SESSION_TYPE_NORMAL ||
	      n->sess.session_type == ISCSI_SESSION_TYPE_DISCOVERY);
	CHECK(memchr(n->sess.initiator_name, 0, sizeof(n->sess.initiator_name)) != NULL);
	CHECK(memchr(n->sess.target_name, 0, sizeof(n->sess.target_name)) != NULL);
	CHECK(memchr(n->sess.initiator_alias, 0, sizeof(n->sess.initiator_alias)) != NULL);
}

/*
 * The answer as an initiator would parse it: "key=value\0" pairs, keys of 1
 * to 63 bytes, values of at most 255 (CHAP_C/CHAP_R: 8192), no key twice.
 * Not iscsi_text_parse: an answer may hold more pairs than a request may (64
 * NotUnderstood answers and our MaxRecvDataSegmentLength declaration).
 */
static void
check_answer(const struct iscsi_textbuf *tb)
{
	static const char *keys[512];
	uint32_t off = 0, nkeys = 0, i;

	CHECK(tb->len <= tb->cap);
	CHECK(tb->len == 0 || tb->buf[tb->len - 1] == '\0');
	while (off < tb->len) {
		const char *p = tb->buf + off;
		size_t l = strlen(p);
		const char *eq = memchr(p, '=', l);

		CHECK(l > 0 && eq != NULL);
		CHECK(eq - p >= 1 && eq - p <= ISCSI_TEXT_MAX_KEY_LEN);
		CHECK(l - (size_t)(eq - p) - 1 <= ((strncmp(p, "CHAP_C=", 7) == 0 ||
						    strncmp(p, "CHAP_R=", 7) == 0) ?
						   ISCSI_TEXT_MAX_VAL_LEN : 255));
		for (i = 0; i < nkeys; i++) {
			CHECK(strncmp(keys[i], p, (size_t)(eq - p) + 1) != 0);
		}
		CHECK(nkeys < OSP_COUNTOF(keys));
		keys[nkeys++] = p;
		off += (uint32_t)l + 1;
	}
}

static void
pin_chap(struct iscsi_nego *n)
{
	uint32_t i;

	if (n->chap_challenge_len == 0) {
		return;
	}
	n->chap_id = 42;
	for (i = 0; i < n->chap_challenge_len && i < sizeof(n->chap_challenge); i++) {
		n->chap_challenge[i] = (uint8_t)i;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ISCSI_TEXT_FUZZ_VERBOSE=1: print each step (to read a reproducer). */
static void
trace(uint8_t op, uint16_t st, const char *err, const struct iscsi_textbuf *tb)
{
	static int verbose = -1;
	uint32_t i;

	if (verbose < 0) {
		verbose = getenv("ISCSI_TEXT_FUZZ_VERBOSE") != NULL;
	}
	if (!verbose) {
		return;
	}
	fprintf(stderr, "op %u: status 0x%04x %s answer:", op & 3, st, err);
	for (i = 0; i < tb->len; i++) {
		fputc(tb->buf[i] ? tb->buf[i] : '|', stderr);
	}
	fputc('\n', stderr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct iscsi_text req;
	static char rspbuf[8192];
	struct iscsi_param_defaults defs;
	struct iscsi_textbuf rsp;
	struct iscsi_nego n;
	char err[256];
	size_t off = 1;
	uint8_t cfg;
	int records = 0;
	bool requires_chap;

	if (size < 1) {
		return 0;
	}
	cfg = data[0];
	iscsi_param_defaults_init(&defs);
	defs.allow_digests = !(cfg & 0x08);
	if (cfg & 0x10) {
		defs.immediate_data = false;
		defs.initial_r2t = false;
		defs.max_burst_length = 65536;
		defs.first_burst_length = 4096;
		defs.default_time2wait = 5;
		defs.default_time2retain = 5;
		defs.max_recv_data_segment_length = 1u << 20;
	}
	iscsi_nego_init(&n, &defs, cfg & 0x01);
	switch ((cfg >> 1) & 3) {
	case 1:
		n.auth.disable_chap = true;
		break;
	case 2:
		n.auth.require_chap = true;
		break;
	case 3:
		n.auth.require_chap = true;
		n.auth.mutual_chap = true;
		break;
	default:
		break;
	}
	requires_chap = n.auth.require_chap;
	n.auth.lookup = (cfg & 0x40) ? NULL : fuzz_lookup;
	n.require_header_digest = n.require_data_digest = cfg & 0x80;

	while (off + 3 <= size && records++ < FUZZ_MAX_RECORDS) {
		uint8_t op = data[off];
		size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		uint16_t st;
		bool transit = false;

		off += 3;
		if (len > size - off) {
			len = size - off;
		}
		rsp.buf = rspbuf;
		rsp.len = 0;
		rsp.cap = (cfg & 0x20) ? 64 : sizeof(rspbuf);
		err[0] = '\0';
		if ((op & 3) == 2) {
			st = iscsi_nego_finish(&n, &rsp, err, sizeof(err));
			trace(op, st, err, &rsp);
			CHECK(status_known(st));
			if (st == ISCSI_LOGIN_STATUS_SUCCESS) {
				check_answer(&rsp);
				check_domains(&n);
				CHECK(n.authenticated);
				if (n.leading) {
					CHECK(n.sess.first_burst_length <= n.sess.max_burst_length);
				}
				if (n.sess.session_type == ISCSI_SESSION_TYPE_NORMAL) {
					CHECK(n.sess.target_name[0] != '\0');
				}
				CHECK(n.sess.initiator_name[0] != '\0');
				if (cfg & 0x80) {
					CHECK(n.conn.header_digest && n.conn.data_digest);
				}
			}
			break;	/* the login is over either way */
		}
		st = iscsi_text_parse(&req, data + off, len, err, sizeof(err));
		off += len;
		CHECK(status_known(st));
		CHECK(memchr(err, 0, sizeof(err)) != NULL);
		if (st != ISCSI_LOGIN_STATUS_SUCCESS) {
			CHECK(st == ISCSI_LOGIN_STATUS_INITIATOR_ERROR && err[0] != '\0');
			break;
		}
		CHECK(req.npairs <= ISCSI_TEXT_MAX_PAIRS);
		if ((op & 3) == 3) {
			st = iscsi_nego_text(&n, &req, &rsp, err, sizeof(err));
		} else {
			st = iscsi_nego_process(&n, (op & 3) == 0 ? ISCSI_STAGE_SECURITY :
						ISCSI_STAGE_OPERATIONAL, &req, &rsp, &transit, err,
						sizeof(err));
		}
		trace(op, st, err, &rsp);
		CHECK(status_known(st));
		CHECK(memchr(err, 0, sizeof(err)) != NULL);
		if (st != ISCSI_LOGIN_STATUS_SUCCESS) {
			/* Every refusal says why, for the log. */
			CHECK(err[0] != '\0');
			/* An authentication failure says nothing to the initiator. */
			if (st == ISCSI_LOGIN_STATUS_AUTH_FAILED) {
				CHECK(!n.authenticated);
			}
			break;
		}
		check_answer(&rsp);
		check_domains(&n);
		if (n.authenticated && requires_chap) {
			CHECK(n.chap_user[0] != '\0');
		}
		pin_chap(&n);
	}
	return 0;
}

#ifdef ISCSI_TEXT_FUZZ_GEN_SEEDS
/*
 * Seed writer: logins of the real initiators (libiscsi 1.19 and open-iscsi
 * 2.1.8, as captured), CHAP one-way and mutual with correct responses, and a
 * few malformed requests. Usage: iscsi_text_fuzz_seeds <dir>
 */
struct seed_rec {
	uint8_t op;
	const char *text;	/* '|' separates pairs */
};

static size_t
seed_put(uint8_t *buf, size_t off, uint8_t op, const char *text)
{
	size_t len = strlen(text) + 1, i;

	buf[off] = op;
	buf[off + 1] = (uint8_t)len;
	buf[off + 2] = (uint8_t)(len >> 8);
	memcpy(buf + off + 3, text, len);
	for (i = 0; i < len; i++) {
		if (buf[off + 3 + i] == '|') {
			buf[off + 3 + i] = '\0';
		}
	}
	return off + 3 + len;
}

static int
seed_write(const char *dir, const char *name, uint8_t cfg, const struct seed_rec *r, int nr)
{
	static uint8_t buf[65536];
	char path[512];
	size_t off = 1;
	FILE *f;
	int i;

	buf[0] = cfg;
	for (i = 0; i < nr; i++) {
		off = seed_put(buf, off, r[i].op, r[i].text);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(buf, 1, off, f) != off) {
		perror(path);
		if (f != NULL) {
			fclose(f);
		}
		return -1;
	}
	return fclose(f);
}

#define LIBISCSI_OP \
	"HeaderDigest=None,CRC32C|DataDigest=None|InitialR2T=No|ImmediateData=Yes|" \
	"MaxBurstLength=262144|FirstBurstLength=262144|DefaultTime2Wait=2|" \
	"DefaultTime2Retain=0|MaxOutstandingR2T=1|ErrorRecoveryLevel=0|IFMarker=No|" \
	"OFMarker=No|MaxConnections=1|MaxRecvDataSegmentLength=262144|DataPDUInOrder=Yes|" \
	"DataSequenceInOrder=Yes"
#define OPEN_ISCSI_DISC_OP \
	"HeaderDigest=None|DataDigest=None|DefaultTime2Wait=2|DefaultTime2Retain=0|" \
	"IFMarker=No|OFMarker=No|ErrorRecoveryLevel=0|MaxRecvDataSegmentLength=32768"
#define CHAP_R_U "0x5413648535f29f78d5588e602800314c"

int
main(int argc, char **argv)
{
	const struct seed_rec libiscsi_normal[] = {
		{ 1, "InitiatorName=iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-inq|"
		     "TargetName=iqn.2026-12.io.osprey:t|SessionType=Normal|" LIBISCSI_OP },
		{ 2, "" },
	};
	const struct seed_rec libiscsi_disc[] = {
		{ 0, "InitiatorName=iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-ls|"
		     "SessionType=Discovery|AuthMethod=CHAP,None" },
		{ 1, "InitiatorName=iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-ls|"
		     "SessionType=Discovery|" LIBISCSI_OP },
		{ 2, "" },
		{ 3, "SendTargets=All" },
	};
	const struct seed_rec chap_mutual[] = {
		{ 0, "InitiatorName=iqn.i|TargetName=iqn.t|SessionType=Normal|AuthMethod=CHAP,None" },
		{ 0, "CHAP_A=5" },
		{ 0, "CHAP_N=u|CHAP_R=" CHAP_R_U "|CHAP_I=1|"
		     "CHAP_C=0x83950E9359902933324BA1CCAA2262A1A869F2FFA09865A6CFC71EDF2E0329B1" },
		{ 1, LIBISCSI_OP },
		{ 2, "" },
		{ 3, "MaxRecvDataSegmentLength=65536|X-foo=bar" },
	};
	const struct seed_rec chap_oneway_b64[] = {
		{ 0, "InitiatorName=iqn.i|TargetName=iqn.t|AuthMethod=CHAP" },
		{ 0, "CHAP_A=7,5" },
		{ 0, "CHAP_N=u|CHAP_R=0bVBNkhTXyn3jVWI5gKAAxTA==" },
		{ 1, "MaxBurstLength=4096|FirstBurstLength=8192" },
		{ 2, "" },
	};
	const struct seed_rec open_iscsi_disc[] = {
		{ 0, "InitiatorName=iqn.2004-10.com.ubuntu:01:x|SessionType=Discovery|"
		     "AuthMethod=CHAP,None" },
		{ 1, OPEN_ISCSI_DISC_OP },
		{ 2, "" },
	};
	const struct seed_rec open_iscsi_normal[] = {
		{ 0, "InitiatorName=iqn.2004-10.com.ubuntu:01:x|TargetName=iqn.t|"
		     "SessionType=Normal|AuthMethod=None" },
		{ 1, "HeaderDigest=CRC32C,None|DataDigest=None|DefaultTime2Wait=2|"
		     "DefaultTime2Retain=0|IFMarker=No|OFMarker=No|ErrorRecoveryLevel=0|"
		     "InitialR2T=No|ImmediateData=Yes|MaxBurstLength=16776192|"
		     "FirstBurstLength=262144|MaxOutstandingR2T=1|MaxConnections=1|"
		     "DataPDUInOrder=Yes|DataSequenceInOrder=Yes|MaxRecvDataSegmentLength=262144" },
		{ 2, "" },
	};
	const struct seed_rec odd_keys[] = {
		{ 1, "InitiatorName=iqn.i|TargetName=iqn.t|X-com.example.k=v|X#1234=1|"
		     "TaskReporting=FastAbort,RFC3720|iSCSIProtocolLevel=2|IFMarkInt=1~2|"
		     "OFMarkInt=Reject|SendTargets=All|TargetAlias=a|MaxConnections=0x10" },
		{ 1, "MaxBurstLength=NotUnderstood|SessionType=Normal" },
		{ 2, "" },
	};
	const struct seed_rec offers[] = {
		{ 1, "InitiatorName=iqn.i|TargetName=iqn.t|HeaderDigest=None" },
		{ 1, "ImmediateData=No|MaxBurstLength=32768|FirstBurstLength=4096|"
		     "DefaultTime2Wait=7|DefaultTime2Retain=Reject|InitialR2T=No" },
		{ 2, "" },
	};
	const struct seed_rec bad[] = {
		{ 0, "InitiatorName=iqn.i|AuthMethod=CHAP" },
		{ 0, "CHAP_A=5" },
		{ 0, "CHAP_N=u|CHAP_R=0x00|CHAP_I=300|CHAP_C=0x0001" },
	};
	const struct seed_rec reflected[] = {
		{ 0, "InitiatorName=iqn.i|AuthMethod=CHAP" },
		{ 0, "CHAP_A=5" },
		{ 0, "CHAP_N=u|CHAP_R=" CHAP_R_U "|CHAP_I=9|CHAP_C=0x000102030405060708090a0b0c0d0e0f" },
	};
	const struct seed_rec nomutual[] = {
		{ 0, "InitiatorName=iqn.i|AuthMethod=CHAP" },
		{ 0, "CHAP_A=5" },
		{ 0, "CHAP_N=nomutual|CHAP_R=" CHAP_R_U "|CHAP_I=9|"
		     "CHAP_C=0x83950E9359902933324BA1CCAA2262A1" },
	};
	static char many[2048];
	struct seed_rec many_keys[1] = { { 1, many } };
	const char *dir;
	size_t mlen = 0;
	int k;

	if (argc != 2) {
		fprintf(stderr, "usage: %s <dir>\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	if (seed_write(dir, "libiscsi_normal", 0x01, libiscsi_normal, 2) ||
	    seed_write(dir, "libiscsi_disc", 0x03, libiscsi_disc, 4) ||
	    seed_write(dir, "chap_mutual", 0x07, chap_mutual, 6) ||
	    seed_write(dir, "chap_oneway_b64", 0x05, chap_oneway_b64, 5) ||
	    seed_write(dir, "chap_small_rsp", 0x25, chap_mutual, 6) ||
	    seed_write(dir, "open_iscsi_disc", 0x03, open_iscsi_disc, 3) ||
	    seed_write(dir, "open_iscsi_normal", 0x01, open_iscsi_normal, 3) ||
	    seed_write(dir, "open_iscsi_nonleading", 0x00, open_iscsi_normal, 3) ||
	    seed_write(dir, "digests_required", 0x81, open_iscsi_normal, 3) ||
	    seed_write(dir, "digests_required_none", 0x81, libiscsi_normal, 2) ||
	    seed_write(dir, "odd_keys", 0x09, odd_keys, 3) ||
	    seed_write(dir, "offers", 0x11, offers, 3) ||
	    seed_write(dir, "bad_chap", 0x45, bad, 3) ||
	    seed_write(dir, "chap_reflected", 0x05, reflected, 3) ||
	    seed_write(dir, "chap_nomutual", 0x05, nomutual, 3)) {
		return 1;
	}
	/* One key more than a request may carry. */
	for (k = 0; k <= ISCSI_TEXT_MAX_PAIRS; k++) {
		mlen += (size_t)snprintf(many + mlen, sizeof(many) - mlen, "%sX-k%d=%d",
					 k ? "|" : "", k, k);
	}
	if (seed_write(dir, "too_many_keys", 0x01, many_keys, 1)) {
		return 1;
	}
	return 0;
}
#endif
