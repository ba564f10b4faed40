// hactl: the operator's command line. A thin client of the agent's control socket; it holds
// no cluster logic. Every verb has --help; read verbs have --json.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <optional>

#include "cli/control_client.hpp"
#include "cli/status_render.hpp"
#include "common/config.hpp"
#include "common/wire.hpp"
#include "version.hpp"

namespace {

// Sends one request; on failure prints why and sets `exit_code` (2: no agent, 1: refused).
std::optional<nlohmann::json> ask(const std::string& socket, const nlohmann::json& request,
                                  int& exit_code) {
  auto reply = hactl::control_request(socket, request);
  if (!reply) {
    std::cerr << "hactl: " << reply.error() << "\n";
    exit_code = 2;
    return std::nullopt;
  }
  if (reply->contains("error")) {
    std::cerr << "hactl: " << (*reply)["error"].get<std::string>() << "\n";
    exit_code = 1;
    return std::nullopt;
  }
  return *reply;
}

int cmd_status(const std::string& socket, bool json) {
  int code = 0;
  const auto reply = ask(socket, {{"cmd", "status"}}, code);
  if (!reply) return code;
  std::cout << (json ? reply->dump(2) + "\n" : hactl::render_status(*reply));
  return 0;
}

int cmd_keygen(const std::string& path) {
  if (auto r = hactl::write_new_key_file(path); !r) {
    std::cerr << "hactl: " << r.error() << "\n";
    return 1;
  }
  std::cout << "wrote a new cluster key to " << path << " (mode 0600)\n"
            << "copy it to the same path on every node, keeping mode 0600 and owner root\n";
  return 0;
}

int cmd_validate(const std::string& path) {
  auto loaded = hactl::load_config_file(path);
  if (!loaded) {
    for (const auto& e : loaded.error()) std::cerr << e.to_string() << "\n";
    return 1;
  }
  const auto& c = loaded->config;
  std::size_t witnesses = 0;
  for (const auto& n : c.nodes) witnesses += n.witness ? 1 : 0;
  std::cout << path << ": valid (cluster " << c.name << ", " << c.nodes.size() << " nodes";
  if (witnesses != 0) std::cout << " including " << witnesses << " witness";
  std::cout << ", heartbeat " << hactl::format_duration(c.timing.heartbeat_interval)
            << ", node timeout " << hactl::format_duration(c.timing.node_timeout) << ")\n";
  for (const auto& w : loaded->warnings)
    std::cout << "warning: " << w.path << ": " << w.message << "\n";
  return 0;
}

int cmd_cleanup(const std::string& socket, const std::string& resource) {
  int code = 0;
  if (!ask(socket, {{"cmd", "cleanup"}, {"resource", resource}}, code)) return code;
  std::cout << "cleanup of " << resource
            << " sent to every node: failures forgotten, its state probed again\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hactl: operate an hactl cluster through the local agent"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("hactl ") + hactl::kVersion);
  std::string socket = std::getenv("HACTL_SOCKET") != nullptr ? std::getenv("HACTL_SOCKET")
                                                              : "/run/hactl/hactl.sock";
  app.add_option("-s,--socket", socket, "the agent's control socket ($HACTL_SOCKET)")
      ->capture_default_str();

  bool json = false;
  auto* status = app.add_subcommand("status", "show the cluster as this node sees it");
  status->add_flag("--json", json, "print one JSON object (schema in docs/status.md)");

  std::string key_path;
  auto* keygen = app.add_subcommand("keygen", "write a new cluster key file (mode 0600)");
  keygen->add_option("PATH", key_path, "where to write it; never overwritten")->required();

  std::string config_path;
  auto* config = app.add_subcommand("config", "work with configuration files");
  config->require_subcommand(1);
  auto* validate =
      config->add_subcommand("validate", "check a configuration file, no cluster needed");
  validate->add_option("FILE", config_path, "the YAML file")->required();

  std::string resource_id;
  auto* resource = app.add_subcommand("resource", "act on resources");
  resource->require_subcommand(1);
  auto* cleanup = resource->add_subcommand(
      "cleanup", "forget a resource's failures on every node and probe it again");
  cleanup->add_option("RESOURCE", resource_id, "a primitive's id")->required();

  CLI11_PARSE(app, argc, argv);
  if (cleanup->parsed()) return cmd_cleanup(socket, resource_id);
  if (status->parsed()) return cmd_status(socket, json);
  if (keygen->parsed()) return cmd_keygen(key_path);
  if (validate->parsed()) return cmd_validate(config_path);
  return 2;
}
