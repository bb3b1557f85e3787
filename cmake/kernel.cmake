# The kernel directory of a seL4 project built with seL4-rs (what
# sel4_import_kernel() adds at ${CMAKE_BINARY_DIR}/kernel).
#
# What the rest of a seL4 project expects of this directory, and where it
# comes from here:
#  - the Kernel* options and the generated configuration (gen_config.h,
#    gen_config.json, the kernel_Config target that libsel4 links): seL4's
#    own declarations in the project's seL4 checkout, evaluated unchanged;
#  - the paths of seL4's code generators that libsel4 and seL4's helpers
#    call, and the BASE_*_FLAGS user code is compiled with;
#  - an executable target named kernel.elf, from which seL4's
#    DeclareRootserver() makes images/kernel-<arch>-<platform> and
#    GenerateSimulateScript() the simulate script: here the seL4-rs kernel,
#    built by cargo for this build's configuration.
# Between the two, the configuration is checked against what seL4-rs
# implements (configuration.cmake).

cmake_minimum_required(VERSION 3.16.0)
# seL4's kernel directory loads these modules, and projects use their
# commands (check_c_source_compiles) after it.
include(CheckCCompilerFlag)

include("${KERNEL_CONFIG_PATH}")
project(seL4 C ASM)

include("${KERNEL_HELPERS_PATH}")
include("${SEL4_RS_CMAKE_DIR}/configuration.cmake")

# seL4's code generators, by the variables its helpers and libsel4 use.
set(PYTHON3 "python3" CACHE INTERNAL "")
foreach(
    tool IN
    ITEMS CPP_GEN_PATH=cpp_gen.sh
          CIRCULAR_INCLUDES=circular_includes.py
          CONFIG_GEN_PATH=config_gen.py
          BF_GEN_PATH=bitfield_gen.py
          HARDWARE_GEN_PATH=hardware_gen.py
          INVOCATION_ID_GEN_PATH=invocation_header_gen.py
          INVOCATION_JSON_GEN_PATH=invocation_json_gen.py
          SYSCALL_ID_GEN_PATH=syscall_header_gen.py
          XMLLINT_PATH=xmllint.sh
          KERNEL_FLAGS_PATH=flags.cmake
)
    string(REPLACE "=" ";" tool "${tool}")
    list(GET tool 0 variable)
    list(GET tool 1 file)
    if(NOT EXISTS "${KERNEL_PATH}/tools/${file}")
        message(FATAL_ERROR "seL4-rs: the seL4 checkout ${KERNEL_PATH} has no tools/${file}")
    endif()
    set(${variable} "${KERNEL_PATH}/tools/${file}" CACHE FILEPATH "" FORCE)
    mark_as_advanced(${variable})
endforeach()
include("${KERNEL_PATH}/tools/internal.cmake")

# seL4's option declarations. They name their further files relative to
# this directory, whose links lead into the checkout (import-kernel.cmake).
include("${KERNEL_PATH}/config.cmake")

# The compiler flags seL4's kernel directory gives user code for the chosen
# architecture (seL4-rs refuses every other one below).
if(KernelSel4ArchX86_64)
    if(KernelX86MicroArch STREQUAL "generic")
        set(arch_flags "-D__KERNEL_64__ -mtune=generic")
    else()
        set(arch_flags "-D__KERNEL_64__ -march=${KernelX86MicroArch}")
    endif()
    set(asm_flags "")
    if(NOT LLVM_TOOLCHAIN)
        set(asm_flags "-Wa,--64")
    endif()
    set(BASE_ASM_FLAGS "${asm_flags} ${arch_flags}" CACHE INTERNAL "Default ASM flags for compilation")
    set(BASE_C_FLAGS "-m64 ${arch_flags}" CACHE INTERNAL "Default C flags for compilation")
    set(BASE_CXX_FLAGS "-m64 ${arch_flags}" CACHE INTERNAL "Default CXX flags for compilation")
    set(BASE_EXE_LINKER_FLAGS "${arch_flags} -Wl,-m,elf_x86_64" CACHE INTERNAL
                                                                    "Default flags for linker an elf binary application")
endif()

set(sel4_rs_config "${CMAKE_CURRENT_BINARY_DIR}/sel4-rs-kernel.config")
sel4_rs_kernel_configuration("${CMAKE_CURRENT_BINARY_DIR}/gen_config/kernel/gen_config.yaml"
                             "${SEL4_RS_ROOT}/configs/options.txt" "${sel4_rs_config}")
# The configure step reruns when the table changes.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${SEL4_RS_ROOT}/configs/options.txt")

# seL4's kernel directory provides an autoconf.h for the kernel
# configuration; kept for projects that link it.
generate_autoconf(kernel_autoconf "kernel")

# kernel.elf. cargo runs on every build (it decides itself what is out of
# date) and leaves the kernel at ${sel4_rs_elf}, touching it only when it
# changed; kernel.elf is "linked" by copying that file, so the images and
# everything after them are rebuilt only when the kernel really changed.
find_program(SEL4_RS_CARGO cargo HINTS "$ENV{CARGO_HOME}/bin" "$ENV{HOME}/.cargo/bin")
if(NOT SEL4_RS_CARGO)
    message(FATAL_ERROR "seL4-rs: cargo (Rust) is needed to build the kernel; see ${SEL4_RS_ROOT}/README.md")
endif()
mark_as_advanced(SEL4_RS_CARGO)
set(sel4_rs_elf "${CMAKE_CURRENT_BINARY_DIR}/sel4-rs/kernel")
add_custom_target(
    sel4_rs_kernel
    COMMAND "${SEL4_RS_CARGO}" xtask kernel --config "${sel4_rs_config}" --target-dir
            "${CMAKE_CURRENT_BINARY_DIR}/cargo" --out "${sel4_rs_elf}"
    WORKING_DIRECTORY "${SEL4_RS_ROOT}"
    BYPRODUCTS "${sel4_rs_elf}"
    COMMENT "Building the seL4-rs kernel with cargo (configuration: ${sel4_rs_config})"
    USES_TERMINAL VERBATIM)

set(stub "${CMAKE_CURRENT_BINARY_DIR}/sel4-rs/kernel-elf.c")
file(WRITE "${stub}.new" "/* kernel.elf is the seL4-rs kernel built by cargo; this file only gives the target a source. */\n"
                         "typedef int sel4_rs_kernel_is_built_by_cargo;\n")
configure_file("${stub}.new" "${stub}" COPYONLY)
add_executable(kernel.elf EXCLUDE_FROM_ALL "${stub}")
set_target_properties(kernel.elf PROPERTIES LINKER_LANGUAGE C LINK_DEPENDS "${sel4_rs_elf}")
add_dependencies(kernel.elf sel4_rs_kernel kernel_Config)
# Linking, for the targets of this directory only: the kernel cargo built.
set(CMAKE_C_LINK_EXECUTABLE "\"${CMAKE_COMMAND}\" -E copy \"${sel4_rs_elf}\" <TARGET>")
