/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The app life cycle: options, env and reactors, the app thread, the RPC
 * server, the JSON configuration, subsystems and an orderly shutdown on
 * SIGINT / SIGTERM or osp_app_stop().
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event_internal.h"
#include "osprey/json.h"
#include "osprey/rpc.h"
#include "osprey/util.h"

OSP_LOG_REGISTER_COMPONENT(app)

struct app_state {
	struct osp_app_opts opts;
	osp_msg_fn start_fn;
	void *start_ctx;
	struct osp_thread *app_thread;
	/* With --pci: delivers the env's hot-remove events to their drivers. */
	struct osp_poller *pci_poller;
	int rc;
	bool initialized;
	bool init_started;
	bool shutdown_started;
	bool shutdown_pending;	/* signal arrived during start-up */
	/* JSON configuration being replayed. */
	cJSON *config_root;
	cJSON *config_calls;	/* flat array of {"method","params","_done"} */
	/* framework_wait_init callers. */
	struct init_waiter *waiters;
	void (*init_done)(int rc, void *ctx);
	void *init_done_ctx;
};

struct init_waiter {
	void (*fn)(void *ctx);
	void *ctx;
	struct init_waiter *next;
};

static struct app_state g_app;
static volatile sig_atomic_t g_signal_count;

void
osp_app_opts_init(struct osp_app_opts *opts, size_t opts_size)
{
	memset(opts, 0, opts_size);
	opts->opts_size = opts_size;
	opts->name = "osprey";
	opts->rpc_addr = OSP_DEFAULT_RPC_ADDR;
	opts->reactor_mask = "0x1";
	opts->main_core = -1;
	opts->shm_id = -1;
	opts->print_level = OSP_LOG_NOTICE;
}

const char *
osp_app_get_name(void)
{
	return g_app.opts.name;
}

bool
osp_app_is_initialized(void)
{
	return g_app.initialized;
}

/* ---- options ---- */

#define APP_OPT_JSON		256
#define APP_OPT_WAIT_FOR_RPC	257
#define APP_OPT_NO_HUGE		258
#define APP_OPT_POLLING		259
#define APP_OPT_SILENCE		260
#define APP_OPT_PCI		261
#define APP_PCI_LIST_MAX	16

/* The -A / -B arguments (pointers into argv): no allocation to free. */
static const char *g_pci_allowed[APP_PCI_LIST_MAX];
static const char *g_pci_blocked[APP_PCI_LIST_MAX];

static const struct option g_common_long_opts[] = {
	{"cpumask", required_argument, NULL, 'm'},
	{"rpc-socket", required_argument, NULL, 'r'},
	{"config", required_argument, NULL, 'c'},
	{"json", required_argument, NULL, APP_OPT_JSON},
	{"wait-for-rpc", no_argument, NULL, APP_OPT_WAIT_FOR_RPC},
	{"mem-size", required_argument, NULL, 's'},
	{"no-huge", no_argument, NULL, APP_OPT_NO_HUGE},
	{"logflag", required_argument, NULL, 'L'},
	{"shm-id", required_argument, NULL, 'i'},
	{"main-core", required_argument, NULL, 'p'},
	{"polling", no_argument, NULL, APP_OPT_POLLING},
	{"silence-noticelog", no_argument, NULL, APP_OPT_SILENCE},
	{"pci", no_argument, NULL, APP_OPT_PCI},
	{"pci-allowed", required_argument, NULL, 'A'},
	{"pci-blocked", required_argument, NULL, 'B'},
	{"help", no_argument, NULL, 'h'},
};
static const char g_common_opts[] = "m:r:c:s:L:i:p:A:a:B:h";

