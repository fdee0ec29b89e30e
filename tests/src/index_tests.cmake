# Tests of the FrameRecord index and the image registry (included from tests/src/CMakeLists.txt).
gcwalk_compile_ir(GCWALK_INDEX_OBJ ${CMAKE_CURRENT_SOURCE_DIR}/index_functions.ll)
gcwalk_compile_ir(GCWALK_INDEX_DL_OBJ ${CMAKE_CURRENT_SOURCE_DIR}/index_dlopen.ll)
set(GCWALK_INDEX_READOBJ ${CMAKE_CURRENT_BINARY_DIR}/ir/index_functions.readobj.txt)
add_custom_command(OUTPUT ${GCWALK_INDEX_READOBJ}
  COMMAND ${GCWALK_READOBJ} --stackmap ${GCWALK_INDEX_OBJ} > ${GCWALK_INDEX_READOBJ}
  DEPENDS ${GCWALK_INDEX_OBJ} VERBATIM)

# The shared object the registry test dlopens (GNU ld: DT_TEXTREL, relocated by the loader).
add_library(gcwalk_test_dl SHARED ${GCWALK_INDEX_DL_OBJ})
set_target_properties(gcwalk_test_dl PROPERTIES LINKER_LANGUAGE C)

add_executable(test_frame_index test_frame_index.cpp ${GCWALK_INDEX_OBJ} ${GCWALK_INDEX_READOBJ})
target_compile_definitions(test_frame_index PRIVATE GCWALK_INDEX_READOBJ="${GCWALK_INDEX_READOBJ}")
# The index of this process as the registry builds it: index and discovery.
target_link_libraries(test_frame_index PRIVATE gcwalk_discovery gcwalk_catch_main)
catch_discover_tests(test_frame_index TEST_PREFIX "frame_index: ")

# The same managed object in executables linked in every way docs/INTEGRATION.md discusses:
# GNU ld; lld (addresses stay unrelocated); lld -z notext; lld with the section made writable;
# --gc-sections with and without the linker-script fragment that keeps the section.
find_program(GCWALK_OBJCOPY_GNU NAMES objcopy REQUIRED)
set(GCWALK_INDEX_OBJ_RW ${CMAKE_CURRENT_BINARY_DIR}/ir/index_functions.writable.o)
add_custom_command(OUTPUT ${GCWALK_INDEX_OBJ_RW}
  COMMAND ${GCWALK_OBJCOPY_GNU} --set-section-flags .llvm_stackmaps=alloc,load,data
          ${GCWALK_INDEX_OBJ} ${GCWALK_INDEX_OBJ_RW}
  DEPENDS ${GCWALK_INDEX_OBJ} VERBATIM)
# The section made non-allocated (in the file, not in memory: the frame-tables form).
set(GCWALK_INDEX_OBJ_NOALLOC ${CMAKE_CURRENT_BINARY_DIR}/ir/index_functions.noalloc.o)
add_custom_command(OUTPUT ${GCWALK_INDEX_OBJ_NOALLOC}
  COMMAND ${GCWALK_OBJCOPY_GNU} --set-section-flags .llvm_stackmaps=contents,readonly
          ${GCWALK_INDEX_OBJ} ${GCWALK_INDEX_OBJ_NOALLOC}
  DEPENDS ${GCWALK_INDEX_OBJ} VERBATIM)
set(keep_ld ${PROJECT_SOURCE_DIR}/src/gcwalk-keep-stackmaps.ld)
set(probes
  "gnu|${GCWALK_INDEX_OBJ}"
  "gnu_stripped|${GCWALK_INDEX_OBJ}|-s"
  "lld|${GCWALK_INDEX_OBJ}|-fuse-ld=lld"
  "lld_notext|${GCWALK_INDEX_OBJ}|-fuse-ld=lld|-Wl,-z,notext"
  "lld_writable|${GCWALK_INDEX_OBJ_RW}|-fuse-ld=lld"
  "gnu_gc|${GCWALK_INDEX_OBJ}|-Wl,--gc-sections"
  "gnu_gc_keep|${GCWALK_INDEX_OBJ}|-Wl,--gc-sections|-Wl,-T,${keep_ld}"
  "lld_gc_keep|${GCWALK_INDEX_OBJ_RW}|-fuse-ld=lld|-Wl,--gc-sections|-Wl,-T,${keep_ld}"
  "gnu_noalloc|${GCWALK_INDEX_OBJ_NOALLOC}"
  "lld_noalloc|${GCWALK_INDEX_OBJ_NOALLOC}|-fuse-ld=lld"
  "gnu_noalloc_gc|${GCWALK_INDEX_OBJ_NOALLOC}|-Wl,--gc-sections"
  "lld_noalloc_gc|${GCWALK_INDEX_OBJ_NOALLOC}|-fuse-ld=lld|-Wl,--gc-sections")
