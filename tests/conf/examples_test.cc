// Every conf/examples/*.yaml loads and compiles; its demo keys (README.md) find their clients,
// and a few decisions show each example does what its comments say.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "conf/snapshot.h"
#include "conf_test_util.h"

namespace kw::conf {
namespace {

namespace fs = std::filesystem;

std::string examplesDir() { return std::string(KW_SOURCE_DIR) + "/conf/examples"; }

// Any variable an example names gets a plausible value.
EnvLookup anyEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const std::string n(name);
    if (n.find("URL") != std::string::npos) {
      if (n.find("REST") != std::string::npos) return "https://demo-1234.upstash.io";
      return "rediss://redis.internal:6380/2";
    }
    if (n.find("VALUE_KEY") != std::string::npos) {  // encryption.keys: 32 bytes in base64
      return std::string("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=");
    }
    return std::string("demo-secret-") + std::string(40, 'x');
  };
}

std::vector<std::string> exampleFiles() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(examplesDir())) {
    if (e.path().extension() == ".yaml") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::map<std::string, std::string> demoKeys() {  // client name -> key
  std::ifstream in(examplesDir() + "/README.md");
  std::map<std::string, std::string> out;
  std::string line;
  const std::regex row(R"(^\| ([a-z0-9.-]+) \| `(kw_[A-Za-z0-9_-]{43})` \|$)");
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, row)) out[m[1]] = m[2];
  }
  return out;
}

SnapshotConstSharedPtr loadExample(const std::string& name) {
  auto cfg = loadConfigFile(examplesDir() + "/" + name, anyEnv());
  EXPECT_TRUE(cfg.has_value()) << cfg.error().message;
  if (!cfg) return nullptr;
  auto snap = buildSnapshotWithoutKeys(std::move(*cfg));
  EXPECT_TRUE(snap.has_value()) << snap.error().message;
  return snap ? *snap : nullptr;
}

TEST(ExamplesTest, EveryExampleLoadsAndCompiles) {
  const auto files = exampleFiles();
  EXPECT_GE(files.size(), 4u);
  for (const std::string& path : files) {
    SCOPED_TRACE(path);
    auto cfg = loadConfigFile(path, anyEnv());
    ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
    auto snap = buildSnapshotWithoutKeys(std::move(*cfg));
    ASSERT_TRUE(snap.has_value()) << snap.error().message;
    EXPECT_FALSE((*snap)->clients().empty());
  }
}

TEST(ExamplesTest, DemoKeysFindTheirClients) {
  const auto keys = demoKeys();
  ASSERT_EQ(keys.size(), 6u);
  size_t found = 0;
  for (const char* file : {"edge-cache.yaml", "session-store.yaml", "ratelimit-backend.yaml",
                           "analytics-worker.yaml"}) {
    auto snap = loadExample(file);
    ASSERT_NE(snap, nullptr) << file;
    for (const auto& [name, key] : keys) {
      const ClientEntry* by_name = snap->findClientByName(name);
      const ClientEntry* by_key = snap->findClientByApiKey(key);
      EXPECT_EQ(by_name, by_key) << file << " " << name;
      if (by_name != nullptr) ++found;
    }
  }
  EXPECT_EQ(found, keys.size());
}

bool allowed(const Snapshot& snap, const char* client, std::vector<std::string_view> argv,
             std::string_view sub = {}) {
  const ClientEntry* c = snap.findClientByName(client);
  EXPECT_NE(c, nullptr) << client;
  if (c == nullptr) return false;
  policy::EvalScratch scratch;
  return c->policy->evaluate(argv, policy::Identity{sub}, scratch).decision.allowed();
}

TEST(ExamplesTest, EdgeCacheIsReadOnlyForTheEdge) {
  auto snap = loadExample("edge-cache.yaml");
  ASSERT_NE(snap, nullptr);
  EXPECT_TRUE(allowed(*snap, "edge-reader", {"GET", "cache:home"}));
  EXPECT_TRUE(allowed(*snap, "edge-reader", {"HGETALL", "public:menu"}));
  EXPECT_FALSE(allowed(*snap, "edge-reader", {"SET", "cache:home", "x"}));
  EXPECT_FALSE(allowed(*snap, "edge-reader", {"GET", "sess:1"}));
  EXPECT_FALSE(allowed(*snap, "edge-reader", {"KEYS", "*"}));
  EXPECT_TRUE(allowed(*snap, "cache-filler", {"SET", "cache:home", "x"}));
  EXPECT_FALSE(allowed(*snap, "cache-filler", {"SET", "public:menu", "x"}));
  EXPECT_FALSE(allowed(*snap, "cache-filler", {"FLUSHALL"}));
}

TEST(ExamplesTest, SessionStoreConfinesBrowsersToTheirSub) {
  auto snap = loadExample("session-store.yaml");
  ASSERT_NE(snap, nullptr);
  EXPECT_TRUE(allowed(*snap, "browser-session", {"GET", "sess:u1:cart"}, "u1"));
  EXPECT_FALSE(allowed(*snap, "browser-session", {"GET", "sess:u2:cart"}, "u1"));
  EXPECT_FALSE(allowed(*snap, "browser-session", {"GET", "sess:u1:cart"}));
  EXPECT_TRUE(allowed(*snap, "session-backend", {"DEL", "sess:u2:cart"}));
  EXPECT_FALSE(allowed(*snap, "session-backend", {"FLUSHDB"}));
}

TEST(ExamplesTest, RatelimitBackendAllowsOnlyTheLibrarysScripts) {
  auto snap = loadExample("ratelimit-backend.yaml");
  ASSERT_NE(snap, nullptr);
  EXPECT_TRUE(allowed(*snap, "ratelimiter",
                      {"EVALSHA", "b2efc02798c8e9b471a10f9b1d5745db89923ff3", "1",
                       "@upstash/ratelimit:api:u1:29000", "1", "60000", "10"}));
  EXPECT_FALSE(allowed(*snap, "ratelimiter",
                       {"EVALSHA", "0000000000000000000000000000000000000000", "1",
                        "@upstash/ratelimit:api:u1:29000", "1"}));
  EXPECT_FALSE(
      allowed(*snap, "ratelimiter",
              {"EVALSHA", "b2efc02798c8e9b471a10f9b1d5745db89923ff3", "1", "other:key", "1"}));
  EXPECT_FALSE(allowed(*snap, "ratelimiter", {"SCRIPT", "FLUSH"}));
}

TEST(ExamplesTest, AnalyticsWorkerScansOnePrefix) {
  auto snap = loadExample("analytics-worker.yaml");
  ASSERT_NE(snap, nullptr);
  EXPECT_TRUE(allowed(*snap, "analytics-worker", {"SCAN", "0", "MATCH", "events:*"}));
  EXPECT_TRUE(allowed(*snap, "analytics-worker", {"GET", "events:1"}));
  EXPECT_FALSE(allowed(*snap, "analytics-worker", {"SET", "events:1", "x"}));
  EXPECT_TRUE(allowed(*snap, "analytics-worker", {"HINCRBY", "rollup:day", "n", "1"}));
  EXPECT_FALSE(allowed(*snap, "analytics-worker", {"GET", "secrets:1"}));
  EXPECT_FALSE(allowed(*snap, "analytics-admin", {"SET", "rollup:day", "x"}));
  EXPECT_EQ(snap->config().upstream.kind, UpstreamKind::Rediss);
  EXPECT_EQ(snap->config().quota.store_url, "redis://quota-redis:6379");
}

}  // namespace
}  // namespace kw::conf
