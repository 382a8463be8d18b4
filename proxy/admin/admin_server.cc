// Admin listener: health, readiness, Prometheus metrics and token-guarded /v1/* routes.
#include "proxy/admin/admin_server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "policy/ascii.h"
#include "proxy/codec/http_request_parser.h"
#include "proxy/codec/reply_json.h"
#include "proxy/codec/rest_request.h"

namespace kw::proxy {

namespace {
// Connections at once; at the cap the oldest one still reading its request makes room, so
// connections that never finish a request cannot lock out /healthz, revoke or reload.
constexpr size_t kMaxAdminConnections = 64;
// One whole exchange (head, body and response) from accept, never re-armed by progress: a
// client dripping a header line every few seconds is closed on time.
constexpr Milliseconds kAdminExchangeTime{10000};
}  // namespace

struct AdminServer::Conn {
  AdminServer* server;
  BufferEventPtr bev;
  codec::HttpRequestParser parser;
  bool answered = false;
  uint64_t seq;  // accept order
  Timer deadline;

  Conn(AdminServer* s, bufferevent* b, uint64_t n)
      : server(s), bev(b), parser(limits()), seq(n), deadline(s->base_, [this] {
          server->drop(this);
        }) {
    deadline.arm(kAdminExchangeTime);
  }

  static codec::HttpParserLimits limits() {
    codec::HttpParserLimits l;
    l.max_header_bytes = 8 * 1024;
    l.max_body_bytes = 64 * 1024;
    return l;
  }

  void answer(const Response& r) {
    answered = true;
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " +
                      (r.status < 300    ? "OK"
                       : r.status == 503 ? "Service Unavailable"
                                         : "Error") +
                      "\r\nContent-Type: " + r.content_type +
                      "\r\nContent-Length: " + std::to_string(r.body.size()) +
                      "\r\nConnection: close\r\n\r\n" + r.body;
    bufferevent_write(bev.get(), out.data(), out.size());
    bufferevent_disable(bev.get(), EV_READ);
  }

  static void onRead(bufferevent* b, void* arg) noexcept {
    auto* c = static_cast<Conn*>(arg);
    if (c->answered) return;
    evbuffer* in = bufferevent_get_input(b);
    while (evbuffer_get_length(in) > 0) {
      size_t n = static_cast<size_t>(evbuffer_get_contiguous_space(in));
      const char* p =
          reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(n)));
      size_t used = 0;
      codec::ParseStatus st = c->parser.feed(p, n, &used);
      evbuffer_drain(in, used);
      if (st == codec::ParseStatus::Error) {
        c->answer({c->parser.errorStatus(), "application/json",
                   codec::jsonError(c->parser.errorMessage())});
        return;
      }
      if (st == codec::ParseStatus::Complete) {
        auto auth = c->parser.header("authorization");
        c->answer(c->server->route(codec::methodName(c->parser.method()), c->parser.path(),
                                   auth ? *auth : std::string_view(), c->parser.body()));
        return;
      }
      if (used == 0) return;
    }
  }
  static void onWrite(bufferevent* b, void* arg) noexcept {
    auto* c = static_cast<Conn*>(arg);
    if (c->answered && evbuffer_get_length(bufferevent_get_output(b)) == 0) c->server->drop(c);
  }
  static void onEvent(bufferevent* /*b*/, short /*what*/, void* arg) noexcept {
    auto* c = static_cast<Conn*>(arg);
    c->server->drop(c);
  }
};

namespace {
bool validMetricName(std::string_view name) {
  if (name.rfind("keyward_", 0) != 0) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == ':';
    if (!ok) return false;
  }
  return true;
}

void appendEscaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}
}  // namespace

