// writeThrough and TLS read-ahead over real loopback TCP, plain and TLS (certificates made with
// openssl). writeThrough: bytes go out at once when nothing is queued, and when the socket blocks
// (a peer that does not read) the rest, including the piece OpenSSL holds, is finished by the
// bufferevent in order, exactly once. Read-ahead: records OpenSSL read together all arrive.
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "proxy/io/event_loop.h"
#include "proxy/io/tls_client.h"
#include "proxy/io/tls_read_ahead.h"
#include "proxy/io/write_through.h"
#include "proxy/server/server_tls.h"
#include "tests/proxy/redis_test_support.h"

namespace kw::proxy {
namespace {

using testing::LoopRunner;
using testing::makeCert;
using testing::TempDir;

// A connected loopback TCP pair, both non-blocking.
void tcpPair(int* a, int* b) {
  const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(lfd, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  *b = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(::connect(*b, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  *a = ::accept(lfd, nullptr, nullptr);
  ASSERT_GE(*a, 0);
  ::close(lfd);
  const int one = 1;
  for (int fd : {*a, *b}) {
    evutil_make_socket_nonblocking(fd);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
}

// The byte at stream offset i: any loss, duplication or reordering shows.
char patternAt(size_t i) { return static_cast<char>((i * 31 + (i >> 9) * 7 + 3) & 0xff); }

std::string patternBytes(size_t from, size_t n) {
  std::string s(n, '\0');
  for (size_t k = 0; k < n; ++k) s[k] = patternAt(from + k);
  return s;
}

struct Param {
  bool tls;
  bool writer_is_server;
};

class BuffereventIoTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);  // as keyward's main: a write to a closed peer is an error
    int a = -1;
    int b = -1;
    tcpPair(&a, &b);
    ASSERT_FALSE(HasFatalFailure());
    event_base* base = loop_.base();
    if (!GetParam().tls) {
      server_.reset(bufferevent_socket_new(base, a, BEV_OPT_CLOSE_ON_FREE));
      client_.reset(bufferevent_socket_new(base, b, BEV_OPT_CLOSE_ON_FREE));
      server_up_ = client_up_ = true;
    } else {
      makeCert(dir_, "ca", "server", "DNS:localhost");
      conf::TlsConfig tls;
      tls.cert_file = dir_.file("server.crt");
      tls.key_file = dir_.file("server.key");
      auto sctx = makeServerTlsContext(tls);
      ASSERT_TRUE(sctx) << sctx.error().message;
      server_ctx_ = std::move(*sctx);
      auto cctx = makeClientTlsContext(dir_.file("ca.crt"));
      ASSERT_TRUE(cctx) << cctx.error().message;
      client_ctx_ = std::move(*cctx);
      auto cssl = makeClientSsl(client_ctx_.get(), "localhost");
      ASSERT_TRUE(cssl);
      SSL* sssl = SSL_new(server_ctx_.get());
      // Both ends read ahead, as keyward's listener and REST pool do; the read handler pulls.
      enableTlsReadAhead(sssl);
      enableTlsReadAhead(cssl->get());
      server_.reset(bufferevent_openssl_socket_new(base, a, sssl, BUFFEREVENT_SSL_ACCEPTING,
                                                   BEV_OPT_CLOSE_ON_FREE));
      client_.reset(bufferevent_openssl_socket_new(
          base, b, cssl->release(), BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE));
    }
    ASSERT_TRUE(server_ && client_);
    bufferevent_setcb(server_.get(), onRead, nullptr, onEvent, &server_side_);
    bufferevent_setcb(client_.get(), onRead, nullptr, onEvent, &client_side_);
    server_side_.up = &server_up_;
    client_side_.up = &client_up_;
    bufferevent_enable(server_.get(), EV_READ | EV_WRITE);
    bufferevent_enable(client_.get(), EV_READ | EV_WRITE);
    ASSERT_TRUE(loop_.runUntil([&] { return server_up_ && client_up_; })) << "handshake";
  }

  struct Side {
    std::string received;
    bool* up = nullptr;
    bool failed = false;
    bool pull = true;  // a read handler as keyward's: pull what OpenSSL read ahead
    size_t pull_budget = kTlsPullPerTurn;
    int read_turns = 0;
  };

  static void onRead(bufferevent* bev, void* arg) {
    auto* side = static_cast<Side*>(arg);
    evbuffer* in = bufferevent_get_input(bev);
    ++side->read_turns;
    size_t budget = side->pull_budget;
    do {
      const size_t n = evbuffer_get_length(in);
      const size_t at = side->received.size();
      side->received.resize(at + n);
      evbuffer_remove(in, side->received.data() + at, n);
    } while (side->pull && pullTlsBuffered(bev, &budget) != 0);
  }
  static void onEvent(bufferevent* /*bev*/, short what, void* arg) {
    auto* side = static_cast<Side*>(arg);
    if ((what & BEV_EVENT_CONNECTED) != 0) *side->up = true;
    if ((what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) != 0) side->failed = true;
  }

  bufferevent* writer() { return GetParam().writer_is_server ? server_.get() : client_.get(); }
  bufferevent* reader() { return GetParam().writer_is_server ? client_.get() : server_.get(); }
  Side& readerSide() { return GetParam().writer_is_server ? client_side_ : server_side_; }
  Side& writerSide() { return GetParam().writer_is_server ? server_side_ : client_side_; }
  size_t queued() { return evbuffer_get_length(bufferevent_get_output(writer())); }

  void send(size_t n) {
    writeThrough(writer(), patternBytes(sent_, n));
    sent_ += n;
  }
  bool receivedAll() {
    return loop_.runUntil([&] { return readerSide().received.size() >= sent_; });
  }
  void expectExact() {
    ASSERT_EQ(readerSide().received.size(), sent_);
    EXPECT_TRUE(readerSide().received == patternBytes(0, sent_)) << "stream bytes differ";
  }

  TempDir dir_;
  LoopRunner loop_;
  SslCtxPtr server_ctx_;
  SslCtxPtr client_ctx_;
  BufferEventPtr server_;
  BufferEventPtr client_;
  Side server_side_;
  Side client_side_;
  bool server_up_ = false;
  bool client_up_ = false;
  size_t sent_ = 0;
};

TEST_P(BuffereventIoTest, SmallWritesLeaveNothingQueued) {
  for (size_t n : {1, 5, 200, 4096, 16384}) {
    send(n);
    EXPECT_EQ(queued(), 0u) << n << " bytes were not written at once";
    ASSERT_TRUE(receivedAll());
  }
  expectExact();
}

TEST_P(BuffereventIoTest, BlockedWritesFinishInOrderExactlyOnce) {
  // The reader stops reading: the socket buffers fill and the writes block part-way.
  bufferevent_disable(reader(), EV_READ);
  const std::vector<size_t> sizes = {1, 16383, 16384,   16385, 100000, 4u << 20,
                                     7, 65537, 1 << 20, 16384, 3,      12345};
  bool blocked = false;
  for (size_t n : sizes) {
    const size_t before = queued();
    send(n);
    if (before == 0 && queued() != 0) {
      blocked = true;
      EXPECT_LT(queued(), n) << "a blocked write still sent what the socket took";
    }
    if (before != 0) EXPECT_EQ(queued(), before + n) << "bytes behind queued ones must queue";
  }
  EXPECT_TRUE(blocked) << "the socket never filled: the fallback went untested";
  loop_.runFor(std::chrono::milliseconds(50));  // the bufferevent retries while nothing drains
  bufferevent_enable(reader(), EV_READ);
  ASSERT_TRUE(receivedAll()) << readerSide().received.size() << " of " << sent_;
  expectExact();
  EXPECT_FALSE(writerSide().failed);
  // Drained: direct writes again.
  EXPECT_EQ(queued(), 0u);
  send(777);
  EXPECT_EQ(queued(), 0u);
  ASSERT_TRUE(receivedAll());
  expectExact();
}

TEST_P(BuffereventIoTest, ClosedPeerIsReportedByTheBufferevent) {
  client_side_.up = server_side_.up = nullptr;
  bufferevent_setcb(reader(), nullptr, nullptr, nullptr, nullptr);
  if (SSL* ssl = bufferevent_openssl_get_ssl(reader())) SSL_set_quiet_shutdown(ssl, 1);
  if (GetParam().writer_is_server) {
    client_.reset();
  } else {
    server_.reset();
  }
  loop_.runFor(std::chrono::milliseconds(20));
  for (int i = 0; i < 8 && !writerSide().failed; ++i) {
    send(1 << 20);
    loop_.runUntil([&] { return writerSide().failed; }, std::chrono::milliseconds(500));
  }
  EXPECT_TRUE(writerSide().failed) << "a write to a closed peer must end in an error event";
}

TEST_P(BuffereventIoTest, RecordsReadAheadTogetherAllArrive) {
  // Many small records reach the reader's socket before it reads: with read-ahead one read(2)
  // takes them all, libevent decrypts the first, and the rest only arrive through the pull.
  bufferevent_disable(reader(), EV_READ);
  for (int i = 0; i < 50; ++i) send(40 + static_cast<size_t>(i));
  loop_.runFor(std::chrono::milliseconds(30));
  bufferevent_enable(reader(), EV_READ);
  ASSERT_TRUE(loop_.runUntil([&] { return readerSide().received.size() >= sent_; },
                             std::chrono::milliseconds(2000)))
      << readerSide().received.size() << " of " << sent_ << " bytes arrived";
  expectExact();
  EXPECT_FALSE(tlsBuffered(reader()));
}

TEST_P(BuffereventIoTest, WithoutThePullReadAheadRecordsWait) {
  // The hazard the pull exists for: the same records, a read handler that does not pull. TLS
  // holds records back (and the pull recovers them); a plain socket holds nothing back.
  readerSide().pull = false;
  bufferevent_disable(reader(), EV_READ);
  for (int i = 0; i < 50; ++i) send(40 + static_cast<size_t>(i));
  loop_.runFor(std::chrono::milliseconds(30));
  bufferevent_enable(reader(), EV_READ);
  loop_.runFor(std::chrono::milliseconds(300));
  if (GetParam().tls) {
    EXPECT_LT(readerSide().received.size(), sent_);
    EXPECT_TRUE(tlsBuffered(reader()));
    size_t budget = kTlsPullPerTurn;
    EXPECT_GT(pullTlsBuffered(reader(), &budget), 0u);
    onRead(reader(), &readerSide());
  } else {
    EXPECT_FALSE(tlsBuffered(reader()));
    size_t budget = kTlsPullPerTurn;
    EXPECT_EQ(pullTlsBuffered(reader(), &budget), 0u);
  }
  expectExact();
}

TEST_P(BuffereventIoTest, APullPastItsBudgetYieldsAndResumes) {
  // A read handler's turn pulls at most its budget; the rest comes in later turns that the
  // pull schedules itself (no new socket data arrives to start them).
  readerSide().pull_budget = 300;
  bufferevent_disable(reader(), EV_READ);
  for (int i = 0; i < 50; ++i) send(40 + static_cast<size_t>(i));
  loop_.runFor(std::chrono::milliseconds(30));
  bufferevent_enable(reader(), EV_READ);
  ASSERT_TRUE(loop_.runUntil([&] { return readerSide().received.size() >= sent_; },
                             std::chrono::milliseconds(2000)))
      << readerSide().received.size() << " of " << sent_ << " bytes arrived";
  expectExact();
  if (GetParam().tls) {
    // 4,225 bytes at <= 300 (plus one record) per turn.
    EXPECT_GE(readerSide().read_turns, 8) << "the budget did not end a turn";
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, BuffereventIoTest,
                         ::testing::Values(Param{false, true}, Param{false, false},
                                           Param{true, true}, Param{true, false}),
                         [](const auto& info) {
                           return std::string(info.param.tls ? "Tls" : "Plain") +
                                  (info.param.writer_is_server ? "ServerWrites" : "ClientWrites");
                         });

}  // namespace
}  // namespace kw::proxy
