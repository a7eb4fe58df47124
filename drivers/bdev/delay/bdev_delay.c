/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Delay bdev: a passthru (see bdev_passthru.c for the skeleton, and the
 * virtual-bdev helper in osprey/bdev_module.h) whose read and write
 * completions wait before reaching the user.
 *
 * When the base completes a read or a write, the I/O gets a deadline
 * (now + the average latency, or the p99 one for about 1 in 100 I/Os) and
 * joins one of four per-channel FIFO queues (avg/p99 x read/write). Within a
 * queue deadlines only grow (same latency, later arrival), so a timed poller
 * only ever looks at the queue heads. The poller is paused while every queue
 * is empty, so an idle delay bdev costs nothing and lets its thread sleep.
 * Nothing sleeps and nothing is allocated per I/O.
 *
 * A latency changed with bdev_delay_update_latency applies to I/O that
 * completes on the base afterwards. If it shrinks, a queue may briefly hold
 * a later deadline ahead of an earlier one; the earlier one then waits for
 * it, which errs on the side of more delay and never reorders completions.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/bdev_module.h"
#include "osprey/env.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/queue.h"
#include "osprey/thread.h"
#include "osprey/util.h"

#include "bdev_delay.h"

/* How often a channel with waiting I/O looks at its queues. */
#define DELAY_POLL_PERIOD_US	1

struct delay_config {
	struct osp_vbdev_config vcfg;
	uint64_t latency_us[BDEV_DELAY_NUM_LATENCIES];
};

/* The base (the helper's, also the io_device of our channels) and our bdev. */
struct delay_bdev {
	struct osp_vbdev_base base;	/* first: the helper's fn_table members find it at ctxt */
	struct osp_bdev bdev;
	/* Written on the app thread, read by every I/O thread (atomically). */
	uint64_t latency_ticks[BDEV_DELAY_NUM_LATENCIES];
};

OSP_STATIC_ASSERT(offsetof(struct delay_bdev, base) == 0, "the helper finds its base at ctxt");

struct delay_io {
	STAILQ_ENTRY(delay_io) link;
	uint64_t deadline;
	struct osp_bdev_io_wait_entry wait;
	struct osp_io_channel *ch;
	int8_t status;
	uint8_t nvme_sct;
	uint8_t nvme_sc;
	uint32_t nvme_cdw0;
};

STAILQ_HEAD(delay_queue, delay_io);

struct delay_channel {
	struct osp_vbdev_channel vch;
	struct delay_queue queues[BDEV_DELAY_NUM_LATENCIES];
	uint64_t waiting;
	uint64_t rng;
	struct osp_poller *poller;
};

static const char *const g_latency_names[BDEV_DELAY_NUM_LATENCIES] = {
	[BDEV_DELAY_AVG_READ] = "avg_read",
	[BDEV_DELAY_P99_READ] = "p99_read",
	[BDEV_DELAY_AVG_WRITE] = "avg_write",
	[BDEV_DELAY_P99_WRITE] = "p99_write",
};

static int delay_get_ctx_size(void);
static void delay_fini_start(void);
static void delay_examine_config(struct osp_bdev *bdev);
static void delay_config_json(cJSON *array);
static void delay_fini(void);
static int delay_build(struct osp_vbdev_config *vcfg, char *err, size_t errlen);
static void delay_config_free(struct osp_vbdev_config *vcfg);
static void delay_write_config(struct osp_vbdev_config *vcfg, cJSON *array);

static struct osp_bdev_module g_delay_module = {
	.name = "delay",
	.module_fini = delay_fini,
	.fini_start = delay_fini_start,
	.get_ctx_size = delay_get_ctx_size,
	.examine_config = delay_examine_config,
	.config_json = delay_config_json,
};
OSP_BDEV_MODULE_REGISTER(delay, &g_delay_module)

static struct osp_vbdev_list g_delay_list = OSP_VBDEV_LIST_INITIALIZER(g_delay_list,
		&g_delay_module, "delay bdev", delay_build, delay_config_free, delay_write_config);

static inline struct delay_config *
delay_config(struct osp_vbdev_config *vcfg)
{
	return vcfg != NULL ? OSP_CONTAINEROF(vcfg, struct delay_config, vcfg) : NULL;
}

