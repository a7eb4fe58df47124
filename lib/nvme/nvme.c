/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/nvme core: transport ids, controller options, status strings, the
 * transport registry and the connect entry points.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "osprey/nvme_tcp_spec.h"

#include "nvme_internal.h"

OSP_LOG_REGISTER_COMPONENT(nvme)

uint64_t
nvme_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void
nvme_poll_pause(void)
{
	usleep(50);
}

/* ------------------------------------------------------------ transports */

static TAILQ_HEAD(, nvme_transport_ops) g_transports = TAILQ_HEAD_INITIALIZER(g_transports);

void
nvme_transport_register(struct nvme_transport_ops *ops)
{
	/* Newest first, so a test can shadow a real transport of the same type. */
	TAILQ_INSERT_HEAD(&g_transports, ops, link);
}

void
nvme_transport_unregister(struct nvme_transport_ops *ops)
{
	struct nvme_transport_ops *o;

	TAILQ_FOREACH(o, &g_transports, link) {
		if (o == ops) {
			TAILQ_REMOVE(&g_transports, ops, link);
			return;
		}
	}
}

static pthread_once_t g_builtin_once = PTHREAD_ONCE_INIT;

/*
 * Built-in transports are referenced from here rather than registered by
 * constructors, so a static link without --whole-archive still has them.
 * They go last: a test double registered earlier shadows them.
 */
static void
register_builtin_transports(void)
{
	TAILQ_INSERT_TAIL(&g_transports, &g_nvme_tcp_ops, link);
	TAILQ_INSERT_TAIL(&g_transports, &g_nvme_pcie_ops, link);
	/*
	 * Weak: rdma.c exists only with libibverbs/librdmacm, and programs that
	 * compile lib/nvme's sources themselves (unit tests, bench/nvme_pcie) go
	 * without it. Osprey's programs and osprey.pc link the archive whole.
	 */
	if (&g_nvme_rdma_ops != NULL) {
		TAILQ_INSERT_TAIL(&g_transports, &g_nvme_rdma_ops, link);
	}
}

