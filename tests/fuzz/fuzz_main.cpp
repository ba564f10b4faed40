// The libFuzzer entry point of one target; HACTL_FUZZ_TARGET names its harness function
// (tests/fuzz/CMakeLists.txt builds one executable per target).
#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string failure = hactl::fuzz::HACTL_FUZZ_TARGET(hactl::fuzz::Input(data, size));
  if (!failure.empty()) {
    std::fprintf(stderr, "hactl fuzz: property failed: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
