// Parsing speed: gcwalk's v3 parser (validates every count, size and offset up front) beside
// LLVM's StackMapParser (validates the header, then reads lazily) over the same generated
// sections; both visit every record and location once so the work compared is the same.
#include "synthetic_stackmaps.hpp"

#include <gcwalk/stackmap.hpp>

#include "llvm_compat.hpp" // StackMapParser across LLVM versions (src/object)

#include <benchmark/benchmark.h>

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

BENCHMARK_MAIN();
