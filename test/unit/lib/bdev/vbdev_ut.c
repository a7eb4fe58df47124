/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the virtual-bdev helper (lib/bdev/vbdev.c) through a test
 * module that puts two bdevs ("<base>v0", "<base>v1") on each base, on
 * malloc bases: a config waits for its base and is built when the base
 * appears, the base's hot removal unregisters both bdevs and keeps the
 * config, a base claimed by another module is refused, the base is released
 * on the thread that opened it, quiesce runs before the bdevs go and a
 * delete is answered only once the base is free again.
 */
#include "ut_bdev.h"

#include "osprey/util.h"

#include "../../../../drivers/bdev/malloc/bdev_malloc.h"
#include "../../../../drivers/bdev/passthru/bdev_passthru.h"

#define BS	512
#define NBLK	256

struct tv_bdev {
	struct osp_bdev bdev;
	struct tv_base *tb;
};

struct tv_base {
	struct osp_vbdev_base base;
	struct tv_bdev parts[2];
};

struct tv_channel {
	struct osp_vbdev_channel vch;
	int magic;
};

static struct {
	int built;
	int freed;
	int configs_freed;
	int quiesced;
	int channels;
	/* bdevs still registered when quiesce ran (must be all of them). */
	int registered_at_quiesce;
	struct osp_thread *free_thread;
	bool defer_quiesce;
	struct osp_vbdev_base *quiesce_base;
} g_tv;

static void tv_examine_config(struct osp_bdev *bdev);

static struct osp_bdev_module g_tv_module = {
	.name = "ut_vbdev",
	.examine_config = tv_examine_config,
};
OSP_BDEV_MODULE_REGISTER(ut_vbdev, &g_tv_module)

static int tv_build(struct osp_vbdev_config *cfg, char *err, size_t errlen);

static void
tv_config_free(struct osp_vbdev_config *cfg)
{
	g_tv.configs_freed++;
	free(cfg->base_name);
	free(cfg);
}

static void
tv_write_config(struct osp_vbdev_config *cfg, cJSON *array)
{
	cJSON *params = cJSON_CreateObject();

	cJSON_AddStringToObject(params, "base_bdev", cfg->base_name);
	osp_json_add_rpc_call(array, "ut_vbdev_create", params);
}

static struct osp_vbdev_list g_tv_list = OSP_VBDEV_LIST_INITIALIZER(g_tv_list, &g_tv_module,
		"ut vbdev", tv_build, tv_config_free, tv_write_config);

static void
tv_examine_config(struct osp_bdev *bdev)
{
	osp_vbdev_examine(&g_tv_list, bdev);
}

static int
tv_channel_create(struct osp_vbdev_base *base, struct osp_vbdev_channel *vch)
{
	struct tv_channel *ch = OSP_CONTAINEROF(vch, struct tv_channel, vch);

	CU_ASSERT_PTR_NOT_NULL(vch->base_ch);
	ch->magic = 0x5a;
	g_tv.channels++;
	return 0;
}

static void
tv_channel_destroy(struct osp_vbdev_base *base, struct osp_vbdev_channel *vch)
{
	struct tv_channel *ch = OSP_CONTAINEROF(vch, struct tv_channel, vch);

	CU_ASSERT_EQUAL(ch->magic, 0x5a);
	g_tv.channels--;
}

static void
tv_quiesce(struct osp_vbdev_base *base)
{
	g_tv.quiesced++;
	g_tv.registered_at_quiesce = (int)base->nregistered;
	if (g_tv.defer_quiesce) {
		g_tv.quiesce_base = base;
		return;
	}
	osp_vbdev_base_quiesced(base);
}

static void
tv_free(struct osp_vbdev_base *base)
{
	struct tv_base *tb = OSP_CONTAINEROF(base, struct tv_base, base);

	/* The helper released the claim before: the base is free again. */
	CU_ASSERT_PTR_NULL(osp_bdev_get_claim_module(base->bdev));
	g_tv.freed++;
	g_tv.free_thread = osp_get_thread();
	free(tb->parts[0].bdev.name);
	free(tb->parts[1].bdev.name);
	free(tb);
}

