#include "pause_histogram.hpp"
#include "proc_threads.hpp"
#include "profile_builder.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <span>

using namespace sampler;

TEST_CASE("native frames aggregate by function, unknown ones by module offset") {
    Frame line_a{.kind = FrameKind::native,
                 .name = "burn",
                 .file = "w.cpp",
                 .line = 3,
                 .module = "w",
                 .address = 0x1234,
                 .module_offset = 0x234,
                 .symbol_offset = 4};
    Frame line_b = line_a;
    line_b.line = 9;
    line_b.address = 0x1250;
    line_b.inlined = true;
    CHECK(aggregation_key(line_a) == aggregation_key(line_b));
    CHECK(aggregate_label(aggregation_key(line_a)) == "burn");

    Frame unknown_a{.module = "lib.so", .address = 0x7000, .module_offset = 0x10};
    Frame unknown_b{.module = "lib.so", .address = 0x7008, .module_offset = 0x18};
    CHECK_FALSE(aggregation_key(unknown_a) == aggregation_key(unknown_b));
    CHECK(aggregate_label(aggregation_key(unknown_a)) == "lib.so+0x10");

    Frame python{.kind = FrameKind::python, .name = "handler", .file = "app.py", .line = 12};
    CHECK(aggregate_label(aggregation_key(python)) == "handler (app.py:12)");
}

TEST_CASE("the profile builder adds stacks outermost first, with optional thread roots") {
    Profile profile;
    ThreadInfo thread{.tid = 42, .name = "worker", .state = 'R'};
    std::vector<Frame> innermost_first{Frame{.kind = FrameKind::native, .name = "leaf"},
                                       Frame{.kind = FrameKind::native, .name = "main"}};
    ProfileBuilder plain(profile, {});
    plain.add_stack(thread, innermost_first);
    ProfileBuilder rooted(profile, {.thread_roots = true});
    rooted.add_stack(thread, innermost_first);
    CHECK(profile.tree.total() == 2);
    REQUIRE(profile.tree.children(CallTree::root_id).size() == 2);
    std::vector<std::string> outermost;
    for (const CallTree::NodeId node : profile.tree.children(CallTree::root_id))
        outermost.push_back(profile.frames.at(profile.tree.node(node).frame).name);
    std::sort(outermost.begin(), outermost.end());
    CHECK(outermost == std::vector<std::string>{"main", "thread 42 (worker)"});
}

