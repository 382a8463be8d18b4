// What the router decided from a request's head (RequestRouter::admit), held by the connection
// until the body is in and the request is routed.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "conf/snapshot.h"
#include "proxy/codec/rest_request.h"
#include "proxy/upstream/exchange.h"

namespace kw::proxy {

struct PeerInfo {
  std::string ip;                  // textual
  std::array<uint8_t, 16> ip16{};  // IPv4 as ::ffff:a.b.c.d
};

// The head-time decision on one request (README, Limits and shares): the credential, the client's
// address, the Origin and, for path-style requests, the command are checked as soon as the head
// is in, before a body byte is read or `100 Continue` is sent. Either `refusal` is set (answer
// it; a body that follows is never read) or the request may proceed to route().
struct Admission {
  std::optional<HttpResponse> refusal;
  conf::SnapshotConstSharedPtr snapshot;      // the config the credential was checked against
  const conf::ClientEntry* entry = nullptr;   // null for OPTIONS (no credential needed)
  std::string sub;                            // the JWT's sub (empty for static keys)
  PeerInfo client_ip;                         // after trusted X-Forwarded-For hops
  std::optional<codec::RestRequest> request;  // decoded at head time when no body follows
  std::vector<std::pair<std::string, std::string>> cors;  // Allow-Origin etc. for the reply
  codec::ResponseOptions options;  // Upstash-Encoding / Upstash-Response-Format, as parsed
  // Subscribe / PSubscribe only: what the stream's guard re-checks later (router_streams.cc).
  std::string stream_token;     // SECRET: the bearer token
  std::string stream_jti;       // JWT jti
  int64_t stream_deadline = 0;  // JWT: exp + leeway; 0 for static keys
  // What the decision relied on besides the head (admissionCurrent()).
  uint64_t revocation_generation = 0;
  int64_t expires_s = 0;  // JWT: exp + leeway; 0 for static keys
};

}  // namespace kw::proxy
