// Fuzzes HttpRequestParser: one-shot vs random-split feeding must agree; limits always hold.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "proxy/codec/http_request_parser.h"

using kw::proxy::codec::HttpParserLimits;
using kw::proxy::codec::HttpRequestParser;
using kw::proxy::codec::ParseStatus;

namespace {

struct Parsed {
  bool error = false;
  size_t consumed = 0;  // stream offset where the request ended
  std::string target, body;
  size_t header_count = 0;
  bool keep_alive = false;
};

HttpParserLimits smallLimits() {
  HttpParserLimits l;
  l.max_header_bytes = 2048;
  l.max_header_count = 20;
  l.max_target_bytes = 512;
  l.max_body_bytes = 4096;
  l.max_chunk_line_bytes = 64;
  l.max_trailer_bytes = 256;
  return l;
}

// Feeds the stream with pieces chosen by `next` (0 = everything left), parsing pipelined
// requests one after another.
template <class NextPiece>
std::vector<Parsed> parseStream(std::string_view in, const HttpParserLimits& lim, NextPiece next) {
  std::vector<Parsed> out;
  HttpRequestParser p(lim);
  size_t off = 0;
  bool saw_head = false;
  for (int guard = 0; guard < 100000; ++guard) {
    size_t left = in.size() - off;
    size_t n = next(left);
    size_t used = 12345;
    ParseStatus st = p.feed(in.data() + off, n, &used);
    KW_FUZZ_CHECK(used <= n);
    off += used;
    switch (st) {
      case ParseStatus::NeedMore:
        KW_FUZZ_CHECK(used == n);
        if (off == in.size()) return out;
        break;
      case ParseStatus::HeadComplete:
        KW_FUZZ_CHECK(!saw_head);
        KW_FUZZ_CHECK(p.headComplete());
        KW_FUZZ_CHECK(p.chunked() || p.contentLength().value_or(0) > 0);
        saw_head = true;
        break;
      case ParseStatus::Complete: {
        KW_FUZZ_CHECK(p.headComplete());
        KW_FUZZ_CHECK(p.body().size() <= lim.max_body_bytes);
        KW_FUZZ_CHECK(p.headers().size() <= lim.max_header_count);
        KW_FUZZ_CHECK(p.target().size() <= lim.max_target_bytes && !p.target().empty() &&
                      p.target()[0] == '/');
        if (p.contentLength()) KW_FUZZ_CHECK(p.body().size() == *p.contentLength());
        for (const auto& h : p.headers()) {
          for (char c : h.name) KW_FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
          KW_FUZZ_CHECK(p.header(h.name).has_value());
          KW_FUZZ_CHECK(p.headerCount(h.name) >= 1);
          // Singletons are never repeated in a request the parser accepted.
          if (h.name == "authorization" || h.name == "origin" || h.name == "content-length") {
            KW_FUZZ_CHECK(p.headerCount(h.name) == 1);
          }
          for (std::string_view e : p.headerList(h.name)) {
            KW_FUZZ_CHECK(!e.empty() && e.find(',') == std::string_view::npos);
            KW_FUZZ_CHECK(e.front() != ' ' && e.back() != ' ');
          }
        }
        size_t again = 99;
        KW_FUZZ_CHECK(p.feed(in.data() + off, in.size() - off, &again) == ParseStatus::Complete);
        KW_FUZZ_CHECK(again == 0);
        out.push_back(Parsed{false, off, std::string(p.target()), std::string(p.body()),
                             p.headers().size(), p.keepAlive()});
        p.reset();
        saw_head = false;
        if (off == in.size()) return out;
        break;
      }
      case ParseStatus::Error: {
        uint16_t s = p.errorStatus();
        KW_FUZZ_CHECK(s == 400 || s == 413 || s == 414 || s == 431 || s == 501 || s == 505);
        KW_FUZZ_CHECK(p.errorMessage().substr(0, 4) == "ERR ");
        Parsed e;
        e.error = true;
        out.push_back(e);
        return out;
      }
    }
  }
  return out;
}

void compare(const std::vector<Parsed>& a, const std::vector<Parsed>& b) {
  KW_FUZZ_CHECK(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    KW_FUZZ_CHECK(a[i].error == b[i].error);
    if (a[i].error) continue;
    KW_FUZZ_CHECK(a[i].consumed == b[i].consumed);
    KW_FUZZ_CHECK(a[i].target == b[i].target);
    KW_FUZZ_CHECK(a[i].body == b[i].body);
    KW_FUZZ_CHECK(a[i].header_count == b[i].header_count);
    KW_FUZZ_CHECK(a[i].keep_alive == b[i].keep_alive);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Piece sizes come from a PRNG seeded by the input, so splits vary with the input.
  uint64_t seed = 1469598103934665603ull;
  for (size_t i = 0; i < size && i < 64; ++i) seed = (seed ^ data[i]) * 1099511628211ull;
  for (const HttpParserLimits& lim : {smallLimits(), HttpParserLimits{}}) {
    std::vector<Parsed> whole = parseStream(in, lim, [](size_t left) { return left; });
    uint64_t s = seed;
    std::vector<Parsed> split = parseStream(in, lim, [&s](size_t left) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      size_t piece = 1 + static_cast<size_t>((s >> 33) % 17);
      return piece < left ? piece : left;
    });
    compare(whole, split);
    std::vector<Parsed> bytes =
        parseStream(in, lim, [](size_t left) { return left < 1 ? left : 1; });
    compare(whole, bytes);
  }
  return 0;
}
