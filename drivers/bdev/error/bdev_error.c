/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Error bdev: a passthru (see bdev_passthru.c for the skeleton, and the
 * virtual-bdev helper in osprey/bdev_module.h) named EE_<base> that can be
 * told to misbehave.
 *
 * bdev_error_inject_error arms, per I/O type, an error kind and a count.
 * Each submitted I/O of an armed type takes one from the count (an atomic
 * decrement: the count is shared by every thread) and gets the error:
 *
 *   failure       completes FAILED without reaching the base
 *   pending       is held on its channel and never completes, until a reset
 *                 of the error bdev or its removal completes it ABORTED
 *   corrupt_data  writes reach the base with one byte flipped (XOR), reads
 *                 return the base's data with one byte flipped
 *   nomem         completes NOMEM, which the layer queues and retries
 *
 * Everything else is forwarded to the base unchanged. A queue_depth makes an
 * injection apply only to I/Os submitted while at least that many are in
 * flight on their channel.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev_module.h"
#include "osprey/iov.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/queue.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "bdev_error.h"

struct error_injection {
	uint32_t num;			/* atomic: I/Os still to hit */
	uint8_t type;			/* enum bdev_error_type */
	uint8_t corrupt_value;
	uint32_t queue_depth;
	uint64_t corrupt_offset;
};

/* The base (the helper's, also the io_device of our channels) and our bdev. */
struct error_bdev {
	struct osp_vbdev_base base;	/* first: the helper's fn_table members find it at ctxt */
	struct osp_bdev bdev;
	/* Shutting down (atomic: read by I/O threads); base.unregistering says the same. */
	bool stopping;
	struct error_injection inj[OSP_BDEV_NUM_IO_TYPES];
};

OSP_STATIC_ASSERT(offsetof(struct error_bdev, base) == 0, "the helper finds its base at ctxt");

struct error_io {
	TAILQ_ENTRY(error_io) link;
	struct osp_bdev_io_wait_entry wait;
	struct osp_io_channel *ch;
	bool corrupt_read;
	uint8_t corrupt_value;
	uint64_t corrupt_offset;
};

struct error_channel {
	struct osp_vbdev_channel vch;
	TAILQ_HEAD(, error_io) pending;
	uint32_t in_flight;
};

static int error_get_ctx_size(void);
static void error_fini_start(void);
static void error_examine_config(struct osp_bdev *bdev);
static void error_config_json(cJSON *array);
static void error_fini(void);
static int error_build(struct osp_vbdev_config *cfg, char *err, size_t errlen);
static void error_config_free(struct osp_vbdev_config *cfg);
static void error_write_config(struct osp_vbdev_config *cfg, cJSON *array);

static struct osp_bdev_module g_error_module = {
	.name = "error",
	.module_fini = error_fini,
	.fini_start = error_fini_start,
	.get_ctx_size = error_get_ctx_size,
	.examine_config = error_examine_config,
	.config_json = error_config_json,
};
OSP_BDEV_MODULE_REGISTER(error, &g_error_module)

/* Configs are named EE_<base>, like the bdev they build. */
static struct osp_vbdev_list g_error_list = OSP_VBDEV_LIST_INITIALIZER(g_error_list,
		&g_error_module, "error bdev", error_build, error_config_free, error_write_config);

/* ---- I/O ---- */

static inline struct error_channel *
error_ch(struct error_io *eio)
{
	return osp_io_channel_get_ctx(eio->ch);
}

/* Every completion of ours goes through here (keeps in_flight right). */
static void
error_complete(struct osp_bdev_io *bdev_io, int status)
{
	struct error_io *eio = (struct error_io *)bdev_io->driver_ctx;

	error_ch(eio)->in_flight--;
	osp_bdev_io_complete(bdev_io, status);
}

/* XOR one byte at offset of the I/O's data, if the data reaches that far. */
static void
error_corrupt(struct osp_bdev_io *bdev_io, uint64_t offset, uint8_t value)
{
	uint8_t b;

	if (osp_iov_copy_to_buf(&b, 1, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, offset) == 1) {
		b ^= value;
		osp_iov_copy_from_buf(&b, 1, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, offset);
	}
}

static void error_submit(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io);

static void
error_base_io_done(struct osp_bdev_io *base_io, bool success, void *cb_arg)
{
	struct osp_bdev_io *bdev_io = cb_arg;
	struct error_io *eio = (struct error_io *)bdev_io->driver_ctx;

	if (success && eio->corrupt_read) {
		error_corrupt(bdev_io, eio->corrupt_offset, eio->corrupt_value);
	}
	error_ch(eio)->in_flight--;
	osp_vbdev_io_complete_from(bdev_io, base_io, success);
}

