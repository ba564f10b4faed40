// hactl-arbiter: the tie-breaking voter that 2-node hactl clusters share (docs/pairs.md). Parses
// the command line, then runs ArbiterDaemon on a libuv loop until SIGINT or SIGTERM; SIGHUP
// reads the key directory again.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <uv.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "arbiter/daemon.hpp"
#include "version.hpp"

namespace {

constexpr int kExitConfig = 78;  // EX_CONFIG: the unit does not restart on it
constexpr int kExitUsage = 64;   // EX_USAGE

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("hactl-arbiter");
  // Under systemd the journal stamps each line with the time already.
  logger->set_pattern(std::getenv("JOURNAL_STREAM") != nullptr ? "%l %v"
                                                               : "%Y-%m-%d %H:%M:%S.%e %l %v");
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

void close_all(uv_loop_t* loop) {
  uv_walk(
      loop,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
}

int run(const hactl::ArbiterOptions& options) {
  uv_loop_t* loop = uv_default_loop();
  hactl::ArbiterDaemon daemon(loop, options);
  if (auto r = daemon.start(); !r) {
    spdlog::critical("event=start_failed error=\"{}\"", r.error());
    daemon.stop();
    close_all(loop);
    uv_run(loop, UV_RUN_DEFAULT);
    return kExitConfig;
  }
  uv_signal_t sigint{}, sigterm{}, sighup{};
  for (auto [handle, signum] : {std::pair{&sigint, SIGINT}, std::pair{&sigterm, SIGTERM}}) {
    uv_signal_init(loop, handle);
    handle->data = &daemon;
    uv_signal_start(
        handle,
        [](uv_signal_t* h, int sig) {
          spdlog::info("event=signal signal={} action=exit", sig);
          static_cast<hactl::ArbiterDaemon*>(h->data)->stop();
          close_all(h->loop);  // the loop ends once the state writes in flight have completed
        },
        signum);
  }
  uv_signal_init(loop, &sighup);
  sighup.data = &daemon;
  uv_signal_start(
      &sighup,
      [](uv_signal_t* h, int) {
        spdlog::info("event=signal signal=SIGHUP action=reload_keys");
        static_cast<hactl::ArbiterDaemon*>(h->data)->reload_keys();
      },
      SIGHUP);
  uv_run(loop, UV_RUN_DEFAULT);
  close_all(loop);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  spdlog::info("event=arbiter_stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  hactl::ArbiterOptions o;
  std::string log_level = "info";
  CLI::App app{
      "hactl-arbiter: the tie-breaking voter shared by 2-node hactl clusters (runs in the "
      "foreground)"};
  app.set_version_flag("--version", std::string("hactl-arbiter ") + hactl::kVersion);
  app.add_option("--listen", o.listen, "UDP address the nodes send to: IPv4:PORT or [IPv6]:PORT")
      ->capture_default_str();
  app.add_option("--keys", o.keys_dir,
                 "directory of CLUSTER.key files (`hactl arbiter key` writes them; mode 0600)")
      ->capture_default_str();
  app.add_option("--state-dir", o.state_dir,
                 "where each cluster's term and vote are kept (CLUSTER.state)")
      ->capture_default_str();
  app.add_option("--metrics", o.http,
                 "HTTP address of /metrics (Prometheus) and /status (JSON); keep it on loopback "
                 "unless a remote scraper needs it")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  std::signal(SIGPIPE, SIG_IGN);
  setup_logging(log_level);
  return run(o);
}
