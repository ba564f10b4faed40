#include "coordinator/host_checks.hpp"

#include <algorithm>

#include "common/assert.hpp"
#include "common/config.hpp"
#include "common/limits.hpp"
#include "common/wire.hpp"

namespace hactl {

HostChecks::HostChecks(std::size_t nodes, NodeId self, std::uint64_t first_id)
    : n_(nodes), self_(self), next_id_(std::max<std::uint64_t>(first_id, 1)) {}

std::uint64_t HostChecks::start(std::string text, std::vector<NodeId> peers, Instant now,
                                Instant deadline) {
  HACTL_ASSERT(!text.empty() && text.size() <= limits::kMaxConfigBytes);
  const std::uint64_t id = next_id_++;
  Round& r = rounds_[id];
  r.text = std::make_shared<const std::string>(std::move(text));
  r.digest = text_digest(*r.text);
  r.deadline = deadline;
  for (const NodeId p : peers) {
    if (p == self_ || p.value >= n_) continue;
    r.peers.emplace(p, Peer{});
    queue(p, CheckChunkKind::kCandidate, id, r.text, r.digest);
    r.peers[p].sending = true;
  }
  if (r.peers.empty()) {
    finish(id);
  } else {
    pump(now);
  }
  return id;
}

bool HostChecks::assemble(Assembly& a, const CheckChunk& c) {
  const std::size_t chunks = (c.total + kDocChunkBytes - 1) / kDocChunkBytes;
  if (a.have.empty() || a.id != c.id || a.digest != c.digest || a.bytes.size() != c.total) {
    a = Assembly{c.id, c.digest, std::string(c.total, '\0'), std::vector<bool>(chunks, false),
                 chunks};
  }
  if (c.offset % kDocChunkBytes != 0) return false;
  const std::size_t index = c.offset / kDocChunkBytes;
  if (index >= chunks || c.data.size() != std::min<std::size_t>(kDocChunkBytes, c.total - c.offset))
    return false;
  if (a.have[index]) return false;  // a duplicate: the text was complete, or is not yet
  a.have[index] = true;
  --a.missing;
  std::copy(c.data.begin(), c.data.end(), a.bytes.begin() + static_cast<long>(c.offset));
  return a.missing == 0 && text_digest(a.bytes) == a.digest;
}

void HostChecks::on_chunk(NodeId from, const CheckChunk& c, Instant now) {
  if (from == self_ || from.value >= n_ || c.total == 0) return;
  if (c.kind == CheckChunkKind::kCandidate) {
    on_candidate(from, c);
  } else {
    on_report(from, c);
  }
  pump(now);
}

void HostChecks::on_candidate(NodeId from, const CheckChunk& c) {
  if (c.total > limits::kMaxConfigBytes) return;
  Asked& a = asked_[from];
  if (c.id < a.incoming.id) return;  // an older check of the same asker
  if (c.id > a.incoming.id) a = Asked{};
  const bool again = a.incoming.missing == 0 && !a.incoming.have.empty() &&
                     a.incoming.digest == c.digest && a.incoming.bytes.size() == c.total;
  if (again) {
    // The asker sends the text again: it has not heard the report. Restart the count, so that
    // the report goes once more when the whole text is here again.
    std::fill(a.incoming.have.begin(), a.incoming.have.end(), false);
    a.incoming.missing = a.incoming.have.size();
  }
  if (!assemble(a.incoming, c)) return;
  if (a.report) {
    queue(from, CheckChunkKind::kReport, c.id, a.report, a.report_digest);
  } else if (!a.checking) {
    a.checking = true;
    out_.asks.push_back(
        HostCheckAsk{from, c.id, std::make_shared<const std::string>(a.incoming.bytes)});
  }
}

void HostChecks::on_report(NodeId from, const CheckChunk& c) {
  const auto r = rounds_.find(c.id);
  if (r == rounds_.end() || c.total > limits::kMaxHostReportBytes) return;
  const auto p = r->second.peers.find(from);
  if (p == r->second.peers.end() || p->second.report) return;
  if (!assemble(p->second.incoming, c)) return;
  auto report = decode_host_report(p->second.incoming.bytes);
  if (!report) {
    report = HostReport{false, "its report did not decode (another version of hactl?)", {}};
  }
  p->second.report = std::move(*report);
  p->second.incoming = Assembly{};
  const bool all = std::all_of(r->second.peers.begin(), r->second.peers.end(),
                               [](const auto& e) { return e.second.report.has_value(); });
  if (all) finish(c.id);
}

void HostChecks::on_checked(NodeId asker, std::uint64_t id, const HostReport& report) {
  const auto a = asked_.find(asker);
  if (a == asked_.end() || a->second.incoming.id != id || a->second.report) return;
  a->second.checking = false;
  a->second.report = std::make_shared<const std::string>(encode_host_report(report));
  a->second.report_digest = text_digest(*a->second.report);
  a->second.incoming.bytes.clear();  // the text is not needed any more
  a->second.incoming.bytes.shrink_to_fit();
  queue(asker, CheckChunkKind::kReport, id, a->second.report, a->second.report_digest);
}

void HostChecks::peer_restarted(NodeId from) {
  asked_.erase(from);
  std::erase_if(outbound_, [&](const Outbound& o) {
    return o.to == from && o.kind == CheckChunkKind::kReport;
  });
}

void HostChecks::queue(NodeId to, CheckChunkKind kind, std::uint64_t id,
                       std::shared_ptr<const std::string> bytes, std::uint64_t digest) {
  const bool queued = std::any_of(outbound_.begin(), outbound_.end(), [&](const Outbound& o) {
    return o.to == to && o.kind == kind && o.id == id;
  });
  if (queued) return;
  outbound_.push_back(Outbound{to, kind, id, digest, std::move(bytes), 0});
}

void HostChecks::pump(Instant now) {
  if (outbound_.empty() || now < next_burst_) return;
  std::size_t sent = 0;
  for (auto it = outbound_.begin(); it != outbound_.end() && sent < kChunksPerBurst;) {
    Outbound& o = *it;
    // A round that ended sends no more of its text.
    const bool stale = o.kind == CheckChunkKind::kCandidate && !rounds_.contains(o.id);
    while (!stale && sent < kChunksPerBurst && o.next < o.bytes->size()) {
      CheckChunk c{o.kind,
                   o.id,
                   o.digest,
                   static_cast<std::uint32_t>(o.bytes->size()),
                   static_cast<std::uint32_t>(o.next),
                   o.bytes->substr(o.next, kDocChunkBytes)};
      o.next += kDocChunkBytes;
      out_.messages.emplace_back(o.to, std::move(c));
      ++sent;
    }
    if (stale || o.next >= o.bytes->size()) {
      if (!stale && o.kind == CheckChunkKind::kCandidate) {
        Peer& p = rounds_[o.id].peers[o.to];
        p.sending = false;
        p.sent = now;
      }
      it = outbound_.erase(it);
    } else {
      ++it;
    }
  }
  next_burst_ = now + kBurstGap;
}

void HostChecks::finish(std::uint64_t id) {
  const auto r = rounds_.find(id);
  if (r == rounds_.end()) return;
  HostCheckRound done;
  done.id = id;
  for (auto& [node, peer] : r->second.peers) done.reports.emplace_back(node, peer.report);
  rounds_.erase(r);
  out_.done.push_back(std::move(done));
}

void HostChecks::tick(Instant now) {
  std::vector<std::uint64_t> over;
  for (auto& [id, r] : rounds_) {
    if (now >= r.deadline) {
      over.push_back(id);
      continue;
    }
    for (auto& [node, p] : r.peers) {
      if (!p.report && !p.sending && now >= p.sent + kResend) {
        p.sending = true;
        queue(node, CheckChunkKind::kCandidate, id, r.text, r.digest);
      }
    }
  }
  for (const auto id : over) finish(id);
  pump(now);
}

std::optional<Instant> HostChecks::next_deadline() const {
  std::optional<Instant> next;
  auto earliest = [&](Instant t) { next = next ? std::min(*next, t) : t; };
  if (!outbound_.empty()) earliest(next_burst_);
  for (const auto& [id, r] : rounds_) {
    earliest(r.deadline);
    for (const auto& [node, p] : r.peers) {
      if (!p.report && !p.sending) earliest(p.sent + kResend);
    }
  }
  return next;
}

}  // namespace hactl
