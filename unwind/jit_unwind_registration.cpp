// Registers a JIT object's .eh_frame with libunwind's dynamic unwind-info list: one
// unw_dyn_info_t per object, a REMOTE_TABLE whose entries are (code offset, FDE offset) pairs
// relative to the section, as in an .eh_frame_hdr. libunwind searches that list before the
// loaded images (dl_iterate_phdr) for every IP, and then parses the JIT's FDE in place.
#include <gcwalk/detail/eh_frame_table.hpp>
#include <gcwalk/detail/format.hpp>
#include <gcwalk/jit_unwind.hpp>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <algorithm>
#include <climits>
#include <vector>

namespace gcwalk {

struct JitUnwindRegistration::Impl {
    std::string name;
    std::vector<int32_t> table; // (start - segbase, fde - segbase) pairs, sorted by start
    unw_dyn_info_t info{};
    uint64_t num_fdes = 0;
};

JitUnwindRegistration::JitUnwindRegistration(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Expected<std::unique_ptr<JitUnwindRegistration>>
JitUnwindRegistration::add(std::string name, std::span<const uint8_t> eh_frame,
                           uint64_t eh_frame_address) {
    const uint64_t base = eh_frame_address;
    // The same parse the registry's rules come from: the same FDEs, the same refusals.
    auto fdes = EhFrameTable::open_eh_frame(name, eh_frame, base);
    if (!fdes) return Error{fdes.error().message};
    auto impl = std::make_unique<Impl>();
    impl->name = std::move(name);
    uint64_t lo = ~uint64_t{0}, hi = 0;
    for (uint64_t i = 0; i < fdes->num_fdes(); ++i) {
        uint64_t start = 0, end = 0, fde = 0;
        if (!fdes->fde_at(i, &start, &end, &fde) || end <= start) continue;
        const int64_t off = static_cast<int64_t>(start - base);
        if (off < INT32_MIN || off > INT32_MAX)
            return Error{impl->name + ": code at " + hex(start) +
                         " lies more than 2 GiB away from its .eh_frame at " + hex(base)};
        impl->table.push_back(static_cast<int32_t>(off));
        impl->table.push_back(static_cast<int32_t>(fde - base));
        lo = std::min(lo, start);
        hi = std::max(hi, end);
        ++impl->num_fdes;
    }
    if (impl->num_fdes == 0)
        return Error{impl->name + ": .eh_frame at " + hex(base) + " describes no code"};
    unw_dyn_info_t& di = impl->info;
    di.start_ip = lo;
    di.end_ip = hi;
    di.gp = 0;
    di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
    di.u.rti.name_ptr = reinterpret_cast<uintptr_t>(impl->name.c_str());
    di.u.rti.segbase = base;
    static_assert(sizeof(unw_word_t) == 2 * sizeof(int32_t)); // one table entry per word
    di.u.rti.table_len = impl->table.size() / 2;
    di.u.rti.table_data = reinterpret_cast<uintptr_t>(impl->table.data());
    _U_dyn_register(&di);
    unw_flush_cache(unw_local_addr_space, 0, 0);
    return std::unique_ptr<JitUnwindRegistration>(new JitUnwindRegistration(std::move(impl)));
}

JitUnwindRegistration::~JitUnwindRegistration() {
    if (!impl_) return;
    _U_dyn_cancel(&impl_->info);
    unw_flush_cache(unw_local_addr_space, 0, 0);
}

uint64_t JitUnwindRegistration::start_ip() const noexcept {
    return impl_->info.start_ip;
}
uint64_t JitUnwindRegistration::end_ip() const noexcept {
    return impl_->info.end_ip;
}
uint64_t JitUnwindRegistration::num_fdes() const noexcept {
    return impl_->num_fdes;
}

} // namespace gcwalk
