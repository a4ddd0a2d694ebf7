# Writes OUT, sampler's man page (troff), from the --help of SAMPLER and of each of its commands:
# the page lists every command and flag in the words the binary itself uses, so it cannot drift.
#     cmake -DSAMPLER=path/to/sampler -DVERSION=0.1.0 -DOUT=sampler.1 -P man_page.cmake

function(help_of out)
    execute_process(COMMAND "${SAMPLER}" ${ARGN} --help OUTPUT_VARIABLE text RESULT_VARIABLE failed)
    if(failed)
        message(FATAL_ERROR "`${SAMPLER} ${ARGN} --help` failed: ${failed}")
    endif()
    set(${out} "${text}" PARENT_SCOPE)
endfunction()

# Text for troff: a backslash is \e, and a line must not start with a control character.
function(troff_text out text)
    string(REPLACE "\\" "\\e" text "${text}")
    string(REGEX REPLACE "^([.'])" "\\\\&\\1" text "${text}")
    set(${out} "${text}" PARENT_SCOPE)
endfunction()

# An option's names: bold, with the hyphens as minus signs (what a reader types).
function(troff_names out names)
    troff_text(names "${names}")
    string(REPLACE "-" "\\-" names "${names}")
    string(REGEX REPLACE "^([^ ]+)" "\\\\fB\\1\\\\fR" names "${names}")
    set(${out} "${names}" PARENT_SCOPE)
endfunction()

# One command's help as man text: its description, then each of its positionals and options
# as a tagged paragraph. CLI11 puts a long name column's description on the next lines.
function(command_section out help)
    # Lines as a list: the help's own semicolons must not split it.
    string(REPLACE ";" "<semicolon>" help "${help}")
    string(REPLACE "\n" ";" lines "${help}")
    set(text "")
    set(description "")
    set(pending_names "")
    set(pending_text "")
    foreach(line IN LISTS lines)
        string(REPLACE "<semicolon>" ";" line "${line}")
        if(line MATCHES "^   +(.*)$") # continuation of the entry above
            if(pending_text STREQUAL "")
                set(pending_text "${CMAKE_MATCH_1}")
            else()
                string(APPEND pending_text " ${CMAKE_MATCH_1}")
            endif()
            continue()
        endif()
        if(NOT pending_names STREQUAL "")
            troff_names(names "${pending_names}")
            troff_text(entry "${pending_text}")
            string(APPEND text ".TP\n${names}\n${entry}\n")
            set(pending_names "")
            set(pending_text "")
        endif()
        if(line MATCHES "^  ([^ ].*[^ ])   *([^ ].*)$")
            set(pending_names "${CMAKE_MATCH_1}")
            set(pending_text "${CMAKE_MATCH_2}")
        elseif(line MATCHES "^  ([^ ].*)$")
            set(pending_names "${CMAKE_MATCH_1}")
        elseif(line MATCHES "^([A-Za-z]+):$")
            string(APPEND text ".PP\n\\fI${CMAKE_MATCH_1}:\\fR\n")
        elseif(line MATCHES "^Usage: (.*)$")
            troff_text(usage "${CMAKE_MATCH_1}")
            string(APPEND text ".PP\n\\fB${usage}\\fR\n")
        elseif(NOT line STREQUAL "")
            troff_text(line "${line}")
            string(APPEND description "${line}\n")
        endif()
    endforeach()
    set(${out} "${description}${text}" PARENT_SCOPE)
endfunction()

help_of(main_help)
# The commands, from the top-level help's "Subcommands:" list.
string(REGEX REPLACE ".*\nSubcommands:\n" "" subcommands "${main_help}")
string(REPLACE "\n" ";" subcommand_lines "${subcommands}")
set(commands "")
foreach(line IN LISTS subcommand_lines)
    if(line MATCHES "^  ([a-z]+) ")
        list(APPEND commands "${CMAKE_MATCH_1}")
    endif()
endforeach()
if(NOT commands)
    message(FATAL_ERROR "no commands in `${SAMPLER} --help`")
endif()

set(page ".TH SAMPLER 1 \"\" \"sampler ${VERSION}\" \"User Commands\"\n")
string(APPEND page ".SH NAME\nsampler \\- a sampling profiler that attaches to a running process by PID\n")
string(APPEND page ".SH SYNOPSIS\n")
foreach(command IN LISTS commands)
    string(APPEND page ".B sampler ${command}\n[\\fIOPTIONS\\fR]\n.br\n")
endforeach()
string(APPEND page ".B sampler \\-\\-version\n")
string(APPEND page ".SH DESCRIPTION\n"
    "sampler samples the stacks of a running process, native (C, C++) and Python (CPython 2.7 to "
    "3.13), without restarting it, and shows where its time goes: live (\\fBtop\\fR), as a flame "
    "graph or another profile format (\\fBrecord\\fR), or once (\\fBdump\\fR). It needs the rights "
    "to trace the target: root (CAP_SYS_PTRACE), or the target's user with "
    "kernel.yama.ptrace_scope 0; perf events (the default capture engine) also need "
    "kernel.perf_event_paranoid 2 or less, or CAP_PERFMON.\n")
string(APPEND page ".SH COMMANDS\n")
foreach(command IN LISTS commands)
    help_of(command_help ${command})
    command_section(section "${command_help}")
    string(APPEND page ".SS ${command}\n${section}")
endforeach()
string(APPEND page ".SH ENVIRONMENT\n.TP\n\\fBSAMPLER_CAPTURE\\fR\n"
    "The default of \\-\\-capture: auto, perf or ptrace.\n")
string(APPEND page ".SH EXIT STATUS\n"
    "A failure prints its reason on standard error.\n"
    ".TP\n0\nsuccess\n.TP\n2\na bad flag or value\n.TP\n3\nno such process\n"
    ".TP\n4\nno permission to trace or read the target\n"
    ".TP\n5\nthe target is already traced by another tool (a debugger)\n"
    ".TP\n6\nunsupported: an interpreter, a terminal, a capture engine the kernel refuses\n.TP\n7\nan input or output error\n"
    ".TP\n8\nan internal error\n.TP\n141\nthe reader of standard output went away\n"
    ".PP\nWith \\-\\- COMMAND (record, top), once the profile is written, the command's status: its "
    "exit code, or 128 + the signal that killed it; 0 when it runs on after sampling stopped.\n")
string(APPEND page ".SH SEE ALSO\n\\fBperf\\fR(1), \\fBptrace\\fR(2), \\fBperf_event_open\\fR(2); "
    "the README for how it works, containers and permissions, and benchmarks.\n")
file(WRITE "${OUT}" "${page}")
