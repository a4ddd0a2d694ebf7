#include "capabilities.hpp"

#include <cstdlib>
#include <fstream>

namespace sampler {
namespace {

// By number, as in <linux/capability.h>.
constexpr const char* names[] = {
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
};

} // namespace

std::uint64_t capability_set(const std::string& process, const std::string& field) {
    std::ifstream status("/proc/" + process + "/status");
    const std::string prefix = field + ":";
    std::string line;
    while (std::getline(status, line))
        if (line.rfind(prefix, 0) == 0)
            return std::strtoull(line.c_str() + prefix.size(), nullptr, 16);
    return 0;
}

std::string capability_names(std::uint64_t set) {
    std::string text;
    for (unsigned bit = 0; bit < 64; ++bit) {
        if (!((set >> bit) & 1))
            continue;
        if (!text.empty())
            text += ", ";
        text +=
            bit < std::size(names) ? std::string("CAP_") + names[bit] : "capability " + std::to_string(bit);
    }
    return text;
}

} // namespace sampler
