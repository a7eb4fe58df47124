/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/bdev/bdev.c: a test module whose bdevs keep their data in
 * memory and whose submit_request queues every I/O, so each test decides when
 * and how I/O completes; driven on deterministic test threads.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "bdev/bdev.c"
#include "bdev/bdev_register.c"
#include "bdev/bdev_emul.c"
#include "bdev/bdev_qos.c"
#include "bdev/bdev_stat.c"
#include "bdev/bdev_buf.c"
#include "bdev/bdev_rpc.c"

#include "ut_env.h"
#include "ut_thread.h"
#include "ut_run.h"
#include "osprey_internal/mock.h"

/* ---- the test module ---- */

struct ut_io {
	TAILQ_ENTRY(ut_io) link;
};

struct ut_bdev {
	struct osp_bdev bdev;
	uint8_t *data;
	uint32_t types;		/* supported I/O types (bits) */
	bool destructed;
	bool async_destruct;
};

struct ut_channel {
	TAILQ_HEAD(, ut_io) queue;
	uint32_t count;
};

static int g_ut_io_device;
/* Submissions seen by the module, per type, and the last one. */
static uint32_t g_submitted[OSP_BDEV_NUM_IO_TYPES];
static struct osp_bdev_io *g_last_io;
/* Complete every I/O inside submit_request with this status (0 = queue it). */
static int g_inline_status;
/* Complete this many of the next submissions with NOMEM. */
static int g_nomem_next;
static uint32_t g_destruct_calls;

static struct osp_bdev_module g_ut_module;

OSP_DEFINE_STUB(ut_module_init, int, (void), 0)

static int
ut_get_ctx_size(void)
{
	return sizeof(struct ut_io);
}

static struct osp_bdev_module g_ut_module = {
	.name = "ut",
	.module_init = ut_module_init,
	.get_ctx_size = ut_get_ctx_size,
};
OSP_BDEV_MODULE_REGISTER(ut, &g_ut_module)

/* A second module that examines every bdev; examine_disk may be held. */
static struct osp_bdev_module g_exam_module;
static int g_examine_config_calls;
static int g_examine_disk_calls;
static bool g_examine_hold;
static int g_examine_held;
static int g_exam_init_calls;
static int g_exam_fini_calls;

static void
ut_examine_config(struct osp_bdev *bdev)
{
	g_examine_config_calls++;
	osp_bdev_module_examine_done(&g_exam_module);
}

static void
ut_examine_disk(struct osp_bdev *bdev)
{
	g_examine_disk_calls++;
	if (g_examine_hold) {
		g_examine_held++;
		return;
	}
	osp_bdev_module_examine_done(&g_exam_module);
}

static void
ut_exam_init_done(void *arg)
{
	osp_bdev_module_init_done(&g_exam_module);
}

static int
ut_exam_init(void)
{
	g_exam_init_calls++;
	/* Finish later, from a message: the layer waits for it. */
	return osp_thread_send_msg(osp_get_thread(), ut_exam_init_done, NULL);
}

static void
ut_exam_fini_done(void *arg)
{
	osp_bdev_module_fini_done();
}

static void
ut_exam_fini(void)
{
	g_exam_fini_calls++;
	osp_thread_send_msg(osp_get_thread(), ut_exam_fini_done, NULL);
}

static void
ut_exam_config_json(cJSON *array)
{
	osp_json_add_rpc_call(array, "ut_exam_setting", cJSON_CreateObject());
}

static struct osp_bdev_module g_exam_module = {
	.name = "ut_exam",
	.module_init = ut_exam_init,
	.module_fini = ut_exam_fini,
	.examine_config = ut_examine_config,
	.examine_disk = ut_examine_disk,
	.config_json = ut_exam_config_json,
	.async_init = true,
	.async_fini = true,
};
OSP_BDEV_MODULE_REGISTER(ut_exam, &g_exam_module)

/* Names of destructed bdevs, in order. */
static char g_destruct_log[256];
/* A bdev whose destruct closes (and releases the claim on) a base descriptor. */
static struct osp_bdev_desc *g_vbdev_base_desc;
static struct ut_bdev *g_vbdev;

static int
ut_destruct(void *ctx)
{
	struct ut_bdev *ub = ctx;

	g_destruct_calls++;
	ub->destructed = true;
	strncat(g_destruct_log, ub->bdev.name, sizeof(g_destruct_log) - strlen(g_destruct_log) - 2);
	strcat(g_destruct_log, ",");
	if (ub == g_vbdev && g_vbdev_base_desc != NULL) {
		osp_bdev_module_release_bdev(osp_bdev_desc_get_bdev(g_vbdev_base_desc));
		osp_bdev_close(g_vbdev_base_desc);
		g_vbdev_base_desc = NULL;
	}
	if (ub->async_destruct) {
		return 1;
	}
	return 0;
}

static bool
ut_io_type_supported(void *ctx, enum osp_bdev_io_type type)
{
	struct ut_bdev *ub = ctx;

	return (ub->types & (1u << type)) != 0;
}

static struct osp_io_channel *
ut_get_io_channel(void *ctx)
{
	return osp_get_io_channel(&g_ut_io_device);
}

static int
ut_channel_create(void *io_device, void *ctx_buf)
{
	struct ut_channel *uc = ctx_buf;

	TAILQ_INIT(&uc->queue);
	return 0;
}

static void
ut_channel_destroy(void *io_device, void *ctx_buf)
{
	struct ut_channel *uc = ctx_buf;

	CU_ASSERT(TAILQ_EMPTY(&uc->queue));
}

/* Carry out the data part of an I/O against the bdev's memory. */
static int
ut_do_io(struct osp_bdev_io *bdev_io)
{
	struct ut_bdev *ub = bdev_io->bdev->ctxt;
	uint32_t bl = bdev_io->bdev->blocklen;
	uint8_t *p = ub->data + bdev_io->u.bdev.offset_blocks * bl;
	size_t len = bdev_io->u.bdev.num_blocks * bl;

	switch (bdev_io->type) {
	case OSP_BDEV_IO_TYPE_READ:
		osp_iov_copy_from_buf(p, len, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, 0);
		break;
	case OSP_BDEV_IO_TYPE_WRITE:
		osp_iov_copy_to_buf(p, len, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, 0);
		break;
	case OSP_BDEV_IO_TYPE_WRITE_ZEROES:
	case OSP_BDEV_IO_TYPE_UNMAP:
		memset(p, 0, len);
		break;
	case OSP_BDEV_IO_TYPE_COMPARE:
		return osp_iov_cmp_buf(bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, 0, p, len,
				       NULL) == 0 ?
		       OSP_BDEV_IO_STATUS_SUCCESS : OSP_BDEV_IO_STATUS_MISCOMPARE;
	default:
		break;
	}
	return OSP_BDEV_IO_STATUS_SUCCESS;
}

static void ut_submit_request(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io);
static uint32_t g_get_buf_calls;

static void
ut_get_buf_cb(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io, bool success)
{
	CU_ASSERT(success);
	CU_ASSERT(bdev_io->u.bdev.iovs[0].iov_base != NULL);
	CU_ASSERT(((uintptr_t)bdev_io->u.bdev.iovs[0].iov_base & 4095) == 0);
	g_get_buf_calls++;
	ut_submit_request(ch, bdev_io);
}

static void
ut_submit_request(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io)
{
	struct ut_channel *uc = osp_io_channel_get_ctx(ch);
	struct ut_io *uio = (struct ut_io *)bdev_io->driver_ctx;

	CU_ASSERT(osp_io_channel_get_io_device(ch) == &g_ut_io_device);
	if (bdev_io->type == OSP_BDEV_IO_TYPE_READ && bdev_io->u.bdev.iovs[0].iov_base == NULL) {
		osp_bdev_io_get_buf(bdev_io, ut_get_buf_cb,
				    bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen);
		return;
	}
	g_submitted[bdev_io->type]++;
	g_last_io = bdev_io;
	if (g_nomem_next > 0) {
		g_nomem_next--;
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_NOMEM);
		return;
	}
	if (g_inline_status != 0) {
		int st = g_inline_status == OSP_BDEV_IO_STATUS_SUCCESS ? ut_do_io(bdev_io) :
			 g_inline_status;

		osp_bdev_io_complete(bdev_io, st);
		return;
	}
	TAILQ_INSERT_TAIL(&uc->queue, uio, link);
	uc->count++;
}

static void
ut_write_config_json(struct osp_bdev *bdev, cJSON *array)
{
	cJSON *params = cJSON_CreateObject();

	cJSON_AddStringToObject(params, "name", bdev->name);
	osp_json_add_rpc_call(array, "ut_bdev_create", params);
}

static void
ut_dump_info_json(void *ctx, cJSON *obj)
{
	cJSON_AddStringToObject(obj, "ut", "yes");
}

static const struct osp_bdev_fn_table g_ut_fn_table = {
	.destruct = ut_destruct,
	.submit_request = ut_submit_request,
	.io_type_supported = ut_io_type_supported,
	.get_io_channel = ut_get_io_channel,
	.write_config_json = ut_write_config_json,
	.dump_info_json = ut_dump_info_json,
};

#define UT_RW_TYPES ((1u << OSP_BDEV_IO_TYPE_READ) | (1u << OSP_BDEV_IO_TYPE_WRITE) | \
		     (1u << OSP_BDEV_IO_TYPE_FLUSH) | (1u << OSP_BDEV_IO_TYPE_RESET) | \
		     (1u << OSP_BDEV_IO_TYPE_UNMAP))

static struct ut_bdev *
ut_bdev_alloc(const char *name, uint32_t blocklen, uint64_t blockcnt, uint32_t types)
{
	struct ut_bdev *ub = calloc(1, sizeof(*ub));

	ub->bdev.name = strdup(name);
	ub->bdev.product_name = "ut disk";
	ub->bdev.blocklen = blocklen;
	ub->bdev.blockcnt = blockcnt;
	ub->bdev.module = &g_ut_module;
	ub->bdev.fn_table = &g_ut_fn_table;
	ub->bdev.ctxt = ub;
	ub->types = types;
	TAILQ_INIT(&ub->bdev.aliases);
	ub->data = calloc(blockcnt, blocklen);
	return ub;
}

static void
ut_bdev_free(struct ut_bdev *ub)
{
	struct osp_bdev_alias *a;

	while ((a = TAILQ_FIRST(&ub->bdev.aliases)) != NULL) {
		TAILQ_REMOVE(&ub->bdev.aliases, a, link);
		free(a->alias);
		free(a);
	}
	free(ub->bdev.name);
	free(ub->data);
	free(ub);
}

/* Complete up to n queued I/O of thread t's module channel (n < 0: all). */
static int
ut_complete(int t, int n, int status)
{
	struct osp_io_channel *ioch;
	struct ut_channel *uc;
	struct ut_io *uio;
	int done = 0;

	ut_set_thread(t);
	ioch = osp_get_io_channel(&g_ut_io_device);
	uc = osp_io_channel_get_ctx(ioch);
	while ((n < 0 || done < n) && (uio = TAILQ_FIRST(&uc->queue)) != NULL) {
		struct osp_bdev_io *bdev_io = osp_bdev_io_from_ctx(uio);
		int st = status;

		TAILQ_REMOVE(&uc->queue, uio, link);
		uc->count--;
		if (status == OSP_BDEV_IO_STATUS_SUCCESS) {
			st = ut_do_io(bdev_io);
		}
		osp_bdev_io_complete(bdev_io, st);
		done++;
	}
	osp_put_io_channel(ioch);
	return done;
}

static uint32_t
ut_queued(int t)
{
	struct osp_io_channel *ioch;
	uint32_t n;

	ut_set_thread(t);
	ioch = osp_get_io_channel(&g_ut_io_device);
	n = ((struct ut_channel *)osp_io_channel_get_ctx(ioch))->count;
	osp_put_io_channel(ioch);
	return n;
}

