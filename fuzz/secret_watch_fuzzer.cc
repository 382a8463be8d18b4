// Fuzzes the upstream-token watch: the verdict never depends on how the reply is chunked, what
// it lets out before a piece is found never holds one, and what it keeps back is bounded (the
// raw bytes of 2W - B - 1 decoded ones, plus an escape not yet complete).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "proxy/codec/secret_watch.h"

namespace {

using kw::proxy::codec::SecretPieces;
using kw::proxy::codec::SecretWatch;

struct Run {
  bool found = false;
  uint64_t released = 0;  // what was let out before it was found (or in all)
};

Run watch(const std::shared_ptr<const SecretPieces>& p, std::string_view body, size_t step) {
  SecretWatch w(p);
  Run r;
  for (size_t at = 0; at < body.size(); at += step) {
    if (!w.feed(body.substr(at, step))) {
      r.found = true;
      break;
    }
    KW_FUZZ_CHECK(w.releasable() >= r.released);
    r.released = w.releasable();
  }
  if (!r.found) r.found = !w.settle();  // the end of the reply confirms a piece ending there
  return r;
}

}  // namespace

// Input: one byte of chunk size, one of secret length, the secret, the body. Secrets from the
// input are mostly short; a fixed token-like one is used when the length byte is 0.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t step = 1 + data[0] % 23;
  size_t secret_len = data[1] % 48;
  std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  std::string secret = "upstash_AbCdEfGh0123456789_ijklMNOP/+xyz";
  if (secret_len != 0) {
    secret_len = std::min(secret_len, rest.size());
    secret.assign(rest.substr(0, secret_len));
    rest.remove_prefix(secret_len);
  }
  const auto p = std::make_shared<const SecretPieces>(secret);
  const bool whole = SecretWatch::holds(p, rest);
  const Run chunked = watch(p, rest, step);
  const Run bytes = watch(p, rest, 1);
  KW_FUZZ_CHECK(chunked.found == whole && bytes.found == whole);
  // Nothing let out holds a piece.
  KW_FUZZ_CHECK(!SecretWatch::holds(p, rest.substr(0, bytes.released)));
  KW_FUZZ_CHECK(!SecretWatch::holds(p, rest.substr(0, chunked.released)));
  if (!whole) {
    // Kept back at the end: at most 6 raw bytes for each of the 2W - B - 1 last decoded ones
    // (W = 20 base64 characters, B = 8), plus an escape not yet complete (five bytes).
    const size_t kept = rest.size() - bytes.released;
    KW_FUZZ_CHECK(kept <= 6 * (2 * SecretPieces::kBase64Piece - 8 - 1) + 5);
  }
  return 0;
}
