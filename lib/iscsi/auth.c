/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CHAP auth groups (a tag and user/secret pairs, with the target's own name
 * and secret for mutual CHAP), the secrets file of iscsi_set_options'
 * auth_file, and the discovery sessions' auth settings.
 *
 * Secrets file (SPDK's layout):
 *	# comment
 *	[AuthGroup1]
 *	  Comment "..."
 *	  Auth "user" "secret" "muser" "msecret"
 *	  Auth "user2" "secret2"
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/util.h"

#include "iscsi_internal.h"

bool g_iscsi_disc_disable_chap;
bool g_iscsi_disc_require_chap;
bool g_iscsi_disc_mutual_chap;
int32_t g_iscsi_disc_chap_group;

struct iscsi_auth_grp *
iscsi_auth_grp_find(int tag)
{
	struct iscsi_auth_grp *ag;

	TAILQ_FOREACH(ag, &g_iscsi.auth_groups, link) {
		if (ag->tag == tag) {
			return ag;
		}
	}
	return NULL;
}

static struct iscsi_secret *
secret_find(struct iscsi_auth_grp *ag, const char *user)
{
	struct iscsi_secret *s;

	TAILQ_FOREACH(s, &ag->secrets, link) {
		if (strcmp(s->s.user, user) == 0) {
			return s;
		}
	}
	return NULL;
}

int
iscsi_chap_lookup(void *ctx, const char *user, struct iscsi_chap_secret *out)
{
	struct iscsi_auth_grp *ag;
	struct iscsi_secret *s;
	int rc = -ENOENT;

	iscsi_lock();
	ag = iscsi_auth_grp_find((int)(intptr_t)ctx);
	if (ag != NULL && (s = secret_find(ag, user)) != NULL) {
		*out = s->s;
		rc = 0;
	}
	iscsi_unlock();
	return rc;
}

static void
ag_free(struct iscsi_auth_grp *ag)
{
	struct iscsi_secret *s;

	while ((s = TAILQ_FIRST(&ag->secrets)) != NULL) {
		TAILQ_REMOVE(&ag->secrets, s, link);
		memset(s, 0, sizeof(*s));
		free(s);
	}
	free(ag);
}

int
osp_iscsi_auth_grp_create(int tag, char *err, size_t errlen)
{
	struct iscsi_auth_grp *ag;

	if (tag <= 0 || tag > 65535) {
		osp_seterr(err, errlen, "Invalid auth group tag %d: expected 1-65535", tag);
		return -EINVAL;
	}
	ag = calloc(1, sizeof(*ag));
	if (ag == NULL) {
		return -ENOMEM;
	}
	ag->tag = tag;
	TAILQ_INIT(&ag->secrets);
	iscsi_lock();
	if (iscsi_auth_grp_find(tag) != NULL) {
		iscsi_unlock();
		free(ag);
		osp_seterr(err, errlen, "Auth group %d already exists", tag);
		return -EEXIST;
	}
	TAILQ_INSERT_TAIL(&g_iscsi.auth_groups, ag, link);
	iscsi_unlock();
	return 0;
}

int
osp_iscsi_auth_grp_delete(int tag, char *err, size_t errlen)
{
	struct iscsi_auth_grp *ag;

	iscsi_lock();
	ag = iscsi_auth_grp_find(tag);
	if (ag == NULL) {
		iscsi_unlock();
		osp_seterr(err, errlen, "Auth group %d not found", tag);
		return -ENOENT;
	}
	TAILQ_REMOVE(&g_iscsi.auth_groups, ag, link);
	iscsi_unlock();
	ag_free(ag);
	return 0;
}

static bool
chap_str_ok(const char *s)
{
	return s != NULL && s[0] != '\0' && strlen(s) <= OSP_ISCSI_MAX_CHAP_NAME;
}

int
osp_iscsi_auth_grp_add_secret(int tag, const char *user, const char *secret, const char *muser,
			      const char *msecret, char *err, size_t errlen)
{
	struct iscsi_auth_grp *ag;
	struct iscsi_secret *s;

	if (!chap_str_ok(user) || !chap_str_ok(secret)) {
		osp_seterr(err, errlen, "user and secret must be 1 to %d characters",
			   OSP_ISCSI_MAX_CHAP_NAME);
		return -EINVAL;
	}
	if ((muser != NULL && muser[0] != '\0') != (msecret != NULL && msecret[0] != '\0')) {
		osp_seterr(err, errlen, "muser and msecret go together");
		return -EINVAL;
	}
	if (muser != NULL && muser[0] != '\0' && (!chap_str_ok(muser) || !chap_str_ok(msecret))) {
		osp_seterr(err, errlen, "muser and msecret must be 1 to %d characters",
			   OSP_ISCSI_MAX_CHAP_NAME);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return -ENOMEM;
	}
	snprintf(s->s.user, sizeof(s->s.user), "%s", user);
	snprintf(s->s.secret, sizeof(s->s.secret), "%s", secret);
	if (muser != NULL && muser[0] != '\0') {
		snprintf(s->s.muser, sizeof(s->s.muser), "%s", muser);
		snprintf(s->s.msecret, sizeof(s->s.msecret), "%s", msecret);
	}
	iscsi_lock();
	ag = iscsi_auth_grp_find(tag);
	if (ag == NULL) {
		iscsi_unlock();
		free(s);
		osp_seterr(err, errlen, "Auth group %d not found", tag);
		return -ENOENT;
	}
	if (secret_find(ag, user) != NULL) {
		iscsi_unlock();
		free(s);
		osp_seterr(err, errlen, "User %s already exists in auth group %d", user, tag);
		return -EEXIST;
	}
	TAILQ_INSERT_TAIL(&ag->secrets, s, link);
	ag->nsecrets++;
	iscsi_unlock();
	return 0;
}

int
osp_iscsi_auth_grp_remove_secret(int tag, const char *user, char *err, size_t errlen)
{
	struct iscsi_auth_grp *ag;
	struct iscsi_secret *s;

	iscsi_lock();
	ag = iscsi_auth_grp_find(tag);
	if (ag == NULL) {
		iscsi_unlock();
		osp_seterr(err, errlen, "Auth group %d not found", tag);
		return -ENOENT;
	}
	s = secret_find(ag, user != NULL ? user : "");
	if (s == NULL) {
		iscsi_unlock();
		osp_seterr(err, errlen, "User %s not found in auth group %d", user ? user : "", tag);
		return -ENOENT;
	}
	TAILQ_REMOVE(&ag->secrets, s, link);
	ag->nsecrets--;
	iscsi_unlock();
	memset(s, 0, sizeof(*s));
	free(s);
	return 0;
}

void
iscsi_auth_grp_delete_all(void)
{
	struct iscsi_auth_grp *ag;

	iscsi_lock();
	while ((ag = TAILQ_FIRST(&g_iscsi.auth_groups)) != NULL) {
		TAILQ_REMOVE(&g_iscsi.auth_groups, ag, link);
		ag_free(ag);
	}
	iscsi_unlock();
}

/* The CHAP flags of set_options, set_discovery_auth and target nodes. */
int
iscsi_chap_flags_check(bool disable_chap, bool require_chap, bool mutual_chap, char *err,
		       size_t errlen)
{
	if (disable_chap && require_chap) {
		osp_seterr(err, errlen, "disable_chap and require_chap cannot both be set");
		return -EINVAL;
	}
	if (mutual_chap && !require_chap) {
		osp_seterr(err, errlen, "mutual_chap needs require_chap (the initiator "
			   "authenticates the target only after it authenticated itself)");
		return -EINVAL;
	}
	return 0;
}

int
osp_iscsi_set_discovery_auth(bool disable_chap, bool require_chap, bool mutual_chap,
			     int32_t chap_group, char *err, size_t errlen)
{
	if (iscsi_chap_flags_check(disable_chap, require_chap, mutual_chap, err, errlen) != 0) {
		return -EINVAL;
	}
	if (chap_group < 0) {
		osp_seterr(err, errlen, "Invalid chap_group %d", chap_group);
		return -EINVAL;
	}
	g_iscsi_disc_disable_chap = disable_chap;
	g_iscsi_disc_require_chap = require_chap;
	g_iscsi_disc_mutual_chap = mutual_chap;
	g_iscsi_disc_chap_group = chap_group;
	g_iscsi.opts.disable_chap = disable_chap;
	g_iscsi.opts.require_chap = require_chap;
	g_iscsi.opts.mutual_chap = mutual_chap;
	g_iscsi.opts.chap_group = chap_group;
	return 0;
}

/* ---- secrets file ---- */

/* Next quoted or bare token of *p into out (outlen); false at end of line. */
static bool
next_token(char **p, char *out, size_t outlen)
{
	char *s = *p;
	size_t n = 0;

	while (*s == ' ' || *s == '\t') {
		s++;
	}
	if (*s == '\0' || *s == '\n' || *s == '#') {
		return false;
	}
	if (*s == '"') {
		s++;
		while (*s != '\0' && *s != '"') {
			if (n + 1 < outlen) {
				out[n++] = *s;
			}
			s++;
		}
		if (*s == '"') {
			s++;
		}
	} else {
		while (*s != '\0' && !isspace((unsigned char)*s)) {
			if (n + 1 < outlen) {
				out[n++] = *s;
			}
			s++;
		}
	}
	out[n] = '\0';
	*p = s;
	return true;
}

int
osp_iscsi_auth_load_file(const char *path, char *err, size_t errlen)
{
	char line[2048], key[64], user[256], secret[256], muser[256], msecret[256];
	FILE *f;
	char *p;
	int tag = 0, lineno = 0, rc = 0;

	f = fopen(path, "r");
	if (f == NULL) {
		rc = -errno;
		osp_seterr(err, errlen, "Cannot open the auth file %s: %s", path, strerror(errno));
		return rc;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		p = line;
		while (*p == ' ' || *p == '\t') {
			p++;
		}
		if (*p == '#' || *p == '\n' || *p == '\0') {
			continue;
		}
		if (*p == '[') {
			if (sscanf(p, "[AuthGroup%d]", &tag) != 1 || tag <= 0) {
				osp_seterr(err, errlen, "%s:%d: expected [AuthGroupN]", path, lineno);
				rc = -EINVAL;
				break;
			}
			rc = osp_iscsi_auth_grp_create(tag, err, errlen);
			if (rc == 0) {
				iscsi_lock();
				iscsi_auth_grp_find(tag)->from_file = true;
				iscsi_unlock();
			} else if (rc == -EEXIST) {
				rc = 0;
			}
			if (rc != 0) {
				break;
			}
			continue;
		}
		if (!next_token(&p, key, sizeof(key))) {
			continue;
		}
		if (strcasecmp(key, "Comment") == 0) {
			continue;
		}
		if (strcasecmp(key, "Auth") != 0 || tag == 0) {
			osp_seterr(err, errlen, "%s:%d: expected Auth \"user\" \"secret\" inside an "
				   "[AuthGroupN] section", path, lineno);
			rc = -EINVAL;
			break;
		}
		muser[0] = msecret[0] = '\0';
		if (!next_token(&p, user, sizeof(user)) || !next_token(&p, secret, sizeof(secret))) {
			osp_seterr(err, errlen, "%s:%d: Auth needs a user and a secret", path, lineno);
			rc = -EINVAL;
			break;
		}
		if (next_token(&p, muser, sizeof(muser)) &&
		    !next_token(&p, msecret, sizeof(msecret))) {
			osp_seterr(err, errlen, "%s:%d: a mutual user needs a mutual secret", path,
				   lineno);
			rc = -EINVAL;
			break;
		}
		rc = osp_iscsi_auth_grp_add_secret(tag, user, secret, muser, msecret, err, errlen);
		if (rc != 0) {
			break;
		}
		iscsi_lock();
		TAILQ_LAST(&iscsi_auth_grp_find(tag)->secrets, iscsi_secret_list)->from_file = true;
		iscsi_unlock();
	}
	memset(line, 0, sizeof(line));
	memset(secret, 0, sizeof(secret));
	memset(msecret, 0, sizeof(msecret));
	fclose(f);
	return rc;
}
