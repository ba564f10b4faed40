// `hactl import keepalived` (see import_keepalived.hpp): each host's file read into the model of
// keepalived_model.hpp, keyword by keyword; what hactl has no use for goes to the report with its
// reason. The mapping onto hactl's configuration is keepalived_mapping.cpp.
#include "cli/import_keepalived.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string_view>
#include <utility>

#include "cli/keepalived_model.hpp"
#include "common/vip_params.hpp"
#include "common/yaml_reader.hpp"

namespace hactl {
namespace ka {
namespace {

// Why a keyword is not carried over, by kind.
constexpr const char* kVrrpProtocol =
    "a setting of the VRRP protocol: hactl's nodes do not speak VRRP (their own authenticated "
    "heartbeats replace it)";
constexpr const char* kAdvert =
    "hactl's own heartbeats replace VRRP adverts: one every heartbeat_interval (100ms), a node "
    "is down after node_timeout (300ms), where keepalived waited 3 x advert_int";
constexpr const char* kAuth =
    "hactl authenticates and encrypts its heartbeats with the cluster key "
    "(cluster.auth_key_file): there is no VRRP password";
constexpr const char* kPeers =
    "hactl sends its heartbeats to each node's address (nodes:), always unicast";
constexpr const char* kGarp =
    "hactl announces a moved address itself and repeats it until a peer has seen it from the "
    "new holder, then every announce_refresh (docs/vip.md)";
constexpr const char* kNoMail = "hactl sends no mail: an alert hook can (docs/alerts.md)";
constexpr const char* kScriptUser = "hactl runs resource agents and alert hooks as root";
constexpr const char* kNoVmac =
    "hactl adds the address to the interface with the interface's own MAC (no virtual MAC, "
    "macvlan or ipvlan)";
constexpr const char* kAccept =
    "hactl's vip takes the traffic sent to its address, as keepalived's accept mode does; there "
    "is no no_accept";
constexpr const char* kRoutes =
    "hactl has no route or rule resource: add an ocf:heartbeat:Route resource to the vip's group "
    "by hand";
constexpr const char* kOtherTracker =
    "hactl has no such tracker: write the check as a vrrp_script (imported as a monitor) and "
    "import again, or add a resource for it by hand";
constexpr const char* kNoHookEvent = "hactl's hooks have no such event";
constexpr const char* kProcess = "a setting of the keepalived process: no hactl equivalent";
constexpr const char* kLvs =
    "hactl does not configure IPVS (LVS): keep keepalived for it alone (keepalived --check runs "
    "only its health checker, without VRRP), or run a proxy such as haproxy as a systemd "
    "resource in the vip's group";
constexpr const char* kStatic =
    "keepalived keeps these on the host whatever happens: put them in the host's network "
    "configuration";
constexpr const char* kUnknown = "not a keepalived keyword the importer knows";
constexpr const char* kState =
    "the initial state only: hactl places the vip by its location scores (the priorities)";

const std::map<std::string_view, const char*>& instance_reasons() {
  static const std::map<std::string_view, const char*> k = {
      {"advert_int", kAdvert},
      {"authentication", kAuth},
      {"auth_hmac", kAuth},
      {"mcast_dst_ip", kPeers},
      {"unicast_ttl", kPeers},
      {"check_unicast_src", kPeers},
      {"unicast_fault_no_peer", kPeers},
      {"old_unicast_checksum", kVrrpProtocol},
      {"v3_checksum_as_v2", kVrrpProtocol},
      {"version", kVrrpProtocol},
      {"strict_mode", kVrrpProtocol},
      {"skip_check_adv_addr", kVrrpProtocol},
      {"lower_prio_no_advert", kVrrpProtocol},
      {"higher_prio_send_advert", kVrrpProtocol},
      {"down_timer_adverts", kVrrpProtocol},
      {"timer_expired_backup", kVrrpProtocol},
      {"native_ipv6", kVrrpProtocol},
      {"track_src_ip", kVrrpProtocol},
      {"no_virtual_ipaddress", kVrrpProtocol},
      {"garp_master_delay", kGarp},
      {"garp_master_repeat", kGarp},
      {"garp_lower_prio_delay", kGarp},
      {"garp_lower_prio_repeat", kGarp},
      {"garp_master_refresh_repeat", kGarp},
      {"garp_extra_if", kGarp},
      {"use_vmac", kNoVmac},
      {"use_vmac_addr", kNoVmac},
      {"vmac_xmit_base", kNoVmac},
      {"use_ipvlan", kNoVmac},
      {"accept", kAccept},
      {"no_accept", kAccept},
      {"virtual_routes", kRoutes},
      {"virtual_rules", kRoutes},
      {"track_file", kOtherTracker},
      {"track_process", kOtherTracker},
      {"track_bfd", kOtherTracker},
      {"smtp_alert", kNoMail},
      {"notify_master_rx_lower_pri", kNoHookEvent},
      {"notify_deleted", kNoHookEvent},
      {"notify_priority_changes", kNoHookEvent},
      {"promote_secondaries",
       "hactl does not set promote_secondaries: set it in the host's network configuration "
       "(net.ipv4.conf.IFACE.promote_secondaries)"},
      {"vrf", "hactl adds its vips in the default VRF"},
      {"debug", kProcess},
      {"kernel_rx_buf_size", kProcess},
      {"linkbeat_use_polling", kProcess},
  };
  return k;
}

// Why a top-level block is not carried over.
const char* top_level_reason(const std::string& keyword) {
  static const std::map<std::string_view, const char*> k = {
      {"virtual_server_group", kLvs},     {"SSL", kLvs},
      {"static_ipaddress", kStatic},      {"static_routes", kStatic},
      {"static_rules", kStatic},          {"track_file", kOtherTracker},
      {"vrrp_track_file", kOtherTracker}, {"vrrp_track_process", kOtherTracker},
      {"bfd_instance", kOtherTracker},    {"garp_group", kGarp},
      {"linkbeat_interfaces", kProcess},  {"interface_up_down_delays", kProcess},
      {"track_group", kStatic},
  };
  const auto it = k.find(keyword);
  if (it != k.end()) return it->second;
  if (keyword.starts_with("net_namespace") || keyword == "namespace_with_ipsets" ||
      keyword == "instance" || keyword == "use_pid_dir" || keyword == "linkbeat_use_polling" ||
      keyword == "child_wait_time") {
    return kProcess;
  }
  return kUnknown;
}

// Why a global_defs keyword is not carried over.
const char* global_reason(const std::string& k) {
  if (k.starts_with("notification_email") || k.starts_with("smtp_") || k == "no_email_faults") {
    return kNoMail;
  }
  if (k == "script_user" || k == "enable_script_security" || k == "set_supplementary_groups") {
    return kScriptUser;
  }
  if (k.starts_with("vrrp_garp_") || k.starts_with("vrrp_gna_") || k == "vrrp_min_garp") {
    return kGarp;
  }
  if (k.starts_with("vrrp_mcast_group") || k == "vrrp_check_unicast_src") return kPeers;
  if (k.starts_with("vrrp_") || k == "v3_checksum_as_v2") return kVrrpProtocol;
  if (k.starts_with("lvs_") || k.starts_with("checker_") || k.starts_with("nftables_ipvs")) {
    return kLvs;
  }
  return kProcess;
}

std::optional<int> integer(const std::string& text, int lo, int hi) {
  int v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size() || v < lo || v > hi) {
    return std::nullopt;
  }
  return v;
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// The statements of one host's file, with somewhere to put what they say.
struct Reader {
  Host& host;
  Notes& notes;
  std::vector<std::string>& errors;

