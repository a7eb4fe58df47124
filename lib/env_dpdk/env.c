/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Environment on DPDK: EAL initialization, DMA memory, cores and time.
 * The only place in Osprey that includes DPDK headers (with the other files
 * of this directory).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_config.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_memory.h>

#include "osprey/env.h"
#include "env_internal.h"

#define ENV_MAX_ARGS 64
#define ENV_DEFAULT_MEM_MB 1024

static bool g_env_initialized;
static bool g_env_hugepages;

void
osp_env_opts_init(struct osp_env_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->opts_size = sizeof(*opts);
	opts->name = "osprey";
	opts->core_mask = "0x1";
	opts->shm_id = -1;
	opts->main_core = -1;
}

/* Free 2 MiB hugepages of the machine; decided before EAL init because
 * rte_eal_init cannot be retried in one process. */
static long
free_hugepages(void)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
	long n = 0;

	if (f == NULL) {
		return 0;
	}
	if (fscanf(f, "%ld", &n) != 1) {
		n = 0;
	}
	fclose(f);
	return n;
}

static int
push_arg(char **argv, int *argc, const char *fmt, const char *val)
{
	char *s;

	if (*argc >= ENV_MAX_ARGS - 1) {
		return -E2BIG;
	}
	if (val != NULL) {
		/* fmt is "--option=%s": a literal prefix followed by the value. */
		const char *pct = strstr(fmt, "%s");
		int plen = pct ? (int)(pct - fmt) : (int)strlen(fmt);

		if (asprintf(&s, "%.*s%s", plen, fmt, val) < 0) {
			return -ENOMEM;
		}
	} else {
		s = strdup(fmt);
		if (s == NULL) {
			return -ENOMEM;
		}
	}
	argv[(*argc)++] = s;
	argv[*argc] = NULL;
	return 0;
}

/* Format a cpuset as an EAL core list "0,1,5". */
static int
cpuset_to_list(const struct osp_cpuset *set, char *buf, size_t len)
{
	size_t off = 0;
	uint32_t i;
	int n;

	buf[0] = '\0';
	for (i = 0; i < 1024; i++) {
		if (!osp_cpuset_get_cpu(set, i)) {
			continue;
		}
		n = snprintf(buf + off, len - off, "%s%u", off ? "," : "", i);
		if (n < 0 || (size_t)n >= len - off) {
			return -E2BIG;
		}
		off += n;
	}
	return off ? 0 : -EINVAL;
}

