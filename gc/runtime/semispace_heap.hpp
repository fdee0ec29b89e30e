// The runtime's heap: two mmap'ed semispaces, bump allocation (lock-free, any thread), and a
// Cheney copy that moves every live object and then makes the old space inaccessible. Roots can be
// forwarded without copying (forward), so that the root phase of a collection copies no bytes.
//
// Object layout: one 8-byte header, then the reference fields (8 bytes each), then the data
// bytes, padded to 8. An object's address is that of its first field (header + 8).
//   header, not forwarded: bit 0 = 0, bits 1-31 = data bytes, bits 32-63 = reference fields
//   header, forwarded:     the new address | 1
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace gcwalk::rt {

class SemispaceHeap {
  public:
    static constexpr uint64_t kMaxPtrFields = UINT32_MAX;
    static constexpr uint64_t kMaxDataBytes = (uint64_t{1} << 31) - 1;

    // Maps both semispaces (`semispace_bytes` each, rounded up to pages). False with a message
    // when mmap fails.
    bool init(uint64_t semispace_bytes, std::string* message);

    // Bytes an object takes (header included); 0 when the counts exceed the limits above.
    static uint64_t object_size(uint64_t ptr_fields, uint64_t data_bytes) noexcept;

    // A zeroed object, or nullptr when the current space has no room. Any thread, lock-free.
    void* try_allocate(uint64_t ptr_fields, uint64_t data_bytes) noexcept;

    // A collection, with every mutator stopped:
    //   begin_collection();
    //   forward(root) or evacuate(root) for each root (the MoveFn);
    //   copy_live();          (optional: finish_collection does it when it was not called)
    //   finish_collection();
    // forward gives the object its to-space address and forwards it, but copies nothing: its
    // bytes are copied by copy_live, which then copies everything the copies reach (Cheney).
    // evacuate copies at once. After finish the old space is PROT_NONE: stale pointers fault.
    void begin_collection();
    void* forward(void* old_base) noexcept;
    void* evacuate(void* old_base) noexcept;
    void copy_live() noexcept;
    void finish_collection();

    uint64_t semispace_bytes() const noexcept { return size_; }
    uint64_t used_bytes() const noexcept { return top_.load(std::memory_order_relaxed) - from_; }
    uint64_t copied_bytes() const noexcept { return copied_total_; }
    // True when `address` lies in the space the last collection left (poisoned).
    bool in_poisoned_space(uintptr_t address) const noexcept {
        return poisoned_ && address >= poisoned_ && address < poisoned_ + size_;
    }

  private:
    // An object forward() reserved room for: where its bytes are, and its header before the
    // forwarding address replaced it.
    struct Pending {
        uintptr_t old; // the object's old address
        uint64_t header;
    };

    [[noreturn]] void corrupt(const char* what, uintptr_t value) const noexcept;
    // The object at `old` (checked) gets its to-space address *moved: reserved now, with the old
    // header replaced by the forwarding address and returned in *header (true), or earlier (false).
    bool reserve(uintptr_t old, uintptr_t* moved, uint64_t* header) noexcept;
    // Writes the header and copies the fields and data of the object at old to its room at moved.
    void copy(uintptr_t moved, uintptr_t old, uint64_t header) noexcept;

    uintptr_t spaces_[2] = {0, 0};
    uint64_t size_ = 0;
    uintptr_t from_ = 0;            // the space objects are allocated in
    std::atomic<uintptr_t> top_{0}; // next free byte in from_
    uintptr_t from_limit_ = 0;      // top_ at begin_collection (end of the evacuated objects)
    uintptr_t to_ = 0, to_top_ = 0; // during a collection
    uintptr_t poisoned_ = 0;        // the space left by the last collection
    // forward()'s reservations of this collection: one per object of 16 bytes or more, so a
    // reserved mapping of size_ bytes always has room; its pages stay committed between
    // collections. pending_count_ = ~0 once copy_live ran.
    Pending* pending_ = nullptr;
    uint64_t pending_count_ = 0;
    uint64_t copied_total_ = 0;
};

} // namespace gcwalk::rt
