// Lease and return scripts on the operator's Redis (EVAL: the store sees one call per lease).
#include "proxy/upstream/redis/quota_store.h"

#include <string_view>

#include "proxy/io/access_log.h"

namespace kw::proxy {
namespace {

// Per key: ARGV limit, need, ttl, chunk. Grants max(need, min(chunk, ceil(remaining / 16))),
// capped at what remains: leases shrink as the budget runs out, so replicas strand little of it.
// Returns granted, remaining-after per key.
constexpr std::string_view kLeaseScript = R"lua(
local out = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[4 * i - 3])
  local need = tonumber(ARGV[4 * i - 2])
  local ttl = tonumber(ARGV[4 * i - 1])
  local chunk = tonumber(ARGV[4 * i])
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  local rem = limit - used
  if rem < 0 then rem = 0 end
  local want = math.max(need, math.min(chunk, math.ceil(rem / 16)))
  local grant = math.min(want, rem)
  if grant > 0 then redis.call('INCRBY', KEYS[i], grant) end
  redis.call('EXPIRE', KEYS[i], ttl)
  out[2 * i - 1] = grant
  out[2 * i] = rem - grant
end
return out
)lua";

// Per key: ARGV amount. Gives back unused lease (never below zero).
constexpr std::string_view kReturnScript = R"lua(
for i = 1, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  local back = math.min(used, tonumber(ARGV[i]))
  if back > 0 then redis.call('DECRBY', KEYS[i], back) end
end
return #KEYS
)lua";

}  // namespace

Result<std::unique_ptr<QuotaStore>> QuotaStore::create(event_base* base,
                                                       const conf::UpstreamConfig& store,
                                                       Milliseconds timeout) {
  RedisPoolOptions o;
  o.endpoint = redisEndpoint(store);
  o.timeout = timeout;
  o.connections = 1;
  o.max_queue = 64;
  o.max_reply_bytes = 1 << 20;
  auto r = RedisPool::create(base, std::move(o));
  if (!r) return r.error();
  return std::unique_ptr<QuotaStore>(new QuotaStore(std::move(*r)));
}

void QuotaStore::lease(const std::vector<Want>& wants, Granted done) {
  std::vector<std::string> args{"EVAL", std::string(kLeaseScript), std::to_string(wants.size())};
  for (const Want& w : wants) args.push_back(w.key);
  for (const Want& w : wants) {
    args.push_back(std::to_string(w.limit));
    args.push_back(std::to_string(w.need));
    args.push_back(std::to_string(w.ttl_s));
    args.push_back(std::to_string(kLeaseChunk));
  }
  std::vector<std::string_view> views(args.begin(), args.end());
  const policy::Argv argv(views.data(), views.size());
  const size_t n = wants.size();
  lease_call_ = redis_->execute({&argv, 1}, [done = std::move(done), n](UpstreamResult&& r) {
    std::vector<Grant> grants;
    if (!r) {
      logEvent("quota_store_error", {{"error", std::string(toString(r.error().kind))}});
      return done(false, grants);
    }
    const codec::RespValue& v = r.value().value(0);
    if (!v.isArray() || v.elements.size() != 2 * n) {
      logEvent("quota_store_error",
               {{"error", v.isError() ? std::string(v.str.substr(0, 200)) : "unexpected reply"}});
      return done(false, grants);
    }
    for (size_t i = 0; i < n; ++i) {
      const codec::RespValue& g = v.elements[2 * i];
      const codec::RespValue& rem = v.elements[2 * i + 1];
      if (g.type != codec::RespType::Integer || rem.type != codec::RespType::Integer ||
          g.integer < 0 || rem.integer < 0) {
        return done(false, {});
      }
      grants.push_back({static_cast<uint64_t>(g.integer), static_cast<uint64_t>(rem.integer)});
    }
    done(true, grants);
  });
}

void QuotaStore::giveBack(const std::vector<Return>& returns, std::function<void()> done) {
  std::vector<std::string> args{"EVAL", std::string(kReturnScript), std::to_string(returns.size())};
  for (const Return& r : returns) args.push_back(r.key);
  for (const Return& r : returns) args.push_back(std::to_string(r.amount));
  std::vector<std::string_view> views(args.begin(), args.end());
  const policy::Argv argv(views.data(), views.size());
  return_call_ = redis_->execute({&argv, 1}, [done = std::move(done)](UpstreamResult&& r) {
    if (!r) logEvent("quota_store_error", {{"error", std::string(toString(r.error().kind))}});
    done();
  });
}

}  // namespace kw::proxy