static uint64_t
us_to_ticks(uint64_t us)
{
	/* us <= BDEV_DELAY_MAX_LATENCY_US keeps this within 64 bits for any tick rate < 5 THz. */
	return us * osp_get_ticks_hz() / 1000000;
}

/* ---- delayed completions ---- */

static void
delay_io_finish(struct delay_io *dio)
{
	struct osp_bdev_io *bdev_io = osp_bdev_io_from_ctx(dio);

	if (dio->status == OSP_BDEV_IO_STATUS_NVME_ERROR) {
		osp_bdev_io_complete_nvme_status(bdev_io, dio->nvme_cdw0, dio->nvme_sct, dio->nvme_sc);
	} else {
		osp_bdev_io_complete(bdev_io, dio->status);
	}
}

static int
delay_poller(void *arg)
{
	struct delay_channel *dch = arg;
	/* The tick of this poll iteration: no clock read per poll. */
	uint64_t now = osp_thread_get_last_tsc(NULL);
	struct delay_io *dio;
	int i, done = 0;

	for (i = 0; i < BDEV_DELAY_NUM_LATENCIES; i++) {
		while ((dio = STAILQ_FIRST(&dch->queues[i])) != NULL && dio->deadline <= now) {
			STAILQ_REMOVE_HEAD(&dch->queues[i], link);
			dch->waiting--;
			done++;
			delay_io_finish(dio);
		}
	}
	if (dch->waiting == 0) {
		/* Nothing to wait for: stop polling until the next delayed I/O. */
		osp_poller_pause(dch->poller);
	}
	return done > 0 ? OSP_POLLER_BUSY : OSP_POLLER_IDLE;
}

/* xorshift64: per channel, so no lock and no shared state. */
static inline uint64_t
delay_rand(struct delay_channel *dch)
{
	uint64_t x = dch->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	dch->rng = x;
	return x;
}

static void
delay_enqueue(struct delay_bdev *db, struct delay_channel *dch, struct delay_io *dio,
	      bool is_read)
{
	int q = is_read ? BDEV_DELAY_AVG_READ : BDEV_DELAY_AVG_WRITE;

	if (delay_rand(dch) % 100 == 0) {
		q++;	/* the p99 queue right after its average one */
	}
	/* Completions run inside a poll iteration: its tick is "now" without an rdtsc. */
	dio->deadline = osp_thread_get_last_tsc(NULL) +
			__atomic_load_n(&db->latency_ticks[q], __ATOMIC_RELAXED);
	if (dch->waiting++ == 0) {
		osp_poller_resume(dch->poller);
	}
	STAILQ_INSERT_TAIL(&dch->queues[q], dio, link);
}

/* ---- forwarding ---- */

static void delay_submit(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io);

static void
delay_base_io_done(struct osp_bdev_io *base_io, bool success, void *cb_arg)
{
	struct osp_bdev_io *bdev_io = cb_arg;
	struct delay_io *dio = (struct delay_io *)bdev_io->driver_ctx;
	struct delay_bdev *db = bdev_io->bdev->ctxt;
	int status = osp_bdev_io_get_status(base_io);

	if (status == OSP_BDEV_IO_STATUS_NVME_ERROR) {
		int sct, sc;

		osp_bdev_io_get_nvme_status(base_io, &dio->nvme_cdw0, &sct, &sc);
		dio->nvme_sct = (uint8_t)sct;
		dio->nvme_sc = (uint8_t)sc;
	} else if (success) {
		status = OSP_BDEV_IO_STATUS_SUCCESS;
	} else if (status >= OSP_BDEV_IO_STATUS_PENDING) {
		status = OSP_BDEV_IO_STATUS_FAILED;
	}
	dio->status = (int8_t)status;
	osp_bdev_free_io(base_io);

	switch (bdev_io->type) {
	case OSP_BDEV_IO_TYPE_READ:
	case OSP_BDEV_IO_TYPE_WRITE:
		delay_enqueue(db, osp_io_channel_get_ctx(dio->ch), dio,
			      bdev_io->type == OSP_BDEV_IO_TYPE_READ);
		break;
	default:
		delay_io_finish(dio);
		break;
	}
}

