#pragma once
// Offsets and constants measured with gdb against a binary's DWARF, for the tests that check our
// layout tables: each field is a C expression gdb evaluates to an int, and the value our table
// has for it.

#include <string>
#include <vector>

namespace sampler::testing {

struct DwarfField {
    std::string expression; // a C expression gdb evaluates to an int
    int expected;           // from our table
};

// "&((TYPE*)0)->MEMBER": offsetof() as gdb evaluates it.
std::string offset_of(const std::string& type, const std::string& member);

bool have_gdb();

// Evaluates every field with gdb on `binary` and CHECKs each against its expected value (one gdb
// run); `what` names the binary in the messages.
void check_fields_with_gdb(const std::string& binary, const std::vector<DwarfField>& fields,
                           const std::string& what);

} // namespace sampler::testing
