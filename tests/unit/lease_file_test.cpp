// The lease file (agent/lease_file.hpp): written digit by digit through a mapping, so an agent
// killed mid-write leaves a mix of the old and new digits. Whatever mix it leaves must read as
// no later than the larger of the two values: a later one would make the restarted agent keep
// what it finds for longer than the coordinator counts on.
#include "agent/lease_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

namespace hactl {
namespace {

Instant at(long long us) { return Instant{Duration{us}}; }

// Every write cut short after k of its byte stores, k = 0..all, read back.
void expect_every_cut_safe(std::optional<Instant> old, Instant next) {
  const std::string before = old ? lease_text(*old) : std::string(LeaseFile::kDigits + 1, '\0');
  const std::string after = lease_text(next);
  const Instant bound = old ? std::max(*old, next) : next;
  const auto order = lease_store_order(old, next);
  ASSERT_EQ(order.size(), after.size());
  std::string file = before;
  for (std::size_t k = 0; k <= order.size(); ++k) {
    if (k > 0) file[order[k - 1]] = after[order[k - 1]];
    const auto read = parse_lease_text(file);
    if (read) {
      EXPECT_LE(*read, bound) << "old " << before << " next " << after << " cut after " << k;
    }
  }
  EXPECT_EQ(parse_lease_text(file), next);
}

TEST(LeaseFile, EveryCutShortWriteReadsNoLaterThanTheLargerValue) {
  // Carries (every digit changes), equal lengths, shrinking, a first write over nothing.
  expect_every_cut_safe(at(1999), at(2000));
  expect_every_cut_safe(at(3500), at(2999));
  expect_every_cut_safe(at(99'999'999), at(100'000'000));
  expect_every_cut_safe(at(100'000'000), at(99'999'999));
  expect_every_cut_safe(std::nullopt, at(123'456'789));
  std::mt19937_64 rng(20261206);  // fixed seed: replayable
  std::uniform_int_distribution<long long> value(1, 4'000'000'000'000LL);
  std::uniform_int_distribution<long long> step(-400'000, 400'000);
  for (int i = 0; i < 2000; ++i) {
    const long long old = value(rng);
    expect_every_cut_safe(at(old), at(std::max(1LL, old + step(rng))));
    expect_every_cut_safe(at(old), at(value(rng)));
  }
}

// The order matters: most significant digit first, a growing value with a carry reads as far
// later than either while cut short (1999 -> 2000 cut after one digit: 2999).
TEST(LeaseFile, AGrowingValueWrittenHighDigitsFirstWouldReadLater) {
  std::string file = lease_text(at(1999));
  file[LeaseFile::kDigits - 4] = '2';
  EXPECT_EQ(parse_lease_text(file), at(2999));
  const auto order = lease_store_order(at(1999), at(2000));
  EXPECT_EQ(order.front(), LeaseFile::kDigits);  // the newline, then the lowest digit
}

TEST(LeaseFile, WhatOneAgentWritesTheNextReads) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("hactl-lease-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "lease").string();
  {
    LeaseFile f;
    ASSERT_EQ(f.open(path), std::nullopt);
    EXPECT_EQ(f.previous(), std::nullopt);  // a new file
    f.write(at(5'000'000));
    f.write(at(5'100'000));
  }
  {
    LeaseFile f;
    ASSERT_EQ(f.open(path), std::nullopt);
    EXPECT_EQ(f.previous(), at(5'100'000));
    f.write(at(4'000'000));  // a shorter lease after a restart: smaller, written as well
  }
  {
    std::ifstream in(path);
    std::string text;
    std::getline(in, text);
    EXPECT_EQ(text, "00000000000004000000");
  }
  std::ofstream(path) << "garbage\n";
  {
    LeaseFile f;
    ASSERT_EQ(f.open(path), std::nullopt);
    EXPECT_EQ(f.previous(), std::nullopt);
  }
  LeaseFile bad;
  EXPECT_NE(bad.open((dir / "missing" / "lease").string()), std::nullopt);
  bad.write(at(1));  // not open: nothing happens
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hactl
