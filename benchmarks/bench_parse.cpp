// Parsing speed: gcwalk's v3 parser (validates every count, size and offset up front) beside
// LLVM's StackMapParser (validates the header, then reads lazily) over the same generated
// sections; both visit every record and location once so the work compared is the same.
#include "synthetic_stackmaps.hpp"

#include <gcwalk/frame_chunks.hpp>
#include <gcwalk/stackmap.hpp>

#include "llvm_compat.hpp" // StackMapParser across LLVM versions (src/object)

#include <benchmark/benchmark.h>

#include <zlib.h>

namespace {

void BM_ParseGcwalk(benchmark::State& state) {
    const auto records = static_cast<uint32_t>(state.range(0));
    const std::vector<uint8_t> section = gcwalk::bench::make_section(records);
    benchmark::DoNotOptimize(gcwalk::bench::read_once(section));
    for (auto _ : state) {
        auto blobs = gcwalk::parse_stackmap_section(section, "synthetic");
        if (!blobs) {
            state.SkipWithError(blobs.error().message.c_str());
            break;
        }
        uint64_t sum = 0;
        for (const gcwalk::StackMapBlob& b : *blobs)
            for (uint64_t r = 0; r < b.num_records(); ++r) {
                gcwalk::RecordView rec = b.record(r);
                sum += rec.instruction_offset();
                for (uint16_t l = 0; l < rec.num_locations(); ++l)
                    sum += static_cast<uint64_t>(rec.location(l).offset);
            }
        benchmark::DoNotOptimize(sum);
    }
    state.counters["ns_per_record"] = benchmark::Counter(
        static_cast<double>(records) * 1e-9,
        benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * section.size()));
}
BENCHMARK(BM_ParseGcwalk)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMicrosecond);

void BM_ParseLlvm(benchmark::State& state) {
    const auto records = static_cast<uint32_t>(state.range(0));
    const std::vector<uint8_t> section = gcwalk::bench::make_section(records);
    benchmark::DoNotOptimize(gcwalk::bench::read_once(section));
    using Parser = gcwalk::llvm_compat::LittleStackMapParser;
    for (auto _ : state) {
        llvm::ArrayRef<uint8_t> bytes(section.data(), section.size());
        if (llvm::Error e = Parser::validateHeader(bytes)) {
            llvm::consumeError(std::move(e));
            state.SkipWithError("LLVM refused the header");
            break;
        }
        Parser p(bytes);
        uint64_t sum = 0;
        for (const auto& rec : p.records()) {
            sum += rec.getInstructionOffset();
            for (const auto& loc : rec.locations())
                sum += static_cast<uint64_t>(loc.getSizeInBytes());
        }
        benchmark::DoNotOptimize(sum);
    }
    state.counters["ns_per_record"] = benchmark::Counter(
        static_cast<double>(records) * 1e-9,
        benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * section.size()));
}
BENCHMARK(BM_ParseLlvm)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMicrosecond);

} // namespace

// Inflating: gcwalk's chunk reader beside zlib's own inflate (uncompress) on the same stream, a
// generated v3 section of N records compressed by zlib at level 9 in one chunk. Bytes processed
// are the inflated bytes.
std::vector<uint8_t> deflated(const std::vector<uint8_t>& in) {
    uLongf n = compressBound(in.size());
    std::vector<uint8_t> out(n);
    if (compress2(out.data(), &n, in.data(), in.size(), 9) != Z_OK) return {};
    out.resize(n);
    return out;
}

void BM_InflateGcwalk(benchmark::State& state) {
    const std::vector<uint8_t> section =
        gcwalk::bench::make_section(static_cast<uint32_t>(state.range(0)));
    std::vector<uint8_t> chunks;
    gcwalk::append_frame_chunk(chunks, section.size(), deflated(section));
    for (auto _ : state) {
        auto payload = gcwalk::read_frame_chunks(chunks, "synthetic");
        if (!payload || *payload != section) {
            state.SkipWithError("the chunk did not inflate to the section");
            break;
        }
        benchmark::DoNotOptimize(payload->data());
    }
    state.counters["compressed_ratio"] =
        static_cast<double>(chunks.size()) / static_cast<double>(section.size());
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * section.size()));
}
BENCHMARK(BM_InflateGcwalk)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

void BM_InflateZlib(benchmark::State& state) {
    const std::vector<uint8_t> section =
        gcwalk::bench::make_section(static_cast<uint32_t>(state.range(0)));
    const std::vector<uint8_t> stream = deflated(section);
    for (auto _ : state) {
        std::vector<uint8_t> out(section.size()); // as the chunk reader, a fresh buffer each time
        uLongf n = out.size();
        if (uncompress(out.data(), &n, stream.data(), stream.size()) != Z_OK || out != section) {
            state.SkipWithError("zlib did not inflate the section");
            break;
        }
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * section.size()));
}
BENCHMARK(BM_InflateZlib)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