int
osp_env_init(const struct osp_env_opts *opts)
{
	struct osp_env_opts defaults;
	struct osp_cpuset cores;
	char *argv[ENV_MAX_ARGS] = {0};
	char list[4096], num[32];
	const char *iova = "va";
	int argc = 0, rc, i, mem;
	long ncpus;
	uint32_t c;

	if (g_env_initialized) {
		return -EALREADY;
	}
	if (opts == NULL) {
		osp_env_opts_init(&defaults);
		opts = &defaults;
	}
	rc = osp_cpuset_parse(&cores, opts->core_mask ? opts->core_mask : "0x1");
	if (rc != 0) {
		fprintf(stderr, "osprey: invalid core mask '%s'\n", opts->core_mask);
		return rc;
	}
	ncpus = sysconf(_SC_NPROCESSORS_CONF);
	for (c = 0; c < 1024; c++) {
		if (osp_cpuset_get_cpu(&cores, c) && (long)c >= ncpus) {
			fprintf(stderr, "osprey: core %u in mask '%s' does not exist (this machine has %ld)\n",
				c, opts->core_mask, ncpus);
			return -EINVAL;
		}
	}
	rc = cpuset_to_list(&cores, list, sizeof(list));
	if (rc != 0) {
		return rc;
	}

	rc = push_arg(argv, &argc, opts->name ? opts->name : "osprey", NULL);
	rc = rc ?: push_arg(argv, &argc, "-l", NULL);
	rc = rc ?: push_arg(argv, &argc, list, NULL);
	if (opts->main_core >= 0) {
		snprintf(num, sizeof(num), "%d", opts->main_core);
		rc = rc ?: push_arg(argv, &argc, "--main-lcore=%s", num);
	}
	snprintf(num, sizeof(num), "%d", opts->shm_id >= 0 ? opts->shm_id : (int)getpid());
	rc = rc ?: push_arg(argv, &argc, "--file-prefix=osprey%s", num);
	rc = rc ?: push_arg(argv, &argc, "--log-level=error", NULL);
	rc = rc ?: push_arg(argv, &argc, "--no-telemetry", NULL);

	mem = opts->mem_size_mb > 0 ? opts->mem_size_mb : 0;
	g_env_hugepages = !opts->no_huge && free_hugepages() > 0;
	if (opts->pci_enabled && rc == 0) {
		/* uio_pci_generic devices need IOVA = PA (hugepages); vfio-pci takes either. */
		rc = env_pci_pre_init(opts, g_env_hugepages, &iova);
	}
	if (g_env_hugepages) {
		/* Nothing left behind in hugetlbfs; VA as IOVA works without IOMMU here. */
		rc = rc ?: push_arg(argv, &argc, "--in-memory", NULL);
		rc = rc ?: push_arg(argv, &argc, "--iova-mode=%s", iova);
		if (mem > 0) {
			snprintf(num, sizeof(num), "%d", mem);
			rc = rc ?: push_arg(argv, &argc, "-m", NULL);
			rc = rc ?: push_arg(argv, &argc, num, NULL);
		}
	} else {
		snprintf(num, sizeof(num), "%d", mem > 0 ? mem : ENV_DEFAULT_MEM_MB);
		rc = rc ?: push_arg(argv, &argc, "--no-huge", NULL);
		rc = rc ?: push_arg(argv, &argc, "--no-shconf", NULL);
		if (opts->pci_enabled) {
			/* No physical addresses without hugepages: vfio-pci with IOVA = VA. */
			rc = rc ?: push_arg(argv, &argc, "--iova-mode=va", NULL);
		}
		rc = rc ?: push_arg(argv, &argc, "-m", NULL);
		rc = rc ?: push_arg(argv, &argc, num, NULL);
	}
	if (!opts->pci_enabled) {
		rc = rc ?: push_arg(argv, &argc, "--no-pci", NULL);
	} else {
		/* The EAL's own PCI bus probes nothing (no DPDK PCI driver is linked);
		 * the lists are also kept by pci.c, which opens the devices. */
		for (i = 0; i < (int)opts->num_pci_allowed; i++) {
			rc = rc ?: push_arg(argv, &argc, "-a", NULL);
			rc = rc ?: push_arg(argv, &argc, opts->pci_allowed[i], NULL);
		}
		/* The EAL refuses -a with -b: with an allow list, pci.c alone blocks. */
		for (i = 0; rc == 0 && opts->opts_size >= sizeof(*opts) &&
		     opts->num_pci_allowed == 0 && i < (int)opts->num_pci_blocked; i++) {
			rc = rc ?: push_arg(argv, &argc, "-b", NULL);
			rc = rc ?: push_arg(argv, &argc, opts->pci_blocked[i], NULL);
		}
	}
	if (opts->env_context != NULL && rc == 0) {
		char *ctx = strdup(opts->env_context), *save = NULL, *tok;

		if (ctx == NULL) {
			rc = -ENOMEM;
		}
		for (tok = ctx ? strtok_r(ctx, " ", &save) : NULL; tok && rc == 0;
		     tok = strtok_r(NULL, " ", &save)) {
			rc = push_arg(argv, &argc, tok, NULL);
		}
		free(ctx);
	}
	if (rc != 0) {
		goto out;
	}

	/* rte_eal_init may permute argv; keep our own copy of the pointers to free. */
	{
		char *eal_argv[ENV_MAX_ARGS];

		memcpy(eal_argv, argv, sizeof(eal_argv));
		optind = 1;
		rc = rte_eal_init(argc, eal_argv);
		optind = 1;
	}
	if (rc < 0) {
		fprintf(stderr, "osprey: DPDK EAL init failed: %s\n", rte_strerror(rte_errno));
		rc = rte_errno ? -rte_errno : -EINVAL;
		goto out;
	}
	g_env_initialized = true;
	if (opts->pci_enabled) {
		env_pci_post_init();
	}
	rc = 0;
out:
	for (i = 0; i < argc; i++) {
		free(argv[i]);
	}
	return rc;
}

void
osp_env_fini(void)
{
	char dir[PATH_MAX];

	if (g_env_initialized) {
		env_pci_fini();
		/* DPDK leaves its (empty) per-prefix runtime directory behind. */
		snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
		rte_eal_cleanup();
		rmdir(dir);
		g_env_initialized = false;
	}
}

bool
osp_env_uses_hugepages(void)
{
	return g_env_hugepages;
}

static size_t
dma_align(size_t align)
{
	return align == 0 ? RTE_CACHE_LINE_SIZE : align;
}

