/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the NVMe-oF target control plane (lib/nvmf/nvmf.c,
 * transport.c, nvmf_rpc.c compiled in, with the data plane files they call
 * but no poll group): NQN checks, subsystem options and states, the host allow list, namespace nsid allocation and hot removal
 * through the real bdev layer with malloc bdevs, listeners through a fake
 * transport, the discovery log page as different hosts see it, its
 * generation counter, the RPC error messages and the saved configuration.
 */
#include "ut_bdev.h"

#include "../../../../drivers/bdev/malloc/bdev_malloc.h"

#include "osprey/rpc.h"

#include "nvmf/nvmf.c"
#include "nvmf/subsystem.c"
#include "nvmf/discovery.c"
#include "nvmf/transport.c"
#include "nvmf/nvmf_rpc.c"
#include "nvmf/poll_group.c"
#include "nvmf/ctrlr.c"
#include "nvmf/fabrics.c"
#include "nvmf/admin.c"
#include "nvmf/ctrlr_bdev.c"
#include "ut_run.h"

#define H1 "nqn.2014-08.org.nvmexpress:uuid:11111111-1111-1111-1111-111111111111"
#define H2 "nqn.2014-08.org.nvmexpress:uuid:22222222-2222-2222-2222-222222222222"
#define NQN_A "nqn.2016-06.io.spdk:a"
#define NQN_B "nqn.2016-06.io.spdk:b"
#define NQN_C "nqn.2016-06.io.spdk:c"

/* ---- a fake transport, registered as RDMA (no RDMA transport exists yet) ---- */

struct fake_transport {
	struct osp_nvmf_transport t;
	int listens;
	int stop_listens;
	int destroyed;
	int fail_listen;
};

static struct fake_transport *g_fake;

static int
fake_create(const struct osp_nvmf_transport_opts *opts, struct osp_nvmf_transport **out,
	    char *err, size_t errlen)
{
	g_fake = calloc(1, sizeof(*g_fake));
	if (g_fake == NULL) {
		return -ENOMEM;
	}
	*out = &g_fake->t;
	return 0;
}

static int
fake_destroy(struct osp_nvmf_transport *t, osp_nvmf_transport_destroy_done_cb cb, void *arg)
{
	struct fake_transport *f = (struct fake_transport *)t;

	CU_ASSERT_PTR_EQUAL(f, g_fake);
	free(f);
	g_fake = NULL;
	cb(arg);
	return 0;
}

static int
fake_listen(struct osp_nvmf_transport *t, const struct osp_nvmf_listen_addr *addr)
{
	struct fake_transport *f = (struct fake_transport *)t;

	if (f->fail_listen) {
		return -EADDRINUSE;
	}
	f->listens++;
	return 0;
}

static void
fake_stop_listen(struct osp_nvmf_transport *t, const struct osp_nvmf_listen_addr *addr)
{
	((struct fake_transport *)t)->stop_listens++;
}

static void
fake_opts_init(struct osp_nvmf_transport_opts *opts)
{
	opts->max_aq_depth = 64;
}

static const struct osp_nvmf_transport_ops g_fake_ops = {
	.name = "RDMA",
	.type = OSP_NVMF_TRTYPE_RDMA,
	.opts_init = fake_opts_init,
	.create = fake_create,
	.destroy = fake_destroy,
	.listen = fake_listen,
	.stop_listen = fake_stop_listen,
};
OSP_NVMF_TRANSPORT_REGISTER(fake, &g_fake_ops)

/* ---- helpers ---- */

static struct osp_nvmf_tgt *
tgt_with_transport(void)
{
	struct osp_nvmf_tgt *tgt = osp_nvmf_tgt_create("t", 0);
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(tgt);
	CU_ASSERT_EQUAL_FATAL(osp_nvmf_transport_create(tgt, "rdma", NULL, NULL, err,
			      sizeof(err)), 0);
	return tgt;
}

static struct osp_nvmf_subsystem *
mk_subsystem(struct osp_nvmf_tgt *tgt, const char *nqn, bool any, uint32_t max_ns)
{
	struct osp_nvmf_subsystem_opts o;
	struct osp_nvmf_subsystem *s = NULL;
	char err[256];

	osp_nvmf_subsystem_opts_init(&o, sizeof(o));
	o.allow_any_host = any;
	o.max_namespaces = max_ns;
	CU_ASSERT_EQUAL_FATAL(osp_nvmf_subsystem_create(tgt, nqn, &o, &s, err, sizeof(err)), 0);
	return s;
}

static struct osp_nvmf_listen_addr
mk_addr(const char *trtype, const char *adrfam, const char *ip, const char *port)
{
	struct osp_nvmf_listen_addr a;
	char err[256];

	CU_ASSERT_EQUAL(osp_nvmf_listen_addr_parse(&a, trtype, adrfam, ip, port, err,
			sizeof(err)), 0);
	return a;
}

static void
mk_disk(const char *name)
{
	struct bdev_malloc_opts o = { .name = name, .num_blocks = 64, .block_size = 512 };
	struct osp_bdev *bdev = NULL;

	CU_ASSERT_EQUAL_FATAL(bdev_malloc_create(&o, &bdev), 0);
}

static void
rm_disk(const char *name)
{
	int done = 0;

	CU_ASSERT_EQUAL(bdev_malloc_delete(name, ut_unreg_cb, &done), 0);
	ut_poll_threads();
	CU_ASSERT_EQUAL(done, 1);
}

/* ---- NQNs ---- */