void
osp_app_usage(void)
{
	struct osp_log_flag *f;

	printf("options:\n");
	printf(" -m, --cpumask <mask|list>  core mask (0x3) or list ([0-1]) for reactors (default 0x1)\n");
	printf(" -p, --main-core <id>       main reactor core (default: first core of the mask)\n");
	printf(" -r, --rpc-socket <path>    RPC listen address (default %s)\n", OSP_DEFAULT_RPC_ADDR);
	printf(" -c, --config <file>        JSON configuration file (same as --json)\n");
	printf("     --json <file>          JSON configuration file\n");
	printf("     --wait-for-rpc         wait for framework_start_init before initializing subsystems\n");
	printf(" -s, --mem-size <MiB>       memory to reserve for DMA buffers\n");
	printf("     --no-huge              do not use hugepages even if some are free\n");
	printf(" -i, --shm-id <id>          shared memory id (makes the DPDK file prefix unique)\n");
	printf("     --polling              poll all the time (never sleep when idle)\n");
	printf("     --pci                  enable the PCI bus (NVMe devices)\n");
	printf(" -A, --pci-allowed <bdf>    use only this PCI device (repeatable, implies --pci; -a too)\n");
	printf(" -B, --pci-blocked <bdf>    never use this PCI device (repeatable, implies --pci)\n");
	printf("     --silence-noticelog    print only warnings and errors to stderr\n");
	printf(" -L, --logflag <flag>       enable a debug log flag (or 'all'):");
	for (f = osp_log_get_first_flag(); f != NULL; f = osp_log_get_next_flag(f)) {
		printf(" %s", f->name);
	}
	printf("\n -h, --help                 this help\n");
}

enum osp_app_parse_args_rvals
osp_app_parse_args(int argc, char **argv, struct osp_app_opts *opts, const char *app_getopt_str,
		   const struct option *app_long_opts, int (*app_parse)(int ch, char *arg),
		   void (*app_usage)(void))
{
	size_t n_common = OSP_COUNTOF(g_common_long_opts), n_app = 0, i;
	struct option *longopts;
	char *optstr;
	uint64_t v;
	int ch, idx;
	enum osp_app_parse_args_rvals rv = OSP_APP_PARSE_ARGS_SUCCESS;

	while (app_long_opts != NULL && app_long_opts[n_app].name != NULL) {
		n_app++;
	}
	longopts = calloc(n_common + n_app + 1, sizeof(*longopts));
	optstr = osp_sprintf_alloc("%s%s", g_common_opts, app_getopt_str ? app_getopt_str : "");
	if (longopts == NULL || optstr == NULL) {
		free(longopts);
		free(optstr);
		return OSP_APP_PARSE_ARGS_FAIL;
	}
	memcpy(longopts, g_common_long_opts, sizeof(g_common_long_opts));
	for (i = 0; i < n_app; i++) {
		longopts[n_common + i] = app_long_opts[i];
	}
	opts->name = opts->name ? opts->name : argv[0];
	optind = 1;
	while (rv == OSP_APP_PARSE_ARGS_SUCCESS &&
	       (ch = getopt_long(argc, argv, optstr, longopts, &idx)) != -1) {
		switch (ch) {
		case 'm':
			opts->reactor_mask = optarg;
			break;
		case 'r':
			opts->rpc_addr = optarg;
			break;
		case 'c':
		case APP_OPT_JSON:
			opts->json_config_file = optarg;
			break;
		case APP_OPT_WAIT_FOR_RPC:
			opts->delay_subsystem_init = true;
			break;
		case 's':
			if (osp_parse_capacity(optarg, &v) != 0 || v == 0 || v > (1ULL << 20)) {
				fprintf(stderr, "invalid memory size '%s' (MiB, e.g. -s 1024)\n", optarg);
				rv = OSP_APP_PARSE_ARGS_FAIL;
				break;
			}
			/* A bare number is MiB; "1G" style values are bytes. */
			opts->mem_size = (int)(v >= (1ULL << 20) ? v >> 20 : v);
			break;
		case APP_OPT_NO_HUGE:
			opts->no_huge = true;
			break;
		case 'L':
			if (osp_log_set_flag(optarg) != 0) {
				fprintf(stderr, "unknown log flag '%s' (see -h for the list)\n", optarg);
				rv = OSP_APP_PARSE_ARGS_FAIL;
				break;
			}
			opts->print_level = OSP_LOG_DEBUG;
			break;
		case 'i':
			if (osp_parse_u64(optarg, 10, &v) != 0 || v > 65535) {
				fprintf(stderr, "invalid shm id '%s'\n", optarg);
				rv = OSP_APP_PARSE_ARGS_FAIL;
				break;
			}
			opts->shm_id = (int)v;
			break;
		case 'p':
			if (osp_parse_u64(optarg, 10, &v) != 0 || v > 1023) {
				fprintf(stderr, "invalid main core '%s'\n", optarg);
				rv = OSP_APP_PARSE_ARGS_FAIL;
				break;
			}
			opts->main_core = (int)v;
			break;
		case APP_OPT_POLLING:
			opts->polling = true;
			break;
		case APP_OPT_SILENCE:
			opts->print_level = OSP_LOG_WARN;
			break;
		case APP_OPT_PCI:
			opts->pci_enabled = true;
			break;
		case 'A':
		case 'a':
		case 'B': {
			bool allow = ch != 'B';
			const char **list = allow ? g_pci_allowed : g_pci_blocked;
			size_t *n = allow ? &opts->num_pci_allowed : &opts->num_pci_blocked;
			struct osp_pci_addr a;

			if (osp_pci_addr_parse(&a, optarg) != 0) {
				fprintf(stderr, "invalid PCI address '%s' (expected 0000:00:04.0)\n", optarg);
				rv = OSP_APP_PARSE_ARGS_FAIL;
				break;
			}
			if (*n >= APP_PCI_LIST_MAX) {
				fprintf(stderr, "at most %d PCI addresses with -%c\n", APP_PCI_LIST_MAX, ch);
				rv = OSP_APP_PARSE_ARGS_FAIL;
				break;
			}
			list[(*n)++] = optarg;
			if (allow) {
				opts->pci_allowed = g_pci_allowed;
			} else {
				opts->pci_blocked = g_pci_blocked;
			}
			opts->pci_enabled = true;
			break;
		}
		case 'h':
			printf("%s [options]\n", argv[0]);
			osp_app_usage();
			if (app_usage != NULL) {
				app_usage();
			}
			rv = OSP_APP_PARSE_ARGS_HELP;
			break;
		case '?':
			fprintf(stderr, "see %s -h\n", argv[0]);
			rv = OSP_APP_PARSE_ARGS_FAIL;
			break;
		default:
			if (app_parse == NULL || app_parse(ch, optarg) != 0) {
				fprintf(stderr, "see %s -h\n", argv[0]);
				rv = OSP_APP_PARSE_ARGS_FAIL;
			}
			break;
		}
	}
	if (rv == OSP_APP_PARSE_ARGS_SUCCESS && optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s' (see -h)\n", argv[0], argv[optind]);
		rv = OSP_APP_PARSE_ARGS_FAIL;
	}
	free(longopts);
	free(optstr);
	return rv;
}

