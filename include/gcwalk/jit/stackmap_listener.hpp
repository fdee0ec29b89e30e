// The RuntimeDyld side of the JIT glue (gcwalk::jit; this header carries LLVM types, as only the
// JIT glue's headers do): a JITEventListener for RTDyldObjectLinkingLayer and MCJIT users.
//
//   gcwalk::jit::RuntimeSink sink;
//   gcwalk::jit::StackMapListener listener(sink);
//   rtdyld_layer.registerJITEventListener(listener);   // or MCJIT's RegisterJITEventListener
//
// notifyObjectLoaded comes after RuntimeDyld placed the sections and before it applies their
// relocations, so the listener makes the final bytes of `.llvm_stackmaps` and `.eh_frame` itself:
// the object file's bytes with its R_X86_64_64 / PC32 / PC64 relocations applied against the
// sections' load addresses (LoadedObjectInfo). Function sizes come from the object's symbols.
// notifyFreeingObject removes the object. Errors (a relocation it cannot apply, bad bytes) cannot
// be returned through the interface: they are kept in errors(), and the object is not registered.
#pragma once

#include <gcwalk/jit/jit_object_sink.hpp>

#include <llvm/ExecutionEngine/JITEventListener.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace gcwalk::jit {

class StackMapListener final : public llvm::JITEventListener {
  public:
    explicit StackMapListener(JitObjectSink& sink) : sink_(sink) {}

    void notifyObjectLoaded(ObjectKey key, const llvm::object::ObjectFile& object,
                            const llvm::RuntimeDyld::LoadedObjectInfo& info) override;
    void notifyFreeingObject(ObjectKey key) override;

    struct Stats {
        uint64_t objects = 0;
        uint64_t stackmap_bytes = 0;
        uint64_t register_ns = 0; // relocating the two sections' copies plus the sink's work
    };
    Stats stats() const;
    size_t registered() const;
    std::vector<std::string> errors() const; // what could not be registered, and why

  private:
    JitObjectSink& sink_;
    mutable std::mutex mutex_;
    std::map<ObjectKey, uint64_t> handles_;
    std::vector<std::string> errors_;
    Stats stats_;
};

} // namespace gcwalk::jit
