// Message helpers shared by the stack map format parsers (v3, statepoints, flat v2): printf-style
// formatting into a std::string and the "source: blob N at offset 0x..: " prefix.
#pragma once

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace gcwalk {

// printf into a std::string (load time only: allocates).
template <class... A> std::string format(const char* fmt, A... args) {
    const int n = std::snprintf(nullptr, 0, fmt, args...);
    if (n <= 0) return {};
    std::string s(static_cast<size_t>(n), '\0');
    std::snprintf(s.data(), s.size() + 1, fmt, args...);
    return s;
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
