// The Redis command table (generated from a real redis-server plus a reviewed overlay).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace kw::policy {

// Redis 7 ACL categories (ACL CAT) plus the module categories Upstash adds.
enum class Category : uint8_t {
  Keyspace,
  Read,
  Write,
  Set,
  SortedSet,
  List,
  Hash,
  String,
  Bitmap,
  HyperLogLog,
  Geo,
  Stream,
  PubSub,
  Admin,
  Fast,
  Slow,
  Blocking,
  Dangerous,
  Connection,
  Transaction,
  Scripting,
  Json,
  Search,
  kCount
};
using CategorySet = uint32_t;  // bit (1u << Category)

constexpr CategorySet categoryBit(Category c) { return CategorySet{1} << static_cast<unsigned>(c); }

// Security traits keyward needs beyond Redis metadata (from the overlay; see policy/commands/).
enum CommandTrait : uint32_t {
  kTraitNone = 0,
  kKeyspaceWide = 1u << 0,      // touches the whole keyspace: needs keys: ["*"]
  kScanLike = 1u << 1,          // SCAN: allowed to key-restricted clients only via MATCH rewrite
  kDbSwitch = 1u << 2,          // SELECT / MOVE / SWAPDB / COPY ... DB: only database 0
  kConnectionState = 1u << 3,   // changes connection state: never forwarded
  kScript = 1u << 4,            // EVAL*, EVALSHA*, SCRIPT LOAD: SHA-1 must be in `scripts`
  kFunction = 1u << 5,          // FCALL, FCALL_RO: name must be in `functions`
  kReturnsData = 1u << 6,       // returns user data although its key spec lacks `access` (B12)
  kChannels = 1u << 7,          // names pub/sub channels (see Extraction::channels)
  kGroups = 1u << 8,            // names consumer groups (see Extraction::groups)
  kUnsupported = 1u << 9,       // never allowed through keyward (replication, persistence, process
                                // and user control)
  kContainer = 1u << 10,        // has subcommands; the container alone is never executable
  kSubscribe = 1u << 11,        // enters subscriber mode: only through the SSE routes
  kBlocking = 1u << 12,         // blocks or runs long on the connection it runs on: never forwarded
  kIntrospection = 1u << 13,    // its reply reveals state no grant covers (clients, the upstream
                                // user, config, other tenants' commands): never forwarded
  kDataSized = 1u << 14,        // Redis's work grows with stored data its reply does not carry
                                // back (LCS, SINTER, BITOP, LREM, ...): the Redis pool runs one
                                // at a time per tenant (docs/command-classes.md)
  kBoundedCount = 1u << 15,     // HSCAN/SSCAN/ZSCAN/XAUTOCLAIM: COUNT is how much Redis walks,
                                // whatever it returns: lowered to kMaxScanCount, as SCAN's
  kLimitWalks = 1u << 16,       // ZRANGE*BY*: LIMIT's offset is walked element by element:
                                // with LIMIT, data-sized
  kCountWalks = 1u << 17,       // SRANDMEMBER/HRANDFIELD/ZRANDMEMBER: a positive count builds a
                                // table of distinct elements, or copies the whole key when it
                                // asks for over a third of it: with one, data-sized
  kTrimWalks = 1u << 18,        // XADD: MAXLEN/MINID trims the stream as XTRIM does: with
                                // either, data-sized
  kCollectionReply = 1u << 19,  // HGETALL, SMEMBERS, LRANGE, ...: its reply (and Redis's work)
                                // can be a whole collection; the reply bounds a pipeline's, but
                                // a transaction's replies are all built before keyward reads
                                // one: it counts toward kMaxDataSizedInTransaction
  kHistoryWalks = 1u << 20,     // XREADGROUP: an ID other than ">" reads the pending history,
                                // one stream lookup per entry: then data-sized
  kFieldReads = 1u << 21,       // HMGET: the arguments after the key are fields whose values
                                // the reply copies: each may be named once
  kValueReply = 1u << 22,       // GETEX, GETDEL, LMOVE, the pops, SET ... GET: returns a stored
                                // value although Redis files it under @write: a read for the
                                // transaction rule and the pool's pacing (SET only with GET)
  kPopCount = 1u << 23,         // LPOP/RPOP/SPOP/ZPOPMIN/ZPOPMAX: with a count, a whole-collection
                                // read
  kEntryReads = 1u << 24,       // XCLAIM: its IDs are entries the reply copies: each may be
                                // named once
  kIndexWalks = 1u << 25,       // LINDEX, LSET: Redis walks the list node by node to the index
                                // from the nearer end: data-sized unless the index is within
                                // kNearListEnd of an end
};

