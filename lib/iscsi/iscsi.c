/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The iSCSI target's globals: options (iscsi_set_options), the "iscsi"
 * subsystem (init: one poll group thread per core and the data-out buffer
 * pool; fini: an Async logout request to every session, then connections
 * dropped, poll groups and configuration freed) and its save_config output.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/env.h"
#include "osprey/event.h"
#include "osprey/json.h"
#include "osprey/log.h"
#include "osprey/util.h"

#include "iscsi_internal.h"

OSP_LOG_REGISTER_COMPONENT(iscsi)

struct iscsi_globals g_iscsi = {
	.mutex = PTHREAD_MUTEX_INITIALIZER,
	.pgs = TAILQ_HEAD_INITIALIZER(g_iscsi.pgs),
	.igs = TAILQ_HEAD_INITIALIZER(g_iscsi.igs),
	.nodes = TAILQ_HEAD_INITIALIZER(g_iscsi.nodes),
	.auth_groups = TAILQ_HEAD_INITIALIZER(g_iscsi.auth_groups),
	.sessions = TAILQ_HEAD_INITIALIZER(g_iscsi.sessions),
};

static bool g_opts_set;

void
iscsi_lock(void)
{
	pthread_mutex_lock(&g_iscsi.mutex);
}

void
iscsi_unlock(void)
{
	pthread_mutex_unlock(&g_iscsi.mutex);
}

void
iscsi_stat_move(uint32_t *from, uint32_t *to)
{
	if (from != NULL) {
		__atomic_fetch_sub(from, 1, __ATOMIC_RELAXED);
	}
	if (to != NULL) {
		__atomic_fetch_add(to, 1, __ATOMIC_RELAXED);
	}
}

/* ---- options ---- */

void
osp_iscsi_opts_init(struct osp_iscsi_opts *opts, size_t opts_size)
{
	struct osp_iscsi_opts o = {};

	o.opts_size = opts_size;
	snprintf(o.node_base, sizeof(o.node_base), "iqn.2016-06.io.spdk");
	o.nop_timeout = 60;
	o.nop_in_interval = 30;
	o.max_sessions = 128;
	o.max_connections_per_session = 2;
	o.max_queue_depth = 64;
	o.default_time2wait = 2;
	o.default_time2retain = 20;
	o.first_burst_length = 8192;
	o.max_burst_length = 262144;
	o.max_recv_data_segment_length = 65536;
	o.immediate_data = true;
	o.error_recovery_level = 0;
	o.allow_duplicated_isid = false;
	o.max_large_datain_per_connection = 64;
	o.max_r2t_per_connection = 4;
	o.pdu_pool_size = 36864;
	o.immediate_data_pool_size = 16384;
	o.data_out_pool_size = 2048;
	memcpy(opts, &o, OSP_MIN(opts_size, sizeof(o)));
}

static void
opts_ensure(void)
{
	if (!g_opts_set) {
		osp_iscsi_opts_init(&g_iscsi.opts, sizeof(g_iscsi.opts));
		g_opts_set = true;
	}
}

void
osp_iscsi_get_opts(struct osp_iscsi_opts *opts, size_t opts_size)
{
	opts_ensure();
	memcpy(opts, &g_iscsi.opts, OSP_MIN(opts_size, sizeof(g_iscsi.opts)));
	opts->opts_size = opts_size;
}

