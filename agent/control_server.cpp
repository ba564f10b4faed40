#include "agent/control_server.hpp"

#include <grp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "agent/event_bus.hpp"
#include "common/limits.hpp"

namespace hactl {

struct ControlServer::Client {
  ControlServer* server = nullptr;
  uv_pipe_t pipe{};
  std::string buffer;
  std::size_t scanned = 0;  // bytes of `buffer` known to hold no newline
  bool parsing = false;     // a line of it is being parsed off the loop
  bool reading = false;     // its socket is read (not while kMaxInFlight are unanswered)
  bool draining = false;    // drain() is taking its lines
  PeerCredentials cred;
  CallerPolicy policy{limits::kMaxControlRequest, false};
  bool closing = false;
  bool close_after_write = false;  // a refusal or a "too large": answered, then closed
  bool counted = false;            // in clients_ (and by_uid_ unless an admin)
  std::uint64_t active_ms = 0;     // uv_now when it last sent something or was answered
  std::size_t in_flight = 0;       // its requests not answered yet
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

namespace {

struct WriteRequest {
  uv_write_t req{};
  std::string data;
  ControlServer::Client* client = nullptr;  // valid in the callback (see respond_text)
  bool close_after = false;
};

Instant loop_now(uv_loop_t* loop) {
  return Instant{std::chrono::milliseconds{static_cast<std::int64_t>(uv_now(loop))}};
}

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

ControlServer::ControlServer(uv_loop_t* loop, std::string path, Handler handler, Policy policy)
    : loop_(loop),
      path_(std::move(path)),
      handler_(std::move(handler)),
      policy_(std::move(policy)),
      refusals_(limits::kRefusalLogWindow) {}

ControlServer::~ControlServer() { close(); }

std::expected<void, std::string> ControlServer::start() {
  if (auto r = make_parent_dir(path_); !r) return r;
  // A socket file left by a crashed agent would make bind fail; nothing else uses this path.
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path_.c_str());
  uv_pipe_init(loop_, &server_, 0);
  server_.data = this;
  sweep_ = new uv_timer_t;
  uv_timer_init(loop_, sweep_);
  sweep_->data = this;
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
  uv_close(reinterpret_cast<uv_handle_t*>(sweep_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  sweep_ = nullptr;
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
  c->cred = peer_credentials(&c->pipe);
  if (policy_) c->policy = policy_(c->cred);
  c->active_ms = uv_now(loop_);
  if (const auto why = refusal(c->policy, c->cred)) {
    refuse(c, *why, c->cred.uid, "too many connections (" + *why + "); try again later");
    return;
  }
  c->counted = true;
  clients_.insert(c);
  if (!c->policy.admin) {
    ++by_uid_[c->cred.uid];
    ++non_admins_;
  }
  arm_sweep();
  start_reading(*c);
}

bool ControlServer::held_back(Client& c) const {
  return c.in_flight >= kMaxInFlight ||
         uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&c.pipe)) > kMaxQueued;
}

void ControlServer::resume(Client& c) {
  if (c.closing || c.close_after_write || held_back(c)) return;
  if (!c.reading) start_reading(c);
  // The lines that waited. Inside drain (an answer given at once) its loop goes on by itself.
  if (!c.draining) drain(c);
}

void ControlServer::start_reading(Client& c) {
  c.reading = true;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c.pipe),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        *buf = uv_buf_init(new char[suggested], static_cast<unsigned>(suggested));
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* client = static_cast<Client*>(s->data);
        client->server->on_read(*client, nread, buf);
        delete[] buf->base;
      });
}

std::optional<std::string> ControlServer::refusal(const CallerPolicy& p,
                                                  const PeerCredentials& cred) const {
  if (clients_.size() >= limits::kMaxControlClients) return "too_many_clients";
  if (p.admin) return std::nullopt;
  if (non_admins_ >= limits::kMaxControlClients - limits::kAdminControlSlots) {
    return "slots_kept_for_admins";
  }
  const auto it = by_uid_.find(cred.uid);
  if (it != by_uid_.end() && it->second >= limits::kMaxControlClientsPerUid) {
    return "too_many_clients_of_uid";
  }
  return std::nullopt;
}

