# capdemo: initial-cache settings, loaded with `cmake -C` by init-build.sh.
#
# This directory is expected to sit at <tree>/projects/capdemo of a
# sel4test-style tree (kernel/, tools/seL4/, projects/{sel4runtime,musllibc,...}).
# The kernel configuration mirrors what sel4test's settings.cmake selects for
# an x86_64 simulation build: debug build, KernelPrinting ON, non-MCS,
# one node, one domain, fastpath at its default (ON), and the common
# x86 simulation settings (no PCID, FSGSBASE via MSR, no IOMMU, FXSAVE FPU).

cmake_minimum_required(VERSION 3.16.0)

set(project_dir "${CMAKE_CURRENT_LIST_DIR}/../..")
file(GLOB project_modules ${project_dir}/projects/*)
list(
    APPEND
        CMAKE_MODULE_PATH
        ${project_dir}/kernel
        ${project_dir}/tools/seL4/cmake-tool/helpers/
        ${project_dir}/tools/seL4/elfloader-tool/
        ${project_modules}
)

set(SEL4_CONFIG_DEFAULT_ADVANCED ON)

include(application_settings)

include(${CMAKE_CURRENT_LIST_DIR}/easy-settings.cmake)

correct_platform_strings()

find_package(seL4 REQUIRED)
sel4_configure_platform_settings()

set(valid_platforms ${KernelPlatform_all_strings} ${correct_platform_strings_platform_aliases})
set_property(CACHE PLATFORM PROPERTY STRINGS ${valid_platforms})
if(NOT "${PLATFORM}" IN_LIST valid_platforms)
    message(FATAL_ERROR "Invalid PLATFORM selected: \"${PLATFORM}\"
Valid platforms are: \"${valid_platforms}\"")
endif()

if(SIMULATION)
    ApplyCommonSimulationSettings(${KernelSel4Arch})
elseif(KernelArchX86)
    set(KernelIOMMU ON CACHE BOOL "" FORCE)
endif()

ApplyCommonReleaseVerificationSettings(${RELEASE} ${VERIFICATION})

set(KernelNumDomains 1 CACHE STRING "" FORCE)
set(KernelMaxNumNodes 1 CACHE STRING "" FORCE)
set(KernelIsMCS OFF CACHE BOOL "" FORCE)
