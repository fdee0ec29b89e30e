// The one place where gcwalk's LLVM-linked code meets differences between LLVM 14 and 22 (internal:
// included by src/object and benchmarks/bench_parse.cpp only, never by a public header).
#pragma once

#include <llvm/Config/llvm-config.h>

// llvm::Triple moved from ADT to TargetParser in LLVM 17.
#if LLVM_VERSION_MAJOR >= 17
#include <llvm/TargetParser/Triple.h>
#else
#include <llvm/ADT/Triple.h>
#endif

#include <llvm/DebugInfo/DWARF/DWARFDebugFrame.h>
#include <llvm/Object/StackMapParser.h>

namespace gcwalk::llvm_compat {

// StackMapParser takes the byte order as llvm::support::endianness up to LLVM 17 and as
// llvm::endianness from LLVM 18.
#if LLVM_VERSION_MAJOR >= 18
using LittleStackMapParser = llvm::StackMapParser<llvm::endianness::little>;
#else
using LittleStackMapParser = llvm::StackMapParser<llvm::support::little>;
#endif

// The CFI rows of an FDE: UnwindTable::create up to LLVM 20, the free function createUnwindTable
// since the unwind table moved to DebugInfo/DWARF/LowLevel (LLVM 21).
inline llvm::Expected<llvm::dwarf::UnwindTable> unwind_table(const llvm::dwarf::FDE* fde) {
#if LLVM_VERSION_MAJOR >= 21
    return llvm::dwarf::createUnwindTable(fde);
#else
    return llvm::dwarf::UnwindTable::create(fde);
#endif
}

} // namespace gcwalk::llvm_compat
