#include "agent/http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <exception>
#include <utility>

#include "agent/event_bus.hpp"
#include "common/assert.hpp"

namespace hactl {

struct HttpServer::Client {
  HttpServer* server = nullptr;
  uv_tcp_t tcp{};
  uv_timer_t timer{};  // the connection's deadline, from accept
  uv_write_t write{};
  uv_shutdown_t shutdown{};
  std::string head;      // what was received of the request head
  std::string response;  // kept until its write completes
  std::size_t discarded = 0;
  bool responded = false;   // the response is written or being written; later input is ignored
  bool write_done = false;  // ... and it has been written
  bool peer_eof = false;    // the client has closed its side
  bool closing = false;
  int open_handles = 0;  // tcp and timer; the Client is freed when both are closed
  std::string address;   // the peer's address (no port), counted in by_address_ when set
};

namespace {

// Input after the request head (a body, pipelined requests) is read and ignored while the
// response drains, so closing never resets the connection under an unread response; up to this
// much, then the connection is closed.
constexpr std::size_t kMaxDiscarded = 64 * 1024;
constexpr int kListenBacklog = 64;
constexpr std::uint64_t kRefusalLogIntervalMs = 10'000;

constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";
// Sent with uv_try_write to a connection over the limit, which is closed at once.
char kBusyResponse[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 20\r\nConnection: close\r\n\r\nToo many connections";

std::expected<sockaddr_storage, std::string> parse_listen_address(std::string_view text) {
  std::string host;
  std::string_view port_text;
  sockaddr_storage ss{};
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::unexpected("expected '[ipv6]:port'");
    }
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::unexpected("expected 'host:port'");
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      return std::unexpected("an IPv6 address must be in brackets: '[addr]:port'");
    }
  }
  unsigned port = 0;
  const auto [ptr, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{} || ptr != port_text.data() + port_text.size() ||
      port > 65535) {
    return std::unexpected("port '" + std::string(port_text) + "' is not a number from 0 to 65535");
  }
  const int p = static_cast<int>(port);
  const bool v6 = text.front() == '[';
  const int rc = v6 ? uv_ip6_addr(host.c_str(), p, reinterpret_cast<sockaddr_in6*>(&ss))
                    : uv_ip4_addr(host.c_str(), p, reinterpret_cast<sockaddr_in*>(&ss));
  if (rc != 0) {
    return std::unexpected("'" + host + "' is not a numeric " + (v6 ? "IPv6" : "IPv4") +
                           " address (host names are not resolved)");
  }
  return ss;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 505:
      return "HTTP Version Not Supported";
    default:
      HACTL_ASSERT(false && "no reason phrase for this status");
      return "";
  }
}

std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool with_body = true, std::string_view extra_headers = {}) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) +
                  "\r\nContent-Type: " + std::string(content_type) +
                  "\r\nContent-Length: " + std::to_string(body.size()) +
                  "\r\nConnection: close\r\n" + std::string(extra_headers) + "\r\n";
  if (with_body) r += body;
  return r;
}

std::string error_response(int status, std::string_view extra_headers = {}) {
  return http_response(status, kTextContentType, std::string(reason_phrase(status)) + "\n", true,
                       extra_headers);
}

// RFC 9110 tchar: the characters of a method or a header field name.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

// Where the request head ends (just past its empty line), or npos. Lines end in CRLF or, as
// RFC 9112 allows a recipient to accept, a bare LF. Searches from `from`.
std::size_t find_head_end(std::string_view data, std::size_t from) {
  for (std::size_t nl = data.find('\n', from); nl != std::string_view::npos;
       nl = data.find('\n', nl + 1)) {
    if (nl + 1 < data.size() && data[nl + 1] == '\n') return nl + 2;
    if (nl + 2 < data.size() && data[nl + 1] == '\r' && data[nl + 2] == '\n') return nl + 3;
  }
  return std::string_view::npos;
}

struct Request {
  int error = 0;  // an HTTP status when the head is not a request we can answer
  std::string_view method;
  std::string_view path;  // the target without its query
};

// A request head (ending in its empty line): request line, then header fields, which are
// checked for form and otherwise ignored (nothing here depends on them, not even Host).
Request parse_request(std::string_view head) {
  Request r;
  std::size_t pos = 0;
  auto next_line = [&]() {
    const std::size_t nl = head.find('\n', pos);
    HACTL_ASSERT(nl != std::string_view::npos);
    std::string_view line = head.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl + 1;
    return line;
  };
  const std::string_view line = next_line();
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    r.error = 400;
    return r;
  }
  r.method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  bool target_ok = !target.empty() && target.front() == '/';
  for (const char c : target) target_ok = target_ok && c > ' ' && c < 0x7f;
  const bool version_ok = version.size() == 8 && version.starts_with("HTTP/") &&
                          version[5] >= '0' && version[5] <= '9' && version[6] == '.' &&
                          version[7] >= '0' && version[7] <= '9';
  if (!is_token(r.method) || !target_ok || !version_ok) {
    r.error = 400;
    return r;
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    r.error = 505;
    return r;
  }
  r.path = target.substr(0, target.find('?'));
  while (pos < head.size()) {
    const std::string_view field = next_line();
    if (field.empty()) break;  // the end of the head
    // No whitespace before the colon, no obsolete line folding, no control characters.
    const std::size_t colon = field.find(':');
    bool ok = colon != std::string_view::npos && is_token(field.substr(0, colon));
    for (const char c : field) ok = ok && (c == '\t' || (c >= ' ' && c != 0x7f));
    if (!ok) {
      r.error = 400;
      return r;
    }
  }
  return r;
}

}  // namespace