static const struct osp_vbdev_base_ops g_tv_ops = {
	.channel_size = sizeof(struct tv_channel),
	.channel_create = tv_channel_create,
	.channel_destroy = tv_channel_destroy,
	.quiesce = tv_quiesce,
	.free = tv_free,
};

static int
tv_destruct(void *ctx)
{
	struct tv_bdev *b = ctx;

	return osp_vbdev_base_destruct(&b->tb->base, &b->bdev);
}

static void
tv_submit(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io)
{
	struct tv_channel *tch = osp_io_channel_get_ctx(ch);

	CU_ASSERT_EQUAL(tch->magic, 0x5a);
	osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_SUCCESS);
}

static bool
tv_io_type_supported(void *ctx, enum osp_bdev_io_type type)
{
	return type == OSP_BDEV_IO_TYPE_FLUSH;
}

static struct osp_io_channel *
tv_get_io_channel(void *ctx)
{
	struct tv_bdev *b = ctx;

	return osp_vbdev_base_get_io_channel(&b->tb->base);
}

static const struct osp_bdev_fn_table g_tv_fn_table = {
	.destruct = tv_destruct,
	.submit_request = tv_submit,
	.io_type_supported = tv_io_type_supported,
	.get_io_channel = tv_get_io_channel,
};

static int
tv_build(struct osp_vbdev_config *cfg, char *err, size_t errlen)
{
	struct tv_base *tb = calloc(1, sizeof(*tb));
	int rc, i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(tb);
	rc = osp_vbdev_base_open(&tb->base, &g_tv_ops, &g_tv_module, cfg, cfg->base_name,
				 cfg->base_name, err, errlen);
	if (rc != 0) {
		free(tb);
		return rc;
	}
	for (i = 0; i < 2; i++) {
		struct tv_bdev *b = &tb->parts[i];

		b->tb = tb;
		b->bdev.name = osp_sprintf_alloc("%sv%d", cfg->base_name, i);
		b->bdev.product_name = "ut vbdev";
		osp_bdev_copy_geometry(&b->bdev, tb->base.bdev);
		b->bdev.ctxt = b;
		b->bdev.module = &g_tv_module;
		b->bdev.fn_table = &g_tv_fn_table;
		rc = osp_vbdev_base_add_bdev(&tb->base, &b->bdev);
		CU_ASSERT_EQUAL(rc, 0);
	}
	g_tv.built++;
	return 0;
}

static int
tv_add(const char *base_name, char *err, size_t errlen)
{
	struct osp_vbdev_config *cfg = calloc(1, sizeof(*cfg));

	cfg->base_name = strdup(base_name);
	return osp_vbdev_config_add(&g_tv_list, cfg, err, errlen);
}

static void
make_base(const char *name)
{
	struct bdev_malloc_opts o = { .name = name, .num_blocks = NBLK, .block_size = BS };

	CU_ASSERT_EQUAL_FATAL(bdev_malloc_create(&o, NULL), 0);
	ut_poll_threads();
}

static void
tv_reset(void)
{
	memset(&g_tv, 0, sizeof(g_tv));
}

static void
tv_stop(void)
{
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
	osp_vbdev_fini(&g_tv_list);
	CU_ASSERT_EQUAL(g_tv.freed, g_tv.built);
	CU_ASSERT_EQUAL(g_tv.channels, 0);
}

