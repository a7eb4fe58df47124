/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/util/iov.c and osprey/iov.h: every helper at offsets on and around element
 * boundaries, with empty elements ({NULL, 0} too, which must never reach a
 * mem* call: UBSan runs these), offsets at and past the end, slices that do
 * not fit (too few elements, too little data), and compares that differ in
 * each element or run short.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "util/iov.c"
#include "ut_run.h"

/* Data layout used by most tests: 3 + 0 + 5 + {NULL,0} + 4 = 12 bytes. */
static uint8_t g_a[3], g_b[5], g_c[4];
static uint8_t g_empty[1];

static int
setup_iov(struct iovec *iov)
{
	iov[0] = (struct iovec){ g_a, sizeof(g_a) };
	iov[1] = (struct iovec){ g_empty, 0 };
	iov[2] = (struct iovec){ g_b, sizeof(g_b) };
	iov[3] = (struct iovec){ NULL, 0 };
	iov[4] = (struct iovec){ g_c, sizeof(g_c) };
	return 5;
}

/* Byte i of the 12-byte layout. */
static uint8_t *
byte_at(size_t i)
{
	if (i < 3) {
		return &g_a[i];
	}
	if (i < 8) {
		return &g_b[i - 3];
	}
	return &g_c[i - 8];
}

static void
fill_pattern(void)
{
	size_t i;

	for (i = 0; i < 12; i++) {
		*byte_at(i) = (uint8_t)(0x10 + i);
	}
}

static void
test_len(void)
{
	struct iovec iov[5];
	int cnt = setup_iov(iov);

	CU_ASSERT(osp_iov_len(iov, cnt) == 12);
	CU_ASSERT(osp_iov_len(iov, 1) == 3);
	CU_ASSERT(osp_iov_len(NULL, 0) == 0);
	CU_ASSERT(osp_iov_len(iov, -1) == 0);
	CU_ASSERT(osp_iov_len(&iov[3], 1) == 0);
}

static void
test_seek(void)
{
	struct iovec iov[5];
	int cnt = setup_iov(iov);
	size_t off = 99;

	CU_ASSERT(osp_iov_seek(iov, cnt, 0, &off) == 0 && off == 0);
	CU_ASSERT(osp_iov_seek(iov, cnt, 2, &off) == 0 && off == 2);
	/* An element's end is the next non-empty element's start. */
	CU_ASSERT(osp_iov_seek(iov, cnt, 3, &off) == 2 && off == 0);
	CU_ASSERT(osp_iov_seek(iov, cnt, 7, &off) == 2 && off == 4);
	CU_ASSERT(osp_iov_seek(iov, cnt, 8, &off) == 4 && off == 0);
	CU_ASSERT(osp_iov_seek(iov, cnt, 11, &off) == 4 && off == 3);
	/* At and past the end. */
	CU_ASSERT(osp_iov_seek(iov, cnt, 12, &off) == cnt && off == 0);
	CU_ASSERT(osp_iov_seek(iov, cnt, 15, &off) == cnt && off == 3);
	CU_ASSERT(osp_iov_seek(NULL, 0, 4, &off) == 0 && off == 4);
	/* Only empty elements from there on. */
	CU_ASSERT(osp_iov_seek(&iov[3], 1, 0, &off) == 1 && off == 0);
}

static void
test_copy_to_buf(void)
{
	struct iovec iov[5];
	int cnt = setup_iov(iov);
	uint8_t out[16];
	size_t off, len, i, n;

	fill_pattern();
	/* Every offset and length, boundaries (3, 8) and the end (12) included. */
	for (off = 0; off <= 13; off++) {
		for (len = 0; len <= 14; len++) {
			memset(out, 0xee, sizeof(out));
			n = osp_iov_copy_to_buf(out, len, iov, cnt, off);
			CU_ASSERT(n == (off >= 12 ? 0 : OSP_MIN(len, 12 - off)));
			for (i = 0; i < n; i++) {
				CU_ASSERT(out[i] == 0x10 + off + i);
			}
			CU_ASSERT(out[n] == 0xee);
		}
	}
	/* A NULL buffer of length 0, no iovecs at all, far past the end. */
	CU_ASSERT(osp_iov_copy_to_buf(NULL, 0, iov, cnt, 0) == 0);
	CU_ASSERT(osp_iov_copy_to_buf(out, 4, NULL, 0, 0) == 0);
	CU_ASSERT(osp_iov_copy_to_buf(out, 4, iov, cnt, SIZE_MAX) == 0);
	/* Only empty elements. */
	CU_ASSERT(osp_iov_copy_to_buf(out, 4, &iov[3], 1, 0) == 0);
}

