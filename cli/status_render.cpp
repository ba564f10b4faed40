#include "cli/status_render.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <vector>

namespace hactl {
namespace {

using Row = std::vector<std::string>;

std::string table(const std::vector<Row>& rows) {
  std::vector<std::size_t> width;
  for (const auto& r : rows) {
    width.resize(std::max(width.size(), r.size()));
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string str(const nlohmann::json& j, const char* key, const char* fallback = "-") {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : fallback;
}

Row node_row(const nlohmann::json& n) {
  const bool self = n.value("self", false);
  std::string role = n.value("coordinator", false) ? "coordinator"
                     : n.value("witness", false)   ? "witness"
                                                   : "member";
  if (self) role += " (this node)";
  std::string heard = "-";
  if (!self && n.contains("last_heard_ms") && n["last_heard_ms"].is_number()) {
    heard = format_age_ms(n["last_heard_ms"].get<std::int64_t>()) + " ago";
  } else if (!self) {
    heard = "never";
  }
  std::string rtt = "-";
  // A standby node is heard like an online one; only an offline node's RTT is stale.
  if (n.contains("rtt_ms") && n["rtt_ms"].is_number() && str(n, "state") != "offline") {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fms", n["rtt_ms"].get<double>());
    rtt = buf;
  }
  std::string reason = str(n, "reason", "");
  if (n.contains("fencing") && n["fencing"].is_object()) {
    const auto& f = n["fencing"];
    std::string what = "fencing " + str(f, "stage", "?");
    if (f.contains("level") && f["level"].is_number()) {
      what += " (level " + std::to_string(f["level"].get<int>()) + ")";
    }
    if (f.contains("by") && f["by"].is_string()) what += " by " + f["by"].get<std::string>();
    if (f.contains("error") && f["error"].is_string()) what += ": " + f["error"].get<std::string>();
    if (f.contains("retry_in_ms") && f["retry_in_ms"].is_number()) {
      what += ", again in " + format_age_ms(f["retry_in_ms"].get<std::int64_t>());
    }
    reason += (reason.empty() ? "" : "; ") + what;
  }
  return {str(n, "name"), str(n, "state"), role, heard, rtt, reason};
}

}  // namespace

std::string format_age_ms(std::int64_t ms) {
  if (ms < 1000) return std::to_string(ms) + "ms";
  if (ms < 60'000) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
    return buf;
  }
  const std::int64_t s = ms / 1000;
  if (s < 3600) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
  return std::to_string(s / 3600) + "h" + std::to_string((s % 3600) / 60) + "m";
}

std::string format_unix_time(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

namespace {

// An operator sequence under way (`config apply`, `resource restart`, a reload): what it stops
// first, and when the coordinator undoes it if that has not stopped.
void render_sequence(std::ostringstream& out, const nlohmann::json& q) {
  std::string stopping;
  if (q.contains("stopping") && q["stopping"].is_array()) {
    for (const auto& r : q["stopping"])
      if (r.is_string()) stopping += (stopping.empty() ? "" : ", ") + r.get<std::string>();
  }
  out << "Under way: " << str(q, "kind") << " #" << q.value("id", std::uint64_t{0}) << " by "
      << str(q, "by") << ", stopping " << (stopping.empty() ? "nothing" : stopping)
      << " first; undone in " << format_age_ms(q.value("deadline_in_s", std::int64_t{0}) * 1000)
      << " if that has not stopped\n";
}

// The cluster document: the configuration in force, operator intents, a sequence under way,
// flap damping holds.
void render_document(std::ostringstream& out, const nlohmann::json& d) {
  out << "\nConfiguration version " << d.value("config_version", 0) << ", applied "
      << format_unix_time(d.value("config_applied", std::int64_t{0})) << " by "
      << str(d, "config_by") << (d.value("config_pending", false) ? " (being applied here)" : "")
      << "\n";
  std::vector<std::string> lines;
  if (d.contains("placements") && d["placements"].is_array()) {
    for (const auto& p : d["placements"]) {
      std::string line = str(p, "kind") == "prefer" ? "move " : "ban ";
      if (str(p, "role") == "promoted") line += "the promoted role of ";
      line +=
          str(p, "resource") + (str(p, "kind") == "prefer" ? " to " : " from ") + str(p, "node");
      if (p.contains("expires_in_s") && p["expires_in_s"].is_number()) {
        line += " (expires in " + format_age_ms(p["expires_in_s"].get<std::int64_t>() * 1000) + ")";
      } else {
        line += " (until cleared)";
      }
      lines.push_back(line + ", by " + str(p, "by"));
    }
  }
  if (d.contains("disabled") && d["disabled"].is_array()) {
    for (const auto& r : d["disabled"])
      if (r.is_string()) lines.push_back("disabled " + r.get<std::string>());
  }
  if (!lines.empty()) {
    out << "Operator intents (hactl resource clear / enable to remove):\n";
    for (const auto& l : lines) out << "  " << l << "\n";
  }
  if (d.contains("sequence") && d["sequence"].is_object()) render_sequence(out, d["sequence"]);
  if (d.contains("held") && d["held"].is_array() && !d["held"].empty()) {
    out << "Held by flap damping (hactl resource cleanup RESOURCE releases it):\n";
    for (const auto& h : d["held"]) {
      out << "  " << str(h, "resource") << " on " << str(h, "node") << " since "
          << format_unix_time(h.value("since", std::int64_t{0})) << ": " << h.value("moves", 0)
          << " moves within " << format_age_ms(h.value("within_s", std::int64_t{0}) * 1000) << "\n";
    }
  }
}

}  // namespace

namespace {

// Node attributes (crm_attribute, crm_master, attrd_updater) by node, and cluster properties
// (crm_attribute -t crm_config), as crm_mon -A shows them.
void render_attributes(std::ostringstream& out, const nlohmann::json& s) {
  std::vector<std::pair<std::string, std::string>> by_node;  // node, "name=value ..."
  if (s.contains("attributes") && s["attributes"].is_array()) {
    for (const auto& a : s["attributes"]) {
      const std::string node = str(a, "node");
      std::string item = str(a, "name") + "=" + str(a, "value", "");
      if (str(a, "lifetime") == "reboot") item += " (reboot)";
      if (by_node.empty() || by_node.back().first != node) by_node.emplace_back(node, "");
      by_node.back().second += (by_node.back().second.empty() ? "" : ", ") + item;
    }
  }
  if (!by_node.empty()) {
    out << "\nNode attributes (set by resource agents; reboot: until the node's agent stops):\n";
    for (const auto& [node, items] : by_node) out << "  " << node << ": " << items << "\n";
  }
  if (s.contains("properties") && s["properties"].is_object() && !s["properties"].empty()) {
    out << "Cluster properties:";
    for (const auto& [name, value] : s["properties"].items()) {
      out << " " << name << "=" << (value.is_string() ? value.get<std::string>() : value.dump());
    }
    out << "\n";
  }
}

}  // namespace

std::string render_status(const nlohmann::json& s) {
  std::ostringstream out;
  const bool quorum = s.value("quorum", false);
  out << "Cluster " << str(s, "cluster") << "  node " << str(s, "node") << "  term "
      << s.value("term", 0) << "  quorum " << (quorum ? "yes" : "NO") << "\n";
  const auto& c = s.contains("coordinator") ? s["coordinator"] : nlohmann::json();
  out << "Coordinator: " << (c.is_string() ? c.get<std::string>() : "none known") << "\n";
  if (!quorum) {
    out << "This node has no quorum: it runs no resources (no_quorum_policy "
        << str(s, "no_quorum_policy") << ").\n";
  }
  out << "\n";
  std::vector<Row> rows = {{"NODE", "STATE", "ROLE", "LAST HEARD", "RTT", "REASON"}};
  if (s.contains("nodes") && s["nodes"].is_array()) {
    for (const auto& n : s["nodes"]) rows.push_back(node_row(n));
  }
  out << table(rows);
  if (s.contains("arbiter") && s["arbiter"].is_object()) {
    const auto& a = s["arbiter"];
    out << "Arbiter " << str(a, "name") << " (" << str(a, "address") << "): "
        << (a.value("reachable", false) ? "reachable"
                                        : "UNREACHABLE (a split would stop both nodes)");
    if (a.contains("rtt_ms") && a["rtt_ms"].is_number())
      out << ", rtt " << a["rtt_ms"].get<double>() << " ms";
    if (a.value("claiming", false))
      out << ", asked for its vote: " << (a.value("held", false) ? "backs this node" : "refused");
    if (a.contains("holder") && a["holder"].is_string())
      out << ", holder " << a["holder"].get<std::string>();
    out << "\n";
  }
  if (s.contains("two_node") && s["two_node"].is_object()) {
    const auto& t = s["two_node"];
    const bool unsafe = t.contains("last_resort") && t["last_resort"].is_string();
    if (unsafe) {
      out << "UNSAFE last resort (unsafe_take_over): a node that stops hearing its peer runs "
             "everything; a cut link runs it on both nodes\n";
    }
    out << (unsafe ? "Two nodes without fencing: " : "Two nodes with fencing: ");
    if (t.value("waiting_for_peer", false)) {
      out << "WAITING for the peer (wait_for_all): this node fences nobody and runs nothing on "
             "its own until it has run with its peer, or `hactl cluster unblock`\n";
    } else if (t.contains("stand_ins") && t["stand_ins"].is_array() && !t["stand_ins"].empty()) {
      out << "running alone: " << t["stand_ins"][0].get<std::string>()
          << (unsafe ? " is taken as dead" : " is fenced (or left cleanly)")
          << " and stands in for its vote\n";
    } else {
      out << (unsafe ? "the pair runs together\n"
                     : "the pair runs together; a split is decided by fencing\n");
    }
  }
  if (s.contains("resources") && s["resources"].is_array() && !s["resources"].empty()) {
    std::vector<Row> res = {{"RESOURCE", "TYPE", "STATE", "ON", "FAILURES"}};
    for (const auto& r : s["resources"]) {
      std::string on;
      if (r.contains("nodes") && r["nodes"].is_array()) {
        for (const auto& n : r["nodes"])
          if (n.is_string()) on += (on.empty() ? "" : ",") + n.get<std::string>();
      }
      std::string state = str(r, "state");
      if (r.contains("verify") && r["verify"].is_object()) {
        const auto& v = r["verify"];
        state += " (" + str(v, "state");
        if (v.contains("took_ms") && v["took_ms"].is_number())
          state += " in " + format_age_ms(v["took_ms"].get<std::int64_t>());
        state += ")";
      }
      if (r.contains("held") && r["held"].is_string()) state += ", held";
      res.push_back({str(r, "id"), str(r, "type"), state, on.empty() ? "-" : on,
                     std::to_string(r.value("fail_count", 0))});
    }
    out << "\n" << table(res);
    // Resources whose on_quorum_loss differs from the cluster's policy, by name.
    const bool cluster_stops = str(s, "no_quorum_policy") == "stop";
    std::string odd;
    for (const auto& r : s["resources"]) {
      if (!r.contains("on_quorum_loss") || !r["on_quorum_loss"].is_string()) continue;
      if ((r["on_quorum_loss"].get<std::string>() == "stop") != cluster_stops)
        odd += (odd.empty() ? "" : ", ") + str(r, "id");
    }
    if (!odd.empty()) {
      out << "On quorum loss a node "
          << (cluster_stops ? "stops its resources but keeps " : "keeps its resources but stops ")
          << odd << ".\n";
    }
  }
  if (s.contains("failures") && s["failures"].is_array() && !s["failures"].empty()) {
    out << "\nFailures (hactl resource cleanup RESOURCE forgets them):\n";
    for (const auto& f : s["failures"]) {
      const int count = f.value("count", 0);
      out << "  " << str(f, "resource") << " on " << str(f, "node") << ": ";
      // INFINITY: a failed start, or an agent that cannot run there: banned until cleanup.
      if (count >= 1'000'000) {
        out << "banned there";
      } else {
        out << count << (count == 1 ? " failure" : " failures");
      }
      if (f.contains("last_ago_s") && f["last_ago_s"].is_number()) {
        out << ", last " << format_age_ms(f["last_ago_s"].get<std::int64_t>() * 1000) << " ago";
      }
      if (f.contains("reason") && f["reason"].is_string()) {
        out << ": " << f["reason"].get<std::string>();
      }
      out << "\n";
    }
  }
  render_attributes(out, s);
  if (s.contains("document") && s["document"].is_object()) render_document(out, s["document"]);
  if (s.contains("scheduler") && s["scheduler"].is_object()) {
    const auto& sch = s["scheduler"];
    const std::string waiting = str(sch, "waiting_for", "");
    std::string lines;
    if (sch.value("active", false) && !waiting.empty()) lines += "Waiting for " + waiting + "\n";
    if (sch.contains("notes") && sch["notes"].is_array()) {
      for (const auto& n : sch["notes"])
        if (n.is_string()) lines += "Note: " + n.get<std::string>() + "\n";
    }
    if (!lines.empty()) out << "\n" << lines;
  }
  return out.str();
}

}  // namespace hactl
