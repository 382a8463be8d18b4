// Test support: a real redis-server child on a free 127.0.0.1 port, a hanging TCP server, TLS
// certificates made with the openssl CLI, and an event-loop runner with a wall-clock limit.
#pragma once

#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "conf/config.h"
#include "proxy/io/event_loop.h"
#include "proxy/upstream/redis/redis_pool.h"

namespace kw::proxy::testing {

// A redis:// or rediss:// URL as a pool's endpoint, through conf's parser as keyward does it.
inline RedisEndpoint endpointFor(std::string_view url) {
  conf::UpstreamConfig u;
  EXPECT_TRUE(conf::parseUpstreamUrl(url, u).has_value()) << url;
  return redisEndpoint(u);
}

inline uint16_t freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline std::string findOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return {};
}

inline bool portOpen(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

// A temporary directory removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kw-redis-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// redis-server as a child process (killed at destruction). Fails the test if it cannot start.
class RedisServer {
 public:
  // `port` 0 picks a free one. With `tls_port_args` the TCP port is disabled and `port` is the
  // TLS port.
  explicit RedisServer(std::vector<std::string> extra = {}, uint16_t port = 0, bool tls = false)
      : extra_(std::move(extra)), port_(port == 0 ? freePort() : port), tls_(tls) {
    start();
  }
  ~RedisServer() { stop(SIGKILL); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  void start() {
    std::vector<std::string> args = {"redis-server", "--bind", "127.0.0.1",   "--save", "",
                                     "--appendonly", "no",     "--daemonize", "no",     "--logfile",
                                     "/dev/null"};
    if (tls_) {
      args.insert(args.end(), {"--port", "0", "--tls-port", std::to_string(port_)});
    } else {
      args.insert(args.end(), {"--port", std::to_string(port_)});
    }
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    const std::string exe = findOnPath("redis-server");
    ASSERT_FALSE(exe.empty()) << "redis-server is required on PATH for these tests";
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a test binary that was killed
      ::execv(exe.c_str(), argv.data());
      ::_exit(127);
    }
    for (int i = 0; i < 200 && !portOpen(port_); ++i) {
      int status = 0;
      ASSERT_EQ(::waitpid(pid_, &status, WNOHANG), 0) << "redis-server exited at startup";
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ASSERT_TRUE(portOpen(port_)) << "redis-server did not open port " << port_;
  }

  void stop(int sig = SIGKILL) {
    if (pid_ > 0) {
      ::kill(pid_, sig);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }

  [[nodiscard]] uint16_t port() const { return port_; }
  [[nodiscard]] std::string url(const std::string& host = "127.0.0.1") const {
    return std::string(tls_ ? "rediss://" : "redis://") + host + ":" + std::to_string(port_);
  }

 private:
  std::vector<std::string> extra_;
  uint16_t port_;
  bool tls_;
  pid_t pid_ = -1;
};

// A TCP socket listening on 127.0.0.1 at a port the kernel picks (stored in *port).
inline int listenLoopback(uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  EXPECT_EQ(::listen(fd, 64), 0);
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// A TCP server that accepts connections (through the kernel backlog) and never answers.
class HangingServer {
 public:
  HangingServer() { fd_ = listenLoopback(&port_); }
  ~HangingServer() { ::close(fd_); }
  HangingServer(const HangingServer&) = delete;
  HangingServer& operator=(const HangingServer&) = delete;
  [[nodiscard]] uint16_t port() const { return port_; }
  // Takes a connection out of the backlog (blocking), for a test to read what was sent on it.
  [[nodiscard]] int acceptOne() const { return ::accept(fd_, nullptr, nullptr); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A fake upstream for replies a real redis-server never sends: the k-th accepted connection
// gets answers[k] (the last one for later connections) once its first request bytes arrive,
// then stays open and silent.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::vector<std::string> answers) : answers_(std::move(answers)) {
    fd_ = listenLoopback(&port_);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
    for (const int c : clients_) ::close(c);
    ::close(fd_);
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;
  [[nodiscard]] uint16_t port() const { return port_; }
  [[nodiscard]] std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] size_t accepted() const { return accepted_.load(); }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      clients_.push_back(c);
      const size_t k = accepted_++;
      pollfd q{c, POLLIN, 0};
      for (int i = 0; i < 100 && !stop_ && ::poll(&q, 1, 20) <= 0; ++i) {
      }
      char buf[4096];
      (void)::recv(c, buf, sizeof(buf), 0);
      const std::string& answer = answers_[std::min(k, answers_.size() - 1)];
      (void)::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
    }
  }
  std::vector<std::string> answers_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> accepted_{0};
  std::vector<int> clients_;  // the serving thread's only, until joined
  std::thread thread_;
};

inline void runOrFail(const std::string& cmd) {
  const std::string full = cmd + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(full.c_str()), 0) << "command failed: " << cmd;
}

// Makes <dir>/<name>.key + <name>.crt signed by <dir>/<ca>.crt (the CA is made when missing).
inline void makeCert(const TempDir& dir, const std::string& ca, const std::string& name,
                     const std::string& san) {
  const std::string d = dir.path() + "/";
  if (!std::filesystem::exists(d + ca + ".crt")) {
    runOrFail(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
        "-subj /CN=" +
        ca + " -keyout " + d + ca + ".key -out " + d + ca + ".crt");
  }
  runOrFail("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + name +
            " -keyout " + d + name + ".key -out " + d + name + ".csr");
  {
    FILE* f = std::fopen((d + name + ".ext").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fprintf(f, "subjectAltName=%s\n", san.c_str());
    std::fclose(f);
  }
  runOrFail("openssl x509 -req -in " + d + name + ".csr -CA " + d + ca + ".crt -CAkey " + d + ca +
            ".key -CAcreateserial -days 2 -extfile " + d + name + ".ext -out " + d + name + ".crt");
}

// Drives an event_base until `done` or until `limit` wall-clock time passed.
class LoopRunner {
 public:
  LoopRunner() : base_(makeEventBase().value()), tick_(base_.get(), [] {}) {
    tick_.armPeriodic(std::chrono::milliseconds(5));
  }
  [[nodiscard]] event_base* base() const { return base_.get(); }
  bool runUntil(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) {
        return false;
      }
      event_base_loop(base_.get(), EVLOOP_ONCE);
    }
    return true;
  }
  void runFor(std::chrono::milliseconds d) {
    runUntil([] { return false; }, d);
  }

 private:
  EventBasePtr base_;
  Timer tick_;
};

}  // namespace kw::proxy::testing
