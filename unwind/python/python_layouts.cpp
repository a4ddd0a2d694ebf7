#include "python_layout.hpp"

namespace sampler::python {

DictLayout dict_layout_2_7() {
    return {.model = DictModel::open_table, .mask = 32, .table = 40};
}

DictLayout dict_layout_3_6_to_3_10() {
    return {.model = DictModel::indexed_keys,
            .keys = 32,
            .values = 40,
            .keys_size = 8,
            .keys_nentries = 32,
            .keys_indices = 40};
}

DictLayout dict_layout_3_11_to_3_12() {
    return {.model = DictModel::kinds_keys,
            .keys = 32,
            .values = 40,
            .keys_log2_size = 8,
            .keys_log2_index_bytes = 9,
            .keys_kind = 10,
            .keys_nentries = 24,
            .keys_indices = 32,
            .unicode_entry_size = 16};
}

DictLayout dict_layout_3_13() {
    DictLayout dict = dict_layout_3_11_to_3_12();
    dict.values_array = 8;
    dict.values_capacity = 0;
    dict.values_valid = 3;
    return dict;
}

const PythonLayout* layout_for(int major, int minor) {
    if (major == 2)
        return minor == 7 ? &layout_2_7() : nullptr;
    if (major != 3)
        return nullptr;
    switch (minor) {
    case 6:
        return &layout_3_6();
    case 7:
        return &layout_3_7();
    case 8:
        return &layout_3_8();
    case 9:
        return &layout_3_9();
    case 10:
        return &layout_3_10();
    case 11:
        return &layout_3_11();
    case 12:
        return &layout_3_12();
    case 13:
        return &layout_3_13();
    default:
        return nullptr;
    }
}

} // namespace sampler::python
