// Control requests whose cost grows with what the client sends run on the request worker
// (agent/request_worker.hpp), not on the loop: `config-check` (hactl config diff), the check
// and plan of `config-apply`, `simulate` and `explain`. The loop takes a snapshot of what the
// work reads (configuration, document, cluster state), the worker computes the answer from the
// snapshot alone, and the loop delivers it (an apply is proposed then, if the configuration it
// was checked against is still the one in force).
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <set>

#include "agent/agent.hpp"
#include "common/host_check.hpp"
#include "coordinator/config_plan.hpp"
#include "coordinator/explain.hpp"
#include "coordinator/intents.hpp"
#include "coordinator/simulate.hpp"

namespace hactl {
namespace {

nlohmann::json invalid(const std::vector<ConfigError>& errors, const std::string& what) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : errors) list.push_back(e.to_string());
  return {{"error", what}, {"errors", list}};
}

// What a config check reads, copied on the loop.
struct CheckInput {
  std::string text;
  std::string path;
  ClusterConfig base;     // the configuration file's, without operator intents
  ClusterConfig current;  // in force (base and intents)
  ClusterDoc doc;
  ClusterState state;
  std::set<std::string> active;  // primitives that may be running anywhere
  std::int64_t unix = 0;
  std::string document_version;
  std::string self;  // this node: the host check is its own
  std::function<std::unique_ptr<HostFacts>()> host_facts;
};

struct CheckOutput {
  nlohmann::json answer;
  std::string dumped;  // the answer as text, made on the worker (config-check, a refusal)
  std::shared_ptr<const ClusterConfig> parsed;  // null: the answer is an error
  bool same = false;                            // the text in force already
  std::optional<HostReport> own;                // this host's check
  std::vector<std::string> removed;             // resource ids it drops (intents.hpp)
};

nlohmann::json findings_json(const std::vector<HostFinding>& findings) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& f : findings) {
    list.push_back({{"severity", f.severity == HostSeverity::kError ? "error" : "warning"},
                    {"node", f.node},
                    {"resource", f.resource},
                    {"field", f.field},
                    {"subject", std::string(to_string(f.subject))},
                    {"problem", std::string(to_string(f.problem))},
                    {"looked_for", f.looked_for},
                    {"reason", reason(f)},
                    {"file", f.file},
                    {"line", f.line},
                    {"column", f.column}});
  }
  return list;
}

// This node's host check of a submitted configuration (common/host_check.hpp), here on the
// worker: it reads interfaces, files and systemd. Nullopt where the agent has no host to ask.
std::optional<HostReport> own_report(const CheckInput& in, const ClusterConfig& cfg) {
  const auto self = cfg.find_node(in.self);
  if (!in.host_facts || !self) return std::nullopt;
  const auto facts = in.host_facts();
  return HostReport{true, "", check_host(cfg, *facts, *self)};
}

nlohmann::json nodes_json(const ClusterCheck& c) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [node, state] : c.nodes) j[node] = state;
  return j;
}

nlohmann::json host_refusal(const ClusterCheck& c) {
  nlohmann::json errors = nlohmann::json::array();
  for (const auto& f : c.findings) {
    if (f.severity == HostSeverity::kError) errors.push_back(to_string(f));
  }
  if (c.brief > 0) {
    errors.push_back("and " + std::to_string(c.brief) + " more findings, not itemized");
  }
  for (const auto& [node, state] : c.nodes) {
    if (state != "checked") errors.push_back(node + ": did not check its host: " + state);
  }
  return {{"error",
           "the configuration cannot run: what it adds or changes is missing on every node that "
           "checked it (each node's reason below); nothing was changed"},
          {"errors", errors},
          {"host_findings", findings_json(c.findings)},
          {"host_checked", nodes_json(c)}};
}

