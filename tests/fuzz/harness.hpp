// The bodies of hactl's fuzz targets (scripts/fuzz.sh): each takes one input, runs the code under
// test and checks properties of what it returns, not only that it did not crash. Each returns what
// went wrong, empty when nothing did. The libFuzzer entry points (fuzz_main.cpp, clang builds
// with HACTL_FUZZ=ON) abort on a failure; tests/unit/fuzz_corpus_test.cpp replays every file of
// tests/fuzz/<target>/ through the same function in the normal build, so every corpus entry and
// every crash input committed there is a permanent test.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hactl::fuzz {

using Input = std::span<const std::uint8_t>;

// Byte 0 even: the rest is a datagram for WireCodec::open. Odd: byte 1 picks the sender, the
// rest is a body sealed under a valid header (so the body decoder is reached), then opened.
std::string datagram(Input input);
// The input is the text of a cluster file, loaded as the agent and the CLI load one.
std::string config(Input input);
// The input, up to its first newline, is a request line of the agent's control socket.
std::string control_request(Input input);

struct Target {
  std::string_view name;  // also the name of its corpus directory, tests/fuzz/<name>/
  std::string (*run)(Input);
};
inline constexpr std::array<Target, 3> kTargets = {Target{"datagram", &datagram},
                                                   Target{"config", &config},
                                                   Target{"control_request", &control_request}};

// Datagrams the codec seals now, one per message kind, each prefixed with the byte that makes
// `datagram` open it as is: the seed corpus (tests/fuzz/write_seeds.cpp).
std::vector<std::vector<std::uint8_t>> datagram_seeds();

}  // namespace hactl::fuzz
