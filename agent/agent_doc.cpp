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
#include "common/limits.hpp"
#include "coordinator/intents.hpp"

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
  const ClusterDoc fresh = adopt_config(ClusterDoc{}, options_.config_text,
                                        options_.config_path + " on " + self, unix_now(), {});
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
    if (!o.ok) {
      reply({{"error", o.error}});
      continue;
    }
    answer["ok"] = true;
    answer["changed"] = true;
    answer["document_version"] = show(o.version);
    // Committed; answered once this node holds it too, so that what the caller reads here
    // next (an agent's crm_attribute -G, hactl status) shows it: at most kHoldUntilHereFor.
    until_here_.push_back(
        UntilHere{o.version, now() + kHoldUntilHereFor, std::move(reply), std::move(answer)});
  }
  answer_held_until_here();
}

void Agent::answer_held_until_here() {
  if (until_here_.empty()) return;
  const DocVersion here = rt_->replica()->doc().version;
  const Instant t = now();
  std::erase_if(until_here_, [&](UntilHere& u) {
    if (here < u.version && t < u.until) return false;
    u.reply(u.answer);
    return true;
  });
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
    OcfContext context = ocf_context();
    context.clone_env = ocf_clone_env(*old, config().resource_nodes());
    auto ex = std::make_unique<Executor>(
        spawner_, *old,
        [self](const OpResult& res) {
          emit_event(Event(EventKind::kOrphanAction)
                         .add("resource", res.resource)
                         .add("action", res.action)
                         .add("code", static_cast<int>(res.code))
                         .add("node", self));
        },
        std::move(context));
    ex->set_guard(&guard_);
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
  nlohmann::json request = control_body(ControlVerb::kConfigApply);
  request["text"] = text.str();
  request["path"] = options_.config_path;
  handle_doc_request(
      ControlVerb::kConfigApply, request, PeerCredentials{0, 0},
      ControlServer::Reply::Json([path = options_.config_path](const nlohmann::json& r) {
        if (r.contains("error")) {
          std::string why = r["error"].get<std::string>();
          for (const auto& e : r.value("errors", nlohmann::json::array()))
            why += "; " + e.get<std::string>();
          emit_event(Event(EventKind::kReloadRefused, EventLevel::kError)
                         .add("path", path)
                         .text("error", why));
        } else if (r.contains("sequence")) {
          // What it redefines or removes is stopped first: the coordinator carries that on.
          emit_event(Event(EventKind::kReloadStarted)
                         .add("path", path)
                         .add("sequence", r["sequence"].value("id", std::uint64_t{0}))
                         .text("stopping",
                               r["sequence"].value("stopping", nlohmann::json::array()).dump()));
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
         {"by", p.by},
         {"role", p.role == RoleFilter::kPromoted ? "promoted" : "any"}});
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
          {"held", held},
          {"sequence", doc().sequence ? sequence_json(*doc().sequence, unix) : nlohmann::json()},
          {"last_sequence",
           doc().last_sequence ? sequence_end_json(*doc().last_sequence) : nlohmann::json()}};
}

// config-apply, once its text is checked off the loop (agent_offload.cpp): proposed, if the
// configuration it was checked against is still the one in force; adopted at once, or begun as a
// sequence that stops first what it removes or redefines (coordinator/intents.hpp).
void Agent::finish_apply(const ApplyRequest& a, const std::string& text,
                         std::vector<std::string> removed, bool same, nlohmann::json answer,
                         ControlServer::Reply reply) {
  if (same && doc().config_version == a.checked_version) {
    answer["ok"] = true;
    answer["changed"] = false;
    return reply(answer);
  }
  ApplyIntent apply;
  apply.text = text;
  apply.by = a.by;
  apply.checked_version = a.checked_version;
  apply.stop_first = answer.value("stop_first", std::vector<std::string>{});
  apply.removed = std::move(removed);
  // Resources an earlier hactl disabled itself before it sent the apply.
  if (a.enable.is_array()) {
    for (const auto& id : a.enable) {
      if (id.is_string()) apply.enable.push_back(id.get<std::string>());
    }
  }
  const auto timeout = sequence_timeout(a.timeout);
  if (!timeout) return reply({{"error", timeout.error()}});
  apply.timeout_s = *timeout;
  const ClusterState unused;
  answer_intent(decide_apply(IntentContext{base(), doc(), unused, {}, unix_now()}, apply),
                std::move(reply), std::move(answer));
}

// A decision proposed, or its refusal answered; `answer` (the check's, for an apply) takes the
// decision's members.
void Agent::answer_intent(const IntentResult& r, ControlServer::Reply reply,
                          nlohmann::json answer) {
  if (!r) {
    nlohmann::json refusal = {{"error", r.error().error}};
    if (!r.error().errors.empty()) refusal["errors"] = r.error().errors;
    return reply(refusal);
  }
  for (const auto& [key, value] : r->answer.items()) answer[key] = value;
  if (!r->next) return reply(answer);
  if (const auto& s = r->next->sequence; s && (!doc().sequence || doc().sequence->id != s->id)) {
    emit_event(Event(EventKind::kSequenceStarted)
                   .add("sequence", s->id)
                   .text("kind", std::string(to_string(s->kind)))
                   .text("stopping", nlohmann::json(s->stopping).dump())
                   .add("deadline_s", s->deadline - s->started)
                   .text("by", s->by));
  }
  propose(*r->next, std::move(reply), std::move(answer));
}

void Agent::config_show(const nlohmann::json& request, ControlServer::Reply reply) {
  if (!request.contains("version")) {
    return reply({{"version", doc().config_version},
                  {"applied", doc().config_applied},
                  {"by", doc().config_by},
                  {"text", doc().config_text},
                  {"document", doc_json()}});
  }
  // The history's files are read and parsed on the worker: up to 20 of 2 MiB each.
  const auto v = request["version"].get<std::uint64_t>();
  off_loop(std::move(reply), [store = doc_store_, v]() -> nlohmann::json {
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

void Agent::config_history(ControlServer::Reply reply) {
  off_loop(std::move(reply),
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

// crm_attribute, crm_master and attrd_updater (hactl-crm): a query answered from this node's
// document; a change proposed, answered once a majority stored it and this node holds it.
void Agent::attribute(ControlVerb verb, const nlohmann::json& request, ControlServer::Reply reply) {
  const auto r = attribute_request(verb, request, base(), config().node(options_.self).name);
  if (!r) return reply({{"error", r.error()}});
  nlohmann::json answer = {{"name", r->name}, {"lifetime", r->reboot ? "reboot" : "forever"}};
  if (r->cluster) {
    answer["scope"] = "cluster";
  } else {
    answer["node"] = r->node;
  }
  const Instant t = now();
  if (r->op == AttributeRequest::Op::kQuery) {
    const auto node = config().find_node(r->node);
    const auto v = query_attribute(doc(), *r, node ? rt_->incarnations(t).at(node->value) : 0);
    answer["value"] = v ? nlohmann::json(*v) : nlohmann::json(nullptr);
    return reply(answer);
  }
  if (rt_->replica() == nullptr) return reply({{"error", "this agent keeps no cluster document"}});
  const auto id = rt_->change_attribute(*r, t);
  if (!id) return reply({{"error", id.error()}});
  if (!*id) {
    answer["ok"] = true;
    answer["changed"] = false;
    return reply(answer);
  }
  waiting_.emplace(**id, std::make_pair(std::move(reply), std::move(answer)));
  process();
}

void Agent::handle_doc_request(ControlVerb verb, const nlohmann::json& request,
                               const PeerCredentials& cred, ControlServer::Reply reply) {
  switch (verb) {
    case ControlVerb::kConfigShow:
      return config_show(request, std::move(reply));
    case ControlVerb::kConfigHistory:
      return config_history(std::move(reply));
    case ControlVerb::kConfigCheck:
    case ControlVerb::kConfigApply:  // agent_offload.cpp, then finish_apply
      return config_check_off_loop(verb, request, cred, std::move(reply));
    case ControlVerb::kAttributeSet:
    case ControlVerb::kAttributeDelete:
    case ControlVerb::kAttributeQuery:
      return attribute(verb, request, std::move(reply));
    default:
      break;
  }
  if (!is_intent(verb)) {
    return reply({{"error", "unknown command '" + std::string(wire_name(verb)) + "'"}});
  }
  const auto intent = intent_from_request(verb, request, caller(cred));
  if (!intent) return reply({{"error", intent.error()}});
  const Instant t = now();
  const Membership m = rt_->membership(t);
  // Only a move or a ban asks the scheduler (what it would then do).
  const bool places = verb == ControlVerb::kResourceMove || verb == ControlVerb::kResourceBan;
  const ClusterState state = places ? host().conductor().state(m, t) : ClusterState{};
  answer_intent(decide_intent(IntentContext{base(), doc(), state, m.up, unix_now()}, *intent),
                std::move(reply));
}

}  // namespace hactl
