#pragma once
// GPT-2's reversible byte <-> unicode mapping: byte-level BPE vocabularies store every byte as a
// printable code point (space is "Ġ", newline "Ċ"), so merges never see raw control bytes.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lathe::byte_level {

// The UTF-8 text of the code point standing for `byte`.
const std::string& byteToText(uint8_t byte);

// Every byte of `raw` replaced by its code point.
std::string encode(std::string_view raw);

// The byte a code point stands for, nullopt if it stands for none.
std::optional<uint8_t> codepointToByte(uint32_t codepoint);

// Inverse of encode(). Code points outside the mapping are kept as their UTF-8 text.
std::string decode(std::string_view text);

} // namespace lathe::byte_level
