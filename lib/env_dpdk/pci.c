/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI devices for userspace drivers (include/osprey/env.h, "PCI").
 *
 * Built on DPDK's public EAL interface only. Debian's libdpdk-dev 22.11 does
 * not install the driver-side PCI headers (the layouts of rte_pci_device and
 * rte_pci_driver; rte_pci_register() is internal), so instead of registering
 * an rte_pci driver, devices are found in sysfs and opened the way the
 * kernel driver they are bound to allows:
 *   vfio-pci         rte_vfio_setup_device(): the device joins the EAL's VFIO
 *                    container, in which the EAL maps every memory segment it
 *                    owns (now and as the heap grows) at its IOVA; BARs and
 *                    config space are regions of the VFIO device fd.
 *   uio_pci_generic  BARs are sysfs resourceN files, config space the sysfs
 *                    config file; DMA uses physical addresses, which the EAL
 *                    has only with hugepages (IOVA = PA, chosen at init).
 * Hot remove comes from the EAL's device event monitor (kernel uevents), and
 * for vfio-pci also from the VFIO request interrupt: the kernel asks the
 * owner to let go of the device and waits until it does, so no remove uevent
 * comes before the driver detached. Either way the device is marked removed
 * at once (any thread) and its driver is told from osp_pci_event_poll().
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <unistd.h>

#include <rte_config.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_interrupts.h>
#include <rte_vfio.h>

#include "osprey/env.h"
#include "env_internal.h"

#define PCI_BARS		6
#define PCI_CFG_SPACE_SIZE	4096
#define PCI_CFG_COMMAND		0x04
#define PCI_COMMAND_MEMORY	0x2
#define PCI_COMMAND_MASTER	0x4
#define PCI_LIST_MAX		128
#define IORESOURCE_MEM		0x200
#define PCI_SYSFS_DEFAULT	"/sys/bus/pci/devices"

enum pci_kdrv {
	PCI_KDRV_VFIO,
	PCI_KDRV_UIO,
};

struct pci_bar {
	void *addr;
	uint64_t size;		/* of the mapping */
	uint64_t phys;
};

struct osp_pci_device {
	TAILQ_ENTRY(osp_pci_device) link;
	struct osp_pci_addr addr;
	struct osp_pci_id id;
	char name[32];
	char driver[32];
	int socket_id;
	enum pci_kdrv kdrv;
	int cfg_fd;		/* uio: sysfs config; vfio: the device fd */
	uint64_t cfg_off;	/* where config space starts in cfg_fd */
	int vfio_fd;
	int req_fd;		/* vfio request eventfd */
	struct rte_intr_handle *req_intr;
	struct pci_bar bar[PCI_BARS];
	atomic_bool removed;
	bool remove_delivered;
	osp_pci_remove_cb remove_cb;
	void *remove_ctx;
};

/* What sysfs says about a device, before it is opened. */
struct pci_info {
	struct osp_pci_addr addr;
	struct osp_pci_id id;
	char name[32];
	char driver[32];
	int socket_id;
};

static char g_sysfs[256] = PCI_SYSFS_DEFAULT;
static bool g_pci_ready;
static struct osp_pci_addr g_allowed[PCI_LIST_MAX];
static size_t g_num_allowed;
static struct osp_pci_addr g_blocked[PCI_LIST_MAX];
static size_t g_num_blocked;
/* The device list is read by the EAL's interrupt thread (hot remove events). */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(, osp_pci_device) g_devices = TAILQ_HEAD_INITIALIZER(g_devices);
static atomic_int g_events_pending;
static bool g_monitor_started;

/* ---- addresses ---- */

/* One hex field of at most maxdig digits ending at one of the stop chars (or the end). */
static int
parse_hex_field(const char **s, unsigned maxdig, uint64_t *out, unsigned *ndig)
{
	const char *p = *s;
	uint64_t v = 0;
	unsigned n = 0;

	while (*p != '\0' && *p != ':' && *p != '.') {
		int d;

		if (*p >= '0' && *p <= '9') {
			d = *p - '0';
		} else if (*p >= 'a' && *p <= 'f') {
			d = *p - 'a' + 10;
		} else if (*p >= 'A' && *p <= 'F') {
			d = *p - 'A' + 10;
		} else {
			return -EINVAL;
		}
		if (++n > maxdig) {
			return -EINVAL;
		}
		v = v * 16 + (uint64_t)d;
		p++;
	}
	if (n == 0) {
		return -EINVAL;
	}
	*out = v;
	*ndig = n;
	*s = p;
	return 0;
}