static void
test_nqn(void)
{
	static const char *good[] = {
		OSP_NVMF_DISCOVERY_NQN,
		"nqn.2016-06.io.spdk:cnode1",
		"nqn.2014-08.org.nvmexpress:uuid:0f8be4a4-7e4b-4a5e-9e0e-123456789abc",
		"nqn.1992-01.com.example:storage:disk-1",
		"nqn.2016-06.io.spdk:\xc3\xa9t\xc3\xa9",	/* UTF-8 in the name part */
	};
	static const char *bad[] = {
		"",
		"nqn.",
		"iqn.2016-06.io.spdk:cnode1",
		"nqn.2016-13.io.spdk:cnode1",
		"nqn.2016-00.io.spdk:cnode1",
		"nqn.16-06.io.spdk:cnode1",
		"nqn.2016-06.io.spdk",
		"nqn.2016-06.io.spdk:",
		"nqn.2016-06.-io.spdk:x",
		"nqn.2016-06.io..spdk:x",
		"nqn.2014-08.org.nvmexpress:uuid:not-a-uuid",
		"nqn.2014-08.org.nvmexpress:uuid:0f8be4a4-7e4b-4a5e-9e0e-123456789abcd",
		"nqn.2016-06.io.spdk:\xff\xfe",
	};
	char nqn[OSP_NVMF_NQN_MAX_LEN + 2];
	char err[256];
	size_t i;

	for (i = 0; i < OSP_COUNTOF(good); i++) {
		CU_ASSERT_EQUAL(osp_nqn_check(good[i], err, sizeof(err)), 0);
	}
	for (i = 0; i < OSP_COUNTOF(bad); i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(osp_nqn_check(bad[i], err, sizeof(err)), -EINVAL);
		CU_ASSERT_NOT_EQUAL(err[0], '\0');
	}
	CU_ASSERT_EQUAL(osp_nqn_check(NULL, NULL, 0), -EINVAL);

	/* Exactly 223 bytes is fine, 224 is not. */
	memset(nqn, 'a', sizeof(nqn));
	memcpy(nqn, "nqn.2016-06.io.spdk:", 20);
	nqn[OSP_NVMF_NQN_MAX_LEN] = '\0';
	CU_ASSERT_EQUAL(osp_nqn_check(nqn, err, sizeof(err)), 0);
	nqn[OSP_NVMF_NQN_MAX_LEN] = 'a';
	nqn[OSP_NVMF_NQN_MAX_LEN + 1] = '\0';
	CU_ASSERT_EQUAL(osp_nqn_check(nqn, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "224 bytes"));
}

/* ---- addresses ---- */

static void
test_listen_addr_parse(void)
{
	struct osp_nvmf_listen_addr a, b;
	char err[256];

	CU_ASSERT_EQUAL(osp_nvmf_listen_addr_parse(&a, "tcp", NULL, "127.0.0.1", NULL, err,
			sizeof(err)), 0);
	CU_ASSERT_EQUAL(a.trtype, OSP_NVMF_TRTYPE_TCP);
	CU_ASSERT_EQUAL(a.adrfam, OSP_NVMF_ADRFAM_IPV4);
	CU_ASSERT_STRING_EQUAL(a.trsvcid, "4420");
	CU_ASSERT_EQUAL(osp_nvmf_listen_addr_parse(&b, "TCP", "IPv4", "127.0.0.1", "4420", err,
			sizeof(err)), 0);
	CU_ASSERT_TRUE(osp_nvmf_listen_addr_equal(&a, &b));
	CU_ASSERT_EQUAL(osp_nvmf_listen_addr_parse(&a, "rdma", "ipv6", "::1", "4421", err,
			sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(osp_nvmf_adrfam_str(a.adrfam), "IPv6");
	CU_ASSERT_EQUAL(osp_nvmf_listen_addr_parse(&a, "udp", NULL, "127.0.0.1", "1", err,
			sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "trtype"));
	CU_ASSERT_EQUAL(osp_nvmf_listen_addr_parse(&a, "tcp", "ipv5", "127.0.0.1", "1", err,
			sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "adrfam"));
	CU_ASSERT_EQUAL(osp_nvmf_listen_addr_parse(&a, "tcp", "ipv4", "::1", "1", err,
			sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(osp_nvmf_listen_addr_parse(&a, "tcp", "ipv4", "300.0.0.1", "1", err,
			sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(osp_nvmf_listen_addr_parse(&a, "tcp", "ipv4", "", "1", err,
			sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(osp_nvmf_listen_addr_parse(&a, "tcp", "ipv4", "1.2.3.4", "0", err,
			sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(osp_nvmf_listen_addr_parse(&a, "tcp", "ipv4", "1.2.3.4", "65536", err,
			sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(osp_nvmf_listen_addr_parse(&a, "tcp", "ipv4", "1.2.3.4", "44x", err,
			sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "trsvcid"));
}

/* ---- subsystems ---- */

static void
state_cb(struct osp_nvmf_subsystem *s, void *arg, int status)
{
	*(int *)arg = status == 0 ? 1 : status;
}

static void
test_subsystem_create(void)
{
	struct osp_nvmf_tgt *tgt = osp_nvmf_tgt_create("t", 2);
	struct osp_nvmf_subsystem_opts o;
	struct osp_nvmf_subsystem *s = NULL, *d;
	char err[256];
	int done = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(tgt);
	d = osp_nvmf_subsystem_first(tgt);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_STRING_EQUAL(osp_nvmf_subsystem_get_nqn(d), OSP_NVMF_DISCOVERY_NQN);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_get_type(d), OSP_NVMF_SUBTYPE_KIND_DISCOVERY);
	CU_ASSERT_TRUE(osp_nvmf_subsystem_host_allowed(d, H1));
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_destroy(d), -EPERM);

	osp_nvmf_subsystem_opts_init(&o, sizeof(o));
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_create(tgt, OSP_NVMF_DISCOVERY_NQN, &o, &s, err,
			sizeof(err)), -EEXIST);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_create(tgt, "bad", &o, &s, err, sizeof(err)), -EINVAL);
	o.serial_number = "012345678901234567890";	/* 21 */
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_create(tgt, NQN_A, &o, &s, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "serial_number"));
	o.serial_number = "SN\x01";
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_create(tgt, NQN_A, &o, &s, err, sizeof(err)), -EINVAL);
	o.serial_number = "01234567890123456789";	/* 20 */
	o.model_number = "0123456789012345678901234567890123456789X";	/* 41 */
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_create(tgt, NQN_A, &o, &s, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "model_number"));
	o.model_number = "0123456789012345678901234567890123456789";	/* 40 */
	o.min_cntlid = 10;
	o.max_cntlid = 5;
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_create(tgt, NQN_A, &o, &s, err, sizeof(err)), -EINVAL);
	o.min_cntlid = 0;
	o.max_cntlid = 0;
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_create(tgt, NQN_A, &o, &s, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(osp_nvmf_subsystem_get_sn(s), "01234567890123456789");
	CU_ASSERT_STRING_EQUAL(osp_nvmf_subsystem_get_mn(s),
			       "0123456789012345678901234567890123456789");
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_get_min_cntlid(s), 1);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_get_max_cntlid(s), 0xffef);
	CU_ASSERT_PTR_EQUAL(osp_nvmf_tgt_find_subsystem(tgt, NQN_A), s);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_create(tgt, NQN_A, &o, NULL, err, sizeof(err)),
			-EEXIST);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "already exists"));
	/* Defaults. */
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_create(tgt, NQN_B, NULL, &s, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(osp_nvmf_subsystem_get_sn(s), OSP_NVMF_DEFAULT_SN);
	CU_ASSERT_STRING_EQUAL(osp_nvmf_subsystem_get_mn(s), OSP_NVMF_DEFAULT_MN);
	CU_ASSERT_FALSE(osp_nvmf_subsystem_get_allow_any_host(s));
	/* max_subsystems = 2 (the discovery subsystem does not count). */
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_create(tgt, NQN_C, NULL, NULL, err, sizeof(err)),
			-ENOSPC);

	/* States. */
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_get_state(s), OSP_NVMF_SUBSYSTEM_INACTIVE);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_pause(s, state_cb, &done), -EINVAL);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_resume(s, state_cb, &done), -EINVAL);
	CU_ASSERT_EQUAL(done, 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_start(s, state_cb, &done), 0);
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_get_state(s), OSP_NVMF_SUBSYSTEM_ACTIVE);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_start(s, state_cb, &done), -EINVAL);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_pause(s, NULL, NULL), 0);
	CU_ASSERT_STRING_EQUAL(osp_nvmf_subsystem_state_str(osp_nvmf_subsystem_get_state(s)),
			       "paused");
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_resume(s, NULL, NULL), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_stop(s, NULL, NULL), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_get_state(s), OSP_NVMF_SUBSYSTEM_INACTIVE);

	CU_ASSERT_EQUAL(osp_nvmf_subsystem_destroy(s), 0);
	CU_ASSERT_PTR_NULL(osp_nvmf_tgt_find_subsystem(tgt, NQN_B));
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_create(tgt, NQN_C, NULL, NULL, err, sizeof(err)), 0);
	osp_nvmf_tgt_destroy(tgt);
}

