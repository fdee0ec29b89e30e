// Test helpers for the format tests: reading the build-time fixtures (sections dumped with
// llvm-objcopy) and parsing `llvm-readobj --stackmap` text, the independent reference.
#pragma once

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace fixtures {

inline std::string path(const std::string& name) {
    return std::string(GCWALK_FIXTURE_DIR) + "/" + name;
}

inline std::vector<uint8_t> bytes(const std::string& name) {
    std::ifstream in(path(name), std::ios::binary);
    if (!in) throw std::runtime_error("cannot open fixture " + path(name));
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct RefLocation {
    std::string kind; // as readobj prints it: Register, Direct, Indirect, Constant, ConstantIndex
    unsigned reg = 0;
    int64_t offset = 0; // Direct/Indirect offset, Constant value (as printed: unsigned 32), index
    uint64_t value = 0; // ConstantIndex: the constant readobj resolved
    unsigned size = 0;
};
struct RefLiveOut {
    unsigned reg = 0;
    unsigned size = 0;
};
struct RefRecord {
    uint64_t id = 0;
    uint32_t instruction_offset = 0;
    std::vector<RefLocation> locations;
    std::vector<RefLiveOut> live_outs;
};
struct RefFunction {
    uint64_t address = 0, stack_size = 0, record_count = 0;
};
struct RefStackMap {
    unsigned version = 0;
    std::vector<RefFunction> functions;
    std::vector<uint64_t> constants;
    std::vector<RefRecord> records;
};

inline bool starts(const std::string& s, const char* prefix) {
    return s.rfind(prefix, 0) == 0;
}

inline std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(' ');
    return b == std::string::npos ? std::string() : s.substr(b);
}

// Parses what llvm-readobj-14 --stackmap prints (only the first blob of a section).
inline RefStackMap readobj(const std::string& name) {
    std::ifstream in(path(name));
    if (!in) throw std::runtime_error("cannot open fixture " + path(name));
    RefStackMap m;
    std::string raw;
    while (std::getline(in, raw)) {
        const std::string line = trim(raw);
        unsigned long long a = 0, b = 0, c = 0;
        char kind[32] = {};
        if (std::sscanf(line.c_str(), "LLVM StackMap Version: %llu", &a) == 1) {
            m.version = static_cast<unsigned>(a);
        } else if (std::sscanf(
                       line.c_str(),
                       "Function address: %llu, stack size: %llu, callsite record count: %llu", &a,
                       &b, &c) == 3) {
            m.functions.push_back({a, b, c});
        } else if (starts(line, "#") && m.records.empty() && line.find(',') == std::string::npos) {
            std::sscanf(line.c_str(), "#%llu: %llu", &a, &b);
            m.constants.push_back(b);
        } else if (std::sscanf(line.c_str(), "Record ID: %llu, instruction offset: %llu", &a, &b) ==
                   2) {
            RefRecord r;
            r.id = a;
            r.instruction_offset = static_cast<uint32_t>(b);
            m.records.push_back(r);
        } else if (starts(line, "#") && !m.records.empty() &&
                   std::sscanf(line.c_str(), "#%llu: %31s", &a, kind) == 2) {
            RefLocation l;
            l.kind = kind;
            const std::string rest = line.substr(line.find(kind) + l.kind.size() + 1);
            long long off = 0;
            unsigned reg = 0, size = 0;
            if (l.kind == "Register") {
                std::sscanf(rest.c_str(), "R#%u, size: %u", &reg, &size);
            } else if (l.kind == "Direct") {
                std::sscanf(rest.c_str(), "R#%u + %lld, size: %u", &reg, &off, &size);
            } else if (l.kind == "Indirect") {
                std::sscanf(rest.c_str(), "[R#%u + %lld], size: %u", &reg, &off, &size);
            } else if (l.kind == "Constant") {
                std::sscanf(rest.c_str(), "%lld, size: %u", &off, &size);
            } else if (l.kind == "ConstantIndex") {
                std::sscanf(rest.c_str(), "#%lld (%llu), size: %u", &off, &a, &size);
                l.value = a;
            }
            l.reg = reg;
            l.offset = off;
            l.size = size;
            m.records.back().locations.push_back(l);
        } else if (line.find("live-outs: [") != std::string::npos) {
            std::istringstream outs(line.substr(line.find('[') + 1));
            std::string tok;
            while (outs >> tok && tok != "]") {
                RefLiveOut o;
                std::sscanf(tok.c_str(), "R#%u", &o.reg);
                outs >> tok; // "(8-bytes)"
                std::sscanf(tok.c_str(), "(%u-bytes)", &o.size);
                m.records.back().live_outs.push_back(o);
            }
        }
    }
    return m;
}

// Offset of record r in a v3 blob, computed from the reference alone (the layout of FORMATS.md).
inline uint64_t record_offset(const RefStackMap& m, size_t r) {
    auto align8 = [](uint64_t v) { return (v + 7) & ~uint64_t{7}; };
    uint64_t off = 16 + 24 * m.functions.size() + 8 * m.constants.size();
    for (size_t i = 0; i < r; ++i) {
        const auto& rec = m.records[i];
        off += align8(align8(16 + 12 * rec.locations.size()) + 4 + 4 * rec.live_outs.size());
    }
    return off;
}
inline uint64_t location_offset(const RefStackMap& m, size_t r, size_t l) {
    return record_offset(m, r) + 16 + 12 * l;
}

} // namespace fixtures
