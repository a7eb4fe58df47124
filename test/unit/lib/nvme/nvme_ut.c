/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/nvme/nvme.c: transport id parsing (every accepted form
 * and every kind of bad input), formatting and comparison, controller
 * option defaults and opts_size handling, status strings.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey_internal/sock_module.h"
#include "nvme/nvme.c"
#include "nvme/nvme_ctrlr.c"
#include "nvme/nvme_qpair.c"
#include "nvme/tcp.c"
#include "nvme/pcie.c"
#include "ut_run.h"

#define NQN1 "nqn.2016-06.io.osprey:cnode1"

static void
test_trid_parse_good(void)
{
	struct osp_nvme_transport_id t;
	char buf[512];

	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 "
					      "trsvcid:4420 subnqn:" NQN1) == 0);
	CU_ASSERT(t.trtype == OSP_NVME_TRANSPORT_TCP);
	CU_ASSERT_STRING_EQUAL(t.trstring, "TCP");
	CU_ASSERT(t.adrfam == OSP_NVMF_ADRFAM_IPV4);
	CU_ASSERT_STRING_EQUAL(t.traddr, "127.0.0.1");
	CU_ASSERT_STRING_EQUAL(t.trsvcid, "4420");
	CU_ASSERT_STRING_EQUAL(t.subnqn, NQN1);

	/* keys and trtype/adrfam values are case-insensitive; tabs and extra spaces */
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "  TrType:tcp\tADRFAM:ipv4   TRADDR:10.0.0.1 "
					      "SubNQN:" NQN1 "  TRSVCID:8009 ") == 0);
	CU_ASSERT(t.trtype == OSP_NVME_TRANSPORT_TCP);
	CU_ASSERT_STRING_EQUAL(t.trstring, "TCP");
	CU_ASSERT_STRING_EQUAL(t.trsvcid, "8009");

	/* defaults: adrfam from traddr, port 4420, discovery NQN */
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:tcp traddr:127.0.0.1") == 0);
	CU_ASSERT(t.adrfam == OSP_NVMF_ADRFAM_IPV4);
	CU_ASSERT_STRING_EQUAL(t.trsvcid, "4420");
	CU_ASSERT_STRING_EQUAL(t.subnqn, OSP_NVMF_DISCOVERY_NQN);
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:tcp traddr:::1 trsvcid:4421") == 0);
	CU_ASSERT(t.adrfam == OSP_NVMF_ADRFAM_IPV6);
	CU_ASSERT_STRING_EQUAL(t.traddr, "::1");

	/* PCIe needs no port */
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:PCIe traddr:0000:00:04.0") == 0);
	CU_ASSERT(t.trtype == OSP_NVME_TRANSPORT_PCIE);
	CU_ASSERT_STRING_EQUAL(t.trsvcid, "");

	/* round trip through fmt */
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:tcp traddr:127.0.0.1 trsvcid:4460 "
					      "subnqn:" NQN1) == 0);
	CU_ASSERT(osp_nvme_transport_id_fmt(&t, buf, sizeof(buf)) > 0);
	CU_ASSERT_STRING_EQUAL(buf, "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4460 "
			       "subnqn:" NQN1);
	{
		struct osp_nvme_transport_id t2;

		CU_ASSERT(osp_nvme_transport_id_parse(&t2, buf) == 0);
		CU_ASSERT(osp_nvme_transport_id_compare(&t, &t2) == 0);
		strcpy(t2.trsvcid, "4461");
		CU_ASSERT(osp_nvme_transport_id_compare(&t, &t2) < 0);
		CU_ASSERT(osp_nvme_transport_id_compare(&t2, &t) > 0);
	}
	CU_ASSERT(osp_nvme_transport_id_fmt(&t, buf, 10) == -ENOSPC);
}