int
osp_iscsi_set_opts(const struct osp_iscsi_opts *opts, char *err, size_t errlen)
{
	struct osp_iscsi_opts o;

	if (g_iscsi.initialized) {
		osp_seterr(err, errlen, "iSCSI options can only be set before the subsystem starts "
			   "(run the target with --wait-for-rpc)");
		return -EPERM;
	}
	osp_iscsi_opts_init(&o, sizeof(o));
	memcpy(&o, opts, OSP_MIN(opts->opts_size, sizeof(o)));
	o.opts_size = sizeof(o);
	if (g_iscsi.opts_set) {
		osp_seterr(err, errlen, "iscsi_set_options was already called: the options are set "
			   "once, before framework_start_init (iscsi_get_options shows them)");
		return -EEXIST;
	}
	if (o.node_base[0] == '\0' || strlen(o.node_base) > 223 ||
	    !iscsi_target_name_valid(o.node_base)) {
		osp_seterr(err, errlen, "Invalid node_base '%s': expected 1 to 223 characters of an "
			   "iqn./eui./naa. name prefix (letters, digits, '-', '.', ':')", o.node_base);
		return -EINVAL;
	}
	if (o.max_sessions == 0 || o.max_sessions > 65535) {
		osp_seterr(err, errlen, "max_sessions must be 1 to 65535");
		return -EINVAL;
	}
	if (o.max_connections_per_session == 0 || o.max_connections_per_session > 65535) {
		osp_seterr(err, errlen, "max_connections_per_session must be 1 to 65535");
		return -EINVAL;
	}
	if (o.max_queue_depth == 0 || o.max_queue_depth > 4096) {
		osp_seterr(err, errlen, "max_queue_depth must be 1 to 4096");
		return -EINVAL;
	}
	if (o.default_time2wait > 3600 || o.default_time2retain > 3600) {
		osp_seterr(err, errlen, "default_time2wait and default_time2retain must be 0 to 3600");
		return -EINVAL;
	}
	if (o.max_burst_length < 512 || o.max_burst_length > ISCSI_DATA_SEGMENT_MAX) {
		osp_seterr(err, errlen, "max_burst_length must be 512 to 16777215");
		return -EINVAL;
	}
	if (o.first_burst_length < 512 || o.first_burst_length > o.max_burst_length) {
		osp_seterr(err, errlen, "first_burst_length must be 512 to max_burst_length (%u)",
			   o.max_burst_length);
		return -EINVAL;
	}
	if (o.max_recv_data_segment_length < 512 || o.max_recv_data_segment_length > ISCSI_DATA_SEGMENT_MAX) {
		osp_seterr(err, errlen, "max_recv_data_segment_length must be 512 to 16777215");
		return -EINVAL;
	}
	if (o.error_recovery_level != 0) {
		osp_seterr(err, errlen, "error_recovery_level %u is not supported: only 0",
			   o.error_recovery_level);
		return -EINVAL;
	}
	if (o.nop_in_interval > 60) {
		osp_seterr(err, errlen, "nop_in_interval must be 0 to 60 seconds");
		return -EINVAL;
	}
	if (o.nop_timeout == 0 || o.nop_timeout > 3600) {
		osp_seterr(err, errlen, "nop_timeout must be 1 to 3600 seconds");
		return -EINVAL;
	}
	if (o.max_r2t_per_connection == 0 || o.max_r2t_per_connection > ISCSI_MAX_R2T) {
		osp_seterr(err, errlen, "max_r2t_per_connection must be 1 to %d", ISCSI_MAX_R2T);
		return -EINVAL;
	}
	if (iscsi_chap_flags_check(o.disable_chap, o.require_chap, o.mutual_chap, err, errlen) != 0) {
		return -EINVAL;
	}
	if (o.chap_group < 0) {
		osp_seterr(err, errlen, "chap_group must be 0 or a positive tag");
		return -EINVAL;
	}
	opts_ensure();
	g_iscsi.opts = o;
	g_iscsi.opts_set = true;
	g_iscsi_disc_disable_chap = o.disable_chap;
	g_iscsi_disc_require_chap = o.require_chap;
	g_iscsi_disc_mutual_chap = o.mutual_chap;
	g_iscsi_disc_chap_group = o.chap_group;
	return 0;
}

void
iscsi_param_defaults_from_opts(struct iscsi_param_defaults *d)
{
	iscsi_param_defaults_init(d);
	d->max_connections = g_iscsi.opts.max_connections_per_session;
	d->immediate_data = g_iscsi.opts.immediate_data;
	d->max_burst_length = g_iscsi.opts.max_burst_length;
	d->first_burst_length = g_iscsi.opts.first_burst_length;
	d->default_time2wait = g_iscsi.opts.default_time2wait;
	d->default_time2retain = g_iscsi.opts.default_time2retain;
	d->max_outstanding_r2t = g_iscsi.opts.max_r2t_per_connection;
	d->error_recovery_level = 0;
	d->max_recv_data_segment_length = g_iscsi.opts.max_recv_data_segment_length;
}

