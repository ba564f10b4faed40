// Operator intents as golden cases (the scheduler's habit, tests/scheduler): each directory of
// tests/intents holds config.yaml, an optional state.yaml (the scheduler's STATE format),
// commands.txt and expected.txt, what a person checked. Commands run one after the other on one
// cluster document, each on the document the previous one left:
//   hactl node|resource|config ...   as the CLI sends it (coordinator/intents.hpp decides)
//   request VERB {json}              a raw control request body
//   advance [REFUSAL]                the coordinator's step of the sequence under way
//   now +SECONDS | now UNIX          the wall clock
//   active [PRIMITIVE...]            what may be active anywhere (advance, config apply)
//   unreachable NODE... | reachable  the nodes not heard lately
// A mismatch fails with a line diff; HACTL_REGEN=1 rewrites expected.txt (commit it only once
// the diff is understood).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/control_request.hpp"
#include "coordinator/intents.hpp"
#include "coordinator/state_file.hpp"
#include "tests/unit/line_diff.hpp"
#include "tests/unit/recorded_case.hpp"

namespace hactl {
namespace {

namespace fs = std::filesystem;
using testing::line_diff;
using testing::slurp;

struct Session {
  fs::path dir;
  ClusterConfig base;
  std::string base_text;  // the text `base` was parsed from
  ClusterState state;
  ClusterDoc doc;
  std::int64_t now = 1'700'000'000;
  std::set<std::string> active;
  std::vector<bool> reachable;
  std::map<std::string, std::string> file_of;  // configuration text -> its file's name
};

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string list(const std::vector<std::string>& v) {
  if (v.empty()) return "-";
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

std::string describe_sequence(const OperatorSequence& s, std::int64_t now) {
  std::string out = "#" + std::to_string(s.id) + " " + std::string(to_string(s.kind)) + " by " +
                    s.by + ": stopping " + list(s.stopping) + "; enables " + list(s.enable) +
                    " at its end; deadline in " + std::to_string(s.deadline - now) + " s";
  if (s.kind == OperatorSequence::Kind::kConfigApply) {
    out +=
        "; over config version " + std::to_string(s.over_version) + ", removes " + list(s.removed);
  }
  return out;
}

std::string describe_doc(const Session& s, const ClusterDoc& d) {
  std::ostringstream out;
  const auto file = s.file_of.find(d.config_text);
  out << "  config: version " << d.config_version << " ("
      << (file == s.file_of.end() ? "?" : file->second) << ") by " << d.config_by << "\n";
  out << "  standby: " << list(d.standby) << "\n  maintenance: " << list(d.maintenance) << "\n";
  out << "  placements:" << (d.placements.empty() ? " -" : "") << "\n";
  for (const auto& p : d.placements) {
    out << "    " << to_string(p.kind) << (p.role == RoleFilter::kPromoted ? " promoted " : " ")
        << p.resource << " " << p.node << ", "
        << (p.expires == 0 ? "until cleared"
                           : "expires in " + std::to_string(p.expires - s.now) + " s")
        << ", by " << p.by << "\n";
  }
  out << "  disabled: " << list(d.disabled) << "\n";
  out << "  sequence: " << (d.sequence ? describe_sequence(*d.sequence, s.now) : "-") << "\n";
  if (d.last_sequence) {
    const SequenceEnd& e = *d.last_sequence;
    out << "  last sequence: #" << e.id << " " << to_string(e.kind)
        << (e.done ? " done" : " undone: " + e.note)
        << (e.config_version != 0 ? ", config version " + std::to_string(e.config_version) : "")
        << "\n";
  }
  return out.str();
}

// The configuration the document holds becomes the session's (an apply took effect).
void take_config(Session& s) {
  if (s.doc.config_text == s.base_text) return;
  auto parsed = parse_config(s.doc.config_text, "document");
  ASSERT_TRUE(parsed.has_value());
  s.base = parsed->config;
  s.base_text = s.doc.config_text;
}

std::string outcome(Session& s, const IntentResult& r) {
  if (!r) {
    std::string out = "refused: " + r.error().error + "\n";
    for (const auto& e : r.error().errors) out += "  | " + e + "\n";
    return out;
  }
  nlohmann::json answer = r->answer;
  std::string plan;
  if (answer.contains("plan")) {
    plan = answer["plan"]["text"].get<std::string>();
    answer.erase("plan");
  }
  std::string out = "ok " + answer.dump() + "\n" + plan;
  if (!r->next) return out + "document: not written\n";
  if (*r->next == s.doc) return out + "document: unchanged\n";
  s.doc = *r->next;
  take_config(s);
  return out + "document:\n" + describe_doc(s, s.doc);
}

IntentContext context(const Session& s) {
  return IntentContext{s.base, s.doc, s.state, s.reachable, s.now};
}

// `hactl ...` as cli/main.cpp builds the request.
std::optional<nlohmann::json> cli_request(const std::vector<std::string>& w, std::string& error) {
  if (w.size() < 4) {
    error = "too short";
    return std::nullopt;
  }
  const std::string verb = w[1] + "-" + w[2];
  nlohmann::json body = {{"cmd", verb}};
  std::vector<std::string> operands;
  for (std::size_t i = 3; i < w.size(); ++i) {
    const std::string& a = w[i];
    if (a == "--dry-run") {
      body["dry_run"] = true;
    } else if (a == "--promoted") {
      body["promoted"] = true;
    } else if (a == "--force") {
      body["force"] = true;
    } else if ((a == "--lifetime" || a == "--node" || a == "--timeout") && i + 1 < w.size()) {
      const std::string v = w[++i];
      if (a == "--node") body["node"] = v;
      if (a == "--timeout") body["timeout_s"] = std::stod(v);
      if (a == "--lifetime") {
        const auto d = parse_duration(v);
        body["lifetime_s"] = v == "forever" ? -1 : d ? d->count() / 1'000'000 : 0;
      }
    } else {
      operands.push_back(a);
    }
  }
  if (verb == "resource-enable" || verb == "resource-disable") {
    body["resources"] = operands;
  } else if (w[1] == "node") {
    body["node"] = operands.at(0);
  } else {
    body["resource"] = operands.at(0);
    if (operands.size() > 1) body["node"] = operands[1];
  }
  return body;
}

std::string run_intent(Session& s, const nlohmann::json& body) {
  const auto verb = control_verb(body.value("cmd", std::string()));
  if (!verb) return "not a verb: " + body.dump() + "\n";
  const auto intent = intent_from_request(*verb, body, "operator");
  if (!intent) return "refused: " + intent.error() + "\n";
  return outcome(s, decide_intent(context(s), *intent));
}

std::string config_apply(Session& s, const std::vector<std::string>& w) {
  const std::string file = w.at(3);
  const std::string text = slurp(s.dir / file);
  const auto parsed = parse_config(text, file);
  if (!parsed) return "invalid: " + parsed.error().front().to_string() + "\n";
  s.file_of[text] = file;
  if (text == s.doc.config_text) return "unchanged: it is the configuration in force\n";
  ApplyIntent a;
  a.text = text;
  a.by = "operator from " + file;
  a.checked_version = s.doc.config_version;
  a.stop_first = stop_first(s.base.resources, parsed->config.resources, s.active);
  a.removed = removed_resources(s.base.resources, parsed->config.resources);
  for (std::size_t i = 4; i + 1 < w.size(); i += 2) {
    if (w[i] == "--timeout") a.timeout_s = std::stoll(w[i + 1]);
    // As if checked against an earlier version (another apply came in between).
    if (w[i] == "--checked-version") a.checked_version = std::stoull(w[i + 1]);
  }
  return outcome(s, decide_apply(context(s), a));
}

std::string advance(Session& s, const std::string& refused) {
  const auto step = advance_sequence(s.doc, s.base.resources, s.active, s.now, refused);
  if (!step) return "nothing to do yet\n";
  s.doc = step->next;
  take_config(s);
  return "document:\n" + describe_doc(s, s.doc);
}

std::string directive(Session& s, const std::string& line) {
  const auto w = words(line);
  if (w[0] == "now") {
    s.now = w.at(1)[0] == '+' ? s.now + std::stoll(w[1].substr(1)) : std::stoll(w[1]);
    return "";
  }
  if (w[0] == "active") {
    s.active = std::set<std::string>(w.begin() + 1, w.end());
    return "";
  }
  if (w[0] == "unreachable" || w[0] == "reachable") {
    s.reachable.assign(s.base.nodes.size(), true);
    for (std::size_t i = 1; i < w.size(); ++i)
      s.reachable.at(s.base.find_node(w[i])->value) = false;
    return "";
  }
  if (w[0] == "adopted") {
    // A configuration adopted past the sequence (as an agent that knows none would).
    const std::string text = slurp(s.dir / w.at(1));
    s.file_of[text] = w[1];
    s.doc = adopt_config(s.doc, text, "an older agent", s.now, {});
    take_config(s);
    return "document:\n" + describe_doc(s, s.doc);
  }
  if (w[0] == "advance") return advance(s, line.size() > 8 ? line.substr(8) : "");
  if (w[0] == "request") {
    return run_intent(s, nlohmann::json::parse(line.substr(line.find('{'))));
  }
  if (w[0] == "hactl" && w.size() > 2 && w[1] == "config" && w[2] == "apply") {
    return config_apply(s, w);
  }
  if (w[0] == "hactl") {
    std::string error;
    const auto body = cli_request(w, error);
    return body ? run_intent(s, *body) : "bad command: " + error + "\n";
  }
  return "unknown directive: " + w[0] + "\n";
}

std::string run_case(const fs::path& dir) {
  Session s;
  s.dir = dir;
  const std::string text = slurp(dir / "config.yaml");
  auto config = parse_config(text, "config.yaml");
  if (!config) return "config error: " + config.error().front().to_string();
  s.base = config->config;
  s.base_text = text;
  if (fs::exists(dir / "state.yaml")) {
    auto state = parse_state(s.base, slurp(dir / "state.yaml"), "state.yaml");
    if (!state) return "state error: " + state.error().front().to_string();
    s.state = *state;
  } else {
    s.state = *parse_state(s.base, "{}", "none");
  }
  s.reachable.assign(s.base.nodes.size(), true);
  s.file_of[text] = "config.yaml";
  s.doc = adopt_config(ClusterDoc{}, text, "config.yaml on n1", s.now, {});
  std::string out = "initial document:\n" + describe_doc(s, s.doc);
  std::istringstream lines(slurp(dir / "commands.txt"));
  bool comment = false;  // the last line was one: a block of them is one paragraph
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      out += (comment ? "" : "\n") + line + "\n";
      comment = true;
      continue;
    }
    comment = false;
    out += "$ " + line + "\n" + directive(s, line);
  }
  return out;
}

std::vector<fs::path> case_dirs() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(fs::path(HACTL_SOURCE_DIR) / "tests" / "intents")) {
    if (e.is_directory()) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(IntentsGolden, EveryCase) {
  const bool regen = std::getenv("HACTL_REGEN") != nullptr;
  const auto cases = case_dirs();
  ASSERT_GE(cases.size(), 5u);
  for (const auto& dir : cases) {
    const std::string got = run_case(dir);
    if (regen) {
      std::ofstream(dir / "expected.txt") << got;
      continue;
    }
    const std::string want = slurp(dir / "expected.txt");
    EXPECT_TRUE(got == want) << "case " << dir.filename().string()
                             << " differs (- expected, + got; HACTL_REGEN=1 rewrites it):\n"
                             << line_diff(want, got);
  }
}

// Every verb and every refusal text of coordinator/intents.cpp appears in some case.
TEST(IntentsGolden, CasesCoverEveryVerbAndRefusal) {
  std::string all;
  for (const auto& dir : case_dirs()) all += slurp(dir / "expected.txt");
  for (const char* needle : {"$ hactl node standby",
                             "$ hactl node online",
                             "$ hactl node maintenance",
                             "$ hactl resource move",
                             "$ hactl resource ban",
                             "$ hactl resource clear",
                             "$ hactl resource enable",
                             "$ hactl resource disable",
                             "$ hactl resource restart",
                             "$ hactl config apply",
                             "did you mean",
                             "; known: ",
                             "is a witness",
                             "is in maintenance and not reachable",
                             "no resource given",
                             "is a clone and runs on",
                             "is not running anywhere",
                             "cannot move",
                             "is disabled: `hactl resource enable",
                             "is under way (sequence",
                             "the configuration changed (now version",
                             "lifetime_s must be a whole number",
                             "lifetime_s is too large",
                             "malformed request: [json",
                             "timeout_s must be",
                             "did not stop within",
                             "its last step was refused",
                             "while this one waited",
                             "\"dry_run\":true",
                             "document: unchanged",
                             "is not an operator intent"}) {
    EXPECT_NE(all.find(needle), std::string::npos) << "no case shows: " << needle;
  }
}

}  // namespace
}  // namespace hactl