  void error(const KaStatement& s, const std::string& what, const std::string& why) {
    errors.push_back(s.where() + ": " + what + ": " + why);
  }
  // The statement's single argument; an error naming `what` when it has none or several.
  std::optional<std::string> one(const KaStatement& s, const std::string& what) {
    if (s.args.size() == 1 && !s.has_block) return s.args[0];
    error(s, what,
          "expects one value, got " + std::to_string(s.args.size()) +
              (s.has_block ? " and a block" : ""));
    return std::nullopt;
  }
  std::optional<int> number(const KaStatement& s, const std::string& what, int lo, int hi) {
    const auto text = one(s, what);
    if (!text) return std::nullopt;
    const auto v = integer(*text, lo, hi);
    if (!v) {
      error(s, what,
            "'" + *text + "' is not a whole number from " + std::to_string(lo) + " to " +
                std::to_string(hi));
    }
    return v;
  }
  std::optional<Duration> secs(const KaStatement& s, const std::string& what, double max_s) {
    const auto text = one(s, what);
    if (!text) return std::nullopt;
    const auto v = seconds(*text, max_s);
    if (!v) {
      error(s, what,
            "'" + *text + "' is not a number of seconds from 0 to " +
                std::to_string(static_cast<int>(max_s)));
    }
    return v;
  }
  bool block(const KaStatement& s, const std::string& what) {
    if (s.has_block) return true;
    error(s, what, "expects a { ... } block");
    return false;
  }
};

// NAME [weight W] [reverse|noreverse], one per line of a track_script or track_interface block.
void read_tracks(Reader& r, const std::string& ctx, const KaStatement& s, std::vector<Track>& out) {
  if (!r.block(s, ctx)) return;
  for (const KaStatement& t : s.block) {
    Track track{t.keyword, t.where()};
    const std::string what = ctx + ": " + t.keyword;
    for (std::size_t i = 0; i < t.args.size(); ++i) {
      const std::string& a = t.args[i];
      if (a == "weight" && i + 1 < t.args.size()) {
        track.weight = integer(t.args[++i], -254, 254);
        if (!track.weight) r.error(t, what, "weight '" + t.args[i] + "' is not from -254 to 254");
      } else if (a == "reverse" || a == "noreverse") {
        track.reverse = a == "reverse";
      } else {
        r.error(t, what, "unexpected '" + a + "' (NAME [weight W] [reverse|noreverse])");
      }
    }
    out.push_back(std::move(track));
  }
}

// notify_master "/path/script args" [user [group]] and the like.
void read_notify(Reader& r, const std::string& ctx, const KaStatement& s,
                 std::vector<Notify>& out) {
  const std::string what = ctx + ": " + s.keyword;
  if (s.args.empty() || s.has_block) {
    r.error(s, what, "expects the script to run, and optionally a user and group");
    return;
  }
  out.push_back(Notify{s.keyword, s.args[0], s.where()});
  if (s.args.size() > 1) r.notes.not_carried(s.where(), what + " user " + s.args[1], kScriptUser);
}

bool is_notify(const std::string& k) {
  return k == "notify_master" || k == "notify_backup" || k == "notify_fault" ||
         k == "notify_stop" || k == "notify";
}

// One virtual_ipaddress line's options after the address: dev is kept, preferred_lft for IPv6,
// the rest reported.
void read_vip_options(Reader& r, const std::string& what, const KaStatement& t, Vip& vip) {
  static const std::map<std::string_view, const char*> kValued = {
      {"brd", "hactl adds the address with the kernel's defaults for it"},
      {"broadcast", "hactl adds the address with the kernel's defaults for it"},
      {"scope", "hactl adds the address with the kernel's defaults for it"},
      {"peer", "hactl adds the address with the kernel's defaults for it"},
      {"label", "hactl adds the address without a label"},
      {"track_group", kStatic}};
  for (std::size_t i = 0; i < t.args.size(); ++i) {
    const std::string& a = t.args[i];
    const bool has_value = i + 1 < t.args.size();
    if (a == "dev" && has_value) {
      vip.interface = t.args[++i];
    } else if (a == "preferred_lft" && has_value) {
      vip.preferred_lft = t.args[++i];
      if (*vip.preferred_lft != "0" && *vip.preferred_lft != "forever") {
        r.error(t, what, "preferred_lft '" + *vip.preferred_lft + "': hactl takes 0 or forever");
      }
    } else if (kValued.contains(a) && has_value) {
      r.notes.not_carried(t.where(), what + ": " + a + " " + t.args[i + 1], kValued.at(a));
      ++i;
    } else if (a == "-nodad") {
      // hactl adds vips without duplicate address detection anyway (nodad, docs/vip.md).
    } else if (a == "no_track") {
      r.notes.not_carried(t.where(), what + ": no_track", "hactl monitors every vip");
    } else if (a == "use_vmac") {
      r.notes.not_carried(t.where(), what + ": use_vmac", kNoVmac);
    } else {
      r.notes.not_carried(t.where(), what + ": " + a,
                          "hactl adds the address with the kernel's defaults for it");
    }
  }
}

void read_vips(Reader& r, const std::string& ctx, const KaStatement& s, std::vector<Vip>& out) {
  if (!r.block(s, ctx + ": " + s.keyword)) return;
  for (const KaStatement& t : s.block) {
    const std::string what = ctx + ": " + s.keyword + " " + t.keyword;
    Vip vip{t.keyword, true, "", std::nullopt, t.where()};
    if (vip.address.find('/') == std::string::npos) {
      vip.prefix_given = false;
      vip.address += vip.address.find(':') == std::string::npos ? "/32" : "/128";
    }
    read_vip_options(r, what, t, vip);
    const auto bad = parse_vip_params({{"address", vip.address}, {"interface", "lo"}});
    if (!bad) r.error(t, what, bad.error().front().message);
    out.push_back(std::move(vip));
  }
}

using InstanceField = void (*)(Reader&, const std::string&, const KaStatement&, Instance&);

const std::map<std::string_view, InstanceField>& instance_fields() {
  static const std::map<std::string_view, InstanceField> k = {
      {"state",
       [](Reader& r, const std::string& ctx, const KaStatement& s, Instance& in) {
         const auto v = r.one(s, ctx + ": state");
         if (v && *v != "MASTER" && *v != "BACKUP") {
           r.error(s, ctx + ": state", "'" + *v + "' is neither MASTER nor BACKUP");
         } else if (v) {
           in.state = *v;
           r.notes.not_carried(s.where(), ctx + ": state", kState);
         }
       }},
      {"interface",
       [](Reader& r, const std::string& ctx, const KaStatement& s, Instance& in) {
         in.interface = r.one(s, ctx + ": interface").value_or("");
       }},
      {"virtual_router_id",
       [](Reader& r, const std::string& ctx, const KaStatement& s, Instance& in) {
         in.vrid = r.number(s, ctx + ": virtual_router_id", 1, 255).value_or(0);
       }},
      {"priority",
       [](Reader& r, const std::string& ctx, const KaStatement& s, Instance& in) {
         in.priority = r.number(s, ctx + ": priority", 1, 255).value_or(in.priority);
       }},
      {"nopreempt",
       [](Reader&, const std::string&, const KaStatement&, Instance& in) { in.nopreempt = true; }},
      {"preempt",
       [](Reader&, const std::string&, const KaStatement&, Instance& in) { in.nopreempt = false; }},
      {"preempt_delay",
       [](Reader& r, const std::string& ctx, const KaStatement& s, Instance& in) {
         in.preempt_delay = r.secs(s, ctx + ": preempt_delay", 1000);
       }},
      {"dont_track_primary", [](Reader&, const std::string&, const KaStatement&,
                                Instance& in) { in.track_primary = false; }},
      {"unicast_src_ip",
       [](Reader& r, const std::string& ctx, const KaStatement& s, Instance& in) {
         in.src_ip = r.one(s, ctx + ": unicast_src_ip").value_or("");
       }},
      {"mcast_src_ip",
       [](Reader& r, const std::string& ctx, const KaStatement& s, Instance& in) {
         if (in.src_ip.empty()) in.src_ip = r.one(s, ctx + ": mcast_src_ip").value_or("");
       }},
      {"garp_master_refresh",
       [](Reader& r, const std::string& ctx, const KaStatement& s, Instance& in) {
         in.garp_refresh = r.secs(s, ctx + ": garp_master_refresh", 86400);
       }},
  };
  return k;
}

void read_instance_statement(Reader& r, const std::string& ctx, const KaStatement& s,
                             Instance& in) {
  const std::string& k = s.keyword;
  if (const auto it = instance_fields().find(k); it != instance_fields().end()) {
    it->second(r, ctx, s, in);
  } else if (k == "virtual_ipaddress" || k == "virtual_ipaddress_excluded") {
    read_vips(r, ctx, s, in.vips);
  } else if (k == "track_script") {
    read_tracks(r, ctx + ": track_script", s, in.scripts);
  } else if (k == "track_interface") {
    read_tracks(r, ctx + ": track_interface", s, in.interfaces);
  } else if (is_notify(k)) {
    read_notify(r, ctx, s, in.notifies);
  } else if (k == "unicast_peer") {
    if (r.block(s, ctx + ": unicast_peer")) {
      for (const KaStatement& p : s.block) in.unicast_peers.push_back(p.keyword);
    }
    r.notes.not_carried(s.where(), ctx + ": unicast_peer", kPeers);
  } else if (const auto why = instance_reasons().find(k); why != instance_reasons().end()) {
    r.notes.not_carried(s.where(), ctx + ": " + k, why->second);
  } else {
    r.notes.not_carried(s.where(), ctx + ": " + k, kUnknown);
  }
}

void read_instance(Reader& r, const KaStatement& s) {
  Instance in{s.args.empty() ? "" : s.args[0], s.where()};
  const std::string ctx = "vrrp_instance " + in.name;
  if (s.args.size() != 1) {
    r.error(s, "vrrp_instance", "expects a name");
    return;
  }
  if (!r.block(s, ctx)) return;
  for (const KaStatement& c : s.block) read_instance_statement(r, ctx, c, in);
  if (in.vrid == 0 && !in.vips.empty()) {
    r.error(s, ctx, "virtual_router_id is missing (hactl pairs instances across hosts by it)");
  }
  for (const Instance& other : r.host.instances) {
    if (other.name == in.name) {
      r.error(s, ctx, "a second vrrp_instance of that name (the first: " + other.where + ")");
    }
  }
  r.host.instances.push_back(std::move(in));
}

void read_script_statement(Reader& r, const std::string& ctx, const KaStatement& s, Script& sc) {
  const std::string& k = s.keyword;
  const std::string what = ctx + ": " + k;
  if (k == "script") {
    sc.command = joined(s.args);
    if (sc.command.empty()) r.error(s, what, "expects the command to run");
  } else if (k == "interval") {
    sc.interval = r.secs(s, what, 3600).value_or(sc.interval);
    if (sc.interval <= Duration::zero()) r.error(s, what, "must be longer than 0");
  } else if (k == "timeout") {
    sc.timeout = r.secs(s, what, 3600);
    if (sc.timeout && *sc.timeout <= Duration::zero()) r.error(s, what, "must be longer than 0");
  } else if (k == "weight") {
    if (s.args.size() == 2 && (s.args[1] == "reverse" || s.args[1] == "noreverse")) {
      sc.reverse = s.args[1] == "reverse";
      KaStatement plain = s;
      plain.args.pop_back();
      sc.weight = r.number(plain, what, -254, 254).value_or(0);
    } else {
      sc.weight = r.number(s, what, -254, 254).value_or(0);
    }
  } else if (k == "rise" || k == "fall") {
    (k == "rise" ? sc.rise : sc.fall) = r.number(s, what, 1, 1'000'000).value_or(1);
  } else if (k == "user") {
    r.notes.not_carried(s.where(), what, kScriptUser);
  } else if (k == "init_fail") {
    r.notes.not_carried(s.where(), what,
                        "hactl runs the check before the vip may start on a node (the check's "
                        "start runs it): no assumed first state is needed");
  } else {
    r.notes.not_carried(s.where(), what, kUnknown);
  }
}

void read_script(Reader& r, const KaStatement& s) {
  if (s.args.size() != 1) {
    r.error(s, "vrrp_script", "expects a name");
    return;
  }
  Script sc{s.args[0], s.where()};
  const std::string ctx = "vrrp_script " + sc.name;
  if (!r.block(s, ctx)) return;
  for (const KaStatement& c : s.block) read_script_statement(r, ctx, c, sc);
  if (sc.command.empty()) r.error(s, ctx, "has no script");
  if (r.host.scripts.contains(sc.name)) {
    r.error(s, ctx,
            "a second vrrp_script of that name (the first: " + r.host.scripts[sc.name].where + ")");
  }
  r.host.scripts[sc.name] = std::move(sc);
}

void read_group_statement(Reader& r, const std::string& ctx, const KaStatement& s, SyncGroup& g) {
  const std::string& k = s.keyword;
  if (k == "group" && r.block(s, ctx + ": group")) {
    for (const KaStatement& m : s.block) {
      g.members.push_back(m.keyword);
      g.member_where.push_back(m.where());
      for (const auto& more : m.args) {
        g.members.push_back(more);
        g.member_where.push_back(m.where());
      }
    }
  } else if (k == "track_script") {
    read_tracks(r, ctx + ": track_script", s, g.scripts);
  } else if (k == "track_interface") {
    read_tracks(r, ctx + ": track_interface", s, g.interfaces);
  } else if (is_notify(k)) {
    read_notify(r, ctx, s, g.notifies);
  } else if (k == "sync_group_tracking_weight") {
    g.tracking_weight = true;
  } else if (k == "global_tracking") {
    g.tracking_weight = true;
    r.notes.not_carried(s.where(), ctx + ": " + k,
                        "deprecated by keepalived; taken as sync_group_tracking_weight");
  } else if (const auto why = instance_reasons().find(k); why != instance_reasons().end()) {
    r.notes.not_carried(s.where(), ctx + ": " + k, why->second);
  } else {
    r.notes.not_carried(s.where(), ctx + ": " + k, kUnknown);
  }
}

void read_sync_group(Reader& r, const KaStatement& s) {
  if (s.args.size() != 1) {
    r.error(s, "vrrp_sync_group", "expects a name");
    return;
  }
  SyncGroup g{s.args[0], s.where()};
  const std::string ctx = "vrrp_sync_group " + g.name;
  if (!r.block(s, ctx)) return;
  for (const KaStatement& c : s.block) read_group_statement(r, ctx, c, g);
  r.host.groups.push_back(std::move(g));
}

void read_global(Reader& r, const KaStatement& s) {
  if (!r.block(s, "global_defs")) return;
  for (const KaStatement& c : s.block) {
    const std::string what = "global_defs: " + c.keyword;
    if (c.keyword == "router_id") {
      r.host.router_id = r.one(c, what).value_or("");
      r.host.router_id_where = c.where();
    } else if (c.keyword == "default_interface") {
      r.host.default_interface = r.one(c, what).value_or("");
    } else if (c.keyword == "vrrp_garp_master_refresh") {
      r.host.garp_refresh = r.secs(c, what, 86400);
    } else {
      r.notes.not_carried(c.where(), what, global_reason(c.keyword));
    }
  }
}

// virtual_server ADDRESS PORT | fwmark N | group NAME { ... real_server ... }
void note_virtual_server(Reader& r, const KaStatement& s) {
  std::size_t real = 0;
  for (const KaStatement& c : s.block) real += c.keyword == "real_server" ? 1 : 0;
  r.notes.not_carried(s.where(),
                      "virtual_server " + joined(s.args) + " (" + std::to_string(real) +
                          (real == 1 ? " real server)" : " real servers)"),
                      kLvs);
}

}  // namespace

void Notes::add(List& list, const std::string& where, std::string what, std::string why) {
  const std::string key = what + '\0' + why;
  auto [it, fresh] = list.index.emplace(key, list.notes.size());
  if (fresh) list.notes.push_back(KaNote{{}, std::move(what), std::move(why)});
  if (!where.empty() && list.places.insert(std::to_string(it->second) + '\0' + where).second) {
    list.notes[it->second].where.push_back(where);
  }
}

void Notes::not_carried(const std::string& where, std::string what, std::string why) {
  add(not_carried_, where, std::move(what), std::move(why));
}

void Notes::assume(const std::string& where, std::string what, std::string why) {
  add(assumptions_, where, std::move(what), std::move(why));
}

std::optional<Duration> seconds(const std::string& text, double max_s) {
  double v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size() || !std::isfinite(v) || v < 0 ||
      v > max_s) {
    return std::nullopt;
  }
  return Duration{static_cast<Duration::rep>(std::llround(v * 1e6))};
}

Host read_host(const KaSource& source, const std::vector<KaStatement>& statements, Notes& notes,
               std::vector<std::string>& errors) {
  Host host;
  host.file = source.path;
  host.given_node = source.node;
  Reader r{host, notes, errors};
  for (const KaStatement& s : statements) {
    if (s.keyword == "global_defs") {
      read_global(r, s);
    } else if (s.keyword == "vrrp_instance") {
      read_instance(r, s);
    } else if (s.keyword == "vrrp_script") {
      read_script(r, s);
    } else if (s.keyword == "vrrp_sync_group") {
      read_sync_group(r, s);
    } else if (s.keyword == "virtual_server") {
      note_virtual_server(r, s);
    } else {
      notes.not_carried(s.where(), s.keyword, top_level_reason(s.keyword));
    }
  }
  return host;
}

}  // namespace ka

