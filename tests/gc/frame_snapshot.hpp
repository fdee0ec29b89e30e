// One frame as a walker stands on it, with where each callee-saved register lives and its value,
// and the events of a root visit: what two walks of one stack must agree on.
#pragma once

#include <gcwalk/roots.hpp>
#include <gcwalk/walker.hpp>

#include <cstdint>
#include <vector>

namespace gcwalk::test {

struct FrameSnapshot {
    uint64_t ra = 0, sp = 0;
    uint32_t depth = 0;
    uint64_t* slots[6] = {};
    uint64_t values[6] = {};
    bool value_ok[6] = {};

    static FrameSnapshot of(const Walker& w) {
        FrameSnapshot s;
        s.ra = w.frame().return_address;
        s.sp = w.frame().sp;
        s.depth = w.frame().depth;
        for (int i = 0; i < 6; ++i) {
            s.slots[i] = w.register_slot(kCalleeSaved[i]);
            s.value_ok[i] = w.register_value(kCalleeSaved[i], &s.values[i]);
        }
        return s;
    }
    bool operator==(const FrameSnapshot& o) const {
        if (ra != o.ra || sp != o.sp || depth != o.depth) return false;
        for (int i = 0; i < 6; ++i)
            if (slots[i] != o.slots[i] || value_ok[i] != o.value_ok[i] ||
                (value_ok[i] && values[i] != o.values[i]))
                return false;
        return true;
    }
};

// What visit_roots reports, in order: frame (0, ra, sp), root (1, slot), derived (2, base, slot).
struct RootEvents final : RootVisitor {
    std::vector<uint64_t> seen;
    void frame(uint64_t ra, uint64_t sp) override { seen.insert(seen.end(), {0, ra, sp}); }
    void root(void** s) override { seen.insert(seen.end(), {1, reinterpret_cast<uint64_t>(s)}); }
    void derived(void** b, void** s) override {
        seen.insert(seen.end(), {2, reinterpret_cast<uint64_t>(b), reinterpret_cast<uint64_t>(s)});
    }
};

} // namespace gcwalk::test
