// The arbiter's keys: one file per cluster, <keys-dir>/<cluster>.key, in the cluster key file
// format (common/wire.hpp) and holding the cluster's *arbiter* key (`hactl arbiter key` derives
// it on a node; common/arbiter_wire.hpp). A file group or others can read is refused, as the
// agent refuses its own key. Reading blocks: the daemon reads the directory on a worker thread.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/wire.hpp"

namespace hactl {

struct KeyDir {
  std::map<std::string, ClusterKey> keys;  // by cluster name (the file's name without .key)
  std::vector<std::string> problems;       // one sentence per file refused, for the log
  bool readable = true;                    // false: the directory itself could not be read
};

// At most `max` keys; a name that is not a safe path component (A-Z a-z 0-9 _ . -) is refused.
KeyDir load_key_dir(const std::string& dir, std::size_t max);

}  // namespace hactl
