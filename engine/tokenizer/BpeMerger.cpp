#include "tokenizer/BpeMerger.h"

#include "tokenizer/Utf8.h"

#include <queue>

namespace lathe {

namespace {

struct Symbol {
    size_t offset;
    size_t length; // 0 once merged into its left neighbour
    int prev;
    int next;
};

struct Candidate {
    double priority;
    int left;
    int right;
    size_t leftLength; // lengths when queued: a changed neighbour makes the candidate stale
    size_t rightLength;
};

struct LaterCandidate {
    bool operator()(const Candidate& a, const Candidate& b) const {
        return a.priority > b.priority || (a.priority == b.priority && a.left > b.left);
    }
};

} // namespace

std::vector<MergedSymbol> mergeSymbols(std::string_view word, const MergePriority& priority) {
    std::vector<Symbol> symbols;
    for (size_t pos = 0; pos < word.size();) {
        const size_t length = utf8::scanSequence(word, pos).length;
        const int index = int(symbols.size());
        symbols.push_back({pos, length, index - 1, -1});
        if (index > 0) symbols[size_t(index) - 1].next = index;
        pos += length;
    }

    std::priority_queue<Candidate, std::vector<Candidate>, LaterCandidate> queue;
    auto consider = [&](int left, int right) {
        if (left < 0 || right < 0) return;
        const Symbol& l = symbols[size_t(left)];
        const Symbol& r = symbols[size_t(right)];
        const auto p = priority(word.substr(l.offset, l.length), word.substr(r.offset, r.length));
        if (p) queue.push({*p, left, right, l.length, r.length});
    };
    for (int i = 1; i < int(symbols.size()); ++i)
        consider(i - 1, i);

    while (!queue.empty()) {
        const Candidate c = queue.top();
        queue.pop();
        Symbol& left = symbols[size_t(c.left)];
        Symbol& right = symbols[size_t(c.right)];
        if (left.length != c.leftLength || right.length != c.rightLength || right.length == 0 ||
            left.next != c.right)
            continue;
        left.length += right.length;
        right.length = 0;
        left.next = right.next;
        if (right.next >= 0) symbols[size_t(right.next)].prev = c.left;
        consider(left.prev, c.left);
        consider(c.left, left.next);
    }

    std::vector<MergedSymbol> out;
    for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[size_t(i)].next)
        out.push_back({symbols[size_t(i)].offset, symbols[size_t(i)].length});
    return out;
}

} // namespace lathe
