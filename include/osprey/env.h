/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Osprey environment: memory, rings, mempools, cores, PCI devices and time.
 *
 * This is the only layer that talks to DPDK; nothing else in Osprey includes a
 * DPDK header. Every function returns a negative errno on failure unless said
 * otherwise.
 */
#ifndef OSPREY_ENV_H
#define OSPREY_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OSP_ENV_SOCKET_ID_ANY	(-1)
#define OSP_ENV_LCORE_ID_ANY	UINT32_MAX
#define OSP_VTOPHYS_ERROR	UINT64_MAX
#define OSP_CACHE_LINE_SIZE	64

struct osp_env_opts {
	/* Size of this struct, for ABI compatibility: set by osp_env_opts_init(). */
	size_t opts_size;
	/* Process name given to the EAL (default "osprey"). */
	const char *name;
	/* Core mask "0x3" or core list "0-1,3" / "[0,1]" (default "0x1"). */
	const char *core_mask;
	/* Memory to reserve in MiB; 0 = default (256 MiB without hugepages). */
	int mem_size_mb;
	/* Shared memory id: makes the DPDK file prefix unique; -1 = use the PID. */
	int shm_id;
	/* Never use hugepages even when free ones exist. */
	bool no_huge;
	/* Enable the PCI bus; when false (default) the EAL gets --no-pci. */
	bool pci_enabled;
	/* PCI addresses to allow ("0000:00:04.0"), when pci_enabled. */
	const char **pci_allowed;
	size_t num_pci_allowed;
	/* Master (main) core; -1 = first core of the mask. */
	int main_core;
	/* Extra raw EAL arguments, space separated (advanced). */
	const char *env_context;
	/* PCI addresses never to use, when pci_enabled (after env_context: ABI). */
	const char **pci_blocked;
	size_t num_pci_blocked;
};

/* Fill opts with defaults. */
void osp_env_opts_init(struct osp_env_opts *opts);

/*
 * Initialize the environment (DPDK EAL). Hugepages are used when
 * free 2 MiB hugepages exist and opts->no_huge is false, otherwise anonymous
 * memory is used (--no-huge). Can be called once per process.
 */
int osp_env_init(const struct osp_env_opts *opts);

/* Tear down the environment. */
void osp_env_fini(void);

/* True when osp_env_init() chose hugepage-backed memory. */
bool osp_env_uses_hugepages(void);

/*
 * DMA-safe memory. align must be a power of two (0 = cache line). phys_addr,
 * when not NULL, receives the IO address of the start of the buffer.
 * Returns NULL on failure.
 */
void *osp_dma_malloc(size_t size, size_t align, uint64_t *phys_addr);
void *osp_dma_zmalloc(size_t size, size_t align, uint64_t *phys_addr);
void *osp_dma_realloc(void *buf, size_t size, size_t align);
void osp_dma_free(void *buf);

/*
 * IO address of vaddr. If size is not NULL, on input it holds the length of
 * the region, on output the number of bytes contiguous in IO space from vaddr
 * (clamped to the input). Returns OSP_VTOPHYS_ERROR if unknown, and for any
 * memory the env does not own (malloc, mmap, the stack), in every IOVA mode.
 */
uint64_t osp_vtophys(const void *vaddr, uint64_t *size);

/* Plain (non-DMA) allocations on a NUMA socket, from the env's heap. */
void *osp_zmalloc(size_t size, size_t align, int socket_id);
void osp_free(void *buf);

/*
 * ---- DMA memory events (lib/env_dpdk/mem_event.c) ----
 * For whoever must know every DMA-capable range in advance (an RDMA memory
 * map registering them with a protection domain). cb is called once for
 * every DMA-capable range the env owns now (added = true), then on each range
 * added or about to be freed (DPDK memory events; with --no-huge the one
 * static area is all there is). A range freed may be a part of one that was
 * added, or span several. cb runs on the thread that registers (the replay)
 * or on whichever thread makes DPDK map or unmap memory, with DPDK's memory
 * lock held: it must not allocate or free DMA memory itself.
 * Control path; returns 0, -EINVAL (cb NULL) or -ENOMEM.
 */
typedef void (*osp_mem_event_cb)(void *ctx, bool added, void *vaddr, size_t len);
int osp_mem_event_register(osp_mem_event_cb cb, void *ctx);
/* Stop the calls to cb(ctx); no call is running or follows when it returns. */
void osp_mem_event_unregister(osp_mem_event_cb cb, void *ctx);

/* ---- mempools ---- */
struct osp_mempool;