int
osp_pci_addr_parse(struct osp_pci_addr *addr, const char *bdf)
{
	uint64_t f[4];
	unsigned dig[4];
	const char *p = bdf;
	int n = 0;

	if (addr == NULL || bdf == NULL) {
		return -EINVAL;
	}
	/* Up to four fields (domain, bus, device, function), ':' or '.' between. */
	while (n < 4) {
		if (parse_hex_field(&p, 8, &f[n], &dig[n]) != 0) {
			return -EINVAL;
		}
		n++;
		if (*p == '\0') {
			break;
		}
		p++;
		if (*p == '\0') {
			return -EINVAL;	/* trailing separator */
		}
	}
	if (*p != '\0' || n < 3) {
		return -EINVAL;
	}
	if (n == 3) {
		memmove(&f[1], &f[0], 3 * sizeof(f[0]));
		memmove(&dig[1], &dig[0], 3 * sizeof(dig[0]));
		f[0] = 0;
		dig[0] = 1;
	}
	/* Widths: domain up to 8 hex digits, bus and device 2, function 1. */
	if (dig[1] > 2 || dig[2] > 2 || dig[3] > 1) {
		return -EINVAL;
	}
	if (f[0] > UINT32_MAX || f[1] > 0xff || f[2] > 0x1f || f[3] > 7) {
		return -EINVAL;
	}
	addr->domain = (uint32_t)f[0];
	addr->bus = (uint8_t)f[1];
	addr->dev = (uint8_t)f[2];
	addr->func = (uint8_t)f[3];
	return 0;
}

int
osp_pci_addr_fmt(char *buf, size_t len, const struct osp_pci_addr *addr)
{
	int n;

	if (buf == NULL || addr == NULL) {
		return -EINVAL;
	}
	n = snprintf(buf, len, "%04x:%02x:%02x.%x", addr->domain, addr->bus, addr->dev, addr->func);
	if (n < 0 || (size_t)n >= len) {
		return -ENOSPC;
	}
	return 0;
}

int
osp_pci_addr_compare(const struct osp_pci_addr *a, const struct osp_pci_addr *b)
{
	uint64_t ka = ((uint64_t)a->domain << 24) | ((uint32_t)a->bus << 16) |
		      ((uint32_t)a->dev << 8) | a->func;
	uint64_t kb = ((uint64_t)b->domain << 24) | ((uint32_t)b->bus << 16) |
		      ((uint32_t)b->dev << 8) | b->func;

	return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/* ---- sysfs ---- */

void
env_pci_set_sysfs_root(const char *path)
{
	snprintf(g_sysfs, sizeof(g_sysfs), "%s", path ? path : PCI_SYSFS_DEFAULT);
}

static int
sysfs_read(const char *name, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", g_sysfs, name, attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0) {
		return -EIO;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) {
		buf[--n] = '\0';
	}
	return 0;
}

static int
sysfs_read_hex(const char *name, const char *attr, uint64_t *v)
{
	char buf[64], *end;
	int rc = sysfs_read(name, attr, buf, sizeof(buf));

	if (rc != 0) {
		return rc;
	}
	errno = 0;
	*v = strtoull(buf, &end, 16);
	return (errno != 0 || end == buf) ? -EINVAL : 0;
}

static int
pci_info_read(const char *name, struct pci_info *info)
{
	char path[PATH_MAX], link[PATH_MAX], buf[32];
	uint64_t v;
	ssize_t n;
	const char *base;

	memset(info, 0, sizeof(*info));
	if (osp_pci_addr_parse(&info->addr, name) != 0) {
		return -EINVAL;
	}
	osp_pci_addr_fmt(info->name, sizeof(info->name), &info->addr);
	if (sysfs_read_hex(name, "class", &v) != 0) {
		return -ENODEV;
	}
	info->id.class_id = (uint32_t)(v & 0xffffff);
	info->id.vendor_id = sysfs_read_hex(name, "vendor", &v) == 0 ? (uint16_t)v : 0xffff;
	info->id.device_id = sysfs_read_hex(name, "device", &v) == 0 ? (uint16_t)v : 0xffff;
	info->id.subvendor_id = sysfs_read_hex(name, "subsystem_vendor", &v) == 0 ? (uint16_t)v : 0xffff;
	info->id.subdevice_id = sysfs_read_hex(name, "subsystem_device", &v) == 0 ? (uint16_t)v : 0xffff;
	info->socket_id = OSP_ENV_SOCKET_ID_ANY;
	if (sysfs_read(name, "numa_node", buf, sizeof(buf)) == 0) {
		int node = atoi(buf);

		info->socket_id = node >= 0 ? node : OSP_ENV_SOCKET_ID_ANY;
	}
	snprintf(path, sizeof(path), "%s/%s/driver", g_sysfs, name);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		base = strrchr(link, '/');
		snprintf(info->driver, sizeof(info->driver), "%.31s", base ? base + 1 : link);
	}
	return 0;
}

