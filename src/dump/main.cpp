// gcwalk-dump: prints the stack maps of ELF files (raw blobs, the FrameRecord index, or decoded
// statepoints, or the packed frame table) as llvm-readobj-style text or as JSON. See docs/DUMP.md.
#include "dump.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace gcwalk;
using namespace gcwalk::dump;

constexpr const char* kUsage =
    "usage: gcwalk-dump [--format=llvm|json] [--view=raw|frames|statepoints|table]\n"
    "                   [--from=stackmaps|table] FILE...\n"
    "  --format=llvm  text; in the raw view each blob prints exactly as llvm-readobj-14 "
    "--stackmap\n"
    "                 prints a section holding only that blob (default)\n"
    "  --format=json  one JSON array with one object per file\n"
    "  --view=raw          every blob of .llvm_stackmaps as stored (default)\n"
    "  --view=frames       the FrameRecords and call sites gcwalk's index builds from the file\n"
    "  --view=statepoints  every record decoded as a gc.statepoint record\n"
    "  --view=table        the packed frame table (.gcwalk_frames, gcwalk-pack): chunks,\n"
    "                      identity, counts, functions and records\n"
    "  --from=stackmaps|table  what --view=frames indexes: .llvm_stackmaps or .gcwalk_frames\n"
    "                      (default: .gcwalk_frames when the file has one)\n"
    "Exit status: 0, or 1 when a file could not be read or its section is malformed (one line on\n"
    "stderr per such file), or 2 for bad usage.\n";

struct Options {
    Format format = Format::Llvm;
    View view = View::Raw;
    Source source = Source::Auto;
    std::vector<std::string> files;
};

int usage_error(const std::string& what) {
    std::fprintf(stderr, "gcwalk-dump: %s\n%s", what.c_str(), kUsage);
    return 2;
}

// Parses argv into `opt`; returns -1 to go on, or the exit status.
int parse_args(int argc, char** argv, Options& opt) {
    bool options_done = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (options_done || a.empty() || a[0] != '-' || a == "-") {
            opt.files.emplace_back(a);
        } else if (a == "--") {
            options_done = true;
        } else if (a == "--help" || a == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        } else if (a == "--format=llvm") {
            opt.format = Format::Llvm;
        } else if (a == "--format=json") {
            opt.format = Format::Json;
        } else if (a == "--view=raw") {
            opt.view = View::Raw;
        } else if (a == "--view=frames") {
            opt.view = View::Frames;
        } else if (a == "--view=statepoints") {
            opt.view = View::Statepoints;
        } else if (a == "--view=table") {
            opt.view = View::Table;
        } else if (a == "--from=stackmaps") {
            opt.source = Source::Stackmaps;
        } else if (a == "--from=table") {
            opt.source = Source::Table;
        } else {
            return usage_error("unknown option '" + std::string(a) + "'");
        }
    }
    if (opt.files.empty()) return usage_error("no input files");
    return -1;
}

Expected<ParsedFile> load(const std::string& path) {
    auto file = read_stackmaps_from_file(path);
    if (!file) return std::move(file).error();
    ParsedFile parsed{std::move(*file), {}};
    // The blobs view parsed.file.bytes, which stays where it is from here on (ParsedFile moves
    // keep the vector's buffer).
    auto blobs = parse_stackmap_section(parsed.file.bytes, parsed.file.path);
    if (!blobs) return std::move(blobs).error();
    parsed.blobs = std::move(*blobs);
    return parsed;
}

// One file's output in `out` (text) or as the next element of `json`; an error stops the file.
Status dump_file(const Options& opt, const ParsedFile& f, std::string& out, JsonWriter& json) {
    switch (opt.view) {
    case View::Raw:
        if (opt.format == Format::Llvm)
            print_raw_text(f, out);
        else
            print_raw_json(f, json);
        return Status::ok();
    case View::Frames:
        return opt.format == Format::Llvm ? print_frames_text(f, opt.source, out)
                                          : print_frames_json(f, opt.source, json);
    case View::Table:
        return opt.format == Format::Llvm ? print_table_text(f, out) : print_table_json(f, json);
    case View::Statepoints:
        if (opt.format == Format::Llvm)
            print_statepoints_text(f, out);
        else
            print_statepoints_json(f, json);
        return Status::ok();
    }
    return Status::ok();
}

int run(const Options& opt) {
    int status = 0;
    bool first_json = true;
    if (opt.format == Format::Json) std::fputs("[\n", stdout);
    for (const std::string& path : opt.files) {
        auto parsed = load(path);
        std::string text;
        JsonWriter json;
        Status st = parsed ? dump_file(opt, *parsed, text, json) : Status(parsed.error());
        if (!st) {
            // Nothing of this file reaches stdout: a partial object would break the JSON.
            std::fflush(stdout);
            std::fprintf(stderr, "gcwalk-dump: %s\n", st.message().c_str());
            status = 1;
            continue;
        }
        if (opt.format == Format::Json) {
            if (!first_json) std::fputs(",\n", stdout);
            first_json = false;
            std::fwrite(json.str().data(), 1, json.str().size(), stdout);
        } else {
            std::fwrite(text.data(), 1, text.size(), stdout);
        }
    }
    if (opt.format == Format::Json) std::fputs("\n]\n", stdout);
    if (std::fflush(stdout) != 0) {
        std::fprintf(stderr, "gcwalk-dump: error writing the output: %s\n", std::strerror(errno));
        return 1;
    }
    return status;
}

} // namespace

int main(int argc, char** argv) {
    try {
        Options opt;
        if (int rc = parse_args(argc, argv, opt); rc >= 0) return rc;
        return run(opt);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gcwalk-dump: %s\n", e.what());
        return 1;
    }
}