// One row per primitive of either configuration: how its definition changes, whether it may
// run now, and what the scheduler then does to it (coordinator/config_plan.hpp).
nlohmann::json plan_rows(const CheckInput& in, const ClusterConfig& next) {
  const ResourceConfig& rc = in.base.resources;
  const ResourceConfig& nrc = next.resources;
  const auto outcomes = plan_apply(in.current, effective_config(next, in.doc, in.unix), in.state);
  std::map<std::string, const ResourcePlan*> outcome_of;
  for (const auto& o : outcomes) outcome_of.emplace(o.resource, &o);
  auto row = [&](const std::string& id, const char* change, bool is_active) {
    const auto it = outcome_of.find(id);
    const ResourcePlan o = it == outcome_of.end() ? ResourcePlan{} : *it->second;
    return nlohmann::json{{"resource", id},
                          {"change", change},
                          {"active", is_active},
                          {"definition", std::string(to_string(o.definition))},
                          {"outcome", std::string(to_string(o.outcome))},
                          {"from", o.from},
                          {"to", o.to}};
  };
  // By id, once: ResourceConfig::primitive() is a linear search (quadratic over 20,000).
  std::map<std::string_view, const PrimitiveConfig*> before, after;
  for (const auto& p : rc.primitives) before.emplace(p.id, &p);
  for (const auto& q : nrc.primitives) after.emplace(q.id, &q);
  nlohmann::json plan = nlohmann::json::array();
  for (const auto& p : rc.primitives) {
    const auto found = after.find(p.id);
    const PrimitiveConfig* q = found == after.end() ? nullptr : found->second;
    const char* change = q == nullptr ? "remove" : !same_definition(p, *q) ? "redefine" : "keep";
    plan.push_back(row(p.id, change, in.active.contains(p.id)));
  }
  for (const auto& q : nrc.primitives) {
    if (!before.contains(q.id)) plan.push_back(row(q.id, "add", false));
  }
  return plan;
}

// The worker's part of config-check and config-apply: parse, compare, check this host, plan.
// Reads only `in`.
CheckOutput check_config_text(const CheckInput& in) {
  CheckOutput out;
  auto cfg = parse_config(in.text, in.path);
  if (!cfg) {
    out.answer = invalid(cfg.error(), "the configuration is invalid; nothing was changed");
    return out;
  }
  if (auto d = static_differences(in.base, cfg->config); !d.empty()) {
    out.answer = {{"error",
                   "these settings need every agent restarted with the new file, not apply; "
                   "nothing was changed"},
                  {"errors", d}};
    return out;
  }
  out.own = own_report(in, cfg->config);
  const nlohmann::json plan = plan_rows(in, cfg->config);
  // Top-level resources (current configuration) to stop first.
  const auto to_stop = stop_first(in.base.resources, cfg->config.resources, in.active);
  out.removed = removed_resources(in.base.resources, cfg->config.resources);
  out.same = in.text == in.doc.config_text;
  nlohmann::json warnings = nlohmann::json::array();
  for (const auto& w : cfg->warnings) warnings.push_back(w.path + ": " + w.message);
  out.answer = {{"valid", true},
                {"unchanged", out.same},
                {"plan", plan},
                {"stop_first", to_stop},
                {"warnings", warnings},
                {"config_version", in.doc.config_version},
                {"document_version", in.document_version}};
  out.parsed = std::make_shared<const ClusterConfig>(std::move(cfg->config));
  return out;
}

// The worker's part after the peers' reports are in: the verdict over every node's findings,
// located in the text. A refusal clears `out.parsed`; else the findings are warnings.
void finish_check(const CheckInput& in, CheckOutput& out, std::vector<NodeReport> reports,
                  NodeId self) {
  if (out.own) reports.insert(reports.begin(), NodeReport{self, std::move(out.own), ""});
  std::sort(reports.begin(), reports.end(),
            [](const NodeReport& a, const NodeReport& b) { return a.node < b.node; });
  ClusterCheck c = cluster_verdict(in.base, *out.parsed, std::move(reports));
  locate_findings(in.text, in.path, c.findings);
  if (c.refused) {
    out.answer = host_refusal(c);
    out.parsed.reset();
    return;
  }
  // Warnings only, here; hactl prints each after "warning: ", as the loader's.
  for (const auto& f : c.findings) out.answer["warnings"].push_back(located(f));
  if (c.brief > 0) {
    out.answer["warnings"].push_back("and " + std::to_string(c.brief) +
                                     " more host findings, not itemized");
  }
  out.answer["host_findings"] = findings_json(c.findings);
  out.answer["host_checked"] = nodes_json(c);
}