static struct osp_bdev_io *
ut_queued_io(int t, int idx)
{
	struct osp_io_channel *ioch;
	struct ut_channel *uc;
	struct ut_io *uio;

	ut_set_thread(t);
	ioch = osp_get_io_channel(&g_ut_io_device);
	uc = osp_io_channel_get_ctx(ioch);
	uio = TAILQ_FIRST(&uc->queue);
	while (uio != NULL && idx-- > 0) {
		uio = TAILQ_NEXT(uio, link);
	}
	osp_put_io_channel(ioch);
	return uio != NULL ? osp_bdev_io_from_ctx(uio) : NULL;
}

/* ---- harness ---- */

#define UT_THREADS 2

static int g_init_rc = 1;
static bool g_fini_done;

static void
ut_init_done(void *arg, int rc)
{
	g_init_rc = rc;
}

static void
ut_fini_done(void *arg)
{
	g_fini_done = true;
}

/* Start the layer with small pools (and opts changes by the caller). */
static void
ut_setup_opts(const struct osp_bdev_opts *opts)
{
	struct osp_bdev_opts o;

	if (ut_thread_count() == 0) {
		CU_ASSERT_FATAL(ut_allocate_threads(UT_THREADS) == 0);
	}
	if (opts == NULL) {
		osp_bdev_get_opts(&o, sizeof(o));
		o.bdev_io_pool_size = 1024;
		o.bdev_io_cache_size = 32;
		o.small_buf_pool_size = 64;
		o.large_buf_pool_size = 16;
		o.iobuf_small_cache_size = 8;
		o.iobuf_large_cache_size = 2;
		opts = &o;
	}
	CU_ASSERT_FATAL(osp_bdev_set_opts(opts) == 0);
	ut_set_thread(0);
	osp_io_device_register(&g_ut_io_device, ut_channel_create, ut_channel_destroy,
			       sizeof(struct ut_channel), "ut_module");
	g_init_rc = 1;
	osp_bdev_initialize(ut_init_done, NULL);
	ut_poll_threads();
	CU_ASSERT_FATAL(g_init_rc == 0);
	memset(g_submitted, 0, sizeof(g_submitted));
	g_inline_status = 0;
	g_nomem_next = 0;
	g_destruct_calls = 0;
	g_destruct_log[0] = '\0';
	g_get_buf_calls = 0;
	g_examine_hold = false;
}

static void
ut_setup(void)
{
	ut_setup_opts(NULL);
}

static void
ut_teardown(void)
{
	ut_set_thread(0);
	g_fini_done = false;
	osp_bdev_finish(ut_fini_done, NULL);
	ut_poll_threads();
	CU_ASSERT(g_fini_done);
	ut_set_thread(0);
	osp_io_device_unregister(&g_ut_io_device, NULL);
	ut_poll_threads();
	ut_free_threads();
}

/* ---- I/O completion recording ---- */

struct ut_cpl {
	int count;
	bool success;
	int status;
	int thread;
	struct osp_bdev_io *io;
	bool keep;	/* do not free the bdev_io */
};

static void
ut_io_done(struct osp_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct ut_cpl *c = cb_arg;

	c->count++;
	c->success = success;
	c->status = osp_bdev_io_get_status(bdev_io);
	c->thread = ut_get_thread_index();
	c->io = bdev_io;
	if (!c->keep) {
		osp_bdev_free_io(bdev_io);
	}
}

static struct osp_bdev_desc *g_remove_desc;
static int g_remove_events;
static int g_resize_events;
static int g_event_thread;

static void
ut_event_cb(enum osp_bdev_event_type type, struct osp_bdev *bdev, void *ctx)
{
	g_event_thread = ut_get_thread_index();
	if (type == OSP_BDEV_EVENT_REMOVE) {
		g_remove_events++;
		if (ctx != NULL) {
			*(struct osp_bdev_desc **)ctx = g_remove_desc;
		}
	} else {
		g_resize_events++;
	}
}

static int g_unregister_rc;
static int g_unregister_calls;

static void
ut_unregister_done(void *arg, int rc)
{
	g_unregister_rc = rc;
	g_unregister_calls++;
}

/* Register a bdev and open it for writing on thread 0; channels on each thread. */
struct ut_env {
	struct ut_bdev *ub;
	struct osp_bdev_desc *desc;
	struct osp_io_channel *ch[UT_THREADS];
};

static void
ut_env_open(struct ut_env *e, struct ut_bdev *ub)
{
	int t;

	e->ub = ub;
	ut_set_thread(0);
	CU_ASSERT_FATAL(osp_bdev_register(&ub->bdev) == 0);
	ut_poll_threads();
	ut_set_thread(0);
	CU_ASSERT_FATAL(osp_bdev_open_ext(ub->bdev.name, true, ut_event_cb, NULL, &e->desc) == 0);
	for (t = 0; t < UT_THREADS; t++) {
		ut_set_thread(t);
		e->ch[t] = osp_bdev_get_io_channel(e->desc);
		CU_ASSERT_FATAL(e->ch[t] != NULL);
	}
	ut_set_thread(0);
}

static void
ut_env_close(struct ut_env *e)
{
	int t;

	ut_poll_threads();
	for (t = 0; t < UT_THREADS; t++) {
		ut_set_thread(t);
		osp_put_io_channel(e->ch[t]);
	}
	ut_set_thread(0);
	osp_bdev_close(e->desc);
	g_unregister_calls = 0;
	osp_bdev_unregister(&e->ub->bdev, ut_unregister_done, NULL);
	ut_poll_threads();
	CU_ASSERT(g_unregister_calls == 1);
	CU_ASSERT(e->ub->destructed);
	ut_bdev_free(e->ub);
}

static void *
ut_buf(size_t len, int fill)
{
	void *p = aligned_alloc(4096, (len + 4095) & ~(size_t)4095);

	memset(p, fill, len);
	return p;
}

/* ---- tests ---- */

static void
test_register(void)
{
	struct ut_bdev *a, *b, *c;
	struct osp_bdev_desc *desc;

	ut_setup();
	ut_set_thread(0);
	a = ut_bdev_alloc("A", 512, 100, UT_RW_TYPES);
	CU_ASSERT(osp_bdev_register(&a->bdev) == 0);
	CU_ASSERT(osp_bdev_get_by_name("A") == &a->bdev);
	CU_ASSERT(!osp_uuid_is_null(&a->bdev.uuid));
	CU_ASSERT(osp_bdev_get_by_name(a->bdev.internal->uuid_str) == &a->bdev);
	CU_ASSERT(osp_bdev_alias_add(&a->bdev, "A_alias") == 0);
	CU_ASSERT(osp_bdev_get_by_name("A_alias") == &a->bdev);

	/* Duplicate names, aliases and UUIDs. */
	b = ut_bdev_alloc("A", 512, 100, UT_RW_TYPES);
	CU_ASSERT(osp_bdev_register(&b->bdev) == -EEXIST);
	free(b->bdev.name);
	b->bdev.name = strdup("A_alias");
	CU_ASSERT(osp_bdev_register(&b->bdev) == -EEXIST);
	free(b->bdev.name);
	b->bdev.name = strdup("B");
	b->bdev.uuid = a->bdev.uuid;
	CU_ASSERT(osp_bdev_register(&b->bdev) == -EEXIST);
	b->bdev.uuid = (struct osp_uuid){{0}};
	CU_ASSERT(osp_bdev_alias_add(&a->bdev, "B") == 0);
	CU_ASSERT(osp_bdev_register(&b->bdev) == -EEXIST);
	CU_ASSERT(osp_bdev_alias_del(&a->bdev, "B") == 0);
	CU_ASSERT(osp_bdev_alias_del(&a->bdev, "B") == -ENOENT);

	/* Names: length limit and no control characters, with the reason. */
	{
		char name[OSP_BDEV_MAX_NAME_LEN + 2], err[128];

		memset(name, 'n', sizeof(name));
		name[OSP_BDEV_MAX_NAME_LEN] = '\0';
		CU_ASSERT(osp_bdev_name_check(name, err, sizeof(err)) == 0);
		name[OSP_BDEV_MAX_NAME_LEN] = 'n';
		name[OSP_BDEV_MAX_NAME_LEN + 1] = '\0';
		CU_ASSERT(osp_bdev_name_check(name, err, sizeof(err)) == -EINVAL);
		CU_ASSERT(strstr(err, "256 bytes long, the limit is 255") != NULL);
		free(b->bdev.name);
		b->bdev.name = strdup(name);
		CU_ASSERT(osp_bdev_register(&b->bdev) == -EINVAL);
		CU_ASSERT(osp_bdev_alias_add(&a->bdev, name) == -EINVAL);
		CU_ASSERT(osp_bdev_name_check("a\nb", err, sizeof(err)) == -EINVAL);
		CU_ASSERT(strstr(err, "control character (byte 0x0a at offset 1)") != NULL);
		CU_ASSERT(osp_bdev_name_check("a\x7f", NULL, 0) == -EINVAL);
		CU_ASSERT(osp_bdev_name_check("", err, sizeof(err)) == -EINVAL);
		CU_ASSERT(osp_bdev_name_check(NULL, err, sizeof(err)) == -EINVAL);
		CU_ASSERT(osp_bdev_name_check("Malloc 0 \xc3\xa9", err, sizeof(err)) == 0);
		free(b->bdev.name);
		b->bdev.name = strdup("B\t");
		CU_ASSERT(osp_bdev_register(&b->bdev) == -EINVAL);
		CU_ASSERT(osp_bdev_alias_add(&a->bdev, "x\ry") == -EINVAL);
		free(b->bdev.name);
		b->bdev.name = strdup("B");
	}

	/* Geometry. */
	b->bdev.blocklen = 520;
	CU_ASSERT(osp_bdev_register(&b->bdev) == -EINVAL);
	b->bdev.blocklen = 1536;
	CU_ASSERT(osp_bdev_register(&b->bdev) == -EINVAL);
	g_ut_module.allow_non_pow2_blocklen = true;
	c = ut_bdev_alloc("C", 1536, 10, UT_RW_TYPES);
	CU_ASSERT(osp_bdev_register(&c->bdev) == 0);
	g_ut_module.allow_non_pow2_blocklen = false;
	b->bdev.blocklen = 256;
	CU_ASSERT(osp_bdev_register(&b->bdev) == -EINVAL);
	b->bdev.blocklen = 4096;
	b->bdev.blockcnt = 0;
	CU_ASSERT(osp_bdev_register(&b->bdev) == -EINVAL);
	b->bdev.blockcnt = 8;
	CU_ASSERT(osp_bdev_register(&b->bdev) == 0);
	CU_ASSERT(osp_bdev_get_block_size(&b->bdev) == 4096);
	CU_ASSERT(osp_bdev_get_num_blocks(&b->bdev) == 8);
	CU_ASSERT(strcmp(osp_bdev_get_module_name(&b->bdev), "ut") == 0);
	CU_ASSERT(osp_bdev_io_type_supported(&b->bdev, OSP_BDEV_IO_TYPE_READ));
	/* Emulated by the layer. */
	CU_ASSERT(osp_bdev_io_type_supported(&b->bdev, OSP_BDEV_IO_TYPE_WRITE_ZEROES));
	CU_ASSERT(osp_bdev_io_type_supported(&b->bdev, OSP_BDEV_IO_TYPE_COMPARE));
	CU_ASSERT(osp_bdev_io_type_supported(&b->bdev, OSP_BDEV_IO_TYPE_COMPARE_AND_WRITE));
	CU_ASSERT(!osp_bdev_io_type_supported(&b->bdev, OSP_BDEV_IO_TYPE_NVME_IO));
	ut_poll_threads();

	/* Iteration in registration order. */
	CU_ASSERT(osp_bdev_first() == &a->bdev);
	CU_ASSERT(osp_bdev_next(&a->bdev) == &c->bdev);
	CU_ASSERT(osp_bdev_next(&c->bdev) == &b->bdev);
	CU_ASSERT(osp_bdev_next(&b->bdev) == NULL);

	/* Unknown names; open needs an event callback. */
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_open_ext("nope", false, ut_event_cb, NULL, &desc) == -ENODEV);
	CU_ASSERT(osp_bdev_open_ext("A", false, NULL, NULL, &desc) == -EINVAL);
	CU_ASSERT(osp_bdev_open_ext("A_alias", false, ut_event_cb, NULL, &desc) == 0);
	CU_ASSERT(osp_bdev_desc_get_bdev(desc) == &a->bdev);
	osp_bdev_close(desc);

	/* Unregister frees the name at once. */
	g_unregister_calls = 0;
	CU_ASSERT(osp_bdev_unregister(&a->bdev, ut_unregister_done, NULL) == 0);
	CU_ASSERT(osp_bdev_get_by_name("A") == NULL);
	/* Errors found at once come back as the return value, never through the callback. */
	CU_ASSERT(osp_bdev_unregister(&a->bdev, ut_unregister_done, NULL) == -EBUSY);
	CU_ASSERT(osp_bdev_unregister(NULL, ut_unregister_done, NULL) == -EINVAL);
	CU_ASSERT(g_unregister_calls == 0);
	ut_poll_threads();
	CU_ASSERT(g_unregister_calls == 1 && g_unregister_rc == 0);
	CU_ASSERT(a->destructed);
	ut_bdev_free(a);
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_unregister_by_name("B", NULL, ut_unregister_done, NULL) == 0);
	CU_ASSERT(osp_bdev_unregister_by_name("B", NULL, ut_unregister_done, NULL) == -ENODEV);
	ut_poll_threads();
	CU_ASSERT(b->destructed);
	ut_bdev_free(b);
	/* C is removed by the teardown of the layer. */
	ut_teardown();
	CU_ASSERT(c->destructed);
	ut_bdev_free(c);
}

