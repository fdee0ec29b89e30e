// The semispace heap: mmap'ed spaces, lock-free bump allocation, Cheney evacuation and poisoning.
#include "semispace_heap.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gcwalk::rt {
namespace {

constexpr uint64_t kForwarded = 1;

uint64_t make_header(uint64_t ptr_fields, uint64_t data_bytes) {
    return (ptr_fields << 32) | (data_bytes << 1);
}
uint64_t header_ptr_fields(uint64_t h) {
    return h >> 32;
}
uint64_t header_data_bytes(uint64_t h) {
    return (h >> 1) & SemispaceHeap::kMaxDataBytes;
}

} // namespace

bool SemispaceHeap::init(uint64_t semispace_bytes, std::string* message) {
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    size_ = (semispace_bytes + page - 1) / page * page;
    for (uintptr_t& space : spaces_) {
        // Reserved, not committed: pages are touched only as objects are allocated or copied.
        void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            *message = "gcwalk-rt: cannot map a semispace of " + std::to_string(size_ >> 20) +
                       " MiB (GCWALK_HEAP_MB): " + std::strerror(errno);
            return false;
        }
        space = reinterpret_cast<uintptr_t>(p);
    }
    // forward()'s list: at most one entry per 16 bytes of from-space (object_size >= 16).
    static_assert(sizeof(Pending) == 16);
    void* pending = mmap(nullptr, size_, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (pending == MAP_FAILED) {
        *message = "gcwalk-rt: cannot map the forwarding list of " + std::to_string(size_ >> 20) +
                   " MiB (GCWALK_HEAP_MB): " + std::strerror(errno);
        return false;
    }
    pending_ = static_cast<Pending*>(pending);
    from_ = spaces_[0];
    top_.store(from_, std::memory_order_relaxed);
    // The other space stays inaccessible until a collection copies into it.
    mprotect(reinterpret_cast<void*>(spaces_[1]), size_, PROT_NONE);
    return true;
}

uint64_t SemispaceHeap::object_size(uint64_t ptr_fields, uint64_t data_bytes) noexcept {
    if (ptr_fields > kMaxPtrFields || data_bytes > kMaxDataBytes) return 0;
    uint64_t payload = (ptr_fields * 8 + data_bytes + 7) & ~uint64_t{7};
    if (payload == 0) payload = 8; // distinct objects get distinct addresses
    return 8 + payload;
}

void* SemispaceHeap::try_allocate(uint64_t ptr_fields, uint64_t data_bytes) noexcept {
    const uint64_t size = object_size(ptr_fields, data_bytes);
    const uintptr_t limit = from_ + size_;
    uintptr_t top = top_.load(std::memory_order_relaxed);
    do {
        if (size == 0 || size > limit - top) return nullptr;
    } while (!top_.compare_exchange_weak(top, top + size, std::memory_order_relaxed));
    // Fresh pages are zero (the space was emptied with MADV_DONTNEED before reuse).
    *reinterpret_cast<uint64_t*>(top) = make_header(ptr_fields, data_bytes);
    return reinterpret_cast<void*>(top + 8);
}

void SemispaceHeap::begin_collection() {
    to_ = from_ == spaces_[0] ? spaces_[1] : spaces_[0];
    to_top_ = to_;
    from_limit_ = top_.load(std::memory_order_relaxed);
    if (mprotect(reinterpret_cast<void*>(to_), size_, PROT_READ | PROT_WRITE) != 0) {
        std::fprintf(stderr, "gcwalk-rt: mprotect of to-space failed: %s\n", std::strerror(errno));
        std::abort();
    }
    if (poisoned_ == to_) poisoned_ = 0;
    pending_count_ = 0;
}

void SemispaceHeap::corrupt(const char* what, uintptr_t value) const noexcept {
    if (value >= to_ && value < to_ + size_) {
        // to-space is the space the previous collection evacuated and poisoned.
        std::fprintf(
            stderr,
            "gcwalk-rt: %s %#lx points into the old semispace that the previous collection "
            "poisoned: a root or field was not relocated (a stale or missed root)\n",
            what, static_cast<unsigned long>(value));
        std::abort();
    }
    std::fprintf(stderr,
                 "gcwalk-rt: %s %#lx is not an object of the heap (allocated range %#lx-%#lx): "
                 "a stale or missed root, or a corrupted object\n",
                 what, static_cast<unsigned long>(value), static_cast<unsigned long>(from_ + 8),
                 static_cast<unsigned long>(from_limit_));
    std::abort();
}

