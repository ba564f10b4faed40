// hactl-agent: one per host. Parses the command line, loads and checks the configuration and
// key, then runs the Agent on a libuv loop until SIGINT or SIGTERM.
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "agent/agent.hpp"
#include "agent/event_bus.hpp"
#include "common/host_check.hpp"
#include "resources/host_facts.hpp"
#include "resources/realtime.hpp"
#include "version.hpp"

namespace {

// EX_CONFIG (sysexits.h): the configuration or the key is missing or wrong. The systemd unit
// does not restart the agent on it (RestartPreventExitStatus=78): it would fail the same way.
constexpr int kExitConfig = 78;
constexpr int kExitUsage = 64;

struct Args {
  std::string config = "/etc/hactl/cluster.yaml";
  std::string node;
  std::string socket;
  std::string state_dir;
  std::string run_dir = "/run/hactl";
  std::string tools_dir = hactl::kDefaultToolsDir;
  std::string log_level = "info";
  bool check_config = false;
  bool no_realtime = false;
};

// True when stderr is the journal's stream (systemd sets JOURNAL_STREAM to its device:inode;
// a child that inherited the variable but not the stream must not believe it).
bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  return ::fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

// "<N>", the syslog priority of the line, which journald reads off the start of each line it
// is given on a stream (sd-daemon(3)), so `journalctl -p warning` shows warnings and worse.
class SyslogPriorityFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    char p = '6';
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        p = '7';
        break;
      case spdlog::level::info:
        p = '6';
        break;
      case spdlog::level::warn:
        p = '4';
        break;
      case spdlog::level::err:
        p = '3';
        break;
      case spdlog::level::critical:
        p = '2';
        break;
      default:
        break;
    }
    const char text[] = {'<', p, '>'};
    dest.append(text, text + sizeof text);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SyslogPriorityFlag>();
  }
};

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("hactl");
  if (stderr_is_journal()) {
    // The journal stamps every line with the time and the unit already.
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<SyslogPriorityFlag>('*').set_pattern("%*%l %v");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %l %v");
  }
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
  // Text before every event's line (docs/events.md): the lines are for people; the tests
  // reword them all this way to show that nothing reads them back.
  if (const char* prefix = std::getenv("HACTL_LOG_PREFIX")) hactl::set_event_line_prefix(prefix);
}

std::expected<hactl::AgentOptions, std::string> load(const Args& args) {
  auto loaded = hactl::load_config_file(args.config);
  if (!loaded) {
    std::string all;
    for (const auto& e : loaded.error()) all += e.to_string() + "\n";
    return std::unexpected(all);
  }
  hactl::AgentOptions o;
  o.config = loaded->config;
  o.config_path = args.config;
  {
    std::ifstream f(args.config, std::ios::binary);
    std::ostringstream text;
    text << f.rdbuf();
    o.config_text = text.str();
  }
  const std::string name = args.node.empty() ? hactl::short_hostname() : args.node;
  const auto self = o.config.find_node(name);
  if (!self) {
    std::string names;
    for (const auto& n : o.config.nodes) names += (names.empty() ? "" : ", ") + n.name;
    return std::unexpected("node '" + name + "' is not in " + args.config + " (nodes: " + names +
                           "); pass --node NAME\n");
  }
  o.self = *self;
  auto key = hactl::load_key_file(o.config.auth_key_file);
  if (!key) return std::unexpected(key.error() + "\n");
  o.key = *key;
  o.state_dir = args.state_dir.empty() ? o.config.state_dir : args.state_dir;
  o.socket_path = args.socket.empty() ? o.config.control_socket : args.socket;
  o.lease_file = args.run_dir + "/lease";
  o.paired_file = args.run_dir + "/paired";
  o.lock_file = args.run_dir + "/agent.lock";
  o.tools_dir = args.tools_dir;
  for (const auto& w : loaded->warnings)
    std::cerr << (stderr_is_journal() ? "<4>" : "") << "warning: " << w.path << ": " << w.message
              << "\n";
  return o;
}

// --check-config, once the file and the key passed (load): what only this host can say of the
// configuration (common/host_check.hpp). Errors fail it (78, as a bad file does: a reload of a
// configuration this node cannot run is refused); warnings are printed.
int check_config(const Args& args, const hactl::AgentOptions& o) {
  const hactl::SystemHostFacts facts;
  auto findings = hactl::check_host(o.config, facts, o.self);
  hactl::locate_findings(o.config_text, args.config, findings);
  const bool journal = stderr_is_journal();
  for (const auto& f : findings) {
    const bool error = f.severity == hactl::HostSeverity::kError;
    std::cerr << (journal ? (error ? "<3>" : "<4>") : "") << hactl::to_string(f) << "\n";
  }
  if (hactl::has_errors(findings)) return kExitConfig;
  std::cout << args.config << ": valid; cluster " << o.config.name << ", " << o.config.nodes.size()
            << " nodes, this node " << o.config.node(o.self).name << " (its host checked), key "
            << o.config.auth_key_file << " readable\n";
  return 0;
}