set(probe_defs)
foreach(p ${probes})
  string(REPLACE "|" ";" p "${p}")
  list(GET p 0 name)
  list(GET p 1 obj)
  list(LENGTH p n)
  add_executable(registry_probe_${name} registry_probe.cpp ${obj})
  target_link_libraries(registry_probe_${name} PRIVATE gcwalk_discovery)
  if(n GREATER 2)
    list(SUBLIST p 2 -1 opts)
    target_link_options(registry_probe_${name} PRIVATE ${opts})
  endif()
  string(TOUPPER ${name} NAME)
  list(APPEND probe_defs GCWALK_TEST_PROBE_${NAME}="$<TARGET_FILE:registry_probe_${name}>")
  list(APPEND probe_targets registry_probe_${name})
endforeach()

# A shared object with a non-allocated section, and the same one linked at another address: a
# file that does not match the loaded code once it replaces the first on disk.
add_library(gcwalk_test_dl_noalloc SHARED ${GCWALK_INDEX_DL_OBJ})
add_library(gcwalk_test_dl_noalloc_moved SHARED ${GCWALK_INDEX_DL_OBJ})
target_link_options(gcwalk_test_dl_noalloc_moved PRIVATE -Wl,-Ttext-segment=0x40000000)
foreach(t gcwalk_test_dl_noalloc gcwalk_test_dl_noalloc_moved)
  set_target_properties(${t} PROPERTIES LINKER_LANGUAGE C)
  gcwalk_unallocated_stackmaps(${t} OBJCOPY ${GCWALK_OBJCOPY_GNU})
endforeach()

# Objects with the section allocated and objects with it not allocated in one link (GNU ld makes
# two sections of the name): refused, not half read.
set(GCWALK_INDEX_DL_OBJ_NOALLOC ${CMAKE_CURRENT_BINARY_DIR}/ir/index_dlopen.noalloc.o)
add_custom_command(OUTPUT ${GCWALK_INDEX_DL_OBJ_NOALLOC}
  COMMAND ${GCWALK_OBJCOPY_GNU} --set-section-flags .llvm_stackmaps=contents,readonly
          ${GCWALK_INDEX_DL_OBJ} ${GCWALK_INDEX_DL_OBJ_NOALLOC}
  DEPENDS ${GCWALK_INDEX_DL_OBJ} VERBATIM)
add_executable(registry_probe_gnu_mixed registry_probe.cpp ${GCWALK_INDEX_OBJ} ${GCWALK_INDEX_DL_OBJ_NOALLOC})
target_link_libraries(registry_probe_gnu_mixed PRIVATE gcwalk_discovery)
list(APPEND probe_defs GCWALK_TEST_PROBE_GNU_MIXED="$<TARGET_FILE:registry_probe_gnu_mixed>")
list(APPEND probe_targets registry_probe_gnu_mixed)

# A probe with a .gcwalk_frames section, made before gcwalk-pack existed: the probe packs its own
# stack maps (pack_self.cpp), and objcopy adds them to a copy of it (packed), to a copy of another
# build of the same object (stale: another build ID), and to a copy of that without its
# .llvm_stackmaps (stale_bare: nothing to fall back to).
find_package(ZLIB REQUIRED)
add_executable(registry_probe_packer registry_probe.cpp pack_self.cpp ${GCWALK_INDEX_OBJ_NOALLOC})
target_link_libraries(registry_probe_packer PRIVATE gcwalk_discovery ZLIB::ZLIB)
target_compile_definitions(registry_probe_packer PRIVATE GCWALK_PROBE_PACK)
set(packed_dir ${CMAKE_CURRENT_BINARY_DIR}/packed_probes)
file(MAKE_DIRECTORY ${packed_dir})
set(packed_probes ${packed_dir}/packed ${packed_dir}/stale ${packed_dir}/stale_bare)
add_custom_command(OUTPUT ${packed_probes}
  COMMAND registry_probe_packer --pack ${packed_dir}/frames.bin
  COMMAND ${GCWALK_OBJCOPY_GNU} --add-section .gcwalk_frames=${packed_dir}/frames.bin
          $<TARGET_FILE:registry_probe_packer> ${packed_dir}/packed
  COMMAND ${GCWALK_OBJCOPY_GNU} --add-section .gcwalk_frames=${packed_dir}/frames.bin
          $<TARGET_FILE:registry_probe_gnu_noalloc> ${packed_dir}/stale
  COMMAND ${GCWALK_OBJCOPY_GNU} --remove-section .llvm_stackmaps ${packed_dir}/stale
          ${packed_dir}/stale_bare
  DEPENDS registry_probe_packer registry_probe_gnu_noalloc VERBATIM
  COMMENT "registry probes with a .gcwalk_frames section")
