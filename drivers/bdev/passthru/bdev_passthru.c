/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Passthru bdev: the smallest complete virtual bdev. Copy this file to start
 * a new module that sits on top of another bdev (a "base").
 *
 * What a virtual bdev has to get right, and where this file does it:
 *
 *  1. Configuration outlives the bdev.  `bdev_passthru_create` may name a
 *     base that does not exist yet (it appears later from the JSON config,
 *     an NVMe attach, ...). So the module keeps a list of *configs*
 *     (struct pt_config), and builds the bdev (struct pt_bdev) whenever the
 *     base is there: at create time, or in examine_config when the base is
 *     registered later. A config only goes away with bdev_passthru_delete.
 *
 *  2. Owning the base.  Building opens a descriptor on the base (with an
 *     event callback, for hot remove) and *claims* it, so nobody else can
 *     write to it behind our back. Teardown releases the claim and closes
 *     the descriptor, on the thread that opened it.
 *
 *  3. Channels.  The passthru bdev is an io_device of its own. Its per-thread
 *     channel (struct pt_channel) holds that thread's channel to the base,
 *     so submitting to the base needs no lookup and no lock.
 *
 *  4. The I/O path.  submit_request forwards each I/O type with the public
 *     bdev API on the base descriptor and the base channel; the base's
 *     completion completes ours with the same status. Per-I/O state lives in
 *     bdev_io->driver_ctx (get_ctx_size), never in a malloc. A submit that
 *     returns -ENOMEM waits with osp_bdev_queue_io_wait() and retries.
 *     (The layer's osp_bdev_io_resubmit_to() does this forwarding in one
 *     call, with an optional block offset; split, delay and error use it.
 *     It is spelled out here so that you can see what each type carries.)
 *
 *  5. Hot remove.  When the base goes away the layer calls our event
 *     callback with REMOVE: we unregister our bdev. The layer then tells our
 *     users, waits for them to close (their outstanding I/O still completes,
 *     the base completes what it was given), and calls destruct, where we let
 *     go of the base. The config stays, so the passthru comes back if the
 *     base does (SPDK behaves the same).
 *
 *  6. Configuration output.  write_config_json writes the RPC call that
 *     rebuilds a built bdev; the module's config_json writes those still
 *     waiting for their base, so save_config -> restart gives the same state.
 *
 * Threads: configs, building and teardown happen on the app thread (RPCs,
 * examine and base events all run there). I/O runs on any thread, on that
 * thread's channels.
 *
 * One trap: the layer registers each struct osp_bdev as an io_device of its
 * own, so a module's io_device must have another address (struct pt_bdev
 * does not start with its bdev; see the static assert below).
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

#include "bdev_passthru.h"

struct pt_bdev;

/* One bdev_passthru_create, built or not. */
struct pt_config {
	char *name;
	char *base_name;
	struct osp_uuid uuid;		/* null until first built, unless given */
	struct pt_bdev *pt;		/* the built bdev, or NULL */
	TAILQ_ENTRY(pt_config) link;
};

/*
 * A built passthru bdev. It is also our io_device (its address keys the
 * per-thread channels). The layer registers &bdev as an io_device of its
 * own, so bdev must not be the first member: the two addresses must differ.
 */
struct pt_bdev {
	struct pt_config *config;	/* NULL once deleted (or being torn down) */
	struct osp_bdev bdev;		/* registered with the layer; bdev.ctxt == this */
	struct osp_bdev *base;
	struct osp_bdev_desc *base_desc;
	struct osp_thread *desc_thread;	/* where base_desc was opened: close it there */
	bool unregistering;
};

OSP_STATIC_ASSERT(offsetof(struct pt_bdev, bdev) != 0, "pt_bdev and its bdev are distinct io_devices");

/* Per-thread channel: this thread's channel to the base. */
struct pt_channel {
	struct osp_io_channel *base_ch;
};

