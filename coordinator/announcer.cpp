#include "coordinator/announcer.hpp"

#include <algorithm>

namespace hactl {
namespace {

std::int64_t ms(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

bool has(const std::vector<MacAddress>& list, const MacAddress& mac) {
  return std::find(list.begin(), list.end(), mac) != list.end();
}

}  // namespace

Announcer::Announcer(const ClusterConfig& config, NodeId self) : config_(config), self_(self) {}

void Announcer::set_mac(const std::string& interface, const MacAddress& mac) {
  macs_[interface] = mac;
}

void Announcer::started(std::size_t index, Instant now, bool keep) {
  if (index >= config_.resources.primitives.size()) return;
  const PrimitiveConfig& p = config_.resources.primitives[index];
  if (p.cls != ResourceClass::kVip) return;
  const auto params = parse_vip_params(p.params);
  if (!params) return;  // the loader refused such a file already
  Vip v;
  v.params = *params;
  v.keep = keep;
  v.ip = params->address.substr(0, params->address.find('/'));
  v.started = now;
  v.check = params->verify ? VipCheck::kPending : VipCheck::kNone;
  v.next_announce = now + kFirstRepeat;
  v.next_check = now;
  vips_[index] = std::move(v);
  changed_ = true;
}

void Announcer::stopped(std::size_t index) {
  if (vips_.erase(index) > 0) changed_ = true;
}

void Announcer::set_check(Vip& v, VipCheck c) {
  if (v.check == c) return;
  v.check = c;
  changed_ = true;
}

Event Announcer::event(EventKind kind, EventLevel level, std::size_t index, const Vip& v) const {
  Event e(kind, level);
  e.add("resource", config_.resources.primitives[index].id).add("address", v.params.address);
  e.add("announcements", v.announcements).add("checks", v.checks);
  return e;
}

void Announcer::announce_due(std::size_t index, Vip& v, Instant now) {
  if (!v.next_announce || now < *v.next_announce) return;
  out_.announce.push_back(index);
  ++v.announcements;
  const bool repeating =
      v.params.verify ? v.check != VipCheck::kVerified : v.announcements <= kRepeatsUnchecked;
  if (repeating) {
    v.backoff = std::min(v.backoff * 2, kMaxRepeat);
    v.next_announce = now + v.backoff;
  } else if (v.params.announce_refresh > Duration::zero()) {
    v.next_announce = now + v.params.announce_refresh;
  } else {
    v.next_announce.reset();
  }
}

std::optional<NodeId> Announcer::pick(const Vip& v, const std::vector<bool>& up) const {
  const std::size_t n = config_.nodes.size();
  // In turn, starting after the last one asked: nodes that run resources (they have the
  // service's network), then witnesses.
  const std::size_t from = (v.checks > 0 ? v.verifier.value : self_.value) + 1;
  for (const bool witness : {false, true}) {
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = (from + k) % n;
      if (i == self_.value || i >= up.size() || !up[i] || config_.nodes[i].witness != witness ||
          v.cannot.contains(static_cast<std::uint16_t>(i))) {
        continue;
      }
      return NodeId{static_cast<std::uint16_t>(i)};
    }
  }
  return std::nullopt;
}

void Announcer::send_check(std::size_t index, Vip& v, const std::vector<bool>& up, Term term,
                           Instant now) {
  const auto mac = macs_.find(v.params.interface);
  if (mac == macs_.end()) {
    check_failed(index, v, "the MAC of " + v.params.interface + " on this node is unknown",
                 now + kNoPeerRetry);
    return;
  }
  const auto peer = pick(v, up);
  if (!peer) {
    // Every peer heard said it cannot check; ask them again later (interfaces come and go).
    const bool any_up = std::any_of(up.begin(), up.end(), [](bool b) { return b; });
    check_failed(index, v,
                 v.cannot.empty() || !any_up ? "no peer to check it from"
                                             : "no peer can check it (" + v.detail + ")",
                 now + kNoPeerRetry);
    v.cannot.clear();
    return;
  }
  v.check_id = next_id_++;
  v.verifier = *peer;
  v.check_deadline = now + kWindow + kAnswerSlack;
  ++v.checks;
  out_.checks.emplace_back(
      *peer,
      VipCheckRequest{term, v.check_id, static_cast<std::uint32_t>(index), v.ip, v.params.interface,
                      mac->second, static_cast<std::uint32_t>(ms(kWindow))});
}

void Announcer::check_failed(std::size_t index, Vip& v, std::string detail, Instant retry_at) {
  // Part of it comes from a peer: kept to one quotable line in the event.
  std::replace(detail.begin(), detail.end(), '"', '\'');
  std::replace(detail.begin(), detail.end(), '\n', ' ');
  v.detail = std::move(detail);
  v.next_check = retry_at;
  if (++v.failed_checks == kUnverifiedAfter && v.check == VipCheck::kPending) {
    set_check(v, VipCheck::kUnverified);
    out_.events.push_back(event(EventKind::kVipUnverified, EventLevel::kWarn, index, v)
                              .text("reason", v.detail)
                              .text("effect", "announcements repeated, checks continue"));
  }
}

void Announcer::tick(const std::vector<bool>& up, Term term, Instant now, bool lease) {
  for (auto& [index, v] : vips_) {
    if (!lease && !v.keep) continue;
    announce_due(index, v, now);
    if (!v.params.verify || v.check == VipCheck::kVerified) continue;
    if (v.check_id != 0 && now >= v.check_deadline) {
      const std::string who = config_.nodes[v.verifier.value].name;
      v.check_id = 0;
      v.cannot.insert(v.verifier.value);  // the others first
      check_failed(index, v, "no answer from " + who + " to a check", now);
    }
    if (v.check_id == 0 && now >= v.next_check) send_check(index, v, up, term, now);
  }
}

void Announcer::on_result(NodeId from, const VipCheckResult& r, Instant now) {
  const auto it = vips_.find(r.index);
  if (it == vips_.end()) return;
  Vip& v = it->second;
  if (r.id != v.check_id || from != v.verifier || v.check_id == 0) return;
  v.check_id = 0;
  const std::string who = config_.nodes[from.value].name;
  if (!r.probed) {
    v.cannot.insert(from.value);
    check_failed(r.index, v, who + " cannot check: " + r.detail, now);
    return;
  }
  const MacAddress mine = macs_.at(v.params.interface);
  for (const auto* list : {&r.answered, &r.announced}) {
    for (const MacAddress& mac : *list) {
      if (mac == mine) continue;
      // Another host answers for (or announces) this address: a duplicate, or an old holder.
      v.detail = who + " saw " + to_string(mac) + " " +
                 (list == &r.answered ? "answer" : "announce") + " for " + v.ip + " too";
      if (v.check != VipCheck::kConflict) {
        out_.events.push_back(event(EventKind::kVipConflict, EventLevel::kWarn, r.index, v)
                                  .add("verifier", who)
                                  .add("other_mac", to_string(mac))
                                  .add("mac", to_string(mine)));
      }
      set_check(v, VipCheck::kConflict);
      v.next_check = now + std::max(v.backoff, Duration{std::chrono::seconds{1}});
      return;
    }
  }
  const bool announced = has(r.announced, mine);
  const bool answered = has(r.answered, mine);
  if (announced && answered) {
    v.took = now - v.started;
    v.detail.clear();
    set_check(v, VipCheck::kVerified);
    out_.events.push_back(event(EventKind::kVipVerified, EventLevel::kInfo, r.index, v)
                              .add("verifier", who)
                              .add("took_ms", ms(*v.took))
                              .add("mac", to_string(mine)));
    // Repeats end here; the periodic refresh takes over.
    v.next_announce = v.params.announce_refresh > Duration::zero()
                          ? std::optional<Instant>(now + v.params.announce_refresh)
                          : std::nullopt;
    return;
  }
  if (v.check == VipCheck::kConflict) set_check(v, VipCheck::kPending);
  check_failed(r.index, v,
               who +
                   (announced  ? " got no answer for it"
                    : answered ? " saw no announcement of it"
                               : " saw neither an announcement nor an answer") +
                   (r.detail.empty() ? "" : " (" + r.detail + ")"),
               now);
}

std::optional<Instant> Announcer::next_deadline() const {
  std::optional<Instant> next;
  auto at = [&](Instant t) { next = next ? std::min(*next, t) : t; };
  for (const auto& [index, v] : vips_) {
    if (v.next_announce) at(*v.next_announce);
    if (!v.params.verify || v.check == VipCheck::kVerified) continue;
    at(v.check_id != 0 ? v.check_deadline : v.next_check);
  }
  return next;
}

VipCheck Announcer::check(std::size_t index) const {
  const auto it = vips_.find(index);
  return it == vips_.end() ? VipCheck::kNone : it->second.check;
}

void Announcer::fill(std::size_t index, ResourceEntry& e) const {
  const auto it = vips_.find(index);
  if (it == vips_.end()) return;
  const Vip& v = it->second;
  e.check = v.check;
  e.check_ms =
      v.took ? static_cast<std::uint32_t>(std::clamp<std::int64_t>(ms(*v.took), 0, UINT32_MAX - 1))
             : 0;
  e.announcements = static_cast<std::uint8_t>(std::min<std::uint32_t>(v.announcements, 255));
}

}  // namespace hactl
