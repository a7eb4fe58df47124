/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of app/common/initiator.c: the initiator tools' connection options. */
#include <CUnit/Basic.h>
#include <string.h>

#include "osprey/log.h"

#include "common/initiator.c"
#include "ut_run.h"

#define TRID "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420 subnqn:nqn.2016-06.io.spdk:cnode1"

/* Run argv through getopt_long as the tools do; returns the first parse error or 0. */
static int
parse_argv(struct osp_tool_initiator_opts *o, uint32_t max_trids, int argc, char **argv)
{
	static const struct option longopts[] = {
		OSP_TOOL_INITIATOR_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	int ch, rc;

	osp_tool_initiator_opts_init(o, max_trids);
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, OSP_TOOL_INITIATOR_SHORTOPTS "x", longopts,
				 NULL)) != -1) {
		rc = osp_tool_initiator_parse(o, ch, optarg);
		if (rc < 0) {
			return rc;
		}
		if (rc == 1 && ch != 'x') {
			return -ENOENT;
		}
	}
	return 0;
}

#define ARGV(...) (char *[]){"tool", __VA_ARGS__, NULL}
#define ARGC(...) ((int)(sizeof((char *[]){"tool", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(o, max, ...) parse_argv(o, max, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

static void
test_spdk_letters(void)
{
	struct osp_tool_initiator_opts o;
	struct osp_nvme_ctrlr_opts c;

	CU_ASSERT_EQUAL(PARSE(&o, 16, "-r", TRID, "-H", "-I", "-k", "2000", "-x"), 0);
	CU_ASSERT_EQUAL(o.num_trids, 1);
	CU_ASSERT_STRING_EQUAL(o.trids[0].traddr, "127.0.0.1");
	CU_ASSERT_STRING_EQUAL(o.trids[0].subnqn, "nqn.2016-06.io.spdk:cnode1");
	CU_ASSERT_STRING_EQUAL(o.trid_strs[0], TRID);
	CU_ASSERT(o.header_digest && o.data_digest && o.kato_set);
	CU_ASSERT_EQUAL(o.kato_ms, 2000);

	osp_nvme_ctrlr_opts_init(&c, sizeof(c));
	osp_tool_initiator_apply(&o, &c);
	CU_ASSERT(c.header_digest && c.data_digest);
	CU_ASSERT_EQUAL(c.keep_alive_timeout_ms, 2000);
	CU_ASSERT_EQUAL(c.io_queue_size, 128);
	CU_ASSERT_FALSE(c.disable_sq_flow_control);
}

static void
test_long_aliases(void)
{
	struct osp_tool_initiator_opts o;
	struct osp_nvme_ctrlr_opts c;
	char hostnqn[] = "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555";

	/* SPDK's long names and the names the tools had before. */
	CU_ASSERT_EQUAL(PARSE(&o, 16, "--transport", TRID, "--enable-tcp-hdgst", "--ddgst",
			      "--keep-alive-ms", "3000", "--hostnqn", hostnqn, "--io-queue-size",
			      "64", "--disable-sq-fc"), 0);
	CU_ASSERT(o.header_digest && o.data_digest);
	CU_ASSERT_EQUAL(o.kato_ms, 3000);
	CU_ASSERT_STRING_EQUAL(o.hostnqn, hostnqn);
	CU_ASSERT_EQUAL(o.io_queue_size, 64);
	CU_ASSERT(o.disable_sq_fc);
	osp_nvme_ctrlr_opts_init(&c, sizeof(c));
	osp_tool_initiator_apply(&o, &c);
	CU_ASSERT_STRING_EQUAL(c.hostnqn, hostnqn);
	CU_ASSERT_EQUAL(c.io_queue_size, 64);
	CU_ASSERT(c.disable_sq_flow_control);

	CU_ASSERT_EQUAL(PARSE(&o, 16, "--hdgst", "--enable-tcp-ddgst", "--keepalive", "0"), 0);
	CU_ASSERT(o.header_digest && o.data_digest && o.kato_set && o.kato_ms == 0);
	osp_nvme_ctrlr_opts_init(&c, sizeof(c));
	osp_tool_initiator_apply(&o, &c);
	/* -k 0 turns keep alive off (as in SPDK). */
	CU_ASSERT_EQUAL(c.keep_alive_timeout_ms, 0);
	CU_ASSERT_EQUAL(PARSE(&o, 16, "--keep-alive", "10"), 0);
	CU_ASSERT_EQUAL(o.kato_ms, 10);

	/* Nothing given: the library's defaults stay. */
	CU_ASSERT_EQUAL(PARSE(&o, 16, "-x"), 0);
	osp_nvme_ctrlr_opts_init(&c, sizeof(c));
	osp_tool_initiator_apply(&o, &c);
	CU_ASSERT_EQUAL(c.keep_alive_timeout_ms, 10000);
	CU_ASSERT_FALSE(c.header_digest || c.data_digest);
	CU_ASSERT(strncmp(c.hostnqn, "nqn.2014-08.org.nvmexpress:uuid:", 32) == 0);
}

