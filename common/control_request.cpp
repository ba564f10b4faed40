#include "common/control_request.hpp"

#include "common/assert.hpp"

namespace hactl {

const ControlVerbInfo& verb_info(ControlVerb v) {
  const auto i = static_cast<std::size_t>(v);
  HACTL_ASSERT(i < kControlVerbs.size() && kControlVerbs[i].verb == v);
  return kControlVerbs[i];
}

std::optional<ControlVerb> control_verb(std::string_view cmd) {
  for (const auto& info : kControlVerbs) {
    if (info.wire == cmd) return info.verb;
  }
  return std::nullopt;
}

nlohmann::json control_body(ControlVerb v) { return {{"cmd", std::string(wire_name(v))}}; }

std::optional<ControlAccess> control_access(std::string_view cmd) {
  const auto v = control_verb(cmd);
  if (!v) return std::nullopt;
  return verb_info(*v).access;
}

std::expected<ControlRequest, std::string> parse_control_request(std::string_view line) {
  ControlRequest r;
  r.body = nlohmann::json::parse(line, nullptr, false);
  if (r.body.is_discarded() || !r.body.is_object()) {
    return std::unexpected("malformed request: expected one JSON object per line");
  }
  try {
    r.cmd = r.body.value("cmd", std::string());
  } catch (const nlohmann::json::exception& e) {  // {"cmd": 1}
    return std::unexpected(std::string("malformed request: ") + e.what());
  }
  const auto verb = control_verb(r.cmd);
  if (!verb) return std::unexpected("unknown command '" + r.cmd + "'");
  r.verb = *verb;
  r.access = verb_info(*verb).access;
  return r;
}

}  // namespace hactl