#define OSP_MEMPOOL_DEFAULT_CACHE_SIZE	512

typedef void (osp_mempool_obj_cb_t)(struct osp_mempool *mp, void *cb_arg, void *obj,
				    unsigned obj_idx);

/*
 * Create a pool of count elements of ele_size bytes with a per-core cache of
 * cache_size (0 = none). Names must be unique within the process.
 */
struct osp_mempool *osp_mempool_create(const char *name, size_t count, size_t ele_size,
				       size_t cache_size, int socket_id);
struct osp_mempool *osp_mempool_create_ctor(const char *name, size_t count, size_t ele_size,
		size_t cache_size, int socket_id, osp_mempool_obj_cb_t *obj_init, void *obj_init_arg);
void osp_mempool_free(struct osp_mempool *mp);
/* Returns NULL when empty. */
void *osp_mempool_get(struct osp_mempool *mp);
/* All or nothing: returns 0 or -ENOMEM. */
int osp_mempool_get_bulk(struct osp_mempool *mp, void **ele_arr, size_t count);
void osp_mempool_put(struct osp_mempool *mp, void *ele);
void osp_mempool_put_bulk(struct osp_mempool *mp, void **ele_arr, size_t count);
/* Number of free elements (approximate while other cores use the pool). */
size_t osp_mempool_count(const struct osp_mempool *mp);
const char *osp_mempool_get_name(const struct osp_mempool *mp);

/* ---- rings ---- */
struct osp_ring;

enum osp_ring_type {
	OSP_RING_TYPE_SP_SC,	/* single producer, single consumer */
	OSP_RING_TYPE_MP_SC,	/* multi producer, single consumer */
	OSP_RING_TYPE_MP_MC,	/* multi producer, multi consumer */
};

/* count is rounded up to a power of two; the ring holds count - 1 objects. */
struct osp_ring *osp_ring_create(enum osp_ring_type type, size_t count, int socket_id);
void osp_ring_free(struct osp_ring *ring);
size_t osp_ring_count(struct osp_ring *ring);
/*
 * Enqueue up to count objects; returns the number enqueued (all or nothing).
 * free_space, if not NULL, receives the room left afterwards.
 */
size_t osp_ring_enqueue(struct osp_ring *ring, void **objs, size_t count, size_t *free_space);
/* Dequeue up to count objects; returns how many were dequeued (may be fewer). */
size_t osp_ring_dequeue(struct osp_ring *ring, void **objs, size_t count);

/* ---- cores ---- */
uint32_t osp_env_get_core_count(void);
/* Core the caller runs on, or OSP_ENV_LCORE_ID_ANY for a non-EAL thread. */
uint32_t osp_env_get_current_core(void);
uint32_t osp_env_get_first_core(void);
uint32_t osp_env_get_last_core(void);
/* Next enabled core after prev_core, or UINT32_MAX. */
uint32_t osp_env_get_next_core(uint32_t prev_core);
uint32_t osp_env_get_main_core(void);
int32_t osp_env_get_socket_id(uint32_t core);

#define OSP_ENV_FOREACH_CORE(i) \
	for ((i) = osp_env_get_first_core(); (i) < UINT32_MAX; (i) = osp_env_get_next_core(i))

/* Run fn(arg) on a pinned thread of core (not the main core). */
int osp_env_thread_launch_pinned(uint32_t core, int (*fn)(void *), void *arg);
/* Wait for every thread launched with osp_env_thread_launch_pinned(). */
void osp_env_thread_wait_all(void);

/*
 * ---- PCI (lib/env_dpdk/pci.c, on DPDK's EAL) ----
 * Devices are probed through the kernel driver they are bound to (vfio-pci
 * or uio_pci_generic: scripts/setup.sh binds them) when osp_env_opts has
 * pci_enabled (and its allow list, if any; never a blocked one). A device
 * handed to a caller's callback stays attached until osp_pci_device_detach().
 * vfio-pci devices join the EAL's VFIO container, where every DMA buffer of
 * the env is mapped (IOVA = VA); uio_pci_generic devices need physical
 * addresses, which the env has only with hugepages (osp_env_init then runs
 * the EAL in IOVA = PA mode): without them their attach fails with -EPERM.
 * Control path (one thread at a time, the app thread), except
 * osp_pci_device_is_removed(), which pollers may call anywhere.
 */
#define OSP_PCI_CLASS_NVME	0x010802	/* mass storage, NVM, NVMe I/O controller */

struct osp_pci_addr {
	uint32_t domain;
	uint8_t bus;
	uint8_t dev;
	uint8_t func;
};

