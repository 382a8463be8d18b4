// The real keyward binary over its lifetime: SSE teardown on client abort, SIGHUP reload (bad
// config kept out, good config taken), SIGTERM drain finishing an in-flight request.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "tests/proxy/binary_test_support.h"

namespace {

using namespace kw::testing;  // NOLINT(google-build-using-namespace)

constexpr const char* kClients =
    "  - name: app\n"
    "    api_keys: [\"@REF@\"]\n"
    "    commands: [\"+@read\", \"+@write\", \"+subscribe\", \"+psubscribe\", \"+publish\"]\n"
    "    keys: [\"app:*\"]\n"
    "    channels: [\"chan:*\"]\n";

// Reads from fd until `needle` shows up (or 5 s pass).
std::string readUntil(int fd, const std::string& needle) {
  std::string got;
  char buf[2048];
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (got.find(needle) == std::string::npos && Clock::now() < deadline) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

std::string numsub(const Stack& s, const std::string& channel) {
  return s.redisCli("PUBSUB NUMSUB " + channel);
}

TEST(Lifecycle, SseStreamsMessagesAndDropsTheUpstreamSubscriptionWhenTheClientLeaves) {
  Stack s;
  ASSERT_TRUE(s.start(kClients)) << s.kw.out_text << s.kw.err_text;
  int fd = connectTo(s.port);
  ASSERT_GE(fd, 0);
  std::string req = "POST /subscribe/chan:1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + s.key +
                    "\r\nAccept: text/event-stream\r\nContent-Length: 2\r\n\r\n[]";
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::string head = readUntil(fd, "data: subscribe,chan:1,1\n\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_NE(head.find("text/event-stream"), std::string::npos) << head;
  EXPECT_NE(head.find("data: subscribe,chan:1,1\n\n"), std::string::npos) << head;
  EXPECT_NE(numsub(s, "chan:1").find("1"), std::string::npos);

  // A message published through keyward reaches the stream raw (commas kept, never base64).
  EXPECT_EQ(statusOf(post(s.port, "/", s.key, R"(["publish","chan:1","hi, there"])")), 200);
  std::string msg = readUntil(fd, "data: message,chan:1,hi, there\n\n");
  EXPECT_NE(msg.find("data: message,chan:1,hi, there\n\n"), std::string::npos) << msg;

  // A channel outside the policy: 403 JSON, no stream.
  std::string denied = roundTrip(s.port,
                                 "POST /subscribe/other HTTP/1.1\r\nHost: x\r\n"
                                 "Authorization: Bearer " +
                                     s.key + "\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(statusOf(denied), 403) << denied;
  EXPECT_NE(denied.find("{\"error\":\"NOPERM"), std::string::npos) << denied;

  // The client goes away: the upstream subscription is torn down.
  ::close(fd);
  std::string after;
  for (int i = 0; i < 50; ++i) {
    after = numsub(s, "chan:1");
    if (after == "chan:1\n0\n") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(after, "chan:1\n0\n");
}

TEST(Lifecycle, SighupKeepsTheOldConfigWhenTheNewOneIsInvalidAndTakesAValidOne) {
  Stack s;
  ASSERT_TRUE(s.start(kClients)) << s.kw.out_text << s.kw.err_text;
  EXPECT_EQ(statusOf(post(s.port, "/", s.key, R"(["set","app:a","1"])")), 200);

  // Invalid: an unknown key. keyward says why and keeps serving with the old config.
  s.writeConfig(std::string(kClients) + "    bogus_field: 1\n", "");
  ::kill(s.kw.pid, SIGHUP);
  std::smatch m;
  EXPECT_TRUE(s.kw.waitFor(std::regex("\"event\":\"reload_failed\"[^\\n]*bogus_field"), m,
                           std::chrono::seconds(10)))
      << s.kw.out_text;
  EXPECT_EQ(statusOf(post(s.port, "/", s.key, R"(["get","app:a"])")), 200);

  // Valid: the client loses +@write; the new policy applies to the next request.
  std::string narrowed = kClients;
  narrowed.replace(narrowed.find("\"+@write\", "), 11, "");
  s.writeConfig(narrowed, "");
  ::kill(s.kw.pid, SIGHUP);
  EXPECT_TRUE(s.kw.waitFor(std::regex("\"event\":\"reloaded\""), m, std::chrono::seconds(10)))
      << s.kw.out_text;
  EXPECT_EQ(statusOf(post(s.port, "/", s.key, R"(["set","app:a","2"])")), 403);
  EXPECT_EQ(statusOf(post(s.port, "/", s.key, R"(["get","app:a"])")), 200);
}

TEST(Lifecycle, SigtermFinishesTheRequestInFlightThenExitsZero) {
  Stack s;
  ASSERT_TRUE(s.start(kClients)) << s.kw.out_text << s.kw.err_text;
  EXPECT_EQ(statusOf(post(s.port, "/", s.key, R"(["set","app:a","1"])")), 200);
  // Hold every upstream command for ~1.5 s, so the next request is in flight at SIGTERM.
  EXPECT_EQ(s.redisCli("CLIENT PAUSE 1500 ALL"), "OK\n");
  std::string slow;
  std::thread client([&] { slow = post(s.port, "/", s.key, R"(["get","app:a"])"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  ::kill(s.kw.pid, SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // The listener is closed: a new connection is refused.
  EXPECT_EQ(connectTo(s.port), -1);
  client.join();
  EXPECT_EQ(statusOf(slow), 200) << slow;
  EXPECT_NE(slow.find("{\"result\":\"1\"}"), std::string::npos) << slow;
  int status = s.kw.waitExit(std::chrono::seconds(30));
  EXPECT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << s.kw.out_text << s.kw.err_text;
}

}  // namespace
