#include "tokenizer/ByteLevel.h"

#include "tokenizer/Utf8.h"

#include <array>

namespace lathe::byte_level {

namespace {

struct Tables {
    std::array<uint32_t, 256> byteToCodepoint{};
    std::array<std::string, 256> byteToText;
    std::array<int16_t, 512> codepointToByte{}; // every mapped code point is below 0x144
};

// Printable Latin-1 bytes map to themselves; the other 68 bytes take 256, 257, ... in byte order.
Tables buildTables() {
    Tables t;
    t.codepointToByte.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
        const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        t.byteToCodepoint[b] = printable ? b : next++;
    }
    for (uint32_t b = 0; b < 256; ++b) {
        utf8::appendCodepoint(t.byteToText[b], t.byteToCodepoint[b]);
        t.codepointToByte[t.byteToCodepoint[b]] = int16_t(b);
    }
    return t;
}

const Tables& tables() {
    static const Tables t = buildTables();
    return t;
}

} // namespace

const std::string& byteToText(uint8_t byte) {
    return tables().byteToText[byte];
}

std::string encode(std::string_view raw) {
    std::string out;
    out.reserve(raw.size() * 2);
    for (char c : raw)
        out += byteToText(uint8_t(c));
    return out;
}

std::optional<uint8_t> codepointToByte(uint32_t codepoint) {
    if (codepoint >= tables().codepointToByte.size()) return std::nullopt;
    const int16_t b = tables().codepointToByte[codepoint];
    if (b < 0) return std::nullopt;
    return uint8_t(b);
}

std::string decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        const utf8::Sequence seq = utf8::scanSequence(text, pos);
        const auto byte =
            seq.status == utf8::SequenceStatus::Valid ? codepointToByte(seq.codepoint) : std::nullopt;
        if (byte) {
            out.push_back(char(*byte));
        } else {
            out.append(text.substr(pos, seq.length));
        }
        pos += seq.length;
    }
    return out;
}

} // namespace lathe::byte_level
