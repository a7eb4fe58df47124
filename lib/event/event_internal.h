/* SPDX-License-Identifier: BSD-3-Clause */
/* Private interfaces between the parts of lib/event. */
#ifndef OSP_EVENT_INTERNAL_H
#define OSP_EVENT_INTERNAL_H

#include "osprey/event.h"
#include "osprey/jsonrpc.h"

/* reactor.c */
int reactors_init(void);
void reactors_fini(void);
void reactors_start(void);
void reactors_stop(void);
uint32_t reactor_current_lcore(void);
void reactor_dump_current(cJSON *array);

/* subsystem.c */
typedef void (*subsystem_done_fn)(int rc, void *ctx);
int subsystems_sort(void);
void subsystems_init(subsystem_done_fn cb, void *ctx);
void subsystems_fini(subsystem_done_fn cb, void *ctx);
struct osp_subsystem *subsystem_first(void);
struct osp_subsystem *subsystem_next(struct osp_subsystem *s);
void subsystem_write_config(struct osp_subsystem *s, cJSON *config);
cJSON *subsystems_get_config(void);
cJSON *subsystem_depends_json(const char *name);

/* app_rpc.c: answer -32602 and return false unless params is absent or empty. */
bool app_rpc_no_params(struct osp_jsonrpc_request *request, const cJSON *params);

/* app.c */
void app_start_init(void (*done)(int rc, void *ctx), void *ctx);
void app_wait_init(void (*done)(void *ctx), void *ctx);

#endif
