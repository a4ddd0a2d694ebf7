#include "dwarf_fields.hpp"

#include "child_process.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <sstream>

namespace sampler::testing {

std::string offset_of(const std::string& type, const std::string& member) {
    return "&((" + type + "*)0)->" + member;
}

bool have_gdb() {
    return std::filesystem::exists("/usr/bin/gdb") || std::filesystem::exists("/usr/local/bin/gdb");
}

void check_fields_with_gdb(const std::string& binary, const std::vector<DwarfField>& fields,
                           const std::string& what) {
    std::vector<std::string> argv{"/usr/bin/gdb", "-batch", "-nx"};
    for (std::size_t i = 0; i < fields.size(); ++i) {
        argv.push_back("-ex");
        argv.push_back("printf \"field" + std::to_string(i) + "=%d\\n\", (int)(" + fields[i].expression +
                       ")");
    }
    argv.push_back(binary);
    RunResult result = run_command(argv, std::chrono::seconds(60), true);
    std::map<std::size_t, int> measured;
    std::istringstream in(result.out);
    std::string line;
    while (std::getline(in, line)) {
        std::size_t equals = line.find('=');
        if (line.rfind("field", 0) == 0 && equals != std::string::npos)
            measured[std::stoul(line.substr(5, equals - 5))] = std::stoi(line.substr(equals + 1));
    }
    INFO(what << " (" << binary << ")\ngdb said:\n" << result.out);
    for (std::size_t i = 0; i < fields.size(); ++i) {
        INFO(fields[i].expression);
        REQUIRE(measured.count(i) == 1);
        CHECK(measured[i] == fields[i].expected);
    }
}

} // namespace sampler::testing