/* Per-I/O state, in bdev_io->driver_ctx. */
struct pt_io {
	/* For retrying after the base ran out of bdev_ios. */
	struct osp_bdev_io_wait_entry wait;
	struct osp_io_channel *ch;
};

static TAILQ_HEAD(, pt_config) g_pt_configs = TAILQ_HEAD_INITIALIZER(g_pt_configs);

static int pt_init(void);
static void pt_fini(void);
static int pt_get_ctx_size(void);
static void pt_examine_config(struct osp_bdev *bdev);
static void pt_config_json(cJSON *array);

static struct osp_bdev_module g_pt_module = {
	.name = "passthru",
	.module_init = pt_init,
	.module_fini = pt_fini,
	.get_ctx_size = pt_get_ctx_size,
	/* Building needs no I/O, only a name match: examine_config is enough. */
	.examine_config = pt_examine_config,
	.config_json = pt_config_json,
};
OSP_BDEV_MODULE_REGISTER(passthru, &g_pt_module)

/* ---- the I/O path ---- */

static void pt_submit_request(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io);

/* The base finished: finish ours with the same outcome. */
static void
pt_base_io_done(struct osp_bdev_io *base_io, bool success, void *cb_arg)
{
	struct osp_bdev_io *bdev_io = cb_arg;
	int status = osp_bdev_io_get_status(base_io);
	uint32_t cdw0 = 0;
	int sct = 0, sc = 0;

	if (bdev_io->type == OSP_BDEV_IO_TYPE_NVME_ADMIN ||
	    bdev_io->type == OSP_BDEV_IO_TYPE_NVME_IO ||
	    status == OSP_BDEV_IO_STATUS_NVME_ERROR) {
		/* Keep the NVMe status and cdw0: NVMe passthru users read them. */
		osp_bdev_io_get_nvme_status(base_io, &cdw0, &sct, &sc);
		status = OSP_BDEV_IO_STATUS_NVME_ERROR;
	} else if (!success && status >= OSP_BDEV_IO_STATUS_PENDING) {
		status = OSP_BDEV_IO_STATUS_FAILED;
	}
	/* Give the base's bdev_io back first: our user may submit again at once. */
	osp_bdev_free_io(base_io);

	if (status == OSP_BDEV_IO_STATUS_NVME_ERROR) {
		osp_bdev_io_complete_nvme_status(bdev_io, cdw0, sct, sc);
	} else {
		/* SUCCESS, FAILED, MISCOMPARE (compare), ABORTED (reset) pass through as is. */
		osp_bdev_io_complete(bdev_io, success ? OSP_BDEV_IO_STATUS_SUCCESS : status);
	}
}

/* Called by the base's layer when a bdev_io is free again after -ENOMEM. */
static void
pt_resubmit(void *arg)
{
	struct osp_bdev_io *bdev_io = arg;
	struct pt_io *io = (struct pt_io *)bdev_io->driver_ctx;

	pt_submit_request(io->ch, bdev_io);
}

