// File walking and reading for `keyward scan`: regular files only (a FIFO or device would
// hang or never end), no symlinks followed inside directories (loops, escapes), binary files
// skipped by a NUL byte in their first 8 KiB, everything read in 1 MiB pieces.
#include "proxy/scan/scan_command.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <unordered_set>

#include "conf/loader.h"
#include "conf/snapshot.h"
#include "policy/ascii.h"
#include "policy/credentials.h"
#include "proxy/admin/token_admin.h"
#include "proxy/codec/json_escape.h"
#include "proxy/scan/credential_verdict.h"
#include "scan/redact.h"

namespace kw::proxy {
namespace {

constexpr size_t kReadBytes = size_t{1} << 20;
constexpr size_t kBinaryProbeBytes = 8192;
constexpr size_t kMaxDepth = 128;
// Directories of other tools' data: git objects are compressed, node_modules are third parties'.
constexpr std::string_view kSkippedDirs[] = {".git", "node_modules"};

std::string utcTime(int64_t s) {
  char buf[32];
  const time_t t = static_cast<time_t>(s);
  struct tm tm {};
  gmtime_r(&t, &tm);
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

class Scan {
 public:
  Scan(const ScanRequest& request, std::ostream& err, ScanReport& report,
       const conf::Snapshot* snapshot, std::unordered_set<std::string> revoked)
      : request_(request),
        err_(err),
        report_(report),
        snapshot_(snapshot),
        revoked_(std::move(revoked)),
        buffer_(new char[kReadBytes]) {}

  void path(const std::string& p, bool named, size_t depth) {
    struct stat st {};
    if ((named ? ::stat(p.c_str(), &st) : ::lstat(p.c_str(), &st)) != 0) {
      error(p, std::strerror(errno));
      return;
    }
    if (S_ISDIR(st.st_mode)) {
      directory(p, depth);
    } else if (S_ISREG(st.st_mode)) {
      file(p, named);
    } else if (named) {
      // Named on the command line and not scanned: the scan is incomplete (attack round 24: a
      // FIFO named there was "1 skipped", exit 0).
      error(p, "not a regular file or directory");
    } else {
      ++summary_.skipped;  // symlinks met in a walk, FIFOs, sockets, devices
    }
  }

  ScanSummary& summary() { return summary_; }

 private:
  void error(const std::string& p, std::string_view why) {
    ++summary_.errors;
    err_ << "keyward scan: " << ascii::controlsReplaced(p) << ": " << why << "\n";
  }

  void directory(const std::string& p, size_t depth) {
    if (depth >= kMaxDepth) {
      error(p, "directories nested too deeply");
      return;
    }
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(p.c_str()), ::closedir);
    if (!dir) {
      error(p, std::strerror(errno));
      return;
    }
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(dir.get())) {
      const std::string_view n = e->d_name;
      if (n == "." || n == "..") continue;
      if (std::find(std::begin(kSkippedDirs), std::end(kSkippedDirs), n) !=
          std::end(kSkippedDirs)) {
        continue;
      }
      names.emplace_back(n);
    }
    dir.reset();
    std::sort(names.begin(), names.end());  // the same order on every machine
    const std::string prefix = p.empty() || p.back() == '/' ? p : p + "/";
    for (const auto& n : names) path(prefix + n, false, depth + 1);
  }

  void file(const std::string& p, bool named) {
    // O_NONBLOCK: opening a FIFO swapped in after the stat must not wait for a writer.
    const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (named ? 0 : O_NOFOLLOW);
    const int fd = ::open(p.c_str(), flags);
    if (fd < 0) {
      error(p, std::strerror(errno));
      return;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      if (named) {
        error(p, "not a regular file");
      } else {
        ++summary_.skipped;
      }
      return;
    }
    scan::LeakScanner::Options options;
    options.source_map = p.size() > 4 && p.substr(p.size() - 4) == ".map";
    scan::LeakScanner scanner([&](const scan::Found& f) { found(p, f); }, options);
    bool first = true;
    for (;;) {
      const ssize_t n = ::read(fd, buffer_.get(), kReadBytes);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error(p, std::strerror(errno));
        ::close(fd);
        return;
      }
      if (n == 0) break;
      const std::string_view bytes(buffer_.get(), static_cast<size_t>(n));
      if (first && std::memchr(bytes.data(), '\0', std::min(bytes.size(), kBinaryProbeBytes))) {
        ::close(fd);
        ++summary_.skipped;
        return;
      }
      first = false;
      summary_.bytes += bytes.size();
      scanner.feed(bytes);
    }
    ::close(fd);
    scanner.finish();
    ++summary_.files;
  }

  void found(const std::string& file, const scan::Found& f) {
    ++summary_.findings;
    ReportedFinding r;
    r.file = file;
    r.found = &f;
    r.preview = scan::redactedPreview(f.kind, f.secret);
    if (snapshot_ != nullptr) judge(f, r);
    if (request_.revoke) upstreamAdvice(f.kind, r);
    report_.finding(r);
  }

