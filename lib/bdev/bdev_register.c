/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The life cycle of bdevs: the module list, lookup by name or alias,
 * registration (each bdev an io_device), examine, descriptors (open, close,
 * events), claims and unregistration (descriptors closed, channels gone,
 * destruct). Runs on the app thread except where said otherwise;
 * g_bdev.mutex guards the bdev lists.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "osprey/bdev.h"
#include "osprey/bdev_module.h"
#include "osprey/env.h"
#include "osprey/event.h"
#include "osprey/iobuf.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "bdev_internal.h"

static void bdev_unregister_finish(void *ctx);
static void bdev_examine_done_one(void);

/* ---- modules ---- */

void
osp_bdev_module_list_add(struct osp_bdev_module *module)
{
	if (module == NULL || module->name == NULL) {
		return;
	}
	if (osp_bdev_module_list_find(module->name) != NULL) {
		OSP_ERRLOG("bdev module %s registered twice\n", module->name);
		return;
	}
	module->internal.action_in_progress = 0;
	TAILQ_INSERT_TAIL(&g_bdev.modules, module, internal.link);
}

struct osp_bdev_module *
osp_bdev_module_list_find(const char *name)
{
	struct osp_bdev_module *m;

	TAILQ_FOREACH(m, &g_bdev.modules, internal.link) {
		if (name != NULL && strcmp(m->name, name) == 0) {
			return m;
		}
	}
	return NULL;
}

/* ---- lookup ---- */

static bool
bdev_name_matches(struct osp_bdev *bdev, const char *name)
{
	struct osp_bdev_alias *a;

	if (strcmp(bdev->name, name) == 0 || strcmp(bdev->internal->uuid_str, name) == 0) {
		return true;
	}
	TAILQ_FOREACH(a, &bdev->aliases, link) {
		if (strcmp(a->alias, name) == 0) {
			return true;
		}
	}
	return false;
}

/* With g_bdev.mutex held. */
static struct osp_bdev *
bdev_find_locked(const char *name)
{
	struct osp_bdev_internal *in;

	if (name == NULL) {
		return NULL;
	}
	TAILQ_FOREACH(in, &g_bdev.bdevs, link) {
		if (bdev_name_matches(in->bdev, name)) {
			return in->bdev;
		}
	}
	return NULL;
}

struct osp_bdev *
osp_bdev_get_by_name(const char *bdev_name)
{
	struct osp_bdev *bdev;

	pthread_mutex_lock(&g_bdev.mutex);
	bdev = bdev_find_locked(bdev_name);
	pthread_mutex_unlock(&g_bdev.mutex);
	return bdev;
}

struct osp_bdev *
osp_bdev_first(void)
{
	struct osp_bdev_internal *in;

	pthread_mutex_lock(&g_bdev.mutex);
	in = TAILQ_FIRST(&g_bdev.bdevs);
	pthread_mutex_unlock(&g_bdev.mutex);
	return in != NULL ? in->bdev : NULL;
}

struct osp_bdev *
osp_bdev_next(struct osp_bdev *prev)
{
	struct osp_bdev_internal *in;

	if (prev == NULL || prev->internal == NULL) {
		return NULL;
	}
	pthread_mutex_lock(&g_bdev.mutex);
	in = prev->internal->status == BDEV_STATUS_READY ? TAILQ_NEXT(prev->internal, link) : NULL;
	pthread_mutex_unlock(&g_bdev.mutex);
	return in != NULL ? in->bdev : NULL;
}

/* ---- registration ---- */

static void bdev_examine_msg(void *ctx);

static bool
bdev_name_taken_locked(const char *name)
{
	return bdev_find_locked(name) != NULL;
}