// Answered (so the client says why, not "connection closed"), then closed; logged at most once
// per kind and window.
void ControlServer::refuse(Client* c, const std::string& kind, std::uint32_t uid,
                           const std::string& answer) {
  if (const auto unlogged = refusals_.admit(kind, loop_now(loop_))) {
    Event e(EventKind::kControlRefused, EventLevel::kWarn);
    e.add("reason", kind).add("uid", uid);
    if (*unlogged > 0) e.add("unlogged_before", *unlogged);
    emit_event(e);
  }
  arm_sweep();
  respond(*c, {{"error", answer}}, /*then_close=*/true);
}

void ControlServer::on_read(Client& c, ssize_t nread, const uv_buf_t* buf) {
  if (nread < 0) {
    close_client(&c);
    return;
  }
  if (c.closing || c.close_after_write) return;
  c.active_ms = uv_now(loop_);
  c.buffer.append(buf->base, static_cast<std::size_t>(nread));
  drain(c);
}

void ControlServer::drain(Client& c) {
  // Only the bytes not scanned before are searched: a 6 MiB request arriving 64 KiB at a time
  // is scanned once, not once per read.
  c.draining = true;
  std::size_t nl = 0;
  while (!c.closing && !c.close_after_write && !c.parsing && !held_back(c) &&
         (nl = c.buffer.find('\n', c.scanned)) != std::string::npos) {
    std::string line = c.buffer.substr(0, nl);
    c.buffer.erase(0, nl + 1);
    c.scanned = 0;
    on_line(c, std::move(line));
  }
  c.draining = false;
  // A client that does not read its answers is not read either until they are written: its
  // requests wait in the socket, not as answers queued here without bound.
  if (held_back(c) && c.reading && !c.closing) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.pipe));
    c.reading = false;
  }
  if (c.parsing || held_back(c)) return;
  c.scanned = c.buffer.size();
  // Past the limit without a newline (or while a line is parsed): answered now, the rest never
  // read.
  if (!c.closing && !c.close_after_write && c.buffer.size() > c.policy.max_request) {
    c.buffer.clear();
    c.scanned = 0;
    refuse(&c, "request_too_large", c.cred.uid,
           "request too large: at most " + std::to_string(c.policy.max_request) +
               " bytes from this caller");
  }
}

void ControlServer::arm_sweep() {
  if (!open_ || uv_is_active(reinterpret_cast<uv_handle_t*>(sweep_))) return;
  if (clients_.empty() && !refusals_.pending()) return;
  uv_timer_start(
      sweep_, [](uv_timer_t* t) { static_cast<ControlServer*>(t->data)->sweep(); }, 1000, 1000);
}

void ControlServer::sweep() {
  const std::uint64_t now_ms = uv_now(loop_);
  const auto idle_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(limits::kControlIdleTimeout).count());
  std::vector<Client*> idle;
  for (Client* c : clients_) {
    if (c->in_flight == 0 && !c->parsing && !c->close_after_write &&
        now_ms - c->active_ms >= idle_ms) {
      idle.push_back(c);
    }
  }
  for (Client* c : idle) {
    if (refusals_.admit("idle_timeout", loop_now(loop_))) {
      emit_event(Event(EventKind::kControlClientDropped)
                     .add("reason", "idle_timeout")
                     .add("uid", c->cred.uid)
                     .add("idle_s", (now_ms - c->active_ms) / 1000));
    }
    close_client(c);
  }
  for (const auto& u : refusals_.due(loop_now(loop_))) {
    emit_event(Event(EventKind::kControlRefused, EventLevel::kWarn)
                   .add("reason", u.kind)
                   .add("unlogged", u.count)
                   .add("window_s", limits::kRefusalLogWindow.count()));
  }
  if (clients_.empty() && !refusals_.pending()) uv_timer_stop(sweep_);
}