struct CommandInfo {
  uint16_t id;            // dense index: bit position in a client's command bitset
  std::string_view name;  // lowercase; subcommands as "parent|sub"
  int16_t arity;          // Redis arity, counting the name (and for subcommands the parent):
                          // n > 0 exactly n, n < 0 at least -n
  CategorySet categories;
  uint32_t traits;  // CommandTrait bits
  uint16_t parent;  // id of the container for subcommands, else == id
};

// The command or subcommand `argv` runs (a container's subcommand from argv[1]); nullptr when
// unknown.
const CommandInfo* commandOf(std::span<const std::string_view> argv);

// Every executable unit (plain commands and subcommands; containers too, flagged kContainer).
std::span<const CommandInfo> allCommands();

// Case-insensitive lookup of a top-level command, or of "container|sub". nullptr when unknown.
const CommandInfo* findCommand(std::string_view name);
const CommandInfo* findSubcommand(const CommandInfo& container, std::string_view sub);

// Redis's work for this command grows with stored data its reply does not carry (kDataSized; a
// kLimitWalks command with LIMIT, a kCountWalks one with a positive count, a kTrimWalks one with
// MAXLEN or MINID, a kHistoryWalks one reading the pending history, a kIndexWalks one with an
// index past kNearListEnd from an end): the Redis pool runs one at a time per tenant. False for an
// unknown command (the policy refuses those).
bool isDataSized(std::span<const std::string_view> argv);
// The same for the command argv runs, already looked up.
bool dataSized(const CommandInfo& command, std::span<const std::string_view> argv);

// What the Redis pool paces a command by, from one lookup: data-sized (one at a time per
// tenant); a whole-collection read (a few at a time, one once the tenant's replies are large);
// another read returning stored data (one at a time once the tenant's replies are large).
struct PoolCost {
  bool data_sized = false;
  bool collection_read = false;
  bool value_read = false;
};
PoolCost poolCost(std::span<const std::string_view> argv);

// A whole-collection read: kCollectionReply (HGETALL, SMEMBERS, LRANGE, MGET, XCLAIM, ...), a
// kPopCount pop with a count, a kCountWalks command with a negative count (picks with
// repetition). Its Redis time is its reply's size; the Redis pool paces a tenant's once they
// come back large.
bool isCollectionRead(std::span<const std::string_view> argv);
bool collectionRead(const CommandInfo& command, std::span<const std::string_view> argv);

// A command whose reply carries stored values: @read, or kValueReply (SET only with GET).
bool valueRead(const CommandInfo& command, std::span<const std::string_view> argv);

// A MATCH pattern costs Redis, for every name it walks, about the name's length times the bytes
// from the pattern's first '*' that is not in its final run of '*'s (Redis tries the rest at
// every position of the name; attack round 31a: one 158-byte SSCAN COUNT 1000 MATCH *[b...b]
// with 100 b's over 8 KB members held Redis 830 ms, 8 in a pipeline 7.1 s). matchTail is those
// bytes: 0 for a pattern whose only '*'s end it ("user:*"), whose cost is its own length. Past
// kMaxMatchTail the scan is refused (ScanPattern); with any, it is data-sized and its COUNT is
// lowered to kMaxTailMatchCount (policy/scan_rewrite.h).
size_t matchTail(std::string_view pattern);
constexpr size_t kMaxMatchTail = 32;
constexpr uint64_t kMaxTailMatchCount = 100;
// The argument index of the MATCH pattern Redis uses for a SCAN (options from argv[2]) or
// HSCAN/SSCAN/ZSCAN (from argv[3], HSCAN's NOVALUES flag skipped): the last; -1 when none.
int32_t lastMatchArg(std::span<const std::string_view> argv, size_t first);

// LINDEX/LSET indexes this close to an end (0..1023, -1024..-1) walk at most that many list
// nodes; any other, or one not in plain decimal, may walk to the middle of the list (attack
// round 30a: a list of 2,000,000 one-element nodes, built with 45 bytes of requests a node; one
// LSET at its middle cost Redis 12-30 ms, 1,000 in one transaction held it 12.5 s).
constexpr uint64_t kNearListEnd = 1024;

// A negative SRANDMEMBER/HRANDFIELD/ZRANDMEMBER count picks with repetition: one element may
// come back that many times (attack round 29a: HRANDFIELD -1000 WITHVALUES of one 90 KB value,
// 5 in each of 4 transactions, held Redis 1.06 s and took it 1.72 GB up). Counts below
// -kMaxRandomRepeats are refused (policy/value_growth.h, checkRandomCount).
constexpr uint64_t kMaxRandomRepeats = 16;

// Redis runs a transaction whole at EXEC, with no other tenant's command in between, so pacing
// cannot split it: a transaction may hold at most this many data-sized, scanning
// (kBoundedCount, kScanLike) and whole-collection (kCollectionReply) commands together.
constexpr size_t kMaxDataSizedInTransaction = 4;

// Parses "read", "@read", "READ" -> Category. false when unknown.
bool categoryFromName(std::string_view name, Category& out);

}  // namespace kw::policy
