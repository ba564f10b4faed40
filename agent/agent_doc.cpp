// The agent's side of the cluster document: load and store it, hand the replica its messages,
// run on the configuration it holds, and turn operators' write verbs into proposals.
#include <grp.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>

#include "agent/agent.hpp"
#include "common/assert.hpp"
#include "common/limits.hpp"
#include "common/suggest.hpp"
#include "coordinator/config_plan.hpp"
#include "coordinator/explain.hpp"
#include "coordinator/simulate.hpp"

namespace hactl {
namespace {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string show(DocVersion v) {
  return std::to_string(v.term.value) + "." + std::to_string(v.revision);
}

std::vector<std::string> node_names(const ClusterConfig& c) {
  std::vector<std::string> out;
  for (const auto& n : c.nodes) out.push_back(n.name);
  return out;
}

std::vector<std::string> resource_names(const ResourceConfig& rc) {
  std::vector<std::string> out;
  for (const auto& p : rc.primitives) out.push_back(p.id);
  for (const auto& g : rc.groups) out.push_back(g.id);
  for (const auto& c : rc.clones) out.push_back(c.id);
  return out;
}

bool in_group(gid_t want, const PeerCredentials& cred) {
  if (cred.gid == want) return true;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwuid_r(cred.uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return false;
  }
  int count = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<std::size_t>(count));
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0) return false;
  }
  groups.resize(static_cast<std::size_t>(count));
  return std::find(groups.begin(), groups.end(), want) != groups.end();
}

bool member_of(const std::string& group_name, const PeerCredentials& cred) {
  if (group_name.empty()) return false;
  const group* g = ::getgrnam(group_name.c_str());
  return g != nullptr && in_group(g->gr_gid, cred);
}

}  // namespace

bool Agent::may_write(const PeerCredentials& cred) const {
  return cred.uid == 0 || member_of(options_.config.admin_group, cred);
}

bool Agent::may_read(const PeerCredentials& cred) const {
  return may_write(cred) || member_of(options_.config.read_group, cred);
}

std::string Agent::caller(const PeerCredentials& cred) const {
  std::string who = "uid " + std::to_string(cred.uid);
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwuid_r(cred.uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    who += " (" + std::string(pw.pw_name) + ")";
  }
  return who;
}

std::expected<void, std::string> Agent::start_docs() {
  const std::string self = options_.config.node(options_.self).name;
  ClusterDoc fresh;
  fresh.config_version = 1;
  fresh.config_text = options_.config_text;
  fresh.config_applied = unix_now();
  fresh.config_by = options_.config_path + " on " + self;
  StoredDoc initial{DocVersion{}, doc_to_bytes(fresh)};
  auto stored = doc_store_.load();
  if (!stored) return std::unexpected(stored.error());
  if (*stored) {
    auto parsed = doc_from_bytes((*stored)->bytes);
    std::string why;
    if (parsed) {
      auto cfg = parse_config(parsed->config_text, doc_store_.path());
      if (!cfg) {
        why = cfg.error().front().to_string();
      } else if (auto d = static_differences(options_.config, cfg->config); !d.empty()) {
        why = "its nodes or timing differ from " + options_.config_path + " (" + d.front() + ")";
      }
    } else {
      why = parsed.error();
    }
    if (why.empty()) {
      initial = **stored;
    } else {
      spdlog::warn("event=stored_document_ignored path={} reason=\"{}\" effect=\"starts from {}\"",
                   doc_store_.path(), why, options_.config_path);
    }
  }
  const Duration resend = std::max<Duration>(5 * options_.config.timing.heartbeat_interval,
                                             std::chrono::milliseconds(100));
  docs_ = std::make_unique<DocReplica>(
      options_.config.nodes.size(), options_.self, resend, initial,
      [this](const std::string& b) { return validate_doc(b); }, persisted_.incarnation);
  doc_ = *doc_from_bytes(initial.bytes);
  auto cfg = parse_config(doc_.config_text, doc_store_.path());
  HACTL_ASSERT(cfg.has_value());
  base_ = std::move(cfg->config);
  applied_text_ = doc_.config_text;
  options_.config.resources = base_.resources;
  options_.config.config_id = base_.config_id;
  options_.config.failback = base_.failback;  // the cluster's defaults apply without a restart
  options_.config.flap_damping = base_.flap_damping;
  // Node capacities too (the node list itself needs a restart: static_differences).
  for (std::size_t i = 0; i < options_.config.nodes.size() && i < base_.nodes.size(); ++i)
    options_.config.nodes[i].capacity = base_.nodes[i].capacity;
  options_.config.resources.locations =
      effective_config(base_, doc_, unix_now()).resources.locations;
  intents_until_ = -1;  // standby, maintenance and expiries applied at the first process()
  spdlog::info("event=document_loaded version={} config_version={} source=\"{}\"",
               show(initial.version), doc_.config_version,
               initial.version == DocVersion{} ? options_.config_path : doc_store_.path());
  if (applied_text_ != options_.config_text) {
    spdlog::warn(
        "event=config_from_cluster config_version={} note=\"{} differs from the configuration "
        "the cluster runs (see hactl config show); apply it with hactl config apply\"",
        doc_.config_version, options_.config_path);
    const std::string applied = options_.state_dir + "/hactl-" + self + ".applied.yaml";
    if (replace_file_atomically(options_.state_dir, applied, applied_text_)) {
      vip_guard_.reload_definitions(applied);
    }
  }
  return {};
}