HttpServer::HttpServer(uv_loop_t* loop, std::string address, std::string title, Routes routes,
                       HttpServerOptions options)
    : loop_(loop),
      address_(std::move(address)),
      title_(std::move(title)),
      routes_(std::move(routes)),
      options_(options) {
  HACTL_ASSERT(options_.max_connections > 0);
  HACTL_ASSERT(options_.connection_timeout.count() > 0);
}

HttpServer::~HttpServer() { close(); }

std::expected<void, std::string> HttpServer::start() {
  if (started_) return std::unexpected("metrics server on " + address_ + " already started");
  started_ = true;
  const auto addr = parse_listen_address(address_);
  if (!addr) return std::unexpected("invalid metrics address '" + address_ + "': " + addr.error());
  server_ = new uv_tcp_t{};
  uv_tcp_init(loop_, server_);
  server_->data = this;
  // libuv reports some bind errors (address in use) only at listen.
  int rc = uv_tcp_bind(server_, reinterpret_cast<const sockaddr*>(&*addr), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(server_), kListenBacklog, &on_connection);
  }
  if (rc != 0) {
    close();
    return std::unexpected("cannot listen for metrics on " + address_ + ": " + uv_strerror(rc));
  }
  emit_event(Event(EventKind::kHttpListening).add("address", address_).add("port", bound_port()));
  return {};
}

void HttpServer::close() {
  if (server_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(server_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    server_ = nullptr;
  }
  while (!clients_.empty()) close_client(*clients_.begin());
}

int HttpServer::bound_port() const {
  if (server_ == nullptr) return -1;
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getsockname(server_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return -1;
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
}

namespace {

// The peer's address without its port ("?" if unknown: those share one limit).
std::string peer_address(uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char text[INET6_ADDRSTRLEN] = {};
  const int rc = ss.ss_family == AF_INET6
                     ? uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(&ss), text, sizeof text)
                     : uv_ip4_name(reinterpret_cast<const sockaddr_in*>(&ss), text, sizeof text);
  return rc == 0 ? std::string(text) : "?";
}

}  // namespace

void HttpServer::on_connection(uv_stream_t* server, int status) {
  if (status < 0) {
    emit_event(
        Event(EventKind::kHttpAcceptFailed, EventLevel::kWarn).text("error", uv_strerror(status)));
    return;
  }
  static_cast<HttpServer*>(server->data)->accept_one();
}

void HttpServer::accept_one() {
  auto* c = new Client;
  c->server = this;
  uv_tcp_init(loop_, &c->tcp);
  uv_timer_init(loop_, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->open_handles = 2;
  auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp);
  clients_.insert(c);
  if (uv_accept(reinterpret_cast<uv_stream_t*>(server_), stream) != 0) {
    close_client(c);
    return;
  }
  const std::string address = peer_address(&c->tcp);
  const bool over_address = by_address_[address] >= options_.max_connections_per_address;
  if (clients_.size() > options_.max_connections || over_address) {
    ++refused_;
    const std::uint64_t now = uv_now(loop_);
    if (last_refusal_log_ms_ == 0 || now - last_refusal_log_ms_ >= kRefusalLogIntervalMs) {
      emit_event(Event(EventKind::kHttpRefused, EventLevel::kWarn)
                     .add("reason", over_address ? "too_many_connections_from_address"
                                                 : "too_many_connections")
                     .add("address", address)
                     .add("limit", over_address ? options_.max_connections_per_address
                                                : options_.max_connections)
                     .add("refused_total", refused_));
      last_refusal_log_ms_ = now;
    }
    if (by_address_[address] == 0) by_address_.erase(address);
    uv_buf_t buf = uv_buf_init(kBusyResponse, sizeof kBusyResponse - 1);
    (void)uv_try_write(stream, &buf, 1);  // best effort: the client may see only the close
    close_client(c);
    return;
  }
  c->address = address;
  ++by_address_[address];
  uv_timer_start(
      &c->timer,
      [](uv_timer_t* t) {
        auto* client = static_cast<Client*>(t->data);
        emit_event(Event(EventKind::kHttpConnectionTimeout, EventLevel::kDebug)
                       .add("responded", client->responded));
        client->server->close_client(client);
      },
      static_cast<std::uint64_t>(options_.connection_timeout.count()), 0);
  uv_read_start(
      stream,
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        *buf = uv_buf_init(new char[suggested], static_cast<unsigned>(suggested));
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* client = static_cast<Client*>(s->data);
        if (nread > 0) {
          client->server->on_read(*client, std::string_view(buf->base, nread));
        } else if (nread < 0) {
          client->server->on_read_end(*client, static_cast<int>(nread));
        }
        delete[] buf->base;
      });
}

