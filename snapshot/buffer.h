// Buffer: a growable byte buffer for the snapshot writer's and reader's blocks.
//
// Unlike std::string it neither zero-fills on growth nor shrinks on clear, so a block
// buffer is allocated once and reused; Trim gives back the memory a rare oversized block
// took. Not thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>

namespace mirrorkv::internal::snapshot {

class Buffer {
 public:
  char* data() { return data_.get(); }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  void clear() { size_ = 0; }
  // Makes room for `n` more bytes and returns where they go; the caller then commits.
  char* Reserve(size_t n) {
    if (size_ + n > capacity_) Grow(size_ + n);
    return data_.get() + size_;
  }
  void Commit(size_t n) { size_ += n; }
  // Gives back memory taken by an unusually large block, down to `normal` bytes.
  void Trim(size_t normal) {
    if (capacity_ > 2 * normal && size_ <= normal) {
      std::unique_ptr<char[]> smaller(new char[normal]);
      std::memcpy(smaller.get(), data_.get(), size_);
      data_ = std::move(smaller);
      capacity_ = normal;
    }
  }

 private:
  void Grow(size_t needed) {
    size_t capacity = std::max(needed, capacity_ + capacity_ / 2);
    std::unique_ptr<char[]> bigger(new char[capacity]);
    if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace mirrorkv::internal::snapshot
