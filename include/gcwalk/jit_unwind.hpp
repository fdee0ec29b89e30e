// JIT-compiled code's unwind info made known to libunwind (nongnu libunwind 1.6.2, through
// _U_dyn_register), so that the libunwind walker (the reference, and GCWALK_VERIFY's other side)
// steps JIT frames as it steps frames of loaded images. libunwind types stay in the .cpp.
//
//   auto reg = gcwalk::JitUnwindRegistration::add("module", eh_frame_bytes, eh_frame_address);
//   ...                                     // JIT code runs, walks step its frames
//   reg->reset();                           // before the JIT frees the code and its .eh_frame
#pragma once

#include <gcwalk/expected.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace gcwalk {

class JitUnwindRegistration {
  public:
    // Registers every FDE of the `.eh_frame` section that lies at `eh_frame_address`: the table
    // libunwind searches (UNW_INFO_FORMAT_REMOTE_TABLE, relative to the section) is built from
    // `eh_frame` (the section's final bytes: what is in memory there, or will be once the JIT has
    // applied its relocations), and libunwind reads the JIT's own CIEs and FDEs in memory when it
    // steps a frame. The section and the code must stay in place until the registration is
    // destroyed. Errors name the object and the offset.
    static Expected<std::unique_ptr<JitUnwindRegistration>>
    add(std::string name, std::span<const uint8_t> eh_frame, uint64_t eh_frame_address);
    // Cancels the registration (_U_dyn_cancel) and flushes libunwind's caches, so that code
    // later placed at the same addresses is not stepped with these rules. Call it while no
    // libunwind walk runs (libunwind's dynamic list is read without a lock).
    ~JitUnwindRegistration();
    JitUnwindRegistration(const JitUnwindRegistration&) = delete;
    JitUnwindRegistration& operator=(const JitUnwindRegistration&) = delete;

    uint64_t start_ip() const noexcept; // the code it covers: [start_ip, end_ip)
    uint64_t end_ip() const noexcept;
    uint64_t num_fdes() const noexcept;

    struct Impl;

  private:
    explicit JitUnwindRegistration(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace gcwalk
