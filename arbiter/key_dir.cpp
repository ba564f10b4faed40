// Reads the arbiter's key directory (see key_dir.hpp).
#include "arbiter/key_dir.hpp"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "common/names.hpp"

namespace hactl {

KeyDir load_key_dir(const std::string& dir, std::size_t max) {
  namespace fs = std::filesystem;
  KeyDir out;
  std::error_code ec;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".key") files.push_back(it->path());
  }
  if (ec) {
    out.readable = false;
    out.problems.push_back("cannot read key directory " + dir + ": " + ec.message());
    return out;
  }
  std::sort(files.begin(), files.end());  // the same keys kept, whatever the directory's order
  for (const auto& path : files) {
    const std::string cluster = path.stem().string();
    if (auto problem = path_component_problem(cluster)) {
      out.problems.push_back("key file " + path.string() + ": the cluster name " + *problem);
      continue;
    }
    if (out.keys.size() >= max) {
      out.problems.push_back("key file " + path.string() + " ignored: already " +
                             std::to_string(max) + " clusters, the most one arbiter serves");
      continue;
    }
    auto key = load_key_file(path.string());
    if (!key) {
      out.problems.push_back(key.error());
      continue;
    }
    out.keys.emplace(cluster, *key);
  }
  return out;
}

}  // namespace hactl