static bool
addr_in(const struct osp_pci_addr *a, const struct osp_pci_addr *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (osp_pci_addr_compare(a, &list[i]) == 0) {
			return true;
		}
	}
	return false;
}

/* May this process use the device (allow and block lists)? */
static bool
pci_addr_permitted(const struct osp_pci_addr *a)
{
	if (addr_in(a, g_blocked, g_num_blocked)) {
		return false;
	}
	return g_num_allowed == 0 || addr_in(a, g_allowed, g_num_allowed);
}

static bool
driver_usable(const char *driver)
{
	return strcmp(driver, "vfio-pci") == 0 || strcmp(driver, "uio_pci_generic") == 0;
}

/* Call fn for every device in sysfs, in address order; stops at fn's first nonzero return. */
static int
pci_scan(int (*fn)(void *ctx, const struct pci_info *info), void *ctx)
{
	struct dirent **names = NULL;
	struct pci_info info;
	int n, i, rc = 0;

	n = scandir(g_sysfs, &names, NULL, alphasort);
	if (n < 0) {
		return -errno;
	}
	for (i = 0; i < n; i++) {
		if (rc == 0 && names[i]->d_name[0] != '.' &&
		    pci_info_read(names[i]->d_name, &info) == 0) {
			rc = fn(ctx, &info);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/* ---- init ---- */

static int
parse_list(const char **in, size_t n, struct osp_pci_addr *out, size_t *nout, const char *what)
{
	size_t i;

	if (n > PCI_LIST_MAX) {
		fprintf(stderr, "osprey: too many PCI %s addresses (%zu, at most %d)\n", what, n,
			PCI_LIST_MAX);
		return -EINVAL;
	}
	if (n > 0 && in == NULL) {
		fprintf(stderr, "osprey: %zu PCI %s addresses but no list\n", n, what);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (in[i] == NULL || osp_pci_addr_parse(&out[i], in[i]) != 0) {
			fprintf(stderr, "osprey: invalid PCI address '%s' in the %s list "
				"(expected 0000:00:04.0)\n", in[i] ? in[i] : "(null)", what);
			return -EINVAL;
		}
	}
	*nout = n;
	return 0;
}

struct iova_scan {
	bool hugepages;
	bool need_pa;
};

static int
iova_scan_one(void *ctx, const struct pci_info *info)
{
	struct iova_scan *s = ctx;

	if (strcmp(info->driver, "uio_pci_generic") != 0 || !pci_addr_permitted(&info->addr)) {
		return 0;
	}
	if (s->hugepages && geteuid() == 0) {
		s->need_pa = true;
	} else {
		/* IOVA = PA without them would make the EAL refuse to start at all. */
		fprintf(stderr, "osprey: %s is bound to uio_pci_generic, whose DMA needs physical "
			"addresses; they exist only with hugepages and as root (%s): it cannot be "
			"used (reserve hugepages with scripts/setup.sh and run as root, or bind it "
			"to vfio-pci)\n", info->name,
			s->hugepages ? "not root" : "no free hugepages");
	}
	return 0;
}

int
env_pci_pre_init(const struct osp_env_opts *opts, bool hugepages, const char **iova_mode)
{
	struct iova_scan s = { .hugepages = hugepages };
	int rc;

	g_pci_ready = false;
	g_num_allowed = g_num_blocked = 0;
	rc = parse_list(opts->pci_allowed, opts->num_pci_allowed, g_allowed, &g_num_allowed,
			"allowed");
	if (rc == 0 && opts->opts_size >= offsetof(struct osp_env_opts, num_pci_blocked) +
	    sizeof(opts->num_pci_blocked)) {
		rc = parse_list(opts->pci_blocked, opts->num_pci_blocked, g_blocked, &g_num_blocked,
				"blocked");
	}
	if (rc != 0) {
		return rc;
	}
	pci_scan(iova_scan_one, &s);
	*iova_mode = s.need_pa ? "pa" : "va";
	return 0;
}

void
env_pci_post_init(void)
{
	g_pci_ready = true;
}

/* ---- hot remove ---- */

static void
mark_removed(struct osp_pci_device *dev)
{
	if (!atomic_exchange(&dev->removed, true)) {
		atomic_fetch_add(&g_events_pending, 1);
	}
}

/* EAL interrupt thread: a kernel uevent. */
static void
dev_event_cb(const char *device_name, enum rte_dev_event_type type, void *arg)
{
	struct osp_pci_addr a;
	struct osp_pci_device *dev;

	if (type != RTE_DEV_EVENT_REMOVE || device_name == NULL ||
	    osp_pci_addr_parse(&a, device_name) != 0) {
		return;
	}
	pthread_mutex_lock(&g_lock);
	TAILQ_FOREACH(dev, &g_devices, link) {
		if (osp_pci_addr_compare(&dev->addr, &a) == 0) {
			mark_removed(dev);
		}
	}
	pthread_mutex_unlock(&g_lock);
}

/* EAL interrupt thread: vfio-pci asks for the device back (it is being removed). */
static void
vfio_req_cb(void *arg)
{
	struct osp_pci_device *dev = arg;
	uint64_t v;

	if (read(dev->req_fd, &v, sizeof(v)) < 0) {
		/* Nothing to read: a spurious wake-up; the flag is what matters. */
	}
	pthread_mutex_lock(&g_lock);
	mark_removed(dev);
	pthread_mutex_unlock(&g_lock);
}

static void
monitor_start(void)
{
	if (g_monitor_started) {
		return;
	}
	if (rte_dev_event_callback_register(NULL, dev_event_cb, NULL) != 0) {
		fprintf(stderr, "osprey: cannot register for device events: hot remove will be "
			"noticed only through failed accesses\n");
		return;
	}
	if (rte_dev_event_monitor_start() != 0) {
		rte_dev_event_callback_unregister(NULL, dev_event_cb, NULL);
		fprintf(stderr, "osprey: cannot start the device event monitor: hot remove will "
			"be noticed only through failed accesses\n");
		return;
	}
	g_monitor_started = true;
}

void
osp_pci_device_set_remove_cb(struct osp_pci_device *dev, osp_pci_remove_cb cb, void *ctx)
{
	pthread_mutex_lock(&g_lock);
	dev->remove_cb = cb;
	dev->remove_ctx = ctx;
	pthread_mutex_unlock(&g_lock);
}

/*
 * One atomic load, no system call: drivers check it from their pollers. The
 * flag is set by the EAL's interrupt thread as soon as the kernel says (the
 * uevent, or vfio-pci's request), without waiting for osp_pci_event_poll().
 */
bool
osp_pci_device_is_removed(const struct osp_pci_device *dev)
{
	return atomic_load_explicit(&dev->removed, memory_order_acquire);
}

int
osp_pci_event_poll(void)
{
	struct osp_pci_device *dev;
	osp_pci_remove_cb cb;
	void *ctx;
	int n = 0;

	if (atomic_load(&g_events_pending) == 0) {
		return 0;
	}
	/* Events after this point are counted again and seen by the next poll. */
	atomic_store(&g_events_pending, 0);
	pthread_mutex_lock(&g_lock);
again:
	TAILQ_FOREACH(dev, &g_devices, link) {
		if (atomic_load(&dev->removed) && !dev->remove_delivered) {
			dev->remove_delivered = true;
			cb = dev->remove_cb;
			ctx = dev->remove_ctx;
			n++;
			if (cb != NULL) {
				/* The callback may detach dev: start over after it. */
				pthread_mutex_unlock(&g_lock);
				cb(ctx, dev);
				pthread_mutex_lock(&g_lock);
				goto again;
			}
		}
	}
	pthread_mutex_unlock(&g_lock);
	return n;
}

/* ---- attach / detach ---- */

static int
vfio_req_setup(struct osp_pci_device *dev)
{
	struct vfio_irq_info irq = { .argsz = sizeof(irq), .index = VFIO_PCI_REQ_IRQ_INDEX };
	char buf[sizeof(struct vfio_irq_set) + sizeof(int)];
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;
	int fd;

	if (ioctl(dev->vfio_fd, VFIO_DEVICE_GET_IRQ_INFO, &irq) != 0 || irq.count == 0) {
		return -ENOTSUP;
	}
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	set->argsz = sizeof(buf);
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = VFIO_PCI_REQ_IRQ_INDEX;
	set->start = 0;
	set->count = 1;
	memcpy(set->data, &fd, sizeof(fd));
	if (ioctl(dev->vfio_fd, VFIO_DEVICE_SET_IRQS, set) != 0) {
		close(fd);
		return -errno;
	}
	dev->req_fd = fd;
	dev->req_intr = rte_intr_instance_alloc(RTE_INTR_INSTANCE_F_PRIVATE);
	if (dev->req_intr == NULL || rte_intr_fd_set(dev->req_intr, fd) != 0 ||
	    rte_intr_type_set(dev->req_intr, RTE_INTR_HANDLE_EXT) != 0 ||
	    rte_intr_callback_register(dev->req_intr, vfio_req_cb, dev) != 0) {
		rte_intr_instance_free(dev->req_intr);
		dev->req_intr = NULL;
		return -ENOTSUP;
	}
	return 0;
}

static void
vfio_req_teardown(struct osp_pci_device *dev)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_REQ_IRQ_INDEX,
	};

	if (dev->req_intr != NULL) {
		rte_intr_callback_unregister_sync(dev->req_intr, vfio_req_cb, dev);
		rte_intr_instance_free(dev->req_intr);
		dev->req_intr = NULL;
	}
	if (dev->req_fd >= 0) {
		ioctl(dev->vfio_fd, VFIO_DEVICE_SET_IRQS, &set);
		close(dev->req_fd);
		dev->req_fd = -1;
	}
}

static int
vfio_open(struct osp_pci_device *dev)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info reg = { .argsz = sizeof(reg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	int fd = -1, rc;

	if (!rte_vfio_is_enabled("vfio")) {
		fprintf(stderr, "osprey: %s is bound to vfio-pci but the EAL has no VFIO (was the "
			"vfio module loaded before the start?)\n", dev->name);
		return -ENODEV;
	}
	rc = rte_vfio_setup_device(PCI_SYSFS_DEFAULT, dev->name, &fd, &info);
	if (rc != 0) {
		fprintf(stderr, "osprey: %s: VFIO set-up failed (%s): is its IOMMU group's "
			"/dev/vfio file accessible, and every device of the group bound to "
			"vfio-pci?\n", dev->name, rc > 0 ? "no IOMMU group" : "error");
		return rc > 0 ? -ENODEV : -EIO;
	}
	dev->vfio_fd = fd;
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &reg) != 0) {
		rc = -errno;
		rte_vfio_release_device(PCI_SYSFS_DEFAULT, dev->name, fd);
		dev->vfio_fd = -1;
		return rc;
	}
	dev->cfg_fd = fd;
	dev->cfg_off = reg.offset;
	if (vfio_req_setup(dev) != 0) {
		fprintf(stderr, "osprey: %s: no VFIO request interrupt: a removal will wait "
			"until the driver detaches on its own\n", dev->name);
	}
	return 0;
}

