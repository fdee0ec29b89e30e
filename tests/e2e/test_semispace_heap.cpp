// Unit tests of the runtime's semispace heap (gc/runtime/semispace_heap.cpp): allocation, limits,
// Cheney evacuation with forwarding, forwarding without copying (forward, copy_live), poisoning.
#include "semispace_heap.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstring>

using gcwalk::rt::SemispaceHeap;

namespace {

void*& field(void* obj, uint64_t i) {
    return static_cast<void**>(obj)[i];
}
// True when the kernel cannot read `p` (write() from it fails with EFAULT instead of faulting us).
bool inaccessible(const void* p) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const bool fault = write(fds[1], p, 1) < 0 && errno == EFAULT;
    close(fds[0]);
    close(fds[1]);
    return fault;
}

uint64_t& data_word(void* obj, uint64_t refs) {
    return *reinterpret_cast<uint64_t*>(static_cast<char*>(obj) + 8 * refs);
}

} // namespace

TEST_CASE("objects are zeroed, 8-aligned and distinct, with the header before the first field") {
    SemispaceHeap heap;
    std::string message;
    REQUIRE(heap.init(1 << 20, &message));
    void* a = heap.try_allocate(3, 5);
    void* b = heap.try_allocate(0, 0);
    void* c = heap.try_allocate(0, 0);
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    CHECK(reinterpret_cast<uintptr_t>(a) % 8 == 0);
    for (int i = 0; i < 3; ++i) CHECK(field(a, i) == nullptr);
    CHECK(data_word(a, 3) == 0);
    CHECK(b != c); // empty objects still get their own address
    CHECK(SemispaceHeap::object_size(3, 5) == 8 + 24 + 8);
    CHECK(SemispaceHeap::object_size(0, 0) == 16);
    CHECK(heap.used_bytes() == 40 + 16 + 16);
}

TEST_CASE("sizes over the header's limits and a full space are refused") {
    CHECK(SemispaceHeap::object_size(SemispaceHeap::kMaxPtrFields + 1, 0) == 0);
    CHECK(SemispaceHeap::object_size(0, SemispaceHeap::kMaxDataBytes + 1) == 0);
    SemispaceHeap heap;
    std::string message;
    REQUIRE(heap.init(4096, &message));
    CHECK(heap.try_allocate(0, 4096) == nullptr);
    CHECK(heap.try_allocate(0, 4096 - 8) != nullptr); // exactly fills the page
    CHECK(heap.try_allocate(0, 0) == nullptr);
}

TEST_CASE("a collection moves what roots reach, keeps the graph and forwards shared objects") {
    SemispaceHeap heap;
    std::string message;
    REQUIRE(heap.init(1 << 20, &message));
    void* a = heap.try_allocate(2, 8);
    void* garbage = heap.try_allocate(0, 64);
    void* b = heap.try_allocate(1, 8);
    field(a, 0) = b;
    field(a, 1) = a; // a cycle through itself
    field(b, 0) = a; // and through b
    data_word(a, 2) = 111;
    data_word(b, 1) = 222;
    (void)garbage;

    heap.begin_collection();
    void* a2 = heap.evacuate(a);
    CHECK(heap.evacuate(a) == a2); // forwarded: the same new address
    heap.finish_collection();

    CHECK(a2 != a);
    void* b2 = field(a2, 0);
    CHECK(b2 != b);
    CHECK(field(a2, 1) == a2);
    CHECK(field(b2, 0) == a2);
    CHECK(data_word(a2, 2) == 111);
    CHECK(data_word(b2, 1) == 222);
    CHECK(heap.copied_bytes() ==
          SemispaceHeap::object_size(2, 8) + SemispaceHeap::object_size(1, 8));
    CHECK(heap.used_bytes() == heap.copied_bytes()); // the garbage was not copied
    CHECK(heap.in_poisoned_space(reinterpret_cast<uintptr_t>(a)));
    CHECK_FALSE(heap.in_poisoned_space(reinterpret_cast<uintptr_t>(a2)));
    CHECK(inaccessible(a)); // the old copies are unusable
    CHECK(inaccessible(b));
    CHECK_FALSE(inaccessible(a2));

    // The next collection moves them again, back into the (re-enabled, zeroed) first space.
    void* fresh = heap.try_allocate(0, 8);
    CHECK(data_word(fresh, 0) == 0);
    heap.begin_collection();
    void* a3 = heap.evacuate(a2);
    heap.finish_collection();
    CHECK(a3 != a2);
    CHECK(data_word(field(a3, 0), 1) == 222);
    CHECK(heap.in_poisoned_space(reinterpret_cast<uintptr_t>(a2)));
    void* after = heap.try_allocate(4, 0);
    for (int i = 0; i < 4; ++i) CHECK(field(after, i) == nullptr);
}

TEST_CASE("forward gives a root its new address but copies nothing until copy_live") {
    SemispaceHeap heap;
    std::string message;
    REQUIRE(heap.init(1 << 20, &message));
    void* a = heap.try_allocate(1, 8);
    void* b = heap.try_allocate(0, 8);
    void* c = heap.try_allocate(1, 0); // reached only through a
    field(a, 0) = c;
    field(c, 0) = b;
    data_word(a, 1) = 111;
    data_word(b, 0) = 222;

    heap.begin_collection();
    void* a2 = heap.forward(a);
    void* b2 = heap.forward(b);
    CHECK(heap.forward(a) == a2); // forwarded: the same new address
    CHECK(heap.evacuate(b) == b2);
    CHECK(a2 != a);
    CHECK(b2 != b);
    CHECK(heap.copied_bytes() == 0); // room reserved, nothing copied
    CHECK(data_word(a2, 1) == 0);    // the to-space copy is still zero
    CHECK(data_word(a, 1) == 111);   // the old bytes are intact
    heap.copy_live();
    CHECK(data_word(a2, 1) == 111);
    CHECK(data_word(b2, 0) == 222);
    void* c2 = field(a2, 0);
    CHECK(c2 != c);
    CHECK(field(c2, 0) == b2); // the scan forwards fields to the forwarded roots
    const uint64_t copied = SemispaceHeap::object_size(1, 8) + SemispaceHeap::object_size(0, 8) +
                            SemispaceHeap::object_size(1, 0);
    CHECK(heap.copied_bytes() == copied);
    heap.finish_collection(); // copy_live already ran: it copies nothing twice
    CHECK(heap.copied_bytes() == copied);
    CHECK(heap.used_bytes() == copied);
    CHECK(inaccessible(a));
    CHECK(data_word(a2, 1) == 111);

    // Without copy_live, finish_collection copies the forwarded objects itself.
    heap.begin_collection();
    void* a3 = heap.forward(a2);
    heap.finish_collection();
    CHECK(data_word(a3, 1) == 111);
    CHECK(field(field(a3, 0), 0) != nullptr);
    CHECK(data_word(field(field(a3, 0), 0), 0) == 222);
}
