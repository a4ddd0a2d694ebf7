# Writes OUT, a header defining SAMPLER_GIT_REVISION: `git describe` of SOURCE_DIR, or "unknown"
# outside a git checkout. Run at every build, not at configure time (commits do not reconfigure);
# the file is rewritten only when the revision changed, so an unchanged tree rebuilds nothing.
execute_process(
    COMMAND git -C "${SOURCE_DIR}" describe --always --dirty --abbrev=12
    OUTPUT_VARIABLE revision
    OUTPUT_STRIP_TRAILING_WHITESPACE
    ERROR_QUIET
    RESULT_VARIABLE failed)
if(failed OR revision STREQUAL "")
    set(revision "unknown")
endif()
set(content "#pragma once\n#define SAMPLER_GIT_REVISION \"${revision}\"\n")
set(old "")
if(EXISTS "${OUT}")
    file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL content)
    file(WRITE "${OUT}" "${content}")
endif()
