// Fuzzes the config loader (YAML text -> validated Config -> compiled Snapshot) with a fake
// environment; checks that every error is located and that no secret leaks into a message.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "conf/loader.h"
#include "conf/snapshot.h"

namespace {

constexpr size_t kMaxInput = 64 * 1024;
constexpr std::string_view kSecretMark = "FUZZSECRET";

void check(bool ok) {
  if (!ok) std::abort();
}

// Variables starting with U are URLs, N are unset, E are empty, anything else a secret.
std::optional<std::string> fakeEnv(std::string_view name) {
  if (name.empty()) return std::nullopt;
  switch (name[0]) {
    case 'U':
      return name.size() % 2 ? "https://FUZZSECRETHOST.upstash.io"
                             : "redis://:FUZZSECRETPW@r:6379/1";
    case 'N':
      return std::nullopt;
    case 'E':
      return std::string();
    default:
      return "FUZZSECRET-" + std::string(40, 'x');
  }
}

bool isDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// "fz.yaml:LINE:COL: ..." with LINE and COL numbers; no secret from the environment.
void checkLocated(std::string_view line, bool input_has_mark) {
  constexpr std::string_view kPrefix = "fz.yaml:";
  check(line.substr(0, kPrefix.size()) == kPrefix);
  line.remove_prefix(kPrefix.size());
  const size_t c1 = line.find(':');
  check(c1 != std::string_view::npos && isDigits(line.substr(0, c1)));
  line.remove_prefix(c1 + 1);
  const size_t c2 = line.find(':');
  check(c2 != std::string_view::npos && isDigits(line.substr(0, c2)));
  check(input_has_mark || line.find(kSecretMark) == std::string_view::npos);
}

void checkAll(const std::string& message, bool input_has_mark) {
  size_t start = 0;
  while (start <= message.size()) {
    const size_t nl = message.find('\n', start);
    const size_t end = nl == std::string::npos ? message.size() : nl;
    checkLocated(std::string_view(message).substr(start, end - start), input_has_mark);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInput) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const kw::conf::EnvLookup env = fakeEnv;
  const bool has_mark = text.find(kSecretMark) != std::string_view::npos;
  // Relative *_file paths resolve under a directory that does not exist.
  auto cfg = kw::conf::loadConfigText(text, "fz.yaml", "/nonexistent-kw-fuzz", env);
  if (!cfg) {
    check(cfg.error().code == kw::ErrorCode::Config);
    checkAll(cfg.error().message, has_mark);
    return 0;
  }
  check(!cfg->clients.empty());
  check(cfg->clients.size() <= kw::conf::kMaxClients);
  check(cfg->upstream.display.find(kSecretMark) == std::string::npos ||
        cfg->upstream.host.find(kSecretMark) != std::string::npos);
  auto snap = kw::conf::buildSnapshotWithoutKeys(std::move(*cfg));
  if (!snap) {
    checkAll(snap.error().message, has_mark);
    return 0;
  }
  const kw::conf::Snapshot& s = **snap;
  for (const kw::conf::ClientEntry& c : s.clients()) {
    check(s.findClientByName(c.config->spec.name) == &c);
  }
  check(s.findClientByApiKey("kw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") == nullptr ||
        !s.clients().empty());
  return 0;
}