// What simulate reads, copied on the loop.
struct SimulateInput {
  nlohmann::json request;
  ClusterConfig base;
  ClusterConfig current;
  ClusterDoc doc;
  ClusterState state;
  std::int64_t unix = 0;
};

// The cluster as this node knows it now, under this configuration or a proposed one.
nlohmann::json simulate_answer(SimulateInput in) {
  const nlohmann::json& request = in.request;
  ClusterConfig cfg_used = std::move(in.current);
  ClusterState state = std::move(in.state);
  if (request.contains("text")) {
    auto cfg =
        parse_config(request.value("text", std::string()), request.value("path", std::string("-")));
    if (!cfg) return invalid(cfg.error(), "the configuration is invalid");
    if (auto d = static_differences(in.base, cfg->config); !d.empty()) {
      return {{"error", "simulate takes a configuration of the same nodes and timing"},
              {"errors", d}};
    }
    cfg_used = effective_config(cfg->config, in.doc, in.unix);
    // What is known of primitives the two share carries over; new ones are stopped.
    ClusterState next = state;
    next.roles.clear();
    next.failed.clear();
    next.settling.clear();
    next.failures.clear();
    for (const auto& p : cfg_used.resources.primitives) {
      const auto n = cfg_used.nodes.size();
      auto take = [&](auto& to, const auto& from, auto none) {
        const auto it = from.find(p.id);
        to[p.id] = it != from.end() ? it->second : decltype(it->second)(n, none);
      };
      take(next.roles, state.roles, ResourceRole::kStopped);
      take(next.failed, state.failed, false);
      take(next.settling, state.settling, false);
      take(next.failures, state.failures, FailureRecord{});
    }
    state = std::move(next);
  }
  SimulateRequest sr;
  for (const auto& k : request.value("kill", nlohmann::json::array())) sr.kill.push_back(k);
  for (const auto& f : request.value("fail", nlohmann::json::array())) sr.fail.push_back(f);
  auto r = simulate(cfg_used, std::move(state), sr);
  if (!r) return {{"error", r.error()}};
  nlohmann::json j = to_json(*r);
  j["text"] = format_transition(*r);
  if (request.value("dump_state", false)) j["state_yaml"] = write_state_yaml(cfg_used, r->state);
  return j;
}

}  // namespace

// Work on the worker, `done` on the loop after it; a refusal when the worker is full, "given
// up" at the deadline.
void Agent::submit_off_loop(std::function<void()> work, std::function<void()> done,
                            ControlServer::Reply reply) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(worker_->deadline());
  const bool queued = worker_->submit(std::move(work), std::move(done), [reply, seconds] {
    reply({{"error", "the request was not done within " + std::to_string(seconds.count()) +
                         " s and was given up; nothing was changed"}});
  });
  if (!queued) {
    reply({{"error", "busy: " + std::to_string(worker_->pending()) +
                         " requests are being worked on; nothing was changed, try again"}});
  }
}

void Agent::off_loop(ControlServer::Reply reply, std::function<nlohmann::json()> work) {
  // Serialized there too: a simulation or explanation of 20,000 primitives is megabytes of text.
  auto result = std::make_shared<std::string>();
  submit_off_loop(
      [result, work = std::move(work)] {
        try {
          *result = ControlServer::dump(work());
        } catch (const std::exception& e) {  // a member of the wrong type, read late
          *result = ControlServer::dump({{"error", std::string("malformed request: ") + e.what()}});
        }
      },
      [result, reply] { reply.text(std::move(*result)); }, reply);
}

