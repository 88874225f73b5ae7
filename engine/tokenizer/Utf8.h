#pragma once
// UTF-8 helpers shared by the tokenizers and the detokenizer: strict decoding (no overlongs, no
// surrogates, nothing above U+10FFFF), encoding, and the two repair policies the callers need.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lathe::utf8 {

inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD"; // U+FFFD

enum class SequenceStatus {
    Valid,      // a complete, well-formed sequence of `length` bytes
    Invalid,    // `length` bytes (>= 1) that can never start a well-formed sequence
    Incomplete, // well-formed so far but the text ends before the sequence does
};

struct Sequence {
    SequenceStatus status;
    size_t length;      // bytes covered (for Invalid: the maximal ill-formed subpart)
    uint32_t codepoint; // only meaningful when Valid
};

// Examines the sequence that starts at `pos` (pos < text.size()).
Sequence scanSequence(std::string_view text, size_t pos);

// Appends the UTF-8 encoding of `codepoint` (must be a Unicode scalar value).
void appendCodepoint(std::string& out, uint32_t codepoint);

// Every byte of an ill-formed sequence becomes one U+FFFD, as llama.cpp does before
// pre-tokenizing, so that encode() sees the same code points as the reference.
std::string replaceInvalidPerByte(std::string_view text);

// Each maximal ill-formed subpart becomes one U+FFFD (Unicode's recommended practice);
// an incomplete sequence at the end is replaced too.
std::string replaceInvalidPerSubpart(std::string_view text);

bool isValid(std::string_view text);

} // namespace lathe::utf8
