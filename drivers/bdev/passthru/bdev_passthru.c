/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Passthru bdev: the smallest complete virtual bdev. Copy this file to start
 * a new module that sits on top of another bdev (a "base").
 *
 * What a virtual bdev has to get right, and where this file does it:
 *
 * The layer's virtual-bdev helper (osprey/bdev_module.h, lib/bdev/vbdev.c)
 * does the parts every such module shares; this file shows how to use it.
 *
 *  1. Configuration outlives the bdev.  `bdev_passthru_create` may name a
 *     base that does not exist yet (it appears later from the JSON config,
 *     an NVMe attach, ...). So the module keeps a list of *configs*
 *     (struct osp_vbdev_config in g_pt_list), and builds the bdev
 *     (struct pt_bdev) whenever the base is there: at create time
 *     (osp_vbdev_config_add), or in examine_config when the base is
 *     registered later (osp_vbdev_examine). A config only goes away with
 *     bdev_passthru_delete.
 *
 *  2. Owning the base.  Building (pt_build) opens a descriptor on the base
 *     (with an event callback, for hot remove) and *claims* it, so nobody
 *     else can write to it behind our back: osp_vbdev_base_open. Teardown
 *     releases the claim and closes the descriptor, on the thread that
 *     opened it, then calls our free (ops->free).
 *
 *  3. Channels.  The base (struct osp_vbdev_base in pt_bdev) is an io_device
 *     of its own. Its per-thread channel (struct osp_vbdev_channel) holds
 *     that thread's channel to the base, so submitting to the base needs no
 *     lookup and no lock.
 *
 *  4. The I/O path.  submit_request forwards each I/O type with the public
 *     bdev API on the base descriptor and the base channel; the base's
 *     completion completes ours with the same status
 *     (osp_vbdev_io_complete_from). Per-I/O state lives in
 *     bdev_io->driver_ctx (get_ctx_size), never in a malloc. A submit that
 *     returns -ENOMEM waits for a free bdev_io of the base and retries
 *     (osp_vbdev_submit_failed).
 *     (The layer's osp_bdev_io_resubmit_to() does this forwarding in one
 *     call, with an optional block offset; split, delay and error use it.
 *     It is spelled out here so that you can see what each type carries.)
 *
 *  5. Hot remove.  When the base goes away the layer calls the helper's event
 *     callback with REMOVE: it unregisters our bdev. The layer then tells our
 *     users, waits for them to close (their outstanding I/O still completes,
 *     the base completes what it was given), and calls destruct, where the
 *     helper lets go of the base. The config stays, so the passthru comes back if the
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
 * own, so a module's io_device (here the helper's struct osp_vbdev_base)
 * must have another address.
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

/*
 * A built passthru bdev: the base it owns (the helper's; also the io_device
 * of the per-thread base channels) and the bdev registered with the layer.
 */
struct pt_bdev {
	struct osp_vbdev_base base;	/* first: the helper's fn_table members find it at ctxt */
	struct osp_bdev bdev;		/* bdev.ctxt == this */
};

OSP_STATIC_ASSERT(offsetof(struct pt_bdev, base) == 0, "the helper finds its base at ctxt");

/* Per-I/O state, in bdev_io->driver_ctx. */
struct pt_io {
	/* For retrying after the base ran out of bdev_ios. */
	struct osp_bdev_io_wait_entry wait;
	struct osp_io_channel *ch;
};

static int pt_init(void);
static void pt_fini(void);
static int pt_get_ctx_size(void);
static void pt_examine_config(struct osp_bdev *bdev);
static void pt_config_json(cJSON *array);
static int pt_build(struct osp_vbdev_config *cfg, char *err, size_t errlen);
static void pt_config_free(struct osp_vbdev_config *cfg);
static void pt_write_config(struct osp_vbdev_config *cfg, cJSON *array);

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

/* Every bdev_passthru_create, built or waiting for its base. */
static struct osp_vbdev_list g_pt_list = OSP_VBDEV_LIST_INITIALIZER(g_pt_list, &g_pt_module,
		"passthru", pt_build, pt_config_free, pt_write_config);

/* ---- the I/O path ---- */

static void pt_submit_request(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io);

/*
 * The base finished: finish ours with the same outcome (the NVMe status and
 * cdw0 too), after giving the base's bdev_io back.
 */
