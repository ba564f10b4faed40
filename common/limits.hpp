// Every bound of hactl in one place (TigerBeetle's habit): nodes, message sizes, queues.
// A limit that two parts must agree on is defined here once and checked where it is used.
#pragma once

#include <chrono>
#include <cstddef>

namespace hactl::limits {

inline constexpr std::size_t kMaxNodes = 32;
// Scores saturate here: +-kInfinity is "always" / "never" (Pacemaker's INFINITY).
inline constexpr int kInfinity = 1'000'000;
inline constexpr std::size_t kMaxResources = 20'000;
inline constexpr std::size_t kMaxNodeNameLength = 63;
inline constexpr std::size_t kMaxClusterNameLength = 63;
// Largest datagram hactl sends or accepts; anything larger is dropped as oversized.
inline constexpr std::size_t kMaxDatagramSize = 1400;
// Pings remembered per node for matching echoes: two per peer per heartbeat interval, so a
// 32-node cluster still matches an echo four intervals old.
inline constexpr std::size_t kPingHistory = 256;
// Releases one heartbeat carries (Heartbeat::released): more than half the nodes down leaves no
// majority for which a release could matter.
inline constexpr std::size_t kMaxReleasesPerHeartbeat = kMaxNodes / 2;
// The cluster document (intents and the resource configuration) and its kept history.
inline constexpr std::size_t kMaxDocBytes = 8 * 1024 * 1024;
// A host check's report, as one node sends it to the node that asked (common/host_check.hpp):
// its findings beyond the first detailed ones go in a few bytes each.
inline constexpr std::size_t kMaxHostReportBytes = 512 * 1024;
inline constexpr std::size_t kConfigHistory = 20;
// Node attributes (crm_attribute, attrd_updater): per node, and the length of a name and value.
inline constexpr std::size_t kMaxAttributesPerNode = 256;
// Cluster properties (crm_attribute -t crm_config) the document keeps at most.
inline constexpr std::size_t kMaxClusterProperties = 256;
inline constexpr std::size_t kMaxAttributeNameLength = 128;
inline constexpr std::size_t kMaxAttributeValueLength = 4096;
// Location rules (common/rule.hpp): the text of one, its conditions, and how deep its
// parentheses nest. Far above what pcs or crm shell users write (pgsql's rule has two
// conditions), and small enough that evaluating every rule on every node stays cheap.
inline constexpr std::size_t kMaxRuleLength = 1024;
inline constexpr std::size_t kMaxRuleConditions = 64;
inline constexpr std::size_t kMaxRuleDepth = 8;
// Control socket: largest request line and most concurrent clients.
// A request from a writer (root or the admin group) may carry a configuration file.
inline constexpr std::size_t kMaxControlRequest = 64 * 1024;
inline constexpr std::size_t kMaxConfigBytes = 2 * 1024 * 1024;
inline constexpr std::size_t kMaxAdminControlRequest = 3 * kMaxConfigBytes;
inline constexpr std::size_t kMaxControlClients = 64;
// Of those, a uid that is not an admin (root or the admin group) holds at most this many, and
// all of them together leave kAdminControlSlots for admins: a reader cannot lock root out.
inline constexpr std::size_t kMaxControlClientsPerUid = 8;
inline constexpr std::size_t kAdminControlSlots = 8;
// A client that sends nothing for this long while no request of its own is being answered is
// disconnected (one that connects and says nothing holds a slot).
inline constexpr std::chrono::seconds kControlIdleTimeout{10};
// Refusals of one kind are logged once per window, with a count of the ones left unlogged.
inline constexpr std::chrono::seconds kRefusalLogWindow{10};
// Output kept from a resource agent run (its tail), for events and `hactl status`.
inline constexpr std::size_t kMaxCapturedOutput = 4096;

// Clock rate error the lease arithmetic tolerates between any two nodes' monotonic clocks
// (parts per million). NTP slews CLOCK_MONOTONIC by at most 500 ppm; this is ten times that.
inline constexpr long kMaxClockDriftPpm = 5000;

inline constexpr std::chrono::milliseconds kMinHeartbeatInterval{10};
inline constexpr std::chrono::milliseconds kMaxHeartbeatInterval{10'000};
// node_timeout must cover at least this many heartbeat intervals, so one lost datagram never
// marks a node down.
inline constexpr int kMinHeartbeatsPerTimeout = 3;

// The arbiter (hactl-arbiter): the longest promise a claim may ask of it (a cluster's
// node_timeout), how many clusters one arbiter serves and how many nodes of one it tracks.
inline constexpr std::chrono::seconds kMaxArbiterPromise{600};
inline constexpr std::size_t kMaxArbiterClusters = 10'000;
inline constexpr std::size_t kMaxArbiterNodes = kMaxNodes;

}  // namespace hactl::limits
