#include "sampler/call_tree.hpp"

#include <algorithm>

namespace sampler {

std::size_t FrameTable::Hash::operator()(const Frame& frame) const {
    // The fields that tell most frames apart; equal frames agree on them, as they must.
    std::size_t hash = std::hash<std::string>{}(frame.name);
    const auto mix = [&hash](std::size_t value) {
        hash ^= value + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
    };
    mix(std::hash<std::string>{}(frame.file));
    mix(frame.line);
    mix(frame.module_offset);
    mix(frame.address);
    mix(static_cast<std::size_t>(frame.kind));
    return hash;
}

FrameId FrameTable::intern(const Frame& frame) {
    auto [it, inserted] = ids_.try_emplace(frame, static_cast<FrameId>(frames_.size()));
    if (inserted)
        frames_.push_back(frame);
    return it->second;
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
    NodeId current = root_id;
    nodes_[root_id].total += count;
    for (std::size_t i = 0; i < known; ++i) {
        current = path[i];
        nodes_[current].total += count;
    }
    for (std::size_t i = known; i < outermost_first.size(); ++i) {
        const FrameId frame = outermost_first[i];
        auto found = nodes_[current].children.find(frame);
        NodeId next;
        if (found != nodes_[current].children.end()) {
            next = found->second;
        } else {
            next = static_cast<NodeId>(nodes_.size());
            nodes_[current].children.emplace(frame, next);
            Node child;
            child.frame = frame;
            child.parent = current;
            nodes_.push_back(std::move(child));
        }
        nodes_[next].total += count;
        current = next;
        path[i] = current;
    }
    nodes_[current].self += count;
    return current;
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
        for (const auto& [frame, child] : n.children)
            pending.push_back({child, stack.size()});
    }
}

} // namespace sampler
