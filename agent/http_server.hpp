// A minimal HTTP/1.1 server on a libuv TCP listener, on the caller's loop: the agent's
// Prometheus endpoint (/metrics) and hactl-arbiter's (/metrics and /status). GET (or HEAD) of a
// route answers what its render() returns, with its content type; GET / a short page listing
// the routes; any other path 404, another method on a known path 405, a malformed request head
// 400, a head over max_request_head bytes 431, HTTP other than 1.0 and 1.1 505, a render() that
// throws 500. One request per connection: the response always says "Connection: close" and the
// server then shuts down its side and closes once the client has.
//
// Nothing here blocks the loop, and no client can hold more than its share: at most
// max_connections at once, max_connections_per_address of them from one peer address (one more
// is sent 503 and closed at once: a host flooding it leaves room for the Prometheus server's
// address; local users all come from a local address and share its limit), and each connection is
// closed connection_timeout after it was accepted, whatever state it is in (a client that sends
// nothing, a slow one that trickles its head, one that never reads its response).
//
// Unauthenticated and unencrypted. The default addresses are loopback (kDefaultMetricsAddress,
// kDefaultArbiterHttpAddress); another address (e.g. "0.0.0.0:9405" so a remote Prometheus can
// scrape) must be the operator's explicit choice, never a default.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>

namespace hactl {

inline constexpr std::string_view kDefaultMetricsAddress = "127.0.0.1:9405";
inline constexpr std::string_view kDefaultArbiterHttpAddress = "127.0.0.1:9406";
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

struct HttpServerOptions {
  std::size_t max_connections = 16;
  std::size_t max_connections_per_address = 4;
  std::chrono::milliseconds connection_timeout{5000};
  std::size_t max_request_head = 8 * 1024;
};

class HttpServer {
 public:
  using Render = std::function<std::string()>;
  struct Route {
    std::string content_type;
    Render render;
  };
  using Routes = std::map<std::string, Route, std::less<>>;  // by path, e.g. "/metrics"

  // address: numeric "IPv4:port" or "[IPv6]:port"; host names are not resolved. Port 0 binds
  // an ephemeral port (see bound_port()). A route's render() is called on the loop per request.
  // `title` heads the index page (what serves here: "hactl agent", "hactl-arbiter").
  HttpServer(uv_loop_t* loop, std::string address, std::string title, Routes routes,
             HttpServerOptions options = {});
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer();  // close()

  // Binds and listens. The error names the address (bad address, in use, not available). On
  // failure nothing stays open; start() may be called once.
  std::expected<void, std::string> start();
  // Closes the listener and every connection. The handles are freed by the loop's next turn;
  // destroying the HttpServer right after close() is safe.
  void close();
  int bound_port() const;  // the listening port, or -1 when not listening
  const std::string& address() const { return address_; }
  std::size_t connections() const { return clients_.size(); }

 private:
  struct Client;
  static void on_connection(uv_stream_t* server, int status);
  void accept_one();
  void on_read(Client& c, std::string_view data);
  void on_read_end(Client& c, int status);
  void respond(Client& c, std::string_view head);
  std::string index_page() const;
  void send(Client& c, std::string response);
  void on_written(Client& c, int status);
  void close_client(Client* c);

  uv_loop_t* loop_;
  std::string address_;
  std::string title_;
  Routes routes_;
  HttpServerOptions options_;
  uv_tcp_t* server_ = nullptr;  // on the heap: its close callback may run after we are gone
  bool started_ = false;
  std::unordered_set<Client*> clients_;
  std::map<std::string, std::size_t> by_address_;  // open connections per peer address
  std::uint64_t refused_ = 0;
  std::uint64_t last_refusal_log_ms_ = 0;
};

}  // namespace hactl
