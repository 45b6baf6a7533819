#ifndef BERTH_ROOTLESS_H
#define BERTH_ROOTLESS_H

#include "container.h"
#include "error.h"

/* Mounts the overlay described by the `org.berth.overlay` annotation on the rootfs, from
 * inside the container's user and mount namespaces. Does nothing without the annotation. */
int br_rootless_mount_overlay(struct br_container *c, br_error_t *err);

#endif
