#include "agent/control_server.hpp"

#include <grp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/limits.hpp"

namespace hactl {

struct ControlServer::Client {
  ControlServer* server = nullptr;
  uv_pipe_t pipe{};
  std::string buffer;
  PeerCredentials cred;
  std::size_t max_request = limits::kMaxControlRequest;
  bool closing = false;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

namespace {

struct WriteRequest {
  uv_write_t req{};
  std::string data;
};

std::expected<void, std::string> make_parent_dir(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return {};
  const std::string dir = path.substr(0, slash);
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return std::unexpected("cannot create " + dir + ": " + std::strerror(errno));
  }
  return {};
}

PeerCredentials peer_credentials(uv_pipe_t* pipe) {
  PeerCredentials c;
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(pipe), &fd) != 0) return c;
  ucred uc{};
  socklen_t len = sizeof uc;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0) {
    c.uid = uc.uid;
    c.gid = uc.gid;
  }
  return c;
}

}  // namespace

ControlServer::ControlServer(uv_loop_t* loop, std::string path, Handler handler, SizeLimit limit)
    : loop_(loop), path_(std::move(path)), handler_(std::move(handler)), limit_(std::move(limit)) {}

ControlServer::~ControlServer() { close(); }

std::expected<void, std::string> ControlServer::start() {
  if (auto r = make_parent_dir(path_); !r) return r;
  // A socket file left by a crashed agent would make bind fail; nothing else uses this path.
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path_.c_str());
  uv_pipe_init(loop_, &server_, 0);
  server_.data = this;
  open_ = true;
  if (int rc = uv_pipe_bind(&server_, path_.c_str()); rc != 0) {
    return std::unexpected("cannot bind control socket " + path_ + ": " + uv_strerror(rc));
  }
  if (const group* g = group_.empty() ? nullptr : ::getgrnam(group_.c_str()); g != nullptr) {
    if (::chown(path_.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0 ||
        ::chmod(path_.c_str(), 0660) != 0) {
      return std::unexpected("cannot set owner/mode of " + path_ + ": " + std::strerror(errno));
    }
  } else if (::chmod(path_.c_str(), 0600) != 0) {
    return std::unexpected("cannot set mode of " + path_ + ": " + std::strerror(errno));
  }
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server_), 16, &on_connection); rc != 0) {
    return std::unexpected("cannot listen on " + path_ + ": " + uv_strerror(rc));
  }
  return {};
}

void ControlServer::close() {
  if (!open_) return;
  open_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
  ::unlink(path_.c_str());
}

void ControlServer::on_connection(uv_stream_t* server, int status) {
  if (status < 0) return;
  static_cast<ControlServer*>(server->data)->accept_one();
}

void ControlServer::accept_one() {
  auto* c = new Client;
  c->server = this;
  uv_pipe_init(loop_, &c->pipe, 0);
  c->pipe.data = c;
  if (uv_accept(reinterpret_cast<uv_stream_t*>(&server_),
                reinterpret_cast<uv_stream_t*>(&c->pipe)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe),
             [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
    return;
  }
  ++clients_;
  if (clients_ > limits::kMaxControlClients) {
    spdlog::warn("event=control_refused reason=too_many_clients");
    close_client(c);
    return;
  }
  c->cred = peer_credentials(&c->pipe);
  if (limit_) c->max_request = limit_(c->cred);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->pipe),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        *buf = uv_buf_init(new char[suggested], static_cast<unsigned>(suggested));
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* client = static_cast<Client*>(s->data);
        if (nread < 0) {
          client->server->close_client(client);
        } else {
          client->buffer.append(buf->base, static_cast<std::size_t>(nread));
          std::size_t nl = 0;
          while (!client->closing && (nl = client->buffer.find('\n')) != std::string::npos) {
            const std::string line = client->buffer.substr(0, nl);
            client->buffer.erase(0, nl + 1);
            client->server->on_line(*client, line);
          }
          if (!client->closing && client->buffer.size() > client->max_request) {
            client->server->close_client(client);
          }
        }
        delete[] buf->base;
      });
}

void ControlServer::on_line(Client& c, std::string_view line) {
  if (line.size() > c.max_request) {
    respond(c, {{"error", "request too large"}});
    return;
  }
  const auto request = nlohmann::json::parse(line, nullptr, false);
  if (request.is_discarded() || !request.is_object()) {
    respond(c, {{"error", "malformed request: expected one JSON object per line"}});
    return;
  }
  Client* client = &c;
  std::weak_ptr<bool> alive = c.alive;
  handler_(request, c.cred, [this, client, alive](const nlohmann::json& response) {
    if (alive.expired() || client->closing) return;
    respond(*client, response);
  });
}

void ControlServer::respond(Client& c, const nlohmann::json& response) {
  auto* w = new WriteRequest;
  w->data = response.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  w->req.data = w;
  const int rc =
      uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c.pipe), &buf, 1,
               [](uv_write_t* req, int) { delete static_cast<WriteRequest*>(req->data); });
  if (rc != 0) {
    delete w;
    close_client(&c);
  }
}

void ControlServer::close_client(Client* c) {
  if (c->closing) return;
  c->closing = true;
  --clients_;
  uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe),
           [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
}

}  // namespace hactl
