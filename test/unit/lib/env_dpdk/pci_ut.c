/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the env's PCI layer (lib/env_dpdk/pci.c) that need no device:
 * address parsing, formatting and ordering; the allow / block lists and the
 * IOVA mode chosen from a fake sysfs tree; enumeration skipping what it must
 * (other classes, kernel-owned devices, uio devices without physical
 * addresses). Opening real devices is tested in a QEMU guest
 * (test/nvme/test_pcie_guest.sh).
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "osprey/env.h"
#include "env_dpdk/env_internal.h"
#include "ut_run.h"

static void
test_addr_parse(void)
{
	struct osp_pci_addr a;

	CU_ASSERT(osp_pci_addr_parse(&a, "0000:00:04.0") == 0);
	CU_ASSERT(a.domain == 0 && a.bus == 0 && a.dev == 4 && a.func == 0);
	CU_ASSERT(osp_pci_addr_parse(&a, "0001:af:1f.7") == 0);
	CU_ASSERT(a.domain == 1 && a.bus == 0xaf && a.dev == 0x1f && a.func == 7);
	CU_ASSERT(osp_pci_addr_parse(&a, "AF:1F.7") == 0);
	CU_ASSERT(a.domain == 0 && a.bus == 0xaf && a.dev == 0x1f && a.func == 7);
	/* DPDK-style dots between all the fields, and a 32-bit domain. */
	CU_ASSERT(osp_pci_addr_parse(&a, "10000.02.03.1") == 0);
	CU_ASSERT(a.domain == 0x10000 && a.bus == 2 && a.dev == 3 && a.func == 1);
	CU_ASSERT(osp_pci_addr_parse(&a, "ffffffff:ff:1f.7") == 0);
	CU_ASSERT(a.domain == 0xffffffff);

	/* Bad input never parses. */
	CU_ASSERT(osp_pci_addr_parse(&a, "") == -EINVAL);
	CU_ASSERT(osp_pci_addr_parse(&a, "04.0") == -EINVAL);
	CU_ASSERT(osp_pci_addr_parse(&a, "0000:00:04") == -EINVAL);	/* bus of 4 digits */
	CU_ASSERT(osp_pci_addr_parse(&a, "0000:000:04.0") == -EINVAL);
	CU_ASSERT(osp_pci_addr_parse(&a, "0000:00:04.00") == -EINVAL);
	CU_ASSERT(osp_pci_addr_parse(&a, "0000:00:04.8") == -EINVAL);
	CU_ASSERT(osp_pci_addr_parse(&a, "0000:00:20.0") == -EINVAL);
	CU_ASSERT(osp_pci_addr_parse(&a, "0000:100:00.0") == -EINVAL);
	CU_ASSERT(osp_pci_addr_parse(&a, "100000000:00:00.0") == -EINVAL);
	CU_ASSERT(osp_pci_addr_parse(&a, "0000:00:04.0:0") == -EINVAL);
	CU_ASSERT(osp_pci_addr_parse(&a, "0000:00:04.0.") == -EINVAL);
	CU_ASSERT(osp_pci_addr_parse(&a, "0000::04.0") == -EINVAL);
	CU_ASSERT(osp_pci_addr_parse(&a, "0x00:04.0") == -EINVAL);
	CU_ASSERT(osp_pci_addr_parse(&a, " 00:04.0") == -EINVAL);
	CU_ASSERT(osp_pci_addr_parse(&a, "00:04.0 ") == -EINVAL);
	CU_ASSERT(osp_pci_addr_parse(&a, "0000:00:04.-1") == -EINVAL);
	CU_ASSERT(osp_pci_addr_parse(&a, "000000000000:00:04.0") == -EINVAL);
	CU_ASSERT(osp_pci_addr_parse(NULL, "00:04.0") == -EINVAL);
	CU_ASSERT(osp_pci_addr_parse(&a, NULL) == -EINVAL);
}