void HttpServer::on_read(Client& c, std::string_view data) {
  if (c.responded) {
    c.discarded += data.size();
    if (c.discarded > kMaxDiscarded) close_client(&c);
    return;
  }
  // The terminator may straddle two reads: look again from just before the new bytes.
  const std::size_t from = c.head.size() >= 2 ? c.head.size() - 2 : 0;
  c.head.append(data);
  const std::size_t end = find_head_end(c.head, from);
  if (end == std::string::npos ? c.head.size() > options_.max_request_head
                               : end > options_.max_request_head) {
    c.responded = true;
    send(c, error_response(431));
    return;
  }
  if (end == std::string::npos) return;
  c.responded = true;
  c.discarded = c.head.size() - end;
  const std::string head = c.head.substr(0, end);
  c.head = std::string();
  respond(c, head);
}

void HttpServer::on_read_end(Client& c, int status) {
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.tcp));
  c.peer_eof = true;
  // The client closed its side: once it has its whole response (or never sent a whole request)
  // there is nothing more to do; otherwise the response is finished first (on_written).
  if (status != UV_EOF || !c.responded || c.write_done) close_client(&c);
}

void HttpServer::respond(Client& c, std::string_view head) {
  const Request r = parse_request(head);
  if (r.error != 0) {
    send(c, error_response(r.error));
    return;
  }
  const bool is_get = r.method == "GET";
  const bool is_head = r.method == "HEAD";
  const auto route = routes_.find(r.path);
  if (route == routes_.end() && r.path != "/") {
    send(c, error_response(404));
  } else if (!is_get && !is_head) {
    send(c, error_response(405, "Allow: GET, HEAD\r\n"));
  } else if (route == routes_.end()) {
    send(c, http_response(200, "text/html; charset=utf-8", index_page(), is_get));
  } else {
    std::string body;
    try {
      body = route->second.render();
    } catch (const std::exception& e) {
      emit_event(Event(EventKind::kHttpRenderFailed, EventLevel::kError)
                     .add("path", r.path)
                     .text("error", e.what()));
      send(c, error_response(500));
      return;
    } catch (...) {
      emit_event(Event(EventKind::kHttpRenderFailed, EventLevel::kError)
                     .add("path", r.path)
                     .add("error", "unknown"));
      send(c, error_response(500));
      return;
    }
    send(c, http_response(200, route->second.content_type, body, is_get));
  }
}

std::string HttpServer::index_page() const {
  std::string page =
      "<html><head><title>" + title_ + "</title></head><body><h1>" + title_ + "</h1>";
  for (const auto& [path, route] : routes_) {
    page += "<p><a href=\"" + path + "\">" + path + "</a></p>";
  }
  return page + "</body></html>\n";
}

void HttpServer::send(Client& c, std::string response) {
  c.response = std::move(response);
  uv_buf_t buf = uv_buf_init(c.response.data(), static_cast<unsigned>(c.response.size()));
  c.write.data = &c;
  const int rc = uv_write(&c.write, reinterpret_cast<uv_stream_t*>(&c.tcp), &buf, 1,
                          [](uv_write_t* req, int status) {
                            auto* client = static_cast<Client*>(req->data);
                            if (client->closing) return;  // cancelled by close_client
                            client->server->on_written(*client, status);
                          });
  if (rc != 0) close_client(&c);
}

void HttpServer::on_written(Client& c, int status) {
  c.write_done = true;
  c.response = std::string();
  if (status < 0 || c.peer_eof) {
    close_client(&c);  // failed, or the client has already closed its side
    return;
  }
  // Close our side and wait for the client to close its own (on_read_end), so closing never
  // resets the connection before the client has read the response; the deadline bounds it.
  c.shutdown.data = &c;
  const int rc = uv_shutdown(&c.shutdown, reinterpret_cast<uv_stream_t*>(&c.tcp),
                             [](uv_shutdown_t* req, int st) {
                               auto* client = static_cast<Client*>(req->data);
                               if (!client->closing && st < 0) client->server->close_client(client);
                             });
  if (rc != 0) close_client(&c);
}

void HttpServer::close_client(Client* c) {
  if (c->closing) return;
  c->closing = true;
  clients_.erase(c);
  if (!c->address.empty()) {
    if (auto it = by_address_.find(c->address); it != by_address_.end() && --it->second == 0) {
      by_address_.erase(it);
    }
  }
  const uv_close_cb on_closed = [](uv_handle_t* h) {
    auto* client = static_cast<Client*>(h->data);
    if (--client->open_handles == 0) delete client;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), on_closed);
}

}  // namespace hactl
