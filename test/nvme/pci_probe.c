/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pci_probe: a smoke test of the env's PCI layer on real (or QEMU) NVMe
 * controllers, used by test/nvme/test_pcie_guest.sh before the NVMe driver
 * exists. It starts the env with the PCI bus, enumerates every NVMe
 * controller (class 010802) it may use, and for each prints its address, ids,
 * kernel driver, NUMA node, BAR0 and the controller's CAP and VS registers
 * (NVMe base spec, "Controller Registers": CAP at 0x0, VS at 0x8), checks
 * that VS is 1.x and CAP.MQES sane, and that bus mastering is on.
 * With -I it also runs one Identify Controller through a freshly set up admin
 * queue pair in env DMA memory (a test of the IOVA the env hands out: IOVA =
 * VA in the VFIO container, physical addresses with uio) and prints the
 * model and serial; the controller is disabled again afterwards.
 *
 * With -R SECONDS it keeps the controllers attached, prints
 * "pci_probe: waiting for hot remove of N controller(s)" and waits that long
 * for the env to report every one of them removed (osp_pci_event_poll() ->
 * the remove callback), reading CSTS once more and detaching each as its
 * callback comes (a vfio-pci removal completes only then).
 * With -B it clears bus mastering before the Identify (a self-test: the
 * Identify must then fail, QEMU enforces it).
 *
 *   pci_probe [-n COUNT] [-a BDF]... [-s MiB] [--no-huge] [-I] [-B] [-R SECONDS]
 * Exit 0 when at least COUNT (default 1) controllers were probed and all passed
 * (and, with -R, all were reported removed in time).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/env.h"

#define REG_CAP		0x00
#define REG_VS		0x08
#define REG_CC		0x14
#define REG_CSTS	0x1c
#define REG_AQA		0x24
#define REG_ASQ		0x28
#define REG_ACQ		0x30
#define DOORBELLS	0x1000

#define MAX_DEVS 16

struct probe {
	bool identify;
	bool clear_bm;
	int remove_wait;
	int count;
	int failed;
	int attached;
	int removed;
	struct osp_pci_device *devs[MAX_DEVS];
	void *bars[MAX_DEVS];
};

static uint32_t
rd32(volatile uint8_t *bar, uint32_t off)
{
	return *(volatile uint32_t *)(bar + off);
}

static uint64_t
rd64(volatile uint8_t *bar, uint32_t off)
{
	/* Two 32-bit reads: some controllers do not take 64-bit accesses. */
	return rd32(bar, off) | ((uint64_t)rd32(bar, off + 4) << 32);
}

static void
wr32(volatile uint8_t *bar, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(bar + off) = v;
}

static void
wr64(volatile uint8_t *bar, uint32_t off, uint64_t v)
{
	wr32(bar, off, (uint32_t)v);
	wr32(bar, off + 4, (uint32_t)(v >> 32));
}

/* Wait for CSTS.RDY == rdy for up to CAP.TO * 500 ms. */
static int
wait_rdy(volatile uint8_t *bar, uint64_t cap, uint32_t rdy)
{
	uint64_t to_ms = ((cap >> 24) & 0xff) * 500 + 500;
	uint64_t i;

	for (i = 0; i < to_ms * 10; i++) {
		uint32_t csts = rd32(bar, REG_CSTS);

		if (csts == 0xffffffff) {
			return -ENODEV;
		}
		if ((csts & 1) == rdy) {
			return 0;
		}
		osp_delay_us(100);
	}
	return -ETIMEDOUT;
}

static void
trim(char *s, size_t len)
{
	s[len] = '\0';
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\0')) {
		s[--len] = '\0';
	}
}

