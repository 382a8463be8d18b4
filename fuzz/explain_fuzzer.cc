// POST /v1/explain: any body is refused with a message or parsed, and a parsed request is
// explained (against a fixed config) into valid JSON whose verdict matches its commands'.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "conf/loader.h"
#include "fuzz/fuzz_check.h"
#include "proxy/tools/explain_report.h"

namespace {

const kw::conf::Snapshot& snapshot() {
  static const kw::conf::SnapshotConstSharedPtr snap = [] {
    const char* yaml = R"(listen:
  address: 127.0.0.1:0
upstream:
  url: redis://127.0.0.1:6379
clients:
  - name: web
    commands: ["+@read", "+@write", "+@pubsub", "+@stream", "+@scripting", "-@dangerous"]
    keys: ["user:{sub}:*", "k*"]
    read_keys: ["public:*"]
    channels: ["chat:*"]
    consumer_groups: ["g*"]
    scripts: ["e0e1f9fabfc9d4800c877a703b823ac0578ff8db"]
  - name: one
    commands: ["+scan", "+get"]
    keys: ["cache:*"]
)";
    auto cfg = kw::conf::loadConfigText(yaml, "f.yaml", "/tmp",
                                        [](std::string_view) { return std::nullopt; });
    KW_FUZZ_CHECK(cfg.has_value());
    auto s = kw::conf::buildSnapshotWithoutKeys(std::move(*cfg));
    KW_FUZZ_CHECK(s.has_value());
    return *s;
  }();
  return *snap;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto request = kw::proxy::parseExplainBody(body);
  if (!request) {
    KW_FUZZ_CHECK(!request.error().message.empty());
    return 0;
  }
  KW_FUZZ_CHECK(request->commands.size() <= kw::proxy::kMaxExplainCommands);
  for (bool json : {true, false}) {
    auto e = kw::proxy::explainRequest(snapshot(), *request, json);
    if (!e) return 0;  // unknown client, no command, an empty one
    if (!json) continue;
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    KW_FUZZ_CHECK(parser.parse(e->text).get(root) == simdjson::SUCCESS);
    bool allowed = false;
    KW_FUZZ_CHECK(root["allowed"].get(allowed) == simdjson::SUCCESS && allowed == e->allowed);
    simdjson::dom::array commands;
    KW_FUZZ_CHECK(root["commands"].get(commands) == simdjson::SUCCESS);
    size_t n = 0, denied = 0;
    for (simdjson::dom::element c : commands) {
      std::string_view decision;
      KW_FUZZ_CHECK(c["decision"].get(decision) == simdjson::SUCCESS);
      denied += decision != "allow";
      ++n;
    }
    KW_FUZZ_CHECK(n == request->commands.size());
    KW_FUZZ_CHECK(allowed == (denied == 0));
  }
  return 0;
}
