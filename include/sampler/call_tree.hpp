#pragma once
// Aggregated samples: a table of distinct frames and a tree of stacks built from them.
// Memory grows with the number of distinct stacks, never with the number of samples.

#include "sampler/child_index.hpp"
#include "sampler/frame.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sampler {

using FrameId = std::uint32_t;

// A frame's fields by reference: a key to look a frame up by without copying its strings.
struct FrameRef {
    FrameKind kind = FrameKind::unknown;
    std::string_view name{}, file{}, module{}, function_file{};
    std::uint32_t line = 0, function_line = 0;
    std::uint64_t address = 0, module_offset = 0, symbol_offset = 0, function_offset = 0;
    bool inlined = false;

    static FrameRef of(const Frame& frame);
    Frame to_frame() const;
};

// Interns frames so each distinct frame is stored once and compared by id.
class FrameTable {
  public:
    FrameId intern(const Frame& frame);
    // The same for the frame `ref` describes; its strings are copied only when it is new.
    FrameId intern(const FrameRef& ref);
    // Whether `ref` describes frame `id`: what intern(ref) would return is `id`. Cheaper than
    // intern when the caller already has the id of the frame it expects (no hash, no lookup).
    bool matches(FrameId id, const FrameRef& ref) const;
    const Frame& at(FrameId id) const { return frames_.at(id); }
    std::size_t size() const { return frames_.size(); }

  private:
    static std::uint64_t hash(const FrameRef& ref);
    static bool equal(const FrameRef& a, const FrameRef& b);
    // A frame's slot in the index: the low half of its hash (compared before the frame is) and
    // its id. One flat open-addressed array, at most half full: a lookup is mostly one cache
    // line and one comparison of the frame itself, where std::unordered_map's buckets and nodes
    // cost three misses (a --native sample looks up a dozen frames).
    static constexpr FrameId no_id = ~FrameId{0};
    struct Slot {
        std::uint32_t tag = 0;
        FrameId id = no_id;
    };
    std::size_t home(std::uint64_t hash) const {
        return static_cast<std::size_t>((hash * 0x9e3779b97f4a7c15ULL) >> shift_);
    }
    // The slot holding `ref`'s frame, or the empty one where it would go.
    Slot& find_slot(const FrameRef& ref, std::uint64_t hash);
    void grow();

    std::vector<Frame> frames_;
    std::vector<Slot> slots_;
    std::size_t mask_ = 0;
    unsigned shift_ = 64;
};

class CallTree {
  public:
    using NodeId = std::uint32_t;
    static constexpr NodeId root_id = 0;
    static constexpr NodeId no_node = ~NodeId{0};

    // Small and flat: a long recording holds one per distinct call path. A node's children are
    // a list threaded through the nodes; the lookup by frame is one table for the whole tree.
    struct Node {
        FrameId frame = 0;
        NodeId parent = 0;
        NodeId first_child = no_node;
        NodeId next_sibling = no_node;
        std::uint64_t total = 0; // samples in this node and below (see node())
        std::uint64_t self = 0;  // samples whose innermost frame is this node
    };

    // The children of one node, as node ids, in no particular order.
    class Children {
      public:
        class iterator {
          public:
            using value_type = NodeId;
            using difference_type = std::ptrdiff_t;
            iterator() = default;
            iterator(const CallTree* tree, NodeId id) : tree_(tree), id_(id) {}
            NodeId operator*() const { return id_; }
            iterator& operator++() {
                id_ = tree_->nodes_[id_].next_sibling;
                return *this;
            }
            iterator operator++(int) {
                iterator before = *this;
                ++*this;
                return before;
            }
            bool operator==(const iterator& other) const { return id_ == other.id_; }

          private:
            const CallTree* tree_ = nullptr;
            NodeId id_ = no_node;
        };
        Children(const CallTree* tree, NodeId first) : tree_(tree), first_(first) {}
        iterator begin() const { return {tree_, first_}; }
        iterator end() const { return {tree_, no_node}; }
        std::size_t size() const;

      private:
        const CallTree* tree_;
        NodeId first_;
    };

    CallTree();
    // Adds `count` samples of a stack given outermost frame first; returns the leaf node.
    NodeId add(std::span<const FrameId> outermost_first, std::uint64_t count = 1);
    // The same, for a stack that shares its first `known` frames with one added before: `path`
    // holds that stack's nodes (path[i] is the node of frame i), and on return this one's. The
    // shared part costs no lookup (a thread's consecutive stacks mostly share their roots).
    NodeId add(std::span<const FrameId> outermost_first, std::vector<NodeId>& path, std::size_t known,
               std::uint64_t count = 1);

    // Totals are summed up from the self counts when first asked for after an add: adding a
    // sample then touches its leaf only, not every node of its (often 40-deep) path.
    const Node& node(NodeId id) const {
        sum_totals();
        return nodes_.at(id);
    }
    NodeId parent(NodeId id) const { return nodes_.at(id).parent; }
    Children children(NodeId id) const { return {this, nodes_.at(id).first_child}; }
    // The child of `parent` for `frame`, or no_node.
    NodeId child(NodeId parent, FrameId frame) const;
    std::size_t node_count() const { return nodes_.size(); }
    std::uint64_t total() const {
        sum_totals();
        return nodes_[root_id].total;
    }
    // The frames from the root down to `leaf`, outermost first (the root itself has no frame).
    std::vector<FrameId> stack_of(NodeId leaf) const;

    // Children of a node ordered by frame label is the outputs' job; this gives them unordered.
    // Visits every node with self samples, passing its stack outermost first.
    void for_each_stack(const std::function<void(std::span<const FrameId>, std::uint64_t)>& visit) const;

  private:
    static std::uint64_t child_key(NodeId parent, FrameId frame) {
        return (std::uint64_t{parent} << 32) | frame;
    }

    void sum_totals() const;

    // Mutable for the totals only, which node() and total() bring up to date on demand.
    mutable std::vector<Node> nodes_;
    mutable bool totals_stale_ = false;
    ChildIndex children_; // child_key(parent, frame) -> child
};

} // namespace sampler
