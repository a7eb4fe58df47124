/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Opening a file or block device for the file-backed bdev modules (aio and
 * uring): O_DIRECT with a fallback, size and logical block size detection,
 * block size validation. Static inline so that each module stays a library
 * of its own; drivers/bdev/uring includes it from here.
 */
#ifndef OSP_BDEV_FILE_H
#define OSP_BDEV_FILE_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "osprey/log.h"
#include "osprey/util.h"

struct bdev_file {
	int fd;
	/* Opened with O_DIRECT: buffers and offsets must be block aligned. */
	bool direct;
	bool is_blockdev;
	/* Size in bytes. */
	uint64_t size;
	/*
	 * Smallest block size the file takes: the logical block size of a block
	 * device, the O_DIRECT offset alignment of a file (statx DIOALIGN), or
	 * 512 when nothing better is known.
	 */
	uint32_t min_block_size;
};

/* Size in bytes of an open file or block device; 0 or -errno. */
static inline int
bdev_file_get_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		return -errno;
	}
	if (S_ISBLK(st.st_mode)) {
		uint64_t sz = 0;

		if (ioctl(fd, BLKGETSIZE64, &sz) != 0) {
			return -errno;
		}
		*size = sz;
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		return -ENOTSUP;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

/*
 * Open path read-write (or read-only) with O_DIRECT; where the file system
 * refuses O_DIRECT (tmpfs: EINVAL) open it through the page cache and warn.
 * Fills f. On failure writes a message a person can act on into err.
 */
static inline int
bdev_file_open(struct bdev_file *f, const char *path, bool readonly, const char *bdev_name,
	       char *err, size_t errlen)
{
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;
	int rc;

	memset(f, 0, sizeof(*f));
	f->fd = open(path, flags | O_DIRECT);
	if (f->fd >= 0) {
		f->direct = true;
	} else if (errno == EINVAL) {
		f->fd = open(path, flags);
		if (f->fd >= 0) {
			OSP_WARNLOG("bdev %s: %s does not support O_DIRECT; using the page cache "
				    "(I/O is buffered, flush is what makes writes durable)\n",
				    bdev_name, path);
		}
	}
	if (f->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "Could not open '%s': %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(f->fd, &st) != 0) {
		rc = -errno;
		snprintf(err, errlen, "Could not stat '%s': %s", path, strerror(-rc));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		rc = -EINVAL;
		snprintf(err, errlen, "'%s' is neither a regular file nor a block device", path);
		goto fail;
	}
	f->is_blockdev = S_ISBLK(st.st_mode);
	f->min_block_size = 512;
	if (f->is_blockdev) {
		int lbs = 0;

		if (ioctl(f->fd, BLKSSZGET, &lbs) == 0 && lbs > 0) {
			f->min_block_size = (uint32_t)lbs;
		}
	}
#ifdef STATX_DIOALIGN
	else if (f->direct) {
		struct statx stx;

		if (statx(f->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
		    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align > 512) {
			f->min_block_size = stx.stx_dio_offset_align;
		}
	}
#endif
	rc = bdev_file_get_size(f->fd, &f->size);
	if (rc != 0) {
		snprintf(err, errlen, "Could not get the size of '%s': %s", path, strerror(-rc));
		goto fail;
	}
	return 0;
fail:
	close(f->fd);
	f->fd = -1;
	return rc;
}

/*
 * Pick the block size: requested (0 = detect) must be a power of two of at
 * least 512 and at least the device's logical block size.
 */
static inline int
bdev_file_block_size(const struct bdev_file *f, const char *path, uint32_t requested,
		     uint32_t *block_size, char *err, size_t errlen)
{
	uint32_t bs = requested != 0 ? requested : f->min_block_size;

	if (bs < 512 || !osp_is_pow2_64(bs)) {
		snprintf(err, errlen, "Invalid block_size %u: it must be a power of two of at "
			 "least 512", bs);
		return -EINVAL;
	}
	if (bs < f->min_block_size) {
		snprintf(err, errlen, "Invalid block_size %u: '%s' has a logical block size of "
			 "%u bytes", bs, path, f->min_block_size);
		return -EINVAL;
	}
	if (f->size / bs == 0) {
		snprintf(err, errlen, "'%s' is smaller than one block (%" PRIu64 " bytes, block "
			 "size %u)", path, f->size, bs);
		return -EINVAL;
	}
	*block_size = bs;
	return 0;
}

#endif /* OSP_BDEV_FILE_H */
