// JIT-compiled objects registered with both walkers at once: their stack maps, frame rules and
// native frames with an ImageRegistry (the fast walker), their .eh_frame with libunwind (the
// libunwind walker), and both removed together. What the C API's gcwalk_registry_add_jit_object,
// the reference runtime and the JIT glue (gcwalk::jit) use.
//
//   gcwalk::JitObjects jit(registry);
//   auto h = jit.add("module", {stackmaps, eh_frame, eh_frame_address, functions});
//   ...                       // run the code; any thread walks registry.index() without a lock
//   jit.remove(*h);           // before the code is freed
//   jit.reclaim();            // later, when no walk can still be running (see below)
//
// The rule for objects added and removed while other threads walk (ImageRegistry::index): add
// and remove only publish; what a walk may still hold (the replaced index, a removed object's
// bytes, its libunwind registration, which libunwind reads without a lock) is retired, and
// reclaim() frees it. Call reclaim() only when no walk that began before the last change can
// still run: for a collector, while the world is stopped and before its walks begin.
#pragma once

#include <gcwalk/image_registry.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace gcwalk {

class JitUnwindRegistration;

class JitObjects {
  public:
    explicit JitObjects(ImageRegistry& registry);
    ~JitObjects(); // removes what is still registered
    JitObjects(const JitObjects&) = delete;
    JitObjects& operator=(const JitObjects&) = delete;

    // The object's final bytes (after the JIT's relocations); its code and its .eh_frame lie at
    // their final addresses in this process (libunwind reads the .eh_frame there), and stay
    // there until remove(). Nothing is registered anywhere when this fails.
    Expected<ImageRegistry::JitHandle> add(std::string name,
                                           const ImageRegistry::JitObject& object);
    Status remove(ImageRegistry::JitHandle handle);
    // Frees what removals retired: ImageRegistry::reclaim(), then libunwind's registrations.
    void reclaim();

    ImageRegistry& registry() noexcept { return registry_; }

  private:
    ImageRegistry& registry_;
    std::mutex mutex_;
    std::map<ImageRegistry::JitHandle, std::unique_ptr<JitUnwindRegistration>> unwind_;
    std::vector<std::unique_ptr<JitUnwindRegistration>> retired_;
};

} // namespace gcwalk