static void
test_trid_parse_bad(void)
{
	struct osp_nvme_transport_id t;
	char longaddr[400], s[600];
	static const char *bad[] = {
		"",						/* nothing */
		"   ",
		"traddr:127.0.0.1",				/* no trtype */
		"trtype:tcp",					/* no traddr */
		"trtype:xyz traddr:127.0.0.1",			/* unknown trtype */
		"trtype: traddr:127.0.0.1",			/* empty value */
		"trtype:tcp traddr:",
		"trtype:tcp adrfam:ipv5 traddr:127.0.0.1",	/* unknown adrfam */
		"trtype:tcp adrfam:IB traddr:127.0.0.1",	/* adrfam not IP for TCP */
		"trtype:tcp traddr:127.0.0.1 trsvcid:0",	/* port range */
		"trtype:tcp traddr:127.0.0.1 trsvcid:65536",
		"trtype:tcp traddr:127.0.0.1 trsvcid:44x",
		"trtype:tcp traddr:127.0.0.1 trsvcid:-1",
		"trtype:tcp traddr:127.0.0.1 subnqn:notannqn",	/* bad NQN */
		"trtype:tcp traddr:127.0.0.1 subnqn:nqn.2016-13.io.x:y",
		"trtype:tcp traddr:127.0.0.1 bogus:1",		/* unknown key */
		"trtype:tcp traddr:127.0.0.1 trtype:tcp",	/* duplicate key */
		"trtype:tcp traddr:127.0.0.1 TRADDR:10.0.0.1",
		"trtype:tcp 127.0.0.1",				/* not key:value */
		"trtype:tcp traddr:127.0.0.1 trsvcid:123456789012345678901234567890123",
	};
	size_t i;

	for (i = 0; i < OSP_COUNTOF(bad); i++) {
		memset(&t, 0xa5, sizeof(t));
		if (osp_nvme_transport_id_parse(&t, bad[i]) != -EINVAL) {
			printf("accepted bad trid '%s'\n", bad[i]);
			CU_FAIL("bad trid accepted");
		}
	}
	CU_ASSERT(osp_nvme_transport_id_parse(NULL, "trtype:tcp traddr:1.1.1.1") == -EINVAL);
	CU_ASSERT(osp_nvme_transport_id_parse(&t, NULL) == -EINVAL);

	/* values longer than their fields */
	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	snprintf(s, sizeof(s), "trtype:tcp traddr:%s", longaddr);
	CU_ASSERT(osp_nvme_transport_id_parse(&t, s) == -EINVAL);
	snprintf(s, sizeof(s), "trtype:tcp traddr:1.1.1.1 subnqn:nqn.2016-06.io.osprey:%s",
		 longaddr);
	CU_ASSERT(osp_nvme_transport_id_parse(&t, s) == -EINVAL);
	snprintf(s, sizeof(s), "trtype:%.40s traddr:1.1.1.1", longaddr);
	CU_ASSERT(osp_nvme_transport_id_parse(&t, s) == -EINVAL);
}

