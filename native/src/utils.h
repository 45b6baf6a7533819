/* Small helpers shared by every file: cleanup attributes instead of goto ladders. */
#ifndef BR_UTILS_H
#define BR_UTILS_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void br_cleanup_freep(void *p)
{
  free(*(void **)p);
}
static inline void br_cleanup_closep(int *fd)
{
  if (*fd >= 0)
    close(*fd);
}
static inline void br_cleanup_fclosep(FILE **f)
{
  if (*f)
    fclose(*f);
}
static inline void br_cleanup_closedirp(DIR **d)
{
  if (*d)
    closedir(*d);
}

#define cleanup_free __attribute__((cleanup(br_cleanup_freep)))
#define cleanup_close __attribute__((cleanup(br_cleanup_closep)))
#define cleanup_fclose __attribute__((cleanup(br_cleanup_fclosep)))
#define cleanup_dir __attribute__((cleanup(br_cleanup_closedirp)))

#endif
