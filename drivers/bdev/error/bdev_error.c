/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Error bdev: a passthru (see bdev_passthru.c for the skeleton) named
 * EE_<base> that can be told to misbehave.
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
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/queue.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "bdev_error.h"

struct error_bdev;

struct error_config {
	char *base_name;
	struct osp_uuid uuid;
	struct error_bdev *eb;
	TAILQ_ENTRY(error_config) link;
};

struct error_injection {
	uint32_t num;			/* atomic: I/Os still to hit */
	uint8_t type;			/* enum bdev_error_type */
	uint8_t corrupt_value;
	uint32_t queue_depth;
	uint64_t corrupt_offset;
};

/* Our io_device; bdev is not first because the layer registers &bdev as its own. */
struct error_bdev {
	struct error_config *config;
	struct osp_bdev bdev;
	struct osp_bdev *base;
	struct osp_bdev_desc *base_desc;
	struct osp_thread *desc_thread;
	bool unregistering;		/* atomic: read by I/O threads */
	osp_bdev_unregister_cb unregister_cb;
	void *unregister_cb_arg;
	struct error_injection inj[OSP_BDEV_NUM_IO_TYPES];
};

OSP_STATIC_ASSERT(offsetof(struct error_bdev, bdev) != 0, "distinct io_devices");

struct error_io {
	TAILQ_ENTRY(error_io) link;
	struct osp_bdev_io_wait_entry wait;
	struct osp_io_channel *ch;
	bool corrupt_read;
	uint8_t corrupt_value;
	uint64_t corrupt_offset;
};

struct error_channel {
	struct osp_io_channel *base_ch;
	TAILQ_HEAD(, error_io) pending;
	uint32_t in_flight;
};

static TAILQ_HEAD(, error_config) g_error_configs = TAILQ_HEAD_INITIALIZER(g_error_configs);

static int error_get_ctx_size(void);
static void error_fini_start(void);
static void error_examine_config(struct osp_bdev *bdev);
static void error_config_json(cJSON *array);
static void error_fini(void);

static struct osp_bdev_module g_error_module = {
	.name = "error",
	.module_fini = error_fini,
	.fini_start = error_fini_start,
	.get_ctx_size = error_get_ctx_size,
	.examine_config = error_examine_config,
	.config_json = error_config_json,
};
OSP_BDEV_MODULE_REGISTER(error, &g_error_module)

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
	int i;

	for (i = 0; i < bdev_io->u.bdev.iovcnt; i++) {
		struct iovec *iov = &bdev_io->u.bdev.iovs[i];

		if (offset < iov->iov_len) {
			((uint8_t *)iov->iov_base)[offset] ^= value;
			return;
		}
		offset -= iov->iov_len;
	}
}

static void error_submit(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io);

static void
error_base_io_done(struct osp_bdev_io *base_io, bool success, void *cb_arg)
{
	struct osp_bdev_io *bdev_io = cb_arg;
	struct error_io *eio = (struct error_io *)bdev_io->driver_ctx;
	int status = osp_bdev_io_get_status(base_io);
	uint32_t cdw0;
	int sct, sc;

	if (status == OSP_BDEV_IO_STATUS_NVME_ERROR) {
		osp_bdev_io_get_nvme_status(base_io, &cdw0, &sct, &sc);
		osp_bdev_free_io(base_io);
		error_ch(eio)->in_flight--;
		osp_bdev_io_complete_nvme_status(bdev_io, cdw0, sct, sc);
		return;
	}
	osp_bdev_free_io(base_io);
	if (success && eio->corrupt_read) {
		error_corrupt(bdev_io, eio->corrupt_offset, eio->corrupt_value);
	}
	error_complete(bdev_io, success ? OSP_BDEV_IO_STATUS_SUCCESS :
		       status < OSP_BDEV_IO_STATUS_PENDING ? status : OSP_BDEV_IO_STATUS_FAILED);
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

	rc = osp_bdev_io_resubmit_to(bdev_io, eb->base_desc, ech->base_ch, 0,
				     error_base_io_done, bdev_io);
	if (osp_likely(rc == 0)) {
		return;
	}
	if (rc == -ENOMEM) {
		eio->wait.bdev = eb->base;
		eio->wait.cb_fn = error_resubmit;
		eio->wait.cb_arg = bdev_io;
		if (osp_bdev_queue_io_wait(eb->base, ech->base_ch, &eio->wait) == 0) {
			return;
		}
		error_complete(bdev_io, OSP_BDEV_IO_STATUS_NOMEM);
		return;
	}
	error_complete(bdev_io, OSP_BDEV_IO_STATUS_FAILED);
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
		if (__atomic_load_n(&eb->unregistering, __ATOMIC_ACQUIRE)) {
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
		osp_for_each_channel(bdev_io->bdev->ctxt, error_abort_pending, bdev_io,
				     error_reset_pending_done);
		return;
	}
	error_submit_injected(ch, bdev_io);
}