static void
test_hosts(void)
{
	struct osp_nvmf_tgt *tgt = osp_nvmf_tgt_create("t", 0);
	struct osp_nvmf_subsystem *s = mk_subsystem(tgt, NQN_A, false, 0);
	char err[256];

	/* Allow list, empty: nobody. */
	CU_ASSERT_FALSE(osp_nvmf_subsystem_host_allowed(s, H1));
	CU_ASSERT_FALSE(osp_nvmf_subsystem_host_allowed(s, NULL));
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_host(s, H1, err, sizeof(err)), 0);
	CU_ASSERT_TRUE(osp_nvmf_subsystem_host_allowed(s, H1));
	CU_ASSERT_FALSE(osp_nvmf_subsystem_host_allowed(s, H2));
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_host(s, H1, err, sizeof(err)), -EEXIST);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_host(s, "nqn.bad", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_host(s, H2, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(osp_nvmf_subsystem_host_first(s), H1);
	CU_ASSERT_STRING_EQUAL(osp_nvmf_subsystem_host_next(s, osp_nvmf_subsystem_host_first(s)),
			       H2);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_remove_host(s, H1), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_remove_host(s, H1), -ENOENT);
	CU_ASSERT_FALSE(osp_nvmf_subsystem_host_allowed(s, H1));
	CU_ASSERT_TRUE(osp_nvmf_subsystem_host_allowed(s, H2));
	/* allow_any_host overrides the list; turning it off restores the list. */
	osp_nvmf_subsystem_set_allow_any_host(s, true);
	CU_ASSERT_TRUE(osp_nvmf_subsystem_host_allowed(s, H1));
	CU_ASSERT_FALSE(osp_nvmf_subsystem_host_allowed(s, NULL));
	osp_nvmf_subsystem_set_allow_any_host(s, false);
	CU_ASSERT_FALSE(osp_nvmf_subsystem_host_allowed(s, H1));
	CU_ASSERT_TRUE(osp_nvmf_subsystem_host_allowed(s, H2));
	/* The discovery subsystem has no list. */
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_host(osp_nvmf_subsystem_first(tgt), H1, err,
			sizeof(err)), -EINVAL);
	osp_nvmf_tgt_destroy(tgt);
}

/* ---- namespaces ---- */

