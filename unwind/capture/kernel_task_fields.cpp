#include "kernel_task_fields.hpp"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <cstring>
#include <memory>

namespace sampler {
namespace {

// Looks for `name` among the members of struct or union `type`, and inside its anonymous ones
// (a bounded depth: BTF from the kernel is trusted, but a loop in it must not hang sampler).
std::optional<std::uint32_t> member_offset(const btf* types, const btf_type* type, const char* name,
                                           int depth) {
    if (depth > 4 || (!btf_is_struct(type) && !btf_is_union(type)))
        return std::nullopt;
    const btf_member* members = btf_members(type);
    for (std::uint32_t i = 0; i < btf_vlen(type); ++i) {
        const std::uint32_t bits = btf_member_bit_offset(type, static_cast<std::uint32_t>(i));
        const char* member_name = btf__name_by_offset(types, members[i].name_off);
        if (member_name && member_name[0] == '\0') {
            const btf_type* inner = btf__type_by_id(types, members[i].type);
            if (!inner)
                continue;
            if (auto found = member_offset(types, inner, name, depth + 1); found && bits % 8 == 0)
                return *found + bits / 8;
            continue;
        }
        if (!member_name || std::strcmp(member_name, name) != 0)
            continue;
        if (bits % 8 != 0 || btf_member_bitfield_size(type, i) != 0 ||
            btf__resolve_size(types, members[i].type) != 4)
            return std::nullopt;
        return bits / 8;
    }
    return std::nullopt;
}

} // namespace

std::optional<TaskFields> find_task_fields(const btf* types) {
    if (!types)
        return std::nullopt;
    const int id = btf__find_by_name_kind(types, "task_struct", BTF_KIND_STRUCT);
    const btf_type* task = id > 0 ? btf__type_by_id(types, static_cast<std::uint32_t>(id)) : nullptr;
    if (!task)
        return std::nullopt;
    const auto pid = member_offset(types, task, "pid", 0);
    const auto tgid = member_offset(types, task, "tgid", 0);
    if (!pid || !tgid)
        return std::nullopt;
    return TaskFields{*pid, *tgid};
}

std::optional<TaskFields> running_kernel_task_fields() {
    const std::unique_ptr<btf, decltype(&btf__free)> types(btf__load_vmlinux_btf(), &btf__free);
    if (!types || libbpf_get_error(types.get()) != 0)
        return std::nullopt;
    return find_task_fields(types.get());
}

} // namespace sampler
