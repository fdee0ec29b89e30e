# The fast walker (with the CFI evaluator and the native-frame rules under it) and the walk cache,
# checked root slot by root slot against the libunwind walker (included from tests/gc/CMakeLists.txt).
# fast_frames.ll is compiled with register GC roots allowed, so some roots live in callee-saved
# registers and the walkers must agree on their save slots too.
gcwalk_compile_ir(fast_frames_obj ${CMAKE_CURRENT_SOURCE_DIR}/fast_frames.ll
                  LLC_FLAGS -max-registers-for-gc-values=4 -fixup-allow-gcptr-in-csr)
add_executable(test_fast_walker test_fast_walker.cpp ${fast_frames_obj})
target_include_directories(test_fast_walker PRIVATE ${PROJECT_SOURCE_DIR}/unwind) # frame_rules.hpp
target_link_libraries(test_fast_walker PRIVATE gcwalk_roots gcwalk_catch_main gcwalk_warnings
                      PkgConfig::LIBUNWIND
                      ${CMAKE_DL_LIBS})
add_test(NAME fast_walker COMMAND test_fast_walker)

# WalkCache: cached walks against uncached ones on the same frozen stacks.
gcwalk_compile_ir(cache_frames_obj ${CMAKE_CURRENT_SOURCE_DIR}/cache_frames.ll
                  LLC_FLAGS -max-registers-for-gc-values=4 -fixup-allow-gcptr-in-csr)
add_executable(test_walk_cache test_walk_cache.cpp ${cache_frames_obj})
target_link_libraries(test_walk_cache PRIVATE gcwalk_roots gcwalk_catch_main gcwalk_warnings)
add_test(NAME walk_cache COMMAND test_walk_cache)
# The same walks with every root in a stack slot: the replay's runs of plain slots (above, most
# frames have a root in a register and are resolved again on replay).
gcwalk_compile_ir(cache_frames_stack_obj ${CMAKE_CURRENT_SOURCE_DIR}/cache_frames.ll NAME cache_frames_stack)
add_executable(test_walk_cache_stack test_walk_cache.cpp ${cache_frames_stack_obj})
target_link_libraries(test_walk_cache_stack PRIVATE gcwalk_roots gcwalk_catch_main gcwalk_warnings)
add_test(NAME walk_cache_stack_roots COMMAND test_walk_cache_stack)
