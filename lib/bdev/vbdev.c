/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The scaffolding of virtual bdevs (passthru, delay, error, split): configs
 * that wait for their base, owning the base (open, claim, per-thread base
 * channels), hot-remove cascade and release on the descriptor's thread.
 * See "Virtual bdevs" in osprey/bdev_module.h and doc/bdev.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev_module.h"
#include "osprey/jsonrpc.h"
#include "osprey/log.h"
#include "osprey/thread.h"
#include "osprey/util.h"

const char *
osp_bdev_claimer_name(const char *bdev_name)
{
	struct osp_bdev *bdev = bdev_name != NULL ? osp_bdev_get_by_name(bdev_name) : NULL;
	struct osp_bdev_module *module = bdev != NULL ? osp_bdev_get_claim_module(bdev) : NULL;

	return module != NULL ? module->name : "unknown";
}

bool
osp_vbdev_rpc_check_create(struct osp_jsonrpc_request *request, const char *name,
			   const char *base_param, const char *base_name, const char *uuid_str,
			   struct osp_uuid *uuid)
{
	if (name != NULL && name[0] == '\0') {
		osp_jsonrpc_send_error_response(request, -EINVAL, "Invalid name: must not be empty");
		return false;
	}
	if (base_name[0] == '\0') {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
						    "Invalid %s: must not be empty", base_param);
		return false;
	}
	if (uuid_str != NULL && osp_uuid_parse(uuid, uuid_str) != 0) {
		osp_jsonrpc_send_error_response_fmt(request, -EINVAL,
						    "Invalid uuid '%s': expected the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
						    uuid_str);
		return false;
	}
	return true;
}

void
osp_vbdev_rpc_create_error(struct osp_jsonrpc_request *request, int rc, const char *what,
			   const char *name, const char *base_name)
{
	switch (rc) {
	case -EEXIST:
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "Cannot create %s: a bdev or %s named '%s' already exists",
						    what, what, name);
		break;
	case -EPERM:
		osp_jsonrpc_send_error_response_fmt(request, rc,
						    "Cannot create %s '%s': base bdev '%s' is already claimed by module '%s'",
						    what, name, base_name, osp_bdev_claimer_name(base_name));
		break;
	default:
		osp_jsonrpc_send_error_response_fmt(request, rc, "Cannot create %s '%s' on '%s': %s",
						    what, name, base_name, strerror(-rc));
		break;
	}
}

/* ---- the base ---- */

static int
vbdev_channel_create(void *io_device, void *ctx_buf)
{
	struct osp_vbdev_base *base = io_device;
	struct osp_vbdev_channel *ch = ctx_buf;
	int rc;

	ch->base_ch = osp_bdev_get_io_channel(base->desc);
	if (ch->base_ch == NULL) {
		return -ENOMEM;
	}
	if (base->ops->channel_create != NULL) {
		rc = base->ops->channel_create(base, ch);
		if (rc != 0) {
			osp_put_io_channel(ch->base_ch);
			return rc;
		}
	}
	return 0;
}

static void
vbdev_channel_destroy(void *io_device, void *ctx_buf)
{
	struct osp_vbdev_base *base = io_device;
	struct osp_vbdev_channel *ch = ctx_buf;

	if (base->ops->channel_destroy != NULL) {
		base->ops->channel_destroy(base, ch);
	}
	osp_put_io_channel(ch->base_ch);
}

static void
vbdev_detach_config(struct osp_vbdev_base *base)
{
	if (base->config != NULL) {
		base->config->base = NULL;
		base->config = NULL;
	}
}

