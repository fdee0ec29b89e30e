// The one place where gcwalk's LLVM-linked code meets differences between LLVM 14 and 22 (internal:
// included by src/object and benchmarks/bench_parse.cpp only, never by a public header).
// (No DWARF CFI here: frame rules come from gcwalk's own evaluator, the same one the runtime
// uses, see include/gcwalk/detail/eh_frame_table.hpp.)
#pragma once

#include <llvm/Config/llvm-config.h>

#include <llvm/Object/StackMapParser.h>

namespace gcwalk::llvm_compat {

// StackMapParser takes the byte order as llvm::support::endianness up to LLVM 17 and as
// llvm::endianness from LLVM 18.
#if LLVM_VERSION_MAJOR >= 18
using LittleStackMapParser = llvm::StackMapParser<llvm::endianness::little>;
#else
using LittleStackMapParser = llvm::StackMapParser<llvm::support::little>;
#endif

} // namespace gcwalk::llvm_compat