/* Submit bdev_io's twin to the base. Returns what the bdev API returned. */
static int
pt_forward(struct pt_bdev *pt, struct osp_io_channel *base_ch, struct osp_bdev_io *bdev_io)
{
	struct osp_bdev_desc *desc = pt->base_desc;
	uint64_t offset = bdev_io->u.bdev.offset_blocks;
	uint64_t num = bdev_io->u.bdev.num_blocks;

	/* Same blocks, same buffers: a passthru maps block N to base block N. */
	switch (bdev_io->type) {
	case OSP_BDEV_IO_TYPE_READ:
		return osp_bdev_readv_blocks(desc, base_ch, bdev_io->u.bdev.iovs,
					     bdev_io->u.bdev.iovcnt, offset, num,
					     pt_base_io_done, bdev_io);
	case OSP_BDEV_IO_TYPE_WRITE:
		return osp_bdev_writev_blocks(desc, base_ch, bdev_io->u.bdev.iovs,
					      bdev_io->u.bdev.iovcnt, offset, num,
					      pt_base_io_done, bdev_io);
	case OSP_BDEV_IO_TYPE_WRITE_ZEROES:
		return osp_bdev_write_zeroes_blocks(desc, base_ch, offset, num,
						    pt_base_io_done, bdev_io);
	case OSP_BDEV_IO_TYPE_UNMAP:
		return osp_bdev_unmap_blocks(desc, base_ch, offset, num, pt_base_io_done, bdev_io);
	case OSP_BDEV_IO_TYPE_FLUSH:
		return osp_bdev_flush_blocks(desc, base_ch, offset, num, pt_base_io_done, bdev_io);
	case OSP_BDEV_IO_TYPE_RESET:
		/* The layer already aborted our own queued I/O; reset what lies below. */
		return osp_bdev_reset(desc, base_ch, pt_base_io_done, bdev_io);
	case OSP_BDEV_IO_TYPE_COMPARE:
		return osp_bdev_comparev_blocks(desc, base_ch, bdev_io->u.bdev.iovs,
						bdev_io->u.bdev.iovcnt, offset, num,
						pt_base_io_done, bdev_io);
	case OSP_BDEV_IO_TYPE_COMPARE_AND_WRITE:
		return osp_bdev_comparev_and_writev_blocks(desc, base_ch, bdev_io->u.bdev.iovs,
				bdev_io->u.bdev.iovcnt, bdev_io->u.bdev.fused_iovs,
				bdev_io->u.bdev.fused_iovcnt, offset, num,
				pt_base_io_done, bdev_io);
	case OSP_BDEV_IO_TYPE_NVME_ADMIN:
		return osp_bdev_nvme_admin_passthru(desc, base_ch, bdev_io->u.nvme_passthru.cmd,
						    bdev_io->u.nvme_passthru.buf,
						    bdev_io->u.nvme_passthru.nbytes,
						    pt_base_io_done, bdev_io);
	case OSP_BDEV_IO_TYPE_NVME_IO:
		return osp_bdev_nvme_io_passthru(desc, base_ch, bdev_io->u.nvme_passthru.cmd,
						 bdev_io->u.nvme_passthru.buf,
						 bdev_io->u.nvme_passthru.nbytes,
						 pt_base_io_done, bdev_io);
	default:
		return -EINVAL;
	}
}

static void
pt_submit_request(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io)
{
	struct pt_bdev *pt = bdev_io->bdev->ctxt;
	struct pt_channel *pch = osp_io_channel_get_ctx(ch);
	struct pt_io *io = (struct pt_io *)bdev_io->driver_ctx;
	int rc;

	rc = pt_forward(pt, pch->base_ch, bdev_io);
	if (osp_likely(rc == 0)) {
		return;
	}
	if (rc == -ENOMEM) {
		/* The base's bdev_io pool is empty: retry when one is freed. */
		io->ch = ch;
		io->wait.bdev = pt->base;
		io->wait.cb_fn = pt_resubmit;
		io->wait.cb_arg = bdev_io;
		if (osp_bdev_queue_io_wait(pt->base, pch->base_ch, &io->wait) == 0) {
			return;
		}
		/* Cannot wait there: let our own layer queue and retry it. */
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_NOMEM);
		return;
	}
	/* -ENODEV (base being removed), -EINVAL, ...: this I/O fails, others go on. */
	osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_FAILED);
}

/*
 * A read without a buffer: get one from the layer first. Forwarding the
 * NULL buffer would make the *base* allocate one, and the data would never
 * reach our bdev_io.
 */
static void
pt_read_get_buf_cb(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io, bool success)
{
	struct pt_io *io = (struct pt_io *)bdev_io->driver_ctx;

	if (!success) {
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_FAILED);
		return;
	}
	pt_submit_request(io->ch, bdev_io);
}

static void
pt_submit_request_entry(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io)
{
	struct pt_io *io = (struct pt_io *)bdev_io->driver_ctx;

	if (bdev_io->type == OSP_BDEV_IO_TYPE_READ && bdev_io->u.bdev.iovs[0].iov_base == NULL) {
		io->ch = ch;
		osp_bdev_io_get_buf(bdev_io, pt_read_get_buf_cb,
				    bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen);
		return;
	}
	pt_submit_request(ch, bdev_io);
}

