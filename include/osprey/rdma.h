/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Osprey RDMA common code (lib/rdma, on libibverbs): what the NVMe-oF RDMA
 * target (lib/nvmf/rdma.c) and the NVMe RDMA host (lib/nvme/rdma.c) share.
 *
 * Memory map: every DMA-capable range of the env (osp_dma_malloc, mempools,
 * the iobuf pool) is registered with a protection domain as it appears
 * (osp_mem_event_register) and looked up per I/O without a syscall, so
 * buffers from anywhere in the env can be the local side of a work request
 * and the target of a remote RDMA READ/WRITE.
 */
#ifndef OSPREY_RDMA_H
#define OSPREY_RDMA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ibv_pd;
struct osp_rdma_mem_map;

/*
 * The memory map of pd: created on first use (every env DMA range is
 * registered with pd, local write, remote read and remote write), then
 * shared and reference counted per pd. It follows the env's memory events
 * until the last reference is put. Control path (any one thread at a time);
 * returns NULL when a registration fails or memory is short.
 */
struct osp_rdma_mem_map *osp_rdma_mem_map_get(struct ibv_pd *pd);

/* Drop a reference; the last one deregisters everything. The pd must outlive it. */
void osp_rdma_mem_map_put(struct osp_rdma_mem_map *map);

/*
 * The keys of the memory region that holds [addr, addr + len): 0, or -EINVAL
 * when that range is not inside one registration (not env DMA memory, or
 * len == 0). Any thread, lock free, no syscall, O(log n) in the number of
 * ranges. Where hugepage ranges were added one by one, a buffer of up to
 * OSP_RDMA_MEM_MAP_SPAN bytes across the boundary of two of them still
 * translates (the later registration reaches into its neighbours).
 */
int osp_rdma_mem_translate(const struct osp_rdma_mem_map *map, const void *addr, size_t len,
			   uint32_t *lkey, uint32_t *rkey);

#define OSP_RDMA_MEM_MAP_SPAN	(2u * 1024 * 1024)

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_RDMA_H */
