// Where an agent keeps the cluster document (coordinator/doc_replica.hpp) and the history of the
// configurations it has run: the document in one file replaced atomically (write, fsync,
// rename, fsync of the directory), so a crash mid-apply leaves the old or the new version,
// never a torn one; each configuration version in its own file, the newest
// limits::kConfigHistory kept.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "common/cluster_doc.hpp"
#include "coordinator/doc_replica.hpp"

namespace hactl {

struct ConfigVersionInfo {
  std::uint64_t version = 0;
  std::int64_t applied = 0;  // unix seconds
  std::string by;
  std::string text;
};

class DocStore {
 public:
  DocStore(std::string dir, const std::string& node_name);

  // Nullopt when none was stored yet; an error when the file is unreadable or corrupt.
  std::expected<std::optional<StoredDoc>, std::string> load() const;
  // Stores the document, and its configuration in the history if that version is new there.
  std::expected<void, std::string> save(const StoredDoc& doc, const ClusterDoc& parsed) const;
  // Newest first.
  std::vector<ConfigVersionInfo> history() const;
  std::optional<ConfigVersionInfo> config_version(std::uint64_t version) const;
  const std::string& path() const { return path_; }
  const std::string& history_dir() const { return history_dir_; }

 private:
  std::string dir_;
  std::string path_;
  std::string history_dir_;
};

}  // namespace hactl
