// The `clients` list: names, API key references, policy lists, network scope and limits.
#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <unordered_map>

#include "conf/schema.h"
#include "conf/schema_util.h"
#include "policy/credentials.h"

namespace kw::conf {
namespace {

bool isClientName(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// "https://host[:port]" / "http://host[:port]", lowercased; nullopt when malformed.
std::optional<std::string> normalizeOrigin(std::string_view s) {
  std::string o(s);
  std::transform(o.begin(), o.end(), o.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view rest;
  if (o.rfind("https://", 0) == 0) {
    rest = std::string_view(o).substr(8);
  } else if (o.rfind("http://", 0) == 0) {
    rest = std::string_view(o).substr(7);
  } else {
    return std::nullopt;
  }
  if (rest.empty()) return std::nullopt;
  std::string_view host = rest;
  if (rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty() && (after.front() != ':' || after.size() < 2 || after.size() > 6 ||
                           !std::all_of(after.begin() + 1, after.end(), ::isdigit))) {
      return std::nullopt;
    }
    if (!parseIp(host)) return std::nullopt;
    return o;
  }
  const size_t colon = rest.find(':');
  if (colon != std::string_view::npos) {
    std::string_view port = rest.substr(colon + 1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit)) {
      return std::nullopt;
    }
    host = rest.substr(0, colon);
  }
  if (host.empty() || !std::all_of(host.begin(), host.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
      })) {
    return std::nullopt;
  }
  return o;
}

// The policy's list fields of a spec, by their config key (a client's own, and its shadow's).
struct ListField {
  const char* key;
  std::vector<std::string>* out;
};
std::array<ListField, 8> policyLists(policy::ClientSpec& spec) {
  return {{{"commands", &spec.commands},
           {"keys", &spec.keys},
           {"read_keys", &spec.read_keys},
           {"write_keys", &spec.write_keys},
           {"channels", &spec.channels},
           {"consumer_groups", &spec.consumer_groups},
           {"scripts", &spec.scripts},
           {"functions", &spec.functions}}};
}

struct KeyOwner {
  std::string client;
  std::string loc;
};

class ClientsReader {
 public:
  explicit ClientsReader(Ctx& ctx) : ctx_(ctx) {}
  void readClient(const YamlNode& n, size_t index, std::vector<ClientConfig>& out);

 private:
  void readApiKeys(const YamlNode& n, const std::string& field, ClientConfig& c);
  void readOrigins(const YamlNode& n, const std::string& field, ClientConfig& c);
  void readCredentials(const YamlNode& n, const std::string& field, ClientConfig& c);
  void readLimits(const YamlNode& n, const std::string& field, bool jwt, LimitsConfig& out);
  void readRate(const YamlNode& n, const std::string& field, policy::Rate& out);

