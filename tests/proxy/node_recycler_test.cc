// NodeRecycler: map entries erased at their empty value are reused for the next new key.
#include "proxy/io/node_recycler.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <unordered_map>

namespace kw::proxy {
namespace {

using Counts = std::unordered_map<std::string, uint64_t>;

TEST(NodeRecycler, AnErasedNodeCarriesTheNextKeyWithItsEmptyValue) {
  Counts m;
  NodeRecycler<Counts> nodes;
  auto it = nodes.findOrAdd(m, "tenant-a");
  it->second = 5;
  const auto* first = &*it;
  EXPECT_EQ(nodes.findOrAdd(m, "tenant-a"), it);  // found, not added again
  it->second = 0;
  nodes.erase(m, it);
  EXPECT_TRUE(m.empty());
  auto again = nodes.findOrAdd(m, "a-much-longer-tenant-name-than-before");
  EXPECT_EQ(&*again, first);  // the same node, no allocation
  EXPECT_EQ(again->first, "a-much-longer-tenant-name-than-before");
  EXPECT_EQ(again->second, 0u);
  EXPECT_EQ(m.count("tenant-a"), 0u);
  EXPECT_EQ(m.at("a-much-longer-tenant-name-than-before"), 0u);
}

TEST(NodeRecycler, KeepsAtMostItsSparesAndStillAddsPastThem) {
  Counts m;
  NodeRecycler<Counts, 2> nodes;
  for (int i = 0; i < 5; ++i) nodes.findOrAdd(m, "k" + std::to_string(i));
  for (int i = 0; i < 5; ++i) nodes.erase(m, m.find("k" + std::to_string(i)));
  EXPECT_TRUE(m.empty());
  for (int i = 0; i < 5; ++i) nodes.findOrAdd(m, "n" + std::to_string(i))->second = i;
  ASSERT_EQ(m.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(m.at("n" + std::to_string(i)), static_cast<uint64_t>(i));
}

}  // namespace
}  // namespace kw::proxy