# And an allocated .gcwalk_frames (read from memory): a probe linked with a placeholder section
# of the exact size its table takes (stored zlib blocks: the size follows from the table's
# counts), which it then packs for itself; objcopy swaps the placeholder for the table (the
# code and the build ID stay as linked).
add_custom_command(OUTPUT ${packed_dir}/placeholder.o
  COMMAND ${CMAKE_COMMAND} -E env GCWALK_PACK_LEVEL=0 $<TARGET_FILE:registry_probe_packer>
          --pack ${packed_dir}/placeholder.bin
  COMMAND ${GCWALK_OBJCOPY_GNU} -I binary -O elf64-x86-64 -B i386:x86-64
          --rename-section .data=.gcwalk_frames,alloc,load,readonly,data
          placeholder.bin placeholder.o
  WORKING_DIRECTORY ${packed_dir} DEPENDS registry_probe_packer VERBATIM)
add_executable(registry_probe_alloc_table registry_probe.cpp pack_self.cpp ${GCWALK_INDEX_OBJ_NOALLOC}
  ${packed_dir}/placeholder.o)
target_link_libraries(registry_probe_alloc_table PRIVATE gcwalk_discovery ZLIB::ZLIB)
target_compile_definitions(registry_probe_alloc_table PRIVATE GCWALK_PROBE_PACK)
target_link_options(registry_probe_alloc_table PRIVATE -Wl,-z,noexecstack)
add_custom_command(OUTPUT ${packed_dir}/packed_alloc
  COMMAND ${CMAKE_COMMAND} -E env GCWALK_PACK_LEVEL=0 $<TARGET_FILE:registry_probe_alloc_table>
          --pack ${packed_dir}/alloc.bin
  COMMAND ${GCWALK_OBJCOPY_GNU} --update-section .gcwalk_frames=${packed_dir}/alloc.bin
          $<TARGET_FILE:registry_probe_alloc_table> ${packed_dir}/packed_alloc
  DEPENDS registry_probe_alloc_table VERBATIM COMMENT "registry probe with an allocated .gcwalk_frames")
list(APPEND packed_probes ${packed_dir}/packed_alloc)
add_custom_target(registry_probes_packed DEPENDS ${packed_probes})
list(APPEND probe_defs GCWALK_TEST_PROBE_PACKED="${packed_dir}/packed"
     GCWALK_TEST_PROBE_PACKED_ALLOC="${packed_dir}/packed_alloc"
     GCWALK_TEST_PROBE_STALE="${packed_dir}/stale" GCWALK_TEST_PROBE_STALE_BARE="${packed_dir}/stale_bare")
list(APPEND probe_targets registry_probes_packed)

add_executable(test_image_registry test_image_registry.cpp)
add_dependencies(test_image_registry gcwalk_test_dl gcwalk_test_dl_noalloc gcwalk_test_dl_noalloc_moved
                 ${probe_targets})
file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/registry_scratch)
target_compile_definitions(test_image_registry PRIVATE ${probe_defs}
  GCWALK_TEST_DL_SO="$<TARGET_FILE:gcwalk_test_dl>"
  GCWALK_TEST_DL_NOALLOC_SO="$<TARGET_FILE:gcwalk_test_dl_noalloc>"
  GCWALK_TEST_DL_NOALLOC_MOVED_SO="$<TARGET_FILE:gcwalk_test_dl_noalloc_moved>"
  GCWALK_TEST_SCRATCH="${CMAKE_CURRENT_BINARY_DIR}/registry_scratch"
  GCWALK_TEST_NOT_ELF="${CMAKE_CURRENT_SOURCE_DIR}/index_functions.ll")
target_link_libraries(test_image_registry PRIVATE gcwalk_discovery gcwalk_catch_main ${CMAKE_DL_LIBS})
catch_discover_tests(test_image_registry TEST_PREFIX "image_registry: ")

# A JIT object's stack maps and .eh_frame at final addresses: this executable's own, handed over.
add_executable(test_jit_object test_jit_object.cpp ${GCWALK_INDEX_OBJ})
target_link_libraries(test_jit_object PRIVATE gcwalk_discovery gcwalk_catch_main)
catch_discover_tests(test_jit_object TEST_PREFIX "jit_object: ")

# Packed frame tables: round trips, and indexes built from tables against those built from the
# same stack maps (the format fixtures, and this executable's image with its CFI rules).
add_executable(test_frame_table test_frame_table.cpp ${GCWALK_INDEX_OBJ})
target_link_libraries(test_frame_table PRIVATE gcwalk_discovery gcwalk_catch_main gcwalk_warnings
                      ZLIB::ZLIB)
target_compile_definitions(test_frame_table PRIVATE GCWALK_FIXTURE_DIR="${fixture_dir}")
add_dependencies(test_frame_table gcwalk_format_fixtures)
catch_discover_tests(test_frame_table TEST_PREFIX "frame_table: ")