static void
test_copy_from_buf(void)
{
	struct iovec iov[5];
	int cnt = setup_iov(iov);
	uint8_t in[16];
	size_t off, len, i, n;

	for (i = 0; i < sizeof(in); i++) {
		in[i] = (uint8_t)(0xa0 + i);
	}
	for (off = 0; off <= 13; off++) {
		for (len = 0; len <= 14; len++) {
			fill_pattern();
			n = osp_iov_copy_from_buf(in, len, iov, cnt, off);
			CU_ASSERT(n == (off >= 12 ? 0 : OSP_MIN(len, 12 - off)));
			for (i = 0; i < 12; i++) {
				if (i >= off && i < off + n) {
					CU_ASSERT(*byte_at(i) == 0xa0 + i - off);
				} else {
					CU_ASSERT(*byte_at(i) == 0x10 + i);
				}
			}
		}
	}
	CU_ASSERT(osp_iov_copy_from_buf(NULL, 0, iov, cnt, 5) == 0);
	CU_ASSERT(osp_iov_copy_from_buf(in, 4, NULL, 0, 0) == 0);
	CU_ASSERT(osp_iov_copy_from_buf(in, 4, iov, cnt, 12) == 0);
}

static void
test_copy_iov(void)
{
	struct iovec src[5], dst[4];
	int cnt = setup_iov(src);
	uint8_t d1[2], d2[7], d3[6];
	size_t i;

	fill_pattern();
	/* Boundaries that line up nowhere, and an empty element on each side. */
	dst[0] = (struct iovec){ d1, sizeof(d1) };
	dst[1] = (struct iovec){ NULL, 0 };
	dst[2] = (struct iovec){ d2, sizeof(d2) };
	dst[3] = (struct iovec){ d3, sizeof(d3) };
	memset(d3, 0xee, sizeof(d3));
	/* 15 bytes of room, 12 of data: copies 12. */
	CU_ASSERT(osp_iov_copy(dst, 4, src, cnt) == 12);
	CU_ASSERT(d1[0] == 0x10 && d1[1] == 0x11);
	for (i = 0; i < sizeof(d2); i++) {
		CU_ASSERT(d2[i] == 0x12 + i);
	}
	CU_ASSERT(d3[0] == 0x19 && d3[2] == 0x1b && d3[3] == 0xee);
	/* Less room than data: copies 2 + 7. */
	memset(d2, 0, sizeof(d2));
	CU_ASSERT(osp_iov_copy(dst, 3, src, cnt) == 9);
	CU_ASSERT(d2[6] == 0x18);
	/* Nothing on one side. */
	CU_ASSERT(osp_iov_copy(dst, 0, src, cnt) == 0);
	CU_ASSERT(osp_iov_copy(dst, 4, NULL, 0) == 0);
	CU_ASSERT(osp_iov_copy(&dst[1], 1, src, cnt) == 0);
	CU_ASSERT(osp_iov_copy(dst, 4, &src[3], 1) == 0);
}

