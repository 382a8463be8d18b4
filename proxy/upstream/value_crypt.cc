// Sealing request values and opening reply values (value_crypt.h).
#include "proxy/upstream/value_crypt.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>

namespace kw::proxy {

namespace {

using codec::RespType;
using codec::RespValue;
using policy::OpenResult;
using policy::ReplyValues;

std::string adFor(policy::Argv argv, const policy::ValueSlot& s) {
  return s.field_arg < 0
             ? policy::valueAssociatedData(argv[s.key_arg])
             : policy::valueAssociatedData(argv[s.key_arg], argv[static_cast<size_t>(s.field_arg)]);
}

// A fresh random nonce. Drawn from the CSPRNG 256 at a time: one RAND_bytes call costs more than
// sealing a short value. (Nonces are public, and only their uniqueness matters to GCM.)
bool nextNonce(policy::ValueNonce& out) {
  constexpr size_t kBatch = 256;
  thread_local std::array<uint8_t, kBatch * policy::kValueNonceBytes> pool;
  thread_local size_t used = pool.size();
  if (used == pool.size()) {
    if (RAND_bytes(pool.data(), static_cast<int>(pool.size())) != 1) return false;
    used = 0;
  }
  std::copy_n(pool.begin() + static_cast<std::ptrdiff_t>(used), out.size(), out.begin());
  used += out.size();
  return true;
}

// One value in place: a Bulk opened (or plaintext passed), a Null kept; false otherwise.
bool openValue(RespValue& v, std::string_view ad, const ValueOpener& o,
               std::list<std::string>& store) {
  if (v.type == RespType::Null) return true;
  if (v.type != RespType::Bulk) return false;
  std::string plain;
  const OpenResult r = o.ring->open(v.str, ad, plain);
  if (r == OpenResult::NotEnvelope && o.pass_plaintext) return true;
  if (r != OpenResult::Ok) return false;
  v.str = store.emplace_back(std::move(plain));
  valueCryptStats().decrypted.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// The reply of one command, opened in place; false: it must become the error.
bool openReply(RespValue& reply, const ReplyOpen& spec, const ValueOpener& o,
               std::list<std::string>& store) {
  if (reply.isError()) return true;  // an error holds no value
  switch (spec.kind) {
    case ReplyValues::None:
      return true;
    case ReplyValues::Whole:
      return openValue(reply, spec.ad, o, store);
    case ReplyValues::Elements:
      if (!reply.isArray()) return false;
      for (const auto& [index, ad] : spec.elements) {
        if (index >= reply.elements.size()) return false;
        if (!openValue(reply.elements[index], ad, o, store)) return false;
      }
      return true;
    case ReplyValues::FieldValuePairs:
    case ReplyValues::PairValuesOnly: {
      if (!reply.isArray() || reply.elements.size() % 2 != 0) return false;
      for (size_t i = 0; i < reply.elements.size(); i += 2) {
        const RespValue& field = reply.elements[i];
        if (field.type != RespType::Bulk) return false;
        if (!openValue(reply.elements[i + 1], policy::valueAssociatedData(spec.key, field.str), o,
                       store)) {
          return false;
        }
      }
      if (spec.kind == ReplyValues::PairValuesOnly) {
        std::vector<RespValue> values;
        values.reserve(reply.elements.size() / 2);
        for (size_t i = 1; i < reply.elements.size(); i += 2) {
          values.push_back(std::move(reply.elements[i]));
        }
        reply.elements = std::move(values);
      }
      return true;
    }
  }
  return false;
}

}  // namespace

ValueCryptStats& valueCryptStats() {
  static ValueCryptStats stats;
  return stats;
}

bool sealValues(const policy::ValueWork& work, policy::Argv argv, const policy::ValueKeyring& ring,
                std::list<std::string>& owned, std::list<std::vector<std::string_view>>& views,
                policy::Argv& forward) {
  if (work.seal.empty()) return true;
  auto& v = views.emplace_back(forward.begin(), forward.end());
  for (const policy::ValueSlot& s : work.seal) {
    policy::ValueNonce nonce{};
    if (!nextNonce(nonce)) return false;
    auto sealed = ring.seal(argv[s.arg], adFor(argv, s), nonce);
    if (!sealed) return false;
    v[s.arg] = owned.emplace_back(std::move(*sealed));
    valueCryptStats().encrypted.fetch_add(1, std::memory_order_relaxed);
  }
  forward = policy::Argv(v.data(), v.size());
  return true;
}

ReplyOpen replyOpen(const policy::ValueWork& work, policy::Argv argv) {
  ReplyOpen out;
  out.kind = work.reply;
  switch (work.reply) {
    case ReplyValues::None:
      break;
    case ReplyValues::Whole:
      out.ad = adFor(argv, work.whole);
      break;
    case ReplyValues::Elements:
      out.elements.reserve(work.open.size());
      for (const policy::ValueSlot& s : work.open) out.elements.emplace_back(s.arg, adFor(argv, s));
      break;
    case ReplyValues::FieldValuePairs:
    case ReplyValues::PairValuesOnly:
      out.key.assign(argv[work.whole.key_arg]);
      break;
  }
  return out;
}

std::vector<size_t> openReplies(std::span<RespValue> replies, std::span<const ReplyOpen> opens,
                                const ValueOpener& opener, std::list<std::string>& store) {
  std::vector<size_t> changed;
  if (opens.empty() || opener.ring == nullptr) return changed;
  for (size_t i = 0; i < replies.size() && i < opens.size(); ++i) {
    if (opens[i].kind == ReplyValues::None) continue;
    changed.push_back(i);
    if (!openReply(replies[i], opens[i], opener, store)) {
      replies[i] = RespValue::error(kValueOpenError);
      valueCryptStats().failures.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return changed;
}

}  // namespace kw::proxy