static void
test_read_write(void)
{
	struct ut_env e = {};
	struct ut_cpl c0 = {}, c1 = {};
	uint8_t *wbuf = ut_buf(4096, 0xa5), *rbuf = ut_buf(4096, 0);
	struct osp_bdev_io_stat st;

	ut_setup();
	ut_env_open(&e, ut_bdev_alloc("rw", 512, 1024, UT_RW_TYPES));

	/* A write on thread 0 completed by the module from a poller: callback right away. */
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_write_blocks(e.desc, e.ch[0], wbuf, 8, 8, ut_io_done, &c0) == 0);
	CU_ASSERT(ut_queued(0) == 1);
	CU_ASSERT(c0.count == 0);
	CU_ASSERT(ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS) == 1);
	CU_ASSERT(c0.count == 1 && c0.success && c0.thread == 0);
	CU_ASSERT(memcmp(e.ub->data + 8 * 512, wbuf, 4096) == 0);

	/* A read on thread 1 completes on thread 1. */
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[1], rbuf, 8, 8, ut_io_done, &c1) == 0);
	CU_ASSERT(ut_queued(1) == 1 && ut_queued(0) == 0);
	ut_complete(1, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(c1.count == 1 && c1.success && c1.thread == 1);
	CU_ASSERT(memcmp(rbuf, wbuf, 4096) == 0);

	/* Completion inside submit_request is deferred to the next poll of the thread. */
	g_inline_status = OSP_BDEV_IO_STATUS_SUCCESS;
	memset(&c0, 0, sizeof(c0));
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], rbuf, 8, 8, ut_io_done, &c0) == 0);
	CU_ASSERT(c0.count == 0);
	ut_poll_thread(0);
	CU_ASSERT(c0.count == 1 && c0.success);
	/* A failure. */
	g_inline_status = OSP_BDEV_IO_STATUS_FAILED;
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], rbuf, 8, 8, ut_io_done, &c0) == 0);
	ut_poll_thread(0);
	CU_ASSERT(c0.count == 2 && !c0.success && c0.status == OSP_BDEV_IO_STATUS_FAILED);
	g_inline_status = 0;

	/* Out of range, read-only descriptors. */
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], rbuf, 1020, 8, ut_io_done, &c0) == -EINVAL);
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], rbuf, UINT64_MAX - 2, 8, ut_io_done,
				       &c0) == -EINVAL);
	CU_ASSERT(osp_bdev_write_blocks(e.desc, e.ch[0], wbuf, 1024, 1, ut_io_done, &c0) == -EINVAL);
	CU_ASSERT(osp_bdev_write_blocks(e.desc, e.ch[0], wbuf, 0, 0, ut_io_done, &c0) == -EINVAL);
	CU_ASSERT(osp_bdev_unmap_blocks(e.desc, e.ch[0], 1000, 25, ut_io_done, &c0) == -EINVAL);
	CU_ASSERT(osp_bdev_write_zeroes_blocks(e.desc, e.ch[0], 1024, 1, ut_io_done, &c0) ==
		  -EINVAL);
	{
		struct osp_bdev_desc *ro;
		struct osp_io_channel *ch;

		CU_ASSERT(osp_bdev_open_ext("rw", false, ut_event_cb, NULL, &ro) == 0);
		ch = osp_bdev_get_io_channel(ro);
		CU_ASSERT(osp_bdev_write_blocks(ro, ch, wbuf, 0, 1, ut_io_done, &c0) == -EBADF);
		CU_ASSERT(osp_bdev_unmap_blocks(ro, ch, 0, 1, ut_io_done, &c0) == -EBADF);
		CU_ASSERT(osp_bdev_read_blocks(ro, ch, rbuf, 0, 1, ut_io_done, &c0) == 0);
		ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
		CU_ASSERT(c0.count == 3);
		osp_put_io_channel(ch);
		osp_bdev_close(ro);
	}
	/* Types the module lacks and the layer cannot emulate. */
	CU_ASSERT(osp_bdev_nvme_io_passthru(e.desc, e.ch[0], (void *)wbuf, NULL, 0, ut_io_done,
					    &c0) == -ENOTSUP);

	/* Statistics: per channel and for the whole bdev. */
	osp_bdev_get_io_stat(&e.ub->bdev, e.ch[0], &st);
	CU_ASSERT(st.num_write_ops == 1 && st.bytes_written == 4096);
	CU_ASSERT(st.num_read_ops == 2 && st.bytes_read == 4096 + 512);
	CU_ASSERT(st.num_io_errors == 1);
	CU_ASSERT(st.max_read_latency_ticks >= st.min_read_latency_ticks);
	ut_env_close(&e);
	ut_teardown();
	free(wbuf);
	free(rbuf);
}

static struct osp_bdev_io_stat g_dev_stat;
static int g_dev_stat_rc = 1;

static void
ut_dev_stat_done(struct osp_bdev *bdev, struct osp_bdev_io_stat *stat, void *cb_arg, int rc)
{
	g_dev_stat_rc = rc;
}

static void
test_stats(void)
{
	struct ut_env e = {};
	struct ut_cpl c = {};
	uint8_t *buf = ut_buf(8192, 1);
	int t, i;

	ut_setup();
	ut_env_open(&e, ut_bdev_alloc("st", 4096, 64, UT_RW_TYPES));
	for (t = 0; t < UT_THREADS; t++) {
		ut_set_thread(t);
		for (i = 0; i <= t; i++) {
			CU_ASSERT(osp_bdev_write_blocks(e.desc, e.ch[t], buf, 0, 2, ut_io_done, &c) == 0);
			CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[t], buf, 0, 1, ut_io_done, &c) == 0);
		}
		CU_ASSERT(osp_bdev_unmap_blocks(e.desc, e.ch[t], 4, 4, ut_io_done, &c) == 0);
		CU_ASSERT(osp_bdev_flush_blocks(e.desc, e.ch[t], 0, 64, ut_io_done, &c) == 0);
		ut_complete(t, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	}
	CU_ASSERT(c.count == 10);
	ut_set_thread(0);
	g_dev_stat_rc = 1;
	osp_bdev_get_device_stat(&e.ub->bdev, &g_dev_stat, ut_dev_stat_done, NULL);
	ut_poll_threads();
	CU_ASSERT(g_dev_stat_rc == 0);
	CU_ASSERT(g_dev_stat.num_write_ops == 3 && g_dev_stat.bytes_written == 3 * 8192);
	CU_ASSERT(g_dev_stat.num_read_ops == 3 && g_dev_stat.bytes_read == 3 * 4096);
	CU_ASSERT(g_dev_stat.num_unmap_ops == 2 && g_dev_stat.bytes_unmapped == 2 * 16384);
	CU_ASSERT(g_dev_stat.num_other_ops == 2);
	CU_ASSERT(g_dev_stat.ticks_rate == osp_get_ticks_hz());
	/* Stats of released channels are kept. */
	ut_set_thread(1);
	osp_put_io_channel(e.ch[1]);
	ut_poll_threads();
	ut_set_thread(1);
	e.ch[1] = osp_bdev_get_io_channel(e.desc);
	ut_set_thread(0);
	osp_bdev_get_device_stat(&e.ub->bdev, &g_dev_stat, ut_dev_stat_done, NULL);
	ut_poll_threads();
	CU_ASSERT(g_dev_stat.num_write_ops == 3 && g_dev_stat.num_read_ops == 3);
	ut_env_close(&e);
	ut_teardown();
	free(buf);
}


/* Fill a buffer with a pattern that differs per byte position and seed. */
static void
ut_pattern(uint8_t *p, size_t len, uint32_t seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		p[i] = (uint8_t)(i * 7 + seed + (i >> 9));
	}
}

