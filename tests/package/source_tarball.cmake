# SPDX-License-Identifier: MIT
# package_source_tarball: `cpack --config CPackSourceConfig.cmake` makes
# <name>-<version>.tar.gz holding the sources and none of the build trees,
# VCS data or CMake output a working copy has.
#   cmake -DCPACK=<cpack> -DWORK=<dir> -DBUILD_DIR=<this build> -DNAME=<name> -DVERSION=<version>
#         -P source_tarball.cmake
cmake_minimum_required(VERSION 3.21)
foreach(var CPACK WORK BUILD_DIR NAME VERSION)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "${var} is not set")
    endif()
endforeach()

file(REMOVE_RECURSE ${WORK})
execute_process(COMMAND ${CPACK} --config ${BUILD_DIR}/CPackSourceConfig.cmake -B ${WORK}
    COMMAND_ERROR_IS_FATAL ANY)
set(tarball ${WORK}/${NAME}-${VERSION}.tar.gz)
if(NOT EXISTS ${tarball})
    message(FATAL_ERROR "${tarball} was not made")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E tar tzf ${tarball}
    OUTPUT_VARIABLE listing OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
string(REPLACE "\n" ";" entries "${listing}")
list(LENGTH entries count)
message(STATUS "${tarball}: ${count} entries")

set(top ${NAME}-${VERSION})
foreach(file CMakeLists.txt README.md LICENSE include/QtProcessPool/processpool.h
             src/CMakeLists.txt tests/package/consumer/main.cpp resources/QtProcessPoolConfig.cmake.in)
    if(NOT "${top}/${file}" IN_LIST entries)
        message(FATAL_ERROR "the tarball lacks ${top}/${file}")
    endif()
endforeach()
foreach(entry IN LISTS entries)
    if(NOT entry MATCHES "^${top}/")
        message(FATAL_ERROR "entry outside ${top}/: ${entry}")
    endif()
    if(entry MATCHES "^${top}/(build[^/]*|\\.git|\\.cache)(/|$)"
       OR entry MATCHES "/(CMakeCache\\.txt|CMakeFiles/|_CPack_Packages/|build\\.ninja|\\.ninja_)")
        message(FATAL_ERROR "the tarball holds a build tree, VCS data or CMake output: ${entry}")
    endif()
endforeach()
