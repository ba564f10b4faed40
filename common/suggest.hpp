// "Did you mean ...?": the known name closest to a mistyped one, by edit distance.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hactl {

// Levenshtein distance, with a swap of two adjacent characters counting as one edit.
std::size_t edit_distance(std::string_view a, std::string_view b);
// The closest of `known` to `typed` if it is close enough to be a typo (at most 2 edits, and at
// most half of the typed name), else nullopt. Ties: the first in `known`.
std::optional<std::string> closest_name(std::string_view typed,
                                        const std::vector<std::string>& known);
// "no node is called 'nd2'; did you mean 'n2'?" or "...; known: a, b, c".
std::string unknown_name_message(std::string_view what, std::string_view typed,
                                 const std::vector<std::string>& known);

}  // namespace hactl
