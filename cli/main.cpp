// hactl: the operator's command line. A thin client of the agent's control socket; it holds
// no cluster logic (offline `simulate --state` runs the pure scheduler core, coordinator/). Every
// verb has --help; read verbs have --json. Exit codes: 0 done, 1 refused or failed (the reason on
// stderr), 2 no agent to ask or bad usage.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "cli/arbiter_cmd.hpp"
#include "cli/control_client.hpp"
#include "cli/import_keepalived.hpp"
#include "cli/init_cmd.hpp"
#include "cli/status_render.hpp"
#include "common/config.hpp"
#include "common/control_request.hpp"
#include "common/wire.hpp"
#include "coordinator/explain.hpp"
#include "coordinator/simulate.hpp"
#include "coordinator/state_file.hpp"
#include "resources/host_facts.hpp"
#include "version.hpp"

namespace {

using nlohmann::json;

// config-check and config-apply: the agent checks the file, then every node checks it on its
// host (up to 8 s), then weighs the answers: 10 s at most for each of its two steps.
constexpr int kCheckMs = 40000;

using V = hactl::ControlVerb;

// A request of a verb of the one list (common/control_request.hpp), with its operands.
json request(V verb, json operands = json::object()) {
  json body = hactl::control_body(verb);
  for (auto& [key, value] : operands.items()) body[key] = std::move(value);
  return body;
}

// Sends one request; on failure prints why and sets `exit_code` (2: no agent, 1: refused).
std::optional<json> ask(const std::string& socket, const json& request, int& exit_code,
                        int timeout_ms = 15000) {
  auto reply = hactl::control_request(socket, request, timeout_ms);
  if (!reply) {
    std::cerr << "hactl: " << reply.error() << "\n";
    exit_code = 2;
    return std::nullopt;
  }
  if (reply->contains("error")) {
    std::cerr << "hactl: " << (*reply)["error"].get<std::string>() << "\n";
    if (reply->contains("errors")) {
      for (const auto& e : (*reply)["errors"]) std::cerr << "  " << e.get<std::string>() << "\n";
    }
    exit_code = 1;
    return std::nullopt;
  }
  return *reply;
}

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::cerr << "hactl: cannot read " << path << "\n";
    return std::nullopt;
  }
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// --lifetime: nothing, the agent's default (an hour); "forever", until cleared (-1).
std::optional<std::int64_t> lifetime_seconds(const std::string& text) {
  if (text.empty()) return 0;
  if (text == "forever") return -1;
  const auto d = hactl::parse_duration(text);
  if (!d || d->count() <= 0) {
    std::cerr << "hactl: --lifetime: " << (d ? "must be positive" : d.error())
              << " (or forever: until hactl resource clear)\n";
    return std::nullopt;
  }
  return std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(*d).count());
}

int cmd_status(const std::string& socket, bool as_json, bool watch, double interval) {
  int code = 0;
  // --watch redraws in place until interrupted (bounded: a day of refreshes at most).
  const int rounds = watch ? static_cast<int>(86400 / std::max(interval, 0.2)) : 1;
  for (int i = 0; i < rounds; ++i) {
    const auto reply = ask(socket, request(V::kStatus), code);
    if (!reply) return code;
    if (watch) std::cout << "\x1b[H\x1b[2J";
    std::cout << (as_json ? reply->dump(2) + "\n" : hactl::render_status(*reply));
    std::cout.flush();
    if (watch) std::this_thread::sleep_for(std::chrono::duration<double>(interval));
  }
  return 0;
}

std::string event_line(const json& e) {
  std::string line = e.value("time", std::string("?")) + "  #" +
                     std::to_string(e.value("seq", std::uint64_t{0})) + "  " +
                     e.value("kind", std::string("?"));
  for (const auto& [k, v] : e.items()) {
    if (k == "time" || k == "time_us" || k == "seq" || k == "kind" || k == "agent") continue;
    const std::string value = v.is_string() ? v.get<std::string>() : v.dump();
    line += " " + k + "=" + (value.find(' ') == std::string::npos ? value : "\"" + value + "\"");
  }
  return line;
}