void Agent::run_docs(Instant t) {
  const std::string& self = options_.config.node(options_.self).name;
  docs_->tick(resources_->membership(*core_, t), core_->coordinator(), t);
  DocOutput out = docs_->take();
  if (out.store) {
    auto parsed = doc_from_bytes(out.store->bytes);
    // Stored before any acknowledgement leaves: the majority that commits a change has it on disk.
    if (auto r = doc_store_.save(*out.store, parsed ? *parsed : ClusterDoc{}); !r) {
      spdlog::critical("event=persist_failed what=document error=\"{}\" action=exit", r.error());
      fatal_ = true;
      stop();
      return;
    }
    core_->set_doc_version(out.store->version);
    if (parsed) {
      doc_ = std::move(*parsed);
      apply_doc();
    } else {
      spdlog::error("event=document_unreadable version={} error=\"{}\"", show(out.store->version),
                    parsed.error());
    }
  }
  for (const auto& [to, msg] : out.messages) transport_->send(to, msg);
  for (const auto& line : out.events) spdlog::info("{} node={}", line, self);
  for (const auto& o : out.outcomes) {
    const auto it = waiting_.find(o.id);
    if (it == waiting_.end()) continue;
    auto [reply, answer] = std::move(it->second);
    waiting_.erase(it);
    if (o.ok) {
      answer["ok"] = true;
      answer["changed"] = true;
      answer["document_version"] = show(o.version);
      reply(answer);
    } else {
      reply({{"error", o.error}});
    }
  }
  refresh_effective(t);
  // The coordinator's own node in standby: once a majority stored that (handing over before
  // would fail the operator's request), the role goes to another node, which moves what runs.
  // Tried once per document version (a node that cannot hand over says so once).
  const auto committed = docs_->committed();
  const DocVersion version = docs_->doc().version;
  if (core_->role() == Role::kCoordinator && committed && *committed >= version &&
      standby_handover_tried_ != version &&
      standby_nodes(options_.config, doc_)[options_.self.value]) {
    standby_handover_tried_ = version;
    hand_over_role({});
  }
}

void Agent::apply_doc() {
  intents_until_ = -1;  // recompute the constraints from the intents
  if (doc_.config_text == applied_text_) {
    pending_base_.reset();
    return;
  }
  auto cfg = parse_config(doc_.config_text,
                          "configuration version " + std::to_string(doc_.config_version));
  if (!cfg) {
    spdlog::error("event=config_refused version={} error=\"{}\"", doc_.config_version,
                  cfg.error().front().to_string());
    return;
  }
  if (auto d = static_differences(options_.config, cfg->config); !d.empty()) {
    spdlog::error(
        "event=config_refused version={} error=\"{}\" effect=\"restart every agent with "
        "the new file\"",
        doc_.config_version, d.front());
    return;
  }
  pending_base_ = std::move(cfg->config);
}