static void
delay_resubmit(void *arg)
{
	struct osp_bdev_io *bdev_io = arg;

	delay_submit(((struct delay_io *)bdev_io->driver_ctx)->ch, bdev_io);
}

static void
delay_submit(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io)
{
	struct delay_bdev *db = bdev_io->bdev->ctxt;
	struct delay_channel *dch = osp_io_channel_get_ctx(ch);
	struct delay_io *dio = (struct delay_io *)bdev_io->driver_ctx;
	int rc;

	dio->ch = ch;
	/* Same blocks on the base; a read without a buffer gets one first. */
	rc = osp_bdev_io_resubmit_to(bdev_io, db->base.desc, dch->vch.base_ch, 0,
				     delay_base_io_done, bdev_io);
	if (osp_likely(rc == 0)) {
		return;
	}
	rc = osp_vbdev_submit_failed(&db->base, dch->vch.base_ch, bdev_io, rc, &dio->wait,
				     delay_resubmit);
	if (rc != OSP_BDEV_IO_STATUS_PENDING) {
		osp_bdev_io_complete(bdev_io, rc);
	}
}

/* Reset: complete what this channel holds back (it is done on the base), then go on. */
static void
delay_flush_channel(struct osp_io_channel_iter *i)
{
	struct delay_channel *dch = osp_io_channel_get_ctx(osp_io_channel_iter_get_channel(i));
	struct delay_queue all[BDEV_DELAY_NUM_LATENCIES];
	struct delay_io *dio;
	int q;

	for (q = 0; q < BDEV_DELAY_NUM_LATENCIES; q++) {
		STAILQ_INIT(&all[q]);
		STAILQ_CONCAT(&all[q], &dch->queues[q]);
	}
	dch->waiting = 0;
	for (q = 0; q < BDEV_DELAY_NUM_LATENCIES; q++) {
		while ((dio = STAILQ_FIRST(&all[q])) != NULL) {
			STAILQ_REMOVE_HEAD(&all[q], link);
			delay_io_finish(dio);
		}
	}
	osp_for_each_channel_continue(i, 0);
}

static void
delay_flush_at_fini_done(struct osp_io_channel_iter *i, int status)
{
}

/* Shutting down: complete what waits now rather than at its deadline. */
static void
delay_fini_start(void)
{
	struct osp_vbdev_config *vcfg;

	TAILQ_FOREACH(vcfg, &g_delay_list.configs, link) {
		if (vcfg->base != NULL) {
			osp_for_each_channel(vcfg->base, delay_flush_channel, NULL,
					     delay_flush_at_fini_done);
		}
	}
}

static void
delay_flush_done(struct osp_io_channel_iter *i, int status)
{
	struct osp_bdev_io *bdev_io = osp_io_channel_iter_get_ctx(i);

	delay_submit(((struct delay_io *)bdev_io->driver_ctx)->ch, bdev_io);
}

static void
delay_submit_request(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io)
{
	struct delay_io *dio = (struct delay_io *)bdev_io->driver_ctx;

	dio->ch = ch;
	if (bdev_io->type == OSP_BDEV_IO_TYPE_RESET) {
		/* What waits here is done on the base: complete it before the base resets. */
		osp_for_each_channel(&((struct delay_bdev *)bdev_io->bdev->ctxt)->base,
				     delay_flush_channel, bdev_io, delay_flush_done);
		return;
	}
	delay_submit(ch, bdev_io);
}

/* After the helper took this thread's base channel (vch.base_ch). */
static int
delay_channel_create(struct osp_vbdev_base *base, struct osp_vbdev_channel *vch)
{
	struct delay_channel *dch = OSP_CONTAINEROF(vch, struct delay_channel, vch);
	int i;

	for (i = 0; i < BDEV_DELAY_NUM_LATENCIES; i++) {
		STAILQ_INIT(&dch->queues[i]);
	}
	dch->rng = (osp_get_ticks() ^ (uintptr_t)dch) | 1;
	dch->poller = OSP_POLLER_REGISTER(delay_poller, dch, DELAY_POLL_PERIOD_US);
	if (dch->poller == NULL) {
		return -ENOMEM;
	}
	osp_poller_pause(dch->poller);
	return 0;
}