static void
test_trid_parse_ext(void)
{
	struct osp_nvme_transport_id t;
	struct osp_nvme_trid_ext e;
	char buf[512];
	static const char *bad[] = {
		"trtype:tcp traddr:127.0.0.1 hostnqn:notannqn",		/* bad NQN */
		"trtype:tcp traddr:127.0.0.1 hostnqn:",			/* empty */
		"trtype:tcp traddr:127.0.0.1 hostaddr:",
		"trtype:tcp traddr:127.0.0.1 hostaddr:::1",		/* other family */
		"trtype:tcp traddr:::1 hostaddr:127.0.0.1",
		"trtype:tcp traddr:127.0.0.1 hostaddr:localhost",	/* not numeric */
		"trtype:tcp traddr:127.0.0.1 hostsvcid:0",		/* port range */
		"trtype:tcp traddr:127.0.0.1 hostsvcid:65536",
		"trtype:tcp traddr:127.0.0.1 hostsvcid:-1",
		"trtype:tcp traddr:127.0.0.1 ns:0",			/* nsid range */
		"trtype:tcp traddr:127.0.0.1 ns:0xffffffff",
		"trtype:tcp traddr:127.0.0.1 ns:-1",
		"trtype:tcp traddr:127.0.0.1 ns:x",
		"trtype:tcp traddr:127.0.0.1 ns:1 NS:2",		/* twice */
		"trtype:tcp traddr:127.0.0.1 alt_traddr:host",
		"trtype:tcp traddr:127.0.0.1 priority:-1",
		"trtype:tcp traddr:127.0.0.1 priority:2147483648",
		"trtype:tcp traddr:127.0.0.1 priority:",
		"trtype:PCIe traddr:0000:00:04.0 priority:1",		/* not for PCIe */
		"trtype:PCIe traddr:0000:00:04.0 hostaddr:1.2.3.4",
		"trtype:tcp traddr:127.0.0.1 hostid:1",			/* unknown key */
		"trtype:rdma traddr:127.0.0.1 priority:1",		/* TCP only */
		"trtype:rdma traddr:127.0.0.1 hostaddr:127.0.0.2",
	};
	size_t i;

	CU_ASSERT(osp_nvme_transport_id_parse_ext(&t, &e, "trtype:TCP adrfam:IPv4 "
						  "traddr:127.0.0.1 trsvcid:4420 subnqn:" NQN1
						  " hostnqn:nqn.2014-08.org.example:h1 "
						  "HostAddr:127.0.0.3 hostsvcid:5000 ns:2 "
						  "alt_traddr:127.0.0.9 priority:5") == 0);
	CU_ASSERT_STRING_EQUAL(t.traddr, "127.0.0.1");
	CU_ASSERT_EQUAL(t.priority, 5);
	CU_ASSERT_STRING_EQUAL(e.hostnqn, "nqn.2014-08.org.example:h1");
	CU_ASSERT_STRING_EQUAL(e.hostaddr, "127.0.0.3");
	CU_ASSERT_STRING_EQUAL(e.hostsvcid, "5000");
	CU_ASSERT_EQUAL(e.nsid, 2);
	CU_ASSERT_STRING_EQUAL(e.alt_traddr, "127.0.0.9");
	/* priority is in the formatted id (and parses back); not part of compare */
	CU_ASSERT(osp_nvme_transport_id_fmt(&t, buf, sizeof(buf)) > 0);
	CU_ASSERT(strstr(buf, " priority:5") != NULL);
	{
		struct osp_nvme_transport_id t2;

		CU_ASSERT(osp_nvme_transport_id_parse(&t2, buf) == 0);
		CU_ASSERT_EQUAL(t2.priority, 5);
		t2.priority = 0;
		CU_ASSERT(osp_nvme_transport_id_compare(&t, &t2) == 0);
	}
	/* IPv6 host addresses with an IPv6 traddr, brackets allowed */
	CU_ASSERT(osp_nvme_transport_id_parse_ext(&t, &e, "trtype:tcp traddr:::1 hostaddr:[::1] "
						  "alt_traddr:::2") == 0);
	CU_ASSERT_STRING_EQUAL(e.hostaddr, "[::1]");
	/* ext is cleared: nothing given, nothing set */
	CU_ASSERT(osp_nvme_transport_id_parse_ext(&t, &e, "trtype:tcp traddr:127.0.0.1") == 0);
	CU_ASSERT_EQUAL(e.nsid, 0);
	CU_ASSERT_EQUAL(e.hostnqn[0], '\0');
	CU_ASSERT_EQUAL(t.priority, 0);
	/* ns in hex as SPDK's strtol base 0 would */
	CU_ASSERT(osp_nvme_transport_id_parse_ext(&t, &e, "trtype:tcp traddr:1.1.1.1 ns:0x10") == 0);
	CU_ASSERT_EQUAL(e.nsid, 16);
	/* the plain parser takes priority but not the host tools' keys */
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:tcp traddr:1.1.1.1 priority:3") == 0);
	CU_ASSERT_EQUAL(t.priority, 3);
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:tcp traddr:1.1.1.1 ns:1") == -EINVAL);
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:tcp traddr:1.1.1.1 "
					      "hostnqn:nqn.2014-08.org.example:h1") == -EINVAL);
	for (i = 0; i < OSP_COUNTOF(bad); i++) {
		if (osp_nvme_transport_id_parse_ext(&t, &e, bad[i]) != -EINVAL) {
			printf("accepted bad trid '%s'\n", bad[i]);
			CU_FAIL("bad trid accepted");
		}
	}
}