/* Hot remove and resize of the base, on the thread that opened it. */
static void
vbdev_base_event_cb(enum osp_bdev_event_type type, struct osp_bdev *bdev, void *ctx)
{
	struct osp_vbdev_base *base = ctx;

	switch (type) {
	case OSP_BDEV_EVENT_REMOVE:
		if (!base->unregistering) {
			OSP_NOTICELOG("base bdev %s is going away: removing its %u %s bdev(s)\n",
				      bdev->name, base->nregistered, base->module->name);
		}
		osp_vbdev_base_unregister(base, NULL, NULL);
		break;
	case OSP_BDEV_EVENT_RESIZE:
		/* Our users get a RESIZE event in turn. */
		if (base->ops->follow_resize && base->nbdevs == 1 && base->bdevs[0] != NULL) {
			osp_bdev_notify_blockcnt_change(base->bdevs[0], bdev->blockcnt);
		}
		break;
	default:
		break;
	}
}

int
osp_vbdev_base_open(struct osp_vbdev_base *base, const struct osp_vbdev_base_ops *ops,
		    struct osp_bdev_module *module, struct osp_vbdev_config *cfg,
		    const char *base_name, const char *io_name, char *err, size_t errlen)
{
	int rc;

	base->ops = ops;
	base->module = module;
	/* For writing (we forward writes), with a callback for hot remove. */
	rc = osp_bdev_open_ext(base_name, true, vbdev_base_event_cb, base, &base->desc);
	if (rc != 0) {
		if (rc == -EPERM) {
			/* A claimed bdev cannot be opened for writing. */
			osp_seterr(err, errlen, "base bdev '%s' is already claimed by module '%s'",
				  base_name, osp_bdev_claimer_name(base_name));
		} else if (rc != -ENODEV) {
			osp_seterr(err, errlen, "cannot open base bdev '%s': %s", base_name,
				  strerror(-rc));
		}
		return rc;
	}
	base->bdev = osp_bdev_desc_get_bdev(base->desc);
	/* Nobody else may write to it from now on. */
	rc = osp_bdev_module_claim_bdev(base->bdev, base->desc, module);
	if (rc != 0) {
		osp_seterr(err, errlen, "base bdev '%s' is already claimed by module '%s'",
			  base_name, osp_bdev_claimer_name(base_name));
		osp_bdev_close(base->desc);
		base->desc = NULL;
		return rc;
	}
	base->thread = osp_get_thread();
	/* base, not a bdev: the layer registers each struct osp_bdev as an io_device. */
	osp_io_device_register(base, vbdev_channel_create, vbdev_channel_destroy,
			       ops->channel_size, io_name);
	base->io_device = true;
	if (cfg != NULL) {
		base->config = cfg;
		cfg->base = base;
	}
	return 0;
}

void
osp_vbdev_base_close(struct osp_vbdev_base *base)
{
	vbdev_detach_config(base);
	if (base->io_device) {
		/* No bdev was registered, so no channel exists: it is gone at once. */
		osp_io_device_unregister(base, NULL);
		base->io_device = false;
	}
	if (base->desc != NULL) {
		osp_bdev_module_release_bdev(base->bdev);
		osp_bdev_close(base->desc);
		base->desc = NULL;
	}
	free(base->bdevs);
	base->bdevs = NULL;
}

int
osp_vbdev_base_add_bdev(struct osp_vbdev_base *base, struct osp_bdev *bdev)
{
	struct osp_bdev **bdevs;
	int rc;

	bdevs = realloc(base->bdevs, (base->nbdevs + 1) * sizeof(*bdevs));
	if (bdevs == NULL) {
		return -ENOMEM;
	}
	base->bdevs = bdevs;
	rc = osp_bdev_register(bdev);
	if (rc != 0) {
		OSP_ERRLOG("%s: registering failed: %s\n", bdev->name, strerror(-rc));
		return rc;
	}
	base->bdevs[base->nbdevs++] = bdev;
	base->nregistered++;
	return 0;
}