int
osp_bdev_name_check(const char *name, char *err, size_t errlen)
{
	size_t len, i;

	if (name == NULL || name[0] == '\0') {
		osp_seterr(err, errlen, "bdev name must not be empty");
		return -EINVAL;
	}
	len = strnlen(name, OSP_BDEV_MAX_NAME_LEN + 1);
	if (len > OSP_BDEV_MAX_NAME_LEN) {
		osp_seterr(err, errlen, "bdev name is %zu bytes long, the limit is %d",
			   strlen(name), OSP_BDEV_MAX_NAME_LEN);
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		/* Names end up in logs, JSON answers and config files. */
		if (c < 0x20 || c == 0x7f) {
			osp_seterr(err, errlen, "bdev name contains a control character (byte 0x%02x "
				   "at offset %zu)", c, i);
			return -EINVAL;
		}
	}
	return 0;
}

static int
bdev_validate(struct osp_bdev *bdev)
{
	char err[128];

	if (osp_bdev_name_check(bdev->name, err, sizeof(err)) != 0) {
		OSP_ERRLOG("cannot register bdev: %s\n", err);
		return -EINVAL;
	}
	if (bdev->module == NULL || bdev->fn_table == NULL ||
	    bdev->fn_table->submit_request == NULL || bdev->fn_table->destruct == NULL ||
	    bdev->fn_table->io_type_supported == NULL || bdev->fn_table->get_io_channel == NULL) {
		OSP_ERRLOG("bdev %s: module and fn_table (destruct, submit_request, "
			   "io_type_supported, get_io_channel) are required\n", bdev->name);
		return -EINVAL;
	}
	if (bdev->blocklen == 0 || bdev->blocklen % 512 != 0 ||
	    (!osp_is_pow2_64(bdev->blocklen) && !bdev->module->allow_non_pow2_blocklen)) {
		OSP_ERRLOG("bdev %s: block size %" PRIu32 " must be a power of two and a "
			   "multiple of 512\n", bdev->name, bdev->blocklen);
		return -EINVAL;
	}
	if (bdev->blockcnt == 0) {
		OSP_ERRLOG("bdev %s: block count must not be 0\n", bdev->name);
		return -EINVAL;
	}
	if (bdev->required_alignment > BDEV_MAX_REQUIRED_ALIGNMENT) {
		OSP_ERRLOG("bdev %s: required alignment 2^%u is more than the layer's buffers "
			   "provide (2^%u)\n", bdev->name, bdev->required_alignment,
			   BDEV_MAX_REQUIRED_ALIGNMENT);
		return -EINVAL;
	}
	return 0;
}

