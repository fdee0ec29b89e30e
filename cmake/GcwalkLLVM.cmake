# Picks the one LLVM (14 to 22) that gcwalk builds against and compiles IR with.
#
#   -DGCWALK_LLVM_VERSION=<major>   that version (its package under /usr/lib/llvm-<major>)
#   -DLLVM_DIR=<dir>                the LLVM whose LLVMConfig.cmake is in <dir>
#   neither                         the newest of 14..22 installed under /usr/lib/llvm-*
#
# Sets GCWALK_LLVM_VERSION (the major version), GCWALK_LLVM_BIN (where its tools are) and the
# tools the build and the tests use: GCWALK_OPT, GCWALK_LLC, GCWALK_READOBJ, GCWALK_LLVM_OBJCOPY
# (when GCWALK_COMPILES_IR).
# With GCWALK_WITH_LLVM it also finds the LLVM package (target LLVM) for the LLVM-linked targets.
# Only the LLVM-linked targets depend on which LLVM this is; version differences in LLVM's C++ API
# are handled in src/object/llvm_compat.hpp alone.

set(GCWALK_LLVM_MIN 14)
set(GCWALK_LLVM_MAX 22)
set(GCWALK_LLVM_VERSION "" CACHE STRING "LLVM major version to build against (14..22; empty: LLVM_DIR or the newest installed)")

if(NOT GCWALK_LLVM_VERSION AND LLVM_DIR)
  # LLVM_DIR is <prefix>/lib/cmake/llvm: ask the package which version it is.
  find_package(LLVM CONFIG REQUIRED NO_DEFAULT_PATH PATHS ${LLVM_DIR})
  set(GCWALK_LLVM_VERSION ${LLVM_VERSION_MAJOR} CACHE STRING "" FORCE)
endif()
if(NOT GCWALK_LLVM_VERSION)
  foreach(v RANGE ${GCWALK_LLVM_MAX} ${GCWALK_LLVM_MIN} -1)
    if(EXISTS /usr/lib/llvm-${v}/lib/cmake/llvm/LLVMConfig.cmake OR EXISTS /usr/lib/llvm-${v}/bin/llc)
      set(GCWALK_LLVM_VERSION ${v} CACHE STRING "" FORCE)
      break()
    endif()
  endforeach()
  if(NOT GCWALK_LLVM_VERSION)
    message(FATAL_ERROR "gcwalk: no LLVM ${GCWALK_LLVM_MIN}..${GCWALK_LLVM_MAX} found under /usr/lib/llvm-*; "
                        "install llvm-<N> and llvm-<N>-dev, or pass -DLLVM_DIR=<prefix>/lib/cmake/llvm")
  endif()
endif()
if(GCWALK_LLVM_VERSION LESS ${GCWALK_LLVM_MIN} OR GCWALK_LLVM_VERSION GREATER ${GCWALK_LLVM_MAX})
  message(FATAL_ERROR "gcwalk: GCWALK_LLVM_VERSION=${GCWALK_LLVM_VERSION} is outside ${GCWALK_LLVM_MIN}..${GCWALK_LLVM_MAX}")
endif()

if(GCWALK_WITH_LLVM)
  # No version in the call: LLVM's version file accepts only the same major.minor.
  if(NOT LLVM_DIR)
    set(LLVM_DIR /usr/lib/llvm-${GCWALK_LLVM_VERSION}/lib/cmake/llvm)
  endif()
  find_package(LLVM CONFIG REQUIRED NO_DEFAULT_PATH PATHS ${LLVM_DIR})
  if(NOT LLVM_VERSION_MAJOR EQUAL GCWALK_LLVM_VERSION)
    message(FATAL_ERROR "gcwalk: asked for LLVM ${GCWALK_LLVM_VERSION}, found ${LLVM_PACKAGE_VERSION} in ${LLVM_DIR}")
  endif()
  set(GCWALK_LLVM_BIN ${LLVM_TOOLS_BINARY_DIR})
  message(STATUS "gcwalk: LLVM ${LLVM_PACKAGE_VERSION} from ${LLVM_DIR}")
else()
  set(GCWALK_LLVM_BIN /usr/lib/llvm-${GCWALK_LLVM_VERSION}/bin)
  message(STATUS "gcwalk: LLVM ${GCWALK_LLVM_VERSION} tools from ${GCWALK_LLVM_BIN} (no LLVM-linked targets)")
endif()

# The tools of that same LLVM, never another version's found first on PATH; needed only when
# something compiles IR (GCWALK_COMPILES_IR).
if(NOT GCWALK_COMPILES_IR)
  return()
endif()
foreach(tool opt llc llvm-readobj llvm-objcopy)
  string(TOUPPER ${tool} var)
  string(REPLACE "-" "_" var ${var})
  string(REPLACE "LLVM_READOBJ" "READOBJ" var ${var})
  find_program(GCWALK_${var} NAMES ${tool} ${tool}-${GCWALK_LLVM_VERSION} PATHS ${GCWALK_LLVM_BIN}
               NO_DEFAULT_PATH NO_CACHE REQUIRED)
endforeach()