static void
test_namespaces(void)
{
	struct osp_nvmf_tgt *tgt;
	struct osp_nvmf_subsystem *s, *small;
	struct osp_nvmf_ns_opts o;
	struct osp_nvmf_ns *ns;
	char err[256];
	int i;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(1), 0);
	for (i = 0; i < 8; i++) {
		char name[8];

		snprintf(name, sizeof(name), "M%d", i);
		mk_disk(name);
	}
	tgt = osp_nvmf_tgt_create("t", 0);
	s = mk_subsystem(tgt, NQN_A, true, 0);
	osp_nvmf_ns_opts_init(&o, sizeof(o));

	/* Auto-assigned: lowest free. */
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(s, "M0", NULL, err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(s, "M1", &o, err, sizeof(err)), 2);
	o.nsid = 5;
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(s, "M2", &o, err, sizeof(err)), 5);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(s, "M3", &o, err, sizeof(err)), -EEXIST);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "nsid 5"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "M2"));
	o.nsid = 0xffffffff;
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(s, "M3", &o, err, sizeof(err)), -EINVAL);
	o.nsid = 0;
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(s, "M3", &o, err, sizeof(err)), 3);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(s, "nope", &o, err, sizeof(err)), -ENODEV);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "nope"));
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(s, "M3", &o, err, sizeof(err)), -EEXIST);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "already namespace 3"));
	/* Ascending order, UUID from the bdev. */
	ns = osp_nvmf_subsystem_ns_first(s);
	CU_ASSERT_EQUAL(osp_nvmf_ns_get_id(ns), 1);
	CU_ASSERT_EQUAL(osp_uuid_compare(&osp_nvmf_ns_get_opts(ns)->uuid,
					 osp_bdev_get_uuid(osp_bdev_get_by_name("M0"))), 0);
	ns = osp_nvmf_subsystem_ns_next(s, ns);
	CU_ASSERT_EQUAL(osp_nvmf_ns_get_id(ns), 2);
	ns = osp_nvmf_subsystem_ns_next(s, ns);
	CU_ASSERT_EQUAL(osp_nvmf_ns_get_id(ns), 3);
	CU_ASSERT_STRING_EQUAL(osp_nvmf_ns_get_bdev_name(ns), "M3");
	ns = osp_nvmf_subsystem_ns_next(s, ns);
	CU_ASSERT_EQUAL(osp_nvmf_ns_get_id(ns), 5);
	CU_ASSERT_PTR_NULL(osp_nvmf_subsystem_ns_next(s, ns));

	/* A removed nsid is reused first. */
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_remove_ns(s, 2), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_remove_ns(s, 2), -ENOENT);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(s, "M1", NULL, err, sizeof(err)), 2);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(s, "M4", NULL, err, sizeof(err)), 4);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(s, "M5", NULL, err, sizeof(err)), 6);

	/* Unique identifiers. */
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_remove_ns(s, 6), 0);
	memset(o.nguid, 0xab, sizeof(o.nguid));
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(s, "M5", &o, err, sizeof(err)), 6);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_remove_ns(s, 4), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(s, "M4", &o, err, sizeof(err)), -EEXIST);
	memset(o.nguid, 0, sizeof(o.nguid));

	/* An active subsystem must be paused for changes. */
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_start(s, NULL, NULL), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(s, "M4", NULL, err, sizeof(err)), -EBUSY);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_remove_ns(s, 1), -EBUSY);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_pause(s, NULL, NULL), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(s, "M4", NULL, err, sizeof(err)), 4);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_resume(s, NULL, NULL), 0);

	/* max_namespaces bounds nsids. */
	small = mk_subsystem(tgt, NQN_B, true, 2);
	o.nsid = 3;
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(small, "M0", &o, err, sizeof(err)), -ERANGE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "max_namespaces"));
	o.nsid = 2;
	/* A bdev backs one namespace: another subsystem's add is refused (claimed). */
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(small, "M0", &o, err, sizeof(err)), -EEXIST);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "already namespace 1 of " NQN_A));
	CU_ASSERT_PTR_NULL(osp_nvmf_subsystem_get_ns(small, 2));
	CU_ASSERT_PTR_EQUAL(osp_bdev_get_claim_module(osp_bdev_get_by_name("M0")),
			    &g_nvmf_ns_claim);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(small, "M6", &o, err, sizeof(err)), 2);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(small, "M7", NULL, err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(small, "M2", NULL, err, sizeof(err)), -ENOSPC);
	/* The discovery subsystem has none. */
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(osp_nvmf_subsystem_first(tgt), "M2", NULL, err,
			sizeof(err)), -EINVAL);
	/* Removing the namespace releases the claim: the bdev can move. */
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_remove_ns(small, 1), 0);
	CU_ASSERT_PTR_NULL(osp_bdev_get_claim_module(osp_bdev_get_by_name("M7")));
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_pause(s, NULL, NULL), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(s, "M7", NULL, err, sizeof(err)), 7);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_remove_ns(s, 7), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_resume(s, NULL, NULL), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(small, "M7", NULL, err, sizeof(err)), 1);

	/* Hot removal of a bdev removes its namespace, even in an active subsystem. */
	rm_disk("M0");
	CU_ASSERT_PTR_NULL(osp_nvmf_subsystem_get_ns(s, 1));
	CU_ASSERT_PTR_NOT_NULL(osp_nvmf_subsystem_get_ns(small, 2));
	CU_ASSERT_PTR_NOT_NULL(osp_nvmf_subsystem_get_ns(small, 1));
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_get_state(s), OSP_NVMF_SUBSYSTEM_ACTIVE);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_pause(s, NULL, NULL), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_ns(s, "M0", NULL, err, sizeof(err)), -ENODEV);

	/* Destroying the target closes every descriptor, so the bdevs can go. */
	osp_nvmf_tgt_destroy(tgt);
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

/* ---- transports and listeners ---- */