static void
test_trtype_adrfam_strings(void)
{
	enum osp_nvme_transport_type tt;
	enum osp_nvmf_adrfam af;

	CU_ASSERT(osp_nvme_transport_id_parse_trtype(&tt, "rdma") == 0 &&
		  tt == OSP_NVME_TRANSPORT_RDMA);
	CU_ASSERT(osp_nvme_transport_id_parse_trtype(&tt, "pcie") == 0 &&
		  tt == OSP_NVME_TRANSPORT_PCIE);
	CU_ASSERT(osp_nvme_transport_id_parse_trtype(&tt, "tcpx") == -EINVAL);
	CU_ASSERT(osp_nvme_transport_id_parse_adrfam(&af, "IPV6") == 0 &&
		  af == OSP_NVMF_ADRFAM_IPV6);
	CU_ASSERT(osp_nvme_transport_id_parse_adrfam(&af, "") == -EINVAL);
	CU_ASSERT_STRING_EQUAL(osp_nvme_transport_id_trtype_str(OSP_NVME_TRANSPORT_TCP), "TCP");
	CU_ASSERT_STRING_EQUAL(osp_nvme_transport_id_adrfam_str(OSP_NVMF_ADRFAM_IPV4), "IPv4");
	CU_ASSERT(osp_nvme_transport_id_trtype_str((enum osp_nvme_transport_type)77) == NULL);
}

static void
test_ctrlr_opts(void)
{
	struct osp_nvme_ctrlr_opts o, o2;
	struct {
		size_t opts_size;
		uint32_t num_io_queues;
		uint32_t canary;
	} small;

	osp_nvme_ctrlr_opts_init(&o, sizeof(o));
	CU_ASSERT(o.opts_size == sizeof(o));
	CU_ASSERT(o.num_io_queues == 64);
	CU_ASSERT(o.io_queue_size == 128);
	CU_ASSERT(o.admin_queue_size == 32);
	CU_ASSERT(o.keep_alive_timeout_ms == 10000);
	CU_ASSERT(!o.header_digest && !o.data_digest);
	CU_ASSERT(o.maxr2t == 1);
	CU_ASSERT(osp_nqn_check(o.hostnqn, NULL, 0) == 0);
	CU_ASSERT(strncmp(o.hostnqn, OSP_NVMF_NQN_UUID_PREFIX,
			  strlen(OSP_NVMF_NQN_UUID_PREFIX)) == 0);
	/* the same host identity for the whole process */
	osp_nvme_ctrlr_opts_init(&o2, sizeof(o2));
	CU_ASSERT_STRING_EQUAL(o.hostnqn, o2.hostnqn);
	CU_ASSERT(memcmp(o.hostid, o2.hostid, 16) == 0);

	/* an older, shorter struct: nothing past it is written */
	small.canary = 0xdeadbeef;
	osp_nvme_ctrlr_opts_init((struct osp_nvme_ctrlr_opts *)&small,
				 offsetof(struct osp_nvme_ctrlr_opts, num_io_queues) + 4);
	CU_ASSERT(small.num_io_queues == 64);
	CU_ASSERT(small.canary == 0xdeadbeef);
}

static void
test_status_strings(void)
{
	struct osp_nvme_cpl cpl;

	memset(&cpl, 0, sizeof(cpl));
	CU_ASSERT_STRING_EQUAL(osp_nvme_cpl_status_string(&cpl), "SUCCESS");
	CU_ASSERT(!osp_nvme_cpl_is_error(&cpl));
	cpl.status.sct = OSP_NVME_SCT_COMMAND_SPECIFIC;
	cpl.status.sc = OSP_NVMF_SC_INVALID_HOST;
	CU_ASSERT(osp_nvme_cpl_is_error(&cpl));
	CU_ASSERT_STRING_EQUAL(osp_nvme_cpl_status_string(&cpl), "CONNECT INVALID HOST");
	cpl.status.sct = OSP_NVME_SCT_GENERIC;
	cpl.status.sc = OSP_NVME_SC_ABORTED_SQ_DELETION;
	CU_ASSERT_STRING_EQUAL(osp_nvme_cpl_status_string(&cpl), "ABORTED - SQ DELETION");
	cpl.status.sct = OSP_NVME_SCT_VENDOR_SPECIFIC;
	cpl.status.sc = 0x12;
	CU_ASSERT_STRING_EQUAL(osp_nvme_cpl_status_string(&cpl), "UNKNOWN");
}

