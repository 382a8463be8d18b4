// The audit writer: the chain from the genesis or from an existing file's last line, rotation by
// reopen, failed opens and writes retried without a loss, bounded buffering with gap records.
#include "proxy/io/audit_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "proxy/codec/audit_chain.h"
#include "proxy/tools/audit_verify_command.h"

namespace kw::proxy {
namespace {

using namespace std::chrono_literals;

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/kw-audit-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::vector<std::string> linesOf(const std::string& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string record(int i) { return "{\"n\":" + std::to_string(i) + "}"; }

// `keyward audit verify` on `files`: (exit status, stdout).
std::pair<int, std::string> verify(const std::vector<std::string>& files) {
  std::ostringstream out;
  std::ostringstream err;
  const int rc = runAuditVerify(files, out, err);
  return {rc, out.str()};
}

std::unique_ptr<AuditLog> openLog(const std::string& path, bool refuse = true,
                                  size_t max_buffered = size_t{16} << 20) {
  AuditLog::Options o;
  o.path = path;
  o.refuse = refuse;
  o.max_buffered_bytes = max_buffered;
  o.retry_every = 20ms;
  auto log = AuditLog::open(o);
  EXPECT_TRUE(log) << (log ? "" : log.error().message);
  return log ? std::move(*log) : nullptr;
}

TEST(AuditChain, RecordsChainFromTheGenesis) {
  EXPECT_EQ(codec::chainRecord("{\"a\":1}", "ab"), "{\"a\":1,\"prev\":\"ab\"}");
  EXPECT_EQ(codec::chainRecord("{}", "ab"), "{\"prev\":\"ab\"}");
  const std::string line = codec::chainRecord("{\"a\":1}", codec::auditGenesisHex());
  ASSERT_TRUE(codec::auditPrevOf(line));
  EXPECT_EQ(*codec::auditPrevOf(line), codec::auditGenesisHex());
  // sha256("keyward-audit-v1"), as any other tool computes it.
  EXPECT_EQ(codec::auditGenesisHex().size(), 64u);
  EXPECT_FALSE(codec::auditPrevOf("{\"prev\":\"AB\"}"));
  EXPECT_FALSE(codec::auditPrevOf("{\"x\":1}"));
  EXPECT_FALSE(codec::auditPrevOf(std::string("{\"prev\":\"") + std::string(64, 'g') + "\"}"));
}

TEST(AuditLog, WritesChainedLinesThatVerify) {
  TempDir d;
  const std::string f = d.path + "/audit.jsonl";
  auto log = openLog(f);
  for (int i = 0; i < 100; ++i) log->append(record(i), true);
  ASSERT_TRUE(log->flush(5s));
  const auto lines = linesOf(f);
  ASSERT_EQ(lines.size(), 100u);
  EXPECT_EQ(*codec::auditPrevOf(lines[0]), codec::auditGenesisHex());
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(*codec::auditPrevOf(lines[i]), codec::auditDigestHex(lines[i - 1]));
  }
  EXPECT_EQ(log->stats().written, 100u);
  EXPECT_EQ(log->stats().head, codec::auditDigestHex(lines.back()));
  EXPECT_EQ(verify({f}), std::make_pair(0, std::string("ok: 100 records\n")));
}

TEST(AuditLog, ReopenAfterRenameStartsANewFileOnTheSameChain) {
  TempDir d;
  const std::string f = d.path + "/audit.jsonl";
  auto log = openLog(f);
  for (int i = 0; i < 10; ++i) log->append(record(i), true);
  ASSERT_TRUE(log->flush(5s));
  std::filesystem::rename(f, f + ".1");
  log->reopen();
  for (int i = 10; i < 15; ++i) log->append(record(i), true);
  ASSERT_TRUE(log->flush(5s));
  const auto old_lines = linesOf(f + ".1");
  const auto new_lines = linesOf(f);
  ASSERT_EQ(old_lines.size(), 10u);
  ASSERT_EQ(new_lines.size(), 5u);
  EXPECT_EQ(*codec::auditPrevOf(new_lines[0]), codec::auditDigestHex(old_lines.back()));
  EXPECT_EQ(verify({f + ".1", f}).first, 0);
  EXPECT_EQ(verify({f, f + ".1"}).first, 1);  // out of order
  // The same file twice: each place is named apart.
  const auto [rc, out] = verify({f + ".1", f, f});
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("audit.jsonl (argument 3):1: inserted (a copy of "), std::string::npos) << out;
  EXPECT_NE(out.find("audit.jsonl (argument 2):1)"), std::string::npos) << out;
}

TEST(AuditLog, ADeletedOrRenamedFileIsFollowedWithoutASighup) {
  TempDir d;
  const std::string f = d.path + "/audit.jsonl";
  auto log = openLog(f);
  for (int i = 0; i < 3; ++i) log->append(record(i), true);
  ASSERT_TRUE(log->flush(5s));
  std::filesystem::remove(f);  // deleted while open (found by the attack run)
  for (int i = 3; i < 5; ++i) log->append(record(i), true);
  ASSERT_TRUE(log->flush(5s));
  ASSERT_EQ(linesOf(f).size(), 2u);  // in a new file at the path, not the deleted inode
  auto events = log->takeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], std::make_pair(std::string("audit_file_reopened"),
                                      std::string("the open file was deleted")));
  // Renamed without a SIGHUP: within a second the name is followed.
  std::filesystem::rename(f, f + ".1");
  std::this_thread::sleep_for(1100ms);
  for (int i = 5; i < 7; ++i) log->append(record(i), true);
  ASSERT_TRUE(log->flush(5s));
  EXPECT_EQ(linesOf(f).size(), 2u);
  EXPECT_EQ(verify({f + ".1", f}).first, 0);
}