static void
test_transports_and_listeners(void)
{
	struct osp_nvmf_tgt *tgt = osp_nvmf_tgt_create("t", 0);
	struct osp_nvmf_transport_opts topts;
	struct osp_nvmf_transport *t = NULL;
	struct osp_nvmf_subsystem *a, *b;
	struct osp_nvmf_listen_addr x, y, tcp;
	char err[256];

	a = mk_subsystem(tgt, NQN_A, true, 0);
	b = mk_subsystem(tgt, NQN_B, true, 0);
	x = mk_addr("rdma", "ipv4", "10.0.0.1", "4420");
	y = mk_addr("rdma", "ipv4", "10.0.0.2", "4420");
	tcp = mk_addr("tcp", "ipv4", "127.0.0.1", "4420");

	/* No TCP transport in this build. */
	CU_ASSERT_PTR_NULL(osp_nvmf_transport_ops_find("tcp"));
	CU_ASSERT_EQUAL(osp_nvmf_transport_create(tgt, "tcp", NULL, &t, err, sizeof(err)),
			-ENOTSUP);
	CU_ASSERT_STRING_EQUAL(err, "transport TCP is not available in this build");
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_listener(a, &tcp, err, sizeof(err)), -ENOTSUP);
	CU_ASSERT_STRING_EQUAL(err, "transport TCP is not available in this build");
	/* RDMA (the fake) exists but was not created. */
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_listener(a, &x, err, sizeof(err)), -ENODEV);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "nvmf_create_transport"));

	CU_ASSERT_EQUAL(osp_nvmf_transport_opts_init("rdma", &topts, sizeof(topts)), 0);
	CU_ASSERT_EQUAL(topts.max_aq_depth, 64);	/* the transport's own default */
	topts.max_queue_depth = 1;
	CU_ASSERT_EQUAL(osp_nvmf_transport_create(tgt, "rdma", &topts, &t, err, sizeof(err)),
			-EINVAL);
	topts.max_queue_depth = 64;
	CU_ASSERT_EQUAL(osp_nvmf_transport_create(tgt, "rdma", &topts, &t, err, sizeof(err)), 0);
	CU_ASSERT_PTR_EQUAL(t, &g_fake->t);
	CU_ASSERT_EQUAL(t->opts.max_queue_depth, 64);
	CU_ASSERT_PTR_EQUAL(osp_nvmf_tgt_get_transport(tgt, "RDMA"), t);
	CU_ASSERT_EQUAL(osp_nvmf_transport_create(tgt, "RDMA", NULL, NULL, err, sizeof(err)),
			-EEXIST);

	/* One listen() per distinct address; stop_listen() when its last user goes. */
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_listener(a, &x, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_listener(a, &x, err, sizeof(err)), -EEXIST);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_listener(b, &x, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(g_fake->listens, 1);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_listener(a, &y, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(g_fake->listens, 2);
	CU_ASSERT_TRUE(osp_nvmf_listen_addr_equal(osp_nvmf_subsystem_listener_first(a), &x));
	CU_ASSERT_TRUE(osp_nvmf_listen_addr_equal(
			       osp_nvmf_subsystem_listener_next(a, osp_nvmf_subsystem_listener_first(a)),
			       &y));
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_remove_listener(a, &x), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_remove_listener(a, &x), -ENOENT);
	CU_ASSERT_EQUAL(g_fake->stop_listens, 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_destroy(b), 0);
	CU_ASSERT_EQUAL(g_fake->stop_listens, 1);
	/* A failing listen() leaves nothing behind. */
	g_fake->fail_listen = 1;
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_listener(a, &x, err, sizeof(err)), -EADDRINUSE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "10.0.0.1"));
	g_fake->fail_listen = 0;
	CU_ASSERT_PTR_NULL(osp_nvmf_subsystem_listener_next(a, osp_nvmf_subsystem_listener_first(a)));

	osp_nvmf_tgt_destroy(tgt);
	CU_ASSERT_PTR_NULL(g_fake);	/* destroyed with the target */
}

/* ---- discovery ---- */

static struct osp_nvmf_discovery_log_page *
get_page(struct osp_nvmf_tgt *tgt, const char *host, size_t *size)
{
	struct osp_nvmf_discovery_log_page *page;

	*size = osp_nvmf_get_discovery_log_page(tgt, host, NULL, 0, 0);
	CU_ASSERT_FATAL(*size >= sizeof(*page));
	page = malloc(*size);
	CU_ASSERT_EQUAL(osp_nvmf_get_discovery_log_page(tgt, host, page, 0, *size), *size);
	return page;
}

static bool
page_has(const struct osp_nvmf_discovery_log_page *page, const char *nqn, const char *traddr)
{
	char a[OSP_NVMF_TRADDR_MAX_LEN + 1];
	uint64_t i;

	for (i = 0; i < page->numrec; i++) {
		const struct osp_nvmf_discovery_log_page_entry *e = &page->entries[i];
		size_t n = osp_strlen_pad(e->traddr, sizeof(e->traddr), ' ');

		memcpy(a, e->traddr, n);
		a[n] = '\0';
		if (strcmp(e->subnqn, nqn) == 0 && strcmp(a, traddr) == 0) {
			return true;
		}
	}
	return false;
}

