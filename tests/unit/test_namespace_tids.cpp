#include "namespace_tids.hpp"

#include <catch2/catch.hpp>
#include <unistd.h>

using sampler::NamespaceTids;

TEST_CASE("NSpid lines list a thread's ids from ours down to its own namespace's", "[namespaces]") {
    CHECK(NamespaceTids::parse_nspid("Name:\tpython3\nTgid:\t812\nNSpid:\t812\t1\nNSpgid:\t1\n") ==
          std::vector<int>{812, 1});
    CHECK(NamespaceTids::parse_nspid("NSpid:\t5\t4\t3\n") == std::vector<int>{5, 4, 3});
    CHECK(NamespaceTids::parse_nspid("Name:\tx\nNSpid:\t42\n") == std::vector<int>{42});
    // Older kernels have no such line; a malformed one is no map at all.
    CHECK(NamespaceTids::parse_nspid("Name:\tx\nPid:\t42\n").empty());
    CHECK(NamespaceTids::parse_nspid("NSpid:\t42\tx\n").empty());
    CHECK(NamespaceTids::parse_nspid("NSpid:\t-1\n").empty());
}

TEST_CASE("a process in our own PID namespace keeps its thread ids", "[namespaces]") {
    NamespaceTids ours(::getpid());
    CHECK_FALSE(ours.nested());
    CHECK(ours.host_tid(::gettid()) == ::gettid());
    NamespaceTids synthetic(0); // no process: tests on synthetic memory
    CHECK_FALSE(synthetic.nested());
    CHECK(synthetic.host_tid(7) == 7);
}