/* RFC 7143 4.2.7: iqn.yyyy-mm.reversed.domain[:id], eui.<16 hex>, naa.<16 or 32 hex>. */
bool
iscsi_name_valid(const char *name)
{
	size_t len, i;

	if (name == NULL) {
		return false;
	}
	len = strlen(name);
	if (len < 5 || len > ISCSI_NAME_MAX_LEN) {
		return false;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		/* No spaces, controls or separators; names compare without case. */
		if (c <= ' ' || c == ',' || c == '/' || c == '\\' || c == '"' || c == '\'') {
			return false;
		}
	}
	if (strncasecmp(name, "iqn.", 4) == 0) {
		/* iqn.yyyy-mm. */
		if (len < 12 || name[8] != '-' || name[11] != '.') {
			return false;
		}
		for (i = 4; i < 11; i++) {
			if (i != 8 && (name[i] < '0' || name[i] > '9')) {
				return false;
			}
		}
		return true;
	}
	if (strncasecmp(name, "eui.", 4) == 0 || strncasecmp(name, "naa.", 4) == 0) {
		size_t nhex = len - 4;

		if (strncasecmp(name, "eui.", 4) == 0 ? nhex != 16 : (nhex != 16 && nhex != 32)) {
			return false;
		}
		for (i = 4; i < len; i++) {
			if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f') ||
			      (name[i] >= 'A' && name[i] <= 'F'))) {
				return false;
			}
		}
		return true;
	}
	return false;
}

bool
iscsi_target_name_valid(const char *name)
{
	size_t i;

	if (!iscsi_name_valid(name)) {
		return false;
	}
	for (i = 0; name[i] != '\0'; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!(c >= 0x80 || isalnum(c) || c == '-' || c == '.' || c == ':')) {
			return false;
		}
	}
	if (strncasecmp(name, "iqn.", 4) == 0) {
		int month = (name[9] - '0') * 10 + (name[10] - '0');

		if (month < 1 || month > 12) {
			return false;
		}
	}
	return true;
}

/* ---- poll groups ---- */

struct iscsi_poll_group *
iscsi_pick_poll_group(void)
{
	struct iscsi_poll_group *pg;

	if (g_iscsi.npgroups == 0) {
		return NULL;
	}
	pg = g_iscsi.pgroups[g_iscsi.next_pgroup % g_iscsi.npgroups];
	g_iscsi.next_pgroup++;
	return pg;
}

static uint32_t g_pg_pending;
static int g_pg_rc;

static void
pg_created_on_app(void *arg)
{
	int rc = (int)(intptr_t)arg;

	if (rc != 0 && g_pg_rc == 0) {
		g_pg_rc = rc;
	}
	if (--g_pg_pending > 0) {
		return;
	}
	if (g_pg_rc != 0) {
		OSP_ERRLOG("cannot create the iSCSI poll groups: %s\n", strerror(-g_pg_rc));
		osp_subsystem_init_next(g_pg_rc);
		return;
	}
	g_iscsi.initialized = true;
	osp_subsystem_init_next(0);
}

static void
pg_create_on_thread(void *arg)
{
	struct iscsi_poll_group *pg = arg;
	int rc = 0;

	TAILQ_INIT(&pg->conns);
	TAILQ_INIT(&pg->flush_list);
	pg->sock_group = osp_sock_group_create(pg);
	if (pg->sock_group == NULL) {
		rc = -errno;
		goto out;
	}
	if (osp_iobuf_channel_init(&pg->iobuf, g_iscsi.data_pool, 32) == 0) {
		pg->iobuf_ready = true;
	} else {
		rc = -ENOMEM;
		goto out;
	}
	pg->poller = osp_poller_register_named(iscsi_pg_poll, pg, 0, "iscsi_pg_poll");
	pg->timer = osp_poller_register_named(iscsi_pg_timer, pg, 1000000, "iscsi_pg_timer");
	if (pg->poller == NULL || pg->timer == NULL) {
		rc = -ENOMEM;
	}
out:
	osp_thread_send_msg(g_iscsi.app_thread, pg_created_on_app, (void *)(intptr_t)rc);
}

