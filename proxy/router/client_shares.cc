// ShareLedger: see the header.
#include "proxy/router/client_shares.h"

#include <algorithm>

namespace kw::proxy {

namespace {
size_t slot(ShareKind k) { return k == ShareKind::Subscriptions ? 0 : 1; }
}  // namespace

ShareLedger::ShareLedger() : state_(std::make_shared<State>()) {}

std::variant<ShareLedger::TicketPtr, ShareRefusal> ShareLedger::acquire(
    ShareKind kind, const std::string& client, uint64_t client_limit, uint64_t pool_limit,
    const std::string& identity) {
  const size_t i = slot(kind);
  const bool subs = kind == ShareKind::Subscriptions;
  std::lock_guard<std::mutex> lock(state_->mu);
  if (pool_limit != 0 && state_->total[i] >= pool_limit) {
    return ShareRefusal{503, subs ? "subscriptions_full" : "in_flight_full",
                        subs ? "ERR " + std::to_string(pool_limit) +
                                   " subscription streams are open, the most keyward allows "
                                   "(listen.max_subscriptions)"
                             : "ERR the upstream queue is full"};
  }
  auto it = state_->per_client.find(client);
  const uint64_t mine = it == state_->per_client.end() ? 0 : it->second[i];
  if (mine >= client_limit) {
    return ShareRefusal{
        429, subs ? "max_subscriptions" : "max_in_flight",
        subs ? "ERR this client has " + std::to_string(mine) +
                   " subscription streams open, its share (clients[].limits.max_subscriptions)"
             : "ERR this client has " + std::to_string(mine) +
                   " requests at the upstream, its share (clients[].limits.max_in_flight)"};
  }
  std::string identity_key;
  if (!identity.empty()) {
    identity_key = client + "\n" + identity;  // client names hold no line break
    auto id = state_->per_client.find(identity_key);
    const uint64_t its = id == state_->per_client.end() ? 0 : id->second[i];
    if (its >= std::max<uint64_t>(1, client_limit / 2)) {
      return ShareRefusal{429, subs ? "max_subscriptions" : "max_in_flight",
                          subs ? "ERR this identity has " + std::to_string(its) +
                                     " subscription streams open, half of its client's share "
                                     "(clients[].limits.max_subscriptions)"
                               : "ERR this identity has " + std::to_string(its) +
                                     " requests at the upstream, half of its client's share "
                                     "(clients[].limits.max_in_flight)"};
    }
    ++state_->per_client[identity_key][i];
  }
  ++state_->per_client[client][i];
  ++state_->total[i];
  return std::make_shared<Ticket>(state_, kind, client, std::move(identity_key));
}

uint64_t ShareLedger::held(ShareKind kind, const std::string& client) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->per_client.find(client);
  return it == state_->per_client.end() ? 0 : it->second[slot(kind)];
}

uint64_t ShareLedger::total(ShareKind kind) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->total[slot(kind)];
}

ShareLedger::Ticket::~Ticket() {
  const size_t i = slot(kind_);
  std::lock_guard<std::mutex> lock(state_->mu);
  --state_->total[i];
  for (const std::string* key : {&client_, &identity_key_}) {
    if (key->empty()) continue;
    auto it = state_->per_client.find(*key);
    if (it == state_->per_client.end()) continue;
    if (--it->second[i] == 0 && it->second[1 - i] == 0) state_->per_client.erase(it);
  }
}

}  // namespace kw::proxy