static void
pt_base_io_done(struct osp_bdev_io *base_io, bool success, void *cb_arg)
{
	osp_vbdev_io_complete_from(cb_arg, base_io, success);
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
	struct osp_bdev_desc *desc = pt->base.desc;
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
	struct osp_vbdev_channel *pch = osp_io_channel_get_ctx(ch);
	struct pt_io *io = (struct pt_io *)bdev_io->driver_ctx;
	int rc;

	rc = pt_forward(pt, pch->base_ch, bdev_io);
	if (osp_likely(rc == 0)) {
		return;
	}
	/* -ENOMEM: the base's bdev_io pool is empty, retry when one is freed. */
	io->ch = ch;
	rc = osp_vbdev_submit_failed(&pt->base, pch->base_ch, bdev_io, rc, &io->wait, pt_resubmit);
	if (rc != OSP_BDEV_IO_STATUS_PENDING) {
		osp_bdev_io_complete(bdev_io, rc);
	}
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

	pt_write_params(array, bdev->name, pt->base.bdev->name, &bdev->uuid);
}

static void
pt_write_config(struct osp_vbdev_config *cfg, cJSON *array)
{
	pt_write_params(array, cfg->name, cfg->base_name, &cfg->uuid);
}

/* Passthrus still waiting for their base (built ones are written per bdev). */
static void
pt_config_json(cJSON *array)
{
	osp_vbdev_config_json(&g_pt_list, array);
}

static void
pt_dump_info_json(void *ctx, cJSON *obj)
{
	struct pt_bdev *pt = ctx;
	cJSON *o = cJSON_AddObjectToObject(obj, "passthru");

	if (o != NULL) {
		cJSON_AddStringToObject(o, "name", pt->bdev.name);
		cJSON_AddStringToObject(o, "base_bdev_name", pt->base.bdev->name);
	}
}

/* ---- teardown ---- */

/*
 * The layer calls destruct once nobody has us open; the helper finishes it
 * (osp_bdev_destruct_done()) once the channels to us are gone, since the
 * base must stay open until they are, and frees pt (its bdev's name and pt:
 * ops.free is NULL) on the thread that opened the base.
 */
static const struct osp_vbdev_base_ops g_pt_base_ops = {
	.channel_size = sizeof(struct osp_vbdev_channel),
	/* Follow the base's size; our users get a RESIZE event in turn. */
	.follow_resize = true,
};

/* ---- building ---- */

static const struct osp_bdev_fn_table g_pt_fn_table = {
	.destruct = osp_vbdev_destruct_one,
	.submit_request = pt_submit_request_entry,
	/* Exactly what the base supports. */
	.io_type_supported = osp_vbdev_io_type_supported,
	/* A thread's first I/O to this passthru gets that thread's channel to the base. */
	.get_io_channel = osp_vbdev_get_io_channel,
	.dump_info_json = pt_dump_info_json,
	.write_config_json = pt_write_config_json,
};

/*
 * Build cfg's bdev if its base exists. Returns 0 when built, -ENODEV when
 * the base is not there (not an error: examine will build it later), or
 * another -errno.
 */
static int
pt_build(struct osp_vbdev_config *cfg, char *err, size_t errlen)
{
	struct pt_bdev *pt;
	int rc;

	pt = calloc(1, sizeof(*pt));
	if (pt == NULL) {
		return -ENOMEM;
	}
	pt->bdev.product_name = "passthru";
	pt->bdev.ctxt = pt;
	pt->bdev.module = &g_pt_module;
	pt->bdev.fn_table = &g_pt_fn_table;
	/*
	 * Open the base for writing (we forward writes), with a callback for hot
	 * remove, claim it, and register a bdev that looks exactly like it,
	 * apart from name and uuid.
	 */
	rc = osp_vbdev_base_build_one(&pt->base, &g_pt_base_ops, cfg, &pt->bdev, err, errlen);
	if (rc != 0) {
		free(pt);
	}
	return rc;
}

static void
pt_config_free(struct osp_vbdev_config *cfg)
{
	free(cfg->name);
	free(cfg->base_name);
	free(cfg);
}

int
bdev_passthru_create(const char *name, const char *base_name, const struct osp_uuid *uuid)
{
	struct osp_vbdev_config *cfg;

	if (name == NULL || name[0] == '\0' || base_name == NULL || base_name[0] == '\0') {
		return -EINVAL;
	}
	if (osp_vbdev_config_find(&g_pt_list, name, false) != NULL ||
	    osp_bdev_get_by_name(name) != NULL) {
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
	return osp_vbdev_config_add(&g_pt_list, cfg, NULL, 0);
}

int
bdev_passthru_delete(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	struct osp_vbdev_config *cfg = osp_vbdev_config_find(&g_pt_list, name, false);

	if (cfg == NULL) {
		return -ENODEV;
	}
	osp_vbdev_config_delete(&g_pt_list, cfg, cb_fn, cb_arg);
	return 0;
}

/* A new bdev appeared: is it the base of a passthru waiting for one? */
static void
pt_examine_config(struct osp_bdev *bdev)
{
	osp_vbdev_examine(&g_pt_list, bdev);
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
	osp_vbdev_fini(&g_pt_list);
}
