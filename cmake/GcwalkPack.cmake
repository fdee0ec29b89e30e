# gcwalk_pack(<target> [STRIP_STACKMAPS] [PACK <gcwalk-pack>])
# Runs gcwalk-pack on <target>'s output file as a POST_BUILD step: its stack maps, frame rules
# and roots are packed into a non-allocated .gcwalk_frames section, which the runtime indexes
# instead of parsing .llvm_stackmaps and .eh_frame (docs/INTEGRATION.md, "Packed frame tables").
# STRIP_STACKMAPS also removes .llvm_stackmaps, which must then be non-allocated
# (gcwalk_unallocated_stackmaps(<target>)). In gcwalk's own build tree the tool built there is
# used (and built first); with an installed package, the installed gcwalk::pack; PACK names
# another. Installed with the CMake package: find_package(gcwalk) makes it available.
function(gcwalk_pack target)
  cmake_parse_arguments(A "STRIP_STACKMAPS" "PACK" "" ${ARGN})
  if(NOT TARGET ${target})
    message(FATAL_ERROR "gcwalk_pack: ${target} is not a target")
  endif()
  get_target_property(type ${target} TYPE)
  if(NOT type MATCHES "^(EXECUTABLE|SHARED_LIBRARY|MODULE_LIBRARY)$")
    message(FATAL_ERROR "gcwalk_pack: ${target} is a ${type}; gcwalk-pack rewrites executables and shared objects")
  endif()
  if(A_PACK)
    set(tool ${A_PACK})
  elseif(TARGET gcwalk-pack)
    # gcwalk's build tree (or a project that added gcwalk as a subdirectory).
    set(tool $<TARGET_FILE:gcwalk-pack>)
    add_dependencies(${target} gcwalk-pack)
    # Relinked (and so packed again) when the tool changes.
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS $<TARGET_FILE:gcwalk-pack>)
  elseif(TARGET gcwalk::pack)
    set(tool $<TARGET_FILE:gcwalk::pack>)
  else()
    message(FATAL_ERROR "gcwalk_pack: no gcwalk-pack (gcwalk was built without GCWALK_WITH_LLVM); "
                        "pass PACK <path>")
  endif()
  set(flags --quiet)
  if(A_STRIP_STACKMAPS)
    list(APPEND flags --strip-stackmaps)
  endif()
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${tool} ${flags} $<TARGET_FILE:${target}>
    VERBATIM COMMENT "gcwalk-pack: .gcwalk_frames in ${target}")
endfunction()