void Agent::parse_off_loop(ParseRequest request) {
  auto in = std::make_shared<const ParseRequest>(std::move(request));
  auto result = std::make_shared<ParseResult>();
  auto back = [this, in](ParseResult r) {
    if (fatal_ || !rt_) return;
    rt_->on_parsed(in->text, std::move(r), now());
    process();
  };
  auto failure = [in](const std::string& why) -> ParseResult {
    return std::unexpected(std::vector<ConfigError>{ConfigError{in->source, 0, 0, "", why}});
  };
  const bool queued = parse_worker_->submit(
      [in, result] { *result = parse_config(in->text, in->source); },
      [result, back] { back(std::move(*result)); },
      // The worker may still be writing `result` past its deadline: not read then.
      [back, failure] {
        back(failure("not parsed within " + std::to_string(kParseDeadline.count() / 1'000'000) +
                     " s"));
      });
  // Not expected (the runtime asks for no more than the worker takes). Answered without a
  // process() of its own: this runs inside one, whose output goes first.
  if (!queued)
    rt_->on_parsed(in->text, failure("busy: too many configurations being parsed"), now());
}

void Agent::simulate_off_loop(const nlohmann::json& request, ControlServer::Reply reply) {
  const Instant t = now();
  auto in = std::make_shared<SimulateInput>(
      SimulateInput{request, base(), config(), doc(),
                    host().conductor().state(rt_->membership(t), t), unix_now()});
  off_loop(std::move(reply), [in] { return simulate_answer(std::move(*in)); });
}

void Agent::explain_off_loop(const nlohmann::json& request, ControlServer::Reply reply) {
  const Instant t = now();
  std::optional<std::string> node;
  if (const auto n = request.value("node", std::string()); !n.empty()) node = n;
  ExplainContext context;
  context.quorum = core().has_quorum(t);
  context.now_unix = unix_now();
  const std::string resource = request.value("resource", std::string());
  if (const auto top = top_level_resource(config().resources, resource)) {
    context.availability = availability_json(primitives_of(config().resources, *top))["resources"];
  }
  auto cfg = std::make_shared<const ClusterConfig>(config());
  auto state =
      std::make_shared<const ClusterState>(host().conductor().state(rt_->membership(t), t));
  off_loop(std::move(reply), [cfg, state, resource, node, context]() -> nlohmann::json {
    auto r = explain(*cfg, *state, resource, node, context);
    if (!r) return {{"error", r.error()}};
    return *r;
  });
}

void Agent::config_check_off_loop(ControlVerb cmd, const nlohmann::json& request,
                                  const PeerCredentials& cred, ControlServer::Reply reply) {
  const Instant t = now();
  auto in = std::make_shared<CheckInput>();
  in->text = request.value("text", std::string());
  in->path = request.value("path", std::string("-"));
  in->base = base();
  in->current = config();
  in->doc = doc();
  in->state = host().conductor().state(rt_->membership(t), t);
  in->active = rt_->possibly_active(t);
  in->unix = unix_now();
  in->document_version = show(rt_->replica()->doc().version);
  in->self = base().node(options_.self).name;
  in->host_facts = options_.host_facts;
  auto out = std::make_shared<CheckOutput>();
  ApplyRequest apply;
  apply.by = caller(cred) + " from " + in->path;
  apply.checked_version = in->doc.config_version;
  apply.enable = request.value("enable", nlohmann::json());
  apply.timeout = request.value("timeout_s", nlohmann::json());
  submit_off_loop(
      [in, out] {
        try {
          *out = check_config_text(*in);
        } catch (const std::exception& e) {
          out->answer = {{"error", std::string("the check failed: ") + e.what()}};
          out->parsed.reset();
        }
      },
      [this, in, out, cmd, apply = std::move(apply), reply] {
        if (!out->parsed) return reply(out->answer);
        auto verdict = [this, in, out, cmd, apply, reply](std::vector<NodeReport> reports) {
          const NodeId self = options_.self;
          submit_off_loop(
              [in, out, reports = std::move(reports), self, cmd]() mutable {
                try {
                  finish_check(*in, *out, std::move(reports), self);
                } catch (const std::exception& e) {
                  out->answer = {{"error", std::string("the check failed: ") + e.what()}};
                  out->parsed.reset();
                }
                if (cmd != ControlVerb::kConfigApply || !out->parsed) {
                  out->dumped = ControlServer::dump(out->answer);
                  out->answer = nullptr;
                  out->parsed.reset();
                }
                // What only the worker read is freed here, not on the loop (20,000 primitives
                // of configuration and a plan row each take milliseconds to free).
                in->base = {};
                in->current = {};
                in->doc = {};
                in->state = {};
                in->active.clear();
              },
              [this, in, out, cmd, apply, reply] {
                if (cmd != ControlVerb::kConfigApply || !out->parsed)
                  return reply.text(std::move(out->dumped));
                finish_apply(apply, in->text, std::move(out->removed), out->same, out->answer,
                             reply);
              },
              reply);
        };
        // What runs already needs no other node's word.
        if (out->same) return verdict({});
        if (!gather_host_checks(in->text, std::move(verdict))) {
          reply({{"error", "busy: " + std::to_string(kMaxHostCheckRounds) +
                               " configurations are being checked on every node; nothing was "
                               "changed, try again"}});
        }
      },
      reply);
}

