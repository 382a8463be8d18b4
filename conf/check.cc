// `keyward check`: every loader error plus file, certificate, signing-key and policy checks.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <sstream>

#include "conf/loader.h"
#include "conf/schema.h"
#include "conf/snapshot.h"

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

class Checker {
 public:
  Checker(const Config& cfg, std::vector<std::string>& errors) : cfg_(cfg), errors_(errors) {}

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
    for (size_t i = 0; i < cfg_.signing.keys.size(); ++i) {
      const SigningKeyConfig& k = cfg_.signing.keys[i];
      const std::string field = "signing.keys[" + std::to_string(i) + "].public_key_file";
      // buildSnapshot loads the private key when there is one; the public one is checked here.
      if (k.private_key_file.empty() || k.public_key_file.empty()) continue;
      if (readable(field, k.public_key_file, &pem)) {
        auto key = policy::JwtKey::fromPem(k.id, pem, false);
        if (!key) fail(field, k.public_key_file + ": " + key.error().message);
      }
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
  }

 private:
  const Config& cfg_;
  std::vector<std::string>& errors_;
};

}  // namespace

std::vector<std::string> checkConfigFile(const std::string& path, const EnvLookup& env) {
  Config cfg;
  std::vector<std::string> errors = loadFileInto(path, env, cfg);
  if (!errors.empty() && cfg.source.empty()) return errors;  // the file itself is unreadable
  Checker(cfg, errors).run();
  auto snap = buildSnapshot(cfg);
  if (!snap) {
    std::istringstream lines(snap.error().message);
    std::string line;
    while (std::getline(lines, line)) errors.push_back(line);
  }
  sortByLocation(errors, path);
  return errors;
}

std::vector<std::string> checkConfigFile(const std::string& path) {
  return checkConfigFile(path, processEnv());
}

}  // namespace kw::conf
