// The registry of the test process's own images, scanned once: for tests that walk their own
// stack (the managed code under test is linked into the test executable).
#pragma once

#include <gcwalk/image_registry.hpp>

#include <catch2/catch.hpp>

namespace gcwalk::test {

inline ImageRegistry& registry() {
    static ImageRegistry* r = [] {
        auto* reg = new ImageRegistry;
        Status st = reg->rescan();
        if (!st) FAIL("rescan: " << st.message());
        return reg;
    }();
    return *r;
}

} // namespace gcwalk::test