bool SemispaceHeap::reserve(uintptr_t old, uintptr_t* moved, uint64_t* header) noexcept {
    if (old < from_ + 8 || old >= from_limit_ || (old & 7) != 0)
        corrupt("root or field value", old);
    uint64_t* slot = reinterpret_cast<uint64_t*>(old - 8);
    const uint64_t h = *slot;
    if (h & kForwarded) {
        *moved = h & ~kForwarded;
        return false;
    }
    const uint64_t size = object_size(header_ptr_fields(h), header_data_bytes(h));
    if (size > from_limit_ - (old - 8)) corrupt("object header of", old);
    // to-space holds at most what from-space held: the room always fits.
    *moved = to_top_ + 8;
    to_top_ += size;
    *slot = *moved | kForwarded;
    *header = h;
    return true;
}

void SemispaceHeap::copy(uintptr_t moved, uintptr_t old, uint64_t header) noexcept {
    const uint64_t size = object_size(header_ptr_fields(header), header_data_bytes(header));
    *reinterpret_cast<uint64_t*>(moved - 8) = header;
    std::memcpy(reinterpret_cast<void*>(moved), reinterpret_cast<const void*>(old), size - 8);
    copied_total_ += size;
}

void* SemispaceHeap::forward(void* old_base) noexcept {
    const uintptr_t old = reinterpret_cast<uintptr_t>(old_base);
    uintptr_t moved = 0;
    uint64_t header = 0;
    // Room in to-space and a forwarding address, but no copy: copy_live copies the bytes.
    if (reserve(old, &moved, &header)) pending_[pending_count_++] = {old, header};
    return reinterpret_cast<void*>(moved);
}

void* SemispaceHeap::evacuate(void* old_base) noexcept {
    const uintptr_t old = reinterpret_cast<uintptr_t>(old_base);
    uintptr_t moved = 0;
    uint64_t header = 0;
    if (reserve(old, &moved, &header)) copy(moved, old, header);
    return reinterpret_cast<void*>(moved);
}

void SemispaceHeap::copy_live() noexcept {
    if (pending_count_ == ~uint64_t{0}) return; // already ran in this collection
    // The forwarded objects first: their to-space room lies before anything evacuate copies.
    for (uint64_t i = 0; i < pending_count_; ++i) {
        const Pending& p = pending_[i];
        copy((*reinterpret_cast<const uint64_t*>(p.old - 8) & ~kForwarded), p.old, p.header);
    }
    pending_count_ = ~uint64_t{0};
    // Cheney: every object between scan and to_top_ has been copied, its fields not yet forwarded.
    for (uintptr_t scan = to_; scan < to_top_;) {
        const uint64_t h = *reinterpret_cast<uint64_t*>(scan);
        void** field = reinterpret_cast<void**>(scan + 8);
        for (uint64_t i = 0, n = header_ptr_fields(h); i < n; ++i)
            if (field[i]) field[i] = evacuate(field[i]);
        scan += object_size(header_ptr_fields(h), header_data_bytes(h));
    }
}

void SemispaceHeap::finish_collection() {
    copy_live();
    // Poison the old space: drop its pages (so it is zero when it becomes to-space again) and make
    // any access through a stale pointer fault.
    // MADV_DONTNEED, then PROT_NONE on the now empty range: mprotect of populated pages costs far
    // more than of empty ones (docs/PERFORMANCE.md, "poisoning the old space"), so this order pays
    // the flush once per collection, and the space reads as zero when it becomes to-space again.
    void* old = reinterpret_cast<void*>(from_);
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    const uint64_t used = (from_limit_ - from_ + page - 1) / page * page;
    const int dropped = used ? madvise(old, used, MADV_DONTNEED) : 0;
    if (dropped != 0 || mprotect(old, size_, PROT_NONE) != 0) {
        std::fprintf(stderr, "gcwalk-rt: cannot poison the old semispace: %s\n",
                     std::strerror(errno));
        std::abort();
    }
    poisoned_ = from_;
    from_ = to_;
    top_.store(to_top_, std::memory_order_relaxed);
    to_ = to_top_ = 0;
}

} // namespace gcwalk::rt