/* We support exactly what the base supports. */
static bool
pt_io_type_supported(void *ctx, enum osp_bdev_io_type type)
{
	struct pt_bdev *pt = ctx;

	return osp_bdev_io_type_supported(pt->base, type);
}

static struct osp_io_channel *
pt_get_io_channel(void *ctx)
{
	return osp_get_io_channel(ctx);
}

/* A thread's first I/O to this passthru: get that thread's channel to the base. */
static int
pt_channel_create(void *io_device, void *ctx_buf)
{
	struct pt_bdev *pt = io_device;
	struct pt_channel *pch = ctx_buf;

	pch->base_ch = osp_bdev_get_io_channel(pt->base_desc);
	return pch->base_ch != NULL ? 0 : -ENOMEM;
}

static void
pt_channel_destroy(void *io_device, void *ctx_buf)
{
	struct pt_channel *pch = ctx_buf;

	osp_put_io_channel(pch->base_ch);
}

/* ---- configuration output ---- */

static void
pt_write_params(cJSON *array, const char *name, const char *base_name,
		const struct osp_uuid *uuid)
{
	cJSON *params = cJSON_CreateObject();
	char str[OSP_UUID_STRING_LEN];

	if (params == NULL) {
		return;
	}
	cJSON_AddStringToObject(params, "name", name);
	cJSON_AddStringToObject(params, "base_bdev_name", base_name);
	if (!osp_uuid_is_null(uuid)) {
		osp_uuid_fmt_lower(str, sizeof(str), uuid);
		cJSON_AddStringToObject(params, "uuid", str);
	}
	osp_json_add_rpc_call(array, "bdev_passthru_create", params);
}

static void
pt_write_config_json(struct osp_bdev *bdev, cJSON *array)
{
	struct pt_bdev *pt = bdev->ctxt;

	pt_write_params(array, bdev->name, pt->base->name, &bdev->uuid);
}

/* Passthrus still waiting for their base (built ones are written per bdev). */
static void
pt_config_json(cJSON *array)
{
	struct pt_config *cfg;

	TAILQ_FOREACH(cfg, &g_pt_configs, link) {
		if (cfg->pt == NULL) {
			pt_write_params(array, cfg->name, cfg->base_name, &cfg->uuid);
		}
	}
}

static void
pt_dump_info_json(void *ctx, cJSON *obj)
{
	struct pt_bdev *pt = ctx;
	cJSON *o = cJSON_AddObjectToObject(obj, "passthru");

	if (o != NULL) {
		cJSON_AddStringToObject(o, "name", pt->bdev.name);
		cJSON_AddStringToObject(o, "base_bdev_name", pt->base->name);
	}
}

/* ---- teardown ---- */

/* Last step, on the thread that opened the base. */
static void
pt_release_base(void *arg)
{
	struct pt_bdev *pt = arg;

	osp_bdev_module_release_bdev(pt->base);
	osp_bdev_close(pt->base_desc);
	osp_bdev_destruct_done(&pt->bdev, 0);
	free(pt->bdev.name);
	free(pt);
}

/* Every channel to us is gone, hence every base channel we held. */
static void
pt_io_device_unregistered(void *io_device)
{
	struct pt_bdev *pt = io_device;

	if (osp_get_thread() == pt->desc_thread) {
		pt_release_base(pt);
	} else if (osp_thread_send_msg(pt->desc_thread, pt_release_base, pt) != 0) {
		OSP_ERRLOG("%s: cannot reach the thread of its base descriptor\n", pt->bdev.name);
	}
}

/*
 * Called by the layer once nobody has us open. Finishing is asynchronous
 * (return 1, then osp_bdev_destruct_done()): channels to us may still be
 * on their way out, and the base must stay open until they are.
 */