/* A config waits for its base; the base's registration builds it. */
static void
test_build_when_base_appears(void)
{
	struct osp_vbdev_config *cfg;
	cJSON *array;
	char err[128];

	tv_reset();
	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(2), 0);
	CU_ASSERT_EQUAL(tv_add("M0", err, sizeof(err)), 0);
	cfg = osp_vbdev_config_find(&g_tv_list, "M0", true);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_PTR_NULL(cfg->base);
	CU_ASSERT_PTR_NULL(osp_vbdev_config_find(&g_tv_list, "M0", false));
	CU_ASSERT_EQUAL(g_tv.built, 0);
	/* A waiting config is written by config_json. */
	array = cJSON_CreateArray();
	osp_vbdev_config_json(&g_tv_list, array);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(array), 1);
	cJSON_Delete(array);

	make_base("M0");
	CU_ASSERT_EQUAL(g_tv.built, 1);
	CU_ASSERT_PTR_NOT_NULL(cfg->base);
	CU_ASSERT_PTR_NOT_NULL(osp_bdev_get_by_name("M0v0"));
	CU_ASSERT_PTR_NOT_NULL(osp_bdev_get_by_name("M0v1"));
	CU_ASSERT_STRING_EQUAL(osp_bdev_claimer_name("M0"), "ut_vbdev");
	/* Built: config_json leaves it to the bdevs. */
	array = cJSON_CreateArray();
	osp_vbdev_config_json(&g_tv_list, array);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(array), 0);
	cJSON_Delete(array);
	/* Another bdev appearing builds nothing. */
	make_base("M1");
	CU_ASSERT_EQUAL(g_tv.built, 1);
	tv_stop();
	CU_ASSERT_EQUAL(g_tv.configs_freed, 1);
}

/* Removing the base removes every bdev on it (I/O on them completes); the config stays. */
static void
test_hot_remove_cascade(void)
{
	struct ut_desc d0, d1;
	struct osp_vbdev_config *cfg;
	int done = 0;

	tv_reset();
	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(2), 0);
	make_base("M0");
	CU_ASSERT_EQUAL(tv_add("M0", NULL, 0), 0);
	CU_ASSERT_EQUAL(g_tv.built, 1);
	CU_ASSERT_EQUAL_FATAL(ut_open("M0v0", true, 1, &d0), 0);
	CU_ASSERT_EQUAL_FATAL(ut_open("M0v1", true, 0, &d1), 0);
	CU_ASSERT_EQUAL(ut_do(&d0, UT_FLUSH, NULL, 0, NBLK), OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT_EQUAL(g_tv.channels, 2);

	CU_ASSERT_EQUAL(bdev_malloc_delete("M0", ut_unreg_cb, &done), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_tv.quiesced, 1);
	CU_ASSERT_EQUAL(g_tv.registered_at_quiesce, 2);
	CU_ASSERT_EQUAL(d0.removed, 1);
	CU_ASSERT_EQUAL(d1.removed, 1);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("M0v0"));
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("M0v1"));
	CU_ASSERT_EQUAL(done, 0);	/* the base waits for both bdevs to let go */
	ut_close(&d0);
	CU_ASSERT_EQUAL(g_tv.freed, 0);
	ut_close(&d1);
	CU_ASSERT_EQUAL(g_tv.freed, 1);
	CU_ASSERT_EQUAL(g_tv.channels, 0);
	CU_ASSERT_EQUAL(done, 1);

	/* The config waits again, and comes back with its base. */
	cfg = osp_vbdev_config_find(&g_tv_list, "M0", true);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_PTR_NULL(cfg->base);
	make_base("M0");
	CU_ASSERT_EQUAL(g_tv.built, 2);
	CU_ASSERT_PTR_NOT_NULL(osp_bdev_get_by_name("M0v1"));
	tv_stop();
}

