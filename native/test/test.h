/* A few assertions for the native unit tests: each test program prints one line per check
 * and exits non-zero when any failed, so `make test` stops on the first failing program. */
#ifndef BR_TEST_H
#define BR_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int br_test_failures;
static int br_test_passes;

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (cond) {                                                                                    \
      br_test_passes++;                                                                            \
    } else {                                                                                       \
      br_test_failures++;                                                                          \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                              \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
    }                                                                                              \
  } while (0)

#define CHECK_OK(ret, err)                                                                         \
  CHECK((ret) >= 0, "%s", (err) && (err)->msg ? (err)->msg : "(no message)")

#define RUN(fn)                                                                                    \
  do {                                                                                             \
    int before_ = br_test_failures;                                                                \
    fn();                                                                                          \
    printf("%s %s\n", br_test_failures == before_ ? "ok  " : "FAIL", #fn);                         \
    fflush(stdout);                                                                                \
  } while (0)

#define TEST_EXIT()                                                                                \
  do {                                                                                             \
    printf("%d checks passed, %d failed\n", br_test_passes, br_test_failures);                     \
    return br_test_failures ? 1 : 0;                                                               \
  } while (0)

#endif