/* nvme_spec.h's status helpers, shared by the target and the host. */
static void
test_status_helpers(void)
{
	struct osp_nvme_cpl cpl;
	uint16_t f;

	/* The field layout (Figure 93/94): SC 8:1, SCT 11:9, DNR 15, phase tag 0. */
	f = osp_nvme_status_field(OSP_NVME_SCT_MEDIA_ERROR, OSP_NVME_SC_COMPARE_FAILURE, true);
	CU_ASSERT(f == ((0x85u << 1) | (2u << 9) | (1u << 15)));
	CU_ASSERT(osp_nvme_status_field(OSP_NVME_SCT_GENERIC, OSP_NVME_SC_SUCCESS, false) == 0);
	CU_ASSERT(osp_nvme_status_field(OSP_NVME_SCT_GENERIC, OSP_NVME_SC_INVALID_FIELD, false) ==
		  (0x02u << 1));
	/* Out-of-range inputs are masked to their fields, never spill into the next. */
	CU_ASSERT(osp_nvme_status_field(0xf, 0x1ff, false) == ((0xffu << 1) | (7u << 9)));

	/* Set: SCT, SC, DNR as given; CRD and M cleared; the phase tag and the rest kept. */
	memset(&cpl, 0, sizeof(cpl));
	cpl.cid = 7;
	cpl.cdw0 = 0x1234;
	cpl.status.p = 1;
	cpl.status.crd = 3;
	cpl.status.m = 1;
	osp_nvme_cpl_set_status(&cpl, OSP_NVME_SCT_COMMAND_SPECIFIC, OSP_NVMF_SC_INVALID_HOST, true);
	CU_ASSERT(cpl.status.sct == OSP_NVME_SCT_COMMAND_SPECIFIC);
	CU_ASSERT(cpl.status.sc == OSP_NVMF_SC_INVALID_HOST);
	CU_ASSERT(cpl.status.dnr == 1);
	CU_ASSERT(cpl.status.crd == 0 && cpl.status.m == 0);
	CU_ASSERT(cpl.status.p == 1);
	CU_ASSERT(cpl.cid == 7 && cpl.cdw0 == 0x1234);
	CU_ASSERT(osp_nvme_cpl_status_field(&cpl) ==
		  osp_nvme_status_field(OSP_NVME_SCT_COMMAND_SPECIFIC, OSP_NVMF_SC_INVALID_HOST, true));
	CU_ASSERT(osp_nvme_cpl_is_error(&cpl));
	CU_ASSERT(osp_nvme_cpl_is_status(&cpl, OSP_NVME_SCT_COMMAND_SPECIFIC,
					 OSP_NVMF_SC_INVALID_HOST));
	CU_ASSERT(!osp_nvme_cpl_is_status(&cpl, OSP_NVME_SCT_GENERIC, OSP_NVMF_SC_INVALID_HOST));
	CU_ASSERT(!osp_nvme_cpl_is_status(&cpl, OSP_NVME_SCT_COMMAND_SPECIFIC,
					  OSP_NVMF_SC_INVALID_PARAM));

	/* Back to success: DNR cleared too; the phase tag still kept. */
	osp_nvme_cpl_set_status(&cpl, OSP_NVME_SCT_GENERIC, OSP_NVME_SC_SUCCESS, false);
	CU_ASSERT(cpl.raw == 1);
	CU_ASSERT(osp_nvme_cpl_status_field(&cpl) == 0);
	CU_ASSERT(!osp_nvme_cpl_is_error(&cpl));
	CU_ASSERT(!osp_nvme_status_is_error(&cpl.status));

	/* A field set as a whole keeps the phase tag and ignores one passed in. */
	cpl.status.p = 0;
	osp_nvme_cpl_set_status_field(&cpl, (uint16_t)(f | 1u));
	CU_ASSERT(cpl.status.p == 0);
	CU_ASSERT(osp_nvme_cpl_status_field(&cpl) == f);
	CU_ASSERT(cpl.status.sc == OSP_NVME_SC_COMPARE_FAILURE);
	cpl.status.p = 1;
	osp_nvme_cpl_set_status_field(&cpl, 0);
	CU_ASSERT(cpl.raw == 1);

	/* Error means SCT or SC: DNR, M or CRD alone on a success is not an error. */
	memset(&cpl, 0, sizeof(cpl));
	cpl.status.dnr = 1;
	cpl.status.m = 1;
	cpl.status.crd = 1;
	CU_ASSERT(!osp_nvme_cpl_is_error(&cpl));
	CU_ASSERT(osp_nvme_cpl_status_field(&cpl) != 0);
	cpl.status.sc = 0;
	cpl.status.sct = OSP_NVME_SCT_PATH;
	CU_ASSERT(osp_nvme_cpl_is_error(&cpl));
	cpl.status.sct = OSP_NVME_SCT_GENERIC;
	cpl.status.sc = OSP_NVME_SC_ABORTED_SQ_DELETION;
	CU_ASSERT(osp_nvme_cpl_is_error(&cpl));
	CU_ASSERT(osp_nvme_cpl_is_status(&cpl, OSP_NVME_SCT_GENERIC,
					 OSP_NVME_SC_ABORTED_SQ_DELETION));
}