static void
test_several_trids(void)
{
	struct osp_tool_initiator_opts o;

	CU_ASSERT_EQUAL(PARSE(&o, 16, "-r", TRID, "-r", "trtype:tcp traddr:10.0.0.1"), 0);
	CU_ASSERT_EQUAL(o.num_trids, 2);
	CU_ASSERT_STRING_EQUAL(o.trids[1].traddr, "10.0.0.1");
	CU_ASSERT_STRING_EQUAL(o.trids[1].trsvcid, "4420");
	/* A tool that takes one controller refuses a second -r. */
	CU_ASSERT_EQUAL(PARSE(&o, 1, "-r", TRID, "-r", TRID), -EINVAL);
	CU_ASSERT_STRING_EQUAL(o.errmsg, "at most 1 -r (transport id) option");
	CU_ASSERT_EQUAL(o.num_trids, 1);
}

static void
test_bad_values(void)
{
	struct osp_tool_initiator_opts o;
	char longnqn[300];

	osp_log_set_print_level(OSP_LOG_DISABLED);
	CU_ASSERT_EQUAL(PARSE(&o, 16, "-r", "trtype:XYZ traddr:1.2.3.4"), -EINVAL);
	CU_ASSERT(strstr(o.errmsg, "invalid transport id 'trtype:XYZ traddr:1.2.3.4'") == o.errmsg);
	CU_ASSERT_EQUAL(o.num_trids, 0);
	CU_ASSERT_EQUAL(PARSE(&o, 16, "-r", "trtype:TCP traddr:127.0.0.1 trsvcid:99999"),
			-EINVAL);
	CU_ASSERT_EQUAL(PARSE(&o, 16, "-r", ""), -EINVAL);

	CU_ASSERT_EQUAL(PARSE(&o, 16, "-k", "abc"), -EINVAL);
	CU_ASSERT_STRING_EQUAL(o.errmsg, "invalid keep alive timeout 'abc' (-k: ms from 0 "
			       "(keep alive off) to 3600000)");
	CU_ASSERT_FALSE(o.kato_set);
	CU_ASSERT_EQUAL(PARSE(&o, 16, "-k", "3600001"), -EINVAL);
	CU_ASSERT_EQUAL(PARSE(&o, 16, "-k", "-1"), -EINVAL);
	CU_ASSERT_EQUAL(PARSE(&o, 16, "--keep-alive-ms", "1e3"), -EINVAL);
	CU_ASSERT_EQUAL(PARSE(&o, 16, "-k", "3600000"), 0);

	CU_ASSERT_EQUAL(PARSE(&o, 16, "--io-queue-size", "1"), -EINVAL);
	CU_ASSERT_STRING_EQUAL(o.errmsg, "invalid I/O queue size '1' (--io-queue-size: 2 to "
			       "65536 entries)");
	CU_ASSERT_EQUAL(PARSE(&o, 16, "--io-queue-size", "65537"), -EINVAL);
	CU_ASSERT_EQUAL(PARSE(&o, 16, "--io-queue-size", "4294967298"), -EINVAL);
	CU_ASSERT_EQUAL(PARSE(&o, 16, "--io-queue-size", ""), -EINVAL);
	CU_ASSERT_EQUAL(o.io_queue_size, 0);

	CU_ASSERT_EQUAL(PARSE(&o, 16, "--hostnqn", "bad"), -EINVAL);
	CU_ASSERT(strstr(o.errmsg, "invalid host NQN 'bad' (--hostnqn:") == o.errmsg);
	CU_ASSERT_EQUAL(o.hostnqn[0], '\0');
	CU_ASSERT_EQUAL(PARSE(&o, 16, "--hostnqn", "nqn.2016-06.io.spdk"), -EINVAL);
	CU_ASSERT_EQUAL(PARSE(&o, 16, "--hostnqn", "nqn.2016-06.io.spdk:host 1"), -EINVAL);
	memset(longnqn, 'a', sizeof(longnqn) - 1);
	memcpy(longnqn, "nqn.2016-06.io.spdk:", 20);
	longnqn[sizeof(longnqn) - 1] = '\0';
	CU_ASSERT_EQUAL(PARSE(&o, 16, "--hostnqn", longnqn), -EINVAL);
	CU_ASSERT(strstr(o.errmsg, "(--hostnqn: longer than 223 bytes)") != NULL);
	CU_ASSERT(strlen(o.errmsg) < sizeof(o.errmsg) - 1);
}

