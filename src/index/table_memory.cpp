// Table memory for the index: heap blocks for small tables, huge-page-aligned mappings for large.
#include "table_memory.hpp"

#include <gcwalk/detail/prefault.hpp>

#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace gcwalk {

namespace {

constexpr size_t kPage = 4096, kHugePage = size_t{2} << 20, kMapFrom = size_t{4} << 20;

size_t round_up(size_t v, size_t to) {
    return (v + to - 1) / to * to;
}

// A mapping of `bytes` (a multiple of the page size) that starts 2 MiB aligned: over-allocate by
// a huge page, then unmap what lies before the aligned start and after the end.
uint8_t* map_aligned(size_t bytes) {
    void* raw = mmap(nullptr, bytes + kHugePage, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    auto* base = static_cast<uint8_t*>(raw);
    auto* start =
        reinterpret_cast<uint8_t*>(round_up(reinterpret_cast<uintptr_t>(base), kHugePage));
    if (start > base) munmap(base, static_cast<size_t>(start - base));
    if (uint8_t* end = base + bytes + kHugePage; start + bytes < end)
        munmap(start + bytes, static_cast<size_t>(end - (start + bytes)));
    return start;
}

} // namespace

TableBlock allocate_table(size_t bytes, bool zeroed) {
    TableBlock b;
    b.mapped = bytes >= kMapFrom;
    if (!b.mapped) {
        b.p = std::malloc(bytes);
        if (!b.p) throw std::bad_alloc();
        b.bytes = bytes;
        prefault(b.p, bytes);
        if (zeroed) std::memset(b.p, 0, bytes);
        return b;
    }
    b.bytes = round_up(bytes, kPage);
    uint8_t* start = map_aligned(b.bytes);
    madvise(start, b.bytes, MADV_HUGEPAGE);
    const size_t huge = b.bytes / kHugePage * kHugePage;
    prefault(start + huge, b.bytes - huge); // the tail that no huge page covers
    b.p = start;
    return b;
}

void free_table(const TableBlock& block) noexcept {
    if (!block.p) return;
    if (block.mapped)
        munmap(block.p, block.bytes);
    else
        std::free(block.p);
}

size_t trim_table(TableBlock& block, size_t used) noexcept {
    if (!block.mapped) return block.bytes;
    const size_t keep = std::max(kPage, round_up(used, kPage));
    if (keep < block.bytes) {
        munmap(static_cast<uint8_t*>(block.p) + keep, block.bytes - keep);
        block.bytes = keep;
    }
    return block.bytes;
}

} // namespace gcwalk