static void
delay_channel_destroy(struct osp_vbdev_base *base, struct osp_vbdev_channel *vch)
{
	struct delay_channel *dch = OSP_CONTAINEROF(vch, struct delay_channel, vch);
	struct delay_io *dio;
	int i;

	/* Nothing should wait here any more; if something does, finish it now. */
	for (i = 0; i < BDEV_DELAY_NUM_LATENCIES; i++) {
		while ((dio = STAILQ_FIRST(&dch->queues[i])) != NULL) {
			STAILQ_REMOVE_HEAD(&dch->queues[i], link);
			delay_io_finish(dio);
		}
	}
	osp_poller_unregister(&dch->poller);
}

/* ---- info and config ---- */

static void
delay_write_params(cJSON *array, const char *name, const char *base_name,
		   const struct osp_uuid *uuid, const uint64_t *lat)
{
	cJSON *params = cJSON_CreateObject();
	char str[OSP_UUID_STRING_LEN];

	if (params == NULL) {
		return;
	}
	cJSON_AddStringToObject(params, "name", name);
	cJSON_AddStringToObject(params, "base_bdev_name", base_name);
	osp_json_add_uint64(params, "avg_read_latency", lat[BDEV_DELAY_AVG_READ]);
	osp_json_add_uint64(params, "p99_read_latency", lat[BDEV_DELAY_P99_READ]);
	osp_json_add_uint64(params, "avg_write_latency", lat[BDEV_DELAY_AVG_WRITE]);
	osp_json_add_uint64(params, "p99_write_latency", lat[BDEV_DELAY_P99_WRITE]);
	if (!osp_uuid_is_null(uuid)) {
		osp_uuid_fmt_lower(str, sizeof(str), uuid);
		cJSON_AddStringToObject(params, "uuid", str);
	}
	osp_json_add_rpc_call(array, "bdev_delay_create", params);
}

static void
delay_write_config_json(struct osp_bdev *bdev, cJSON *array)
{
	struct delay_bdev *db = bdev->ctxt;
	struct delay_config *cfg = delay_config(db->base.config);

	if (cfg != NULL) {
		delay_write_params(array, bdev->name, db->base.bdev->name, &bdev->uuid,
				   cfg->latency_us);
	}
}

static void
delay_write_config(struct osp_vbdev_config *vcfg, cJSON *array)
{
	delay_write_params(array, vcfg->name, vcfg->base_name, &vcfg->uuid,
			   delay_config(vcfg)->latency_us);
}

static void
delay_config_json(cJSON *array)
{
	osp_vbdev_config_json(&g_delay_list, array);
}

static void
delay_dump_info_json(void *ctx, cJSON *obj)
{
	struct delay_bdev *db = ctx;
	struct delay_config *cfg = delay_config(db->base.config);
	cJSON *o = cJSON_AddObjectToObject(obj, "delay");
	int i;

	if (o == NULL) {
		return;
	}
	cJSON_AddStringToObject(o, "name", db->bdev.name);
	cJSON_AddStringToObject(o, "base_bdev_name", db->base.bdev->name);
	if (cfg != NULL) {
		for (i = 0; i < BDEV_DELAY_NUM_LATENCIES; i++) {
			char key[32];

			snprintf(key, sizeof(key), "%s_latency", g_latency_names[i]);
			osp_json_add_uint64(o, key, cfg->latency_us[i]);
		}
	}
}

/* ---- teardown ---- */

static const struct osp_vbdev_base_ops g_delay_base_ops = {
	.channel_size = sizeof(struct delay_channel),
	.channel_create = delay_channel_create,
	.channel_destroy = delay_channel_destroy,
	.follow_resize = true,
};

/* ---- building ---- */

static const struct osp_bdev_fn_table g_delay_fn_table = {
	.destruct = osp_vbdev_destruct_one,
	.submit_request = delay_submit_request,
	.io_type_supported = osp_vbdev_io_type_supported,
	.get_io_channel = osp_vbdev_get_io_channel,
	.dump_info_json = delay_dump_info_json,
	.write_config_json = delay_write_config_json,
};

