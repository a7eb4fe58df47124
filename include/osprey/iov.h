/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iovec helpers shared by every library: length, copies between iovecs and
 * flat buffers (at a byte offset into the iovecs' data), iovec-to-iovec copy,
 * slices, compare and memset. The one copy of these walkers: the bdev layer
 * and its modules, the NVMe-oF target, the NVMe/TCP host and the socket layer
 * all use them.
 *
 * Common rules:
 * - "offset" is a byte offset into the data the iovecs describe, counted
 *   across elements (offset 5000 of {4096, 4096} is byte 904 of element 1).
 * - Empty elements ({NULL, 0} included) are allowed anywhere and skipped;
 *   no pointer arithmetic or mem* call is made on them. iov may be NULL when
 *   iovcnt is 0; a negative iovcnt counts as 0. A flat buffer may be NULL
 *   when its length is 0.
 * - Nothing allocates or blocks; any thread. Source and destination must
 *   not overlap.
 */
#ifndef OSPREY_IOV_H
#define OSPREY_IOV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Total bytes described by iov[0..iovcnt). Inline: it runs per I/O in several loops. */
static inline size_t
osp_iov_len(const struct iovec *iov, int iovcnt)
{
	size_t len = 0;
	int i;

	for (i = 0; i < iovcnt; i++) {
		len += iov[i].iov_len;
	}
	return len;
}

/*
 * Find byte offset of the data: returns the index of the element that holds
 * it and sets *elem_off to its position in that element. Empty elements are
 * passed over, so the element found is never empty. Returns iovcnt when
 * offset is at or past the end (*elem_off is then how far past: 0 at the
 * end). For callers that keep a cursor (index, offset) and move it on.
 */
static inline int
osp_iov_seek(const struct iovec *iov, int iovcnt, size_t offset, size_t *elem_off)
{
	int i;

	for (i = 0; i < iovcnt; i++) {
		if (offset < iov[i].iov_len) {
			break;
		}
		offset -= iov[i].iov_len;
	}
	*elem_off = offset;
	return i;
}

/*
 * Copy up to len bytes of the iovecs' data, starting offset bytes in, to buf.
 * Returns the bytes copied: less than len when the iovecs end first (0 when
 * offset is at or past their end).
 */
size_t osp_iov_copy_to_buf(void *buf, size_t len, const struct iovec *iov, int iovcnt,
			   size_t offset);

/*
 * Copy up to len bytes of buf into the iovecs' data, starting offset bytes
 * in. Returns the bytes copied: less than len when the iovecs end first.
 */
size_t osp_iov_copy_from_buf(const void *buf, size_t len, struct iovec *iov, int iovcnt,
			     size_t offset);

/*
 * Copy the data of src into dst, element boundaries independent on both
 * sides. Returns the bytes copied: the smaller of the two total lengths.
 */
size_t osp_iov_copy(struct iovec *dst, int dstcnt, const struct iovec *src, int srccnt);

/*
 * Describe bytes [offset, offset + len) of src's data as dst[0..n), pointing
 * into src's buffers (no data is copied). Empty pieces are not emitted.
 * Returns n (0 when len is 0), -ERANGE when src's data ends before
 * offset + len, or -ENOSPC when the range needs more than dstcnt elements
 * (dst's contents are then unspecified).
 */
int osp_iov_slice(struct iovec *dst, int dstcnt, const struct iovec *src, int srccnt,
		  size_t offset, size_t len);

/*
 * As osp_iov_slice(), but describes as much of the range as fits: stops when
 * dst is full or src ends. *sliced (if not NULL) gets the bytes described.
 * len SIZE_MAX means "to the end of src". Returns the element count (>= 0).
 * For callers that send or receive what they can now and the rest later.
 */
int osp_iov_slice_partial(struct iovec *dst, int dstcnt, const struct iovec *src, int srccnt,
			  size_t offset, size_t len, size_t *sliced);

/*
 * Compare len bytes of the iovecs' data, starting offset bytes in, with buf:
 * memcmp's sign convention (< 0 when the iovecs' byte is the smaller). When
 * the iovecs end before len bytes, the result is < 0 (like the shorter of two
 * strings). *diff_off (if not NULL) gets the position, counted from offset,
 * of the first byte that differs or is missing, or len when all are equal:
 * for miscompare reports.
 */
int osp_iov_cmp_buf(const struct iovec *iov, int iovcnt, size_t offset, const void *buf,
		    size_t len, size_t *diff_off);

/* Set every byte the iovecs describe to c. */
void osp_iov_memset(struct iovec *iov, int iovcnt, int c);

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_IOV_H */
