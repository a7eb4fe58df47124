/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Initiator groups: which initiators (by iSCSI name and by address) may use
 * the target nodes a group is mapped to. Names: "ANY", an exact name
 * (compared without case), or "!name" to deny. Netmasks: "ANY", an address,
 * "a.b.c.d/len", "[v6]/len" (or without brackets), "!mask" to deny. An
 * initiator passes when its name and its address are both allowed and
 * neither is denied.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "osprey/util.h"

#include "iscsi_internal.h"

struct iscsi_init_grp *
iscsi_init_grp_find(int tag)
{
	struct iscsi_init_grp *ig;

	TAILQ_FOREACH(ig, &g_iscsi.igs, link) {
		if (ig->tag == tag) {
			return ig;
		}
	}
	return NULL;
}

/* Split mask into an address (family, bytes) and a prefix length. */
static bool
netmask_parse(const char *mask, int *af, uint8_t addr[16], int *prefix)
{
	char buf[80];
	const char *slash;
	size_t alen;
	char *end;
	long len;

	slash = strchr(mask, '/');
	alen = slash != NULL ? (size_t)(slash - mask) : strlen(mask);
	if (alen == 0 || alen >= sizeof(buf)) {
		return false;
	}
	memcpy(buf, mask, alen);
	buf[alen] = '\0';
	if (buf[0] == '[') {
		if (alen < 3 || buf[alen - 1] != ']') {
			return false;
		}
		buf[alen - 1] = '\0';
		memmove(buf, buf + 1, alen - 1);
	}
	if (inet_pton(AF_INET, buf, addr) == 1) {
		*af = AF_INET;
	} else if (inet_pton(AF_INET6, buf, addr) == 1) {
		*af = AF_INET6;
	} else {
		return false;
	}
	if (slash == NULL) {
		*prefix = *af == AF_INET ? 32 : 128;
		return true;
	}
	errno = 0;
	len = strtol(slash + 1, &end, 10);
	if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || errno != 0 || len < 0 ||
	    len > (*af == AF_INET ? 32 : 128)) {
		return false;
	}
	*prefix = (int)len;
	return true;
}

bool
iscsi_netmask_valid(const char *mask)
{
	uint8_t a[16];
	int af, prefix;

	if (mask == NULL) {
		return false;
	}
	if (mask[0] == '!') {
		mask++;
	}
	return strcasecmp(mask, "ANY") == 0 || netmask_parse(mask, &af, a, &prefix);
}

bool
iscsi_netmask_match(const char *mask, const char *addr)
{
	uint8_t m[16], a[16];
	int maf, aaf, prefix, i;
	char abuf[64];
	size_t alen;

	if (strcasecmp(mask, "ANY") == 0) {
		return true;
	}
	if (!netmask_parse(mask, &maf, m, &prefix)) {
		return false;
	}
	alen = strlen(addr);
	if (alen >= sizeof(abuf)) {
		return false;
	}
	memcpy(abuf, addr, alen + 1);
	if (inet_pton(AF_INET, abuf, a) == 1) {
		aaf = AF_INET;
	} else if (inet_pton(AF_INET6, abuf, a) == 1) {
		aaf = AF_INET6;
	} else {
		return false;
	}
	if (maf != aaf) {
		return false;
	}
	for (i = 0; i < prefix / 8; i++) {
		if (m[i] != a[i]) {
			return false;
		}
	}
	if (prefix % 8 != 0) {
		uint8_t bits = (uint8_t)(0xff << (8 - prefix % 8));

		if ((m[i] & bits) != (a[i] & bits)) {
			return false;
		}
	}
	return true;
}

int
iscsi_init_grp_check(const struct iscsi_init_grp *ig, const char *iname, const char *addr)
{
	bool name_ok = false, addr_ok = false;
	int i;

	for (i = 0; i < ig->nnames; i++) {
		const char *n = ig->names[i];

		if (n[0] == '!') {
			if (strcasecmp(n + 1, "ANY") == 0 || strcasecmp(n + 1, iname) == 0) {
				return -1;
			}
		} else if (strcasecmp(n, "ANY") == 0 || strcasecmp(n, iname) == 0) {
			name_ok = true;
		}
	}
	for (i = 0; i < ig->nmasks; i++) {
		const char *m = ig->masks[i];

		if (m[0] == '!') {
			if (iscsi_netmask_match(m + 1, addr)) {
				return -1;
			}
		} else if (iscsi_netmask_match(m, addr)) {
			addr_ok = true;
		}
	}
	return name_ok && addr_ok ? 1 : 0;
}