TEST(AuditLog, ARestartContinuesFromTheLastLine) {
  TempDir d;
  const std::string f = d.path + "/audit.jsonl";
  {
    auto log = openLog(f);
    for (int i = 0; i < 3; ++i) log->append(record(i), true);
  }  // closed: everything written
  {
    auto log = openLog(f);
    log->append(record(3), true);
  }
  EXPECT_EQ(verify({f}), std::make_pair(0, std::string("ok: 4 records\n")));
}

TEST(AuditLog, ARecordCutShortByACrashIsMarkedAndVerifyChecksPastIt) {
  TempDir d;
  const std::string f = d.path + "/audit.jsonl";
  {
    auto log = openLog(f);
    log->append(record(0), true);
  }
  std::ofstream(f, std::ios::app) << "{\"cut\":";  // a crash mid-write
  {
    auto log = openLog(f);
    log->append(record(1), true);
  }
  const auto lines = linesOf(f);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[1], "{\"cut\":");
  // The marker chains to the last whole record and names the torn bytes.
  EXPECT_NE(lines[2].find("\"event\":\"audit_torn\",\"lines\":[{\"bytes\":7,\"sha256\":\"" +
                          codec::auditDigestHex(lines[1]) + "\"}]"),
            std::string::npos)
      << lines[2];
  EXPECT_EQ(*codec::auditPrevOf(lines[2]), codec::auditDigestHex(lines[0]));
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(runAuditVerify({f}, out, err), 0);
  EXPECT_EQ(out.str(), "ok: 3 records\n");
  EXPECT_NE(err.str().find("audit.jsonl:2: a record cut short by a crash (7 bytes), marked by"),
            std::string::npos)
      << err.str();
  // Anything else in that place is still a break.
  std::ofstream(f + ".x") << lines[0] << "\n" << lines[1] << "\n" << lines[3] << "\n";
  EXPECT_EQ(verify({f + ".x"}).first, 1);
}

TEST(AuditLog, TwoCrashesInARowStillStartAndVerify) {
  // Found by the second attack run: a crash that also cut the marker of the first.
  TempDir d;
  const std::string f = d.path + "/audit.jsonl";
  {
    auto log = openLog(f);
    log->append(record(0), true);
  }
  std::ofstream(f, std::ios::app) << "{\"cut\":\n{\"time\":\"2026";
  {
    auto log = openLog(f);
    log->append(record(1), true);
  }
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(runAuditVerify({f}, out, err), 0) << out.str();
  EXPECT_EQ(out.str(), "ok: 3 records\n");
  EXPECT_NE(err.str().find("audit.jsonl:3: a record cut short"), std::string::npos) << err.str();
}