static void
test_addr_fmt_compare(void)
{
	struct osp_pci_addr a = { .domain = 0, .bus = 0, .dev = 4, .func = 0 }, b;
	char buf[32];

	CU_ASSERT(osp_pci_addr_fmt(buf, sizeof(buf), &a) == 0);
	CU_ASSERT_STRING_EQUAL(buf, "0000:00:04.0");
	CU_ASSERT(osp_pci_addr_fmt(buf, 13, &a) == 0);
	CU_ASSERT(osp_pci_addr_fmt(buf, 12, &a) == -ENOSPC);
	a.domain = 0x12345;
	a.bus = 0xab;
	a.dev = 0x1f;
	a.func = 7;
	CU_ASSERT(osp_pci_addr_fmt(buf, sizeof(buf), &a) == 0);
	CU_ASSERT_STRING_EQUAL(buf, "12345:ab:1f.7");
	CU_ASSERT(osp_pci_addr_parse(&b, buf) == 0);
	CU_ASSERT(osp_pci_addr_compare(&a, &b) == 0);
	CU_ASSERT(osp_pci_addr_fmt(NULL, 0, &a) == -EINVAL);

	/* Ordered by domain, then bus, device, function. */
	osp_pci_addr_parse(&a, "0000:00:04.0");
	osp_pci_addr_parse(&b, "0000:00:04.1");
	CU_ASSERT(osp_pci_addr_compare(&a, &b) < 0 && osp_pci_addr_compare(&b, &a) > 0);
	osp_pci_addr_parse(&b, "0000:01:00.0");
	CU_ASSERT(osp_pci_addr_compare(&a, &b) < 0);
	osp_pci_addr_parse(&b, "0001:00:00.0");
	CU_ASSERT(osp_pci_addr_compare(&a, &b) < 0);
	osp_pci_addr_parse(&a, "0000:ff:1f.7");
	CU_ASSERT(osp_pci_addr_compare(&a, &b) < 0);
}

/* ---- a fake /sys/bus/pci/devices ---- */

static char g_root[64];

static void
put(const char *dev, const char *attr, const char *val)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", g_root, dev, attr);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(val, f);
	fclose(f);
}

static void
fake_dev(const char *dev, const char *cls, const char *driver)
{
	char path[256], target[256];

	snprintf(path, sizeof(path), "%s/%s", g_root, dev);
	CU_ASSERT_FATAL(mkdir(path, 0755) == 0);
	put(dev, "class", cls);
	put(dev, "vendor", "0x1b36\n");
	put(dev, "device", "0x0010\n");
	put(dev, "subsystem_vendor", "0x1af4\n");
	put(dev, "subsystem_device", "0x1100\n");
	put(dev, "numa_node", "-1\n");
	put(dev, "resource", "0x00000000febf0000 0x00000000febf3fff 0x0000000000140204\n");
	if (driver != NULL) {
		snprintf(path, sizeof(path), "%s/%s/driver", g_root, dev);
		snprintf(target, sizeof(target), "../../../bus/pci/drivers/%s", driver);
		CU_ASSERT_FATAL(symlink(target, path) == 0);
	}
}

static int
g_cb_calls;

static int
count_cb(void *ctx, struct osp_pci_device *dev)
{
	g_cb_calls++;
	return 1;
}