static int
pt_destruct(void *ctx)
{
	struct pt_bdev *pt = ctx;

	/* Unregistered by the layer (shutdown) or by us: no second unregister on REMOVE. */
	pt->unregistering = true;
	if (pt->config != NULL) {
		pt->config->pt = NULL;
		pt->config = NULL;
	}
	osp_io_device_unregister(pt, pt_io_device_unregistered);
	return 1;
}

static void
pt_unregister(struct pt_bdev *pt, osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	int rc;

	if (pt->unregistering) {
		/* Already on its way out (hot remove raced with delete). */
		if (cb_fn != NULL) {
			cb_fn(cb_arg, 0);
		}
		return;
	}
	pt->unregistering = true;
	rc = osp_bdev_unregister(&pt->bdev, cb_fn, cb_arg);
	if (rc != 0 && cb_fn != NULL) {
		cb_fn(cb_arg, rc);
	}
}

/* Events on the base, on the thread that opened it. */
static void
pt_base_event_cb(enum osp_bdev_event_type type, struct osp_bdev *base, void *ctx)
{
	struct pt_bdev *pt = ctx;

	switch (type) {
	case OSP_BDEV_EVENT_REMOVE:
		OSP_NOTICELOG("%s: base bdev %s is going away, removing %s\n", pt->bdev.name,
			      base->name, pt->bdev.name);
		pt_unregister(pt, NULL, NULL);
		break;
	case OSP_BDEV_EVENT_RESIZE:
		/* Follow the base's size; our users get a RESIZE event in turn. */
		osp_bdev_notify_blockcnt_change(&pt->bdev, base->blockcnt);
		break;
	default:
		break;
	}
}

/* ---- building ---- */

static const struct osp_bdev_fn_table g_pt_fn_table = {
	.destruct = pt_destruct,
	.submit_request = pt_submit_request_entry,
	.io_type_supported = pt_io_type_supported,
	.get_io_channel = pt_get_io_channel,
	.dump_info_json = pt_dump_info_json,
	.write_config_json = pt_write_config_json,
};

/*
 * Build cfg's bdev if its base exists. Returns 0 when built, -ENODEV when
 * the base is not there (not an error: examine will build it later), or
 * another -errno.
 */
static int
pt_build(struct pt_config *cfg)
{
	struct pt_bdev *pt;
	struct osp_bdev *base;
	int rc;

	if (cfg->pt != NULL) {
		return 0;
	}
	pt = calloc(1, sizeof(*pt));
	if (pt == NULL) {
		return -ENOMEM;
	}
	pt->bdev.name = strdup(cfg->name);
	if (pt->bdev.name == NULL) {
		free(pt);
		return -ENOMEM;
	}
	/*
	 * Open the base for writing (we forward writes), with a callback for hot
	 * remove, and claim it: nobody else may write to it from now on.
	 */
	rc = osp_bdev_module_open_base(&pt->bdev, cfg->base_name, pt_base_event_cb, pt,
				       &g_pt_module, &pt->base_desc);
	if (rc != 0) {
		goto err_free;
	}
	pt->desc_thread = osp_get_thread();
	base = osp_bdev_desc_get_bdev(pt->base_desc);
	pt->base = base;

	/* Look exactly like the base, apart from name and uuid. */
	pt->bdev.product_name = "passthru";
	osp_bdev_copy_geometry(&pt->bdev, base);
	if (osp_uuid_is_null(&cfg->uuid)) {
		/* Pick one now and keep it, so a rebuild after hot remove keeps it too. */
		osp_uuid_generate(&cfg->uuid);
	}
	pt->bdev.uuid = cfg->uuid;
	pt->bdev.ctxt = pt;
	pt->bdev.module = &g_pt_module;
	pt->bdev.fn_table = &g_pt_fn_table;

	osp_io_device_register(pt, pt_channel_create, pt_channel_destroy,
			       sizeof(struct pt_channel), cfg->name);
	pt->config = cfg;
	cfg->pt = pt;
	rc = osp_bdev_register(&pt->bdev);
	if (rc != 0) {
		OSP_ERRLOG("%s: registering failed: %s\n", cfg->name, strerror(-rc));
		cfg->pt = NULL;
		/* No channel can exist yet: unregistering is immediate (from a message). */
		osp_io_device_unregister(pt, NULL);
		osp_bdev_module_release_bdev(base);
		goto err_close;
	}
	OSP_NOTICELOG("passthru %s created on %s\n", cfg->name, base->name);
	return 0;

err_close:
	osp_bdev_close(pt->base_desc);
err_free:
	free(pt->bdev.name);
	free(pt);
	return rc;
}

