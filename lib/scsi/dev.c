/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SCSI devices, LUNs and ports (owner thread): creation, LUN add/remove,
 * the bdev's hot remove and resize events, destruction.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "scsi_internal.h"

int
osp_scsi_dev_create(const char *name, struct osp_scsi_dev **devp)
{
	struct osp_scsi_dev *dev;
	size_t len;

	if (name == NULL || devp == NULL) {
		return -EINVAL;
	}
	len = strlen(name);
	if (len == 0 || len > OSP_SCSI_DEV_MAX_NAME || osp_get_thread() == NULL) {
		return -EINVAL;
	}
	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		return -ENOMEM;
	}
	memcpy(dev->name, name, len + 1);
	dev->owner = osp_get_thread();
	TAILQ_INIT(&dev->itns);
	*devp = dev;
	return 0;
}

const char *
osp_scsi_dev_get_name(const struct osp_scsi_dev *dev)
{
	return dev->name;
}

/* ---- LUNs ---- */

static void scsi_lun_start_remove(struct osp_scsi_lun *lun);

static void
scsi_lun_resized(struct osp_scsi_dev *dev, void *arg)
{
	(void)dev;
	(void)arg;
}

static void
scsi_lun_event_cb(enum osp_bdev_event_type type, struct osp_bdev *bdev, void *ctx)
{
	struct osp_scsi_lun *lun = ctx;

	switch (type) {
	case OSP_BDEV_EVENT_REMOVE:
		OSP_NOTICELOG("scsi %s: bdev %s of LUN %d removed\n", lun->dev->name,
			      lun->bdev_name, lun->id);
		if (!lun->removing) {
			lun->hot_removed = true;
			scsi_lun_start_remove(lun);
		}
		break;
	case OSP_BDEV_EVENT_RESIZE:
		__atomic_store_n(&lun->num_blocks, osp_bdev_get_num_blocks(bdev), __ATOMIC_RELAXED);
		if (!lun->removing) {
			scsi_dev_broadcast(lun->dev, scsi_itn_lun_resize, lun, scsi_lun_resized);
		}
		break;
	}
}

static void
scsi_lun_added(struct osp_scsi_dev *dev, void *arg)
{
	(void)dev;
	(void)arg;
}

int
osp_scsi_dev_add_lun(struct osp_scsi_dev *dev, const char *bdev_name, int lun_id,
		     int *lun_id_out)
{
	struct osp_scsi_lun *lun;
	int rc, i;

	if (dev == NULL || bdev_name == NULL || dev->destroying) {
		return -EINVAL;
	}
	if (lun_id == -1) {
		for (i = 0; i < OSP_SCSI_DEV_MAX_LUN && dev->luns[i] != NULL; i++) {
		}
		if (i == OSP_SCSI_DEV_MAX_LUN) {
			return -ENOSPC;
		}
		lun_id = i;
	} else if (lun_id < 0 || lun_id >= OSP_SCSI_DEV_MAX_LUN) {
		return -EINVAL;
	}
	if (dev->luns[lun_id] != NULL) {
		return -EEXIST;
	}
	lun = calloc(1, sizeof(*lun));
	if (lun == NULL) {
		return -ENOMEM;
	}
	lun->bdev_name = strdup(bdev_name);
	if (lun->bdev_name == NULL) {
		free(lun);
		return -ENOMEM;
	}
	lun->dev = dev;
	lun->id = lun_id;
	rc = osp_bdev_open_ext(bdev_name, true, scsi_lun_event_cb, lun, &lun->desc);
	if (rc != 0) {
		free(lun->bdev_name);
		free(lun);
		return rc;
	}
	lun->bdev = osp_bdev_desc_get_bdev(lun->desc);
	lun->block_size = osp_bdev_get_block_size(lun->bdev);
	lun->num_blocks = osp_bdev_get_num_blocks(lun->bdev);
	lun->pr.holder = -1;
	scsi_mode_init_defaults(&lun->mode, lun->bdev);
	dev->luns[lun_id] = lun;
	if (lun_id_out != NULL) {
		*lun_id_out = lun_id;
	}
	scsi_dev_broadcast(dev, scsi_itn_lun_add, lun, scsi_lun_added);
	return 0;
}

static void
scsi_lun_free(struct osp_scsi_lun *lun)
{
	osp_bdev_close(lun->desc);
	free(lun->bdev_name);
	free(lun);
}

static void scsi_dev_destroy_step(struct osp_scsi_dev *dev);

static void
scsi_lun_removed(struct osp_scsi_dev *dev, void *arg)
{
	struct osp_scsi_lun *lun = arg;
	void (*cb)(void *cb_arg, int rc) = lun->remove_cb;
	void *cb_arg = lun->remove_cb_arg;

	dev->luns[lun->id] = NULL;
	scsi_lun_free(lun);
	if (cb != NULL) {
		cb(cb_arg, 0);
	}
	if (dev->destroying) {
		dev->destroy_pending--;
		scsi_dev_destroy_step(dev);
	}
}

static void
scsi_lun_start_remove(struct osp_scsi_lun *lun)
{
	lun->removing = true;
	scsi_dev_broadcast(lun->dev, scsi_itn_lun_remove, lun, scsi_lun_removed);
}

int
osp_scsi_dev_remove_lun(struct osp_scsi_dev *dev, int lun_id,
			void (*cb)(void *cb_arg, int rc), void *cb_arg)
{
	struct osp_scsi_lun *lun;

	if (dev == NULL || lun_id < 0 || lun_id >= OSP_SCSI_DEV_MAX_LUN) {
		return -ENOENT;
	}
	lun = dev->luns[lun_id];
	if (lun == NULL) {
		return -ENOENT;
	}
	if (lun->removing && lun->remove_cb != NULL) {
		return -EBUSY;
	}
	lun->remove_cb = cb;
	lun->remove_cb_arg = cb_arg;
	if (!lun->removing) {
		scsi_lun_start_remove(lun);
	}
	return 0;
}

