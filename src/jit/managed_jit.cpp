// ManagedJit: an LLJIT whose linking layer registers every object with a JitObjectSink, and RS4GC
// in-process. The one place in the JIT glue where the ORC API differs between LLVM 14 and 22.
#include <gcwalk/jit/managed_jit.hpp>
#include <gcwalk/jit/stackmap_listener.hpp>
#include <gcwalk/jit/stackmap_plugin.hpp>

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h>
#include <llvm/ExecutionEngine/Orc/RTDyldObjectLinkingLayer.h>
#include <llvm/ExecutionEngine/SectionMemoryManager.h>
#include <llvm/IRReader/IRReader.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/TargetSelect.h>

#include <mutex>

namespace gcwalk::jit {

const char* to_string(LinkingLayer layer) noexcept {
    return layer == LinkingLayer::JITLink ? "jitlink" : "rtdyld";
}

llvm::Error rewrite_statepoints(llvm::Module& module) {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb;
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm;
    if (llvm::Error err = pb.parsePassPipeline(mpm, "rewrite-statepoints-for-gc")) return err;
    mpm.run(module, mam);
    return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<ManagedJit>> ManagedJit::create(LinkingLayer layer,
                                                               JitObjectSink& sink, bool lazy) {
    static std::once_flag targets;
    std::call_once(targets, [] {
        llvm::InitializeNativeTarget();
        llvm::InitializeNativeTargetAsmPrinter();
    });
    std::unique_ptr<ManagedJit> jit(new ManagedJit);
    jit->layer_ = layer;
    jit->lazy_ = lazy;
    if (layer == LinkingLayer::RuntimeDyld)
        jit->listener_ = std::make_unique<StackMapListener>(sink);
    ManagedJit* self = jit.get();
    auto make_layer = [self, &sink](llvm::orc::ExecutionSession& es)
        -> llvm::Expected<std::unique_ptr<llvm::orc::ObjectLayer>> {
        if (self->layer_ == LinkingLayer::RuntimeDyld) {
#if LLVM_VERSION_MAJOR >= 17 // the memory manager factory takes the object's buffer
            auto rtdyld = std::make_unique<llvm::orc::RTDyldObjectLinkingLayer>(
                es, [](const llvm::MemoryBuffer&) {
                    return std::make_unique<llvm::SectionMemoryManager>();
                });
#else
            auto rtdyld = std::make_unique<llvm::orc::RTDyldObjectLinkingLayer>(
                es, [] { return std::make_unique<llvm::SectionMemoryManager>(); });
#endif
            rtdyld->registerJITEventListener(*self->listener_);
            return std::unique_ptr<llvm::orc::ObjectLayer>(std::move(rtdyld));
        }
        auto linking = std::make_unique<llvm::orc::ObjectLinkingLayer>(es);
        auto plugin = std::make_unique<StackMapPlugin>(sink);
        self->plugin_ = plugin.get();
#if LLVM_VERSION_MAJOR >= 17 // plugins are shared
        linking->addPlugin(std::shared_ptr<StackMapPlugin>(std::move(plugin)));
#else
        linking->addPlugin(std::move(plugin));
#endif
        return std::unique_ptr<llvm::orc::ObjectLayer>(std::move(linking));
    };
    auto build = [&](auto& builder) {
#if LLVM_VERSION_MAJOR >= 17 // the creator no longer takes the target triple
        builder.setObjectLinkingLayerCreator(make_layer);
#else
        builder.setObjectLinkingLayerCreator(
            [make_layer](llvm::orc::ExecutionSession& es, const llvm::Triple&) {
                return make_layer(es);
            });
#endif
        return builder.create();
    };
    llvm::Expected<std::unique_ptr<llvm::orc::LLJIT>> lljit = nullptr;
    if (lazy) {
        llvm::orc::LLLazyJITBuilder builder;
        auto made = build(builder);
        if (!made) return made.takeError();
        lljit = std::unique_ptr<llvm::orc::LLJIT>(std::move(*made));
    } else {
        llvm::orc::LLJITBuilder builder;
        lljit = build(builder);
    }
    if (!lljit) return lljit.takeError();
    jit->lljit_ = std::move(*lljit);
    auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
        jit->lljit_->getDataLayout().getGlobalPrefix());
    if (!process) return process.takeError();
    jit->lljit_->getMainJITDylib().addGenerator(std::move(*process));
    return jit;
}

ManagedJit::~ManagedJit() {
    lljit_.reset(); // frees every object (the listener hears of it) before the listener goes
}

llvm::Expected<llvm::orc::ResourceTrackerSP>
ManagedJit::add_module(std::unique_ptr<llvm::Module> module, llvm::orc::ThreadSafeContext context) {
    module->setDataLayout(lljit_->getDataLayout());
    if (llvm::Error err = rewrite_statepoints(*module)) return err;
    llvm::orc::ThreadSafeModule tsm(std::move(module), context);
    if (lazy_) {
        auto& lazy = static_cast<llvm::orc::LLLazyJIT&>(*lljit_);
        if (llvm::Error err = lazy.addLazyIRModule(std::move(tsm))) return err;
        return lljit_->getMainJITDylib().getDefaultResourceTracker();
    }
    auto tracker = lljit_->getMainJITDylib().createResourceTracker();
    if (llvm::Error err = lljit_->addIRModule(tracker, std::move(tsm))) return err;
    return tracker;
}

llvm::Expected<llvm::orc::ResourceTrackerSP> ManagedJit::add_ir_file(const std::string& path,
                                                                     const std::string& suffix) {
    auto context = std::make_unique<llvm::LLVMContext>();
    llvm::SMDiagnostic diag;
    std::unique_ptr<llvm::Module> module = llvm::parseIRFile(path, diag, *context);
    if (!module) {
        std::string text;
        llvm::raw_string_ostream os(text);
        diag.print("gcwalk-jit", os);
        return llvm::make_error<llvm::StringError>(os.str(), llvm::inconvertibleErrorCode());
    }
    if (!suffix.empty())
        for (llvm::Function& f : *module)
            if (!f.isDeclaration() && !f.hasLocalLinkage()) f.setName(f.getName() + suffix);
    return add_module(std::move(module), llvm::orc::ThreadSafeContext(std::move(context)));
}

llvm::Expected<uint64_t> ManagedJit::lookup_address(const std::string& name) {
    auto sym = lljit_->lookup(name);
    if (!sym) return sym.takeError();
#if LLVM_VERSION_MAJOR >= 15 // an ExecutorAddr
    return sym->getValue();
#else
    return sym->getAddress();
#endif
}

ManagedJit::Stats ManagedJit::stats() const {
    Stats s;
    if (plugin_) {
        auto p = plugin_->stats();
        s = {p.objects, p.stackmap_bytes, p.register_ns, plugin_->registered()};
    } else if (listener_) {
        auto l = listener_->stats();
        s = {l.objects, l.stackmap_bytes, l.register_ns, listener_->registered()};
    }
    return s;
}

std::vector<std::string> ManagedJit::errors() const {
    return listener_ ? listener_->errors() : std::vector<std::string>{};
}

} // namespace gcwalk::jit
