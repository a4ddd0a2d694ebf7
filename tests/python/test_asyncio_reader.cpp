// The asyncio task reader's parts on synthetic memory: the containers tasks are kept in (sets,
// lists, tuples, ints), coroutine chains (awaits followed, cycles and over-long chains cut,
// garbage stopped at), running chains read off a thread's frames, and random memory fed to all
// of them. Live interpreters are tested in tests/integration/test_asyncio_tasks.cpp.

#include "asyncio_tasks.hpp"
#include "coroutine_chain.hpp"
#include "sampler/error.hpp"
#include "synthetic_python.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <random>

using namespace sampler;
using namespace sampler::python;
using namespace sampler::testing;

namespace {

std::uint64_t at(std::uint64_t base, int offset) {
    return base + static_cast<std::uint64_t>(offset);
}

// A heap with asyncio's objects of one version: types by name, sets, lists, ints, coroutines.
class SyntheticAsyncio {
  public:
    explicit SyntheticAsyncio(const AsyncioLayout& asyncio)
        : asyncio(asyncio), python(*layout_for(3, asyncio.minor)),
          containers(python.layout(), asyncio.containers) {}

    std::uint64_t type(const std::string& name) {
        const std::uint64_t type = python.alloc(400);
        const std::uint64_t text = python.alloc(name.size() + 1);
        python.memory().write(text, name.c_str(), name.size() + 1);
        python.memory().put(type + 24, text);
        return type;
    }
    std::uint64_t object(std::uint64_t type, std::size_t size) {
        const std::uint64_t object = python.alloc(size);
        python.memory().put(at(object, python.layout().ob_type), type);
        return object;
    }
    // A set of `slots` slots holding `keys` (a key of 0 leaves its slot empty); `deleted` slots
    // after them hold the dummy.
    std::uint64_t set(const std::vector<std::uint64_t>& keys, std::size_t slots, std::size_t deleted = 0) {
        const ContainerLayout& c = asyncio.containers;
        const std::uint64_t set = object(type("set"), 200);
        const std::uint64_t table = python.alloc(slots * 16);
        std::size_t used = 0;
        for (std::size_t i = 0; i < keys.size(); ++i) {
            python.memory().put(table + i * 16, keys[i]);
            python.memory().put(table + i * 16 + 8, std::int64_t{42});
            used += keys[i] != 0;
        }
        for (std::size_t i = keys.size(); i < keys.size() + deleted; ++i) {
            python.memory().put(table + i * 16, dummy);
            python.memory().put(table + i * 16 + 8, std::int64_t{-1});
        }
        python.memory().put(at(set, c.set_used), static_cast<std::int64_t>(used));
        python.memory().put(at(set, c.set_mask), static_cast<std::int64_t>(slots - 1));
        python.memory().put(at(set, c.set_table), table);
        return set;
    }
    std::uint64_t list(const std::vector<std::uint64_t>& items,
                       std::optional<std::int64_t> claimed_size = {}) {
        const ContainerLayout& c = asyncio.containers;
        const std::uint64_t list = object(type("list"), 64);
        const std::uint64_t array = python.alloc(std::max<std::size_t>(items.size(), 1) * 8);
        for (std::size_t i = 0; i < items.size(); ++i)
            python.memory().put(array + i * 8, items[i]);
        python.memory().put(at(list, c.var_size),
                            claimed_size.value_or(static_cast<std::int64_t>(items.size())));
        python.memory().put(at(list, c.list_items), array);
        return list;
    }
    // An int object whose size word is `size` and whose digits follow.
    std::uint64_t int_object(std::int64_t size, const std::vector<std::uint32_t>& digits) {
        const std::uint64_t number = object(type("int"), 64);
        python.memory().put(at(number, asyncio.containers.long_size), size);
        for (std::size_t i = 0; i < digits.size(); ++i)
            python.memory().put(at(number, asyncio.containers.long_digits) + 4 * i, digits[i]);
        return number;
    }

