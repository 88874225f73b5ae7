#include "tokenizer/IncrementalDetokenizer.h"

#include "tokenizer/Tokenizer.h"
#include "tokenizer/Utf8.h"

namespace lathe {

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, bool renderSpecial)
    : tokenizer_(tokenizer), renderSpecial_(renderSpecial) {}

std::string IncrementalDetokenizer::push(int32_t id) {
    pending_ += renderSpecial_ ? tokenizer_.tokenText(id) : tokenizer_.tokenBytes(id);
    std::string out;
    size_t pos = 0;
    while (pos < pending_.size()) {
        const utf8::Sequence seq = utf8::scanSequence(pending_, pos);
        if (seq.status == utf8::SequenceStatus::Incomplete) break;
        if (seq.status == utf8::SequenceStatus::Valid) {
            out.append(pending_, pos, seq.length);
        } else {
            out += utf8::kReplacement;
        }
        pos += seq.length;
    }
    pending_.erase(0, pos);
    return out;
}

std::string IncrementalDetokenizer::flush() {
    std::string out = utf8::replaceInvalidPerSubpart(pending_);
    pending_.clear();
    return out;
}

} // namespace lathe
