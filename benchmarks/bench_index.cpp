// FrameIndex benchmarks: build time and resident bytes per record, and return-address lookups
// (hit and miss) over many distinct addresses in a shuffled order, at 1k, 100k and 1M records.
#include "synthetic_stackmaps.hpp"

#include <gcwalk/frame_chunks.hpp>
#include <gcwalk/frame_index.hpp>
#include <gcwalk/frame_table.hpp>

#include <benchmark/benchmark.h>
#include <zlib.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>

namespace {

using gcwalk::bench::kBase;

struct Fixture {
    std::vector<uint8_t> section;
    std::unique_ptr<gcwalk::FrameIndex> index;
    std::vector<uint64_t> hits, misses; // shuffled
};

gcwalk::ImageStackMaps input(const std::vector<uint8_t>& section) {
    gcwalk::ImageStackMaps m;
    m.name = "synthetic";
    m.section = section;
    return m;
}

// One fixture per size, built once (the 1M section takes a while).
Fixture& fixture(uint32_t records) {
    static std::map<uint32_t, Fixture> all;
    Fixture& f = all[records];
    if (f.index) return f;
    f.section = gcwalk::bench::make_section(records);
    std::vector<gcwalk::ImageStackMaps> in;
    in.push_back(input(f.section));
    auto idx = gcwalk::FrameIndex::build(std::move(in));
    if (!idx) std::abort();
    f.index = std::make_unique<gcwalk::FrameIndex>(std::move(*idx));
    for (const gcwalk::CallSite& cs : f.index->call_sites()) {
        f.hits.push_back(cs.return_address());
        f.misses.push_back(cs.return_address() + 1); // inside the function, not a call site
    }
    std::mt19937_64 rng(42);
    std::shuffle(f.hits.begin(), f.hits.end(), rng);
    std::shuffle(f.misses.begin(), f.misses.end(), rng);
    return f;
}

void BM_IndexBuild(benchmark::State& state) {
    const auto records = static_cast<uint32_t>(state.range(0));
    const std::vector<uint8_t> section = gcwalk::bench::make_section(records);
    benchmark::DoNotOptimize(
        gcwalk::bench::read_once(section)); // the index's own memory stays fresh
    size_t resident = 0;
    for (auto _ : state) {
        std::vector<gcwalk::ImageStackMaps> in;
        in.push_back(input(section));
        auto idx = gcwalk::FrameIndex::build(std::move(in));
        if (!idx) state.SkipWithError(idx.error().message.c_str());
        resident = idx->resident_bytes();
        benchmark::DoNotOptimize(resident);
    }
    state.counters["ns_per_record"] = benchmark::Counter(
        static_cast<double>(records) * 1e-9,
        benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    state.counters["bytes_per_record"] = static_cast<double>(resident) / records;
    state.counters["locations_per_record"] = 7; // 3 constants + 2 pairs
}
BENCHMARK(BM_IndexBuild)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

// The same stack maps packed (pack_frame_table; zlib level 6, a chunk for the hot tables and one
// for the cold ones, which is where gcwalk-pack ends a chunk too): what the registry does for an
// image with a valid .gcwalk_frames, inflate the hot chunk + parse + build (the cold chunk stays
// compressed: read_frame_table_section). The v3 figure to set it beside is BM_IndexBuild of the
// same size in the same run, which leaves out what the registry's v3 path adds per call site
// (the CFI rule evaluation, symbols).
void BM_IndexBuildPacked(benchmark::State& state) {
    const auto records = static_cast<uint32_t>(state.range(0));
    const std::vector<uint8_t> v3 = gcwalk::bench::make_section(records);
    auto table = gcwalk::pack_frame_table(input(v3), {});
    if (!table) return state.SkipWithError(table.error().message.c_str());
    auto payload = gcwalk::write_frame_table(*table);
    if (!payload) return state.SkipWithError(payload.error().message.c_str());
    const uint64_t cold = gcwalk::frame_table_cold_offset(*payload);
    std::vector<uint8_t> section;
    for (auto [at, end] : {std::pair<uint64_t, uint64_t>{0, cold}, {cold, payload->size()}}) {
        std::vector<uint8_t> z(compressBound(static_cast<uLong>(end - at)));
        uLongf zn = z.size();
        if (compress2(z.data(), &zn, payload->data() + at, static_cast<uLong>(end - at), 6) != Z_OK)
            return state.SkipWithError("compress2");
        z.resize(zn);
        gcwalk::append_frame_chunk(section, end - at, z);
    }
    benchmark::DoNotOptimize(gcwalk::bench::read_once(section));
    for (auto _ : state) {
        auto parsed = gcwalk::read_frame_table_section(section, "synthetic", true);
        if (!parsed) return state.SkipWithError(parsed.error().message.c_str());
        std::vector<gcwalk::ImageStackMaps> in(1);
        in[0].name = "synthetic";
        in[0].table = std::make_shared<const gcwalk::FrameTable>(std::move(*parsed));
        auto idx = gcwalk::FrameIndex::build(std::move(in));
        if (!idx) return state.SkipWithError(idx.error().message.c_str());
        benchmark::DoNotOptimize(idx->num_call_sites());
    }
    state.counters["ns_per_record"] = benchmark::Counter(
        static_cast<double>(records) * 1e-9,
        benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    state.counters["payload_bytes_per_record"] = static_cast<double>(payload->size()) / records;
    state.counters["section_bytes_per_record"] = static_cast<double>(section.size()) / records;
}
BENCHMARK(BM_IndexBuildPacked)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

// Lookups of distinct return addresses in a shuffled order: each one a cache miss once the table
// outgrows the caches, and no pattern for the branch predictor to learn.
template <bool Hit> void BM_IndexLookup(benchmark::State& state) {
    Fixture& f = fixture(static_cast<uint32_t>(state.range(0)));
    const std::vector<uint64_t>& ras = Hit ? f.hits : f.misses;
    size_t i = 0;
    uint64_t found = 0;
    for (auto _ : state) {
        const gcwalk::CallSite* cs = f.index->find(ras[i]);
        found += cs != nullptr;
        if (++i == ras.size()) i = 0;
    }
    benchmark::DoNotOptimize(found);
    if (Hit && found != state.iterations()) state.SkipWithError("a lookup missed");
    if (!Hit && found != 0) state.SkipWithError("a miss was found");
    state.counters["table_bytes"] = static_cast<double>(f.index->resident_bytes());
}
BENCHMARK_TEMPLATE(BM_IndexLookup, true)
    ->Name("BM_IndexLookupHit")
    ->Arg(1000)
    ->Arg(100000)
    ->Arg(1000000);
BENCHMARK_TEMPLATE(BM_IndexLookup, false)
    ->Name("BM_IndexLookupMiss")
    ->Arg(1000)
    ->Arg(100000)
    ->Arg(1000000);

// Warm: the same 64 distinct return addresses again and again (the table's lines stay in L1).
void BM_IndexLookupWarm(benchmark::State& state) {
    Fixture& f = fixture(static_cast<uint32_t>(state.range(0)));
    size_t i = 0;
    uint64_t found = 0;
    for (auto _ : state) {
        found += f.index->find(f.hits[i]) != nullptr;
        i = (i + 1) & 63;
    }
    benchmark::DoNotOptimize(found);
}
BENCHMARK(BM_IndexLookupWarm)->Arg(100000);

} // namespace

BENCHMARK_MAIN();