bool Agent::gather_host_checks(std::string text, HostChecksDone then) {
  // Each check sends its text to every peer: a caller asking faster than they answer would
  // keep the network busy with them.
  if (rt_->host_check_rounds() >= kMaxHostCheckRounds) return false;
  const std::uint64_t id = rt_->start_host_check(std::move(text), now(), kHostCheckTimeout);
  host_check_waiters_.emplace(id, std::move(then));
  process();
  return true;
}

void Agent::host_checks_done(std::vector<HostCheckRound> rounds) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(kHostCheckTimeout);
  for (auto& round : rounds) {
    const auto w = host_check_waiters_.find(round.id);
    if (w == host_check_waiters_.end()) continue;
    HostChecksDone then = std::move(w->second);
    host_check_waiters_.erase(w);
    std::vector<NodeReport> reports;
    std::set<NodeId> asked;
    for (auto& [node, report] : round.reports) {
      asked.insert(node);
      reports.push_back(NodeReport{node, std::move(report),
                                   "no answer within " + std::to_string(seconds.count()) + " s"});
    }
    for (std::size_t i = 0; i < base().nodes.size(); ++i) {
      const NodeId id{static_cast<std::uint16_t>(i)};
      if (id == options_.self || base().nodes[i].witness || asked.contains(id)) continue;
      reports.push_back(
          NodeReport{id, std::nullopt, "not reachable from " + base().node(options_.self).name});
    }
    then(std::move(reports));
  }
}

void Agent::host_check_off_loop(HostCheckAsk ask) {
  auto report = std::make_shared<HostReport>();
  auto back = [this, ask](const HostReport& r) {
    if (fatal_ || !rt_) return;
    rt_->on_host_checked(ask.asker, ask.id, r);
    process();
  };
  const NodeId self = options_.self;
  const auto facts = options_.host_facts;
  const std::string source = "the configuration " + base().node(ask.asker).name + " asked about";
  const bool queued = worker_->submit(
      [ask, report, self, facts, source] {
        try {
          auto cfg = parse_config(*ask.text, source);
          if (!cfg) {
            *report =
                HostReport{false, "it does not parse here: " + cfg.error().front().to_string(), {}};
          } else if (!facts || self.value >= cfg->config.nodes.size()) {
            *report = HostReport{false, "this agent does not check its host", {}};
          } else {
            *report = HostReport{true, "", check_host(cfg->config, *facts(), self)};
          }
        } catch (const std::exception& e) {
          *report = HostReport{false, std::string("the check failed: ") + e.what(), {}};
        }
      },
      [report, back] { back(*report); },
      // The worker may still be writing `report` past its deadline: not read then.
      [back, seconds = std::chrono::duration_cast<std::chrono::seconds>(worker_->deadline())] {
        back(HostReport{false, "not checked within " + std::to_string(seconds.count()) + " s", {}});
      });
  // Answered at the next process() (this runs inside one).
  if (!queued) {
    rt_->on_host_checked(ask.asker, ask.id,
                         HostReport{false, "busy: its request worker is full", {}});
  }
}

}  // namespace hactl