TEST(AuditLog, AWholeRecordMissingOnlyItsNewlineIsKept) {
  // Found by the second attack run: serve and verify must agree that it is a record.
  TempDir d;
  const std::string f = d.path + "/audit.jsonl";
  {
    auto log = openLog(f);
    for (int i = 0; i < 2; ++i) log->append(record(i), true);
  }
  std::filesystem::resize_file(f, std::filesystem::file_size(f) - 1);  // the last '\n' lost
  {
    auto log = openLog(f);
    log->append(record(2), true);
    ASSERT_TRUE(log->flush(5s));
    EXPECT_EQ(log->stats().written, 1u);
  }
  EXPECT_EQ(verify({f}), std::make_pair(0, std::string("ok: 3 records\n")));
}

TEST(AuditLog, ALastLineThatIsNotARecordRefusesTheStart) {
  TempDir d;
  const std::string f = d.path + "/audit.jsonl";
  std::ofstream(f) << "some other log\n";
  AuditLog::Options o;
  o.path = f;
  auto log = AuditLog::open(o);
  ASSERT_FALSE(log);
  EXPECT_NE(log.error().message.find("its last line is not an audit record; move it aside"),
            std::string::npos);
}

TEST(AuditLog, AMissingDirectoryRefusesUntilItExistsAndLosesNothing) {
  TempDir d;
  const std::string dir = d.path + "/later";
  const std::string f = dir + "/audit.jsonl";
  auto log = openLog(f, true);
  EXPECT_FALSE(log->accepting());
  EXPECT_TRUE(log->stats().failing);
  log->append(record(0), true);  // a request admitted before the failure was known
  EXPECT_FALSE(log->flush(100ms));
  auto events = log->takeEvents();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].first, "audit_write_failed");
  std::filesystem::create_directory(dir);
  ASSERT_TRUE(log->flush(5s));
  EXPECT_TRUE(log->accepting());
  EXPECT_FALSE(log->stats().failing);
  EXPECT_EQ(linesOf(f).size(), 1u);
  events = log->takeEvents();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().first, "audit_recovered");
}

TEST(AuditLog, AFailedWriteIsRetriedIntoTheReplacementFile) {
  TempDir d;
  const std::string f = d.path + "/audit.jsonl";
  std::filesystem::create_symlink("/dev/full", f);  // every write fails with ENOSPC
  auto log = openLog(f, true);
  EXPECT_TRUE(log->accepting());  // opened fine
  for (int i = 0; i < 5; ++i) log->append(record(i), true);
  EXPECT_FALSE(log->flush(200ms));
  EXPECT_FALSE(log->accepting());
  EXPECT_GE(log->stats().failures, 1u);
  std::filesystem::remove(f);
  std::ofstream(f).close();
  ASSERT_TRUE(log->flush(5s));
  EXPECT_TRUE(log->accepting());
  EXPECT_EQ(verify({f}), std::make_pair(0, std::string("ok: 5 records\n")));
}

TEST(AuditLog, ContinueModeDropsPastTheBoundAndMarksTheGap) {
  TempDir d;
  const std::string dir = d.path + "/later";
  const std::string f = dir + "/audit.jsonl";
  auto log = openLog(f, false, 64);  // room for a few records
  EXPECT_TRUE(log->accepting());     // continue: never refuses
  for (int i = 0; i < 20; ++i) log->append(record(i), true);
  EXPECT_GT(log->stats().dropped, 0u);
  const uint64_t dropped = log->stats().dropped;
  std::filesystem::create_directory(dir);
  ASSERT_TRUE(log->flush(5s));
  log->append(record(99), true);  // after the gap
  ASSERT_TRUE(log->flush(5s));
  const auto lines = linesOf(f);
  bool gap = false;
  for (const auto& l : lines) {
    gap = gap || l.find("\"event\":\"audit_gap\",\"dropped\":" + std::to_string(dropped)) !=
                     std::string::npos;
  }
  EXPECT_TRUE(gap) << lines.size();
  EXPECT_EQ(lines.size(), 20 - dropped + 1 + 1);  // kept, the gap record, the last one
  EXPECT_EQ(verify({f}).first, 0);
}