    const AsyncioLayout& asyncio;
    SyntheticPython python;
    ContainerReader containers;
    std::uint64_t dummy = python.alloc(16);
};

// Coroutines of 3.11+ (their frame inside the object), suspended in `await`, or running.
class SyntheticCoroutines : public SyntheticAsyncio {
  public:
    explicit SyntheticCoroutines(const AsyncioLayout& asyncio) : SyntheticAsyncio(asyncio) {
        // One line for the whole body; a YIELD_VALUE then a RESUME 3 (after an await).
        code = python.code("step", "app.py", 10, location_entry_one_line(0, 8), "Worker.step");
        const GeneratorFrameLayout& f = asyncio.frame;
        const std::uint8_t instructions[4] = {0, 0, static_cast<std::uint8_t>(std::max(f.resume_opcode, 0)),
                                              3};
        if (python.layout().code.code_adaptive != absent)
            python.memory().write(at(code, python.layout().code.code_adaptive), instructions,
                                  sizeof instructions);
    }

    // A coroutine suspended awaiting `awaited` (0: at a plain yield), or in state `state`.
    std::uint64_t coroutine(std::uint64_t awaited, int state = no_state) {
        const GeneratorLayout& g = asyncio.generator;
        const GeneratorFrameLayout& f = asyncio.frame;
        const InterpreterFrameLayout& frame_layout = python.layout().interp_frame;
        const std::uint64_t object = this->object(coroutine_type, static_cast<std::size_t>(g.iframe + 160));
        if (state == no_state)
            state = awaited != 0 && f.state_suspended_yield_from != no_state ? f.state_suspended_yield_from
                                                                             : f.state_suspended;
        python.memory().put(at(object, g.frame_state), static_cast<std::int8_t>(state));
        const std::uint64_t frame = at(object, g.iframe);
        python.memory().put(at(frame, frame_layout.code), code);
        python.memory().put(at(frame, frame_layout.instr), at(code, python.layout().code.code_adaptive));
        python.memory().put(at(frame, frame_layout.owner),
                            static_cast<std::uint8_t>(frame_layout.owner_generator));
        python.memory().put(at(frame, f.stack_count), std::int32_t{1});
        python.memory().put(at(frame, f.localsplus), awaited);
        return object;
    }
    std::uint64_t frame_of(std::uint64_t coroutine) const { return at(coroutine, asyncio.generator.iframe); }
    void link(std::uint64_t inner_frame, std::uint64_t outer_frame) {
        python.memory().put(at(inner_frame, python.layout().interp_frame.previous), outer_frame);
    }

    CoroutineChain suspended(std::uint64_t coroutine) {
        std::uint64_t errors = 0;
        return chains().suspended(python.memory(), coroutine, errors);
    }
    CoroutineChain running(std::uint64_t coroutine, std::uint64_t innermost) {
        std::uint64_t errors = 0;
        return chains().running(python.memory(), coroutine, innermost, errors);
    }
    CoroutineChains chains() {
        return CoroutineChains(asyncio, impl.objects, impl.walker, containers, names);
    }

    std::uint64_t coroutine_type = type("coroutine");
    std::uint64_t future_iter = object(type("_asyncio.FutureIter"), 32);
    std::uint64_t code = 0;
    PythonReader reader = python.reader();
    PythonReader::Impl& impl = reader.impl();
    TypeNames names;
};

std::vector<std::string> names_of(const CoroutineChain& chain) {
    std::vector<std::string> names;
    for (const PythonFrame& frame : chain.frames)
        names.push_back(frame.name + ":" + std::to_string(frame.line));
    return names;
}

} // namespace

TEST_CASE("asyncio sets: empty and deleted slots are skipped, impossible sizes refused",
          "[python][asyncio]") {
    SyntheticAsyncio heap(asyncio_layout_3_12());
    const ContainerReader& reader = heap.containers;
    FakeMemory& memory = heap.python.memory();
    const std::uint64_t set = heap.set({0x1000, 0, 0x2000}, 8, 2);
    CHECK(reader.set_items(memory, set) == std::vector<std::uint64_t>{0x1000, 0x2000});

    const int mask = asyncio_layout_3_12().containers.set_mask;
    const int used = asyncio_layout_3_12().containers.set_used;
    // A mask of a million slots: refused before anything is allocated or read.
    memory.put(at(set, mask), std::int64_t{(1 << 20) - 1});
    const std::size_t reads = memory.reads();
    CHECK_FALSE(reader.set_items(memory, set));
    CHECK(memory.reads() - reads <= 2);
    memory.put(at(set, mask), std::int64_t{11}); // not a power of two minus one
    CHECK_FALSE(reader.set_items(memory, set));
    memory.put(at(set, mask), std::int64_t{7});
    memory.put(at(set, used), std::int64_t{9}); // more used than slots
    CHECK_FALSE(reader.set_items(memory, set));
    CHECK_FALSE(reader.set_items(memory, 0x7000));
}