static void
error_resubmit(void *arg)
{
	struct osp_bdev_io *bdev_io = arg;

	error_submit(((struct error_io *)bdev_io->driver_ctx)->ch, bdev_io);
}

static void
error_submit(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io)
{
	struct error_bdev *eb = bdev_io->bdev->ctxt;
	struct error_channel *ech = osp_io_channel_get_ctx(ch);
	struct error_io *eio = (struct error_io *)bdev_io->driver_ctx;
	int rc;

	rc = osp_bdev_io_resubmit_to(bdev_io, eb->base.desc, ech->vch.base_ch, 0,
				     error_base_io_done, bdev_io);
	if (osp_likely(rc == 0)) {
		return;
	}
	rc = osp_vbdev_submit_failed(&eb->base, ech->vch.base_ch, bdev_io, rc, &eio->wait,
				     error_resubmit);
	if (rc != OSP_BDEV_IO_STATUS_PENDING) {
		error_complete(bdev_io, rc);
	}
}

/* Take one from inj's count if it is armed for this I/O. */
static bool
error_take(struct error_injection *inj, struct error_channel *ech)
{
	uint32_t n = __atomic_load_n(&inj->num, __ATOMIC_ACQUIRE);

	if (osp_likely(n == 0)) {
		return false;
	}
	if (inj->queue_depth != 0 && ech->in_flight < inj->queue_depth) {
		return false;
	}
	while (n > 0) {
		if (__atomic_compare_exchange_n(&inj->num, &n, n - 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			return true;
		}
	}
	return false;
}

static void
error_submit_injected(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io)
{
	struct error_bdev *eb = bdev_io->bdev->ctxt;
	struct error_channel *ech = osp_io_channel_get_ctx(ch);
	struct error_io *eio = (struct error_io *)bdev_io->driver_ctx;
	struct error_injection *inj = &eb->inj[bdev_io->type];

	if (!error_take(inj, ech)) {
		error_submit(ch, bdev_io);
		return;
	}
	switch (inj->type) {
	case BDEV_ERROR_FAILURE:
		error_complete(bdev_io, OSP_BDEV_IO_STATUS_FAILED);
		return;
	case BDEV_ERROR_NOMEM:
		error_complete(bdev_io, OSP_BDEV_IO_STATUS_NOMEM);
		return;
	case BDEV_ERROR_PENDING:
		if (osp_vbdev_base_unregistering(&eb->base) ||
		    __atomic_load_n(&eb->stopping, __ATOMIC_ACQUIRE)) {
			/* Nobody would come to release it any more. */
			error_complete(bdev_io, OSP_BDEV_IO_STATUS_ABORTED);
			return;
		}
		TAILQ_INSERT_TAIL(&ech->pending, eio, link);
		return;
	case BDEV_ERROR_CORRUPT_DATA:
		if (bdev_io->type == OSP_BDEV_IO_TYPE_WRITE) {
			error_corrupt(bdev_io, inj->corrupt_offset, inj->corrupt_value);
		} else if (bdev_io->type == OSP_BDEV_IO_TYPE_READ) {
			eio->corrupt_read = true;
			eio->corrupt_offset = inj->corrupt_offset;
			eio->corrupt_value = inj->corrupt_value;
		}
		error_submit(ch, bdev_io);
		return;
	default:
		error_submit(ch, bdev_io);
		return;
	}
}

/* Complete this channel's held I/Os as aborted. */
static void
error_abort_pending(struct osp_io_channel_iter *i)
{
	struct error_channel *ech = osp_io_channel_get_ctx(osp_io_channel_iter_get_channel(i));
	struct error_io *eio;

	while ((eio = TAILQ_FIRST(&ech->pending)) != NULL) {
		TAILQ_REMOVE(&ech->pending, eio, link);
		error_complete(osp_bdev_io_from_ctx(eio), OSP_BDEV_IO_STATUS_ABORTED);
	}
	osp_for_each_channel_continue(i, 0);
}

static void
error_reset_pending_done(struct osp_io_channel_iter *i, int status)
{
	struct osp_bdev_io *bdev_io = osp_io_channel_iter_get_ctx(i);

	error_submit(((struct error_io *)bdev_io->driver_ctx)->ch, bdev_io);
}

static void
error_submit_request(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io)
{
	struct error_channel *ech = osp_io_channel_get_ctx(ch);
	struct error_io *eio = (struct error_io *)bdev_io->driver_ctx;

	eio->ch = ch;
	eio->corrupt_read = false;
	ech->in_flight++;
	if (bdev_io->type == OSP_BDEV_IO_TYPE_RESET) {
		/* A reset releases whatever "pending" held back, then resets the base. */
		osp_for_each_channel(&((struct error_bdev *)bdev_io->bdev->ctxt)->base,
				     error_abort_pending, bdev_io, error_reset_pending_done);
		return;
	}
	error_submit_injected(ch, bdev_io);
}

static int
error_channel_create(struct osp_vbdev_base *base, struct osp_vbdev_channel *vch)
{
	struct error_channel *ech = OSP_CONTAINEROF(vch, struct error_channel, vch);

	TAILQ_INIT(&ech->pending);
	return 0;
}

/* ---- info and config ---- */

static void
error_write_params(cJSON *array, const char *base_name, const struct osp_uuid *uuid)
{
	cJSON *params = cJSON_CreateObject();
	char str[OSP_UUID_STRING_LEN];

	if (params == NULL) {
		return;
	}
	cJSON_AddStringToObject(params, "base_name", base_name);
	if (!osp_uuid_is_null(uuid)) {
		osp_uuid_fmt_lower(str, sizeof(str), uuid);
		cJSON_AddStringToObject(params, "uuid", str);
	}
	osp_json_add_rpc_call(array, "bdev_error_create", params);
}

static void
error_write_config_json(struct osp_bdev *bdev, cJSON *array)
{
	struct error_bdev *eb = bdev->ctxt;

	error_write_params(array, eb->base.bdev->name, &bdev->uuid);
}

static void
error_write_config(struct osp_vbdev_config *cfg, cJSON *array)
{
	error_write_params(array, cfg->base_name, &cfg->uuid);
}

static void
error_config_json(cJSON *array)
{
	osp_vbdev_config_json(&g_error_list, array);
}

static void
error_dump_info_json(void *ctx, cJSON *obj)
{
	struct error_bdev *eb = ctx;
	cJSON *o = cJSON_AddObjectToObject(obj, "error_disk");

	if (o != NULL) {
		cJSON_AddStringToObject(o, "base_bdev", eb->base.bdev->name);
	}
}

/* ---- teardown ---- */

static void
error_abort_at_fini_done(struct osp_io_channel_iter *i, int status)
{
}

/* Shutting down: release held I/O, or its users could never close. */
static void
error_fini_start(void)
{
	struct osp_vbdev_config *cfg;

	TAILQ_FOREACH(cfg, &g_error_list.configs, link) {
		if (cfg->base != NULL) {
			struct error_bdev *eb = OSP_CONTAINEROF(cfg->base, struct error_bdev, base);

			__atomic_store_n(&eb->stopping, true, __ATOMIC_RELEASE);
			osp_for_each_channel(&eb->base, error_abort_pending, NULL,
					     error_abort_at_fini_done);
		}
	}
}

/* Held I/Os are released on every thread: now the bdev can be unregistered. */
static void
error_pending_aborted(struct osp_io_channel_iter *i, int status)
{
	osp_vbdev_base_quiesced(osp_io_channel_iter_get_io_device(i));
}

/* Unregistering starts (delete, hot remove): new "pending" I/O is aborted from now on. */
static void
error_quiesce(struct osp_vbdev_base *base)
{
	osp_for_each_channel(base, error_abort_pending, NULL, error_pending_aborted);
}

static const struct osp_vbdev_base_ops g_error_base_ops = {
	.channel_size = sizeof(struct error_channel),
	.channel_create = error_channel_create,
	.quiesce = error_quiesce,
	.follow_resize = true,
};

/* ---- building ---- */

static const struct osp_bdev_fn_table g_error_fn_table = {
	.destruct = osp_vbdev_destruct_one,
	.submit_request = error_submit_request,
	.io_type_supported = osp_vbdev_io_type_supported,
	.get_io_channel = osp_vbdev_get_io_channel,
	.dump_info_json = error_dump_info_json,
	.write_config_json = error_write_config_json,
};

static int
error_build(struct osp_vbdev_config *cfg, char *err, size_t errlen)
{
	struct error_bdev *eb;
	int rc;

	eb = calloc(1, sizeof(*eb));
	if (eb == NULL) {
		return -ENOMEM;
	}
	eb->bdev.product_name = "Error Injection Disk";
	eb->bdev.ctxt = eb;
	eb->bdev.module = &g_error_module;
	eb->bdev.fn_table = &g_error_fn_table;
	rc = osp_vbdev_base_build_one(&eb->base, &g_error_base_ops, cfg, &eb->bdev, err, errlen);
	if (rc != 0) {
		free(eb);
	}
	return rc;
}

/* The built error bdev named name ("EE_<base>"), or NULL. */
static struct error_bdev *
error_bdev_find(const char *name)
{
	struct osp_vbdev_config *cfg = osp_vbdev_config_find(&g_error_list, name, false);

	if (cfg == NULL || cfg->base == NULL) {
		return NULL;
	}
	return OSP_CONTAINEROF(cfg->base, struct error_bdev, base);
}

static void
error_config_free(struct osp_vbdev_config *cfg)
{
	free(cfg->name);
	free(cfg->base_name);
	free(cfg);
}

int
bdev_error_create(const char *base_name, const struct osp_uuid *uuid)
{
	struct osp_vbdev_config *cfg;

	if (base_name == NULL || base_name[0] == '\0') {
		return -EINVAL;
	}
	if (osp_vbdev_config_find(&g_error_list, base_name, true) != NULL) {
		return -EEXIST;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		return -ENOMEM;
	}
	cfg->name = osp_sprintf_alloc(BDEV_ERROR_PREFIX "%s", base_name);
	cfg->base_name = strdup(base_name);
	if (cfg->name == NULL || cfg->base_name == NULL) {
		error_config_free(cfg);
		return -ENOMEM;
	}
	if (osp_bdev_get_by_name(cfg->name) != NULL) {
		error_config_free(cfg);
		return -EEXIST;
	}
	if (uuid != NULL) {
		cfg->uuid = *uuid;
	}
	return osp_vbdev_config_add(&g_error_list, cfg, NULL, 0);
}

int
bdev_error_delete(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	struct osp_vbdev_config *cfg = osp_vbdev_config_find(&g_error_list, name, false);

	if (cfg == NULL) {
		return -ENODEV;
	}
	osp_vbdev_config_delete(&g_error_list, cfg, cb_fn, cb_arg);
	return 0;
}

enum bdev_error_type
bdev_error_type_from_name(const char *name)
{
	static const char *const names[] = {
		[BDEV_ERROR_FAILURE] = "failure",
		[BDEV_ERROR_PENDING] = "pending",
		[BDEV_ERROR_CORRUPT_DATA] = "corrupt_data",
		[BDEV_ERROR_NOMEM] = "nomem",
	};
	size_t i;

	for (i = 1; name != NULL && i < OSP_COUNTOF(names); i++) {
		if (strcmp(name, names[i]) == 0) {
			return (enum bdev_error_type)i;
		}
	}
	return BDEV_ERROR_NONE;
}

static void
error_arm(struct error_injection *inj, const struct bdev_error_inject_opts *opts)
{
	/* Disarm, update, re-arm: a racing I/O sees either the old or the new setting. */
	__atomic_store_n(&inj->num, 0, __ATOMIC_RELEASE);
	inj->type = (uint8_t)opts->error_type;
	inj->queue_depth = opts->queue_depth;
	inj->corrupt_offset = opts->corrupt_offset;
	inj->corrupt_value = opts->corrupt_value;
	__atomic_store_n(&inj->num, opts->num, __ATOMIC_RELEASE);
}

int
bdev_error_inject(const char *name, const struct bdev_error_inject_opts *opts)
{
	static const int injectable[] = {
		OSP_BDEV_IO_TYPE_READ, OSP_BDEV_IO_TYPE_WRITE,
		OSP_BDEV_IO_TYPE_UNMAP, OSP_BDEV_IO_TYPE_FLUSH,
	};
	struct error_bdev *eb = error_bdev_find(name);
	size_t i;

	if (eb == NULL) {
		return -ENODEV;
	}
	if (opts->error_type == BDEV_ERROR_NONE || opts->error_type > BDEV_ERROR_NOMEM) {
		return -EINVAL;
	}
	if (opts->error_type == BDEV_ERROR_CORRUPT_DATA && opts->corrupt_value == 0) {
		return -EINVAL;
	}
	if (opts->io_type == OSP_BDEV_IO_TYPE_INVALID) {
		for (i = 0; i < OSP_COUNTOF(injectable); i++) {
			error_arm(&eb->inj[injectable[i]], opts);
		}
		return 0;
	}
	for (i = 0; i < OSP_COUNTOF(injectable); i++) {
		if (opts->io_type == injectable[i]) {
			error_arm(&eb->inj[opts->io_type], opts);
			return 0;
		}
	}
	return -EINVAL;
}

int
bdev_error_clear(const char *name)
{
	struct error_bdev *eb = error_bdev_find(name);
	int i;

	if (eb == NULL) {
		return -ENODEV;
	}
	for (i = 0; i < OSP_BDEV_NUM_IO_TYPES; i++) {
		__atomic_store_n(&eb->inj[i].num, 0, __ATOMIC_RELEASE);
	}
	return 0;
}

static void
error_examine_config(struct osp_bdev *bdev)
{
	osp_vbdev_examine(&g_error_list, bdev);
}

static int
error_get_ctx_size(void)
{
	return sizeof(struct error_io);
}

static void
error_fini(void)
{
	osp_vbdev_fini(&g_error_list);
}