static int
uio_open(struct osp_pci_device *dev)
{
	char path[PATH_MAX];

	if (rte_eal_iova_mode() != RTE_IOVA_PA) {
		fprintf(stderr, "osprey: %s is bound to uio_pci_generic, whose DMA needs physical "
			"addresses: the env runs with IOVA = VA (no free hugepages when it started, "
			"or not root): reserve hugepages (scripts/setup.sh) or bind it to vfio-pci\n",
			dev->name);
		return -EPERM;
	}
	snprintf(path, sizeof(path), "%s/%s/config", g_sysfs, dev->name);
	dev->cfg_fd = open(path, O_RDWR | O_CLOEXEC);
	if (dev->cfg_fd < 0) {
		int rc = -errno;

		fprintf(stderr, "osprey: %s: cannot open %s: %s%s\n", dev->name, path,
			strerror(errno), errno == EACCES ? " (uio_pci_generic devices need root)" : "");
		return rc;
	}
	dev->cfg_off = 0;
	return 0;
}

static void
pci_close(struct osp_pci_device *dev)
{
	uint32_t i;

	for (i = 0; i < PCI_BARS; i++) {
		if (dev->bar[i].addr != NULL) {
			munmap(dev->bar[i].addr, dev->bar[i].size);
			dev->bar[i].addr = NULL;
		}
	}
	if (dev->kdrv == PCI_KDRV_VFIO) {
		vfio_req_teardown(dev);
		if (dev->vfio_fd >= 0) {
			rte_vfio_release_device(PCI_SYSFS_DEFAULT, dev->name, dev->vfio_fd);
		}
	} else if (dev->cfg_fd >= 0) {
		close(dev->cfg_fd);
	}
	dev->vfio_fd = dev->cfg_fd = -1;
}

