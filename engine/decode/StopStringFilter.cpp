#include "decode/StopStringFilter.h"

#include "core/Error.h"

#include <algorithm>

namespace lathe {

StopStringFilter::StopStringFilter(std::vector<std::string> stopStrings)
    : stopStrings_(std::move(stopStrings)) {
    for (size_t i = 0; i < stopStrings_.size(); ++i)
        if (stopStrings_[i].empty())
            fail(ErrorCategory::InvalidArgument, "stop string {} is empty (it would match at once)", i);
}

std::string StopStringFilter::push(std::string_view text) {
    if (stopped_) return {};
    pending_ += text;

    // The earliest match wins; a match can start anywhere in pending_ because everything released so
    // far was, by construction, not the start of a stop string.
    size_t matchAt = std::string::npos;
    for (const std::string& stop : stopStrings_) {
        const size_t at = pending_.find(stop);
        if (at < matchAt) {
            matchAt = at;
            matched_ = stop;
        }
    }
    if (matchAt != std::string::npos) {
        stopped_ = true;
        std::string released = pending_.substr(0, matchAt);
        pending_.clear();
        return released;
    }

    const size_t releasable = pending_.size() - heldBackLength();
    std::string released = pending_.substr(0, releasable);
    pending_.erase(0, releasable);
    return released;
}

std::string StopStringFilter::flush() {
    std::string released;
    released.swap(pending_);
    return released;
}

size_t StopStringFilter::heldBackLength() const {
    size_t held = 0;
    for (const std::string& stop : stopStrings_) {
        const size_t longest = std::min(stop.size() - 1, pending_.size());
        for (size_t len = longest; len > held; --len)
            if (pending_.compare(pending_.size() - len, len, stop, 0, len) == 0) {
                held = len;
                break;
            }
    }
    return held;
}

} // namespace lathe
