// Internal to the index layer: memory for the index's large tables (the call-site hash table,
// the root pool, the frame records), in blocks that fault in cheaply.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

namespace gcwalk {

// A block of table memory: from the heap, or a mapping of its own.
struct TableBlock {
    void* p = nullptr;
    size_t bytes = 0; // held
    bool mapped = false;
};

// Room for at least `bytes` bytes. Blocks from 4 MiB up get a mapping of their own, 2 MiB aligned
// and advised MADV_HUGEPAGE (one fault per 2 MiB; the tail no huge page covers is prefaulted).
// Smaller ones come from the heap, which hands a rebuild the warm memory of the index before;
// fresh heap pages are prefaulted too. The first write to a fresh 4 KiB page is what a large
// build would otherwise wait for, page by page (docs/PERFORMANCE.md). All hints: without them
// pages fault one by one. A heap block is zeroed only when `zeroed` (a mapping always is).
// Throws std::bad_alloc.
TableBlock allocate_table(size_t bytes, bool zeroed);
void free_table(const TableBlock& block) noexcept;
// Gives back the whole pages of a mapped block beyond its first `used` bytes (at least a page
// stays); returns the bytes still held. A heap block is left as it is.
size_t trim_table(TableBlock& block, size_t used) noexcept;

// A growable array of trivially copyable elements in table memory. LargeArray(n) starts zeroed.
template <class T> class LargeArray {
    static_assert(std::is_trivially_copyable_v<T>);

  public:
    LargeArray() = default;
    explicit LargeArray(size_t n)
        : block_(allocate_table(std::max<size_t>(n, 1) * sizeof(T), true)), size_(n) {}
    LargeArray(LargeArray&& o) noexcept
        : block_(std::exchange(o.block_, TableBlock{})), size_(std::exchange(o.size_, 0)) {}
    LargeArray& operator=(LargeArray&& o) noexcept {
        std::swap(block_, o.block_), std::swap(size_, o.size_);
        return *this;
    }
    ~LargeArray() { free_table(block_); }

    T* data() noexcept { return static_cast<T*>(block_.p); }
    const T* data() const noexcept { return static_cast<const T*>(block_.p); }
    size_t size() const noexcept { return size_; }
    size_t bytes() const noexcept { return block_.bytes; } // held, including capacity not yet used
    T& operator[](size_t i) noexcept { return data()[i]; }
    const T& operator[](size_t i) const noexcept { return data()[i]; }
    T* begin() noexcept { return data(); }
    T* end() noexcept { return data() + size_; }
    const T* begin() const noexcept { return data(); }
    const T* end() const noexcept { return data() + size_; }

    void reserve(size_t n) {
        if (n > capacity()) regrow(n);
    }
    void push_back(const T& v) {
        if (size_ == capacity()) regrow(std::max<size_t>(16, 2 * size_));
        data()[size_++] = v;
    }
    void append(const T* v, size_t n) {
        if (n == 0) return;
        if (size_ + n > capacity()) regrow(std::max<size_t>(size_ + n, 2 * size_));
        std::memcpy(data() + size_, v, n * sizeof(T));
        size_ += n;
    }
    // Gives back the capacity beyond size(): whole pages of a mapping, a smaller heap block.
    void shrink_to_fit() {
        if (block_.mapped)
            trim_table(block_, size_ * sizeof(T));
        else if (size_ < capacity())
            regrow(size_);
    }

  private:
    size_t capacity() const noexcept { return block_.bytes / sizeof(T); }
    // Moves the elements to a block with room for n of them (the old block is freed).
    void regrow(size_t n) {
        TableBlock next = allocate_table(std::max<size_t>(n, 1) * sizeof(T), false);
        if (block_.p) std::memcpy(next.p, block_.p, size_ * sizeof(T));
        free_table(block_);
        block_ = next;
    }

    TableBlock block_;
    size_t size_ = 0;
};

} // namespace gcwalk
