// The agent's side of the cluster document: load and store it, hand the replica its messages,
// run on the configuration it holds, and turn operators' write verbs into proposals.
#include <grp.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "agent/agent.hpp"
#include "common/assert.hpp"
#include "common/known_names.hpp"
#include "common/limits.hpp"
#include "common/suggest.hpp"
#include "coordinator/config_plan.hpp"
#include "coordinator/explain.hpp"
#include "coordinator/simulate.hpp"

namespace hactl {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string show(DocVersion v) {
  return std::to_string(v.term.value) + "." + std::to_string(v.revision);
}

namespace {

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
  return cred.uid == 0 || member_of(config().admin_group, cred);
}

bool Agent::may_read(const PeerCredentials& cred) const {
  return may_write(cred) || member_of(config().read_group, cred);
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

std::expected<StoredDoc, std::string> Agent::initial_doc() {
  const std::string self = options_.config.node(options_.self).name;
  ClusterDoc fresh;
  fresh.config_version = 1;
  fresh.config_text = options_.config_text;
  fresh.config_applied = unix_now();
  fresh.config_by = options_.config_path + " on " + self;
  StoredDoc initial{DocVersion{}, doc_to_bytes(fresh)};
  auto stored = doc_store_.load();
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return initial;
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
  if (why.empty()) return **stored;
  emit_event(Event(EventKind::kStoredDocumentIgnored, EventLevel::kWarn)
                 .add("path", doc_store_.path())
                 .text("reason", why)
                 .text("effect", "starts from " + options_.config_path));
  return initial;
}

void Agent::doc_loaded(const StoredDoc& initial) {
  emit_event(Event(EventKind::kDocumentLoaded)
                 .add("version", show(initial.version))
                 .add("config_version", doc().config_version)
                 .text("source",
                       initial.version == DocVersion{} ? options_.config_path : doc_store_.path()));
  if (rt_->applied_text() == options_.config_text) return;
  emit_event(Event(EventKind::kConfigFromCluster, EventLevel::kWarn)
                 .add("config_version", doc().config_version)
                 .text("note", options_.config_path +
                                   " differs from the configuration the cluster runs (see hactl "
                                   "config show); apply it with hactl config apply"));
  const std::string applied =
      options_.state_dir + "/hactl-" + config().node(options_.self).name + ".applied.yaml";
  if (replace_file_for_readers(applied, rt_->applied_text())) {
    guard_.reload_definitions(applied);
  }
}

void Agent::carry_out_docs(RuntimeOutput& out) {
  // Written off the loop; the runtime holds its acknowledgements until doc_stored() (so the
  // majority that commits a change has it on disk), and nothing else waits for the disk.
  if (out.store) doc_writer_->write(std::move(*out.store));
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
}

void Agent::doc_stored(DocVersion version, const std::expected<void, std::string>& result) {
  if (fatal_ || !rt_) return;
  if (!result) {
    emit_event(Event(EventKind::kPersistFailed, EventLevel::kCritical)
                   .add("what", "document")
                   .text("error", result.error())
                   .add("action", "exit"));
    fatal_ = true;
    stop();
    return;
  }
  rt_->on_doc_stored(version, now());
  process();
}

void Agent::reconfigured(const Reconfiguration& r) {
  const std::string self = config().node(options_.self).name;
  if (!r.orphans.empty()) {
    auto old = std::make_unique<ResourceConfig>(r.old_resources);
    auto ex = std::make_unique<Executor>(loop_, *old, [self](const OpResult& res) {
      emit_event(Event(EventKind::kOrphanAction)
                     .add("resource", res.resource)
                     .add("action", res.action)
                     .add("code", static_cast<int>(res.code))
                     .add("node", self));
    });
    ex->set_guard(&guard_);
    ex->set_spawn_pacer(&spawn_pacer_);
    std::uint64_t call = 1;
    for (const auto& [id, promoted] : r.orphans) {
      emit_event(Event(EventKind::kOrphanStop, EventLevel::kWarn)
                     .add("resource", id)
                     .add("node", self)
                     .text("reason", "dropped or redefined by configuration version " +
                                         std::to_string(r.config_version) +
                                         " while it may run here"));
      if (promoted) ex->submit(OpRequest{call++, id, "demote", Duration{0}});
      ex->submit(OpRequest{call++, id, "stop", Duration{0}});
    }
    orphans_.emplace_back(std::move(old), std::move(ex));
  }
  // A new executor on the new list (the old one's results are not the new host's).
  executor_->close();
  retired_executors_.push_back(std::move(executor_));
  ++executor_generation_;
  open_executor();
  tell_macs();
  tell_guard_definitions();
  start_alerts();
}

// The file is for the guard to read now: written and renamed, not fsynced, and off the loop
// (1 MB through a slow or busy filesystem held it); the guard is told once it is there (it
// takes definitions up once it has parsed them anyway, not at once). One write at a time: a
// configuration taken up meanwhile is written after it, the newest then.
void Agent::tell_guard_definitions() {
  if (guard_file_writing_) {
    guard_file_again_ = true;
    return;
  }
  guard_file_writing_ = true;
  const std::string path =
      options_.state_dir + "/hactl-" + config().node(options_.self).name + ".applied.yaml";
  auto text = std::make_shared<const std::string>(rt_->applied_text());
  auto result = std::make_shared<std::expected<void, std::string>>();
  const bool queued = file_writer_->submit(
      [path, text, result] { *result = replace_file_for_readers(path, *text); },
      [this, path, result] { guard_file_written(path, *result); },
      [this, path] { guard_file_written(path, std::unexpected("not written within 60 s")); });
  HACTL_ASSERT(queued);  // one at a time (the worker takes two: see DocWriter)
}

void Agent::guard_file_written(const std::string& path,
                               const std::expected<void, std::string>& result) {
  guard_file_writing_ = false;
  if (result) {
    guard_.reload_definitions(path);
  } else {
    emit_event(Event(EventKind::kGuardNotTold, EventLevel::kError).text("error", result.error()));
  }
  if (std::exchange(guard_file_again_, false)) tell_guard_definitions();
}

void Agent::propose(const ClusterDoc& next, ControlServer::Reply reply, nlohmann::json ok_answer) {
  if (next == doc()) {
    ok_answer["ok"] = true;
    ok_answer["changed"] = false;
    ok_answer["document_version"] = show(rt_->replica()->doc().version);
    reply(ok_answer);
    return;
  }
  const Instant t = now();
  const std::uint64_t id = rt_->propose(next, t, std::chrono::seconds(10));
  waiting_.emplace(id, std::make_pair(std::move(reply), std::move(ok_answer)));
  process();
}

nlohmann::json Agent::plan_intent(const ClusterDoc& next, const std::string& resource,
                                  const std::optional<std::string>& to, bool must_run,
                                  std::string& refusal) const {
  const Instant t = now();
  ClusterState state = host().conductor().state(rt_->membership(t), t);
  const ClusterConfig config = effective_config(base(), next, unix_now());
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

void Agent::reload() {
  std::ifstream f(options_.config_path, std::ios::binary);
  if (!f) {
    emit_event(Event(EventKind::kReloadFailed, EventLevel::kError)
                   .add("path", options_.config_path)
                   .text("error", "cannot read it"));
    return;
  }
  std::ostringstream text;
  text << f.rdbuf();
  emit_event(Event(EventKind::kReload).add("path", options_.config_path));
  const nlohmann::json request = {
      {"cmd", "config-apply"}, {"text", text.str()}, {"path", options_.config_path}};
  handle_doc_request(
      "config-apply", request, PeerCredentials{0, 0},
      ControlServer::Reply::Json([path = options_.config_path](const nlohmann::json& r) {
        if (r.contains("error")) {
          std::string why = r["error"].get<std::string>();
          for (const auto& e : r.value("errors", nlohmann::json::array()))
            why += "; " + e.get<std::string>();
          emit_event(Event(EventKind::kReloadRefused, EventLevel::kError)
                         .add("path", path)
                         .text("error", why));
        } else {
          emit_event(Event(EventKind::kReloadDone)
                         .add("path", path)
                         .add("config_version", r.value("config_version", std::uint64_t{0}))
                         .add("changed", r.value("changed", false)));
        }
      }));
}

nlohmann::json Agent::doc_json() const {
  const std::int64_t unix = unix_now();
  nlohmann::json placements = nlohmann::json::array();
  for (const auto& p : doc().placements) {
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
  for (const auto& h : doc().held) {
    held.push_back({{"resource", h.resource},
                    {"node", h.node},
                    {"since", h.since},
                    {"moves", h.moves},
                    {"within_s", h.within}});
  }
  return {{"version", show(rt_->replica()->doc().version)},
          {"config_version", doc().config_version},
          {"config_applied", doc().config_applied},
          {"config_by", doc().config_by},
          {"config_pending", rt_->config_pending()},
          {"standby", doc().standby},
          {"maintenance", doc().maintenance},
          {"placements", placements},
          {"disabled", doc().disabled},
          {"held", held}};
}

// config-apply, once its text is checked off the loop (agent_offload.cpp): proposed, if the
// configuration it was checked against is still the one in force.
void Agent::finish_apply(const ApplyRequest& a, const std::string& text,
                         const ClusterConfig& parsed, bool same, nlohmann::json answer,
                         ControlServer::Reply reply) {
  if (doc().config_version != a.checked_version) {
    return reply({{"error", "the configuration changed (now version " +
                                std::to_string(doc().config_version) +
                                ") while this one was checked; nothing was changed: check and "
                                "apply it again"}});
  }
  if (same) {
    answer["ok"] = true;
    answer["changed"] = false;
    return reply(answer);
  }
  const std::int64_t unix = unix_now();
  ClusterDoc next = doc();
  // Expired intents are dropped by any change; intents on what no longer exists go.
  std::erase_if(next.placements, [&](const PlacementIntent& p) {
    return (p.expires != 0 && p.expires <= unix) || !parsed.resources.exists(p.resource);
  });
  std::erase_if(next.disabled, [&](const std::string& id) { return !parsed.resources.exists(id); });
  // Resources re-enabled after their restart.
  if (a.enable.is_array()) {
    for (const auto& id : a.enable) {
      if (id.is_string()) std::erase(next.disabled, id.get<std::string>());
    }
  }
  next.config_version = doc().config_version + 1;
  next.config_text = text;
  next.config_applied = unix;
  next.config_by = a.by;
  answer["config_version"] = next.config_version;
  propose(next, std::move(reply), answer);
}

void Agent::handle_doc_request(const std::string& cmd, const nlohmann::json& request,
                               const PeerCredentials& cred, ControlServer::Reply reply) {
  const ResourceConfig& rc = base().resources;
  const std::int64_t unix = unix_now();
  auto fail = [&](const std::string& m) { reply({{"error", m}}); };
  // Operands, checked with a suggestion for a typo.
  auto node_arg = [&](const char* key, bool runs_resources) -> std::optional<std::string> {
    const std::string name = request.value(key, std::string());
    const auto id = base().find_node(name);
    if (!id) {
      fail(unknown_name_message("node", name, node_names(base())));
      return std::nullopt;
    }
    if (runs_resources && base().node(*id).witness) {
      fail("node '" + name + "' is a witness: it never runs resources");
      return std::nullopt;
    }
    return name;
  };
  auto resource_arg = [&]() -> std::optional<std::string> {
    const std::string name = request.value("resource", std::string());
    const auto top = top_level_resource(rc, name);
    if (!top) {
      fail(unknown_name_message("resource", name, resource_ids(rc)));
      return std::nullopt;
    }
    return top;
  };
  // lifetime_s: absent or 0, the default lifetime; negative, until cleared; at most
  // kMaxIntentLifetimeSeconds (so `unix + lifetime` cannot overflow). A float or a number
  // beyond int64 is refused: converting one was undefined behaviour.
  auto expires_arg = [&]() -> std::int64_t {
    const auto it = request.find("lifetime_s");
    if (it != request.end() && !it->is_number_integer()) {
      throw std::invalid_argument("lifetime_s must be a whole number of seconds");
    }
    if (it != request.end() && it->is_number_unsigned() &&
        it->get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      throw std::invalid_argument("lifetime_s is too large");
    }
    const std::int64_t lifetime = it == request.end() ? 0 : it->get<std::int64_t>();
    if (lifetime < 0) return 0;
    return unix + std::min(lifetime > 0 ? lifetime : kDefaultIntentLifetimeSeconds,
                           kMaxIntentLifetimeSeconds);
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
  ClusterDoc next = doc();
  // Expired intents are dropped by any change.
  std::erase_if(next.placements,
                [&](const PlacementIntent& p) { return p.expires != 0 && p.expires <= unix; });

  if (cmd == "config-show") {
    if (request.contains("version")) {
      // The history's files are read and parsed on the worker: up to 20 of 2 MiB each.
      const auto v = request["version"].get<std::uint64_t>();
      return off_loop(std::move(reply), [store = doc_store_, v]() -> nlohmann::json {
        const auto info = store.config_version(v);
        if (!info) {
          std::string kept;
          for (const auto& h : store.history()) kept += " " + std::to_string(h.version);
          return {{"error", "configuration version " + std::to_string(v) +
                                " is not in this node's history (kept:" + kept + ")"}};
        }
        return {{"version", info->version},
                {"applied", info->applied},
                {"by", info->by},
                {"text", info->text}};
      });
    }
    return reply({{"version", doc().config_version},
                  {"applied", doc().config_applied},
                  {"by", doc().config_by},
                  {"text", doc().config_text},
                  {"document", doc_json()}});
  }
  if (cmd == "config-history") {
    return off_loop(std::move(reply),
                    [store = doc_store_, current = doc().config_version]() -> nlohmann::json {
                      nlohmann::json list = nlohmann::json::array();
                      for (const auto& h : store.history()) {
                        list.push_back({{"version", h.version},
                                        {"applied", h.applied},
                                        {"by", h.by},
                                        {"current", h.version == current}});
                      }
                      return {{"versions", list}};
                    });
  }
  if (cmd == "config-check" || cmd == "config-apply") {
    return config_check_off_loop(cmd, request, cred, std::move(reply));  // agent_offload.cpp
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
      const auto m = rt_->membership(t);
      if (!m.up[base().find_node(*node)->value]) {
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
      if (!top) return fail(unknown_name_message("resource", name, resource_ids(rc)));
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
    const ClusterState s = host().conductor().state(rt_->membership(t), t);
    std::optional<std::string> where;
    for (const auto& id : primitives_of(rc, *res)) {
      const auto it = s.roles.find(id);
      if (it == s.roles.end()) continue;
      for (std::size_t i = 0; i < it->second.size() && !where; ++i) {
        if (it->second[i] != ResourceRole::kStopped) where = base().nodes[i].name;
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