/* Open the device, turn on memory decoding and bus mastering (vfio-pci clears it). */
static int
pci_open(const struct pci_info *info, struct osp_pci_device **out)
{
	struct osp_pci_device *dev;
	uint16_t cmd;
	int rc;

	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		return -ENOMEM;
	}
	dev->addr = info->addr;
	dev->id = info->id;
	dev->socket_id = info->socket_id;
	snprintf(dev->name, sizeof(dev->name), "%s", info->name);
	snprintf(dev->driver, sizeof(dev->driver), "%s", info->driver);
	dev->kdrv = strcmp(info->driver, "vfio-pci") == 0 ? PCI_KDRV_VFIO : PCI_KDRV_UIO;
	dev->cfg_fd = dev->vfio_fd = dev->req_fd = -1;
	rc = dev->kdrv == PCI_KDRV_VFIO ? vfio_open(dev) : uio_open(dev);
	if (rc != 0) {
		free(dev);
		return rc;
	}
	rc = osp_pci_device_cfg_read(dev, &cmd, sizeof(cmd), PCI_CFG_COMMAND);
	if (rc == 0 && (cmd & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) !=
	    (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) {
		cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
		rc = osp_pci_device_cfg_write(dev, &cmd, sizeof(cmd), PCI_CFG_COMMAND);
	}
	if (rc != 0) {
		fprintf(stderr, "osprey: %s: cannot enable bus mastering: %s\n", dev->name,
			strerror(-rc));
		pci_close(dev);
		free(dev);
		return rc;
	}
	*out = dev;
	return 0;
}

