// New random secrets: static API keys (`keyward token new`) and value keys (`keyward encryption
// new-key`).
#pragma once

#include <string>

#include "policy/result.h"

namespace kw::conf {

struct NewApiKey {
  std::string key;        // kw_ + 43 base64url characters (256 random bits). SECRET.
  std::string reference;  // "sha256:<64 lowercase hex>" to paste into api_keys
};

// Uses RAND_bytes; fails only when the CSPRNG does.
Result<NewApiKey> newApiKey();

// 32 CSPRNG bytes in standard base64 (44 characters, padded): an encryption.keys secret. SECRET.
Result<std::string> newValueKey();

}  // namespace kw::conf