const struct nvme_transport_ops *
nvme_transport_get(enum osp_nvme_transport_type trtype)
{
	struct nvme_transport_ops *o;

	pthread_once(&g_builtin_once, register_builtin_transports);

	TAILQ_FOREACH(o, &g_transports, link) {
		if (o->trtype == trtype) {
			return o;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------ transport ids */

static const struct {
	const char *name;
	enum osp_nvme_transport_type type;
} g_trtypes[] = {
	{ "TCP", OSP_NVME_TRANSPORT_TCP },
	{ "PCIe", OSP_NVME_TRANSPORT_PCIE },
	{ "RDMA", OSP_NVME_TRANSPORT_RDMA },
	{ "FC", OSP_NVME_TRANSPORT_FC },
};

static const struct {
	const char *name;
	enum osp_nvmf_adrfam adrfam;
} g_adrfams[] = {
	{ "IPv4", OSP_NVMF_ADRFAM_IPV4 },
	{ "IPv6", OSP_NVMF_ADRFAM_IPV6 },
	{ "IB", OSP_NVMF_ADRFAM_IB },
	{ "FC", OSP_NVMF_ADRFAM_FC },
	{ "intra_host", OSP_NVMF_ADRFAM_INTRA_HOST },
};

int
osp_nvme_transport_id_parse_trtype(enum osp_nvme_transport_type *trtype, const char *str)
{
	size_t i;

	if (trtype == NULL || str == NULL) {
		return -EINVAL;
	}
	for (i = 0; i < OSP_COUNTOF(g_trtypes); i++) {
		if (strcasecmp(str, g_trtypes[i].name) == 0) {
			*trtype = g_trtypes[i].type;
			return 0;
		}
	}
	return -EINVAL;
}

int
osp_nvme_transport_id_parse_adrfam(enum osp_nvmf_adrfam *adrfam, const char *str)
{
	size_t i;

	if (adrfam == NULL || str == NULL) {
		return -EINVAL;
	}
	for (i = 0; i < OSP_COUNTOF(g_adrfams); i++) {
		if (strcasecmp(str, g_adrfams[i].name) == 0) {
			*adrfam = g_adrfams[i].adrfam;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
osp_nvme_transport_id_trtype_str(enum osp_nvme_transport_type trtype)
{
	size_t i;

	for (i = 0; i < OSP_COUNTOF(g_trtypes); i++) {
		if (g_trtypes[i].type == trtype) {
			return g_trtypes[i].name;
		}
	}
	return NULL;
}

const char *
osp_nvme_transport_id_adrfam_str(enum osp_nvmf_adrfam adrfam)
{
	size_t i;

	for (i = 0; i < OSP_COUNTOF(g_adrfams); i++) {
		if (g_adrfams[i].adrfam == adrfam) {
			return g_adrfams[i].name;
		}
	}
	return NULL;
}

static int
hex_field(const char *s, size_t len, uint32_t max, uint32_t *out)
{
	uint32_t v = 0;
	size_t i;

	if (len == 0 || len > 8) {
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		int c = tolower((unsigned char)s[i]);

		if (c >= '0' && c <= '9') {
			v = v * 16 + (uint32_t)(c - '0');
		} else if (c >= 'a' && c <= 'f') {
			v = v * 16 + (uint32_t)(c - 'a' + 10);
		} else {
			return -EINVAL;
		}
	}
	if (v > max) {
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int
nvme_pcie_addr_normalize(char *addr, size_t size)
{
	uint32_t dom = 0, bus, dev, fn;
	const char *p = addr, *c1, *c2, *dot;
	char out[32];

	/* [DDDD:]BB:DD.F */
	c1 = strchr(p, ':');
	if (c1 == NULL) {
		return -EINVAL;
	}
	c2 = strchr(c1 + 1, ':');
	if (c2 != NULL) {
		if (hex_field(p, (size_t)(c1 - p), 0xffffffffu, &dom) != 0) {
			return -EINVAL;
		}
		p = c1 + 1;
		c1 = c2;
	}
	dot = strchr(c1 + 1, '.');
	if (dot == NULL || hex_field(p, (size_t)(c1 - p), 0xff, &bus) != 0 ||
	    hex_field(c1 + 1, (size_t)(dot - c1 - 1), 0x1f, &dev) != 0 ||
	    hex_field(dot + 1, strlen(dot + 1), 0x7, &fn) != 0) {
		return -EINVAL;
	}
	snprintf(out, sizeof(out), "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	if (strlen(out) >= size) {
		return -EINVAL;
	}
	memcpy(addr, out, strlen(out) + 1);
	return 0;
}

/* Copy value (vlen bytes) into a field of size cap (including the NUL). */
static int
trid_copy(char *dst, size_t cap, const char *key, const char *value, size_t vlen)
{
	if (vlen == 0) {
		OSP_ERRLOG("transport id: empty value for '%s'\n", key);
		return -EINVAL;
	}
	if (vlen >= cap) {
		OSP_ERRLOG("transport id: value of '%s' is too long (%zu bytes, max %zu)\n", key,
			   vlen, cap - 1);
		return -EINVAL;
	}
	memcpy(dst, value, vlen);
	dst[vlen] = '\0';
	return 0;
}

/* A numeric IPv4/IPv6 address (optionally "[v6]"); its family in *af. */
static bool
trid_numeric_addr(const char *s, int *af)
{
	char buf[INET6_ADDRSTRLEN + 2];
	unsigned char bin[sizeof(struct in6_addr)];
	size_t len = strlen(s);

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']' && len - 2 < sizeof(buf)) {
		memcpy(buf, s + 1, len - 2);
		buf[len - 2] = '\0';
	} else if (len < sizeof(buf)) {
		memcpy(buf, s, len + 1);
	} else {
		return false;
	}
	if (inet_pton(AF_INET, buf, bin) == 1) {
		*af = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, buf, bin) == 1) {
		*af = AF_INET6;
		return true;
	}
	return false;
}

int
osp_nvme_transport_id_parse(struct osp_nvme_transport_id *trid, const char *str)
{
	return osp_nvme_transport_id_parse_ext(trid, NULL, str);
}

int
osp_nvme_transport_id_parse_ext(struct osp_nvme_transport_id *trid,
				struct osp_nvme_trid_ext *ext, const char *str)
{
	enum {
		K_TRTYPE, K_ADRFAM, K_TRADDR, K_TRSVCID, K_SUBNQN, K_PRIORITY,
		/* host tool keys (ext) */
		K_HOSTNQN, K_HOSTADDR, K_HOSTSVCID, K_NS, K_ALT_TRADDR, K_NUM
	};
	static const char *keys[K_NUM] = {
		"trtype", "adrfam", "traddr", "trsvcid", "subnqn", "priority",
		"hostnqn", "hostaddr", "hostsvcid", "ns", "alt_traddr"
	};
	bool seen[K_NUM] = { false };
	const char *p;
	char tmp[OSP_NVME_TRADDR_MAX_LEN + 1], err[256];
	uint64_t v = 0;
	int rc, af, af2;

	if (trid == NULL || str == NULL) {
		return -EINVAL;
	}
	memset(trid, 0, sizeof(*trid));
	if (ext != NULL) {
		memset(ext, 0, sizeof(*ext));
	}
	p = str;
	for (;;) {
		const char *key, *colon, *value, *end;
		size_t klen, vlen;
		int k;

		while (*p == ' ' || *p == '\t' || *p == '\n') {
			p++;
		}
		if (*p == '\0') {
			break;
		}
		key = p;
		end = p;
		while (*end != '\0' && *end != ' ' && *end != '\t' && *end != '\n') {
			end++;
		}
		colon = memchr(key, ':', (size_t)(end - key));
		if (colon == NULL) {
			OSP_ERRLOG("transport id: '%.*s' is not key:value\n", (int)(end - key), key);
			return -EINVAL;
		}
		klen = (size_t)(colon - key);
		value = colon + 1;
		vlen = (size_t)(end - value);
		p = end;
		for (k = 0; k < K_NUM; k++) {
			if (strlen(keys[k]) == klen && strncasecmp(key, keys[k], klen) == 0) {
				break;
			}
		}
		if (k == K_NUM) {
			OSP_ERRLOG("transport id: unknown key '%.*s' (known: trtype adrfam traddr trsvcid "
				   "subnqn priority%s)\n", (int)klen, key,
				   ext != NULL ? " hostnqn hostaddr hostsvcid ns alt_traddr" : "");
			return -EINVAL;
		}
		if (k >= K_HOSTNQN && ext == NULL) {
			OSP_ERRLOG("transport id: key '%s' is taken by the host tools' -r only, not here\n",
				   keys[k]);
			return -EINVAL;
		}
		if (seen[k]) {
			OSP_ERRLOG("transport id: key '%s' given twice\n", keys[k]);
			return -EINVAL;
		}
		seen[k] = true;
		switch (k) {
		case K_TRTYPE:
			rc = trid_copy(trid->trstring, sizeof(trid->trstring), keys[k], value, vlen);
			if (rc != 0) {
				return rc;
			}
			if (osp_nvme_transport_id_parse_trtype(&trid->trtype, trid->trstring) != 0) {
				OSP_ERRLOG("transport id: unknown trtype '%s' (TCP, PCIe, RDMA, FC)\n",
					   trid->trstring);
				return -EINVAL;
			}
			/* canonical spelling */
			snprintf(trid->trstring, sizeof(trid->trstring), "%s",
				 osp_nvme_transport_id_trtype_str(trid->trtype));
			break;
		case K_ADRFAM:
			rc = trid_copy(tmp, sizeof(tmp), keys[k], value, vlen);
			if (rc != 0) {
				return rc;
			}
			if (osp_nvme_transport_id_parse_adrfam(&trid->adrfam, tmp) != 0) {
				OSP_ERRLOG("transport id: unknown adrfam '%s' (IPv4, IPv6, IB, FC, "
					   "intra_host)\n", tmp);
				return -EINVAL;
			}
			break;
		case K_TRADDR:
			rc = trid_copy(trid->traddr, sizeof(trid->traddr), keys[k], value, vlen);
			break;
		case K_TRSVCID:
			rc = trid_copy(trid->trsvcid, sizeof(trid->trsvcid), keys[k], value, vlen);
			break;
		case K_SUBNQN:
			rc = trid_copy(trid->subnqn, sizeof(trid->subnqn), keys[k], value, vlen);
			break;
		case K_PRIORITY:
			rc = trid_copy(tmp, sizeof(tmp), keys[k], value, vlen);
			if (rc == 0 && (osp_parse_u64(tmp, 10, &v) != 0 || v > INT32_MAX)) {
				OSP_ERRLOG("transport id: priority '%s' is not a number from 0 to %d "
					   "(SO_PRIORITY; above 6 needs CAP_NET_ADMIN)\n", tmp, INT32_MAX);
				rc = -EINVAL;
			}
			trid->priority = (int32_t)v;
			break;
		case K_HOSTNQN:
			rc = trid_copy(ext->hostnqn, sizeof(ext->hostnqn), keys[k], value, vlen);
			if (rc == 0 && osp_nqn_check(ext->hostnqn, err, sizeof(err)) != 0) {
				OSP_ERRLOG("transport id: hostnqn '%s' is not a valid NQN: %s\n",
					   ext->hostnqn, err);
				rc = -EINVAL;
			}
			break;
		case K_HOSTADDR:
			rc = trid_copy(ext->hostaddr, sizeof(ext->hostaddr), keys[k], value, vlen);
			break;
		case K_HOSTSVCID:
			rc = trid_copy(ext->hostsvcid, sizeof(ext->hostsvcid), keys[k], value, vlen);
			if (rc == 0 && (osp_parse_u64(ext->hostsvcid, 10, &v) != 0 || v == 0 ||
					v > 65535)) {
				OSP_ERRLOG("transport id: hostsvcid '%s' is not a port number "
					   "(1-65535)\n", ext->hostsvcid);
				rc = -EINVAL;
			}
			break;
		case K_NS:
			rc = trid_copy(tmp, sizeof(tmp), keys[k], value, vlen);
			if (rc == 0 && (osp_parse_u64(tmp, 0, &v) != 0 || v == 0 ||
					v >= 0xffffffffull)) {
				OSP_ERRLOG("transport id: ns '%s' is not a namespace ID (1 to "
					   "0xfffffffe)\n", tmp);
				rc = -EINVAL;
			}
			ext->nsid = (uint32_t)v;
			break;
		case K_ALT_TRADDR:
			rc = trid_copy(ext->alt_traddr, sizeof(ext->alt_traddr), keys[k], value, vlen);
			break;
		default:
			rc = -EINVAL;
			break;
		}
		if (rc != 0) {
			return rc;
		}
	}

	if (!seen[K_TRTYPE]) {
		OSP_ERRLOG("transport id: trtype is required\n");
		return -EINVAL;
	}
	if (!seen[K_TRADDR]) {
		OSP_ERRLOG("transport id: traddr is required\n");
		return -EINVAL;
	}
	if (trid->trtype == OSP_NVME_TRANSPORT_PCIE) {
		/* traddr is a PCI address: "0000:00:04.0" or "00:04.0" (SPDK's syntax). */
		if (nvme_pcie_addr_normalize(trid->traddr, sizeof(trid->traddr)) != 0) {
			OSP_ERRLOG("transport id: traddr '%s' is not a PCI address "
				   "(DDDD:BB:DD.F)\n", trid->traddr);
			return -EINVAL;
		}
		if (seen[K_ADRFAM] || seen[K_TRSVCID] || seen[K_PRIORITY] || seen[K_HOSTADDR] ||
		    seen[K_HOSTSVCID] || seen[K_ALT_TRADDR]) {
			OSP_ERRLOG("transport id: adrfam, trsvcid, priority, hostaddr, hostsvcid and "
				   "alt_traddr do not apply to PCIe\n");
			return -EINVAL;
		}
		if (seen[K_SUBNQN] && osp_nqn_check(trid->subnqn, err, sizeof(err)) != 0) {
			OSP_ERRLOG("transport id: subnqn: %s\n", err);
			return -EINVAL;
		}
		return 0;
	}
	if (!seen[K_ADRFAM]) {
		trid->adrfam = strchr(trid->traddr, ':') != NULL ? OSP_NVMF_ADRFAM_IPV6 :
			       OSP_NVMF_ADRFAM_IPV4;
	}
	if (trid->trtype == OSP_NVME_TRANSPORT_TCP || trid->trtype == OSP_NVME_TRANSPORT_RDMA) {
		uint64_t port;

		if (trid->adrfam != OSP_NVMF_ADRFAM_IPV4 && trid->adrfam != OSP_NVMF_ADRFAM_IPV6) {
			OSP_ERRLOG("transport id: adrfam must be IPv4 or IPv6 for %s\n",
				   trid->trstring);
			return -EINVAL;
		}
		if (!seen[K_TRSVCID]) {
			snprintf(trid->trsvcid, sizeof(trid->trsvcid), "%d", OSP_NVME_TCP_IO_PORT);
		}
		if (osp_parse_u64(trid->trsvcid, 10, &port) != 0 || port == 0 || port > 65535) {
			OSP_ERRLOG("transport id: trsvcid '%s' is not a port number (1-65535)\n",
				   trid->trsvcid);
			return -EINVAL;
		}
		/* The host side addresses must be of the family the target is reached with. */
		af = trid->adrfam == OSP_NVMF_ADRFAM_IPV6 ? AF_INET6 : AF_INET;
		if (seen[K_HOSTADDR] && (!trid_numeric_addr(ext->hostaddr, &af2) || af2 != af)) {
			OSP_ERRLOG("transport id: hostaddr '%s' is not a numeric %s address\n",
				   ext->hostaddr, af == AF_INET ? "IPv4" : "IPv6");
			return -EINVAL;
		}
		if (seen[K_ALT_TRADDR] && (!trid_numeric_addr(ext->alt_traddr, &af2) ||
					   af2 != af)) {
			OSP_ERRLOG("transport id: alt_traddr '%s' is not a numeric %s address\n",
				   ext->alt_traddr, af == AF_INET ? "IPv4" : "IPv6");
			return -EINVAL;
		}
	}
	if (trid->trtype != OSP_NVME_TRANSPORT_TCP &&
	    (seen[K_PRIORITY] || seen[K_HOSTADDR] || seen[K_HOSTSVCID])) {
		/* Only the TCP transport applies them so far: refused, not ignored. */
		OSP_ERRLOG("transport id: priority, hostaddr and hostsvcid apply to TCP only\n");
		return -EINVAL;
	}
	if (!seen[K_SUBNQN]) {
		snprintf(trid->subnqn, sizeof(trid->subnqn), "%s", OSP_NVMF_DISCOVERY_NQN);
	} else if (osp_nqn_check(trid->subnqn, err, sizeof(err)) != 0) {
		OSP_ERRLOG("transport id: subnqn: %s\n", err);
		return -EINVAL;
	}
	return 0;
}

int
osp_nvme_transport_id_compare(const struct osp_nvme_transport_id *a,
			      const struct osp_nvme_transport_id *b)
{
	int c;

	if (a->trtype != b->trtype) {
		return a->trtype < b->trtype ? -1 : 1;
	}
	if (a->adrfam != b->adrfam) {
		return a->adrfam < b->adrfam ? -1 : 1;
	}
	c = strcmp(a->traddr, b->traddr);
	if (c == 0) {
		c = strcmp(a->trsvcid, b->trsvcid);
	}
	if (c == 0) {
		c = strcmp(a->subnqn, b->subnqn);
	}
	return c < 0 ? -1 : c > 0 ? 1 : 0;
}

int
osp_nvme_transport_id_fmt(const struct osp_nvme_transport_id *trid, char *buf, size_t size)
{
	const char *tr = osp_nvme_transport_id_trtype_str(trid->trtype);
	const char *af = osp_nvme_transport_id_adrfam_str(trid->adrfam);
	int n;

	if (trid->trtype == OSP_NVME_TRANSPORT_PCIE) {
		n = snprintf(buf, size, "trtype:PCIe traddr:%s", trid->traddr);
		if (n >= 0 && (size_t)n < size && trid->subnqn[0] != '\0') {
			n += snprintf(buf + n, size - (size_t)n, " subnqn:%s", trid->subnqn);
		}
		if (n < 0) {
			return -EINVAL;
		}
		return (size_t)n >= size ? -ENOSPC : n;
	}
	n = snprintf(buf, size, "trtype:%s adrfam:%s traddr:%s trsvcid:%s subnqn:%s",
		     tr ? tr : "?", af ? af : "?", trid->traddr, trid->trsvcid, trid->subnqn);
	if (n < 0) {
		return -EINVAL;
	}
	if ((size_t)n < size && trid->priority != 0) {
		int m = snprintf(buf + n, size - (size_t)n, " priority:%d", trid->priority);

		if (m < 0) {
			return -EINVAL;
		}
		n += m;
	}
	if ((size_t)n >= size) {
		return -ENOSPC;
	}
	return n;
}

/* ------------------------------------------------------------ options */

static pthread_once_t g_host_once = PTHREAD_ONCE_INIT;
static struct osp_uuid g_host_uuid;
static char g_host_nqn[OSP_NVME_NQN_MAX_LEN + 1];

static void
host_identity_init(void)
{
	char s[OSP_UUID_STRING_LEN];

	osp_uuid_generate(&g_host_uuid);
	osp_uuid_fmt_lower(s, sizeof(s), &g_host_uuid);
	snprintf(g_host_nqn, sizeof(g_host_nqn), "%s%s", OSP_NVMF_NQN_UUID_PREFIX, s);
}

void
osp_nvme_ctrlr_opts_init(struct osp_nvme_ctrlr_opts *opts, size_t opts_size)
{
	struct osp_nvme_ctrlr_opts d;

	if (opts == NULL || opts_size == 0) {
		return;
	}
	pthread_once(&g_host_once, host_identity_init);
	memset(&d, 0, sizeof(d));
	d.opts_size = OSP_MIN(opts_size, sizeof(d));
	d.num_io_queues = 64;
	d.io_queue_size = 128;
	d.admin_queue_size = 32;
	d.keep_alive_timeout_ms = 10000;
	d.header_digest = false;
	d.data_digest = false;
	snprintf(d.hostnqn, sizeof(d.hostnqn), "%s", g_host_nqn);
	memcpy(d.hostid, g_host_uuid.u, sizeof(d.hostid));
	d.transport_connect_timeout_ms = 10000;
	d.admin_timeout_ms = 10000;
	d.maxr2t = 1;
	memcpy(opts, &d, OSP_MIN(opts_size, sizeof(d)));
}

/* ------------------------------------------------------------ status strings */

const char *
osp_nvme_cpl_status_string(const struct osp_nvme_cpl *cpl)
{
	unsigned sct = cpl->status.sct, sc = cpl->status.sc;

	if (sct == OSP_NVME_SCT_GENERIC) {
		switch (sc) {
		case OSP_NVME_SC_SUCCESS: return "SUCCESS";
		case OSP_NVME_SC_INVALID_OPCODE: return "INVALID OPCODE";
		case OSP_NVME_SC_INVALID_FIELD: return "INVALID FIELD";
		case OSP_NVME_SC_COMMAND_ID_CONFLICT: return "COMMAND ID CONFLICT";
		case OSP_NVME_SC_DATA_TRANSFER_ERROR: return "DATA TRANSFER ERROR";
		case OSP_NVME_SC_ABORTED_POWER_LOSS: return "ABORTED - POWER LOSS";
		case OSP_NVME_SC_INTERNAL_DEVICE_ERROR: return "INTERNAL DEVICE ERROR";
		case OSP_NVME_SC_ABORTED_BY_REQUEST: return "ABORTED - BY REQUEST";
		case OSP_NVME_SC_ABORTED_SQ_DELETION: return "ABORTED - SQ DELETION";
		case OSP_NVME_SC_INVALID_NAMESPACE_OR_FORMAT: return "INVALID NAMESPACE OR FORMAT";
		case OSP_NVME_SC_COMMAND_SEQUENCE_ERROR: return "COMMAND SEQUENCE ERROR";
		case OSP_NVME_SC_INVALID_SGL_SEG_DESCRIPTOR: return "INVALID SGL SEGMENT DESCRIPTOR";
		case OSP_NVME_SC_DATA_SGL_LENGTH_INVALID: return "DATA SGL LENGTH INVALID";
		case OSP_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID: return "SGL DESCRIPTOR TYPE INVALID";
		case OSP_NVME_SC_INVALID_SGL_OFFSET: return "INVALID SGL OFFSET";
		case OSP_NVME_SC_KEEP_ALIVE_EXPIRED: return "KEEP ALIVE EXPIRED";
		case OSP_NVME_SC_KEEP_ALIVE_INVALID: return "KEEP ALIVE INVALID";
		case OSP_NVME_SC_TRANSIENT_TRANSPORT_ERROR: return "TRANSIENT TRANSPORT ERROR";
		case OSP_NVME_SC_LBA_OUT_OF_RANGE: return "LBA OUT OF RANGE";
		case OSP_NVME_SC_CAPACITY_EXCEEDED: return "CAPACITY EXCEEDED";
		case OSP_NVME_SC_NAMESPACE_NOT_READY: return "NAMESPACE NOT READY";
		case OSP_NVME_SC_RESERVATION_CONFLICT: return "RESERVATION CONFLICT";
		default: break;
		}
	} else if (sct == OSP_NVME_SCT_COMMAND_SPECIFIC) {
		switch (sc) {
		case OSP_NVME_SC_INVALID_QUEUE_IDENTIFIER: return "INVALID QUEUE IDENTIFIER";
		case OSP_NVME_SC_INVALID_QUEUE_SIZE: return "INVALID QUEUE SIZE";
		case OSP_NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED: return "ASYNC EVENT REQUEST LIMIT EXCEEDED";
		case OSP_NVME_SC_INVALID_LOG_PAGE: return "INVALID LOG PAGE";
		case OSP_NVME_SC_CONFLICTING_ATTRIBUTES: return "CONFLICTING ATTRIBUTES";
		case OSP_NVMF_SC_CONTROLLER_BUSY: return "CONNECT CONTROLLER BUSY";
		case OSP_NVMF_SC_INVALID_PARAM: return "CONNECT INVALID PARAMETERS";
		case OSP_NVMF_SC_RESTART_DISCOVERY: return "CONNECT RESTART DISCOVERY";
		case OSP_NVMF_SC_INVALID_HOST: return "CONNECT INVALID HOST";
		case OSP_NVMF_SC_INVALID_QUEUE_TYPE: return "INVALID QUEUE TYPE";
		case OSP_NVMF_SC_DISCOVER_RESTART: return "DISCOVER RESTART";
		case OSP_NVMF_SC_AUTH_REQUIRED: return "AUTHENTICATION REQUIRED";
		default: break;
		}
	} else if (sct == OSP_NVME_SCT_MEDIA_ERROR) {
		switch (sc) {
		case OSP_NVME_SC_WRITE_FAULTS: return "WRITE FAULTS";
		case OSP_NVME_SC_UNRECOVERED_READ_ERROR: return "UNRECOVERED READ ERROR";
		case OSP_NVME_SC_COMPARE_FAILURE: return "COMPARE FAILURE";
		case OSP_NVME_SC_ACCESS_DENIED: return "ACCESS DENIED";
		default: break;
		}
	}
	return "UNKNOWN";
}

void
nvme_set_connect_error(struct osp_nvme_connect_error *err, int rc, const char *step,
		       const struct osp_nvme_cpl *cpl)
{
	err->rc = rc;
	err->step = step;
	err->has_cpl = cpl != NULL;
	if (cpl != NULL) {
		err->cpl = *cpl;
	} else {
		memset(&err->cpl, 0, sizeof(err->cpl));
	}
}

/* ------------------------------------------------------------ connect */

struct osp_nvme_probe_ctx *
osp_nvme_connect_async(const struct osp_nvme_transport_id *trid,
		       const struct osp_nvme_ctrlr_opts *opts, size_t opts_size,
		       osp_nvme_attach_cb attach_cb, void *cb_ctx)
{
	struct osp_nvme_probe_ctx *ctx;
	int rc;

	if (trid == NULL || attach_cb == NULL) {
		errno = EINVAL;
		return NULL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	ctx->ctrlr = nvme_ctrlr_alloc(trid, opts, opts_size, &rc);
	if (ctx->ctrlr == NULL) {
		free(ctx);
		errno = -rc;
		return NULL;
	}
	rc = nvme_ctrlr_start_init(ctx->ctrlr);
	if (rc != 0) {
		nvme_ctrlr_free(ctx->ctrlr);
		free(ctx);
		errno = -rc;
		return NULL;
	}
	ctx->attach_cb = attach_cb;
	ctx->cb_ctx = cb_ctx;
	return ctx;
}

int
osp_nvme_probe_poll_async(struct osp_nvme_probe_ctx *ctx)
{
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvme_connect_error err;
	struct osp_nvme_transport_id trid;
	int rc;

	if (ctx == NULL) {
		return -EINVAL;
	}
	ctrlr = ctx->ctrlr;
	nvme_ctrlr_lock(ctrlr);
	rc = nvme_ctrlr_init_poll(ctrlr);
	nvme_ctrlr_unlock(ctrlr);
	if (rc == -EAGAIN) {
		return -EAGAIN;
	}
	trid = ctrlr->trid;
	if (rc == 0) {
		ctx->attach_cb(ctx->cb_ctx, &trid, ctrlr, NULL);
	} else {
		err = ctrlr->err;
		if (err.rc == 0) {
			err.rc = rc;
		}
		nvme_ctrlr_free(ctrlr);
		ctx->attach_cb(ctx->cb_ctx, &trid, NULL, &err);
	}
	free(ctx);
	return 0;
}

void
osp_nvme_probe_ctx_cancel(struct osp_nvme_probe_ctx *ctx)
{
	if (ctx == NULL) {
		return;
	}
	nvme_ctrlr_free(ctx->ctrlr);
	free(ctx);
}

struct sync_attach {
	struct osp_nvme_ctrlr *ctrlr;
	struct osp_nvme_connect_error err;
};

static void
sync_attach_cb(void *cb_ctx, const struct osp_nvme_transport_id *trid,
	       struct osp_nvme_ctrlr *ctrlr, const struct osp_nvme_connect_error *err)
{
	struct sync_attach *s = cb_ctx;

	s->ctrlr = ctrlr;
	if (err != NULL) {
		s->err = *err;
	}
}

struct osp_nvme_ctrlr *
osp_nvme_connect_ext(const struct osp_nvme_transport_id *trid,
		     const struct osp_nvme_ctrlr_opts *opts, size_t opts_size,
		     struct osp_nvme_connect_error *err)
{
	struct osp_nvme_probe_ctx *ctx;
	struct sync_attach s;

	memset(&s, 0, sizeof(s));
	ctx = osp_nvme_connect_async(trid, opts, opts_size, sync_attach_cb, &s);
	if (ctx == NULL) {
		int e = errno;

		if (err != NULL) {
			nvme_set_connect_error(err, -e, e == EINVAL || e == ENOTSUP || e == ENOMEM ?
					       "setup" : trid->trtype == OSP_NVME_TRANSPORT_RDMA ?
					       "rdma connect" : "tcp connect", NULL);
		}
		errno = e;
		return NULL;
	}
	/* The state machine bounds every step with a timeout, so this ends. */
	while (osp_nvme_probe_poll_async(ctx) == -EAGAIN) {
		nvme_poll_pause();
	}
	if (s.ctrlr == NULL) {
		if (err != NULL) {
			*err = s.err;
		}
		errno = s.err.rc < 0 ? -s.err.rc : EIO;
		return NULL;
	}
	if (err != NULL) {
		memset(err, 0, sizeof(*err));
	}
	return s.ctrlr;
}

struct osp_nvme_ctrlr *
osp_nvme_connect(const struct osp_nvme_transport_id *trid, const struct osp_nvme_ctrlr_opts *opts,
		 size_t opts_size)
{
	return osp_nvme_connect_ext(trid, opts, opts_size, NULL);
}

int
osp_nvme_detach(struct osp_nvme_ctrlr *ctrlr)
{
	if (ctrlr == NULL) {
		return -EINVAL;
	}
	nvme_ctrlr_shutdown(ctrlr);
	nvme_ctrlr_free(ctrlr);
	return 0;
}