static void
test_discovery_log(void)
{
	struct osp_nvmf_tgt *tgt = tgt_with_transport();
	struct osp_nvmf_subsystem *a, *b, *c;
	struct osp_nvmf_listen_addr x, y;
	struct osp_nvmf_discovery_log_page *page;
	const struct osp_nvmf_discovery_log_page_entry *e;
	uint8_t chunk[1024], zero[1024] = {};
	char err[256];
	uint64_t gen;
	size_t size;

	x = mk_addr("rdma", "ipv4", "10.0.0.1", "4420");
	y = mk_addr("rdma", "ipv4", "10.0.0.2", "4421");
	/* Nothing yet: a bare header. */
	page = get_page(tgt, H1, &size);
	CU_ASSERT_EQUAL(size, 1024);
	CU_ASSERT_EQUAL(page->numrec, 0);
	CU_ASSERT_EQUAL(page->recfmt, 0);
	free(page);

	a = mk_subsystem(tgt, NQN_A, true, 0);	/* any host, 2 listeners */
	b = mk_subsystem(tgt, NQN_B, false, 0);	/* H1 only, 1 listener */
	c = mk_subsystem(tgt, NQN_C, true, 0);	/* any host, no listener */
	(void)c;
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_listener(a, &x, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_listener(a, &y, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_listener(b, &y, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_host(b, H1, err, sizeof(err)), 0);
	/* The discovery subsystem's own listener is not an entry. */
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_listener(osp_nvmf_subsystem_first(tgt), &x, err,
			sizeof(err)), 0);

	page = get_page(tgt, H1, &size);
	CU_ASSERT_EQUAL(page->numrec, 3);
	CU_ASSERT_EQUAL(size, 1024 + 3 * 1024);
	CU_ASSERT_TRUE(page_has(page, NQN_A, "10.0.0.1"));
	CU_ASSERT_TRUE(page_has(page, NQN_A, "10.0.0.2"));
	CU_ASSERT_TRUE(page_has(page, NQN_B, "10.0.0.2"));
	e = &page->entries[0];
	CU_ASSERT_EQUAL(e->trtype, OSP_NVMF_TRTYPE_RDMA);
	CU_ASSERT_EQUAL(e->adrfam, OSP_NVMF_ADRFAM_IPV4);
	CU_ASSERT_EQUAL(e->subtype, OSP_NVMF_SUBTYPE_NVME);
	CU_ASSERT_EQUAL(e->cntlid, 0xffff);
	CU_ASSERT_EQUAL(e->asqsz, 64);
	CU_ASSERT_EQUAL(memcmp(e->trsvcid, "4420 ", 5), 0);	/* space padded */
	CU_ASSERT_EQUAL(e->trsvcid[31], ' ');
	CU_ASSERT_EQUAL(e->traddr[OSP_NVMF_TRADDR_MAX_LEN - 1], ' ');
	/* Same address, same port id, across subsystems; different address, different id. */
	CU_ASSERT_EQUAL(page->entries[1].portid, page->entries[2].portid);
	CU_ASSERT_NOT_EQUAL(page->entries[0].portid, page->entries[1].portid);
	gen = page->genctr;
	CU_ASSERT_EQUAL(gen, osp_nvmf_tgt_get_discovery_genctr(tgt));
	free(page);

	/* H2 does not see b; an unknown host neither; NULL sees only allow-any subsystems. */
	page = get_page(tgt, H2, &size);
	CU_ASSERT_EQUAL(page->numrec, 2);
	CU_ASSERT_FALSE(page_has(page, NQN_B, "10.0.0.2"));
	free(page);
	page = get_page(tgt, NULL, &size);
	CU_ASSERT_EQUAL(page->numrec, 0);
	free(page);

	/* Reading in pieces: offset and bytes past the end. */
	CU_ASSERT_EQUAL(osp_nvmf_get_discovery_log_page(tgt, H1, chunk, 1024, sizeof(chunk)),
			4096);
	CU_ASSERT_EQUAL(memcmp(chunk + 256, NQN_A, strlen(NQN_A)), 0);
	memset(chunk, 0xff, sizeof(chunk));
	CU_ASSERT_EQUAL(osp_nvmf_get_discovery_log_page(tgt, H1, chunk, 8192, sizeof(chunk)),
			4096);
	CU_ASSERT_EQUAL(memcmp(chunk, zero, sizeof(chunk)), 0);
	memset(chunk, 0xff, sizeof(chunk));
	CU_ASSERT_EQUAL(osp_nvmf_get_discovery_log_page(tgt, H1, chunk, 4096 - 8, 16), 4096);
	CU_ASSERT_EQUAL(memcmp(chunk + 8, zero, 8), 0);

	/* Generation counter: every visible change bumps it, no-ops do not. */
	gen = osp_nvmf_tgt_get_discovery_genctr(tgt);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_host(b, H2, err, sizeof(err)), 0);
	CU_ASSERT(osp_nvmf_tgt_get_discovery_genctr(tgt) > gen);
	gen = osp_nvmf_tgt_get_discovery_genctr(tgt);
	page = get_page(tgt, H2, &size);
	CU_ASSERT_EQUAL(page->numrec, 3);
	CU_ASSERT_EQUAL(page->genctr, gen);
	free(page);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_remove_host(b, H2), 0);
	CU_ASSERT(osp_nvmf_tgt_get_discovery_genctr(tgt) > gen);
	gen = osp_nvmf_tgt_get_discovery_genctr(tgt);
	osp_nvmf_subsystem_set_allow_any_host(b, false);	/* no change */
	CU_ASSERT_EQUAL(osp_nvmf_tgt_get_discovery_genctr(tgt), gen);
	osp_nvmf_subsystem_set_allow_any_host(b, true);
	CU_ASSERT(osp_nvmf_tgt_get_discovery_genctr(tgt) > gen);
	page = get_page(tgt, H2, &size);
	CU_ASSERT_EQUAL(page->numrec, 3);
	free(page);
	gen = osp_nvmf_tgt_get_discovery_genctr(tgt);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_remove_listener(a, &x), 0);
	CU_ASSERT(osp_nvmf_tgt_get_discovery_genctr(tgt) > gen);
	gen = osp_nvmf_tgt_get_discovery_genctr(tgt);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_add_listener(a, &x, err, sizeof(err)), 0);
	CU_ASSERT(osp_nvmf_tgt_get_discovery_genctr(tgt) > gen);
	gen = osp_nvmf_tgt_get_discovery_genctr(tgt);
	CU_ASSERT_EQUAL(osp_nvmf_subsystem_destroy(a), 0);
	CU_ASSERT(osp_nvmf_tgt_get_discovery_genctr(tgt) > gen);
	page = get_page(tgt, H1, &size);
	CU_ASSERT_EQUAL(page->numrec, 1);
	CU_ASSERT_TRUE(page_has(page, NQN_B, "10.0.0.2"));
	free(page);
	osp_nvmf_tgt_destroy(tgt);
}

/* ---- RPCs and the saved configuration ---- */

static cJSON *g_resp;

static void
rpc_cb(void *arg, const cJSON *resp)
{
	g_resp = resp != NULL ? cJSON_Duplicate(resp, true) : NULL;
}

