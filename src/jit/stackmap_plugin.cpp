// StackMapPlugin: JITLink graphs' stack maps and .eh_frame, taken after fixups and registered
// once the memory is finalized; registrations follow the ResourceTrackers.
#include <gcwalk/jit/stackmap_plugin.hpp>

#include <llvm/ExecutionEngine/JITLink/JITLink.h>

#include <algorithm>
#include <chrono>

namespace gcwalk::jit {

namespace {

constexpr const char* kStackMaps = ".llvm_stackmaps";
constexpr const char* kEhFrame = ".eh_frame";

uint64_t now_ns() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

llvm::Error error(const std::string& message) {
    return llvm::make_error<llvm::StringError>(message, llvm::inconvertibleErrorCode());
}

// Nothing refers to the stack map section, so JITLink's pruning would drop it: every symbol in
// it (__LLVM_StackMaps) is made live, and a block without one gets an anonymous live symbol.
llvm::Error keep_stackmaps(llvm::jitlink::LinkGraph& graph) {
    llvm::jitlink::Section* section = graph.findSectionByName(kStackMaps);
    if (!section) return llvm::Error::success();
    for (llvm::jitlink::Symbol* sym : section->symbols()) sym->setLive(true);
    std::vector<llvm::jitlink::Block*> blocks(section->blocks().begin(), section->blocks().end());
    for (llvm::jitlink::Block* block : blocks) {
        bool has_symbol = false;
        for (llvm::jitlink::Symbol* sym : section->symbols())
            has_symbol |= &sym->getBlock() == block;
        if (!has_symbol) graph.addAnonymousSymbol(*block, 0, block->getSize(), false, true);
    }
    return llvm::Error::success();
}

} // namespace

void StackMapPlugin::modifyPassConfig(llvm::orc::MaterializationResponsibility& mr,
                                      llvm::jitlink::LinkGraph&,
                                      llvm::jitlink::PassConfiguration& config) {
    config.PrePrunePasses.push_back(keep_stackmaps);
    config.PostFixupPasses.push_back(
        [this, &mr](llvm::jitlink::LinkGraph& graph) { return capture(mr, graph); });
}

// After fixups: the section's bytes hold final addresses (JITLink has one block per ELF
// section; several are taken in address order). The .eh_frame is read in notifyEmitted, from
// memory, as the EH-frame registration plugins read it.
llvm::Error StackMapPlugin::capture(llvm::orc::MaterializationResponsibility& mr,
                                    llvm::jitlink::LinkGraph& graph) {
    const uint64_t start = now_ns();
    Captured c;
    c.name = graph.getName();
    if (llvm::jitlink::Section* maps = graph.findSectionByName(kStackMaps)) {
        std::vector<llvm::jitlink::Block*> blocks(maps->blocks().begin(), maps->blocks().end());
        std::sort(blocks.begin(), blocks.end(),
                  [](auto* a, auto* b) { return a->getAddress() < b->getAddress(); });
        for (llvm::jitlink::Block* b : blocks) {
            if (b->isZeroFill()) return error(c.name + ": " + kStackMaps + " is zero-fill");
            llvm::ArrayRef<char> bytes = b->getContent();
            c.stackmaps.insert(c.stackmaps.end(), bytes.begin(), bytes.end());
        }
    }
    if (llvm::jitlink::Section* eh = graph.findSectionByName(kEhFrame)) {
        llvm::jitlink::SectionRange range(*eh);
        c.eh_frame_address = range.getStart().getValue();
        c.eh_frame_size = range.getSize();
    }
    for (llvm::jitlink::Symbol* sym : graph.defined_symbols())
        if (sym->isCallable() && sym->getSize() != 0)
            c.functions.push_back({sym->getAddress().getValue(), sym->getSize()});
    if (!c.stackmaps.empty() && c.eh_frame_size == 0)
        return error(c.name + ": stack maps but no .eh_frame (mark managed functions uwtable): "
                              "no frame rule could be computed");
    c.capture_ns = now_ns() - start;
    std::lock_guard lock(mutex_);
    captured_[&mr] = std::move(c);
    return llvm::Error::success();
}

llvm::Error StackMapPlugin::notifyEmitted(llvm::orc::MaterializationResponsibility& mr) {
    Captured c;
    {
        std::lock_guard lock(mutex_);
        auto it = captured_.find(&mr);
        if (it == captured_.end()) return llvm::Error::success();
        c = std::move(it->second);
        captured_.erase(it);
    }
    if (c.eh_frame_size == 0) return llvm::Error::success(); // no code that walks need know
    const uint64_t start = now_ns();
    ImageRegistry::JitObject object;
    object.stackmaps = c.stackmaps;
    object.eh_frame = {reinterpret_cast<const uint8_t*>(c.eh_frame_address), c.eh_frame_size};
    object.eh_frame_address = c.eh_frame_address;
    object.functions = std::move(c.functions);
    auto handle = sink_.add(c.name, object);
    if (!handle) return error(handle.error().message);
    const uint64_t h = *handle;
    if (llvm::Error err = mr.withResourceKeyDo([&](llvm::orc::ResourceKey key) {
            std::lock_guard lock(mutex_);
            handles_[key].push_back(h);
        })) {
        (void)sink_.remove(h); // the tracker is gone: so is the code
        return err;
    }
    std::lock_guard lock(mutex_);
    stats_.objects += 1;
    stats_.stackmap_bytes += c.stackmaps.size();
    stats_.register_ns += c.capture_ns + (now_ns() - start);
    return llvm::Error::success();
}

llvm::Error StackMapPlugin::notifyFailed(llvm::orc::MaterializationResponsibility& mr) {
    std::lock_guard lock(mutex_);
    captured_.erase(&mr);
    return llvm::Error::success();
}

llvm::Error StackMapPlugin::remove_key(llvm::orc::ResourceKey key) {
    std::vector<uint64_t> handles;
    {
        std::lock_guard lock(mutex_);
        auto it = handles_.find(key);
        if (it == handles_.end()) return llvm::Error::success();
        handles = std::move(it->second);
        handles_.erase(it);
    }
    std::string failures;
    for (uint64_t h : handles)
        if (Status st = sink_.remove(h); !st)
            failures += (failures.empty() ? "" : "; ") + st.message();
    return failures.empty() ? llvm::Error::success() : error(failures);
}

void StackMapPlugin::transfer(llvm::orc::ResourceKey dst, llvm::orc::ResourceKey src) {
    std::lock_guard lock(mutex_);
    auto it = handles_.find(src);
    if (it == handles_.end()) return;
    std::vector<uint64_t>& to = handles_[dst];
    to.insert(to.end(), it->second.begin(), it->second.end());
    handles_.erase(src);
}

#if LLVM_VERSION_MAJOR >= 17
llvm::Error StackMapPlugin::notifyRemovingResources(llvm::orc::JITDylib&,
                                                    llvm::orc::ResourceKey key) {
    return remove_key(key);
}
void StackMapPlugin::notifyTransferringResources(llvm::orc::JITDylib&, llvm::orc::ResourceKey dst,
                                                 llvm::orc::ResourceKey src) {
    transfer(dst, src);
}
#else
llvm::Error StackMapPlugin::notifyRemovingResources(llvm::orc::ResourceKey key) {
    return remove_key(key);
}
void StackMapPlugin::notifyTransferringResources(llvm::orc::ResourceKey dst,
                                                 llvm::orc::ResourceKey src) {
    transfer(dst, src);
}
#endif

StackMapPlugin::Stats StackMapPlugin::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

size_t StackMapPlugin::registered() const {
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (const auto& [key, handles] : handles_) n += handles.size();
    return n;
}

} // namespace gcwalk::jit