static void
test_split_max_rw(void)
{
	struct ut_env e = {};
	struct ut_cpl c = {};
	struct ut_bdev *ub;
	struct osp_bdev_io *io;
	uint8_t *wbuf = ut_buf(100 * 512, 0), *rbuf = ut_buf(100 * 512, 0);
	struct iovec iov[3];
	int i;

	ut_setup();
	ub = ut_bdev_alloc("split", 512, 1024, UT_RW_TYPES);
	ub->bdev.max_rw_size = 8;
	ut_env_open(&e, ub);
	ut_pattern(wbuf, 20 * 512, 1);

	/* 20 blocks from block 3: children of 8, 8 and 4 blocks. */
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_write_blocks(e.desc, e.ch[0], wbuf, 3, 20, ut_io_done, &c) == 0);
	CU_ASSERT(ut_queued(0) == 3);
	io = ut_queued_io(0, 0);
	CU_ASSERT(io->u.bdev.offset_blocks == 3 && io->u.bdev.num_blocks == 8);
	CU_ASSERT(io->u.bdev.iovcnt == 1 && io->u.bdev.iovs[0].iov_base == wbuf &&
		  io->u.bdev.iovs[0].iov_len == 4096);
	io = ut_queued_io(0, 1);
	CU_ASSERT(io->u.bdev.offset_blocks == 11 && io->u.bdev.num_blocks == 8);
	CU_ASSERT(io->u.bdev.iovs[0].iov_base == wbuf + 4096);
	io = ut_queued_io(0, 2);
	CU_ASSERT(io->u.bdev.offset_blocks == 19 && io->u.bdev.num_blocks == 4);
	CU_ASSERT(io->u.bdev.iovs[0].iov_len == 2048);
	CU_ASSERT(ut_complete(0, 2, OSP_BDEV_IO_STATUS_SUCCESS) == 2);
	ut_poll_threads();
	CU_ASSERT(c.count == 0);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	CU_ASSERT(c.count == 1 && c.success);
	CU_ASSERT(memcmp(ub->data + 3 * 512, wbuf, 20 * 512) == 0);

	/* A read into three uneven iovecs: children cut the iovecs where blocks end. */
	iov[0].iov_base = rbuf;
	iov[0].iov_len = 1000;
	iov[1].iov_base = rbuf + 1000;
	iov[1].iov_len = 3000;
	iov[2].iov_base = rbuf + 4000;
	iov[2].iov_len = 20 * 512 - 4000;
	CU_ASSERT(osp_bdev_readv_blocks(e.desc, e.ch[0], iov, 3, 3, 20, ut_io_done, &c) == 0);
	CU_ASSERT(ut_queued(0) == 3);
	io = ut_queued_io(0, 0);
	CU_ASSERT(io->u.bdev.iovcnt == 3 && io->u.bdev.iovs[2].iov_len == 96);
	io = ut_queued_io(0, 1);
	CU_ASSERT(io->u.bdev.iovcnt == 1 && io->u.bdev.iovs[0].iov_base == rbuf + 4096);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	CU_ASSERT(c.count == 2 && c.success);
	CU_ASSERT(memcmp(rbuf, wbuf, 20 * 512) == 0);

	/* 100 blocks in children of 8: at most 8 in flight, 13 in all. */
	memset(&c, 0, sizeof(c));
	g_submitted[OSP_BDEV_IO_TYPE_READ] = 0;
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], rbuf, 0, 100, ut_io_done, &c) == 0);
	CU_ASSERT(ut_queued(0) == BDEV_SPLIT_MAX_INFLIGHT);
	for (i = 0; i < 20 && c.count == 0; i++) {
		ut_complete(0, 1, OSP_BDEV_IO_STATUS_SUCCESS);
		ut_poll_threads();
		CU_ASSERT(ut_queued(0) <= BDEV_SPLIT_MAX_INFLIGHT);
	}
	CU_ASSERT(c.count == 1 && c.success);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_READ] == 13);

	/* A failed child fails the parent, once the children in flight are back. */
	memset(&c, 0, sizeof(c));
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], rbuf, 0, 24, ut_io_done, &c) == 0);
	CU_ASSERT(ut_queued(0) == 3);
	ut_complete(0, 1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_complete(0, 1, OSP_BDEV_IO_STATUS_FAILED);
	ut_poll_threads();
	CU_ASSERT(c.count == 0);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	CU_ASSERT(c.count == 1 && !c.success && c.status == OSP_BDEV_IO_STATUS_FAILED);

	/* With children completing inline (deferred), the whole I/O still completes. */
	memset(&c, 0, sizeof(c));
	g_inline_status = OSP_BDEV_IO_STATUS_SUCCESS;
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], rbuf, 0, 100, ut_io_done, &c) == 0);
	CU_ASSERT(c.count == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 1 && c.success);
	CU_ASSERT(memcmp(rbuf + 3 * 512, wbuf, 20 * 512) == 0);
	/* A read without a buffer that must be split gets one buffer for the whole. */
	memset(&c, 0, sizeof(c));
	c.keep = true;
	iov[0].iov_base = NULL;
	iov[0].iov_len = 0;
	CU_ASSERT(osp_bdev_readv_blocks(e.desc, e.ch[0], iov, 1, 3, 20, ut_io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 1 && c.success);
	{
		struct iovec *v;
		int n;

		osp_bdev_io_get_iovec(c.io, &v, &n);
		CU_ASSERT(n == 1 && v[0].iov_len == 20 * 512);
		CU_ASSERT(v[0].iov_base != NULL && memcmp(v[0].iov_base, wbuf, 20 * 512) == 0);
		osp_bdev_free_io(c.io);
	}
	g_inline_status = 0;
	ut_env_close(&e);
	ut_teardown();
	free(wbuf);
	free(rbuf);
}

static void
test_split_boundary(void)
{
	struct ut_env e = {};
	struct ut_cpl c = {};
	struct ut_bdev *ub;
	struct osp_bdev_io *io;
	uint8_t *buf = ut_buf(64 * 512, 3);

	ut_setup();
	ub = ut_bdev_alloc("bound", 512, 1024, UT_RW_TYPES);
	ub->bdev.optimal_io_boundary = 16;
	ub->bdev.split_on_optimal_io_boundary = true;
	ut_env_open(&e, ub);
	ut_set_thread(0);
	/* Blocks 10..29 cross the boundary at 16: 10..15 and 16..29. */
	CU_ASSERT(osp_bdev_write_blocks(e.desc, e.ch[0], buf, 10, 20, ut_io_done, &c) == 0);
	CU_ASSERT(ut_queued(0) == 2);
	io = ut_queued_io(0, 0);
	CU_ASSERT(io->u.bdev.offset_blocks == 10 && io->u.bdev.num_blocks == 6);
	io = ut_queued_io(0, 1);
	CU_ASSERT(io->u.bdev.offset_blocks == 16 && io->u.bdev.num_blocks == 14);
	CU_ASSERT(io->u.bdev.iovs[0].iov_base == buf + 6 * 512);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	CU_ASSERT(c.count == 1 && c.success);
	/* Within one boundary: not split, straight to the module. */
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], buf, 16, 16, ut_io_done, &c) == 0);
	CU_ASSERT(ut_queued(0) == 1);
	CU_ASSERT(ut_queued_io(0, 0)->u.bdev.iovs[0].iov_base == buf);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	/* 40 blocks from 0: three children at 0, 16, 32. */
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], buf, 0, 40, ut_io_done, &c) == 0);
	CU_ASSERT(ut_queued(0) == 3);
	CU_ASSERT(ut_queued_io(0, 2)->u.bdev.offset_blocks == 32);
	CU_ASSERT(ut_queued_io(0, 2)->u.bdev.num_blocks == 8);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	CU_ASSERT(c.count == 3);
	ut_env_close(&e);
	ut_teardown();
	free(buf);
}

static void
test_bounce(void)
{
	struct ut_env e = {};
	struct ut_cpl c = {};
	struct ut_bdev *ub;
	struct osp_bdev_io *io;
	uint8_t *raw = ut_buf(3 * 65536, 0), *wbuf = raw + 1, *rbuf = raw + 65536 + 3;
	uint8_t *big = ut_buf(300 * 1024 + 8, 0);
	struct iovec iov[2];

	ut_setup();
	ub = ut_bdev_alloc("bounce", 512, 2048, UT_RW_TYPES);
	ub->bdev.required_alignment = 12;
	ut_env_open(&e, ub);
	ut_pattern(wbuf, 8 * 512, 9);
	ut_set_thread(0);

	/* A misaligned write: the module sees an aligned copy. */
	CU_ASSERT(osp_bdev_write_blocks(e.desc, e.ch[0], wbuf, 4, 8, ut_io_done, &c) == 0);
	CU_ASSERT(ut_queued(0) == 1);
	io = ut_queued_io(0, 0);
	CU_ASSERT(io->u.bdev.iovcnt == 1);
	CU_ASSERT(((uintptr_t)io->u.bdev.iovs[0].iov_base & 4095) == 0);
	CU_ASSERT(io->u.bdev.iovs[0].iov_base != wbuf);
	CU_ASSERT(memcmp(io->u.bdev.iovs[0].iov_base, wbuf, 8 * 512) == 0);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(c.count == 1 && c.success);
	CU_ASSERT(memcmp(ub->data + 4 * 512, wbuf, 8 * 512) == 0);

	/* A misaligned read in two iovecs: the data is copied out at completion. */
	iov[0].iov_base = rbuf;
	iov[0].iov_len = 1536;
	iov[1].iov_base = rbuf + 5000;
	iov[1].iov_len = 8 * 512 - 1536;
	CU_ASSERT(osp_bdev_readv_blocks(e.desc, e.ch[0], iov, 2, 4, 8, ut_io_done, &c) == 0);
	io = ut_queued_io(0, 0);
	CU_ASSERT(io->u.bdev.iovcnt == 1 && ((uintptr_t)io->u.bdev.iovs[0].iov_base & 4095) == 0);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(c.count == 2 && c.success);
	CU_ASSERT(memcmp(rbuf, wbuf, 1536) == 0);
	CU_ASSERT(memcmp(rbuf + 5000, wbuf + 1536, 8 * 512 - 1536) == 0);

	/* An aligned buffer goes through untouched. */
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], raw, 4, 8, ut_io_done, &c) == 0);
	CU_ASSERT(ut_queued_io(0, 0)->u.bdev.iovs[0].iov_base == raw);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);

	/* Larger than one bounce buffer: split into pieces that each fit one. */
	ut_pattern(big + 1, 300 * 1024, 4);
	CU_ASSERT(osp_bdev_write_blocks(e.desc, e.ch[0], big + 1, 100, 600, ut_io_done, &c) == 0);
	CU_ASSERT(ut_queued(0) == 3);
	CU_ASSERT(ut_queued_io(0, 0)->u.bdev.num_blocks == 256);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	CU_ASSERT(c.count == 4 && c.success);
	CU_ASSERT(memcmp(ub->data + 100 * 512, big + 1, 300 * 1024) == 0);
	ut_env_close(&e);
	ut_teardown();
	free(raw);
	free(big);
}

static struct osp_bdev_io_wait_entry g_wait_entry;
static int g_wait_calls;
static struct ut_env *g_wait_env;
static struct ut_cpl g_wait_cpl;

static void
ut_io_wait_cb(void *arg)
{
	static uint8_t buf[512];

	g_wait_calls++;
	CU_ASSERT(osp_bdev_read_blocks(g_wait_env->desc, g_wait_env->ch[0], buf, 0, 1, ut_io_done,
				       &g_wait_cpl) == 0);
}

static void
test_io_wait(void)
{
	struct osp_bdev_opts o;
	struct ut_env e = {};
	struct ut_cpl c = {};
	struct ut_bdev *ub;
	uint8_t *buf = ut_buf(64 * 512, 0);
	int n = 0, rc;

	osp_bdev_get_opts(&o, sizeof(o));
	o.bdev_io_pool_size = 8;
	o.bdev_io_cache_size = 2;
	o.small_buf_pool_size = 4;
	o.large_buf_pool_size = 2;
	ut_setup_opts(&o);
	ub = ut_bdev_alloc("wait", 512, 1024, UT_RW_TYPES);
	ub->bdev.max_rw_size = 4;
	ut_env_open(&e, ub);
	ut_set_thread(0);
	while ((rc = osp_bdev_read_blocks(e.desc, e.ch[0], buf, 0, 1, ut_io_done, &c)) == 0) {
		n++;
	}
	CU_ASSERT(rc == -ENOMEM);
	CU_ASSERT(n == 8);
	/* Thread 1 finds the pool empty too. */
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[1], buf, 0, 1, ut_io_done, &c) == -ENOMEM);
	ut_set_thread(0);
	g_wait_env = &e;
	g_wait_entry.cb_fn = ut_io_wait_cb;
	g_wait_entry.cb_arg = NULL;
	CU_ASSERT(osp_bdev_queue_io_wait(&ub->bdev, e.ch[0], &g_wait_entry) == 0);
	ut_poll_threads();
	CU_ASSERT(g_wait_calls == 0);
	/* One completion frees a bdev_io: the waiter resubmits from its callback. */
	ut_complete(0, 1, OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(c.count == 1 && g_wait_calls == 1);
	CU_ASSERT(ut_queued(0) == 8);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(c.count == 8 && g_wait_cpl.count == 1);
	/* Nothing to wait for now. */
	CU_ASSERT(osp_bdev_queue_io_wait(&ub->bdev, e.ch[0], &g_wait_entry) == -EINVAL);

	/*
	 * The layer's own needs wait too: 7 reads hold 7 bdev_ios, a 16-block write
	 * (4 children) gets one for itself and has to issue its children one by one.
	 */
	memset(&c, 0, sizeof(c));
	for (n = 0; n < 6; n++) {
		CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], buf, 0, 1, ut_io_done, &c) == 0);
	}
	CU_ASSERT(osp_bdev_write_blocks(e.desc, e.ch[0], buf, 0, 16, ut_io_done, &c) == 0);
	CU_ASSERT(ut_queued(0) == 7);
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], buf, 0, 1, ut_io_done, &c) == -ENOMEM);
	/* Completing the reads frees bdev_ios for the children. */
	while (c.count < 7 && ut_queued(0) > 0) {
		ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
		ut_poll_threads();
	}
	CU_ASSERT(c.count == 7 && c.success);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_WRITE] == 4);

	/* Buffers: more buffer-less reads than small buffers; they wait and complete. */
	memset(&c, 0, sizeof(c));
	{
		struct iovec iov[6];

		for (n = 0; n < 6; n++) {
			iov[n].iov_base = NULL;
			iov[n].iov_len = 0;
			CU_ASSERT(osp_bdev_readv_blocks(e.desc, e.ch[0], &iov[n], 1, 0, 4, ut_io_done,
							&c) == 0);
		}
		CU_ASSERT(g_get_buf_calls == 4);
		while (c.count < 6 && ut_queued(0) > 0) {
			ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
			ut_poll_threads();
		}
		CU_ASSERT(c.count == 6 && c.success && g_get_buf_calls == 6);
	}
	ut_env_close(&e);
	ut_teardown();
	free(buf);
}

