// The Prometheus text builder (format 0.0.4) and the agent's HTTP metrics endpoint. The server
// tests run a real libuv loop in this thread and talk to it over 127.0.0.1 with plain sockets;
// every wait is bounded in iterations and time.
#include "agent/http_server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "agent/prometheus_text.hpp"
#include "tests/unit/skip.hpp"

namespace hactl {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// MetricsText

TEST(PrometheusText, HelpAndTypeOncePerFamilyInDeclarationOrder) {
  MetricsText t;
  t.family("hactl_up", MetricType::kGauge, "Whether the agent is up.");
  t.family("hactl_sent_total", MetricType::kCounter, "Datagrams sent.");
  t.sample("hactl_sent_total", {{"peer", "n2"}}, 7);
  t.sample("hactl_up", 1);
  t.sample("hactl_sent_total", {{"peer", "n3"}}, 8);
  t.family("hactl_up", MetricType::kGauge, "Whether the agent is up.");  // again: no-op
  EXPECT_EQ(t.str(),
            "# HELP hactl_up Whether the agent is up.\n"
            "# TYPE hactl_up gauge\n"
            "hactl_up 1\n"
            "# HELP hactl_sent_total Datagrams sent.\n"
            "# TYPE hactl_sent_total counter\n"
            "hactl_sent_total{peer=\"n2\"} 7\n"
            "hactl_sent_total{peer=\"n3\"} 8\n");
  EXPECT_EQ(t.dropped(), 0u);
}

TEST(PrometheusText, EmptyHelpAndEmptyFamilies) {
  MetricsText t;
  EXPECT_EQ(t.str(), "");
  t.family("a", MetricType::kGauge, "");
  t.family("b", MetricType::kGauge, "never sampled");
  t.sample("a", {{"x", "1"}, {"y", ""}}, 0);
  EXPECT_EQ(t.str(), "# TYPE a gauge\na{x=\"1\",y=\"\"} 0\n");
}

TEST(PrometheusText, EscapesLabelValuesAndHelp) {
  MetricsText t;
  t.family("m", MetricType::kGauge, "back\\slash \"quoted\"\nsecond line");
  t.sample("m", {{"path", "C:\\dir \"x\"\nend"}}, 1);
  EXPECT_EQ(t.str(),
            "# HELP m back\\\\slash \"quoted\"\\nsecond line\n"
            "# TYPE m gauge\n"
            "m{path=\"C:\\\\dir \\\"x\\\"\\nend\"} 1\n");
  EXPECT_EQ(MetricsText::escape_label_value("plain ütf-8"), "plain ütf-8");
}

TEST(PrometheusText, FormatsNumbers) {
  EXPECT_EQ(MetricsText::format_value(42), "42");
  EXPECT_EQ(MetricsText::format_value(0), "0");
  EXPECT_EQ(MetricsText::format_value(-0.0), "0");
  EXPECT_EQ(MetricsText::format_value(-3), "-3");
  EXPECT_EQ(MetricsText::format_value(1e6), "1000000");
  EXPECT_EQ(MetricsText::format_value(1700000000123.0), "1700000000123");
  EXPECT_EQ(MetricsText::format_value(9007199254740992.0), "9007199254740992");  // 2^53
  EXPECT_EQ(MetricsText::format_value(0.25), "0.25");
  EXPECT_EQ(MetricsText::format_value(0.1), "0.1");
  EXPECT_EQ(MetricsText::format_value(-1.5), "-1.5");
  EXPECT_EQ(MetricsText::format_value(1e20), "1e+20");
  EXPECT_EQ(MetricsText::format_value(1.5e-7), "1.5e-07");
  EXPECT_EQ(MetricsText::format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(MetricsText::format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(MetricsText::format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  // Every non-integer prints as text that reads back as the same double.
  for (const double v : {0.1, 1.0 / 3, 123.456, 6.02214076e23, 2.2250738585072014e-308}) {
    EXPECT_EQ(std::stod(MetricsText::format_value(v)), v) << v;
  }
}

TEST(PrometheusText, InvalidNamesAreDroppedAndCounted) {
  EXPECT_TRUE(MetricsText::valid_metric_name("hactl:rule_total"));
  EXPECT_TRUE(MetricsText::valid_metric_name("_x9"));
  for (const char* bad : {"", "9x", "a-b", "a b", "ä"}) {
    EXPECT_FALSE(MetricsText::valid_metric_name(bad)) << bad;
  }
  EXPECT_TRUE(MetricsText::valid_label_name("node_2"));
  for (const char* bad : {"", "2x", "a:b", "__name__", "a.b"}) {
    EXPECT_FALSE(MetricsText::valid_label_name(bad)) << bad;
  }
  MetricsText t;
  t.family("9bad", MetricType::kGauge, "");      // bad name
  t.family("ok", MetricType::kGauge, "help");    //
  t.family("ok", MetricType::kCounter, "help");  // redeclared with another type
  t.sample("ok", {{"a-b", "v"}}, 1);             // bad label name
  t.sample("ok", {{"__x", "v"}}, 1);             // reserved label name
  t.sample("ok", {{"a", "1"}, {"a", "2"}}, 1);   // repeated label
  t.sample("undeclared", 1);                     // no family
  t.sample("ok", {{"a", "1"}}, 2);               // the only good sample
  EXPECT_EQ(t.dropped(), 6u);
  EXPECT_EQ(t.str(), "# HELP ok help\n# TYPE ok gauge\nok{a=\"1\"} 2\n");
}

// ---------------------------------------------------------------------------------------------
// HttpServer, as the agent runs it (a /metrics route)

constexpr auto kWaitLimit = 3s;       // the longest any single wait in these tests may take
constexpr int kMaxPumpSteps = 20000;  // and its bound in loop turns (1 ms poll each)

struct HttpReply {
  std::string raw;
  bool closed = false;  // the server closed the connection (EOF or reset)
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};

HttpReply parse_reply(std::string raw, bool closed) {
  HttpReply r;
  r.raw = std::move(raw);
  r.closed = closed;
  const auto end = r.raw.find("\r\n\r\n");
  if (r.raw.size() < 12 || end == std::string::npos) return r;
  r.status = std::stoi(r.raw.substr(9, 3));
  std::size_t pos = r.raw.find("\r\n") + 2;
  while (pos < end) {
    const auto eol = r.raw.find("\r\n", pos);
    const std::string line = r.raw.substr(pos, eol - pos);
    const auto colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    pos = eol + 2;
  }
  r.body = r.raw.substr(end + 4);
  return r;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }

  void TearDown() override {
    for (const int fd : fds_) ::close(fd);
    servers_.clear();  // destroyed before the loop has run their close callbacks: must be safe
    for (int i = 0; i < 100 && uv_loop_alive(&loop_) != 0; ++i) uv_run(&loop_, UV_RUN_NOWAIT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }

  HttpServer& make_server(HttpServer::Render render, HttpServerOptions options = {},
                          std::string address = "127.0.0.1:0") {
    HttpServer::Routes routes;
    routes["/metrics"] = {std::string(kPrometheusContentType), std::move(render)};
    servers_.push_back(std::make_unique<HttpServer>(&loop_, std::move(address), "hactl agent",
                                                    std::move(routes), options));
    return *servers_.back();
  }

  HttpServer& start_server(HttpServerOptions options = {}) {
    auto& s = make_server([this] { return render(); }, options);
    const auto r = s.start();
    EXPECT_TRUE(r) << r.error();
    EXPECT_GT(s.bound_port(), 0);
    return s;
  }

  std::string render() {
    ++renders_;
    return "# TYPE up gauge\nup " + std::to_string(renders_) + "\n";
  }

  // Runs the loop until pred() holds, at most kWaitLimit and kMaxPumpSteps turns.
  bool pump_until(const std::function<bool()>& pred) {
    const auto deadline = Clock::now() + kWaitLimit;
    for (int i = 0; i < kMaxPumpSteps && Clock::now() < deadline; ++i) {
      if (pred()) return true;
      uv_run(&loop_, UV_RUN_NOWAIT);
      ::usleep(500);
    }
    return pred();
  }

  // A blocking TCP socket connected to 127.0.0.1:port (loopback only), with send/receive
  // timeouts so nothing here can hang. Connecting completes in the kernel's backlog, without
  // the loop.
  int connect_loopback(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_GE(fd, 0);
    fds_.push_back(fd);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    return fd;
  }

  static void send_all(int fd, std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << std::strerror(errno);
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Everything the server sends on fd until it closes the connection, while the loop runs.
  HttpReply read_reply(int fd) {
    std::string raw;
    bool closed = false;
    pump_until([&] {
      pollfd p{fd, POLLIN, 0};
      while (::poll(&p, 1, 0) == 1) {
        char buf[4096];
        const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) {
          closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
          break;
        }
        raw.append(buf, static_cast<std::size_t>(n));
      }
      return closed;
    });
    return parse_reply(std::move(raw), closed);
  }

  void close_fd(int fd) {
    ::close(fd);
    fds_.erase(std::find(fds_.begin(), fds_.end(), fd));
  }

  // One request on a new connection; the client closes it once it has the whole reply.
  HttpReply request(int port, std::string_view text) {
    const int fd = connect_loopback(port);
    send_all(fd, text);
    auto r = read_reply(fd);
    close_fd(fd);
    return r;
  }

  uv_loop_t loop_{};
  std::vector<std::unique_ptr<HttpServer>> servers_;
  std::vector<int> fds_;
  int renders_ = 0;
};

TEST_F(HttpServerTest, MetricsIsServedWithHeaders) {
  auto& s = start_server();
  const auto r = request(s.bound_port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(r.closed);
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_TRUE(r.raw.starts_with("HTTP/1.1 200 OK\r\n")) << r.raw;
  EXPECT_EQ(r.headers.at("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.headers.at("content-length"), std::to_string(r.body.size()));
  EXPECT_EQ(r.headers.at("connection"), "close");
  EXPECT_EQ(r.body, "# TYPE up gauge\nup 1\n");
  // render() is called once per scrape; a query string and HTTP/1.0 are accepted.
  const auto r2 = request(s.bound_port(), "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
  EXPECT_EQ(r2.status, 200) << r2.raw;
  EXPECT_EQ(r2.body, "# TYPE up gauge\nup 2\n");
  EXPECT_TRUE(pump_until([&] { return s.connections() == 0; }));
}

TEST_F(HttpServerTest, HeadIndexAndBareLineFeeds) {
  auto& s = start_server();
  const auto head = request(s.bound_port(), "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(head.status, 200) << head.raw;
  EXPECT_EQ(head.headers.at("content-length"),
            std::to_string(std::string("# TYPE up gauge\nup 1\n").size()));
  EXPECT_EQ(head.body, "");
  const auto index = request(s.bound_port(), "GET / HTTP/1.1\nHost: x\n\n");
  EXPECT_EQ(index.status, 200) << index.raw;
  EXPECT_TRUE(index.headers.at("content-type").starts_with("text/html")) << index.raw;
  EXPECT_NE(index.body.find("/metrics"), std::string::npos);
}

TEST_F(HttpServerTest, ClientThatHalfClosesStillGetsTheResponse) {
  auto& s = start_server();
  const int fd = connect_loopback(s.bound_port());
  send_all(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(::shutdown(fd, SHUT_WR), 0);
  const auto r = read_reply(fd);
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body, "# TYPE up gauge\nup 1\n");
}

TEST_F(HttpServerTest, HeadSplitAcrossReads) {
  auto& s = start_server();
  const int fd = connect_loopback(s.bound_port());
  for (const std::string_view part : {"GET /met", "rics HTTP/1.1\r", "\nHost: x\r\n\r", "\n"}) {
    send_all(fd, part);
    for (int i = 0; i < 5; ++i) uv_run(&loop_, UV_RUN_NOWAIT);
  }
  const auto r = read_reply(fd);
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(renders_, 1);
}

TEST_F(HttpServerTest, ErrorStatuses) {
  auto& s = start_server();
  const int port = s.bound_port();
  struct Case {
    std::string request;
    int status;
  };
  const std::vector<Case> cases = {
      {"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404},
      {"GET /metrics/x HTTP/1.1\r\n\r\n", 404},
      {"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 405},
      {"DELETE / HTTP/1.1\r\n\r\n", 405},
      {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"s, 400},  // TLS-ish garbage
      {"garbage\r\n\r\n", 400},
      {"GET /metrics\r\n\r\n", 400},                       // HTTP/0.9 style
      {"GET  /metrics HTTP/1.1\r\n\r\n", 400},             // two spaces
      {"GET metrics HTTP/1.1\r\n\r\n", 400},               // not origin-form
      {"GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", 400},  // space before colon
      {"GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n", 400},
      {"GET /metrics HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400},
      {"GET /metrics HTTP/2.0\r\n\r\n", 505},
  };
  for (const auto& c : cases) {
    auto r = request(port, c.request);
    EXPECT_TRUE(r.closed) << c.request;
    EXPECT_EQ(r.status, c.status) << c.request << " -> " << r.raw;
    EXPECT_EQ(r.headers["connection"], "close") << c.request;
    EXPECT_EQ(r.headers["content-length"], std::to_string(r.body.size())) << c.request;
  }
  auto r = request(port, "POST /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.headers["allow"], "GET, HEAD");
  EXPECT_EQ(renders_, 0);
  EXPECT_TRUE(pump_until([&] { return s.connections() == 0; }));
}

TEST_F(HttpServerTest, OversizedHeadGets431) {
  HttpServerOptions o;
  auto& s = start_server(o);
  // A head that never ends, and one that ends beyond the limit.
  const std::string filler = "X-Filler: " + std::string(o.max_request_head, 'a') + "\r\n";
  for (const std::string& req :
       {"GET /metrics HTTP/1.1\r\n" + filler, "GET /metrics HTTP/1.1\r\n" + filler + "\r\n"}) {
    const auto r = request(s.bound_port(), req);
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(r.status, 431) << r.raw.substr(0, 100);
  }
  // Just under the limit is fine.
  const std::string head = "GET /metrics HTTP/1.1\r\nX: ";
  const std::string fits =
      head + std::string(o.max_request_head - head.size() - 4, 'b') + "\r\n\r\n";
  ASSERT_EQ(fits.size(), o.max_request_head);
  EXPECT_EQ(request(s.bound_port(), fits).status, 200);
  EXPECT_EQ(renders_, 1);
}

TEST_F(HttpServerTest, SilentAndSlowClientsAreClosedAfterTheTimeout) {
  HttpServerOptions o;
  o.connection_timeout = 200ms;
  auto& s = start_server(o);
  const auto t0 = Clock::now();
  const int silent = connect_loopback(s.bound_port());
  const int slow = connect_loopback(s.bound_port());
  send_all(slow, "GET /metrics HTTP/1.1\r\n");  // and never the rest
  ASSERT_TRUE(pump_until([&] { return s.connections() == 2; }));
  const auto r1 = read_reply(silent);
  const auto r2 = read_reply(slow);
  const auto elapsed = Clock::now() - t0;
  EXPECT_TRUE(r1.closed);
  EXPECT_TRUE(r2.closed);
  EXPECT_EQ(r1.raw, "");
  EXPECT_EQ(r2.raw, "");
  EXPECT_GE(elapsed, 190ms);
  EXPECT_LT(elapsed, 2s);
  EXPECT_EQ(s.connections(), 0u);
  EXPECT_EQ(renders_, 0);
}

TEST_F(HttpServerTest, TooManyConnectionsAreRefused) {
  HttpServerOptions o;
  o.max_connections = 3;
  auto& s = start_server(o);
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) held.push_back(connect_loopback(s.bound_port()));
  ASSERT_TRUE(pump_until([&] { return s.connections() == 3; }));
  const auto refused = read_reply(connect_loopback(s.bound_port()));
  EXPECT_TRUE(refused.closed);
  EXPECT_EQ(refused.status, 503) << refused.raw;
  EXPECT_EQ(s.connections(), 3u);
  // A held connection still works, and its slot is free again afterwards.
  send_all(held[0], "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(read_reply(held[0]).status, 200);
  close_fd(held[0]);
  ASSERT_TRUE(pump_until([&] { return s.connections() == 2; }));
  EXPECT_EQ(request(s.bound_port(), "GET /metrics HTTP/1.1\r\n\r\n").status, 200);
}

// One peer address holds at most max_connections_per_address: the rest are refused, and
// another address (127.0.0.2, loopback as well) still gets in.
TEST_F(HttpServerTest, OneAddressCannotTakeEveryConnection) {
  HttpServerOptions o;
  o.max_connections_per_address = 2;
  auto& s = start_server(o);
  std::vector<int> held;
  for (int i = 0; i < 2; ++i) held.push_back(connect_loopback(s.bound_port()));
  ASSERT_TRUE(pump_until([&] { return s.connections() == 2; }));
  const auto refused = read_reply(connect_loopback(s.bound_port()));
  EXPECT_EQ(refused.status, 503) << refused.raw;
  const int other = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(other, 0);
  fds_.push_back(other);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr.s_addr = htonl(0x7f000002);  // 127.0.0.2
  ASSERT_EQ(::bind(other, reinterpret_cast<sockaddr*>(&from), sizeof from), 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(s.bound_port()));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(other, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  send_all(other, "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(read_reply(other).status, 200);
}

TEST_F(HttpServerTest, RenderThatThrowsGets500) {
  auto& s = make_server([]() -> std::string { throw std::runtime_error("boom"); });
  ASSERT_TRUE(s.start());
  EXPECT_EQ(request(s.bound_port(), "GET /metrics HTTP/1.1\r\n\r\n").status, 500);
}

TEST_F(HttpServerTest, BindFailureNamesTheAddress) {
  auto& first = start_server();
  const std::string address = "127.0.0.1:" + std::to_string(first.bound_port());
  auto& second = make_server([] { return std::string(); }, {}, address);
  const auto r = second.start();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find(address), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("address already in use"), std::string::npos) << r.error();
  EXPECT_EQ(second.bound_port(), -1);
  // The first one is unaffected.
  EXPECT_EQ(request(first.bound_port(), "GET /metrics HTTP/1.1\r\n\r\n").status, 200);
}

TEST_F(HttpServerTest, InvalidAddressesAreRefused) {
  for (const char* bad : {"localhost:9405", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
                          "127.0.0.1:x", "::1:9405", "[::1]9405", "[::1:9405", "[nope]:9405"}) {
    auto& s = make_server([] { return std::string(); }, {}, bad);
    const auto r = s.start();
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().find(std::string("'") + bad + "'"), std::string::npos) << r.error();
  }
  EXPECT_EQ(kDefaultMetricsAddress, "127.0.0.1:9405");
}

TEST_F(HttpServerTest, Ipv6Loopback) {
  auto& s = make_server([] { return std::string("up 1\n"); }, {}, "[::1]:0");
  if (const auto r = s.start(); !r) HACTL_SKIP("no IPv6 loopback here: " << r.error());
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  fds_.push_back(fd);
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(static_cast<std::uint16_t>(s.bound_port()));
  sa.sin6_addr = in6addr_loopback;
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n");
  const auto r = read_reply(fd);
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body, "up 1\n");
}

TEST_F(HttpServerTest, CloseWithOpenConnectionsFreesEverything) {
  auto& s = start_server();
  const int a = connect_loopback(s.bound_port());
  const int b = connect_loopback(s.bound_port());
  send_all(b, "GET /met");
  ASSERT_TRUE(pump_until([&] { return s.connections() == 2; }));
  s.close();
  EXPECT_EQ(s.connections(), 0u);
  EXPECT_EQ(s.bound_port(), -1);
  EXPECT_TRUE(read_reply(a).closed);
  EXPECT_TRUE(read_reply(b).closed);
  // TearDown checks that the loop has no handle left once it has run.
}

}  // namespace
}  // namespace hactl