int cmd_events(const std::string& socket, bool as_json, std::size_t count, bool follow,
               bool audit) {
  int code = 0;
  std::uint64_t last = 0;
  // --follow polls for newer events until interrupted (bounded: a day at most).
  for (int round = 0; round < (follow ? 172800 : 1); ++round) {
    json req = request(V::kEvents, {{"limit", last == 0 ? count : 1000}});
    if (audit) req["audit"] = true;
    if (last != 0) req["since"] = last;
    const auto r = ask(socket, req, code);
    if (!r) return code;
    for (const auto& e : (*r)["events"]) {
      last = std::max(last, e.value("seq", std::uint64_t{0}));
      std::cout << (as_json ? e.dump() : event_line(e)) << "\n";
    }
    if (last == 0) last = (*r)["last_seq"].get<std::uint64_t>();
    std::cout.flush();
    if (follow) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return 0;
}

// A configuration and a cluster state recorded under it, read from files for the offline verbs;
// errors (file, line and field) printed.
std::optional<std::pair<hactl::ClusterConfig, hactl::ClusterState>> load_recorded(
    const std::string& config_path, const std::string& state_path) {
  auto loaded = hactl::load_config_file(config_path);
  if (!loaded) {
    for (const auto& e : loaded.error()) std::cerr << e.to_string() << "\n";
    return std::nullopt;
  }
  const auto text = read_text(state_path);
  if (!text) return std::nullopt;
  auto state = hactl::parse_state(loaded->config, *text, state_path);
  if (!state) {
    for (const auto& e : state.error()) std::cerr << e.to_string() << "\n";
    return std::nullopt;
  }
  return std::pair{std::move(loaded->config), std::move(*state)};
}

// `hactl simulate --config FILE --state STATE.yaml`: the scheduler run here, on a recorded
// state, with no cluster at all (the pure core, coordinator/simulate.hpp, which the scheduler
// golden tests use too). Errors name the file, line and field.
int simulate_offline(const std::string& config_path, const std::string& state_path,
                     const std::vector<std::string>& kill, const std::vector<std::string>& fail,
                     bool as_json, bool dump_state) {
  if (config_path.empty()) {
    std::cerr << "hactl: simulate --state needs --config FILE (the configuration the state was "
                 "recorded under)\n";
    return 2;
  }
  auto recorded = load_recorded(config_path, state_path);
  if (!recorded) return 1;
  const hactl::ClusterConfig& config = recorded->first;
  const auto r = hactl::simulate(config, std::move(recorded->second), {kill, fail});
  if (!r) {
    std::cerr << "hactl: " << r.error() << "\n";
    return 1;
  }
  if (dump_state) {
    std::cout << hactl::write_state_yaml(config, r->state);
  } else if (as_json) {
    std::cout << hactl::to_json(*r).dump(2) << "\n";
  } else {
    std::cout << "What the scheduler would do in " << state_path;
    for (const auto& k : kill) std::cout << ", " << k << " dead";
    for (const auto& f : fail) std::cout << ", " << f << " failed";
    std::cout << " (offline, nothing is run):\n" << hactl::format_transition(*r);
  }
  return 0;
}

int cmd_simulate(const std::string& socket, const std::string& config_path,
                 const std::string& state_path, const std::vector<std::string>& kill,
                 const std::vector<std::string>& fail, bool as_json, bool dump_state) {
  if (!state_path.empty())
    return simulate_offline(config_path, state_path, kill, fail, as_json, dump_state);
  int code = 0;
  json req = request(V::kSimulate, {{"kill", kill}, {"fail", fail}, {"dump_state", dump_state}});
  if (!config_path.empty()) {
    const auto text = read_text(config_path);
    if (!text) return 1;
    req["text"] = *text;
    req["path"] = config_path;
  }
  const auto r = ask(socket, req, code);
  if (!r) return code;
  if (dump_state) {
    std::cout << (*r)["state_yaml"].get<std::string>();
    return 0;
  }
  if (as_json) {
    json out = *r;
    out.erase("text");
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << "What the scheduler would do now";
  if (!kill.empty() || !fail.empty() || !config_path.empty()) std::cout << " if";
  bool first = true;
  auto part = [&](const std::string& s) {
    std::cout << (first ? " " : ", ") << s;
    first = false;
  };
  for (const auto& k : kill) part(k + " died");
  for (const auto& f : fail) part(f + " failed");
  if (!config_path.empty()) part(config_path + " were applied");
  std::cout << " (nothing is run):\n" << (*r)["text"].get<std::string>();
  return 0;
}

// `hactl explain RES [--node N]`: asks the agent, or offline (--config and --state) runs the
// scheduler here on a recorded state.
int cmd_explain(const std::string& socket, const std::string& resource, const std::string& node,
                const std::string& config_path, const std::string& state_path, bool as_json) {
  json j;
  if (!state_path.empty() || !config_path.empty()) {
    if (state_path.empty() || config_path.empty()) {
      std::cerr << "hactl: explain offline needs both --config FILE and --state STATE.yaml\n";
      return 2;
    }
    const auto recorded = load_recorded(config_path, state_path);
    if (!recorded) return 1;
    auto r = hactl::explain(recorded->first, recorded->second, resource,
                            node.empty() ? std::nullopt : std::optional<std::string>(node));
    if (!r) {
      std::cerr << "hactl: " << r.error() << "\n";
      return 1;
    }
    j = std::move(*r);
  } else {
    int code = 0;
    json req = request(V::kExplain, {{"resource", resource}});
    if (!node.empty()) req["node"] = node;
    const auto r = ask(socket, req, code);
    if (!r) return code;
    j = *r;
  }
  std::cout << (as_json ? j.dump(2) + "\n" : hactl::format_explanation(j));
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

// This host's findings for a valid file (common/host_check.hpp), as node `node` (default: this
// host's name, when the file lists it; otherwise none, with a note). False when one is an error.
bool host_check(const hactl::ClusterConfig& c, const std::string& path, const std::string& node) {
  const std::string name = node.empty() ? hactl::short_hostname() : node;
  const auto self = c.find_node(name);
  if (!self && !node.empty()) {
    std::cerr << "hactl: --node: no node is called '" << node << "' in " << path << "\n";
    return false;
  }
  if (!self) {
    std::cout << "note: this host (" << name << ") is not a node of " << path
              << ": no host check (--node NAME checks this host as node NAME)\n";
    return true;
  }
  const hactl::SystemHostFacts facts;
  auto findings = hactl::check_host(c, facts, *self);
  if (const auto text = read_text(path)) hactl::locate_findings(*text, path, findings);
  for (const auto& f : findings) {
    (f.severity == hactl::HostSeverity::kError ? std::cerr : std::cout) << to_string(f) << "\n";
  }
  return !hactl::has_errors(findings);
}

// `hactl config validate FILE [--node NAME]`; diff and apply check the file here first without
// the host check (`host` false): the agent they ask runs it, as the node it is.
int cmd_validate(const std::string& path, const std::string& node, bool host) {
  auto loaded = hactl::load_config_file(path);
  if (!loaded) {
    for (const auto& e : loaded.error()) std::cerr << e.to_string() << "\n";
    return 1;
  }
  const auto& c = loaded->config;
  if (host && !host_check(c, path, node)) return 1;
  std::size_t witnesses = 0;
  for (const auto& n : c.nodes) witnesses += n.witness ? 1 : 0;
  std::cout << path << ": valid (cluster " << c.name << ", " << c.nodes.size() << " nodes";
  if (witnesses != 0) std::cout << " including " << witnesses << " witness";
  std::cout << ", " << c.resources.primitives.size() << " primitives, heartbeat "
            << hactl::format_duration(c.timing.heartbeat_interval) << ", node timeout "
            << hactl::format_duration(c.timing.node_timeout) << ")\n";
  for (const auto& w : loaded->warnings)
    std::cout << "warning: " << w.path << ": " << w.message << "\n";
  return 0;
}

// Checks a file locally (errors with file:line) and then against the running cluster.
std::optional<json> check_config(const std::string& socket, const std::string& path,
                                 std::string& text, int& code, bool quiet = false) {
  // Checked here first, so that errors name this file (quietly for --json: only the JSON on
  // standard output).
  if (quiet) {
    if (auto loaded = hactl::load_config_file(path); !loaded) {
      for (const auto& e : loaded.error()) std::cerr << e.to_string() << "\n";
      code = 1;
      return std::nullopt;
    }
  } else if (cmd_validate(path, "", false) != 0) {
    code = 1;
    return std::nullopt;
  }
  const auto t = read_text(path);
  if (!t) {
    code = 1;
    return std::nullopt;
  }
  text = *t;
  return ask(socket, request(V::kConfigCheck, {{"path", path}, {"text", text}}), code, kCheckMs);
}

// One line per resource the apply changes or acts on: its definition (added, removed,
// redefined, updated: operations or meta only) and what the cluster then does (nothing,
// update in place, restart, move, start, stop); then the resources left alone.
void print_plan(const json& plan) {
  auto nodes = [](const json& list) {
    std::string s;
    for (const auto& n : list) s += (s.empty() ? "" : ", ") + n.get<std::string>();
    return s;
  };
  std::string alone;
  std::size_t lines = 0;
  for (const auto& p : plan["plan"]) {
    const std::string id = p["resource"];
    const std::string def = p.value("definition", std::string("same"));
    const std::string outcome = p.value("outcome", std::string("nothing"));
    if (def == "same" && outcome == "nothing") {
      alone += (alone.empty() ? "" : ", ") + id;
      continue;
    }
    const std::string from = nodes(p.value("from", json::array()));
    const std::string to = nodes(p.value("to", json::array()));
    std::string what = def == "same"      ? "unchanged"
                       : def == "updated" ? "updated (operations or meta)"
                                          : def;
    if (outcome == "nothing") {
      what += def == "added"     ? ", placed nowhere (not started)"
              : def == "removed" ? " (not running)"
                                 : ", nothing to do";
    } else if (outcome == "update") {
      what += ", updated in place on " + from + " (no restart)";
    } else if (outcome == "restart") {
      what += ", restarted on " + from + " (stopped first)";
    } else if (outcome == "move") {
      what += ", moves from " + from + " to " + to;
    } else if (outcome == "start") {
      what += ", starts on " + to;
    } else if (outcome == "stop") {
      what += ", stops on " + from;
    }
    std::cout << "  " << id << ": " << what << "\n";
    ++lines;
  }
  if (lines == 0) std::cout << "  no resource is added, removed, changed or moved\n";
  if (!alone.empty()) std::cout << "  left alone: " << alone << "\n";
  for (const auto& w : plan["warnings"]) std::cout << "warning: " << w.get<std::string>() << "\n";
  // Nodes whose host did not check the file (unreachable, silent, busy): it may not run there.
  const json checked = plan.value("host_checked", json::object());
  for (const auto& [node, state] : checked.items()) {
    if (state != "checked") {
      std::cout << "warning: " << node << " did not check its host: " << state.get<std::string>()
                << "\n";
    }
  }
}

int cmd_config_diff(const std::string& socket, const std::string& path, bool as_json) {
  int code = 0;
  std::string text;
  const auto plan = check_config(socket, path, text, code, as_json);
  if (!plan) return code;
  if (as_json) {
    std::cout << plan->dump(2) << "\n";
    return 0;
  }
  if ((*plan)["unchanged"].get<bool>()) {
    std::cout << path << " is the configuration the cluster runs (version "
              << (*plan)["config_version"] << "): nothing to apply\n";
    return 0;
  }
  std::cout << "Applying " << path << " (over version " << (*plan)["config_version"]
            << ") would change:\n";
  print_plan(*plan);
  return 0;
}

// How much longer than its --timeout a client follows a sequence: a change of coordinator, or
// the document's step reaching a majority, on top of the wait for the stop.
constexpr double kSequenceSlackS = 30;

// Follows an operator sequence the cluster carries out (coordinator/intents.hpp: the agents,
// not this client, disable, wait and enable) until the document records its end, polling this
// node's status. Its end; or nullopt with `code` set when the agent cannot be asked or the
// sequence has not ended within `wait_s` (it goes on without this client either way).
std::optional<json> await_sequence(const std::string& socket, std::uint64_t id, double wait_s,
                                   int& code) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_s);
  for (int i = 0; i < 1'000'000 && std::chrono::steady_clock::now() < deadline; ++i) {
    const auto s = ask(socket, request(V::kStatus), code);
    if (!s) {
      std::cerr << "hactl: the cluster carries sequence " << id
                << " on without this client (hactl status --json: document.sequence)\n";
      return std::nullopt;
    }
    const json last = (*s)["document"].value("last_sequence", json());
    if (last.is_object() && last.value("id", std::uint64_t{0}) >= id) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::cerr << "hactl: sequence " << id << " has not ended after " << wait_s
            << " s; the cluster carries it on (hactl status --json: document.sequence)\n";
  code = 1;
  return std::nullopt;
}

// A sequence's end as the operator reads it: true when it was done.
bool sequence_done(const json& end, std::uint64_t id) {
  if (end.value("id", std::uint64_t{0}) != id) {
    std::cout << "sequence " << id << " has ended, and a later one since (hactl events)\n";
    return true;
  }
  if (end.value("done", false)) return true;
  std::cerr << "hactl: " << end.value("note", std::string("undone")) << "\n";
  return false;
}

int cmd_config_apply(const std::string& socket, const std::string& path, double timeout_s) {
  int code = 0;
  // Checked here first, so that errors name this file; then by the agent and every node.
  if (cmd_validate(path, "", false) != 0) return 1;
  const auto text = read_text(path);
  if (!text) return 1;
  const auto r = ask(
      socket, request(V::kConfigApply, {{"path", path}, {"text", *text}, {"timeout_s", timeout_s}}),
      code, kCheckMs);
  if (!r) return code;
  if (r->value("unchanged", false)) {
    std::cout << path << " is already the configuration the cluster runs (version "
              << (*r)["config_version"] << ")\n";
    return 0;
  }
  print_plan(*r);
  if (r->contains("sequence")) {
    // What is active and removed or redefined is stopped first, through the cluster, so its
    // old and new definitions never run at once; the coordinator applies once it is stopped.
    const json& seq = (*r)["sequence"];
    const auto id = seq["id"].get<std::uint64_t>();
    std::cout << "stopping first:";
    for (const auto& res : seq["stopping"]) std::cout << " " << res.get<std::string>();
    std::cout << std::endl;
    const auto end = await_sequence(socket, id, timeout_s + kSequenceSlackS, code);
    if (!end) return code;
    if (!sequence_done(*end, id)) return 1;
    if (end->value("id", std::uint64_t{0}) != id) return 0;
    std::cout << "applied " << path << " as configuration version " << (*end)["config_version"]
              << " (stored by a majority of the nodes)\n";
    return 0;
  }
  std::cout << "applied " << path << " as configuration version " << (*r)["config_version"]
            << " (stored by a majority of the nodes)\n";
  return 0;
}

int cmd_config_show(const std::string& socket, std::optional<std::uint64_t> version, bool as_json) {
  int code = 0;
  json req = request(V::kConfigShow);
  if (version) req["version"] = *version;
  const auto r = ask(socket, req, code);
  if (!r) return code;
  if (as_json) {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  std::cout << "# configuration version " << (*r)["version"] << ", applied "
            << hactl::format_unix_time((*r)["applied"].get<std::int64_t>()) << " by "
            << (*r)["by"].get<std::string>() << "\n"
            << (*r)["text"].get<std::string>();
  return 0;
}

int cmd_config_history(const std::string& socket, bool as_json) {
  int code = 0;
  const auto r = ask(socket, request(V::kConfigHistory), code);
  if (!r) return code;
  if (as_json) {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  std::cout << "VERSION  APPLIED               BY\n";
  for (const auto& v : (*r)["versions"]) {
    std::cout << (v["current"].get<bool>() ? "*" : " ") << std::left << std::setw(8)
              << v["version"].get<std::uint64_t>() << std::setw(22)
              << hactl::format_unix_time(v["applied"].get<std::int64_t>())
              << v["by"].get<std::string>() << "\n";
  }
  return 0;
}

// A write verb: sends it, prints `done` on success.
int write_verb(const std::string& socket, const json& request, const std::string& done) {
  int code = 0;
  const auto r = ask(socket, request, code);
  if (!r) return code;
  if (r->value("dry_run", false)) {
    // What it would do; nothing was changed.
    const auto& plan = (*r)["plan"];
    std::cout << plan.value("text", "");
    std::string where;
    for (const auto& n : plan.value("nodes", json::array()))
      where += (where.empty() ? "" : ", ") + n.get<std::string>();
    std::cout << "dry run: " << request.value("resource", std::string())
              << (request.value("promoted", false) ? " would be promoted on " : " would run on ")
              << (where.empty() ? "no node" : where) << "; nothing was changed\n";
    return 0;
  }
  std::cout << done << (r->value("changed", true) ? "" : " (it already was)") << "\n";
  return 0;
}

// The agents stop it everywhere, wait until it is stopped, and start it again (a sequence in
// the cluster document: it finishes without this client); this follows it.
int cmd_restart(const std::string& socket, const std::string& id, double timeout_s) {
  int code = 0;
  const auto r =
      ask(socket, request(V::kResourceRestart, {{"resource", id}, {"timeout_s", timeout_s}}), code);
  if (!r) return code;
  const std::string top = (*r)["resource"];
  const auto seq = (*r)["sequence"]["id"].get<std::uint64_t>();
  std::cout << "stopping " << top << std::endl;
  const auto end = await_sequence(socket, seq, timeout_s + kSequenceSlackS, code);
  if (!end) return code;
  if (!sequence_done(*end, seq)) return 1;
  std::cout << "starting " << top << " again\n";
  return 0;
}

// Ends this node's wait_for_all (two_node): it fences its peer, then takes everything over.
int cmd_unblock(const std::string& socket) {
  int code = 0;
  const auto r = ask(socket, request(V::kClusterUnblock), code);
  if (!r) return code;
  if (!r->value("was_waiting", false)) {
    std::cout << "this node was not waiting for its peer: nothing to do\n";
    return 0;
  }
  std::cout << "unblocked: this node fences its peer if it does not hear it, then runs "
               "everything (watch hactl status and hactl events)\n";
  return 0;
}

// Hands the coordinator role over (to `to`, or the agent's choice) and waits, 5 s at most,
// until this node sees another node lead in a newer term.
int cmd_handover(const std::string& socket, const std::string& to) {
  int code = 0;
  json req = request(V::kCoordinatorHandover);
  if (!to.empty()) req["to"] = to;
  const auto start = std::chrono::steady_clock::now();
  const auto r = ask(socket, req, code);
  if (!r) return code;
  const std::string from = r->value("from", std::string());
  const std::uint64_t term = r->value("term", std::uint64_t{0});
  for (int i = 0; i < 250; ++i) {
    const auto s = ask(socket, request(V::kStatus), code);
    if (!s) return code;
    const json c = s->value("coordinator", json());
    if (c.is_string() && c != from && s->value("term", std::uint64_t{0}) > term) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count();
      std::cout << "coordinator handed over: " << from << " -> " << c.get<std::string>()
                << " (term " << (*s)["term"] << ", seen after " << ms << " ms)\n";
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::cerr << "hactl: " << from << " was asked to hand the coordinator role over"
            << (to.empty() ? std::string() : " to " + to)
            << ", and no other node leads after 5 s; see `hactl events`\n";
  return 1;
}

int cmd_cleanup(const std::string& socket, const std::string& resource, const std::string& node) {
  int code = 0;
  json req = request(V::kCleanup, {{"resource", resource}});
  if (!node.empty()) req["node"] = node;
  const auto reply = ask(socket, req, code);
  if (!reply) return code;
  std::cout << "cleanup of " << resource << " sent to "
            << (node.empty() ? std::string("every node") : node)
            << ": failures forgotten, its state probed again\n";
  if (reply->contains("released")) {
    std::cout << (*reply)["released"].get<std::string>()
              << " is no longer held by flap damping: it may move again\n";
  }
  return 0;
}

using hactl::KaDiskReader;
using hactl::KaImportOptions;
using hactl::KaParseLimits;
using hactl::KaSource;

// `hactl import keepalived` (cli/import_keepalived.hpp): its flags. `import` is a parent of one
// verb per tool imported from.
struct ImportArgs {
  CLI::App* keepalived = nullptr;
  std::vector<std::string> files;
  std::vector<std::string> nodes;      // NAME=FILE
  std::vector<std::string> addresses;  // NAME=ADDRESS[:PORT]
  KaImportOptions options;
  std::string output;
  std::string report;
  bool force = false;
};

void add_import_verbs(CLI::App& app, ImportArgs& a) {
  auto* import_cmd = app.add_subcommand(
      "import", "turn another cluster manager's configuration into an hactl configuration");
  import_cmd->require_subcommand(1);
  auto* k = import_cmd->add_subcommand(
      "keepalived",
      "keepalived.conf files, one per host, as an hactl configuration and a report of what was "
      "not carried over and what was assumed (docs/importing.md)");
  a.keepalived = k;
  k->add_option("FILE", a.files, "a host's keepalived.conf (the node: its router_id)");
  k->add_option("--node", a.nodes, "NAME=FILE: a host's keepalived.conf and its node's name")
      ->type_name("NAME=FILE");
  k->add_option("--address", a.addresses,
                "NAME=ADDRESS[:PORT]: the address node NAME's agent listens on (default: the "
                "file's unicast_src_ip, port 5405)")
      ->type_name("NAME=ADDRESS");
  k->add_option("--name", a.options.cluster_name, "the cluster's name")->capture_default_str();
  k->add_option("--key", a.options.key_file, "the cluster key's path (auth_key_file)")
      ->capture_default_str();
  k->add_option("--arbiter", a.options.arbiter,
                "HOST[:PORT]: a hactl-arbiter as the pair's third vote (default: keepalived's "
                "behaviour in a split, last_resort: unsafe_take_over)");
  k->add_option("--witness", a.options.witness,
                "NAME=ADDRESS[:PORT]: a third node as the pair's third vote");
  k->add_option("-o,--output", a.output, "where to write the configuration (default: stdout)");
  k->add_option("--report", a.report, "where to write the report (default: stderr)");
  k->add_flag("--force", a.force, "replace an existing --output or --report file");
}

// "NAME=VALUE" split at the first '='; nullopt (with a message) when it is not that.
std::optional<std::pair<std::string, std::string>> name_value(const std::string& flag,
                                                              const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    std::cerr << "hactl: " << flag << " " << text << ": expected NAME=VALUE\n";
    return std::nullopt;
  }
  return std::pair{text.substr(0, eq), text.substr(eq + 1)};
}

// Writes `text` to `path`, refusing to replace a file without --force.
bool write_out(const std::string& path, const std::string& text, bool force) {
  if (!force && std::filesystem::exists(path)) {
    std::cerr << "hactl: " << path << " exists: --force replaces it\n";
    return false;
  }
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) std::cerr << "hactl: cannot write " << path << "\n";
  return static_cast<bool>(f);
}

int cmd_import_keepalived(ImportArgs& a) {
  std::vector<std::pair<std::string, std::string>> given;  // node, path
  for (const auto& f : a.files) given.emplace_back("", f);
  for (const auto& n : a.nodes) {
    const auto nv = name_value("--node", n);
    if (!nv) return 2;
    given.emplace_back(nv->first, nv->second);
  }
  for (const auto& text : a.addresses) {
    const auto nv = name_value("--address", text);
    if (!nv) return 2;
    if (!a.options.addresses.emplace(nv->first, nv->second).second) {
      std::cerr << "hactl: --address " << nv->first << " is given twice\n";
      return 2;
    }
  }
  if (given.empty()) {
    std::cerr << "hactl: import keepalived: give the keepalived.conf of each host (FILE or "
                 "--node NAME=FILE)\n";
    return 2;
  }
  for (const std::string& path : {a.output, a.report}) {
    if (!path.empty() && !a.force && std::filesystem::exists(path)) {
      std::cerr << "hactl: " << path << " exists: --force replaces it\n";
      return 1;
    }
  }
  const KaDiskReader reader;
  std::vector<KaSource> sources;
  for (const auto& [node, path] : given) {
    auto text = reader.read(path, KaParseLimits::kMaxFileBytes);
    if (!text) {
      std::cerr << "hactl: " << path << ": " << text.error() << "\n";
      return 1;
    }
    sources.push_back(KaSource{path, node, std::move(*text)});
  }
  const auto imported = hactl::import_keepalived(sources, a.options, reader);
  if (!imported) {
    for (const auto& e : imported.error()) std::cerr << e << "\n";
    return 1;
  }
  if (!a.report.empty() && !write_out(a.report, imported->report(), a.force)) return 1;
  if (a.report.empty()) std::cerr << imported->report();
  if (a.output.empty()) {
    std::cout << imported->yaml;
    return 0;
  }
  if (!write_out(a.output, imported->yaml, a.force)) return 1;
  std::cerr << "hactl: wrote " << a.output << " (read the report"
            << (a.report.empty() ? " above" : " in " + a.report)
            << " first; check it with: hactl config validate " << a.output << ")\n";
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

  bool as_json = false;
  bool watch = false;
  double interval = 1.0;
  auto* status = app.add_subcommand("status", "show the cluster as this node sees it");
  status->add_flag("--json", as_json, "print one JSON object (schema in docs/status.md)");
  status->add_flag("-w,--watch", watch, "redraw every --interval seconds until interrupted");
  status->add_option("--interval", interval, "seconds between redraws with --watch")
      ->check(CLI::Range(0.2, 3600.0))
      ->capture_default_str();

  std::size_t event_count = 30;
  bool follow = false;
  auto* events = app.add_subcommand(
      "events", "show this node's event history: elections, nodes, resource actions, changes");
  events->add_option("-n,--count", event_count, "how many of the latest")->capture_default_str();
  events->add_flag("-f,--follow", follow, "keep printing new events until interrupted");
  bool audit = false;
  events->add_flag("--audit", audit,
                   "only operators' writes and refused writes, kept apart from other events");
  events->add_flag("--json", as_json, "one JSON object per line");

  std::string key_path;
  auto* keygen = app.add_subcommand("keygen", "write a new cluster key file (mode 0600)");
  keygen->add_option("PATH", key_path, "where to write it; never overwritten")->required();

  hactl::ArbiterVerbs arbiter_verbs;
  hactl::add_arbiter_verbs(app, arbiter_verbs);

  hactl::InitVerb init_verb;
  hactl::add_init_verb(app, init_verb);

  ImportArgs import_args;
  add_import_verbs(app, import_args);

  // node
  std::string node;
  auto* node_cmd = app.add_subcommand("node", "put nodes in standby or back online");
  node_cmd->require_subcommand(1);
  auto* standby = node_cmd->add_subcommand(
      "standby", "move every resource off NODE and keep them off until `hactl node online`");
  standby->add_option("NODE", node, "a node name")->required();
  bool force = false;
  auto* online = node_cmd->add_subcommand(
      "online", "let NODE run resources again (ends standby and maintenance)");
  online->add_option("NODE", node, "a node name")->required();
  online->add_flag("--force", force,
                   "end maintenance of a node that cannot be reached (it must run nothing)");
  auto* maintenance = node_cmd->add_subcommand(
      "maintenance",
      "leave what runs on NODE alone (no monitors, stops or moves; it survives "
      "an agent restart) until `hactl node online`");
  maintenance->add_option("NODE", node, "a node name")->required();

  // coordinator
  auto* coordinator_cmd = app.add_subcommand("coordinator", "act on the coordinator role");
  coordinator_cmd->require_subcommand(1);
  std::string handover_to;
  auto* handover = coordinator_cmd->add_subcommand(
      "handover",
      "hand the coordinator role to NODE (or the best other voter) at once, with no election "
      "gap; nothing else moves");
  handover->add_option("NODE", handover_to, "the node to take over");

  // cluster
  auto* cluster_cmd = app.add_subcommand("cluster", "act on the whole cluster");
  cluster_cmd->require_subcommand(1);
  auto* unblock = cluster_cmd->add_subcommand(
      "unblock",
      "two_node: let this node, started alone, fence its peer and then run everything without "
      "having seen it (wait_for_all); only when the peer is not coming back soon");

  // resource
  std::string resource_id;
  std::vector<std::string> resource_ids;
  std::string lifetime;
  std::string clear_node;
  double timeout_s = 120;
  auto* resource = app.add_subcommand("resource", "act on resources");
  resource->require_subcommand(1);
  auto* move = resource->add_subcommand(
      "move",
      "move a resource to NODE (or away from where it runs): an intent kept for --lifetime "
      "(default 1h) or until `hactl resource clear`; refused, changing nothing, if the "
      "resource could not run there");
  move->add_option("RESOURCE", resource_id, "a resource (a group member moves its group)")
      ->required();
  move->add_option("NODE", node, "where to; without it, away from its current node");
  bool dry_run = false;
  move->add_option("--lifetime", lifetime,
                   "drop the intent after this long (e.g. 10m, 2h; default 1h; forever: until "
                   "cleared)");
  move->add_flag("--dry-run", dry_run, "show where it would go and why; change nothing");
  bool promoted = false;
  move->add_flag("--promoted", promoted,
                 "a promotable clone's promoted role: demote it where it is promoted and "
                 "promote it on NODE (without NODE: anywhere else)");
  auto* ban = resource->add_subcommand(
      "ban", "keep a resource off NODE for --lifetime (default 1h) or until cleared");
  ban->add_option("RESOURCE", resource_id, "a resource")->required();
  ban->add_option("NODE", node, "the node to keep it off")->required();
  ban->add_option(
      "--lifetime", lifetime,
      "drop the ban after this long (e.g. 10m, 2h; default 1h; forever: until cleared)");
  ban->add_flag("--dry-run", dry_run, "show what the ban would do; change nothing");
  ban->add_flag("--promoted", promoted,
                "a promotable clone's promoted role only: never promoted on NODE (it may still "
                "run there unpromoted)");
  auto* clear = resource->add_subcommand("clear", "remove the moves and bans made for a resource");
  clear->add_option("RESOURCE", resource_id, "a resource")->required();
  clear->add_option("--node", clear_node, "only those naming this node");
  auto* enable = resource->add_subcommand("enable", "let disabled resources run again");
  enable->add_option("RESOURCE", resource_ids, "one or more resources")->required();
  auto* disable =
      resource->add_subcommand("disable", "stop resources everywhere and keep them stopped");
  disable->add_option("RESOURCE", resource_ids, "one or more resources")->required();
  auto* restart = resource->add_subcommand(
      "restart", "stop a resource everywhere, wait until it is stopped, start it again");
  restart->add_option("RESOURCE", resource_id, "a resource")->required();
  restart->add_option("--timeout", timeout_s, "seconds to wait for the stop")
      ->capture_default_str();
  auto* cleanup = resource->add_subcommand(
      "cleanup", "forget a resource's failures (on every node, or --node) and probe it again");
  cleanup->add_option("RESOURCE", resource_id, "a primitive, or a group or clone (all of it)")
      ->required();
  cleanup->add_option("--node", clear_node, "only on this node");

  // config
  std::string config_path;
  std::uint64_t show_version = 0;
  auto* config = app.add_subcommand("config", "check, compare, apply and show configurations");
  config->require_subcommand(1);
  auto* validate =
      config->add_subcommand("validate", "check a configuration file, no cluster needed");
  validate->add_option("FILE", config_path, "the YAML file")->required();
  std::string validate_node;
  validate->add_option("--node", validate_node,
                       "check this host as node NAME: its interfaces, agents, units (default: "
                       "this host's name, if the file lists it)");
  auto* diff =
      config->add_subcommand("diff", "show what applying FILE would change in the running cluster");
  diff->add_option("FILE", config_path, "the YAML file")->required();
  diff->add_flag("--json", as_json, "print the plan as JSON");
  auto* apply = config->add_subcommand(
      "apply",
      "make FILE the cluster's configuration: every node stores it as a new version; "
      "active resources it removes or redefines are stopped first");
  apply->add_option("FILE", config_path, "the YAML file")->required();
  apply->add_option("--timeout", timeout_s, "seconds to wait for resources to stop")
      ->capture_default_str();
  auto* show = config->add_subcommand("show", "print the configuration the cluster runs");
  show->add_option("--version", show_version, "an earlier version, from this node's history");
  show->add_flag("--json", as_json, "print JSON");
  auto* history =
      config->add_subcommand("history", "list the configuration versions this node keeps");
  history->add_flag("--json", as_json, "print JSON");

  std::vector<std::string> sim_kill, sim_fail;
  std::string sim_config, sim_state;
  bool dump_state = false;
  auto* sim = app.add_subcommand(
      "simulate", "print the transition the scheduler would run, without running it");
  sim->add_option("--kill", sim_kill, "as if this node died (repeatable)");
  sim->add_option("--fail", sim_fail, "as if this resource's monitor failed (repeatable)");
  sim->add_option("--config", sim_config,
                  "as if this configuration file were applied (with --state: the configuration "
                  "the state was recorded under)");
  sim->add_option("--state", sim_state,
                  "offline: run on this recorded cluster state (STATE.yaml, docs/scheduler.md) "
                  "instead of asking the agent; needs --config");
  sim->add_flag("--json", as_json, "actions and resulting placement as JSON");
  sim->add_flag("--dump-state", dump_state,
                "print the cluster state (after --kill/--fail) as STATE.yaml instead");
  std::string explain_resource, explain_node, explain_config, explain_state;
  auto* explain = app.add_subcommand(
      "explain",
      "why a resource runs where it runs, or does not run: every node's score, what made it, "
      "and the command that would change it");
  explain->add_option("RESOURCE", explain_resource, "a resource (a member: its group)")->required();
  explain->add_option("--node", explain_node, "only this node's lines");
  explain->add_option("--config", explain_config,
                      "offline, with --state: the configuration the state was recorded under");
  explain->add_option("--state", explain_state,
                      "offline: explain on this recorded cluster state (STATE.yaml)");
  explain->add_flag("--json", as_json, "print JSON");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" that exit 0; real usage errors exit 2.
    return app.exit(e) == 0 ? 0 : 2;
  }
  const auto life = lifetime_seconds(lifetime);
  if (!life) return 2;
  if (status->parsed()) return cmd_status(socket, as_json, watch, interval);
  if (keygen->parsed()) return cmd_keygen(key_path);
  if (const auto r = hactl::run_arbiter_verb(arbiter_verbs)) return *r;
  if (const auto r = hactl::run_init_verb(init_verb)) return *r;
  if (import_args.keepalived->parsed()) return cmd_import_keepalived(import_args);
  if (explain->parsed())
    return cmd_explain(socket, explain_resource, explain_node, explain_config, explain_state,
                       as_json);
  if (sim->parsed())
    return cmd_simulate(socket, sim_config, sim_state, sim_kill, sim_fail, as_json, dump_state);
  if (events->parsed()) return cmd_events(socket, as_json, event_count, follow, audit);
  if (standby->parsed())
    return write_verb(socket, request(V::kNodeStandby, {{"node", node}}),
                      node + " is in standby: its resources move elsewhere");
  if (online->parsed())
    return write_verb(socket, request(V::kNodeOnline, {{"node", node}, {"force", force}}),
                      node + " is online: it may run resources");
  if (maintenance->parsed())
    return write_verb(socket, request(V::kNodeMaintenance, {{"node", node}}),
                      node + " is in maintenance: what runs there is left alone");
  if (move->parsed()) {
    json req = request(V::kResourceMove, {{"resource", resource_id},
                                          {"lifetime_s", *life},
                                          {"dry_run", dry_run},
                                          {"promoted", promoted}});
    if (!node.empty()) req["node"] = node;
    const std::string what = promoted ? "the promoted role of " + resource_id : resource_id;
    return write_verb(
        socket, req,
        node.empty() ? what + " moves away from its current node" : what + " moves to " + node);
  }
  if (ban->parsed())
    return write_verb(socket,
                      request(V::kResourceBan, {{"resource", resource_id},
                                                {"node", node},
                                                {"lifetime_s", *life},
                                                {"dry_run", dry_run},
                                                {"promoted", promoted}}),
                      (promoted ? "the promoted role of " + resource_id : resource_id) +
                          " is banned from " + node);
  if (clear->parsed()) {
    json req = request(V::kResourceClear, {{"resource", resource_id}});
    if (!clear_node.empty()) req["node"] = clear_node;
    return write_verb(socket, req, "moves and bans of " + resource_id + " cleared");
  }
  if (enable->parsed())
    return write_verb(socket, request(V::kResourceEnable, {{"resources", resource_ids}}),
                      "enabled");
  if (disable->parsed())
    return write_verb(socket, request(V::kResourceDisable, {{"resources", resource_ids}}),
                      "disabled: stopping everywhere");
  if (restart->parsed()) return cmd_restart(socket, resource_id, timeout_s);
  if (handover->parsed()) return cmd_handover(socket, handover_to);
  if (unblock->parsed()) return cmd_unblock(socket);
  if (cleanup->parsed()) return cmd_cleanup(socket, resource_id, clear_node);
  if (validate->parsed()) return cmd_validate(config_path, validate_node, true);
  if (diff->parsed()) return cmd_config_diff(socket, config_path, as_json);
  if (apply->parsed()) return cmd_config_apply(socket, config_path, timeout_s);
  if (show->parsed())
    return cmd_config_show(
        socket, show->count("--version") ? std::optional(show_version) : std::nullopt, as_json);
  if (history->parsed()) return cmd_config_history(socket, as_json);
  return 2;
}