static bool
error_io_type_supported(void *ctx, enum osp_bdev_io_type type)
{
	struct error_bdev *eb = ctx;

	return osp_bdev_io_type_supported(eb->base, type);
}

static struct osp_io_channel *
error_get_io_channel(void *ctx)
{
	return osp_get_io_channel(ctx);
}

static int
error_channel_create(void *io_device, void *ctx_buf)
{
	struct error_bdev *eb = io_device;
	struct error_channel *ech = ctx_buf;

	TAILQ_INIT(&ech->pending);
	ech->base_ch = osp_bdev_get_io_channel(eb->base_desc);
	return ech->base_ch != NULL ? 0 : -ENOMEM;
}

static void
error_channel_destroy(void *io_device, void *ctx_buf)
{
	struct error_channel *ech = ctx_buf;

	osp_put_io_channel(ech->base_ch);
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

	error_write_params(array, eb->base->name, &bdev->uuid);
}

static void
error_config_json(cJSON *array)
{
	struct error_config *cfg;

	TAILQ_FOREACH(cfg, &g_error_configs, link) {
		if (cfg->eb == NULL) {
			error_write_params(array, cfg->base_name, &cfg->uuid);
		}
	}
}

static void
error_dump_info_json(void *ctx, cJSON *obj)
{
	struct error_bdev *eb = ctx;
	cJSON *o = cJSON_AddObjectToObject(obj, "error_disk");

	if (o != NULL) {
		cJSON_AddStringToObject(o, "base_bdev", eb->base->name);
	}
}

/* ---- teardown ---- */

static void
error_release_base(void *arg)
{
	struct error_bdev *eb = arg;

	osp_bdev_module_release_bdev(eb->base);
	osp_bdev_close(eb->base_desc);
	osp_bdev_destruct_done(&eb->bdev, 0);
	free(eb->bdev.name);
	free(eb);
}

static void
error_io_device_unregistered(void *io_device)
{
	struct error_bdev *eb = io_device;

	if (osp_get_thread() == eb->desc_thread) {
		error_release_base(eb);
	} else if (osp_thread_send_msg(eb->desc_thread, error_release_base, eb) != 0) {
		OSP_ERRLOG("%s: cannot reach the thread of its base descriptor\n", eb->bdev.name);
	}
}

static int
error_destruct(void *ctx)
{
	struct error_bdev *eb = ctx;

	/* Unregistered by the layer (shutdown) or by us: no second unregister on REMOVE. */
	__atomic_store_n(&eb->unregistering, true, __ATOMIC_RELEASE);
	if (eb->config != NULL) {
		eb->config->eb = NULL;
		eb->config = NULL;
	}
	osp_io_device_unregister(eb, error_io_device_unregistered);
	return 1;
}

static void
error_abort_at_fini_done(struct osp_io_channel_iter *i, int status)
{
}

/* Shutting down: release held I/O, or its users could never close. */
static void
error_fini_start(void)
{
	struct error_config *cfg;

	TAILQ_FOREACH(cfg, &g_error_configs, link) {
		if (cfg->eb != NULL) {
			__atomic_store_n(&cfg->eb->unregistering, true, __ATOMIC_RELEASE);
			osp_for_each_channel(cfg->eb, error_abort_pending, NULL,
					     error_abort_at_fini_done);
		}
	}
}

