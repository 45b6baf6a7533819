/* The per-container monitor process (`--monitor`); see monitor.c. */
#ifndef BR_MONITOR_H
#define BR_MONITOR_H

#include "container.h"

int br_monitor_create(const struct br_global *g, const struct br_create_opts *o, int *exit_code,
                      br_error_t *err);

#endif