int
osp_vbdev_base_build_one(struct osp_vbdev_base *base, const struct osp_vbdev_base_ops *ops,
			 struct osp_vbdev_config *cfg, struct osp_bdev *bdev, char *err,
			 size_t errlen)
{
	int rc;

	bdev->name = strdup(cfg->name);
	if (bdev->name == NULL) {
		return -ENOMEM;
	}
	rc = osp_vbdev_base_open(base, ops, bdev->module, cfg, cfg->base_name, cfg->name, err,
				 errlen);
	if (rc != 0) {
		goto err_free;
	}
	/* Look exactly like the base, apart from name and uuid. */
	osp_bdev_copy_geometry(bdev, base->bdev);
	if (osp_uuid_is_null(&cfg->uuid)) {
		/* Pick one now and keep it, so a rebuild after hot remove keeps it too. */
		osp_uuid_generate(&cfg->uuid);
	}
	bdev->uuid = cfg->uuid;
	rc = osp_vbdev_base_add_bdev(base, bdev);
	if (rc != 0) {
		osp_vbdev_base_close(base);
		goto err_free;
	}
	OSP_NOTICELOG("%s bdev %s created on %s\n", bdev->module->name, bdev->name,
		      base->bdev->name);
	return 0;
err_free:
	free(bdev->name);
	bdev->name = NULL;
	return rc;
}

/* Last step, on the thread that opened the base. */
static void
vbdev_base_release(void *arg)
{
	struct osp_vbdev_base *base = arg;
	osp_bdev_unregister_cb cb = base->done_cb;
	void *cb_arg = base->done_cb_arg;
	struct osp_bdev *last = base->last;

	osp_bdev_module_release_bdev(base->bdev);
	osp_bdev_close(base->desc);
	base->desc = NULL;
	free(base->bdevs);
	base->bdevs = NULL;
	if (last != NULL) {
		osp_bdev_destruct_done(last, 0);
	}
	if (base->ops->free != NULL) {
		base->ops->free(base);
	} else {
		/* osp_vbdev_base_build_one's: one bdev whose name it allocated. */
		free(last != NULL ? last->name : NULL);
		free(base);
	}
	if (cb != NULL) {
		cb(cb_arg, 0);
	}
}

/* Every channel to us is gone, hence every base channel we held. */
static void
vbdev_io_device_unregistered(void *io_device)
{
	struct osp_vbdev_base *base = io_device;

	if (osp_get_thread() == base->thread) {
		vbdev_base_release(base);
	} else if (osp_thread_send_msg(base->thread, vbdev_base_release, base) != 0) {
		OSP_ERRLOG("%s bdev on %s: cannot reach the thread of its base descriptor\n",
			   base->module->name, base->bdev->name);
	}
}

/* All bdevs are gone: let go of the base once the channels are too. */
static void
vbdev_base_teardown(struct osp_vbdev_base *base)
{
	/* Whoever unregistered the bdevs, a REMOVE arriving now must not start again. */
	__atomic_store_n(&base->unregistering, true, __ATOMIC_RELEASE);
	vbdev_detach_config(base);
	if (!base->io_device) {
		return;
	}
	base->io_device = false;
	osp_io_device_unregister(base, vbdev_io_device_unregistered);
}

int
osp_vbdev_base_destruct(struct osp_vbdev_base *base, struct osp_bdev *bdev)
{
	uint32_t i;

	for (i = 0; i < base->nbdevs; i++) {
		if (base->bdevs[i] == bdev) {
			base->bdevs[i] = NULL;
		}
	}
	if (--base->nregistered > 0) {
		/* Its memory belongs to the module's object, which lives on. */
		return 0;
	}
	/*
	 * The last one: its destruct finishes once the base is released, so that
	 * whoever waits for it (delete, shutdown) finds the base free again.
	 */
	base->last = bdev;
	vbdev_base_teardown(base);
	return 1;
}

void
osp_vbdev_base_quiesced(struct osp_vbdev_base *base)
{
	uint32_t i, n = base->nbdevs;

	if (base->nregistered == 0) {
		vbdev_base_teardown(base);
		return;
	}
	/*
	 * base outlives the loop even if the last destruct runs inside it: the
	 * io_device's unregister callback always comes from a message.
	 */
	for (i = 0; i < n; i++) {
		/*
		 * -EBUSY: the layer removes it already (shutdown, bdev_delete): its
		 * destruct comes all the same, and whoever waits on base with it.
		 */
		if (base->bdevs[i] != NULL) {
			(void)osp_bdev_unregister(base->bdevs[i], NULL, NULL);
		}
	}
}

