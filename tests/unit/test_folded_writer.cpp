#include "folded_writer.hpp"

#include <catch2/catch.hpp>

using namespace sampler;

namespace {
FrameId add_frame(Profile& profile, const std::string& name) {
    return profile.intern(Frame{.kind = FrameKind::native, .name = name});
}
} // namespace

TEST_CASE("folded output: one sorted line per stack, outermost first, count last") {
    Profile profile;
    FrameId main = add_frame(profile, "main");
    FrameId heavy = add_frame(profile, "heavy");
    FrameId light = add_frame(profile, "light");
    FrameId leaf = add_frame(profile, "leaf");
    std::vector<FrameId> a{main, heavy, leaf}, b{main, light, leaf}, c{main};
    profile.tree.add(a, 30);
    profile.tree.add(b, 10);
    profile.tree.add(c, 1);
    CHECK(render_folded(profile) == "main 1\nmain;heavy;leaf 30\nmain;light;leaf 10\n");
}

TEST_CASE("folded output keeps fields parseable") {
    Profile profile;
    FrameId odd = add_frame(profile, "operator;weird\nname with spaces");
    std::vector<FrameId> stack{odd};
    profile.tree.add(stack, 4);
    CHECK(render_folded(profile) == "operator:weird name with spaces 4\n");
}

TEST_CASE("an empty profile folds to nothing") {
    Profile profile;
    CHECK(render_folded(profile).empty());
}
