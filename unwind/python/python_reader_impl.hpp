#pragma once
// The state behind PythonReader: the detected target plus the caches and walkers built on it.
// Heap-allocated once, so the walkers' references into it stay valid when the reader moves.

#include "code_cache.hpp"
#include "frame_walker.hpp"
#include "interpreter_state.hpp"
#include "kernel_copy_memory.hpp"
#include "python_reader.hpp"
#include "python_target.hpp"
#include "thread_names.hpp"

#include <unordered_map>

namespace sampler {

struct PythonReader::Impl {
    explicit Impl(python::PythonTarget found)
        : target(std::move(found)), objects(target.layout, target.types), codes(objects),
          walker(objects, codes), names(objects), tids(target.pid) {}
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    python::PythonTarget target;
    python::ObjectReader objects;
    python::CodeCache codes;
    python::FrameWalker walker;
    python::ThreadNameReader names;
    NamespaceTids tids; // the target's thread ids -> ours
    // tid -> the thread state last found for it (read_running_thread): checked on each use.
    std::unordered_map<int, python::ThreadStateFields> state_by_tid;
    // Scratch space of read_running_thread's check, kept to spare an allocation per sample.
    std::vector<std::uint64_t> unchecked_codes;
    std::vector<RemoteMemory::Piece> check_pieces;
    PythonThread spare_thread; // see recycle(): its spare_frames
    // An empty PythonThread holding the spare frames recycle() kept, and the room for frames.
    PythonThread take_spare_thread() {
        PythonThread thread;
        thread.frames = std::move(spare_thread.frames);
        thread.frames.clear();
        thread.spare_frames = std::move(spare_thread.spare_frames);
        return thread;
    }
    python::KernelCopyMemory kernel_copy; // read_kernel_walk's view of a record
    std::vector<std::uint8_t> identity_bytes;
    // first_check_pieces: what was planned for which thread, and where the values land.
    struct PlannedCheck {
        int tid = 0; // 0: nothing planned
        std::vector<RemoteMemory::Piece> pieces;
        // First, the identity bytes of the code objects the thread's last walk took from the
        // cache (sorted addresses; CodeCache::identity_range() at each, one after another).
        std::vector<std::uint64_t> code_addresses;
        std::vector<std::uint8_t> code_identities;
        std::uint64_t frame_word_at = 0; // the thread state's frame/cframe word
        std::uint64_t frame_word = 0;
        std::uint64_t cframe_word_at = 0; // 3.11/3.12: cframe->current_frame; 0: not planned
        std::uint64_t cframe_word = 0;
        std::uint64_t page_at = 0; // the page of the last innermost frame's code word; 0: none
        std::vector<std::uint8_t> page;
        bool gil = false; // the GIL words follow
        std::uint64_t gil_holder = 0;
        std::int32_t gil_locked = 0;
    };
    PlannedCheck planned;
    // tid -> the innermost frame its last running read found.
    std::unordered_map<int, std::uint64_t> innermost_by_tid;
    // tid -> the code objects its recent running reads took from the cache, by address, with
    // how many of its reads since have not (see remember_codes).
    struct PlannedCode {
        std::uint64_t address = 0;
        unsigned walks_unused = 0;
    };
    std::unordered_map<int, std::vector<PlannedCode>> codes_by_tid;
    // The main interpreter's GIL words (read_running_thread), once found.
    std::optional<python::GilWords> gil_words;
    unsigned gil_word_lookups = 0;
};

// Learns every thread state's OS thread (state_by_tid) from one scan of the interpreters'
// thread lists; `found` (optional) gets the threads this scan found.
void scan_thread_states(PythonReader::Impl& impl, const RemoteMemory& memory,
                        std::vector<int>* found = nullptr);

// The main interpreter's GIL words, found once (looked for again now and then while missing).
std::optional<python::GilWords>& main_gil_words(PythonReader::Impl& impl, const RemoteMemory& memory);

} // namespace sampler
