// An LLJIT set up for managed code (gcwalk::jit; this header carries LLVM types, as only the JIT
// glue's headers do): the chosen linking layer with gcwalk's registration attached (JITLink's
// ObjectLinkingLayer with a StackMapPlugin, or RuntimeDyld's RTDyldObjectLinkingLayer with a
// StackMapListener), process symbols visible to JIT code (so it calls AOT code and the runtime),
// and modules rewritten for statepoints (RS4GC, `rewrite-statepoints-for-gc`, through the new
// pass manager) before they are added.
//
//   gcwalk::jit::RuntimeSink sink;
//   auto jit = gcwalk::jit::ManagedJit::create(gcwalk::jit::LinkingLayer::JITLink, sink);
//   auto tracker = (*jit)->add_ir_file("program.ll");   // a ResourceTracker: remove() drops it
//   auto entry = (*jit)->lookup<int64_t (*)(int64_t)>("entry");
#pragma once

#include <gcwalk/jit/jit_object_sink.hpp>

#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/Module.h>

#include <cstdint>
#include <memory>
#include <string>

namespace gcwalk::jit {

enum class LinkingLayer : uint8_t { JITLink, RuntimeDyld };
const char* to_string(LinkingLayer layer) noexcept;

class StackMapPlugin;
class StackMapListener;

class ManagedJit {
  public:
    // `lazy`: an LLLazyJIT, whose modules' functions are compiled on their first call (through
    // ORC's lazy call-through stubs), each function's object registered when it is compiled.
    static llvm::Expected<std::unique_ptr<ManagedJit>>
    create(LinkingLayer layer, JitObjectSink& sink, bool lazy = false);
    ~ManagedJit();

    // Rewrites the module for statepoints (RS4GC) and adds it under a new ResourceTracker of
    // the main JITDylib; the tracker's remove() removes its code and its registrations. A lazy
    // JIT adds the module lazily to the main JITDylib, under its default tracker.
    llvm::Expected<llvm::orc::ResourceTrackerSP> add_module(std::unique_ptr<llvm::Module> module,
                                                            llvm::orc::ThreadSafeContext context);
    // Parses textual or bitcode IR and adds it as above. `rename_suffix`, when not empty, is
    // appended to the name of every defined function (the same file added twice at once).
    llvm::Expected<llvm::orc::ResourceTrackerSP> add_ir_file(const std::string& path,
                                                             const std::string& rename_suffix = {});

    // The address of a JIT-compiled (or process) function; compiling and linking happen here
    // for code not yet materialized.
    llvm::Expected<uint64_t> lookup_address(const std::string& name);
    template <class Fn> llvm::Expected<Fn> lookup(const std::string& name) {
        auto a = lookup_address(name);
        if (!a) return a.takeError();
        return reinterpret_cast<Fn>(static_cast<uintptr_t>(*a));
    }

    // Registrations so far (the layer's plugin or listener): objects, stack map bytes, time.
    struct Stats {
        uint64_t objects = 0;
        uint64_t stackmap_bytes = 0;
        uint64_t register_ns = 0;
        size_t registered = 0; // objects registered now
    };
    Stats stats() const;
    // What the listener could not register (RuntimeDyld only; JITLink fails the link instead).
    std::vector<std::string> errors() const;

    LinkingLayer layer() const noexcept { return layer_; }
    llvm::orc::LLJIT& lljit() noexcept { return *lljit_; }

  private:
    ManagedJit() = default;
    LinkingLayer layer_ = LinkingLayer::JITLink;
    bool lazy_ = false;
    std::unique_ptr<StackMapListener> listener_; // outlives the LLJIT: it is told of frees
    StackMapPlugin* plugin_ = nullptr;           // owned by the ObjectLinkingLayer
    std::unique_ptr<llvm::orc::LLJIT> lljit_;
};

// Runs RS4GC (`rewrite-statepoints-for-gc`) on the module, through the new pass manager.
llvm::Error rewrite_statepoints(llvm::Module& module);

} // namespace gcwalk::jit