/* One Identify Controller on a 2-entry admin queue pair; the controller is left disabled. */
static int
identify(const char *name, volatile uint8_t *bar, uint64_t cap)
{
	uint32_t dstrd = 4u << ((cap >> 32) & 0xf);
	uint64_t sq_iova, cq_iova, buf_iova;
	uint32_t *sq, *cq, i;
	uint8_t *buf;
	char mn[41], sn[21];
	int rc = -ENOMEM;

	sq = osp_dma_zmalloc(4096, 4096, &sq_iova);
	cq = osp_dma_zmalloc(4096, 4096, &cq_iova);
	buf = osp_dma_zmalloc(4096, 4096, &buf_iova);
	if (sq == NULL || cq == NULL || buf == NULL) {
		goto out;
	}
	wr32(bar, REG_CC, 0);
	rc = wait_rdy(bar, cap, 0);
	if (rc != 0) {
		printf("pci_probe: %s: controller does not disable (%s)\n", name, strerror(-rc));
		goto out;
	}
	wr32(bar, REG_AQA, (1u << 16) | 1u);	/* 2 entries each (0's based) */
	wr64(bar, REG_ASQ, sq_iova);
	wr64(bar, REG_ACQ, cq_iova);
	/* IOSQES 6 (64 B), IOCQES 4 (16 B), MPS 0 (4 KiB), NVM command set, EN. */
	wr32(bar, REG_CC, (4u << 20) | (6u << 16) | 1u);
	rc = wait_rdy(bar, cap, 1);
	if (rc != 0) {
		printf("pci_probe: %s: controller does not become ready (%s, CSTS 0x%x)\n", name,
		       strerror(-rc), rd32(bar, REG_CSTS));
		goto out;
	}
	/* Identify (opcode 06h), CID 1, PRP1 = buf, CNS 1 (controller). */
	sq[0] = 0x06 | (1u << 16);
	sq[6] = (uint32_t)buf_iova;
	sq[7] = (uint32_t)(buf_iova >> 32);
	sq[10] = 1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wr32(bar, DOORBELLS, 1);	/* SQ0 tail */
	rc = -ETIMEDOUT;
	for (i = 0; i < 50000; i++) {	/* up to 5 s */
		uint32_t dw3 = __atomic_load_n(&cq[3], __ATOMIC_ACQUIRE);

		if (dw3 & (1u << 16)) {	/* phase tag of the first pass */
			uint32_t status = (dw3 >> 17) & 0x7fff;

			if (status != 0 || (dw3 & 0xffff) != 1) {
				printf("pci_probe: %s: Identify failed: status 0x%x cid %u\n", name,
				       status, dw3 & 0xffff);
				rc = -EIO;
				break;
			}
			wr32(bar, DOORBELLS + dstrd, 1);	/* CQ0 head */
			memcpy(sn, buf + 4, 20);
			trim(sn, 20);
			memcpy(mn, buf + 24, 40);
			trim(mn, 40);
			if (buf[0] == 0 && buf[1] == 0) {
				printf("pci_probe: %s: Identify data is empty (VID 0): the DMA did not land "
				       "in the buffer\n", name);
				rc = -EIO;
				break;
			}
			printf("pci_probe: %s: identify model '%s' serial '%s' vid %02x%02x "
			       "(buffer iova 0x%llx)\n", name, mn, sn, buf[1], buf[0],
			       (unsigned long long)buf_iova);
			rc = 0;
			break;
		}
		osp_delay_us(100);
	}
	if (rc == -ETIMEDOUT) {
		printf("pci_probe: %s: no Identify completion in 5 s (CSTS 0x%x)\n", name,
		       rd32(bar, REG_CSTS));
	}
	wr32(bar, REG_CC, 0);
	wait_rdy(bar, cap, 0);
out:
	osp_dma_free(sq);
	osp_dma_free(cq);
	osp_dma_free(buf);
	return rc;
}

static void
remove_cb(void *ctx, struct osp_pci_device *dev)
{
	struct probe *p = ctx;
	struct osp_pci_addr a = osp_pci_device_get_addr(dev);
	char name[32];
	int i;

	osp_pci_addr_fmt(name, sizeof(name), &a);
	for (i = 0; i < p->attached; i++) {
		if (p->devs[i] == dev) {
			/* The device may be gone: what a read gives now, for the log. */
			printf("pci_probe: %s: hot remove reported (is_removed %d, CSTS reads 0x%x); "
			       "detaching\n", name, osp_pci_device_is_removed(dev),
			       rd32(p->bars[i], REG_CSTS));
			fflush(stdout);
			osp_pci_device_unmap_bar(dev, 0, p->bars[i]);
			osp_pci_device_detach(dev);
			p->devs[i] = NULL;
			p->removed++;
			return;
		}
	}
	printf("pci_probe: %s: remove callback for a device it does not hold\n", name);
	p->failed++;
}