void
osp_vbdev_base_unregister(struct osp_vbdev_base *base, osp_bdev_unregister_cb cb_fn,
			  void *cb_arg)
{
	if (cb_fn != NULL) {
		if (base->done_cb != NULL) {
			/* Someone already waits for this removal: answer at once. */
			cb_fn(cb_arg, 0);
		} else {
			base->done_cb = cb_fn;
			base->done_cb_arg = cb_arg;
		}
	}
	if (base->unregistering) {
		/* Already on its way out (hot remove raced with delete, or shutdown). */
		return;
	}
	__atomic_store_n(&base->unregistering, true, __ATOMIC_RELEASE);
	if (base->ops->quiesce != NULL) {
		base->ops->quiesce(base);
		return;
	}
	osp_vbdev_base_quiesced(base);
}

struct osp_io_channel *
osp_vbdev_base_get_io_channel(struct osp_vbdev_base *base)
{
	return osp_get_io_channel(base);
}

int
osp_vbdev_destruct_one(void *ctx)
{
	struct osp_vbdev_base *base = ctx;
	uint32_t i;

	for (i = 0; i < base->nbdevs; i++) {
		if (base->bdevs[i] != NULL) {
			return osp_vbdev_base_destruct(base, base->bdevs[i]);
		}
	}
	return 0;
}

struct osp_io_channel *
osp_vbdev_get_io_channel(void *ctx)
{
	return osp_get_io_channel(ctx);
}

bool
osp_vbdev_io_type_supported(void *ctx, enum osp_bdev_io_type type)
{
	struct osp_vbdev_base *base = ctx;

	/* We support exactly what the base supports. */
	return osp_bdev_io_type_supported(base->bdev, type);
}

/* ---- the I/O path ---- */

int
osp_vbdev_submit_failed(struct osp_vbdev_base *base, struct osp_io_channel *base_ch,
			struct osp_bdev_io *bdev_io, int rc, struct osp_bdev_io_wait_entry *wait,
			osp_bdev_io_wait_cb retry_fn)
{
	if (rc != -ENOMEM) {
		/* -ENODEV (base being removed), -EINVAL...: this I/O fails, others go on. */
		return OSP_BDEV_IO_STATUS_FAILED;
	}
	wait->bdev = base->bdev;
	wait->cb_fn = retry_fn;
	wait->cb_arg = bdev_io;
	if (osp_bdev_queue_io_wait(base->bdev, base_ch, wait) == 0) {
		return OSP_BDEV_IO_STATUS_PENDING;
	}
	/* Cannot wait there: let our own layer queue and retry it. */
	return OSP_BDEV_IO_STATUS_NOMEM;
}

void
osp_vbdev_io_complete_from(struct osp_bdev_io *bdev_io, struct osp_bdev_io *base_io,
			   bool success)
{
	int status = osp_bdev_io_get_status(base_io);
	uint32_t cdw0 = 0;
	int sct = 0, sc = 0;

	if (bdev_io->type == OSP_BDEV_IO_TYPE_NVME_ADMIN ||
	    bdev_io->type == OSP_BDEV_IO_TYPE_NVME_IO ||
	    status == OSP_BDEV_IO_STATUS_NVME_ERROR) {
		/* Keep the NVMe status and cdw0: NVMe passthru users read them. */
		osp_bdev_io_get_nvme_status(base_io, &cdw0, &sct, &sc);
		osp_bdev_free_io(base_io);
		osp_bdev_io_complete_nvme_status(bdev_io, cdw0, sct, sc);
		return;
	}
	osp_bdev_free_io(base_io);
	if (success) {
		osp_bdev_io_complete(bdev_io, OSP_BDEV_IO_STATUS_SUCCESS);
	} else {
		/* MISCOMPARE (compare), ABORTED (reset)... pass through as they are. */
		osp_bdev_io_complete(bdev_io, status < OSP_BDEV_IO_STATUS_PENDING ? status :
				     OSP_BDEV_IO_STATUS_FAILED);
	}
}

