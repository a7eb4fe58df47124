/* SPDX-License-Identifier: BSD-3-Clause */
/* iovec helpers (include/osprey/iov.h). */
#include <errno.h>
#include <string.h>

#include "osprey/iov.h"
#include "osprey/util.h"

/*
 * The loop of both copies between iovecs and a flat buffer; to_iov is a
 * constant at each call, so each copy gets its own loop.
 */
static inline size_t
iov_buf_copy(const struct iovec *iov, int iovcnt, size_t offset, uint8_t *buf, size_t len,
	     bool to_iov)
{
	size_t done = 0, off, n;
	uint8_t *p;
	int i;

	for (i = osp_iov_seek(iov, iovcnt, offset, &off); i < iovcnt && done < len; i++, off = 0) {
		n = OSP_MIN(iov[i].iov_len - off, len - done);
		if (n == 0) {
			continue;
		}
		p = (uint8_t *)iov[i].iov_base + off;
		if (to_iov) {
			memcpy(p, buf + done, n);
		} else {
			memcpy(buf + done, p, n);
		}
		done += n;
	}
	return done;
}

size_t
osp_iov_copy_to_buf(void *buf, size_t len, const struct iovec *iov, int iovcnt, size_t offset)
{
	return iov_buf_copy(iov, iovcnt, offset, buf, len, false);
}

size_t
osp_iov_copy_from_buf(const void *buf, size_t len, struct iovec *iov, int iovcnt, size_t offset)
{
	/* buf is only read on this path. */
	return iov_buf_copy(iov, iovcnt, offset, (uint8_t *)(uintptr_t)buf, len, true);
}

size_t
osp_iov_copy(struct iovec *dst, int dstcnt, const struct iovec *src, int srccnt)
{
	size_t doff = 0, soff = 0, total = 0, n;
	int di = 0, si = 0;

	while (di < dstcnt && si < srccnt) {
		if (doff == dst[di].iov_len) {
			di++;
			doff = 0;
			continue;
		}
		if (soff == src[si].iov_len) {
			si++;
			soff = 0;
			continue;
		}
		n = OSP_MIN(dst[di].iov_len - doff, src[si].iov_len - soff);
		memcpy((uint8_t *)dst[di].iov_base + doff, (const uint8_t *)src[si].iov_base + soff, n);
		doff += n;
		soff += n;
		total += n;
	}
	return total;
}

/*
 * The loop of both slices. *left_out: bytes of the range not described;
 * *next, *next_off: where in src the walk stopped (for the strict slice's
 * diagnosis).
 */
static inline int
iov_slice(struct iovec *dst, int dstcnt, const struct iovec *src, int srccnt, size_t offset,
	  size_t len, size_t *left_out, int *next, size_t *next_off)
{
	size_t off, left = len, n;
	int i, cnt = 0;

	for (i = osp_iov_seek(src, srccnt, offset, &off); i < srccnt && left > 0; i++, off = 0) {
		n = OSP_MIN(src[i].iov_len - off, left);
		if (n == 0) {
			continue;
		}
		if (cnt >= dstcnt) {
			break;
		}
		dst[cnt].iov_base = (uint8_t *)src[i].iov_base + off;
		dst[cnt].iov_len = n;
		cnt++;
		left -= n;
	}
	*left_out = left;
	*next = i;
	*next_off = off;
	return cnt;
}

int
osp_iov_slice(struct iovec *dst, int dstcnt, const struct iovec *src, int srccnt, size_t offset,
	      size_t len)
{
	size_t left, off, rest;
	int cnt, i;

	cnt = iov_slice(dst, dstcnt, src, srccnt, offset, len, &left, &i, &off);
	if (osp_likely(left == 0)) {
		return cnt;
	}
	/* Out of dst elements, or out of data? Only failures pay for this walk. */
	if (i >= srccnt) {
		return -ERANGE;
	}
	rest = osp_iov_len(&src[i], srccnt - i) - off;
	return rest < left ? -ERANGE : -ENOSPC;
}

int
osp_iov_slice_partial(struct iovec *dst, int dstcnt, const struct iovec *src, int srccnt,
		      size_t offset, size_t len, size_t *sliced)
{
	size_t left, off;
	int cnt, i;

	cnt = iov_slice(dst, dstcnt, src, srccnt, offset, len, &left, &i, &off);
	if (sliced != NULL) {
		*sliced = len - left;
	}
	return cnt;
}

int
osp_iov_cmp_buf(const struct iovec *iov, int iovcnt, size_t offset, const void *buf, size_t len,
		size_t *diff_off)
{
	const uint8_t *a, *b;
	size_t done = 0, off, n, k;
	int i, rc;

	for (i = osp_iov_seek(iov, iovcnt, offset, &off); i < iovcnt && done < len; i++, off = 0) {
		n = OSP_MIN(iov[i].iov_len - off, len - done);
		if (n == 0) {
			continue;
		}
		a = (const uint8_t *)iov[i].iov_base + off;
		b = (const uint8_t *)buf + done;
		rc = memcmp(a, b, n);
		if (rc != 0) {
			if (diff_off != NULL) {
				for (k = 0; a[k] == b[k]; k++) {
				}
				*diff_off = done + k;
			}
			return rc;
		}
		done += n;
	}
	if (diff_off != NULL) {
		*diff_off = done;
	}
	return done == len ? 0 : -1;
}

void
osp_iov_memset(struct iovec *iov, int iovcnt, int c)
{
	int i;

	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len != 0) {
			memset(iov[i].iov_base, c, iov[i].iov_len);
		}
	}
}
