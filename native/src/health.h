/* Health checks run by the monitor, so they go on when the process that started the
 * container has exited; see health.c. Every function accepts NULL (no health check) and
 * then does nothing. */
#ifndef BR_HEALTH_H
#define BR_HEALTH_H

#include <stdbool.h>
#include <sys/types.h>

#include "container.h"

struct br_health;

/* Reads `<bundle>/berth-health.json` (written by the engine) and records the "starting"
 * state. NULL when the file is absent or unreadable (logged: a broken check must not stop
 * the container). */
struct br_health *br_health_load(struct br_container *c);

/* The probe's output pipe to poll, or -1. */
int br_health_fd(const struct br_health *h);

/* Milliseconds until br_health_step() has work (the next probe, or a probe's deadline);
 * -1 when it has none. */
int br_health_timeout(const struct br_health *h);

/* Reads the probe's output, starts a due probe, ends one past its timeout. */
void br_health_step(struct br_health *h);

/* Offers a child the monitor reaped; true when it was one of the probe's processes. */
bool br_health_reaped(struct br_health *h, pid_t pid, int status);

/* The container has exited: ends a running probe, records "unhealthy" as Docker does once
 * its health monitor stops, and frees `h`. */
void br_health_finish(struct br_health *h);

#endif
