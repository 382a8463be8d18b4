// `keyward check`: every loader error plus file, certificate, signing-key and policy checks.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <sstream>

#include "conf/loader.h"
#include "conf/schema.h"
#include "conf/snapshot.h"
#include "policy/command_table.h"

namespace kw::conf {
namespace {

constexpr size_t kMaxPemBytes = size_t{1024} * 1024;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

// The classes the policy never forwards, whatever the rules (docs/command-classes.md), by the
// reason name the access log uses; nullptr when `traits` has none of them.
const char* neverForwardedClass(uint32_t traits) {
  if ((traits & policy::kUnsupported) != 0) return "unsupported";
  if ((traits & policy::kConnectionState) != 0) return "connection_state";
  if ((traits & policy::kBlocking) != 0) return "blocking";
  if ((traits & policy::kIntrospection) != 0) return "introspection";
  return nullptr;
}

// Why `+name` can grant nothing: the command's class, or for a container (`+cluster`) its own
// class or, when every one of its subcommands is never forwarded, their classes ("a, b").
// Empty when the command can be forwarded (or is unknown: the policy compile reports that).
std::string neverForwarded(std::string_view name) {
  const size_t bar = name.find('|');
  const policy::CommandInfo* info = policy::findCommand(name.substr(0, bar));
  if (info != nullptr && bar != std::string_view::npos) {
    info = policy::findSubcommand(*info, name.substr(bar + 1));
  }
  if (info == nullptr) return {};
  if (const char* cls = neverForwardedClass(info->traits)) return cls;
  if ((info->traits & policy::kContainer) == 0) return {};
  std::vector<std::string_view> classes;
  bool any = false;
  for (const policy::CommandInfo& sub : policy::allCommands()) {
    if (sub.parent != info->id || sub.id == info->id) continue;
    const char* cls = neverForwardedClass(sub.traits);
    if (cls == nullptr) return {};
    any = true;
    if (std::find(classes.begin(), classes.end(), cls) == classes.end()) classes.push_back(cls);
  }
  std::string out;
  for (std::string_view c : classes) out += (out.empty() ? "" : ", ") + std::string(c);
  return any ? out : std::string();
}

class Checker {
 public:
  Checker(const Config& cfg, std::vector<std::string>& errors, std::vector<std::string>* warnings)
      : cfg_(cfg), errors_(errors), warnings_(warnings) {}

  std::string where(std::string_view field) const {
    for (const auto& [name, loc] : cfg_.path_locations) {
      if (name == field) return loc;
    }
    return cfg_.source + ":1:1";
  }
  void fail(std::string_view field, const std::string& message) {
    errors_.push_back(where(field) + ": " + std::string(field) + ": " + oneLine(message));
  }

  // Reads a file named by `field`; false (with an error) when missing, unreadable or too big.
  bool readable(std::string_view field, const std::string& path, std::string* content) {
    if (path.empty()) return false;  // already reported by the loader
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      fail(field, path + " does not exist");
      return false;
    }
    if (std::filesystem::is_directory(path, ec)) {
      fail(field, path + " is a directory");
      return false;
    }
    if (::access(path.c_str(), R_OK) != 0) {
      fail(field, path + " is not readable");
      return false;
    }
    if (content == nullptr) return true;
    std::string why;
    if (!readRegularFile(path, kMaxPemBytes, *content, why)) {
      fail(field, "cannot read " + path + ": " + why);
      return false;
    }
    return true;
  }

  void directoryOf(std::string_view field, const std::string& path) {
    std::error_code ec;
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    if (!std::filesystem::is_directory(dir, ec)) {
      fail(field, "directory " + dir.string() + " does not exist");
    } else if (::access(dir.c_str(), W_OK) != 0) {
      fail(field, "directory " + dir.string() + " is not writable");
    }
  }

  // Certificates in `pem` (at least one); returns the first.
  std::unique_ptr<X509, X509Free> certificates(std::string_view field, const std::string& path,
                                               const std::string& pem) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    std::unique_ptr<X509, X509Free> first(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    ERR_clear_error();
    if (!first) fail(field, path + " holds no PEM certificate");
    return first;
  }