  Ctx& ctx_;
  std::unordered_map<std::string, std::string> names_;  // name -> location
  std::map<policy::Sha256, KeyOwner> key_owners_;
};

void ClientsReader::readRate(const YamlNode& n, const std::string& field, policy::Rate& out) {
  std::string text;
  if (!readString(ctx_, n, field, text, 64)) return;
  auto r = parseRate(text);
  if (!r) {
    ctx_.error(n.mark, field, r.error().message);
    return;
  }
  out = *r;
}

void ClientsReader::readLimits(const YamlNode& n, const std::string& field, bool jwt,
                               LimitsConfig& out) {
  MapReader m(ctx_, n, field);
  if (!m.valid()) return;
  if (const YamlNode* v = m.getPresent("rate")) readRate(*v, m.sub("rate"), out.rate);
  const YamlNode* burst = m.getPresent("burst");
  if (burst != nullptr) {
    readUint(ctx_, *burst, m.sub("burst"), 1, 1000000000ULL, out.burst);
    if (out.rate.count == 0 && m.getPresent("rate") == nullptr) {
      ctx_.error(burst->mark, m.sub("burst"), "burst needs a rate");
    }
  } else {
    out.burst = out.rate.count;
  }
  if (const YamlNode* v = m.getPresent("per_identity_rate")) {
    readRate(*v, m.sub("per_identity_rate"), out.per_identity_rate);
  }
  if (const YamlNode* v = m.get("per_day")) {
    readUint(ctx_, *v, m.sub("per_day"), 0, ~0ULL >> 1, out.per_day);
  }
  if (const YamlNode* v = m.get("per_month")) {
    readUint(ctx_, *v, m.sub("per_month"), 0, ~0ULL >> 1, out.per_month);
  }
  if (const YamlNode* v = m.get("max_connections")) {
    readUint(ctx_, *v, m.sub("max_connections"), 1, 1000000, out.max_connections);
  }
  // A JWT identity holds at most half of these (rounded down): at 1 it would hold none, or,
  // rounded up, the whole of it (attack round 21), so a JWT client needs at least 2.
  auto share = [&](const char* key, uint64_t& value) {
    const YamlNode* v = m.get(key);
    if (v == nullptr || !readUint(ctx_, *v, m.sub(key), 1, 100000, value)) return;
    if (jwt && value < 2) {
      ctx_.error(v->mark, m.sub(key),
                 "must be at least 2 for a client that accepts JWTs: each identity (sub) holds "
                 "at most half of it");
    }
  };
  share("max_subscriptions", out.max_subscriptions);
  share("max_in_flight", out.max_in_flight);
  m.finish();
}

void ClientsReader::readApiKeys(const YamlNode& n, const std::string& field, ClientConfig& c) {
  if (n.isNull()) return;
  if (!n.isSequence()) {
    ctx_.error(n.mark, field,
               "expected a list of \"sha256:<hex>\" strings, got a " +
                   std::string(n.isMap() ? "map" : "scalar"));
    return;
  }
  if (n.items.size() > kMaxApiKeysPerClient) {
    ctx_.error(n.mark, field, "more than " + std::to_string(kMaxApiKeysPerClient) + " keys");
    return;
  }
  for (size_t i = 0; i < n.items.size(); ++i) {
    const YamlNode& item = n.items[i];
    const std::string item_field = field + "[" + std::to_string(i) + "]";
    // Never quote the value: it may be a raw key pasted by mistake.
    if (!item.isScalar()) {
      ctx_.error(item.mark, item_field, "expected a \"sha256:<hex>\" string");
      continue;
    }
    if (item.scalar.rfind(policy::kApiKeyPrefix, 0) == 0) {
      ctx_.error(item.mark, item_field,
                 "this looks like a raw API key: store only its sha256: value "
                 "(the second line of `keyward token new`)");
      continue;
    }
    auto digest = policy::parseSha256Ref(item.scalar);
    if (!digest) {
      ctx_.error(
          item.mark, item_field,
          "expected \"sha256:\" followed by 64 lowercase hex digits (the SHA-256 of the key)");
      continue;
    }
    auto [it, inserted] =
        key_owners_.try_emplace(*digest, KeyOwner{c.spec.name, ctx_.loc(item.mark)});
    if (!inserted) {
      ctx_.error(item.mark, item_field,
                 it->second.client == c.spec.name
                     ? "duplicate key (also at " + it->second.loc + ")"
                     : "this key is also used by client " + quote(it->second.client) + " (at " +
                           it->second.loc + ")");
      continue;
    }
    c.api_key_hashes.push_back(*digest);
  }
}

void ClientsReader::readOrigins(const YamlNode& n, const std::string& field, ClientConfig& c) {
  std::vector<std::string> origins;
  if (!readStringList(ctx_, n, field, kMaxPatternsPerList, 512, origins)) return;
  for (size_t i = 0; i < origins.size(); ++i) {
    auto o = normalizeOrigin(origins[i]);
    if (!o) {
      ctx_.error(n.items[i].mark, field + "[" + std::to_string(i) + "]",
                 "expected an origin such as https://app.example.com (scheme and host, optional "
                 "port, no path), got " +
                     quote(origins[i]));
      continue;
    }
    c.allow_origins.push_back(std::move(*o));
  }
}

void ClientsReader::readCredentials(const YamlNode& n, const std::string& field, ClientConfig& c) {
  std::vector<std::string> kinds;
  if (!readStringList(ctx_, n, field, 2, 16, kinds)) return;
  if (kinds.empty()) {
    ctx_.error(n.mark, field,
               "expected at least one of api_key, jwt (an empty list admits nobody)");
    return;
  }
  c.accepts_api_key = false;
  c.accepts_jwt = false;
  for (size_t i = 0; i < kinds.size(); ++i) {
    const YamlNode& item = n.items[i];
    const std::string item_field = field + "[" + std::to_string(i) + "]";
    bool& flag = kinds[i] == "api_key" ? c.accepts_api_key : c.accepts_jwt;
    if (kinds[i] != "api_key" && kinds[i] != "jwt") {
      ctx_.error(item.mark, item_field, "expected api_key or jwt, got " + quote(kinds[i]));
    } else if (flag) {
      ctx_.error(item.mark, item_field, "duplicate credential kind " + quote(kinds[i]));
    } else {
      flag = true;
    }
  }
  if (c.accepts_api_key && c.api_key_hashes.empty()) {
    ctx_.error(n.mark, field, "lists api_key but the client has no api_keys");
  }
}

void ClientsReader::readClient(const YamlNode& n, size_t index, std::vector<ClientConfig>& out) {
  const std::string field = "clients[" + std::to_string(index) + "]";
  MapReader m(ctx_, n, field);
  if (!m.valid()) return;
  ClientConfig c;
  c.location = ctx_.loc(n.mark);
  m.requireKey("name");
  bool name_ok = false;
  if (const YamlNode* v = m.get("name")) {
    if (readString(ctx_, *v, m.sub("name"), c.spec.name, 64)) {
      name_ok = isClientName(c.spec.name);
      if (!name_ok) {
        ctx_.error(v->mark, m.sub("name"),
                   "expected 1-64 characters of A-Z a-z 0-9 . _ -, got " + quote(c.spec.name));
      } else if (auto [it, inserted] = names_.try_emplace(c.spec.name, ctx_.loc(v->mark));
                 !inserted) {
        name_ok = false;
        ctx_.error(
            v->mark, m.sub("name"),
            "duplicate client name " + quote(c.spec.name) + " (first at " + it->second + ")");
      }
    }
  }
  if (const YamlNode* v = m.get("api_keys")) readApiKeys(*v, m.sub("api_keys"), c);
  c.accepts_api_key = !c.api_key_hashes.empty();
  c.accepts_jwt = c.api_key_hashes.empty();
  if (const YamlNode* v = m.get("credentials")) readCredentials(*v, m.sub("credentials"), c);
  for (const ListField& f : policyLists(c.spec)) {
    if (const YamlNode* v = m.get(f.key)) {
      readStringList(ctx_, *v, m.sub(f.key), kMaxPatternsPerList, kMaxPatternBytes, *f.out,
                     &c.element_locations, f.key);
    }
  }
  if (const YamlNode* v = m.getPresent("shadow")) {
    MapReader sm(ctx_, *v, m.sub("shadow"));
    if (sm.valid()) {
      c.has_shadow = true;
      c.shadow = c.spec;
      for (const ListField& f : policyLists(c.shadow)) {
        if (const YamlNode* lv = sm.get(f.key)) {
          f.out->clear();
          readStringList(ctx_, *lv, sm.sub(f.key), kMaxPatternsPerList, kMaxPatternBytes, *f.out,
                         &c.element_locations, std::string("shadow.") + f.key);
        }
      }
      sm.finish();
    }
  }
  if (const YamlNode* v = m.get("allow_ips")) {
    std::vector<std::string> texts;
    if (readStringList(ctx_, *v, m.sub("allow_ips"), kMaxPatternsPerList, 64, texts)) {
      for (size_t i = 0; i < texts.size(); ++i) {
        auto cidr = parseCidr(texts[i]);
        if (!cidr) {
          ctx_.error(v->items[i].mark, m.sub("allow_ips") + "[" + std::to_string(i) + "]",
                     cidr.error().message);
        } else {
          c.allow_ips.push_back(std::move(*cidr));
        }
      }
    }
  }
  if (const YamlNode* v = m.get("allow_origins")) readOrigins(*v, m.sub("allow_origins"), c);
  if (const YamlNode* v = m.getPresent("limits"))
    readLimits(*v, m.sub("limits"), c.accepts_jwt, c.limits);
  m.finish();
  if (name_ok) out.push_back(std::move(c));  // a later snapshot build needs unique names
}

}  // namespace

void readClients(Ctx& ctx, const YamlNode& n, std::vector<ClientConfig>& out) {
  if (!n.isSequence()) {
    ctx.error(n.mark, "clients", "expected a list of clients, got " + kindName(n));
    return;
  }
  if (n.items.empty()) {
    ctx.error(n.mark, "clients", "at least one client is required");
    return;
  }
  if (n.items.size() > kMaxClients) {
    ctx.error(n.mark, "clients", "more than " + std::to_string(kMaxClients) + " clients");
    return;
  }
  ClientsReader reader(ctx);
  out.reserve(n.items.size());
  for (size_t i = 0; i < n.items.size(); ++i) reader.readClient(n.items[i], i, out);
}

}  // namespace kw::conf
