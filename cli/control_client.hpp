// The CLI's side of the control socket: one JSON request line out, one JSON line back.
#pragma once

#include <expected>
#include <nlohmann/json.hpp>
#include <string>

namespace hactl {

std::expected<nlohmann::json, std::string> control_request(const std::string& socket_path,
                                                           const nlohmann::json& request,
                                                           int timeout_ms = 5000);

}  // namespace hactl
