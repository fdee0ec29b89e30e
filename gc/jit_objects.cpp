// JitObjects: one JIT object registered with the ImageRegistry and with libunwind together.
#include <gcwalk/jit_objects.hpp>
#include <gcwalk/jit_unwind.hpp>

namespace gcwalk {

JitObjects::JitObjects(ImageRegistry& registry) : registry_(registry) {}

JitObjects::~JitObjects() {
    for (auto& [handle, unwind] : unwind_) (void)registry_.remove_jit(handle);
}

void JitObjects::reclaim() {
    registry_.reclaim();
    std::lock_guard lock(mutex_);
    retired_.clear(); // cancels libunwind's registrations of removed objects
}

Expected<ImageRegistry::JitHandle> JitObjects::add(std::string name,
                                                   const ImageRegistry::JitObject& object) {
    auto unwind = JitUnwindRegistration::add(name, object.eh_frame, object.eh_frame_address);
    if (!unwind) return Error{unwind.error().message};
    auto handle = registry_.add_jit_object(std::move(name), object);
    if (!handle) return handle; // *unwind cancels its registration
    std::lock_guard lock(mutex_);
    unwind_.emplace(*handle, std::move(*unwind));
    return handle;
}

Status JitObjects::remove(ImageRegistry::JitHandle handle) {
    std::lock_guard lock(mutex_);
    auto it = unwind_.find(handle);
    if (it == unwind_.end()) return Error{"no JIT object with handle " + std::to_string(handle)};
    if (Status st = registry_.remove_jit(handle); !st) return st;
    retired_.push_back(std::move(it->second)); // a libunwind walk may be reading it: see reclaim
    unwind_.erase(it);
    return {};
}

} // namespace gcwalk