static void
test_nomem(void)
{
	struct ut_env e = {};
	struct ut_cpl c = {};
	uint8_t *buf = ut_buf(4096, 0);

	ut_setup();
	ut_env_open(&e, ut_bdev_alloc("nomem", 512, 1024, UT_RW_TYPES));
	ut_set_thread(0);
	/* Nothing outstanding: retried from a timed poller. */
	g_nomem_next = 1;
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], buf, 0, 1, ut_io_done, &c) == 0);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_READ] == 0 || ut_queued(0) == 0);
	{
		/* The retry poller runs on the real clock: wait for it (up to 5 s), not a poll count. */
		uint64_t end = osp_get_ticks() + 5 * osp_get_ticks_hz();

		while (ut_queued(0) == 0 && osp_get_ticks() < end) {
			ut_poll_threads();
		}
	}
	CU_ASSERT_FATAL(ut_queued(0) == 1);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(c.count == 1 && c.success);

	/* With I/O outstanding: retried once the module's queue drained. */
	memset(&c, 0, sizeof(c));
	memset(g_submitted, 0, sizeof(g_submitted));
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], buf, 0, 1, ut_io_done, &c) == 0);
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], buf, 1, 1, ut_io_done, &c) == 0);
	g_nomem_next = 1;
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], buf, 2, 1, ut_io_done, &c) == 0);
	/* Queued behind the NOMEM one without reaching the module. */
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], buf, 3, 1, ut_io_done, &c) == 0);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_READ] == 3);
	CU_ASSERT(ut_queued(0) == 2);
	ut_complete(0, 1, OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_queued(0) == 1);
	ut_complete(0, 1, OSP_BDEV_IO_STATUS_SUCCESS);
	/* Both resubmitted, in order. */
	CU_ASSERT(ut_queued(0) == 2);
	CU_ASSERT(ut_queued_io(0, 0)->u.bdev.offset_blocks == 2);
	CU_ASSERT(ut_queued_io(0, 1)->u.bdev.offset_blocks == 3);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_READ] == 5);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	CU_ASSERT(c.count == 4 && c.success);
	ut_env_close(&e);
	ut_teardown();
	free(buf);
}

static void
test_reset(void)
{
	struct ut_env e = {};
	struct ut_cpl r0 = {}, r1 = {}, a = {}, n = {}, rst = {}, rst2 = {};
	uint8_t *buf = ut_buf(4096, 0);

	ut_setup();
	ut_env_open(&e, ut_bdev_alloc("reset", 512, 1024, UT_RW_TYPES));
	/* Two reads in the module on thread 0, one on thread 1, one NOMEM-queued on thread 1. */
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], buf, 0, 1, ut_io_done, &r0) == 0);
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], buf, 1, 1, ut_io_done, &r0) == 0);
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[1], buf, 2, 1, ut_io_done, &r1) == 0);
	g_nomem_next = 1;
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[1], buf, 3, 1, ut_io_done, &a) == 0);
	CU_ASSERT(ut_queued(0) == 2 && ut_queued(1) == 1);

	ut_set_thread(0);
	CU_ASSERT(osp_bdev_reset(e.desc, e.ch[0], ut_io_done, &rst) == 0);
	ut_poll_threads();
	/* I/O queued in the layer is aborted; the module has not seen the reset yet. */
	CU_ASSERT(a.count == 1 && !a.success && a.status == OSP_BDEV_IO_STATUS_ABORTED);
	CU_ASSERT(a.thread == 1);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_RESET] == 0);
	/* New I/O meanwhile completes ABORTED (through its callback). */
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[1], buf, 4, 1, ut_io_done, &n) == 0);
	CU_ASSERT(n.count == 0);
	ut_poll_threads();
	CU_ASSERT(n.count == 1 && n.status == OSP_BDEV_IO_STATUS_ABORTED);
	/* A second reset waits for the first and completes with it. */
	CU_ASSERT(osp_bdev_reset(e.desc, e.ch[1], ut_io_done, &rst2) == 0);
	/* The module aborts what it holds; only then does it see the reset. */
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_ABORTED);
	ut_poll_threads();
	CU_ASSERT(r0.count == 2 && r0.status == OSP_BDEV_IO_STATUS_ABORTED);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_RESET] == 0);
	ut_complete(1, -1, OSP_BDEV_IO_STATUS_ABORTED);
	ut_poll_threads();
	CU_ASSERT(r1.count == 1 && r1.thread == 1);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_RESET] == 1);
	CU_ASSERT(ut_queued(0) == 1 && ut_queued_io(0, 0)->type == OSP_BDEV_IO_TYPE_RESET);
	CU_ASSERT(rst.count == 0);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	CU_ASSERT(rst.count == 1 && rst.success && rst.thread == 0);
	CU_ASSERT(rst2.count == 1 && rst2.success && rst2.thread == 1);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_RESET] == 1);
	/* I/O flows again. */
	memset(&n, 0, sizeof(n));
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[1], buf, 4, 1, ut_io_done, &n) == 0);
	CU_ASSERT(ut_queued(1) == 1);
	ut_complete(1, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(n.count == 1 && n.success);
	/* With nothing outstanding the reset goes straight to the module. */
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_reset(e.desc, e.ch[1], ut_io_done, &rst2) == 0);
	ut_poll_threads();
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_RESET] == 2 && ut_queued(1) == 1);
	ut_complete(1, -1, OSP_BDEV_IO_STATUS_FAILED);
	ut_poll_threads();
	CU_ASSERT(rst2.count == 2 && !rst2.success);

	/* A module that never completes: the reset reaches it after the drain timeout. */
	g_bdev_reset_drain_timeout_us = 2000;
	memset(&r1, 0, sizeof(r1));
	memset(&rst, 0, sizeof(rst));
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[1], buf, 2, 1, ut_io_done, &r1) == 0);
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_reset(e.desc, e.ch[0], ut_io_done, &rst) == 0);
	{
		uint64_t end = osp_get_ticks() + osp_get_ticks_hz();

		while (g_submitted[OSP_BDEV_IO_TYPE_RESET] == 2 && osp_get_ticks() < end) {
			ut_poll_threads();
		}
	}
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_RESET] == 3);
	CU_ASSERT(r1.count == 0 && ut_queued(1) == 1);
	/* The module's reset aborts what it held. */
	ut_complete(1, -1, OSP_BDEV_IO_STATUS_ABORTED);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	CU_ASSERT(r1.count == 1 && r1.status == OSP_BDEV_IO_STATUS_ABORTED);
	CU_ASSERT(rst.count == 1 && rst.success);
	g_bdev_reset_drain_timeout_us = BDEV_RESET_DRAIN_TIMEOUT_US;
	ut_env_close(&e);
	ut_teardown();
	free(buf);
}

static void
test_hot_remove(void)
{
	struct ut_bdev *ub, *ub2;
	struct osp_bdev_desc *desc = NULL, *desc0 = NULL, *d;
	struct osp_io_channel *ch;
	struct ut_cpl c = {}, c2 = {};
	uint8_t *buf = ut_buf(4096, 0);

	ut_setup();
	ub = ut_bdev_alloc("hot", 512, 64, UT_RW_TYPES);
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_register(&ub->bdev) == 0);
	ut_poll_threads();
	/* Descriptors on two threads; I/O outstanding on thread 1. */
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_open_ext("hot", false, ut_event_cb, NULL, &desc0) == 0);
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_open_ext("hot", true, ut_event_cb, NULL, &desc) == 0);
	ch = osp_bdev_get_io_channel(desc);
	CU_ASSERT(osp_bdev_read_blocks(desc, ch, buf, 0, 1, ut_io_done, &c) == 0);

	g_remove_events = 0;
	g_unregister_calls = 0;
	ut_set_thread(0);
	osp_bdev_unregister(&ub->bdev, ut_unregister_done, NULL);
	/* Gone from lookups at once; opens fail. */
	CU_ASSERT(osp_bdev_get_by_name("hot") == NULL);
	CU_ASSERT(osp_bdev_open_ext("hot", false, ut_event_cb, NULL, &d) == -ENODEV);
	ut_poll_threads();
	CU_ASSERT(g_remove_events == 2);
	/* New I/O fails; outstanding I/O completes. */
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_read_blocks(desc, ch, buf, 0, 1, ut_io_done, &c2) == -ENODEV);
	CU_ASSERT(osp_bdev_write_blocks(desc, ch, buf, 0, 1, ut_io_done, &c2) == -ENODEV);
	ut_complete(1, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(c.count == 1 && c.success);
	/* The name can be reused while the old bdev waits for its descriptors. */
	ub2 = ut_bdev_alloc("hot", 512, 64, UT_RW_TYPES);
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_register(&ub2->bdev) == 0);
	ut_poll_threads();
	/* Destruct only after the last close. */
	ut_set_thread(0);
	osp_bdev_close(desc0);
	ut_poll_threads();
	CU_ASSERT(g_destruct_calls == 0 && g_unregister_calls == 0);
	ut_set_thread(1);
	osp_put_io_channel(ch);
	osp_bdev_close(desc);
	ut_poll_threads();
	CU_ASSERT(g_destruct_calls == 1 && ub->destructed);
	CU_ASSERT(g_unregister_calls == 1 && g_unregister_rc == 0);
	ut_bdev_free(ub);

	/* A close racing with the REMOVE event message. */
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_open_ext("hot", false, ut_event_cb, NULL, &desc) == 0);
	g_remove_events = 0;
	ut_set_thread(0);
	osp_bdev_unregister(&ub2->bdev, ut_unregister_done, NULL);
	ut_set_thread(1);
	osp_bdev_close(desc);
	ut_poll_threads();
	CU_ASSERT(g_remove_events == 0);
	CU_ASSERT(ub2->destructed);
	ut_bdev_free(ub2);

	/* Asynchronous destruct. */
	ub = ut_bdev_alloc("async", 512, 64, UT_RW_TYPES);
	ub->async_destruct = true;
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_register(&ub->bdev) == 0);
	ut_poll_threads();
	g_unregister_calls = 0;
	ut_set_thread(0);
	osp_bdev_unregister(&ub->bdev, ut_unregister_done, NULL);
	ut_poll_threads();
	CU_ASSERT(ub->destructed && g_unregister_calls == 0);
	ut_set_thread(1);
	osp_bdev_destruct_done(&ub->bdev, -EIO);
	ut_poll_threads();
	CU_ASSERT(g_unregister_calls == 1 && g_unregister_rc == -EIO);
	ut_bdev_free(ub);

	/* Resize events. */
	ub = ut_bdev_alloc("grow", 512, 64, UT_RW_TYPES);
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_register(&ub->bdev) == 0);
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_open_ext("grow", false, ut_event_cb, NULL, &desc) == 0);
	g_resize_events = 0;
	CU_ASSERT(osp_bdev_notify_blockcnt_change(&ub->bdev, 128) == 0);
	ut_poll_threads();
	CU_ASSERT(g_resize_events == 1 && g_event_thread == 1);
	CU_ASSERT(osp_bdev_get_num_blocks(&ub->bdev) == 128);
	ut_set_thread(1);
	osp_bdev_close(desc);
	ut_teardown();
	CU_ASSERT(ub->destructed);
	ut_bdev_free(ub);
	free(buf);
}

