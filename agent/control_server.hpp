// The agent's local control socket: a Unix stream socket speaking one JSON object per line in
// each direction. Access is by file mode and group (0660 and the configured group when it exists,
// else 0600); the peer's uid/gid from SO_PEERCRED is handed to the request handler. Bounded:
// request size (limits::kMaxControlRequest) and concurrent clients (limits::kMaxControlClients).
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <expected>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace hactl {

struct PeerCredentials {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
};

class ControlServer {
 public:
  // Answers one request; may be called later (after the cluster has committed a change), and
  // does nothing if the client has gone meanwhile.
  using Reply = std::function<void(const nlohmann::json&)>;
  using Handler = std::function<void(const nlohmann::json&, const PeerCredentials&, Reply)>;
  // Largest request accepted from these credentials.
  using SizeLimit = std::function<std::size_t(const PeerCredentials&)>;

  ControlServer(uv_loop_t* loop, std::string path, Handler handler, SizeLimit limit = {});
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;
  ~ControlServer();

  // The socket's group (mode 0660); without one (or if it does not exist) mode 0600: root only.
  void set_group(std::string group) { group_ = std::move(group); }
  std::expected<void, std::string> start();
  void close();  // closes the listener and every client, removes the socket file
  const std::string& path() const { return path_; }

 private:
  struct Client;
  static void on_connection(uv_stream_t* server, int status);
  void accept_one();
  void on_line(Client& c, std::string_view line);
  void respond(Client& c, const nlohmann::json& response);
  void close_client(Client* c);

  uv_loop_t* loop_;
  std::string path_;
  Handler handler_;
  SizeLimit limit_;
  std::string group_ = "haclient";
  uv_pipe_t server_{};
  bool open_ = false;
  std::size_t clients_ = 0;
};

}  // namespace hactl
