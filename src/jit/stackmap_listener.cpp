// StackMapListener: a RuntimeDyld object's stack maps and .eh_frame, relocated here against the
// sections' load addresses (RuntimeDyld tells the listener before it relocates them itself).
#include <gcwalk/jit/stackmap_listener.hpp>

#include <gcwalk/detail/format.hpp>

#include <llvm/BinaryFormat/ELF.h>
#include <llvm/ExecutionEngine/RuntimeDyld.h>
#include <llvm/Object/ELFObjectFile.h>
#include <llvm/Object/ObjectFile.h>

#include <chrono>
#include <cstring>

namespace gcwalk::jit {

namespace {

uint64_t now_ns() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

std::string message(llvm::Error err) {
    return llvm::toString(std::move(err));
}

// One loaded section of the object: where it is, and its final bytes (made here).
struct LoadedSection {
    uint64_t address = 0;
    std::vector<uint8_t> bytes;
};

// The section's bytes with every relocation against it applied: S + A (R_X86_64_64), S + A - P
// (R_X86_64_PC32, R_X86_64_PC64), S the load address of the symbol's section plus its value.
Expected<LoadedSection> relocated(const std::string& name, const llvm::object::ObjectFile& obj,
                                  const llvm::object::SectionRef& section, const char* what,
                                  const llvm::RuntimeDyld::LoadedObjectInfo& info) {
    LoadedSection out;
    out.address = info.getSectionLoadAddress(section);
    if (out.address == 0) return Error{name + ": " + what + " was not loaded by RuntimeDyld"};
    auto contents = section.getContents();
    if (!contents) return Error{name + ": " + what + ": " + message(contents.takeError())};
    out.bytes.assign(contents->begin(), contents->end());
    for (const llvm::object::SectionRef& rel : obj.sections()) {
        auto target = rel.getRelocatedSection();
        if (!target) return Error{name + ": " + message(target.takeError())};
        if (*target != section) continue;
        for (const llvm::object::RelocationRef& r : rel.relocations()) {
            const uint64_t offset = r.getOffset();
            const std::string where =
                name + ": " + what + " relocation at offset " + hex(offset) + ": ";
            auto sym = r.getSymbol();
            if (sym == obj.symbol_end()) return Error{where + "no symbol"};
            auto sym_section = sym->getSection();
            auto value = sym->getValue();
            if (!sym_section || !value)
                return Error{where +
                             message(sym_section ? value.takeError() : sym_section.takeError())};
            if (*sym_section == obj.section_end())
                return Error{where + "against an undefined symbol"};
            const uint64_t s = info.getSectionLoadAddress(**sym_section) + *value;
            auto addend = llvm::object::ELFRelocationRef(r).getAddend();
            if (!addend) return Error{where + message(addend.takeError())};
            const uint64_t a = static_cast<uint64_t>(*addend);
            const uint64_t p = out.address + offset;
            switch (r.getType()) {
            case llvm::ELF::R_X86_64_64:
            case llvm::ELF::R_X86_64_PC64: {
                if (offset > out.bytes.size() || out.bytes.size() - offset < 8)
                    return Error{where + "out of bounds"};
                const uint64_t v = r.getType() == llvm::ELF::R_X86_64_64 ? s + a : s + a - p;
                std::memcpy(&out.bytes[offset], &v, 8);
                break;
            }
            case llvm::ELF::R_X86_64_PC32: {
                if (offset > out.bytes.size() || out.bytes.size() - offset < 4)
                    return Error{where + "out of bounds"};
                const int64_t v = static_cast<int64_t>(s + a - p);
                if (v < INT32_MIN || v > INT32_MAX) return Error{where + "PC32 out of range"};
                const int32_t v32 = static_cast<int32_t>(v);
                std::memcpy(&out.bytes[offset], &v32, 4);
                break;
            }
            default:
                return Error{where + "relocation type " + std::to_string(r.getType()) +
                             " is not one that stack maps or .eh_frame use"};
            }
        }
    }
    return out;
}

// What the object holds, at its load addresses.
Expected<ImageRegistry::JitObject> read_object(const std::string& name,
                                               const llvm::object::ObjectFile& obj,
                                               const llvm::RuntimeDyld::LoadedObjectInfo& info,
                                               LoadedSection* maps, LoadedSection* eh) {
    if (!obj.isELF()) return Error{name + ": not an ELF object"};
    bool have_maps = false, have_eh = false;
    for (const llvm::object::SectionRef& s : obj.sections()) {
        auto sname = s.getName();
        if (!sname) return Error{name + ": " + message(sname.takeError())};
        const bool is_maps = *sname == ".llvm_stackmaps", is_eh = *sname == ".eh_frame";
        if (!is_maps && !is_eh) continue;
        auto loaded = relocated(name, obj, s, is_maps ? ".llvm_stackmaps" : ".eh_frame", info);
        if (!loaded) return Error{loaded.error().message};
        *(is_maps ? maps : eh) = std::move(*loaded);
        (is_maps ? have_maps : have_eh) = true;
    }
    ImageRegistry::JitObject object;
    if (!have_eh) {
        if (have_maps)
            return Error{name + ": stack maps but no .eh_frame (mark managed functions uwtable)"};
        return object; // no unwind info: nothing either walker could use
    }
    object.stackmaps = maps->bytes;
    object.eh_frame = eh->bytes;
    object.eh_frame_address = eh->address;
    for (const llvm::object::SymbolRef& sym : obj.symbols()) {
        auto type = sym.getType();
        if (!type) return Error{name + ": " + message(type.takeError())};
        if (*type != llvm::object::SymbolRef::ST_Function) continue;
        auto section = sym.getSection();
        auto value = sym.getValue();
        if (!section || !value) {
            llvm::consumeError(section.takeError());
            llvm::consumeError(value.takeError());
            continue;
        }
        const uint64_t size = llvm::object::ELFSymbolRef(sym).getSize();
        if (*section == obj.section_end() || size == 0) continue;
        const uint64_t base = info.getSectionLoadAddress(**section);
        if (base != 0) object.functions.push_back({base + *value, size});
    }
    return object;
}

} // namespace

void StackMapListener::notifyObjectLoaded(ObjectKey key, const llvm::object::ObjectFile& obj,
                                          const llvm::RuntimeDyld::LoadedObjectInfo& info) {
    const uint64_t start = now_ns();
    const std::string name = obj.getFileName().empty() ? "rtdyld-object-" + std::to_string(key)
                                                       : obj.getFileName().str();
    LoadedSection maps, eh;
    auto object = read_object(name, obj, info, &maps, &eh);
    std::lock_guard lock(mutex_);
    if (!object) {
        errors_.push_back(object.error().message);
        return;
    }
    if (object->eh_frame.empty()) return;
    auto handle = sink_.add(name, *object);
    if (!handle) {
        errors_.push_back(handle.error().message);
        return;
    }
    handles_[key] = *handle;
    stats_.objects += 1;
    stats_.stackmap_bytes += maps.bytes.size();
    stats_.register_ns += now_ns() - start;
}

void StackMapListener::notifyFreeingObject(ObjectKey key) {
    std::lock_guard lock(mutex_);
    auto it = handles_.find(key);
    if (it == handles_.end()) return;
    if (Status st = sink_.remove(it->second); !st) errors_.push_back(st.message());
    handles_.erase(it);
}

StackMapListener::Stats StackMapListener::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

size_t StackMapListener::registered() const {
    std::lock_guard lock(mutex_);
    return handles_.size();
}

std::vector<std::string> StackMapListener::errors() const {
    std::lock_guard lock(mutex_);
    return errors_;
}

} // namespace gcwalk::jit
