// Reads the text `llvm-readobj --stackmap` prints, so tests compare gcwalk with LLVM's own
// reading of the same object instead of with hard-coded values.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace gcwalk::test {

struct ReadobjFunction {
    uint64_t address = 0, stack_size = 0, record_count = 0;
};

struct ReadobjRecord {
    uint64_t id = 0;
    uint32_t instruction_offset = 0;
    std::vector<std::string> locations; // as printed, e.g. "Indirect [R#7 + 8], size: 8"
    std::string live_outs;              // the "N live-outs: [ ... ]" line
};

struct ReadobjStackMap {
    int version = 0;
    std::vector<ReadobjFunction> functions;
    std::vector<uint64_t> constants;
    std::vector<ReadobjRecord> records;
};

inline std::string read_text_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline ReadobjStackMap parse_readobj_stackmap(const std::string& text) {
    ReadobjStackMap m;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        auto pos = line.find_first_not_of(' ');
        if (pos == std::string::npos) continue;
        std::string s = line.substr(pos);
        unsigned long long a = 0, b = 0, c = 0;
        int n = 0;
        if (std::sscanf(s.c_str(), "LLVM StackMap Version: %d", &n) == 1) {
            m.version = n;
        } else if (std::sscanf(
                       s.c_str(),
                       "Function address: %llu, stack size: %llu, callsite record count: %llu", &a,
                       &b, &c) == 3) {
            m.functions.push_back({a, b, c});
        } else if (std::sscanf(s.c_str(), "Record ID: %llu, instruction offset: %llu", &a, &b) ==
                   2) {
            m.records.push_back({a, static_cast<uint32_t>(b), {}, {}});
        } else if (s[0] == '#' && !m.records.empty()) {
            m.records.back().locations.push_back(s.substr(s.find(": ") + 2));
        } else if (s.find("live-outs:") != std::string::npos && !m.records.empty()) {
            m.records.back().live_outs = s;
        } else if (std::sscanf(s.c_str(), "#%*d: %llu", &a) == 1) {
            m.constants.push_back(a);
        }
    }
    return m;
}

// The root slots of one location as readobj prints it, in the index's terms (docs/FORMATS.md):
// "R#r" for a register, "[R#r + off]" for each 8 bytes of a memory slot (Indirect, or the Direct
// of a gc alloca, whose slot holds the pointer).
inline std::vector<std::string> readobj_root_slots(const std::string& loc) {
    int reg = 0;
    long long off = 0;
    unsigned size = 0;
    std::vector<std::string> out;
    if (std::sscanf(loc.c_str(), "Register R#%d, size: %u", &reg, &size) == 2) {
        out.push_back("R#" + std::to_string(reg));
    } else if (std::sscanf(loc.c_str(), "Indirect [R#%d + %lld], size: %u", &reg, &off, &size) ==
                   3 ||
               std::sscanf(loc.c_str(), "Direct R#%d + %lld, size: %u", &reg, &off, &size) == 3) {
        for (unsigned i = 0; i < size / 8; ++i)
            out.push_back("[R#" + std::to_string(reg) + " + " + std::to_string(off + 8 * i) + "]");
    }
    return out;
}

// The distinct (base, derived) root slot pairs of a statepoint record as readobj prints it, with
// the meaning docs/FORMATS.md gives them: a pair is a root only when neither side is a Constant
// or a Direct (a null base, a stack address: never moved); trailing gc allocas (Direct locations
// after the pairs) are roots (a, a); an N x 8-byte location is N slots.
inline std::vector<std::pair<std::string, std::string>>
readobj_statepoint_pairs(const ReadobjRecord& r) {
    auto never_moves = [](const std::string& loc) {
        return loc.rfind("Constant", 0) == 0 || loc.rfind("Direct", 0) == 0;
    };
    std::vector<std::pair<std::string, std::string>> out;
    unsigned long long ndeopt = 0;
    std::sscanf(r.locations.at(2).c_str(), "Constant %llu", &ndeopt);
    size_t i = 3 + ndeopt;
    size_t end = r.locations.size();
    while (end > i && r.locations[end - 1].rfind("Direct", 0) == 0) --end;
    auto add = [&](const std::string& base, const std::string& derived) {
        std::vector<std::string> b = readobj_root_slots(base), d = readobj_root_slots(derived);
        for (size_t k = 0; k < b.size() && k < d.size(); ++k) {
            std::pair<std::string, std::string> p{b[k], d[k]};
            if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(std::move(p));
        }
    };
    for (; i + 1 < end; i += 2)
        if (!never_moves(r.locations[i]) && !never_moves(r.locations[i + 1]))
            add(r.locations[i], r.locations[i + 1]);
    for (size_t k = end; k < r.locations.size(); ++k) add(r.locations[k], r.locations[k]);
    return out;
}

} // namespace gcwalk::test
