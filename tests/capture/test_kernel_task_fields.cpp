// Where task_struct's pid and tgid are, found by name in a kernel's BTF: checked on BTF built
// here (plain members, members of an anonymous struct as a randomized layout has them, missing
// or odd ones) and on the running kernel's, where there is one.

#include "kernel_task_fields.hpp"
#include "python_walk_object.hpp"
#include "skips.hpp"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <catch2/catch.hpp>
#include <cerrno>
#include <memory>
#include <unistd.h>

namespace sampler {
namespace {

using Types = std::unique_ptr<btf, decltype(&btf__free)>;

Types empty_types() {
    Types types(btf__new_empty(), &btf__free);
    REQUIRE(types);
    return types;
}

} // namespace

TEST_CASE("kernel task fields: pid and tgid of task_struct, as members or inside an anonymous struct") {
    Types types = empty_types();
    const int int_type = btf__add_int(types.get(), "int", 4, BTF_INT_SIGNED);
    const int long_type = btf__add_int(types.get(), "long", 8, BTF_INT_SIGNED);
    REQUIRE(int_type > 0);
    REQUIRE(long_type > 0);
    // struct { long stack; int pid; int tgid; } at byte 64 of task_struct
    const int inner = btf__add_struct(types.get(), nullptr, 16);
    REQUIRE(inner > 0);
    REQUIRE(btf__add_field(types.get(), "stack_canary", long_type, 0, 0) == 0);
    REQUIRE(btf__add_field(types.get(), "pid", int_type, 64, 0) == 0);
    REQUIRE(btf__add_field(types.get(), "tgid", int_type, 96, 0) == 0);
    REQUIRE(btf__add_struct(types.get(), "task_struct", 128) > 0);
    REQUIRE(btf__add_field(types.get(), "flags", long_type, 0, 0) == 0);
    REQUIRE(btf__add_field(types.get(), "", inner, 512, 0) == 0);

    const std::optional<TaskFields> fields = find_task_fields(types.get());
    REQUIRE(fields);
    CHECK(fields->pid == 72);
    CHECK(fields->tgid == 76);
}

TEST_CASE("kernel task fields: none without task_struct, or with a pid that is not a 4-byte member") {
    SECTION("no task_struct") {
        Types types = empty_types();
        const int int_type = btf__add_int(types.get(), "int", 4, BTF_INT_SIGNED);
        REQUIRE(btf__add_struct(types.get(), "mm_struct", 8) > 0);
        REQUIRE(btf__add_field(types.get(), "pid", int_type, 0, 0) == 0);
        REQUIRE(btf__add_field(types.get(), "tgid", int_type, 32, 0) == 0);
        CHECK_FALSE(find_task_fields(types.get()));
    }
    SECTION("no tgid") {
        Types types = empty_types();
        const int int_type = btf__add_int(types.get(), "int", 4, BTF_INT_SIGNED);
        REQUIRE(btf__add_struct(types.get(), "task_struct", 8) > 0);
        REQUIRE(btf__add_field(types.get(), "pid", int_type, 0, 0) == 0);
        CHECK_FALSE(find_task_fields(types.get()));
    }
    SECTION("a pid of 8 bytes") {
        Types types = empty_types();
        const int int_type = btf__add_int(types.get(), "int", 4, BTF_INT_SIGNED);
        const int long_type = btf__add_int(types.get(), "long", 8, BTF_INT_SIGNED);
        REQUIRE(btf__add_struct(types.get(), "task_struct", 16) > 0);
        REQUIRE(btf__add_field(types.get(), "pid", long_type, 0, 0) == 0);
        REQUIRE(btf__add_field(types.get(), "tgid", int_type, 64, 0) == 0);
        CHECK_FALSE(find_task_fields(types.get()));
    }
    SECTION("no types at all") {
        CHECK_FALSE(find_task_fields(nullptr));
    }
}

TEST_CASE("kernel task fields: the running kernel's, from its BTF") {
    if (::access("/sys/kernel/btf/vmlinux", R_OK) != 0)
        testing::skip_test("this kernel has no BTF (/sys/kernel/btf/vmlinux)");
    const std::optional<TaskFields> fields = running_kernel_task_fields();
    REQUIRE(fields);
    // Declared one after the other (pid_t pid; pid_t tgid;) in every kernel since 2.6.
    CHECK(fields->tgid == fields->pid + 4);
    CHECK(fields->pid > 0);
}

TEST_CASE("kernel task fields: the walker's BPF object loads without the kernel's BTF (it has no CO-RE "
          "relocations)") {
    // Told to take a BTF file that does not exist in place of the kernel's: libbpf then fails
    // the load of an object with any CO-RE relocation (even of a program not loaded), as it
    // would on a kernel without BTF. The first fork follower read task_struct that way.
    bpf_object_open_opts options{};
    options.sz = sizeof options;
    options.btf_custom_path = "/nonexistent/vmlinux.btf";
    const std::unique_ptr<bpf_object, decltype(&bpf_object__close)> object(
        bpf_object__open_mem(embedded::python_walk_object, embedded::python_walk_object_size, &options),
        &bpf_object__close);
    REQUIRE(object);
    const int error = bpf_object__load(object.get());
    if (error == -EPERM)
        testing::skip_test("the kernel refused to load BPF programs here (not root?)");
    CHECK(error == 0);
}

} // namespace sampler
