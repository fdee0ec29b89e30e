// gcwalk-pack: packs a linked executable's or shared object's stack maps, frame rules and roots
// into a compressed `.gcwalk_frames` table that the runtime indexes without parsing v3 or CFI
// (docs/INTEGRATION.md, "Packed frame tables").
#include "pack_file.hpp"

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

namespace {

constexpr const char* kUsage =
    "usage: gcwalk-pack [-o OUT] [--strip-stackmaps] [--quiet] FILE\n"
    "  Packs FILE's .llvm_stackmaps, frame rules and roots into a non-allocated .gcwalk_frames\n"
    "  section (zlib chunks), checks what it wrote, and replaces FILE (or writes OUT).\n"
    "  -o OUT             write OUT instead of rewriting FILE in place\n"
    "  --strip-stackmaps  remove .llvm_stackmaps (only when it is not allocated)\n"
    "  --quiet            no summary line\n"
    "Exit status: 0, 1 when FILE cannot be packed (one line on stderr), 2 for bad usage.\n";

int usage_error(const std::string& what) {
    std::fprintf(stderr, "gcwalk-pack: %s\n%s", what.c_str(), kUsage);
    return 2;
}

int run(int argc, char** argv) {
    gcwalk::pack::PackOptions opt;
    bool quiet = false;
    std::string file;
    bool options_done = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (!options_done && a == "--") {
            options_done = true;
        } else if (!options_done && (a == "--help" || a == "-h")) {
            std::fputs(kUsage, stdout);
            return 0;
        } else if (!options_done && a == "-o") {
            if (++i == argc) return usage_error("-o needs a file name");
            opt.output = argv[i];
        } else if (!options_done && a == "--strip-stackmaps") {
            opt.strip_stackmaps = true;
        } else if (!options_done && a == "--quiet") {
            quiet = true;
        } else if (!options_done && a.size() > 1 && a[0] == '-') {
            return usage_error("unknown option '" + std::string(a) + "'");
        } else if (file.empty()) {
            file = a;
        } else {
            return usage_error("one FILE at a time");
        }
    }
    if (file.empty()) return usage_error("no input file");
    opt.input = file;
    auto done = gcwalk::pack::pack_file(opt);
    if (!done) {
        std::fprintf(stderr, "gcwalk-pack: %s\n", done.error().message.c_str());
        return 1;
    }
    if (!quiet)
        std::printf("gcwalk-pack: %s: %llu call sites, %llu functions; .llvm_stackmaps (v3) %llu "
                    "bytes, table %llu bytes, .gcwalk_frames %llu bytes (%llu chunk%s)%s\n",
                    done->output.c_str(), static_cast<unsigned long long>(done->call_sites),
                    static_cast<unsigned long long>(done->functions),
                    static_cast<unsigned long long>(done->stackmap_bytes),
                    static_cast<unsigned long long>(done->payload_bytes),
                    static_cast<unsigned long long>(done->compressed_bytes),
                    static_cast<unsigned long long>(done->chunks), done->chunks == 1 ? "" : "s",
                    done->stripped ? "; .llvm_stackmaps removed" : "");
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gcwalk-pack: %s\n", e.what());
        return 1;
    }
}
