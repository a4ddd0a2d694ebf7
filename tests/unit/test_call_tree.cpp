#include "sampler/call_tree.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <vector>

using namespace sampler;

namespace {
Frame named(const std::string& name) {
    return Frame{.kind = FrameKind::native, .name = name};
}
} // namespace

TEST_CASE("frame table interns equal frames once") {
    FrameTable table;
    FrameId a = table.intern(named("a"));
    FrameId b = table.intern(named("b"));
    CHECK(a != b);
    CHECK(table.intern(named("a")) == a);
    CHECK(table.size() == 2);
    CHECK(table.at(b).name == "b");
}

TEST_CASE("a frame looked up by reference finds the frame, and is copied in only when new") {
    FrameTable table;
    const Frame full{.kind = FrameKind::native,
                     .name = "a_rather_long_function_name_beyond_small_strings",
                     .file = "/src/project/module/file.cpp",
                     .line = 12,
                     .module = "libproject.so.1",
                     .address = 0x401000,
                     .module_offset = 0x1000,
                     .symbol_offset = 4,
                     .function_offset = 0xffc,
                     .function_file = "/src/project/module/file.hpp",
                     .function_line = 10,
                     .inlined = true};
    const FrameId id = table.intern(full);
    CHECK(table.intern(FrameRef::of(full)) == id);
    CHECK(FrameRef::of(full).to_frame() == full);
    // Each field tells frames apart, as Frame's own comparison does.
    std::vector<Frame> variants(12, full);
    variants[0].kind = FrameKind::python;
    variants[1].name += "x";
    variants[2].file += "x";
    variants[3].line += 1;
    variants[4].module += "x";
    variants[5].address += 1;
    variants[6].module_offset += 1;
    variants[7].symbol_offset += 1;
    variants[8].function_offset += 1;
    variants[9].function_file += "x";
    variants[10].function_line += 1;
    variants[11].inlined = false;
    std::vector<FrameId> ids;
    for (const Frame& variant : variants) {
        const FrameId variant_id = table.intern(FrameRef::of(variant));
        CHECK(variant_id != id);
        CHECK(table.at(variant_id) == variant);
        CHECK(table.intern(variant) == variant_id);
        ids.push_back(variant_id);
    }
    CHECK(table.size() == 13);
}

TEST_CASE("call tree counts totals and self samples along shared prefixes") {
    CallTree tree;
    std::vector<FrameId> main_a_leaf{0, 1, 3};
    std::vector<FrameId> main_b_leaf{0, 2, 3};
    tree.add(main_a_leaf, 3);
    tree.add(main_b_leaf, 1);
    tree.add(main_a_leaf, 2);
    CHECK(tree.total() == 6);
    REQUIRE(tree.children(CallTree::root_id).size() == 1);
    const CallTree::NodeId main_id = tree.child(CallTree::root_id, 0);
    REQUIRE(main_id != CallTree::no_node);
    const auto& main = tree.node(main_id);
    CHECK(main.total == 6);
    CHECK(main.self == 0);
    CHECK(tree.children(main_id).size() == 2);
    CHECK(tree.node(tree.child(main_id, 1)).total == 5);
    CHECK(tree.node(tree.child(main_id, 2)).total == 1);
    CHECK(tree.child(main_id, 3) == CallTree::no_node);
    // Distinct stacks, not samples, decide the size.
    CHECK(tree.node_count() == 1 + 1 + 2 + 2);
    for (int i = 0; i < 1000; ++i)
        tree.add(main_a_leaf);
    CHECK(tree.node_count() == 6);
}

TEST_CASE("adding along a previous stack's path gives the tree that plain adds give") {
    const std::vector<std::vector<FrameId>> stacks{{0, 1, 3}, {0, 1, 3}, {0, 1, 4, 5}, {0, 2},
                                                   {0},       {0, 1, 3}, {7}};
    CallTree plain, along;
    std::vector<CallTree::NodeId> path;
    std::vector<FrameId> last;
    for (const auto& stack : stacks) {
        const CallTree::NodeId plain_leaf = plain.add(stack, 2);
        const auto shared = std::mismatch(stack.begin(), stack.end(), last.begin(), last.end());
        const CallTree::NodeId leaf =
            along.add(stack, path, static_cast<std::size_t>(shared.first - stack.begin()), 2);
        CHECK(leaf == plain_leaf);
        CHECK(path.size() == stack.size());
        CHECK(along.stack_of(leaf) == stack);
        last = stack;
    }
    REQUIRE(along.node_count() == plain.node_count());
    for (CallTree::NodeId id = 0; id < plain.node_count(); ++id) {
        CHECK(along.node(id).total == plain.node(id).total);
        CHECK(along.node(id).self == plain.node(id).self);
        CHECK(along.node(id).parent == plain.node(id).parent);
    }
    // A claim of more shared frames than the path holds is cut to the path.
    std::vector<CallTree::NodeId> short_path;
    CHECK(along.add(stacks[0], short_path, 99) == plain.add(stacks[0]));
}

