#include "tokenizer/Utf8.h"

namespace lathe::utf8 {

namespace {

bool isContinuation(uint8_t byte) {
    return (byte & 0xC0) == 0x80;
}

// Allowed range of the second byte for a given lead byte (Unicode Table 3-7); this is what
// rules out overlong forms, surrogates and code points above U+10FFFF.
bool secondByteAllowed(uint8_t lead, uint8_t second) {
    switch (lead) {
    case 0xE0:
        return second >= 0xA0 && second <= 0xBF;
    case 0xED:
        return second >= 0x80 && second <= 0x9F;
    case 0xF0:
        return second >= 0x90 && second <= 0xBF;
    case 0xF4:
        return second >= 0x80 && second <= 0x8F;
    default:
        return isContinuation(second);
    }
}

} // namespace

Sequence scanSequence(std::string_view text, size_t pos) {
    const auto lead = uint8_t(text[pos]);
    if (lead < 0x80) return {SequenceStatus::Valid, 1, lead};
    size_t length = 0;
    uint32_t codepoint = 0;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
        codepoint = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        codepoint = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        codepoint = lead & 0x07;
    } else {
        return {SequenceStatus::Invalid, 1, 0}; // stray continuation byte, C0, C1, F5..FF
    }
    for (size_t i = 1; i < length; ++i) {
        if (pos + i >= text.size()) return {SequenceStatus::Incomplete, i, 0};
        const auto byte = uint8_t(text[pos + i]);
        const bool allowed = i == 1 ? secondByteAllowed(lead, byte) : isContinuation(byte);
        if (!allowed) return {SequenceStatus::Invalid, i, 0};
        codepoint = (codepoint << 6) | (byte & 0x3F);
    }
    return {SequenceStatus::Valid, length, codepoint};
}

void appendCodepoint(std::string& out, uint32_t codepoint) {
    if (codepoint < 0x80) {
        out.push_back(char(codepoint));
    } else if (codepoint < 0x800) {
        out.push_back(char(0xC0 | (codepoint >> 6)));
        out.push_back(char(0x80 | (codepoint & 0x3F)));
    } else if (codepoint < 0x10000) {
        out.push_back(char(0xE0 | (codepoint >> 12)));
        out.push_back(char(0x80 | ((codepoint >> 6) & 0x3F)));
        out.push_back(char(0x80 | (codepoint & 0x3F)));
    } else {
        out.push_back(char(0xF0 | (codepoint >> 18)));
        out.push_back(char(0x80 | ((codepoint >> 12) & 0x3F)));
        out.push_back(char(0x80 | ((codepoint >> 6) & 0x3F)));
        out.push_back(char(0x80 | (codepoint & 0x3F)));
    }
}

std::string replaceInvalidPerByte(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        const Sequence seq = scanSequence(text, pos);
        if (seq.status == SequenceStatus::Valid) {
            out.append(text.substr(pos, seq.length));
            pos += seq.length;
        } else {
            out.append(kReplacement);
            pos += 1;
        }
    }
    return out;
}

std::string replaceInvalidPerSubpart(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        const Sequence seq = scanSequence(text, pos);
        if (seq.status == SequenceStatus::Valid) {
            out.append(text.substr(pos, seq.length));
        } else {
            out.append(kReplacement);
        }
        pos += seq.length;
    }
    return out;
}

bool isValid(std::string_view text) {
    for (size_t pos = 0; pos < text.size();) {
        const Sequence seq = scanSequence(text, pos);
        if (seq.status != SequenceStatus::Valid) return false;
        pos += seq.length;
    }
    return true;
}

} // namespace lathe::utf8