/* A base claimed by another module is refused, with who holds it; the config is dropped. */
static void
test_claim_refused(void)
{
	char err[128] = "";

	tv_reset();
	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(1), 0);
	make_base("M0");
	CU_ASSERT_EQUAL(bdev_passthru_create("PT0", "M0", NULL), 0);
	CU_ASSERT_EQUAL(tv_add("M0", err, sizeof(err)), -EPERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "claimed by module 'passthru'"));
	CU_ASSERT_EQUAL(g_tv.configs_freed, 1);
	CU_ASSERT_PTR_NULL(osp_vbdev_config_find(&g_tv_list, "M0", true));
	CU_ASSERT_STRING_EQUAL(osp_bdev_claimer_name("M0"), "passthru");
	CU_ASSERT_STRING_EQUAL(osp_bdev_claimer_name("nope"), "unknown");

	/* And the other way round: once we hold it, the passthru is refused. */
	make_base("M1");
	CU_ASSERT_EQUAL(tv_add("M1", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bdev_passthru_create("PT1", "M1", NULL), -EPERM);
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("PT1"));
	tv_stop();
}

/*
 * Built on thread 1, deleted from thread 0: the descriptor is closed (and
 * the object freed) on thread 1, and the delete is answered after that.
 */
static void
test_release_on_opening_thread(void)
{
	struct osp_vbdev_config *cfg;
	int done = 0, done2 = 0;

	tv_reset();
	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(2), 0);
	make_base("M0");
	ut_set_thread(1);
	CU_ASSERT_EQUAL(tv_add("M0", NULL, 0), 0);
	ut_set_thread(0);
	CU_ASSERT_EQUAL(g_tv.built, 1);
	cfg = osp_vbdev_config_find(&g_tv_list, "M0", true);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_PTR_EQUAL(cfg->base->thread, ut_thread(1));

	/* quiesce holds the bdevs back until the module says so. */
	g_tv.defer_quiesce = true;
	osp_vbdev_config_delete(&g_tv_list, cfg, ut_unreg_cb, &done);
	ut_poll_threads();
	CU_ASSERT_EQUAL(g_tv.quiesced, 1);
	CU_ASSERT_PTR_NOT_NULL(osp_bdev_get_by_name("M0v0"));
	CU_ASSERT_PTR_NULL(osp_vbdev_config_find(&g_tv_list, "M0", true));
	/* A second unregister (hot remove racing with delete) starts nothing new. */
	osp_vbdev_base_unregister(g_tv.quiesce_base, ut_unreg_cb, &done2);
	CU_ASSERT_EQUAL(done2, 1);	/* someone already waits: answered at once */
	CU_ASSERT_EQUAL(g_tv.quiesced, 1);
	osp_vbdev_base_quiesced(g_tv.quiesce_base);
	ut_poll_threads();
	CU_ASSERT_PTR_NULL(osp_bdev_get_by_name("M0v0"));
	CU_ASSERT_EQUAL(g_tv.freed, 1);
	CU_ASSERT_PTR_EQUAL(g_tv.free_thread, ut_thread(1));
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT_PTR_NULL(osp_bdev_get_claim_module(osp_bdev_get_by_name("M0")));
	CU_ASSERT_EQUAL(g_tv.configs_freed, 1);
	tv_stop();
}

/* Stopping the layer with bdevs on a base: all are destructed, the base released. */
static void
test_shutdown(void)
{
	tv_reset();
	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(2), 0);
	make_base("M0");
	CU_ASSERT_EQUAL(tv_add("M0", NULL, 0), 0);
	CU_ASSERT_EQUAL(tv_add("M9", NULL, 0), 0);	/* waits forever */
	tv_stop();
	CU_ASSERT_EQUAL(g_tv.freed, 1);
	CU_ASSERT_EQUAL(g_tv.configs_freed, 2);
}

UT_RUN_SUITE("bdev_vbdev",
	     CU_ADD_TEST(suite, test_build_when_base_appears);
	     CU_ADD_TEST(suite, test_hot_remove_cascade);
	     CU_ADD_TEST(suite, test_claim_refused);
	     CU_ADD_TEST(suite, test_release_on_opening_thread);
	     CU_ADD_TEST(suite, test_shutdown);
	    )