static const cJSON *
call(const char *method, const char *params_text)
{
	cJSON *params = params_text != NULL ? cJSON_Parse(params_text) : NULL;

	CU_ASSERT(params_text == NULL || params != NULL);
	cJSON_Delete(g_resp);
	g_resp = NULL;
	CU_ASSERT(osp_rpc_call(method, params, rpc_cb, NULL) == 0);
	cJSON_Delete(params);
	CU_ASSERT_PTR_NOT_NULL(g_resp);
	return g_resp;
}

/* The error message of the answer, or NULL if it succeeded. */
static const char *
call_err(const char *method, const char *params_text)
{
	const cJSON *r = call(method, params_text);
	const cJSON *e = cJSON_GetObjectItem(r, "error");

	return e != NULL ? cJSON_GetObjectItem(e, "message")->valuestring : NULL;
}

static bool
err_has(const char *msg, const char *what)
{
	if (msg == NULL || strstr(msg, what) == NULL) {
		printf("\n    message '%s' lacks '%s'\n", msg ? msg : "(success)", what);
		return false;
	}
	return true;
}

static void
test_rpc_and_config(void)
{
	struct osp_nvmf_tgt *tgt;
	const cJSON *r, *item;
	cJSON *config;
	const char *methods[16];
	int n = 0;

	CU_ASSERT_EQUAL_FATAL(ut_bdev_start(1), 0);
	mk_disk("Malloc0");
	mk_disk("Malloc1");
	osp_rpc_set_state(OSP_RPC_RUNTIME);

	/* No target yet. */
	CU_ASSERT_TRUE(err_has(call_err("nvmf_get_subsystems", NULL), "not running"));
	tgt = osp_nvmf_tgt_create(NULL, 0);
	nvmf_set_default_tgt(tgt);

	CU_ASSERT_TRUE(err_has(call_err("nvmf_create_transport", "{\"trtype\":\"tcp\"}"),
			       "transport TCP is not available in this build"));
	CU_ASSERT_PTR_NULL(call_err("nvmf_create_transport",
				    "{\"trtype\":\"RDMA\",\"max_queue_depth\":32,"
				    "\"max_io_qpairs_per_ctrlr\":7,\"num_cqe\":1024}"));
	CU_ASSERT_TRUE(err_has(call_err("nvmf_create_transport", "{\"trtype\":\"RDMA\"}"),
			       "already exists"));
	CU_ASSERT_TRUE(err_has(call_err("nvmf_create_transport",
					"{\"trtype\":\"RDMA\",\"bogus\":1}"), "bogus"));
	r = cJSON_GetObjectItem(call("nvmf_get_transports", NULL), "result");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(r), 1);
	item = cJSON_GetArrayItem(r, 0);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(item, "trtype")->valuestring, "RDMA");
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(item, "max_queue_depth")->valueint, 32);
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(item, "max_io_qpairs_per_ctrlr")->valueint, 7);

	CU_ASSERT_PTR_NULL(call_err("nvmf_create_subsystem",
				    "{\"nqn\":\"" NQN_A "\",\"serial_number\":\"SN1\","
				    "\"model_number\":\"MN1\",\"max_namespaces\":4}"));
	CU_ASSERT_TRUE(err_has(call_err("nvmf_create_subsystem", "{\"nqn\":\"" NQN_A "\"}"),
			       "already exists"));
	CU_ASSERT_TRUE(err_has(call_err("nvmf_create_subsystem", "{\"nqn\":\"nqn.x\"}"),
			       "nqn.x"));
	CU_ASSERT_TRUE(err_has(call_err("nvmf_create_subsystem", "{}"), "nqn"));
	CU_ASSERT_TRUE(err_has(call_err("nvmf_subsystem_add_ns",
					"{\"nqn\":\"" NQN_B "\",\"namespace\":{\"bdev_name\":"
					"\"Malloc0\"}}"), "No subsystem"));
	CU_ASSERT_TRUE(err_has(call_err("nvmf_subsystem_add_ns",
					"{\"nqn\":\"" NQN_A "\",\"namespace\":{\"bdev_name\":"
					"\"Nope\"}}"), "No bdev named 'Nope'"));
	CU_ASSERT_TRUE(err_has(call_err("nvmf_subsystem_add_ns",
					"{\"nqn\":\"" NQN_A "\",\"namespace\":{\"bdev_name\":"
					"\"Malloc0\",\"nsid\":9}}"), "max_namespaces"));
	CU_ASSERT_TRUE(err_has(call_err("nvmf_subsystem_add_ns",
					"{\"nqn\":\"" NQN_A "\",\"namespace\":{\"bdev_name\":"
					"\"Malloc0\",\"nguid\":\"12\"}}"), "nguid"));
	r = call("nvmf_subsystem_add_ns", "{\"nqn\":\"" NQN_A "\",\"namespace\":{\"bdev_name\":"
		 "\"Malloc0\",\"nsid\":3,\"nguid\":\"000102030405060708090a0b0c0d0e0f\","
		 "\"eui64\":\"0011223344556677\"}}");
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(r, "result")->valueint, 3);
	CU_ASSERT_TRUE(err_has(call_err("nvmf_subsystem_add_ns",
					"{\"nqn\":\"" NQN_A "\",\"namespace\":{\"bdev_name\":"
					"\"Malloc1\",\"nsid\":3}}"), "already in use"));
	r = call("nvmf_subsystem_add_ns", "{\"nqn\":\"" NQN_A "\",\"namespace\":{\"bdev_name\":"
		 "\"Malloc1\"}}");
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(r, "result")->valueint, 1);
	CU_ASSERT_PTR_NULL(call_err("nvmf_subsystem_add_host",
				    "{\"nqn\":\"" NQN_A "\",\"host\":\"" H1 "\"}"));
	CU_ASSERT_TRUE(err_has(call_err("nvmf_subsystem_remove_host",
					"{\"nqn\":\"" NQN_A "\",\"host\":\"" H2 "\"}"),
			       "not on the allow list"));
	CU_ASSERT_PTR_NULL(call_err("nvmf_subsystem_add_listener",
				    "{\"nqn\":\"" NQN_A "\",\"listen_address\":{\"trtype\":\"rdma\","
				    "\"adrfam\":\"ipv4\",\"traddr\":\"10.0.0.1\",\"trsvcid\":\"4420\"}}"));
	CU_ASSERT_TRUE(err_has(call_err("nvmf_subsystem_add_listener",
					"{\"nqn\":\"" NQN_A "\",\"listen_address\":{\"trtype\":"
					"\"tcp\",\"traddr\":\"127.0.0.1\",\"trsvcid\":\"4420\"}}"),
			       "transport TCP is not available in this build"));
	CU_ASSERT_TRUE(err_has(call_err("nvmf_subsystem_add_listener",
					"{\"nqn\":\"" NQN_A "\",\"listen_address\":{\"trtype\":"
					"\"rdma\",\"traddr\":\"10.0.0.300\"}}"), "10.0.0.300"));
	CU_ASSERT_TRUE(err_has(call_err("nvmf_subsystem_remove_ns",
					"{\"nqn\":\"" NQN_A "\",\"nsid\":2}"), "no namespace 2"));
	r = cJSON_GetObjectItem(call("nvmf_subsystem_get_listeners", "{\"nqn\":\"" NQN_A "\"}"),
				"result");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(r), 1);
	r = cJSON_GetObjectItem(call("nvmf_subsystem_get_controllers",
				     "{\"nqn\":\"" NQN_A "\"}"), "result");
	CU_ASSERT_TRUE(cJSON_IsArray(r) && cJSON_GetArraySize(r) == 0);
	r = cJSON_GetObjectItem(call("nvmf_get_subsystems", "{\"nqn\":\"" NQN_A "\"}"), "result");
	item = cJSON_GetArrayItem(r, 0);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(item, "subtype")->valuestring, "NVMe");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(item, "namespaces")), 2);
	item = cJSON_GetArrayItem(cJSON_GetObjectItem(item, "namespaces"), 1);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(item, "nguid")->valuestring,
			       "000102030405060708090A0B0C0D0E0F");
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(item, "eui64")->valuestring,
			       "0011223344556677");

	/* The saved configuration, in replay order. */
	config = cJSON_CreateArray();
	nvmf_write_config_json(config);
	cJSON_ArrayForEach(item, config) {
		if (n < 16) {
			methods[n++] = cJSON_GetObjectItem(item, "method")->valuestring;
		}
	}
	CU_ASSERT_EQUAL_FATAL(n, 6);
	CU_ASSERT_STRING_EQUAL(methods[0], "nvmf_create_transport");
	CU_ASSERT_STRING_EQUAL(methods[1], "nvmf_create_subsystem");
	CU_ASSERT_STRING_EQUAL(methods[2], "nvmf_subsystem_add_host");
	CU_ASSERT_STRING_EQUAL(methods[3], "nvmf_subsystem_add_ns");
	CU_ASSERT_STRING_EQUAL(methods[4], "nvmf_subsystem_add_ns");
	CU_ASSERT_STRING_EQUAL(methods[5], "nvmf_subsystem_add_listener");

	/* Replaying it on a fresh target rebuilds the same thing. */
	{
		cJSON *before = cJSON_Duplicate(cJSON_GetObjectItem(call("nvmf_get_subsystems",
						NULL), "result"), true);
		cJSON *after;

		osp_nvmf_tgt_destroy(tgt);
		tgt = osp_nvmf_tgt_create(NULL, 0);
		nvmf_set_default_tgt(tgt);
		cJSON_ArrayForEach(item, config) {
			char *text = cJSON_PrintUnformatted(cJSON_GetObjectItem(item, "params"));

			CU_ASSERT_PTR_NULL(call_err(cJSON_GetObjectItem(item, "method")->valuestring,
						    text));
			free(text);
		}
		after = cJSON_GetObjectItem(call("nvmf_get_subsystems", NULL), "result");
		CU_ASSERT_TRUE(cJSON_Compare(before, after, true));
		cJSON_Delete(before);
	}
	cJSON_Delete(config);

	CU_ASSERT_PTR_NULL(call_err("nvmf_delete_subsystem", "{\"nqn\":\"" NQN_A "\"}"));
	CU_ASSERT_TRUE(err_has(call_err("nvmf_delete_subsystem", "{\"nqn\":\"" NQN_A "\"}"),
			       "No subsystem"));
	CU_ASSERT_TRUE(err_has(call_err("nvmf_delete_subsystem",
					"{\"nqn\":\"" OSP_NVMF_DISCOVERY_NQN "\"}"), "discovery"));
	r = cJSON_GetObjectItem(call("nvmf_get_stats", NULL), "result");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(r, "poll_groups")), 0);

	cJSON_Delete(g_resp);
	g_resp = NULL;
	osp_nvmf_tgt_destroy(tgt);
	CU_ASSERT_PTR_NULL(osp_nvmf_get_tgt(NULL));
	CU_ASSERT_EQUAL(ut_bdev_stop(), 0);
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return CU_get_error();
	}
	suite = CU_add_suite("nvmf", NULL, NULL);
	CU_ADD_TEST(suite, test_nqn);
	CU_ADD_TEST(suite, test_listen_addr_parse);
	CU_ADD_TEST(suite, test_subsystem_create);
	CU_ADD_TEST(suite, test_hosts);
	CU_ADD_TEST(suite, test_namespaces);
	CU_ADD_TEST(suite, test_transports_and_listeners);
	CU_ADD_TEST(suite, test_discovery_log);
	CU_ADD_TEST(suite, test_rpc_and_config);

	rc = ut_run_suites();
	return rc;
}