void ControlServer::on_line(Client& c, std::string line) {
  if (line.size() > c.policy.max_request) {
    refuse(&c, "request_too_large", c.cred.uid,
           "request too large: at most " + std::to_string(c.policy.max_request) +
               " bytes from this caller");
    return;
  }
  if (line.size() <= kParseOnLoop || !offload_) return dispatch(c, parse_control_request(line));
  auto text = std::make_shared<std::string>(std::move(line));
  auto parsed = std::make_shared<std::expected<ControlRequest, std::string>>(
      std::unexpected(std::string("not parsed")));
  Client* client = &c;
  std::weak_ptr<bool> alive = c.alive;
  auto then = [this, client, alive](std::expected<ControlRequest, std::string> request) {
    if (alive.expired() || client->closing) return;
    client->parsing = false;
    dispatch(*client, std::move(request));
    drain(*client);
  };
  const bool taken = offload_([text, parsed] { *parsed = parse_control_request(*text); },
                              [then, parsed] { then(std::move(*parsed)); },
                              [then] { then(std::unexpected(std::string("not parsed in time"))); });
  if (!taken) {
    respond(c, {{"error",
                 "busy: the agent is working on other requests; nothing was changed, "
                 "try again"}});
    return;
  }
  c.parsing = true;
}

void ControlServer::dispatch(Client& c, std::expected<ControlRequest, std::string> request) {
  if (!request) {
    respond(c, {{"error", request.error()}});
    return;
  }
  Client* client = &c;
  std::weak_ptr<bool> alive = c.alive;
  ++c.in_flight;
  Reply reply(Reply::Text([this, client, alive](std::string text) {
    if (alive.expired() || client->closing) return;
    if (client->in_flight > 0) --client->in_flight;
    client->active_ms = uv_now(loop_);
    respond_text(*client, std::move(text));
    resume(*client);
  }));
  // A member of the wrong type ({"resource": 1}) throws where the handler reads it: answered as
  // a malformed request. Uncaught, it ended the agent.
  try {
    handler_(*request, c.cred, reply);
  } catch (const std::exception& e) {
    emit_event(Event(EventKind::kControlRequestFailed, EventLevel::kWarn)
                   .add("uid", c.cred.uid)
                   .text("error", e.what()));
    reply({{"error", std::string("malformed request: ") + e.what()}});
  }
}

std::string ControlServer::dump(const nlohmann::json& answer) {
  return answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void ControlServer::respond(Client& c, const nlohmann::json& response, bool then_close) {
  respond_text(c, dump(response), then_close);
}

void ControlServer::respond_text(Client& c, std::string text, bool then_close) {
  auto* w = new WriteRequest;
  w->data = std::move(text);
  w->data += '\n';
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  w->req.data = w;
  w->client = &c;
  if (then_close) {
    c.close_after_write = true;
    w->close_after = true;
  }
  // A write still queued when the client is closed completes (UV_ECANCELED) before the close
  // callback frees the client, so close_after is never dangling here.
  const int rc =
      uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c.pipe), &buf, 1, [](uv_write_t* req, int) {
        auto* wr = static_cast<WriteRequest*>(req->data);
        Client* client = wr->client;
        const bool close_after = wr->close_after;
        delete wr;
        if (close_after) return client->server->close_client(client);
        client->server->resume(*client);
      });
  if (rc != 0) {
    delete w;
    close_client(&c);
  }
}

void ControlServer::close_client(Client* c) {
  if (c->closing) return;
  c->closing = true;
  if (c->counted) {
    clients_.erase(c);
    if (!c->policy.admin) {
      --non_admins_;
      if (auto it = by_uid_.find(c->cred.uid); it != by_uid_.end() && --it->second == 0) {
        by_uid_.erase(it);
      }
    }
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe),
           [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
}

}  // namespace hactl
