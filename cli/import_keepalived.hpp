// `hactl import keepalived`: keepalived.conf files, one per host, become one hactl configuration
// and a report of what was not carried over (with the file and line, and why) and what was
// assumed. Pure: texts in, YAML and report out; the command line reads and writes the files
// (cli/main.cpp), and included files come through a KaFileReader.
//
// The mapping (docs/importing.md, "Importing from keepalived"):
// - each host's file is a node: named by --node NAME=FILE, else its router_id, else the file's
//   name; its address is --address NAME=ADDR, else its unicast_src_ip / mcast_src_ip, else a
//   documentation address (192.0.2.x) to replace, said in the report;
// - vrrp_instances of different files are the same instance when they have the same
//   virtual_router_id and address family; each becomes its vips (one per virtual_ipaddress and
//   virtual_ipaddress_excluded entry, grouped when there are several) with a location score per
//   node from that host's priority (-inf on a host whose file does not have the instance);
// - vrrp_sync_group: one group of its instances' vips;
// - preemption (keepalived's default) is failback: immediate, preempt_delay {after: ...},
//   nopreempt never, taken from the host of the highest priority (the one that would preempt);
// - track_script: a clone of ocf:heartbeat:anything whose monitor runs the script, the vips
//   colocated with it (inf without a weight; the weight's size with one);
// - track_interface and the instance's own interface (unless dont_track_primary): a clone of
//   ocf:heartbeat:ethmonitor and a location rule on its node attribute;
// - notify scripts: alert hooks, written commented out (their calling convention differs);
// - virtual_server and the rest of LVS, and what VRRP alone needs: reported, not carried over.
#pragma once

#include <expected>
#include <map>
#include <string>
#include <vector>

#include "cli/keepalived_parser.hpp"

namespace hactl {

// One keepalived.conf from the command line.
struct KaSource {
  std::string path;  // as given: names the file in errors, the report and the YAML's header
  std::string node;  // --node NAME=FILE; "" for a file given alone
  std::string text;
};

struct KaImportOptions {
  std::string cluster_name = "keepalived";
  std::string key_file = "/etc/hactl/authkey";
  std::map<std::string, std::string> addresses = {};  // --address NAME=ADDRESS[:PORT]
  std::string arbiter = {};                           // --arbiter HOST[:PORT]
  std::string witness = {};                           // --witness NAME=ADDRESS[:PORT]
};

// One line of the report: where (file:line, several when the same thing is in several files),
// what, and why it was not carried over or what was assumed.
struct KaNote {
  std::vector<std::string> where = {};
  std::string what;
  std::string why;
};

struct KaImport {
  std::string yaml;                 // the configuration, commented
  std::vector<std::string> mapped;  // what became what, one line each
  std::vector<KaNote> not_carried;  // in the order met
  std::vector<KaNote> assumptions;
  std::string report() const;  // the text for people: mapped, not carried, assumed
};

inline constexpr std::size_t kMaxKaSources = 32;  // one per node: limits::kMaxNodes

// Errors (the input cannot be imported faithfully): "file:line: what: why", all that were found.
std::expected<KaImport, std::vector<std::string>> import_keepalived(
    const std::vector<KaSource>& sources, const KaImportOptions& options,
    const KaFileReader& reader);

}  // namespace hactl
