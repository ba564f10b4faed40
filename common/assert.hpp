// Assertions that stay on in release builds (TigerBeetle's habit): a broken invariant in a
// failover manager must stop the process loudly, never run on in an unknown state.
#pragma once

#include <cstdio>
#include <cstdlib>

#define HACTL_ASSERT(cond)                                                                       \
  do {                                                                                           \
    if (!(cond)) [[unlikely]] {                                                                  \
      std::fprintf(stderr, "hactl: assertion failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                              \
    }                                                                                            \
  } while (false)
