/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Osprey application framework: reactors (one pinned OS thread per core that
 * runs osp_threads), cross-reactor events, subsystems and the app life cycle
 * (options, JSON configuration, RPC server, signals, orderly shutdown).
 */
#ifndef OSPREY_EVENT_H
#define OSPREY_EVENT_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "osprey/env.h"
#include "osprey/log.h"
#include "osprey/thread.h"

#ifdef __cplusplus
extern "C" {
#endif

struct osp_app_opts {
	/* Set by osp_app_opts_init(). */
	size_t opts_size;
	/* Application name (EAL process name, log prefix). */
	const char *name;
	/* JSON configuration file loaded at start (-c / --json). */
	const char *json_config_file;
	/* RPC socket path (-r, default OSP_DEFAULT_RPC_ADDR); NULL disables RPC. */
	const char *rpc_addr;
	/* Core mask or list (-m, default "0x1"). */
	const char *reactor_mask;
	/* Main core (-p); -1 = first core of the mask. */
	int main_core;
	/* Shared memory id (-i); -1 = per process. */
	int shm_id;
	/* Memory size in MiB (-s); 0 = default. */
	int mem_size;
	/* --no-huge: never use hugepages. */
	bool no_huge;
	/* --wait-for-rpc: do not initialize subsystems until framework_start_init. */
	bool delay_subsystem_init;
	/* --polling: reactors never sleep. */
	bool polling;
	/* --pci: enable the PCI bus. */
	bool pci_enabled;
	/* Level printed to stderr. */
	enum osp_log_level print_level;
	/* -A/-a/--pci-allowed BDF (repeatable; implies --pci): only these devices. */
	const char **pci_allowed;
	size_t num_pci_allowed;
	/* -B/--pci-blocked BDF (repeatable; implies --pci): never these devices. */
	const char **pci_blocked;
	size_t num_pci_blocked;
};

enum osp_app_parse_args_rvals {
	OSP_APP_PARSE_ARGS_HELP = 0,
	OSP_APP_PARSE_ARGS_SUCCESS = 1,
	OSP_APP_PARSE_ARGS_FAIL = 2,
};

void osp_app_opts_init(struct osp_app_opts *opts, size_t opts_size);

/*
 * Parse the common options plus the app's own (app_getopt_str and
 * app_long_opts, passed to app_parse one at a time). Prints usage for -h.
 */
enum osp_app_parse_args_rvals osp_app_parse_args(int argc, char **argv,
		struct osp_app_opts *opts, const char *app_getopt_str,
		const struct option *app_long_opts, int (*app_parse)(int ch, char *arg),
		void (*app_usage)(void));
void osp_app_usage(void);

/*
 * Start the framework: env, reactors, the app thread, the RPC server,
 * subsystems and the JSON config; then start_fn(ctx) runs on the app thread.
 * Blocks until osp_app_stop() and returns its rc (or a negative errno if
 * start-up failed).
 */
int osp_app_start(struct osp_app_opts *opts, osp_msg_fn start_fn, void *ctx);
/* Begin an orderly shutdown (same as SIGINT). Any thread. */
void osp_app_start_shutdown(void);
/* End the app with rc once shutdown completed (from the app thread). */
void osp_app_stop(int rc);
/* Release what osp_app_start() set up (after it returned). */
void osp_app_fini(void);
/* True once subsystems are initialized and the JSON config is loaded. */
bool osp_app_is_initialized(void);
const char *osp_app_get_name(void);
/*
 * Print "<app name>: ready, RPC socket <path>" and then one
 * "<app name>: serving <subsystem>: <method> <name>" line per object the
 * loaded configuration creates. For a daemon's start_fn (app thread).
 */
void osp_app_print_ready(void);

/* ---- reactors and events ---- */

typedef void (*osp_event_fn)(void *arg1, void *arg2);
struct osp_event;

/* Allocate an event to run fn(arg1, arg2) on reactor lcore. NULL on ENOMEM. */
struct osp_event *osp_event_allocate(uint32_t lcore, osp_event_fn fn, void *arg1, void *arg2);
/* Send it (any OS thread). */
void osp_event_call(struct osp_event *event);
/*
 * Run fn on every reactor in turn, then cpl on the calling reactor. Cannot
 * fail: running out of memory or events here aborts (cpl is a continuation
 * that must not be lost).
 */
void osp_for_each_reactor(osp_event_fn fn, void *arg1, void *arg2, osp_event_fn cpl);
/* Whether reactors may sleep when idle (default yes, --polling disables). */
void osp_reactor_set_interrupt_mode(bool enabled);
bool osp_reactor_get_interrupt_mode(void);

/* ---- subsystems ---- */

struct osp_subsystem {
	const char *name;
	/* Initialize; call osp_subsystem_init_next(rc) when done. May be NULL. */
	void (*init)(void);
	/* Tear down; call osp_subsystem_fini_next() when done. May be NULL. */
	void (*fini)(void);
	/* Append {"method","params"} objects that rebuild the current state. */
	void (*write_config_json)(cJSON *config);
	struct osp_subsystem *next;
};

struct osp_subsystem_depend {
	const char *name;
	const char *depends_on;
	struct osp_subsystem_depend *next;
};

void osp_add_subsystem(struct osp_subsystem *subsystem);
void osp_add_subsystem_depend(struct osp_subsystem_depend *depend);
void osp_subsystem_init_next(int rc);
void osp_subsystem_fini_next(void);
struct osp_subsystem *osp_subsystem_find(const char *name);

#define OSP_SUBSYSTEM_REGISTER(_s) \
	__attribute__((constructor)) static void osp_subsystem_register_##_s(void) \
	{ osp_add_subsystem(&_s); }

#define OSP_SUBSYSTEM_DEPEND(_name, _depends_on) \
	static struct osp_subsystem_depend __subsystem_##_name##_depends_on_##_depends_on = { \
		.name = #_name, .depends_on = #_depends_on, }; \
	__attribute__((constructor)) static void \
	osp_subsystem_depend_##_name##_depends_on_##_depends_on(void) \
	{ osp_add_subsystem_depend(&__subsystem_##_name##_depends_on_##_depends_on); }

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_EVENT_H */