void Agent::refresh_effective(Instant t) {
  const std::int64_t unix = unix_now();
  if (pending_base_ && executor_->busy() == 0 && !resources_->leaving()) {
    rebuild_resources(std::move(*pending_base_), t);
    pending_base_.reset();
    intents_until_ = -1;
  }
  if (intents_until_ >= 0 && (intents_until_ == 0 || unix < intents_until_)) return;
  options_.config.resources.locations = effective_config(base_, doc_, unix).resources.locations;
  resources_->set_standby(standby_nodes(options_.config, doc_));
  resources_->set_held(held_resources(options_.config.resources, doc_));
  const auto maintenance = maintenance_nodes(options_.config, doc_);
  resources_->set_maintenance(maintenance);
  if (maintenance[options_.self.value] != guard_maintenance_) {
    guard_maintenance_ = maintenance[options_.self.value];
    vip_guard_.set_maintenance(guard_maintenance_);
  }
  intents_until_ = next_expiry(doc_, unix).value_or(0);
}

void Agent::rebuild_resources(ClusterConfig base, Instant t) {
  const std::string self = options_.config.node(options_.self).name;
  base_ = std::move(base);
  applied_text_ = doc_.config_text;
  // What the new list drops or redefines was stopped before the document was accepted
  // (`hactl config apply` stops it first, the coordinator refuses otherwise). If this node
  // still shows it running or acting (a race with a start), it is stopped here, with its old
  // definition, so nothing runs that no configuration knows.
  if (!options_.config.node(options_.self).witness) {
    auto old = std::make_unique<ResourceConfig>(options_.config.resources);
    const NodeView& own = resources_->conductor().views()[options_.self.value];
    std::vector<std::pair<std::string, bool>> orphans;  // id, promoted
    for (std::size_t k = 0; k < old->primitives.size(); ++k) {
      const PrimitiveConfig& p = old->primitives[k];
      const PrimitiveConfig* q = base_.resources.primitive(p.id);
      if (q != nullptr && same_definition(p, *q)) continue;
      const bool known = own.complete && k < own.entries.size();
      if (known && own.entries[k].role == ResourceRole::kStopped && !own.entries[k].busy) {
        continue;
      }
      orphans.emplace_back(p.id, known && own.entries[k].role == ResourceRole::kPromoted);
    }
    if (!orphans.empty()) {
      auto ex = std::make_unique<Executor>(loop_, *old, [self](const OpResult& r) {
        spdlog::info("event=orphan_action resource={} action={} code={} node={}", r.resource,
                     r.action, static_cast<int>(r.code), self);
      });
      ex->set_vip_guard(&vip_guard_);
      ex->set_spawn_pacer(&spawn_pacer_);
      std::uint64_t call = 1;
      for (const auto& [id, promoted] : orphans) {
        spdlog::warn(
            "event=orphan_stop resource={} node={} reason=\"dropped or redefined by "
            "configuration version {} while it may run here\"",
            id, self, doc_.config_version);
        if (promoted) ex->submit(OpRequest{call++, id, "demote", Duration{0}});
        ex->submit(OpRequest{call++, id, "stop", Duration{0}});
      }
      orphans_.emplace_back(std::move(old), std::move(ex));
    }
  }
  // The executor and the resource host are rebuilt on the new list, as an agent restart would:
  // what runs here is probed and kept (this node's lease still covers it).
  executor_->close();
  retired_executors_.push_back(std::move(executor_));
  ++executor_generation_;
  options_.config.resources = base_.resources;
  options_.config.config_id = base_.config_id;
  options_.config.failback = base_.failback;  // the cluster's defaults apply without a restart
  options_.config.flap_damping = base_.flap_damping;
  // Node capacities too (the node list itself needs a restart: static_differences).
  for (std::size_t i = 0; i < options_.config.nodes.size() && i < base_.nodes.size(); ++i)
    options_.config.nodes[i].capacity = base_.nodes[i].capacity;
  open_executor();
  auto previous = std::move(resources_);
  resources_ =
      std::make_unique<ResourceHost>(options_.config, options_.self, t, lease_written_.value_or(t));
  resources_->inherit(*previous);
  resources_->set_incarnation(persisted_.incarnation);
  tell_macs();
  const std::string applied = options_.state_dir + "/hactl-" + self + ".applied.yaml";
  if (auto r = replace_file_atomically(options_.state_dir, applied, applied_text_); r) {
    vip_guard_.reload_definitions(applied);
  } else {
    spdlog::error("event=guard_not_told error=\"{}\"", r.error());
  }
  start_alerts();
  spdlog::info("event=config_applied node={} config_version={} primitives={}", self,
               doc_.config_version, options_.config.resources.primitives.size());
}