int
osp_bdev_register(struct osp_bdev *bdev)
{
	struct osp_bdev_internal *in;
	struct osp_bdev_alias *a;
	char uuid[OSP_UUID_STRING_LEN];
	int rc, t;

	if (bdev == NULL) {
		return -EINVAL;
	}
	rc = bdev_validate(bdev);
	if (rc != 0) {
		return rc;
	}
	if (bdev->aliases.tqh_last == NULL) {
		TAILQ_INIT(&bdev->aliases);
	}
	if (osp_uuid_is_null(&bdev->uuid)) {
		osp_uuid_generate(&bdev->uuid);
	}
	osp_uuid_fmt_lower(uuid, sizeof(uuid), &bdev->uuid);
	if (bdev->write_unit_size == 0) {
		bdev->write_unit_size = 1;
	}

	in = calloc(1, sizeof(*in));
	if (in == NULL) {
		return -ENOMEM;
	}
	in->bdev = bdev;
	pthread_mutex_init(&in->mutex, NULL);
	TAILQ_INIT(&in->open_descs);
	TAILQ_INIT(&in->locked_ranges);
	TAILQ_INIT(&in->pending_locks);
	TAILQ_INIT(&in->queued_resets);
	memcpy(in->uuid_str, uuid, sizeof(in->uuid_str));
	in->stat_closed.min_read_latency_ticks = UINT64_MAX;
	in->stat_closed.min_write_latency_ticks = UINT64_MAX;
	in->stat_closed.min_unmap_latency_ticks = UINT64_MAX;

	for (t = 1; t < OSP_BDEV_NUM_IO_TYPES; t++) {
		if (bdev->fn_table->io_type_supported(bdev->ctxt, (enum osp_bdev_io_type)t)) {
			in->supported_types |= 1u << t;
		}
	}
	/* What the module can take without the layer's help. */
	in->direct_types = in->supported_types & ((1u << OSP_BDEV_IO_TYPE_READ) |
			   (1u << OSP_BDEV_IO_TYPE_WRITE) | (1u << OSP_BDEV_IO_TYPE_UNMAP) |
			   (1u << OSP_BDEV_IO_TYPE_FLUSH) | (1u << OSP_BDEV_IO_TYPE_NVME_ADMIN) |
			   (1u << OSP_BDEV_IO_TYPE_NVME_IO) | (1u << OSP_BDEV_IO_TYPE_WRITE_ZEROES) |
			   (1u << OSP_BDEV_IO_TYPE_COMPARE) |
			   (1u << OSP_BDEV_IO_TYPE_COMPARE_AND_WRITE));
	if (bdev->max_rw_size != 0 || bdev->required_alignment != 0 ||
	    bdev->write_unit_size > 1 ||
	    (bdev->split_on_optimal_io_boundary && bdev->optimal_io_boundary != 0)) {
		in->ch_flags |= BDEV_CH_CHECK_IO;
	}

	pthread_mutex_lock(&g_bdev.mutex);
	rc = 0;
	if (bdev_name_taken_locked(bdev->name) || bdev_name_taken_locked(uuid)) {
		rc = -EEXIST;
	}
	TAILQ_FOREACH(a, &bdev->aliases, link) {
		if (bdev_name_taken_locked(a->alias) || strcmp(a->alias, bdev->name) == 0) {
			rc = -EEXIST;
		}
	}
	if (rc != 0) {
		pthread_mutex_unlock(&g_bdev.mutex);
		OSP_ERRLOG("bdev name %s (or one of its aliases or its UUID) already exists\n",
			   bdev->name);
		pthread_mutex_destroy(&in->mutex);
		free(in);
		return rc;
	}
	bdev->internal = in;
	TAILQ_INSERT_TAIL(&g_bdev.bdevs, in, link);
	/* Counted from now so that bdev_wait_for_examine waits for it. */
	g_bdev.examine_in_progress++;
	in->examine_msgs++;
	pthread_mutex_unlock(&g_bdev.mutex);

	osp_io_device_register(bdev, bdev_channel_create, bdev_channel_destroy,
			       sizeof(struct osp_bdev_channel), bdev->name);
	OSP_DEBUGLOG(bdev, "registered bdev %s (%" PRIu64 " blocks of %" PRIu32 ")\n",
		     bdev->name, bdev->blockcnt, bdev->blocklen);

	if (osp_thread_get_app_thread() == NULL ||
	    osp_thread_send_msg(osp_thread_get_app_thread(), bdev_examine_msg, in) != 0) {
		bdev_examine_msg(in);
	}
	return 0;
}

int
osp_bdev_alias_add(struct osp_bdev *bdev, const char *alias)
{
	struct osp_bdev_alias *a;

	if (bdev == NULL || osp_bdev_name_check(alias, NULL, 0) != 0) {
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL || (a->alias = strdup(alias)) == NULL) {
		free(a);
		return -ENOMEM;
	}
	if (bdev->aliases.tqh_last == NULL) {
		TAILQ_INIT(&bdev->aliases);
	}
	pthread_mutex_lock(&g_bdev.mutex);
	if (bdev_name_taken_locked(alias) || strcmp(bdev->name, alias) == 0) {
		pthread_mutex_unlock(&g_bdev.mutex);
		free(a->alias);
		free(a);
		return -EEXIST;
	}
	TAILQ_INSERT_TAIL(&bdev->aliases, a, link);
	pthread_mutex_unlock(&g_bdev.mutex);
	return 0;
}