static struct pt_config *
pt_config_find(const char *name)
{
	struct pt_config *cfg;

	TAILQ_FOREACH(cfg, &g_pt_configs, link) {
		if (strcmp(cfg->name, name) == 0) {
			return cfg;
		}
	}
	return NULL;
}

static void
pt_config_free(struct pt_config *cfg)
{
	free(cfg->name);
	free(cfg->base_name);
	free(cfg);
}

int
bdev_passthru_create(const char *name, const char *base_name, const struct osp_uuid *uuid)
{
	struct pt_config *cfg;
	int rc;

	if (name == NULL || name[0] == '\0' || base_name == NULL || base_name[0] == '\0') {
		return -EINVAL;
	}
	if (pt_config_find(name) != NULL || osp_bdev_get_by_name(name) != NULL) {
		return -EEXIST;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		return -ENOMEM;
	}
	cfg->name = strdup(name);
	cfg->base_name = strdup(base_name);
	if (cfg->name == NULL || cfg->base_name == NULL) {
		pt_config_free(cfg);
		return -ENOMEM;
	}
	if (uuid != NULL) {
		cfg->uuid = *uuid;
	}
	TAILQ_INSERT_TAIL(&g_pt_configs, cfg, link);

	rc = pt_build(cfg);
	if (rc == -ENODEV) {
		/* Like SPDK: not an error, the base may show up later. */
		OSP_NOTICELOG("passthru %s waits for its base bdev %s\n", name, base_name);
		return 0;
	}
	if (rc != 0) {
		TAILQ_REMOVE(&g_pt_configs, cfg, link);
		pt_config_free(cfg);
	}
	return rc;
}

int
bdev_passthru_delete(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	struct pt_config *cfg = pt_config_find(name);
	struct pt_bdev *pt;

	if (cfg == NULL) {
		return -ENODEV;
	}
	TAILQ_REMOVE(&g_pt_configs, cfg, link);
	pt = cfg->pt;
	pt_config_free(cfg);
	if (pt == NULL) {
		if (cb_fn != NULL) {
			cb_fn(cb_arg, 0);
		}
		return 0;
	}
	pt->config = NULL;
	pt_unregister(pt, cb_fn, cb_arg);
	return 0;
}

/* A new bdev appeared: is it the base of a passthru waiting for one? */
static void
pt_examine_config(struct osp_bdev *bdev)
{
	struct pt_config *cfg;
	int rc;

	TAILQ_FOREACH(cfg, &g_pt_configs, link) {
		if (cfg->pt == NULL && strcmp(cfg->base_name, bdev->name) == 0) {
			rc = pt_build(cfg);
			if (rc != 0) {
				OSP_ERRLOG("passthru %s on %s: %s\n", cfg->name, bdev->name,
					   strerror(-rc));
			}
		}
	}
	/* Always: the layer waits for every module's answer. */
	osp_bdev_module_examine_done(&g_pt_module);
}

/* ---- module ---- */

static int
pt_get_ctx_size(void)
{
	return sizeof(struct pt_io);
}

static int
pt_init(void)
{
	return 0;
}

/* Every bdev is gone by now; drop the configs. */
static void
pt_fini(void)
{
	struct pt_config *cfg;

	while ((cfg = TAILQ_FIRST(&g_pt_configs)) != NULL) {
		TAILQ_REMOVE(&g_pt_configs, cfg, link);
		pt_config_free(cfg);
	}
}