static int
probe_cb(void *ctx, struct osp_pci_device *dev)
{
	struct probe *p = ctx;
	struct osp_pci_addr addr = osp_pci_device_get_addr(dev);
	struct osp_pci_id id = osp_pci_device_get_id(dev);
	uint64_t phys = 0, size = 0, cap;
	uint32_t vs, cmd = 0, mqes;
	char name[32];
	void *bar;
	bool ok = true;
	int rc;

	osp_pci_addr_fmt(name, sizeof(name), &addr);
	p->count++;
	osp_pci_device_cfg_read32(dev, &cmd, 0x4);
	rc = osp_pci_device_map_bar(dev, 0, &bar, &phys, &size);
	if (rc != 0) {
		printf("pci_probe: %s: cannot map BAR0: %s\n", name, strerror(-rc));
		p->failed++;
		return 1;
	}
	cap = rd64(bar, REG_CAP);
	vs = rd32(bar, REG_VS);
	mqes = (uint32_t)(cap & 0xffff) + 1;
	printf("pci_probe: %s %04x:%04x (sub %04x:%04x) class %06x driver %s numa %d "
	       "bar0 0x%llx+0x%llx command 0x%04x (bus master %s) CAP 0x%016llx "
	       "(MQES %u DSTRD %u TO %u CSS 0x%x) VS %u.%u.%u\n", name, id.vendor_id, id.device_id,
	       id.subvendor_id, id.subdevice_id, id.class_id, osp_pci_device_get_driver(dev),
	       osp_pci_device_get_socket_id(dev), (unsigned long long)phys, (unsigned long long)size,
	       cmd & 0xffff, (cmd & 0x4) ? "on" : "off", (unsigned long long)cap, mqes,
	       (uint32_t)(cap >> 32) & 0xf, (uint32_t)(cap >> 24) & 0xff,
	       (uint32_t)(cap >> 37) & 0xff, vs >> 16, (vs >> 8) & 0xff, vs & 0xff);
	if ((vs >> 16) != 1) {
		printf("pci_probe: %s: VS major is %u, not 1\n", name, vs >> 16);
		ok = false;
	}
	if (mqes < 2 || cap == ~0ull) {
		printf("pci_probe: %s: CAP.MQES %u makes no sense\n", name, mqes);
		ok = false;
	}
	if (!(cmd & 0x4)) {
		printf("pci_probe: %s: bus mastering is off after attach\n", name);
		ok = false;
	}
	if (osp_pci_device_is_removed(dev)) {
		printf("pci_probe: %s: reported removed\n", name);
		ok = false;
	}
	if (p->clear_bm) {
		cmd &= ~0x4u;
		osp_pci_device_cfg_write(dev, &cmd, 2, 0x4);
		printf("pci_probe: %s: bus mastering cleared (-B)\n", name);
	}
	if (ok && p->identify && identify(name, bar, cap) != 0) {
		ok = false;
	}
	if (!ok) {
		p->failed++;
	}
	if (p->remove_wait > 0 && ok && p->attached < MAX_DEVS) {
		p->devs[p->attached] = dev;
		p->bars[p->attached] = bar;
		p->attached++;
		osp_pci_device_set_remove_cb(dev, remove_cb, p);
		return 0;	/* keep it attached */
	}
	osp_pci_device_unmap_bar(dev, 0, bar);
	return 1;	/* give it back: detached */
}

/* Wait for the env to report every kept controller removed. */
static void
wait_removal(struct probe *p)
{
	uint64_t end = osp_get_ticks() + (uint64_t)p->remove_wait * osp_get_ticks_hz();
	int i;

	printf("pci_probe: waiting for hot remove of %d controller(s)\n", p->attached);
	fflush(stdout);
	while (p->removed < p->attached && osp_get_ticks() < end) {
		osp_pci_event_poll();
		osp_delay_us(10000);
	}
	for (i = 0; i < p->attached; i++) {
		if (p->devs[i] != NULL) {
			struct osp_pci_addr a = osp_pci_device_get_addr(p->devs[i]);
			char name[32];

			osp_pci_addr_fmt(name, sizeof(name), &a);
			printf("pci_probe: %s: no hot remove reported in %d s\n", name, p->remove_wait);
			p->failed++;
		}
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"no-huge", no_argument, NULL, 'H'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct osp_env_opts opts;
	struct probe p = { 0 };
	const char *allowed[16];
	size_t nallowed = 0;
	int want = 1, c, rc;

	osp_env_opts_init(&opts);
	opts.name = "pci_probe";
	opts.pci_enabled = true;
	opts.mem_size_mb = 64;
	while ((c = getopt_long(argc, argv, "n:a:s:IBR:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			want = atoi(optarg);
			break;
		case 'a':
			if (nallowed == 16) {
				fprintf(stderr, "pci_probe: at most 16 -a\n");
				return 2;
			}
			allowed[nallowed++] = optarg;
			break;
		case 's':
			opts.mem_size_mb = atoi(optarg);
			break;
		case 'H':
			opts.no_huge = true;
			break;
		case 'I':
			p.identify = true;
			break;
		case 'B':
			p.clear_bm = true;
			break;
		case 'R':
			p.remove_wait = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: pci_probe [-n COUNT] [-a BDF]... [-s MiB] [--no-huge] [-I] "
				"[-B] [-R SECONDS]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	opts.pci_allowed = allowed;
	opts.num_pci_allowed = nallowed;
	rc = osp_env_init(&opts);
	if (rc != 0) {
		fprintf(stderr, "pci_probe: env init failed: %s\n", strerror(-rc));
		return 1;
	}
	printf("pci_probe: env up (%s memory)\n", osp_env_uses_hugepages() ? "hugepage" : "no-huge");
	rc = osp_pci_enumerate(OSP_PCI_CLASS_NVME, probe_cb, &p);
	if (rc == 0 && p.remove_wait > 0) {
		wait_removal(&p);
	}
	osp_env_fini();
	if (rc != 0) {
		printf("pci_probe: enumeration failed: %s\n", strerror(-rc));
		return 1;
	}
	printf("pci_probe: %d controller(s), %d failed\n", p.count, p.failed);
	return (p.count >= want && p.failed == 0) ? 0 : 1;
}