static int
find_str(char *const *arr, int n, const char *s)
{
	int i;

	for (i = 0; i < n; i++) {
		if (strcasecmp(arr[i], s) == 0) {
			return i;
		}
	}
	return -1;
}

static int
ig_validate(const char *const *names, int nnames, const char *const *masks, int nmasks,
	    char *err, size_t errlen)
{
	int i;

	for (i = 0; i < nnames; i++) {
		const char *n = names[i];

		if (n == NULL || n[0] == '\0' || strlen(n) > ISCSI_NAME_MAX_LEN + 1) {
			osp_seterr(err, errlen, "Invalid initiator name #%d", i);
			return -EINVAL;
		}
		if (n[0] == '!') {
			n++;
		}
		if (strcasecmp(n, "ANY") != 0 && !iscsi_name_valid(n)) {
			osp_seterr(err, errlen, "Invalid initiator name '%s': expected ANY or an "
				   "iqn./eui./naa. name", names[i]);
			return -EINVAL;
		}
	}
	for (i = 0; i < nmasks; i++) {
		if (!iscsi_netmask_valid(masks[i])) {
			osp_seterr(err, errlen, "Invalid netmask '%s': expected ANY, an address or "
				   "address/prefix", masks[i] ? masks[i] : "");
			return -EINVAL;
		}
	}
	return 0;
}

static int
ig_add(struct iscsi_init_grp *ig, const char *const *names, int nnames,
       const char *const *masks, int nmasks, char *err, size_t errlen)
{
	int i;

	if (ig->nnames + nnames > OSP_ISCSI_MAX_INITIATORS ||
	    ig->nmasks + nmasks > OSP_ISCSI_MAX_INITIATORS) {
		osp_seterr(err, errlen, "An initiator group holds at most %d names and %d netmasks",
			   OSP_ISCSI_MAX_INITIATORS, OSP_ISCSI_MAX_INITIATORS);
		return -ENOSPC;
	}
	for (i = 0; i < nnames; i++) {
		if (find_str(ig->names, ig->nnames, names[i]) >= 0) {
			osp_seterr(err, errlen, "Initiator '%s' is already in group %d", names[i],
				   ig->tag);
			return -EEXIST;
		}
	}
	for (i = 0; i < nmasks; i++) {
		if (find_str(ig->masks, ig->nmasks, masks[i]) >= 0) {
			osp_seterr(err, errlen, "Netmask '%s' is already in group %d", masks[i],
				   ig->tag);
			return -EEXIST;
		}
	}
	for (i = 0; i < nnames; i++) {
		ig->names[ig->nnames] = strdup(names[i]);
		if (ig->names[ig->nnames] == NULL) {
			return -ENOMEM;
		}
		ig->nnames++;
	}
	for (i = 0; i < nmasks; i++) {
		ig->masks[ig->nmasks] = strdup(masks[i]);
		if (ig->masks[ig->nmasks] == NULL) {
			return -ENOMEM;
		}
		ig->nmasks++;
	}
	return 0;
}

static void
ig_free(struct iscsi_init_grp *ig)
{
	int i;

	for (i = 0; i < ig->nnames; i++) {
		free(ig->names[i]);
	}
	for (i = 0; i < ig->nmasks; i++) {
		free(ig->masks[i]);
	}
	free(ig);
}

