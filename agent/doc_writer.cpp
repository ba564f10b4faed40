#include "agent/doc_writer.hpp"

#include <chrono>
#include <string>
#include <utility>

#include "common/assert.hpp"

namespace hactl {

DocWriter::DocWriter(uv_loop_t* loop, const DocStore& store, Done done)
    : store_(store), done_(std::move(done)), worker_(loop, 2, kDeadline) {}

void DocWriter::write(StoredDoc doc) {
  if (writing_) {
    HACTL_ASSERT(!next_ || next_->version <= doc.version);
    next_ = std::move(doc);  // replaces an older one still waiting
    return;
  }
  start(std::move(doc));
}

void DocWriter::start(StoredDoc doc) {
  HACTL_ASSERT(!writing_);
  writing_ = true;
  const DocVersion version = doc.version;
  auto in = std::make_shared<const StoredDoc>(std::move(doc));
  auto result = std::make_shared<std::expected<void, std::string>>();
  const DocStore& store = store_;
  const bool queued = worker_.submit(
      // Parsed here too: the history file keeps the configuration's version and text.
      [in, result, &store] {
        const auto parsed = doc_from_bytes(in->bytes);
        *result = store.save(*in, parsed ? *parsed : ClusterDoc{});
      },
      [this, version, result] { finished(version, *result); },
      [this, version] {
        const auto s = std::chrono::duration_cast<std::chrono::seconds>(kDeadline).count();
        finished(version, std::unexpected("not stored within " + std::to_string(s) + " s"));
      });
  // One job at a time; the worker takes two, as its `done` (which starts the next) runs before
  // the finished job leaves its count.
  HACTL_ASSERT(queued);
}

void DocWriter::finished(DocVersion version, const std::expected<void, std::string>& result) {
  writing_ = false;
  if (result && next_) start(*std::exchange(next_, std::nullopt));
  done_(version, result);
}

void DocWriter::close() {
  next_.reset();
  worker_.close();
}

}  // namespace hactl
