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
target_link_libraries(test_frame_index PRIVATE gcwalk gcwalk_catch_main)
catch_discover_tests(test_frame_index TEST_PREFIX "frame_index: ")

# The same managed object in two executables: linked by GNU ld and by lld.
foreach(linker gnu lld)
  add_executable(registry_probe_${linker} registry_probe.cpp ${GCWALK_INDEX_OBJ})
  target_link_libraries(registry_probe_${linker} PRIVATE gcwalk)
  if(linker STREQUAL "lld")
    target_link_options(registry_probe_${linker} PRIVATE -fuse-ld=lld)
  endif()
endforeach()

add_executable(test_image_registry test_image_registry.cpp)
add_dependencies(test_image_registry gcwalk_test_dl registry_probe_gnu registry_probe_lld)
target_compile_definitions(test_image_registry PRIVATE
  GCWALK_TEST_DL_SO="$<TARGET_FILE:gcwalk_test_dl>"
  GCWALK_TEST_PROBE_GNU="$<TARGET_FILE:registry_probe_gnu>"
  GCWALK_TEST_PROBE_LLD="$<TARGET_FILE:registry_probe_lld>"
  GCWALK_TEST_NOT_ELF="${CMAKE_CURRENT_SOURCE_DIR}/index_functions.ll")
target_link_libraries(test_image_registry PRIVATE gcwalk gcwalk_catch_main ${CMAKE_DL_LIBS})
catch_discover_tests(test_image_registry TEST_PREFIX "image_registry: ")
