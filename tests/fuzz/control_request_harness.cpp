// The control-request parser: parse_control_request on a request line as the control server
// cuts it (up to the first newline). It never throws; what it accepts names a known verb with
// the access that verb needs, and a request dumped and parsed again is the same request.
#include "common/control_request.hpp"
#include "common/limits.hpp"
#include "tests/fuzz/harness.hpp"

namespace hactl::fuzz {
namespace {

std::string check_accepted(const ControlRequest& r) {
  const auto access = control_access(r.cmd);
  if (!access) return "an unknown verb accepted";
  if (*access != r.access) return "a verb with the wrong access";
  if (!r.body.is_object()) return "a request that is not an object accepted";
  const auto cmd = r.body.find("cmd");
  if (cmd == r.body.end() || !cmd->is_string() || cmd->get<std::string>() != r.cmd) {
    return "cmd is not the body's";
  }
  const auto again = parse_control_request(r.body.dump());
  if (!again) return "a request, dumped and parsed again, is refused: " + again.error();
  if (again->cmd != r.cmd || again->access != r.access || again->body != r.body) {
    return "a request, dumped and parsed again, differs";
  }
  return {};
}

}  // namespace

std::string control_request(Input input) {
  std::string_view line(reinterpret_cast<const char*>(input.data()), input.size());
  line = line.substr(0, line.find('\n'));
  if (line.size() > limits::kMaxAdminControlRequest) return {};  // refused before parsing
  try {
    const auto r = parse_control_request(line);
    if (!r) {
      if (!r.error().starts_with("malformed request") &&
          !r.error().starts_with("unknown command")) {
        return "a refusal that says neither malformed nor unknown: " + r.error();
      }
      return {};
    }
    return check_accepted(*r);
  } catch (const std::exception& e) {
    return std::string("threw: ") + e.what();
  }
}

}  // namespace hactl::fuzz
