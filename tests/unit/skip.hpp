// The unit tests' one skip path, as the netns tests' exit 77: a test that cannot run here says
// why and is skipped (ctest lists it as not run: SKIP_REGULAR_EXPRESSION in tests/CMakeLists.txt),
// and fails instead under HACTL_NO_SKIP (CI), where everything must run.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>

#define HACTL_SKIP(why)                                                           \
  do {                                                                            \
    if (std::getenv("HACTL_NO_SKIP") != nullptr) FAIL() << "cannot run: " << why; \
    GTEST_SKIP() << why;                                                          \
  } while (false)
