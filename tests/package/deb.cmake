# SPDX-License-Identifier: MIT
# package_deb: `cpack -G DEB` of this build, checked and used.
#   1. builds the .deb and checks its metadata: package name, version (from
#      project()), Depends on the Qt runtime packages (dpkg-shlibdeps) and on
#      qt6-base-dev;
#   2. unpacks it with `dpkg -x` into a private root: the machine's package
#      database is left alone (no root, no dpkg lock, nothing left installed
#      if the test dies), which `dpkg -i` / `dpkg -r` would not;
#   3. builds the find_package() consumer against <root>/usr and runs it.
#   cmake -DCPACK=<cpack> -DWORK=<dir> -DBUILD_DIR=<this build> -DCONSUMER=<consumer src>
#         -DNAME=<package> -DVERSION=<version> -DGENERATOR=<generator>
#         "-DOPTIONS=<-D...;...>" "-DPREFIX_PATH=<list>" -P deb.cmake
cmake_minimum_required(VERSION 3.21)
foreach(var CPACK WORK BUILD_DIR CONSUMER NAME VERSION GENERATOR)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "${var} is not set")
    endif()
endforeach()
find_program(DPKG_DEB dpkg-deb REQUIRED)

include(${CMAKE_CURRENT_LIST_DIR}/run.cmake)

file(REMOVE_RECURSE ${WORK})
run(${CPACK} -G DEB --config ${BUILD_DIR}/CPackConfig.cmake -B ${WORK}/out)
file(GLOB debs ${WORK}/out/*.deb)
list(LENGTH debs count)
if(NOT count EQUAL 1)
    message(FATAL_ERROR "expected one .deb in ${WORK}/out, found: ${debs}")
endif()

# 1. Metadata.
foreach(field Package Version Depends)
    execute_process(COMMAND ${DPKG_DEB} --field ${debs} ${field}
        OUTPUT_VARIABLE ${field} OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
    message(STATUS "${field}: ${${field}}")
endforeach()
if(NOT Package STREQUAL NAME)
    message(FATAL_ERROR "Package is '${Package}', expected '${NAME}'")
endif()
if(NOT Version STREQUAL VERSION)
    message(FATAL_ERROR "Version is '${Version}', expected '${VERSION}' (project())")
endif()
# Debian 13 renamed some runtime packages for 64-bit time_t (libqt6core6t64).
foreach(dep libqt6core6 libqt6network6 qt6-base-dev)
    if(NOT Depends MATCHES "(^|, )${dep}(t64)?( |,|$)")
        message(FATAL_ERROR "Depends lacks ${dep}: ${Depends}")
    endif()
endforeach()

# 2. Unpack into a private root.
set(root ${WORK}/root)
run(${DPKG_DEB} -x ${debs} ${root})
foreach(file usr/include/QtProcessPool/ProcessPool usr/include/QtProcessPool/qtprocesspool_export.h)
    if(NOT EXISTS ${root}/${file})
        message(FATAL_ERROR "the package lacks /${file}")
    endif()
endforeach()
file(GLOB_RECURSE config ${root}/usr/QtProcessPoolConfig.cmake)
file(GLOB_RECURSE library ${root}/usr/libQtProcessPool.so.*)
if(NOT config OR NOT library)
    message(FATAL_ERROR "the package lacks QtProcessPoolConfig.cmake or libQtProcessPool.so")
endif()

# 3. The find_package() consumer, built against the unpacked package and run.
# Its RUNPATH (CMake's build RPATH) finds the library under the private
# root, as /usr/lib would after `dpkg -i`.
set(build ${WORK}/consumer)
run(${CMAKE_COMMAND} -S ${CONSUMER} -B ${build} -G ${GENERATOR} ${OPTIONS}
    "-DCMAKE_PREFIX_PATH=${root}/usr;${PREFIX_PATH}")
execute_process(COMMAND ${CMAKE_COMMAND} -L -N ${build} OUTPUT_VARIABLE cache)
string(REGEX MATCH "QtProcessPool_DIR:PATH=[^\n]*" found "${cache}")
message(STATUS "${found}")
if(NOT found MATCHES "=${root}/usr/")
    message(FATAL_ERROR "the consumer did not find the package under ${root}/usr")
endif()
run(${CMAKE_COMMAND} --build ${build})
run(${build}/consumer)