int
osp_bdev_alias_del(struct osp_bdev *bdev, const char *alias)
{
	struct osp_bdev_alias *a;

	if (bdev == NULL || alias == NULL) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_bdev.mutex);
	TAILQ_FOREACH(a, &bdev->aliases, link) {
		if (strcmp(a->alias, alias) == 0) {
			TAILQ_REMOVE(&bdev->aliases, a, link);
			pthread_mutex_unlock(&g_bdev.mutex);
			free(a->alias);
			free(a);
			return 0;
		}
	}
	pthread_mutex_unlock(&g_bdev.mutex);
	return -ENOENT;
}

/* ---- examine ---- */

static bool
bdev_examine_allowed(struct osp_bdev *bdev)
{
	struct bdev_examine_allow *a;

	if (g_bdev.opts.bdev_auto_examine) {
		return true;
	}
	TAILQ_FOREACH(a, &g_bdev.examine_allow, link) {
		if (bdev_name_matches(bdev, a->name)) {
			return true;
		}
	}
	return false;
}

static void
bdev_examine_begin_one(void)
{
	pthread_mutex_lock(&g_bdev.mutex);
	g_bdev.examine_in_progress++;
	pthread_mutex_unlock(&g_bdev.mutex);
}

static void
bdev_examine(struct osp_bdev *bdev)
{
	struct osp_bdev_module *m, *claim;

	bdev->internal->examined = true;
	TAILQ_FOREACH(m, &g_bdev.modules, internal.link) {
		if (m->examine_config != NULL) {
			m->internal.action_in_progress++;
			bdev_examine_begin_one();
			m->examine_config(bdev);
		}
	}
	claim = osp_bdev_get_claim_module(bdev);
	TAILQ_FOREACH(m, &g_bdev.modules, internal.link) {
		if (m->examine_disk == NULL || (claim != NULL && claim != m)) {
			continue;
		}
		if (bdev->internal->status != BDEV_STATUS_READY) {
			break;
		}
		m->internal.action_in_progress++;
		bdev_examine_begin_one();
		m->examine_disk(bdev);
	}
}

static void bdev_internal_free(struct osp_bdev_internal *in);

/* Runs on the app thread for each new bdev. */
static void
bdev_examine_msg(void *ctx)
{
	struct osp_bdev_internal *in = ctx;
	bool gone;

	pthread_mutex_lock(&g_bdev.mutex);
	in->examine_msgs--;
	gone = in->destroyed;
	pthread_mutex_unlock(&g_bdev.mutex);
	if (gone) {
		/* Removed before it could be examined: the message held the last reference. */
		bdev_internal_free(in);
	} else if (in->status == BDEV_STATUS_READY && !in->examined &&
		   bdev_examine_allowed(in->bdev)) {
		bdev_examine(in->bdev);
	}
	bdev_examine_done_one();
}

static void
bdev_examine_done_one(void)
{
	struct bdev_examine_waiter *w;

	pthread_mutex_lock(&g_bdev.mutex);
	if (g_bdev.examine_in_progress == 0) {
		pthread_mutex_unlock(&g_bdev.mutex);
		OSP_ERRLOG("examine_done called more often than examine\n");
		return;
	}
	g_bdev.examine_in_progress--;
	while (g_bdev.examine_in_progress == 0 &&
	       (w = TAILQ_FIRST(&g_bdev.examine_waiters)) != NULL) {
		TAILQ_REMOVE(&g_bdev.examine_waiters, w, link);
		pthread_mutex_unlock(&g_bdev.mutex);
		w->cb(w->cb_arg);
		free(w);
		pthread_mutex_lock(&g_bdev.mutex);
	}
	pthread_mutex_unlock(&g_bdev.mutex);
}

void
osp_bdev_module_examine_done(struct osp_bdev_module *module)
{
	if (module != NULL && module->internal.action_in_progress > 0) {
		module->internal.action_in_progress--;
	}
	bdev_examine_done_one();
}

