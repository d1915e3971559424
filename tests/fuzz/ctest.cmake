# Included from tests/CMakeLists.txt. Adds protocol_fuzz, which builds the
# libFuzzer harnesses of the wire protocol with clang (a standalone project in
# this directory) and runs each for QPP_FUZZ_SECONDS on its seed corpus.
set(QPP_FUZZ_SECONDS 20 CACHE STRING "How long protocol_fuzz runs each fuzz harness (s)")
find_program(QPP_FUZZ_CLANGXX NAMES clang++ clang++-14 DOC "clang++ for the fuzz harnesses")
if(QPP_FUZZ_CLANGXX AND CMAKE_HOST_UNIX)
    add_test(NAME protocol_fuzz
        COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/run.sh ${PROJECT_SOURCE_DIR}
                ${CMAKE_CURRENT_BINARY_DIR}/protocol_fuzz ${QPP_FUZZ_SECONDS})
    set_tests_properties(protocol_fuzz PROPERTIES TIMEOUT 900 LABELS fuzz
        ENVIRONMENT "QPP_FUZZ_CXX=${QPP_FUZZ_CLANGXX};QPP_FUZZ_QT6_DIR=${Qt6_DIR}")
else()
    message(STATUS "protocol_fuzz test left out: no clang++ found")
endif()