std::string KaImport::report() const {
  std::string out = "Mapped:\n";
  for (const auto& m : mapped) out += "  " + m + "\n";
  auto section = [&out](const char* title, const std::vector<KaNote>& notes) {
    out += std::string("\n") + title + (notes.empty() ? " none\n" : "\n");
    for (const KaNote& n : notes) {
      // At most kShown places each: a setting repeated in every block is still one short line.
      constexpr std::size_t kShown = 8;
      std::string where;
      for (std::size_t i = 0; i < n.where.size() && i < kShown; ++i) {
        where += (where.empty() ? "" : ", ") + n.where[i];
      }
      if (n.where.size() > kShown) {
        where += " and " + std::to_string(n.where.size() - kShown) + " more";
      }
      out += "  " + (where.empty() ? "" : where + ": ") + n.what + ": " + n.why + "\n";
    }
  };
  section("Not carried over:", not_carried);
  section("Assumed:", assumptions);
  return out;
}

std::expected<KaImport, std::vector<std::string>> import_keepalived(
    const std::vector<KaSource>& sources, const KaImportOptions& options,
    const KaFileReader& reader) {
  std::vector<std::string> errors;
  if (sources.empty()) errors.push_back("no keepalived.conf given");
  if (sources.size() > kMaxKaSources) {
    errors.push_back(std::to_string(sources.size()) + " files given: at most " +
                     std::to_string(kMaxKaSources) + ", one per node");
  }
  if (!errors.empty()) return std::unexpected(std::move(errors));
  ka::Notes notes;
  std::vector<ka::Host> hosts;
  for (const KaSource& source : sources) {
    auto parsed = parse_keepalived(source.path, source.text, source.node, reader);
    if (!parsed) {
      errors.insert(errors.end(), parsed.error().begin(), parsed.error().end());
      continue;
    }
    for (const auto& u : parsed->unmatched) {
      notes.not_carried(u.where, "include " + u.pattern,
                        "matches no file (keepalived's include allows that)");
    }
    hosts.push_back(ka::read_host(source, parsed->statements, notes, errors));
  }
  if (!errors.empty()) {
    // The same file given for two hosts (--node) has the same errors twice: once is enough.
    std::vector<std::string> once;
    std::set<std::string> seen;
    for (auto& e : errors) {
      if (seen.insert(e).second) once.push_back(std::move(e));
    }
    return std::unexpected(std::move(once));
  }
  return ka::map_hosts(std::move(hosts), options, notes);
}

}  // namespace hactl