static struct osp_bdev_module g_claim_module = { .name = "claimer" };
static struct osp_bdev_module g_claim_module2 = { .name = "claimer2" };

static void
test_claims(void)
{
	struct ut_bdev *base, *v, *w;
	struct osp_bdev_desc *d1, *d2, *d3;

	ut_setup();
	base = ut_bdev_alloc("base", 512, 64, UT_RW_TYPES);
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_register(&base->bdev) == 0);
	ut_poll_threads();
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_open_ext("base", false, ut_event_cb, NULL, &d1) == 0);
	CU_ASSERT(osp_bdev_module_claim_bdev(&base->bdev, d1, &g_claim_module) == 0);
	CU_ASSERT(d1->write);
	CU_ASSERT(osp_bdev_get_claim_module(&base->bdev) == &g_claim_module);
	/* Other writers are refused; readers are not. */
	CU_ASSERT(osp_bdev_open_ext("base", true, ut_event_cb, NULL, &d2) == -EPERM);
	CU_ASSERT(osp_bdev_open_ext("base", false, ut_event_cb, NULL, &d2) == 0);
	CU_ASSERT(osp_bdev_module_claim_bdev(&base->bdev, NULL, &g_claim_module2) == -EPERM);
	osp_bdev_module_release_bdev(&base->bdev);
	CU_ASSERT(osp_bdev_get_claim_module(&base->bdev) == NULL);
	CU_ASSERT(osp_bdev_open_ext("base", true, ut_event_cb, NULL, &d3) == 0);
	/* A writer already there prevents a claim. */
	CU_ASSERT(osp_bdev_module_claim_bdev(&base->bdev, d1, &g_claim_module2) == -EPERM);
	osp_bdev_close(d3);
	CU_ASSERT(osp_bdev_module_claim_bdev(&base->bdev, d1, &g_claim_module2) == 0);
	/* Closing the descriptor the claim was taken with releases it. */
	osp_bdev_close(d1);
	CU_ASSERT(osp_bdev_get_claim_module(&base->bdev) == NULL);
	osp_bdev_close(d2);

	/*
	 * Teardown order: v (built on base, claims it) and w registered after base.
	 * Claimed base must go after v, whose destruct releases it.
	 */
	v = ut_bdev_alloc("v", 512, 64, UT_RW_TYPES);
	w = ut_bdev_alloc("w", 512, 64, UT_RW_TYPES);
	CU_ASSERT(osp_bdev_open_ext("base", true, ut_event_cb, NULL, &g_vbdev_base_desc) == 0);
	CU_ASSERT(osp_bdev_module_claim_bdev(&base->bdev, g_vbdev_base_desc, &g_ut_module) == 0);
	g_vbdev = v;
	CU_ASSERT(osp_bdev_register(&v->bdev) == 0);
	CU_ASSERT(osp_bdev_register(&w->bdev) == 0);
	ut_poll_threads();
	ut_teardown();
	CU_ASSERT(strcmp(g_destruct_log, "w,v,base,") == 0);
	g_vbdev = NULL;
	ut_bdev_free(base);
	ut_bdev_free(v);
	ut_bdev_free(w);
}


static int g_qos_rc = 1;

static void
ut_qos_done(void *arg, int status)
{
	g_qos_rc = status;
}

/* Poll every thread at fake time now until nothing moves. */
static void
ut_poll_at(uint64_t now)
{
	ut_poll_threads_at(now);
}

static void
test_qos(void)
{
	struct ut_env e = {};
	struct ut_cpl c0 = {}, c1 = {};
	uint64_t limits[OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES], got[OSP_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	uint64_t hz = osp_get_ticks_hz(), slice = hz / 1000, t0;
	uint8_t *buf = ut_buf(64 * 1024, 0);
	int i;

	ut_setup();
	ut_env_open(&e, ut_bdev_alloc("qos", 4096, 1024, UT_RW_TYPES));
	t0 = osp_get_ticks() + hz;
	ut_poll_at(t0);

	/* 10000 IO/s: 10 per 1 ms time slice, for the whole bdev. */
	limits[0] = 10000;
	limits[1] = 0;
	limits[2] = UINT64_MAX;
	limits[3] = UINT64_MAX;
	ut_set_thread(0);
	osp_bdev_set_qos_rate_limits(&e.ub->bdev, limits, ut_qos_done, NULL);
	ut_poll_at(t0);
	CU_ASSERT(g_qos_rc == 0);
	osp_bdev_get_qos_rate_limits(&e.ub->bdev, got);
	CU_ASSERT(got[0] == 10000 && got[1] == 0 && got[2] == 0 && got[3] == 0);

	/* 15 reads from each thread. */
	for (i = 0; i < 15; i++) {
		ut_set_thread(0);
		CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], buf, i, 1, ut_io_done, &c0) == 0);
		ut_set_thread(1);
		CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[1], buf, i, 1, ut_io_done, &c1) == 0);
	}
	ut_poll_at(t0);
	/* All of them run on the QoS thread (0), 10 in this slice. */
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_READ] == 10);
	CU_ASSERT(ut_queued(0) == 10 && ut_queued(1) == 0);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_at(t0);
	CU_ASSERT(c0.count + c1.count == 10);
	CU_ASSERT(c1.count == 0 || c1.thread == 1);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_READ] == 10);
	/* Next slice: 10 more; then the last 10. */
	ut_poll_at(t0 + slice);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_READ] == 20);
	ut_poll_at(t0 + slice + slice / 2);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_READ] == 20);
	ut_poll_at(t0 + 2 * slice);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_READ] == 30);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_at(t0 + 2 * slice);
	CU_ASSERT(c0.count == 15 && c1.count == 15 && c1.thread == 1);

	/* A byte limit: 1 MiB/s read is 1048 bytes per ms; a 64 KiB read then waits ~62 ms. */
	limits[0] = UINT64_MAX;
	limits[2] = 1024 * 1024;
	CU_ASSERT(osp_bdev_set_qos_rate_limits(&e.ub->bdev, limits, ut_qos_done, NULL) == 0);
	ut_set_thread(0);
	g_qos_rc = 1;
	/* A second change while one is in progress is refused at once, without the callback. */
	CU_ASSERT(osp_bdev_set_qos_rate_limits(&e.ub->bdev, limits, ut_qos_done, NULL) == -EAGAIN);
	CU_ASSERT(g_qos_rc == 1);
	CU_ASSERT(osp_bdev_set_qos_rate_limits(&e.ub->bdev, NULL, ut_qos_done, NULL) == -EINVAL);
	ut_poll_at(t0 + 3 * slice);
	CU_ASSERT(g_qos_rc == 0);
	osp_bdev_get_qos_rate_limits(&e.ub->bdev, got);
	CU_ASSERT(got[0] == 10000 && got[2] == 1024 * 1024);
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[1], buf, 0, 16, ut_io_done, &c1) == 0);
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[1], buf, 0, 16, ut_io_done, &c1) == 0);
	ut_poll_at(t0 + 4 * slice);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_READ] == 31);
	for (i = 5; i < 60; i++) {
		ut_poll_at(t0 + i * slice);
	}
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_READ] == 31);
	for (; i < 80; i++) {
		ut_poll_at(t0 + i * slice);
	}
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_READ] == 32);
	/* Writes are not limited by a read limit (but count against the IOPS one). */
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_write_blocks(e.desc, e.ch[1], buf, 0, 16, ut_io_done, &c1) == 0);
	ut_poll_at(t0 + i * slice);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_WRITE] == 1);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_at(t0 + i * slice);
	CU_ASSERT(c1.count == 18);

	/* Off again: I/O runs on its own thread. */
	limits[0] = limits[1] = limits[2] = limits[3] = 0;
	ut_set_thread(0);
	g_qos_rc = 1;
	osp_bdev_set_qos_rate_limits(&e.ub->bdev, limits, ut_qos_done, NULL);
	ut_poll_at(t0 + i * slice);
	CU_ASSERT(g_qos_rc == 0);
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[1], buf, 0, 1, ut_io_done, &c1) == 0);
	CU_ASSERT(ut_queued(1) == 1);
	ut_complete(1, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(c1.count == 19);

	/* Limits left on a bdev at its removal. */
	limits[0] = 5000;
	ut_set_thread(0);
	osp_bdev_set_qos_rate_limits(&e.ub->bdev, limits, ut_qos_done, NULL);
	ut_poll_threads();
	ut_env_close(&e);
	ut_teardown();
	free(buf);
}

static void
test_compare_and_write(void)
{
	struct ut_env e = {};
	struct ut_cpl cw = {}, w1 = {}, w2 = {}, w3 = {};
	uint8_t *cmp = ut_buf(4 * 512, 0), *data = ut_buf(4 * 512, 0xab), *wb = ut_buf(8 * 512, 0x11);
	struct iovec cmp_iov = { cmp, 4 * 512 }, w_iov = { data, 4 * 512 };
	struct ut_bdev *ub;

	ut_setup();
	ub = ut_bdev_alloc("caw", 512, 64, UT_RW_TYPES);
	ut_env_open(&e, ub);
	CU_ASSERT(osp_bdev_io_type_supported(&ub->bdev, OSP_BDEV_IO_TYPE_COMPARE_AND_WRITE));

	/* A write in flight on thread 1 before the compare-and-write of blocks 0..3. */
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_write_blocks(e.desc, e.ch[1], wb, 2, 2, ut_io_done, &w1) == 0);
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_comparev_and_writev_blocks(e.desc, e.ch[0], &cmp_iov, 1, &w_iov, 1, 0, 4,
						      ut_io_done, &cw) == 0);
	ut_poll_threads();
	/* The lock waits for it: the compare (a read here) has not started. */
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_READ] == 0);
	/* Meanwhile a write overlapping the range waits; one elsewhere does not. */
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_write_blocks(e.desc, e.ch[1], wb, 3, 2, ut_io_done, &w2) == 0);
	CU_ASSERT(osp_bdev_write_blocks(e.desc, e.ch[1], wb, 10, 2, ut_io_done, &w3) == 0);
	CU_ASSERT(ut_queued(1) == 2);
	/* Writing zeros back where the compare expects them. */
	memset(wb, 0, 2 * 512);
	ut_complete(1, 1, OSP_BDEV_IO_STATUS_SUCCESS);
	memset(wb, 0x11, 8 * 512);
	ut_poll_threads();
	CU_ASSERT(w1.count == 1);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_READ] == 1 && ut_queued(0) == 1);
	/* Compare matches: the write follows, still before the waiting write. */
	ut_complete(0, 1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	CU_ASSERT(ut_queued(0) == 1 && ut_queued_io(0, 0)->type == OSP_BDEV_IO_TYPE_WRITE);
	CU_ASSERT(ut_queued(1) == 1 && ut_queued_io(1, 0)->u.bdev.offset_blocks == 10);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	CU_ASSERT(cw.count == 1 && cw.success);
	CU_ASSERT(memcmp(ub->data, data, 4 * 512) == 0);
	/* Unlocked: the overlapping write goes now. */
	CU_ASSERT(ut_queued(1) == 2 && ut_queued_io(1, 1)->u.bdev.offset_blocks == 3);
	ut_complete(1, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(w2.count == 1 && w3.count == 1);

	/* A miscompare writes nothing. */
	g_inline_status = OSP_BDEV_IO_STATUS_SUCCESS;
	memset(&cw, 0, sizeof(cw));
	ut_set_thread(0);
	memset(data, 0xcd, 4 * 512);
	CU_ASSERT(osp_bdev_comparev_and_writev_blocks(e.desc, e.ch[0], &cmp_iov, 1, &w_iov, 1, 20, 4,
						      ut_io_done, &cw) == 0);
	memset(ub->data + 20 * 512, 0x77, 512);
	ut_poll_threads();
	CU_ASSERT(cw.count == 1 && !cw.success && cw.status == OSP_BDEV_IO_STATUS_MISCOMPARE);
	CU_ASSERT(ub->data[20 * 512] == 0x77 && ub->data[21 * 512] == 0);
	/* Two overlapping compare-and-writes from two threads run one after the other. */
	memset(&cw, 0, sizeof(cw));
	memset(&w1, 0, sizeof(w1));
	ut_set_thread(0);
	memset(cmp, 0, 4 * 512);
	CU_ASSERT(osp_bdev_comparev_and_writev_blocks(e.desc, e.ch[0], &cmp_iov, 1, &w_iov, 1, 30, 4,
						      ut_io_done, &cw) == 0);
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_comparev_and_writev_blocks(e.desc, e.ch[1], &cmp_iov, 1, &w_iov, 1, 32, 4,
						      ut_io_done, &w1) == 0);
	ut_poll_threads();
	/* The first wrote 0xcd over 30..33, so the second (expecting zeros at 32..35) fails. */
	CU_ASSERT(cw.count == 1 && cw.success);
	CU_ASSERT(w1.count == 1 && w1.status == OSP_BDEV_IO_STATUS_MISCOMPARE);
	{
		uint32_t cdw0;
		int sct, sc;

		osp_bdev_io_get_nvme_status(w1.io, &cdw0, &sct, &sc);
		CU_ASSERT(sct == OSP_NVME_SCT_MEDIA_ERROR && sc == OSP_NVME_SC_COMPARE_FAILURE);
	}
	g_inline_status = 0;
	ut_env_close(&e);
	ut_teardown();
	free(cmp);
	free(data);
	free(wb);
}

