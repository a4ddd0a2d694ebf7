#include "synthetic_python.hpp"

#include "text_encoding.hpp"

#include <algorithm>
#include <stdexcept>

namespace sampler::testing {

using python::absent;

SyntheticPython::SyntheticPython(const python::PythonLayout& layout, std::size_t heap_size)
    : layout_(layout), heap_size_(heap_size) {
    memory_.add_range(heap_start, heap_size);
    types_.code = alloc(64);
    types_.frame = layout.frames == python::FrameModel::frame_object ? alloc(64) : 0;
    types_.str = alloc(64);
    types_.bytes = layout.strings.py2_bytes ? types_.str : alloc(64);
    interp_ = alloc(static_cast<std::size_t>(std::max({layout.interp.threads_head, layout.interp.next,
                                                       layout.interp.gil_pointer, layout.interp.modules}) +
                                             64));
    if (layout.entry == python::EntryModel::interp_head) {
        entry_ = alloc(8);
        memory_.put(entry_, interp_);
        gil_current_ = alloc(8);
    } else {
        entry_ = alloc(static_cast<std::size_t>(
            std::max(layout.runtime.interpreters_head, layout.runtime.tstate_current) + 64));
        memory_.put(entry_ + static_cast<std::uint64_t>(layout.runtime.interpreters_head), interp_);
        memory_.put(entry_ + static_cast<std::uint64_t>(layout.runtime.interpreters_head) + 8, interp_);
    }
    if (layout.interp.gil_pointer != absent) {
        gil_ = alloc(64);
        memory_.put(interp_ + static_cast<std::uint64_t>(layout.interp.gil_pointer), gil_);
    }
}

std::uint64_t SyntheticPython::alloc(std::size_t size) {
    std::uint64_t address = next_;
    next_ += (size + 15) & ~std::size_t{15};
    if (next_ > heap_start + heap_size_)
        throw std::logic_error("synthetic heap exhausted");
    return address;
}

std::uint64_t SyntheticPython::str(const std::string& utf8) {
    // Test inputs are well-formed UTF-8.
    std::u32string text;
    for (std::size_t i = 0; i < utf8.size();) {
        auto byte = static_cast<unsigned char>(utf8[i]);
        int length = byte < 0x80 ? 1 : byte < 0xe0 ? 2 : byte < 0xf0 ? 3 : 4;
        char32_t c = length == 1 ? byte : byte & (0x7f >> length);
        for (int k = 1; k < length && i + static_cast<std::size_t>(k) < utf8.size(); ++k)
            c = (c << 6) | (static_cast<unsigned char>(utf8[i + static_cast<std::size_t>(k)]) & 0x3f);
        text += c;
        i += static_cast<std::size_t>(length);
    }
    return str(text);
}

std::uint64_t SyntheticPython::str(const std::u32string& text) {
    const python::StringLayout& s = layout_.strings;
    if (s.py2_bytes) {
        std::string utf8;
        for (char32_t c : text)
            python::append_utf8(utf8, c);
        return bytes(std::vector<std::uint8_t>(utf8.begin(), utf8.end()));
    }
    char32_t widest = 0;
    for (char32_t c : text)
        widest = std::max(widest, c);
    bool ascii = widest < 0x80;
    int kind = widest < 0x100 ? 1 : widest < 0x10000 ? 2 : 4;
    int data_offset = ascii ? s.unicode_ascii_data : s.unicode_compact_data;
    std::uint64_t object =
        alloc(static_cast<std::size_t>(data_offset) + (text.size() + 1) * static_cast<std::size_t>(kind));
    memory_.put(object + static_cast<std::uint64_t>(layout_.ob_type), types_.str);
    memory_.put(object + static_cast<std::uint64_t>(s.unicode_length),
                static_cast<std::int64_t>(text.size()));
    std::uint32_t state =
        (static_cast<std::uint32_t>(kind) << 2) | (1u << 5) | (ascii ? 1u << 6 : 0) | (1u << 7);
    memory_.put(object + static_cast<std::uint64_t>(s.unicode_state), state);
    for (std::size_t i = 0; i < text.size(); ++i) {
        std::uint32_t c = text[i];
        memory_.write(object + static_cast<std::uint64_t>(data_offset) + i * static_cast<std::size_t>(kind),
                      &c, static_cast<std::size_t>(kind));
    }
    return object;
}

std::uint64_t SyntheticPython::bytes(const std::vector<std::uint8_t>& data) {
    const python::StringLayout& s = layout_.strings;
    std::uint64_t object = alloc(static_cast<std::size_t>(s.bytes_data) + data.size() + 1);
    memory_.put(object + static_cast<std::uint64_t>(layout_.ob_type), types_.bytes);
    memory_.put(object + static_cast<std::uint64_t>(s.bytes_size), static_cast<std::int64_t>(data.size()));
    if (!data.empty())
        memory_.write(object + static_cast<std::uint64_t>(s.bytes_data), data.data(), data.size());
    return object;
}

std::uint64_t SyntheticPython::code(const std::string& name, const std::string& file, int first_line,
                                    const std::vector<std::uint8_t>& line_table,
                                    const std::string& qualname) {
    const python::CodeLayout& c = layout_.code;
    int size = std::max({c.firstlineno, c.filename, c.name, c.qualname, c.linetable, c.code_adaptive,
                         c.firsttraceable}) +
               64;
    std::uint64_t object = alloc(static_cast<std::size_t>(size));
    memory_.put(object + static_cast<std::uint64_t>(layout_.ob_type), types_.code);
    memory_.put(object + static_cast<std::uint64_t>(c.name), str(name));
    memory_.put(object + static_cast<std::uint64_t>(c.filename), str(file));
    memory_.put(object + static_cast<std::uint64_t>(c.firstlineno), static_cast<std::int32_t>(first_line));
    memory_.put(object + static_cast<std::uint64_t>(c.linetable), bytes(line_table));
    if (c.qualname != absent)
        memory_.put(object + static_cast<std::uint64_t>(c.qualname), str(qualname.empty() ? name : qualname));
    return object;
}

std::uint64_t SyntheticPython::frame_object(std::uint64_t code, std::uint64_t back, int lasti) {
    const python::FrameObjectLayout& f = layout_.frame_object;
    std::uint64_t frame = alloc(static_cast<std::size_t>(f.lasti + 64));
    memory_.put(frame + static_cast<std::uint64_t>(layout_.ob_type), types_.frame);
    memory_.put(frame + static_cast<std::uint64_t>(f.back), back);
    memory_.put(frame + static_cast<std::uint64_t>(f.code), code);
    memory_.put(frame + static_cast<std::uint64_t>(f.lasti), static_cast<std::int32_t>(lasti));
    return frame;
}

std::uint64_t SyntheticPython::interpreter_frame(std::uint64_t code, std::uint64_t previous,
                                                 std::int64_t byte_offset, int owner, bool is_entry) {
    const python::InterpreterFrameLayout& f = layout_.interp_frame;
    std::uint64_t frame = 0;
    if (owner == f.owner_generator && f.generator_iframe != absent) {
        // Inside its generator object, which says it runs (see set_generator_running).
        frame = alloc(static_cast<std::size_t>(f.generator_iframe) + 96) +
                static_cast<std::uint64_t>(f.generator_iframe);
        set_generator_running(frame, true);
    } else {
        frame = alloc(96);
    }
    memory_.put(frame + static_cast<std::uint64_t>(f.code), code);
    memory_.put(frame + static_cast<std::uint64_t>(f.previous), previous);
    std::uint64_t instr = code + static_cast<std::uint64_t>(layout_.code.code_adaptive) +
                          static_cast<std::uint64_t>(byte_offset);
    memory_.put(frame + static_cast<std::uint64_t>(f.instr), instr);
    memory_.put(frame + static_cast<std::uint64_t>(f.owner), static_cast<std::uint8_t>(owner));
    if (f.is_entry != absent)
        memory_.put(frame + static_cast<std::uint64_t>(f.is_entry), static_cast<std::uint8_t>(is_entry));
    return frame;
}

void SyntheticPython::set_generator_running(std::uint64_t frame, bool running) {
    if (layout_.frames == python::FrameModel::frame_object) {
        const python::FrameObjectLayout& f = layout_.frame_object;
        if (f.stacktop != absent) // a suspended frame keeps its value stack's top; a running one NULL
            memory_.put(frame + static_cast<std::uint64_t>(f.stacktop),
                        running ? std::uint64_t{0} : frame + 200);
        if (f.state != absent)
            memory_.put(frame + static_cast<std::uint64_t>(f.state),
                        static_cast<std::int8_t>(running ? f.state_executing : f.state_executing - 1));
        return;
    }
    const python::InterpreterFrameLayout& f = layout_.interp_frame;
    if (f.generator_frame_state != absent)
        memory_.put(frame - static_cast<std::uint64_t>(f.generator_iframe) +
                        static_cast<std::uint64_t>(f.generator_frame_state),
                    static_cast<std::int8_t>(running ? f.generator_executing : f.generator_executing - 1));
}

std::uint64_t SyntheticPython::pthread(int tid) {
    std::uint64_t descriptor = alloc(2368);
    memory_.put(descriptor, descriptor);
    memory_.put(descriptor + 16, descriptor);
    memory_.put(descriptor + 720, static_cast<std::int32_t>(tid));
    return descriptor;
}

std::uint64_t SyntheticPython::thread_state(std::uint64_t frame, int tid) {
    const python::ThreadStateLayout& t = layout_.tstate;
    std::uint64_t state = alloc(static_cast<std::size_t>(
        std::max({t.next, t.interp, t.frame, t.thread_id, t.native_thread_id}) + 64));
    std::uint64_t head_field = interp_ + static_cast<std::uint64_t>(layout_.interp.threads_head);
    std::uint64_t old_head = 0;
    memory_.read_value(head_field, old_head);
    memory_.put(state + static_cast<std::uint64_t>(t.next), old_head);
    memory_.put(head_field, state);
    memory_.put(state + static_cast<std::uint64_t>(t.interp), interp_);
    if (t.cframe_current_frame != absent) {
        std::uint64_t cframe = alloc(32);
        memory_.put(cframe + static_cast<std::uint64_t>(t.cframe_current_frame), frame);
        memory_.put(state + static_cast<std::uint64_t>(t.frame), cframe);
    } else {
        memory_.put(state + static_cast<std::uint64_t>(t.frame), frame);
    }
    memory_.put(state + static_cast<std::uint64_t>(t.thread_id), pthread(tid));
    if (t.native_thread_id != absent)
        memory_.put(state + static_cast<std::uint64_t>(t.native_thread_id), static_cast<std::uint64_t>(tid));
    return state;
}

void SyntheticPython::set_gil_holder(std::uint64_t thread_state) {
    switch (layout_.gil_model) {
    case python::GilModel::current_symbol:
        memory_.put(gil_current_, thread_state);
        break;
    case python::GilModel::runtime_tstate_current:
        memory_.put(entry_ + static_cast<std::uint64_t>(layout_.runtime.tstate_current), thread_state);
        break;
    case python::GilModel::interpreter_gil:
        memory_.put(gil_ + static_cast<std::uint64_t>(layout_.gil.last_holder), thread_state);
        memory_.put(gil_ + static_cast<std::uint64_t>(layout_.gil.locked),
                    static_cast<std::int32_t>(thread_state != 0));
        break;
    }
}

python::PythonTarget SyntheticPython::target() const {
    python::PythonTarget target;
    target.layout = layout_;
    target.version = layout_.name();
    target.module_path = "synthetic";
    target.types = types_;
    target.entry_address = entry_;
    target.gil_current_address = gil_current_;
    return target;
}

std::vector<std::uint8_t> location_entry_one_line(int line_delta, int code_units) {
    return {static_cast<std::uint8_t>(0x80 | ((10 + line_delta) << 3) | (code_units - 1)), 0};
}

std::vector<std::uint8_t> location_entry_long(int line_delta, int code_units) {
    std::vector<std::uint8_t> entry{static_cast<std::uint8_t>(0x80 | (14 << 3) | (code_units - 1))};
    auto varint = [&](std::uint32_t value) {
        while (value >= 64) {
            entry.push_back(static_cast<std::uint8_t>(64 | (value & 63)));
            value >>= 6;
        }
        entry.push_back(static_cast<std::uint8_t>(value));
    };
    varint(line_delta < 0 ? (static_cast<std::uint32_t>(-line_delta) << 1) | 1
                          : static_cast<std::uint32_t>(line_delta) << 1);
    varint(0); // end line delta
    varint(1); // column + 1
    varint(5); // end column + 1
    return entry;
}

} // namespace sampler::testing
