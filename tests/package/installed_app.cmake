# SPDX-License-Identifier: MIT
# package_add_subdirectory_install: an application that builds QtProcessPool
# with add_subdirectory() and is installed must run from its installation.
# Configures and builds the consumer with add_subdirectory(), installs it into
# a fresh prefix, deletes its build tree, then runs the installed executable
# with an empty environment (no LD_LIBRARY_PATH): it must run a task in a
# worker that is that installed executable (the consumer checks it).
#   cmake -DWORK=<dir> -DCONSUMER=<consumer src> -DQTPROCESSPOOL_SOURCE_DIR=<src>
#         -DGENERATOR=<generator> "-DOPTIONS=<-D...;-D...>" -P installed_app.cmake
cmake_minimum_required(VERSION 3.21)
foreach(var WORK CONSUMER QTPROCESSPOOL_SOURCE_DIR GENERATOR)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "${var} is not set")
    endif()
endforeach()

include(${CMAKE_CURRENT_LIST_DIR}/run.cmake)

file(REMOVE_RECURSE ${WORK})
set(build ${WORK}/build)
set(prefix ${WORK}/prefix)
run(${CMAKE_COMMAND} -S ${CONSUMER} -B ${build} -G ${GENERATOR} ${OPTIONS}
    -DQTPROCESSPOOL_SOURCE_DIR=${QTPROCESSPOOL_SOURCE_DIR})
run(${CMAKE_COMMAND} --build ${build})
run(${CMAKE_COMMAND} --install ${build} --prefix ${prefix})
# Nothing of the build may be needed any more.
file(REMOVE_RECURSE ${build})

file(GLOB installed RELATIVE ${prefix} ${prefix}/*/* ${prefix}/*/*/*)
message(STATUS "installed: ${installed}")
set(program ${prefix}/bin/consumer)
if(NOT EXISTS ${program})
    message(FATAL_ERROR "${program} was not installed")
endif()
execute_process(COMMAND env -i ${program}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "${program}:\n${out}${err}")
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the installed consumer failed (${rc})")
endif()
