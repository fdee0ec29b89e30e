// Internal to gcwalk (the formats layer; include/gcwalk/detail/ is not API and may change):
// Faulting in a fresh buffer's pages in one system call instead of one page fault per 4 KiB page.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

namespace gcwalk {

// Asks the kernel to map every whole page of [p, p + bytes) writable now, before the buffer is
// written: populating pages in one call is far cheaper than taking a fault on the first write to
// each fresh 4 KiB page (figures: docs/PERFORMANCE.md). Pages already mapped stay as they are.
// Only a hint (Linux 5.14 and later); buffers under 256 KiB are left alone.
inline void prefault(void* p, size_t bytes) noexcept {
#ifdef MADV_POPULATE_WRITE
    constexpr uintptr_t kPage = 4096;
    if (bytes < 64 * kPage) return;
    const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kPage - 1) & ~(kPage - 1);
    const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kPage - 1);
    if (begin >= end) return;
#ifdef MADV_HUGEPAGE
    // The whole 2 MiB pages inside a big buffer as huge pages (one fault and one clear each
    // instead of 512), where transparent huge pages are enabled for advised memory.
    constexpr uintptr_t kHuge = uintptr_t{2} << 20;
    const uintptr_t hbegin = (begin + kHuge - 1) & ~(kHuge - 1), hend = end & ~(kHuge - 1);
    if (hbegin < hend) madvise(reinterpret_cast<void*>(hbegin), hend - hbegin, MADV_HUGEPAGE);
#endif
    madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
#else
    (void)p, (void)bytes;
#endif
}

} // namespace gcwalk