static void
test_connect_bad_args(void)
{
	struct osp_nvme_transport_id t;
	struct osp_nvme_ctrlr_opts o;
	struct osp_nvme_connect_error err;

	/* unsupported transport: refused before any connection */
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:fc traddr:nn-0x1:pn-0x2") == 0);
	CU_ASSERT(osp_nvme_connect_ext(&t, NULL, 0, &err) == NULL);
	CU_ASSERT(errno == ENOTSUP);
	CU_ASSERT(err.rc == -ENOTSUP);

	/* invalid host NQN in the options */
	CU_ASSERT(osp_nvme_transport_id_parse(&t, "trtype:tcp traddr:127.0.0.1 trsvcid:4479") == 0);
	osp_nvme_ctrlr_opts_init(&o, sizeof(o));
	strcpy(o.hostnqn, "bad");
	CU_ASSERT(osp_nvme_connect(&t, &o, sizeof(o)) == NULL);
	CU_ASSERT(errno == EINVAL);
	osp_nvme_ctrlr_opts_init(&o, sizeof(o));
	o.admin_queue_size = 1;
	CU_ASSERT(osp_nvme_connect(&t, &o, sizeof(o)) == NULL);
	CU_ASSERT(errno == EINVAL);
	CU_ASSERT(osp_nvme_connect_async(NULL, NULL, 0, NULL, NULL) == NULL);
	CU_ASSERT(errno == EINVAL);
	CU_ASSERT(osp_nvme_detach(NULL) == -EINVAL);
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	/* pull in the posix socket implementation (it registers from a constructor) */
	g_osp_sock_posix_sendmsg_calls = 0;
	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("nvme", NULL, NULL);
	CU_ADD_TEST(suite, test_trid_parse_good);
	CU_ADD_TEST(suite, test_trid_parse_bad);
	CU_ADD_TEST(suite, test_trid_parse_ext);
	CU_ADD_TEST(suite, test_trtype_adrfam_strings);
	CU_ADD_TEST(suite, test_ctrlr_opts);
	CU_ADD_TEST(suite, test_status_strings);
	CU_ADD_TEST(suite, test_status_helpers);
	CU_ADD_TEST(suite, test_connect_bad_args);
	rc = ut_run_suites();
	return rc;
}
