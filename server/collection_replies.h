// Reply helpers shared by the list, set, hash and sorted-set commands.
#pragma once

#include <cstdint>
#include <string_view>

#include "mirrorkv/collections.h"
#include "server/commands.h"
#include "server/reply_builder.h"

namespace mirrorkv::server {

// Writes the elements a collection read passes, as Redis replies them: the aggregate
// header before the first (its size is Element::count), then one bulk per element; a
// read that passed nothing leaves an empty aggregate at Finish. Single mode (POP without
// a count) writes the one element as a bare bulk.
class ArrayWriter {
 public:
  enum class Shape : uint8_t { kSingle, kArray, kSet, kMap };

  ArrayWriter(ReplyBuilder& reply, bool array)
      : ArrayWriter(reply, array ? Shape::kArray : Shape::kSingle) {}
  ArrayWriter(ReplyBuilder& reply, Shape shape) : reply_(reply), shape_(shape) {}

  // Writes the header when `e` is the first element, then `bulk`.
  void Item(const Element& e, std::string_view bulk) {
    Begin(e);
    reply_.Bulk(bulk);
  }
  // Writes the header when `e` is the first element (for callers writing their own).
  void Begin(const Element& e) {
    if (e.index != 0) return;
    started_ = true;
    switch (shape_) {
      case Shape::kSingle:
        break;
      case Shape::kArray:
        reply_.ArrayHeader(e.count);
        break;
      case Shape::kSet:
        reply_.SetHeader(e.count);
        break;
      case Shape::kMap:
        reply_.MapHeader(e.count);
        break;
    }
  }
  // The empty aggregate, when no element came.
  void Finish() {
    if (started_) return;
    switch (shape_) {
      case Shape::kSingle:
        reply_.Null();
        break;
      case Shape::kArray:
        reply_.ArrayHeader(0);
        break;
      case Shape::kSet:
        reply_.SetHeader(0);
        break;
      case Shape::kMap:
        reply_.MapHeader(0);
        break;
    }
  }

 private:
  ReplyBuilder& reply_;
  const Shape shape_;
  bool started_ = false;
};

// Parses a count that must be >= 0 with Redis's one error for a non-integer and a
// negative count alike: "ERR value is out of range, must be positive". Replies and
// returns false on failure.
inline bool ParsePositiveArg(CommandContext& ctx, std::string_view text, int64_t* out) {
  if (!ParseIntegerArg(ctx, text, out, "ERR value is out of range, must be positive")) {
    return false;
  }
  if (*out < 0) {
    ctx.reply.Error("ERR value is out of range, must be positive");
    return false;
  }
  return true;
}

}  // namespace mirrorkv::server
