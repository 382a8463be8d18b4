// Admin listener (README, Operating it): GET /healthz, /readyz, /metrics; /v1/* behind a bearer
// token.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "conf/config.h"
#include "policy/result.h"
#include "proxy/io/event_loop.h"
#include "proxy/io/latency_histogram.h"

namespace kw::proxy {

// Builds the Prometheus text exposition (format 0.0.4). Every name must start "keyward_" (others
// are dropped); help text has '\\' and newlines escaped. Values are unsigned counters/gauges.
class PrometheusText {
 public:
  PrometheusText& counter(std::string_view name, std::string_view help, uint64_t value);
  PrometheusText& gauge(std::string_view name, std::string_view help, uint64_t value);
  // One labelled sample of a family already announced (or announced here on first use).
  PrometheusText& sample(std::string_view type, std::string_view name, std::string_view help,
                         std::string_view label, std::string_view label_value, uint64_t value);
  // The same with several labels, in the order given.
  PrometheusText& sample(
      std::string_view type, std::string_view name, std::string_view help,
      std::initializer_list<std::pair<std::string_view, std::string_view>> labels, uint64_t value);
  // One histogram series: NAME_bucket{label,le} for each bound and +Inf, NAME_sum, NAME_count.
  // `label` empty: no label.
  PrometheusText& histogram(std::string_view name, std::string_view help, std::string_view label,
                            std::string_view label_value, const LatencyHistogram& h);
  [[nodiscard]] const std::string& text() const { return out_; }

 private:
  bool header(std::string_view type, std::string_view name, std::string_view help);
  std::string out_;
  std::string last_family_;
};

// What the admin endpoints ask the rest of the process. Every hook is optional.
struct AdminHooks {
  std::function<bool()> ready;               // config loaded and upstream answering
  std::function<bool()> draining;            // SIGTERM received: /readyz turns 503
  std::function<std::string()> metrics;      // Prometheus text (every name keyward_*)
  std::function<bool(std::string&)> reload;  // POST /v1/reload: true when taken; message out
  // Any other POST /v1/* (e.g. /v1/tokens): true when handled, with status and JSON body out.
  std::function<bool(std::string_view path, std::string_view body, int& status, std::string& out)>
      v1_post;
};

// A small HTTP/1.1 server; one request per connection (Connection: close), bounded head and
// body, 10 s per connection in total; at 64 connections the oldest unanswered one is closed
// for a new one. Not for client traffic.
class AdminServer {
 public:
  // `token` guards /v1/* (empty: /v1/* always 401). SECRET: compared with CRYPTO_memcmp.
  static Result<std::unique_ptr<AdminServer>> create(event_base* base,
                                                     const conf::HostPort& address,
                                                     std::string token, AdminHooks hooks);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  [[nodiscard]] const std::string& boundAddress() const { return bound_; }
  // Stops accepting (shutdown).
  void close();

  struct Response {
    int status;
    std::string content_type;
    std::string body;
  };
  // The answer for one request (pure routing; exposed for tests).
  [[nodiscard]] Response route(std::string_view method, std::string_view path,
                               std::string_view authorization,
                               std::string_view request_body = {}) const;

  struct Conn;

 private:
  AdminServer(event_base* base, std::string token, AdminHooks hooks);
  static void onAccept(evconnlistener* l, int fd, struct sockaddr* addr, int len,
                       void* arg) noexcept;
  void drop(Conn* c);

  event_base* base_;
  std::string token_;
  AdminHooks hooks_;
  ListenerPtr listener_;
  std::string bound_;
  std::unordered_map<Conn*, std::unique_ptr<Conn>> conns_;
  std::vector<std::unique_ptr<Conn>> dead_;
  uint64_t accepted_ = 0;
  Timer reaper_;
  friend struct Conn;
};

}  // namespace kw::proxy