static int
delay_build(struct osp_vbdev_config *vcfg, char *err, size_t errlen)
{
	struct delay_config *cfg = delay_config(vcfg);
	struct delay_bdev *db;
	int rc, i;

	db = calloc(1, sizeof(*db));
	if (db == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < BDEV_DELAY_NUM_LATENCIES; i++) {
		db->latency_ticks[i] = us_to_ticks(cfg->latency_us[i]);
	}
	db->bdev.product_name = "delay";
	db->bdev.ctxt = db;
	db->bdev.module = &g_delay_module;
	db->bdev.fn_table = &g_delay_fn_table;
	rc = osp_vbdev_base_build_one(&db->base, &g_delay_base_ops, vcfg, &db->bdev, err, errlen);
	if (rc != 0) {
		free(db);
	}
	return rc;
}

static struct delay_config *
delay_config_find(const char *name)
{
	return delay_config(osp_vbdev_config_find(&g_delay_list, name, false));
}

static void
delay_config_free(struct osp_vbdev_config *vcfg)
{
	free(vcfg->name);
	free(vcfg->base_name);
	free(delay_config(vcfg));
}

int
bdev_delay_latency_from_name(const char *name)
{
	int i;

	for (i = 0; i < BDEV_DELAY_NUM_LATENCIES; i++) {
		if (name != NULL && strcmp(name, g_latency_names[i]) == 0) {
			return i;
		}
	}
	return -1;
}

int
bdev_delay_create(const char *name, const char *base_name, const struct osp_uuid *uuid,
		  const uint64_t latencies_us[BDEV_DELAY_NUM_LATENCIES])
{
	struct delay_config *cfg;
	int i;

	if (name == NULL || name[0] == '\0' || base_name == NULL || base_name[0] == '\0') {
		return -EINVAL;
	}
	for (i = 0; i < BDEV_DELAY_NUM_LATENCIES; i++) {
		if (latencies_us[i] > BDEV_DELAY_MAX_LATENCY_US) {
			return -EINVAL;
		}
	}
	if (delay_config_find(name) != NULL || osp_bdev_get_by_name(name) != NULL) {
		return -EEXIST;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		return -ENOMEM;
	}
	cfg->vcfg.name = strdup(name);
	cfg->vcfg.base_name = strdup(base_name);
	if (cfg->vcfg.name == NULL || cfg->vcfg.base_name == NULL) {
		delay_config_free(&cfg->vcfg);
		return -ENOMEM;
	}
	if (uuid != NULL) {
		cfg->vcfg.uuid = *uuid;
	}
	memcpy(cfg->latency_us, latencies_us, sizeof(cfg->latency_us));
	return osp_vbdev_config_add(&g_delay_list, &cfg->vcfg, NULL, 0);
}

int
bdev_delay_delete(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg)
{
	struct delay_config *cfg = delay_config_find(name);

	if (cfg == NULL) {
		return -ENODEV;
	}
	osp_vbdev_config_delete(&g_delay_list, &cfg->vcfg, cb_fn, cb_arg);
	return 0;
}

int
bdev_delay_update_latency(const char *name, enum bdev_delay_latency which, uint64_t latency_us)
{
	struct delay_config *cfg = delay_config_find(name);

	if (cfg == NULL) {
		return -ENODEV;
	}
	if ((unsigned)which >= BDEV_DELAY_NUM_LATENCIES || latency_us > BDEV_DELAY_MAX_LATENCY_US) {
		return -EINVAL;
	}
	cfg->latency_us[which] = latency_us;
	if (cfg->vcfg.base != NULL) {
		struct delay_bdev *db = OSP_CONTAINEROF(cfg->vcfg.base, struct delay_bdev, base);

		__atomic_store_n(&db->latency_ticks[which], us_to_ticks(latency_us),
				 __ATOMIC_RELAXED);
	}
	return 0;
}

static void
delay_examine_config(struct osp_bdev *bdev)
{
	osp_vbdev_examine(&g_delay_list, bdev);
}

static int
delay_get_ctx_size(void)
{
	return sizeof(struct delay_io);
}

static void
delay_fini(void)
{
	osp_vbdev_fini(&g_delay_list);
}