struct osp_scsi_lun *
osp_scsi_dev_get_lun(struct osp_scsi_dev *dev, int lun_id)
{
	if (dev == NULL || lun_id < 0 || lun_id >= OSP_SCSI_DEV_MAX_LUN) {
		return NULL;
	}
	return dev->luns[lun_id];
}

struct osp_scsi_lun *
osp_scsi_dev_first_lun(struct osp_scsi_dev *dev)
{
	return osp_scsi_dev_next_lun(dev, NULL);
}

struct osp_scsi_lun *
osp_scsi_dev_next_lun(struct osp_scsi_dev *dev, struct osp_scsi_lun *prev)
{
	int i = prev == NULL ? 0 : prev->id + 1;

	for (; i < OSP_SCSI_DEV_MAX_LUN; i++) {
		if (dev->luns[i] != NULL) {
			return dev->luns[i];
		}
	}
	return NULL;
}

int
osp_scsi_lun_get_id(const struct osp_scsi_lun *lun)
{
	return lun->id;
}

const char *
osp_scsi_lun_get_bdev_name(const struct osp_scsi_lun *lun)
{
	return lun->bdev_name;
}

/* ---- ports ---- */

int
osp_scsi_dev_add_port(struct osp_scsi_dev *dev, uint16_t rel_port_id, const char *name)
{
	struct osp_scsi_port *port;
	size_t len;

	if (dev == NULL || name == NULL || rel_port_id == 0) {
		return -EINVAL;
	}
	len = strlen(name);
	if (len == 0 || len > OSP_SCSI_PORT_MAX_NAME) {
		return -EINVAL;
	}
	if (osp_scsi_dev_find_port(dev, rel_port_id) != NULL) {
		return -EEXIST;
	}
	if (dev->nports == OSP_SCSI_DEV_MAX_PORTS) {
		return -ENOSPC;
	}
	port = &dev->ports[dev->nports++];
	port->rel_port_id = rel_port_id;
	memcpy(port->name, name, len + 1);
	return 0;
}

struct osp_scsi_port *
osp_scsi_dev_find_port(struct osp_scsi_dev *dev, uint16_t rel_port_id)
{
	int i;

	for (i = 0; i < dev->nports; i++) {
		if (dev->ports[i].rel_port_id == rel_port_id) {
			return &dev->ports[i];
		}
	}
	return NULL;
}

struct osp_scsi_port *
osp_scsi_port_create(const char *name, uint16_t rel_port_id)
{
	struct osp_scsi_port *port;
	size_t len;

	if (name == NULL) {
		return NULL;
	}
	len = strlen(name);
	if (len == 0 || len > OSP_SCSI_PORT_MAX_NAME) {
		return NULL;
	}
	port = calloc(1, sizeof(*port));
	if (port == NULL) {
		return NULL;
	}
	port->rel_port_id = rel_port_id;
	memcpy(port->name, name, len + 1);
	return port;
}

void
osp_scsi_port_free(struct osp_scsi_port *port)
{
	free(port);
}

const char *
osp_scsi_port_get_name(const struct osp_scsi_port *port)
{
	return port->name;
}

/* ---- nexuses (owner side) ---- */

void
scsi_dev_itn_linked(struct osp_scsi_dev *dev, struct osp_scsi_itn *itn)
{
	TAILQ_INSERT_TAIL(&dev->itns, itn, link);
	dev->nitns++;
}

void
scsi_dev_itn_unlinked(struct osp_scsi_dev *dev)
{
	dev->nitns--;
}

/* ---- destruction ---- */

static void
scsi_dev_destroy_step(struct osp_scsi_dev *dev)
{
	void (*cb)(void *cb_arg) = dev->destroy_cb;
	void *cb_arg = dev->destroy_cb_arg;

	if (dev->destroy_pending != 0) {
		return;
	}
	free(dev);
	if (cb != NULL) {
		cb(cb_arg);
	}
}

int
osp_scsi_dev_destroy(struct osp_scsi_dev *dev, void (*cb)(void *cb_arg), void *cb_arg)
{
	struct osp_scsi_lun *lun;
	int i;

	if (dev == NULL) {
		return -EINVAL;
	}
	if (dev->nitns != 0) {
		return -EBUSY;
	}
	if (dev->destroying) {
		return -EALREADY;
	}
	dev->destroying = true;
	dev->destroy_cb = cb;
	dev->destroy_cb_arg = cb_arg;
	dev->destroy_pending = 1;
	for (i = 0; i < OSP_SCSI_DEV_MAX_LUN; i++) {
		lun = dev->luns[i];
		if (lun == NULL) {
			continue;
		}
		dev->destroy_pending++;
		if (!lun->removing) {
			scsi_lun_start_remove(lun);
		}
	}
	dev->destroy_pending--;
	scsi_dev_destroy_step(dev);
	return 0;
}

void
osp_scsi_dev_luns_json(struct osp_scsi_dev *dev, struct cJSON *array)
{
	struct osp_scsi_lun *lun;
	cJSON *o;

	for (lun = osp_scsi_dev_first_lun(dev); lun != NULL; lun = osp_scsi_dev_next_lun(dev, lun)) {
		o = cJSON_CreateObject();
		if (o == NULL) {
			return;
		}
		cJSON_AddNumberToObject(o, "id", lun->id);
		cJSON_AddStringToObject(o, "bdev_name", lun->bdev_name);
		cJSON_AddItemToArray(array, o);
	}
}
