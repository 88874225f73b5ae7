#pragma once
// The merge loops of both BPE flavours, over one word at a time:
// - by rank (byte-level BPE): repeatedly merge the adjacent pair with the lowest merge rank,
//   leftmost first among equals;
// - by score (SentencePiece BPE): repeatedly merge the adjacent pair whose concatenation is the
//   vocabulary token with the highest score, leftmost first among equals.
// Both return the final symbols as byte ranges of the word; the caller maps them to ids.

#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace lathe {

struct MergedSymbol {
    size_t offset; // byte offset in the word
    size_t length; // bytes
};

// Priority of merging `left` and `right` (lower wins), nullopt when they do not merge.
using MergePriority = std::function<std::optional<double>(std::string_view left, std::string_view right)>;

// Splits `word` into UTF-8 characters (a truncated or ill-formed tail byte counts as a character)
// and merges them in priority order. Every merged symbol is a pair `priority` accepted, so it is
// a vocabulary token; unmerged single characters may not be.
std::vector<MergedSymbol> mergeSymbols(std::string_view word, const MergePriority& priority);

} // namespace lathe
