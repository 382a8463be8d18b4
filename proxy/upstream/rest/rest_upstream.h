// RestUpstream: the router's Upstream for https:// and http:// (the Upstash REST API). A plan
// becomes one HTTP request (keyward's own token, the allowed commands only, the client's
// Upstash-* headers) on a RestPool, and the reply is relayed back as it arrives, with denied
// pipeline slots spliced in.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "policy/result.h"
#include "proxy/codec/secret_watch.h"
#include "proxy/upstream/rest/rest_pool.h"
#include "proxy/upstream/upstream.h"

namespace kw::proxy {

class RestUpstream final : public Upstream {
 public:
  // Read-your-writes tokens (noteSyncToken), one book for every worker's REST upstream: a write
  // answered on one worker and a read sent by another still carry the same token.
  class SyncTokens {
   public:
    void note(std::string_view client, std::string_view token);
    [[nodiscard]] std::string find(std::string_view client) const;

   private:
    mutable std::mutex mu_;
    std::unordered_map<std::string, std::string> tokens_;
  };

  // `tokens`: the book shared with the other workers' REST upstreams.
  static Result<std::unique_ptr<RestUpstream>> create(
      event_base* base, RestPoolOptions options,
      std::shared_ptr<SyncTokens> tokens = std::make_shared<SyncTokens>());
  explicit RestUpstream(std::unique_ptr<RestPool> pool,
                        std::shared_ptr<SyncTokens> tokens = std::make_shared<SyncTokens>())
      : pool_(std::move(pool)), sync_tokens_(std::move(tokens)) {}

  std::optional<Refusal> prepare(RequestPlan& plan, const RouteContext& ctx) override;
  void dispatch(const RequestPlan& plan, const RouteContext& ctx, Exchange& ex) override;
  // Upstash-Encoding and Upstash-Response-Format as keyward understood them (`opts`: written
  // anew, never the client's bytes), the client's first Upstash-Telemetry-* of each name, and,
  // when the client sent any upstash-sync-token, the newest upstream token seen on `client`'s
  // responses (nothing when none was) in place of the client's value, which is keyward's own
  // counter; never credentials or cookies.
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> passthroughHeaders(
      const codec::HttpRequestParser& parser, const codec::ResponseOptions& opts,
      std::string_view client) const override;
  void probe() override;
  [[nodiscard]] bool ready() const override { return ready_; }
  [[nodiscard]] UpstreamStats stats() const override { return pool_->stats(); }
  [[nodiscard]] std::string describe() const override { return pool_->describe(); }

  // Read-your-writes across Upstash replicas: the newest upstream sync token seen on `client`'s
  // responses is kept here, never shown to any client, and sent upstream on that client's
  // requests that carry a token. A token that is empty, longer than kMaxSyncToken or not visible
  // ASCII is dropped (the one kept stays). Bounded at 2 * conf::kMaxClients names.
  void noteSyncToken(std::string_view client, std::string_view token);
  [[nodiscard]] std::string syncToken(std::string_view client) const {
    return sync_tokens_->find(client);
  }
  static constexpr size_t kMaxSyncToken = 256;

 private:
  // keyward's upstream token as the replies' SecretWatch looks for it.
  std::shared_ptr<const codec::SecretPieces> secretPieces(const std::string& token);

  std::unique_ptr<RestPool> pool_;
  std::shared_ptr<SyncTokens> sync_tokens_;
  std::shared_ptr<const codec::SecretPieces> secret_;
  bool ready_ = false;
};

}  // namespace kw::proxy