static void
test_locked_write(void)
{
	struct ut_env e = {};
	struct ut_cpl lw = {}, w1 = {}, w2 = {}, w3 = {}, r = {};
	uint8_t *data = ut_buf(4 * 512, 0xab), *wb = ut_buf(8 * 512, 0x11);
	struct iovec iov = { data, 4 * 512 };
	struct ut_bdev *ub;

	ut_setup();
	ub = ut_bdev_alloc("lw", 512, 64, UT_RW_TYPES);
	ut_env_open(&e, ub);
	/* A write in flight on thread 1 before the locked write of blocks 0..3. */
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_write_blocks(e.desc, e.ch[1], wb, 2, 2, ut_io_done, &w1) == 0);
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_writev_blocks_locked(e.desc, e.ch[0], &iov, 1, 0, 4, ut_io_done, &lw) == 0);
	ut_poll_threads();
	/* The lock waits for it: the locked write is not at the module yet. */
	CU_ASSERT(ut_queued(0) == 0);
	/* Meanwhile an overlapping write waits, one elsewhere and a read do not. */
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_write_blocks(e.desc, e.ch[1], wb, 3, 2, ut_io_done, &w2) == 0);
	CU_ASSERT(osp_bdev_write_blocks(e.desc, e.ch[1], wb, 10, 2, ut_io_done, &w3) == 0);
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[1], wb + 4 * 512, 0, 1, ut_io_done, &r) == 0);
	CU_ASSERT(ut_queued(1) == 3);
	ut_complete(1, 1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	CU_ASSERT(w1.count == 1);
	/* Now the locked write runs, the overlapping write still waits. */
	CU_ASSERT(ut_queued(0) == 1 && ut_queued_io(0, 0)->type == OSP_BDEV_IO_TYPE_WRITE);
	CU_ASSERT(w2.count == 0);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	CU_ASSERT(lw.count == 1 && lw.success);
	CU_ASSERT(memcmp(ub->data, data, 4 * 512) == 0);
	/* Unlocked: the overlapping write goes. */
	ut_complete(1, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	CU_ASSERT(w2.count == 1 && w3.count == 1 && r.count == 1);
	/* Bad arguments: refused at once. */
	CU_ASSERT(osp_bdev_writev_blocks_locked(e.desc, e.ch[0], NULL, 1, 0, 4, ut_io_done, &lw) ==
		  -EINVAL);
	CU_ASSERT(osp_bdev_writev_blocks_locked(e.desc, e.ch[0], &iov, 1, 62, 4, ut_io_done, &lw) ==
		  -EINVAL);
	ut_env_close(&e);
	ut_teardown();
	free(data);
	free(wb);
}

static void
test_emulation(void)
{
	struct ut_env e = {};
	struct ut_cpl c = {};
	struct ut_bdev *ub;
	uint8_t *buf = ut_buf(8 * 512, 0x5a);
	uint32_t i;
	bool ok = true;

	ut_setup();
	ub = ut_bdev_alloc("emu", 512, 1024, UT_RW_TYPES);
	memset(ub->data, 0xff, 1024 * 512);
	ut_env_open(&e, ub);
	ut_set_thread(0);

	/* Write zeroes with writes of a zero buffer: 300 blocks = 256 + 44. */
	CU_ASSERT(osp_bdev_write_zeroes_blocks(e.desc, e.ch[0], 5, 300, ut_io_done, &c) == 0);
	CU_ASSERT(ut_queued(0) == 2);
	CU_ASSERT(ut_queued_io(0, 0)->type == OSP_BDEV_IO_TYPE_WRITE);
	CU_ASSERT(ut_queued_io(0, 0)->u.bdev.num_blocks == 256);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	CU_ASSERT(c.count == 1 && c.success);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_WRITE_ZEROES] == 0);
	for (i = 5 * 512; i < 305 * 512; i++) {
		ok &= ub->data[i] == 0;
	}
	CU_ASSERT(ok);
	CU_ASSERT(ub->data[5 * 512 - 1] == 0xff && ub->data[305 * 512] == 0xff);

	/* Compare with a read: match and mismatch. */
	memset(ub->data + 400 * 512, 0x5a, 8 * 512);
	CU_ASSERT(osp_bdev_compare_blocks(e.desc, e.ch[0], buf, 400, 8, ut_io_done, &c) == 0);
	CU_ASSERT(ut_queued(0) == 1 && ut_queued_io(0, 0)->type == OSP_BDEV_IO_TYPE_READ);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(c.count == 2 && c.success);
	ub->data[403 * 512 + 7] = 0;
	CU_ASSERT(osp_bdev_compare_blocks(e.desc, e.ch[0], buf, 400, 8, ut_io_done, &c) == 0);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(c.count == 3 && !c.success && c.status == OSP_BDEV_IO_STATUS_MISCOMPARE);
	ut_env_close(&e);

	/* A module with the real thing gets it. */
	ub = ut_bdev_alloc("emu2", 512, 1024, UT_RW_TYPES |
			   (1u << OSP_BDEV_IO_TYPE_WRITE_ZEROES) | (1u << OSP_BDEV_IO_TYPE_COMPARE));
	ut_env_open(&e, ub);
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_write_zeroes_blocks(e.desc, e.ch[0], 5, 300, ut_io_done, &c) == 0);
	CU_ASSERT(osp_bdev_compare_blocks(e.desc, e.ch[0], buf, 0, 8, ut_io_done, &c) == 0);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_WRITE_ZEROES] == 1);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_COMPARE] == 1);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(c.count == 5);
	ut_env_close(&e);

	/* Without writes there is nothing to emulate with. */
	memset(g_submitted, 0, sizeof(g_submitted));
	ub = ut_bdev_alloc("ro", 512, 64, 1u << OSP_BDEV_IO_TYPE_READ);
	ut_env_open(&e, ub);
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_write_zeroes_blocks(e.desc, e.ch[0], 0, 1, ut_io_done, &c) == -ENOTSUP);
	CU_ASSERT(osp_bdev_unmap_blocks(e.desc, e.ch[0], 0, 1, ut_io_done, &c) == -ENOTSUP);
	CU_ASSERT(osp_bdev_write_blocks(e.desc, e.ch[0], buf, 0, 1, ut_io_done, &c) == -ENOTSUP);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_WRITE] == 0);
	/* Reset of a module without one: abort and drain only. */
	CU_ASSERT(osp_bdev_reset(e.desc, e.ch[0], ut_io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 6 && c.success && g_submitted[OSP_BDEV_IO_TYPE_RESET] == 0);
	CU_ASSERT(g_submitted[OSP_BDEV_IO_TYPE_WRITE] == 0);
	ut_env_close(&e);
	ut_teardown();
	free(buf);
}

static int g_wait_examine_calls;

static void
ut_wait_examine_done(void *arg)
{
	g_wait_examine_calls++;
}

static void
test_examine(void)
{
	struct osp_bdev_opts o;
	struct ut_bdev *a, *b;

	g_exam_init_calls = 0;
	g_exam_fini_calls = 0;
	ut_setup();
	/* The asynchronous module init finished before the layer said it was up. */
	CU_ASSERT(g_exam_init_calls == 1);
	g_examine_config_calls = 0;
	g_examine_disk_calls = 0;
	g_examine_held = 0;
	g_examine_hold = true;
	a = ut_bdev_alloc("exa", 512, 64, UT_RW_TYPES);
	ut_set_thread(1);
	CU_ASSERT(osp_bdev_register(&a->bdev) == 0);
	/* Examine runs from a message on the app thread; wait_for_examine counts it already. */
	g_wait_examine_calls = 0;
	CU_ASSERT(osp_bdev_wait_for_examine(ut_wait_examine_done, NULL) == 0);
	CU_ASSERT(g_wait_examine_calls == 0);
	ut_poll_threads();
	CU_ASSERT(g_examine_config_calls == 1 && g_examine_disk_calls == 1);
	CU_ASSERT(g_wait_examine_calls == 0);
	ut_set_thread(0);
	osp_bdev_module_examine_done(&g_exam_module);
	CU_ASSERT(g_wait_examine_calls == 1);
	CU_ASSERT(osp_bdev_wait_for_examine(ut_wait_examine_done, NULL) == 0);
	CU_ASSERT(g_wait_examine_calls == 2);
	g_examine_hold = false;
	CU_ASSERT(osp_bdev_examine("exa") == -EINVAL);
	ut_teardown();
	CU_ASSERT(g_exam_fini_calls == 1);
	ut_bdev_free(a);

	/* Auto examine off: only bdevs named with osp_bdev_examine(). */
	osp_bdev_get_opts(&o, sizeof(o));
	o.bdev_auto_examine = false;
	CU_ASSERT(osp_bdev_set_opts(&o) == 0);
	ut_setup_opts(&o);
	CU_ASSERT(osp_bdev_set_opts(&o) == -EPERM);
	g_examine_config_calls = 0;
	a = ut_bdev_alloc("exa", 512, 64, UT_RW_TYPES);
	b = ut_bdev_alloc("exb", 512, 64, UT_RW_TYPES);
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_examine("exb") == 0);
	CU_ASSERT(osp_bdev_examine("exb") == -EEXIST);
	CU_ASSERT(osp_bdev_register(&a->bdev) == 0);
	CU_ASSERT(osp_bdev_register(&b->bdev) == 0);
	ut_poll_threads();
	CU_ASSERT(g_examine_config_calls == 1);
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_examine("exa") == 0);
	CU_ASSERT(g_examine_config_calls == 2);
	ut_teardown();
	ut_bdev_free(a);
	ut_bdev_free(b);
	o.bdev_auto_examine = true;
	CU_ASSERT(osp_bdev_set_opts(&o) == 0);
}

/* ---- RPCs ---- */

static cJSON *g_rpc_resp;

static void
ut_rpc_done(void *arg, const cJSON *response)
{
	cJSON_Delete(g_rpc_resp);
	g_rpc_resp = response != NULL ? cJSON_Duplicate(response, 1) : NULL;
}

