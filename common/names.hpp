// Names the configuration hands to the kernel, to systemd or to the filesystem: interface
// names, systemd unit names, OCF provider and type (path components under the OCF root) and
// the paths of scripts and fence agents. Each check is pure, the same on every node, and
// stricter than what the other side accepts: a name that passes can never reach a shell as
// anything but itself, nor leave the directory it is meant for. Each returns nullopt for a
// good name, else the sentence the loader reports (without the field: the caller adds it).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace hactl {

// The kernel's dev_valid_name (net/core/dev.c): 1 to IFNAMSIZ - 1 = 15 bytes, not "." or "..",
// no '/', ':' or whitespace. hactl also refuses every byte but A-Z a-z 0-9 _ . - (no shell or
// control characters, no '@' that `ip` prints as a separator).
inline constexpr std::size_t kMaxInterfaceName = 15;
std::optional<std::string> interface_name_problem(std::string_view name);

// A systemd unit that can be started (systemd's unit_name_is_valid, src/basic/unit-name.c):
// at most 255 bytes, NAME.TYPE or NAME@INSTANCE.TYPE, NAME and INSTANCE of A-Z a-z 0-9 : - _ .
// \ (and '@' in the instance), TYPE one of service, socket, target, mount, automount, swap,
// timer, path. A template (NAME@.TYPE) cannot be started and is refused.
inline constexpr std::size_t kMaxUnitName = 255;
std::optional<std::string> unit_name_problem(std::string_view name);

// One component of a path hactl builds (an OCF provider or type, under
// OCF_ROOT/resource.d/PROVIDER/TYPE): 1 to 64 of A-Z a-z 0-9 _ . -, not starting with '.' or
// '-' (so never "." or "..", a hidden file, or an option).
inline constexpr std::size_t kMaxPathComponent = 64;
std::optional<std::string> path_component_problem(std::string_view component);

// The absolute path of a program hactl runs as a resource or to fence (exec scripts, fence
// agents; not alert hooks, whose file name may be anything once `id` is set): at most
// 1024 bytes, starting with '/', not ending with it, no empty, "." or ".." component, and only
// A-Z a-z 0-9 / _ . - + @ : (no whitespace, shell or control characters).
inline constexpr std::size_t kMaxProgramPath = 1024;
std::optional<std::string> program_path_problem(std::string_view path);

// A fence agent given by name: fence_ and then 1 or more of a-z 0-9 _ (Debian's and Red Hat's
// fence-agents), at most 64 bytes in all; it lives in /usr/sbin.
bool valid_fence_agent_name(std::string_view name);

}  // namespace hactl
