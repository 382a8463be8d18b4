// RestPool against a scripted HTTP/1.1 server on 127.0.0.1: what an idle keep-alive connection
// may carry. HTTP/1.1 answers in order, with no request ids, so bytes a server sends while no
// request is outstanding would answer the next request written on that connection, whichever
// client sent it (attack round 23). The tests hold the event loop still while those bytes (or
// the server's close) reach the socket, so the pool's read handler cannot have seen them.
#include "proxy/upstream/rest/rest_pool.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/proxy/redis_test_support.h"

namespace kw::proxy {
namespace {

using testing::LoopRunner;

std::string response(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Answers every request on the k-th connection with {"result":"c<k>r<n>"}. After the first
// answer on the first connection it does `after_first` ("stray": sends an unasked response;
// "close": closes the connection), once `go` is set.
class HttpServer {
 public:
  explicit HttpServer(std::string after_first) : after_first_(std::move(after_first)) {
    fd_ = testing::listenLoopback(&port_);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~HttpServer() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : handlers_) t.join();
    ::close(fd_);
  }
  [[nodiscard]] uint16_t port() const { return port_; }
  [[nodiscard]] size_t accepted() const { return accepted_.load(); }
  void go() { go_ = true; }
  [[nodiscard]] bool done() const { return done_.load(); }

 private:
  void acceptLoop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      const size_t k = ++accepted_;
      handlers_.emplace_back([this, c, k] { serve(c, k); });
    }
  }
  void serve(int c, size_t k) {
    std::string in;
    size_t answered = 0;
    while (!stop_) {
      pollfd q{c, POLLIN, 0};
      if (::poll(&q, 1, 20) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
      size_t end;
      while ((end = in.find("\r\n\r\n")) != std::string::npos) {
        in.erase(0, end + 4);
        const std::string out = response("{\"result\":\"c" + std::to_string(k) + "r" +
                                         std::to_string(++answered) + "\"}");
        (void)::send(c, out.data(), out.size(), MSG_NOSIGNAL);
        if (k == 1 && answered == 1) {
          while (!go_ && !stop_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
          if (after_first_ == "stray") {
            const std::string stray = response("{\"result\":\"stray\"}");
            (void)::send(c, stray.data(), stray.size(), MSG_NOSIGNAL);
          } else {
            ::shutdown(c, SHUT_RDWR);
          }
          done_ = true;
        }
      }
    }
    ::close(c);
  }
  std::string after_first_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> go_{false};
  std::atomic<bool> done_{false};
  std::atomic<size_t> accepted_{0};
  std::vector<std::thread> handlers_;  // the acceptor's only, until joined
  std::thread acceptor_;
};

struct Outcome {
  std::string body;
  std::string error;
  bool ended = false;
};

RestCallPtr get(RestPool& pool, Outcome& out) {
  RestCallSpec spec;
  spec.bytes = "POST / HTTP/1.1\r\nHost: up\r\nContent-Length: 0\r\n\r\n";
  spec.tenant = "t";
  RestCallbacks cb;
  cb.on_body = [&out](std::string_view b) { out.body.append(b); };
  cb.on_done = [&out] { out.ended = true; };
  cb.on_error = [&out](const UpstreamError& e) {
    out.error = e.message;
    out.ended = true;
  };
  return pool.call(std::move(spec), std::move(cb));
}

// The second request of the test, after the server did `after_first` on the only pooled
// connection while the loop stood still: it must get an answer of its own.
Outcome secondAfter(const std::string& after_first, size_t* accepted) {
  HttpServer server(after_first);
  LoopRunner loop;
  RestPoolOptions o;
  o.host = "127.0.0.1";
  o.port = server.port();
  o.tls = false;
  o.connections = 1;
  o.timeout = Milliseconds(3000);
  auto pool = RestPool::create(loop.base(), o);
  EXPECT_TRUE(pool.has_value());
  Outcome first;
  auto c1 = get(**pool, first);
  EXPECT_TRUE(loop.runUntil([&] { return first.ended; }));
  EXPECT_EQ(first.body, "{\"result\":\"c1r1\"}") << first.error;
  // The loop stands still from here: the pool cannot read what the server does now.
  server.go();
  while (!server.done()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // on loopback: in the socket
  Outcome second;
  auto c2 = get(**pool, second);
  EXPECT_TRUE(loop.runUntil([&] { return second.ended; }));
  *accepted = server.accepted();
  c1.reset();
  c2.reset();
  pool->reset();
  loop.runFor(Milliseconds(20));
  return second;
}

TEST(RestPoolTest, AnUnaskedResponseOnAnIdleConnectionNeverAnswersTheNextRequest) {
  size_t accepted = 0;
  const Outcome second = secondAfter("stray", &accepted);
  EXPECT_EQ(second.error, "");
  EXPECT_EQ(second.body, "{\"result\":\"c2r1\"}")
      << "the next request was answered on the connection that sent an unasked response";
  EXPECT_EQ(accepted, 2u);
}

TEST(RestPoolTest, AnIdleConnectionTheUpstreamClosedIsNotHandedARequest) {
  size_t accepted = 0;
  const Outcome second = secondAfter("close", &accepted);
  EXPECT_EQ(second.error, "") << "a request went out on a connection the upstream had closed";
  EXPECT_EQ(second.body, "{\"result\":\"c2r1\"}");
  EXPECT_EQ(accepted, 2u);
}

}  // namespace
}  // namespace kw::proxy