/* ---- JSON configuration ---- */

/*
 * Check the file's shape and flatten it into a list of calls in file order.
 * Returns 0 or -EINVAL after logging what is wrong.
 */
static int
config_parse(const char *path)
{
	cJSON *subs, *sub, *calls;
	size_t len;
	char *text;

	text = osp_json_read_file(path, &len);
	if (text == NULL) {
		OSP_ERRLOG("cannot read JSON config %s: %s\n", path, strerror(errno));
		return -errno ? -errno : -EIO;
	}
	g_app.config_root = osp_json_parse(text, len);
	free(text);
	if (g_app.config_root == NULL) {
		OSP_ERRLOG("JSON config %s is not valid JSON\n", path);
		return -EINVAL;
	}
	subs = cJSON_GetObjectItemCaseSensitive(g_app.config_root, "subsystems");
	if (!cJSON_IsObject(g_app.config_root) || !cJSON_IsArray(subs)) {
		OSP_ERRLOG("JSON config %s: expected {\"subsystems\": [...]}\n", path);
		return -EINVAL;
	}
	calls = cJSON_CreateArray();
	g_app.config_calls = calls;
	cJSON_ArrayForEach(sub, subs) {
		cJSON *name = cJSON_GetObjectItemCaseSensitive(sub, "subsystem");
		cJSON *cfg = cJSON_GetObjectItemCaseSensitive(sub, "config");
		cJSON *call;

		if (!cJSON_IsObject(sub) || !cJSON_IsString(name)) {
			OSP_ERRLOG("JSON config %s: each subsystem entry needs a \"subsystem\" name\n", path);
			return -EINVAL;
		}
		if (cfg == NULL || cJSON_IsNull(cfg)) {
			continue;
		}
		if (!cJSON_IsArray(cfg)) {
			OSP_ERRLOG("JSON config %s: \"config\" of subsystem %s must be an array or null\n",
				   path, name->valuestring);
			return -EINVAL;
		}
		cJSON_ArrayForEach(call, cfg) {
			cJSON *method = cJSON_GetObjectItemCaseSensitive(call, "method");
			cJSON *params = cJSON_GetObjectItemCaseSensitive(call, "params");
			cJSON *entry;

			if (!cJSON_IsObject(call) || !cJSON_IsString(method) ||
			    (params != NULL && !cJSON_IsObject(params) && !cJSON_IsArray(params) &&
			     !cJSON_IsNull(params))) {
				OSP_ERRLOG("JSON config %s: subsystem %s: each entry needs a \"method\" "
					   "string and optional \"params\" object\n", path,
					   name->valuestring);
				return -EINVAL;
			}
			entry = cJSON_CreateObject();
			cJSON_AddStringToObject(entry, "method", method->valuestring);
			if (params != NULL && !cJSON_IsNull(params)) {
				cJSON_AddItemToObject(entry, "params", cJSON_Duplicate(params, 1));
			}
			cJSON_AddBoolToObject(entry, "_done", false);
			cJSON_AddItemToArray(calls, entry);
		}
	}
	return 0;
}

