// TenantActivity: a tenant active on any worker makes the others' "another tenant is active".
#include "proxy/upstream/redis/tenant_activity.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace kw::proxy {
namespace {

TEST(TenantActivity, AnotherTenantOnAnyWorkerWithinTheWindowCounts) {
  TenantActivity a(2);
  EXPECT_FALSE(a.othersSince(7, 0)) << "nobody yet";
  a.note(0, 7, 1000);
  EXPECT_FALSE(a.othersSince(7, 0)) << "a tenant alone";
  EXPECT_TRUE(a.othersSince(8, 0));
  a.note(1, 8, 1500);  // on the other worker
  EXPECT_TRUE(a.othersSince(7, 1000));
  EXPECT_TRUE(a.othersSince(8, 1000));
  EXPECT_FALSE(a.othersSince(7, 1501)) << "8 was last seen at 1500";
  // A worker keeps the two tenants it saw last: 7's most recent other is still found after it
  // sent again.
  a.note(0, 9, 2000);
  a.note(0, 7, 2100);
  EXPECT_TRUE(a.othersSince(7, 2000)) << "9 at 2000 on worker 0";
  EXPECT_FALSE(a.othersSince(7, 2001));
  EXPECT_TRUE(a.othersSince(9, 2100));
}

// Each worker's loop writes its own slot while the others read every slot (built with TSan).
TEST(TenantActivity, WorkersNoteAndReadAtOnce) {
  TenantActivity a(2);
  std::atomic<bool> seen{false};
  std::thread other([&] {
    for (int i = 0; !seen && i < 50000000; ++i) {
      a.note(1, 8, i);
      if (a.othersSince(8, 0)) seen = true;
    }
  });
  for (int i = 0; i < 20000; ++i) {
    a.note(0, 7, i);
    (void)a.othersSince(7, i - 10);
  }
  other.join();
  EXPECT_TRUE(seen.load());
  EXPECT_TRUE(a.othersSince(7, 0));
}

}  // namespace
}  // namespace kw::proxy
