/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Subsystems: registered at start-up with their dependencies, initialized in
 * dependency order on the app thread and finished in the reverse order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "event_internal.h"
#include "osprey/json.h"
#include "osprey/log.h"

static struct osp_subsystem *g_registered;	/* registration order */
static struct osp_subsystem_depend *g_depends;
static struct osp_subsystem **g_sorted;	/* dependency order */
static size_t g_count;
static size_t g_init_pos;	/* next to initialize */
static size_t g_fini_pos;	/* number still initialized */
static subsystem_done_fn g_done_cb;
static void *g_done_ctx;
static bool g_finishing;

void
osp_add_subsystem(struct osp_subsystem *subsystem)
{
	struct osp_subsystem **p = &g_registered;

	while (*p != NULL) {
		p = &(*p)->next;
	}
	subsystem->next = NULL;
	*p = subsystem;
}

void
osp_add_subsystem_depend(struct osp_subsystem_depend *depend)
{
	depend->next = g_depends;
	g_depends = depend;
}

struct osp_subsystem *
osp_subsystem_find(const char *name)
{
	struct osp_subsystem *s;

	for (s = g_registered; s != NULL && name != NULL; s = s->next) {
		if (strcmp(s->name, name) == 0) {
			return s;
		}
	}
	return NULL;
}

/* Topological sort; registration order breaks ties so the result is stable. */
int
subsystems_sort(void)
{
	struct osp_subsystem *s;
	struct osp_subsystem_depend *d;
	bool *placed;
	size_t n = 0, i, done = 0;
	bool progress;

	if (g_sorted != NULL) {
		return 0;
	}
	for (s = g_registered; s != NULL; s = s->next) {
		n++;
	}
	for (d = g_depends; d != NULL; d = d->next) {
		if (osp_subsystem_find(d->name) == NULL) {
			continue;	/* dependency of a subsystem not linked in */
		}
		if (osp_subsystem_find(d->depends_on) == NULL) {
			OSP_ERRLOG("subsystem %s depends on %s, which is not registered\n",
				   d->name, d->depends_on);
			return -ENOENT;
		}
	}
	g_sorted = calloc(n ? n : 1, sizeof(*g_sorted));
	placed = calloc(n ? n : 1, sizeof(*placed));
	if (g_sorted == NULL || placed == NULL) {
		free(g_sorted);
		free(placed);
		g_sorted = NULL;
		return -ENOMEM;
	}
	do {
		progress = false;
		for (s = g_registered, i = 0; s != NULL; s = s->next, i++) {
			bool ready = true;
			size_t j;

			if (placed[i]) {
				continue;
			}
			for (d = g_depends; d != NULL && ready; d = d->next) {
				if (strcmp(d->name, s->name) != 0) {
					continue;
				}
				ready = false;
				for (j = 0; j < done; j++) {
					if (strcmp(g_sorted[j]->name, d->depends_on) == 0) {
						ready = true;
						break;
					}
				}
			}
			if (ready) {
				g_sorted[done++] = s;
				placed[i] = true;
				progress = true;
			}
		}
	} while (progress && done < n);
	free(placed);
	if (done < n) {
		OSP_ERRLOG("subsystem dependencies form a cycle\n");
		free(g_sorted);
		g_sorted = NULL;
		return -ELOOP;
	}
	g_count = n;
	return 0;
}

struct osp_subsystem *
subsystem_first(void)
{
	return g_count ? g_sorted[0] : NULL;
}

struct osp_subsystem *
subsystem_next(struct osp_subsystem *s)
{
	size_t i;

	for (i = 0; i + 1 < g_count; i++) {
		if (g_sorted[i] == s) {
			return g_sorted[i + 1];
		}
	}
	return NULL;
}

void
osp_subsystem_init_next(int rc)
{
	struct osp_subsystem *s;

	if (rc != 0) {
		OSP_ERRLOG("init of subsystem %s failed: %d\n", g_sorted[g_init_pos - 1]->name, rc);
		g_done_cb(rc, g_done_ctx);
		return;
	}
	if (g_init_pos == g_count) {
		g_done_cb(0, g_done_ctx);
		return;
	}
	s = g_sorted[g_init_pos++];
	g_fini_pos = g_init_pos;
	if (s->init != NULL) {
		s->init();
	} else {
		osp_subsystem_init_next(0);
	}
}

void
subsystems_init(subsystem_done_fn cb, void *ctx)
{
	int rc = subsystems_sort();

	if (rc != 0) {
		cb(rc, ctx);
		return;
	}
	g_done_cb = cb;
	g_done_ctx = ctx;
	g_init_pos = 0;
	osp_subsystem_init_next(0);
}

void
osp_subsystem_fini_next(void)
{
	struct osp_subsystem *s;

	if (g_fini_pos == 0) {
		g_finishing = false;
		g_done_cb(0, g_done_ctx);
		return;
	}
	s = g_sorted[--g_fini_pos];
	if (s->fini != NULL) {
		s->fini();
	} else {
		osp_subsystem_fini_next();
	}
}

void
subsystems_fini(subsystem_done_fn cb, void *ctx)
{
	if (g_finishing) {
		return;
	}
	g_finishing = true;
	g_done_cb = cb;
	g_done_ctx = ctx;
	osp_subsystem_fini_next();
}

void
subsystem_write_config(struct osp_subsystem *s, cJSON *config)
{
	if (s->write_config_json != NULL) {
		s->write_config_json(config);
	}
}

/* {"subsystems": [{"subsystem": name, "config": [...] or null}, ...]} */
cJSON *
subsystems_get_config(void)
{
	cJSON *root = cJSON_CreateObject(), *arr;
	struct osp_subsystem *s;

	if (root == NULL || subsystems_sort() != 0) {
		cJSON_Delete(root);
		return NULL;
	}
	arr = cJSON_AddArrayToObject(root, "subsystems");
	for (s = subsystem_first(); s != NULL; s = subsystem_next(s)) {
		cJSON *entry = cJSON_CreateObject();

		cJSON_AddStringToObject(entry, "subsystem", s->name);
		if (s->write_config_json != NULL) {
			cJSON *cfg = cJSON_AddArrayToObject(entry, "config");

			subsystem_write_config(s, cfg);
		} else {
			cJSON_AddNullToObject(entry, "config");
		}
		cJSON_AddItemToArray(arr, entry);
	}
	return root;
}

cJSON *
subsystem_depends_json(const char *name)
{
	struct osp_subsystem_depend *d;
	cJSON *arr = cJSON_CreateArray();

	for (d = g_depends; d != NULL; d = d->next) {
		if (strcmp(d->name, name) == 0) {
			cJSON_AddItemToArray(arr, cJSON_CreateString(d->depends_on));
		}
	}
	return arr;
}