struct config_run {
	uint32_t state;
	int idx;
	void (*done)(int rc);
};

static void config_run_next(void *arg);

static void
config_call_done(void *arg, const cJSON *response)
{
	struct config_run *run = arg;
	cJSON *entry = cJSON_GetArrayItem(g_app.config_calls, run->idx);
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(response, "error");

	if (err != NULL) {
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");

		OSP_ERRLOG("JSON config: %s failed: %s\n",
			   cJSON_GetObjectItemCaseSensitive(entry, "method")->valuestring,
			   cJSON_IsString(msg) ? msg->valuestring : "unknown error");
		run->done(-EINVAL);
		free(run);
		return;
	}
	run->idx++;
	/* Continue from a message so that long configs never grow the stack. */
	if (osp_thread_send_msg(g_app.app_thread, config_run_next, run) != 0) {
		run->done(-EIO);	/* the app thread exited under us */
		free(run);
	}
}

static void
config_run_next(void *arg)
{
	struct config_run *run = arg;
	int n = cJSON_GetArraySize(g_app.config_calls);

	for (; run->idx < n; run->idx++) {
		cJSON *entry = cJSON_GetArrayItem(g_app.config_calls, run->idx);
		cJSON *done = cJSON_GetObjectItemCaseSensitive(entry, "_done");
		const char *method = cJSON_GetObjectItemCaseSensitive(entry, "method")->valuestring;
		int allowed;

		if (cJSON_IsTrue(done)) {
			continue;
		}
		allowed = osp_rpc_is_method_allowed(method, run->state);
		if (allowed == -ENOENT) {
			OSP_ERRLOG("JSON config: unknown method '%s'\n", method);
			run->done(-EINVAL);
			free(run);
			return;
		}
		if (allowed != 0) {
			if (run->state == OSP_RPC_RUNTIME) {
				OSP_ERRLOG("JSON config: method '%s' cannot run after start-up\n", method);
				run->done(-EINVAL);
				free(run);
				return;
			}
			continue;	/* a runtime method: the second pass runs it */
		}
		cJSON_ReplaceItemInObjectCaseSensitive(entry, "_done", cJSON_CreateTrue());
		if (osp_rpc_call(method, cJSON_GetObjectItemCaseSensitive(entry, "params"),
				 config_call_done, run) != 0) {
			run->done(-ENOMEM);
			free(run);
		}
		return;
	}
	run->done(0);
	free(run);
}

static void
config_run(uint32_t state, void (*done)(int rc))
{
	struct config_run *run;

	if (g_app.config_calls == NULL) {
		done(0);
		return;
	}
	run = calloc(1, sizeof(*run));
	if (run == NULL) {
		done(-ENOMEM);
		return;
	}
	run->state = state;
	run->done = done;
	config_run_next(run);
}

/* ---- start-up ---- */

static void app_shutdown(void *arg);

