// Renders the agent's status JSON as the screen an operator reads at a glance. Pure (JSON in,
// text out) so it is golden-tested.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace hactl {

std::string render_status(const nlohmann::json& status);
// "20ms", "2.1s", "3m10s": how long ago, compactly.
std::string format_age_ms(std::int64_t ms);
// "2026-11-26 15:04:05Z".
std::string format_unix_time(std::int64_t unix_seconds);

}  // namespace hactl