/* Call method with params (JSON text or NULL); returns the result, or NULL on error. */
static void
ut_rpc_start(const char *method, const char *params)
{
	cJSON *p = params != NULL ? cJSON_Parse(params) : NULL;

	cJSON_Delete(g_rpc_resp);
	g_rpc_resp = NULL;
	ut_set_thread(0);
	CU_ASSERT(osp_rpc_call(method, p, ut_rpc_done, NULL) == 0);
	cJSON_Delete(p);
	ut_poll_threads();
}

static const cJSON *
ut_rpc(const char *method, const char *params)
{
	ut_rpc_start(method, params);
	CU_ASSERT_FATAL(g_rpc_resp != NULL);
	return cJSON_GetObjectItem(g_rpc_resp, "result");
}

static int
ut_rpc_error_code(void)
{
	cJSON *err = cJSON_GetObjectItem(g_rpc_resp, "error");

	return err != NULL ? cJSON_GetObjectItem(err, "code")->valueint : 0;
}

static const char *
ut_rpc_error_msg(void)
{
	cJSON *err = cJSON_GetObjectItem(g_rpc_resp, "error");

	return err != NULL ? cJSON_GetObjectItem(err, "message")->valuestring : "";
}

static struct ut_bdev *g_late_bdev;

static int
ut_register_late(void *arg)
{
	struct osp_poller **p = arg;

	osp_bdev_register(&g_late_bdev->bdev);
	osp_poller_unregister(p);
	return OSP_POLLER_BUSY;
}

static void
test_rpc(void)
{
	struct ut_env e = {};
	struct ut_cpl c = {};
	const cJSON *r, *b;
	uint8_t *buf = ut_buf(4096, 0);
	cJSON *cfg;
	char *text;
	struct osp_poller *late;

	CU_ASSERT_FATAL(ut_allocate_threads(UT_THREADS) == 0);
	osp_rpc_set_state(OSP_RPC_STARTUP);
	r = ut_rpc("bdev_set_options", "{\"bdev_io_pool_size\": 512, \"bdev_io_cache_size\": 16,"
		   "\"iobuf_small_cache_size\": 4, \"small_buf_pool_size\": 32,"
		   "\"large_buf_pool_size\": 8}");
	CU_ASSERT(cJSON_IsTrue(r));
	r = ut_rpc("bdev_set_options", "{\"bdev_io_pool_size\": 4, \"bdev_io_cache_size\": 16}");
	CU_ASSERT(r == NULL && ut_rpc_error_code() == OSP_JSONRPC_ERROR_INVALID_PARAMS);
	r = ut_rpc("bdev_set_options", "{\"bdev_io_pool_siz\": 4}");
	CU_ASSERT(r == NULL && strstr(ut_rpc_error_msg(), "bdev_io_pool_siz") != NULL);
	{
		struct osp_bdev_opts o;

		osp_bdev_get_opts(&o, sizeof(o));
		CU_ASSERT(o.bdev_io_pool_size == 512 && o.bdev_io_cache_size == 16);
		CU_ASSERT(o.small_buf_pool_size == 32 && o.large_buf_pool_size == 8);
		ut_setup_opts(&o);
	}
	osp_rpc_set_state(OSP_RPC_RUNTIME);
	r = ut_rpc("bdev_set_options", "{\"bdev_io_pool_size\": 512}");
	CU_ASSERT(r == NULL && ut_rpc_error_code() == OSP_JSONRPC_ERROR_INVALID_STATE);

	ut_env_open(&e, ut_bdev_alloc("Malloc0", 512, 128, UT_RW_TYPES));
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_alias_add(&e.ub->bdev, "m0") == 0);
	r = ut_rpc("bdev_get_bdevs", NULL);
	CU_ASSERT_FATAL(cJSON_IsArray(r) && cJSON_GetArraySize(r) == 1);
	b = cJSON_GetArrayItem(r, 0);
	CU_ASSERT(strcmp(cJSON_GetObjectItem(b, "name")->valuestring, "Malloc0") == 0);
	CU_ASSERT(cJSON_GetObjectItem(b, "block_size")->valueint == 512);
	CU_ASSERT(cJSON_GetObjectItem(b, "num_blocks")->valueint == 128);
	CU_ASSERT(strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(b, "aliases"), 0)->valuestring,
			 "m0") == 0);
	CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "supported_io_types"),
			       "write_zeroes")));
	CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "supported_io_types"),
				"nvme_io")));
	CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(b, "claimed")));
	CU_ASSERT(strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "driver_specific"),
					     "ut")->valuestring, "yes") == 0);
	r = ut_rpc("bdev_get_bdevs", "{\"name\": \"m0\"}");
	CU_ASSERT(cJSON_GetArraySize(r) == 1);
	r = ut_rpc("bdev_get_bdevs", "{\"name\": \"nope\"}");
	CU_ASSERT(r == NULL && ut_rpc_error_code() == -ENODEV);
	CU_ASSERT(strstr(ut_rpc_error_msg(), "nope") != NULL);
	r = ut_rpc("bdev_get_bdevs", "{\"name\": 5}");
	CU_ASSERT(r == NULL && ut_rpc_error_code() == OSP_JSONRPC_ERROR_INVALID_PARAMS);
	/* timeout: a bdev that appears while the request waits. */
	g_late_bdev = ut_bdev_alloc("Late", 512, 8, UT_RW_TYPES);
	ut_set_thread(1);
	late = OSP_POLLER_REGISTER(ut_register_late, &late, 2000);
	ut_rpc_start("bdev_get_bdevs", "{\"name\": \"Late\", \"timeout\": 5000}");
	CU_ASSERT(g_rpc_resp == NULL);
	while (g_rpc_resp == NULL) {
		ut_poll_threads();
	}
	r = cJSON_GetObjectItem(g_rpc_resp, "result");
	CU_ASSERT(cJSON_GetArraySize(r) == 1);

	/* iostat. */
	ut_set_thread(0);
	CU_ASSERT(osp_bdev_read_blocks(e.desc, e.ch[0], buf, 0, 8, ut_io_done, &c) == 0);
	ut_complete(0, -1, OSP_BDEV_IO_STATUS_SUCCESS);
	r = ut_rpc("bdev_get_iostat", "{\"name\": \"Malloc0\"}");
	CU_ASSERT(cJSON_GetObjectItem(r, "tick_rate")->valuedouble == (double)osp_get_ticks_hz());
	CU_ASSERT(cJSON_GetObjectItem(r, "ticks") != NULL);
	b = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "bdevs"), 0);
	CU_ASSERT(strcmp(cJSON_GetObjectItem(b, "name")->valuestring, "Malloc0") == 0);
	CU_ASSERT(cJSON_GetObjectItem(b, "num_read_ops")->valueint == 1);
	CU_ASSERT(cJSON_GetObjectItem(b, "bytes_read")->valueint == 4096);
	r = ut_rpc("bdev_get_iostat", NULL);
	CU_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(r, "bdevs")) == 2);
	r = ut_rpc("bdev_get_iostat", "{\"name\": \"Malloc0\", \"per_channel\": true}");
	CU_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(r, "channels")) == 2);
	r = ut_rpc("bdev_get_iostat", "{\"per_channel\": true}");
	CU_ASSERT(r == NULL && ut_rpc_error_code() == OSP_JSONRPC_ERROR_INVALID_PARAMS);

	/* QoS. */
	r = ut_rpc("bdev_set_qos_limit", "{\"name\": \"Malloc0\", \"rw_ios_per_sec\": 20000,"
		   "\"r_mbytes_per_sec\": 10}");
	CU_ASSERT(cJSON_IsTrue(r));
	r = ut_rpc("bdev_set_qos_limit", "{\"name\": \"Malloc0\"}");
	CU_ASSERT(r == NULL && ut_rpc_error_code() == OSP_JSONRPC_ERROR_INVALID_PARAMS);
	r = ut_rpc("bdev_set_qos_limit", "{\"name\": \"Malloc0\", \"rw_iops\": 1}");
	CU_ASSERT(r == NULL && strstr(ut_rpc_error_msg(), "rw_iops") != NULL);
	r = ut_rpc("bdev_set_qos_limit", "{\"name\": \"x\", \"rw_ios_per_sec\": 1}");
	CU_ASSERT(r == NULL && ut_rpc_error_code() == -ENODEV);
	r = ut_rpc("bdev_get_bdevs", "{\"name\": \"Malloc0\"}");
	b = cJSON_GetObjectItem(cJSON_GetArrayItem(r, 0), "assigned_rate_limits");
	CU_ASSERT(cJSON_GetObjectItem(b, "rw_ios_per_sec")->valueint == 20000);
	CU_ASSERT(cJSON_GetObjectItem(b, "r_mbytes_per_sec")->valueint == 10);
	CU_ASSERT(cJSON_GetObjectItem(b, "w_mbytes_per_sec")->valueint == 0);

	/* Examine. */
	r = ut_rpc("bdev_examine", "{\"name\": \"Malloc0\"}");
	CU_ASSERT(r == NULL && ut_rpc_error_code() == -EINVAL);
	r = ut_rpc("bdev_examine", NULL);
	CU_ASSERT(r == NULL && ut_rpc_error_code() == OSP_JSONRPC_ERROR_INVALID_PARAMS);
	r = ut_rpc("bdev_wait_for_examine", NULL);
	CU_ASSERT(cJSON_IsTrue(r));

	/* The configuration, in order. */
	cfg = cJSON_CreateArray();
	bdev_write_config_json(cfg);
	text = cJSON_PrintUnformatted(cfg);
	CU_ASSERT(strstr(text, "{\"method\":\"bdev_set_options\",\"params\":{\"bdev_io_pool_size\":512,"
			 "\"bdev_io_cache_size\":16,\"bdev_auto_examine\":true,"
			 "\"small_buf_pool_size\":32,\"large_buf_pool_size\":8,"
			 "\"iobuf_small_cache_size\":4,") == text + 1);
	CU_ASSERT(strstr(text, "ut_exam_setting") < strstr(text, "\"ut_bdev_create\",\"params\":"
							      "{\"name\":\"Malloc0\"}"));
	CU_ASSERT(strstr(text, "{\"name\":\"Malloc0\"}") < strstr(text, "{\"name\":\"Late\"}"));
	CU_ASSERT(strstr(text, "{\"method\":\"bdev_set_qos_limit\",\"params\":{\"name\":\"Malloc0\","
			 "\"rw_ios_per_sec\":20000,\"r_mbytes_per_sec\":10}}") != NULL);
	CU_ASSERT(strstr(text, "{\"method\":\"bdev_wait_for_examine\"}]") != NULL);
	free(text);
	cJSON_Delete(cfg);
	cJSON_Delete(g_rpc_resp);
	g_rpc_resp = NULL;

	ut_env_close(&e);
	ut_teardown();
	ut_bdev_free(g_late_bdev);
	free(buf);
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	ut_env_init();
	CU_initialize_registry();
	suite = CU_add_suite("bdev", NULL, NULL);
	CU_ADD_TEST(suite, test_register);
	CU_ADD_TEST(suite, test_read_write);
	CU_ADD_TEST(suite, test_stats);
	CU_ADD_TEST(suite, test_split_max_rw);
	CU_ADD_TEST(suite, test_split_boundary);
	CU_ADD_TEST(suite, test_bounce);
	CU_ADD_TEST(suite, test_io_wait);
	CU_ADD_TEST(suite, test_nomem);
	CU_ADD_TEST(suite, test_reset);
	CU_ADD_TEST(suite, test_hot_remove);
	CU_ADD_TEST(suite, test_claims);
	CU_ADD_TEST(suite, test_qos);
	CU_ADD_TEST(suite, test_compare_and_write);
	CU_ADD_TEST(suite, test_locked_write);
	CU_ADD_TEST(suite, test_emulation);
	CU_ADD_TEST(suite, test_examine);
	CU_ADD_TEST(suite, test_rpc);
	rc = ut_run_suites();
	return rc;
}
