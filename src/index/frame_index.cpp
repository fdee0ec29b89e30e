// Answers the FrameIndex's queries: return-address lookups, functions by address, the records
// behind call sites. The index is built by frame_index_builder.cpp.
#include "frame_index_impl.hpp"

#include <gcwalk/frame_index.hpp>
#include <gcwalk/frame_table.hpp>
#include <gcwalk/statepoint.hpp>

#include <algorithm>

namespace gcwalk {

FrameIndex::FrameIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
    cache_pointers();
}
FrameIndex::FrameIndex(FrameIndex&& o) noexcept : impl_(std::move(o.impl_)) {
    cache_pointers();
}
FrameIndex& FrameIndex::operator=(FrameIndex&& o) noexcept {
    impl_ = std::move(o.impl_);
    cache_pointers();
    return *this;
}

void FrameIndex::cache_pointers() noexcept {
    if (!impl_) return;
    table_ = impl_->table.data();
    nslots_ = impl_->home_slots;
    roots_ = impl_->roots.data();
    root_offsets_ = impl_->root_offsets.data();
    rules_ = impl_->rules.data();
    serial_ = impl_->serial;
    register_roots_ = impl_->register_roots;
}
FrameIndex::~FrameIndex() = default;

const NativeFrames* FrameIndex::native_frames() const noexcept {
    return impl_ ? impl_->native.get() : nullptr;
}
void FrameIndex::set_native_frames(std::shared_ptr<const NativeFrames> native) noexcept {
    impl_->native = std::move(native);
}

const FrameRecord* FrameIndex::function_containing(uint64_t address) const noexcept {
    const auto& f = impl_->frames;
    auto it = std::upper_bound(f.begin(), f.end(), address, [](uint64_t a, const FrameRecord& r) {
        return a < r.function_address;
    });
    if (it == f.begin()) return nullptr;
    --it;
    return address - it->function_address < it->function_size ? &*it : nullptr;
}

Lookup FrameIndex::classify(uint64_t ra, const CallSite** site,
                            const FrameRecord** function) const noexcept {
    if (const CallSite* cs = find(ra)) {
        if (site) *site = cs;
        return Lookup::Safepoint;
    }
    // A return address can be one past the end of a function that ends in a call (noreturn).
    if (const FrameRecord* f = function_containing(ra - 1)) {
        if (function) *function = f;
        return Lookup::ManagedNoRecord;
    }
    return Lookup::NotManaged;
}

const FrameRecord* FrameIndex::frame(const CallSite& cs) const noexcept {
    return function_containing(cs.return_address() - 1);
}

const std::vector<StackMapBlob>* FrameIndex::Impl::blobs_of(uint32_t image) const noexcept {
    if (image >= blobs.size()) return nullptr;
    if (blobs[image]) return blobs[image].get();
    Unpacked* u = image < unpacked.size() ? unpacked[image].get() : nullptr;
    if (!u) return nullptr;
    const FrameTable* table = images[image].table.get();
    std::call_once(u->once, [&]() noexcept {
        try {
            auto bytes = v3_from_frame_table(*table);
            if (!bytes) {
                u->error = bytes.error().message;
                return;
            }
            u->bytes = std::move(*bytes);
            auto blob = StackMapBlob::parse(u->bytes, images[image].name);
            if (blob)
                u->blobs.push_back(std::move(*blob));
            else
                u->error = blob.error().message;
        } catch (...) { // out of memory: no view (record() answers false)
            u->blobs.clear();
            u->error.clear(); // (assigning a message could throw again)
        }
    });
    return u->blobs.empty() ? nullptr : &u->blobs;
}

std::string FrameIndex::record_error(uint32_t image) const {
    const Impl::Unpacked* u =
        image < impl_->unpacked.size() ? impl_->unpacked[image].get() : nullptr;
    if (!u) return {};
    (void)impl_->blobs_of(image); // (made once: after that, this reads what it left)
    if (!u->blobs.empty()) return {};
    return u->error.empty() ? impl_->images[image].name + ": out of memory making its records"
                            : u->error;
}

bool FrameIndex::record(const CallSite& cs, RecordRef* out) const noexcept {
    const FrameRecord* f = frame(cs);
    if (!f) return false;
    const std::vector<StackMapBlob>* blobs = impl_->blobs_of(f->image);
    if (!blobs || f->blob >= blobs->size()) return false;
    const StackMapBlob& blob = (*blobs)[f->blob];
    uint64_t offset = cs.return_address() - f->function_address;
    bool found = false;
    for (uint32_t r = 0; r < f->num_records; ++r) {
        RecordView v = blob.record(f->first_record + r);
        if (v.instruction_offset() != offset) continue;
        bool sp = static_cast<bool>(decode_statepoint(blob, v));
        // Same choice as the builder: the statepoint record wins, else the first.
        if (!found || (sp && !out->is_statepoint)) {
            *out = RecordRef{f->image, f->blob, f->first_record + r, f->function, v, sp};
            found = true;
        }
    }
    return found;
}

const StackMapBlob& FrameIndex::blob(const RecordRef& ref) const noexcept {
    static const StackMapBlob none{};
    const std::vector<StackMapBlob>* blobs = impl_->blobs_of(ref.image);
    return blobs && ref.blob < blobs->size() ? (*blobs)[ref.blob] : none;
}

std::span<const FrameRecord> FrameIndex::frames() const noexcept {
    return {impl_->frames.data(), impl_->frames.size()};
}
size_t FrameIndex::num_call_sites() const noexcept {
    return impl_->num_sites;
}

std::vector<CallSite> FrameIndex::call_sites() const {
    std::vector<CallSite> out;
    out.reserve(impl_->num_sites);
    for (const CallSite& cs : impl_->table)
        if (cs.key != 0) out.push_back(cs);
    std::sort(out.begin(), out.end(), [](const CallSite& a, const CallSite& b) {
        return a.return_address() < b.return_address();
    });
    return out;
}

std::span<const ImageStackMaps> FrameIndex::images() const noexcept {
    return impl_->images;
}

size_t FrameIndex::resident_bytes() const noexcept {
    size_t n = sizeof(Impl) + impl_->table.bytes() + impl_->roots.bytes() +
               impl_->root_offsets.bytes() + impl_->rules.capacity() * sizeof(FrameRule) +
               impl_->frames.bytes();
    for (const auto& bl : impl_->blobs) { // held, or shared with the caller that parsed them
        if (!bl) continue;                // a packed image (its view is made on demand)
        n += bl->capacity() * sizeof(StackMapBlob);
        for (const auto& b : *bl) n += b.num_records() * 4 + b.num_functions() * 8; // offset tables
    }
    return n;
}

} // namespace gcwalk
