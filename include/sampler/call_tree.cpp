#include "sampler/call_tree.hpp"

#include <algorithm>
#include <bit>

namespace sampler {

FrameRef FrameRef::of(const Frame& frame) {
    return FrameRef{.kind = frame.kind,
                    .name = frame.name,
                    .file = frame.file,
                    .module = frame.module,
                    .function_file = frame.function_file,
                    .line = frame.line,
                    .function_line = frame.function_line,
                    .address = frame.address,
                    .module_offset = frame.module_offset,
                    .symbol_offset = frame.symbol_offset,
                    .function_offset = frame.function_offset,
                    .inlined = frame.inlined};
}

Frame FrameRef::to_frame() const {
    return Frame{.kind = kind,
                 .name = std::string(name),
                 .file = std::string(file),
                 .line = line,
                 .module = std::string(module),
                 .address = address,
                 .module_offset = module_offset,
                 .symbol_offset = symbol_offset,
                 .function_offset = function_offset,
                 .function_file = std::string(function_file),
                 .function_line = function_line,
                 .inlined = inlined};
}

std::uint64_t FrameTable::hash(const FrameRef& frame) {
    // The fields that tell most frames apart; equal frames agree on them, as they must.
    std::uint64_t hash = std::hash<std::string_view>{}(frame.name);
    const auto mix = [&hash](std::uint64_t value) {
        hash ^= value + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
    };
    mix(std::hash<std::string_view>{}(frame.file));
    mix(frame.line);
    mix(frame.module_offset);
    mix(frame.address);
    mix(static_cast<std::uint64_t>(frame.kind));
    return hash;
}

bool FrameTable::equal(const FrameRef& a, const FrameRef& b) {
    return a.kind == b.kind && a.line == b.line && a.function_line == b.function_line &&
           a.address == b.address && a.module_offset == b.module_offset &&
           a.symbol_offset == b.symbol_offset && a.function_offset == b.function_offset &&
           a.inlined == b.inlined && a.name == b.name && a.file == b.file && a.module == b.module &&
           a.function_file == b.function_file;
}

bool FrameTable::matches(FrameId id, const FrameRef& ref) const {
    return id < frames_.size() && equal(ref, FrameRef::of(frames_[id]));
}

FrameTable::Slot& FrameTable::find_slot(const FrameRef& ref, std::uint64_t hash) {
    const auto tag = static_cast<std::uint32_t>(hash);
    for (std::size_t at = home(hash);; at = (at + 1) & mask_) {
        Slot& slot = slots_[at];
        if (slot.id == no_id || (slot.tag == tag && equal(ref, FrameRef::of(frames_[slot.id]))))
            return slot;
    }
}

void FrameTable::grow() {
    const std::size_t capacity = slots_.empty() ? 256 : 2 * slots_.size();
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(capacity)); // capacity = 2^(64 - shift_)
    for (FrameId id = 0; id < frames_.size(); ++id) {
        const FrameRef ref = FrameRef::of(frames_[id]);
        const std::uint64_t hash = FrameTable::hash(ref);
        std::size_t at = home(hash);
        while (slots_[at].id != no_id)
            at = (at + 1) & mask_;
        slots_[at] = Slot{static_cast<std::uint32_t>(hash), id};
    }
}

FrameId FrameTable::intern(const Frame& frame) {
    return intern(FrameRef::of(frame));
}

FrameId FrameTable::intern(const FrameRef& ref) {
    if (2 * (frames_.size() + 1) > slots_.size())
        grow();
    const std::uint64_t hash = FrameTable::hash(ref);
    Slot& slot = find_slot(ref, hash);
    if (slot.id == no_id) {
        slot = Slot{static_cast<std::uint32_t>(hash), static_cast<FrameId>(frames_.size())};
        frames_.push_back(ref.to_frame());
    }
    return slot.id;
}

CallTree::CallTree() {
    nodes_.emplace_back();
}

CallTree::NodeId CallTree::add(std::span<const FrameId> outermost_first, std::uint64_t count) {
    std::vector<NodeId> path;
    return add(outermost_first, path, 0, count);
}

CallTree::NodeId CallTree::add(std::span<const FrameId> outermost_first, std::vector<NodeId>& path,
                               std::size_t known, std::uint64_t count) {
    known = std::min({known, path.size(), outermost_first.size()});
    path.resize(outermost_first.size());
    NodeId current = known > 0 ? path[known - 1] : root_id;
    for (std::size_t i = known; i < outermost_first.size(); ++i) {
        const FrameId frame = outermost_first[i];
        const auto [child, inserted] =
            children_.find_or_insert(child_key(current, frame), static_cast<NodeId>(nodes_.size()));
        if (inserted) {
            nodes_.push_back(Node{.frame = frame,
                                  .parent = current,
                                  .first_child = no_node,
                                  .next_sibling = nodes_[current].first_child});
            nodes_[current].first_child = child;
        }
        current = child;
        path[i] = current;
    }
    nodes_[current].self += count;
    totals_stale_ = true;
    return current;
}

void CallTree::sum_totals() const {
    if (!totals_stale_)
        return;
    // A node is created after its parent, so its id is larger: one pass from the last node up
    // adds every subtree into its parent before that parent is added into its own.
    for (Node& node : nodes_)
        node.total = node.self;
    for (std::size_t id = nodes_.size(); id-- > 1;)
        nodes_[nodes_[id].parent].total += nodes_[id].total;
    totals_stale_ = false;
}

CallTree::NodeId CallTree::child(NodeId parent, FrameId frame) const {
    return children_.find(child_key(parent, frame), no_node);
}

std::size_t CallTree::Children::size() const {
    std::size_t count = 0;
    for (auto it = begin(); it != end(); ++it)
        ++count;
    return count;
}

std::vector<FrameId> CallTree::stack_of(NodeId leaf) const {
    std::vector<FrameId> stack;
    for (NodeId id = leaf; id != root_id; id = nodes_.at(id).parent)
        stack.push_back(nodes_[id].frame);
    return {stack.rbegin(), stack.rend()};
}

void CallTree::for_each_stack(
    const std::function<void(std::span<const FrameId>, std::uint64_t)>& visit) const {
    std::vector<FrameId> stack;
    // Iterative depth-first walk: deep recursion in a profile must not overflow our own stack.
    struct Pending {
        NodeId node;
        std::size_t depth;
    };
    std::vector<Pending> pending{{root_id, 0}};
    while (!pending.empty()) {
        auto [id, depth] = pending.back();
        pending.pop_back();
        const Node& n = nodes_[id];
        stack.resize(depth);
        if (id != root_id)
            stack.push_back(n.frame);
        if (n.self > 0)
            visit(stack, n.self);
        for (NodeId child = n.first_child; child != no_node; child = nodes_[child].next_sibling)
            pending.push_back({child, stack.size()});
    }
}

} // namespace sampler