static void
test_slice(void)
{
	struct iovec src[5], dst[8];
	int cnt = setup_iov(src), n, i;
	size_t off, len, total, sliced;

	fill_pattern();
	/* Every range inside the data: the pieces hold exactly those bytes, none empty. */
	for (off = 0; off <= 12; off++) {
		for (len = 0; off + len <= 12; len++) {
			n = osp_iov_slice(dst, 8, src, cnt, off, len);
			CU_ASSERT_FATAL(n >= 0 && n <= 3);
			total = 0;
			for (i = 0; i < n; i++) {
				CU_ASSERT(dst[i].iov_len > 0);
				CU_ASSERT(dst[i].iov_base == byte_at(off + total));
				total += dst[i].iov_len;
			}
			CU_ASSERT(total == len);
			CU_ASSERT((n == 0) == (len == 0));
		}
	}
	/* Ranges that end at and start at element boundaries. */
	CU_ASSERT(osp_iov_slice(dst, 8, src, cnt, 0, 3) == 1);
	CU_ASSERT(dst[0].iov_base == g_a && dst[0].iov_len == 3);
	CU_ASSERT(osp_iov_slice(dst, 8, src, cnt, 3, 5) == 1);
	CU_ASSERT(dst[0].iov_base == g_b && dst[0].iov_len == 5);
	CU_ASSERT(osp_iov_slice(dst, 8, src, cnt, 2, 7) == 3);
	CU_ASSERT(dst[0].iov_base == &g_a[2] && dst[0].iov_len == 1);
	CU_ASSERT(dst[2].iov_base == g_c && dst[2].iov_len == 1);

	/* Past the end: -ERANGE, whatever the room. */
	CU_ASSERT(osp_iov_slice(dst, 8, src, cnt, 0, 13) == -ERANGE);
	CU_ASSERT(osp_iov_slice(dst, 8, src, cnt, 12, 1) == -ERANGE);
	CU_ASSERT(osp_iov_slice(dst, 8, src, cnt, 100, 1) == -ERANGE);
	CU_ASSERT(osp_iov_slice(dst, 1, src, cnt, 0, 13) == -ERANGE);
	CU_ASSERT(osp_iov_slice(dst, 8, NULL, 0, 0, 1) == -ERANGE);
	/* Zero bytes at or past the end are an empty slice. */
	CU_ASSERT(osp_iov_slice(dst, 8, src, cnt, 12, 0) == 0);
	/* Too few elements: -ENOSPC, exact fit succeeds. */
	CU_ASSERT(osp_iov_slice(dst, 2, src, cnt, 0, 12) == -ENOSPC);
	CU_ASSERT(osp_iov_slice(dst, 3, src, cnt, 0, 12) == 3);
	CU_ASSERT(osp_iov_slice(dst, 0, src, cnt, 0, 1) == -ENOSPC);
	CU_ASSERT(osp_iov_slice(dst, -1, src, cnt, 0, 1) == -ENOSPC);
	CU_ASSERT(osp_iov_slice(dst, 1, src, cnt, 2, 2) == -ENOSPC);
	CU_ASSERT(osp_iov_slice(dst, 0, src, cnt, 0, 0) == 0);

	/* Partial: as much as fits. */
	CU_ASSERT(osp_iov_slice_partial(dst, 2, src, cnt, 1, SIZE_MAX, &sliced) == 2);
	CU_ASSERT(sliced == 2 + 5);
	CU_ASSERT(dst[0].iov_base == &g_a[1] && dst[1].iov_base == g_b);
	CU_ASSERT(osp_iov_slice_partial(dst, 8, src, cnt, 1, SIZE_MAX, &sliced) == 3);
	CU_ASSERT(sliced == 11);
	CU_ASSERT(osp_iov_slice_partial(dst, 8, src, cnt, 4, 3, &sliced) == 1);
	CU_ASSERT(sliced == 3);
	CU_ASSERT(osp_iov_slice_partial(dst, 8, src, cnt, 12, 5, &sliced) == 0);
	CU_ASSERT(sliced == 0);
	CU_ASSERT(osp_iov_slice_partial(dst, 0, src, cnt, 0, 5, &sliced) == 0);
	CU_ASSERT(sliced == 0);
	CU_ASSERT(osp_iov_slice_partial(dst, 8, src, cnt, 0, 12, NULL) == 3);
	CU_ASSERT(osp_iov_slice_partial(dst, 8, &src[3], 1, 0, 5, &sliced) == 0);
	CU_ASSERT(sliced == 0);
}