TEST_CASE("asyncio lists, tuples and ints: bounded, and both int layouts", "[python][asyncio]") {
    SyntheticAsyncio heap(asyncio_layout_3_11());
    FakeMemory& memory = heap.python.memory();
    CHECK(heap.containers.list_items(memory, heap.list({1, 2, 3})) == std::vector<std::uint64_t>{1, 2, 3});
    CHECK_FALSE(heap.containers.list_items(memory, heap.list({1}, 1 << 30)));
    CHECK_FALSE(heap.containers.list_items(memory, heap.list({1}, -1 - (1 << 20))));

    // 3.11: ob_size is the signed digit count; 30-bit digits, least significant first.
    const std::uint64_t ident = 0x7f12'3456'7890;
    const std::vector<std::uint32_t> digits{static_cast<std::uint32_t>(ident & 0x3fffffff),
                                            static_cast<std::uint32_t>(ident >> 30)};
    CHECK(heap.containers.small_int(memory, heap.int_object(2, digits)) == ident);
    CHECK(heap.containers.small_int(memory, heap.int_object(0, {})) == 0u);
    CHECK_FALSE(heap.containers.small_int(memory, heap.int_object(-2, digits)));
    CHECK_FALSE(heap.containers.small_int(memory, heap.int_object(7, digits)));
    CHECK_FALSE(heap.containers.small_int(memory, heap.int_object(1, {0x40000000})));       // not a digit
    CHECK_FALSE(heap.containers.small_int(memory, heap.int_object(3, {0, 0, 0x3fffffff}))); // >= 2**64

    // 3.12+: lv_tag = digits << 3 | sign (0 positive, 1 zero, 2 negative).
    SyntheticAsyncio tagged(asyncio_layout_3_12());
    FakeMemory& tagged_memory = tagged.python.memory();
    CHECK(tagged.containers.small_int(tagged_memory, tagged.int_object(2 << 3, digits)) == ident);
    CHECK(tagged.containers.small_int(tagged_memory, tagged.int_object(1, {})) == 0u);
    CHECK_FALSE(tagged.containers.small_int(tagged_memory, tagged.int_object((2 << 3) | 2, digits)));
}

TEST_CASE("asyncio coroutine chains: awaits followed to the future, innermost first", "[python][asyncio]") {
    for (const AsyncioLayout* layout : {&asyncio_layout_3_12(), &asyncio_layout_3_13()}) {
        DYNAMIC_SECTION(layout->name()) {
            SyntheticCoroutines heap(*layout);
            const std::uint64_t inner = heap.coroutine(heap.future_iter);
            const std::uint64_t outer = heap.coroutine(inner);
            CoroutineChain chain = heap.suspended(outer);
            CHECK(names_of(chain) == std::vector<std::string>{"Worker.step:10", "Worker.step:10"});
            CHECK_FALSE(chain.truncated);
            // At a plain yield (not in an await): the chain ends there.
            CHECK(heap.suspended(heap.coroutine(0)).frames.size() == 1);
            // Finished: no frame.
            CHECK(heap.suspended(heap.coroutine(inner, layout->frame.state_completed)).frames.empty());
        }
    }
}

TEST_CASE("asyncio coroutine chains: cycles and over-long chains are cut, garbage ends them",
          "[python][asyncio]") {
    SyntheticCoroutines heap(asyncio_layout_3_12());
    FakeMemory& memory = heap.python.memory();
    const std::uint64_t first = heap.coroutine(0);
    const std::uint64_t second = heap.coroutine(first);
    memory.put(at(heap.frame_of(first), asyncio_layout_3_12().frame.localsplus),
               second); // first awaits second
    CoroutineChain cycle = heap.suspended(first);
    CHECK(cycle.frames.size() == 2);
    CHECK(cycle.truncated);

    std::uint64_t chain_start = heap.future_iter;
    for (std::size_t i = 0; i < max_chain_length + 40; ++i)
        chain_start = heap.coroutine(chain_start);
    CoroutineChain longest = heap.suspended(chain_start);
    CHECK(longest.frames.size() == max_chain_length);
    CHECK(longest.truncated);

    // A stack depth past any real one, an awaited pointer into nowhere: the chain ends.
    const std::uint64_t deep = heap.coroutine(heap.future_iter);
    memory.put(at(heap.frame_of(deep), asyncio_layout_3_12().frame.stack_count), std::int32_t{1 << 20});
    CHECK(heap.suspended(deep).frames.size() == 1);
    CHECK(heap.suspended(heap.coroutine(0x7fff'dead'0000)).frames.size() == 1);
    CHECK(heap.suspended(heap.coroutine(0x10)).frames.size() == 1);
    // An unreadable frame: nothing shown, and said so.
    memory.put(at(heap.frame_of(first), heap.python.layout().interp_frame.code), std::uint64_t{0x10});
    CoroutineChain bad_code = heap.suspended(first);
    CHECK(bad_code.frames.empty());
    CHECK(bad_code.truncated);
}

