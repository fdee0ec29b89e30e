// The JITLink side of the JIT glue (gcwalk::jit; this header carries LLVM types, as only the JIT
// glue's headers do): an ObjectLinkingLayer plugin that registers the stack maps and frame rules
// of every object the layer links.
//
//   auto& layer = ...;                                  // an llvm::orc::ObjectLinkingLayer
//   gcwalk::jit::RuntimeSink sink;                      // or JitObjectsSink over JitObjects
//   layer.addPlugin(std::make_shared<gcwalk::jit::StackMapPlugin>(sink));  // LLVM 14: unique_ptr
//
// Per linked graph: before pruning, `.llvm_stackmaps` and its `__LLVM_StackMaps` symbol are kept
// alive (nothing references them, so JITLink would drop them); after fixups the section's bytes
// are taken (final function addresses), with the graph's callable symbols (function sizes) and
// where its `.eh_frame` lies; once the memory is finalized (notifyEmitted, before any of the
// code can run) the object goes to the sink, which computes every call site's frame rule from
// that `.eh_frame` and registers it with libunwind. The registration belongs to the
// materialization's ResourceTracker: removed with it, moved when it is transferred.
#pragma once

#include <gcwalk/jit/jit_object_sink.hpp>

#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace gcwalk::jit {

class StackMapPlugin final : public llvm::orc::ObjectLinkingLayer::Plugin {
  public:
    explicit StackMapPlugin(JitObjectSink& sink) : sink_(sink) {}

    void modifyPassConfig(llvm::orc::MaterializationResponsibility& mr,
                          llvm::jitlink::LinkGraph& graph,
                          llvm::jitlink::PassConfiguration& config) override;
    llvm::Error notifyEmitted(llvm::orc::MaterializationResponsibility& mr) override;
    llvm::Error notifyFailed(llvm::orc::MaterializationResponsibility& mr) override;
#if LLVM_VERSION_MAJOR >= 17 // (built and tested with LLVM 14 and 22)
    llvm::Error notifyRemovingResources(llvm::orc::JITDylib& jd,
                                        llvm::orc::ResourceKey key) override;
    void notifyTransferringResources(llvm::orc::JITDylib& jd, llvm::orc::ResourceKey dst,
                                     llvm::orc::ResourceKey src) override;
#else
    llvm::Error notifyRemovingResources(llvm::orc::ResourceKey key) override;
    void notifyTransferringResources(llvm::orc::ResourceKey dst,
                                     llvm::orc::ResourceKey src) override;
#endif

    // Totals so far: objects registered (with stack maps or not), their stack map bytes, and
    // the time spent registering them (taking the bytes after fixups plus the sink's work).
    struct Stats {
        uint64_t objects = 0;
        uint64_t stackmap_bytes = 0;
        uint64_t register_ns = 0;
    };
    Stats stats() const;
    // Objects registered now (not yet removed).
    size_t registered() const;

  private:
    struct Captured {
        std::string name;
        std::vector<uint8_t> stackmaps;
        uint64_t eh_frame_address = 0, eh_frame_size = 0;
        std::vector<FunctionRange> functions;
        uint64_t capture_ns = 0;
    };
    llvm::Error capture(llvm::orc::MaterializationResponsibility& mr,
                        llvm::jitlink::LinkGraph& graph);
    llvm::Error remove_key(llvm::orc::ResourceKey key);
    void transfer(llvm::orc::ResourceKey dst, llvm::orc::ResourceKey src);

    JitObjectSink& sink_;
    mutable std::mutex mutex_;
    std::map<llvm::orc::MaterializationResponsibility*, Captured> captured_;
    std::map<llvm::orc::ResourceKey, std::vector<uint64_t>> handles_;
    Stats stats_;
};

} // namespace gcwalk::jit