/* Held I/Os are released on every thread, then the bdev is unregistered. */
static void
error_pending_aborted(struct osp_io_channel_iter *i, int status)
{
	struct error_bdev *eb = osp_io_channel_iter_get_io_device(i);
	int rc;

	rc = osp_bdev_unregister(&eb->bdev, eb->unregister_cb, eb->unregister_cb_arg);
	if (rc != 0 && eb->unregister_cb != NULL) {
		eb->unregister_cb(eb->unregister_cb_arg, rc);
	}
}

static void
error_unregister(struct error_bdev *eb, osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	if (eb->unregistering) {
		if (cb_fn != NULL) {
			cb_fn(cb_arg, 0);
		}
		return;
	}
	__atomic_store_n(&eb->unregistering, true, __ATOMIC_RELEASE);
	eb->unregister_cb = cb_fn;
	eb->unregister_cb_arg = cb_arg;
	osp_for_each_channel(eb, error_abort_pending, NULL, error_pending_aborted);
}

static void
error_base_event_cb(enum osp_bdev_event_type type, struct osp_bdev *base, void *ctx)
{
	struct error_bdev *eb = ctx;

	switch (type) {
	case OSP_BDEV_EVENT_REMOVE:
		OSP_NOTICELOG("%s: base bdev %s is going away\n", eb->bdev.name, base->name);
		error_unregister(eb, NULL, NULL);
		break;
	case OSP_BDEV_EVENT_RESIZE:
		osp_bdev_notify_blockcnt_change(&eb->bdev, base->blockcnt);
		break;
	default:
		break;
	}
}

/* ---- building ---- */

static const struct osp_bdev_fn_table g_error_fn_table = {
	.destruct = error_destruct,
	.submit_request = error_submit_request,
	.io_type_supported = error_io_type_supported,
	.get_io_channel = error_get_io_channel,
	.dump_info_json = error_dump_info_json,
	.write_config_json = error_write_config_json,
};

static int
error_build(struct error_config *cfg)
{
	struct error_bdev *eb;
	struct osp_bdev *base;
	int rc;

	if (cfg->eb != NULL) {
		return 0;
	}
	eb = calloc(1, sizeof(*eb));
	if (eb == NULL) {
		return -ENOMEM;
	}
	eb->bdev.name = osp_sprintf_alloc(BDEV_ERROR_PREFIX "%s", cfg->base_name);
	if (eb->bdev.name == NULL) {
		free(eb);
		return -ENOMEM;
	}
	rc = osp_bdev_module_open_base(&eb->bdev, cfg->base_name, error_base_event_cb, eb,
				       &g_error_module, &eb->base_desc);
	if (rc != 0) {
		goto err_free;
	}
	eb->desc_thread = osp_get_thread();
	base = osp_bdev_desc_get_bdev(eb->base_desc);
	eb->base = base;
	eb->bdev.product_name = "Error Injection Disk";
	osp_bdev_copy_geometry(&eb->bdev, base);
	if (osp_uuid_is_null(&cfg->uuid)) {
		osp_uuid_generate(&cfg->uuid);
	}
	eb->bdev.uuid = cfg->uuid;
	eb->bdev.ctxt = eb;
	eb->bdev.module = &g_error_module;
	eb->bdev.fn_table = &g_error_fn_table;

	osp_io_device_register(eb, error_channel_create, error_channel_destroy,
			       sizeof(struct error_channel), eb->bdev.name);
	eb->config = cfg;
	cfg->eb = eb;
	rc = osp_bdev_register(&eb->bdev);
	if (rc != 0) {
		OSP_ERRLOG("%s: registering failed: %s\n", eb->bdev.name, strerror(-rc));
		cfg->eb = NULL;
		osp_io_device_unregister(eb, NULL);
		osp_bdev_module_release_bdev(base);
		goto err_close;
	}
	OSP_NOTICELOG("error bdev %s created on %s\n", eb->bdev.name, base->name);
	return 0;

err_close:
	osp_bdev_close(eb->base_desc);
err_free:
	free(eb->bdev.name);
	free(eb);
	return rc;
}

static struct error_config *
error_config_find_base(const char *base_name)
{
	struct error_config *cfg;

	TAILQ_FOREACH(cfg, &g_error_configs, link) {
		if (strcmp(cfg->base_name, base_name) == 0) {
			return cfg;
		}
	}
	return NULL;
}

