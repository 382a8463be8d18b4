// scripts/run.sh (README Quick start #1) end to end: certs, redis, keys, TLS curl lines, Ctrl-C.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string sourceDir() {
  const char* env = std::getenv("KW_SOURCE_DIR");
  return env != nullptr ? env : KW_SOURCE_DIR;
}

// Runs `cmd` with /bin/sh and returns its stdout.
std::string capture(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

bool portAccepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
  ::close(fd);
  return ok;
}

class QuickStart : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kw-quickstart-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Starts run.sh in its own process group, stdout+stderr into a pipe.
  void start(const std::string& keyward) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      ::close(fds[0]);
      ::close(fds[1]);
      ::setenv("KEYWARD_BIN", keyward.c_str(), 1);
      ::setenv("KW_RUN_DIR", (dir_ + "/run").c_str(), 1);
      ::setenv("KW_SKIP_DEPS", "1", 1);
      std::string script = sourceDir() + "/scripts/run.sh";
      ::execl("/bin/bash", "bash", script.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);
    ::close(fds[1]);
    out_fd_ = fds[0];
    ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  }

  // Reads output until `needle` appears or the deadline passes.
  bool waitFor(const std::string& needle, std::chrono::seconds limit) {
    auto deadline = Clock::now() + limit;
    while (output_.find(needle) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{out_fd_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left.count()));
      char buf[4096];
      ssize_t n = ::read(out_fd_, buf, sizeof(buf));
      if (n > 0) output_.append(buf, static_cast<size_t>(n));
      if (n == 0) return output_.find(needle) != std::string::npos;
    }
    return true;
  }

  std::string dir_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string output_;
};

TEST_F(QuickStart, RunScriptServesThePrintedCurlLinesAndStopsCleanly) {
  std::string keyward = std::string(KW_BINARY_DIR) + "/proxy/keyward";
  ASSERT_TRUE(fs::exists(keyward)) << "build the keyward target first: " << keyward;
  for (const char* tool : {"redis-server", "openssl", "curl", "python3"}) {
    ASSERT_EQ(std::system((std::string("command -v ") + tool + " >/dev/null").c_str()), 0)
        << tool << " missing (scripts/deps.sh installs it)";
  }
  start(keyward);
  ASSERT_TRUE(waitFor("\"event\":\"listening\",\"address\"", std::chrono::seconds(60))) << output_;

  // The three curl lines the script prints: allowed SET, allowed GET, denied FLUSHALL.
  std::vector<std::string> curls;
  std::regex line_re(R"((?:^|\n)  (curl --cacert [^\n#]*https://[^\n#]*?)\s*(?:#[^\n]*)?(?=\n))");
  for (std::sregex_iterator it(output_.begin(), output_.end(), line_re), end; it != end; ++it) {
    curls.push_back((*it)[1]);
  }
  ASSERT_EQ(curls.size(), 3u) << output_;
  EXPECT_EQ(capture(curls[0] + " -s -w ' %{http_code}'"), "{\"result\":\"OK\"} 200");
  EXPECT_EQ(capture(curls[1] + " -s -w ' %{http_code}'"), "{\"result\":\"world\"} 200");
  std::string denied = capture(curls[2] + " -s -w ' %{http_code}'");
  EXPECT_EQ(denied.rfind("{\"error\":\"NOPERM", 0), 0u) << denied;
  EXPECT_NE(denied.find(" 403"), std::string::npos) << denied;

  // Secrets stay out of the log: the redis password is in the 0600 redis.conf only.
  std::string conf = capture("cat '" + dir_ + "/run/redis.conf'");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(conf, m, std::regex("requirepass ([0-9a-f]{48})")));
  EXPECT_EQ(output_.find(m[1].str()), std::string::npos);
  EXPECT_EQ(fs::status(dir_ + "/run/redis.conf").permissions() & fs::perms::others_read,
            fs::perms::none);
  std::smatch pm;
  ASSERT_TRUE(std::regex_search(conf, pm, std::regex("port ([0-9]+)")));
  int redis_port = std::stoi(pm[1].str());
  EXPECT_TRUE(portAccepts(redis_port));

  // Ctrl-C: SIGINT to the foreground group stops keyward and the script's redis-server.
  ASSERT_EQ(::kill(-pid_, SIGINT), 0);
  int status = 0;
  auto deadline = Clock::now() + std::chrono::seconds(30);
  pid_t r = 0;
  while ((r = ::waitpid(pid_, &status, WNOHANG)) == 0 && Clock::now() < deadline) {
    ::usleep(50 * 1000);
  }
  ASSERT_EQ(r, pid_) << "run.sh did not exit after SIGINT\n" << output_;
  pid_ = -1;
  waitFor("\"event\":\"stopped\"", std::chrono::seconds(2));
  EXPECT_NE(output_.find("\"event\":\"stopped\""), std::string::npos) << output_;
  bool redis_gone = false;
  for (int i = 0; i < 50 && !redis_gone; ++i) {
    redis_gone = !portAccepts(redis_port);
    if (!redis_gone) ::usleep(100 * 1000);
  }
  EXPECT_TRUE(redis_gone) << "redis-server still listening on " << redis_port;
}

}  // namespace
