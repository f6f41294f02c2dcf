# lipsync_module(NAME SOURCES ... DEPS ...): one static library per module, with the project's
# warnings and sanitizers. Headers are included as "module/header.h" from src/.
set(LIPSYNC_WARNINGS -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)

if(LIPSYNC_SANITIZE)
  add_compile_options(-fsanitize=${LIPSYNC_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${LIPSYNC_SANITIZE})
endif()
if(LIPSYNC_BUILD_FUZZERS)
  # Coverage feedback from every library a fuzzer links; any sanitizer report ends the run.
  add_compile_options(-fsanitize=fuzzer-no-link -fno-sanitize-recover=all)
endif()

function(lipsync_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(lipsync_${name} STATIC ${ARG_SOURCES})
  add_library(lipsync::${name} ALIAS lipsync_${name})
  target_include_directories(lipsync_${name} PUBLIC "${PROJECT_SOURCE_DIR}/src")
  target_compile_options(lipsync_${name} PRIVATE ${LIPSYNC_WARNINGS})
  target_link_libraries(lipsync_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# lipsync_test(NAME SOURCES ... DEPS ...): a GoogleTest binary registered with CTest.
function(lipsync_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES} "${PROJECT_SOURCE_DIR}/tests/support/lsan_suppressions.cpp")
  target_compile_options(${name} PRIVATE ${LIPSYNC_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} lipsync_test_support GTest::gtest_main)
  add_dependencies(${name} test_models)
  # One variable only: gtest_discover_tests keeps the first entry of an ENVIRONMENT list. The
  # models' folder is compiled into the test support as well (LIPSYNC_DEFAULT_TEST_MODELS_DIR).
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES ENVIRONMENT
    "LIPSYNC_REFERENCE_DIR=${LIPSYNC_REFERENCE_DIR}")
endfunction()