static struct osp_pci_device *
find_attached(const struct osp_pci_addr *a)
{
	struct osp_pci_device *dev;

	TAILQ_FOREACH(dev, &g_devices, link) {
		if (osp_pci_addr_compare(&dev->addr, a) == 0) {
			return dev;
		}
	}
	return NULL;
}

/* Open the device and hand it to cb: < 0 error, 0 kept, > 0 given back (detached). */
static int
pci_attach_one(const struct pci_info *info, osp_pci_enum_cb cb, void *ctx, bool *opened)
{
	struct osp_pci_device *dev;
	int rc;

	*opened = false;
	rc = pci_open(info, &dev);
	if (rc != 0) {
		return rc;
	}
	*opened = true;
	pthread_mutex_lock(&g_lock);
	TAILQ_INSERT_TAIL(&g_devices, dev, link);
	pthread_mutex_unlock(&g_lock);
	monitor_start();
	rc = cb(ctx, dev);
	if (rc != 0) {
		osp_pci_device_detach(dev);
	}
	return rc;
}

struct enum_ctx {
	uint32_t class_code;
	osp_pci_enum_cb cb;
	void *ctx;
};

static int
enum_one(void *arg, const struct pci_info *info)
{
	struct enum_ctx *e = arg;
	bool opened;
	int rc;

	if (info->id.class_id != e->class_code || !pci_addr_permitted(&info->addr) ||
	    find_attached(&info->addr) != NULL) {
		return 0;
	}
	if (!driver_usable(info->driver)) {
		if (g_num_allowed > 0) {
			fprintf(stderr, "osprey: %s is allowed but %s%s: bind it to vfio-pci or "
				"uio_pci_generic (scripts/setup.sh)\n", info->name,
				info->driver[0] ? "bound to " : "bound to no driver", info->driver);
		}
		return 0;
	}
	rc = pci_attach_one(info, e->cb, e->ctx, &opened);
	/* A device that cannot be opened is skipped (pci_open said why); a
	 * callback's error stops the enumeration. */
	return rc < 0 && opened ? rc : 0;
}

static int
pci_check_ready(void)
{
	if (!g_pci_ready) {
		fprintf(stderr, "osprey: PCI is off: the env was started without pci_enabled "
			"(the apps' --pci option)\n");
		return -ENODEV;
	}
	return 0;
}

int
osp_pci_enumerate(uint32_t class_code, osp_pci_enum_cb cb, void *ctx)
{
	struct enum_ctx e = { .class_code = class_code, .cb = cb, .ctx = ctx };
	int rc;

	if (cb == NULL) {
		return -EINVAL;
	}
	rc = pci_check_ready();
	if (rc != 0) {
		return rc;
	}
	rc = pci_scan(enum_one, &e);
	return rc > 0 ? 0 : rc;
}

int
osp_pci_device_attach(const struct osp_pci_addr *addr, uint32_t class_code,
		      osp_pci_enum_cb cb, void *ctx)
{
	struct pci_info info;
	char name[32];
	bool opened;
	int rc;

	if (addr == NULL || cb == NULL) {
		return -EINVAL;
	}
	rc = pci_check_ready();
	if (rc != 0) {
		return rc;
	}
	if (osp_pci_addr_fmt(name, sizeof(name), addr) != 0 || pci_info_read(name, &info) != 0) {
		return -ENODEV;
	}
	if (info.id.class_id != class_code) {
		fprintf(stderr, "osprey: %s has class %06x, not %06x\n", name, info.id.class_id,
			class_code);
		return -ENODEV;
	}
	if (!pci_addr_permitted(&info.addr)) {
		fprintf(stderr, "osprey: %s is not in the PCI allow list, or is blocked\n", name);
		return -ENODEV;
	}
	if (find_attached(&info.addr) != NULL) {
		return -EBUSY;
	}
	if (!driver_usable(info.driver)) {
		fprintf(stderr, "osprey: %s is %s%s: bind it to vfio-pci or uio_pci_generic "
			"(scripts/setup.sh)\n", name, info.driver[0] ? "bound to " : "bound to no driver",
			info.driver);
		return -ENODEV;
	}
	rc = pci_attach_one(&info, cb, ctx, &opened);
	return rc > 0 ? 0 : rc;
}

