// What an operator's command does to the cluster document: `hactl node standby|online|
// maintenance`, `resource move|ban|clear|enable|disable|restart` and `config apply`, as pure
// functions from the document, the configuration, the cluster as this node sees it and the time
// to the new document, or to a refusal with the reason the operator reads. The agent parses the
// request, calls these, and proposes the document; nothing here reads a clock, a file or a
// socket. Golden cases: tests/intents/ (one per verb and refusal).
//
// Operator sequences (a config apply that must stop something first, a restart) are recorded in
// the document itself (ClusterDoc::sequence) and advanced by whichever node coordinates
// (advance_sequence): they finish, or are undone at their deadline, whoever asked and whatever
// happens to the client or to the agent that took the request. Invariant: a resource a sequence
// disabled is enabled again by the same step that ends it.
#pragma once

#include <cstdint>
#include <expected>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/cluster_doc.hpp"
#include "common/config.hpp"
#include "common/control_request.hpp"
#include "coordinator/cluster_state.hpp"

namespace hactl {

// How long `hactl resource restart` and `config apply` wait for what they stop (--timeout).
inline constexpr std::int64_t kDefaultSequenceTimeoutSeconds = 120;
// The longest wait a sequence is given (a day): its deadline cannot overflow.
inline constexpr std::int64_t kMaxSequenceTimeoutSeconds = 24 * 3600;

// Whether a control verb is one of the intents below (node standby|online|maintenance,
// resource move|ban|clear|enable|disable|restart).
bool is_intent(ControlVerb v);

struct Intent {
  ControlVerb verb = ControlVerb::kNodeStandby;  // is_intent()
  std::optional<std::string> node;     // absent: none given (move: away from where it runs)
  std::string resource;                // move, ban, clear, restart
  std::vector<std::string> resources;  // enable, disable
  std::int64_t lifetime_s = 0;         // move, ban: 0 the default (an hour), < 0 until cleared
  bool force = false;                  // online: end the maintenance of an unreachable node
  bool dry_run = false;                // move, ban: what it would do; nothing is written
  bool promoted = false;  // move, ban: the promoted role of a promotable clone (--promoted)
  std::int64_t timeout_s = kDefaultSequenceTimeoutSeconds;  // restart: for the stop
  std::string by;                                           // who asks ("uid 0 (root)")
};

// The intent a control request's body asks for: "malformed request: ..." for a member of the
// wrong type or a lifetime that is not a whole number of seconds.
std::expected<Intent, std::string> intent_from_request(ControlVerb verb, const nlohmann::json& body,
                                                       std::string by);

// A sequence's timeout_s member: seconds, a fraction rounded up; null, the default.
std::expected<std::int64_t, std::string> sequence_timeout(const nlohmann::json& value);

// What an intent reads.
struct IntentContext {
  const ClusterConfig& base;    // the configuration as applied, without intents
  const ClusterDoc& doc;        // the document in force
  const ClusterState& state;    // the cluster as this node sees it (move, ban)
  std::vector<bool> reachable;  // by NodeId: heard lately (online of a node in maintenance)
  std::int64_t now_unix = 0;
};

struct IntentDecision {
  std::optional<ClusterDoc> next;  // the document to propose; nullopt: nothing to write
  nlohmann::json answer;           // for the client, with the proposal's outcome added
};

struct IntentRefusal {
  std::string error;                // what the operator reads; nothing was changed
  std::vector<std::string> errors;  // details, one per line
};

using IntentResult = std::expected<IntentDecision, IntentRefusal>;

IntentResult decide_intent(const IntentContext& c, const Intent& intent);

// `hactl config apply` of a configuration already parsed and checked (on every node's host):
// adopted at once, or, when it removes or redefines something active (`stop_first`), a
// sequence that stops that first.
struct ApplyIntent {
  std::string text;
  std::string by;                       // who, from which file
  std::uint64_t checked_version = 0;    // the configuration version it was checked against
  std::vector<std::string> stop_first;  // top-level resources, active, it removes or redefines
  std::vector<std::string> removed;     // removed_resources(current, next)
  std::vector<std::string> enable;      // disabled for it by an earlier client: enabled with it
  std::int64_t timeout_s = kDefaultSequenceTimeoutSeconds;
};
IntentResult decide_apply(const IntentContext& c, const ApplyIntent& apply);

// The one place a configuration is adopted (an apply, the last step of an apply's sequence,
// the first document of a cluster): the next config_version with its text, time and author;
// expired intents and intents on the `removed` resources dropped.
ClusterDoc adopt_config(ClusterDoc doc, std::string text, std::string by, std::int64_t now_unix,
                        const std::vector<std::string>& removed);
// Resource ids (primitives, groups, clones) of `current` that `next` does not have, sorted.
std::vector<std::string> removed_resources(const ResourceConfig& current,
                                           const ResourceConfig& next);

// The top-level resources of `current` that an apply of `next` stops first: those with a
// primitive that may be active anywhere (`active`) and that `next` removes or redefines, sorted.
std::vector<std::string> stop_first(const ResourceConfig& current, const ResourceConfig& next,
                                    const std::set<std::string>& active);

// The document's sequence one step on, if it can move: done once none of the primitives of what
// it stops may be active anywhere (`possibly_active`, NodeRuntime::possibly_active), else undone
// at its deadline (`refused`: why its last step was refused, if it was, for the note).
struct SequenceStep {
  ClusterDoc next;
  SequenceEnd end;
};
std::optional<SequenceStep> advance_sequence(const ClusterDoc& doc, const ResourceConfig& rc,
                                             const std::set<std::string>& possibly_active,
                                             std::int64_t now_unix,
                                             const std::string& refused = {});

// A sequence as the client sees it (status, the answer that starts one).
nlohmann::json sequence_json(const OperatorSequence& s, std::int64_t now_unix);
nlohmann::json sequence_end_json(const SequenceEnd& e);

}  // namespace hactl
