# seL4-rs as the kernel of a seL4 CMake project.
#
# seL4 projects find their kernel with find_package(seL4), which searches
# CMAKE_MODULE_PATH for FindseL4.cmake. Initialising a build directory with
#
#   ../init-build.sh -DCMAKE_MODULE_PATH=/path/to/sel4-rs/cmake ...
#
# puts this directory first in that path, so this file is found instead of
# the one in the project's seL4 checkout. It provides what seL4's package
# provides (KERNEL_PATH, KERNEL_HELPERS_PATH, KERNEL_CONFIG_PATH and the
# macros sel4_import_kernel, sel4_import_libsel4 and
# sel4_configure_platform_settings); the difference is sel4_import_kernel,
# whose kernel.elf is seL4-rs built by cargo (see kernel.cmake and
# README.md). Everything else, libsel4 above all, still comes from the
# project's own seL4 checkout.

cmake_minimum_required(VERSION 3.16.0)

get_filename_component(SEL4_RS_CMAKE_DIR "${CMAKE_CURRENT_LIST_DIR}" REALPATH)
get_filename_component(SEL4_RS_ROOT "${SEL4_RS_CMAKE_DIR}/.." REALPATH)

# The project's seL4 checkout: the other directory on CMAKE_MODULE_PATH with
# seL4's package in it (projects put their kernel/ directory there), unless
# SEL4_RS_SEL4_DIR names it.
if(NOT SEL4_RS_SEL4_DIR)
    foreach(dir IN LISTS CMAKE_MODULE_PATH)
        get_filename_component(dir "${dir}" REALPATH)
        if(NOT dir STREQUAL SEL4_RS_CMAKE_DIR
           AND EXISTS "${dir}/FindseL4.cmake"
           AND EXISTS "${dir}/configs/seL4Config.cmake"
           AND EXISTS "${dir}/libsel4/CMakeLists.txt"
        )
            set(SEL4_RS_SEL4_DIR "${dir}")
            break()
        endif()
    endforeach()
endif()

if(SEL4_RS_SEL4_DIR)
    set(SEL4_RS_SEL4_DIR "${SEL4_RS_SEL4_DIR}" CACHE PATH "The project's seL4 checkout (libsel4, configuration)")
    # As seL4's package sets them: its sources, helpers and platform
    # configuration, which the rest of the project uses unchanged.
    set(KERNEL_PATH "${SEL4_RS_SEL4_DIR}" CACHE STRING "")
    set(KERNEL_HELPERS_PATH "${SEL4_RS_SEL4_DIR}/tools/helpers.cmake" CACHE STRING "")
    set(KERNEL_CONFIG_PATH "${SEL4_RS_SEL4_DIR}/configs/seL4Config.cmake" CACHE STRING "")
    mark_as_advanced(SEL4_RS_SEL4_DIR KERNEL_PATH KERNEL_HELPERS_PATH KERNEL_CONFIG_PATH)
endif()

macro(sel4_import_kernel)
    include("${SEL4_RS_CMAKE_DIR}/import-kernel.cmake")
    sel4_rs_import_kernel()
endmacro()

macro(sel4_import_libsel4)
    add_subdirectory("${KERNEL_PATH}/libsel4" ${CMAKE_BINARY_DIR}/libsel4)
endmacro()

macro(sel4_configure_platform_settings)
    include(${KERNEL_CONFIG_PATH})
endmacro()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(
    seL4
    REQUIRED_VARS SEL4_RS_SEL4_DIR KERNEL_PATH KERNEL_HELPERS_PATH KERNEL_CONFIG_PATH
    REASON_FAILURE_MESSAGE
        "seL4-rs needs the project's own seL4 checkout (for libsel4 and the configuration options) \
but found no directory with FindseL4.cmake, configs/seL4Config.cmake and libsel4/ in CMAKE_MODULE_PATH: \
set SEL4_RS_SEL4_DIR to it"
)