void
osp_pci_device_detach(struct osp_pci_device *dev)
{
	if (dev == NULL) {
		return;
	}
	pthread_mutex_lock(&g_lock);
	TAILQ_REMOVE(&g_devices, dev, link);
	pthread_mutex_unlock(&g_lock);
	pci_close(dev);
	free(dev);
}

void
env_pci_fini(void)
{
	struct osp_pci_device *dev;

	while ((dev = TAILQ_FIRST(&g_devices)) != NULL) {
		osp_pci_device_detach(dev);
	}
	if (g_monitor_started) {
		rte_dev_event_monitor_stop();
		rte_dev_event_callback_unregister(NULL, dev_event_cb, NULL);
		g_monitor_started = false;
	}
	g_pci_ready = false;
	atomic_store(&g_events_pending, 0);
}

/* ---- device properties ---- */

struct osp_pci_addr
osp_pci_device_get_addr(const struct osp_pci_device *dev)
{
	return dev->addr;
}

struct osp_pci_id
osp_pci_device_get_id(const struct osp_pci_device *dev)
{
	return dev->id;
}

const char *
osp_pci_device_get_driver(const struct osp_pci_device *dev)
{
	return dev->driver;
}

int
osp_pci_device_get_socket_id(const struct osp_pci_device *dev)
{
	return dev->socket_id;
}

/* ---- BARs ---- */

/* Start, size and flags of a BAR from sysfs "resource" (one line per resource). */
static int
bar_resource(const struct osp_pci_device *dev, uint32_t bar, uint64_t *start, uint64_t *size)
{
	char buf[1024], *line, *save = NULL;
	unsigned long long s, e, flags;
	uint32_t i = 0;
	int rc;

	rc = sysfs_read(dev->name, "resource", buf, sizeof(buf));
	if (rc != 0) {
		return rc;
	}
	for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save), i++) {
		if (i != bar) {
			continue;
		}
		if (sscanf(line, "%llx %llx %llx", &s, &e, &flags) != 3) {
			return -EINVAL;
		}
		if (s == 0 && e == 0) {
			return -ENODEV;
		}
		if (!(flags & IORESOURCE_MEM) || e < s) {
			return -ENOTSUP;	/* an I/O port BAR */
		}
		*start = s;
		*size = e - s + 1;
		return 0;
	}
	return -ENODEV;
}

/* Map the parts of a VFIO region that may be mapped (a sparse-mmap capability
 * leaves out the MSI-X table when the platform cannot remap interrupts). */