int run(hactl::AgentOptions options) {
  uv_loop_t* loop = uv_default_loop();
  const int priority = options.realtime_priority;
  hactl::Agent agent(loop, std::move(options));
  if (auto r = agent.start(); !r) {
    hactl::emit_event(hactl::Event(hactl::EventKind::kStartFailed, hactl::EventLevel::kCritical)
                          .text("error", r.error()));
    agent.stop();
    uv_run(loop, UV_RUN_DEFAULT);
    return 1;
  }
  // After start: the guard is forked and goes realtime itself; threads started later (disk
  // writers, the process spawner) put themselves back to normal priority. Heartbeats
  // must not wait for a CPU behind a loaded machine (keepalived #211), nor behind a page fault.
  if (priority > 0) {
    const auto rt = hactl::enter_realtime(priority, false);
    const auto locked = hactl::lock_memory();
    if (!rt || !locked) {
      hactl::emit_event(
          hactl::Event(hactl::EventKind::kRealtimeUnavailable, hactl::EventLevel::kWarn)
              .text("error", !rt ? rt.error() : locked.error())
              .text("effect", "heartbeats may be late on a loaded machine")
              .text("fix",
                    "run as root or with CAP_SYS_NICE and CAP_IPC_LOCK; --no-realtime to "
                    "silence"));
    } else {
      hactl::emit_event(hactl::Event(hactl::EventKind::kRealtime)
                            .add("policy", "SCHED_RR")
                            .add("priority", priority)
                            .add("memory", "locked"));
    }
  }
  uv_signal_t sigint{}, sigterm{};
  for (auto [handle, signum] : {std::pair{&sigint, SIGINT}, std::pair{&sigterm, SIGTERM}}) {
    uv_signal_init(loop, handle);
    handle->data = &agent;
    uv_signal_start(
        handle,
        [](uv_signal_t* h, int sig) {
          hactl::emit_event(
              hactl::Event(hactl::EventKind::kSignal)
                  .add("signal", sig)
                  .text("action", "give resources up, then exit (again: exit at once)"));
          uv_loop_t* l = h->loop;
          // Once the agent has stopped, the signal handles close too and the loop ends.
          static_cast<hactl::Agent*>(h->data)->shutdown([l] {
            uv_walk(
                l,
                [](uv_handle_t* other, void*) {
                  if (other->type == UV_SIGNAL && !uv_is_closing(other)) uv_close(other, nullptr);
                },
                nullptr);
          });
        },
        signum);
  }
  uv_signal_t sighup{};
  uv_signal_init(loop, &sighup);
  sighup.data = &agent;
  uv_signal_start(
      &sighup, [](uv_signal_t* h, int) { static_cast<hactl::Agent*>(h->data)->reload(); }, SIGHUP);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_walk(
      loop,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  hactl::emit_event(hactl::Event(hactl::EventKind::kAgentStopped));
  return agent.failed() ? 1 : 0;  // a failure: systemd's Restart=on-failure starts it again
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  bool foreground = true;
  CLI::App app{"hactl-agent: the per-host agent of an hactl cluster (runs in the foreground)"};
  app.set_version_flag("--version", std::string("hactl-agent ") + hactl::kVersion);
  app.add_option("-c,--config", args.config, "cluster configuration file")->capture_default_str();
  app.add_option("-n,--node", args.node,
                 "this node's name in the configuration (default: hostname)");
  app.add_option("-s,--socket", args.socket,
                 "control socket path (default: cluster.control_socket)");
  app.add_option("--state-dir", args.state_dir, "state directory (default: cluster.state_dir)");
  app.add_option("--run-dir", args.run_dir,
                 "runtime directory for the lease and lock files (emptied at boot)")
      ->capture_default_str();
  if (const char* tools = std::getenv("HACTL_TOOLS_DIR")) args.tools_dir = tools;
  app.add_option("--tools-dir", args.tools_dir,
                 "hactl's Pacemaker commands (crm_attribute, crm_mon, ...) for the resource agents "
                 "($HACTL_TOOLS_DIR)")
      ->capture_default_str();
  app.add_option("--log-level", args.log_level, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_flag("--check-config", args.check_config,
               "check the configuration, the key and what this host has for it (interfaces, "
               "agents, units), then exit");
  app.add_flag("--no-realtime", args.no_realtime,
               "run at normal priority (default: the loop thread and the guard run SCHED_RR " +
                   std::to_string(hactl::kDefaultRealtimePriority) + ", memory locked)");
  app.add_flag("--foreground", foreground, "run in the foreground (always the case)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; a wrong command line exits 64 (EX_USAGE), which the unit
    // does not restart on either.
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }

  std::signal(SIGPIPE, SIG_IGN);
  auto options = load(args);
  if (!options) {
    // Before the logger exists: under the journal, mark the lines as errors the same way.
    const char* prefix = stderr_is_journal() ? "<3>" : "";
    std::istringstream lines(options.error());
    for (std::string line; std::getline(lines, line);) std::cerr << prefix << line << "\n";
    return kExitConfig;
  }
  if (args.check_config) return check_config(args, *options);
  setup_logging(args.log_level);
  options->realtime_priority = args.no_realtime ? 0 : hactl::kDefaultRealtimePriority;
  return run(std::move(*options));
}