static void
app_init_finished(int rc)
{
	struct init_waiter *w;
	void (*done)(int, void *) = g_app.init_done;

	cJSON_Delete(g_app.config_root);
	cJSON_Delete(g_app.config_calls);
	g_app.config_root = NULL;
	g_app.config_calls = NULL;
	g_app.init_done = NULL;
	if (rc == 0) {
		g_app.initialized = true;
		while ((w = g_app.waiters) != NULL) {
			g_app.waiters = w->next;
			w->fn(w->ctx);
			free(w);
		}
		if (g_app.start_fn != NULL) {
			g_app.start_fn(g_app.start_ctx);
		}
	}
	if (done != NULL) {
		done(rc, g_app.init_done_ctx);
	}
	if (rc != 0) {
		OSP_ERRLOG("initialization failed; shutting down\n");
		osp_app_stop(rc);
	} else if (g_app.shutdown_pending) {
		app_shutdown(NULL);
	}
}

static void
app_subsystems_ready(int rc, void *ctx)
{
	if (rc != 0) {
		app_init_finished(rc);
		return;
	}
	osp_rpc_set_state(OSP_RPC_RUNTIME);
	config_run(OSP_RPC_RUNTIME, app_init_finished);
}

void
app_start_init(void (*done)(int rc, void *ctx), void *ctx)
{
	if (g_app.init_started) {
		done(-EALREADY, ctx);
		return;
	}
	g_app.init_started = true;
	g_app.init_done = done;
	g_app.init_done_ctx = ctx;
	subsystems_init(app_subsystems_ready, NULL);
}

void
app_wait_init(void (*done)(void *ctx), void *ctx)
{
	struct init_waiter *w;

	if (g_app.initialized) {
		done(ctx);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		done(ctx);
		return;
	}
	w->fn = done;
	w->ctx = ctx;
	w->next = g_app.waiters;
	g_app.waiters = w;
}

static void
app_startup_config_done(int rc)
{
	if (rc != 0) {
		app_init_finished(rc);
		return;
	}
	if (g_app.opts.delay_subsystem_init) {
		OSP_NOTICELOG("waiting for framework_start_init over RPC\n");
		if (g_app.shutdown_pending) {
			app_shutdown(NULL);
		}
		return;
	}
	app_start_init(NULL, NULL);
}

/*
 * Hot remove: the env flags a removed device at once (its interrupt thread)
 * and calls the device's driver back from osp_pci_event_poll(), on this (the
 * app) thread. A timed poller: the reactor still sleeps between its runs; a
 * removal reaches its driver's callback within APP_PCI_EVENT_POLL_US (the
 * drivers' own pollers see the flag earlier, through
 * osp_pci_device_is_removed()).
 */
#define APP_PCI_EVENT_POLL_US 100000

static int
app_pci_event_poll(void *arg)
{
	return osp_pci_event_poll() > 0 ? OSP_POLLER_BUSY : OSP_POLLER_IDLE;
}

static void
app_bootstrap(void *arg)
{
	int rc;

	osp_rpc_set_state(OSP_RPC_STARTUP);
	if (g_app.opts.pci_enabled) {
		g_app.pci_poller = OSP_POLLER_REGISTER(app_pci_event_poll, NULL,
						       APP_PCI_EVENT_POLL_US);
		if (g_app.pci_poller == NULL) {
			OSP_ERRLOG("cannot register the PCI hot-remove poller\n");
			osp_app_stop(-ENOMEM);
			return;
		}
	}
	if (g_app.opts.rpc_addr != NULL) {
		rc = osp_rpc_listen(g_app.opts.rpc_addr);
		if (rc != 0) {
			OSP_ERRLOG("cannot listen on RPC socket %s: %s\n", g_app.opts.rpc_addr,
				   strerror(-rc));
			osp_app_stop(rc);
			return;
		}
	}
	if (g_app.opts.json_config_file != NULL) {
		rc = config_parse(g_app.opts.json_config_file);
		if (rc != 0) {
			osp_app_stop(rc);
			return;
		}
	}
	config_run(OSP_RPC_STARTUP, app_startup_config_done);
}

/* ---- shutdown ---- */

static void
app_subsystems_finished(int rc, void *ctx)
{
	osp_poller_unregister(&g_app.pci_poller);
	osp_rpc_close();
	reactors_stop();
}

static void
app_shutdown(void *arg)
{
	if (g_app.shutdown_started) {
		return;
	}
	if (g_app.init_started && !g_app.initialized && g_app.rc == 0) {
		/* Let subsystem init finish first: fini must not race with init. */
		g_app.shutdown_pending = true;
		return;
	}
	g_app.shutdown_started = true;
	OSP_NOTICELOG("shutting down\n");
	subsystems_fini(app_subsystems_finished, NULL);
}

