/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of lib/util: the NQN check and osp_seterr. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "osprey/nvmf_spec.h"
#include "util/nqn.c"
#include "util/util.c"
#include "osprey/util.h"
#include "ut_run.h"

static void
test_nqn(void)
{
	char buf[300];

	CU_ASSERT(osp_nqn_check(OSP_NVMF_DISCOVERY_NQN, NULL, 0) == 0);
	CU_ASSERT(osp_nqn_check("nqn.2016-06.io.spdk:cnode1", NULL, 0) == 0);
	CU_ASSERT(osp_nqn_check("nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555", NULL, 0) == 0);
	CU_ASSERT(osp_nqn_check("nqn.2024-01.com.example-corp.storage:disk:0", NULL, 0) == 0);
	CU_ASSERT(osp_nqn_check("nqn.2024-01.com.example:\xc3\xa9t\xc3\xa9", NULL, 0) == 0);
	CU_ASSERT(osp_nqn_check(NULL, NULL, 0) != 0);
	CU_ASSERT(osp_nqn_check("", NULL, 0) != 0);
	CU_ASSERT(osp_nqn_check("nqn.2014-08.org.nvmexpress:uuid:1111111-2222-3333-4444-555555555555", NULL, 0) != 0);
	CU_ASSERT(osp_nqn_check("nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-55555555555g", NULL, 0) != 0);
	CU_ASSERT(osp_nqn_check("nqn.2014-08.org.nvmexpress:uuid:", NULL, 0) != 0);
	CU_ASSERT(osp_nqn_check("iqn.2016-06.io.spdk:cnode1", NULL, 0) != 0);
	CU_ASSERT(osp_nqn_check("nqn.16-06.io.spdk:cnode1", NULL, 0) != 0);
	CU_ASSERT(osp_nqn_check("nqn.2016-13.io.spdk:cnode1", NULL, 0) != 0);
	CU_ASSERT(osp_nqn_check("nqn.2016-00.io.spdk:cnode1", NULL, 0) != 0);
	CU_ASSERT(osp_nqn_check("nqn.2016-06.io.spdk", NULL, 0) != 0);
	CU_ASSERT(osp_nqn_check("nqn.2016-06.io.spdk:", NULL, 0) != 0);
	CU_ASSERT(osp_nqn_check("nqn.2016-06.:cnode1", NULL, 0) != 0);
	CU_ASSERT(osp_nqn_check("nqn.2016-06.io..spdk:cnode1", NULL, 0) != 0);
	CU_ASSERT(osp_nqn_check("nqn.2016-06.-io.spdk:cnode1", NULL, 0) != 0);
	CU_ASSERT(osp_nqn_check("nqn.2016-06.io.spdk-:cnode1", NULL, 0) != 0);
	CU_ASSERT(osp_nqn_check("nqn.2016-06.io.sp_dk:cnode1", NULL, 0) != 0);
	CU_ASSERT(osp_nqn_check("nqn.2024-01.com.example:\xc3", NULL, 0) != 0);	   /* truncated */
	CU_ASSERT(osp_nqn_check("nqn.2024-01.com.example:\xc0\xaf", NULL, 0) != 0);	   /* overlong */
	CU_ASSERT(osp_nqn_check("nqn.2024-01.com.example:\xed\xa0\x80", NULL, 0) != 0); /* surrogate */
	CU_ASSERT(osp_nqn_check("nqn.2024-01.com.example:\xff", NULL, 0) != 0);
	/* 223 bytes is the limit. */
	memset(buf, 0, sizeof(buf));
	strcpy(buf, "nqn.2016-06.io.spdk:");
	memset(buf + strlen(buf), 'a', 223 - strlen(buf));
	CU_ASSERT(strlen(buf) == 223 && osp_nqn_check(buf, NULL, 0) == 0);
	buf[223] = 'a';
	CU_ASSERT(osp_nqn_check(buf, NULL, 0) != 0);
}


/* The message says which rule failed; whitespace and control bytes are refused. */
static void
test_nqn_messages(void)
{
	static const struct {
		const char *nqn;
		const char *says;
	} cases[] = {
		{ "", "empty" },
		{ "nqn.2016-06.io.spdk:cnode 1", "space or control character" },
		{ "nqn.2016-06.io.spdk:cnode1\n", "byte 0x0a at offset 26" },
		{ "nqn.2016-06.io.spdk:\tx", "space or control character" },
		{ "nqn.2016-06.io.spdk:x\x7f", "control character" },
		{ "nqn.2016-06.io.spdk:\xff", "not valid UTF-8" },
		{ "iqn.2016-06.io.spdk:cnode1", "does not start with 'nqn.'" },
		{ "nqn.2016-13.io.spdk:cnode1", "year and month" },
		{ "nqn.2016-06.io.sp_dk:cnode1", "reverse domain name" },
		{ "nqn.2014-08.org.nvmexpress:uuid:nope", "expected a UUID" },
	};
	char err[256], big[1000];
	size_t i;

	for (i = 0; i < OSP_COUNTOF(cases); i++) {
		err[0] = '\0';
		CU_ASSERT(osp_nqn_check(cases[i].nqn, err, sizeof(err)) == -EINVAL);
		if (strstr(err, cases[i].says) == NULL) {
			fprintf(stderr, "\n  %s: got '%s'\n", cases[i].says, err);
			CU_FAIL("message");
		}
		/* Bytes that could break a log line or a JSON answer are not echoed. */
		CU_ASSERT(strchr(err, '\n') == NULL && strchr(err, '\t') == NULL);
	}
	CU_ASSERT(osp_nqn_check(NULL, err, sizeof(err)) == -EINVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "nqn.2016-06.io.spdk:", 20);
	CU_ASSERT(osp_nqn_check(big, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "999 bytes long, the limit is 223") != NULL);
	/* err may be NULL or tiny. */
	CU_ASSERT(osp_nqn_check("x", NULL, 0) == -EINVAL);
	CU_ASSERT(osp_nqn_check("x", err, 1) == -EINVAL && err[0] == '\0');
}

static void
test_seterr(void)
{
	char err[8];

	osp_seterr(NULL, 0, "%s", "nothing");
	osp_seterr(err, 0, "%s", "nothing");
	osp_seterr(err, sizeof(err), "%d-%s", 42, "truncated");
	CU_ASSERT_STRING_EQUAL(err, "42-trun");
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	CU_initialize_registry();
	suite = CU_add_suite("util", NULL, NULL);
	CU_ADD_TEST(suite, test_nqn);
	CU_ADD_TEST(suite, test_nqn_messages);
	CU_ADD_TEST(suite, test_seterr);
	rc = ut_run_suites();
	return rc;
}