int
osp_bdev_wait_for_examine(void (*cb)(void *cb_arg), void *cb_arg)
{
	struct bdev_examine_waiter *w;

	if (cb == NULL) {
		return -EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return -ENOMEM;
	}
	w->cb = cb;
	w->cb_arg = cb_arg;
	pthread_mutex_lock(&g_bdev.mutex);
	if (g_bdev.examine_in_progress == 0) {
		pthread_mutex_unlock(&g_bdev.mutex);
		free(w);
		cb(cb_arg);
		return 0;
	}
	TAILQ_INSERT_TAIL(&g_bdev.examine_waiters, w, link);
	pthread_mutex_unlock(&g_bdev.mutex);
	return 0;
}

int
osp_bdev_examine(const char *bdev_name)
{
	struct bdev_examine_allow *a;
	struct osp_bdev *bdev;

	if (bdev_name == NULL) {
		return -EINVAL;
	}
	if (g_bdev.opts.bdev_auto_examine) {
		OSP_DEBUGLOG(bdev, "manual examine is not allowed while auto examine is on\n");
		return -EINVAL;
	}
	TAILQ_FOREACH(a, &g_bdev.examine_allow, link) {
		if (strcmp(a->name, bdev_name) == 0) {
			return -EEXIST;
		}
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL || (a->name = strdup(bdev_name)) == NULL) {
		free(a);
		return -ENOMEM;
	}
	TAILQ_INSERT_TAIL(&g_bdev.examine_allow, a, link);
	bdev = osp_bdev_get_by_name(bdev_name);
	if (bdev != NULL && !bdev->internal->examined) {
		bdev_examine_begin_one();
		bdev_examine(bdev);
		bdev_examine_done_one();
	}
	return 0;
}

/* ---- descriptors and events ---- */

struct bdev_event_msg {
	struct osp_bdev_desc *desc;
	enum osp_bdev_event_type type;
};

static void
bdev_desc_free(struct osp_bdev_desc *desc)
{
	free(desc);
}

static void
bdev_event_deliver(void *ctx)
{
	struct bdev_event_msg *ev = ctx;
	struct osp_bdev_desc *desc = ev->desc;
	struct osp_bdev_internal *in = desc->bdev->internal;
	bool closed, last;

	pthread_mutex_lock(&in->mutex);
	desc->refs--;
	closed = desc->closed;
	last = closed && desc->refs == 0;
	pthread_mutex_unlock(&in->mutex);
	if (!closed) {
		desc->event_cb(ev->type, desc->bdev, desc->event_ctx);
	} else if (last) {
		bdev_desc_free(desc);
	}
	free(ev);
}

/* With in->mutex held. */
static void
bdev_desc_send_event(struct osp_bdev_desc *desc, enum osp_bdev_event_type type)
{
	struct bdev_event_msg *ev = calloc(1, sizeof(*ev));

	if (ev == NULL) {
		OSP_ERRLOG("out of memory for an event of bdev %s\n", desc->bdev->name);
		return;
	}
	ev->desc = desc;
	ev->type = type;
	desc->refs++;
	if (osp_thread_send_msg(desc->thread, bdev_event_deliver, ev) != 0) {
		desc->refs--;
		free(ev);
		OSP_ERRLOG("cannot send an event of bdev %s\n", desc->bdev->name);
	}
}

