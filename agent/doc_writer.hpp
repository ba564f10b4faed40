// Stores the cluster document off the event loop . DocStore::save writes and
// fsyncs the document and its configuration's history file: on the loop that stalled every
// heartbeat for as long as the disk took (a 1.1 MB configuration, and any change on a disk as
// slow as test_load.py makes it, 1 s per fsync).
//
// One thread of normal priority (a RequestWorker: results come back through an eventfd)
// writes the stores in the order given. While one is being written only the newest waiting
// one is kept: each store replaces the document as a whole, and the one written last is the
// newest. `done` runs on the loop with the version now on disk (the newest of those written
// together) or the error. The runtime holds every claim of a version (acknowledgements, votes)
// until it hears of it (NodeRuntime::on_doc_stored); heartbeats never wait for the disk.
#pragma once

#include <uv.h>

#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "agent/doc_store.hpp"
#include "agent/request_worker.hpp"

namespace hactl {

class DocWriter {
 public:
  using Done = std::function<void(DocVersion, const std::expected<void, std::string>&)>;
  // A store not done by then is reported as failed (the disk is gone, or hangs).
  static constexpr Duration kDeadline = std::chrono::minutes{5};

  DocWriter(uv_loop_t* loop, const DocStore& store, Done done);
  DocWriter(const DocWriter&) = delete;
  DocWriter& operator=(const DocWriter&) = delete;

  void write(StoredDoc doc);
  // A store is being written or waits.
  bool busy() const { return writing_ || next_.has_value(); }
  // Lets the store being written finish (its `done` is not called); drops a waiting one.
  void close();

 private:
  void start(StoredDoc doc);
  void finished(DocVersion version, const std::expected<void, std::string>& result);

  const DocStore& store_;
  Done done_;
  RequestWorker worker_;
  bool writing_ = false;
  std::optional<StoredDoc> next_;
};

}  // namespace hactl
