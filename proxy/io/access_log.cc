// Formats and writes access records and operational events as JSON lines on stdout.
#include "proxy/io/access_log.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>

#include "proxy/codec/base64.h"
#include "proxy/codec/json_escape.h"

namespace kw::proxy {

std::string nowRfc3339() {
  std::string out;
  appendRfc3339(out);
  return out;
}

void appendRfc3339(std::string& out) {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  // Every access line needs the time: the calendar part is formatted once per second.
  thread_local std::time_t cached_secs = -1;
  thread_local char cached[80];  // "YYYY-MM-DDTHH:MM:SS", room for any int the compiler assumes
  if (secs != cached_secs) {
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_secs = secs;
  }
  const auto milli = static_cast<int>(ms % 1000);
  out.append(cached);
  const char tail[] = {'.', static_cast<char>('0' + milli / 100),
                       static_cast<char>('0' + milli / 10 % 10),
                       static_cast<char>('0' + milli % 10), 'Z'};
  out.append(tail, sizeof tail);
}

namespace {

void field(std::string& out, std::string_view name, std::string_view value) {
  out += ",\"";
  out += name;
  out += "\":";
  codec::appendJsonString(out, value);
}

// `name` null when `value` is empty, else the JSON string.
void optionalField(std::string& out, std::string_view name, std::string_view value) {
  if (!value.empty()) return field(out, name, value);
  out += ",\"";
  out += name;
  out += "\":null";
}

// Milliseconds with 3 decimals, without printf's floating-point path (once per request); null
// when negative (the upstream was not contacted).
void appendMilliseconds(std::string& out, double ms) {
  if (ms < 0) {
    out += "null";
    return;
  }
  const auto us = static_cast<uint64_t>(std::llround(std::min(ms, 1e12) * 1000.0));
  const auto frac = static_cast<unsigned>(us % 1000);
  out += std::to_string(us / 1000);
  const char digits[] = {'.', static_cast<char>('0' + frac / 100),
                         static_cast<char>('0' + frac / 10 % 10),
                         static_cast<char>('0' + frac % 10)};
  out.append(digits, sizeof digits);
}

// One fwrite per line: stdio locks the stream per call, so workers' lines never interleave.
void emit(std::string line) {
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

std::string formatAccessRecord(const AccessRecord& r) {
  std::string out;
  out.reserve(512);  // a typical line, in one allocation
  out += "{\"time\":\"";
  appendRfc3339(out);  // only digits and punctuation: nothing to escape
  out += '"';
  field(out, "event", "access");
  field(out, "request_id", r.request_id);
  if (!r.client_request_id.empty()) field(out, "client_request_id", r.client_request_id);
  field(out, "method", r.method);
  field(out, "route", r.route);
  field(out, "client", r.client);
  if (!r.sub.empty()) field(out, "sub", r.sub);
  field(out, "source_ip", r.source_ip);
  out += ",\"commands\":[";
  size_t n = 0;
  for (const auto& c : r.commands) {
    if (n == 32) break;
    if (n++ > 0) out += ',';
    codec::appendJsonString(out, c);
  }
  out.append("],\"command_count\":").append(std::to_string(r.command_count));
  out.append(",\"key_count\":").append(std::to_string(r.key_count));
  if (!r.keys.empty()) {
    out += ",\"keys\":[";
    for (size_t i = 0; i < r.keys.size() && i < 32; ++i) {
      if (i > 0) out += ',';
      codec::appendJsonString(out, r.keys[i]);
    }
    out += ']';
  }
  field(out, "decision", r.decision);
  field(out, "reason", r.reason);
  out.append(",\"status\":").append(std::to_string(r.status));
  out += ",\"upstream_ms\":";
  appendMilliseconds(out, r.upstream_ms);
  out.append(",\"bytes_in\":").append(std::to_string(r.bytes_in));
  out.append(",\"bytes_out\":").append(std::to_string(r.bytes_out));
  out += '}';
  return out;
}

std::string formatAuditRecord(const AccessRecord& r) {
  std::string out;
  out.reserve(384 + 64 * r.outcomes.size());
  out += "{\"time\":";
  codec::appendJsonString(out, nowRfc3339());
  field(out, "request_id", r.request_id);
  if (!r.client_request_id.empty()) field(out, "client_request_id", r.client_request_id);
  optionalField(out, "client", r.client);
  optionalField(out, "credential", r.credential);
  optionalField(out, "sub", r.sub);
  field(out, "source_ip", r.source_ip);
  optionalField(out, "origin", r.origin);
  optionalField(out, "method", r.method);
  optionalField(out, "route", r.route);
  out += ",\"commands\":[";
  // Commands that did not run are listed up to kListedRefusals, then counted by decision and
  // reason: they cost the client nothing, and 10,000 of them in a 60 KB /pipeline made a 580 KB
  // record (attack round 30b: 1,097 MiB of audit in 10 s, then 503 for every tenant once a slow
  // disk filled the buffer). Allowed commands are all listed (each is billed).
  struct Omitted {
    std::string_view decision;
    std::string_view reason;
    uint64_t count;
  };
  std::vector<Omitted> omitted;
  size_t refusals = 0;
  bool first = true;
  for (const CommandOutcome& c : r.outcomes) {
    if (c.decision != "allow" && ++refusals > kListedRefusals) {
      auto it = std::find_if(omitted.begin(), omitted.end(), [&c](const Omitted& o) {
        return o.decision == c.decision && o.reason == c.reason;
      });
      if (it == omitted.end()) {
        omitted.push_back({c.decision, c.reason, 1});
      } else {
        ++it->count;
      }
      continue;
    }
    out += first ? "{\"name\":" : ",{\"name\":";
    first = false;
    codec::appendJsonString(out, c.name);
    field(out, "decision", c.decision);
    optionalField(out, "reason", c.reason);
    if (c.keys_end > c.keys_begin) {
      out += ",\"keys\":[";
      for (uint32_t k = c.keys_begin; k < c.keys_end && k < r.keys.size(); ++k) {
        if (k > c.keys_begin) out += ',';
        if (codec::isValidUtf8(r.keys[k])) {
          codec::appendJsonString(out, r.keys[k]);
        } else {
          // Exact bytes: U+FFFD would make \xff and \xfe one name (found by the attack run).
          out += "{\"b64\":\"" + codec::base64Encode(r.keys[k]) + "\"}";
        }
      }
      out += ']';
    }
    if (c.keys_omitted > 0) out.append(",\"keys_omitted\":").append(std::to_string(c.keys_omitted));
    out += '}';
  }
  out += ']';
  if (!omitted.empty()) {
    out += ",\"commands_omitted\":[";
    for (size_t i = 0; i < omitted.size(); ++i) {
      out += i == 0 ? "{\"decision\":" : ",{\"decision\":";
      codec::appendJsonString(out, omitted[i].decision);
      optionalField(out, "reason", omitted[i].reason);
      out.append(",\"count\":").append(std::to_string(omitted[i].count)).append("}");
    }
    out += ']';
  }
  field(out, "decision", r.decision);
  optionalField(out, "reason", r.reason);
  out.append(",\"status\":").append(std::to_string(r.status));
  out += ",\"upstream_ms\":";
  appendMilliseconds(out, r.upstream_ms);
  out += '}';
  return out;
}

// Access records stay in stdio's buffer (one write(2) per few KiB instead of one per request);
// main flushes them every 100 ms and at exit, and every operational event flushes at once.
void writeAccessRecord(const AccessRecord& r) {
  std::string line = formatAccessRecord(r);
  line += '\n';  // one fwrite per line (see emit); within the line's reserve
  std::fwrite(line.data(), 1, line.size(), stdout);
}

void flushLogs() { std::fflush(stdout); }

void logEvent(std::string_view event,
              const std::vector<std::pair<std::string_view, std::string>>& fields) {
  std::string out = "{\"time\":";
  codec::appendJsonString(out, nowRfc3339());
  field(out, "event", event);
  for (const auto& [k, v] : fields) field(out, k, v);
  out += '}';
  emit(std::move(out));
}

}  // namespace kw::proxy