static void
test_cmp_buf(void)
{
	struct iovec iov[5];
	int cnt = setup_iov(iov);
	uint8_t ref[16];
	size_t off, len, pos, d;

	fill_pattern();
	for (pos = 0; pos < sizeof(ref); pos++) {
		ref[pos] = (uint8_t)(0x10 + pos);
	}
	/* Equal at every offset and length within the data. */
	for (off = 0; off <= 12; off++) {
		for (len = 0; off + len <= 12; len++) {
			d = 99;
			CU_ASSERT(osp_iov_cmp_buf(iov, cnt, off, &ref[off], len, &d) == 0);
			CU_ASSERT(d == len);
		}
	}
	/* A difference in each byte, in each element: sign and position. */
	for (pos = 0; pos < 12; pos++) {
		ref[pos]++;
		d = 99;
		CU_ASSERT(osp_iov_cmp_buf(iov, cnt, 0, ref, 12, &d) < 0);
		CU_ASSERT(d == pos);
		ref[pos] -= 2;
		CU_ASSERT(osp_iov_cmp_buf(iov, cnt, 0, ref, 12, &d) > 0);
		CU_ASSERT(d == pos);
		ref[pos]++;
		/* Counted from the offset. */
		if (pos >= 2) {
			ref[pos] ^= 0xff;
			CU_ASSERT(osp_iov_cmp_buf(iov, cnt, 2, &ref[2], 10, &d) != 0);
			CU_ASSERT(d == pos - 2);
			ref[pos] ^= 0xff;
		}
	}
	CU_ASSERT(osp_iov_cmp_buf(iov, cnt, 0, ref, 12, NULL) == 0);
	/* The iovecs end first: a difference at their end. */
	CU_ASSERT(osp_iov_cmp_buf(iov, cnt, 0, ref, 13, &d) < 0);
	CU_ASSERT(d == 12);
	CU_ASSERT(osp_iov_cmp_buf(iov, cnt, 10, &ref[10], 5, &d) < 0);
	CU_ASSERT(d == 2);
	CU_ASSERT(osp_iov_cmp_buf(iov, cnt, 40, ref, 1, &d) < 0);
	CU_ASSERT(d == 0);
	CU_ASSERT(osp_iov_cmp_buf(NULL, 0, 0, ref, 1, NULL) < 0);
	/* Nothing to compare is equal, even past the end or with a NULL buffer. */
	CU_ASSERT(osp_iov_cmp_buf(iov, cnt, 40, NULL, 0, &d) == 0);
	CU_ASSERT(d == 0);
	CU_ASSERT(osp_iov_cmp_buf(&iov[3], 1, 0, NULL, 0, NULL) == 0);
}

static void
test_memset(void)
{
	struct iovec iov[5];
	int cnt = setup_iov(iov);
	size_t i;

	fill_pattern();
	g_empty[0] = 0x77;
	osp_iov_memset(iov, 2, 0x5a);
	for (i = 0; i < 12; i++) {
		CU_ASSERT(*byte_at(i) == (i < 3 ? 0x5a : 0x10 + i));
	}
	osp_iov_memset(iov, cnt, 0);
	for (i = 0; i < 12; i++) {
		CU_ASSERT(*byte_at(i) == 0);
	}
	/* The empty element's buffer is not touched. */
	CU_ASSERT(g_empty[0] == 0x77);
	osp_iov_memset(NULL, 0, 1);
	osp_iov_memset(&iov[3], 1, 1);
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("iov", NULL, NULL);
	CU_ADD_TEST(suite, test_len);
	CU_ADD_TEST(suite, test_seek);
	CU_ADD_TEST(suite, test_copy_to_buf);
	CU_ADD_TEST(suite, test_copy_from_buf);
	CU_ADD_TEST(suite, test_copy_iov);
	CU_ADD_TEST(suite, test_slice);
	CU_ADD_TEST(suite, test_cmp_buf);
	CU_ADD_TEST(suite, test_memset);
	rc = ut_run_suites();
	return rc;
}
