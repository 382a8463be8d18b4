// ASCII text rules every layer shares: case-insensitive tokens (HTTP header values, Redis
// command names), canonical decimals, HTTP optional whitespace, and host:port with IPv6
// brackets.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kw::ascii {

constexpr char toLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; }

// ASCII letters compare without case; every other byte exactly (no locale).
constexpr bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (toLower(a[i]) != toLower(b[i])) return false;
  }
  return true;
}

constexpr bool startsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && equalsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

// A non-negative decimal as Redis writes one and reads counts and offsets: "0", or a non-zero
// digit and more digits; no sign, space or leading zero; at most 18 digits (so below 10^18 and
// never wrapping). False for anything else.
constexpr bool plainDecimal(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 18 || (s.size() > 1 && s[0] == '0')) return false;
  uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

// `s` with each control byte (below 0x20, and DEL) as '?': text from a file or the network
// printed where one line must stay one line (a report, a log line).
inline std::string controlsReplaced(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

// RFC 9110 OWS (spaces and tabs) off both ends.
constexpr std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// `host` as it goes before a port or into a Host header: an IPv6 literal in brackets.
inline std::string bracketHost(std::string_view host) {
  if (host.find(':') == std::string_view::npos) return std::string(host);
  std::string out = "[";
  out.append(host).append("]");
  return out;
}

// "host:port" ("[::1]:6379" for IPv6 literals).
inline std::string hostPort(std::string_view host, uint16_t port) {
  return bracketHost(host) + ":" + std::to_string(port);
}

}  // namespace kw::ascii
