// Reads audit files in pieces and hands their lines to the chain verifier.
#include "proxy/tools/audit_verify_command.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "conf/schema.h"
#include "proxy/tools/audit_chain_verifier.h"

namespace kw::proxy {

namespace {

constexpr size_t kMaxLine = size_t{64} << 20;  // longer is not a record keyward wrote

// Feeds `path`'s lines to `v`; false (with a message in `why`) when it cannot be read.
// `name`: how findings name the file.
bool feedFile(const std::string& path, const std::string& name, AuditChainVerifier& v,
              std::string& why) {
  const int fd = conf::openRegularFile(path, why);
  if (fd < 0) return false;
  v.beginFile(name);
  std::string pending;
  std::string buf(size_t{1} << 20, '\0');
  bool going = true;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      why = std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (n == 0 || !going) break;
    std::string_view chunk(buf.data(), static_cast<size_t>(n));
    size_t nl;
    while (going && (nl = chunk.find('\n')) != std::string_view::npos) {
      if (pending.empty()) {
        going = v.line(chunk.substr(0, nl));
      } else {
        pending.append(chunk.substr(0, nl));
        going = v.line(pending);
        pending.clear();
      }
      chunk.remove_prefix(nl + 1);
    }
    if (!going) break;
    if (pending.size() + chunk.size() > kMaxLine) {
      v.lineTooLong();
      going = false;
      break;
    }
    pending.append(chunk);
  }
  ::close(fd);
  if (going && !pending.empty()) v.unterminatedLine();
  return true;
}

}  // namespace

int runAuditVerify(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err) {
  if (paths.empty()) {
    err << "keyward audit verify: name the audit files, oldest first\n";
    return 2;
  }
  AuditChainVerifier verifier;
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string& path = paths[i];
    // A file given twice is named by its place too, or "a copy of f:1" could name itself.
    const bool repeated = std::count(paths.begin(), paths.end(), path) > 1;
    const std::string name = repeated ? path + " (argument " + std::to_string(i + 1) + ")" : path;
    std::string why;
    if (!feedFile(path, name, verifier, why)) {
      err << "keyward audit verify: cannot read " << path << ": " << why << "\n";
      return 2;
    }
  }
  const AuditChainVerifier::Verdict v = verifier.finish();
  if (!v.ok) {
    out << "broken: " << v.problem << "\n";
    return 1;
  }
  out << "ok: " << v.records << " records\n";
  if (!v.notes.empty()) err << v.notes;
  return 0;
}

}  // namespace kw::proxy
