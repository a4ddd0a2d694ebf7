// Fuzz harness: the Python stack reader on memory the input describes. The first byte picks a
// CPython layout (2.7 to 3.13), the second what detection is said to have found; the rest fills
// two regions of target memory, where the interpreter entry point and the GIL word lie. Every walk
// the reader makes (interpreters, threads, frames, code objects, line tables, thread names, the
// GIL) must end, within its bounds, without a crash or an exception.

#include "fake_memory.hpp"
#include "python_layout.hpp"
#include "python_reader.hpp"
#include "python_reader_impl.hpp"
#include "python_target.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

using namespace sampler;
using namespace sampler::python;

namespace {

constexpr std::uint64_t region_a = 0x10000000, region_b = 0x20000000;
constexpr std::size_t region_size = 16 * 1024;

const std::array<const PythonLayout*, 9> layouts{&layout_2_7(),  &layout_3_6(),  &layout_3_7(),
                                                 &layout_3_8(),  &layout_3_9(),  &layout_3_10(),
                                                 &layout_3_11(), &layout_3_12(), &layout_3_13()};

// A bound the reader promises: breaking it is a bug, reported as a crash.
void require(bool holds) {
    if (!holds)
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 8)
        return 0;
    const PythonLayout& layout = *layouts[data[0] % layouts.size()];
    const std::uint8_t found = data[1];
    std::uint16_t entry_offset = 0, gil_offset = 0;
    std::memcpy(&entry_offset, data + 2, 2);
    std::memcpy(&gil_offset, data + 4, 2);
    data += 8;
    size -= 8;

    testing::FakeMemory memory;
    // Region A holds the first bytes, region B the next; both are whole regions, zero-padded.
    auto& a = memory.add_range(region_a, region_size);
    auto& b = memory.add_range(region_b, region_size);
    std::size_t in_a = std::min(size, region_size);
    std::memcpy(a.data(), data, in_a);
    std::memcpy(b.data(), data + in_a, std::min(size - in_a, region_size));

    PythonTarget target;
    target.layout = layout;
    target.version = layout.name();
    target.entry_address = region_a + (entry_offset % region_size & ~std::size_t{7});
    target.gil_current_address = found & 1 ? region_b + (gil_offset % region_size & ~std::size_t{7}) : 0;
    if (found & 2) // the type objects, as detection finds them in the interpreter's symbols
        target.types = {region_b, region_b + 0x400, region_b + 0x800, region_b + 0xc00};
    PythonReader reader(std::make_unique<PythonReader::Impl>(target));

    std::uint64_t errors = 0;
    auto threads = reader.read_threads(memory, &errors);
    require(threads.size() <= PythonReader::max_threads);
    std::size_t frames = 0;
    for (const PythonThread& thread : threads) {
        require(thread.frames.size() <= PythonReader::max_depth + 1);
        frames += thread.frames.size();
    }
    require(frames <= PythonReader::max_total_frames + threads.size());
    if (!threads.empty())
        (void)reader.read_thread(memory, threads.front().tid, &errors);
    (void)reader.gil_holder_tid(memory);
    (void)reader.thread_names(memory);
    PythonThread walked;
    reader.impl().walker.walk(memory, region_a + (gil_offset % region_size & ~std::size_t{7}), walked,
                              errors);
    require(walked.frames.size() <= PythonReader::max_depth + 1);
    return 0;
}
