# SPDX-License-Identifier: MIT
# For the package test scripts: run(<command> <args>...) runs a command and
# stops the script, naming it, when it fails.
function(run)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        string(REPLACE ";" " " cmd "${ARGN}")
        message(FATAL_ERROR "failed (${rc}): ${cmd}")
    endif()
endfunction()