  void judge(const scan::Found& f, ReportedFinding& r) {
    if (f.kind != scan::FindingKind::KeywardKey && f.kind != scan::FindingKind::Jwt) return;
    const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    const CredentialVerdict v = judgeCredential(f.kind, f.secret, *snapshot_, now_s, revoked_);
    r.state = std::string(credentialStateName(v.state));
    r.client = v.client;
    if (f.kind == scan::FindingKind::KeywardKey) {
      r.detail = v.reason;
      if (!v.client.empty()) {
        r.action = "remove \"sha256:" + policy::sha256Hex(f.secret) + "\" from client " + v.client +
                   "'s api_keys in " + request_.config_path + ", then reload keyward";
      }
      return;
    }
    if (!v.jti.empty()) r.detail = "jti " + v.jti;
    if (v.exp != 0) r.detail += std::string(r.detail.empty() ? "" : ", ") + "exp " + utcTime(v.exp);
    if (!v.reason.empty()) r.detail += std::string(r.detail.empty() ? "" : ", ") + v.reason;
    const bool usable = v.state == CredentialState::Live || v.state == CredentialState::NotYetValid;
    if (!usable) return;
    if (v.jti.empty()) {
      r.action = "this token has no jti and cannot be revoked alone: replace signing key " +
                 std::string("and reload keyward before it expires");
      return;
    }
    if (!request_.revoke) {
      r.action = "revoke it: keyward scan --config " + request_.config_path +
                 " --revoke, or POST /v1/tokens/revoke {\"jti\":\"" + v.jti + "\"}";
      return;
    }
    revoke(v.jti, r);
  }

  // The admin endpoint's own writer: the same checks, the same atomic append.
  void revoke(const std::string& jti, ReportedFinding& r) {
    std::string body = "{\"jti\":";
    codec::appendJsonString(body, jti);
    body += "}";
    const TokenAdminResponse done = revokeTokenRequest(*snapshot_, body);
    if (done.status != 200) {
      ++summary_.errors;
      r.action = "revocation failed: " + done.body;
      return;
    }
    revoked_.insert(jti);
    r.state = "revoked";
    r.action = "revoked: jti " + jti + " appended to " + snapshot_->config().signing.revoked_file +
               " (keyward applies it within a second)";
  }

  static void upstreamAdvice(scan::FindingKind kind, ReportedFinding& r) {
    switch (kind) {
      case scan::FindingKind::UpstashToken:
      case scan::FindingKind::UpstashVariable:
        r.action =
            "reset it in the Upstash console (the database's Reset Credentials), then give "
            "keyward the new token (upstream.token) and reload";
        return;
      case scan::FindingKind::RedisUrl:
        r.action = "change that Redis user's password (ACL SETUSER or requirepass)";
        return;
      case scan::FindingKind::PublicVariable:
        if (r.action.empty()) {
          r.action =
              "rotate it, and keep it out of public build variables (give browsers a "
              "keyward token instead)";
        }
        return;
      case scan::FindingKind::KeywardKey:
      case scan::FindingKind::Jwt:
        return;
    }
  }

  const ScanRequest& request_;
  std::ostream& err_;
  ScanReport& report_;
  const conf::Snapshot* snapshot_;
  std::unordered_set<std::string> revoked_;
  std::unique_ptr<char[]> buffer_;
  ScanSummary summary_;
};

}  // namespace

int runScan(const ScanRequest& request, std::ostream& out, std::ostream& err,
            std::string_view version) {
  if (request.paths.empty()) {
    err << "keyward scan: no PATH given\n";
    return 2;
  }
  if (request.revoke && request.config_path.empty()) {
    err << "keyward scan: --revoke needs --config FILE\n";
    return 2;
  }
  conf::SnapshotConstSharedPtr snapshot;
  std::unordered_set<std::string> revoked;
  if (!request.config_path.empty()) {
    auto cfg = conf::loadConfigFile(request.config_path);
    if (!cfg) {
      err << cfg.error().message << "\nkeyward scan: invalid configuration: " << request.config_path
          << "\n";
      return 2;
    }
    auto snap = conf::buildSnapshot(std::move(*cfg));
    if (!snap) {
      err << snap.error().message
          << "\nkeyward scan: invalid configuration: " << request.config_path << "\n";
      return 2;
    }
    snapshot = std::move(*snap);
    if (const std::string& f = snapshot->config().signing.revoked_file; !f.empty()) {
      auto list = conf::loadRevokedFile(f);
      if (!list) {
        err << "keyward scan: cannot read signing.revoked_file: " << list.error().message << "\n";
        return 2;
      }
      revoked = std::move(*list);
    }
  }
  auto report = makeScanReport(request.format, out, err, version);
  Scan scan(request, err, *report, snapshot.get(), std::move(revoked));
  for (const auto& p : request.paths) scan.path(p, true, 0);
  const ScanSummary& s = scan.summary();
  report->end(s);
  if (s.errors != 0) return 2;
  return s.findings != 0 ? 1 : 0;
}

}  // namespace kw::proxy