std::string Agent::validate_doc(const std::string& bytes) const {
  auto next = doc_from_bytes(bytes);
  if (!next) return "not a cluster document: " + next.error();
  if (next->config_text.size() > limits::kMaxConfigBytes) return "the configuration is too large";
  auto cfg = parse_config(next->config_text,
                          "configuration version " + std::to_string(next->config_version));
  if (!cfg) {
    std::string all = "the configuration is invalid:";
    for (const auto& e : cfg.error()) all += "\n  " + e.to_string();
    return all;
  }
  if (auto d = static_differences(options_.config, cfg->config); !d.empty()) {
    std::string all = "these settings need every agent restarted with the new file, not apply:";
    for (const auto& line : d) all += "\n  " + line;
    return all;
  }
  for (const auto& n : next->standby) {
    if (!cfg->config.find_node(n)) return "standby names an unknown node '" + n + "'";
  }
  // Nothing active may be removed or redefined by the document itself: it must be stopped
  // first, or its old and new definitions could run at once on two nodes.
  if (next->config_text != applied_text_) {
    std::vector<std::string> active;
    const auto maybe = possibly_active();
    for (const auto& p : base_.resources.primitives) {
      const PrimitiveConfig* q = cfg->config.resources.primitive(p.id);
      if (q != nullptr && same_definition(p, *q)) continue;
      if (maybe.count(p.id) != 0) active.push_back(p.id);
    }
    if (!active.empty()) {
      std::string all =
          "the new configuration removes or redefines resources that are active; "
          "disable them first (hactl config apply does that for you):";
      for (const auto& a : active) all += "\n  " + a;
      return all;
    }
  }
  return {};
}

std::set<std::string> Agent::possibly_active() const {
  const Instant t = now();
  const Membership m = resources_->membership(*core_, t);
  const Conductor& c = resources_->conductor();
  const ClusterState s = c.state(m, t);
  std::set<std::string> out;
  const auto& prims = options_.config.resources.primitives;
  for (std::size_t k = 0; k < prims.size(); ++k) {
    const auto& roles = s.roles.at(prims[k].id);
    if (c.possibly_active(static_cast<std::uint32_t>(k), m) ||
        std::any_of(roles.begin(), roles.end(),
                    [](ResourceRole r) { return r != ResourceRole::kStopped; })) {
      out.insert(prims[k].id);
    }
  }
  return out;
}

void Agent::propose(const ClusterDoc& next, ControlServer::Reply reply, nlohmann::json ok_answer) {
  if (next == doc_) {
    ok_answer["ok"] = true;
    ok_answer["changed"] = false;
    ok_answer["document_version"] = show(docs_->doc().version);
    reply(ok_answer);
    return;
  }
  const Instant t = now();
  const std::uint64_t id =
      docs_->propose(doc_to_bytes(next), docs_->doc().version, t, t + std::chrono::seconds(10));
  waiting_.emplace(id, std::make_pair(std::move(reply), std::move(ok_answer)));
  process();
}

nlohmann::json Agent::plan_intent(const ClusterDoc& next, const std::string& resource,
                                  const std::optional<std::string>& to, bool must_run,
                                  std::string& refusal) const {
  const Instant t = now();
  ClusterState state = resources_->conductor().state(resources_->membership(*core_, t), t);
  const ClusterConfig config = effective_config(base_, next, unix_now());
  auto r = check_intent(config, std::move(state), resource, to, must_run);
  if (!r) {
    refusal = r.error();
    return {};
  }
  nlohmann::json plan = to_json(r->result);
  plan["text"] = format_transition(r->result);
  plan["nodes"] = r->nodes;
  if (r->refusal) refusal = *r->refusal;
  return plan;
}

void Agent::hold_resource(const HoldRequest& h) {
  ClusterDoc next = doc_;
  if (std::any_of(next.held.begin(), next.held.end(),
                  [&](const FlapHold& f) { return f.resource == h.resource; })) {
    return;
  }
  next.held.push_back(FlapHold{h.resource, options_.config.node(h.node).name, unix_now(), h.moves,
                               std::chrono::duration_cast<std::chrono::seconds>(h.within).count()});
  std::sort(next.held.begin(), next.held.end(),
            [](const FlapHold& a, const FlapHold& b) { return a.resource < b.resource; });
  propose(next,
          [resource = h.resource](const nlohmann::json& r) {
            if (r.contains("error")) {
              spdlog::error("event=flap_hold_not_stored resource={} error=\"{}\"", resource,
                            r["error"].get<std::string>());
            }
          },
          {{"resource", h.resource}});
}

