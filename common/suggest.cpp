#include "common/suggest.hpp"

#include <algorithm>

namespace hactl {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment distance, three rows.
  std::vector<std::size_t> prev2(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
      }
    }
    prev2.swap(prev);
    prev.swap(cur);
  }
  return prev[b.size()];
}

std::optional<std::string> closest_name(std::string_view typed,
                                        const std::vector<std::string>& known) {
  std::optional<std::string> best;
  std::size_t best_d = 0;
  for (const auto& k : known) {
    // The distance is at least the difference in length: most names need no table.
    const std::size_t gap =
        typed.size() > k.size() ? typed.size() - k.size() : k.size() - typed.size();
    if (gap > 2) continue;
    const std::size_t d = edit_distance(typed, k);
    if (d == 0) return k;
    if (d > 2 || 2 * d > std::max<std::size_t>(typed.size(), 2)) continue;
    if (!best || d < best_d) {
      best = k;
      best_d = d;
    }
  }
  return best;
}

std::string unknown_name_message(std::string_view what, std::string_view typed,
                                 const std::vector<std::string>& known) {
  std::string m = "no " + std::string(what) + " is called '" + std::string(typed) + "'";
  if (const auto c = closest_name(typed, known)) return m + "; did you mean '" + *c + "'?";
  if (known.empty()) return m;
  m += "; known: ";
  for (std::size_t i = 0; i < known.size() && i < 20; ++i) m += (i ? ", " : "") + known[i];
  if (known.size() > 20) m += ", ...";
  return m;
}

}  // namespace hactl