static void
iscsi_subsystem_init(void)
{
	struct osp_cpuset mask;
	struct iscsi_poll_group *pg;
	char name[OSP_THREAD_NAME_MAX];
	uint32_t core, n = 0;

	opts_ensure();
	g_iscsi.app_thread = osp_get_thread();
	iscsi_param_defaults_from_opts(&g_iscsi.param_defaults);
	if (g_iscsi.opts.auth_file[0] != '\0') {
		char err[512] = "";
		int rc = osp_iscsi_auth_load_file(g_iscsi.opts.auth_file, err, sizeof(err));

		if (rc != 0) {
			OSP_ERRLOG("iSCSI: %s\n", err);
			osp_subsystem_init_next(rc);
			return;
		}
	}
	g_iscsi.next_tsih = 1;
	/*
	 * Write data lands in 128 KiB buffers; one command may hold up to
	 * data_reserve of them: the Block Limits maximum transfer length
	 * (OSP_SCSI_MAX_TRANSFER_BYTES); larger writes are refused with sense.
	 */
	g_iscsi.data_bufsize = ISCSI_DATA_BUF_SIZE;
	g_iscsi.data_reserve = ISCSI_REQ_MAX_BUFS;
	g_iscsi.data_pool = osp_iobuf_pool_create("iscsi_data_out", g_iscsi.data_bufsize,
			    OSP_MAX(g_iscsi.opts.data_out_pool_size / 4, g_iscsi.data_reserve * 2),
			    g_iscsi.data_reserve);
	if (g_iscsi.data_pool == NULL) {
		osp_subsystem_init_next(-ENOMEM);
		return;
	}
	OSP_ENV_FOREACH_CORE(core) {
		n++;
	}
	g_iscsi.pgroups = calloc(n, sizeof(*g_iscsi.pgroups));
	if (g_iscsi.pgroups == NULL) {
		osp_subsystem_init_next(-ENOMEM);
		return;
	}
	g_pg_pending = 1;
	g_pg_rc = 0;
	OSP_ENV_FOREACH_CORE(core) {
		osp_cpuset_zero(&mask);
		osp_cpuset_set_cpu(&mask, core, true);
		snprintf(name, sizeof(name), "iscsi_poll_group_%03u", core);
		pg = calloc(1, sizeof(*pg));
		if (pg == NULL) {
			g_pg_rc = -ENOMEM;
			break;
		}
		pg->thread = osp_thread_create(name, &mask);
		if (pg->thread == NULL) {
			free(pg);
			g_pg_rc = -ENOMEM;
			break;
		}
		pg->index = g_iscsi.npgroups;
		pg->core = core;
		g_iscsi.pgroups[g_iscsi.npgroups++] = pg;
		g_pg_pending++;
		osp_thread_send_msg(pg->thread, pg_create_on_thread, pg);
	}
	pg_created_on_app((void *)0);
}

/* ---- shutdown ---- */

static uint32_t g_fini_pending;
static void fini_config(void);

static void
pg_fini_done_on_app(void *arg)
{
	(void)arg;
	if (--g_fini_pending == 0) {
		fini_config();
	}
}

static int
pg_drain_poll(void *arg)
{
	struct iscsi_poll_group *pg = arg;

	if (!TAILQ_EMPTY(&pg->conns)) {
		return OSP_POLLER_BUSY;
	}
	osp_poller_unregister(&pg->timer);
	osp_poller_unregister(&pg->poller);
	osp_sock_group_close(&pg->sock_group);
	if (pg->iobuf_ready) {
		osp_iobuf_channel_fini(&pg->iobuf);
		pg->iobuf_ready = false;
	}
	osp_thread_send_msg(g_iscsi.app_thread, pg_fini_done_on_app, pg);
	osp_thread_exit(pg->thread);
	return OSP_POLLER_BUSY;
}

