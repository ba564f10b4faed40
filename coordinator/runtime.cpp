#include "coordinator/runtime.hpp"

#include <algorithm>
#include <chrono>
#include <map>

#include "common/assert.hpp"
#include "common/limits.hpp"
#include "coordinator/intents.hpp"

namespace hactl {
namespace {

std::string show(DocVersion v) {
  return std::to_string(v.term.value) + "." + std::to_string(v.revision);
}

constexpr std::int64_t kMicrosPerSecond = 1'000'000;

}  // namespace

NodeRuntime::NodeRuntime(ClusterConfig config, RuntimeOptions options, Rng& rng, Instant now)
    : config_(std::move(config)),
      options_(std::move(options)),
      node_(config_, options_.self, options_.timing, rng, options_.hard, now),
      checks_(config_.nodes.size(), options_.self, options_.incarnation),
      base_(config_),
      now_(now) {
  if (options_.document) {
    if (auto parsed = doc_from_bytes(options_.document->bytes)) {
      doc_ = std::move(*parsed);
      auto cfg = parse_config(doc_.config_text, "the cluster document");
      if (cfg && static_differences(config_, cfg->config).empty()) {
        base_ = std::move(cfg->config);
        applied_text_ = doc_.config_text;
        take_config(base_);
      } else {
        note(Event(EventKind::kConfigRefused, EventLevel::kError)
                 .add("version", doc_.config_version)
                 .text("error", "the stored document's configuration does not fit this node's"));
      }
    } else {
      note(Event(EventKind::kDocumentUnreadable, EventLevel::kError)
               .add("version", show(options_.document->version))
               .text("error", parsed.error()));
    }
    docs_ = std::make_unique<DocReplica>(
        config_.nodes.size(), options_.self, options_.doc_resend, *options_.document,
        [this](const std::string& b) { return validate(b); }, options_.incarnation);
    if (!options_.unsafe_votes) node_.set_doc_version(docs_->doc().version);
  }
  if (options_.resources) {
    host_ =
        std::make_unique<ResourceHost>(config_, options_.self, now, options_.previous_lease_end);
    host_->set_incarnation(options_.incarnation);
  }
  waiting_for_all_ = config_.two_node && config_.wait_for_all && !options_.paired_this_boot;
  if (config_.two_node && config_.wait_for_all && options_.paired_this_boot) {
    note(Event(EventKind::kWaitForAllSkipped)
             .text("reason", "an agent of this boot ran with its peer"));
  }
}

void NodeRuntime::note(Event e) { notes_.push_back(std::move(e)); }

// What the cluster runs on besides the node list and the timing (which need a restart).
void NodeRuntime::take_config(const ClusterConfig& base) {
  config_.resources = base.resources;
  config_.config_id = base.config_id;
  config_.failback = base.failback;
  config_.flap_damping = base.flap_damping;
  for (std::size_t i = 0; i < config_.nodes.size() && i < base.nodes.size(); ++i)
    config_.nodes[i].capacity = base.nodes[i].capacity;
}

Membership NodeRuntime::membership(Instant now) const {
  return host_ ? host_->membership(node_, now)
               : ResourceHost::membership(config_, options_.self, node_, now);
}

void NodeRuntime::step(NodeId from, std::uint64_t incarnation, const Message& m, Instant now) {
  now_ = now;
  if (std::holds_alternative<HandoverRequest>(m)) node_.set_handover_avoid(handover_avoid());
  sync_core(now);
  node_.step(from, m, now);
  if (config_.node(from).arbiter) return;  // the election core's alone
  if (const auto* c = std::get_if<DocChunk>(&m)) {
    if (docs_) docs_->on_chunk(from, *c, node_.term(), node_.coordinator(), now);
  } else if (const auto* a = std::get_if<DocAck>(&m)) {
    if (docs_) docs_->on_ack(from, *a, now);
  } else if (const auto* k = std::get_if<CheckChunk>(&m)) {
    checks_.on_chunk(from, *k, now);
  } else if (host_) {
    host_->on_message(from, m, node_, now);
  }
  if (host_) host_->peer_incarnation(from, incarnation);
}

void NodeRuntime::peer_restarted(NodeId from, std::uint64_t incarnation, Instant now) {
  now_ = now;
  node_.peer_restarted(from, now);
  if (host_) {
    host_->peer_restarted(from);
    // Now, not only after the datagram that showed it (step): the core already takes the peer
    // as heard, and a fence record compared with the old boot said "the device did not stop
    // it" on every boot of a fenced node.
    host_->peer_incarnation(from, incarnation);
  }
  if (docs_) docs_->peer_restarted(from);
  checks_.peer_restarted(from);
}

void NodeRuntime::tick(Instant now) {
  now_ = now;
  sync_core(now);
  node_.tick(now);
}

void NodeRuntime::sync_arbiter_patience() {
  const auto arbiter = config_.arbiter();
  if (!arbiter || !host_ || config_.nodes.size() != 3) return;
  const auto& views = host_->conductor().views();
  const std::size_t self = options_.self.value;
  const std::size_t peer = 3 - self - arbiter->value;  // the other node of the pair
  if (peer >= views.size() || self >= views.size()) return;
  const auto active = [](const NodeView& v) {
    return std::count_if(v.entries.begin(), v.entries.end(),
                         [](const ResourceEntry& e) { return e.role != ResourceRole::kStopped; });
  };
  const auto mine = active(views[self]);
  const auto theirs = active(views[peer]);
  const bool wait = theirs > mine || (theirs == mine && node_.role() != Role::kCoordinator);
  node_.set_arbiter_patience(wait ? config_.timing.heartbeat_interval / 4 : Duration{0});
}

void NodeRuntime::sync_core(Instant now) {
  sync_arbiter_patience();
  if (!config_.two_node || !host_) return;
  if (waiting_for_all_) {
    const NodeId peer{static_cast<std::uint16_t>(1 - options_.self.value)};
    const bool doc_of_term = !docs_ || docs_->doc().version.term == node_.term();
    if (node_.peer_up(peer) && node_.has_quorum(now) && node_.coordinator() && doc_of_term) {
      waiting_for_all_ = false;
      note(Event(EventKind::kWaitForAllDone)
               .add("peer", config_.node(peer).name)
               .add("term", node_.term().value));
    }
  }
  host_->set_fence_alone(!waiting_for_all_ && !host_->leaving());
  node_.set_stand_ins(stand_ins(now));
}

std::vector<bool> NodeRuntime::stand_ins(Instant now) const {
  if (!host_ || waiting_for_all_ || host_->leaving()) {
    return std::vector<bool>(config_.nodes.size(), false);
  }
  return host_->stand_ins(node_, now);
}

bool NodeRuntime::unblock(Instant now) {
  if (!waiting_for_all_) return false;
  waiting_for_all_ = false;
  note(Event(EventKind::kWaitForAllUnblocked, EventLevel::kWarn).add("reason", "operator"));
  sync_core(now);
  return true;
}

void NodeRuntime::on_call_done(std::uint64_t call_id, int ocf_code, bool ran, Instant now) {
  now_ = now;
  host().on_call_done(call_id, ocf_code, ran, now);
}

void NodeRuntime::on_monitor(std::size_t index, int ocf_code, Instant now) {
  now_ = now;
  host().on_monitor(index, ocf_code, now);
}

void NodeRuntime::on_fence_done(std::uint64_t id, bool ok, const std::string& detail, Instant now) {
  now_ = now;
  host().on_fence_done(id, ok, detail, now);
  if (config_.two_node) tick(now);  // a fenced peer stands in: campaign now
}

void NodeRuntime::on_vip_check_done(NodeId asker, VipCheckResult result) {
  host().on_vip_check_done(asker, std::move(result));
}

std::uint64_t NodeRuntime::start_host_check(std::string text, Instant now, Duration timeout) {
  now_ = now;
  const Membership m = membership(now);
  std::vector<NodeId> peers;
  for (std::size_t i = 0; i < config_.nodes.size(); ++i) {
    const NodeId id{static_cast<std::uint16_t>(i)};
    if (id != options_.self && !config_.nodes[i].witness && m.up[i]) peers.push_back(id);
  }
  return checks_.start(std::move(text), std::move(peers), now, now + timeout);
}

void NodeRuntime::on_host_checked(NodeId asker, std::uint64_t id, const HostReport& report) {
  checks_.on_checked(asker, id, report);
}

void NodeRuntime::set_mac(const std::string& interface, const MacAddress& mac) {
  host().set_mac(interface, mac);
}

std::vector<bool> NodeRuntime::handover_avoid() const {
  std::vector<bool> avoid = standby_nodes(config_, intents());
  const auto maintenance = maintenance_nodes(config_, intents());
  for (std::size_t i = 0; i < avoid.size(); ++i) {
    const bool leaving =
        host_ && i < host_->conductor().views().size() && host_->conductor().views()[i].leaving;
    avoid[i] = avoid[i] || maintenance[i] || leaving;
  }
  // As Raft's leadership transfer: to a node that holds the coordinator's document, when there
  // is one. The document is stored off the shell's loop, and a node votes with the version on
  // its disk: a target that has not stored the newest one (the standby that makes the
  // coordinator hand over, often) is refused by the voters that have, and the cluster waits for
  // an election instead (0.3 s without a coordinator).
  const std::vector<bool> fresh = holds_document();
  bool any = false;
  for (std::size_t i = 0; i < avoid.size(); ++i) any = any || (!avoid[i] && fresh[i]);
  for (std::size_t i = 0; any && i < avoid.size(); ++i) avoid[i] = avoid[i] || !fresh[i];
  return avoid;
}

std::vector<bool> NodeRuntime::holds_document() const {
  std::vector<bool> out(config_.nodes.size(), false);
  if (!docs_ || node_.role() != Role::kCoordinator) return out;
  const DocVersion v = docs_->doc().version;
  const auto& acked = docs_->acked();
  for (std::size_t i = 0; i < out.size() && i < acked.size(); ++i) {
    out[i] = i != options_.self.value && acked[i] && !(*acked[i] < v);
  }
  return out;
}

std::optional<NodeId> NodeRuntime::hand_over(std::optional<NodeId> target, Instant now) {
  now_ = now;
  node_.set_handover_avoid(handover_avoid());
  return node_.hand_over(target, now);
}

std::uint64_t NodeRuntime::propose(const ClusterDoc& next, Instant now, Duration timeout) {
  HACTL_ASSERT(docs_ != nullptr);
  now_ = now;
  return docs_->propose(doc_to_bytes(next), docs_->doc().version, now, now + timeout);
}

void NodeRuntime::cleanup(std::uint32_t index, Instant now, std::optional<NodeId> only) {
  now_ = now;
  host().cleanup(index, node_, now, only);
}

std::vector<std::uint64_t> NodeRuntime::incarnations(Instant now) const {
  std::vector<std::uint64_t> out(config_.nodes.size(), 0);
  if (host_) {
    const Membership m = host_->membership(node_, now);
    const auto& heard = host_->peer_incarnations();
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (i < m.up.size() && m.up[i] && i < heard.size()) out[i] = heard[i];
    }
  }
  out.at(options_.self.value) = options_.incarnation;
  return out;
}

