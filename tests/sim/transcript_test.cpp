// Transcript tests (etcd-io/raft's datadriven style): each file in tests/sim/testdata/ is a
// script of commands against a simulated cluster with exact clocks (no drift, 50-149 us per
// datagram), each followed by `----` and the output it must print. They read as the
// specification of the election, lease and handover rules (docs/design.md). HACTL_REGEN=1
// rewrites the expected outputs; commit them only when the diff is understood.
//
// Commands:
//   cluster nodes=N [witnesses=W] [seed=S]   a new cluster, every node started
//   run DURATION                             let time pass (ms); prints the core's events
//   crash NODE | restart NODE | isolate NODE | heal | block FROM TO | pause NODE DURATION
//   handover NODE [TARGET]                   NODE hands the coordinator role over (or asks)
//   status                                   every node: role, term, coordinator, lease
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "sim/simulator.hpp"

namespace hactl::sim {
namespace {

struct Stanza {
  std::string before;  // the comments and blank lines above it, kept when regenerating
  std::string command;
  std::string expected;
  std::size_t line = 0;
};

std::vector<Stanza> parse(const std::string& text) {
  std::vector<Stanza> out;
  std::istringstream in(text);
  std::string line;
  std::string before;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line.starts_with("#")) {
      before += line + "\n";
      continue;
    }
    Stanza s{std::exchange(before, {}), line, "", n};
    if (!std::getline(in, line) || line != "----") {
      throw std::runtime_error("line " + std::to_string(n + 1) + ": expected ----");
    }
    ++n;
    while (std::getline(in, line) && !line.empty()) {
      ++n;
      s.expected += line + "\n";
    }
    ++n;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> w;
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}

RealTime duration_us(const std::string& s) {
  if (!s.ends_with("ms")) throw std::runtime_error("durations are in ms: " + s);
  return std::stoll(s.substr(0, s.size() - 2)) * 1000;
}

// The core's events worth reading in a transcript (not node_up chatter or resources).
bool interesting(const std::string& line) {
  static const std::set<std::string> kinds = {
      "election_started", "became_coordinator", "stepped_down",   "quorum_gained",
      "quorum_lost",      "node_down",          "lease_released", "lease_release_ended",
      "handover",         "coordinator_changed"};
  const auto w = words(line);
  return w.size() >= 3 && kinds.contains(w[2]);
}

class Transcript {
 public:
  std::string run(const std::string& command) {
    const auto w = words(command);
    const std::string& verb = w.at(0);
    if (verb == "cluster") return make(w);
    if (!sim_) throw std::runtime_error("no cluster yet");
    if (verb == "run") {
      sim_->run_for(duration_us(w.at(1)));
    } else if (verb == "crash") {
      sim_->crash(index(w.at(1)));
    } else if (verb == "restart") {
      sim_->restart(index(w.at(1)));
    } else if (verb == "isolate") {
      sim_->isolate(index(w.at(1)));
    } else if (verb == "heal") {
      sim_->heal_network();
    } else if (verb == "block") {
      sim_->block(index(w.at(1)), index(w.at(2)));
    } else if (verb == "pause") {
      sim_->pause(index(w.at(1)), duration_us(w.at(2)));
    } else if (verb == "handover") {
      sim_->hand_over(index(w.at(1)), w.size() > 2 ? std::optional{index(w.at(2))} : std::nullopt);
    } else if (verb == "status") {
      return status();
    } else {
      throw std::runtime_error("unknown command " + verb);
    }
    std::string out;
    for (const auto& line : sim_->take_journal()) {
      if (interesting(line)) out += line + "\n";
    }
    if (!sim_->result().ok) out += "SAFETY: " + sim_->result().failure.substr(0, 200) + "\n";
    return out.empty() ? "ok\n" : out;
  }

 private:
  std::string make(const std::vector<std::string>& w) {
    std::map<std::string, std::uint64_t> kv{{"nodes", 3}, {"witnesses", 0}, {"seed", 1}};
    for (std::size_t i = 1; i < w.size(); ++i) {
      const auto eq = w[i].find('=');
      kv[w[i].substr(0, eq)] = std::stoull(w[i].substr(eq + 1));
    }
    SimOptions o;
    o.nodes = kv["nodes"];
    o.witnesses = kv["witnesses"];
    o.max_drift_ppm = 0;
    o.max_delay = 100;
    o.journal = true;
    sim_ = std::make_unique<Simulation>(o, kv["seed"]);
    sim_->start_all();
    sim_->take_journal();
    nodes_ = o.nodes;
    return "ok\n";
  }

  std::size_t index(const std::string& name) const {
    if (name.size() < 2 || name[0] != 'n') throw std::runtime_error("bad node " + name);
    const std::size_t i = std::stoul(name.substr(1)) - 1;
    if (i >= nodes_) throw std::runtime_error("no node " + name);
    return i;
  }

  std::string status() const {
    std::ostringstream out;
    for (std::size_t i = 0; i < nodes_; ++i) {
      const ElectionCore* n = sim_->node(i);
      out << "n" << i + 1 << ": ";
      if (n == nullptr) {
        out << "down\n";
        continue;
      }
      const Instant now = sim_->local_now(i);
      const auto c = n->coordinator();
      out << to_string(n->role()) << " term=" << n->term().value
          << " coordinator=" << (c ? "n" + std::to_string(c->value + 1) : std::string("none"))
          << " lease=" << (n->has_quorum(now) ? "valid" : "none");
      if (n->has_quorum(now)) {
        const auto since =
            std::chrono::duration_cast<std::chrono::milliseconds>(now - *n->lease_since());
        out << " (for " << since.count() << "ms)";
      }
      std::string released;
      for (std::size_t p = 0; p < nodes_; ++p) {
        if (p != i && n->lease_released_at(NodeId{static_cast<std::uint16_t>(p)}, now)) {
          released += (released.empty() ? "" : ",") + ("n" + std::to_string(p + 1));
        }
      }
      if (!released.empty()) out << " released=" << released;
      out << "\n";
    }
    return out.str();
  }

  std::unique_ptr<Simulation> sim_;
  std::size_t nodes_ = 0;
};

class TranscriptFile : public ::testing::TestWithParam<std::string> {};

TEST_P(TranscriptFile, Replays) {
  const std::filesystem::path path = GetParam();
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream text;
  text << in.rdbuf();
  const auto stanzas = parse(text.str());
  ASSERT_FALSE(stanzas.empty()) << path;
  Transcript t;
  std::string regenerated;
  for (const Stanza& s : stanzas) {
    const std::string got = t.run(s.command);
    EXPECT_EQ(got, s.expected) << path.filename().string() << ":" << s.line << ": " << s.command;
    regenerated += s.before + s.command + "\n----\n" + got + "\n";
  }
  if (std::getenv("HACTL_REGEN") != nullptr) std::ofstream(path) << regenerated;
}

std::vector<std::string> files() {
  std::vector<std::string> out;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(HACTL_SOURCE_DIR) + "/tests/sim/testdata")) {
    if (e.path().extension() == ".txt") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string test_name(const ::testing::TestParamInfo<std::string>& file) {
  return std::filesystem::path(file.param).stem().string();
}

INSTANTIATE_TEST_SUITE_P(Testdata, TranscriptFile, ::testing::ValuesIn(files()), test_name);

}  // namespace
}  // namespace hactl::sim
