// Writes the datagram seeds (harness.hpp, datagram_seeds) into a directory, as sealed-NN:
//   hactl_fuzz_seeds tests/fuzz/datagram
// Run it after a change of the wire format, so the corpus starts from datagrams the codec seals.
#include <cstdio>
#include <fstream>
#include <string>

#include "tests/fuzz/harness.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const auto seeds = hactl::fuzz::datagram_seeds();
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "sealed-%02zu", i);
    std::ofstream out(std::string(argv[1]) + "/" + name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(seeds[i].data()),
              static_cast<std::streamsize>(seeds[i].size()));
    if (!out) {
      std::fprintf(stderr, "cannot write %s/%s\n", argv[1], name);
      return 1;
    }
  }
  std::printf("%zu seeds written to %s\n", seeds.size(), argv[1]);
  return 0;
}
