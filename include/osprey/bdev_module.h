/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The block device layer, as seen by the modules that implement bdevs
 * (drivers/bdev/<name>). drivers/bdev/passthru is the smallest complete
 * example of a virtual bdev (one built on the osp_vbdev_* helper below);
 * copy it to start a new module.
 *
 * A module fills a struct osp_bdev (name, geometry, fn_table, ctxt) and
 * calls osp_bdev_register(). The layer then calls fn_table->submit_request
 * on the thread of the channel the I/O was submitted on; the module
 * completes it with osp_bdev_io_complete() on that same thread, either from
 * inside submit_request (the layer defers the user's callback) or later.
 *
 * The layer only sends a module what it supports (io_type_supported, asked
 * once at registration), within max_rw_size and optimal_io_boundary, with
 * buffers aligned to required_alignment; a READ may come without a buffer
 * (iovs[0].iov_base NULL): call osp_bdev_io_get_buf(). A module that
 * supports RESET gets it once the I/O of every channel has completed, or
 * after 2 s with I/O still inside the module, which its reset must then
 * complete (ABORTED).
 */
#ifndef OSPREY_BDEV_MODULE_H
#define OSPREY_BDEV_MODULE_H

#include "osprey/bdev.h"
#include "osprey/iobuf.h"
#include "osprey/iov.h"
#include "osprey/json.h"
#include "osprey/nvme_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

struct osp_bdev_module {
	const char *name;
	/* Called once when the bdev subsystem starts; 0 or -errno. */
	int (*module_init)(void);
	/* Called after every module's init (and its async init) finished. */
	void (*init_complete)(void);
	/* Called when the subsystem stops, after all bdevs are unregistered. */
	void (*module_fini)(void);
	/* Start of subsystem fini, before bdevs are unregistered (may be NULL). */
	void (*fini_start)(void);
	/* Bytes of per-I/O scratch space the module wants (bdev_io->driver_ctx). */
	int (*get_ctx_size)(void);
	/*
	 * Examine a new bdev. examine_config: synchronous, from configuration
	 * only (no I/O); must call osp_bdev_module_examine_done(). examine_disk:
	 * may do I/O; must call osp_bdev_module_examine_done() when finished.
	 */
	void (*examine_config)(struct osp_bdev *bdev);
	void (*examine_disk)(struct osp_bdev *bdev);
	/*
	 * Append RPC calls recreating module-wide settings and bdevs that are
	 * not written per bdev by fn_table->write_config_json (may be NULL).
	 */
	void (*config_json)(cJSON *array);
	/* module_init returns before init is done: call osp_bdev_module_init_done(). */
	bool async_init;
	/* module_fini returns before fini is done: call osp_bdev_module_fini_done(). */
	bool async_fini;
	/*
	 * Its bdevs may have a block size that is any multiple of 512 (1536,
	 * 3072...) rather than only a power of two.
	 */
	bool allow_non_pow2_blocklen;
	/* Private to the layer. */
	struct {
		TAILQ_ENTRY(osp_bdev_module) link;
		uint32_t action_in_progress;
	} internal;
};

void osp_bdev_module_list_add(struct osp_bdev_module *module);
struct osp_bdev_module *osp_bdev_module_list_find(const char *name);
void osp_bdev_module_init_done(struct osp_bdev_module *module);
void osp_bdev_module_fini_done(void);
void osp_bdev_module_examine_done(struct osp_bdev_module *module);

#define OSP_BDEV_MODULE_REGISTER(name, module) \
	__attribute__((constructor)) static void osp_bdev_module_register_##name(void) \
	{ osp_bdev_module_list_add(module); }

struct osp_bdev_fn_table {
	/*
	 * Free the module's resources for bdev ctx. Return 0 when done, 1 if it
	 * will finish later with osp_bdev_destruct_done(), or -errno.
	 */
	int (*destruct)(void *ctx);
	void (*submit_request)(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io);
	bool (*io_type_supported)(void *ctx, enum osp_bdev_io_type type);
	/* The module's channel for this thread (an io_device's channel). */
	struct osp_io_channel *(*get_io_channel)(void *ctx);
	/* Module-specific info for bdev_get_bdevs ("driver_specific"). May be NULL. */
	void (*dump_info_json)(void *ctx, cJSON *obj);
	/* Append the RPC call that recreates this bdev (bdev_malloc_create ...). May be NULL. */
	void (*write_config_json)(struct osp_bdev *bdev, cJSON *array);
};

struct osp_bdev_alias {
	char *alias;
	TAILQ_ENTRY(osp_bdev_alias) link;
};

struct osp_bdev_internal;

struct osp_bdev {
	/* Module context handed back in fn_table calls. */
	void *ctxt;
	/* Unique name (also looked up by aliases). */
	char *name;
	char *product_name;
	uint32_t blocklen;
	uint64_t blockcnt;
	bool write_cache;
	/*
	 * Unmapped blocks read back as zeroes (SCSI LBPRZ, NVMe DLFEAT 001b);
	 * meaningful only when the module supports OSP_BDEV_IO_TYPE_UNMAP.
	 */
	bool unmap_reads_zeroes;
	/* Writes must be multiples of this many blocks (default 1). */
	uint32_t write_unit_size;
	/* I/O is split so that no piece crosses a multiple of this (blocks, 0 = none)... */
	uint32_t optimal_io_boundary;
	/* ...when this is set. */
	bool split_on_optimal_io_boundary;
	/* Largest read/write the module takes, in blocks (0 = unlimited): the layer splits. */
	uint32_t max_rw_size;
	/* log2 of the buffer alignment the module needs (0 = byte aligned): the layer bounces. */
	uint8_t required_alignment;
	struct osp_uuid uuid;
	struct osp_bdev_module *module;
	const struct osp_bdev_fn_table *fn_table;
	TAILQ_HEAD(, osp_bdev_alias) aliases;
	/* Owned by the layer; set by osp_bdev_register(). */
	struct osp_bdev_internal *internal;
};

typedef void (*osp_bdev_unregister_cb)(void *cb_arg, int rc);

/*
 * Register bdev: name must be unique (among names, aliases and UUIDs; the
 * UUID string also finds the bdev), blocklen a power of two >= 512 (or any
 * multiple of 512 for modules with allow_non_pow2_blocklen), blockcnt > 0,
 * required_alignment <= 12. A null uuid is replaced by a random one;
 * write_unit_size 0 means 1. Examine runs for every module, from a message
 * to the app thread. Returns 0, -EEXIST, -EINVAL, -ENOMEM. Any thread.
 */
int osp_bdev_register(struct osp_bdev *bdev);
/*
 * Hot-remove bdev: its name is free at once, descriptors get
 * OSP_BDEV_EVENT_REMOVE, new I/O fails with -ENODEV, outstanding I/O
 * completes; when the last descriptor closes and every channel is released
 * the module's destruct runs on the calling thread, then cb_fn(cb_arg, rc).
 * After destruct returned 0 the layer no longer touches bdev, so the module
 * may free it there. Must be called on an osp_thread.
 *
 * Returns 0 when the removal was accepted (cb_fn then runs exactly once,
 * later), or an error found at once, in which case cb_fn is never called:
 * -EINVAL (not a registered bdev, or no current thread), -EBUSY (already
 * being removed).
 */
int osp_bdev_unregister(struct osp_bdev *bdev, osp_bdev_unregister_cb cb_fn, void *cb_arg);
/*
 * As above by name; -ENODEV if no such bdev or it belongs to another module,
 * else what osp_bdev_unregister() returns.
 */
int osp_bdev_unregister_by_name(const char *bdev_name, struct osp_bdev_module *module,
				osp_bdev_unregister_cb cb_fn, void *cb_arg);
/*
 * The whole of a module's bdev_<module>_delete RPC: decode {"<param>": name}
 * (param NULL: "name"), call delete_fn(name, cb, cb_arg) and answer request:
 * true once the bdev is gone; if delete_fn refuses, an error (code: its
 * return value) with not_found_fmt (one %s: the name); if the deletion fails
 * later, "Deleting the <what> failed: <reason>".
 */
struct osp_jsonrpc_request;
typedef int (*osp_bdev_delete_fn)(const char *name, osp_bdev_unregister_cb cb_fn, void *cb_arg);
void osp_bdev_rpc_delete(struct osp_jsonrpc_request *request, const cJSON *params,
			 const char *param, osp_bdev_delete_fn delete_fn, const char *what,
			 const char *not_found_fmt) __attribute__((format(printf, 6, 0)));
/* Asynchronous destruct finished. */
void osp_bdev_destruct_done(struct osp_bdev *bdev, int bdeverrno);
/* The size changed: descriptors get OSP_BDEV_EVENT_RESIZE. -EBUSY if shrinking while claimed. */
int osp_bdev_notify_blockcnt_change(struct osp_bdev *bdev, uint64_t size);
int osp_bdev_alias_add(struct osp_bdev *bdev, const char *alias);
int osp_bdev_alias_del(struct osp_bdev *bdev, const char *alias);

/*
 * Claim bdev exclusively for writes by module (e.g. split on its base):
 * -EPERM if claimed already or open for writing by another descriptor than
 * desc. desc (may be NULL) becomes a write descriptor, and closing it
 * releases the claim. Later write opens of bdev get -EPERM.
 */
int osp_bdev_module_claim_bdev(struct osp_bdev *bdev, struct osp_bdev_desc *desc,
			       struct osp_bdev_module *module);
void osp_bdev_module_release_bdev(struct osp_bdev *bdev);
/* Module that claimed bdev, or NULL. */
struct osp_bdev_module *osp_bdev_get_claim_module(struct osp_bdev *bdev);

/* Name of the module that claimed the bdev named bdev_name ("unknown" if none or no such bdev). */
const char *osp_bdev_claimer_name(const char *bdev_name);

/*
 * For the create RPC of a virtual bdev: refuse an empty name (NULL: the
 * module has no name parameter) or base name (parameter base_param), parse
 * uuid_str (NULL: none) into *uuid. false: request was answered.
 */
bool osp_vbdev_rpc_check_create(struct osp_jsonrpc_request *request, const char *name,
				const char *base_param, const char *base_name,
				const char *uuid_str, struct osp_uuid *uuid);
/*
 * Answer a create of a what ("passthru", "delay bdev") named name on
 * base_name that failed with rc: -EEXIST (name taken), -EPERM (base claimed
 * by another module, named), others with strerror.
 */
void osp_vbdev_rpc_create_error(struct osp_jsonrpc_request *request, int rc, const char *what,
				const char *name, const char *base_name);

/*
 * ---- Virtual bdevs: the scaffolding shared by passthru, delay, error, split ----
 *
 * A virtual bdev sits on a "base" bdev. What every such module has to do,
 * done here once:
 *
 *  - Configuration outlives the bdevs. A module keeps its creates as
 *    struct osp_vbdev_config in a struct osp_vbdev_list (usually embedded in
 *    a bigger struct of its own); osp_vbdev_config_add() builds one at once
 *    if its base exists and otherwise leaves it waiting, and
 *    osp_vbdev_examine() (the module's examine_config) builds the waiting
 *    ones when their base is registered. A config goes away only with
 *    osp_vbdev_config_delete() (the module's delete RPC) or osp_vbdev_fini().
 *
 *  - Owning the base (struct osp_vbdev_base, embedded in the module's built
 *    object): osp_vbdev_base_open() opens the base for writing, claims it for
 *    the module, remembers the opening thread and registers the base as an
 *    io_device whose per-thread channel (struct osp_vbdev_channel, first
 *    member of the module's channel) holds that thread's base channel.
 *    The module then registers its bdev(s) with osp_vbdev_base_add_bdev().
 *
 *  - Teardown: each bdev's fn_table->destruct returns
 *    osp_vbdev_base_destruct(); when the last one is gone and every channel
 *    is released, the claim is released and the base descriptor closed on
 *    the thread that opened it, the last bdev's destruct is completed, and
 *    ops->free frees the module's object.
 *
 *  - Hot remove: a REMOVE event of the base unregisters every bdev of the
 *    base (ops->quiesce first, if set); the config stays, so the bdevs come
 *    back when the base does. A RESIZE is followed when ops->follow_resize.
 *
 * Threads: configs, building, events and teardown run on the app thread
 * (RPCs and examine do); the release runs on the base descriptor's thread.
 */
struct osp_vbdev_base;
struct osp_vbdev_list;

/* One create of a virtual bdev, built or waiting for its base. */
struct osp_vbdev_config {
	/* The virtual bdev's name (may be NULL where it derives from base_name). */
	char *name;
	char *base_name;
	/* Null until first built (then kept, so a rebuild keeps it), unless given. */
	struct osp_uuid uuid;
	/* The built base, or NULL while waiting. */
	struct osp_vbdev_base *base;
	TAILQ_ENTRY(osp_vbdev_config) link;
};

struct osp_vbdev_list {
	struct osp_bdev_module *module;
	/* For log lines: "passthru", "delay bdev"... */
	const char *what;
	/*
	 * Build cfg: 0, -ENODEV if its base does not exist (yet), another -errno
	 * (with a message in err, or err left empty). On failure after
	 * osp_vbdev_base_open() the module closes or unregisters the base itself.
	 */
	int (*build)(struct osp_vbdev_config *cfg, char *err, size_t errlen);
	/* Free cfg (the module's struct around it) with its name and base_name. */
	void (*config_free)(struct osp_vbdev_config *cfg);
	/* Append the create RPC for cfg (config_json of waiting configs). May be NULL. */
	void (*write_config)(struct osp_vbdev_config *cfg, cJSON *array);
	TAILQ_HEAD(, osp_vbdev_config) configs;
};

#define OSP_VBDEV_LIST_INITIALIZER(list, mod, what_, build_, free_, write_) \
	{ .module = (mod), .what = (what_), .build = (build_), .config_free = (free_), \
	  .write_config = (write_), .configs = TAILQ_HEAD_INITIALIZER((list).configs) }

/*
 * Add cfg (name, base_name, uuid filled; the caller checked for duplicates)
 * and build it if its base exists: 0 (built, or waiting for the base), or
 * the build's -errno, cfg then freed with list->config_free.
 */
int osp_vbdev_config_add(struct osp_vbdev_list *list, struct osp_vbdev_config *cfg,
			 char *err, size_t errlen);
/* The config whose name (base_name with by_base) is name, or NULL. */
struct osp_vbdev_config *osp_vbdev_config_find(struct osp_vbdev_list *list, const char *name,
		bool by_base);
/*
 * Forget cfg and unregister what was built of it; cb_fn(cb_arg, rc) once
 * the bdevs are gone and the base released (at once if it was waiting).
 */
void osp_vbdev_config_delete(struct osp_vbdev_list *list, struct osp_vbdev_config *cfg,
			     osp_bdev_unregister_cb cb_fn, void *cb_arg);
/* The module's examine_config: build the configs waiting for bdev; examine_done. */
void osp_vbdev_examine(struct osp_vbdev_list *list, struct osp_bdev *bdev);
/* The module's config_json: list->write_config for every config waiting for its base. */
void osp_vbdev_config_json(struct osp_vbdev_list *list, cJSON *array);
/* The module's module_fini: free every config (all bdevs are gone by then). */
void osp_vbdev_fini(struct osp_vbdev_list *list);

/* Per-thread channel of a base; the first member of the module's channel struct. */
struct osp_vbdev_channel {
	struct osp_io_channel *base_ch;
};

struct osp_vbdev_base_ops {
	/* Size of the module's channel struct (>= sizeof(struct osp_vbdev_channel)). */
	size_t channel_size;
	/* After base_ch is taken / before it is put (may be NULL). create: 0 or -errno. */
	int (*channel_create)(struct osp_vbdev_base *base, struct osp_vbdev_channel *ch);
	void (*channel_destroy)(struct osp_vbdev_base *base, struct osp_vbdev_channel *ch);
	/*
	 * Unregistering starts (delete or hot remove): release what the bdevs
	 * hold back, then call osp_vbdev_base_quiesced(). NULL: nothing to do.
	 */
	void (*quiesce)(struct osp_vbdev_base *base);
	/*
	 * Free the module's object around base (the base is released by now).
	 * NULL for osp_vbdev_base_build_one objects that start with base: the
	 * bdev's name and the object are freed.
	 */
	void (*free)(struct osp_vbdev_base *base);
	/* The bdevs take the base's new size when it is resized (single-bdev modules). */
	bool follow_resize;
};

struct osp_vbdev_base {
	const struct osp_vbdev_base_ops *ops;
	struct osp_bdev_module *module;
	/* The base bdev and our write descriptor on it, opened (and closed) on thread. */
	struct osp_bdev *bdev;
	struct osp_bdev_desc *desc;
	struct osp_thread *thread;
	/* What it was built from; NULL once the config is deleted or the base torn down. */
	struct osp_vbdev_config *config;
	/* The virtual bdevs registered on it; nregistered not yet destructed. */
	struct osp_bdev **bdevs;
	uint32_t nbdevs;
	uint32_t nregistered;
	/* Set (atomically: I/O threads may read it) once unregistering started. */
	bool unregistering;
	bool io_device;
	/* The last bdev destructed asynchronously (destruct_done after the release). */
	struct osp_bdev *last;
	/* Who waits for the base to be released (config delete). */
	osp_bdev_unregister_cb done_cb;
	void *done_cb_arg;
};

/*
 * Open base_name for writing with an event callback for hot remove and
 * resize, claim it for module, and register base as the io_device of the
 * base channels (io_name names it). 0; -ENODEV: no such bdev (yet); -EPERM:
 * claimed already (err says by whom); another -errno. On success
 * base->config = cfg and cfg->base = base (cfg may be NULL).
 */
int osp_vbdev_base_open(struct osp_vbdev_base *base, const struct osp_vbdev_base_ops *ops,
			struct osp_bdev_module *module, struct osp_vbdev_config *cfg,
			const char *base_name, const char *io_name, char *err, size_t errlen);
/*
 * Undo osp_vbdev_base_open() at once, before any bdev was added (a build
 * that fails): the caller frees its object afterwards.
 */
void osp_vbdev_base_close(struct osp_vbdev_base *base);
/* Register bdev (module, ctxt, fn_table... filled) on base. 0 or osp_bdev_register's -errno. */
int osp_vbdev_base_add_bdev(struct osp_vbdev_base *base, struct osp_bdev *bdev);
/*
 * The whole build of a module with one bdev per base that looks like it
 * (passthru, delay, error): bdev (product_name, module, fn_table and ctxt
 * filled; in the same object as base) gets cfg->name, the base's geometry
 * and cfg's uuid (generated on the first build and kept in cfg), base is
 * opened (osp_vbdev_base_open) and bdev added. 0, or -errno with all of it
 * undone (bdev->name freed again): the caller frees its object.
 */
int osp_vbdev_base_build_one(struct osp_vbdev_base *base, const struct osp_vbdev_base_ops *ops,
			     struct osp_vbdev_config *cfg, struct osp_bdev *bdev, char *err,
			     size_t errlen);
/*
 * Unregister every bdev of base (ops->quiesce first); cb_fn(cb_arg, 0)
 * once the base is released (at once if unregistering already went on
 * with another waiter). With no bdev registered the base is released.
 */
void osp_vbdev_base_unregister(struct osp_vbdev_base *base, osp_bdev_unregister_cb cb_fn,
			       void *cb_arg);
/* ops->quiesce is finished: unregister the bdevs now. */
void osp_vbdev_base_quiesced(struct osp_vbdev_base *base);
/* fn_table->destruct of a bdev of base: return what this returns. */
int osp_vbdev_base_destruct(struct osp_vbdev_base *base, struct osp_bdev *bdev);
/* This thread's channel to base (fn_table->get_io_channel). */
struct osp_io_channel *osp_vbdev_base_get_io_channel(struct osp_vbdev_base *base);
/*
 * fn_table members for a module with one bdev per base whose bdev's ctxt
 * is its object, starting with the struct osp_vbdev_base: destruct, the
 * base's channel, and the I/O types of the base.
 */
int osp_vbdev_destruct_one(void *ctx);
struct osp_io_channel *osp_vbdev_get_io_channel(void *ctx);
bool osp_vbdev_io_type_supported(void *ctx, enum osp_bdev_io_type type);
/*
 * On the I/O path of a bdev of base: a submit to the base for bdev_io
 * returned rc (not 0). -ENOMEM (the base's bdev_io pool is empty): bdev_io
 * waits (wait: an entry in its driver_ctx) and retry_fn(bdev_io) runs on
 * this thread when a bdev_io is free; returns OSP_BDEV_IO_STATUS_PENDING.
 * Otherwise returns the status to complete bdev_io with: NOMEM (cannot
 * wait: the layer retries it) or FAILED (-ENODEV, -EINVAL...).
 */
int osp_vbdev_submit_failed(struct osp_vbdev_base *base, struct osp_io_channel *base_ch,
			    struct osp_bdev_io *bdev_io, int rc, struct osp_bdev_io_wait_entry *wait,
			    osp_bdev_io_wait_cb retry_fn);
/*
 * The base finished base_io, submitted for bdev_io: free base_io (first, so
 * that bdev_io's user may submit again at once) and complete bdev_io the
 * same way: the NVMe status and cdw0 for NVMe commands and NVMe errors,
 * MISCOMPARE and ABORTED as they are, any other failure FAILED.
 */
void osp_vbdev_io_complete_from(struct osp_bdev_io *bdev_io, struct osp_bdev_io *base_io,
				bool success);

/* Whether unregistering started (any thread). */
static inline bool
osp_vbdev_base_unregistering(const struct osp_vbdev_base *base)
{
	return __atomic_load_n(&base->unregistering, __ATOMIC_ACQUIRE);
}
/*
 * The io_device of the base channels is base itself: osp_for_each_channel(base, ...)
 * visits every thread's struct osp_vbdev_channel.
 */

/* Give a virtual bdev the geometry of its base: everything but name and uuid. */
static inline void
osp_bdev_copy_geometry(struct osp_bdev *bdev, const struct osp_bdev *base)
{
	bdev->blocklen = base->blocklen;
	bdev->blockcnt = base->blockcnt;
	bdev->write_cache = base->write_cache;
	bdev->unmap_reads_zeroes = base->unmap_reads_zeroes;
	bdev->write_unit_size = base->write_unit_size;
	bdev->optimal_io_boundary = base->optimal_io_boundary;
	bdev->split_on_optimal_io_boundary = base->split_on_optimal_io_boundary;
	bdev->max_rw_size = base->max_rw_size;
	bdev->required_alignment = base->required_alignment;
}

/* ---- inside an I/O ---- */

/* Layer channel (private to lib/bdev). */
struct osp_bdev_channel;

/*
 * Called when the buffer asked for with osp_bdev_io_get_buf() is there; ch
 * is the module's own channel the I/O was submitted on.
 */
typedef void (*osp_bdev_io_get_buf_cb)(struct osp_io_channel *ch, struct osp_bdev_io *bdev_io,
				       bool success);

/* iovecs a child I/O of a split (or a bounce) can carry. */
#define OSP_BDEV_IO_CHILD_IOVS	16

/*
 * Private to the layer: modules never touch it. It is inline (not behind a
 * pointer) so that the submit and completion paths touch as few cache lines
 * as possible; the hot fields come first.
 */
struct osp_bdev_io_internal {
	osp_bdev_io_completion_cb cb;
	void *cb_arg;
	/* Channel the I/O runs on (the QoS thread's for I/O funneled there). */
	struct osp_bdev_channel *ch;
	/* Channel the user submitted it on: statistics and completion thread. */
	struct osp_bdev_channel *user_ch;
	struct osp_bdev_desc *desc;
	uint64_t submit_tsc;
	int8_t status;
	uint8_t gen;
	uint16_t flags;
	uint32_t nvme_cdw0;
	union {
		TAILQ_ENTRY(osp_bdev_io) tq;
		STAILQ_ENTRY(osp_bdev_io) stq;
	} link;

	/* ---- cold: slow paths only ---- */
	struct osp_bdev_io *parent;
	uint8_t nvme_sct;
	uint8_t nvme_sc;
	/* Buffer the layer provided (osp_bdev_io_get_buf), released with the I/O. */
	void *buf;
	size_t buf_len;
	osp_bdev_io_get_buf_cb get_buf_cb;
	/* Who waits for a buffer of buf_wait_len bytes (osp_bdev_io_get_buf, bounce...). */
	void (*buf_done)(struct osp_bdev_io *bdev_io, void *buf);
	size_t buf_wait_len;
	/* Queued on the thread's iobuf channel while no buffer is free. */
	struct osp_iobuf_entry iobuf_entry;
	/* Waiting for a bdev_io for the layer's own needs (children, emulation). */
	struct osp_bdev_io_wait_entry waitq;
	/* Bounce: the caller's iovecs while the module works on an aligned copy. */
	struct iovec *orig_iovs;
	int orig_iovcnt;
	struct iovec bounce_iov;
	void *bounce_buf;
	size_t bounce_len;
	union {
		/* Split (and write-zeroes emulation): children issued from a cursor. */
		struct {
			uint64_t offset;
			uint64_t remaining;
			size_t iov_off;
			int iov_idx;
			uint32_t outstanding;
			int8_t status;
			uint8_t mode;
			uint8_t child_type;
		} split;
		/* Compare-and-write emulation: the LBA range lock it holds. */
		struct {
			TAILQ_ENTRY(osp_bdev_io) link;
			STAILQ_ENTRY(osp_bdev_io) drain_link;
			struct osp_io_channel_iter *iter;
			struct osp_thread *thread;
			bool releasing;
		} lock;
		/* Compare emulation: the data read back. */
		struct {
			void *buf;
			size_t len;
		} cmp;
		/* A reset: gives up waiting for outstanding I/O when this fires. */
		struct {
			struct osp_poller *drain_timer;
		} reset;
		/* osp_bdev_io_resubmit_to() of a read waiting for its buffer. */
		struct {
			struct osp_bdev_desc *desc;
			struct osp_io_channel *ch;
			uint64_t offset_shift;
			osp_bdev_io_completion_cb cb;
			void *cb_arg;
		} resubmit;
	} u;
	struct iovec child_iovs[OSP_BDEV_IO_CHILD_IOVS];
};

struct osp_bdev_io {
	struct osp_bdev *bdev;
	uint8_t type;		/* enum osp_bdev_io_type */
	union {
		struct {
			struct iovec *iovs;
			int iovcnt;
			/* COMPARE_AND_WRITE: iovs is the compare data, fused_iovs the write data. */
			struct iovec *fused_iovs;
			int fused_iovcnt;
			uint64_t offset_blocks;
			uint64_t num_blocks;
			/* The single iovec used when the user passed a flat buffer. */
			struct iovec iov;
			struct iovec fused_iov;
		} bdev;
		struct {
			struct osp_nvme_cmd *cmd;
			void *buf;
			size_t nbytes;
		} nvme_passthru;
	} u;
	/* Private to the layer (completion, status, timing, splitting, queues). */
	struct osp_bdev_io_internal internal;
	/* Module scratch space (get_ctx_size bytes). */
	uint8_t driver_ctx[] __attribute__((aligned(8)));
};

/* Complete bdev_io with status (on the thread it was submitted on). */
void osp_bdev_io_complete(struct osp_bdev_io *bdev_io, enum osp_bdev_io_status status);
/* Complete with an NVMe status (success when sct == 0 && sc == 0). */
void osp_bdev_io_complete_nvme_status(struct osp_bdev_io *bdev_io, uint32_t cdw0, int sct,
				      int sc);
/*
 * Completing I/O from a poller instead of from submit_request (no recursion
 * when a callback resubmits; one list insert per I/O, no allocation): a
 * module puts a struct osp_bdev_cpl_entry at the start of its driver_ctx and
 * one struct osp_bdev_cpl_list in its per-thread channel. _add queues the
 * I/O with its status; the list's poller completes everything queued in one
 * batch. _init registers the poller (named poller_name) on the calling
 * thread, _fini completes what is left and unregisters it.
 */
struct osp_bdev_cpl_entry {
	STAILQ_ENTRY(osp_bdev_cpl_entry) link;
	int8_t status;		/* enum osp_bdev_io_status */
};

struct osp_bdev_cpl_list {
	STAILQ_HEAD(, osp_bdev_cpl_entry) done;
	struct osp_poller *poller;
};

int osp_bdev_cpl_list_init(struct osp_bdev_cpl_list *list, const char *poller_name);
void osp_bdev_cpl_list_fini(struct osp_bdev_cpl_list *list);

static inline void
osp_bdev_cpl_list_add(struct osp_bdev_cpl_list *list, struct osp_bdev_cpl_entry *entry,
		      int status)
{
	entry->status = (int8_t)status;
	STAILQ_INSERT_TAIL(&list->done, entry, link);
}

/* The layer's channel the I/O runs on (osp_io_channel_get_ctx() is layer-private). */
struct osp_io_channel *osp_bdev_io_get_io_channel(struct osp_bdev_io *bdev_io);
struct osp_thread *osp_bdev_io_get_thread(struct osp_bdev_io *bdev_io);
/* Module context from an I/O's driver_ctx. */
static inline void *
osp_bdev_io_get_driver_ctx(struct osp_bdev_io *bdev_io)
{
	return bdev_io->driver_ctx;
}
static inline struct osp_bdev_io *
osp_bdev_io_from_ctx(void *ctx)
{
	return OSP_CONTAINEROF(ctx, struct osp_bdev_io, driver_ctx);
}

/*
 * Make sure a read has a data buffer of len bytes: if the user gave none,
 * one is taken from the thread's buffer pool (waiting if it is empty) and
 * released when the I/O is freed. cb runs when the buffer is there (at once
 * if the user gave one); success false if len is too large.
 */
void osp_bdev_io_get_buf(struct osp_bdev_io *bdev_io, osp_bdev_io_get_buf_cb cb, uint64_t len);

/*
 * Scratch buffers (<= OSP_BDEV_LARGE_BUF_MAX_SIZE, 4 KiB aligned) from the
 * layer's global pools, for modules; any thread, lock-free. NULL when the
 * pool is empty (the module decides to wait or fail) or len is too large.
 */
void *osp_bdev_buf_get(size_t len);
void osp_bdev_buf_put(void *buf, size_t len);

/* Modules move data between iovecs and flat buffers with osprey/iov.h (included above). */

/*
 * Submit an I/O to a base bdev on behalf of a virtual bdev, reusing the
 * original request's parameters (type, iovs, offsets) with an offset shift.
 * Convenience for passthru/split-like modules. Returns what the submit
 * returned: on -ENOMEM complete bdev_io with OSP_BDEV_IO_STATUS_NOMEM (the
 * layer resubmits it later). A READ without a buffer first gets one for
 * bdev_io (so the data lands there) and returns 0; a failure after that
 * completes bdev_io itself (NOMEM or FAILED) without calling cb.
 */
int osp_bdev_io_resubmit_to(struct osp_bdev_io *bdev_io, struct osp_bdev_desc *base_desc,
			    struct osp_io_channel *base_ch, uint64_t offset_shift,
			    osp_bdev_io_completion_cb cb, void *cb_arg);

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_BDEV_MODULE_H */
