# cfgprobe's initial-cache settings (init-build.sh loads them with cmake -C).
# The project sits at <tree>/projects/cfgprobe of a sel4test-style tree. Unlike
# sel4test it forces no kernel option beyond the simulation settings, so the
# options given on the command line reach the kernel.

cmake_minimum_required(VERSION 3.16.0)

set(tree "${CMAKE_CURRENT_LIST_DIR}/../..")
file(GLOB project_modules ${tree}/projects/*)
list(APPEND CMAKE_MODULE_PATH ${tree}/kernel ${tree}/tools/seL4/cmake-tool/helpers/ ${project_modules})

set(SEL4_CONFIG_DEFAULT_ADVANCED ON)
include(application_settings)
include(${CMAKE_CURRENT_LIST_DIR}/easy-settings.cmake)
correct_platform_strings()

find_package(seL4 REQUIRED)
sel4_configure_platform_settings()

if(SIMULATION)
    ApplyCommonSimulationSettings(${KernelSel4Arch})
endif()
ApplyCommonReleaseVerificationSettings(${RELEASE} OFF)
