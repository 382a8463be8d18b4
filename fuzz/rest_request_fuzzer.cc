// Fuzzes decodeRestRequest: no crash, every argv view inside the request's storage, sane shapes.
#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "proxy/codec/rest_request.h"

using namespace kw::proxy::codec;  // NOLINT(google-build-using-namespace): harness only
using kw::Result;

namespace {

bool inside(const RestRequest& r, std::string_view v) {
  return v.data() >= r.storageBegin() && v.data() + v.size() <= r.storageEnd();
}

void check(Result<RestRequest>& res, HttpMethod method, const RestOptions& opt) {
  if (!res) {
    const kw::Error& e = res.error();
    KW_FUZZ_CHECK(e.message.substr(0, 4) == "ERR ");
    uint16_t s = restErrorStatus(e);
    KW_FUZZ_CHECK(s == 400 || s == 405 || s == 413);
    return;
  }
  KW_FUZZ_CHECK(method != HttpMethod::Options && method != HttpMethod::Other);
  // Move it: views must survive.
  RestRequest r = std::move(res).value();
  KW_FUZZ_CHECK(r.commandCount() >= 1);
  KW_FUZZ_CHECK(r.commandCount() <= opt.max_commands);
  KW_FUZZ_CHECK(r.totalArgs() <= opt.max_total_args);
  size_t total = 0;
  for (size_t i = 0; i < r.commandCount(); ++i) {
    Argv argv = r.command(i);
    KW_FUZZ_CHECK(!argv.empty());
    KW_FUZZ_CHECK(argv.size() <= opt.max_args);
    total += argv.size();
    for (std::string_view a : argv) KW_FUZZ_CHECK(inside(r, a));
  }
  KW_FUZZ_CHECK(total == r.totalArgs());
  switch (r.route()) {
    case RestRoute::Command:
      KW_FUZZ_CHECK(r.commandCount() == 1);
      break;
    case RestRoute::Pipeline:
    case RestRoute::MultiExec:
      KW_FUZZ_CHECK(method == HttpMethod::Post && !r.pathStyle());
      break;
    case RestRoute::Subscribe:
    case RestRoute::PSubscribe:
      KW_FUZZ_CHECK(r.commandCount() == 1 && r.command(0).size() == 2);
      KW_FUZZ_CHECK(!r.channel().empty() && inside(r, r.channel()));
      KW_FUZZ_CHECK(r.command(0)[1] == r.channel());
      break;
  }
  if (r.pathStyle()) {
    KW_FUZZ_CHECK(!r.command(0)[0].empty());
  }
  if (!opt.allow_query_token) KW_FUZZ_CHECK(!r.queryToken().has_value());
  if (r.queryToken()) KW_FUZZ_CHECK(inside(r, *r.queryToken()));
}

// Cross-checks the On Demand decoding of JSON routes against simdjson's DOM parser (a
// different, fully validating implementation): both must agree on accept/reject, and on every
// string and boolean argument.
void differential(const Result<RestRequest>& res, bool pipeline, std::string_view body,
                  const RestOptions& opt) {
  static simdjson::dom::parser dom;
  simdjson::padded_string padded(body);
  simdjson::dom::element root;
  simdjson::error_code err = dom.parse(padded).get(root);
  if (err == simdjson::NUMBER_ERROR) return;  // e.g. 1e400: we forward the text, DOM wants a double
  bool expect_ok = !err;
  std::vector<simdjson::dom::array> commands;
  simdjson::dom::array top;
  if (expect_ok && root.get_array().get(top)) expect_ok = false;
  if (expect_ok) {
    if (!pipeline) {
      commands.push_back(top);
    } else {
      for (simdjson::dom::element e : top) {
        simdjson::dom::array a;
        if (e.get_array().get(a)) {
          expect_ok = false;
          break;
        }
        commands.push_back(a);
      }
    }
  }
  size_t total = 0;
  if (expect_ok && commands.empty()) expect_ok = false;
  if (expect_ok && commands.size() > opt.max_commands) return;  // 413 vs 400 ordering: skip
  for (size_t i = 0; expect_ok && i < commands.size(); ++i) {
    size_t n = 0;
    for (simdjson::dom::element e : commands[i]) {
      ++n;
      auto t = e.type();
      if (t == simdjson::dom::element_type::ARRAY || t == simdjson::dom::element_type::OBJECT ||
          t == simdjson::dom::element_type::NULL_VALUE) {
        expect_ok = false;
      }
    }
    if (n == 0) expect_ok = false;
    if (n > opt.max_args) return;
    total += n;
  }
  if (total > opt.max_total_args) return;
  KW_FUZZ_CHECK(res.has_value() == expect_ok);
  if (!expect_ok) return;
  const RestRequest& r = res.value();
  KW_FUZZ_CHECK(r.commandCount() == commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    Argv argv = r.command(i);
    size_t j = 0;
    for (simdjson::dom::element e : commands[i]) {
      KW_FUZZ_CHECK(j < argv.size());
      std::string_view s;
      bool b = false;
      if (!e.get_string().get(s)) KW_FUZZ_CHECK(argv[j] == s);
      if (!e.get_bool().get(b)) KW_FUZZ_CHECK(argv[j] == (b ? "true" : "false"));
      ++j;
    }
    KW_FUZZ_CHECK(j == argv.size());
  }
}

}  // namespace

// Input: byte 0 picks method and options; then the target up to the first '\n'; the rest is
// the body.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t ctl = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  size_t nl = rest.find('\n');
  std::string_view target = rest.substr(0, nl);
  std::string_view body = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  static constexpr HttpMethod kMethods[] = {HttpMethod::Post,    HttpMethod::Get,  HttpMethod::Put,
                                            HttpMethod::Head,    HttpMethod::Post, HttpMethod::Post,
                                            HttpMethod::Options, HttpMethod::Other};
  HttpMethod method = kMethods[ctl & 7];
  RestOptions opt;
  opt.allow_query_token = (ctl & 8) != 0;
  if (ctl & 16) {
    opt.max_commands = 4;
    opt.max_args = 8;
    opt.max_total_args = 12;
  }
  Result<RestRequest> res = decodeRestRequest(method, target, body, opt);
  if (method == HttpMethod::Post &&
      (target == "/" || target == "/pipeline" || target == "/multi-exec")) {
    differential(res, target != "/", body, opt);
  }
  check(res, method, opt);
  // The header helpers take arbitrary bytes too.
  std::optional<std::string_view> tok = bearerToken(target);
  if (tok) KW_FUZZ_CHECK(!tok->empty() && tok->size() <= kMaxBearerTokenBytes);
  auto ro = parseResponseOptions(target.substr(0, 8), body.substr(0, 8));
  if (ro) KW_FUZZ_CHECK(!(ro->base64 && ro->resp2));
  return 0;
}
