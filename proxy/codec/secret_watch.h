// Finds pieces of a secret (keyward's upstream token) in reply bytes on their way to a client.
// A REST upstream that reflects the request could hand a client keyward's token; it may arrive
// as it is, inside JSON escapes ("\u0055\u0050..."; the client's JSON parser turns them back),
// or base64-encoded (Upstash-Encoding: base64, which the SDK decodes). Any piece of 16 bytes or
// more counts: a token one byte short is the token (Upstash's endpoint answers a guess), and so
// is a token in halves. What is checked is the text with its JSON escapes undone, so both the
// literal and the escaped forms are found; base64 pieces (20 characters: 15 bytes) are found in
// all three alignments. Pieces shorter than that are not looked for (a shorter secret: whole).
//
// How: a piece of W bytes always holds a block of B = 8 bytes (fewer for a short secret) that
// starts at a multiple of B in the decoded stream, since W >= 2B - 1. So only every B-th byte
// is looked up, in a table of the secret's B-byte substrings; a hit is confirmed, once the bytes
// after it arrived, by comparing every window of W bytes around that block with the secret.
// About a nanosecond a byte, whatever the data (a reply cannot aim at a secret it does not know).
//
// SecretPieces is built once per secret; a SecretWatch follows one reply: feed() it as the
// bytes arrive and let out only releasable() of them (what could still belong to a piece not
// yet confirmed stays back), and settle() at the end of the reply (or of each whole event of a
// stream) so that a piece ending there is confirmed too.
#pragma once

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kw::proxy::codec {

class SecretPieces {
 public:
  static constexpr size_t kPiece = 16;        // bytes of the secret as it is
  static constexpr size_t kBase64Piece = 20;  // characters of its base64 forms

  explicit SecretPieces(std::string_view secret);
  [[nodiscard]] bool empty() const { return forms_[0].width == 0; }

 private:
  friend class SecretWatch;
  // One form of the secret: its texts, the width of a piece, the block size, and every block of
  // the texts (the bytes packed into a uint64, first byte highest).
  struct Form {
    size_t width = 0;  // 0: this form is not looked for
    size_t block = 0;
    std::vector<std::string> texts;
    std::bitset<65536> table;      // a hash of each block: most lookups stop here
    std::vector<uint64_t> blocks;  // sorted
  };
  std::array<Form, 2> forms_;  // as it is; base64 (its three alignments)
};

class SecretWatch {
 public:
  explicit SecretWatch(std::shared_ptr<const SecretPieces> pieces);

  // False once a piece was seen (and from then on).
  bool feed(std::string_view raw);
  // Confirms every piece that lies wholly in what was fed (the end of a reply, or of a whole
  // event: no piece spans a line break). False once a piece was seen.
  bool settle();
  // Bytes fed so far, and how many of them (counted from the first) can no longer belong to a
  // piece.
  [[nodiscard]] uint64_t fed() const { return fed_; }
  [[nodiscard]] uint64_t releasable() const;

  // A whole body at once.
  [[nodiscard]] static bool holds(const std::shared_ptr<const SecretPieces>& pieces,
                                  std::string_view body);

  // Decoded bytes kept: every window around a block until it is confirmed.
  static constexpr size_t kRing = 64;
  static_assert(2 * SecretPieces::kBase64Piece <= kRing);

 private:
  struct Pending {
    uint64_t block_end = 0;  // decoded offset just past the block that was found
    bool active = false;
  };
  void emit(unsigned char c, uint64_t raw_start);
  void lookUp();   // the block that ends here, in each form's table
  void confirm();  // the hits whose windows have all arrived
  void check(size_t form, uint64_t block_end);
  void emitEscapeAsIs();  // an escape that is not one: its bytes as they are

  static constexpr uint64_t kMask = kRing - 1;
  static constexpr size_t kMaxPending = 8;  // per form: hits within the last 2 pieces' bytes

  std::shared_ptr<const SecretPieces> pieces_;
  size_t hold_ = 0;          // decoded bytes kept back: 2W - B - 1 for the widest form
  bool blocks_of_8_ = true;  // every form's block is 8 bytes (a secret of 15 bytes or more)
  std::array<char, kRing> recent_{};
  std::array<uint64_t, kRing> raw_at_{};  // where each decoded byte began in the raw input
  uint64_t last8_ = 0;                    // the last 8 decoded bytes, newest lowest
  std::array<std::array<Pending, kMaxPending>, 2> pending_{};
  size_t pending_count_ = 0;
  uint64_t decoded_ = 0;  // decoded bytes so far
  uint64_t fed_ = 0;      // raw bytes so far
  // A JSON escape in progress: its raw bytes ("\", "\u", "\u0", ... "\u005"), where it began.
  std::string escape_;
  uint64_t escape_at_ = 0;
  bool found_ = false;
};

}  // namespace kw::proxy::codec