TEST_CASE("totals read between adds are the samples at and below each node") {
    // Totals are summed on demand: reading them, adding more and reading again must agree with
    // counting the samples under each node from scratch.
    CallTree tree;
    std::vector<CallTree::NodeId> path;
    std::vector<std::pair<std::vector<FrameId>, std::uint64_t>> added;
    const std::vector<std::vector<FrameId>> stacks{{0, 1, 2}, {0, 1}, {0, 3}, {}, {4, 1, 2}, {0, 1, 2, 5}};
    auto check_totals = [&] {
        std::uint64_t all = 0;
        for (const auto& [stack, count] : added)
            all += count;
        CHECK(tree.total() == all);
        for (CallTree::NodeId id = 1; id < tree.node_count(); ++id) {
            const std::vector<FrameId> prefix = tree.stack_of(id);
            std::uint64_t below = 0;
            for (const auto& [stack, count] : added)
                if (stack.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), stack.begin()))
                    below += count;
            CHECK(tree.node(id).total == below);
        }
    };
    for (std::size_t round = 0; round < 3; ++round) {
        for (std::size_t i = 0; i < stacks.size(); ++i) {
            const std::uint64_t count = 1 + (i + round) % 3;
            tree.add(stacks[i], path, 0, count);
            added.emplace_back(stacks[i], count);
            if (i % 2 == round % 2)
                check_totals();
        }
    }
    check_totals();
    CHECK(tree.node(CallTree::root_id).self == 3 + 1 + 2); // the empty stack's samples, at the root
}

TEST_CASE("for_each_stack visits each distinct stack with its self count") {
    CallTree tree;
    std::vector<FrameId> outer{5};
    std::vector<FrameId> inner{5, 6};
    tree.add(outer, 2);
    tree.add(inner, 7);
    std::map<std::vector<FrameId>, std::uint64_t> seen;
    tree.for_each_stack([&](std::span<const FrameId> stack, std::uint64_t count) {
        seen[std::vector<FrameId>(stack.begin(), stack.end())] += count;
    });
    CHECK(seen.size() == 2);
    CHECK(seen[outer] == 2);
    CHECK(seen[inner] == 7);
}

TEST_CASE("deep stacks do not overflow the walk") {
    CallTree tree;
    std::vector<FrameId> deep(100000);
    for (std::size_t i = 0; i < deep.size(); ++i)
        deep[i] = static_cast<FrameId>(i % 7);
    tree.add(deep);
    std::size_t depth = 0;
    tree.for_each_stack([&](std::span<const FrameId> stack, std::uint64_t) { depth = stack.size(); });
    CHECK(depth == deep.size());
}

TEST_CASE("the frame table keeps every frame's id through its growth") {
    FrameTable table;
    // Pairs that agree on every hashed field (name, file, line, offsets, kind) and differ in the
    // module: same hash, so they share a probe sequence and only the full comparison parts them.
    std::vector<Frame> frames;
    for (int i = 0; i < 3000; ++i) {
        Frame frame{.kind = FrameKind::native, .name = "f" + std::to_string(i / 2), .line = 7};
        frame.module = i % 2 ? "liba.so" : "libb.so";
        frames.push_back(frame);
    }
    std::vector<FrameId> ids;
    for (const Frame& frame : frames)
        ids.push_back(table.intern(frame));
    REQUIRE(table.size() == frames.size());
    for (std::size_t i = 0; i < frames.size(); ++i) {
        CHECK(ids[i] == i);
        CHECK(table.intern(FrameRef::of(frames[i])) == ids[i]);
        CHECK(table.at(ids[i]) == frames[i]);
    }
    CHECK(table.size() == frames.size());
}

TEST_CASE("a frame matches the id intern gives it and no other id") {
    FrameTable table;
    const Frame a{.kind = FrameKind::python, .name = "f", .file = "a.py", .line = 3};
    Frame b = a;
    b.line = 4;
    const FrameId id_a = table.intern(a);
    const FrameId id_b = table.intern(b);
    CHECK(table.matches(id_a, FrameRef::of(a)));
    CHECK_FALSE(table.matches(id_a, FrameRef::of(b)));
    CHECK(table.matches(id_b, FrameRef::of(b)));
    CHECK_FALSE(table.matches(id_b + 1, FrameRef::of(b))); // not in the table
}

TEST_CASE("the child index finds what it stored, through growth and colliding homes") {
    sampler::ChildIndex index;
    CHECK(index.find(5, 99) == 99); // empty: nothing found
    std::map<std::uint64_t, std::uint32_t> expected;
    // Keys as the call tree makes them (parent << 32 | frame), many with the same parent or the
    // same frame, enough to grow the table several times.
    for (std::uint64_t parent = 0; parent < 300; ++parent)
        for (std::uint64_t frame : {std::uint64_t{0}, parent, parent * 7 + 1, std::uint64_t{0xffffffff}}) {
            const std::uint64_t key = (parent << 32) | frame;
            const auto value = static_cast<std::uint32_t>(expected.size());
            const auto [stored, inserted] = index.find_or_insert(key, value);
            if (expected.contains(key)) {
                CHECK_FALSE(inserted);
                CHECK(stored == expected[key]);
            } else {
                CHECK(inserted);
                CHECK(stored == value);
                expected[key] = value;
            }
        }
    CHECK(index.size() == expected.size());
    for (const auto& [key, value] : expected)
        CHECK(index.find(key, ~0u) == value);
    CHECK(index.find((std::uint64_t{301} << 32) | 2, ~0u) == ~0u);
    // Storing a key again keeps the first value.
    CHECK(index.find_or_insert(expected.begin()->first, 12345).first == expected.begin()->second);
}
