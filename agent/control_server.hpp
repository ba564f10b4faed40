// The agent's local control socket: a Unix stream socket speaking one JSON object per line in
// each direction. Access is by file mode and group (0660 and the configured group when it exists,
// else 0600); the peer's uid/gid from SO_PEERCRED is handed to the request handler. Bounded, so
// that no local user can make it unavailable to an admin: request size by caller
// (an oversized request is answered "too large" as soon as it passes the limit, never read
// whole); clients in all (limits::kMaxControlClients), per uid that is not an admin
// (kMaxControlClientsPerUid), and non-admins together leave kAdminControlSlots to admins; a
// client silent for kControlIdleTimeout with nothing of its own being answered is dropped;
// refusals are logged at most once per kind per kRefusalLogWindow, with counts; a client with
// kMaxInFlight requests unanswered or kMaxQueued bytes of answers unwritten is read no further
// until they go (backpressure: its requests wait in its socket, not as answers in the agent).
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "agent/event_bus.hpp"
#include "agent/refusal_log.hpp"
#include "common/control_request.hpp"

namespace hactl {

struct PeerCredentials {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
};

class ControlServer {
 public:
  // Answers one request; may be called later (after the cluster has committed a change), and
  // does nothing if the client has gone meanwhile. An answer given as JSON is serialized on the
  // loop; a large one is better serialized where it was made (a worker: dump()) and given as
  // text.
  // The agent's own requests (a reload) take the answer as JSON instead.
  class Reply {
   public:
    using Text = std::function<void(std::string)>;
    using Json = std::function<void(const nlohmann::json&)>;
    explicit Reply(Text send) : send_(std::move(send)) {}
    Reply(Json take)  // NOLINT: a JSON consumer is a reply
        : take_(std::move(take)) {}
    void operator()(const nlohmann::json& answer) const {
      if (take_) return take_(answer);
      send_(dump(answer));
    }
    void text(std::string dumped) const {
      if (take_) return take_(nlohmann::json::parse(dumped, nullptr, false));
      send_(std::move(dumped));
    }

   private:
    Text send_;
    Json take_;
  };
  // One answer line's text, without its newline (invalid UTF-8 replaced).
  static std::string dump(const nlohmann::json& answer);
  // Work for another thread, then `done` back on the loop, or `expired` instead when it was not
  // done in time (the work may still be running then: what it writes is not read); false if it
  // was not taken (busy).
  using Offload = std::function<bool(std::function<void()> work, std::function<void()> done,
                                     std::function<void()> expired)>;
  // Request lines longer than kParseOnLoop (only an admin may send one: a configuration file)
  // are parsed through `offload`, so that parsing megabytes of JSON never holds the loop; the
  // client's later lines wait for it, so its answers keep their order.
  static constexpr std::size_t kParseOnLoop = 64 * 1024;
  void parse_large_with(Offload offload) { offload_ = std::move(offload); }
  // A client's requests answered later (a change committed, a worker's job, a status) at most
  // this many at once: beyond, its socket is not read until one is answered.
  static constexpr std::size_t kMaxInFlight = 16;
  // Nor while more than this many bytes of its answers wait to be written: a client that sends
  // requests and never reads would have them queued here without bound.
  static constexpr std::size_t kMaxQueued = 1024 * 1024;
  // Called with a request parse_control_request accepted (common/control_request.hpp); any other
  // line is answered here.
  using Handler = std::function<void(const ControlRequest&, const PeerCredentials&, Reply)>;
  // What a caller may do here: the largest request it may send, and whether it is an admin
  // (root or the admin group: not limited per uid, and the reserved slots are its).
  struct CallerPolicy {
    std::size_t max_request = 0;
    bool admin = false;
  };
  using Policy = std::function<CallerPolicy(const PeerCredentials&)>;

  ControlServer(uv_loop_t* loop, std::string path, Handler handler, Policy policy = {});
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;
  ~ControlServer();

  // The socket's group (mode 0660); without one (or if it does not exist) mode 0600: root only.
  void set_group(std::string group) { group_ = std::move(group); }
  std::expected<void, std::string> start();
  void close();  // closes the listener and every client, removes the socket file
  const std::string& path() const { return path_; }
  struct Client;  // one connection (control_server.cpp)

 private:
  static void on_connection(uv_stream_t* server, int status);
  void accept_one();
  void on_read(Client& c, ssize_t nread, const uv_buf_t* buf);
  void start_reading(Client& c);
  bool held_back(Client& c) const;  // kMaxInFlight unanswered, or kMaxQueued unwritten
  void resume(Client& c);           // reads and takes its lines again, once not held back
  // Takes the complete lines in the client's buffer, in order, until one is parsed elsewhere.
  void drain(Client& c);
  void on_line(Client& c, std::string line);
  void dispatch(Client& c, std::expected<ControlRequest, std::string> request);
  void respond(Client& c, const nlohmann::json& response, bool then_close = false);
  void respond_text(Client& c, std::string text, bool then_close = false);
  void close_client(Client* c);
  // Why a new client is refused (nullopt: it is not).
  std::optional<std::string> refusal(const CallerPolicy& p, const PeerCredentials& cred) const;
  void refuse(Client* c, const std::string& kind, std::uint32_t uid, const std::string& answer);
  void sweep();  // every second while clients are connected: idle ones, refusal counts
  void arm_sweep();

  uv_loop_t* loop_;
  std::string path_;
  Handler handler_;
  Policy policy_;
  std::string group_ = "haclient";
  uv_pipe_t server_{};
  uv_timer_t* sweep_ = nullptr;  // on the heap: its close callback may run after we are gone
  bool open_ = false;
  std::set<Client*> clients_;            // connected and counted
  std::map<uid_t, std::size_t> by_uid_;  // non-admins' clients per uid
  std::size_t non_admins_ = 0;
  RefusalLog refusals_;
  Offload offload_;
};

}  // namespace hactl