static void
test_trid_host_keys(void)
{
	struct osp_tool_initiator_opts o;

	CU_ASSERT_EQUAL(PARSE(&o, 2, "-r", TRID " ns:3 hostnqn:nqn.2014-08.org.example:h1",
			      "-r", TRID " hostaddr:127.0.0.2 hostsvcid:4000 alt_traddr:127.0.0.3"),
			0);
	CU_ASSERT_EQUAL(o.num_trids, 2);
	CU_ASSERT_EQUAL(o.exts[0].nsid, 3);
	CU_ASSERT_STRING_EQUAL(o.exts[0].hostnqn, "nqn.2014-08.org.example:h1");
	CU_ASSERT_EQUAL(o.exts[1].nsid, 0);
	CU_ASSERT_STRING_EQUAL(o.exts[1].hostaddr, "127.0.0.2");
	CU_ASSERT_STRING_EQUAL(o.exts[1].hostsvcid, "4000");
	CU_ASSERT_STRING_EQUAL(o.exts[1].alt_traddr, "127.0.0.3");
	CU_ASSERT_EQUAL(PARSE(&o, 1, "-r", TRID " nsid:1"), -EINVAL);
	CU_ASSERT(strstr(o.errmsg, "invalid transport id") != NULL);
}

static void
test_not_mine(void)
{
	struct osp_tool_initiator_opts o;

	osp_tool_initiator_opts_init(&o, 0);
	CU_ASSERT_EQUAL(o.max_trids, OSP_TOOL_INITIATOR_MAX_TRIDS);
	CU_ASSERT_EQUAL(osp_tool_initiator_parse(&o, 'q', "1"), 1);
	CU_ASSERT_EQUAL(osp_tool_initiator_parse(&o, 'L', NULL), 1);
	CU_ASSERT_EQUAL(osp_tool_initiator_parse(&o, '?', NULL), 1);
	CU_ASSERT_EQUAL(o.errmsg[0], '\0');
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	CU_initialize_registry();
	suite = CU_add_suite("tool_initiator", NULL, NULL);
	CU_ADD_TEST(suite, test_spdk_letters);
	CU_ADD_TEST(suite, test_long_aliases);
	CU_ADD_TEST(suite, test_several_trids);
	CU_ADD_TEST(suite, test_bad_values);
	CU_ADD_TEST(suite, test_trid_host_keys);
	CU_ADD_TEST(suite, test_not_mine);
	rc = ut_run_suites();
	return rc;
}