TEST_CASE("asyncio running chains: the coroutine frames on the thread's stack, up to the task's",
          "[python][asyncio]") {
    SyntheticCoroutines heap(asyncio_layout_3_12());
    const int executing = asyncio_layout_3_12().frame.state_executing;
    const std::uint64_t outer = heap.coroutine(0, executing);
    const std::uint64_t inner = heap.coroutine(0, executing);
    const std::uint64_t caller = heap.python.interpreter_frame(heap.code, 0, 0); // the loop's frames
    const std::uint64_t leaf =
        heap.python.interpreter_frame(heap.code, heap.frame_of(inner), 0); // a plain call
    heap.link(heap.frame_of(inner), heap.frame_of(outer));
    heap.link(heap.frame_of(outer), caller);
    CHECK(heap.chains().executing(heap.python.memory(), outer));
    CoroutineChain chain = heap.running(outer, leaf);
    CHECK(chain.frames.size() == 2); // inner, outer: not the plain call, not the loop
    CHECK_FALSE(chain.truncated);
    // The task's frame is not on that stack: its own frame alone, marked.
    CoroutineChain elsewhere = heap.running(outer, caller);
    CHECK(elsewhere.frames.size() == 1);
    CHECK(elsewhere.truncated);
    // A stack that loops: bounded.
    heap.link(caller, leaf);
    CHECK(heap.running(heap.coroutine(0, executing), leaf).frames.size() <= max_chain_length);
}

TEST_CASE("asyncio readers fed random memory end, bounded", "[python][asyncio][fuzz]") {
    for (const AsyncioLayout* layout : {&asyncio_layout_3_8(), &asyncio_layout_3_10(), &asyncio_layout_3_11(),
                                        &asyncio_layout_3_12(), &asyncio_layout_3_13()}) {
        DYNAMIC_SECTION(layout->name()) {
            SyntheticCoroutines heap(*layout);
            FakeMemory& memory = heap.python.memory();
            std::mt19937_64 rng(1234 + static_cast<unsigned>(layout->minor));
            constexpr std::uint64_t base = 0x20000000;
            constexpr std::size_t size = 64 * 1024;
            memory.add_range(base, size);
            auto pointer = [&] { return base + (rng() % size & ~std::uint64_t{7}); };
            for (int round = 0; round < 200; ++round) {
                for (std::uint64_t word = base; word < base + size; word += 8)
                    memory.put(word, rng() % 3 ? pointer() : rng() % 3 ? rng() % 512 : rng());
                const std::uint64_t object = pointer();
                CHECK(heap.suspended(object).frames.size() <= max_chain_length);
                CHECK(heap.running(object, pointer()).frames.size() <= max_chain_length);
                if (auto items = heap.containers.set_items(memory, object))
                    CHECK(items->size() <= max_set_slots);
                if (auto items = heap.containers.list_items(memory, object))
                    CHECK(items->size() <= max_sequence_items);
                heap.containers.small_int(memory, object);
                CHECK(heap.names.name(memory, object).size() <= TypeNames::max_name);
            }
        }
    }
}

TEST_CASE("asyncio task reader: refuses CPython before 3.8, says when asyncio cannot be found",
          "[python][asyncio]") {
    SyntheticPython old(layout_3_7());
    PythonReader old_reader = old.reader();
    try {
        AsyncioTaskReader reader(old_reader);
        FAIL("a reader for CPython 3.7");
    } catch (const Error& error) {
        CHECK(error.kind() == ErrorKind::unsupported);
        CHECK(std::string(error.what()).find("CPython 3.8 to 3.13") != std::string::npos);
    }
    SyntheticPython current(layout_3_12());
    PythonReader current_reader = current.reader();
    AsyncioTaskReader reader(current_reader);
    std::string why;
    CHECK(reader.loops(current.memory(), &why).empty());
    CHECK(why == "sys.modules cannot be read");
}