NodeAttributes NodeRuntime::attributes(Instant now) const {
  return attributes_in_force(config_, doc_, incarnations(now));
}

std::expected<std::optional<std::uint64_t>, std::string> NodeRuntime::change_attribute(
    const AttributeRequest& r, Instant now) {
  HACTL_ASSERT(docs_ != nullptr && r.op != AttributeRequest::Op::kQuery);
  // Without quorum no majority can store it: answered at once, not after the 10 s the proposal
  // would wait (a demote or stop on a cut-off node calls crm_master; waiting there held the
  // stop of what the node must give up).
  if (!node_.has_quorum(now)) {
    return std::unexpected("no quorum: this node cannot have a majority store the change now");
  }
  const auto node = config_.find_node(r.node);
  if (!node && !r.cluster) return std::unexpected("no node " + r.node);
  const std::uint64_t incarnation = node ? incarnations(now).at(node->value) : 0;
  if (r.op == AttributeRequest::Op::kSet && r.reboot && incarnation == 0) {
    return std::unexpected("node " + r.node +
                           " is down: a reboot attribute holds only while its agent runs");
  }
  auto next = apply_attribute(doc_, r, incarnation);
  if (!next) return std::unexpected(next.error());
  if (!*next) return std::nullopt;
  const DocVersion base = docs_->doc().version;
  const std::uint64_t id = propose(**next, now, std::chrono::seconds(10));
  attribute_writes_.emplace(id, AttributeWrite{r, id, base, 1, {}});
  return id;
}

