// DocWriter (agent/doc_writer.hpp): the cluster document is stored off the loop, in order, the
// newest of those waiting written once the one being written is done; a failed store is
// reported, not lost. And DocStore keeps the newest configuration versions by their names.
#include "agent/doc_writer.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "common/limits.hpp"

namespace hactl {
namespace {

StoredDoc version(std::uint64_t revision, std::uint64_t config_version) {
  ClusterDoc d;
  d.config_version = config_version;
  d.config_text = "text of " + std::to_string(config_version) + "\n";
  d.config_by = "test";
  return StoredDoc{DocVersion{Term{1}, revision}, doc_to_bytes(d)};
}

class DocWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    dir_ = std::filesystem::temp_directory_path() / ("hactl-docw-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    uv_run(&loop_, UV_RUN_DEFAULT);  // the closes
    EXPECT_EQ(uv_loop_close(&loop_), 0);
    std::filesystem::remove_all(dir_);
  }
  // Runs the loop until `done` or 5 s (a bound, not a timing assumption).
  template <typename Pred>
  void run_until(Pred done) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < until) uv_run(&loop_, UV_RUN_NOWAIT);
  }
  uv_loop_t loop_{};
  std::filesystem::path dir_;
};

TEST_F(DocWriterTest, StoresOffTheLoopInOrderKeepingOnlyTheNewestWaiting) {
  const DocStore store(dir_.string(), "n1");
  const auto loop_thread = std::this_thread::get_id();
  std::vector<DocVersion> done;
  DocWriter writer(&loop_, store, [&](DocVersion v, const std::expected<void, std::string>& r) {
    EXPECT_TRUE(r.has_value()) << r.error();
    EXPECT_EQ(std::this_thread::get_id(), loop_thread);
    done.push_back(v);
  });
  writer.write(version(1, 1));
  writer.write(version(2, 2));  // waits; then replaced by the next
  writer.write(version(3, 3));
  EXPECT_TRUE(writer.busy());
  EXPECT_TRUE(done.empty());  // nothing is written on the loop
  run_until([&] { return !writer.busy(); });
  EXPECT_EQ(done, (std::vector<DocVersion>{DocVersion{Term{1}, 1}, DocVersion{Term{1}, 3}}));
  const auto loaded = store.load();
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_EQ(**loaded, version(3, 3));
  std::vector<std::uint64_t> kept;
  for (const auto& h : store.history()) kept.push_back(h.version);
  EXPECT_EQ(kept, (std::vector<std::uint64_t>{3, 1}));
  writer.close();
}

TEST_F(DocWriterTest, AFailedStoreIsReported) {
  const DocStore store((dir_ / "missing").string(), "n1");
  std::optional<std::expected<void, std::string>> result;
  DocWriter writer(&loop_, store,
                   [&](DocVersion, const std::expected<void, std::string>& r) { result = r; });
  writer.write(version(1, 1));
  run_until([&] { return result.has_value(); });
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->has_value());
  writer.close();
}

TEST_F(DocWriterTest, TheStoreKeepsTheNewestConfigurationVersions) {
  const DocStore store(dir_.string(), "n1");
  const std::size_t n = limits::kConfigHistory + 3;
  for (std::uint64_t v = 1; v <= n; ++v) {
    const StoredDoc d = version(v, v);
    ASSERT_TRUE(store.save(d, *doc_from_bytes(d.bytes)));
  }
  const auto kept = store.history();
  ASSERT_EQ(kept.size(), limits::kConfigHistory);
  EXPECT_EQ(kept.front().version, n);
  EXPECT_EQ(kept.back().version, n - limits::kConfigHistory + 1);
  EXPECT_EQ(kept.front().text, "text of " + std::to_string(n) + "\n");
}

}  // namespace
}  // namespace hactl
