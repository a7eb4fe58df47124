/* SPDX-License-Identifier: BSD-3-Clause */
/* Subsystem ordering, init/fini chaining and config output. */
#include <CUnit/Basic.h>

#include "event/subsystem.c"
#include "ut_run.h"

static char g_trace[256];

static void
trace(const char *s)
{
	strncat(g_trace, s, sizeof(g_trace) - strlen(g_trace) - 1);
}

static void init_a(void) { trace("+a"); osp_subsystem_init_next(0); }
static void init_b(void) { trace("+b"); osp_subsystem_init_next(0); }
static void init_c(void) { trace("+c"); osp_subsystem_init_next(0); }
static void fini_a(void) { trace("-a"); osp_subsystem_fini_next(); }
static void fini_b(void) { trace("-b"); osp_subsystem_fini_next(); }
static void fini_c(void) { trace("-c"); osp_subsystem_fini_next(); }

static void
config_b(cJSON *cfg)
{
	cJSON *p = cJSON_CreateObject();

	cJSON_AddStringToObject(p, "name", "x");
	osp_json_add_rpc_call(cfg, "b_create", p);
}

/* Registered in the order c, b, a; c depends on b, b on a. */
static struct osp_subsystem g_c = { .name = "c", .init = init_c, .fini = fini_c };
static struct osp_subsystem g_b = { .name = "b", .init = init_b, .fini = fini_b,
				    .write_config_json = config_b };
static struct osp_subsystem g_a = { .name = "a", .init = init_a, .fini = fini_a };
static struct osp_subsystem_depend g_dep_cb = { .name = "c", .depends_on = "b" };
static struct osp_subsystem_depend g_dep_ba = { .name = "b", .depends_on = "a" };

static int g_done_rc = 99;

static void
done(int rc, void *ctx)
{
	g_done_rc = rc;
}

static void
test_order_init_fini(void)
{
	struct osp_subsystem *s;
	char order[16] = "";

	osp_add_subsystem(&g_c);
	osp_add_subsystem(&g_b);
	osp_add_subsystem(&g_a);
	osp_add_subsystem_depend(&g_dep_cb);
	osp_add_subsystem_depend(&g_dep_ba);
	CU_ASSERT(subsystems_sort() == 0);
	for (s = subsystem_first(); s != NULL; s = subsystem_next(s)) {
		strcat(order, s->name);
	}
	CU_ASSERT_STRING_EQUAL(order, "abc");

	subsystems_init(done, NULL);
	CU_ASSERT(g_done_rc == 0);
	CU_ASSERT_STRING_EQUAL(g_trace, "+a+b+c");
	g_done_rc = 99;
	subsystems_fini(done, NULL);
	CU_ASSERT(g_done_rc == 0);
	CU_ASSERT_STRING_EQUAL(g_trace, "+a+b+c-c-b-a");
}

static void
test_config_json(void)
{
	cJSON *cfg = subsystems_get_config(), *subs, *b;
	char *text;

	CU_ASSERT_FATAL(cfg != NULL);
	subs = cJSON_GetObjectItem(cfg, "subsystems");
	CU_ASSERT(cJSON_GetArraySize(subs) == 3);
	CU_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(subs, 0), "config")));
	b = cJSON_GetArrayItem(subs, 1);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(b, "subsystem")->valuestring, "b");
	text = cJSON_PrintUnformatted(cJSON_GetObjectItem(b, "config"));
	CU_ASSERT_STRING_EQUAL(text, "[{\"method\":\"b_create\",\"params\":{\"name\":\"x\"}}]");
	free(text);
	cJSON_Delete(cfg);
	cfg = subsystem_depends_json("c");
	text = cJSON_PrintUnformatted(cfg);
	CU_ASSERT_STRING_EQUAL(text, "[\"b\"]");
	free(text);
	cJSON_Delete(cfg);
}

static void
test_missing_dependency_and_cycle(void)
{
	static struct osp_subsystem_depend bad = { .name = "a", .depends_on = "nope" };
	static struct osp_subsystem_depend cyc = { .name = "a", .depends_on = "c" };

	free(g_sorted);
	g_sorted = NULL;
	osp_add_subsystem_depend(&bad);
	CU_ASSERT(subsystems_sort() == -ENOENT);
	g_depends = bad.next;	/* drop it again */
	osp_add_subsystem_depend(&cyc);
	CU_ASSERT(subsystems_sort() == -ELOOP);
	g_depends = cyc.next;
	CU_ASSERT(subsystems_sort() == 0);
	free(g_sorted);
	g_sorted = NULL;
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	CU_initialize_registry();
	suite = CU_add_suite("subsystem", NULL, NULL);
	CU_ADD_TEST(suite, test_order_init_fini);
	CU_ADD_TEST(suite, test_config_json);
	CU_ADD_TEST(suite, test_missing_dependency_and_cycle);
	rc = ut_run_suites();
	return rc;
}