bool PrometheusText::header(std::string_view type, std::string_view name, std::string_view help) {
  if (!validMetricName(name)) return false;
  if (last_family_ == name) return true;
  last_family_ = std::string(name);
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  appendEscaped(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
  return true;
}

PrometheusText& PrometheusText::counter(std::string_view name, std::string_view help,
                                        uint64_t value) {
  if (header("counter", name, help)) {
    out_ += name;
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
  }
  return *this;
}

PrometheusText& PrometheusText::gauge(std::string_view name, std::string_view help,
                                      uint64_t value) {
  if (header("gauge", name, help)) {
    out_ += name;
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
  }
  return *this;
}

PrometheusText& PrometheusText::sample(std::string_view type, std::string_view name,
                                       std::string_view help, std::string_view label,
                                       std::string_view label_value, uint64_t value) {
  return sample(type, name, help, {{label, label_value}}, value);
}

PrometheusText& PrometheusText::sample(
    std::string_view type, std::string_view name, std::string_view help,
    std::initializer_list<std::pair<std::string_view, std::string_view>> labels, uint64_t value) {
  if (header(type, name, help)) {
    out_ += name;
    out_ += '{';
    bool first = true;
    for (const auto& [label, label_value] : labels) {
      if (!first) out_ += ',';
      first = false;
      out_ += label;
      out_ += "=\"";
      appendEscaped(out_, label_value, true);
      out_ += '"';
    }
    out_ += "} ";
    out_ += std::to_string(value);
    out_ += '\n';
  }
  return *this;
}

PrometheusText& PrometheusText::histogram(std::string_view name, std::string_view help,
                                          std::string_view label, std::string_view label_value,
                                          const LatencyHistogram& h) {
  if (!header("histogram", name, help)) return *this;
  std::string labels;
  if (!label.empty()) {
    labels += label;
    labels += "=\"";
    appendEscaped(labels, label_value, true);
    labels += "\",";
  }
  auto line = [&](std::string_view suffix, const std::string& inner, const std::string& value) {
    out_ += name;
    out_ += suffix;
    if (!inner.empty()) out_ += "{" + inner + "}";
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  };
  char bound[32];
  for (size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
    std::snprintf(bound, sizeof bound, "%g", LatencyHistogram::kBounds[i]);
    line("_bucket", labels + "le=\"" + bound + "\"", std::to_string(h.cumulative(i)));
  }
  line("_bucket", labels + "le=\"+Inf\"", std::to_string(h.count()));
  char sum[64];
  std::snprintf(sum, sizeof sum, "%.6f", h.sum());
  const std::string plain = label.empty() ? "" : labels.substr(0, labels.size() - 1);
  line("_sum", plain, sum);
  line("_count", plain, std::to_string(h.count()));
  return *this;
}

AdminServer::AdminServer(event_base* base, std::string token, AdminHooks hooks)
    : base_(base),
      token_(std::move(token)),
      hooks_(std::move(hooks)),
      reaper_(base, [this] { dead_.clear(); }) {}

AdminServer::~AdminServer() {
  listener_.reset();
  conns_.clear();
  dead_.clear();
}

void AdminServer::close() { listener_.reset(); }

Result<std::unique_ptr<AdminServer>> AdminServer::create(event_base* base,
                                                         const conf::HostPort& address,
                                                         std::string token, AdminHooks hooks) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(address.port);
  const char* host = address.host.empty() ? nullptr : address.host.c_str();
  if (int rc = getaddrinfo(host, port.c_str(), &hints, &res); rc != 0 || res == nullptr) {
    return makeError(ErrorCode::Io,
                     "cannot resolve admin address " + address.text + ": " + gai_strerror(rc));
  }
  std::unique_ptr<AdminServer> s(new AdminServer(base, std::move(token), std::move(hooks)));
  evconnlistener* l = evconnlistener_new_bind(
      base, onAccept, s.get(), LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
      128, res->ai_addr, static_cast<int>(res->ai_addrlen));
  freeaddrinfo(res);
  if (l == nullptr) {
    return makeError(ErrorCode::Io, "cannot listen on admin address " + address.text + ": " +
                                        std::strerror(errno));
  }
  s->listener_.reset(l);
  sockaddr_storage ss{};
  socklen_t sl = sizeof(ss);
  if (getsockname(evconnlistener_get_fd(l), reinterpret_cast<sockaddr*>(&ss), &sl) == 0) {
    char h[INET6_ADDRSTRLEN] = "?";
    uint16_t p = 0;
    if (ss.ss_family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&ss);
      inet_ntop(AF_INET, &in->sin_addr, h, sizeof(h));
      p = ntohs(in->sin_port);
      s->bound_ = std::string(h) + ":" + std::to_string(p);
    } else {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
      inet_ntop(AF_INET6, &in6->sin6_addr, h, sizeof(h));
      p = ntohs(in6->sin6_port);
      s->bound_ = ascii::hostPort(h, p);
    }
  }
  return s;
}

