// Helpers for tests that run the real keyward binary (and redis-server) as child processes.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace kw::testing {

using Clock = std::chrono::steady_clock;

inline int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  socklen_t len = sizeof(sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

// A TCP connection to 127.0.0.1:port with a receive timeout; -1 when refused.
inline int connectTo(int port, int recv_timeout_s = 5) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{recv_timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// True once something accepts TCP connections on 127.0.0.1:port (polled up to `limit`).
inline bool waitForPort(int port, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    const int fd = connectTo(port);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    ::usleep(20'000);
  }
  return false;
}

// One request on a fresh connection (Connection: close); the whole response.
inline std::string roundTrip(int port, const std::string& raw) {
  const int fd = connectTo(port, 10);
  if (fd < 0) return "connect failed";
  (void)::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

inline std::string post(int port, const std::string& path, const std::string& auth,
                        const std::string& body) {
  std::string r = "POST " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  if (!auth.empty()) r += "Authorization: Bearer " + auth + "\r\n";
  r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
       "\r\n\r\n" + body;
  return roundTrip(port, r);
}

inline int statusOf(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0) return -1;
  return std::stoi(response.substr(9, 3));
}

// A child process in its own group with stdout/stderr into pipes.
struct Child {
  pid_t pid = -1;
  int out = -1;
  int err = -1;
  std::string out_text, err_text;

  void spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
    int o[2], e[2];
    if (::pipe(o) != 0 || ::pipe(e) != 0) return;
    pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      ::dup2(o[1], 1);
      ::dup2(e[1], 2);
      for (int fd : {o[0], o[1], e[0], e[1]}) ::close(fd);
      for (const auto& kv : env) ::putenv(const_cast<char*>(kv.c_str()));
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    ::close(o[1]);
    ::close(e[1]);
    out = o[0];
    err = e[0];
    ::fcntl(out, F_SETFL, O_NONBLOCK);
    ::fcntl(err, F_SETFL, O_NONBLOCK);
  }
  void pump(int timeout_ms) {
    pollfd p[2] = {{out, POLLIN, 0}, {err, POLLIN, 0}};
    ::poll(p, 2, timeout_ms);
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out, buf, sizeof(buf))) > 0) out_text.append(buf, static_cast<size_t>(n));
    while ((n = ::read(err, buf, sizeof(buf))) > 0) err_text.append(buf, static_cast<size_t>(n));
  }
  bool waitFor(const std::regex& re, std::smatch& m, std::chrono::seconds limit) {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      pump(50);
      if (std::regex_search(out_text, m, re)) return true;
    }
    return false;
  }
  // Waits for the process to exit by itself; its wait status, or -1 after `limit`.
  int waitExit(std::chrono::seconds limit) {
    if (pid <= 0) return -1;
    int status = 0;
    auto deadline = Clock::now() + limit;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      pump(50);
      if (Clock::now() > deadline) return -1;
    }
    pump(0);
    pid = -1;
    return status;
  }
  // SIGTERM, then reap (SIGKILL after 30 s).
  int stop() {
    if (pid <= 0) return -1;
    ::kill(pid, SIGTERM);
    int status = 0;
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      pump(50);
      if (Clock::now() > deadline) {
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
    }
    pump(0);
    pid = -1;
    return status;
  }
  ~Child() {
    if (pid > 0) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (out >= 0) ::close(out);
    if (err >= 0) ::close(err);
  }
};

inline std::string keywardBinary() { return std::string(KW_BINARY_DIR) + "/proxy/keyward"; }

// redis-server (with a password) + keyward (plaintext, port 0) in a temp dir. `clients_yaml` is
// the `clients:` list body; "@REF@" in it is replaced by the sha256: reference of `key`.
struct Stack {
  std::string dir;
  std::string password = "stack-pass-5d1e0c7b9a3f4e21";
  int redis_port = 0;
  int port = 0;
  int admin_port = freePort();  // never the default 9091: other instances may hold it
  std::string key, ref;
  Child redis, kw;

  bool start(const std::string& clients_yaml, const std::string& listen_extra = "") {
    char tmpl[] = "/tmp/kw-stack-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return false;
    dir = tmpl;
    redis_port = freePort();
    {
      std::ofstream rc(dir + "/redis.conf");
      rc << "bind 127.0.0.1\nport " << redis_port << "\nsave \"\"\nappendonly no\nrequirepass "
         << password << "\n";
    }
    redis.spawn({"redis-server", dir + "/redis.conf"}, {});
    // keyward connects lazily, but the first request must not race redis-server's start.
    if (!waitForPort(redis_port, std::chrono::seconds(20))) return false;
    Child gen;
    gen.spawn({keywardBinary(), "token", "new", "--client", "app"}, {});
    std::smatch km;
    if (!gen.waitFor(std::regex("(kw_[A-Za-z0-9_-]{43})\n(sha256:[0-9a-f]{64})\n"), km,
                     std::chrono::seconds(20))) {
      return false;
    }
    key = km[1].str();
    ref = km[2].str();
    writeConfig(clients_yaml, listen_extra);
    kw.spawn({keywardBinary(), "serve", "--config", dir + "/kw.yaml"},
             {"KW_STACK_UPSTREAM_TOKEN=" + password});
    std::smatch lm;
    const std::regex listening_re(
        R"re(\{[^\n]*"event":"listening","address":"127\.0\.0\.1:(\d+)")re");
    if (!kw.waitFor(listening_re, lm, std::chrono::seconds(20))) return false;
    port = std::stoi(lm[1].str());
    return true;
  }

  void writeConfig(std::string clients_yaml, const std::string& listen_extra) {
    for (size_t p; (p = clients_yaml.find("@REF@")) != std::string::npos;) {
      clients_yaml.replace(p, 5, ref);
    }
    std::ofstream cfg(dir + "/kw.yaml.tmp");
    cfg << "listen:\n  address: \"127.0.0.1:0\"\n"
        << listen_extra << "admin:\n  address: \"127.0.0.1:" << admin_port << "\"\n"
        << "upstream:\n  url: \"redis://127.0.0.1:" << redis_port << "\"\n"
        << "  token_env: KW_STACK_UPSTREAM_TOKEN\n  timeout: 5s\n"
        // No plan budget unless a test sets one: suites send far more than 16,000 commands.
        << "budget:\n  per_second: 0\n  per_day: 0\n  per_month: 0\n"
        << "clients:\n"
        << clients_yaml;
    cfg.close();
    std::filesystem::rename(dir + "/kw.yaml.tmp", dir + "/kw.yaml");
  }

  // A redis-cli command against the stack's redis; its stdout.
  std::string redisCli(const std::string& args) const {
    std::string cmd = "REDISCLI_AUTH=" + password + " redis-cli -p " + std::to_string(redis_port) +
                      " " + args + " 2>/dev/null";
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return out;
    char buf[512];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    ::pclose(p);
    return out;
  }

  ~Stack() {
    kw.stop();
    redis.stop();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace kw::testing
