// One frame as a walker stands on it, with where each callee-saved register lives and its value:
// what two walks of one stack must agree on.
#pragma once

#include <gcwalk/walker.hpp>

#include <cstdint>

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
            if (slots[i] != o.slots[i] || value_ok[i] != o.value_ok[i] || (value_ok[i] && values[i] != o.values[i]))
                return false;
        return true;
    }
};

} // namespace gcwalk::test