/* By the error bdev's name, "EE_<base>". */
static struct error_config *
error_config_find(const char *name)
{
	size_t plen = strlen(BDEV_ERROR_PREFIX);

	if (name == NULL || strncmp(name, BDEV_ERROR_PREFIX, plen) != 0) {
		return NULL;
	}
	return error_config_find_base(name + plen);
}

static void
error_config_free(struct error_config *cfg)
{
	free(cfg->base_name);
	free(cfg);
}

int
bdev_error_create(const char *base_name, const struct osp_uuid *uuid)
{
	struct error_config *cfg;
	char *name;
	int rc;

	if (base_name == NULL || base_name[0] == '\0') {
		return -EINVAL;
	}
	if (error_config_find_base(base_name) != NULL) {
		return -EEXIST;
	}
	name = osp_sprintf_alloc(BDEV_ERROR_PREFIX "%s", base_name);
	if (name == NULL) {
		return -ENOMEM;
	}
	rc = osp_bdev_get_by_name(name) != NULL ? -EEXIST : 0;
	free(name);
	if (rc != 0) {
		return rc;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		return -ENOMEM;
	}
	cfg->base_name = strdup(base_name);
	if (cfg->base_name == NULL) {
		free(cfg);
		return -ENOMEM;
	}
	if (uuid != NULL) {
		cfg->uuid = *uuid;
	}
	TAILQ_INSERT_TAIL(&g_error_configs, cfg, link);
	rc = error_build(cfg);
	if (rc == -ENODEV) {
		OSP_NOTICELOG("error bdev " BDEV_ERROR_PREFIX "%s waits for its base bdev %s\n",
			      base_name, base_name);
		return 0;
	}
	if (rc != 0) {
		TAILQ_REMOVE(&g_error_configs, cfg, link);
		error_config_free(cfg);
	}
	return rc;
}

int
bdev_error_delete(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	struct error_config *cfg = error_config_find(name);
	struct error_bdev *eb;

	if (cfg == NULL) {
		return -ENODEV;
	}
	TAILQ_REMOVE(&g_error_configs, cfg, link);
	eb = cfg->eb;
	error_config_free(cfg);
	if (eb == NULL) {
		if (cb_fn != NULL) {
			cb_fn(cb_arg, 0);
		}
		return 0;
	}
	eb->config = NULL;
	error_unregister(eb, cb_fn, cb_arg);
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
	struct error_config *cfg = error_config_find(name);
	size_t i;

	if (cfg == NULL || cfg->eb == NULL) {
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
			error_arm(&cfg->eb->inj[injectable[i]], opts);
		}
		return 0;
	}
	for (i = 0; i < OSP_COUNTOF(injectable); i++) {
		if (opts->io_type == injectable[i]) {
			error_arm(&cfg->eb->inj[opts->io_type], opts);
			return 0;
		}
	}
	return -EINVAL;
}

int
bdev_error_clear(const char *name)
{
	struct error_config *cfg = error_config_find(name);
	int i;

	if (cfg == NULL || cfg->eb == NULL) {
		return -ENODEV;
	}
	for (i = 0; i < OSP_BDEV_NUM_IO_TYPES; i++) {
		__atomic_store_n(&cfg->eb->inj[i].num, 0, __ATOMIC_RELEASE);
	}
	return 0;
}

static void
error_examine_config(struct osp_bdev *bdev)
{
	struct error_config *cfg = error_config_find_base(bdev->name);
	int rc;

	if (cfg != NULL && cfg->eb == NULL) {
		rc = error_build(cfg);
		if (rc != 0) {
			OSP_ERRLOG("error bdev on %s: %s\n", bdev->name, strerror(-rc));
		}
	}
	osp_bdev_module_examine_done(&g_error_module);
}

static int
error_get_ctx_size(void)
{
	return sizeof(struct error_io);
}

static void
error_fini(void)
{
	struct error_config *cfg;

	while ((cfg = TAILQ_FIRST(&g_error_configs)) != NULL) {
		TAILQ_REMOVE(&g_error_configs, cfg, link);
		error_config_free(cfg);
	}
}
