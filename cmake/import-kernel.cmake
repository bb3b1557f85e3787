# sel4_rs_import_kernel(): the kernel directory of the build, as
# sel4_import_kernel() adds seL4's (at ${CMAKE_BINARY_DIR}/kernel).
#
# The kernel's configuration options are declared by the project's seL4
# checkout (its config.cmake and the files that includes), which name
# further files by paths relative to the directory being processed. So the
# directory added here is a small one in the build tree: links to the
# checkout's src/, include/, tools/, libsel4/ and configs/, and a
# CMakeLists.txt that runs this package's kernel.cmake.

function(sel4_rs_import_kernel)
    set(source "${CMAKE_BINARY_DIR}/sel4-rs/kernel-source")
    file(MAKE_DIRECTORY "${source}")
    foreach(entry IN ITEMS src include tools libsel4 configs)
        set(link "${source}/${entry}")
        if(IS_SYMLINK "${link}")
            file(READ_SYMLINK "${link}" points_to)
            if(NOT points_to STREQUAL "${KERNEL_PATH}/${entry}")
                file(REMOVE "${link}")
            endif()
        endif()
        if(NOT IS_SYMLINK "${link}")
            file(CREATE_LINK "${KERNEL_PATH}/${entry}" "${link}" SYMBOLIC)
        endif()
    endforeach()
    file(WRITE "${source}/CMakeLists.txt.new" "include(\"${SEL4_RS_CMAKE_DIR}/kernel.cmake\")\n")
    configure_file("${source}/CMakeLists.txt.new" "${source}/CMakeLists.txt" COPYONLY)
    add_subdirectory("${source}" "${CMAKE_BINARY_DIR}/kernel")
endfunction()