int
osp_bdev_open_ext(const char *bdev_name, bool write, osp_bdev_event_cb_t event_cb,
		  void *event_ctx, struct osp_bdev_desc **_desc)
{
	struct osp_bdev_desc *desc;
	struct osp_bdev *bdev;
	struct osp_bdev_internal *in;

	if (_desc == NULL) {
		return -EINVAL;
	}
	*_desc = NULL;
	if (event_cb == NULL) {
		OSP_ERRLOG("open of bdev %s without an event callback\n",
			   bdev_name ? bdev_name : "(null)");
		return -EINVAL;
	}
	if (osp_get_thread() == NULL) {
		OSP_ERRLOG("osp_bdev_open_ext needs a current thread\n");
		return -EINVAL;
	}
	desc = calloc(1, sizeof(*desc));
	if (desc == NULL) {
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_bdev.mutex);
	bdev = bdev_find_locked(bdev_name);
	if (bdev == NULL) {
		pthread_mutex_unlock(&g_bdev.mutex);
		free(desc);
		OSP_DEBUGLOG(bdev, "no bdev named %s\n", bdev_name ? bdev_name : "(null)");
		return -ENODEV;
	}
	in = bdev->internal;
	pthread_mutex_lock(&in->mutex);
	if (in->status != BDEV_STATUS_READY) {
		pthread_mutex_unlock(&in->mutex);
		pthread_mutex_unlock(&g_bdev.mutex);
		free(desc);
		return -ENODEV;
	}
	if (write && in->claim_module != NULL) {
		pthread_mutex_unlock(&in->mutex);
		pthread_mutex_unlock(&g_bdev.mutex);
		free(desc);
		OSP_ERRLOG("bdev %s is claimed by module %s: it cannot be opened for writing\n",
			   bdev->name, in->claim_module->name);
		return -EPERM;
	}
	desc->bdev = bdev;
	desc->write = write;
	desc->event_cb = event_cb;
	desc->event_ctx = event_ctx;
	desc->thread = osp_get_thread();
	TAILQ_INSERT_TAIL(&in->open_descs, desc, link);
	pthread_mutex_unlock(&in->mutex);
	pthread_mutex_unlock(&g_bdev.mutex);
	*_desc = desc;
	return 0;
}

void
osp_bdev_close(struct osp_bdev_desc *desc)
{
	struct osp_bdev_internal *in;
	bool last, free_now;

	if (desc == NULL) {
		return;
	}
	in = desc->bdev->internal;
	if (osp_get_thread() != desc->thread) {
		OSP_ERRLOG("descriptor of bdev %s closed on thread %s, opened on %s\n",
			   desc->bdev->name, osp_thread_get_name(osp_get_thread()),
			   osp_thread_get_name(desc->thread));
	}
	pthread_mutex_lock(&in->mutex);
	TAILQ_REMOVE(&in->open_descs, desc, link);
	desc->closed = true;
	if (in->claim_desc == desc) {
		/* A module's claim goes with the descriptor it was taken with. */
		in->claim_desc = NULL;
		in->claim_module = NULL;
	}
	last = in->status == BDEV_STATUS_REMOVING && TAILQ_EMPTY(&in->open_descs);
	free_now = desc->refs == 0;
	pthread_mutex_unlock(&in->mutex);
	if (free_now) {
		bdev_desc_free(desc);
	}
	if (last) {
		if (osp_thread_send_msg(in->unregister_thread, bdev_unregister_finish, in) != 0) {
			OSP_ERRLOG("cannot finish the removal of bdev %s\n", in->bdev->name);
		}
	}
}

struct osp_bdev *
osp_bdev_desc_get_bdev(struct osp_bdev_desc *desc)
{
	return desc != NULL ? desc->bdev : NULL;
}

struct osp_bdev_desc *
bdev_desc_first(struct osp_bdev *bdev)
{
	return TAILQ_FIRST(&bdev->internal->open_descs);
}

struct osp_io_channel *
osp_bdev_get_io_channel(struct osp_bdev_desc *desc)
{
	if (desc == NULL) {
		return NULL;
	}
	return osp_get_io_channel(desc->bdev);
}