void NodeRuntime::sync_attributes(Instant now) {
  if (!host_) return;
  // Made again only when the document or an incarnation changed: advance() runs per datagram.
  auto key = std::make_pair(doc_generation_, incarnations(now));
  if (key == attributes_key_) return;
  attributes_key_ = std::move(key);
  NodeAttributes a = attributes_in_force(config_, doc_, attributes_key_.second);
  if (attributes_told_ == a) return;
  attributes_told_ = a;
  host_->set_attributes(std::move(a));
}

void NodeRuntime::retry_attributes(Instant now) {
  if (!docs_) return;
  std::vector<AttributeWrite> later;
  for (AttributeWrite& w : std::exchange(attribute_retries_, {})) {
    // Once this node holds the change that got in first, or after a while (a lost message).
    if (docs_->doc().version == w.base && now < w.retry_at) {
      later.push_back(std::move(w));
      continue;
    }
    const auto node = config_.find_node(w.request.node);
    auto next = apply_attribute(doc_, w.request, node ? incarnations(now).at(node->value) : 0);
    if (!next || !*next) {
      outcomes_.push_back(ProposalOutcome{
          w.id, next.has_value(), next ? std::string() : next.error(), docs_->doc().version});
      continue;
    }
    w.base = docs_->doc().version;
    ++w.tries;
    attribute_writes_.emplace(propose(**next, now, std::chrono::seconds(10)), std::move(w));
  }
  attribute_retries_ = std::move(later);
}

