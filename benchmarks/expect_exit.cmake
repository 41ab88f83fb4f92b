# ctest helper: runs PROGRAM with ARGS (one string, split like a Unix shell) and fails unless it exits
# with EXIT and its output (stdout and stderr) matches REGEX.
#   cmake -DPROGRAM=<exe> "-DARGS=<args>" -DEXIT=<code> "-DREGEX=<regex>" -P expect_exit.cmake
separate_arguments(args UNIX_COMMAND "${ARGS}")
execute_process(COMMAND "${PROGRAM}" ${args} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc STREQUAL "${EXIT}")
  message(FATAL_ERROR "expected exit code ${EXIT}, got '${rc}'")
endif()
if(NOT "${out}${err}" MATCHES "${REGEX}")
  message(FATAL_ERROR "the output does not match '${REGEX}'")
endif()
