/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the split bdev on a malloc base: the parts' sizes, names and
 * uuids, the offset translation (a block written through part i lands at
 * i * part_size + n on the base), I/O confined to its part, error cases,
 * a split waiting for its base, hot removal and rebuild, deletion.
 */
#include "ut_bdev.h"

#include "../../../../../drivers/bdev/malloc/bdev_malloc.h"
#include "../../../../../drivers/bdev/split/bdev_split.h"

#define BS	512
#define NBLK	16384	/* 8 MiB */

static void
make_base(const char *name, uint64_t nblk)
{
	struct bdev_malloc_opts o = { .name = name, .num_blocks = nblk, .block_size = BS };

	CU_ASSERT_EQUAL_FATAL(bdev_malloc_create(&o, NULL), 0);
}

static void
collect(const char *name, void *ctx)
{
	char *out = ctx;

	strcat(out, name);
	strcat(out, " ");
}

static void
test_parts_and_offsets(void)
{
	struct ut_desc part, base;
	char names[256] = "", err[256];
	uint8_t *w = ut_buf(4 * BS, 0), *r = ut_buf(4 * BS, 0);
	struct osp_bdev *p2;
	uint32_t i;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(2), 0);
	make_base("M0", NBLK);
	CU_ASSERT_EQUAL(bdev_split_create("M0", 4, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bdev_split_foreach_part("M0", collect, names), 4);
	CU_ASSERT_STRING_EQUAL(names, "M0p0 M0p1 M0p2 M0p3 ");
	for (i = 0; i < 4; i++) {
		char n[16];
		struct osp_bdev *p;

		snprintf(n, sizeof(n), "M0p%u", i);
		p = osp_bdev_get_by_name(n);
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		CU_ASSERT_EQUAL(osp_bdev_get_num_blocks(p), NBLK / 4);
		CU_ASSERT_EQUAL(osp_bdev_get_block_size(p), BS);
		CU_ASSERT_STRING_EQUAL(osp_bdev_get_module_name(p), "split");
	}
	CU_ASSERT_STRING_EQUAL(osp_bdev_get_claim_module(osp_bdev_get_by_name("M0"))->name, "split");
	/* Distinct uuids, none equal to the base's. */
	CU_ASSERT_NOT_EQUAL(osp_uuid_compare(osp_bdev_get_uuid(osp_bdev_get_by_name("M0p0")),
					     osp_bdev_get_uuid(osp_bdev_get_by_name("M0p1"))), 0);
	CU_ASSERT_NOT_EQUAL(osp_uuid_compare(osp_bdev_get_uuid(osp_bdev_get_by_name("M0p0")),
					     osp_bdev_get_uuid(osp_bdev_get_by_name("M0"))), 0);

	CU_ASSERT_EQUAL_FATAL(ut_open("M0p2", true, 1, &part), 0);
	CU_ASSERT_EQUAL_FATAL(ut_open("M0", false, 0, &base), 0);
	/* Part 2, blocks 5..8 are base blocks 2 * 4096 + 5 .. */
	ut_pattern(w, 5, 4, BS, 2);
	CU_ASSERT_EQUAL(ut_do(&part, UT_WRITE, w, 5, 4), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&base, UT_READ, r, 2 * (NBLK / 4) + 5, 4), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(r, w, 4 * BS), 0);
	memset(r, 0, 4 * BS);
	CU_ASSERT_EQUAL(ut_do(&part, UT_READ, r, 5, 4), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(r, w, 4 * BS), 0);
	/* Unmap through the part hits the same base blocks. */
	CU_ASSERT_EQUAL(ut_do(&part, UT_UNMAP, NULL, 6, 1), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&base, UT_READ, r, 2 * (NBLK / 4) + 5, 4), OSP_BDEV_IO_STATUS_SUCCESS);
	memset(w + BS, 0, BS);
	CU_ASSERT_EQUAL(memcmp(r, w, 4 * BS), 0);
	/* The last block of the part is fine, the next is not (the layer checks the part's size). */
	CU_ASSERT_EQUAL(ut_do(&part, UT_WRITE, w, NBLK / 4 - 1, 1), OSP_BDEV_IO_STATUS_SUCCESS);
	{
		struct ut_io io;

		CU_ASSERT_EQUAL(ut_submit(&part, UT_WRITE, w, NBLK / 4 - 1, 2, &io), -EINVAL);
	}
	/* What part 3 holds at its block 0 is untouched by part 2's last block. */
	CU_ASSERT_EQUAL(ut_do(&base, UT_READ, r, 3 * (NBLK / 4), 1), OSP_BDEV_IO_STATUS_SUCCESS);
	p2 = osp_bdev_get_by_name("M0p2");
	CU_ASSERT_FALSE(osp_bdev_io_type_supported(p2, OSP_BDEV_IO_TYPE_NVME_IO));
	CU_ASSERT_EQUAL(ut_do(&part, UT_FLUSH, NULL, 0, 1), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&part, UT_RESET, NULL, 0, 0), OSP_BDEV_IO_STATUS_SUCCESS);

	ut_close(&part);
	ut_close(&base);
	free(w);
	free(r);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

