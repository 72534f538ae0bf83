// A byte buffer for one direction of a connection: data sits in [begin, end) of a heap block that
// is handed back to the worker's pool when the buffer empties, so idle connections hold no memory.
#pragma once
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace skiff::proxy {

class BufferPool {
 public:
  static constexpr size_t kBlock = 16 * 1024;
  std::unique_ptr<char[]> take() {
    if (free_.empty()) return std::make_unique<char[]>(kBlock);
    auto b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  void give(std::unique_ptr<char[]> b) {
    if (free_.size() < 256) free_.push_back(std::move(b));
  }

 private:
  std::vector<std::unique_ptr<char[]>> free_;
};

class Buffer {
 public:
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  const char* data() const { return block_.get() + begin_; }
  std::string_view view() const { return {data(), size()}; }

  // Room for at least `want` more bytes (growing beyond the pool block for large messages).
  char* space(BufferPool& pool, size_t want, size_t& room) {
    if (!block_) {
      block_ = pool.take();
      capacity_ = BufferPool::kBlock;
      begin_ = end_ = 0;
    }
    if (capacity_ - end_ < want && begin_ > 0) {
      std::memmove(block_.get(), block_.get() + begin_, size());
      end_ -= begin_;
      begin_ = 0;
    }
    if (capacity_ - end_ < want) {
      size_t cap = capacity_;
      while (cap - end_ < want) cap *= 2;
      auto bigger = std::make_unique<char[]>(cap);
      std::memcpy(bigger.get(), block_.get(), end_);
      block_ = std::move(bigger);
      capacity_ = cap;
    }
    room = capacity_ - end_;
    return block_.get() + end_;
  }
  void commit(size_t n) { end_ += n; }
  void append(BufferPool& pool, const char* p, size_t n) {
    size_t room;
    std::memcpy(space(pool, n, room), p, n);
    commit(n);
  }
  void consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Returns the block to the pool once empty (pool-sized blocks only).
  void release(BufferPool& pool) {
    if (!block_ || !empty()) return;
    if (capacity_ == BufferPool::kBlock) pool.give(std::move(block_));
    block_.reset();
    capacity_ = 0;
  }
  void clear() { begin_ = end_ = 0; }

 private:
  std::unique_ptr<char[]> block_;
  size_t capacity_ = 0, begin_ = 0, end_ = 0;
};

}  // namespace skiff::proxy
