/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/util/md5.c: RFC 1321 A.5's test suite, the padding
 * boundaries (55/56/63/64/119/120-byte messages), split updates and a
 * million bytes. Expected digests were computed independently with Python's
 * hashlib.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/md5.c"
#include "ut_run.h"

static void
hex(const uint8_t d[16], char out[33])
{
	int i;

	for (i = 0; i < 16; i++) {
		sprintf(out + 2 * i, "%02x", d[i]);
	}
}

static bool
md5_is(const void *data, size_t len, const char *want)
{
	struct osp_md5_ctx ctx;
	uint8_t d[16];
	char h[33];

	osp_md5_init(&ctx);
	osp_md5_update(&ctx, data, len);
	osp_md5_final(&ctx, d);
	hex(d, h);
	if (strcmp(h, want) != 0) {
		printf("  md5 of %zu bytes: %s, want %s\n", len, h, want);
		return false;
	}
	return true;
}

/* RFC 1321 A.5. */
static void
test_rfc1321_suite(void)
{
	static const struct {
		const char *msg, *md5;
	} v[] = {
		{ "", "d41d8cd98f00b204e9800998ecf8427e" },
		{ "a", "0cc175b9c0f1b6a831c399e269772661" },
		{ "abc", "900150983cd24fb0d6963f7d28e17f72" },
		{ "message digest", "f96b697d7cb7938d525a2f31aaf161d0" },
		{ "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b" },
		{ "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
		  "d174ab98d277d9f5a5611c2c9f419d9f" },
		{ "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
		  "57edf4a22be3c955ac49da2e2107b67a" },
	};
	unsigned int i;

	for (i = 0; i < OSP_COUNTOF(v); i++) {
		CU_ASSERT(md5_is(v[i].msg, strlen(v[i].msg), v[i].md5));
	}
}

/* Messages whose padding ends exactly at or just past a block boundary. */
static void
test_padding_edges(void)
{
	static const struct {
		size_t len;
		const char *md5;
	} v[] = {
		{ 55, "6912ee65fff2d9f9ce2508cddf8bcda0" },
		{ 56, "51fdd1acda72405dfdfa03fcb85896d7" },
		{ 57, "5320ef4c17ef34a0cf2db763338d25eb" },
		{ 63, "48a6295221902e8e0938f773a7185e72" },
		{ 64, "b2d3f56bc197fd985d5965079b5e7148" },
		{ 65, "8bd7053801c768420faf816fadba971c" },
		{ 119, "1c772251899a7ff007400b888d6b2042" },
		{ 120, "b7ba1efc6022e9ed272f00b8831e26e6" },
	};
	uint8_t buf[128];
	unsigned int i;

	for (i = 0; i < sizeof(buf); i++) {
		buf[i] = (uint8_t)i;
	}
	for (i = 0; i < OSP_COUNTOF(v); i++) {
		CU_ASSERT(md5_is(buf, v[i].len, v[i].md5));
	}
}

/* Any split of the input gives the same digest. */
static void
test_split_updates(void)
{
	const char *msg = "12345678901234567890123456789012345678901234567890123456789012345678901234567890";
	size_t len = strlen(msg), a, b;
	uint8_t d[16];
	char h[33];

	for (a = 0; a <= len; a += 7) {
		for (b = a; b <= len; b += 13) {
			struct osp_md5_ctx ctx;

			osp_md5_init(&ctx);
			osp_md5_update(&ctx, msg, a);
			osp_md5_update(&ctx, msg + a, b - a);
			osp_md5_update(&ctx, msg + b, len - b);
			osp_md5_final(&ctx, d);
			hex(d, h);
			CU_ASSERT_STRING_EQUAL(h, "57edf4a22be3c955ac49da2e2107b67a");
		}
	}
}

static void
test_million_a(void)
{
	size_t n = 1000000;
	char *buf = malloc(n);
	struct osp_md5_ctx ctx;
	uint8_t d[16];
	char h[33];
	size_t i;

	CU_ASSERT_FATAL(buf != NULL);
	memset(buf, 'a', n);
	CU_ASSERT(md5_is(buf, n, "7707d6ae4e027c70eea2a935c2296f21"));
	/* In odd-sized pieces. */
	osp_md5_init(&ctx);
	for (i = 0; i < n; i += 999) {
		osp_md5_update(&ctx, buf + i, OSP_MIN(999, n - i));
	}
	osp_md5_final(&ctx, d);
	hex(d, h);
	CU_ASSERT_STRING_EQUAL(h, "7707d6ae4e027c70eea2a935c2296f21");
	free(buf);
}

UT_RUN_SUITE("md5",
	     CU_ADD_TEST(suite, test_rfc1321_suite);
	     CU_ADD_TEST(suite, test_padding_edges);
	     CU_ADD_TEST(suite, test_split_updates);
	     CU_ADD_TEST(suite, test_million_a);)