static void
test_sized_parts(void)
{
	char err[256];
	struct ut_desc part, base;
	uint8_t *w = ut_buf(BS, 0x3c), *r = ut_buf(BS, 0);

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(1), 0);
	make_base("M0", NBLK);
	/* 3 parts of 2 MiB from an 8 MiB base: 2 MiB stay unused. */
	CU_ASSERT_EQUAL(bdev_split_create("M0", 3, 2, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(osp_bdev_get_num_blocks(osp_bdev_get_by_name("M0p1")), 4096);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("M0p3"));
	CU_ASSERT_EQUAL_FATAL(ut_open("M0p1", true, 0, &part), 0);
	CU_ASSERT_EQUAL_FATAL(ut_open("M0", false, 0, &base), 0);
	CU_ASSERT_EQUAL(ut_do(&part, UT_WRITE, w, 0, 1), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(ut_do(&base, UT_READ, r, 4096, 1), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(r, w, BS), 0);
	ut_close(&part);
	ut_close(&base);
	free(w);
	free(r);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

static void
test_errors(void)
{
	char err[256];
	struct bdev_malloc_opts o = { .name = "M2p0", .num_blocks = 8, .block_size = BS };

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(1), 0);
	make_base("M0", NBLK);
	make_base("M1", 8);
	make_base("M2", NBLK);
	CU_ASSERT_EQUAL(bdev_split_create("M0", 0, 0, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "split_count"));
	CU_ASSERT_EQUAL(bdev_split_create("M0", BDEV_SPLIT_MAX_PARTS + 1, 0, err, sizeof(err)), -EINVAL);
	/* 3 x 4 MiB > 8 MiB */
	CU_ASSERT_EQUAL(bdev_split_create("M0", 3, 4, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "do not fit"));
	/* 9 parts of an 8-block base: less than a block each */
	CU_ASSERT_EQUAL(bdev_split_create("M1", 9, 0, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("M0p0"));
	CU_ASSERT_PTR_NULL(osp_bdev_get_claim_module(osp_bdev_get_by_name("M0")));

	CU_ASSERT_EQUAL(bdev_split_create("M0", 2, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bdev_split_create("M0", 2, 0, err, sizeof(err)), -EEXIST);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "already split"));
	/* A part's name is taken. */
	CU_ASSERT_EQUAL(bdev_malloc_create(&o, NULL), 0);
	CU_ASSERT_EQUAL(bdev_split_create("M2", 2, 0, err, sizeof(err)), -EEXIST);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "M2p0"));
	CU_ASSERT_PTR_NULL(osp_bdev_get_claim_module(osp_bdev_get_by_name("M2")));
	/* A part of M0 is a bdev like any other: it can be split in turn. */
	CU_ASSERT_EQUAL(bdev_split_create("M0p1", 2, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(osp_bdev_get_num_blocks(osp_bdev_get_by_name("M0p1p1")), NBLK / 4);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

static void
test_deferred_hot_remove_delete(void)
{
	char err[256];
	struct ut_desc part;
	struct osp_uuid u0;
	int done = 0, done2 = 0;
	cJSON *array;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(2), 0);
	CU_ASSERT_EQUAL(bdev_split_create("M0", 2, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bdev_split_foreach_part("M0", collect, err), 0);
	make_base("M0", NBLK);
	ut_poll_threads();
	CU_ASSERT_PTR_NOT_NULL_FATAL(osp_bdev_get_by_name("M0p1"));
	u0 = *osp_bdev_get_uuid(osp_bdev_get_by_name("M0p0"));

	/* One config call per split, whatever the number of parts. */
	array = cJSON_CreateArray();
	osp_bdev_module_list_find("split")->config_json(array);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(array), 1);
	CU_ASSERT_EQUAL(ut_num(cJSON_GetObjectItem(cJSON_GetArrayItem(array, 0), "params"),
			       "split_count"), 2);
	cJSON_Delete(array);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("M0p0")->fn_table->write_config_json);

	/* Hot remove of the base with a part open. */
	CU_ASSERT_EQUAL_FATAL(ut_open("M0p0", true, 1, &part), 0);
	CU_ASSERT_EQUAL(bdev_malloc_delete("M0", ut_unreg_cb, &done), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(part.removed, 1);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("M0p0"));
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("M0p1"));
	CU_ASSERT_EQUAL(done, 0);
	ut_close(&part);
	CU_ASSERT_EQUAL(done, 1);

	/* Base back: same parts, same uuids (derived from the base's). */
	{
		struct bdev_malloc_opts o = { .name = "M0", .num_blocks = NBLK, .block_size = BS };
		struct osp_bdev *b = NULL;

		osp_uuid_generate(&o.uuid);
		CU_ASSERT_EQUAL(bdev_malloc_create(&o, &b), 0);
		ut_poll_threads();
		CU_ASSERT_PTR_NOT_NULL_FATAL(osp_bdev_get_by_name("M0p0"));
		u0 = *osp_bdev_get_uuid(osp_bdev_get_by_name("M0p0"));
		/* Delete and recreate the split on the same base: same uuid again. */
		CU_ASSERT_EQUAL(bdev_split_delete("M0", ut_unreg_cb, &done2), 0);
		ut_poll_threads();
		CU_ASSERT_EQUAL(done2, 1);
		CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("M0p0"));
		CU_ASSERT_PTR_NULL(osp_bdev_get_claim_module(b));
		CU_ASSERT_EQUAL(bdev_split_create("M0", 2, 0, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(osp_uuid_compare(osp_bdev_get_uuid(osp_bdev_get_by_name("M0p0")), &u0), 0);
	}
	CU_ASSERT_EQUAL(bdev_split_delete("nope", ut_unreg_cb, &done2), -ENODEV);
	/* Deleting a split that waits for its base answers at once. */
	done2 = 0;
	CU_ASSERT_EQUAL(bdev_split_create("Later", 2, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bdev_split_delete("Later", ut_unreg_cb, &done2), 0);
	CU_ASSERT_EQUAL(done2, 1);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

UT_RUN_SUITE("bdev_split",
	     CU_ADD_TEST(suite, test_parts_and_offsets);
	     CU_ADD_TEST(suite, test_sized_parts);
	     CU_ADD_TEST(suite, test_errors);
	     CU_ADD_TEST(suite, test_deferred_hot_remove_delete);
	    )
