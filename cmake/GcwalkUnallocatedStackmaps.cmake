# gcwalk_unallocated_stackmaps(<target> [OBJCOPY <objcopy>])
# Makes the .llvm_stackmaps section of <target>'s managed objects non-allocated before linking:
# every object file among the target's sources (an EXTERNAL_OBJECT source, or one named *.o or
# *.obj) is replaced by a copy made with
#   objcopy --set-section-flags .llvm_stackmaps=contents,readonly
# which the target links instead. The linker then resolves the section's addresses at link time
# (GNU ld and lld, PIE and shared objects, no DT_TEXTREL, no -z notext) and the section is not
# loaded; gcwalk reads it from the image's file and adds the load bias (docs/INTEGRATION.md).
# Objects without the section are copied unchanged. Call it in the directory that created the
# target, after its sources are listed; objects the target compiles itself are not touched.
# Installed with the CMake package: find_package(gcwalk) makes it available.
function(gcwalk_unallocated_stackmaps target)
  cmake_parse_arguments(A "" "OBJCOPY" "" ${ARGN})
  if(NOT TARGET ${target})
    message(FATAL_ERROR "gcwalk_unallocated_stackmaps: ${target} is not a target")
  endif()
  if(NOT A_OBJCOPY)
    # GNU objcopy first: the one whose output both linkers were checked with.
    find_program(GCWALK_STACKMAPS_OBJCOPY NAMES objcopy llvm-objcopy REQUIRED)
    set(A_OBJCOPY ${GCWALK_STACKMAPS_OBJCOPY})
  endif()
  get_target_property(srcs ${target} SOURCES)
  get_target_property(src_dir ${target} SOURCE_DIR)
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/gcwalk_unallocated/${target})
  set(new_srcs)
  set(n 0)
  foreach(src IN LISTS srcs)
    get_source_file_property(external ${src} EXTERNAL_OBJECT)
    if(src MATCHES "\\$<" OR NOT (external OR src MATCHES "\\.(o|obj)$"))
      list(APPEND new_srcs ${src})
      continue()
    endif()
    # A relative path names a file of the source folder, or the output of a custom command in
    # the binary folder.
    get_source_file_property(generated ${src} GENERATED)
    if(generated)
      get_filename_component(abs ${src} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_BINARY_DIR})
    else()
      get_filename_component(abs ${src} ABSOLUTE BASE_DIR ${src_dir})
    endif()
    get_filename_component(name ${abs} NAME)
    # A number in front: two objects of the same name from different folders stay apart.
    set(copy ${out_dir}/${n}_${name})
    math(EXPR n "${n} + 1")
    add_custom_command(OUTPUT ${copy}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
      COMMAND ${A_OBJCOPY} --set-section-flags .llvm_stackmaps=contents,readonly ${abs} ${copy}
      DEPENDS ${abs} VERBATIM COMMENT "objcopy: non-allocated .llvm_stackmaps in ${name}")
    set_source_files_properties(${copy} PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
    list(APPEND new_srcs ${copy})
  endforeach()
  if(n EQUAL 0)
    message(WARNING "gcwalk_unallocated_stackmaps: ${target} lists no object files")
  endif()
  set_property(TARGET ${target} PROPERTY SOURCES ${new_srcs})
endfunction()