static void
app_signal_handler(int signo)
{
	g_signal_count++;
	if (g_app.app_thread != NULL) {
		osp_thread_send_critical_msg(g_app.app_thread, app_shutdown);
	}
}

void
osp_app_start_shutdown(void)
{
	if (g_app.app_thread == NULL) {
		return;
	}
	if (osp_get_thread() == g_app.app_thread) {
		app_shutdown(NULL);
	} else {
		osp_thread_send_critical_msg(g_app.app_thread, app_shutdown);
	}
}

static void
app_stop_msg(void *arg)
{
	if (g_app.init_started && !g_app.initialized) {
		/* Failed start-up: nothing half-initialized must be kept. */
		g_app.shutdown_pending = false;
	}
	if (!g_app.shutdown_started) {
		g_app.shutdown_started = true;
		subsystems_fini(app_subsystems_finished, NULL);
	}
}

void
osp_app_stop(int rc)
{
	if (rc != 0 && g_app.rc == 0) {
		g_app.rc = rc;
	}
	if (g_app.app_thread == NULL) {
		return;
	}
	if (osp_get_thread() == g_app.app_thread) {
		app_stop_msg(NULL);
	} else {
		osp_thread_send_msg(g_app.app_thread, app_stop_msg, NULL);
	}
}

static int
app_setup_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = app_signal_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
		return -errno;
	}
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

int
osp_app_start(struct osp_app_opts *opts, osp_msg_fn start_fn, void *ctx)
{
	struct osp_env_opts env_opts;
	struct osp_cpuset main_mask;
	int rc;

	if (opts == NULL) {
		return -EINVAL;
	}
	memset(&g_app, 0, sizeof(g_app));
	memcpy(&g_app.opts, opts, OSP_MIN(opts->opts_size, sizeof(g_app.opts)));
	g_app.start_fn = start_fn;
	g_app.start_ctx = ctx;
	osp_log_set_print_level(opts->print_level);
	osp_log_open(NULL);

	osp_env_opts_init(&env_opts);
	env_opts.name = opts->name;
	env_opts.core_mask = opts->reactor_mask;
	env_opts.mem_size_mb = opts->mem_size;
	env_opts.shm_id = opts->shm_id;
	env_opts.no_huge = opts->no_huge;
	env_opts.pci_enabled = opts->pci_enabled;
	if (opts->opts_size >= sizeof(*opts)) {
		env_opts.pci_allowed = opts->pci_allowed;
		env_opts.num_pci_allowed = opts->num_pci_allowed;
		env_opts.pci_blocked = opts->pci_blocked;
		env_opts.num_pci_blocked = opts->num_pci_blocked;
	}
	env_opts.main_core = opts->main_core;
	rc = osp_env_init(&env_opts);
	if (rc != 0) {
		OSP_ERRLOG("environment initialization failed: %s\n", strerror(-rc));
		return rc;
	}
	osp_reactor_set_interrupt_mode(!opts->polling);
	rc = reactors_init();
	if (rc != 0) {
		return rc;
	}
	rc = subsystems_sort();
	if (rc != 0) {
		reactors_fini();
		return rc;
	}
	osp_cpuset_zero(&main_mask);
	osp_cpuset_set_cpu(&main_mask, osp_env_get_main_core(), true);
	g_app.app_thread = osp_thread_create("app_thread", &main_mask);
	if (g_app.app_thread == NULL) {
		OSP_ERRLOG("cannot create the app thread\n");
		reactors_fini();
		return -ENOMEM;
	}
	rc = app_setup_signals();
	if (rc == 0) {
		rc = osp_thread_send_msg(g_app.app_thread, app_bootstrap, NULL);
	}
	if (rc != 0) {
		reactors_fini();
		return rc;
	}
	OSP_NOTICELOG("%s: %u reactor(s), %s memory, %s mode\n", opts->name,
		      osp_env_get_core_count(), osp_env_uses_hugepages() ? "hugepage" : "no-huge",
		      opts->polling ? "polling" : "interrupt-when-idle");
	reactors_start();
	g_app.app_thread = NULL;
	return g_app.rc;
}

void
osp_app_fini(void)
{
	reactors_fini();
	osp_log_close();
	osp_env_fini();
}
