// Codec benchmarks: HTTP head/body parsing and REST decoding of SDK-shaped requests; the REST
// reply's upstream-token watch.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "proxy/codec/http_request_parser.h"
#include "proxy/codec/rest_request.h"
#include "proxy/codec/secret_watch.h"

namespace kw::proxy::codec {
namespace {

// The request @upstash/redis 1.39 sends for a lone auto-pipelined command (docs/upstash-wire.md
// §4.1).
const std::string kSdkPipeline =
    "POST /pipeline HTTP/1.1\r\n"
    "host: 127.0.0.1:18080\r\n"
    "connection: keep-alive\r\n"
    "Content-Type: application/json\r\n"
    "authorization: Bearer secret-token\r\n"
    "Upstash-Encoding: base64\r\n"
    "Upstash-Telemetry-Runtime: node@v20.20.2\r\n"
    "Upstash-Telemetry-Platform: unknown\r\n"
    "Upstash-Telemetry-Sdk: @upstash/redis@v1.39.0\r\n"
    "upstash-sync-token: \r\n"
    "accept: */*\r\n"
    "accept-language: *\r\n"
    "sec-fetch-mode: cors\r\n"
    "user-agent: node\r\n"
    "pragma: no-cache\r\n"
    "cache-control: no-cache\r\n"
    "accept-encoding: gzip, deflate\r\n"
    "content-length: 34\r\n"
    "\r\n"
    "[[\"set\",\"k\",\"{\\\"a\\\":1}\",\"ex\",100]]";

ParseStatus parseAll(HttpRequestParser& p, const std::string& req) {
  size_t off = 0, used = 0;
  ParseStatus st = p.feed(req.data(), req.size(), &used);
  off += used;
  if (st == ParseStatus::HeadComplete) st = p.feed(req.data() + off, req.size() - off, &used);
  return st;
}

void BM_HttpParseSdkPipeline(benchmark::State& state) {
  HttpRequestParser p;
  for (auto _ : state) {
    p.reset();
    ParseStatus st = parseAll(p, kSdkPipeline);
    benchmark::DoNotOptimize(st);
    benchmark::DoNotOptimize(p.header("authorization"));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kSdkPipeline.size()));
}
BENCHMARK(BM_HttpParseSdkPipeline);

void BM_RestDecodeSdkPipeline(benchmark::State& state) {
  const std::string body = "[[\"set\",\"k\",\"{\\\"a\\\":1}\",\"ex\",100]]";
  for (auto _ : state) {
    Result<RestRequest> r = decodeRestRequest(HttpMethod::Post, "/pipeline", body);
    benchmark::DoNotOptimize(r.has_value());
  }
}
BENCHMARK(BM_RestDecodeSdkPipeline);

// Socket bytes -> route + argv + bearer token + response options: the whole request side.
void BM_FullRequestSdkPipeline(benchmark::State& state) {
  HttpRequestParser p;
  for (auto _ : state) {
    p.reset();
    if (parseAll(p, kSdkPipeline) != ParseStatus::Complete) state.SkipWithError("parse");
    auto token = bearerToken(p.header("authorization"));
    auto opts =
        parseResponseOptions(p.header("upstash-encoding"), p.header("upstash-response-format"));
    Result<RestRequest> r = decodeRestRequest(p);
    benchmark::DoNotOptimize(token);
    benchmark::DoNotOptimize(opts.has_value());
    benchmark::DoNotOptimize(r.has_value());
  }
}
BENCHMARK(BM_FullRequestSdkPipeline);

void BM_RestDecodePipeline1000(benchmark::State& state) {
  std::string body = "[";
  for (int i = 0; i < 1000; ++i) {
    body +=
        std::string(i ? "," : "") + "[\"set\",\"user:" + std::to_string(i) + "\",\"v\",\"ex\",100]";
  }
  body += "]";
  for (auto _ : state) {
    Result<RestRequest> r = decodeRestRequest(HttpMethod::Post, "/pipeline", body);
    benchmark::DoNotOptimize(r.has_value());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_RestDecodePipeline1000);

void BM_RestDecodePathStyle(benchmark::State& state) {
  for (auto _ : state) {
    Result<RestRequest> r =
        decodeRestRequest(HttpMethod::Get, "/set/user%3A42/hello%20world?EX=100&NX", "");
    benchmark::DoNotOptimize(r.has_value());
  }
}
BENCHMARK(BM_RestDecodePathStyle);

// Every REST reply is watched for pieces of keyward's upstream token (an Upstash-shaped one).
void BM_SecretWatchReply(benchmark::State& state) {
  const auto pieces = std::make_shared<const SecretPieces>(
      "AXsPASQgNjk2Yzg1ZWYtYTNkYi00ZjM2LTlmZTUtZGQ1Yjc3ZTMwZjIzMWE4NzQ2ZjAwMjk=");
  std::string body = "{\"result\":\"";
  for (int64_t i = 0; static_cast<int64_t>(body.size()) < state.range(0); ++i) {
    body += static_cast<char>('a' + i % 26);
  }
  body += "\"}";
  for (auto _ : state) benchmark::DoNotOptimize(SecretWatch::holds(pieces, body));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_SecretWatchReply)->Arg(64)->Arg(256 * 1024);

}  // namespace
}  // namespace kw::proxy::codec
