/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the uring bdev module (drivers/bdev/uring, linked from its
 * library): the same request-mapping and error tests as the aio module.
 * Where io_uring is unavailable (built without liburing, or refused by the
 * kernel) the suite only checks that creation fails cleanly.
 */
#include "../../../../../drivers/bdev/uring/bdev_uring.h"

#include "ut_file_bdev.h"

static int
ut_create(const char *path, const char *name, uint32_t block_size, bool fallocate,
	  struct osp_bdev **bdev, char *err, size_t errlen)
{
	struct bdev_uring_opts opts = { .filename = path, .name = name, .block_size = block_size };

	return bdev_uring_create(&opts, bdev, err, errlen);
}

static int
ut_delete(const char *name, osp_bdev_unregister_cb cb, void *arg)
{
	return bdev_uring_delete(name, cb, arg);
}

static int
ut_rescan(const char *name)
{
	return bdev_uring_rescan(name);
}

static bool
ut_available(void)
{
	struct osp_bdev *bdev;
	char err[256];

	/* -ENOTSUP: built without liburing or io_uring refused; anything else means it works. */
	return ut_create("/nonexistent/osp_probe", "probe", 0, false, &bdev, err, sizeof(err)) !=
	       -ENOTSUP;
}

int
main(void)
{
	static const struct ut_file_bdev_module mod = {
		.name = "uring", .create = ut_create, .del = ut_delete, .rescan = ut_rescan,
		.available = ut_available,
	};

	return ut_file_bdev_run_suite("bdev_uring", &mod, NULL);
}
