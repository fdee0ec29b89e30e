// Where the JIT glue (gcwalk::jit) sends the JIT objects it reads: a runtime that links the
// gcwalk core registers them with its own gcwalk::JitObjects (JitObjectsSink); one that runs
// under the reference runtime, libgcwalk-runtime.so, with that runtime's (RuntimeSink).
// Part of the JIT glue, whose headers alone among gcwalk's carry LLVM types (this one does not).
#pragma once

#include <gcwalk/image_registry.hpp>
#include <gcwalk/jit_objects.hpp>
#include <gcwalk/runtime.h>

#include <string>

namespace gcwalk::jit {

class JitObjectSink {
  public:
    virtual ~JitObjectSink() = default;
    // Registers one JIT object (its final bytes; see gcwalk::JitObjects::add) with both walkers.
    virtual Expected<uint64_t> add(std::string name, const ImageRegistry::JitObject& object) = 0;
    virtual Status remove(uint64_t handle) = 0;
};

// Into a gcwalk::JitObjects (a runtime that links the core and owns its ImageRegistry).
class JitObjectsSink final : public JitObjectSink {
  public:
    explicit JitObjectsSink(JitObjects& objects) : objects_(objects) {}
    Expected<uint64_t> add(std::string name, const ImageRegistry::JitObject& object) override {
        return objects_.add(std::move(name), object);
    }
    Status remove(uint64_t handle) override { return objects_.remove(handle); }

  private:
    JitObjects& objects_;
};

// Into the reference runtime (gcwalk_rt_add_jit_object): only for programs linked with
// libgcwalk-runtime.so, and inline, so that the glue library itself does not need the runtime.
class RuntimeSink final : public JitObjectSink {
  public:
    Expected<uint64_t> add(std::string name, const ImageRegistry::JitObject& object) override {
        std::vector<uint64_t> fns;
        for (const FunctionRange& f : object.functions) fns.insert(fns.end(), {f.address, f.size});
        uint64_t handle = 0;
        if (gcwalk_rt_add_jit_object(name.c_str(), object.stackmaps.data(), object.stackmaps.size(),
                                     object.eh_frame.data(), object.eh_frame.size(),
                                     object.eh_frame_address, fns.data(), object.functions.size(),
                                     &handle) != 0)
            return Error{gcwalk_rt_jit_error()};
        return handle;
    }
    Status remove(uint64_t handle) override {
        if (gcwalk_rt_remove_jit_object(handle) != 0) return Error{gcwalk_rt_jit_error()};
        return {};
    }
};

} // namespace gcwalk::jit