void *
osp_dma_malloc(size_t size, size_t align, uint64_t *phys_addr)
{
	void *buf;

	if (align & (align - 1)) {
		return NULL;
	}
	buf = rte_malloc_socket(NULL, size, dma_align(align), SOCKET_ID_ANY);
	if (buf != NULL && phys_addr != NULL) {
		*phys_addr = rte_malloc_virt2iova(buf);
	}
	return buf;
}

void *
osp_dma_zmalloc(size_t size, size_t align, uint64_t *phys_addr)
{
	void *buf;

	if (align & (align - 1)) {
		return NULL;
	}
	buf = rte_zmalloc_socket(NULL, size, dma_align(align), SOCKET_ID_ANY);
	if (buf != NULL && phys_addr != NULL) {
		*phys_addr = rte_malloc_virt2iova(buf);
	}
	return buf;
}

void *
osp_dma_realloc(void *buf, size_t size, size_t align)
{
	return rte_realloc(buf, size, dma_align(align));
}

void
osp_dma_free(void *buf)
{
	rte_free(buf);
}

void *
osp_zmalloc(size_t size, size_t align, int socket_id)
{
	return rte_zmalloc_socket(NULL, size, dma_align(align),
				  socket_id == OSP_ENV_SOCKET_ID_ANY ? SOCKET_ID_ANY : socket_id);
}

void
osp_free(void *buf)
{
	rte_free(buf);
}

uint64_t
osp_vtophys(const void *vaddr, uint64_t *size)
{
	const struct rte_memseg *ms;
	rte_iova_t iova;
	uint64_t left;

	/*
	 * Only the env's own memory has an IOVA: in IOVA = VA mode DPDK would
	 * return any address as is, but memory it does not own is neither
	 * mapped in the VFIO container nor pinned, and a device told to use it
	 * faults in the IOMMU (or, without one, scribbles on whatever the
	 * physical page is). An error lets the caller bounce or fail the I/O.
	 */
	ms = rte_mem_virt2memseg(vaddr, NULL);
	if (ms == NULL) {
		return OSP_VTOPHYS_ERROR;
	}
	iova = rte_mem_virt2iova(vaddr);
	if (iova == RTE_BAD_IOVA) {
		return OSP_VTOPHYS_ERROR;
	}
	if (size != NULL) {
		if (rte_eal_iova_mode() == RTE_IOVA_VA) {
			/* Contiguous in IOVA space as long as it is in VA space. */
		} else {
			left = (uintptr_t)ms->addr + ms->len - (uintptr_t)vaddr;
			if (*size > left) {
				*size = left;
			}
		}
	}
	return iova;
}

/* ---- cores ---- */

uint32_t
osp_env_get_core_count(void)
{
	return rte_lcore_count();
}

uint32_t
osp_env_get_current_core(void)
{
	unsigned id = rte_lcore_id();

	return id == LCORE_ID_ANY ? OSP_ENV_LCORE_ID_ANY : id;
}

uint32_t
osp_env_get_first_core(void)
{
	return rte_get_next_lcore(-1, 0, 0);
}

uint32_t
osp_env_get_last_core(void)
{
	uint32_t i, last = UINT32_MAX;

	OSP_ENV_FOREACH_CORE(i) {
		last = i;
	}
	return last;
}

uint32_t
osp_env_get_next_core(uint32_t prev_core)
{
	unsigned n = rte_get_next_lcore(prev_core, 0, 0);

	return n >= RTE_MAX_LCORE ? UINT32_MAX : n;
}

uint32_t
osp_env_get_main_core(void)
{
	return rte_get_main_lcore();
}

int32_t
osp_env_get_socket_id(uint32_t core)
{
	unsigned s = rte_lcore_to_socket_id(core);

	return s == (unsigned)SOCKET_ID_ANY ? OSP_ENV_SOCKET_ID_ANY : (int32_t)s;
}

int
osp_env_thread_launch_pinned(uint32_t core, int (*fn)(void *), void *arg)
{
	return rte_eal_remote_launch(fn, arg, core);
}

void
osp_env_thread_wait_all(void)
{
	rte_eal_mp_wait_lcore();
}

/* ---- time ---- */

uint64_t
osp_get_ticks(void)
{
	return rte_get_timer_cycles();
}

uint64_t
osp_get_ticks_hz(void)
{
	return rte_get_timer_hz();
}

void
osp_delay_us(unsigned int us)
{
	rte_delay_us(us);
}
