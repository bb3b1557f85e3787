# sel4_rs_kernel_configuration(): checks seL4's generated configuration
# against what seL4-rs implements and writes the kernel configuration file
# cargo builds the kernel for.
#
# The input is the configuration seL4's own option declarations generated
# for this build (gen_config/kernel/gen_config.yaml, the source of seL4's
# gen_config.h and gen_config.json). The table of what seL4-rs supports is
# configs/options.txt in this repository, the same table the kernel's own
# build checks a configuration file against, so both refuse the same
# values with the same words. The first entry seL4-rs cannot honour stops
# the configure step with one message naming the option, its value and
# what is supported.

function(sel4_rs_refuse message)
    message(FATAL_ERROR "${message}\n"
                        "(seL4-rs builds a kernel only for configurations it implements; see ${SEL4_RS_ROOT}/configs/options.txt)")
endfunction()

# The value as the user spelt it, if the option is a CMake variable.
function(sel4_rs_shown_value option fallback out)
    if(DEFINED ${option})
        set(${out} "${${option}}" PARENT_SCOPE)
    else()
        set(${out} "${fallback}" PARENT_SCOPE)
    endif()
endfunction()

function(sel4_rs_kernel_configuration gen_config_yaml table output)
    # seL4's generated entries, NAME: value [# comment]; a later line for
    # the same name replaces an earlier one (choices write each flag twice).
    file(STRINGS "${gen_config_yaml}" lines)
    set(names "")
    foreach(line IN LISTS lines)
        if(line MATCHES "^([A-Za-z0-9_]+): (\"[^\"]*\"|[^ #]*)")
            set(name "${CMAKE_MATCH_1}")
            set(value "${CMAKE_MATCH_2}")
            if(value MATCHES "^\"(.*)\"$")
                set(value "${CMAKE_MATCH_1}")
            elseif(value STREQUAL "true")
                set(value "ON")
            elseif(value STREQUAL "false")
                set(value "OFF")
            endif()
            if(NOT DEFINED generated_${name})
                list(APPEND names "${name}")
            endif()
            set(generated_${name} "${value}")
        endif()
    endforeach()

    # The table: name, CMake option, kind, supported values, default, note.
    file(STRINGS "${table}" rows REGEX "^[A-Z]")
    set(configurable "")
    foreach(row IN LISTS rows)
        if(NOT row MATCHES "^([^ ]+) +([^ ]+) +([^ ]+) +([^ ]+) +([^ ]+) *(.*)$")
            message(FATAL_ERROR "${table}: malformed row: ${row}")
        endif()
        set(name "${CMAKE_MATCH_1}")
        set(spec_option_${name} "${CMAKE_MATCH_2}")
        set(spec_kind_${name} "${CMAKE_MATCH_3}")
        set(spec_supported_${name} "${CMAKE_MATCH_4}")
        set(spec_default_${name} "${CMAKE_MATCH_5}")
        set(spec_note_${name} "${CMAKE_MATCH_6}")
        if(CMAKE_MATCH_3 MATCHES "^(bool|int|choice)$")
            list(APPEND configurable "${name}")
        endif()
    endforeach()

    foreach(name IN LISTS names)
        set(value "${generated_${name}}")
        if(NOT DEFINED spec_kind_${name})
            # An entry seL4-rs does not know is fine only while it is off.
            if(NOT value MATCHES "^(OFF|0|)$")
                sel4_rs_refuse(
                    "seL4-rs does not know seL4's configuration entry CONFIG_${name} (set to ${value}), "
                    "so its kernel cannot honour it")
            endif()
            continue()
        endif()
        set(kind "${spec_kind_${name}}")
        if(kind MATCHES "^(member|any)$")
            continue()
        endif()
        set(option "${spec_option_${name}}")
        set(supported "${spec_supported_${name}}")
        set(ok FALSE)
        if(kind STREQUAL "int" AND supported MATCHES "^([0-9]+)\\.\\.([0-9]+)$")
            set(lo "${CMAKE_MATCH_1}")
            set(hi "${CMAKE_MATCH_2}")
            set(supported_text "${lo}..${hi}")
            if(value MATCHES "^[0-9]+$" AND NOT value LESS lo AND NOT value GREATER hi)
                set(ok TRUE)
            endif()
        else()
            string(REPLACE "," ";" supported_list "${supported}")
            string(REPLACE "," ", " supported_text "${supported}")
            if(value IN_LIST supported_list)
                set(ok TRUE)
            endif()
        endif()
        if(NOT ok)
            sel4_rs_shown_value("${option}" "${value}" shown)
            set(note "")
            if(NOT "${spec_note_${name}}" STREQUAL "")
                set(note "; ${spec_note_${name}}")
            endif()
            sel4_rs_refuse("seL4-rs does not support ${option}=${shown} (supported: ${supported_text}${note})")
        endif()
    endforeach()

    # The kernel's configuration file: every option it is built for.
    set(text "# The kernel configuration of this build, written by seL4-rs's CMake package from\n")
    string(APPEND text "# seL4's generated configuration (${gen_config_yaml}).\n")
    foreach(name IN LISTS configurable)
        if(DEFINED generated_${name})
            set(value "${generated_${name}}")
        else()
            set(value "${spec_default_${name}}")
        endif()
        string(APPEND text "${spec_option_${name}}=${value}\n")
    endforeach()
    # Rewritten only when it changes, so an unchanged configuration does not
    # make cargo rebuild the kernel.
    file(WRITE "${output}.new" "${text}")
    configure_file("${output}.new" "${output}" COPYONLY)
endfunction()