/* ---- configs ---- */

struct osp_vbdev_config *
osp_vbdev_config_find(struct osp_vbdev_list *list, const char *name, bool by_base)
{
	struct osp_vbdev_config *cfg;
	const char *cfg_name;

	if (name == NULL) {
		return NULL;
	}
	TAILQ_FOREACH(cfg, &list->configs, link) {
		cfg_name = by_base ? cfg->base_name : cfg->name;
		if (cfg_name != NULL && strcmp(cfg_name, name) == 0) {
			return cfg;
		}
	}
	return NULL;
}

/* Build cfg; on failure it is waiting again (a partial build is being undone). */
static int
vbdev_config_build(struct osp_vbdev_list *list, struct osp_vbdev_config *cfg, char *err,
		   size_t errlen)
{
	int rc;

	if (cfg->base != NULL) {
		return 0;
	}
	osp_seterr(err, errlen, "%s", "");
	rc = list->build(cfg, err, errlen);
	if (rc != 0 && cfg->base != NULL) {
		cfg->base->config = NULL;
		cfg->base = NULL;
	}
	return rc;
}

int
osp_vbdev_config_add(struct osp_vbdev_list *list, struct osp_vbdev_config *cfg, char *err,
		     size_t errlen)
{
	int rc;

	TAILQ_INSERT_TAIL(&list->configs, cfg, link);
	rc = vbdev_config_build(list, cfg, err, errlen);
	if (rc == -ENODEV) {
		/* Like SPDK: not an error, the base may show up later. */
		OSP_NOTICELOG("%s%s%s waits for its base bdev %s\n", list->what,
			      cfg->name != NULL ? " " : "", cfg->name != NULL ? cfg->name : "",
			      cfg->base_name);
		return 0;
	}
	if (rc != 0) {
		TAILQ_REMOVE(&list->configs, cfg, link);
		list->config_free(cfg);
	}
	return rc;
}

void
osp_vbdev_config_delete(struct osp_vbdev_list *list, struct osp_vbdev_config *cfg,
			osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	struct osp_vbdev_base *base = cfg->base;

	TAILQ_REMOVE(&list->configs, cfg, link);
	if (base != NULL) {
		base->config = NULL;
		cfg->base = NULL;
	}
	list->config_free(cfg);
	if (base == NULL) {
		if (cb_fn != NULL) {
			cb_fn(cb_arg, 0);
		}
		return;
	}
	osp_vbdev_base_unregister(base, cb_fn, cb_arg);
}

void
osp_vbdev_examine(struct osp_vbdev_list *list, struct osp_bdev *bdev)
{
	struct osp_vbdev_config *cfg;
	char err[256];
	int rc;

	TAILQ_FOREACH(cfg, &list->configs, link) {
		if (cfg->base == NULL && strcmp(cfg->base_name, bdev->name) == 0) {
			rc = vbdev_config_build(list, cfg, err, sizeof(err));
			if (rc != 0) {
				OSP_ERRLOG("%s%s%s on %s: %s\n", list->what,
					   cfg->name != NULL ? " " : "",
					   cfg->name != NULL ? cfg->name : "", bdev->name,
					   err[0] != '\0' ? err : strerror(-rc));
			}
		}
	}
	/* Always: the layer waits for every module's answer. */
	osp_bdev_module_examine_done(list->module);
}

void
osp_vbdev_config_json(struct osp_vbdev_list *list, cJSON *array)
{
	struct osp_vbdev_config *cfg;

	TAILQ_FOREACH(cfg, &list->configs, link) {
		if (cfg->base == NULL && list->write_config != NULL) {
			list->write_config(cfg, array);
		}
	}
}

void
osp_vbdev_fini(struct osp_vbdev_list *list)
{
	struct osp_vbdev_config *cfg;

	while ((cfg = TAILQ_FIRST(&list->configs)) != NULL) {
		TAILQ_REMOVE(&list->configs, cfg, link);
		list->config_free(cfg);
	}
}