int
osp_bdev_notify_blockcnt_change(struct osp_bdev *bdev, uint64_t size)
{
	struct osp_bdev_internal *in;
	struct osp_bdev_desc *desc;

	if (bdev == NULL || bdev->internal == NULL || size == 0) {
		return -EINVAL;
	}
	in = bdev->internal;
	pthread_mutex_lock(&in->mutex);
	if (size < bdev->blockcnt && in->claim_module != NULL) {
		pthread_mutex_unlock(&in->mutex);
		return -EBUSY;
	}
	if (size == bdev->blockcnt) {
		pthread_mutex_unlock(&in->mutex);
		return 0;
	}
	bdev->blockcnt = size;
	TAILQ_FOREACH(desc, &in->open_descs, link) {
		bdev_desc_send_event(desc, OSP_BDEV_EVENT_RESIZE);
	}
	pthread_mutex_unlock(&in->mutex);
	return 0;
}

/* ---- claims ---- */

int
osp_bdev_module_claim_bdev(struct osp_bdev *bdev, struct osp_bdev_desc *desc,
			   struct osp_bdev_module *module)
{
	struct osp_bdev_internal *in;
	struct osp_bdev_desc *d;

	if (bdev == NULL || module == NULL) {
		return -EINVAL;
	}
	in = bdev->internal;
	pthread_mutex_lock(&in->mutex);
	if (in->claim_module != NULL) {
		pthread_mutex_unlock(&in->mutex);
		OSP_ERRLOG("bdev %s already claimed by module %s\n", bdev->name,
			   in->claim_module->name);
		return -EPERM;
	}
	TAILQ_FOREACH(d, &in->open_descs, link) {
		if (d != desc && d->write) {
			pthread_mutex_unlock(&in->mutex);
			OSP_ERRLOG("bdev %s is open for writing elsewhere: module %s cannot claim "
				   "it\n", bdev->name, module->name);
			return -EPERM;
		}
	}
	if (desc != NULL) {
		desc->write = true;
	}
	in->claim_module = module;
	in->claim_desc = desc;
	pthread_mutex_unlock(&in->mutex);
	return 0;
}

void
osp_bdev_module_release_bdev(struct osp_bdev *bdev)
{
	if (bdev == NULL || bdev->internal == NULL) {
		return;
	}
	pthread_mutex_lock(&bdev->internal->mutex);
	bdev->internal->claim_module = NULL;
	bdev->internal->claim_desc = NULL;
	pthread_mutex_unlock(&bdev->internal->mutex);
}

struct osp_bdev_module *
osp_bdev_get_claim_module(struct osp_bdev *bdev)
{
	struct osp_bdev_module *m;

	if (bdev == NULL || bdev->internal == NULL) {
		return NULL;
	}
	pthread_mutex_lock(&bdev->internal->mutex);
	m = bdev->internal->claim_module;
	pthread_mutex_unlock(&bdev->internal->mutex);
	return m;
}

/* ---- unregistration ---- */

static void
bdev_internal_free(struct osp_bdev_internal *in)
{
	pthread_mutex_destroy(&in->mutex);
	free(in);
}

static void
bdev_unregister_complete(struct osp_bdev_internal *in, int rc)
{
	osp_bdev_unregister_cb cb = in->unregister_cb;
	void *cb_arg = in->unregister_ctx;
	bool keep;

	pthread_mutex_lock(&g_bdev.mutex);
	TAILQ_REMOVE(&g_bdev.removing, in, link);
	/* An examine message still on its way frees it. */
	in->destroyed = true;
	keep = in->examine_msgs > 0;
	pthread_mutex_unlock(&g_bdev.mutex);
	if (!keep) {
		bdev_internal_free(in);
	}
	if (cb != NULL) {
		cb(cb_arg, rc);
	}
	if (g_bdev.fini_waiting_removal) {
		g_bdev.fini_waiting_removal = false;
		bdev_finish_next(NULL);
	}
}

struct bdev_destruct_done_ctx {
	struct osp_bdev_internal *in;
	int rc;
};

static void
bdev_destruct_done_msg(void *ctx)
{
	struct bdev_destruct_done_ctx *d = ctx;

	bdev_unregister_complete(d->in, d->rc);
	free(d);
}