int
osp_iscsi_init_grp_create(int tag, const char *const *names, int nnames,
			  const char *const *masks, int nmasks, char *err, size_t errlen)
{
	struct iscsi_init_grp *ig;
	int rc;

	if (tag <= 0 || tag > 65535) {
		osp_seterr(err, errlen, "Invalid initiator group tag %d: expected 1-65535", tag);
		return -EINVAL;
	}
	if (nnames == 0 || nmasks == 0) {
		osp_seterr(err, errlen, "Invalid parameter '%s': an initiator group needs at least one "
			   "entry (ANY matches every %s)", nnames == 0 ? "initiators" : "netmasks",
			   nnames == 0 ? "initiator name" : "address");
		return -EINVAL;
	}
	rc = ig_validate(names, nnames, masks, nmasks, err, errlen);
	if (rc != 0) {
		return rc;
	}
	ig = calloc(1, sizeof(*ig));
	if (ig == NULL) {
		return -ENOMEM;
	}
	ig->tag = tag;
	rc = ig_add(ig, names, nnames, masks, nmasks, err, errlen);
	if (rc != 0) {
		ig_free(ig);
		return rc;
	}
	iscsi_lock();
	if (iscsi_init_grp_find(tag) != NULL) {
		iscsi_unlock();
		ig_free(ig);
		osp_seterr(err, errlen, "Initiator group %d already exists", tag);
		return -EEXIST;
	}
	TAILQ_INSERT_TAIL(&g_iscsi.igs, ig, link);
	iscsi_unlock();
	return 0;
}

int
osp_iscsi_init_grp_add(int tag, const char *const *names, int nnames,
		       const char *const *masks, int nmasks, char *err, size_t errlen)
{
	struct iscsi_init_grp *ig;
	int rc;

	rc = ig_validate(names, nnames, masks, nmasks, err, errlen);
	if (rc != 0) {
		return rc;
	}
	iscsi_lock();
	ig = iscsi_init_grp_find(tag);
	if (ig == NULL) {
		iscsi_unlock();
		osp_seterr(err, errlen, "Initiator group %d not found", tag);
		return -ENOENT;
	}
	rc = ig_add(ig, names, nnames, masks, nmasks, err, errlen);
	iscsi_unlock();
	return rc;
}

int
osp_iscsi_init_grp_remove(int tag, const char *const *names, int nnames,
			  const char *const *masks, int nmasks, char *err, size_t errlen)
{
	struct iscsi_init_grp *ig;
	int i, j;

	iscsi_lock();
	ig = iscsi_init_grp_find(tag);
	if (ig == NULL) {
		iscsi_unlock();
		osp_seterr(err, errlen, "Initiator group %d not found", tag);
		return -ENOENT;
	}
	for (i = 0; i < nnames; i++) {
		if (find_str(ig->names, ig->nnames, names[i]) < 0) {
			iscsi_unlock();
			osp_seterr(err, errlen, "Initiator '%s' is not in group %d", names[i], tag);
			return -ENOENT;
		}
	}
	for (i = 0; i < nmasks; i++) {
		if (find_str(ig->masks, ig->nmasks, masks[i]) < 0) {
			iscsi_unlock();
			osp_seterr(err, errlen, "Netmask '%s' is not in group %d", masks[i], tag);
			return -ENOENT;
		}
	}
	for (i = 0; i < nnames; i++) {
		j = find_str(ig->names, ig->nnames, names[i]);
		if (j >= 0) {
			free(ig->names[j]);
			ig->names[j] = ig->names[--ig->nnames];
		}
	}
	for (i = 0; i < nmasks; i++) {
		j = find_str(ig->masks, ig->nmasks, masks[i]);
		if (j >= 0) {
			free(ig->masks[j]);
			ig->masks[j] = ig->masks[--ig->nmasks];
		}
	}
	iscsi_unlock();
	return 0;
}

int
osp_iscsi_init_grp_delete(int tag, char *err, size_t errlen)
{
	struct iscsi_init_grp *ig;

	iscsi_lock();
	ig = iscsi_init_grp_find(tag);
	if (ig == NULL) {
		iscsi_unlock();
		osp_seterr(err, errlen, "Initiator group %d not found", tag);
		return -ENOENT;
	}
	if (ig->refcnt > 0) {
		iscsi_unlock();
		osp_seterr(err, errlen, "Initiator group %d is mapped to %u target node(s): "
			   "remove the maps first", tag, ig->refcnt);
		return -EBUSY;
	}
	TAILQ_REMOVE(&g_iscsi.igs, ig, link);
	iscsi_unlock();
	ig_free(ig);
	return 0;
}

void
iscsi_init_grp_delete_all(void)
{
	struct iscsi_init_grp *ig;

	iscsi_lock();
	while ((ig = TAILQ_FIRST(&g_iscsi.igs)) != NULL) {
		TAILQ_REMOVE(&g_iscsi.igs, ig, link);
		ig_free(ig);
	}
	iscsi_unlock();
}