void AdminServer::onAccept(evconnlistener* /*l*/, int fd, struct sockaddr* /*addr*/, int /*len*/,
                           void* arg) noexcept {
  auto* s = static_cast<AdminServer*>(arg);
  if (s->conns_.size() >= kMaxAdminConnections) {
    Conn* oldest = nullptr;
    for (auto& [p, c] : s->conns_) {
      if (!p->answered && (oldest == nullptr || p->seq < oldest->seq)) oldest = p;
    }
    if (oldest == nullptr) {
      ::close(fd);
      return;
    }
    s->drop(oldest);
  }
  bufferevent* bev = bufferevent_socket_new(s->base_, fd, BEV_OPT_CLOSE_ON_FREE);
  if (bev == nullptr) {
    ::close(fd);
    return;
  }
  auto c = std::make_unique<Conn>(s, bev, ++s->accepted_);
  Conn* raw = c.get();
  s->conns_.emplace(raw, std::move(c));
  bufferevent_setcb(bev, Conn::onRead, Conn::onWrite, Conn::onEvent, raw);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
}

void AdminServer::drop(Conn* c) {
  auto it = conns_.find(c);
  if (it == conns_.end()) return;
  c->deadline.cancel();
  bufferevent_disable(c->bev.get(), EV_READ | EV_WRITE);
  bufferevent_setcb(c->bev.get(), nullptr, nullptr, nullptr, nullptr);
  dead_.push_back(std::move(it->second));
  conns_.erase(it);
  reaper_.arm(Milliseconds(0));
}

AdminServer::Response AdminServer::route(std::string_view method, std::string_view path,
                                         std::string_view authorization,
                                         std::string_view request_body) const {
  auto json = [](int status, std::string body) {
    return Response{status, "application/json", std::move(body)};
  };
  bool get = method == "GET" || method == "HEAD";
  if (path == "/healthz") {
    if (!get) return json(405, codec::jsonError("ERR method not allowed"));
    return json(200, "{\"status\":\"ok\"}");
  }
  if (path == "/readyz") {
    if (!get) return json(405, codec::jsonError("ERR method not allowed"));
    if (hooks_.draining && hooks_.draining()) {
      return json(503, "{\"status\":\"draining\"}");
    }
    if (hooks_.ready && !hooks_.ready()) return json(503, "{\"status\":\"not ready\"}");
    return json(200, "{\"status\":\"ready\"}");
  }
  if (path == "/metrics") {
    if (!get) return json(405, codec::jsonError("ERR method not allowed"));
    std::string body = hooks_.metrics ? hooks_.metrics() : std::string();
    return Response{200, "text/plain; version=0.0.4; charset=utf-8", std::move(body)};
  }
  if (path.rfind("/v1/", 0) == 0) {
    // The same reading of Authorization as the client listener's (scheme in any case).
    const std::optional<std::string_view> given = codec::bearerToken(authorization);
    bool ok = false;
    if (!token_.empty() && given && given->size() == token_.size()) {
      ok = CRYPTO_memcmp(given->data(), token_.data(), token_.size()) == 0;
    }
    if (!ok) return json(401, codec::jsonError("WRONGPASS invalid or missing admin token"));
    if (path == "/v1/reload") {
      if (method != "POST") return json(405, codec::jsonError("ERR method not allowed"));
      if (!hooks_.reload) return json(501, codec::jsonError("ERR reload not available"));
      std::string message;
      bool taken = hooks_.reload(message);
      std::string body = taken ? "{\"reloaded\":true}" : "{\"reloaded\":false,\"error\":";
      if (!taken) {
        std::string err = codec::jsonError(message);  // {"error":"..."}
        body += err.substr(9, err.size() - 10);       // the quoted message
        body += "}";
      }
      return json(taken ? 200 : 400, std::move(body));
    }
    if (method == "POST" && hooks_.v1_post) {
      int status = 0;
      std::string out;
      if (hooks_.v1_post(path, request_body, status, out)) return json(status, std::move(out));
    }
    return json(501, codec::jsonError("ERR not implemented yet"));
  }
  return json(404, codec::jsonError("ERR not found"));
}

}  // namespace kw::proxy
