#include "cli/crm_compat/run.hpp"

#include "cli/crm_compat/crm_exit.hpp"

namespace hactl::crm {

Output run(Program program, std::span<const std::string> args, const Env& env, const Ask& ask) {
  const std::string who = std::string(program_name(program)) + ": ";
  auto command = parse_command(program, args, env);
  if (!command) {
    const Refusal& r = command.error();
    if (r.exit_code == kExitOk) return {r.message + "\n", "", kExitOk};  // --help
    return {"", who + r.message + "\n", r.exit_code};
  }
  const auto request = request_for(*command);
  if (!request) return render(*command, nlohmann::json::object());
  auto reply = ask(request->body, request->timeout_ms);
  if (!reply) {
    // Xen and VirtualDomain look for "not connected" in the output to tell a cluster that is
    // down from a missing value.
    return {"", who + "not connected to the hactl agent: " + reply.error() + "\n",
            kExitUnavailable};
  }
  if (!reply->is_object())
    return {"", who + "ERROR: the agent's reply is not an object\n", kExitError};
  if (const auto e = reply->find("error"); e != reply->end()) {
    const std::string why = e->is_string() ? e->get<std::string>() : e->dump();
    return {"", who + "ERROR: " + why + "\n", kExitError};
  }
  return render(*command, *reply);
}

Output run_as(std::string_view argv0, std::span<const std::string> args, const Env& env,
              const Ask& ask) {
  const auto slash = argv0.rfind('/');
  const std::string_view base = slash == std::string_view::npos ? argv0 : argv0.substr(slash + 1);
  const auto program = program_named(base);
  if (!program) {
    return {"",
            "hactl-crm: run it as crm_attribute, crm_master, attrd_updater, crm_node, crm_mon, "
            "cibadmin, crm_resource or pacemakerd (a link named so), not as '" +
                std::string(base.substr(0, 64)) + "'\n",
            kExitUsage};
  }
  return run(*program, args, env, ask);
}

}  // namespace hactl::crm
