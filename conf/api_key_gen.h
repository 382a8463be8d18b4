// New random static API keys for `keyward token new`.
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

}  // namespace kw::conf