TEST_CASE("pause percentiles come from a fixed-size histogram") {
    PauseHistogram pauses;
    CHECK(pauses.percentile_micros(0.5) == 0);
    for (int i = 1; i <= 100; ++i)
        pauses.add(std::uint64_t(i) * 1000);
    CHECK(pauses.count() == 100);
    CHECK(pauses.percentile_micros(0.5) == 50);
    CHECK(pauses.percentile_micros(0.99) == 99);
    CHECK(pauses.percentile_micros(1.0) == 100);
    pauses.add(60'000'000'000); // a minute: beyond the buckets, still counted
    CHECK(pauses.max_micros() == 60'000'000);
    CHECK(pauses.percentile_micros(1.0) == 60'000'000);
}

TEST_CASE("the state letter is read after the last parenthesis of the name") {
    CHECK(parse_stat_state("123 (a) b) c) S 1 2 3") == 'S');
    CHECK(parse_stat_state("123 (workload) R 1") == 'R');
    CHECK(parse_stat_state("garbage") == '?');
    CHECK(parse_stat_state("") == '?');
}

TEST_CASE("the profile builder interns Python frames by their key, whatever else they carry") {
    Profile profile;
    ThreadInfo thread{.tid = 7, .name = "main", .state = 'R'};
    Frame plain{
        .kind = FrameKind::python, .name = "handler", .file = "app.py", .line = 12, .function_line = 10};
    Frame with_more = plain; // fields the key drops: the same frame in the profile
    with_more.module = "libpython3.12.so";
    with_more.address = 0x1234;
    ProfileBuilder builder(profile, {});
    builder.add_stack(thread, {plain});
    builder.add_stack(thread, {with_more});
    REQUIRE(profile.frames.size() == 1);
    CHECK(profile.frames.at(0) == aggregation_key(plain));
    CHECK(profile.tree.children(CallTree::root_id).size() == 1);
}

TEST_CASE("the profile builder counts interleaved threads' stacks as they were, shared roots or not") {
    Profile profile;
    ProfileBuilder builder(profile, {});
    auto frame = [](const char* name) {
        return Frame{.kind = FrameKind::native, .name = name, .module = "m"};
    };
    const ThreadInfo one{.tid = 1, .name = "one", .state = 'R'};
    const ThreadInfo two{.tid = 2, .name = "two", .state = 'R'};
    // Innermost first; each thread moves between stacks that share their outer frames.
    const std::vector<std::pair<const ThreadInfo*, std::vector<Frame>>> samples{
        {&one, {frame("a"), frame("work"), frame("main")}},
        {&two, {frame("b"), frame("work"), frame("main")}},
        {&one, {frame("a"), frame("work"), frame("main")}},
        {&one, {frame("c"), frame("main")}},
        {&two, {frame("main")}},
        {&one, {frame("a"), frame("work"), frame("main")}},
        {&two, {frame("b"), frame("work"), frame("other_root")}},
    };
    for (const auto& [thread, stack] : samples)
        builder.add_stack(*thread, stack);
    std::map<std::string, std::uint64_t> folded;
    profile.tree.for_each_stack([&](std::span<const FrameId> stack, std::uint64_t count) {
        std::string line;
        for (FrameId id : stack)
            line += (line.empty() ? "" : ";") + profile.frames.at(id).name;
        folded[line] += count;
    });
    CHECK(folded ==
          std::map<std::string, std::uint64_t>{
              {"main;work;a", 3}, {"main;work;b", 1}, {"main;c", 1}, {"main", 1}, {"other_root;work;b", 1}});
    CHECK(profile.tree.total() == 7);
}

TEST_CASE("the profile builder reuses a thread's last frames only where they are equal") {
    Profile profile;
    ProfileBuilder builder(profile, {.thread_roots = true});
    const ThreadInfo thread{.tid = 3, .name = "w", .state = 'R'};
    auto python = [](const char* name, std::uint32_t line) {
        return Frame{.kind = FrameKind::python, .name = name, .file = "app.py", .line = line};
    };
    // Innermost first. The second stack differs from the first in the middle (another line of
    // `handle`), and has the first's leaf under it: the same frame, found by lookup.
    builder.add_stack(thread, {python("leaf", 3), python("handle", 10), python("main", 1)});
    builder.add_stack(thread, {python("leaf", 3), python("handle", 11), python("main", 1)});
    builder.add_stack(thread, {python("leaf", 4), python("handle", 11), python("main", 1)});
    builder.add_stack(thread, {python("handle", 11), python("main", 1)});
    // thread root, main, handle:10, handle:11, leaf:3, leaf:4: each once in the table.
    CHECK(profile.frames.size() == 6);
    std::map<std::string, std::uint64_t> folded;
    profile.tree.for_each_stack([&](std::span<const FrameId> stack, std::uint64_t count) {
        std::string line;
        for (FrameId id : stack.subspan(1))
            line += (line.empty() ? "" : ";") + profile.frames.at(id).name + ":" +
                    std::to_string(profile.frames.at(id).line);
        folded[line] += count;
    });
    CHECK(folded == std::map<std::string, std::uint64_t>{{"main:1;handle:10;leaf:3", 1},
                                                         {"main:1;handle:11;leaf:3", 1},
                                                         {"main:1;handle:11;leaf:4", 1},
                                                         {"main:1;handle:11", 1}});
}