static void
test_fake_sysfs(void)
{
	struct osp_env_opts opts;
	const char *iova = NULL;
	const char *allow[] = { "0000:00:05.0" };
	const char *bad[] = { "0000:00:05" "x" };
	const char *block[] = { "00:04.0" };
	struct osp_pci_addr a;
	char cmd[128];

	snprintf(g_root, sizeof(g_root), "/tmp/osp_pci_ut.XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(g_root) != NULL);
	fake_dev("0000:00:04.0", "0x010802\n", "uio_pci_generic");
	fake_dev("0000:00:05.0", "0x010802\n", "nvme");
	fake_dev("0000:00:06.0", "0x020000\n", "uio_pci_generic");	/* a NIC */
	fake_dev("0000:00:07.0", "0x010802\n", NULL);
	env_pci_set_sysfs_root(g_root);

	osp_env_opts_init(&opts);
	opts.pci_enabled = true;
	/* A uio device: physical addresses wanted when hugepages exist (as root). */
	CU_ASSERT(env_pci_pre_init(&opts, true, &iova) == 0);
	CU_ASSERT_STRING_EQUAL(iova, geteuid() == 0 ? "pa" : "va");
	CU_ASSERT(env_pci_pre_init(&opts, false, &iova) == 0);
	CU_ASSERT_STRING_EQUAL(iova, "va");
	/* Not when the uio devices are outside the allow list, or blocked. */
	opts.pci_allowed = allow;
	opts.num_pci_allowed = 1;
	CU_ASSERT(env_pci_pre_init(&opts, true, &iova) == 0);
	CU_ASSERT_STRING_EQUAL(iova, "va");
	opts.num_pci_allowed = 0;
	opts.pci_blocked = block;
	opts.num_pci_blocked = 1;
	CU_ASSERT(env_pci_pre_init(&opts, true, &iova) == 0);
	/* 00:06.0 (not NVMe, but uio) still wants PA. */
	CU_ASSERT_STRING_EQUAL(iova, geteuid() == 0 ? "pa" : "va");
	opts.num_pci_blocked = 0;
	/* A bad address in a list fails the init. */
	opts.pci_allowed = bad;
	opts.num_pci_allowed = 1;
	CU_ASSERT(env_pci_pre_init(&opts, true, &iova) == -EINVAL);
	opts.num_pci_allowed = 0;
	opts.pci_blocked = bad;
	opts.num_pci_blocked = 1;
	CU_ASSERT(env_pci_pre_init(&opts, true, &iova) == -EINVAL);
	opts.num_pci_blocked = 0;
	/* A count without a list. */
	opts.pci_allowed = NULL;
	opts.num_pci_allowed = 2;
	CU_ASSERT(env_pci_pre_init(&opts, true, &iova) == -EINVAL);
	opts.num_pci_allowed = 0;

	/* Before the env is up: refused. */
	CU_ASSERT(osp_pci_enumerate(OSP_PCI_CLASS_NVME, count_cb, NULL) == -ENODEV);
	CU_ASSERT(env_pci_pre_init(&opts, false, &iova) == 0);
	env_pci_post_init();
	/* 04.0 is uio but there are no physical addresses (no EAL here: not PA);
	 * 05.0 is the kernel's, 06.0 a NIC, 07.0 bound to nothing: no callback. */
	g_cb_calls = 0;
	CU_ASSERT(osp_pci_enumerate(OSP_PCI_CLASS_NVME, count_cb, NULL) == 0);
	CU_ASSERT(g_cb_calls == 0);
	CU_ASSERT(osp_pci_enumerate(OSP_PCI_CLASS_NVME, NULL, NULL) == -EINVAL);
	osp_pci_addr_parse(&a, "0000:00:04.0");
	CU_ASSERT(osp_pci_device_attach(&a, OSP_PCI_CLASS_NVME, count_cb, NULL) == -EPERM);
	CU_ASSERT(osp_pci_device_attach(&a, 0x020000, count_cb, NULL) == -ENODEV);
	osp_pci_addr_parse(&a, "0000:00:05.0");
	CU_ASSERT(osp_pci_device_attach(&a, OSP_PCI_CLASS_NVME, count_cb, NULL) == -ENODEV);
	osp_pci_addr_parse(&a, "0000:00:09.0");
	CU_ASSERT(osp_pci_device_attach(&a, OSP_PCI_CLASS_NVME, count_cb, NULL) == -ENODEV);
	CU_ASSERT(osp_pci_device_attach(NULL, OSP_PCI_CLASS_NVME, count_cb, NULL) == -EINVAL);
	CU_ASSERT(g_cb_calls == 0);
	CU_ASSERT(osp_pci_event_poll() == 0);
	env_pci_fini();

	env_pci_set_sysfs_root(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_root);
	CU_ASSERT(system(cmd) == 0);
}

UT_RUN_SUITE("env_pci",
	     CU_ADD_TEST(suite, test_addr_parse);
	     CU_ADD_TEST(suite, test_addr_fmt_compare);
	     CU_ADD_TEST(suite, test_fake_sysfs);)