std::set<std::string> NodeRuntime::possibly_active(Instant now) const {
  std::set<std::string> out;
  if (!host_) return out;
  const Membership m = host_->membership(node_, now);
  const Conductor& c = host_->conductor();
  const ClusterState s = c.state(m, now);
  const auto& prims = config_.resources.primitives;
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

DocReplica::Verdict NodeRuntime::validate(const std::string& bytes) {
  auto next = doc_from_bytes(bytes);
  if (!next) return "not a cluster document: " + next.error();
  if (next->config_text.size() > limits::kMaxConfigBytes) return {"the configuration is too large"};
  // The configuration as applied (standby, moves, bans: most changes) needs no parse.
  const ClusterConfig* config = &base_;
  if (next->config_text != applied_text_) {
    const ParseResult* cfg =
        parsed(next->config_text, "configuration version " + std::to_string(next->config_version));
    if (cfg == nullptr) return DocReplica::Verdict::later();
    if (!*cfg) {
      std::string all = "the configuration is invalid:";
      for (const auto& e : cfg->error()) all += "\n  " + e.to_string();
      return all;
    }
    config = &(*cfg)->config;
  }
  return check_proposed(*next, *config);
}

std::string NodeRuntime::check_proposed(const ClusterDoc& next, const ClusterConfig& cfg) const {
  if (auto d = static_differences(config_, cfg); !d.empty()) {
    std::string all = "these settings need every agent restarted with the new file, not apply:";
    for (const auto& line : d) all += "\n  " + line;
    return all;
  }
  for (const auto& n : next.standby) {
    if (!cfg.find_node(n)) return "standby names an unknown node '" + n + "'";
  }
  // Nothing active may be removed or redefined by the document itself: it must be stopped
  // first, or its old and new definitions could run at once on two nodes.
  if (next.config_text == applied_text_) return {};
  std::vector<std::string> active;
  const auto maybe = possibly_active(now_);
  // By id, once: ResourceConfig::primitive() is a linear search (quadratic over 20,000).
  std::map<std::string_view, const PrimitiveConfig*> proposed;
  for (const auto& q : cfg.resources.primitives) proposed.emplace(q.id, &q);
  for (const auto& p : base_.resources.primitives) {
    const auto q = proposed.find(p.id);
    if (q != proposed.end() && same_definition(p, *q->second)) continue;
    if (maybe.count(p.id) != 0) active.push_back(p.id);
  }
  if (active.empty()) return {};
  std::string all =
      "the new configuration removes or redefines resources that are active; "
      "disable them first (hactl config apply does that for you):";
  for (const auto& a : active) all += "\n  " + a;
  return all;
}

RuntimeOutput NodeRuntime::advance(Instant now, std::int64_t unix_us, bool executor_idle) {
  now_ = now;
  unix_s_ = unix_us / kMicrosPerSecond;
  RuntimeOutput out;
  drive_sequence(now);  // proposed before the replica ticks, so its messages leave now
  run_docs(now, executor_idle, out);
  run_resources(now, out);
  checks_.tick(now);
  HostChecksOutput checked = checks_.take();
  for (auto& m : checked.messages) out.messages.push_back(std::move(m));
  out.host_check_asks = std::move(checked.asks);
  out.host_checks_done = std::move(checked.done);
  // The core's output is taken last, so what the steps above asked of it (a handover) leaves
  // in this batch, but its messages go first: a peer must hear of a new coordinator (its
  // heartbeat) before that coordinator's document chunks, or it refuses them until the resend.
  Ready ready = node_.take_ready();
  out.hard_state = ready.hard_state;
  std::vector<std::pair<NodeId, Message>> messages;
  messages.reserve(ready.messages.size() + out.messages.size());
  for (auto& o : ready.messages) messages.emplace_back(o.to, std::move(o.message));
  for (auto& m : out.messages) messages.push_back(std::move(m));
  // The arbiter is a voter and nothing else: it hears claims and election requests only.
  if (const auto arbiter = config_.arbiter()) {
    std::erase_if(messages, [&](const auto& m) {
      return m.first == *arbiter && !std::holds_alternative<ArbiterClaim>(m.second) &&
             !std::holds_alternative<PreVoteRequest>(m.second) &&
             !std::holds_alternative<VoteRequest>(m.second);
    });
  }
  out.messages = std::move(messages);
  out.events = std::move(ready.events);
  watch_availability(now, unix_us, out);
  out.notes = std::exchange(notes_, {});
  out.parses = std::exchange(parse_requests_, {});
  return out;
}

void NodeRuntime::run_docs(Instant now, bool executor_idle, RuntimeOutput& out) {
  if (!docs_) return;
  docs_->tick(membership(now), node_.coordinator(), now);
  DocOutput d = docs_->take();
  if (d.store) {
    // Votes carry it once it is on disk (on_doc_stored), not before.
    if (auto parsed = doc_from_bytes(d.store->bytes)) {
      // A document that brings another configuration keeps the intents in effect as they were
      // until that configuration is taken up: applied to the configuration still running, its
      // intents (an enable meant for the new definition) would start the old one again.
      if (parsed->config_text != applied_text_ && !held_intents_) held_intents_ = doc_;
      doc_ = std::move(*parsed);
      ++doc_generation_;
      apply_doc();
    } else {
      note(Event(EventKind::kDocumentUnreadable, EventLevel::kError)
               .add("version", show(d.store->version))
               .text("error", parsed.error()));
    }
    out.store = std::move(d.store);
  }
  for (auto& m : d.messages) out.messages.push_back(std::move(m));
  for (auto& e : d.events) note(std::move(e));
  for (auto& o : std::exchange(outcomes_, {})) out.outcomes.push_back(std::move(o));
  for (auto& o : d.outcomes) {
    if (const auto w = attribute_writes_.find(o.id); w != attribute_writes_.end()) {
      AttributeWrite write = std::move(w->second);
      attribute_writes_.erase(w);
      // Refused because the document had moved on (the coordinator answers with its version):
      // made again from the newer one.
      const bool stale = !o.ok && o.version != DocVersion{} && o.version != write.base;
      if (stale && write.tries < kAttributeTries) {
        write.retry_at = now + kAttributeRetryWait;
        attribute_retries_.push_back(std::move(write));
      } else {
        o.id = write.id;
        out.outcomes.push_back(std::move(o));
      }
    } else if (o.id != 0 && o.id == sequence_proposal_) {
      sequence_proposal_ = 0;
      if (!o.ok) {
        note(Event(EventKind::kSequenceStepRefused, EventLevel::kWarn).text("error", o.error));
        sequence_refused_ = o.error;
      }
    } else if (hold_proposals_.erase(o.id) == 0) {
      out.outcomes.push_back(std::move(o));
    } else if (!o.ok) {
      note(Event(EventKind::kFlapHoldNotStored, EventLevel::kError).text("error", o.error));
    }
  }
  retry_attributes(now);
  refresh_intents(now, unix_s_, executor_idle, out);
  sync_attributes(now);
  standby_handover(now);
}

void NodeRuntime::apply_doc() {
  intents_until_ = -1;  // recompute the constraints from the intents
  // What was pending is superseded: the configuration taken up is this document's, or none.
  pending_base_.reset();
  awaiting_parse_ = false;
  if (doc_.config_text == applied_text_) {
    held_intents_.reset();
    return;
  }
  const std::string version = std::to_string(doc_.config_version);
  const ParseResult* cfg = parsed(doc_.config_text, "configuration version " + version);
  if (cfg == nullptr) {
    awaiting_parse_ = true;  // on_parsed comes back here
    return;
  }
  if (!*cfg) {
    note(Event(EventKind::kConfigRefused, EventLevel::kError)
             .add("version", doc_.config_version)
             .text("error", cfg->error().front().to_string()));
    held_intents_.reset();  // the configuration stays; the intents move on
    return;
  }
  if (auto d = static_differences(config_, (*cfg)->config); !d.empty()) {
    note(Event(EventKind::kConfigRefused, EventLevel::kError)
             .add("version", doc_.config_version)
             .text("error", d.front())
             .text("effect", "restart every agent with the new file"));
    held_intents_.reset();
    return;
  }
  pending_base_ = (*cfg)->config;
}

const ParseResult* NodeRuntime::parsed(const std::string& text, const std::string& source) {
  for (const Parsed& p : parsed_) {
    if (p.text == text) return &p.result;
  }
  // Past the bound it is asked for when an answer makes room (a parked proposal is retried
  // then; a document's configuration is asked for again by apply_doc).
  if (parsing_.size() < kMaxParsing &&
      std::find(parsing_.begin(), parsing_.end(), text) == parsing_.end()) {
    parsing_.push_back(text);
    parse_requests_.push_back(ParseRequest{text, source});
  }
  return nullptr;
}

void NodeRuntime::on_parsed(const std::string& text, ParseResult result, Instant now) {
  const auto asked = std::find(parsing_.begin(), parsing_.end(), text);
  if (asked == parsing_.end()) return;  // not asked for (or answered already)
  parsing_.erase(asked);
  if (parsed_.size() >= kParsedKept) parsed_.pop_front();
  parsed_.push_back(Parsed{text, std::move(result)});
  now_ = now;
  if (awaiting_parse_) apply_doc();
  if (docs_) docs_->retry_parked(now);
}

void NodeRuntime::on_doc_stored(DocVersion version, Instant now) {
  if (!docs_) return;
  now_ = now;
  docs_->stored(version);
  if (!options_.unsafe_votes) node_.set_doc_version(docs_->durable());
}

void NodeRuntime::refresh_intents(Instant now, std::int64_t unix_s, bool executor_idle,
                                  RuntimeOutput& out) {
  // Taken up once the document that brings it is on disk here (the shell stores it off its
  // loop): an agent restarted in between starts from the configuration it was running.
  const bool on_disk = !docs_ || docs_->durable() >= docs_->doc().version;
  if (pending_base_ && executor_idle && on_disk && !(host_ && host_->leaving())) {
    rebuild(std::move(*pending_base_), now, out);
    pending_base_.reset();
    intents_until_ = -1;
  }
  const ClusterDoc& doc = intents();
  out.maintenance = maintenance_nodes(config_, doc)[options_.self.value];
  if (intents_until_ >= 0 && (intents_until_ == 0 || unix_s < intents_until_)) return;
  config_.resources.locations = effective_config(base_, doc, unix_s).resources.locations;
  if (host_) {
    host_->set_standby(standby_nodes(config_, doc));
    host_->set_held(held_resources(config_.resources, doc));
    host_->set_maintenance(maintenance_nodes(config_, doc));
  }
  intents_until_ = next_expiry(doc, unix_s).value_or(0);
}

void NodeRuntime::rebuild(ClusterConfig base, Instant now, RuntimeOutput& out) {
  Reconfiguration r;
  r.old_resources = config_.resources;
  r.config_version = doc_.config_version;
  // What the new list drops or redefines was stopped before the document was accepted
  // (`hactl config apply` stops it first, the coordinator refuses otherwise). If this node
  // still shows it running or acting (a race with a start), the shell stops it with its old
  // definition, so nothing runs that no configuration knows.
  if (host_ && !config_.node(options_.self).witness) {
    const NodeView& own = host_->conductor().views()[options_.self.value];
    const auto& old = r.old_resources.primitives;
    std::map<std::string_view, const PrimitiveConfig*> next;  // by id, once (not quadratic)
    for (const auto& q : base.resources.primitives) next.emplace(q.id, &q);
    for (std::size_t k = 0; k < old.size(); ++k) {
      const auto q = next.find(old[k].id);
      if (q != next.end() && same_definition(old[k], *q->second)) continue;
      const bool known = own.complete && k < own.entries.size();
      if (known && own.entries[k].role == ResourceRole::kStopped && !own.entries[k].busy) continue;
      r.orphans.emplace_back(old[k].id, known && own.entries[k].role == ResourceRole::kPromoted);
    }
  }
  base_ = std::move(base);
  applied_text_ = doc_.config_text;
  held_intents_.reset();
  take_config(base_);
  // The resource host is rebuilt on the new list, as an agent restart would: what runs here
  // is probed and kept (this node's lease still covers it).
  if (host_) {
    auto previous = std::move(host_);
    host_ = std::make_unique<ResourceHost>(config_, options_.self, now, lease_end_.value_or(now));
    host_->inherit(*previous);
    host_->set_incarnation(options_.incarnation);
    attributes_key_.first = ~0ULL;  // told to the new host afresh
    attributes_told_.reset();
  }
  note(Event(EventKind::kConfigApplied)
           .add("config_version", doc_.config_version)
           .add("primitives", config_.resources.primitives.size()));
  out.reconfigured = std::move(r);
}

// The coordinator's own node in standby: once a majority stored that (handing over before
// would fail the operator's request), the role goes to another node, which moves what runs.
// Tried once per document version (a node that cannot hand over says so once).
void NodeRuntime::standby_handover(Instant now) {
  const auto committed = docs_->committed();
  const DocVersion version = docs_->doc().version;
  if (node_.role() != Role::kCoordinator || !committed || *committed < version ||
      standby_handover_tried_ == version ||
      !standby_nodes(config_, intents())[options_.self.value]) {
    return;
  }
  // A node outside standby that holds this version first (see handover_avoid), for a while.
  const std::vector<bool> fresh = holds_document();
  const std::vector<bool> standby = standby_nodes(config_, intents());
  bool ready = false;
  for (std::size_t i = 0; i < fresh.size(); ++i) ready = ready || (fresh[i] && !standby[i]);
  if (!ready) {
    if (!standby_waiting_since_) standby_waiting_since_ = now;
    if (now - *standby_waiting_since_ < kStandbyHandoverWait) return;
  }
  standby_waiting_since_.reset();
  standby_handover_tried_ = version;
  if (!hand_over(std::nullopt, now)) {
    note(Event(EventKind::kHandoverImpossible, EventLevel::kWarn)
             .text("reason", "no online voter outside standby or maintenance heard lately"));
  }
}

void NodeRuntime::drive_sequence(Instant now) {
  if (!docs_ || !doc_.sequence || sequence_proposal_ != 0) return;
  if (node_.role() != Role::kCoordinator) return;
  if (sequence_looked_ && now < *sequence_looked_ + kSequenceEvery) return;
  sequence_looked_ = now;
  const OperatorSequence& s = *doc_.sequence;
  if (s.id != sequence_refused_id_) {
    sequence_refused_id_ = s.id;
    sequence_refused_.clear();
  }
  auto step =
      advance_sequence(doc_, base_.resources, possibly_active(now), unix_s_, sequence_refused_);
  if (!step) return;
  note(Event(EventKind::kSequenceEnded, step->end.done ? EventLevel::kInfo : EventLevel::kWarn)
           .add("sequence", step->end.id)
           .text("kind", std::string(to_string(step->end.kind)))
           .add("done", step->end.done)
           .add("config_version", step->end.config_version)
           .text("note", step->end.note));
  sequence_proposal_ = propose(step->next, now, std::chrono::seconds(10));
}

void NodeRuntime::hold(const HoldRequest& h) {
  if (!docs_) return;  // no document to keep it in (simulations of the resources alone)
  ClusterDoc next = doc_;
  if (std::any_of(next.held.begin(), next.held.end(),
                  [&](const FlapHold& f) { return f.resource == h.resource; })) {
    return;
  }
  next.held.push_back(FlapHold{h.resource, config_.node(h.node).name, unix_s_, h.moves,
                               std::chrono::duration_cast<std::chrono::seconds>(h.within).count()});
  std::sort(next.held.begin(), next.held.end(),
            [](const FlapHold& a, const FlapHold& b) { return a.resource < b.resource; });
  hold_proposals_.insert(propose(next, now_, std::chrono::seconds(10)));
}

void NodeRuntime::run_resources(Instant now, RuntimeOutput& out) {
  if (!host_) return;
  if (const auto end = ResourceHost::lease_end(node_, now)) lease_end_ = end;
  out.lease_end = ResourceHost::lease_end(node_, now);
  sync_core(now);
  host_->run(node_, now);
  HostOutput h = host_->take();
  for (auto& m : h.messages) out.messages.push_back(std::move(m));
  out.host_log = std::move(h.log);
  out.calls = std::move(h.calls);
  out.monitors = std::move(h.monitors);
  out.fence_ops = std::move(h.fence_ops);
  out.announces = std::move(h.announces);
  out.vip_checks = std::move(h.vip_checks);
  for (const HoldRequest& r : h.holds) hold(r);
  out.vip_deadline = host_->vip_deadline(node_, now);
}

void NodeRuntime::watch_availability(Instant now, std::int64_t unix_us, RuntimeOutput& out) {
  if (!host_) return;
  if (availability_looked_ && now - *availability_looked_ < std::chrono::milliseconds{20}) return;
  availability_looked_ = now;
  const Membership mem = host_->membership(node_, now);
  const auto& views = host_->conductor().views();
  // A reachable node that has not reported since this node took up its configuration (or
  // started) runs what it runs, unknown here: no judgement until it has, for up to
  // kAvailabilityHold. A new configuration that changes nothing running is no outage.
  bool unknown = false;
  for (std::size_t i = 0; i < config_.nodes.size(); ++i) {
    if (mem.up[i] && !config_.nodes[i].witness && !views[i].complete) unknown = true;
  }
  if (!unknown) {
    availability_unknown_since_.reset();
  } else {
    if (!availability_unknown_since_) availability_unknown_since_ = now;
    if (now - *availability_unknown_since_ < kAvailabilityHold) return;
  }
  const ClusterState state = host_->conductor().state(mem, now);
  // Vips announced on their node and not yet confirmed by a peer: not up there yet.
  std::set<std::string> unverified;
  const auto& prims = config_.resources.primitives;
  for (std::size_t k = 0; k < prims.size(); ++k) {
    if (prims[k].cls != ResourceClass::kVip) continue;
    for (std::size_t i = 0; i < config_.nodes.size(); ++i) {
      if (mem.up[i] && k < views[i].entries.size() &&
          views[i].entries[k].check == VipCheck::kPending) {
        unverified.insert(prims[k].id);
      }
    }
  }
  out.availability = availability_.observe(config_, state, unix_us, unverified);
}

Instant NodeRuntime::next_deadline(Instant now) const {
  Instant next = node_.next_deadline();
  if (host_) next = std::min(next, host_->next_deadline(node_, now));
  if (docs_) {
    if (const auto d = docs_->next_deadline()) next = std::min(next, *d);
  }
  if (const auto d = checks_.next_deadline()) next = std::min(next, *d);
  for (const auto& w : attribute_retries_) next = std::min(next, w.retry_at);
  if (docs_ && doc_.sequence && sequence_proposal_ == 0 && node_.role() == Role::kCoordinator) {
    next = std::min(next, sequence_looked_ ? *sequence_looked_ + kSequenceEvery : now);
  }
  return next;
}

}  // namespace hactl