static void
pg_fini_on_thread(void *arg)
{
	struct iscsi_poll_group *pg = arg;
	struct iscsi_conn *conn, *tmp;

	TAILQ_FOREACH_SAFE(conn, &pg->conns, pg_link, tmp) {
		iscsi_conn_drop(conn, "the target is shutting down");
	}
	/* The poll poller keeps running until every connection has released its requests. */
	osp_poller_unregister(&pg->timer);
	pg->timer = osp_poller_register_named(pg_drain_poll, pg, 1000, "iscsi_pg_drain");
}

static uint32_t g_nodes_pending;

static void
fini_nodes_done(void)
{
	uint32_t i;

	iscsi_portal_grp_delete_all();
	iscsi_init_grp_delete_all();
	iscsi_auth_grp_delete_all();
	for (i = 0; i < g_iscsi.npgroups; i++) {
		free(g_iscsi.pgroups[i]);
	}
	free(g_iscsi.pgroups);
	g_iscsi.pgroups = NULL;
	g_iscsi.npgroups = 0;
	osp_iobuf_pool_free(g_iscsi.data_pool);
	g_iscsi.data_pool = NULL;
	g_iscsi.initialized = false;
	osp_subsystem_fini_next();
}

static void
fini_node_deleted(void *arg, int rc)
{
	(void)arg;
	(void)rc;
	if (--g_nodes_pending == 0) {
		fini_nodes_done();
	}
}

static void
fini_config(void)
{
	struct iscsi_tgt_node *node, *tmp;

	g_nodes_pending = 1;
	TAILQ_FOREACH_SAFE(node, &g_iscsi.nodes, link, tmp) {
		g_nodes_pending++;
		if (osp_iscsi_tgt_node_delete(node->name, fini_node_deleted, NULL, NULL, 0) != 0) {
			g_nodes_pending--;
		}
	}
	fini_node_deleted(NULL, 0);
}

/* Sessions get an Async logout request, then a moment to log out, then are dropped. */
static struct osp_poller *g_fini_wait_poller;
static uint64_t g_fini_deadline;

static void
pg_async_logout_on_thread(void *arg)
{
	struct iscsi_poll_group *pg = arg;
	struct iscsi_conn *conn;

	TAILQ_FOREACH(conn, &pg->conns, pg_link) {
		if (conn->state == ISCSI_CONN_FFP) {
			iscsi_conn_send_async_logout(conn);
		}
	}
}

static int
fini_wait_poll(void *arg)
{
	uint32_t i, running;

	(void)arg;
	running = __atomic_load_n(&g_iscsi.nconns_running, __ATOMIC_RELAXED);
	if (running > 0 && osp_get_ticks() < g_fini_deadline) {
		return OSP_POLLER_IDLE;
	}
	osp_poller_unregister(&g_fini_wait_poller);
	g_fini_pending = g_iscsi.npgroups + 1;
	for (i = 0; i < g_iscsi.npgroups; i++) {
		osp_thread_send_msg(g_iscsi.pgroups[i]->thread, pg_fini_on_thread, g_iscsi.pgroups[i]);
	}
	pg_fini_done_on_app(NULL);
	return OSP_POLLER_BUSY;
}

static void
iscsi_subsystem_fini(void)
{
	uint32_t i;

	g_iscsi.shutting_down = true;
	iscsi_acceptor_stop();
	if (!g_iscsi.initialized) {
		g_fini_pending = 1;
		pg_fini_done_on_app(NULL);
		return;
	}
	for (i = 0; i < g_iscsi.npgroups; i++) {
		osp_thread_send_msg(g_iscsi.pgroups[i]->thread, pg_async_logout_on_thread,
				    g_iscsi.pgroups[i]);
	}
	/* Up to 1 s for initiators to log out on their own (RFC 7143 11.9.1 event 1). */
	g_fini_deadline = osp_get_ticks() + osp_get_ticks_hz();
	g_fini_wait_poller = osp_poller_register_named(fini_wait_poll, NULL, 10000,
			     "iscsi_fini_wait");
	if (g_fini_wait_poller == NULL) {
		g_fini_deadline = 0;
		fini_wait_poll(NULL);
	}
}

/* ---- save_config ---- */