void Agent::reload() {
  std::ifstream f(options_.config_path, std::ios::binary);
  if (!f) {
    spdlog::error("event=reload_failed path={} error=\"cannot read it\"", options_.config_path);
    return;
  }
  std::ostringstream text;
  text << f.rdbuf();
  spdlog::info("event=reload path={}", options_.config_path);
  const nlohmann::json request = {
      {"cmd", "config-apply"}, {"text", text.str()}, {"path", options_.config_path}};
  handle_doc_request("config-apply", request, PeerCredentials{0, 0},
                     [path = options_.config_path](const nlohmann::json& r) {
                       if (r.contains("error")) {
                         std::string why = r["error"].get<std::string>();
                         for (const auto& e : r.value("errors", nlohmann::json::array()))
                           why += "; " + e.get<std::string>();
                         spdlog::error("event=reload_refused path={} error=\"{}\"", path, why);
                       } else {
                         spdlog::info("event=reload_done path={} config_version={} changed={}",
                                      path, r.value("config_version", std::uint64_t{0}),
                                      r.value("changed", false));
                       }
                     });
}

nlohmann::json Agent::simulate_json(const nlohmann::json& request) const {
  // The cluster as this node knows it now, under this configuration or a proposed one.
  const Instant t = now();
  ClusterState state = resources_->conductor().state(resources_->membership(*core_, t), t);
  ClusterConfig config = options_.config;
  if (request.contains("text")) {
    auto cfg =
        parse_config(request.value("text", std::string()), request.value("path", std::string("-")));
    if (!cfg) {
      nlohmann::json errors = nlohmann::json::array();
      for (const auto& e : cfg.error()) errors.push_back(e.to_string());
      return {{"error", "the configuration is invalid"}, {"errors", errors}};
    }
    if (auto d = static_differences(base_, cfg->config); !d.empty()) {
      return {{"error", "simulate takes a configuration of the same nodes and timing"},
              {"errors", d}};
    }
    config = effective_config(cfg->config, doc_, unix_now());
    // What is known of primitives the two share carries over; new ones are stopped.
    ClusterState next = state;
    next.roles.clear();
    next.failed.clear();
    next.settling.clear();
    next.failures.clear();
    for (const auto& p : config.resources.primitives) {
      const auto n = config.nodes.size();
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
  auto r = simulate(config, std::move(state), sr);
  if (!r) return {{"error", r.error()}};
  nlohmann::json j = to_json(*r);
  j["text"] = format_transition(*r);
  if (request.value("dump_state", false)) j["state_yaml"] = write_state_yaml(config, r->state);
  return j;
}

nlohmann::json Agent::explain_json(const nlohmann::json& request) const {
  const Instant t = now();
  const ClusterState state = resources_->conductor().state(resources_->membership(*core_, t), t);
  std::optional<std::string> node;
  if (const auto n = request.value("node", std::string()); !n.empty()) node = n;
  ExplainContext context;
  context.quorum = core_->has_quorum(t);
  context.now_unix = unix_now();
  if (const auto top =
          top_level_resource(options_.config.resources, request.value("resource", std::string()))) {
    context.availability =
        availability_json(primitives_of(options_.config.resources, *top))["resources"];
  }
  auto r = explain(options_.config, state, request.value("resource", std::string()), node, context);
  if (!r) return {{"error", r.error()}};
  return *r;
}

nlohmann::json Agent::doc_json() const {
  const std::int64_t unix = unix_now();
  nlohmann::json placements = nlohmann::json::array();
  for (const auto& p : doc_.placements) {
    if (p.expires != 0 && p.expires <= unix) continue;
    placements.push_back(
        {{"kind", to_string(p.kind)},
         {"resource", p.resource},
         {"node", p.node},
         {"created", p.created},
         {"expires", p.expires == 0 ? nlohmann::json(nullptr) : nlohmann::json(p.expires)},
         {"expires_in_s",
          p.expires == 0 ? nlohmann::json(nullptr) : nlohmann::json(p.expires - unix)},
         {"by", p.by}});
  }
  nlohmann::json held = nlohmann::json::array();
  for (const auto& h : doc_.held) {
    held.push_back({{"resource", h.resource},
                    {"node", h.node},
                    {"since", h.since},
                    {"moves", h.moves},
                    {"within_s", h.within}});
  }
  return {{"version", show(docs_->doc().version)},
          {"config_version", doc_.config_version},
          {"config_applied", doc_.config_applied},
          {"config_by", doc_.config_by},
          {"config_pending", pending_base_.has_value()},
          {"standby", doc_.standby},
          {"maintenance", doc_.maintenance},
          {"placements", placements},
          {"disabled", doc_.disabled},
          {"held", held}};
}

void Agent::handle_doc_request(const std::string& cmd, const nlohmann::json& request,
                               const PeerCredentials& cred, ControlServer::Reply reply) {
  const ResourceConfig& rc = base_.resources;
  const std::int64_t unix = unix_now();
  auto fail = [&](const std::string& m) { reply({{"error", m}}); };
  // Operands, checked with a suggestion for a typo.
  auto node_arg = [&](const char* key, bool runs_resources) -> std::optional<std::string> {
    const std::string name = request.value(key, std::string());
    const auto id = base_.find_node(name);
    if (!id) {
      fail(unknown_name_message("node", name, node_names(base_)));
      return std::nullopt;
    }
    if (runs_resources && base_.node(*id).witness) {
      fail("node '" + name + "' is a witness: it never runs resources");
      return std::nullopt;
    }
    return name;
  };
  auto resource_arg = [&]() -> std::optional<std::string> {
    const std::string name = request.value("resource", std::string());
    const auto top = top_level_resource(rc, name);
    if (!top) {
      fail(unknown_name_message("resource", name, resource_names(rc)));
      return std::nullopt;
    }
    return top;
  };
  // lifetime_s: absent or 0, the default lifetime; negative, until cleared.
  auto expires_arg = [&]() -> std::int64_t {
    const std::int64_t lifetime = request.value("lifetime_s", std::int64_t{0});
    if (lifetime < 0) return 0;
    return unix + (lifetime > 0 ? lifetime : kDefaultIntentLifetimeSeconds);
  };
  // A move or ban: what it would do (--dry-run answers with that and changes nothing); a move
  // the scheduler would not carry out is refused with why, and nothing is written.
  auto place = [&](const ClusterDoc& next, const std::string& res,
                   const std::optional<std::string>& to, bool must_run, nlohmann::json answer) {
    std::string refusal;
    nlohmann::json plan = plan_intent(next, res, to, must_run, refusal);
    if (!refusal.empty()) {
      reply({{"error", refusal}, {"errors", nlohmann::json::array({plan.value("text", "")})}});
      return;
    }
    if (request.value("dry_run", false)) {
      answer["ok"] = true;
      answer["dry_run"] = true;
      answer["changed"] = false;
      answer["plan"] = plan;
      reply(answer);
      return;
    }
    propose(next, std::move(reply), answer);
  };
  ClusterDoc next = doc_;
  // Expired intents are dropped by any change.
  std::erase_if(next.placements,
                [&](const PlacementIntent& p) { return p.expires != 0 && p.expires <= unix; });

  if (cmd == "config-show") {
    if (request.contains("version")) {
      const auto v = request["version"].get<std::uint64_t>();
      const auto info = doc_store_.config_version(v);
      if (!info) {
        std::string kept;
        for (const auto& h : doc_store_.history()) kept += " " + std::to_string(h.version);
        return fail("configuration version " + std::to_string(v) +
                    " is not in this node's history (kept:" + kept + ")");
      }
      return reply({{"version", info->version},
                    {"applied", info->applied},
                    {"by", info->by},
                    {"text", info->text}});
    }
    return reply({{"version", doc_.config_version},
                  {"applied", doc_.config_applied},
                  {"by", doc_.config_by},
                  {"text", doc_.config_text},
                  {"document", doc_json()}});
  }
  if (cmd == "config-history") {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& h : doc_store_.history()) {
      list.push_back({{"version", h.version},
                      {"applied", h.applied},
                      {"by", h.by},
                      {"current", h.version == doc_.config_version}});
    }
    return reply({{"versions", list}});
  }
  if (cmd == "config-check" || cmd == "config-apply") {
    const std::string text = request.value("text", std::string());
    const std::string path = request.value("path", std::string("-"));
    auto cfg = parse_config(text, path);
    if (!cfg) {
      nlohmann::json errors = nlohmann::json::array();
      for (const auto& e : cfg.error()) errors.push_back(e.to_string());
      return reply(
          {{"error", "the configuration is invalid; nothing was changed"}, {"errors", errors}});
    }
    if (auto d = static_differences(base_, cfg->config); !d.empty()) {
      return reply({{"error",
                     "these settings need every agent restarted with the new file, not apply; "
                     "nothing was changed"},
                    {"errors", d}});
    }
    // The plan: what applying it does to each primitive.
    const auto maybe = possibly_active();
    auto active = [&](const std::string& id) { return maybe.count(id) != 0; };
    const ResourceConfig& nrc = cfg->config.resources;
    // What the scheduler then does to each primitive (coordinator/config_plan.hpp).
    const Instant t = now();
    const auto outcomes =
        plan_apply(options_.config, effective_config(cfg->config, doc_, unix),
                   resources_->conductor().state(resources_->membership(*core_, t), t));
    auto outcome_of = [&](const std::string& id) {
      for (const auto& o : outcomes) {
        if (o.resource == id) return o;
      }
      return ResourcePlan{};
    };
    auto row = [&](const std::string& id, const char* change, bool is_active) {
      const ResourcePlan o = outcome_of(id);
      return nlohmann::json{{"resource", id},
                            {"change", change},
                            {"active", is_active},
                            {"definition", std::string(to_string(o.definition))},
                            {"outcome", std::string(to_string(o.outcome))},
                            {"from", o.from},
                            {"to", o.to}};
    };
    nlohmann::json plan = nlohmann::json::array();
    std::set<std::string> to_stop;  // top-level resources (current config) to stop first
    for (const auto& p : rc.primitives) {
      const PrimitiveConfig* q = nrc.primitive(p.id);
      const char* change = q == nullptr ? "remove" : !same_definition(p, *q) ? "redefine" : "keep";
      const bool is_active = active(p.id);
      if (std::string(change) != "keep" && is_active) to_stop.insert(*top_level_resource(rc, p.id));
      plan.push_back(row(p.id, change, is_active));
    }
    for (const auto& q : nrc.primitives) {
      if (rc.primitive(q.id) == nullptr) plan.push_back(row(q.id, "add", false));
    }
    const bool same = text == doc_.config_text;
    nlohmann::json warnings = nlohmann::json::array();
    for (const auto& w : cfg->warnings) warnings.push_back(w.path + ": " + w.message);
    nlohmann::json answer = {{"valid", true},
                             {"unchanged", same},
                             {"plan", plan},
                             {"stop_first", to_stop},
                             {"warnings", warnings},
                             {"config_version", doc_.config_version},
                             {"document_version", show(docs_->doc().version)}};
    if (cmd == "config-check") return reply(answer);
    if (same) {
      answer["ok"] = true;
      answer["changed"] = false;
      return reply(answer);
    }
    next.config_version = doc_.config_version + 1;
    next.config_text = text;
    next.config_applied = unix;
    next.config_by = caller(cred) + " from " + path;
    // Intents on what no longer exists go; resources re-enabled after their restart.
    std::erase_if(next.placements, [&](const PlacementIntent& p) {
      return !cfg->config.resources.exists(p.resource);
    });
    std::erase_if(next.disabled,
                  [&](const std::string& id) { return !cfg->config.resources.exists(id); });
    if (request.contains("enable")) {
      for (const auto& id : request["enable"]) std::erase(next.disabled, id.get<std::string>());
    }
    answer["config_version"] = next.config_version;
    return propose(next, std::move(reply), answer);
  }
  if (cmd == "node-standby" || cmd == "node-online" || cmd == "node-maintenance") {
    const auto node = node_arg("node", cmd != "node-online");
    if (!node) return;
    const bool in_maintenance = std::find(next.maintenance.begin(), next.maintenance.end(),
                                          *node) != next.maintenance.end();
    if (cmd == "node-online" && in_maintenance && !request.value("force", false)) {
      // It leaves everything alone until it hears it is out of maintenance: unreachable, it
      // cannot hear it, and its resources could then be started elsewhere as well.
      const Instant t = now();
      const auto m = resources_->membership(*core_, t);
      if (!m.up[base_.find_node(*node)->value]) {
        return fail("'" + *node +
                    "' is in maintenance and not reachable: what it runs would "
                    "be started elsewhere while it still runs there. Bring it back first, or, if "
                    "it is powered off and runs nothing, use --force");
      }
    }
    std::erase(next.standby, *node);
    std::erase(next.maintenance, *node);
    auto& list = cmd == "node-standby" ? next.standby : next.maintenance;
    if (cmd != "node-online") {
      list.push_back(*node);
      std::sort(list.begin(), list.end());
    }
    return propose(next, std::move(reply), {{"node", *node}});
  }
  if (cmd == "resource-enable" || cmd == "resource-disable") {
    std::vector<std::string> ids;
    for (const auto& r : request.value("resources", nlohmann::json::array())) {
      const std::string name = r.get<std::string>();
      const auto top = top_level_resource(rc, name);
      if (!top) return fail(unknown_name_message("resource", name, resource_names(rc)));
      ids.push_back(*top);
    }
    if (ids.empty()) return fail("no resource given");
    for (const auto& id : ids) {
      std::erase(next.disabled, id);
      if (cmd == "resource-disable") next.disabled.push_back(id);
    }
    std::sort(next.disabled.begin(), next.disabled.end());
    return propose(next, std::move(reply), {{"resources", ids}});
  }
  const auto res = resource_arg();
  if (!res) return;
  const std::string by = caller(cred);
  if (cmd == "resource-clear") {
    const std::string node = request.value("node", std::string());
    std::erase_if(next.placements, [&](const PlacementIntent& p) {
      return p.resource == *res && (node.empty() || p.node == node);
    });
    return propose(next, std::move(reply), {{"resource", *res}});
  }
  if (cmd == "resource-ban") {
    const auto node = node_arg("node", true);
    if (!node) return;
    std::erase_if(next.placements,
                  [&](const PlacementIntent& p) { return p.resource == *res && p.node == *node; });
    next.placements.push_back({PlacementIntent::Kind::kBan, *res, *node, unix, expires_arg(), by});
    // A ban may leave a resource nowhere to run: that is the operator's call, shown by --dry-run.
    return place(next, *res, std::nullopt, false, {{"resource", *res}, {"node", *node}});
  }
  if (cmd == "resource-move") {
    if (request.contains("node")) {
      const auto node = node_arg("node", true);
      if (!node) return;
      std::erase_if(next.placements, [&](const PlacementIntent& p) {
        return p.resource == *res && (p.kind == PlacementIntent::Kind::kPrefer || p.node == *node);
      });
      next.placements.push_back(
          {PlacementIntent::Kind::kPrefer, *res, *node, unix, expires_arg(), by});
      return place(next, *res, *node, true, {{"resource", *res}, {"node", *node}});
    }
    // No node: away from where it runs now.
    if (rc.clone(*res) != nullptr) {
      return fail("'" + *res +
                  "' is a clone and runs on several nodes: name the node to move "
                  "it away from with `hactl resource ban " +
                  *res + " NODE`");
    }
    const Instant t = now();
    const ClusterState s = resources_->conductor().state(resources_->membership(*core_, t), t);
    std::optional<std::string> where;
    for (const auto& id : primitives_of(rc, *res)) {
      const auto it = s.roles.find(id);
      if (it == s.roles.end()) continue;
      for (std::size_t i = 0; i < it->second.size() && !where; ++i) {
        if (it->second[i] != ResourceRole::kStopped) where = base_.nodes[i].name;
      }
    }
    if (!where) {
      return fail("'" + *res + "' is not running anywhere; name the node to move it to");
    }
    std::erase_if(next.placements, [&](const PlacementIntent& p) {
      return p.resource == *res && (p.node == *where || p.kind == PlacementIntent::Kind::kPrefer);
    });
    next.placements.push_back({PlacementIntent::Kind::kBan, *res, *where, unix, expires_arg(), by});
    return place(next, *res, std::nullopt, true, {{"resource", *res}, {"away_from", *where}});
  }
  fail("unknown command '" + cmd + "'");
}

}  // namespace hactl
