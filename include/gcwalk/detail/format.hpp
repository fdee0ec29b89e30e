// Internal to gcwalk (the formats layer; include/gcwalk/detail/ is not API and may change):
// Message helpers (internal, load time only: they allocate): printf-style formatting into a
// std::string, hex(), and the "source: blob N at offset 0x..: " prefix of the format parsers.
#pragma once

#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace gcwalk {

#define GCWALK_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))

// printf into a std::string (load time only: allocates).
inline std::string vformat(const char* fmt, std::va_list args) {
    std::va_list again;
    va_copy(again, args);
    const int n = std::vsnprintf(nullptr, 0, fmt, args);
    std::string s(n > 0 ? static_cast<size_t>(n) : 0, '\0');
    if (n > 0) std::vsnprintf(s.data(), s.size() + 1, fmt, again);
    va_end(again);
    return s;
}

inline GCWALK_PRINTF(1, 2) std::string format(const char* fmt, ...) {
    std::va_list args;
    va_start(args, fmt);
    std::string s = vformat(fmt, args);
    va_end(args);
    return s;
}

// "0x1f"
inline std::string hex(uint64_t v) {
    return format("0x%" PRIx64, v);
}

// "a.out: " or "" when the source has no name.
inline std::string source_prefix(std::string_view source) {
    if (source.empty()) return {};
    return std::string(source) + ": ";
}

// "a.out: blob 1 at offset 0x120: "
inline std::string blob_prefix(std::string_view source, uint32_t blob, uint64_t offset) {
    return source_prefix(source) + format("blob %u at offset 0x%" PRIx64 ": ", blob, offset);
}

} // namespace gcwalk