static void
iscsi_write_config_json(cJSON *config)
{
	struct iscsi_portal_grp *pg;
	struct iscsi_portal *p;
	struct iscsi_init_grp *ig;
	struct iscsi_tgt_node *node;
	struct iscsi_auth_grp *ag;
	struct iscsi_secret *s;
	struct osp_scsi_lun *lun;
	cJSON *params, *arr = NULL, *o;
	int i;

	opts_ensure();
	params = cJSON_CreateObject();
	if (g_iscsi.opts.auth_file[0] != '\0') {
		cJSON_AddStringToObject(params, "auth_file", g_iscsi.opts.auth_file);
	}
	cJSON_AddStringToObject(params, "node_base", g_iscsi.opts.node_base);
	osp_json_add_uint64(params, "nop_timeout", g_iscsi.opts.nop_timeout);
	osp_json_add_uint64(params, "nop_in_interval", g_iscsi.opts.nop_in_interval);
	cJSON_AddBoolToObject(params, "disable_chap", g_iscsi_disc_disable_chap);
	cJSON_AddBoolToObject(params, "require_chap", g_iscsi_disc_require_chap);
	cJSON_AddBoolToObject(params, "mutual_chap", g_iscsi_disc_mutual_chap);
	osp_json_add_uint64(params, "chap_group", (uint64_t)g_iscsi_disc_chap_group);
	osp_json_add_uint64(params, "max_sessions", g_iscsi.opts.max_sessions);
	osp_json_add_uint64(params, "max_connections_per_session",
			    g_iscsi.opts.max_connections_per_session);
	osp_json_add_uint64(params, "max_queue_depth", g_iscsi.opts.max_queue_depth);
	osp_json_add_uint64(params, "default_time2wait", g_iscsi.opts.default_time2wait);
	osp_json_add_uint64(params, "default_time2retain", g_iscsi.opts.default_time2retain);
	osp_json_add_uint64(params, "first_burst_length", g_iscsi.opts.first_burst_length);
	osp_json_add_uint64(params, "max_burst_length", g_iscsi.opts.max_burst_length);
	osp_json_add_uint64(params, "max_recv_data_segment_length",
			    g_iscsi.opts.max_recv_data_segment_length);
	cJSON_AddBoolToObject(params, "immediate_data", g_iscsi.opts.immediate_data);
	osp_json_add_uint64(params, "error_recovery_level", g_iscsi.opts.error_recovery_level);
	cJSON_AddBoolToObject(params, "allow_duplicated_isid", g_iscsi.opts.allow_duplicated_isid);
	osp_json_add_uint64(params, "max_large_datain_per_connection",
			    g_iscsi.opts.max_large_datain_per_connection);
	osp_json_add_uint64(params, "max_r2t_per_connection", g_iscsi.opts.max_r2t_per_connection);
	osp_json_add_uint64(params, "pdu_pool_size", g_iscsi.opts.pdu_pool_size);
	osp_json_add_uint64(params, "immediate_data_pool_size",
			    g_iscsi.opts.immediate_data_pool_size);
	osp_json_add_uint64(params, "data_out_pool_size", g_iscsi.opts.data_out_pool_size);
	osp_json_add_rpc_call(config, "iscsi_set_options", params);

	iscsi_lock();
	/* What auth_file loads at start is left out: loading it again would clash. */
	TAILQ_FOREACH(ag, &g_iscsi.auth_groups, link) {
		if (!ag->from_file) {
			params = cJSON_CreateObject();
			osp_json_add_uint64(params, "tag", (uint64_t)ag->tag);
			arr = cJSON_AddArrayToObject(params, "secrets");
		}
		TAILQ_FOREACH(s, &ag->secrets, link) {
			if (s->from_file) {
				continue;
			}
			o = ag->from_file ? cJSON_CreateObject() : NULL;
			if (o != NULL) {
				osp_json_add_uint64(o, "tag", (uint64_t)ag->tag);
			} else {
				o = cJSON_CreateObject();
			}
			cJSON_AddStringToObject(o, "user", s->s.user);
			cJSON_AddStringToObject(o, "secret", s->s.secret);
			if (s->s.muser[0] != '\0') {
				cJSON_AddStringToObject(o, "muser", s->s.muser);
				cJSON_AddStringToObject(o, "msecret", s->s.msecret);
			}
			if (ag->from_file) {
				osp_json_add_rpc_call(config, "iscsi_auth_group_add_secret", o);
			} else {
				cJSON_AddItemToArray(arr, o);
			}
		}
		if (!ag->from_file) {
			osp_json_add_rpc_call(config, "iscsi_create_auth_group", params);
		}
	}
	TAILQ_FOREACH(pg, &g_iscsi.pgs, link) {
		params = cJSON_CreateObject();
		osp_json_add_uint64(params, "tag", (uint64_t)pg->tag);
		arr = cJSON_AddArrayToObject(params, "portals");
		TAILQ_FOREACH(p, &pg->portals, link) {
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "host", p->host);
			cJSON_AddStringToObject(o, "port", p->port);
			cJSON_AddItemToArray(arr, o);
		}
		cJSON_AddBoolToObject(params, "private", pg->is_private);
		osp_json_add_rpc_call(config, "iscsi_create_portal_group", params);
	}
	TAILQ_FOREACH(ig, &g_iscsi.igs, link) {
		params = cJSON_CreateObject();
		osp_json_add_uint64(params, "tag", (uint64_t)ig->tag);
		arr = cJSON_AddArrayToObject(params, "initiators");
		for (i = 0; i < ig->nnames; i++) {
			cJSON_AddItemToArray(arr, cJSON_CreateString(ig->names[i]));
		}
		arr = cJSON_AddArrayToObject(params, "netmasks");
		for (i = 0; i < ig->nmasks; i++) {
			cJSON_AddItemToArray(arr, cJSON_CreateString(ig->masks[i]));
		}
		osp_json_add_rpc_call(config, "iscsi_create_initiator_group", params);
	}
	TAILQ_FOREACH(node, &g_iscsi.nodes, link) {
		if (node->removing) {
			continue;
		}
		params = cJSON_CreateObject();
		cJSON_AddStringToObject(params, "name", node->name);
		cJSON_AddStringToObject(params, "alias_name", node->alias);
		arr = cJSON_AddArrayToObject(params, "luns");
		for (lun = osp_scsi_dev_first_lun(node->dev); lun != NULL;
		     lun = osp_scsi_dev_next_lun(node->dev, lun)) {
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "bdev_name", osp_scsi_lun_get_bdev_name(lun));
			osp_json_add_uint64(o, "lun_id", (uint64_t)osp_scsi_lun_get_id(lun));
			cJSON_AddItemToArray(arr, o);
		}
		arr = cJSON_AddArrayToObject(params, "pg_ig_maps");
		for (i = 0; i < node->nmaps; i++) {
			o = cJSON_CreateObject();
			osp_json_add_uint64(o, "pg_tag", (uint64_t)node->maps[i].pg_tag);
			osp_json_add_uint64(o, "ig_tag", (uint64_t)node->maps[i].ig_tag);
			cJSON_AddItemToArray(arr, o);
		}
		osp_json_add_uint64(params, "queue_depth", node->queue_depth);
		cJSON_AddBoolToObject(params, "disable_chap", node->disable_chap);
		cJSON_AddBoolToObject(params, "require_chap", node->require_chap);
		cJSON_AddBoolToObject(params, "mutual_chap", node->mutual_chap);
		osp_json_add_uint64(params, "chap_group", (uint64_t)node->chap_group);
		cJSON_AddBoolToObject(params, "header_digest", node->header_digest);
		cJSON_AddBoolToObject(params, "data_digest", node->data_digest);
		osp_json_add_rpc_call(config, "iscsi_create_target_node", params);
	}
	iscsi_unlock();
}

static struct osp_subsystem g_iscsi_subsystem = {
	.name = "iscsi",
	.init = iscsi_subsystem_init,
	.fini = iscsi_subsystem_fini,
	.write_config_json = iscsi_write_config_json,
};
OSP_SUBSYSTEM_REGISTER(g_iscsi_subsystem)
OSP_SUBSYSTEM_DEPEND(iscsi, bdev)
OSP_SUBSYSTEM_DEPEND(iscsi, sock)