TEST(AuditLog, RefuseModeStopsAcceptingWhenTheBufferFillsButKeepsWhatRan) {
  TempDir d;
  const std::string dir = d.path + "/later";
  const std::string f = dir + "/audit.jsonl";
  auto log = openLog(f, true, 64);
  for (int i = 0; i < 10; ++i) log->append(record(i), true);  // requests that ran
  log->append(record(100), false);                            // a 503 for the audit log itself
  EXPECT_FALSE(log->accepting());
  EXPECT_EQ(log->stats().dropped, 1u);
  std::filesystem::create_directory(dir);
  ASSERT_TRUE(log->flush(5s));
  const auto lines = linesOf(f);
  ASSERT_EQ(lines.size(), 10u);  // every one that ran; the 503's record is the pending gap
  EXPECT_TRUE(log->accepting());
  EXPECT_EQ(log->close(5s), 0u);
  EXPECT_EQ(linesOf(f).size(), 11u);  // the gap record written at close
  EXPECT_NE(linesOf(f).back().find("audit_gap"), std::string::npos);
  EXPECT_EQ(verify({f}).first, 0);
}

TEST(AuditLog, AFifoWithoutAReaderNeverHangsTheStart) {
  TempDir d;
  const std::string f = d.path + "/audit.fifo";
  ASSERT_EQ(::mkfifo(f.c_str(), 0600), 0);
  auto log = openLog(f, true);  // returns at once: the open fails (ENXIO) and is retried
  ASSERT_TRUE(log);
  EXPECT_FALSE(log->accepting());
  log->append(record(0), true);
  // A reader appears: the pending record is delivered through it.
  const int rd = ::open(f.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(rd, 0);
  ASSERT_TRUE(log->flush(5s));
  char buf[512];
  const ssize_t n = ::read(rd, buf, sizeof buf);
  ::close(rd);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)).rfind("{\"n\":0,\"prev\":\"", 0), 0u);
  EXPECT_TRUE(log->accepting());
}

TEST(AuditLog, AWriteThatHangsRefusesAfterTwoSecondsAndNeverHangsTheShutdown) {
  TempDir d;
  const std::string f = d.path + "/audit.fifo";
  ASSERT_EQ(::mkfifo(f.c_str(), 0600), 0);
  const int reader = ::open(f.c_str(), O_RDONLY | O_NONBLOCK);  // opened, never read
  ASSERT_GE(reader, 0);
  auto log = openLog(f, true, size_t{64} << 20);
  ASSERT_TRUE(log->accepting());
  const std::string big = "{\"pad\":\"" + std::string(100000, 'x') + "\"}";
  for (int i = 0; i < 4; ++i) log->append(big, true);  // more than the pipe holds
  const auto start = std::chrono::steady_clock::now();
  while (log->accepting() && std::chrono::steady_clock::now() - start < 10s) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_FALSE(log->accepting());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1900ms);
  EXPECT_TRUE(log->stats().failing);
  const auto closing = std::chrono::steady_clock::now();
  EXPECT_GT(log->close(200ms), 0u);  // the records not written
  EXPECT_LT(std::chrono::steady_clock::now() - closing, 2s);
  EXPECT_TRUE(log->stuck());
  // As main does: the writer still uses the object (and the reader end stays open for it).
  (void)log.release();
}

TEST(AuditLog, ADirectoryAtThePathRefuses) {
  TempDir d;
  const std::string f = d.path + "/audit.jsonl";
  std::filesystem::create_directory(f);  // a directory where the file should be
  AuditLog::Options o;
  o.path = f;
  auto log = AuditLog::open(o);
  // A directory opens read-only but is not a regular file: no chain to continue, and writing
  // fails (refused until fixed).
  ASSERT_TRUE(log);
  EXPECT_FALSE((*log)->accepting());
}

}  // namespace
}  // namespace kw::proxy