  void checkTls() {
    if (!cfg_.listen.tls) return;
    const TlsConfig& tls = *cfg_.listen.tls;
    std::string cert_pem;
    std::string key_pem;
    std::unique_ptr<X509, X509Free> cert;
    if (readable("listen.tls.cert_file", tls.cert_file, &cert_pem)) {
      cert = certificates("listen.tls.cert_file", tls.cert_file, cert_pem);
    }
    if (readable("listen.tls.key_file", tls.key_file, &key_pem)) {
      std::unique_ptr<BIO, BioFree> bio(
          BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
      std::unique_ptr<EVP_PKEY, PkeyFree> key(
          PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
      ERR_clear_error();
      if (!key) {
        fail("listen.tls.key_file", tls.key_file + " holds no PEM private key (unencrypted)");
      } else if (cert && X509_check_private_key(cert.get(), key.get()) != 1) {
        fail("listen.tls.key_file", tls.key_file + " does not match the certificate");
      }
      ERR_clear_error();
      OPENSSL_cleanse(key_pem.data(), key_pem.size());
    }
    std::string ca_pem;
    if (!tls.client_ca_file.empty() &&
        readable("listen.tls.client_ca_file", tls.client_ca_file, &ca_pem)) {
      certificates("listen.tls.client_ca_file", tls.client_ca_file, ca_pem);
    }
  }

  void run() {
    checkTls();
    std::string pem;
    if (!cfg_.upstream.ca_file.empty() &&
        readable("upstream.ca_file", cfg_.upstream.ca_file, &pem)) {
      certificates("upstream.ca_file", cfg_.upstream.ca_file, pem);
    }
    const std::string& revoked = cfg_.signing.revoked_file;
    std::error_code ec;
    if (!revoked.empty()) {
      if (std::filesystem::exists(revoked, ec)) {
        if (readable("signing.revoked_file", revoked, nullptr)) {
          auto list = loadRevokedFile(revoked);
          if (!list) fail("signing.revoked_file", list.error().message);
        }
      } else {
        directoryOf("signing.revoked_file", revoked);
      }
    }
    if (!cfg_.quota.state_file.empty()) directoryOf("quota.state_file", cfg_.quota.state_file);
    if (!cfg_.audit.file.empty()) directoryOf("audit.file", cfg_.audit.file);
    if (warnings_ != nullptr) {
      for (const ClientConfig& c : cfg_.clients) grantsThatDoNothing(c);
    }
  }

  // A `commands` rule naming a command of a never-forwarded class explicitly (`+script|debug`,
  // `+wait`) is valid but grants nothing: say so, so the operator does not wait for it to work.
  // Categories (`+@connection`) grant other commands too and are not reported.
  void grantsThatDoNothing(const ClientConfig& c) {
    for (size_t i = 0; i < c.spec.commands.size(); ++i) {
      const std::string& rule = c.spec.commands[i];
      if (rule.size() < 2 || rule[0] != '+' || rule[1] == '@') continue;
      const std::string cls = neverForwarded(std::string_view(rule).substr(1));
      if (cls.empty()) continue;
      std::string loc = c.location.empty() ? cfg_.source + ":1:1" : c.location;
      const std::string key = "commands[" + std::to_string(i) + "]";
      for (const auto& [name, l] : c.element_locations) {
        if (name == key) loc = l;
      }
      warnings_->push_back(loc + ": warning: " + oneLine(rule) + " is never forwarded (" + cls +
                           ")");
    }
    // keyward checks a script's declared keys only; the script itself can touch any key and
    // SELECT any database. A wildcard grants that to any code the client sends.
    const std::pair<const char*, const std::vector<std::string>*> code[] = {
        {"scripts", &c.spec.scripts}, {"functions", &c.spec.functions}};
    for (const auto& [field, list] : code) {
      for (size_t i = 0; i < list->size(); ++i) {
        if ((*list)[i] != "*") continue;
        std::string loc = c.location.empty() ? cfg_.source + ":1:1" : c.location;
        const std::string key = std::string(field) + "[" + std::to_string(i) + "]";
        for (const auto& [name, l] : c.element_locations) {
          if (name == key) loc = l;
        }
        warnings_->push_back(loc + ": warning: " + field +
                             " \"*\" runs any code the client sends: it can reach keys outside "
                             "its grants and other databases; list what it may run instead");
      }
      // A script that names no key under encryption.patterns is not checked against them: it
      // can read the stored ciphertext or write plaintext there (attack-run finding).
      if (!list->empty() && !cfg_.encryption.patterns.empty()) {
        std::string loc = c.location.empty() ? cfg_.source + ":1:1" : c.location;
        const std::string key = std::string(field) + "[0]";
        for (const auto& [name, l] : c.element_locations) {
          if (name == key) loc = l;
        }
        warnings_->push_back(loc + ": warning: " + field +
                             " can reach keys under encryption.patterns without naming them: "
                             "they would read ciphertext or write plaintext there");
      }
    }
  }

 private:
  const Config& cfg_;
  std::vector<std::string>& errors_;
  std::vector<std::string>* warnings_;
};

}  // namespace

std::vector<std::string> checkConfigFile(const std::string& path, const EnvLookup& env,
                                         std::vector<std::string>* warnings) {
  Config cfg;
  std::vector<std::string> errors = loadFileInto(path, env, cfg);
  if (!errors.empty() && cfg.source.empty()) return errors;  // the file itself is unreadable
  Checker(cfg, errors, warnings).run();
  if (warnings != nullptr) sortByLocation(*warnings, path);
  auto snap = buildSnapshot(cfg);
  if (!snap) {
    std::istringstream lines(snap.error().message);
    std::string line;
    while (std::getline(lines, line)) errors.push_back(line);
  }
  sortByLocation(errors, path);
  return errors;
}

std::vector<std::string> checkConfigFile(const std::string& path,
                                         std::vector<std::string>* warnings) {
  return checkConfigFile(path, processEnv(), warnings);
}

}  // namespace kw::conf
