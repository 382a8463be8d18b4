// Tests for the RESP writers, plus writer -> real redis-server -> reader -> JSON round trips.
#include "proxy/codec/resp_writer.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "proxy/codec/reply_json.h"
#include "proxy/codec/resp_value.h"
#include "tests/support/resp_stream.h"

extern char** environ;

namespace kw::proxy::codec {
namespace {

using Argv = std::vector<std::string_view>;

std::string encodeCommand(CommandArgv argv) {
  std::string out;
  appendCommand(out, argv);
  return out;
}

// MULTI, the commands, EXEC: what RedisPool::executeTransaction writes.
std::string transactionWire(const std::vector<CommandArgv>& cmds) {
  const Argv multi = {"MULTI"};
  const Argv exec = {"EXEC"};
  std::string out = encodeCommand(multi);
  for (CommandArgv c : cmds) appendCommand(out, c);
  appendCommand(out, exec);
  return out;
}

TEST(RespWriter, Command) {
  const Argv argv = {"SET", "k", "v"};
  EXPECT_EQ(encodeCommand(argv), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
  EXPECT_EQ(commandWireSize(argv), encodeCommand(argv).size());
}

TEST(RespWriter, BinaryAndEmptyArguments) {
  const std::string bin("a\r\n\0b", 5);
  const Argv argv = {"SET", "", bin};
  EXPECT_EQ(encodeCommand(argv),
            std::string("*3\r\n$3\r\nSET\r\n$0\r\n\r\n$5\r\na\r\n\0b\r\n", 30));
  EXPECT_EQ(encodeCommand(Argv{}), "*0\r\n");
}

TEST(RespWriter, WireSizeMatchesForManyShapes) {
  std::vector<std::string> store;
  for (size_t n : {0, 1, 9, 10, 11, 99, 100, 1000, 100000}) store.push_back(std::string(n, 'x'));
  for (size_t count = 0; count <= 12; ++count) {
    Argv argv;
    for (size_t i = 0; i < count; ++i) argv.push_back(store[i % store.size()]);
    EXPECT_EQ(commandWireSize(argv), encodeCommand(argv).size()) << count;
  }
}

TEST(RespWriter, AppendKeepsExistingBytes) {
  std::string out = "PREFIX";
  const Argv argv = {"PING"};
  appendCommand(out, argv);
  EXPECT_EQ(out, "PREFIX*1\r\n$4\r\nPING\r\n");
}

TEST(RespWriter, TransactionFramingIsThreeCommands) {
  const Argv a = {"SET", "k", "1"};
  EXPECT_EQ(transactionWire({a}),
            "*1\r\n$5\r\nMULTI\r\n" + encodeCommand(a) + "*1\r\n$4\r\nEXEC\r\n");
}

TEST(RespWriter, ReplyWriters) {
  std::string out;
  appendStatusReply(out, "OK");
  appendErrorReply(out, "ERR bad\r\nthing");
  appendIntegerReply(out, INT64_MIN);
  appendBulkReply(out, "");
  appendNullReply(out);
  appendArrayHeader(out, 2);
  EXPECT_EQ(out, "+OK\r\n-ERR bad  thing\r\n:-9223372036854775808\r\n$0\r\n\r\n$-1\r\n*2\r\n");
}

TEST(RespWriter, AppendReplyInvertsParse) {
  for (std::string_view raw :
       {"+OK\r\n", "-ERR x\r\n", ":-1\r\n", "$3\r\nfoo\r\n", "$-1\r\n", "*-1\r\n", "*0\r\n",
        "*3\r\n*1\r\n$0\r\n\r\n:9223372036854775807\r\n*-1\r\n"}) {
    auto v = parseReply(raw);
    ASSERT_TRUE(v.has_value()) << raw;
    std::string out;
    appendReply(out, *v);
    EXPECT_EQ(out, raw);
  }
}

// ---- against a real redis-server ----

uint16_t freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

int connectTo(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) return fd;
  ::close(fd);
  return -1;
}

class LiveRedis : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    port_ = freePort();
    const std::string port = std::to_string(port_);
    std::vector<std::string> args = {
        "/usr/bin/redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
        "--appendonly",          "no"};
    std::vector<char*> cargv;
    for (auto& s : args) cargv.push_back(s.data());
    cargv.push_back(nullptr);
    ASSERT_EQ(::posix_spawn(&pid_, cargv[0], nullptr, nullptr, cargv.data(), environ), 0)
        << "redis-server missing";
    for (int i = 0; i < 200 && fd_ < 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      fd_ = connectTo(port_);
    }
    ASSERT_GE(fd_, 0) << "redis-server did not start";
  }
  static void TearDownTestSuite() {
    if (fd_ >= 0) ::close(fd_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    fd_ = -1;
    pid_ = 0;
  }

  // Writes `wire` and reads `n` replies.
  std::vector<RespReply> roundTrip(const std::string& wire, size_t n) {
    EXPECT_GE(fd_, 0);
    std::vector<RespReply> out;
    if (fd_ < 0) return out;
    size_t sent = 0;
    while (sent < wire.size()) {
      const ssize_t w = ::send(fd_, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
      if (w <= 0) {
        ADD_FAILURE() << "send failed";
        return out;
      }
      sent += static_cast<size_t>(w);
    }
    char buf[65536];
    while (out.size() < n) {
      RespReply r;
      const auto s = reader_.next(r);
      if (s == RespReader::Status::Reply) {
        out.push_back(std::move(r));
        continue;
      }
      if (s == RespReader::Status::Error) {
        ADD_FAILURE() << reader_.error();
        return out;
      }
      const ssize_t got = ::recv(fd_, buf, sizeof(buf), 0);
      if (got <= 0) {
        ADD_FAILURE() << "recv failed";
        return out;
      }
      reader_.feed(std::string_view(buf, static_cast<size_t>(got)));
    }
    return out;
  }

  std::string json(const std::vector<Argv>& cmds, ReplyEncoding enc) {
    std::vector<CommandArgv> spans(cmds.begin(), cmds.end());
    std::string wire;
    for (CommandArgv c : spans) appendCommand(wire, c);
    auto replies = roundTrip(wire, cmds.size());
    std::string out;
    PipelineJsonWriter w(out, enc);
    for (const auto& r : replies) w.addReply(r.value());
    w.finish();
    return out;
  }

  static inline pid_t pid_ = 0;
  static inline int fd_ = -1;
  static inline uint16_t port_ = 0;
  RespReader reader_;
};

TEST_F(LiveRedis, PipelineRepliesAsUpstashJson) {
  EXPECT_EQ(json({{"FLUSHALL"},
                  {"SET", "k", "bar"},
                  {"GET", "k"},
                  {"GET", "missing"},
                  {"INCR", "k"},
                  {"PING"},
                  {"TYPE", "k"},
                  {"INCRBYFLOAT", "f", "3.5"},
                  {"SET", "e", ""},
                  {"GET", "e"}},
                 ReplyEncoding::Base64),
            R"([{"result":"OK"},{"result":"OK"},{"result":"YmFy"},{"result":null},)"
            R"({"error":"ERR value is not an integer or out of range"},{"result":"UE9ORw=="},)"
            R"({"result":"c3RyaW5n"},{"result":"My41"},{"result":"OK"},{"result":""}])");
}

TEST_F(LiveRedis, NestedLuaTableWithStatusOk) {
  const char* script = "return {'foo', false, 5, {'bar', {'baz', 7}}, redis.status_reply('OK')}";
  EXPECT_EQ(json({{"EVAL", script, "0"}}, ReplyEncoding::Base64),
            R"([{"result":["Zm9v",null,5,["YmFy",["YmF6",7]],"T0s="]}])");
  EXPECT_EQ(json({{"EVAL", script, "0"}}, ReplyEncoding::Plain),
            R"([{"result":["foo",null,5,["bar",["baz",7]],"OK"]}])");
}

TEST_F(LiveRedis, TransactionFraming) {
  const Argv set = {"SET", "t", "1"};
  const Argv bad = {"LPUSH", "t", "x"};
  const Argv incr = {"INCR", "t"};
  const std::vector<CommandArgv> cmds = {set, bad, incr};
  std::string wire = transactionWire(cmds);
  auto replies = roundTrip(wire, 5);
  ASSERT_EQ(replies.size(), 5u);
  EXPECT_EQ(replies[0].raw(), "+OK\r\n");
  EXPECT_EQ(replies[1].raw(), "+QUEUED\r\n");
  std::string out;
  EXPECT_EQ(appendMultiExecJson(out, replies[4].value(), ReplyEncoding::Plain), 200);
  EXPECT_EQ(out, R"([{"result":"OK"},{"error":"WRONGTYPE Operation against a key holding the )"
                 R"(wrong kind of value"},{"result":2}])");

  const Argv arity = {"GET"};
  const std::vector<CommandArgv> aborted = {set, arity};
  wire = transactionWire(aborted);
  replies = roundTrip(wire, 4);
  ASSERT_EQ(replies.size(), 4u);
  out.clear();
  EXPECT_EQ(appendMultiExecJson(out, replies[3].value(), ReplyEncoding::Base64), 400);
  EXPECT_EQ(out, R"({"error":"EXECABORT Transaction discarded because of previous errors."})");
  std::vector<RespValue> all;
  for (const auto& r : replies) all.push_back(r.value());
  out.clear();
  EXPECT_EQ(appendTransactionJson(out, all, ReplyEncoding::Plain), 400);
  EXPECT_EQ(out, R"({"error":"ERR wrong number of arguments for 'get' command"})");
}

TEST_F(LiveRedis, BinaryValueRoundTripsByteExact) {
  std::string value;
  for (int i = 0; i < 256; ++i) value.push_back(static_cast<char>(i));
  value += "\r\n$3\r\n";
  const Argv set = {"SET", "bin", value};
  const Argv get = {"GET", "bin"};
  std::string wire = encodeCommand(set) + encodeCommand(get);
  auto replies = roundTrip(wire, 2);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[1].value().str, value);
}

}  // namespace
}  // namespace kw::proxy::codec