struct osp_pci_id {
	uint32_t class_id;	/* class, subclass, prog-if: 0x010802 */
	uint16_t vendor_id;
	uint16_t device_id;
	uint16_t subvendor_id;
	uint16_t subdevice_id;
};

struct osp_pci_device;

/* "0000:00:04.0", "00:04.0" (domain 0) or "0000:00:04.0" with ':' or '.' as DPDK prints. */
int osp_pci_addr_parse(struct osp_pci_addr *addr, const char *bdf);
/* "0000:00:04.0" into buf (at least 13 bytes). */
int osp_pci_addr_fmt(char *buf, size_t len, const struct osp_pci_addr *addr);
int osp_pci_addr_compare(const struct osp_pci_addr *a, const struct osp_pci_addr *b);

/*
 * Called once per matching device that is not attached yet. Return 0 to keep
 * it attached (the caller owns it now), > 0 to leave it (detached again),
 * < 0 to stop the enumeration with that error.
 */
typedef int (*osp_pci_enum_cb)(void *ctx, struct osp_pci_device *dev);

/* Probe every device of class_code the process may use; cb per device. */
int osp_pci_enumerate(uint32_t class_code, osp_pci_enum_cb cb, void *ctx);
/* Probe the one device at addr (it must be of class_code); -ENODEV if absent or not usable. */
int osp_pci_device_attach(const struct osp_pci_addr *addr, uint32_t class_code,
			  osp_pci_enum_cb cb, void *ctx);
void osp_pci_device_detach(struct osp_pci_device *dev);

struct osp_pci_addr osp_pci_device_get_addr(const struct osp_pci_device *dev);
struct osp_pci_id osp_pci_device_get_id(const struct osp_pci_device *dev);
/* The kernel driver it is bound to: "vfio-pci", "uio_pci_generic", ... */
const char *osp_pci_device_get_driver(const struct osp_pci_device *dev);
int osp_pci_device_get_socket_id(const struct osp_pci_device *dev);

/* A memory BAR mapped into the process: *addr (virtual), *phys (bus address), *size. */
int osp_pci_device_map_bar(struct osp_pci_device *dev, uint32_t bar, void **addr,
			   uint64_t *phys, uint64_t *size);
int osp_pci_device_unmap_bar(struct osp_pci_device *dev, uint32_t bar, void *addr);
/* Config space access (len 1, 2, 4 or any for a block); 0 or -errno. */
int osp_pci_device_cfg_read(struct osp_pci_device *dev, void *buf, uint32_t len, uint32_t offset);
int osp_pci_device_cfg_write(struct osp_pci_device *dev, const void *buf, uint32_t len,
			     uint32_t offset);
int osp_pci_device_cfg_read32(struct osp_pci_device *dev, uint32_t *value, uint32_t offset);
int osp_pci_device_cfg_write32(struct osp_pci_device *dev, uint32_t value, uint32_t offset);

/*
 * Hot remove: cb runs on the thread that polls osp_pci_event_poll() (the app
 * thread) when the kernel reports the device gone; the driver must stop
 * touching its BARs (reads return all ones) and detach it.
 */
typedef void (*osp_pci_remove_cb)(void *ctx, struct osp_pci_device *dev);
void osp_pci_device_set_remove_cb(struct osp_pci_device *dev, osp_pci_remove_cb cb, void *ctx);
/* True from the moment the kernel reports the removal (before cb runs); one
 * atomic load, fit for pollers on any thread. */
bool osp_pci_device_is_removed(const struct osp_pci_device *dev);
/* Deliver pending hot-remove events; returns how many. */
int osp_pci_event_poll(void);

/* ---- time ---- */
uint64_t osp_get_ticks(void);
uint64_t osp_get_ticks_hz(void);
void osp_delay_us(unsigned int us);

/* Parse a core mask or list into a 1024-bit set; returns 0 or -EINVAL. */
struct osp_cpuset {
	uint64_t bits[16];
};
int osp_cpuset_parse(struct osp_cpuset *set, const char *mask);
void osp_cpuset_zero(struct osp_cpuset *set);
void osp_cpuset_set_cpu(struct osp_cpuset *set, uint32_t cpu, bool state);
bool osp_cpuset_get_cpu(const struct osp_cpuset *set, uint32_t cpu);
uint32_t osp_cpuset_count(const struct osp_cpuset *set);
/* Format as hex mask without 0x; returns a pointer to a static buffer of the thread. */
const char *osp_cpuset_fmt(const struct osp_cpuset *set);

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_ENV_H */