static void *
vfio_map_sparse(struct osp_pci_device *dev, const struct vfio_region_info *reg0)
{
	struct vfio_region_info *reg;
	struct vfio_info_cap_header *hdr;
	struct vfio_region_info_cap_sparse_mmap *sparse;
	uint8_t *base = MAP_FAILED;
	uint32_t off, i, argsz = reg0->argsz;

	if (!(reg0->flags & VFIO_REGION_INFO_FLAG_CAPS) || argsz <= sizeof(*reg) || argsz > 65536) {
		return MAP_FAILED;
	}
	reg = calloc(1, argsz);
	if (reg == NULL) {
		return MAP_FAILED;
	}
	reg->argsz = argsz;
	reg->index = reg0->index;
	if (ioctl(dev->vfio_fd, VFIO_DEVICE_GET_REGION_INFO, reg) != 0) {
		goto out;
	}
	for (off = reg->cap_offset; off != 0 && off + sizeof(*hdr) <= argsz; off = hdr->next) {
		hdr = (struct vfio_info_cap_header *)((uint8_t *)reg + off);
		if (hdr->id != VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			continue;
		}
		sparse = (struct vfio_region_info_cap_sparse_mmap *)hdr;
		if (off + sizeof(*sparse) + (uint64_t)sparse->nr_areas * sizeof(sparse->areas[0]) > argsz) {
			break;
		}
		base = mmap(NULL, reg->size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (base == MAP_FAILED) {
			break;
		}
		for (i = 0; i < sparse->nr_areas; i++) {
			uint64_t aoff = sparse->areas[i].offset, asz = sparse->areas[i].size;

			if (asz == 0) {
				continue;
			}
			if (aoff + asz > reg->size ||
			    mmap(base + aoff, asz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
				 dev->vfio_fd, (off_t)(reg->offset + aoff)) == MAP_FAILED) {
				munmap(base, reg->size);
				base = MAP_FAILED;
				break;
			}
		}
		break;
	}
out:
	free(reg);
	return base;
}

int
osp_pci_device_map_bar(struct osp_pci_device *dev, uint32_t bar, void **addr, uint64_t *phys,
		       uint64_t *size)
{
	uint64_t start, len;
	void *va = MAP_FAILED;
	char path[PATH_MAX];
	int rc, fd;

	if (dev == NULL || bar >= PCI_BARS || addr == NULL) {
		return -EINVAL;
	}
	if (dev->bar[bar].addr == NULL) {
		rc = bar_resource(dev, bar, &start, &len);
		if (rc != 0) {
			return rc;
		}
		if (dev->kdrv == PCI_KDRV_VFIO) {
			struct vfio_region_info reg = { .argsz = sizeof(reg), .index = bar };

			if (ioctl(dev->vfio_fd, VFIO_DEVICE_GET_REGION_INFO, &reg) != 0) {
				return -errno;
			}
			if (!(reg.flags & VFIO_REGION_INFO_FLAG_MMAP) || reg.size == 0) {
				return -ENOTSUP;
			}
			len = reg.size;
			va = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, dev->vfio_fd,
				  (off_t)reg.offset);
			if (va == MAP_FAILED) {
				va = vfio_map_sparse(dev, &reg);
			}
		} else {
			snprintf(path, sizeof(path), "%s/%s/resource%u", g_sysfs, dev->name, bar);
			fd = open(path, O_RDWR | O_CLOEXEC);
			if (fd < 0) {
				return -errno;
			}
			va = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			close(fd);
		}
		if (va == MAP_FAILED) {
			fprintf(stderr, "osprey: %s: cannot map BAR%u: %s\n", dev->name, bar,
				strerror(errno));
			return -ENOMEM;
		}
		dev->bar[bar].addr = va;
		dev->bar[bar].size = len;
		dev->bar[bar].phys = start;
	}
	*addr = dev->bar[bar].addr;
	if (phys != NULL) {
		*phys = dev->bar[bar].phys;
	}
	if (size != NULL) {
		*size = dev->bar[bar].size;
	}
	return 0;
}

int
osp_pci_device_unmap_bar(struct osp_pci_device *dev, uint32_t bar, void *addr)
{
	if (dev == NULL || bar >= PCI_BARS || dev->bar[bar].addr == NULL ||
	    dev->bar[bar].addr != addr) {
		return -EINVAL;
	}
	munmap(dev->bar[bar].addr, dev->bar[bar].size);
	dev->bar[bar].addr = NULL;
	return 0;
}

/* ---- config space ---- */

int
osp_pci_device_cfg_read(struct osp_pci_device *dev, void *buf, uint32_t len, uint32_t offset)
{
	ssize_t n;

	if (dev == NULL || buf == NULL || len == 0 || offset >= PCI_CFG_SPACE_SIZE ||
	    len > PCI_CFG_SPACE_SIZE - offset) {
		return -EINVAL;
	}
	n = pread(dev->cfg_fd, buf, len, (off_t)(dev->cfg_off + offset));
	if (n < 0) {
		return -errno;
	}
	return (uint32_t)n == len ? 0 : -EIO;
}

int
osp_pci_device_cfg_write(struct osp_pci_device *dev, const void *buf, uint32_t len,
			 uint32_t offset)
{
	ssize_t n;

	if (dev == NULL || buf == NULL || len == 0 || offset >= PCI_CFG_SPACE_SIZE ||
	    len > PCI_CFG_SPACE_SIZE - offset) {
		return -EINVAL;
	}
	n = pwrite(dev->cfg_fd, buf, len, (off_t)(dev->cfg_off + offset));
	if (n < 0) {
		return -errno;
	}
	return (uint32_t)n == len ? 0 : -EIO;
}

int
osp_pci_device_cfg_read32(struct osp_pci_device *dev, uint32_t *value, uint32_t offset)
{
	return osp_pci_device_cfg_read(dev, value, sizeof(*value), offset);
}

int
osp_pci_device_cfg_write32(struct osp_pci_device *dev, uint32_t value, uint32_t offset)
{
	return osp_pci_device_cfg_write(dev, &value, sizeof(value), offset);
}