void
osp_bdev_destruct_done(struct osp_bdev *bdev, int bdeverrno)
{
	struct osp_bdev_internal *in = bdev->internal;
	struct bdev_destruct_done_ctx *d;

	if (osp_get_thread() == in->unregister_thread) {
		bdev_unregister_complete(in, bdeverrno);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		OSP_ERRLOG("out of memory finishing the removal of a bdev\n");
		return;
	}
	d->in = in;
	d->rc = bdeverrno;
	if (osp_thread_send_msg(in->unregister_thread, bdev_destruct_done_msg, d) != 0) {
		free(d);
		OSP_ERRLOG("cannot finish the removal of a bdev\n");
	}
}

static void
bdev_io_device_unregistered(void *io_device)
{
	struct osp_bdev *bdev = io_device;
	struct osp_bdev_internal *in = bdev->internal;
	int rc;

	OSP_DEBUGLOG(bdev, "destructing bdev %s\n", bdev->name);
	/* After destruct returns 0 the module may have freed bdev: use only `in`. */
	rc = bdev->fn_table->destruct(bdev->ctxt);
	if (rc == 1) {
		return;	/* osp_bdev_destruct_done() follows */
	}
	bdev_unregister_complete(in, rc);
}

static void
bdev_unregister_finish(void *ctx)
{
	struct osp_bdev_internal *in = ctx;
	struct bdev_qos *qos;

	pthread_mutex_lock(&in->mutex);
	qos = in->qos;
	in->qos = NULL;
	pthread_mutex_unlock(&in->mutex);
	if (qos != NULL) {
		bdev_qos_release(qos);
	}
	osp_io_device_unregister(in->bdev, bdev_io_device_unregistered);
}

int
osp_bdev_unregister(struct osp_bdev *bdev, osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	struct osp_bdev_internal *in;
	struct osp_bdev_desc *desc;
	bool no_descs;

	if (bdev == NULL || bdev->internal == NULL) {
		return -EINVAL;
	}
	in = bdev->internal;
	if (osp_get_thread() == NULL) {
		OSP_ERRLOG("osp_bdev_unregister needs a current thread\n");
		return -EINVAL;
	}
	pthread_mutex_lock(&g_bdev.mutex);
	pthread_mutex_lock(&in->mutex);
	if (in->status != BDEV_STATUS_READY) {
		pthread_mutex_unlock(&in->mutex);
		pthread_mutex_unlock(&g_bdev.mutex);
		return -EBUSY;
	}
	in->status = BDEV_STATUS_REMOVING;
	in->unregister_cb = cb_fn;
	in->unregister_ctx = cb_arg;
	in->unregister_thread = osp_get_thread();
	/* Out of name lookups at once: the name may be reused. */
	TAILQ_REMOVE(&g_bdev.bdevs, in, link);
	TAILQ_INSERT_TAIL(&g_bdev.removing, in, link);
	TAILQ_FOREACH(desc, &in->open_descs, link) {
		__atomic_store_n(&desc->removed, true, __ATOMIC_RELAXED);
		bdev_desc_send_event(desc, OSP_BDEV_EVENT_REMOVE);
	}
	no_descs = TAILQ_EMPTY(&in->open_descs);
	pthread_mutex_unlock(&in->mutex);
	pthread_mutex_unlock(&g_bdev.mutex);
	OSP_DEBUGLOG(bdev, "unregistering bdev %s\n", bdev->name);
	if (no_descs) {
		bdev_unregister_finish(in);
	}
	return 0;
}

int
osp_bdev_unregister_by_name(const char *bdev_name, struct osp_bdev_module *module,
			    osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	struct osp_bdev *bdev = osp_bdev_get_by_name(bdev_name);

	if (bdev == NULL || (module != NULL && bdev->module != module)) {
		return -ENODEV;
	}
	return osp_bdev_unregister(bdev, cb_fn, cb_arg);
}
