// What `hactl import keepalived` reads out of each host's keepalived.conf (import_keepalived.cpp)
// and hands to the mapping onto hactl's configuration (keepalived_mapping.cpp). Internal to the
// importer; cli/import_keepalived.hpp is its interface.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cli/import_keepalived.hpp"
#include "common/types.hpp"

namespace hactl::ka {

// The report's notes, merged: a note with the same what and why as an earlier one adds its
// place to that one (the same setting in every host's file is one line).
class Notes {
 public:
  void not_carried(const std::string& where, std::string what, std::string why);
  void assume(const std::string& where, std::string what, std::string why);
  std::vector<KaNote> take_not_carried() { return std::move(not_carried_.notes); }
  std::vector<KaNote> take_assumptions() { return std::move(assumptions_.notes); }

 private:
  struct List {
    std::vector<KaNote> notes = {};
    std::map<std::string, std::size_t> index = {};  // what + '\0' + why -> its note
    std::set<std::string> places = {};              // index + '\0' + where, once each
  };
  static void add(List& list, const std::string& where, std::string what, std::string why);
  List not_carried_;
  List assumptions_;
};

// A track_script or track_interface entry: NAME [weight W] [reverse|noreverse].
struct Track {
  std::string name = {};
  std::string where = {};
  std::optional<int> weight = std::nullopt;
  std::optional<bool> reverse = std::nullopt;
};

// notify_master, notify_backup, notify_fault, notify_stop or notify.
struct Notify {
  std::string keyword = {};
  std::string command = {};  // the script and its arguments, as keepalived runs it
  std::string where = {};
};

struct Vip {
  std::string address = {};  // with its prefix
  bool prefix_given = true;
  std::string interface = {};                               // "" : the instance's
  std::optional<std::string> preferred_lft = std::nullopt;  // "0" or "forever"
  std::string where = {};
};

struct Instance {
  std::string name = {};
  std::string where = {};
  int vrid = 0;
  int priority = 100;
  std::string state = {};  // MASTER, BACKUP or ""
  std::string interface = {};
  bool nopreempt = false;
  std::optional<Duration> preempt_delay = std::nullopt;
  bool track_primary = true;  // not dont_track_primary
  std::optional<Duration> garp_refresh = std::nullopt;
  std::vector<Vip> vips = {};
  std::vector<Track> scripts = {};
  std::vector<Track> interfaces = {};
  std::vector<Notify> notifies = {};
  std::vector<std::string> unicast_peers = {};
  std::string src_ip = {};  // unicast_src_ip, else mcast_src_ip
  bool ipv6() const { return !vips.empty() && vips.front().address.find(':') != std::string::npos; }
};

struct Script {
  std::string name = {};
  std::string where = {};
  std::string command = {};
  Duration interval = std::chrono::seconds{1};
  std::optional<Duration> timeout = std::nullopt;  // default: the interval
  int weight = 0;
  bool reverse = false;
  int fall = 1;
  int rise = 1;
};

struct SyncGroup {
  std::string name = {};
  std::string where = {};
  std::vector<std::string> members = {};  // instance names
  std::vector<std::string> member_where = {};
  std::vector<Track> scripts = {};
  std::vector<Track> interfaces = {};
  std::vector<Notify> notifies = {};
  bool tracking_weight = false;  // sync_group_tracking_weight: weighted trackers count
};

// One host's file, as read.
struct Host {
  std::string file = {};
  std::string node = {};        // the node's name in hactl, once chosen
  std::string node_from = {};   // how it was chosen, for the report
  std::string given_node = {};  // --node NAME=FILE ("" : none)
  std::string router_id = {};
  std::string router_id_where = {};
  std::string default_interface = {};  // global_defs default_interface ("" : keepalived's eth0)
  std::optional<Duration> garp_refresh = std::nullopt;  // global vrrp_garp_master_refresh
  std::vector<Instance> instances = {};
  std::map<std::string, Script> scripts = {};
  std::vector<SyncGroup> groups = {};
};

// Reads one parsed file (import_keepalived.cpp). Errors: "file:line: what: why".
Host read_host(const KaSource& source, const std::vector<KaStatement>& statements, Notes& notes,
               std::vector<std::string>& errors);

// The hosts, read, as one hactl configuration (keepalived_mapping.cpp). Errors as above.
std::expected<KaImport, std::vector<std::string>> map_hosts(std::vector<Host> hosts,
                                                            const KaImportOptions& options,
                                                            Notes& notes);

// "2", "0.5", "1.25": keepalived's seconds (microsecond resolution), from 0 to `max_s`.
std::optional<Duration> seconds(const std::string& text, double max_s);

}  // namespace hactl::ka
