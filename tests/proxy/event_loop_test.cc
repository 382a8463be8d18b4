// Timers, signal events and RAII handles of proxy/event_loop.
#include "proxy/io/event_loop.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>

namespace kw::proxy {
namespace {

using namespace std::chrono_literals;

void runFor(event_base* base, Milliseconds ms) {
  const timeval tv{0, static_cast<suseconds_t>(ms.count() * 1000)};
  event_base_loopexit(base, &tv);
  event_base_dispatch(base);
}

TEST(Timer, FiresOnceAfterDelay) {
  auto base = makeEventBase();
  ASSERT_TRUE(base.has_value());
  int fired = 0;
  Timer t(base->get(), [&] { ++fired; });
  EXPECT_FALSE(t.armed());
  t.arm(150ms);
  EXPECT_TRUE(t.armed());
  const auto t0 = std::chrono::steady_clock::now();
  runFor(base->get(), 10ms);
  EXPECT_EQ(fired, 0);
  runFor(base->get(), 400ms);
  EXPECT_EQ(fired, 1);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms);
  EXPECT_FALSE(t.armed());
  runFor(base->get(), 30ms);
  EXPECT_EQ(fired, 1);
}

TEST(Timer, CancelAndRearm) {
  auto base = makeEventBase();
  int fired = 0;
  Timer t(base->get(), [&] { ++fired; });
  t.arm(10ms);
  t.cancel();
  runFor(base->get(), 40ms);
  EXPECT_EQ(fired, 0);
  t.arm(1000ms);
  t.arm(5ms);  // re-arming replaces the pending deadline
  runFor(base->get(), 200ms);
  EXPECT_EQ(fired, 1);
}

TEST(Timer, PeriodicAndSwitchBackToOneShot) {
  auto base = makeEventBase();
  int fired = 0;
  Timer t(base->get(), [&] { ++fired; });
  t.armPeriodic(5ms);
  runFor(base->get(), 60ms);
  EXPECT_GE(fired, 2);
  t.arm(5ms);
  const int before = fired;
  runFor(base->get(), 40ms);
  EXPECT_EQ(fired, before + 1);
}

TEST(Timer, DestroyedTimerNeverFiresAndMayDeleteItselfInCallback) {
  auto base = makeEventBase();
  int fired = 0;
  {
    Timer t(base->get(), [&] { ++fired; });
    t.arm(5ms);
  }
  runFor(base->get(), 20ms);
  EXPECT_EQ(fired, 0);
  auto self = std::make_unique<Timer>(base->get(), nullptr);
  bool ran = false;
  self = std::make_unique<Timer>(base->get(), [&] {
    ran = true;
    self.reset();
  });
  self->arm(1ms);
  runFor(base->get(), 20ms);
  EXPECT_TRUE(ran);
  EXPECT_FALSE(self);
}

TEST(SignalEvent, DeliversOnTheLoop) {
  auto base = makeEventBase();
  int got = 0;
  auto sig = SignalEvent::create(base->get(), SIGUSR2, [&] {
    ++got;
    event_base_loopbreak(base->get());
  });
  ASSERT_TRUE(sig.has_value());
  Timer raiser(base->get(), [] { ::raise(SIGUSR2); });
  raiser.arm(1ms);
  runFor(base->get(), 500ms);
  EXPECT_EQ(got, 1);
}

TEST(Handles, DeletersAcceptOwnedObjects) {
  auto base = makeEventBase();
  EvBufferPtr buf(evbuffer_new());
  ASSERT_TRUE(buf);
  EventPtr ev(event_new(
      base->get(), -1, 0, [](int, short, void*) {}, nullptr));
  ASSERT_TRUE(ev);
}

}  // namespace
}  // namespace kw::proxy
