// Benchmarks the reply side: RESP reading and Upstash JSON encoding (GET, 1,000-reply pipeline).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "proxy/codec/reply_json.h"
#include "proxy/codec/resp_parser.h"
#include "proxy/codec/resp_writer.h"
#include "tests/support/resp_stream.h"

namespace {

using namespace kw::proxy::codec;  // NOLINT(google-build-using-namespace): bench only

const std::string kValue = R"({"user":"u-123","plan":"pro","seen":1795356700293,"tags":["a","b"]})";

std::string getReplyWire() {
  std::string raw;
  appendBulkReply(raw, kValue);
  return raw;
}

// 1,000 replies as an auto-pipeline would get them: GET hits, misses, SET OKs, INCRs.
std::string pipelineWire() {
  std::string raw;
  for (int i = 0; i < 1000; ++i) {
    switch (i % 4) {
      case 0:
        appendBulkReply(raw, kValue);
        break;
      case 1:
        appendNullReply(raw);
        break;
      case 2:
        appendStatusReply(raw, "OK");
        break;
      default:
        appendIntegerReply(raw, 1000 + i);
        break;
    }
  }
  return raw;
}

std::vector<RespReply> readAll(const std::string& wire) {
  RespReader reader;
  reader.feed(wire);
  std::vector<RespReply> out;
  RespReply r;
  while (reader.next(r) == RespReader::Status::Reply) out.push_back(std::move(r));
  return out;
}

void BM_ParseGetReply(benchmark::State& state) {
  const std::string raw = getReplyWire();
  for (auto _ : state) {
    auto v = parseReply(raw);
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_ParseGetReply);

// What RedisConnection and RedisPool do with each reply: frame it out of the read buffer (the
// values recorded on the way), then build its tree from the record. A GET, and the replies of a
// 1,000-command pipeline.
void frameAndBuild(const std::string& wire, std::vector<RespValue>& out) {
  const RespLimits limits;
  RespParser parser(&limits);
  std::string_view rest = wire;
  size_t len = 0;
  while (!rest.empty() && parser.scan(rest, len) == RespParser::Status::Complete) {
    out.push_back(buildReply(rest.substr(0, len), parser.nodes(), 64).value());
    rest.remove_prefix(len);
    parser.reset();
  }
}

void BM_FrameAndBuildGet(benchmark::State& state) {
  const std::string wire = getReplyWire();
  std::vector<RespValue> out;
  for (auto _ : state) {
    out.clear();
    frameAndBuild(wire, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_FrameAndBuildGet);

void BM_FrameAndBuildPipeline1000(benchmark::State& state) {
  const std::string wire = pipelineWire();
  std::vector<RespValue> out;
  out.reserve(1000);
  for (auto _ : state) {
    out.clear();
    frameAndBuild(wire, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_FrameAndBuildPipeline1000);

void BM_EncodeGetReply(benchmark::State& state) {
  const std::string raw = getReplyWire();
  const RespValue v = parseReply(raw).value();
  const auto enc = state.range(0) ? ReplyEncoding::Base64 : ReplyEncoding::Plain;
  std::string out;
  for (auto _ : state) {
    out.clear();
    appendEnvelope(out, v, enc);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw.size()));
}
BENCHMARK(BM_EncodeGetReply)->Arg(0)->Arg(1);

void BM_ReadPipelineReplies(benchmark::State& state) {
  const std::string wire = pipelineWire();
  for (auto _ : state) {
    auto replies = readAll(wire);
    benchmark::DoNotOptimize(replies.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_ReadPipelineReplies);

void BM_EncodePipeline1000(benchmark::State& state) {
  const std::vector<RespReply> replies = readAll(pipelineWire());
  const auto enc = state.range(0) ? ReplyEncoding::Base64 : ReplyEncoding::Plain;
  std::string out;
  for (auto _ : state) {
    out.clear();
    PipelineJsonWriter w(out, enc);
    for (const RespReply& r : replies) w.addReply(r.value());
    w.finish();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * replies.size()));
}
BENCHMARK(BM_EncodePipeline1000)->Arg(0)->Arg(1);

// The size check RequestRouter makes before building a large body, against the encoding it
// guards (8 MiB of printable ASCII, the common case for large values).
std::string bigValue() {
  std::string v(8 << 20, 'a');
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<char>('!' + (i * 31) % 90);
  return v;
}

void BM_SizeBigValue(benchmark::State& state) {
  const std::string v = bigValue();
  const std::vector<RespValue> reply = {RespValue::bulk(v)};
  for (auto _ : state) benchmark::DoNotOptimize(jsonBodySizeBound(reply, ReplyEncoding::Plain));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * v.size()));
}
BENCHMARK(BM_SizeBigValue);

void BM_EncodeBigValue(benchmark::State& state) {
  const std::string v = bigValue();
  std::string out;
  for (auto _ : state) {
    out.clear();
    out = singleReplyJson(RespValue::bulk(v), ReplyEncoding::Plain);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * v.size()));
}
BENCHMARK(BM_EncodeBigValue);

void BM_WritePipeline1000(benchmark::State& state) {
  std::vector<std::vector<std::string_view>> cmds;
  for (int i = 0; i < 1000; ++i) cmds.push_back({"SET", "user:123:profile", kValue, "EX", "100"});
  std::vector<CommandArgv> spans(cmds.begin(), cmds.end());
  std::string out;
  for (auto _ : state) {
    out.clear();
    for (CommandArgv c : spans) appendCommand(out, c);  // as RedisPool::execute writes them
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * spans.size()));
}
BENCHMARK(BM_WritePipeline1000);

}  // namespace
